//! `verdict eval` with a plugin that hands the host lengths, buffers and
//! static text it must not trust (the test plugin `raw-garbage`, loaded
//! with --plugin as a user loads one): the run reaches its verdict, the
//! exit code says what the gates say, and the store holds an error
//! feedback for each record the plugin broke. The real binary, a real
//! store file.

mod common;

use std::path::Path;

use common::{plugin_file, verdict_in, write_dataset};
use serde_json::Value;

/// `verdict eval qa.jsonl` in `dir` with the raw-garbage plugin in
/// `mode` beside exact match, into the store `v.db`, and `extra`.
fn eval(dir: &Path, mode: &str, extra: &[&str]) -> (i32, String, String) {
    let plugin = plugin_file("verdict_test_raw_garbage");
    let spec = format!("raw_garbage:mode={mode}");
    let mut args = vec![
        "eval",
        "qa.jsonl",
        "--plugin",
        plugin.to_str().unwrap(),
        "--scorer",
        &spec,
        "--scorer",
        "exact_match",
        "--store",
        "v.db",
    ];
    args.extend_from_slice(extra);
    verdict_in(dir, &args)
}

/// What the store holds of the latest run: per record, what each scorer
/// said, by scorer name.
fn stored_run(dir: &Path, limit: usize) -> Vec<Value> {
    let limit = limit.to_string();
    let (code, stdout, stderr) = verdict_in(
        dir,
        &[
            "show", "--run", "latest", "--json", "--limit", &limit, "--store", "v.db",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// What scorer `name` said of `record`, as `verdict show --run` gives it.
fn said<'a>(record: &'a Value, name: &str) -> &'a Value {
    &record["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scorer"] == name)
        .unwrap_or_else(|| panic!("no {name} result: {record}"))["value"]
}

#[test]
fn lengths_and_buffers_a_plugin_lies_about_become_stored_errors_and_the_gate_fails() {
    for (mode, wanted) in [
        // A rationale "too long for the buffer" of usize::MAX bytes.
        ("null_max", "over the 64 MiB a text may be"),
        // The call's text buffer given a megabyte more capacity.
        (
            "cap_raised",
            "changed the capacity of the call's text buffer",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 6);
        let (code, stdout, stderr) = eval(dir.path(), mode, &["--fail-under", "raw_garbage=0.5"]);
        // Every record of the plugin is an error, so its gate fails: the
        // run reached its verdict, and it is "fail".
        assert_eq!(code, 1, "{mode}: {stdout}{stderr}");
        assert!(
            stdout.contains("FAIL") && stdout.contains("raw_garbage"),
            "{mode}: {stdout}"
        );

        let records = stored_run(dir.path(), 100);
        assert_eq!(records.len(), 6, "{mode}");
        for (i, record) in records.iter().enumerate() {
            assert_eq!(
                said(record, "raw_garbage"),
                "error SCORER_INVALID_RESULT",
                "{mode}: {record}"
            );
            // The scorer beside it was not disturbed.
            let right = if i % 3 == 0 { "true" } else { "false" };
            assert_eq!(said(record, "exact_match"), right, "{mode}: {record}");
        }
        // The feedback on a record's trace carries the error and why.
        let trace = records[0]["trace_id"].as_str().unwrap();
        let (code, shown, stderr) =
            verdict_in(dir.path(), &["show", trace, "--json", "--store", "v.db"]);
        assert_eq!(code, 0, "{stderr}");
        let shown: Value = serde_json::from_str(&shown).unwrap();
        let feedback = shown["assessments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["assessment_name"] == "raw_garbage")
            .unwrap_or_else(|| panic!("{mode}: no raw_garbage feedback: {shown}"));
        let error = &feedback["feedback"]["error"];
        assert_eq!(
            error["error_code"], "SCORER_INVALID_RESULT",
            "{mode}: {feedback}"
        );
        let message = error["error_message"].as_str().unwrap();
        assert!(message.contains(wanted), "{mode}: {message}");
    }
}

#[test]
fn static_text_a_plugin_rewrites_after_each_call_never_reaches_the_store() {
    let dir = tempfile::tempdir().unwrap();
    // Enough records for many calls: each rewrites the label the call
    // before it returned into bytes that are not UTF-8.
    let n = 3000;
    write_dataset(dir.path(), n);
    let (code, stdout, stderr) = eval(dir.path(), "rewrite", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let records = stored_run(dir.path(), n);
    assert_eq!(records.len(), n);
    let mut ok = 0;
    for record in &records {
        // What the host copied when the call returned; or, when another
        // thread's call rewrote it first, an error saying so.
        match said(record, "raw_garbage").as_str().unwrap() {
            "ok" => ok += 1,
            "error SCORER_INVALID_RESULT" => {}
            other => panic!("stored {other:?}: {record}"),
        }
    }
    assert!(ok > 0, "no label stored as written");
}
