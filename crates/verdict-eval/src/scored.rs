//! The one place that reads the runner's results, so that a change to
//! `verdict_scorer::Scores` is a change here only.
//!
//! A record whose system under test gave no answer (a [`PredictError`])
//! has, for every scorer, that error in place of what the scorer said of
//! it: [`ChunkScores`] lays those errors over the runner's results, so
//! that statistics, result files, the store and the destinations all read
//! the same. The alternative, keeping such records away from the runner,
//! would make every reader map a chunk's records to the runner's.

use verdict::AssessmentBuilder;
use verdict_export::runs::{OwnVerdict, PackedResult, ScorerResult};
use verdict_plugin::{Results, ScoreError, ScoreRef, ScoreValueRef};
use verdict_scorer::{ScorerInfo, Scores, feedback_builder};

use crate::predict::PredictError;

/// A chunk's results: the runner's, with the error of each record whose
/// prediction failed in place of every scorer's result.
#[derive(Clone, Copy)]
pub(crate) struct ChunkScores<'a> {
    scores: &'a Scores,
    failed: &'a Failed,
}

impl<'a> ChunkScores<'a> {
    pub(crate) fn new(scores: &'a Scores, failed: &'a Failed) -> Self {
        ChunkScores { scores, failed }
    }

    fn get(&self, record: usize, scorer: usize) -> ScoreRef<'a> {
        match self.failed.at.get(record).copied().flatten() {
            Some(k) => self
                .failed
                .errors
                .get(k)
                .expect("one error per failed record"),
            None => self.scores.get(record, scorer),
        }
    }
}

/// The records of a chunk whose prediction failed, each with its error as
/// a scorer's error result.
#[derive(Default)]
pub(crate) struct Failed {
    /// Per record, where its error is in `errors`.
    at: Vec<Option<usize>>,
    errors: Results,
}

impl Failed {
    /// The failures of a chunk's records, in order.
    pub(crate) fn of<'e>(errors: impl Iterator<Item = Option<&'e PredictError>>) -> Self {
        let mut failed = Failed::default();
        for error in errors {
            failed.at.push(error.map(|e| {
                failed
                    .errors
                    .push(&Err(ScoreError::new(e.code(), e.to_string())));
                failed.errors.len() - 1
            }));
        }
        failed
    }
}

/// What one scorer said of one record, as this crate reads it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Said<'a> {
    /// The value as a number: numbers as they are, bools as 1 or 0.
    pub(crate) number: Option<f64>,
    /// The value when it is a bool.
    pub(crate) boolean: Option<bool>,
    /// The value when it is a label.
    pub(crate) label: Option<&'a str>,
    /// Whether a number or a label passes by the scorer's own criterion
    /// (a threshold in its config), when it says.
    pub(crate) passed: Option<bool>,
    /// Why.
    pub(crate) rationale: Option<&'a str>,
    /// The error code and message, when the scorer failed.
    pub(crate) error: Option<(&'a str, &'a str)>,
}

#[cfg(test)]
impl Said<'static> {
    /// A plain number, `n`, as the tests of what reads it want one.
    pub(crate) fn number(n: f64) -> Self {
        Said {
            number: Some(n),
            ..Said::default()
        }
    }
}

/// What scorer `scorer` said of record `record`.
pub(crate) fn said<'a>(scores: &ChunkScores<'a>, record: usize, scorer: usize) -> Said<'a> {
    let result = scores.get(record, scorer);
    Said {
        number: result.number(),
        boolean: match result.value() {
            Some(ScoreValueRef::Bool(b)) => Some(b),
            _ => None,
        },
        label: match result.value() {
            Some(ScoreValueRef::Label(label)) => Some(label),
            _ => None,
        },
        passed: result.passed(),
        rationale: result.rationale(),
        error: result.error(),
    }
}

/// The feedback that scorer `scorer` gives record `record`, to be
/// attached by the caller.
pub(crate) fn feedback(
    info: &ScorerInfo,
    scores: &ChunkScores<'_>,
    record: usize,
    scorer: usize,
) -> AssessmentBuilder {
    feedback_builder(info, scores.get(record, scorer))
}

/// What scorer `scorer` said of record `record`, as the store packs it:
/// the same value, error and rationale as [`feedback`] gives, and the
/// run's verdict by its criterion.
pub(crate) fn packed<'a>(
    scores: &ChunkScores<'a>,
    record: usize,
    scorer: usize,
    judged: Option<bool>,
) -> ScorerResult<'a> {
    let result = scores.get(record, scorer);
    let packed = match (result.value(), result.error()) {
        (Some(ScoreValueRef::Bool(b)), _) => PackedResult::Bool(b),
        (Some(ScoreValueRef::Number(n)), _) => PackedResult::Number(n),
        (Some(ScoreValueRef::Label(label)), _) => PackedResult::Label(label),
        (None, error) => {
            let (code, message) = error.unwrap_or_default();
            PackedResult::Error {
                code,
                message: Some(message),
            }
        }
    };
    ScorerResult {
        result: packed,
        verdict: match result.passed() {
            None => OwnVerdict::None,
            Some(true) => OwnVerdict::Pass,
            Some(false) => OwnVerdict::Fail,
        },
        judged,
        rationale: result.rationale(),
    }
}
