//! The OTLP sink: spans and assessment events to any OpenTelemetry
//! collector over OTLP/HTTP, with protobuf (the default) or JSON bodies.
//!
//! [`OtlpExporter`] configures both signals once:
//!
//! - **assessments** go through [`OtlpExporter::sink`], an
//!   [`AssessmentSink`] for a [`verdict::Recorder`]. It makes each logged
//!   feedback a `gen_ai.evaluation.result` log record, and each
//!   expectation a `verdict.expectation` one ([`verdict::EventSink`]),
//!   whose trace id and span id are those of the assessed span, and posts
//!   them with the exporter's resource.
//!   The recorder's worker already batches: each batch it hands over is
//!   posted as one OTLP request (per 4,096 operations), on the worker's
//!   thread, before `export` returns. A failed post fails the batch (the recorder counts and reports
//!   it), and nothing is dropped on a full queue: a slow collector slows
//!   the worker, and the recorder's own [`Overflow`](verdict::Overflow)
//!   policy decides what recording does then. `flush` and `shutdown` flush
//!   and shut down the exporter's [`SdkLoggerProvider`] (for the records
//!   of loggers of your own on [`OtlpExporter::logger_provider`]).
//!
//!   **Each export posts its own events.** The sink makes the log records
//!   of a batch itself and posts them in requests that carry nothing
//!   else, so that each operation's outcome is that of the request that
//!   carried its event, whatever runs at the same time: another sink of
//!   the exporter, a [`Spooled`](crate::Spooled) sink's replay, a logger
//!   of the application on [`OtlpExporter::logger_provider`] (whose records
//!   wait in the provider until a flush or until enough of them have
//!   come). Calls do not wait for one another either: the requests share
//!   the exporter's HTTP client, not a lock, so a call that hangs (one a
//!   `Spooled` sink gave up on) holds up neither the next one nor a
//!   shutdown. The alternative rejected: emitting through the provider
//!   and posting whatever its processor had buffered, under one lock,
//!   which let one call carry, and fail, another's events while that one
//!   found nothing left to post and counted its operations delivered;
//!   and which drops every event emitted where OpenTelemetry suppresses
//!   telemetry (its own export threads).
//! - **spans** go through a [`SpanExporter`] or a [`BatchSpanProcessor`]
//!   that you add to your own [`SdkTracerProvider`](opentelemetry_sdk::trace::SdkTracerProvider),
//!   or that `verdict eval` and `verdict push` use as a
//!   [`SpanSink`](crate::SpanSink).
//!
//! # Configuration
//!
//! Every setting comes from the code first, then from the standard
//! environment variables, a per-signal variable before the general one:
//!
//! | setting | code | environment |
//! |---|---|---|
//! | base URL (`/v1/traces`, `/v1/logs` appended) | [`OtlpExporterBuilder::endpoint`] | `OTEL_EXPORTER_OTLP_ENDPOINT` |
//! | full URL of one signal, used as it is | [`OtlpExporterBuilder::traces_endpoint`], [`OtlpExporterBuilder::logs_endpoint`] | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` |
//! | headers, `k1=v1,k2=v2` | [`OtlpExporterBuilder::header`] | `OTEL_EXPORTER_OTLP_HEADERS`, `…_TRACES_HEADERS`, `…_LOGS_HEADERS` |
//! | timeout | [`OtlpExporterBuilder::timeout`] | `OTEL_EXPORTER_OTLP_TIMEOUT`, `…_TRACES_TIMEOUT`, `…_LOGS_TIMEOUT` |
//! | protocol: `http/protobuf` (default) or `http/json` | [`OtlpExporterBuilder::protocol`] | `OTEL_EXPORTER_OTLP_PROTOCOL`, `…_TRACES_PROTOCOL`, `…_LOGS_PROTOCOL` |
//! | compression: `gzip` or `none` (default) | [`OtlpExporterBuilder::compression`] | `OTEL_EXPORTER_OTLP_COMPRESSION`, `…_TRACES_COMPRESSION`, `…_LOGS_COMPRESSION` |
//! | resource | [`OtlpExporterBuilder::resource`] | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` |
//!
//! An endpoint set in code wins over every endpoint variable; a per-signal
//! variable wins over the base URL. Headers from the environment are added
//! to those set in code and replace them on the same name (a per-signal
//! variable replaces `OTEL_EXPORTER_OTLP_HEADERS` entirely). With nothing
//! set, the collector is `http://localhost:4318`.
//!
//! A protocol or compression that is not supported is an error of
//! [`OtlpExporterBuilder::build`] naming the variable and its value, never
//! a silent fallback: `grpc` is refused (see below), and so is any value
//! other than those in the table. An empty variable counts as unset.
//!
//! **The resource.** Everything the exporter sends carries one. The spans
//! of a tracer provider carry the provider's resource once it took the
//! exporter (your own resource wins); the assessment events, and spans
//! sent through a [`SpanSink`](crate::SpanSink) without a resource of
//! their own, carry the exporter's: the code's [`resource`](OtlpExporterBuilder::resource),
//! or the SDK's default one, from `OTEL_RESOURCE_ATTRIBUTES` with
//! `OTEL_SERVICE_NAME` first for `service.name` (as the specification
//! says), and [`default_service_name`](OtlpExporterBuilder::default_service_name)
//! (the `verdict` command's is `verdict`) instead of the SDK's
//! `unknown_service:<executable>` when neither names the service.
//!
//! **Spans with a resource of their own** keep it. The spans of an OTLP
//! file that `verdict eval` reads were made by another service; the store
//! keeps each with its resource ([`StoredSpan::resource`](crate::StoredSpan::resource)),
//! and [`SpanSink::export_stored_spans`](crate::SpanSink::export_stored_spans)
//! sends them in one request per resource, so that `service.name` still
//! names the service that made them after `verdict eval --export otlp` or
//! `verdict push --to otlp`. The alternative, sending every span under the
//! exporter's resource, would say that Verdict made them.
//!
//! **No gRPC.** OTLP/gRPC would take `opentelemetry-otlp`'s `grpc-tonic`
//! feature (tonic, h2, tokio-util and the crates under them, each built
//! by every user) and an async runtime on the recorder's worker, which is
//! a plain thread; every collector also takes OTLP/HTTP, and MLflow takes
//! only that. The alternative rejected: gRPC as an optional feature,
//! which would be a second transport to test for no receiver that needs
//! it.
//!
//! **Assessments of a whole trace.** An assessment with no span id is
//! parented to its trace's root span when the exporter has sent that root
//! (through any of its span exporters: the same `verdict eval` or `verdict
//! push` batch, a [`TraceAssembler`](crate::TraceAssembler), or a tracer
//! provider's batch that went out before the assessment), and to no span
//! otherwise: the exporter does not ask the collector. Its event carries
//! `verdict.assessment.on_trace = true` either way.
//!
//! ```no_run
//! use opentelemetry::trace::{Tracer as _, TracerProvider as _};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use verdict::{Assessment, Recorder};
//! use verdict_export::OtlpExporter;
//!
//! let otlp = OtlpExporter::builder().build()?;
//! let tracer_provider = SdkTracerProvider::builder()
//!     .with_span_processor(otlp.batch_span_processor()?)
//!     .build();
//! let recorder = Recorder::builder().sink(otlp.sink()).build();
//!
//! tracer_provider.tracer("app").in_span("answer", |_cx| {
//!     let feedback = Assessment::feedback("helpful", true).on_current_span()?;
//!     recorder.record(feedback)?;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//!
//! recorder.flush()?;
//! tracer_provider.force_flush()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use opentelemetry::InstrumentationScope;
use opentelemetry::logs::{LogRecord as _, Logger, LoggerProvider as _, Severity};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{
    LogBatch, LogExporter as _, LogProcessor, SdkLogRecord, SdkLogger, SdkLoggerProvider,
};
use opentelemetry_sdk::trace::BatchSpanProcessor;
use verdict::{
    AssessmentSink, EventSink, Operation, Outcome, Outcomes, Reason, RootSpans, SinkError,
};

mod settings;
mod spans;

pub use settings::{Compression, Protocol};
pub use spans::SpanExporter;

use settings::Signal;
use spans::Roots;

/// The instrumentation scope of the assessment events.
const SCOPE: &str = "verdict";

/// Log records of a logger used outside a sink (on
/// [`OtlpExporter::logger_provider`]) buffered before they are posted on
/// their own. A sink's events never wait there.
const MAX_BUFFERED: usize = 8192;

/// Operations of a batch whose events go in one request: a bound on a
/// request's size.
const POST_AT_MOST: usize = 4096;

/// An OTLP exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// The exporter of one signal could not be built.
    #[error(
        "cannot set up the OTLP {signal} exporter: {source}; check the endpoint and the OTEL_EXPORTER_OTLP_* variables"
    )]
    Build {
        /// `traces` or `logs`.
        signal: &'static str,
        /// Why.
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// An environment variable holds a value that is not supported.
    #[error("{variable}={value:?}: {reason}")]
    Setting {
        /// The variable.
        variable: String,
        /// Its value.
        value: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

/// Configures an [`OtlpExporter`]. See the [module docs](self) for how code
/// and environment combine.
#[derive(Debug, Default, Clone)]
pub struct OtlpExporterBuilder {
    endpoint: Option<String>,
    traces_endpoint: Option<String>,
    logs_endpoint: Option<String>,
    headers: HashMap<String, String>,
    timeout: Option<Duration>,
    resource: Option<Resource>,
    default_service_name: Option<String>,
    protocol: Option<Protocol>,
    compression: Option<Compression>,
}

impl OtlpExporterBuilder {
    /// The collector's base URL, such as `http://localhost:4318`: spans go
    /// to `<base>/v1/traces`, assessments to `<base>/v1/logs`. Overrides
    /// every endpoint variable.
    pub fn endpoint(mut self, base: impl Into<String>) -> Self {
        self.endpoint = Some(base.into());
        self
    }

    /// The full URL spans are posted to, used as it is.
    pub fn traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.traces_endpoint = Some(url.into());
        self
    }

    /// The full URL assessment events are posted to, used as it is.
    pub fn logs_endpoint(mut self, url: impl Into<String>) -> Self {
        self.logs_endpoint = Some(url.into());
        self
    }

    /// A header sent with every request of both signals.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// How long one request may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How requests are encoded, for both signals; overrides the
    /// `OTEL_EXPORTER_OTLP_*PROTOCOL` variables.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Compresses the bodies of both signals; overrides the
    /// `OTEL_EXPORTER_OTLP_*COMPRESSION` variables.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// The resource of everything sent that has no resource of its own
    /// (by default one built from `OTEL_SERVICE_NAME` and
    /// `OTEL_RESOURCE_ATTRIBUTES`). A tracer provider that takes one of the
    /// exporter's span exporters gives its spans its own resource.
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// The `service.name` of the default resource when neither
    /// `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names the service,
    /// instead of the SDK's `unknown_service:<executable>`. Unused with a
    /// [`resource`](Self::resource) set in code.
    pub fn default_service_name(mut self, name: impl Into<String>) -> Self {
        self.default_service_name = Some(name.into());
        self
    }

    /// Reads the settings (a value that is not supported is an error),
    /// sets up the logger provider of the assessment events, and checks
    /// that a span exporter can be built with the same settings.
    pub fn build(self) -> Result<OtlpExporter, OtlpError> {
        let resource =
            settings::resource(self.resource.as_ref(), self.default_service_name.as_deref());
        let config = Arc::new(Resolved {
            builder: self,
            resource,
            roots: Arc::new(Roots::default()),
        });
        config.otlp_span_exporter()?;
        let exporter = config.log_exporter()?;
        let pending = Arc::new(Pending {
            exporter: Mutex::new(Arc::new(exporter)),
            buffer: Mutex::new(Vec::new()),
            shut: AtomicBool::new(false),
        });
        let provider = SdkLoggerProvider::builder()
            .with_log_processor(PendingProcessor(pending.clone()))
            .with_resource(config.resource.clone())
            .build();
        let scope = InstrumentationScope::builder(SCOPE).build();
        Ok(OtlpExporter {
            config,
            logger: provider.logger_with_scope(scope.clone()),
            scope,
            provider,
            pending,
        })
    }
}

/// An exporter's settings, read: the builder, and the resource and root
/// spans its exporters share.
#[derive(Debug)]
pub(crate) struct Resolved {
    builder: OtlpExporterBuilder,
    pub(crate) resource: Resource,
    pub(crate) roots: Arc<Roots>,
}

impl Resolved {
    fn endpoint_of(&self, signal: Option<&String>, path: &str) -> Option<String> {
        let builder = &self.builder;
        signal.cloned().or_else(|| {
            builder
                .endpoint
                .as_ref()
                .map(|base| format!("{}{path}", base.trim_end_matches('/')))
        })
    }

    /// Gives a signal's exporter builder the settings both signals share.
    fn configure<B>(&self, signal: Signal, builder: B) -> Result<B, OtlpError>
    where
        B: WithExportConfig + WithHttpConfig,
    {
        let this = &self.builder;
        let (own, path) = match signal {
            Signal::Traces => (this.traces_endpoint.as_ref(), "/v1/traces"),
            Signal::Logs => (this.logs_endpoint.as_ref(), "/v1/logs"),
        };
        let mut builder = builder
            .with_protocol(settings::protocol(this.protocol, signal)?.to_otlp())
            .with_headers(this.headers.clone());
        if let Some(compression) = settings::compression(this.compression, signal)? {
            builder = builder.with_compression(compression.to_otlp());
        }
        if let Some(url) = self.endpoint_of(own, path) {
            builder = builder.with_endpoint(url);
        }
        if let Some(timeout) = this.timeout {
            builder = builder.with_timeout(timeout);
        }
        Ok(builder)
    }

    /// A span exporter of `opentelemetry-otlp` with these settings (its
    /// resource is the caller's to set).
    pub(crate) fn otlp_span_exporter(&self) -> Result<opentelemetry_otlp::SpanExporter, OtlpError> {
        let builder = self.configure(
            Signal::Traces,
            opentelemetry_otlp::SpanExporter::builder().with_http(),
        )?;
        builder.build().map_err(|source| OtlpError::Build {
            signal: Signal::Traces.as_str(),
            source,
        })
    }

    fn log_exporter(&self) -> Result<opentelemetry_otlp::LogExporter, OtlpError> {
        let builder = self.configure(
            Signal::Logs,
            opentelemetry_otlp::LogExporter::builder().with_http(),
        )?;
        builder.build().map_err(|source| OtlpError::Build {
            signal: Signal::Logs.as_str(),
            source,
        })
    }
}

/// Ships spans and assessments over OTLP/HTTP. See the
/// [module docs](self).
///
/// Clones share the same logger provider.
#[derive(Debug, Clone)]
pub struct OtlpExporter {
    config: Arc<Resolved>,
    provider: SdkLoggerProvider,
    logger: SdkLogger,
    /// The scope of the assessment events, that of [`logger`](Self::logger).
    scope: InstrumentationScope,
    pending: Arc<Pending>,
}

impl OtlpExporter {
    /// Starts the configuration.
    pub fn builder() -> OtlpExporterBuilder {
        OtlpExporterBuilder::default()
    }

    /// A sink for a [`verdict::Recorder`] that posts its assessments as
    /// events: `gen_ai.evaluation.result` for feedback,
    /// `verdict.expectation` for expectations.
    pub fn sink(&self) -> OtlpSink {
        let roots = self.config.roots.clone();
        OtlpSink {
            logger: self.logger.clone(),
            scope: self.scope.clone(),
            roots: Arc::new(move |trace_id| roots.of(trace_id)),
            provider: self.provider.clone(),
            pending: self.pending.clone(),
        }
    }

    /// A new span exporter with this exporter's settings and resource, for
    /// `SdkTracerProvider::builder().with_batch_exporter(..)`, or to send
    /// spans as a [`SpanSink`](crate::SpanSink).
    pub fn span_exporter(&self) -> Result<SpanExporter, OtlpError> {
        let otlp = self.config.otlp_span_exporter()?;
        Ok(SpanExporter::new(otlp, self.config.clone()))
    }

    /// A batch span processor over a new [`span_exporter`](Self::span_exporter),
    /// with the SDK's batching settings (`OTEL_BSP_*`), for
    /// `SdkTracerProvider::builder().with_span_processor(..)`.
    pub fn batch_span_processor(&self) -> Result<BatchSpanProcessor, OtlpError> {
        Ok(BatchSpanProcessor::builder(self.span_exporter()?).build())
    }

    /// Spans and assessment events in one sink, for a
    /// [`TraceAssembler`](crate::TraceAssembler): a trace's spans are
    /// posted (with a new [`span_exporter`](Self::span_exporter)), then the
    /// events of the assessments recorded while it was open.
    ///
    /// The spans carry the tracer provider's resource once the provider is
    /// built; until then (spans a [`Spooled`](crate::Spooled) sink replays
    /// at start), the exporter's.
    pub fn trace_sink(&self) -> Result<OtlpTraceSink, OtlpError> {
        Ok(OtlpTraceSink {
            spans: Mutex::new(Arc::new(self.span_exporter()?)),
            events: self.sink(),
        })
    }

    /// The resource of what is sent without one of its own (see the
    /// [module docs](self#configuration)).
    pub fn resource(&self) -> &Resource {
        &self.config.resource
    }

    /// A logger provider that posts over OTLP with this exporter's settings
    /// and resource, for logs of your own (a `tracing` bridge, say): its
    /// records wait until [`flush`](Self::flush), until 8,192 have come, or
    /// until [`shutdown`](Self::shutdown). The assessment events do not go
    /// through it: each export of a sink posts its own (see the
    /// [module docs](self)).
    pub fn logger_provider(&self) -> &SdkLoggerProvider {
        &self.provider
    }

    /// Posts what loggers on [`logger_provider`](Self::logger_provider)
    /// emitted and is not yet posted. (A sink's export posts its events
    /// before it returns.)
    pub fn flush(&self) -> Result<(), SinkError> {
        self.provider.force_flush().map_err(sink_error)
    }

    /// Posts what is left and shuts the logger provider down; nothing is
    /// posted after this. Shutting down twice is not an error.
    pub fn shutdown(&self) -> Result<(), SinkError> {
        match self.provider.shutdown() {
            Ok(()) | Err(OTelSdkError::AlreadyShutdown) => Ok(()),
            Err(error) => Err(sink_error(error)),
        }
    }
}

/// The [`AssessmentSink`] of an [`OtlpExporter`]: one OTLP logs request per
/// batch of the recorder. Updates and deletions send nothing.
///
/// All sinks of one exporter share its logger provider: shutting one down
/// (as [`Recorder::shutdown`](verdict::Recorder::shutdown) does) shuts down
/// the provider, and the other sinks send nothing more.
pub struct OtlpSink {
    /// Makes the log records (the SDK's record type has no constructor of
    /// its own); they are emitted into a [`Collected`], not through it.
    logger: SdkLogger,
    scope: InstrumentationScope,
    roots: RootSpans,
    provider: SdkLoggerProvider,
    pending: Arc<Pending>,
}

impl std::fmt::Debug for OtlpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpSink")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl OtlpSink {
    /// The events of `slice`, made as [`EventSink`] makes them.
    fn events(&self, slice: &[Operation]) -> Result<Vec<SdkLogRecord>, SinkError> {
        let collected = Collected {
            logger: self.logger.clone(),
            records: Arc::default(),
        };
        EventSink::new(collected.clone())
            .with_root_spans(self.roots.clone())
            .export(slice)?;
        Ok(std::mem::take(&mut *lock(&collected.records)))
    }
}

impl AssessmentSink for OtlpSink {
    /// Posts the batch's events, one request per 4,096 operations, which
    /// carries those events alone (see the [module docs](self)). A
    /// failed request's operations are sorted as OTLP/HTTP says: a 4xx
    /// other than 408 and 429 is the collector refusing the request for
    /// good ([`Outcome::Refused`], and the message says so); anything
    /// else (no connection, a timeout, 429, 5xx, after the exporter's own
    /// retries) defers them ([`Outcome::Deferred`]), for a
    /// [`Spooled`](crate::Spooled) sink to keep. Every request is tried,
    /// and the error carries every operation's outcome.
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        let mut outcomes = Outcomes::every(Outcome::Delivered, 0);
        let mut messages: Vec<String> = Vec::new();
        for slice in batch.chunks(POST_AT_MOST) {
            let records = self.events(slice)?;
            let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
                records.iter().map(|record| (record, &self.scope)).collect();
            let posted = self
                .pending
                .post(&refs)
                .map_err(|error| export_error(&error, slice.len()));
            if let Err(error) = &posted {
                let message = error.to_string();
                if !messages.contains(&message) {
                    messages.push(message);
                }
            }
            outcomes.extend(Outcomes::of(&posted, slice.len()));
        }
        if messages.is_empty() {
            return Ok(());
        }
        Err(SinkError::new(messages.join("; ")).with_outcomes(outcomes.as_slice().to_vec()))
    }

    fn flush(&self) -> Result<(), SinkError> {
        self.provider.force_flush().map_err(sink_error)
    }

    fn shutdown(&self) -> Result<(), SinkError> {
        match self.provider.shutdown() {
            Ok(()) | Err(OTelSdkError::AlreadyShutdown) => Ok(()),
            Err(error) => Err(sink_error(error)),
        }
    }

    fn name(&self) -> &str {
        "otlp"
    }
}

/// Spans and assessment events to one collector
/// ([`OtlpExporter::trace_sink`]), for a [`TraceAssembler`](crate::TraceAssembler).
#[derive(Debug)]
pub struct OtlpTraceSink {
    /// Held only to take the exporter or to replace it: a post does not
    /// hold it, so that one that hangs holds up no other.
    spans: Mutex<Arc<SpanExporter>>,
    events: OtlpSink,
}

impl OtlpTraceSink {
    fn spans(&self) -> Arc<SpanExporter> {
        lock(&self.spans).clone()
    }
}

impl AssessmentSink for OtlpTraceSink {
    /// As [`OtlpSink`]'s.
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        self.events.export(batch)
    }

    fn flush(&self) -> Result<(), SinkError> {
        self.events.flush()
    }

    fn shutdown(&self) -> Result<(), SinkError> {
        self.events.shutdown()
    }

    fn name(&self) -> &str {
        "otlp"
    }
}

impl crate::SpanSink for OtlpTraceSink {
    /// One OTLP traces request.
    fn export_spans(&self, spans: &[opentelemetry_sdk::trace::SpanData]) -> Result<(), SinkError> {
        self.spans().post(spans)
    }

    /// One OTLP traces request per resource, as a
    /// [`SpanExporter`]'s.
    fn export_stored_spans(&self, spans: &[verdict_store::StoredSpan]) -> Result<(), SinkError> {
        self.spans().post_stored(spans)
    }
}

impl crate::TraceSink for OtlpTraceSink {
    /// Sets the resource of the spans to come. A post still under way (one
    /// given up on) keeps the exporter it had: the spans to come go
    /// through a new one, rather than wait for it.
    fn set_resource(&self, resource: &Resource) {
        let mut spans = lock(&self.spans);
        match Arc::get_mut(&mut spans) {
            Some(only) => opentelemetry_sdk::trace::SpanExporter::set_resource(only, resource),
            None => {
                // It was built with these settings once: should it fail now,
                // the spans keep the resource they had.
                if let Ok(fresh) = spans.with_resource(resource) {
                    *spans = Arc::new(fresh);
                }
            }
        }
    }
}

fn sink_error(error: OTelSdkError) -> SinkError {
    SinkError::new(format!("OTLP logs export failed: {error}"))
}

/// A failed post of `len` operations' events, sorted into refused for good
/// or deferred (see [`OtlpSink::export`]).
fn export_error(error: &OTelSdkError, len: usize) -> SinkError {
    sorted_error(
        error,
        len,
        |status| {
            format!(
                "the OTLP collector refused the assessment events for good (HTTP {status}; not \
                 retried): {error}; check the endpoint, the headers (authentication) and the \
                 collector's logs"
            )
        },
        || format!("OTLP logs export failed: {error}"),
    )
}

/// A failed post of `len` spans, sorted as [`export_error`] sorts events.
pub(crate) fn span_export_error(error: &OTelSdkError, len: usize) -> SinkError {
    sorted_error(
        error,
        len,
        |status| {
            format!(
                "the OTLP collector refused {len} spans for good (HTTP {status}; not retried): \
                 {error}; check the endpoint, the headers (authentication) and the collector's \
                 logs"
            )
        },
        || format!("OTLP traces export of {len} spans failed: {error}"),
    )
}

/// The error of a failed post of `len` items: each refused, with the
/// `refused` message, when the collector refused it for good; otherwise
/// each deferred, with the `transient` one.
fn sorted_error(
    error: &OTelSdkError,
    len: usize,
    refused: impl FnOnce(u16) -> String,
    transient: impl FnOnce() -> String,
) -> SinkError {
    let (message, outcome): (String, fn(Reason) -> Outcome) =
        match refusal_status(&error.to_string()) {
            Some(status) => (refused(status), Outcome::Refused),
            None => (transient(), Outcome::Deferred),
        };
    let why = Reason::from(message.as_str());
    SinkError::new(message).with_outcomes(vec![outcome(why); len])
}

/// The HTTP status in an OTLP exporter's error message ("… status code:
/// 400"), when it is a refusal: a 4xx other than 408 (timeout) and 429
/// (throttled), which OTLP/HTTP says not to retry.
fn refusal_status(message: &str) -> Option<u16> {
    let (_, after) = message.rsplit_once("status code: ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    let status: u16 = digits.parse().ok()?;
    ((400..500).contains(&status) && status != 408 && status != 429).then_some(status)
}

/// The exporter that posts log records, and the records of loggers used
/// outside a sink, emitted and not yet posted.
#[derive(Debug)]
struct Pending {
    /// Held only to take the exporter or to set its resource: posts share
    /// it (its `export` takes `&self`) without holding the lock, so that a
    /// post that hangs holds up no other, nor a shutdown.
    exporter: Mutex<Arc<opentelemetry_otlp::LogExporter>>,
    buffer: Mutex<Vec<(SdkLogRecord, InstrumentationScope)>>,
    /// Set by a shutdown: nothing is posted after it.
    shut: AtomicBool,
}

impl Pending {
    fn push(&self, record: SdkLogRecord, scope: InstrumentationScope) {
        let full = {
            let mut buffer = lock(&self.buffer);
            buffer.push((record, scope));
            buffer.len() >= MAX_BUFFERED
        };
        if full {
            // Only a logger used outside a sink gets here. Nobody to
            // report to: the SDK logs it.
            let _ = self.post_buffered();
        }
    }

    /// Posts `records` as one request, and only them; nothing after a
    /// shutdown.
    fn post(&self, records: &[(&SdkLogRecord, &InstrumentationScope)]) -> OTelSdkResult {
        if records.is_empty() {
            return Ok(());
        }
        if self.shut.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let exporter = Arc::clone(&lock(&self.exporter));
        wait(exporter.export(LogBatch::new(records)))
    }

    /// Posts what loggers used outside a sink have emitted so far. Nothing
    /// of a failed post is kept.
    fn post_buffered(&self) -> OTelSdkResult {
        let records = std::mem::take(&mut *lock(&self.buffer));
        let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
            records.iter().map(|(r, s)| (r, s)).collect();
        self.post(&refs)
    }

    fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        let posted = self.post_buffered();
        self.shut.store(true, Ordering::Release);
        let shut = lock(&self.exporter).shutdown_with_timeout(timeout);
        posted.and(shut)
    }
}

/// A logger that keeps what is emitted through it, for a sink to post
/// itself: an [`EventSink`] over it makes a batch's events exactly as over
/// the provider's logger, without the provider's shared buffer, and
/// without the SDK dropping them where telemetry is suppressed (the
/// events are what the application records, not the SDK's own logs).
#[derive(Clone, Debug)]
struct Collected {
    logger: SdkLogger,
    records: Arc<Mutex<Vec<SdkLogRecord>>>,
}

impl Logger for Collected {
    type LogRecord = SdkLogRecord;

    fn create_log_record(&self) -> SdkLogRecord {
        self.logger.create_log_record()
    }

    /// Keeps the record, stamped as the SDK's logger stamps it. (Its trace
    /// context is the assessed span's, set by the event sink.)
    fn emit(&self, mut record: SdkLogRecord) {
        if record.observed_timestamp().is_none() {
            record.set_observed_timestamp(SystemTime::now());
        }
        lock(&self.records).push(record);
    }

    fn event_enabled(&self, _level: Severity, _target: &str, _name: Option<&str>) -> bool {
        true
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The provider's only processor: keeps records for [`Pending`] to post.
/// Thin on purpose, as the trait changes in 0.34.
#[derive(Debug)]
struct PendingProcessor(Arc<Pending>);

impl LogProcessor for PendingProcessor {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        self.0.push(record.clone(), scope.clone());
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.post_buffered()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown(timeout)
    }

    /// Called by the provider's builder, before anything can be posted:
    /// the exporter is not shared yet.
    fn set_resource(&mut self, resource: &Resource) {
        if let Some(exporter) = Arc::get_mut(&mut lock(&self.0.exporter)) {
            exporter.set_resource(resource);
        }
    }
}

/// Waits for an export: the blocking HTTP client completes its future on
/// the waiting thread. When that thread is already inside an executor's
/// `block_on` — a sink called from an OpenTelemetry span processor, which
/// waits on its exporter so — it waits on a thread of its own, as futures'
/// executor refuses to nest.
pub(crate) fn wait<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    match futures_executor::enter() {
        Ok(entered) => {
            drop(entered);
            futures_executor::block_on(future)
        }
        Err(_) => std::thread::scope(|scope| {
            scope
                .spawn(|| futures_executor::block_on(future))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_from_transient_failures() {
        let message = |status: u16| format!("HTTP export failed with status code: {status}");
        for status in [400, 401, 403, 404, 413] {
            assert_eq!(refusal_status(&message(status)), Some(status));
        }
        for status in [408, 429, 500, 502, 503] {
            assert_eq!(refusal_status(&message(status)), None, "{status}");
        }
        assert_eq!(refusal_status("HTTP export failed: network error"), None);
        let outcomes = |error: SinkError| Outcomes::of(&Err(error), 3);
        let refused = export_error(&OTelSdkError::InternalFailure(message(401)), 3);
        assert!(refused.to_string().contains("refused"), "{refused}");
        assert_eq!(outcomes(refused).refused_at(), vec![0, 1, 2]);
        let transient = export_error(&OTelSdkError::InternalFailure(message(503)), 3);
        assert_eq!(outcomes(transient).deferred_at(), vec![0, 1, 2]);
        // Spans alike, so that a spool keeps them.
        let refused = span_export_error(&OTelSdkError::InternalFailure(message(403)), 2);
        assert!(refused.to_string().contains("refused"), "{refused}");
        assert_eq!(Outcomes::of(&Err(refused), 2).refused(), 2);
        let transient = span_export_error(&OTelSdkError::InternalFailure(message(502)), 2);
        assert_eq!(Outcomes::of(&Err(transient), 2).deferred_at(), vec![0, 1]);
    }
}
