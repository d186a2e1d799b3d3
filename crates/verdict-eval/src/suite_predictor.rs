//! A suite's system under test: a closure from a record's inputs to its
//! outputs, called as a [`Predictor`] with its `tracing` spans captured
//! into the record's trace (see the `span_capture` module).

use std::fmt::Display;
use std::sync::Arc;

use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags, TraceState};
use serde_json::Value;
use tracing::Dispatch;
use verdict_scorer::OwnedValue;

use crate::predict::{Call, PredictError, Prediction, Predictor};
use crate::run::json_value;
use crate::span_capture::{self, CALL_TARGET, CallSpans};

/// A closure as the system under test.
pub(crate) struct ClosurePredictor<F> {
    f: F,
    dispatch: Dispatch,
}

impl<F> ClosurePredictor<F> {
    pub(crate) fn new(f: F) -> Self {
        ClosurePredictor {
            f,
            dispatch: span_capture::dispatch(),
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
        let answer = tracing::dispatcher::with_default(&self.dispatch, || {
            let marker = tracing::info_span!(target: CALL_TARGET, "verdict.predict");
            span_capture::mark(
                &self.dispatch,
                &marker,
                Arc::clone(&spans),
                call.parent_span_id,
            );
            let _context = otel_context(&call).attach();
            marker.in_scope(|| (self.f)(&inputs))
        });
        answered(answer, &spans)
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

/// A closure's answer as a prediction, with the spans its call closed.
pub(crate) fn answered<E: Display>(
    answer: Result<Value, E>,
    spans: &CallSpans,
) -> Result<Prediction, PredictError> {
    match answer {
        Ok(outputs) => Ok(Prediction {
            outputs: OwnedValue::from(outputs),
            spans: spans.take(),
        }),
        Err(e) => Err(PredictError::Failed(e.to_string())),
    }
}
