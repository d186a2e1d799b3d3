//! The worker side: a process that loads one plugin and scores the
//! batches its host sends, until the host hangs up.
//!
//! It starts with the shared region as its standard input and its end of
//! the doorbell socket as its standard output, moves both out of the way
//! (a plugin that prints writes to standard error, and one that reads
//! standard input reads nothing), and asks the kernel to kill it when its
//! host dies. A crash handler, on a stack of its own, notes in the region
//! whether memory was at the limit before the process dies of the signal,
//! so that the host can tell running out of memory from another crash.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use verdict_plugin::Results;

use super::doorbell;
use super::region::{DATA, Header, OUT_OF_MEMORY, Region};
use super::wire::{self, Batch, Malformed, Reader, Writer};
use crate::plugin::{Digest, Plugin, PluginScorer};
use crate::scorer::Scorer;

/// Serves the host that started this process: the worker mode of a
/// program that isolates plugins (`verdict plugin-worker`, hidden), which
/// its [`Isolation`](super::Isolation) names. Returns when the host hangs
/// up; an error when it cannot talk to it.
///
/// Call it first thing in `main` when the process was started as a
/// worker, and nowhere else: it takes over the process's standard input,
/// output and signal handlers.
pub fn serve_worker() -> io::Result<()> {
    let region = take_fd(0)?;
    let socket = take_fd(1)?;
    // What a plugin prints goes to standard error; what it reads is
    // nothing.
    let null = File::open("/dev/null")?;
    // SAFETY: plain system calls on descriptors this process owns.
    unsafe {
        libc::dup2(null.as_raw_fd(), 0);
        libc::dup2(2, 1);
    }
    let mut region = Region::open(region)?;
    die_with_host(&region);
    install_crash_handler(&region)?;
    let mut socket = UnixStream::from(socket);
    let mut worker = Worker::default();
    let mut answered = 0u64;
    let mut spinner = doorbell::Spinner::default();
    loop {
        let pending = |region: &Region| region.header().request.load(Ordering::Acquire) != answered;
        if !spinner.spin(|| pending(&region)) {
            let header = region.header();
            if !doorbell::about_to_sleep(&header.worker_asleep, || pending(&region)) {
                let mut bells = [0u8; 64];
                match socket.read(&mut bells) {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            doorbell::awake(&region.header().worker_asleep);
            // A bell may be one rung for a request already answered.
            continue;
        }
        region.follow()?;
        let request = region.header().request.load(Ordering::Acquire);
        let len = worker.answer(&region);
        let header = region.header();
        header.reply_len.store(len as u64, Ordering::Relaxed);
        header.reply.store(request, Ordering::Release);
        answered = request;
        doorbell::ring(&socket, &header.host_asleep)?;
    }
}

/// Moves descriptor `fd` to a new number, closed on exec.
fn take_fd(fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: a plain system call.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor just made, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Asks the kernel to kill this process when its host dies, so that a
/// worker stuck in a plugin's loop never outlives it.
fn die_with_host(region: &Region) {
    // SAFETY: plain system calls.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        // The host may have died before the request took effect.
        let host = region.header().host.load(Ordering::Relaxed);
        if u64::try_from(libc::getppid()).ok() != Some(host) {
            libc::_exit(1);
        }
    }
}

/// The header of the region, for the crash handler.
static HEADER: AtomicPtr<Header> = AtomicPtr::new(std::ptr::null_mut());
/// The memory limit in bytes (0: none), for the crash handler.
static LIMIT: AtomicU64 = AtomicU64::new(0);

/// The signals a crash raises.
const CRASHES: [i32; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGABRT,
    libc::SIGILL,
    libc::SIGFPE,
];

/// Runs on a crash, on its own stack: notes the signal, and whether the
/// address space was full (an eighth of the limit could not be mapped any
/// more), then dies of the signal. Only async-signal-safe calls.
extern "C" fn on_crash(signal: libc::c_int) {
    let mut fatal = u64::try_from(signal).unwrap_or_default();
    let limit = LIMIT.load(Ordering::Relaxed);
    if limit > 0 {
        let probe = usize::try_from(limit / 8)
            .unwrap_or(usize::MAX)
            .max(1 << 20);
        // SAFETY: a new private mapping that touches nothing, unmapped at
        // once.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                probe,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                fatal |= OUT_OF_MEMORY;
            } else {
                libc::munmap(p, probe);
            }
        }
    }
    let header = HEADER.load(Ordering::Relaxed);
    if !header.is_null() {
        // SAFETY: the mapped header, never unmapped while the process
        // runs (the region lives until `serve_worker` returns).
        unsafe { (*header).fatal.store(fatal, Ordering::Release) };
    }
    // The action is back to the default (SA_RESETHAND): die of it.
    // SAFETY: async-signal-safe.
    unsafe { libc::raise(signal) };
}

fn install_crash_handler(region: &Region) -> io::Result<()> {
    HEADER.store(region.ptr().cast(), Ordering::Relaxed);
    const STACK: usize = 64 * 1024;
    // SAFETY: a new anonymous mapping for the handler's stack, kept for
    // the life of the process; then plain sigaction calls with a zeroed
    // struct filled in.
    unsafe {
        let stack = libc::mmap(
            std::ptr::null_mut(),
            STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if stack == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let alt = libc::stack_t {
            ss_sp: stack,
            ss_flags: 0,
            ss_size: STACK,
        };
        if libc::sigaltstack(&alt, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
        for signal in CRASHES {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_crash as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_ONSTACK | libc::SA_RESETHAND | libc::SA_NODEFER;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Limits this process's address space to `limit` bytes.
fn limit_memory(limit: u64) -> io::Result<()> {
    LIMIT.store(limit, Ordering::Relaxed);
    let rlimit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: a plain system call with a filled-in struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The plugin a worker serves, and its scorer once made.
#[derive(Default)]
struct Worker {
    plugin: Option<Arc<Plugin>>,
    scorer: Option<PluginScorer>,
    results: Results,
}

impl Worker {
    /// Answers the request in the region; returns the reply's length.
    fn answer(&mut self, region: &Region) -> usize {
        let header = region.header();
        let len = usize::try_from(header.request_len.load(Ordering::Relaxed)).unwrap_or(0);
        let reply_at = usize::try_from(header.reply_at.load(Ordering::Relaxed)).unwrap_or(0);
        let end = DATA.saturating_add(len);
        if end > region.len() || reply_at < end || reply_at > region.len() {
            return 0;
        }
        // SAFETY: the host's request, within the region; the host does
        // not touch it until the reply.
        let request = unsafe { std::slice::from_raw_parts(region.ptr().add(DATA), len) };
        // SAFETY: the reply's room, after the request, to the region's
        // end; the host reads it only after the reply.
        let mut out = unsafe { Writer::new(region.ptr().add(reply_at), region.len() - reply_at) };
        let room = region.len() - reply_at;
        match self.handle(request, &mut out, room) {
            Ok(()) => out.len(),
            Err(Malformed(_)) => 0,
        }
    }

    fn handle(&mut self, request: &[u8], out: &mut Writer, room: usize) -> Result<(), Malformed> {
        let mut r = Reader::new(request);
        match r.u32()? {
            wire::OP_LOAD => {
                let limit = r.u64()?;
                let path = std::path::Path::new(std::ffi::OsStr::from_bytes(r.bytes()?));
                if limit > 0
                    && let Err(e) = limit_memory(limit)
                {
                    let refusal = crate::LoadError::Worker {
                        path: path.to_owned(),
                        reason: format!("could not limit the worker's memory: {e}"),
                    };
                    return reply(
                        out,
                        room,
                        wire::REPLY_REFUSED,
                        &wire::refusal_json(&refusal),
                    );
                }
                match Plugin::load_as(path, Digest::Skip) {
                    Ok(plugin) => {
                        let info = wire::info_json(plugin.info());
                        self.plugin = Some(plugin);
                        reply(out, room, wire::REPLY_OK, &info)
                    }
                    Err(e) => reply(out, room, wire::REPLY_REFUSED, &wire::refusal_json(&e)),
                }
            }
            wire::OP_CREATE => {
                let config = std::str::from_utf8(r.bytes()?)
                    .map_err(|_| Malformed("the config is not UTF-8".into()))?;
                let Some(plugin) = &self.plugin else {
                    return Err(Malformed("no plugin is loaded".into()));
                };
                match plugin.instantiate(config) {
                    Ok(scorer) => {
                        self.scorer = Some(scorer);
                        reply(out, room, wire::REPLY_OK, "")
                    }
                    Err(e) => reply(out, room, wire::REPLY_REFUSED, &wire::refusal_json(&e)),
                }
            }
            wire::OP_SCORE => {
                let batch = Batch::read(request)?;
                let views = batch.views();
                let Some(scorer) = &self.scorer else {
                    return Err(Malformed("no scorer is made".into()));
                };
                self.results.clear();
                match batch.traces()? {
                    Some(traces) if scorer.info().needs_trace => {
                        scorer.score_batch_traced(&views, traces.traces(), &mut self.results);
                    }
                    _ => scorer.score_batch(&views, &mut self.results),
                }
                let size = wire::results_size(self.results.iter());
                if size > room {
                    out.u32(wire::REPLY_NEED);
                    out.u64(size as u64);
                    return Ok(());
                }
                wire::write_results(out, self.results.iter());
                Ok(())
            }
            op => Err(Malformed(format!("unknown request {op}"))),
        }
    }
}

/// Writes a reply of `kind` with `text`, or asks for room.
fn reply(out: &mut Writer, room: usize, kind: u32, text: &str) -> Result<(), Malformed> {
    if 4 + 8 + text.len() > room {
        out.u32(wire::REPLY_NEED);
        out.u64((4 + 8 + text.len()) as u64);
    } else {
        out.u32(kind);
        out.bytes(text.as_bytes());
    }
    Ok(())
}
