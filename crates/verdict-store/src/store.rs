//! The local store: traces, spans and assessments in one SQLite file, with
//! the lifecycle of `verdict::lifecycle`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::SpanData;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Row, Statement, TransactionBehavior, params,
};
use verdict::lifecycle::{self, Records};
use verdict::wire::{Columns, body_json, from_columns};
use verdict::{
    Assessment, AssessmentId, AssessmentSink, AssessmentUpdate, FeedbackSummary, Operation,
    Outcome, Reason, SinkError, Target, mlflow_trace_id,
};

use crate::bulk::Batch;
use crate::checkpoint::{Checkpointer, WAL_CAP_PAGES};
use crate::error::{BUSY_TIMEOUT, Error, Result, database};
use crate::ops::OpKind;
use crate::runs::read::{Order, Packed, RunCache, row_order};
use crate::schema;
use crate::span::StoredSpan;
use crate::trace_spans;

/// Where [`LocalStore::open_default`] keeps its file, relative to the
/// current directory.
pub const DEFAULT_PATH: &str = ".verdict/verdict.db";

/// The page size of a new store file, in bytes.
const PAGE_SIZE: i64 = 16 * 1024;

/// Traces, spans and assessments in one SQLite file: Verdict's embedded
/// store, so that everything works with no server.
///
/// Assessments follow the lifecycle of [`verdict::lifecycle`] — log,
/// update, override, delete — and every list gives the same answer as
/// [`verdict::MemoryStore`] for the same operations. It is also an
/// [`AssessmentSink`], so a [`Recorder`](verdict::Recorder) can feed it.
///
/// Several processes and threads may write to the same file at once, each
/// with its own `LocalStore`: the file is in WAL mode, every write is one
/// transaction that takes the write lock up front, and a writer waits up to
/// ten seconds for another to finish before it reports
/// [`Error::Busy`]. Commits survive a crash of the process.
///
/// ```
/// use verdict::Assessment;
/// use verdict_store::LocalStore;
///
/// let dir = tempfile::tempdir()?;
/// let store = LocalStore::open(dir.path().join("verdict.db"))?;
/// let first = Assessment::feedback("ok", false).on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)?;
/// store.log(&first)?;
/// store.log(&Assessment::override_of(&first, true).on(first.target())?)?;
/// assert!(!store.get(first.trace_id(), first.id())?.is_valid());
/// assert_eq!(store.summary("ok")?.pass_rate(), Some(1.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LocalStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Started by the first bulk write (`crate::bulk`), which then leaves
    /// WAL checkpoints to it; `None` inside when it could not start.
    /// Whichever of the two connections closes last checkpoints what is
    /// left and removes the log, as SQLite does.
    checkpointer: OnceLock<Option<Checkpointer>>,
    /// Runs and the last block of packed records read.
    runs: Mutex<RunCache>,
}

impl fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// One trace the store knows, from its spans or its assessments.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TraceSummary {
    /// The trace.
    pub trace_id: TraceId,
    /// How many of its spans are stored.
    pub span_count: usize,
    /// How many assessments it has, valid or not.
    pub assessment_count: usize,
    /// When its earliest stored span started; `None` without spans.
    pub start_time: Option<SystemTime>,
    /// When its latest stored span ended; `None` without spans.
    pub end_time: Option<SystemTime>,
}

impl LocalStore {
    /// Opens the store at `path`, creating the file and its directory if
    /// they do not exist, and bringing an older schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags).map_err(|source| Error::Open {
            path: path.clone(),
            source: Box::new(source),
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| database(&path, "setting the lock timeout", e))?;
        // Another program's database is refused before anything below
        // changes it (the journal mode is a setting the file keeps): read
        // in one transaction, so that a schema another connection is
        // creating is seen whole or not at all.
        {
            let read = conn
                .transaction()
                .map_err(|e| database(&path, "reading the schema version", e))?;
            schema::check(&read, &path)?;
            read.commit()
                .map_err(|e| database(&path, "reading the schema version", e))?;
        }
        // A new file gets 16 KiB pages instead of SQLite's 4 KiB: a bulk
        // write (`crate::bulk`) then splits and writes a quarter as many
        // pages, in WAL frames and again at checkpoints (verdict eval over
        // 100,000 records: 3.4 s -> 2.5 s). An existing file keeps its own;
        // SQLite ignores the setting once the file has tables.
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(|e| database(&path, "setting the page size", e))?;
        // Pages freed by `delete_runs` can then be handed back to the file
        // system (`PRAGMA incremental_vacuum`) without rewriting the file.
        // Like the page size, it applies to a new file only.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(|e| database(&path, "setting incremental vacuum", e))?;
        // WAL lets readers go on while one writer commits. A file system
        // without shared memory refuses it; the rollback journal SQLite
        // keeps then is just as safe, only slower under contention.
        switch_to_wal(&conn, &path)?;
        // In WAL mode, NORMAL keeps the file consistent and every commit
        // survives a crash of the process; only a power loss can undo the
        // last commits.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| database(&path, "setting the sync mode", e))?;
        schema::migrate(&mut conn, &path)?;
        Ok(LocalStore {
            path,
            conn: Mutex::new(conn),
            checkpointer: OnceLock::new(),
            runs: Mutex::new(RunCache::default()),
        })
    }

    /// Opens an existing store to read it, wherever the file is readable:
    /// nothing is written to it or beside it, so a store in a read-only
    /// directory, on a read-only mount or owned by another user reads as
    /// well as any. Writing through it fails.
    ///
    /// A store in WAL mode keeps two files beside it while it is open
    /// (`-wal`, `-shm`); where they are gone (the last writer closed
    /// cleanly) and cannot be made (the directory is read-only), SQLite
    /// reads the file as immutable: which is what it is, since nobody can
    /// write there either.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open = |uri: bool| -> Result<Connection> {
            let opened = if uri {
                let mut name = String::from("file:");
                name.push_str(&uri_path(&path));
                name.push_str("?immutable=1");
                Connection::open_with_flags(name, flags | OpenFlags::SQLITE_OPEN_URI)
            } else {
                Connection::open_with_flags(&path, flags)
            };
            let conn = opened.map_err(|source| Error::Open {
                path: path.clone(),
                source: Box::new(source),
            })?;
            conn.busy_timeout(BUSY_TIMEOUT)
                .map_err(|e| database(&path, "setting the lock timeout", e))?;
            // The first read of the schema is where a WAL file that
            // cannot be opened shows.
            schema::check(&conn, &path)?;
            Ok(conn)
        };
        let conn = match open(false) {
            Ok(conn) => conn,
            Err(Error::Open { .. } | Error::Database { .. }) if !dir_writable(&path) => {
                // Read as immutable, only if no commit waits in the log:
                // the reader would not see it.
                let mut wal = path.as_os_str().to_owned();
                wal.push("-wal");
                if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                    return Err(Error::Run(format!(
                        "the local store {} cannot be read from here: its changes are still in \
                         {} and the directory is read-only, so SQLite cannot open that log; \
                         let its writer close the store, or read it where the directory is \
                         writable",
                        path.display(),
                        Path::new(&wal).display()
                    )));
                }
                open(true)?
            }
            Err(e) => return Err(e),
        };
        if schema::check(&conn, &path)? == 0 {
            return Err(Error::NotAStore {
                path,
                reason: "it is an empty database, with no Verdict schema".into(),
            });
        }
        Ok(LocalStore {
            path,
            conn: Mutex::new(conn),
            checkpointer: OnceLock::new(),
            runs: Mutex::new(RunCache::default()),
        })
    }

    /// Opens the store at [`DEFAULT_PATH`], `.verdict/verdict.db` under the
    /// current directory.
    pub fn open_default() -> Result<Self> {
        LocalStore::open(DEFAULT_PATH)
    }

    /// Checks the store's structure (SQLite's `PRAGMA quick_check`: every
    /// page, every B-tree, every record's format) and fails with what is
    /// wrong when the file is damaged. Its time grows with the file; a
    /// store of packed runs checks about 2 million records a run in a few
    /// tens of milliseconds.
    pub fn check_integrity(&self) -> Result<()> {
        let conn = self.lock();
        let db = |e| database(&self.path, "checking its integrity", e);
        let mut check = conn.prepare("PRAGMA quick_check(20)").map_err(db)?;
        let findings: Vec<String> = check
            .query_map([], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .map_err(db)?;
        if findings.len() == 1 && findings[0] == "ok" {
            return Ok(());
        }
        Err(Error::Damaged {
            path: self.path.clone(),
            findings,
        })
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version this build of Verdict writes.
    pub fn schema_version() -> i64 {
        schema::VERSION
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The packed runs, read through `conn` (this store's connection, or a
    /// transaction on it).
    pub(crate) fn packed<'c>(&'c self, conn: &'c Connection) -> Packed<'c> {
        Packed {
            conn,
            path: &self.path,
            cache: &self.runs,
        }
    }

    /// Forgets what was read of runs, after runs were deleted.
    pub(crate) fn forget_runs(&self) {
        *self.runs.lock().unwrap_or_else(PoisonError::into_inner) = RunCache::default();
    }

    /// Runs `f` in one write transaction, committed if `f` succeeds.
    pub(crate) fn write<T>(
        &self,
        action: impl Fn() -> String,
        f: impl FnOnce(&mut rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.lock();
        let mut tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| database(&self.path, action(), e))?;
        let out = f(&mut tx)?;
        tx.commit().map_err(|e| database(&self.path, action(), e))?;
        if let Some(Some(checkpointer)) = self.checkpointer.get() {
            checkpointer.restart_if_long(&conn);
            checkpointer.wake();
        }
        Ok(out)
    }

    /// Hands this connection's WAL checkpoints to a [`Checkpointer`]
    /// thread, once; nothing changes if the file is not in WAL mode or the
    /// thread cannot start.
    pub(crate) fn checkpoint_elsewhere(&self) {
        self.checkpointer.get_or_init(|| {
            let conn = self.lock();
            let wal = conn
                .pragma_query_value(None, "journal_mode", |row| row.get::<_, String>(0))
                .is_ok_and(|mode| mode.eq_ignore_ascii_case("wal"));
            if !wal {
                return None;
            }
            let checkpointer = Checkpointer::start(&self.path)?;
            conn.pragma_update(None, "wal_autocheckpoint", WAL_CAP_PAGES)
                .ok()?;
            Some(checkpointer)
        });
    }

    /// Runs one lifecycle function in a write transaction, and logs the
    /// operation (`crate::ops`) when it succeeds.
    fn lifecycle<T>(
        &self,
        action: impl Fn() -> String,
        op: (OpKind, TraceId, AssessmentId),
        f: impl FnOnce(&mut Rows<'_>) -> verdict::Result<T>,
    ) -> Result<T> {
        self.write(action, |tx| {
            let mut rows = Rows {
                packed: self.packed(tx),
            };
            let out = f(&mut rows).map_err(Error::from_core)?;
            rows.log_op(op)?;
            Ok(out)
        })
    }

    /// Logs an assessment; see [`lifecycle::log`].
    pub fn log(&self, assessment: &Assessment) -> Result<()> {
        self.lifecycle(
            || format!("logging assessment {}", assessment.id()),
            (OpKind::Log, assessment.trace_id(), assessment.id()),
            |rows| lifecycle::log(rows, assessment),
        )
    }

    /// Applies an update and returns the assessment as it now is; see
    /// [`lifecycle::update`].
    pub fn update(&self, update: &AssessmentUpdate) -> Result<Assessment> {
        self.lifecycle(
            || format!("updating assessment {}", update.assessment_id()),
            (OpKind::Update, update.trace_id(), update.assessment_id()),
            |rows| lifecycle::update(rows, update),
        )
    }

    /// Deletes an assessment, restoring the one it overrode; see
    /// [`lifecycle::delete`].
    pub fn delete(&self, trace_id: TraceId, id: AssessmentId) -> Result<()> {
        self.lifecycle(
            || format!("deleting assessment {id}"),
            (OpKind::Delete, trace_id, id),
            |rows| lifecycle::delete(rows, trace_id, id),
        )
    }

    /// Applies one recorded operation.
    pub fn apply(&self, operation: &Operation) -> Result<()> {
        self.lifecycle(
            || describe(operation),
            op_parts(operation),
            |rows| lifecycle::apply(rows, operation),
        )
    }

    /// The assessment with this id in this trace.
    pub fn get(&self, trace_id: TraceId, id: AssessmentId) -> Result<Assessment> {
        let conn = self.lock();
        let found = match read_one(&conn, &self.path, id)? {
            Some(a) => Some(a),
            None => self.packed(&conn).get(id)?,
        };
        found.filter(|a| a.trace_id() == trace_id).ok_or_else(|| {
            Error::Assessment(verdict::Error::NotFound {
                id: id.to_string(),
                trace_id: mlflow_trace_id(trace_id),
            })
        })
    }

    /// The assessments of a trace, valid and invalid, in the order logged.
    pub fn list_by_trace(&self, trace_id: TraceId) -> Result<Vec<Assessment>> {
        let conn = self.lock();
        let mut found = self.read_many(
            &conn,
            || format!("listing the assessments of {}", mlflow_trace_id(trace_id)),
            &format!("SELECT {ASSESSMENT}, seq FROM assessments WHERE trace_id = ?1"),
            trace_id.to_bytes(),
        )?;
        let packed = self.packed(&conn);
        for (meta, ordinal) in packed.records_of_trace(trace_id)? {
            found.extend(packed.assessments_of(&meta, ordinal)?);
        }
        found.sort_by_key(|(order, _)| *order);
        Ok(found.into_iter().map(|(_, a)| a).collect())
    }

    /// The assessments with this name across all traces, ordered by
    /// creation time, then by the order logged.
    pub fn list_by_name(&self, name: &str) -> Result<Vec<Assessment>> {
        let conn = self.lock();
        let mut found = self.read_many(
            &conn,
            || format!("listing the assessments named {name:?}"),
            &format!("SELECT {ASSESSMENT}, seq FROM assessments WHERE name = ?1"),
            name,
        )?;
        self.packed(&conn).each_assessment(|order, a| {
            if a.name().as_str() == name {
                found.push((order, a));
            }
            Ok(())
        })?;
        found
            .sort_by(|(x, a), (y, b)| a.create_time().cmp(&b.create_time()).then_with(|| x.cmp(y)));
        Ok(found.into_iter().map(|(_, a)| a).collect())
    }

    /// Summarizes the valid feedback named `name` across all traces.
    pub fn summary(&self, name: &str) -> Result<FeedbackSummary> {
        let feedback: Vec<Assessment> = self
            .list_by_name(name)?
            .into_iter()
            .filter(|a| a.kind() == verdict::Kind::Feedback)
            .collect();
        Ok(FeedbackSummary::of(name, &feedback))
    }

    /// How many assessments the store holds.
    pub fn count_assessments(&self) -> Result<usize> {
        let count: i64 = self
            .lock()
            .query_row(
                "SELECT (SELECT count(*) FROM assessments)
                      + (SELECT coalesce(sum(assessments), 0) FROM runs)
                      - (SELECT count(*) FROM run_edits WHERE deleted)",
                [],
                |row| row.get(0),
            )
            .map_err(|e| database(&self.path, "counting the assessments", e))?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// Rows of `assessments`, each with its place in the order logged: the
    /// query selects [`ASSESSMENT`] and then `seq`.
    fn read_many(
        &self,
        conn: &Connection,
        action: impl Fn() -> String,
        sql: &str,
        param: impl rusqlite::ToSql,
    ) -> Result<Vec<(Order, Assessment)>> {
        let db = |e| database(&self.path, action(), e);
        let mut statement = conn.prepare_cached(sql).map_err(db)?;
        let rows = statement
            .query_map([param], |row| {
                Ok((StoredRow::read(row)?, row.get::<_, i64>(9)?))
            })
            .map_err(db)?;
        let mut found = Vec::new();
        for row in rows {
            let (row, seq) = row.map_err(db)?;
            found.push((row_order(seq), row.decode(&self.path)?));
        }
        Ok(found)
    }

    /// Every trace the store knows — from spans or assessments, and the
    /// traces of evaluation runs — ordered by the start of its earliest
    /// span (or, without spans, by when the store first heard of it).
    pub fn list_traces(&self) -> Result<Vec<TraceSummary>> {
        let conn = self.lock();
        let mut traces = self.traces_with_rows(&conn)?;
        self.packed(&conn).merge_traces(&mut traces)?;
        Ok(sorted(traces))
    }

    /// The traces outside evaluation runs — those a service or a person
    /// recorded, or a run's record named — in the same order as
    /// [`list_traces`](Self::list_traces), without reading any run. Their
    /// counts are of the spans and assessments stored as rows: the
    /// assessments a run's record added to a trace it names are not
    /// counted.
    pub fn list_traces_outside_runs(&self) -> Result<Vec<TraceSummary>> {
        let conn = self.lock();
        Ok(sorted(self.traces_with_rows(&conn)?))
    }

    /// The traces of the `traces` table, each with the time it sorts by.
    fn traces_with_rows(&self, conn: &Connection) -> Result<Vec<(i64, TraceSummary)>> {
        let db = |e| database(&self.path, "listing the traces", e);
        let mut statement = conn
            .prepare_cached(
                "SELECT t.trace_id, CAST(total(s.span_count) AS INTEGER), min(s.start_time_ns),
                        max(s.end_time_ns),
                        (SELECT count(*) FROM assessments a WHERE a.trace_id = t.trace_id),
                        t.first_seen_ns
                 FROM traces t LEFT JOIN trace_spans s ON s.trace_id = t.trace_id
                 GROUP BY t.trace_id",
            )
            .map_err(db)?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, [u8; 16]>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, Option<i64>>(2)?,
                    row.get::<_, Option<i64>>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, i64>(5)?,
                ))
            })
            .map_err(db)?;
        let mut traces: Vec<(i64, TraceSummary)> = Vec::new();
        for row in rows {
            let (trace, spans, start, end, assessments, first_seen) = row.map_err(db)?;
            traces.push((
                start.unwrap_or(first_seen),
                TraceSummary {
                    trace_id: TraceId::from_bytes(trace),
                    span_count: usize::try_from(spans).unwrap_or(0),
                    assessment_count: usize::try_from(assessments).unwrap_or(0),
                    start_time: start.map(from_nanos),
                    end_time: end.map(from_nanos),
                },
            ));
        }
        Ok(traces)
    }

    /// Stores finished spans, all in one transaction. Storing a span again
    /// (same trace and span id) replaces it.
    pub fn put_spans(&self, spans: &[SpanData]) -> Result<()> {
        let mut batch = Batch::with_capacity(spans.len(), 0);
        for span in spans {
            batch.push_span(span);
        }
        self.put_span_batch(&batch)
    }

    /// Stores spans as the store keeps them (with their own resource, if
    /// they have one), all in one transaction. Storing a span again
    /// (same trace and span id) replaces it.
    pub fn put_stored_spans(&self, spans: &[StoredSpan]) -> Result<()> {
        let mut batch = Batch::with_capacity(spans.len(), 0);
        for span in spans {
            batch.push_stored_span(span);
        }
        self.put_span_batch(&batch)
    }

    /// A batch of spans alone, written as [`write_batch`](Self::write_batch)
    /// writes one, with the connection's page cache as it is.
    fn put_span_batch(&self, batch: &Batch) -> Result<()> {
        let action = || format!("storing {} spans", batch.len());
        self.write(action, |tx| self.write_batch_in(tx, batch, None))
    }

    /// The stored spans of a trace, by start time.
    pub fn spans_of(&self, trace_id: TraceId) -> Result<Vec<StoredSpan>> {
        let conn = self.lock();
        let mut spans = trace_spans::read(&conn, &self.path, trace_id)?;
        let packed = self.packed(&conn);
        let mut seen: std::collections::HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
        for (meta, ordinal) in packed.records_of_trace(trace_id)? {
            let (root, own) = packed.spans_of_record(&meta, ordinal)?;
            for span in root.into_iter().chain(own) {
                if span.trace_id == trace_id && seen.insert(span.span_id) {
                    spans.push(span);
                }
            }
        }
        spans.sort_by_key(|s| (s.start_time, s.span_id.to_bytes()));
        Ok(spans)
    }
}

/// Traces in the order they are listed: by the time each sorts by, then
/// by id.
fn sorted(mut traces: Vec<(i64, TraceSummary)>) -> Vec<TraceSummary> {
    traces.sort_by_key(|(at, t)| (*at, t.trace_id.to_bytes()));
    traces.into_iter().map(|(_, t)| t).collect()
}

/// A short description of an operation, for error messages.
/// What an operation changed, for the operation log.
fn op_parts(operation: &Operation) -> (OpKind, TraceId, AssessmentId) {
    let id = match operation {
        Operation::Log(a) => a.id(),
        Operation::Update(u) => u.assessment_id(),
        Operation::Delete { assessment_id, .. } => *assessment_id,
    };
    (OpKind::of(operation), operation.trace_id(), id)
}

fn describe(operation: &Operation) -> String {
    match operation {
        Operation::Log(a) => format!("logging assessment {}", a.id()),
        Operation::Update(u) => format!("updating assessment {}", u.assessment_id()),
        Operation::Delete { assessment_id, .. } => format!("deleting assessment {assessment_id}"),
    }
}

impl AssessmentSink for LocalStore {
    /// Applies the batch in one transaction. Operations the lifecycle
    /// refuses are reported together (with their count), and the others
    /// still apply; if the database itself fails, nothing of the batch is
    /// stored.
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        let mut refused = Vec::new();
        let applied = self.write(
            || format!("storing a batch of {} operations", batch.len()),
            |tx| {
                let mut applied = Vec::with_capacity(batch.len());
                refused.clear();
                for (at, operation) in batch.iter().enumerate() {
                    let savepoint = tx
                        .savepoint()
                        .map_err(|e| database(&self.path, describe(operation), e))?;
                    let result = lifecycle::apply(
                        &mut Rows {
                            packed: self.packed(&savepoint),
                        },
                        operation,
                    )
                    .map_err(Error::from_core);
                    match result {
                        Ok(()) => {
                            savepoint
                                .commit()
                                .map_err(|e| database(&self.path, describe(operation), e))?;
                            applied.push(op_parts(operation));
                        }
                        // Dropping the savepoint rolls it back.
                        Err(e) if e.is_refusal() => refused.push((at, e.to_string())),
                        Err(e) => return Err(e),
                    }
                }
                // Logged after the savepoints, in the same order and the
                // same transaction: inside them, every operation copied the
                // log's last page and the page of its sequence (16 KiB
                // each in a new store) to its savepoint's journal, which
                // made a recorder's batch cost about a tenth more.
                let rows = Rows {
                    packed: self.packed(tx),
                };
                let mut log = crate::ops::Log::new(tx, &self.path)?;
                for op in applied {
                    rows.log_op_with(&mut log, op)?;
                }
                Ok(())
            },
        );
        if let Err(e) = applied {
            // Nothing is stored; a database that failed may not fail the
            // next time.
            let why = Reason::from(format!(
                "the local store {} stored none of a batch of {} operations: {e}",
                self.path.display(),
                batch.len()
            ));
            return Err(SinkError::with_source(
                format!(
                    "the local store {} stored none of a batch of {} operations",
                    self.path.display(),
                    batch.len()
                ),
                e,
            )
            .with_outcomes(vec![Outcome::Deferred(why); batch.len()]));
        }
        if refused.is_empty() {
            return Ok(());
        }
        let message = format!(
            "{} of {} operations refused by the local store {}: {}",
            refused.len(),
            batch.len(),
            self.path.display(),
            refused
                .iter()
                .map(|(_, why)| why.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
        let mut outcomes = vec![Outcome::Delivered; batch.len()];
        for (at, why) in refused {
            outcomes[at] = Outcome::refused(why);
        }
        Err(SinkError::new(message).with_outcomes(outcomes))
    }

    fn name(&self) -> &str {
        "local-store"
    }
}

#[cfg(feature = "testing")]
impl verdict::testing::AssessmentStore for LocalStore {
    fn apply(&self, operation: &Operation) -> verdict::Result<()> {
        LocalStore::apply(self, operation).map_err(Error::into_core)
    }

    fn get(&self, trace_id: TraceId, id: AssessmentId) -> verdict::Result<Assessment> {
        LocalStore::get(self, trace_id, id).map_err(Error::into_core)
    }

    fn list_by_trace(&self, trace_id: TraceId) -> verdict::Result<Vec<Assessment>> {
        LocalStore::list_by_trace(self, trace_id).map_err(Error::into_core)
    }

    fn list_by_name(&self, name: &str) -> verdict::Result<Vec<Assessment>> {
        LocalStore::list_by_name(self, name).map_err(Error::into_core)
    }
}

/// The lifecycle's primitive reads and writes, inside a transaction: rows
/// of `assessments`, and packed assessments of runs, whose changes are
/// kept as edits.
pub(crate) struct Rows<'c> {
    pub(crate) packed: Packed<'c>,
}

impl Rows<'_> {
    fn get(&self, id: AssessmentId) -> Result<Option<Assessment>> {
        match read_one(self.packed.conn, self.packed.path, id)? {
            Some(a) => Ok(Some(a)),
            None => self.packed.get(id),
        }
    }

    fn put(&self, assessment: &Assessment) -> Result<()> {
        if self.packed.holds(assessment.id())? {
            return self.packed.put_edit(assessment);
        }
        put(self.packed.conn, self.packed.path, assessment)
    }

    fn remove(&self, id: AssessmentId) -> Result<()> {
        if self.packed.holds(id)? {
            return self.packed.delete(id);
        }
        self.packed
            .conn
            .prepare_cached("DELETE FROM assessments WHERE assessment_id = ?1")
            .and_then(|mut statement| statement.execute([id.to_u128().to_be_bytes()]))
            .map(drop)
            .map_err(|e| database(self.packed.path, format!("deleting assessment {id}"), e))
    }
}

impl Rows<'_> {
    /// Logs a lifecycle operation that succeeded, with the run whose trace
    /// it concerns, if any.
    fn log_op(&self, op: (OpKind, TraceId, AssessmentId)) -> Result<()> {
        self.log_op_with(
            &mut crate::ops::Log::new(self.packed.conn, self.packed.path)?,
            op,
        )
    }

    /// [`Rows::log_op`] with a statement prepared once for many.
    fn log_op_with(
        &self,
        log: &mut crate::ops::Log<'_>,
        (kind, trace, id): (OpKind, TraceId, AssessmentId),
    ) -> Result<()> {
        let (ids, _) = crate::runs::pack::ordinal_of_trace(trace);
        let run = match ids {
            0 => None,
            ids => self.packed.run_by_ids(ids)?.map(|meta| meta.run),
        };
        log.push(kind, Some(trace), Some(id), run, None)
    }
}

impl Records for Rows<'_> {
    fn get(&mut self, id: AssessmentId) -> verdict::Result<Option<Assessment>> {
        Rows::get(self, id).map_err(Error::into_core)
    }

    fn put(&mut self, assessment: &Assessment) -> verdict::Result<()> {
        Rows::put(self, assessment).map_err(Error::into_core)
    }

    fn remove(&mut self, id: AssessmentId) -> verdict::Result<()> {
        Rows::remove(self, id).map_err(Error::into_core)
    }
}

pub(crate) fn read_one(
    conn: &Connection,
    path: &Path,
    id: AssessmentId,
) -> Result<Option<Assessment>> {
    conn.prepare_cached(&format!(
        "SELECT {ASSESSMENT} FROM assessments WHERE assessment_id = ?1"
    ))
    .and_then(|mut statement| {
        statement
            .query_row([id.to_u128().to_be_bytes()], StoredRow::read)
            .optional()
    })
    .map_err(|e| database(path, format!("reading assessment {id}"), e))?
    .map(|row| row.decode(path))
    .transpose()
}

fn put(conn: &Connection, path: &Path, a: &Assessment) -> Result<()> {
    let mut statement = conn
        .prepare_cached(PUT_ROW)
        .map_err(|e| database(path, format!("storing assessment {}", a.id()), e))?;
    insert_row(&mut statement, path, &AssessmentRow::new(a))?;
    note_trace(conn, path, a.trace_id(), to_nanos(SystemTime::now()))
}

/// The columns [`StoredRow::read`] reads, in its order.
const ASSESSMENT: &str = "assessment_id, trace_id, span_id, name, valid, create_time_ns, \
                          last_update_time_ns, overrides, body";

/// One row of `assessments`, before it is checked.
struct StoredRow {
    id: Vec<u8>,
    trace: Vec<u8>,
    span: Option<Vec<u8>>,
    name: String,
    valid: bool,
    create_ns: i64,
    update_ns: i64,
    overrides: Option<Vec<u8>>,
    body: String,
}

impl StoredRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(StoredRow {
            id: row.get(0)?,
            trace: row.get(1)?,
            span: row.get(2)?,
            name: row.get(3)?,
            valid: row.get(4)?,
            create_ns: row.get(5)?,
            update_ns: row.get(6)?,
            overrides: row.get(7)?,
            body: row.get(8)?,
        })
    }

    fn decode(self, path: &Path) -> Result<Assessment> {
        let corrupt = |reason: String| Error::Corrupt {
            path: path.to_path_buf(),
            what: format!("assessment a-{}", hex(&self.id)),
            reason,
        };
        let id = |column: &str, bytes: &[u8]| {
            let bits = u128::from_be_bytes(fixed(column, bytes)?);
            AssessmentId::from_u128(bits).map_err(|e| e.to_string())
        };
        let columns = (|| {
            let trace_id = TraceId::from_bytes(fixed("trace_id", &self.trace)?);
            let target = match &self.span {
                None => Target::trace(trace_id),
                Some(span) => Target::span(trace_id, SpanId::from_bytes(fixed("span_id", span)?)),
            };
            Ok::<_, String>(Columns {
                id: id("assessment_id", &self.id)?,
                name: &self.name,
                target: target.map_err(|e| e.to_string())?,
                create_time: from_nanos(self.create_ns),
                last_update_time: from_nanos(self.update_ns),
                overrides: self
                    .overrides
                    .as_deref()
                    .map(|bytes| id("overrides", bytes))
                    .transpose()?,
                valid: self.valid,
            })
        })()
        .map_err(corrupt)?;
        from_columns(columns, &self.body).map_err(|e| corrupt(e.to_string()))
    }
}

/// An id column's bytes as the `N` bytes of its id.
fn fixed<const N: usize>(column: &str, bytes: &[u8]) -> std::result::Result<[u8; N], String> {
    bytes.try_into().map_err(|_| {
        format!(
            "{column} holds {} bytes ({}); an id there is {N}",
            bytes.len(),
            hex(bytes)
        )
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Stores or replaces an assessment's row. seq is the rowid: left out, it
/// is one past the largest.
pub(crate) const PUT_ROW: &str = "
    INSERT INTO assessments (assessment_id, trace_id, span_id, name, kind, valid,
        create_time_ns, last_update_time_ns, overrides, body)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
    ON CONFLICT (assessment_id) DO UPDATE SET
        trace_id = excluded.trace_id, span_id = excluded.span_id, name = excluded.name,
        kind = excluded.kind, valid = excluded.valid,
        create_time_ns = excluded.create_time_ns,
        last_update_time_ns = excluded.last_update_time_ns,
        overrides = excluded.overrides, body = excluded.body";

/// Notes a trace, once.
pub(crate) const NOTE_TRACE: &str = "
    INSERT INTO traces (trace_id, first_seen_ns) VALUES (?1, ?2)
    ON CONFLICT (trace_id) DO NOTHING";

/// An assessment as the values of its row, made ahead of the write (off
/// the writer's thread, in `crate::bulk`): two allocations, where the
/// assessment itself holds a dozen that are better freed by the thread
/// that made them.
#[derive(Debug)]
pub(crate) struct AssessmentRow {
    pub(crate) id: AssessmentId,
    pub(crate) target: Target,
    name: String,
    kind: &'static str,
    valid: bool,
    create_ns: i64,
    update_ns: i64,
    overrides: Option<AssessmentId>,
    body: String,
}

impl AssessmentRow {
    pub(crate) fn new(a: &Assessment) -> Self {
        AssessmentRow {
            id: a.id(),
            target: a.target(),
            name: a.name().as_str().to_owned(),
            kind: a.kind().as_str(),
            valid: a.is_valid(),
            create_ns: to_nanos(a.create_time()),
            update_ns: to_nanos(a.last_update_time()),
            overrides: a.overrides(),
            body: body_json(a),
        }
    }
}

/// Stores an assessment's row with a statement prepared from [`PUT_ROW`]
/// (a bulk write prepares it once); the caller notes its trace
/// ([`note_trace`]).
pub(crate) fn insert_row(
    statement: &mut Statement<'_>,
    path: &Path,
    row: &AssessmentRow,
) -> Result<()> {
    statement
        .execute(params![
            row.id.to_u128().to_be_bytes(),
            row.target.trace_id().to_bytes(),
            row.target.span_id().map(SpanId::to_bytes),
            row.name,
            row.kind,
            row.valid,
            row.create_ns,
            row.update_ns,
            row.overrides.map(|o| o.to_u128().to_be_bytes()),
            row.body,
        ])
        .map(drop)
        .map_err(|e| database(path, format!("storing assessment {}", row.id), e))
}

/// Records that the store has heard of a trace.
pub(crate) fn note_trace(conn: &Connection, path: &Path, trace: TraceId, now: i64) -> Result<()> {
    let mut statement = conn
        .prepare_cached(NOTE_TRACE)
        .map_err(|e| database(path, format!("recording trace {trace}"), e))?;
    insert_trace(&mut statement, path, trace, now)
}

/// Records a trace with a statement prepared from [`NOTE_TRACE`].
pub(crate) fn insert_trace(
    statement: &mut Statement<'_>,
    path: &Path,
    trace: TraceId,
    now: i64,
) -> Result<()> {
    statement
        .execute(params![trace.to_bytes(), now])
        .map(drop)
        .map_err(|e| database(path, format!("recording trace {trace}"), e))
}

/// Whether this process may create files in the directory of `path`.
#[cfg(unix)]
fn dir_writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let Ok(dir) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path, read by access(2) only.
    unsafe { libc::access(dir.as_ptr(), libc::W_OK) == 0 }
}

#[cfg(not(unix))]
fn dir_writable(_path: &Path) -> bool {
    true
}

/// A path as the path part of a SQLite `file:` URI: `%`, `?` and `#`
/// escaped, the rest as it is.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// Nanoseconds since the Unix epoch, negative before it, saturating past
/// the year 2262.
pub(crate) fn to_nanos(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

pub(crate) fn from_nanos(nanos: i64) -> SystemTime {
    let offset = Duration::from_nanos(nanos.unsigned_abs());
    let time = if nanos >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    };
    time.unwrap_or(UNIX_EPOCH)
}

/// Puts the file in WAL mode (a setting the file keeps). SQLite answers
/// "busy" at once, without waiting, when several connections switch a new
/// file at the same moment, so the switch is retried until the busy
/// timeout; a file already in WAL mode is left alone.
fn switch_to_wal(conn: &Connection, path: &Path) -> Result<()> {
    let mode = |conn: &Connection| -> rusqlite::Result<String> {
        conn.pragma_query_value(None, "journal_mode", |row| row.get(0))
    };
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        let result = mode(conn).and_then(|current| {
            if current.eq_ignore_ascii_case("wal") {
                Ok(current)
            } else {
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            }
        });
        match result {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(database(path, "switching to WAL mode", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_round_trip() {
        for nanos in [0, 1, -1, 1_700_000_000_123_456_789, -86_400_000_000_000] {
            assert_eq!(to_nanos(from_nanos(nanos)), nanos);
        }
    }
}
