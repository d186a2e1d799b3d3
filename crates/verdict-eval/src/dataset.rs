//! Reading datasets: JSON lines in MLflow's evaluation shape, or OTLP JSON
//! traces whose root spans hold the inputs and outputs.
//!
//! Both are read as a stream, a line at a time, so that a dataset of any
//! size is evaluated in constant memory (an OTLP file written as one
//! pretty-printed document is the exception: it is parsed whole).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};
use verdict_scorer::{OwnedRecord, OwnedValue};

use crate::error::{Error, Result};

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

fn invalid(line: usize, reason: impl Into<String>) -> Entry {
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
fn null_expectation(name: &str) -> String {
    format!(
        "expectation {name:?} is null: null is not a ground truth; give the expected value, or \
         leave the expectation out"
    )
}

/// Attribute keys a root span's inputs are read from, in order of
/// preference: MLflow's, then the GenAI semantic conventions'.
const INPUT_KEYS: [&str; 3] = [
    "mlflow.spanInputs",
    "gen_ai.input.messages",
    "gen_ai.prompt",
];
/// Attribute keys a root span's outputs are read from.
const OUTPUT_KEYS: [&str; 3] = [
    "mlflow.spanOutputs",
    "gen_ai.output.messages",
    "gen_ai.completion",
];
/// Root span attributes with this prefix are expectations, named by the
/// rest of the key (the value is JSON text, or plain text).
pub const EXPECTATION_ATTRIBUTE_PREFIX: &str = "verdict.expectation.";

/// The records of one OTLP JSON request: one per root span.
fn otlp_records(line: usize, document: &Value) -> Vec<Entry> {
    let Some(resource_spans) = document.get("resourceSpans").and_then(Value::as_array) else {
        return vec![invalid(
            line,
            "not an OTLP JSON traces request: it has no \"resourceSpans\" list",
        )];
    };
    let scopes = || {
        resource_spans.iter().enumerate().flat_map(|(r, resource)| {
            let scopes = resource.get("scopeSpans").and_then(Value::as_array);
            scopes
                .into_iter()
                .flatten()
                .enumerate()
                .map(move |(s, scope)| (r, s, scope))
        })
    };
    // Every span of the request goes to the store with its trace's record,
    // so that `verdict show` and `verdict push` have the trace, not only
    // the assessments on it.
    let mut spans: HashMap<TraceId, Vec<SpanData>> = HashMap::new();
    for (_, _, scope) in scopes() {
        let name = scope.pointer("/scope/name").and_then(Value::as_str);
        let version = scope.pointer("/scope/version").and_then(Value::as_str);
        let mut builder = InstrumentationScope::builder(name.unwrap_or("").to_owned());
        if let Some(version) = version {
            builder = builder.with_version(version.to_owned());
        }
        let instrumentation = builder.build();
        let list = scope.get("spans").and_then(Value::as_array);
        for span in list.into_iter().flatten() {
            if let Some(data) = otlp_span(span, &instrumentation) {
                spans
                    .entry(data.span_context.trace_id())
                    .or_default()
                    .push(data);
            }
        }
    }
    let mut entries = Vec::new();
    for (r, s, scope) in scopes() {
        let list = scope.get("spans").and_then(Value::as_array);
        for (i, span) in list.into_iter().flatten().enumerate() {
            let at = format!("resourceSpans[{r}].scopeSpans[{s}].spans[{i}]");
            let parent = span
                .get("parentSpanId")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !parent.is_empty() {
                continue;
            }
            entries.push(match otlp_root(line, span) {
                Ok(mut record) => {
                    if let Some(trace_id) = record.trace_id {
                        record.spans = spans.remove(&trace_id).unwrap_or_default();
                    }
                    Entry::Record(record)
                }
                Err(reason) => invalid(line, format!("{at}: {reason}")),
            });
        }
    }
    if entries.is_empty() {
        entries.push(invalid(
            line,
            "the request holds no root span (a span without parentSpanId)",
        ));
    }
    entries
}

fn otlp_root(line: usize, span: &Value) -> Result<DatasetRecord, String> {
    let id = |key: &str| span.get(key).and_then(Value::as_str).unwrap_or("");
    let trace_id = verdict::parse_trace_id(id("traceId")).map_err(|e| format!("traceId: {e}"))?;
    let span_id = verdict::parse_span_id(id("spanId")).map_err(|e| format!("spanId: {e}"))?;
    let mut attributes = Map::new();
    for attribute in span
        .get("attributes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(key), Some(value)) = (
            attribute.get("key").and_then(Value::as_str),
            attribute.get("value").and_then(any_value),
        ) {
            attributes.insert(key.to_owned(), value);
        }
    }
    let pick = |keys: &[&str], what: &str| {
        keys.iter()
            .find_map(|key| attributes.get(*key))
            .map(|value| OwnedValue::from(json_text(value)))
            .ok_or_else(|| {
                format!(
                    "the root span {:?} has no {what}: give it one of the attributes {}",
                    span.get("name").and_then(Value::as_str).unwrap_or(""),
                    keys.join(", ")
                )
            })
    };
    let mut record = OwnedRecord::new(pick(&INPUT_KEYS, "inputs")?, pick(&OUTPUT_KEYS, "outputs")?);
    for (key, value) in &attributes {
        if let Some(name) = key.strip_prefix(EXPECTATION_ATTRIBUTE_PREFIX) {
            verdict::AssessmentName::new(name.to_owned())
                .map_err(|e| format!("attribute {key}: {e}"))?;
            let value = json_text(value);
            if value.is_null() {
                return Err(format!("attribute {key}: {}", null_expectation(name)));
            }
            record
                .expectations
                .push((name.to_owned(), OwnedValue::from(value)));
        }
    }
    Ok(DatasetRecord {
        line,
        trace_id: Some(trace_id),
        span_id: Some(span_id),
        record,
        spans: Vec::new(),
    })
}

/// An OTLP JSON span as the SDK's finished span, to store; `None` when its
/// ids cannot be read (its root then says why, or it has none to store).
fn otlp_span(span: &Value, scope: &InstrumentationScope) -> Option<SpanData> {
    let text = |key: &str| span.get(key).and_then(Value::as_str).unwrap_or("");
    let trace_id = verdict::parse_trace_id(text("traceId")).ok()?;
    let span_id = verdict::parse_span_id(text("spanId")).ok()?;
    let parent_span_id = match text("parentSpanId") {
        "" => SpanId::INVALID,
        hex => verdict::parse_span_id(hex).ok()?,
    };
    let kind = match span.get("kind") {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(name)) => match name.as_str() {
            "SPAN_KIND_SERVER" => 2,
            "SPAN_KIND_CLIENT" => 3,
            "SPAN_KIND_PRODUCER" => 4,
            "SPAN_KIND_CONSUMER" => 5,
            _ => 1,
        },
        _ => 1,
    };
    let status = span.get("status");
    let message = status
        .and_then(|s| s.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let status = match status.and_then(|s| s.get("code")) {
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Status::Ok,
        Some(Value::Number(n)) if n.as_u64() == Some(2) => Status::error(message),
        Some(Value::String(code)) if code == "STATUS_CODE_OK" => Status::Ok,
        Some(Value::String(code)) if code == "STATUS_CODE_ERROR" => Status::error(message),
        _ => Status::Unset,
    };
    let mut events = SpanEvents::default();
    for event in span
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        events.events.push(Event::new(
            event
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            nanos(event.get("timeUnixNano")),
            key_values(event.get("attributes")),
            0,
        ));
    }
    Some(SpanData {
        span_context: SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id,
        parent_span_is_remote: false,
        span_kind: match kind {
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Internal,
        },
        name: text("name").to_owned().into(),
        start_time: nanos(span.get("startTimeUnixNano")),
        end_time: nanos(span.get("endTimeUnixNano")),
        attributes: key_values(span.get("attributes")),
        dropped_attributes_count: 0,
        events,
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    })
}

/// An OTLP JSON time (nanoseconds since the epoch, as a string or a
/// number); the epoch when there is none.
fn nanos(value: Option<&Value>) -> SystemTime {
    let n = match value {
        Some(Value::String(s)) => s.parse::<u64>().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    };
    UNIX_EPOCH + Duration::from_nanos(n)
}

/// OTLP JSON attributes as OpenTelemetry key-values: strings, bools and
/// numbers as they are, anything else as its JSON text.
fn key_values(attributes: Option<&Value>) -> Vec<KeyValue> {
    attributes
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|attribute| {
            let key = attribute.get("key")?.as_str()?.to_owned();
            Some(match any_value(attribute.get("value")?)? {
                Value::String(s) => KeyValue::new(key, s),
                Value::Bool(b) => KeyValue::new(key, b),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => KeyValue::new(key, i),
                    None => KeyValue::new(key, n.as_f64().unwrap_or(f64::NAN)),
                },
                other => KeyValue::new(key, other.to_string()),
            })
        })
        .collect()
}

/// An OTLP JSON `AnyValue` as plain JSON.
fn any_value(value: &Value) -> Option<Value> {
    let (kind, inner) = value.as_object()?.iter().next()?;
    Some(match kind.as_str() {
        "stringValue" | "boolValue" | "doubleValue" => inner.clone(),
        // int64 is a string in OTLP JSON.
        "intValue" => inner
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .map_or_else(|| inner.clone(), Value::from),
        "arrayValue" => Value::Array(
            inner
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(any_value)
                .collect(),
        ),
        "kvlistValue" => Value::Object(
            inner
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|kv| {
                    Some((
                        kv.get("key")?.as_str()?.to_owned(),
                        any_value(kv.get("value")?)?,
                    ))
                })
                .collect(),
        ),
        _ => inner.clone(),
    })
}

/// A string attribute that holds JSON (as MLflow's span inputs do) as that
/// JSON; any other value as it is.
fn json_text(value: &Value) -> Value {
    match value {
        Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}
