//! The trace a record brings (an OTLP dataset's spans, or the MLflow
//! trace of a record in MLflow's evaluation shape), as trace scorers read
//! it.
//!
//! A record's spans are kept in the store's shape, to store with it; the
//! view trace scorers read ([`owned_trace`]) is made from them only for a
//! run with such a scorer, so that other runs pay nothing for it. An
//! MLflow trace is read with the store's own reader of MLflow's span
//! dictionaries, the one the spool and `verdict push` use.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status};
use serde_json::Value;
use verdict_scorer::{OwnedEvent, OwnedSpan, OwnedTrace, OwnedValue};
use verdict_store::StoredSpan;

use super::{DatasetRecord, Entry, invalid};

/// `record` with the spans of `trace`, MLflow's `Trace.to_dict()` (or its
/// JSON text), and the trace's id and root span when the record names
/// none; invalid when the trace cannot be read, or is of another trace
/// than the record names.
pub(super) fn with_mlflow_trace(mut record: DatasetRecord, trace: &Value) -> Entry {
    let line = record.line;
    let spans = match mlflow_trace_spans(trace) {
        Ok(spans) => spans,
        Err(reason) => return invalid(line, format!("trace: {reason}")),
    };
    let Some(first) = spans.first() else {
        return Entry::Record(record);
    };
    let trace_id = first.trace_id;
    if let Some(other) = spans.iter().find(|s| s.trace_id != trace_id) {
        return invalid(
            line,
            format!(
                "trace: its spans are of two traces, {trace_id:032x} and {:032x}",
                other.trace_id
            ),
        );
    }
    match record.trace_id {
        Some(named) if named != trace_id => {
            return invalid(
                line,
                format!(
                    "trace: its spans are of trace {trace_id:032x}, and the record names \
                     {named:032x}"
                ),
            );
        }
        Some(_) => {}
        None => {
            record.trace_id = Some(trace_id);
            record.span_id = spans
                .iter()
                .find(|s| s.parent_span_id.is_none())
                .map(|s| s.span_id);
        }
    }
    record.spans = spans;
    Entry::Record(record)
}

/// The spans of an MLflow trace as `mlflow.entities.Trace.to_dict()`
/// writes it, `{"info": {...}, "data": {"spans": [...]}}`, or its JSON
/// text (as a DataFrame column holds it); each span as
/// `Span.to_dict()` writes it.
fn mlflow_trace_spans(trace: &Value) -> Result<Vec<StoredSpan>, String> {
    let parsed;
    let trace = match trace {
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text)
                .map_err(|e| format!("its text is not JSON ({e})"))?;
            &parsed
        }
        other => other,
    };
    let spans = trace
        .pointer("/data/spans")
        .and_then(Value::as_array)
        .ok_or("it is not an MLflow trace: it has no \"data\": {\"spans\": [...]}")?;
    spans
        .iter()
        .enumerate()
        .map(|(i, span)| StoredSpan::from_mlflow_json(span).map_err(|e| format!("span {i}: {e}")))
        .collect()
}

/// The trace of `spans`, for trace scorers (whose
/// [`needs_trace`](verdict_scorer::ScorerInfo::needs_trace) is set).
pub fn owned_trace(spans: &[StoredSpan]) -> OwnedTrace {
    OwnedTrace {
        spans: spans.iter().map(owned_span).collect(),
    }
}

fn owned_span(span: &StoredSpan) -> OwnedSpan {
    let (status_code, status_message) = match &span.status {
        Status::Unset => (0, String::new()),
        Status::Ok => (1, String::new()),
        Status::Error { description } => (2, description.to_string()),
    };
    OwnedSpan {
        trace_id: span.trace_id.to_bytes(),
        span_id: span.span_id.to_bytes(),
        parent_span_id: span.parent_span_id.map(|id| id.to_bytes()),
        name: span.name.clone(),
        kind: match span.kind {
            SpanKind::Internal => 1,
            SpanKind::Server => 2,
            SpanKind::Client => 3,
            SpanKind::Producer => 4,
            SpanKind::Consumer => 5,
        },
        status_code,
        status_message,
        start_time_unix_nano: nanos(span.start_time),
        end_time_unix_nano: nanos(span.end_time),
        attributes: attributes(&span.attributes),
        events: span
            .events
            .iter()
            .map(|event| OwnedEvent {
                name: event["name"].as_str().unwrap_or_default().to_owned(),
                // The store writes an event's time in RFC 3339.
                time_unix_nano: event["time"]
                    .as_str()
                    .and_then(|t| verdict::wire::parse_time("time", t).ok())
                    .map_or(0, nanos),
                attributes: event["attributes"]
                    .as_object()
                    .map(attributes)
                    .unwrap_or_default(),
            })
            .collect(),
    }
}

/// Attributes as scorers read them: a string as itself, any other value
/// as its JSON text.
fn attributes(map: &serde_json::Map<String, Value>) -> Vec<(String, OwnedValue)> {
    map.iter()
        .map(|(key, value)| (key.clone(), OwnedValue::from(value.clone())))
        .collect()
}

/// Nanoseconds since the Unix epoch (0 before it).
fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
