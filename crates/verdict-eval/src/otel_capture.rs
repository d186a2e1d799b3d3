//! The spans a suite's code under test makes through the OpenTelemetry
//! API while it answers one record, captured into that record's trace by
//! a span processor ([`SuiteSpans`]) that the program adds to its own
//! tracer provider.
//!
//! During a call the OpenTelemetry context is the record's root span (see
//! `suite_predictor::otel_context`), so the code's spans are made in the
//! record's trace by whichever provider it uses. The processor keeps a
//! span when its parent is the root span of a call in flight or a span it
//! already kept for that call (followed from parent to child as spans
//! start), so that the spans of calls made side by side never mix, even
//! when two records name the same trace. A kept span is converted as the
//! store converts the SDK's spans (`StoredSpan::from(&SpanData)`) and
//! joins its call's spans when it ends, beside those the `tracing` layer
//! captured (`span_capture`), and passes the same checks. A span still
//! open when its call returns (a task the call left running) is dropped
//! and counted ([`SuiteSpans::late`]), as the `tracing` path leaves such
//! a span out. Every other span — the program's own, or a call's that
//! starts a new trace — passes untouched; the provider's other processors
//! receive every span as they would without the suite.
//!
//! The decision: **a processor the program adds to its provider**, rather
//! than the suite setting a provider of its own as the global one during
//! each call. The global provider is the process's: swapping it per call
//! would race between calls made side by side and with the program's
//! other threads, would miss code that holds a tracer of its provider
//! rather than the global one, and would take the calls' spans from the
//! program's own exporter.
//!
//! An OpenTelemetry span made inside a `tracing` span of the call is that
//! span's child: while a call's `tracing` span is entered, the suite's
//! layer makes it the OpenTelemetry context, with the call beside it
//! (`CallOf`), which is how the processor knows its children as the
//! call's.
//!
//! `tracing` spans are not seen twice when the program's subscriber has a
//! `tracing-opentelemetry` layer: during a call the suite's own dispatcher
//! is the default, so that layer never sees the call's `tracing` spans,
//! and only the suite's layer captures them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::trace::{Span as _, SpanId, TraceContextExt as _, TraceId};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use verdict_store::StoredSpan;

use crate::run::lock;
use crate::span_capture::{CallOf, CallSpans};

/// The span processor of a suite: add it to the program's tracer provider
/// (`SdkTracerProvider::builder().with_span_processor(suite.span_processor())`)
/// and the spans the code under test makes through the OpenTelemetry API
/// during a call are stored in the record's trace and judged by the trace
/// scorers, while the provider's other processors still receive them.
/// Cheap to clone: clones share the calls in flight.
///
/// A span is the call's when its parent is the record's root span or a
/// span already the call's; a span that ends after its call returned (a
/// task the call left running) is dropped, and counted in
/// [`late`](Self::late). Spans of the program's own pass untouched.
#[derive(Clone, Debug, Default)]
pub struct SuiteSpans(Arc<Shared>);

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Spans of calls still open when their call returned.
    late: AtomicU64,
    /// Whether the processor was handed out (`Suite::span_processor`):
    /// until then no provider can have it, and calls are not registered.
    handed_out: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuiteSpans")
            .field("late", &self.late.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    /// The calls in flight, by trace: each call's root span and where its
    /// spans go.
    calls: HashMap<TraceId, Vec<(SpanId, Arc<CallSpans>)>>,
    /// Spans started in a call and not ended yet, with their call.
    open: HashMap<SpanId, Arc<CallSpans>>,
}

impl SuiteSpans {
    /// How many spans of calls were left out of their record's trace
    /// because they were still open when their call returned (counted
    /// then): made through the OpenTelemetry API, and through `tracing`.
    pub fn late(&self) -> u64 {
        self.0.late.load(Ordering::Relaxed)
    }

    /// Counts `n` spans of a call, made through `tracing`, still open when
    /// it returned.
    pub(crate) fn count_late(&self, n: u64) {
        if n > 0 {
            self.0.late.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The processor, for a provider: from now on, calls are registered.
    pub(crate) fn hand_out(&self) -> SuiteSpans {
        self.0.handed_out.store(true, Ordering::Release);
        self.clone()
    }

    /// Captures the spans whose parent is `root`, in `spans`' trace, until
    /// the guard drops (when the call has returned); nothing when the
    /// processor was never handed out, as no provider can then have it.
    pub(crate) fn during<'a>(&'a self, root: SpanId, spans: &Arc<CallSpans>) -> InFlight<'a> {
        if !self.0.handed_out.load(Ordering::Acquire) {
            return InFlight(None);
        }
        spans.watched_by_otel();
        lock(&self.0.state)
            .calls
            .entry(spans.trace_id())
            .or_default()
            .push((root, Arc::clone(spans)));
        InFlight(Some((self, Arc::clone(spans))))
    }
}

/// A call in flight, if registered; dropping it ends its capture.
pub(crate) struct InFlight<'a>(Option<(&'a SuiteSpans, Arc<CallSpans>)>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let Some((suite, spans)) = &self.0 else {
            return;
        };
        let mut state = lock(&suite.0.state);
        let trace = spans.trace_id();
        if let Some(calls) = state.calls.get_mut(&trace) {
            calls.retain(|(_, c)| !Arc::ptr_eq(c, spans));
            if calls.is_empty() {
                state.calls.remove(&trace);
            }
        }
        let before = state.open.len();
        state.open.retain(|_, c| !Arc::ptr_eq(c, spans));
        let late = (before - state.open.len()) as u64;
        if late > 0 {
            suite.0.late.fetch_add(late, Ordering::Relaxed);
        }
    }
}

impl SpanProcessor for SuiteSpans {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        let own = span.span_context();
        let parent = cx.span().span_context().clone();
        if !parent.is_valid() || parent.trace_id() != own.trace_id() {
            return;
        }
        let mut state = lock(&self.0.state);
        let Some(calls) = state.calls.get(&own.trace_id()) else {
            return;
        };
        let call = calls
            .iter()
            .find(|(root, _)| *root == parent.span_id())
            .map(|(_, c)| Arc::clone(c))
            .or_else(|| {
                state
                    .open
                    .get(&parent.span_id())
                    .filter(|c| c.trace_id() == own.trace_id())
                    .cloned()
            })
            .or_else(|| {
                // Made inside a `tracing` span of a call still in flight.
                let CallOf(call) = cx.get::<CallOf>()?;
                calls
                    .iter()
                    .any(|(_, c)| Arc::ptr_eq(c, call))
                    .then(|| Arc::clone(call))
            });
        if let Some(call) = call {
            let id = own.span_id();
            state.open.insert(id, call);
        }
    }

    fn on_end(&self, span: SpanData) {
        // Pushed under the lock: a call that returns meanwhile then either
        // finds the span among its own, or counts it late, never neither.
        let mut state = lock(&self.0.state);
        if let Some(call) = state.open.remove(&span.span_context.span_id()) {
            call.push(StoredSpan::from(&span));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}
