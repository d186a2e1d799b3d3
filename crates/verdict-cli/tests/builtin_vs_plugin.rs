//! Every built-in scorer gives the same outcome compiled in as loaded from
//! its plugin library, and as run from it by a worker process (the
//! `verdict` binary's), over a corpus of varied records, in batches.

mod common;

use common::{BUILTINS, plugin_file};
use verdict_scorer::{
    IsolatedPlugin, Isolation, OwnedRecord, Plugin, Registry, Runner, Scorer, ScorerSpec,
};

/// Records that exercise empty text, Unicode, JSON, lists and missing
/// expectations.
fn corpus() -> Vec<OwnedRecord> {
    let texts = [
        "",
        " ",
        "Paris",
        " paris ",
        "The Paris!",
        "Pari",
        "東京",
        "東京タワー",
        "🙂🙂",
        "e\u{301}",
        "\u{e9}",
        "{\"a\": 1}",
        "[1, 2]",
        "not json",
        "the cat sat",
        "a cat sat down",
        "1234",
        "x".repeat(300).leak(),
    ];
    let mut records = Vec::new();
    for (i, output) in texts.iter().enumerate() {
        for (j, expected) in texts.iter().enumerate().step_by(3) {
            let mut r = OwnedRecord::new(format!("question {i}"), *output);
            match (i + j) % 4 {
                0 => {}
                1 => r = r.with_expectation("expected_response", *expected),
                2 => {
                    r = r.with_expectation(
                        "expected_response",
                        serde_json::json!([expected, output.to_uppercase()]),
                    )
                }
                _ => r = r.with_expectation("expected_response", serde_json::json!({"a": 1})),
            }
            records.push(r);
        }
    }
    records
}

#[test]
fn compiled_in_and_loaded_scorers_agree_on_every_record() {
    let configs: &[(&str, &str)] = &[
        ("exact_match", "{}"),
        ("exact_match", r#"{"normalize": "squad"}"#),
        (
            "exact_match",
            r#"{"unicode": "nfkc", "case_sensitive": false}"#,
        ),
        (
            "regex",
            r#"{"patterns": ["^\\d+$", "paris"], "ignore_case": true}"#,
        ),
        ("edit_distance", "{}"),
        (
            "edit_distance",
            r#"{"report": "distance", "max_distance": 3}"#,
        ),
        ("contains", r#"{"mode": "prefix"}"#),
        ("token_f1", "{}"),
        ("json", r#"{"check": "equal"}"#),
        ("length", r#"{"unit": "chars", "min": 1, "max": 10}"#),
        ("numeric", r#"{"abs_tol": 1}"#),
        ("similarity", r#"{"min_similarity": 0.8}"#),
        ("similarity", r#"{"metric": "levenshtein"}"#),
        ("rouge", r#"{"type": "rouge2", "measure": "recall"}"#),
        ("bleu", "{}"),
        (
            "json_schema",
            r#"{"schema": {"type": "object", "required": ["a"]}}"#,
        ),
        ("json_schema", r#"{"expectation": "expected_response"}"#),
    ];
    let registry = Registry::with_builtins();
    let records = corpus();
    let isolation = Isolation::new(env!("CARGO_BIN_EXE_verdict")).arg("plugin-worker");
    for (name, config) in configs {
        let crate_name = BUILTINS.iter().find(|(n, _)| n == name).unwrap().1;
        let spec: ScorerSpec = format!("{name}:{config}").parse().unwrap();
        let builtin = registry.create(&spec).unwrap();
        let plugin = Plugin::load(&plugin_file(crate_name)).unwrap();
        let loaded = plugin.instantiate(config).unwrap();
        let isolated = IsolatedPlugin::load(&plugin_file(crate_name), &isolation)
            .unwrap()
            .instantiate(config)
            .unwrap();
        for other in [loaded.info(), isolated.info()] {
            assert_eq!(builtin.info().name, other.name);
            assert_eq!(builtin.info().version, other.version);
            assert_eq!(builtin.info().config_keys, other.config_keys);
        }
        let scores = Runner::new(vec![builtin, Box::new(loaded), Box::new(isolated)])
            .chunk_size(16)
            .score(&records);
        for (i, all) in scores.iter().enumerate() {
            for other in [1, 2] {
                assert_eq!(
                    all.get(0).outcome(),
                    all.get(other).outcome(),
                    "{name} {config} on record {i} ({}): {:?}",
                    ["", "loaded", "isolated"][other],
                    records[i]
                );
            }
        }
    }
}
