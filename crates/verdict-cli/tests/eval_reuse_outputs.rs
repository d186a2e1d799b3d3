//! `verdict eval --reuse-outputs RUN`: a dataset without outputs is scored
//! on what a stored run answered, and a record the run lacks fails the
//! gate as an error, never passes on empty outputs. The real binary on a
//! real store.

mod common;

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

#[test]
fn outputs_of_a_stored_run_are_scored_again_and_a_record_it_lacks_fails_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("answered.jsonl"),
        concat!(
            r#"{"inputs": "Q1", "outputs": "A1", "expectations": {"expected_response": "A1"}}"#,
            "\n",
            r#"{"inputs": "Q2", "outputs": "A2", "expectations": {"expected_response": "A2"}}"#,
            "\n",
        ),
    )
    .unwrap();
    let (code, _, stderr) = verdict(
        dir.path(),
        &[
            "eval",
            "answered.jsonl",
            "--scorer",
            "exact_match",
            "--store",
            "v.db",
        ],
    );
    assert_eq!(code, 0, "{stderr}");

    let asked = |lines: &str| {
        std::fs::write(dir.path().join("asked.jsonl"), lines).unwrap();
        verdict(
            dir.path(),
            &[
                "eval",
                "asked.jsonl",
                "--scorer",
                "exact_match",
                "--store",
                "v.db",
                "--reuse-outputs",
                "latest",
                "--fail-under",
                "exact_match=1",
            ],
        )
    };
    let (code, stdout, stderr) = asked(concat!(
        r#"{"inputs": "Q2", "expectations": {"expected_response": "A2"}}"#,
        "\n",
        r#"{"inputs": "Q1", "expectations": {"expected_response": "A1"}}"#,
        "\n",
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");

    let (code, stdout, stderr) = asked(concat!(
        r#"{"inputs": "Q1", "expectations": {"expected_response": "A1"}}"#,
        "\n",
        r#"{"inputs": "Q3", "expectations": {"expected_response": "A3"}}"#,
        "\n",
    ));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("PREDICT_FAILED"),
        "{stdout}{stderr}"
    );
}
