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

use crate::assessment::{Assessment, AssessmentValue, Parts, RUN_ID_METADATA_KEY};
use crate::error::Error;
use crate::ids::{AssessmentId, mlflow_trace_id, parse_span_id, parse_trace_id};
use crate::lifecycle::AssessmentUpdate;
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

/// One MLflow assessment document.
#[derive(Serialize, Deserialize)]
struct WireAssessment<'a> {
    assessment_id: Cow<'a, str>,
    assessment_name: Cow<'a, str>,
    trace_id: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    span_id: Option<Cow<'a, str>>,
    source: WireSource<'a>,
    create_time: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_update_time: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    feedback: Option<WireFeedback<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expectation: Option<WireExpectation<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rationale: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
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

impl Serialize for Assessment {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (feedback, expectation) = match &self.value {
            AssessmentValue::Feedback { value, error } => (
                Some(WireFeedback {
                    value: value.as_ref().map_or(Value::Null, FeedbackValue::to_json),
                    error: error.as_ref().map(wire_error),
                }),
                None,
            ),
            AssessmentValue::Expectation(value) => (None, Some(wire_expectation(value))),
        };
        let mut metadata: BTreeMap<Cow<'_, str>, Cow<'_, str>> = self
            .metadata
            .iter()
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
            .collect();
        if let Some(run_id) = &self.run_id {
            metadata.insert(Cow::Borrowed(RUN_ID_METADATA_KEY), Cow::Borrowed(run_id));
        }
        WireAssessment {
            assessment_id: Cow::Owned(self.id.to_string()),
            assessment_name: Cow::Borrowed(self.name.as_str()),
            trace_id: Cow::Owned(mlflow_trace_id(self.trace_id())),
            span_id: self.span_id().map(|s| Cow::Owned(format!("{s:016x}"))),
            source: WireSource {
                source_type: Cow::Borrowed(self.source.source_type().as_str()),
                source_id: Some(Cow::Borrowed(self.source.source_id())),
            },
            create_time: Cow::Owned(format_time(self.create_time)),
            last_update_time: Some(Cow::Owned(format_time(self.last_update_time))),
            feedback,
            expectation,
            rationale: self.rationale.as_deref().map(Cow::Borrowed),
            metadata,
            overrides: self.overrides.map(|id| Cow::Owned(id.to_string())),
            valid: self.valid,
        }
        .serialize(serializer)
    }
}

/// MLflow's body for an update (`PATCH
/// /api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}`):
/// `{"assessment": {...}, "update_mask": "..."}`. The assessment carries its
/// two ids, the fields the update sets — in the same wire form as
/// [`Assessment::to_json`] — and the update time as `last_update_time`.
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
    serde_json::json!({ "assessment": assessment, "update_mask": update.mask() })
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
    let source_type: SourceType = wire.source.source_type.parse()?;
    let source = match wire.source.source_id {
        None => AssessmentSource::new(source_type, AssessmentSource::DEFAULT_ID)?,
        Some(id) => AssessmentSource::new(source_type, id.into_owned())?,
    };
    let value = match (wire.feedback, wire.expectation) {
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
            AssessmentValue::Expectation(decode_expectation(&wire.assessment_name, expectation)?)
        }
        (Some(_), Some(_)) => {
            return Err(Error::InvalidValue {
                field: format!("assessment {:?}", wire.assessment_name),
                reason: "has both `feedback` and `expectation`; an assessment is one or the \
                         other"
                    .into(),
            });
        }
        (None, None) => {
            return Err(Error::InvalidValue {
                field: format!("assessment {:?}", wire.assessment_name),
                reason: "has neither `feedback` nor `expectation`".into(),
            });
        }
    };
    let create_time = parse_time("create_time", &wire.create_time)?;
    let last_update_time = match wire.last_update_time {
        Some(t) => parse_time("last_update_time", &t)?,
        None => create_time,
    };
    Parts {
        id: wire.assessment_id.parse::<AssessmentId>()?,
        name: Cow::Owned(wire.assessment_name.into_owned()),
        target,
        source,
        value,
        rationale: wire.rationale.map(Cow::into_owned),
        metadata: wire
            .metadata
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        create_time,
        last_update_time,
        overrides: wire.overrides.map(|id| id.parse()).transpose()?,
        valid: wire.valid,
        run_id: None,
    }
    .validate()
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
