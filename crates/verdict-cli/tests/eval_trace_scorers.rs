//! `verdict eval` with the built-in trace scorers over a real OTLP JSON
//! dataset (the README's `examples/data/agent_traces.json`): each record's
//! whole trace reaches the scorers, and the feedback stored for each trace
//! is what its spans say. A record without a trace gets an error
//! feedback from a trace scorer, never a pass.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use verdict::FeedbackValue;
use verdict_export::LocalStore;

/// The example dataset and its suite, from the workspace root.
fn example(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data")
        .join(file)
        .display()
        .to_string()
}

/// Per trace (32 hex), per scorer: its feedback's value, or its error
/// code, and its rationale.
type Stored = BTreeMap<String, BTreeMap<String, (Result<FeedbackValue, String>, String)>>;

fn stored(db: &Path) -> Stored {
    let store = LocalStore::open(db).unwrap();
    let mut out = Stored::new();
    for trace in store.list_traces().unwrap() {
        let hex = format!("{:032x}", trace.trace_id);
        for a in store.list_by_trace(trace.trace_id).unwrap() {
            let value = match (a.feedback_value(), a.error()) {
                (_, Some(e)) => Err(e.error_code.clone()),
                (Some(v), None) => Ok(v.clone()),
                (None, None) => continue, // an expectation
            };
            out.entry(hex.clone()).or_default().insert(
                a.name().as_str().to_owned(),
                (value, a.rationale().unwrap_or_default().to_owned()),
            );
        }
    }
    out
}

const GOOD: &str = "a1000000000000000000000000000001";
const FAILING: &str = "b2000000000000000000000000000002";
const MLFLOW: &str = "c3000000000000000000000000000003";

#[test]
fn each_trace_is_judged_by_its_own_spans() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = common::verdict_in(
        dir.path(),
        &[
            "eval",
            &example("agent_traces.json"),
            "--config",
            &example("agent_traces.toml"),
            "--store",
            "s.db",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("3 records"), "{stdout}");
    let stored = stored(&dir.path().join("s.db"));
    assert_eq!(stored.len(), 3, "{stored:#?}");
    let value = |trace: &str, scorer: &str| stored[trace][scorer].0.clone();
    let why = |trace: &str, scorer: &str| stored[trace][scorer].1.clone();
    let number = |n: f64| Ok(FeedbackValue::Number(n));
    let bool = |b: bool| Ok(FeedbackValue::Bool(b));

    // Latency: the whole trace, in milliseconds.
    assert_eq!(value(GOOD, "latency"), number(1200.0));
    assert_eq!(value(FAILING, "latency"), number(4500.0));
    assert_eq!(value(MLFLOW, "latency"), number(800.0));
    assert_eq!(
        why(FAILING, "latency"),
        "the trace took 4500 ms, over the 2000 ms allowed"
    );
    // Span status: the flight search timed out.
    assert_eq!(value(GOOD, "span_status"), bool(true));
    assert_eq!(value(FAILING, "span_status"), bool(false));
    assert_eq!(
        why(FAILING, "span_status"),
        "span \"execute_tool search_flights\" failed: upstream timeout after 3000 ms"
    );
    assert_eq!(value(MLFLOW, "span_status"), bool(true));
    // Tool calls, against the root span's expectation, arguments too;
    // the third trace's tool span is MLflow's.
    assert_eq!(value(GOOD, "tool_calls"), bool(true));
    assert_eq!(value(FAILING, "tool_calls"), bool(false));
    assert_eq!(
        why(FAILING, "tool_calls"),
        "called [search_flights, get_weather]; expected [get_weather]"
    );
    assert_eq!(value(MLFLOW, "tool_calls"), bool(true));
    // Output tokens per model call, at most 200.
    assert_eq!(value(GOOD, "attribute"), bool(true));
    assert_eq!(value(FAILING, "attribute"), bool(false));
    assert_eq!(value(MLFLOW, "attribute"), bool(true));
    // Tokens over the trace: 120 + 40 + 200 + 30; 500 + 150 + 400 + 250;
    // 90 + 12 + 30 + 8.
    assert_eq!(value(GOOD, "token_budget"), number(390.0));
    assert_eq!(value(FAILING, "token_budget"), number(1300.0));
    assert_eq!(value(MLFLOW, "token_budget"), number(140.0));
}

#[test]
fn a_record_without_a_trace_is_an_error_feedback_and_fails_its_gate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("qa.jsonl"),
        concat!(
            r#"{"inputs": "q", "outputs": "a", "expectations": {"expected_response": "a"}}"#,
            "\n"
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = common::verdict_in(
        dir.path(),
        &[
            "eval",
            "qa.jsonl",
            "--scorer",
            "span_status",
            "--scorer",
            "exact_match",
            "--fail-under",
            "span_status=0.5",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("error MISSING_TRACE"), "{stdout}");
    let stored = stored(&dir.path().join("s.db"));
    let record = stored.values().next().unwrap();
    assert_eq!(record["span_status"].0, Err("MISSING_TRACE".to_owned()));
    assert_eq!(record["exact_match"].0, Ok(FeedbackValue::Bool(true)));
}

/// A JSONL record in MLflow's evaluation shape whose `trace` is an MLflow
/// trace, as `mlflow.entities.Trace.to_dict()` writes it.
const MLFLOW_RECORD: &str = r#"{"inputs": {"q": "Weather in Oslo?"}, "outputs": "Snow.", "expectations": {"expected_tool_calls": ["get_weather"]}, "trace": {"info": {"trace_id": "tr-d1000000000000000000000000000004", "state": "OK"}, "data": {"spans": [{"trace_id": "0QAAAAAAAAAAAAAAAAAABA==", "span_id": "0QAAAAAAAAE=", "parent_span_id": null, "name": "agent", "start_time_unix_nano": 1765000000000000000, "end_time_unix_nano": 1765000000300000000, "events": [], "status": {"code": "STATUS_CODE_OK", "message": ""}, "attributes": {"mlflow.traceRequestId": "\"tr-d1000000000000000000000000000004\"", "mlflow.spanType": "\"AGENT\""}}, {"trace_id": "0QAAAAAAAAAAAAAAAAAABA==", "span_id": "0QAAAAAAAAI=", "parent_span_id": "0QAAAAAAAAE=", "name": "get_weather", "start_time_unix_nano": 1765000000010000000, "end_time_unix_nano": 1765000000200000000, "events": [{"name": "exception", "time_unix_nano": 1765000000150000000, "attributes": {"exception.message": "\"boom\""}}], "status": {"code": "STATUS_CODE_ERROR", "message": "boom"}, "attributes": {"mlflow.traceRequestId": "\"tr-d1000000000000000000000000000004\"", "mlflow.spanType": "\"TOOL\"", "mlflow.spanInputs": "{\"city\": \"Oslo\"}"}}]}}}"#;

#[test]
fn a_jsonl_record_carries_its_mlflow_trace_to_the_scorers_and_the_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("qa.jsonl"), format!("{MLFLOW_RECORD}\n")).unwrap();
    let (code, stdout, stderr) = common::verdict_in(
        dir.path(),
        &[
            "eval",
            "qa.jsonl",
            "--scorer",
            "tool_calls",
            "--scorer",
            "span_status",
            "--scorer",
            "latency:max_ms=1000",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let trace = "d1000000000000000000000000000004";
    let stored = stored(&dir.path().join("s.db"));
    let record = &stored[trace];
    assert_eq!(record["tool_calls"].0, Ok(FeedbackValue::Bool(true)));
    assert_eq!(record["span_status"].0, Ok(FeedbackValue::Bool(false)));
    assert_eq!(record["span_status"].1, "span \"get_weather\" failed: boom");
    assert_eq!(record["latency"].0, Ok(FeedbackValue::Number(300.0)));
    // The trace's spans are stored with the record, as an OTLP file's.
    let store = LocalStore::open(dir.path().join("s.db")).unwrap();
    let id = verdict::parse_trace_id(trace).unwrap();
    assert_eq!(store.spans_of(id).unwrap().len(), 2);
}
