//! The one stream a dataset is read from — a file, a FIFO, a process
//! substitution (`/dev/fd/N`) or standard input (`-`) — opened once.
//!
//! Its first bytes are peeked to tell the format, then handed back in
//! front of the rest of the stream: a pipe cannot be read twice, so
//! nothing is read twice, and nothing peeked is lost.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek as _};
use std::path::Path;

/// The path that names standard input.
pub const STDIN: &str = "-";

/// How many bytes are peeked at most to tell the format.
const PEEK_MAX: usize = 1 << 20;

/// A dataset's stream, with its first bytes peeked.
pub(super) struct Source {
    /// The first bytes, a UTF-8 byte order mark left out.
    head: Vec<u8>,
    rest: Box<dyn Read + Send>,
    /// The bytes left to read, when the stream is a regular file.
    len: Option<u64>,
    /// The file again, when the stream is a regular file, for the formats
    /// read from their end (Parquet).
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    file: Option<File>,
}

/// The stream of a peeked source, from its first byte.
pub(super) type Stream = io::Chain<Cursor<Vec<u8>>, Box<dyn Read + Send>>;

impl Source {
    /// Opens `path` (`-`: standard input) and peeks at its start: up to
    /// the end of its first line, or of the first key of a JSON object
    /// spread over lines.
    pub(super) fn open(path: &Path) -> io::Result<Source> {
        let mut file = if path.as_os_str() == STDIN {
            stdin()?
        } else {
            File::open(path)?
        };
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "it is a directory; give a file, or - for standard input",
            ));
        }
        let (len, again) = if meta.is_file() {
            // Standard input may have been read from already.
            let at = file.stream_position().unwrap_or(0);
            (Some(meta.len().saturating_sub(at)), file.try_clone().ok())
        } else {
            (None, None)
        };
        let mut head = Vec::new();
        while head.len() < PEEK_MAX && !enough(&head) {
            let start = head.len();
            head.resize(start + (64 << 10), 0);
            let n = loop {
                match file.read(&mut head[start..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            head.truncate(start + n);
            if n == 0 {
                break;
            }
        }
        if head.starts_with(b"\xEF\xBB\xBF") {
            head.drain(..3);
        }
        Ok(Source {
            head,
            rest: Box::new(file),
            len,
            file: again,
        })
    }

    /// A source with nothing in it.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(super) fn empty() -> Source {
        Source {
            head: Vec::new(),
            rest: Box::new(io::empty()),
            len: Some(0),
            file: None,
        }
    }

    /// The file itself, to seek in, when the stream is a regular file.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(super) fn take_file(&mut self) -> Option<File> {
        self.file.take()
    }

    /// Calls `before_read` each time the stream is about to read from the
    /// file or pipe (when what it has buffered is used up), before it
    /// reads: the moment to hand on what was read so far, since a pipe
    /// may keep the read waiting.
    pub(super) fn watch(self, before_read: Box<dyn FnMut() + Send>) -> Source {
        Source {
            rest: Box::new(Watched {
                inner: self.rest,
                before_read,
            }),
            ..self
        }
    }

    /// The first bytes.
    pub(super) fn head(&self) -> &[u8] {
        &self.head
    }

    /// The size in bytes, when it is known (a regular file).
    pub(super) fn len(&self) -> Option<u64> {
        self.len
    }

    /// The whole stream, the peeked bytes first.
    pub(super) fn into_stream(self) -> Stream {
        Cursor::new(self.head).chain(self.rest)
    }
}

/// Standard input as a file of its own, so that it reads without the
/// lock and buffer of `std::io::Stdin`, and tells its size when it is a
/// file (`verdict eval - < data.jsonl`).
#[cfg(unix)]
fn stdin() -> io::Result<File> {
    use std::os::fd::AsFd as _;
    Ok(File::from(io::stdin().as_fd().try_clone_to_owned()?))
}

#[cfg(not(unix))]
fn stdin() -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "reading a dataset from standard input needs a Unix system here",
    ))
}

/// Whether the peeked bytes tell the format: the first byte that is not
/// white space, and for a JSON object either its first line or its first
/// key.
fn enough(head: &[u8]) -> bool {
    let text = trim_start(head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head));
    match text.first() {
        None => false,
        Some(b'{') => text.contains(&b'\n') || first_key(text).is_some(),
        Some(_) => true,
    }
}

/// The bytes after leading JSON white space.
pub(super) fn trim_start(bytes: &[u8]) -> &[u8] {
    let at = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    &bytes[at..]
}

/// The first key of the JSON object that `text` starts with, when the
/// bytes hold all of it.
pub(super) fn first_key(text: &[u8]) -> Option<String> {
    let rest = trim_start(text.strip_prefix(b"{")?);
    if rest.first() == Some(&b'}') {
        return Some(String::new());
    }
    if rest.first() != Some(&b'"') {
        return None;
    }
    let mut escaped = false;
    let end = rest.iter().enumerate().skip(1).find_map(|(i, &b)| {
        match (escaped, b) {
            (true, _) => escaped = false,
            (false, b'\\') => escaped = true,
            (false, b'"') => return Some(i),
            _ => {}
        }
        None
    })?;
    serde_json::from_slice(&rest[..=end]).ok()
}

/// A stream that calls a hook before each read (see [`Source::watch`]).
struct Watched {
    inner: Box<dyn Read + Send>,
    before_read: Box<dyn FnMut() + Send>,
}

impl Read for Watched {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (self.before_read)();
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_key_is_read_only_when_it_is_whole() {
        assert_eq!(
            first_key(b"{\n  \"resourceSpans\": [").as_deref(),
            Some("resourceSpans")
        );
        assert_eq!(first_key(b"{\"a\\\"b\": 1}").as_deref(), Some("a\"b"));
        assert_eq!(first_key(b"{ \"resourceSp"), None);
        assert_eq!(first_key(b"{}").as_deref(), Some(""));
        assert_eq!(first_key(b"[1]"), None);
    }

    #[test]
    fn a_stream_is_peeked_then_read_whole_from_its_first_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let text = format!("\u{feff}{}", "{\"inputs\": 1}\n".repeat(100_000));
        std::fs::write(&path, &text).unwrap();
        let source = Source::open(&path).unwrap();
        assert!(source.head().starts_with(b"{\"inputs\""));
        assert_eq!(source.len(), Some(text.len() as u64));
        let mut all = String::new();
        source.into_stream().read_to_string(&mut all).unwrap();
        // The byte order mark goes; every other byte is read once.
        assert_eq!(all, text["\u{feff}".len()..]);
    }
}
