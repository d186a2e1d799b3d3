//! The operation log: every change to the store, in the order made, and
//! per destination which of them it was sent.
//!
//! A change is logged by what it touched, not by a copy of it: an
//! assessment logged, updated or deleted (its id), a trace's spans stored
//! (the trace), a block of a run's records written (the block). What is
//! sent for it is read from the store when it is sent, as the thing now
//! is: an assessment logged and updated before a destination saw either is
//! sent once, as it is now; one logged and deleted before it was sent is
//! not sent at all; one a destination holds and that was deleted since is
//! sent as a delete. So the log costs a small row per change, and a
//! destination that was down for a day receives the day's net changes.
//!
//! The alternative, keeping each operation's full text (as the spool
//! does), doubles what a service's assessment costs on disk and replays
//! every intermediate version.
//!
//! Each destination has a row (`destinations`) with `through`: every
//! operation up to it was delivered there, except those `op_state` lists
//! as refused; an operation past it is unseen, except those `op_state`
//! lists as delivered (a run pushed on its own, an evaluation's export).
//! Deleting a run (`verdict prune`, `verdict runs rm`) removes its
//! operations: a destination keeps what it was sent, and is never sent a
//! delete for it.

use std::path::Path;

use opentelemetry::trace::TraceId;
use rusqlite::{Connection, OptionalExtension, params};
use verdict::{Assessment, AssessmentId, Operation};

use crate::error::{Result, database};
use crate::runs::pack;
use crate::span::StoredSpan;
use crate::store::LocalStore;

/// What a logged operation changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpKind {
    /// An assessment was logged.
    Log,
    /// An assessment was changed (an update, or marked invalid or valid
    /// again by an override and its removal).
    Update,
    /// An assessment was deleted.
    Delete,
    /// Spans of a trace were stored.
    Spans,
    /// A block of a run's records was written.
    Block,
}

impl OpKind {
    fn as_str(self) -> &'static str {
        match self {
            OpKind::Log => "log",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
            OpKind::Spans => "spans",
            OpKind::Block => "block",
        }
    }

    fn parse(text: &str) -> Option<OpKind> {
        Some(match text {
            "log" => OpKind::Log,
            "update" => OpKind::Update,
            "delete" => OpKind::Delete,
            "spans" => OpKind::Spans,
            "block" => OpKind::Block,
            _ => return None,
        })
    }

    /// The kind of a lifecycle operation.
    pub fn of(operation: &Operation) -> OpKind {
        match operation {
            Operation::Log(_) => OpKind::Log,
            Operation::Update(_) => OpKind::Update,
            Operation::Delete { .. } => OpKind::Delete,
        }
    }
}

/// One entry of the operation log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedOp {
    /// Its place in the log.
    pub seq: i64,
    /// What it changed.
    pub kind: OpKind,
    /// The trace it concerns; `None` for a block.
    pub trace_id: Option<TraceId>,
    /// The assessment, for [`OpKind::Log`], [`OpKind::Update`] and
    /// [`OpKind::Delete`].
    pub assessment_id: Option<AssessmentId>,
    /// The block, for [`OpKind::Block`].
    pub block: Option<i64>,
}

/// Which operations to read.
#[derive(Clone, Copy, Debug)]
pub enum OpScope<'a> {
    /// All of them.
    All,
    /// Those of one run (by its `run-…` id): its records, and what was
    /// logged on its traces since.
    Run(&'a str),
}

/// The operations a destination has not seen, oldest first.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Unseen {
    /// The last operation of the log when they were read: what a push of
    /// everything brings the destination up to.
    pub snapshot: i64,
    /// The operations.
    pub ops: Vec<LoggedOp>,
}

/// What a push did with the operations it was given, to record for a
/// destination with [`LocalStore::settle`].
#[derive(Clone, Debug, Default)]
pub struct Settlement {
    /// Operations the destination took.
    pub delivered: Vec<i64>,
    /// Operations it did not take, with why.
    pub refused: Vec<(i64, String)>,
    /// Set when the push covered every unseen operation up to this one:
    /// the destination is then up to date through it, except what was
    /// refused.
    pub through: Option<i64>,
}

/// Where a destination stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestinationState {
    /// Its key: its kind and address.
    pub key: String,
    /// Every operation up to it was delivered, except the refused ones.
    pub through: i64,
    /// Operations it refused, with the latest reason of each.
    pub refused: Vec<(i64, String)>,
}

/// One record of a run's block, as a destination is sent it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BlockRecord {
    /// The record's trace.
    pub trace_id: TraceId,
    /// The root span the run made for it, if it made one.
    pub root_span: Option<StoredSpan>,
    /// The spans of its own trace stored with it beside the root span
    /// (those the system under test made), sent with it.
    pub spans: Vec<StoredSpan>,
    /// For a record that names a trace whose spans the store does not
    /// have: a root span to stand in for it where a destination lacks the
    /// trace (see `verdict-eval`'s `Destination::send_standing_in`).
    pub stand_in: Option<StoredSpan>,
    /// Its assessments as they now are (deleted ones left out).
    pub assessments: Vec<Assessment>,
}

/// Appends operations to the log, inside the caller's transaction, with
/// one statement for all of them: what a batch logs.
pub(crate) struct Log<'c> {
    insert: rusqlite::CachedStatement<'c>,
    path: &'c Path,
}

impl<'c> Log<'c> {
    pub(crate) fn new(conn: &'c Connection, path: &'c Path) -> Result<Self> {
        let insert = conn
            .prepare_cached(
                "INSERT INTO ops (kind, trace_id, assessment_id, run, block) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(|e| database(path, "logging an operation", e))?;
        Ok(Log { insert, path })
    }

    /// Appends one operation.
    pub(crate) fn push(
        &mut self,
        kind: OpKind,
        trace: Option<TraceId>,
        assessment: Option<AssessmentId>,
        run: Option<i64>,
        block: Option<i64>,
    ) -> Result<()> {
        self.insert
            .execute(params![
                kind.as_str(),
                trace.map(|t| t.to_bytes()),
                assessment.map(|a| a.to_u128().to_be_bytes()),
                run,
                block,
            ])
            .map(drop)
            .map_err(|e| database(self.path, "logging an operation", e))
    }
}

/// Removes a deleted run's operations and what destinations said of them.
pub(crate) fn forget_run(
    conn: &Connection,
    path: &Path,
    run: i64,
    traces: (&[u8; 16], &[u8; 16]),
) -> Result<()> {
    let db = |e| {
        database(
            path,
            format!("forgetting the operations of run number {run}"),
            e,
        )
    };
    conn.execute(
        "DELETE FROM ops WHERE run = ?1 OR trace_id BETWEEN ?2 AND ?3",
        params![run, traces.0, traces.1],
    )
    .map_err(db)?;
    conn.execute(
        "DELETE FROM op_state WHERE NOT EXISTS (SELECT 1 FROM ops WHERE ops.seq = op_state.seq)",
        [],
    )
    .map_err(db)?;
    Ok(())
}

/// Reads `seq, kind, trace_id, assessment_id, block`.
fn read_op(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<LoggedOp>> {
    let kind: String = row.get(1)?;
    let trace: Option<[u8; 16]> = row.get(2)?;
    let assessment: Option<[u8; 16]> = row.get(3)?;
    let Some(kind) = OpKind::parse(&kind) else {
        return Ok(None);
    };
    Ok(Some(LoggedOp {
        seq: row.get(0)?,
        kind,
        trace_id: trace.map(TraceId::from_bytes),
        assessment_id: assessment
            .and_then(|a| AssessmentId::from_u128(u128::from_be_bytes(a)).ok()),
        block: row.get(4)?,
    }))
}

impl LocalStore {
    /// The operations the destination `key` has not seen, in `scope`,
    /// oldest first; with no key, every operation (a destination that
    /// keeps no state, such as standard output).
    pub fn unseen(&self, key: Option<&str>, scope: OpScope<'_>) -> Result<Unseen> {
        let mut conn = self.lock();
        let db = |e| database(self.path(), "reading the operation log", e);
        let tx = conn.transaction().map_err(db)?;
        let snapshot: i64 = tx
            .query_row("SELECT coalesce(max(seq), 0) FROM ops", [], |r| r.get(0))
            .map_err(db)?;
        let run: Option<i64> = match scope {
            OpScope::All => None,
            OpScope::Run(run_id) => Some(
                tx.query_row("SELECT run FROM runs WHERE run_id = ?1", [run_id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db)?
                .ok_or_else(|| {
                    crate::Error::Run(format!(
                        "no run {run_id} in the store {}",
                        self.path().display()
                    ))
                })?,
            ),
        };
        let dest: Option<(i64, i64)> = match key {
            None => None,
            Some(key) => tx
                .query_row(
                    "SELECT dest, through FROM destinations WHERE key = ?1",
                    [key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?,
        };
        // No key, or one never pushed to: nothing seen (dest 0 has no
        // state: ids start at 1).
        let (dest_id, through) = dest.unwrap_or((0, 0));
        let sql = "SELECT seq, kind, trace_id, assessment_id, block FROM ops o
                   WHERE seq <= ?1 AND seq > ?3 AND (?4 IS NULL OR run = ?4)
                     AND NOT EXISTS (SELECT 1 FROM op_state s
                                     WHERE s.dest = ?2 AND s.seq = o.seq AND s.delivered = 1)
                   UNION ALL
                   SELECT seq, kind, trace_id, assessment_id, block FROM ops o
                   WHERE seq <= ?3 AND (?4 IS NULL OR run = ?4)
                     AND seq IN (SELECT seq FROM op_state WHERE dest = ?2 AND delivered = 0)
                   ORDER BY seq";
        let ops = {
            let mut select = tx.prepare(sql).map_err(db)?;
            let rows = select
                .query_map(params![snapshot, dest_id, through, run], read_op)
                .map_err(db)?;
            let mut ops = Vec::new();
            for row in rows {
                if let Some(op) = row.map_err(db)? {
                    ops.push(op);
                }
            }
            ops
        };
        tx.commit().map_err(db)?;
        Ok(Unseen { snapshot, ops })
    }

    /// Records what a push delivered to the destination `key` and what it
    /// refused, in one transaction.
    pub fn settle(&self, key: &str, settlement: &Settlement) -> Result<()> {
        let action = || format!("recording what was delivered to {key}");
        self.write(action, |tx| {
            let db = |e| database(self.path(), action(), e);
            tx.execute(
                "INSERT OR IGNORE INTO destinations (key, through) VALUES (?1, 0)",
                [key],
            )
            .map_err(db)?;
            let (dest, through): (i64, i64) = tx
                .query_row(
                    "SELECT dest, through FROM destinations WHERE key = ?1",
                    [key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(db)?;
            {
                let mut forget = tx
                    .prepare_cached("DELETE FROM op_state WHERE dest = ?1 AND seq = ?2")
                    .map_err(db)?;
                let mut mark = tx
                    .prepare_cached(
                        "INSERT OR REPLACE INTO op_state (dest, seq, delivered, reason)
                         VALUES (?1, ?2, ?3, ?4)",
                    )
                    .map_err(db)?;
                let past = settlement.through.unwrap_or(through).max(through);
                for &seq in &settlement.delivered {
                    if seq <= past {
                        forget.execute(params![dest, seq]).map_err(db)?;
                    } else {
                        mark.execute(params![dest, seq, true, None::<String>])
                            .map_err(db)?;
                    }
                }
                for (seq, reason) in &settlement.refused {
                    mark.execute(params![dest, seq, false, reason])
                        .map_err(db)?;
                }
            }
            if let Some(new) = settlement.through
                && new > through
            {
                tx.execute(
                    "UPDATE destinations SET through = ?2 WHERE dest = ?1",
                    params![dest, new],
                )
                .map_err(db)?;
                tx.execute(
                    "DELETE FROM op_state WHERE dest = ?1 AND seq <= ?2 AND delivered = 1",
                    params![dest, new],
                )
                .map_err(db)?;
            }
            Ok(())
        })
    }

    /// Marks every operation of a run delivered to the destination `key`:
    /// an evaluation whose export took everything.
    pub fn settle_run(&self, key: &str, run_id: &str) -> Result<()> {
        let unseen = self.unseen(Some(key), OpScope::Run(run_id))?;
        self.settle(
            key,
            &Settlement {
                delivered: unseen.ops.iter().map(|op| op.seq).collect(),
                ..Settlement::default()
            },
        )
    }

    /// Where each destination pushed to from this store stands.
    pub fn destinations(&self) -> Result<Vec<DestinationState>> {
        let conn = self.lock();
        let db = |e| database(self.path(), "reading the destinations", e);
        let mut select = conn
            .prepare(
                "SELECT d.key, d.through, s.seq, s.reason FROM destinations d
                 LEFT JOIN op_state s ON s.dest = d.dest AND s.delivered = 0
                 ORDER BY d.key, s.seq",
            )
            .map_err(db)?;
        let rows = select
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .map_err(db)?;
        let mut states: Vec<DestinationState> = Vec::new();
        for row in rows {
            let (key, through, seq, reason) = row.map_err(db)?;
            if states.last().is_none_or(|s| s.key != key) {
                states.push(DestinationState {
                    key,
                    through,
                    refused: Vec::new(),
                });
            }
            if let (Some(seq), Some(state)) = (seq, states.last_mut()) {
                state.refused.push((seq, reason.unwrap_or_default()));
            }
        }
        Ok(states)
    }

    /// The assessment with this id as it now is, whatever its trace;
    /// `None` once deleted.
    pub fn find(&self, id: AssessmentId) -> Result<Option<Assessment>> {
        let conn = self.lock();
        match crate::store::read_one(&conn, self.path(), id)? {
            Some(a) => Ok(Some(a)),
            None => self.packed(&conn).get(id),
        }
    }

    /// The block of a run that holds a packed assessment; `None` for one
    /// that is a row of its own.
    pub fn block_of(&self, id: AssessmentId) -> Result<Option<i64>> {
        let (ids, ordinal, k) = pack::parts_of_assessment(id);
        if k == 0 {
            return Ok(None);
        }
        let conn = self.lock();
        let Some(meta) = self.packed(&conn).run_by_ids(ids)? else {
            return Ok(None);
        };
        conn.query_row(
            "SELECT max(block) FROM run_blocks WHERE block BETWEEN ?1 AND ?2",
            params![meta.run << 40, (meta.run << 40) | ordinal as i64],
            |r| r.get(0),
        )
        .map_err(|e| database(self.path(), "finding the block of an assessment", e))
    }

    /// Up to `limit` records of a run's block from its `from`-th (0 for
    /// its first), as a destination is sent them; fewer at its end, none
    /// once the block was deleted.
    pub fn block_records(&self, block: i64, from: u64, limit: usize) -> Result<Vec<BlockRecord>> {
        let conn = self.lock();
        let db = |e| database(self.path(), "reading a block of a run", e);
        let count: Option<i64> = conn
            .query_row(
                "SELECT count FROM run_blocks WHERE block = ?1",
                [block],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let Some(count) = count else {
            return Ok(Vec::new());
        };
        let packed = self.packed(&conn);
        let Some(meta) = packed.run_by_number(block >> 40)? else {
            return Ok(Vec::new());
        };
        let first = (block & ((1 << 40) - 1)) as u64;
        let end = first + count as u64;
        let mut records = Vec::new();
        for ordinal in (first + from)..end.min(first + from + limit as u64) {
            let (root_span, spans) = packed.spans_of_record(&meta, ordinal)?;
            let assessments: Vec<Assessment> = packed
                .assessments_of(&meta, ordinal)?
                .into_iter()
                .map(|(_, a)| a)
                .collect();
            let stand_in = match packed.stand_in_of(&meta, ordinal)? {
                Some(span) if !has_spans(&conn, self.path(), span.trace_id)? => Some(span),
                _ => None,
            };
            let trace_id = match (&root_span, assessments.first()) {
                (Some(span), _) => span.trace_id,
                (None, Some(a)) => a.trace_id(),
                (None, None) => pack::trace_id(meta.ids, ordinal),
            };
            records.push(BlockRecord {
                trace_id,
                root_span,
                spans,
                stand_in,
                assessments,
            });
        }
        Ok(records)
    }
}

/// Whether the store holds any span of `trace`.
fn has_spans(conn: &Connection, path: &Path, trace: TraceId) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM trace_spans WHERE trace_id = ?1 LIMIT 1")
        .and_then(|mut s| s.exists([trace.to_bytes()]))
        .map_err(|e| database(path, "reading the spans of a trace", e))
}
