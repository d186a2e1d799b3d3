//! The local store's tables.
//!
//! A Verdict store is marked by `PRAGMA application_id` and carries its
//! schema version in `PRAGMA user_version`. Nothing has been released, so
//! there is one version and no migration: a file with another version is
//! refused with a sentence (a newer one was written by a newer Verdict; an
//! older one by a development build, whose store is to be started over).
//!
//! Two kinds of rows hold assessments:
//!
//! - **One row per assessment** (`assessments`, with `trace_spans` and `traces`):
//!   what services record and people review, one at a time, each with its
//!   indexes. The lifecycle (update, override, delete) writes these rows.
//! - **Packed runs** (`runs`, `run_blocks`, `run_traces`, `run_edits`):
//!   what `verdict eval` writes, 100,000 records at a time. A record's
//!   inputs, outputs, expectations, every scorer's result and the spans
//!   the system under test made in its trace are a few bytes in a
//!   compressed block of records (`crate::runs::pack`); its
//!   trace id, root span id and assessment ids are derived from the run's
//!   `ids` and the record's ordinal, so that no index holds them. A read
//!   puts the assessments and root spans back together, the same as rows
//!   would give. A change to a packed assessment (a person overrides a
//!   scorer's feedback, deletes it) is a row of `run_edits`, read on top.
//!
//! The alternative, one row per assessment for runs too, costs about five
//! index entries and a JSON document per scorer per record — about 2 KB
//! per record and run — and bounds `verdict eval` by SQLite's inserts.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result, database};

/// Marks a SQLite file as a Verdict store: "VRDT".
const APPLICATION_ID: i32 = 0x5652_4454;

/// The schema version this build writes and reads: the date its shape
/// was fixed, as YYYYMMDD, and that day's revision, so that versions only
/// grow.
pub(crate) const VERSION: i64 = 2026120801;

/// The schema. Ids are BLOBs of their bits, big-endian (16 bytes for a
/// trace or an assessment, whose `a-` prefix is implied; 8 for a span), so
/// that their order is the hex's; times are nanoseconds since the Unix
/// epoch.
const SCHEMA: &str = "
CREATE TABLE traces (
    trace_id      BLOB PRIMARY KEY NOT NULL,  -- 16 bytes
    first_seen_ns INTEGER NOT NULL            -- when this store first heard of it
) WITHOUT ROWID;

-- The spans of each trace outside runs, packed in a few chunks, a row
-- each (crate::trace_spans); a span stored again replaces the one with
-- its id, found by the ids. A run's own spans are in its blocks.
CREATE TABLE trace_spans (
    trace_id      BLOB NOT NULL,              -- 16 bytes
    chunk         INTEGER NOT NULL,           -- 0, 1, ... in the order written
    span_count    INTEGER NOT NULL,
    start_time_ns INTEGER NOT NULL,           -- the chunk's earliest start
    end_time_ns   INTEGER NOT NULL,           -- and latest end
    ids           BLOB NOT NULL,              -- its spans' ids, 8 bytes each, sorted
    spans         BLOB NOT NULL,              -- LZ4, the spans as a run's block holds a record's
    PRIMARY KEY (trace_id, chunk)
);

-- One row per assessment. Its document (body) is its MLflow JSON without
-- what the columns hold: verdict::wire::body_json, read back with
-- from_columns.
CREATE TABLE assessments (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order logged (the rowid),
                                                -- never reused: a run's block sorts after
                                                -- the rows before it, whatever is deleted
    assessment_id       BLOB NOT NULL UNIQUE,       -- 16 bytes: a-<32 hex>
    trace_id            BLOB NOT NULL,              -- 16 bytes
    span_id             BLOB,                       -- 8 bytes, NULL for the whole trace
    name                TEXT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('feedback', 'expectation')),
    valid               INTEGER NOT NULL,           -- 0 once overridden
    create_time_ns      INTEGER NOT NULL,
    last_update_time_ns INTEGER NOT NULL,
    overrides           BLOB,                       -- 16 bytes: the overridden assessment
    body                TEXT NOT NULL               -- JSON: verdict::wire::body_json
);
-- An index ends with the rowid, seq: (trace_id) orders a trace's
-- assessments by seq, (name, create_time_ns) breaks ties by seq.
CREATE INDEX assessments_by_trace ON assessments (trace_id);
CREATE INDEX assessments_by_name ON assessments (name, create_time_ns);

-- What a network sink could not deliver yet (crate::spool), oldest first
-- per sink.
CREATE TABLE spool (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order spooled
    sink       TEXT NOT NULL,                      -- the sink's key: name and target
    trace_id   BLOB NOT NULL,                      -- 16 bytes: the trace the line is of
    span       INTEGER NOT NULL,                   -- 1 for a span, 0 for an operation
    line       TEXT NOT NULL,                      -- the span's or the operation's JSONL line
    spooled_ns INTEGER NOT NULL
);
CREATE INDEX spool_by_sink ON spool (sink, seq);
-- Which traces wait, per sink: an export looks up the traces of its batch
-- (which go behind what waits of them), at a cost that does not grow with
-- what waits.
CREATE INDEX spool_by_trace ON spool (sink, trace_id, seq);
-- The spans that wait, which a replay sends first.
CREATE INDEX spool_spans ON spool (sink, seq) WHERE span = 1;

-- The operation log (crate::ops): every change, in order, so that each
-- destination is sent exactly what it has not seen, deletes included.
CREATE TABLE ops (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order made, never reused
    kind          TEXT NOT NULL CHECK (kind IN ('log', 'update', 'delete', 'spans', 'block')),
    trace_id      BLOB,                     -- 16 bytes; NULL for a block
    assessment_id BLOB,                     -- 16 bytes, for log, update and delete
    run           INTEGER,                  -- the run whose records it changed, if any
    block         INTEGER                   -- for a block: run_blocks.block
);
CREATE INDEX ops_by_run ON ops (run) WHERE run IS NOT NULL;

-- Where operations were pushed, one row per destination: every op up to
-- `through` was delivered there unless `op_state` says it was refused.
CREATE TABLE destinations (
    dest    INTEGER PRIMARY KEY AUTOINCREMENT,
    key     TEXT NOT NULL UNIQUE,           -- the destination's kind and address
    through INTEGER NOT NULL                -- ops.seq
);

-- Exceptions to a destination's `through`: an op up to it that was
-- refused (and why), or an op past it already delivered (a run pushed on
-- its own, an evaluation's export).
CREATE TABLE op_state (
    dest      INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    delivered INTEGER NOT NULL,
    reason    TEXT,                         -- why it was refused
    PRIMARY KEY (dest, seq)
) WITHOUT ROWID;

-- Evaluation runs (crate::runs): one row from the moment a run starts, so
-- that a run that is killed is still listed with what it stored.
CREATE TABLE runs (
    run          INTEGER PRIMARY KEY AUTOINCREMENT,  -- this store's number for it, never
                                                     -- reused, so nothing of a deleted run is
                                                     -- ever read as another's
    run_id       TEXT NOT NULL UNIQUE,       -- run-<12 hex>
    ids          INTEGER NOT NULL UNIQUE,    -- the high 64 bits of its trace and assessment ids
    status       TEXT NOT NULL CHECK (status IN
                     ('running', 'passed', 'failed', 'stopped', 'interrupted')),
    pid          INTEGER,                    -- while running: its process,
    pid_start    INTEGER,                    -- when that process started,
    runner       TEXT,                       -- the machine and process namespace it runs in,
    heartbeat_ns INTEGER,                    -- and when it last said it was alive
    started_ns   INTEGER NOT NULL,
    finished_ns  INTEGER,
    dataset      TEXT NOT NULL,              -- what was evaluated, as the user named it
    dataset_key  TEXT,                       -- the same, resolved (an absolute path), when it
                                             -- is a file: what --baseline latest matches
    baseline     TEXT,                       -- the run it compares against, if any
    records      INTEGER NOT NULL,           -- records stored
    invalid      INTEGER NOT NULL,           -- records that could not be read
    assessments  INTEGER NOT NULL,           -- assessments its records hold
    header       TEXT NOT NULL,              -- JSON: its root spans' scope; each scorer's feedback
                                             -- name, source and metadata
    summary      TEXT,                       -- JSON: the evaluator's summary, once finished
    reason       TEXT                        -- why it stopped, or what interrupted it
);
CREATE INDEX runs_by_start ON runs (started_ns);

-- A run's records, a block at a time (crate::runs::pack), compressed.
-- block = run << 40 | the ordinal of its first record.
CREATE TABLE run_blocks (
    block    INTEGER PRIMARY KEY,
    count    INTEGER NOT NULL,      -- records in it
    time_ns  INTEGER NOT NULL,      -- when its assessments were made
    seq_mark INTEGER NOT NULL,      -- assessments.seq when it was written: in the order
                                    -- logged, its assessments come after those rows
    data     BLOB NOT NULL
);

-- Records that name their own trace (the others' trace ids are derived).
CREATE TABLE run_traces (
    trace_id BLOB NOT NULL,         -- 16 bytes
    run      INTEGER NOT NULL,
    ordinal  INTEGER NOT NULL,
    PRIMARY KEY (trace_id, run, ordinal)
) WITHOUT ROWID;

-- Packed assessments changed since (an update, marked invalid by an
-- override, deleted): the assessment as it now is, or deleted.
CREATE TABLE run_edits (
    assessment_id       BLOB PRIMARY KEY NOT NULL,  -- 16 bytes
    deleted             INTEGER NOT NULL,
    name                TEXT,
    valid               INTEGER,
    last_update_time_ns INTEGER,
    body                TEXT                        -- JSON: verdict::wire::body_json
) WITHOUT ROWID;
";

/// Makes the schema in an empty file, or checks that the file holds this
/// version's.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let db = |action: &str| {
        let action = action.to_owned();
        move |e| database(path, action, e)
    };
    // Most opens find the schema current: check without taking the write
    // lock, but in one read transaction, so that the version, the id and
    // the tables are read from one snapshot even while another connection
    // creates the schema.
    let read = conn
        .transaction()
        .map_err(db("reading the schema version"))?;
    let current = check(&read, path)?;
    read.commit().map_err(db("reading the schema version"))?;
    if current == VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("creating the schema"))?;
    if check(&tx, path)? == VERSION {
        return Ok(());
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(db("marking the file as a Verdict store"))?;
    tx.execute_batch(SCHEMA)
        .map_err(db("creating the schema"))?;
    tx.pragma_update(None, "user_version", VERSION)
        .map_err(db("recording the schema version"))?;
    tx.commit().map_err(db("committing the schema"))
}

/// The store's schema version — 0 for an empty file — after checking that
/// the file is a Verdict store this build can read.
pub(crate) fn check(conn: &Connection, path: &Path) -> Result<i64> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| database(path, "reading the schema version", e))?;
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(|e| database(path, "reading the application id", e))?;
    if version == 0 {
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
                [],
                |row| row.get(0),
            )
            .map_err(|e| database(path, "listing the tables", e))?;
        if tables > 0 || (application_id != 0 && application_id != APPLICATION_ID) {
            return Err(Error::NotAStore {
                path: path.to_path_buf(),
                reason: "it is the SQLite database of another program (it holds tables of its \
                         own and no Verdict schema version)"
                    .into(),
            });
        }
        return Ok(0);
    }
    if application_id != APPLICATION_ID {
        return Err(Error::NotAStore {
            path: path.to_path_buf(),
            reason: format!(
                "it is the SQLite database of another program (application id {application_id:#x}, \
                 Verdict's is {APPLICATION_ID:#x})"
            ),
        });
    }
    if version > VERSION {
        return Err(Error::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            supported: VERSION,
        });
    }
    if version < VERSION {
        return Err(Error::NotAStore {
            path: path.to_path_buf(),
            reason: format!(
                "it was written by a development build of Verdict (schema version {version}, \
                 older than this build's {VERSION})"
            ),
        });
    }
    Ok(version)
}
