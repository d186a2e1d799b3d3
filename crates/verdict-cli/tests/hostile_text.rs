//! Text from data that tries to act on what shows it: escape sequences
//! for a terminal, Markdown and HTML for a report. The real binary, real
//! files.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::text_of as text;

/// What a terminal acts on instead of showing.
fn acts_on_terminal(c: char) -> bool {
    c.is_control() && c != '\n' || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn verdict(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .current_dir(dir)
        .env_remove("VERDICT_PLUGIN_PATH")
        .env("USER", "tester")
        .output()
        .unwrap()
}

/// Checks that nothing in `shown` acts on a terminal, and returns it.
fn inert(what: &str, shown: String) -> String {
    assert!(
        !shown.chars().any(acts_on_terminal),
        "{what} reached the terminal raw: {shown:?}"
    );
    shown
}

/// A clear screen, a carriage return, a fake verdict and a right-to-left
/// override: what a dataset name, a rationale or a plugin's words may hold.
const HOSTILE: &str = "\u{1b}[2J\u{1b}[H\rPASS  all gates passed\u{202e}\u{9b}31m";

#[test]
fn escape_sequences_in_dataset_names_and_rationales_reach_no_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("qa{HOSTILE}.jsonl");
    std::fs::write(
        dir.path().join(&name),
        concat!(
            r#"{"inputs": "q1", "outputs": "Paris", "expectations": {"expected_response": "Paris"}}"#,
            "\n",
            r#"{"inputs": "q2", "outputs": "Lyon", "expectations": {"expected_response": "Paris"}}"#,
            "\n",
        ),
    )
    .unwrap();

    // The result table and the stored run name the dataset.
    let out = verdict(
        dir.path(),
        &[
            "eval",
            &name,
            "--scorer",
            "exact_match",
            "--fail-under",
            "exact_match=0.9",
            "--json",
            "results.json",
        ],
    );
    let (code, stdout, stderr) = text(&out);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let stdout = inert("eval's table", stdout);
    assert!(stdout.contains(r"qa\u{1b}[2J\u{1b}[H\rPASS"), "{stdout}");
    inert("eval's messages", stderr);
    let (code, runs, _) = text(&verdict(dir.path(), &["runs"]));
    assert_eq!(code, 0);
    assert!(inert("runs", runs).contains(r"\u{202e}"));

    // An error message quotes the dataset's name.
    let missing = format!("missing{HOSTILE}.jsonl");
    let (code, _, stderr) = text(&verdict(
        dir.path(),
        &["eval", &missing, "--scorer", "exact_match"],
    ));
    assert_eq!(code, 2);
    let stderr = inert("an error message", stderr);
    assert!(stderr.contains(r"missing\u{1b}[2J"), "{stderr}");

    // A reviewer's rationale, source and metadata, shown by `verdict show`.
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    let trace = results["records"][1]["trace_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let metadata = format!("k{HOSTILE}=v{HOSTILE}");
    let (code, _, stderr) = text(&verdict(
        dir.path(),
        &[
            "feedback",
            &trace,
            "correct",
            &format!("label{HOSTILE}"),
            "--rationale",
            &format!("first line\nsecond{HOSTILE}"),
            "--source-id",
            &format!("ana{HOSTILE}"),
            "--metadata",
            &metadata,
        ],
    ));
    assert_eq!(code, 0, "{stderr}");
    let (code, shown, _) = text(&verdict(dir.path(), &["show", &trace]));
    assert_eq!(code, 0);
    let shown = inert("show", shown);
    // The rationale keeps its lines, indented under the first.
    assert!(shown.contains("rationale: first line\n"), "{shown}");
    assert!(
        shown.contains(r"second\u{1b}[2J\u{1b}[H\rPASS  all gates passed\u{202e}\u{9b}31m"),
        "{shown}"
    );
    let (code, list, _) = text(&verdict(dir.path(), &["show"]));
    assert_eq!(code, 0);
    inert("show's list", list);
}
