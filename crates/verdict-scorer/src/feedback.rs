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
    builder
        .source(feedback_source(info))
        .metadata_entries(feedback_metadata(info))
}

/// Who a scorer's feedback comes from: CODE, with the scorer's name as
/// source id.
pub fn feedback_source(info: &ScorerInfo) -> AssessmentSource {
    AssessmentSource::code_named(info.name.clone())
}

/// The metadata every feedback of a scorer carries: its version, and the
/// digest of its plugin file.
pub fn feedback_metadata(info: &ScorerInfo) -> std::collections::BTreeMap<String, String> {
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert(SCORER_VERSION_KEY.to_owned(), info.version.clone());
    if let Origin::Plugin { sha256, .. } = &info.origin {
        metadata.insert(SCORER_SHA256_KEY.to_owned(), sha256.clone());
    }
    metadata
}
