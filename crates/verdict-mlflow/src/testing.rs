//! An in-process HTTP server for tests (feature `testing`).
//!
//! [`HttpStub`] is a small HTTP/1.1 server on 127.0.0.1: it reads each
//! request (request line, headers, a body with a `Content-Length`), keeps
//! it, and answers what its handler says. Connections are kept alive, one
//! thread each; answers go out in one write with `TCP_NODELAY`.
//!
//! ```
//! use verdict_mlflow::testing::HttpStub;
//!
//! let stub = HttpStub::start(|request| (200, request.body.clone()))?;
//! let base = stub.url(); // http://127.0.0.1:<port>
//! assert!(stub.requests().is_empty());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

/// One HTTP request as an [`HttpStub`] read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, such as `POST`.
    pub method: String,
    /// The request target, such as `/v1/logs`.
    pub path: String,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body (empty when the stub keeps no bodies).
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request the OTLP receiver took.
pub type ReceivedRequest = Request;

/// What an [`HttpStub`] answers: the status and the body of the response.
pub type Handler = dyn Fn(&Request) -> (u16, Vec<u8>) + Send + Sync;

/// How to start an [`HttpStub`]; see [`HttpStub::builder`].
#[derive(Debug, Clone)]
pub struct HttpStubBuilder {
    port: u16,
    content_type: String,
    keep_bodies: bool,
}

impl HttpStubBuilder {
    /// Listens on this port of 127.0.0.1 (default: a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The `content-type` of every response (default
    /// `application/octet-stream`).
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = content_type.into();
        self
    }

    /// Whether [`HttpStub::requests`] keeps the bodies (default true).
    pub fn keep_bodies(mut self, keep: bool) -> Self {
        self.keep_bodies = keep;
        self
    }

    /// Starts the server with the handler that answers each request.
    pub fn start(
        self,
        handler: impl Fn(&Request) -> (u16, Vec<u8>) + Send + Sync + 'static,
    ) -> io::Result<HttpStub> {
        let listener = TcpListener::bind(("127.0.0.1", self.port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(StubShared {
            handler: Box::new(handler),
            content_type: self.content_type,
            keep_bodies: self.keep_bodies,
            requests: Mutex::default(),
            stop: AtomicBool::new(false),
        });
        let accept_shared = shared.clone();
        thread::Builder::new()
            .name("http-stub".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = accept_shared.clone();
                    let _ = thread::Builder::new()
                        .name("http-stub-conn".into())
                        .spawn(move || {
                            let _ = shared.serve(stream);
                        });
                }
            })?;
        Ok(HttpStub { addr, shared })
    }
}

struct StubShared {
    handler: Box<Handler>,
    content_type: String,
    keep_bodies: bool,
    requests: Mutex<Vec<Request>>,
    stop: AtomicBool,
}

/// A small HTTP/1.1 server on 127.0.0.1 running in background threads
/// until dropped. See the [module docs](self).
pub struct HttpStub {
    addr: SocketAddr,
    shared: Arc<StubShared>,
}

impl fmt::Debug for HttpStub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpStub")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl HttpStub {
    /// Options: port, response content type, whether to keep bodies.
    pub fn builder() -> HttpStubBuilder {
        HttpStubBuilder {
            port: 0,
            content_type: "application/octet-stream".into(),
            keep_bodies: true,
        }
    }

    /// Starts a stub on a free port that answers with `handler`.
    pub fn start(
        handler: impl Fn(&Request) -> (u16, Vec<u8>) + Send + Sync + 'static,
    ) -> io::Result<HttpStub> {
        Self::builder().start(handler)
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request taken so far, in the order answered.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

impl StubShared {
    /// Serves the requests of one connection until the client closes it.
    fn serve(&self, stream: TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)?;
        let mut writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        while let Some((mut request, version)) = read_request(&mut reader)? {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let (status, body) = if version == "HTTP/1.1" {
                (self.handler)(&request)
            } else {
                (505, Vec::new())
            };
            if !self.keep_bodies {
                request.body = Vec::new();
            }
            lock(&self.requests).push(request);
            // One write: a response in pieces would wait on Nagle and
            // delayed ACKs.
            let mut response = format!(
                "HTTP/1.1 {status} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\n\r\n",
                reason(status),
                self.content_type,
                body.len()
            )
            .into_bytes();
            response.extend_from_slice(&body);
            writer.write_all(&response)?;
        }
        Ok(())
    }
}

/// Reads one request and its HTTP version; `None` when the client closed
/// the connection.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<(Request, String)>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let mut part = || parts.next().unwrap_or_default().to_owned();
    let (method, path, version) = (part(), part(), part());

    let mut headers = Vec::new();
    let mut content_length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
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
    let request = Request {
        method,
        path,
        headers,
        body,
    };
    Ok(Some((request, version)))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
