//! Evaluation runs and bulk writes in a real store file.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use verdict::Assessment;
use verdict_export::{Batch, LocalStore, StoredRun};

fn span(trace: u128, span: u64) -> SpanData {
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: "record".into(),
        start_time: SystemTime::now(),
        end_time: SystemTime::now(),
        attributes: vec![KeyValue::new("mlflow.spanInputs", "\"q\"")],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("verdict-eval").build(),
    }
}

#[test]
fn a_batch_stores_spans_and_assessments_together() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("verdict.db")).unwrap();
    let mut batch = Batch::default();
    let mut first = None;
    for i in 1..=50u128 {
        batch.push_span(&span(i, i as u64));
        let target = verdict::Target::span(TraceId::from(i), SpanId::from(i as u64)).unwrap();
        let feedback = Assessment::feedback("exact_match", i % 2 == 0)
            .on(target)
            .unwrap();
        first.get_or_insert(feedback.clone());
        batch.push_assessment(feedback);
        batch.push_assessment(
            Assessment::expectation("expected_response", "Paris")
                .on(target)
                .unwrap(),
        );
    }
    assert_eq!(batch.len(), 150);
    store.write_batch(&batch).unwrap();
    assert_eq!(store.count_assessments().unwrap(), 100);
    assert_eq!(store.list_traces().unwrap().len(), 50);
    assert_eq!(store.spans_of(TraceId::from(7)).unwrap()[0].name, "record");
    assert_eq!(store.summary("exact_match").unwrap().pass_rate(), Some(0.5));

    // An override in a batch goes through the lifecycle: the first becomes invalid.
    let first = first.unwrap();
    let mut more = Batch::default();
    more.push_assessment(
        Assessment::override_of(&first, true)
            .on(first.target())
            .unwrap(),
    );
    store.write_batch(&more).unwrap();
    assert!(!store.get(first.trace_id(), first.id()).unwrap().is_valid());
}

#[test]
fn runs_are_listed_newest_first_and_found_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let store = LocalStore::open(&path).unwrap();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for (i, id) in ["run-a", "run-b"].into_iter().enumerate() {
        store
            .put_run(&StoredRun {
                run_id: id.into(),
                started: start + Duration::from_secs(i as u64),
                finished: start + Duration::from_secs(i as u64 + 1),
                dataset: "qa.jsonl".into(),
                records: 10,
                invalid: i as u64,
                passed: i == 0,
                summary: serde_json::json!({"scorers": [{"name": "exact_match", "pass_rate": 0.5}]}),
            })
            .unwrap();
    }
    // A second connection reads what the first wrote.
    let again = LocalStore::open(&path).unwrap();
    let runs = again.runs().unwrap();
    assert_eq!(
        runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["run-b", "run-a"]
    );
    let a = again.run("run-a").unwrap().unwrap();
    assert!(a.passed);
    assert_eq!(a.summary["scorers"][0]["pass_rate"], 0.5);
    assert_eq!(a.started, start);
    assert!(again.run("run-c").unwrap().is_none());
}

#[test]
fn a_version_2_store_migrates_and_gets_a_runs_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let feedback = Assessment::feedback("ok", true)
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
        .unwrap();
    LocalStore::open(&path).unwrap().log(&feedback).unwrap();
    {
        // What a version-2 file looks like: no runs table.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE runs; PRAGMA user_version = 2;")
            .unwrap();
    }
    let store = LocalStore::open(&path).unwrap();
    assert_eq!(
        store.get(feedback.trace_id(), feedback.id()).unwrap(),
        feedback
    );
    assert!(store.runs().unwrap().is_empty());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 3);
}
