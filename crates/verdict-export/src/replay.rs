//! What a destination has not seen, read from the store's operation log
//! and sent as it now is: `verdict push`.
//!
//! [`Replay`] turns the unseen operations
//! ([`LocalStore::unseen`]) into chunks of spans and lifecycle operations,
//! a trace's spans before its assessments, and [`Ledger`] turns what the
//! destination said of each chunk into a [`Settlement`] for
//! [`LocalStore::settle`]. An assessment's unseen operations become one:
//!
//! | unseen for it | sent |
//! |---|---|
//! | its log (and any later update) | a log of it as it now is; nothing once deleted |
//! | updates only | one update restating every field ([`AssessmentUpdate::restating`]) |
//! | a delete | the delete (the destination has it, or never had it: deleting is idempotent) |
//!
//! A run's block is sent as its records now are, a root span and the
//! assessments of each; changes to those assessments made since are then
//! already in what is sent. Operations are grouped by trace, and a trace's
//! are sent in the order made, so that an override comes after what it
//! overrides and a delete after the log it undoes.

use std::collections::{HashMap, HashSet, VecDeque};

use opentelemetry::trace::TraceId;
use verdict::{AssessmentId, AssessmentUpdate, Operation};
use verdict_store::{LocalStore, LoggedOp, OpKind, Settlement, StoredSpan, Unseen};

use crate::error::Result;

/// Traces per chunk.
pub const TRACES_PER_CHUNK: usize = 256;

/// What a chunk holds, for settling it.
#[derive(Debug)]
enum Part {
    /// Operations of one trace.
    Trace { trace: TraceId, seqs: Vec<i64> },
    /// A record of a run's block; `seq` is `None` when only some of the
    /// block's records are sent (a push of named traces).
    Record { trace: TraceId, seq: Option<i64> },
    /// The end of a block: it settles even when it had nothing to send
    /// (every record deleted since).
    BlockEnd { seq: i64 },
}

/// Spans and operations to send together.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Spans, to send first, as the store keeps them (each with its own
    /// resource, if it has one).
    pub spans: Vec<StoredSpan>,
    /// Lifecycle operations, in order.
    pub operations: Vec<Operation>,
    /// Root spans standing in for traces that records of a run name and
    /// the store has no span of: for a destination that lacks such a
    /// trace.
    pub stand_ins: Vec<verdict_store::StoredSpan>,
    parts: Vec<Part>,
}

impl Chunk {
    /// How many traces it touches.
    pub fn traces(&self) -> usize {
        self.parts
            .iter()
            .filter(|p| !matches!(p, Part::BlockEnd { .. }))
            .count()
    }

    /// Whether it holds nothing to send.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.operations.is_empty()
    }
}

/// An assessment's unseen operations, folded.
#[derive(Debug, Default)]
struct Folded {
    log: bool,
    update: bool,
    delete: bool,
}

/// The unseen operations of one trace.
#[derive(Debug)]
struct TraceUnit {
    trace: TraceId,
    spans: bool,
    /// In the order first changed.
    assessments: Vec<(AssessmentId, Folded)>,
    seqs: Vec<i64>,
}

#[derive(Debug)]
enum Unit {
    Trace(TraceUnit),
    Block { block: i64, seq: i64 },
}

/// Chunks of what a destination has not seen; see the [module](self).
#[derive(Debug)]
pub struct Replay<'s> {
    store: &'s LocalStore,
    units: VecDeque<Unit>,
    /// The block being sent and the next of its records.
    block: Option<(i64, i64, u64)>,
    /// Only these traces, when set.
    only: Option<HashSet<TraceId>>,
    snapshot: i64,
    total_ops: usize,
}

impl<'s> Replay<'s> {
    /// Plans the replay of `unseen`; with `only`, of those traces alone
    /// (their blocks' records then settle nothing: a block is delivered
    /// only whole).
    pub fn new(
        store: &'s LocalStore,
        unseen: Unseen,
        only: Option<HashSet<TraceId>>,
    ) -> Result<Self> {
        let total_ops = unseen.ops.len();
        let mut blocks: HashSet<i64> = HashSet::new();
        for op in &unseen.ops {
            if let (OpKind::Block, Some(block)) = (op.kind, op.block) {
                blocks.insert(block);
            }
        }
        let mut units: Vec<(i64, Unit)> = Vec::new();
        let mut by_trace: HashMap<TraceId, usize> = HashMap::new();
        for op in unseen.ops {
            let LoggedOp {
                seq,
                kind,
                trace_id,
                assessment_id,
                block,
                ..
            } = op;
            if kind == OpKind::Block {
                if let Some(block) = block {
                    units.push((seq, Unit::Block { block, seq }));
                }
                continue;
            }
            let Some(trace) = trace_id else { continue };
            if only.as_ref().is_some_and(|only| !only.contains(&trace)) {
                continue;
            }
            let at = *by_trace.entry(trace).or_insert_with(|| {
                units.push((
                    seq,
                    Unit::Trace(TraceUnit {
                        trace,
                        spans: false,
                        assessments: Vec::new(),
                        seqs: Vec::new(),
                    }),
                ));
                units.len() - 1
            });
            let Unit::Trace(unit) = &mut units[at].1 else {
                unreachable!("a trace's place holds its unit")
            };
            unit.seqs.push(seq);
            let Some(id) = assessment_id else {
                unit.spans |= kind == OpKind::Spans;
                continue;
            };
            // A change to a run's record whose block is sent too is in
            // what the block sends.
            if kind != OpKind::Log
                && let Some(block) = store.block_of(id)?
                && blocks.contains(&block)
            {
                continue;
            }
            let folded = match unit.assessments.iter().position(|(a, _)| *a == id) {
                Some(i) => &mut unit.assessments[i].1,
                None => {
                    unit.assessments.push((id, Folded::default()));
                    &mut unit.assessments.last_mut().expect("just pushed").1
                }
            };
            match kind {
                OpKind::Log => folded.log = true,
                OpKind::Update => folded.update = true,
                OpKind::Delete => folded.delete = true,
                _ => {}
            }
        }
        units.sort_by_key(|(seq, _)| *seq);
        Ok(Replay {
            store,
            units: units.into_iter().map(|(_, u)| u).collect(),
            block: None,
            only,
            snapshot: unseen.snapshot,
            total_ops,
        })
    }

    /// The last operation of the log when the replay was planned.
    pub fn snapshot(&self) -> i64 {
        self.snapshot
    }

    /// How many unseen operations it covers.
    pub fn operations(&self) -> usize {
        self.total_ops
    }

    /// The next chunk, `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let mut chunk = Chunk::default();
        while chunk.parts.len() < TRACES_PER_CHUNK {
            if let Some((block, seq, from)) = self.block {
                let room = TRACES_PER_CHUNK - chunk.parts.len();
                let records = self.store.block_records(block, from, room)?;
                self.block = (records.len() == room).then_some((block, seq, from + room as u64));
                for record in records {
                    if self
                        .only
                        .as_ref()
                        .is_some_and(|o| !o.contains(&record.trace_id))
                    {
                        continue;
                    }
                    if let Some(span) = record.root_span {
                        chunk.spans.push(span);
                    }
                    chunk.stand_ins.extend(record.stand_in);
                    chunk
                        .operations
                        .extend(record.assessments.into_iter().map(Operation::Log));
                    chunk.parts.push(Part::Record {
                        trace: record.trace_id,
                        seq: self.only.is_none().then_some(seq),
                    });
                }
                if self.block.is_none() && self.only.is_none() {
                    chunk.parts.push(Part::BlockEnd { seq });
                }
                continue;
            }
            let Some(unit) = self.units.pop_front() else {
                break;
            };
            match unit {
                Unit::Block { block, seq } => self.block = Some((block, seq, 0)),
                Unit::Trace(unit) => self.expand(unit, &mut chunk)?,
            }
        }
        Ok((!chunk.parts.is_empty()).then_some(chunk))
    }

    fn expand(&self, unit: TraceUnit, chunk: &mut Chunk) -> Result<()> {
        if unit.spans {
            chunk.spans.extend(self.store.spans_of(unit.trace)?);
        }
        for (id, folded) in unit.assessments {
            let now = self.store.find(id)?.filter(|a| a.trace_id() == unit.trace);
            if folded.log {
                chunk.operations.extend(now.map(Operation::Log));
            } else if folded.delete {
                chunk.operations.push(Operation::Delete {
                    trace_id: unit.trace,
                    assessment_id: id,
                });
            } else if folded.update
                && let Some(now) = now
            {
                chunk
                    .operations
                    .push(Operation::Update(AssessmentUpdate::restating(&now)));
            }
        }
        chunk.parts.push(Part::Trace {
            trace: unit.trace,
            seqs: unit.seqs,
        });
        Ok(())
    }
}

/// What a destination took of the chunks it was sent, operation by
/// operation.
#[derive(Debug, Default)]
pub struct Ledger {
    delivered: Vec<i64>,
    refused: Vec<(i64, String)>,
    /// A block's verdict: delivered until one of its chunks is not.
    blocks: HashMap<i64, Option<String>>,
}

impl Ledger {
    /// The destination took all of `chunk`.
    pub fn delivered(&mut self, chunk: &Chunk) {
        self.settle(chunk, &|_| false, "");
    }

    /// The destination did not take what it sent of `failed` traces of
    /// `chunk` (all of it when `None`), for `reason`.
    pub fn failed(&mut self, chunk: &Chunk, failed: Option<&[TraceId]>, reason: &str) {
        match failed {
            Some(traces) => {
                let traces: HashSet<TraceId> = traces.iter().copied().collect();
                self.settle(
                    chunk,
                    &|trace| trace.is_some_and(|t| traces.contains(&t)),
                    reason,
                );
            }
            None => self.settle(chunk, &|_| true, reason),
        }
    }

    /// Settles each part of `chunk`; `lost` says of a part's trace (`None`
    /// for a block's end) whether it was not delivered.
    fn settle(&mut self, chunk: &Chunk, lost: &dyn Fn(Option<TraceId>) -> bool, reason: &str) {
        for part in &chunk.parts {
            let (seq, trace) = match part {
                Part::Trace { trace, seqs } => {
                    if lost(Some(*trace)) {
                        self.refused
                            .extend(seqs.iter().map(|&s| (s, reason.to_owned())));
                    } else {
                        self.delivered.extend(seqs);
                    }
                    continue;
                }
                Part::Record { seq: None, .. } => continue,
                Part::Record {
                    trace,
                    seq: Some(seq),
                } => (*seq, Some(*trace)),
                Part::BlockEnd { seq } => (*seq, None),
            };
            let verdict = self.blocks.entry(seq).or_insert(None);
            if lost(trace) && verdict.is_none() {
                *verdict = Some(reason.to_owned());
            }
        }
    }

    /// Nothing counts as delivered: the destination failed after taking
    /// the chunks (its buffer was not flushed).
    pub fn fail_all(&mut self, reason: &str) {
        let delivered = std::mem::take(&mut self.delivered);
        self.refused
            .extend(delivered.into_iter().map(|s| (s, reason.to_owned())));
        for verdict in self.blocks.values_mut() {
            if verdict.is_none() {
                *verdict = Some(reason.to_owned());
            }
        }
    }

    /// How many operations were refused.
    pub fn refused(&self) -> usize {
        self.refused.len() + self.blocks.values().filter(|v| v.is_some()).count()
    }

    /// The settlement to record; `through` when every unseen operation up
    /// to it was sent.
    pub fn settlement(self, through: Option<i64>) -> Settlement {
        let mut settlement = Settlement {
            delivered: self.delivered,
            refused: self.refused,
            through,
        };
        for (seq, verdict) in self.blocks {
            match verdict {
                None => settlement.delivered.push(seq),
                Some(reason) => settlement.refused.push((seq, reason)),
            }
        }
        settlement
    }
}
