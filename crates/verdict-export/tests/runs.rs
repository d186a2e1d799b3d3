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
    assert_eq!(version, LocalStore::schema_version());
}

/// Every row of the tables the version-4 migration copies, column by column.
fn dump(path: &std::path::Path) -> Vec<Vec<Vec<rusqlite::types::Value>>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    [
        "SELECT seq, assessment_id, trace_id, span_id, name, kind, valid, create_time_ns,
                last_update_time_ns, overrides, json FROM assessments ORDER BY seq",
        "SELECT trace_id, span_id, parent_span_id, name, kind, start_time_ns, end_time_ns,
                status_code, status_message, attributes, events, links, scope_name,
                scope_version FROM spans ORDER BY trace_id, span_id",
        "SELECT trace_id, first_seen_ns FROM traces ORDER BY trace_id",
        "SELECT * FROM runs ORDER BY run_id",
    ]
    .iter()
    .map(|sql| {
        let mut statement = conn.prepare(sql).unwrap();
        let columns = statement.column_count();
        statement
            .query_map([], |row| {
                (0..columns)
                    .map(|i| row.get(i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    })
    .collect()
}

/// `tests/data/v3.db` was written by Verdict at schema version 3 (before
/// the migration existed): `verdict eval` on four records of
/// examples/data/qa.jsonl with exact_match and edit_distance, then
/// `verdict feedback` and `verdict override` on its first trace.
#[test]
fn a_version_3_store_migrates_to_version_4_keeping_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/v3.db"),
        &path,
    )
    .unwrap();
    let before = dump(&path);
    assert_eq!(
        before.iter().map(Vec::len).collect::<Vec<_>>(),
        [18, 4, 4, 1],
        "the V3 fixture's rows"
    );
    let store = LocalStore::open(&path).unwrap();
    assert_eq!(dump(&path), before, "every row kept, seq included");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 4);
    assert_eq!(version, LocalStore::schema_version());
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let page_size: i64 = conn
        .pragma_query_value(None, "page_size", |row| row.get(0))
        .unwrap();
    assert_eq!(page_size, 4096, "an existing file keeps its pages");

    // The lifecycle goes on where it stopped.
    let trace = verdict::parse_trace_id("4966f633e50abb840000000000000001").unwrap();
    let overridden = "a-9c4ca056ea97058b0000000000000003".parse().unwrap();
    assert!(!store.get(trace, overridden).unwrap().is_valid());
    let listed = store.list_by_trace(trace).unwrap();
    assert_eq!(
        listed.len(),
        6,
        "expectation, 2 feedbacks, thumbs, override"
    );
    assert_eq!(listed.last().unwrap().overrides(), Some(overridden));
    let next = Assessment::feedback("later", true)
        .on_trace("4966f633e50abb840000000000000001", None)
        .unwrap();
    store.log(&next).unwrap();
    assert_eq!(store.list_by_trace(trace).unwrap().last(), Some(&next));
    let seq: i64 = conn
        .query_row(
            "SELECT seq FROM assessments WHERE assessment_id = ?1",
            [next.id().to_string()],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(seq, 19, "numbered after the copied rows");
    assert_eq!(store.list_traces().unwrap().len(), 4);
    assert_eq!(store.spans_of(trace).unwrap().len(), 1);
    assert_eq!(store.runs().unwrap().len(), 1);
    // Four from the run, one override.
    assert_eq!(store.list_by_name("exact_match").unwrap().len(), 5);
}

#[test]
fn a_new_store_has_16_kib_pages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    LocalStore::open(&path).unwrap();
    let page_size: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "page_size", |row| row.get(0))
        .unwrap();
    assert_eq!(page_size, 16 * 1024);
}
