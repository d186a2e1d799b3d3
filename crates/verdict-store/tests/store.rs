//! The local store on a real SQLite file: the core's lifecycle checks, the
//! same answers as the in-memory store, a restart, concurrent writers
//! (threads and processes), spans, and clear errors for bad files.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;

use verdict::testing::{check_lifecycle, check_same_as_memory, random_operations};
use verdict::{
    Assessment, AssessmentError, AssessmentSink, AssessmentSource, AssessmentUpdate, MemoryStore,
    Operation, Outcome, Outcomes, Target,
};
use verdict_store::{Error, LocalStore, StoredSpan};

const TRACE: &str = "0fb07256509eb9d22d07f42f7eb9f24d";

fn temp_store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("verdict.db")).unwrap();
    (dir, store)
}

fn feedback(i: usize) -> Assessment {
    Assessment::feedback("quality", !i.is_multiple_of(3))
        .metadata("i", i.to_string())
        .on(Target::parse(TRACE, Some("71492b10072d70de")).unwrap())
        .unwrap()
}

#[test]
fn follows_the_lifecycle_rules() {
    let (_dir, store) = temp_store();
    check_lifecycle(&store);
}

#[test]
fn gives_the_same_answers_as_the_memory_store() {
    for seed in [1, 2, 3, 42] {
        let (_dir, store) = temp_store();
        check_same_as_memory(&store, &random_operations(seed, 2000));
    }
}

/// Batches through `AssessmentSink::export` refuse the same operations as
/// the in-memory store, apply the others, and end in the same state.
#[test]
fn as_a_sink_refuses_what_the_memory_store_refuses() {
    let (_dir, store) = temp_store();
    let memory = MemoryStore::default();
    let operations = random_operations(7, 1500);
    for batch in operations.chunks(37) {
        let refused_at = |result| Outcomes::of(&result, batch.len()).refused_at();
        let want = refused_at(memory.export(batch));
        let got = refused_at(store.export(batch));
        assert_eq!(got, want, "batch refused differently");
    }
    for trace in [TRACE, "1fb07256509eb9d22d07f42f7eb9f24d"] {
        let trace = verdict::parse_trace_id(trace).unwrap();
        assert_eq!(
            store.list_by_trace(trace).unwrap(),
            memory.list_by_trace(trace)
        );
    }
    for name in ["correctness", "relevance", "expected_response"] {
        assert_eq!(store.list_by_name(name).unwrap(), memory.list_by_name(name));
        // The memory store sums in hash order: compare sums with a margin.
        let (mut got, want) = (store.summary(name).unwrap(), memory.summary(name));
        assert!((got.sum - want.sum).abs() < 1e-9, "{got:?} vs {want:?}");
        got.sum = want.sum;
        assert_eq!(got, want);
    }
    assert_eq!(store.count_assessments().unwrap(), memory.len());
}

#[test]
fn refused_operations_are_counted_and_the_rest_applies() {
    let (_dir, store) = temp_store();
    let a = feedback(1);
    let missing = AssessmentUpdate::builder(a.trace_id(), verdict::AssessmentId::random())
        .rationale("x")
        .build()
        .unwrap();
    let err = store
        .export(&[
            Operation::Log(a.clone()),
            Operation::Update(missing),
            Operation::Log(feedback(2)),
        ])
        .unwrap_err();
    assert!(
        matches!(
            err.outcomes(),
            Some([Outcome::Delivered, Outcome::Refused(_), Outcome::Delivered])
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("1 of 3 operations refused"), "{message}");
    assert!(message.contains("verdict.db"), "{message}");
    assert_eq!(store.count_assessments().unwrap(), 2);
}

#[test]
fn survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/verdict.db");
    let spans = common::finished_trace();
    let trace_id = spans[0].span_context.trace_id();
    let span = Target::span(trace_id, spans[0].span_context.span_id()).unwrap();
    let logged = vec![
        Assessment::feedback("correctness", 0.75)
            .rationale("close")
            .source(AssessmentSource::llm_judge("gpt"))
            .run_id("run-7")
            .on(span)
            .unwrap(),
        Assessment::feedback_error(
            "judge",
            AssessmentError::new("TIMEOUT").with_message("took too long"),
        )
        .on(Target::trace(trace_id).unwrap())
        .unwrap(),
        Assessment::expectation(
            "expected_response",
            serde_json::json!({"answer": "Paris", "n": [1, 2.5]}),
        )
        .on(span)
        .unwrap(),
    ];
    let update = AssessmentUpdate::builder(trace_id, logged[0].id())
        .feedback(1.0)
        .metadata("reviewed", "yes")
        .build()
        .unwrap();
    let (updated, traces) = {
        let store = LocalStore::open(&path).unwrap();
        store.put_spans(&spans).unwrap();
        for a in &logged {
            store.log(a).unwrap();
        }
        let updated = store.update(&update).unwrap();
        (updated, store.list_traces().unwrap())
    };

    let store = LocalStore::open(&path).unwrap();
    let mut expected = logged.clone();
    expected[0] = updated;
    assert_eq!(store.list_by_trace(trace_id).unwrap(), expected);
    assert_eq!(store.get(trace_id, logged[2].id()).unwrap(), logged[2]);
    assert_eq!(store.list_traces().unwrap(), traces);
    assert_eq!(traces.len(), 1);
    assert_eq!((traces[0].span_count, traces[0].assessment_count), (3, 3));
    let stored = store.spans_of(trace_id).unwrap();
    let mut want: Vec<StoredSpan> = spans.iter().map(StoredSpan::from).collect();
    want.sort_by_key(|s| (s.start_time, format!("{:016x}", s.span_id)));
    assert_eq!(stored, want);
    assert_eq!(
        traces[0].start_time,
        want.iter().map(|s| s.start_time).min(),
        "a trace starts with its first span"
    );
}

#[test]
fn spans_keep_their_fields() {
    let (_dir, store) = temp_store();
    let spans = common::finished_trace();
    store.put_spans(&spans).unwrap();
    // Storing the same spans again replaces them.
    store.put_spans(&spans).unwrap();
    let trace_id = spans[0].span_context.trace_id();
    let stored = store.spans_of(trace_id).unwrap();
    assert_eq!(stored.len(), 3);
    let answer = stored.iter().find(|s| s.name == "answer").unwrap();
    let root = stored.iter().find(|s| s.name == "handle request").unwrap();
    let leaf = stored.iter().find(|s| s.name == "tokenize").unwrap();
    assert_eq!(root.parent_span_id, None);
    assert_eq!(answer.parent_span_id, Some(root.span_id));
    assert_eq!(leaf.parent_span_id, Some(answer.span_id));
    assert_eq!(root.kind, opentelemetry::trace::SpanKind::Server);
    assert_eq!(
        answer.status,
        opentelemetry::trace::Status::error("upstream timed out")
    );
    assert_eq!(
        serde_json::Value::Object(answer.attributes.clone()),
        serde_json::json!({
            "mlflow.spanType": "LLM", "gen_ai.usage.input_tokens": 42, "temperature": 0.25,
            "cached": false, "nan": "NaN", "tags": ["a", "b"],
        })
    );
    assert_eq!(answer.events.len(), 1);
    assert_eq!(answer.events[0]["name"], "retry");
    assert_eq!(answer.events[0]["attributes"]["attempt"], 2);
    assert_eq!(answer.scope_name, "verdict-store-tests");
    assert_eq!(answer.scope_version.as_deref(), Some("1.2.3"));
    assert!(answer.start_time <= answer.end_time);
    let other = verdict::parse_trace_id("1fb07256509eb9d22d07f42f7eb9f24d").unwrap();
    assert!(store.spans_of(other).unwrap().is_empty());
}

/// A trace's spans are kept together: spans that come later join those
/// stored, a span stored again (in a later write, or twice in one batch)
/// replaces the one with its id, and the listing counts and times what
/// is stored.
#[test]
fn later_spans_join_a_trace_and_a_span_stored_again_replaces_its_own() {
    let (_dir, store) = temp_store();
    let spans: Vec<StoredSpan> = common::finished_trace()
        .iter()
        .map(StoredSpan::from)
        .collect();
    let trace = spans[0].trace_id;
    store.put_stored_spans(&spans[..2]).unwrap();
    let mut renamed = spans[0].clone();
    renamed.name = "renamed".into();
    renamed.end_time += std::time::Duration::from_secs(60);
    let mut batch = verdict_store::Batch::default();
    batch.push_stored_span(&spans[2]);
    batch.push_stored_span(&spans[2]);
    batch.push_stored_span(&renamed);
    store.write_batch(&batch).unwrap();

    let stored = store.spans_of(trace).unwrap();
    let mut names: Vec<&str> = stored.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    let mut want: Vec<&str> = spans[1..].iter().map(|s| s.name.as_str()).collect();
    want.push("renamed");
    want.sort_unstable();
    assert_eq!(names, want);
    let listed = store.list_traces().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].span_count, 3);
    assert_eq!(
        listed[0].start_time,
        stored.iter().map(|s| s.start_time).min()
    );
    assert_eq!(listed[0].end_time, Some(renamed.end_time));
    assert_eq!(
        stored.iter().find(|s| s.name == "renamed").unwrap(),
        &renamed
    );

    // All of them again: the trace is as first made.
    store.put_stored_spans(&spans).unwrap();
    let mut again = store.spans_of(trace).unwrap();
    again.sort_by_key(|s| s.span_id.to_bytes());
    let mut want = spans.clone();
    want.sort_by_key(|s| s.span_id.to_bytes());
    assert_eq!(again, want);
    let listed = store.list_traces().unwrap();
    assert_eq!(listed[0].span_count, 3);
    assert_eq!(listed[0].end_time, want.iter().map(|s| s.end_time).max());
}

/// A trace stored whole in one write, larger than a row holds, is split
/// over several rows, and reads back whole, in the order stored.
#[test]
fn a_trace_larger_than_a_row_is_split_and_reads_back_whole() {
    let (dir, store) = temp_store();
    let trace = verdict::parse_trace_id(TRACE).unwrap();
    let spans: Vec<StoredSpan> = (1..=40u64)
        .map(|i| {
            let mut span = StoredSpan::new(
                trace,
                opentelemetry::trace::SpanId::from(i),
                format!("step {i}"),
            );
            span.attributes
                .insert("blob".into(), format!("{i}{}", "x".repeat(300_000)).into());
            span
        })
        .collect();
    store.put_stored_spans(&spans).unwrap();
    assert_eq!(store.spans_of(trace).unwrap(), spans);
    assert_eq!(store.list_traces().unwrap()[0].span_count, 40);
    let conn = rusqlite::Connection::open(dir.path().join("verdict.db")).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM trace_spans", [], |row| row.get(0))
        .unwrap();
    assert!(rows > 1, "{rows} rows for 12 MB of spans");
}

/// A trace's chunk of spans that cannot be read is reported when the
/// trace is read, and left as it is by writes: a span stored again for
/// the trace is stored beside it, the other traces of the write are
/// stored, and once every span it held is stored again it is replaced.
/// A chunk number at the end of the range is an error, not a panic.
#[test]
fn a_damaged_chunk_of_spans_is_reported_left_alone_and_replaced_whole() {
    let (dir, store) = temp_store();
    let spans = common::finished_trace();
    store.put_spans(&spans).unwrap();
    let trace = spans[0].span_context.trace_id();
    let other_trace = verdict::parse_trace_id(TRACE).unwrap();
    let other: Vec<StoredSpan> = spans
        .iter()
        .map(|s| {
            let mut s = StoredSpan::from(s);
            s.trace_id = other_trace;
            s
        })
        .collect();
    let conn = rusqlite::Connection::open(dir.path().join("verdict.db")).unwrap();
    let chunk = |sql: &str| -> Vec<u8> {
        conn.query_row(sql, [trace.to_bytes()], |row| row.get(0))
            .unwrap()
    };
    for garbage in [&b"\x10\0\0\0\x01\x02"[..], &[0xff; 40][..]] {
        conn.execute(
            "UPDATE trace_spans SET spans = ?1 WHERE trace_id = ?2 AND chunk = 0",
            rusqlite::params![garbage, trace.to_bytes()],
        )
        .unwrap();
        let read = store.spans_of(trace).unwrap_err();
        assert!(matches!(read, Error::Corrupt { .. }), "{read}");
        assert!(
            read.to_string().contains(&format!("{trace:032x}")),
            "{read}"
        );
        // One span again, with another trace's in the same write.
        let mut batch = verdict_store::Batch::default();
        batch.push_span(&spans[0]);
        batch.push_stored_span(&other[0]);
        store.write_batch(&batch).unwrap();
        assert_eq!(store.spans_of(other_trace).unwrap().len(), 1);
        assert_eq!(
            chunk("SELECT spans FROM trace_spans WHERE trace_id = ?1 AND chunk = 0"),
            garbage
        );
        assert!(store.spans_of(trace).is_err());
        // Every span again: the damaged chunk goes.
        store.put_spans(&spans).unwrap();
        assert_eq!(store.spans_of(trace).unwrap().len(), 3);
        assert_eq!(
            store
                .list_traces()
                .unwrap()
                .iter()
                .map(|t| t.span_count)
                .sum::<usize>(),
            4
        );
        conn.execute(
            "UPDATE trace_spans SET chunk = 0 WHERE trace_id = ?1",
            [trace.to_bytes()],
        )
        .unwrap();
    }
    conn.execute(
        "UPDATE trace_spans SET chunk = ?1 WHERE trace_id = ?2",
        rusqlite::params![i64::MAX, trace.to_bytes()],
    )
    .unwrap();
    let mut late = StoredSpan::from(&spans[0]);
    late.span_id = opentelemetry::trace::SpanId::from(0x77);
    let error = store.put_stored_spans(&[late]).unwrap_err();
    assert!(matches!(error, Error::Corrupt { .. }), "{error}");
    assert_eq!(store.spans_of(trace).unwrap().len(), 3);
}

/// A trace written a span at a time keeps a few chunks, not one a write
/// (the new spans take in the newest chunk while it is at most twice
/// their size), and reads back every span once, the ones stored again
/// replaced.
#[test]
fn a_trace_written_a_span_at_a_time_keeps_few_chunks() {
    let (dir, store) = temp_store();
    let trace = verdict::parse_trace_id(TRACE).unwrap();
    let span = |i: u64, name: &str| {
        let mut span = StoredSpan::new(
            trace,
            opentelemetry::trace::SpanId::from(i),
            name.to_owned(),
        );
        span.start_time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(i);
        span.end_time = span.start_time;
        span
    };
    for i in 1..=2000u64 {
        store.put_stored_spans(&[span(i, "first")]).unwrap();
        if i % 97 == 0 {
            // A span written before, stored again.
            store.put_stored_spans(&[span(i / 2, "again")]).unwrap();
        }
    }
    let stored = store.spans_of(trace).unwrap();
    assert_eq!(stored.len(), 2000);
    for (i, s) in (1..=2000u64).zip(&stored) {
        assert_eq!(s.span_id, opentelemetry::trace::SpanId::from(i));
        let again = (1..=2000u64).any(|j| j % 97 == 0 && j / 2 == i && j > i);
        assert_eq!(s.name, if again { "again" } else { "first" }, "span {i}");
    }
    let listed = &store.list_traces().unwrap()[0];
    assert_eq!(listed.span_count, 2000);
    assert_eq!(listed.end_time, Some(stored[1999].end_time));
    let conn = rusqlite::Connection::open(dir.path().join("verdict.db")).unwrap();
    let chunks: i64 = conn
        .query_row("SELECT count(*) FROM trace_spans", [], |row| row.get(0))
        .unwrap();
    assert!(chunks <= 12, "{chunks} chunks for 2,000 spans");
}

#[test]
fn lists_traces_known_from_spans_or_assessments() {
    let (_dir, store) = temp_store();
    assert!(store.list_traces().unwrap().is_empty());
    store.log(&feedback(1)).unwrap();
    let spans = common::finished_trace();
    store.put_spans(&spans).unwrap();
    let traces = store.list_traces().unwrap();
    assert_eq!(traces.len(), 2);
    let only_assessed = traces
        .iter()
        .find(|t| t.trace_id == verdict::parse_trace_id(TRACE).unwrap())
        .unwrap();
    assert_eq!(
        (only_assessed.span_count, only_assessed.assessment_count),
        (0, 1)
    );
    assert_eq!(only_assessed.start_time, None);
    let with_spans = traces
        .iter()
        .find(|t| t.trace_id == spans[0].span_context.trace_id())
        .unwrap();
    assert_eq!((with_spans.span_count, with_spans.assessment_count), (3, 0));
    assert!(with_spans.start_time.is_some() && with_spans.end_time >= with_spans.start_time);
}

/// N threads, each with its own `LocalStore` on the same new file (so they
/// also race to create the schema), log M assessments each, one by one and
/// in batches; all arrive and the file is intact.
#[test]
fn concurrent_writers_in_threads_lose_nothing() {
    const THREADS: usize = 8;
    const EACH: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (path, start) = (path.clone(), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                let store = LocalStore::open(&path).unwrap();
                let mine: Vec<Assessment> = (0..EACH).map(|i| feedback(t * EACH + i)).collect();
                let (single, batched) = mine.split_at(EACH / 2);
                for a in single {
                    store.log(a).unwrap();
                }
                let batch: Vec<Operation> = batched.iter().cloned().map(Operation::Log).collect();
                for chunk in batch.chunks(7) {
                    store.export(chunk).unwrap();
                }
                // Readers run while others write.
                assert!(store.list_by_trace(mine[0].trace_id()).unwrap().len() >= EACH);
                mine
            })
        })
        .collect();
    let mut all: Vec<Assessment> = Vec::new();
    for handle in handles {
        all.extend(handle.join().unwrap());
    }
    let store = LocalStore::open(&path).unwrap();
    assert_eq!(store.count_assessments().unwrap(), THREADS * EACH);
    let listed = store.list_by_trace(all[0].trace_id()).unwrap();
    assert_eq!(listed.len(), THREADS * EACH);
    for a in &all {
        assert_eq!(&store.get(a.trace_id(), a.id()).unwrap(), a);
    }
    assert_intact(&path);
}

const CHILD_DB: &str = "VERDICT_EXPORT_TEST_CHILD_DB";
const CHILD_INDEX: &str = "VERDICT_EXPORT_TEST_CHILD_INDEX";
const PER_PROCESS: usize = 50;

/// The body of each writer process of the next test; it does nothing when
/// run on its own.
#[test]
#[ignore = "run as a child process by concurrent_writers_in_processes_lose_nothing"]
fn child_writer() {
    let (Ok(path), Ok(index)) = (std::env::var(CHILD_DB), std::env::var(CHILD_INDEX)) else {
        return;
    };
    let index: usize = index.parse().unwrap();
    let store = LocalStore::open(path).unwrap();
    for i in 0..PER_PROCESS {
        store.log(&feedback(index * PER_PROCESS + i)).unwrap();
    }
}

/// Several processes write to one file at once (this test binary, run
/// again as children).
#[test]
fn concurrent_writers_in_processes_lose_nothing() {
    const PROCESSES: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            Command::new(&exe)
                .args(["child_writer", "--exact", "--ignored", "--quiet"])
                .env(CHILD_DB, &path)
                .env(CHILD_INDEX, i.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a writer process failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = LocalStore::open(&path).unwrap();
    assert_eq!(store.count_assessments().unwrap(), PROCESSES * PER_PROCESS);
    assert_intact(&path);
}

fn assert_intact(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn opens_the_default_path_under_the_current_directory() {
    assert_eq!(verdict_store::DEFAULT_PATH, ".verdict/verdict.db");
    // Changing the current directory would disturb the other tests; open
    // the same relative path under a temporary directory instead.
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join(verdict_store::DEFAULT_PATH)).unwrap();
    assert!(dir.path().join(".verdict").is_dir());
    assert!(store.path().ends_with("verdict.db"));
    let wal: String = rusqlite::Connection::open(store.path())
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(wal, "wal");
}

fn open_err(path: &Path) -> (Error, String) {
    let err = LocalStore::open(path).expect_err("opening should fail");
    let message = err.to_string();
    (err, message)
}

#[test]
fn a_directory_that_cannot_be_created_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "not a directory").unwrap();
    let (err, message) = open_err(&file.join("sub/verdict.db"));
    assert!(matches!(err, Error::CreateDir { .. }), "{err:?}");
    assert!(message.contains("plain-file/sub"), "{message}");
    assert!(message.contains("cannot create the directory"), "{message}");
}

#[test]
fn a_directory_in_place_of_the_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (err, message) = open_err(dir.path());
    assert!(matches!(err, Error::Open { .. }), "{err:?}");
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(200)).unwrap();
    let (err, message) = open_err(&path);
    assert!(matches!(err, Error::NotAStore { .. }), "{err:?}");
    assert!(
        message.contains("notes.db is not a Verdict store"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().len(),
        35 * 200,
        "the file is left alone"
    );
}

#[test]
fn another_programs_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlflow.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE experiments (id INTEGER PRIMARY KEY)")
        .unwrap();
    let (err, message) = open_err(&path);
    assert!(matches!(err, Error::NotAStore { .. }), "{err:?}");
    assert!(message.contains("another program"), "{message}");
}

#[test]
fn a_store_from_a_newer_verdict_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    drop(LocalStore::open(&path).unwrap());
    let newer = LocalStore::schema_version() + 1;
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();
    let (err, message) = open_err(&path);
    assert!(
        matches!(err, Error::NewerSchema { found, .. } if found == newer),
        "{err:?}"
    );
    assert!(message.contains("newer Verdict"), "{message}");
}

#[test]
fn a_damaged_record_is_reported_not_panicked_on() {
    let (_dir, store) = temp_store();
    let a = feedback(1);
    store.log(&a).unwrap();
    let damage = |sql: &str| {
        rusqlite::Connection::open(store.path())
            .unwrap()
            .execute(sql, [])
            .unwrap();
    };
    damage("UPDATE assessments SET body = '{\"oops\": 1}'");
    let err = store.get(a.trace_id(), a.id()).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains(&a.id().to_string()), "{err}");
    assert!(store.list_by_trace(a.trace_id()).is_err());

    // An id column that does not hold an id's bytes.
    let b = feedback(2);
    store.log(&b).unwrap();
    damage(&format!(
        "UPDATE assessments SET span_id = x'0102' WHERE assessment_id = x'{:032x}'",
        b.id().to_u128()
    ));
    let err = store.get(b.trace_id(), b.id()).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&b.id().to_string()), "{message}");
    assert!(
        message.contains("span_id holds 2 bytes (0102)"),
        "{message}"
    );
}
