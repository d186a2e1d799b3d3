//! Documents answered by a real MLflow 3.17.2 server (see
//! `fixtures/mlflow/README.md`) decode, and re-encode with no field lost or
//! changed in meaning.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use verdict::{Assessment, FeedbackValue, Kind, SourceType};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mlflow")
}

fn load(name: &str) -> Value {
    let path = fixtures().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The meaning of a document: numbers as doubles, JSON text in
/// `serialized_value` parsed.
fn meaning(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.iter().map(meaning).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let v = match (k.as_str(), v) {
                    ("serialized_value", Value::Object(sv)) => {
                        let mut sv = sv.clone();
                        let text = sv["value"].as_str().unwrap();
                        sv["value"] = serde_json::from_str(text).unwrap();
                        meaning(&Value::Object(sv))
                    }
                    _ => meaning(v),
                };
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Every assessment document among the fixtures: single answers and the
/// assessments listed in the trace.
fn documents() -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let doc = load(&name);
        if let Some(a) = doc.get("assessment") {
            docs.push((name.clone(), a.clone()));
        }
        if let Some(list) = doc.pointer("/trace/trace_info/assessments") {
            for (i, a) in list.as_array().unwrap().iter().enumerate() {
                docs.push((format!("{name}[{i}]"), a.clone()));
            }
        }
    }
    assert!(docs.len() >= 30, "fixtures missing: found {}", docs.len());
    docs
}

#[test]
fn every_server_document_round_trips_with_nothing_lost() {
    for (name, doc) in documents() {
        let assessment: Assessment = serde_json::from_value(doc.clone())
            .unwrap_or_else(|e| panic!("{name} does not decode: {e}"));
        let again = serde_json::to_value(&assessment).unwrap();
        assert_eq!(
            meaning(&again),
            meaning(&doc),
            "{name} changed on re-encoding"
        );
        // The same through text, as a client reads it off the socket.
        let from_text = Assessment::from_json(&doc.to_string()).unwrap();
        assert_eq!(from_text, assessment, "{name}");
    }
}

fn fixture(name: &str) -> Assessment {
    serde_json::from_value(load(name)["assessment"].clone()).unwrap()
}

#[test]
fn values_decode_as_mlflow_means_them() {
    assert_eq!(
        fixture("feedback_bool.json").feedback_value(),
        Some(&FeedbackValue::Bool(true))
    );
    assert_eq!(
        fixture("feedback_int.json").feedback_value(),
        Some(&FeedbackValue::Number(1.0))
    );
    assert_eq!(
        fixture("feedback_string.json").feedback_value(),
        Some(&FeedbackValue::String("good".into()))
    );
    let list = fixture("expectation_list.json");
    assert_eq!(list.kind(), Kind::Expectation);
    assert_eq!(list.expectation_value(), Some(&json!([1.0, 2.0])));
    let object = fixture("expectation_object.json");
    assert_eq!(
        object.expectation_value(),
        Some(&json!({"answer": "Paris"}))
    );
    assert_eq!(
        fixture("expectation_string.json").expectation_value(),
        Some(&json!("Paris"))
    );
}

#[test]
fn errors_sources_runs_and_spans() {
    let failed = fixture("feedback_error.json");
    assert_eq!(failed.feedback_value(), None);
    assert_eq!(failed.error().unwrap().error_code, "RATE_LIMIT_EXCEEDED");
    assert!(failed.error().unwrap().stack_trace.is_some());
    assert_eq!(failed.source().source_type(), SourceType::LlmJudge);

    let both = fixture("feedback_value_and_error.json");
    assert!(both.feedback_value().is_some() && both.error().is_some());

    let run = fixture("feedback_run_id.json");
    assert_eq!(run.run_id(), Some("a08c0ac2f7d34514ae30f3f023c72747"));
    assert!(run.metadata().is_empty());

    assert_eq!(fixture("feedback_trace_level.json").span_id(), None);
    assert!(fixture("feedback_bool.json").span_id().is_some());
}

#[test]
fn override_and_delete_states_decode() {
    let overridden = fixture("overridden_after.json");
    let overriding = fixture("override.json");
    assert_eq!(overriding.overrides(), Some(overridden.id()));
    assert!(!overridden.is_valid());
    let restored = fixture("after_delete.json");
    assert_eq!(restored.id(), overridden.id());
    assert!(restored.is_valid());
}
