//! Human review from the terminal: `verdict feedback`, `expectation`,
//! `override` and `delete`, as MLflow's `log_feedback`, `log_expectation`,
//! `override_feedback` and `delete_assessment`.
//!
//! The rules (what can be overridden, what a delete restores) are the
//! core's, applied by the local store; this module turns arguments into
//! assessments and prints what the store now holds, one JSON document per
//! line, so that scripts can read the new id.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use verdict::opentelemetry::trace::TraceId;
use verdict::{
    Assessment, AssessmentBuilder, AssessmentId, AssessmentSource, FeedbackValue, Kind, Target,
    mlflow_trace_id, parse_span_id,
};
use verdict_export::LocalStore;

use crate::cli::{DeleteArgs, LogArgs, OverrideArgs, ReviewArgs, json_or_text};
use crate::store::{open_existing, parse_trace, require_trace};
use crate::summary::Summary;

/// Logs a HUMAN feedback.
pub(crate) fn feedback(args: &LogArgs) -> anyhow::Result<ExitCode> {
    let value = feedback_value(&args.value)?;
    log(args, Assessment::feedback(args.name.clone(), value))
}

/// Logs a HUMAN expectation.
pub(crate) fn expectation(args: &LogArgs) -> anyhow::Result<ExitCode> {
    log(
        args,
        Assessment::expectation(args.name.clone(), json_or_text(&args.value)),
    )
}

/// Overrides a feedback with a new HUMAN one.
pub(crate) fn override_feedback(args: &OverrideArgs) -> anyhow::Result<ExitCode> {
    let store = open_existing(&args.review.store.path)?;
    let trace_id = parse_trace(&args.trace)?;
    let old = existing(&store, trace_id, &args.assessment_id)?;
    if old.kind() != Kind::Feedback {
        bail!(
            "{} is an expectation ({:?}): only feedback can be overridden; log a new \
             expectation with `verdict expectation`, or delete this one",
            old.id(),
            old.name().as_str()
        );
    }
    if !old.is_valid() {
        // MLflow would log a second override of it, leaving two valid
        // verdicts that disagree; from a terminal, the reviewer meant the
        // one that stands now.
        let by = store
            .list_by_trace(trace_id)?
            .into_iter()
            .find(|a| a.overrides() == Some(old.id()) && a.is_valid());
        match by {
            Some(by) => bail!(
                "{} was already overridden by {}: override that one instead                  (`verdict override {} {} VALUE`)",
                old.id(),
                by.id(),
                mlflow_trace_id(trace_id),
                by.id()
            ),
            None => bail!(
                "{} is no longer valid, so it cannot be overridden: `verdict show {}` shows                  the assessments that stand",
                old.id(),
                mlflow_trace_id(trace_id)
            ),
        }
    }
    let value = feedback_value(&args.value)?;
    let new = reviewed(Assessment::override_of(&old, value), &args.review)?.on(old.target())?;
    store.log(&new)?;
    print_json(&new.to_json())
}

/// Deletes an assessment, restoring the one it overrode.
pub(crate) fn delete(args: &DeleteArgs) -> anyhow::Result<ExitCode> {
    let store = open_existing(&args.store.path)?;
    let trace_id = parse_trace(&args.trace)?;
    // MLflow accepts deleting what is not there; from a terminal, a
    // mistyped id deserves to be told.
    let old = existing(&store, trace_id, &args.assessment_id)?;
    store.delete(trace_id, old.id())?;
    let restored = old.overrides().map(|id| id.to_string());
    print_json(
        &json!({
            "deleted": old.id().to_string(),
            "trace_id": mlflow_trace_id(trace_id),
            "restored": restored,
        })
        .to_string(),
    )
}

/// A feedback value from the command line; `null` is not one.
fn feedback_value(text: &str) -> anyhow::Result<FeedbackValue> {
    match json_or_text(text) {
        Value::Null => bail!(
            "null is not a feedback value: give true or false, a number, a label, or a JSON \
             list or object"
        ),
        value => Ok(FeedbackValue::from_json(value)?),
    }
}

/// Logs a new assessment on a trace (or one of its spans) the store knows.
fn log(args: &LogArgs, builder: AssessmentBuilder) -> anyhow::Result<ExitCode> {
    let store = open_existing(&args.review.store.path)?;
    let trace_id = parse_trace(&args.trace)?;
    require_trace(&store, trace_id)?;
    let target = match &args.span {
        Some(span) => {
            let span_id = parse_span_id(span.trim())?;
            let spans = store.spans_of(trace_id)?;
            // A trace known only from its assessments has no spans to check
            // against; one with spans must have this one.
            if !spans.is_empty() && !spans.iter().any(|s| s.span_id == span_id) {
                bail!(
                    "trace {} has no span {span_id:016x} in {}: `verdict show {}` lists its spans",
                    mlflow_trace_id(trace_id),
                    store.path().display(),
                    mlflow_trace_id(trace_id)
                );
            }
            Target::span(trace_id, span_id)?
        }
        None => Target::trace(trace_id)?,
    };
    let assessment = reviewed(builder, &args.review)?.on(target)?;
    store.log(&assessment)?;
    print_json(&assessment.to_json())
}

/// Adds the reviewer, rationale and metadata.
fn reviewed(builder: AssessmentBuilder, args: &ReviewArgs) -> anyhow::Result<AssessmentBuilder> {
    let who = match &args.source_id {
        // The core's hint ("leave it out to get default") is not what
        // leaving it out does here.
        Some(who) if who.trim().is_empty() => bail!(
            "--source-id is empty: name the reviewer, or leave it out to log as {:?}",
            reviewer()
        ),
        Some(who) => who.clone(),
        None => reviewer(),
    };
    let mut builder = builder.source(
        AssessmentSource::new(verdict::SourceType::Human, who.clone())
            .with_context(|| format!("--source-id {who:?}"))?,
    );
    if let Some(rationale) = &args.rationale {
        builder = builder.rationale(rationale.clone());
    }
    for pair in &args.metadata {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--metadata {pair:?} is not KEY=VALUE"))?;
        builder = builder.metadata(key, value);
    }
    Ok(builder)
}

/// The person at the terminal, as the environment names them; `default`
/// (MLflow's default source id) when it does not.
fn reviewer() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// The assessment `id` of `trace_id`, or an error naming both.
fn existing(store: &LocalStore, trace_id: TraceId, id: &str) -> anyhow::Result<Assessment> {
    let id: AssessmentId = id.trim().parse()?;
    require_trace(store, trace_id)?;
    store.get(trace_id, id).map_err(|error| match error {
        verdict_store::Error::Assessment(verdict::Error::NotFound { .. }) => anyhow!(
            "{error} (in {}): `verdict show {}` lists the assessments of the trace",
            store.path().display(),
            mlflow_trace_id(trace_id)
        ),
        other => other.into(),
    })
}

/// Prints what the store now holds; done, whether or not it is read.
fn print_json(line: &str) -> anyhow::Result<ExitCode> {
    let mut out = Summary::stdout();
    let _ = writeln!(out, "{line}");
    Ok(out.finish(0))
}
