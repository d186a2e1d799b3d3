//! The example scorer plugin (`examples/custom-plugin`), built by cargo as
//! a dynamic library and loaded by the `verdict` binary as a user loads it.

// Only `plugin_file` is needed here.
#[allow(dead_code)]
mod common;

use std::process::{Command, Output};

use common::plugin_file;
use serde_json::Value;

fn verdict(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .env_remove("VERDICT_PLUGIN_PATH")
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
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
    let so = plugin_file("keyword_coverage");
    let so = so.to_str().unwrap();
    let out = json_of(&verdict(&[
        "score",
        "--plugin",
        so,
        "--scorer",
        "keyword_coverage",
        "--output",
        "The Eiffel Tower opened in 1889.",
        "--expectation",
        r#"expected_facts=["Eiffel Tower", "1889", "Paris", "Seine"]"#,
    ]));
    assert_eq!(out["name"], "keyword_coverage");
    assert_eq!(out["value"], 0.5);
    assert_eq!(
        out["rationale"],
        "2 of 4 keywords; missing: \"Paris\", \"Seine\""
    );

    // Config through the spec; the file path itself works as a spec too.
    let out = json_of(&verdict(&[
        "score",
        "--scorer",
        &format!("{so}:keywords=cat,whole_words=false"),
        "--output",
        "a category",
    ]));
    assert_eq!(out["value"], 1.0);

    // A record without the expectation is an error outcome, not a score.
    let out = json_of(&verdict(&[
        "score",
        "--plugin",
        so,
        "--scorer",
        "keyword_coverage",
        "--output",
        "anything",
    ]));
    assert_eq!(out["value"], Value::Null);
    assert_eq!(out["error"]["code"], "MISSING_EXPECTATION");

    // A bad config is refused with the plugin's sentence, exit code 2.
    let out = verdict(&[
        "score",
        "--plugin",
        so,
        "--scorer",
        "keyword_coverage:ignore_case=maybe",
        "--output",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ignore_case"));
}
