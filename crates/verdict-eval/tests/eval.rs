//! Evaluation runs end to end: real dataset files, a real SQLite store,
//! result files read back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use verdict::{Kind, parse_trace_id};
use verdict_eval::{
    Dataset, Destination, Entry, Error, Evaluation, ExportTarget, Format, RunSummary, SuiteConfig,
    report,
};
use verdict_export::LocalStore;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn config(toml: &str) -> SuiteConfig {
    SuiteConfig::from_toml(toml, Path::new("verdict.toml")).unwrap()
}

const QA: &str = r#"{"inputs": {"question": "Capital of France?"}, "outputs": "Paris", "expectations": {"expected_response": "Paris"}}
{"inputs": {"question": "Capital of Italy?"}, "outputs": "Milan", "expectations": {"expected_response": "Rome"}}
{"inputs": {"question": "Capital of Spain?"}, "outputs": "madrid", "expectations": {"expected_response": "Madrid"}}
{"inputs": {"question": "Capital of Peru?"}, "outputs": "Lima", "expectations": {"expected_response": ["Lima", "Ciudad de los Reyes"]}}
"#;

const EXACT: &str = "[[scorers]]\nspec = \"exact_match\"\n";

fn entries(path: &Path) -> Vec<Entry> {
    Dataset::open(path)
        .unwrap()
        .entries()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn invalid_reason(entry: &Entry) -> (usize, &str) {
    match entry {
        Entry::Invalid(i) => (i.line, i.reason.as_str()),
        Entry::Record(r) => panic!("line {} was read as a record", r.line),
    }
}

#[test]
fn malformed_lines_are_reported_with_their_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bad.jsonl",
        concat!(
            r#"{"inputs": "q", "outputs": "a"}"#,
            "\n",
            "\n",
            r#"{"inputs": "q", "outputs": "a""#,
            "\n",
            r#"{"inputs": "q"}"#,
            "\n",
            r#"{"inputs": "q", "outputs": "a", "expectation": {}}"#,
            "\n",
            r#"{"inputs": "q", "outputs": "a", "trace_id": "tr-123"}"#,
            "\n",
            r#"{"inputs": "q", "outputs": "a", "expectations": {"a.b": 1}}"#,
            "\n",
            r#"{"inputs": "q", "outputs": "a", "span_id": "71492b10072d70de"}"#,
            "\n",
            "[1, 2]\n",
        ),
    );
    let all = entries(&path);
    assert_eq!(all.len(), 8, "the blank line is skipped, nothing else");
    assert!(matches!(&all[0], Entry::Record(r) if r.line == 1));
    let expected = [
        (3, "EOF while parsing"),
        (4, "missing field `outputs`"),
        (5, "unknown field `expectation`"),
        (6, "trace_id"),
        (7, "expectation \"a.b\""),
        (8, "span_id is given without trace_id"),
        (9, "not a JSON object"),
    ];
    for (entry, (line, wanted)) in all[1..].iter().zip(expected) {
        let (at, reason) = invalid_reason(entry);
        assert_eq!(at, line, "{reason}");
        assert!(reason.contains(wanted), "line {line}: {reason}");
    }
    // A field name mistake says which fields are allowed.
    assert!(
        invalid_reason(&all[3])
            .1
            .contains("inputs, outputs, expectations, trace_id, span_id")
    );
}

#[test]
fn a_run_stops_at_the_first_invalid_record_unless_told_to_skip() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "qa.jsonl",
        &format!(
            "{QA}{{\"inputs\": \"q\"}}\n{{\"inputs\": \"q\", \"outputs\": \"a\", \"expectations\": {{\"expected_response\": \"a\"}}}}\n"
        ),
    );
    let err = Evaluation::new(config(EXACT))
        .unwrap()
        .run(&Dataset::open(&path).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRecord { .. }));
    let message = err.to_string();
    assert!(message.contains("qa.jsonl:5: "), "{message}");
    assert!(message.contains("--skip-invalid"), "{message}");

    let summary = Evaluation::new(config(EXACT))
        .unwrap()
        .skip_invalid(true)
        .run(&Dataset::open(&path).unwrap())
        .unwrap();
    assert_eq!(summary.records, 5);
    assert_eq!(summary.invalid, 1);
    assert_eq!(summary.invalid_records[0].line, 5);
    let exact = summary.scorer("exact_match").unwrap();
    // The invalid record counts as an error, not a pass.
    assert_eq!((exact.records, exact.errors, exact.passed), (6, 1, 3));
}

#[test]
fn statistics_and_gates() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "qa.jsonl", QA);
    let toml = r#"
[[scorers]]
spec = "exact_match"
fail_under = 0.5
weight = 3

[[scorers]]
spec = "edit_distance:report=distance"
max = 1
fail_under = 0.8
weight = 1

[gates]
weighted_pass_rate = 0.55
"#;
    let summary = Evaluation::new(config(toml))
        .unwrap()
        .run(&Dataset::open(&path).unwrap())
        .unwrap();
    let exact = summary.scorer("exact_match").unwrap();
    assert_eq!(exact.pass_rate(), Some(0.5));
    assert_eq!(exact.mean, Some(0.5));
    let distance = summary.scorer("edit_distance").unwrap();
    // Distances 0, 5 (Milan/Rome), 1 (case), 0; quantiles as numpy (and
    // MLflow) interpolate them: median 0.5, p90 1 + 0.7 × (5 − 1).
    assert_eq!(distance.pass_rate(), Some(0.75));
    assert_eq!(distance.p50, Some(0.5));
    assert!((distance.p90.unwrap() - 3.8).abs() < 1e-12);
    assert_eq!((distance.min, distance.max), (Some(0.0), Some(5.0)));
    assert_eq!(distance.mean, Some(1.5));
    assert_eq!(distance.worst[0].line, 2);
    assert_eq!(distance.worst[0].output, "Milan");
    // (3 × 0.5 + 1 × 0.75) / 4
    assert_eq!(summary.weighted_pass_rate, Some(0.5625));
    let verdicts: Vec<(bool, &str)> = summary
        .gates
        .iter()
        .map(|g| (g.passed, g.gate.as_str()))
        .collect();
    assert_eq!(
        verdicts,
        [
            (true, "exact_match pass rate ≥ 50.0 %"),
            (false, "edit_distance pass rate ≥ 80.0 %"),
            (true, "weighted pass rate ≥ 55.0 %"),
        ]
    );
    assert!(!summary.passed);
}

#[test]
fn numbers_without_a_criterion_have_no_pass_rate_and_their_gate_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "qa.jsonl", QA);
    let mut config = config("[[scorers]]\nspec = \"token_f1\"\n");
    config.set_fail_under("token_f1=0.5").unwrap();
    let summary = Evaluation::new(config)
        .unwrap()
        .run(&Dataset::open(&path).unwrap())
        .unwrap();
    assert_eq!(summary.scorer("token_f1").unwrap().pass_rate(), None);
    assert!(!summary.passed);
    assert!(
        summary.gates[0]
            .measured
            .contains("set threshold, max or pass_labels")
    );
}

#[test]
fn config_and_flag_errors_say_what_is_allowed() {
    let bad = |toml: &str| {
        SuiteConfig::from_toml(toml, Path::new("verdict.toml"))
            .unwrap_err()
            .to_string()
    };
    assert!(bad("[[scorers]]\nspec = \"x\"\nthreshold = 1\nmax = 2\n").contains("at most one of"));
    assert!(
        bad("[[scorers]]\nspec = \"x\"\nfail_under = 80\n").contains("give a rate from 0 to 1")
    );
    assert!(bad("[[scorer]]\nspec = \"x\"\n").contains("unknown field `scorer`"));
    let labels = config("[[scorers]]\nspec = \"x\"\npass_labels = [\"relevant\"]\nweight = 2\n");
    assert_eq!(
        labels.scorers[0].pass,
        verdict_eval::PassCriterion::Labels(vec!["relevant".into()])
    );
    assert_eq!(labels.scorers[0].weight, 2.0);
    let mut config = config(EXACT);
    assert!(
        config
            .set_fail_under("exact_match")
            .unwrap_err()
            .to_string()
            .contains("SCORER=RATE")
    );
    assert!(
        config
            .set_fail_under("nope=0.5")
            .unwrap_err()
            .to_string()
            .contains("no scorer \"nope\"")
    );
    assert!(
        Evaluation::new(SuiteConfig::default())
            .err()
            .unwrap()
            .to_string()
            .contains("no scorer to run")
    );
    let mut twice = SuiteConfig::default();
    twice.replace_scorers(vec![
        "exact_match".parse().unwrap(),
        "exact_match:normalize=squad".parse().unwrap(),
    ]);
    assert!(
        Evaluation::new(twice)
            .err()
            .unwrap()
            .to_string()
            .contains("two scorers are named")
    );
}

#[test]
fn the_store_holds_traces_spans_expectations_feedback_and_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "qa.jsonl", QA);
    let db = dir.path().join("verdict.db");
    let store = Arc::new(LocalStore::open(&db).unwrap());
    let summary = Evaluation::new(config(
        "[[scorers]]\nspec = \"exact_match\"\n[[scorers]]\nspec = \"length:max=10\"\n",
    ))
    .unwrap()
    .store(store)
    .run(&Dataset::open(&path).unwrap())
    .unwrap();

    // Read back through a second connection, as another process would.
    let store = LocalStore::open(&db).unwrap();
    let traces = store.list_traces().unwrap();
    assert_eq!(traces.len(), 4);
    assert_eq!(store.count_assessments().unwrap(), 4 * 3);
    for trace in &traces {
        assert_eq!(trace.span_count, 1);
        let spans = store.spans_of(trace.trace_id).unwrap();
        assert_eq!(spans[0].name, verdict_eval::RECORD_SPAN_NAME);
        assert!(
            spans[0].attributes["mlflow.spanInputs"]
                .as_str()
                .unwrap()
                .contains("Capital of")
        );
        assert_eq!(
            spans[0].attributes[verdict_eval::RUN_ID_ATTRIBUTE],
            summary.run_id.as_str()
        );
        let assessments = store.list_by_trace(trace.trace_id).unwrap();
        let expectation = assessments
            .iter()
            .find(|a| a.kind() == Kind::Expectation)
            .unwrap();
        assert_eq!(expectation.name(), "expected_response");
        // On the root span of the trace the run made, as MLflow's
        // evaluation puts expectations.
        assert_eq!(expectation.span_id(), Some(spans[0].span_id));
        let feedback: Vec<_> = assessments
            .iter()
            .filter(|a| a.kind() == Kind::Feedback)
            .collect();
        assert_eq!(feedback.len(), 2);
        // Feedback carries the run id (MLflow's sourceRunId metadata).
        assert!(
            feedback
                .iter()
                .all(|f| f.run_id() == Some(summary.run_id.as_str()))
        );
        // Feedback judges the record's root span.
        assert!(
            feedback
                .iter()
                .all(|f| f.span_id() == Some(spans[0].span_id))
        );
    }
    assert_eq!(store.summary("exact_match").unwrap().pass_rate(), Some(0.5));
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].run_id, summary.run_id);
    assert_eq!(runs[0].records, 4);
    let stored = RunSummary::of(&runs[0]).unwrap().unwrap();
    assert_eq!(stored, summary);
}

#[test]
fn a_record_with_a_trace_id_joins_that_trace() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "qa.jsonl",
        concat!(
            r#"{"inputs": "q", "outputs": "Paris", "expectations": {"expected_response": "Paris"}, "trace_id": "tr-0fb07256509eb9d22d07f42f7eb9f24d", "span_id": "71492b10072d70de"}"#,
            "\n",
            r#"{"inputs": "q", "outputs": "Lyon", "expectations": {"expected_response": "Paris"}, "trace_id": "1fb07256509eb9d22d07f42f7eb9f24d"}"#,
            "\n",
        ),
    );
    let db = dir.path().join("verdict.db");
    Evaluation::new(config(EXACT))
        .unwrap()
        .store(Arc::new(LocalStore::open(&db).unwrap()))
        .run(&Dataset::open(&path).unwrap())
        .unwrap();
    let store = LocalStore::open(&db).unwrap();
    let first = parse_trace_id("0fb07256509eb9d22d07f42f7eb9f24d").unwrap();
    let second = parse_trace_id("1fb07256509eb9d22d07f42f7eb9f24d").unwrap();
    let a = store.list_by_trace(first).unwrap();
    assert_eq!(a.len(), 2);
    let feedback = a.iter().find(|x| x.kind() == Kind::Feedback).unwrap();
    assert_eq!(
        feedback.span_id(),
        Some(verdict::parse_span_id("71492b10072d70de").unwrap())
    );
    let b = store.list_by_trace(second).unwrap();
    let feedback = b.iter().find(|x| x.kind() == Kind::Feedback).unwrap();
    assert_eq!(
        feedback.span_id(),
        None,
        "no span named: the feedback is on the trace"
    );
    // The run made no span for traces that exist elsewhere.
    assert!(store.spans_of(first).unwrap().is_empty());
}

fn otlp_span(trace: &str, span: &str, parent: &str, attributes: &str) -> String {
    format!(
        r#"{{"traceId": "{trace}", "spanId": "{span}", "parentSpanId": "{parent}", "name": "answer", "kind": 1,
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
            "attributes": [{attributes}]}}"#
    )
}

#[test]
fn otlp_json_root_spans_give_inputs_outputs_and_expectations() {
    let dir = tempfile::tempdir().unwrap();
    let t1 = "5b8efff798038103d269b633813fc60c";
    let t2 = "6b8efff798038103d269b633813fc60c";
    let t3 = "7b8efff798038103d269b633813fc60c";
    let request = |spans: &[String]| {
        format!(
            r#"{{"resourceSpans": [{{"resource": {{"attributes": []}}, "scopeSpans": [{{"scope": {{"name": "app"}}, "spans": [{}]}}]}}]}}"#,
            spans.join(",")
        )
    };
    let line1 = request(&[
        otlp_span(
            t1,
            "eee19b7ec3c1b174",
            "",
            r#"{"key": "mlflow.spanInputs", "value": {"stringValue": "{\"question\": \"Capital of France?\"}"}},
            {"key": "mlflow.spanOutputs", "value": {"stringValue": "\"Paris\""}},
            {"key": "verdict.expectation.expected_response", "value": {"stringValue": "\"Paris\""}}"#,
        ),
        otlp_span(
            t1,
            "eee19b7ec3c1b175",
            "eee19b7ec3c1b174",
            r#"{"key": "mlflow.spanInputs", "value": {"stringValue": "child"}}"#,
        ),
    ]);
    let line2 = request(&[
        otlp_span(
            t2,
            "fee19b7ec3c1b174",
            "",
            r#"{"key": "gen_ai.input.messages", "value": {"stringValue": "Capital of Italy?"}},
            {"key": "gen_ai.output.messages", "value": {"stringValue": "Milan"}}"#,
        ),
        otlp_span(
            t3,
            "aee19b7ec3c1b174",
            "",
            r#"{"key": "gen_ai.input.messages", "value": {"stringValue": "Capital of Peru?"}}"#,
        ),
    ]);
    // One request per line, as the Collector's file exporter writes them.
    let (line1, line2) = (line1.replace('\n', " "), line2.replace('\n', " "));
    let path = write(dir.path(), "traces.json", &format!("{line1}\n{line2}\n"));
    let dataset = Dataset::open(&path).unwrap();
    assert_eq!(dataset.format(), Format::OtlpJson);
    let all = entries(&path);
    assert_eq!(all.len(), 3, "one entry per root span");
    let Entry::Record(first) = &all[0] else {
        panic!("{:?}", all[0])
    };
    assert_eq!(first.trace_id, Some(parse_trace_id(t1).unwrap()));
    assert_eq!(first.record.expectations[0].0, "expected_response");
    let (line, reason) = invalid_reason(&all[2]);
    assert_eq!(line, 2);
    assert!(reason.contains("has no outputs"), "{reason}");
    assert!(
        reason.contains("mlflow.spanOutputs, output.value, gen_ai.output.messages"),
        "{reason}"
    );

    // The second trace's expectation comes from the store.
    let db = dir.path().join("verdict.db");
    let store = Arc::new(LocalStore::open(&db).unwrap());
    store
        .log(
            &verdict::Assessment::expectation("expected_response", "Rome")
                .on_trace(t2, None)
                .unwrap(),
        )
        .unwrap();
    let summary = Evaluation::new(config(EXACT))
        .unwrap()
        .store(store.clone())
        .skip_invalid(true)
        .run(&dataset)
        .unwrap();
    assert_eq!(summary.records, 2);
    assert_eq!(summary.invalid, 1);
    let exact = summary.scorer("exact_match").unwrap();
    assert_eq!((exact.passed, exact.errors), (1, 1));
    // Errors are the worst records, then failures.
    assert_eq!(exact.worst[0].value, "error INVALID_RECORD");
    assert_eq!(exact.worst[1].output, "Milan");
    assert!(exact.worst[1].expectations.contains("Rome"));
    // The store's expectation is not logged again.
    let on_t2 = store.list_by_trace(parse_trace_id(t2).unwrap()).unwrap();
    assert_eq!(
        on_t2
            .iter()
            .filter(|a| a.kind() == Kind::Expectation)
            .count(),
        1
    );
}

#[test]
fn a_pretty_printed_otlp_document_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let t = "5b8efff798038103d269b633813fc60c";
    let doc = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": t, "spanId": "eee19b7ec3c1b174", "name": "a", "attributes": [
            {"key": "gen_ai.prompt", "value": {"stringValue": "hi"}},
            {"key": "gen_ai.completion", "value": {"stringValue": "hello"}}]}]}]}]});
    let path = write(
        dir.path(),
        "trace.json",
        &serde_json::to_string_pretty(&doc).unwrap(),
    );
    let all = entries(&path);
    assert_eq!(all.len(), 1);
    assert!(matches!(&all[0], Entry::Record(r) if r.record.outputs == "hello".into()));
}

#[test]
fn a_baseline_run_fails_a_drop_beyond_the_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.jsonl", QA);
    let worse = write(
        dir.path(),
        "worse.jsonl",
        &QA.replace("\"Paris\", \"expectations\"", "\"Lyon\", \"expectations\""),
    );
    let store = Arc::new(LocalStore::open(dir.path().join("verdict.db")).unwrap());
    let toml = "[[scorers]]\nspec = \"exact_match\"\n[gates]\nbaseline_tolerance = 0.1\n";
    let first = Evaluation::new(config(toml))
        .unwrap()
        .store(store.clone())
        .run(&Dataset::open(&good).unwrap())
        .unwrap();
    assert!(first.passed);
    // The same data against itself passes, by id prefix.
    let again = Evaluation::new(config(toml))
        .unwrap()
        .store(store.clone())
        .baseline(&first.run_id[..10])
        .run(&Dataset::open(&good).unwrap())
        .unwrap();
    assert!(again.passed, "{:?}", again.gates);
    assert_eq!(again.baseline.as_deref(), Some(first.run_id.as_str()));
    // 50 % → 25 %: more than 10 points worse.
    let dropped = Evaluation::new(config(toml))
        .unwrap()
        .store(store.clone())
        .baseline(first.run_id.clone())
        .run(&Dataset::open(&worse).unwrap())
        .unwrap();
    assert!(!dropped.passed);
    assert_eq!(dropped.gates.len(), 1);
    assert!(dropped.gates[0].gate.contains(&first.run_id));
    assert_eq!(dropped.gates[0].measured, "25.0 %");
    // `latest` is the latest run of the dataset that passed its gates:
    // not the one that just failed.
    let none = Evaluation::new(config(toml))
        .unwrap()
        .store(store.clone())
        .baseline("latest")
        .run(&Dataset::open(&worse).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        none.contains(&format!("the latest, {}, failed its gates", dropped.run_id)),
        "{none}"
    );
    let passed = Evaluation::new(config(toml))
        .unwrap()
        .store(store.clone())
        .run(&Dataset::open(&worse).unwrap())
        .unwrap();
    let latest = Evaluation::new(config(toml))
        .unwrap()
        .store(store.clone())
        .baseline("latest")
        .run(&Dataset::open(&worse).unwrap())
        .unwrap();
    assert_eq!(latest.baseline.as_deref(), Some(passed.run_id.as_str()));
    assert!(latest.passed);
    // `latest` is the latest run of the same file that passed: the same
    // file degraded fails against it, and again when run twice — a
    // failed run never becomes the baseline.
    let data = write(dir.path(), "data.jsonl", QA);
    let run = |baseline: Option<&str>| {
        let evaluation = Evaluation::new(config(toml)).unwrap().store(store.clone());
        match baseline {
            Some(b) => evaluation.baseline(b),
            None => evaluation,
        }
        .run(&Dataset::open(&data).unwrap())
        .unwrap()
    };
    let passed = run(None);
    assert!(passed.passed);
    std::fs::copy(&worse, &data).unwrap();
    for _ in 0..2 {
        let latest = run(Some("latest"));
        assert_eq!(latest.baseline.as_deref(), Some(passed.run_id.as_str()));
        assert!(!latest.passed, "{:?}", latest.gates);
    }
    let missing = Evaluation::new(config(toml))
        .unwrap()
        .store(store)
        .baseline("run-nope")
        .run(&Dataset::open(&good).unwrap())
        .unwrap_err()
        .to_string();
    assert!(missing.contains("no run \"run-nope\""), "{missing}");
    assert!(missing.contains("verdict runs"), "{missing}");
}

/// One test case of a JUnit file, as a CI system reads it.
#[derive(Debug, Default)]
struct JunitCase {
    suite: String,
    classname: String,
    name: String,
    time: f64,
    /// `failure` or `error`, with its message and body.
    outcome: Option<(String, String, String)>,
    system_out: String,
}

/// The test cases of a JUnit file, read with quick-xml, after checking
/// that every count attribute agrees with the cases.
fn junit_cases(xml: &str) -> (Vec<JunitCase>, f64) {
    use quick_xml::events::Event;

    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut cases, mut suite, mut total_time) = (Vec::<JunitCase>::new(), String::new(), 0.0);
    let mut counts: Vec<(String, [usize; 3])> = Vec::new();
    let mut text_of: Option<&'static str> = None;
    loop {
        let event = reader.read_event().expect("well-formed XML");
        let attr = |e: &quick_xml::events::BytesStart<'_>, name: &str| {
            e.try_get_attribute(name)
                .unwrap()
                .map(|a| a.unescape_value().unwrap().into_owned())
                .unwrap_or_default()
        };
        match event {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testsuites" => {
                    total_time = attr(&e, "time").parse().unwrap();
                    counts.push((
                        "*".into(),
                        ["tests", "failures", "errors"].map(|a| attr(&e, a).parse().unwrap()),
                    ));
                }
                b"testsuite" => {
                    suite = attr(&e, "name");
                    counts.push((
                        suite.clone(),
                        ["tests", "failures", "errors"].map(|a| attr(&e, a).parse().unwrap()),
                    ));
                }
                b"testcase" => cases.push(JunitCase {
                    suite: suite.clone(),
                    classname: attr(&e, "classname"),
                    name: attr(&e, "name"),
                    time: attr(&e, "time").parse().unwrap(),
                    ..JunitCase::default()
                }),
                tag @ (b"failure" | b"error") => {
                    let case = cases.last_mut().unwrap();
                    case.outcome = Some((
                        String::from_utf8(tag.to_vec()).unwrap(),
                        attr(&e, "message"),
                        String::new(),
                    ));
                    text_of = Some("outcome");
                }
                b"system-out" => text_of = Some("system-out"),
                _ => {}
            },
            Event::Text(_) | Event::GeneralRef(_) if text_of.is_none() => {}
            Event::Text(t) => {
                let text = quick_xml::escape::unescape(&t.decode().unwrap())
                    .unwrap()
                    .into_owned();
                push_text(cases.last_mut().unwrap(), text_of, &text);
            }
            Event::GeneralRef(r) => {
                let text = quick_xml::escape::unescape(&format!("&{};", r.decode().unwrap()))
                    .unwrap()
                    .into_owned();
                push_text(cases.last_mut().unwrap(), text_of, &text);
            }
            Event::End(_) => text_of = None,
            Event::Eof => break,
            _ => {}
        }
    }
    for (suite, [tests, failures, errors]) in counts {
        let of: Vec<&JunitCase> = cases
            .iter()
            .filter(|c| suite == "*" || c.suite == suite)
            .collect();
        let count = |tag: &str| {
            of.iter()
                .filter(|c| c.outcome.as_ref().is_some_and(|o| o.0 == tag))
                .count()
        };
        assert_eq!(
            (tests, failures, errors),
            (of.len(), count("failure"), count("error")),
            "the counts of {suite}"
        );
    }
    (cases, total_time)
}

/// Text inside a test case's outcome or `<system-out>`.
fn push_text(case: &mut JunitCase, of: Option<&str>, text: &str) {
    match of {
        Some("outcome") => case.outcome.as_mut().unwrap().2.push_str(text),
        Some("system-out") => case.system_out.push_str(text),
        _ => {}
    }
}

#[test]
fn junit_fails_exactly_the_gates_that_failed_and_lists_records_without_failing_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "qa.jsonl",
        &format!("{QA}{{\"inputs\": \"<&>\", \"outputs\": 3}}\n{{\"inputs\": \"q\"}}\n"),
    );
    let junit = dir.path().join("junit.xml");
    let run = |toml: &str| {
        Evaluation::new(config(toml))
            .unwrap()
            .skip_invalid(true)
            .junit(&junit)
            .run(&Dataset::open(&path).unwrap())
            .unwrap()
    };
    // Every gate passes, though exact_match judges records false: no
    // failure and no error, as the exit code 0 says.
    let scorers =
        "[[scorers]]\nspec = \"exact_match\"\n[[scorers]]\nspec = \"token_f1\"\nthreshold = 0.5\n";
    let summary = run(&format!("{scorers}[gates]\nweighted_pass_rate = 0.1\n"));
    assert!(summary.passed);
    assert_eq!((summary.records, summary.invalid), (5, 1));
    let (cases, total) = junit_cases(&std::fs::read_to_string(&junit).unwrap());
    let names: Vec<(&str, &str, &str)> = cases
        .iter()
        .map(|c| (c.suite.as_str(), c.classname.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("gates", "verdict.gates", "weighted pass rate ≥ 10.0 %"),
            (
                "gates",
                "verdict.run",
                format!("run {} of {}", summary.run_id, path.display()).as_str()
            ),
            ("exact_match", "verdict.scorer", "exact_match"),
            ("token_f1", "verdict.scorer", "token_f1"),
        ]
    );
    assert!(cases.iter().all(|c| c.outcome.is_none()), "{cases:#?}");
    // The records exact_match judged false, could not score, and the
    // invalid line: shown, with their trace, not counted.
    let listed = &cases[2].system_out;
    assert!(
        listed.starts_with("4 records judged false or not scored"),
        "{listed}"
    );
    assert!(listed.contains("line 2 · tr-"), "{listed}");
    assert!(listed.contains(": false: differs from expectation\n    input:    {\"question\":\"Capital of Italy?\"}\n    output:   Milan\n"), "{listed}");
    assert!(listed.contains("    input:    <&>\n"), "{listed}");
    assert!(listed.contains("error MISSING_EXPECTATION"), "{listed}");
    assert!(
        listed.contains("line 6: not a record, counted as an error"),
        "{listed}"
    );
    // Times: a scorer's case takes its records' share of the scoring, not
    // 0; the gates take none; all of it within the run's.
    assert!(cases[2].time > 0.0 && cases[3].time > 0.0, "{cases:#?}");
    assert!(cases[..2].iter().all(|c| c.time == 0.0));
    assert!(cases.iter().map(|c| c.time).sum::<f64>() <= total);

    // A gate fails: exactly its test case fails, with what was measured
    // and the records behind it.
    let summary = run(&format!(
        "{scorers}[gates]\nweighted_pass_rate = 0.1\ngate = \"exact_match >= 0.9\"\n"
    ));
    assert!(!summary.passed);
    let (cases, _) = junit_cases(&std::fs::read_to_string(&junit).unwrap());
    let failed: Vec<&JunitCase> = cases.iter().filter(|c| c.outcome.is_some()).collect();
    assert_eq!(failed.len(), 1, "{cases:#?}");
    assert_eq!(failed[0].name, "exact_match/mean ≥ 0.9");
    let (tag, message, body) = failed[0].outcome.as_ref().unwrap();
    assert_eq!(tag, "failure");
    // It fails twice over: below 0.9, and over errors it does not allow.
    assert!(
        message.starts_with("measured 0.5 over 4 values, 2 errors left out: ")
            && message.contains("exact_match could not score 2 of 6 records"),
        "{message}"
    );
    assert!(body.contains("worst records of exact_match"), "{body}");
    assert!(
        body.contains("line 2 · tr-") && body.contains("output:   Milan"),
        "{body}"
    );

    // A scorer with no criterion for its values: counted, not listed.
    let summary = run("[[scorers]]\nspec = \"token_f1\"\n");
    assert!(summary.passed);
    let (cases, _) = junit_cases(&std::fs::read_to_string(&junit).unwrap());
    let listed = &cases.last().unwrap().system_out;
    assert!(
        listed.starts_with("4 records not judged: no pass criterion"),
        "{listed}"
    );
    assert!(!listed.contains("line 2 ·"), "{listed}");
}

#[test]
fn a_junit_file_says_when_the_run_stopped_before_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "qa.jsonl", &format!("{QA}{{\"inputs\": \n"));
    let junit = dir.path().join("junit.xml");
    let err = Evaluation::new(config(EXACT))
        .unwrap()
        .junit(&junit)
        .run(&Dataset::open(&path).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRecord { .. }), "{err}");
    let (cases, _) = junit_cases(&std::fs::read_to_string(&junit).unwrap());
    assert_eq!(cases.len(), 1, "{cases:#?}");
    let (tag, message, _) = cases[0].outcome.as_ref().unwrap();
    assert_eq!(tag, "error");
    assert!(
        message.starts_with("the run stopped before its verdict: ")
            && message.contains("qa.jsonl:5:"),
        "{message}"
    );
}

#[test]
fn json_results_and_reports_show_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "qa.jsonl", QA);
    let json = dir.path().join("results.json");
    let summary = Evaluation::new(config("[[scorers]]\nspec = \"exact_match\"\nfail_under = 0.9\n[[scorers]]\nspec = \"edit_distance\"\nthreshold = 0.8\n"))
        .unwrap()
        .json(&json)
        .run(&Dataset::open(&path).unwrap())
        .unwrap();
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results["records"].as_array().unwrap().len(), 4);
    assert_eq!(results["records"][1]["outputs"], "Milan");
    assert_eq!(
        results["records"][1]["results"]["exact_match"]["passed"],
        false
    );
    assert_eq!(results["summary"]["run_id"], summary.run_id.as_str());

    let md_path = dir.path().join("report.md");
    report::write_report(&md_path, &summary).unwrap();
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(md.contains(&format!("# Verdict eval {} — FAILED", summary.run_id)));
    assert!(md.contains("| scorer | records | pass rate | mean | p50 | p90 | errors |"));
    assert!(md.contains("| exact_match | 4 | 50.0 % |"), "{md}");
    assert!(md.contains("❌ FAIL"));
    assert!(md.contains("### exact_match"));
    // Each listed record with its trace, which `verdict show` opens.
    let milan = md
        .lines()
        .find(|l| l.starts_with("| 2 | `tr-"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(milan.ends_with(" | {\"question\":\"Capital of Italy?\"} | Milan | {\"expected_response\":\"Rome\"} | false | differs from expectation |"), "{milan}");
    let trace = &milan["| 2 | `".len()..milan.find("` |").unwrap()];
    assert_eq!(trace, results["records"][1]["trace_id"]);

    let html_path = dir.path().join("report.html");
    report::write_report(&html_path, &summary).unwrap();
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "self-contained, no script");
    assert!(
        !html.contains("http://")
            || html
                .matches("http://")
                .all(|_| html.contains("http://www.w3.org/2000/svg"))
    );
    assert_eq!(html.matches("<svg").count(), 2, "one chart per scorer");
    assert!(html.contains("<title>true: 2</title>") && html.contains("<title>false: 2</title>"));
    assert!(html.contains("Milan"));
    assert!(html.contains(&format!(
        "<td class=\"n\">2</td><td><code>{}</code></td>",
        results["records"][1]["trace_id"].as_str().unwrap()
    )));
    assert!(html.contains("{&quot;expected_response&quot;:&quot;Rome&quot;}"));
}

#[test]
fn jsonl_export_gets_spans_and_assessments() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "qa.jsonl", QA);
    let out = dir.path().join("out.jsonl");
    let target = ExportTarget::Jsonl(out.clone());
    Evaluation::new(config(EXACT))
        .unwrap()
        .export(Destination::open(target).unwrap())
        .run(&Dataset::open(&path).unwrap())
        .unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let spans = lines.iter().filter(|l| l["type"] == "span").count();
    let feedback = lines.iter().filter(|l| l.get("feedback").is_some()).count();
    let expectations = lines
        .iter()
        .filter(|l| l.get("expectation").is_some())
        .count();
    assert_eq!((spans, feedback, expectations), (4, 4, 4));
}

#[test]
fn an_empty_dataset_fails_its_gates_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "empty.jsonl", "\n");
    let mut config = config(EXACT);
    config.set_fail_under("exact_match=0.5").unwrap();
    let summary = Evaluation::new(config)
        .unwrap()
        .run(&Dataset::open(&path).unwrap())
        .unwrap();
    assert_eq!(summary.records, 0);
    assert!(!summary.passed);
    assert_eq!(
        summary.gates[0].measured,
        "no pass rate: the dataset has no records"
    );
}

#[test]
fn running_a_dataset_with_trace_ids_again_does_not_copy_its_expectations() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "qa.jsonl",
        r#"{"inputs": "q", "outputs": "Paris", "expectations": {"expected_response": "Paris", "expected_facts": ["Paris"]}, "trace_id": "0fb07256509eb9d22d07f42f7eb9f24d"}
"#,
    );
    let changed = write(
        dir.path(),
        "changed.jsonl",
        r#"{"inputs": "q", "outputs": "Paris", "expectations": {"expected_response": "Paris, France", "expected_facts": ["Paris"]}, "trace_id": "0fb07256509eb9d22d07f42f7eb9f24d"}
"#,
    );
    let store = Arc::new(LocalStore::open(dir.path().join("verdict.db")).unwrap());
    let run = |data: &Path| {
        Evaluation::new(config(EXACT))
            .unwrap()
            .store(store.clone())
            .run(&Dataset::open(data).unwrap())
            .unwrap()
    };
    run(&path);
    run(&path);
    let trace = parse_trace_id("0fb07256509eb9d22d07f42f7eb9f24d").unwrap();
    let expectations = |store: &LocalStore| -> Vec<String> {
        store
            .list_by_trace(trace)
            .unwrap()
            .iter()
            .filter(|a| a.kind() == Kind::Expectation)
            .map(|a| format!("{}={}", a.name(), a.expectation_value().unwrap()))
            .collect()
    };
    assert_eq!(
        expectations(&store),
        ["expected_facts=[\"Paris\"]", "expected_response=\"Paris\""]
    );
    // Feedback is logged on every run.
    let feedback = store
        .list_by_trace(trace)
        .unwrap()
        .iter()
        .filter(|a| a.kind() == Kind::Feedback)
        .count();
    assert_eq!(feedback, 2);
    // A changed expectation is logged, beside the old one.
    run(&changed);
    assert_eq!(expectations(&store).len(), 3);
}

#[test]
fn gates_in_mlflows_language_check_each_statistic() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "qa.jsonl", QA);
    let toml = "[[scorers]]\nspec = \"exact_match\"\n[[scorers]]\nspec = \"length:max=5\"\n\
                [gates]\ngate = [\"exact_match >= 0.5 AND `exact_match/median` >= 0.5\", \
                \"`exact_match/p90` <= 0.9\"]\n";
    let mut suite = config(toml);
    assert_eq!(suite.gates.conditions.len(), 3);
    suite
        .add_gate("`length/errors` <= 0 AND `length/pass_rate` >= 0.75")
        .unwrap();
    let run = |suite: SuiteConfig| {
        Evaluation::new(suite)
            .unwrap()
            .run(&Dataset::open(&path).unwrap())
            .unwrap()
    };
    let summary = run(suite.clone());
    let gates: Vec<(&str, &str, bool)> = summary
        .gates
        .iter()
        .map(|g| (g.gate.as_str(), g.measured.as_str(), g.passed))
        .collect();
    // exact_match gives 1, 0, 0, 1: mean 0.5, median 0.5, p90 1 (numpy's
    // interpolation); length passes 3 of 4 with no error.
    assert_eq!(
        gates,
        [
            ("exact_match/mean ≥ 0.5", "0.5 over 4 values", true),
            ("exact_match/median ≥ 0.5", "0.5 over 4 values", true),
            ("exact_match/p90 ≤ 0.9", "1 over 4 values", false),
            ("length/errors ≤ 0", "0 of 4", true),
            ("length/pass_rate ≥ 0.75", "0.75 (75.0 %, 3 of 4)", true),
        ]
    );
    assert!(!summary.passed);
    assert_eq!(summary.gates[2].scorers, ["exact_match"]);

    // --gate replaces verdict.toml's condition on the same metric.
    suite.add_gate("`exact_match/p90` <= 1").unwrap();
    let summary = run(suite.clone());
    assert!(summary.passed, "{:?}", summary.gates);
    assert_eq!(summary.gates.len(), 5);

    // Two conditions on one metric in one place, and a metric of no
    // scorer, are refused before anything runs.
    let mut twice = suite.clone();
    twice
        .add_gate("`exact_match/mean` >= 0.1 AND exact_match >= 0.2")
        .unwrap();
    let err = Evaluation::new(twice).err().unwrap().to_string();
    assert!(err.contains("one condition per metric"), "{err}");
    let mut unknown = suite;
    unknown.add_gate("token_f1 >= 0.5").unwrap();
    let err = Evaluation::new(unknown).err().unwrap().to_string();
    assert!(
        err.contains("names no scorer of this run (scorers: exact_match, length)"),
        "{err}"
    );
}

#[test]
fn a_gate_on_a_statistic_the_run_could_not_measure_fails() {
    let dir = tempfile::tempdir().unwrap();
    // No expectations: exact_match can score nothing.
    let path = write(
        dir.path(),
        "qa.jsonl",
        "{\"inputs\": \"q\", \"outputs\": \"a\"}\n{\"inputs\": \"q\", \"outputs\": \"b\"}\n",
    );
    let mut suite = config(EXACT);
    suite
        .add_gate("exact_match >= 0 AND `exact_match/errors` <= 2")
        .unwrap();
    let summary = Evaluation::new(suite)
        .unwrap()
        .run(&Dataset::open(&path).unwrap())
        .unwrap();
    assert!(!summary.passed);
    assert_eq!(
        summary.gates[0].measured,
        "not measured: exact_match gave no numbers (errors only)"
    );
    assert!(!summary.gates[0].passed);
    assert!(summary.gates[1].passed, "{:?}", summary.gates[1]);
}

#[test]
fn gate_expressions_that_cannot_be_read_say_where() {
    let err = SuiteConfig::from_toml(
        "[[scorers]]\nspec = \"exact_match\"\n[gates]\ngate = \"exact_match >= 0.9 OR x <= 1\"\n",
        Path::new("verdict.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("verdict.toml: gates.gate \"exact_match >= 0.9 OR x <= 1\": at character 20: expected AND: OR is not part of the language"),
        "{err}"
    );
    let mut suite = config(EXACT);
    let err = suite.add_gate("exact_match > 0.9").unwrap_err().to_string();
    assert!(
        err.starts_with("--gate \"exact_match > 0.9\": at character 13: expected a comparison: only >= and <= are supported"),
        "{err}"
    );
    let err = suite.add_gate("  ").unwrap_err().to_string();
    assert!(err.contains("an empty gate checks nothing"), "{err}");
}

#[test]
fn a_scorers_junit_listing_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = String::new();
    for i in 0..1500 {
        data.push_str(&format!(
            "{{\"inputs\": \"q{i}\", \"outputs\": \"b\", \"expectations\": {{\"expected_response\": \"a\"}}}}\n"
        ));
    }
    let path = write(dir.path(), "qa.jsonl", &data);
    let junit = dir.path().join("junit.xml");
    Evaluation::new(config(EXACT))
        .unwrap()
        .junit(&junit)
        .run(&Dataset::open(&path).unwrap())
        .unwrap();
    let (cases, _) = junit_cases(&std::fs::read_to_string(&junit).unwrap());
    let listed = &cases.last().unwrap().system_out;
    assert!(
        listed.starts_with("1500 records judged false"),
        "{}",
        &listed[..200]
    );
    assert_eq!(listed.matches("\nline ").count(), 1000);
    assert!(listed.ends_with("… and 500 more (--json writes every result)\n"));
}

#[test]
fn a_baseline_comparison_names_the_records_that_newly_fail_and_newly_pass() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(dir.path().join("verdict.db")).unwrap());
    let run = |text: &str, baseline: Option<&str>| {
        let data = write(dir.path(), "qa.jsonl", text);
        let evaluation = Evaluation::new(config(EXACT)).unwrap().store(store.clone());
        match baseline {
            Some(b) => evaluation.baseline(b),
            None => evaluation,
        }
        .run(&Dataset::open(&data).unwrap())
        .unwrap()
    };
    let before = run(QA, None);
    assert!(before.comparison.is_none());
    // Lines reordered (records are matched by their inputs, not their
    // line), Paris now wrong, Milan now right, one record new, and one
    // that names its trace matched by it.
    let named = r#"{"inputs": "named", "outputs": "x", "expectations": {"expected_response": "x"}, "trace_id": "0fb07256509eb9d22d07f42f7eb9f24d"}"#;
    run(&format!("{QA}{named}\n"), None);
    let lines: Vec<&str> = QA.lines().collect();
    let after = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n",
        lines[3],
        lines[2],
        lines[1].replace("\"outputs\": \"Milan\"", "\"outputs\": \"Rome\""),
        lines[0].replace("\"outputs\": \"Paris\"", "\"outputs\": \"Lyon\""),
        named.replace("\"outputs\": \"x\"", "\"outputs\": \"y\""),
        r#"{"inputs": "new", "outputs": "a", "expectations": {"expected_response": "a"}}"#
    );
    let latest = store.runs().unwrap()[0].run_id.clone();
    let summary = run(&after, Some(&latest));
    let comparison = summary.comparison.unwrap();
    assert_eq!(comparison.baseline, latest);
    assert_eq!((comparison.matched, comparison.new_records), (5, 1));
    assert_eq!((comparison.newly_failing, comparison.newly_passing), (2, 1));
    let failing: Vec<_> = comparison.listed(false).collect();
    assert_eq!(failing.len(), 2);
    assert_eq!((failing[0].line, failing[0].baseline_line), (4, 1));
    assert_eq!(failing[0].scorer, "exact_match");
    assert_eq!(
        (failing[0].before.as_str(), failing[0].now.as_str()),
        ("true", "false")
    );
    assert_eq!(
        (
            failing[0].baseline_output.as_str(),
            failing[0].output.as_str()
        ),
        ("Paris", "Lyon")
    );
    assert_eq!(failing[1].trace_id, "tr-0fb07256509eb9d22d07f42f7eb9f24d");
    assert_eq!(failing[1].baseline_trace_id, failing[1].trace_id);
    let passing: Vec<_> = comparison.listed(true).collect();
    assert_eq!((passing[0].line, passing[0].output.as_str()), (3, "Rome"));
    assert!(passing[0].baseline_trace_id.starts_with("tr-"));
    assert_ne!(passing[0].baseline_trace_id, passing[0].trace_id);
    assert!(
        comparison
            .headline()
            .contains("2 newly fail, 1 newly passes (5 records in both runs, 1 new)")
    );
}
