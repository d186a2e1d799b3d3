//! Shared by the CLI's tests: where cargo put the plugin libraries, and
//! running the binary.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

/// The built-in scorers, as (scorer name, crate whose dynamic library
/// holds it).
pub(crate) const BUILTINS: &[(&str, &str)] = &[
    ("exact_match", "verdict_exact_match"),
    ("regex", "verdict_regex"),
    ("edit_distance", "verdict_edit_distance"),
    ("contains", "verdict_contains"),
    ("token_f1", "verdict_token_f1"),
    ("json", "verdict_json"),
    ("length", "verdict_length"),
];

/// The dynamic library cargo built for a dev-dependency, next to the test
/// binary.
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
