//! Where Verdict's assessments and spans go when they leave the process:
//! the local store and JSON lines.
//!
//! - [`LocalStore`] keeps traces, spans and assessments in one SQLite file
//!   (by default `.verdict/verdict.db`), with the full lifecycle of the
//!   core's in-memory store — get, list by trace and by name, update,
//!   override, delete — so that the command line works with no server. It
//!   is an [`AssessmentSink`](verdict::AssessmentSink), and stores finished
//!   OpenTelemetry spans with [`LocalStore::put_spans`].
//! - [`Batch`] and [`LocalStore::write_batch`] store many new spans and
//!   assessments in one transaction.
//! - [`runs`] keeps evaluation runs: a row per run from its start
//!   ([`StoredRun`], with its [`RunStatus`]), and its records packed a block
//!   at a time ([`RunBlockBuilder`], [`LocalStore::write_run`]), read back as
//!   the traces, spans and assessments they stand for; what `verdict eval`
//!   writes, and [`LocalStore::delete_runs`] removes.
//! - [`VerdictSpanExporter`] is an OpenTelemetry span exporter for your own
//!   `SdkTracerProvider`: it hands finished spans to one or more
//!   [`SpanSink`]s — the local store, a JSONL output, an MLflow server.
//! - [`MlflowSink`] sends spans to an MLflow tracking server's OTLP
//!   endpoint and assessments to its REST API: trace by trace, a trace's
//!   new assessments inline with it in one request, several traces at once
//!   with a concurrency that adapts to the server, each trace retrying
//!   transient failures within its own budget ([`RetryPolicy`]).
//! - [`JsonlSink`] writes one operation or span per line, to a file or to
//!   standard output, for piping and replay.
//! - [`Spooled`] wraps a network sink and keeps what it cannot deliver
//!   (assessment operations, and spans for a sink that takes spans) in the
//!   local store's spool, replaying it later (on the next start, or when
//!   asked), so that a receiver that is down loses nothing.
//! - [`TraceAssembler`] keeps spans and assessments together by trace:
//!   one span processor for your `SdkTracerProvider` and one sink for your
//!   recorder, over shared state. Assessments recorded while their trace is
//!   open ship with its spans when its root ends (the MLflow sink creates
//!   the trace with them in one request); later ones go on their own.
//! - [`OtlpExporter`] ([`otlp`]) sends spans and assessments to any
//!   OpenTelemetry collector over OTLP/HTTP, the assessments as
//!   `gen_ai.evaluation.result` events on their spans.
//!
//! Two decisions shape it:
//!
//! - **The lifecycle rules are the core's, not rewritten here.** The store
//!   offers only the primitive reads and writes of
//!   [`verdict::lifecycle::Records`], inside a SQLite transaction, and the
//!   core's functions apply the rules on top; the core's conformance checks
//!   (`verdict::testing`, feature `testing`) hold it to the same answers as
//!   [`verdict::MemoryStore`].
//! - **A run is packed, not a row per assessment.** An evaluation writes
//!   hundreds of thousands of records at once and the same shape each
//!   time; its records are stored compressed in blocks, their ids derived
//!   from the run's, so that a run costs a few bytes per record and its
//!   write is not the bound of `verdict eval` (see [`runs`]). Everything
//!   else — a service's assessments, a person's review — is a row.
//! - **MLflow's JSON is the record.** The store keeps each assessment's
//!   ids, name, kind, validity and times in indexed columns (ids as their
//!   bytes) and the rest as MLflow's JSON without those fields
//!   ([`verdict::wire::body_json`]); the two put back together give
//!   exactly the document [`Assessment::to_json`](verdict::Assessment::to_json)
//!   writes, and a JSONL assessment line is that same document; nothing is
//!   lost between the store, the lines and an MLflow server.
//!
//! The store's file is SQLite's own, compiled in (no system library
//! needed), in WAL mode: several processes and threads can write to it at
//! once, each with its own `LocalStore`; [`LocalStore::open_read_only`]
//! reads one it cannot write. Its schema carries a version (`PRAGMA
//! user_version`); a file of another version is refused with a sentence.
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
//!     Ok::<_, verdict::Error>(cx.span().span_context().trace_id())
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
//! | a span | `{"type": "span", "trace_id": "<32 hex>", "span_id": "<16 hex>", ...}`, see [`StoredSpan::to_json`] |
//!
//! A reader tells lines apart by `"type"` and takes a line without one for
//! an assessment. Trace ids in assessment lines carry MLflow's `tr-`
//! prefix, in span lines OpenTelemetry's bare hex; `verdict::parse_trace_id`
//! reads both.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod assemble;
mod error;
mod jsonl;
pub mod otlp;
mod spans;
mod spool;
#[cfg(feature = "testing")]
pub mod testing;

pub use assemble::{
    AssemblerBuilder, AssemblerSink, AssemblerSpanProcessor, TraceAssembler, TraceSink,
};
pub use error::{Error, Result};
pub use jsonl::{JsonlSink, jsonl_line};
pub use otlp::{OtlpExporter, OtlpExporterBuilder, OtlpSink, OtlpTraceSink};
pub use spans::{SpanSink, VerdictSpanExporter};
pub use spool::{SpoolStats, Spooled};
// The store and the MLflow client are crates of their own; the sinks'
// users find them here too.
pub use verdict_mlflow::{
    self as mlflow, ConcurrencyStats, DEFAULT_EXPERIMENT_ID, MlflowConfig, MlflowSink, RetryPolicy,
};
pub use verdict_store::{
    Batch, DEFAULT_PATH, LocalStore, NewRun, RecordSpan, RecordValue, RunBlock, RunBlockBuilder,
    RunKey, RunScorer, RunStatus, StoredRecord, StoredResult, StoredRun, StoredSpan, StoredValue,
    TraceSummary, runs,
};
