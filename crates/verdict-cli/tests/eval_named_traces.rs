//! Records that name their own trace (a dataset made from traces), sent to
//! a real MLflow 3.17.2 server that has some of those traces and not
//! others: a trace it has gets the assessments and keeps its own spans; a
//! trace it lacks is created from the record — named, timed, its inputs and
//! outputs — rather than waited for. Read back with MLflow's own client.
//!
//! One server for the whole binary: its checks run inside one `#[test]`.

#[allow(dead_code)] // shared with the export crate's tests; not all of it is used here
#[path = "../../verdict-export/tests/common/mlflow_server.rs"]
mod mlflow_server;

use std::process::Command;

use mlflow_server::MlflowServer;
use serde_json::{Value, json};

/// What MLflow's client reads of a trace: its spans (name, inputs, type)
/// and its assessments (name, value).
const READ: &str = "import json, sys, mlflow\n\
t = mlflow.get_trace(sys.argv[1])\n\
print(json.dumps({'name': t.info.tags.get('mlflow.traceName'),\n\
  'spans': [{'name': s.name, 'inputs': s.inputs, 'type': s.span_type, 'parent': s.parent_id} for s in t.data.spans],\n\
  'assessments': sorted([{'name': a.name, 'value': (a.expectation.value if a.expectation else a.feedback.value)} for a in t.info.assessments], key=lambda a: a['name'])}))";

#[test]
fn a_named_trace_the_server_lacks_is_created_from_its_record_and_one_it_has_is_kept() {
    let server = MlflowServer::start();
    // A trace a service wrote with MLflow's own client.
    let existing = server.python(
        "import json, mlflow\n\
         with mlflow.start_span('answer_question') as span:\n\
         \x20   span.set_inputs({'question': 'capital of France?'})\n\
         \x20   span.set_outputs('Paris')\n\
         print(json.dumps(span.trace_id))",
        &[],
    );
    let existing = existing.as_str().unwrap().to_owned();
    let lacking = "tr-5f0c2d9a1b3e4f60718293a4b5c6d7e8";

    let dir = tempfile::tempdir().unwrap();
    let data = [
        json!({"trace_id": existing, "inputs": {"question": "capital of France?"},
               "outputs": "Paris", "expectations": {"expected_response": "Paris"}}),
        json!({"trace_id": lacking, "inputs": {"question": "capital of Japan?"},
               "outputs": "Kyoto", "expectations": {"expected_response": "Tokyo"}}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    std::fs::write(dir.path().join("traced.jsonl"), data).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args([
            "eval",
            "traced.jsonl",
            "--scorer",
            "exact_match",
            "--export",
            "mlflow",
        ])
        .current_dir(dir.path())
        .env("MLFLOW_TRACKING_URI", &server.url)
        .env("MLFLOW_EXPERIMENT_ID", "0")
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .env_remove("MLFLOW_TRACKING_USERNAME")
        .env_remove("MLFLOW_TRACKING_PASSWORD")
        .env_remove("VERDICT_PLUGIN_PATH")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 2 would say a destination did not take everything: the lacking
    // trace's assessments waited for spans that never came.
    assert_eq!(
        out.status.code(),
        Some(0),
        "no gate, everything delivered: {stderr}"
    );
    assert!(!stderr.contains("not delivered"), "{stderr}");

    // The trace MLflow had: its own span alone, the assessments added.
    let kept = server.python(READ, &[&existing]);
    let spans = kept["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 1, "no stand-in added: {kept}");
    assert_eq!(spans[0]["name"], "answer_question");
    assert_eq!(
        kept["assessments"],
        json!([{"name": "exact_match", "value": true},
               {"name": "expected_response", "value": "Paris"}]),
        "{kept}"
    );

    // The trace it lacked: made from the record.
    let made = server.python(READ, &[lacking]);
    let spans = made["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 1, "{made}");
    assert_eq!(spans[0]["name"], "verdict.eval.record");
    assert_eq!(spans[0]["inputs"], json!({"question": "capital of Japan?"}));
    assert_eq!(spans[0]["parent"], Value::Null);
    assert_eq!(made["name"], "verdict.eval.record");
    assert_eq!(
        made["assessments"],
        json!([{"name": "exact_match", "value": false},
               {"name": "expected_response", "value": "Tokyo"}]),
        "{made}"
    );

    // Evaluated without an export, pushed later: the same.
    let later = "tr-0a1b2c3d4e5f60718293a4b5c6d7e8f9";
    std::fs::write(
        dir.path().join("later.jsonl"),
        json!({"trace_id": later, "inputs": {"question": "capital of Italy?"},
               "outputs": "Rome", "expectations": {"expected_response": "Rome"}})
        .to_string(),
    )
    .unwrap();
    let verdict = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
            .args(args)
            .current_dir(dir.path())
            .env("MLFLOW_TRACKING_URI", &server.url)
            .env("MLFLOW_EXPERIMENT_ID", "0")
            .env_remove("MLFLOW_TRACKING_TOKEN")
            .env_remove("MLFLOW_TRACKING_USERNAME")
            .env_remove("MLFLOW_TRACKING_PASSWORD")
            .env_remove("VERDICT_PLUGIN_PATH")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    verdict(&[
        "eval",
        "later.jsonl",
        "--scorer",
        "exact_match",
        "--store",
        "later.db",
    ]);
    let summary = verdict(&["push", "--to", "mlflow", "--store", "later.db"]);
    assert!(summary.contains("1 traces to mlflow"), "{summary}");
    let made = server.python(READ, &[later]);
    let spans = made["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 1, "{made}");
    assert_eq!(spans[0]["inputs"], json!({"question": "capital of Italy?"}));
    assert_eq!(
        made["assessments"],
        json!([{"name": "exact_match", "value": true},
               {"name": "expected_response", "value": "Rome"}]),
        "{made}"
    );
}
