//! Human review from the terminal — `verdict feedback`, `expectation`,
//! `override`, `delete` — against a real store file.

mod fixture;

use fixture::{Fixture, json, usage_error, verdict_in};
use verdict::{AssessmentId, FeedbackValue, Kind, SourceType};

fn id_of(doc: &serde_json::Value) -> AssessmentId {
    doc["assessment_id"].as_str().unwrap().parse().unwrap()
}

#[test]
fn feedback_is_logged_as_human_on_the_span_with_rationale_and_source() {
    let f = Fixture::new();
    let span = format!("{:016x}", f.generate);
    let doc = json(&f.verdict(&[
        "feedback",
        &f.trace_id(),
        "thumbs",
        "false",
        "--span",
        &span,
        "--rationale",
        "the answer is wrong",
        "--source-id",
        "ana",
        "--metadata",
        "ticket=42",
    ]));
    assert_eq!(doc["trace_id"], f.trace_id());
    assert_eq!(doc["span_id"], span);
    assert_eq!(doc["feedback"]["value"], false);

    let stored = f.store().get(f.trace, id_of(&doc)).unwrap();
    assert_eq!(stored.kind(), Kind::Feedback);
    assert_eq!(stored.feedback_value(), Some(&FeedbackValue::Bool(false)));
    assert_eq!(stored.source().source_type(), SourceType::Human);
    assert_eq!(stored.source().source_id(), "ana");
    assert_eq!(stored.span_id(), Some(f.generate));
    assert_eq!(stored.rationale(), Some("the answer is wrong"));
    assert_eq!(stored.metadata()["ticket"], "42");
}

#[test]
fn values_are_json_when_they_parse_else_labels_and_the_source_defaults_to_the_user() {
    let f = Fixture::new();
    // The bare 32-hex form of the trace id works as well as tr-….
    let hex = format!("{:032x}", f.trace);
    for (given, expected) in [
        ("0.75", FeedbackValue::Number(0.75)),
        ("true", FeedbackValue::Bool(true)),
        ("helpful", FeedbackValue::String("helpful".into())),
        ("\"42\"", FeedbackValue::String("42".into())),
    ] {
        let doc = json(&f.verdict(&["feedback", &hex, "rating", given]));
        let stored = f.store().get(f.trace, id_of(&doc)).unwrap();
        assert_eq!(stored.feedback_value(), Some(&expected), "{given}");
        assert_eq!(stored.span_id(), None, "no --span: the whole trace");
        assert_eq!(stored.source().source_id(), "tester", "$USER");
    }
}

#[test]
fn expectation_records_ground_truth_from_a_human() {
    let f = Fixture::new();
    let doc = json(&f.verdict(&[
        "expectation",
        &f.trace_id(),
        "expected_facts",
        r#"["Paris is the capital", "on the Seine"]"#,
    ]));
    let stored = f.store().get(f.trace, id_of(&doc)).unwrap();
    assert_eq!(stored.kind(), Kind::Expectation);
    assert_eq!(
        stored.expectation_value(),
        Some(&serde_json::json!(["Paris is the capital", "on the Seine"]))
    );
    assert_eq!(stored.source().source_type(), SourceType::Human);
}

#[test]
fn override_invalidates_the_old_feedback_and_delete_restores_it() {
    let f = Fixture::new();
    let old = f.feedback.to_string();
    let doc = json(&f.verdict(&[
        "override",
        &f.trace_id(),
        &old,
        "true",
        "--rationale",
        "Lyon was accepted by the reviewer",
    ]));
    let new = id_of(&doc);
    assert_eq!(doc["overrides"], old);
    assert_eq!(
        doc["assessment_name"], "exact_match",
        "same name as the old"
    );
    assert_eq!(
        doc["span_id"],
        format!("{:016x}", f.generate),
        "same target"
    );

    let store = f.store();
    assert!(!store.get(f.trace, f.feedback).unwrap().is_valid());
    let overriding = store.get(f.trace, new).unwrap();
    assert!(overriding.is_valid());
    assert_eq!(overriding.source().source_type(), SourceType::Human);
    assert_eq!(overriding.source().source_id(), "tester");

    let deleted = json(&f.verdict(&["delete", &f.trace_id(), &new.to_string()]));
    assert_eq!(deleted["deleted"], new.to_string());
    assert_eq!(deleted["restored"], old);
    let store = f.store();
    assert!(store.get(f.trace, f.feedback).unwrap().is_valid());
    assert!(store.get(f.trace, new).is_err());
}

#[test]
fn an_overridden_feedback_is_not_overridden_twice() {
    let f = Fixture::new();
    let old = f.feedback.to_string();
    let first = id_of(&json(&f.verdict(&[
        "override",
        &f.trace_id(),
        &old,
        "true",
    ])));
    // Overriding the old one again would leave two valid verdicts that
    // disagree; the message names the one that stands.
    let message = usage_error(&f.verdict(&["override", &f.trace_id(), &old, "false"]));
    assert!(
        message.contains(&format!("{old} was already overridden by {first}")),
        "{message}"
    );
    let valid: Vec<_> = f
        .store()
        .list_by_trace(f.trace)
        .unwrap()
        .into_iter()
        .filter(|a| a.name().as_str() == "exact_match" && a.is_valid())
        .collect();
    assert_eq!(valid.len(), 1, "{valid:?}");
    // Overriding the one that stands works, and chains.
    let second = json(&f.verdict(&["override", &f.trace_id(), &first.to_string(), "false"]));
    assert_eq!(second["overrides"], first.to_string());
    assert!(!f.store().get(f.trace, first).unwrap().is_valid());
}

#[test]
fn mistakes_get_a_sentence_and_exit_code_2() {
    let f = Fixture::new();
    let trace = f.trace_id();
    let unknown_trace = "tr-00000000000000000000000000000001";
    let unknown_assessment = "a-0123456789abcdef0123456789abcdef";
    let cases: &[(&[&str], &str)] = &[
        (&["feedback", "tr-xyz", "ok", "true"], "invalid trace id"),
        (&["feedback", unknown_trace, "ok", "true"], "has no trace"),
        (
            &["feedback", &trace, "a.b", "true"],
            "invalid assessment name",
        ),
        (
            &["feedback", &trace, "ok", "null"],
            "null is not a feedback value",
        ),
        (
            &[
                "feedback",
                &trace,
                "ok",
                "true",
                "--span",
                "0123456789abcdef",
            ],
            "has no span 0123456789abcdef",
        ),
        (
            &["feedback", &trace, "ok", "true", "--span", "xyz"],
            "invalid span id",
        ),
        (
            &["feedback", &trace, "ok", "true", "--source-id", ""],
            "--source-id is empty: name the reviewer, or leave it out to log as \"tester\"",
        ),
        (
            &["override", &trace, unknown_assessment, "true"],
            "no assessment",
        ),
        (
            &["override", &trace, "a-123", "true"],
            "invalid assessment id",
        ),
        (
            &["override", &trace, &f.expectation.to_string(), "true"],
            "only feedback can be overridden",
        ),
        (&["delete", &trace, unknown_assessment], "no assessment"),
        (
            &["delete", unknown_trace, &f.feedback.to_string()],
            "has no trace",
        ),
    ];
    for (args, expected) in cases {
        let message = usage_error(&f.verdict(args));
        assert!(message.contains(expected), "{args:?}: {message}");
        // One sentence on one line, as a person reads it: no line break or
        // run of spaces left over from how the message was written.
        let line = message.trim_end();
        assert!(
            !line.contains('\n') && !line.contains("  "),
            "{args:?}: {message:?}"
        );
    }
    // Nothing of that reached the store.
    assert_eq!(f.store().list_by_trace(f.trace).unwrap().len(), 2);
}

#[test]
fn a_store_that_is_not_there_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.db");
    let message = usage_error(&verdict_in(
        &path,
        &[
            "feedback",
            "tr-0fb07256509eb9d22d07f42f7eb9f24d",
            "ok",
            "true",
        ],
    ));
    assert!(message.contains("no local store"), "{message}");
    assert!(!path.exists());
}
