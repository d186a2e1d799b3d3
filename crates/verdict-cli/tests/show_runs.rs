//! `verdict show` over a store with evaluation runs: a run is one line,
//! not thousands of identical rows; `--run` lists its records; a record's
//! trace shows what it was given and answered. The real binary on the
//! shipped dataset.

mod common;

use common::verdict_in as verdict;

#[test]
fn runs_are_one_line_each_and_their_records_are_listed_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let qa = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/qa.jsonl");
    let (code, _, stderr) = verdict(
        dir.path(),
        &["eval", qa, "--scorer", "exact_match:normalize=squad"],
    );
    assert_eq!(code, 0, "{stderr}");
    // A trace outside the run: a person's feedback on some trace.
    let (code, _, stderr) = verdict(
        dir.path(),
        &[
            "feedback",
            "0fb07256509eb9d22d07f42f7eb9f24d",
            "helpful",
            "true",
        ],
    );
    assert_eq!(code, 2, "an unknown trace is refused: {stderr}");

    let (code, list, _) = verdict(dir.path(), &["show"]);
    assert_eq!(code, 0);
    assert!(list.contains("1 evaluation run in"), "{list}");
    assert!(
        list.contains("passed") && list.contains("300 records"),
        "{list}"
    );
    assert!(list.contains("no traces outside runs"), "{list}");
    assert!(list.lines().count() < 10, "one line per run: {list}");

    let (code, records, _) = verdict(dir.path(), &["show", "--run", "latest", "--limit", "5"]);
    assert_eq!(code, 0);
    assert!(records.contains("): 300 records"), "{records}");
    assert_eq!(records.matches("  line ").count(), 5, "{records}");
    assert!(records.contains("… and 295 more"), "{records}");
    let (code, failed, _) = verdict(
        dir.path(),
        &["show", "--run", "latest", "--failed", "--limit", "1000"],
    );
    assert_eq!(code, 0);
    assert!(failed.contains("records a scorer failed"), "{failed}");
    assert!(
        failed
            .lines()
            .filter(|l| l.starts_with("  line "))
            .all(|l| l.contains("exact_match=false")),
        "{failed}"
    );
    // Line 3 answers Sydney for the capital of Australia.
    let line3 = failed
        .lines()
        .find(|l| l.starts_with("  line 3 "))
        .unwrap_or_else(|| panic!("{failed}"));
    let trace = line3
        .split_whitespace()
        .find(|w| w.starts_with("tr-"))
        .unwrap();
    let (code, shown, _) = verdict(dir.path(), &["show", trace]);
    assert_eq!(code, 0);
    assert!(
        // Spaced as MLflow's client writes a span's inputs.
        shown.contains("inputs: {\"question\": \"What is the capital of Australia?\"}"),
        "{shown}"
    );
    assert!(shown.contains("outputs: \"Sydney\""), "{shown}");
    assert!(shown.contains("from evaluation run run-"), "{shown}");
    assert!(shown.contains(", line 3"), "{shown}");
    assert!(
        shown.contains("expectation expected_response = \"Canberra\""),
        "{shown}"
    );

    let (code, json, _) = verdict(
        dir.path(),
        &["show", "--run", "latest", "--json", "--limit", "1"],
    );
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json[0]["line"], 1);
    assert_eq!(json[0]["outputs"], "Paris");
    assert_eq!(json[0]["expectations"]["expected_response"], "Paris");
    assert_eq!(json[0]["results"][0]["value"], "true");
}

#[test]
fn failed_records_are_those_the_runs_criteria_failed() {
    let dir = tempfile::tempdir().unwrap();
    let qa = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/qa.jsonl");
    std::fs::write(
        dir.path().join("verdict.toml"),
        "[[scorers]]\nspec = \"token_f1\"\nthreshold = 0.9\n",
    )
    .unwrap();
    let (code, _, stderr) = verdict(dir.path(), &["eval", qa, "--config", "verdict.toml"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, failed, _) = verdict(
        dir.path(),
        &["show", "--run", "latest", "--failed", "--limit", "1000"],
    );
    assert_eq!(code, 0);
    let lines: Vec<&str> = failed
        .lines()
        .filter(|l| l.starts_with("  line "))
        .collect();
    assert!(!lines.is_empty(), "{failed}");
    // Each is below the threshold, though not 0: "token_f1=0.6667" and
    // the like.
    for line in &lines {
        let value: f64 = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("token_f1="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(value < 0.9, "{line}");
    }
    assert!(lines.iter().any(|l| l.contains("token_f1=0.")), "{failed}");
}

#[test]
fn baseline_latest_is_of_the_same_file_not_the_same_name_and_never_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let line = |output: &str| {
        format!(
            "{{\"inputs\": \"q\", \"outputs\": \"{output}\", \"expectations\": {{\"expected_response\": \"a\"}}}}\n"
        )
    };
    for (project, output) in [("one", "a"), ("two", "b")] {
        std::fs::create_dir(dir.path().join(project)).unwrap();
        std::fs::write(dir.path().join(project).join("qa.jsonl"), line(output)).unwrap();
    }
    let store = dir.path().join("s.db");
    let store = store.to_str().unwrap();
    let eval = |project: &str, more: &[&str]| {
        let mut args = vec![
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--store",
            store,
        ];
        args.extend_from_slice(more);
        verdict(&dir.path().join(project), &args)
    };
    let (code, _, _) = eval("one", &[]);
    assert_eq!(code, 0);
    // two/qa.jsonl has no run yet: one/qa.jsonl's, though named the same,
    // is another file.
    let (code, _, stderr) = eval("two", &["--baseline", "latest"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("holds no run of qa.jsonl that passed"),
        "{stderr}"
    );
    // Standard input is no file: latest cannot tell which runs were of it.
    let (code, _, stderr) = verdict(
        dir.path(),
        &[
            "eval",
            "-",
            "--scorer",
            "exact_match",
            "--store",
            store,
            "--baseline",
            "latest",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is not a file"), "{stderr}");
}
