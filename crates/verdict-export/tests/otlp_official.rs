//! What the OTLP exporter sends, read by another implementation: the
//! official Python `opentelemetry-proto` messages (in the MLflow virtualenv
//! that `scripts/mlflow/install.sh` caches) decode the gzip-compressed
//! protobuf bodies as the receiver got them. Every span carries a
//! resource (its own, for a span of an OTLP file, else the exporter's),
//! feedback is a `gen_ai.evaluation.result` event on its span, an
//! expectation of the whole trace a `verdict.expectation` event on the
//! trace's root span.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::{Value, json};
use verdict::{Assessment, AssessmentSink as _, Operation};
use verdict_export::otlp::{Compression, Protocol};
use verdict_export::testing::OtlpReceiver;
use verdict_export::{OtlpExporter, SpanSink as _, StoredSpan};

/// The python of MLflow's virtualenv, installed if it is not yet.
fn python() -> PathBuf {
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

/// Decodes each `PATH` (a gzip-compressed request body, `traces:PATH` or
/// `logs:PATH`) with the official messages and prints what they hold.
const DECODE: &str = r#"
import gzip, json, sys
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

def attributes(kvs):
    return {kv.key: kv.value.WhichOneof("value") and getattr(kv.value, kv.value.WhichOneof("value")) for kv in kvs}

spans, events = [], []
for arg in sys.argv[1:]:
    kind, path = arg.split(":", 1)
    body = gzip.decompress(open(path, "rb").read())
    if kind == "traces":
        request = ExportTraceServiceRequest.FromString(body)
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append({"name": s.name, "span_id": s.span_id.hex(),
                                  "parent": s.parent_span_id.hex(),
                                  "resource": attributes(rs.resource.attributes)})
    else:
        request = ExportLogsServiceRequest.FromString(body)
        for rl in request.resource_logs:
            for sl in rl.scope_logs:
                for r in sl.log_records:
                    events.append({"event_name": r.event_name, "span_id": r.span_id.hex(),
                                   "attributes": {k: v for k, v in attributes(r.attributes).items()
                                                  if isinstance(v, (str, bool, int, float))},
                                   "resource": attributes(rl.resource.attributes)})
print(json.dumps({"spans": spans, "events": events}))
"#;

#[test]
fn the_official_messages_read_resources_events_and_parents() {
    // A trace of a service: a root and a child.
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(memory.clone())
        .build();
    let tracer = provider.tracer("app");
    tracer.in_span("handle", |_| tracer.in_span("generate", |_| {}));
    let finished = memory.get_finished_spans().unwrap();
    let child = finished.iter().find(|s| s.name == "generate").unwrap();
    let root = finished.iter().find(|s| s.name == "handle").unwrap();
    let trace_hex = format!("{:032x}", root.span_context.trace_id());
    // The spans as the store gives them back: the root with a resource of
    // its own (read from an OTLP file), the child without.
    let stored = [
        StoredSpan::from(root).with_resource(
            &Resource::builder_empty()
                .with_service_name("shop-agent")
                .build(),
        ),
        StoredSpan::from(child),
    ];

    let receiver = OtlpReceiver::start().unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(receiver.endpoint())
        .protocol(Protocol::HttpProtobuf)
        .compression(Compression::Gzip)
        .resource(
            Resource::builder_empty()
                .with_service_name("checkout")
                .with_attribute(KeyValue::new("deployment.environment", "ci"))
                .build(),
        )
        .build()
        .unwrap();
    otlp.span_exporter()
        .unwrap()
        .export_stored_spans(&stored)
        .unwrap();
    let feedback = Assessment::feedback("correct", true)
        .on_span(&child.span_context)
        .unwrap();
    let expectation = Assessment::expectation("expected_response", "Paris")
        .on_trace(&trace_hex, None)
        .unwrap();
    otlp.sink()
        .export(&[Operation::Log(feedback), Operation::Log(expectation)])
        .unwrap();

    // The bodies as they arrived, gzip and protobuf.
    let dir = tempfile::tempdir().unwrap();
    let mut args = Vec::new();
    for (i, request) in receiver.requests().iter().enumerate() {
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        assert_eq!(
            request.header("content-type"),
            Some("application/x-protobuf")
        );
        let path = dir.path().join(format!("{i}.bin"));
        std::fs::write(&path, &request.body).unwrap();
        let kind = if request.path == "/v1/traces" {
            "traces"
        } else {
            "logs"
        };
        args.push(format!("{kind}:{}", path.display()));
    }
    let output = Command::new(python())
        .arg("-c")
        .arg(DECODE)
        .args(&args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).unwrap();

    let spans = read["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2);
    let root_id = format!("{:016x}", root.span_context.span_id());
    for span in spans {
        let service = &span["resource"]["service.name"];
        if span["span_id"] == root_id.as_str() {
            assert_eq!(service, "shop-agent", "its own resource: {span}");
        } else {
            assert_eq!(service, "checkout", "the exporter's: {span}");
            assert_eq!(span["resource"]["deployment.environment"], "ci");
            assert_eq!(span["parent"], root_id.as_str());
        }
    }

    let events = read["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["event_name"], "gen_ai.evaluation.result");
    assert_eq!(
        events[0]["span_id"],
        format!("{:016x}", child.span_context.span_id())
    );
    assert_eq!(events[0]["attributes"]["gen_ai.evaluation.name"], "correct");
    // Ground truth is not an evaluation result, and judges the whole
    // trace: on its root span, marked as of the trace.
    assert_eq!(events[1]["event_name"], "verdict.expectation");
    assert_eq!(events[1]["span_id"], root_id.as_str());
    let attributes = &events[1]["attributes"];
    assert_eq!(attributes["verdict.assessment.name"], "expected_response");
    assert_eq!(attributes["verdict.assessment.value"], json!("\"Paris\""));
    assert_eq!(attributes["verdict.assessment.on_trace"], true);
    assert_eq!(attributes["verdict.assessment.kind"], "expectation");
    assert!(
        attributes
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("gen_ai.evaluation")),
        "{attributes}"
    );
    for event in events {
        assert_eq!(event["resource"]["service.name"], "checkout");
    }
}
