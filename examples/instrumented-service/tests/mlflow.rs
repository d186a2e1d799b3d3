//! `VERDICT_EXPORT=mlflow`: against a real MLflow 3.17.2 server started by
//! `scripts/mlflow/start.sh`, the request's spans arrive over OTLP and the
//! inline check and the thumbs-down as assessments on its trace. A test
//! file of its own, because it sets the process's environment.

#[allow(dead_code)] // shared with the export crate's tests; not all of it is used here
#[path = "../../../crates/verdict-export/tests/common/mlflow_server.rs"]
mod mlflow_server;

mod common;

use common::{agent, post};
use instrumented_service::{Config, THUMBS_UP, start};
use mlflow_server::MlflowServer;
use serde_json::json;

#[test]
fn the_trace_and_both_feedbacks_reach_a_real_mlflow_server() {
    let server = MlflowServer::start();
    let spool = tempfile::tempdir().unwrap();
    // SAFETY: the only test of this binary, before any thread of ours reads
    // the environment.
    unsafe {
        std::env::set_var("VERDICT_EXPORT", "mlflow");
        std::env::set_var("MLFLOW_TRACKING_URI", &server.url);
        std::env::set_var("MLFLOW_EXPERIMENT_ID", "0");
        std::env::set_var("SERVICE_ADDR", "127.0.0.1:0");
        // The spool: a file of the test's own, not the example's.
        std::env::set_var("VERDICT_STORE", spool.path().join("verdict.db"));
    }
    let running = start(&Config::from_env().unwrap()).unwrap();
    let url = running.url();
    let agent = agent();
    let (status, asked) = post(
        &agent,
        &format!("{url}/ask"),
        &json!({"question": "What is the capital of Australia?"}),
    );
    assert_eq!(status, 200, "{asked}");
    let (status, thumbs) = post(
        &agent,
        &format!("{url}/feedback"),
        &json!({"trace_id": asked["trace_id"], "thumbs": "down", "user": "ana",
                "comment": "the capital is Canberra"}),
    );
    assert_eq!(status, 202, "{thumbs}");
    running.shutdown().unwrap();

    let trace_id = asked["trace_id"].as_str().unwrap();
    let (status, trace) = server.get(&format!("/api/3.0/mlflow/traces/{trace_id}"));
    assert_eq!(status, 200, "{trace}");
    let assessments = trace["trace"]["trace_info"]["assessments"]
        .as_array()
        .unwrap_or_else(|| panic!("no assessments: {trace}"));
    let named = |name: &str| {
        assessments
            .iter()
            .find(|a| a["assessment_name"] == name)
            .unwrap_or_else(|| panic!("no {name} on the server: {trace}"))
    };
    let check = named("length");
    assert_eq!(check["source"]["source_type"], "CODE");
    assert_eq!(check["span_id"], asked["span_id"]);
    let down = named(THUMBS_UP);
    assert_eq!(down["assessment_id"], thumbs["assessment_id"]);
    assert_eq!(down["feedback"]["value"], false);
    assert_eq!(down["source"]["source_id"], "ana");
    assert_eq!(down["rationale"], "the capital is Canberra");

    let (status, data) = server.get(&format!(
        "/ajax-api/3.0/mlflow/get-trace-artifact?request_id={trace_id}"
    ));
    assert_eq!(status, 200, "{data}");
    let names: Vec<&str> = data["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for name in ["POST /ask", "answer", "retrieve", "generate"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}
