//! An HTTP proxy in front of a real MLflow server that can answer 503 for
//! a while or hold answers back, for the fault tests.
//!
//! Why a proxy: the real server is what must end up holding every
//! assessment exactly once, but it cannot be told to fail on cue. The proxy
//! forwards each request to it unchanged and injects the fault on the way:
//! a 503 instead of forwarding, or the real answer held back after the
//! server has acted on the request (the ambiguous case a client timeout
//! makes: the server has the assessment, the client does not know).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use verdict_export::testing::HttpStub;

/// What the proxy does to the next requests.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fault {
    /// Forwards every request.
    None,
    /// Answers this many more requests with 503 without forwarding them.
    Unavailable(usize),
    /// Forwards this many more requests, but holds each answer back this
    /// long first.
    SlowAnswers(usize, Duration),
}

pub(crate) struct FaultProxy {
    stub: HttpStub,
    fault: Arc<Mutex<Fault>>,
    forwarded: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// A proxy to `upstream` on `port` of 127.0.0.1 (0: a free one).
    pub(crate) fn start(upstream: &str, port: u16, fault: Fault) -> FaultProxy {
        let fault = Arc::new(Mutex::new(fault));
        let forwarded = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let upstream = upstream.to_owned();
        let (f, fw, rf) = (fault.clone(), forwarded.clone(), refused.clone());
        let stub = HttpStub::builder()
            .port(port)
            .content_type("application/json")
            .keep_bodies(false)
            .start(move |request| {
                let hold = {
                    let mut fault = f.lock().unwrap();
                    match *fault {
                        Fault::None => None,
                        Fault::Unavailable(n) => {
                            *fault = if n > 1 {
                                Fault::Unavailable(n - 1)
                            } else {
                                Fault::None
                            };
                            rf.fetch_add(1, Ordering::SeqCst);
                            return (
                                503,
                                br#"{"error_code": "TEMPORARILY_UNAVAILABLE"}"#.to_vec(),
                            );
                        }
                        Fault::SlowAnswers(n, delay) => {
                            *fault = if n > 1 {
                                Fault::SlowAnswers(n - 1, delay)
                            } else {
                                Fault::None
                            };
                            Some(delay)
                        }
                    }
                };
                fw.fetch_add(1, Ordering::SeqCst);
                let answer = forward(&agent, &upstream, request);
                if let Some(delay) = hold {
                    std::thread::sleep(delay);
                }
                answer
            })
            .expect("start the fault proxy");
        FaultProxy {
            stub,
            fault,
            forwarded,
            refused,
        }
    }

    pub(crate) fn url(&self) -> String {
        self.stub.url()
    }

    pub(crate) fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// The fault still to inject.
    pub(crate) fn fault(&self) -> Fault {
        *self.fault.lock().unwrap()
    }

    /// Requests forwarded to the server, and answered 503 by the proxy.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (
            self.forwarded.load(Ordering::SeqCst),
            self.refused.load(Ordering::SeqCst),
        )
    }
}

fn forward(
    agent: &ureq::Agent,
    upstream: &str,
    request: &verdict_export::testing::Request,
) -> (u16, Vec<u8>) {
    let url = format!("{upstream}{}", request.path);
    let mut builder = ureq::http::Request::builder()
        .method(request.method.as_str())
        .uri(&url);
    for name in ["content-type", "authorization", "x-mlflow-experiment-id"] {
        if let Some(value) = request.header(name) {
            builder = builder.header(name, value);
        }
    }
    let outgoing = builder.body(request.body.clone()).expect("a request");
    match agent.run(outgoing) {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let body = response.body_mut().read_to_vec().unwrap_or_default();
            (status, body)
        }
        Err(e) => (502, format!("proxy: {e}").into_bytes()),
    }
}
