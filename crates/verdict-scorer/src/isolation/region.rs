//! The memory a host and its worker share, and the socket that wakes the
//! other side once one has written its part.
//!
//! The region is a `memfd` sealed against shrinking: the worker can write
//! anything into it, but cannot cut it short under the host (a host
//! reading past the end of a shrunk file would be killed by `SIGBUS`).
//! Only the host grows it. Each side writes its own fields of the header
//! and its own part of the data; the host copies the worker's part out
//! once before reading it.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the data begins, after the header.
pub(crate) const DATA: usize = 128;

/// The fields at the start of the region. Each is written by one side
/// only, as its doc says; the host's and the worker's are on cache lines
/// of their own, so that one side polling its field does not slow the
/// other's writes to a neighbour.
#[repr(C, align(64))]
pub(crate) struct Header {
    /// The host's process id, for the worker to check that its host still
    /// runs (host).
    pub(crate) host: AtomicU64,
    /// The region's size in bytes (host).
    pub(crate) size: AtomicU64,
    /// The number of the latest request (host).
    pub(crate) request: AtomicU64,
    /// The request's length in bytes, from [`DATA`] (host).
    pub(crate) request_len: AtomicU64,
    /// Where the worker writes its reply (host).
    pub(crate) reply_at: AtomicU64,
    /// Non-zero while the host sleeps on the socket for a reply (host).
    pub(crate) host_asleep: AtomicU64,
    _host_line: [u64; 2],
    /// The number of the request the reply answers (worker).
    pub(crate) reply: AtomicU64,
    /// The reply's length in bytes (worker).
    pub(crate) reply_len: AtomicU64,
    /// How the worker is dying, set by its crash handler: the signal, and
    /// [`OUT_OF_MEMORY`] when its memory was at its limit (worker).
    pub(crate) fatal: AtomicU64,
    /// Non-zero while the worker sleeps on the socket for a request
    /// (worker).
    pub(crate) worker_asleep: AtomicU64,
}

/// In [`Header::fatal`]: the worker's address space was full when it
/// crashed.
pub(crate) const OUT_OF_MEMORY: u64 = 1 << 32;

const _: () = assert!(size_of::<Header>() <= DATA);
const _: () = assert!(std::mem::offset_of!(Header, reply) == 64);

/// A shared region, mapped into this process.
pub(crate) struct Region {
    file: File,
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping belongs to this value; one thread at a time uses it
// (a worker process is driven by one caller at a time).
unsafe impl Send for Region {}

fn map(file: &File, len: usize) -> io::Result<*mut u8> {
    // SAFETY: a new shared mapping of a file at least `len` bytes long.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(ptr.cast())
}

impl Region {
    /// A new region of `len` bytes, for the host to hand a worker.
    pub(crate) fn create(len: usize) -> io::Result<Region> {
        // SAFETY: a plain system call with a static name.
        let fd = unsafe {
            libc::memfd_create(
                c"verdict-plugin-worker".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor just opened, owned by nothing else.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        file.set_len(len as u64)?;
        // SAFETY: a plain system call on our own descriptor.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_SHRINK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let ptr = map(&file, len)?;
        let region = Region { file, ptr, len };
        let header = region.header();
        header.size.store(len as u64, Ordering::Release);
        header
            .host
            .store(u64::from(std::process::id()), Ordering::Release);
        Ok(region)
    }

    /// The region the host handed this worker (its standard input).
    pub(crate) fn open(fd: OwnedFd) -> io::Result<Region> {
        let file = File::from(fd);
        let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
        if len < DATA {
            return Err(io::Error::other(
                "the shared region is smaller than its header",
            ));
        }
        let ptr = map(&file, len)?;
        Ok(Region { file, ptr, len })
    }

    /// A descriptor of the region's file, for a worker.
    pub(crate) fn share(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Makes the region at least `len` bytes long (host).
    pub(crate) fn grow(&mut self, len: usize) -> io::Result<()> {
        if len <= self.len {
            return Ok(());
        }
        let len = len.next_power_of_two();
        self.file.set_len(len as u64)?;
        self.remap(len)?;
        self.header().size.store(len as u64, Ordering::Release);
        Ok(())
    }

    /// Maps the region again if the host has grown it (worker). The
    /// host sets the header's size after growing the file; the mapping
    /// follows the file's own size.
    pub(crate) fn follow(&mut self) -> io::Result<()> {
        if self.header().size.load(Ordering::Acquire) == self.len as u64 {
            return Ok(());
        }
        let len = usize::try_from(self.file.metadata()?.len()).unwrap_or(usize::MAX);
        if len != self.len {
            self.remap(len)?;
        }
        Ok(())
    }

    fn remap(&mut self, len: usize) -> io::Result<()> {
        let ptr = map(&self.file, len)?;
        // SAFETY: the old mapping is ours, and nothing borrows it across
        // this call (`&mut self`).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
        self.ptr = ptr;
        self.len = len;
        Ok(())
    }

    /// The header.
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the mapping is page-aligned and at least DATA bytes long;
        // the header is atomics, which any bytes are valid for.
        unsafe { &*self.ptr.cast::<Header>() }
    }

    /// The region's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The start of the mapping.
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: our own mapping, not used again.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}
