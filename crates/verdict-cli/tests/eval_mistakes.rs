//! `verdict eval` and `verdict runs` given what a first user gives them:
//! each test here failed before its fix.

use std::path::Path;
use std::process::{Command, Output};

const VERDICT: &str = env!("CARGO_BIN_EXE_verdict");

const GOOD: &str =
    r#"{"inputs": "q", "outputs": "Paris", "expectations": {"expected_response": "Paris"}}"#;

fn verdict(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(VERDICT)
        .args(args)
        .current_dir(dir)
        .env_remove("VERDICT_PLUGIN_PATH")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_os_error_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = verdict(
        dir.path(),
        &["eval", "missing.jsonl", "--scorer", "exact_match"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot read the dataset missing.jsonl"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
}

#[test]
fn runs_with_a_mistyped_store_makes_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = verdict(dir.path(), &["runs", "--store", "verdcit.db"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("there is no local store"), "{stderr}");
    assert!(!dir.path().join("verdcit.db").exists());
}

#[test]
fn skipped_invalid_lines_are_listed_with_their_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("{GOOD}\n");
    for _ in 0..7 {
        text.push_str("{\"inputs\": \"q\"}\n");
    }
    std::fs::write(dir.path().join("qa.jsonl"), text).unwrap();
    let (code, stdout, stderr) = verdict(
        dir.path(),
        &[
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--skip-invalid",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("1 record + 7 invalid"), "{stdout}");
    assert!(
        stdout.contains("invalid line 2: ") && stdout.contains("missing field `outputs`"),
        "{stdout}"
    );
    assert!(stdout.contains("invalid line 6: "), "{stdout}");
    assert!(
        !stdout.contains("invalid line 7: "),
        "five at most: {stdout}"
    );
    assert!(stdout.contains("and 2 more invalid"), "{stdout}");
}

#[test]
fn an_empty_dataset_warns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.jsonl"), "").unwrap();
    let (code, stdout, stderr) = verdict(
        dir.path(),
        &["eval", "empty.jsonl", "--scorer", "exact_match"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("warning: empty.jsonl holds no records"),
        "{stderr}"
    );
}

#[test]
fn a_number_without_a_criterion_does_not_say_true_passes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("qa.jsonl"), format!("{GOOD}\n")).unwrap();
    let (code, stdout, stderr) = verdict(dir.path(), &["eval", "qa.jsonl", "--scorer", "token_f1"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stdout.contains("true passes"), "{stdout}");
    assert!(
        stdout.contains("none for numbers (set threshold, max or pass_labels)"),
        "{stdout}"
    );
}

#[test]
fn export_jsonl_dash_writes_json_lines_to_stdout_and_the_table_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("qa.jsonl"), format!("{GOOD}\n")).unwrap();
    let (code, stdout, stderr) = verdict(
        dir.path(),
        &[
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--export",
            "jsonl:-",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!dir.path().join("-").exists(), "a file named - was made");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    // The record's span, its expectation and its feedback.
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(stderr.contains("stored as run-"), "{stderr}");
}

#[test]
fn a_damaged_store_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!(
            "{{\"inputs\": \"q{i}\", \"outputs\": \"a{}\", \"expectations\": {{\"expected_response\": \"a\"}}}}\n",
            i % 3
        ));
    }
    std::fs::write(dir.path().join("qa.jsonl"), text).unwrap();
    let eval = [
        "eval",
        "qa.jsonl",
        "--scorer",
        "exact_match",
        "--store",
        "s.db",
    ];
    for _ in 0..3 {
        let (code, _, stderr) = verdict(dir.path(), &eval);
        assert_eq!(code, 0, "{stderr}");
    }
    // Damage the second half of the file, page headers and all: what a
    // bad disk or a stray write leaves. The schema on page 1 is intact.
    let path = dir.path().join("s.db");
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 16 * 1024;
    let pages = bytes.len() / page;
    for p in pages / 2..pages {
        bytes[p * page..p * page + 16].fill(0xff);
    }
    std::fs::write(&path, &bytes).unwrap();

    let (code, stdout, stderr) = verdict(dir.path(), &eval);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("s.db is damaged"), "{stderr}");
    assert!(stderr.contains("start a new store"), "{stderr}");
    // Nothing was written to it but SQLite's own file header (its change
    // counter, which closing the connection may bump): every page after
    // the header's 100 bytes is as it was.
    let after = std::fs::read(&path).unwrap();
    let changed = after.iter().zip(&bytes).skip(100).position(|(a, b)| a != b);
    assert!(
        after.len() == bytes.len() && changed.is_none(),
        "nothing was written to it: {} bytes, was {}; first change at {changed:?}",
        after.len(),
        bytes.len()
    );
}

#[test]
fn an_mlflow_server_that_is_down_is_reported_at_once_and_the_run_is_kept() {
    // Nothing listens on this port: a port bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut data = String::new();
    for i in 0..50 {
        data.push_str(&format!(
            "{{\"inputs\": \"q{i}\", \"outputs\": \"a\", \"expectations\": {{\"expected_response\": \"a\"}}}}\n"
        ));
    }
    std::fs::write(dir.path().join("qa.jsonl"), data).unwrap();
    let mut child = Command::new(VERDICT)
        .args([
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--export",
            "mlflow",
            "--store",
            "s.db",
        ])
        .current_dir(dir.path())
        .env_remove("VERDICT_PLUGIN_PATH")
        .env("MLFLOW_TRACKING_URI", format!("http://127.0.0.1:{port}"))
        .env("MLFLOW_EXPERIMENT_ID", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A watchdog against a hang, far above the few seconds it takes: each
    // trace's retry budget (30 s) used to be spent in turn.
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("the run waited on a server that is down");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot be reached"), "{stderr}");
    assert!(stderr.contains("nothing was sent to it"), "{stderr}");
    assert!(stderr.contains("verdict push"), "{stderr}");
    // The run is whole in the local store, for push to send later.
    let (code, runs, _) = verdict(dir.path(), &["runs", "--store", "s.db"]);
    assert_eq!(code, 0);
    assert!(runs.contains("pass") && runs.contains("50"), "{runs}");
}
