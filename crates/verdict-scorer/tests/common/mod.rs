//! Shared by the host's plugin tests: the plugin libraries cargo built,
//! and C plugins compiled here against the header.
// Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A dynamic library cargo built next to this test binary (the test
/// plugins are dev-dependencies, so they are built before the tests run).
pub(crate) fn built(crate_name: &str) -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let path = deps.join(library_file(&crate_name.replace('-', "_")));
    assert!(path.is_file(), "{path:?} was not built");
    path
}

/// The file name of the dynamic library `name` on this platform.
pub(crate) fn library_file(name: &str) -> String {
    format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// Compiles `tests/c/<source>` against `verdict_plugin.h` with the system
/// C compiler (`CC`, else `cc`), warnings as errors, into the dynamic
/// library `name` in `dir`.
pub(crate) fn build_c_plugin(source: &str, dir: &Path, name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    build_c_plugin_against(
        source,
        dir,
        name,
        &manifest.join("../verdict-plugin/include"),
    )
}

/// The header as it was before version 2 added traces, kept unchanged in
/// `tests/c/v1-before-traces/`: plugins compiled against it stand for the
/// plugins already built.
pub(crate) fn v1_header() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/v1-before-traces")
}

/// Compiles `tests/c/<source>` as [`build_c_plugin`] does, against the
/// `verdict_plugin.h` in `include`.
pub(crate) fn build_c_plugin_against(
    source: &str,
    dir: &Path,
    name: &str,
    include: &Path,
) -> PathBuf {
    let so = dir.join(library_file(name));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args([
            "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I",
        ])
        .arg(include)
        .arg(manifest.join("tests/c").join(source))
        .arg("-o")
        .arg(&so)
        .status()
        .expect("a C compiler (cc) is needed to build the C plugins");
    assert!(
        status.success(),
        "{source} did not compile against {}/verdict_plugin.h",
        include.display()
    );
    so
}
