//! A run that calls the system under test: each record's outputs are what
//! a [`Predictor`] answers, its spans are stored in the record's trace
//! under the root span the run makes, and a call that fails, panics, runs
//! out of time or answers what a record cannot hold is an error feedback
//! from every scorer while the run goes on. On real SQLite store files,
//! read back from a new connection; with real panics, real time limits and
//! a real interrupt.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, Status, TraceId};
use verdict::{Assessment, Kind};
use verdict_eval::predict::{
    Call, PREDICT_FAILED, PREDICT_PANICKED, PREDICT_TIMEOUT, PredictError, Prediction, Predictor,
};
use verdict_eval::{Dataset, Error, Evaluation, Interrupt, SuiteConfig};
use verdict_export::{LocalStore, RunStatus, StoredSpan};
use verdict_scorer::OwnedValue;

mod common;

/// A predictor from a closure, for the tests.
struct Closure<F>(F);

impl<F> Predictor for Closure<F>
where
    F: Fn(Call<'_>) -> Result<Prediction, PredictError> + Send + Sync,
{
    fn predict(&self, call: Call<'_>) -> Result<Prediction, PredictError> {
        (self.0)(call)
    }
}

fn predictor(
    f: impl Fn(Call<'_>) -> Result<Prediction, PredictError> + Send + Sync + 'static,
) -> Arc<dyn Predictor> {
    Arc::new(Closure(f))
}

/// The record's inputs as text.
fn question(call: &Call<'_>) -> String {
    match call.inputs {
        OwnedValue::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// Answers each question with the expected answer, `A<n>` for `Q<n>`.
fn answer(call: &Call<'_>) -> Prediction {
    Prediction {
        outputs: OwnedValue::from(question(call).replace('Q', "A")),
        spans: Vec::new(),
    }
}

/// `n` records `Q<i>` expecting `A<i>`, without outputs.
fn dataset(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let text: String = (1..=n)
        .map(|i| {
            format!(
                "{{\"inputs\": \"Q{i}\", \"expectations\": {{\"expected_response\": \"A{i}\"}}}}\n"
            )
        })
        .collect();
    let path = dir.join("qa.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

fn config(scorers: &[&str]) -> SuiteConfig {
    let mut config = SuiteConfig::default();
    config.replace_scorers(scorers.iter().map(|s| s.parse().unwrap()).collect());
    config
}

fn span(call: &Call<'_>, id: u64, parent: Option<SpanId>, name: &str) -> StoredSpan {
    let now = SystemTime::now();
    let mut span = StoredSpan::new(call.trace_id, SpanId::from(id), name.to_owned());
    span.parent_span_id = parent;
    span.start_time = now;
    span.end_time = now + Duration::from_millis(1);
    span
}

/// Every trace of the store, by the dataset line of its root span: the
/// trace's spans and assessments.
fn by_line(store: &LocalStore) -> HashMap<u64, (Vec<StoredSpan>, Vec<Assessment>)> {
    common::by_line(store)
        .into_iter()
        .map(|(line, spans)| {
            let assessments = store.list_by_trace(spans[0].trace_id).unwrap();
            (line, (spans, assessments))
        })
        .collect()
}

fn feedback(assessments: &[Assessment]) -> Vec<&Assessment> {
    assessments
        .iter()
        .filter(|a| a.kind() == Kind::Feedback)
        .collect()
}

/// The error code every feedback of a record has, if each has one.
fn error_codes(assessments: &[Assessment]) -> Vec<Option<String>> {
    feedback(assessments)
        .iter()
        .map(|a| a.error().map(|e| e.error_code.clone()))
        .collect()
}

fn root(spans: &[StoredSpan]) -> &StoredSpan {
    spans.iter().find(|s| s.parent_span_id.is_none()).unwrap()
}

#[test]
fn outputs_come_from_the_system_and_its_spans_are_stored_under_the_records_root() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 3);
    let db = dir.path().join("store.db");
    let summary = Evaluation::new(config(&["exact_match", "latency:max_ms=60000"]))
        .unwrap()
        .store(Arc::new(LocalStore::open(&db).unwrap()))
        .predict(predictor(|call| {
            // A top-level span (no parent: the run puts it under the
            // record's root) and its child.
            let top = span(&call, 0xa0 + call.line as u64, None, "answer");
            let child = span(&call, 0xb0 + call.line as u64, Some(top.span_id), "tool");
            Ok(Prediction {
                spans: vec![top, child],
                ..answer(&call)
            })
        }))
        .run(&Dataset::open(&data).unwrap())
        .unwrap();
    assert_eq!(summary.records, 3);
    assert_eq!(
        summary.scorer("exact_match").unwrap().pass_rate(),
        Some(1.0)
    );
    // The latency scorer read a trace: the record's root, which lasts the
    // call.
    let latency = summary.scorer("latency").unwrap();
    assert_eq!((latency.errors, latency.passed), (0, 3), "{latency:?}");

    let store = LocalStore::open(&db).unwrap();
    let traces = by_line(&store);
    assert_eq!(traces.len(), 3);
    for (line, (spans, assessments)) in &traces {
        assert_eq!(spans.len(), 3, "line {line}: {spans:?}");
        let root = root(spans);
        assert_eq!(root.status, Status::Ok);
        assert_eq!(
            root.attributes["mlflow.spanOutputs"],
            format!("\"A{line}\"")
        );
        assert!(spans.iter().all(|s| s.trace_id == root.trace_id));
        let top = spans.iter().find(|s| s.name == "answer").unwrap();
        assert_eq!(top.span_id, SpanId::from(0xa0 + line));
        assert_eq!(top.parent_span_id, Some(root.span_id));
        let tool = spans.iter().find(|s| s.name == "tool").unwrap();
        assert_eq!(tool.parent_span_id, Some(top.span_id));
        assert!(error_codes(assessments).iter().all(Option::is_none));
    }
}

#[test]
fn a_dataset_without_outputs_is_refused_without_a_predictor() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 1);
    let err = Evaluation::new(config(&["exact_match"]))
        .unwrap()
        .run(&Dataset::open(&data).unwrap())
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidRecord { invalid, .. } if invalid.reason.contains("missing field `outputs`")),
        "{err}"
    );
}

#[test]
fn a_panic_and_an_error_are_error_feedback_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 4);
    let db = dir.path().join("store.db");
    let summary = Evaluation::new(config(&["exact_match", "json"]))
        .unwrap()
        .store(Arc::new(LocalStore::open(&db).unwrap()))
        .predict_calls(2)
        .predict(predictor(move |call| match call.line {
            1 => panic!("the model fell over on {}", question(&call)),
            2 => Err(PredictError::Failed("rate limited".into())),
            _ => Ok(answer(&call)),
        }))
        .run(&Dataset::open(&data).unwrap())
        .unwrap();
    assert_eq!(summary.records, 4);
    let exact = summary.scorer("exact_match").unwrap();
    assert_eq!((exact.passed, exact.errors), (2, 2), "{exact:?}");
    assert_eq!(summary.scorer("json").unwrap().errors, 2);

    let traces = by_line(&LocalStore::open(&db).unwrap());
    assert_failed(&traces, 1, PREDICT_PANICKED, "the model fell over on Q1");
    assert_failed(&traces, 2, PREDICT_FAILED, "rate limited");
    assert!(error_codes(&traces[&3].1).iter().all(Option::is_none));
}

#[test]
fn a_call_past_its_time_limit_is_a_timeout_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 3);
    let db = dir.path().join("store.db");
    // Holds the hung call until the test ends, so that no thread is left.
    let release = Arc::new(Barrier::new(2));
    let hung = Arc::clone(&release);
    let summary = Evaluation::new(config(&["exact_match", "json"]))
        .unwrap()
        .store(Arc::new(LocalStore::open(&db).unwrap()))
        .predict_calls(1)
        .predict_time_limit(Duration::from_millis(100))
        .predict(predictor(move |call| {
            if call.line == 2 {
                hung.wait();
            }
            Ok(answer(&call))
        }))
        .run(&Dataset::open(&data).unwrap())
        .unwrap();
    release.wait();
    let exact = summary.scorer("exact_match").unwrap();
    // With one call at a time, the record after the hung one was called
    // all the same.
    assert_eq!((exact.passed, exact.errors), (2, 1), "{exact:?}");
    let traces = by_line(&LocalStore::open(&db).unwrap());
    assert_failed(&traces, 2, PREDICT_TIMEOUT, "did not answer within 100ms");
}

/// Every scorer gave the record at `line` an error with `code` saying
/// `says`, and its root span ended in that error, without outputs.
fn assert_failed(
    traces: &HashMap<u64, (Vec<StoredSpan>, Vec<Assessment>)>,
    line: u64,
    code: &str,
    says: &str,
) {
    let (spans, assessments) = &traces[&line];
    let feedback = feedback(assessments);
    assert_eq!(feedback.len(), 2);
    for f in feedback {
        let error = f.error().unwrap_or_else(|| panic!("line {line}: {f:?}"));
        assert_eq!(error.error_code, code);
        assert!(
            error.error_message.as_deref().unwrap().contains(says),
            "{error:?}"
        );
    }
    let root = root(spans);
    assert!(
        matches!(&root.status, Status::Error { description } if description.contains(says)),
        "line {line}: {:?}",
        root.status
    );
    assert_eq!(root.attributes["mlflow.spanOutputs"], "null");
}

#[test]
fn outputs_larger_than_a_record_may_hold_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 1);
    let summary = Evaluation::new(config(&["exact_match"]))
        .unwrap()
        .predict(predictor(|_| {
            Ok(Prediction {
                outputs: OwnedValue::from("x".repeat((64 << 20) + 1)),
                spans: Vec::new(),
            })
        }))
        .run(&Dataset::open(&data).unwrap())
        .unwrap();
    let exact = summary.scorer("exact_match").unwrap();
    assert_eq!(exact.errors, 1);
    assert!(exact.worst[0].value.contains(PREDICT_FAILED), "{exact:?}");
    assert!(
        exact.worst[0]
            .rationale
            .as_deref()
            .unwrap()
            .contains("more than a record may hold"),
        "{exact:?}"
    );
}

#[test]
fn spans_of_another_trace_are_refused_not_moved_into_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 2);
    let db = dir.path().join("store.db");
    let summary = Evaluation::new(config(&["exact_match"]))
        .unwrap()
        .store(Arc::new(LocalStore::open(&db).unwrap()))
        .predict(predictor(|call| {
            let mut stray = span(&call, 0xc0 + call.line as u64, None, "stray");
            if call.line == 2 {
                stray.trace_id = TraceId::from(0xdead_u128);
            }
            Ok(Prediction {
                spans: vec![stray],
                ..answer(&call)
            })
        }))
        .run(&Dataset::open(&data).unwrap())
        .unwrap();
    assert_eq!(summary.scorer("exact_match").unwrap().errors, 1);
    let store = LocalStore::open(&db).unwrap();
    let traces = by_line(&store);
    assert_eq!(traces[&1].0.len(), 2, "the record's own span is kept");
    let (spans, assessments) = &traces[&2];
    assert_eq!(spans.len(), 1, "only the root: {spans:?}");
    let error = feedback(assessments)[0].error().unwrap().clone();
    assert_eq!(error.error_code, PREDICT_FAILED);
    assert!(
        error
            .error_message
            .as_deref()
            .unwrap()
            .contains("another trace"),
        "{error:?}"
    );
    assert!(
        store
            .spans_of(TraceId::from(0xdead_u128))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn when_every_call_fails_the_gate_fails_and_junit_is_red() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 4);
    let junit = dir.path().join("junit.xml");
    let mut config = config(&["exact_match"]);
    config.set_fail_under("exact_match=0.5").unwrap();
    let summary = Evaluation::new(config)
        .unwrap()
        .junit(&junit)
        .predict(predictor(|_| {
            Err(PredictError::Crashed("exit status 1".into()))
        }))
        .run(&Dataset::open(&data).unwrap())
        .unwrap();
    assert!(!summary.passed);
    assert!(summary.gates.iter().any(|g| !g.passed));
    assert_eq!(summary.scorer("exact_match").unwrap().errors, 4);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure"), "{xml}");
}

#[test]
fn calls_run_side_by_side_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 40);
    // The first four calls wait for each other: they pass only if four
    // run at once.
    let together = Arc::new(Barrier::new(4));
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, m) = (Arc::clone(&now), Arc::clone(&most));
    let summary = Evaluation::new(config(&["exact_match"]))
        .unwrap()
        .predict_calls(4)
        .predict(predictor(move |call| {
            let in_flight = n.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(in_flight, Ordering::SeqCst);
            if call.line <= 4 {
                together.wait();
            }
            n.fetch_sub(1, Ordering::SeqCst);
            Ok(answer(&call))
        }))
        .run(&Dataset::open(&data).unwrap())
        .unwrap();
    assert_eq!(summary.scorer("exact_match").unwrap().passed, 40);
    assert_eq!(most.load(Ordering::SeqCst), 4);
}

#[test]
fn an_interrupt_while_calls_are_in_flight_stores_what_was_answered() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 10);
    let db = dir.path().join("store.db");
    let interrupt = Interrupt::new();
    let raise = interrupt.clone();
    // The call of line 4 raises the interrupt and stays in flight until
    // the test lets it go.
    let release = Arc::new(Mutex::new(()));
    let held = release.lock().unwrap();
    let hold = Arc::clone(&release);
    let evaluation = Evaluation::new(config(&["exact_match"]))
        .unwrap()
        .store(Arc::new(LocalStore::open(&db).unwrap()))
        .interrupt(interrupt)
        .predict_calls(1)
        .predict(predictor(move |call| {
            if call.line == 4 {
                raise.raise(2);
                drop(hold.lock());
            }
            Ok(answer(&call))
        }));
    let run_id = evaluation.run_id().to_owned();
    let err = evaluation.run(&Dataset::open(&data).unwrap()).unwrap_err();
    drop(held);
    assert!(matches!(err, Error::Interrupted { signal: 2 }), "{err}");
    let store = LocalStore::open(&db).unwrap();
    let run = store.run(&run_id).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    assert_eq!(run.records, 3);
    let traces = by_line(&store);
    let mut lines: Vec<u64> = traces.keys().copied().collect();
    lines.sort_unstable();
    assert_eq!(lines, [1, 2, 3]);
}

#[test]
fn a_csv_dataset_without_an_outputs_column_is_read_when_a_predictor_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("qa.csv");
    std::fs::write(&data, "input,expected\nQ1,A1\nQ2,A2\n").unwrap();
    let summary = Evaluation::new(config(&["exact_match"]))
        .unwrap()
        .predict(predictor(|call| Ok(answer(&call))))
        .run(&Dataset::open(&data).unwrap())
        .unwrap();
    assert_eq!(summary.scorer("exact_match").unwrap().passed, 2);
}

/// A run of `data` into the store at `db` whose system answers right
/// except on line 2; its id.
fn first_run(data: &std::path::Path, db: &std::path::Path) -> String {
    let evaluation = Evaluation::new(config(&["exact_match"]))
        .unwrap()
        .store(Arc::new(LocalStore::open(db).unwrap()))
        .predict(predictor(|call| match call.line {
            2 => Ok(Prediction {
                outputs: OwnedValue::from("wrong"),
                spans: Vec::new(),
            }),
            _ => Ok(answer(&call)),
        }));
    let run_id = evaluation.run_id().to_owned();
    evaluation.run(&Dataset::open(data).unwrap()).unwrap();
    run_id
}

#[test]
fn reused_outputs_are_what_the_stored_run_answered_and_a_record_it_lacks_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 3);
    let db = dir.path().join("store.db");
    let first = first_run(&data, &db);
    // The same records, shuffled, and one the first run did not have.
    std::fs::write(
        &data,
        concat!(
            "{\"inputs\": \"Q3\", \"expectations\": {\"expected_response\": \"A3\"}}\n",
            "{\"inputs\": \"Q2\", \"expectations\": {\"expected_response\": \"A2\"}}\n",
            "{\"inputs\": \"Q9\", \"expectations\": {\"expected_response\": \"A9\"}}\n",
            "{\"inputs\": \"Q1\", \"expectations\": {\"expected_response\": \"A1\"}}\n",
        ),
    )
    .unwrap();
    let summary = Evaluation::new(config(&["exact_match"]))
        .unwrap()
        .store(Arc::new(LocalStore::open(&db).unwrap()))
        .reuse_outputs(&first[..10])
        .run(&Dataset::open(&data).unwrap())
        .unwrap();
    let exact = summary.scorer("exact_match").unwrap();
    assert_eq!((exact.passed, exact.errors), (2, 1), "{exact:?}");
    let missing = exact.worst.iter().find(|w| w.line == 3).unwrap();
    assert!(missing.value.contains(PREDICT_FAILED), "{missing:?}");
    assert!(
        missing
            .rationale
            .as_deref()
            .unwrap()
            .contains("no record with these inputs"),
        "{missing:?}"
    );
    let wrong = exact.worst.iter().find(|w| w.line == 2).unwrap();
    assert_eq!(wrong.output, "wrong");
}

#[test]
fn reusing_outputs_and_calling_the_system_at_once_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 1);
    let err = Evaluation::new(config(&["exact_match"]))
        .unwrap()
        .store(Arc::new(LocalStore::open(dir.path().join("s.db")).unwrap()))
        .reuse_outputs("latest")
        .predict(predictor(|call| Ok(answer(&call))))
        .run(&Dataset::open(&data).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("not both"), "{err}");
}

#[test]
fn the_baseline_comparison_shows_what_the_system_answered_then_and_now() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 3);
    let db = dir.path().join("store.db");
    let first = first_run(&data, &db);
    // Now line 2 is right and line 3 wrong.
    let summary = Evaluation::new(config(&["exact_match"]))
        .unwrap()
        .store(Arc::new(LocalStore::open(&db).unwrap()))
        .baseline(first)
        .predict(predictor(|call| match call.line {
            3 => Ok(Prediction {
                outputs: OwnedValue::from("worse"),
                spans: Vec::new(),
            }),
            _ => Ok(answer(&call)),
        }))
        .run(&Dataset::open(&data).unwrap())
        .unwrap();
    let comparison = summary.comparison.unwrap();
    assert_eq!((comparison.newly_failing, comparison.newly_passing), (1, 1));
    let failing = comparison.listed(false).next().unwrap();
    assert_eq!((failing.line, failing.output.as_str()), (3, "worse"));
    assert_eq!(failing.baseline_output, "A3");
    let passing = comparison.listed(true).next().unwrap();
    assert_eq!((passing.line, passing.output.as_str()), (2, "A2"));
    assert_eq!(passing.baseline_output, "wrong");
}
