//! Evaluation runs in the local store: one row per run with its summary,
//! so that a later run can be compared against it.

use std::time::SystemTime;

use rusqlite::{OptionalExtension, Row, params};

use crate::error::{Error, Result, database};
use crate::store::{LocalStore, from_nanos, to_nanos};

/// One evaluation run as the store keeps it.
///
/// The summary is the evaluator's own JSON (per-scorer statistics, gate
/// verdicts); the store keeps it as it is.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRun {
    /// The run's id; its feedback carries it as its run id.
    pub run_id: String,
    /// When it started.
    pub started: SystemTime,
    /// When it finished.
    pub finished: SystemTime,
    /// What was evaluated, as the user named it (a file path).
    pub dataset: String,
    /// How many records were scored.
    pub records: u64,
    /// How many records could not be read.
    pub invalid: u64,
    /// Whether every gate passed.
    pub passed: bool,
    /// The summary, as JSON.
    pub summary: serde_json::Value,
}

const COLUMNS: &str = "run_id, started_ns, finished_ns, dataset, records, invalid, passed, summary";

impl LocalStore {
    /// Stores a run; storing a run with the same id again replaces it.
    pub fn put_run(&self, run: &StoredRun) -> Result<()> {
        let action = || format!("storing run {}", run.run_id);
        self.write(action, |tx| {
            tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO runs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))
            .and_then(|mut insert| {
                insert.execute(params![
                    run.run_id,
                    to_nanos(run.started),
                    to_nanos(run.finished),
                    run.dataset,
                    i64::try_from(run.records).unwrap_or(i64::MAX),
                    i64::try_from(run.invalid).unwrap_or(i64::MAX),
                    run.passed,
                    run.summary.to_string(),
                ])
            })
            .map(drop)
            .map_err(|e| database(self.path(), action(), e))
        })
    }

    /// Every stored run, newest first.
    pub fn runs(&self) -> Result<Vec<StoredRun>> {
        let conn = self.lock();
        let db = |e| database(self.path(), "listing the runs", e);
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM runs ORDER BY started_ns DESC, run_id"
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
            .prepare_cached(&format!("SELECT {COLUMNS} FROM runs WHERE run_id = ?1"))
            .and_then(|mut select| select.query_row([run_id], RunRow::read).optional())
            .map_err(|e| database(self.path(), format!("reading run {run_id}"), e))?;
        row.map(|row| row.decode(self)).transpose()
    }
}

/// One row of `runs`, before its summary is parsed.
struct RunRow {
    run_id: String,
    started: i64,
    finished: i64,
    dataset: String,
    records: i64,
    invalid: i64,
    passed: bool,
    summary: String,
}

impl RunRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RunRow {
            run_id: row.get(0)?,
            started: row.get(1)?,
            finished: row.get(2)?,
            dataset: row.get(3)?,
            records: row.get(4)?,
            invalid: row.get(5)?,
            passed: row.get(6)?,
            summary: row.get(7)?,
        })
    }

    fn decode(self, store: &LocalStore) -> Result<StoredRun> {
        let summary = serde_json::from_str(&self.summary).map_err(|e| Error::Corrupt {
            path: store.path().to_path_buf(),
            what: format!("the summary of run {}", self.run_id),
            reason: e.to_string(),
        })?;
        Ok(StoredRun {
            run_id: self.run_id,
            started: from_nanos(self.started),
            finished: from_nanos(self.finished),
            dataset: self.dataset,
            records: u64::try_from(self.records).unwrap_or(0),
            invalid: u64::try_from(self.invalid).unwrap_or(0),
            passed: self.passed,
            summary,
        })
    }
}
