//! `verdict score`: one record, one scorer, one JSON object.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};
use verdict_eval::report::visible;
use verdict_plugin::ScoreValue;
use verdict_scorer::{OwnedRecord, OwnedValue, ScorerSpec, score_one};

use crate::cli::{ScoreArgs, json_or_text};
use crate::plugins::registry;
use crate::summary::Summary;

/// The name of the expectation `--expected` sets, as MLflow's scorers read.
const EXPECTED_RESPONSE: &str = "expected_response";

fn record(args: &ScoreArgs) -> anyhow::Result<OwnedRecord> {
    let inputs = args
        .input
        .as_deref()
        .map_or(OwnedValue::Null, OwnedValue::from);
    let mut record = OwnedRecord::new(inputs, args.output.as_str());
    match args.expected.as_slice() {
        [] => {}
        [one] => record = record.with_expectation(EXPECTED_RESPONSE, one.as_str()),
        many => record = record.with_expectation(EXPECTED_RESPONSE, Value::from(many.to_vec())),
    }
    for pair in &args.expectation {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("--expectation {pair:?} is not NAME=VALUE"))?;
        record = record.with_expectation(name, json_or_text(value));
    }
    Ok(record)
}

pub(crate) fn run(args: &ScoreArgs) -> anyhow::Result<ExitCode> {
    let registry = registry(&args.plugins, &Default::default())?;
    let spec: ScorerSpec = args.scorer.parse()?;
    let scorer = registry.create(&spec)?;
    let outcome = score_one(scorer.as_ref(), &record(args)?);
    let info = scorer.info();
    let (value, passed, rationale, error) = match &outcome {
        Ok(score) => {
            // Whether it passes: a bool itself, else the scorer's own
            // verdict when it gives one (null when it has no criterion).
            let (value, passed) = match &score.value {
                ScoreValue::Bool(b) => (json!(b), Some(*b)),
                ScoreValue::Number(n) => (json!(n), score.passed),
                ScoreValue::Label(l) => (json!(l), score.passed),
            };
            (value, json!(passed), json!(score.rationale), Value::Null)
        }
        Err(e) => (
            Value::Null,
            Value::Null,
            Value::Null,
            json!({"code": e.code, "message": e.message}),
        ),
    };
    let result = json!({
        "name": info.name,
        "version": info.version,
        "value": value,
        "passed": passed,
        "rationale": rationale,
        "error": error,
    });
    // Scored, whatever the value: 0. Not scored (a missing or malformed
    // expectation, a scorer that failed or panicked): an input or plugin
    // error, 2, as everywhere else — never 1, which says "scored, and the
    // verdict is negative". A reader that stops reading changes neither.
    let mut out = Summary::stdout();
    let _ = writeln!(out, "{result}");
    let _ = out.flush();
    let code = match &outcome {
        Ok(_) => 0,
        Err(e) => {
            eprintln!(
                "error: {} could not score this record: {}: {}",
                visible(&info.name),
                visible(&e.code),
                visible(&e.message)
            );
            2
        }
    };
    Ok(out.finish(code))
}
