//! The JSONL sink: every line parses, logged assessments decode back equal
//! to the originals, updates, deletes and spans have their documented
//! shapes, and files are appended to.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use verdict::testing::random_operations;
use verdict::{Assessment, AssessmentSink, Operation, Recorder};
use verdict_export::{Error, JsonlSink, StoredSpan, jsonl_line};

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

#[test]
fn every_operation_is_one_line_and_assessments_decode_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ops.jsonl");
    let operations = random_operations(11, 500);
    let sink = JsonlSink::append(&path).unwrap();
    for batch in operations.chunks(64) {
        sink.export(batch).unwrap();
    }
    AssessmentSink::flush(&sink).unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let raw: Vec<&str> = text.lines().collect();
    assert_eq!(raw.len(), operations.len(), "one line per operation");
    for (line, op) in raw.iter().zip(&operations) {
        let json: Value = serde_json::from_str(line).unwrap();
        match op {
            Operation::Log(a) => {
                assert_eq!(*line, a.to_json(), "exactly MLflow's JSON");
                assert_eq!(&Assessment::from_json(line).unwrap(), a);
                assert!(json.get("type").is_none());
            }
            Operation::Update(u) => {
                assert_eq!(json["type"], "update");
                assert_eq!(
                    json["update_mask"],
                    u.mask().replace("assessment_name", "assessmentName")
                );
                assert_eq!(
                    json["assessment"]["assessment_id"],
                    u.assessment_id().to_string()
                );
                assert_eq!(
                    json["assessment"]["trace_id"],
                    verdict::mlflow_trace_id(u.trace_id())
                );
                assert_eq!(
                    json["assessment"]["last_update_time"],
                    verdict::wire::format_time(u.update_time())
                );
            }
            Operation::Delete {
                trace_id,
                assessment_id,
            } => assert_eq!(
                json,
                serde_json::json!({
                    "type": "delete",
                    "trace_id": verdict::mlflow_trace_id(*trace_id),
                    "assessment_id": assessment_id.to_string(),
                })
            ),
        }
        assert_eq!(*line, jsonl_line(op));
    }
}

#[test]
fn spans_are_mlflow_span_dicts_one_per_line_and_read_back_whole() {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spans.jsonl");
    let spans = common::finished_trace();
    let sink = JsonlSink::append(&path).unwrap();
    sink.write_spans(&spans).unwrap();
    sink.flush().unwrap();
    let written = lines(&path);
    assert_eq!(written.len(), spans.len());
    let nanos = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    };
    for (json, span) in written.iter().zip(&spans) {
        assert_eq!(json["type"], "span");
        // MLflow's Span.to_dict(): base64 ids, integer nanoseconds.
        assert_eq!(
            json["trace_id"],
            b64(&span.span_context.trace_id().to_bytes())
        );
        assert_eq!(
            json["span_id"],
            b64(&span.span_context.span_id().to_bytes())
        );
        assert_eq!(json["name"], span.name.as_ref());
        assert_eq!(json["start_time_unix_nano"], nanos(span.start_time));
        assert_eq!(json["end_time_unix_nano"], nanos(span.end_time));
        assert_eq!(
            json["attributes"]["mlflow.traceRequestId"],
            format!("\"tr-{:032x}\"", span.span_context.trace_id())
        );
        assert_eq!(json, &StoredSpan::from(span).to_mlflow_json());
        // And back, field for field.
        assert_eq!(
            StoredSpan::from_mlflow_json(json).unwrap(),
            StoredSpan::from(span)
        );
    }
    let answer = written.iter().find(|j| j["name"] == "answer").unwrap();
    let root = written
        .iter()
        .find(|j| j["name"] == "handle request")
        .unwrap();
    assert_eq!(answer["parent_span_id"], root["span_id"]);
    assert_eq!(root["parent_span_id"], Value::Null);
    assert_eq!(root["kind"], "SPAN_KIND_SERVER");
    assert_eq!(root["status"]["code"], "STATUS_CODE_UNSET");
    assert_eq!(
        answer["status"],
        serde_json::json!({"code": "STATUS_CODE_ERROR", "message": "upstream timed out"})
    );
    // Attribute values are JSON text, as MLflow keeps them.
    assert_eq!(answer["attributes"]["gen_ai.usage.input_tokens"], "42");
    assert_eq!(answer["events"][0]["name"], "retry");
    assert!(answer["events"][0]["time_unix_nano"].is_u64());
    assert_eq!(answer["events"][0]["attributes"]["attempt"], 2);
    assert_eq!(
        answer["scope"],
        serde_json::json!({"name": "verdict-export-tests", "version": "1.2.3"})
    );
    assert_eq!(answer["resource"], serde_json::json!({}));
}

#[test]
fn a_recorder_feeds_it_and_files_are_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("appended.jsonl");
    std::fs::write(&path, "{\"type\":\"comment\"}\n").unwrap();
    let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
    let recorded: Vec<Assessment> = (0..20)
        .map(|i| {
            Assessment::feedback("score", f64::from(i) / 20.0)
                .on_trace(trace, None)
                .unwrap()
        })
        .collect();
    let recorder = Recorder::builder()
        .sink(JsonlSink::append(&path).unwrap())
        .build();
    for a in &recorded {
        recorder.record(a.clone()).unwrap();
    }
    recorder.flush().unwrap();
    let written = lines(&path);
    assert_eq!(written.len(), 21);
    assert_eq!(written[0]["type"], "comment", "earlier lines are kept");
    let decoded: Vec<Assessment> = written[1..]
        .iter()
        .map(|j| Assessment::from_json(&j.to_string()).unwrap())
        .collect();
    assert_eq!(decoded, recorded);
}

/// A writer that shares what it was given, standing in for stdout.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn writes_to_any_writer_and_holds_lines_until_flushed() {
    let out = Shared::default();
    let sink = JsonlSink::to_writer(out.clone(), "a test buffer");
    let a = Assessment::expectation("expected", serde_json::json!({"answer": ["Paris"]}))
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", Some("71492b10072d70de"))
        .unwrap();
    sink.write_operations(&[Operation::Log(a.clone())]).unwrap();
    assert!(out.0.lock().unwrap().is_empty(), "buffered until flushed");
    sink.flush().unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text, format!("{}\n", a.to_json()));
    assert_eq!(Assessment::from_json(text.trim_end()).unwrap(), a);
}

/// A writer that always fails, like a closed pipe.
struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "pipe closed",
        ))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "pipe closed",
        ))
    }
}

#[test]
fn write_failures_are_errors_not_panics() {
    let sink = JsonlSink::to_writer(Broken, "the consumer's pipe");
    let a = Assessment::feedback("ok", true)
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
        .unwrap();
    sink.export(&[Operation::Log(a)]).unwrap();
    let err = sink.flush().unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err:?}");
    assert!(err.to_string().contains("the consumer's pipe"), "{err}");
    assert!(AssessmentSink::flush(&sink).is_err());
}

#[test]
fn a_file_in_a_missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing/out.jsonl");
    let err = JsonlSink::append(&path).unwrap_err();
    assert!(matches!(err, Error::OpenOutput { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("missing/out.jsonl"), "{message}");
    assert!(
        message.contains("check that its directory exists"),
        "{message}"
    );
}

#[test]
fn stdout_is_a_sink_too() {
    let sink = JsonlSink::stdout();
    assert_eq!(AssessmentSink::name(&sink), "jsonl");
    sink.write_operations(&[]).unwrap();
    sink.flush().unwrap();
}
