//! The QA regression suite: run with `cargo test -p regression-suite`.

use regression_suite::{CONFIG, DATASET};
use verdict_eval::Suite;

/// The whole suite of `verdict.toml`, as `verdict eval` runs it.
#[test]
fn the_qa_suite_passes_its_gates() {
    let report = Suite::from_config(CONFIG)
        .expect("verdict.toml")
        .run(DATASET)
        .expect("the suite runs");
    report.assert_gates();
    assert_eq!(report.summary().records, 300);
    assert_eq!(report.summary().invalid, 0);
}

/// A gate set in code: exact match after SQuAD normalization, for the
/// answers whose wording must not drift.
#[test]
fn exact_answers_stay_above_half() {
    Suite::new()
        .scorer("exact_match:normalize=squad")
        .fail_under("exact_match", 0.5)
        .run(DATASET)
        .expect("the suite runs")
        .assert_gates();
}

/// What a failure looks like: the gate, then the worst records with their
/// input, output, expectation and the scorer's rationale.
#[test]
fn a_failing_gate_lists_the_worst_records() {
    let report = Suite::new()
        .scorer("token_f1")
        .run(DATASET)
        .expect("the suite runs");
    // token_f1 gives numbers; with no threshold the pass rate is undefined,
    // so a gate on it fails and says why.
    let failed = std::panic::catch_unwind(|| report.assert_pass_rate("token_f1", 0.99));
    let message = *failed
        .expect_err("an undefined pass rate fails")
        .downcast::<String>()
        .expect("a message");
    assert!(
        message.contains("token_f1 pass rate is undefined"),
        "{message}"
    );

    let strict = Suite::from_config(CONFIG)
        .expect("verdict.toml")
        .fail_under("exact_match", 0.99)
        .run(DATASET)
        .expect("the suite runs");
    let message = strict.failure_message();
    assert!(
        message.contains("FAIL exact_match pass rate ≥ 99.0 %"),
        "{message}"
    );
    assert!(
        message.contains("worst records of exact_match"),
        "{message}"
    );
    assert!(
        message.contains("input:") && message.contains("expected:"),
        "{message}"
    );
    assert!(std::panic::catch_unwind(|| strict.assert_gates()).is_err());
}
