//! `verdict prune`: runs removed by count, date, id or state, the space
//! given back (the file's size, as `ls -l` shows it), and the baseline the
//! next run needs kept. The real binary on a real store.

mod common;

use common::verdict_in as verdict;
use std::fmt::Write as _;
use std::path::Path;

use verdict_export::LocalStore;

/// 20,000 records, `right` of every 4 answered right.
fn write_data(dir: &Path, right: usize) {
    let mut text = String::new();
    for i in 0..20_000 {
        let output = if i % 4 < right { "a" } else { "b" };
        writeln!(
            text,
            r#"{{"inputs": "question {i}", "outputs": "{output}", "expectations": {{"expected_response": "a"}}}}"#
        )
        .unwrap();
    }
    std::fs::write(dir.join("qa.jsonl"), text).unwrap();
}

/// Evaluates qa.jsonl with a gate at 50 %; returns the run id.
fn eval(dir: &Path) -> String {
    let (code, stdout, stderr) = verdict(
        dir,
        &[
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--fail-under",
            "exact_match=0.5",
            "--store",
            "s.db",
        ],
    );
    assert!(code == 0 || code == 1, "{stderr}");
    stdout
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("run-")))
        .unwrap()
        .to_owned()
}

fn run_ids(dir: &Path) -> Vec<String> {
    LocalStore::open(dir.join("s.db"))
        .unwrap()
        .runs()
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect()
}

#[test]
fn keep_removes_older_runs_but_the_baseline_and_gives_the_space_back() {
    let dir = tempfile::tempdir().unwrap();
    write_data(dir.path(), 3);
    let passed = eval(dir.path());
    write_data(dir.path(), 1);
    let failed: Vec<String> = (0..3).map(|_| eval(dir.path())).collect();
    let size = || std::fs::metadata(dir.path().join("s.db")).unwrap().len();
    let before = size();

    // A dry run changes nothing.
    let (code, out, _) = verdict(
        dir.path(),
        &["prune", "--keep", "1", "--dry-run", "--store", "s.db"],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("2 runs and 40000 records would be removed"),
        "{out}"
    );
    assert_eq!(run_ids(dir.path()).len(), 4);

    let (code, out, err) = verdict(dir.path(), &["prune", "--keep", "1", "--store", "s.db"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("removed 2 runs and 40000 records"), "{out}");
    // The newest, and the latest that passed: the next baseline.
    assert_eq!(run_ids(dir.path()), [failed[2].clone(), passed.clone()]);
    // Half the records are gone; the file keeps its tables' pages and
    // the runs kept, and would not shrink at all if the space stayed free.
    assert!(size() < before * 3 / 4, "{} -> {}", before, size());
    let (code, _, err) = verdict(
        dir.path(),
        &[
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--store",
            "s.db",
            "--baseline",
            "latest",
        ],
    );
    assert_eq!(code, 1, "compared with {passed}, and failed: {err}");
}

#[test]
fn runs_are_chosen_by_id_or_date_and_a_choice_is_required() {
    let dir = tempfile::tempdir().unwrap();
    write_data(dir.path(), 3);
    let first = eval(dir.path());
    let second = eval(dir.path());

    let (code, _, err) = verdict(dir.path(), &["prune", "--store", "s.db"]);
    assert_eq!(code, 2);
    assert!(err.contains("say which runs to remove"), "{err}");
    let (code, _, err) = verdict(
        dir.path(),
        &["prune", "--before", "last tuesday", "--store", "s.db"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("is neither a date"), "{err}");

    // By a unique prefix of its id.
    let (code, _, err) = verdict(
        dir.path(),
        &["prune", "--run", &first[..10], "--store", "s.db"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(run_ids(dir.path()), [second]);

    // Started before a day long past: none; before tomorrow: all.
    let (code, out, _) = verdict(
        dir.path(),
        &["prune", "--before", "2000-01-01", "--store", "s.db"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("no run to remove"), "{out}");
    let tomorrow = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() + std::time::Duration::from_secs(86_400),
    )
    .to_string();
    let (code, _, err) = verdict(
        dir.path(),
        &["prune", "--before", &tomorrow, "--store", "s.db"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(run_ids(dir.path()).is_empty());
    let store = LocalStore::open(dir.path().join("s.db")).unwrap();
    assert!(store.list_traces().unwrap().is_empty());
    assert_eq!(store.count_assessments().unwrap(), 0);
}
