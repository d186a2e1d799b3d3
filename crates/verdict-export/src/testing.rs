//! In-process HTTP servers for tests (feature `testing`).
//!
//! [`HttpStub`] (from `verdict-mlflow`'s `testing`) is a small HTTP/1.1
//! server on 127.0.0.1 that answers what its handler says.
//!
//! ```
//! use verdict_export::testing::HttpStub;
//!
//! let stub = HttpStub::start(|request| (200, request.body.clone()))?;
//! assert!(stub.requests().is_empty());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! [`OtlpReceiver`] is one: it takes OTLP/HTTP posts to `/v1/traces` and
//! `/v1/logs` — protobuf (`application/x-protobuf`) or JSON
//! (`application/json`) bodies, gzip-compressed or not
//! (`Content-Encoding: gzip`) — decodes them with `opentelemetry-proto`
//! (the official messages, and their OTLP/JSON mapping) into the real
//! request messages, keeps what they carry and answers 200 with an empty
//! response. A body it cannot decode, or one of another content type or
//! encoding, is answered 400 and kept nowhere but in
//! [`requests`](OtlpReceiver::requests).
//!
//! ```
//! use verdict_export::testing::OtlpReceiver;
//!
//! let receiver = OtlpReceiver::start()?;
//! let base = receiver.endpoint(); // http://127.0.0.1:<port>
//! assert!(receiver.spans().is_empty());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The OTLP messages the receiver decodes into, for tests that read
/// them without depending on `opentelemetry-proto` themselves.
pub use opentelemetry_proto as proto;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
pub use verdict_mlflow::testing::{Handler, HttpStub, HttpStubBuilder, ReceivedRequest, Request};

#[derive(Debug, Default)]
struct Received {
    traces: Vec<ExportTraceServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
}

#[derive(Debug)]
struct Shared {
    keep: bool,
    received: Mutex<Received>,
    spans: AtomicU64,
    log_records: AtomicU64,
}

/// An OTLP/HTTP receiver on 127.0.0.1 running in background threads until
/// dropped. See the [module docs](self).
#[derive(Debug)]
pub struct OtlpReceiver {
    stub: HttpStub,
    shared: Arc<Shared>,
}

impl OtlpReceiver {
    /// Starts a receiver that keeps every request it decodes.
    pub fn start() -> io::Result<Self> {
        Self::start_with(true, 0)
    }

    /// As [`start`](Self::start), on this port of 127.0.0.1: a receiver
    /// that comes up where a service already sends (after an outage, say).
    pub fn start_on(port: u16) -> io::Result<Self> {
        Self::start_with(true, port)
    }

    /// Starts a receiver that decodes every request but keeps only the
    /// counts of spans and log records, for benchmarks.
    pub fn start_counting() -> io::Result<Self> {
        Self::start_with(false, 0)
    }

    fn start_with(keep: bool, port: u16) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            keep,
            received: Mutex::default(),
            spans: AtomicU64::new(0),
            log_records: AtomicU64::new(0),
        });
        let handler_shared = shared.clone();
        let stub = HttpStub::builder()
            .port(port)
            .content_type("application/x-protobuf")
            .keep_bodies(keep)
            .start(move |request| {
                // An empty protobuf message encodes as zero bytes.
                if request.method != "POST" {
                    return (405, Vec::new());
                }
                match receive(&handler_shared, request) {
                    Ok(true) => (200, Vec::new()),
                    Ok(false) => (404, Vec::new()),
                    Err(why) => (400, why.to_string().into_bytes()),
                }
            })?;
        Ok(OtlpReceiver { stub, shared })
    }

    /// The base URL, `http://127.0.0.1:<port>`, for
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        self.stub.url()
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
        self.stub.requests()
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
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn lock(&self) -> MutexGuard<'_, Received> {
        lock(&self.shared.received)
    }
}

/// Why a body was not decoded; said in the 400's body.
#[derive(Debug, thiserror::Error)]
enum Undecodable {
    #[error("not an OTLP protobuf message: {0}")]
    Protobuf(prost::DecodeError),
    #[error("not an OTLP/JSON message: {0}")]
    Json(serde_json::Error),
    #[error("not a gzip body: {0}")]
    Gzip(io::Error),
    #[error("a content type or encoding OTLP/HTTP does not use")]
    Unsupported,
}

/// The body of a request, decompressed as its `Content-Encoding` says.
fn plain_body(request: &Request) -> Result<std::borrow::Cow<'_, [u8]>, Undecodable> {
    match request.header("content-encoding") {
        None | Some("identity") => Ok(std::borrow::Cow::Borrowed(&request.body)),
        Some("gzip") => {
            let mut plain = Vec::new();
            io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(request.body.as_slice()),
                &mut plain,
            )
            .map_err(Undecodable::Gzip)?;
            Ok(std::borrow::Cow::Owned(plain))
        }
        Some(_) => Err(Undecodable::Unsupported),
    }
}

/// Decodes a request body, protobuf or JSON as its `Content-Type` says.
fn decode<M: prost::Message + Default + serde::de::DeserializeOwned>(
    request: &Request,
) -> Result<M, Undecodable> {
    let body = plain_body(request)?;
    let content_type = request.header("content-type").unwrap_or_default();
    match content_type.split(';').next().unwrap_or_default().trim() {
        "application/x-protobuf" => M::decode(&*body).map_err(Undecodable::Protobuf),
        "application/json" => serde_json::from_slice(&body).map_err(Undecodable::Json),
        _ => Err(Undecodable::Unsupported),
    }
}

/// Decodes and keeps one request; false for an unknown path.
fn receive(shared: &Shared, request: &Request) -> Result<bool, Undecodable> {
    match request.path.as_str() {
        "/v1/traces" => {
            let request: ExportTraceServiceRequest = decode(request)?;
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
            let request: ExportLogsServiceRequest = decode(request)?;
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

/// A receiver that hangs: it accepts every connection and reads whatever
/// is sent, and never answers — the collector that is up but stuck, for
/// which a client waits out its whole timeout. Runs in background threads
/// until dropped, when it closes every connection.
///
/// ```
/// use verdict_export::testing::HangingReceiver;
///
/// let hanging = HangingReceiver::start()?;
/// let base = hanging.endpoint(); // http://127.0.0.1:<port>
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct HangingReceiver {
    addr: std::net::SocketAddr,
    connections: Arc<Mutex<Vec<std::net::TcpStream>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    accepting: Option<std::thread::JoinHandle<()>>,
}

impl HangingReceiver {
    /// Starts one on a free port of 127.0.0.1.
    pub fn start() -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (kept, stopped) = (connections.clone(), stop.clone());
        let accepting = std::thread::Builder::new()
            .name("hanging-receiver".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Ok(clone) = stream.try_clone() {
                        lock(&kept).push(clone);
                    }
                    let _ = std::thread::Builder::new()
                        .name("hanging-receiver-conn".into())
                        .spawn(move || {
                            let mut stream = stream;
                            let _ = io::copy(&mut stream, &mut io::sink());
                        });
                }
            })?;
        Ok(HangingReceiver {
            addr,
            connections,
            stop,
            accepting: Some(accepting),
        })
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        lock(&self.connections).len()
    }
}

impl Drop for HangingReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for stream in lock(&self.connections).drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        // Wakes the accepting thread so that it sees the flag, and waits
        // for it to close the port, so that another server can take it.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
