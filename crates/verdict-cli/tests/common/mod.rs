//! Shared by the CLI's tests: where cargo put the plugin libraries, and
//! running the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The built-in scorers, as (scorer name, crate whose dynamic library
/// holds it).
#[allow(dead_code)] // not every test binary loads plugins
pub(crate) const BUILTINS: &[(&str, &str)] = &[
    ("exact_match", "verdict_exact_match"),
    ("regex", "verdict_regex"),
    ("edit_distance", "verdict_edit_distance"),
    ("contains", "verdict_contains"),
    ("token_f1", "verdict_token_f1"),
    ("json", "verdict_json"),
    ("length", "verdict_length"),
    ("numeric", "verdict_numeric"),
    ("similarity", "verdict_similarity"),
    ("rouge", "verdict_rouge"),
    ("bleu", "verdict_bleu"),
    ("json_schema", "verdict_json_schema"),
];

/// The dynamic library cargo built for a dev-dependency, next to the test
/// binary.
#[allow(dead_code)] // not every test binary loads plugins
pub(crate) fn plugin_file(crate_name: &str) -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let path = deps.join(format!(
        "{}{crate_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(path.is_file(), "{path:?} was not built");
    path
}

/// Runs the `verdict` binary with `args`, with no plugins from the
/// environment.
#[allow(dead_code)] // not every test binary runs it this way
pub(crate) fn verdict(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .env_remove("VERDICT_PLUGIN_PATH")
        .output()
        .unwrap()
}

/// Standard output as JSON, after checking that the command succeeded.
#[allow(dead_code)] // not every test binary reads JSON
pub(crate) fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `verdict` binary, to run in `dir` with `args`, its OTLP exports
/// pointed at `endpoint` (`OTEL_EXPORTER_OTLP_ENDPOINT`, with the
/// per-signal endpoints of the caller's environment removed so that they
/// cannot divert it, and a 2 s timeout), and no plugins from the
/// environment.
#[allow(dead_code)] // not every test binary exports to OTLP
pub(crate) fn verdict_otlp(dir: &Path, endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_verdict"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("VERDICT_PLUGIN_PATH")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "2000");
    // Nothing else of the environment's: each test sets what it tests.
    for variable in [
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
    ] {
        command.env_remove(variable);
    }
    command
}

/// An OTLP endpoint nothing listens on: a port bound, then released.
#[allow(dead_code)] // not every test binary exports to OTLP
pub(crate) fn dead_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

/// Exit code, standard output and standard error, as text.
#[allow(dead_code)] // not every test binary reads them so
pub(crate) fn text_of(out: &Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the `verdict` binary in `dir` with `args`, with no plugins from
/// the environment: its exit code, standard output and standard error.
#[allow(dead_code)] // not every test binary runs it this way
pub(crate) fn verdict_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    text_of(
        &Command::new(env!("CARGO_BIN_EXE_verdict"))
            .args(args)
            .current_dir(dir)
            .env_remove("VERDICT_PLUGIN_PATH")
            .output()
            .unwrap(),
    )
}

/// Writes `qa.jsonl` in `dir`: `n` records, a third of them right.
#[allow(dead_code)] // not every test binary evaluates a generated dataset
pub(crate) fn write_dataset(dir: &Path, n: usize) {
    use std::fmt::Write as _;
    let mut text = String::new();
    for i in 0..n {
        let output = if i % 3 == 0 { "a" } else { "b" };
        writeln!(
            text,
            r#"{{"inputs": "q{i}", "outputs": "{output}", "expectations": {{"expected_response": "a"}}}}"#
        )
        .unwrap();
    }
    std::fs::write(dir.join("qa.jsonl"), text).unwrap();
}

/// An OTLP endpoint that takes every request and answers 200 after
/// `delay`: a slow collector, which makes `verdict eval`'s writer (it
/// stores a chunk, then sends it) lag behind the reading and scoring.
#[allow(dead_code)] // not every test binary exports to OTLP
pub(crate) fn slow_endpoint(delay: std::time::Duration) -> verdict_export::testing::HttpStub {
    verdict_export::testing::HttpStub::builder()
        .keep_bodies(false)
        .content_type("application/x-protobuf")
        .start(move |_| {
            std::thread::sleep(delay);
            (200, Vec::new())
        })
        .unwrap()
}
