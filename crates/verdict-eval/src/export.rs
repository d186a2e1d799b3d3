//! Where a run's spans and assessments go besides the local store:
//! `--export otlp`, `--export mlflow`, `--export jsonl:PATH`, through the
//! sinks of `verdict-export`.

use std::fmt;
use std::str::FromStr;

use opentelemetry_sdk::trace::SpanData;
use verdict::{Assessment, AssessmentSink, Operation, SinkError};
use verdict_export::{JsonlSink, MlflowSink, OtlpExporter, OtlpSink, SpanSink};

use crate::error::{Error, Result};

/// Which export a `--export` value names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportTarget {
    /// Any OpenTelemetry collector; configured by `OTEL_EXPORTER_OTLP_*`.
    Otlp,
    /// An MLflow tracking server; configured by `MLFLOW_TRACKING_URI`,
    /// `MLFLOW_EXPERIMENT_ID` and MLflow's credential variables.
    Mlflow,
    /// Spans and assessments (MLflow JSON), one per line, appended to a
    /// file, or written to standard output when the path is `-`.
    Jsonl(std::path::PathBuf),
}

impl ExportTarget {
    /// Whether it writes to standard output (`jsonl:-`): then the command
    /// prints its own output elsewhere.
    pub fn is_stdout(&self) -> bool {
        matches!(self, ExportTarget::Jsonl(path) if path.as_os_str() == "-")
    }
}

impl FromStr for ExportTarget {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "otlp" => Ok(ExportTarget::Otlp),
            "mlflow" => Ok(ExportTarget::Mlflow),
            _ => match s.strip_prefix("jsonl:") {
                Some(path) if !path.is_empty() => Ok(ExportTarget::Jsonl(path.into())),
                _ => Err(Error::Usage(format!(
                    "{s:?} is not an export target: write otlp, mlflow or jsonl:PATH"
                ))),
            },
        }
    }
}

impl fmt::Display for ExportTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportTarget::Otlp => f.write_str("otlp"),
            ExportTarget::Mlflow => f.write_str("mlflow"),
            ExportTarget::Jsonl(path) => write!(f, "jsonl:{}", path.display()),
        }
    }
}

/// An export, opened: its spans go first, then its assessments, so that a
/// server knows a trace before its assessments arrive.
pub struct Destination {
    target: ExportTarget,
    sink: Sink,
}

enum Sink {
    Otlp(Box<Otlp>),
    Mlflow(Box<MlflowSink>),
    Jsonl(JsonlSink),
}

/// The OTLP exporter, its span exporter and its assessment sink.
struct Otlp {
    exporter: OtlpExporter,
    spans: verdict_export::otlp::SpanExporter,
    sink: OtlpSink,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("target", &self.target)
            .finish()
    }
}

impl Destination {
    /// Opens an export from its configuration (environment variables for
    /// OTLP and MLflow).
    pub fn open(target: ExportTarget) -> Result<Self> {
        let failed = |message: String| Error::Export {
            destination: target.to_string(),
            message,
        };
        let sink = match &target {
            ExportTarget::Otlp => {
                let exporter = OtlpExporter::builder()
                    .build()
                    .map_err(|e| failed(e.to_string()))?;
                let spans = exporter
                    .span_exporter()
                    .map_err(|e| failed(e.to_string()))?;
                let sink = exporter.sink();
                Sink::Otlp(Box::new(Otlp {
                    exporter,
                    spans,
                    sink,
                }))
            }
            ExportTarget::Mlflow => Sink::Mlflow(Box::new(
                MlflowSink::from_env().map_err(|e| failed(e.to_string()))?,
            )),
            ExportTarget::Jsonl(_) if target.is_stdout() => Sink::Jsonl(JsonlSink::stdout()),
            ExportTarget::Jsonl(path) => {
                Sink::Jsonl(JsonlSink::append(path).map_err(|e| failed(e.to_string()))?)
            }
        };
        Ok(Destination { target, sink })
    }

    /// The export, as the user named it.
    pub fn target(&self) -> &ExportTarget {
        &self.target
    }

    /// Sends spans, then the operations on them (as `verdict eval` does
    /// per batch of records, and `verdict push` per chunk of traces).
    pub fn send(&self, spans: &[SpanData], operations: &[Operation]) -> Result<()> {
        let failed = |e: SinkError| Error::Export {
            destination: self.target.to_string(),
            message: e.to_string(),
        };
        match &self.sink {
            Sink::Otlp(otlp) => {
                if !spans.is_empty() {
                    otlp.spans.export_spans(spans).map_err(failed)?;
                }
                otlp.sink.export(operations).map_err(failed)
            }
            Sink::Mlflow(sink) => {
                // New traces with their new assessments go together (one
                // request creates a trace with its assessments inline);
                // updates and deletions go one by one after the spans.
                let logged: Option<Vec<Assessment>> = operations
                    .iter()
                    .map(|operation| match operation {
                        Operation::Log(assessment) => Some(assessment.clone()),
                        _ => None,
                    })
                    .collect();
                match logged {
                    Some(assessments) => sink.export_traces(spans, &assessments).map_err(failed),
                    None => {
                        if !spans.is_empty() {
                            SpanSink::export_spans(sink.as_ref(), spans).map_err(failed)?;
                        }
                        AssessmentSink::export(sink.as_ref(), operations).map_err(failed)
                    }
                }
            }
            Sink::Jsonl(sink) => {
                sink.write_spans(spans)
                    .map_err(|e| failed(SinkError::with_source("writing spans", e)))?;
                sink.write_operations(operations)
                    .map_err(|e| failed(SinkError::with_source("writing assessments", e)))
            }
        }
    }

    /// Delivers what is buffered.
    pub fn finish(&self) -> Result<()> {
        let failed = |e: SinkError| Error::Export {
            destination: self.target.to_string(),
            message: e.to_string(),
        };
        match &self.sink {
            Sink::Otlp(otlp) => otlp.exporter.flush().map_err(failed),
            Sink::Mlflow(sink) => AssessmentSink::flush(sink.as_ref()).map_err(failed),
            Sink::Jsonl(sink) => sink
                .flush()
                .map_err(|e| failed(SinkError::with_source("flushing", e))),
        }
    }
}
