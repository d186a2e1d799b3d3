//! `verdict push --to mlflow` against a real MLflow 3.17.2 server, started
//! by `scripts/mlflow/start.sh` (installed into a cached virtualenv the
//! first time): the trace arrives with its spans, and the assessments as
//! the store holds them — the overridden feedback invalid on the server too;
//! a later push sends only what changed, deletes and updates included, read
//! back with MLflow's own Python client.

mod fixture;

#[allow(dead_code)] // shared with the export crate's tests; not all of it is used here
#[path = "../../verdict-export/tests/common/mlflow_server.rs"]
mod mlflow_server;

use std::process::Command;

use fixture::{Fixture, json, stdout};
use mlflow_server::MlflowServer;
use serde_json::Value;

/// `verdict push --to mlflow` of the store at `store`, to `server`'s
/// experiment 0, with no credentials from the environment.
fn push_to(server: &MlflowServer, store: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["push", "--to", "mlflow", "--store"])
        .arg(store)
        .env("MLFLOW_TRACKING_URI", &server.url)
        .env("MLFLOW_EXPERIMENT_ID", "0")
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .env_remove("MLFLOW_TRACKING_USERNAME")
        .env_remove("MLFLOW_TRACKING_PASSWORD")
        .output()
        .unwrap()
}

#[test]
fn the_store_replays_into_a_real_mlflow_server() {
    let server = MlflowServer::start();
    let f = Fixture::new();
    let overriding = json(&f.verdict(&[
        "override",
        &f.trace_id(),
        &f.feedback.to_string(),
        "true",
        "--rationale",
        "Lyon was accepted",
    ]));
    let push = || push_to(&server, &f.path);
    let summary = stdout(&push());
    assert!(
        summary.contains("pushed 3 spans and 3 assessments of 1 traces to mlflow"),
        "{summary}"
    );

    let (status, trace) = server.get(&format!("/api/3.0/mlflow/traces/{}", f.trace_id()));
    assert_eq!(status, 200, "{trace}");
    let assessments = trace["trace"]["trace_info"]["assessments"]
        .as_array()
        .unwrap_or_else(|| panic!("no assessments in {trace}"));
    let by_id = |id: &str| -> &Value {
        assessments
            .iter()
            .find(|a| a["assessment_id"] == id)
            .unwrap_or_else(|| panic!("{id} not on the server: {trace}"))
    };
    let old = by_id(&f.feedback.to_string());
    assert_eq!(old["valid"], false, "{old}");
    assert_eq!(old["feedback"]["value"], false);
    let new = by_id(overriding["assessment_id"].as_str().unwrap());
    assert_eq!(new["overrides"], f.feedback.to_string());
    assert_eq!(new["source"]["source_type"], "HUMAN");
    assert_ne!(new["valid"], false, "{new}");
    let expectation = by_id(&f.expectation.to_string());
    assert_eq!(expectation["expectation"]["value"], "Paris");

    // The spans arrived over OTLP: the server returns them as the MLflow
    // UI reads them, names and parents intact.
    let (status, data) = server.get(&format!(
        "/ajax-api/3.0/mlflow/get-trace-artifact?request_id={}",
        f.trace_id()
    ));
    assert_eq!(status, 200, "{data}");
    let spans = data["spans"].as_array().unwrap();
    let mut names: Vec<&str> = spans.iter().map(|s| s["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["generate", "handle_request", "retrieve"], "{data}");
    let generate = spans.iter().find(|s| s["name"] == "generate").unwrap();
    assert_eq!(generate["status"]["code"], "STATUS_CODE_ERROR");
    assert_eq!(generate["status"]["message"], "model timed out");

    // Changed locally since: the override deleted (the feedback it
    // replaced is valid again), the expectation corrected.
    let new_id = overriding["assessment_id"].as_str().unwrap();
    stdout(&f.verdict(&["delete", &f.trace_id(), new_id]));
    f.store()
        .update(
            &verdict::AssessmentUpdate::builder(f.trace, f.expectation)
                .expectation("Paris, France")
                .build()
                .unwrap(),
        )
        .unwrap();
    let summary = stdout(&push());
    assert!(
        summary.contains(
            "pushed 0 spans and 0 assessments of 1 traces to mlflow, with 1 updates and 1 deletes"
        ),
        "{summary}"
    );
    let seen = read_back(&server, &f.trace_id());
    let ids: Vec<&str> = seen.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert!(
        !ids.contains(&new_id),
        "the deleted override is gone: {seen:?}"
    );
    let old = seen
        .iter()
        .find(|a| a["id"] == f.feedback.to_string())
        .unwrap();
    assert_eq!(old["valid"], true, "valid again: {seen:?}");
    let expectation = seen
        .iter()
        .find(|a| a["id"] == f.expectation.to_string())
        .unwrap();
    assert_eq!(expectation["value"], "Paris, France", "{seen:?}");

    let summary = stdout(&push());
    assert!(
        summary.contains("nothing new to push to mlflow"),
        "{summary}"
    );
}

/// The trace's assessments as MLflow's Python client reads them:
/// `mlflow.get_trace(id).info.assessments`.
fn read_back(server: &MlflowServer, trace: &str) -> Vec<Value> {
    let seen = server.python(
        "import json, sys, mlflow\n\
         t = mlflow.get_trace(sys.argv[1])\n\
         print(json.dumps([{'id': a.assessment_id, 'valid': a.valid, 'value': \
         (a.expectation.value if a.expectation else a.feedback.value)} \
         for a in t.info.assessments]))",
        &[trace],
    );
    seen.as_array().unwrap().clone()
}

/// A push of an evaluation MLflow never saw: every trace is created in one
/// request, with its assessments, and none is read on its own first — the
/// traces of a chunk are read together, in one request (the server's
/// access log, before anything reads the traces back).
#[test]
fn traces_mlflow_never_saw_are_read_together_then_created_one_request_each() {
    let server = MlflowServer::start();
    let dir = tempfile::tempdir().unwrap();
    let qa = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/qa.jsonl"),
    )
    .unwrap();
    let data = dir.path().join("qa5.jsonl");
    std::fs::write(&data, qa.lines().take(5).collect::<Vec<_>>().join("\n")).unwrap();
    let results = dir.path().join("results.json");
    let store = dir.path().join("s.db");
    let eval = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["eval", data.to_str().unwrap(), "--scorer", "exact_match"])
        .arg("--store")
        .arg(&store)
        .arg("--json")
        .arg(&results)
        .output()
        .unwrap();
    assert!(
        eval.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let push = || push_to(&server, &store);
    let summary = stdout(&push());
    assert!(summary.contains("of 5 traces to mlflow"), "{summary}");

    let log = std::fs::read_to_string(server.dir().join("server.log")).unwrap();
    let count = |request: &str| log.lines().filter(|l| l.contains(request)).count();
    assert_eq!(
        (
            count("GET /api/3.0/mlflow/traces/tr-"),
            count("POST /api/3.0/mlflow/traces/batchGetInfos "),
            count("POST /api/3.0/mlflow/traces "),
        ),
        (0, 1, 5),
        "{log}"
    );

    let results: Value = serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    for record in results["records"].as_array().unwrap() {
        let trace_id = record["trace_id"].as_str().unwrap();
        let seen = read_back(&server, trace_id);
        assert_eq!(seen.len(), 3, "{trace_id}: {seen:?}");
        assert!(
            seen.iter()
                .any(|a| a["value"] == record["results"]["exact_match"]["value"]),
            "{trace_id}: {seen:?}"
        );
        assert!(
            seen.iter()
                .any(|a| a["value"] == record["expectations"]["expected_response"]),
            "{trace_id}: {seen:?}"
        );
    }
    let summary = stdout(&push());
    assert!(
        summary.contains("nothing new to push to mlflow"),
        "{summary}"
    );
}
