//! A suite's system under test: a closure from a record's inputs to its
//! outputs, called as a [`Predictor`] with its `tracing` spans (see the
//! `span_capture` module) and its OpenTelemetry API spans (the
//! `otel_capture` module) captured into the record's trace.
//!
//! A call that fails or panics keeps the spans it made before: they come
//! back with its [`PredictError`] ([`PredictError::with_spans`]), so that
//! the record's trace shows what the system did up to the failure. The
//! panic is caught here, inside the call's capture, rather than only by
//! the stage around every predictor, which would lose them.

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags, TraceState};
use serde_json::Value;
use tracing::Dispatch;
use verdict_scorer::OwnedValue;
use verdict_store::StoredSpan;

use crate::otel_capture::SuiteSpans;
use crate::predict::{Call, PredictError, Prediction, Predictor};
use crate::predict_stage::panic_message;
use crate::run::json_value;
use crate::span_capture::{self, CALL_TARGET, CallSpans, CallsInFlight};

/// A closure as the system under test.
pub(crate) struct ClosurePredictor<F> {
    f: F,
    dispatch: Dispatch,
    otel: SuiteSpans,
    in_flight: CallsInFlight,
}

impl<F> ClosurePredictor<F> {
    pub(crate) fn new(f: F, otel: SuiteSpans) -> Self {
        ClosurePredictor {
            f,
            dispatch: span_capture::dispatch(),
            otel,
            in_flight: CallsInFlight::default(),
        }
    }
}

impl<F, E> Predictor for ClosurePredictor<F>
where
    F: Fn(&Value) -> Result<Value, E> + Send + Sync,
    E: Display,
{
    fn predict(&self, call: Call<'_>) -> Result<Prediction, PredictError> {
        let inputs = json_value(call.inputs);
        let spans = CallSpans::new(call.trace_id);
        let _entered = self.in_flight.enter(&call, &spans);
        let answer = {
            let _in_flight = self.otel.during(call.parent_span_id, &spans);
            catch_unwind(AssertUnwindSafe(|| {
                tracing::dispatcher::with_default(&self.dispatch, || {
                    // A root of its own: a span the code left entered in an
                    // earlier call on this thread is not its parent.
                    let marker =
                        tracing::info_span!(target: CALL_TARGET, parent: None, "verdict.predict");
                    span_capture::mark(
                        &self.dispatch,
                        &marker,
                        Arc::clone(&spans),
                        call.parent_span_id,
                    );
                    let _context = otel_context(&call).attach();
                    marker.in_scope(|| (self.f)(&inputs))
                })
            }))
        };
        span_capture::leave(&spans);
        answered(answer, &spans, &self.otel)
    }

    fn spans_so_far(&self, call: Call<'_>) -> Vec<StoredSpan> {
        self.in_flight.take(&call)
    }
}

/// An async closure as the system under test, its futures run on a
/// runtime of the suite's own: each call blocks its calling thread on its
/// future, which runs with the suite's dispatcher and the record's
/// context as it is polled, wherever it is polled. A runtime of its own
/// rather than the caller's: a `#[tokio::test]` runs on a current-thread
/// runtime that only its own thread drives, and that thread waits for the
/// suite.
#[cfg(feature = "tokio")]
pub(crate) struct AsyncPredictor<F> {
    f: F,
    dispatch: Dispatch,
    otel: SuiteSpans,
    in_flight: CallsInFlight,
    /// Taken on drop, to shut down without waiting: a suite may end on a
    /// thread that runs a runtime itself, where waiting is not allowed.
    runtime: Option<tokio::runtime::Runtime>,
}

#[cfg(feature = "tokio")]
impl<F> AsyncPredictor<F> {
    pub(crate) fn new(f: F, otel: SuiteSpans) -> std::io::Result<Self> {
        Ok(AsyncPredictor {
            f,
            dispatch: span_capture::dispatch(),
            otel,
            in_flight: CallsInFlight::default(),
            runtime: Some(
                tokio::runtime::Builder::new_multi_thread()
                    .thread_name("verdict-predict-async")
                    .enable_all()
                    .build()?,
            ),
        })
    }
}

#[cfg(feature = "tokio")]
impl<F> Drop for AsyncPredictor<F> {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(feature = "tokio")]
impl<F, Fut, E> Predictor for AsyncPredictor<F>
where
    F: Fn(Value) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<Value, E>> + Send,
    E: Display,
{
    fn predict(&self, call: Call<'_>) -> Result<Prediction, PredictError> {
        use opentelemetry::context::FutureExt as _;
        use tracing::Instrument as _;
        use tracing::instrument::WithSubscriber as _;

        let Some(runtime) = &self.runtime else {
            return Err(PredictError::Failed(
                "the suite's runtime is shut down".into(),
            ));
        };
        let spans = CallSpans::new(call.trace_id);
        let _entered = self.in_flight.enter(&call, &spans);
        let marker = tracing::dispatcher::with_default(
            &self.dispatch,
            || tracing::info_span!(target: CALL_TARGET, parent: None, "verdict.predict"),
        );
        span_capture::mark(
            &self.dispatch,
            &marker,
            Arc::clone(&spans),
            call.parent_span_id,
        );
        let answer = {
            let _in_flight = self.otel.during(call.parent_span_id, &spans);
            catch_unwind(AssertUnwindSafe(|| {
                let future = (self.f)(json_value(call.inputs))
                    .instrument(marker)
                    .with_context(otel_context(&call))
                    .with_subscriber(self.dispatch.clone());
                runtime.block_on(future)
            }))
        };
        answered(answer, &spans, &self.otel)
    }

    fn spans_so_far(&self, call: Call<'_>) -> Vec<StoredSpan> {
        self.in_flight.take(&call)
    }
}

/// The OpenTelemetry context a call runs in: the record's root span, as
/// a remote parent.
pub(crate) fn otel_context(call: &Call<'_>) -> opentelemetry::Context {
    opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
        call.trace_id,
        call.parent_span_id,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

/// A closure's answer (or its panic) as a prediction or an error, with
/// the spans its call closed either way; those it left open are counted
/// in `suite`.
pub(crate) fn answered<E: Display>(
    answer: std::thread::Result<Result<Value, E>>,
    spans: &CallSpans,
    suite: &SuiteSpans,
) -> Result<Prediction, PredictError> {
    let (spans, open) = spans.take_with_open();
    suite.count_late(open);
    match answer {
        Ok(Ok(outputs)) => Ok(Prediction {
            outputs: OwnedValue::from(outputs),
            spans,
        }),
        Ok(Err(e)) => Err(PredictError::Failed(e.to_string()).with_spans(spans)),
        Err(panic) => Err(PredictError::Panicked(panic_message(panic.as_ref())).with_spans(spans)),
    }
}
