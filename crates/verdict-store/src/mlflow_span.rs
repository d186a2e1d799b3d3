//! A span as MLflow writes one: the dictionary of
//! `mlflow.entities.Span.to_dict()` (MLflow 3.x), which
//! `mlflow.entities.Span.from_dict` reads back, plus the fields of a span
//! MLflow has no place for. The JSONL sink writes spans this way, and the
//! spool keeps them this way.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use serde_json::{Map, Value, json};
use verdict::mlflow_trace_id;
use verdict::wire::{format_time, parse_time};

use crate::span::StoredSpan;

/// The span attribute MLflow's `Span.from_dict` needs: the trace's MLflow
/// id, as MLflow stores every attribute it sets, JSON text.
pub(crate) const REQUEST_ID_ATTRIBUTE: &str = "mlflow.traceRequestId";

impl StoredSpan {
    /// The span as one JSON object in the shape of MLflow's
    /// `Span.to_dict()`, so that `mlflow.entities.Span.from_dict` reads it:
    ///
    /// ```json
    /// {"trace_id": "<base64 of the 16 bytes>", "span_id": "<base64 of the 8 bytes>",
    ///  "parent_span_id": "<base64>" | null, "name": "...",
    ///  "start_time_unix_nano": 1764236075541000000, "end_time_unix_nano": ...,
    ///  "events": [{"name": "...", "time_unix_nano": ..., "attributes": {...}}],
    ///  "status": {"code": "STATUS_CODE_UNSET" | "STATUS_CODE_OK" | "STATUS_CODE_ERROR", "message": "..."},
    ///  "attributes": {..., "mlflow.traceRequestId": "\"tr-<32 hex>\""},
    ///  "links": [{"trace_id": "tr-<32 hex>", "span_id": "<16 hex>", "attributes": {...} | null}],
    ///  "type": "span", "kind": "SPAN_KIND_INTERNAL",
    ///  "scope": {"name": "...", "version": "..." | null}, "resource": {...}}
    /// ```
    ///
    /// - **As MLflow writes it**: ids base64 (`parent_span_id` null for a
    ///   root), times integer nanoseconds, status codes OTLP's names, link
    ///   trace ids MLflow's `tr-` ids, and every attribute value JSON text,
    ///   as MLflow keeps the attributes of a span it received over OTLP
    ///   (`"gen_ai.usage.input_tokens": "42"`, `"user.id": "\"123\""`), so
    ///   that `Span.get_attribute` gives back the value and its type.
    ///   MLflow's own attributes (`mlflow.*`: `mlflow.spanInputs`…) are
    ///   JSON text already, by MLflow's convention, and are written as
    ///   they are.
    /// - `mlflow.traceRequestId`, which `Span.from_dict` requires, is added
    ///   when the span has none (or one Python takes for empty), as MLflow
    ///   sets it: the trace's `tr-` id as JSON text.
    /// - **Verdict's own**, which MLflow ignores: `type` (`"span"`, which
    ///   tells span lines from assessment lines), `kind` (OTLP's name),
    ///   `scope` (the instrumentation scope) and `resource` (its own
    ///   resource's attributes, `{}` when it has none).
    ///
    /// An event whose time is not as the store writes it is written as it
    /// is, and reading it back fails as [`to_span_data`](Self::to_span_data)
    /// would.
    pub fn to_mlflow_json(&self) -> Value {
        let request_id = Value::String(Value::String(mlflow_trace_id(self.trace_id)).to_string());
        let mut attributes: Map<String, Value> = self
            .attributes
            .iter()
            .map(|(key, value)| (key.clone(), attribute_text(key, value)))
            .collect();
        if attributes
            .get(REQUEST_ID_ATTRIBUTE)
            .is_none_or(python_falsy)
        {
            attributes.insert(REQUEST_ID_ATTRIBUTE.to_owned(), request_id);
        }
        let (code, message) = match &self.status {
            Status::Unset => ("STATUS_CODE_UNSET", ""),
            Status::Ok => ("STATUS_CODE_OK", ""),
            Status::Error { description } => ("STATUS_CODE_ERROR", description.as_ref()),
        };
        json!({
            "trace_id": BASE64.encode(self.trace_id.to_bytes()),
            "span_id": BASE64.encode(self.span_id.to_bytes()),
            "parent_span_id": self.parent_span_id.map(|id| BASE64.encode(id.to_bytes())),
            "name": self.name,
            "start_time_unix_nano": nanos(self.start_time),
            "end_time_unix_nano": nanos(self.end_time),
            "events": self.events.iter().map(mlflow_event).collect::<Vec<_>>(),
            "status": {"code": code, "message": message},
            "attributes": attributes,
            "links": self.links.iter().map(mlflow_link).collect::<Vec<_>>(),
            "type": "span",
            "kind": kind_name(&self.kind),
            "scope": {"name": self.scope_name, "version": self.scope_version},
            "resource": self.resource,
        })
    }

    /// Reads back a span written by [`to_mlflow_json`](Self::to_mlflow_json),
    /// or by MLflow's own `Span.to_dict()` (then the kind is internal, the
    /// scope unnamed and the resource none: MLflow does not write them);
    /// the error says which field is wrong. `mlflow.traceRequestId` is
    /// dropped when it is the one `to_mlflow_json` adds.
    pub fn from_mlflow_json(json: &Value) -> Result<StoredSpan, String> {
        let text = |name: &str| {
            json.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("a span line without {name}"))
        };
        let bytes = |name: &str, hex: &str| -> Result<Vec<u8>, String> {
            BASE64
                .decode(hex)
                .map_err(|_| format!("a span line whose {name} is not base64"))
        };
        let trace_id = match text("trace_id")? {
            // MLflow 3.5 wrote its own `tr-` id here.
            id if id.starts_with(verdict::MLFLOW_TRACE_PREFIX) => {
                verdict::parse_trace_id(id).map_err(|e| e.to_string())?
            }
            id => TraceId::from_bytes(
                bytes("trace_id", id)?
                    .try_into()
                    .map_err(|_| "a span line whose trace_id is not 16 bytes".to_owned())?,
            ),
        };
        let span_id = |name: &str, id: &str| -> Result<SpanId, String> {
            Ok(SpanId::from_bytes(bytes(name, id)?.try_into().map_err(
                |_| format!("a span line whose {name} is not 8 bytes"),
            )?))
        };
        let parent_span_id = match json.get("parent_span_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) if id.is_empty() => None,
            Some(Value::String(id)) => Some(span_id("parent_span_id", id)?),
            Some(_) => return Err("a span line whose parent_span_id is not a string".into()),
        };
        let time = |name: &str| -> Result<SystemTime, String> {
            let n = match json.get(name) {
                Some(Value::Number(n)) => n.as_u64(),
                // OTLP's JSON writes 64-bit integers as strings.
                Some(Value::String(s)) => s.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| format!("a span line without a {name} in nanoseconds"))?;
            Ok(UNIX_EPOCH + Duration::from_nanos(n))
        };
        let status = &json["status"];
        let message = status["message"].as_str().unwrap_or_default();
        let status = match status["code"].as_str() {
            Some("STATUS_CODE_OK" | "OK") => Status::Ok,
            Some("STATUS_CODE_ERROR" | "ERROR") => Status::Error {
                description: Cow::Owned(message.to_owned()),
            },
            Some("STATUS_CODE_UNSET" | "UNSET") | None => Status::Unset,
            Some(other) => return Err(format!("a span line with status code {other:?}")),
        };
        let object = |name: &str| match json.get(name) {
            Some(Value::Object(map)) => Ok(map.clone()),
            None | Some(Value::Null) => Ok(Map::new()),
            Some(_) => Err(format!("a span line whose {name} is not an object")),
        };
        let list = |name: &str| match json.get(name) {
            Some(Value::Array(items)) => Ok(items.as_slice()),
            None | Some(Value::Null) => Ok(&[][..]),
            Some(_) => Err(format!("a span line whose {name} is not a list")),
        };
        let kind = match json.get("kind").and_then(Value::as_str) {
            None => SpanKind::Internal,
            Some(name) => parse_kind_name(name)
                .ok_or_else(|| format!("a span line with span kind {name:?}"))?,
        };
        let mut attributes: Map<String, Value> = object("attributes")?
            .into_iter()
            .map(|(key, value)| {
                let value = attribute_value(&key, value);
                (key, value)
            })
            .collect();
        let added = Value::String(Value::String(mlflow_trace_id(trace_id)).to_string());
        if attributes.get(REQUEST_ID_ATTRIBUTE) == Some(&added) {
            attributes.remove(REQUEST_ID_ATTRIBUTE);
        }
        Ok(StoredSpan {
            trace_id,
            span_id: span_id("span_id", text("span_id")?)?,
            parent_span_id,
            name: text("name")?.to_owned(),
            kind,
            start_time: time("start_time_unix_nano")?,
            end_time: time("end_time_unix_nano")?,
            status,
            attributes,
            events: list("events")?.iter().map(stored_event).collect(),
            links: list("links")?.iter().map(stored_link).collect(),
            scope_name: json["scope"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            scope_version: json["scope"]["version"].as_str().map(str::to_owned),
            resource: object("resource")?,
        })
    }
}

/// Whether an attribute is MLflow's own, whose value is JSON text by
/// MLflow's convention.
fn is_mlflow_attribute(key: &str) -> bool {
    key.starts_with("mlflow.")
}

/// An attribute's value as MLflow keeps it: its JSON text (MLflow's own
/// attributes, JSON text already, as they are).
fn attribute_text(key: &str, value: &Value) -> Value {
    if is_mlflow_attribute(key) {
        value.clone()
    } else {
        Value::String(value.to_string())
    }
}

/// An attribute's value from MLflow's JSON text, as MLflow's
/// `Span.get_attribute` reads it: the JSON the text holds, or the value
/// as it is when it is not JSON text (MLflow's own attributes stay text).
fn attribute_value(key: &str, value: Value) -> Value {
    match value {
        Value::String(text) if !is_mlflow_attribute(key) => {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        value => value,
    }
}

/// Whether Python takes a JSON value for false (`if not value`).
fn python_falsy(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
    }
}

/// Nanoseconds since the Unix epoch (0 before it).
fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A stored event (`{"name", "time", "attributes"}`) as MLflow writes one:
/// `{"name", "time_unix_nano", "attributes"}`; as it is when its time
/// cannot be read.
fn mlflow_event(event: &Value) -> Value {
    let time = event["time"]
        .as_str()
        .and_then(|time| parse_time("span event time", time).ok());
    match time {
        Some(time) => json!({
            "name": event["name"],
            "time_unix_nano": nanos(time),
            "attributes": match &event["attributes"] {
                Value::Null => Value::Object(Map::new()),
                attributes => attributes.clone(),
            },
        }),
        None => event.clone(),
    }
}

/// An event as MLflow writes one, as the store keeps it; as it is when
/// it is not in MLflow's shape.
fn stored_event(event: &Value) -> Value {
    match event["time_unix_nano"].as_u64() {
        Some(n) => json!({
            "name": event["name"],
            "time": format_time(UNIX_EPOCH + Duration::from_nanos(n)),
            "attributes": event["attributes"],
        }),
        None => event.clone(),
    }
}

/// A stored link (`{"trace_id": "<32 hex>", "span_id", "attributes"}`) as
/// MLflow's `Link.to_dict()` writes one: its trace id MLflow's `tr-` id,
/// no attributes as null.
fn mlflow_link(link: &Value) -> Value {
    let mut link = link.clone();
    if let Some(trace_id) = link["trace_id"].as_str()
        && !trace_id.starts_with(verdict::MLFLOW_TRACE_PREFIX)
    {
        link["trace_id"] = format!("{}{trace_id}", verdict::MLFLOW_TRACE_PREFIX).into();
    }
    if link["attributes"].as_object().is_some_and(Map::is_empty) {
        link["attributes"] = Value::Null;
    }
    link
}

/// A link as MLflow writes one, as the store keeps it.
fn stored_link(link: &Value) -> Value {
    let mut link = link.clone();
    if let Some(trace_id) = link["trace_id"]
        .as_str()
        .and_then(|id| id.strip_prefix(verdict::MLFLOW_TRACE_PREFIX))
    {
        link["trace_id"] = trace_id.to_owned().into();
    }
    if link["attributes"].is_null() {
        link["attributes"] = Value::Object(Map::new());
    }
    link
}

/// A span kind as OTLP names it.
fn kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
    }
}

/// The span kind OTLP names `name`.
fn parse_kind_name(name: &str) -> Option<SpanKind> {
    Some(match name {
        "SPAN_KIND_CLIENT" => SpanKind::Client,
        "SPAN_KIND_SERVER" => SpanKind::Server,
        "SPAN_KIND_PRODUCER" => SpanKind::Producer,
        "SPAN_KIND_CONSUMER" => SpanKind::Consumer,
        "SPAN_KIND_INTERNAL" | "SPAN_KIND_UNSPECIFIED" => SpanKind::Internal,
        _ => return None,
    })
}
