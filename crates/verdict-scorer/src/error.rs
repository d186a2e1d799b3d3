//! Why a plugin could not be loaded or a scorer could not be made.

use std::path::PathBuf;

/// The entry point named for the scorer `path` is named for, in words.
fn named_entry(path: &std::path::Path) -> String {
    path.file_name()
        .and_then(|f| f.to_str())
        .and_then(verdict_plugin::abi::library_scorer)
        .map_or_else(
            || "an entry point named for its scorer".to_owned(),
            |name| format!("`{}`", verdict_plugin::abi::entry_symbol(&name)),
        )
}

/// A plugin refused at load time, or a scorer that could not be made. Each
/// message names what the plugin has and what the host wants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// No file at the path.
    #[error(
        "no plugin file at {path:?}: check the path, or put the plugin in a directory listed in VERDICT_PLUGIN_PATH"
    )]
    Missing {
        /// The path given.
        path: PathBuf,
    },

    /// The path names a directory, not a plugin file.
    #[error(
        "{path:?} is a directory, not a plugin file: give the path of the plugin's dynamic library \
         (list directories in VERDICT_PLUGIN_PATH, files with --plugin)"
    )]
    Directory {
        /// The path given.
        path: PathBuf,
    },

    /// The path is a symbolic link that leads back to itself.
    #[error("{path:?} is a loop of symbolic links: it leads back to itself and names no file")]
    SymlinkLoop {
        /// The path given.
        path: PathBuf,
    },

    /// The path is a symbolic link to nothing.
    #[error("{path:?} is a symbolic link to {target:?}, which does not exist")]
    DanglingSymlink {
        /// The path given.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },

    /// The path names something that is neither a file nor a directory (a
    /// FIFO, a socket, a device).
    #[error("{path:?} is {what}, not a plugin file")]
    NotAFile {
        /// The path given.
        path: PathBuf,
        /// What it is, in words ("a FIFO").
        what: &'static str,
    },

    /// The file exists but is not a dynamic library this system can load.
    #[error("{path:?} is not a loadable dynamic library: {reason}")]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// What the system loader said.
        reason: String,
    },

    /// A dynamic library that exports no Verdict entry point.
    #[error(
        "{path:?} is not a Verdict plugin: it exports neither {} nor `verdict_plugin_v1`; \
         build it from a type implementing verdict_plugin::Scorer with \
         `verdict_plugin::export_plugin!(YourScorer)`",
        named_entry(.path)
    )]
    NotAPlugin {
        /// The file.
        path: PathBuf,
    },

    /// A plugin that needs a newer host: its descriptor's minimum ABI
    /// version, or the entry point of a later ABI, is past this host's.
    #[error(
        "{path:?} needs a host of plugin ABI v{found} or later, but this host speaks v{expected}: \
         upgrade verdict, or rebuild the plugin against verdict-plugin for ABI v{expected}"
    )]
    AbiVersion {
        /// The file.
        path: PathBuf,
        /// The oldest version of a host the plugin works with.
        found: u32,
        /// The version this host speaks.
        expected: u32,
    },

    /// A descriptor smaller than its required fields.
    #[error(
        "{path:?} has a descriptor of {found} bytes, smaller than the {expected} bytes of the \
         fields every plugin has: the plugin is damaged or was built from a mismatched header"
    )]
    DescriptorTooSmall {
        /// The file.
        path: PathBuf,
        /// The size the plugin declares.
        found: u32,
        /// The smallest size this host accepts.
        expected: u32,
    },

    /// A plugin that cannot catch its own panics.
    #[error(
        "{path:?} was built with panic = \"abort\" (its descriptor lacks the unwind flag): a panic \
         in it would abort the whole host; rebuild it with panic = \"unwind\", the default"
    )]
    PanicAbort {
        /// The file.
        path: PathBuf,
    },

    /// A descriptor with a missing function or a malformed field.
    #[error("{path:?} has an invalid descriptor: {reason}")]
    InvalidDescriptor {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A scorer spec that names no known scorer.
    #[error(
        "no scorer named {name:?}; known scorers: {known}. Load others with --plugin PATH{unreadable}"
    )]
    UnknownScorer {
        /// The name given.
        name: String,
        /// The names available, comma-separated.
        known: String,
        /// Empty, or a sentence naming the plugin files found that could
        /// not be read, each with why (one of them may be the scorer).
        unreadable: String,
    },

    /// A scorer spec that cannot be read.
    #[error("invalid scorer spec {spec:?}: {reason}")]
    InvalidSpec {
        /// The spec as given.
        spec: String,
        /// What is wrong and what is allowed.
        reason: String,
    },

    /// The scorer refused its config.
    #[error("{0}")]
    Config(String),

    /// The plugin's worker process (see `Isolation`) failed before the
    /// plugin could be read or its scorer made: it crashed, hung or ran
    /// out of memory while loading, or could not be started.
    #[error("{path:?} could not be loaded in a worker process: {reason}")]
    Worker {
        /// The plugin file.
        path: PathBuf,
        /// What happened.
        reason: String,
    },

    /// Reading the plugin file failed.
    #[error("could not read {path:?}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
