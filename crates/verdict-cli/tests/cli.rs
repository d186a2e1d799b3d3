//! The `verdict` binary, run as a user runs it.

mod common;

use std::process::{Command, Output};

use common::{BUILTINS, json_of, plugin_file, verdict};
use serde_json::Value;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn scorers_lists_every_builtin_with_version_and_config_keys() {
    let list = json_of(&verdict(&["scorers", "--json"]));
    let list = list.as_array().unwrap();
    for (name, _) in BUILTINS {
        let s = list
            .iter()
            .find(|s| s["name"] == *name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(s["origin"], "builtin");
        assert_eq!(s["reads_trace"], false, "{name} reads no trace");
        assert!(!s["version"].as_str().unwrap().is_empty());
        assert!(!s["description"].as_str().unwrap().is_empty());
        assert!(
            !s["config"].as_array().unwrap().is_empty(),
            "{name} documents no config key"
        );
    }
    // The trace scorers say they read the trace.
    for name in [
        "latency",
        "span_status",
        "tool_calls",
        "attribute",
        "token_budget",
    ] {
        let s = list
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(s["reads_trace"], true, "{name}");
    }
    let text = String::from_utf8(verdict(&["scorers"]).stdout).unwrap();
    assert!(text.contains("exact_match 0.1.0 (built in)"), "{text}");
    assert!(text.contains("(built in; reads the trace)"), "{text}");
    assert!(text.contains("normalize"), "{text}");
}

#[test]
fn a_loaded_plugin_is_listed_with_its_file_and_digest_and_shadows_the_builtin() {
    let so = plugin_file("verdict_exact_match");
    let list = json_of(&verdict(&[
        "scorers",
        "--json",
        "--plugin",
        so.to_str().unwrap(),
    ]));
    let exact: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "exact_match")
        .collect();
    assert_eq!(exact.len(), 1, "the plugin shadows the built-in");
    let origin = &exact[0]["origin"];
    assert_eq!(origin["path"], so.canonicalize().unwrap().to_str().unwrap());
    assert_eq!(origin["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn plugins_are_found_through_verdict_plugin_path() {
    let dir = tempfile::tempdir().unwrap();
    let so = plugin_file("verdict_length");
    std::fs::copy(&so, dir.path().join(so.file_name().unwrap())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["scorers", "--json"])
        .env("VERDICT_PLUGIN_PATH", dir.path())
        .output()
        .unwrap();
    let list = json_of(&out);
    let length = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "length")
        .unwrap();
    assert!(
        length["origin"]["path"]
            .as_str()
            .unwrap()
            .starts_with(dir.path().canonicalize().unwrap().to_str().unwrap())
    );
}

#[test]
fn score_prints_one_json_object() {
    let out = json_of(&verdict(&[
        "score",
        "--scorer",
        "exact_match",
        "--output",
        " Paris ",
        "--expected",
        "Paris",
    ]));
    assert_eq!(out["name"], "exact_match");
    assert_eq!(out["value"], true);
    assert!(out["rationale"].is_string());
    assert_eq!(out["error"], Value::Null);

    let out = json_of(&verdict(&[
        "score",
        "--scorer",
        "edit_distance:report=distance",
        "--output",
        "kitten",
        "--expected",
        "sitting",
    ]));
    assert_eq!(out["value"], 3.0);
    assert_eq!(out["passed"], Value::Null, "no criterion of its own");
    // With a threshold, its own verdict beside the number.
    let out = json_of(&verdict(&[
        "score",
        "--scorer",
        "edit_distance:report=distance,max_distance=2",
        "--output",
        "kitten",
        "--expected",
        "sitting",
    ]));
    assert_eq!(
        (&out["value"], &out["passed"]),
        (&3.0.into(), &false.into())
    );

    // Several --expected make a list: any of them may match.
    let out = json_of(&verdict(&[
        "score",
        "--scorer",
        "exact_match",
        "--output",
        "Lyon",
        "--expected",
        "Paris",
        "--expected",
        "Lyon",
    ]));
    assert_eq!(out["value"], true);

    // A record the scorer cannot score is still an answer, with an error,
    // and the exit code says it was not scored: 2, as an input error.
    let out = verdict(&["score", "--scorer", "exact_match", "--output", "Paris"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["value"], Value::Null);
    assert_eq!(json["error"]["code"], "MISSING_EXPECTATION");
    assert!(
        stderr(&out)
            .starts_with("error: exact_match could not score this record: MISSING_EXPECTATION: "),
        "{}",
        stderr(&out)
    );
    // A false value is an answer: 0.
    let out = verdict(&[
        "score",
        "--scorer",
        "exact_match",
        "--output",
        "Lyon",
        "--expected",
        "Paris",
    ]);
    assert_eq!(out.status.code(), Some(0));

    let out = json_of(&verdict(&[
        "score",
        "--scorer",
        r#"regex:{"pattern": "^\\d{4}$"}"#,
        "--output",
        "2024",
    ]));
    assert_eq!(out["value"], true);

    let out = json_of(&verdict(&[
        "score",
        "--scorer",
        "json:check=equal,expectation=shape",
        "--output",
        r#"{"a": 1}"#,
        "--expectation",
        r#"shape={"a": 1.0}"#,
    ]));
    assert_eq!(out["value"], true);
}

#[test]
fn usage_config_and_plugin_errors_exit_2_with_a_clear_message() {
    for (args, wanted) in [
        (&["score", "--scorer", "exact_match"][..], "--output"),
        (
            &["score", "--scorer", "nope", "--output", "x"][..],
            "no scorer named \"nope\"; known scorers: exact_match",
        ),
        (
            &[
                "score",
                "--scorer",
                "exact_match:normalise=raw",
                "--output",
                "x",
            ][..],
            "config key `normalise`: unknown key",
        ),
        (
            &[
                "score",
                "--scorer",
                "exact_match:normalize=loud",
                "--output",
                "x",
            ][..],
            "\"loud\" is not allowed",
        ),
        (
            &["score", "--scorer", "regex:pattern=(", "--output", "x"][..],
            "pattern",
        ),
        (
            &["score", "--scorer", "exact_match:{oops", "--output", "x"][..],
            "not valid JSON",
        ),
        (
            &["score", "--scorer", "./no/such/plugin.so", "--output", "x"][..],
            "no plugin file",
        ),
        (
            &["scorers", "--plugin", "/no/such/libplugin.so"][..],
            "no plugin file",
        ),
        (
            &[
                "score",
                "--scorer",
                "exact_match",
                "--output",
                "x",
                "--expectation",
                "novalue",
            ][..],
            "NAME=VALUE",
        ),
        (&["frobnicate"][..], "unrecognized subcommand"),
    ] {
        let out = verdict(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(wanted), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn the_binary_and_the_plugin_libraries_give_identical_answers() {
    // The same crates, compiled into the binary and loaded through --plugin.
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "exact_match",
            "",
            &["--output", " Paris ", "--expected", "Paris"],
        ),
        (
            "exact_match",
            ":normalize=squad",
            &[
                "--output",
                "The Eiffel-Tower!",
                "--expected",
                "eiffel tower",
            ],
        ),
        (
            "exact_match",
            ":unicode=nfc",
            &["--output", "cafe\u{301}", "--expected", "caf\u{e9}"],
        ),
        (
            "regex",
            ":pattern=\\d+,mode=fullmatch",
            &["--output", "12a"],
        ),
        (
            "edit_distance",
            "",
            &["--output", "東京タワー", "--expected", "東京スカイツリー"],
        ),
        (
            "edit_distance",
            ":max_distance=1,output=pass",
            &["--output", "colour", "--expected", "color"],
        ),
        (
            "contains",
            ":ignore_case=true",
            &["--output", "It is PARIS.", "--expected", "paris"],
        ),
        (
            "token_f1",
            "",
            &["--output", "the cat sat", "--expected", "a cat sat down"],
        ),
        (
            "json",
            ":required_keys=[\"a\"]",
            &["--output", "{\"b\": 1}"],
        ),
        (
            "length",
            ":unit=words,max=3",
            &["--output", "one two three four"],
        ),
        ("length", ":min=1", &["--output", "🙂"]),
        (
            "numeric",
            ":abs_tol=0.01",
            &["--output", "3.14", "--expected", "3.14159"],
        ),
        (
            "similarity",
            ":min_similarity=0.9",
            &["--output", "MARHTA", "--expected", "MARTHA"],
        ),
        (
            "rouge",
            ":type=rouge1",
            &["--output", "the cat sat", "--expected", "The cat sat down."],
        ),
        (
            "bleu",
            "",
            &[
                "--output",
                "the cat sat on the mat",
                "--expected",
                "the cat sat on a mat",
            ],
        ),
        (
            "json_schema",
            ":{\"schema\": {\"type\": \"integer\"}}",
            &["--output", "42"],
        ),
    ];
    for (name, config, args) in cases {
        let crate_name = BUILTINS.iter().find(|(n, _)| n == name).unwrap().1;
        let so = plugin_file(crate_name);
        let builtin_spec = format!("{name}{config}");
        let plugin_spec = format!("{}{config}", so.display());
        let mut a = vec!["score", "--scorer", &builtin_spec];
        a.extend_from_slice(args);
        let mut b = vec!["score", "--scorer", &plugin_spec];
        b.extend_from_slice(args);
        let (a, b) = (json_of(&verdict(&a)), json_of(&verdict(&b)));
        assert_eq!(a, b, "{name}{config} {args:?}");
        assert!(a["error"].is_null(), "{name}{config}: {a}");
    }
}
