//! Reading an experiment's traces back: which traces a search finds
//! (a filter, a time window, a limit), then each with its spans and its
//! assessments, so that traces already in MLflow can be scored.
//!
//! | what | request |
//! |---|---|
//! | which traces | `POST /api/3.0/mlflow/traces/search` with the experiment, MLflow's filter, and a page token, up to [`SEARCH_PAGE`] a page |
//! | their spans and assessments | `GET /api/3.0/mlflow/traces/batchGet?trace_ids=…`, [`READ_PAGE`] a request |
//!
//! The decision: **the server's own search, then its batch read**, as
//! MLflow's client does for `mlflow.search_traces`. Reading the
//! experiment's traces whole and filtering here would move every span of
//! every trace to find the few asked for. The spans come in protobuf's
//! JSON form (ids in base64, enums by name), which is turned into the
//! OpenTelemetry SDK's `SpanData` here, once: a structured attribute
//! (MLflow stores `mlflow.spanInputs` as a key-value list) becomes its
//! JSON text, as MLflow's client writes it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value as OtelValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use serde_json::{Map, Value, json};
use verdict::{Assessment, SinkError, mlflow_trace_id, parse_trace_id};

use crate::MlflowSink;

/// The most traces one search page asks for.
pub const SEARCH_PAGE: usize = 500;
/// The most traces one `batchGet` reads.
pub const READ_PAGE: usize = 50;

/// Which traces of the experiment to read: MLflow's filter (as
/// `mlflow.search_traces(filter_string=…)` takes it), a time window on
/// when each trace started, and a limit.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use verdict_mlflow::TraceQuery;
///
/// let query = TraceQuery::new()
///     .filter("trace.status = 'OK'")
///     .since(SystemTime::now() - Duration::from_secs(3600))
///     .limit(100);
/// assert_eq!(query.get_limit(), Some(100));
/// ```
#[derive(Clone, Debug, Default)]
pub struct TraceQuery {
    filter: Option<String>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    limit: Option<usize>,
}

impl TraceQuery {
    /// Every trace of the experiment.
    pub fn new() -> Self {
        TraceQuery::default()
    }

    /// Only the traces MLflow's filter selects.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Only traces that started at `time` or later.
    pub fn since(mut self, time: SystemTime) -> Self {
        self.since = Some(time);
        self
    }

    /// Only traces that started before `time`.
    pub fn until(mut self, time: SystemTime) -> Self {
        self.until = Some(time);
        self
    }

    /// At most `traces` traces, the newest first.
    pub fn limit(mut self, traces: usize) -> Self {
        self.limit = Some(traces);
        self
    }

    /// The limit, if any.
    pub fn get_limit(&self) -> Option<usize> {
        self.limit
    }

    /// The filter sent to the server: the window's clauses and the
    /// user's, joined by `AND` (MLflow's filters have no `OR`).
    fn filter_string(&self) -> Option<String> {
        let millis = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        let clauses: Vec<String> = [
            self.since
                .map(|t| format!("trace.timestamp_ms >= {}", millis(t))),
            self.until
                .map(|t| format!("trace.timestamp_ms < {}", millis(t))),
            self.filter.clone(),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!clauses.is_empty()).then(|| clauses.join(" AND "))
    }
}

/// A trace read back from MLflow.
#[derive(Debug)]
pub struct MlflowTrace {
    /// Its id.
    pub trace_id: TraceId,
    /// Its name (`mlflow.traceName`), if it has one.
    pub name: Option<String>,
    /// When it started.
    pub request_time: SystemTime,
    /// `OK`, `ERROR` or `IN_PROGRESS`.
    pub state: String,
    /// Its metadata (`mlflow.traceInputs`, `mlflow.traceOutputs`…).
    pub metadata: BTreeMap<String, String>,
    /// Its assessments, valid or not, as the server keeps them.
    pub assessments: Vec<Assessment>,
    /// Its spans, as the SDK's span data (no resource: MLflow does not
    /// keep one per span).
    pub spans: Vec<SpanData>,
}

impl MlflowSink {
    /// The ids of the experiment's traces that `query` selects, the
    /// newest first, read page by page until its limit.
    pub fn search_traces(&self, query: &TraceQuery) -> Result<Vec<TraceId>, SinkError> {
        let mut found = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let want = query
                .limit
                .map_or(SEARCH_PAGE, |limit| (limit - found.len()).min(SEARCH_PAGE));
            if want == 0 {
                return Ok(found);
            }
            let mut body = json!({
                "locations": [{
                    "type": "MLFLOW_EXPERIMENT",
                    "mlflow_experiment": {"experiment_id": self.config.experiment_id},
                }],
                "max_results": want,
                "order_by": ["timestamp_ms DESC"],
            });
            if let Some(filter) = query.filter_string() {
                body["filter"] = Value::String(filter);
            }
            if let Some(token) = &page_token {
                body["page_token"] = Value::String(token.clone());
            }
            let text = self.call("POST", "/api/3.0/mlflow/traces/search", &body, || {
                format!(
                    "search the traces of experiment {}",
                    self.config.experiment_id
                )
            })?;
            let page: Value = serde_json::from_str(&text)
                .map_err(|e| self.unreadable(&format!("a page of search results: {e}")))?;
            let traces = page["traces"].as_array().map_or(&[][..], Vec::as_slice);
            for info in traces {
                let id = info["trace_id"].as_str().unwrap_or_default();
                found.push(parse_trace_id(id).map_err(|e| {
                    self.unreadable(&format!("a trace id in search results ({id:?}): {e}"))
                })?);
            }
            page_token = page["next_page_token"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if traces.is_empty() || page_token.is_none() {
                return Ok(found);
            }
        }
    }

    /// The traces with these ids, each with its spans and assessments, in
    /// the order asked. A trace the server does not have is an error
    /// naming it.
    pub fn get_traces(&self, ids: &[TraceId]) -> Result<Vec<MlflowTrace>, SinkError> {
        let mut read = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(READ_PAGE) {
            let query: Vec<String> = chunk
                .iter()
                .map(|&id| format!("trace_ids={}", mlflow_trace_id(id)))
                .collect();
            let path = format!("/api/3.0/mlflow/traces/batchGet?{}", query.join("&"));
            let text = self.call("GET", &path, &Value::Null, || {
                format!("read {} traces", chunk.len())
            })?;
            let mut answer: Value = serde_json::from_str(&text)
                .map_err(|e| self.unreadable(&format!("a batch of traces: {e}")))?;
            let mut traces = BTreeMap::new();
            if let Value::Array(list) = answer["traces"].take() {
                for trace in list {
                    let trace = parse_trace(trace).map_err(|e| self.unreadable(&e))?;
                    traces.insert(mlflow_trace_id(trace.trace_id), trace);
                }
            }
            for &id in chunk {
                let key = mlflow_trace_id(id);
                read.push(traces.remove(&key).ok_or_else(|| {
                    SinkError::new(format!(
                        "MLflow at {} has no trace {key} in experiment {}",
                        self.shown_uri, self.config.experiment_id
                    ))
                })?);
            }
        }
        Ok(read)
    }

    /// The traces `query` selects, each with its spans and assessments.
    pub fn read_traces(&self, query: &TraceQuery) -> Result<Vec<MlflowTrace>, SinkError> {
        self.get_traces(&self.search_traces(query)?)
    }

    fn unreadable(&self, what: &str) -> SinkError {
        SinkError::new(format!(
            "MLflow at {} answered what cannot be read: {what}",
            self.shown_uri
        ))
    }
}

/// One trace of a `batchGet` answer.
fn parse_trace(mut trace: Value) -> Result<MlflowTrace, String> {
    let mut info = trace["trace_info"].take();
    let id_text = info["trace_id"].as_str().unwrap_or_default().to_owned();
    let trace_id =
        parse_trace_id(&id_text).map_err(|e| format!("a trace id ({id_text:?}): {e}"))?;
    let strings = |value: &Value| -> BTreeMap<String, String> {
        value
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect()
    };
    let tags = strings(&info["tags"]);
    let request_time = match info["request_time"].as_str() {
        Some(text) => verdict::wire::parse_time("request_time", text)
            .map_err(|e| format!("trace {id_text}: {e}"))?,
        None => UNIX_EPOCH,
    };
    let assessments = match info["assessments"].take() {
        Value::Array(list) => list
            .into_iter()
            .map(serde_json::from_value::<Assessment>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("an assessment of trace {id_text}: {e}"))?,
        _ => Vec::new(),
    };
    let spans = match &trace["spans"] {
        Value::Array(list) => list
            .iter()
            .map(|span| parse_span(span).map_err(|e| format!("a span of trace {id_text}: {e}")))
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    Ok(MlflowTrace {
        trace_id,
        name: tags.get("mlflow.traceName").cloned(),
        request_time,
        state: info["state"]
            .as_str()
            .unwrap_or("STATE_UNSPECIFIED")
            .to_owned(),
        metadata: strings(&info["trace_metadata"]),
        assessments,
        spans,
    })
}

/// Bytes given in base64, as protobuf's JSON form writes them.
fn id_bytes<const N: usize>(span: &Value, field: &str) -> Result<Option<[u8; N]>, String> {
    let Some(text) = span[field].as_str().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("{field} {text:?} is not base64: {e}"))?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map(Some)
        .map_err(|_| format!("{field} {text:?} is {} bytes, not {N}", bytes.len()))
}

/// A 64-bit integer, which protobuf's JSON form may write as a string.
fn uint(value: &Value) -> u64 {
    match value {
        Value::Number(n) => n.as_u64().unwrap_or_default(),
        Value::String(s) => s.parse().unwrap_or_default(),
        _ => 0,
    }
}

fn time(value: &Value) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(uint(value))
}

/// One span in protobuf's JSON form (`opentelemetry.proto.trace.v1.Span`).
fn parse_span(span: &Value) -> Result<SpanData, String> {
    let trace_id = id_bytes::<16>(span, "trace_id")?.ok_or("it has no trace_id")?;
    let span_id = id_bytes::<8>(span, "span_id")?.ok_or("it has no span_id")?;
    let parent = id_bytes::<8>(span, "parent_span_id")?;
    let span_kind = match &span["kind"] {
        Value::String(k) => match k.as_str() {
            "SPAN_KIND_SERVER" => SpanKind::Server,
            "SPAN_KIND_CLIENT" => SpanKind::Client,
            "SPAN_KIND_PRODUCER" => SpanKind::Producer,
            "SPAN_KIND_CONSUMER" => SpanKind::Consumer,
            _ => SpanKind::Internal,
        },
        Value::Number(n) => match n.as_u64() {
            Some(2) => SpanKind::Server,
            Some(3) => SpanKind::Client,
            Some(4) => SpanKind::Producer,
            Some(5) => SpanKind::Consumer,
            _ => SpanKind::Internal,
        },
        _ => SpanKind::Internal,
    };
    let status = match span["status"]["code"].as_str().unwrap_or_default() {
        "STATUS_CODE_OK" => Status::Ok,
        "STATUS_CODE_ERROR" => Status::error(
            span["status"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
        _ => Status::Unset,
    };
    let mut events = SpanEvents::default();
    for event in span["events"].as_array().into_iter().flatten() {
        events.events.push(Event::new(
            event["name"].as_str().unwrap_or_default().to_owned(),
            time(&event["time_unix_nano"]),
            attributes(&event["attributes"]),
            0,
        ));
    }
    Ok(SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(trace_id),
            SpanId::from_bytes(span_id),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: parent.map_or(SpanId::INVALID, SpanId::from_bytes),
        parent_span_is_remote: false,
        span_kind,
        name: span["name"].as_str().unwrap_or_default().to_owned().into(),
        start_time: time(&span["start_time_unix_nano"]),
        end_time: time(&span["end_time_unix_nano"]),
        attributes: attributes(&span["attributes"]),
        dropped_attributes_count: 0,
        events,
        links: SpanLinks::default(),
        status,
        instrumentation_scope: InstrumentationScope::builder("mlflow").build(),
    })
}

/// `[{"key": k, "value": AnyValue}]` as key-values.
fn attributes(list: &Value) -> Vec<KeyValue> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| {
            let key = kv["key"].as_str()?.to_owned();
            Some(KeyValue::new(key, any_value(&kv["value"])))
        })
        .collect()
}

/// An `AnyValue`: a scalar as itself, a list of one scalar type as an
/// array, anything else (a key-value list, a mixed list) as its JSON text.
fn any_value(value: &Value) -> OtelValue {
    if let Some(s) = value["string_value"].as_str() {
        return OtelValue::String(s.to_owned().into());
    }
    if let Some(b) = value["bool_value"].as_bool() {
        return OtelValue::Bool(b);
    }
    if !value["int_value"].is_null() {
        let int = match &value["int_value"] {
            Value::String(s) => s.parse().unwrap_or_default(),
            other => other.as_i64().unwrap_or_default(),
        };
        return OtelValue::I64(int);
    }
    if let Some(f) = value["double_value"].as_f64() {
        return OtelValue::F64(f);
    }
    if let Some(values) = value["array_value"]["values"].as_array() {
        let scalars: Vec<OtelValue> = values.iter().map(any_value).collect();
        if let Some(array) = homogeneous(&scalars) {
            return OtelValue::Array(array);
        }
    }
    OtelValue::String(json_of(value).to_string().into())
}

/// The list as an OpenTelemetry array, when every item is a scalar of
/// one type.
fn homogeneous(items: &[OtelValue]) -> Option<Array> {
    macro_rules! all {
        ($variant:ident) => {
            items
                .iter()
                .map(|v| match v {
                    OtelValue::$variant(x) => Some(x.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
        };
    }
    if let Some(v) = all!(Bool) {
        return Some(Array::Bool(v));
    }
    if let Some(v) = all!(I64) {
        return Some(Array::I64(v));
    }
    if let Some(v) = all!(F64) {
        return Some(Array::F64(v));
    }
    all!(String).map(|v: Vec<StringValue>| Array::String(v))
}

/// An `AnyValue` as plain JSON: a key-value list as an object.
fn json_of(value: &Value) -> Value {
    if let Some(s) = value.get("string_value") {
        return s.clone();
    }
    if let Some(b) = value.get("bool_value") {
        return b.clone();
    }
    if let Some(i) = value.get("int_value") {
        return match i {
            Value::String(s) => s.parse::<i64>().map_or_else(|_| i.clone(), Value::from),
            other => other.clone(),
        };
    }
    if let Some(f) = value.get("double_value") {
        return f.clone();
    }
    if let Some(values) = value["array_value"]["values"].as_array() {
        return Value::Array(values.iter().map(json_of).collect());
    }
    if let Some(values) = value["kvlist_value"]["values"].as_array() {
        let object: Map<String, Value> = values
            .iter()
            .filter_map(|kv| Some((kv["key"].as_str()?.to_owned(), json_of(&kv["value"]))))
            .collect();
        return Value::Object(object);
    }
    Value::Null
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_and_a_filter_are_joined_with_and() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let query = TraceQuery::new()
            .since(at)
            .until(at + Duration::from_secs(1))
            .filter("trace.status = 'OK'");
        assert_eq!(
            query.filter_string().unwrap(),
            "trace.timestamp_ms >= 1700000000123 AND trace.timestamp_ms < 1700000001123 AND \
             trace.status = 'OK'"
        );
        assert_eq!(TraceQuery::new().filter_string(), None);
    }

    #[test]
    fn a_key_value_list_becomes_its_json_text_and_a_scalar_list_an_array() {
        let kvlist = json!({"kvlist_value": {"values": [
            {"key": "question", "value": {"string_value": "Capital?"}},
            {"key": "n", "value": {"int_value": "3"}},
        ]}});
        assert_eq!(
            any_value(&kvlist).as_str(),
            r#"{"n":3,"question":"Capital?"}"#
        );
        let list = json!({"array_value": {"values": [{"int_value": 1}, {"int_value": "2"}]}});
        assert_eq!(any_value(&list), OtelValue::Array(Array::I64(vec![1, 2])));
        let mixed = json!({"array_value": {"values": [{"int_value": 1}, {"string_value": "a"}]}});
        assert_eq!(any_value(&mixed).as_str(), r#"[1,"a"]"#);
    }

    #[test]
    fn hostile_ids_are_refused_with_the_field_named() {
        let span = json!({"trace_id": "not base64!", "span_id": "SYCLM+IqKMY="});
        let e = parse_span(&span).unwrap_err();
        assert!(e.contains("trace_id") && e.contains("base64"), "{e}");
        let short = json!({"trace_id": "8abXqP0ZU0jV1273EXdiWQ==", "span_id": "AAAA"});
        let e = parse_span(&short).unwrap_err();
        assert!(e.contains("span_id") && e.contains("not 8"), "{e}");
        let none = json!({"trace_id": "8abXqP0ZU0jV1273EXdiWQ=="});
        assert!(parse_span(&none).unwrap_err().contains("no span_id"));
    }

    #[test]
    fn a_span_reads_as_mlflow_wrote_it() {
        let span = json!({
            "trace_id": "8abXqP0ZU0jV1273EXdiWQ==",
            "span_id": "iEgFl58RUns=",
            "parent_span_id": "SYCLM+IqKMY=",
            "name": "lookup",
            "start_time_unix_nano": 1796616593454495180u64,
            "end_time_unix_nano": "1796616593454712043",
            "attributes": [{"key": "mlflow.spanType", "value": {"string_value": "TOOL"}}],
            "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
            "events": [{"name": "exception", "time_unix_nano": 5, "attributes": []}],
        });
        let span = parse_span(&span).unwrap();
        assert_eq!(
            span.span_context.trace_id().to_string(),
            "f1a6d7a8fd195348d5d76ef711776259"
        );
        assert_eq!(span.parent_span_id.to_string(), "49808b33e22a28c6");
        assert_eq!(span.name, "lookup");
        assert_eq!(
            span.end_time.duration_since(span.start_time).unwrap(),
            Duration::from_nanos(216_863)
        );
        assert_eq!(span.status, Status::error("boom"));
        assert_eq!(span.events.events[0].name, "exception");
        assert_eq!(span.attributes[0].value.as_str(), "TOOL");
    }
}
