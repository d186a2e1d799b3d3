//! A run stopped by an error after it stored records: the records stay,
//! attributable to the run, which is stored as stopped with its error and
//! is never a baseline. On a real SQLite store file, read back from a new
//! connection.

use std::fmt::Write as _;
use std::sync::Arc;

use verdict::Kind;
use verdict_eval::{Dataset, Error, Evaluation, SuiteConfig};
use verdict_export::LocalStore;

fn config() -> SuiteConfig {
    let mut config = SuiteConfig::default();
    config.replace_scorers(vec!["exact_match".parse().unwrap()]);
    config
}

/// `valid` records, then a malformed one.
fn dataset(dir: &std::path::Path, valid: usize) -> std::path::PathBuf {
    let mut text = String::new();
    for i in 0..valid {
        writeln!(
            text,
            r#"{{"inputs": "q{i}", "outputs": "a", "expectations": {{"expected_response": "a"}}}}"#
        )
        .unwrap();
    }
    text.push_str("{\"inputs\": \"q\", \"outputs\": \n");
    let path = dir.join("qa.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_run_stopped_after_storing_records_is_stored_as_stopped_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    // Chunks of 512 and 4,096 are stored before the chunk with the bad
    // line.
    let data = dataset(dir.path(), 512 + 4096 + 10);
    let db = dir.path().join("store.db");
    let evaluation = Evaluation::new(config())
        .unwrap()
        .store(Arc::new(LocalStore::open(&db).unwrap()));
    let run_id = evaluation.run_id().to_owned();
    let err = evaluation.run(&Dataset::open(&data).unwrap()).unwrap_err();
    assert!(matches!(err, Error::InvalidRecord { .. }), "{err}");

    let store = LocalStore::open(&db).unwrap();
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.run_id, run_id);
    assert_eq!(run.status, verdict_export::RunStatus::Stopped);
    assert!(!run.passed());
    assert_eq!(run.records, 4608);
    assert!(run.reason.as_deref().unwrap().contains("qa.jsonl:4619:"));
    let summary = verdict_eval::RunSummary::of(run).unwrap().unwrap();
    let error = summary.error.expect("the run's error is stored");
    assert!(error.contains("qa.jsonl:4619:"), "{error}");
    assert!(summary.scorers.is_empty() && summary.gates.is_empty());

    // What it stored is there, and its feedback names the run.
    let traces = store.list_traces().unwrap();
    assert_eq!(traces.len(), 4608);
    let assessments = store.list_by_trace(traces[0].trace_id).unwrap();
    let feedback: Vec<_> = assessments
        .iter()
        .filter(|a| a.kind() == Kind::Feedback)
        .collect();
    assert_eq!(feedback.len(), 1);
    assert_eq!(feedback[0].run_id(), Some(run_id.as_str()));

    // It is not a baseline: `latest` passes over it, and naming it fails.
    std::fs::write(&data, "{\"inputs\": \"q\", \"outputs\": \"a\"}\n").unwrap();
    let dataset = Dataset::open(&data).unwrap();
    let store = Arc::new(store);
    let latest = Evaluation::new(config())
        .unwrap()
        .store(Arc::clone(&store))
        .baseline("latest")
        .run(&dataset)
        .unwrap_err();
    assert!(matches!(latest, Error::Baseline(_)), "{latest}");
    assert!(latest.to_string().contains("holds no run of"), "{latest}");
    let named = Evaluation::new(config())
        .unwrap()
        .store(Arc::clone(&store))
        .baseline(run_id.as_str())
        .run(&dataset)
        .unwrap_err();
    assert!(
        named.to_string().contains("is stopped (")
            && named
                .to_string()
                .contains("only a run that reached its verdict is a baseline"),
        "{named}"
    );
}

#[test]
fn a_run_stopped_before_storing_anything_leaves_no_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 10);
    let db = dir.path().join("store.db");
    let err = Evaluation::new(config())
        .unwrap()
        .store(Arc::new(LocalStore::open(&db).unwrap()))
        .run(&Dataset::open(&data).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRecord { .. }), "{err}");
    let store = LocalStore::open(&db).unwrap();
    assert!(store.runs().unwrap().is_empty());
    assert!(store.list_traces().unwrap().is_empty());
}
