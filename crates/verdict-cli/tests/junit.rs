//! `verdict eval --junit`: what a CI dashboard concludes from the file is
//! what the exit code says. The real binary, read back with quick-xml.

mod common;

use std::path::Path;

use common::{dead_endpoint, text_of, verdict_otlp};
use quick_xml::events::Event;

/// What a CI system reads from a JUnit file: the test cases, and the
/// names of those that failed and those in error.
#[derive(Debug)]
struct Verdict {
    cases: usize,
    failed: Vec<String>,
    errors: Vec<String>,
}

fn read(path: &Path) -> Verdict {
    let xml = std::fs::read_to_string(path).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failed, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    let (mut total_failures, mut total_errors) = (0, 0);
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => {
                let attr = |name: &str| {
                    e.try_get_attribute(name)
                        .unwrap()
                        .map(|a| a.unescape_value().unwrap().into_owned())
                        .unwrap_or_default()
                };
                match e.name().as_ref() {
                    b"testsuites" => {
                        total_failures = attr("failures").parse().unwrap();
                        total_errors = attr("errors").parse().unwrap();
                    }
                    b"testcase" => cases.push(attr("name")),
                    b"failure" => failed.push(cases.last().unwrap().clone()),
                    b"error" => errors.push(cases.last().unwrap().clone()),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // The totals a dashboard shows agree with the cases.
    assert_eq!((total_failures, total_errors), (failed.len(), errors.len()));
    Verdict {
        cases: cases.len(),
        failed,
        errors,
    }
}

fn data(dir: &Path) -> String {
    std::fs::write(
        dir.join("qa.jsonl"),
        concat!(
            r#"{"inputs": "q1", "outputs": "Paris", "expectations": {"expected_response": "Paris"}}"#,
            "\n",
            r#"{"inputs": "q2", "outputs": "Lyon", "expectations": {"expected_response": "Paris"}}"#,
            "\n",
            r#"{"inputs": "q3", "outputs": "Rome", "expectations": {"expected_response": "Rome"}}"#,
            "\n",
        ),
    )
    .unwrap();
    "qa.jsonl".into()
}

/// Runs `verdict eval qa.jsonl --scorer exact_match --junit junit.xml ARGS`
/// (OTLP pointed nowhere), and returns its exit code and the JUnit file.
fn eval(dir: &Path, args: &[&str]) -> (i32, Verdict) {
    let data = data(dir);
    let mut all = vec![
        "eval",
        &data,
        "--scorer",
        "exact_match",
        "--junit",
        "junit.xml",
    ];
    all.extend_from_slice(args);
    let out = verdict_otlp(dir, &dead_endpoint(), &all).output().unwrap();
    let (code, stdout, stderr) = text_of(&out);
    eprintln!("{stdout}{stderr}");
    (code, read(&dir.join("junit.xml")))
}

#[test]
fn ci_sees_red_exactly_when_the_run_fails() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    // One record of three judged false, every gate passed: exit 0, and
    // nothing failed in the file.
    let (code, junit) = eval(dir, &["--fail-under", "exact_match=0.6"]);
    assert_eq!(code, 0);
    assert!(
        junit.failed.is_empty() && junit.errors.is_empty(),
        "{junit:?}"
    );
    // The gate, the run and the scorer's listing.
    assert_eq!(junit.cases, 3, "{junit:?}");

    // A gate fails: exit 1, and that gate is the one failure.
    let (code, junit) = eval(
        dir,
        &[
            "--fail-under",
            "exact_match=0.9",
            "--gate",
            "exact_match >= 0.5",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(junit.failed, ["exact_match pass rate ≥ 90.0 %"]);
    assert!(junit.errors.is_empty(), "{junit:?}");

    // An export that could not deliver: exit 2, and an error.
    let (code, junit) = eval(dir, &["--export", "otlp"]);
    assert_eq!(code, 2);
    assert_eq!(junit.errors, ["export to otlp"]);
    assert!(junit.failed.is_empty(), "{junit:?}");

    // A run that stopped before its verdict: exit 2, and an error.
    std::fs::write(dir.join("bad.jsonl"), "{\"inputs\": \n").unwrap();
    let out = verdict_otlp(
        dir,
        &dead_endpoint(),
        &[
            "eval",
            "bad.jsonl",
            "--scorer",
            "exact_match",
            "--junit",
            "junit.xml",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let junit = read(&dir.join("junit.xml"));
    assert_eq!(junit.cases, 1);
    assert_eq!(junit.errors.len(), 1, "{junit:?}");
    assert!(junit.errors[0].starts_with("run run-"), "{junit:?}");
}
