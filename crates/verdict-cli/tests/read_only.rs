//! A store that can be read but not written — in a read-only directory,
//! owned by someone else — is read by `verdict runs` and `verdict show`,
//! and nothing is written beside it. The real binary, run as a user who
//! may not write there (as root, the test drops to `nobody` with
//! setpriv(1), since root may write anywhere).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// The `verdict` binary, run as a user who cannot write to `dir`.
fn verdict_reader(args: &[&str]) -> (i32, String, String) {
    let bin = env!("CARGO_BIN_EXE_verdict");
    let mut command = if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            bin,
        ]);
        c
    } else {
        Command::new(bin)
    };
    let out = command
        .args(args)
        .env_remove("VERDICT_PLUGIN_PATH")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn runs_and_show_read_a_store_in_a_read_only_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("ro");
    std::fs::create_dir(&store_dir).unwrap();
    let data = dir.path().join("qa.jsonl");
    std::fs::write(
        &data,
        "{\"inputs\": \"q\", \"outputs\": \"Paris\", \"expectations\": {\"expected_response\": \"Paris\"}}\n",
    )
    .unwrap();
    let store = store_dir.join("s.db");
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args([
            "eval",
            data.to_str().unwrap(),
            "--scorer",
            "exact_match",
            "--store",
        ])
        .arg(&store)
        .env_remove("VERDICT_PLUGIN_PATH")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The writer closed cleanly: no -wal or -shm beside the file.
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(&store_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(listing(), ["s.db"]);
    chmod(dir.path(), 0o755);
    chmod(&store_dir, 0o555);
    chmod(&store, 0o444);

    let store_arg = store.to_str().unwrap();
    let (code, stdout, stderr) = verdict_reader(&["runs", "--store", store_arg]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("pass"), "{stdout}");
    let (code, stdout, stderr) = verdict_reader(&["show", "--store", store_arg]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("1 evaluation run in"), "{stdout}");
    let (code, stdout, stderr) = verdict_reader(&["show", "--run", "latest", "--store", store_arg]);
    assert_eq!(code, 0, "{stderr}");
    let trace = stdout
        .split_whitespace()
        .find(|w| w.starts_with("tr-"))
        .unwrap_or_else(|| panic!("no trace listed: {stdout}"))
        .to_owned();
    let (code, stdout, stderr) = verdict_reader(&["show", &trace, "--store", store_arg]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("exact_match = true"), "{stdout}");
    // Writing is refused with a sentence, not half done.
    let (code, _, stderr) =
        verdict_reader(&["feedback", &trace, "helpful", "true", "--store", store_arg]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("read-only") || stderr.contains("permission"),
        "{stderr}"
    );
    assert_eq!(listing(), ["s.db"], "nothing was written beside the store");
    chmod(&store_dir, 0o755);
}

#[test]
fn a_read_only_store_whose_log_holds_commits_is_refused_not_read_stale() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let store = verdict_export::LocalStore::open(&live).unwrap();
    let feedback = verdict::Assessment::feedback("helpful", true)
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
        .unwrap();
    store.log(&feedback).unwrap();
    // While the writer holds it open, the commit is in the log: copy the
    // file and its log (not the -shm) where nobody may write.
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::copy(&live, ro.join("s.db")).unwrap();
    let mut wal = live.as_os_str().to_owned();
    wal.push("-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    std::fs::copy(&wal, ro.join("s.db-wal")).unwrap();
    drop(store);
    chmod(dir.path(), 0o755);
    chmod(&ro, 0o555);
    for file in ["s.db", "s.db-wal"] {
        chmod(&ro.join(file), 0o444);
    }
    let (code, _, stderr) = verdict_reader(&[
        "show",
        "tr-0fb07256509eb9d22d07f42f7eb9f24d",
        "--store",
        ro.join("s.db").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("its changes are still in"), "{stderr}");
    chmod(&ro, 0o755);
}
