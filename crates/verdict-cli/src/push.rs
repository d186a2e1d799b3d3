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
//! cannot be delivered is counted and reported, and the push goes on. A
//! destination that counts what it could not deliver (OTLP, MLflow) gives
//! the exact number of spans and assessments, and their traces when it says
//! which failed; one that gives no count (a JSONL file that failed
//! mid-write) has its whole chunk counted, of which some may have arrived.
//!
//! `--to jsonl:-` writes the lines to standard output, and the summary then
//! goes to standard error so that the lines can be piped.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use opentelemetry_sdk::trace::SpanData;
use verdict::opentelemetry::trace::TraceId;
use verdict::{Operation, mlflow_trace_id};
use verdict_eval::{Destination, ExportTarget, Outputs};
use verdict_export::{JsonlSink, LocalStore};

use crate::cli::PushArgs;
use crate::store::{open_existing, parse_trace, require_trace};
use crate::summary::Summary;

/// Traces read from the store and sent per round.
const TRACES_PER_CHUNK: usize = 256;

/// One destination and what it took.
struct Delivery {
    target: ExportTarget,
    receiver: Receiver,
    spans_sent: usize,
    assessments_sent: usize,
    spans_failed: usize,
    assessments_failed: usize,
    /// The traces of what was not delivered, when the destination said.
    traces_failed: Vec<TraceId>,
    /// Traces of chunks where the destination counted what failed but did
    /// not say which.
    traces_unnamed: usize,
    /// Traces of chunks the destination failed without a count: the
    /// whole chunk is counted as not delivered.
    traces_uncounted: usize,
    errors: Vec<String>,
    /// Standard output was closed by its reader (`| head`): not a failure,
    /// and nothing more is written to it.
    reader_gone: bool,
}

/// Where a `--to` goes: a [`Destination`], or standard output for
/// `jsonl:-`, kept here as the sink itself so that a reader that stops
/// reading shows as a closed pipe (a `Destination` reports it as text).
enum Receiver {
    Destination(Destination),
    Stdout(JsonlSink),
}

impl Receiver {
    fn open(target: &ExportTarget) -> anyhow::Result<Receiver> {
        Ok(if target.is_stdout() {
            Receiver::Stdout(JsonlSink::stdout())
        } else {
            Receiver::Destination(Destination::open(target.clone())?)
        })
    }

    fn send(&self, spans: &[SpanData], operations: &[Operation]) -> anyhow::Result<()> {
        match self {
            Receiver::Destination(destination) => Ok(destination.send(spans, operations)?),
            Receiver::Stdout(sink) => {
                sink.write_spans(spans)?;
                Ok(sink.write_operations(operations)?)
            }
        }
    }

    fn finish(&self) -> anyhow::Result<()> {
        match self {
            Receiver::Destination(destination) => Ok(destination.finish()?),
            Receiver::Stdout(sink) => Ok(sink.flush()?),
        }
    }
}

/// Whether the error is a closed pipe: `verdict push --to jsonl:- | head`.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
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
    // A JSONL file written over the store would destroy it.
    let mut outputs = Outputs::new().store(&args.store.path);
    for target in &targets {
        if target.is_stdout() {
            outputs = outputs.standard_output("--to jsonl:-");
        } else if let ExportTarget::Jsonl(path) = target {
            outputs = outputs.output("--to", path);
        }
    }
    outputs.check()?;
    let store = open_existing(&args.store.path)?;
    let traces = traces(&store, &args.traces)?;
    let summary_to_stderr = targets.iter().any(ExportTarget::is_stdout);
    let mut deliveries = Vec::with_capacity(targets.len());
    for target in targets {
        deliveries.push(Delivery {
            receiver: Receiver::open(&target)?,
            target,
            spans_sent: 0,
            assessments_sent: 0,
            spans_failed: 0,
            assessments_failed: 0,
            traces_failed: Vec::new(),
            traces_unnamed: 0,
            traces_uncounted: 0,
            errors: Vec::new(),
            reader_gone: false,
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
            if delivery.reader_gone {
                continue;
            }
            match delivery.receiver.send(&spans, &operations) {
                Ok(()) => {
                    delivery.spans_sent += spans.len();
                    delivery.assessments_sent += operations.len();
                }
                Err(e) if is_broken_pipe(&e) => delivery.reader_gone = true,
                Err(e) => {
                    let undelivered = e
                        .downcast_ref::<verdict_eval::Error>()
                        .and_then(verdict_eval::Error::undelivered);
                    match undelivered {
                        Some(u) => {
                            delivery.spans_sent += spans.len().saturating_sub(u.spans);
                            delivery.assessments_sent +=
                                operations.len().saturating_sub(u.operations);
                            delivery.spans_failed += u.spans;
                            delivery.assessments_failed += u.operations;
                            match &u.traces {
                                Some(traces) => delivery.traces_failed.extend(traces),
                                None => delivery.traces_unnamed += chunk.len(),
                            }
                        }
                        None => {
                            delivery.spans_failed += spans.len();
                            delivery.assessments_failed += operations.len();
                            delivery.traces_uncounted += chunk.len();
                        }
                    }
                    delivery.errors.push(crate::message(&e));
                }
            }
        }
    }

    // What was delivered decides the exit code: a reader that stops
    // reading the summary changes nothing, and every destination is
    // finished all the same.
    let mut out = if summary_to_stderr {
        Summary::stderr()
    } else {
        Summary::stdout()
    };
    let mut all_delivered = true;
    for delivery in &mut deliveries {
        if !delivery.reader_gone {
            match delivery.receiver.finish() {
                Ok(()) => {}
                Err(e) if is_broken_pipe(&e) => delivery.reader_gone = true,
                Err(e) => delivery.errors.push(crate::message(&e)),
            }
        }
        if delivery.reader_gone {
            let _ = writeln!(
                out,
                "stopped pushing to {} when its reader stopped reading ({} spans and {} \
                 assessments had been written in full)",
                delivery.target, delivery.spans_sent, delivery.assessments_sent
            );
        } else {
            let _ = writeln!(
                out,
                "pushed {} spans and {} assessments of {} traces to {}",
                delivery.spans_sent,
                delivery.assessments_sent,
                traces.len(),
                delivery.target
            );
        }
        if !delivery.errors.is_empty() {
            all_delivered = false;
            if delivery.spans_failed + delivery.assessments_failed == 0 {
                // Every chunk was taken, but what was buffered was not
                // delivered at the end.
                eprintln!(
                    "error: not everything was delivered to {}:",
                    delivery.target
                );
            } else {
                eprintln!("error: {}:", not_delivered(delivery));
            }
            // A server's answer is quoted in them: shown, never acted on.
            for error in &delivery.errors {
                eprintln!("  {}", verdict_eval::report::visible(error));
            }
            if !delivery.traces_failed.is_empty() {
                eprintln!(
                    "  not delivered: {}",
                    listed(&delivery.traces_failed, TRACES_LISTED)
                );
            }
        }
    }
    Ok(out.finish(if all_delivered { 0 } else { 1 }))
}

/// How many failed traces are named in the summary.
const TRACES_LISTED: usize = 10;

/// "N spans and M assessments of K traces were not delivered to X", with
/// what is exact and what is not.
fn not_delivered(delivery: &Delivery) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut text = format!(
        "{} and {}",
        plural(delivery.spans_failed, "span", "spans"),
        plural(delivery.assessments_failed, "assessment", "assessments")
    );
    if delivery.traces_unnamed + delivery.traces_uncounted == 0 {
        text += &format!(
            " of {}",
            plural(delivery.traces_failed.len(), "trace", "traces")
        );
    }
    text += &format!(" were not delivered to {}", delivery.target);
    let mut notes = Vec::new();
    if delivery.traces_unnamed > 0 {
        notes.push(format!(
            "among {} it did not say which",
            plural(delivery.traces_unnamed, "trace", "traces")
        ));
    }
    if delivery.traces_uncounted > 0 {
        notes.push(format!(
            "{} counted whole, by chunk of up to {TRACES_PER_CHUNK} traces, where it gave no \
             count: some of those may have arrived",
            plural(delivery.traces_uncounted, "trace", "traces")
        ));
    }
    if !notes.is_empty() {
        text += &format!(" ({})", notes.join("; "));
    }
    text
}

/// Trace ids as MLflow writes them, the first `most`, then how many more.
fn listed(traces: &[TraceId], most: usize) -> String {
    let mut text = traces
        .iter()
        .take(most)
        .map(|&t| mlflow_trace_id(t))
        .collect::<Vec<_>>()
        .join(", ");
    if traces.len() > most {
        text += &format!(" and {} more", traces.len() - most);
    }
    text
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
