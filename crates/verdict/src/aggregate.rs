//! Summaries of feedback: counts, means and pass rates over valid
//! assessments.

use crate::assessment::{Assessment, Kind};
use crate::value::FeedbackValue;

/// A summary of the feedback of one name.
///
/// Only valid feedback counts: an overridden assessment is replaced by its
/// override, never counted twice. Bools count as 1 and 0 in the mean.
///
/// ```
/// use verdict::{Assessment, FeedbackSummary};
///
/// let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
/// let all = [
///     Assessment::feedback("ok", true).on_trace(trace, None)?,
///     Assessment::feedback("ok", false).on_trace(trace, None)?,
///     Assessment::feedback("ok", true).on_trace(trace, None)?,
/// ];
/// let summary = FeedbackSummary::of("ok", &all);
/// assert_eq!(summary.count, 3);
/// assert_eq!(summary.pass_rate(), Some(2.0 / 3.0));
/// # Ok::<(), verdict::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeedbackSummary {
    /// Valid feedback of this name, failed evaluations included.
    pub count: usize,
    /// Of those, how many record an error.
    pub errors: usize,
    /// How many have a number or a bool.
    pub scored: usize,
    /// The sum of those numbers (bools as 1 and 0).
    pub sum: f64,
    /// How many have a bool.
    pub bools: usize,
    /// How many of the bools are true.
    pub passed: usize,
    /// Invalid (overridden) feedback of this name, which was skipped.
    pub skipped_invalid: usize,
}

impl FeedbackSummary {
    /// Summarizes the feedback named `name` among `assessments`.
    pub fn of<'a>(name: &str, assessments: impl IntoIterator<Item = &'a Assessment>) -> Self {
        let mut summary = FeedbackSummary::default();
        for a in assessments {
            if a.kind() == Kind::Feedback && a.name() == name {
                summary.add(a);
            }
        }
        summary
    }

    /// Adds one feedback to the summary.
    pub fn add(&mut self, assessment: &Assessment) {
        if !assessment.is_valid() {
            self.skipped_invalid += 1;
            return;
        }
        self.count += 1;
        if assessment.error().is_some() {
            self.errors += 1;
        }
        let value = assessment.feedback_value();
        if let Some(score) = value.and_then(FeedbackValue::as_score) {
            self.scored += 1;
            self.sum += score;
        }
        if let Some(FeedbackValue::Bool(b)) = value {
            self.bools += 1;
            self.passed += usize::from(*b);
        }
    }

    /// The mean of numbers and bools, if there are any.
    pub fn mean(&self) -> Option<f64> {
        (self.scored > 0).then(|| self.sum / self.scored as f64)
    }

    /// The share of bools that are true, if there are any.
    pub fn pass_rate(&self) -> Option<f64> {
        (self.bools > 0).then(|| self.passed as f64 / self.bools as f64)
    }
}
