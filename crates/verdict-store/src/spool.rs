//! The spool: lines a network sink could not deliver yet, kept per sink
//! key in the order spooled, until they are delivered. What a line holds
//! (an operation, a span) is the delivery layer's; the store keeps its
//! text, the trace it is of and whether it is a span.
//!
//! The decision: **the waiting traces are an index, not a read of the
//! spool.** Each line carries its trace id in a column indexed by sink and
//! trace, so that "does anything of these traces wait?" — which every
//! export asks while something waits, to keep each trace's order — costs a
//! lookup per trace of the batch, whatever the backlog; every write pays
//! for the index. The alternative rejected, reading and decoding every
//! waiting line to find their traces, costs each export in proportion to
//! the backlog, exactly while a receiver is down or catching up.

use std::collections::HashSet;
use std::time::SystemTime;

use opentelemetry::trace::TraceId;
use rusqlite::{OptionalExtension as _, params};

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

/// A line to spool: its text, the trace it is of, and whether it is a
/// span (spans are read apart, [`LocalStore::spooled`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolLine {
    /// The trace the line is of.
    pub trace_id: TraceId,
    /// Whether it is a span; otherwise an operation.
    pub span: bool,
    /// The line.
    pub line: String,
}

/// The youngest place a waiting line can have: "older than this" means
/// any line.
const ANY: i64 = i64::MAX;

impl LocalStore {
    /// Appends lines under the sink `key`, in one transaction; returns
    /// their places, in order.
    pub fn spool(&self, key: &str, lines: impl IntoIterator<Item = SpoolLine>) -> Result<Vec<i64>> {
        let action = || "spooling operations".to_owned();
        let now = to_nanos(SystemTime::now());
        self.write(action, |tx| {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO spool (sink, trace_id, span, line, spooled_ns) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| database(self.path(), action(), e))?;
            let mut seqs = Vec::new();
            for SpoolLine {
                trace_id,
                span,
                line,
            } in lines
            {
                seqs.push(
                    insert
                        .insert(params![key, trace_id.to_bytes(), span, line, now])
                        .map_err(|e| database(self.path(), action(), e))?,
                );
            }
            Ok(seqs)
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

    /// Whether any line waits under `key` (one placed before `before`,
    /// with `Some`): one index lookup, where [`spool_len`](Self::spool_len)
    /// counts them all.
    pub fn spool_waits(&self, key: &str, before: Option<i64>) -> Result<bool> {
        self.lock()
            .prepare_cached("SELECT 1 FROM spool WHERE sink = ?1 AND seq < ?2 LIMIT 1")
            .and_then(|mut s| {
                s.query_row(params![key, before.unwrap_or(ANY)], |_| Ok(()))
                    .optional()
            })
            .map(|found| found.is_some())
            .map_err(|e| database(self.path(), "reading the spool", e))
    }

    /// Which of `traces` have lines waiting under `key` (placed before
    /// `before`, with `Some`): one index lookup per distinct trace, so its
    /// cost is that of the batch asking, not of the backlog.
    pub fn spool_waiting(
        &self,
        key: &str,
        traces: impl IntoIterator<Item = TraceId>,
        before: Option<i64>,
    ) -> Result<HashSet<TraceId>> {
        let conn = self.lock();
        let db = |e| database(self.path(), "reading the spool", e);
        let mut lookup = conn
            .prepare_cached(
                "SELECT 1 FROM spool WHERE sink = ?1 AND trace_id = ?2 AND seq < ?3 LIMIT 1",
            )
            .map_err(db)?;
        let before = before.unwrap_or(ANY);
        let mut asked = HashSet::new();
        let mut waiting = HashSet::new();
        for trace in traces {
            if !asked.insert(trace) {
                continue;
            }
            let found = lookup
                .query_row(params![key, trace.to_bytes(), before], |_| Ok(()))
                .optional()
                .map_err(db)?;
            if found.is_some() {
                waiting.insert(trace);
            }
        }
        Ok(waiting)
    }

    /// Which of the places `seqs` still hold a line under `key` (the
    /// others were delivered, or dropped, since).
    pub fn still_spooled(&self, key: &str, seqs: &[i64]) -> Result<HashSet<i64>> {
        let (Some(&low), Some(&high)) = (seqs.iter().min(), seqs.iter().max()) else {
            return Ok(HashSet::new());
        };
        let conn = self.lock();
        let db = |e| database(self.path(), "reading the spool", e);
        let mut select = conn
            .prepare_cached("SELECT seq FROM spool WHERE seq BETWEEN ?1 AND ?2 AND sink = ?3")
            .map_err(db)?;
        let asked: HashSet<i64> = seqs.iter().copied().collect();
        let rows = select
            .query_map(params![low, high, key], |row| row.get::<_, i64>(0))
            .map_err(db)?;
        let mut still = HashSet::new();
        for seq in rows {
            let seq = seq.map_err(db)?;
            if asked.contains(&seq) {
                still.insert(seq);
            }
        }
        Ok(still)
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
    /// `spans_only`, only the span lines.
    pub fn spooled(
        &self,
        key: &str,
        limit: Option<usize>,
        spans_only: bool,
    ) -> Result<Vec<Spooled>> {
        self.spooled_before(key, None, limit, spans_only)
    }

    /// As [`spooled`](Self::spooled), of the lines placed before `before`
    /// only, with `Some`.
    pub fn spooled_before(
        &self,
        key: &str,
        before: Option<i64>,
        limit: Option<usize>,
        spans_only: bool,
    ) -> Result<Vec<Spooled>> {
        let conn = self.lock();
        let db = |e| database(self.path(), "reading the spool", e);
        let mut statement = conn
            .prepare_cached(if spans_only {
                "SELECT seq, line FROM spool WHERE sink = ?1 AND span = 1 AND seq < ?3 \
                 ORDER BY seq LIMIT ?2"
            } else {
                "SELECT seq, line FROM spool WHERE sink = ?1 AND seq < ?3 ORDER BY seq LIMIT ?2"
            })
            .map_err(db)?;
        let limit = limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let rows = statement
            .query_map(params![key, limit, before.unwrap_or(ANY)], |row| {
                Ok(Spooled {
                    seq: row.get(0)?,
                    line: row.get(1)?,
                })
            })
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    /// Removes delivered lines, in one transaction: a statement per run of
    /// consecutive places (a batch spooled together and delivered whole is
    /// one).
    pub fn unspool(&self, seqs: &[i64]) -> Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut sorted = seqs.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let action = || "removing delivered operations from the spool".to_owned();
        self.write(action, |tx| {
            let mut delete = tx
                .prepare_cached("DELETE FROM spool WHERE seq BETWEEN ?1 AND ?2")
                .map_err(|e| database(self.path(), action(), e))?;
            for run in sorted.chunk_by(|a, b| b - a == 1) {
                delete
                    .execute([run[0], run[run.len() - 1]])
                    .map_err(|e| database(self.path(), action(), e))?;
            }
            Ok(())
        })
    }
}
