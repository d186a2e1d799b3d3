//! `verdict eval --export mlflow` makes the evaluation an MLflow run, read
//! back with MLflow's own Python client (`tests/mlflow/side_by_side.py`)
//! from a real MLflow 3.17.2 server, and compared with what
//! `mlflow.genai.evaluate` writes for the same records; a run stopped by a
//! signal ends `KILLED`; a server that stops taking anything mid-run does
//! not change the local verdict.
//!
//! One server for the whole binary: its checks run inside one `#[test]`.

#[allow(dead_code)] // shared with the export crate's tests; not all of it is used here
#[path = "../../verdict-export/tests/common/mlflow_server.rs"]
mod mlflow_server;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mlflow_server::MlflowServer;
use serde_json::Value;
use verdict_export::testing::HttpStub;

/// The records both sides evaluate.
const RECORDS: usize = 5;

/// The gate the run is given, as the run's tag must say it.
const GATE: &str = "exact_match >= 0.2 AND `exact_match/errors` <= 0";

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    mlflow_server::mlflow_python()
}

/// `side_by_side.py ARGS` against the server: its JSON answer.
fn client(python: &Path, server: &MlflowServer, args: &[&str]) -> Value {
    let out = Command::new(python)
        .arg(manifest().join("tests/mlflow/side_by_side.py"))
        .args(args)
        .env("MLFLOW_TRACKING_URI", &server.url)
        .env_remove("MLFLOW_EXPERIMENT_ID")
        .output()
        .expect("run side_by_side.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "side_by_side.py {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default().trim();
    serde_json::from_str(last).unwrap_or_else(|_| Value::String(last.to_owned()))
}

fn verdict(server: &MlflowServer, dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_verdict"));
    command
        .current_dir(dir)
        .env("MLFLOW_TRACKING_URI", &server.url)
        .env("MLFLOW_EXPERIMENT_ID", "0")
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .env_remove("MLFLOW_TRACKING_USERNAME")
        .env_remove("MLFLOW_TRACKING_PASSWORD")
        .env_remove("VERDICT_PLUGIN_PATH");
    command
}

fn text_of(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn an_evaluation_is_an_mlflow_run_that_reads_back_as_mlflow_genai_evaluate_writes_it() {
    let server = MlflowServer::start();
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let qa = std::fs::read_to_string(manifest().join("../../examples/data/qa.jsonl")).unwrap();
    let data = dir.path().join("qa5.jsonl");
    std::fs::write(
        &data,
        qa.lines().take(RECORDS).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();

    // Verdict's run, then MLflow's own of the same records.
    let out = verdict(&server, dir.path())
        .args([
            "eval",
            "qa5.jsonl",
            "--scorer",
            "exact_match",
            "--export",
            "mlflow",
        ])
        .args(["--gate", GATE, "--json", "results.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    let summary = &results["summary"];
    let verdict_run = summary["run_id"].as_str().unwrap();
    let theirs_id = client(&python, &server, &["log", "0", data.to_str().unwrap()]);
    let theirs_id = theirs_id.as_str().unwrap();

    // mlflow.search_runs finds the run, with its params, metrics and tags.
    let runs = client(&python, &server, &["runs", "0"]);
    let run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == verdict_run)
        .unwrap_or_else(|| panic!("search_runs does not find {verdict_run}: {runs}"));
    let ours_id = run["run_id"].as_str().unwrap();
    assert_eq!(run["status"], "FINISHED", "{run}");
    assert_eq!(run["params"]["dataset"], "qa5.jsonl", "{run}");
    assert_eq!(run["params"]["scorers"], "exact_match", "{run}");
    assert_eq!(
        run["params"]["exact_match/pass_when"], "true passes",
        "{run}"
    );
    assert!(run["params"]["exact_match/config"].is_string(), "{run}");
    let stats = &summary["scorers"][0];
    let metric = |key: &str| run["metrics"][key].as_f64().unwrap_or(f64::NAN);
    assert_eq!(metric("exact_match/mean"), stats["mean"].as_f64().unwrap());
    assert_eq!(metric("exact_match/median"), stats["p50"].as_f64().unwrap());
    assert_eq!(metric("exact_match/errors"), 0.0);
    let pass_rate = stats["passed"].as_f64().unwrap() / RECORDS as f64;
    assert!(
        (metric("exact_match/pass_rate") - pass_rate).abs() < 1e-12,
        "{run}"
    );
    assert_eq!(run["tags"]["mlflow.runType"], "genai_evaluate", "{run}");
    assert_eq!(run["tags"]["verdict.run_id"], verdict_run, "{run}");
    assert_eq!(run["tags"]["verdict.gate"], GATE, "{run}");
    assert_eq!(run["tags"]["verdict.passed"], "true", "{run}");

    let ours = client(&python, &server, &["read", "0", ours_id]);
    let theirs = client(&python, &server, &["read", "0", theirs_id]);

    // search_traces(run_id=…) returns the evaluation's traces; trace.name
    // and the source run find them; each is named, typed, OK and timed.
    let traces = ours["traces"].as_array().unwrap();
    assert_eq!(traces.len(), RECORDS, "{ours}");
    let trace_ids: BTreeSet<String> = results["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["trace_id"].as_str().unwrap().to_owned())
        .collect();
    for trace in traces {
        let id = trace["spans"][0]["attributes"]["mlflow.traceRequestId"]
            .as_str()
            .unwrap();
        assert!(trace_ids.contains(id), "{id} is not one of the run's");
        assert_eq!(trace["name"], "verdict.eval.record", "{trace}");
        assert_eq!(trace["metadata"]["mlflow.sourceRun"], ours_id, "{trace}");
        let root = &trace["spans"][0];
        assert_eq!(root["span_type"], "CHAIN", "{trace}");
        assert_eq!(root["status"], "OK", "{trace}");
        assert!(root["lasts"].as_i64().unwrap() > 0, "{trace}");
        for a in trace["assessments"].as_array().unwrap() {
            assert_eq!(a["run_id"], ours_id, "{a}");
        }
    }
    assert_eq!(ours["searches"]["trace.name"], RECORDS, "{ours}");
    assert_eq!(
        ours["searches"]["metadata.mlflow.sourceRun"], RECORDS,
        "{ours}"
    );

    side_by_side(&ours, &theirs);
    a_run_stopped_by_a_signal_ends_killed(&server, &python);
    a_server_that_goes_away_mid_run_leaves_the_verdict_as_it_is(&server, &python);
}

/// What a user sees of Verdict's run and of MLflow's own, for the same
/// records: the same, but for the differences listed (and documented in
/// the README's MLflow section).
fn side_by_side(ours: &Value, theirs: &Value) {
    let (our_run, their_run) = (&ours["run"], &theirs["run"]);
    for key in ["status", "user_id", "ended"] {
        assert_eq!(our_run[key], their_run[key], "run {key}");
    }
    // Every metric MLflow logs, Verdict logs with the same value.
    for (key, value) in their_run["metrics"].as_object().unwrap() {
        assert_eq!(&our_run["metrics"][key], value, "metric {key}");
    }
    // Every run tag MLflow writes, but the digest of its scorers' Python
    // source and the git keys (Verdict reads the checkout of the working
    // directory; MLflow that of the script it runs).
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let missing: Vec<String> = keys(&their_run["tags"])
        .difference(&keys(&our_run["tags"]))
        .filter(|k| {
            *k != "mlflow.genaiEvaluate.scorersDigest" && !k.starts_with("mlflow.source.git.")
        })
        .cloned()
        .collect();
    assert!(missing.is_empty(), "run tags missing: {missing:?}");
    assert!(!our_run["datasets"].as_array().unwrap().is_empty());

    let by_request = |v: &Value| -> Vec<(String, Value)> {
        let mut traces: Vec<(String, Value)> = v["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["request_preview"].as_str().unwrap().to_owned(), t.clone()))
            .collect();
        traces.sort_by(|a, b| a.0.cmp(&b.0));
        traces
    };
    let (our_traces, their_traces) = (by_request(ours), by_request(theirs));
    assert_eq!(our_traces.len(), their_traces.len());
    for ((request, our), (their_request, their)) in our_traces.iter().zip(&their_traces) {
        assert_eq!(request, their_request);
        for key in ["state", "response_preview"] {
            assert_eq!(our[key], their[key], "{request}: {key}");
        }
        // Trace metadata: every key MLflow's client writes but the size
        // statistics, with the same values but where the run and program
        // are (its run id, its script).
        let missing: Vec<String> = keys(&their["metadata"])
            .difference(&keys(&our["metadata"]))
            .filter(|k| !k.starts_with("mlflow.trace.size"))
            .cloned()
            .collect();
        assert!(
            missing.is_empty(),
            "{request}: metadata missing {missing:?}"
        );
        for key in [
            "mlflow.traceInputs",
            "mlflow.traceOutputs",
            "mlflow.trace_schema.version",
            "mlflow.user",
            "mlflow.source.type",
        ] {
            assert_eq!(
                our["metadata"][key], their["metadata"][key],
                "{request}: {key}"
            );
        }
        // Trace tags: all but the id of MLflow's evaluation request.
        let missing: Vec<String> = keys(&their["tags"])
            .difference(&keys(&our["tags"]))
            .filter(|k| *k != "mlflow.eval.requestId")
            .cloned()
            .collect();
        assert!(
            missing.is_empty(),
            "{request}: trace tags missing {missing:?}"
        );
        // The root span: its type, status, inputs and outputs.
        let (our_root, their_root) = (&our["spans"][0], &their["spans"][0]);
        for key in ["span_type", "status", "inputs", "outputs", "is_root"] {
            assert_eq!(our_root[key], their_root[key], "{request}: span {key}");
        }
        assert!(our["root_lasts"].as_i64().unwrap() > 0, "{request}");
        // The assessments: the same names, kinds, values, sources,
        // rationales and places, each carrying its own side's run.
        let assessments = |t: &Value| t["assessments"].as_array().unwrap().clone();
        let (our_a, their_a) = (assessments(our), assessments(their));
        assert_eq!(our_a.len(), their_a.len(), "{request}");
        for (a, b) in our_a.iter().zip(&their_a) {
            for key in [
                "name",
                "kind",
                "value",
                "source_type",
                "rationale",
                "on_span",
                "valid",
            ] {
                assert_eq!(a[key], b[key], "{request}: {} {key}", b["name"]);
            }
            if b["kind"] == "feedback" {
                assert_eq!(a["source_id"], b["source_id"], "{request}");
            }
            assert_eq!(a["run_id"], our_run_id(ours), "{request}");
            assert_eq!(b["run_id"], our_run_id(theirs), "{request}");
        }
    }
    // The UI's filters find as many of each.
    assert_eq!(
        ours["searches"]["trace.name"],
        theirs["searches"]["trace.name"]
    );
}

/// The run id the traces of a `read` answer carry as their source run.
fn our_run_id(read: &Value) -> Value {
    read["traces"][0]["metadata"]["mlflow.sourceRun"].clone()
}

/// `verdict eval -` fed records through a pipe, interrupted by SIGINT once
/// the run has started: its MLflow run ends KILLED, with the reason.
fn a_run_stopped_by_a_signal_ends_killed(server: &MlflowServer, python: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = verdict(server, dir.path())
        .args(["eval", "-", "--scorer", "exact_match", "--store", "s.db"])
        .args(["--export", "mlflow"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..3000 {
        writeln!(
            stdin,
            r#"{{"inputs": "question {i}", "outputs": "a", "expectations": {{"expected_response": "a"}}}}"#
        )
        .unwrap();
    }
    stdin.flush().unwrap();
    // Running: its MLflow run exists and its first chunk is stored.
    let started = Instant::now();
    let running = loop {
        let runs = client(python, server, &["runs", "0"]);
        let stored = verdict_export::LocalStore::open(dir.path().join("s.db"))
            .ok()
            .and_then(|s| s.runs().ok())
            .and_then(|runs| runs.first().map(|r| (r.run_id.clone(), r.records)));
        if let Some((run_id, n)) = stored
            && n > 0
            && let Some(run) = runs
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == run_id.as_str())
        {
            break run["run_id"].as_str().unwrap().to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run never started: {runs}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(130), "{}", text_of(&out));
    let runs = client(python, server, &["runs", "0"]);
    let run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == running.as_str())
        .unwrap();
    assert_eq!(run["status"], "KILLED", "{run}");
    assert_eq!(run["tags"]["verdict.status"], "interrupted", "{run}");
    assert!(run["tags"]["verdict.error"].is_string(), "{run}");
}

/// A proxy in front of `upstream` that forwards every request until the
/// first link of traces to a run (the end of the first chunk's delivery)
/// has gone through, and from then on refuses everything for good (403, as
/// a gateway whose server was taken away might): the server is gone for
/// the rest of the run, and the client finds out without spending its
/// retry budget.
fn going_away_proxy(upstream: &str) -> HttpStub {
    let upstream = upstream.to_owned();
    let gone = Arc::new(AtomicBool::new(false));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    HttpStub::builder()
        .content_type("application/json")
        .start(move |request| {
            if gone.load(Ordering::SeqCst) {
                return (403, br#"{"error_code": "PERMISSION_DENIED"}"#.to_vec());
            }
            let url = format!("{upstream}{}", request.path);
            let forwarded = if request.method == "GET" {
                agent.get(&url).call()
            } else {
                let mut post = agent.post(&url);
                for (name, value) in &request.headers {
                    if name.starts_with("x-mlflow") || name == "content-type" {
                        post = post.header(name, value);
                    }
                }
                post.send(&request.body[..])
            };
            if request.path.ends_with("/traces/link-to-run") {
                gone.store(true, Ordering::SeqCst);
            }
            match forwarded {
                Ok(mut response) => (
                    response.status().as_u16(),
                    response.body_mut().read_to_vec().unwrap_or_default(),
                ),
                Err(e) => (502, e.to_string().into_bytes()),
            }
        })
        .unwrap()
}

/// Two chunks of records; the server goes away after the first. The run
/// completes in the local store with its verdict (the gate passes, as it
/// would have), exit 2 says a destination did not take everything, and
/// the MLflow run is left as it was rather than retried at the end.
fn a_server_that_goes_away_mid_run_leaves_the_verdict_as_it_is(
    server: &MlflowServer,
    python: &Path,
) {
    let dir = tempfile::tempdir().unwrap();
    let records = 4096 + 2;
    let mut text = String::new();
    for i in 0..records {
        let output = if i % 3 == 0 { "a" } else { "b" };
        text.push_str(&format!(
            "{{\"inputs\": \"q{i}\", \"outputs\": \"{output}\", \"expectations\": {{\"expected_response\": \"a\"}}}}\n"
        ));
    }
    std::fs::write(dir.path().join("qa.jsonl"), text).unwrap();
    let proxy = going_away_proxy(&server.url);
    let started = Instant::now();
    let out = verdict(server, dir.path())
        .env("MLFLOW_TRACKING_URI", proxy.url())
        .args([
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--store",
            "s.db",
        ])
        .args(["--export", "mlflow", "--gate", "exact_match >= 0.3"])
        .args(["--json", "results.json"])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let said = text_of(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("PASS"), "{said}");
    assert!(said.contains("was not ended"), "{said}");
    // Given up after the chunk it refused, not after a retry budget.
    assert!(elapsed < Duration::from_secs(100), "{elapsed:?}");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(results["summary"]["passed"], true);
    assert_eq!(results["summary"]["records"], records);
    let store = verdict_export::LocalStore::open(dir.path().join("s.db")).unwrap();
    let runs = store.runs().unwrap();
    assert_eq!(runs[0].records, records as u64);
    assert!(runs[0].status.is_finished(), "{:?}", runs[0]);
    // The MLflow run holds what arrived, and was not ended.
    let mlflow_runs = client(python, server, &["runs", "0"]);
    let run = mlflow_runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == runs[0].run_id.as_str())
        .unwrap_or_else(|| panic!("{mlflow_runs}"));
    assert_eq!(run["status"], "RUNNING", "{run}");
}
