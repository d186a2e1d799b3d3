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
use verdict::{AssessmentId, AssessmentUpdate, Operation, Outcome, Outcomes, Reason};
use verdict_store::{LocalStore, LoggedOp, OpKind, Settlement, StoredSpan, Unseen};

use crate::error::Result;

/// Traces per chunk.
pub const TRACES_PER_CHUNK: usize = 256;

/// What a chunk holds, for settling it.
#[derive(Debug)]
enum Part {
    /// Operations of one trace.
    Trace { seqs: Vec<i64> },
    /// A record of a run's block; `seq` is `None` when only some of the
    /// block's records are sent (a push of named traces).
    Record { seq: Option<i64> },
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
    /// For each span, the part it belongs to (its place in `parts`).
    span_parts: Vec<usize>,
    /// For each operation, the part it belongs to.
    operation_parts: Vec<usize>,
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
                    let part = chunk.parts.len();
                    for span in record.root_span.into_iter().chain(record.spans) {
                        chunk.spans.push(span);
                        chunk.span_parts.push(part);
                    }
                    chunk.stand_ins.extend(record.stand_in);
                    chunk
                        .operation_parts
                        .extend(std::iter::repeat_n(part, record.assessments.len()));
                    chunk
                        .operations
                        .extend(record.assessments.into_iter().map(Operation::Log));
                    chunk.parts.push(Part::Record {
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
        let part = chunk.parts.len();
        if unit.spans {
            chunk.spans.extend(self.store.spans_of(unit.trace)?);
            chunk.span_parts.resize(chunk.spans.len(), part);
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
        chunk.operation_parts.resize(chunk.operations.len(), part);
        chunk.parts.push(Part::Trace { seqs: unit.seqs });
        Ok(())
    }
}

/// What a destination took of the chunks it was sent, operation by
/// operation.
///
/// It reads the destination's [`Outcome`] of each span and operation of a
/// chunk: a trace's operations (or a run's record) are delivered when
/// everything sent for them was; otherwise they are recorded as not
/// taken, with the reason of the first of their items that was refused
/// (or else deferred, or kept to send later: [held](Outcome::Held), or
/// [spooled](Outcome::Spooled) by a spool in front of the destination,
/// which is not the destination having it), and the next push sends them
/// again. A refusal is
/// sent again too: what a destination refused for good may be fixed on
/// its side (credentials, a project, a limit), and it is shown with its
/// reason meanwhile.
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
        self.settle(chunk, &|_| None);
    }

    /// The destination took none of `chunk`, or did not say what it took,
    /// for `reason`.
    pub fn failed(&mut self, chunk: &Chunk, reason: &str) {
        self.settle(chunk, &|_| Some(reason.to_owned()));
    }

    /// What the destination made of each of `chunk`'s spans and
    /// operations, in their order (see the [type](Self)).
    pub fn outcomes(&mut self, chunk: &Chunk, spans: &Outcomes, operations: &Outcomes) {
        let held = Reason::from("held by the destination to send later");
        let spooled =
            Reason::from("kept in a local spool to send later, not at the destination yet");
        let mut refused: Vec<Option<&Reason>> = vec![None; chunk.parts.len()];
        let mut deferred: Vec<Option<&Reason>> = vec![None; chunk.parts.len()];
        let items = (chunk.span_parts.iter().zip(spans.as_slice()))
            .chain(chunk.operation_parts.iter().zip(operations.as_slice()));
        for (&part, outcome) in items {
            let (Some(refused), Some(deferred)) = (refused.get_mut(part), deferred.get_mut(part))
            else {
                continue;
            };
            match outcome {
                Outcome::Delivered => {}
                Outcome::Refused(why) => {
                    refused.get_or_insert(why);
                }
                Outcome::Deferred(why) => {
                    deferred.get_or_insert(why);
                }
                // Kept to send later, by the destination or by a spool in
                // front of it: not delivered yet.
                Outcome::Held => {
                    deferred.get_or_insert(&held);
                }
                Outcome::Spooled => {
                    deferred.get_or_insert(&spooled);
                }
            }
        }
        // Items a destination said nothing of (fewer outcomes than items)
        // are not taken as delivered.
        let said = spans.len() == chunk.spans.len() && operations.len() == chunk.operations.len();
        self.settle(chunk, &|part| match (refused[part], deferred[part]) {
            (Some(why), _) => Some(format!("refused: {why}")),
            (None, Some(why)) => Some(format!("not delivered for now: {why}")),
            (None, None) if !said => Some("the destination did not say".to_owned()),
            (None, None) => None,
        });
    }

    /// Settles each part of `chunk`; `lost` says of a part (by its place)
    /// why it was not delivered, `None` when it was.
    fn settle(&mut self, chunk: &Chunk, lost: &dyn Fn(usize) -> Option<String>) {
        for (at, part) in chunk.parts.iter().enumerate() {
            let seq = match part {
                Part::Trace { seqs, .. } => {
                    match lost(at) {
                        Some(reason) => self
                            .refused
                            .extend(seqs.iter().map(|&s| (s, reason.clone()))),
                        None => self.delivered.extend(seqs),
                    }
                    continue;
                }
                Part::Record { seq: None, .. } => continue,
                Part::Record { seq: Some(seq), .. } | Part::BlockEnd { seq } => *seq,
            };
            let verdict = self.blocks.entry(seq).or_insert(None);
            if verdict.is_none() {
                *verdict = lost(at);
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

#[cfg(test)]
mod tests {
    use super::*;
    use verdict::Assessment;
    use verdict_store::OpScope;

    /// A chunk's outcomes settle each trace's operations: delivered ones
    /// are seen; refused and deferred ones are recorded with their reason
    /// and stay unseen, so that the next push sends them again.
    #[test]
    fn a_chunk_settles_item_by_item() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("verdict.db")).unwrap();
        let traces = [
            "0fb07256509eb9d22d07f42f7eb9f24d",
            "1fb07256509eb9d22d07f42f7eb9f24d",
            "2fb07256509eb9d22d07f42f7eb9f24d",
        ];
        for trace in traces {
            let a = Assessment::feedback("ok", true)
                .on_trace(trace, None)
                .unwrap();
            store.log(&a).unwrap();
        }
        let key = "otlp here";
        let unseen = store.unseen(Some(key), OpScope::All).unwrap();
        let snapshot = unseen.snapshot;
        let mut replay = Replay::new(&store, unseen, None).unwrap();
        let chunk = replay.next_chunk().unwrap().unwrap();
        assert!(replay.next_chunk().unwrap().is_none());
        assert_eq!(chunk.operations.len(), 3);
        let mut ledger = Ledger::default();
        ledger.outcomes(
            &chunk,
            &Outcomes::every(Outcome::Delivered, 0),
            &Outcomes::from(vec![
                Outcome::Delivered,
                Outcome::refused("HTTP 400"),
                Outcome::deferred("HTTP 503"),
            ]),
        );
        assert_eq!(ledger.refused(), 2);
        store
            .settle(key, &ledger.settlement(Some(snapshot)))
            .unwrap();

        let again = store.unseen(Some(key), OpScope::All).unwrap();
        let unseen_traces: Vec<TraceId> = again.ops.iter().filter_map(|op| op.trace_id).collect();
        let trace = |t: &str| verdict::parse_trace_id(t).unwrap();
        assert_eq!(unseen_traces, vec![trace(traces[1]), trace(traces[2])]);
        let state = store.destinations().unwrap();
        let reasons: Vec<&str> = state[0].refused.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(
            reasons,
            ["refused: HTTP 400", "not delivered for now: HTTP 503"]
        );
    }
}
