//! `verdict eval --predict-url URL`: the system under test as an HTTP
//! endpoint. Each record is one `POST URL` whose body is the record's
//! inputs as JSON (`Content-Type: application/json`), with a W3C
//! `traceparent` header naming the record's trace and root span; the
//! answer's body, JSON, is the record's outputs as it is (an object, a
//! string, a number…). No envelope: an endpoint that already takes and
//! returns JSON needs nothing added.
//!
//! A status other than 2xx, a body that is not JSON, a refused or broken
//! connection are PREDICT_FAILED with the status or the error in the
//! message; no answer within the call's time limit is PREDICT_TIMEOUT.
//! Spans the service sends to the run's OTLP endpoint in the record's
//! trace are the record's, as for a command.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use verdict_eval::predict::{Call, PredictError, Prediction, Predictor};
use verdict_scorer::OwnedValue;
use verdict_store::StoredSpan;

use crate::endpoint::SpanEndpoint;
use crate::protocol;

/// The longest answer body taken, in bytes.
const MAX_BODY: u64 = 16 << 20;

/// The system under test behind an HTTP endpoint.
pub struct UrlPredictor {
    url: reqwest::Url,
    client: reqwest::blocking::Client,
    endpoint: Arc<SpanEndpoint>,
    span_grace: Duration,
}

/// Why the URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// It does not parse, or is not http(s).
    #[error("--predict-url {url:?} is not an http:// or https:// URL{}", .why.as_deref().map(|w| format!(": {w}")).unwrap_or_default())]
    Invalid {
        /// What was given.
        url: String,
        /// What the parser said.
        why: Option<String>,
    },
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

impl UrlPredictor {
    /// A predictor posting to `url`; spans arrive at `endpoint`, and a call
    /// waits up to `span_grace` for the service's top-level span.
    pub fn new(
        url: &str,
        endpoint: Arc<SpanEndpoint>,
        span_grace: Duration,
    ) -> Result<Self, UrlError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| UrlError::Invalid {
            url: url.to_owned(),
            why: Some(e.to_string()),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(UrlError::Invalid {
                url: url.to_owned(),
                why: None,
            });
        }
        let client = reqwest::blocking::Client::builder()
            // Each call sets its own time limit.
            .timeout(None)
            .build()
            .map_err(|e| UrlError::Client(e.to_string()))?;
        Ok(UrlPredictor {
            url: parsed,
            client,
            endpoint,
            span_grace,
        })
    }
}

impl Predictor for UrlPredictor {
    fn predict(&self, call: Call<'_>) -> Result<Prediction, PredictError> {
        let watch = self
            .endpoint
            .watch(call.trace_id, call.parent_span_id, call.named_trace);
        match self.ask(&call) {
            Ok(outputs) => Ok(Prediction {
                outputs,
                spans: watch.take(call.parent_span_id, self.span_grace),
            }),
            // What the service sent before it failed stays with the
            // record, as a process's does; a service that answered may
            // still be sending it.
            Err(Failure { error, answered }) => {
                let grace = if answered {
                    self.span_grace
                } else {
                    Duration::ZERO
                };
                Err(error.with_spans(watch.take(call.parent_span_id, grace)))
            }
        }
    }

    fn spans_so_far(&self, call: Call<'_>) -> Vec<StoredSpan> {
        self.endpoint.take_now(call.trace_id, call.parent_span_id)
    }
}

impl UrlPredictor {
    /// Posts the record's inputs and reads the answer's outputs.
    fn ask(&self, call: &Call<'_>) -> Result<OwnedValue, Failure> {
        let mut body = Vec::with_capacity(128);
        protocol::write_json(&mut body, call.inputs);
        let traceparent = protocol::traceparent(call.trace_id, call.parent_span_id);
        let response = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("traceparent", traceparent)
            .timeout(call.time_limit)
            .body(body)
            .send()
            .map_err(|e| Failure::unanswered(self.failure(&e, call.time_limit)))?;
        let status = response.status();
        if response.content_length().is_some_and(|n| n > MAX_BODY) {
            return Err(PredictError::Failed(format!(
                "{} answered {status} with a body of more than {MAX_BODY} bytes",
                self.url
            ))
            .into());
        }
        let mut text = Vec::new();
        use std::io::Read as _;
        response
            .take(MAX_BODY + 1)
            .read_to_end(&mut text)
            .map_err(|e| {
                if is_timeout(&e) {
                    PredictError::TimedOut(call.time_limit)
                } else {
                    PredictError::Failed(format!(
                        "{} answered {status}, but its body could not be read: {e}",
                        self.url
                    ))
                }
            })?;
        if text.len() as u64 > MAX_BODY {
            return Err(PredictError::Failed(format!(
                "{} answered {status} with a body of more than {MAX_BODY} bytes",
                self.url
            ))
            .into());
        }
        let body = || protocol::excerpt(&String::from_utf8_lossy(&text));
        if !status.is_success() {
            return Err(PredictError::Failed(format!(
                "{} answered {status}: {}",
                self.url,
                body()
            ))
            .into());
        }
        let outputs: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
            PredictError::Failed(format!(
                "{} answered {status} with a body that is not JSON ({e}): {}",
                self.url,
                body()
            ))
        })?;
        Ok(OwnedValue::from(outputs))
    }

    fn failure(&self, error: &reqwest::Error, limit: Duration) -> PredictError {
        if error.is_timeout() {
            return PredictError::TimedOut(limit);
        }
        // The chain says what failed underneath ("Connection refused").
        let mut message = format!("POST {} failed: {error}", self.url);
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        PredictError::Failed(message)
    }
}

/// Why a post gave no outputs, and whether the service answered it (its
/// spans may then still be on their way).
struct Failure {
    error: PredictError,
    answered: bool,
}

impl Failure {
    fn unanswered(error: PredictError) -> Self {
        Failure {
            error,
            answered: false,
        }
    }
}

impl From<PredictError> for Failure {
    fn from(error: PredictError) -> Self {
        Failure {
            error,
            answered: true,
        }
    }
}

fn is_timeout(error: &std::io::Error) -> bool {
    if error.kind() == std::io::ErrorKind::TimedOut {
        return true;
    }
    let mut source = error
        .get_ref()
        .map(|e| e as &(dyn std::error::Error + 'static));
    while let Some(cause) = source {
        if cause
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
        {
            return true;
        }
        source = cause.source();
    }
    false
}
