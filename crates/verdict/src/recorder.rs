//! The recorder: takes assessments from the caller and hands them to
//! processors and sinks on a background worker.
//!
//! Recording never waits on I/O. The caller's thread only moves the
//! assessment into a bounded queue (and bumps a counter); one worker thread
//! drains the queue in batches and hands each batch to every processor (a
//! sink's exports it at once). When the queue is full, the [`Overflow`]
//! policy decides: fail the call, drop and count, or wait for room.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use crossbeam_utils::CachePadded;

use crate::assessment::Assessment;
use crate::error::RecorderError;
use crate::ids::AssessmentId;
use crate::lifecycle::AssessmentUpdate;
use crate::processor::{AssessmentProcessor, DeliveryLedger, ExportAtOnce, report};
use crate::sink::{AssessmentSink, Operation, Outcomes, SinkError};

use opentelemetry::trace::TraceId;

/// A `Result` whose error is [`RecorderError`].
type Result<T, E = RecorderError> = std::result::Result<T, E>;

/// How long [`Recorder::shutdown`] (and dropping the last handle) may take
/// by default: 20 s, so that a service stopping on SIGTERM has its
/// recorder and its tracer provider done inside the 30 s Kubernetes gives
/// a pod before SIGKILL. A spool (`verdict_export::Spooled`) gives the
/// network the first three quarters of a deadline and keeps what is left
/// in the last quarter.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);

/// What recording does when the queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Fail the call with [`RecorderError::QueueFull`]; the caller
    /// decides. The default: nothing is lost without the caller knowing.
    #[default]
    Reject,
    /// Drop the assessment, count it in [`Counters::dropped`], and succeed.
    /// For services where recording must never fail a request.
    DropAndCount,
    /// Wait for room. For batch jobs, where back-pressure is right.
    Block,
}

/// Called when a sink or processor fails, with its name and its error: on
/// the recorder's worker thread, or on the thread that reports a held
/// operation's failure ([`DeliveryLedger::failed`]).
pub type ErrorHandler = dyn Fn(&str, &SinkError) + Send + Sync;

/// A snapshot of a recorder's counters.
///
/// After [`Recorder::flush`], `recorded == delivered + spooled + failed`
/// and `held == 0`: every operation accepted was delivered by every
/// processor (to every sink), or kept in a local spool to be delivered
/// later ([`Outcome::Spooled`](crate::Outcome::Spooled): the receiver
/// could not take it yet), or counted as failed (and reported). Between
/// flushes, a processor that keeps operations to ship later (see
/// [`AssessmentProcessor`]) has them counted in `held`.
///
/// A receiver that is down shows as `spooled` growing while `delivered`
/// does not; `failed` is what is lost (refused, or deferred with no spool
/// to keep it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Operations accepted into the queue.
    pub recorded: u64,
    /// Operations every processor delivered (every sink accepted).
    pub delivered: u64,
    /// Operations kept in a local spool (`verdict_export::Spooled`)
    /// because the receiver could not take them yet: not delivered, not
    /// lost. The spool delivers them later, which these counters do not
    /// see (the spool's own `stats` and `pending` do).
    pub spooled: u64,
    /// Operations at least one sink or processor failed on.
    pub failed: u64,
    /// Operations a processor holds to ship later (with their trace, say),
    /// neither delivered nor failed yet; a flush settles them.
    pub held: u64,
    /// Operations dropped because the queue was full
    /// ([`Overflow::DropAndCount`]).
    pub dropped: u64,
    /// Calls refused because the queue was full ([`Overflow::Reject`]).
    pub rejected: u64,
}

#[derive(Default)]
pub(crate) struct SharedCounters {
    pub(crate) recorded: CachePadded<AtomicU64>,
    pub(crate) delivered: CachePadded<AtomicU64>,
    pub(crate) spooled: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) held: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
}

/// The failures since the last flush, which returns them: those the
/// worker met and those processors reported later for held operations.
#[derive(Default)]
pub(crate) struct Failures {
    kept: Vec<SinkError>,
    more: usize,
}

/// At most this many failures are kept for the next flush; the rest are
/// counted.
const KEPT_FAILURES: usize = 16;

impl Failures {
    pub(crate) fn push(&mut self, error: SinkError) {
        if self.kept.len() < KEPT_FAILURES {
            self.kept.push(error);
        } else {
            self.more += 1;
        }
    }

    /// The failures kept, then one saying how many more there were.
    fn take(&mut self) -> Vec<SinkError> {
        let mut all = std::mem::take(&mut self.kept);
        let more = std::mem::take(&mut self.more);
        if more > 0 {
            all.push(SinkError::new(format!("and {more} more failed exports")));
        }
        all
    }
}

// Operations travel unboxed: boxing would cost an allocation per record,
// and the rare control messages can afford the padding.
#[allow(clippy::large_enum_variant)]
enum Message {
    Op(Operation),
    Flush(Sender<Vec<SinkError>>),
    Shutdown(Sender<Vec<SinkError>>),
}

/// Configures a [`Recorder`].
#[must_use]
pub struct RecorderBuilder {
    /// The processors, each with its kind: "sink" or "processor".
    processors: Vec<(Box<dyn AssessmentProcessor>, &'static str)>,
    capacity: usize,
    max_batch: usize,
    overflow: Overflow,
    on_error: Option<Arc<ErrorHandler>>,
}

/// A processor as the worker runs it.
struct Stage {
    processor: Arc<dyn AssessmentProcessor>,
    /// "sink" or "processor", for messages.
    kind: &'static str,
    ledger: DeliveryLedger,
}

impl RecorderBuilder {
    /// Adds a sink, which every batch is exported to at once. Every sink
    /// and processor receives every operation, in the order they were
    /// added.
    pub fn sink(mut self, sink: impl AssessmentSink) -> Self {
        self.processors.push((Box::new(ExportAtOnce(sink)), "sink"));
        self
    }

    /// Adds a processor, which decides when the operations it receives go
    /// out (see [`AssessmentProcessor`]); it is
    /// [registered](AssessmentProcessor::registered) when the recorder is
    /// built. Every sink and processor receives every operation, in the
    /// order they were added.
    pub fn processor(mut self, processor: impl AssessmentProcessor) -> Self {
        self.processors.push((Box::new(processor), "processor"));
        self
    }

    /// How many operations may wait in the queue (default 8192). The queue's
    /// slots are allocated up front, a few hundred bytes each.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The most operations handed to a sink in one call (default 512).
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// What to do when the queue is full (default [`Overflow::Reject`]).
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Handles sink and processor failures; by default they are written to
    /// standard error (or logged with `tracing` when that feature is on).
    pub fn on_error(mut self, handler: impl Fn(&str, &SinkError) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(handler));
        self
    }

    /// Starts the worker and returns the recorder.
    pub fn build(self) -> Recorder {
        let (tx, rx) = crossbeam_channel::bounded(self.capacity);
        let counters = Arc::new(SharedCounters::default());
        let on_error = self.on_error.unwrap_or_else(|| Arc::new(report_to_stderr));
        let failures = Arc::new(Mutex::new(Failures::default()));
        let stages: Vec<Stage> = self
            .processors
            .into_iter()
            .map(|(mut processor, kind)| {
                let ledger = DeliveryLedger::new(
                    Arc::clone(&counters),
                    Arc::clone(&failures),
                    Arc::clone(&on_error),
                    processor.name().to_owned(),
                );
                processor.registered(ledger.clone());
                Stage {
                    processor: Arc::from(processor),
                    kind,
                    ledger,
                }
            })
            .collect();
        let processors = stages.iter().map(|s| Arc::clone(&s.processor)).collect();
        let worker = Worker {
            rx,
            stages,
            failures,
            counters: Arc::clone(&counters),
            on_error,
            max_batch: self.max_batch,
            batch: Vec::with_capacity(self.max_batch),
        };
        let handle = std::thread::Builder::new()
            .name("verdict-recorder".into())
            .spawn(move || worker.run())
            .expect("the recorder's worker thread could not be spawned");
        Recorder {
            inner: Arc::new(Inner {
                tx,
                counters,
                overflow: self.overflow,
                capacity: self.capacity,
                shut_down: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
                worker: Mutex::new(Some(handle)),
                processors,
            }),
        }
    }
}

fn report_to_stderr(name: &str, error: &SinkError) {
    #[cfg(feature = "tracing")]
    tracing::error!(target: "verdict", name, %error, "assessment sink or processor failed");
    #[cfg(not(feature = "tracing"))]
    eprintln!("verdict: {name} failed: {error}");
}

/// Records assessments and hands them to processors and sinks in the
/// background.
///
/// Cloning is cheap and gives another handle on the same queue. When the
/// last handle is dropped, the recorder shuts down: it delivers everything
/// queued, then shuts its processors and sinks down.
///
/// ```
/// use verdict::{Assessment, InMemorySink, Overflow, Recorder};
///
/// let sink = InMemorySink::default();
/// let recorder = Recorder::builder()
///     .sink(sink.clone())
///     .overflow(Overflow::DropAndCount)
///     .build();
/// let trace = "tr-0fb07256509eb9d22d07f42f7eb9f24d";
/// recorder.record(Assessment::feedback("helpful", true).on_trace(trace, None)?)?;
/// recorder.flush()?;
/// assert_eq!(recorder.counters().delivered, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    tx: Sender<Message>,
    counters: Arc<SharedCounters>,
    overflow: Overflow,
    capacity: usize,
    shut_down: AtomicBool,
    in_flight: AtomicUsize,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// The worker's processors, to tell them a deadline.
    processors: Vec<Arc<dyn AssessmentProcessor>>,
}

impl Recorder {
    /// Starts configuring a recorder.
    pub fn builder() -> RecorderBuilder {
        RecorderBuilder {
            processors: Vec::new(),
            capacity: 8192,
            max_batch: 512,
            overflow: Overflow::default(),
            on_error: None,
        }
    }

    /// Queues an assessment for the processors and sinks and returns its
    /// id. Never waits on I/O; with [`Overflow::Block`] it waits for room
    /// in the queue.
    pub fn record(&self, assessment: Assessment) -> Result<AssessmentId> {
        let id = assessment.id();
        self.submit(Operation::Log(assessment))?;
        Ok(id)
    }

    /// Queues an update of an earlier assessment.
    pub fn update(&self, update: AssessmentUpdate) -> Result<()> {
        self.submit(Operation::Update(update))
    }

    /// Queues the deletion of an assessment.
    pub fn delete(&self, trace_id: TraceId, assessment_id: AssessmentId) -> Result<()> {
        self.submit(Operation::Delete {
            trace_id,
            assessment_id,
        })
    }

    fn submit(&self, op: Operation) -> Result<()> {
        let inner = &*self.inner;
        // Shutdown raises the flag, then waits for in-flight calls to leave:
        // an operation is either queued before the worker's last drain or
        // refused, never lost in between.
        inner.in_flight.fetch_add(1, Ordering::SeqCst);
        let result = if inner.shut_down.load(Ordering::SeqCst) {
            Err(RecorderError::Shutdown)
        } else {
            inner.send(op)
        };
        inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Waits until everything queued before this call has been handed to
    /// every processor and sink, then flushes them (a processor delivers
    /// what it holds). Fails with [`RecorderError::Sinks`] when a sink or
    /// processor failed since the last flush (on operations it held
    /// included), or failed to flush now; what failed is counted in
    /// [`Counters::failed`] and was already passed to the error handler.
    pub fn flush(&self) -> Result<()> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(RecorderError::Shutdown);
        }
        self.inner.round_trip(Message::Flush, None)
    }

    /// As [`flush`](Self::flush), returning within `budget`: the
    /// processors and sinks are told the deadline first
    /// ([`AssessmentProcessor::set_deadline`]), so that a retrying sink
    /// stops retrying and a spool keeps what it could not deliver in time
    /// (counted in [`Counters::deferred`]). Past the deadline it fails with
    /// [`RecorderError::TimedOut`], and the worker goes on in the
    /// background. The deadline is lifted when it returns.
    pub fn flush_timeout(&self, budget: Duration) -> Result<()> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(RecorderError::Shutdown);
        }
        let deadline = Instant::now() + budget;
        self.inner.set_deadline(Some(deadline));
        let flushed = self
            .inner
            .round_trip(Message::Flush, Some((deadline, budget)));
        self.inner.set_deadline(None);
        flushed
    }

    /// Delivers everything queued, shuts the processors and sinks down and
    /// stops the worker, within [`DEFAULT_SHUTDOWN_TIMEOUT`] (see
    /// [`shutdown_timeout`](Self::shutdown_timeout)). Later recording fails
    /// with [`RecorderError::Shutdown`]. Calling it again does nothing.
    pub fn shutdown(&self) -> Result<()> {
        self.inner.shutdown(DEFAULT_SHUTDOWN_TIMEOUT)
    }

    /// As [`shutdown`](Self::shutdown), returning within `budget`: the
    /// processors and sinks are told the deadline first, so that what they
    /// could not deliver in time is spooled, where there is a spool (and
    /// counted in [`Counters::deferred`]), rather than held up. Past the
    /// deadline it fails with [`RecorderError::TimedOut`]; the worker is
    /// left to finish in the background (what it still holds dies with the
    /// process).
    pub fn shutdown_timeout(&self, budget: Duration) -> Result<()> {
        self.inner.shutdown(budget)
    }

    /// The counters as they are now.
    pub fn counters(&self) -> Counters {
        let c = &self.inner.counters;
        Counters {
            recorded: c.recorded.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            spooled: c.spooled.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            held: c.held.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
        }
    }

    /// How many operations wait in the queue now.
    pub fn queued(&self) -> usize {
        self.inner.tx.len()
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("overflow", &self.inner.overflow)
            .field("capacity", &self.inner.capacity)
            .field("counters", &self.counters())
            .finish()
    }
}

impl Inner {
    fn send(&self, op: Operation) -> Result<()> {
        let counters = &self.counters;
        // Counted before sending, so that `delivered` never runs ahead of it.
        counters.recorded.fetch_add(1, Ordering::Relaxed);
        let sent = match self.overflow {
            Overflow::Block => self
                .tx
                .send(Message::Op(op))
                .map_err(|_| RecorderError::Shutdown),
            Overflow::Reject | Overflow::DropAndCount => match self.tx.try_send(Message::Op(op)) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(_)) if self.overflow == Overflow::DropAndCount => {
                    counters.recorded.fetch_sub(1, Ordering::Relaxed);
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(TrySendError::Full(_)) => {
                    counters.rejected.fetch_add(1, Ordering::Relaxed);
                    Err(RecorderError::QueueFull {
                        capacity: self.capacity,
                    })
                }
                Err(TrySendError::Disconnected(_)) => Err(RecorderError::Shutdown),
            },
        };
        if sent.is_err() {
            counters.recorded.fetch_sub(1, Ordering::Relaxed);
        }
        sent
    }

    /// Sends a control message and waits for the worker's answer, until
    /// `deadline` (given with its budget, for the error) when there is one.
    fn round_trip(
        &self,
        message: fn(Sender<Vec<SinkError>>) -> Message,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<()> {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        let timed_out = |budget| RecorderError::TimedOut {
            budget,
            unsettled: self.unsettled(),
        };
        let errors = match deadline {
            None => {
                self.tx
                    .send(message(reply_tx))
                    .map_err(|_| RecorderError::Shutdown)?;
                reply_rx.recv().map_err(|_| RecorderError::Shutdown)?
            }
            Some((at, budget)) => {
                self.tx
                    .send_deadline(message(reply_tx), at)
                    .map_err(|error| match error {
                        crossbeam_channel::SendTimeoutError::Timeout(_) => timed_out(budget),
                        crossbeam_channel::SendTimeoutError::Disconnected(_) => {
                            RecorderError::Shutdown
                        }
                    })?;
                reply_rx.recv_deadline(at).map_err(|error| match error {
                    crossbeam_channel::RecvTimeoutError::Timeout => timed_out(budget),
                    crossbeam_channel::RecvTimeoutError::Disconnected => RecorderError::Shutdown,
                })?
            }
        };
        if errors.is_empty() {
            Ok(())
        } else {
            Err(RecorderError::Sinks(errors))
        }
    }

    /// Operations recorded and not yet delivered, deferred, failed or
    /// held.
    fn unsettled(&self) -> u64 {
        let c = &self.counters;
        c.recorded.load(Ordering::Relaxed).saturating_sub(
            c.delivered.load(Ordering::Relaxed)
                + c.spooled.load(Ordering::Relaxed)
                + c.failed.load(Ordering::Relaxed)
                + c.held.load(Ordering::Relaxed),
        )
    }

    fn set_deadline(&self, deadline: Option<Instant>) {
        for processor in &self.processors {
            let _ = catch_unwind(AssertUnwindSafe(|| processor.set_deadline(deadline)));
        }
    }

    fn shutdown(&self, budget: Duration) -> Result<()> {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let deadline = Instant::now() + budget;
        while self.in_flight.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        self.set_deadline(Some(deadline));
        let result = self.round_trip(Message::Shutdown, Some((deadline, budget)));
        if matches!(result, Err(RecorderError::TimedOut { .. })) {
            // The worker is still at it: it is left to finish (or to die
            // with the process), not waited for.
            return result;
        }
        let handle = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            // The worker catches sink panics, so joining cannot fail.
            let _ = handle.join();
        }
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Errors were already reported by the worker's error handler.
        let _ = self.shutdown(DEFAULT_SHUTDOWN_TIMEOUT);
    }
}

struct Worker {
    rx: Receiver<Message>,
    stages: Vec<Stage>,
    failures: Arc<Mutex<Failures>>,
    counters: Arc<SharedCounters>,
    on_error: Arc<ErrorHandler>,
    max_batch: usize,
    batch: Vec<Operation>,
}

impl Worker {
    fn run(mut self) {
        while let Ok(message) = self.rx.recv() {
            let mut next = Some(message);
            while let Some(message) = next.take() {
                match message {
                    Message::Op(op) => {
                        self.batch.push(op);
                        if self.batch.len() >= self.max_batch {
                            self.deliver();
                        }
                        next = self.rx.try_recv().ok();
                    }
                    Message::Flush(reply) => {
                        self.deliver();
                        let _ = reply.send(self.finish(|p| p.flush()));
                    }
                    Message::Shutdown(reply) => {
                        self.deliver();
                        let _ = reply.send(self.finish(|p| p.shutdown()));
                        return;
                    }
                }
            }
            self.deliver();
        }
    }

    /// Hands the pending batch to every processor.
    fn deliver(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let len = batch.len();
        // An operation some processor failed on (its outcome deferred or
        // refused) counts as failed once. A processor that failed without
        // an outcome per operation (a panic, say) has failed on all it
        // did not hold. Held operations count as the most any processor
        // holds. (A recorder is meant to have one processor that holds:
        // two holding the same operations would count them twice.) An
        // operation some sink spooled and none failed on counts as
        // spooled. An error whose every outcome is delivered or spooled
        // is no failure: it is not reported.
        let mut failed_on = vec![false; len];
        let mut spooled_on = vec![false; len];
        let mut failed_unsaid = 0;
        let mut held = 0;
        for stage in &self.stages {
            let outcome = stage.call(|p| p.process(&batch));
            let holds = usize::try_from(stage.ledger.take_held_in_batch())
                .unwrap_or(len)
                .min(len);
            held = held.max(holds);
            if let Err(error) = outcome {
                let outcomes = Outcomes::of_error(&error, len);
                if outcomes.itemized() {
                    let failed_at = outcomes.failed_at();
                    for &at in &failed_at {
                        failed_on[at] = true;
                    }
                    for at in outcomes.spooled_at() {
                        spooled_on[at] = true;
                    }
                    if failed_at.is_empty() {
                        continue;
                    }
                } else {
                    failed_unsaid = failed_unsaid.max(len - holds);
                }
                self.report(stage, error);
            }
        }
        let failed = failed_on.iter().filter(|&&f| f).count().max(failed_unsaid);
        let spooled = if failed_unsaid > 0 {
            0
        } else {
            (0..len).filter(|&i| spooled_on[i] && !failed_on[i]).count()
        };
        let held = held.min(len - failed - spooled);
        let c = &self.counters;
        // The processors counted those they hold themselves
        // (`DeliveryLedger::hold`).
        c.delivered
            .fetch_add((len - failed - spooled - held) as u64, Ordering::Relaxed);
        c.spooled.fetch_add(spooled as u64, Ordering::Relaxed);
        c.failed.fetch_add(failed as u64, Ordering::Relaxed);
        self.batch = batch;
        self.batch.clear();
    }

    /// Flushes (or shuts down) every processor; returns the failures since
    /// the last flush (those of held operations included), then those of
    /// this call.
    fn finish(
        &self,
        f: impl Fn(&dyn AssessmentProcessor) -> Result<(), SinkError>,
    ) -> Vec<SinkError> {
        let mut latest = Vec::new();
        for stage in &self.stages {
            if let Err(error) = stage.call(&f) {
                latest.push(self.named(stage, error));
            }
        }
        let mut all = self
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        all.extend(latest);
        all
    }

    /// Reports an export failure and keeps it for the next flush.
    fn report(&self, stage: &Stage, error: SinkError) {
        let named = self.named(stage, error);
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(named);
    }

    /// Passes `error` to the error handler and returns it named after the
    /// stage.
    fn named(&self, stage: &Stage, error: SinkError) -> SinkError {
        let name = stage.processor.name();
        report(&*self.on_error, name, &error);
        let named = SinkError::new(format!("{} {name}: {error}", stage.kind));
        match error.outcomes() {
            Some(outcomes) => named.with_outcomes(outcomes.to_vec()),
            None => named,
        }
    }
}

impl Stage {
    /// Calls `f` on the processor, turning a panic into an error.
    fn call(
        &self,
        f: impl FnOnce(&dyn AssessmentProcessor) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        catch_unwind(AssertUnwindSafe(|| f(self.processor.as_ref()))).unwrap_or_else(|panic| {
            Err(SinkError::new(format!(
                "the {} panicked: {}",
                self.kind,
                panic_message(&*panic)
            )))
        })
    }
}

impl Drop for Worker {
    /// Should the worker ever stop early, what is still queued counts as
    /// failed, and waiting flushes are released (their reply senders drop).
    fn drop(&mut self) {
        let mut lost = self.batch.len() as u64;
        while let Ok(message) = self.rx.try_recv() {
            lost += u64::from(matches!(message, Message::Op(_)));
        }
        self.counters.failed.fetch_add(lost, Ordering::Relaxed);
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
