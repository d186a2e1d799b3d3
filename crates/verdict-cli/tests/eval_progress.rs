//! `verdict eval`'s progress bar: shown on a long run in a terminal, never
//! when standard error is not one. The real binary, made long by a slow
//! OTLP destination (its writer sends each chunk after storing it), in a
//! pseudo-terminal made by util-linux's `script`, and with plain pipes.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{dead_endpoint, slow_endpoint, text_of, verdict_otlp, write_dataset};

/// Six chunks (512 records, four of 4,096, 3,584), each sent to a
/// collector that takes 100 ms per request (a request of spans and
/// several of events per chunk): seconds, past the 0.7 s a run goes before
/// it shows a bar.
const RECORDS: usize = 5 * 4096;
const DELAY: Duration = Duration::from_millis(100);

/// `verdict eval` as argument words, exporting to the slow collector.
fn eval_args() -> Vec<&'static str> {
    vec![
        "eval",
        "qa.jsonl",
        "--scorer",
        "exact_match",
        "--store",
        "s.db",
        "--export",
        "otlp",
    ]
}

/// What the bar draws: "<percent>% <n> records (<elapsed>)".
fn has_bar(text: &str) -> bool {
    text.match_indices(" records (").any(|(at, _)| {
        let before = &text[..at];
        let count = before.trim_end_matches(|c: char| c.is_ascii_digit());
        count.len() < before.len() && count.ends_with("% ")
    })
}

/// Single quotes for `sh -c`.
fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[test]
fn a_long_run_in_a_terminal_shows_the_bar() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path(), RECORDS);
    let collector = slow_endpoint(DELAY);
    // `script` runs the command with a pseudo-terminal as its standard
    // streams and copies what it writes there to its own standard output.
    let mut command = vec![quoted(env!("CARGO_BIN_EXE_verdict"))];
    command.extend(eval_args().into_iter().map(quoted));
    let out = script(dir.path(), &collector.url(), &command.join(" "));
    let (code, terminal, stderr) = text_of(&out);
    assert_eq!(code, 0, "{terminal}{stderr}");
    assert!(terminal.contains("stored as run-"), "{terminal}");
    assert!(has_bar(&terminal), "no progress bar in:\n{terminal:?}");
}

#[test]
fn a_long_run_without_a_terminal_shows_no_bar() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path(), RECORDS);
    let collector = slow_endpoint(DELAY);
    let out = verdict_otlp(dir.path(), &collector.url(), &eval_args())
        .env("TERM", "xterm-256color")
        .output()
        .unwrap();
    let (code, stdout, stderr) = text_of(&out);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("stored as run-"), "{stdout}");
    // Nothing but the summary: no bar, no terminal escapes, on either.
    assert!(stderr.is_empty(), "{stderr:?}");
    assert!(!has_bar(&stdout) && !stdout.contains('\x1b'), "{stdout:?}");
}

/// What the bar draws when the dataset's size is not known (a pipe):
/// "<spinner> <n> records, <size> read (<elapsed>)".
fn has_counter(text: &str) -> bool {
    text.match_indices(" records, ").any(|(at, _)| {
        let before = &text[..at];
        before.ends_with(|c: char| c.is_ascii_digit()) && text[at..].contains(" read (")
    })
}

#[test]
fn a_long_run_from_a_pipe_counts_records_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path(), RECORDS);
    // The first records, then the rest after a pause: long enough for the
    // bar to show, from a pipe, whose size no one knows.
    let mut command = vec![quoted(env!("CARGO_BIN_EXE_verdict"))];
    command.extend(
        ["eval", "-", "--scorer", "exact_match", "--store", "s.db"]
            .into_iter()
            .map(quoted),
    );
    let line = format!(
        "(head -n 600 qa.jsonl; sleep 2; tail -n +601 qa.jsonl) | {}",
        command.join(" ")
    );
    let out = script(dir.path(), &dead_endpoint(), &line);
    let (code, terminal, stderr) = text_of(&out);
    assert_eq!(code, 0, "{terminal}{stderr}");
    assert!(
        terminal.contains(&format!(" · {RECORDS} records · ")),
        "{terminal}"
    );
    assert!(has_counter(&terminal), "no progress in:\n{terminal:?}");
}

/// Runs `command` (a shell command line) in `dir` under `script`, with
/// OTLP pointed at `endpoint`.
fn script(dir: &Path, endpoint: &str, command: &str) -> std::process::Output {
    let mut script = Command::new("script");
    // -q: no start and done lines; -e: its exit code is the command's;
    // the typescript file is not wanted.
    script.args(["-q", "-e", "-c", command, "/dev/null"]);
    // The environment `verdict_otlp` gives the binary, on `script`.
    let verdict = verdict_otlp(dir, endpoint, &[]);
    for (name, value) in verdict.get_envs() {
        match value {
            Some(value) => script.env(name, value),
            None => script.env_remove(name),
        };
    }
    script
        .current_dir(dir)
        .env("TERM", "xterm-256color")
        .output()
        .expect("util-linux's `script` runs")
}
