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
//! The writer keeps a checkpoint of its own, at [`WAL_CAP_PAGES`] instead
//! of 1,000: SQLite starts the log over only when a write begins after a
//! checkpoint has copied all of it, and a writer that always has the next
//! batch ready begins before the thread is done — without the cap the log
//! would keep every page of the run. At the cap the writer's checkpoint
//! finds most pages already copied; the log stays under about
//! `WAL_CAP_PAGES` pages (32 MiB with 16 KiB pages). Durability does not
//! change.

use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};

use crate::error::BUSY_TIMEOUT;

/// The log size, in pages, past which the writer checkpoints by itself.
pub(crate) const WAL_CAP_PAGES: i64 = 2000;

/// A thread that checkpoints one store's WAL when asked; stopped (after a
/// last checkpoint) when dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
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
        let thread = std::thread::Builder::new()
            .name("verdict-checkpoint".into())
            .spawn(move || {
                for () in woken {
                    checkpoint(&conn);
                }
                checkpoint(&conn);
            })
            .ok()?;
        Some(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
        })
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
/// for readers or the writer. A failure is left for the next one, or for
/// the checkpoint SQLite runs when the last connection closes.
fn checkpoint(conn: &Connection) {
    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.wake.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
