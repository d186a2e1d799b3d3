//! Verdict's MLflow client: [`MlflowSink`] sends assessments through
//! MLflow's REST API and spans through its OTLP endpoint, to a tracking
//! server (`MLFLOW_TRACKING_URI`, `MLFLOW_EXPERIMENT_ID`, a token or a user
//! and password: [`MlflowConfig`]).
//!
//! The decision that shapes it: **a trace's new assessments travel inline
//! with the trace**, in one `StartTraceV3` request, rather than one create
//! request each — about half the server's work per assessment — so the
//! client reads a trace before it writes one, and delivers trace by trace.
//! It depends on the core alone; spooling and trace assembly around it are
//! `verdict-export`'s.
//!
//! | operation | request |
//! |---|---|
//! | new assessments of a trace | `POST /api/3.0/mlflow/traces` with the trace's info and its new assessments inline, up to [`MlflowConfig::max_inline`] per request |
//! | reading the traces they go to | `POST /api/3.0/mlflow/traces/batchGetInfos` with `{"trace_ids": [...]}`, up to 100 a request (one `GET /api/3.0/mlflow/traces/{tr-id}` each where the server lacks it) |
//! | an override | `POST /api/3.0/mlflow/traces/{tr-id}/assessments` with `{"assessment": ...}` (this endpoint also marks the overridden one invalid) |
//! | update | `PATCH .../assessments/{id}` with [`verdict::wire::update_to_json`] |
//! | delete | `DELETE .../assessments/{id}` |
//! | spans | `POST /v1/traces`, OTLP protobuf, header `x-mlflow-experiment-id` |
//! | runs | `runs/create`, `runs/log-batch`, `runs/log-inputs`, `traces/link-to-run`, `runs/update` (see [`MlflowSink::start_run`]) |
//!
//! A trace the sink creates carries what MLflow's client writes on one: its
//! name (`mlflow.traceName`, the root span's name, which `trace.name`
//! filters search), its inputs and outputs previews, the schema version,
//! where it comes from (`mlflow.user`, `mlflow.source.*`, read once per
//! process from the environment and the checkout's files rather than by
//! running `git`, which may not be installed), and the sink's active run
//! (`mlflow.sourceRun`), if any.
//!
//! # Runs
//!
//! A batch job that is a run of its own (an evaluation) is an MLflow run:
//! [`MlflowSink::start_run`] creates it and makes it the sink's active run,
//! [`MlflowSink::log_run`] logs params, metrics and tags within MLflow's
//! per-request limits, [`MlflowSink::link_traces`] links traces to it as
//! `mlflow.genai.evaluate` does, and [`MlflowSink::end_run`] ends it
//! `FINISHED`, `FAILED` or `KILLED` ([`RunEnd`]). Traces are linked with
//! MLflow's batch endpoint, 100 a request, rather than by a request per
//! trace: a run costs a handful of requests plus one per 100 traces.
//!
//! # How a batch is delivered
//!
//! - **By trace.** The recorder's batch is split by trace. Within a trace
//!   the operations keep their order: new assessments recorded one after
//!   another travel together in one request, and an override, update or
//!   delete goes to its own endpoint after the creates recorded before it.
//! - **Inline with the trace.** MLflow's `StartTraceV3`
//!   (`POST /api/3.0/mlflow/traces`) adds the assessments in its
//!   `trace_info` to a trace that already exists (one ingested over OTLP),
//!   but also overwrites that trace's time, duration, state and experiment
//!   with what it is sent, and marks its info final. So the sink first
//!   reads the trace and sends its info back as read, without tags,
//!   metadata and previews (which the server would merge, undoing changes
//!   made meanwhile), with only the new assessments. The traces of a batch
//!   are read together, 100 a request
//!   (`POST /api/3.0/mlflow/traces/batchGetInfos`, which answers what
//!   `GET /api/3.0/mlflow/traces/{tr-id}` answers for each), before any is
//!   written: a read costs the server a tenth of a `GET` per trace, and a
//!   trace made from its root span that the read finds missing is created
//!   at once. A server without that endpoint has its traces read one
//!   `GET` each. A trace the server does not know yet (its spans are on
//!   their way) is retried; one whose root span has not arrived
//!   (`IN_PROGRESS`) gets its assessments one by one through the create
//!   endpoint, which leaves the trace's info open.
//! - **Open traces, under a `TraceAssembler` (`verdict-export`).**
//!   Assessments of a trace that is still open here and whose root span
//!   has not ended (a recorder flushed mid-request, a trace that outlives
//!   `max_hold`) create the trace `IN_PROGRESS` with them, in one request:
//!   the server cannot have the trace yet, so waiting for it would only
//!   delay them. The spans that come later update the trace as usual, and
//!   when its root comes through [`MlflowSink::export_spans`], one more
//!   request sets the trace's time, duration and state from it (MLflow
//!   marks a trace created this way final, and would otherwise keep its
//!   time range when the spans carry a session id, token usage or cost).
//! - **Concurrently.** Traces are delivered by up to
//!   [`MlflowConfig::max_concurrency`] threads, over one pool of kept-alive
//!   connections. How many requests are in flight adapts to the server
//!   (additive increase, multiplicative decrease): a 429, a 5xx (MLflow's
//!   "database is locked" or an exhausted connection pool), a timeout or a
//!   dropped connection halves it, successes raise it slowly
//!   ([`MlflowSink::concurrency`]).
//! - **Each trace within its own retry budget.** A trace the server lacks
//!   holds up only itself: the others are delivered meanwhile, and its
//!   operations come back [deferred](verdict::Outcome::Deferred) (a
//!   `Spooled` (`verdict-export`) sink keeps them for later). A server
//!   found down — a connection refused or a 5xx until the budget ran out —
//!   ends the batch at once: what was not sent is deferred.
//! - **Within a deadline.** Told one
//!   ([`AssessmentSink::set_deadline`]: a recorder's `flush_timeout` or
//!   `shutdown_timeout`, a `Spooled` sink's limit), the sink stops
//!   retrying at it ([`RetryPolicy::stop_at`]) and starts no request after
//!   it: what was not delivered by then is deferred, and a request under
//!   way ends within [`MlflowConfig::timeout`]. Rejected: only bounding
//!   the caller's wait, which leaves a call given up on retrying in the
//!   background for the rest of its budget, and sending again what a
//!   spool already keeps.
//!
//! Delivery is at least once, made idempotent by the client-generated
//! assessment ids. The server upserts inline assessments by id, so an
//! inline request sent again after an answer that got lost creates
//! nothing twice. On the create endpoint a taken id answers 500 with a
//! constraint violation; the sink then reads the stored assessment back
//! and counts it as delivered if it is ours.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;
use prost::Message as _;
use serde_json::Value;
use verdict::{
    Assessment, AssessmentId, AssessmentSink, Operation, Outcome, Reason, SinkError,
    mlflow_trace_id,
};

use crate::concurrency::{AdaptiveLimit, Signal};
pub use crate::http::{HttpSettings, WithHttpSettings};
pub use crate::retry::{Deadline, GaveUp, RetryPolicy, Retryable, Waiting};

mod concurrency;
mod delivery;
mod http;
mod plan;
mod provenance;
mod read;
mod retry;
mod runs;
#[cfg(feature = "testing")]
pub mod testing;
mod together;

pub use crate::read::{MlflowTrace, READ_PAGE, SEARCH_PAGE, TraceQuery};
pub use crate::runs::{MAX_PARAM_VALUE, MAX_TAG_VALUE, RunData, RunDataset, RunEnd};

/// A secret (token or password): kept out of `Debug` output.
#[derive(Clone, PartialEq)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Auth {
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

/// Where and how [`MlflowSink`] talks to a tracking server. Read it from
/// the environment as MLflow's own client does ([`MlflowConfig::from_env`]),
/// or set it in code:
///
/// ```
/// use verdict_mlflow::MlflowConfig;
///
/// let config = MlflowConfig::new("http://127.0.0.1:5000/")
///     .experiment_id("42")
///     .token("s3cr3t");
/// assert_eq!(config.tracking_uri(), "http://127.0.0.1:5000");
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// ```
#[derive(Clone)]
pub struct MlflowConfig {
    tracking_uri: String,
    experiment_id: String,
    auth: Option<Auth>,
    http: HttpSettings,
    resource: Option<Resource>,
    max_concurrency: usize,
    max_inline: usize,
    trace_wait: Duration,
}

/// Shows the tracking URI without credentials, and no token or password.
impl fmt::Debug for MlflowConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MlflowConfig")
            .field("tracking_uri", &redact_url(&self.tracking_uri))
            .field("experiment_id", &self.experiment_id)
            .field("auth", &self.auth)
            .field("http", &self.http)
            .field("max_concurrency", &self.max_concurrency)
            .field("max_inline", &self.max_inline)
            .field("trace_wait", &self.trace_wait)
            .finish_non_exhaustive()
    }
}

/// The experiment MLflow uses when none is named.
pub const DEFAULT_EXPERIMENT_ID: &str = "0";

impl WithHttpSettings for MlflowConfig {
    fn http_settings(&mut self) -> &mut HttpSettings {
        &mut self.http
    }
}

impl MlflowConfig {
    /// A configuration for the server at `tracking_uri` (`http://` or
    /// `https://`), experiment `"0"`, no authentication.
    pub fn new(tracking_uri: impl Into<String>) -> Self {
        let uri: String = tracking_uri.into();
        MlflowConfig {
            tracking_uri: uri.trim().trim_end_matches('/').to_owned(),
            experiment_id: DEFAULT_EXPERIMENT_ID.to_owned(),
            auth: None,
            http: HttpSettings::default(),
            resource: None,
            max_concurrency: 4,
            max_inline: 256,
            trace_wait: Duration::from_secs(30),
        }
    }

    /// Reads `MLFLOW_TRACKING_URI` (required), `MLFLOW_EXPERIMENT_ID`
    /// (default `"0"`), and `MLFLOW_TRACKING_TOKEN` (bearer) or
    /// `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD` (basic).
    pub fn from_env() -> Result<Self, SinkError> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, SinkError> {
        let uri = var("MLFLOW_TRACKING_URI").ok_or_else(|| {
            SinkError::new(
                "MLFLOW_TRACKING_URI is not set; set it to the tracking server's base URL, \
                 such as http://127.0.0.1:5000",
            )
        })?;
        let mut config = MlflowConfig::new(uri);
        if let Some(id) = var("MLFLOW_EXPERIMENT_ID") {
            config = config.experiment_id(id);
        }
        if let Some(token) = var("MLFLOW_TRACKING_TOKEN") {
            config = config.token(token);
        } else if let Some(username) = var("MLFLOW_TRACKING_USERNAME") {
            let password = var("MLFLOW_TRACKING_PASSWORD").unwrap_or_default();
            config = config.basic_auth(username, password);
        }
        config.check()?;
        Ok(config)
    }

    /// The experiment that receives traces.
    pub fn experiment_id(mut self, id: impl Into<String>) -> Self {
        self.experiment_id = id.into();
        self
    }

    /// Authenticates with a bearer token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.auth = Some(Auth::Bearer(Secret(token.into())));
        self
    }

    /// Authenticates with a user name and password (HTTP basic).
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some(Auth::Basic {
            username: username.into(),
            password: Secret(password.into()),
        });
        self
    }

    /// The most requests in flight at once (default 4, at least 1). The
    /// sink starts at half of it and adapts: it halves the number on 429,
    /// 5xx answers, timeouts and dropped connections, and raises it slowly
    /// while requests succeed.
    pub fn max_concurrency(mut self, requests: usize) -> Self {
        self.max_concurrency = requests.max(1);
        self
    }

    /// The most new assessments of one trace sent in one request (default
    /// 256, at least 1).
    pub fn max_inline(mut self, assessments: usize) -> Self {
        self.max_inline = assessments.max(1);
        self
    }

    /// How long the operations of a trace the server does not have yet
    /// (its spans are on their way) are retried before they are given up
    /// for now — [deferred](verdict::Outcome::Deferred), so that a
    /// `Spooled` (`verdict-export`) sink keeps them (default 30 s, never
    /// more than the retry budget). The rest of the batch does not wait for
    /// them.
    pub fn trace_wait(mut self, wait: Duration) -> Self {
        self.trace_wait = wait;
        self
    }

    /// The OpenTelemetry resource sent with spans (default: the SDK's
    /// default resource).
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// The server's base URL, without a trailing `/`.
    pub fn tracking_uri(&self) -> &str {
        &self.tracking_uri
    }

    /// The experiment that receives traces.
    pub fn get_experiment_id(&self) -> &str {
        &self.experiment_id
    }

    fn check(&self) -> Result<(), SinkError> {
        let scheme_ok =
            self.tracking_uri.starts_with("http://") || self.tracking_uri.starts_with("https://");
        if !scheme_ok {
            return Err(SinkError::new(format!(
                "the MLflow tracking URI {:?} is not an http:// or https:// URL; Verdict talks \
                 to a tracking server over HTTP (file stores and `databricks` are not supported)",
                redact_url(&self.tracking_uri)
            )));
        }
        if self.experiment_id.is_empty() {
            return Err(SinkError::new("the MLflow experiment id is empty"));
        }
        Ok(())
    }

    /// Makes the sink.
    pub fn build(mut self) -> Result<MlflowSink, SinkError> {
        self.check()?;
        // Keep one connection per request in flight, for reuse.
        let (agent, deadline) = self.http.client(self.max_concurrency);
        let authorization = self.auth.as_ref().map(|auth| match auth {
            Auth::Bearer(token) => Secret(format!("Bearer {}", token.0)),
            Auth::Basic { username, password } => Secret(format!(
                "Basic {}",
                base64(format!("{username}:{}", password.0).as_bytes())
            )),
        });
        let resource = self
            .resource
            .clone()
            .unwrap_or_else(|| Resource::builder().build());
        Ok(MlflowSink {
            shown_uri: redact_url(&self.tracking_uri),
            resource: ResourceAttributesWithSchema::from(&resource),
            limit: AdaptiveLimit::new(self.max_concurrency.div_ceil(2), self.max_concurrency),
            opened: Mutex::new(HashSet::new()),
            reads_together: AtomicBool::new(true),
            active_run: RwLock::new(None),
            deadline,
            config: self,
            agent,
            authorization,
        })
    }
}

/// Sends assessments to an MLflow tracking server's REST API and spans to
/// its OTLP endpoint, trace by trace, several traces at once.
///
/// Give it to a [`verdict::Recorder`] as a sink, and (shared through an
/// `Arc`) to a `VerdictSpanExporter` (`verdict-export`) on your
/// tracer provider for the spans, or call [`MlflowSink::export_spans`]
/// yourself. See the [module docs](self) for how a batch is delivered.
pub struct MlflowSink {
    config: MlflowConfig,
    shown_uri: String,
    agent: ureq::Agent,
    authorization: Option<Secret>,
    resource: ResourceAttributesWithSchema,
    limit: AdaptiveLimit,
    /// Traces this sink created `IN_PROGRESS` before any of their spans
    /// ended (see `MlflowSink::export_trace`),
    /// whose root span has not come through yet: when it does, the trace's
    /// time, duration and state are set from it.
    opened: Mutex<HashSet<TraceId>>,
    /// The run the traces it creates belong to ([`MlflowSink::start_run`]).
    active_run: RwLock<Option<String>>,
    /// Whether the server reads several traces in one request: cleared by
    /// one that lacks the endpoint.
    reads_together: AtomicBool,
    /// When the calls under way must return, as the sink was told
    /// ([`AssessmentSink::set_deadline`]); its retry policy stops there.
    deadline: Deadline,
}

/// The most traces [`MlflowSink`] remembers as created in progress (a
/// trace whose root never ends stays there; past this, the server's own
/// handling of later spans is left to set their time range).
const MAX_OPENED: usize = 65_536;

impl fmt::Debug for MlflowSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MlflowSink")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How many requests an [`MlflowSink`] lets run at once, and how it got
/// there ([`MlflowSink::concurrency`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConcurrencyStats {
    /// Requests allowed in flight at once now.
    pub limit: usize,
    /// The lowest the limit has been.
    pub lowest: usize,
    /// How many times the server's answers made the sink halve it.
    pub cuts: u64,
}

/// What one request came back with, or why it did not.
enum Reply {
    Answer { status: u16, body: String },
    Failed(ureq::Error),
}

/// A request's body.
#[derive(Clone, Copy)]
enum Body<'a> {
    None,
    Json(&'a Value),
    Protobuf(&'a [u8]),
}

/// Why an attempt failed, for a person (never with secrets).
#[derive(Debug)]
pub(crate) struct Problem {
    message: String,
    /// The server works, but does not have this trace (ready) yet: the
    /// failure concerns the trace alone, not the rest of the batch.
    trace_only: bool,
}

impl Problem {
    fn new(message: String) -> Self {
        Problem {
            message,
            trace_only: false,
        }
    }

    fn trace_only(message: String) -> Self {
        Problem {
            message,
            trace_only: true,
        }
    }
}

/// One attempt's failure, and whether to try again.
type Failure = Retryable<Problem>;

impl MlflowSink {
    /// Starts a configuration for the server at `tracking_uri`.
    pub fn builder(tracking_uri: impl Into<String>) -> MlflowConfig {
        MlflowConfig::new(tracking_uri)
    }

    /// A sink configured from the environment ([`MlflowConfig::from_env`]).
    pub fn from_env() -> Result<Self, SinkError> {
        MlflowConfig::from_env()?.build()
    }

    /// Its configuration.
    pub fn config(&self) -> &MlflowConfig {
        &self.config
    }

    /// Its concurrency limit now, and how it adapted so far.
    pub fn concurrency(&self) -> ConcurrencyStats {
        let stats = self.limit.stats();
        ConcurrencyStats {
            limit: stats.limit,
            lowest: stats.lowest,
            cuts: stats.cuts,
        }
    }

    /// Posts finished spans to the server's `/v1/traces` as one OTLP
    /// protobuf request; MLflow makes trace `tr-<hex id>` of each trace.
    /// The batch is all-or-nothing; transient failures are retried.
    ///
    /// The root span of a trace this sink created in progress (its
    /// assessments flushed before any of its spans ended) also sets that
    /// trace's time, duration and state, with one more request.
    pub fn export_spans(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        if spans.is_empty() {
            return Ok(());
        }
        self.post_spans(spans)?;
        self.finish_opened(spans)
    }

    /// Remembers that this sink created `trace` in progress.
    fn opened(&self, trace: TraceId) {
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        if opened.len() < MAX_OPENED {
            opened.insert(trace);
        }
    }

    /// For the root spans among `spans` (posted) of traces this sink
    /// created in progress: sets each trace's info from its root, as
    /// MLflow does for a trace ingested over OTLP alone. (MLflow's span
    /// ingestion sets the state of such a trace from its root, but leaves
    /// its time range as created when the spans carry a session id, token
    /// usage or cost: the create marked the trace's info final.)
    fn finish_opened(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        let roots: Vec<&SpanData> = {
            let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
            if opened.is_empty() {
                return Ok(());
            }
            spans
                .iter()
                .filter(|span| span.parent_span_id == SpanId::INVALID)
                .filter(|span| opened.remove(&span.span_context.trace_id()))
                .collect()
        };
        let mut errors = Vec::new();
        for root in roots {
            let trace = root.span_context.trace_id();
            let body = serde_json::json!({ "trace": { "trace_info": self.info_from_root(root) } });
            let what = format!(
                "set the time and state of trace {} from its root span",
                mlflow_trace_id(trace)
            );
            let url = format!("{}/api/3.0/mlflow/traces", self.config.tracking_uri);
            let sent = self.config.http.retry_policy().run(|| {
                self.classify(&what, self.request("POST", &url, Body::Json(&body)))
                    .map(drop)
            });
            if let Err(gave_up) = sent {
                if gave_up.transient {
                    // The next time its root comes through, try again.
                    self.opened(trace);
                }
                errors.push(self.gave_up_message(&gave_up));
            }
        }
        if errors.is_empty() {
            return Ok(());
        }
        // The spans themselves were delivered.
        Err(SinkError::new(format!(
            "the spans were delivered, but {}",
            errors.join("; ")
        ))
        .with_outcomes(vec![Outcome::Delivered; spans.len()]))
    }

    /// The OTLP request of [`export_spans`](Self::export_spans).
    fn post_spans(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        if self.deadline.passed() {
            let why = Reason::from(self.past_deadline());
            return Err(SinkError::new(why.to_string())
                .with_outcomes(vec![Outcome::Deferred(why); spans.len()]));
        }
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans.to_vec(), &self.resource),
        };
        let body = request.encode_to_vec();
        let url = format!("{}/v1/traces", self.config.tracking_uri);
        let what = format!("export {} spans", spans.len());
        self.config
            .http
            .retry_policy()
            .run(|| {
                self.classify(&what, self.request("POST", &url, Body::Protobuf(&body)))
                    .map(drop)
            })
            .map_err(|gave_up| {
                let why = Reason::from(self.gave_up_message(&gave_up));
                // Deferred ones are worth sending again later: a spool
                // keeps them.
                let outcome = if gave_up.transient {
                    Outcome::Deferred(why)
                } else {
                    Outcome::Refused(why)
                };
                self.gave_up(gave_up)
                    .with_outcomes(vec![outcome; spans.len()])
            })
    }

    fn url(&self, trace: &str, id: Option<AssessmentId>) -> String {
        match id {
            Some(id) => format!(
                "{}/api/3.0/mlflow/traces/{trace}/assessments/{id}",
                self.config.tracking_uri
            ),
            None => format!(
                "{}/api/3.0/mlflow/traces/{trace}/assessments",
                self.config.tracking_uri
            ),
        }
    }

    /// Why what was not sent is deferred, once the deadline has passed.
    fn past_deadline(&self) -> String {
        format!(
            "not sent to MLflow at {}: the deadline of this call (a flush or a shutdown) had \
             passed",
            self.shown_uri
        )
    }

    /// What tells this destination apart from others: the server (its
    /// credentials left out) and the experiment. The local store keeps
    /// what was delivered to it under this key.
    pub fn key(&self) -> String {
        format!(
            "mlflow {} experiment {}",
            self.shown_uri, self.config.experiment_id
        )
    }

    /// Whether the server answers at all, tried until `within` has passed
    /// (a server that is starting refuses connections for a while): `Ok`
    /// once anything answers `GET /health` (whatever the status: an HTTP
    /// server is there), else why not. A batch job calls it before
    /// sending, so that a server that is down costs seconds, not every
    /// trace's retry budget.
    pub fn check_reachable(&self, within: Duration) -> Result<(), SinkError> {
        let deadline = std::time::Instant::now() + within;
        let url = format!("{}/health", self.config.tracking_uri);
        let mut pause = Duration::from_millis(100);
        loop {
            let error = match self.send("GET", &url, Body::None) {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            if std::time::Instant::now() + pause >= deadline {
                return Err(SinkError::new(format!(
                    "MLflow at {} cannot be reached: {error}",
                    self.shown_uri
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// One request, within the concurrency limit, which learns from how it
    /// went.
    fn request(&self, method: &str, url: &str, body: Body<'_>) -> Reply {
        let permit = self.limit.acquire();
        let reply = reply(self.send(method, url, body));
        permit.finish(match &reply {
            Reply::Failed(_) => Signal::Overloaded,
            Reply::Answer { status, body } if is_overload(*status, body) => Signal::Overloaded,
            Reply::Answer { .. } => Signal::Fine,
        });
        reply
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        body: Body<'_>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let auth = self.authorization.as_ref().map(|a| a.0.as_str());
        match (method, body) {
            ("POST", Body::Protobuf(bytes)) => with_auth(self.agent.post(url), auth)
                .header("Content-Type", "application/x-protobuf")
                .header("x-mlflow-experiment-id", &self.config.experiment_id)
                .send(bytes),
            ("POST", Body::Json(json)) => {
                with_auth(self.agent.post(url), auth).send_json_text(json)
            }
            ("PATCH", Body::Json(json)) => {
                with_auth(self.agent.patch(url), auth).send_json_text(json)
            }
            ("DELETE", _) => with_auth(self.agent.delete(url), auth).call(),
            _ => with_auth(self.agent.get(url), auth).call(),
        }
    }

    /// Sorts an answer into success (its body), transient or permanent.
    fn classify(&self, what: &str, reply: Reply) -> Result<String, Failure> {
        match reply {
            Reply::Failed(error) => {
                let message = format!("cannot {what} on MLflow at {}: {error}", self.shown_uri);
                Err(if is_transient(&error) {
                    Retryable::Transient(Problem::new(message))
                } else {
                    Retryable::Permanent(Problem::new(message))
                })
            }
            Reply::Answer { status, body } if (200..300).contains(&status) => Ok(body),
            Reply::Answer { status, body } => {
                let message = format!(
                    "MLflow at {} refused to {what}: HTTP {status} {}",
                    self.shown_uri,
                    server_message(&body)
                );
                Err(
                    if status == 408 || status >= 500 || is_overload(status, &body) {
                        Retryable::Transient(Problem::new(message))
                    } else {
                        Retryable::Permanent(Problem::new(message))
                    },
                )
            }
        }
    }

    fn log(&self, assessment: &Assessment) -> Result<(), Failure> {
        let trace = mlflow_trace_id(assessment.trace_id());
        let what = format!("create assessment {} on trace {trace}", assessment.id());
        let body = serde_json::json!({ "assessment": assessment });
        let reply = self.request("POST", &self.url(&trace, None), Body::Json(&body));
        match reply {
            // The server does not know the trace (or the overridden
            // assessment) yet: its spans may still be on their way.
            Reply::Answer { status: 404, body } => {
                Err(Retryable::Transient(Problem::trace_only(format!(
                    "MLflow at {} cannot {what} yet: HTTP 404 {}",
                    self.shown_uri,
                    server_message(&body)
                ))))
            }
            Reply::Answer { status: 500, body } if body.contains("constraint violation") => {
                self.check_is_ours(&trace, assessment, &what)
            }
            other => self.classify(&what, other).map(drop),
        }
    }

    /// After a duplicate-id answer: is the stored assessment the one we
    /// sent (an earlier attempt got through), or another one?
    fn check_is_ours(&self, trace: &str, ours: &Assessment, what: &str) -> Result<(), Failure> {
        let get = format!("read back assessment {} of trace {trace}", ours.id());
        let body = self.classify(
            &get,
            self.request("GET", &self.url(trace, Some(ours.id())), Body::None),
        )?;
        let stored = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|mut v| serde_json::from_value::<Assessment>(v["assessment"].take()).ok());
        match stored {
            Some(stored) if same_assessment(&stored, ours) => Ok(()),
            Some(_) => Err(Retryable::Permanent(Problem::new(format!(
                "MLflow at {} refused to {what}: the id is taken by another assessment",
                self.shown_uri
            )))),
            None => Err(Retryable::Permanent(Problem::new(format!(
                "MLflow at {} refused to {what}: the id is taken, and the stored assessment \
                 cannot be read: {}",
                self.shown_uri,
                excerpt(&body)
            )))),
        }
    }

    fn apply(&self, operation: &Operation) -> Result<(), Failure> {
        match operation {
            Operation::Log(assessment) => self.log(assessment),
            Operation::Update(update) => {
                let trace = mlflow_trace_id(update.trace_id());
                let what = format!(
                    "update assessment {} of trace {trace}",
                    update.assessment_id()
                );
                let body = verdict::wire::update_to_json(update);
                let url = self.url(&trace, Some(update.assessment_id()));
                self.classify(&what, self.request("PATCH", &url, Body::Json(&body)))
                    .map(drop)
            }
            Operation::Delete {
                trace_id,
                assessment_id,
            } => {
                let trace = mlflow_trace_id(*trace_id);
                let what = format!("delete assessment {assessment_id} of trace {trace}");
                let url = self.url(&trace, Some(*assessment_id));
                match self.request("DELETE", &url, Body::None) {
                    // Already gone, or never arrived: what a delete wants.
                    Reply::Answer { status: 404, .. } => Ok(()),
                    other => self.classify(&what, other).map(drop),
                }
            }
        }
    }

    fn gave_up(&self, gave_up: GaveUp<Problem>) -> SinkError {
        SinkError::new(self.gave_up_message(&gave_up))
    }

    fn gave_up_message(&self, gave_up: &GaveUp<Problem>) -> String {
        if gave_up.at_deadline {
            format!(
                "{} (gave up for now after {} attempts: the deadline of this call came)",
                gave_up.error.message, gave_up.attempts,
            )
        } else if gave_up.transient {
            let limit = if gave_up.error.trace_only {
                self.config
                    .trace_wait
                    .min(self.config.http.retry_policy().get_budget())
            } else {
                self.config.http.retry_policy().get_budget()
            };
            format!(
                "{} (gave up for now after {} attempts in {limit:?})",
                gave_up.error.message, gave_up.attempts,
            )
        } else {
            gave_up.error.message.clone()
        }
    }
}

impl AssessmentSink for MlflowSink {
    /// Delivers the batch trace by trace, several traces at once (see the
    /// [module docs](self)). Operations still undeliverable after their
    /// trace's retry budget are [deferred](verdict::Outcome::Deferred),
    /// those refused for good [refused](verdict::Outcome::Refused); the
    /// error carries every operation's outcome.
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        delivery::summarize(batch.len(), self.deliver(batch))
    }

    /// Retries stop at `deadline`, and nothing new starts after it: what
    /// was not delivered by then is deferred. A request under way ends
    /// within the request timeout.
    fn set_deadline(&self, deadline: Option<std::time::Instant>) {
        self.deadline.set(deadline);
    }

    fn name(&self) -> &str {
        "mlflow"
    }
}

/// Whether a stored assessment is the one we sent: same id, name, target,
/// source, kind and creation time. (Value, validity, rationale, metadata
/// and update time may have changed since, by later operations.)
fn same_assessment(stored: &Assessment, ours: &Assessment) -> bool {
    stored.id() == ours.id()
        && stored.name() == ours.name()
        && stored.target() == ours.target()
        && stored.source() == ours.source()
        && stored.kind() == ours.kind()
        && stored.create_time() == ours.create_time()
}

trait SendJsonText {
    fn send_json_text(self, body: &Value) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>;
}

impl SendJsonText for ureq::RequestBuilder<ureq::typestate::WithBody> {
    fn send_json_text(self, body: &Value) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        self.header("Content-Type", "application/json")
            .send(body.to_string())
    }
}

fn with_auth<B>(request: ureq::RequestBuilder<B>, auth: Option<&str>) -> ureq::RequestBuilder<B> {
    match auth {
        Some(value) => request.header("Authorization", value),
        None => request,
    }
}

fn reply(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    match result {
        Ok(mut response) => {
            let status = response.status().as_u16();
            match response.body_mut().read_to_string() {
                Ok(body) => Reply::Answer { status, body },
                Err(e) => Reply::Failed(e),
            }
        }
        Err(e) => Reply::Failed(e),
    }
}

/// Whether an answer says the server is overloaded: 429; a 5xx other than
/// a duplicate id; or any answer that says its database is: MLflow
/// 3.17.2 on SQLite answers an exhausted connection pool with **400**
/// `BAD_REQUEST` "QueuePool limit of size 5 overflow 10 reached, connection
/// timed out", and a write that waited too long for SQLite's lock with
/// "database is locked".
fn is_overload(status: u16, body: &str) -> bool {
    const DATABASE_OVERLOADED: [&str; 3] = [
        "QueuePool limit",
        "database is locked",
        "too many connections",
    ];
    status == 429
        || (status >= 500 && !body.contains("constraint violation"))
        || (status >= 400 && DATABASE_OVERLOADED.iter().any(|m| body.contains(m)))
}

/// Failures of the connection rather than refusals by the server.
fn is_transient(error: &ureq::Error) -> bool {
    matches!(
        error,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_)
            | ureq::Error::BodyStalled
    )
}

/// `ERROR_CODE: message` from MLflow's error JSON, or an excerpt of a body
/// that is not such JSON.
fn server_message(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(json) if json.get("error_code").is_some() || json.get("message").is_some() => {
            let code = json["error_code"].as_str().unwrap_or("");
            let message = json["message"].as_str().unwrap_or("");
            format!("{code}: {message}")
        }
        Ok(json) if json.get("detail").is_some() => json["detail"].to_string(),
        _ => excerpt(body),
    }
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The URL with any `user:password@` replaced, for messages.
fn redact_url(url: &str) -> String {
    replace_credentials(url, "<redacted>@")
}

/// `scheme://user:password@host/…` with `user:password@` replaced by
/// `with`; any other URL as it is.
fn replace_credentials(url: &str, with: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{with}{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Standard base64 with padding, for HTTP basic authentication.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// For tests: an environment that holds `pairs`, as the `var` argument of
/// the functions that read variables.
#[cfg(test)]
fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::HttpStub;
    use std::sync::Mutex;

    /// Retries 5 ms apart, at most 20 ms, for `budget` in all: a test's
    /// failures end fast.
    fn quick_retries(budget: Duration) -> RetryPolicy {
        RetryPolicy::default()
            .initial_delay(Duration::from_millis(5))
            .max_delay(Duration::from_millis(20))
            .budget(budget)
    }

    #[test]
    fn configuration_from_the_environment() {
        let err = MlflowConfig::from_vars(vars(&[])).unwrap_err();
        assert!(err.to_string().contains("MLFLOW_TRACKING_URI is not set"));
        let err =
            MlflowConfig::from_vars(vars(&[("MLFLOW_TRACKING_URI", "databricks")])).unwrap_err();
        assert!(err.to_string().contains("not an http"), "{err}");

        let config = MlflowConfig::from_vars(vars(&[
            ("MLFLOW_TRACKING_URI", "https://mlflow.example.com/"),
            ("MLFLOW_TRACKING_USERNAME", "ann"),
            ("MLFLOW_TRACKING_PASSWORD", "hunter2"),
        ]))
        .unwrap();
        assert_eq!(config.tracking_uri(), "https://mlflow.example.com");
        assert_eq!(config.get_experiment_id(), "0");
        let shown = format!("{config:?}");
        assert!(
            shown.contains("ann") && !shown.contains("hunter2"),
            "{shown}"
        );
        let sink = config.build().unwrap();
        assert!(!format!("{sink:?}").contains("hunter2"));
        assert_eq!(
            sink.authorization.as_ref().unwrap().0,
            format!("Basic {}", base64(b"ann:hunter2"))
        );

        let config = MlflowConfig::from_vars(vars(&[
            ("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"),
            ("MLFLOW_EXPERIMENT_ID", "7"),
            ("MLFLOW_TRACKING_TOKEN", "tok-123"),
            ("MLFLOW_TRACKING_USERNAME", "ignored"),
        ]))
        .unwrap();
        assert_eq!(config.get_experiment_id(), "7");
        assert_eq!(config.auth, Some(Auth::Bearer(Secret("tok-123".into()))));
        assert!(!format!("{config:?}").contains("tok-123"));
    }

    #[test]
    fn helpers() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"ann:hunter2"), "YW5uOmh1bnRlcjI=");
        assert_eq!(
            redact_url("https://u:p@host:1/x@y"),
            "https://<redacted>@host:1/x@y"
        );
        assert_eq!(redact_url("http://host/a@b"), "http://host/a@b");
        assert_eq!(
            server_message(r#"{"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"}"#),
            "INVALID_PARAMETER_VALUE: bad"
        );
        // What MLflow 3.17.2 answered under overload on this machine.
        let pool = r#"{"error_code": "BAD_REQUEST", "message": "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/21/3o7r)", "sqlstate": "KAM00", "error_class": "INVALID_PARAMETER_VALUE"}"#;
        assert!(is_overload(400, pool));
        assert!(is_overload(
            500,
            "(sqlite3.OperationalError) database is locked"
        ));
        assert!(is_overload(503, ""));
        assert!(is_overload(429, ""));
        assert!(!is_overload(400, r#"{"message": "bad value"}"#));
        assert!(!is_overload(500, "due to a constraint violation"));
    }

    /// An HTTP server that gives scripted answers in turn (500 once they
    /// run out) and keeps the requests it got.
    fn fake_server(answers: Vec<(u16, &'static str)>) -> HttpStub {
        let answers = Mutex::new(answers.into_iter());
        HttpStub::builder()
            .content_type("application/json")
            .start(move |_| match answers.lock().unwrap().next() {
                Some((status, body)) => (status, body.as_bytes().to_vec()),
                None => (500, b"no more answers".to_vec()),
            })
            .unwrap()
    }

    fn fast(url: &str) -> MlflowSink {
        MlflowSink::builder(url)
            .token("tok-secret")
            .retry(quick_retries(Duration::from_secs(5)))
            .build()
            .unwrap()
    }

    fn feedback() -> Assessment {
        Assessment::feedback("ok", true)
            .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", Some("71492b10072d70de"))
            .unwrap()
    }

    /// A trace's info as MLflow 3.17.2 answers `GET /api/3.0/mlflow/traces/{id}`.
    fn trace_json(state: &str) -> String {
        format!(
            r#"{{"trace": {{"trace_info": {}}}}}"#,
            info_json(
                "0fb07256509eb9d22d07f42f7eb9f24d",
                state,
                "2026-11-27T12:47:45.024Z"
            )
        )
    }

    /// The `trace_info` of a trace (32 hex digits), as MLflow 3.17.2
    /// answers it, alone or among others.
    fn info_json(trace: &str, state: &str, request_time: &str) -> String {
        format!(
            r#"{{"trace_id": "tr-{trace}",
            "trace_location": {{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {{"experiment_id": "0"}}}},
            "request_time": "{request_time}", "execution_duration": "0.038s",
            "state": "{state}", "trace_metadata": {{"mlflow.user": "ann"}},
            "tags": {{"mlflow.traceName": "root"}}, "request_preview": "q",
            "assessments": [{{"assessment_id": "a-11111111111111111111111111111111"}}]}}"#
        )
    }

    const T1: &str = "0fb07256509eb9d22d07f42f7eb9f24d";
    const T2: &str = "1fb07256509eb9d22d07f42f7eb9f24d";
    const T3: &str = "2fb07256509eb9d22d07f42f7eb9f24d";

    #[test]
    fn the_traces_of_a_batch_are_read_together_then_each_written_with_its_own_info() {
        let on = |trace| {
            Assessment::feedback("ok", true)
                .on_trace(trace, None)
                .unwrap()
        };
        let (a, b, lacking) = ([on(T1), on(T1)], [on(T2), on(T2)], [on(T3), on(T3)]);
        let infos = leak(format!(
            r#"{{"trace_infos": [{}, {}]}}"#,
            info_json(T2, "OK", "2026-11-27T10:00:00.002Z"),
            info_json(T1, "OK", "2026-11-27T10:00:00.001Z"),
        ));
        let server = HttpStub::builder()
            .content_type("application/json")
            .start(
                move |request| match (request.method.as_str(), request.path.as_str()) {
                    ("POST", "/api/3.0/mlflow/traces/batchGetInfos") => {
                        (200, infos.as_bytes().to_vec())
                    }
                    ("POST", "/api/3.0/mlflow/traces") => (200, b"{}".to_vec()),
                    _ => (
                        404,
                        br#"{"error_code": "RESOURCE_DOES_NOT_EXIST"}"#.to_vec(),
                    ),
                },
            )
            .unwrap();
        let sink = MlflowSink::builder(server.url())
            .retry(quick_retries(Duration::from_secs(5)))
            .trace_wait(Duration::from_millis(200))
            .build()
            .unwrap();
        let batch: Vec<Operation> = [&a[0], &b[0], &lacking[0], &a[1], &b[1], &lacking[1]]
            .into_iter()
            .cloned()
            .map(Operation::Log)
            .collect();
        let err = sink.export(&batch).unwrap_err();
        // The trace the server lacks waits for its spans, as before.
        let outcomes = verdict::Outcomes::of_error(&err, batch.len());
        assert_eq!(outcomes.deferred_at(), vec![2, 5], "{err:?}");
        assert_eq!(outcomes.delivered_at(), vec![0, 1, 3, 4], "{err:?}");
        let requests = server.requests();
        let reads: Vec<_> = requests
            .iter()
            .filter(|r| r.path.ends_with("/batchGetInfos"))
            .collect();
        assert_eq!(reads.len(), 1, "one read for the batch: {requests:?}");
        let asked: Value = serde_json::from_slice(&reads[0].body).unwrap();
        assert_eq!(
            asked["trace_ids"],
            serde_json::json!([format!("tr-{T1}"), format!("tr-{T2}"), format!("tr-{T3}")])
        );
        // No trace the read found is read again; only the lacking one is.
        let gets: Vec<_> = requests.iter().filter(|r| r.method == "GET").collect();
        assert!(!gets.is_empty());
        assert!(gets.iter().all(|r| r.path.ends_with(T3)), "{gets:?}");
        // Each trace is written back with its own info, as read.
        let mut written: Vec<(String, String, Vec<Assessment>)> = requests
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/api/3.0/mlflow/traces")
            .map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                let info = &body["trace"]["trace_info"];
                assert!(info.get("tags").is_none() && info.get("trace_metadata").is_none());
                (
                    info["trace_id"].as_str().unwrap().to_owned(),
                    info["request_time"].as_str().unwrap().to_owned(),
                    serde_json::from_value(info["assessments"].clone()).unwrap(),
                )
            })
            .collect();
        written.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            written,
            [
                (
                    format!("tr-{T1}"),
                    "2026-11-27T10:00:00.001Z".to_owned(),
                    a.to_vec()
                ),
                (
                    format!("tr-{T2}"),
                    "2026-11-27T10:00:00.002Z".to_owned(),
                    b.to_vec()
                ),
            ]
        );
    }

    #[test]
    fn one_new_assessment_on_a_trace_goes_to_the_create_endpoint_unread() {
        let on = |trace| {
            Assessment::feedback("ok", true)
                .on_trace(trace, None)
                .unwrap()
        };
        let (a, b) = (on(T1), on(T2));
        let server = fake_server(vec![(200, "{}"), (200, "{}")]);
        fast(&server.url())
            .export(&[Operation::Log(a.clone()), Operation::Log(b.clone())])
            .unwrap();
        let mut requests = server.requests();
        requests.sort_by(|x, y| x.path.cmp(&y.path));
        assert_eq!(requests.len(), 2, "{requests:?}");
        for (request, sent) in requests.iter().zip([a, b]) {
            assert_eq!(request.method, "POST");
            assert_eq!(
                request.path,
                format!("/api/3.0/mlflow/traces/tr-{}/assessments", sent.trace_id())
            );
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let created: Assessment = serde_json::from_value(body["assessment"].clone()).unwrap();
            assert_eq!(created, sent);
        }
    }

    #[test]
    fn a_server_that_cannot_read_traces_together_has_them_read_one_by_one() {
        let on = |trace| {
            Assessment::feedback("ok", true)
                .on_trace(trace, None)
                .unwrap()
        };
        let server = HttpStub::builder()
            .content_type("application/json")
            .start(
                move |request| match (request.method.as_str(), request.path.as_str()) {
                    ("POST", "/api/3.0/mlflow/traces/batchGetInfos") => {
                        (405, b"<title>405 Method Not Allowed</title>".to_vec())
                    }
                    ("POST", _) => (200, b"{}".to_vec()),
                    ("GET", path) => {
                        let trace = &path[path.len() - 32..];
                        (
                            200,
                            format!(
                                r#"{{"trace": {{"trace_info": {}}}}}"#,
                                info_json(trace, "OK", "2026-11-27T10:00:00.001Z")
                            )
                            .into_bytes(),
                        )
                    }
                    _ => (500, Vec::new()),
                },
            )
            .unwrap();
        let sink = fast(&server.url());
        for _ in 0..2 {
            let batch = [on(T1), on(T2), on(T1), on(T2)].map(Operation::Log);
            sink.export(&batch).unwrap();
        }
        let requests = server.requests();
        let count = |method: &str, path: &str| {
            requests
                .iter()
                .filter(|r| r.method == method && r.path.contains(path))
                .count()
        };
        assert_eq!(count("POST", "/batchGetInfos"), 1, "asked once only");
        assert_eq!(count("GET", T1) + count("GET", T2), 4);
        assert_eq!(
            requests
                .iter()
                .filter(|r| r.method == "POST" && r.path == "/api/3.0/mlflow/traces")
                .count(),
            4
        );
    }

    fn leak(text: String) -> &'static str {
        Box::leak(text.into_boxed_str())
    }

    #[test]
    fn new_assessments_go_inline_with_the_trace_as_the_server_has_it() {
        let a = feedback();
        let b = Assessment::feedback("also", 0.5).on(a.target()).unwrap();
        let server = fake_server(vec![
            (503, "busy"),
            (429, "{}"),
            (
                404,
                r#"{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Trace not found."}"#,
            ),
            (200, leak(trace_json("OK"))),
            (503, "busy"),
            (200, "{}"),
        ]);
        fast(&server.url())
            .export(&[Operation::Log(a.clone()), Operation::Log(b.clone())])
            .unwrap();
        let requests = server.requests();
        assert_eq!(requests.len(), 6);
        assert_eq!(requests[3].method, "GET");
        assert_eq!(
            requests[3].path,
            "/api/3.0/mlflow/traces/tr-0fb07256509eb9d22d07f42f7eb9f24d"
        );
        let last = &requests[5];
        assert!(last.method.eq_ignore_ascii_case("post"), "{last:?}");
        assert_eq!(last.path, "/api/3.0/mlflow/traces");
        assert_eq!(
            last.header("authorization").map(str::to_ascii_lowercase),
            Some("bearer tok-secret".to_owned()),
            "{last:?}"
        );
        let body: Value = serde_json::from_slice(&last.body).unwrap();
        let info = &body["trace"]["trace_info"];
        // What the server overwrites on an existing trace is sent as read;
        // what it would merge (tags, metadata, previews) is left out.
        assert_eq!(info["request_time"], "2026-11-27T12:47:45.024Z");
        assert_eq!(info["execution_duration"], "0.038s");
        assert_eq!(info["state"], "OK");
        assert_eq!(
            info["trace_location"]["mlflow_experiment"]["experiment_id"],
            "0"
        );
        for left_out in ["tags", "trace_metadata", "request_preview"] {
            assert!(info.get(left_out).is_none(), "{left_out} sent: {info}");
        }
        let sent: Vec<Assessment> = serde_json::from_value(info["assessments"].clone()).unwrap();
        assert_eq!(sent, [a, b], "only ours, exactly as recorded");
    }

    #[test]
    fn on_a_trace_in_progress_assessments_are_created_one_by_one() {
        let a = feedback();
        let b = Assessment::feedback("also", 0.5).on(a.target()).unwrap();
        let stored = leak(format!(r#"{{"assessment": {}}}"#, a.to_json()));
        let server = fake_server(vec![
            (200, leak(trace_json("IN_PROGRESS"))),
            (
                500,
                r#"{"error_code": "INTERNAL_ERROR", "message": "Failed to create assessment for trace 'tr-0fb07256509eb9d22d07f42f7eb9f24d' due to a constraint violation."}"#,
            ),
            (200, stored),
            (200, "{}"),
        ]);
        fast(&server.url())
            .export(&[Operation::Log(a.clone()), Operation::Log(b)])
            .unwrap();
        let requests = server.requests();
        assert_eq!(requests.len(), 4);
        assert_eq!(requests[0].method, "GET");
        assert_eq!(requests[3].path, requests[1].path);
        assert_eq!(
            requests[1].path,
            "/api/3.0/mlflow/traces/tr-0fb07256509eb9d22d07f42f7eb9f24d/assessments"
        );
        // The duplicate id was ours: an earlier attempt got through.
        assert_eq!(requests[2].method, "GET");
        assert_eq!(
            requests[2].path,
            format!(
                "/api/3.0/mlflow/traces/tr-0fb07256509eb9d22d07f42f7eb9f24d/assessments/{}",
                a.id()
            )
        );
    }

    #[test]
    fn refusals_are_not_retried_and_carry_the_servers_message() {
        let server = fake_server(vec![
            (
                400,
                r#"{"error_code": "INVALID_PARAMETER_VALUE", "message": "The `value` field must be specified."}"#,
            ),
            (
                403,
                r#"{"error_code": "PERMISSION_DENIED", "message": "no"}"#,
            ),
            (404, "{}"),
        ]);
        let sink = fast(&server.url());
        let a = feedback();
        let update = Operation::Update(
            verdict::AssessmentUpdate::builder(a.trace_id(), a.id())
                .rationale("why")
                .build()
                .unwrap(),
        );
        let delete = Operation::Delete {
            trace_id: a.trace_id(),
            assessment_id: a.id(),
        };
        let ops = [update.clone(), update, delete];
        let err = sink.export(&ops).unwrap_err();
        let outcomes = verdict::Outcomes::of_error(&err, 3);
        assert_eq!(outcomes.refused_at(), vec![0, 1], "refusals are for good");
        assert_eq!(
            outcomes.delivered_at(),
            vec![2],
            "the 404 on delete is fine"
        );
        let text = err.to_string();
        assert!(text.contains("2 of 3 operations failed"), "{text}");
        assert!(
            text.contains("HTTP 400 INVALID_PARAMETER_VALUE: The `value` field must be specified."),
            "{text}"
        );
        assert!(!text.contains("tok-secret"));
        assert_eq!(server.requests().len(), 3);
    }

    #[test]
    fn an_inline_batch_refused_as_a_whole_is_sent_one_by_one() {
        let a = feedback();
        let b = Assessment::feedback("bad", 1).on(a.target()).unwrap();
        let refusal = r#"{"error_code": "INVALID_PARAMETER_VALUE", "message": "bad one"}"#;
        let server = fake_server(vec![
            (200, leak(trace_json("OK"))),
            (400, refusal),
            (200, "{}"),
            (400, refusal),
        ]);
        let err = fast(&server.url())
            .export(&[Operation::Log(a), Operation::Log(b)])
            .unwrap_err();
        let outcomes = verdict::Outcomes::of_error(&err, 2);
        assert_eq!(outcomes.delivered_at(), vec![0]);
        assert!(
            matches!(outcomes.get(1), Some(Outcome::Refused(why)) if why.contains("bad one")),
            "{err:?}"
        );
    }

    #[test]
    fn a_trace_the_server_lacks_holds_up_only_itself() {
        let late = feedback();
        let ready = Assessment::feedback("ok", true)
            .on_trace("1fb07256509eb9d22d07f42f7eb9f24d", None)
            .unwrap();
        let ready_info = leak(trace_json("OK").replace(
            "0fb07256509eb9d22d07f42f7eb9f24d",
            "1fb07256509eb9d22d07f42f7eb9f24d",
        ));
        let server = HttpStub::builder()
            .content_type("application/json")
            .start(move |request| {
                if request.path.contains("0fb07256509eb9d22d07f42f7eb9f24d") {
                    (
                        404,
                        br#"{"error_code": "RESOURCE_DOES_NOT_EXIST"}"#.to_vec(),
                    )
                } else if request.method == "GET" {
                    (200, ready_info.as_bytes().to_vec())
                } else {
                    (200, b"{}".to_vec())
                }
            })
            .unwrap();
        // A retry budget far beyond the test's patience: the trace's own,
        // shorter wait is what ends it.
        let sink = MlflowSink::builder(server.url())
            .retry(quick_retries(Duration::from_secs(3600)))
            .trace_wait(Duration::from_millis(300))
            .build()
            .unwrap();
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(sink.export(&[Operation::Log(late), Operation::Log(ready)]));
        });
        let err = result
            .recv_timeout(Duration::from_secs(60))
            .expect("the missing trace is given up after its wait, not the hour's budget")
            .unwrap_err();
        let outcomes = verdict::Outcomes::of_error(&err, 2);
        assert!(
            matches!(outcomes.get(0), Some(Outcome::Deferred(why)) if why.contains("HTTP 404")),
            "{err:?}"
        );
        assert_eq!(outcomes.delivered_at(), vec![1], "{err}");
        let text = err.to_string();
        assert!(
            text.contains("tr-0fb07256509eb9d22d07f42f7eb9f24d") && text.contains("HTTP 404"),
            "{err}"
        );
        let posted = server
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.contains("1fb07256509eb9d22d07f42f7eb9f24d"))
            .count();
        assert_eq!(posted, 1, "the ready trace was delivered, once");
    }

    #[test]
    fn refused_connections_are_retried_then_reported_without_secrets() {
        // A port nobody listens on: bind one, then drop it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let sink = MlflowSink::builder(format!("http://127.0.0.1:{port}"))
            .token("very-secret")
            .retry(
                RetryPolicy::default()
                    .initial_delay(Duration::from_millis(5))
                    .budget(Duration::from_millis(100)),
            )
            .build()
            .unwrap();
        let a = Assessment::feedback("ok", true)
            .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
            .unwrap();
        let ops = vec![Operation::Log(a.clone()), Operation::Log(a)];
        let err = sink.export(&ops).unwrap_err();
        assert_eq!(
            verdict::Outcomes::of_error(&err, 2).deferred_at(),
            vec![0, 1],
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("gave up for now after"), "{text}");
        assert!(!text.contains("very-secret"), "{text}");

        // Credentials in the URL and a password: in no error, nor in Debug.
        let sink = MlflowSink::builder(format!("http://ann:url-secret@127.0.0.1:{port}"))
            .basic_auth("bob", "pw-secret")
            .retry(RetryPolicy::default().budget(Duration::ZERO))
            .build()
            .unwrap();
        let spans_error = sink
            .export_spans(&[opentelemetry_sdk::trace::SpanData {
                span_context: opentelemetry::trace::SpanContext::empty_context(),
                parent_span_id: opentelemetry::trace::SpanId::INVALID,
                parent_span_is_remote: false,
                span_kind: opentelemetry::trace::SpanKind::Internal,
                name: "x".into(),
                start_time: std::time::SystemTime::now(),
                end_time: std::time::SystemTime::now(),
                attributes: Vec::new(),
                dropped_attributes_count: 0,
                events: Default::default(),
                links: Default::default(),
                status: opentelemetry::trace::Status::Unset,
                instrumentation_scope: Default::default(),
            }])
            .unwrap_err();
        let texts = [
            sink.export(&ops).unwrap_err().to_string(),
            spans_error.to_string(),
            format!("{sink:?}"),
        ];
        for text in texts {
            for secret in ["url-secret", "pw-secret", &base64(b"bob:pw-secret")] {
                assert!(!text.contains(secret), "{secret} shown in: {text}");
            }
        }
    }
}
