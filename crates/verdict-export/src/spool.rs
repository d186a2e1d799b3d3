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
    Outcome, Outcomes, Reason, SinkError, SpansAndOperations, parse_trace_id,
};

use crate::assemble::TraceSink;
use crate::bounded::call_by;
use crate::error::{Error, Result};
use crate::health::Health;
use crate::jsonl::jsonl_line;
use crate::spans::SpanSink;
use verdict_store::{LocalStore, SpoolLine, StoredSpan};

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
    /// Operations and spans kept in the spool by an export, not delivered
    /// then (with [write-ahead](Spooled::write_ahead), those still there
    /// when their export returned).
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
///   hold up the rest). Which traces wait is an index of the spool
///   (`verdict-store`), looked up for the batch's traces: an export costs
///   the same with a large backlog as with none.
/// - **Write-ahead** ([`write_ahead`](Self::write_ahead), off by
///   default): every batch is written to the spool before it is sent, and
///   removed once delivered, so that a crash loses nothing handed to the
///   wrapper, at the cost of a store write and delete per batch.
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
/// and survives `kill -9` (the store syncs in WAL mode with
/// `synchronous = NORMAL`: a power loss may still take the last commits).
/// What is in memory does not: what the recorder's queue holds, what an
/// export is waiting on the receiver with (at most `max_delay`), and,
/// under an assembler, what it holds for open traces (at most its
/// `max_hold`) and what the SDK's batch span processor has not yet handed
/// over (its schedule delay, `OTEL_BSP_SCHEDULE_DELAY`). Lowering
/// `max_delay` bounds the time a batch can sit in memory while the
/// receiver hangs; [`write_ahead`](Self::write_ahead) takes that part out
/// altogether: then nothing handed to the wrapper is lost, and what a
/// crash can lose is only what has not reached it yet (the recorder's
/// queue and, under an assembler, its open traces and its batch).
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
    /// Whether every item is written to the spool before it is sent
    /// ([`Spooled::write_ahead`]).
    write_ahead: AtomicBool,
    /// The first places of the batches written ahead by exports under
    /// way: a replay reads nothing from the oldest on, so that it neither
    /// sends a batch its export is sending nor sends what was spooled
    /// after it ahead of it.
    claims: Mutex<Vec<i64>>,
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
            write_ahead: AtomicBool::new(false),
            claims: Mutex::new(Vec::new()),
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

    /// Write-ahead ("spool first"): every batch is written to the spool
    /// (one SQLite transaction, committed) before it is sent, and what the
    /// receiver took (or refused for good) is removed once it answered;
    /// what it did not take stays, [spooled](Outcome::Spooled). So nothing
    /// handed to the wrapper is lost to a crash (`kill -9`), however long
    /// the receiver takes to answer: what a crash can lose is then only
    /// what has not reached the wrapper yet (see [`Spooled`]). The cost is
    /// a write and a delete in the store for every batch, on the export's
    /// thread (BENCHMARKS.md measures it). Off by default: without it, a
    /// batch sits in memory while the receiver is tried, at most
    /// [`max_delay`](Self::max_delay), and only what was not delivered is
    /// written.
    ///
    /// Delivery stays at least once: a process killed after the receiver
    /// took a batch and before its removal from the spool sends it again
    /// from the next start.
    pub fn write_ahead(self, on: bool) -> Self {
        self.core.write_ahead.store(on, Ordering::Relaxed);
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

    /// How many operations and spans this wrapper has spooled so far
    /// ([`SpoolStats::spooled`]).
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
        let drained = match core.waits() {
            Ok(false) => {
                core.recovered();
                true
            }
            Ok(true) => {
                let _ = core.replay();
                matches!(core.waits(), Ok(false))
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

    /// Whether anything waits in the spool under this key for a replay
    /// (what exports under way wrote ahead is theirs).
    fn waits(&self) -> Result<bool> {
        let claims = lock(&self.claims);
        let before = claims.iter().min().copied();
        Ok(self.store.spool_waits(&self.key, before)?)
    }

    /// Notes that the receiver recovered, nothing waiting for a replay,
    /// unless an export under way may yet find it failing.
    fn recovered(&self) {
        if lock(&self.claims).is_empty() {
            self.health.recovered(&self.key);
        }
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

    /// The outcome of `len` items (of `what`) whose call was given up:
    /// each deferred.
    fn given_up(&self, len: usize, what: &str) -> Result<(), SinkError> {
        let message = format!(
            "{} did not answer within {} ms; the {len} {what} are kept to send later",
            self.key,
            self.max_delay_ms.load(Ordering::Relaxed)
        );
        Outcomes::every(Outcome::deferred(message), len).into_result(what)
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
        if matches!(self.waits(), Ok(false)) {
            self.recovered();
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
                        .unwrap_or_else(|| self.given_up(len, "spans"));
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
                    .unwrap_or_else(|| self.given_up(len, "spans"))
            } else {
                let operations: Vec<Operation> = entries
                    .into_iter()
                    .filter_map(|entry| match entry {
                        Entry::Operation(operation) => Some(operation),
                        Entry::Span(_) => None,
                    })
                    .collect();
                self.bounded(move |inner| inner.export(&operations))
                    .unwrap_or_else(|| self.given_up(len, "operations"))
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

    /// Sends operations through the inner sink, within the limit.
    fn send_operations(self: &Arc<Self>, batch: &[Operation]) -> Result<(), SinkError> {
        let owned = batch.to_vec();
        self.bounded(move |inner| inner.export(&owned))
            .unwrap_or_else(|| self.given_up(batch.len(), "operations"))
    }

    /// Notes that the receiver is failing when nothing of a call got
    /// through (refused connection, a timeout): a receiver that took some
    /// items and deferred others is up, lacking what those need.
    fn note_failure(&self, outcomes: &Outcomes, kept: usize, error: &SinkError) {
        if outcomes.delivered() == 0 && outcomes.refused() == 0 {
            self.health.failed(&self.key, kept, error);
        }
    }

    /// Spools the `items` that the inner sink's `result` deferred, and
    /// returns each item's outcome: those delivered delivered, those
    /// spooled [spooled](Outcome::Spooled), those refused refused (they
    /// are not spooled: they would be refused again), and, if the spool
    /// itself fails, the deferred ones deferred still.
    fn keep<T: Spoolable>(
        &self,
        items: &[T],
        result: Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        let Err(error) = &result else {
            return Ok(());
        };
        let what = T::WHAT;
        let mut outcomes = Outcomes::of(&result, items.len());
        let deferred = outcomes.deferred_at();
        if !deferred.is_empty() {
            self.note_failure(&outcomes, deferred.len(), error);
            let spooled = self.write(deferred.iter().map(|&i| items[i].spool_line()));
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
            self.count_spooled(deferred.len());
            outcomes.place(&deferred, Outcomes::every(Outcome::Spooled, deferred.len()));
        }
        Err(
            SinkError::new(format!("{}: {error}", outcomes.summary(what)))
                .with_outcomes(outcomes.as_slice().to_vec()),
        )
    }

    /// Settles items written to the spool before they were sent (at the
    /// places `seqs`) by the inner sink's `result`: the delivered ones and
    /// the refused ones leave the spool, the deferred ones stay in it,
    /// [spooled](Outcome::Spooled).
    fn settle_written<T: Spoolable>(
        &self,
        seqs: &[i64],
        result: Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        let mut outcomes = Outcomes::of(&result, seqs.len());
        let gone: Vec<i64> = outcomes
            .iter()
            .filter(|(_, outcome)| !matches!(outcome, Outcome::Deferred(_)))
            .map(|(i, _)| seqs[i])
            .collect();
        if let Err(e) = self.remove(&gone) {
            // They stay spooled: a replay sends them again (at least
            // once), and drops the refused ones then.
            tracing::warn!(
                target: "verdict",
                destination = %self.key,
                "{} items were delivered or refused, but could not be removed from the spool: {e}",
                gone.len()
            );
        }
        let Err(error) = &result else {
            return Ok(());
        };
        let deferred = outcomes.deferred_at();
        if !deferred.is_empty() {
            self.note_failure(&outcomes, deferred.len(), error);
            outcomes.place(&deferred, Outcomes::every(Outcome::Spooled, deferred.len()));
        }
        Err(
            SinkError::new(format!("{}: {error}", outcomes.summary(T::WHAT)))
                .with_outcomes(outcomes.as_slice().to_vec()),
        )
    }

    /// The oldest `limit` lines (spans only, with `spans_only`) that no
    /// export under way has claimed: those before the first line of the
    /// oldest batch being written ahead, which that export sends itself
    /// (lines after it keep their place behind it).
    fn unclaimed(&self, limit: usize, spans_only: bool) -> Result<Vec<verdict_store::Spooled>> {
        let claims = lock(&self.claims);
        let before = claims.iter().min().copied();
        Ok(self
            .store
            .spooled_before(&self.key, before, Some(limit), spans_only)?)
    }

    /// The oldest `limit` spooled operations, with their sequence numbers;
    /// and those among them that cannot be read, with the reason.
    fn read_spool(&self, limit: usize) -> Result<SpoolRows> {
        let mut found = Vec::new();
        let mut unreadable = Vec::new();
        for row in self.unclaimed(limit, false)? {
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
            .unclaimed(limit, true)?
            .into_iter()
            .filter_map(|row| match decode_line(&row.line) {
                Ok(Entry::Span(span)) => Some((row.seq, span)),
                _ => None,
            })
            .collect())
    }

    /// Which of `traces` have something waiting in the spool under this
    /// key (placed before `before`, with `Some`): nothing to look up when
    /// nothing waits, one index lookup per trace otherwise, so that an
    /// export costs the same whatever the backlog.
    fn waiting(
        &self,
        traces: impl IntoIterator<Item = TraceId>,
        before: Option<i64>,
    ) -> Result<HashSet<TraceId>> {
        if !self.store.spool_waits(&self.key, before)? {
            return Ok(HashSet::new());
        }
        Ok(self.store.spool_waiting(&self.key, traces, before)?)
    }

    /// Delivers `spans` and `operations` (either may be empty; spans go
    /// first) with `send`, keeping each trace's order, and returns the
    /// outcome of each kind:
    ///
    /// - while the receiver fails (or once the deadline's cutoff passed)
    ///   everything is spooled, without trying it;
    /// - with [write-ahead](Spooled::write_ahead), everything is written to
    ///   the spool first ([`send_written`](Self::send_written));
    /// - otherwise the items of a trace that waits in the spool are
    ///   spooled behind it, the other traces' are sent now, and what they
    ///   could not deliver is spooled.
    ///
    /// The spool itself is replayed in the background.
    fn export_both<A: Spoolable, B: Spoolable>(
        &self,
        spans: &[A],
        operations: &[B],
        send: impl FnOnce(&[A], &[B]) -> SpansAndOperations,
    ) -> SpansAndOperations {
        if spans.is_empty() && operations.is_empty() {
            return (Ok(()), Ok(()));
        }
        if self.spool_only() {
            return self.spool_all(spans, operations);
        }
        if self.write_ahead.load(Ordering::Relaxed) {
            let lines = spans
                .iter()
                .map(Spoolable::spool_line)
                .chain(operations.iter().map(Spoolable::spool_line));
            // Not written (the store fails): sent as without write-ahead,
            // which tries the spool again for what is not delivered.
            if let Ok(claim) = self.write_claimed(lines) {
                let (span_seqs, operation_seqs) = claim.seqs.split_at(spans.len());
                let sent =
                    self.send_written((spans, span_seqs), (operations, operation_seqs), send);
                drop(claim);
                let spooled =
                    |result: &Result<(), SinkError>, len| Outcomes::of(result, len).spooled();
                self.count_spooled(
                    spooled(&sent.0, spans.len()) + spooled(&sent.1, operations.len()),
                );
                return sent;
            }
        }
        let Some(_delivering) = self.acquire() else {
            // A call under way hangs: behind it, in the spool.
            return self.spool_all(spans, operations);
        };
        if self.spool_only() {
            return self.spool_all(spans, operations);
        }
        let traces = spans
            .iter()
            .map(Spoolable::trace)
            .chain(operations.iter().map(Spoolable::trace));
        let waiting = match self.waiting(traces, None) {
            Ok(waiting) => waiting,
            Err(error) => {
                // Nothing sent, nothing spooled: every item deferred.
                return (
                    self.unkept(spans.len(), A::WHAT, &error),
                    self.unkept(operations.len(), B::WHAT, &error),
                );
            }
        };
        let (spans_behind, spans_now) = split_by(spans, |_, span| waiting.contains(&span.trace()));
        let (operations_behind, operations_now) = split_by(operations, |_, operation| {
            waiting.contains(&operation.trace())
        });
        // Each trace keeps its order: what concerns a trace that waits
        // goes behind it (its spans, then its operations).
        let behind = (
            self.spool_behind(&picked(spans, &spans_behind)),
            self.spool_behind(&picked(operations, &operations_behind)),
        );
        let (spans_out, operations_out) = if spans_now.is_empty() && operations_now.is_empty() {
            (Ok(()), Ok(()))
        } else {
            let (spans_sent, operations_sent) = (
                picked(spans, &spans_now),
                picked(operations, &operations_now),
            );
            let (spans_result, operations_result) = send(&spans_sent, &operations_sent);
            // Spans first: on replay they go before the operations.
            (
                self.keep(&spans_sent, spans_result),
                self.keep(&operations_sent, operations_result),
            )
        };
        (
            in_place(
                spans.len(),
                [(spans_behind, behind.0), (spans_now, spans_out)],
            ),
            in_place(
                operations.len(),
                [
                    (operations_behind, behind.1),
                    (operations_now, operations_out),
                ],
            ),
        )
    }

    /// The write-ahead path of [`export_both`](Self::export_both): every
    /// item is in the spool already, at the place given with it. The
    /// items of a trace with older lines waiting stay there, behind them;
    /// the others are sent, and leave the spool once delivered (or refused
    /// for good); what is not delivered stays, spooled. The batch is
    /// claimed, so this process's replay leaves it alone; items that are
    /// gone from the spool all the same (another process replaying the
    /// same key took them) are that replay's to deliver: spooled, as far
    /// as this export knows. A call that hangs, or a spool that cannot be
    /// read, leaves everything spooled.
    fn send_written<A: Spoolable, B: Spoolable>(
        &self,
        (spans, span_seqs): (&[A], &[i64]),
        (operations, operation_seqs): (&[B], &[i64]),
        send: impl FnOnce(&[A], &[B]) -> SpansAndOperations,
    ) -> SpansAndOperations {
        let kept =
            |len: usize, what: &str| Outcomes::every(Outcome::Spooled, len).into_result(what);
        let all_kept = || (kept(spans.len(), A::WHAT), kept(operations.len(), B::WHAT));
        let Some(_delivering) = self.acquire() else {
            return all_kept();
        };
        if self.spool_only() {
            return all_kept();
        }
        let seqs: Vec<i64> = span_seqs.iter().chain(operation_seqs).copied().collect();
        let first = seqs.iter().min().copied();
        let traces = spans
            .iter()
            .map(Spoolable::trace)
            .chain(operations.iter().map(Spoolable::trace));
        let looked = self
            .store
            .still_spooled(&self.key, &seqs)
            .map_err(Error::from)
            .and_then(|still| Ok((still, self.waiting(traces, first)?)));
        let Ok((still, waiting)) = looked else {
            return all_kept();
        };
        let goes = |seq: &i64, trace: TraceId| still.contains(seq) && !waiting.contains(&trace);
        let (spans_kept, spans_now) = split_by(spans, |i, span| !goes(&span_seqs[i], span.trace()));
        let (operations_kept, operations_now) = split_by(operations, |i, operation| {
            !goes(&operation_seqs[i], operation.trace())
        });
        if spans_now.is_empty() && operations_now.is_empty() {
            return all_kept();
        }
        let (spans_result, operations_result) = send(
            &picked(spans, &spans_now),
            &picked(operations, &operations_now),
        );
        let spans_out = self.settle_written::<A>(&picked(span_seqs, &spans_now), spans_result);
        let operations_out =
            self.settle_written::<B>(&picked(operation_seqs, &operations_now), operations_result);
        (
            in_place(
                spans.len(),
                [
                    (spans_kept.clone(), kept(spans_kept.len(), A::WHAT)),
                    (spans_now, spans_out),
                ],
            ),
            in_place(
                operations.len(),
                [
                    (
                        operations_kept.clone(),
                        kept(operations_kept.len(), B::WHAT),
                    ),
                    (operations_now, operations_out),
                ],
            ),
        )
    }

    /// Spools both kinds behind what waits (spans first), as an export's
    /// outcome.
    fn spool_all<A: Spoolable, B: Spoolable>(
        &self,
        spans: &[A],
        operations: &[B],
    ) -> SpansAndOperations {
        (self.spool_behind(spans), self.spool_behind(operations))
    }

    /// Spools `items` behind what waits, as an export's outcome: each
    /// [spooled](Outcome::Spooled), or, if the spool fails, deferred.
    fn spool_behind<T: Spoolable>(&self, items: &[T]) -> Result<(), SinkError> {
        let (count, what) = (items.len(), T::WHAT);
        if count == 0 {
            return Ok(());
        }
        match self.write(items.iter().map(Spoolable::spool_line)) {
            Ok(_) => {
                self.count_spooled(count);
                Outcomes::every(Outcome::Spooled, count).into_result(what)
            }
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

    /// The outcome of `len` items of `what` neither sent nor spooled, the
    /// spool having failed with `error`: each deferred.
    fn unkept(&self, len: usize, what: &str, error: &Error) -> Result<(), SinkError> {
        if len == 0 {
            return Ok(());
        }
        let message = format!(
            "{} could not deliver {len} {what}: the spool of the local store failed ({error})",
            self.key
        );
        Outcomes::every(Outcome::deferred(message), len).into_result(what)
    }

    fn remove(&self, seqs: &[i64]) -> Result<()> {
        Ok(self.store.unspool(seqs)?)
    }

    /// Appends lines to the spool, in one transaction: their places.
    fn write(&self, lines: impl Iterator<Item = SpoolLine>) -> Result<Vec<i64>> {
        let mut spans = false;
        let seqs = self
            .store
            .spool(&self.key, lines.inspect(|line| spans |= line.span))?;
        if spans {
            self.spans_waiting.store(true, Ordering::Release);
        }
        Ok(seqs)
    }

    /// Writes lines ahead of sending them, claimed (see
    /// [`unclaimed`](Self::unclaimed)) until the claim is dropped; the
    /// claim is made with the write, so that no replay reads between them.
    fn write_claimed(&self, lines: impl Iterator<Item = SpoolLine>) -> Result<Claim<'_, S>> {
        let mut claims = lock(&self.claims);
        let seqs = self.write(lines)?;
        if let Some(&first) = seqs.first() {
            claims.push(first);
        }
        Ok(Claim { core: self, seqs })
    }

    /// Counts `count` items kept in the spool by an export.
    fn count_spooled(&self, count: usize) {
        self.spooled.fetch_add(count as u64, Ordering::Relaxed);
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

/// What waits in the spool: a span, as the SDK or the store has it, or an
/// operation.
trait Spoolable: Clone + Send + 'static {
    /// What a batch of them is called: "spans" or "operations".
    const WHAT: &'static str;

    /// The trace it is of.
    fn trace(&self) -> TraceId;

    /// Its spool line: an operation as [`jsonl_line`] writes it, a span as
    /// [`StoredSpan::to_mlflow_json`] (with its own resource, if it has
    /// one), with its trace.
    fn spool_line(&self) -> SpoolLine;
}

impl Spoolable for Operation {
    const WHAT: &'static str = "operations";

    fn trace(&self) -> TraceId {
        self.trace_id()
    }

    fn spool_line(&self) -> SpoolLine {
        SpoolLine {
            trace_id: self.trace_id(),
            span: false,
            line: jsonl_line(self),
        }
    }
}

impl Spoolable for StoredSpan {
    const WHAT: &'static str = "spans";

    fn trace(&self) -> TraceId {
        self.trace_id
    }

    fn spool_line(&self) -> SpoolLine {
        SpoolLine {
            trace_id: self.trace_id,
            span: true,
            line: self.to_mlflow_json().to_string(),
        }
    }
}

impl Spoolable for SpanData {
    const WHAT: &'static str = "spans";

    fn trace(&self) -> TraceId {
        self.span_context.trace_id()
    }

    fn spool_line(&self) -> SpoolLine {
        StoredSpan::from(self).spool_line()
    }
}

/// A batch written ahead by an export under way, at the places `seqs`:
/// no replay reads it, nor what follows it, until it is dropped.
struct Claim<'a, S: AssessmentSink> {
    core: &'a Core<S>,
    seqs: Vec<i64>,
}

impl<S: AssessmentSink> Drop for Claim<'_, S> {
    fn drop(&mut self) {
        let mut claims = lock(&self.core.claims);
        if let Some(at) = self
            .seqs
            .first()
            .and_then(|first| claims.iter().position(|claim| claim == first))
        {
            claims.swap_remove(at);
        }
    }
}

/// The positions of the `items` for which `apart` holds, and those of the
/// others.
fn split_by<T>(items: &[T], apart: impl Fn(usize, &T) -> bool) -> (Vec<usize>, Vec<usize>) {
    (0..items.len()).partition(|&i| apart(i, &items[i]))
}

/// The items at `positions`.
fn picked<T: Clone>(items: &[T], positions: &[usize]) -> Vec<T> {
    positions.iter().map(|&i| items[i].clone()).collect()
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
        let no_spans: &[StoredSpan] = &[];
        core.export_both(no_spans, batch, |_, now| {
            (Ok(()), core.send_operations(now))
        })
        .1
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

impl<S: AssessmentSink + SpanSink> Spooled<S> {
    /// Spans of either kind through the inner sink's `send`, or into the
    /// spool behind whatever already waits.
    fn spans_through<T: Spoolable>(
        &self,
        spans: &[T],
        send: fn(&S, &[T]) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        let core = &self.core;
        let _ = core.span_export.set(<S as SpanSink>::export_stored_spans);
        let no_operations: &[Operation] = &[];
        core.export_both(spans, no_operations, |now, _| {
            let owned = now.to_vec();
            let sent = core
                .bounded(move |inner| send(inner, &owned))
                .unwrap_or_else(|| core.given_up(now.len(), "spans"));
            (sent, Ok(()))
        })
        .0
    }
}

impl<S: AssessmentSink + SpanSink> SpanSink for Spooled<S> {
    /// Delivers the spans through the inner sink, or spools what it could
    /// not deliver, behind whatever already waits (spans and assessment
    /// operations share one spool, in order).
    fn export_spans(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        self.spans_through(spans, <S as SpanSink>::export_spans)
    }

    /// As [`export_spans`](Self::export_spans); each span keeps its own
    /// resource, in the spool too.
    fn export_stored_spans(&self, spans: &[StoredSpan]) -> Result<(), SinkError> {
        self.spans_through(spans, <S as SpanSink>::export_stored_spans)
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
    ) -> SpansAndOperations {
        let core = &self.core;
        let _ = core.span_export.set(<S as SpanSink>::export_stored_spans);
        core.export_both(spans, operations, |spans, operations| {
            let (owned_spans, owned_operations) = (spans.to_vec(), operations.to_vec());
            core.bounded(move |inner| inner.export_trace(&owned_spans, &owned_operations, fresh))
                .unwrap_or_else(|| {
                    (
                        core.given_up(spans.len(), "spans"),
                        core.given_up(operations.len(), "operations"),
                    )
                })
        })
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
