//! Finished spans as this crate keeps and writes them: the fields of an
//! OpenTelemetry `SpanData` that matter for reading a trace back, with
//! attributes, events and links as JSON.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry::{Array, KeyValue, Value as OtelValue};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Map, Value, json};
use verdict::wire::format_time;

/// A finished span as the local store returns it and as the JSONL sink
/// writes it.
///
/// Attribute values become JSON: bools, numbers and strings as they are,
/// arrays as arrays; a float that JSON cannot hold (NaN, infinities) as its
/// text. Events and links are JSON objects (see [`StoredSpan::to_json`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StoredSpan {
    /// The span's trace.
    pub trace_id: TraceId,
    /// The span.
    pub span_id: SpanId,
    /// Its parent, absent for a root span.
    pub parent_span_id: Option<SpanId>,
    /// Its name.
    pub name: String,
    /// Client, server, producer, consumer or internal.
    pub kind: SpanKind,
    /// When it started.
    pub start_time: SystemTime,
    /// When it ended.
    pub end_time: SystemTime,
    /// Unset, ok, or an error with its description.
    pub status: Status,
    /// Its attributes, as a JSON object.
    pub attributes: Map<String, Value>,
    /// Its events: `{"name", "time", "attributes"}` objects.
    pub events: Vec<Value>,
    /// Its links: `{"trace_id", "span_id", "attributes"}` objects.
    pub links: Vec<Value>,
    /// The name of the instrumentation scope (the tracer) that made it.
    pub scope_name: String,
    /// The version of that scope, if it has one.
    pub scope_version: Option<String>,
}

impl From<&SpanData> for StoredSpan {
    fn from(span: &SpanData) -> Self {
        let scope = &span.instrumentation_scope;
        StoredSpan {
            trace_id: span.span_context.trace_id(),
            span_id: span.span_context.span_id(),
            parent_span_id: (span.parent_span_id != SpanId::INVALID).then_some(span.parent_span_id),
            name: span.name.to_string(),
            kind: span.span_kind.clone(),
            start_time: span.start_time,
            end_time: span.end_time,
            status: span.status.clone(),
            attributes: attributes_json(&span.attributes),
            events: span
                .events
                .iter()
                .map(|event| {
                    json!({
                        "name": event.name,
                        "time": format_time(event.timestamp),
                        "attributes": attributes_json(&event.attributes),
                    })
                })
                .collect(),
            links: span
                .links
                .iter()
                .map(|link| {
                    json!({
                        "trace_id": format!("{:032x}", link.span_context.trace_id()),
                        "span_id": format!("{:016x}", link.span_context.span_id()),
                        "attributes": attributes_json(&link.attributes),
                    })
                })
                .collect(),
            scope_name: scope.name().to_owned(),
            scope_version: scope.version().map(str::to_owned),
        }
    }
}

impl StoredSpan {
    /// The span as one JSON object, as the JSONL sink writes it:
    ///
    /// ```json
    /// {"type": "span", "trace_id": "<32 hex>", "span_id": "<16 hex>",
    ///  "parent_span_id": "<16 hex>" | null, "name": "...", "kind": "internal",
    ///  "start_time": "<RFC 3339>", "end_time": "<RFC 3339>",
    ///  "status": {"code": "unset" | "ok" | "error", "message": "..."},
    ///  "attributes": {...}, "events": [...], "links": [...],
    ///  "scope": {"name": "...", "version": "..."}}
    /// ```
    ///
    /// Ids are OpenTelemetry's lowercase hex, without MLflow's `tr-`;
    /// times keep their nanoseconds.
    pub fn to_json(&self) -> Value {
        let (code, message) = status_parts(&self.status);
        let mut status = Map::new();
        status.insert("code".into(), code.into());
        if let Some(message) = message {
            status.insert("message".into(), message.into());
        }
        json!({
            "type": "span",
            "trace_id": format!("{:032x}", self.trace_id),
            "span_id": format!("{:016x}", self.span_id),
            "parent_span_id": self.parent_span_id.map(|id| format!("{id:016x}")),
            "name": self.name,
            "kind": kind_str(&self.kind),
            "start_time": format_time(self.start_time),
            "end_time": format_time(self.end_time),
            "status": status,
            "attributes": self.attributes,
            "events": self.events,
            "links": self.links,
            "scope": {"name": self.scope_name, "version": self.scope_version},
        })
    }
}

/// The name a span kind is stored and written under.
pub(crate) fn kind_str(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Client => "client",
        SpanKind::Server => "server",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    }
}

/// The span kind stored as `name`.
pub(crate) fn parse_kind(name: &str) -> Option<SpanKind> {
    Some(match name {
        "client" => SpanKind::Client,
        "server" => SpanKind::Server,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => return None,
    })
}

/// A status as its code (`unset`, `ok`, `error`) and description.
pub(crate) fn status_parts(status: &Status) -> (&'static str, Option<&str>) {
    match status {
        Status::Unset => ("unset", None),
        Status::Ok => ("ok", None),
        Status::Error { description } => ("error", Some(description)),
    }
}

/// The status stored as `code` and `message`.
pub(crate) fn parse_status(code: &str, message: Option<String>) -> Option<Status> {
    Some(match code {
        "unset" => Status::Unset,
        "ok" => Status::Ok,
        "error" => Status::Error {
            description: Cow::Owned(message.unwrap_or_default()),
        },
        _ => return None,
    })
}

fn attributes_json(attributes: &[KeyValue]) -> Map<String, Value> {
    attributes
        .iter()
        .map(|kv| (kv.key.as_str().to_owned(), value_json(&kv.value)))
        .collect()
}

fn float_json(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

fn value_json(value: &OtelValue) -> Value {
    match value {
        OtelValue::Bool(b) => Value::Bool(*b),
        OtelValue::I64(i) => Value::from(*i),
        OtelValue::F64(f) => float_json(*f),
        OtelValue::String(s) => Value::String(s.as_str().to_owned()),
        OtelValue::Array(Array::Bool(items)) => items.iter().copied().map(Value::Bool).collect(),
        OtelValue::Array(Array::I64(items)) => items.iter().copied().map(Value::from).collect(),
        OtelValue::Array(Array::F64(items)) => items.iter().copied().map(float_json).collect(),
        OtelValue::Array(Array::String(items)) => items
            .iter()
            .map(|s| Value::String(s.as_str().to_owned()))
            .collect(),
        // Kinds added to OpenTelemetry later are kept as their text.
        other => Value::String(other.to_string()),
    }
}
