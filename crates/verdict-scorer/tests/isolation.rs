//! Plugins run in worker processes, at the library's level: this test
//! binary is its own worker program (the `worker` test below serves when
//! started so), and the test plugins are read and scored through it.
#![cfg(target_os = "linux")]

use std::path::PathBuf;

use verdict_plugin::ScoreValue;
use verdict_scorer::{
    IsolatedPlugin, Isolation, LoadError, Origin, OwnedRecord, Runner, SCORER_ERROR,
    SCORER_INVALID_RESULT, SCORER_PANIC, Scorer, score_one,
};

/// Serves as a worker when this binary was started as one: its standard
/// input is then the region a host made (a memfd named so).
#[test]
fn worker() {
    let started_as_worker = std::fs::read_link("/proc/self/fd/0")
        .is_ok_and(|p| p.to_string_lossy().contains("memfd:verdict-plugin-worker"));
    if started_as_worker {
        let served = verdict_scorer::serve_worker();
        // Before the test harness writes its summary.
        std::process::exit(i32::from(served.is_err()));
    }
}

/// Workers are this test binary, running only the `worker` test.
fn isolation() -> Isolation {
    Isolation::new(std::env::current_exe().unwrap())
        .arg("worker")
        .arg("--exact")
        .arg("--quiet")
        .arg("--test-threads=1")
}

/// A dynamic library cargo built next to this test binary.
fn built(crate_name: &str) -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    deps.join(format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        crate_name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    ))
}

fn records(outputs: &[&str]) -> Vec<OwnedRecord> {
    outputs
        .iter()
        .map(|o| OwnedRecord::new("q", *o).with_expectation("expected_response", "ok"))
        .collect()
}

#[test]
fn an_isolated_plugin_reads_and_scores_as_one_in_process_does() {
    let path = built("verdict-test-misbehaving");
    let plugin = IsolatedPlugin::load(&path, &isolation()).unwrap();
    let info = plugin.info();
    assert_eq!(
        (info.name.as_str(), info.version.as_str()),
        ("misbehaving", "0.0.1")
    );
    assert_eq!(info.config_keys[0].name, "panic_in_create");
    let Origin::Plugin { sha256, .. } = &info.origin else {
        panic!("{:?}", info.origin)
    };
    assert_eq!(sha256.len(), 64);

    let err = plugin.instantiate(r#"{"no_such_key": 1}"#).unwrap_err();
    assert!(matches!(err, LoadError::Config(_)), "{err}");
    assert!(
        err.to_string().contains("unknown key") && err.to_string().contains("misbehaving"),
        "{err}"
    );

    // Panics and NaN become errors on their records only, on four
    // threads, each with a worker of its own.
    let scorer: Box<dyn Scorer> = Box::new(plugin.instantiate("").unwrap());
    let runner = Runner::new(vec![scorer]).threads(4).chunk_size(3);
    let mut outputs = Vec::new();
    for _ in 0..20 {
        outputs.extend(["ok", "please panic", "nan", ""]);
    }
    let scores = runner.score(&records(&outputs));
    for (i, result) in scores.iter().enumerate() {
        let got = match result.get(0).outcome() {
            Ok(s) => format!("{:?}", s.value),
            Err(e) => e.code.to_string(),
        };
        let wanted = [
            "Bool(true)",
            SCORER_PANIC,
            SCORER_INVALID_RESULT,
            "Bool(false)",
        ][i % 4];
        assert_eq!(got, wanted, "record {i}");
    }
    assert_eq!(scores.get(0, 0).rationale(), Some("fine"));
}

#[test]
fn garbage_from_a_worker_is_refused_and_long_text_comes_back_whole() {
    let plugin = IsolatedPlugin::load(&built("verdict-test-raw-garbage"), &isolation()).unwrap();
    let record = &records(&["x"])[0];
    for (mode, wanted) in [
        ("utf8", "not valid UTF-8"),
        ("kind", "unknown value kind 99"),
        ("inf", "not a finite number"),
        ("skip", "left this record's result unwritten"),
    ] {
        let scorer = plugin.instantiate(mode).unwrap();
        let err = score_one(&scorer, record).unwrap_err();
        assert_eq!(err.code, SCORER_INVALID_RESULT, "{mode}");
        assert!(err.message.contains(wanted), "{mode}: {}", err.message);
    }
    let failing = plugin.instantiate("fail").unwrap();
    let err = score_one(&failing, record).unwrap_err();
    assert_eq!(err.code, SCORER_ERROR);

    // 40 records of 101 kB of text each: more than a reply's first room
    // (the worker asks for more) and than a call's text buffer here (each
    // record is read again with room for its text).
    let long = plugin.instantiate("long").unwrap();
    let outputs = vec!["a"; 40];
    let scores = Runner::new(vec![Box::new(long)])
        .threads(1)
        .score(&records(&outputs));
    for result in scores.iter() {
        let score = result.get(0).outcome().unwrap();
        assert_eq!(score.value, ScoreValue::Label("L".repeat(1000).into()));
        assert_eq!(
            score.rationale.as_deref(),
            Some("R".repeat(100_000).as_str())
        );
    }
}

#[test]
fn a_plugin_that_cannot_be_read_is_refused_as_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text.so");
    std::fs::write(&text, "this is not a library").unwrap();
    let err = IsolatedPlugin::load(&text, &isolation()).unwrap_err();
    assert!(matches!(err, LoadError::NotALibrary { .. }), "{err}");
    assert!(err.to_string().contains("file too short"), "{err}");

    let err = IsolatedPlugin::load(&built("verdict-test-abi-v2"), &isolation()).unwrap_err();
    assert!(
        err.to_string()
            .contains("needs a host of plugin ABI v3 or later, but this host speaks v2"),
        "{err}"
    );

    // A worker program that is no worker: refused with what happened.
    let err = IsolatedPlugin::load(
        &built("verdict-test-misbehaving"),
        &Isolation::new("/bin/true"),
    )
    .unwrap_err();
    assert!(matches!(err, LoadError::Worker { .. }), "{err}");
    assert!(err.to_string().contains("exited with status 0"), "{err}");
}
