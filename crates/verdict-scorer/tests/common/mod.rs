//! Shared by the host's plugin tests: the plugin libraries cargo built,
//! and C plugins compiled here against the header.

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
    let so = dir.join(library_file(name));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let include = manifest.join("../verdict-plugin/include");
    let status = std::process::Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args([
            "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I",
        ])
        .arg(&include)
        .arg(manifest.join("tests/c").join(source))
        .arg("-o")
        .arg(&so)
        .status()
        .expect("a C compiler (cc) is needed to build the C plugins");
    assert!(
        status.success(),
        "{source} did not compile against verdict_plugin.h"
    );
    so
}
