//! The local store's tables and the migrations that build them.
//!
//! The schema version lives in SQLite's `PRAGMA user_version`; a Verdict
//! store is marked by `PRAGMA application_id`. Opening a store runs the
//! migrations it lacks, in one transaction, so a later Verdict evolves an
//! older file in place, and refuses a file written by a newer one.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result, database};

/// Marks a SQLite file as a Verdict store: "VRDT".
const APPLICATION_ID: i32 = 0x5652_4454;

/// Migration `i` moves the schema from version `i` to version `i + 1`.
/// Append new steps; never edit a released one.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

/// The schema version this build writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// Version 1. Ids are lowercase hex without prefixes; times are
/// nanoseconds since the Unix epoch. An assessment's MLflow JSON is the
/// record; the other columns are copies of its fields, for indexes.
const V1: &str = "
CREATE TABLE traces (
    trace_id      TEXT PRIMARY KEY NOT NULL,  -- 32 hex
    first_seen_ns INTEGER NOT NULL            -- when this store first heard of it
);

CREATE TABLE spans (
    trace_id       TEXT NOT NULL,             -- 32 hex
    span_id        TEXT NOT NULL,             -- 16 hex
    parent_span_id TEXT,                      -- 16 hex, NULL for a root span
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,             -- client, server, producer, consumer, internal
    start_time_ns  INTEGER NOT NULL,
    end_time_ns    INTEGER NOT NULL,
    status_code    TEXT NOT NULL,             -- unset, ok, error
    status_message TEXT,
    attributes     TEXT NOT NULL,             -- JSON object
    events         TEXT NOT NULL,             -- JSON array
    links          TEXT NOT NULL,             -- JSON array
    scope_name     TEXT NOT NULL,
    scope_version  TEXT,
    PRIMARY KEY (trace_id, span_id)
);

CREATE TABLE assessments (
    assessment_id       TEXT PRIMARY KEY NOT NULL,  -- a-<32 hex>
    seq                 INTEGER NOT NULL UNIQUE,    -- the order logged
    trace_id            TEXT NOT NULL,              -- 32 hex
    span_id             TEXT,                       -- 16 hex, NULL for the whole trace
    name                TEXT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('feedback', 'expectation')),
    valid               INTEGER NOT NULL,           -- 0 once overridden
    create_time_ns      INTEGER NOT NULL,
    last_update_time_ns INTEGER NOT NULL,
    overrides           TEXT,                       -- the overridden assessment id
    json                TEXT NOT NULL               -- Assessment::to_json
);
CREATE INDEX assessments_by_trace ON assessments (trace_id, seq);
CREATE INDEX assessments_by_name ON assessments (name, create_time_ns, seq);
";

/// Version 2: the spool of operations a sink could not deliver yet
/// (`crate::spool`), oldest first per sink.
const V2: &str = "
CREATE TABLE spool (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order spooled
    sink       TEXT NOT NULL,                      -- the sink's key: name and target
    operation  TEXT NOT NULL,                      -- the operation's JSONL line
    spooled_ns INTEGER NOT NULL
);
CREATE INDEX spool_by_sink ON spool (sink, seq);
";

/// Version 3: evaluation runs (`crate::runs`), one row per `verdict eval`
/// run with its summary, so that a later run can compare against it. The
/// run's feedback carries the run id in its metadata
/// (`mlflow.assessment.sourceRunId`), like MLflow's.
const V3: &str = "
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY NOT NULL,
    started_ns  INTEGER NOT NULL,
    finished_ns INTEGER NOT NULL,
    dataset     TEXT NOT NULL,              -- what was evaluated, as the user named it
    records     INTEGER NOT NULL,           -- records scored
    invalid     INTEGER NOT NULL,           -- records that could not be read
    passed      INTEGER NOT NULL,           -- 1 when every gate passed
    summary     TEXT NOT NULL               -- JSON: per-scorer statistics and gate verdicts
);
CREATE INDEX runs_by_start ON runs (started_ns);
";

/// Version 4: the same tables with fewer B-trees to update per row, for
/// bulk writes (`crate::bulk`): an evaluation run stores a span and four
/// assessments per record, and each B-tree is an insertion per row.
/// - `traces` and `spans` are `WITHOUT ROWID`, keyed by their ids: one
///   B-tree each instead of a rowid table plus the primary key's index.
/// - An assessment's `seq` is its rowid (`INTEGER PRIMARY KEY`), numbered
///   as before (one past the largest), which drops the index `UNIQUE`
///   kept on it; the id keeps its unique index. The other two indexes
///   end with the rowid anyway, so they no longer repeat `seq`.
///
/// The tables are copied, keeping every row and its `seq`.
const V4: &str = "
CREATE TABLE traces_v4 (
    trace_id      TEXT PRIMARY KEY NOT NULL,  -- 32 hex
    first_seen_ns INTEGER NOT NULL            -- when this store first heard of it
) WITHOUT ROWID;
INSERT INTO traces_v4 (trace_id, first_seen_ns) SELECT trace_id, first_seen_ns FROM traces;
DROP TABLE traces;
ALTER TABLE traces_v4 RENAME TO traces;

CREATE TABLE spans_v4 (
    trace_id       TEXT NOT NULL,             -- 32 hex
    span_id        TEXT NOT NULL,             -- 16 hex
    parent_span_id TEXT,                      -- 16 hex, NULL for a root span
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,             -- client, server, producer, consumer, internal
    start_time_ns  INTEGER NOT NULL,
    end_time_ns    INTEGER NOT NULL,
    status_code    TEXT NOT NULL,             -- unset, ok, error
    status_message TEXT,
    attributes     TEXT NOT NULL,             -- JSON object
    events         TEXT NOT NULL,             -- JSON array
    links          TEXT NOT NULL,             -- JSON array
    scope_name     TEXT NOT NULL,
    scope_version  TEXT,
    PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
INSERT INTO spans_v4 (trace_id, span_id, parent_span_id, name, kind, start_time_ns,
    end_time_ns, status_code, status_message, attributes, events, links, scope_name,
    scope_version)
SELECT trace_id, span_id, parent_span_id, name, kind, start_time_ns, end_time_ns,
    status_code, status_message, attributes, events, links, scope_name, scope_version
FROM spans;
DROP TABLE spans;
ALTER TABLE spans_v4 RENAME TO spans;

CREATE TABLE assessments_v4 (
    seq                 INTEGER PRIMARY KEY,        -- the order logged (the rowid)
    assessment_id       TEXT NOT NULL UNIQUE,       -- a-<32 hex>
    trace_id            TEXT NOT NULL,              -- 32 hex
    span_id             TEXT,                       -- 16 hex, NULL for the whole trace
    name                TEXT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('feedback', 'expectation')),
    valid               INTEGER NOT NULL,           -- 0 once overridden
    create_time_ns      INTEGER NOT NULL,
    last_update_time_ns INTEGER NOT NULL,
    overrides           TEXT,                       -- the overridden assessment id
    json                TEXT NOT NULL               -- Assessment::to_json
);
INSERT INTO assessments_v4 (seq, assessment_id, trace_id, span_id, name, kind, valid,
    create_time_ns, last_update_time_ns, overrides, json)
SELECT seq, assessment_id, trace_id, span_id, name, kind, valid, create_time_ns,
    last_update_time_ns, overrides, json
FROM assessments ORDER BY seq;
DROP TABLE assessments;
ALTER TABLE assessments_v4 RENAME TO assessments;
-- An index ends with the rowid, seq: (trace_id) orders a trace's
-- assessments by seq, (name, create_time_ns) breaks ties by seq.
CREATE INDEX assessments_by_trace ON assessments (trace_id);
CREATE INDEX assessments_by_name ON assessments (name, create_time_ns);
";

/// Version 5: smaller rows, for bulk writes again — each byte of a row is
/// written twice (to the WAL, then to the file at a checkpoint), and ids
/// are compared at every level of every index they key.
/// - Ids are BLOBs of their bits, big-endian, instead of lowercase hex:
///   16 bytes for a trace or an assessment (whose `a-` prefix is implied),
///   8 for a span. Order is the same as the hex's.
/// - An assessment's document (`body`) no longer repeats what its columns
///   hold: it is its MLflow JSON without `assessment_id`,
///   `assessment_name`, `trace_id`, `span_id`, `create_time`,
///   `last_update_time`, `overrides` and `valid` — `verdict::wire`'s
///   `body_json`, read back with `from_columns`. Times keep nanoseconds.
///
/// A store of `verdict eval` over 100,000 records shrinks from 335 MB to
/// about 190 MB. The tables are copied, keeping every row and its `seq`.
const V5: &str = "
CREATE TABLE traces_v5 (
    trace_id      BLOB PRIMARY KEY NOT NULL,  -- 16 bytes
    first_seen_ns INTEGER NOT NULL            -- when this store first heard of it
) WITHOUT ROWID;
INSERT INTO traces_v5 (trace_id, first_seen_ns)
SELECT unhex(trace_id), first_seen_ns FROM traces;
DROP TABLE traces;
ALTER TABLE traces_v5 RENAME TO traces;

CREATE TABLE spans_v5 (
    trace_id       BLOB NOT NULL,             -- 16 bytes
    span_id        BLOB NOT NULL,             -- 8 bytes
    parent_span_id BLOB,                      -- 8 bytes, NULL for a root span
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,             -- client, server, producer, consumer, internal
    start_time_ns  INTEGER NOT NULL,
    end_time_ns    INTEGER NOT NULL,
    status_code    TEXT NOT NULL,             -- unset, ok, error
    status_message TEXT,
    attributes     TEXT NOT NULL,             -- JSON object
    events         TEXT NOT NULL,             -- JSON array
    links          TEXT NOT NULL,             -- JSON array
    scope_name     TEXT NOT NULL,
    scope_version  TEXT,
    PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
INSERT INTO spans_v5 (trace_id, span_id, parent_span_id, name, kind, start_time_ns,
    end_time_ns, status_code, status_message, attributes, events, links, scope_name,
    scope_version)
SELECT unhex(trace_id), unhex(span_id), unhex(parent_span_id), name, kind, start_time_ns,
    end_time_ns, status_code, status_message, attributes, events, links, scope_name,
    scope_version
FROM spans;
DROP TABLE spans;
ALTER TABLE spans_v5 RENAME TO spans;

CREATE TABLE assessments_v5 (
    seq                 INTEGER PRIMARY KEY,        -- the order logged (the rowid)
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
INSERT INTO assessments_v5 (seq, assessment_id, trace_id, span_id, name, kind, valid,
    create_time_ns, last_update_time_ns, overrides, body)
SELECT seq, unhex(substr(assessment_id, 3)), unhex(trace_id), unhex(span_id), name, kind,
    valid, create_time_ns, last_update_time_ns, unhex(substr(overrides, 3)),
    json_remove(json, '$.assessment_id', '$.assessment_name', '$.trace_id', '$.span_id',
        '$.create_time', '$.last_update_time', '$.overrides', '$.valid')
FROM assessments ORDER BY seq;
DROP TABLE assessments;
ALTER TABLE assessments_v5 RENAME TO assessments;
CREATE INDEX assessments_by_trace ON assessments (trace_id);
CREATE INDEX assessments_by_name ON assessments (name, create_time_ns);
";

/// Brings the store at `path` to [`VERSION`], creating it if it is empty.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let db = |action: &str| {
        let action = action.to_owned();
        move |e| database(path, action, e)
    };
    // Most opens find the schema current: check without taking the write
    // lock, but in one read transaction, so that the version, the id and
    // the tables are read from one snapshot even while another connection
    // creates the schema (reading them apart made a half-seen creation look
    // like another program's database).
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
        .map_err(db("starting the schema migration"))?;
    let version = check(&tx, path)?;
    if version == 0 {
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(db("marking the file as a Verdict store"))?;
    }
    for (from, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(step)
            .map_err(db(&format!("migrating the schema from version {from}")))?;
    }
    tx.pragma_update(None, "user_version", VERSION)
        .map_err(db("recording the schema version"))?;
    tx.commit().map_err(db("committing the schema migration"))
}

/// The store's schema version, after checking that the file is a Verdict
/// store (or an empty database) this build can read.
fn check(conn: &Connection, path: &Path) -> Result<i64> {
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
    } else if application_id != APPLICATION_ID {
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
    Ok(version)
}
