//! A dataset that is one JSON array of records, read element by element:
//! each element's text is found by its brackets and strings, and parsed
//! alone, so memory holds one element, never the array.
//!
//! A file that ends inside the array (a truncated download) is not a
//! shorter dataset: the missing end is an invalid record, so that no
//! record is lost silently.

use std::io::{self, BufRead};

use super::lines::fill;
use super::{MAX_RECORD, endless, endless_error, too_long};

/// The largest element kept: a bigger one is skipped (its end is still
/// found) and reported as invalid.
const MAX_ELEMENT: usize = MAX_RECORD;

/// What the array yields next.
pub(super) enum Element {
    /// An element, whose text is in the buffer, and the line it starts on.
    Value(usize),
    /// Something that is not an element, at a line, and why.
    Invalid(usize, String),
}

/// Where the reader is in the array.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the `[`.
    Start,
    /// After `[` or after an element and its comma.
    Before,
    /// After an element.
    After,
    /// After the `]`, or after an error that ends the array.
    Done,
    /// After a stream that is not an array: nothing more is read.
    Stopped,
}

/// Reads the elements of one JSON array from a stream.
pub(super) struct ArrayReader {
    state: State,
    /// The line the reader is on (1-based).
    line: usize,
    bytes: u64,
    /// The last element's text.
    pub(super) buffer: Vec<u8>,
}

impl ArrayReader {
    pub(super) fn new() -> Self {
        ArrayReader {
            state: State::Start,
            line: 1,
            bytes: 0,
            buffer: Vec::new(),
        }
    }

    /// The bytes read so far.
    pub(super) fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The next element, `None` after the array's end.
    pub(super) fn next(&mut self, reader: &mut impl BufRead) -> io::Result<Option<Element>> {
        if self.state == State::Stopped {
            return Ok(None);
        }
        loop {
            let byte = self.skip_space(reader)?;
            let line = self.line;
            match (self.state, byte) {
                (State::Done, None) | (State::Stopped, _) => return Ok(None),
                (State::Done, Some(_)) => {
                    self.drain(reader)?;
                    return Ok(Some(Element::Invalid(
                        line,
                        "text after the array's closing ]: a JSON array dataset is one array of \
                         records"
                            .into(),
                    )));
                }
                (State::Start, Some(b'[')) => {
                    self.consume(reader, 1);
                    self.state = State::Before;
                }
                (State::Start, None) => {
                    self.state = State::Done;
                    return Ok(None);
                }
                (State::Start, Some(_)) => {
                    // Not read on: it may never end (`/dev/zero`).
                    self.state = State::Stopped;
                    return Ok(Some(Element::Invalid(
                        line,
                        "not a JSON array: a JSON dataset is one array of records, [{...}, \
                         {...}], or one record per line"
                            .into(),
                    )));
                }
                (State::Before | State::After, None) => {
                    self.state = State::Done;
                    return Ok(Some(Element::Invalid(
                        line,
                        "the file ends before the array's closing ]: it may be cut short, and \
                         records after this point lost"
                            .into(),
                    )));
                }
                (State::Before | State::After, Some(b']')) => {
                    self.consume(reader, 1);
                    self.state = State::Done;
                }
                (State::After, Some(b',')) => {
                    self.consume(reader, 1);
                    self.state = State::Before;
                    if self.skip_space(reader)? == Some(b']') {
                        return Ok(Some(Element::Invalid(
                            self.line,
                            "a comma before the array's closing ]: JSON allows none".into(),
                        )));
                    }
                }
                (State::Before, Some(b',')) => {
                    self.consume(reader, 1);
                    return Ok(Some(Element::Invalid(
                        line,
                        "an empty element (two commas, or a comma after [)".into(),
                    )));
                }
                (State::Before | State::After, Some(_)) => {
                    let missing_comma = self.state == State::After;
                    self.state = State::After;
                    let complete = self.element(reader)?;
                    if missing_comma {
                        return Ok(Some(Element::Invalid(
                            line,
                            "no comma before this element".into(),
                        )));
                    }
                    if !complete {
                        self.state = State::Done;
                        return Ok(Some(Element::Invalid(
                            line,
                            "the file ends inside this element: it may be cut short, and records \
                             after this point lost"
                                .into(),
                        )));
                    }
                    if self.buffer.len() > MAX_ELEMENT {
                        self.buffer.clear();
                        return Ok(Some(Element::Invalid(
                            line,
                            too_long("element", MAX_ELEMENT),
                        )));
                    }
                    return Ok(Some(Element::Value(line)));
                }
            }
        }
    }

    fn consume(&mut self, reader: &mut impl BufRead, n: usize) {
        reader.consume(n);
        self.bytes += n as u64;
    }

    /// Skips white space; the next byte, not consumed.
    fn skip_space(&mut self, reader: &mut impl BufRead) -> io::Result<Option<u8>> {
        loop {
            let buf = fill(reader)?;
            if buf.is_empty() {
                return Ok(None);
            }
            let mut n = 0;
            for &b in buf {
                match b {
                    b'\n' => self.line += 1,
                    b' ' | b'\t' | b'\r' => {}
                    _ => break,
                }
                n += 1;
            }
            let next = buf.get(n).copied();
            self.consume(reader, n);
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    /// Reads to the end of the stream, or as far as a record may be
    /// skipped (see [`endless`]).
    fn drain(&mut self, reader: &mut impl BufRead) -> io::Result<()> {
        let mut drained = 0u64;
        loop {
            let n = fill(reader)?.len();
            if n == 0 {
                return Ok(());
            }
            self.consume(reader, n);
            drained += n as u64;
            if endless(drained, MAX_ELEMENT) {
                self.state = State::Stopped;
                return Err(endless_error("text after the array's end", MAX_ELEMENT));
            }
        }
    }

    /// Reads one element into the buffer (its first [`MAX_ELEMENT`] bytes
    /// and one more, past which it is only scanned); whether it ended
    /// before the stream did.
    fn element(&mut self, reader: &mut impl BufRead) -> io::Result<bool> {
        self.buffer.clear();
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        let mut scanned = 0u64;
        loop {
            let buf = fill(reader)?;
            if buf.is_empty() {
                return Ok(false);
            }
            if endless(scanned, MAX_ELEMENT) {
                self.state = State::Stopped;
                return Err(endless_error("JSON element", MAX_ELEMENT));
            }
            let mut end = None;
            for (i, &b) in buf.iter().enumerate() {
                if b == b'\n' {
                    self.line += 1;
                }
                if in_string {
                    match (escaped, b) {
                        (true, _) => escaped = false,
                        (false, b'\\') => escaped = true,
                        (false, b'"') => in_string = false,
                        _ => {}
                    }
                    if !in_string && depth == 0 {
                        end = Some(i + 1);
                        break;
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    // A number, true, false or null ends before these.
                    b',' | b']' | b' ' | b'\t' | b'\r' | b'\n' if depth == 0 => {
                        if b == b'\n' {
                            self.line -= 1;
                        }
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let n = end.unwrap_or(buf.len());
            scanned += n as u64;
            let room = (MAX_ELEMENT + 1).saturating_sub(self.buffer.len());
            self.buffer.extend_from_slice(&buf[..n.min(room)]);
            self.consume(reader, n);
            if end.is_some() {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each element's line and text, or its line and reason.
    fn read(text: &str) -> Vec<Result<(usize, String), (usize, String)>> {
        let mut array = ArrayReader::new();
        // A tiny buffer: elements span many fills.
        let mut reader = io::BufReader::with_capacity(3, text.as_bytes());
        let mut out = Vec::new();
        while let Some(element) = array.next(&mut reader).unwrap() {
            out.push(match element {
                Element::Value(line) => {
                    Ok((line, String::from_utf8(array.buffer.clone()).unwrap()))
                }
                Element::Invalid(line, reason) => Err((line, reason)),
            });
        }
        // Every byte is read, unless the stream is not an array.
        if array.state != State::Stopped {
            assert_eq!(array.bytes_read(), text.len() as u64);
        }
        out
    }

    #[test]
    fn elements_are_found_by_their_brackets_and_strings() {
        let text = "[\n {\"a\": \"x]}\\\"\", \"b\": [1, {\"c\": 2}]},\n\n  {\"d\": 1} , 42,\"s\",\ntrue\n]\n";
        let got = read(text);
        assert_eq!(
            got,
            [
                Ok((2, r#"{"a": "x]}\"", "b": [1, {"c": 2}]}"#.into())),
                Ok((4, r#"{"d": 1}"#.into())),
                Ok((4, "42".into())),
                Ok((4, "\"s\"".into())),
                Ok((5, "true".into())),
            ]
        );
        assert_eq!(read("[]"), []);
        assert_eq!(read(""), []);
    }

    #[test]
    fn a_cut_short_or_malformed_array_is_reported_never_shortened() {
        let reason = |r: &Result<(usize, String), (usize, String)>| match r {
            Err((line, reason)) => format!("{line}: {reason}"),
            Ok(v) => panic!("read as an element: {v:?}"),
        };
        let got = read("[{\"a\": 1},\n{\"b\": ");
        assert_eq!(got.len(), 2);
        assert!(reason(&got[1]).starts_with("2: the file ends inside this element"));
        let got = read("[{\"a\": 1},\n");
        assert!(reason(&got[1]).starts_with("2: the file ends before the array's closing ]"));
        let got = read("[{\"a\": 1} {\"b\": 2}]");
        assert!(reason(&got[1]).contains("no comma"));
        let got = read("[{\"a\": 1},]");
        assert!(reason(&got[1]).contains("comma before the array's closing ]"));
        let got = read("[1,,2]");
        assert!(reason(&got[1]).contains("empty element"));
        assert_eq!(got.len(), 3);
        let got = read("[1] [2]");
        assert!(reason(&got[1]).contains("text after"));
        let got = read("{\"a\": 1}");
        assert!(reason(&got[0]).contains("not a JSON array"));
    }
}
