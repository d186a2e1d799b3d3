//! Accepting connections, reading one OTLP/HTTP traces request into the
//! spans the store keeps, and the answers an OTLP exporter reads: the part of `verdict serve`'s
//! receiver that any other receiver of spans (`verdict eval --predict`'s
//! endpoint for the system under test) shares, so that there is one
//! decoder of OTLP requests in the workspace.
//!
//! What it refuses, and how: a `Content-Type` that is not OTLP's is 415;
//! a body past the size bound, declared or read, is 413; a body that does
//! not decode, or holds a span with invalid ids, is 400 with the reason
//! (see the `otlp` module: a request is taken whole or refused whole).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use prost::Message as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use verdict_store::StoredSpan;

use crate::otlp;
pub use crate::otlp::Encoding;

/// Accepts connections on `listener` until `stopped` changes, handing
/// each to `serve`, Nagle's algorithm off (answers are small and wanted at
/// once). An accept that fails (out of descriptors, say) is tried again
/// shortly rather than ending the server.
pub async fn accept_until_stopped(
    listener: &TcpListener,
    stopped: &mut watch::Receiver<bool>,
    mut serve: impl FnMut(TcpStream),
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => break,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        serve(stream);
    }
}

/// The gRPC code of a request that is refused for what it holds.
pub(crate) const INVALID_ARGUMENT: i32 = 3;

/// A request taken: its spans, each with the size it had in the request
/// (protobuf-encoded), and the encoding the answer is written in.
#[derive(Debug)]
pub struct Received {
    /// How the request was written, and so its answer.
    pub encoding: Encoding,
    /// Its spans with their encoded sizes, in request order.
    pub spans: Vec<(StoredSpan, usize)>,
}

/// Why a request was refused.
#[derive(Debug)]
pub enum Refusal {
    /// Its `Content-Type` is not OTLP's (415).
    UnsupportedType,
    /// Its body is larger than taken (413).
    TooLarge {
        /// The answer's encoding.
        encoding: Encoding,
        /// What was too large.
        message: String,
    },
    /// Its body does not read or decode, or holds an invalid span (400).
    Invalid {
        /// The answer's encoding.
        encoding: Encoding,
        /// What was wrong.
        message: String,
    },
}

impl Refusal {
    /// The answer an OTLP exporter reads: the status and a
    /// `google.rpc.Status` with the reason.
    pub fn response(&self) -> Response<Full<Bytes>> {
        match self {
            Refusal::UnsupportedType => plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send OTLP traces as application/x-protobuf or application/json",
            ),
            Refusal::TooLarge { encoding, message } => error(
                StatusCode::PAYLOAD_TOO_LARGE,
                *encoding,
                INVALID_ARGUMENT,
                message,
            ),
            Refusal::Invalid { encoding, message } => error(
                StatusCode::BAD_REQUEST,
                *encoding,
                INVALID_ARGUMENT,
                message,
            ),
        }
    }
}

/// Reads a `POST /v1/traces` request: its body, at most `max_body` bytes
/// compressed or not, decoded into spans, or refused whole.
pub async fn read_traces(request: Request<Incoming>, max_body: usize) -> Result<Received, Refusal> {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let Some(encoding) = header(CONTENT_TYPE).as_deref().and_then(Encoding::of) else {
        return Err(Refusal::UnsupportedType);
    };
    let too_large = || Refusal::TooLarge {
        encoding,
        message: format!(
            "the body is larger than {max_body} bytes, the largest request this server takes: \
             send smaller batches"
        ),
    };
    // Refused before reading it: a declared length past the bound.
    if header(CONTENT_LENGTH)
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n > max_body as u64)
    {
        return Err(too_large());
    }
    let content_encoding = header(CONTENT_ENCODING);
    let body = match Limited::new(request.into_body(), max_body).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => {
            return Err(Refusal::Invalid {
                encoding,
                message: format!("the body could not be read: {e}"),
            });
        }
    };
    otlp::decompress(body, content_encoding.as_deref(), max_body)
        .and_then(|body| otlp::decode(&body, encoding))
        .and_then(|request| {
            let sizes: Vec<usize> = request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .map(|s| s.encoded_len())
                .collect();
            otlp::spans(request).map(|spans| spans.into_iter().zip(sizes).collect())
        })
        .map(|spans| Received { encoding, spans })
        .map_err(|bad| Refusal::Invalid {
            encoding,
            message: bad.0,
        })
}

/// The answer to a request taken whole.
pub fn accepted(encoding: Encoding) -> Response<Full<Bytes>> {
    response(
        StatusCode::OK,
        encoding.content_type(),
        otlp::accepted(encoding),
    )
}

/// A plain-text answer.
pub fn plain(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    response(
        status,
        "text/plain; charset=utf-8",
        format!("{message}\n").into_bytes(),
    )
}

/// An error answer: `status` with a `google.rpc.Status` of `code` (a gRPC
/// code) and `message`, in the request's encoding.
pub(crate) fn error(
    status: StatusCode,
    encoding: Encoding,
    code: i32,
    message: &str,
) -> Response<Full<Bytes>> {
    response(
        status,
        encoding.content_type(),
        otlp::status(encoding, code, message),
    )
}

pub(crate) fn response(
    status: StatusCode,
    content_type: &str,
    body: Vec<u8>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}
