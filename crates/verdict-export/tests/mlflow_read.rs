//! Reading traces back from a real MLflow 3.17.2 server: traces made by
//! MLflow's own Python client (a span tree with a tool call, an
//! expectation and a feedback) are found by a search (filter, time
//! window, limit) and read with their spans and assessments as MLflow's
//! client sees them.

#[path = "common/mlflow_server.rs"]
#[allow(dead_code)] // This test reads through the sink, not the helper's own client.
mod mlflow_server;

use std::time::{Duration, UNIX_EPOCH};

use mlflow_server::MlflowServer;
use opentelemetry::trace::{SpanId, Status};
use serde_json::{Value, json};
use verdict::{AssessmentValue, parse_trace_id};
use verdict_export::MlflowSink;
use verdict_mlflow::TraceQuery;

/// Makes three traces named `answer`, `answer` and `other` with MLflow's
/// client, one after the other, the first two with an expectation and a
/// feedback; prints their ids, their spans' inputs as MLflow's client
/// reads them, and the time between the first and the second.
const MAKE_TRACES: &str = r#"
import json, time, mlflow
from mlflow.entities import AssessmentSource
mlflow.set_experiment("read-back")

@mlflow.trace(span_type="AGENT")
def answer(question):
    with mlflow.start_span("lookup", span_type="TOOL") as span:
        span.set_inputs({"query": question, "top_k": 3})
        span.set_outputs(["Paris"])
    return "Paris"

@mlflow.trace
def other(question):
    return "nothing"

ids = []
for make in (lambda: answer("Capital of France?"), lambda: answer("Capital of Italy?"), lambda: other("x")):
    make()
    ids.append(mlflow.get_last_active_trace_id())
    time.sleep(0.05)
for tid in ids[:2]:
    mlflow.log_expectation(trace_id=tid, name="expected_response", value="Paris")
    mlflow.log_feedback(trace_id=tid, name="exact_match", value=True,
                        rationale="same text",
                        source=AssessmentSource(source_type="CODE", source_id="verdict"))
trace = mlflow.get_trace(ids[0])
second = mlflow.get_trace(ids[1]).info.request_time
print(json.dumps({
    "ids": ids,
    "experiment": mlflow.get_experiment_by_name("read-back").experiment_id,
    "second_ms": second,
    "spans": [{"name": s.name, "inputs": s.inputs, "type": s.span_type} for s in trace.data.spans],
}))
"#;

#[test]
fn traces_made_by_mlflow_are_found_and_read_back_whole() {
    let server = MlflowServer::start();
    let made = python_logging_synchronously(&server, MAKE_TRACES);
    let ids: Vec<_> = made["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| parse_trace_id(id.as_str().unwrap()).unwrap())
        .collect();
    let sink = MlflowSink::builder(&server.url)
        .experiment_id(made["experiment"].as_str().unwrap())
        .build()
        .unwrap();

    // Every trace, the newest first.
    let all = sink.search_traces(&TraceQuery::new()).unwrap();
    assert_eq!(all, [ids[2], ids[1], ids[0]]);

    // The limit, MLflow's filter, and the window.
    assert_eq!(
        sink.search_traces(&TraceQuery::new().limit(2)).unwrap(),
        [ids[2], ids[1]]
    );
    assert_eq!(
        sink.search_traces(&TraceQuery::new().filter("trace.name = 'answer'"))
            .unwrap(),
        [ids[1], ids[0]]
    );
    let second = UNIX_EPOCH + Duration::from_millis(made["second_ms"].as_u64().unwrap());
    assert_eq!(
        sink.search_traces(
            &TraceQuery::new()
                .since(second)
                .filter("trace.name = 'answer'")
        )
        .unwrap(),
        [ids[1]]
    );
    assert_eq!(
        sink.search_traces(&TraceQuery::new().until(second))
            .unwrap(),
        [ids[0]]
    );
    assert!(
        sink.search_traces(&TraceQuery::new().filter("trace.name = 'nothing such'"))
            .unwrap()
            .is_empty()
    );

    // A trace read whole: its spans as MLflow's client sees them.
    let traces = sink.get_traces(&[ids[0], ids[2]]).unwrap();
    assert_eq!(traces.len(), 2);
    let first = &traces[0];
    assert_eq!(first.trace_id, ids[0]);
    assert_eq!(first.name.as_deref(), Some("answer"));
    assert_eq!(first.state, "OK");
    let expected_spans = made["spans"].as_array().unwrap();
    assert_eq!(first.spans.len(), expected_spans.len());
    for expected in expected_spans {
        let name = expected["name"].as_str().unwrap();
        let span = first.spans.iter().find(|s| s.name == name).unwrap();
        assert_eq!(span.span_context.trace_id(), ids[0]);
        let attribute = |key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.as_str().into_owned())
        };
        let inputs: Value = serde_json::from_str(&attribute("mlflow.spanInputs").unwrap()).unwrap();
        assert_eq!(inputs, expected["inputs"], "{name}");
        assert_eq!(
            attribute("mlflow.spanType").unwrap(),
            expected["type"].as_str().unwrap()
        );
        assert_eq!(span.status, Status::Ok);
    }
    let root = first
        .spans
        .iter()
        .find(|s| s.parent_span_id == SpanId::INVALID)
        .unwrap();
    let tool = first.spans.iter().find(|s| s.name == "lookup").unwrap();
    assert_eq!(tool.parent_span_id, root.span_context.span_id());
    assert!(tool.start_time >= root.start_time && tool.end_time <= root.end_time);

    // Its assessments, as logged.
    assert_eq!(first.assessments.len(), 2);
    let expectation = first
        .assessments
        .iter()
        .find(|a| a.name().as_str() == "expected_response")
        .unwrap();
    assert!(matches!(
        expectation.value(),
        AssessmentValue::Expectation(v) if *v == json!("Paris")
    ));
    let feedback = first
        .assessments
        .iter()
        .find(|a| a.name().as_str() == "exact_match")
        .unwrap();
    assert_eq!(feedback.rationale(), Some("same text"));
    assert!(traces[1].assessments.is_empty());
    assert_eq!(traces[1].name.as_deref(), Some("other"));

    // A trace the server does not have is named, not skipped.
    let missing = parse_trace_id("0123456789abcdef0123456789abcdef").unwrap();
    let e = sink.get_traces(&[ids[0], missing]).unwrap_err().to_string();
    assert!(e.contains("tr-0123456789abcdef0123456789abcdef"), "{e}");

    // A filter MLflow refuses is its refusal, not an empty result.
    let e = sink
        .search_traces(&TraceQuery::new().filter("no such = syntax"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("refused"), "{e}");
}

/// Runs `code` with MLflow's client, its traces logged synchronously, so
/// that each is on the server when its assessments are logged.
fn python_logging_synchronously(server: &MlflowServer, code: &str) -> Value {
    let code =
        format!("import os\nos.environ['MLFLOW_ENABLE_ASYNC_TRACE_LOGGING'] = 'false'\n{code}");
    server.python(&code, &[])
}
