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

#[test]
fn a_statistic_gate_fails_over_errors_unless_the_gate_bounds_them() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // One record right; 99 that exact_match cannot score (no expectation
    // to compare with). MLflow leaves the errors out: a mean of 1.
    let mut data = String::from(
        r#"{"inputs": "q", "outputs": "a", "expectations": {"expected_response": "a"}}"#,
    );
    data.push('\n');
    for i in 0..99 {
        writeln!(data, r#"{{"inputs": "q{i}", "outputs": "a"}}"#).unwrap();
    }
    std::fs::write(dir.join("data.jsonl"), data).unwrap();
    let eval = |gates: &[&str]| {
        let mut args = vec![
            "eval",
            "data.jsonl",
            "--scorer",
            "exact_match",
            "--store",
            "v.db",
        ];
        for g in gates {
            args.extend(["--gate", g]);
        }
        verdict_in(dir, &args)
    };

    let (code, stdout, stderr) = eval(&["exact_match >= 0.9"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let line = gate_line(&stdout, "exact_match/mean ≥ 0.9");
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(
        line.contains("1 over 1 values, 99 errors left out")
            && line.contains("exact_match could not score 99 of 100 records")
            && line.contains("add AND `exact_match/errors` <= N"),
        "{line}"
    );
    // Every statistic that leaves errors out.
    for stat in ["median", "p90", "min", "max", "variance"] {
        let (code, stdout, stderr) = eval(&[&format!("`exact_match/{stat}` >= 0")]);
        assert_eq!(code, 1, "{stat}: {stdout}{stderr}");
    }

    // The gate says how many errors are acceptable: in the same
    // expression, or in another --gate of the run.
    for gates in [
        &["exact_match >= 0.9 AND `exact_match/errors` <= 99"][..],
        &["exact_match >= 0.9", "`exact_match/errors` <= 100"],
    ] {
        let (code, stdout, stderr) = eval(gates);
        assert_eq!(code, 0, "{gates:?}: {stdout}{stderr}");
        let line = gate_line(&stdout, "exact_match/mean ≥ 0.9");
        assert!(
            line.starts_with("PASS") && line.ends_with("1 over 1 values, 99 errors left out"),
            "{line}"
        );
    }
    // Too many of them: the errors gate fails.
    let (code, stdout, stderr) = eval(&["exact_match >= 0.9 AND `exact_match/errors` <= 10"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        gate_line(&stdout, "exact_match/errors ≤ 10").starts_with("FAIL"),
        "{stdout}"
    );
    // A pass rate counts errors as failures: it needs no errors gate.
    let (code, stdout, stderr) = eval(&["`exact_match/pass_rate` >= 0.01"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = eval(&["`exact_match/pass_rate` >= 0.02"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
}
