//! The Arize Phoenix sink: spans over OTLP to Phoenix's collector, and
//! assessments as Phoenix **annotations** through its REST API.
//!
//! [`PhoenixSink`] is an [`AssessmentSink`] for a [`verdict::Recorder`]
//! and a [`SpanSink`](crate::SpanSink) for a
//! [`VerdictSpanExporter`](crate::VerdictSpanExporter); `verdict eval
//! --export phoenix` and `verdict push --to phoenix` use it too. Spans go
//! through this crate's OTLP span exporter ([`OtlpExporter`]), with the
//! project as the resource attribute `openinference.project.name`, as
//! `phoenix.otel.register` sets it, and with the OpenInference attributes
//! Phoenix shows (`input.value`, `output.value`, `openinference.span.kind`)
//! added where a span carries MLflow's (`mlflow.spanInputs`…), as the
//! spans of `verdict eval` do.
//!
//! # Design
//!
//! An annotation's `identifier` is Verdict's assessment id, and Phoenix
//! upserts annotations by name, target and identifier. So a retry, a
//! spool replay or a `verdict push` of what was already sent writes the
//! same annotation again instead of a copy, and an update or a delete
//! finds its annotation by the id Verdict already has, from any process.
//! The alternative, keeping a map from assessment ids to the ids Phoenix
//! gives its annotations, was rejected: the map would have to live in the
//! local store and be shared by every process that sends, and a replay
//! after a lost answer would still create a copy.
//!
//! What Phoenix has no field for (the assessment's kind, source id,
//! error, times, overrides, and values that are neither a number nor a
//! label) travels in the annotation's metadata, under `verdict`, as the
//! assessment's MLflow JSON; an update reads it back to apply Verdict's
//! own update rules, so an annotation round-trips to the same assessment.
//!
//! # Configuration
//!
//! Read from Phoenix's own environment variables ([`PhoenixConfig::from_env`]),
//! as Phoenix's Python client (`arize-phoenix-client`) and `phoenix.otel`
//! (`arize-phoenix-otel`) read them; empty values count as unset:
//!
//! | setting | variables, first set wins | default |
//! |---|---|---|
//! | the server (REST API) | `PHOENIX_ENDPOINT`; `PHOENIX_COLLECTOR_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT` (a trailing `/v1/traces` dropped); `PHOENIX_BASE_URL`; `PHOENIX_HOST` with `PHOENIX_PORT` (`0.0.0.0` read as `127.0.0.1`) | `http://localhost:6006` |
//! | where spans go (OTLP/HTTP protobuf) | `PHOENIX_COLLECTOR_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`, with `/v1/traces` appended unless the path ends with it | the server's `/v1/traces` |
//! | the project | `PHOENIX_PROJECT`, `PHOENIX_PROJECT_NAME` | `default` |
//! | headers of every request | `PHOENIX_CLIENT_HEADERS`: `name=value,name2=value2`, URL-encoded (W3C baggage format), names lower-cased | none |
//! | authentication | `PHOENIX_API_KEY`: `authorization: Bearer <key>`, unless `PHOENIX_CLIENT_HEADERS` has an `authorization` | none |
//!
//! Two differences from Phoenix's clients: spans always go over HTTP
//! (`phoenix.otel` picks gRPC on port 4317 when given no endpoint; Verdict
//! sends them to the server it annotates), and a `.env.phoenix` file is
//! not read: set the variables. The span exporter also honours the
//! `OTEL_EXPORTER_OTLP_*` headers and timeout variables, as any OTLP
//! exporter does.
//!
//! # What maps to what
//!
//! | Verdict | Phoenix |
//! |---|---|
//! | an assessment on a span | a span annotation (`POST /v1/span_annotations`) |
//! | an assessment on a trace (no span) | a trace annotation (`POST /v1/trace_annotations`) |
//! | `assessment_id` | `identifier`: Phoenix upserts by name, span (or trace) and identifier |
//! | name | `name` |
//! | source type HUMAN, LLM_JUDGE, CODE | `annotator_kind` HUMAN, LLM, CODE |
//! | a bool | `result.score` 1 or 0 and `result.label` `pass` or `fail` |
//! | a number | `result.score` |
//! | a string | `result.label` |
//! | a list or an object; an error | no score or label: in `metadata.verdict` |
//! | rationale | `result.explanation` |
//! | metadata (strings) | `metadata`, entry for entry; the run id as `mlflow.assessment.sourceRunId`, as in MLflow |
//! | everything else (kind, source id, value, error, times, overrides) | `metadata.verdict`: the assessment's MLflow JSON ([`Assessment::to_json`]) less the fields above |
//! | an expectation | an annotation of its own name (so ground truth shows beside the evaluations, on the trace or span it is on), the same way: a string as its label, a number or a bool as its score, a list or an object in `metadata.verdict` only; `metadata.verdict.expectation` holds its value and says it is one |
//! | update | the annotation is read back (`GET /v1/projects/{project}/span_annotations?identifier=…`), updated by Verdict's own rules ([`AssessmentUpdate::apply`]) and written again: an upsert of the same annotation; a new name is written, then the row of the old name deleted |
//! | delete | `DELETE /v1/projects/{project}/span_annotations?identifier=…&delete_all=true` (or `trace_annotations`) in the project where the annotation is; one that is nowhere counts as deleted |
//! | override | the new assessment is written, with the annotation it overrides kept in its `metadata.verdict.replaced`, and that one deleted: Phoenix has no validity flag, and would show and average both. Deleting the override writes the replaced annotation back first, as Verdict makes the overridden assessment valid again |
//!
//! What Phoenix does not allow, and what the sink does then:
//!
//! - **the name `note`**, which Phoenix keeps for notes: refused, counted
//!   as not delivered ([`Outcome::Refused`]);
//! - **a metadata key `verdict`**, which is the sink's own: refused alike.
//!
//! Phoenix writes annotations by span (or trace) id alone, but reads and
//! deletes them per project: an update or a delete looks for the
//! annotation in the configured project first, then in the server's other
//! projects, so that it reaches an annotation whose span another exporter
//! put in another project. Updates and deletes are rare next to new
//! assessments, which cost no look-up.
//!
//! # Delivery
//!
//! Requests are synchronous (`?sync=true`), so that Phoenix answers with
//! what it stored: new assessments go up to [`MAX_PER_REQUEST`] a request,
//! in the order recorded; an update, a delete or an override is sent on
//! its own, after the new assessments recorded before it. Phoenix ingests
//! OTLP spans in the background, so an annotation may name a span it does
//! not have yet (a 404 that lists the missing ids): those annotations wait
//! for their spans up to [`PhoenixConfig::span_wait`] while the others are
//! sent at once; after that they are deferred ([`Outcome::Deferred`]).
//! Transient failures (no connection, a timeout, 408, 429, 5xx) are
//! retried by the [`RetryPolicy`](verdict_mlflow::RetryPolicy); when its budget runs out the server is
//! taken as down and the rest of the batch is deferred without being sent.
//! Told a deadline ([`AssessmentSink::set_deadline`]: a recorder's
//! `flush_timeout` or `shutdown_timeout`, a [`Spooled`](crate::Spooled)
//! sink's limit), the sink stops retrying and waiting for spans at it and
//! starts no request after it: what was not delivered by then is
//! deferred, and a request under way ends within
//! [`PhoenixConfig::timeout`].
//! A 422 names the annotations it refuses, which are refused and the rest
//! sent again; a 400 or 413 of several is split in halves until the
//! refused ones are found. The error of a batch carries every operation's
//! outcome ([`SinkError::outcomes`]).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::trace::TraceId;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Map, Value, json};
use verdict::{
    Assessment, AssessmentId, AssessmentSink, AssessmentUpdate, Operation, Outcome, Reason,
    SinkError, SourceType,
};
use verdict_mlflow::{Deadline, GaveUp, HttpSettings, Retryable, WithHttpSettings};

use crate::OtlpExporter;
use crate::otlp::SpanExporter;

/// The resource attribute that puts spans in a Phoenix project (what
/// `phoenix.otel` sets from `PHOENIX_PROJECT_NAME`).
pub const PROJECT_ATTRIBUTE: &str = "openinference.project.name";

/// The metadata key of what an annotation carries of the assessment
/// beyond name, kind, result and metadata.
pub const METADATA_KEY: &str = "verdict";

/// Where in an override's annotation the annotation it replaced is kept:
/// `metadata.verdict.replaced`.
const REPLACED_KEY: &str = "replaced";
const METADATA_KEY_PATH: (&str, &str) = ("metadata", METADATA_KEY);

/// The project Phoenix uses when none is named.
pub const DEFAULT_PROJECT: &str = "default";

/// The most annotations in one request.
pub const MAX_PER_REQUEST: usize = 100;

/// A name Phoenix keeps for notes (`POST /v1/span_notes`).
const RESERVED_NAME: &str = "note";

/// The most targets remembered as never having arrived (see
/// [`PhoenixSink::export`]).
const MAX_GIVEN_UP: usize = 65_536;

/// Header values (they may hold an API key): kept out of `Debug` output.
#[derive(Clone, PartialEq)]
struct Headers(Vec<(String, String)>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| format!("{name}: <redacted>")))
            .finish()
    }
}

/// Where and how a [`PhoenixSink`] talks to a Phoenix server. See the
/// [module docs](self) for the variables [`from_env`](Self::from_env)
/// reads.
///
/// ```
/// use verdict_export::PhoenixConfig;
///
/// let config = PhoenixConfig::new("http://127.0.0.1:6006/")
///     .project("checkout")
///     .api_key("s3cr3t");
/// assert_eq!(config.base_url(), "http://127.0.0.1:6006");
/// assert_eq!(config.traces_endpoint_url(), "http://127.0.0.1:6006/v1/traces");
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// ```
#[derive(Clone, Debug)]
pub struct PhoenixConfig {
    base_url: String,
    traces_endpoint: Option<String>,
    project: String,
    headers: Headers,
    http: HttpSettings,
    span_wait: Duration,
}

impl WithHttpSettings for PhoenixConfig {
    fn http_settings(&mut self) -> &mut HttpSettings {
        &mut self.http
    }
}

impl PhoenixConfig {
    /// A configuration for the server at `base_url` (`http://` or
    /// `https://`): spans to its `/v1/traces`, project `default`, no
    /// authentication.
    pub fn new(base_url: impl Into<String>) -> Self {
        PhoenixConfig {
            base_url: base_url.into().trim().trim_end_matches('/').to_owned(),
            traces_endpoint: None,
            project: DEFAULT_PROJECT.to_owned(),
            headers: Headers(Vec::new()),
            http: HttpSettings::default(),
            span_wait: Duration::from_secs(30),
        }
    }

    /// Reads Phoenix's environment variables (see the [module docs](self)).
    pub fn from_env() -> Result<Self, SinkError> {
        Self::from_vars(|name| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        })
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, SinkError> {
        let collector =
            var("PHOENIX_COLLECTOR_ENDPOINT").or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"));
        let base = var("PHOENIX_ENDPOINT")
            .or_else(|| collector.as_deref().map(without_traces_path))
            .or_else(|| var("PHOENIX_BASE_URL"))
            .or_else(|| {
                var("PHOENIX_HOST").map(|host| {
                    if host.starts_with("http://") || host.starts_with("https://") {
                        return host;
                    }
                    let host = if host == "0.0.0.0" {
                        "127.0.0.1".to_owned()
                    } else {
                        host
                    };
                    if host.contains(':') {
                        format!("http://{host}")
                    } else {
                        let port = var("PHOENIX_PORT").unwrap_or_else(|| "6006".to_owned());
                        format!("http://{host}:{port}")
                    }
                })
            })
            .unwrap_or_else(|| "http://localhost:6006".to_owned());
        let mut config = PhoenixConfig::new(base);
        if let Some(collector) = collector {
            config = config.traces_endpoint(with_traces_path(&collector));
        }
        if let Some(project) = var("PHOENIX_PROJECT").or_else(|| var("PHOENIX_PROJECT_NAME")) {
            config = config.project(project);
        }
        if let Some(headers) = var("PHOENIX_CLIENT_HEADERS") {
            for (name, value) in parse_headers(&headers)? {
                config = config.header(name, value);
            }
        }
        if let Some(key) = var("PHOENIX_API_KEY")
            && !config
                .headers
                .0
                .iter()
                .any(|(name, _)| name == "authorization")
        {
            config = config.api_key(key);
        }
        config.check()?;
        Ok(config)
    }

    /// The full URL spans are posted to (default: the server's
    /// `/v1/traces`).
    pub fn traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.traces_endpoint = Some(url.into().trim().to_owned());
        self
    }

    /// The project spans go to, and whose annotations updates and deletes
    /// find.
    pub fn project(mut self, name: impl Into<String>) -> Self {
        self.project = name.into();
        self
    }

    /// Authenticates with a Phoenix API key (`authorization: Bearer <key>`).
    pub fn api_key(self, key: impl AsRef<str>) -> Self {
        let value = format!("Bearer {}", key.as_ref());
        self.header("authorization", value)
    }

    /// A header sent with every request, spans included; replaces one of
    /// the same name (names are lower-cased).
    pub fn header(mut self, name: impl AsRef<str>, value: impl Into<String>) -> Self {
        let name = name.as_ref().trim().to_ascii_lowercase();
        self.headers.0.retain(|(n, _)| *n != name);
        self.headers.0.push((name, value.into()));
        self
    }

    /// How long annotations of spans (or traces) Phoenix does not have yet
    /// wait for them in one batch before they are given up for now, as
    /// deferred ([`Outcome::Deferred`]; default 30 s). A target given up
    /// once is not waited for again by the same sink.
    pub fn span_wait(mut self, wait: Duration) -> Self {
        self.span_wait = wait;
        self
    }

    /// The server's base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Where spans are posted.
    pub fn traces_endpoint_url(&self) -> String {
        self.traces_endpoint
            .clone()
            .unwrap_or_else(|| format!("{}/v1/traces", self.base_url))
    }

    /// The project.
    pub fn get_project(&self) -> &str {
        &self.project
    }

    fn check(&self) -> Result<(), SinkError> {
        for (what, url) in [
            ("server", self.base_url.clone()),
            ("collector endpoint", self.traces_endpoint_url()),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(SinkError::new(format!(
                    "the Phoenix {what} {url:?} is not an http:// or https:// URL; check \
                     PHOENIX_ENDPOINT and PHOENIX_COLLECTOR_ENDPOINT"
                )));
            }
        }
        if self.project.is_empty() {
            return Err(SinkError::new("the Phoenix project name is empty"));
        }
        Ok(())
    }

    /// Makes the sink: its HTTP client and its OTLP span exporter.
    pub fn build(mut self) -> Result<PhoenixSink, SinkError> {
        self.check()?;
        // ureq's default: the spans go through the OTLP exporter's client.
        let (agent, deadline) = self.http.client(3);
        let resource = Resource::builder()
            .with_attribute(KeyValue::new(PROJECT_ATTRIBUTE, self.project.clone()))
            .build();
        let mut otlp = OtlpExporter::builder()
            .traces_endpoint(self.traces_endpoint_url())
            .timeout(self.http.get_timeout())
            .resource(resource.clone());
        for (name, value) in &self.headers.0 {
            otlp = otlp.header(name.clone(), value.clone());
        }
        let mut spans = otlp
            .build()
            .and_then(|exporter| exporter.span_exporter())
            .map_err(|e| SinkError::new(format!("Phoenix's collector endpoint: {e}")))?;
        opentelemetry_sdk::trace::SpanExporter::set_resource(&mut spans, &resource);
        Ok(PhoenixSink {
            config: self,
            agent,
            spans,
            given_up: Mutex::new(HashSet::new()),
            project_id: Mutex::new(None),
            deadline,
        })
    }
}

/// `name=value,name2=value2` with URL-encoded parts, as Phoenix reads
/// `PHOENIX_CLIENT_HEADERS` (names lower-cased, blanks around parts
/// dropped).
fn parse_headers(text: &str) -> Result<Vec<(String, String)>, SinkError> {
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(part.trim())
            .decode_utf8()
            .map(|s| s.trim().to_owned())
    };
    let mut headers = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = entry.split_once('=').and_then(|(name, value)| {
            let name = decode(name).ok()?.to_ascii_lowercase();
            let value = decode(value).ok()?;
            let valid = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_graphic())
                && value
                    .bytes()
                    .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
            valid.then_some((name, value))
        });
        match parsed {
            Some(header) => headers.push(header),
            None => {
                let name = entry.split('=').next().unwrap_or_default().trim();
                return Err(SinkError::new(format!(
                    "PHOENIX_CLIENT_HEADERS has an entry that is not name=value with a header \
                     name and a printable value (entry {name:?}, its value not shown); write \
                     name=value pairs separated by commas, URL-encoded"
                )));
            }
        }
    }
    Ok(headers)
}

const TRACES_PATH: &str = "/v1/traces";

/// A collector endpoint as an API base URL: without a trailing
/// `/v1/traces`.
fn without_traces_path(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    trimmed
        .strip_suffix(TRACES_PATH)
        .unwrap_or(trimmed)
        .to_owned()
}

/// A collector endpoint as the URL spans are posted to, as `phoenix.otel`
/// makes it for HTTP: `/v1/traces` appended unless the path ends with it.
fn with_traces_path(url: &str) -> String {
    format!("{}{TRACES_PATH}", without_traces_path(url))
}

/// Sends spans to Phoenix over OTLP and assessments as annotations through
/// its REST API. See the [module docs](self).
pub struct PhoenixSink {
    config: PhoenixConfig,
    agent: ureq::Agent,
    /// Not behind a lock: its posts share its HTTP client, so that one
    /// that hangs (given up on by a `Spooled` sink) holds up no other.
    spans: SpanExporter,
    /// Targets (span or trace ids) whose annotations waited the whole
    /// `span_wait` for them: not waited for again.
    given_up: Mutex<HashSet<String>>,
    /// The configured project's id, once found (see `PhoenixSink::find`).
    project_id: Mutex<Option<String>>,
    /// When the calls under way must return, as the sink was told
    /// ([`AssessmentSink::set_deadline`]); its retry policy stops there,
    /// and so does waiting for spans.
    deadline: Deadline,
}

impl fmt::Debug for PhoenixSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoenixSink")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Span annotations or trace annotations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Span,
    Trace,
}

impl Level {
    fn of(assessment: &Assessment) -> Self {
        if assessment.span_id().is_some() {
            Level::Span
        } else {
            Level::Trace
        }
    }

    /// The path segment: `span_annotations`, `trace_annotations`.
    fn annotations(self) -> &'static str {
        match self {
            Level::Span => "span_annotations",
            Level::Trace => "trace_annotations",
        }
    }

    /// The field naming the target: `span_id`, `trace_id`.
    fn target_field(self) -> &'static str {
        match self {
            Level::Span => "span_id",
            Level::Trace => "trace_id",
        }
    }
}

/// Where an annotation was found: its project's id, its level, its row.
#[derive(Debug)]
struct Found {
    project: String,
    level: Level,
    row: Value,
}

/// One annotation to write, and the position of its operation in the
/// batch.
#[derive(Clone, Debug)]
struct Item {
    index: usize,
    target: String,
    body: Value,
}

/// What became of a batch: the positions that failed, and which of them
/// are worth sending again, with why.
#[derive(Debug, Default)]
struct Sorted {
    refused: BTreeSet<usize>,
    retryable: BTreeSet<usize>,
    /// Why, by position (the latest said).
    reasons: HashMap<usize, Reason>,
    messages: Vec<String>,
    /// The server was found down: nothing more is sent.
    down: bool,
}

impl Sorted {
    fn refuse(&mut self, index: usize, message: String) {
        self.refused.insert(index);
        self.reasons.insert(index, Reason::from(message.as_str()));
        self.note(message);
    }

    fn retry_later(&mut self, index: usize, message: String) {
        self.retryable.insert(index);
        self.reasons.insert(index, Reason::from(message.as_str()));
        self.note(message);
    }

    fn note(&mut self, message: String) {
        if self.messages.len() < 5 && !self.messages.contains(&message) {
            self.messages.push(message);
        }
    }

    /// The batch's result: each position's outcome, a position both
    /// refused and retryable deferred (a later attempt failed for now).
    fn into_result(mut self, len: usize) -> Result<(), SinkError> {
        let failed = self.refused.union(&self.retryable).count();
        if failed == 0 {
            return Ok(());
        }
        let not_sent = Reason::from("not sent: Phoenix stopped answering during this batch");
        let mut outcomes = vec![Outcome::Delivered; len];
        for (set, outcome) in [
            (&self.refused, Outcome::Refused as fn(Reason) -> Outcome),
            (&self.retryable, Outcome::Deferred),
        ] {
            for &index in set {
                let why = self
                    .reasons
                    .remove(&index)
                    .unwrap_or_else(|| not_sent.clone());
                if let Some(slot) = outcomes.get_mut(index) {
                    *slot = outcome(why.clone());
                }
                self.reasons.insert(index, why);
            }
        }
        Err(SinkError::new(format!(
            "{failed} of {len} assessments were not delivered to Phoenix: {}",
            self.messages.join("; ")
        ))
        .with_outcomes(outcomes))
    }
}

/// What one request came back with.
enum Reply {
    Answer { status: u16, body: String },
    Failed(ureq::Error),
}

/// Why an attempt failed: its message (never with secrets) and, for a 404
/// that names targets Phoenix lacks, their ids; for a 422, the positions
/// in the request of the annotations it refused.
#[derive(Debug)]
enum Problem {
    Message {
        status: Option<u16>,
        message: String,
    },
    Missing(Vec<String>),
    Invalid {
        positions: Vec<usize>,
        message: String,
    },
}

impl Problem {
    fn message(&self) -> String {
        match self {
            Problem::Message { message, .. } | Problem::Invalid { message, .. } => message.clone(),
            Problem::Missing(ids) => format!(
                "Phoenix does not have {} {}",
                if ids.len() == 1 { "target" } else { "targets" },
                ids.join(", ")
            ),
        }
    }
}

impl PhoenixSink {
    /// Starts a configuration for the server at `base_url`.
    pub fn builder(base_url: impl Into<String>) -> PhoenixConfig {
        PhoenixConfig::new(base_url)
    }

    /// A sink configured from Phoenix's environment variables
    /// ([`PhoenixConfig::from_env`]).
    pub fn from_env() -> Result<Self, SinkError> {
        PhoenixConfig::from_env()?.build()
    }

    /// Its configuration.
    pub fn config(&self) -> &PhoenixConfig {
        &self.config
    }

    /// What tells this destination apart from others: the server (any
    /// credentials in its URL left out), the project, and where spans go
    /// when that is not the server. The local store keeps what was
    /// delivered to it under this key.
    ///
    /// ```
    /// use verdict_export::PhoenixSink;
    ///
    /// let sink = PhoenixSink::builder("https://me:s3cr3t@px.example/").project("qa").build()?;
    /// assert_eq!(sink.key(), "phoenix https://px.example project qa");
    /// # Ok::<(), verdict::SinkError>(())
    /// ```
    pub fn key(&self) -> String {
        let config = &self.config;
        let mut key = format!(
            "phoenix {} project {}",
            without_credentials(&config.base_url),
            config.project
        );
        let spans = config.traces_endpoint_url();
        if spans != format!("{}{TRACES_PATH}", config.base_url) {
            key.push_str(" spans ");
            key.push_str(&without_credentials(&spans));
        }
        key
    }

    /// Checks, within `within`, that the server answers its REST API and
    /// takes this sink's credentials (`GET /v1/projects?limit=1`), so that
    /// a server that is down, or refuses the key, is found out at once.
    /// Connection failures and 5xx are tried again until `within` has
    /// passed; a 401 or 403 fails at once.
    pub fn check_reachable(&self, within: Duration) -> Result<(), SinkError> {
        let deadline = Instant::now() + within;
        let url = format!("{}/v1/projects?limit=1", self.config.base_url);
        let mut pause = Duration::from_millis(100);
        loop {
            let problem = match self.send("GET", &url, None) {
                Reply::Answer { status: 200, .. } => return Ok(()),
                Reply::Answer {
                    status: status @ (401 | 403),
                    body,
                } => {
                    return Err(SinkError::new(format!(
                        "Phoenix at {} refuses this client (HTTP {status}: {}); check \
                         PHOENIX_API_KEY and PHOENIX_CLIENT_HEADERS",
                        self.config.base_url,
                        excerpt(&body)
                    )));
                }
                Reply::Answer { status, body } if status < 500 => {
                    return Err(SinkError::new(format!(
                        "{} does not answer as a Phoenix server (GET /v1/projects: HTTP \
                         {status}: {}); check PHOENIX_ENDPOINT or PHOENIX_COLLECTOR_ENDPOINT",
                        self.config.base_url,
                        excerpt(&body)
                    )));
                }
                Reply::Answer { status, body } => format!("HTTP {status}: {}", excerpt(&body)),
                Reply::Failed(error) => error.to_string(),
            };
            if Instant::now() + pause >= deadline {
                return Err(SinkError::new(format!(
                    "Phoenix at {} cannot be reached: {problem}",
                    self.config.base_url
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// Posts spans to Phoenix's collector as one OTLP request. A failure
    /// is sorted as the OTLP exporter sorts it: a 4xx other than 408 and
    /// 429 refuses the spans, anything else defers them.
    pub fn export_spans(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        if spans.is_empty() {
            return Ok(());
        }
        let spans = with_openinference(spans);
        crate::SpanSink::export_spans(&self.spans, &spans)
    }

    fn send(&self, method: &str, url: &str, body: Option<&Value>) -> Reply {
        let headers = &self.config.headers;
        let sent = match (method, body) {
            ("POST", Some(body)) => with_headers(self.agent.post(url), headers)
                .content_type("application/json")
                .send(body.to_string()),
            ("DELETE", _) => with_headers(self.agent.delete(url), headers).call(),
            _ => with_headers(self.agent.get(url), headers).call(),
        };
        match sent {
            Ok(mut response) => Reply::Answer {
                status: response.status().as_u16(),
                body: response
                    .body_mut()
                    .with_config()
                    .limit(64 * 1024 * 1024)
                    .read_to_string()
                    .unwrap_or_default(),
            },
            Err(error) => Reply::Failed(error),
        }
    }

    /// One request, retried by the policy; its answer's body, or why not.
    fn request(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
    ) -> Result<String, GaveUp<Problem>> {
        self.config.http.retry_policy().run(|| {
            let (status, body) = match self.send(method, url, body) {
                Reply::Answer { status, body } => (status, body),
                Reply::Failed(error) => {
                    return Err(Retryable::Transient(Problem::Message {
                        status: None,
                        message: format!(
                            "cannot reach Phoenix at {}: {error}",
                            self.config.base_url
                        ),
                    }));
                }
            };
            if (200..300).contains(&status) {
                return Ok(body);
            }
            if status == 404
                && let Some(ids) = missing_targets(&body)
            {
                return Err(Retryable::Permanent(Problem::Missing(ids)));
            }
            let message = format!(
                "Phoenix answered {method} {} with HTTP {status}: {}{}",
                path_of(url),
                excerpt(&body),
                match status {
                    401 | 403 => "; check PHOENIX_API_KEY and PHOENIX_CLIENT_HEADERS",
                    _ => "",
                }
            );
            if status == 422
                && let Some(positions) = refused_positions(&body)
            {
                return Err(Retryable::Permanent(Problem::Invalid {
                    positions,
                    message,
                }));
            }
            let problem = Problem::Message {
                status: Some(status),
                message,
            };
            if status == 408 || status == 429 || status >= 500 {
                Err(Retryable::Transient(problem))
            } else {
                Err(Retryable::Permanent(problem))
            }
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }

    /// `/v1/projects/{project id}/{level}_annotations`.
    fn annotations_url(&self, project: &str, level: Level) -> String {
        self.url(&format!("/v1/projects/{project}/{}", level.annotations()))
    }

    /// The ids and names of the server's projects (`GET /v1/projects`,
    /// page by page).
    fn projects(&self) -> Result<Vec<(String, String)>, GaveUp<Problem>> {
        let mut projects = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = self.url("/v1/projects?limit=100");
            if let Some(cursor) = &cursor {
                url.push_str("&cursor=");
                url.extend(percent_encoding::utf8_percent_encode(
                    cursor,
                    percent_encoding::NON_ALPHANUMERIC,
                ));
            }
            let page: Value =
                serde_json::from_str(&self.request("GET", &url, None)?).unwrap_or(Value::Null);
            for project in page["data"].as_array().into_iter().flatten() {
                if let (Some(id), Some(name)) = (project["id"].as_str(), project["name"].as_str()) {
                    projects.push((id.to_owned(), name.to_owned()));
                }
            }
            match page["next_cursor"].as_str() {
                Some(next) if cursor.as_deref() != Some(next) => cursor = Some(next.to_owned()),
                _ => return Ok(projects),
            }
        }
    }

    /// Finds the annotation `id`: in the configured project first, then in
    /// the server's other projects, since Phoenix reads and deletes
    /// annotations per project but writes them by span or trace id alone
    /// (an annotation is in the project of its span). The configured
    /// project's id is found by name (a name in a path cannot hold `/`,
    /// `?` or `#`, and one that reads as an id is taken for one) and kept.
    fn find(&self, id: AssessmentId) -> Result<Option<Found>, GaveUp<Problem>> {
        let known = lock(&self.project_id).clone();
        if let Some(project) = &known
            && let Some(found) = self.find_in(project, id)?
        {
            return Ok(Some(found));
        }
        let mut projects = self.projects()?;
        if known.is_none()
            && let Some(k) = projects.iter().position(|(_, n)| *n == self.config.project)
        {
            let configured = projects.remove(k);
            *lock(&self.project_id) = Some(configured.0.clone());
            projects.insert(0, configured);
        }
        for (project, _) in projects {
            if known.as_ref() == Some(&project) {
                continue;
            }
            if let Some(found) = self.find_in(&project, id)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Finds the annotation `id` in project `project` (an id).
    fn find_in(&self, project: &str, id: AssessmentId) -> Result<Option<Found>, GaveUp<Problem>> {
        for level in [Level::Span, Level::Trace] {
            let url = format!(
                "{}?identifier={id}&limit=1",
                self.annotations_url(project, level)
            );
            let body = match self.request("GET", &url, None) {
                Ok(body) => body,
                // The project is gone: nothing of it to find.
                Err(GaveUp {
                    error:
                        Problem::Message {
                            status: Some(404), ..
                        },
                    ..
                }) => return Ok(None),
                Err(other) => return Err(other),
            };
            let row = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|answer| answer["data"].get(0).cloned());
            if let Some(row) = row {
                return Ok(Some(Found {
                    project: project.to_owned(),
                    level,
                    row,
                }));
            }
        }
        Ok(None)
    }

    /// Writes annotations of one level, waiting for targets Phoenix lacks
    /// until `deadline` (or the sink's own, if sooner), and notes in
    /// `outcome` what could not be.
    fn write(&self, level: Level, items: Vec<Item>, deadline: Instant, outcome: &mut Sorted) {
        let url = self.url(&format!("/v1/{}?sync=true", level.annotations()));
        let mut queue: VecDeque<Vec<Item>> = items
            .chunks(MAX_PER_REQUEST)
            .map(<[Item]>::to_vec)
            .collect();
        let mut waiting: Vec<Item> = Vec::new();
        let mut pause = Duration::from_millis(50);
        loop {
            let Some(pending) = queue.pop_front() else {
                if waiting.is_empty() {
                    return;
                }
                if self.deadline.passed() {
                    for item in waiting {
                        outcome.retry_later(item.index, self.past_deadline());
                    }
                    return;
                }
                let now = Instant::now();
                if now >= deadline {
                    self.give_up_waiting(level, std::mem::take(&mut waiting), outcome);
                    return;
                }
                std::thread::sleep(pause.min(self.until(deadline).saturating_duration_since(now)));
                pause = (pause * 2).min(Duration::from_secs(1));
                queue.push_back(std::mem::take(&mut waiting));
                continue;
            };
            if outcome.down {
                for item in pending {
                    outcome.retryable.insert(item.index);
                }
                continue;
            }
            if self.deadline.passed() {
                for item in pending {
                    outcome.retry_later(item.index, self.past_deadline());
                }
                continue;
            }
            let body = json!({ "data": pending.iter().map(|i| &i.body).collect::<Vec<_>>() });
            let gave_up = match self.request("POST", &url, Some(&body)) {
                Ok(_) => {
                    self.arrived(&pending);
                    continue;
                }
                Err(gave_up) => gave_up,
            };
            match gave_up.error {
                Problem::Missing(ids) => {
                    let (missing, present): (Vec<Item>, Vec<Item>) =
                        pending.into_iter().partition(|i| ids.contains(&i.target));
                    if missing.is_empty() {
                        for item in present {
                            outcome.refuse(
                                item.index,
                                format!("Phoenix said targets are missing: {}", ids.join(", ")),
                            );
                        }
                        continue;
                    }
                    if !present.is_empty() {
                        queue.push_front(present);
                    }
                    let (known_lost, wait): (Vec<Item>, Vec<Item>) = {
                        let given_up = lock(&self.given_up);
                        missing
                            .into_iter()
                            .partition(|i| given_up.contains(&i.target))
                    };
                    if Instant::now() >= deadline {
                        self.give_up_waiting(level, wait, outcome);
                    } else {
                        waiting.extend(wait);
                    }
                    for item in known_lost {
                        outcome.retry_later(item.index, not_there(level, &item.target, None));
                    }
                }
                Problem::Invalid { positions, message } => {
                    let refused: HashSet<usize> = positions.into_iter().collect();
                    let mut rest = Vec::new();
                    for (k, item) in pending.into_iter().enumerate() {
                        if refused.contains(&k) {
                            outcome.refuse(item.index, message.clone());
                        } else {
                            rest.push(item);
                        }
                    }
                    if !rest.is_empty() {
                        queue.push_front(rest);
                    }
                }
                Problem::Message { status, message } => {
                    if gave_up.transient {
                        outcome.down = true;
                        for item in pending {
                            outcome.retry_later(item.index, message.clone());
                        }
                    } else if matches!(status, Some(400 | 413)) && pending.len() > 1 {
                        // Find the refused ones: the others go through.
                        let mut pending = pending;
                        let second = pending.split_off(pending.len() / 2);
                        queue.push_front(second);
                        queue.push_front(pending);
                    } else {
                        for item in pending {
                            outcome.refuse(item.index, message.clone());
                        }
                    }
                }
            }
        }
    }

    /// Targets that arrived: waited for again if they go missing.
    fn arrived(&self, items: &[Item]) {
        let mut given_up = lock(&self.given_up);
        if !given_up.is_empty() {
            for item in items {
                given_up.remove(&item.target);
            }
        }
    }

    fn give_up_waiting(&self, level: Level, items: Vec<Item>, outcome: &mut Sorted) {
        let mut given_up = lock(&self.given_up);
        for item in items {
            if given_up.len() < MAX_GIVEN_UP {
                given_up.insert(item.target.clone());
            }
            outcome.retry_later(
                item.index,
                not_there(level, &item.target, Some(self.config.span_wait)),
            );
        }
    }

    /// Deletes annotation `id` wherever it is (see [`find`](Self::find));
    /// one that is nowhere is deleted already. An override's is deleted
    /// after what it replaced is written back.
    fn delete(&self, id: AssessmentId) -> Result<(), GaveUp<Problem>> {
        let Some(found) = self.find(id)? else {
            return Ok(());
        };
        let replaced = &found.row[METADATA_KEY_PATH.0][METADATA_KEY_PATH.1][REPLACED_KEY];
        if replaced.is_object() {
            let level = if replaced.get("span_id").is_some() {
                Level::Span
            } else {
                Level::Trace
            };
            let url = self.url(&format!("/v1/{}?sync=true", level.annotations()));
            self.request("POST", &url, Some(&json!({ "data": [replaced] })))?;
        }
        self.delete_in(&found, id, None)
    }

    /// Deletes annotation `id` (of any name, or of `name`) where `found`
    /// found it.
    fn delete_in(
        &self,
        found: &Found,
        id: AssessmentId,
        name: Option<&str>,
    ) -> Result<(), GaveUp<Problem>> {
        let mut url = format!(
            "{}?identifier={id}&delete_all=true",
            self.annotations_url(&found.project, found.level)
        );
        if let Some(name) = name {
            url.push_str("&name=");
            url.extend(percent_encoding::utf8_percent_encode(
                name,
                percent_encoding::NON_ALPHANUMERIC,
            ));
        }
        match self.request("DELETE", &url, None) {
            Ok(_)
            | Err(GaveUp {
                error:
                    Problem::Message {
                        status: Some(404), ..
                    },
                ..
            }) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// The sooner of `wait` and the sink's deadline.
    fn until(&self, wait: Instant) -> Instant {
        self.deadline.get().map_or(wait, |at| at.min(wait))
    }

    /// Why what was not sent is deferred, once the deadline has passed.
    fn past_deadline(&self) -> String {
        format!(
            "not sent to Phoenix at {}: the deadline of this call (a flush or a shutdown) had \
             passed",
            without_credentials(&self.config.base_url)
        )
    }

    /// Notes a failed request of operation `index`.
    fn failed(&self, index: usize, gave_up: GaveUp<Problem>, outcome: &mut Sorted) {
        let message = gave_up.error.message();
        if gave_up.transient {
            outcome.down = true;
            outcome.retry_later(index, message);
        } else {
            outcome.refuse(index, message);
        }
    }

    /// An update: read back, updated by Verdict's rules, written again.
    fn update(
        &self,
        index: usize,
        update: &AssessmentUpdate,
        deadline: Instant,
        outcome: &mut Sorted,
    ) {
        let id = update.assessment_id();
        let mut pause = Duration::from_millis(50);
        let found = loop {
            match self.find(id) {
                Ok(Some(found)) => break found,
                Ok(None) if self.deadline.passed() => {
                    return outcome.retry_later(index, self.past_deadline());
                }
                Ok(None) if Instant::now() < deadline => {
                    // Its annotation may be waiting for its span.
                    let now = Instant::now();
                    std::thread::sleep(
                        pause.min(self.until(deadline).saturating_duration_since(now)),
                    );
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Ok(None) => {
                    return outcome.retry_later(
                        index,
                        format!("Phoenix has no annotation {id} to update, in any project"),
                    );
                }
                Err(gave_up) => return self.failed(index, gave_up, outcome),
            }
        };
        let mut assessment = match from_annotation(&found.row, update.trace_id()) {
            Ok(assessment) => assessment,
            Err(reason) => {
                return outcome.refuse(
                    index,
                    format!("cannot update Phoenix annotation {id}: {reason}"),
                );
            }
        };
        let old_name = assessment.name().as_str().to_owned();
        if let Err(error) = update.apply(&mut assessment) {
            return outcome.refuse(index, format!("cannot update {id}: {error}"));
        }
        let mut item = match item(index, &assessment) {
            Ok(item) => item,
            Err(reason) => return outcome.refuse(index, reason),
        };
        let replaced = &found.row[METADATA_KEY_PATH.0][METADATA_KEY_PATH.1][REPLACED_KEY];
        if replaced.is_object() {
            item.body[METADATA_KEY_PATH.0][METADATA_KEY_PATH.1][REPLACED_KEY] = replaced.clone();
        }
        self.write(found.level, vec![item], deadline, outcome);
        if outcome.refused.contains(&index) || outcome.retryable.contains(&index) {
            return;
        }
        if assessment.name().as_str() != old_name
            && let Err(gave_up) = self.delete_in(&found, id, Some(&old_name))
        {
            self.failed(index, gave_up, outcome);
        }
    }
}

impl AssessmentSink for PhoenixSink {
    /// Delivers the batch in order (see the [module docs](self#delivery)).
    /// The error carries every operation's outcome: refused for good, or
    /// deferred (worth sending again).
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        let deadline = Instant::now() + self.config.span_wait;
        let mut outcome = Sorted::default();
        let mut new: Vec<(Level, Item)> = Vec::new();
        let flush = |new: &mut Vec<(Level, Item)>, outcome: &mut Sorted| {
            for level in [Level::Span, Level::Trace] {
                let items: Vec<Item> = new
                    .iter()
                    .filter(|(l, _)| *l == level)
                    .map(|(_, item)| item.clone())
                    .collect();
                if !items.is_empty() {
                    self.write(level, items, deadline, outcome);
                }
            }
            new.clear();
        };
        for (index, operation) in batch.iter().enumerate() {
            if outcome.down {
                outcome.retryable.insert(index);
                continue;
            }
            if self.deadline.passed() {
                outcome.retry_later(index, self.past_deadline());
                continue;
            }
            match operation {
                Operation::Log(assessment) => match item(index, assessment) {
                    Err(reason) => outcome.refuse(index, reason),
                    Ok(item) if assessment.overrides().is_none() => {
                        new.push((Level::of(assessment), item));
                    }
                    Ok(mut item) => {
                        flush(&mut new, &mut outcome);
                        let overridden = assessment.overrides().expect("an override");
                        // What it replaces travels with it, to be written
                        // back if it is deleted.
                        let found = match self.find(overridden) {
                            Ok(found) => found,
                            Err(gave_up) => {
                                self.failed(index, gave_up, &mut outcome);
                                continue;
                            }
                        };
                        if let Some(found) = &found {
                            item.body[METADATA_KEY_PATH.0][METADATA_KEY_PATH.1][REPLACED_KEY] =
                                writable(&found.row, found.level);
                        }
                        self.write(Level::of(assessment), vec![item], deadline, &mut outcome);
                        let written = !outcome.refused.contains(&index)
                            && !outcome.retryable.contains(&index);
                        if written
                            && let Some(found) = &found
                            && let Err(gave_up) = self.delete_in(found, overridden, None)
                        {
                            self.failed(index, gave_up, &mut outcome);
                        }
                    }
                },
                Operation::Update(update) => {
                    flush(&mut new, &mut outcome);
                    self.update(index, update, deadline, &mut outcome);
                }
                Operation::Delete { assessment_id, .. } => {
                    flush(&mut new, &mut outcome);
                    if let Err(gave_up) = self.delete(*assessment_id) {
                        self.failed(index, gave_up, &mut outcome);
                    }
                }
            }
        }
        flush(&mut new, &mut outcome);
        outcome.into_result(batch.len())
    }

    /// Retries and waits for spans stop at `deadline`, and nothing new
    /// starts after it: what was not delivered by then is deferred. A
    /// request under way ends within the request timeout.
    fn set_deadline(&self, deadline: Option<Instant>) {
        self.deadline.set(deadline);
    }

    fn name(&self) -> &str {
        "phoenix"
    }
}

impl crate::SpanSink for PhoenixSink {
    /// [`PhoenixSink::export_spans`].
    fn export_spans(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        PhoenixSink::export_spans(self, spans)
    }
}

/// Spans with the OpenInference attributes Phoenix shows, where they carry
/// MLflow's instead (as `verdict eval`'s record spans do): `input.value`
/// from `mlflow.spanInputs`, `output.value` from `mlflow.spanOutputs` (JSON
/// text, so with `*.mime_type` `application/json`), and
/// `openinference.span.kind` from `mlflow.spanType` (`CHAIN` for a span
/// with inputs and no type). Attributes already there are kept as they are.
fn with_openinference(spans: &[SpanData]) -> Vec<SpanData> {
    const KINDS: [&str; 10] = [
        "LLM",
        "CHAIN",
        "TOOL",
        "RETRIEVER",
        "EMBEDDING",
        "AGENT",
        "RERANKER",
        "GUARDRAIL",
        "EVALUATOR",
        "PROMPT",
    ];
    spans
        .iter()
        .map(|span| {
            let get = |key: &str| {
                span.attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == key)
                    .map(|kv| kv.value.as_str().into_owned())
            };
            let mut span = span.clone();
            let mut add = |key: &'static str, value: String| {
                if !span.attributes.iter().any(|kv| kv.key.as_str() == key) {
                    span.attributes.push(KeyValue::new(key, value));
                }
            };
            let inputs = get("mlflow.spanInputs");
            for (text, value, mime) in [
                (inputs.clone(), "input.value", "input.mime_type"),
                (
                    get("mlflow.spanOutputs"),
                    "output.value",
                    "output.mime_type",
                ),
            ] {
                if let Some(text) = text {
                    add(value, text);
                    add(mime, "application/json".to_owned());
                }
            }
            let kind = match get("mlflow.spanType").as_deref() {
                Some("CHAT_MODEL") => Some("LLM"),
                Some(kind) => KINDS.iter().copied().find(|k| *k == kind),
                None => inputs.is_some().then_some("CHAIN"),
            };
            if let Some(kind) = kind {
                add("openinference.span.kind", kind.to_owned());
            }
            span
        })
        .collect()
}

/// The annotation of `assessment`, or why Phoenix cannot take it.
fn item(index: usize, assessment: &Assessment) -> Result<Item, String> {
    let name = assessment.name().as_str();
    if name == RESERVED_NAME {
        return Err(format!(
            "assessment {} is named {RESERVED_NAME:?}, a name Phoenix keeps for notes; rename it \
             to send it to Phoenix",
            assessment.id()
        ));
    }
    if assessment.metadata().contains_key(METADATA_KEY) {
        return Err(format!(
            "assessment {} has a metadata entry {METADATA_KEY:?}, the key Verdict's Phoenix \
             annotations keep their own fields under; rename the entry to send it to Phoenix",
            assessment.id()
        ));
    }
    let level = Level::of(assessment);
    let target = match assessment.span_id() {
        Some(span) => span.to_string(),
        None => assessment.trace_id().to_string(),
    };
    let body = to_annotation(assessment, level, &target);
    Ok(Item {
        index,
        target,
        body,
    })
}

/// Phoenix's `annotator_kind` for a source type.
fn annotator_kind(source_type: SourceType) -> &'static str {
    match source_type {
        SourceType::Human => "HUMAN",
        SourceType::LlmJudge => "LLM",
        SourceType::Code => "CODE",
    }
}

/// Fields of an assessment's MLflow JSON that the annotation carries in
/// its own fields, and so not in `metadata.verdict`.
const CARRIED_APART: [&str; 4] = ["assessment_name", "span_id", "rationale", "metadata"];

/// The annotation body of `assessment` (see the [module docs](self)).
fn to_annotation(assessment: &Assessment, level: Level, target: &str) -> Value {
    let (score, label) = match assessment.value() {
        verdict::AssessmentValue::Feedback { value: Some(v), .. } => {
            (v.as_score(), v.as_label().map(str::to_owned))
        }
        verdict::AssessmentValue::Feedback { value: None, .. } => (None, None),
        verdict::AssessmentValue::Expectation(value) => {
            match verdict::FeedbackValue::from_json(value.clone()) {
                Ok(v) => (v.as_score(), v.as_label().map(str::to_owned)),
                Err(_) => (None, None),
            }
        }
    };
    let mut result = Map::new();
    if let Some(label) = label {
        result.insert("label".into(), label.into());
    }
    if let Some(score) = score {
        result.insert("score".into(), score.into());
    }
    if let Some(explanation) = assessment.rationale() {
        result.insert("explanation".into(), explanation.into());
    }
    let mut own: Map<String, Value> = match serde_json::from_str(&assessment.to_json()) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    // MLflow's metadata: the assessment's entries and its run id.
    let mut metadata = match own.remove("metadata") {
        Some(Value::Object(entries)) => entries,
        _ => Map::new(),
    };
    for field in CARRIED_APART {
        own.remove(field);
    }
    metadata.insert(METADATA_KEY.into(), Value::Object(own));
    json!({
        level.target_field(): target,
        "name": assessment.name().as_str(),
        "annotator_kind": annotator_kind(assessment.source().source_type()),
        "identifier": assessment.id().to_string(),
        "result": result,
        "metadata": metadata,
    })
}

/// The assessment an annotation written by [`to_annotation`] holds, as
/// Phoenix answers it (on trace `trace`).
fn from_annotation(row: &Value, trace: TraceId) -> Result<Assessment, String> {
    let metadata = row["metadata"].as_object().ok_or("it has no metadata")?;
    let mut json = metadata
        .get(METADATA_KEY)
        .and_then(Value::as_object)
        .cloned()
        .ok_or("it was not written by Verdict (no metadata.verdict)")?;
    json.remove(REPLACED_KEY);
    json.insert("assessment_name".into(), row["name"].clone());
    if let Some(span) = row.get("span_id").filter(|s| s.is_string()) {
        json.insert("span_id".into(), span.clone());
    }
    json.insert("trace_id".into(), verdict::mlflow_trace_id(trace).into());
    if let Some(explanation) = row["result"]["explanation"].as_str() {
        json.insert("rationale".into(), explanation.into());
    }
    let entries: Map<String, Value> = metadata
        .iter()
        .filter(|(key, _)| *key != METADATA_KEY)
        .map(|(key, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (key.clone(), Value::String(text))
        })
        .collect();
    json.insert("metadata".into(), Value::Object(entries));
    Assessment::from_json(&Value::Object(json).to_string()).map_err(|e| e.to_string())
}

/// The body that writes `row` (an annotation as Phoenix answers it, at
/// `level`) again.
fn writable(row: &Value, level: Level) -> Value {
    let mut body = Map::new();
    for field in [
        level.target_field(),
        "name",
        "annotator_kind",
        "result",
        "metadata",
        "identifier",
    ] {
        body.insert(field.into(), row[field].clone());
    }
    Value::Object(body)
}

/// The ids a 404 of the annotation endpoints names: "Spans with IDs a, b
/// do not exist." (or "Traces …").
fn missing_targets(body: &str) -> Option<Vec<String>> {
    let text = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.to_owned());
    let (_, after) = text.split_once(" with IDs ")?;
    let (ids, _) = after.split_once(" do not exist")?;
    Some(ids.split(", ").map(|id| id.trim().to_owned()).collect())
}

/// The positions in the request of the annotations a 422 refuses
/// (`detail[].loc` = `["body", "data", <position>, ...]`).
fn refused_positions(body: &str) -> Option<Vec<usize>> {
    let answer: Value = serde_json::from_str(body).ok()?;
    let positions: Option<Vec<usize>> = answer["detail"]
        .as_array()?
        .iter()
        .map(|d| {
            let loc = d["loc"].as_array()?;
            (loc.first()?.as_str()? == "body" && loc.get(1)?.as_str()? == "data")
                .then(|| loc.get(2)?.as_u64().map(|p| p as usize))
                .flatten()
        })
        .collect();
    positions.filter(|p| !p.is_empty())
}

fn not_there(level: Level, target: &str, waited: Option<Duration>) -> String {
    let what = match level {
        Level::Span => "span",
        Level::Trace => "trace",
    };
    match waited {
        Some(wait) => format!(
            "Phoenix did not have {what} {target} after {} s; its annotations are kept for later",
            wait.as_secs_f64()
        ),
        None => format!(
            "Phoenix did not have {what} {target} when waited for earlier; its annotations are \
             kept for later"
        ),
    }
}

/// A URL without the user and password its authority may carry.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// A URL's path and query, for messages.
fn path_of(url: &str) -> &str {
    url.split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(url)
}

/// The start of an answer's body, for messages.
fn excerpt(body: &str) -> String {
    const MAX: usize = 300;
    let body = body.trim();
    match body.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &body[..end]),
        None => body.to_owned(),
    }
}

fn with_headers<B>(
    mut request: ureq::RequestBuilder<B>,
    headers: &Headers,
) -> ureq::RequestBuilder<B> {
    for (name, value) in &headers.0 {
        request = request.header(name, value);
    }
    request
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn variables_are_read_as_phoenix_reads_them() {
        let config = PhoenixConfig::from_vars(vars(&[])).unwrap();
        assert_eq!(config.base_url(), "http://localhost:6006");
        assert_eq!(
            config.traces_endpoint_url(),
            "http://localhost:6006/v1/traces"
        );
        assert_eq!(config.get_project(), "default");

        let config = PhoenixConfig::from_vars(vars(&[
            (
                "PHOENIX_COLLECTOR_ENDPOINT",
                "https://px.example/s/team/v1/traces/",
            ),
            ("PHOENIX_PROJECT_NAME", "alias"),
            ("PHOENIX_PROJECT", "canonical"),
            ("PHOENIX_API_KEY", "k1"),
            ("PHOENIX_CLIENT_HEADERS", " X-Team = a%20b , other=c%2Cd "),
        ]))
        .unwrap();
        assert_eq!(config.base_url(), "https://px.example/s/team");
        assert_eq!(
            config.traces_endpoint_url(),
            "https://px.example/s/team/v1/traces"
        );
        assert_eq!(config.get_project(), "canonical");
        assert_eq!(
            config.headers.0,
            [
                ("x-team".to_owned(), "a b".to_owned()),
                ("other".to_owned(), "c,d".to_owned()),
                ("authorization".to_owned(), "Bearer k1".to_owned()),
            ]
        );

        // PHOENIX_ENDPOINT names the API; the collector variable, spans.
        let config = PhoenixConfig::from_vars(vars(&[
            ("PHOENIX_ENDPOINT", "http://api:6006"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("PHOENIX_CLIENT_HEADERS", "Authorization=Bearer%20mine"),
            ("PHOENIX_API_KEY", "ignored"),
        ]))
        .unwrap();
        assert_eq!(config.base_url(), "http://api:6006");
        assert_eq!(
            config.traces_endpoint_url(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            config.headers.0,
            [("authorization".to_owned(), "Bearer mine".to_owned())]
        );

        let config = PhoenixConfig::from_vars(vars(&[
            ("PHOENIX_HOST", "0.0.0.0"),
            ("PHOENIX_PORT", "7007"),
        ]))
        .unwrap();
        assert_eq!(config.base_url(), "http://127.0.0.1:7007");
    }

    #[test]
    fn bad_settings_are_refused_without_showing_secrets() {
        let error = PhoenixConfig::from_vars(vars(&[("PHOENIX_CLIENT_HEADERS", "authorization")]))
            .unwrap_err();
        assert!(
            error.to_string().contains("PHOENIX_CLIENT_HEADERS"),
            "{error}"
        );
        let error =
            PhoenixConfig::from_vars(vars(&[("PHOENIX_CLIENT_HEADERS", "x-key=s3cr3t%0Aevil")]))
                .unwrap_err();
        assert!(!error.to_string().contains("s3cr3t"), "{error}");
        let error =
            PhoenixConfig::from_vars(vars(&[("PHOENIX_ENDPOINT", "localhost:6006")])).unwrap_err();
        assert!(error.to_string().contains("http://"), "{error}");
        let config = PhoenixConfig::new("http://x").api_key("s3cr3t");
        assert!(!format!("{config:?}").contains("s3cr3t"));
    }

    #[test]
    fn phoenix_errors_are_read() {
        assert_eq!(
            missing_targets("Spans with IDs 0123456789abcdef, 1123456789abcdef do not exist."),
            Some(vec![
                "0123456789abcdef".to_owned(),
                "1123456789abcdef".to_owned()
            ])
        );
        assert_eq!(
            missing_targets(r#"{"detail": "Traces with IDs 0fb0 do not exist."}"#),
            Some(vec!["0fb0".to_owned()])
        );
        assert_eq!(missing_targets("Not Found"), None);
        let body = r#"{"detail":[{"type":"literal_error","loc":["body","data",3,"annotator_kind"],"msg":"x"}]}"#;
        assert_eq!(refused_positions(body), Some(vec![3]));
        assert_eq!(
            refused_positions(r#"{"detail":[{"loc":["query","sync"]}]}"#),
            None
        );
    }

    #[test]
    fn an_annotation_reads_back_as_the_assessment() {
        let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
        let assessments = [
            Assessment::feedback("correct", true)
                .rationale("same city")
                .metadata("scorer.version", "1")
                .run_id("run-1")
                .on_trace(trace, Some("71492b10072d70de"))
                .unwrap(),
            Assessment::feedback_error(
                "judge",
                verdict::AssessmentError::new("TIMEOUT").with_message("took too long"),
            )
            .source(verdict::AssessmentSource::llm_judge("gpt"))
            .on_trace(trace, None)
            .unwrap(),
            Assessment::expectation("expected", json!({"answer": "Paris"}))
                .on_trace(trace, None)
                .unwrap(),
        ];
        for assessment in assessments {
            let item = item(0, &assessment).unwrap();
            let mut row = item.body.clone();
            // Phoenix answers with every result field.
            for field in ["label", "score", "explanation"] {
                row["result"]
                    .as_object_mut()
                    .unwrap()
                    .entry(field)
                    .or_insert(Value::Null);
            }
            let back = from_annotation(&row, assessment.trace_id()).unwrap();
            assert_eq!(back, assessment);
        }
    }

    #[test]
    fn values_map_to_label_and_score() {
        let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
        let result = |a: Assessment| item(0, &a).unwrap().body["result"].clone();
        assert_eq!(
            result(
                Assessment::feedback("ok", false)
                    .on_trace(trace, None)
                    .unwrap()
            ),
            json!({"label": "fail", "score": 0.0})
        );
        assert_eq!(
            result(
                Assessment::feedback("ok", 0.25)
                    .on_trace(trace, None)
                    .unwrap()
            ),
            json!({"score": 0.25})
        );
        assert_eq!(
            result(
                Assessment::expectation("ok", "Paris")
                    .on_trace(trace, None)
                    .unwrap()
            ),
            json!({"label": "Paris"})
        );
        let note = Assessment::feedback("note", true)
            .on_trace(trace, None)
            .unwrap();
        assert!(item(0, &note).unwrap_err().contains("notes"));
        let clash = Assessment::feedback("ok", true)
            .metadata("verdict", "x")
            .on_trace(trace, None)
            .unwrap();
        assert!(item(0, &clash).unwrap_err().contains("metadata"));
    }
}
