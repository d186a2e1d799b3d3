//! Scoring many records with several scorers on all cores.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use verdict_plugin::host::invalid;
use verdict_plugin::{Results, ScoreRef};

use crate::record::{OwnedRecord, expectation_views, record_views};
use crate::scorer::Scorer;
use crate::trace_views::TraceViews;

/// The results of a run: one per record and scorer.
///
/// They are kept as the scorers wrote them, chunk by chunk and scorer by
/// scorer, in [`Results`]: 48 bytes per result, and one block of text per
/// scorer call that copied any (static text such as a fixed rationale is
/// not copied at all). Reading one ([`ScoreRef`]) costs no copy.
#[derive(Debug)]
pub struct Scores {
    chunk: usize,
    len: usize,
    /// Per chunk, per scorer, one result per record of the chunk.
    chunks: Vec<Vec<Results>>,
}

impl Scores {
    /// The result of record `record` by scorer `scorer` (in the order of
    /// the runner's scorers).
    ///
    /// # Panics
    /// When either index is out of range.
    pub fn get(&self, record: usize, scorer: usize) -> ScoreRef<'_> {
        assert!(record < self.len, "record {record} of {}", self.len);
        self.chunks[record / self.chunk][scorer]
            .get(record % self.chunk)
            .expect("one result per record of a chunk")
    }

    /// The results of record `i`, by scorer.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn record(&self, i: usize) -> RecordScores<'_> {
        assert!(i < self.len, "record {i} of {}", self.len);
        RecordScores {
            scores: self,
            record: i,
        }
    }

    /// How many records were scored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no record was scored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every record's results, in order.
    pub fn iter(&self) -> impl Iterator<Item = RecordScores<'_>> {
        (0..self.len).map(|i| self.record(i))
    }

    /// Results made elsewhere, such as on another machine: one column of
    /// `len` results per scorer, in the scorers' order.
    ///
    /// # Panics
    /// When a column does not hold `len` results.
    pub fn from_columns(len: usize, columns: Vec<Results>) -> Self {
        assert!(
            columns.iter().all(|c| c.len() == len),
            "one result per record in every column"
        );
        Scores {
            chunk: len.max(1),
            len,
            chunks: vec![columns],
        }
    }

    /// Bytes of memory the results hold (slots and copied text).
    pub fn memory(&self) -> usize {
        self.chunks.iter().flatten().map(Results::memory).sum()
    }
}

/// The results of one record, by scorer.
#[derive(Clone, Copy, Debug)]
pub struct RecordScores<'a> {
    scores: &'a Scores,
    record: usize,
}

impl<'a> RecordScores<'a> {
    /// The result of scorer `scorer` (in the order of the runner's
    /// scorers).
    pub fn get(&self, scorer: usize) -> ScoreRef<'a> {
        self.scores.get(self.record, scorer)
    }

    /// The results, in the order of the runner's scorers.
    pub fn iter(&self) -> impl Iterator<Item = ScoreRef<'a>> + use<'a> {
        let (scores, record) = (self.scores, self.record);
        (0..scores.chunks[record / scores.chunk].len()).map(move |s| scores.get(record, s))
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
        let results: Vec<Mutex<Vec<Results>>> = chunks.iter().map(|_| Mutex::default()).collect();
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
        Scores {
            chunk: self.chunk,
            len: records.len(),
            chunks: results
                .into_iter()
                .map(|r| r.into_inner().unwrap_or_else(|e| e.into_inner()))
                .collect(),
        }
    }

    /// Scores one chunk: one column of results per scorer. Its traces are
    /// laid out only when a scorer reads them, and handed only to those.
    fn score_chunk(&self, chunk: &[OwnedRecord]) -> Vec<Results> {
        let named = expectation_views(chunk);
        let views = record_views(chunk, &named);
        let traces = self
            .scorers
            .iter()
            .any(|s| s.info().needs_trace)
            .then(|| TraceViews::of(chunk));
        let n = chunk.len();
        self.scorers
            .iter()
            .map(|scorer| {
                let mut out = Results::with_capacity(n);
                match &traces {
                    Some(traces) if scorer.info().needs_trace => {
                        scorer.score_batch_traced(&views, traces.traces(), &mut out)
                    }
                    _ => scorer.score_batch(&views, &mut out),
                }
                // A scorer breaking the one-result-per-record rule must not
                // shift later records' results.
                out.truncate(n);
                while out.len() < n {
                    out.push(&Err(invalid(format!(
                        "{} returned fewer results than records",
                        scorer.info().name
                    ))));
                }
                out
            })
            .collect()
    }
}
