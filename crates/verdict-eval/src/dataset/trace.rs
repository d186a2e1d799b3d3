//! The trace a record brings (an OTLP dataset's spans, or a JSONL
//! record's MLflow trace), as trace scorers read it.
//!
//! Made only for a run with a scorer that reads traces
//! ([`owned_trace`] is called then), so that other runs pay nothing for
//! it: the spans are kept for the store either way, in the store's shape.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status};
use serde_json::Value;
use verdict_scorer::{OwnedEvent, OwnedSpan, OwnedTrace, OwnedValue};
use verdict_store::StoredSpan;

/// The trace of `spans`, for trace scorers.
pub(crate) fn owned_trace(spans: &[StoredSpan]) -> OwnedTrace {
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
