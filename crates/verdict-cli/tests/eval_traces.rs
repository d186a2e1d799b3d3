//! `verdict eval --traces`: traces that already exist, in a real store
//! file and in a real MLflow 3.17.2 server (made by MLflow's own Python
//! client), scored where they are: each trace one record read from its
//! root span, its expectations those already on the trace, its feedback
//! back on the trace; traces judged already skipped unless rescored.

#[allow(dead_code)] // shared with the export crate's tests; not all of it is used here
#[path = "../../verdict-export/tests/common/mlflow_server.rs"]
mod mlflow_server;

use std::path::Path;
use std::process::{Command, Output};

use mlflow_server::MlflowServer;
use serde_json::{Value, json};
use verdict::Kind;
use verdict_export::LocalStore;

fn verdict(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .current_dir(dir)
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("MLFLOW_EXPERIMENT_ID")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Three traces of two spans as an OTLP JSON file, one a second apart:
/// the root's inputs and outputs MLflow's attributes, its expectation
/// Verdict's. The second one's answer is wrong.
fn otlp_traces(path: &Path) {
    let cases = [
        ("Capital of France?", "Paris", "Paris"),
        ("Capital of Italy?", "Milan", "Rome"),
        ("2+2?", "4", "4"),
    ];
    let mut lines = String::new();
    for (i, (question, answer, expected)) in cases.iter().enumerate() {
        let start = 1_796_600_000_000_000_000u64 + i as u64 * 1_000_000_000;
        let string = |v: Value| json!({"stringValue": v.to_string()});
        let document = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
            {
                "traceId": format!("{:032x}", 0xabc000 + i),
                "spanId": format!("{:016x}", 0x100 + i),
                "name": "answer",
                "startTimeUnixNano": start.to_string(),
                "endTimeUnixNano": (start + 500_000_000).to_string(),
                "attributes": [
                    {"key": "mlflow.spanInputs", "value": string(json!({"question": question}))},
                    {"key": "mlflow.spanOutputs", "value": string(json!(answer))},
                    {"key": "verdict.expectation.expected_response", "value": string(json!(expected))},
                ],
            },
            {
                "traceId": format!("{:032x}", 0xabc000 + i),
                "spanId": format!("{:016x}", 0x200 + i),
                "parentSpanId": format!("{:016x}", 0x100 + i),
                "name": "lookup",
                "startTimeUnixNano": (start + 1_000).to_string(),
                "endTimeUnixNano": (start + 2_000).to_string(),
            },
        ]}]}]});
        lines.push_str(&document.to_string());
        lines.push('\n');
    }
    std::fs::write(path, lines).unwrap();
}

/// The valid feedback named `name` on each of the store's traces, by the
/// trace's hex id.
fn feedback(store: &Path, name: &str) -> Vec<(String, Value, usize)> {
    let store = LocalStore::open_read_only(store).unwrap();
    let mut found = Vec::new();
    for trace in store.list_traces_outside_runs().unwrap() {
        let of_name: Vec<_> = store
            .list_by_trace(trace.trace_id)
            .unwrap()
            .into_iter()
            .filter(|a| a.kind() == Kind::Feedback && a.name().as_str() == name)
            .collect();
        if let Some(last) = of_name.last() {
            let value = serde_json::to_value(last).unwrap()["feedback"]["value"].clone();
            found.push((trace.trace_id.to_string(), value, of_name.len()));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[test]
fn the_stores_traces_are_scored_where_they_are_and_judged_ones_skipped() {
    let dir = tempfile::tempdir().unwrap();
    otlp_traces(&dir.path().join("traces.jsonl"));
    // The traces reach the store with their expectations, unscored.
    let out = verdict(
        dir.path(),
        &[
            "eval",
            "traces.jsonl",
            "--scorer",
            "length:max=1000",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(feedback(&dir.path().join("s.db"), "exact_match").is_empty());

    // Scored from the store: the expectation each trace holds is the
    // ground truth; the feedback lands on the trace's root span.
    let out = verdict(
        dir.path(),
        &[
            "eval",
            "--traces",
            "store",
            "--scorer",
            "exact_match",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("3 records"), "{}", text(&out));
    let scored = feedback(&dir.path().join("s.db"), "exact_match");
    let values: Vec<_> = scored.iter().map(|(_, v, n)| (v.clone(), *n)).collect();
    assert_eq!(
        values,
        [(json!(true), 1), (json!(false), 1), (json!(true), 1)],
        "{scored:?}"
    );
    let store = LocalStore::open_read_only(dir.path().join("s.db")).unwrap();
    for trace in store.list_traces_outside_runs().unwrap() {
        let root = store
            .spans_of(trace.trace_id)
            .unwrap()
            .into_iter()
            .find(|s| s.parent_span_id.is_none())
            .unwrap();
        let on_root = store
            .list_by_trace(trace.trace_id)
            .unwrap()
            .into_iter()
            .filter(|a| a.name().as_str() == "exact_match")
            .all(|a| a.span_id() == Some(root.span_id));
        assert!(on_root);
        // The expectation was not logged again.
        let expectations = store
            .list_by_trace(trace.trace_id)
            .unwrap()
            .into_iter()
            .filter(|a| a.kind() == Kind::Expectation)
            .count();
        assert_eq!(expectations, 1);
    }
    drop(store);

    // Run again: every trace judged by exact_match at its version is
    // skipped, and a gate on nothing scored fails, saying why.
    let out = verdict(
        dir.path(),
        &[
            "eval",
            "--traces",
            "store",
            "--scorer",
            "exact_match",
            "--store",
            "s.db",
            "--fail-under",
            "exact_match=0.5",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("3 of the 3 traces found skipped"),
        "{}",
        text(&out)
    );
    assert_eq!(feedback(&dir.path().join("s.db"), "exact_match")[0].2, 1);

    // --rescore, the newest only.
    let out = verdict(
        dir.path(),
        &[
            "eval",
            "--traces",
            "store",
            "--scorer",
            "exact_match",
            "--store",
            "s.db",
            "--rescore",
            "--limit",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let counts: Vec<_> = feedback(&dir.path().join("s.db"), "exact_match")
        .into_iter()
        .map(|(_, _, n)| n)
        .collect();
    assert_eq!(counts, [1, 1, 2]);

    // A window: only the second trace (started 1 s after the first).
    let out = verdict(
        dir.path(),
        &[
            "eval",
            "--traces",
            "store",
            "--scorer",
            "exact_match",
            "--store",
            "s.db",
            "--rescore",
            "--since",
            "2026-12-06T23:33:21Z",
            "--until",
            "2026-12-06T23:33:22Z",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let counts: Vec<_> = feedback(&dir.path().join("s.db"), "exact_match")
        .into_iter()
        .map(|(_, _, n)| n)
        .collect();
    assert_eq!(counts, [1, 2, 2]);

    // A scorer that reads the trace gets each stored trace's spans.
    let out = verdict(
        dir.path(),
        &[
            "eval",
            "--traces",
            "store",
            "--scorer",
            "span_status",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let values: Vec<_> = feedback(&dir.path().join("s.db"), "span_status")
        .into_iter()
        .map(|(_, v, _)| v)
        .collect();
    assert_eq!(values, [json!(true), json!(true), json!(true)]);

    // What cannot work is refused before anything runs.
    for (args, says) in [
        (
            vec!["--filter", "trace.name = 'answer'"],
            "--filter is MLflow's search language",
        ),
        (vec!["--since", "yesterdayish"], "--since \"yesterdayish\""),
    ] {
        let mut all = vec![
            "eval",
            "--traces",
            "store",
            "--scorer",
            "exact_match",
            "--store",
            "s.db",
        ];
        all.extend(args);
        let out = verdict(dir.path(), &all);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(says), "{}", text(&out));
    }
    let out = verdict(
        dir.path(),
        &[
            "eval",
            "traces.jsonl",
            "--traces",
            "store",
            "--scorer",
            "exact_match",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("cannot be used with"), "{}", text(&out));
}

/// Two traces made by MLflow's client, each with an expectation; the
/// first answers right, the second wrong.
const MAKE_TRACES: &str = r#"
import json, os
os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
import mlflow
mlflow.set_experiment("scored-in-place")

@mlflow.trace(span_type="AGENT")
def answer(question):
    with mlflow.start_span("lookup", span_type="TOOL") as span:
        span.set_inputs({"query": question})
        span.set_outputs("Paris")
    return "Paris"

ids = []
for question, expected in (("Capital of France?", "Paris"), ("Capital of Italy?", "Rome")):
    answer(question)
    tid = mlflow.get_last_active_trace_id()
    mlflow.log_expectation(trace_id=tid, name="expected_response", value=expected)
    ids.append(tid)
print(json.dumps({"ids": ids, "experiment": mlflow.get_experiment_by_name("scored-in-place").experiment_id}))
"#;

/// What MLflow's client sees on each trace: its span count and its
/// assessments (name, value, valid).
const READ_BACK: &str = r#"
import json, sys, mlflow
out = []
for tid in sys.argv[1:]:
    trace = mlflow.get_trace(tid)
    out.append({
        "spans": len(trace.data.spans),
        "assessments": [
            {"name": a.name, "value": a.value, "kind": type(a).__name__,
             "version": (a.metadata or {}).get("verdict.scorer.version")}
            for a in trace.info.assessments
        ],
    })
print(json.dumps(out))
"#;

#[test]
fn an_mlflow_experiments_traces_are_scored_and_the_feedback_goes_back_to_them() {
    let server = MlflowServer::start();
    let made = server.python(MAKE_TRACES, &[]);
    let ids: Vec<&str> = made["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let experiment = made["experiment"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_verdict"))
            .args(["eval", "--traces", "mlflow", "--scorer", "exact_match"])
            .args(extra)
            .current_dir(dir.path())
            .env("MLFLOW_TRACKING_URI", &server.url)
            .env("MLFLOW_EXPERIMENT_ID", experiment)
            .env_remove("MLFLOW_TRACKING_TOKEN")
            .env_remove("MLFLOW_TRACKING_USERNAME")
            .env_remove("MLFLOW_TRACKING_PASSWORD")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("2 records"), "{}", text(&out));

    // MLflow's client sees the feedback on each trace, judged against the
    // expectation the trace held, which is not duplicated; the spans are
    // not sent again.
    let seen = server.python(READ_BACK, &ids);
    let expected = [true, false];
    for (trace, right) in seen.as_array().unwrap().iter().zip(expected) {
        assert_eq!(trace["spans"], 2, "{seen}");
        let assessments = trace["assessments"].as_array().unwrap();
        let named = |name: &str| {
            assessments
                .iter()
                .filter(|a| a["name"] == name)
                .collect::<Vec<_>>()
        };
        assert_eq!(named("expected_response").len(), 1, "{seen}");
        let feedback = named("exact_match");
        assert_eq!(feedback.len(), 1, "{seen}");
        assert_eq!(feedback[0]["value"], right, "{seen}");
        assert_eq!(feedback[0]["kind"], "Feedback");
        assert!(feedback[0]["version"].is_string(), "{seen}");
    }

    // What was read from MLflow is MLflow's already: pushing the store to
    // the same experiment sends none of it back (the expectation stays
    // one), nor the feedback the run delivered.
    let push = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["push", "--to", "mlflow"])
        .current_dir(dir.path())
        .env("MLFLOW_TRACKING_URI", &server.url)
        .env("MLFLOW_EXPERIMENT_ID", experiment)
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .env_remove("MLFLOW_TRACKING_USERNAME")
        .env_remove("MLFLOW_TRACKING_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(push.status.code(), Some(0), "{}", text(&push));
    assert!(
        text(&push).contains("nothing new to push to mlflow")
            || text(&push).contains("pushed 0 spans and 0 assessments"),
        "{}",
        text(&push)
    );
    let seen = server.python(READ_BACK, &ids);
    for trace in seen.as_array().unwrap() {
        for name in ["expected_response", "exact_match"] {
            let count = trace["assessments"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["name"] == name)
                .count();
            assert_eq!(count, 1, "{name} after a push: {seen}");
        }
    }

    // Run again: MLflow holds the scorer's feedback at its version, so
    // nothing is scored again.
    let out = run(&[]);
    assert!(
        text(&out).contains("2 of the 2 traces found skipped"),
        "{}",
        text(&out)
    );
    let seen = server.python(READ_BACK, &ids);
    for trace in seen.as_array().unwrap() {
        let feedback = trace["assessments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["name"] == "exact_match")
            .count();
        assert_eq!(feedback, 1, "{seen}");
    }

    // MLflow's filter picks which traces; one it refuses is its refusal.
    let out = run(&["--rescore", "--filter", "trace.status = 'ERROR'"]);
    assert!(
        text(&out).contains("left no trace to score"),
        "{}",
        text(&out)
    );
    let out = run(&["--filter", "no such = syntax"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("refused"), "{}", text(&out));
}
