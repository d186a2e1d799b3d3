//! `--predict-url URL` through the `Predictor` trait: a real HTTP service
//! on 127.0.0.1 (Python's `http.server`, in a child process) that posts
//! real OTLP spans back to the run's endpoint. Hostile answers first.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{PRELUDE, Record, endpoint, wait_for_file};
use serde_json::json;
use verdict_eval::predict::{PREDICT_FAILED, PREDICT_TIMEOUT};
use verdict_predict::{SpanEndpoint, UrlPredictor};
use verdict_scorer::OwnedValue;

const LIMIT: Duration = Duration::from_secs(20);

/// Answers `POST /` by what the inputs ask: an echo with a span in the
/// `traceparent`'s trace, a 500 after a span, a body that is not JSON, or
/// nothing for an hour.
const SERVICE: &str = r#"
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        inputs = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        do = inputs.get("do") if isinstance(inputs, dict) else None
        if do == "500":
            send_span(self.headers["traceparent"], "before failing")
            self.reply(500, b"the model is down", "text/plain")
        elif do == "garbage":
            self.reply(200, b"<html>not json</html>", "text/html")
        elif do == "hang":
            time.sleep(3600)
        else:
            send_span(self.headers["traceparent"], "service")
            self.reply(200, json.dumps({"echo": inputs, "traceparent": self.headers["traceparent"]}).encode())

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % server.server_address[1])
server.serve_forever()
"#;

/// The service, running, and its URL; killed when dropped.
struct Service {
    child: Child,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn service(dir: &std::path::Path, endpoint: &SpanEndpoint) -> Service {
    let script = dir.join("service.py");
    std::fs::write(&script, format!("{PRELUDE}\n{SERVICE}")).unwrap();
    let port_file = dir.join("port");
    let child = Command::new("python3")
        .arg(&script)
        .arg(&port_file)
        .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint.traces_url())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let port = wait_for_file(&port_file);
    Service {
        child,
        url: format!("http://127.0.0.1:{}/predict", port.trim()),
    }
}

fn predictor(url: &str, endpoint: &Arc<SpanEndpoint>) -> UrlPredictor {
    UrlPredictor::new(url, Arc::clone(endpoint), Duration::from_millis(200)).unwrap()
}

#[test]
fn a_500_fails_the_record_with_its_status_and_body_and_keeps_its_spans() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = endpoint();
    let service = service(dir.path(), &endpoint);
    let error = Record::new(1, json!({"do": "500"}))
        .call(&predictor(&service.url, &endpoint), LIMIT)
        .unwrap_err();
    assert_eq!(error.code(), PREDICT_FAILED);
    let message = error.to_string();
    assert!(
        message.contains("answered 500 Internal Server Error"),
        "{message}"
    );
    assert!(message.contains("the model is down"), "{message}");
    // The span the service sent before it failed is the record's.
    let (_, spans) = error.into_parts();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["before failing"]);
}

#[test]
fn a_body_that_is_not_json_fails_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = endpoint();
    let service = service(dir.path(), &endpoint);
    let error = Record::new(1, json!({"do": "garbage"}))
        .call(&predictor(&service.url, &endpoint), LIMIT)
        .unwrap_err();
    assert_eq!(error.code(), PREDICT_FAILED);
    assert!(
        error
            .to_string()
            .contains("answered 200 OK with a body that is not JSON"),
        "{error}"
    );
}

#[test]
fn a_service_that_hangs_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = endpoint();
    let service = service(dir.path(), &endpoint);
    let predictor = predictor(&service.url, &endpoint);
    let error = Record::new(1, json!({"do": "hang"}))
        .call(&predictor, Duration::from_millis(300))
        .unwrap_err();
    assert_eq!(error.code(), PREDICT_TIMEOUT);
    // The next record is called as usual.
    Record::new(2, json!({"q": 2}))
        .call(&predictor, LIMIT)
        .unwrap();
}

#[test]
fn a_refused_connection_fails_the_record_and_says_so() {
    // A port that was free a moment ago, and nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = endpoint();
    let url = format!("http://127.0.0.1:{port}/predict");
    let error = Record::new(1, json!({"q": 1}))
        .call(&predictor(&url, &endpoint), LIMIT)
        .unwrap_err();
    assert_eq!(error.code(), PREDICT_FAILED);
    let message = error.to_string();
    assert!(message.contains(&url), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[test]
fn a_url_that_is_not_http_is_refused_up_front() {
    let endpoint = endpoint();
    for url in ["ftp://example.com/x", "not a url"] {
        let error = UrlPredictor::new(url, Arc::clone(&endpoint), Duration::ZERO)
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .contains("is not an http:// or https:// URL"),
            "{error}"
        );
    }
}

#[test]
fn the_body_is_the_outputs_and_the_services_spans_are_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = endpoint();
    let service = service(dir.path(), &endpoint);
    let predictor = Arc::new(predictor(&service.url, &endpoint));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let predictor = Arc::clone(&predictor);
            std::thread::spawn(move || {
                for i in 0..5 {
                    let n = t * 10 + i;
                    let record = Record::new(n + 1, json!({"q": n}));
                    let prediction = record.call(&*predictor, LIMIT).unwrap();
                    let OwnedValue::Json(text) = &prediction.outputs else {
                        panic!("{:?}", prediction.outputs)
                    };
                    let outputs: serde_json::Value = serde_json::from_str(text).unwrap();
                    assert_eq!(outputs["echo"], json!({"q": n}));
                    assert_eq!(
                        outputs["traceparent"],
                        json!(format!(
                            "00-{:032x}-{:016x}-01",
                            record.trace_id, record.parent
                        ))
                    );
                    assert_eq!(prediction.spans.len(), 1);
                    assert_eq!(prediction.spans[0].trace_id, record.trace_id);
                    assert_eq!(prediction.spans[0].parent_span_id, Some(record.parent));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}
