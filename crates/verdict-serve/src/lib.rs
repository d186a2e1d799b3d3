//! Online evaluation: `verdict serve`, an OTLP/HTTP receiver that services
//! or an OpenTelemetry Collector send spans to. It assembles each trace
//! (until its root span arrives, or it has been idle for a while), samples
//! it by trace id as MLflow's online monitoring does ([`Sampler`]), scores
//! the sampled traces with the scorers `verdict eval` runs, from the root
//! span's inputs and outputs (`verdict_eval::root_span`), and forwards
//! every trace's spans with its feedback to the local store and to the
//! destinations of `verdict-export` (OTLP, MLflow, Phoenix, JSON lines).
//!
//! - [`Server::start`] binds and serves: `POST /v1/traces` (protobuf or
//!   JSON, gzip or not) and `GET /metrics` (the [`Counters`] in
//!   Prometheus' text format).
//! - [`Limits`] bounds what is held (traces, spans, bytes), counting what
//!   is complete but not yet forwarded: past it, a request is refused whole
//!   with 429 and `Retry-After`, so that memory stays bounded under
//!   overload and the senders retry.
//! - [`Running::shutdown`] stops taking requests, completes every trace
//!   held, scores and forwards it, flushes the destinations and says what
//!   each did not take ([`Snapshot`]).
//!
//! The decision that shapes it: **the receiver holds, a pipeline thread
//! scores and delivers, and the bound covers both**. Requests are decoded
//! on the HTTP runtime's threads and only added to the holding; one
//! thread takes complete traces a batch at a time, so the store gets one
//! transaction and each destination one request per batch. The room a
//! batch takes is given back only when every destination has answered, so
//! a slow destination turns into 429s at the front rather than into
//! memory. The alternative, scoring in the request (answer after
//! delivery), would make a sender wait on the slowest destination and
//! hold a connection per trace, and a trace's root span is not always in
//! the request that completes it.
//!
//! - [`receive`] reads one OTLP/HTTP traces request into spans, for any
//!   receiver of the workspace.
//!
//! The HTTP server is hyper's, on tokio: both are already built for the
//! OTLP exporter's HTTP client, so only hyper's server half is added.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod hold;
mod http;
mod metrics;
mod otlp;
mod pipeline;
pub mod receive;
mod sample;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;
use verdict_export::{Destination, LocalStore};
use verdict_scorer::Scorer;

pub use hold::{Completion, Limits};
pub use metrics::{Counters, Delivery, Snapshot};
pub use sample::Sampler;

use hold::Holding;
use pipeline::{Forward, Pipeline};

/// How the server listens and what it takes.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to listen (`127.0.0.1:4318`; port 0 for any free one).
    pub listen: SocketAddr,
    /// What may be held at once.
    pub limits: Limits,
    /// The largest request body, compressed or not, in bytes.
    pub max_body: usize,
    /// What a refused request's `Retry-After` says (whole seconds, at
    /// least 1).
    pub retry_after: Duration,
    /// Traces scored and forwarded together, at most.
    pub batch: usize,
    /// Threads of the HTTP runtime (decoding requests).
    pub http_threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 4318)),
            limits: Limits::default(),
            max_body: 16 << 20,
            retry_after: Duration::from_secs(1),
            batch: 1024,
            http_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// The scorers and where traces go.
pub struct Server {
    scorers: Vec<Box<dyn Scorer>>,
    sampler: Sampler,
    store: Option<Arc<LocalStore>>,
    destinations: Vec<Destination>,
}

impl Server {
    /// A server scoring with `scorers`, each sampled at the rate beside it
    /// (1 for every trace).
    pub fn new(scorers: Vec<(Box<dyn Scorer>, f64)>) -> Self {
        let sampler = Sampler::new(
            scorers
                .iter()
                .map(|(s, rate)| (s.info().name.clone(), *rate)),
        );
        Server {
            scorers: scorers.into_iter().map(|(s, _)| s).collect(),
            sampler,
            store: None,
            destinations: Vec::new(),
        }
    }

    /// Forwards to the local store (first, in one transaction per batch).
    #[must_use]
    pub fn store(mut self, store: Arc<LocalStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Forwards to `destination` too.
    #[must_use]
    pub fn export(mut self, destination: Destination) -> Self {
        self.destinations.push(destination);
        self
    }

    /// Binds `options.listen` and serves until [`Running::shutdown`].
    pub fn start(self, options: Options) -> std::io::Result<Running> {
        let listener = std::net::TcpListener::bind(options.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let names = self
            .store
            .iter()
            .map(|_| "store".to_owned())
            .chain(self.destinations.iter().map(|d| d.target().to_string()));
        let counters = Arc::new(Counters::new(names));
        let holding = Arc::new(Holding::new(options.limits));
        let pipeline = Pipeline {
            holding: Arc::clone(&holding),
            counters: Arc::clone(&counters),
            runners: Pipeline::runners(self.scorers),
            sampler: self.sampler,
            forward: Forward {
                store: self.store,
                destinations: self.destinations,
            },
            batch: options.batch.max(1),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.http_threads.max(1))
            .thread_name("serve-http")
            .enable_all()
            .build()?;
        let context = Arc::new(http::Context {
            holding: Arc::clone(&holding),
            counters: Arc::clone(&counters),
            max_body: options.max_body,
            retry_after: options.retry_after,
        });
        let (stop, stopped) = watch::channel(false);
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let http = std::thread::Builder::new()
            .name("serve-accept".into())
            .spawn(move || runtime.block_on(accept(listener, context, stopped)))?;
        let pipeline = std::thread::Builder::new()
            .name("serve-score".into())
            .spawn(move || pipeline.run())?;
        Ok(Running {
            addr,
            counters,
            holding,
            stop,
            http: Some(http),
            pipeline: Some(pipeline),
        })
    }
}

/// Accepts connections until told to stop, then lets each finish the
/// request it is serving and closes it.
async fn accept(
    listener: tokio::net::TcpListener,
    context: Arc<http::Context>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    let shutdown = stopped.clone();
    receive::accept_until_stopped(&listener, &mut stopped, |stream| {
        let context = Arc::clone(&context);
        let mut stopped = shutdown.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| http::handle(request, Arc::clone(&context)));
            // A client that sends its request head slower than this is
            // dropped, so that it cannot hold a connection, or a shutdown.
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopped.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        // Finished connections are reaped as others come.
        while connections.try_join_next().is_some() {}
    })
    .await;
    drop(listener);
    // Requests being served finish; one whose body is still coming after
    // the grace period is cut off (and was not taken: it had no answer).
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
        connections.shutdown().await;
    }
}

/// How long a client may take to send a request's head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a shutdown waits for the requests being served.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A server serving; [`shutdown`](Self::shutdown) stops it (dropping it
/// does too, the same way).
pub struct Running {
    addr: SocketAddr,
    counters: Arc<Counters>,
    holding: Arc<Holding>,
    stop: watch::Sender<bool>,
    http: Option<JoinHandle<()>>,
    pipeline: Option<JoinHandle<()>>,
}

impl Running {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        self.counters.snapshot()
    }

    /// Stops taking requests (those being served finish), completes every
    /// trace held, scores and forwards them, flushes the destinations,
    /// and returns the counters: what each destination did not take is in
    /// [`Snapshot::deliveries`].
    pub fn shutdown(mut self) -> Snapshot {
        self.stop_all();
        self.counters.snapshot()
    }

    fn stop_all(&mut self) {
        let _ = self.stop.send(true);
        if let Some(http) = self.http.take() {
            let _ = http.join();
        }
        self.holding.close();
        if let Some(pipeline) = self.pipeline.take() {
            let _ = pipeline.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop_all();
    }
}
