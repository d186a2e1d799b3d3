//! The lines `verdict` and a predictor process exchange (see
//! `docs/predict.md`), and the W3C trace context both predictors pass.
//!
//! After it starts, the process writes `{"ready": true}` once it can take
//! requests: the time it takes to load (a model, say) is not counted
//! against the first record's time limit, and a process that cannot start
//! is told apart from one that is slow to answer.
//!
//! Then each request is one line,
//! `{"id":N,"line":L,"traceparent":"00-…-01","otlp_endpoint":"http://…","inputs":…}`,
//! with `inputs` always last, so that a shell script can cut it out; each
//! answer is one line, `{"id":N,"outputs":…}` or `{"id":N,"error":"…"}`,
//! in any order.

use std::fmt::Write as _;

use opentelemetry::trace::{SpanId, TraceId};
use serde_json::Value;
use verdict_scorer::OwnedValue;

/// The `traceparent` of a call: version 00, the record's trace, the span
/// the call's spans are children of, sampled.
pub fn traceparent(trace_id: TraceId, parent: SpanId) -> String {
    format!("00-{trace_id:032x}-{parent:016x}-01")
}

/// Appends one request line (with its newline) to `out`.
pub(crate) fn write_request(
    out: &mut Vec<u8>,
    id: u64,
    line: usize,
    traceparent: &str,
    endpoint: &str,
    inputs: &OwnedValue,
) {
    let mut head = String::with_capacity(160);
    let _ = write!(
        head,
        "{{\"id\":{id},\"line\":{line},\"traceparent\":\"{traceparent}\",\"otlp_endpoint\":"
    );
    out.extend_from_slice(head.as_bytes());
    // Neither the URL nor a JSON string written by serde_json holds a
    // newline, which would end the line.
    let _ = serde_json::to_writer(&mut *out, endpoint);
    out.extend_from_slice(b",\"inputs\":");
    write_json(out, inputs);
    out.extend_from_slice(b"}\n");
}

/// A value as JSON on one line.
pub(crate) fn write_json(out: &mut Vec<u8>, value: &OwnedValue) {
    match value {
        OwnedValue::Null => out.extend_from_slice(b"null"),
        OwnedValue::String(s) => {
            let _ = serde_json::to_writer(&mut *out, s);
        }
        OwnedValue::Json(text) if !text.contains(['\n', '\r']) => {
            out.extend_from_slice(text.as_bytes());
        }
        // Pretty JSON from a dataset: rewritten on one line.
        OwnedValue::Json(text) => match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                let _ = serde_json::to_writer(&mut *out, &value);
            }
            Err(_) => {
                let _ = serde_json::to_writer(&mut *out, text);
            }
        },
    }
}

/// The line a process writes when it can take requests.
pub(crate) fn is_ready(line: &[u8]) -> bool {
    serde_json::from_slice::<Value>(line)
        .ok()
        .and_then(|v| v.get("ready").and_then(Value::as_bool))
        == Some(true)
}

/// What an answer line says.
#[derive(Debug, PartialEq)]
pub(crate) struct Answer {
    pub(crate) id: u64,
    pub(crate) result: Result<OwnedValue, String>,
}

/// Reads one answer line; the error says what is wrong with it.
pub(crate) fn read_answer(line: &[u8]) -> Result<Answer, String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        format!(
            "it wrote a line that is not JSON ({e}): {}",
            excerpt(&String::from_utf8_lossy(line))
        )
    })?;
    let Value::Object(mut fields) = value else {
        return Err(format!(
            "it wrote a line that is not a JSON object: {}",
            excerpt(&String::from_utf8_lossy(line))
        ));
    };
    let id = fields
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| "it wrote an answer without a numeric \"id\"".to_owned())?;
    let result = match (fields.remove("outputs"), fields.remove("error")) {
        (_, Some(error)) if !error.is_null() => Err(match error {
            Value::String(message) => message,
            other => other.to_string(),
        }),
        (Some(outputs), _) => Ok(OwnedValue::from(outputs)),
        (None, _) => {
            return Err(format!(
                "its answer to request {id} has neither \"outputs\" nor \"error\""
            ));
        }
    };
    Ok(Answer { id, result })
}

/// The start of a text, for a message.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    let text = text.trim_end();
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{:?}…", &text[..at]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_one_line_with_inputs_last() {
        let mut out = Vec::new();
        let inputs = OwnedValue::Json("{\n  \"q\": \"a\\nb\"\n}".into());
        write_request(&mut out, 7, 3, "00-x-y-01", "http://127.0.0.1:1", &inputs);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches('\n').count(), 1);
        assert!(text.ends_with(",\"inputs\":{\"q\":\"a\\nb\"}}\n"), "{text}");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["id"], 7);
        assert_eq!(value["otlp_endpoint"], "http://127.0.0.1:1");
    }

    #[test]
    fn answers_are_read_strictly() {
        assert_eq!(
            read_answer(br#"{"id":1,"outputs":{"a":1}}"#).unwrap(),
            Answer {
                id: 1,
                result: Ok(OwnedValue::Json("{\"a\":1}".into()))
            }
        );
        assert_eq!(
            read_answer(br#"{"id":2,"error":"no model"}"#)
                .unwrap()
                .result,
            Err("no model".to_owned())
        );
        assert_eq!(
            read_answer(br#"{"id":3,"outputs":null}"#).unwrap().result,
            Ok(OwnedValue::Null)
        );
        for bad in [&b"hello"[..], b"[1]", br#"{"outputs":1}"#, br#"{"id":4}"#] {
            assert!(
                read_answer(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn traceparent_is_w3c() {
        let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let span = SpanId::from_hex("00f067aa0ba902b7").unwrap();
        assert_eq!(
            traceparent(trace, span),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }
}
