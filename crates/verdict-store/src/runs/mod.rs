//! Evaluation runs in the local store: a row per run from the moment it
//! starts, its records packed a block at a time ([`pack`]), and the run's
//! end — passed, failed, stopped on an error, or interrupted.
//!
//! A run is listed from its first moment, as `running`, with the process
//! that runs it. A run whose process is gone without finishing (killed,
//! the machine lost power) reads as `interrupted`, with what it stored;
//! [`LocalStore::delete_runs`] removes runs and gives their space back.

pub mod pack;
pub(crate) mod read;

use std::collections::BTreeMap;
use std::time::SystemTime;

use opentelemetry::trace::TraceId;
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use verdict::{AssessmentSource, SourceType};

use crate::bulk::Batch;
use crate::error::{Error, Result, database};
use crate::span::StoredSpan;
use crate::store::{LocalStore, from_nanos, to_nanos};

pub use pack::{
    BlockWriter, OwnVerdict, PackedResult, PackedValue, RecordHead, RecordTarget, ScorerResult,
};

/// The name of the root span a run makes for a record that names no
/// trace.
pub const RECORD_SPAN_NAME: &str = "verdict.eval.record";

/// Root span attribute holding the run id.
pub const RUN_ID_ATTRIBUTE: &str = "verdict.eval.run_id";

/// Root span attribute holding the dataset line.
pub const LINE_ATTRIBUTE: &str = "verdict.eval.line";

/// The span type a run's record spans have (`mlflow.spanType`): what
/// `mlflow.genai.evaluate` gives the root span it makes for a record
/// that has no trace.
pub const RECORD_SPAN_TYPE: &str = "CHAIN";

/// MLflow's log level for a span of [`RECORD_SPAN_TYPE`]
/// (`mlflow.spanLogLevel`, `DEBUG`), as MLflow's client sets it when such
/// a span ends.
const RECORD_SPAN_LOG_LEVEL: i64 = 10;

/// The root span a run makes for a record that names no trace, as MLflow's
/// client makes a span: its inputs and outputs as MLflow's span attributes
/// (`mlflow.spanInputs`, `mlflow.spanOutputs`, JSON text), its type
/// (`mlflow.spanType`, [`RECORD_SPAN_TYPE`]) and log level, status OK
/// (an error with its message when the system under test failed to
/// answer); and Verdict's run id and the dataset line.
///
/// It lasts from [`start`](Self::start) to [`end`](Self::end): the time
/// the run spent scoring the record (see `verdict-eval`). The store keeps
/// them, so that it reads back the span a destination was sent.
#[derive(Clone, Copy, Debug)]
pub struct RecordSpan<'a> {
    /// The run.
    pub run_id: &'a str,
    /// The instrumentation scope: name and version.
    pub scope: (&'a str, Option<&'a str>),
    /// The record's trace ([`pack::trace_id`]).
    pub trace_id: TraceId,
    /// The dataset line.
    pub line: u64,
    /// What the system was given.
    pub inputs: PackedValue<'a>,
    /// What it answered.
    pub outputs: PackedValue<'a>,
    /// Why the system under test gave no answer, when it failed.
    pub error: Option<&'a str>,
    /// When it started.
    pub start: SystemTime,
    /// When it ended.
    pub end: SystemTime,
}

impl RecordSpan<'_> {
    /// The span, as the store keeps and returns spans.
    pub fn to_span(&self) -> StoredSpan {
        let json_text = |value: PackedValue<'_>| match value {
            PackedValue::Null => "null".to_owned(),
            PackedValue::Text(text) => serde_json::Value::String(text.to_owned()).to_string(),
            PackedValue::Json(text) => spaced_as_python(text),
        };
        let mut attributes = serde_json::Map::new();
        attributes.insert("mlflow.spanInputs".into(), json_text(self.inputs).into());
        attributes.insert("mlflow.spanOutputs".into(), json_text(self.outputs).into());
        attributes.insert("mlflow.spanType".into(), RECORD_SPAN_TYPE.into());
        attributes.insert("mlflow.spanLogLevel".into(), RECORD_SPAN_LOG_LEVEL.into());
        attributes.insert(RUN_ID_ATTRIBUTE.into(), self.run_id.into());
        attributes.insert(LINE_ATTRIBUTE.into(), self.line.into());
        StoredSpan {
            trace_id: self.trace_id,
            span_id: pack::root_span_id(self.trace_id),
            parent_span_id: None,
            name: RECORD_SPAN_NAME.to_owned(),
            kind: opentelemetry::trace::SpanKind::Internal,
            start_time: self.start,
            end_time: self.end,
            status: match self.error {
                None => opentelemetry::trace::Status::Ok,
                Some(message) => opentelemetry::trace::Status::error(message.to_owned()),
            },
            attributes,
            events: Vec::new(),
            links: Vec::new(),
            scope_name: self.scope.0.to_owned(),
            scope_version: self.scope.1.map(str::to_owned),
            resource: serde_json::Map::new(),
        }
    }
}

/// JSON text spaced as Python's `json.dumps` spaces it (`", "` and
/// `": "`, nothing else outside strings), as MLflow's client writes span
/// inputs and outputs: a trace's request and response previews, which
/// MLflow takes from them, then read the same. Keys keep their order and
/// strings are kept as they are.
fn spaced_as_python(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 8);
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            ',' | ':' => {
                out.push(c);
                out.push(' ');
            }
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Its process is still running it.
    Running,
    /// It reached its verdict, and every gate passed.
    Passed,
    /// It reached its verdict, and a gate failed.
    Failed,
    /// It stopped on an error before its verdict, with the records it had
    /// stored.
    Stopped,
    /// A signal stopped it, or its process ended without finishing it.
    Interrupted,
}

impl RunStatus {
    /// Its name in the store and in JSON: `running`, `passed`, …
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Passed => "passed",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
            RunStatus::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "running" => RunStatus::Running,
            "passed" => RunStatus::Passed,
            "failed" => RunStatus::Failed,
            "stopped" => RunStatus::Stopped,
            "interrupted" => RunStatus::Interrupted,
            _ => return None,
        })
    }

    /// Whether the run reached its verdict (passed or failed).
    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Passed | RunStatus::Failed)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One evaluation run as the store keeps it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StoredRun {
    /// The run's id; its feedback carries it as its run id.
    pub run_id: String,
    /// Where it is. A run whose process ended without finishing it reads
    /// as [`RunStatus::Interrupted`].
    pub status: RunStatus,
    /// When it started.
    pub started: SystemTime,
    /// When it ended, once it has.
    pub finished: Option<SystemTime>,
    /// What was evaluated, as the user named it.
    pub dataset: String,
    /// The same, resolved (an absolute path), when it was a file.
    pub dataset_key: Option<String>,
    /// Records stored.
    pub records: u64,
    /// Records that could not be read.
    pub invalid: u64,
    /// Assessments its records hold (expectations it logged and feedback).
    pub assessments: u64,
    /// The evaluator's summary (statistics, gates), once it has one.
    pub summary: Option<serde_json::Value>,
    /// Why it stopped, or what interrupted it.
    pub reason: Option<String>,
}

impl StoredRun {
    /// Whether it reached its verdict and every gate passed.
    pub fn passed(&self) -> bool {
        self.status == RunStatus::Passed
    }
}

/// One record of a stored run, as the run stored it: where it came from,
/// what it held, and what each scorer said (edits made since are not
/// applied: this is the run's own view, for comparing runs).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StoredRecord {
    /// Its place in the run, from 0.
    pub ordinal: u64,
    /// The dataset line it came from.
    pub line: u64,
    /// Its trace.
    pub trace_id: TraceId,
    /// The span its feedback judges, if any.
    pub span_id: Option<opentelemetry::trace::SpanId>,
    /// Whether the record named its trace (else the run made it).
    pub named: bool,
    /// What the system was given: JSON, or text.
    pub inputs: RecordValue,
    /// What it answered.
    pub outputs: RecordValue,
    /// Why the system under test gave no answer, when the run called it
    /// and it failed.
    pub error: Option<String>,
    /// Its expectations, by name.
    pub expectations: Vec<(String, RecordValue)>,
    /// Each scorer's result, in the run's order of scorers.
    pub results: Vec<StoredResult>,
}

/// A value of a stored record: nothing, text, or JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordValue {
    /// No value.
    Null,
    /// A string.
    Text(String),
    /// Another JSON value, as JSON text.
    Json(String),
}

impl From<PackedValue<'_>> for RecordValue {
    fn from(value: PackedValue<'_>) -> Self {
        match value {
            PackedValue::Null => RecordValue::Null,
            PackedValue::Text(t) => RecordValue::Text(t.to_owned()),
            PackedValue::Json(t) => RecordValue::Json(t.to_owned()),
        }
    }
}

/// One scorer's result in a stored record.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredResult {
    /// The scorer (its feedback's name).
    pub scorer: String,
    /// Its value, or its error.
    pub value: StoredValue,
    /// Its own pass or fail, when it gave one.
    pub verdict: OwnVerdict,
    /// Whether the record passed by the run's criterion for this scorer,
    /// when the criterion could judge it.
    pub judged: Option<bool>,
    /// Why.
    pub rationale: Option<String>,
}

/// A scorer's value in a stored record.
#[derive(Clone, Debug, PartialEq)]
pub enum StoredValue {
    /// A bool.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A label.
    Label(String),
    /// The scorer failed.
    Error {
        /// Its code.
        code: String,
        /// Its message.
        message: Option<String>,
    },
}

/// What a run's feedback of one scorer shares: its name, source and
/// metadata (the scorer's version, its plugin's digest).
#[derive(Clone, Debug, PartialEq)]
pub struct RunScorer {
    /// The feedback's name.
    pub name: String,
    /// Who made it.
    pub source: AssessmentSource,
    /// Its metadata, but for the run id.
    pub metadata: BTreeMap<String, String>,
}

/// A run about to start.
#[derive(Clone, Debug)]
pub struct NewRun<'a> {
    /// Its id, `run-` + 12 hex.
    pub run_id: &'a str,
    /// The high 64 bits of its trace and assessment ids (see
    /// [`pack::trace_id`], [`pack::assessment_id`]): random, never zero.
    pub ids: u64,
    /// What it evaluates, as the user named it.
    pub dataset: &'a str,
    /// When it started.
    pub started: SystemTime,
    /// Its scorers, in the order of each record's results.
    pub scorers: &'a [RunScorer],
    /// The instrumentation scope of the root spans it makes: name and
    /// version.
    pub scope: (&'a str, Option<&'a str>),
    /// The dataset resolved, when it is a file (an absolute path): what
    /// tells two runs of the same dataset apart from runs of another file
    /// that happens to have the same name.
    pub dataset_key: Option<&'a str>,
    /// The run it is compared against, if any: a run in use as a baseline
    /// is not deleted while the run using it runs.
    pub baseline: Option<&'a str>,
}

/// A run being written: its number in this store and its id bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunKey {
    pub(crate) run: i64,
    ids: u64,
}

impl RunKey {
    /// The high 64 bits of the run's trace and assessment ids.
    pub fn ids(&self) -> u64 {
        self.ids
    }
}

/// A block of a run's records, built off the writer's thread
/// ([`RunBlockBuilder`]) and stored by [`LocalStore::write_run`].
#[derive(Debug)]
pub struct RunBlock {
    first: u64,
    count: u32,
    time_ns: i64,
    assessments: u64,
    data: Vec<u8>,
    named: Vec<(TraceId, u64)>,
}

impl RunBlock {
    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Its size in the store, compressed.
    pub fn stored_bytes(&self) -> usize {
        self.data.len()
    }
}

/// Builds a [`RunBlock`]: records in order of their ordinals, from
/// `first`, each with its expectations and one result per scorer.
#[derive(Debug)]
pub struct RunBlockBuilder {
    writer: BlockWriter,
    first: u64,
    time_ns: i64,
    assessments: u64,
    named: Vec<(TraceId, u64)>,
}

impl RunBlockBuilder {
    /// A block whose first record has ordinal `first`, whose assessments
    /// are made at `time`.
    pub fn new(first: u64, time: SystemTime) -> Self {
        RunBlockBuilder {
            writer: BlockWriter::with_capacity(64 * 1024),
            first,
            time_ns: to_nanos(time),
            assessments: 0,
            named: Vec::new(),
        }
    }

    /// The ordinal the next record gets.
    pub fn next_ordinal(&self) -> u64 {
        self.first + self.writer.len() as u64
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.writer.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.writer.is_empty()
    }

    /// Starts a record; give its expectations, then its results.
    pub fn record(&mut self, head: &RecordHead<'_>) {
        if let RecordTarget::Named(trace, _) = head.target {
            self.named.push((trace, self.next_ordinal()));
        }
        self.writer.record(head);
    }

    /// One expectation of the current record; `logged` when the run logs
    /// it (an expectation the trace already holds is not logged again).
    pub fn expectation(&mut self, name: &str, value: PackedValue<'_>, logged: bool) {
        self.assessments += u64::from(logged);
        self.writer.expectation(name, value, logged);
    }

    /// One scorer's result for the current record.
    pub fn result(&mut self, result: &ScorerResult<'_>) {
        self.assessments += 1;
        self.writer.result(result);
    }

    /// One span of the current record's own trace, after its results (as
    /// many as its head said): a span the system under test made.
    pub fn span(&mut self, span: &StoredSpan) {
        self.writer.span(span, self.time_ns);
    }

    /// The block, compressed.
    pub fn finish(self) -> RunBlock {
        let (data, count) = self.writer.finish();
        RunBlock {
            first: self.first,
            count,
            time_ns: self.time_ns,
            assessments: self.assessments,
            data,
            named: self.named,
        }
    }
}

/// A run's header as stored: what its records share.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Header {
    pub(crate) scope_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope_version: Option<String>,
    pub(crate) scorers: Vec<HeaderScorer>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HeaderScorer {
    pub(crate) name: String,
    pub(crate) source_type: String,
    pub(crate) source_id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) metadata: BTreeMap<String, String>,
}

impl HeaderScorer {
    pub(crate) fn source(&self) -> std::result::Result<AssessmentSource, String> {
        let kind: SourceType = self.source_type.parse().map_err(|e| format!("{e}"))?;
        AssessmentSource::new(kind, self.source_id.clone()).map_err(|e| e.to_string())
    }
}

/// The columns [`RunRow::read`] reads, in its order.
const RUN_COLUMNS: &str = "run_id, status, pid, pid_start, runner, heartbeat_ns, started_ns, \
                           finished_ns, dataset, records, invalid, assessments, summary, reason, \
                           dataset_key";

/// How often a running run says it is alive (see [`LocalStore::heartbeat`]).
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// How long after its last heartbeat a run whose process cannot be seen
/// (another machine, another container) reads as interrupted.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// The process running a run, as the store records it: its pid, when it
/// started (Linux: `/proc/PID/stat`, field 22), and the machine and pid
/// namespace it runs in (the boot id and `/proc/self/ns/pid`), so that a
/// reader knows whether it can see that process at all.
struct Runner {
    pid: i64,
    start: Option<i64>,
    place: Option<String>,
}

impl Runner {
    fn this() -> Self {
        let pid = i64::from(std::process::id());
        Runner {
            pid,
            start: process_start(pid),
            place: this_place(),
        }
    }
}

/// This machine and pid namespace, where Linux says.
fn this_place() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), ns.display()))
}

/// When process `pid` started, in the system's clock ticks since boot;
/// `None` where that is not known.
fn process_start(pid: i64) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: count from after it.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that runs a run is still at it: seen alive, where
/// this reader can see it (the same machine and pid namespace: the same
/// pid with the same start time), else by a heartbeat of the last
/// minute.
fn still_running(row: &RunRow) -> bool {
    let Some(pid) = row.pid else { return false };
    if pid == i64::from(std::process::id()) && row.runner == this_place() {
        return true;
    }
    if row.runner.is_some() && row.runner == this_place() {
        return match (process_start(pid), row.pid_start) {
            (Some(now), Some(then)) => now == then,
            _ => false,
        };
    }
    row.heartbeat
        .map(from_nanos)
        .and_then(|beat| SystemTime::now().duration_since(beat).ok())
        .is_some_and(|age| age < STALE_AFTER)
}

impl LocalStore {
    /// Starts a run: it is listed as running from now on, by this process.
    pub fn begin_run(&self, run: &NewRun<'_>) -> Result<RunKey> {
        let action = || format!("starting run {}", run.run_id);
        if run.ids == 0 {
            return Err(Error::Run(format!(
                "run {} has id bits 0; they must be random and not zero",
                run.run_id
            )));
        }
        let header = Header {
            scope_name: run.scope.0.to_owned(),
            scope_version: run.scope.1.map(str::to_owned),
            scorers: run
                .scorers
                .iter()
                .map(|s| HeaderScorer {
                    name: s.name.clone(),
                    source_type: s.source.source_type().to_string(),
                    source_id: s.source.source_id().to_owned(),
                    metadata: s.metadata.clone(),
                })
                .collect(),
        };
        let header = serde_json::to_string(&header).map_err(|e| Error::Run(e.to_string()))?;
        let runner = Runner::this();
        let run_number = self.write(action, |tx| {
            tx.prepare_cached(
                "INSERT INTO runs (run_id, ids, status, pid, pid_start, runner, heartbeat_ns,
                    started_ns, dataset, dataset_key, baseline, records, invalid, assessments,
                    header)
                 VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, 0, 0, ?11)",
            )
            .and_then(|mut insert| {
                insert.execute(params![
                    run.run_id,
                    run.ids as i64,
                    runner.pid,
                    runner.start,
                    runner.place,
                    to_nanos(SystemTime::now()),
                    to_nanos(run.started),
                    run.dataset,
                    run.dataset_key,
                    run.baseline,
                    header,
                ])
            })
            .map_err(|e| database(self.path(), action(), e))?;
            Ok(tx.last_insert_rowid())
        })?;
        Ok(RunKey {
            run: run_number,
            ids: run.ids,
        })
    }

    /// Stores blocks of a run's records, with the spans its records
    /// brought (`spans`), in one transaction; `records` and `invalid` are
    /// the run's totals so far.
    pub fn write_run(
        &self,
        key: RunKey,
        blocks: &[RunBlock],
        spans: &Batch,
        records: u64,
        invalid: u64,
    ) -> Result<()> {
        let action = || {
            format!(
                "storing {} records of a run",
                blocks.iter().map(RunBlock::len).sum::<usize>()
            )
        };
        self.checkpoint_elsewhere();
        self.write(action, |tx| {
            let path = self.path();
            let db = |e| database(path, action(), e);
            let mark: i64 = tx
                .query_row(
                    "SELECT coalesce(
                        (SELECT seq FROM sqlite_sequence WHERE name = 'assessments'), 0)",
                    [],
                    |row| row.get(0),
                )
                .map_err(db)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO run_blocks (block, count, time_ns, seq_mark, data)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(db)?;
            let mut named = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO run_traces (trace_id, run, ordinal) VALUES (?1, ?2, ?3)",
                )
                .map_err(db)?;
            let mut log = crate::ops::Log::new(tx, path)?;
            let mut assessments = 0;
            for block in blocks {
                if block.first >= pack::MAX_RECORDS {
                    return Err(Error::Run(format!(
                        "a run holds at most {} records",
                        pack::MAX_RECORDS
                    )));
                }
                let block_key = (key.run << 40) | block.first as i64;
                log.push(
                    crate::ops::OpKind::Block,
                    None,
                    None,
                    Some(key.run),
                    Some(block_key),
                )?;
                insert
                    .execute(params![
                        block_key,
                        block.count,
                        block.time_ns,
                        mark,
                        block.data,
                    ])
                    .map_err(db)?;
                for (trace, ordinal) in &block.named {
                    named
                        .execute(params![trace.to_bytes(), key.run, *ordinal as i64])
                        .map_err(db)?;
                }
                assessments += block.assessments;
            }
            self.write_batch_in(tx, spans, Some(key.run))?;
            let updated = tx
                .prepare_cached(
                    "UPDATE runs SET records = ?2, invalid = ?3,
                        assessments = assessments + ?4, heartbeat_ns = ?5
                     WHERE run = ?1",
                )
                .and_then(|mut update| {
                    update.execute(params![
                        key.run,
                        i64::try_from(records).unwrap_or(i64::MAX),
                        i64::try_from(invalid).unwrap_or(i64::MAX),
                        i64::try_from(assessments).unwrap_or(i64::MAX),
                        to_nanos(SystemTime::now()),
                    ])
                })
                .map_err(db)?;
            if updated != 1 {
                return Err(removed(self.path(), key));
            }
            Ok(())
        })
    }

    /// Ends a run: its status, its summary, why it stopped, and its
    /// totals.
    pub fn finish_run(
        &self,
        key: RunKey,
        status: RunStatus,
        summary: Option<&serde_json::Value>,
        reason: Option<&str>,
        invalid: u64,
    ) -> Result<()> {
        let action = || format!("recording the end of run number {}", key.run);
        self.write(action, |tx| {
            let updated = tx
                .prepare_cached(
                    "UPDATE runs SET status = ?2, summary = ?3, reason = ?4, invalid = ?5,
                        finished_ns = ?6, pid = NULL, pid_start = NULL, runner = NULL,
                        heartbeat_ns = NULL
                     WHERE run = ?1",
                )
                .and_then(|mut update| {
                    update.execute(params![
                        key.run,
                        status.as_str(),
                        summary.map(serde_json::Value::to_string),
                        reason,
                        i64::try_from(invalid).unwrap_or(i64::MAX),
                        to_nanos(SystemTime::now()),
                    ])
                })
                .map_err(|e| database(self.path(), action(), e))?;
            if updated != 1 {
                return Err(removed(self.path(), key));
            }
            Ok(())
        })
    }

    /// Hands each record of a run to `f`, in order, a block at a time (so
    /// that memory does not grow with the run). Stops at the first error
    /// `f` returns. The store is busy meanwhile: `f` must not use it.
    pub fn each_run_record(
        &self,
        run_id: &str,
        mut f: impl FnMut(StoredRecord) -> Result<()>,
    ) -> Result<()> {
        let number: Option<i64> = self
            .lock()
            .query_row("SELECT run FROM runs WHERE run_id = ?1", [run_id], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| database(self.path(), format!("reading run {run_id}"), e))?;
        let Some(number) = number else {
            return Err(Error::Run(format!(
                "no run {run_id} in the store {}",
                self.path().display()
            )));
        };
        let conn = self.lock();
        let packed = self.packed(&conn);
        let Some(meta) = packed.run_by_number(number)? else {
            return Ok(());
        };
        packed.each_block(&meta, |block| {
            for (ordinal, view) in packed.records(&meta, block)? {
                f(read::stored_record(&meta, ordinal, view))?;
            }
            Ok(())
        })
    }

    /// Says that a run is still running, so that a reader who cannot see
    /// its process (another machine, another container) does not take it
    /// for interrupted: call it at least every [`HEARTBEAT_EVERY`].
    pub fn heartbeat(&self, key: RunKey) -> Result<()> {
        let action = || format!("recording that run number {} is alive", key.run);
        self.write(action, |tx| {
            let updated = tx
                .prepare_cached(
                    "UPDATE runs SET heartbeat_ns = ?2 WHERE run = ?1 AND status = 'running'",
                )
                .and_then(|mut update| {
                    update.execute(params![key.run, to_nanos(SystemTime::now())])
                })
                .map_err(|e| database(self.path(), action(), e))?;
            if updated != 1 {
                return Err(removed(self.path(), key));
            }
            Ok(())
        })
    }

    /// Every stored run, newest first.
    pub fn runs(&self) -> Result<Vec<StoredRun>> {
        let conn = self.lock();
        let db = |e| database(self.path(), "listing the runs", e);
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs ORDER BY started_ns DESC, run DESC"
            ))
            .map_err(db)?;
        let rows = statement.query_map([], RunRow::read).map_err(db)?;
        let mut runs = Vec::new();
        for row in rows {
            runs.push(row.map_err(db)?.decode(self)?);
        }
        Ok(runs)
    }

    /// The run with this id, if the store has it.
    pub fn run(&self, run_id: &str) -> Result<Option<StoredRun>> {
        let conn = self.lock();
        let row = conn
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?1"))
            .and_then(|mut select| select.query_row([run_id], RunRow::read).optional())
            .map_err(|e| database(self.path(), format!("reading run {run_id}"), e))?;
        row.map(|row| row.decode(self)).transpose()
    }

    /// Deletes runs — their records, their traces and everything recorded
    /// on those traces since — and gives the space back to the file
    /// system. A run still running is refused. Returns the runs deleted.
    pub fn delete_runs(&self, run_ids: &[&str]) -> Result<Vec<StoredRun>> {
        let mut deleted = Vec::new();
        let using: Vec<(String, String)> = {
            let conn = self.lock();
            let mut select = conn
                .prepare_cached(
                    "SELECT run_id, baseline FROM runs
                     WHERE status = 'running' AND baseline IS NOT NULL",
                )
                .map_err(|e| database(self.path(), "listing the runs", e))?;
            select
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(|e| database(self.path(), "listing the runs", e))?
        };
        for run_id in run_ids {
            for (user, _) in using.iter().filter(|(_, b)| b == run_id) {
                if self
                    .run(user)?
                    .is_some_and(|r| r.status == RunStatus::Running)
                {
                    return Err(Error::Run(format!(
                        "run {run_id} is the baseline of run {user}, which is still running; \
                         remove it once that run is over"
                    )));
                }
            }
            let run = self.run(run_id)?.ok_or_else(|| {
                Error::Run(format!(
                    "no run {run_id} in the store {}",
                    self.path().display()
                ))
            })?;
            if run.status == RunStatus::Running {
                return Err(Error::Run(format!(
                    "run {run_id} is still running; stop it first (it is listed as interrupted \
                     once its process has ended)"
                )));
            }
            deleted.push(run);
        }
        let action = || format!("deleting {} runs", run_ids.len());
        self.write(action, |tx| {
            for run_id in run_ids {
                let (run, ids): (i64, i64) = tx
                    .query_row(
                        "SELECT run, ids FROM runs WHERE run_id = ?1",
                        [run_id],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .map_err(|e| database(self.path(), action(), e))?;
                delete_run(tx, self.path(), run, ids as u64)?;
            }
            Ok(())
        })?;
        self.forget_runs();
        self.give_space_back()?;
        Ok(deleted)
    }

    /// Removes a run that this process started and that stored nothing
    /// worth keeping.
    pub fn discard_run(&self, key: RunKey) -> Result<()> {
        let action = || format!("removing run number {}", key.run);
        self.write(action, |tx| delete_run(tx, self.path(), key.run, key.ids))?;
        self.forget_runs();
        Ok(())
    }

    /// Returns free pages to the file system and empties the log, so that
    /// the file shrinks now.
    fn give_space_back(&self) -> Result<()> {
        let conn = self.lock();
        let db = |e| database(self.path(), "giving freed space back", e);
        // Each row of the pragma's answer is a page moved: step it to the
        // end.
        conn.prepare("PRAGMA incremental_vacuum")
            .and_then(|mut vacuum| {
                let mut rows = vacuum.query([])?;
                while rows.next()?.is_some() {}
                Ok(())
            })
            .map_err(db)?;
        // The file shrinks when the log is copied into it. The store's
        // checkpoint thread may be copying at this moment, and a reader
        // elsewhere may hold the log: try for a while, then leave it to
        // the next checkpoint.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let busy: i64 = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
                .map_err(db)?;
            if busy == 0 || std::time::Instant::now() > deadline {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// The error of a run that is no longer in the store while it runs.
fn removed(path: &std::path::Path, key: RunKey) -> Error {
    Error::Run(format!(
        "run number {} is no longer in the local store {}: it was removed (by verdict prune?) \
         while it ran, and what it scores is no longer stored",
        key.run,
        path.display()
    ))
}

/// Deletes run `run` (whose id bits are `ids`): its records, its traces
/// and what was recorded on them since.
fn delete_run(
    tx: &rusqlite::Transaction<'_>,
    path: &std::path::Path,
    run: i64,
    ids: u64,
) -> Result<()> {
    let db = |e| database(path, format!("deleting run number {run}"), e);
    let first = pack::assessment_id(ids, 0, 0).to_u128().to_be_bytes();
    let last = pack::assessment_id(ids, pack::MAX_RECORDS - 1, pack::MAX_ASSESSMENTS_PER_RECORD)
        .to_u128()
        .to_be_bytes();
    tx.execute(
        "DELETE FROM run_edits WHERE assessment_id BETWEEN ?1 AND ?2",
        params![first, last],
    )
    .map_err(db)?;
    // The run's own traces, and what was recorded on them.
    let low = (u128::from(ids) << 64).to_be_bytes();
    let high = ((u128::from(ids) << 64) | u128::from(u64::MAX)).to_be_bytes();
    for sql in [
        "DELETE FROM assessments WHERE trace_id BETWEEN ?1 AND ?2",
        "DELETE FROM trace_spans WHERE trace_id BETWEEN ?1 AND ?2",
        "DELETE FROM traces WHERE trace_id BETWEEN ?1 AND ?2",
    ] {
        tx.execute(sql, params![low, high]).map_err(db)?;
    }
    tx.execute(
        "DELETE FROM run_blocks WHERE block BETWEEN ?1 AND ?2",
        params![run << 40, (run << 40) | ((1 << 40) - 1)],
    )
    .map_err(db)?;
    crate::ops::forget_run(tx, path, run, (&low, &high))?;
    tx.execute("DELETE FROM run_traces WHERE run = ?1", [run])
        .map_err(db)?;
    tx.execute("DELETE FROM runs WHERE run = ?1", [run])
        .map_err(db)?;
    Ok(())
}

/// One row of `runs`, before it is checked.
struct RunRow {
    run_id: String,
    status: String,
    pid: Option<i64>,
    pid_start: Option<i64>,
    runner: Option<String>,
    heartbeat: Option<i64>,
    started: i64,
    finished: Option<i64>,
    dataset: String,
    records: i64,
    invalid: i64,
    assessments: i64,
    summary: Option<String>,
    reason: Option<String>,
    dataset_key: Option<String>,
}

impl RunRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RunRow {
            run_id: row.get(0)?,
            status: row.get(1)?,
            pid: row.get(2)?,
            pid_start: row.get(3)?,
            runner: row.get(4)?,
            heartbeat: row.get(5)?,
            started: row.get(6)?,
            finished: row.get(7)?,
            dataset: row.get(8)?,
            records: row.get(9)?,
            invalid: row.get(10)?,
            assessments: row.get(11)?,
            summary: row.get(12)?,
            reason: row.get(13)?,
            dataset_key: row.get(14)?,
        })
    }

    fn decode(self, store: &LocalStore) -> Result<StoredRun> {
        let corrupt = |reason: String| Error::Corrupt {
            path: store.path().to_path_buf(),
            what: format!("run {}", self.run_id),
            reason,
        };
        let mut status = RunStatus::parse(&self.status)
            .ok_or_else(|| corrupt(format!("unknown status {:?}", self.status)))?;
        let alive = status == RunStatus::Running && still_running(&self);
        let mut reason = self.reason;
        if status == RunStatus::Running && !alive {
            status = RunStatus::Interrupted;
            let pid = self
                .pid
                .map_or_else(|| "unknown".to_owned(), |p| format!("pid {p}"));
            reason = Some(if self.runner.is_some() && self.runner == this_place() {
                format!("its process ({pid}) ended without finishing it: killed, or it crashed")
            } else {
                format!(
                    "its process ({pid}, on another machine or in another container) ended \
                     without finishing it, or has not said it is alive for over a minute"
                )
            });
        }
        let summary = self
            .summary
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| corrupt(format!("its summary is not JSON: {e}")))?;
        Ok(StoredRun {
            run_id: self.run_id,
            status,
            started: from_nanos(self.started),
            finished: self.finished.map(from_nanos),
            dataset: self.dataset,
            dataset_key: self.dataset_key,
            records: u64::try_from(self.records).unwrap_or(0),
            invalid: u64::try_from(self.invalid).unwrap_or(0),
            assessments: u64::try_from(self.assessments).unwrap_or(0),
            summary,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_spaced_as_python_spaces_it() {
        let compact = r#"{"q":"a, b: \"c\" \\","n":[1,2.5,{"x":null}],"é":true}"#;
        let spaced = spaced_as_python(compact);
        assert_eq!(
            spaced,
            r#"{"q": "a, b: \"c\" \\", "n": [1, 2.5, {"x": null}], "é": true}"#
        );
        assert_eq!(spaced_as_python(&spaced), spaced);
        let value: serde_json::Value = serde_json::from_str(compact).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&spaced).unwrap(),
            value
        );
    }

    #[test]
    fn a_record_span_is_an_mlflow_span_of_the_scoring_time() {
        let start = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let end = start + std::time::Duration::from_micros(250);
        let span = RecordSpan {
            run_id: "run-0123456789ab",
            scope: ("verdict-eval", Some("0.1.0")),
            trace_id: TraceId::from(7u128),
            line: 3,
            inputs: PackedValue::Json(r#"{"question":"Capital of France?"}"#),
            outputs: PackedValue::Text("Paris"),
            error: None,
            start,
            end,
        }
        .to_span();
        assert_eq!((span.start_time, span.end_time), (start, end));
        assert_eq!(span.status, opentelemetry::trace::Status::Ok);
        assert_eq!(span.attributes["mlflow.spanType"], "CHAIN");
        assert_eq!(span.attributes["mlflow.spanLogLevel"], 10);
        assert_eq!(
            span.attributes["mlflow.spanInputs"],
            r#"{"question": "Capital of France?"}"#
        );
        assert_eq!(span.attributes["mlflow.spanOutputs"], r#""Paris""#);
        assert_eq!(span.attributes[RUN_ID_ATTRIBUTE], "run-0123456789ab");
    }
}
