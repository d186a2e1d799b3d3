//! OTLP/HTTP trace requests in, responses out: a request body (protobuf or
//! JSON, gzip-compressed or not) decoded into the spans the store keeps,
//! and the answers a collector's exporter reads.
//!
//! A request is taken whole or refused whole: a body that does not decode,
//! or a span in it whose ids are not valid (not 16 and 8 bytes, or all
//! zero), refuses the request with 400 and the reason, so that nothing of
//! it is half-held. The alternative, keeping the valid spans and counting
//! the others in a partial success, would leave traces with holes that a
//! scorer of the trace cannot tell from traces that had none.

use std::io::Read as _;
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use prost::Message as _;
use serde_json::{Map, Value, json};
use verdict_store::StoredSpan;

/// How a body is written, from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl Encoding {
    /// The encoding a `Content-Type` names; `None` for another.
    pub fn of(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media.to_ascii_lowercase().as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    /// The `Content-Type` of an answer in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Why a request was refused: the message of a 400 answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BadRequest(pub(crate) String);

/// Undoes a `Content-Encoding` (none, `identity` or `gzip`), reading at
/// most `limit` bytes of the result: a small body that inflates past it
/// is refused, as a large one is.
pub(crate) fn decompress(
    body: bytes::Bytes,
    content_encoding: Option<&str>,
    limit: usize,
) -> Result<bytes::Bytes, BadRequest> {
    match content_encoding.map(str::trim) {
        None | Some("") | Some("identity") => Ok(body),
        Some(gzip) if gzip.eq_ignore_ascii_case("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| BadRequest(format!("the gzip body does not decompress: {e}")))?;
            if out.len() > limit {
                return Err(BadRequest(format!(
                    "the gzip body decompresses to more than {limit} bytes, the largest request \
                     taken"
                )));
            }
            Ok(out.into())
        }
        Some(other) => Err(BadRequest(format!(
            "Content-Encoding {other:?} is not taken: send gzip, or no encoding"
        ))),
    }
}

/// The request a body holds.
pub(crate) fn decode(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportTraceServiceRequest, BadRequest> {
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body)
            .map_err(|e| BadRequest(format!("not an OTLP protobuf traces request: {e}"))),
        Encoding::Json => serde_json::from_slice(body)
            .map_err(|e| BadRequest(format!("not an OTLP JSON traces request: {e}"))),
    }
}

/// The spans of a request, as the store keeps them, each with its
/// resource's attributes; refused whole if a span's ids are not valid.
pub(crate) fn spans(request: ExportTraceServiceRequest) -> Result<Vec<StoredSpan>, BadRequest> {
    let mut out = Vec::new();
    for (r, resource_spans) in request.resource_spans.into_iter().enumerate() {
        let resource = resource_spans
            .resource
            .map(|resource| attributes(resource.attributes))
            .unwrap_or_default();
        for (s, scope_spans) in resource_spans.scope_spans.into_iter().enumerate() {
            let (scope_name, scope_version) = scope_spans
                .scope
                .map(|scope| (scope.name, Some(scope.version).filter(|v| !v.is_empty())))
                .unwrap_or_default();
            for (i, span) in scope_spans.spans.into_iter().enumerate() {
                let at = || format!("resourceSpans[{r}].scopeSpans[{s}].spans[{i}]");
                let mut stored =
                    stored_span(span).map_err(|e| BadRequest(format!("{}: {e}", at())))?;
                stored.resource = resource.clone();
                stored.scope_name.clone_from(&scope_name);
                stored.scope_version.clone_from(&scope_version);
                out.push(stored);
            }
        }
    }
    Ok(out)
}

/// A trace id from its 16 bytes; all zero is not one.
fn trace_id(bytes: &[u8]) -> Result<TraceId, String> {
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| format!("traceId has {} bytes, not 16", bytes.len()))?;
    match TraceId::from_bytes(bytes) {
        TraceId::INVALID => Err("traceId is all zero, which is no trace".to_owned()),
        id => Ok(id),
    }
}

/// A span id from its 8 bytes; all zero is not one.
fn span_id(bytes: &[u8], field: &str) -> Result<SpanId, String> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| format!("{field} has {} bytes, not 8", bytes.len()))?;
    match SpanId::from_bytes(bytes) {
        SpanId::INVALID => Err(format!("{field} is all zero, which is no span")),
        id => Ok(id),
    }
}

/// One span as the store keeps it (its resource and scope set by the
/// caller).
fn stored_span(span: Span) -> Result<StoredSpan, String> {
    let trace_id = trace_id(&span.trace_id)?;
    let id = span_id(&span.span_id, "spanId")?;
    let parent_span_id = if span.parent_span_id.is_empty() {
        None
    } else {
        Some(span_id_or_root(&span.parent_span_id)?)
    };
    let time = |nanos: u64| UNIX_EPOCH + Duration::from_nanos(nanos);
    let status = match span.status {
        Some(s) if s.code == status::StatusCode::Ok as i32 => Status::Ok,
        Some(s) if s.code == status::StatusCode::Error as i32 => Status::error(s.message),
        _ => Status::Unset,
    };
    let kind = match span::SpanKind::try_from(span.kind) {
        Ok(span::SpanKind::Server) => SpanKind::Server,
        Ok(span::SpanKind::Client) => SpanKind::Client,
        Ok(span::SpanKind::Producer) => SpanKind::Producer,
        Ok(span::SpanKind::Consumer) => SpanKind::Consumer,
        _ => SpanKind::Internal,
    };
    let events = span
        .events
        .into_iter()
        .map(|event| {
            json!({
                "name": event.name,
                "time": verdict::wire::format_time(time(event.time_unix_nano)),
                "attributes": attributes(event.attributes),
            })
        })
        .collect();
    let links = span
        .links
        .into_iter()
        .filter_map(|link| {
            Some(json!({
                "trace_id": format!("{:032x}", trace_id_any(&link.trace_id)?),
                "span_id": format!("{:016x}", span_id(&link.span_id, "link").ok()?),
                "attributes": attributes(link.attributes),
            }))
        })
        .collect();
    let mut stored = StoredSpan::new(trace_id, id, span.name);
    stored.parent_span_id = parent_span_id;
    stored.kind = kind;
    stored.start_time = time(span.start_time_unix_nano);
    stored.end_time = time(span.end_time_unix_nano);
    stored.status = status;
    stored.attributes = attributes(span.attributes);
    stored.events = events;
    stored.links = links;
    Ok(stored)
}

/// A parent id: all zero is as good as none (some SDKs write it so for a
/// root span).
fn span_id_or_root(bytes: &[u8]) -> Result<SpanId, String> {
    if bytes.iter().all(|&b| b == 0) && bytes.len() == 8 {
        return Ok(SpanId::INVALID);
    }
    span_id(bytes, "parentSpanId")
}

/// A link's trace id, when it is one (a link that is not is left out).
fn trace_id_any(bytes: &[u8]) -> Option<TraceId> {
    trace_id(bytes).ok()
}

/// OTLP attributes as the store keeps them: a JSON object of plain values,
/// arrays as arrays, key-value lists as objects, bytes as base64 text.
pub(crate) fn attributes(attributes: Vec<KeyValue>) -> Map<String, Value> {
    attributes
        .into_iter()
        .map(|kv| (kv.key, kv.value.map_or(Value::Null, any_value_json)))
        .collect()
}

fn any_value_json(value: AnyValue) -> Value {
    match value.value {
        None => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(b),
        Some(any_value::Value::IntValue(i)) => Value::from(i),
        Some(any_value::Value::DoubleValue(f)) => serde_json::Number::from_f64(f)
            .map_or_else(|| Value::String(f.to_string()), Value::Number),
        Some(any_value::Value::ArrayValue(array)) => {
            array.values.into_iter().map(any_value_json).collect()
        }
        Some(any_value::Value::KvlistValue(list)) => Value::Object(attributes(list.values)),
        Some(any_value::Value::BytesValue(bytes)) => Value::String(base64(&bytes)),
        Some(any_value::Value::StringValueStrindex(i)) => Value::from(i),
    }
}

/// Standard base64, as OTLP/JSON writes bytes.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The answer to a request taken whole: an empty partial success.
pub(crate) fn accepted(encoding: Encoding) -> Vec<u8> {
    let response = ExportTraceServiceResponse {
        partial_success: None,
    };
    match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => b"{}".to_vec(),
    }
}

/// The `google.rpc.Status` an OTLP/HTTP error answer carries.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The body of an error answer: a `google.rpc.Status` with `code` (a gRPC
/// code: 3 invalid argument, 8 resource exhausted, 14 unavailable) and the
/// message, in the request's encoding.
pub(crate) fn status(encoding: Encoding, code: i32, message: &str) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => RpcStatus {
            code,
            message: message.to_owned(),
        }
        .encode_to_vec(),
        Encoding::Json => json!({"code": code, "message": message})
            .to_string()
            .into_bytes(),
    }
}
