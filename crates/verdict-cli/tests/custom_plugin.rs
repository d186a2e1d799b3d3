//! The example scorer plugin (`examples/custom-plugin`), built by cargo as
//! a dynamic library and loaded by the `verdict` binary as a user loads it.

#[allow(dead_code)] // uses only part of it
mod common;

use std::process::Output;

use common::{json_of, plugin_file, verdict};
use serde_json::Value;

/// `verdict score --plugin <keyword_coverage> --scorer SPEC --output OUTPUT ARGS…`
fn score(spec: &str, output: &str, args: &[&str]) -> Output {
    let so = plugin_file("keyword_coverage");
    let mut all = vec![
        "score",
        "--plugin",
        so.to_str().unwrap(),
        "--scorer",
        spec,
        "--output",
        output,
    ];
    all.extend_from_slice(args);
    verdict(&all)
}

#[test]
fn verdict_scorers_lists_the_plugin_with_its_documented_config() {
    let so = plugin_file("keyword_coverage");
    let list = json_of(&verdict(&[
        "scorers",
        "--json",
        "--plugin",
        so.to_str().unwrap(),
    ]));
    let scorer = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "keyword_coverage")
        .expect("keyword_coverage listed");
    assert_eq!(scorer["version"], "0.1.0");
    assert_eq!(
        scorer["origin"]["path"],
        so.canonicalize().unwrap().to_str().unwrap()
    );
    let keys: Vec<&str> = scorer["config"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["keywords", "expectation", "ignore_case", "whole_words"]
    );
}

#[test]
fn verdict_score_runs_the_plugin_with_expectations_and_config() {
    let out = json_of(&score(
        "keyword_coverage",
        "The Eiffel Tower opened in 1889.",
        &[
            "--expectation",
            r#"expected_facts=["Eiffel Tower", "1889", "Paris", "Seine"]"#,
        ],
    ));
    assert_eq!(out["name"], "keyword_coverage");
    assert_eq!(out["value"], 0.5);
    assert_eq!(
        out["rationale"],
        "2 of 4 keywords; missing: \"Paris\", \"Seine\""
    );

    // Config through the spec; the file path itself works as a spec too.
    let so = plugin_file("keyword_coverage");
    let spec = format!("{}:keywords=cat,whole_words=false", so.display());
    let out = json_of(&score(&spec, "a category", &[]));
    assert_eq!(out["value"], 1.0);

    // A record without the expectation is an error outcome, not a score:
    // printed, and exit code 2.
    let out = score("keyword_coverage", "anything", &[]);
    assert_eq!(out.status.code(), Some(2));
    let out: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out["value"], Value::Null);
    assert_eq!(out["error"]["code"], "MISSING_EXPECTATION");

    // A bad config is refused with the plugin's sentence, exit code 2.
    let out = score("keyword_coverage:ignore_case=maybe", "x", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ignore_case"));
}

/// A small dataset in MLflow's evaluation shape: facts fully, not, and
/// partly covered, and a record without the expectation.
const DATASET: &str = r#"{"inputs": {"question": "When did the Eiffel Tower open?"}, "outputs": "The Eiffel Tower opened in 1889 in Paris.", "expectations": {"expected_facts": ["Eiffel Tower", "1889", "Paris"]}}
{"inputs": {"question": "Where is the Louvre?"}, "outputs": "In Lyon.", "expectations": {"expected_facts": ["Paris", "Seine"]}}
{"inputs": {"question": "What river flows through Paris?"}, "outputs": "The Seine flows through Paris.", "expectations": {"expected_facts": ["Seine", "Paris", "Le Havre"]}}
{"inputs": {"question": "Who painted the Mona Lisa?"}, "outputs": "Leonardo."}
"#;

#[test]
fn verdict_eval_runs_the_plugin_over_a_dataset_and_gates_on_it() {
    let so = plugin_file("keyword_coverage");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("facts.jsonl");
    std::fs::write(&data, DATASET).unwrap();
    let store = dir.path().join("verdict.db");
    let results = dir.path().join("results.json");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            data.to_str().unwrap(),
            "--plugin",
            so.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        verdict(&args)
    };

    let out = run(&[
        "--scorer",
        "keyword_coverage",
        "--json",
        results.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("keyword_coverage"));
    let text = std::fs::read_to_string(&results).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let scored: Vec<&Value> = doc["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["results"]["keyword_coverage"])
        .collect();
    assert_eq!(scored.len(), 4);
    assert_eq!(scored[0]["value"], 1.0);
    assert_eq!(scored[1]["value"], 0.0);
    assert_eq!(
        scored[1]["rationale"],
        "0 of 2 keywords; missing: \"Paris\", \"Seine\""
    );
    assert!((scored[2]["value"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(scored[3]["error"]["code"], "MISSING_EXPECTATION");

    // Each score is a feedback named after the scorer, in the store, on
    // the record's trace.
    let trace = doc["records"][2]["trace_id"].as_str().unwrap().to_owned();
    let shown = json_of(&verdict(&[
        "show",
        &trace,
        "--json",
        "--store",
        store.to_str().unwrap(),
    ]));
    let feedback = shown["assessments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["assessment_name"] == "keyword_coverage")
        .expect("a keyword_coverage feedback");
    assert_eq!(feedback["source"]["source_type"], "CODE");
    assert_eq!(
        feedback["rationale"],
        "2 of 3 keywords; missing: \"Le Havre\""
    );

    // A gate on it: passing at coverage 0.9 leaves 1 of 4 records, under
    // the 50 % the suite asks for.
    let config = dir.path().join("verdict.toml");
    std::fs::write(
        &config,
        "[[scorers]]\nspec = \"keyword_coverage\"\nthreshold = 0.9\nfail_under = 0.5\n",
    )
    .unwrap();
    let out = run(&["--config", config.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL") && stdout.contains("keyword_coverage"),
        "{stdout}"
    );
}
