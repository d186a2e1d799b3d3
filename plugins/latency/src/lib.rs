//! The `latency` trace scorer: passes when the trace, or each span of a
//! given name, took no longer than a bound.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `max_ms` | number | required | the bound, in milliseconds (inclusive) |
//! | `span` | string | none | the name of the spans to time; without it, the whole trace |
//!
//! # Semantics
//!
//! The whole trace lasts from its earliest span start to its latest span
//! end. With `span`, every span of that name is timed and the longest
//! counts. The score is that duration in milliseconds, a number, with the
//! scorer's own verdict beside it (pass when at most `max_ms`), so that a
//! suite can also set a criterion of its own on it.
//!
//! A record without a trace is an error (`MISSING_TRACE`); so is a trace
//! with no span (`EMPTY_TRACE`) and a trace with no span of the given
//! name (`SPAN_NOT_FOUND`): never a pass.
//!
//! The decision: **one number, the longest**, rather than a result per
//! span: a feedback names one value, and a bound on the longest is a
//! bound on all.

use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Score, ScoreError, Scorer, Trace};

/// The `latency` scorer.
#[derive(Debug)]
pub struct Latency {
    max_nanos: f64,
    max_ms: f64,
    span: Option<String>,
}

impl Latency {
    /// Scores one trace.
    fn judge(&self, trace: Option<&Trace<'_>>) -> Outcome {
        let trace = trace.ok_or_else(|| ScoreError::missing_trace(Self::NAME))?;
        let (nanos, what) = match &self.span {
            None => (
                trace.duration_nanos().ok_or_else(|| {
                    ScoreError::new("EMPTY_TRACE", "the record's trace has no span to time")
                })?,
                "the trace".to_owned(),
            ),
            Some(name) => (
                trace
                    .spans()
                    .iter()
                    .filter(|s| s.name() == name)
                    .map(|s| s.duration_nanos())
                    .max()
                    .ok_or_else(|| {
                        ScoreError::new(
                            "SPAN_NOT_FOUND",
                            format!("the trace has no span named {name:?}"),
                        )
                    })?,
                format!("span {name:?}"),
            ),
        };
        let passed = nanos as f64 <= self.max_nanos;
        let ms = nanos as f64 / 1e6;
        Ok(Score::number(ms)
            .with_passed(passed)
            .with_rationale(format!(
                "{what} took {ms} ms, {} the {} ms allowed",
                if passed { "within" } else { "over" },
                self.max_ms
            )))
    }
}

impl Scorer for Latency {
    const NAME: &'static str = "latency";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "The trace, or the longest span of a name, took at most max_ms milliseconds.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "max_ms",
            "number",
            "",
            "the bound, in milliseconds (inclusive)",
        ),
        ConfigKey::new(
            "span",
            "string",
            "",
            "the name of the spans to time; without it, the whole trace",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let max_ms = config
            .f64("max_ms")?
            .ok_or_else(|| config.error("max_ms", "set max_ms: the bound, in milliseconds"))?;
        if !(max_ms >= 0.0 && max_ms.is_finite()) {
            return Err(config.error("max_ms", format!("{max_ms} is not a duration")));
        }
        Ok(Latency {
            max_nanos: max_ms * 1e6,
            max_ms,
            span: config.str("span")?.map(str::to_owned),
        })
    }

    verdict_plugin::judge_trace_only!(judge);
}

verdict_plugin::export_plugin!(Latency, latency);

#[cfg(test)]
mod tests {
    use verdict_plugin::{NamedValue, Record, ScoreValue, Span, SpanHead, Value};

    use super::*;

    fn span(name: &str, start_ms: u64, end_ms: u64) -> Span<'_> {
        let head = SpanHead {
            name,
            start_time_unix_nano: start_ms * 1_000_000,
            end_time_unix_nano: end_ms * 1_000_000,
            ..SpanHead::default()
        };
        Span::new(head, &[], &[])
    }

    fn judge(config: &str, trace: Option<&Trace<'_>>) -> Outcome {
        Latency::from_json(config).unwrap().judge(trace)
    }

    #[test]
    fn the_whole_trace_runs_from_its_first_start_to_its_last_end() {
        let spans = [
            span("agent", 100, 400),
            span("llm", 150, 520),
            span("tool", 90, 95),
        ];
        let trace = Trace::new(&spans);
        let score = judge(r#"{"max_ms": 430}"#, Some(&trace)).unwrap();
        assert_eq!(score.value, ScoreValue::Number(430.0));
        assert_eq!(score.passed, Some(true));
        let score = judge(r#"{"max_ms": 429.9}"#, Some(&trace)).unwrap();
        assert_eq!(score.passed, Some(false));
        assert_eq!(
            score.rationale.as_deref(),
            Some("the trace took 430 ms, over the 429.9 ms allowed")
        );
    }

    #[test]
    fn a_named_span_counts_its_longest() {
        let spans = [
            span("llm", 0, 30),
            span("llm", 40, 100),
            span("tool", 0, 900),
        ];
        let trace = Trace::new(&spans);
        let score = judge(r#"{"max_ms": 50, "span": "llm"}"#, Some(&trace)).unwrap();
        assert_eq!(
            (score.value, score.passed),
            (ScoreValue::Number(60.0), Some(false))
        );
        let err = judge(r#"{"max_ms": 50, "span": "rerank"}"#, Some(&trace)).unwrap_err();
        assert_eq!(err.code, "SPAN_NOT_FOUND");
    }

    #[test]
    fn no_trace_and_an_empty_trace_are_errors_not_passes() {
        assert_eq!(
            judge(r#"{"max_ms": 1e9}"#, None).unwrap_err().code,
            ScoreError::MISSING_TRACE
        );
        assert_eq!(
            judge(r#"{"max_ms": 1e9}"#, Some(&Trace::new(&[])))
                .unwrap_err()
                .code,
            "EMPTY_TRACE"
        );
        // Called without traces at all (as a host that passes none would).
        let record = Record::new(Value::NULL, Value::string("x"), &[]);
        let scorer = Latency::from_json(r#"{"max_ms": 1}"#).unwrap();
        assert_eq!(
            scorer.score(&record).unwrap_err().code,
            ScoreError::MISSING_TRACE
        );
    }

    #[test]
    fn a_config_without_a_bound_is_refused() {
        verdict_plugin::check_config_errors::<Latency>(&[
            ("{}", "max_ms"),
            (r#"{"max_ms": -1}"#, "max_ms"),
            (r#"{"max_ms": 5, "spans": "x"}"#, "spans"),
        ])
        .unwrap();
    }

    #[test]
    fn the_abi_gives_each_record_its_own_trace_and_the_direct_outcome() {
        let (a, b) = ([span("agent", 0, 10)], [span("agent", 0, 90)]);
        let (a, b) = (Trace::new(&a), Trace::new(&b));
        let named: [NamedValue<'_>; 0] = [];
        let records = [Record::new(Value::NULL, Value::NULL, &named); 3];
        let traces = [Some(&a), None, Some(&b)];
        let config = r#"{"max_ms": 50}"#;
        let through =
            verdict_plugin::through_abi_traced::<Latency>(config, &records, &traces).unwrap();
        let direct: Vec<Outcome> = traces.iter().map(|t| judge(config, *t)).collect();
        assert_eq!(through, direct);
        assert_eq!(through[0].as_ref().unwrap().passed, Some(true));
        assert_eq!(
            through[1].as_ref().unwrap_err().code,
            ScoreError::MISSING_TRACE
        );
        assert_eq!(through[2].as_ref().unwrap().passed, Some(false));
    }
}
