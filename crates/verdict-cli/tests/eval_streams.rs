//! `verdict eval` reading its dataset from a stream — a FIFO, standard
//! input (`-` and `/dev/stdin`), a process substitution (`/dev/fd/N`) —
//! with thousands of records: every record is scored, once. The real
//! binary, real pipes and FIFOs.
//!
//! A dataset opened twice (once to tell its format) loses what the first
//! opening read from a pipe, and a FIFO opened a second time waits for a
//! writer that has gone: each test here has a watchdog, so that such a
//! hang fails instead of blocking the suite.

mod common;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::text_of;

/// More than a pipe's buffer (64 KiB) and than the first chunk of a run.
const RECORDS: usize = 5_000;

/// Long enough for any machine; reached only by a hang.
const WATCHDOG: Duration = Duration::from_secs(120);

/// `RECORDS` records, each with its own input; a third answered right.
fn dataset() -> String {
    let mut text = String::new();
    for i in 0..RECORDS {
        let output = if i % 3 == 0 { "a" } else { "b" };
        writeln!(
            text,
            r#"{{"inputs": "question {i}", "outputs": "{output}", "expectations": {{"expected_response": "a"}}}}"#
        )
        .unwrap();
    }
    text
}

/// `verdict eval DATA` with exact match into `s.db`, in `dir`, its output
/// captured.
fn eval(dir: &Path, data: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_verdict"));
    command
        .args(["eval", data, "--scorer", "exact_match", "--store", "s.db"])
        .current_dir(dir)
        .env_remove("VERDICT_PLUGIN_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits for the child, killing it if it outlives the watchdog.
fn finish(mut child: Child) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > WATCHDOG {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "verdict eval hung on its dataset; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Asserts the run scored every record, once: its summary and the run
/// the store lists.
fn assert_every_record_scored(dir: &Path, out: &Output) {
    let (code, stdout, stderr) = text_of(out);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(" · {RECORDS} records · ")),
        "{stdout}"
    );
    let runs = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["runs", "--json", "--store", "s.db"])
        .current_dir(dir)
        .output()
        .unwrap();
    let (code, runs, stderr) = text_of(&runs);
    assert_eq!(code, 0, "{stderr}");
    let run: serde_json::Value = serde_json::from_str(runs.lines().next().unwrap()).unwrap();
    assert_eq!(run["records"], RECORDS, "{run}");
    assert_eq!(run["invalid"], 0, "{run}");
    let exact = &run["summary"]["scorers"][0];
    assert_eq!(exact["passed"], RECORDS.div_ceil(3), "{exact}");
}

#[test]
fn a_fifo_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let fifo: PathBuf = dir.path().join("data.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo failed");
    let writer = {
        let fifo = fifo.clone();
        // Blocks until the binary opens the FIFO to read.
        std::thread::spawn(move || std::fs::write(&fifo, dataset()))
    };
    let child = eval(dir.path(), "data.fifo").spawn().unwrap();
    let out = finish(child);
    if !writer.is_finished() {
        // The binary never read it: let the writer go before failing.
        drop(std::fs::File::open(&fifo));
    }
    writer.join().unwrap().unwrap();
    assert_every_record_scored(dir.path(), &out);
}

#[test]
fn standard_input_is_read_whole_as_dash_and_as_dev_stdin() {
    for data in ["-", "/dev/stdin"] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = eval(dir.path(), data)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(dataset().as_bytes()));
        let out = finish(child);
        writer.join().unwrap().unwrap();
        assert_every_record_scored(dir.path(), &out);
    }
}

#[test]
fn a_process_substitution_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.jsonl"), dataset()).unwrap();
    // bash hands the binary /dev/fd/N, the read end of a pipe from `cat`.
    let child = Command::new("bash")
        .args([
            "-c",
            r#"exec "$0" eval <(cat data.jsonl) --scorer exact_match --store s.db"#,
            env!("CARGO_BIN_EXE_verdict"),
        ])
        .current_dir(dir.path())
        .env_remove("VERDICT_PLUGIN_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(child);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("/dev/fd/"),
        "not read through /dev/fd: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_every_record_scored(dir.path(), &out);
}

#[test]
fn a_csv_through_a_pipe_is_told_from_its_first_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("inputs,outputs,expectations\n");
    for i in 0..RECORDS {
        let output = if i % 3 == 0 { "a" } else { "b" };
        writeln!(
            text,
            r#"question {i},{output},"{{""expected_response"": ""a""}}""#
        )
        .unwrap();
    }
    let mut child = eval(dir.path(), "-").stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = finish(child);
    writer.join().unwrap().unwrap();
    assert_every_record_scored(dir.path(), &out);
}
