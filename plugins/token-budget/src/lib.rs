//! The `token_budget` trace scorer: the tokens a trace used stay within a
//! budget.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `max_total` | integer | none | the most input and output tokens together |
//! | `max_input` | integer | none | the most input tokens |
//! | `max_output` | integer | none | the most output tokens |
//!
//! At least one bound is needed.
//!
//! # Semantics
//!
//! A span's usage is its `gen_ai.usage.input_tokens` and
//! `gen_ai.usage.output_tokens` (the OpenTelemetry GenAI conventions), or,
//! for a span with neither, the `input_tokens` and `output_tokens` of
//! MLflow's `mlflow.chat.tokenUsage` (a JSON object). The trace's usage is
//! the sum over its spans, except that a span counts only when none of
//! its descendants reports usage: an agent span that reports the total of
//! the model calls under it is not counted a second time. (MLflow sums
//! every span's; the two agree when only model calls report usage.)
//!
//! The score is the total (input plus output), a number, with the
//! scorer's own verdict beside it: pass when every bound given holds.
//!
//! A record without a trace is an error (`MISSING_TRACE`); so is a trace
//! where no span reports usage (`NO_TOKEN_USAGE`): a budget on unknown
//! usage is not a pass.

use std::collections::HashSet;

use serde_json::Value as Json;
use verdict_plugin::{
    Config, ConfigError, ConfigKey, Outcome, Score, ScoreError, Scorer, Span, Trace,
};

/// The `token_budget` scorer.
#[derive(Debug)]
pub struct TokenBudget {
    max_total: Option<u64>,
    max_input: Option<u64>,
    max_output: Option<u64>,
}

/// The input and output tokens a span reports, if it reports any.
fn usage(span: &Span<'_>) -> Option<(f64, f64)> {
    let count = |key: &str| span.attribute(key).and_then(|v| v.as_f64());
    let (input, output) = (
        count("gen_ai.usage.input_tokens"),
        count("gen_ai.usage.output_tokens"),
    );
    if input.is_some() || output.is_some() {
        return Some((input.unwrap_or(0.0), output.unwrap_or(0.0)));
    }
    let mlflow = span.attribute("mlflow.chat.tokenUsage")?.to_json();
    // MLflow keeps it as JSON text; a host may have parsed it already.
    let mlflow = match mlflow {
        Json::String(text) => serde_json::from_str(&text).ok()?,
        json => json,
    };
    let field = |key: &str| mlflow.get(key).and_then(Json::as_f64);
    match (field("input_tokens"), field("output_tokens")) {
        (None, None) => None,
        (input, output) => Some((input.unwrap_or(0.0), output.unwrap_or(0.0))),
    }
}

impl TokenBudget {
    /// Scores one trace.
    fn judge(&self, trace: Option<&Trace<'_>>) -> Outcome {
        let trace = trace.ok_or_else(|| ScoreError::missing_trace(Self::NAME))?;
        let spans = trace.spans();
        let reported: Vec<Option<(f64, f64)>> = spans.iter().map(usage).collect();
        // The ancestors of every span that reports usage: they do not
        // count. Walks stop at a span already marked, so each is marked
        // once.
        let parent = |id: [u8; 8]| spans.iter().find(|s| s.span_id() == id);
        let mut covered: HashSet<[u8; 8]> = HashSet::new();
        for (span, _) in spans.iter().zip(&reported).filter(|(_, u)| u.is_some()) {
            let mut at = span.parent_span_id();
            while let Some(id) = at {
                if !covered.insert(id) {
                    break;
                }
                at = parent(id).and_then(|p| p.parent_span_id());
            }
        }
        let (mut input, mut output, mut counted) = (0.0, 0.0, 0);
        for (span, usage) in spans.iter().zip(&reported) {
            if let Some((i, o)) = usage
                && !covered.contains(&span.span_id())
            {
                input += i;
                output += o;
                counted += 1;
            }
        }
        if counted == 0 {
            return Err(ScoreError::new(
                "NO_TOKEN_USAGE",
                "no span of the trace reports token usage (gen_ai.usage.input_tokens, \
                 gen_ai.usage.output_tokens or mlflow.chat.tokenUsage)",
            ));
        }
        let total = input + output;
        let over = [
            ("total", total, self.max_total),
            ("input", input, self.max_input),
            ("output", output, self.max_output),
        ]
        .into_iter()
        .find_map(|(what, n, max)| {
            max.filter(|&max| n > max as f64)
                .map(|max| format!("{what} {n} over the {max} allowed"))
        });
        let passed = over.is_none();
        let spans = if counted == 1 { "span" } else { "spans" };
        let said = format!("{input} input + {output} output tokens from {counted} {spans}");
        Ok(Score::number(total)
            .with_passed(passed)
            .with_rationale(match over {
                Some(over) => format!("{said}: {over}"),
                None => format!("{said}: within budget"),
            }))
    }
}

impl Scorer for TokenBudget {
    const NAME: &'static str = "token_budget";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "The tokens the trace used (gen_ai.usage.*, summed over its spans) stay within a budget.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "max_total",
            "integer",
            "",
            "the most input and output tokens together",
        ),
        ConfigKey::new("max_input", "integer", "", "the most input tokens"),
        ConfigKey::new("max_output", "integer", "", "the most output tokens"),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let budget = TokenBudget {
            max_total: config.u64("max_total")?,
            max_input: config.u64("max_input")?,
            max_output: config.u64("max_output")?,
        };
        if budget.max_total.is_none() && budget.max_input.is_none() && budget.max_output.is_none() {
            return Err(config.error(
                "max_total",
                "set max_total, max_input or max_output: a budget needs a bound",
            ));
        }
        Ok(budget)
    }

    verdict_plugin::judge_trace_only!(judge);
}

verdict_plugin::export_plugin!(TokenBudget, token_budget);

#[cfg(test)]
mod tests {
    use verdict_plugin::{NamedValue, Record, ScoreValue, SpanHead, Value};

    use super::*;

    fn head(name: &str, id: u8, parent: u8) -> SpanHead<'_> {
        SpanHead {
            name,
            span_id: [id; 8],
            parent_span_id: [parent; 8],
            ..SpanHead::default()
        }
    }

    /// agent (reports the total 150 + 30) > chat 1 (100 + 20), chat 2
    /// (50 + 10, MLflow's attribute), tool (none).
    fn run<R>(f: impl FnOnce(&Trace<'_>) -> R) -> R {
        let usage = |i: &'static str, o: &'static str| {
            [
                NamedValue::new("gen_ai.usage.input_tokens", Value::json(i)),
                NamedValue::new("gen_ai.usage.output_tokens", Value::json(o)),
            ]
        };
        let (total, first) = (usage("150", "30"), usage("100", "20"));
        let second = [NamedValue::new(
            "mlflow.chat.tokenUsage",
            Value::string(r#"{"input_tokens": 50, "output_tokens": 10, "total_tokens": 60}"#),
        )];
        let spans = [
            Span::new(head("agent", 1, 0), &total, &[]),
            Span::new(head("chat", 2, 1), &first, &[]),
            Span::new(head("tool", 3, 1), &[], &[]),
            Span::new(head("chat", 4, 3), &second, &[]),
        ];
        f(&Trace::new(&spans))
    }

    fn judge(config: &str) -> Outcome {
        let scorer = TokenBudget::from_json(config).unwrap();
        run(|t| scorer.judge(Some(t)))
    }

    #[test]
    fn the_finest_spans_that_report_usage_are_summed_once() {
        let score = judge(r#"{"max_total": 180}"#).unwrap();
        assert_eq!(
            (score.value, score.passed),
            (ScoreValue::Number(180.0), Some(true))
        );
        assert_eq!(
            score.rationale.as_deref(),
            Some("150 input + 30 output tokens from 2 spans: within budget")
        );
        let score = judge(r#"{"max_total": 1000, "max_output": 29}"#).unwrap();
        assert_eq!(score.passed, Some(false));
        assert_eq!(
            score.rationale.as_deref(),
            Some("150 input + 30 output tokens from 2 spans: output 30 over the 29 allowed")
        );
    }

    #[test]
    fn a_lone_span_that_reports_usage_counts() {
        let attributes = [NamedValue::new(
            "gen_ai.usage.output_tokens",
            Value::json("7"),
        )];
        let spans = [Span::new(head("chat", 1, 0), &attributes, &[])];
        let scorer = TokenBudget::from_json(r#"{"max_input": 0}"#).unwrap();
        let score = scorer.judge(Some(&Trace::new(&spans))).unwrap();
        assert_eq!(
            (score.value, score.passed),
            (ScoreValue::Number(7.0), Some(true))
        );
    }

    #[test]
    fn unknown_usage_and_no_trace_are_errors_not_passes() {
        let scorer = TokenBudget::from_json(r#"{"max_total": 10}"#).unwrap();
        assert_eq!(
            scorer.judge(None).unwrap_err().code,
            ScoreError::MISSING_TRACE
        );
        let spans = [Span::new(head("agent", 1, 0), &[], &[])];
        assert_eq!(
            scorer.judge(Some(&Trace::new(&spans))).unwrap_err().code,
            "NO_TOKEN_USAGE"
        );
        verdict_plugin::check_config_errors::<TokenBudget>(&[
            ("{}", "max_total"),
            (r#"{"max_input": -1}"#, "max_input"),
        ])
        .unwrap();
    }

    #[test]
    fn the_abi_gives_the_direct_outcomes() {
        let config = r#"{"max_total": 100}"#;
        let scorer = TokenBudget::from_json(config).unwrap();
        let records = [Record::new(Value::NULL, Value::NULL, &[]); 2];
        run(|trace| {
            let traces = [Some(trace), None];
            let through =
                verdict_plugin::through_abi_traced::<TokenBudget>(config, &records, &traces)
                    .unwrap();
            let direct: Vec<Outcome> = traces.iter().map(|t| scorer.judge(*t)).collect();
            assert_eq!(through, direct);
        });
    }
}
