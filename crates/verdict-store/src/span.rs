//! Finished spans as this crate keeps and writes them: the fields of an
//! OpenTelemetry `SpanData` that matter for reading a trace back, with
//! attributes, events and links as JSON, and the resource of the process
//! that made the span when it is known.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value as OtelValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use serde_json::{Map, Value, json};
use verdict::wire::{format_time, parse_time};

/// A finished span as the local store returns it and as the JSONL sink
/// writes it (in MLflow's shape, [`StoredSpan::to_mlflow_json`]).
///
/// Attribute values become JSON: bools, numbers and strings as they are,
/// arrays as arrays; a float that JSON cannot hold (NaN, infinities) as its
/// text. Events and links are JSON objects (see [`StoredSpan::to_json`]).
///
/// An OpenTelemetry `SpanData` has no resource (an exporter is given its
/// provider's); a span read from elsewhere (an OTLP file of `verdict
/// eval`) keeps the one it came with in [`resource`](Self::resource), so
/// that it is sent on as it came.
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
    /// The attributes of the resource that made it (`service.name`…), as
    /// a JSON object like [`attributes`](Self::attributes); empty when the
    /// span has none of its own, and then goes out with the exporter's.
    pub resource: Map<String, Value>,
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
            resource: Map::new(),
        }
    }
}

impl StoredSpan {
    /// A span of `trace_id` with id `span_id` and `name`: a root span with
    /// no attributes, events or links, internal, unset, started and ended
    /// at the epoch, of no scope or resource, for a reader of another wire
    /// form (an OTLP receiver) to fill in.
    pub fn new(trace_id: TraceId, span_id: SpanId, name: String) -> Self {
        StoredSpan {
            trace_id,
            span_id,
            parent_span_id: None,
            name,
            kind: SpanKind::Internal,
            start_time: SystemTime::UNIX_EPOCH,
            end_time: SystemTime::UNIX_EPOCH,
            status: Status::Unset,
            attributes: Map::new(),
            events: Vec::new(),
            links: Vec::new(),
            scope_name: String::new(),
            scope_version: None,
            resource: Map::new(),
        }
    }

    /// The span with `resource` as its own.
    #[must_use]
    pub fn with_resource(mut self, resource: &Resource) -> Self {
        self.resource = resource
            .iter()
            .map(|(key, value)| (key.as_str().to_owned(), value_json(value)))
            .collect();
        self
    }

    /// Its own resource, `None` when it has none (see
    /// [`resource`](Self::resource)). Attributes come back as
    /// [`to_span_data`](Self::to_span_data) says.
    pub fn own_resource(&self) -> Option<Resource> {
        (!self.resource.is_empty()).then(|| {
            Resource::builder_empty()
                .with_attributes(attributes_otel(&self.resource))
                .build()
        })
    }
}

impl StoredSpan {
    /// The span as one JSON object as people read it (`verdict show
    /// --json`): ids in hex as OpenTelemetry prints them, times in RFC
    /// 3339. (The JSONL sink and the spool write MLflow's shape instead,
    /// [`to_mlflow_json`](Self::to_mlflow_json).)
    ///
    /// ```json
    /// {"type": "span", "trace_id": "<32 hex>", "span_id": "<16 hex>",
    ///  "parent_span_id": "<16 hex>" | null, "name": "...", "kind": "internal",
    ///  "start_time": "<RFC 3339>", "end_time": "<RFC 3339>",
    ///  "status": {"code": "unset" | "ok" | "error", "message": "..."},
    ///  "attributes": {...}, "events": [...], "links": [...],
    ///  "scope": {"name": "...", "version": "..."}, "resource": {...}}
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
            "resource": self.resource,
        })
    }
}

impl StoredSpan {
    /// The span as the OpenTelemetry SDK's `SpanData` again, so that a
    /// stored trace can be replayed through any `SpanSink` (`verdict-export`)
    /// or OpenTelemetry exporter (as `verdict push` does).
    ///
    /// Attributes come back from their JSON: bools, strings, integers that
    /// fit an `i64` and other numbers as doubles; arrays of one such type as
    /// arrays; anything else (mixed arrays, objects, `null`) as its JSON
    /// text. The span context is sampled and local; `SpanData` has no
    /// resource (see [`own_resource`](Self::own_resource)). Events and
    /// links that are not in the
    /// shape [`to_json`](Self::to_json) writes give an error naming what is
    /// wrong, never a silently shorter span.
    pub fn to_span_data(&self) -> verdict::Result<SpanData> {
        let scope = InstrumentationScope::builder(self.scope_name.clone());
        let scope = match &self.scope_version {
            Some(version) => scope.with_version(version.clone()),
            None => scope,
        };
        // Both are non-exhaustive: filled through their public fields.
        let mut events = SpanEvents::default();
        events.events = self
            .events
            .iter()
            .map(|event| self.event(event))
            .collect::<verdict::Result<_>>()?;
        let mut links = SpanLinks::default();
        links.links = self
            .links
            .iter()
            .map(|link| self.link(link))
            .collect::<verdict::Result<_>>()?;
        Ok(SpanData {
            span_context: sampled_context(self.trace_id, self.span_id),
            parent_span_id: self.parent_span_id.unwrap_or(SpanId::INVALID),
            parent_span_is_remote: false,
            span_kind: self.kind.clone(),
            name: Cow::Owned(self.name.clone()),
            start_time: self.start_time,
            end_time: self.end_time,
            attributes: attributes_otel(&self.attributes),
            dropped_attributes_count: 0,
            events,
            links,
            status: self.status.clone(),
            instrumentation_scope: scope.build(),
        })
    }

    /// An error about a part of this span that is not as `to_json` writes it.
    fn invalid(&self, what: &str, reason: impl Into<String>) -> verdict::Error {
        verdict::Error::InvalidValue {
            field: format!("{what} of span {:016x} ({})", self.span_id, self.name),
            reason: reason.into(),
        }
    }

    fn event(&self, event: &Value) -> verdict::Result<Event> {
        let name = event["name"]
            .as_str()
            .ok_or_else(|| self.invalid("an event", "it has no \"name\" string"))?;
        let time = event["time"]
            .as_str()
            .ok_or_else(|| self.invalid("an event", "it has no \"time\" string"))?;
        let time = parse_time("span event time", time)?;
        let attributes = match &event["attributes"] {
            Value::Object(map) => attributes_otel(map),
            Value::Null => Vec::new(),
            _ => return Err(self.invalid("an event", "its attributes are not a JSON object")),
        };
        Ok(Event::new(name.to_owned(), time, attributes, 0))
    }

    fn link(&self, link: &Value) -> verdict::Result<Link> {
        let id = |key: &str| {
            link[key]
                .as_str()
                .ok_or_else(|| self.invalid("a link", format!("it has no \"{key}\" string")))
        };
        let trace_id = verdict::parse_trace_id(id("trace_id")?)?;
        let span_id = verdict::parse_span_id(id("span_id")?)?;
        let attributes = match &link["attributes"] {
            Value::Object(map) => attributes_otel(map),
            Value::Null => Vec::new(),
            _ => return Err(self.invalid("a link", "its attributes are not a JSON object")),
        };
        Ok(Link::new(sampled_context(trace_id, span_id), attributes, 0))
    }
}

fn sampled_context(trace_id: TraceId, span_id: SpanId) -> SpanContext {
    SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    )
}

fn attributes_otel(attributes: &Map<String, Value>) -> Vec<KeyValue> {
    attributes
        .iter()
        .map(|(key, value)| KeyValue::new(key.clone(), otel_value(value)))
        .collect()
}

/// The OpenTelemetry value an attribute's JSON came from; the inverse of
/// `value_json` for every value it writes.
fn otel_value(value: &Value) -> OtelValue {
    match value {
        Value::Bool(b) => OtelValue::Bool(*b),
        Value::Number(n) => n.as_i64().map_or_else(
            || OtelValue::F64(n.as_f64().unwrap_or(f64::NAN)),
            OtelValue::I64,
        ),
        Value::String(s) => OtelValue::String(s.clone().into()),
        Value::Array(items) => otel_array(items).map_or_else(
            || OtelValue::String(value.to_string().into()),
            OtelValue::Array,
        ),
        Value::Null | Value::Object(_) => OtelValue::String(value.to_string().into()),
    }
}

/// An array whose items all have one type, as OpenTelemetry arrays must.
fn otel_array(items: &[Value]) -> Option<Array> {
    let all = |f: fn(&Value) -> bool| items.iter().all(f);
    Some(if all(Value::is_boolean) {
        Array::Bool(items.iter().filter_map(Value::as_bool).collect())
    } else if all(|v| v.is_i64()) {
        Array::I64(items.iter().filter_map(Value::as_i64).collect())
    } else if all(Value::is_number) {
        Array::F64(items.iter().filter_map(Value::as_f64).collect())
    } else if all(Value::is_string) {
        Array::String(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| StringValue::from(s.to_owned()))
                .collect(),
        )
    } else {
        return None;
    })
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
#[cfg(feature = "sqlite")]
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
#[cfg(feature = "sqlite")]
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

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Span as _, SpanKind, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    use super::*;

    /// A span with every kind of field, made by the real SDK.
    fn finished_span() -> SpanData {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = provider.tracer_with_scope(
            InstrumentationScope::builder("app")
                .with_version("1.2")
                .build(),
        );
        let linked = tracer.start("linked").span_context().clone();
        let mut span = tracer
            .span_builder("answer")
            .with_kind(SpanKind::Server)
            .with_links(vec![Link::with_context(linked)])
            .start(&tracer);
        span.set_attributes([
            KeyValue::new("flag", true),
            KeyValue::new("count", 3_i64),
            KeyValue::new("score", 0.25),
            KeyValue::new("text", "Paris"),
            KeyValue::new(
                "tags",
                OtelValue::Array(vec![StringValue::from("a")].into()),
            ),
            KeyValue::new("sizes", OtelValue::Array(vec![1_i64, 2].into())),
        ]);
        span.add_event("retrieved", vec![KeyValue::new("docs", 2_i64)]);
        span.set_status(Status::error("timed out"));
        span.end();
        provider.force_flush().unwrap();
        exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .find(|s| s.name == "answer")
            .unwrap()
    }

    #[test]
    fn a_stored_span_becomes_the_same_span_data_again() {
        let original = finished_span();
        let stored = StoredSpan::from(&original);
        let back = stored.to_span_data().unwrap();
        assert_eq!(StoredSpan::from(&back), stored);
        assert_eq!(
            back.span_context.trace_id(),
            original.span_context.trace_id()
        );
        assert_eq!(back.attributes.len(), original.attributes.len());
        for kv in &original.attributes {
            assert!(back.attributes.contains(kv), "{kv:?} lost");
        }
        assert_eq!(back.events.len(), 1);
        assert_eq!(back.events[0].timestamp, original.events[0].timestamp);
        assert_eq!(back.links.len(), 1);
        assert_eq!(back.instrumentation_scope.version(), Some("1.2"));
    }

    #[test]
    fn a_damaged_event_is_an_error_not_a_shorter_span() {
        let mut stored = StoredSpan::from(&finished_span());
        stored.events = vec![json!({"name": "retrieved", "time": "yesterday"})];
        let error = stored.to_span_data().unwrap_err().to_string();
        assert!(error.contains("yesterday"), "{error}");
        stored.events = vec![json!({"time": "2026-11-27T09:14:35.541Z"})];
        let error = stored.to_span_data().unwrap_err().to_string();
        assert!(
            error.contains("an event of span") && error.contains("name"),
            "{error}"
        );
    }
}
