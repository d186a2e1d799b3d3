//! `verdict eval --export phoenix` and `verdict push --to phoenix` against a
//! real Arize Phoenix server that takes an API key, configured only by
//! Phoenix's own variables (`PHOENIX_COLLECTOR_ENDPOINT`, `PHOENIX_API_KEY`,
//! `PHOENIX_PROJECT_NAME`); what arrived is read back through Phoenix's
//! REST API and, at the end, with its own Python client (`phoenix.client`),
//! from the same variables. A push sends
//! what Phoenix has not seen, a review's override and its delete included.

#[allow(dead_code)] // shared with the export crate's tests; not all of it is used here
#[path = "../../verdict-export/tests/common/phoenix_server.rs"]
mod phoenix_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use phoenix_server::PhoenixServer;
use serde_json::Value;

const KEY: &str = "verdict-cli-admin-secret-0123456789abcdef";
const PROJECT: &str = "qa evals";

/// Every Phoenix client variable a developer's shell might set, so that
/// only the ones a test names reach the command.
const PHOENIX_VARS: [&str; 11] = [
    "PHOENIX_ENDPOINT",
    "PHOENIX_COLLECTOR_ENDPOINT",
    "PHOENIX_BASE_URL",
    "PHOENIX_HOST",
    "PHOENIX_PORT",
    "PHOENIX_PROJECT",
    "PHOENIX_PROJECT_NAME",
    "PHOENIX_API_KEY",
    "PHOENIX_CLIENT_HEADERS",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
];

fn command(program: impl AsRef<std::ffi::OsStr>, dir: &Path, server: &PhoenixServer) -> Command {
    let mut command = Command::new(program);
    command.current_dir(dir);
    for var in PHOENIX_VARS {
        command.env_remove(var);
    }
    command
        .env("PHOENIX_COLLECTOR_ENDPOINT", &server.url)
        .env("PHOENIX_API_KEY", KEY)
        .env("PHOENIX_PROJECT_NAME", PROJECT);
    command
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn venv() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/phoenix/install.sh");
    let out = Command::new("bash").arg(script).output().unwrap();
    PathBuf::from(ok(&out).trim())
}

/// What Phoenix's Python client reads of the project: its spans, their
/// annotations, and the annotations of their traces, as JSON.
const READ_BACK: &str = r#"
import json, os
from phoenix.client import Client

client = Client()  # PHOENIX_COLLECTOR_ENDPOINT and PHOENIX_API_KEY, as Verdict read them
project = os.environ["PHOENIX_PROJECT_NAME"]
spans = client.spans.get_spans(project_identifier=project, limit=1000)
span_annotations = client.spans.get_span_annotations(
    spans=spans, project_identifier=project, limit=1000
)
trace_ids = sorted({s["context"]["trace_id"] for s in spans})
trace_annotations = client._client.get(
    f"v1/projects/{project}/trace_annotations",
    params={"trace_ids": trace_ids, "limit": 1000},
).raise_for_status().json()["data"]
print(json.dumps({
    "spans": spans,
    "span_annotations": span_annotations,
    "trace_annotations": trace_annotations,
}, default=str))
"#;

/// The same, through Phoenix's REST API (faster: the Python client takes
/// seconds to import).
fn read_back_rest(server: &PhoenixServer) -> Value {
    let spans = server.spans(PROJECT);
    let ids = |what: &str| -> Vec<String> {
        let mut ids: Vec<String> = spans
            .iter()
            .map(|s| s["context"][what].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    serde_json::json!({
        "span_annotations": server.annotations(PROJECT, "span", &ids("span_id")),
        "trace_annotations": server.annotations(PROJECT, "trace", &ids("trace_id")),
        "spans": spans,
    })
}

fn read_back(dir: &Path, server: &PhoenixServer) -> Value {
    let out = command(venv().join("bin/python"), dir, server)
        .args(["-c", READ_BACK])
        .output()
        .unwrap();
    serde_json::from_str(&ok(&out)).unwrap()
}

/// One server for both (starting one takes most of the time).
#[test]
fn phoenix_by_its_own_variables() {
    let server = PhoenixServer::start_with(Some(KEY));
    a_wrong_key_is_reported_within_seconds_and_the_run_completes_locally(&server);
    an_evaluation_reaches_phoenix_as_spans_and_annotations_and_a_push_adds_nothing_twice(&server);
}

fn an_evaluation_reaches_phoenix_as_spans_and_annotations_and_a_push_adds_nothing_twice(
    server: &PhoenixServer,
) {
    let dir = tempfile::tempdir().unwrap();
    let qa = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/qa.jsonl"),
    )
    .unwrap();
    let data = dir.path().join("qa5.jsonl");
    std::fs::write(&data, qa.lines().take(5).collect::<Vec<_>>().join("\n")).unwrap();
    let results = dir.path().join("results.json");
    let out = command(env!("CARGO_BIN_EXE_verdict"), dir.path(), server)
        .args(["eval", data.to_str().unwrap(), "--scorer", "exact_match"])
        .args(["--export", "phoenix", "--json"])
        .arg(&results)
        .output()
        .unwrap();
    ok(&out);
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    let records = results["records"].as_array().unwrap();
    assert_eq!(records.len(), 5);

    let check = |back: &Value| {
        let spans = back["spans"].as_array().unwrap();
        assert_eq!(spans.len(), 5, "one span a record: {spans:#?}");
        let span_annotations = back["span_annotations"].as_array().unwrap();
        let trace_annotations = back["trace_annotations"].as_array().unwrap();
        // A feedback and two expectations a record, all on its root span
        // (as mlflow.genai.evaluate logs them).
        assert_eq!(span_annotations.len(), 15, "{span_annotations:#?}");
        assert!(trace_annotations.is_empty(), "{trace_annotations:#?}");
        for record in records {
            let trace = record["trace_id"].as_str().unwrap();
            let trace = trace.strip_prefix("tr-").unwrap_or(trace);
            let span = spans
                .iter()
                .find(|s| s["context"]["trace_id"] == trace)
                .unwrap_or_else(|| panic!("no span of {trace}: {spans:#?}"));
            let span_id = span["context"]["span_id"].as_str().unwrap();
            assert_eq!(span["span_kind"], "CHAIN", "{span:#}");
            let feedback = span_annotations
                .iter()
                .find(|a| a["span_id"] == span_id && a["name"] == "exact_match")
                .unwrap_or_else(|| panic!("no annotation on {span_id}: {span_annotations:#?}"));
            let result = &record["results"]["exact_match"];
            let pass = result["value"].as_bool().unwrap();
            assert_eq!(feedback["name"], "exact_match");
            assert_eq!(feedback["annotator_kind"], "CODE");
            assert_eq!(
                feedback["result"]["label"],
                if pass { "pass" } else { "fail" }
            );
            assert_eq!(feedback["result"]["score"], if pass { 1.0 } else { 0.0 });
            assert_eq!(feedback["result"]["explanation"], result["rationale"]);
            assert_eq!(
                feedback["metadata"]["mlflow.assessment.sourceRunId"],
                results["summary"]["run_id"]
            );
            // Ground truth: an annotation of the expectation's name.
            let expected = span_annotations
                .iter()
                .find(|a| a["span_id"] == span_id && a["name"] == "expected_response")
                .unwrap_or_else(|| panic!("no expectation on {span_id}: {span_annotations:#?}"));
            assert_eq!(expected["annotator_kind"], "HUMAN");
            assert_eq!(
                expected["result"]["label"],
                record["expectations"]["expected_response"]
            );
            assert!(expected["metadata"]["verdict"]["expectation"].is_object());
        }
    };
    let after_eval = read_back_rest(server);
    check(&after_eval);

    let verdict = |args: &[&str]| {
        let out = command(env!("CARGO_BIN_EXE_verdict"), dir.path(), server)
            .args(args)
            .output()
            .unwrap();
        ok(&out)
    };
    let ids = |back: &Value, what: &str| {
        let mut ids: Vec<String> = back[what]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };

    // The evaluation's export was recorded: a push finds nothing new, and
    // one that sends everything again leaves the same annotations in
    // Phoenix, not copies.
    let summary = verdict(&["push", "--to", "phoenix"]);
    assert!(
        summary.contains("nothing new to push to phoenix"),
        "{summary}"
    );
    let summary = verdict(&["push", "--to", "phoenix", "--again"]);
    assert!(
        summary.contains("pushed 5 spans and 15 assessments of 5 traces to phoenix"),
        "{summary}"
    );
    let after_push = read_back_rest(server);
    check(&after_push);
    for what in ["span_annotations", "trace_annotations"] {
        assert_eq!(ids(&after_eval, what), ids(&after_push, what), "{what}");
    }

    // A review, pushed: the override replaces the scorer's feedback in
    // Phoenix, and deleting the override brings that feedback back.
    let trace = records[0]["trace_id"].as_str().unwrap();
    let span_of = |back: &Value| -> Vec<Value> {
        let span = back["spans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| Some(s["context"]["trace_id"].as_str().unwrap()) == trace.strip_prefix("tr-"))
            .unwrap()["context"]["span_id"]
            .clone();
        back["span_annotations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["span_id"] == span && a["metadata"]["verdict"]["expectation"].is_null())
            .cloned()
            .collect()
    };
    let scored = span_of(&after_push);
    assert_eq!(scored.len(), 1, "{scored:#?}");
    let feedback = scored[0]["identifier"].as_str().unwrap().to_owned();
    let passed = records[0]["results"]["exact_match"]["value"]
        .as_bool()
        .unwrap();
    let overriding: Value = serde_json::from_str(&verdict(&[
        "override",
        trace,
        &feedback,
        if passed { "false" } else { "true" },
        "--rationale",
        "reviewed",
        "--source-id",
        "reviewer",
    ]))
    .unwrap();
    let overriding = overriding["assessment_id"].as_str().unwrap();
    let summary = verdict(&["push", "--to", "phoenix"]);
    assert!(summary.contains("pushed"), "{summary}");
    let reviewed = span_of(&read_back_rest(server));
    assert_eq!(reviewed.len(), 1, "{reviewed:#?}");
    assert_eq!(reviewed[0]["identifier"], overriding);
    assert_eq!(reviewed[0]["annotator_kind"], "HUMAN");
    assert_eq!(reviewed[0]["result"]["explanation"], "reviewed");
    assert_eq!(
        reviewed[0]["result"]["label"],
        if passed { "fail" } else { "pass" }
    );

    verdict(&["delete", trace, overriding]);
    let summary = verdict(&["push", "--to", "phoenix"]);
    assert!(summary.contains("with 1 deletes"), "{summary}");
    // The end state, through Phoenix's own Python client too.
    let back = read_back(dir.path(), server);
    check(&back);
    let rest = read_back_rest(server);
    for what in ["span_annotations", "trace_annotations"] {
        assert_eq!(ids(&rest, what), ids(&back, what), "{what}");
    }
    let restored = span_of(&back);
    assert_eq!(restored.len(), 1, "{restored:#?}");
    assert_eq!(restored[0]["identifier"], feedback);
}

fn a_wrong_key_is_reported_within_seconds_and_the_run_completes_locally(server: &PhoenixServer) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("one.jsonl");
    std::fs::write(
        &data,
        r#"{"inputs": {"q": "2+2"}, "outputs": "4", "expectations": {"expected_response": "4"}}"#,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = command(env!("CARGO_BIN_EXE_verdict"), dir.path(), server)
        .env("PHOENIX_API_KEY", "not-the-key")
        .args(["eval", data.to_str().unwrap(), "--scorer", "exact_match"])
        .args(["--export", "phoenix"])
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(took.as_secs() < 10, "{took:?}");
    assert!(
        stderr.contains("PHOENIX_API_KEY") && stderr.contains("401"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-key"), "{stderr}");
    assert!(stderr.contains("verdict push"), "{stderr}");
}
