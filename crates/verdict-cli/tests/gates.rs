//! What a `--gate` passes on, run as a user runs it: the real binary, a
//! real dataset and store, exit codes. A gate never passes on a value it
//! did not measure exactly, nor by leaving records out.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::verdict_in;

/// `verdict eval data.jsonl --scorer SCORER --gate GATE --store v.db`.
fn gate(dir: &Path, scorer: &str, gate: &str) -> (i32, String, String) {
    verdict_in(
        dir,
        &[
            "eval",
            "data.jsonl",
            "--scorer",
            scorer,
            "--store",
            "v.db",
            "--gate",
            gate,
        ],
    )
}

/// The line a gate prints, by the start of its text.
fn gate_line<'a>(stdout: &'a str, gate: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(gate)))
        .unwrap_or_else(|| panic!("no gate {gate} in {stdout}"))
}

#[test]
fn a_quantile_past_4096_distinct_values_passes_only_when_its_whole_interval_does() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // Edit distances 1005 to 7004 (outputs of that many `a`s against
    // `b`): 6,000 distinct values, past the 4,096 kept exactly. numpy's
    // p90 of them is 6404.1, its median 4004.5.
    let mut data = String::new();
    for n in 1005..7005 {
        writeln!(
            data,
            r#"{{"inputs": "{n}", "outputs": "{}", "expectations": {{"expected_response": "b"}}}}"#,
            "a".repeat(n)
        )
        .unwrap();
    }
    std::fs::write(dir.join("data.jsonl"), data).unwrap();
    let distance = "edit_distance:report=distance";

    // The exact p90 is above 6400: the gate fails, and says the value is
    // an interval.
    let (code, stdout, stderr) = gate(dir, distance, "`edit_distance/p90` <= 6400");
    assert_eq!(code, 1, "{stdout}{stderr}");
    let line = gate_line(&stdout, "edit_distance/p90 ≤ 6400");
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(
        line.contains("between 6395 and 6405 over 6000 values")
            && line.contains("the gate passes only when the whole interval is on its side"),
        "{line}"
    );
    // The table marks it as approximate.
    assert!(stdout.contains("≈6400"), "{stdout}");

    // The whole interval is at or below 6405: the exact p90 is too.
    let (code, stdout, stderr) = gate(dir, distance, "`edit_distance/p90` <= 6405");
    assert_eq!(code, 0, "{stdout}{stderr}");
    // The exact p90 (6404.1) is above 6404, but the interval cannot say
    // so: a gate that cannot tell does not pass.
    let (code, stdout, stderr) = gate(dir, distance, "`edit_distance/p90` >= 6404");
    assert_eq!(code, 1, "{stdout}{stderr}");
    // The median too: 4004.5 is not at most 4004.
    let (code, stdout, stderr) = gate(dir, distance, "`edit_distance/median` <= 4004");
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        gate_line(&stdout, "edit_distance/median ≤ 4004").contains("between 3995 and 4005"),
        "{stdout}"
    );
    // Statistics kept exactly are unchanged: the mean is 4004.5.
    let (code, stdout, stderr) = gate(dir, distance, "edit_distance <= 4004.5");
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn quantiles_of_fewer_distinct_values_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // 4,000 distinct distances: kept exactly, so the p90 (3600.1) is
    // exact and a gate on it decides to the decimal.
    let mut data = String::new();
    for n in 1..4001 {
        writeln!(
            data,
            r#"{{"inputs": "{n}", "outputs": "{}", "expectations": {{"expected_response": "b"}}}}"#,
            "a".repeat(n)
        )
        .unwrap();
    }
    std::fs::write(dir.join("data.jsonl"), data).unwrap();
    let distance = "edit_distance:report=distance";
    let (code, stdout, stderr) = gate(dir, distance, "`edit_distance/p90` <= 3600.1");
    assert_eq!(code, 0, "{stdout}{stderr}");
    let line = gate_line(&stdout, "edit_distance/p90 ≤ 3600.1");
    assert!(line.contains("3600.1 over 4000 values"), "{line}");
    assert!(!line.contains("between"), "{line}");
    let (code, stdout, stderr) = gate(dir, distance, "`edit_distance/p90` <= 3600");
    assert_eq!(code, 1, "{stdout}{stderr}");
}
