//! What isolating a plugin in worker processes costs, and how the runner
//! scales with isolated plugins.
//!
//! - `isolation`: exact match (the plugin library cargo built, default
//!   config) over 1 024 records, 256 at a time, through the host's
//!   `Scorer::score_batch`: loaded into this process (`in_process`, the
//!   baseline), and read and run by a worker process (`isolated`).
//! - `isolation_threads`: records per second of the runner with the
//!   isolated plugin, on 1 and on 2 threads (each thread has a worker),
//!   and with the same plugin in-process, for what two threads give on
//!   the machine at that moment.
//! - `isolation_transport`: the choice behind it. A round trip of a
//!   request and a 4 KiB reply between this process and a child that
//!   copies the request out and writes the reply: through pipes (`pipe`),
//!   or in a shared mapping with one byte on a socket each way
//!   (`shared_memory`, what isolation does). The request is 32 KiB (256
//!   short records, as here) or 512 KiB (256 records of 2 KiB).
//!
//! Both measure wall time: the isolated plugin's work happens in another
//! process, which the bench thread's CPU time would not count. This
//! bench binary is its own worker program: started with a host's shared
//! region as its standard input, it serves instead of benchmarking.

use std::hint::black_box;

mod common;
use common::{plugin_file, records};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::Arc;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use verdict_scorer::{
    IsolatedPlugin, Isolation, Plugin, Results, Runner, Scorer, expectation_views, record_views,
};

/// The exact-match plugin, read by a worker (this program).
fn isolated_exact_match() -> Arc<IsolatedPlugin> {
    let isolation = Isolation::new(std::env::current_exe().unwrap());
    IsolatedPlugin::load(&plugin_file("verdict_exact_match"), &isolation)
        .expect("build the plugin first")
}

fn isolation(c: &mut Criterion) {
    const BATCH: usize = 256;
    let records = records(1024);
    let named = expectation_views(&records);
    let views = record_views(&records, &named);
    let path = plugin_file("verdict_exact_match");
    let in_process: Box<dyn Scorer> = Box::new(
        Plugin::load(&path)
            .expect("build the plugin first")
            .instantiate("{}")
            .unwrap(),
    );
    let isolated: Box<dyn Scorer> = Box::new(isolated_exact_match().instantiate("{}").unwrap());
    let mut group = c.benchmark_group("isolation");
    group.throughput(Throughput::Elements(views.len() as u64));
    let mut results = Results::with_capacity(BATCH);
    for (name, scorer) in [("in_process", &in_process), ("isolated", &isolated)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                for chunk in views.chunks(BATCH) {
                    results.clear();
                    scorer.score_batch(black_box(chunk), &mut results);
                    black_box(&results);
                }
            })
        });
    }
    group.finish();
}

fn isolation_threads(c: &mut Criterion) {
    let records = records(20_000);
    let isolated = isolated_exact_match();
    let in_process = Plugin::load(&plugin_file("verdict_exact_match")).unwrap();
    let mut group = c.benchmark_group("isolation_threads");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.sample_size(20);
    for threads in [1, 2] {
        let runners: [(&str, Box<dyn Scorer>); 2] = [
            ("isolated", Box::new(isolated.instantiate("{}").unwrap())),
            (
                "in_process",
                Box::new(in_process.instantiate("{}").unwrap()),
            ),
        ];
        for (name, scorer) in runners {
            let runner = Runner::new(vec![scorer]).threads(threads);
            group.bench_with_input(BenchmarkId::new(name, threads), &records, |b, records| {
                b.iter_with_large_drop(|| runner.score(black_box(records)))
            });
        }
    }
    group.finish();
}

/// The sizes of the transport bench's requests, and of its reply.
const REQUESTS: [usize; 2] = [32 << 10, 512 << 10];
const REPLY: usize = 4 << 10;
/// The variable that starts this program as the transport bench's child.
const ECHO: &str = "VERDICT_BENCH_TRANSPORT";

/// A shared mapping of `len` bytes of `fd`.
fn map(fd: i32, len: usize) -> *mut u8 {
    // SAFETY: a new shared mapping of a file at least `len` bytes long.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    assert_ne!(ptr, libc::MAP_FAILED, "mmap");
    ptr.cast()
}

/// The transport bench's child: answers each request until its parent
/// hangs up.
fn echo(how: &str, size: usize) {
    let mut request = vec![0u8; size];
    let reply = vec![1u8; REPLY];
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    if how == "pipe" {
        while stdin.read_exact(&mut request).is_ok() {
            stdout.write_all(&reply).unwrap();
            stdout.flush().unwrap();
        }
        return;
    }
    // Standard input is the shared file; standard output the socket.
    let region = map(0, size + REPLY);
    // SAFETY: fd 1 is this process's, handed over here.
    let mut socket = UnixStream::from(unsafe { OwnedFd::from_raw_fd(libc::dup(1)) });
    let mut bell = [0u8; 1];
    while socket.read(&mut bell).is_ok_and(|n| n == 1) {
        // SAFETY: the mapping holds both; the parent waits meanwhile.
        unsafe {
            std::ptr::copy_nonoverlapping(region, request.as_mut_ptr(), size);
            std::ptr::copy_nonoverlapping(reply.as_ptr(), region.add(size), REPLY);
        }
        socket.write_all(&bell).unwrap();
    }
}

fn transport(c: &mut Criterion) {
    let mut group = c.benchmark_group("isolation_transport");
    for size in REQUESTS {
        transport_of(&mut group, size);
    }
    group.finish();
}

fn transport_of(group: &mut BenchmarkGroup<'_, WallTime>, size: usize) {
    let program = std::env::current_exe().unwrap();
    let request = vec![2u8; size];
    let mut reply = vec![0u8; REPLY];
    let id = |how: &str| BenchmarkId::new(how, format!("{} KiB", size >> 10));

    let mut child = Command::new(&program)
        .env(ECHO, format!("pipe {size}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut to, mut from) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    group.bench_function(id("pipe"), |b| {
        b.iter(|| {
            to.write_all(black_box(&request)).unwrap();
            from.read_exact(&mut reply).unwrap();
        })
    });
    drop((to, from));
    child.wait().unwrap();

    // SAFETY: plain system calls; the descriptor is owned below.
    let fd = unsafe { libc::memfd_create(c"bench".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create");
    // SAFETY: a descriptor just made.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.set_len((size + REPLY) as u64).unwrap();
    let region = map(file.as_raw_fd(), size + REPLY);
    let (mut socket, theirs) = UnixStream::pair().unwrap();
    let mut child = Command::new(&program)
        .env(ECHO, format!("shared_memory {size}"))
        .stdin(Stdio::from(file.try_clone().unwrap()))
        .stdout(Stdio::from(OwnedFd::from(theirs)))
        .spawn()
        .unwrap();
    group.bench_function(id("shared_memory"), |b| {
        b.iter(|| {
            // SAFETY: the mapping holds both; the child waits meanwhile.
            unsafe { std::ptr::copy_nonoverlapping(request.as_ptr(), region, size) };
            socket.write_all(&[1]).unwrap();
            let mut bell = [0u8; 1];
            socket.read_exact(&mut bell).unwrap();
            // SAFETY: as above.
            unsafe { std::ptr::copy_nonoverlapping(region.add(size), reply.as_mut_ptr(), REPLY) };
            black_box(&reply);
        })
    });
    drop(socket);
    child.wait().unwrap();
}

fn main() {
    if let Some(how) = std::env::var_os(ECHO) {
        let how = how.to_string_lossy();
        let (how, size) = how.split_once(' ').expect("how and size");
        return echo(how, size.parse().expect("a size"));
    }
    let started_as_worker = std::fs::read_link("/proc/self/fd/0")
        .is_ok_and(|p| p.to_string_lossy().contains("memfd:verdict-plugin-worker"));
    if started_as_worker {
        if let Err(e) = verdict_scorer::serve_worker() {
            eprintln!("worker: {e}");
            std::process::exit(1);
        }
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    isolation(&mut criterion);
    isolation_threads(&mut criterion);
    transport(&mut criterion);
    criterion.final_summary();
}
