//! Assessments of OpenTelemetry traces: feedback (a judgment of an output)
//! and expectations (ground truth), attached to spans and recorded without
//! waiting on I/O.
//!
//! This is Verdict's core. It provides:
//!
//! - [`Assessment`], the record, mirroring MLflow's assessment model field
//!   for field, with its parts: [`AssessmentSource`] (HUMAN, LLM_JUDGE or
//!   CODE, and an id), [`FeedbackValue`], and [`AssessmentError`] for an
//!   evaluation that failed. It serializes as MLflow's REST JSON.
//! - [`Target`], the span or trace an assessment judges: from a
//!   `SpanContext`, the current OpenTelemetry `Context`, the current
//!   `tracing` span (feature `tracing`), or ids as people paste them.
//! - [`Recorder`], which takes assessments from the caller and hands them
//!   on a background worker to [`AssessmentProcessor`]s, which decide when
//!   they go out (at once, or held to travel with their trace), and
//!   [`AssessmentSink`]s, which deliver them and say what became of each
//!   operation, one [`Outcome`] per item (delivered, deferred, refused),
//!   read through [`Outcomes`]; [`global`] holds a process-wide one.
//! - [`Error`], what is wrong with an assessment or a change to one, and
//!   [`RecorderError`], what recording and delivering report.
//! - [`lifecycle`]: update, override and delete with MLflow's rules, and
//!   [`MemoryStore`], an in-memory store that follows them.
//! - [`EventSink`], which emits each feedback as a
//!   `gen_ai.evaluation.result` OpenTelemetry event, and each expectation
//!   (ground truth, not an evaluation) as a `verdict.expectation` one.
//!
//! Service authors use this crate directly. The exporters
//! (`verdict-export`: OTLP, MLflow, a local database) implement
//! [`AssessmentSink`], its trace assembler implements
//! [`AssessmentProcessor`], and the scorer host (`verdict-scorer`)
//! produces assessments; none is a dependency of this crate.
//!
//! Four decisions shape it:
//!
//! - **Recording never waits on I/O.** [`Recorder::record`] moves the
//!   assessment into a bounded queue and returns; a worker batches the
//!   queue out to sinks. When the queue is full the caller chooses, through
//!   [`Overflow`], between an error, a counted drop, or back-pressure —
//!   never a silent loss.
//! - **Validate once, trust afterwards.** Names, ids and values are checked
//!   where an [`Assessment`] is made (by its builder or by decoding JSON),
//!   with errors that say what is allowed; an `Assessment` that exists is
//!   valid, so sinks and stores do not check again.
//! - **Processors hold, sinks deliver**, as opentelemetry_sdk separates
//!   `SpanProcessor` from `SpanExporter`. A sink exports what it is given
//!   and reports the outcome; a processor that keeps operations to ship
//!   later reports their fate on its [`DeliveryLedger`], so that the
//!   recorder's [`Counters`] stay exact. A sink that may also hold was
//!   rejected: every sink's contract would carry what one of them does.
//! - **Each function returns only the errors it can produce.** Building,
//!   attaching, decoding and the lifecycle rules fail with [`Error`];
//!   recording, flushing and shutting down with [`RecorderError`]. Both
//!   are `std::error::Error + Send + Sync + 'static`, so one
//!   `Box<dyn std::error::Error>` (or `anyhow::Error`) takes either with
//!   `?` where a service does both. One enum for both was rejected: the
//!   crates that store, export and score assessments wrap [`Error`] in
//!   their own errors, and would carry recorder variants they never see;
//!   an umbrella enum over the two would be a third name for what
//!   `Box<dyn Error>` already gives.
//!
//! # The model
//!
//! | field | here | on MLflow's wire |
//! |---|---|---|
//! | id | [`AssessmentId`], random, client-side | `assessment_id`: `a-` + 32 hex |
//! | name | [`AssessmentName`]: non-empty, no `.`, ≤ 250 chars | `assessment_name` |
//! | trace, span | [`Target`] | `trace_id`: `tr-` + 32 hex; `span_id`: 16 hex, absent for the trace |
//! | source | [`AssessmentSource`]; feedback defaults to CODE, expectations to HUMAN, id `default` | `source {source_type, source_id}` |
//! | value | [`AssessmentValue`]: feedback (value and/or error) or expectation (JSON) | `feedback {value, error}` / `expectation {value \| serialized_value}` |
//! | rationale, metadata | `Option<String>`, string map | `rationale`, `metadata` |
//! | times | `SystemTime`, millisecond precision | RFC 3339 UTC with `Z` |
//! | overrides, valid | the overridden id; false once overridden | `overrides`, `valid` |
//! | run id | `Option<String>` | `metadata["mlflow.assessment.sourceRunId"]` |
//!
//! # Example
//!
//! ```
//! use opentelemetry::trace::{Tracer, TracerProvider as _};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use verdict::{Assessment, AssessmentSource, MemoryStore, Recorder};
//!
//! let store = MemoryStore::default();
//! let recorder = Recorder::builder().sink(store.clone()).build();
//! let tracer = SdkTracerProvider::builder().build().tracer("app");
//!
//! tracer.in_span("answer", |_cx| -> Result<(), Box<dyn std::error::Error>> {
//!     let feedback = Assessment::feedback("helpful", true)
//!         .rationale("the user clicked thumbs-up")
//!         .source(AssessmentSource::human("user-42"))
//!         .on_current_span()?;
//!     recorder.record(feedback)?;
//!     recorder.record(Assessment::expectation("expected_response", "Paris").on_current_span()?)?;
//!     Ok(())
//! })?;
//!
//! recorder.flush()?;
//! assert_eq!(store.len(), 2);
//! assert_eq!(store.summary("helpful").pass_rate(), Some(1.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod aggregate;
mod assessment;
mod error;
mod event;
pub mod global;
mod ids;
pub mod lifecycle;
mod memory;
mod name;
mod processor;
mod recorder;
mod sink;
mod source;
mod target;
#[cfg(feature = "testing")]
pub mod testing;
mod value;
mod versions;
pub mod wire;

pub use aggregate::FeedbackSummary;
pub use assessment::{Assessment, AssessmentBuilder, AssessmentValue, Kind, RUN_ID_METADATA_KEY};
pub use error::{Error, RecorderError, Result};
pub use event::{
    EVENT_NAME, EXPECTATION_EVENT_NAME, EventSink, RootSpans, attributes, fill_log_record,
    fill_log_record_with_root,
};
pub use ids::{AssessmentId, MLFLOW_TRACE_PREFIX, mlflow_trace_id, parse_span_id, parse_trace_id};
pub use lifecycle::{AssessmentUpdate, UpdateBuilder};
pub use memory::MemoryStore;
pub use name::{AssessmentName, MAX_NAME_CHARS};
pub use processor::{AssessmentProcessor, DeliveryLedger};
pub use recorder::{
    Counters, DEFAULT_SHUTDOWN_TIMEOUT, ErrorHandler, Overflow, Recorder, RecorderBuilder,
};
pub use sink::{
    AssessmentSink, InMemorySink, Operation, Outcome, Outcomes, Reason, SinkError,
    SpansAndOperations,
};
pub use source::{AssessmentSource, SourceType};
pub use target::Target;
pub use value::{AssessmentError, FeedbackValue};
#[cfg(feature = "tracing")]
pub use versions::check_tracing_setup;
pub use versions::{OPENTELEMETRY_VERSION, TRACING_OPENTELEMETRY_VERSION};

/// Re-exported so that users name the same OpenTelemetry types as this crate.
pub use opentelemetry;

/// The README's tour, compiled and run as a doc test so that it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeTour;
