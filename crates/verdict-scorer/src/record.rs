//! Records the host owns, and the borrowed views scorers read.
//!
//! A record may carry its trace ([`OwnedTrace`]): the spans a trace
//! scorer reads. It is shared ([`Arc`]), so that the records of one trace
//! hold it once, and laid out as views ([`TraceViews`](crate::TraceViews))
//! only for the scorers that read it.

use std::sync::Arc;

use serde_json::Value as Json;
use verdict_plugin::{NamedValue, Record, Value};

/// One value of a record, owned: nothing, a string, or other JSON as text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OwnedValue {
    /// No value.
    #[default]
    Null,
    /// A string.
    String(String),
    /// Another JSON value (number, bool, list, object), as JSON text.
    Json(String),
}

impl OwnedValue {
    /// The borrowed view scorers read.
    pub fn view(&self) -> Value<'_> {
        match self {
            OwnedValue::Null => Value::NULL,
            OwnedValue::String(s) => Value::string(s),
            OwnedValue::Json(text) => Value::json(text),
        }
    }
}

impl From<Json> for OwnedValue {
    fn from(value: Json) -> Self {
        match value {
            Json::Null => OwnedValue::Null,
            Json::String(s) => OwnedValue::String(s),
            other => OwnedValue::Json(other.to_string()),
        }
    }
}

impl From<&str> for OwnedValue {
    fn from(value: &str) -> Self {
        OwnedValue::String(value.to_owned())
    }
}

impl From<String> for OwnedValue {
    fn from(value: String) -> Self {
        OwnedValue::String(value)
    }
}

/// One record to score, owned: inputs, outputs and named expectations.
///
/// ```
/// use verdict_scorer::OwnedRecord;
///
/// let record = OwnedRecord::new("What is the capital of France?", "Paris")
///     .with_expectation("expected_response", "Paris");
/// assert_eq!(record.expectations.len(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedRecord {
    /// What the system was given.
    pub inputs: OwnedValue,
    /// What it answered.
    pub outputs: OwnedValue,
    /// Named ground truths.
    pub expectations: Vec<(String, OwnedValue)>,
    /// The trace it came from, for the scorers that read traces.
    pub trace: Option<Arc<OwnedTrace>>,
}

impl OwnedRecord {
    /// A record with inputs and outputs and no expectations.
    pub fn new(inputs: impl Into<OwnedValue>, outputs: impl Into<OwnedValue>) -> Self {
        OwnedRecord {
            inputs: inputs.into(),
            outputs: outputs.into(),
            expectations: Vec::new(),
            trace: None,
        }
    }

    /// Gives it its trace.
    pub fn with_trace(mut self, trace: impl Into<Arc<OwnedTrace>>) -> Self {
        self.trace = Some(trace.into());
        self
    }

    /// Adds an expectation.
    pub fn with_expectation(
        mut self,
        name: impl Into<String>,
        value: impl Into<OwnedValue>,
    ) -> Self {
        self.expectations.push((name.into(), value.into()));
        self
    }
}

/// A trace, owned: its spans, in no particular order.
///
/// ```
/// use verdict_scorer::{OwnedRecord, OwnedSpan, OwnedTrace};
///
/// let root = OwnedSpan {
///     name: "agent".into(),
///     start_time_unix_nano: 1_000,
///     end_time_unix_nano: 5_000,
///     ..OwnedSpan::default()
/// }
/// .with_attribute("gen_ai.usage.output_tokens", serde_json::json!(42));
/// let record = OwnedRecord::new("q", "a").with_trace(OwnedTrace { spans: vec![root] });
/// assert_eq!(record.trace.unwrap().spans[0].attributes[0].1.view().text(), "42");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedTrace {
    /// Its spans.
    pub spans: Vec<OwnedSpan>,
}

/// One span of a trace, owned: what a trace scorer reads of it
/// ([`verdict_plugin::Span`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedSpan {
    /// The trace's id.
    pub trace_id: [u8; 16],
    /// The span's id.
    pub span_id: [u8; 8],
    /// Its parent's id; `None` for a root span.
    pub parent_span_id: Option<[u8; 8]>,
    /// Its name.
    pub name: String,
    /// Its kind, as OTLP numbers them ([`verdict_plugin::trace::kind`]).
    pub kind: u32,
    /// Its status code, likewise ([`verdict_plugin::trace::status`]).
    pub status_code: u32,
    /// Its status message.
    pub status_message: String,
    /// When it started, in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// When it ended, likewise.
    pub end_time_unix_nano: u64,
    /// Its attributes: a string as itself, any other value as JSON.
    pub attributes: Vec<(String, OwnedValue)>,
    /// Its events.
    pub events: Vec<OwnedEvent>,
}

impl OwnedSpan {
    /// Adds an attribute.
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<OwnedValue>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }
}

/// An event of a span, owned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedEvent {
    /// Its name.
    pub name: String,
    /// When it happened, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Its attributes, as a span's.
    pub attributes: Vec<(String, OwnedValue)>,
}

/// The expectations of `records`, all in one array, in order: the first
/// half of laying out borrowed views of many records at once (see
/// [`record_views`]). Nothing is copied.
pub fn expectation_views(records: &[OwnedRecord]) -> Vec<NamedValue<'_>> {
    records
        .iter()
        .flat_map(|record| {
            record
                .expectations
                .iter()
                .map(|(name, value)| NamedValue::new(name, value.view()))
        })
        .collect()
}

/// Borrowed views of `records`, each pointing at its expectations in
/// `named`, which [`expectation_views`] made from the same records.
pub fn record_views<'a>(
    records: &'a [OwnedRecord],
    named: &'a [NamedValue<'a>],
) -> Vec<Record<'a>> {
    let mut start = 0;
    records
        .iter()
        .map(|record| {
            let end = start + record.expectations.len();
            let view = Record::new(
                record.inputs.view(),
                record.outputs.view(),
                &named[start..end],
            );
            start = end;
            view
        })
        .collect()
}
