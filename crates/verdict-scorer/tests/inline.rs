//! Scoring one answer inline into the feedback a service records.

use verdict::opentelemetry::trace::TraceId;
use verdict::{FeedbackValue, Kind, SourceType, Target};
use verdict_scorer::{OwnedRecord, Registry, SCORER_VERSION_KEY, ScorerSpec, score_to_feedback};

#[test]
fn one_call_gives_the_feedback_and_a_failed_check_is_a_feedback_with_its_error() {
    let registry = Registry::with_builtins();
    let exact = registry
        .create(&"exact_match".parse::<ScorerSpec>().unwrap())
        .unwrap();
    let target = Target::trace(TraceId::from(0x0af7_6519u128)).unwrap();

    let wrong = OwnedRecord::new("q", "Lyon").with_expectation("expected_response", "Paris");
    let feedback = score_to_feedback(exact.as_ref(), &wrong, target).unwrap();
    assert_eq!(feedback.kind(), Kind::Feedback);
    assert_eq!(feedback.name().as_str(), "exact_match");
    assert_eq!(feedback.feedback_value(), Some(&FeedbackValue::Bool(false)));
    assert_eq!(feedback.source().source_type(), SourceType::Code);
    assert_eq!(feedback.source().source_id(), "exact_match");
    assert!(feedback.metadata().contains_key(SCORER_VERSION_KEY));
    assert_eq!(feedback.trace_id(), target.trace_id());

    // No expectation to compare with: the scorer fails on this record, and
    // the feedback says so instead of being lost.
    let nothing_expected = OwnedRecord::new("q", "Paris");
    let feedback = score_to_feedback(exact.as_ref(), &nothing_expected, target).unwrap();
    assert_eq!(feedback.feedback_value(), None);
    let error = feedback.error().expect("a feedback carrying the error");
    assert!(!error.error_code.is_empty(), "{error:?}");
    assert!(error.error_message.is_some(), "{error:?}");
}
