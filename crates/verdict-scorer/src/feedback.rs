//! Turning scorer outcomes into feedback assessments.

use verdict::{Assessment, AssessmentError, AssessmentSource, FeedbackValue, Target};
use verdict_plugin::{Outcome, ScoreValue};

use crate::scorer::{Origin, ScorerInfo};

/// Metadata key of the version of the scorer that made a feedback.
pub const SCORER_VERSION_KEY: &str = "verdict.scorer.version";
/// Metadata key of the SHA-256 digest of the plugin file that made a
/// feedback (absent for built-in scorers).
pub const SCORER_SHA256_KEY: &str = "verdict.scorer.sha256";

/// The feedback an outcome becomes: named after the scorer, from CODE with
/// the scorer's name as source id, with its rationale, and the scorer's
/// version and plugin digest in metadata. An error outcome becomes a
/// feedback with an [`AssessmentError`], so that it is counted, not lost.
pub fn to_feedback(
    info: &ScorerInfo,
    outcome: &Outcome,
    target: Target,
) -> verdict::Result<Assessment> {
    let builder = match outcome {
        Ok(score) => {
            let value = match &score.value {
                ScoreValue::Bool(b) => FeedbackValue::Bool(*b),
                ScoreValue::Number(n) => FeedbackValue::Number(*n),
                ScoreValue::Label(label) => FeedbackValue::String(label.to_string()),
            };
            let builder = Assessment::feedback(info.name.clone(), value);
            match &score.rationale {
                Some(rationale) => builder.rationale(rationale.to_string()),
                None => builder,
            }
        }
        Err(error) => Assessment::feedback_error(
            info.name.clone(),
            AssessmentError::new(error.code.to_string()).with_message(error.message.clone()),
        ),
    };
    let builder = builder
        .source(AssessmentSource::code_named(info.name.clone()))
        .metadata(SCORER_VERSION_KEY, info.version.clone());
    let builder = match &info.origin {
        Origin::Plugin { sha256, .. } => builder.metadata(SCORER_SHA256_KEY, sha256.clone()),
        Origin::Builtin => builder,
    };
    builder.on(target)
}
