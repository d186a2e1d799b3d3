//! JSON lines, read a line at a time into a reused buffer of bounded size:
//! a line longer than [`MAX_RECORD`](super::MAX_RECORD) is reported as
//! soon as it is known to be too long, and the rest of it is skipped
//! without being kept, so that a stream with no newline (`/dev/zero`)
//! costs no more memory than one record; one that goes on for 16 times
//! the cap is not skipped further (see [`endless`]).

use std::io::{self, BufRead, BufReader, Read};

use super::source::Stream;
use super::{endless, endless_error};

/// What the next line is.
#[derive(Debug)]
pub(super) enum ReadLine {
    /// A whole line, in the buffer (its `\n` included, if it had one).
    Whole,
    /// A line of more than the cap; the buffer is empty. The rest of it is
    /// skipped by the next read.
    TooLong,
}

/// What is left to skip before the next line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Skip {
    Nothing,
    /// The rest of a line that was too long.
    RestOfLine,
    /// Everything: the stream is not to be read any further.
    RestOfStream,
}

/// The lines of a stream.
pub(super) struct Lines {
    reader: BufReader<Stream>,
    /// The most bytes a line may have, its `\n` left out.
    max: usize,
    skip: Skip,
    /// The bytes of the line too long to keep, so far.
    long: u64,
    bytes: u64,
}

impl Lines {
    pub(super) fn new(stream: Stream, max: usize) -> Self {
        Lines {
            reader: BufReader::with_capacity(1 << 16, stream),
            max,
            skip: Skip::Nothing,
            long: 0,
            bytes: 0,
        }
    }

    /// The bytes read so far.
    pub(super) fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The most bytes a line may have.
    pub(super) fn max(&self) -> usize {
        self.max
    }

    /// Reads the next line into `buffer` (cleared first); `None` at the end.
    pub(super) fn next(&mut self, buffer: &mut Vec<u8>) -> io::Result<Option<ReadLine>> {
        buffer.clear();
        match self.skip {
            Skip::RestOfStream => return Ok(None),
            Skip::RestOfLine => loop {
                let available = fill(&mut self.reader)?;
                if available.is_empty() {
                    self.skip = Skip::Nothing;
                    return Ok(None);
                }
                let (n, found) = match available.iter().position(|&b| b == b'\n') {
                    Some(at) => (at + 1, true),
                    None => (available.len(), false),
                };
                self.consume(n);
                self.long += n as u64;
                if found {
                    self.skip = Skip::Nothing;
                    break;
                }
                if endless(self.long, self.max) {
                    self.skip = Skip::RestOfStream;
                    return Err(endless_error("line", self.max));
                }
            },
            Skip::Nothing => {}
        }
        loop {
            let available = fill(&mut self.reader)?;
            if available.is_empty() {
                return Ok((!buffer.is_empty()).then_some(ReadLine::Whole));
            }
            let (n, found) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (available.len(), false),
            };
            let text = n - usize::from(found);
            if buffer.len() + text > self.max {
                // Known to be too long: nothing more of it is kept.
                self.long = (buffer.len() + n) as u64;
                buffer.clear();
                self.consume(n);
                if !found {
                    self.skip = Skip::RestOfLine;
                }
                return Ok(Some(ReadLine::TooLong));
            }
            buffer.extend_from_slice(&available[..n]);
            self.consume(n);
            if found {
                return Ok(Some(ReadLine::Whole));
            }
        }
    }

    /// Reads the rest of the stream onto `buffer`, which then holds one
    /// document spread over lines: whether it all fit in the cap. When it
    /// did not, the buffer is emptied and nothing more is read.
    pub(super) fn rest_onto(&mut self, buffer: &mut Vec<u8>) -> io::Result<bool> {
        let room = (self.max + 1).saturating_sub(buffer.len()) as u64;
        let before = buffer.len();
        (&mut self.reader).take(room).read_to_end(buffer)?;
        self.bytes += (buffer.len() - before) as u64;
        if buffer.len() > self.max {
            buffer.clear();
            self.skip = Skip::RestOfStream;
            return Ok(false);
        }
        Ok(true)
    }

    fn consume(&mut self, n: usize) {
        self.reader.consume(n);
        self.bytes += n as u64;
    }
}

/// The reader's buffered bytes, retried on interruption.
pub(super) fn fill(reader: &mut impl BufRead) -> io::Result<&[u8]> {
    while let Err(e) = reader.fill_buf() {
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    reader.fill_buf()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn lines(text: &[u8], max: usize) -> Vec<Option<String>> {
        let stream: Stream =
            Cursor::new(text.to_vec()).chain(Box::new(io::empty()) as Box<dyn Read + Send>);
        let mut lines = Lines::new(stream, max);
        let mut buffer = Vec::new();
        let mut all = Vec::new();
        while let Some(line) = lines.next(&mut buffer).unwrap() {
            all.push(match line {
                ReadLine::Whole => Some(String::from_utf8(buffer.clone()).unwrap()),
                ReadLine::TooLong => None,
            });
        }
        assert_eq!(lines.bytes_read(), text.len() as u64);
        all
    }

    #[test]
    fn a_line_over_the_cap_is_reported_and_skipped_to_its_end() {
        // Past the cap, within 16 times it: skipped.
        let long = "x".repeat(150_000);
        let text = format!("ab\n{long}\ncd\n{long}");
        assert_eq!(
            lines(text.as_bytes(), 10_000),
            [Some("ab\n".into()), None, Some("cd\n".into()), None]
        );
        // At the cap exactly: kept; its newline does not count.
        assert_eq!(
            lines(b"0123456789\n01234567890\n", 10),
            [Some("0123456789\n".into()), None]
        );
        assert_eq!(lines(b"0123456789", 10), [Some("0123456789".into())]);
    }

    #[test]
    fn a_line_that_does_not_end_is_skipped_up_to_16_times_the_cap() {
        let stream: Stream =
            Cursor::new(b"ab\n".to_vec()).chain(Box::new(io::repeat(b'x')) as Box<dyn Read + Send>);
        let mut lines = Lines::new(stream, 1000);
        let mut buffer = Vec::new();
        assert!(matches!(
            lines.next(&mut buffer).unwrap(),
            Some(ReadLine::Whole)
        ));
        assert!(matches!(
            lines.next(&mut buffer).unwrap(),
            Some(ReadLine::TooLong)
        ));
        let err = lines.next(&mut buffer).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("a line goes on for more than 16000 bytes without ending"),
            "{err}"
        );
        assert!(
            lines.bytes_read() <= 16000 + 3 + (2 << 16),
            "{}",
            lines.bytes_read()
        );
        assert!(lines.next(&mut buffer).unwrap().is_none());
    }

    #[test]
    fn a_document_over_lines_is_read_up_to_the_cap() {
        let stream = |text: &str| -> Stream {
            Cursor::new(text.as_bytes().to_vec())
                .chain(Box::new(io::empty()) as Box<dyn Read + Send>)
        };
        let mut lines = Lines::new(stream("{\n\"a\": 1}\n"), 10);
        let mut buffer = Vec::new();
        assert!(matches!(
            lines.next(&mut buffer).unwrap(),
            Some(ReadLine::Whole)
        ));
        assert!(lines.rest_onto(&mut buffer).unwrap());
        assert_eq!(buffer, b"{\n\"a\": 1}\n");
        let mut lines = Lines::new(stream("{\n\"a\": 12345678901}\n{}\n"), 10);
        assert!(matches!(
            lines.next(&mut buffer).unwrap(),
            Some(ReadLine::Whole)
        ));
        assert!(!lines.rest_onto(&mut buffer).unwrap());
        assert!(buffer.is_empty());
        assert!(lines.next(&mut buffer).unwrap().is_none());
    }
}
