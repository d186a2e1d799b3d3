//! Where a command that acts (`eval`, `score`, `push`, `prune`, the review
//! commands) writes what it did, for people or for a pipe.
//!
//! Writing it never decides the exit code: the command's own outcome
//! does. A reader that stops reading (`verdict eval … | head -1`, `| true`)
//! gets what it read, and the rest is dropped: a run that failed its gates
//! still exits 1, a push that could not deliver still exits 1, a prune
//! still removes what it said it would. Any other failure to write (a full
//! disk behind `> out.txt`) is said on standard error once the command is
//! done, and makes a command that had succeeded exit 2, since its output
//! was lost; a non-zero code stays as it was, so that a gate's 1 is never
//! read as something else.
//!
//! Listing commands (`scorers`, `runs`, `show`) do nothing but write: for
//! them a closed pipe is the end of the job, and `main` exits 0.

use std::io::{self, Write};
use std::process::ExitCode;

/// A command's output, written as far as its reader reads it.
pub(crate) struct Summary<W: Write> {
    out: W,
    /// Which stream it is, for the message when it cannot be written.
    name: &'static str,
    /// The reader closed the pipe: nothing more is written.
    reader_gone: bool,
    /// The first failure that is not a closed pipe: nothing more is
    /// written, and the command says so at the end.
    failed: Option<io::Error>,
}

impl Summary<Box<dyn Write>> {
    /// Standard output.
    pub(crate) fn stdout() -> Self {
        Summary::new(Box::new(io::stdout().lock()), "standard output")
    }

    /// Standard error, when standard output carries data (`--to jsonl:-`).
    pub(crate) fn stderr() -> Self {
        Summary::new(Box::new(io::stderr().lock()), "standard error")
    }
}

impl<W: Write> Summary<W> {
    pub(crate) fn new(out: W, name: &'static str) -> Self {
        Summary {
            out,
            name,
            reader_gone: false,
            failed: None,
        }
    }

    /// Whether everything so far reached the stream (or its reader went).
    fn writing(&self) -> bool {
        !self.reader_gone && self.failed.is_none()
    }

    fn outcome(&mut self, result: io::Result<()>) {
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.reader_gone = true,
            Err(e) => self.failed = Some(e),
        }
    }

    /// The exit code of a command whose own outcome is `code`, once its
    /// output is flushed: `code`, unless the output could not be written
    /// for another reason than a reader that went, and `code` was 0.
    pub(crate) fn finish(mut self, code: u8) -> ExitCode {
        if self.writing() {
            let flushed = self.out.flush();
            self.outcome(flushed);
        }
        let Some(error) = self.failed.take() else {
            return ExitCode::from(code);
        };
        // Standard error may be closed too: nothing else to do then.
        let _ = writeln!(
            io::stderr(),
            "error: cannot write to {}: {error}",
            self.name
        );
        ExitCode::from(if code == 0 { 2 } else { code })
    }
}

impl<W: Write> Write for Summary<W> {
    /// Takes every byte: those written after the reader went, or after a
    /// failure, are dropped.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.writing() {
            let written = self.out.write_all(buf);
            self.outcome(written);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.writing() {
            let flushed = self.out.flush();
            self.outcome(flushed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that takes `room` bytes, then fails with `kind`.
    struct Failing {
        taken: Vec<u8>,
        room: usize,
        kind: io::ErrorKind,
    }

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.taken.len() >= self.room {
                return Err(self.kind.into());
            }
            let n = buf.len().min(self.room - self.taken.len());
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn summary(room: usize, kind: io::ErrorKind) -> Summary<Failing> {
        Summary::new(
            Failing {
                taken: Vec::new(),
                room,
                kind,
            },
            "test",
        )
    }

    #[test]
    fn a_reader_that_goes_keeps_the_commands_code() {
        for code in [0, 1, 2] {
            let mut out = summary(3, io::ErrorKind::BrokenPipe);
            write!(out, "a long summary").unwrap();
            writeln!(out, "and more").unwrap();
            assert_eq!(out.out.taken, b"a l");
            assert!(out.reader_gone);
            assert_eq!(out.finish(code), ExitCode::from(code));
        }
    }

    #[test]
    fn another_failure_makes_a_success_exit_2_and_keeps_a_failure() {
        let mut out = summary(0, io::ErrorKind::StorageFull);
        writeln!(out, "summary").unwrap();
        assert_eq!(out.finish(0), ExitCode::from(2));
        let mut out = summary(0, io::ErrorKind::StorageFull);
        writeln!(out, "summary").unwrap();
        assert_eq!(out.finish(1), ExitCode::from(1));
        // Written whole: the code is the command's.
        let mut out = summary(100, io::ErrorKind::StorageFull);
        writeln!(out, "summary").unwrap();
        assert_eq!(out.finish(0), ExitCode::SUCCESS);
    }
}
