//! One predictor process: started in a process group of its own, fed
//! request lines by a writer thread, its answer lines read by a reader
//! thread that hands each to the call waiting for its id.
//!
//! A process that breaks the protocol (a line that is not an answer, an
//! answer nobody waits for, a line past the bound), closes its standard
//! output or dies is *broken*: every call waiting on it gets the fault,
//! its whole process group is killed, and it is reaped by its reader. The
//! slot that held it starts another for the next call.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::process::{ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use verdict_eval::predict::PredictError;
use verdict_scorer::OwnedValue;

use crate::protocol;

/// What a call waiting on a process is told.
pub(crate) type Outcome = Result<Result<OwnedValue, String>, PredictError>;

/// A running predictor process.
pub(crate) struct Child {
    pgid: i32,
    requests: Mutex<Option<Sender<Vec<u8>>>>,
    pending: Mutex<Pending>,
    broken: AtomicBool,
    writer: Mutex<Option<JoinHandle<()>>>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct Pending {
    calls: HashMap<u64, Sender<Outcome>>,
    /// Why the process is broken, once it is: told to calls that come
    /// after.
    fault: Option<PredictError>,
}

/// How a process is started.
pub(crate) struct Start<'a> {
    pub(crate) command: &'a str,
    pub(crate) env: &'a [(String, String)],
    pub(crate) ready_within: Duration,
    pub(crate) max_line: usize,
}

impl Child {
    /// Starts `sh -c COMMAND` through `spawner` and waits for its ready
    /// line.
    pub(crate) fn start(start: &Start<'_>, spawner: &Spawner) -> Result<Arc<Child>, String> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(start.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in start.env {
            command.env(key, value);
        }
        let mut process = spawner
            .spawn(command)
            .map_err(|e| format!("`sh -c` could not be run: {e}"))?;
        let pgid = process.id() as i32;
        let watchdog =
            watchdog(pgid).map_err(|e| format!("its watchdog could not be started: {e}"));
        let watchdog = match watchdog {
            Ok(watchdog) => watchdog,
            Err(why) => {
                kill_group(pgid, libc::SIGKILL);
                let _ = process.wait();
                return Err(why);
            }
        };
        let stdin = process.stdin.take().expect("piped");
        let stdout = process.stdout.take().expect("piped");
        let (requests, to_write) = crossbeam_channel::unbounded::<Vec<u8>>();
        let child = Arc::new(Child {
            pgid,
            requests: Mutex::new(Some(requests)),
            pending: Mutex::new(Pending::default()),
            broken: AtomicBool::new(false),
            writer: Mutex::new(None),
            reader: Mutex::new(None),
        });
        let (ready, is_ready) = crossbeam_channel::bounded::<Result<(), String>>(1);
        let reading = Arc::clone(&child);
        let max_line = start.max_line;
        let reader = std::thread::Builder::new()
            .name("predict-read".into())
            .spawn(move || {
                reading.read(stdout, process, max_line, ready);
                // The group is gone and reaped: its watchdog is not needed.
                let mut watchdog = watchdog;
                let _ = watchdog.kill();
                let _ = watchdog.wait();
            })
            .map_err(|e| format!("could not start a thread: {e}"))?;
        *lock(&child.reader) = Some(reader);
        let writing = Arc::clone(&child);
        let writer = std::thread::Builder::new()
            .name("predict-write".into())
            .spawn(move || writing.write(stdin, to_write))
            .map_err(|e| format!("could not start a thread: {e}"))?;
        *lock(&child.writer) = Some(writer);
        match is_ready.recv_timeout(start.ready_within) {
            Ok(Ok(())) => Ok(child),
            Ok(Err(why)) => {
                child.stop(Duration::ZERO);
                Err(why)
            }
            Err(_) => {
                child.stop(Duration::ZERO);
                Err(format!(
                    "it did not write {{\"ready\": true}} within {}",
                    humantime::format_duration(start.ready_within)
                ))
            }
        }
    }

    /// Whether it is broken (and being, or already, killed).
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Sends a request line, whose answer (or the process's fault) will
    /// come on `answer`; gives the line back if the process broke before
    /// the call came, for another process to take.
    pub(crate) fn send(
        &self,
        id: u64,
        line: Vec<u8>,
        answer: Sender<Outcome>,
    ) -> Result<(), (Vec<u8>, Sender<Outcome>)> {
        {
            let mut pending = lock(&self.pending);
            if pending.fault.is_some() {
                return Err((line, answer));
            }
            pending.calls.insert(id, answer);
        }
        if let Some(requests) = &*lock(&self.requests) {
            let _ = requests.send(line);
        }
        Ok(())
    }

    /// Forgets the call `id` (it gave up waiting).
    pub(crate) fn forget(&self, id: u64) {
        lock(&self.pending).calls.remove(&id);
    }

    /// Breaks it: every waiting call gets `fault`, and its process group
    /// is killed (its reader reaps it).
    pub(crate) fn break_with(&self, fault: PredictError) {
        // Before any call hears of it, so that the next call goes to a new
        // process.
        self.broken.store(true, Ordering::Release);
        {
            let mut pending = lock(&self.pending);
            for (_, call) in pending.calls.drain() {
                let _ = call.send(Err(fault.clone()));
            }
            pending.fault.get_or_insert(fault);
        }
        kill_group(self.pgid, libc::SIGKILL);
    }

    /// Stops it: its standard input is closed, then after `grace` its
    /// group gets SIGTERM, and after `grace` more SIGKILL; returns once it
    /// is reaped.
    pub(crate) fn stop(&self, grace: Duration) {
        lock(&self.requests).take();
        let Some(reader) = lock(&self.reader).take() else {
            return;
        };
        for signal in [libc::SIGTERM, libc::SIGKILL] {
            let deadline = Instant::now() + grace;
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if reader.is_finished() {
                break;
            }
            self.broken.store(true, Ordering::Release);
            kill_group(self.pgid, signal);
        }
        let _ = reader.join();
        // Its writes fail now, if it was blocked on a full pipe.
        if let Some(writer) = lock(&self.writer).take() {
            let _ = writer.join();
        }
    }

    fn write(&self, stdin: std::process::ChildStdin, requests: Receiver<Vec<u8>>) {
        let mut stdin = stdin;
        let mut batch = Vec::new();
        while let Ok(first) = requests.recv() {
            batch.clear();
            batch.extend_from_slice(&first);
            // Lines already queued go in the same write.
            while batch.len() < 64 << 10 {
                match requests.try_recv() {
                    Ok(more) => batch.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            if stdin
                .write_all(&batch)
                .and_then(|()| stdin.flush())
                .is_err()
            {
                self.break_with(PredictError::Crashed(
                    "it closed its standard input".to_owned(),
                ));
                return;
            }
        }
        // Dropping stdin tells the process there is nothing more.
    }

    fn read(
        &self,
        stdout: ChildStdout,
        mut process: std::process::Child,
        max_line: usize,
        ready: Sender<Result<(), String>>,
    ) {
        let mut stdout = BufReader::with_capacity(64 << 10, stdout);
        let mut line = Vec::new();
        let fault = match read_line(&mut stdout, &mut line, max_line) {
            Ok(true) if protocol::is_ready(&line) => {
                let _ = ready.send(Ok(()));
                self.answers(&mut stdout, &mut line, max_line)
            }
            Ok(true) => {
                let why = format!(
                    "it wrote {} before {{\"ready\": true}}",
                    protocol::excerpt(&String::from_utf8_lossy(&line))
                );
                let _ = ready.send(Err(why.clone()));
                Some(PredictError::Failed(why))
            }
            Ok(false) | Err(_) => {
                let status = exit_status(&mut process, Duration::from_secs(1));
                let why = format!("it exited before it was ready ({})", describe(status));
                let _ = ready.send(Err(why.clone()));
                Some(PredictError::Crashed(why))
            }
        };
        let fault = fault.unwrap_or_else(|| {
            // Said with how it ended, when it did.
            let status = exit_status(&mut process, Duration::from_millis(200));
            PredictError::Crashed(match status {
                Some(status) => format!("its standard output closed ({})", describe(Some(status))),
                None => "it closed its standard output while it was running".to_owned(),
            })
        });
        self.break_with(fault);
        let _ = process.wait();
    }

    /// Hands each answer line to its call, until the process breaks the
    /// protocol (the fault) or its standard output ends (none).
    fn answers(
        &self,
        stdout: &mut BufReader<ChildStdout>,
        line: &mut Vec<u8>,
        max_line: usize,
    ) -> Option<PredictError> {
        loop {
            match read_line(stdout, line, max_line) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(why) => return Some(PredictError::Failed(why)),
            }
            let answer = match protocol::read_answer(line) {
                Ok(answer) => answer,
                Err(why) => return Some(PredictError::Failed(why)),
            };
            let call = lock(&self.pending).calls.remove(&answer.id);
            match call {
                Some(call) => {
                    let _ = call.send(Ok(answer.result));
                }
                None => {
                    return Some(PredictError::Failed(format!(
                        "it answered request {}, which no call was waiting for",
                        answer.id
                    )));
                }
            }
        }
    }
}

/// Reads one line (without its newline) into `line`: false at the end of
/// the stream; an error for a line longer than `max` or a failed read.
fn read_line(
    reader: &mut BufReader<impl Read>,
    line: &mut Vec<u8>,
    max: usize,
) -> Result<bool, String> {
    line.clear();
    loop {
        let buffer = reader
            .fill_buf()
            .map_err(|e| format!("its standard output could not be read: {e}"))?;
        if buffer.is_empty() {
            return Ok(!line.is_empty());
        }
        let (taken, done) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (buffer.len(), false),
        };
        let end = if done { taken - 1 } else { taken };
        if line.len() + end > max {
            return Err(format!(
                "it wrote a line longer than {max} bytes, the longest answer taken"
            ));
        }
        line.extend_from_slice(&buffer[..end]);
        reader.consume(taken);
        if done {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(true);
        }
    }
}

/// How the process ended, if it does within `within` (it is reaped).
fn exit_status(process: &mut std::process::Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        match process.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => return None,
        }
    }
}

fn describe(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match status {
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            _ => status.to_string(),
        },
        None => "still running".to_owned(),
    }
}

/// A process that kills the group `pgid` when `verdict` ends, however it
/// ends: it waits for the end of its standard input, whose other end only
/// `verdict` holds. The parent-death signal reaches the group's leader
/// only; this reaches what the leader started too (a script behind a
/// shell or a version manager, its workers), even after SIGKILL. In a
/// group of its own, so that a terminal's Ctrl-C does not end it first.
fn watchdog(pgid: i32) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt as _;
    Command::new("sh")
        .arg("-c")
        .arg(format!("read _ ; kill -KILL -{pgid} 2>/dev/null"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
}

/// Sends `signal` to every process of the group `pgid`.
fn kill_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; it
    // touches no memory of ours.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the processes from one thread that lives as long as they may:
/// each is asked to get SIGKILL when that thread ends
/// (`PR_SET_PDEATHSIG`, which follows the thread that forked it), so that
/// a `verdict` killed with SIGKILL leaves no predictor behind.
pub(crate) struct Spawner {
    requests: Option<Sender<(Command, Sender<std::io::Result<std::process::Child>>)>>,
    thread: Option<JoinHandle<()>>,
}

impl Spawner {
    pub(crate) fn new() -> std::io::Result<Self> {
        let (requests, to_spawn) = crossbeam_channel::unbounded::<(
            Command,
            Sender<std::io::Result<std::process::Child>>,
        )>();
        let thread = std::thread::Builder::new()
            .name("predict-spawn".into())
            .spawn(move || {
                for (mut command, reply) in to_spawn {
                    let _ = reply.send(spawn(&mut command));
                }
            })?;
        Ok(Spawner {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    fn spawn(&self, command: Command) -> std::io::Result<std::process::Child> {
        let (reply, spawned) = crossbeam_channel::bounded(1);
        self.requests
            .as_ref()
            .expect("open until dropped")
            .send((command, reply))
            .map_err(|_| std::io::Error::other("the spawning thread is gone"))?;
        spawned
            .recv()
            .map_err(|_| std::io::Error::other("the spawning thread is gone"))?
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn spawn(command: &mut Command) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: runs in the forked child before exec; prctl, getppid and
    // _exit are async-signal-safe, and nothing is allocated.
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the line above.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    // A group of its own: the whole of it is signalled, and a terminal's
    // Ctrl-C reaches `verdict` only, which stops it.
    command.process_group(0).spawn()
}
