//! The pipeline thread: takes complete traces from the holding, samples
//! them, scores the sampled ones and forwards every trace's spans with its
//! feedback to the local store and to each destination, a batch of
//! traces at a time (one store transaction, one request per destination).
//!
//! Every trace is forwarded, sampled or not: the receiver stands where
//! the collector's exporter would send, so what it does not forward is
//! lost. The room a batch held is given back only once every destination
//! has answered for it, so a slow destination fills the holding and the
//! receiver answers 429: memory stays bounded, and the pressure reaches
//! the senders.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanId, TraceId};
use verdict::{Assessment, Operation, Target};
use verdict_export::{Destination, LocalStore};
use verdict_scorer::{OwnedRecord, Runner, Scorer, feedback_builder};
use verdict_store::{Batch, StoredSpan};

use crate::hold::{Complete, Holding};
use crate::metrics::{Counters, add};
use crate::sample::Sampler;

/// Where forwarded traces go.
pub(crate) struct Forward {
    pub(crate) store: Option<Arc<LocalStore>>,
    pub(crate) destinations: Vec<Destination>,
}

pub(crate) struct Pipeline {
    pub(crate) holding: Arc<Holding>,
    pub(crate) counters: Arc<Counters>,
    /// One runner per scorer, in the order the sampler knows them.
    pub(crate) runners: Vec<Runner>,
    pub(crate) sampler: Sampler,
    pub(crate) forward: Forward,
    /// Traces per batch, at most.
    pub(crate) batch: usize,
}

impl Pipeline {
    /// One runner per scorer (a trace is scored by the scorers sampled
    /// for it, and only by them).
    pub(crate) fn runners(scorers: Vec<Box<dyn Scorer>>) -> Vec<Runner> {
        scorers
            .into_iter()
            .map(|scorer| Runner::new(vec![scorer]))
            .collect()
    }

    /// Runs until the holding is closed and drained, then flushes the
    /// destinations.
    pub(crate) fn run(self) {
        loop {
            let batch = self.holding.take(self.batch, Duration::from_millis(50));
            if batch.is_empty() {
                if self.holding.drained() {
                    break;
                }
                continue;
            }
            self.process(batch);
        }
        for (i, destination) in self.forward.destinations.iter().enumerate() {
            if let Err(e) = destination.finish() {
                self.counters
                    .delivered(i + usize::from(self.forward.store.is_some()), |d| {
                        d.last_error = Some(e.to_string());
                    });
            }
        }
    }

    fn process(&self, batch: Vec<Complete>) {
        let counters = &self.counters;
        let (traces, bytes) = (batch.len(), batch.iter().map(|c| c.bytes).sum::<usize>());
        let mut spans: Vec<StoredSpan> = Vec::new();
        let mut since: Vec<Instant> = Vec::with_capacity(batch.len());
        // Per scorer, the records sampled for it and what they judge.
        let mut sampled: Vec<(Vec<OwnedRecord>, Vec<(TraceId, SpanId)>)> =
            self.runners.iter().map(|_| Default::default()).collect();
        for complete in batch {
            counters.completed(complete.completion);
            since.push(complete.since);
            let selected = self.sampler.sample(complete.trace_id);
            if !selected.is_empty() {
                add(&counters.traces_sampled, 1);
                match root_record(&complete.spans) {
                    Ok((record, root)) => {
                        add(&counters.traces_scored, 1);
                        let (last, others) = selected.split_last().unwrap_or((&0, &[]));
                        for &i in others {
                            sampled[i].0.push(record.clone());
                            sampled[i].1.push((complete.trace_id, root));
                        }
                        sampled[*last].0.push(record);
                        sampled[*last].1.push((complete.trace_id, root));
                    }
                    Err(why) => {
                        add(&counters.traces_unscorable, 1);
                        counters.unscorable(why);
                    }
                }
            }
            spans.extend(complete.spans);
        }
        let mut assessments: Vec<Assessment> = Vec::new();
        for (runner, (records, targets)) in self.runners.iter().zip(&sampled) {
            if records.is_empty() {
                continue;
            }
            let scores = runner.score(records);
            let info = runner.scorers()[0].info();
            for (r, &(trace_id, span_id)) in targets.iter().enumerate() {
                let feedback = Target::span(trace_id, span_id)
                    .and_then(|target| feedback_builder(info, scores.get(r, 0)).on(target));
                match feedback {
                    Ok(a) => assessments.push(a),
                    // Ids were checked when received; a scorer name that is
                    // no assessment name was refused when it was made.
                    Err(e) => counters.unscorable(format!("{}: {e}", info.name)),
                }
            }
        }
        add(&counters.assessments, assessments.len());
        self.deliver(&spans, assessments);
        let now = Instant::now();
        for at in since {
            counters.latency(now.duration_since(at));
        }
        self.holding.release(traces, spans.len(), bytes);
    }

    /// The spans and feedback to the store, then to each destination.
    fn deliver(&self, spans: &[StoredSpan], assessments: Vec<Assessment>) {
        let counters = &self.counters;
        let mut index = 0;
        let operations: Vec<Operation> = if self.forward.destinations.is_empty() {
            Vec::new()
        } else {
            assessments.iter().cloned().map(Operation::Log).collect()
        };
        if let Some(store) = &self.forward.store {
            let mut batch = Batch::with_capacity(spans.len(), assessments.len());
            for span in spans {
                batch.push_stored_span(span.clone());
            }
            let count = assessments.len();
            for assessment in assessments {
                batch.push_assessment(assessment);
            }
            let written = store.write_batch(&batch);
            counters.delivered(index, |d| match written {
                Ok(()) => {
                    d.spans += spans.len() as u64;
                    d.assessments += count as u64;
                }
                Err(e) => {
                    d.spans_undelivered += spans.len() as u64;
                    d.assessments_undelivered += count as u64;
                    d.last_error = Some(e.to_string());
                }
            });
            index += 1;
        }
        for destination in &self.forward.destinations {
            let sent = destination.send(spans, &operations);
            counters.delivered(index, |d| {
                let (spans_missed, operations_missed) = match &sent {
                    Ok(()) => (0, 0),
                    Err(e) => {
                        d.last_error = Some(e.to_string());
                        match &e.undelivered {
                            Some(u) => (u.spans, u.operations),
                            None => (spans.len(), operations.len()),
                        }
                    }
                };
                d.spans += (spans.len() - spans_missed) as u64;
                d.assessments += (operations.len() - operations_missed) as u64;
                d.spans_undelivered += spans_missed as u64;
                d.assessments_undelivered += operations_missed as u64;
            });
            index += 1;
        }
    }
}

/// The record of a trace's root span, and the root's id; why not, when it
/// has none or the root says nothing to score. The root is the span
/// without a parent, else the earliest span whose parent is not in the
/// trace: the local root of a service whose callers are traced elsewhere.
fn root_record(spans: &[StoredSpan]) -> Result<(OwnedRecord, SpanId), String> {
    let root = spans
        .iter()
        .find(|s| s.parent_span_id.is_none())
        .or_else(|| {
            spans
                .iter()
                .filter(|s| {
                    s.parent_span_id
                        .is_some_and(|parent| !spans.iter().any(|p| p.span_id == parent))
                })
                .min_by_key(|s| s.start_time)
        })
        .ok_or_else(|| {
            format!(
                "trace {:032x}: no root span (every span's parent is in the trace, in a cycle)",
                spans.first().map_or(TraceId::INVALID, |s| s.trace_id)
            )
        })?;
    verdict_eval::root_span::record(&root.name, &root.attributes)
        .map(|record| (record, root.span_id))
        .map_err(|e| format!("trace {:032x}: {e}", root.trace_id))
}
