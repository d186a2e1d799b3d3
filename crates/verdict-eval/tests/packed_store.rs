//! A run's records are packed in the store, not kept as one row per
//! assessment: what the store reads back must be exactly what a run sends
//! its destinations, and the lifecycle must work on it as on any other
//! assessment. Real runs, a real SQLite file, the JSONL destination as the
//! reference.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use verdict::{Assessment, AssessmentUpdate, Kind, parse_trace_id};
use verdict_eval::{Dataset, Destination, Evaluation, ExportTarget, SuiteConfig};
use verdict_export::{LocalStore, RunStatus, StoredSpan};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Records that name no trace, one that names a trace and a span, one
/// with no expectation (its scorers fail), odd text.
const DATA: &str = r#"{"inputs": {"question": "Capital of France?"}, "outputs": "Paris", "expectations": {"expected_response": "Paris", "expected_facts": ["Paris"]}}
{"inputs": "Capital of Italy?", "outputs": "Milan", "expectations": {"expected_response": "Rome"}}
{"inputs": {"q": "x"}, "outputs": "Lima", "expectations": {"expected_response": "Lima"}, "trace_id": "0fb07256509eb9d22d07f42f7eb9f24d", "span_id": "71492b10072d70de"}
{"inputs": "no expectation", "outputs": "\u0000\u001b[2J\ud83d\ude00"}
{"inputs": null, "outputs": {"answer": [1, 2.5, null]}, "expectations": {"expected_response": {"answer": [1, 2.5, null]}}}
"#;

const SCORERS: &str = r#"
[[scorers]]
spec = "exact_match"
[[scorers]]
spec = "contains"
config = { expectation = "expected_facts" }
[[scorers]]
spec = "edit_distance"
threshold = 0.8
"#;

/// Runs the evaluation with a store and a JSONL destination; returns the
/// lines sent to the destination.
fn run_with_lines(store: &Arc<LocalStore>, data: &Path, dir: &Path) -> Vec<serde_json::Value> {
    let out = dir.join(format!("out-{}.jsonl", rand_suffix()));
    let target = ExportTarget::Jsonl(out.clone());
    let config = SuiteConfig::from_toml(SCORERS, Path::new("verdict.toml")).unwrap();
    Evaluation::new(config)
        .unwrap()
        .store(Arc::clone(store))
        .export(Destination::open(target).unwrap())
        .run(&Dataset::open(data).unwrap())
        .unwrap();
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn the_store_reads_back_exactly_what_the_destinations_were_sent() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "qa.jsonl", DATA);
    let store = Arc::new(LocalStore::open(dir.path().join("verdict.db")).unwrap());
    let lines = run_with_lines(&store, &data, dir.path());

    let sent: Vec<Assessment> = lines
        .iter()
        .filter(|l| l.get("type").is_none())
        .map(|l| Assessment::from_json(&l.to_string()).unwrap())
        .collect();
    // 3 records with expectations × their expectations, and 3 feedback
    // per record.
    assert_eq!(sent.len(), 2 + 1 + 1 + 1 + 5 * 3);
    assert_eq!(store.count_assessments().unwrap(), sent.len());
    assert!(
        sent.iter()
            .any(|a| a.error().is_some() && a.kind() == Kind::Feedback),
        "a scorer failed on the record with no expectation"
    );
    let mut by_trace: BTreeMap<String, Vec<&Assessment>> = BTreeMap::new();
    for a in &sent {
        assert_eq!(&store.get(a.trace_id(), a.id()).unwrap(), a);
        by_trace
            .entry(a.trace_id().to_string())
            .or_default()
            .push(a);
    }
    for (trace, expected) in &by_trace {
        let trace = parse_trace_id(trace).unwrap();
        let read = store.list_by_trace(trace).unwrap();
        let expected: Vec<Assessment> = expected.iter().map(|a| (*a).clone()).collect();
        assert_eq!(read, expected, "trace {trace}");
    }
    // Every span sent, read back the same.
    let spans: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "span").collect();
    assert_eq!(
        spans.len(),
        4,
        "a root span for each record that names no trace"
    );
    for span in spans {
        let trace = StoredSpan::from_mlflow_json(span).unwrap().trace_id;
        let stored: Vec<serde_json::Value> = store
            .spans_of(trace)
            .unwrap()
            .iter()
            .map(StoredSpan::to_mlflow_json)
            .collect();
        assert_eq!(stored, vec![span.clone()]);
    }
    // Traces: the four the run made and the one a record named.
    let traces = store.list_traces().unwrap();
    assert_eq!(traces.len(), 5);
    assert_eq!(
        traces.iter().map(|t| t.assessment_count).sum::<usize>(),
        sent.len()
    );
    // By name, across runs.
    assert_eq!(store.list_by_name("exact_match").unwrap().len(), 5);
    assert_eq!(store.summary("exact_match").unwrap().count, 5);
}

#[test]
fn the_lifecycle_works_on_a_runs_feedback_and_keeps_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "qa.jsonl", DATA);
    let store = Arc::new(LocalStore::open(dir.path().join("verdict.db")).unwrap());
    let lines = run_with_lines(&store, &data, dir.path());
    let first = Assessment::from_json(
        &lines
            .iter()
            .find(|l| l["assessment_name"] == "exact_match")
            .unwrap()
            .to_string(),
    )
    .unwrap();
    let trace = first.trace_id();
    let before = store.list_by_trace(trace).unwrap();
    let count = store.count_assessments().unwrap();

    // A person overrides the scorer: the old one is invalid, in its place.
    let fix = Assessment::override_of(&first, false)
        .source(verdict::AssessmentSource::human("ana"))
        .on(first.target())
        .unwrap();
    store.log(&fix).unwrap();
    assert!(!store.get(trace, first.id()).unwrap().is_valid());
    let after = store.list_by_trace(trace).unwrap();
    assert_eq!(after.len(), before.len() + 1);
    let ids: Vec<_> = after.iter().map(Assessment::id).collect();
    let mut expected: Vec<_> = before.iter().map(Assessment::id).collect();
    expected.push(fix.id());
    assert_eq!(ids, expected, "the overridden feedback keeps its place");
    assert_eq!(store.count_assessments().unwrap(), count + 1);

    // Deleting the override makes the scorer's feedback valid again.
    store.delete(trace, fix.id()).unwrap();
    assert_eq!(store.get(trace, first.id()).unwrap(), first);

    // An update changes it; a second read (a new connection) agrees.
    let update = AssessmentUpdate::builder(trace, first.id())
        .rationale("checked by hand")
        .build()
        .unwrap();
    store.update(&update).unwrap();
    let reopened = LocalStore::open(store.path()).unwrap();
    assert_eq!(
        reopened.get(trace, first.id()).unwrap().rationale(),
        Some("checked by hand")
    );

    // Deleting it removes it, and only it.
    store.delete(trace, first.id()).unwrap();
    assert!(store.get(trace, first.id()).is_err());
    assert_eq!(store.list_by_trace(trace).unwrap().len(), before.len() - 1);
    assert_eq!(store.count_assessments().unwrap(), count - 1);
    // Logging it again, as it was, is refused as a taken id only if it
    // differs; the same assessment is not a new one.
    assert!(store.log(&first).is_ok());
}

#[test]
fn deleting_runs_gives_their_space_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!(
            "{{\"inputs\": \"question {i}\", \"outputs\": \"answer {i}\", \"expectations\": {{\"expected_response\": \"answer {}\"}}}}\n",
            i % 7
        ));
    }
    let data = write(dir.path(), "big.jsonl", &text);
    let path = dir.path().join("verdict.db");
    let store = Arc::new(LocalStore::open(&path).unwrap());
    let config = SuiteConfig::from_toml(SCORERS, Path::new("verdict.toml")).unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let summary = Evaluation::new(config.clone())
            .unwrap()
            .store(Arc::clone(&store))
            .run(&Dataset::open(&data).unwrap())
            .unwrap();
        ids.push(summary.run_id);
    }
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 3);
    assert!(
        runs.iter()
            .all(|r| r.status == RunStatus::Failed || r.status == RunStatus::Passed)
    );
    assert_eq!(runs[0].records, 20_000);
    assert_eq!(runs[0].assessments, 20_000 * 4);
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    let full = size(&path);
    let deleted = store.delete_runs(&[&ids[0], &ids[1]]).unwrap();
    assert_eq!(deleted.len(), 2);
    let after = size(&path);
    assert!(
        after < full * 2 / 3,
        "the file shrank from {full} to {after} bytes"
    );
    assert_eq!(store.runs().unwrap().len(), 1);
    assert_eq!(store.count_assessments().unwrap(), 20_000 * 4);
    assert_eq!(store.list_traces().unwrap().len(), 20_000);
    assert!(store.delete_runs(&["run-000000000000"]).is_err());
}

#[test]
fn a_damaged_block_is_an_error_that_names_it_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "qa.jsonl", DATA);
    let path = dir.path().join("verdict.db");
    let store = Arc::new(LocalStore::open(&path).unwrap());
    let lines = run_with_lines(&store, &data, dir.path());
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE run_blocks SET data = substr(data, 1, length(data) / 2)",
        [],
    )
    .unwrap();
    drop(conn);
    let store = LocalStore::open(&path).unwrap();
    let span = lines.iter().find(|l| l["type"] == "span").unwrap();
    let trace = StoredSpan::from_mlflow_json(span).unwrap().trace_id;
    let error = store.list_by_trace(trace).unwrap_err().to_string();
    assert!(error.contains("cannot be read"), "{error}");
    assert!(error.contains("run-"), "{error}");
}

#[test]
fn an_assessment_logged_after_a_delete_still_comes_after_the_runs() {
    // The highest row is deleted before a run, so a row logged after the
    // run could reuse its number and sort before the run's block.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(dir.path().join("verdict.db")).unwrap());
    let other = Assessment::feedback("ok", true)
        .on_trace("00000000000000000000000000000abc", None)
        .unwrap();
    store.log(&other).unwrap();
    let data = write(
        dir.path(),
        "qa.jsonl",
        r#"{"inputs": "q", "outputs": "Paris", "expectations": {"expected_response": "Paris"}, "trace_id": "0fb07256509eb9d22d07f42f7eb9f24d"}
"#,
    );
    let config = SuiteConfig::from_toml(SCORERS, Path::new("verdict.toml")).unwrap();
    Evaluation::new(config.clone())
        .unwrap()
        .store(Arc::clone(&store))
        .run(&Dataset::open(&data).unwrap())
        .unwrap();
    store.delete(other.trace_id(), other.id()).unwrap();
    let trace = parse_trace_id("0fb07256509eb9d22d07f42f7eb9f24d").unwrap();
    let later = Assessment::expectation("expected_response", "Lyon")
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
        .unwrap();
    store.log(&later).unwrap();
    let listed = store.list_by_trace(trace).unwrap();
    assert_eq!(
        listed.last().unwrap().id(),
        later.id(),
        "logged last, listed last"
    );
    // A record of the trace that brings no expectation is judged against
    // the latest one: Lyon.
    let data = write(
        dir.path(),
        "again.jsonl",
        r#"{"inputs": "q", "outputs": "Lyon", "trace_id": "0fb07256509eb9d22d07f42f7eb9f24d"}
"#,
    );
    let mut exact = SuiteConfig::default();
    exact.replace_scorers(vec!["exact_match".parse().unwrap()]);
    let summary = Evaluation::new(exact)
        .unwrap()
        .store(Arc::clone(&store))
        .run(&Dataset::open(&data).unwrap())
        .unwrap();
    assert_eq!(summary.scorers[0].passed, 1);
}

#[test]
fn a_runs_assessment_id_cannot_be_reused_on_another_trace() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "qa.jsonl", DATA);
    let store = Arc::new(LocalStore::open(dir.path().join("verdict.db")).unwrap());
    let lines = run_with_lines(&store, &data, dir.path());
    let first = Assessment::from_json(
        &lines
            .iter()
            .find(|l| l["assessment_name"] == "exact_match")
            .unwrap()
            .to_string(),
    )
    .unwrap();
    store.delete(first.trace_id(), first.id()).unwrap();
    let elsewhere = Assessment::feedback("exact_match", false)
        .id(first.id())
        .on_trace("00000000000000000000000000000abc", None)
        .unwrap();
    let error = store.log(&elsewhere).unwrap_err().to_string();
    assert!(error.contains(&first.id().to_string()), "{error}");
    assert!(
        store
            .list_by_trace(elsewhere.trace_id())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn spans_a_call_made_are_packed_with_its_record_and_read_back_whole() {
    use opentelemetry::trace::{
        Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
    };
    use opentelemetry::{InstrumentationScope, KeyValue};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    let dir = tempfile::tempdir().unwrap();
    let data = write(
        dir.path(),
        "qa.jsonl",
        "{\"inputs\": \"q1\", \"expectations\": {\"expected_response\": \"a\"}}\n\
         {\"inputs\": \"q2\", \"expectations\": {\"expected_response\": \"a\"}}\n",
    );
    let db = dir.path().join("verdict.db");
    let suite = verdict_eval::Suite::new().scorer("exact_match").store(&db);
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(suite.span_processor())
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder("code under test")
            .with_version("1.2.3")
            .build(),
    );
    let report = suite
        .predict(move |inputs| {
            let _tool = tracing::info_span!("tool", input = inputs.as_str(), n = 7).entered();
            let link = opentelemetry::trace::SpanContext::new(
                opentelemetry::trace::TraceId::from(0xabcu128),
                opentelemetry::trace::SpanId::from(0xdefu64),
                opentelemetry::trace::TraceFlags::SAMPLED,
                true,
                Default::default(),
            );
            tracer.in_span("generate", |cx| {
                let span = cx.span();
                span.set_attribute(KeyValue::new("text", "ünï\u{0}\"'"));
                span.set_attribute(KeyValue::new("tokens", 42));
                span.set_attribute(KeyValue::new("score", 0.1 + 0.2));
                span.set_attribute(KeyValue::new("cached", true));
                span.add_event("retry", vec![KeyValue::new("attempt", 2)]);
                span.add_link(link, vec![KeyValue::new("why", "follows")]);
                span.set_status(Status::error("model timed out"));
            });
            let mut client = tracer
                .span_builder("call model")
                .with_kind(SpanKind::Client)
                .start(&tracer);
            client.set_status(Status::Ok);
            client.end();
            Ok::<_, String>("a".into())
        })
        .run(&data)
        .unwrap();
    report.assert_gates();

    let store = LocalStore::open(&db).unwrap();
    let exported = exporter.get_finished_spans().unwrap();
    assert_eq!(exported.len(), 4);
    // Each OpenTelemetry span reads back exactly as the SDK ended it.
    for sent in &exported {
        let stored = store.spans_of(sent.span_context.trace_id()).unwrap();
        let read = stored
            .iter()
            .find(|s| s.span_id == sent.span_context.span_id())
            .unwrap_or_else(|| panic!("{} is not stored: {stored:?}", sent.name));
        assert_eq!(read, &StoredSpan::from(sent));
    }
    let traces = store.list_traces().unwrap();
    assert_eq!(traces.len(), 2);
    for trace in &traces {
        let spans = store.spans_of(trace.trace_id).unwrap();
        // The root, the `tracing` span, and two OpenTelemetry spans.
        assert_eq!(spans.len(), 4, "{spans:?}");
        assert_eq!(trace.span_count, 4);
        assert_eq!(trace.start_time, spans.iter().map(|s| s.start_time).min());
        assert_eq!(trace.end_time, spans.iter().map(|s| s.end_time).max());
        let tool = spans.iter().find(|s| s.name == "tool").unwrap();
        assert_eq!(tool.attributes["n"], 7);
        let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
        assert_eq!(tool.parent_span_id, Some(root.span_id));
    }
    // Packed with the records: no row of `trace_spans` or `traces`, and no
    // operation but the runs' blocks.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM trace_spans"), 0);
    assert_eq!(count("SELECT count(*) FROM traces"), 0);
    assert_eq!(count("SELECT count(*) FROM ops WHERE kind = 'spans'"), 0);

    // Deleting the run deletes its spans.
    let run = store.runs().unwrap()[0].run_id.clone();
    store.delete_runs(&[&run]).unwrap();
    for trace in &traces {
        assert!(store.spans_of(trace.trace_id).unwrap().is_empty());
    }
}
