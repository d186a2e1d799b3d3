//! The spans a suite's code under test emits through `tracing` while it
//! answers one record, captured into that record's trace.
//!
//! Each call runs with a dispatcher of the suite's own as the thread's
//! default (`tracing::dispatcher::with_default`; a future, with
//! `WithSubscriber`): a `tracing-subscriber` [`Registry`] with
//! [`CaptureLayer`]. Where the call's spans go ([`CallSpans`]) is the
//! thread's running call ([`Running`]) for a synchronous call, and a marker
//! span the future runs in for an asynchronous one, since a future is
//! polled on whichever thread its runtime picks. A synchronous call has no
//! marker: the thread already says which call runs on it, and a span made,
//! entered and closed per call would cost what the code's own span costs.
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
//! left running) is not captured, nor is one the code makes a root on
//! purpose (`parent: None`): it starts a trace of its own.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
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

use crate::predict::SpanList;
use crate::run::lock;

/// The target of the marker span an asynchronous call runs in.
#[cfg(feature = "tokio")]
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

    /// Adds a span that ended.
    pub(crate) fn push(&self, span: StoredSpan) {
        lock(&self.spans).push(span);
    }

    /// The spans closed so far, taken.
    pub(crate) fn take(&self) -> Vec<StoredSpan> {
        lock(&self.spans).take(self.trace_id)
    }
}

/// The calls of one predictor in flight, by record (its trace and root
/// span), so that the spans of a call the run gave up on can be taken
/// while it still runs. Records that name the same trace and span (a
/// dataset's repeated line) are in flight side by side.
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

/// One call in flight.
struct InFlight {
    key: (TraceId, SpanId),
    call: Arc<CallSpans>,
}

/// A call's place among the calls in flight, given up when it drops.
pub(crate) struct Entered<'a> {
    shard: &'a Mutex<Vec<InFlight>>,
    call: Arc<CallSpans>,
}

impl CallsInFlight {
    fn shard(&self, root: SpanId) -> &Mutex<Vec<InFlight>> {
        let low = root.to_bytes()[7];
        &self.0[usize::from(low) % IN_FLIGHT_SHARDS]
    }

    /// Registers `spans` as the spans of the call under `root`, until the
    /// guard drops.
    pub(crate) fn enter<'a>(&'a self, root: SpanId, spans: &Arc<CallSpans>) -> Entered<'a> {
        let shard = self.shard(root);
        lock(shard).push(InFlight {
            key: (spans.trace_id(), root),
            call: Arc::clone(spans),
        });
        Entered {
            shard,
            call: Arc::clone(spans),
        }
    }

    /// The spans the call under `root` of trace `trace_id` closed so far,
    /// taken; none when it is not in flight. Of calls under the same root,
    /// the one that started first: every call has the same time limit, so
    /// it is the first to run out of time.
    pub(crate) fn take(&self, trace_id: TraceId, root: SpanId) -> Vec<StoredSpan> {
        let call = lock(self.shard(root))
            .iter()
            .find(|in_flight| in_flight.key == (trace_id, root))
            .map(|in_flight| Arc::clone(&in_flight.call));
        call.map(|call| call.take()).unwrap_or_default()
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let mut shard = lock(self.shard);
        if let Some(at) = shard.iter().position(|c| Arc::ptr_eq(&c.call, &self.call)) {
            // Removed in place: the calls keep the order they started in.
            shard.remove(at);
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
#[cfg(feature = "tokio")]
type Capturing = tracing_subscriber::layer::Layered<CaptureLayer, Registry>;

/// A dispatcher of its own for a suite's calls.
pub(crate) fn dispatch() -> Dispatch {
    Dispatch::new(Registry::default().with(CaptureLayer))
}

/// A synchronous call running on this thread, until it drops: the spans
/// its code opens at top level on the thread are children of its root
/// span, and go to its spans. The call this one interrupted, if any (a
/// suite run from inside another's call), runs on when it drops.
pub(crate) struct Running(Option<(Arc<CallSpans>, SpanId)>);

impl Running {
    pub(crate) fn start(call: Arc<CallSpans>, root: SpanId) -> Self {
        Running(RUNNING.with(|running| running.borrow_mut().replace((call, root))))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let interrupted = self.0.take();
        RUNNING.with(|running| *running.borrow_mut() = interrupted);
    }
}

/// Makes `span` (made with `dispatch`, the marker of an asynchronous call) the root of
/// the call's spans: its children are children of `root`, and go to
/// `call`.
#[cfg(feature = "tokio")]
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
        let under = span.parent().and_then(|parent| {
            parent
                .extensions()
                .get::<Captured>()
                .map(|p| (Arc::clone(&p.call), p.span_id))
        });
        let running = RUNNING.with(|running| running.borrow().clone());
        let (call, parent) = match (under, running) {
            // A span the code left entered in an earlier call on this
            // thread is not the parent of this call's spans.
            (Some((of, _)), Some(running))
                if attrs.is_contextual() && !Arc::ptr_eq(&of, &running.0) =>
            {
                running
            }
            (Some(under), _) => under,
            // A top-level span of the call running on this thread; one
            // made a root on purpose (`parent: None`) is not the call's.
            (None, Some(running)) if !attrs.is_root() => running,
            // Outside a call.
            _ => return,
        };
        let meta = attrs.metadata();
        let mut stored = StoredSpan::new(call.trace_id, new_span_id(), meta.name().to_owned());
        stored.parent_span_id = Some(parent);
        stored.start_time = SystemTime::now();
        stored.scope_name = meta.target().to_owned();
        attrs.record(&mut Fields(&mut stored));
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
            captured.call.push(stored);
        }
    }
}

thread_local! {
    /// The synchronous call running on this thread, and its root span.
    static RUNNING: RefCell<Option<(Arc<CallSpans>, SpanId)>> = const { RefCell::new(None) };

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

    #[test]
    fn calls_under_the_same_root_keep_their_places_in_flight() {
        let in_flight = CallsInFlight::default();
        let trace = TraceId::from(7u128);
        let root = SpanId::from(9u64);
        // A dataset's repeated line: two calls under the same root.
        let first = CallSpans::new(trace);
        let second = CallSpans::new(trace);
        let first_in = in_flight.enter(root, &first);
        let second_in = in_flight.enter(root, &second);
        first.push(span(trace, "first's"));
        second.push(span(trace, "second's"));
        // The first started is the first to run out of time.
        let taken = in_flight.take(trace, root);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].name, "first's");
        assert_eq!(second.take()[0].name, "second's");
        // The second returns: the first, still in flight, is still found.
        drop(second_in);
        first.push(span(trace, "first's later"));
        let taken = in_flight.take(trace, root);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].name, "first's later");
        drop(first_in);
        first.push(span(trace, "after it returned"));
        assert!(in_flight.take(trace, root).is_empty());
        assert!(in_flight.0.iter().all(|shard| lock(shard).is_empty()));
    }
}
