//! The spans a suite's calls made, packed with the run's records in a real
//! store file, are pushed like any other span: `verdict push` to a JSONL
//! file gives each exactly as the store reads it back, and to an
//! in-process OTLP receiver as real protobuf, with its parent, status and
//! events.

mod common;

use std::path::Path;
use std::process::Command;

use common::verdict_otlp;
use opentelemetry::KeyValue;
use opentelemetry::trace::{Status, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;
use verdict_eval::Suite;
use verdict_export::LocalStore;
use verdict_export::testing::OtlpReceiver;

/// A store with one run of 3 records, each call making one span.
fn predicted_store(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("qa.jsonl");
    let text: String = (0..3)
        .map(|i| {
            format!(
                "{{\"inputs\": \"q{i}\", \"expectations\": {{\"expected_response\": \"q{i}\"}}}}\n"
            )
        })
        .collect();
    std::fs::write(&data, text).unwrap();
    let db = dir.join("verdict.db");
    let suite = Suite::new().scorer("exact_match").store(&db);
    let provider = SdkTracerProvider::builder()
        .with_span_processor(suite.span_processor())
        .build();
    let tracer = provider.tracer("code under test");
    suite
        .predict(move |inputs| {
            tracer.in_span("generate", |cx| {
                cx.span()
                    .set_attribute(KeyValue::new("input", inputs.to_string()));
                cx.span().add_event("retry", vec![]);
                cx.span().set_status(Status::error("slow model"));
            });
            Ok::<_, String>(inputs.clone())
        })
        .run(&data)
        .unwrap()
        .assert_gates();
    db
}

#[test]
fn jsonl_gets_each_predicted_span_as_the_store_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = predicted_store(dir.path());
    let file = dir.path().join("pushed.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["push", "--to", &format!("jsonl:{}", file.display())])
        .args(["--store", db.to_str().unwrap()])
        .env_remove("VERDICT_PLUGIN_PATH")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pushed: Vec<&Value> = lines.iter().filter(|l| l["type"] == "span").collect();
    let store = LocalStore::open(&db).unwrap();
    let mut stored = Vec::new();
    for trace in store.list_traces().unwrap() {
        stored.extend(
            store
                .spans_of(trace.trace_id)
                .unwrap()
                .iter()
                .map(|s| s.to_mlflow_json()),
        );
    }
    assert_eq!(stored.len(), 6, "a root and a predicted span per record");
    for span in &stored {
        assert!(pushed.contains(&span), "{span} was not pushed");
    }
    assert_eq!(pushed.len(), stored.len());
}

#[test]
fn otlp_gets_each_predicted_span_under_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let db = predicted_store(dir.path());
    let receiver = OtlpReceiver::start().unwrap();
    let out = verdict_otlp(
        dir.path(),
        &receiver.endpoint(),
        &["push", "--to", "otlp", "--store", db.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spans = receiver.spans();
    assert_eq!(spans.len(), 6);
    let generated: Vec<_> = spans.iter().filter(|s| s.name == "generate").collect();
    assert_eq!(generated.len(), 3);
    for span in generated {
        let root = spans
            .iter()
            .find(|s| s.span_id == span.parent_span_id)
            .expect("its root span was pushed too");
        assert!(root.parent_span_id.is_empty());
        assert_eq!(root.trace_id, span.trace_id);
        assert_eq!(span.status.as_ref().unwrap().message, "slow model");
        assert_eq!(span.events[0].name, "retry");
    }
}
