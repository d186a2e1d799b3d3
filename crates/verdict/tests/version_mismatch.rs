//! A service whose tracing pipeline is built on OpenTelemetry crates one
//! minor version older than Verdict's compiles; Verdict's start-up check
//! must refuse it and name the versions to match. The service is a real
//! binary in a workspace of its own (`tests/version-mismatch`), built with
//! `opentelemetry` 0.32 and `tracing-opentelemetry` 0.33 beside Verdict's.
#![cfg(feature = "tracing")]

use std::path::Path;
use std::process::Command;

#[test]
fn a_service_on_older_opentelemetry_crates_is_told_at_start_up() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/version-mismatch/Cargo.toml");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("version-mismatch");
    let output = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains("own context valid: true"),
        "the service's own pipeline must work, or the test proves nothing\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let told = stdout
        .lines()
        .find_map(|line| line.strip_prefix("verdict: "))
        .unwrap_or_else(|| panic!("no verdict line\nstdout: {stdout}\nstderr: {stderr}"));
    for named in [
        format!("opentelemetry {}", verdict::OPENTELEMETRY_VERSION),
        format!(
            "tracing-opentelemetry {}",
            verdict::TRACING_OPENTELEMETRY_VERSION
        ),
        "cargo tree -d -i opentelemetry".to_owned(),
    ] {
        assert!(told.contains(&named), "{named:?} not in: {told}");
    }
}
