//! The JSONL sink: one JSON object per line, for piping and replay. The
//! line formats are described in the crate docs.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use opentelemetry_sdk::trace::SpanData;
use serde_json::{Value, json};
use verdict::{Assessment, AssessmentSink, Operation, SinkError, mlflow_trace_id};

use crate::error::{Error, Result};
use verdict_store::StoredSpan;

/// Writes assessment operations and spans as JSON lines to a file (appended
/// to) or to standard output. The line formats are in the [crate
/// docs](crate#jsonl-lines).
///
/// Lines are buffered; [`flush`](JsonlSink::flush) (or the sink's
/// `flush`/`shutdown` through a recorder) writes them out, and so does
/// dropping the sink, ignoring errors. Each line is
/// written whole, so threads sharing one sink never interleave lines; two
/// processes appending to the same file may.
///
/// ```
/// use verdict::{Assessment, AssessmentSink, Operation};
/// use verdict_export::JsonlSink;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("assessments.jsonl");
/// let sink = JsonlSink::append(&path)?;
/// let fb = Assessment::feedback("ok", true).on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)?;
/// sink.export(&[Operation::Log(fb.clone())])?;
/// sink.flush()?;
/// let text = std::fs::read_to_string(&path)?;
/// assert_eq!(Assessment::from_json(text.trim_end())?, fb);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JsonlSink {
    output: String,
    writer: Mutex<BufWriter<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for JsonlSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlSink")
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl JsonlSink {
    /// Appends to the file at `path`, creating it if needed (not its
    /// directory).
    pub fn append(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::OpenOutput {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(JsonlSink::to_writer(file, path.display().to_string()))
    }

    /// Writes to standard output.
    pub fn stdout() -> Self {
        JsonlSink::to_writer(io::stdout(), "stdout")
    }

    /// Writes to any writer (a pipe, a socket, a buffer in a test);
    /// `output` names it in error messages.
    pub fn to_writer(writer: impl Write + Send + 'static, output: impl Into<String>) -> Self {
        JsonlSink {
            output: output.into(),
            writer: Mutex::new(BufWriter::new(Box::new(writer))),
        }
    }

    /// Writes one line per operation.
    pub fn write_operations(&self, operations: &[Operation]) -> Result<()> {
        self.write_lines(operations.iter().map(jsonl_line))
            .map_err(|(_, e)| e)
    }

    /// Writes one line per span, in MLflow's span shape
    /// ([`StoredSpan::to_mlflow_json`]).
    pub fn write_spans(&self, spans: &[SpanData]) -> Result<()> {
        self.write_span_lines(spans).map_err(|(_, e)| e)
    }

    /// Writes one line per span as the local store keeps them, each with
    /// its own resource if it has one.
    pub fn write_stored_spans(&self, spans: &[StoredSpan]) -> Result<()> {
        self.write_stored_span_lines(spans).map_err(|(_, e)| e)
    }

    /// [`write_spans`](Self::write_spans), failing with the position of
    /// the line it failed on.
    pub(crate) fn write_span_lines(
        &self,
        spans: &[SpanData],
    ) -> std::result::Result<(), (usize, Error)> {
        self.write_lines(
            spans
                .iter()
                .map(|span| StoredSpan::from(span).to_mlflow_json().to_string()),
        )
    }

    /// [`write_stored_spans`](Self::write_stored_spans), failing with the
    /// position of the line it failed on.
    pub(crate) fn write_stored_span_lines(
        &self,
        spans: &[StoredSpan],
    ) -> std::result::Result<(), (usize, Error)> {
        self.write_lines(spans.iter().map(|span| span.to_mlflow_json().to_string()))
    }

    /// Writes out the buffered lines.
    pub fn flush(&self) -> Result<()> {
        self.lock().flush().map_err(|e| self.write_error(e))
    }

    /// Writes the lines; on failure, the position of the line it failed
    /// on too.
    fn write_lines(
        &self,
        lines: impl Iterator<Item = String>,
    ) -> std::result::Result<(), (usize, Error)> {
        let mut writer = self.lock();
        for (at, mut line) in lines.enumerate() {
            line.push('\n');
            writer
                .write_all(line.as_bytes())
                .map_err(|e| (at, self.write_error(e)))?;
        }
        Ok(())
    }

    /// The error of a batch of `len` items (of `what`) whose writing
    /// failed at line `at`. It carries no outcomes: the lines from `at` on
    /// were not written, but of the earlier ones (and of earlier batches'
    /// lines still buffered) the writer cannot say which reached the
    /// output; so every item counts as deferred, and the batch as not
    /// itemized (see [`verdict::Outcomes::of`]).
    pub(crate) fn batch_error(
        &self,
        what: &str,
        len: usize,
        (at, error): (usize, Error),
    ) -> SinkError {
        SinkError::with_source(
            format!(
                "could not write line {} of a batch of {len} {what} to {}: that line and the \
                 next were not written, and lines before it may be missing",
                at + 1,
                self.output
            ),
            error,
        )
    }

    fn write_error(&self, source: io::Error) -> Error {
        Error::Write {
            output: self.output.clone(),
            source,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BufWriter<Box<dyn Write + Send>>> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The JSONL line for one operation, without its newline; see the
/// [crate docs](crate#jsonl-lines).
pub fn jsonl_line(operation: &Operation) -> String {
    match operation {
        Operation::Log(assessment) => Assessment::to_json(assessment),
        Operation::Update(update) => {
            let mut body = verdict::wire::update_to_json(update);
            if let Value::Object(fields) = &mut body {
                fields.insert("type".into(), "update".into());
            }
            body.to_string()
        }
        Operation::Delete {
            trace_id,
            assessment_id,
        } => json!({
            "type": "delete",
            "trace_id": mlflow_trace_id(*trace_id),
            "assessment_id": assessment_id.to_string(),
        })
        .to_string(),
    }
}

impl AssessmentSink for JsonlSink {
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        self.write_lines(batch.iter().map(jsonl_line))
            .map_err(|failed| self.batch_error("operations", batch.len(), failed))
    }

    fn flush(&self) -> Result<(), SinkError> {
        JsonlSink::flush(self)
            .map_err(|e| SinkError::with_source("could not write out the buffered JSON lines", e))
    }

    fn name(&self) -> &str {
        "jsonl"
    }
}
