//! The one place that reads the runner's results, so that a change to
//! `verdict_scorer::Scores` is a change here only.

use verdict::AssessmentBuilder;
use verdict_export::runs::{OwnVerdict, PackedResult, ScorerResult};
use verdict_plugin::ScoreValueRef;
use verdict_scorer::{ScorerInfo, Scores, feedback_builder};

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
pub(crate) fn said(scores: &Scores, record: usize, scorer: usize) -> Said<'_> {
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
    scores: &Scores,
    record: usize,
    scorer: usize,
) -> AssessmentBuilder {
    feedback_builder(info, scores.get(record, scorer))
}

/// What scorer `scorer` said of record `record`, as the store packs it:
/// the same value, error and rationale as [`feedback`] gives, and the
/// run's verdict by its criterion.
pub(crate) fn packed(
    scores: &Scores,
    record: usize,
    scorer: usize,
    judged: Option<bool>,
) -> ScorerResult<'_> {
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
