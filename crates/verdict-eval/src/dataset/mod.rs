//! Reading datasets: JSON lines in MLflow's evaluation shape, or OTLP JSON
//! traces whose root spans hold the inputs and outputs.
//!
//! Both are read as a stream, a line at a time, so that a dataset of any
//! size is evaluated in constant memory (an OTLP file written as one
//! pretty-printed document is the exception: it is parsed whole).

mod otlp;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::SpanData;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};
use verdict_scorer::{OwnedRecord, OwnedValue};

use crate::error::{Error, Result};

pub use otlp::EXPECTATION_ATTRIBUTE_PREFIX;
use otlp::otlp_records;

/// One record of a dataset, ready to score.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetRecord {
    /// The line it was read from (1-based).
    pub line: usize,
    /// The trace it belongs to, when the dataset names one.
    pub trace_id: Option<TraceId>,
    /// The span it judges, when the dataset names one.
    pub span_id: Option<SpanId>,
    /// Inputs, outputs and expectations.
    pub record: OwnedRecord,
    /// The spans of its trace the dataset holds (an OTLP file's), to store
    /// with it; empty for a JSONL record.
    pub spans: Vec<SpanData>,
}

/// A record that could not be read: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InvalidRecord {
    /// The line (1-based).
    pub line: usize,
    /// What is wrong with it, and what is expected.
    pub reason: String,
}

/// What a dataset yields: a record, or a line that is not one.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A record to score.
    Record(DatasetRecord),
    /// A malformed record.
    Invalid(InvalidRecord),
}

/// How a dataset file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line: `inputs`, `outputs`, `expectations`, and
    /// optional `trace_id` / `span_id` — MLflow's evaluation shape.
    Jsonl,
    /// OTLP JSON traces (`{"resourceSpans": [...]}`), one request per line
    /// as the OpenTelemetry Collector's file exporter writes them, or one
    /// document.
    OtlpJson,
}

/// The fields a JSONL record may have.
const FIELDS: &str = "inputs, outputs, expectations, trace_id, span_id";

/// A dataset file.
///
/// ```
/// use verdict_eval::{Dataset, Entry};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("qa.jsonl");
/// std::fs::write(&path, concat!(
///     r#"{"inputs": {"question": "Capital of France?"}, "outputs": "Paris", "#,
///     r#""expectations": {"expected_response": "Paris"}}"#, "\n",
///     r#"{"inputs": "2+2?", "outputs": 4"#, "\n",
/// ))?;
/// let entries: Vec<Entry> = Dataset::open(&path)?.entries()?.collect::<Result<_, _>>()?;
/// assert!(matches!(&entries[0], Entry::Record(r) if r.record.expectations.len() == 1));
/// assert!(matches!(&entries[1], Entry::Invalid(i) if i.line == 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Dataset {
    path: PathBuf,
    format: Format,
    len: u64,
}

impl Dataset {
    /// Opens a dataset and tells its format from its first line.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let read = |source| Error::ReadDataset {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(read)?;
        let len = file.metadata().map_err(read)?.len();
        let mut head = Vec::new();
        BufReader::new(file)
            .take(1 << 20)
            .read_until(b'\n', &mut head)
            .map_err(read)?;
        let format = match serde_json::from_slice::<Value>(strip_bom(&head)) {
            Ok(Value::Object(map)) if map.contains_key("resourceSpans") => Format::OtlpJson,
            Ok(_) => Format::Jsonl,
            // A document spread over lines: OTLP if it says so early on.
            Err(_)
                if String::from_utf8_lossy(&head).trim_start().starts_with('{') && {
                    let text = std::fs::read(&path).map_err(read)?;
                    matches!(serde_json::from_slice::<Value>(strip_bom(&text)),
                         Ok(Value::Object(map)) if map.contains_key("resourceSpans"))
                } =>
            {
                Format::OtlpJson
            }
            Err(_) => Format::Jsonl,
        };
        Ok(Dataset { path, format, len })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the file is written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The file's size in bytes (for progress).
    pub fn len_bytes(&self) -> u64 {
        self.len
    }

    /// Reads the records, in order, from the start.
    pub fn entries(&self) -> Result<Entries> {
        let file = File::open(&self.path).map_err(|source| Error::ReadDataset {
            path: self.path.clone(),
            source,
        })?;
        Ok(Entries {
            path: self.path.clone(),
            format: self.format,
            reader: BufReader::with_capacity(1 << 16, file),
            line: 0,
            bytes: 0,
            buffer: Vec::new(),
            pending: VecDeque::new(),
            whole: self.format == Format::OtlpJson,
        })
    }
}

/// The records of a [`Dataset`], read as they are asked for.
pub struct Entries {
    path: PathBuf,
    format: Format,
    reader: BufReader<File>,
    line: usize,
    bytes: u64,
    buffer: Vec<u8>,
    /// Records of an OTLP request not handed out yet.
    pending: VecDeque<Entry>,
    /// Whether an OTLP file may be one document over many lines.
    whole: bool,
}

impl Entries {
    /// How many bytes of the file have been read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    fn next_line(&mut self) -> Result<Option<usize>> {
        self.buffer.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buffer)
            .map_err(|source| Error::ReadDataset {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        self.bytes += n as u64;
        Ok(Some(self.line))
    }
}

impl Iterator for Entries {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        loop {
            if let Some(entry) = self.pending.pop_front() {
                return Some(Ok(entry));
            }
            let line = match self.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            let mut bytes = self.buffer.as_slice();
            if line == 1 {
                bytes = strip_bom(bytes);
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match self.format {
                Format::Jsonl => return Some(Ok(parse_jsonl(line, bytes))),
                Format::OtlpJson => {
                    let document = match serde_json::from_slice::<Value>(bytes) {
                        Ok(document) => document,
                        Err(_) if self.whole && line == 1 => {
                            // One document over many lines: read the rest.
                            let mut all = bytes.to_vec();
                            if let Err(source) = self.reader.read_to_end(&mut all) {
                                return Some(Err(Error::ReadDataset {
                                    path: self.path.clone(),
                                    source,
                                }));
                            }
                            self.bytes += (all.len() - bytes.len()) as u64;
                            match serde_json::from_slice::<Value>(&all) {
                                Ok(document) => document,
                                Err(e) => {
                                    return Some(Ok(invalid(line, json_reason(&e))));
                                }
                            }
                        }
                        Err(e) => return Some(Ok(invalid(line, json_reason(&e)))),
                    };
                    self.whole = false;
                    self.pending.extend(otlp_records(line, &document));
                }
            }
        }
    }
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

pub(super) fn invalid(line: usize, reason: impl Into<String>) -> Entry {
    Entry::Invalid(InvalidRecord {
        line,
        reason: reason.into(),
    })
}

/// serde_json's message without its "at line 1 column N" (the line is
/// ours), with the column kept.
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = text
        .rfind(" at line ")
        .map_or(text.as_str(), |i| &text[..i]);
    format!("not a valid record: {text} (column {})", e.column())
}

/// One JSONL record as MLflow's evaluation datasets write it.
///
/// The fields MLflow adds to a record of a managed evaluation dataset
/// (`mlflow.entities.DatasetRecord`: its ids, tags, source, and who made
/// it when) are read and ignored, so that records exported from MLflow
/// are evaluated as they are; any other field is refused, so that a typo
/// such as `expectation` is not silently a record without expectations.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    inputs: Value,
    outputs: Value,
    #[serde(default)]
    expectations: Option<Map<String, Value>>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    span_id: Option<String>,
    #[serde(default, rename = "dataset_record_id")]
    _dataset_record_id: IgnoredAny,
    #[serde(default, rename = "dataset_id")]
    _dataset_id: IgnoredAny,
    #[serde(default, rename = "tags")]
    _tags: IgnoredAny,
    #[serde(default, rename = "source")]
    _source: IgnoredAny,
    #[serde(default, rename = "source_id")]
    _source_id: IgnoredAny,
    #[serde(default, rename = "source_type")]
    _source_type: IgnoredAny,
    #[serde(default, rename = "created_time")]
    _created_time: IgnoredAny,
    #[serde(default, rename = "last_update_time")]
    _last_update_time: IgnoredAny,
    #[serde(default, rename = "created_by")]
    _created_by: IgnoredAny,
    #[serde(default, rename = "last_updated_by")]
    _last_updated_by: IgnoredAny,
}

fn parse_jsonl(line: usize, bytes: &[u8]) -> Entry {
    // serde would read a struct from a JSON array too.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return invalid(
            line,
            format!("not a JSON object; a record is an object with the fields {FIELDS}"),
        );
    }
    let parsed: Line = match serde_json::from_slice(bytes) {
        Ok(parsed) => parsed,
        Err(e) if e.is_data() => {
            return invalid(
                line,
                format!(
                    "{}; a record is an object with the fields {FIELDS} (inputs and outputs \
                     required)",
                    json_reason(&e)
                ),
            );
        }
        Err(e) => return invalid(line, json_reason(&e)),
    };
    let trace_id = match parsed.trace_id.as_deref().map(verdict::parse_trace_id) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => return invalid(line, format!("trace_id: {e}")),
    };
    let span_id = match parsed.span_id.as_deref().map(verdict::parse_span_id) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => return invalid(line, format!("span_id: {e}")),
    };
    if span_id.is_some() && trace_id.is_none() {
        return invalid(
            line,
            "span_id is given without trace_id; give both, or neither",
        );
    }
    let mut record = OwnedRecord::new(
        OwnedValue::from(parsed.inputs),
        OwnedValue::from(parsed.outputs),
    );
    for (name, value) in parsed.expectations.unwrap_or_default() {
        if let Err(e) = verdict::AssessmentName::new(name.clone()) {
            return invalid(line, format!("expectation {name:?}: {e}"));
        }
        if value.is_null() {
            return invalid(line, null_expectation(&name));
        }
        record.expectations.push((name, OwnedValue::from(value)));
    }
    Entry::Record(DatasetRecord {
        line,
        trace_id,
        span_id,
        record,
        spans: Vec::new(),
    })
}

/// Why an expectation whose value is null is refused: an expectation is
/// ground truth, and the store refuses a null one.
pub(super) fn null_expectation(name: &str) -> String {
    format!(
        "expectation {name:?} is null: null is not a ground truth; give the expected value, or \
         leave the expectation out"
    )
}
