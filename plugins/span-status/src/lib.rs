//! The `span_status` trace scorer: passes when no span of the trace
//! failed, or when the named spans are there and did not fail.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `spans` | string or list of strings | none | the names of the spans to check; without it, every span |
//! | `require_ok` | bool | `false` | a span must have status OK; unset is then a failure too |
//!
//! # Semantics
//!
//! A span fails when its status code is ERROR (OpenTelemetry's
//! `STATUS_CODE_ERROR`, which MLflow writes for a span that raised). Most
//! instrumentations leave a successful span's status unset, so unset
//! passes unless `require_ok`. With `spans`, each name must be the name of
//! at least one span of the trace, and every span of those names must
//! pass; a name with no span fails (the check cannot be made, and is not
//! taken for a pass). The score is a bool, with a rationale naming the
//! first span that failed and its status message.
//!
//! A record without a trace is an error (`MISSING_TRACE`), never a pass.

use verdict_plugin::trace::status;
use verdict_plugin::{
    Config, ConfigError, ConfigKey, Outcome, Score, ScoreError, Scorer, Span, Trace,
};

/// The `span_status` scorer.
#[derive(Debug)]
pub struct SpanStatus {
    spans: Vec<String>,
    require_ok: bool,
}

impl SpanStatus {
    /// Whether `span` passes.
    fn passes(&self, span: &Span<'_>) -> bool {
        match span.status_code() {
            status::ERROR => false,
            status::OK => true,
            _ => !self.require_ok,
        }
    }

    /// Scores one trace.
    fn judge(&self, trace: Option<&Trace<'_>>) -> Outcome {
        let trace = trace.ok_or_else(|| ScoreError::missing_trace(Self::NAME))?;
        let spans = trace.spans();
        if let Some(missing) = self
            .spans
            .iter()
            .find(|name| !spans.iter().any(|s| s.name() == name.as_str()))
        {
            return Ok(Score::bool(false)
                .with_rationale(format!("the trace has no span named {missing:?}")));
        }
        let checked = spans
            .iter()
            .filter(|s| self.spans.is_empty() || self.spans.iter().any(|n| n == s.name()));
        let mut count = 0;
        for span in checked {
            count += 1;
            if !self.passes(span) {
                let what = match span.status_code() {
                    status::ERROR if span.status_message().is_empty() => "failed".to_owned(),
                    status::ERROR => format!("failed: {}", span.status_message()),
                    _ => "has no OK status".to_owned(),
                };
                return Ok(
                    Score::bool(false).with_rationale(format!("span {:?} {what}", span.name()))
                );
            }
        }
        let which = if self.spans.is_empty() {
            "spans"
        } else {
            "named spans"
        };
        Ok(Score::bool(true).with_rationale(format!("all {count} {which} succeeded")))
    }
}

impl Scorer for SpanStatus {
    const NAME: &'static str = "span_status";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "No span of the trace failed, or the named spans are there and did not fail.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "spans",
            "string or list of strings",
            "",
            "the names of the spans to check; without it, every span",
        ),
        ConfigKey::new(
            "require_ok",
            "bool",
            "false",
            "a span must have status OK; unset is then a failure too",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let spans: Vec<String> = config
            .strings("spans")?
            .unwrap_or_default()
            .into_iter()
            .map(str::to_owned)
            .collect();
        if spans.iter().any(String::is_empty) {
            return Err(config.error("spans", "a span name is empty"));
        }
        Ok(SpanStatus {
            spans,
            require_ok: config.bool("require_ok")?.unwrap_or(false),
        })
    }

    verdict_plugin::judge_trace_only!(judge);
}

verdict_plugin::export_plugin!(SpanStatus, span_status);

#[cfg(test)]
mod tests {
    use verdict_plugin::{Record, ScoreValue, SpanHead, Value};

    use super::*;

    fn span<'a>(name: &'a str, code: u32, message: &'a str) -> Span<'a> {
        let head = SpanHead {
            name,
            status_code: code,
            status_message: message,
            ..SpanHead::default()
        };
        Span::new(head, &[], &[])
    }

    fn judge(config: &str, trace: Option<&Trace<'_>>) -> (bool, String) {
        let score = SpanStatus::from_json(config).unwrap().judge(trace).unwrap();
        let ScoreValue::Bool(pass) = score.value else {
            panic!("{score:?}")
        };
        (pass, score.rationale.unwrap().into_owned())
    }

    #[test]
    fn an_error_span_anywhere_fails_the_trace() {
        let spans = [
            span("agent", status::UNSET, ""),
            span("tool", status::ERROR, "timeout calling the weather API"),
            span("llm", status::OK, ""),
        ];
        let trace = Trace::new(&spans);
        assert_eq!(
            judge("{}", Some(&trace)),
            (
                false,
                "span \"tool\" failed: timeout calling the weather API".into()
            )
        );
        let fine = Trace::new(&spans[..1]);
        assert_eq!(
            judge("{}", Some(&fine)),
            (true, "all 1 spans succeeded".into())
        );
        assert!(!judge(r#"{"require_ok": true}"#, Some(&fine)).0);
    }

    #[test]
    fn named_spans_must_be_there_and_succeed() {
        let spans = [
            span("agent", status::OK, ""),
            span("tool", status::ERROR, ""),
            span("llm", status::UNSET, ""),
        ];
        let trace = Trace::new(&spans);
        assert!(judge(r#"{"spans": ["agent", "llm"]}"#, Some(&trace)).0);
        assert_eq!(
            judge(r#"{"spans": "tool"}"#, Some(&trace)),
            (false, "span \"tool\" failed".into())
        );
        assert_eq!(
            judge(r#"{"spans": ["agent", "rerank"]}"#, Some(&trace)),
            (false, "the trace has no span named \"rerank\"".into())
        );
        assert_eq!(
            judge(r#"{"spans": "llm", "require_ok": true}"#, Some(&trace)),
            (false, "span \"llm\" has no OK status".into())
        );
    }

    #[test]
    fn no_trace_is_an_error_not_a_pass() {
        let scorer = SpanStatus::from_json("{}").unwrap();
        assert_eq!(
            scorer.judge(None).unwrap_err().code,
            ScoreError::MISSING_TRACE
        );
        let record = Record::new(Value::NULL, Value::NULL, &[]);
        assert_eq!(
            scorer.score(&record).unwrap_err().code,
            ScoreError::MISSING_TRACE
        );
        verdict_plugin::check_config_errors::<SpanStatus>(&[
            (r#"{"spans": [""]}"#, "spans"),
            (r#"{"spans": 3}"#, "spans"),
        ])
        .unwrap();
    }

    #[test]
    fn the_abi_gives_the_direct_outcomes() {
        let failed = [span("tool", status::ERROR, "x")];
        let ok = [span("tool", status::OK, "")];
        let (failed, ok) = (Trace::new(&failed), Trace::new(&ok));
        let records = [Record::new(Value::NULL, Value::NULL, &[]); 3];
        let traces = [Some(&failed), Some(&ok), None];
        let through =
            verdict_plugin::through_abi_traced::<SpanStatus>("{}", &records, &traces).unwrap();
        let scorer = SpanStatus::from_json("{}").unwrap();
        let direct: Vec<Outcome> = traces.iter().map(|t| scorer.judge(*t)).collect();
        assert_eq!(through, direct);
    }
}
