//! The host side of a worker: starting the process, handing it requests
//! under a time limit, and telling what happened to one that stopped
//! answering.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, OnceLock, PoisonError, mpsc};
use std::time::{Duration, Instant};

use verdict_plugin::{Record, Trace};

use super::doorbell;
use super::region::{DATA, OUT_OF_MEMORY, Region};
use super::wire::{self, Reader, Writer};
use super::{Isolation, SCORER_CRASHED, SCORER_OOM, SCORER_TIMEOUT};
use crate::error::LoadError;
use crate::scorer::{SCORER_ERROR, SCORER_INVALID_RESULT};
use crate::signal::signal_name;

/// The region a worker starts with.
const INITIAL_REGION: usize = 1 << 20;
/// Room for a reply, at least.
const MIN_REPLY: usize = 256 * 1024;
/// The most a worker's reply may take: more is refused, not allocated.
const MAX_REPLY: usize = 1 << 30;

/// Why a worker did not answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// It died: how, and what its crash handler noted.
    Died { status: ExitStatus, fatal: u64 },
    /// It did not answer within the limit, and was killed.
    TimedOut(Duration),
    /// It answered what the host cannot read.
    Malformed(String),
    /// It could not be started or reached.
    Io(io::Error),
    /// The batch's records take more room than a request can hold.
    TooLarge(usize),
}

impl Failure {
    /// The error code of the records whose batch it broke.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Failure::Died { fatal, .. } if fatal & OUT_OF_MEMORY != 0 => SCORER_OOM,
            Failure::Died { .. } | Failure::Io(_) => SCORER_CRASHED,
            Failure::TimedOut(_) => SCORER_TIMEOUT,
            Failure::Malformed(_) => SCORER_INVALID_RESULT,
            Failure::TooLarge(_) => SCORER_ERROR,
        }
    }

    /// What happened, as a clause ("its worker was killed by SIGSEGV
    /// (signal 11)").
    pub(crate) fn what(&self, isolation: &Isolation) -> String {
        match self {
            Failure::Died { status, fatal } => {
                let how = match status.signal() {
                    Some(signal) => format!("was killed by {}", signal_name(signal)),
                    None => format!(
                        "exited with status {} (a call to exit)",
                        status.code().unwrap_or(-1)
                    ),
                };
                if fatal & OUT_OF_MEMORY != 0 {
                    let limit = isolation.memory_limit.unwrap_or_default() >> 20;
                    format!(
                        "its worker ran out of memory (it reached its limit of {limit} MiB of \
                         address space) and {how}"
                    )
                } else {
                    format!("its worker {how}")
                }
            }
            Failure::TimedOut(limit) => format!(
                "its worker took longer than the limit of {} and was stopped",
                humanize(*limit)
            ),
            Failure::Malformed(reason) => {
                format!("its worker sent a reply that cannot be read: {reason}")
            }
            Failure::Io(e) => format!("its worker could not be started or reached: {e}"),
            Failure::TooLarge(size) => format!(
                "the batch's records take {size} bytes, more than the {} a worker can be sent \
                 at once",
                wire::MAX_REQUEST
            ),
        }
    }

    /// The load error of a plugin whose worker failed while reading it.
    pub(crate) fn loading(&self, path: &Path, isolation: &Isolation) -> LoadError {
        LoadError::Worker {
            path: path.to_owned(),
            reason: self.what(isolation),
        }
    }
}

fn humanize(limit: Duration) -> String {
    if limit.subsec_millis() == 0 {
        format!("{} s", limit.as_secs())
    } else {
        format!("{} ms", limit.as_millis())
    }
}

/// What a worker is started with: its program, arguments and environment, the region
/// as its standard input, its end of the socket as its standard output.
struct Start {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    region: File,
    socket: OwnedFd,
}

/// A start, and where the spawning thread answers.
type Spawn = (Start, mpsc::Sender<io::Result<Child>>);

/// Starts a worker from one thread that lives as long as the process:
/// the kernel kills a worker when the *thread* that started it ends
/// (`PR_SET_PDEATHSIG`), and the runner's threads end after each run.
fn spawn(start: Start) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Spawn>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Spawn>();
        std::thread::Builder::new()
            .name("verdict-worker-spawner".into())
            .spawn(move || {
                for (s, started) in rx {
                    let child = Command::new(&s.program)
                        .args(&s.args)
                        .envs(s.env.iter().map(|(k, v)| (k, v)))
                        .stdin(Stdio::from(s.region))
                        .stdout(Stdio::from(s.socket))
                        .stderr(Stdio::inherit())
                        // Its own process group: a Ctrl-C at the terminal
                        // stops the host, which stops its workers; the
                        // signal itself must not crash them mid-batch.
                        .process_group(0)
                        .spawn();
                    let _ = started.send(child);
                }
            })
            .expect("a thread can be started");
        Mutex::new(tx)
    });
    let (started, child) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send((start, started))
        .map_err(|_| io::Error::other("the worker spawning thread is gone"))?;
    child
        .recv()
        .map_err(|_| io::Error::other("the worker spawning thread is gone"))?
}

/// A running worker process.
pub(crate) struct Worker {
    child: Child,
    region: Region,
    socket: UnixStream,
    /// The number of the latest request.
    request: u64,
    /// The latest reply, copied out of the region.
    reply: Vec<u8>,
    /// Whether waiting for a reply spins first.
    spinner: doorbell::Spinner,
}

impl Worker {
    /// Starts a worker process.
    pub(crate) fn start(isolation: &Isolation) -> io::Result<Worker> {
        let region = Region::create(INITIAL_REGION)?;
        let (socket, theirs) = UnixStream::pair()?;
        let child = spawn(Start {
            program: isolation.program.clone(),
            args: isolation.args.clone(),
            env: isolation.env.clone(),
            region: region.share()?,
            socket: theirs.into(),
        })?;
        Ok(Worker {
            child,
            region,
            socket,
            request: 0,
            reply: Vec::new(),
            spinner: doorbell::Spinner::default(),
        })
    }

    /// Asks it to load the plugin at `path` (after limiting its memory):
    /// the plugin's info as JSON, or why it was refused.
    pub(crate) fn load(
        &mut self,
        path: &Path,
        isolation: &Isolation,
    ) -> Result<Result<Vec<u8>, LoadError>, Failure> {
        use std::os::unix::ffi::OsStrExt;
        let path_bytes = path.as_os_str().as_bytes();
        let limit = isolation.memory_limit.unwrap_or(0);
        self.call(4 + 8 + 8 + path_bytes.len(), isolation.timeout, |w| {
            w.u32(wire::OP_LOAD);
            w.u64(limit);
            w.bytes(path_bytes);
        })?;
        self.answer(path)
    }

    /// Asks it to make the plugin's scorer from `config`.
    pub(crate) fn create(
        &mut self,
        config: &str,
        path: &Path,
        isolation: &Isolation,
    ) -> Result<Result<(), LoadError>, Failure> {
        self.call(4 + 8 + config.len(), isolation.timeout, |w| {
            w.u32(wire::OP_CREATE);
            w.bytes(config.as_bytes());
        })?;
        Ok(self.answer(path)?.map(drop))
    }

    /// The text of an OK reply, or the refusal it holds.
    fn answer(&self, path: &Path) -> Result<Result<Vec<u8>, LoadError>, Failure> {
        let mut r = Reader::new(&self.reply);
        let malformed = |e: wire::Malformed| Failure::Malformed(e.0);
        let kind = r.u32().map_err(malformed)?;
        let text = r.bytes().map_err(malformed)?;
        match kind {
            wire::REPLY_OK => Ok(Ok(text.to_vec())),
            wire::REPLY_REFUSED => Ok(Err(wire::read_refusal(text, path))),
            kind => Err(Failure::Malformed(format!("unknown reply {kind}"))),
        }
    }

    /// Has it score `records`; the reply is then [`Worker::reply`].
    pub(crate) fn score(
        &mut self,
        records: &[Record<'_>],
        traces: &[Option<&Trace<'_>>],
        timeout: Duration,
    ) -> Result<(), Failure> {
        let size = wire::score_request_size(records, traces);
        if size > wire::MAX_REQUEST {
            return Err(Failure::TooLarge(size));
        }
        self.call(size, timeout, |w| {
            wire::write_score_request(w, records, traces)
        })
    }

    /// The latest reply, as the worker wrote it.
    pub(crate) fn reply(&self) -> &[u8] {
        &self.reply
    }

    /// Writes a request of `size` bytes with `write`, wakes the worker
    /// and waits for its reply, giving it more room when it asks.
    fn call(
        &mut self,
        size: usize,
        timeout: Duration,
        write: impl Fn(&mut Writer),
    ) -> Result<(), Failure> {
        let deadline = Instant::now() + timeout;
        let mut room = MIN_REPLY.max(size);
        for _ in 0..3 {
            let reply_at = (DATA + size).next_multiple_of(8);
            self.region.grow(reply_at + room).map_err(Failure::Io)?;
            // SAFETY: the region holds `size` bytes from DATA (just grown);
            // the worker reads them only after the doorbell.
            let mut w = unsafe { Writer::new(self.region.ptr().add(DATA), size) };
            write(&mut w);
            debug_assert_eq!(w.len(), size, "a request's size is computed exactly");
            let header = self.region.header();
            header.request_len.store(size as u64, Ordering::Relaxed);
            header.reply_at.store(reply_at as u64, Ordering::Relaxed);
            self.request += 1;
            header.request.store(self.request, Ordering::Release);
            if doorbell::ring(&self.socket, &header.worker_asleep).is_err() {
                return Err(self.died());
            }
            self.wait(deadline, timeout)?;
            let header = self.region.header();
            let len =
                usize::try_from(header.reply_len.load(Ordering::Acquire)).unwrap_or(usize::MAX);
            let cap = self.region.len() - reply_at;
            if len > cap {
                return Err(Failure::Malformed(format!(
                    "its length is {len} bytes, more than the {cap} it was given"
                )));
            }
            self.reply.clear();
            self.reply.reserve(len);
            // SAFETY: `len` bytes of the region from `reply_at`, copied once
            // into memory of this process before anything reads them (the
            // worker may still write to the region; it cannot shrink it).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.region.ptr().add(reply_at),
                    self.reply.as_mut_ptr(),
                    len,
                );
                self.reply.set_len(len);
            }
            let mut r = Reader::new(&self.reply);
            if r.u32().ok() != Some(wire::REPLY_NEED) {
                return Ok(());
            }
            let need = r
                .u64()
                .map_err(|e| Failure::Malformed(e.0))
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))?;
            if need > MAX_REPLY {
                return Err(Failure::Malformed(format!(
                    "it asks for {need} bytes of room, more than the {} MiB a reply may take",
                    MAX_REPLY >> 20
                )));
            }
            room = need;
        }
        Err(Failure::Malformed(
            "it asked for more room three times for one request".into(),
        ))
    }

    /// Waits for the reply to the latest request, until `deadline`.
    fn wait(&mut self, deadline: Instant, timeout: Duration) -> Result<(), Failure> {
        let answered =
            |region: &Region, request| region.header().reply.load(Ordering::Acquire) == request;
        if self.spinner.spin(|| answered(&self.region, self.request)) {
            return Ok(());
        }
        let asleep = &self.region.header().host_asleep;
        let result = if doorbell::about_to_sleep(asleep, || answered(&self.region, self.request)) {
            Ok(())
        } else {
            self.sleep(deadline, timeout)
        };
        doorbell::awake(&self.region.header().host_asleep);
        result
    }

    /// Sleeps on the socket until the reply to the latest request, or
    /// `deadline`.
    fn sleep(&mut self, deadline: Instant, timeout: Duration) -> Result<(), Failure> {
        loop {
            if self.region.header().reply.load(Ordering::Acquire) == self.request {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                self.kill();
                return Err(Failure::TimedOut(timeout));
            }
            // Woken by the doorbell, or every half second to see whether
            // the worker is still alive (a plugin may have handed the
            // socket to a process of its own, which keeps it open).
            let slice = (deadline - now).min(Duration::from_millis(500));
            let mut poll = libc::pollfd {
                fd: self.socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let millis = i32::try_from(slice.as_millis().max(1)).unwrap_or(i32::MAX);
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut poll, 1, millis) };
            if ready < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Failure::Io(e));
            }
            if ready == 0 {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Err(self.dead(status));
                }
                continue;
            }
            let mut bells = [0u8; 64];
            match self.socket.read(&mut bells) {
                Ok(0) => return Err(self.died()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(self.died()),
            }
        }
    }

    /// The worker hung up: it is dying. Waits for it a little, then kills
    /// it.
    fn died(&mut self) -> Failure {
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return self.dead(status),
                Ok(None) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                _ => {
                    self.kill();
                    return match self.child.wait() {
                        Ok(status) => self.dead(status),
                        Err(e) => Failure::Io(e),
                    };
                }
            }
        }
    }

    fn dead(&self, status: ExitStatus) -> Failure {
        Failure::Died {
            status,
            fatal: self.region.header().fatal.load(Ordering::Acquire),
        }
    }

    /// Kills the worker and whatever it started (its process group), and
    /// reaps it.
    fn kill(&mut self) {
        // Reaped already: its id may belong to another process now.
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: a plain system call; the group is the worker's own.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}
