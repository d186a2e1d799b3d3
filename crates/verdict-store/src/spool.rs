//! The spool: lines a network sink could not deliver yet, kept per sink
//! key in the order spooled, until they are delivered. What a line holds
//! (an operation, a span) is the delivery layer's; the store keeps text.

use std::time::SystemTime;

use rusqlite::params;

use crate::error::{Result, database};
use crate::store::{LocalStore, to_nanos};

/// One spooled line and its place in the spool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spooled {
    /// Its place: lines are read back in this order.
    pub seq: i64,
    /// The line as it was spooled.
    pub line: String,
}

impl LocalStore {
    /// Appends lines under the sink `key`, in one transaction; returns how
    /// many.
    pub fn spool(&self, key: &str, lines: impl IntoIterator<Item = String>) -> Result<usize> {
        let action = || "spooling operations".to_owned();
        let now = to_nanos(SystemTime::now());
        self.write(action, |tx| {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO spool (sink, operation, spooled_ns) VALUES (?1, ?2, ?3)",
                )
                .map_err(|e| database(self.path(), action(), e))?;
            let mut count = 0;
            for line in lines {
                insert
                    .execute(params![key, line, now])
                    .map_err(|e| database(self.path(), action(), e))?;
                count += 1;
            }
            Ok(count)
        })
    }

    /// How many lines wait under `key`.
    pub fn spool_len(&self, key: &str) -> Result<usize> {
        let count: i64 = self
            .lock()
            .query_row("SELECT count(*) FROM spool WHERE sink = ?1", [key], |row| {
                row.get(0)
            })
            .map_err(|e| database(self.path(), "counting the spooled operations", e))?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// How many lines wait under each key that has some, by key: the
    /// spool's depth per sink, as `verdict store` would show it.
    pub fn spool_depths(&self) -> Result<Vec<(String, usize)>> {
        let conn = self.lock();
        let db = |e| database(self.path(), "counting the spooled operations", e);
        let mut statement = conn
            .prepare_cached("SELECT sink, count(*) FROM spool GROUP BY sink ORDER BY sink")
            .map_err(db)?;
        let rows = statement
            .query_map([], |row| {
                let count: i64 = row.get(1)?;
                Ok((row.get(0)?, usize::try_from(count).unwrap_or(0)))
            })
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    /// The oldest `limit` lines under `key` (all of them with `None`); with
    /// `spans_only`, only the span lines (`"type": "span"`).
    pub fn spooled(
        &self,
        key: &str,
        limit: Option<usize>,
        spans_only: bool,
    ) -> Result<Vec<Spooled>> {
        let conn = self.lock();
        let db = |e| database(self.path(), "reading the spool", e);
        let mut statement = conn
            .prepare_cached(if spans_only {
                "SELECT seq, operation FROM spool WHERE sink = ?1 AND CASE WHEN \
                 json_valid(operation) THEN json_extract(operation, '$.type') END = 'span' \
                 ORDER BY seq LIMIT ?2"
            } else {
                "SELECT seq, operation FROM spool WHERE sink = ?1 ORDER BY seq LIMIT ?2"
            })
            .map_err(db)?;
        let limit = limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let rows = statement
            .query_map(params![key, limit], |row| {
                Ok(Spooled {
                    seq: row.get(0)?,
                    line: row.get(1)?,
                })
            })
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    /// Removes delivered lines, in one transaction.
    pub fn unspool(&self, seqs: &[i64]) -> Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let action = || "removing delivered operations from the spool".to_owned();
        self.write(action, |tx| {
            let mut delete = tx
                .prepare_cached("DELETE FROM spool WHERE seq = ?1")
                .map_err(|e| database(self.path(), action(), e))?;
            for seq in seqs {
                delete
                    .execute([seq])
                    .map_err(|e| database(self.path(), action(), e))?;
            }
            Ok(())
        })
    }
}
