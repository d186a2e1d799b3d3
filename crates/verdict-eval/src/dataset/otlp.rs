//! OTLP JSON traces as records: one per root span, its inputs and outputs
//! from its attributes (read by `root_span`, as `verdict serve` reads
//! them),
//! and every span of its trace kept to store with it, each with the
//! attributes of the resource it came under (`service.name`…), so that a
//! re-export says who made it.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use serde_json::{Map, Value};
use verdict_store::StoredSpan;

use super::{DatasetRecord, Entry, invalid};

/// The records of one OTLP JSON request: one per root span.
pub(super) fn otlp_records(line: usize, document: &Value) -> Vec<Entry> {
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
    let resources: Vec<Map<String, Value>> = resource_spans
        .iter()
        .map(|resource| attributes_json(resource.pointer("/resource/attributes")))
        .collect();
    // Every span of the request goes to the store with its trace's record,
    // so that `verdict show` and `verdict push` have the trace, not only
    // the assessments on it.
    let mut spans: HashMap<TraceId, Vec<StoredSpan>> = HashMap::new();
    for (r, _, scope) in scopes() {
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
                let mut stored = StoredSpan::from(&data);
                stored.resource = resources[r].clone();
                spans.entry(stored.trace_id).or_default().push(stored);
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
    let attributes = attributes_json(span.get("attributes"));
    let name = span.get("name").and_then(Value::as_str).unwrap_or("");
    let record = crate::root_span::record(name, &attributes)?;
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

/// OTLP JSON attributes (a resource's) as a JSON object of plain values,
/// arrays and key-value lists kept as arrays and objects.
fn attributes_json(attributes: Option<&Value>) -> Map<String, Value> {
    attributes
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|attribute| {
            Some((
                attribute.get("key")?.as_str()?.to_owned(),
                any_value(attribute.get("value")?)?,
            ))
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
