//! MLflow's REST JSON for assessments.
//!
//! `Assessment` serializes exactly as an MLflow 3 tracking server writes it
//! (proto field names, enums as strings, RFC 3339 UTC times) and decodes
//! what such a server answers, validating it as the builder does. Two
//! places differ from a plain field mapping:
//!
//! - the run id rides in `metadata["mlflow.assessment.sourceRunId"]`;
//! - an expectation that is a list or an object travels as
//!   `serialized_value {serialization_format: "JSON_FORMAT", value: "<json>"}`,
//!   a primitive as `value`; both forms are decoded.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::assessment::{Assessment, AssessmentValue, RUN_ID_METADATA_KEY};
use crate::error::Error;
use crate::ids::{AssessmentId, mlflow_trace_id, parse_span_id, parse_trace_id};
use crate::lifecycle::AssessmentUpdate;
use crate::name::AssessmentName;
use crate::source::{AssessmentSource, SourceType};
use crate::target::Target;
use crate::value::{AssessmentError, FeedbackValue};

/// The only serialization format MLflow uses for `serialized_value`.
pub const JSON_FORMAT: &str = "JSON_FORMAT";

/// Formats a time as MLflow does: RFC 3339 UTC with `Z`, milliseconds, or
/// nanoseconds when the time has sub-millisecond precision.
pub fn format_time(time: SystemTime) -> String {
    let sub_millis = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() % 1_000_000 != 0)
        .unwrap_or(false);
    if sub_millis {
        humantime::format_rfc3339_nanos(time).to_string()
    } else {
        humantime::format_rfc3339_millis(time).to_string()
    }
}

/// Parses an RFC 3339 UTC time (`Z` suffix, any fraction of a second).
pub fn parse_time(field: &str, text: &str) -> Result<SystemTime, Error> {
    humantime::parse_rfc3339(text).map_err(|e| Error::InvalidValue {
        field: field.into(),
        reason: format!(
            "{:?} is not an RFC 3339 UTC time like \"2026-11-27T09:14:35.541Z\" ({e})",
            crate::error::excerpt(text)
        ),
    })
}

#[derive(Serialize, Deserialize)]
struct WireSource<'a> {
    source_type: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_id: Option<Cow<'a, str>>,
}

#[derive(Serialize, Deserialize)]
struct WireError<'a> {
    error_code: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_message: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stack_trace: Option<Cow<'a, str>>,
}

#[derive(Serialize, Deserialize)]
struct WireFeedback<'a> {
    #[serde(default)]
    value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<WireError<'a>>,
}

#[derive(Serialize, Deserialize)]
struct WireSerialized<'a> {
    serialization_format: Cow<'a, str>,
    value: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
struct WireExpectation<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    serialized_value: Option<WireSerialized<'a>>,
}

/// One MLflow assessment document: its identity, target, times and
/// state, and the rest ([`WireBody`]).
#[derive(Serialize, Deserialize)]
struct WireAssessment<'a> {
    assessment_id: Cow<'a, str>,
    assessment_name: Cow<'a, str>,
    trace_id: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    span_id: Option<Cow<'a, str>>,
    create_time: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_update_time: Option<Cow<'a, str>>,
    #[serde(flatten)]
    body: WireBody<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    overrides: Option<Cow<'a, str>>,
    #[serde(default = "yes")]
    valid: bool,
}

fn yes() -> bool {
    true
}

fn wire_error(e: &AssessmentError) -> WireError<'_> {
    WireError {
        error_code: Cow::Borrowed(&e.error_code),
        error_message: e.error_message.as_deref().map(Cow::Borrowed),
        stack_trace: e.stack_trace.as_deref().map(Cow::Borrowed),
    }
}

/// The wire form of an expectation value: primitives inline, lists and
/// objects as JSON text.
fn wire_expectation(value: &Value) -> WireExpectation<'static> {
    match value {
        Value::Array(_) | Value::Object(_) => WireExpectation {
            value: None,
            serialized_value: Some(WireSerialized {
                serialization_format: Cow::Borrowed(JSON_FORMAT),
                value: Cow::Owned(value.to_string()),
            }),
        },
        primitive => WireExpectation {
            value: Some(primitive.clone()),
            serialized_value: None,
        },
    }
}

/// What an assessment holds besides its identity, target and times: the
/// fields of [`WireAssessment`] that a store keeps as one JSON document
/// ([`body_json`]).
#[derive(Serialize, Deserialize)]
struct WireBody<'a> {
    source: WireSource<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    feedback: Option<WireFeedback<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expectation: Option<WireExpectation<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rationale: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
}

fn wire_body(a: &Assessment) -> WireBody<'_> {
    let (feedback, expectation) = match &a.value {
        AssessmentValue::Feedback { value, error } => (
            Some(WireFeedback {
                value: value.as_ref().map_or(Value::Null, FeedbackValue::to_json),
                error: error.as_ref().map(wire_error),
            }),
            None,
        ),
        AssessmentValue::Expectation(value) => (None, Some(wire_expectation(value))),
    };
    let mut metadata: BTreeMap<Cow<'_, str>, Cow<'_, str>> = a
        .metadata
        .iter()
        .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
        .collect();
    if let Some(run_id) = &a.run_id {
        metadata.insert(Cow::Borrowed(RUN_ID_METADATA_KEY), Cow::Borrowed(run_id));
    }
    WireBody {
        source: WireSource {
            source_type: Cow::Borrowed(a.source.source_type().as_str()),
            source_id: Some(Cow::Borrowed(a.source.source_id())),
        },
        feedback,
        expectation,
        rationale: a.rationale.as_deref().map(Cow::Borrowed),
        metadata,
    }
}

impl Serialize for Assessment {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireAssessment {
            assessment_id: Cow::Owned(self.id.to_string()),
            assessment_name: Cow::Borrowed(self.name.as_str()),
            trace_id: Cow::Owned(mlflow_trace_id(self.trace_id())),
            span_id: self.span_id().map(|s| Cow::Owned(format!("{s:016x}"))),
            create_time: Cow::Owned(format_time(self.create_time)),
            last_update_time: Some(Cow::Owned(format_time(self.last_update_time))),
            body: wire_body(self),
            overrides: self.overrides.map(|id| Cow::Owned(id.to_string())),
            valid: self.valid,
        }
        .serialize(serializer)
    }
}

/// An assessment's identity, target, times and state: what a store keeps
/// in columns of its own, to index them, next to the rest of the
/// assessment as JSON ([`body_json`]). [`from_columns`] puts the two back
/// together.
#[derive(Clone, Copy, Debug)]
pub struct Columns<'a> {
    /// The assessment's id.
    pub id: AssessmentId,
    /// Its name.
    pub name: &'a str,
    /// The trace, or span, it is attached to.
    pub target: Target,
    /// When it was created.
    pub create_time: SystemTime,
    /// When it was last updated.
    pub last_update_time: SystemTime,
    /// The assessment it overrides, if any.
    pub overrides: Option<AssessmentId>,
    /// Whether it is valid (not overridden).
    pub valid: bool,
}

impl<'a> Columns<'a> {
    /// The columns of `a`.
    pub fn of(a: &'a Assessment) -> Self {
        Columns {
            id: a.id,
            name: a.name.as_str(),
            target: a.target,
            create_time: a.create_time,
            last_update_time: a.last_update_time,
            overrides: a.overrides,
            valid: a.valid,
        }
    }
}

/// The part of an assessment that [`Columns`] leaves out — source, value
/// or error, rationale, metadata (with the run id) — as JSON in the form
/// of [`Assessment::to_json`], without the fields the columns hold.
///
/// ```
/// use verdict::wire::{Columns, body_json, from_columns};
/// use verdict::Assessment;
///
/// let a = Assessment::feedback("ok", true)
///     .rationale("fine")
///     .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)?;
/// let body = body_json(&a);
/// assert!(!body.contains("0fb07256509eb9d22d07f42f7eb9f24d"));
/// assert_eq!(from_columns(Columns::of(&a), &body)?, a);
/// # Ok::<(), verdict::Error>(())
/// ```
pub fn body_json(a: &Assessment) -> String {
    serde_json::to_string(&wire_body(a)).expect("an assessment always serializes")
}

/// Puts an assessment back together from its [`Columns`] and its
/// [`body_json`], validating it as the builder does.
pub fn from_columns(columns: Columns<'_>, body: &str) -> Result<Assessment, Error> {
    assemble(columns, serde_json::from_str(body)?)
}

/// MLflow's body for an update (`PATCH
/// /api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}`):
/// `{"assessment": {...}, "update_mask": "..."}`. The assessment carries its
/// two ids, the fields the update sets — in the same wire form as
/// [`Assessment::to_json`] — and the update time as `last_update_time`.
/// The mask is written as protobuf's JSON writes a `FieldMask`, its paths
/// in lowerCamelCase (`assessmentName`): an MLflow server parses it that
/// way, and a mask with `assessment_name` in it makes the server apply
/// none of the update.
///
/// ```
/// use verdict::AssessmentUpdate;
///
/// let trace = verdict::parse_trace_id("0fb07256509eb9d22d07f42f7eb9f24d")?;
/// let id = "a-e3e076695b0d40dc8238ee5e60061c9c".parse()?;
/// let update = AssessmentUpdate::builder(trace, id).expectation(serde_json::json!([1, 2])).build()?;
/// let body = verdict::wire::update_to_json(&update);
/// assert_eq!(body["update_mask"], "expectation");
/// assert_eq!(body["assessment"]["expectation"]["serialized_value"]["value"], "[1,2]");
/// # Ok::<(), verdict::Error>(())
/// ```
pub fn update_to_json(update: &AssessmentUpdate) -> Value {
    let mut assessment = serde_json::Map::new();
    assessment.insert(
        "assessment_id".into(),
        update.assessment_id().to_string().into(),
    );
    assessment.insert("trace_id".into(), mlflow_trace_id(update.trace_id()).into());
    if let Some(name) = update.name() {
        assessment.insert("assessment_name".into(), name.as_str().into());
    }
    match update.value() {
        Some(AssessmentValue::Feedback { value, error }) => {
            let feedback = WireFeedback {
                value: value.as_ref().map_or(Value::Null, FeedbackValue::to_json),
                error: error.as_ref().map(wire_error),
            };
            assessment.insert(
                "feedback".into(),
                serde_json::to_value(feedback).unwrap_or_default(),
            );
        }
        Some(AssessmentValue::Expectation(value)) => {
            assessment.insert(
                "expectation".into(),
                serde_json::to_value(wire_expectation(value)).unwrap_or_default(),
            );
        }
        None => {}
    }
    if let Some(rationale) = update.rationale() {
        assessment.insert("rationale".into(), rationale.into());
    }
    if !update.metadata().is_empty() {
        assessment.insert(
            "metadata".into(),
            serde_json::to_value(update.metadata()).unwrap_or_default(),
        );
    }
    assessment.insert(
        "last_update_time".into(),
        format_time(update.update_time()).into(),
    );
    serde_json::json!({ "assessment": assessment, "update_mask": json_mask(&update.mask()) })
}

/// A field mask as protobuf's JSON mapping writes it: each path in
/// lowerCamelCase.
fn json_mask(mask: &str) -> String {
    let mut out = String::with_capacity(mask.len());
    let mut upper = false;
    for c in mask.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.push(c.to_ascii_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

impl<'de> Deserialize<'de> for Assessment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireAssessment::deserialize(deserializer)?;
        from_wire(wire).map_err(|e| D::Error::custom(e.to_string()))
    }
}

fn from_wire(wire: WireAssessment<'_>) -> Result<Assessment, Error> {
    let trace_id = parse_trace_id(&wire.trace_id)?;
    let target = match wire.span_id.as_deref() {
        None | Some("") => Target::trace(trace_id)?,
        Some(span) => Target::span(trace_id, parse_span_id(span)?)?,
    };
    let create_time = parse_time("create_time", &wire.create_time)?;
    let last_update_time = match wire.last_update_time {
        Some(t) => parse_time("last_update_time", &t)?,
        None => create_time,
    };
    let columns = Columns {
        id: wire.assessment_id.parse::<AssessmentId>()?,
        name: &wire.assessment_name,
        target,
        create_time,
        last_update_time,
        overrides: wire.overrides.map(|id| id.parse()).transpose()?,
        valid: wire.valid,
    };
    assemble(columns, wire.body)
}

fn assemble(columns: Columns<'_>, body: WireBody<'_>) -> Result<Assessment, Error> {
    let source_type: SourceType = body.source.source_type.parse()?;
    let source = match body.source.source_id {
        None => AssessmentSource::new(source_type, AssessmentSource::DEFAULT_ID)?,
        Some(id) => AssessmentSource::new(source_type, id.into_owned())?,
    };
    let value = match (body.feedback, body.expectation) {
        (Some(feedback), None) => AssessmentValue::Feedback {
            value: match feedback.value {
                Value::Null => None,
                other => Some(FeedbackValue::from_json(other)?),
            },
            error: feedback.error.map(|e| AssessmentError {
                error_code: e.error_code.into_owned(),
                error_message: e.error_message.map(Cow::into_owned),
                stack_trace: e.stack_trace.map(Cow::into_owned),
            }),
        },
        (None, Some(expectation)) => {
            AssessmentValue::Expectation(decode_expectation(columns.name, expectation)?)
        }
        (Some(_), Some(_)) => {
            return Err(Error::InvalidValue {
                field: format!("assessment {:?}", columns.name),
                reason: "has both `feedback` and `expectation`; an assessment is one or the \
                         other"
                    .into(),
            });
        }
        (None, None) => {
            return Err(Error::InvalidValue {
                field: format!("assessment {:?}", columns.name),
                reason: "has neither `feedback` nor `expectation`".into(),
            });
        }
    };
    Assessment {
        id: columns.id,
        name: AssessmentName::new(columns.name.to_owned())?,
        target: columns.target,
        source,
        value,
        rationale: body.rationale.map(Cow::into_owned),
        metadata: body
            .metadata
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        create_time: columns.create_time,
        last_update_time: columns.last_update_time,
        overrides: columns.overrides,
        valid: columns.valid,
        run_id: None,
    }
    .validated()
}

fn decode_expectation(name: &str, wire: WireExpectation<'_>) -> Result<Value, Error> {
    let invalid = |reason: String| Error::InvalidValue {
        field: format!("expectation {name:?}"),
        reason,
    };
    match (wire.value, wire.serialized_value) {
        (Some(value), None) => Ok(value),
        (None, Some(serialized)) => {
            if serialized.serialization_format != JSON_FORMAT {
                return Err(invalid(format!(
                    "serialization format {:?} is not supported; expected {JSON_FORMAT}",
                    serialized.serialization_format
                )));
            }
            serde_json::from_str(&serialized.value)
                .map_err(|e| invalid(format!("serialized_value is not valid JSON: {e}")))
        }
        (Some(_), Some(_)) => Err(invalid(
            "has both `value` and `serialized_value`; expected one".into(),
        )),
        (None, None) => Err(invalid(
            "has no value; expected `value` or `serialized_value`".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DOC: &str = r#"{"assessment_id":"a-e3e076695b0d40dc8238ee5e60061c9c","assessment_name":"exact_match",
 "trace_id":"tr-0fb07256509eb9d22d07f42f7eb9f24d","span_id":"71492b10072d70de",
 "source":{"source_type":"CODE","source_id":"exact_match"},
 "create_time":"2025-01-02T03:04:05.678Z","last_update_time":"2025-01-02T03:04:05.678Z",
 "feedback":{"value":1.0},"rationale":"identical","metadata":{"scorer.version":"1"},"valid":true}"#;

    #[test]
    fn reference_document_round_trips() {
        let a = Assessment::from_json(DOC).unwrap();
        assert_eq!(a.feedback_value(), Some(&FeedbackValue::Number(1.0)));
        assert_eq!(a.metadata()["scorer.version"], "1");
        let back: Value = serde_json::from_str(&a.to_json()).unwrap();
        let orig: Value = serde_json::from_str(DOC).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn run_id_rides_in_metadata() {
        let mut doc: Value = serde_json::from_str(DOC).unwrap();
        doc["metadata"][RUN_ID_METADATA_KEY] = json!("abc123");
        let a: Assessment = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(a.run_id(), Some("abc123"));
        assert!(!a.metadata().contains_key(RUN_ID_METADATA_KEY));
        assert_eq!(serde_json::to_value(&a).unwrap(), doc);
    }

    #[test]
    fn expectations_in_both_forms() {
        let mut doc: Value = serde_json::from_str(DOC).unwrap();
        doc.as_object_mut().unwrap().remove("feedback");
        doc["expectation"] = json!({"serialized_value": {
            "serialization_format": "JSON_FORMAT", "value": "{\"answer\": \"Paris\"}"}});
        let a: Assessment = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(a.expectation_value(), Some(&json!({"answer": "Paris"})));
        let out = serde_json::to_value(&a).unwrap();
        let text = out["expectation"]["serialized_value"]["value"]
            .as_str()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(text).unwrap(),
            json!({"answer": "Paris"})
        );

        doc["expectation"] = json!({"value": "Paris"});
        let a: Assessment = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(a.expectation_value(), Some(&json!("Paris")));
        assert_eq!(serde_json::to_value(&a).unwrap(), doc);
    }

    #[test]
    fn columns_and_body_put_every_kind_back_together() {
        let span =
            Target::parse("0fb07256509eb9d22d07f42f7eb9f24d", Some("71492b10072d70de")).unwrap();
        let failed = Assessment::feedback_error(
            "judge",
            AssessmentError::new("TIMEOUT").with_message("the judge took too long"),
        )
        .run_id("run-1")
        .metadata("model", "m")
        .on(span)
        .unwrap();
        let overriding = Assessment::override_of(&failed, 0.5).on(span).unwrap();
        let assessments = [
            failed,
            overriding,
            Assessment::expectation("facts", json!({"city": "Paris", "n": [1, 2]}))
                .on(Target::trace(span.trace_id()).unwrap())
                .unwrap(),
            Assessment::expectation("answer", "Paris").on(span).unwrap(),
            Assessment::feedback("label", "good")
                .rationale("says \"Paris\"")
                .on(span)
                .unwrap(),
        ];
        for a in &assessments {
            let body = body_json(a);
            let doc: Value = serde_json::from_str(&body).unwrap();
            let mut full: Value = serde_json::from_str(&a.to_json()).unwrap();
            for column in [
                "assessment_id",
                "assessment_name",
                "trace_id",
                "span_id",
                "create_time",
                "last_update_time",
                "overrides",
                "valid",
            ] {
                full.as_object_mut().unwrap().remove(column);
            }
            assert_eq!(doc, full, "the body is the JSON without the columns");
            assert_eq!(&from_columns(Columns::of(a), &body).unwrap(), a);
        }
        let bad = from_columns(
            Columns::of(&assessments[0]),
            r#"{"source":{"source_type":"CODE"}}"#,
        );
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("neither `feedback` nor `expectation`"),
            "a body without a value is refused"
        );
    }

    #[test]
    fn wrong_shapes_get_clear_errors() {
        let cases: &[(&str, &str)] = &[
            (r#"[1,2]"#, "invalid type"),
            (r#"{"assessment_name":"x"}"#, "missing field"),
            (&DOC.replace("tr-0fb", "tr-zzz"), "32 hex digits"),
            (
                &DOC.replace("\"exact_match\",\n", "\"a.b\",\n"),
                "must not contain '.'",
            ),
            (
                &DOC.replace("\"CODE\"", "\"ROBOT\""),
                "HUMAN, LLM_JUDGE or CODE",
            ),
            (
                &DOC.replace("{\"value\":1.0}", "{\"value\":null}"),
                "neither a value nor an error",
            ),
            (
                &DOC.replace("2025-01-02T03:04:05.678Z\",\"last", "yesterday\",\"last"),
                "RFC 3339",
            ),
            (
                &DOC.replace("\"feedback\":{\"value\":1.0}", "\"expectation\":{}"),
                "expected `value` or",
            ),
            (
                &DOC.replace(
                    "\"feedback\":{\"value\":1.0}",
                    "\"expectation\":{\"value\":null}",
                ),
                "has no value",
            ),
        ];
        for (doc, expected) in cases {
            let err = Assessment::from_json(doc).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{doc}\n→ {err}\nwanted {expected:?}"
            );
        }
    }

    #[test]
    fn trace_level_assessments_have_no_span_id() {
        let doc = DOC.replace("\"span_id\":\"71492b10072d70de\",", "");
        let a = Assessment::from_json(&doc).unwrap();
        assert_eq!(a.span_id(), None);
        assert!(!a.to_json().contains("span_id"));
        let empty = DOC.replace("71492b10072d70de", "");
        assert_eq!(Assessment::from_json(&empty).unwrap().span_id(), None);
    }

    #[test]
    fn update_body_carries_what_the_mask_names() {
        let a = Assessment::from_json(DOC).unwrap();
        let update = crate::AssessmentUpdate::builder(a.trace_id(), a.id())
            .feedback_error(AssessmentError::new("TIMEOUT").with_message("slow"))
            .rationale("re-run")
            .metadata("k", "v")
            .build()
            .unwrap();
        let body = update_to_json(&update);
        assert_eq!(body["update_mask"], "feedback,rationale,metadata");
        let renamed = crate::AssessmentUpdate::builder(a.trace_id(), a.id())
            .name("correct")
            .feedback(true)
            .build()
            .unwrap();
        assert_eq!(renamed.mask(), "assessment_name,feedback");
        assert_eq!(
            update_to_json(&renamed)["update_mask"],
            "assessmentName,feedback",
            "protobuf's JSON form, which an MLflow server parses"
        );
        assert_eq!(
            body["assessment"],
            json!({
                "assessment_id": "a-e3e076695b0d40dc8238ee5e60061c9c",
                "trace_id": "tr-0fb07256509eb9d22d07f42f7eb9f24d",
                "feedback": {"value": null, "error": {"error_code": "TIMEOUT", "error_message": "slow"}},
                "rationale": "re-run",
                "metadata": {"k": "v"},
                "last_update_time": format_time(update.update_time()),
            })
        );
    }

    #[test]
    fn times_keep_sub_millisecond_precision() {
        let doc = DOC.replace("05.678Z", "05.678901Z");
        let a = Assessment::from_json(&doc).unwrap();
        let again = Assessment::from_json(&a.to_json()).unwrap();
        assert_eq!(a, again);
    }
}
