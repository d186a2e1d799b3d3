//! An instrumented service: a small HTTP question-answering service whose
//! answers are traced with `tracing`, checked inline by a CODE scorer, and
//! judged by its users with a thumbs up or down — everything landing in
//! Verdict's local store, an OpenTelemetry collector, or an MLflow server.
//!
//! What happens on each request:
//!
//! - `POST /ask {"question": ...}` runs in a `tracing` span (`POST /ask`,
//!   a server span, with `retrieve` and `generate` children) that
//!   `tracing-opentelemetry` turns into OpenTelemetry spans. Before the
//!   span ends, the built-in `length` scorer (from `verdict-scorer`) checks
//!   the answer — between 1 and 200 characters — and its result is recorded
//!   as a CODE feedback on the span. The answer carries the trace and span
//!   ids, as MLflow prints them.
//! - `POST /feedback {"trace_id": ..., "thumbs": "up" | "down"}` records the
//!   user's verdict as a HUMAN feedback named [`THUMBS_UP`] on that trace
//!   (or on a span, with `span_id`), with the user as its source and their
//!   comment as its rationale — possibly long after the request's spans
//!   were exported.
//!
//! Where it goes is [`Config`]'s choice, read from the environment: the
//! local store by default (`verdict show` reads it, `verdict push` ships
//! it), or OTLP, or MLflow — those two through a trace assembler over a
//! spool in the local store, so that a collector that is down or hangs
//! loses nothing and holds up neither start nor stop.
//!
//! Two decisions shape it:
//!
//! - **A plain synchronous server.** `tiny_http` is one thread, no async
//!   runtime and four small dependencies; the instrumentation is what this
//!   example is about, and none of it needs async. A production service on
//!   `axum` or `actix-web` records assessments the same way, because
//!   recording never waits on I/O: the [`verdict::Recorder`] queues, and
//!   the SDK's batch processor exports spans in the background.
//! - **The subscriber is the server thread's**, not the process's global
//!   one: several services (say, in tests) can run in one process, each
//!   exporting to its own store.
//!
//! ```no_run
//! use instrumented_service::{Config, start};
//!
//! let running = start(&Config::from_env()?)?;
//! println!("listening on {}", running.url());
//! // … requests …
//! running.shutdown()?; // delivers pending spans and assessments
//! # Ok::<(), instrumented_service::Error>(())
//! ```
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod answer;
mod config;
mod http;
mod telemetry;

use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use verdict_scorer::{Registry, ScorerSpec};

pub use config::{Config, DEFAULT_ADDR, Export};
pub use http::THUMBS_UP;

use telemetry::Telemetry;

/// The inline CODE check of every answer: not empty, at most 200
/// characters.
pub const INLINE_CHECK: &str = "length:min=1,max=200";

/// How long stopping may take in all, delivering what is pending: the
/// library's default ([`verdict::DEFAULT_SHUTDOWN_TIMEOUT`]), well inside
/// the 30 s a Kubernetes pod is given between SIGTERM and SIGKILL. What a
/// receiver has not taken by then waits in the local store's spool, and the
/// next start sends it.
pub const SHUTDOWN_BUDGET: std::time::Duration = verdict::DEFAULT_SHUTDOWN_TIMEOUT;

/// What can go wrong starting or stopping the service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is wrong; the message says which and what is allowed.
    #[error("{0}")]
    Config(String),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {message}; is another process using the port?")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        message: String,
    },
    /// The local store cannot be opened.
    #[error(transparent)]
    Store(#[from] verdict_store::Error),
    /// The OTLP or MLflow export cannot be set up.
    #[error("cannot set up the {export} export: {message}")]
    Export {
        /// `otlp` or `mlflow`.
        export: &'static str,
        /// Why.
        message: String,
    },
    /// The inline scorer cannot be made.
    #[error(transparent)]
    Scorer(#[from] verdict_scorer::LoadError),
    /// Something pending could not be delivered when stopping.
    #[error("stopping, some of what was recorded was not delivered: {0}")]
    Shutdown(String),
    /// The server thread panicked.
    #[error("the server thread panicked")]
    Panicked,
}

impl Error {
    fn export(export: &'static str, error: impl Display) -> Self {
        Error::Export {
            export,
            message: error.to_string(),
        }
    }
}

/// A running service; [`Running::shutdown`] stops it.
pub struct Running {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    thread: JoinHandle<Result<(), Error>>,
}

/// Starts the service on `config.addr`, exporting to `config.export`, and
/// serves on a thread of its own until [`Running::shutdown`].
pub fn start(config: &Config) -> Result<Running, Error> {
    let scorer = Registry::with_builtins().create(&INLINE_CHECK.parse::<ScorerSpec>()?)?;
    let telemetry = Telemetry::new(config)?;
    let server = tiny_http::Server::http(config.addr).map_err(|e| Error::Listen {
        addr: config.addr,
        message: e.to_string(),
    })?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| Error::Config(format!("{} is not an IP address", config.addr)))?;
    let server = Arc::new(server);
    let serving = server.clone();
    let thread = std::thread::Builder::new()
        .name("instrumented-service".into())
        .spawn(move || {
            {
                let _subscriber = tracing::subscriber::set_default(telemetry.subscriber());
                let app = http::App {
                    scorer,
                    recorder: telemetry.recorder(),
                };
                for request in serving.incoming_requests() {
                    app.handle(request);
                }
            }
            telemetry.shutdown(SHUTDOWN_BUDGET)
        })
        .map_err(|e| Error::Config(format!("cannot start the server thread: {e}")))?;
    Ok(Running {
        addr,
        server,
        thread,
    })
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// The address it listens on (with the port chosen for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving, then delivers every pending span and assessment, or
    /// spools what the receiver does not take within [`SHUTDOWN_BUDGET`].
    pub fn shutdown(self) -> Result<(), Error> {
        self.server.unblock();
        self.thread.join().map_err(|_| Error::Panicked)?
    }
}
