//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// Everything that can stop an evaluation, each with a message a person
/// can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The dataset cannot be opened or read.
    #[error(
        "cannot read the dataset {}: {source}",
        crate::dataset::display_name(path)
    )]
    ReadDataset {
        /// The dataset.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },

    /// A record of the dataset is malformed (and invalid records are not
    /// being skipped).
    #[error(
        "{}:{}: {}; fix the line, or pass --skip-invalid to record it as an error and go on",
        crate::dataset::display_name(path), invalid.line, invalid.reason
    )]
    InvalidRecord {
        /// The dataset.
        path: PathBuf,
        /// Which record and why.
        invalid: crate::InvalidRecord,
    },

    /// The dataset's records cannot be read at all: they are in no shape
    /// Verdict reads and no field map was given (the reason suggests one),
    /// a field map names fields they do not have, or a CSV header cannot
    /// name columns.
    #[error("{}: {reason}", crate::dataset::display_name(path))]
    DatasetShape {
        /// The dataset.
        path: PathBuf,
        /// What its records hold, and how to read them.
        reason: String,
    },

    /// `verdict.toml` cannot be read or is not valid.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, and what is allowed.
        reason: String,
    },

    /// A setting given in code or on the command line is not valid.
    #[error("{0}")]
    Usage(String),

    /// A scorer cannot be made (unknown name, bad config, plugin refused).
    #[error(transparent)]
    Scorer(#[from] verdict_scorer::LoadError),

    /// The local store failed.
    #[error(transparent)]
    Store(#[from] verdict_store::Error),

    /// An assessment could not be made from a record (an invalid name).
    #[error(transparent)]
    Assessment(#[from] verdict::Error),

    /// An output is a file the command reads or another output (the
    /// store, the dataset): nothing was written.
    #[error("{0}")]
    SamePath(String),

    /// A report or results file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    WriteReport {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },

    /// A signal (or [`Interrupt::raise`](crate::Interrupt::raise)) stopped
    /// the run before its verdict.
    #[error("interrupted by {}", signal_name(*signal))]
    Interrupted {
        /// The signal's number.
        signal: i32,
    },

    /// The records could not be scored where the run sent them (a worker
    /// that cannot be reached, died or disagrees): the run stops.
    #[error("scoring on the workers failed: {0}")]
    Remote(String),

    /// The baseline run named is not in the store.
    #[error("{0}")]
    Baseline(String),

    /// The run's summary cannot be written as JSON, so it is not stored
    /// (a null summary would be a run that `verdict runs RUN` cannot
    /// read), or a stored one cannot be read back.
    #[error("the summary of run {run_id} {reason}")]
    Summary {
        /// The run.
        run_id: String,
        /// serde_json's reason.
        reason: String,
    },

    /// An export destination failed; what the local store holds is intact.
    #[error(transparent)]
    Export(#[from] verdict_export::DeliveryError),
}

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A signal as people name it: `SIGINT (Ctrl-C)`, `SIGTERM (signal 15)`, …
pub fn signal_name(signal: i32) -> String {
    if signal == libc::SIGINT {
        return "SIGINT (Ctrl-C)".into();
    }
    verdict_scorer::signal_name(signal)
}
