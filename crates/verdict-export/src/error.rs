//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// What can go wrong delivering assessments and spans: the local store
/// (spooling), the JSONL output. Each message says what went wrong and
/// what to do, so that it can be shown to a person as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The local store failed (spooling).
    #[cfg(feature = "store")]
    #[error(transparent)]
    Store(#[from] verdict_store::Error),

    /// The operation broke a lifecycle rule, or an assessment was not
    /// found.
    #[error(transparent)]
    Assessment(#[from] verdict::Error),

    /// The JSONL output file cannot be opened.
    #[error(
        "cannot open {} to append JSON lines: {source}; check that its directory exists and is \
         writable",
        path.display()
    )]
    OpenOutput {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },

    /// Writing or flushing JSON lines failed.
    #[error("cannot write JSON lines to {output}: {source}")]
    Write {
        /// The file, or `stdout`.
        output: String,
        /// Why.
        source: io::Error,
    },
}

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
