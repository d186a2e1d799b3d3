//! The one error type of this crate.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::ErrorCode;

/// Everything that can go wrong in the local store.
///
/// Each message names the file, says what went wrong and what to do, so
/// that it can be shown to a person as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The directory that should hold the local store cannot be created.
    #[error(
        "cannot create the directory {} for the local store: {source}; create it yourself, \
         or open the store at another path",
        dir.display()
    )]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why it could not be created.
        source: io::Error,
    },

    /// The store's file cannot be opened.
    #[error(
        "cannot open the local store {}: {source}; check that the path names a file you can \
         read and write",
        path.display()
    )]
    Open {
        /// The store's file.
        path: PathBuf,
        /// Why it could not be opened.
        source: Box<rusqlite::Error>,
    },

    /// The file exists but is not a Verdict store: not a SQLite database,
    /// or a database of another program.
    #[error(
        "{} is not a Verdict store: {reason}; move it away, or open the store at another path",
        path.display()
    )]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },

    /// The store was written by a newer Verdict, with a schema this one
    /// does not know.
    #[error(
        "the local store {} has schema version {found}, but this Verdict knows versions up to \
         {supported}: it was written by a newer Verdict; upgrade, or open another path",
        path.display()
    )]
    NewerSchema {
        /// The store's file.
        path: PathBuf,
        /// The schema version found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },

    /// Another connection held the store's write lock for longer than the
    /// store waits.
    #[error(
        "the local store {} stayed locked by another writer for more than {}s while {action}: \
         {source}; another process is holding a long transaction on it — retry when it is done",
        path.display(),
        waited.as_secs()
    )]
    Busy {
        /// The store's file.
        path: PathBuf,
        /// What the store was doing.
        action: String,
        /// How long it waited for the lock.
        waited: Duration,
        /// SQLite's error.
        source: Box<rusqlite::Error>,
    },

    /// SQLite failed: a disk that is full or read-only, an I/O error, a
    /// damaged file.
    #[error("the local store {} failed while {action}: {source}{hint}", path.display())]
    Database {
        /// The store's file.
        path: PathBuf,
        /// What the store was doing.
        action: String,
        /// What a person can do about it, if we can tell; starts with `; `.
        hint: &'static str,
        /// SQLite's error.
        source: Box<rusqlite::Error>,
    },

    /// A record in the store cannot be read back: the file was changed by
    /// something other than Verdict.
    #[error(
        "the local store {} holds {what} that cannot be read: {reason}; the file was changed \
         outside Verdict — delete that row, or start a new store",
        path.display()
    )]
    Corrupt {
        /// The store's file.
        path: PathBuf,
        /// Which record.
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The operation broke a lifecycle rule (an unknown id, a taken id, an
    /// override of an expectation…), or an assessment was not found.
    #[error(transparent)]
    Assessment(#[from] verdict::Error),

    /// The store's file is damaged: its integrity check found problems.
    #[error(
        "the local store {} is damaged: SQLite's integrity check found {}{}; nothing more is \
         written to it — move it away and start a new store (the sqlite3 tool's .recover may \
         save what it holds)",
        path.display(),
        findings.first().map_or("a problem", String::as_str),
        if findings.len() > 1 { format!(" (and {} more)", findings.len() - 1) } else { String::new() }
    )]
    Damaged {
        /// The store's file.
        path: PathBuf,
        /// What the check found, as SQLite words it.
        findings: Vec<String>,
    },

    /// A run cannot be stored, deleted or found as asked: the sentence
    /// says why.
    #[error("{0}")]
    Run(String),
}

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The store's time limit for waiting on another writer's lock.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Turns a SQLite error met while doing `action` on the store at `path`
/// into an error a person can act on.
pub(crate) fn database(path: &Path, action: impl Into<String>, source: rusqlite::Error) -> Error {
    let path = path.to_path_buf();
    let action = action.into();
    let hint = match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            return Error::Busy {
                path,
                action,
                waited: BUSY_TIMEOUT,
                source: Box::new(source),
            };
        }
        Some(ErrorCode::NotADatabase) => {
            return Error::NotAStore {
                path,
                reason: format!("SQLite says \"{source}\""),
            };
        }
        Some(ErrorCode::DiskFull) => "; the disk is full: free some space",
        Some(ErrorCode::ReadOnly) => {
            "; the file or its directory is read-only: make both writable (SQLite also writes \
             the -wal and -shm files beside it)"
        }
        Some(ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => {
            "; check the permissions of the file and of its directory"
        }
        Some(ErrorCode::DatabaseCorrupt) => {
            "; the file is damaged: move it away and start a new store (the sqlite3 tool's \
             .recover may save its contents)"
        }
        Some(ErrorCode::SystemIoFailure) => "; the disk or file system reported an I/O error",
        _ => "",
    };
    Error::Database {
        path,
        action,
        hint,
        source: Box::new(source),
    }
}

impl Error {
    /// Wraps an error of this crate for the lifecycle functions of
    /// `verdict`, which speak `verdict::Error`; [`Error::from_core`] undoes
    /// it.
    pub(crate) fn into_core(self) -> verdict::Error {
        match self {
            Error::Assessment(e) => e,
            other => verdict::Error::Store(Box::new(other)),
        }
    }

    /// Takes back an error of this crate that went through `verdict`.
    pub(crate) fn from_core(e: verdict::Error) -> Self {
        match e {
            verdict::Error::Store(inner) => match inner.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(other) => Error::Assessment(verdict::Error::Store(other)),
            },
            other => Error::Assessment(other),
        }
    }

    /// Whether the error is a refusal under the lifecycle rules, rather
    /// than a failure of the store.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(self, Error::Assessment(e) if !matches!(e, verdict::Error::Store(_)))
    }
}
