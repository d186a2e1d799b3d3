//! The system under test of a suite that calls it: a small assistant that
//! answers a question, calling a tool when it needs one. It knows nothing
//! of Verdict: it only emits `tracing` spans, as instrumented code does,
//! with the OpenTelemetry GenAI attributes a tool call has
//! (`gen_ai.operation.name = "execute_tool"`, `gen_ai.tool.name`,
//! `gen_ai.tool.call.arguments`).
//!
//! The suite is in `tests/assistant.rs`: `Suite::predict` calls
//! [`answer`] for each record of `data/questions.jsonl`, and its scorers
//! judge the answer (`exact_match`), the tool calls its spans show
//! (`tool_calls`) and how long it took (`latency`).

/// The dataset: questions with the expected answer and tool calls, and no
/// outputs (the suite asks [`answer`] for them).
pub const DATASET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/questions.jsonl");

/// Answers `question`, in an `answer` span; a weather or arithmetic
/// question calls a tool, in a span of its own.
pub fn answer(question: &str) -> String {
    let _answer = tracing::info_span!("answer", gen_ai.operation.name = "chat").entered();
    let question = question.trim_end_matches('?');
    if let Some(city) = question.strip_prefix("What is the weather in ") {
        return format!("It is {} in {city}.", weather(city));
    }
    if let Some((a, b)) = question
        .strip_prefix("What is ")
        .and_then(|sum| sum.split_once(" plus "))
    {
        return match add(a, b) {
            Some(n) => n.to_string(),
            None => "I cannot add those.".to_owned(),
        };
    }
    "I do not know.".to_owned()
}

/// The weather tool.
fn weather(city: &str) -> &'static str {
    let _tool = tool_span("get_weather", &format!(r#"{{"city":"{city}"}}"#)).entered();
    match city {
        "Paris" => "sunny",
        "Oslo" => "snowing",
        _ => "raining",
    }
}

/// The calculator tool.
fn add(a: &str, b: &str) -> Option<i64> {
    let _tool = tool_span("add", &format!(r#"{{"a":"{a}","b":"{b}"}}"#)).entered();
    Some(a.trim().parse::<i64>().ok()? + b.trim().parse::<i64>().ok()?)
}

/// A tool call's span, as the GenAI semantic conventions name it.
fn tool_span(tool: &str, arguments: &str) -> tracing::Span {
    tracing::info_span!(
        "execute_tool",
        otel.name = format!("execute_tool {tool}"),
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = tool,
        gen_ai.tool.call.arguments = arguments,
    )
}
