//! Where a run's spans and assessments go besides the local store:
//! `--export otlp`, `--export mlflow`, `--export jsonl:PATH`, through the
//! sinks of `verdict-export`.

use std::fmt;
use std::str::FromStr;

use opentelemetry::trace::TraceId;
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
            undelivered: None,
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
    ///
    /// When the spans fail, the operations are not sent (a server should
    /// know a trace before its assessments). The error's
    /// [`undelivered`](Error::undelivered) counts the spans and operations
    /// not delivered, and names their traces, when the sink said how many
    /// of each failed (and which, if not all); it is `None` when the sink
    /// gave no count, as a JSONL file that failed mid-write does.
    pub fn send(&self, spans: &[SpanData], operations: &[Operation]) -> Result<()> {
        let (spans_sent, operations_sent) = self.send_apart(spans, operations);
        let failed: Vec<&SinkError> = [&spans_sent, &operations_sent]
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_ref().err())
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        Err(Error::Export {
            destination: self.target.to_string(),
            message: failed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            undelivered: Undelivered::of(spans, &spans_sent, operations, &operations_sent),
        })
    }

    /// The outcome of the spans and that of the operations; `None` for
    /// what was not sent (no spans to send, or operations held back
    /// because their spans failed).
    fn send_apart(&self, spans: &[SpanData], operations: &[Operation]) -> (Sent, Sent) {
        // Spans, then the operations only if the spans went.
        let in_order = |spans_sent: Sent, send_operations: &dyn Fn() -> Sent| {
            if matches!(spans_sent, Some(Err(_))) {
                (spans_sent, None)
            } else {
                (spans_sent, send_operations())
            }
        };
        let some_spans =
            |send: &dyn Fn() -> std::result::Result<(), SinkError>| (!spans.is_empty()).then(send);
        match &self.sink {
            Sink::Otlp(otlp) => in_order(some_spans(&|| otlp.spans.export_spans(spans)), &|| {
                Some(otlp.sink.export(operations))
            }),
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
                    Some(assessments) => {
                        let (spans_sent, assessments_sent) =
                            sink.export_traces_apart(spans, &assessments);
                        let spans_sent = (!spans.is_empty()).then_some(spans_sent);
                        (spans_sent, Some(assessments_sent))
                    }
                    None => in_order(
                        some_spans(&|| SpanSink::export_spans(sink.as_ref(), spans)),
                        &|| Some(AssessmentSink::export(sink.as_ref(), operations)),
                    ),
                }
            }
            Sink::Jsonl(sink) => in_order(
                some_spans(&|| {
                    sink.write_spans(spans)
                        .map_err(|e| SinkError::with_source("writing spans", e))
                }),
                &|| {
                    Some(
                        sink.write_operations(operations)
                            .map_err(|e| SinkError::with_source("writing assessments", e)),
                    )
                },
            ),
        }
    }

    /// Delivers what is buffered.
    pub fn finish(&self) -> Result<()> {
        let failed = |e: SinkError| Error::Export {
            destination: self.target.to_string(),
            message: e.to_string(),
            undelivered: None,
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

/// The outcome of sending spans or operations; `None` when not sent.
type Sent = Option<std::result::Result<(), SinkError>>;

/// What a [`Destination`] did not deliver of one
/// [`send`](Destination::send), as its sink counted it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Undelivered {
    /// Spans not delivered.
    pub spans: usize,
    /// Spans sent.
    pub spans_of: usize,
    /// Operations (assessments logged, updated, deleted) not delivered.
    pub operations: usize,
    /// Operations sent.
    pub operations_of: usize,
    /// The traces of what was not delivered, in the order sent, when the
    /// sink said which items failed (or all of them did); `None` when it
    /// only counted them.
    pub traces: Option<Vec<TraceId>>,
}

impl Undelivered {
    /// From the outcome of each part; `None` when a sink that failed gave
    /// no count.
    fn of(
        spans: &[SpanData],
        spans_sent: &Sent,
        operations: &[Operation],
        operations_sent: &Sent,
    ) -> Option<Self> {
        let (span_count, span_positions) = failed_in(spans.len(), spans_sent)?;
        let (operation_count, operation_positions) = failed_in(operations.len(), operations_sent)?;
        let traces = span_positions.zip(operation_positions).map(|(s, o)| {
            let mut traces: Vec<TraceId> = Vec::new();
            let ids = s
                .into_iter()
                .map(|i| spans[i].span_context.trace_id())
                .chain(o.into_iter().map(|i| operations[i].trace_id()));
            for id in ids {
                if !traces.contains(&id) {
                    traces.push(id);
                }
            }
            traces
        });
        Some(Undelivered {
            spans: span_count,
            spans_of: spans.len(),
            operations: operation_count,
            operations_of: operations.len(),
            traces,
        })
    }
}

/// How many of `len` items failed, and which when known: `None` when the
/// sink failed without a count. Not sent (`None`) is all of them.
fn failed_in(len: usize, sent: &Sent) -> Option<(usize, Option<Vec<usize>>)> {
    let error = match sent {
        None => return Some((len, Some((0..len).collect()))),
        Some(Ok(())) => return Some((0, Some(Vec::new()))),
        Some(Err(error)) => error,
    };
    let count = error.failed()?.min(len);
    let positions = if count == len {
        Some((0..len).collect())
    } else if count == 0 {
        Some(Vec::new())
    } else {
        // Which ones, when the sink listed every failed one as worth
        // sending again (it does not list those refused for good).
        error
            .retryable()
            .filter(|r| r.len() == count && r.iter().all(|&i| i < len))
            .map(<[usize]>::to_vec)
    };
    Some((count, positions))
}

impl fmt::Display for Undelivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} spans and {} of {} assessments not delivered",
            self.spans, self.spans_of, self.operations, self.operations_of
        )?;
        if let Some(traces) = &self.traces {
            write!(
                f,
                ", of {} {}",
                traces.len(),
                if traces.len() == 1 { "trace" } else { "traces" }
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict::Assessment;

    fn operations(traces: &[u128]) -> Vec<Operation> {
        traces
            .iter()
            .map(|&t| {
                Operation::Log(
                    Assessment::feedback("ok", true)
                        .on_trace(&format!("{t:032x}"), None)
                        .unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn a_sink_that_counts_and_lists_its_failures_is_reported_exactly() {
        let ops = operations(&[1, 2, 3, 2]);
        // The sink delivered the first and third, and could not deliver
        // the second and fourth (both of trace 2) for now.
        let sent = Some(Err(SinkError::new("2 of 4 failed")
            .with_failed(2)
            .with_retryable(vec![1, 3])));
        let u = Undelivered::of(&[], &None, &ops, &sent).unwrap();
        assert_eq!((u.spans, u.operations, u.operations_of), (0, 2, 4));
        assert_eq!(u.traces, Some(vec![TraceId::from(2u128)]));
        assert_eq!(
            u.to_string(),
            "0 of 0 spans and 2 of 4 assessments not delivered, of 1 trace"
        );
    }

    #[test]
    fn a_count_without_positions_gives_the_count_but_no_traces() {
        let ops = operations(&[1, 2, 3]);
        // One refused for good (not retryable), one for now.
        let sent = Some(Err(SinkError::new("x")
            .with_failed(2)
            .with_retryable(vec![0])));
        let u = Undelivered::of(&[], &None, &ops, &sent).unwrap();
        assert_eq!(u.operations, 2);
        assert_eq!(u.traces, None);
    }

    #[test]
    fn operations_held_back_by_failed_spans_count_as_not_delivered() {
        let ops = operations(&[1, 2]);
        let spans_sent = Some(Err(SinkError::new("down").with_failed(0)));
        // No spans, so `failed(0)` of 0; the operations were not sent.
        let u = Undelivered::of(&[], &spans_sent, &ops, &None).unwrap();
        assert_eq!(u.operations, 2);
        assert_eq!(u.traces.unwrap().len(), 2);
    }

    #[test]
    fn a_sink_without_a_count_leaves_it_unknown() {
        let ops = operations(&[1]);
        let sent = Some(Err(SinkError::new("disk full")));
        assert_eq!(Undelivered::of(&[], &None, &ops, &sent), None);
    }
}
