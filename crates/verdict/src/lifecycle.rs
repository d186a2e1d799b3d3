//! What happens to assessments after they are logged: update, override,
//! delete — the rules every store follows.
//!
//! The rules are MLflow's, written once here over the few primitive reads
//! and writes a store offers ([`Records`]), so that the in-memory store and
//! the local database give the same answers:
//!
//! - **log**: a new assessment. Logging the very same assessment again is a
//!   no-op (so retries are idempotent); another assessment with a taken id
//!   is an error. A feedback that [overrides](crate::AssessmentBuilder::overrides)
//!   another marks it `valid = false`; the overridden one must exist, be a
//!   feedback and be on the same trace.
//! - **update**: changes name, value, rationale and merges metadata (the
//!   entries sent replace those with the same keys, the others are kept —
//!   as an MLflow 3.17.2 server does with a PATCH, checked by
//!   `verdict-export`'s MLflow tests); source, target and create time are
//!   kept, the last-update time is the update's (an MLflow server stamps
//!   its own clock's time instead). An assessment keeps its kind.
//! - **delete**: removes the assessment; if it overrode another, that one is
//!   valid again. Deleting what is not there is not an error.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::SystemTime;

use opentelemetry::trace::TraceId;
use serde_json::Value;

use crate::assessment::{Assessment, AssessmentBuilder, AssessmentValue, Kind, now};
use crate::error::{Error, Result};
use crate::ids::{AssessmentId, mlflow_trace_id};
use crate::name::AssessmentName;
use crate::sink::Operation;
use crate::value::{AssessmentError, FeedbackValue};

/// A change to an existing assessment, as MLflow's `update_assessment`:
/// any of name, value, rationale, and metadata entries to merge.
///
/// ```
/// use verdict::{AssessmentUpdate, AssessmentId};
///
/// let trace = verdict::parse_trace_id("tr-0fb07256509eb9d22d07f42f7eb9f24d")?;
/// let id: AssessmentId = "a-e3e076695b0d40dc8238ee5e60061c9c".parse()?;
/// let update = AssessmentUpdate::builder(trace, id)
///     .feedback(0.5)
///     .rationale("re-scored after review")
///     .metadata("reviewed", "yes")
///     .build()?;
/// assert_eq!(update.mask(), "feedback,rationale,metadata");
/// # Ok::<(), verdict::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AssessmentUpdate {
    trace_id: TraceId,
    assessment_id: AssessmentId,
    name: Option<AssessmentName>,
    value: Option<AssessmentValue>,
    rationale: Option<String>,
    metadata: BTreeMap<String, String>,
    update_time: SystemTime,
}

impl AssessmentUpdate {
    /// Starts an update of assessment `assessment_id` of trace `trace_id`.
    pub fn builder(trace_id: TraceId, assessment_id: AssessmentId) -> UpdateBuilder {
        UpdateBuilder {
            trace_id,
            assessment_id,
            name: None,
            value: None,
            rationale: None,
            metadata: BTreeMap::new(),
        }
    }

    /// An update that sets every field an update can set to the
    /// assessment's as it now is: how a destination holding an older
    /// version of it is brought up to date without knowing which changes it
    /// missed. Its update time is the assessment's last one.
    pub fn restating(assessment: &Assessment) -> AssessmentUpdate {
        AssessmentUpdate {
            trace_id: assessment.trace_id(),
            assessment_id: assessment.id,
            name: Some(assessment.name.clone()),
            value: Some(assessment.value.clone()),
            rationale: assessment.rationale.clone(),
            metadata: assessment.metadata.clone(),
            update_time: assessment.last_update_time,
        }
    }

    /// The trace of the assessment updated.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The assessment updated.
    pub fn assessment_id(&self) -> AssessmentId {
        self.assessment_id
    }

    /// The new name, if it changes.
    pub fn name(&self) -> Option<&AssessmentName> {
        self.name.as_ref()
    }

    /// The new value, if it changes.
    pub fn value(&self) -> Option<&AssessmentValue> {
        self.value.as_ref()
    }

    /// The new rationale, if it changes.
    pub fn rationale(&self) -> Option<&str> {
        self.rationale.as_deref()
    }

    /// Metadata entries merged into the assessment's.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// When the update was made: the assessment's new last-update time.
    pub fn update_time(&self) -> SystemTime {
        self.update_time
    }

    /// MLflow's `update_mask`: the comma-separated fields the update sets.
    pub fn mask(&self) -> String {
        let mut fields = Vec::with_capacity(4);
        if self.name.is_some() {
            fields.push("assessment_name");
        }
        if let Some(value) = &self.value {
            fields.push(value.kind().as_str());
        }
        if self.rationale.is_some() {
            fields.push("rationale");
        }
        if !self.metadata.is_empty() {
            fields.push("metadata");
        }
        fields.join(",")
    }

    /// Applies the update to `assessment`, which must be the one it names.
    pub fn apply(&self, assessment: &mut Assessment) -> Result<()> {
        if assessment.id != self.assessment_id || assessment.trace_id() != self.trace_id {
            return Err(not_found(self.trace_id, self.assessment_id));
        }
        if let Some(value) = &self.value
            && value.kind() != assessment.kind()
        {
            return Err(Error::KindMismatch {
                id: assessment.id.to_string(),
                kind: assessment.kind().as_str(),
                given: value.kind().as_str(),
            });
        }
        if let Some(name) = &self.name {
            assessment.name = name.clone();
        }
        if let Some(value) = &self.value {
            assessment.value = value.clone();
        }
        if let Some(rationale) = &self.rationale {
            assessment.rationale = Some(rationale.clone());
        }
        assessment
            .metadata
            .extend(self.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        assessment.last_update_time = self.update_time;
        Ok(())
    }
}

/// Builds an [`AssessmentUpdate`]; [`build`](Self::build) validates it.
#[derive(Clone, Debug)]
#[must_use = "an update builder does nothing until built"]
pub struct UpdateBuilder {
    trace_id: TraceId,
    assessment_id: AssessmentId,
    name: Option<Cow<'static, str>>,
    value: Option<AssessmentValue>,
    rationale: Option<String>,
    metadata: BTreeMap<String, String>,
}

impl UpdateBuilder {
    /// Renames the assessment.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Gives a feedback a new value (and clears its error).
    pub fn feedback(mut self, value: impl Into<FeedbackValue>) -> Self {
        self.value = Some(AssessmentValue::Feedback {
            value: Some(value.into()),
            error: None,
        });
        self
    }

    /// Replaces a feedback's value with an error.
    pub fn feedback_error(mut self, error: AssessmentError) -> Self {
        self.value = Some(AssessmentValue::Feedback {
            value: None,
            error: Some(error),
        });
        self
    }

    /// Gives an expectation a new value.
    pub fn expectation(mut self, value: impl Into<Value>) -> Self {
        self.value = Some(AssessmentValue::Expectation(value.into()));
        self
    }

    /// Replaces the rationale.
    pub fn rationale(mut self, rationale: impl Into<String>) -> Self {
        self.rationale = Some(rationale.into());
        self
    }

    /// Adds or replaces one metadata entry; other entries are kept.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Validates the update and stamps its time.
    pub fn build(self) -> Result<AssessmentUpdate> {
        let name = self.name.map(AssessmentName::new).transpose()?;
        let label = name.as_ref().map_or("(unchanged name)", |n| n.as_str());
        if let Some(value) = &self.value {
            value.check(label)?;
        }
        if name.is_none()
            && self.value.is_none()
            && self.rationale.is_none()
            && self.metadata.is_empty()
        {
            return Err(Error::InvalidValue {
                field: format!("update of {}", self.assessment_id),
                reason: "the update changes nothing; set a name, a value, a rationale or \
                         metadata"
                    .into(),
            });
        }
        Ok(AssessmentUpdate {
            trace_id: self.trace_id,
            assessment_id: self.assessment_id,
            name,
            value: self.value,
            rationale: self.rationale,
            metadata: self.metadata,
            update_time: now(),
        })
    }
}

impl Assessment {
    /// Starts a feedback that overrides `old` (as MLflow's
    /// `override_feedback`): same name, pointing at `old`, which becomes
    /// invalid once the new one is logged. Attach it to `old.target()`.
    pub fn override_of(old: &Assessment, value: impl Into<FeedbackValue>) -> AssessmentBuilder {
        Assessment::feedback(Cow::Owned(old.name.as_str().to_owned()), value).overrides(old.id)
    }
}

/// The primitive reads and writes of a store. The lifecycle rules
/// ([`log`], [`update`], [`delete`], [`apply`]) are written once on top of
/// them; a store implements this inside whatever transaction it uses.
pub trait Records {
    /// The assessment with this id, whatever its trace.
    fn get(&mut self, id: AssessmentId) -> Result<Option<Assessment>>;
    /// Stores a new assessment, or replaces the one with the same id.
    fn put(&mut self, assessment: &Assessment) -> Result<()>;
    /// Removes an assessment.
    fn remove(&mut self, id: AssessmentId) -> Result<()>;
}

fn not_found(trace_id: TraceId, id: AssessmentId) -> Error {
    Error::NotFound {
        id: id.to_string(),
        trace_id: mlflow_trace_id(trace_id),
    }
}

/// Logs a new assessment, applying an override if it carries one.
pub fn log(records: &mut impl Records, assessment: &Assessment) -> Result<()> {
    if let Some(existing) = records.get(assessment.id)? {
        if &existing == assessment {
            return Ok(());
        }
        return Err(Error::DuplicateId {
            id: assessment.id.to_string(),
        });
    }
    if let Some(old_id) = assessment.overrides {
        let mut old = records
            .get(old_id)?
            .filter(|old| old.trace_id() == assessment.trace_id())
            .ok_or_else(|| not_found(assessment.trace_id(), old_id))?;
        if old.kind() != Kind::Feedback {
            return Err(Error::InvalidOverride {
                id: old_id.to_string(),
                reason: "it is an expectation; only feedback can be overridden",
            });
        }
        old.valid = false;
        records.put(&old)?;
    }
    records.put(assessment)
}

/// Applies an update and returns the assessment as it now is.
pub fn update(records: &mut impl Records, update: &AssessmentUpdate) -> Result<Assessment> {
    let mut assessment = records
        .get(update.assessment_id)?
        .ok_or_else(|| not_found(update.trace_id, update.assessment_id))?;
    update.apply(&mut assessment)?;
    records.put(&assessment)?;
    Ok(assessment)
}

/// Deletes an assessment, restoring the one it overrode. Deleting what is
/// not there is fine; naming the wrong trace is not.
pub fn delete(records: &mut impl Records, trace_id: TraceId, id: AssessmentId) -> Result<()> {
    let Some(assessment) = records.get(id)? else {
        return Ok(());
    };
    if assessment.trace_id() != trace_id {
        return Err(not_found(trace_id, id));
    }
    records.remove(id)?;
    if let Some(old_id) = assessment.overrides
        && let Some(mut old) = records.get(old_id)?
    {
        old.valid = true;
        records.put(&old)?;
    }
    Ok(())
}

/// Applies one recorded operation.
pub fn apply(records: &mut impl Records, operation: &Operation) -> Result<()> {
    match operation {
        Operation::Log(a) => log(records, a),
        Operation::Update(u) => update(records, u).map(drop),
        Operation::Delete {
            trace_id,
            assessment_id,
        } => delete(records, *trace_id, *assessment_id),
    }
}
