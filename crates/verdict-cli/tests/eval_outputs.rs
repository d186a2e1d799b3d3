//! What `verdict eval` and `verdict push` write, and what they must never
//! write over: no output may be the store (or a file SQLite keeps beside
//! it), the dataset, or another output, however it is named — a symlink,
//! a hard link. Result files are written whole and renamed into place; a
//! run whose result files cannot be written is not a passing run. The
//! real binary, real files, links and FIFOs.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{text_of, write_dataset};

fn verdict(dir: &Path, args: &[&str]) -> (i32, String, String) {
    text_of(&command(dir, args).output().unwrap())
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_verdict"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("VERDICT_PLUGIN_PATH");
    command
}

/// `verdict eval qa.jsonl --scorer exact_match --store v.db` and more.
fn eval(dir: &Path, more: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "eval",
        "qa.jsonl",
        "--scorer",
        "exact_match",
        "--store",
        "v.db",
    ];
    args.extend(more);
    verdict(dir, &args)
}

/// The run ids `verdict runs` lists in `v.db`, with their verdicts.
fn runs(dir: &Path) -> Vec<(String, String)> {
    let (code, stdout, stderr) = verdict(dir, &["runs", "--store", "v.db"]);
    assert_eq!(code, 0, "{stderr}");
    stdout
        .lines()
        .skip(1)
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words[0].to_owned(), words[4].to_owned())
        })
        .collect()
}

/// A store with one passing run, and the dataset it ran on.
fn store_with_a_run(dir: &Path) -> Vec<(String, String)> {
    write_dataset(dir, 300);
    let (code, stdout, stderr) = eval(dir, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let listed = runs(dir);
    assert_eq!(listed.len(), 1);
    listed
}

/// Asserts a refusal: exit 2, a sentence naming both files, and nothing
/// written (the store's runs and the dataset as they were).
fn assert_refused(
    dir: &Path,
    said: (i32, String, String),
    names: &[&str],
    before: &[(String, String)],
) {
    let (code, stdout, stderr) = said;
    assert_eq!(code, 2, "{stdout}{stderr}");
    for name in names {
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
    assert_eq!(runs(dir), before);
    let data = std::fs::read_to_string(dir.join("qa.jsonl")).unwrap();
    assert_eq!(data.lines().count(), 300);
}

#[test]
fn an_output_that_is_the_store_or_the_dataset_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let before = store_with_a_run(dir);
    let cases: &[(&[&str], &[&str])] = &[
        (&["--report", "v.db"], &["--report v.db is the store v.db"]),
        (
            &["--json", "qa.jsonl"],
            &["--json qa.jsonl is the dataset qa.jsonl"],
        ),
        (
            &["--junit", "./v.db-wal"],
            &["--junit ./v.db-wal is the store's -wal file, beside v.db"],
        ),
        (
            &["--export", "jsonl:v.db-shm"],
            &["--export v.db-shm is the store's -shm file"],
        ),
        (
            &["--report", "r.md", "--json", "r.md"],
            &["--json r.md is --report r.md"],
        ),
    ];
    for (args, names) in cases {
        assert_refused(dir, eval(dir, args), names, &before);
    }
    // The store is the dataset.
    let (code, _, stderr) = verdict(
        dir,
        &[
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--store",
            "qa.jsonl",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the store qa.jsonl is the dataset qa.jsonl"),
        "{stderr}"
    );
    assert!(!dir.join("r.md").exists());
}

#[cfg(unix)]
#[test]
fn links_to_the_store_or_the_dataset_are_seen_through() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let before = store_with_a_run(dir);
    std::os::unix::fs::symlink("qa.jsonl", dir.join("results.json")).unwrap();
    std::fs::create_dir(dir.join("out")).unwrap();
    std::os::unix::fs::symlink("../v.db", dir.join("out/store.db")).unwrap();
    std::fs::hard_link(dir.join("qa.jsonl"), dir.join("copy.jsonl")).unwrap();
    // A symlink to a file not made yet: the store's journal.
    std::os::unix::fs::symlink("v.db-journal", dir.join("later.xml")).unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--json", "results.json"],
            &["--json results.json is the dataset qa.jsonl (the same file, through a link)"],
        ),
        (
            &["--report", "out/store.db"],
            &["--report out/store.db is the store v.db (the same file, through a link)"],
        ),
        (
            &["--export", "jsonl:copy.jsonl"],
            &["--export copy.jsonl is the dataset qa.jsonl"],
        ),
        (
            &["--junit", "later.xml"],
            &["--junit later.xml is the store's -journal file"],
        ),
    ];
    for (args, names) in cases {
        assert_refused(dir, eval(dir, args), names, &before);
    }

    // A hard link to the store's write-ahead log, which exists while the
    // store is open.
    let open = verdict_export::LocalStore::open(dir.join("v.db")).unwrap();
    assert!(dir.join("v.db-wal").exists(), "the log is there while open");
    std::fs::hard_link(dir.join("v.db-wal"), dir.join("log.xml")).unwrap();
    let said = eval(dir, &["--junit", "log.xml"]);
    drop(open);
    assert_refused(
        dir,
        said,
        &["--junit log.xml is the store's -wal file, beside v.db (the same file, through a link)"],
        &before,
    );
}

#[test]
fn push_refuses_a_jsonl_destination_that_is_its_store() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let before = store_with_a_run(dir);
    let size = std::fs::metadata(dir.join("v.db")).unwrap().len();
    for (args, said) in [
        (
            &["push", "--to", "jsonl:v.db", "--store", "v.db"][..],
            "--to v.db is the store v.db",
        ),
        (
            &["push", "--to", "jsonl:v.db-wal", "--store", "v.db"],
            "--to v.db-wal is the store's -wal file",
        ),
        (
            &[
                "push",
                "--to",
                "jsonl:a.jsonl",
                "--to",
                "jsonl:./a.jsonl",
                "--store",
                "v.db",
            ],
            "--to ./a.jsonl is --to a.jsonl",
        ),
    ] {
        let (code, stdout, stderr) = verdict(dir, args);
        assert_eq!(code, 2, "{stdout}{stderr}");
        assert!(stderr.contains(said), "{stderr}");
    }
    assert_eq!(std::fs::metadata(dir.join("v.db")).unwrap().len(), size);
    assert!(!dir.join("a.jsonl").exists());
    assert_eq!(runs(dir), before);
}

#[cfg(unix)]
#[test]
fn results_are_renamed_into_place_whole_and_written_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_dataset(dir, 300);
    std::fs::create_dir(dir.join("reports")).unwrap();
    std::fs::write(dir.join("reports/junit.xml"), "old").unwrap();
    std::os::unix::fs::symlink("reports/junit.xml", dir.join("junit.xml")).unwrap();
    std::fs::write(dir.join("report.md"), "old").unwrap();
    let (code, stdout, stderr) = eval(
        dir,
        &[
            "--junit",
            "junit.xml",
            "--report",
            "report.md",
            "--json",
            "out.json",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Through the link: the link stays, its file is the new JUnit XML.
    assert!(
        std::fs::symlink_metadata(dir.join("junit.xml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let junit = std::fs::read_to_string(dir.join("reports/junit.xml")).unwrap();
    assert!(junit.starts_with("<?xml"), "{junit}");
    assert!(
        std::fs::read_to_string(dir.join("report.md"))
            .unwrap()
            .contains("exact_match")
    );
    serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(dir.join("out.json")).unwrap(),
    )
    .unwrap();
    // No temporary file is left beside them.
    for sub in [dir, &dir.join("reports")] {
        for entry in std::fs::read_dir(sub).unwrap() {
            let name = entry.unwrap().file_name();
            assert!(
                !name.to_string_lossy().ends_with(".tmp"),
                "{name:?} left in {sub:?}"
            );
        }
    }
    // A directory is not a result file.
    let (code, _, stderr) = eval(dir, &["--report", "reports"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cannot write reports: it is a directory"),
        "{stderr}"
    );
}

#[cfg(unix)]
#[test]
fn a_run_whose_junit_cannot_be_written_is_listed_as_stopped_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // More JUnit XML than a pipe holds, so that its writing fails once the
    // reader has gone, whenever it goes.
    write_dataset(dir, 5_000);
    let fifo = dir.join("junit.xml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // A reader that opens the FIFO and goes away at once.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || drop(std::fs::File::open(fifo)))
    };
    let child = command(
        dir,
        &[
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--store",
            "v.db",
            "--junit",
            "junit.xml",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let out = finish(child);
    if !reader.is_finished() {
        // The binary never opened it: let the reader go before failing.
        drop(std::fs::OpenOptions::new().write(true).open(&fifo));
    }
    reader.join().unwrap();
    let (code, stdout, stderr) = text_of(&out);
    assert_ne!(code, 0, "{stdout}{stderr}");
    let listed = runs(dir);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].1, "STOP", "{listed:?}");
    assert!(
        stderr.contains(&format!(
            "run {} stopped after storing 5000 records",
            listed[0].0
        )) && stderr.contains("listed as stopped")
            && stderr.contains("cannot write junit.xml"),
        "{stderr}"
    );
    // A FIFO is not a stale result file: it stays.
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

#[cfg(unix)]
use std::os::unix::fs::FileTypeExt as _;

/// Waits for the child; a hang (a FIFO opened twice) fails the test.
fn finish(mut child: std::process::Child) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("verdict eval hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[cfg(unix)]
#[test]
fn a_run_that_fails_before_it_starts_leaves_no_earlier_result_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_dataset(dir, 30);
    std::fs::write(dir.join("bad.toml"), "[[scorers]\n").unwrap();
    let results = ["st.xml", "st.json", "st.md"];
    let outputs = [
        "--junit", "st.xml", "--json", "st.json", "--report", "st.md",
    ];
    // A run that passes writes them.
    let (code, stdout, stderr) = eval(dir, &outputs);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let cases: &[(&[&str], &str)] = &[
        // No run of this dataset passed in this store.
        (
            &[
                "eval",
                "qa.jsonl",
                "--scorer",
                "exact_match",
                "--store",
                "new.db",
                "--baseline",
                "latest",
            ],
            "no run",
        ),
        (
            &[
                "eval",
                "missing.jsonl",
                "--scorer",
                "exact_match",
                "--store",
                "v.db",
            ],
            "missing.jsonl",
        ),
        (
            &["eval", "qa.jsonl", "--scorer", "nosuch", "--store", "v.db"],
            "nosuch",
        ),
        (
            &[
                "eval", "qa.jsonl", "--config", "bad.toml", "--store", "v.db",
            ],
            "bad.toml",
        ),
        (
            &[
                "eval",
                "qa.jsonl",
                "--scorer",
                "exact_match",
                "--gate",
                "exact_match >=",
                "--store",
                "v.db",
            ],
            "a number",
        ),
        (
            &[
                "eval",
                "qa.jsonl",
                "--scorer",
                "exact_match",
                "--export",
                "nowhere",
                "--store",
                "v.db",
            ],
            "nowhere",
        ),
    ];
    for (args, said) in cases {
        for name in results {
            std::fs::write(dir.join(name), "from an earlier run that passed").unwrap();
        }
        let args = [*args, &outputs[..]].concat();
        let (code, stdout, stderr) = verdict(dir, &args);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        for name in results {
            assert!(!dir.join(name).exists(), "{args:?} left {name}");
        }
    }

    // What is not a result file stays: a FIFO, an --export file (appended
    // to), and a file an output would have been, refused before anything.
    assert!(
        Command::new("mkfifo")
            .arg(dir.join("fifo.xml"))
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(dir.join("sent.jsonl"), "{}\n").unwrap();
    let (code, _, stderr) = verdict(
        dir,
        &[
            "eval",
            "missing.jsonl",
            "--scorer",
            "exact_match",
            "--store",
            "v.db",
            "--junit",
            "fifo.xml",
            "--export",
            "jsonl:sent.jsonl",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        std::fs::symlink_metadata(dir.join("fifo.xml"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("sent.jsonl")).unwrap(),
        "{}\n"
    );
    let config = "[[scorers]]\nspec = \"exact_match\"\n";
    std::fs::write(dir.join("verdict.toml"), config).unwrap();
    let (code, _, stderr) = verdict(
        dir,
        &[
            "eval",
            "qa.jsonl",
            "--config",
            "verdict.toml",
            "--store",
            "v.db",
            "--report",
            "verdict.toml",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--report verdict.toml is --config verdict.toml"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("verdict.toml")).unwrap(),
        config
    );
}

#[test]
fn standard_output_redirected_onto_the_dataset_or_the_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let before = store_with_a_run(dir);
    let size = std::fs::metadata(dir.join("v.db")).unwrap().len();
    // `>> FILE`: standard output appends to it.
    let appending = |name: &str| {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join(name))
            .unwrap()
    };
    let run = |args: &[&str], stdin: Stdio, stdout: std::fs::File| {
        text_of(
            &command(dir, args)
                .stdin(stdin)
                .stdout(stdout)
                .stderr(Stdio::piped())
                .output()
                .unwrap(),
        )
    };
    let export = [
        "eval",
        "qa.jsonl",
        "--scorer",
        "exact_match",
        "--store",
        "v.db",
        "--export",
        "jsonl:-",
    ];
    let (code, _, stderr) = run(&export, Stdio::null(), appending("qa.jsonl"));
    assert_refused(
        dir,
        (code, String::new(), stderr),
        &[
            "--export jsonl:- writes to standard output, which is the dataset qa.jsonl: writing it \
           would change the dataset while it is read",
        ],
        &before,
    );
    // The dataset read from standard input, the same file.
    let mut from_stdin = export;
    from_stdin[1] = "-";
    let dataset = std::fs::File::open(dir.join("qa.jsonl")).unwrap();
    let (code, _, stderr) = run(&from_stdin, dataset.into(), appending("qa.jsonl"));
    assert_refused(
        dir,
        (code, String::new(), stderr),
        &["which is the dataset (the file standard input reads)"],
        &before,
    );
    // Onto the store.
    let (code, _, stderr) = run(&export, Stdio::null(), appending("v.db"));
    assert_refused(
        dir,
        (code, String::new(), stderr),
        &["--export jsonl:- writes to standard output, which is the store v.db"],
        &before,
    );
    let (code, _, stderr) = run(
        &["push", "--to", "jsonl:-", "--store", "v.db"],
        Stdio::null(),
        appending("v.db"),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--to jsonl:- writes to standard output, which is the store v.db"),
        "{stderr}"
    );
    assert_eq!(std::fs::metadata(dir.join("v.db")).unwrap().len(), size);

    // Another file: written.
    let (code, _, stderr) = run(&export, Stdio::null(), appending("out.jsonl"));
    assert_eq!(code, 0, "{stderr}");
    let lines = std::fs::read_to_string(dir.join("out.jsonl")).unwrap();
    assert!(lines.lines().count() >= 300, "{}", lines.lines().count());
}
