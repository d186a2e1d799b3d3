//! `verdict eval` and `verdict runs`, run as a user runs them: the real
//! binary, the shipped dataset, a real store file, exit codes.

mod common;

use common::text_of as text;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VERDICT: &str = env!("CARGO_BIN_EXE_verdict");

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data")
        .join(name)
}

fn verdict(dir: &Path, args: &[&str]) -> Output {
    Command::new(VERDICT)
        .args(args)
        .current_dir(dir)
        .env_remove("VERDICT_PLUGIN_PATH")
        .output()
        .unwrap()
}

fn run_id(stdout: &str) -> String {
    let at = stdout.find("stored as ").expect("the run id is printed") + "stored as ".len();
    stdout[at..].split_whitespace().next().unwrap().to_owned()
}

#[test]
fn the_readme_command_passes_on_the_shipped_dataset_and_writes_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let (qa, config) = (data("qa.jsonl"), data("verdict.toml"));
    let out = verdict(
        dir.path(),
        &[
            "eval",
            qa.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--report",
            "report.html",
            "--junit",
            "junit.xml",
            "--json",
            "results.json",
        ],
    );
    let (code, stdout, stderr) = text(&out);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for wanted in [
        "exact_match",
        "contains",
        "token_f1",
        "edit_distance",
        "length",
        "PASS  weighted pass rate",
    ] {
        assert!(stdout.contains(wanted), "{wanted}: {stdout}");
    }
    assert!(stdout.contains("300 records"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    // No terminal: no progress bar on stderr.
    assert!(stderr.is_empty(), "{stderr}");
    // The default store, under the working directory.
    assert!(dir.path().join(".verdict/verdict.db").is_file());
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 5);
    // Every gate passed: a case per gate (four fail_under, two
    // conditions, the weighted pass rate), the run, and a listing per
    // scorer, and nothing failed (the records judged false are listed).
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 7 + 1 + 5);
    assert!(
        !junit.contains("<failure") && !junit.contains("<error"),
        "{junit}"
    );
    assert!(junit.contains("<system-out>"));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(results["records"].as_array().unwrap().len(), 300);

    // The run is listed, and shown in full by id.
    let id = run_id(&stdout);
    let (code, runs, _) = text(&verdict(dir.path(), &["runs"]));
    assert_eq!(code, 0);
    assert!(
        runs.contains(&id) && runs.contains("pass") && runs.contains("qa.jsonl"),
        "{runs}"
    );
    let (code, one, _) = text(&verdict(dir.path(), &["runs", &id[..8]]));
    assert_eq!(code, 0);
    assert!(
        one.contains("weighted pass rate") && one.contains(&id),
        "{one}"
    );
    let (code, json, _) = text(&verdict(dir.path(), &["runs", "--json"]));
    assert_eq!(code, 0);
    let line: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(line["run_id"], id.as_str());
    assert_eq!(line["records"], 300);
}

#[test]
fn a_failing_gate_exits_1_and_a_baseline_compares_runs() {
    let dir = tempfile::tempdir().unwrap();
    let qa = data("qa.jsonl");
    let qa = qa.to_str().unwrap();
    let store = dir.path().join("runs.db");
    let store = store.to_str().unwrap();
    let (code, stdout, _) = text(&verdict(
        dir.path(),
        &[
            "eval",
            qa,
            "--scorer",
            "exact_match:normalize=squad",
            "--fail-under",
            "exact_match=0.99",
            "--store",
            store,
        ],
    ));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAIL  exact_match pass rate ≥ 99.0 %"),
        "{stdout}"
    );
    assert!(stdout.contains("a gate failed"), "{stdout}");
    let first = run_id(&stdout);

    // Raw exact match passes fewer records than SQuAD's: worse than the
    // baseline, and the baseline gate fails.
    let (code, stdout, _) = text(&verdict(
        dir.path(),
        &[
            "eval",
            qa,
            "--scorer",
            "exact_match:normalize=raw",
            "--store",
            store,
            "--baseline",
            &first,
        ],
    ));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!("FAIL  exact_match pass rate ≥ baseline {first}")),
        "{stdout}"
    );

    // Against the same suite, the same data passes.
    let (code, stdout, _) = text(&verdict(
        dir.path(),
        &[
            "eval",
            qa,
            "--scorer",
            "exact_match:normalize=squad",
            "--store",
            store,
            "--baseline",
            &first,
        ],
    ));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("PASS  exact_match pass rate ≥ baseline"),
        "{stdout}"
    );
}

#[test]
fn usage_and_input_errors_exit_2_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"inputs\": \"q\", \"outputs\": \"a\", \"expectations\": {\"expected_response\": \"a\"}}\n{\"inputs\": \"q\", \"outputs\": \n",
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["eval", bad, "--scorer", "exact_match"], "bad.jsonl:2: "),
        (
            &["eval", "missing.jsonl", "--scorer", "exact_match"],
            "cannot read the dataset missing.jsonl",
        ),
        (&["eval", bad, "--scorer", "nope"], "nope"),
        (&["eval", bad], "no scorer to run"),
        (
            &[
                "eval",
                bad,
                "--scorer",
                "exact_match",
                "--fail-under",
                "exact_match=2",
            ],
            "give a rate from 0 to 1",
        ),
        (
            &["eval", bad, "--scorer", "exact_match", "--export", "ftp"],
            "otlp, mlflow, phoenix or jsonl:PATH",
        ),
        (
            &[
                "eval",
                bad,
                "--scorer",
                "exact_match",
                "--baseline",
                "run-none",
            ],
            "no run \"run-none\"",
        ),
        (&["runs", "run-none"], "no run \"run-none\""),
    ];
    for (args, wanted) in cases {
        let (code, stdout, stderr) = text(&verdict(dir.path(), args));
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(wanted), "{args:?}: {stderr}");
    }
    // With --skip-invalid the malformed line is an error, and the run goes on.
    let (code, stdout, stderr) = text(&verdict(
        dir.path(),
        &[
            "eval",
            bad,
            "--scorer",
            "exact_match",
            "--skip-invalid",
            "--report",
            "r.md",
        ],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("1 record + 1 invalid"), "{stdout}");
    let md = std::fs::read_to_string(dir.path().join("r.md")).unwrap();
    assert!(
        md.contains("## Invalid records") && md.contains("| 2 | not a valid record"),
        "{md}"
    );
}

#[test]
fn a_plugin_built_by_cargo_scores_an_eval() {
    let dir = tempfile::tempdir().unwrap();
    let (_, library) = common::BUILTINS
        .iter()
        .find(|(name, _)| *name == "exact_match")
        .unwrap();
    let plugin = common::plugin_file(library);
    let qa = data("qa.jsonl");
    let spec = format!("{}:normalize=squad", plugin.display());
    let (code, stdout, stderr) = text(&verdict(
        dir.path(),
        &[
            "eval",
            qa.to_str().unwrap(),
            "--scorer",
            &spec,
            "--fail-under",
            "exact_match=0.5",
        ],
    ));
    // A path spec has no name to match --fail-under before the plugin is
    // loaded: it is refused with a reason.
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("no scorer \"exact_match\""), "{stderr}");
    let (code, stdout, stderr) = text(&verdict(
        dir.path(),
        &[
            "eval",
            qa.to_str().unwrap(),
            "--plugin",
            plugin.to_str().unwrap(),
            "--scorer",
            "exact_match:normalize=squad",
            "--fail-under",
            "exact_match=0.5",
        ],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("PASS  exact_match pass rate ≥ 50.0 %"),
        "{stdout}"
    );
}

#[test]
fn otlp_export_gets_every_record_span_and_assessment_event() {
    use std::time::Duration;
    use verdict_export::testing::OtlpReceiver;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("qa.jsonl");
    std::fs::write(
        &data,
        concat!(
            r#"{"inputs": "Capital of France?", "outputs": "Paris", "expectations": {"expected_response": "Paris"}}"#,
            "\n",
            r#"{"inputs": "Capital of Italy?", "outputs": "Milan", "expectations": {"expected_response": "Rome"}}"#,
            "\n",
            r#"{"inputs": "Capital of Spain?", "outputs": "Madrid", "expectations": {"expected_response": "Madrid"}}"#,
            "\n",
        ),
    )
    .unwrap();
    let receiver = OtlpReceiver::start().unwrap();
    let out = common::verdict_otlp(
        dir.path(),
        &receiver.endpoint(),
        &[
            "eval",
            data.to_str().unwrap(),
            "--scorer",
            "exact_match",
            "--export",
            "otlp",
        ],
    )
    .output()
    .unwrap();
    let (code, stdout, stderr) = text(&out);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(receiver.wait_for(3, 6, Duration::from_secs(10)));
    let spans = receiver.spans();
    assert_eq!(spans.len(), 3);
    assert!(spans.iter().all(|s| s.name == "verdict.eval.record"));
    let events = receiver.log_records();
    assert_eq!(events.len(), 6, "an expectation and a feedback per record");
    // Every event is on one of the record spans.
    for event in &events {
        assert!(spans.iter().any(|s| s.trace_id == event.trace_id));
    }
}

#[test]
fn a_scorers_own_threshold_gives_it_a_pass_rate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("qa.jsonl"),
        concat!(
            r#"{"inputs": "q1", "outputs": "Pari", "expectations": {"expected_response": "Paris"}}"#,
            "\n",
            r#"{"inputs": "q2", "outputs": "Lyon", "expectations": {"expected_response": "Paris"}}"#,
            "\n",
            r#"{"inputs": "q3", "outputs": "Rome", "expectations": {"expected_response": "Rome"}}"#,
            "\n",
        ),
    )
    .unwrap();
    // edit_distance reports a similarity, and whether the distance is
    // within 2 beside it: that verdict is its pass/fail.
    let (code, stdout, stderr) = text(&verdict(
        dir.path(),
        &[
            "eval",
            "qa.jsonl",
            "--scorer",
            "edit_distance:max_distance=2",
            "--fail-under",
            "edit_distance=0.6",
        ],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("66.7 %"), "{stdout}");
    assert!(stdout.contains("the scorer's own pass"), "{stdout}");
    assert!(
        stdout.contains("PASS  edit_distance pass rate ≥ 60.0 % — 66.7 % (2 of 3)"),
        "{stdout}"
    );
    // A criterion of the suite's own still wins over the scorer's.
    std::fs::write(
        dir.path().join("verdict.toml"),
        "[[scorers]]\nspec = \"edit_distance:max_distance=2\"\nthreshold = 0.9\nfail_under = 0.6\n",
    )
    .unwrap();
    let (code, stdout, _) = text(&verdict(
        dir.path(),
        &["eval", "qa.jsonl", "--config", "verdict.toml"],
    ));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("33.3 %"), "{stdout}");
}

#[test]
fn a_scorer_given_with_a_config_is_added_and_drops_no_gate() {
    let dir = tempfile::tempdir().unwrap();
    let qa = data("qa.jsonl");
    let qa = qa.to_str().unwrap();
    std::fs::write(
        dir.path().join("verdict.toml"),
        "[[scorers]]\nspec = \"exact_match\"\nconfig = { normalize = \"squad\" }\nfail_under = 0.99\n\n\
         [[scorers]]\nspec = \"contains\"\nconfig = { expectation = \"expected_facts\" }\n",
    )
    .unwrap();
    // One more scorer: the config's two still run, and its gate still
    // fails the run.
    let (code, stdout, stderr) = text(&verdict(
        dir.path(),
        &[
            "eval",
            qa,
            "--config",
            "verdict.toml",
            "--scorer",
            "length:max=50",
        ],
    ));
    assert_eq!(code, 1, "{stdout}{stderr}");
    for scorer in ["exact_match", "contains", "length"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(scorer)),
            "{scorer} is not in the table: {stdout}"
        );
    }
    assert!(
        stdout.contains("FAIL  exact_match pass rate ≥ 99.0 %"),
        "{stdout}"
    );
    // A scorer of the config named again: its spec changes, its gate stays.
    let (code, stdout, _) = text(&verdict(
        dir.path(),
        &[
            "eval",
            qa,
            "--config",
            "verdict.toml",
            "--scorer",
            "exact_match:normalize=raw",
        ],
    ));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAIL  exact_match pass rate ≥ 99.0 %"),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("contains")),
        "{stdout}"
    );
}

#[test]
fn baseline_latest_is_the_latest_run_that_passed_so_a_regression_fails_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let qa = data("qa.jsonl");
    let qa = qa.to_str().unwrap();
    let eval = |normalize: &str, baseline: &str| {
        let spec = format!("exact_match:normalize={normalize}");
        text(&verdict(
            dir.path(),
            &["eval", qa, "--scorer", &spec, "--baseline", baseline],
        ))
    };
    // No run yet: nothing to compare with, said as such.
    let (code, _, stderr) = eval("squad", "latest");
    assert_eq!(code, 2);
    assert!(stderr.contains("holds no run of"), "{stderr}");
    let (code, stdout, _) = text(&verdict(
        dir.path(),
        &["eval", qa, "--scorer", "exact_match:normalize=squad"],
    ));
    assert_eq!(code, 0, "{stdout}");
    let good = run_id(&stdout);

    // A regression fails against the good run, and again when run again:
    // the failed run is not the new baseline.
    for attempt in 0..2 {
        let (code, stdout, _) = eval("raw", "latest");
        assert_eq!(code, 1, "attempt {attempt}: {stdout}");
        assert!(
            stdout.contains(&format!("FAIL  exact_match pass rate ≥ baseline {good} (")),
            "attempt {attempt}: {stdout}"
        );
        // Record by record: "tokyo" passed with SQuAD's normalization, and
        // fails as it is.
        assert!(
            stdout.contains(&format!("against {good}, record by record: ")),
            "{stdout}"
        );
        assert!(stdout.contains("newly failing:"), "{stdout}");
        assert!(
            stdout.contains("exact_match: true → false   output: tokyo (was tokyo)"),
            "{stdout}"
        );
    }
    // The HTML report carries the comparison too.
    let (code, _, stderr) = text(&verdict(
        dir.path(),
        &[
            "eval",
            qa,
            "--scorer",
            "exact_match:normalize=raw",
            "--baseline",
            &good,
            "--report",
            "r.html",
        ],
    ));
    assert_eq!(code, 1, "{stderr}");
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(html.contains("<h2>Against the baseline</h2>"), "{html}");
    assert!(html.contains("newly fails"), "{html}");
    // A failed run named by id may still be the baseline, and is said to
    // have failed.
    let (_, runs, _) = text(&verdict(dir.path(), &["runs"]));
    let failed = runs
        .lines()
        .find(|l| l.contains("FAIL"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let (code, stdout, _) = eval("raw", &failed);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains(&format!("baseline {failed} (which failed its own gates)")),
        "{stdout}"
    );
}

#[test]
fn a_failed_run_lists_its_worst_records_with_the_command_that_opens_each() {
    let dir = tempfile::tempdir().unwrap();
    let qa = data("qa.jsonl");
    let (code, stdout, _) = text(&verdict(
        dir.path(),
        &[
            "eval",
            qa.to_str().unwrap(),
            "--config",
            data("verdict.toml").to_str().unwrap(),
            "--fail-under",
            "exact_match=0.99",
            "--store",
            "runs.db",
        ],
    ));
    assert_eq!(code, 1, "{stdout}");
    // Only the scorer whose gate failed, its worst records pytest-style.
    assert!(
        stdout.contains("worst records of exact_match ("),
        "{stdout}"
    );
    assert!(!stdout.contains("worst records of contains"), "{stdout}");
    let listed = &stdout[stdout.find("worst records of exact_match").unwrap()..];
    for field in [
        "\n  line ",
        " · tr-",
        "\n    output:   ",
        "\n    expected: ",
    ] {
        assert!(listed.contains(field), "{field:?}: {listed}");
    }
    // The command shown opens the record's trace in that store.
    let see = listed
        .lines()
        .find_map(|l| l.trim().strip_prefix("see:      "))
        .expect("a `verdict show` command per record");
    let args: Vec<&str> = see.split_whitespace().collect();
    assert_eq!(args[..2], ["verdict", "show"]);
    assert!(args[2].starts_with("tr-"), "{see}");
    assert_eq!(args[3..], ["--store", "runs.db"]);
    let (code, shown, _) = text(&verdict(dir.path(), &args[1..]));
    assert_eq!(code, 0, "{see}");
    assert!(shown.contains("exact_match"), "{shown}");

    // A run that passes lists nothing.
    let (code, stdout, _) = text(&verdict(
        dir.path(),
        &[
            "eval",
            qa.to_str().unwrap(),
            "--config",
            data("verdict.toml").to_str().unwrap(),
            "--store",
            "runs.db",
        ],
    ));
    assert_eq!(code, 0, "{stdout}");
    assert!(!stdout.contains("worst records"), "{stdout}");
}

#[test]
fn gates_in_mlflows_language_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let qa = data("qa.jsonl");
    let qa = qa.to_str().unwrap();
    let eval = |gates: &[&str]| {
        let mut args = vec!["eval", qa, "--scorer", "exact_match:normalize=squad"];
        for gate in gates {
            args.extend(["--gate", gate]);
        }
        text(&verdict(dir.path(), &args))
    };
    let (code, stdout, stderr) = eval(&["exact_match >= 0.5 AND `exact_match/pass_rate` >= 0.5"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("PASS  exact_match/mean ≥ 0.5 — 0.6 over 300 values"),
        "{stdout}"
    );
    let (code, stdout, _) = eval(&["exact_match >= 0.5", "`exact_match/min` >= 1"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAIL  exact_match/min ≥ 1 — 0 over 300 values"),
        "{stdout}"
    );
    // What cannot be read is refused before anything runs, saying where.
    for (gate, wanted) in [
        (
            "exact_match >= 0.5 OR x <= 1",
            "at character 20: expected AND: OR is not part",
        ),
        ("exact_match > 0.5", "only >= and <= are supported"),
        ("exact_match/p90 <= 1", "written in backticks"),
        ("", "an empty gate checks nothing"),
        ("`exact_match/p99` <= 1", "names no scorer of this run"),
    ] {
        let (code, stdout, stderr) = eval(&[gate]);
        assert_eq!(code, 2, "{gate:?}: {stdout}");
        assert!(stderr.contains(wanted), "{gate:?}: {stderr}");
    }
}
