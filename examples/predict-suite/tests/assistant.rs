//! The assistant's regression suite: run with `cargo test -p predict-suite`.
//! Each record's answer comes from calling the assistant, and its trace
//! from the spans the call emitted.

use predict_suite::{DATASET, answer};
use serde_json::Value;
use verdict_eval::Suite;

/// Answer, tool calls and latency, every one gated.
#[test]
fn the_assistant_answers_with_the_right_tools_in_time() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let report = Suite::new()
        .scorer("exact_match")
        .scorer("tool_calls")
        .scorer("latency:max_ms=2000")
        .fail_under("exact_match", 1.0)
        .fail_under("tool_calls", 1.0)
        // Its own verdict: the call's root span lasted at most 2 s.
        .fail_under("latency", 1.0)
        // Keep the traces, to open a failing record's with `verdict show`.
        .store(dir.path().join("verdict.db"))
        .predict(|inputs: &Value| match inputs.as_str() {
            Some(question) => Ok(Value::from(answer(question))),
            None => Err(format!("a question is text, not {inputs}")),
        })
        .run(DATASET)
        .expect("the suite runs");
    report.assert_gates();
    assert_eq!(report.summary().records, 7);
}

/// A regression the tool-call scorer catches while the answer is right:
/// an assistant that answers from memory, calling no tool.
#[test]
fn an_answer_without_its_tool_call_fails_the_tool_gate() {
    let report = Suite::new()
        .scorer("exact_match")
        .scorer("tool_calls")
        .fail_under("tool_calls", 1.0)
        .predict(|inputs: &Value| {
            let question = inputs.as_str().unwrap_or_default();
            // The right answer, but no span: no tool was called.
            let answered =
                tracing::dispatcher::with_default(&tracing::Dispatch::none(), || answer(question));
            Ok::<_, String>(Value::from(answered))
        })
        .run(DATASET)
        .expect("the suite runs");
    assert_eq!(report.pass_rate("exact_match"), Some(1.0));
    assert!(!report.summary().passed);
    assert!(
        report.failure_message().contains("tool_calls"),
        "{}",
        report.failure_message()
    );
}
