//! Evaluation runs and bulk writes in a real store file.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use verdict::Assessment;
use verdict_store::{Batch, LocalStore, NewRun, RunScorer, RunStatus};

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

fn scorer() -> RunScorer {
    RunScorer {
        name: "exact_match".into(),
        source: verdict::AssessmentSource::code_named("exact_match"),
        metadata: [("verdict.scorer.version".to_owned(), "1".to_owned())].into(),
    }
}

fn new_run<'a>(
    run_id: &'a str,
    ids: u64,
    started: SystemTime,
    scorers: &'a [RunScorer],
) -> NewRun<'a> {
    NewRun {
        run_id,
        ids,
        dataset: "qa.jsonl",
        started,
        scorers,
        scope: ("verdict-eval", Some("0.1.0")),
        dataset_key: None,
        baseline: None,
    }
}

#[test]
fn runs_are_listed_from_their_start_newest_first_and_found_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let store = LocalStore::open(&path).unwrap();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let scorers = [scorer()];
    let a = store
        .begin_run(&new_run("run-a", 1, start, &scorers))
        .unwrap();
    let b = store
        .begin_run(&new_run(
            "run-b",
            2,
            start + Duration::from_secs(1),
            &scorers,
        ))
        .unwrap();
    // Running, by this process: listed as such.
    assert_eq!(
        store.run("run-a").unwrap().unwrap().status,
        RunStatus::Running
    );
    let summary = serde_json::json!({"scorers": [{"name": "exact_match", "pass_rate": 0.5}]});
    store
        .finish_run(a, RunStatus::Passed, Some(&summary), None, 0)
        .unwrap();
    store
        .finish_run(b, RunStatus::Stopped, None, Some("line 3 is not JSON"), 1)
        .unwrap();
    // A second connection reads what the first wrote.
    let again = LocalStore::open(&path).unwrap();
    let runs = again.runs().unwrap();
    assert_eq!(
        runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["run-b", "run-a"]
    );
    let a = again.run("run-a").unwrap().unwrap();
    assert!(a.passed());
    assert!(a.finished.is_some());
    assert_eq!(a.summary.unwrap()["scorers"][0]["pass_rate"], 0.5);
    assert_eq!(a.started, start);
    let b = again.run("run-b").unwrap().unwrap();
    assert_eq!(b.status, RunStatus::Stopped);
    assert_eq!(b.reason.as_deref(), Some("line 3 is not JSON"));
    assert_eq!(b.invalid, 1);
    assert!(again.run("run-c").unwrap().is_none());
    // Two runs cannot share their id bits: their traces would be one.
    assert!(
        store
            .begin_run(&new_run("run-d", 1, start, &scorers))
            .is_err()
    );
    assert!(
        store
            .begin_run(&new_run("run-e", 0, start, &scorers))
            .is_err()
    );
}

#[test]
fn a_run_whose_process_ended_without_finishing_it_reads_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let store = LocalStore::open(&path).unwrap();
    let scorers = [scorer()];
    store
        .begin_run(&new_run("run-killed", 7, SystemTime::now(), &scorers))
        .unwrap();
    // Hand the run to a real process that has ended, as after kill -9.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE runs SET pid = ?1, pid_start = 1 WHERE run_id = 'run-killed'",
            [pid],
        )
        .unwrap();
    let run = store.run("run-killed").unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    let reason = run.reason.unwrap();
    assert!(reason.contains(&format!("pid {pid}")), "{reason}");
    assert!(reason.contains("ended without finishing"), "{reason}");
    // It can be removed; a run still running cannot.
    store
        .begin_run(&new_run("run-live", 8, SystemTime::now(), &scorers))
        .unwrap();
    let refused = store.delete_runs(&["run-live"]).unwrap_err().to_string();
    assert!(refused.contains("still running"), "{refused}");
    assert_eq!(store.delete_runs(&["run-killed"]).unwrap().len(), 1);
    assert!(store.run("run-killed").unwrap().is_none());
}

#[test]
fn a_store_of_a_development_build_is_refused_with_a_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA application_id = 1448232020; PRAGMA user_version = 5;
             CREATE TABLE assessments (seq INTEGER PRIMARY KEY);",
        )
        .unwrap();
    }
    let error = LocalStore::open(&path).unwrap_err().to_string();
    assert!(error.contains("development build"), "{error}");
    assert!(error.contains("is not a Verdict store"), "{error}");
}

#[test]
fn a_new_store_gives_freed_pages_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    LocalStore::open(&path).unwrap();
    let auto_vacuum: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "auto_vacuum", |row| row.get(0))
        .unwrap();
    assert_eq!(auto_vacuum, 2, "incremental");
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
    // What was written is in the file, or still in the log.
    let database = std::fs::metadata(&path).unwrap().len()
        + std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(database > 60_000_000, "{database} bytes written");
    assert!(
        largest < 48 * 1024 * 1024,
        "the log grew to {largest} bytes for a database of {database}"
    );
}

#[test]
fn a_run_elsewhere_is_alive_while_it_says_so_and_a_removed_run_stops_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let store = LocalStore::open(&path).unwrap();
    let scorers = [scorer()];
    let key = store
        .begin_run(&new_run("run-far", 9, SystemTime::now(), &scorers))
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    // Its process runs where this reader cannot see it (another
    // container): alive while its heartbeat is recent, interrupted once
    // it is a minute old.
    let now_ns = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    conn.execute(
        "UPDATE runs SET pid = 1, runner = 'another machine', heartbeat_ns = ?1 WHERE run_id = 'run-far'",
        [now_ns],
    )
    .unwrap();
    assert_eq!(
        store.run("run-far").unwrap().unwrap().status,
        RunStatus::Running
    );
    assert!(
        store.delete_runs(&["run-far"]).is_err(),
        "a live run is kept"
    );
    conn.execute(
        "UPDATE runs SET heartbeat_ns = ?1 WHERE run_id = 'run-far'",
        [now_ns - 120_000_000_000],
    )
    .unwrap();
    let run = store.run("run-far").unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    assert!(run.reason.unwrap().contains("another container"));
    // Removed while its process still writes: the writes fail, and a new
    // run never gets its number.
    store.delete_runs(&["run-far"]).unwrap();
    let error = store
        .write_run(key, &[], &Batch::default(), 1, 0)
        .unwrap_err()
        .to_string();
    assert!(error.contains("no longer in the local store"), "{error}");
    assert!(
        store
            .finish_run(key, RunStatus::Passed, None, None, 0)
            .is_err()
    );
    let next = store
        .begin_run(&new_run("run-next", 10, SystemTime::now(), &scorers))
        .unwrap();
    assert_ne!(next, key);
}

#[test]
fn the_baseline_of_a_running_run_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("verdict.db")).unwrap();
    let scorers = [scorer()];
    let old = store
        .begin_run(&new_run("run-old", 11, SystemTime::now(), &scorers))
        .unwrap();
    store
        .finish_run(old, RunStatus::Passed, None, None, 0)
        .unwrap();
    let mut using = new_run("run-using", 12, SystemTime::now(), &scorers);
    using.baseline = Some("run-old");
    let key = store.begin_run(&using).unwrap();
    let error = store.delete_runs(&["run-old"]).unwrap_err().to_string();
    assert!(error.contains("baseline of run run-using"), "{error}");
    store
        .finish_run(key, RunStatus::Passed, None, None, 0)
        .unwrap();
    assert_eq!(store.delete_runs(&["run-old"]).unwrap().len(), 1);
}

#[test]
fn another_programs_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlflow.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE experiments (id INTEGER PRIMARY KEY);")
            .unwrap();
    }
    let error = LocalStore::open(&path).unwrap_err().to_string();
    assert!(error.contains("another program"), "{error}");
    let mode: String = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "its journal mode is as it was");
}
