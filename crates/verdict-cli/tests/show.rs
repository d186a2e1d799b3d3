//! `verdict show` on a real store file: the span tree with its
//! assessments, JSON, and the list of recent traces.

mod fixture;

use fixture::{Fixture, json, stdout, usage_error, verdict_in};

#[test]
fn a_trace_is_a_tree_of_spans_each_with_its_assessments() {
    let f = Fixture::new();
    let override_doc = json(&f.verdict(&[
        "override",
        &f.trace_id(),
        &f.feedback.to_string(),
        "true",
        "--rationale",
        "close enough",
    ]));
    let text = stdout(&f.verdict(&["show", &f.trace_id()]));
    let lines: Vec<&str> = text.lines().collect();
    let find = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{text}"))
    };
    let indent = |i: usize| lines[i].len() - lines[i].trim_start().len();

    assert!(lines[0].contains(&f.trace_id()) && lines[0].contains("3 spans, 3 assessments"));
    // The expectation is on the whole trace.
    assert!(find("expectation expected_response = \"Paris\"  (HUMAN default)") < find("spans:"));
    // Children are indented under their parent, with durations.
    let root = find("handle_request");
    let retrieve = find("retrieve");
    let generate = find("generate");
    assert!(root < retrieve && root < generate);
    assert!(indent(retrieve) > indent(root) && indent(generate) == indent(retrieve));
    assert!(lines[root].contains(&format!("[span {:016x}]", f.root)));
    assert!(
        lines[root].contains(" µs") || lines[root].contains(" ms"),
        "{}",
        lines[root]
    );
    assert!(lines[generate].contains("ERROR: model timed out"));
    // The feedback sits under `generate`, marked overridden, with its
    // rationale; the override is valid and says what it overrides.
    let old = find(&f.feedback.to_string());
    assert!(old > generate && indent(old) > indent(generate));
    assert!(lines[old].contains("feedback exact_match = false  (CODE exact_match)"));
    assert!(
        lines[old].contains(&format!(
            "[overridden by {}]",
            override_doc["assessment_id"].as_str().unwrap()
        )),
        "{}",
        lines[old]
    );
    assert!(lines[old + 1].contains("rationale: \"Lyon\" differs from \"Paris\""));
    let new = lines
        .iter()
        .rposition(|l| l.contains(override_doc["assessment_id"].as_str().unwrap()))
        .unwrap();
    assert!(lines[new].contains("feedback exact_match = true  (HUMAN tester)"));
    assert!(!lines[new].contains("overridden"));
    assert!(text.contains(&format!("overrides {}", f.feedback)));
}

#[test]
fn json_has_every_span_and_assessment() {
    let f = Fixture::new();
    let doc = json(&f.verdict(&["show", &format!("{:032x}", f.trace), "--json"]));
    assert_eq!(doc["trace_id"], f.trace_id());
    let spans = doc["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 3);
    let generate = spans.iter().find(|s| s["name"] == "generate").unwrap();
    assert_eq!(generate["status"]["code"], "error");
    assert_eq!(generate["parent_span_id"], format!("{:016x}", f.root));
    let assessments = doc["assessments"].as_array().unwrap();
    assert_eq!(assessments.len(), 2);
    assert_eq!(assessments[0]["assessment_id"], f.feedback.to_string());
    assert_eq!(assessments[0]["valid"], true);
    assert_eq!(assessments[1]["expectation"]["value"], "Paris");
}

#[test]
fn without_a_trace_it_lists_the_most_recent_traces() {
    let f = Fixture::new();
    // A second trace, known only from an assessment.
    let other = "tr-0fb07256509eb9d22d07f42f7eb9f24d";
    let store = f.store();
    store
        .log(
            &verdict::Assessment::feedback("ok", true)
                .on_trace(other, None)
                .unwrap(),
        )
        .unwrap();
    let text = stdout(&f.verdict(&["show"]));
    assert!(text.contains("2 most recent of 2 traces"), "{text}");
    let fixture_line = text.lines().find(|l| l.contains(&f.trace_id())).unwrap();
    assert!(fixture_line.contains("3 spans") && fixture_line.contains("handle_request"));
    assert!(
        text.lines()
            .any(|l| l.contains(other) && l.contains("(no spans)"))
    );

    let list = json(&f.verdict(&["show", "--json", "--limit", "1"]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "--limit 1");
    assert!(list[0]["trace_id"].is_string());
}

#[test]
fn an_unknown_trace_or_store_is_a_usage_error() {
    let f = Fixture::new();
    let message = usage_error(&f.verdict(&["show", "tr-00000000000000000000000000000001"]));
    assert!(message.contains("has no trace"), "{message}");
    let message = usage_error(&f.verdict(&["show", "not-a-trace"]));
    assert!(message.contains("invalid trace id"), "{message}");
    let dir = tempfile::tempdir().unwrap();
    let message = usage_error(&verdict_in(&dir.path().join("none.db"), &["show"]));
    assert!(message.contains("no local store"), "{message}");
    // The directory the store is in, given for the store itself.
    let message = usage_error(&verdict_in(f.path.parent().unwrap(), &["show"]));
    assert!(
        message.contains("is a directory: --store takes the store's file, such as")
            && message.contains("verdict.db"),
        "{message}"
    );
}

#[test]
fn a_failed_evaluation_shows_its_error() {
    let f = Fixture::new();
    let failed = verdict::Assessment::feedback_error(
        "judge",
        verdict::AssessmentError::new("TIMEOUT").with_message("the judge took too long"),
    )
    .source(verdict::AssessmentSource::llm_judge("judge-v2"))
    .on(verdict::Target::span(f.trace, f.root).unwrap())
    .unwrap();
    f.store().log(&failed).unwrap();
    let text = stdout(&f.verdict(&["show", &f.trace_id()]));
    let line = text
        .lines()
        .position(|l| l.contains(&failed.id().to_string()))
        .unwrap_or_else(|| panic!("{text}"));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[line].contains("feedback judge = (no value)  (LLM_JUDGE judge-v2)"),
        "{}",
        lines[line]
    );
    assert!(lines[line + 1].contains("error TIMEOUT: the judge took too long"));
}

#[test]
fn a_long_rationale_stays_under_its_assessment_and_the_run_is_named() {
    let f = Fixture::new();
    let judged = verdict::Assessment::feedback("helpful", 0.4)
        .rationale("The answer names Lyon.\nThe question asks for the capital.\n")
        .source(verdict::AssessmentSource::llm_judge("judge-v2"))
        .run_id("run-0123456789ab")
        .on(verdict::Target::span(f.trace, f.generate).unwrap())
        .unwrap();
    f.store().log(&judged).unwrap();
    let text = stdout(&f.verdict(&["show", &f.trace_id()]));
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(&judged.id().to_string()))
        .unwrap_or_else(|| panic!("{text}"));
    let indent = |i: usize| lines[i].len() - lines[i].trim_start().len();
    assert!(
        lines[at + 1]
            .trim_start()
            .starts_with("rationale: The answer names Lyon.")
    );
    // The second line of the rationale is indented deeper than the
    // assessment, not at the left margin where it would read as a span.
    assert_eq!(lines[at + 2].trim(), "The question asks for the capital.");
    assert!(indent(at + 2) > indent(at + 1), "{text}");
    assert_eq!(lines[at + 3].trim(), "run run-0123456789ab", "{text}");
}
