//! A trace's root span as a record to score: its inputs and outputs from
//! the attributes the tracing libraries people use write, its
//! expectations from Verdict's own attributes. The one place that reads
//! them, for an OTLP file `verdict eval` reads and for the traces
//! `verdict serve` receives.
//!
//! The decision: **the root span's attributes, as JSON, are the whole
//! input**, so that a reader of any wire form (OTLP JSON, protobuf) turns
//! them into a JSON object and calls [`record`]. The alternative, each
//! reader picking keys from its own form, is how two lists of keys drift.

use serde_json::{Map, Value};
use verdict_scorer::{OwnedRecord, OwnedValue};

/// Attribute keys a root span's inputs are read from, in order of
/// preference: MLflow's, OpenInference's (Phoenix, Arize), then the GenAI
/// semantic conventions'.
pub const INPUT_KEYS: [&str; 4] = [
    "mlflow.spanInputs",
    "input.value",
    "gen_ai.input.messages",
    "gen_ai.prompt",
];
/// Attribute keys a root span's outputs are read from, in the same order.
pub const OUTPUT_KEYS: [&str; 4] = [
    "mlflow.spanOutputs",
    "output.value",
    "gen_ai.output.messages",
    "gen_ai.completion",
];
/// Root span attributes with this prefix are expectations, named by the
/// rest of the key (the value is JSON text, or plain text).
pub const EXPECTATION_ATTRIBUTE_PREFIX: &str = "verdict.expectation.";

/// The record of a root span named `name` with these `attributes` (as
/// JSON: a string attribute holding JSON, as MLflow's span inputs do, is
/// read as that JSON). An error says what is missing or wrong, naming the
/// span and the attributes it could have.
pub fn record(name: &str, attributes: &Map<String, Value>) -> Result<OwnedRecord, String> {
    let pick = |keys: &[&str], what: &str| {
        keys.iter()
            .find_map(|key| attributes.get(*key))
            .map(|value| OwnedValue::from(json_text(value)))
            .ok_or_else(|| {
                format!(
                    "the root span {name:?} has no {what}: give it one of the attributes {}",
                    keys.join(", ")
                )
            })
    };
    let mut record = OwnedRecord::new(pick(&INPUT_KEYS, "inputs")?, pick(&OUTPUT_KEYS, "outputs")?);
    for (key, value) in attributes {
        if let Some(expectation) = key.strip_prefix(EXPECTATION_ATTRIBUTE_PREFIX) {
            verdict::AssessmentName::new(expectation.to_owned())
                .map_err(|e| format!("attribute {key}: {e}"))?;
            let value = json_text(value);
            if value.is_null() {
                return Err(format!(
                    "attribute {key}: {}",
                    crate::dataset::null_expectation(expectation)
                ));
            }
            record
                .expectations
                .push((expectation.to_owned(), OwnedValue::from(value)));
        }
    }
    Ok(record)
}

/// The root of a trace's spans: the span without a parent, else the
/// earliest span whose parent is not among them (the local root of a
/// service whose callers are traced elsewhere); why not, when every
/// span's parent is among them.
pub fn root_of(spans: &[verdict_store::StoredSpan]) -> Result<&verdict_store::StoredSpan, String> {
    spans
        .iter()
        .find(|s| s.parent_span_id.is_none())
        .or_else(|| {
            spans
                .iter()
                .filter(|s| {
                    s.parent_span_id
                        .is_some_and(|parent| !spans.iter().any(|p| p.span_id == parent))
                })
                .min_by_key(|s| s.start_time)
        })
        .ok_or_else(|| {
            if spans.is_empty() {
                "it has no spans".to_owned()
            } else {
                "it has no root span (every span's parent is in the trace, in a cycle)".to_owned()
            }
        })
}

/// A string attribute that holds JSON (as MLflow's span inputs do) as that
/// JSON; any other value as it is.
fn json_text(value: &Value) -> Value {
    match value {
        Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn attributes(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn each_convention_gives_inputs_and_outputs_and_mlflow_comes_first() {
        for (input, output) in INPUT_KEYS.iter().zip(OUTPUT_KEYS) {
            let record = record(
                "root",
                &attributes(json!({*input: "{\"q\": 1}", output: "Paris"})),
            )
            .unwrap();
            assert_eq!(record.inputs, OwnedValue::from(json!({"q": 1})), "{input}");
            assert_eq!(record.outputs, OwnedValue::from(json!("Paris")), "{output}");
        }
        let both = record(
            "root",
            &attributes(json!({
                "input.value": "openinference", "mlflow.spanInputs": "\"mlflow\"",
                "output.value": "o",
            })),
        )
        .unwrap();
        assert_eq!(both.inputs, OwnedValue::from(json!("mlflow")));
    }

    #[test]
    fn a_span_without_outputs_is_named_with_the_keys_it_could_have() {
        let error = record("answer", &attributes(json!({"input.value": "q"}))).unwrap_err();
        assert!(error.contains("\"answer\" has no outputs"), "{error}");
        assert!(error.contains("output.value"), "{error}");
    }

    #[test]
    fn expectations_come_from_the_prefix_and_a_null_one_is_refused() {
        let r = record(
            "root",
            &attributes(json!({
                "input.value": "q", "output.value": "o",
                "verdict.expectation.expected_response": "Paris",
            })),
        )
        .unwrap();
        assert_eq!(
            r.expectations,
            vec![(
                "expected_response".to_owned(),
                OwnedValue::from(json!("Paris"))
            )]
        );
        let error = record(
            "root",
            &attributes(json!({
                "input.value": "q", "output.value": "o",
                "verdict.expectation.expected_response": "null",
            })),
        )
        .unwrap_err();
        assert!(error.contains("is null"), "{error}");
    }
}
