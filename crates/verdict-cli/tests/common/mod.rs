//! Shared by the CLI's tests: where cargo put the plugin libraries.

use std::path::PathBuf;

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
