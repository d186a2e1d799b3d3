//! What the recorder's worker hands recorded operations to: processors,
//! which decide when operations go out, in front of sinks, which deliver
//! them.
//!
//! ```text
//!  Recorder::record ─► queue ─► worker ─► AssessmentProcessor::process(batch)
//!                                           │
//!                                           ├─ a sink's processor (RecorderBuilder::sink):
//!                                           │    AssessmentSink::export(batch), at once
//!                                           │
//!                                           └─ a processor of its own (RecorderBuilder::processor),
//!                                                such as a trace assembler: holds operations,
//!                                                ships them later through its own sink, and
//!                                                reports their fate on its DeliveryLedger
//! ```
//!
//! The split is opentelemetry_sdk's, between `SpanProcessor` and
//! `SpanExporter`: a sink reports one outcome for what it was given and
//! never holds anything back; holding (by trace, until later) is a
//! processor's, which keeps the recorder's counters honest through its
//! [`DeliveryLedger`]. Rejected: a sink that may also hold, which would
//! put holding into every sink's contract for the one that holds, and
//! leave a wrapper around a sink (a spool) unable to tell held operations
//! from delivered ones.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::recorder::{ErrorHandler, Failures, SharedCounters};
use crate::sink::{AssessmentSink, Operation, SinkError};

/// Takes the batches of recorded operations from a
/// [`Recorder`](crate::Recorder)'s worker and decides when they go out:
/// at once, or held to ship later (say, with the spans of their trace once
/// it ends). Add one with
/// [`RecorderBuilder::processor`](crate::RecorderBuilder::processor);
/// a sink given to [`RecorderBuilder::sink`](crate::RecorderBuilder::sink)
/// gets a processor that exports every batch to it at once.
///
/// Every processor receives every batch, from one worker thread, in
/// recording order. [`process`](Self::process) returns the outcome of the
/// operations the processor did not hold: `Err` counts those as failed
/// (or, when it carries an [`Outcome`](crate::Outcome) per operation
/// ([`SinkError::with_outcomes`]), those deferred or refused, the held
/// ones [`Held`](crate::Outcome::Held)) and goes to the
/// recorder's error handler and its next flush. The operations it holds
/// it counts with [`DeliveryLedger::hold`] during that call (in
/// [`Counters::held`](crate::Counters::held): neither delivered nor
/// failed), and later reports their fate on the same ledger
/// ([`DeliveryLedger::delivered`], [`DeliveryLedger::failed`]), from any
/// thread.
///
/// A processor that holds must deliver, or fail and report, everything it
/// holds by the time its [`flush`](Self::flush) or
/// [`shutdown`](Self::shutdown) returns, so that after
/// [`Recorder::flush`](crate::Recorder::flush) every operation is counted
/// as delivered or failed. A recorder should have at most one processor
/// that holds: two holding the same operation would count it twice.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use verdict::{
///     Assessment, AssessmentProcessor, AssessmentSink, DeliveryLedger, InMemorySink, Operation,
///     Recorder, SinkError,
/// };
///
/// /// Holds every operation until the recorder flushes.
/// #[derive(Default)]
/// struct UntilFlush {
///     ledger: Option<DeliveryLedger>,
///     held: Mutex<Vec<Operation>>,
///     sink: InMemorySink,
/// }
///
/// impl AssessmentProcessor for UntilFlush {
///     fn registered(&mut self, ledger: DeliveryLedger) {
///         self.ledger = Some(ledger);
///     }
///
///     fn process(&self, batch: &[Operation]) -> Result<(), SinkError> {
///         let ledger = self.ledger.as_ref().expect("registered before any batch");
///         self.held.lock().unwrap().extend_from_slice(batch);
///         ledger.hold(batch.len());
///         Ok(())
///     }
///
///     fn flush(&self) -> Result<(), SinkError> {
///         let held = std::mem::take(&mut *self.held.lock().unwrap());
///         let ledger = self.ledger.as_ref().expect("registered before any flush");
///         match self.sink.export(&held) {
///             Ok(()) => ledger.delivered(held.len()),
///             Err(error) => ledger.failed(held.len(), error),
///         }
///         Ok(())
///     }
/// }
///
/// let processor = UntilFlush::default();
/// let sink = processor.sink.clone();
/// let recorder = Recorder::builder().processor(processor).build();
/// let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
/// recorder.record(Assessment::feedback("ok", true).on_trace(trace, None)?)?;
/// recorder.flush()?;
/// assert_eq!(sink.assessments().len(), 1);
/// assert_eq!((recorder.counters().delivered, recorder.counters().held), (1, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait AssessmentProcessor: Send + Sync + 'static {
    /// Called once, when the recorder is built and before any batch, with
    /// the ledger on which to report the fate of held operations. The
    /// default ignores it (a processor that holds nothing needs none).
    fn registered(&mut self, ledger: DeliveryLedger) {
        let _ = ledger;
    }

    /// Takes a batch: sends operations at once or holds them (counting
    /// them with [`DeliveryLedger::hold`] before returning), and returns
    /// the outcome of those it did not hold.
    fn process(&self, batch: &[Operation]) -> Result<(), SinkError>;

    /// Delivers everything held and buffered (see the trait's docs).
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Delivers everything held and buffered and releases its resources.
    /// Nothing is processed after this.
    fn shutdown(&self) -> Result<(), SinkError> {
        self.flush()
    }

    /// The moment by which the calls under way and those to come must
    /// return, or `None` to lift it; see
    /// [`AssessmentSink::set_deadline`], which a processor passes on to
    /// its sink. Called from another thread than the worker's. The default
    /// ignores it.
    fn set_deadline(&self, deadline: Option<Instant>) {
        let _ = deadline;
    }

    /// A name for error messages.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

/// The processor of a sink given to
/// [`RecorderBuilder::sink`](crate::RecorderBuilder::sink): exports every
/// batch to it at once and holds nothing.
pub(crate) struct ExportAtOnce<S>(pub(crate) S);

impl<S: AssessmentSink> AssessmentProcessor for ExportAtOnce<S> {
    fn process(&self, batch: &[Operation]) -> Result<(), SinkError> {
        self.0.export(batch)
    }

    fn flush(&self) -> Result<(), SinkError> {
        self.0.flush()
    }

    fn shutdown(&self) -> Result<(), SinkError> {
        self.0.shutdown()
    }

    fn set_deadline(&self, deadline: Option<Instant>) {
        self.0.set_deadline(deadline);
    }

    fn name(&self) -> &str {
        self.0.name()
    }
}

/// A processor's account with the recorder it was registered with
/// ([`AssessmentProcessor::registered`]): the operations it holds move
/// through it from [`Counters::held`](crate::Counters::held) to
/// `delivered` or `failed`, and the failures of held operations reach the
/// recorder's error handler and its next flush. Cheap to clone; send it to
/// whichever thread ships what is held.
#[derive(Clone)]
pub struct DeliveryLedger {
    inner: Arc<LedgerInner>,
}

struct LedgerInner {
    counters: Arc<SharedCounters>,
    failures: Arc<Mutex<Failures>>,
    on_error: Arc<ErrorHandler>,
    processor: String,
    /// Held during the `process` call under way; the worker takes it when
    /// the call returns.
    held_in_batch: AtomicU64,
}

impl DeliveryLedger {
    pub(crate) fn new(
        counters: Arc<SharedCounters>,
        failures: Arc<Mutex<Failures>>,
        on_error: Arc<ErrorHandler>,
        processor: String,
    ) -> Self {
        DeliveryLedger {
            inner: Arc::new(LedgerInner {
                counters,
                failures,
                on_error,
                processor,
                held_in_batch: AtomicU64::new(0),
            }),
        }
    }

    /// How many operations of the batch just processed were held; resets
    /// the count for the next one.
    pub(crate) fn take_held_in_batch(&self) -> u64 {
        self.inner.held_in_batch.swap(0, Ordering::Relaxed)
    }

    /// `count` operations of the batch being processed are held. Call it
    /// from [`AssessmentProcessor::process`], before anything can report
    /// them delivered or failed (another thread shipping them at once
    /// included).
    pub fn hold(&self, count: usize) {
        let count = count as u64;
        self.inner.counters.held.fetch_add(count, Ordering::Relaxed);
        self.inner.held_in_batch.fetch_add(count, Ordering::Relaxed);
    }

    /// `count` held operations were delivered.
    pub fn delivered(&self, count: usize) {
        let moved = self.take_held(count);
        self.inner
            .counters
            .delivered
            .fetch_add(moved, Ordering::Relaxed);
    }

    /// `count` held operations were kept in a local spool, to be delivered
    /// later ([`Counters::spooled`](crate::Counters::spooled)).
    pub fn spooled(&self, count: usize) {
        let moved = self.take_held(count);
        self.inner
            .counters
            .spooled
            .fetch_add(moved, Ordering::Relaxed);
    }

    /// `count` held operations failed (`count` may be 0 for a failure that
    /// concerns no operation, such as spans sent with them); `error` goes
    /// to the recorder's error handler now and is returned by its next
    /// flush.
    pub fn failed(&self, count: usize, error: SinkError) {
        let moved = self.take_held(count);
        let inner = &*self.inner;
        inner.counters.failed.fetch_add(moved, Ordering::Relaxed);
        let mut named = SinkError::new(format!("processor {}: {error}", inner.processor));
        if let Some(outcomes) = error.outcomes() {
            named = named.with_outcomes(outcomes.to_vec());
        }
        report(&*inner.on_error, &inner.processor, &error);
        inner
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(named);
    }

    /// How many operations the recorder has accepted so far
    /// ([`Counters::recorded`](crate::Counters::recorded)).
    pub fn recorded(&self) -> u64 {
        self.inner.counters.recorded.load(Ordering::Relaxed)
    }

    /// How many operations the recorder has handed to its processors so
    /// far: delivered, spooled, failed or held. Once it reaches what
    /// [`recorded`](Self::recorded) said at some moment, every operation
    /// recorded before that moment has been processed (the recorder keeps
    /// order).
    pub fn handed_over(&self) -> u64 {
        let c = &self.inner.counters;
        c.delivered.load(Ordering::Relaxed)
            + c.spooled.load(Ordering::Relaxed)
            + c.failed.load(Ordering::Relaxed)
            + c.held.load(Ordering::Relaxed)
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

impl std::fmt::Debug for DeliveryLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryLedger")
            .field("processor", &self.inner.processor)
            .finish_non_exhaustive()
    }
}

/// Passes a failure to the recorder's error handler; a panicking handler
/// must not take the calling thread down with it.
pub(crate) fn report(handler: &ErrorHandler, name: &str, error: &SinkError) {
    let _ = catch_unwind(AssertUnwindSafe(|| handler(name, error)));
}
