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
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::RETRY_AFTER;
use hyper::{Method, Request, Response, StatusCode};

use crate::hold::{Holding, Refused};
use crate::metrics::{Counters, add};
use crate::receive::{self, INVALID_ARGUMENT, Received, Refusal};

/// What every request handler shares.
pub(crate) struct Context {
    pub(crate) holding: Arc<Holding>,
    pub(crate) counters: Arc<Counters>,
    /// The largest body taken, compressed or not.
    pub(crate) max_body: usize,
    pub(crate) retry_after: Duration,
}

/// gRPC codes a `google.rpc.Status` carries.
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
            receive::response(
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
    let Received { encoding, spans } = match receive::read_traces(request, context.max_body).await {
        Ok(received) => received,
        Err(refused) => {
            let counter = match refused {
                Refusal::TooLarge { .. } => &context.counters.requests_refused_too_large,
                Refusal::UnsupportedType | Refusal::Invalid { .. } => {
                    &context.counters.requests_refused_invalid
                }
            };
            add(counter, 1);
            return refused.response();
        }
    };
    let count = spans.len();
    match context.holding.add(spans) {
        Ok(()) => {
            add(&context.counters.requests_accepted, 1);
            add(&context.counters.spans_received, count);
            receive::accepted(encoding)
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
                    return receive::error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        encoding,
                        INVALID_ARGUMENT,
                        why,
                    );
                }
            };
            add(counter, 1);
            let mut answer = receive::error(status, encoding, code, message);
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

fn plain(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    receive::plain(status, message)
}
