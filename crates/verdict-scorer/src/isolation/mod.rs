//! Plugins run in worker processes, so that one that crashes, hangs,
//! exits or eats memory costs the records of one batch, not the run.
//!
//! **The trust model.** A plugin is native code: loaded into a process,
//! it can do anything that process can. Checking what it returns (as the
//! host always does) cannot stop it from dereferencing a wild pointer,
//! calling `abort` or `exit`, looping for ever or taking all memory. So a
//! plugin that is not built in is read and run by worker processes: the
//! same program started in its worker mode ([`serve_worker`]), which
//! loads the plugin and scores the batches it is sent. What isolation
//! catches, for each batch:
//!
//! - a crash (a segfault, `abort`, a stack overflow, any fatal signal)
//!   and `exit` or `_exit`: the batch's records get an error feedback
//!   [`SCORER_CRASHED`] naming the signal or the exit status;
//! - a batch that outlives its time limit ([`Isolation::timeout`]): the
//!   worker is killed, [`SCORER_TIMEOUT`];
//! - a worker whose address space reaches its limit
//!   ([`Isolation::memory_limit`], `RLIMIT_AS`) and dies of it:
//!   [`SCORER_OOM`];
//! - the same while a plugin file is read (its library's constructors
//!   run then): the plugin is refused with what happened, and the host,
//!   which never opens the file as a library, goes on.
//!
//! A new worker takes the next batch, and the run goes on. Whatever a
//! worker sends back is read with every length and count checked against
//! what it sent, copied out of the shared memory once, and then checked
//! as any plugin's results are (status, kind, finite numbers, UTF-8).
//!
//! What isolation costs: a round trip to another process per batch (the
//! records are written once into memory shared with the worker, and the
//! results copied back once; each side spins briefly for the other's
//! answer before it sleeps on a socket), and a process per runner thread
//! and plugin. A worker is the only place a plugin's code runs; what it
//! can still do is what any program the user runs can do: it runs as the
//! same user, reads and writes the same files, and reaches the network.
//! Isolation protects the run's verdict from a broken plugin; it is not
//! a sandbox against a malicious one.
//!
//! A plugin the user trusts can run in-process instead, at native speed
//! (built-in scorers always do). Nothing then stands between it and the
//! host: a crash or a hang is the host's, and an `exit` ends the host.
//! The `verdict` command turns an unexpected `exit` into a failing exit
//! status (see its exit guard); `_exit`, a fatal signal, or an exit
//! handler the plugin registers itself cannot be caught.
//!
//! The decision: **worker processes fed whole batches through shared
//! memory**. A pipe carrying the records costs two copies through the
//! kernel per batch, which measured about twice the round trip of the
//! shared region; a sandbox runtime (wasm) would need plugins rebuilt for
//! it, and the C ABI is the contract.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

#[cfg(target_os = "linux")]
mod doorbell;
#[cfg(target_os = "linux")]
mod region;
#[cfg(target_os = "linux")]
mod scorer;
#[cfg(target_os = "linux")]
mod supervisor;
#[cfg(target_os = "linux")]
mod wire;
#[cfg(target_os = "linux")]
mod worker;

#[cfg(target_os = "linux")]
pub use scorer::{IsolatedPlugin, IsolatedScorer};
#[cfg(target_os = "linux")]
pub use worker::serve_worker;

/// Error code of the records of a batch whose worker crashed: killed by a
/// signal, or exited.
pub const SCORER_CRASHED: &str = "SCORER_CRASHED";
/// Error code of the records of a batch that took longer than its time
/// limit; its worker was killed.
pub const SCORER_TIMEOUT: &str = "SCORER_TIMEOUT";
/// Error code of the records of a batch whose worker ran out of its
/// memory limit.
pub const SCORER_OOM: &str = "SCORER_OOM";

/// How plugins are isolated: the program that serves as a worker, and
/// the limits of each worker.
///
/// ```
/// use std::time::Duration;
/// use verdict_scorer::Isolation;
///
/// let isolation = Isolation::new("/usr/bin/verdict")
///     .arg("plugin-worker")
///     .timeout(Duration::from_secs(10))
///     .memory_limit(Some(512 << 20));
/// assert_eq!(isolation.time_limit(), Duration::from_secs(10));
/// ```
#[derive(Clone, Debug)]
pub struct Isolation {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
    memory_limit: Option<u64>,
}

impl Isolation {
    /// How long a batch may take by default.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
    /// A worker's address space by default: 4 GiB.
    pub const DEFAULT_MEMORY_LIMIT: u64 = 4 << 30;

    /// Workers are `program` run with the arguments given by
    /// [`arg`](Self::arg); it must call [`serve_worker`] when so started.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Isolation {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            memory_limit: Some(Self::DEFAULT_MEMORY_LIMIT),
        }
    }

    /// Adds an argument the worker program is started with.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable the worker program is started with
    /// (on top of this process's environment).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// How long one batch (or reading a plugin) may take before its
    /// worker is killed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most address space a worker may map, in bytes; `None` for no
    /// limit.
    pub fn memory_limit(mut self, bytes: Option<u64>) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// How long one batch may take.
    pub fn time_limit(&self) -> Duration {
        self.timeout
    }

    /// A worker's memory limit in bytes, if any.
    pub fn memory(&self) -> Option<u64> {
        self.memory_limit
    }
}
