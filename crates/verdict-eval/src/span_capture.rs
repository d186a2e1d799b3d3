//! The spans a suite's code under test emits through `tracing` while it
//! answers one record, captured into that record's trace.
//!
//! Each call runs with a dispatcher of the suite's own as the thread's
//! default (`tracing::dispatcher::with_default`; a future, with
//! `WithSubscriber`): a `tracing-subscriber` [`Registry`] with
//! [`CaptureLayer`]. The call's code runs inside a marker span that holds
//! where the call's spans go ([`CallSpans`]). A marker, rather than the
//! thread's running call in a thread-local: code under test hands its
//! current span to the threads and tasks it starts (`Span::current()`,
//! `in_current_span()`), and what it hands must lead to the call.
//! Every span the call opens gets an OpenTelemetry id in the record's
//! trace, its parent's id (the record's root span for a top-level one), its
//! fields as attributes, and joins the call's spans when it closes. Nothing
//! global is touched: the process's default subscriber, if any, is the
//! default again once the call returns, and never sees the call's spans.
//! The OpenTelemetry context is the record's root span during the call,
//! so that spans the code makes through the OpenTelemetry API land in the
//! record's trace: the suite's span processor, added to the program's
//! provider, captures them into the same call's spans (see the
//! `otel_capture` module). When it does, a `tracing` span of the call is
//! the OpenTelemetry context while it is entered, so that an OpenTelemetry
//! span made inside it is its child.
//!
//! The decision: **a layer of our own over the registry** rather than
//! `tracing-opentelemetry` with an SDK provider and a collecting span
//! processor. Both need the registry; the SDK's route builds each span
//! twice (its `SpanData`, then the stored span) and holds a provider per
//! suite, for the same result. Conventions `tracing-opentelemetry` reads
//! are read here too: `otel.name`, `otel.kind`, `otel.status_code`,
//! `otel.status_message`.
//!
//! A span still open when the call returns (a task the call spawned and
//! left running) is not captured but counted (the suite's report says how
//! many, `SuiteReport::spans_left_open`), nor is one the code makes a root on
//! purpose (`parent: None`), nor its children: it starts a trace of its
//! own.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::{LookupSpan, Registry};
use verdict_store::StoredSpan;

use crate::predict::{Call, SpanList};
use crate::run::lock;

/// The target of the marker span a call runs in.
pub(crate) const CALL_TARGET: &str = "verdict::predict";

/// Where one call's spans go: at most
/// [`MAX_SPANS_PER_CALL`](crate::predict::MAX_SPANS_PER_CALL) of them, the
/// rest counted ([`SpanList`]).
pub(crate) struct CallSpans {
    trace_id: TraceId,
    spans: Mutex<SpanList>,
    /// Whether the suite's OpenTelemetry processor captures the call's
    /// spans too: its `tracing` spans are then made the OpenTelemetry
    /// context while they are entered.
    otel: AtomicBool,
    /// Its `tracing` spans made and not closed yet.
    open: AtomicU64,
}

/// The call an OpenTelemetry context is in, while one of its `tracing`
/// spans is entered: how the suite's processor knows a span made under it
/// as the call's.
pub(crate) struct CallOf(pub(crate) Arc<CallSpans>);

impl CallSpans {
    pub(crate) fn new(trace_id: TraceId) -> Arc<Self> {
        Arc::new(CallSpans {
            trace_id,
            spans: Mutex::new(SpanList::default()),
            otel: AtomicBool::new(false),
            open: AtomicU64::new(0),
        })
    }

    /// From now on, its `tracing` spans are the OpenTelemetry context
    /// while entered (the suite's processor captures the call's spans).
    pub(crate) fn watched_by_otel(&self) {
        self.otel.store(true, Ordering::Relaxed);
    }

    /// The trace its spans are in.
    pub(crate) fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The spans closed so far, taken, and how many of its `tracing`
    /// spans are made and not closed: once the call has returned, those it
    /// left to work that outlives it, which its record's trace does not
    /// hold. Read under the lock a span closes under, so that a span
    /// closing meanwhile is in one or the other, never in neither.
    pub(crate) fn take_with_open(&self) -> (Vec<StoredSpan>, u64) {
        let mut spans = lock(&self.spans);
        let open = self.open.load(Ordering::Relaxed);
        (spans.take(self.trace_id), open)
    }

    /// Adds a `tracing` span that closed.
    fn close(&self, span: StoredSpan) {
        let mut spans = lock(&self.spans);
        self.open.fetch_sub(1, Ordering::Relaxed);
        spans.push(span);
    }

    /// Adds a span that ended.
    pub(crate) fn push(&self, span: StoredSpan) {
        lock(&self.spans).push(span);
    }

    /// The spans closed so far, taken.
    pub(crate) fn take(&self) -> Vec<StoredSpan> {
        lock(&self.spans).take(self.trace_id)
    }
}

/// The calls of one predictor in flight, by record (its dataset line, its
/// trace and its root span), so that the spans of a call the run gave up
/// on can be taken while it still runs. A dataset refuses two records on
/// the same trace and span, but the predictor does not rely on it: the
/// line tells apart calls under the same ids, one of them still hanging.
///
/// Every call registers here and only a call that runs out of time is
/// looked up, so registering is what must be cheap: the calls are spread
/// over a few locks by their root span's id (random), each holding a short
/// list that keeps its room, rather than one map under one lock, which the
/// calling threads queued on.
#[derive(Default)]
pub(crate) struct CallsInFlight([Mutex<Vec<InFlight>>; IN_FLIGHT_SHARDS]);

/// How many locks [`CallsInFlight`] spreads its calls over.
const IN_FLIGHT_SHARDS: usize = 16;

/// One call in flight: its record's line, trace and root span.
struct InFlight {
    record: (usize, TraceId, SpanId),
    call: Arc<CallSpans>,
}

/// A call's place among the calls in flight, given up when it drops.
pub(crate) struct Entered<'a> {
    shard: &'a Mutex<Vec<InFlight>>,
    call: Arc<CallSpans>,
}

/// Which record a call answers.
fn record_of(call: &Call<'_>) -> (usize, TraceId, SpanId) {
    (call.line, call.trace_id, call.parent_span_id)
}

impl CallsInFlight {
    fn shard(&self, root: SpanId) -> &Mutex<Vec<InFlight>> {
        let low = root.to_bytes()[7];
        &self.0[usize::from(low) % IN_FLIGHT_SHARDS]
    }

    /// Registers `spans` as the spans of `call`, until the guard drops.
    pub(crate) fn enter<'a>(&'a self, call: &Call<'_>, spans: &Arc<CallSpans>) -> Entered<'a> {
        let shard = self.shard(call.parent_span_id);
        lock(shard).push(InFlight {
            record: record_of(call),
            call: Arc::clone(spans),
        });
        Entered {
            shard,
            call: Arc::clone(spans),
        }
    }

    /// The spans `call` closed so far, taken; none when it is not in
    /// flight.
    pub(crate) fn take(&self, call: &Call<'_>) -> Vec<StoredSpan> {
        let record = record_of(call);
        let found = lock(self.shard(call.parent_span_id))
            .iter()
            .find(|in_flight| in_flight.record == record)
            .map(|in_flight| Arc::clone(&in_flight.call));
        found.map(|found| found.take()).unwrap_or_default()
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let mut shard = lock(self.shard);
        if let Some(at) = shard.iter().position(|c| Arc::ptr_eq(&c.call, &self.call)) {
            shard.swap_remove(at);
        }
    }
}

/// What a span of a call holds: its call, its id, and the span being
/// built (none for the marker, which the run makes as the root span).
struct Captured {
    call: Arc<CallSpans>,
    span_id: SpanId,
    span: Option<StoredSpan>,
}

/// The layer that builds the calls' spans.
pub(crate) struct CaptureLayer;

/// The subscriber a suite's calls run with.
type Capturing = tracing_subscriber::layer::Layered<CaptureLayer, Registry>;

/// A dispatcher of its own for a suite's calls.
pub(crate) fn dispatch() -> Dispatch {
    Dispatch::new(Registry::default().with(CaptureLayer))
}

/// Makes `span` (made with `dispatch`, the marker of a call) the root of
/// the call's spans: its children are children of `root`, and go to
/// `call`.
pub(crate) fn mark(dispatch: &Dispatch, span: &tracing::Span, call: Arc<CallSpans>, root: SpanId) {
    let (Some(subscriber), Some(id)) = (dispatch.downcast_ref::<Capturing>(), span.id()) else {
        return;
    };
    if let Some(span) = subscriber.span(&id) {
        // `replace`, not `insert`, which panics on a second one.
        span.extensions_mut().replace(Captured {
            call,
            span_id: root,
            span: None,
        });
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for CaptureLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some((call, parent)) = span.parent().and_then(|parent| {
            parent
                .extensions()
                .get::<Captured>()
                .map(|p| (Arc::clone(&p.call), p.span_id))
        }) else {
            // Outside a call.
            return;
        };
        let meta = attrs.metadata();
        let mut stored = StoredSpan::new(call.trace_id, new_span_id(), meta.name().to_owned());
        stored.parent_span_id = Some(parent);
        stored.start_time = SystemTime::now();
        stored.scope_name = meta.target().to_owned();
        attrs.record(&mut Fields(&mut stored));
        call.open.fetch_add(1, Ordering::Relaxed);
        span.extensions_mut().insert(Captured {
            call,
            span_id: stored.span_id,
            span: Some(stored),
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(Captured {
                span: Some(stored), ..
            }) = span.extensions_mut().get_mut::<Captured>()
        {
            values.record(&mut Fields(stored));
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let extensions = span.extensions();
        let Some(Captured {
            call,
            span_id,
            span: Some(_),
        }) = extensions.get::<Captured>()
        else {
            return;
        };
        if !call.otel.load(Ordering::Relaxed) {
            return;
        }
        // Spans made through the OpenTelemetry API meanwhile are its
        // children, in its call.
        let context = opentelemetry::Context::current()
            .with_remote_span_context(SpanContext::new(
                call.trace_id,
                *span_id,
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            ))
            .with_value(CallOf(Arc::clone(call)));
        let guard = context.attach();
        ENTERED.with(|entered| {
            entered
                .borrow_mut()
                .push((id.clone(), Arc::clone(call), guard))
        });
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let extensions = span.extensions();
        if let Some(Captured {
            call,
            span: Some(_),
            ..
        }) = extensions.get::<Captured>()
            && call.otel.load(Ordering::Relaxed)
        {
            // Its own context, wherever it is among those entered (spans
            // may be exited out of order).
            let left = ENTERED.with(|entered| {
                let mut entered = entered.borrow_mut();
                let at = entered.iter().rposition(|(entered, _, _)| entered == id);
                at.map(|at| entered.remove(at))
            });
            drop(left);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(captured) = extensions.get_mut::<Captured>() else {
            return;
        };
        if let Some(mut stored) = captured.span.take() {
            stored.end_time = SystemTime::now();
            captured.call.close(stored);
        }
    }
}

thread_local! {
    /// The OpenTelemetry contexts of the `tracing` spans entered on this
    /// thread, innermost last: each is left when its span is exited.
    static ENTERED: RefCell<Vec<(Id, Arc<CallSpans>, opentelemetry::ContextGuard)>> =
        const { RefCell::new(Vec::new()) };
}

/// Leaves the OpenTelemetry contexts of `call`'s spans still entered on
/// this thread (a guard the code kept, or forgot, past its call), so that
/// no later call on the thread makes spans in this one.
pub(crate) fn leave(call: &Arc<CallSpans>) {
    let left: Vec<_> = ENTERED.with(|entered| {
        let mut entered = entered.borrow_mut();
        let (left, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut *entered)
            .into_iter()
            .partition(|(_, of, _)| Arc::ptr_eq(of, call));
        *entered = kept;
        left
    });
    // Dropped innermost first.
    for guard in left.into_iter().rev() {
        drop(guard);
    }
}

/// A span id, random and never zero.
fn new_span_id() -> SpanId {
    SpanId::from(rand::random::<u64>().max(1))
}

/// Reads a span's fields into its attributes, and the conventions of
/// `tracing-opentelemetry` into its name, kind and status.
struct Fields<'a>(&'a mut StoredSpan);

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let span = &mut *self.0;
        match (field.name(), &value) {
            ("otel.name", Value::String(name)) => span.name = name.clone(),
            ("otel.kind", Value::String(kind)) => {
                span.kind = match kind.to_ascii_lowercase().as_str() {
                    "server" => SpanKind::Server,
                    "client" => SpanKind::Client,
                    "producer" => SpanKind::Producer,
                    "consumer" => SpanKind::Consumer,
                    _ => SpanKind::Internal,
                }
            }
            ("otel.status_code", Value::String(code)) => {
                span.status = match code.to_ascii_lowercase().as_str() {
                    "error" => Status::error(match &span.status {
                        Status::Error { description } => description.clone(),
                        _ => "".into(),
                    }),
                    "ok" => Status::Ok,
                    _ => Status::Unset,
                }
            }
            ("otel.status_message", Value::String(message)) => {
                span.status = Status::error(message.clone())
            }
            _ => {
                span.attributes.insert(field.name().to_owned(), value);
            }
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace_id: TraceId, name: &str) -> StoredSpan {
        StoredSpan::new(trace_id, new_span_id(), name.to_owned())
    }

    fn call(line: usize, trace_id: TraceId, root: SpanId) -> Call<'static> {
        static INPUTS: verdict_scorer::OwnedValue = verdict_scorer::OwnedValue::Null;
        Call {
            line,
            inputs: &INPUTS,
            trace_id,
            parent_span_id: root,
            named_trace: true,
            time_limit: std::time::Duration::from_secs(1),
        }
    }

    #[test]
    fn records_under_the_same_ids_keep_their_own_places_in_flight() {
        let in_flight = CallsInFlight::default();
        let trace = TraceId::from(7u128);
        let root = SpanId::from(9u64);
        // Two records under the same ids, the first one's call hanging
        // still.
        let (first, second) = (call(1, trace, root), call(2, trace, root));
        let (first_spans, second_spans) = (CallSpans::new(trace), CallSpans::new(trace));
        let first_in = in_flight.enter(&first, &first_spans);
        let second_in = in_flight.enter(&second, &second_spans);
        first_spans.push(span(trace, "first's"));
        second_spans.push(span(trace, "second's"));
        // Each record's own, whichever asks first.
        assert_eq!(in_flight.take(&second)[0].name, "second's");
        assert_eq!(in_flight.take(&first)[0].name, "first's");
        // One returns: the other is still found.
        drop(first_in);
        second_spans.push(span(trace, "second's later"));
        assert!(in_flight.take(&first).is_empty());
        assert_eq!(in_flight.take(&second)[0].name, "second's later");
        drop(second_in);
        assert!(in_flight.take(&second).is_empty());
        assert!(in_flight.0.iter().all(|shard| lock(shard).is_empty()));
    }
}
