//! WAL checkpoints off the bulk writer's thread.
//!
//! In WAL mode, a commit that brings the log past SQLite's threshold (1,000
//! pages) also copies the log into the database file and waits for two
//! `fsync`s, on the committing thread. For a bulk writer that is the
//! bound of its caller — `verdict eval`'s single writer — those waits were
//! 45 `fsync`s and a quarter of a second per 100,000 records. A store that
//! writes batches hands the copying to a thread of its own, which
//! checkpoints from a second connection after each write while the writer
//! goes on: `PASSIVE`, so it never waits for or blocks the writer.
//!
//! SQLite starts the log over only when a write begins after a checkpoint
//! has copied all of it, and a writer that always has the next batch ready
//! begins before the thread is done: the log would keep every page of the
//! run. So the thread reports the log's length, and past [`WAL_CAP_PAGES`]
//! the writer itself, between two of its transactions, copies what is
//! left and makes its next transaction start the log over
//! ([`Checkpointer::restart_if_long`]): one wait for `fsync`s per
//! `WAL_CAP_PAGES` pages (32 MiB with 16 KiB pages), and a log that stays
//! about that long. (A checkpoint of the writer's own at the cap, run by
//! SQLite after a commit, is no bound: it gives up whenever it meets the
//! thread copying.) Durability does not change.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};

use crate::error::BUSY_TIMEOUT;

/// The log size, in pages, past which the writer starts the log over.
pub(crate) const WAL_CAP_PAGES: i64 = 2000;

/// A thread that checkpoints one store's WAL when asked; stopped (after a
/// last checkpoint) when dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The log's length in pages at the thread's last checkpoint.
    log_pages: Arc<AtomicI64>,
}

impl Checkpointer {
    /// Starts the thread, with its own connection to the store at `path`;
    /// `None` if that connection cannot be opened (the writer's own
    /// checkpoints then stay on).
    pub(crate) fn start(path: &Path) -> Option<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).ok()?;
        conn.busy_timeout(BUSY_TIMEOUT).ok()?;
        // One pending request is enough: a checkpoint copies everything
        // committed when it starts.
        let (wake, woken) = sync_channel::<()>(1);
        let log_pages = Arc::new(AtomicI64::new(0));
        let reported = Arc::clone(&log_pages);
        let thread = std::thread::Builder::new()
            .name("verdict-checkpoint".into())
            .spawn(move || {
                for () in woken {
                    if let Some(pages) = checkpoint(&conn) {
                        reported.store(pages, Ordering::Relaxed);
                    }
                }
                checkpoint(&conn);
            })
            .ok()?;
        Some(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
            log_pages,
        })
    }

    /// Run by the writer between two transactions: when the log has grown
    /// past [`WAL_CAP_PAGES`], copies what is left of it and makes the next
    /// transaction start it over, waiting for the thread's checkpoint and
    /// for readers of the log if need be. A failure leaves the log as it is.
    pub(crate) fn restart_if_long(&self, writer: &Connection) {
        if self.log_pages.load(Ordering::Relaxed) > WAL_CAP_PAGES {
            let _ = writer.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
            self.log_pages.store(0, Ordering::Relaxed);
        }
    }

    /// Asks for a checkpoint of what is committed now; returns at once.
    pub(crate) fn wake(&self) {
        if let Some(wake) = &self.wake {
            // Full: a checkpoint is already asked for. Disconnected: the
            // thread is gone, and SQLite checkpoints at close.
            let _ = wake.try_send(());
        }
    }
}

/// Copies what it can of the log into the database file without waiting
/// for readers or the writer, and returns the log's length in pages. A
/// failure is left for the next one, or for the checkpoint SQLite runs
/// when the last connection closes.
fn checkpoint(conn: &Connection) -> Option<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
        .ok()
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.wake.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
