//! Turning scorer results into feedback assessments.

use verdict::{
    Assessment, AssessmentBuilder, AssessmentError, AssessmentSource, FeedbackValue, Target,
};
use verdict_plugin::{ScoreRef, ScoreValueRef};

use crate::scorer::{Origin, ScorerInfo};

/// Metadata key of the version of the scorer that made a feedback.
pub const SCORER_VERSION_KEY: &str = "verdict.scorer.version";
/// Metadata key of the SHA-256 digest of the plugin file that made a
/// feedback (absent for built-in scorers).
pub const SCORER_SHA256_KEY: &str = "verdict.scorer.sha256";

/// The feedback a result becomes: named after the scorer, from CODE with
/// the scorer's name as source id, with its rationale, and the scorer's
/// version and plugin digest in metadata. An error result becomes a
/// feedback with an [`AssessmentError`], so that it is counted, not lost.
pub fn to_feedback(
    info: &ScorerInfo,
    score: ScoreRef<'_>,
    target: Target,
) -> verdict::Result<Assessment> {
    feedback_builder(info, score).on(target)
}

/// The feedback of [`to_feedback`], not yet attached: add what a caller
/// knows (a run id, an id of its own) before [`AssessmentBuilder::on`].
pub fn feedback_builder(info: &ScorerInfo, score: ScoreRef<'_>) -> AssessmentBuilder {
    let builder = match (score.value(), score.error()) {
        (Some(value), _) => {
            let value = match value {
                ScoreValueRef::Bool(b) => FeedbackValue::Bool(b),
                ScoreValueRef::Number(n) => FeedbackValue::Number(n),
                ScoreValueRef::Label(label) => FeedbackValue::String(label.to_owned()),
            };
            let builder = Assessment::feedback(info.name.clone(), value);
            match score.rationale() {
                Some(rationale) => builder.rationale(rationale.to_owned()),
                None => builder,
            }
        }
        (None, error) => {
            let (code, message) = error.unwrap_or_default();
            Assessment::feedback_error(
                info.name.clone(),
                AssessmentError::new(code.to_owned()).with_message(message.to_owned()),
            )
        }
    };
    let builder = builder
        .source(AssessmentSource::code_named(info.name.clone()))
        .metadata(SCORER_VERSION_KEY, info.version.clone());
    match &info.origin {
        Origin::Plugin { sha256, .. } => builder.metadata(SCORER_SHA256_KEY, sha256.clone()),
        Origin::Builtin => builder,
    }
}
