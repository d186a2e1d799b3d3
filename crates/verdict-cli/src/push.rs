//! `verdict push`: replay the local store — spans, then the assessments of
//! the same traces in the order they were logged — to an MLflow server, an
//! OTLP collector or a JSONL file, through the same destinations as
//! `verdict eval --export` ([`verdict_eval::Destination`]).
//!
//! The store keeps each assessment as it now is (updates applied, deleted
//! ones gone, overridden ones marked invalid), so a replay logs that state:
//! an override is logged after the feedback it overrides, and the receiver
//! marks that one invalid itself. Traces go out a chunk at a time, spans
//! before assessments, so that a server knows a trace before its
//! assessments arrive and memory does not grow with the store. A chunk that
//! cannot be delivered is counted and reported, and the push goes on.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use verdict::opentelemetry::trace::TraceId;
use verdict::{Operation, mlflow_trace_id};
use verdict_eval::{Destination, ExportTarget};
use verdict_export::LocalStore;

use crate::cli::PushArgs;
use crate::store::{open_existing, parse_trace, require_trace};

/// Traces read from the store and sent per round.
const TRACES_PER_CHUNK: usize = 256;

/// One destination and what it took.
struct Delivery {
    destination: Destination,
    spans_sent: usize,
    assessments_sent: usize,
    spans_failed: usize,
    assessments_failed: usize,
    errors: Vec<String>,
}

pub(crate) fn run(args: &PushArgs) -> anyhow::Result<ExitCode> {
    let targets = args
        .to
        .iter()
        .map(|t| {
            t.parse::<ExportTarget>()
                .with_context(|| format!("--to {t}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = open_existing(&args.store.path)?;
    let traces = traces(&store, &args.traces)?;
    let mut deliveries = Vec::with_capacity(targets.len());
    for target in targets {
        deliveries.push(Delivery {
            destination: Destination::open(target)?,
            spans_sent: 0,
            assessments_sent: 0,
            spans_failed: 0,
            assessments_failed: 0,
            errors: Vec::new(),
        });
    }

    for chunk in traces.chunks(TRACES_PER_CHUNK) {
        let mut spans = Vec::new();
        let mut operations = Vec::new();
        for &trace_id in chunk {
            for span in store.spans_of(trace_id)? {
                spans.push(span.to_span_data().with_context(|| {
                    format!(
                        "the local store {} holds a span of {} that cannot be sent",
                        store.path().display(),
                        mlflow_trace_id(trace_id)
                    )
                })?);
            }
            operations.extend(
                store
                    .list_by_trace(trace_id)?
                    .into_iter()
                    .map(Operation::Log),
            );
        }
        for delivery in &mut deliveries {
            match delivery.destination.send(&spans, &operations) {
                Ok(()) => {
                    delivery.spans_sent += spans.len();
                    delivery.assessments_sent += operations.len();
                }
                Err(e) => {
                    delivery.spans_failed += spans.len();
                    delivery.assessments_failed += operations.len();
                    delivery.errors.push(e.to_string());
                }
            }
        }
    }

    let mut out = std::io::stdout().lock();
    let mut all_delivered = true;
    for delivery in &mut deliveries {
        if let Err(e) = delivery.destination.finish() {
            delivery.errors.push(e.to_string());
        }
        writeln!(
            out,
            "pushed {} spans and {} assessments of {} traces to {}",
            delivery.spans_sent,
            delivery.assessments_sent,
            traces.len(),
            delivery.destination.target()
        )?;
        if !delivery.errors.is_empty() {
            all_delivered = false;
            eprintln!(
                "error: {} spans and {} assessments were not delivered to {}:",
                delivery.spans_failed,
                delivery.assessments_failed,
                delivery.destination.target()
            );
            for error in &delivery.errors {
                eprintln!("  {error}");
            }
        }
    }
    Ok(if all_delivered {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The traces to push: those named (each must be in the store), or all.
fn traces(store: &LocalStore, named: &[String]) -> anyhow::Result<Vec<TraceId>> {
    if named.is_empty() {
        return Ok(store
            .list_traces()?
            .into_iter()
            .map(|t| t.trace_id)
            .collect());
    }
    let mut traces = Vec::with_capacity(named.len());
    for text in named {
        let trace_id = parse_trace(text)?;
        require_trace(store, trace_id)?;
        if !traces.contains(&trace_id) {
            traces.push(trace_id);
        }
    }
    Ok(traces)
}
