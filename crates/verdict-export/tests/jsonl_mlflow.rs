//! The span lines of the JSONL sink are MLflow's span format: MLflow's own
//! `mlflow.entities.Span.from_dict` (the MLflow 3.17.2 that
//! `scripts/mlflow/install.sh` installs into a cached virtualenv) reads
//! every one, and the span it gives has the ids, parent, name, times,
//! status, attributes (with their types), events and links written.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use serde_json::{Value, json};
use verdict_export::runs::PackedValue;
use verdict_export::{JsonlSink, RecordSpan, StoredSpan};

/// The python of MLflow's virtualenv, installed if it is not yet.
fn mlflow_python() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mlflow/install.sh");
    let output = Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/mlflow/install.sh");
    assert!(output.status.success(), "scripts/mlflow/install.sh failed");
    let venv = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    PathBuf::from(venv).join("bin/python")
}

/// Reads every line of a JSONL file with MLflow's `Span.from_dict` and
/// prints, per span line, what MLflow's span object says.
const READ_WITH_MLFLOW: &str = r#"
import json, sys
from mlflow.entities import Span

out = []
for line in open(sys.argv[1]):
    data = json.loads(line)
    if data.get("type") != "span":
        continue
    span = Span.from_dict(data)
    out.append({
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_id": span.parent_id,
        "name": span.name,
        "start_time_ns": span.start_time_ns,
        "end_time_ns": span.end_time_ns,
        "status": span.status.status_code.value,
        "status_message": span.status.description,
        "inputs": span.inputs,
        "outputs": span.outputs,
        "attributes": span.attributes,
        "events": [
            {"name": e.name, "timestamp": e.timestamp, "attributes": e.attributes}
            for e in span.events
        ],
        "links": [l.to_dict() for l in span.links],
    })
print(json.dumps(out))
"#;

fn read_with_mlflow(path: &Path) -> Vec<Value> {
    let output = Command::new(mlflow_python())
        .arg("-c")
        .arg(READ_WITH_MLFLOW)
        .arg(path)
        .output()
        .expect("run MLflow's python");
    assert!(
        output.status.success(),
        "MLflow's Span.from_dict refused a line: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).unwrap();
    read.as_array().unwrap().clone()
}

fn nanos(time: std::time::SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[test]
fn mlflow_reads_every_span_line_back_with_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let sink = JsonlSink::append(&path).unwrap();

    // Spans of a service, as the SDK finishes them.
    let sdk = common::finished_trace();
    sink.write_spans(&sdk).unwrap();
    // The root span `verdict eval` makes for a record, as the store keeps it.
    let trace_id =
        opentelemetry::trace::TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
    let start = UNIX_EPOCH + Duration::from_nanos(1_764_236_075_541_000_123);
    let record = RecordSpan {
        run_id: "run-1",
        scope: ("verdict-eval", Some("0.1.0")),
        trace_id,
        line: 7,
        inputs: PackedValue::Json(r#"{"question": "capital of France?"}"#),
        outputs: PackedValue::Text("Paris"),
        error: None,
        start,
        end: start + Duration::from_millis(3),
    }
    .to_span();
    // A span of an OTLP file: its own resource, a link, attributes whose
    // text looks like other JSON types.
    let mut linked = StoredSpan::from(&sdk[0]).with_resource(
        &Resource::builder_empty()
            .with_attributes([KeyValue::new("service.name", "shop")])
            .build(),
    );
    linked.links = vec![json!({
        "trace_id": format!("{trace_id:032x}"),
        "span_id": "00f067aa0ba902b7",
        "attributes": {"reason": "retry of"},
    })];
    linked
        .attributes
        .insert("user.id".into(), Value::String("123".into()));
    linked
        .attributes
        .insert("flag".into(), Value::String("true".into()));
    let stored = [record.clone(), linked.clone()];
    sink.write_stored_spans(&stored).unwrap();
    // An assessment line among them is not a span line.
    let expectation = verdict::Assessment::expectation("expected_response", "Paris")
        .on_trace(&format!("{trace_id:032x}"), None)
        .unwrap();
    sink.write_operations(&[verdict::Operation::Log(expectation)])
        .unwrap();
    sink.flush().unwrap();

    let all: Vec<StoredSpan> = sdk.iter().map(StoredSpan::from).chain(stored).collect();
    let read = read_with_mlflow(&path);
    assert_eq!(read.len(), all.len(), "every span line read");
    for (mlflow, span) in read.iter().zip(&all) {
        assert_eq!(mlflow["trace_id"], format!("tr-{:032x}", span.trace_id));
        assert_eq!(mlflow["span_id"], format!("{:016x}", span.span_id));
        assert_eq!(
            mlflow["parent_id"],
            span.parent_span_id
                .map_or(Value::Null, |id| format!("{id:016x}").into())
        );
        assert_eq!(mlflow["name"], span.name.as_str());
        assert_eq!(mlflow["start_time_ns"], nanos(span.start_time));
        assert_eq!(mlflow["end_time_ns"], nanos(span.end_time));
        // Every attribute with its value and type, as the span holds it;
        // MLflow's own are JSON text that MLflow decodes.
        for (key, value) in &span.attributes {
            let expected = match value {
                Value::String(text) if key.starts_with("mlflow.") => {
                    serde_json::from_str(text).unwrap_or_else(|_| value.clone())
                }
                value => value.clone(),
            };
            assert_eq!(
                mlflow["attributes"][key], expected,
                "{key} of {}",
                span.name
            );
        }
        assert_eq!(
            mlflow["attributes"]["mlflow.traceRequestId"],
            format!("tr-{:032x}", span.trace_id)
        );
        assert_eq!(
            mlflow["events"].as_array().unwrap().len(),
            span.events.len()
        );
    }

    // Status, events, inputs and outputs, links.
    let answer = read.iter().find(|s| s["name"] == "answer").unwrap();
    assert_eq!(answer["status"], "ERROR");
    assert_eq!(answer["status_message"], "upstream timed out");
    assert_eq!(answer["attributes"]["gen_ai.usage.input_tokens"], 42);
    assert_eq!(answer["attributes"]["tags"], json!(["a", "b"]));
    assert_eq!(answer["events"][0]["name"], "retry");
    assert_eq!(answer["events"][0]["attributes"], json!({"attempt": 2}));
    let sdk_answer = sdk.iter().find(|s| s.name == "answer").unwrap();
    assert_eq!(
        answer["events"][0]["timestamp"],
        nanos(sdk_answer.events.events[0].timestamp)
    );
    let root = &read[sdk.len()];
    assert_eq!(root["inputs"], json!({"question": "capital of France?"}));
    assert_eq!(root["outputs"], "Paris");
    // The status the record's span was given, as MLflow names it.
    let status = match &all[sdk.len()].status {
        opentelemetry::trace::Status::Ok => "OK",
        opentelemetry::trace::Status::Unset => "UNSET",
        opentelemetry::trace::Status::Error { .. } => "ERROR",
    };
    assert_eq!(root["status"], status);
    assert_eq!(root["attributes"]["verdict.eval.line"], 7);
    let last = read.last().unwrap();
    assert_eq!(
        last["attributes"]["user.id"], "123",
        "a string stays a string"
    );
    assert_eq!(last["attributes"]["flag"], "true");
    assert_eq!(
        last["links"],
        json!([{
            "trace_id": format!("tr-{trace_id:032x}"),
            "span_id": "00f067aa0ba902b7",
            "attributes": {"reason": "retry of"},
        }])
    );

    // And Verdict reads its lines back whole, resource included.
    let lines: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["type"] == "span")
        .collect();
    for (line, span) in lines.iter().zip(&all) {
        assert_eq!(&StoredSpan::from_mlflow_json(line).unwrap(), span);
    }
    assert_eq!(
        lines.last().unwrap()["resource"],
        json!({"service.name": "shop"})
    );
}
