//! The process's allocator: mimalloc, or the C library's in a plugin
//! worker.
//!
//! `verdict serve` and `verdict eval` allocate and free small strings and
//! maps on many threads at once, which mimalloc's thread-local heaps serve
//! without the locks and consolidation passes of glibc's allocator. A plugin
//! worker is the other way round: it allocates little, and its memory limit
//! is its address space (`RLIMIT_AS`), in which mimalloc's up-front
//! reservations would count as used and leave no room to load the plugin.
//! Its supervisor starts it with [`SYSTEM_ALLOCATOR_VAR`] set.
//!
//! The choice is made once, at the process's first allocation (before
//! `main`, when only one thread runs), by reading the environment without
//! allocating, and never changes: every block is freed by the allocator
//! that made it. Choosing in `main` was rejected for that reason: the
//! runtime allocates before it. Building without the `mimalloc` feature
//! leaves the C library's allocator everywhere.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

/// Set in a process's environment (to anything), it allocates with the C
/// library's allocator.
pub(crate) const SYSTEM_ALLOCATOR_VAR: &str = "VERDICT_SYSTEM_ALLOCATOR";
const SYSTEM_ALLOCATOR_VAR_C: &std::ffi::CStr = c"VERDICT_SYSTEM_ALLOCATOR";

const UNDECIDED: u8 = 0;
const SYSTEM: u8 = 1;
const MIMALLOC: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

/// mimalloc, or the C library's allocator when [`SYSTEM_ALLOCATOR_VAR`] is
/// set.
pub(crate) struct Allocator;

#[inline]
fn system() -> bool {
    match CHOICE.load(Ordering::Relaxed) {
        SYSTEM => true,
        MIMALLOC => false,
        _ => choose(),
    }
}

#[cold]
fn choose() -> bool {
    // SAFETY: getenv reads the environment and allocates nothing; before
    // main no other thread can be changing it.
    let system = unsafe { !libc::getenv(SYSTEM_ALLOCATOR_VAR_C.as_ptr()).is_null() };
    CHOICE.store(if system { SYSTEM } else { MIMALLOC }, Ordering::Relaxed);
    system
}

// SAFETY: each call goes to one allocator, the same one for the process's
// whole life (see `choose`), which upholds GlobalAlloc's contract itself.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe {
            if system() {
                System.alloc(layout)
            } else {
                mimalloc::MiMalloc.alloc(layout)
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe {
            if system() {
                System.alloc_zeroed(layout)
            } else {
                mimalloc::MiMalloc.alloc_zeroed(layout)
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on; `ptr` came from the
        // same allocator (the choice never changes).
        unsafe {
            if system() {
                System.dealloc(ptr, layout)
            } else {
                mimalloc::MiMalloc.dealloc(ptr, layout)
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on; `ptr` came from the
        // same allocator (the choice never changes).
        unsafe {
            if system() {
                System.realloc(ptr, layout, new_size)
            } else {
                mimalloc::MiMalloc.realloc(ptr, layout, new_size)
            }
        }
    }
}
