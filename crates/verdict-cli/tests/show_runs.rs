//! `verdict show` over a store with evaluation runs: a run is one line,
//! not thousands of identical rows; `--run` lists its records; a record's
//! trace shows what it was given and answered. The real binary on the
//! shipped dataset.

mod common;

use common::verdict_in as verdict;

#[test]
fn runs_are_one_line_each_and_their_records_are_listed_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let qa = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/qa.jsonl");
    let (code, _, stderr) = verdict(
        dir.path(),
        &["eval", qa, "--scorer", "exact_match:normalize=squad"],
    );
    assert_eq!(code, 0, "{stderr}");
    // A trace outside the run: a person's feedback on some trace.
    let (code, _, stderr) = verdict(
        dir.path(),
        &[
            "feedback",
            "0fb07256509eb9d22d07f42f7eb9f24d",
            "helpful",
            "true",
        ],
    );
    assert_eq!(code, 2, "an unknown trace is refused: {stderr}");

    let (code, list, _) = verdict(dir.path(), &["show"]);
    assert_eq!(code, 0);
    assert!(list.contains("1 evaluation run in"), "{list}");
    assert!(
        list.contains("passed") && list.contains("300 records"),
        "{list}"
    );
    assert!(list.contains("no traces outside runs"), "{list}");
    assert!(list.lines().count() < 10, "one line per run: {list}");

    let (code, records, _) = verdict(dir.path(), &["show", "--run", "latest", "--limit", "5"]);
    assert_eq!(code, 0);
    assert!(records.contains("): 300 records"), "{records}");
    assert_eq!(records.matches("  line ").count(), 5, "{records}");
    assert!(records.contains("… and 295 more"), "{records}");
    let (code, failed, _) = verdict(
        dir.path(),
        &["show", "--run", "latest", "--failed", "--limit", "1000"],
    );
    assert_eq!(code, 0);
    assert!(failed.contains("records a scorer failed"), "{failed}");
    assert!(
        failed
            .lines()
            .filter(|l| l.starts_with("  line "))
            .all(|l| l.contains("exact_match=false")),
        "{failed}"
    );
    // Line 3 answers Sydney for the capital of Australia.
    let line3 = failed
        .lines()
        .find(|l| l.starts_with("  line 3 "))
        .unwrap_or_else(|| panic!("{failed}"));
    let trace = line3
        .split_whitespace()
        .find(|w| w.starts_with("tr-"))
        .unwrap();
    let (code, shown, _) = verdict(dir.path(), &["show", trace]);
    assert_eq!(code, 0);
    assert!(
        shown.contains("inputs: {\"question\":\"What is the capital of Australia?\"}"),
        "{shown}"
    );
    assert!(shown.contains("outputs: \"Sydney\""), "{shown}");
    assert!(shown.contains("from evaluation run run-"), "{shown}");
    assert!(shown.contains(", line 3"), "{shown}");
    assert!(
        shown.contains("expectation expected_response = \"Canberra\""),
        "{shown}"
    );

    let (code, json, _) = verdict(
        dir.path(),
        &["show", "--run", "latest", "--json", "--limit", "1"],
    );
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json[0]["line"], 1);
    assert_eq!(json[0]["outputs"], "Paris");
    assert_eq!(json[0]["expectations"]["expected_response"], "Paris");
    assert_eq!(json[0]["results"][0]["value"], "true");
}
