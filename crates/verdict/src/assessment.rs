//! The assessment record and its builder.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceId};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ids::AssessmentId;
use crate::name::AssessmentName;
use crate::source::AssessmentSource;
use crate::target::Target;
use crate::value::{AssessmentError, FeedbackValue};

/// The metadata key under which MLflow carries an assessment's run id.
pub const RUN_ID_METADATA_KEY: &str = "mlflow.assessment.sourceRunId";

/// Whether an assessment is a feedback or an expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A judgment of an output.
    Feedback,
    /// A ground-truth label.
    Expectation,
}

impl Kind {
    /// `"feedback"` or `"expectation"`, as in MLflow's search syntax.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Feedback => "feedback",
            Kind::Expectation => "expectation",
        }
    }
}

/// What an assessment says: a feedback (a value, an error, or both) or an
/// expectation (any JSON value).
#[derive(Clone, Debug, PartialEq)]
pub enum AssessmentValue {
    /// A judgment of an output.
    Feedback {
        /// The judgment, absent when the evaluation failed.
        value: Option<FeedbackValue>,
        /// Why the evaluation failed, if it did.
        error: Option<AssessmentError>,
    },
    /// A ground-truth label: any JSON value but `null`.
    Expectation(Value),
}

impl AssessmentValue {
    /// Which kind of assessment this value belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            AssessmentValue::Feedback { .. } => Kind::Feedback,
            AssessmentValue::Expectation(_) => Kind::Expectation,
        }
    }

    /// Checks the rules of [`Assessment`]'s value for an assessment named
    /// `name`.
    pub(crate) fn check(&self, name: &str) -> Result<()> {
        match self {
            AssessmentValue::Feedback { value, error } => {
                if value.is_none() && error.is_none() {
                    return Err(Error::EmptyFeedback { name: name.into() });
                }
                if let Some(value) = value {
                    value.check(name)?;
                }
                if let Some(error) = error {
                    error.check()?;
                }
                Ok(())
            }
            AssessmentValue::Expectation(Value::Null) => Err(Error::InvalidValue {
                field: format!("expectation {name:?}"),
                reason: "null is not a ground truth; give the expected value".into(),
            }),
            AssessmentValue::Expectation(_) => Ok(()),
        }
    }
}

/// A judgment of an output (feedback) or a ground-truth label
/// (expectation), attached to a span or a whole trace.
///
/// It mirrors MLflow's `Assessment` field for field; see the crate docs for
/// the table. Every `Assessment` has passed validation: its name follows the
/// naming rules, a feedback has a value or an error, numbers are finite,
/// and ids have the right shape. Build one with [`Assessment::feedback`],
/// [`Assessment::feedback_error`] or [`Assessment::expectation`], or decode
/// one from MLflow's JSON with `serde_json`.
///
/// ```
/// use verdict::{Assessment, AssessmentSource, Target};
///
/// let target = Target::parse("tr-0fb07256509eb9d22d07f42f7eb9f24d", Some("71492b10072d70de"))?;
/// let feedback = Assessment::feedback("correctness", true)
///     .rationale("matches the reference")
///     .source(AssessmentSource::human("alice@example.com"))
///     .metadata("reviewer.team", "support")
///     .on(target)?;
/// assert_eq!(feedback.name(), "correctness");
/// assert!(feedback.is_valid());
/// # Ok::<(), verdict::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    pub(crate) id: AssessmentId,
    pub(crate) name: AssessmentName,
    pub(crate) target: Target,
    pub(crate) source: AssessmentSource,
    pub(crate) value: AssessmentValue,
    pub(crate) rationale: Option<String>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) create_time: SystemTime,
    pub(crate) last_update_time: SystemTime,
    pub(crate) overrides: Option<AssessmentId>,
    pub(crate) valid: bool,
    pub(crate) run_id: Option<String>,
}

impl Assessment {
    /// Starts a feedback with a value: a bool, a number, a label, a list
    /// or an object. Its source defaults to CODE with id `"default"`.
    pub fn feedback(
        name: impl Into<Cow<'static, str>>,
        value: impl Into<FeedbackValue>,
    ) -> AssessmentBuilder {
        AssessmentBuilder::new(
            name.into(),
            AssessmentValue::Feedback {
                value: Some(value.into()),
                error: None,
            },
        )
    }

    /// Starts a feedback that records a failed evaluation instead of a
    /// value.
    pub fn feedback_error(
        name: impl Into<Cow<'static, str>>,
        error: AssessmentError,
    ) -> AssessmentBuilder {
        AssessmentBuilder::new(
            name.into(),
            AssessmentValue::Feedback {
                value: None,
                error: Some(error),
            },
        )
    }

    /// Starts an expectation: a ground-truth label, any JSON value but
    /// `null`. Its source defaults to HUMAN with id `"default"`.
    pub fn expectation(
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
    ) -> AssessmentBuilder {
        AssessmentBuilder::new(name.into(), AssessmentValue::Expectation(value.into()))
    }

    /// The id, `a-` + 32 hex.
    pub fn id(&self) -> AssessmentId {
        self.id
    }

    /// The name.
    pub fn name(&self) -> &AssessmentName {
        &self.name
    }

    /// The span or trace judged.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The trace judged.
    pub fn trace_id(&self) -> TraceId {
        self.target.trace_id()
    }

    /// The span judged, or `None` when the assessment is on the whole trace.
    pub fn span_id(&self) -> Option<SpanId> {
        self.target.span_id()
    }

    /// Who or what made it.
    pub fn source(&self) -> &AssessmentSource {
        &self.source
    }

    /// Feedback or expectation, with its value.
    pub fn value(&self) -> &AssessmentValue {
        &self.value
    }

    /// Feedback or expectation.
    pub fn kind(&self) -> Kind {
        self.value.kind()
    }

    /// The feedback value, if this is a feedback that has one.
    pub fn feedback_value(&self) -> Option<&FeedbackValue> {
        match &self.value {
            AssessmentValue::Feedback { value, .. } => value.as_ref(),
            AssessmentValue::Expectation(_) => None,
        }
    }

    /// The error of a failed evaluation, if this is a feedback that has one.
    pub fn error(&self) -> Option<&AssessmentError> {
        match &self.value {
            AssessmentValue::Feedback { error, .. } => error.as_ref(),
            AssessmentValue::Expectation(_) => None,
        }
    }

    /// The expected value, if this is an expectation.
    pub fn expectation_value(&self) -> Option<&Value> {
        match &self.value {
            AssessmentValue::Expectation(value) => Some(value),
            AssessmentValue::Feedback { .. } => None,
        }
    }

    /// Why the value is what it is.
    pub fn rationale(&self) -> Option<&str> {
        self.rationale.as_deref()
    }

    /// Free-form string metadata. The run id is not in here: see
    /// [`run_id`](Self::run_id).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// When it was created (millisecond precision, as MLflow stores it).
    pub fn create_time(&self) -> SystemTime {
        self.create_time
    }

    /// When it was last updated.
    pub fn last_update_time(&self) -> SystemTime {
        self.last_update_time
    }

    /// The assessment this one overrides, if any.
    pub fn overrides(&self) -> Option<AssessmentId> {
        self.overrides
    }

    /// False once another assessment overrides this one. Aggregations skip
    /// invalid assessments.
    pub fn is_valid(&self) -> bool {
        self.valid
    }

    /// Marks the assessment overridden (`false`) or restored (`true`). Stores
    /// call this as they apply the lifecycle; see [`crate::lifecycle`].
    pub fn set_valid(&mut self, valid: bool) {
        self.valid = valid;
    }

    /// The MLflow run the assessment belongs to, if any.
    pub fn run_id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }

    /// Ties the assessment to another run, or to none: what an exporter
    /// does that sends a run's assessments inside a run of the destination's
    /// own (an evaluation exported as an MLflow run carries MLflow's run
    /// id there).
    pub fn set_run_id(&mut self, run_id: Option<String>) {
        self.run_id = run_id;
    }

    /// The assessment as MLflow's REST JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an assessment always serializes")
    }

    /// Decodes MLflow's REST JSON, validating it as the builder does.
    pub fn from_json(json: &str) -> Result<Self> {
        Ok(serde_json::from_str(json)?)
    }
}

/// The current time, cut to milliseconds as MLflow stores it, so that what
/// a local store keeps equals what a server answers.
pub(crate) fn now() -> SystemTime {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    UNIX_EPOCH + Duration::from_millis(since_epoch.as_millis() as u64)
}

impl Assessment {
    /// Checks the rules that the fields' own types do not, and moves a run
    /// id carried in the metadata to its place. The builder and the JSON
    /// decoder both end here, with the name already checked, so the rules
    /// live in one place.
    pub(crate) fn validated(mut self) -> Result<Assessment> {
        self.value.check(self.name.as_str())?;
        if let Some(from_metadata) = self.metadata.remove(RUN_ID_METADATA_KEY) {
            self.run_id.get_or_insert(from_metadata);
        }
        if self.source.source_id().is_empty() {
            // Most likely a user or model name that was not filled in:
            // turning it into "default" would hide who assessed.
            return Err(Error::InvalidValue {
                field: "source_id".into(),
                reason: "an empty source id names nobody: give the person, model or program \
                         that assessed, or leave the source out to get \"default\""
                    .into(),
            });
        }
        if self.run_id.as_deref() == Some("") {
            return Err(Error::InvalidValue {
                field: "run_id".into(),
                reason: "a run id must not be empty; leave it out instead".into(),
            });
        }
        if self.overrides.is_some() && self.value.kind() == Kind::Expectation {
            return Err(Error::InvalidOverride {
                id: self.overrides.map(|id| id.to_string()).unwrap_or_default(),
                reason: "only feedback can override; update an expectation instead",
            });
        }
        Ok(self)
    }
}

/// Builds an [`Assessment`]; finish it by attaching it to a span or trace
/// with one of the `on…` methods, which validate everything.
#[derive(Clone, Debug)]
#[must_use = "an assessment builder does nothing until attached with `on…`"]
pub struct AssessmentBuilder {
    name: Cow<'static, str>,
    value: AssessmentValue,
    source: Option<AssessmentSource>,
    rationale: Option<String>,
    metadata: BTreeMap<String, String>,
    run_id: Option<String>,
    overrides: Option<AssessmentId>,
    id: Option<AssessmentId>,
    created: Option<SystemTime>,
    pending_error: bool,
}

impl AssessmentBuilder {
    fn new(name: Cow<'static, str>, value: AssessmentValue) -> Self {
        AssessmentBuilder {
            name,
            value,
            source: None,
            rationale: None,
            metadata: BTreeMap::new(),
            run_id: None,
            overrides: None,
            id: None,
            created: None,
            pending_error: false,
        }
    }

    /// Says why the value is what it is.
    pub fn rationale(mut self, rationale: impl Into<String>) -> Self {
        self.rationale = Some(rationale.into());
        self
    }

    /// Who or what made the assessment.
    pub fn source(mut self, source: AssessmentSource) -> Self {
        self.source = Some(source);
        self
    }

    /// Adds one metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Adds several metadata entries.
    pub fn metadata_entries<K, V>(mut self, entries: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.metadata
            .extend(entries.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Ties the assessment to an MLflow run.
    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }

    /// Records an error alongside a feedback's value (an evaluation that
    /// produced a value but also failed in part). On an expectation this
    /// makes attaching fail: expectations never carry errors.
    pub fn error(mut self, error: AssessmentError) -> Self {
        match &mut self.value {
            AssessmentValue::Feedback { error: slot, .. } => *slot = Some(error),
            AssessmentValue::Expectation(_) => self.pending_error = true,
        }
        self
    }

    /// Makes this feedback override an earlier one, which becomes invalid
    /// (as MLflow's `override_feedback`).
    pub fn overrides(mut self, id: AssessmentId) -> Self {
        self.overrides = Some(id);
        self
    }

    /// Uses this id instead of a random one, to make a retried recording
    /// idempotent across processes.
    pub fn id(mut self, id: AssessmentId) -> Self {
        self.id = Some(id);
        self
    }

    /// Uses this time as its creation (and last update) time instead of
    /// now, for an assessment made earlier and stored (a store puts its
    /// assessments back together with the time they were made).
    pub fn created_at(mut self, time: SystemTime) -> Self {
        self.created = Some(time);
        self
    }

    /// Validates the assessment and attaches it to `target`.
    pub fn on(self, target: Target) -> Result<Assessment> {
        if self.pending_error {
            return Err(Error::ExpectationWithError {
                name: crate::error::excerpt(&self.name),
            });
        }
        let source = self.source.unwrap_or(match self.value {
            AssessmentValue::Feedback { .. } => AssessmentSource::code(),
            AssessmentValue::Expectation(_) => AssessmentSource::default_human(),
        });
        let time = self.created.unwrap_or_else(now);
        Assessment {
            id: self.id.unwrap_or_else(AssessmentId::random),
            name: AssessmentName::new(self.name)?,
            target,
            source,
            value: self.value,
            rationale: self.rationale,
            metadata: self.metadata,
            create_time: time,
            last_update_time: time,
            overrides: self.overrides,
            valid: true,
            run_id: self.run_id,
        }
        .validated()
    }

    /// Attaches to the span a [`SpanContext`] names.
    pub fn on_span(self, cx: &SpanContext) -> Result<Assessment> {
        self.on(Target::from_span_context(cx)?)
    }

    /// Attaches to the active span of an OpenTelemetry [`Context`].
    pub fn on_context(self, cx: &Context) -> Result<Assessment> {
        self.on(Target::from_context(cx)?)
    }

    /// Attaches to the active span of the current OpenTelemetry
    /// [`Context`]; fails when there is none.
    pub fn on_current_span(self) -> Result<Assessment> {
        self.on(Target::current()?)
    }

    /// Attaches to the OpenTelemetry span behind the current `tracing`
    /// span; fails when there is none.
    #[cfg(feature = "tracing")]
    pub fn on_tracing_span(self) -> Result<Assessment> {
        self.on(Target::current_tracing_span()?)
    }

    /// Attaches to a trace given as 32 hex or `tr-<32 hex>`, and to one of
    /// its spans when `span_id` (16 hex) is given.
    pub fn on_trace(self, trace_id: &str, span_id: Option<&str>) -> Result<Assessment> {
        self.on(Target::parse(trace_id, span_id)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceType;

    fn target() -> Target {
        Target::parse("0fb07256509eb9d22d07f42f7eb9f24d", Some("71492b10072d70de")).unwrap()
    }

    #[test]
    fn defaults_follow_mlflow() {
        let fb = Assessment::feedback("f", 1).on(target()).unwrap();
        assert_eq!(fb.source().source_type(), SourceType::Code);
        assert_eq!(fb.source().source_id(), "default");
        assert!(fb.is_valid());
        assert_eq!(fb.create_time(), fb.last_update_time());
        let ex = Assessment::expectation("e", "Paris").on(target()).unwrap();
        assert_eq!(ex.source().source_type(), SourceType::Human);
        assert_eq!(ex.source().source_id(), "default");
    }

    #[test]
    fn times_have_millisecond_precision() {
        let fb = Assessment::feedback("f", 1).on(target()).unwrap();
        let nanos = fb
            .create_time()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        assert_eq!(nanos % 1_000_000, 0);
    }

    #[test]
    fn bad_values_are_refused() {
        let err = Assessment::feedback("f", f64::NAN)
            .on(target())
            .unwrap_err();
        assert!(err.to_string().contains("finite"), "{err}");
        let err = Assessment::feedback("f", f64::INFINITY)
            .on(target())
            .unwrap_err();
        assert!(err.to_string().contains("finite"), "{err}");
        let err = Assessment::expectation("e", Value::Null)
            .on(target())
            .unwrap_err();
        assert!(err.to_string().contains("null"), "{err}");
        let err = Assessment::feedback_error("f", AssessmentError::new(""))
            .on(target())
            .unwrap_err();
        assert!(err.to_string().contains("non-empty code"), "{err}");
    }

    #[test]
    fn expectations_never_carry_errors() {
        let err = Assessment::expectation("e", 1)
            .error(AssessmentError::new("X"))
            .on(target())
            .unwrap_err();
        assert!(matches!(err, Error::ExpectationWithError { .. }), "{err}");
    }

    #[test]
    fn expectations_cannot_override() {
        let err = Assessment::expectation("e", 1)
            .overrides(AssessmentId::random())
            .on(target())
            .unwrap_err();
        assert!(matches!(err, Error::InvalidOverride { .. }), "{err}");
    }

    #[test]
    fn run_id_in_metadata_becomes_the_run_id() {
        let fb = Assessment::feedback("f", true)
            .metadata(RUN_ID_METADATA_KEY, "run-1")
            .on(target())
            .unwrap();
        assert_eq!(fb.run_id(), Some("run-1"));
        assert!(fb.metadata().is_empty());
        let mut moved = fb.clone();
        moved.set_run_id(Some("abc".into()));
        assert_eq!(moved.run_id(), Some("abc"));
        assert!(
            moved
                .to_json()
                .contains(r#""mlflow.assessment.sourceRunId":"abc""#)
        );
        moved.set_run_id(None);
        assert!(!moved.to_json().contains("sourceRunId"));
    }

    #[test]
    fn feedback_may_have_a_value_and_an_error() {
        let fb = Assessment::feedback("f", 0.5)
            .error(AssessmentError::new("PARTIAL"))
            .on(target())
            .unwrap();
        assert_eq!(fb.feedback_value(), Some(&FeedbackValue::Number(0.5)));
        assert_eq!(fb.error().unwrap().error_code, "PARTIAL");
    }
}
