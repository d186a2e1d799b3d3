//! The one place that reads the runner's results, so that a change to
//! `verdict_scorer::Scores` is a change here only.

use verdict::{Assessment, Target};
use verdict_plugin::ScoreValue;
use verdict_scorer::{Scores, ScorerInfo, to_feedback};

/// What one scorer said of one record, as this crate reads it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Said<'a> {
    /// The value as a number: numbers as they are, bools as 1 or 0.
    pub(crate) number: Option<f64>,
    /// The value when it is a bool.
    pub(crate) boolean: Option<bool>,
    /// The value when it is a label.
    pub(crate) label: Option<&'a str>,
    /// Why.
    pub(crate) rationale: Option<&'a str>,
    /// The error code and message, when the scorer failed.
    pub(crate) error: Option<(&'a str, &'a str)>,
}

/// What scorer `scorer` said of record `record`.
pub(crate) fn said(scores: &Scores, record: usize, scorer: usize) -> Said<'_> {
    match scores.get(record, scorer) {
        Ok(score) => {
            let mut said = Said {
                rationale: score.rationale.as_deref(),
                ..Said::default()
            };
            match &score.value {
                ScoreValue::Bool(b) => {
                    said.boolean = Some(*b);
                    said.number = Some(f64::from(u8::from(*b)));
                }
                ScoreValue::Number(n) => said.number = Some(*n),
                ScoreValue::Label(label) => said.label = Some(label),
            }
            said
        }
        Err(error) => Said {
            error: Some((&error.code, &error.message)),
            ..Said::default()
        },
    }
}

/// The feedback that scorer `scorer` gives record `record`.
pub(crate) fn feedback(
    info: &ScorerInfo,
    scores: &Scores,
    record: usize,
    scorer: usize,
    target: Target,
) -> verdict::Result<Assessment> {
    to_feedback(info, scores.get(record, scorer), target)
}
