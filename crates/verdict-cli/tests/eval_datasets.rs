//! `verdict eval` on the datasets people have: CSV, JSON arrays, MLflow's
//! request/response records, input/output/expected, and anything else
//! through a field map; and a trace named by two records. The real
//! binary on real files.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use common::text_of;

fn verdict(dir: &Path, args: &[&str]) -> (i32, String, String) {
    text_of(
        &Command::new(env!("CARGO_BIN_EXE_verdict"))
            .args(args)
            .current_dir(dir)
            .env_remove("VERDICT_PLUGIN_PATH")
            .output()
            .unwrap(),
    )
}

/// The stored summary of the latest run in `s.db`.
fn latest_run(dir: &Path) -> serde_json::Value {
    let (code, runs, stderr) = verdict(dir, &["runs", "--json", "--store", "s.db"]);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str::<serde_json::Value>(runs.lines().next().unwrap()).unwrap()["summary"]
        .clone()
}

/// `verdict eval DATA --scorer exact_match --store s.db` and more args.
fn eval(dir: &Path, data: &str, more: &[&str]) -> (i32, String, String) {
    let mut args = vec!["eval", data, "--scorer", "exact_match", "--store", "s.db"];
    args.extend(more);
    verdict(dir, &args)
}

/// (records, invalid, passed by exact match) of the latest run.
fn counts(dir: &Path) -> (u64, u64, u64) {
    let run = latest_run(dir);
    (
        run["records"].as_u64().unwrap(),
        run["invalid"].as_u64().unwrap(),
        run["scorers"][0]["passed"].as_u64().unwrap(),
    )
}

#[test]
fn a_csv_in_no_known_shape_is_refused_with_the_map_that_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,Question,model_answer,gold\n");
    for i in 0..1000 {
        let answer = if i % 4 == 0 { "Paris" } else { "Lyon" };
        writeln!(csv, "{i},\"Capital of France, #{i}?\",{answer},Paris").unwrap();
    }
    std::fs::write(dir.path().join("qa.csv"), csv).unwrap();

    let (code, stdout, refused) = eval(dir.path(), "qa.csv", &[]);
    assert_eq!(code, 2, "{stdout}{refused}");
    let stderr = &refused;
    let suggested = "--map inputs=Question --map outputs=model_answer --map \
                     expectations.expected_response=gold";
    assert!(stderr.contains(suggested), "{stderr}");
    assert!(
        stderr.contains("`id`, `Question`, `model_answer`, `gold`"),
        "{stderr}"
    );
    assert!(!dir.path().join("s.db").exists() || counts_runs(dir.path()) == 0);

    // The suggestion, as flags, reads every row.
    let mut args: Vec<&str> = suggested.split(' ').collect();
    args.retain(|a| !a.is_empty());
    let (code, stdout, stderr) = eval(dir.path(), "qa.csv", &args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(counts(dir.path()), (1000, 0, 250));

    // And as verdict.toml's [dataset.map], as the message prints it.
    let toml = stderr_toml(&refused);
    std::fs::write(
        dir.path().join("verdict.toml"),
        format!("[[scorers]]\nspec = \"exact_match\"\n\n{toml}"),
    )
    .unwrap();
    let (code, stdout, stderr) = verdict(
        dir.path(),
        &[
            "eval",
            "qa.csv",
            "--config",
            "verdict.toml",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(counts(dir.path()), (1000, 0, 250));
}

/// How many runs `s.db` holds.
fn counts_runs(dir: &Path) -> usize {
    let (_, runs, _) = verdict(dir, &["runs", "--json", "--store", "s.db"]);
    runs.lines().count()
}

/// The `[dataset.map]` table an error message suggests.
fn stderr_toml(stderr: &str) -> String {
    let at = stderr.find("[dataset.map]").expect("a table is suggested");
    stderr[at..].trim_end().to_owned()
}

#[test]
fn a_map_naming_a_column_the_csv_lacks_is_refused_before_anything_is_scored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("qa.csv"),
        "question,answer,gold\nq,Paris,Paris\n",
    )
    .unwrap();
    let (code, stdout, stderr) = eval(
        dir.path(),
        "qa.csv",
        &[
            "--map",
            "inputs=question",
            "--map",
            "outputs=answer",
            "--map",
            "expectations.expected_response=gold_answer",
        ],
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("`gold_answer`") && stderr.contains("`question`, `answer`, `gold`"),
        "{stderr}"
    );
    let (code, _, stderr) = eval(dir.path(), "qa.csv", &["--map", "input=question"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("\"input\" is not a target"), "{stderr}");
}

#[test]
fn csv_cells_holding_json_objects_and_arrays_are_that_json() {
    let dir = tempfile::tempdir().unwrap();
    // MLflow's evaluation shape in CSV: inputs an object, expectations an
    // object whose expected response lists two acceptable answers.
    std::fs::write(
        dir.path().join("qa.csv"),
        concat!(
            "inputs,outputs,expectations,trace_id\n",
            r#""{""question"": ""Capital of Peru?""}",Lima,"{""expected_response"": [""Lima"", ""Ciudad de los Reyes""]}","#,
            "\n",
            r#"plain text,42,"{""expected_response"": ""42""}",0fb07256509eb9d22d07f42f7eb9f24d"#,
            "\n",
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = eval(dir.path(), "qa.csv", &["--json", "out.json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(counts(dir.path()), (2, 0, 2));
    let out: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
            .unwrap();
    let records = out["records"].as_array().unwrap();
    assert_eq!(
        records[0]["inputs"],
        serde_json::json!({"question": "Capital of Peru?"})
    );
    assert_eq!(
        records[0]["expectations"]["expected_response"],
        serde_json::json!(["Lima", "Ciudad de los Reyes"])
    );
    // "42" is text, as written: no cell is guessed into a number.
    assert_eq!(records[1]["outputs"], "42");
    assert_eq!(
        records[1]["trace_id"],
        "tr-0fb07256509eb9d22d07f42f7eb9f24d"
    );
}

#[test]
fn a_json_array_is_read_element_by_element_and_a_cut_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    // MLflow's request/response shape, pretty-printed over many lines.
    let records: Vec<serde_json::Value> = (0..3000)
        .map(|i| {
            serde_json::json!({
                "request": format!("question {i}"),
                "response": if i % 3 == 0 { "Paris" } else { "Rome" },
                "expected_response": "Paris",
                "request_id": i,
            })
        })
        .collect();
    let text = serde_json::to_string_pretty(&records).unwrap();
    std::fs::write(dir.path().join("qa.json"), &text).unwrap();
    let (code, stdout, stderr) = eval(dir.path(), "qa.json", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(counts(dir.path()), (3000, 0, 1000));

    // Cut short, as a failed download leaves it: not a shorter dataset.
    std::fs::write(dir.path().join("cut.json"), &text[..text.len() / 2]).unwrap();
    let (code, stdout, stderr) = eval(dir.path(), "cut.json", &[]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("cut.json:") && stderr.contains("it may be cut short"),
        "{stderr}"
    );
    let (code, stdout, stderr) = eval(dir.path(), "cut.json", &["--skip-invalid"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("+ 1 invalid"), "{stdout}");
}

#[test]
fn input_output_expected_records_are_read_and_a_typo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("qa.jsonl"),
        concat!(
            r#"{"input": "Capital of France?", "output": "Paris", "expected": "Paris", "id": 7, "metadata": {"topic": "geo"}}"#,
            "\n",
            r#"{"input": "Capital of Italy?", "output": "Rome", "expcted": "Rome"}"#,
            "\n",
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = eval(dir.path(), "qa.jsonl", &[]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("qa.jsonl:2: unknown field `expcted`")
            && stderr.contains("--map inputs=input --map outputs=output"),
        "{stderr}"
    );
    let (code, stdout, stderr) = eval(dir.path(), "qa.jsonl", &["--skip-invalid"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(counts(dir.path()), (1, 1, 1));
}

#[test]
fn a_trace_named_by_two_records_is_refused_naming_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
    let line = |expected: &str, span: Option<&str>| {
        let span = span.map_or(String::new(), |s| format!(r#", "span_id": "{s}""#));
        format!(
            r#"{{"inputs": "q", "outputs": "Paris", "expectations": {{"expected_response": "{expected}"}}, "trace_id": "{trace}"{span}}}"#
        )
    };
    let other =
        r#"{"inputs": "q2", "outputs": "Rome", "expectations": {"expected_response": "Rome"}}"#;
    std::fs::write(
        dir.path().join("dup.jsonl"),
        format!("{}\n{other}\n{}\n", line("Paris", None), line("Lyon", None)),
    )
    .unwrap();
    let (code, stdout, stderr) = eval(dir.path(), "dup.jsonl", &[]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("dup.jsonl:3: ") && stderr.contains("as line 1 does"),
        "{stderr}"
    );
    let (code, stdout, stderr) = eval(dir.path(), "dup.jsonl", &["--skip-invalid"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(counts(dir.path()), (2, 1, 2));
    assert!(stdout.contains("invalid line 3: "), "{stdout}");

    // Spans of one trace are records of their own, but share its
    // expectations: other ones are refused too, naming the first.
    std::fs::write(
        dir.path().join("spans.jsonl"),
        format!(
            "{}\n{}\n",
            line("Paris", Some("71492b10072d70de")),
            line("Lyon", Some("81492b10072d70de"))
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = eval(dir.path(), "spans.jsonl", &[]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("spans.jsonl:2: ") && stderr.contains("other expectations than line 1"),
        "{stderr}"
    );
}
