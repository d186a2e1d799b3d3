//! `verdict eval` stopped by a signal: SIGINT, SIGTERM and SIGHUP stop the
//! run cleanly, and kill -9 leaves a run that reads as interrupted; either
//! way `verdict runs` lists it with what it stored, it is never a
//! baseline, and `verdict prune --unfinished` removes it. The real binary,
//! fed through a pipe so that the signal arrives mid-run, and real signals
//! sent with kill(1).

#![cfg(unix)]
mod common;

use common::verdict_in as verdict;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use verdict_export::{LocalStore, RunStatus};

/// Long enough for any machine; reached only by a hang.
const WATCHDOG: Duration = Duration::from_secs(120);

fn records(range: std::ops::Range<usize>) -> String {
    let mut text = String::new();
    for i in range {
        writeln!(
            text,
            r#"{{"inputs": "question {i}", "outputs": "a", "expectations": {{"expected_response": "a"}}}}"#
        )
        .unwrap();
    }
    text
}

/// `verdict eval -` into `dir/s.db`, fed the first records, and running
/// once the store shows what it has stored of them.
fn start(dir: &Path) -> (Child, ChildStdin) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["eval", "-", "--scorer", "exact_match", "--store", "s.db"])
        .current_dir(dir)
        .env_remove("VERDICT_PLUGIN_PATH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(records(0..3000).as_bytes()).unwrap();
    stdin.flush().unwrap();
    // Running, with its first chunk stored; the rest of the data has not
    // been written yet, so it cannot have finished.
    let started = Instant::now();
    loop {
        let stored = LocalStore::open(dir.join("s.db"))
            .ok()
            .and_then(|s| s.runs().ok())
            .and_then(|runs| runs.first().map(|r| (r.status, r.records)));
        if let Some((RunStatus::Running, n)) = stored
            && n > 0
        {
            break;
        }
        assert!(
            started.elapsed() < WATCHDOG,
            "the run never stored: {stored:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, stdin)
}

fn kill(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Bytes written to a pipe and not yet read from it (Linux answers
/// `FIONREAD` on either end of a pipe).
fn unread(stdin: &ChildStdin) -> usize {
    use std::os::fd::AsRawFd as _;
    let mut bytes: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid.
    let result = unsafe { libc::ioctl(stdin.as_raw_fd(), libc::FIONREAD, &mut bytes) };
    assert_eq!(result, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    usize::try_from(bytes).unwrap()
}

/// Writes more records (so that the run reads on and sees the signal, and
/// does not finish on its own), then closes its input.
fn feed_more(mut stdin: ChildStdin) {
    // A run that has stopped reading closes the pipe: not an error here.
    let _ = stdin.write_all(records(3000..20_000).as_bytes());
    drop(stdin);
}

fn wait(mut child: Child) -> (Option<i32>, String) {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > WATCHDOG {
            child.kill().unwrap();
            panic!("the run did not stop");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The run the store holds, checked to be interrupted with every record
/// it says it stored there to read; returns its reason.
fn interrupted(dir: &Path) -> String {
    let store = LocalStore::open(dir.join("s.db")).unwrap();
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.status, RunStatus::Interrupted, "{run:?}");
    assert!(run.records >= 512 && run.records < 20_000, "{run:?}");
    assert_eq!(store.list_traces().unwrap().len() as u64, run.records);
    // Listed, and never a baseline.
    let (code, listed, _) = verdict(dir, &["runs", "--store", "s.db"]);
    assert_eq!(code, 0);
    assert!(listed.contains("INT"), "{listed}");
    let (code, _, _) = verdict(
        dir,
        &[
            "eval",
            "-",
            "--scorer",
            "exact_match",
            "--store",
            "s.db",
            "--baseline",
            "latest",
        ],
    );
    assert_eq!(code, 2, "an interrupted run is no baseline");
    run.reason.clone().unwrap()
}

#[test]
fn sigint_sigterm_and_sighup_stop_the_run_cleanly_and_record_the_stop() {
    for (signal, number, name) in [
        ("INT", 2, "SIGINT"),
        ("TERM", 15, "SIGTERM"),
        ("HUP", 1, "SIGHUP"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (child, stdin) = start(dir.path());
        kill(&child, signal);
        feed_more(stdin);
        let (code, stderr) = wait(child);
        assert_eq!(code, Some(128 + number), "{signal}: {stderr}");
        assert!(
            stderr.contains(&format!("interrupted by {name}")),
            "{stderr}"
        );
        assert!(stderr.contains("listed as interrupted"), "{stderr}");
        let reason = interrupted(dir.path());
        assert!(reason.contains(name), "{reason}");
    }
}

#[test]
fn a_run_killed_with_sigkill_is_listed_as_interrupted_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let (child, stdin) = start(dir.path());
    kill(&child, "KILL");
    feed_more(stdin);
    let (code, _) = wait(child);
    assert_eq!(code, None, "killed by the signal");
    let reason = interrupted(dir.path());
    assert!(reason.contains("ended without finishing"), "{reason}");

    let (code, out, _) = verdict(dir.path(), &["prune", "--unfinished", "--store", "s.db"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("removed 1 run"), "{out}");
    let store = LocalStore::open(dir.path().join("s.db")).unwrap();
    assert!(store.runs().unwrap().is_empty());
    assert!(store.list_traces().unwrap().is_empty());
}

#[test]
fn a_signal_stops_a_run_whose_dataset_gives_nothing_more_and_keeps_what_was_read() {
    // Ten records, and the writer of the pipe stays: the reader waits
    // forever for the eleventh. Ctrl-C must still stop the run, with the
    // ten scored and stored.
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["eval", "-", "--scorer", "exact_match", "--store", "s.db"])
        .current_dir(dir.path())
        .env_remove("VERDICT_PLUGIN_PATH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(records(0..10).as_bytes()).unwrap();
    stdin.flush().unwrap();
    // Running: its row is in the store.
    let started = Instant::now();
    while LocalStore::open(dir.path().join("s.db"))
        .ok()
        .and_then(|s| s.runs().ok())
        .is_none_or(|r| r.is_empty())
    {
        assert!(started.elapsed() < WATCHDOG, "the run never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // And it has read the ten: the pipe holds nothing more (a signal
    // before that would stop a run that had read nothing, rightly keeping
    // nothing).
    while unread(&stdin) > 0 {
        assert!(started.elapsed() < WATCHDOG, "the run never read its input");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(&child, "INT");
    let (code, stderr) = wait(child);
    drop(stdin);
    assert_eq!(code, Some(130), "{stderr}");
    let store = LocalStore::open(dir.path().join("s.db")).unwrap();
    let run = &store.runs().unwrap()[0];
    assert_eq!(run.status, RunStatus::Interrupted);
    assert_eq!(run.records, 10, "the ten read are scored and kept");
}

#[test]
fn a_run_started_with_nohup_outlives_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("nohup")
        .args([
            env!("CARGO_BIN_EXE_verdict"),
            "eval",
            "-",
            "--scorer",
            "exact_match",
            "--store",
            "s.db",
        ])
        .current_dir(dir.path())
        .env_remove("VERDICT_PLUGIN_PATH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(records(0..3000).as_bytes()).unwrap();
    stdin.flush().unwrap();
    // Running (so nohup has handed over, SIGHUP ignored): its row is in
    // the store.
    let started = Instant::now();
    while LocalStore::open(dir.path().join("s.db"))
        .ok()
        .and_then(|s| s.runs().ok())
        .is_none_or(|r| r.is_empty())
    {
        assert!(started.elapsed() < WATCHDOG, "the run never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(&child, "HUP");
    feed_more(stdin);
    let (code, stderr) = wait(child);
    assert_eq!(code, Some(0), "{stderr}");
    let store = LocalStore::open(dir.path().join("s.db")).unwrap();
    assert_eq!(store.runs().unwrap()[0].status, RunStatus::Passed);
}

#[test]
fn a_signal_stops_a_run_whose_destination_keeps_failing_without_waiting_out_its_retries() {
    // An MLflow server that is up (its health check answers) and refuses
    // everything else with 503: each request would be retried for two
    // minutes. A SIGTERM must end the run in seconds, not after them.
    let server = verdict_export::testing::HttpStub::start(|request| {
        if request.path.starts_with("/health") {
            (200, b"OK".to_vec())
        } else {
            (503, b"busy".to_vec())
        }
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("qa.jsonl"), records(0..5)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args([
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--export",
            "mlflow",
        ])
        .args(["--store", "s.db"])
        .current_dir(dir.path())
        .env_remove("VERDICT_PLUGIN_PATH")
        .env("MLFLOW_TRACKING_URI", server.url())
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .env_remove("MLFLOW_TRACKING_USERNAME")
        .env_remove("MLFLOW_TRACKING_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Retrying: the server has been asked more than the health check.
    let started = Instant::now();
    while server.requests().len() < 3 {
        assert!(
            started.elapsed() < WATCHDOG,
            "the run never reached the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(&child, "TERM");
    let signalled = Instant::now();
    let (code, stderr) = wait(child);
    assert_eq!(code, Some(128 + 15), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    // Well inside the two minutes a request's retries may take.
    assert!(
        signalled.elapsed() < Duration::from_secs(60),
        "stopped {:?} after the signal: {stderr}",
        signalled.elapsed()
    );
}
