//! The recorder: takes assessments from the caller and hands them to sinks
//! on a background worker.
//!
//! Recording never waits on I/O. The caller's thread only moves the
//! assessment into a bounded queue (and bumps a counter); one worker thread
//! drains the queue in batches and fans each batch out to every sink. When
//! the queue is full, the [`Overflow`] policy decides: fail the call, drop
//! and count, or wait for room.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use crossbeam_utils::CachePadded;

use crate::assessment::Assessment;
use crate::error::{Error, Result};
use crate::ids::AssessmentId;
use crate::lifecycle::AssessmentUpdate;
use crate::sink::{AssessmentSink, Operation, SinkError};

use opentelemetry::trace::TraceId;

/// What recording does when the queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Fail the call with [`Error::QueueFull`]; the caller decides. The
    /// default: nothing is lost without the caller knowing.
    #[default]
    Reject,
    /// Drop the assessment, count it in [`Counters::dropped`], and succeed.
    /// For services where recording must never fail a request.
    DropAndCount,
    /// Wait for room. For batch jobs, where back-pressure is right.
    Block,
}

/// Called on the worker thread when a sink fails, with the sink's name and
/// its error.
pub type ErrorHandler = dyn Fn(&str, &SinkError) + Send + Sync;

/// A snapshot of a recorder's counters.
///
/// After [`Recorder::flush`], `recorded == delivered + failed` and
/// `held == 0`: every operation accepted was either delivered to every
/// sink or counted as failed (and reported). Between flushes, a sink that
/// keeps operations to ship later (see
/// [`AssessmentSink::export_or_hold`]) has them counted in `held`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Operations accepted into the queue.
    pub recorded: u64,
    /// Operations every sink accepted.
    pub delivered: u64,
    /// Operations at least one sink failed on.
    pub failed: u64,
    /// Operations a sink holds to ship later (with their trace), neither
    /// delivered nor failed yet; a flush settles them.
    pub held: u64,
    /// Operations dropped because the queue was full
    /// ([`Overflow::DropAndCount`]).
    pub dropped: u64,
    /// Calls refused because the queue was full ([`Overflow::Reject`]).
    pub rejected: u64,
}

#[derive(Default)]
struct SharedCounters {
    recorded: CachePadded<AtomicU64>,
    delivered: CachePadded<AtomicU64>,
    failed: AtomicU64,
    held: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
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
    sinks: Vec<Box<dyn AssessmentSink>>,
    capacity: usize,
    max_batch: usize,
    overflow: Overflow,
    on_error: Option<Arc<ErrorHandler>>,
}

impl RecorderBuilder {
    /// Adds a sink. Every sink receives every operation.
    pub fn sink(mut self, sink: impl AssessmentSink) -> Self {
        self.sinks.push(Box::new(sink));
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

    /// Handles sink failures; by default they are written to standard error
    /// (or logged with `tracing` when that feature is on).
    pub fn on_error(mut self, handler: impl Fn(&str, &SinkError) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(handler));
        self
    }

    /// Starts the worker and returns the recorder.
    pub fn build(self) -> Recorder {
        let (tx, rx) = crossbeam_channel::bounded(self.capacity);
        let counters = Arc::new(SharedCounters::default());
        let on_error = self.on_error.unwrap_or_else(|| Arc::new(report_to_stderr));
        let late = Arc::new(Mutex::new(LateFailures::default()));
        let settles = self
            .sinks
            .iter()
            .map(|sink| Settle {
                inner: Arc::new(SettleInner {
                    counters: Arc::clone(&counters),
                    late: Arc::clone(&late),
                    on_error: Arc::clone(&on_error),
                    sink: sink.name().to_owned(),
                }),
            })
            .collect();
        let worker = Worker {
            rx,
            sinks: self.sinks,
            settles,
            late,
            counters: Arc::clone(&counters),
            on_error,
            max_batch: self.max_batch,
            batch: Vec::with_capacity(self.max_batch),
            failures: Vec::new(),
            more_failures: 0,
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
            }),
        }
    }
}

fn report_to_stderr(sink: &str, error: &SinkError) {
    #[cfg(feature = "tracing")]
    tracing::error!(target: "verdict", sink, %error, "assessment sink failed");
    #[cfg(not(feature = "tracing"))]
    eprintln!("verdict: sink {sink} failed: {error}");
}

/// Records assessments and hands them to sinks in the background.
///
/// Cloning is cheap and gives another handle on the same queue. When the
/// last handle is dropped, the recorder shuts down: it delivers everything
/// queued, then shuts its sinks down.
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
/// # Ok::<(), verdict::Error>(())
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
}

impl Recorder {
    /// Starts configuring a recorder.
    pub fn builder() -> RecorderBuilder {
        RecorderBuilder {
            sinks: Vec::new(),
            capacity: 8192,
            max_batch: 512,
            overflow: Overflow::default(),
            on_error: None,
        }
    }

    /// Queues an assessment for the sinks and returns its id. Never waits
    /// on I/O; with [`Overflow::Block`] it waits for room in the queue.
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
            Err(Error::Shutdown)
        } else {
            inner.send(op)
        };
        inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Waits until everything queued before this call has been handed to
    /// every sink, then flushes the sinks. Fails with [`Error::Sinks`] when
    /// a sink failed to export since the last flush, or to flush now; what
    /// failed is counted in [`Counters::failed`] and was already passed to
    /// the error handler.
    pub fn flush(&self) -> Result<()> {
        self.control(Message::Flush)
    }

    /// Delivers everything queued, shuts the sinks down and stops the
    /// worker. Later recording fails with [`Error::Shutdown`]. Calling it
    /// again does nothing.
    pub fn shutdown(&self) -> Result<()> {
        self.inner.shutdown()
    }

    fn control(&self, message: fn(Sender<Vec<SinkError>>) -> Message) -> Result<()> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(Error::Shutdown);
        }
        self.inner.round_trip(message)
    }

    /// The counters as they are now.
    pub fn counters(&self) -> Counters {
        let c = &self.inner.counters;
        Counters {
            recorded: c.recorded.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
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
            Overflow::Block => self.tx.send(Message::Op(op)).map_err(|_| Error::Shutdown),
            Overflow::Reject | Overflow::DropAndCount => match self.tx.try_send(Message::Op(op)) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(_)) if self.overflow == Overflow::DropAndCount => {
                    counters.recorded.fetch_sub(1, Ordering::Relaxed);
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(TrySendError::Full(_)) => {
                    counters.rejected.fetch_add(1, Ordering::Relaxed);
                    Err(Error::QueueFull {
                        capacity: self.capacity,
                    })
                }
                Err(TrySendError::Disconnected(_)) => Err(Error::Shutdown),
            },
        };
        if sent.is_err() {
            counters.recorded.fetch_sub(1, Ordering::Relaxed);
        }
        sent
    }

    fn round_trip(&self, message: fn(Sender<Vec<SinkError>>) -> Message) -> Result<()> {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        self.tx
            .send(message(reply_tx))
            .map_err(|_| Error::Shutdown)?;
        let errors = reply_rx.recv().map_err(|_| Error::Shutdown)?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Sinks(errors))
        }
    }

    fn shutdown(&self) -> Result<()> {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        while self.in_flight.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        let result = self.round_trip(Message::Shutdown);
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
        let _ = self.shutdown();
    }
}

/// Reports the fate of operations a sink held
/// ([`AssessmentSink::export_or_hold`]) to the recorder that handed them
/// over: they move from [`Counters::held`] to `delivered` or `failed`.
/// Cheap to clone; a sink keeps one while it holds operations.
#[derive(Clone)]
pub struct Settle {
    inner: Arc<SettleInner>,
}

struct SettleInner {
    counters: Arc<SharedCounters>,
    late: Arc<Mutex<LateFailures>>,
    on_error: Arc<ErrorHandler>,
    sink: String,
}

/// Failures a sink reported through a [`Settle`], kept for the next flush.
#[derive(Default)]
struct LateFailures {
    kept: Vec<SinkError>,
    more: usize,
}

impl Settle {
    /// `count` operations of the batch being exported are held: call it
    /// from [`AssessmentSink::export_or_hold`] before anything can settle
    /// them (another thread shipping them at once included), and return
    /// the same count.
    pub fn hold(&self, count: usize) {
        self.inner
            .counters
            .held
            .fetch_add(count as u64, Ordering::Relaxed);
    }

    /// `count` held operations were delivered.
    pub fn delivered(&self, count: usize) {
        let moved = self.take_held(count);
        self.inner
            .counters
            .delivered
            .fetch_add(moved, Ordering::Relaxed);
    }

    /// `count` held operations failed (`count` may be 0 for a failure that
    /// concerns no assessment, such as spans sent with them); `error` goes
    /// to the recorder's error handler now and is returned by its next
    /// flush.
    pub fn failed(&self, count: usize, error: SinkError) {
        let moved = self.take_held(count);
        let inner = &*self.inner;
        inner.counters.failed.fetch_add(moved, Ordering::Relaxed);
        let handler = &inner.on_error;
        let _ = catch_unwind(AssertUnwindSafe(|| handler(&inner.sink, &error)));
        let named = SinkError::new(format!("sink {}: {error}", inner.sink)).with_failed(count);
        let mut late = inner.late.lock().unwrap_or_else(PoisonError::into_inner);
        if late.kept.len() < KEPT_FAILURES {
            late.kept.push(named);
        } else {
            late.more += 1;
        }
    }

    /// How many operations the recorder has accepted so far
    /// ([`Counters::recorded`]).
    pub fn recorded(&self) -> u64 {
        self.inner.counters.recorded.load(Ordering::Relaxed)
    }

    /// How many operations the recorder has handed to its sinks so far:
    /// delivered, failed or held. Once it reaches what
    /// [`recorded`](Self::recorded) said at some moment, every operation
    /// recorded before that moment has reached the sinks (the recorder
    /// keeps order).
    pub fn handed_over(&self) -> u64 {
        let c = &self.inner.counters;
        c.delivered.load(Ordering::Relaxed)
            + c.failed.load(Ordering::Relaxed)
            + c.held.load(Ordering::Relaxed)
    }

    /// Whether both report to the same recorder.
    pub fn same_recorder(&self, other: &Settle) -> bool {
        Arc::ptr_eq(&self.inner.counters, &other.inner.counters)
    }

    /// Takes up to `count` off the held counter; returns how many.
    fn take_held(&self, count: usize) -> u64 {
        let held = &self.inner.counters.held;
        let mut moved = 0;
        let _ = held.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
            moved = now.min(count as u64);
            Some(now - moved)
        });
        moved
    }
}

impl std::fmt::Debug for Settle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settle")
            .field("sink", &self.inner.sink)
            .finish_non_exhaustive()
    }
}

struct Worker {
    rx: Receiver<Message>,
    sinks: Vec<Box<dyn AssessmentSink>>,
    /// One per sink, in the same order.
    settles: Vec<Settle>,
    late: Arc<Mutex<LateFailures>>,
    counters: Arc<SharedCounters>,
    on_error: Arc<ErrorHandler>,
    max_batch: usize,
    batch: Vec<Operation>,
    /// Export failures since the last flush, returned by the next one.
    failures: Vec<SinkError>,
    more_failures: usize,
}

/// At most this many export failures are kept for the next flush; the rest
/// are counted.
const KEPT_FAILURES: usize = 16;

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
                        let flushed = self.each_sink(|_, s| s.flush());
                        let _ = reply.send(self.take_failures(flushed));
                    }
                    Message::Shutdown(reply) => {
                        self.deliver();
                        let shut = self.each_sink(|_, s| s.shutdown());
                        let _ = reply.send(self.take_failures(shut));
                        return;
                    }
                }
            }
            self.deliver();
        }
    }

    /// Hands the pending batch to every sink.
    fn deliver(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let held = std::cell::Cell::new(0);
        let settles = &self.settles;
        let failures = self.each_sink(|at, s| {
            let exported = s.export_or_hold(&batch, &settles[at]);
            let now = match &exported {
                Ok(count) => *count,
                Err(error) => error.held(),
            };
            held.set(held.get().max(now));
            exported.map(drop)
        });
        // A sink that does not say how many of the batch it failed on has
        // failed on all of them. Sinks failing on different operations of
        // one batch count as the largest of their failures; held
        // operations count as the most any sink holds. (A recorder is
        // meant to have one sink that holds: two holding the same
        // operations would count them twice.)
        let failed = failures
            .iter()
            .map(|f| f.failed().unwrap_or(batch.len()).min(batch.len()))
            .max()
            .unwrap_or(0);
        let held = held.get().min(batch.len() - failed);
        let c = &self.counters;
        // The sink counted them as held itself (`Settle::hold`).
        c.delivered
            .fetch_add((batch.len() - failed - held) as u64, Ordering::Relaxed);
        c.failed.fetch_add(failed as u64, Ordering::Relaxed);
        for failure in failures {
            if self.failures.len() < KEPT_FAILURES {
                self.failures.push(failure);
            } else {
                self.more_failures += 1;
            }
        }
        self.batch = batch;
        self.batch.clear();
    }

    /// The export failures since the last flush (those of held operations
    /// included), then `latest`.
    fn take_failures(&mut self, latest: Vec<SinkError>) -> Vec<SinkError> {
        let mut all = std::mem::take(&mut self.failures);
        {
            let mut late = self.late.lock().unwrap_or_else(PoisonError::into_inner);
            all.append(&mut late.kept);
            self.more_failures += std::mem::take(&mut late.more);
        }
        if self.more_failures > 0 {
            all.push(SinkError::new(format!(
                "and {} more failed exports",
                std::mem::take(&mut self.more_failures)
            )));
        }
        all.extend(latest);
        all
    }

    /// Calls `f` on every sink, catching panics, reporting and returning
    /// the failures.
    fn each_sink(
        &self,
        f: impl Fn(usize, &dyn AssessmentSink) -> std::result::Result<(), SinkError>,
    ) -> Vec<SinkError> {
        let mut failures = Vec::new();
        for (at, sink) in self.sinks.iter().enumerate() {
            let outcome = catch_unwind(AssertUnwindSafe(|| f(at, sink.as_ref())))
                .unwrap_or_else(|panic| Err(SinkError::new(panic_message(&*panic))));
            if let Err(error) = outcome {
                // A panicking handler must not take the worker down with it.
                let handler = &self.on_error;
                let _ = catch_unwind(AssertUnwindSafe(|| handler(sink.name(), &error)));
                let failed = error.failed();
                let mut named = SinkError::new(format!("sink {}: {error}", sink.name()));
                if let Some(n) = failed {
                    named = named.with_failed(n);
                }
                failures.push(named);
            }
        }
        failures
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

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    format!("the sink panicked: {text}")
}
