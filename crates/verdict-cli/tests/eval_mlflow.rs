//! `verdict eval --export mlflow` against a real MLflow 3.17.2 server,
//! started by `scripts/mlflow/start.sh`: every record arrives as a trace
//! with its expectations and its feedback, which carries the id of the
//! MLflow run the evaluation is.

#[allow(dead_code)] // shared with the export crate's tests; not all of it is used here
#[path = "../../verdict-export/tests/common/mlflow_server.rs"]
mod mlflow_server;

use std::process::Command;

use mlflow_server::MlflowServer;
use serde_json::Value;

#[test]
fn every_record_reaches_mlflow_as_a_trace_with_its_assessments() {
    let server = MlflowServer::start();
    let dir = tempfile::tempdir().unwrap();
    let qa = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/qa.jsonl"),
    )
    .unwrap();
    let data = dir.path().join("qa5.jsonl");
    std::fs::write(&data, qa.lines().take(5).collect::<Vec<_>>().join("\n")).unwrap();
    let results = dir.path().join("results.json");
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args([
            "eval",
            data.to_str().unwrap(),
            "--scorer",
            "exact_match",
            "--export",
            "mlflow",
        ])
        .arg("--json")
        .arg(&results)
        .current_dir(dir.path())
        .env("MLFLOW_TRACKING_URI", &server.url)
        .env("MLFLOW_EXPERIMENT_ID", "0")
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .env_remove("MLFLOW_TRACKING_USERNAME")
        .env_remove("MLFLOW_TRACKING_PASSWORD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The run's own traces are new: each is created in one request, never
    // read first (the server's access log, before this test reads any).
    let log = std::fs::read_to_string(server.dir().join("server.log")).unwrap();
    let reads = log
        .lines()
        .filter(|l| l.contains("GET /api/3.0/mlflow/traces/tr-"))
        .count();
    let creates = log
        .lines()
        .filter(|l| l.contains("POST /api/3.0/mlflow/traces "))
        .count();
    assert_eq!((reads, creates), (0, 5), "{log}");

    let results: Value = serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    let run_id = results["summary"]["run_id"].as_str().unwrap();
    let records = results["records"].as_array().unwrap();
    assert_eq!(records.len(), 5);
    for record in records {
        let trace_id = record["trace_id"].as_str().unwrap();
        let (status, trace) = server.get(&format!("/api/3.0/mlflow/traces/{trace_id}"));
        assert_eq!(status, 200, "{trace}");
        let assessments = trace["trace"]["trace_info"]["assessments"]
            .as_array()
            .unwrap();
        let named = |name: &str| -> &Value {
            assessments
                .iter()
                .find(|a| a["assessment_name"] == name)
                .unwrap_or_else(|| panic!("no {name} on {trace_id}: {trace}"))
        };
        assert_eq!(
            named("expected_response")["expectation"]["value"],
            record["expectations"]["expected_response"]
        );
        let feedback = named("exact_match");
        assert_eq!(
            feedback["feedback"]["value"],
            record["results"]["exact_match"]["value"]
        );
        assert_eq!(feedback["source"]["source_type"], "CODE");
        // The feedback is the MLflow run's, which names Verdict's run.
        let mlflow_run = feedback["metadata"]["mlflow.assessment.sourceRunId"]
            .as_str()
            .unwrap();
        let (status, run) = server.get(&format!("/api/2.0/mlflow/runs/get?run_id={mlflow_run}"));
        assert_eq!(status, 200, "{run}");
        let tags = run["run"]["data"]["tags"].as_array().unwrap();
        assert!(
            tags.iter()
                .any(|t| t["key"] == "verdict.run_id" && t["value"] == run_id),
            "{run}"
        );
        // The record's span arrived over OTLP, with its inputs and outputs.
        let (status, data) = server.get(&format!(
            "/ajax-api/3.0/mlflow/get-trace-artifact?request_id={trace_id}"
        ));
        assert_eq!(status, 200, "{data}");
        let span = &data["spans"][0];
        assert_eq!(span["name"], "verdict.eval.record", "{data}");
        assert!(span.to_string().contains("mlflow.spanOutputs"), "{data}");
    }
}
