//! Load generator for `verdict serve`: sends OTLP protobuf trace requests
//! to `POST /v1/traces` over keep-alive connections, each trace a root
//! span with inputs, outputs and an expected answer (for exact match) and
//! child spans, every trace id new. One request body is encoded once; each
//! request copies it and writes new trace ids at the places they sit, so
//! the generator costs little beside the server it measures.
//!
//! Usage: verdict-bench-serve URL SECONDS CONNECTIONS RATE
//!   RATE: spans per second offered in all (0: as fast as answered).
//! A request answered 429 or 503 waits 10 ms and is sent again (not
//! counted twice). Prints one JSON object: spans accepted, requests,
//! refusals, and the request → response latency (p50, p99, max, in ms).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

/// Traces per request, and spans per trace: 512 spans, the OpenTelemetry
/// SDK's default batch.
const TRACES: usize = 64;
const SPANS_PER_TRACE: usize = 8;

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

/// The template trace id of trace `t`: a marker that no other bytes of
/// the body hold, then `t`.
fn template_id(t: usize) -> [u8; 16] {
    let mut id = [0xa7u8; 16];
    id[12..].copy_from_slice(&(t as u32).to_be_bytes());
    id
}

/// The body, and where each trace id sits in it.
fn template() -> (Vec<u8>, Vec<usize>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let mut spans = Vec::new();
    for t in 0..TRACES {
        let trace_id = template_id(t).to_vec();
        let root = ((t as u64) << 8) | 1;
        for s in 0..SPANS_PER_TRACE {
            let span_id = ((t as u64) << 8) | (s as u64 + 1);
            let mut attributes = vec![string("llm.model_name", "model-x")];
            if s == 0 {
                attributes = vec![
                    string(
                        "mlflow.spanInputs",
                        r#"{"question": "What is the capital of France?"}"#,
                    ),
                    string(
                        "mlflow.spanOutputs",
                        if t % 4 == 0 { "\"Lyon\"" } else { "\"Paris\"" },
                    ),
                    string("verdict.expectation.expected_response", "Paris"),
                ];
            }
            spans.push(Span {
                trace_id: trace_id.clone(),
                span_id: span_id.to_be_bytes().to_vec(),
                parent_span_id: if s == 0 {
                    Vec::new()
                } else {
                    root.to_be_bytes().to_vec()
                },
                name: if s == 0 {
                    "answer".into()
                } else {
                    format!("step-{s}")
                },
                kind: 1,
                start_time_unix_nano: now,
                end_time_unix_nano: now + 1_000_000,
                attributes,
                ..Span::default()
            });
        }
    }
    let body = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", "load")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
    .encode_to_vec();
    let mut offsets = Vec::new();
    for t in 0..TRACES {
        let id = template_id(t);
        let mut at = 0;
        while let Some(i) = body[at..].windows(16).position(|w| w == id) {
            offsets.push(at + i);
            at += i + 16;
        }
    }
    assert_eq!(offsets.len(), TRACES * SPANS_PER_TRACE);
    (body, offsets)
}

/// Reads one HTTP/1.1 response: its status.
fn response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<u16> {
    buffer.clear();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Ok(status)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, seconds, connections, rate] = &args[..] else {
        eprintln!("usage: verdict-bench-serve URL SECONDS CONNECTIONS RATE");
        std::process::exit(2);
    };
    let address = url.trim_start_matches("http://").to_owned();
    let seconds: f64 = seconds.parse().expect("SECONDS");
    let connections: usize = connections.parse().expect("CONNECTIONS");
    let rate: f64 = rate.parse().expect("RATE");
    let (body, offsets) = template();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let spans_per_request = (TRACES * SPANS_PER_TRACE) as u64;
    // Requests per second per connection, when paced.
    let interval = (rate > 0.0)
        .then(|| Duration::from_secs_f64(connections as f64 * spans_per_request as f64 / rate));
    let next_trace = Arc::new(AtomicU64::new(1));
    let refused = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..connections)
        .map(|c| {
            let (mut request, offsets) = (head.clone().into_bytes(), offsets.clone());
            let head_len = request.len();
            request.extend_from_slice(&body);
            let (address, next_trace, refused) = (
                address.clone(),
                Arc::clone(&next_trace),
                Arc::clone(&refused),
            );
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(&address).expect("connect");
                stream.set_nodelay(true).ok();
                let mut buffer = Vec::new();
                let mut latencies = Vec::new();
                let mut sent = 0u64;
                // Spread the connections' first requests over one interval.
                let mut due =
                    start + interval.map_or(Duration::ZERO, |i| i / connections as u32 * c as u32);
                while Instant::now() < end {
                    if let Some(interval) = interval {
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        due += interval;
                    }
                    // New trace ids: a counter in the first 8 bytes of each.
                    let first = next_trace.fetch_add(TRACES as u64, Ordering::Relaxed);
                    for (k, &at) in offsets.iter().enumerate() {
                        let t = first + (k / SPANS_PER_TRACE) as u64;
                        request[head_len + at..head_len + at + 8].copy_from_slice(&t.to_be_bytes());
                    }
                    let began = Instant::now();
                    loop {
                        stream.write_all(&request).expect("send");
                        match response(&mut stream, &mut buffer).expect("answer") {
                            200 => break,
                            429 | 503 => {
                                refused.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_millis(10));
                            }
                            other => panic!("answered {other}"),
                        }
                    }
                    latencies.push(began.elapsed());
                    sent += 1;
                }
                (sent, latencies)
            })
        })
        .collect();
    let mut requests = 0;
    let mut latencies = Vec::new();
    for worker in workers {
        let (sent, mut l) = worker.join().expect("worker");
        requests += sent;
        latencies.append(&mut l);
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let ms = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{}",
        serde_json::json!({
            "seconds": elapsed,
            "requests": requests,
            "spans": requests * spans_per_request,
            "spans_per_s": (requests * spans_per_request) as f64 / elapsed,
            "refused": refused.load(Ordering::Relaxed),
            "p50_ms": ms(0.5),
            "p99_ms": ms(0.99),
            "max_ms": latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        })
    );
}
