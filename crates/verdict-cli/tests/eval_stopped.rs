//! `verdict eval` stopped by an invalid record after it stored records:
//! the run is stored as stopped, with its error, and `verdict runs` shows
//! it. The real binary on a real store file.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

fn verdict(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .current_dir(dir)
        .env_remove("VERDICT_PLUGIN_PATH")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_stopped_run_says_what_it_kept_and_runs_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    // Chunks of 512, then 4,096: the second has the bad line.
    for i in 0..4612 {
        writeln!(
            text,
            r#"{{"inputs": "q{i}", "outputs": "a", "expectations": {{"expected_response": "a"}}}}"#
        )
        .unwrap();
    }
    text.push_str("{\"inputs\": \"q\", \"outputz\": \"a\"}\n");
    std::fs::write(dir.path().join("qa.jsonl"), text).unwrap();

    let (code, _, stderr) = verdict(
        dir.path(),
        &[
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("qa.jsonl:4613:"), "{stderr}");
    assert!(
        stderr.contains("stopped after storing 4608 records (kept in s.db"),
        "{stderr}"
    );
    let run_id = stderr
        .split_whitespace()
        .find(|w| w.starts_with("run-"))
        .expect("the run is named")
        .to_owned();

    let (code, stdout, stderr) = verdict(dir.path(), &["runs", "--store", "s.db"]);
    assert_eq!(code, 0, "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&run_id))
        .unwrap_or_else(|| panic!("{run_id} not listed:\n{stdout}"));
    assert!(line.contains("STOP"), "{line}");
    assert!(line.contains("4608"), "{line}");

    let (code, stdout, stderr) = verdict(dir.path(), &["runs", &run_id, "--store", "s.db"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "run {run_id} stopped after storing 4608 records: "
        )),
        "{stdout}"
    );
    assert!(stdout.contains("qa.jsonl:4613:"), "{stdout}");
}
