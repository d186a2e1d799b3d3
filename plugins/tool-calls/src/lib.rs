//! The `tool_calls` trace scorer: the trace made the expected tool calls.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `match` | one of: `exact`, `in_order`, `any_order`, `f1` | `exact` | how the calls made are compared with the expected ones |
//! | `arguments` | bool | `false` | compare arguments too, for expected calls that give them |
//! | `expected` | list | none | the expected calls; without it, the record's expectation |
//! | `expectation` | string | `expected_tool_calls` | the expectation holding the expected calls |
//! | `threshold` | number in [0, 1] | none | with `f1`: the F1 at which it passes |
//!
//! # Which spans are tool calls
//!
//! A span is a tool call when it is one in any of the conventions Verdict
//! reads, and its name and arguments come from the same convention:
//!
//! - OpenTelemetry GenAI: `gen_ai.operation.name` is `execute_tool`, or
//!   the span has `gen_ai.tool.name`; the name is `gen_ai.tool.name`
//!   (else the span name without its `execute_tool ` prefix), the
//!   arguments `gen_ai.tool.call.arguments` (JSON text).
//! - MLflow: `mlflow.spanType` is `TOOL` (MLflow writes it as JSON text,
//!   `"TOOL"` in quotes; both are read); the name is the span's, the
//!   arguments `mlflow.spanInputs`.
//! - OpenInference: `openinference.span.kind` is `TOOL`; the name is
//!   `tool.name` (else the span's), the arguments `input.value`.
//!
//! The calls made are taken in the order their spans started.
//!
//! # Expected calls
//!
//! A JSON list whose items are a tool name, or an object
//! `{"name": "...", "arguments": {...}}` (`arguments` may be absent, or
//! JSON text). With `arguments: true` an expected call that gives
//! arguments matches only a call of that name whose arguments are the same
//! JSON value (text is parsed; object key order does not matter); one that
//! gives none matches by name.
//!
//! # Matching
//!
//! - `exact`: the calls made are the expected ones, in order, no more.
//! - `in_order`: the expected calls were all made, in that order, with
//!   other calls allowed between them.
//! - `any_order`: each expected call was made, in any order (a call made
//!   once matches one expected call).
//! - `f1`: a number, the F1 of the calls made against the expected ones,
//!   as multisets (1 when both are empty); with `threshold`, its verdict.
//!
//! A record without a trace is an error (`MISSING_TRACE`); so is one
//! without the expectation (`MISSING_EXPECTATION`) or with expected calls
//! that cannot be read: never a pass.

use std::borrow::Cow;

use serde_json::Value as Json;
use verdict_plugin::{
    Config, ConfigError, ConfigKey, Outcome, Record, Score, ScoreError, Scorer, Span, Trace,
};

/// How the calls made are compared with the expected ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Match {
    Exact,
    InOrder,
    AnyOrder,
    F1,
}

/// An expected call.
#[derive(Clone, Debug, PartialEq)]
struct Expected {
    name: String,
    arguments: Option<Json>,
}

/// A call the trace made.
#[derive(Debug)]
struct Call<'a> {
    name: Cow<'a, str>,
    arguments: Option<&'a str>,
    start: u64,
}

/// The `tool_calls` scorer.
#[derive(Debug)]
pub struct ToolCalls {
    mode: Match,
    arguments: bool,
    expected: Option<Vec<Expected>>,
    expectation: String,
    threshold: Option<f64>,
}

/// A text attribute, MLflow's JSON-text strings (`"\"TOOL\""`) read as
/// the string they hold.
fn text<'a>(span: &Span<'a>, key: &str) -> Option<Cow<'a, str>> {
    let value = span.attribute(key)?;
    let text = value.as_str()?;
    if text.starts_with('"')
        && let Ok(Json::String(inner)) = serde_json::from_str(text)
    {
        return Some(Cow::Owned(inner));
    }
    Some(Cow::Borrowed(text))
}

/// The tool call a span is, if it is one (see the crate docs).
fn call<'a>(span: &Span<'a>) -> Option<Call<'a>> {
    let arguments = |key: &str| span.attribute(key).map(|v| v.text());
    let start = span.start_time_unix_nano();
    if let Some(name) = text(span, "gen_ai.tool.name") {
        return Some(Call {
            name,
            arguments: arguments("gen_ai.tool.call.arguments"),
            start,
        });
    }
    if text(span, "gen_ai.operation.name").as_deref() == Some("execute_tool") {
        let name = span.name();
        return Some(Call {
            name: Cow::Borrowed(name.strip_prefix("execute_tool ").unwrap_or(name)),
            arguments: arguments("gen_ai.tool.call.arguments"),
            start,
        });
    }
    if text(span, "mlflow.spanType").as_deref() == Some("TOOL") {
        return Some(Call {
            name: Cow::Borrowed(span.name()),
            arguments: arguments("mlflow.spanInputs"),
            start,
        });
    }
    if text(span, "openinference.span.kind").as_deref() == Some("TOOL") {
        return Some(Call {
            name: text(span, "tool.name").unwrap_or(Cow::Borrowed(span.name())),
            arguments: arguments("input.value"),
            start,
        });
    }
    None
}

/// Arguments as a JSON value: text parsed, else the text as a string.
fn arguments_json(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_owned()))
}

/// Reads expected calls from JSON; the error says what is wrong.
fn expected_calls(json: &Json) -> Result<Vec<Expected>, String> {
    let Json::Array(items) = json else {
        return Err(format!(
            "the expected tool calls are {json}, not a list of names or \
             {{\"name\", \"arguments\"}} objects"
        ));
    };
    items
        .iter()
        .map(|item| match item {
            Json::String(name) => Ok(Expected {
                name: name.clone(),
                arguments: None,
            }),
            Json::Object(object) => Ok(Expected {
                name: object
                    .get("name")
                    .and_then(Json::as_str)
                    .ok_or_else(|| format!("the expected tool call {item} has no \"name\""))?
                    .to_owned(),
                arguments: match object.get("arguments") {
                    None | Some(Json::Null) => None,
                    Some(Json::String(text)) => Some(arguments_json(text)),
                    Some(other) => Some(other.clone()),
                },
            }),
            other => Err(format!(
                "the expected tool call {other} is neither a name nor an object"
            )),
        })
        .collect()
}

impl ToolCalls {
    /// Whether `call` is the `expected` one.
    fn matches(&self, expected: &Expected, call: &Call<'_>) -> bool {
        if expected.name != call.name {
            return false;
        }
        match (&expected.arguments, self.arguments) {
            (Some(want), true) => call
                .arguments
                .is_some_and(|text| &arguments_json(text) == want),
            _ => true,
        }
    }

    /// How many expected calls the calls made match, each call matching
    /// at most one (greedy, in order of the expected calls).
    fn matched(&self, expected: &[Expected], calls: &[Call<'_>]) -> usize {
        let mut used = vec![false; calls.len()];
        expected
            .iter()
            .filter(|e| {
                let found = (0..calls.len()).find(|&i| !used[i] && self.matches(e, &calls[i]));
                found.inspect(|&i| used[i] = true).is_some()
            })
            .count()
    }

    /// Scores one record's trace against its expected calls.
    /// `made` is scratch space, reused across a batch.
    fn judge<'t>(
        &self,
        record: &Record<'_>,
        trace: Option<&Trace<'t>>,
        made: &mut Vec<Call<'t>>,
    ) -> Outcome {
        let trace = trace.ok_or_else(|| ScoreError::missing_trace(Self::NAME))?;
        let from_record;
        let expected = match &self.expected {
            Some(expected) => expected,
            None => {
                let value = record
                    .expectation(&self.expectation)
                    .ok_or_else(|| ScoreError::missing_expectation(&self.expectation))?;
                let json = match value.to_json() {
                    // An expectation given as JSON text.
                    Json::String(text) => arguments_json(&text),
                    json => json,
                };
                from_record =
                    expected_calls(&json).map_err(|e| ScoreError::new("INVALID_EXPECTATION", e))?;
                &from_record
            }
        };
        made.clear();
        made.extend(trace.spans().iter().filter_map(call));
        made.sort_by_key(|c| c.start);
        let made = &*made;
        let names = || {
            made.iter()
                .map(|c| c.name.as_ref())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let wanted = || {
            expected
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let said = || format!("called [{}]; expected [{}]", names(), wanted());
        let pass = match self.mode {
            Match::Exact => {
                made.len() == expected.len()
                    && expected.iter().zip(made).all(|(e, c)| self.matches(e, c))
            }
            Match::InOrder => {
                let mut next = made.iter();
                expected
                    .iter()
                    .all(|e| next.by_ref().any(|c| self.matches(e, c)))
            }
            Match::AnyOrder => self.matched(expected, made) == expected.len(),
            Match::F1 => {
                let hits = self.matched(expected, made) as f64;
                let f1 = if made.is_empty() && expected.is_empty() {
                    1.0
                } else {
                    2.0 * hits / (made.len() + expected.len()) as f64
                };
                let score = Score::number(f1).with_rationale(said());
                return Ok(match self.threshold {
                    Some(t) => score.with_passed(f1 >= t),
                    None => score,
                });
            }
        };
        Ok(Score::bool(pass).with_rationale(said()))
    }
}

impl Scorer for ToolCalls {
    const NAME: &'static str = "tool_calls";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "The trace made the expected tool calls (OpenTelemetry GenAI \
         execute_tool spans, MLflow TOOL spans): exactly, in order, in any order, or their F1.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "match",
            "one of: exact, in_order, any_order, f1",
            "exact",
            "how the calls made are compared with the expected ones",
        ),
        ConfigKey::new(
            "arguments",
            "bool",
            "false",
            "compare arguments too, for expected calls that give them",
        ),
        ConfigKey::new(
            "expected",
            "list of names or {name, arguments} objects",
            "",
            "the expected calls; without it, the record's expectation",
        ),
        ConfigKey::new(
            "expectation",
            "string",
            "expected_tool_calls",
            "the expectation holding the expected calls",
        ),
        ConfigKey::new(
            "threshold",
            "number in [0, 1]",
            "",
            "with match=f1: the F1 at which it passes",
        ),
    ];
    const NEEDS_TRACE: bool = true;
    const BATCHED: bool = true;

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let mode = match config.one_of("match", &["exact", "in_order", "any_order", "f1"])? {
            Some("in_order") => Match::InOrder,
            Some("any_order") => Match::AnyOrder,
            Some("f1") => Match::F1,
            _ => Match::Exact,
        };
        let threshold = config.f64_in("threshold", 0.0, 1.0)?;
        if threshold.is_some() && mode != Match::F1 {
            return Err(config.error("threshold", "a threshold needs match=f1"));
        }
        let expected = match config.get("expected") {
            None => None,
            Some(json) => Some(expected_calls(json).map_err(|e| config.error("expected", e))?),
        };
        Ok(ToolCalls {
            mode,
            arguments: config.bool("arguments")?.unwrap_or(false),
            expected,
            expectation: config
                .str("expectation")?
                .unwrap_or("expected_tool_calls")
                .to_owned(),
            threshold,
        })
    }

    fn score(&self, record: &Record<'_>) -> Outcome {
        self.score_traced(record, None)
    }

    fn score_traced(&self, record: &Record<'_>, trace: Option<&Trace<'_>>) -> Outcome {
        self.judge(record, trace, &mut Vec::new())
    }

    /// The batch path: one list of calls for the whole batch.
    fn score_batch_traced(
        &self,
        records: &[Record<'_>],
        traces: &[Option<&Trace<'_>>],
        out: &mut Vec<Outcome>,
    ) {
        let mut calls = Vec::new();
        out.extend(
            records
                .iter()
                .zip(traces)
                .map(|(r, t)| self.judge(r, *t, &mut calls)),
        );
    }
}

verdict_plugin::export_plugin!(ToolCalls, tool_calls);

#[cfg(test)]
mod tests {
    use verdict_plugin::{NamedValue, ScoreValue, SpanHead, Value};

    use super::*;

    /// A span starting at `start`, with `attributes`.
    fn span<'a>(name: &'a str, start: u64, attributes: &'a [NamedValue<'a>]) -> Span<'a> {
        let head = SpanHead {
            name,
            start_time_unix_nano: start,
            ..SpanHead::default()
        };
        Span::new(head, attributes, &[])
    }

    fn genai(tool: &'static str, arguments: &'static str) -> [NamedValue<'static>; 3] {
        [
            NamedValue::new("gen_ai.operation.name", Value::string("execute_tool")),
            NamedValue::new("gen_ai.tool.name", Value::string(tool)),
            NamedValue::new("gen_ai.tool.call.arguments", Value::string(arguments)),
        ]
    }

    /// A trace whose calls, in the order they started, are search (GenAI,
    /// {"q": "paris"}), get_weather (MLflow, {"city": "Paris"}) and
    /// search again (OpenInference), with an LLM span between.
    fn run<R>(f: impl FnOnce(&Trace<'_>) -> R) -> R {
        let search = genai("search", r#"{"q": "paris"}"#);
        let weather = [
            NamedValue::new("mlflow.spanType", Value::string("\"TOOL\"")),
            NamedValue::new("mlflow.spanInputs", Value::string(r#"{"city":"Paris"}"#)),
        ];
        let llm = [NamedValue::new("mlflow.spanType", Value::string("\"LLM\""))];
        let again = [
            NamedValue::new("openinference.span.kind", Value::string("TOOL")),
            NamedValue::new("tool.name", Value::string("search")),
        ];
        let spans = [
            span("get_weather", 20, &weather),
            span("execute_tool search", 10, &search),
            span("chat", 15, &llm),
            span("tool", 30, &again),
        ];
        f(&Trace::new(&spans))
    }

    fn judge(config: &str, expected: &str) -> Score {
        let named = [NamedValue::new(
            "expected_tool_calls",
            Value::json(expected),
        )];
        let record = Record::new(Value::NULL, Value::NULL, &named);
        let scorer = ToolCalls::from_json(config).unwrap();
        run(|trace| scorer.score_traced(&record, Some(trace))).unwrap()
    }

    fn passes(config: &str, expected: &str) -> bool {
        match judge(config, expected).value {
            ScoreValue::Bool(b) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn calls_are_read_from_every_convention_in_the_order_they_started() {
        let score = judge("{}", r#"["search", "get_weather", "search"]"#);
        assert_eq!(score.value, ScoreValue::Bool(true));
        assert_eq!(
            score.rationale.as_deref(),
            Some("called [search, get_weather, search]; expected [search, get_weather, search]")
        );
    }

    #[test]
    fn each_match_mode_says_what_it_promises() {
        let in_order = r#"["search", "search"]"#;
        let swapped = r#"["get_weather", "search", "search"]"#;
        assert!(!passes("{}", in_order), "exact wants every call");
        assert!(passes(r#"{"match": "in_order"}"#, in_order));
        assert!(!passes(r#"{"match": "in_order"}"#, swapped));
        assert!(passes(r#"{"match": "any_order"}"#, swapped));
        assert!(!passes(
            r#"{"match": "any_order"}"#,
            r#"["search", "search", "search"]"#
        ));
        assert!(!passes(r#"{"match": "any_order"}"#, r#"["book_flight"]"#));
        let f1 = judge(
            r#"{"match": "f1", "threshold": 0.8}"#,
            r#"["search", "book_flight"]"#,
        );
        // 1 of 3 calls made and 1 of 2 expected: 2 * 1 / 5.
        assert_eq!(
            (f1.value, f1.passed),
            (ScoreValue::Number(0.4), Some(false))
        );
    }

    #[test]
    fn arguments_are_compared_as_json_when_asked() {
        let right = r#"[{"name": "search", "arguments": {"q": "paris"}}, "get_weather",
                        {"name": "search"}]"#;
        let wrong = r#"[{"name": "search", "arguments": "{\"q\": \"lyon\"}"}, "get_weather",
                        "search"]"#;
        let mlflow =
            r#"["search", {"name": "get_weather", "arguments": {"city": "Paris"}}, "search"]"#;
        assert!(passes(r#"{"arguments": true}"#, right));
        assert!(passes(r#"{"arguments": true}"#, mlflow));
        assert!(!passes(r#"{"arguments": true}"#, wrong));
        assert!(passes("{}", wrong), "names only unless asked");
    }

    #[test]
    fn nothing_to_judge_is_an_error_not_a_pass() {
        let scorer = ToolCalls::from_json("{}").unwrap();
        let named = [NamedValue::new("expected_tool_calls", Value::json("[]"))];
        let record = Record::new(Value::NULL, Value::NULL, &named);
        assert_eq!(
            scorer.score(&record).unwrap_err().code,
            ScoreError::MISSING_TRACE
        );
        let bare = Record::new(Value::NULL, Value::NULL, &[]);
        let err = run(|t| scorer.score_traced(&bare, Some(t))).unwrap_err();
        assert_eq!(err.code, "MISSING_EXPECTATION");
        let named = [NamedValue::new(
            "expected_tool_calls",
            Value::json("{\"a\": 1}"),
        )];
        let odd = Record::new(Value::NULL, Value::NULL, &named);
        let err = run(|t| scorer.score_traced(&odd, Some(t))).unwrap_err();
        assert_eq!(err.code, "INVALID_EXPECTATION");
        verdict_plugin::check_config_errors::<ToolCalls>(&[
            (r#"{"match": "fuzzy"}"#, "match"),
            (r#"{"threshold": 0.5}"#, "threshold"),
            (r#"{"expected": [3]}"#, "expected"),
        ])
        .unwrap();
    }

    #[test]
    fn expected_calls_from_the_config_need_no_expectation() {
        let scorer =
            ToolCalls::from_json(r#"{"expected": ["search"], "match": "in_order"}"#).unwrap();
        let bare = Record::new(Value::NULL, Value::NULL, &[]);
        let score = run(|t| scorer.score_traced(&bare, Some(t))).unwrap();
        assert_eq!(score.value, ScoreValue::Bool(true));
    }

    #[test]
    fn the_batch_path_through_the_abi_gives_the_direct_outcomes() {
        let named = [NamedValue::new(
            "expected_tool_calls",
            Value::json(r#"["search"]"#),
        )];
        let records = [Record::new(Value::NULL, Value::NULL, &named); 3];
        let config = r#"{"match": "any_order"}"#;
        let scorer = ToolCalls::from_json(config).unwrap();
        run(|trace| {
            let traces = [Some(trace), None, Some(trace)];
            let through =
                verdict_plugin::through_abi_traced::<ToolCalls>(config, &records, &traces).unwrap();
            let direct: Vec<Outcome> = records
                .iter()
                .zip(traces)
                .map(|(r, t)| scorer.score_traced(r, t))
                .collect();
            assert_eq!(through, direct);
        });
    }
}
