//! A reader that stops reading standard output (`| head`, `| true`)
//! never changes what a command did or its exit code: a failed `eval` still
//! exits 1, a `score` that could not score still exits 2, a `push` that
//! could not deliver still exits 1 and finishes every destination, a
//! `prune` still removes what it said it would. The real binary, its
//! standard output a pipe whose reader closed before it started.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{text_of, write_dataset};

/// Runs `verdict` in `dir` with standard output a pipe nobody reads: its
/// exit code and standard error.
fn closed_stdout(dir: &Path, args: &[&str]) -> (i32, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .current_dir(dir)
        .env_remove("VERDICT_PLUGIN_PATH")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let (code, _, stderr) = text_of(&out);
    (code, stderr)
}

/// Runs `verdict` in `dir` as usual.
fn verdict(dir: &Path, args: &[&str]) -> (i32, String, String) {
    common::verdict_in(dir, args)
}

/// The runs `verdict runs` lists in `v.db`: id and status.
fn runs(dir: &Path) -> Vec<(String, String)> {
    let (code, stdout, stderr) = verdict(dir, &["runs", "--store", "v.db"]);
    assert_eq!(code, 0, "{stderr}");
    stdout
        .lines()
        .skip(1)
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words[0].to_owned(), words[4].to_owned())
        })
        .collect()
}

const EVAL: &[&str] = &[
    "eval",
    "qa.jsonl",
    "--scorer",
    "exact_match",
    "--store",
    "v.db",
];

#[test]
fn a_failed_eval_exits_1_whoever_reads_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // A third of the records are right: a gate at 90 % fails.
    write_dataset(dir, 300);
    let failing = [EVAL, &["--fail-under", "exact_match=0.9"]].concat();
    let (code, stderr) = closed_stdout(dir, &failing);
    assert_eq!(code, 1, "{stderr}");
    // The same with a gate in MLflow's language, and with the summary
    // longer than a pipe holds (the worst records of a failed gate).
    let (code, stderr) = closed_stdout(dir, &[EVAL, &["--gate", "exact_match >= 0.9"]].concat());
    assert_eq!(code, 1, "{stderr}");
    // A run that passes: 0, as before.
    let (code, stderr) = closed_stdout(dir, EVAL);
    assert_eq!(code, 0, "{stderr}");
    let statuses: Vec<String> = runs(dir).into_iter().map(|(_, s)| s).collect();
    // Newest first.
    assert_eq!(statuses, ["pass", "FAIL", "FAIL"]);
}

#[test]
fn score_exits_2_when_it_could_not_score_whoever_reads_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // No expectation to compare with: not scored.
    let (code, stderr) = closed_stdout(
        dir,
        &["score", "--scorer", "exact_match", "--output", "Paris"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("could not score this record"), "{stderr}");
    let (code, stderr) = closed_stdout(
        dir,
        &[
            "score",
            "--scorer",
            "exact_match",
            "--output",
            "Paris",
            "--expected",
            "Lima",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
}

#[cfg(target_os = "linux")]
#[test]
fn push_exits_1_when_it_could_not_deliver_and_finishes_every_destination() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_dataset(dir, 300);
    let (code, stdout, stderr) = verdict(dir, EVAL);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // What a push writes to a file whose reader is there.
    let (code, stdout, stderr) = verdict(
        dir,
        &["push", "--to", "jsonl:whole.jsonl", "--store", "v.db"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let whole = std::fs::read_to_string(dir.join("whole.jsonl")).unwrap();
    // A destination that takes nothing (a full device), then a file.
    let (code, stderr) = closed_stdout(
        dir,
        &[
            "push",
            "--to",
            "jsonl:/dev/full",
            "--to",
            "jsonl:after.jsonl",
            "--store",
            "v.db",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("/dev/full"), "{stderr}");
    let after = std::fs::read_to_string(dir.join("after.jsonl")).unwrap();
    assert_eq!(after.lines().count(), whole.lines().count());
}

#[test]
fn prune_removes_what_it_names_whoever_reads_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_dataset(dir, 30);
    for _ in 0..2 {
        let (code, stdout, stderr) = verdict(dir, EVAL);
        assert_eq!(code, 0, "{stdout}{stderr}");
    }
    let listed = runs(dir);
    let older = &listed[1].0;
    let (code, stderr) = closed_stdout(dir, &["prune", "--run", older, "--store", "v.db"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(runs(dir), listed[..1]);
}

#[test]
fn listings_and_review_commands_still_exit_0_when_their_reader_goes() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_dataset(dir, 30);
    // A failed run lists its failed records with `verdict show tr-…`.
    let (code, stdout, stderr) = verdict(dir, &[EVAL, &["--fail-under", "exact_match=1"]].concat());
    assert_eq!(code, 1, "{stdout}{stderr}");
    let trace = stdout
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
        .find(|w| w.starts_with("tr-"))
        .unwrap_or_else(|| panic!("no trace in {stdout}"));
    for args in [
        &["runs", "--store", "v.db"][..],
        &["show", "--store", "v.db"],
        &["show", trace, "--store", "v.db"],
        &["scorers"],
        &["feedback", trace, "reviewed", "true", "--store", "v.db"],
    ] {
        let (code, stderr) = closed_stdout(dir, args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
    }
    // The feedback was logged.
    let (code, stdout, stderr) = verdict(dir, &["show", trace, "--store", "v.db", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"reviewed\""), "{stdout}");
}
