//! `verdict push`: replay the local store — spans, then the assessments of
//! the same traces in the order they were logged — through the export
//! crate's sinks, to an MLflow server, an OTLP collector or a JSONL file.
//!
//! The store keeps each assessment as it now is (updates applied, deleted
//! ones gone, overridden ones marked invalid), so a replay logs that state:
//! an override is logged after the feedback it overrides, and the receiver
//! marks that one invalid itself. Traces go out a chunk at a time, spans
//! before assessments, so that a server knows a trace before its
//! assessments arrive and memory does not grow with the store.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use opentelemetry_sdk::trace::SpanData;
use verdict::opentelemetry::trace::TraceId;
use verdict::{AssessmentSink, Operation, SinkError, mlflow_trace_id};
use verdict_export::{JsonlSink, LocalStore, MlflowSink, OtlpExporter, SpanSink};

use crate::cli::PushArgs;
use crate::store::{open_existing, parse_trace, require_trace};

/// Traces read from the store and sent per round.
const TRACES_PER_CHUNK: usize = 256;

/// Where `--to` sends.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Mlflow,
    Otlp,
    /// A file, or standard output for `-`.
    Jsonl(Option<PathBuf>),
}

impl std::str::FromStr for Target {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        Ok(match text {
            "mlflow" => Target::Mlflow,
            "otlp" => Target::Otlp,
            "jsonl:-" => Target::Jsonl(None),
            _ => match text.strip_prefix("jsonl:") {
                Some("") => bail!("--to jsonl: needs a file, as jsonl:PATH (jsonl:- for stdout)"),
                Some(path) => Target::Jsonl(Some(PathBuf::from(path))),
                None => bail!(
                    "--to {text:?} is not a target: use mlflow (MLFLOW_TRACKING_URI, \
                     MLFLOW_EXPERIMENT_ID), otlp (OTEL_EXPORTER_OTLP_*), or jsonl:PATH"
                ),
            },
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Mlflow => f.write_str("mlflow"),
            Target::Otlp => f.write_str("otlp"),
            Target::Jsonl(None) => f.write_str("jsonl:-"),
            Target::Jsonl(Some(path)) => write!(f, "jsonl:{}", path.display()),
        }
    }
}

/// One target's sinks and what it has delivered.
struct Destination {
    target: Target,
    /// Where it goes, for the summary: a URL or a file.
    place: String,
    spans: Box<dyn SpanSink>,
    assessments: Box<dyn AssessmentSink>,
    spans_sent: usize,
    assessments_sent: usize,
    spans_failed: usize,
    assessments_failed: usize,
    errors: Vec<String>,
}

impl Destination {
    fn open(target: Target) -> anyhow::Result<Self> {
        let context = || format!("setting up --to {target}");
        let (place, spans, assessments): (String, Box<dyn SpanSink>, Box<dyn AssessmentSink>) =
            match &target {
                Target::Mlflow => {
                    let sink = std::sync::Arc::new(MlflowSink::from_env().with_context(context)?);
                    let place = format!(
                        "{} (experiment {})",
                        sink.config().tracking_uri(),
                        sink.config().get_experiment_id()
                    );
                    (place, Box::new(sink.clone()), Box::new(sink))
                }
                Target::Otlp => {
                    let exporter = OtlpExporter::builder().build().with_context(context)?;
                    let spans = exporter.span_exporter().with_context(context)?;
                    (
                        "the OTLP collector of OTEL_EXPORTER_OTLP_*".to_owned(),
                        Box::new(spans),
                        Box::new(exporter.sink()),
                    )
                }
                Target::Jsonl(path) => {
                    let sink = std::sync::Arc::new(match path {
                        Some(path) => JsonlSink::append(path).with_context(context)?,
                        None => JsonlSink::stdout(),
                    });
                    let place = path
                        .as_ref()
                        .map_or_else(|| "stdout".to_owned(), |p| p.display().to_string());
                    (place, Box::new(sink.clone()), Box::new(sink))
                }
            };
        Ok(Destination {
            target,
            place,
            spans,
            assessments,
            spans_sent: 0,
            assessments_sent: 0,
            spans_failed: 0,
            assessments_failed: 0,
            errors: Vec::new(),
        })
    }

    fn send_spans(&mut self, spans: &[SpanData]) {
        if !spans.is_empty() {
            let result = self.spans.export_spans(spans);
            let (sent, failed) = self.tally(spans.len(), result);
            self.spans_sent += sent;
            self.spans_failed += failed;
        }
    }

    fn send_assessments(&mut self, batch: &[Operation]) {
        if !batch.is_empty() {
            let result = self.assessments.export(batch);
            let (sent, failed) = self.tally(batch.len(), result);
            self.assessments_sent += sent;
            self.assessments_failed += failed;
        }
    }

    /// How many of a batch of `len` were delivered and how many not: all
    /// of a failed batch failed unless the sink says how many; the
    /// message is kept for the summary.
    fn tally(&mut self, len: usize, result: Result<(), SinkError>) -> (usize, usize) {
        match result {
            Ok(()) => (len, 0),
            Err(error) => {
                let failed = error.failed().unwrap_or(len).min(len);
                self.errors.push(error.to_string());
                (len - failed, failed)
            }
        }
    }

    /// Delivers what the sinks still buffer.
    fn finish(&mut self) {
        if let Err(e) = self.spans.shutdown_spans() {
            self.errors.push(e.to_string());
        }
        if let Err(e) = self.assessments.shutdown() {
            self.errors.push(e.to_string());
        }
    }
}

pub(crate) fn run(args: &PushArgs) -> anyhow::Result<ExitCode> {
    let targets = args
        .to
        .iter()
        .map(|t| t.parse::<Target>())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = open_existing(&args.store.path)?;
    let traces = traces(&store, &args.traces)?;
    let mut destinations = targets
        .into_iter()
        .map(Destination::open)
        .collect::<anyhow::Result<Vec<_>>>()?;

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
        for destination in &mut destinations {
            destination.send_spans(&spans);
            destination.send_assessments(&operations);
        }
    }

    let mut out = std::io::stdout().lock();
    let mut all_delivered = true;
    for destination in &mut destinations {
        destination.finish();
        // JSON lines on stdout are the output; the summary goes to stderr.
        let summary = format!(
            "pushed {} spans and {} assessments of {} traces to {} ({})",
            destination.spans_sent,
            destination.assessments_sent,
            traces.len(),
            destination.target,
            destination.place
        );
        if destination.target == Target::Jsonl(None) {
            eprintln!("{summary}");
        } else {
            writeln!(out, "{summary}")?;
        }
        if !destination.errors.is_empty() {
            all_delivered = false;
            eprintln!(
                "error: {} spans and {} assessments were not delivered to {}:",
                destination.spans_failed, destination.assessments_failed, destination.target
            );
            for error in &destination.errors {
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
