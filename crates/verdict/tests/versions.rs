//! The versions Verdict's messages name are the ones it is built with.

fn workspace_version(krate: &str) -> String {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.starts_with(&format!("{krate} = ")))
        .unwrap_or_else(|| panic!("{krate} is not a workspace dependency"));
    let version = line.split("version = \"").nth(1).unwrap();
    version[..version.find('"').unwrap()].to_owned()
}

#[test]
fn the_stated_versions_are_the_workspace_s() {
    assert_eq!(
        verdict::OPENTELEMETRY_VERSION,
        workspace_version("opentelemetry")
    );
    assert_eq!(
        verdict::OPENTELEMETRY_VERSION,
        workspace_version("opentelemetry_sdk")
    );
    assert_eq!(
        verdict::TRACING_OPENTELEMETRY_VERSION,
        workspace_version("tracing-opentelemetry")
    );
}

#[test]
fn a_missing_span_names_the_versions_to_match() {
    let error = verdict::Target::current().unwrap_err().to_string();
    assert!(
        error.contains(&format!("opentelemetry {}", verdict::OPENTELEMETRY_VERSION)),
        "{error}"
    );
}
