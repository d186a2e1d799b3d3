//! Evaluation runs for Verdict: score a dataset of records with
//! expectations, check the results against gates, and keep the run.
//!
//! - [`Dataset`] reads one stream, once (a file, standard input, a FIFO):
//!   JSON lines, a JSON array of records, CSV or TSV, Parquet or Arrow IPC
//!   (with the `parquet` feature, a record batch at a time), in MLflow's
//!   evaluation shape (`inputs`, `outputs`, `expectations`, optional
//!   `trace_id` / `span_id`), MLflow's request/response shape or
//!   `input`/`output`/`expected`, or as a [`FieldMap`] says; or OTLP JSON
//!   traces, whose root spans give inputs and outputs
//!   (`mlflow.spanInputs` / `mlflow.spanOutputs`, else OpenInference's
//!   `input.value` / `output.value`, else the GenAI semantic conventions'
//!   attributes: [`root_span`], which `verdict serve` reads them with). A malformed record, or one naming a trace
//!   an earlier record named, is reported with its line and the reason
//!   ([`InvalidRecord`]); a run stops on it, or counts it as an error for
//!   every scorer and goes on.
//! - [`SuiteConfig`] is `verdict.toml`: scorers with their config, pass
//!   criteria ([`PassCriterion`]) and weights, and the suite's gates,
//!   among them conditions in MLflow's `quality_criteria` language
//!   ([`criteria`]: ``exact_match >= 0.9 AND `edit_distance/p90` <= 3``).
//! - [`Evaluation`] runs it: each record becomes a trace (or joins the
//!   one it names), its expectations expectation assessments, and each
//!   scorer's result a feedback named after the scorer. Everything goes to
//!   the local store ([`verdict_export::LocalStore`]) and to any
//!   [`Destination`] (OTLP, MLflow, JSON lines); the run is stored with an
//!   id so that a later run can use it as a baseline. To MLflow, the run is
//!   an MLflow run, as `mlflow.genai.evaluate` makes one: params, per-scorer
//!   metrics, the gate as a tag, every trace linked to it in batches (see
//!   the `mlflow_run` module) rather than marked with the run's id alone,
//!   which would miss the traces records name but the run did not create.
//! - [`RunSummary`] holds per-scorer statistics ([`ScorerStats`]: pass
//!   rate, mean, p50, p90, errors, worst records) and [`GateVerdict`]s;
//!   [`report`] turns it into Markdown, HTML (with a chart of each
//!   scorer's score distribution) and a terminal table, and a run writes
//!   JUnit XML (red exactly when the run fails: a test case per gate) and a
//!   JSON results file as it goes.
//! - A run may call the system under test for each record
//!   ([`Evaluation::predict`], a [`predict::Predictor`]): the record's
//!   outputs are its answer (a dataset then needs none), the spans it
//!   emitted are stored in the record's trace under the root span, which
//!   lasts the call, and a call that fails, panics or runs out of time is
//!   an error feedback with its code from every scorer.
//! - A run may have its records scored elsewhere
//!   ([`Evaluation::remote_scoring`], a [`RemoteScoring`]: `verdict eval
//!   --workers`): it still reads the dataset, stores and reports, and takes
//!   each record's results by its line from the other side, which reads
//!   the same Parquet file in parts ([`Dataset::entries_of_row_groups`]).
//! - [`Suite`] is the same for `cargo test`: a suite that reads like a
//!   test, whose failure lists the failed gates and the worst records.
//!
//! Three decisions shape it:
//!
//! - **What a run reads is never what it writes.** No output is the
//!   store, the dataset or another output, through links or not
//!   ([`Outputs`], checked before anything is written), and result files
//!   are written whole, then renamed into place: a run that cannot write
//!   its results did not reach its verdict, and is stored as stopped.
//! - **A run streams.** Records are read, scored and written a chunk at a
//!   time; statistics keep counts of distinct values and a handful of
//!   worst records, result files are written as records are scored. Memory
//!   does not grow with the dataset, and a million records cost what a
//!   thousand do, per record.
//! - **Three stages overlap.** A reader thread parses the next chunk
//!   while the current one is scored on every core (the scorer host's
//!   [`Runner`](verdict_scorer::Runner)) and its spans and assessments are
//!   made, with their JSON, on every core; one writer thread stores the
//!   previous chunk in one SQLite transaction
//!   ([`LocalStore::write_batch`](verdict_export::LocalStore::write_batch)),
//!   never one transaction per record.
//!
//! An export destination that fails does not stop a run: the local store,
//! when the run has one, keeps every record, the run goes on, and the summary counts what each
//! destination did not deliver ([`RunSummary::undelivered`],
//! [`DeliveryFailure`]), for `verdict push` to send again from the store.
//!
//! Because a run streams, a run that stops on an error (an invalid record,
//! a store failure) may already have stored records. It keeps
//! them and is stored as a run that stopped ([`RunSummary::error`]), with
//! no statistics or gates, so that `verdict runs` shows it and its data is
//! attributable to its id (its feedback carries the run id, and so do the
//! root spans it made); it is never a baseline. A run that stops before it
//! stored anything leaves nothing in the store. Checking the whole dataset
//! first would read it twice, and would not cover the other errors.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod compare;
mod config;
pub mod criteria;
mod dataset;
mod error;
mod export;
mod gates;
mod mlflow_run;
mod otel_capture;
mod output;
pub mod predict;
mod predict_stage;
mod priority;
mod remote;
pub mod report;
mod reuse;
pub mod root_span;
mod run;
mod scored;
mod span_capture;
mod stats;
mod suite;
mod suite_predictor;
mod traces;

pub use compare::{CHANGES_LISTED, RecordChange, RecordComparison};
pub use config::{PluginSettings, ScorerSetup, SuiteConfig, SuiteGates};
pub use dataset::owned_trace;
pub use dataset::{
    Dataset, DatasetOptions, DatasetRecord, Entries, Entry, FieldMap, Format, InvalidRecord, STDIN,
};
pub use error::{Error, Result, signal_name};
pub use gates::{GateVerdict, PassCriterion};
pub use otel_capture::SuiteSpans;
pub use output::{OutputFile, Outputs};
pub use remote::RemoteScoring;
pub use root_span::EXPECTATION_ATTRIBUTE_PREFIX;
pub use run::{
    Evaluation, Interrupt, LINE_ATTRIBUTE, PREDICT_CALLS, PREDICT_TIME_LIMIT, Progress,
    RECORD_SPAN_NAME, RUN_ID_ATTRIBUTE, RunSummary, find_baseline, find_run,
};
pub use stats::{ScorerStats, WORST_KEPT, WorstRecord};
pub use suite::{Suite, SuiteReport};
pub use traces::{
    ExistingTrace, TraceRecords, TraceSelection, mlflow_traces, store_traces, trace_records,
};
pub use verdict_export::{DeliveryFailure, Destination, ExportTarget, TRACES_NAMED, Undelivered};
