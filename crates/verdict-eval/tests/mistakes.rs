//! What a first user gets wrong, and what the run says then: each test
//! here failed before its fix.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use verdict_eval::{Dataset, Entry, Error, Evaluation, SuiteConfig};
use verdict_export::LocalStore;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn exact() -> SuiteConfig {
    SuiteConfig::from_toml(
        "[[scorers]]\nspec = \"exact_match\"\n",
        Path::new("verdict.toml"),
    )
    .unwrap()
}

fn entries(path: &Path) -> Vec<Entry> {
    Dataset::open(path)
        .unwrap()
        .entries()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

const GOOD: &str =
    r#"{"inputs": "q", "outputs": "Paris", "expectations": {"expected_response": "Paris"}}"#;
const NULL: &str =
    r#"{"inputs": "q", "outputs": "x", "expectations": {"expected_response": null}}"#;

#[test]
fn a_null_expectation_is_an_invalid_record_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "qa.jsonl", &format!("{GOOD}\n{NULL}\n"));
    match &entries(&path)[1] {
        Entry::Invalid(i) => {
            assert_eq!(i.line, 2);
            assert!(
                i.reason.contains("\"expected_response\"") && i.reason.contains("null"),
                "{}",
                i.reason
            );
        }
        Entry::Record(_) => panic!("a null expectation was read as a record"),
    }
    // --skip-invalid goes on past it.
    let summary = Evaluation::new(exact())
        .unwrap()
        .skip_invalid(true)
        .run(&Dataset::open(&path).unwrap())
        .unwrap();
    assert_eq!((summary.records, summary.invalid), (1, 1));
}

#[test]
fn a_run_that_fails_leaves_no_half_written_result_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "qa.jsonl", &format!("{GOOD}\n{NULL}\n"));
    let (json, junit) = (dir.path().join("o.json"), dir.path().join("o.xml"));
    // A result file from an earlier run is not left to pass for this one's.
    std::fs::write(&json, "{}").unwrap();
    let err = Evaluation::new(exact())
        .unwrap()
        .json(&json)
        .junit(&junit)
        .run(&Dataset::open(&path).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRecord { .. }), "{err}");
    assert!(err.to_string().contains("qa.jsonl:2:"), "{err}");
    assert!(!json.exists(), "the JSON results file is left behind");
    // The JUnit file is whole, and says only that the run stopped: CI
    // shows the error, never stale or partial results.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 1, "{xml}");
    assert_eq!(xml.matches("<error type=\"stopped\"").count(), 1, "{xml}");
    assert!(xml.contains("qa.jsonl:2:"), "{xml}");
    assert!(xml.trim_end().ends_with("</testsuites>"), "{xml}");
}

#[test]
fn records_exported_from_an_mlflow_dataset_are_read_and_typos_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    // The fields of mlflow.entities.DatasetRecord besides inputs, outputs
    // and expectations.
    let mlflow = r#"{"dataset_record_id": "dr-1a2b", "dataset_id": "d-9f", "inputs": {"question": "Capital of France?"}, "outputs": "Paris", "expectations": {"expected_response": "Paris"}, "tags": {"topic": "geo"}, "source": {"source_type": "HUMAN", "source_data": {"user_id": "ann"}}, "source_id": "ann", "source_type": "HUMAN", "created_time": 1732700000000, "last_update_time": 1732700000001, "created_by": "ann", "last_updated_by": "bob"}"#;
    let typo = r#"{"inputs": "q", "outputs": "a", "expectation": {"expected_response": "a"}}"#;
    let path = write(dir.path(), "mlflow.jsonl", &format!("{mlflow}\n{typo}\n"));
    let all = entries(&path);
    match &all[0] {
        Entry::Record(r) => assert_eq!(r.record.expectations.len(), 1),
        Entry::Invalid(i) => panic!("an MLflow record was refused: {}", i.reason),
    }
    assert!(
        matches!(&all[1], Entry::Invalid(i) if i.reason.contains("unknown field `expectation`")),
        "{:?}",
        all[1]
    );
}

fn store(dir: &Path) -> Arc<LocalStore> {
    Arc::new(LocalStore::open(dir.join("verdict.db")).unwrap())
}

fn scorers(specs: &[&str]) -> SuiteConfig {
    let mut config = SuiteConfig::default();
    config.replace_scorers(specs.iter().map(|s| s.parse().unwrap()).collect());
    config
}

#[test]
fn a_baseline_that_compares_nothing_fails_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let qa = write(dir.path(), "qa.jsonl", &format!("{GOOD}\n"));
    let first = Evaluation::new(scorers(&["exact_match"]))
        .unwrap()
        .store(store.clone())
        .run(&Dataset::open(&qa).unwrap())
        .unwrap();
    // token_f1 is not in the baseline, and has no pass rate besides.
    let second = Evaluation::new(scorers(&["token_f1"]))
        .unwrap()
        .store(store.clone())
        .baseline("latest")
        .run(&Dataset::open(&qa).unwrap())
        .unwrap();
    assert!(!second.passed, "{:?}", second.gates);
    let said: Vec<String> = second
        .gates
        .iter()
        .map(|g| format!("{} | {} | {}", g.gate, g.measured, g.passed))
        .collect();
    assert!(
        said.iter().any(|g| g.contains(&format!(
            "not compared: {} did not run token_f1",
            first.run_id
        ))),
        "{said:#?}"
    );
    assert!(
        said.iter()
            .any(|g| g.contains("nothing compared") && g.ends_with("false")),
        "{said:#?}"
    );
    // One scorer compared, one not: the one left out is named, the run passes.
    let third = Evaluation::new(scorers(&["exact_match", "length:max=100"]))
        .unwrap()
        .store(store)
        .baseline(first.run_id.clone())
        .run(&Dataset::open(&qa).unwrap())
        .unwrap();
    assert!(third.passed, "{:?}", third.gates);
    assert!(
        third
            .gates
            .iter()
            .any(|g| g.measured.contains("did not run length")),
        "{:?}",
        third.gates
    );
}

#[test]
fn latest_is_the_latest_run_of_the_same_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let qa = write(dir.path(), "qa.jsonl", &format!("{GOOD}\n"));
    let other = write(dir.path(), "other.jsonl", &format!("{GOOD}\n"));
    let run = |path: &Path, baseline: Option<&str>| {
        let mut evaluation = Evaluation::new(scorers(&["exact_match"]))
            .unwrap()
            .store(store.clone());
        if let Some(b) = baseline {
            evaluation = evaluation.baseline(b);
        }
        evaluation.run(&Dataset::open(path).unwrap())
    };
    let of_other = run(&other, None).unwrap();
    // No run of qa.jsonl yet: other.jsonl's run is not taken for one.
    let err = run(&qa, Some("latest")).unwrap_err().to_string();
    assert!(
        err.contains("no run of") && err.contains(&of_other.run_id) && err.contains("other.jsonl"),
        "{err}"
    );
    let of_qa = run(&qa, None).unwrap();
    run(&other, None).unwrap();
    let again = run(&qa, Some("latest")).unwrap();
    assert_eq!(again.baseline.as_deref(), Some(of_qa.run_id.as_str()));
    // Named by id, another dataset's run is compared, and the gate says
    // whose it is.
    let across = run(&qa, Some(&of_other.run_id)).unwrap();
    assert!(
        across.gates[0].gate.contains("(of ") && across.gates[0].gate.contains("other.jsonl"),
        "{:?}",
        across.gates
    );
}

#[test]
fn an_empty_baseline_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let qa = write(dir.path(), "qa.jsonl", &format!("{GOOD}\n"));
    Evaluation::new(scorers(&["exact_match"]))
        .unwrap()
        .store(store.clone())
        .run(&Dataset::open(&qa).unwrap())
        .unwrap();
    let err = Evaluation::new(scorers(&["exact_match"]))
        .unwrap()
        .store(store)
        .baseline("")
        .run(&Dataset::open(&qa).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("empty run id"), "{err}");
}

#[test]
fn an_otlp_file_s_spans_are_stored_with_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let trace = "5b8efff798038103d269b633813fc60c";
    let request = format!(
        r#"{{"resourceSpans": [{{"resource": {{"attributes": []}}, "scopeSpans": [{{"scope": {{"name": "app", "version": "1.2"}}, "spans": [
        {{"traceId": "{trace}", "spanId": "eee19b7ec3c1b174", "parentSpanId": "", "name": "handle_request", "kind": 2,
          "startTimeUnixNano": "1732700000000000000", "endTimeUnixNano": "1732700001000000000",
          "attributes": [{{"key": "mlflow.spanInputs", "value": {{"stringValue": "\"Capital of France?\""}}}},
                         {{"key": "mlflow.spanOutputs", "value": {{"stringValue": "\"Paris\""}}}},
                         {{"key": "verdict.expectation.expected_response", "value": {{"stringValue": "\"Paris\""}}}}]}},
        {{"traceId": "{trace}", "spanId": "eee19b7ec3c1b175", "parentSpanId": "eee19b7ec3c1b174", "name": "generate", "kind": "SPAN_KIND_CLIENT",
          "startTimeUnixNano": "1732700000100000000", "endTimeUnixNano": "1732700000900000000",
          "attributes": [{{"key": "gen_ai.usage.output_tokens", "value": {{"intValue": "12"}}}}],
          "status": {{"code": 2, "message": "model timed out"}}}}
        ]}}]}}]}}"#
    )
    .replace('\n', " ");
    let path = write(dir.path(), "traces.json", &format!("{request}\n"));
    let out = dir.path().join("out.jsonl");
    let store = store(dir.path());
    Evaluation::new(scorers(&["exact_match"]))
        .unwrap()
        .store(store.clone())
        .export(
            verdict_eval::Destination::open(verdict_eval::ExportTarget::Jsonl(out.clone()))
                .unwrap(),
        )
        .run(&Dataset::open(&path).unwrap())
        .unwrap();
    let trace_id = verdict::parse_trace_id(trace).unwrap();
    let mut spans = store.spans_of(trace_id).unwrap();
    spans.sort_by_key(|s| s.start_time);
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["handle_request", "generate"]);
    let generate = &spans[1];
    assert_eq!(generate.parent_span_id, Some(spans[0].span_id));
    assert_eq!(generate.kind, opentelemetry::trace::SpanKind::Client);
    assert_eq!(
        generate.status,
        opentelemetry::trace::Status::error("model timed out")
    );
    assert_eq!(generate.attributes["gen_ai.usage.output_tokens"], 12);
    assert_eq!(spans[0].scope_name, "app");
    assert_eq!(
        generate
            .end_time
            .duration_since(generate.start_time)
            .unwrap(),
        std::time::Duration::from_millis(800)
    );
    // An export gets them too, so that a server knows the trace.
    let exported = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        exported.matches("\"type\":\"span\"").count(),
        2,
        "{exported}"
    );
}

#[test]
fn fail_under_mistakes_say_what_to_write() {
    let err =
        |config: &mut SuiteConfig, arg: &str| config.set_fail_under(arg).unwrap_err().to_string();
    let mut none = SuiteConfig::default();
    let said = err(&mut none, "exact_match=0.5");
    assert!(said.contains("this run has no scorer yet"), "{said}");
    assert!(!said.contains("(scorers: )"), "{said}");
    let mut config = scorers(&["exact_match"]);
    let said = err(&mut config, "=0.5");
    assert!(said.contains("names no scorer"), "{said}");
    let said = err(&mut config, "exact_match=1.5");
    assert!(
        said.ends_with(": the rate is 1.5; give a rate from 0 to 1 (0.8 for 80 %)"),
        "{said}"
    );
    config.set_fail_under("exact_match=-0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let qa = write(dir.path(), "qa.jsonl", &format!("{GOOD}\n"));
    let summary = Evaluation::new(config)
        .unwrap()
        .run(&Dataset::open(&qa).unwrap())
        .unwrap();
    assert_eq!(summary.gates[0].gate, "exact_match pass rate ≥ 0.0 %");
}

#[test]
fn a_record_that_takes_its_expectations_from_the_store_gets_the_latest_of_each_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
    let with = |expected: &str, output: &str| {
        format!(
            r#"{{"inputs": "q", "outputs": "{output}", "expectations": {{"expected_response": "{expected}"}}, "trace_id": "{trace}"}}"#
        )
    };
    let first = write(dir.path(), "first.jsonl", &with("Paris", "Paris"));
    let changed = write(dir.path(), "changed.jsonl", &with("Paris, France", "Paris"));
    let bare = write(
        dir.path(),
        "bare.jsonl",
        &format!(r#"{{"inputs": "q", "outputs": "Paris, France", "trace_id": "{trace}"}}"#),
    );
    let run = |path: &Path| {
        Evaluation::new(scorers(&["exact_match"]))
            .unwrap()
            .store(store.clone())
            .run(&Dataset::open(path).unwrap())
            .unwrap()
    };
    run(&first);
    run(&changed);
    // The trace holds both values; the record is judged against the newer.
    let summary = run(&bare);
    let exact = summary.scorer("exact_match").unwrap();
    assert_eq!(exact.passed, 1, "{:?}", exact.worst);
}

#[test]
fn records_on_spans_of_one_trace_log_its_expectation_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
    let line = |span: &str| {
        format!(
            r#"{{"inputs": "q", "outputs": "Paris", "expectations": {{"expected_response": "Paris"}}, "trace_id": "{trace}", "span_id": "{span}"}}"#
        )
    };
    let path = write(
        dir.path(),
        "spans.jsonl",
        &format!(
            "{}\n{}\n",
            line("71492b10072d70de"),
            line("81492b10072d70de")
        ),
    );
    Evaluation::new(scorers(&["exact_match"]))
        .unwrap()
        .store(store.clone())
        .run(&Dataset::open(&path).unwrap())
        .unwrap();
    let expectations = store
        .list_by_trace(verdict::parse_trace_id(trace).unwrap())
        .unwrap()
        .iter()
        .filter(|a| a.kind() == verdict::Kind::Expectation)
        .count();
    assert_eq!(expectations, 1);
}

#[test]
fn a_result_file_that_is_the_store_is_refused_before_the_run_writes_anything() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let qa = write(dir.path(), "qa.jsonl", &format!("{GOOD}\n"));
    Evaluation::new(exact())
        .unwrap()
        .store(store.clone())
        .run(&Dataset::open(&qa).unwrap())
        .unwrap();
    let err = Evaluation::new(exact())
        .unwrap()
        .store(store.clone())
        .report(dir.path().join("verdict.db"))
        .run(&Dataset::open(&qa).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::SamePath(_)), "{err}");
    assert!(err.to_string().starts_with("the report "), "{err}");
    assert_eq!(store.runs().unwrap().len(), 1);
    let err = Evaluation::new(exact())
        .unwrap()
        .json(&qa)
        .run(&Dataset::open(&qa).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("is the dataset"), "{err}");
    assert_eq!(std::fs::read_to_string(&qa).unwrap(), format!("{GOOD}\n"));
}

#[test]
fn a_baseline_whose_summary_cannot_be_read_back_is_refused_before_scoring() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let qa = write(dir.path(), "qa.jsonl", &format!("{GOOD}\n"));
    let first = Evaluation::new(scorers(&["exact_match"]))
        .unwrap()
        .store(store.clone())
        .run(&Dataset::open(&qa).unwrap())
        .unwrap();
    // A summary that is JSON, but not a run's summary.
    let db = rusqlite::Connection::open(store.path()).unwrap();
    let changed = db
        .execute(
            "UPDATE runs SET summary = '{\"scorers\": 3}' WHERE run_id = ?1",
            [&first.run_id],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);
    let error = Evaluation::new(scorers(&["exact_match"]))
        .unwrap()
        .store(store.clone())
        .baseline(first.run_id.clone())
        .run(&Dataset::open(&qa).unwrap())
        .unwrap_err();
    assert!(matches!(error, Error::Summary { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&first.run_id) && message.contains("cannot be read back"),
        "{message}"
    );
    // Nothing was stored for the refused run.
    assert_eq!(store.runs().unwrap().len(), 1);
}
