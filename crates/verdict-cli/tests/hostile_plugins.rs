//! Hostile plugins of the project's own — one in C against
//! `verdict_plugin.h`, compiled here, and one in Rust
//! (`crates/verdict-scorer/test-plugins/hostile`) — through the real
//! `verdict` binary: each is refused when read, or costs the records of
//! its batch an error feedback while the run goes on; the host stays
//! alive and its exit code says what the gates say.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{plugin_file, text_of};
use verdict::FeedbackValue;
use verdict_export::LocalStore;

const VERDICT: &str = env!("CARGO_BIN_EXE_verdict");

/// The C plugin built from `tests/c/hostile.c`, with `define` (a
/// constructor that exits or crashes) or without.
fn c_plugin(define: Option<&str>) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("hostile-c-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        for (name, define) in [
            ("libc_hostile.so", None),
            ("libc_ctor_exit.so", Some("-DCTOR_EXIT")),
            ("libc_ctor_crash.so", Some("-DCTOR_CRASH")),
        ] {
            let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
                .args([
                    "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I",
                ])
                .arg(manifest.join("../verdict-plugin/include"))
                .args(define)
                .arg(manifest.join("tests/c/hostile.c"))
                .arg("-o")
                .arg(dir.join(name))
                .status()
                .expect("a C compiler (cc) is needed to build the C plugin");
            assert!(
                status.success(),
                "hostile.c did not compile against verdict_plugin.h"
            );
        }
        dir
    });
    dir.join(match define {
        None => "libc_hostile.so",
        Some("-DCTOR_EXIT") => "libc_ctor_exit.so",
        Some(_) => "libc_ctor_crash.so",
    })
}

/// The Rust plugin cargo built.
fn rust_plugin() -> PathBuf {
    plugin_file("verdict_test_hostile")
}

/// The two plugins, with the name of their scorer.
fn plugins() -> [(PathBuf, &'static str); 2] {
    [(c_plugin(None), "c_hostile"), (rust_plugin(), "hostile")]
}

/// 600 records whose outputs match: records 0 and 300 say "boom". The
/// run scores 512 records, then 88, 256 at a time on two threads: the
/// first two batches meet a "boom" each, and the third, after both, needs
/// a new worker.
fn dataset(dir: &Path) -> PathBuf {
    let path = dir.join("data.jsonl");
    let lines: String = (0..600)
        .map(|i| {
            let output = if i == 0 || i == 300 { "boom" } else { "Paris" };
            format!(
                "{{\"inputs\": \"q{i}\", \"outputs\": \"{output}\", \"expectations\": \
                 {{\"expected_response\": \"Paris\"}}}}\n"
            )
        })
        .collect();
    std::fs::write(&path, lines).unwrap();
    path
}

/// `verdict eval` of the dataset in `dir` with `args`, into `dir/s.db`.
fn eval(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let data = dataset(dir);
    let out = Command::new(VERDICT)
        .arg("eval")
        .arg(&data)
        .args(["--store", "s.db"])
        .args(args)
        .current_dir(dir)
        .env_remove("VERDICT_PLUGIN_PATH")
        .output()
        .unwrap();
    text_of(&out)
}

/// The stored feedback of scorer `name`: how many records each error code
/// got (with one of its messages), and how many were scored true and
/// false.
fn stored(dir: &Path, name: &str) -> (Vec<(String, usize, String)>, usize, usize) {
    let store = LocalStore::open(dir.join("s.db")).unwrap();
    let mut errors: Vec<(String, usize, String)> = Vec::new();
    let (mut passed, mut failed) = (0, 0);
    for feedback in store.list_by_name(name).unwrap() {
        match (feedback.error(), feedback.feedback_value()) {
            (Some(error), _) => {
                let message = error.error_message.clone().unwrap_or_default();
                match errors
                    .iter_mut()
                    .find(|(code, ..)| *code == error.error_code)
                {
                    Some((_, n, _)) => *n += 1,
                    None => errors.push((error.error_code.clone(), 1, message)),
                }
            }
            (None, Some(FeedbackValue::Bool(true))) => passed += 1,
            (None, Some(FeedbackValue::Bool(false))) => failed += 1,
            (None, other) => panic!("{name}: unexpected value {other:?}"),
        }
    }
    (errors, passed, failed)
}

/// Checks a run whose two first batches (512 records) failed with `code`,
/// with a message holding `wanted`, and whose third (88) was scored: the
/// gate fails and says so, with exit code 1.
fn assert_batches_lost(
    dir: &Path,
    run: (i32, String, String),
    name: &str,
    code: &str,
    wanted: &str,
) {
    let (exit, stdout, stderr) = run;
    assert_eq!(
        exit, 1,
        "{name}: a failing gate exits 1\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("a gate failed"), "{stdout}");
    let (errors, passed, failed) = stored(dir, name);
    assert_eq!(failed, 0, "{name}");
    assert_eq!(errors.len(), 1, "{name}: {errors:?}");
    let (got, n, message) = &errors[0];
    assert_eq!((got.as_str(), *n), (code, 512), "{name}: {message}");
    assert!(message.contains(wanted), "{name}: {message}");
    assert!(
        message.contains(name),
        "the message names the plugin: {message}"
    );
    assert_eq!(
        passed, 88,
        "{name}: the batch after the crashes is scored by a new worker"
    );
}

#[test]
fn a_crash_an_abort_a_stack_overflow_or_an_exit_costs_its_batch_and_the_run_goes_on() {
    for (plugin, name) in plugins() {
        for (mode, wanted) in [
            ("segfault", "killed by SIGSEGV (signal 11)"),
            ("abort", "killed by SIGABRT (signal 6)"),
            ("stack_overflow", "killed by SIGSEGV (signal 11)"),
            // exit(0) in a worker is a crash like any other: the gate
            // still fails.
            ("exit", "exited with status 0"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let run = eval(
                dir.path(),
                &[
                    "--plugin",
                    plugin.to_str().unwrap(),
                    "--scorer",
                    &format!("{name}:mode={mode}"),
                    "--fail-under",
                    &format!("{name}=0.9"),
                ],
            );
            assert_batches_lost(dir.path(), run, name, "SCORER_CRASHED", wanted);
        }
    }
}

#[test]
fn a_batch_over_its_time_limit_is_stopped_and_recorded_as_a_timeout() {
    // The C plugin's limit from the command line, the Rust one's from
    // verdict.toml. What is asserted is the code, not the time.
    let (c, rust) = (c_plugin(None), rust_plugin());
    let dir = tempfile::tempdir().unwrap();
    let run = eval(
        dir.path(),
        &[
            "--plugin",
            c.to_str().unwrap(),
            "--scorer",
            "c_hostile:mode=loop",
            "--plugin-timeout",
            "1s",
            "--fail-under",
            "c_hostile=0.9",
        ],
    );
    assert_batches_lost(
        dir.path(),
        run,
        "c_hostile",
        "SCORER_TIMEOUT",
        "took longer than the limit of 1 s",
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("verdict.toml"),
        "[[scorers]]\nspec = \"hostile:mode=loop\"\nfail_under = 0.9\n\n[plugins]\ntimeout = \"500ms\"\n",
    )
    .unwrap();
    let run = eval(
        dir.path(),
        &[
            "--config",
            "verdict.toml",
            "--plugin",
            rust.to_str().unwrap(),
        ],
    );
    assert_batches_lost(
        dir.path(),
        run,
        "hostile",
        "SCORER_TIMEOUT",
        "took longer than the limit of 500 ms",
    );
}

#[test]
fn a_worker_that_runs_out_of_its_memory_is_recorded_as_out_of_memory() {
    for (plugin, name) in plugins() {
        let dir = tempfile::tempdir().unwrap();
        let run = eval(
            dir.path(),
            &[
                "--plugin",
                plugin.to_str().unwrap(),
                "--scorer",
                &format!("{name}:mode=hog"),
                "--plugin-memory",
                "256",
                "--fail-under",
                &format!("{name}=0.9"),
            ],
        );
        assert_batches_lost(dir.path(), run, name, "SCORER_OOM", "limit of 256 MiB");
    }
}

#[test]
fn a_trusted_plugin_that_calls_exit_cannot_make_a_failing_run_exit_0() {
    for (plugin, name) in plugins() {
        // Trusted on the command line, and in verdict.toml.
        let dir = tempfile::tempdir().unwrap();
        let (exit, _, stderr) = eval(
            dir.path(),
            &[
                "--trusted-plugin",
                plugin.to_str().unwrap(),
                "--scorer",
                &format!("{name}:mode=exit"),
                "--fail-under",
                &format!("{name}=0.9"),
            ],
        );
        assert_eq!(exit, 2, "{name}: {stderr}");
        assert!(
            stderr.contains("called exit() before verdict reached its verdict"),
            "{stderr}"
        );

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("verdict.toml"),
            format!(
                "[[scorers]]\nspec = \"{name}:mode=exit\"\nfail_under = 0.9\n\n[plugins]\ntrusted = [{:?}]\n",
                plugin
            ),
        )
        .unwrap();
        let (exit, _, stderr) = eval(
            dir.path(),
            &[
                "--config",
                "verdict.toml",
                "--plugin",
                plugin.to_str().unwrap(),
            ],
        );
        assert_eq!(exit, 2, "{name}: {stderr}");

        // Trusted and well-behaved (no mode): it scores in-process, and
        // the run passes.
        let dir = tempfile::tempdir().unwrap();
        let (exit, stdout, stderr) = eval(
            dir.path(),
            &[
                "--trusted-plugin",
                plugin.to_str().unwrap(),
                "--scorer",
                name,
            ],
        );
        assert_eq!(exit, 0, "{stdout}\n{stderr}");
        // "boom" is not Paris: those two records fail, the rest pass.
        let (errors, passed, failed) = stored(dir.path(), name);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((passed, failed), (598, 2));
    }
}

/// A directory standing for `VERDICT_PLUGIN_PATH`, holding the Rust
/// plugin and every kind of file that is no plugin.
fn plugin_path(dir: &Path) -> PathBuf {
    let path = dir.join("plugins");
    std::fs::create_dir(&path).unwrap();
    std::fs::copy(rust_plugin(), path.join("libhostile.so")).unwrap();
    std::fs::copy(c_plugin(Some("-DCTOR_EXIT")), path.join("libctor_exit.so")).unwrap();
    std::fs::copy(
        c_plugin(Some("-DCTOR_CRASH")),
        path.join("libctor_crash.so"),
    )
    .unwrap();
    std::fs::create_dir(path.join("dir.so")).unwrap();
    std::os::unix::fs::symlink("loop.so", path.join("loop.so")).unwrap();
    std::os::unix::fs::symlink("nowhere.so", path.join("gone.so")).unwrap();
    std::fs::write(path.join("short.so"), "not a library").unwrap();
    path
}

/// What each bad file of [`plugin_path`] is refused for.
const REFUSALS: [(&str, &str); 6] = [
    ("libctor_exit.so", "its worker exited with status 0"),
    ("libctor_crash.so", "its worker was killed by SIGSEGV"),
    ("dir.so", "is a directory, not a plugin file"),
    ("loop.so", "is a loop of symbolic links"),
    (
        "gone.so",
        "is a symbolic link to \"nowhere.so\", which does not exist",
    ),
    ("short.so", "file too short"),
];

#[test]
fn broken_files_in_the_plugin_path_are_listed_with_their_reason_and_stop_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = plugin_path(dir.path());
    let run = |args: &[&str]| {
        text_of(
            &Command::new(VERDICT)
                .args(args)
                .current_dir(dir.path())
                .env("VERDICT_PLUGIN_PATH", &path)
                .output()
                .unwrap(),
        )
    };

    let (exit, stdout, stderr) = run(&["scorers", "--json"]);
    assert_eq!(exit, 0, "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let list = list.as_array().unwrap();
    assert!(list.iter().any(|s| s["name"] == "hostile"), "{stdout}");
    for (file, wanted) in REFUSALS {
        let entry = list
            .iter()
            .find(|s| {
                s["origin"]["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(file))
            })
            .unwrap_or_else(|| panic!("{file} is listed: {stdout}"));
        assert!(entry["name"].is_null(), "{entry}");
        let error = entry["error"].as_str().unwrap();
        assert!(
            error.contains(wanted) && error.contains(file),
            "{file}: {error}"
        );
    }
    let (exit, stdout, _) = run(&["scorers"]);
    assert_eq!(exit, 0);
    assert!(stdout.contains("file too short"), "{stdout}");

    // A run that uses only a built-in scorer, and one that uses the good
    // plugin of the path: neither is stopped by the others.
    let data = dataset(dir.path());
    for scorer in ["exact_match", "hostile"] {
        let (exit, stdout, stderr) = run(&[
            "eval",
            data.to_str().unwrap(),
            "--store",
            "s.db",
            "--scorer",
            scorer,
            "--fail-under",
            &format!("{scorer}=0.99"),
        ]);
        assert_eq!(exit, 0, "{scorer}: {stdout}\n{stderr}");
    }
}

#[test]
fn each_bad_plugin_file_is_refused_with_its_own_reason_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = plugin_path(dir.path());
    let missing = path.join("missing.so");
    let refusals = REFUSALS
        .iter()
        .map(|(file, wanted)| (path.join(file), *wanted))
        .chain([(missing, "no plugin file at")]);
    for (file, wanted) in refusals {
        let (exit, _, stderr) = text_of(
            &Command::new(VERDICT)
                .args([
                    "score",
                    "--plugin",
                    file.to_str().unwrap(),
                    "--scorer",
                    "x",
                    "--output",
                    "y",
                ])
                .env_remove("VERDICT_PLUGIN_PATH")
                .output()
                .unwrap(),
        );
        assert_eq!(exit, 2, "{file:?}: {stderr}");
        assert!(stderr.contains(wanted), "{file:?}: {stderr}");
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            stderr.contains(name),
            "the message names the file: {stderr}"
        );
    }
}

#[test]
fn a_create_that_returns_no_state_is_refused_with_a_message_naming_the_plugin() {
    let plugin = c_plugin(None);
    let (exit, _, stderr) = text_of(
        &Command::new(VERDICT)
            .args(["score", "--plugin", plugin.to_str().unwrap()])
            .args(["--scorer", "c_hostile:mode=nostate", "--output", "y"])
            .env_remove("VERDICT_PLUGIN_PATH")
            .output()
            .unwrap(),
    );
    assert_eq!(exit, 2, "{stderr}");
    assert!(
        stderr.contains("c_hostile (plugin ") && stderr.contains("returned no state from `create`"),
        "{stderr}"
    );
}
