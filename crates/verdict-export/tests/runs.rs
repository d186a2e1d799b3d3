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

/// Copies a fixture written by an older Verdict into a new directory.
fn fixture(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    std::fs::copy(
        format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")),
        &path,
    )
    .unwrap();
    (dir, path)
}

fn version(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

#[test]
fn a_version_2_store_migrates_and_gets_a_runs_table() {
    // A version-2 file is a version-3 one without the runs table.
    let (_dir, path) = fixture("v3.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE runs; PRAGMA user_version = 2;")
            .unwrap();
    }
    let store = LocalStore::open(&path).unwrap();
    assert!(store.runs().unwrap().is_empty());
    assert_eq!(store.count_assessments().unwrap(), 18);
    let feedback = Assessment::feedback("ok", true)
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
        .unwrap();
    store.log(&feedback).unwrap();
    assert_eq!(
        store.get(feedback.trace_id(), feedback.id()).unwrap(),
        feedback
    );
    assert_eq!(version(&path), LocalStore::schema_version());
}

type Rows = Vec<Vec<rusqlite::types::Value>>;

fn query(path: &std::path::Path, sql: &str) -> Rows {
    let conn = rusqlite::Connection::open(path).unwrap();
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
}

/// A store's rows as schema versions 1 to 4 wrote them, ids as hex text:
/// assessments (their MLflow JSON last), spans, traces, runs.
fn dump_text_ids(path: &std::path::Path) -> [Rows; 4] {
    [
        "SELECT seq, assessment_id, trace_id, span_id, name, kind, valid, create_time_ns,
                last_update_time_ns, overrides, json FROM assessments ORDER BY seq",
        "SELECT trace_id, span_id, parent_span_id, name, kind, start_time_ns, end_time_ns,
                status_code, status_message, attributes, events, links, scope_name,
                scope_version FROM spans ORDER BY trace_id, span_id",
        "SELECT trace_id, first_seen_ns FROM traces ORDER BY trace_id",
        "SELECT * FROM runs ORDER BY run_id",
    ]
    .map(|sql| query(path, sql))
}

/// The same rows from a current store, its BLOB ids written as the hex
/// text of [`dump_text_ids`] and each assessment's body last.
fn dump_blob_ids(path: &std::path::Path) -> [Rows; 4] {
    let hex = |column: &str| format!("nullif(lower(hex({column})), '')");
    [
        format!(
            "SELECT seq, 'a-' || {}, {}, {}, name, kind, valid, create_time_ns,
                    last_update_time_ns, 'a-' || {}, body FROM assessments ORDER BY seq",
            hex("assessment_id"),
            hex("trace_id"),
            hex("span_id"),
            hex("overrides")
        ),
        format!(
            "SELECT {}, {}, {}, name, kind, start_time_ns, end_time_ns,
                    status_code, status_message, attributes, events, links, scope_name,
                    scope_version FROM spans ORDER BY trace_id, span_id",
            hex("trace_id"),
            hex("span_id"),
            hex("parent_span_id")
        ),
        format!(
            "SELECT {}, first_seen_ns FROM traces ORDER BY trace_id",
            hex("trace_id")
        ),
        "SELECT * FROM runs ORDER BY run_id".to_owned(),
    ]
    .map(|sql| query(path, &sql))
}

/// Opens an older store and checks that every row came through: the same
/// columns, `seq` included, and each assessment read back equal to the
/// MLflow JSON the older version kept for it.
fn migrates_keeping_every_row(path: &std::path::Path) -> LocalStore {
    use rusqlite::types::Value;
    let [mut assessments, spans, traces, runs] = dump_text_ids(path);
    let store = LocalStore::open(path).unwrap();
    assert_eq!(version(path), LocalStore::schema_version());
    let [mut now_assessments, now_spans, now_traces, now_runs] = dump_blob_ids(path);
    assert_eq!(now_spans, spans, "spans");
    assert_eq!(now_traces, traces, "traces");
    assert_eq!(now_runs, runs, "runs");
    assert_eq!(now_assessments.len(), assessments.len());
    for (before, now) in assessments.iter_mut().zip(&mut now_assessments) {
        let (Some(Value::Text(json)), Some(Value::Text(body))) = (before.pop(), now.pop()) else {
            panic!("an assessment's document is text")
        };
        assert_eq!(now, before, "the columns of assessment {:?}", before[1]);
        let was = Assessment::from_json(&json).unwrap();
        assert_eq!(store.get(was.trace_id(), was.id()).unwrap(), was);
        assert!(
            !body.contains("assessment_id") && !body.contains("create_time"),
            "the body leaves out what the columns hold: {body}"
        );
    }
    let conn = rusqlite::Connection::open(path).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    store
}

/// `tests/data/v3.db` was written by Verdict at schema version 3 (before
/// the migration existed): `verdict eval` on four records of
/// examples/data/qa.jsonl with exact_match and edit_distance, then
/// `verdict feedback` and `verdict override` on its first trace.
#[test]
fn a_version_3_store_migrates_keeping_every_row() {
    let (_dir, path) = fixture("v3.db");
    assert_eq!(version(&path), 3);
    assert_eq!(
        dump_text_ids(&path).map(|rows| rows.len()),
        [18, 4, 4, 1],
        "the V3 fixture's rows"
    );
    let store = migrates_keeping_every_row(&path);
    let page_size: i64 = rusqlite::Connection::open(&path)
        .unwrap()
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
    let seq: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT seq FROM assessments WHERE assessment_id = ?1",
            [next.id().to_u128().to_be_bytes()],
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

/// `tests/data/v4.db` was written by Verdict at schema version 4
/// (fd31dd3): `verdict eval` on the first four records of
/// examples/data/qa.jsonl with exact_match and edit_distance (a list
/// expectation among them), then `verdict feedback` with a label, a span,
/// a rationale and metadata, `verdict override` of a run's feedback, and
/// `verdict expectation` with an object.
#[test]
fn a_version_4_store_migrates_keeping_every_row() {
    let (_dir, path) = fixture("v4.db");
    assert_eq!(version(&path), 4);
    assert_eq!(
        dump_text_ids(&path).map(|rows| rows.len()),
        [19, 4, 4, 1],
        "the V4 fixture's rows"
    );
    let store = migrates_keeping_every_row(&path);
    let trace = verdict::parse_trace_id("681f0348efc4b98b0000000000000004").unwrap();
    let listed = store.list_by_trace(trace).unwrap();
    assert_eq!(listed.len(), 6);
    let overridden: verdict::AssessmentId = "a-b7dbc94544419ccb0000000000300003".parse().unwrap();
    assert!(!store.get(trace, overridden).unwrap().is_valid());
    assert_eq!(listed.last().unwrap().overrides(), Some(overridden));
    let summary = store.summary("exact_match").unwrap();
    assert_eq!((summary.count, summary.skipped_invalid), (4, 1));
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

/// Bulk writes leave WAL checkpoints to a thread of the store's own: the
/// log is copied into the database file while the store is open (the
/// writer's connection no longer checkpoints), and closing the store leaves
/// a whole database and no log.
#[test]
fn bulk_writes_are_checkpointed_by_another_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let wal = dir.path().join("verdict.db-wal");
    let store = LocalStore::open(&path).unwrap();
    let empty = std::fs::metadata(&path).unwrap().len();
    let text = "x".repeat(400);
    for chunk in 0..8u128 {
        let mut batch = Batch::default();
        for i in 0..500u128 {
            let trace = chunk * 1000 + i + 1;
            batch.push_span(&span(trace, 1));
            batch.push_assessment(
                Assessment::feedback("ok", true)
                    .rationale(text.clone())
                    .on_trace(&format!("{trace:032x}"), None)
                    .unwrap(),
            );
        }
        store.write_batch(&batch).unwrap();
    }
    // The checkpoints run beside the writer: wait for the file to grow.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&path).unwrap().len() < empty + 2_000_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the log was never copied into the database file ({} bytes, log {} bytes)",
            std::fs::metadata(&path).unwrap().len(),
            std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(store.count_assessments().unwrap(), 4000);
    drop(store);
    assert!(
        !wal.exists(),
        "the last connection to close removes the log"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let count: i64 = conn
        .query_row("SELECT count(*) FROM assessments", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 4000);
}

/// However fast the batches come, the log stays bounded: the writer still
/// checkpoints by itself past a cap (2,000 pages, 32 MiB here), so that
/// SQLite can start the log over.
#[test]
fn the_log_of_back_to_back_bulk_writes_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let wal = dir.path().join("verdict.db-wal");
    let store = LocalStore::open(&path).unwrap();
    let text = "y".repeat(2000);
    // About 2.4 MB a batch, 80 MB in all: past twice the cap. Made
    // first, so that each write begins as soon as the last one ends, as
    // verdict eval's writer does.
    let batches: Vec<Batch> = (0..34u128)
        .map(|chunk| {
            let mut batch = Batch::default();
            for i in 0..1000u128 {
                batch.push_assessment(
                    Assessment::feedback("ok", true)
                        .rationale(text.clone())
                        .on_trace(&format!("{:032x}", chunk * 1000 + i + 1), None)
                        .unwrap(),
                );
            }
            batch
        })
        .collect();
    let mut largest = 0;
    for batch in &batches {
        store.write_batch(batch).unwrap();
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    let database = std::fs::metadata(&path).unwrap().len();
    assert!(database > 60_000_000, "{database} bytes written");
    assert!(
        largest < 48 * 1024 * 1024,
        "the log grew to {largest} bytes for a database of {database}"
    );
}
