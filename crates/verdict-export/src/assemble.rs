//! Spans and assessments kept together by trace: [`TraceAssembler`] is
//! both a span processor for a user's `SdkTracerProvider` and an
//! [`AssessmentProcessor`] for a [`Recorder`](verdict::Recorder), over one
//! shared state, and ships each trace's spans with the assessments
//! recorded while it was open through one sink
//! ([`TraceSink::export_trace`]).
//!
//! It is a processor on both sides, not a sink: it decides when spans and
//! operations go out, and the [`TraceSink`] behind it delivers them, as
//! opentelemetry_sdk's processors stand in front of its exporters. Being a
//! sink of the recorder's instead, it would need every sink's contract to
//! allow holding.
//!
//! - A trace is **open** from the start of its local root span (seen by the
//!   processor's `on_start`) until that span, ended, reaches the
//!   processor's batch exporter. Spans of an open trace that end meanwhile
//!   are held; so are the assessment operations recorded on it.
//! - When the root arrives, the trace's spans and held operations go out
//!   together, on the assembler's own thread, once the recorder has handed
//!   over what was recorded before (waiting at most 100 ms). Operations on
//!   a trace that is not open (a human review hours later, a trace of
//!   another process) go out at once, on their own, as any sink would send
//!   them.
//! - Holding is bounded: past [`AssemblerBuilder::max_held`] spans and
//!   operations held in all, or once a trace has held something for
//!   [`AssemblerBuilder::max_hold`], the trace's held spans and operations
//!   go out on their own (spans first), and what comes later for that trace
//!   goes out at once. Nothing is dropped.
//! - The recorder counts held operations in
//!   [`Counters::held`](verdict::Counters::held) until they go out (the
//!   assembler reports their fate on the [`DeliveryLedger`] it is
//!   registered with); its `flush` and `shutdown` (and the tracer
//!   provider's `force_flush` and `shutdown`) send everything held, so that
//!   after a recorder flush every operation is counted as delivered or
//!   failed.
//! - Failures on the assembler's own thread (a trace's spans refused, say)
//!   go to the recorder's error handler and are returned by its next
//!   `flush`; before the assessment processor is registered with a
//!   recorder, to standard error.
//! - A trace whose root span never ends (leaked, never exported) keeps a
//!   small entry; what it held goes out after `max_hold`.
//! - For a receiver that may be down, build the assembler over a
//!   [`Spooled`](crate::Spooled) sink,
//!   `TraceAssembler::builder(Spooled::new(sink, store))`: the spans and
//!   operations a trace could not deliver after the sink's retries wait in
//!   the local store (counted spooled; refusals are failed, not spooled),
//!   and are replayed in order in the background, from the next start too.
//! - Deadlines: the recorder's `flush_timeout` and `shutdown_timeout`
//!   (through [`AssessmentProcessor::set_deadline`]) and the tracer
//!   provider's `shutdown_with_timeout` bound how long a flush or a
//!   shutdown waits for traces being shipped, and are passed on to the
//!   sink, so that a spool keeps what cannot be sent in time.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak, mpsc};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry::trace::{Span as _, SpanId, TraceContextExt as _, TraceId};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{
    BatchConfig, BatchSpanProcessor, Span, SpanData, SpanExporter, SpanProcessor,
};
use verdict::{
    AssessmentProcessor, AssessmentSink, DeliveryLedger, Operation, Outcome, Outcomes, SinkError,
    SpansAndOperations,
};

#[cfg(feature = "jsonl")]
use crate::JsonlSink;
use crate::SpanSink;
#[cfg(feature = "mlflow")]
use verdict_mlflow::MlflowSink;
#[cfg(feature = "store")]
use verdict_store::{Batch, LocalStore};

/// A sink for spans and assessment operations that can ship a trace's
/// spans together with the operations recorded on it.
pub trait TraceSink: AssessmentSink + SpanSink {
    /// Ships `spans` (finished, of one or more traces) and `operations`
    /// (on those traces, in recorded order), and returns the outcome of
    /// the spans and that of the operations. `fresh`: none of these
    /// traces' spans or operations has been sent before (a receiver may
    /// skip looking the trace up).
    ///
    /// The default sends the spans, then the operations.
    fn export_trace(
        &self,
        spans: &[SpanData],
        operations: &[Operation],
        fresh: bool,
    ) -> SpansAndOperations {
        let _ = fresh;
        spans_then_operations(self, spans, operations)
    }

    /// The tracer provider's resource, for sinks whose spans carry it
    /// (called when the provider is built). The default ignores it.
    fn set_resource(&self, resource: &Resource) {
        let _ = resource;
    }

    /// Called once by [`TraceAssembler::builder`], before any span or
    /// operation reaches the sink. The default does nothing; a
    /// [`Spooled`](crate::Spooled) sink replays what its spool holds,
    /// spans included (the next start picks up what the last one spooled).
    fn assembled(&self) {}
}

/// What [`TraceSink::export_trace`] does by default.
fn spans_then_operations<S: AssessmentSink + SpanSink + ?Sized>(
    sink: &S,
    spans: &[SpanData],
    operations: &[Operation],
) -> SpansAndOperations {
    let spans_sent = if spans.is_empty() {
        Ok(())
    } else {
        sink.export_spans(spans)
    };
    let sent = if operations.is_empty() {
        Ok(())
    } else {
        sink.export(operations)
    };
    (spans_sent, sent)
}

#[cfg(feature = "store")]
impl TraceSink for LocalStore {
    /// When every operation is a new assessment: the spans and the
    /// assessments in one transaction ([`LocalStore::write_batch`]).
    /// Otherwise, or if that transaction fails (an override of an unknown
    /// assessment fails all of it), the spans, then each operation as
    /// [`export`](AssessmentSink::export) applies it.
    fn export_trace(
        &self,
        spans: &[SpanData],
        operations: &[Operation],
        _fresh: bool,
    ) -> SpansAndOperations {
        if operations.iter().all(|op| matches!(op, Operation::Log(_))) {
            let mut batch = Batch::with_capacity(spans.len(), operations.len());
            for span in spans {
                batch.push_span(span);
            }
            for op in operations {
                if let Operation::Log(a) = op {
                    batch.push_assessment(a.clone());
                }
            }
            if self.write_batch(&batch).is_ok() {
                return (Ok(()), Ok(()));
            }
        }
        spans_then_operations(self, spans, operations)
    }
}

#[cfg(feature = "jsonl")]
impl TraceSink for JsonlSink {}

#[cfg(feature = "mlflow")]
impl TraceSink for MlflowSink {
    /// [`MlflowSink::export_traces`]: a trace whose root span is here is
    /// created with its new assessments inline (without reading it first
    /// when `fresh`), its spans posted after. A `fresh` trace whose root
    /// has not ended (its held assessments released early) is created
    /// `IN_PROGRESS` with them; its root sets its info when it comes.
    fn export_trace(
        &self,
        spans: &[SpanData],
        operations: &[Operation],
        fresh: bool,
    ) -> SpansAndOperations {
        self.ship_together(spans, operations, fresh)
    }
}

impl<S: TraceSink + ?Sized> TraceSink for Arc<S> {
    fn export_trace(
        &self,
        spans: &[SpanData],
        operations: &[Operation],
        fresh: bool,
    ) -> SpansAndOperations {
        (**self).export_trace(spans, operations, fresh)
    }

    fn set_resource(&self, resource: &Resource) {
        (**self).set_resource(resource);
    }

    fn assembled(&self) {
        (**self).assembled();
    }
}

/// Configures a [`TraceAssembler`] ([`TraceAssembler::builder`]).
#[must_use]
pub struct AssemblerBuilder {
    sink: Box<dyn TraceSink>,
    max_held: usize,
    max_hold: Duration,
    batch: Option<BatchConfig>,
}

impl fmt::Debug for AssemblerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssemblerBuilder")
            .field("max_held", &self.max_held)
            .field("max_hold", &self.max_hold)
            .finish_non_exhaustive()
    }
}

impl AssemblerBuilder {
    /// The most spans and operations held in all (default 20,000, at least
    /// 1). Past it, the trace that has held something longest sends it on
    /// its own.
    pub fn max_held(mut self, count: usize) -> Self {
        self.max_held = count.max(1);
        self
    }

    /// The longest a trace holds spans and operations (default 30 s):
    /// a trace open longer sends what it holds on its own.
    pub fn max_hold(mut self, wait: Duration) -> Self {
        self.max_hold = wait;
        self
    }

    /// The settings of the SDK's batch span processor inside the span
    /// processor (default: the SDK's, from the `OTEL_BSP_*` variables).
    /// Its schedule delay is how long an ended trace may wait before it
    /// ships.
    pub fn span_batch(mut self, config: BatchConfig) -> Self {
        self.batch = Some(config);
        self
    }

    /// The span processor for `SdkTracerProvider::builder().with_span_processor(..)`
    /// (the SDK's batch processor, with its `OTEL_BSP_*` settings, over
    /// the assembler) and the assessment processor for
    /// `Recorder::builder().processor(..)`.
    pub fn build(self) -> (AssemblerSpanProcessor, AssemblerAssessmentProcessor) {
        let (tasks, queue) = mpsc::channel();
        let shared = Arc::new(Shared {
            sink: self.sink,
            max_held: self.max_held,
            max_hold: self.max_hold,
            state: Mutex::new(State::default()),
            idle: Condvar::new(),
            tasks,
            deadline: Mutex::new(None),
        });
        let weak = Arc::downgrade(&shared);
        let tick = (self.max_hold / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        // Ships for the span processor, and sends what waited past
        // max_hold; ends with the assembler. Should it not start, the span
        // processor's thread ships (`Shared::queue`).
        let _ = std::thread::Builder::new()
            .name("verdict-assembler".into())
            .spawn(move || ship(&queue, &weak, tick));
        let exporter = AssemblerExporter {
            shared: Arc::clone(&shared),
        };
        (
            AssemblerSpanProcessor {
                shared: Arc::clone(&shared),
                batch: match self.batch {
                    Some(config) => BatchSpanProcessor::builder(exporter)
                        .with_batch_config(config)
                        .build(),
                    None => BatchSpanProcessor::builder(exporter).build(),
                },
            },
            AssemblerAssessmentProcessor { shared },
        )
    }
}

/// The assembler's thread: ships what the span processor hands over, in
/// order, and every `tick` what waited past `max_hold`.
fn ship(queue: &mpsc::Receiver<Task>, shared: &Weak<Shared>, tick: Duration) {
    loop {
        let task = match queue.recv_timeout(tick) {
            Ok(task) => Some(task),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match task {
            Some(task) => {
                let errors = shared.perform(task);
                shared.report(errors);
                shared.lock().queued -= 1;
                shared.idle.notify_all();
            }
            None => {
                let jobs = shared.due(&mut shared.lock());
                let errors = shared.run(jobs);
                shared.report(errors);
            }
        }
    }
}

/// Work handed from the span processor to the assembler's thread.
struct Task {
    /// Spans of traces not held: sent as they are.
    spans: Vec<SpanData>,
    /// Traces to ship with what they held.
    jobs: Vec<Job>,
    /// Traces whose root ended: shipped with what they hold once the
    /// recorder has handed over what was recorded before (`recorded`).
    complete: Vec<TraceId>,
    /// The recorder's count of recorded operations when the spans came.
    recorded: Option<u64>,
}

/// The longest the assembler waits for the recorder to hand over the
/// assessments recorded before a trace's root ended (its worker may lag
/// behind the span processor), before shipping the trace without them:
/// they then follow on their own.
const CATCH_UP: Duration = Duration::from_millis(100);

/// Keeps spans and assessment operations together by trace, and ships
/// each trace's spans with the assessments recorded while it was open
/// through one [`TraceSink`] (the MLflow sink creates the trace with its
/// assessments inline in one request). See the [module docs](self).
///
/// ```
/// use std::sync::Arc;
///
/// use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use verdict::{Assessment, Recorder};
/// use verdict_export::{LocalStore, TraceAssembler};
///
/// let dir = tempfile::tempdir()?;
/// let store = Arc::new(LocalStore::open(dir.path().join("verdict.db"))?);
/// let (spans, assessments) = TraceAssembler::builder(store.clone()).build();
/// let tracer_provider = SdkTracerProvider::builder()
///     .with_span_processor(spans)
///     .build();
/// let recorder = Recorder::builder().processor(assessments).build();
///
/// let trace_id = tracer_provider.tracer("app").in_span("answer", |cx| {
///     recorder.record(Assessment::feedback("helpful", true).on_current_span()?)?;
///     Ok::<_, Box<dyn std::error::Error>>(cx.span().span_context().trace_id())
/// })?;
///
/// tracer_provider.force_flush()?;
/// recorder.flush()?;
/// assert_eq!(store.spans_of(trace_id)?[0].name, "answer");
/// assert_eq!(store.list_by_trace(trace_id)?[0].name(), "helpful");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TraceAssembler;

impl TraceAssembler {
    /// Starts configuring an assembler that ships through `sink` (and
    /// tells the sink, [`TraceSink::assembled`]: a [`Spooled`](crate::Spooled)
    /// sink replays its spool then).
    pub fn builder(sink: impl TraceSink) -> AssemblerBuilder {
        sink.assembled();
        AssemblerBuilder {
            sink: Box::new(sink),
            max_held: 20_000,
            max_hold: Duration::from_secs(30),
            batch: None,
        }
    }
}

struct Shared {
    sink: Box<dyn TraceSink>,
    max_held: usize,
    max_hold: Duration,
    state: Mutex<State>,
    /// Signalled when a trace's shipping, or a task, ends.
    idle: Condvar,
    /// To the assembler's thread.
    tasks: mpsc::Sender<Task>,
    /// By when a flush or shutdown under way must return: told by the
    /// recorder ([`AssessmentProcessor::set_deadline`]) or by the tracer
    /// provider's `shutdown_with_timeout`.
    deadline: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct State {
    traces: HashMap<TraceId, Open>,
    /// Spans and operations held, in all traces.
    held: usize,
    /// The ledger of the recorder the assessment processor is registered
    /// with, on which held operations are settled; until then nothing is
    /// held.
    ledger: Option<DeliveryLedger>,
    /// The span side shut down: nothing more is held.
    closed: bool,
    /// Tasks handed to the assembler's thread and not done.
    queued: usize,
}

/// A trace whose local root has started.
#[derive(Default)]
struct Open {
    /// Local roots started and not yet exported.
    roots: usize,
    /// Its last local root was exported: the trace is complete.
    done: bool,
    /// Something of it may be on the receiver already (sent before, or a
    /// root whose parent is remote).
    sent: bool,
    /// Released (sent what it held before it completed): what comes later
    /// goes out at once.
    released: bool,
    /// A thread is shipping it: what arrives meanwhile is held for that
    /// thread to ship next, in order.
    shipping: bool,
    spans: Vec<SpanData>,
    operations: Vec<Operation>,
    /// When it started holding what it holds now.
    since: Option<Instant>,
}

impl Open {
    fn holds(&self) -> bool {
        self.shipping || !self.released
    }

    fn has_held(&self) -> bool {
        !self.spans.is_empty() || !self.operations.is_empty()
    }
}

/// One trace's held spans and operations, taken to be shipped.
struct Job {
    trace: TraceId,
    spans: Vec<SpanData>,
    operations: Vec<Operation>,
    fresh: bool,
}

fn is_local_root(span: &SpanData) -> bool {
    span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes what `trace` holds to ship it, unless another thread ships it
    /// (then that thread takes it next).
    fn take(&self, state: &mut State, trace: TraceId) -> Option<Job> {
        let open = state.traces.get_mut(&trace)?;
        if open.shipping || !open.has_held() {
            return None;
        }
        open.shipping = true;
        open.since = None;
        let spans = std::mem::take(&mut open.spans);
        let operations = std::mem::take(&mut open.operations);
        let fresh = !open.sent;
        open.sent = true;
        state.held -= spans.len() + operations.len();
        Some(Job {
            trace,
            spans,
            operations,
            fresh,
        })
    }

    /// The traces to release now: those holding longer than `max_hold`,
    /// then the longest-holding ones while more than `max_held` is held.
    fn due(&self, state: &mut State) -> Vec<Job> {
        let now = Instant::now();
        let mut waiting: Vec<(Instant, TraceId)> = state
            .traces
            .iter()
            .filter(|(_, open)| !open.shipping)
            .filter_map(|(trace, open)| open.since.map(|since| (since, *trace)))
            .collect();
        waiting.sort_unstable_by_key(|(since, _)| *since);
        let mut jobs = Vec::new();
        for (since, trace) in waiting {
            let expired = now.duration_since(since) >= self.max_hold;
            if !expired && state.held <= self.max_held {
                break;
            }
            if let Some(job) = self.take(state, trace) {
                if let Some(open) = state.traces.get_mut(&trace) {
                    open.released = true;
                }
                jobs.push(job);
            }
        }
        jobs
    }

    /// Ships each job, then what its trace held meanwhile; returns the
    /// span failures (operation outcomes go to the recorder's ledger).
    fn run(&self, mut jobs: Vec<Job>) -> Vec<SinkError> {
        let mut errors = Vec::new();
        while !jobs.is_empty() {
            // All traces in one call, so that the sink can ship them
            // concurrently and post their spans in one request.
            let (fresh, seen): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| j.fresh);
            let mut traces = Vec::new();
            for (group, fresh) in [(fresh, true), (seen, false)] {
                if group.is_empty() {
                    continue;
                }
                let mut spans = Vec::new();
                let mut operations = Vec::new();
                for job in group {
                    traces.push(job.trace);
                    spans.extend(job.spans);
                    operations.extend(job.operations);
                }
                let (spans_sent, sent) = self.sink.export_trace(&spans, &operations, fresh);
                if let Err(error) = spans_sent {
                    // Spans spooled are no failure.
                    if Outcomes::of_error(&error, spans.len()).failed() > 0 {
                        errors.push(error);
                    }
                }
                let ledger = self.lock().ledger.clone();
                if let (Some(ledger), n @ 1..) = (ledger, operations.len()) {
                    match sent {
                        Ok(()) => ledger.delivered(n),
                        Err(error) => {
                            let outcomes = Outcomes::of_error(&error, n);
                            let (failed, spooled) = (outcomes.failed(), outcomes.spooled());
                            ledger.delivered(n - failed - spooled);
                            ledger.spooled(spooled);
                            if failed > 0 {
                                ledger.failed(failed, error);
                            }
                        }
                    }
                }
            }
            // What arrived for these traces meanwhile goes next, in order.
            let mut state = self.lock();
            jobs = Vec::new();
            for trace in traces {
                let Some(open) = state.traces.get_mut(&trace) else {
                    continue;
                };
                open.shipping = false;
                if let Some(next) = self.take(&mut state, trace) {
                    jobs.push(next);
                } else if open_done(&state, trace) {
                    state.traces.remove(&trace);
                }
            }
            drop(state);
            self.idle.notify_all();
        }
        errors
    }

    /// Failures with no caller to return them to: to the recorder's error
    /// handler, or standard error before the assessment processor is
    /// registered.
    fn report(&self, errors: Vec<SinkError>) {
        if errors.is_empty() {
            return;
        }
        let ledger = self.lock().ledger.clone();
        for error in errors {
            match &ledger {
                Some(ledger) => ledger.failed(0, error),
                None => eprintln!("verdict: trace assembler: {error}"),
            }
        }
    }

    /// Notes the deadline, and tells the sink (a spool spools what it
    /// cannot send by then).
    fn set_deadline(&self, deadline: Option<Instant>) {
        *self.deadline.lock().unwrap_or_else(PoisonError::into_inner) = deadline;
        self.sink.set_deadline(deadline);
    }

    fn past_deadline(&self) -> bool {
        self.deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| Instant::now() >= at)
    }

    /// Sends everything held, waiting for traces other threads ship — no
    /// longer than the deadline, if one is set: then what other threads
    /// still ship is left to them.
    fn release_all(&self) -> Vec<SinkError> {
        let mut errors = Vec::new();
        loop {
            let jobs = {
                let mut state = self.lock();
                let mut state = loop {
                    let busy = state.queued > 0
                        || state
                            .traces
                            .values()
                            .any(|open| open.shipping && open.has_held());
                    if !busy || self.past_deadline() {
                        break state;
                    }
                    state = self
                        .idle
                        .wait_timeout(state, Duration::from_millis(50))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                };
                let traces: Vec<TraceId> = state
                    .traces
                    .iter()
                    .filter(|(_, open)| open.has_held())
                    .map(|(trace, _)| *trace)
                    .collect();
                let mut jobs = Vec::new();
                for trace in traces {
                    if let Some(job) = self.take(&mut state, trace) {
                        if let Some(open) = state.traces.get_mut(&trace) {
                            open.released = true;
                        }
                        jobs.push(job);
                    }
                }
                jobs
            };
            if jobs.is_empty() {
                // Wait for the shipping still running.
                let mut state = self.lock();
                while (state.queued > 0 || state.traces.values().any(|open| open.shipping))
                    && !self.past_deadline()
                {
                    state = self
                        .idle
                        .wait_timeout(state, Duration::from_millis(50))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                if state.traces.values().any(Open::has_held) && !self.past_deadline() {
                    continue;
                }
                return errors;
            }
            errors.extend(self.run(jobs));
        }
    }

    /// Finished spans from the batch processor: held, shipped with their
    /// trace when its root is among them, or sent at once — by the
    /// assembler's thread.
    fn spans_ended(&self, spans: Vec<SpanData>) -> Result<(), SinkError> {
        let mut direct = Vec::new();
        let task = {
            let mut state = self.lock();
            let now = Instant::now();
            let mut complete = Vec::new();
            let mut held = 0;
            let closed = state.closed;
            for span in spans {
                let trace = span.span_context.trace_id();
                let Some(open) = state.traces.get_mut(&trace) else {
                    direct.push(span);
                    continue;
                };
                if is_local_root(&span) {
                    open.roots = open.roots.saturating_sub(1);
                    if open.roots == 0 {
                        open.done = true;
                        complete.push(trace);
                    }
                }
                if open.holds() && !closed {
                    open.spans.push(span);
                    open.since.get_or_insert(now);
                    held += 1;
                } else {
                    direct.push(span);
                }
            }
            state.held += held;
            let jobs = self.due(&mut state);
            if direct.is_empty() && jobs.is_empty() && complete.is_empty() {
                return Ok(());
            }
            state.queued += 1;
            Task {
                spans: direct,
                jobs,
                complete,
                recorded: state.ledger.as_ref().map(DeliveryLedger::recorded),
            }
        };
        self.queue(task)
    }

    /// Hands `task` to the assembler's thread, so that the batch span
    /// processor's thread is free again at once (its `force_flush` waits
    /// only 5 s); ships it here if that thread is gone.
    fn queue(&self, task: Task) -> Result<(), SinkError> {
        let Err(mpsc::SendError(task)) = self.tasks.send(task) else {
            return Ok(());
        };
        let errors = self.perform(task);
        self.lock().queued -= 1;
        self.idle.notify_all();
        join(errors)
    }

    /// Sends a task's spans, then ships its traces.
    fn perform(&self, task: Task) -> Vec<SinkError> {
        let mut errors = Vec::new();
        if !task.spans.is_empty()
            && let Err(error) = self.sink.export_spans(&task.spans)
            // Spans spooled are no failure.
            && Outcomes::of_error(&error, task.spans.len()).failed() > 0
        {
            errors.push(error);
        }
        let mut jobs = task.jobs;
        if !task.complete.is_empty() {
            self.catch_up(task.recorded);
            let mut state = self.lock();
            for trace in task.complete {
                if let Some(job) = self.take(&mut state, trace) {
                    jobs.push(job);
                } else if open_done(&state, trace) && !is_shipping(&state, trace) {
                    // Complete with nothing held.
                    state.traces.remove(&trace);
                }
            }
        }
        errors.extend(self.run(jobs));
        errors
    }

    /// Waits (up to [`CATCH_UP`]) until the recorder has handed over the
    /// `recorded` operations.
    fn catch_up(&self, recorded: Option<u64>) {
        let (Some(recorded), Some(ledger)) = (recorded, self.lock().ledger.clone()) else {
            return;
        };
        let start = Instant::now();
        while ledger.handed_over() < recorded && start.elapsed() < CATCH_UP {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The recorder's batch: operations on open traces are held (counted
    /// on the ledger), the others exported at once; returns the outcome of
    /// those. Failures of spans released meanwhile go to the ledger.
    fn operations(&self, batch: &[Operation]) -> Result<(), SinkError> {
        let mut direct: Vec<usize> = Vec::new();
        let due = {
            let mut state = self.lock();
            let Some(ledger) = state.ledger.clone().filter(|_| !state.closed) else {
                drop(state);
                return self.sink.export(batch);
            };
            let now = Instant::now();
            let mut held = 0;
            for (index, op) in batch.iter().enumerate() {
                match state.traces.get_mut(&op.trace_id()) {
                    Some(open) if open.holds() => {
                        open.operations.push(op.clone());
                        open.since.get_or_insert(now);
                        held += 1;
                    }
                    _ => direct.push(index),
                }
            }
            // Counted before the lock goes: another thread may ship them
            // at once.
            ledger.hold(held);
            state.held += held;
            self.due(&mut state)
        };
        let sent = if direct.len() == batch.len() {
            self.sink.export(batch)
        } else if direct.is_empty() {
            Ok(())
        } else {
            let ops: Vec<Operation> = direct.iter().map(|&i| batch[i].clone()).collect();
            self.sink.export(&ops).map_err(|error| {
                // Outcomes of the whole batch, not of the part sent: the
                // others are held.
                let mut whole = Outcomes::every(Outcome::Held, batch.len());
                whole.place(&direct, Outcomes::of_error(&error, direct.len()));
                SinkError::new(error.to_string()).with_outcomes(whole.as_slice().to_vec())
            })
        };
        let span_errors = self.run(due);
        self.report(span_errors);
        sent
    }
}

fn open_done(state: &State, trace: TraceId) -> bool {
    state.traces.get(&trace).is_some_and(|open| open.done)
}

fn is_shipping(state: &State, trace: TraceId) -> bool {
    state.traces.get(&trace).is_some_and(|open| open.shipping)
}

/// One error for several, or none.
fn join(errors: Vec<SinkError>) -> Result<(), SinkError> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors
            .into_iter()
            .next()
            .unwrap_or_else(|| SinkError::new(""))),
        _ => Err(SinkError::new(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )),
    }
}

/// The span side of a [`TraceAssembler`]: the SDK's batch span processor
/// over the assembler, which also notes when each trace's root starts.
/// Add it with `SdkTracerProvider::builder().with_span_processor(..)`.
pub struct AssemblerSpanProcessor {
    shared: Arc<Shared>,
    batch: BatchSpanProcessor,
}

impl fmt::Debug for AssemblerSpanProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssemblerSpanProcessor")
            .finish_non_exhaustive()
    }
}

/// Thin on purpose: the trait's signatures change in 0.34.
impl SpanProcessor for AssemblerSpanProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        let parent = cx.span();
        let parent = parent.span_context();
        let remote = parent.is_valid() && parent.is_remote();
        if parent.is_valid() && !remote {
            return;
        }
        if !span.span_context().is_sampled() {
            // Never exported: nothing would end the trace.
            return;
        }
        let trace = span.span_context().trace_id();
        let mut state = self.shared.lock();
        if state.closed {
            return;
        }
        let open = state.traces.entry(trace).or_default();
        open.roots += 1;
        open.done = false;
        open.sent |= remote;
    }

    fn on_end(&self, span: SpanData) {
        self.batch.on_end(span);
    }

    /// Exports the ended spans, then sends everything held.
    fn force_flush(&self) -> OTelSdkResult {
        let batch = self.batch.force_flush();
        let held = join(self.shared.release_all()).map_err(sdk_error);
        batch.and(held)
    }

    /// Exports the ended spans, sends everything held, and holds nothing
    /// more, within `timeout`: the sink is told the deadline (a spool
    /// keeps what cannot be sent by then).
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.shared.set_deadline(Some(Instant::now() + timeout));
        let batch = self.batch.shutdown_with_timeout(timeout);
        self.shared.lock().closed = true;
        let held = join(self.shared.release_all()).map_err(sdk_error);
        let shut = self.shared.sink.shutdown_spans().map_err(sdk_error);
        batch.and(held).and(shut)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.batch.set_resource(resource);
    }
}

/// The batch processor's exporter.
struct AssemblerExporter {
    shared: Arc<Shared>,
}

impl fmt::Debug for AssemblerExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AssemblerExporter")
    }
}

impl SpanExporter for AssemblerExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.shared.spans_ended(batch).map_err(sdk_error)
    }

    /// The processor shuts the sink down, after sending what is held.
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.shared.sink.set_resource(resource);
    }
}

fn sdk_error(error: SinkError) -> OTelSdkError {
    OTelSdkError::InternalFailure(error.to_string())
}

/// The assessment side of a [`TraceAssembler`], for
/// `Recorder::builder().processor(..)`: holds the operations on open
/// traces (counted in [`Counters::held`](verdict::Counters::held)) and
/// sends the others at once. Its `flush` and `shutdown` send everything
/// held.
pub struct AssemblerAssessmentProcessor {
    shared: Arc<Shared>,
}

impl fmt::Debug for AssemblerAssessmentProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssemblerAssessmentProcessor")
            .finish_non_exhaustive()
    }
}

impl AssessmentProcessor for AssemblerAssessmentProcessor {
    fn registered(&mut self, ledger: DeliveryLedger) {
        self.shared.lock().ledger = Some(ledger);
    }

    fn process(&self, batch: &[Operation]) -> Result<(), SinkError> {
        self.shared.operations(batch)
    }

    /// Sends everything held (each trace's held spans, then its
    /// operations), then flushes the sink.
    fn flush(&self) -> Result<(), SinkError> {
        let held = join(self.shared.release_all());
        let flushed = self.shared.sink.flush();
        held.and(flushed)
    }

    fn shutdown(&self) -> Result<(), SinkError> {
        let held = join(self.shared.release_all());
        let shut = self.shared.sink.shutdown();
        held.and(shut)
    }

    /// Bounds `flush` and `shutdown` (and the shipping they wait for) by
    /// `deadline`, and tells the sink.
    fn set_deadline(&self, deadline: Option<Instant>) {
        self.shared.set_deadline(deadline);
    }

    fn name(&self) -> &str {
        "trace-assembler"
    }
}
