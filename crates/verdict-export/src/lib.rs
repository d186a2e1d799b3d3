//! Where Verdict's assessments and spans go when they leave the process:
//! the delivery layer, over the local store (`verdict-store`) and the
//! MLflow client (`verdict-mlflow`), both re-exported here so that a
//! service finds every sink in one place.
//!
//! - [`VerdictSpanExporter`] is an OpenTelemetry span exporter for your own
//!   `SdkTracerProvider`: it hands finished spans to one or more
//!   [`SpanSink`]s — the local store, a JSONL output, an MLflow server.
//! - [`JsonlSink`] writes one operation or span per line, to a file or to
//!   standard output, for piping and replay.
//! - [`OtlpExporter`] ([`otlp`]) sends spans and assessments to any
//!   OpenTelemetry collector over OTLP/HTTP, the feedback as
//!   `gen_ai.evaluation.result` events on their spans, expectations as
//!   `verdict.expectation` events.
//! - [`PhoenixSink`] ([`phoenix`]) sends spans to an Arize Phoenix server
//!   over OTLP and assessments as its span and trace annotations, through
//!   its REST API (`PHOENIX_COLLECTOR_ENDPOINT`, `PHOENIX_API_KEY`,
//!   `PHOENIX_PROJECT_NAME`…).
//! - [`Spooled`] wraps a network sink and keeps what it cannot deliver
//!   (assessment operations, and spans for a sink that takes spans) in the
//!   local store's spool, replaying it in the background (from the next
//!   start too), so that a receiver that is down or hangs loses nothing
//!   and holds nothing up: what it keeps is counted spooled, a `tracing`
//!   event says when the receiver starts failing and when it recovers,
//!   and a deadline (a shutdown's) is kept by spooling what is left.
//! - [`Destination`] opens any of them from its kind ([`ExportTarget`])
//!   and the environment, sends spans before the operations on them, and
//!   says per chunk what did not arrive ([`Tally`] adds it up): the one
//!   path `verdict eval --export`, `verdict push` and a service that
//!   records to it go through.
//! - [`TraceAssembler`] keeps spans and assessments together by trace:
//!   one span processor for your `SdkTracerProvider` and one assessment
//!   processor ([`verdict::AssessmentProcessor`]) for your recorder, over
//!   shared state, in front of the sink it ships through. Assessments recorded while their trace is
//!   open ship with its spans when its root ends (the MLflow sink creates
//!   the trace with them in one request); later ones go on their own.
//! - Re-exported: [`LocalStore`] and its types (`verdict-store`), and
//!   [`MlflowSink`], [`MlflowConfig`], [`RetryPolicy`] (`verdict-mlflow`).
//!
//! The decision that shapes it: **a sink reports delivery, the rest is
//! layered on top.** A sink (the store, JSON lines, OTLP, MLflow) only
//! sends what it is given and says what became of each item: `Ok(())`,
//! or a [`verdict::SinkError`] carrying one [`verdict::Outcome`] per item
//! (delivered, deferred or refused), read through [`verdict::Outcomes`].
//! Holding by trace (the assembler, a processor in front of a sink) and
//! keeping for later (the spool, a sink around a sink) are layered on any
//! sink and act on those outcomes rather than being built into one, so
//! each is written once. The alternative, a count of failures and a list
//! of positions worth retrying, leaves every layer to rebuild which item
//! was which, each its own way.
//!
//! # Features
//!
//! One feature per destination, all on by default, which is what the
//! `verdict` command and `verdict-eval` use:
//!
//! | feature | what it adds | what it builds besides |
//! |---|---|---|
//! | `otlp` | [`OtlpExporter`] and its sinks ([`otlp`]) | `opentelemetry-otlp` over HTTP, with reqwest's blocking client |
//! | `mlflow` | [`MlflowSink`] and the rest of `verdict-mlflow`, re-exported | `verdict-mlflow`: ureq, rustls |
//! | `phoenix` | [`PhoenixSink`] ([`phoenix`]); turns on `otlp` | ureq, and `verdict-mlflow` for its retries |
//! | `jsonl` | [`JsonlSink`] | nothing |
//! | `store` | [`LocalStore`] as a span and trace sink, [`Spooled`], [`replay`]; turns on `jsonl` (the spool keeps JSON lines) | `verdict-store`'s SQLite, compiled in |
//! | `testing` (off) | [`testing`]: the in-process OTLP receiver, the HTTP stub | for tests only |
//!
//! Every build has [`SpanSink`], [`VerdictSpanExporter`], the
//! [`TraceAssembler`] over any [`TraceSink`], and [`StoredSpan`]. With any
//! destination feature there is [`Destination`]: it opens the kinds built
//! in, and refuses another with an error naming the feature to turn on
//! ([`ExportTarget`] keeps every kind, so that a command line or a
//! configuration that names one gets that sentence, not a parse error).
//! A service that sends only to an OpenTelemetry collector writes
//!
//! ```toml
//! verdict-export = { version = "0.1", default-features = false, features = ["otlp"] }
//! ```
//!
//! The decision: **a feature per destination, the local store one of
//! them**, so that a service builds the clients of the places it sends to
//! and nothing else; [`StoredSpan`], which every sink takes, stays in every
//! build (`verdict-store` without its `sqlite` feature is that type and its
//! JSON forms). The alternatives rejected: a crate per destination (more
//! crates to release together for what features say, and the fan-out of
//! `Destination` would depend on all of them anyway), and `otlp` alone by
//! default (the command line and evaluations use everything, and
//! `default-features = false` is how a library user says "only this" in
//! Cargo).
//!
//! # Spans and assessments in the local store
//!
//! With no server at all: the tracer provider's spans go to the store
//! through a [`VerdictSpanExporter`], the recorder's assessments through the
//! store as an [`AssessmentSink`](verdict::AssessmentSink), and both land
//! in the same file, kept together by trace.
//!
//! ```
//! use std::sync::Arc;
//!
//! use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use verdict::{Assessment, Recorder};
//! use verdict_export::{LocalStore, VerdictSpanExporter};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Arc::new(LocalStore::open(dir.path().join("verdict.db"))?);
//! let tracer_provider = SdkTracerProvider::builder()
//!     .with_batch_exporter(VerdictSpanExporter::new(store.clone()))
//!     .build();
//! let recorder = Recorder::builder().sink(store.clone()).build();
//!
//! let trace_id = tracer_provider.tracer("app").in_span("answer", |cx| {
//!     recorder.record(Assessment::feedback("helpful", true).on_current_span()?)?;
//!     Ok::<_, Box<dyn std::error::Error>>(cx.span().span_context().trace_id())
//! })?;
//!
//! recorder.flush()?;
//! tracer_provider.force_flush()?;
//! assert_eq!(store.spans_of(trace_id)?[0].name, "answer");
//! assert_eq!(store.list_by_trace(trace_id)?[0].name(), "helpful");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # JSONL lines
//!
//! Each line is one JSON object:
//!
//! | line | shape |
//! |---|---|
//! | an assessment logged | exactly MLflow's JSON, [`Assessment::to_json`](verdict::Assessment::to_json) — no extra field, so it decodes with `Assessment::from_json` and posts to an MLflow server as it is |
//! | an update | `{"type": "update", "assessment": {...}, "update_mask": "..."}`: MLflow's PATCH body ([`verdict::wire::update_to_json`]) plus the type; the assessment holds its `assessment_id`, its `trace_id`, the fields the mask names in MLflow's wire form, and the update time as `last_update_time` |
//! | a delete | `{"type": "delete", "trace_id": "tr-<32 hex>", "assessment_id": "a-<32 hex>"}` |
//! | a span | MLflow's span dictionary (`mlflow.entities.Span.to_dict()`: base64 `trace_id` and `span_id`, times in nanoseconds, attribute values as JSON text) plus `"type": "span"`, `kind`, `scope` and `resource`, see [`StoredSpan::to_mlflow_json`] |
//!
//! A reader tells lines apart by `"type"` and takes a line without one for
//! an assessment. Every line is read by MLflow's own loaders: an
//! assessment line by `Assessment.from_dictionary`, a span line by
//! `mlflow.entities.Span.from_dict` (which ignores the fields Verdict
//! adds). The decision: **span lines in MLflow's span shape**, so that
//! the one file a JSONL export writes loads into MLflow as it is; the
//! alternative, Verdict's own span object with hex ids and RFC 3339 times
//! ([`StoredSpan::to_json`], what `verdict show --json` prints), is easier
//! to read by eye but no MLflow loader takes it. Trace ids in assessment
//! lines carry MLflow's `tr-` prefix; [`StoredSpan::from_mlflow_json`]
//! reads a span line back, whole.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod assemble;
#[cfg(feature = "store")]
mod bounded;
#[cfg(any(
    feature = "otlp",
    feature = "mlflow",
    feature = "phoenix",
    feature = "jsonl"
))]
mod destination;
mod error;
#[cfg(feature = "store")]
mod health;
#[cfg(feature = "jsonl")]
mod jsonl;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "phoenix")]
pub mod phoenix;
#[cfg(feature = "store")]
pub mod replay;
mod spans;
#[cfg(feature = "store")]
mod spool;
#[cfg(feature = "testing")]
pub mod testing;

pub use assemble::{
    AssemblerAssessmentProcessor, AssemblerBuilder, AssemblerSpanProcessor, TraceAssembler,
    TraceSink,
};
#[cfg(any(
    feature = "otlp",
    feature = "mlflow",
    feature = "phoenix",
    feature = "jsonl"
))]
pub use destination::{
    DeliveryError, DeliveryFailure, Destination, ExportTarget, OpenOptions, TRACES_NAMED, Tally,
    Undelivered,
};
pub use error::{Error, Result};
#[cfg(feature = "jsonl")]
pub use jsonl::{JsonlSink, jsonl_line};
#[cfg(feature = "otlp")]
pub use otlp::{OtlpExporter, OtlpExporterBuilder, OtlpSink, OtlpTraceSink};
#[cfg(feature = "phoenix")]
pub use phoenix::{PhoenixConfig, PhoenixSink};
pub use spans::{SpanSink, VerdictSpanExporter};
#[cfg(feature = "store")]
pub use spool::{SPOOL_MAX_DELAY, SpoolStats, Spooled};
// The store and the MLflow client are crates of their own; the sinks'
// users find them here too.
#[cfg(any(feature = "mlflow", feature = "phoenix"))]
pub use verdict_mlflow::{self as mlflow, HttpSettings, RetryPolicy, WithHttpSettings};
#[cfg(feature = "mlflow")]
pub use verdict_mlflow::{ConcurrencyStats, DEFAULT_EXPERIMENT_ID, MlflowConfig, MlflowSink};
pub use verdict_store::StoredSpan;
#[cfg(feature = "store")]
pub use verdict_store::{
    Batch, DEFAULT_PATH, DestinationState, LocalStore, NewRun, OpScope, RecordSpan, RecordValue,
    RunBlock, RunBlockBuilder, RunKey, RunScorer, RunStatus, Settlement, StoredRecord,
    StoredResult, StoredRun, StoredValue, TraceSummary, Unseen, runs,
};
