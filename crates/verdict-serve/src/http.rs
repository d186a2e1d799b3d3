//! The HTTP side: `POST /v1/traces` (OTLP/HTTP, protobuf or JSON, gzip or
//! not) and `GET /metrics`, on hyper's HTTP/1.1 server.
//!
//! Answers, as OTLP/HTTP exporters (the SDKs', the Collector's) read them:
//! 200 with an `ExportTraceServiceResponse` when the request was taken;
//! 400 with a `google.rpc.Status` when it does not decode or holds a span
//! with invalid ids (not retried); 413 when it is larger than the server
//! takes; 415 for a `Content-Type` that is not OTLP's; 429 with
//! `Retry-After` when the held traces are at their bound, 503 with
//! `Retry-After` while shutting down (both retried later).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use prost::Message as _;

use crate::hold::{Holding, Refused};
use crate::metrics::{Counters, add};
use crate::otlp::{self, Encoding};

/// What every request handler shares.
pub(crate) struct Context {
    pub(crate) holding: Arc<Holding>,
    pub(crate) counters: Arc<Counters>,
    /// The largest body taken, compressed or not.
    pub(crate) max_body: usize,
    pub(crate) retry_after: Duration,
}

/// gRPC codes a `google.rpc.Status` carries.
const INVALID_ARGUMENT: i32 = 3;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAVAILABLE: i32 = 14;

pub(crate) async fn handle(
    request: Request<Incoming>,
    context: Arc<Context>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match (request.method(), request.uri().path()) {
        (&Method::POST, "/v1/traces") => traces(request, &context).await,
        (&Method::GET, "/metrics") => {
            let text = context.counters.prometheus(context.holding.held());
            response(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                text.into_bytes(),
            )
        }
        (_, "/v1/traces" | "/metrics") => plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST /v1/traces takes OTLP traces; GET /metrics gives the counters",
        ),
        _ => plain(
            StatusCode::NOT_FOUND,
            "this server takes OTLP traces on POST /v1/traces and gives its counters on GET \
             /metrics",
        ),
    })
}

async fn traces(request: Request<Incoming>, context: &Context) -> Response<Full<Bytes>> {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let Some(encoding) = header(CONTENT_TYPE).as_deref().and_then(Encoding::of) else {
        add(&context.counters.requests_refused_invalid, 1);
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send OTLP traces as application/x-protobuf or application/json",
        );
    };
    let too_large = |context: &Context| {
        add(&context.counters.requests_refused_too_large, 1);
        let message = format!(
            "the body is larger than {} bytes, the largest request this server takes: send \
             smaller batches",
            context.max_body
        );
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            encoding,
            INVALID_ARGUMENT,
            &message,
        )
    };
    // Refused before reading it: a declared length past the bound.
    if header(CONTENT_LENGTH)
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n > context.max_body as u64)
    {
        return too_large(context);
    }
    let content_encoding = header(CONTENT_ENCODING);
    let body = match Limited::new(request.into_body(), context.max_body)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(context),
        Err(e) => {
            add(&context.counters.requests_refused_invalid, 1);
            return error(
                StatusCode::BAD_REQUEST,
                encoding,
                INVALID_ARGUMENT,
                &format!("the body could not be read: {e}"),
            );
        }
    };
    let spans = otlp::decompress(body, content_encoding.as_deref(), context.max_body)
        .and_then(|body| otlp::decode(&body, encoding))
        .and_then(|request| {
            let sizes: Vec<usize> = request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .map(|s| s.encoded_len())
                .collect();
            otlp::spans(request).map(|spans| spans.into_iter().zip(sizes).collect::<Vec<_>>())
        });
    let spans = match spans {
        Ok(spans) => spans,
        Err(bad) => {
            add(&context.counters.requests_refused_invalid, 1);
            return error(StatusCode::BAD_REQUEST, encoding, INVALID_ARGUMENT, &bad.0);
        }
    };
    let count = spans.len();
    match context.holding.add(spans) {
        Ok(()) => {
            add(&context.counters.requests_accepted, 1);
            add(&context.counters.spans_received, count);
            response(
                StatusCode::OK,
                encoding.content_type(),
                otlp::accepted(encoding),
            )
        }
        Err(refused) => {
            add(&context.counters.spans_refused, count);
            let (status, code, message, counter) = match &refused {
                Refused::Full(why) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    RESOURCE_EXHAUSTED,
                    why.as_str(),
                    &context.counters.requests_refused_full,
                ),
                Refused::Closing => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    UNAVAILABLE,
                    "shutting down: send to another replica, or retry later",
                    &context.counters.requests_refused_closing,
                ),
                Refused::TooLarge(why) => {
                    add(&context.counters.requests_refused_too_large, 1);
                    return error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        encoding,
                        INVALID_ARGUMENT,
                        why,
                    );
                }
            };
            add(counter, 1);
            let mut answer = error(status, encoding, code, message);
            answer.headers_mut().insert(
                RETRY_AFTER,
                context
                    .retry_after
                    .as_secs()
                    .max(1)
                    .to_string()
                    .parse()
                    .unwrap_or_else(|_| hyper::header::HeaderValue::from_static("1")),
            );
            answer
        }
    }
}

fn response(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

fn plain(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    response(
        status,
        "text/plain; charset=utf-8",
        format!("{message}\n").into_bytes(),
    )
}

fn error(
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
