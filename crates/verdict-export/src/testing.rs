//! An in-process OTLP receiver for tests (feature `testing`).
//!
//! [`OtlpReceiver`] listens on a free port of 127.0.0.1, takes OTLP/HTTP
//! protobuf posts to `/v1/traces` and `/v1/logs`, decodes them with
//! `opentelemetry-proto` into the real request messages, keeps what they
//! carry and answers 200 with an empty protobuf response. It speaks just
//! enough HTTP/1.1 for an OTLP exporter: keep-alive connections, bodies
//! with a `Content-Length`.
//!
//! ```
//! use verdict_export::testing::OtlpReceiver;
//!
//! let receiver = OtlpReceiver::start()?;
//! let base = receiver.endpoint(); // http://127.0.0.1:<port>
//! assert!(receiver.spans().is_empty());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// One HTTP request the receiver took.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// The request path, such as `/v1/logs`.
    pub path: String,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body's length in bytes.
    pub body_len: usize,
}

impl ReceivedRequest {
    /// The value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Received {
    requests: Vec<ReceivedRequest>,
    traces: Vec<ExportTraceServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
}

#[derive(Debug)]
struct Shared {
    keep: bool,
    received: Mutex<Received>,
    spans: AtomicU64,
    log_records: AtomicU64,
    stop: AtomicBool,
}

/// An OTLP/HTTP receiver on 127.0.0.1 running in background threads until
/// dropped. See the [module docs](self).
#[derive(Debug)]
pub struct OtlpReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl OtlpReceiver {
    /// Starts a receiver that keeps every request it decodes.
    pub fn start() -> io::Result<Self> {
        Self::start_with(true)
    }

    /// Starts a receiver that decodes every request but keeps only the
    /// counts of spans and log records, for benchmarks.
    pub fn start_counting() -> io::Result<Self> {
        Self::start_with(false)
    }

    fn start_with(keep: bool) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            keep,
            received: Mutex::default(),
            spans: AtomicU64::new(0),
            log_records: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let accept_shared = shared.clone();
        thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = accept_shared.clone();
                    let _ = thread::Builder::new()
                        .name("otlp-receiver-conn".into())
                        .spawn(move || {
                            let _ = serve(stream, &shared);
                        });
                }
            })?;
        Ok(OtlpReceiver { addr, shared })
    }

    /// The base URL, `http://127.0.0.1:<port>`, for
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of spans, `<base>/v1/traces`.
    pub fn traces_endpoint(&self) -> String {
        format!("{}/v1/traces", self.endpoint())
    }

    /// The URL of log records, `<base>/v1/logs`.
    pub fn logs_endpoint(&self) -> String {
        format!("{}/v1/logs", self.endpoint())
    }

    /// Every request taken so far, in arrival order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.lock().requests.clone()
    }

    /// Every decoded trace export request.
    pub fn trace_requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.lock().traces.clone()
    }

    /// Every decoded logs export request.
    pub fn log_requests(&self) -> Vec<ExportLogsServiceRequest> {
        self.lock().logs.clone()
    }

    /// Every span received, flattened out of resources and scopes.
    pub fn spans(&self) -> Vec<Span> {
        self.lock()
            .traces
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| s.spans.iter().cloned())
            .collect()
    }

    /// Every log record received, flattened out of resources and scopes.
    pub fn log_records(&self) -> Vec<LogRecord> {
        self.lock()
            .logs
            .iter()
            .flat_map(|r| &r.resource_logs)
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| s.log_records.iter().cloned())
            .collect()
    }

    /// How many spans arrived, kept or not.
    pub fn span_count(&self) -> u64 {
        self.shared.spans.load(Ordering::Acquire)
    }

    /// How many log records arrived, kept or not.
    pub fn log_record_count(&self) -> u64 {
        self.shared.log_records.load(Ordering::Acquire)
    }

    /// Waits until at least `spans` spans and `log_records` log records
    /// have arrived; false if they have not after `timeout`.
    pub fn wait_for(&self, spans: u64, log_records: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.span_count() >= spans && self.log_record_count() >= log_records {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn lock(&self) -> MutexGuard<'_, Received> {
        lock(&self.shared.received)
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn lock(mutex: &Mutex<Received>) -> MutexGuard<'_, Received> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Serves the requests of one connection until the client closes it.
fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || shared.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let request_line = line.trim_end().to_owned();
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();

        let mut headers = Vec::new();
        let mut content_length = 0usize;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim().to_owned();
                if name == "content-length" {
                    content_length = value.parse().unwrap_or(0);
                }
                headers.push((name, value));
            }
        }
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body)?;

        let status = if method != "POST" {
            "405 Method Not Allowed"
        } else {
            match receive(shared, &path, &body) {
                Ok(true) => "200 OK",
                Ok(false) => "404 Not Found",
                Err(_) => "400 Bad Request",
            }
        };
        {
            let mut received = lock(&shared.received);
            received.requests.push(ReceivedRequest {
                path,
                headers,
                body_len: body.len(),
            });
        }
        // An empty protobuf message encodes as zero bytes. One write: a
        // response in pieces would wait on Nagle and delayed ACKs.
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
        );
        writer.write_all(response.as_bytes())?;
    }
}

/// Decodes and keeps one request body; false for an unknown path.
fn receive(shared: &Shared, path: &str, body: &[u8]) -> Result<bool, prost::DecodeError> {
    match path {
        "/v1/traces" => {
            let request = ExportTraceServiceRequest::decode(body)?;
            let n: usize = request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            if shared.keep {
                lock(&shared.received).traces.push(request);
            }
            shared.spans.fetch_add(n as u64, Ordering::Release);
        }
        "/v1/logs" => {
            let request = ExportLogsServiceRequest::decode(body)?;
            let n: usize = request
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum();
            if shared.keep {
                lock(&shared.received).logs.push(request);
            }
            shared.log_records.fetch_add(n as u64, Ordering::Release);
        }
        _ => return Ok(false),
    }
    Ok(true)
}
