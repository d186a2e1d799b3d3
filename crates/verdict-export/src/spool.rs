//! Spooling: what a network sink cannot deliver waits in the local store
//! and is sent again later; see [`Spooled`].

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use opentelemetry::trace::TraceId;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;
use serde_json::Value;
use verdict::{
    Assessment, AssessmentError, AssessmentSink, AssessmentUpdate, FeedbackValue, Operation,
    Outcome, Outcomes, Reason, SinkError, parse_trace_id,
};

use crate::assemble::TraceSink;
use crate::bounded::call_by;
use crate::error::{Error, Result};
use crate::health::Health;
use crate::jsonl::jsonl_line;
use crate::spans::SpanSink;
use verdict_store::{LocalStore, StoredSpan};

/// One spooled row: an assessment operation, or a span (with its own
/// resource, if it had one).
#[derive(Debug)]
enum Entry {
    Operation(Operation),
    Span(StoredSpan),
}

/// Spooled rows by sequence number, and the unreadable ones with the
/// reason.
type SpoolRows = (Vec<(i64, Entry)>, Vec<(i64, String)>);

/// How a replay hands spooled spans to the inner sink.
type SpanExport<S> = fn(&S, &[StoredSpan]) -> Result<(), SinkError>;

/// How many spooled operations one replay step sends as one batch.
const REPLAY_BATCH: usize = 256;

/// What a [`Spooled`] sink has done so far, in this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolStats {
    /// Operations written to the spool.
    pub spooled: u64,
    /// Spooled operations since delivered and removed from the spool.
    pub replayed: u64,
    /// Spooled operations the inner sink refused for good on replay, and
    /// that were removed from the spool.
    pub dropped: u64,
}

/// A sink that spools what its inner sink cannot deliver to a
/// [`LocalStore`] and replays it later, in the background.
///
/// It wraps a sink (MLflow, OTLP, …) and a [`LocalStore`]:
///
/// - [`export`](AssessmentSink::export) hands the batch to the inner sink,
///   which retries within its own budget, for at most
///   [`max_delay`](Self::max_delay) (5 s by default). The operations it
///   still could not deliver (or all of them, past that delay) go to the
///   store's `spool` table, in order, under the sink's key (its
///   [name](AssessmentSink::name), or a key of your choosing, so that
///   several sinks can share one file), and the export reports them
///   [spooled](Outcome::Spooled): kept, neither delivered nor failed, so
///   that the recorder counts them in
///   [`Counters::spooled`](verdict::Counters::spooled).
///   [`pending`](Self::pending), [`stats`](Self::stats),
///   [`is_failing`](Self::is_failing) and [`LocalStore::spool_depths`]
///   show what waits.
/// - Which operations are spooled: exactly those whose outcome is
///   [`Outcome::Deferred`], read through [`Outcomes::of`] (so an error
///   without outcomes, which says nothing of each item, spools the whole
///   batch). Operations [refused](Outcome::Refused) for good (a 400, a
///   403) are not spooled: replaying them would fail again. They keep
///   their outcome in the export's error.
/// - **A receiver that fails is not tried on every batch.** Once nothing
///   of a call got through (refused connection, a timeout, the delay
///   passed), the receiver is failing: exports spool at once, at the cost
///   of a local write, and the background replay tries the receiver again
///   after 1 s, then at doubling intervals up to 30 s
///   ([`retry_after`](Self::retry_after)). When a replay has emptied the
///   spool, exports go to the receiver again. A `tracing` warning (target
///   `verdict`) says when the receiver starts failing, at most once per
///   30 s, and an info event when it recovers.
/// - While operations of a trace wait, a new one of the same trace is not
///   sent ahead of them: `export` spools behind them the operations of
///   the batch whose trace still has something in the spool, and sends
///   the others at once (one trace the receiver cannot take yet does not
///   hold up the rest).
/// - **Replay runs on a thread of its own**: when the wrapper is made (a
///   new process picks up what the previous one spooled), when a
///   [`TraceAssembler`](crate::TraceAssembler) is built over it, and while
///   something waits. Making the wrapper never waits on the network, so a
///   service listens at once however long the replay takes.
///   [`replay`](Self::replay) runs one now. A replay sends the spooled
///   operations through the inner sink, oldest first (spooled spans before
///   spooled operations), and deletes each from the spool only once it was
///   delivered.
/// - Spans too, when the inner sink also takes spans (a [`SpanSink`], as
///   [`MlflowSink`](crate::MlflowSink) is): the wrapper is then a
///   `SpanSink` as well, and spans it cannot deliver are spooled as span
///   lines ([`StoredSpan::to_mlflow_json`], with the span's own resource
///   when it has one) in the same spool; on replay every
///   spooled span goes before the spooled operations, so that a trace's
///   assessments find its spans on the receiver even when they were
///   spooled first (flushed while the trace was open).
///   Make it with [`with_spans`](Self::with_spans) for the replay at start
///   to send spooled spans too.
/// - Under a [`TraceAssembler`](crate::TraceAssembler): wrap the sink the
///   assembler ships through, `TraceAssembler::builder(Spooled::new(sink,
///   store))`, when the inner sink is a [`TraceSink`] (MLflow,
///   [`OtlpExporter::trace_sink`](crate::OtlpExporter::trace_sink)). A
///   trace still ships through the inner sink's
///   [`export_trace`](TraceSink::export_trace) (for MLflow, created with
///   its assessments in one request); what it could not deliver — the
///   spans and operations it deferred — is spooled, spans first, and
///   counted spooled, refusals failed. (The assembler is a processor, not
///   a sink, so there is nothing else to wrap: the spool goes behind it.)
///   Spans replayed at start carry the inner sink's resource at that time
///   (for OTLP: the exporter's
///   [`resource`](crate::OtlpExporterBuilder::resource), or the SDK's
///   default), not that of the process that spooled them.
/// - **Deadlines.** Told a deadline ([`AssessmentSink::set_deadline`], by
///   [`Recorder::shutdown_timeout`](verdict::Recorder::shutdown_timeout),
///   `flush_timeout`, or an assembler's span processor's
///   `shutdown_with_timeout`), it sends nothing more from a quarter of
///   the time left before it (at most 5 s before it): an export under way
///   stops waiting on the receiver then and spools what it was sending,
///   and what comes next is spooled at once. The inner sink is told that
///   earlier moment, so that its own retries stop by then. `flush` and
///   `shutdown` flush or shut down the inner sink within the same limits;
///   what is left in the spool stays there for the next start.
///
/// The decision: **a call to the receiver is given up, not cancelled**.
/// A blocking request cannot be stopped from outside, so the wrapper runs
/// each call on a thread of its own and stops waiting at its limit; the
/// request may still arrive later. Rejected: bounding each sink's own
/// timeouts, which would bound one request but not the sink's retries, and
/// would have to be done in every sink.
///
/// **What a crash loses.** A spooled item is on disk (SQLite, committed)
/// and survives `kill -9`. What is in memory does not: what the recorder's
/// queue holds, what an export is waiting on the receiver with (at most
/// `max_delay`), and, under an assembler, what it holds for open traces
/// (at most its `max_hold`) and what the SDK's batch span processor has
/// not yet handed over (its schedule delay, `OTEL_BSP_SCHEDULE_DELAY`).
/// Lowering `max_delay` bounds the time a batch can sit in memory while
/// the receiver hangs.
///
/// Delivery is at least once. MLflow makes repeats harmless (the
/// assessment id is the client's, and the sink recognizes its own
/// assessment on a duplicate). An OTLP collector does not deduplicate: a
/// request that timed out after the collector took it is spooled and sent
/// again, and the collector sees the event twice (with the same
/// assessment id attribute, by which a consumer can deduplicate). Two
/// processes replaying the same key of one file at the same time may also
/// send an operation twice; give each process its own key or file.
///
/// Updates are spooled as their MLflow PATCH body and rebuilt on replay, so
/// their update time is that of the replay.
///
/// ```no_run
/// use verdict::Recorder;
/// use verdict_export::{LocalStore, MlflowSink, Spooled};
///
/// let store = LocalStore::open_default()?;
/// // Replays, in the background, what an earlier process left in the spool.
/// let sink = Spooled::new(MlflowSink::from_env()?, store);
/// let recorder = Recorder::builder().sink(sink).build();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Spooled<S: AssessmentSink> {
    core: Arc<Core<S>>,
}

/// What a [`Spooled`] sink and its background replay share.
struct Core<S: AssessmentSink> {
    inner: S,
    store: Arc<LocalStore>,
    key: String,
    /// Held while sending through the inner sink (an export, or a step of
    /// a replay), so that what goes to the receiver keeps its order.
    delivering: Mutex<()>,
    spooled: AtomicU64,
    replayed: AtomicU64,
    dropped: AtomicU64,
    /// Set when the inner sink takes spans too: then spooled spans are
    /// replayed through it; until then, a replay stops at the first span.
    span_export: OnceLock<SpanExport<S>>,
    /// Whether spans may wait in the spool: set when spans are spooled
    /// (and at first, not knowing), cleared by a replay that sent them
    /// all, so that a spool of operations alone is not searched for spans
    /// on every export.
    spans_waiting: AtomicBool,
    /// The longest a call waits on the inner sink, in milliseconds.
    max_delay_ms: AtomicU64,
    /// From when nothing more is sent, only spooled: the deadline told
    /// ([`AssessmentSink::set_deadline`]) less its reserve for spooling.
    cutoff: Mutex<Option<Instant>>,
    /// Whether the receiver is failing, and the events that say so.
    health: Health,
    /// Asks the background replay to run now.
    wake: AtomicBool,
    /// The first wait before the background replay tries again, in
    /// milliseconds; it doubles while the receiver fails.
    retry_ms: AtomicU64,
}

/// The longest a call waits on the receiver by default.
pub const SPOOL_MAX_DELAY: Duration = Duration::from_secs(5);

/// The most of a deadline kept to spool what was not delivered.
const MAX_RESERVE: Duration = Duration::from_secs(5);

/// The first wait of the background replay by default, and the most it
/// waits while the receiver fails.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MOST: Duration = Duration::from_secs(30);

/// How often the background replay looks whether it is woken or gone.
const LOOK: Duration = Duration::from_millis(50);

impl<S: AssessmentSink> std::fmt::Debug for Spooled<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spooled")
            .field("inner", &self.core.inner.name())
            .field("store", &self.core.store)
            .field("key", &self.core.key)
            .finish_non_exhaustive()
    }
}

impl<S: AssessmentSink> Spooled<S> {
    /// Wraps `inner`, spooling under its [name](AssessmentSink::name), and
    /// starts replaying what the spool holds for it, in the background. A
    /// replay that cannot deliver everything leaves the rest spooled
    /// ([`pending`](Self::pending)) and tries again later.
    pub fn new(inner: S, store: impl Into<Arc<LocalStore>>) -> Self {
        let key = inner.name().to_owned();
        Self::with_key(inner, store, key)
    }

    /// Wraps `inner`, spooling under `key` — such as `mlflow
    /// http://host:5000` — to tell apart sinks of the same kind sharing one
    /// store; and starts replaying what the spool holds for that key, in
    /// the background.
    pub fn with_key(inner: S, store: impl Into<Arc<LocalStore>>, key: impl Into<String>) -> Self {
        Self::started(Self::unreplayed(inner, store.into(), key.into()))
    }

    fn unreplayed(inner: S, store: Arc<LocalStore>, key: String) -> Arc<Core<S>> {
        Arc::new(Core {
            inner,
            store,
            key,
            delivering: Mutex::new(()),
            spooled: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            span_export: OnceLock::new(),
            spans_waiting: AtomicBool::new(true),
            max_delay_ms: AtomicU64::new(millis(SPOOL_MAX_DELAY)),
            cutoff: Mutex::new(None),
            health: Health::default(),
            wake: AtomicBool::new(true),
            retry_ms: AtomicU64::new(millis(RETRY_FIRST)),
        })
    }

    /// Starts the background replay of `core`: it ends with the wrapper.
    fn started(core: Arc<Core<S>>) -> Self {
        let weak = Arc::downgrade(&core);
        // Without its thread, what waits is replayed by `replay` only.
        let _ = std::thread::Builder::new()
            .name("verdict-spool".into())
            .spawn(move || replay_in_background(&weak));
        Spooled { core }
    }

    /// The longest an export (or a step of a replay) waits on the inner
    /// sink before it keeps what it was sending in the spool (default
    /// [`SPOOL_MAX_DELAY`], 5 s): a receiver that hangs holds nothing
    /// in memory longer than that. The request goes on in the background;
    /// should it arrive after all, the receiver gets the items twice (at
    /// least once). After such a failure, exports spool at once, without
    /// trying the receiver, until the background replay finds it answering.
    pub fn max_delay(self, delay: Duration) -> Self {
        self.core
            .max_delay_ms
            .store(millis(delay).max(1), Ordering::Relaxed);
        self
    }

    /// How long the background replay waits before it looks at the spool
    /// again (default 1 s); while the receiver fails, the wait doubles
    /// after each try, up to 30 s (or this, if longer). The replay also
    /// runs at start and when a [`TraceAssembler`](crate::TraceAssembler)
    /// is built over the wrapper; [`replay`](Self::replay) runs it now.
    pub fn retry_after(self, wait: Duration) -> Self {
        self.core
            .retry_ms
            .store(millis(wait).max(1), Ordering::Relaxed);
        self
    }

    /// The inner sink.
    pub fn inner(&self) -> &S {
        &self.core.inner
    }

    /// The key its operations are spooled under.
    pub fn key(&self) -> &str {
        &self.core.key
    }

    /// The store that holds the spool.
    pub fn store(&self) -> &LocalStore {
        &self.core.store
    }

    /// How many operations and spans wait in the spool under this sink's
    /// key (spooled by this process or an earlier one).
    /// [`LocalStore::spool_depths`] gives every key's.
    pub fn pending(&self) -> Result<usize> {
        self.core.pending()
    }

    /// How many operations this wrapper has spooled so far.
    pub fn spooled(&self) -> u64 {
        self.core.spooled.load(Ordering::Relaxed)
    }

    /// Whether the receiver is failing now: its last delivery failed for a
    /// reason that may pass, and what comes is spooled until a replay
    /// gets through.
    pub fn is_failing(&self) -> bool {
        self.core.health.failing()
    }

    /// What this wrapper has spooled, replayed and dropped so far.
    pub fn stats(&self) -> SpoolStats {
        let core = &self.core;
        SpoolStats {
            spooled: core.spooled.load(Ordering::Relaxed),
            replayed: core.replayed.load(Ordering::Relaxed),
            dropped: core.dropped.load(Ordering::Relaxed),
        }
    }

    /// Sends the spooled operations through the inner sink, oldest first,
    /// removing each from the spool once delivered, and returns how many
    /// were delivered. It stops at the first batch that still fails
    /// transiently (that batch and the rest stay spooled, and that is not
    /// an error). Operations the inner sink refuses for good are removed
    /// and reported in the error, after the rest was replayed. The
    /// background replay does the same by itself; this is for a caller
    /// that wants it now.
    ///
    /// Spooled spans (when this sink replays spans) go before the spooled
    /// operations, each kind in its order: an operation may need its
    /// trace's spans on the receiver (MLflow knows a trace only once its
    /// spans or its assessments created it), a span never needs an
    /// operation. So operations spooled ahead of their spans (a trace's
    /// assessments flushed while it was open) do not block the spool.
    pub fn replay(&self) -> Result<usize, SinkError> {
        self.core.replay()
    }
}

/// Whole milliseconds of `duration`, saturating.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The background replay: at start, when woken, and then every
/// [`Spooled::retry_after`], the wait doubling (up to [`RETRY_MOST`])
/// while the receiver fails; it ends when the wrapper is dropped.
fn replay_in_background<S: AssessmentSink>(core: &Weak<Core<S>>) {
    let mut failures = 0u32;
    let mut next = Instant::now();
    loop {
        loop {
            let Some(core) = core.upgrade() else {
                return;
            };
            if core.wake.swap(false, Ordering::AcqRel) || Instant::now() >= next {
                break;
            }
            drop(core);
            std::thread::sleep(LOOK);
        }
        let Some(core) = core.upgrade() else {
            return;
        };
        let first = Duration::from_millis(core.retry_ms.load(Ordering::Relaxed));
        if core.past_cutoff() {
            // Stopping: nothing more goes to the receiver.
            next = Instant::now() + first;
            continue;
        }
        let drained = match core.pending() {
            Ok(0) => {
                core.health.recovered(&core.key);
                true
            }
            Ok(_) => {
                let _ = core.replay();
                matches!(core.pending(), Ok(0))
            }
            Err(_) => false,
        };
        if drained {
            failures = 0;
            next = Instant::now() + first;
        } else {
            let wait = first
                .saturating_mul(1 << failures.min(16))
                .min(RETRY_MOST.max(first));
            failures += 1;
            next = Instant::now() + wait;
        }
    }
}

impl<S: AssessmentSink> Core<S> {
    fn pending(&self) -> Result<usize> {
        Ok(self.store.spool_len(&self.key)?)
    }

    /// Whether the deadline's cutoff has passed: nothing more is sent.
    fn past_cutoff(&self) -> bool {
        lock(&self.cutoff).is_some_and(|at| Instant::now() >= at)
    }

    /// Whether what comes is spooled without trying the receiver: it is
    /// failing, or the deadline's cutoff has passed.
    fn spool_only(&self) -> bool {
        self.health.failing() || self.past_cutoff()
    }

    /// The moment a call started at `started` stops waiting on the inner
    /// sink: after the longest delay, or at the cutoff if sooner.
    fn limit(&self, started: Instant) -> Instant {
        let by_delay = started + Duration::from_millis(self.max_delay_ms.load(Ordering::Relaxed));
        match *lock(&self.cutoff) {
            Some(cutoff) => cutoff.min(by_delay),
            None => by_delay,
        }
    }

    /// Calls `f` on the inner sink within the limit ([`bounded`](crate::bounded));
    /// `None` when it did not answer in time.
    fn bounded<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&S) -> R + Send + 'static,
    ) -> Option<R> {
        let started = Instant::now();
        let core = Arc::clone(self);
        let limits = Arc::clone(self);
        call_by(move || f(&core.inner), move || Some(limits.limit(started)))
    }

    /// The outcome of `len` items whose call was given up: deferred.
    fn gave_up(&self, len: usize, what: &str) -> SinkError {
        let message = format!(
            "{} did not answer within {} ms; the {len} {what} are kept to send later",
            self.key,
            self.max_delay_ms.load(Ordering::Relaxed)
        );
        Outcomes::every(Outcome::deferred(message.clone()), len)
            .into_result(what)
            .err()
            .unwrap_or_else(|| SinkError::new(message))
    }

    /// Takes the delivery lock, waiting at most until a call started now
    /// would give up (and a second more, for a call under way to keep
    /// what it was sending first); `None` past that.
    fn acquire(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        let until = self.limit(Instant::now()) + Duration::from_secs(1);
        loop {
            match self.delivering.try_lock() {
                Ok(guard) => return Some(guard),
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    return Some(poisoned.into_inner());
                }
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Replays what waits; once nothing waits, the receiver has
    /// recovered.
    fn replay(self: &Arc<Self>) -> Result<usize, SinkError> {
        let replayed = {
            let _delivering = self
                .delivering
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.replay_locked()
        };
        if matches!(self.pending(), Ok(0)) {
            self.health.recovered(&self.key);
        }
        replayed
    }

    fn replay_locked(self: &Arc<Self>) -> Result<usize, SinkError> {
        let mut delivered = 0;
        let mut dropped = 0;
        let mut refused: Vec<String> = Vec::new();
        let mut down = false;
        if let Some(&export) = self.span_export.get()
            && self.spans_waiting.swap(false, Ordering::AcqRel)
        {
            // Until every spooled span is sent, the flag goes back up.
            let all_sent = (|| -> Result<bool> {
                loop {
                    let rows = self.read_spooled_spans(REPLAY_BATCH)?;
                    if rows.is_empty() {
                        return Ok(true);
                    }
                    let (seqs, spans): (Vec<i64>, Vec<StoredSpan>) = rows.into_iter().unzip();
                    let len = spans.len();
                    let sent = self
                        .bounded(move |inner| export(inner, &spans))
                        .unwrap_or_else(|| Err(self.gave_up(len, "spans")));
                    let Some(settled) = self.settle(seqs, sent, &mut refused) else {
                        return Ok(false);
                    };
                    self.remove(&settled.gone)?;
                    dropped += settled.refused;
                    delivered += settled.gone.len() - settled.refused;
                    if settled.stalled {
                        return Ok(false);
                    }
                }
            })();
            if !matches!(all_sent, Ok(true)) {
                self.spans_waiting.store(true, Ordering::Release);
            }
            down = !all_sent.map_err(spool_error)?;
        }
        loop {
            if down || self.past_cutoff() {
                // The receiver is still down, or it is time to stop: the
                // operations wait too.
                break;
            }
            let (rows, unreadable) = self.read_spool(REPLAY_BATCH).map_err(spool_error)?;
            let had_unreadable = !unreadable.is_empty();
            if had_unreadable {
                // A damaged row would block the spool for good: drop it.
                let seqs: Vec<i64> = unreadable.iter().map(|(seq, _)| *seq).collect();
                self.remove(&seqs).map_err(spool_error)?;
                dropped += seqs.len();
                refused.extend(unreadable.into_iter().map(|(seq, reason)| {
                    format!("spooled operation {seq} is unreadable ({reason})")
                }));
            }
            if rows.is_empty() {
                if had_unreadable {
                    continue;
                }
                break;
            }
            // Spans and operations keep their order: one run of a kind at
            // a time.
            let spans_first = matches!(rows[0].1, Entry::Span(_));
            let (seqs, entries): (Vec<i64>, Vec<Entry>) = rows
                .into_iter()
                .take_while(|(_, entry)| matches!(entry, Entry::Span(_)) == spans_first)
                .unzip();
            let len = entries.len();
            let result = if spans_first {
                // Spans wait until the inner sink is known to take them.
                let Some(&export) = self.span_export.get() else {
                    break;
                };
                let spans: Vec<StoredSpan> = entries
                    .into_iter()
                    .filter_map(|entry| match entry {
                        Entry::Span(span) => Some(span),
                        Entry::Operation(_) => None,
                    })
                    .collect();
                self.bounded(move |inner| export(inner, &spans))
                    .unwrap_or_else(|| Err(self.gave_up(len, "spans")))
            } else {
                let operations: Vec<Operation> = entries
                    .into_iter()
                    .filter_map(|entry| match entry {
                        Entry::Operation(operation) => Some(operation),
                        Entry::Span(_) => None,
                    })
                    .collect();
                self.bounded(move |inner| inner.export(&operations))
                    .unwrap_or_else(|| Err(self.gave_up(len, "operations")))
            };
            let Some(settled) = self.settle(seqs, result, &mut refused) else {
                // Nothing got through: the receiver is still down.
                break;
            };
            self.remove(&settled.gone).map_err(spool_error)?;
            dropped += settled.refused;
            delivered += settled.gone.len() - settled.refused;
            if settled.stalled {
                break;
            }
        }
        self.replayed.fetch_add(delivered as u64, Ordering::Relaxed);
        self.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
        if refused.is_empty() {
            Ok(delivered)
        } else {
            // Items of earlier batches: no outcomes of the batch at hand.
            Err(SinkError::new(format!(
                "replaying the spool of {}: {dropped} operations refused for good and dropped: {}",
                self.key,
                refused.join("; ")
            )))
        }
    }

    /// [`settle`], noting on the destination's health that it still fails
    /// when nothing got through.
    fn settle(
        &self,
        seqs: Vec<i64>,
        result: Result<(), SinkError>,
        refused: &mut Vec<String>,
    ) -> Option<Settled> {
        let error = result.as_ref().err().map(ToString::to_string);
        let settled = settle(seqs, result, refused);
        if let (None, Some(error)) = (&settled, error) {
            self.health.failed(&self.key, 0, &error);
        }
        settled
    }

    /// Sends a batch through the inner sink and spools what it could not
    /// deliver for now.
    fn deliver(self: &Arc<Self>, batch: &[Operation]) -> Result<(), SinkError> {
        let owned = batch.to_vec();
        let sent = self
            .bounded(move |inner| inner.export(&owned))
            .unwrap_or_else(|| Err(self.gave_up(batch.len(), "operations")));
        self.keep(batch, jsonl_line, "operations", sent)
    }

    /// Spools the `items` (of `what`: operations or spans) that the inner
    /// sink's `result` deferred, and returns each item's outcome: those
    /// delivered delivered, those spooled [spooled](Outcome::Spooled),
    /// those refused refused (they are not spooled: they would be refused
    /// again), and, if the spool itself fails, the deferred ones deferred
    /// still. A deferral marks the receiver failing.
    fn keep<T>(
        &self,
        items: &[T],
        line_of: impl Fn(&T) -> String,
        what: &str,
        result: Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        let Err(error) = &result else {
            return Ok(());
        };
        let mut outcomes = Outcomes::of(&result, items.len());
        let deferred = outcomes.deferred_at();
        if !deferred.is_empty() {
            if outcomes.delivered() == 0 && outcomes.refused() == 0 {
                // Nothing got through: the receiver is down (a receiver
                // that took some and deferred others is up, lacking what
                // those need).
                self.health.failed(&self.key, deferred.len(), error);
            }
            // `what` names the kind: "spans" or "operations".
            let spooled = self.spool(
                deferred.iter().map(|&i| line_of(&items[i])),
                what == "spans",
            );
            if let Err(e) = spooled {
                let message = format!(
                    "{} could not deliver {} {what}, nor spool them ({error})",
                    self.key,
                    deferred.len()
                );
                let why = Reason::from(format!("{message}: {e}"));
                let not_spooled = Outcomes::every(Outcome::Deferred(why), deferred.len());
                outcomes.place(&deferred, not_spooled);
                return Err(
                    SinkError::with_source(message, e).with_outcomes(outcomes.as_slice().to_vec())
                );
            }
            outcomes.place(&deferred, Outcomes::every(Outcome::Spooled, deferred.len()));
        }
        Err(
            SinkError::new(format!("{}: {error}", outcomes.summary(what)))
                .with_outcomes(outcomes.as_slice().to_vec()),
        )
    }

    /// The oldest `limit` spooled operations, with their sequence numbers;
    /// and those among them that cannot be read, with the reason.
    fn read_spool(&self, limit: usize) -> Result<SpoolRows> {
        let mut found = Vec::new();
        let mut unreadable = Vec::new();
        for row in self.store.spooled(&self.key, Some(limit), false)? {
            match decode_line(&row.line) {
                Ok(entry) => found.push((row.seq, entry)),
                Err(reason) => unreadable.push((row.seq, reason)),
            }
        }
        Ok((found, unreadable))
    }

    /// The oldest `limit` readable spooled spans, with their sequence
    /// numbers (unreadable rows are left to [`read_spool`](Self::read_spool),
    /// which reports them).
    fn read_spooled_spans(&self, limit: usize) -> Result<Vec<(i64, StoredSpan)>> {
        Ok(self
            .store
            .spooled(&self.key, Some(limit), true)?
            .into_iter()
            .filter_map(|row| match decode_line(&row.line) {
                Ok(Entry::Span(span)) => Some((row.seq, span)),
                _ => None,
            })
            .collect())
    }

    /// The traces that have something in the spool under this key.
    /// Unreadable rows are left to the next replay, which drops them.
    fn waiting_traces(&self) -> Result<HashSet<TraceId>> {
        let mut traces = HashSet::new();
        for row in self.store.spooled(&self.key, None, false)? {
            match decode_line(&row.line) {
                Ok(Entry::Operation(operation)) => traces.insert(operation.trace_id()),
                Ok(Entry::Span(span)) => traces.insert(span.trace_id),
                Err(_) => continue,
            };
        }
        Ok(traces)
    }

    /// Delivers `items` (operations or spans, named by `what`) with
    /// `deliver`, keeping each trace's order: while the receiver fails (or
    /// once the deadline's cutoff passed) every item is spooled, without
    /// trying it; while something waits in the spool, the items of a trace
    /// that waits are spooled behind it and the other traces' go now. The
    /// spool itself is replayed in the background.
    fn export_in_order<T: Clone>(
        &self,
        items: &[T],
        what: &str,
        trace_of: impl Fn(&T) -> TraceId,
        line_of: impl Fn(&T) -> String,
        deliver: impl FnOnce(&[T]) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        if self.spool_only() {
            return self.spool_behind(items.iter().map(&line_of), what);
        }
        let Some(_delivering) = self.acquire() else {
            // A call under way hangs: behind it, in the spool.
            return self.spool_behind(items.iter().map(&line_of), what);
        };
        if self.spool_only() {
            return self.spool_behind(items.iter().map(&line_of), what);
        }
        if self.pending().map_err(spool_error)? > 0 {
            let waiting = self.waiting_traces().map_err(spool_error)?;
            if !waiting.is_empty() {
                let (behind, now) = self.spool_waiting(items, &waiting, what, trace_of, line_of);
                let sent: Vec<T> = now.iter().map(|&i| items[i].clone()).collect();
                let delivered = if sent.is_empty() {
                    Ok(())
                } else {
                    deliver(&sent)
                };
                return in_place(items.len(), [behind, (now, delivered)]);
            }
        }
        deliver(items)
    }

    /// Spools the items of the `waiting` traces behind what waits, so that
    /// each trace keeps its order: returns their positions with that
    /// outcome, and the positions of the other traces' items, which go
    /// now.
    fn spool_waiting<T>(
        &self,
        items: &[T],
        waiting: &HashSet<TraceId>,
        what: &str,
        trace_of: impl Fn(&T) -> TraceId,
        line_of: impl Fn(&T) -> String,
    ) -> (Part, Vec<usize>) {
        let (behind, now): (Vec<usize>, Vec<usize>) =
            (0..items.len()).partition(|&i| waiting.contains(&trace_of(&items[i])));
        let spooled = self.spool_behind(behind.iter().map(|&i| line_of(&items[i])), what);
        ((behind, spooled), now)
    }

    /// Spools `lines` (of `what`: operations or spans) behind what waits,
    /// as an export's outcome: each [spooled](Outcome::Spooled), or, if
    /// the spool fails, deferred.
    fn spool_behind(
        &self,
        lines: impl ExactSizeIterator<Item = String>,
        what: &str,
    ) -> Result<(), SinkError> {
        let count = lines.len();
        if count == 0 {
            return Ok(());
        }
        // `what` names the kind: "spans" or "operations".
        match self.spool(lines, what == "spans") {
            Ok(_) => Outcomes::every(Outcome::Spooled, count).into_result(what),
            Err(e) => {
                let message = format!(
                    "{} could not deliver {count} {what}, nor spool them",
                    self.key
                );
                let why = Reason::from(format!("{message}: {e}"));
                Err(SinkError::with_source(message, e)
                    .with_outcomes(vec![Outcome::Deferred(why); count]))
            }
        }
    }

    fn remove(&self, seqs: &[i64]) -> Result<()> {
        Ok(self.store.unspool(seqs)?)
    }

    /// Appends lines (operations as [`jsonl_line`] writes them, spans as
    /// [`StoredSpan::to_mlflow_json`]) to the spool, in one transaction.
    fn spool(&self, lines: impl IntoIterator<Item = String>, spans: bool) -> Result<usize> {
        let count = self.store.spool(&self.key, lines)?;
        if spans && count > 0 {
            self.spans_waiting.store(true, Ordering::Release);
        }
        self.spooled.fetch_add(count as u64, Ordering::Relaxed);
        Ok(count)
    }

    /// Calls `f` (a flush or a shutdown of the inner sink) within the
    /// limit. Given up, it is no failure: every item handed to the inner
    /// sink was delivered or spooled when its export returned.
    fn finish(self: &Arc<Self>, f: fn(&S) -> Result<(), SinkError>) -> Result<(), SinkError> {
        if self.past_cutoff() {
            return Ok(());
        }
        self.bounded(f).unwrap_or(Ok(()))
    }

    /// Notes the deadline: from a quarter of the time left before it (at
    /// most [`MAX_RESERVE`]) nothing more is sent, only spooled; the inner
    /// sink is told that earlier moment, so that its retries end by then.
    fn set_deadline(&self, deadline: Option<Instant>) {
        let cutoff = deadline.map(|at| {
            let left = at.saturating_duration_since(Instant::now());
            at - (left / 4).min(MAX_RESERVE)
        });
        *lock(&self.cutoff) = cutoff;
        self.inner.set_deadline(cutoff);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The trace a span belongs to.
fn span_trace(span: &SpanData) -> TraceId {
    span.span_context.trace_id()
}

/// A span as a spool line.
fn span_line(span: &SpanData) -> String {
    stored_span_line(&StoredSpan::from(span))
}

/// A span as the store keeps it, as a spool line: its JSONL line.
fn stored_span_line(span: &StoredSpan) -> String {
    span.to_mlflow_json().to_string()
}

/// Some items of a batch, by their positions in it, and the outcome of
/// sending or spooling them.
type Part = (Vec<usize>, Result<(), SinkError>);

/// The outcome of a batch of `len` items whose `parts` went apart, as one.
fn in_place<const N: usize>(len: usize, parts: [Part; N]) -> Result<(), SinkError> {
    let mut whole = Outcomes::every(Outcome::Delivered, len);
    let mut messages = Vec::new();
    for (positions, result) in parts {
        if let Err(error) = &result {
            messages.push(error.to_string());
        }
        whole.place(&positions, Outcomes::of(&result, positions.len()));
    }
    if messages.is_empty() {
        return Ok(());
    }
    Err(SinkError::new(messages.join("; and ")).with_outcomes(whole.as_slice().to_vec()))
}

fn spool_error(error: Error) -> SinkError {
    SinkError::with_source("the spool of the local store failed", error)
}

impl<S: AssessmentSink> AssessmentSink for Spooled<S> {
    /// Delivers the batch through the inner sink, or spools what it could
    /// not deliver; see [`Spooled`].
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        let core = &self.core;
        core.export_in_order(
            batch,
            "operations",
            Operation::trace_id,
            jsonl_line,
            |now| core.deliver(now),
        )
    }

    fn flush(&self) -> Result<(), SinkError> {
        self.core.finish(S::flush)
    }

    fn shutdown(&self) -> Result<(), SinkError> {
        self.core.finish(S::shutdown)
    }

    /// From a quarter of the time left before `deadline` (at most 5 s),
    /// nothing more is sent: what comes, and what an export under way was
    /// sending, is spooled. The inner sink is told that earlier moment.
    fn set_deadline(&self, deadline: Option<Instant>) {
        self.core.set_deadline(deadline);
    }

    fn name(&self) -> &str {
        &self.core.key
    }
}

impl<S: AssessmentSink + SpanSink> Spooled<S> {
    /// Wraps a sink of spans as well as assessments (such as
    /// [`MlflowSink`](crate::MlflowSink)), spooling both under `key`, and
    /// starts replaying what the spool holds for that key, spans included,
    /// in the background. (A wrapper made with [`new`](Self::new) or
    /// [`with_key`](Self::with_key) replays spooled spans only once it has
    /// been handed spans itself.)
    pub fn with_spans(inner: S, store: impl Into<Arc<LocalStore>>, key: impl Into<String>) -> Self {
        let core = Self::unreplayed(inner, store.into(), key.into());
        let _ = core.span_export.set(<S as SpanSink>::export_stored_spans);
        Self::started(core)
    }
}

impl<S: AssessmentSink + SpanSink> SpanSink for Spooled<S> {
    /// Delivers the spans through the inner sink, or spools what it could
    /// not deliver, behind whatever already waits (spans and assessment
    /// operations share one spool, in order).
    fn export_spans(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        let core = &self.core;
        let _ = core.span_export.set(<S as SpanSink>::export_stored_spans);
        core.export_in_order(spans, "spans", span_trace, span_line, |now| {
            let owned = now.to_vec();
            let sent = core
                .bounded(move |inner| inner.export_spans(&owned))
                .unwrap_or_else(|| Err(core.gave_up(now.len(), "spans")));
            core.keep(now, span_line, "spans", sent)
        })
    }

    /// As [`export_spans`](Self::export_spans); each span keeps its own
    /// resource, in the spool too.
    fn export_stored_spans(&self, spans: &[StoredSpan]) -> Result<(), SinkError> {
        let core = &self.core;
        let _ = core.span_export.set(<S as SpanSink>::export_stored_spans);
        core.export_in_order(
            spans,
            "spans",
            |span| span.trace_id,
            stored_span_line,
            |now| {
                let owned = now.to_vec();
                let sent = core
                    .bounded(move |inner| inner.export_stored_spans(&owned))
                    .unwrap_or_else(|| Err(core.gave_up(now.len(), "spans")));
                core.keep(now, stored_span_line, "spans", sent)
            },
        )
    }

    fn flush_spans(&self) -> Result<(), SinkError> {
        self.core.finish(S::flush_spans)
    }

    fn shutdown_spans(&self) -> Result<(), SinkError> {
        self.core.finish(S::shutdown_spans)
    }
}

impl<S: TraceSink> TraceSink for Spooled<S> {
    /// Ships a trace's spans with its operations through the inner sink's
    /// [`export_trace`](TraceSink::export_trace) (the MLflow sink's one
    /// request per trace), and spools what it could not deliver for now:
    /// the spans and operations it [deferred](Outcome::Deferred), spans
    /// first, so that on replay a trace's spans still go before its
    /// assessments. What concerns a trace that already waits in the spool
    /// is spooled behind it, and while the receiver fails everything is,
    /// as [`export`](AssessmentSink::export) does. What is spooled is
    /// [spooled](Outcome::Spooled); refusals for good are not spooled.
    fn export_trace(
        &self,
        spans: &[SpanData],
        operations: &[Operation],
        fresh: bool,
    ) -> (Result<(), SinkError>, Result<(), SinkError>) {
        let core = &self.core;
        let _ = core.span_export.set(<S as SpanSink>::export_stored_spans);
        let spool_all = || {
            (
                core.spool_behind(spans.iter().map(span_line), "spans"),
                core.spool_behind(operations.iter().map(jsonl_line), "operations"),
            )
        };
        if core.spool_only() {
            return spool_all();
        }
        let Some(_delivering) = core.acquire() else {
            return spool_all();
        };
        if core.spool_only() {
            return spool_all();
        }
        let waiting = core.pending().and_then(|pending| {
            if pending > 0 {
                core.waiting_traces()
            } else {
                Ok(HashSet::new())
            }
        });
        let waiting = match waiting {
            Ok(waiting) => waiting,
            Err(error) => {
                // Nothing sent, nothing spooled: every span and operation
                // deferred.
                let failed = |count: usize, what: &str| {
                    if count == 0 {
                        Ok(())
                    } else {
                        let message = format!(
                            "{} could not deliver {count} {what}: the spool of the local store \
                             failed ({error})",
                            core.key
                        );
                        Outcomes::every(Outcome::deferred(message), count).into_result(what)
                    }
                };
                return (
                    failed(spans.len(), "spans"),
                    failed(operations.len(), "operations"),
                );
            }
        };
        // Each trace keeps its order: what concerns a trace that waits goes
        // behind it (its spans, then its operations); the other traces go now.
        let (spans_behind, now_spans) =
            core.spool_waiting(spans, &waiting, "spans", span_trace, span_line);
        let (ops_behind, now_ops) = core.spool_waiting(
            operations,
            &waiting,
            "operations",
            Operation::trace_id,
            jsonl_line,
        );
        let (spans_out, ops_out) = if now_spans.is_empty() && now_ops.is_empty() {
            (Ok(()), Ok(()))
        } else {
            let sent_spans: Vec<SpanData> = now_spans.iter().map(|&i| spans[i].clone()).collect();
            let sent_ops: Vec<Operation> = now_ops.iter().map(|&i| operations[i].clone()).collect();
            let (owned_spans, owned_ops) = (sent_spans.clone(), sent_ops.clone());
            let (spans_sent, ops_sent) = core
                .bounded(move |inner| inner.export_trace(&owned_spans, &owned_ops, fresh))
                .unwrap_or_else(|| {
                    let gave_up = |len: usize, what: &str| {
                        if len == 0 {
                            Ok(())
                        } else {
                            Err(core.gave_up(len, what))
                        }
                    };
                    (
                        gave_up(sent_spans.len(), "spans"),
                        gave_up(sent_ops.len(), "operations"),
                    )
                });
            // Spans first: on replay they go before the operations.
            (
                core.keep(&sent_spans, span_line, "spans", spans_sent),
                core.keep(&sent_ops, jsonl_line, "operations", ops_sent),
            )
        };
        (
            in_place(spans.len(), [spans_behind, (now_spans, spans_out)]),
            in_place(operations.len(), [ops_behind, (now_ops, ops_out)]),
        )
    }

    fn set_resource(&self, resource: &Resource) {
        self.core.inner.set_resource(resource);
    }

    /// Replays the spool, spans included (see [`with_spans`](Self::with_spans)),
    /// in the background.
    fn assembled(&self) {
        self.core.inner.assembled();
        let _ = self
            .core
            .span_export
            .set(<S as SpanSink>::export_stored_spans);
        self.core.wake.store(true, Ordering::Release);
    }
}

/// Rebuilds a spooled operation or span from its line.
fn decode_line(line: &str) -> Result<Entry, String> {
    let json: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    if json.get("type").and_then(Value::as_str) == Some("span") {
        return StoredSpan::from_mlflow_json(&json).map(Entry::Span);
    }
    decode_operation(line, &json).map(Entry::Operation)
}

/// Rebuilds an operation from its JSONL line ([`jsonl_line`]).
fn decode_operation(line: &str, json: &Value) -> Result<Operation, String> {
    match json.get("type").and_then(Value::as_str) {
        None => Assessment::from_json(line)
            .map(Operation::Log)
            .map_err(|e| e.to_string()),
        Some("delete") => {
            let field = |name: &str| {
                json.get(name)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("a delete without {name}"))
            };
            Ok(Operation::Delete {
                trace_id: parse_trace_id(field("trace_id")?).map_err(|e| e.to_string())?,
                assessment_id: field("assessment_id")?
                    .parse()
                    .map_err(|e: verdict::Error| e.to_string())?,
            })
        }
        Some("update") => decode_update(&json["assessment"]).map(Operation::Update),
        Some(other) => Err(format!("unknown operation type {other:?}")),
    }
}

/// Rebuilds an update from MLflow's PATCH body ([`verdict::wire::update_to_json`]).
fn decode_update(a: &Value) -> Result<AssessmentUpdate, String> {
    let text = |name: &str| a.get(name).and_then(Value::as_str);
    let trace = parse_trace_id(text("trace_id").ok_or("an update without trace_id")?)
        .map_err(|e| e.to_string())?;
    let id = text("assessment_id")
        .ok_or("an update without assessment_id")?
        .parse()
        .map_err(|e: verdict::Error| e.to_string())?;
    let mut update = AssessmentUpdate::builder(trace, id);
    if let Some(name) = text("assessment_name") {
        update = update.name(name.to_owned());
    }
    if let Some(feedback) = a.get("feedback") {
        match feedback.get("error").filter(|e| !e.is_null()) {
            Some(error) => {
                let field = |name: &str| error.get(name).and_then(Value::as_str).map(str::to_owned);
                let mut e = AssessmentError::new(field("error_code").unwrap_or_default());
                e.error_message = field("error_message");
                e.stack_trace = field("stack_trace");
                update = update.feedback_error(e);
            }
            None => {
                let value = feedback.get("value").cloned().unwrap_or(Value::Null);
                update =
                    update.feedback(FeedbackValue::from_json(value).map_err(|e| e.to_string())?);
            }
        }
    }
    if let Some(expectation) = a.get("expectation") {
        let value = match expectation.get("serialized_value") {
            Some(serialized) => {
                let raw = serialized
                    .get("value")
                    .and_then(Value::as_str)
                    .ok_or("an expectation without its serialized value")?;
                serde_json::from_str(raw).map_err(|e| e.to_string())?
            }
            None => expectation.get("value").cloned().unwrap_or(Value::Null),
        };
        update = update.expectation(value);
    }
    if let Some(rationale) = text("rationale") {
        update = update.rationale(rationale.to_owned());
    }
    if let Some(Value::Object(metadata)) = a.get("metadata") {
        for (key, value) in metadata {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            update = update.metadata(key.clone(), value);
        }
    }
    update.build().map_err(|e| e.to_string())
}

/// What became of one replayed run of spooled rows.
struct Settled {
    /// The rows to take out of the spool: delivered, or refused for good.
    gone: Vec<i64>,
    /// How many of them were refused.
    refused: usize,
    /// Whether some are still worth sending again (they stay spooled, and
    /// the replay stops there to keep the order).
    stalled: bool,
}

/// Sorts the outcome of sending the spooled rows `seqs`; `None` when
/// nothing got through (the receiver is still down). A refusal's message
/// goes to `refused`.
fn settle(
    seqs: Vec<i64>,
    result: Result<(), SinkError>,
    refused: &mut Vec<String>,
) -> Option<Settled> {
    let len = seqs.len();
    let Err(error) = result else {
        return Some(Settled {
            gone: seqs,
            refused: 0,
            stalled: false,
        });
    };
    let outcomes = Outcomes::of_error(&error, len);
    let retry = outcomes.deferred_at();
    if retry.len() == len {
        return None;
    }
    let refused_here = outcomes.refused();
    if refused_here > 0 {
        refused.push(error.to_string());
    }
    let gone = seqs
        .iter()
        .enumerate()
        .filter(|(i, _)| !retry.contains(i))
        .map(|(_, seq)| *seq)
        .collect();
    Some(Settled {
        gone,
        refused: refused_here,
        stalled: !retry.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_round_trip_through_their_lines() {
        let a = Assessment::feedback("ok", true)
            .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", Some("71492b10072d70de"))
            .unwrap();
        let e = Assessment::expectation("facts", serde_json::json!(["a", 1]))
            .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
            .unwrap();
        let updates = [
            AssessmentUpdate::builder(a.trace_id(), a.id())
                .name("renamed")
                .feedback(0.5)
                .rationale("why")
                .metadata("k", "v")
                .build()
                .unwrap(),
            AssessmentUpdate::builder(a.trace_id(), a.id())
                .feedback_error(AssessmentError::new("TIMEOUT").with_message("slow"))
                .build()
                .unwrap(),
            AssessmentUpdate::builder(e.trace_id(), e.id())
                .expectation(serde_json::json!({"x": [1, 2]}))
                .build()
                .unwrap(),
            AssessmentUpdate::builder(e.trace_id(), e.id())
                .expectation("plain")
                .build()
                .unwrap(),
        ];
        let mut operations = vec![
            Operation::Log(a.clone()),
            Operation::Log(e),
            Operation::Delete {
                trace_id: a.trace_id(),
                assessment_id: a.id(),
            },
        ];
        for operation in operations.drain(..) {
            let Entry::Operation(back) = decode_line(&jsonl_line(&operation)).unwrap() else {
                panic!("not an operation");
            };
            assert_eq!(back, operation);
        }
        for update in updates {
            let Entry::Operation(Operation::Update(back)) =
                decode_line(&jsonl_line(&Operation::Update(update.clone()))).unwrap()
            else {
                panic!("not an update");
            };
            assert_eq!(
                verdict::wire::update_to_json(&back)["update_mask"],
                verdict::wire::update_to_json(&update)["update_mask"]
            );
            assert_eq!(
                (back.name(), back.value(), back.rationale(), back.metadata()),
                (
                    update.name(),
                    update.value(),
                    update.rationale(),
                    update.metadata()
                )
            );
        }
    }
}
