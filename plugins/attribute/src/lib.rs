//! The `attribute` trace scorer: a span attribute exists, equals a value,
//! matches a pattern, or lies within a numeric range.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `key` | string | required | the attribute, such as `gen_ai.usage.output_tokens` |
//! | `span` | string | none | only spans of this name; without it, every span |
//! | `equals` | any JSON | none | the attribute's value must be this |
//! | `matches` | string | none | a regular expression the value's text must contain a match of |
//! | `min`, `max` | number | none | the value must be a number within these bounds (inclusive) |
//!
//! # Semantics
//!
//! The spans considered are those named `span` (every span without it)
//! that carry the attribute. With no check given, the scorer passes when
//! there is one. With checks, it passes when there is one and every such
//! span's value passes every check: a bound on one span's tokens is kept
//! on each span that reports them. A check that no span can be held to
//! (no span carries the attribute) fails: an absent value is not taken
//! for a passing one.
//!
//! - `equals` compares JSON values: a string attribute with a JSON string,
//!   a number with a JSON number (`42` equals `42.0`), and so on.
//! - `matches` searches the value's text (a number's JSON text), with
//!   the `regex` crate's syntax, unanchored; anchor it with `^…$`.
//! - `min`/`max` need a number: a value that is not one fails.
//!
//! The score is a bool, with a rationale naming the span and the value
//! that decided it. A record without a trace is an error
//! (`MISSING_TRACE`), never a pass.

use regex::Regex;
use serde_json::Value as Json;
use verdict_plugin::{
    Config, ConfigError, ConfigKey, Outcome, Score, ScoreError, Scorer, Trace, Value,
};

/// The `attribute` scorer.
#[derive(Debug)]
pub struct Attribute {
    key: String,
    span: Option<String>,
    equals: Option<Json>,
    matches: Option<Regex>,
    min: Option<f64>,
    max: Option<f64>,
}

impl Attribute {
    /// Why `value` fails a check, if it does.
    fn fails(&self, value: &Value<'_>) -> Option<String> {
        if let Some(want) = &self.equals {
            let got = value.to_json();
            let same = match (&got, want) {
                (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
                _ => &got == want,
            };
            if !same {
                return Some(format!("is {got}, not {want}"));
            }
        }
        if let Some(pattern) = &self.matches
            && !pattern.is_match(value.text())
        {
            return Some(format!(
                "is {:?}, which does not match {pattern}",
                value.text()
            ));
        }
        if self.min.is_some() || self.max.is_some() {
            let Some(n) = value.as_f64() else {
                return Some(format!("is {:?}, not a number", value.text()));
            };
            if self.min.is_some_and(|min| n < min) || self.max.is_some_and(|max| n > max) {
                let bound = |b: Option<f64>| b.map_or("…".to_owned(), |b| b.to_string());
                return Some(format!(
                    "is {n}, outside [{}, {}]",
                    bound(self.min),
                    bound(self.max)
                ));
            }
        }
        None
    }

    /// Scores one trace.
    fn judge(&self, trace: Option<&Trace<'_>>) -> Outcome {
        let trace = trace.ok_or_else(|| ScoreError::missing_trace(Self::NAME))?;
        let mut found = None;
        for span in trace.spans() {
            if self.span.as_deref().is_some_and(|name| name != span.name()) {
                continue;
            }
            let Some(value) = span.attribute(&self.key) else {
                continue;
            };
            if let Some(why) = self.fails(&value) {
                return Ok(Score::bool(false).with_rationale(format!(
                    "{} of span {:?} {why}",
                    self.key,
                    span.name()
                )));
            }
            found.get_or_insert((span.name(), value));
        }
        Ok(match found {
            Some((name, value)) => Score::bool(true).with_rationale(format!(
                "{} of span {name:?} is {}",
                self.key,
                value.to_json()
            )),
            None => Score::bool(false).with_rationale(match &self.span {
                Some(span) => format!("no span named {span:?} has {}", self.key),
                None => format!("no span has {}", self.key),
            }),
        })
    }
}

impl Scorer for Attribute {
    const NAME: &'static str = "attribute";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "A span attribute exists, equals a value, matches a pattern, or lies within a range.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "key",
            "string",
            "",
            "the attribute, such as gen_ai.usage.output_tokens",
        ),
        ConfigKey::new(
            "span",
            "string",
            "",
            "only spans of this name; without it, every span",
        ),
        ConfigKey::new(
            "equals",
            "any JSON",
            "",
            "the attribute's value must be this",
        ),
        ConfigKey::new(
            "matches",
            "string",
            "",
            "a regular expression the value's text must contain a match of",
        ),
        ConfigKey::new(
            "min",
            "number",
            "",
            "the value must be a number at least this",
        ),
        ConfigKey::new(
            "max",
            "number",
            "",
            "the value must be a number at most this",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let key = config
            .str("key")?
            .filter(|k| !k.is_empty())
            .ok_or_else(|| config.error("key", "set key: the attribute to check"))?
            .to_owned();
        let matches = match config.str("matches")? {
            None => None,
            Some(pattern) => {
                Some(Regex::new(pattern).map_err(|e| config.error("matches", e.to_string()))?)
            }
        };
        let (min, max) = (config.f64("min")?, config.f64("max")?);
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(config.error("min", format!("{min} is greater than max {max}")));
        }
        Ok(Attribute {
            key,
            span: config.str("span")?.map(str::to_owned),
            equals: config.get("equals").cloned(),
            matches,
            min,
            max,
        })
    }

    verdict_plugin::judge_trace_only!(judge);
}

verdict_plugin::export_plugin!(Attribute, attribute);

#[cfg(test)]
mod tests {
    use verdict_plugin::{NamedValue, Record, ScoreValue, Span, SpanHead};

    use super::*;

    fn run<R>(f: impl FnOnce(&Trace<'_>) -> R) -> R {
        let chat = [
            NamedValue::new("gen_ai.usage.output_tokens", Value::json("120")),
            NamedValue::new("gen_ai.request.model", Value::string("gpt-4o-mini")),
        ];
        let small = [NamedValue::new(
            "gen_ai.usage.output_tokens",
            Value::json("8"),
        )];
        let head = |name| SpanHead {
            name,
            ..SpanHead::default()
        };
        let spans = [
            Span::new(head("agent"), &[], &[]),
            Span::new(head("chat"), &chat, &[]),
            Span::new(head("rewrite"), &small, &[]),
        ];
        f(&Trace::new(&spans))
    }

    fn judge(config: &str) -> (bool, String) {
        let scorer = Attribute::from_json(config).unwrap();
        let score = run(|t| scorer.judge(Some(t))).unwrap();
        let ScoreValue::Bool(pass) = score.value else {
            panic!("{score:?}")
        };
        (pass, score.rationale.unwrap().into_owned())
    }

    #[test]
    fn exists_equals_matches_and_ranges() {
        assert!(judge(r#"{"key": "gen_ai.request.model"}"#).0);
        assert_eq!(
            judge(r#"{"key": "gen_ai.response.model"}"#),
            (false, "no span has gen_ai.response.model".into())
        );
        assert!(judge(r#"{"key": "gen_ai.request.model", "equals": "gpt-4o-mini"}"#).0);
        assert!(
            judge(r#"{"key": "gen_ai.usage.output_tokens", "span": "chat", "equals": 120.0}"#).0
        );
        assert!(
            !judge(r#"{"key": "gen_ai.usage.output_tokens", "span": "chat", "equals": "120"}"#).0
        );
        assert!(judge(r#"{"key": "gen_ai.request.model", "matches": "^gpt-4o"}"#).0);
        assert!(!judge(r#"{"key": "gen_ai.request.model", "matches": "^claude"}"#).0);
        assert!(
            !judge(r#"{"key": "gen_ai.request.model", "min": 1}"#).0,
            "not a number"
        );
    }

    #[test]
    fn a_range_holds_on_every_span_that_carries_the_attribute() {
        assert!(judge(r#"{"key": "gen_ai.usage.output_tokens", "min": 1, "max": 200}"#).0);
        assert_eq!(
            judge(r#"{"key": "gen_ai.usage.output_tokens", "max": 100}"#),
            (
                false,
                "gen_ai.usage.output_tokens of span \"chat\" is 120, outside […, 100]".into()
            )
        );
        assert!(judge(r#"{"key": "gen_ai.usage.output_tokens", "span": "rewrite", "max": 100}"#).0);
        assert_eq!(
            judge(r#"{"key": "gen_ai.usage.output_tokens", "span": "agent", "max": 100}"#),
            (
                false,
                "no span named \"agent\" has gen_ai.usage.output_tokens".into()
            )
        );
    }

    #[test]
    fn no_trace_is_an_error_and_bad_configs_are_refused() {
        let scorer = Attribute::from_json(r#"{"key": "k"}"#).unwrap();
        assert_eq!(
            scorer.judge(None).unwrap_err().code,
            ScoreError::MISSING_TRACE
        );
        verdict_plugin::check_config_errors::<Attribute>(&[
            ("{}", "key"),
            (r#"{"key": "k", "matches": "("}"#, "matches"),
            (r#"{"key": "k", "min": 3, "max": 1}"#, "min"),
        ])
        .unwrap();
    }

    #[test]
    fn the_abi_gives_the_direct_outcomes() {
        let config = r#"{"key": "gen_ai.usage.output_tokens", "max": 100}"#;
        let scorer = Attribute::from_json(config).unwrap();
        let records = [Record::new(Value::NULL, Value::NULL, &[]); 2];
        run(|trace| {
            let traces = [Some(trace), None];
            let through =
                verdict_plugin::through_abi_traced::<Attribute>(config, &records, &traces).unwrap();
            let direct: Vec<Outcome> = traces.iter().map(|t| scorer.judge(*t)).collect();
            assert_eq!(through, direct);
        });
    }
}
