//! `verdict serve` as a real child process: OTLP sent by the real
//! OpenTelemetry SDK (the workspace's `opentelemetry-otlp`, protobuf and
//! JSON with gzip) is scored and forwarded to an OTLP receiver that
//! decodes it with the official messages, and to the local store; a full
//! server answers 429 with Retry-After and loses nothing it took; SIGTERM
//! scores and stores the traces it holds; hostile bodies get 400 (or 413)
//! and the server lives on.

mod common;
#[allow(dead_code)] // shared with the export crate's tests; not all of it is used here
#[path = "../../verdict-export/tests/common/mlflow_server.rs"]
mod mlflow_server;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::trace::{
    Span as _, SpanKind, TraceContextExt as _, TraceId, Tracer as _, TracerProvider as _,
};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as ProtoKeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use opentelemetry_sdk::trace::SdkTracerProvider;
use prost::Message as _;
use serde_json::Value;
use verdict_export::testing::OtlpReceiver;

use common::verdict_otlp;

/// A `verdict serve` child and what it said on standard error.
struct Serve {
    child: Child,
    url: String,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    /// Starts `verdict serve --listen 127.0.0.1:0 ARGS` in `dir`, its OTLP
    /// exports pointed at `endpoint`, and waits until it listens.
    fn start(dir: &Path, endpoint: &str, args: &[&str]) -> Serve {
        Serve::start_with(dir, endpoint, args, &[])
    }

    /// [`start`](Self::start), with these environment variables too.
    fn start_with(dir: &Path, endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0", "--store", "verdict.db"];
        all.extend_from_slice(args);
        let mut child = verdict_otlp(dir, endpoint, &all)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("verdict serve did not start: {first}"))
            .to_owned();
        let stderr = Arc::new(Mutex::new(format!("{first}\n")));
        let kept = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Serve { child, url, stderr }
    }

    /// Sends `signal` (by name, as kill(1) takes it), waits for the exit,
    /// and gives its code and all it said.
    fn stop(mut self, signal: &str) -> (i32, String) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        // The reader thread ends with the pipe.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.stderr) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let said = self.stderr.lock().unwrap().clone();
        (code, said)
    }

    /// `POST /v1/traces` with `body`: the status, the Retry-After header
    /// and the body.
    fn post(
        &self,
        content_type: &str,
        encoding: Option<&str>,
        body: &[u8],
    ) -> (u16, Option<String>, Vec<u8>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = agent
            .post(format!("{}/v1/traces", self.url))
            .header("Content-Type", content_type);
        if let Some(encoding) = encoding {
            request = request.header("Content-Encoding", encoding);
        }
        let mut response = request.send(body).unwrap();
        let retry_after = response
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_vec().unwrap();
        (status, retry_after, body)
    }

    /// One counter of `GET /metrics`, by its whole series name.
    fn metric(&self, series: &str) -> u64 {
        let text = ureq::get(format!("{}/metrics", self.url))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The trace's spans and assessments in the local store, as `verdict show
/// --json` prints them.
fn stored(dir: &Path, trace_id: TraceId) -> Value {
    let out = common::verdict(&[
        "show",
        &format!("{trace_id:032x}"),
        "--json",
        "--store",
        dir.join("verdict.db").to_str().unwrap(),
    ]);
    common::json_of(&out)
}

/// A tracer provider exporting with the real OTLP/HTTP exporter to
/// `endpoint` (`/v1/traces` of the server), in `protocol`, gzip or not.
fn sdk_client(endpoint: &str, protocol: Protocol, gzip: bool) -> SdkTracerProvider {
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .with_timeout(Duration::from_secs(10));
    if gzip {
        builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    SdkTracerProvider::builder()
        .with_batch_exporter(builder.build().unwrap())
        .build()
}

/// One answer of the service: a root span with MLflow's inputs and
/// outputs and the expected answer, and a child span; its trace id.
fn answer(provider: &SdkTracerProvider, output: &str, expected: &str) -> TraceId {
    let tracer = provider.tracer("service");
    tracer.in_span("answer", |cx| {
        let span = cx.span();
        span.set_attribute(KeyValue::new(
            "mlflow.spanInputs",
            r#"{"question": "capital?"}"#,
        ));
        span.set_attribute(KeyValue::new("mlflow.spanOutputs", format!("{output:?}")));
        span.set_attribute(KeyValue::new(
            "verdict.expectation.expected_response",
            expected.to_owned(),
        ));
        tracer
            .span_builder("llm")
            .with_kind(SpanKind::Client)
            .start_with_context(&tracer, &cx);
        span.span_context().trace_id()
    })
}

fn string_attribute<'a>(attributes: &'a [ProtoKeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

#[test]
fn traces_from_the_sdk_are_scored_and_forwarded_to_otlp_and_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = OtlpReceiver::start().unwrap();
    let serve = Serve::start(
        dir.path(),
        &receiver.endpoint(),
        &["--scorer", "exact_match", "--export", "otlp"],
    );
    // Protobuf, and JSON compressed with gzip: both as the SDK sends them.
    let proto = sdk_client(&serve.url, Protocol::HttpBinary, false);
    let json = sdk_client(&serve.url, Protocol::HttpJson, true);
    let passed = answer(&proto, "Paris", "Paris");
    let failed = answer(&proto, "Lyon", "Paris");
    let by_json = answer(&json, "Rome", "Rome");
    proto.force_flush().unwrap();
    json.force_flush().unwrap();
    assert!(
        receiver.wait_for(6, 3, Duration::from_secs(30)),
        "the receiver got {} spans and {} events",
        receiver.span_count(),
        receiver.log_record_count()
    );
    // The spans go on as they came, each trace whole.
    let spans = receiver.spans();
    for trace in [passed, failed, by_json] {
        let names: Vec<&str> = spans
            .iter()
            .filter(|s| s.trace_id == trace.to_bytes())
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names.len(), 2, "{trace:032x}: {names:?}");
        assert!(names.contains(&"answer") && names.contains(&"llm"));
    }
    // Each verdict is a gen_ai.evaluation.result event on the root span.
    let events = receiver.log_records();
    assert_eq!(events.len(), 3);
    for (trace, label) in [(passed, "pass"), (failed, "fail"), (by_json, "pass")] {
        let event = events
            .iter()
            .find(|e| e.trace_id == trace.to_bytes())
            .unwrap_or_else(|| panic!("no event for {trace:032x}"));
        assert_eq!(event.event_name, "gen_ai.evaluation.result");
        assert_eq!(
            string_attribute(&event.attributes, "gen_ai.evaluation.name"),
            Some("exact_match")
        );
        assert_eq!(
            string_attribute(&event.attributes, "gen_ai.evaluation.score.label"),
            Some(label),
            "{trace:032x}"
        );
        let root = spans
            .iter()
            .find(|s| s.trace_id == trace.to_bytes() && s.name == "answer")
            .unwrap();
        assert_eq!(event.span_id, root.span_id);
    }
    assert_eq!(serve.metric("verdict_serve_traces_scored_total"), 3);
    let (code, said) = serve.stop("TERM");
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains("otlp: 6 spans and 3 feedback delivered"),
        "{said}"
    );
    assert!(
        said.contains("store: 6 spans and 3 feedback delivered"),
        "{said}"
    );
    // The store holds the same.
    for (trace, value) in [(passed, true), (failed, false), (by_json, true)] {
        let shown = stored(dir.path(), trace);
        assert_eq!(shown["spans"].as_array().unwrap().len(), 2);
        let assessments = shown["assessments"].as_array().unwrap();
        assert_eq!(assessments.len(), 1, "{shown}");
        assert_eq!(assessments[0]["assessment_name"], "exact_match");
        assert_eq!(assessments[0]["feedback"]["value"], value);
    }
    drop(proto);
    drop(json);
}

/// An OTLP protobuf request of one span per trace, `(trace id, span id)`,
/// each with a parent of another service (so that it waits for its root
/// until the idle timeout) and a record to score.
fn remote_children(traces: &[(u128, u64)]) -> Vec<u8> {
    let string = |key: &str, value: &str| ProtoKeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..ProtoKeyValue::default()
    };
    let spans = traces
        .iter()
        .map(|&(trace, span)| Span {
            trace_id: trace.to_be_bytes().to_vec(),
            span_id: span.to_be_bytes().to_vec(),
            parent_span_id: 0xfeed_u64.to_be_bytes().to_vec(),
            name: "handle".to_owned(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_001_000_000_000,
            attributes: vec![
                string("input.value", "capital?"),
                string("output.value", "Paris"),
                string("verdict.expectation.expected_response", "Paris"),
            ],
            ..Span::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
    .encode_to_vec()
}

const PROTOBUF: &str = "application/x-protobuf";

#[test]
fn a_full_server_answers_429_with_retry_after_and_loses_nothing_it_took() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = OtlpReceiver::start().unwrap();
    let serve = Serve::start(
        dir.path(),
        &receiver.endpoint(),
        &[
            "--scorer",
            "exact_match",
            "--max-traces",
            "2",
            "--idle-timeout",
            "1h",
        ],
    );
    let (first, second, refused) = (0xa1_u128, 0xa2_u128, 0xa3_u128);
    assert_eq!(
        serve
            .post(PROTOBUF, None, &remote_children(&[(first, 1)]))
            .0,
        200
    );
    assert_eq!(
        serve
            .post(PROTOBUF, None, &remote_children(&[(second, 2)]))
            .0,
        200
    );
    // A third trace would pass the bound: refused whole, to be retried.
    let (status, retry_after, _) = serve.post(PROTOBUF, None, &remote_children(&[(refused, 3)]));
    assert_eq!(status, 429);
    let retry_after: u64 = retry_after.expect("a Retry-After header").parse().unwrap();
    assert!(retry_after >= 1);
    // A span of a trace already held still fits.
    assert_eq!(
        serve
            .post(PROTOBUF, None, &remote_children(&[(first, 4)]))
            .0,
        200
    );
    assert_eq!(serve.metric("verdict_serve_held_traces"), 2);
    assert_eq!(
        serve.metric("verdict_serve_requests_total{result=\"full\"}"),
        1
    );
    let (code, said) = serve.stop("TERM");
    assert_eq!(code, 0, "{said}");
    // What was taken is stored and scored; what was refused is not there.
    for (trace, spans) in [(first, 2), (second, 1)] {
        let shown = stored(dir.path(), TraceId::from(trace));
        assert_eq!(shown["spans"].as_array().unwrap().len(), spans, "{shown}");
        assert_eq!(
            shown["assessments"][0]["feedback"]["value"], true,
            "{shown}"
        );
    }
    let out = common::verdict(&[
        "show",
        &format!("{refused:032x}"),
        "--store",
        dir.path().join("verdict.db").to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "the refused trace was stored");
}

#[test]
fn sigterm_scores_and_stores_the_traces_held() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = OtlpReceiver::start().unwrap();
    let serve = Serve::start(
        dir.path(),
        &receiver.endpoint(),
        &[
            "--scorer",
            "exact_match",
            "--export",
            "otlp",
            "--idle-timeout",
            "1h",
        ],
    );
    let traces: Vec<(u128, u64)> = (1..=5).map(|i| (0xb0 + i as u128, i)).collect();
    assert_eq!(serve.post(PROTOBUF, None, &remote_children(&traces)).0, 200);
    // Held: waiting for a root span that is another service's.
    assert_eq!(serve.metric("verdict_serve_held_traces"), 5);
    assert_eq!(receiver.span_count(), 0);
    let (code, said) = serve.stop("TERM");
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("5 traces complete (5 at shutdown)"), "{said}");
    assert!(said.contains("5 scored"), "{said}");
    assert!(
        said.contains("otlp: 5 spans and 5 feedback delivered"),
        "{said}"
    );
    for (trace, _) in traces {
        let shown = stored(dir.path(), TraceId::from(trace));
        assert_eq!(shown["assessments"][0]["assessment_name"], "exact_match");
    }
    assert_eq!(receiver.log_record_count(), 5);
}

#[test]
fn hostile_bodies_are_refused_and_the_server_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = OtlpReceiver::start().unwrap();
    let serve = Serve::start(
        dir.path(),
        &receiver.endpoint(),
        &["--scorer", "exact_match", "--max-request-mib", "1"],
    );
    let one_span = |trace: Vec<u8>, span: Vec<u8>| {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: trace,
                        span_id: span,
                        name: "x".to_owned(),
                        ..Span::default()
                    }],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
        .encode_to_vec()
    };
    let gzip = |bytes: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    // Field 1 (resource_spans), length-delimited, declaring 2^35 bytes.
    let huge_declared = vec![0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x0a, 0x00];
    // What it is, its Content-Type and Content-Encoding, the body, the
    // status it gets.
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16);
    let cases: Vec<Case<'_>> = vec![
        ("garbage", PROTOBUF, None, b"\xff\xfe garbage \x00\x07".to_vec(), 400),
        ("a huge declared length", PROTOBUF, None, huge_declared, 400),
        ("a 15-byte trace id", PROTOBUF, None, one_span(vec![1; 15], vec![1; 8]), 400),
        ("an all-zero span id", PROTOBUF, None, one_span(vec![1; 16], vec![0; 8]), 400),
        ("truncated JSON", "application/json", None, b"{\"resourceSpans\": [".to_vec(), 400),
        ("a bad hex trace id", "application/json", None,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708","name":"x"}]}]}]}"#.to_vec(), 400),
        ("gzip that is not", PROTOBUF, Some("gzip"), b"not gzip".to_vec(), 400),
        ("a gzip bomb", PROTOBUF, Some("gzip"), gzip(&vec![0u8; 4 << 20]), 400),
        ("an unknown encoding", PROTOBUF, Some("br"), b"x".to_vec(), 400),
        ("not OTLP's media type", "text/plain", None, b"hello".to_vec(), 415),
    ];
    for (what, content_type, encoding, body, expected) in &cases {
        let (status, _, answer) = serve.post(content_type, *encoding, body);
        assert_eq!(
            status,
            *expected,
            "{what}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    // A declared length past the bound is refused before the body is
    // read; a chunked body, once it passes the bound.
    let raw = |head: &[u8], chunks: usize| {
        let mut stream = TcpStream::connect(serve.url.trim_start_matches("http://")).unwrap();
        stream.write_all(head).unwrap();
        let chunk = format!("10000\r\n{}\r\n", "0".repeat(0x10000));
        for _ in 0..chunks {
            // The server may answer and close before the body ends.
            if stream.write_all(chunk.as_bytes()).is_err() {
                break;
            }
        }
        let mut status = [0u8; 12];
        stream.read_exact(&mut status).unwrap();
        status
    };
    let declared = raw(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
          Content-Length: 1000000000000\r\n\r\n",
        0,
    );
    assert_eq!(&declared, b"HTTP/1.1 413");
    let chunked = raw(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
        32,
    );
    assert_eq!(&chunked, b"HTTP/1.1 413");
    // Still serving, and it took nothing of the above.
    let valid = remote_children(&[(0xc1, 1)]);
    assert_eq!(serve.post(PROTOBUF, None, &valid).0, 200);
    assert_eq!(serve.metric("verdict_serve_spans_received_total"), 1);
    assert_eq!(
        serve.metric("verdict_serve_requests_total{result=\"invalid\"}"),
        9 + 1
    );
    let (code, said) = serve.stop("INT");
    assert_eq!(code, 0, "{said}");
}

#[test]
fn traces_reach_a_real_mlflow_server_with_their_feedback() {
    let server = mlflow_server::MlflowServer::start();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(
        dir.path(),
        &common::dead_endpoint(),
        &["--scorer", "exact_match", "--export", "mlflow"],
        &[
            ("MLFLOW_TRACKING_URI", server.url.as_str()),
            ("MLFLOW_EXPERIMENT_ID", "0"),
        ],
    );
    let client = sdk_client(&serve.url, Protocol::HttpBinary, false);
    let passed = answer(&client, "Paris", "Paris");
    let failed = answer(&client, "Lyon", "Paris");
    client.force_flush().unwrap();
    // Delivered by the time the shutdown returns.
    let deadline = Instant::now() + Duration::from_secs(60);
    while serve.metric("verdict_serve_traces_scored_total") < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, said) = serve.stop("TERM");
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains("mlflow: 4 spans and 2 feedback delivered"),
        "{said}"
    );
    for (trace, value) in [(passed, true), (failed, false)] {
        let (status, got) = server.get(&format!("/api/3.0/mlflow/traces/tr-{trace:032x}"));
        assert_eq!(status, 200, "{got}");
        let assessments = got["trace"]["trace_info"]["assessments"]
            .as_array()
            .unwrap();
        let feedback = assessments
            .iter()
            .find(|a| a["assessment_name"] == "exact_match")
            .unwrap_or_else(|| panic!("no feedback on {trace:032x}: {got}"));
        assert_eq!(feedback["feedback"]["value"], value, "{got}");
        assert_eq!(feedback["source"]["source_type"], "CODE");
        let (status, data) = server.get(&format!(
            "/ajax-api/3.0/mlflow/get-trace-artifact?request_id=tr-{trace:032x}"
        ));
        assert_eq!(status, 200, "{data}");
        let mut names: Vec<&str> = data["spans"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["answer", "llm"], "{data}");
    }
    drop(client);
}

#[test]
fn no_store_without_a_destination_is_refused_before_listening() {
    let out = common::verdict(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--scorer",
        "exact_match",
        "--no-store",
    ]);
    let (code, _, stderr) = common::text_of(&out);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("would go nowhere"), "{stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");
}

/// A scorer that reads the trace is handed the assembled trace, every span
/// of it: `span_status` fails the trace whose child span failed, beside
/// exact match on the root's record.
#[test]
fn a_trace_scorer_reads_each_assembled_trace() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = OtlpReceiver::start().unwrap();
    let serve = Serve::start(
        dir.path(),
        &receiver.endpoint(),
        &["--scorer", "span_status", "--scorer", "exact_match"],
    );
    let provider = sdk_client(&serve.url, Protocol::HttpBinary, false);
    let tracer = provider.tracer("service");
    let mut traces = Vec::new();
    for child_failed in [false, true] {
        traces.push(tracer.in_span("answer", |cx| {
            let span = cx.span();
            span.set_attribute(KeyValue::new("mlflow.spanInputs", r#""capital?""#));
            span.set_attribute(KeyValue::new("mlflow.spanOutputs", r#""Paris""#));
            let mut llm = tracer
                .span_builder("llm")
                .with_kind(SpanKind::Client)
                .start_with_context(&tracer, &cx);
            if child_failed {
                llm.set_status(opentelemetry::trace::Status::error("the model timed out"));
            }
            llm.end();
            span.span_context().trace_id()
        }));
    }
    provider.force_flush().unwrap();
    let give_up = Instant::now() + Duration::from_secs(30);
    while serve.metric("verdict_serve_traces_scored_total") < 2 {
        assert!(Instant::now() < give_up, "the traces were never scored");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, said) = serve.stop("TERM");
    assert_eq!(code, 0, "{said}");
    for (trace, ok) in traces.into_iter().zip([true, false]) {
        let shown = stored(dir.path(), trace);
        let assessments = shown["assessments"].as_array().unwrap();
        let status = assessments
            .iter()
            .find(|a| a["assessment_name"] == "span_status")
            .unwrap_or_else(|| panic!("{shown}"));
        assert_eq!(status["feedback"]["value"], ok, "{shown}");
        assert!(
            assessments
                .iter()
                .any(|a| a["assessment_name"] == "exact_match"),
            "{shown}"
        );
    }
    drop(provider);
}
