//! Who or what made an assessment.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result, excerpt};

/// The kind of evaluator behind an assessment, as MLflow names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceType {
    /// A person: a reviewer, a user's thumbs-up.
    Human,
    /// A language model acting as a judge.
    LlmJudge,
    /// A program: a heuristic scorer, a check run inline.
    Code,
}

impl SourceType {
    /// The name on MLflow's wire: `HUMAN`, `LLM_JUDGE` or `CODE`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SourceType::Human => "HUMAN",
            SourceType::LlmJudge => "LLM_JUDGE",
            SourceType::Code => "CODE",
        }
    }
}

impl fmt::Display for SourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "HUMAN" => Ok(SourceType::Human),
            "LLM_JUDGE" => Ok(SourceType::LlmJudge),
            "CODE" => Ok(SourceType::Code),
            other => Err(Error::InvalidValue {
                field: "source_type".into(),
                reason: format!(
                    "{:?} is not a source type; expected HUMAN, LLM_JUDGE or CODE",
                    excerpt(other)
                ),
            }),
        }
    }
}

/// The source of an assessment: a [`SourceType`] and an id naming the
/// person, model or program (`"default"` when not given, as in MLflow).
///
/// ```
/// use verdict::{AssessmentSource, SourceType};
///
/// let judge = AssessmentSource::llm_judge("gpt-judge-v2");
/// assert_eq!(judge.source_type(), SourceType::LlmJudge);
/// assert_eq!(AssessmentSource::code().source_id(), "default");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AssessmentSource {
    source_type: SourceType,
    source_id: Cow<'static, str>,
}

impl AssessmentSource {
    /// The source id used when none is given.
    pub const DEFAULT_ID: &'static str = "default";

    /// A source of the given type and id. The id must not be empty.
    pub fn new(source_type: SourceType, source_id: impl Into<Cow<'static, str>>) -> Result<Self> {
        let source_id = source_id.into();
        if source_id.is_empty() {
            return Err(Error::InvalidValue {
                field: "source_id".into(),
                reason: "a source id must not be empty; leave it out to get \"default\"".into(),
            });
        }
        Ok(AssessmentSource {
            source_type,
            source_id,
        })
    }

    const fn of(source_type: SourceType, source_id: Cow<'static, str>) -> Self {
        AssessmentSource {
            source_type,
            source_id,
        }
    }

    /// A person, identified by `id` (a user name, an e-mail address).
    /// An empty id names nobody: attaching the assessment refuses it.
    pub fn human(id: impl Into<Cow<'static, str>>) -> Self {
        Self::of(SourceType::Human, id.into())
    }

    /// A language-model judge, identified by `id` (a model or judge name).
    /// An empty id is refused when the assessment is attached.
    pub fn llm_judge(id: impl Into<Cow<'static, str>>) -> Self {
        Self::of(SourceType::LlmJudge, id.into())
    }

    /// A program, identified by `id` (a scorer name). An empty id is
    /// refused when the assessment is attached.
    pub fn code_named(id: impl Into<Cow<'static, str>>) -> Self {
        Self::of(SourceType::Code, id.into())
    }

    /// The default source of feedback: CODE, id `"default"`.
    pub const fn code() -> Self {
        Self::of(SourceType::Code, Cow::Borrowed(Self::DEFAULT_ID))
    }

    /// The default source of an expectation: HUMAN, id `"default"`.
    pub const fn default_human() -> Self {
        Self::of(SourceType::Human, Cow::Borrowed(Self::DEFAULT_ID))
    }

    /// The kind of evaluator.
    pub fn source_type(&self) -> SourceType {
        self.source_type
    }

    /// The evaluator's id.
    pub fn source_id(&self) -> &str {
        &self.source_id
    }
}
