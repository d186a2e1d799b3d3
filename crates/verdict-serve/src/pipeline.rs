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
use verdict_eval::root_span::root_of;
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
    /// destinations. Two stages overlap: this thread samples, scores and
    /// lays out the store's rows of a batch while a second one stores and
    /// sends the batch before it.
    pub(crate) fn run(mut self) {
        let (to_deliver, delivering) = std::sync::mpsc::sync_channel::<Prepared>(1);
        let deliver = Deliver {
            holding: Arc::clone(&self.holding),
            counters: Arc::clone(&self.counters),
            forward: std::mem::replace(
                &mut self.forward,
                Forward {
                    store: None,
                    destinations: Vec::new(),
                },
            ),
        };
        let has_destinations = !deliver.forward.destinations.is_empty();
        let has_store = deliver.forward.store.is_some();
        let delivery = std::thread::Builder::new()
            .name("serve-deliver".into())
            .spawn(move || {
                for prepared in delivering {
                    deliver.deliver(prepared);
                }
                deliver.finish();
            });
        let Ok(delivery) = delivery else {
            // No thread for delivery: nothing held can go anywhere; the
            // receiver's bound makes senders wait, and a shutdown says so.
            return;
        };
        let stages = Stages {
            has_store,
            has_destinations,
        };
        loop {
            let batch = self.holding.take(self.batch, Duration::from_millis(50));
            if batch.is_empty() {
                if self.holding.drained() {
                    break;
                }
                continue;
            }
            if to_deliver.send(self.prepare(batch, stages)).is_err() {
                break;
            }
        }
        drop(to_deliver);
        let _ = delivery.join();
    }

    /// Samples and scores a batch, and lays out what the delivery stage
    /// sends.
    fn prepare(&self, batch: Vec<Complete>, stages: Stages) -> Prepared {
        let counters = &self.counters;
        let (traces, bytes) = (batch.len(), batch.iter().map(|c| c.bytes).sum::<usize>());
        let mut spans: Vec<StoredSpan> = Vec::new();
        let mut since: Vec<Instant> = Vec::with_capacity(batch.len());
        // Per scorer, the records sampled for it and what they judge.
        let mut sampled: Vec<Sampled> = self.runners.iter().map(|_| Default::default()).collect();
        // The trace scorers read (built only when one of them is sampled).
        let reads_trace: Vec<bool> = self
            .runners
            .iter()
            .map(|runner| runner.scorers()[0].info().needs_trace)
            .collect();
        for complete in batch {
            counters.completed(complete.completion);
            since.push(complete.since);
            let selected = self.sampler.sample(complete.trace_id);
            if !selected.is_empty() {
                add(&counters.traces_sampled, 1);
                match root_record(&complete.spans) {
                    Ok((mut record, root)) => {
                        if selected.iter().any(|&i| reads_trace[i]) {
                            record = record.with_trace(verdict_eval::owned_trace(&complete.spans));
                        }
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
        let operations: Vec<Operation> = if stages.has_destinations {
            assessments.iter().cloned().map(Operation::Log).collect()
        } else {
            Vec::new()
        };
        let span_count = spans.len();
        let assessment_count = assessments.len();
        // The store's rows are laid out here, off the writer's thread; the
        // spans themselves are kept only for the other destinations.
        let store = stages.has_store.then(|| {
            let mut batch = Batch::with_capacity(span_count, assessment_count);
            for span in &spans {
                batch.push_stored_span(span);
            }
            if !stages.has_destinations {
                spans.clear();
            }
            for assessment in assessments {
                batch.push_assessment(assessment);
            }
            batch
        });
        Prepared {
            store,
            spans,
            operations,
            span_count,
            assessment_count,
            since,
            traces,
            bytes,
        }
    }
}

/// The records sampled for one scorer, and the trace and root span each
/// judges.
type Sampled = (Vec<OwnedRecord>, Vec<(TraceId, SpanId)>);

/// Which destinations a batch is laid out for.
#[derive(Clone, Copy)]
struct Stages {
    has_store: bool,
    has_destinations: bool,
}

/// A batch scored and laid out, for the delivery stage.
struct Prepared {
    /// The store's rows, with a store.
    store: Option<Batch>,
    /// The spans, for the other destinations (empty without them).
    spans: Vec<StoredSpan>,
    /// The feedback, for the other destinations.
    operations: Vec<Operation>,
    span_count: usize,
    assessment_count: usize,
    /// When each trace became complete.
    since: Vec<Instant>,
    traces: usize,
    bytes: usize,
}

/// The delivery stage: the store, then each destination, then the room
/// given back.
struct Deliver {
    holding: Arc<Holding>,
    counters: Arc<Counters>,
    forward: Forward,
}

impl Deliver {
    fn deliver(&self, prepared: Prepared) {
        let counters = &self.counters;
        let (spans, assessments) = (prepared.span_count, prepared.assessment_count);
        let mut index = 0;
        if let (Some(store), Some(batch)) = (&self.forward.store, &prepared.store) {
            let written = store.write_batch(batch);
            counters.delivered(index, |d| match written {
                Ok(()) => {
                    d.spans += spans as u64;
                    d.assessments += assessments as u64;
                }
                Err(e) => {
                    d.spans_undelivered += spans as u64;
                    d.assessments_undelivered += assessments as u64;
                    d.last_error = Some(e.to_string());
                }
            });
            index += 1;
        }
        for destination in &self.forward.destinations {
            let sent = destination.send(&prepared.spans, &prepared.operations);
            counters.delivered(index, |d| {
                let (spans_missed, operations_missed) = match &sent {
                    Ok(()) => (0, 0),
                    Err(e) => {
                        d.last_error = Some(e.to_string());
                        match &e.undelivered {
                            Some(u) => (u.spans, u.operations),
                            None => (spans, prepared.operations.len()),
                        }
                    }
                };
                d.spans += (spans - spans_missed) as u64;
                d.assessments += (prepared.operations.len() - operations_missed) as u64;
                d.spans_undelivered += spans_missed as u64;
                d.assessments_undelivered += operations_missed as u64;
            });
            index += 1;
        }
        let now = Instant::now();
        for at in prepared.since {
            counters.latency(now.duration_since(at));
        }
        self.holding.release(prepared.traces, spans, prepared.bytes);
    }

    /// Flushes the destinations, noting what failed.
    fn finish(&self) {
        let offset = usize::from(self.forward.store.is_some());
        for (i, destination) in self.forward.destinations.iter().enumerate() {
            if let Err(e) = destination.finish() {
                self.counters.delivered(i + offset, |d| {
                    d.flush_failed = true;
                    d.last_error = Some(e.to_string());
                });
            }
        }
    }
}

/// The record of a trace's root span ([`root_of`]), and the root's id;
/// why not, when it has none or the root says nothing to score.
fn root_record(spans: &[StoredSpan]) -> Result<(OwnedRecord, SpanId), String> {
    let root = root_of(spans).map_err(|e| {
        format!(
            "trace {:032x}: {e}",
            spans.first().map_or(TraceId::INVALID, |s| s.trace_id)
        )
    })?;
    verdict_eval::root_span::record(&root.name, &root.attributes)
        .map(|record| (record, root.span_id))
        .map_err(|e| format!("trace {:032x}: {e}", root.trace_id))
}
