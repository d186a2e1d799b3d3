//! Verdict's local store: traces, spans, assessments and evaluation runs
//! in one SQLite file (by default `.verdict/verdict.db`), so that
//! everything works with no server.
//!
//! - [`LocalStore`] has the full lifecycle of the core's in-memory store
//!   — get, list by trace and by name, update, override, delete — and is an
//!   [`AssessmentSink`](verdict::AssessmentSink); it stores finished
//!   OpenTelemetry spans with [`LocalStore::put_spans`] (spans read from
//!   elsewhere, with the resource they came with, with
//!   [`LocalStore::put_stored_spans`]) and reads them back as
//!   [`StoredSpan`]s, which write themselves as MLflow's span dictionary
//!   ([`StoredSpan::to_mlflow_json`], what JSONL exports and the spool
//!   hold) or as Verdict's own JSON ([`StoredSpan::to_json`]).
//! - [`Batch`] and [`LocalStore::write_batch`] store many new spans and
//!   assessments in one transaction.
//! - [`runs`] keeps evaluation runs: a row per run from its start
//!   ([`StoredRun`], with its [`RunStatus`]), and its records packed a block
//!   at a time ([`RunBlockBuilder`], [`LocalStore::write_run`]), read back as
//!   the traces, spans and assessments they stand for;
//!   [`LocalStore::delete_runs`] removes runs and gives their space back.
//! - The spool ([`LocalStore::spool`], [`LocalStore::spooled`]) keeps, per
//!   sink, what a network sink could not deliver yet, for the delivery
//!   layer (`verdict-export`) to send again.
//!
//! Three decisions shape it:
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
//!   else — a service's assessments, a person's review — is a row. The
//!   alternative, a row per assessment for runs too, costs about five
//!   index entries and a JSON document per scorer per record.
//! - **MLflow's JSON is the record.** A row keeps an assessment's ids,
//!   name, kind, validity and times in indexed columns (ids as their
//!   bytes) and the rest as MLflow's JSON without those fields
//!   ([`verdict::wire::body_json`]); the two put back together give
//!   exactly the document [`Assessment::to_json`](verdict::Assessment::to_json)
//!   writes, so nothing is lost between the store, JSON lines and an
//!   MLflow server.
//!
//! **Features.** `sqlite` (on by default) is the store itself: everything
//! above. Without it (`default-features = false`) the crate is
//! [`StoredSpan`] and its JSON forms only, with no SQLite to build: what
//! `verdict-export`'s sinks take, in a service that sends spans to a
//! collector and keeps nothing locally. The alternative rejected: moving
//! `StoredSpan` to the core (which would then know MLflow's span JSON) or
//! to a crate of its own (one more crate to release for one type).
//!
//! The file is SQLite's own, compiled in (no system library needed), in
//! WAL mode: several processes and threads can write to it at once, each
//! with its own `LocalStore`; [`LocalStore::open_read_only`] reads one it
//! cannot write. Its schema carries a version (`PRAGMA user_version`); a
//! file of another version is refused with a sentence.
//!
//! ```
//! use verdict::Assessment;
//! use verdict_store::LocalStore;
//!
//! let dir = tempfile::tempdir()?;
//! let store = LocalStore::open(dir.path().join("verdict.db"))?;
//! let feedback = Assessment::feedback("helpful", true)
//!     .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)?;
//! store.log(&feedback)?;
//! assert_eq!(store.list_by_trace(feedback.trace_id())?, [feedback]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![warn(unreachable_pub)]

#[cfg(feature = "sqlite")]
mod bulk;
#[cfg(feature = "sqlite")]
mod checkpoint;
#[cfg(feature = "sqlite")]
mod error;
mod mlflow_span;
#[cfg(feature = "sqlite")]
mod ops;
#[cfg(feature = "sqlite")]
pub mod runs;
#[cfg(feature = "sqlite")]
mod schema;
mod span;
#[cfg(feature = "sqlite")]
mod spool;
#[cfg(feature = "sqlite")]
mod store;
#[cfg(feature = "sqlite")]
mod trace_spans;

#[cfg(feature = "sqlite")]
pub use bulk::Batch;
#[cfg(feature = "sqlite")]
pub use error::{Error, Result};
#[cfg(feature = "sqlite")]
pub use ops::{BlockRecord, DestinationState, LoggedOp, OpKind, OpScope, Settlement, Unseen};
#[cfg(feature = "sqlite")]
pub use runs::{
    NewRun, RecordSpan, RecordValue, RunBlock, RunBlockBuilder, RunKey, RunScorer, RunStatus,
    StoredRecord, StoredResult, StoredRun, StoredValue,
};
pub use span::StoredSpan;
#[cfg(feature = "sqlite")]
pub use spool::{SpoolLine, Spooled};
#[cfg(feature = "sqlite")]
pub use store::{DEFAULT_PATH, LocalStore, TraceSummary};
