//! Hostile plugins: each breaks one rule of the boundary on purpose, with
//! lengths, buffers, result counts and static text the host must not
//! trust (`tests/c/hostile.c`, written in C against the header, and the
//! Rust `test-plugins/raw-garbage`). Each becomes an error on the records
//! it touched, the built-in scorer run beside it keeps its results, and
//! the host goes on: no panic, no abort, no allocation of the size asked.

mod common;

use std::sync::Arc;

use common::{build_c_plugin, built};
use verdict_scorer::{
    OwnedRecord, Plugin, Registry, Runner, SCORER_ERROR, SCORER_INVALID_RESULT, ScoreValueRef,
};

fn records(n: usize) -> Vec<OwnedRecord> {
    (0..n)
        .map(|i| OwnedRecord::new("q", format!("a{i}")).with_expectation("expected_response", "a0"))
        .collect()
}

/// Scores seven records in chunks of three with `plugin` in `mode` and
/// with the built-in exact match beside it, and returns the plugin's error
/// on each record (code and message), after checking that exact match
/// scored every one.
fn errors(plugin: &Arc<Plugin>, mode: &str) -> Vec<(String, String)> {
    let scorer = plugin
        .instantiate(&format!(r#"{{"mode": "{mode}"}}"#))
        .unwrap();
    let builtin = Registry::with_builtins()
        .create(&"exact_match".parse().unwrap())
        .unwrap();
    let runner = Runner::new(vec![Box::new(scorer), builtin])
        .chunk_size(3)
        .threads(1);
    let scores = runner.score(&records(7));
    scores
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let exact = record.get(1).value();
            assert_eq!(
                exact,
                Some(ScoreValueRef::Bool(i == 0)),
                "{mode}: record {i}"
            );
            let (code, message) = record
                .get(0)
                .error()
                .unwrap_or_else(|| panic!("{mode}: record {i} was accepted"));
            (code.to_owned(), message.to_owned())
        })
        .collect()
}

/// Checks that every record of `mode` is an error with `code` whose
/// message holds every one of `wanted`.
fn assert_refused(plugin: &Arc<Plugin>, mode: &str, code: &str, wanted: &[&str]) {
    for (i, (got, message)) in errors(plugin, mode).iter().enumerate() {
        assert_eq!(got, code, "{mode}: record {i}: {message}");
        for w in wanted {
            assert!(message.contains(w), "{mode}: record {i}: {message}");
        }
    }
}

#[test]
fn a_c_plugin_breaking_each_rule_gets_errors_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let so = build_c_plugin("hostile.c", dir.path(), "hostile");
    let plugin = Plugin::load(&so).unwrap();
    let tib = "1099511627776";
    let cases: &[(&str, &str, &[&str])] = &[
        // Asked to score again with a terabyte of buffer: refused, not
        // allocated.
        (
            "null_huge",
            SCORER_INVALID_RESULT,
            &[tib, "over the 64 MiB"],
        ),
        // A terabyte read from a static address: refused before reading.
        (
            "static_huge",
            SCORER_INVALID_RESULT,
            &[tib, "over the 64 MiB"],
        ),
        (
            "len_backwards",
            SCORER_INVALID_RESULT,
            &["points past the text it wrote"],
        ),
        (
            "len_past_cap",
            SCORER_INVALID_RESULT,
            &["past its capacity"],
        ),
        (
            "ptr_moved",
            SCORER_INVALID_RESULT,
            &["moved the call's text buffer"],
        ),
        // A terabyte of message: the first 64 KiB are read, and said so.
        (
            "last_error",
            SCORER_ERROR,
            &["hostile: a message said to be a terabyte long", tib],
        ),
        (
            "more_results",
            SCORER_INVALID_RESULT,
            &["more results than the"],
        ),
        (
            "more_on_rescore",
            SCORER_INVALID_RESULT,
            &["more results than the 1 record"],
        ),
    ];
    for (mode, code, wanted) in cases {
        assert_refused(&plugin, mode, code, wanted);
    }
}

#[test]
fn a_descriptor_text_said_to_be_a_terabyte_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    // The same library, under the name of its second entry point.
    let so = build_c_plugin("hostile.c", dir.path(), "huge_descriptor");
    let err = Plugin::load(&so).unwrap_err().to_string();
    assert!(
        err.contains("the description is 1099511627776 bytes long, over the 65536"),
        "{err}"
    );
}

#[test]
fn a_rust_plugin_breaking_each_rule_gets_errors_and_the_run_goes_on() {
    let plugin = Plugin::load(&built("verdict-test-raw-garbage")).unwrap();
    let max = usize::MAX.to_string();
    assert_refused(
        &plugin,
        "null_max",
        SCORER_INVALID_RESULT,
        &[&max, "over the 64 MiB"],
    );
    assert_refused(
        &plugin,
        "cap_raised",
        SCORER_INVALID_RESULT,
        &["changed the capacity of the call's text buffer"],
    );
    assert_refused(
        &plugin,
        "last_error_max",
        SCORER_ERROR,
        &["raw_garbage failed on purpose", &max],
    );
}

#[test]
fn static_text_rewritten_after_the_call_leaves_the_results_as_they_were() {
    let plugin = Plugin::load(&built("verdict-test-raw-garbage")).unwrap();
    let scorer = plugin.instantiate(r#"{"mode": "rewrite"}"#).unwrap();
    // One record per call: each call rewrites the label the call before
    // it returned into bytes that are not UTF-8.
    let runner = Runner::new(vec![Box::new(scorer)]).chunk_size(1).threads(1);
    let scores = runner.score(&records(4));
    for (i, record) in scores.iter().enumerate() {
        let Some(ScoreValueRef::Label(label)) = record.get(0).value() else {
            panic!("record {i}: {:?}", record.get(0));
        };
        assert_eq!(label.as_bytes(), b"ok", "record {i}");
    }
}
