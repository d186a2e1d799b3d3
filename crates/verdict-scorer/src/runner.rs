//! Scoring many records with several scorers on all cores.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use verdict_plugin::Outcome;

use crate::record::{OwnedRecord, expectation_views, record_views};
use verdict_plugin::host::invalid;

use crate::scorer::Scorer;

/// The outcomes of a run: one per record and scorer.
#[derive(Debug)]
pub struct Scores {
    scorers: usize,
    outcomes: Vec<Outcome>,
}

impl Scores {
    /// The outcomes of record `i`, in the order of the runner's scorers.
    pub fn record(&self, i: usize) -> &[Outcome] {
        &self.outcomes[i * self.scorers..(i + 1) * self.scorers]
    }

    /// How many records were scored.
    pub fn len(&self) -> usize {
        self.outcomes.len().checked_div(self.scorers).unwrap_or(0)
    }

    /// Whether no record was scored.
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }

    /// Every record's outcomes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[Outcome]> {
        self.outcomes.chunks(self.scorers.max(1))
    }
}

/// Scores records with several scorers, in parallel.
///
/// Records are cut into chunks; worker threads take chunks in turn and
/// hand each chunk to every scorer as one batch, so a plugin is crossed
/// once per chunk, not once per record. Every record gets an outcome from
/// every scorer, in order, whatever the scorers do.
///
/// ```
/// use verdict_scorer::{OwnedRecord, Registry, Runner};
///
/// let registry = Registry::with_builtins();
/// let runner = Runner::new(vec![registry.create(&"exact_match".parse()?)?]);
/// let records = vec![
///     OwnedRecord::new("q1", "Paris").with_expectation("expected_response", "Paris"),
///     OwnedRecord::new("q2", "Lyon").with_expectation("expected_response", "Paris"),
/// ];
/// let scores = runner.score(&records);
/// assert_eq!(scores.len(), 2);
/// # Ok::<(), verdict_scorer::LoadError>(())
/// ```
pub struct Runner {
    scorers: Vec<Box<dyn Scorer>>,
    threads: usize,
    chunk: usize,
}

impl Runner {
    /// A runner using every core.
    pub fn new(scorers: Vec<Box<dyn Scorer>>) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Runner {
            scorers,
            threads,
            chunk: 256,
        }
    }

    /// Uses `threads` worker threads (at least one).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Hands scorers `chunk` records per call (at least one; default 256).
    pub fn chunk_size(mut self, chunk: usize) -> Self {
        self.chunk = chunk.max(1);
        self
    }

    /// The scorers, in the order outcomes are given.
    pub fn scorers(&self) -> &[Box<dyn Scorer>] {
        &self.scorers
    }

    /// Scores every record with every scorer.
    pub fn score(&self, records: &[OwnedRecord]) -> Scores {
        let chunks: Vec<&[OwnedRecord]> = records.chunks(self.chunk).collect();
        let results: Vec<Mutex<Vec<Outcome>>> = chunks.iter().map(|_| Mutex::default()).collect();
        let next = AtomicUsize::new(0);
        let work = || {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(chunk) = chunks.get(i) else { break };
                let scored = self.score_chunk(chunk);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = scored;
            }
        };
        let threads = self.threads.min(chunks.len());
        if threads <= 1 {
            work();
        } else {
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(work);
                }
            });
        }
        let mut outcomes = Vec::with_capacity(records.len() * self.scorers.len());
        for result in results {
            outcomes.append(&mut result.into_inner().unwrap_or_else(|e| e.into_inner()));
        }
        Scores {
            scorers: self.scorers.len(),
            outcomes,
        }
    }

    /// Scores one chunk: record-major outcomes.
    fn score_chunk(&self, chunk: &[OwnedRecord]) -> Vec<Outcome> {
        let named = expectation_views(chunk);
        let views = record_views(chunk, &named);
        let n = chunk.len();
        let mut by_scorer = Vec::with_capacity(self.scorers.len());
        for scorer in &self.scorers {
            let mut out = Vec::with_capacity(n);
            scorer.score_batch(&views, &mut out);
            // A scorer breaking the one-outcome-per-record rule must not
            // shift later records' outcomes.
            out.truncate(n);
            while out.len() < n {
                out.push(Err(invalid(format!(
                    "{} returned fewer outcomes than records",
                    scorer.info().name
                ))));
            }
            by_scorer.push(out.into_iter());
        }
        let mut outcomes = Vec::with_capacity(n * self.scorers.len());
        for _ in 0..n {
            for column in &mut by_scorer {
                outcomes.push(column.next().expect("n outcomes per scorer"));
            }
        }
        outcomes
    }
}
