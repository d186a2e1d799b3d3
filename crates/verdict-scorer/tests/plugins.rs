//! Loading real plugins built by cargo (and one built from C here), and
//! what the host does with each kind of misbehaviour. See
//! `test-plugins/README.md`.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{build_c_plugin_against, built, v1_header};

use sha2::{Digest, Sha256};
use verdict_plugin::{ScoreValue, Scorer as _};
use verdict_scorer::{
    LoadError, Origin, OwnedRecord, Plugin, Registry, Runner, SCORER_ERROR, SCORER_INVALID_RESULT,
    SCORER_PANIC, Scorer, ScorerSpec, score_one, to_feedback,
};

fn refusal(path: &Path) -> String {
    Plugin::load(path).unwrap_err().to_string()
}

#[test]
fn refuses_what_is_not_a_usable_plugin_with_a_sentence_to_act_on() {
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("nothing-here.so");
    let err = Plugin::load(&missing).unwrap_err();
    assert!(matches!(err, LoadError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("VERDICT_PLUGIN_PATH"), "{err}");

    let text = dir.path().join("text.so");
    std::fs::write(&text, "this is not a library").unwrap();
    let err = Plugin::load(&text).unwrap_err();
    assert!(matches!(err, LoadError::NotALibrary { .. }), "{err}");

    let err = refusal(&built("verdict-test-no-symbol"));
    assert!(
        err.contains("is not a Verdict plugin") && err.contains("export_plugin!"),
        "{err}"
    );

    let err = refusal(&built("verdict-test-abi-v2"));
    assert!(
        err.contains("needs a host of plugin ABI v3 or later, but this host speaks v2"),
        "{err}"
    );

    let err = refusal(&built("verdict-test-small-descriptor"));
    assert!(
        err.contains("descriptor of 16 bytes, smaller than"),
        "{err}"
    );

    let err = refusal(&built("verdict-test-no-unwind"));
    assert!(
        err.contains("panic = \"abort\"") && err.contains("rebuild"),
        "{err}"
    );
}

/// A copy of the library cargo built from `crate_name`, in `dir`, under
/// the file name of the dynamic library `name`.
fn copied_as(crate_name: &str, dir: &Path, name: &str) -> std::path::PathBuf {
    let to = dir.join(common::library_file(name));
    std::fs::copy(built(crate_name), &to).unwrap();
    to
}

#[test]
fn descriptors_of_other_abi_versions_load_when_they_ask_nothing_newer() {
    let dir = tempfile::tempdir().unwrap();
    let record = &records(&["x"])[0];
    // The required fields only, as the first version laid them out: the
    // rest take their defaults, and it scores.
    let old = Plugin::load(&built("verdict-test-abi-versions")).unwrap();
    assert_eq!(old.info().name, "old_layout");
    let scorer = old.instantiate("").unwrap();
    assert_eq!(
        score_one(&scorer, record).unwrap().value,
        ScoreValue::Bool(true)
    );

    // Built for ABI v3, one field longer than this host knows, working
    // with hosts from v1: loaded, the field it does not know ignored.
    let newer = Plugin::load(&copied_as("verdict-test-abi-versions", dir.path(), "newer")).unwrap();
    assert_eq!(newer.info().name, "newer");
    let scorer = newer.instantiate("").unwrap();
    assert_eq!(
        score_one(&scorer, record).unwrap().value,
        ScoreValue::Bool(true)
    );

    // Built for ABI v4, needing a host of v3: refused, saying so.
    let too_new = copied_as("verdict-test-abi-versions", dir.path(), "too_new");
    let err = Plugin::load(&too_new).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::AbiVersion {
                found: 3,
                expected: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(
            "needs a host of plugin ABI v3 or later, but this host speaks v2: upgrade verdict"
        ),
        "{err}"
    );
}

#[test]
fn the_entry_point_named_for_the_file_comes_before_the_generic_one() {
    let dir = tempfile::tempdir().unwrap();
    // The built-in exact match exports only its own entry point: found
    // under its crate's name, or its scorer's.
    for name in ["verdict_exact_match", "exact_match", "verdict-exact-match"] {
        let plugin = Plugin::load(&copied_as("verdict-exact-match", dir.path(), name)).unwrap();
        assert_eq!(plugin.info().name, "exact_match", "{name}");
    }
    // Under another name it has no entry point the host can find.
    let renamed = copied_as("verdict-exact-match", dir.path(), "renamed");
    let err = Plugin::load(&renamed).unwrap_err();
    assert!(matches!(err, LoadError::NotAPlugin { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("exports neither `verdict_plugin_v1_renamed` nor `verdict_plugin_v1`"),
        "{err}"
    );
}

#[test]
fn a_plugin_is_loaded_once_per_file_and_identified_by_its_digest() {
    let path = built("verdict-test-misbehaving");
    let a = Plugin::load(&path).unwrap();
    let dotted = path
        .parent()
        .unwrap()
        .join(".")
        .join(path.file_name().unwrap());
    let b = Plugin::load(&dotted).unwrap();
    assert!(
        Arc::ptr_eq(&a, &b),
        "the same file must not be loaded twice"
    );
    let info = a.info();
    assert_eq!(info.name, "misbehaving");
    assert_eq!(info.version, "0.0.1");
    assert_eq!(info.config_keys[0].name, "panic_in_create");
    let Origin::Plugin { sha256, .. } = &info.origin else {
        panic!("{:?}", info.origin)
    };
    let expected = format!("{:x}", Sha256::digest(std::fs::read(&path).unwrap()));
    assert_eq!(sha256, &expected);
}

fn records(outputs: &[&str]) -> Vec<OwnedRecord> {
    outputs
        .iter()
        .map(|o| OwnedRecord::new("q", *o).with_expectation("expected_response", "ok"))
        .collect()
}

#[test]
fn panics_and_nan_become_errors_on_their_records_only() {
    let plugin = Plugin::load(&built("verdict-test-misbehaving")).unwrap();
    let err = plugin
        .instantiate(r#"{"panic_in_create": true}"#)
        .unwrap_err();
    assert!(
        err.to_string().contains("asked to panic in create"),
        "{err}"
    );
    let err = plugin.instantiate(r#"{"no_such_key": 1}"#).unwrap_err();
    assert!(err.to_string().contains("unknown key"), "{err}");

    let scorer: Box<dyn Scorer> = Box::new(plugin.instantiate("").unwrap());
    let runner = Runner::new(vec![scorer]).chunk_size(3);
    let outputs = ["ok", "please panic", "nan", "", "ok again", "panic again"];
    let scores = runner.score(&records(&outputs));
    let got: Vec<String> = scores
        .iter()
        .map(|o| match o.get(0).outcome() {
            Ok(s) => format!("{:?}", s.value),
            Err(e) => e.code.to_string(),
        })
        .collect();
    assert_eq!(
        got,
        [
            "Bool(true)",
            SCORER_PANIC,
            SCORER_INVALID_RESULT,
            "Bool(false)",
            "Bool(true)",
            SCORER_PANIC
        ]
    );
    let (code, message) = scores.get(1, 0).error().unwrap();
    assert_eq!(code, SCORER_PANIC);
    assert!(message.contains("asked to panic on"), "{message}");
    // The errors become feedback with an AssessmentError: nothing skipped.
    let target = verdict::Target::parse("0fb07256509eb9d22d07f42f7eb9f24d", None).unwrap();
    let info = runner.scorers()[0].info().clone();
    let feedback = to_feedback(&info, scores.get(1, 0), target).unwrap();
    assert_eq!(feedback.error().unwrap().error_code, SCORER_PANIC);
    assert_eq!(feedback.source().source_id(), "misbehaving");
    assert!(
        feedback
            .metadata()
            .contains_key(verdict_scorer::SCORER_SHA256_KEY)
    );
}

#[test]
fn garbage_results_become_errors_and_long_text_is_fetched_whole() {
    let plugin = Plugin::load(&built("verdict-test-raw-garbage")).unwrap();
    let record = &records(&["x"])[0];
    for (mode, wanted) in [
        ("utf8", "not valid UTF-8"),
        ("kind", "unknown value kind 99"),
        ("status", "unknown status 42"),
        ("bool", "the bool 7"),
        ("inf", "not a finite number"),
        ("verdict", "unknown verdict 7"),
        ("past", "points past the text it wrote"),
        ("skip", "left this record's result unwritten"),
    ] {
        let scorer = plugin
            .instantiate(&format!("{{\"mode\": \"{mode}\"}}"))
            .unwrap();
        let err = score_one(&scorer, record).unwrap_err();
        assert_eq!(err.code, SCORER_INVALID_RESULT, "{mode}");
        assert!(err.message.contains(wanted), "{mode}: {}", err.message);
    }

    // A batch call that skips its last slot: only that record is an error.
    let skipping = plugin.instantiate("skip").unwrap();
    let scores = Runner::new(vec![Box::new(skipping)]).score(&records(&["a", "b", "c"]));
    let ok: Vec<bool> = scores.iter().map(|s| s.get(0).is_ok()).collect();
    assert_eq!(ok, [true, true, false]);

    // Text larger than a call's buffer (100 kB each): every record is
    // scored again alone, and its text is kept whole.
    let long = plugin.instantiate("long").unwrap();
    let scores = Runner::new(vec![Box::new(long)]).score(&records(&["a", "b", "c"]));
    for result in scores.iter() {
        let score = result.get(0).outcome().unwrap();
        assert_eq!(score.value, ScoreValue::Label("L".repeat(1000).into()));
        assert_eq!(
            score.rationale.as_deref(),
            Some("R".repeat(100_000).as_str())
        );
    }

    let failing = plugin.instantiate("fail").unwrap();
    let runner = Runner::new(vec![Box::new(failing)]);
    let scores = runner.score(&records(&["a", "b"]));
    for result in scores.iter() {
        let (code, message) = result.get(0).error().unwrap();
        assert_eq!(code, SCORER_ERROR);
        assert!(
            message.contains("raw_garbage failed on purpose"),
            "{message}"
        );
    }

    let err = plugin.instantiate("fail_create").unwrap_err();
    assert!(
        err.to_string().contains("raw_garbage failed on purpose"),
        "{err}"
    );
}

#[test]
fn a_plugin_written_in_c_against_the_first_header_loads_and_scores() {
    // Built against the header before traces: a plugin already built
    // keeps loading and scoring as it did.
    let dir = tempfile::tempdir().unwrap();
    let so = build_c_plugin_against("exact_match.c", dir.path(), "c_exact_match", &v1_header());

    let mut registry = Registry::new();
    registry.load_plugin(&so).unwrap();
    let info = registry.scorers()[0].clone();
    assert_eq!(
        (info.name.as_str(), info.version.as_str()),
        ("c_exact_match", "1.0.0")
    );
    let err = registry
        .create(&"c_exact_match:k=1".parse().unwrap())
        .err()
        .unwrap();
    assert!(err.to_string().contains("takes no settings"), "{err}");

    // With verdict=true it reports the number of bytes that differ in
    // length, and its own verdict beside it.
    let scorer = registry
        .create(&"c_exact_match:verdict=true".parse().unwrap())
        .unwrap();
    let two = [
        OwnedRecord::new("q", "ok").with_expectation("expected_response", "ok"),
        OwnedRecord::new("q", "nope").with_expectation("expected_response", "ok"),
    ];
    let scores = Runner::new(vec![scorer]).score(&two);
    let (same, other) = (scores.get(0, 0), scores.get(1, 0));
    assert_eq!((same.number(), same.passed()), (Some(0.0), Some(true)));
    assert_eq!((other.number(), other.passed()), (Some(2.0), Some(false)));

    // Not marked thread-safe: the host serializes calls, from many threads.
    let scorer = registry.create(&"c_exact_match".parse().unwrap()).unwrap();
    let runner = Runner::new(vec![scorer]).threads(4).chunk_size(7);
    let mut many = Vec::new();
    for i in 0..500 {
        let output = if i % 3 == 0 { "ok" } else { "no" };
        many.push(OwnedRecord::new("q", output).with_expectation("expected_response", "ok"));
    }
    many.push(OwnedRecord::new("q", "ok"));
    let scores = runner.score(&many);
    // Its rationales are made per record and copied into the call's text
    // buffer; its error code and message are static text.
    for (i, result) in scores.iter().enumerate().take(500) {
        let score = result.get(0);
        assert_eq!(score.number(), Some(f64::from(i % 3 == 0)), "record {i}");
        let want = if i % 3 == 0 {
            "c: equal (2 bytes)"
        } else {
            "c: different (2 bytes)"
        };
        assert_eq!(score.rationale(), Some(want));
    }
    assert_eq!(
        scores.get(500, 0).error(),
        Some(("MISSING_EXPECTATION", "no expected_response"))
    );
}

#[test]
fn specs_name_plugins_by_path_with_config() {
    let path = built("verdict-test-misbehaving");
    let spec: ScorerSpec = format!("{}:panic_in_create=false", path.display())
        .parse()
        .unwrap();
    let scorer = Registry::new().create(&spec).unwrap();
    assert_eq!(scorer.info().name, "misbehaving");
    let ok = score_one(scorer.as_ref(), &records(&["fine"])[0]).unwrap();
    assert_eq!(ok.value, ScoreValue::Bool(true));
    // The compiled-in type gives the same answer as the plugin.
    let native = verdict_test_misbehaving::Misbehaving::from_json("").unwrap();
    let views = verdict_plugin::Record::new(
        verdict_plugin::Value::NULL,
        verdict_plugin::Value::string("fine"),
        &[],
    );
    assert_eq!(native.score(&views).unwrap(), ok);
}

#[test]
fn static_text_is_kept_by_reference_and_copied_text_once_per_call() {
    let registry = Registry::with_builtins();
    let scorers = vec![
        registry.create(&"exact_match".parse().unwrap()).unwrap(),
        registry
            .create(&"edit_distance:max_distance=3".parse().unwrap())
            .unwrap(),
    ];
    let runner = Runner::new(scorers).chunk_size(100).threads(1);
    let outputs: Vec<String> = (0..1000).map(|i| format!("answer {i}")).collect();
    let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let scores = runner.score(&records(&outputs));
    // 48 bytes a result, and a guard slot after each call's (one call per
    // chunk of 100 and scorer); exact match's rationales are static text,
    // edit distance's are made per record ("distance 7 > max 3": 18 bytes
    // here).
    let slots = 2 * 10 * (100 + 1) * 48;
    let copied: usize = (0..1000)
        .map(|i| scores.get(i, 1).rationale().unwrap().len())
        .sum();
    assert_eq!(
        scores.get(3, 0).rationale(),
        Some("differs from expectation")
    );
    assert_eq!(scores.memory(), slots + copied);
}
