//! What the host and a worker write into their shared region: requests
//! (load a plugin, make its scorer, score a batch) and replies.
//!
//! A plain binary layout in native byte order (both ends are the same
//! program on the same machine). A batch crosses as tables of fixed-size
//! entries (records and their expectations one way, results the other)
//! followed by their texts, each entry giving where its text starts and
//! how long it is; the rarer requests (load, create) and their replies as
//! a length and bytes. The host writes requests straight into the region,
//! and the worker reads them in place, as the records' views. Replies are
//! the worker's: the host reads them from its own copy, and every count,
//! offset and length is checked against what was received, so that a
//! wrong one is an error, never a read out of bounds or an allocation of
//! the size asked for.

use std::cell::Cell;
use std::path::Path;

use serde_json::{Value as Json, json};
use verdict_plugin::abi::{
    Buf, KIND_BOOL, KIND_LABEL, KIND_NUMBER, ResultSlot, STATUS_ERROR, STATUS_OK, Str,
    VERDICT_FAIL, VERDICT_NONE, VERDICT_PASS,
};
use verdict_plugin::{NamedValue, Record, ScoreRef, ScoreValueRef, SpanHead, Trace, Value};

use crate::error::LoadError;
use crate::scorer::{ConfigKeyInfo, Origin, ScorerInfo};
use crate::trace_views::{TraceLayout, TraceViews};

/// Load the plugin at a path: the memory limit (`u64`, 0 for none), then
/// the path.
pub(crate) const OP_LOAD: u32 = 1;
/// Make the plugin's scorer from config JSON.
pub(crate) const OP_CREATE: u32 = 2;
/// Score a batch of records.
pub(crate) const OP_SCORE: u32 = 3;

/// Done: for a load, the scorer's info as JSON; nothing for a create.
pub(crate) const REPLY_OK: u32 = 0;
/// Refused: why, as JSON (see `refusal`).
pub(crate) const REPLY_REFUSED: u32 = 1;
/// The reply needs more room than it was given: how many bytes (`u64`).
pub(crate) const REPLY_NEED: u32 = 2;
/// The results of a batch: a count, then each result.
pub(crate) const REPLY_RESULTS: u32 = 3;

/// A reply the host cannot read.
#[derive(Debug)]
pub(crate) struct Malformed(pub(crate) String);

/// Writes into memory sized beforehand.
pub(crate) struct Writer {
    ptr: *mut u8,
    cap: usize,
    len: usize,
}

impl Writer {
    /// Writes at `ptr`, at most `cap` bytes.
    ///
    /// # Safety
    /// `ptr` must be valid for writes of `cap` bytes while the writer is
    /// used.
    pub(crate) unsafe fn new(ptr: *mut u8, cap: usize) -> Writer {
        Writer { ptr, cap, len: 0 }
    }

    /// How many bytes were written.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends `bytes`.
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.put_at(self.len, bytes);
        self.len += bytes.len();
    }

    /// Writes `bytes` at `at`, leaving the length as it is.
    #[inline(always)]
    fn put_at(&mut self, at: usize, bytes: &[u8]) {
        assert!(
            at <= self.cap && bytes.len() <= self.cap - at,
            "a message is sized before it is written"
        );
        // SAFETY: in bounds (checked above); `bytes` is not in the region.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(at), bytes.len());
        }
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.put(&v.to_ne_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.put(&v.to_ne_bytes());
    }

    /// A length (`u64`) and the bytes.
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.put(bytes);
    }
}

/// Reads a message, every read bounded by its length.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let rest = &self.bytes[self.at..];
        if n > rest.len() {
            return Err(Malformed(format!(
                "it runs past its end (wants {n} bytes at offset {}, of {})",
                self.at,
                self.bytes.len()
            )));
        }
        self.at += n;
        Ok(&rest[..n])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_ne_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_ne_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// How many bytes are left to read.
    pub(crate) fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// A length (`u64`) and that many bytes.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let len = self.u64()?;
        self.take(usize::try_from(len).unwrap_or(usize::MAX))
    }
}

/// A score request: its op code, how many records and expectations, then
/// a table of records, a table of expectations, and their texts.
///
/// A record is its inputs and outputs (each a [`VALUE`]-byte entry: kind,
/// length and where its text starts, `u32` each, so a request is smaller
/// than 4 GiB: [`MAX_REQUEST`]) and its first expectation and count;
/// an expectation is its name (an entry whose kind is not read), then its
/// value. Fixed
/// entries let the worker lay out its views in one pass, with no parsing.
///
/// The head's last `u32` is where the records' traces start, after every
/// text, or 0 when the request carries none (its scorer does not read
/// traces): see [`write_traces`].
const REQUEST_HEAD: usize = 16;
/// The largest score request.
pub(crate) const MAX_REQUEST: usize = u32::MAX as usize;
const VALUE: usize = 12;
const RECORD: usize = 2 * VALUE + 8;
const NAMED: usize = 2 * VALUE;

const VALUE_NULL: u32 = 0;
const VALUE_STRING: u32 = 1;
const VALUE_JSON: u32 = 2;

/// A results reply: its op code and count, then a [`RESULT`]-byte entry
/// per result (status, kind, verdict, number, and where its label and
/// rationale start and how long they are), then their texts.
const REPLY_HEAD: usize = 8;
const RESULT: usize = 32;
/// The length of a text that is absent (an absent rationale).
const ABSENT: u32 = u32::MAX;

#[inline(always)]
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// The kind and text of a value, as a request holds them.
fn value_parts<'a>(v: &Value<'a>) -> (u32, &'a [u8]) {
    if v.is_null() {
        (VALUE_NULL, b"")
    } else if v.as_str().is_some() {
        (VALUE_STRING, v.text().as_bytes())
    } else {
        (VALUE_JSON, v.text().as_bytes())
    }
}

/// The size of the score request for `records`, with `traces` (one per
/// record, or none).
pub(crate) fn score_request_size(records: &[Record<'_>], traces: &[Option<&Trace<'_>>]) -> usize {
    let text = |v: &Value<'_>| value_parts(v).1.len();
    traces_size(traces)
        + REQUEST_HEAD
        + records
            .iter()
            .map(|r| {
                RECORD
                    + text(&r.inputs)
                    + text(&r.outputs)
                    + r.expectations()
                        .iter()
                        .map(|e| NAMED + e.name.as_str().len() + text(&e.value))
                        .sum::<usize>()
            })
            .sum::<usize>()
}

/// Writes the score request for `records` and their `traces` (sized by
/// [`score_request_size`], at most [`MAX_REQUEST`]).
pub(crate) fn write_score_request(
    w: &mut Writer,
    records: &[Record<'_>],
    traces: &[Option<&Trace<'_>>],
) {
    let named: usize = records.iter().map(|r| r.expectations().len()).sum();
    let count = |n: usize| u32::try_from(n).expect("a batch is a few hundred records");
    w.u32(OP_SCORE);
    w.u32(count(records.len()));
    w.u32(count(named));
    w.u32(0);
    let mut text = REQUEST_HEAD + RECORD * records.len() + NAMED * named;
    // Writes a value's entry at `at`, and its text after the others.
    let mut value = |w: &mut Writer, at: usize, kind: u32, bytes: &[u8]| {
        let offset = |n: usize| u32::try_from(n).expect("a request is below MAX_REQUEST");
        let mut entry = [0u8; VALUE];
        entry[..4].copy_from_slice(&kind.to_ne_bytes());
        entry[4..8].copy_from_slice(&offset(bytes.len()).to_ne_bytes());
        entry[8..].copy_from_slice(&offset(text).to_ne_bytes());
        w.put_at(at, &entry);
        w.put_at(text, bytes);
        text += bytes.len();
    };
    let (mut first, mut named_at) = (0, REQUEST_HEAD + RECORD * records.len());
    for (i, record) in records.iter().enumerate() {
        let at = REQUEST_HEAD + RECORD * i;
        let (kind, bytes) = value_parts(&record.inputs);
        value(w, at, kind, bytes);
        let (kind, bytes) = value_parts(&record.outputs);
        value(w, at + VALUE, kind, bytes);
        let expectations = record.expectations();
        w.put_at(at + 2 * VALUE, &count(first).to_ne_bytes());
        w.put_at(at + 2 * VALUE + 4, &count(expectations.len()).to_ne_bytes());
        for e in expectations {
            // The name as a value of its own, whose kind is not read.
            value(w, named_at, VALUE_STRING, e.name.as_str().as_bytes());
            let (kind, bytes) = value_parts(&e.value);
            value(w, named_at + VALUE, kind, bytes);
            named_at += NAMED;
        }
        first += expectations.len();
    }
    w.len = text;
    if !traces.is_empty() {
        w.put_at(12, &count(text).to_ne_bytes());
        write_traces(w, traces);
    }
}

/// A record without a trace, in place of its span count.
const NO_TRACE: u32 = u32::MAX;

/// The size of [`write_traces`]'s section for `traces`; 0 for none.
fn traces_size(traces: &[Option<&Trace<'_>>]) -> usize {
    let value = |v: &Value<'_>| 4 + 8 + value_parts(v).1.len();
    let attributes = |a: &[NamedValue<'_>]| {
        4 + a
            .iter()
            .map(|a| 8 + a.name.as_str().len() + value(&a.value))
            .sum::<usize>()
    };
    traces
        .iter()
        .map(|trace| {
            4 + trace.map_or(0, |t| {
                t.spans()
                    .iter()
                    .map(|s| {
                        32 + 8
                            + s.name().len()
                            + 8
                            + 8
                            + s.status_message().len()
                            + 16
                            + attributes(s.attributes())
                            + 4
                            + s.events()
                                .iter()
                                .map(|e| 8 + e.name().len() + 8 + attributes(e.attributes()))
                                .sum::<usize>()
                    })
                    .sum::<usize>()
            })
        })
        .sum()
}

/// Writes the records' traces, in order, each as its span count (or
/// [`NO_TRACE`]) and its spans: the ids (16, 8 and 8 bytes), the name,
/// kind, status code and message, start and end, the attributes (a count,
/// then each key, value kind and value text), and the events (a count,
/// then each name, time and attributes). Texts are a `u64` length and
/// the bytes, as [`Reader::bytes`] reads them.
fn write_traces(w: &mut Writer, traces: &[Option<&Trace<'_>>]) {
    let count = |n: usize| u32::try_from(n).expect("a request is below MAX_REQUEST");
    let attributes = |w: &mut Writer, a: &[NamedValue<'_>]| {
        w.u32(count(a.len()));
        for a in a {
            w.bytes(a.name.as_str().as_bytes());
            let (kind, text) = value_parts(&a.value);
            w.u32(kind);
            w.bytes(text);
        }
    };
    for trace in traces {
        let Some(trace) = trace else {
            w.u32(NO_TRACE);
            continue;
        };
        w.u32(count(trace.spans().len()));
        for s in trace.spans() {
            w.put(&s.trace_id());
            w.put(&s.span_id());
            w.put(&s.parent_span_id().unwrap_or_default());
            w.bytes(s.name().as_bytes());
            w.u32(s.kind());
            w.u32(s.status_code());
            w.bytes(s.status_message().as_bytes());
            w.u64(s.start_time_unix_nano());
            w.u64(s.end_time_unix_nano());
            attributes(w, s.attributes());
            w.u32(count(s.events().len()));
            for e in s.events() {
                w.bytes(e.name().as_bytes());
                w.u64(e.time_unix_nano());
                attributes(w, e.attributes());
            }
        }
    }
}

/// The text of the value entry at `at` of a request (its length, then
/// its start); `""`, and `in_bounds` cleared, when it lies outside.
/// Returned in registers: one check for the whole request, rather than a
/// `Result` per value that would pass each through memory.
#[inline(always)]
fn text_at<'a>(request: &'a [u8], at: usize, in_bounds: &Cell<bool>) -> &'a str {
    let len = u32_at(request, at + 4) as usize;
    let start = u32_at(request, at + 8) as usize;
    match request.get(start..start + len) {
        // SAFETY: the host copied these bytes from Rust strings, and
        // nothing writes to the request while the worker reads it.
        Some(bytes) => unsafe { std::str::from_utf8_unchecked(bytes) },
        None => {
            in_bounds.set(false);
            ""
        }
    }
}

/// The value entry at `at` of a request.
#[inline(always)]
fn value_at<'a>(request: &'a [u8], at: usize, in_bounds: &Cell<bool>) -> Value<'a> {
    let text = text_at(request, at, in_bounds);
    match u32_at(request, at) {
        VALUE_NULL => Value::NULL,
        VALUE_STRING => Value::string(text),
        _ => Value::json(text),
    }
}

/// The records of a score request, read in place (worker side).
pub(crate) struct Batch<'a> {
    request: &'a [u8],
    named: Vec<NamedValue<'a>>,
    n: usize,
}

impl<'a> Batch<'a> {
    /// Reads the records of a score request (`request` from its op code
    /// on), checking that every entry lies within it.
    pub(crate) fn read(request: &'a [u8]) -> Result<Batch<'a>, Malformed> {
        let short = || Malformed("the request is cut short".into());
        if request.len() < REQUEST_HEAD {
            return Err(short());
        }
        let n = u32_at(request, 4) as usize;
        let m = u32_at(request, 8) as usize;
        let named_at = REQUEST_HEAD + RECORD * n;
        if named_at + NAMED * m > request.len() {
            return Err(short());
        }
        let in_bounds = Cell::new(true);
        let mut named = Vec::with_capacity(m);
        for j in 0..m {
            let at = named_at + NAMED * j;
            let name = text_at(request, at, &in_bounds);
            named.push(NamedValue::new(
                name,
                value_at(request, at + VALUE, &in_bounds),
            ));
        }
        for i in 0..n {
            let at = REQUEST_HEAD + RECORD * i;
            text_at(request, at, &in_bounds);
            text_at(request, at + VALUE, &in_bounds);
            let first = u32_at(request, at + 2 * VALUE) as usize;
            let count = u32_at(request, at + 2 * VALUE + 4) as usize;
            if first + count > m {
                in_bounds.set(false);
            }
        }
        if !in_bounds.get() {
            return Err(short());
        }
        Ok(Batch { request, named, n })
    }

    /// The records' traces, when the request carries them: read with
    /// every count, length and text checked against the request (a count
    /// larger than what is left is refused before anything is reserved),
    /// and every text checked for UTF-8.
    pub(crate) fn traces(&self) -> Result<Option<TraceViews<'a>>, Malformed> {
        let request: &'a [u8] = self.request;
        let at = u32_at(request, 12) as usize;
        if at == 0 {
            return Ok(None);
        }
        let mut r = Reader::new(
            request
                .get(at..)
                .ok_or_else(|| Malformed(format!("its traces start at {at}, past its end")))?,
        );
        let text = |r: &mut Reader<'a>| -> Result<&'a str, Malformed> {
            std::str::from_utf8(r.bytes()?)
                .map_err(|_| Malformed("a text of its traces is not UTF-8".into()))
        };
        // Each item takes at least `least` bytes: a count past what is
        // left is refused.
        let counted = |r: &mut Reader<'a>, least: usize| -> Result<usize, Malformed> {
            let n = r.u32()? as usize;
            if n.saturating_mul(least) > r.left() {
                return Err(Malformed(format!(
                    "its traces count {n} items where {} bytes are left",
                    r.left()
                )));
            }
            Ok(n)
        };
        let value = |r: &mut Reader<'a>| -> Result<Value<'a>, Malformed> {
            let kind = r.u32()?;
            let text = text(r)?;
            Ok(match kind {
                VALUE_NULL => Value::NULL,
                VALUE_STRING => Value::string(text),
                _ => Value::json(text),
            })
        };
        let mut layout = TraceLayout::default();
        for _ in 0..self.n {
            let spans = r.u32()?;
            if spans == NO_TRACE {
                layout.no_trace();
                continue;
            }
            if (spans as usize).saturating_mul(80) > r.left() {
                return Err(Malformed(format!(
                    "its traces count {spans} spans where {} bytes are left",
                    r.left()
                )));
            }
            for _ in 0..spans {
                let ids = r.take(32)?;
                let mut head = SpanHead::default();
                head.trace_id.copy_from_slice(&ids[..16]);
                head.span_id.copy_from_slice(&ids[16..24]);
                head.parent_span_id.copy_from_slice(&ids[24..]);
                head.name = text(&mut r)?;
                head.kind = r.u32()?;
                head.status_code = r.u32()?;
                head.status_message = text(&mut r)?;
                head.start_time_unix_nano = r.u64()?;
                head.end_time_unix_nano = r.u64()?;
                for _ in 0..counted(&mut r, 20)? {
                    let key = text(&mut r)?;
                    layout.span_attribute(key, value(&mut r)?);
                }
                for _ in 0..counted(&mut r, 20)? {
                    let name = text(&mut r)?;
                    let time = r.u64()?;
                    for _ in 0..counted(&mut r, 20)? {
                        let key = text(&mut r)?;
                        layout.event_attribute(key, value(&mut r)?);
                    }
                    layout.event(name, time);
                }
                layout.span(head);
            }
            layout.trace();
        }
        Ok(Some(layout.finish()))
    }

    /// The views scorers read.
    pub(crate) fn views(&'a self) -> Vec<Record<'a>> {
        let request = self.request;
        let unused = Cell::new(true);
        (0..self.n)
            .map(|i| {
                let at = REQUEST_HEAD + RECORD * i;
                let first = u32_at(request, at + 2 * VALUE) as usize;
                let count = u32_at(request, at + 2 * VALUE + 4) as usize;
                Record::new(
                    value_at(request, at, &unused),
                    value_at(request, at + VALUE, &unused),
                    // Checked by `read`.
                    &self.named[first..first + count],
                )
            })
            .collect()
    }
}

/// A result's label (or error code) and rationale (or error message).
fn result_texts<'a>(score: &ScoreRef<'a>) -> (Option<&'a str>, Option<&'a str>) {
    match (score.value(), score.error()) {
        (_, Some((code, message))) => (Some(code), Some(message)),
        (Some(ScoreValueRef::Label(label)), _) => (Some(label), score.rationale()),
        _ => (None, score.rationale()),
    }
}

/// The size of a reply holding `results`.
pub(crate) fn results_size<'a>(results: impl Iterator<Item = ScoreRef<'a>>) -> usize {
    REPLY_HEAD
        + results
            .map(|s| {
                let (label, rationale) = result_texts(&s);
                RESULT + label.map_or(0, str::len) + rationale.map_or(0, str::len)
            })
            .sum::<usize>()
}

/// Writes a reply holding `results` (sized by [`results_size`], less
/// than 4 GiB).
pub(crate) fn write_results<'a>(
    w: &mut Writer,
    results: impl ExactSizeIterator<Item = ScoreRef<'a>>,
) {
    let n = results.len();
    w.u32(REPLY_RESULTS);
    w.u32(u32::try_from(n).expect("a batch is a few hundred records"));
    let offset = |at: usize| u32::try_from(at).expect("a reply is sized below 4 GiB");
    let mut text = REPLY_HEAD + RESULT * n;
    for (i, score) in results.enumerate() {
        let (label, rationale) = result_texts(&score);
        let (status, kind, number) = match score.value() {
            None => (STATUS_ERROR, 0, 0.0),
            Some(ScoreValueRef::Bool(b)) => (STATUS_OK, KIND_BOOL, f64::from(u8::from(b))),
            Some(ScoreValueRef::Number(n)) => (STATUS_OK, KIND_NUMBER, n),
            Some(ScoreValueRef::Label(_)) => (STATUS_OK, KIND_LABEL, 0.0),
        };
        let verdict = match score.passed() {
            None => VERDICT_NONE,
            Some(true) => VERDICT_PASS,
            Some(false) => VERDICT_FAIL,
        };
        let at = REPLY_HEAD + RESULT * i;
        w.put_at(
            at,
            &[status as u8, kind as u8, verdict as u8, 0, 0, 0, 0, 0],
        );
        w.put_at(at + 8, &number.to_ne_bytes());
        let label = label.unwrap_or_default().as_bytes();
        w.put_at(at + 16, &offset(text).to_ne_bytes());
        w.put_at(at + 20, &offset(label.len()).to_ne_bytes());
        w.put_at(text, label);
        text += label.len();
        w.put_at(at + 24, &offset(text).to_ne_bytes());
        match rationale {
            Some(rationale) => {
                w.put_at(at + 28, &offset(rationale.len()).to_ne_bytes());
                w.put_at(text, rationale.as_bytes());
                text += rationale.len();
            }
            None => w.put_at(at + 28, &ABSENT.to_ne_bytes()),
        }
    }
    w.len = text;
}

/// The results of a reply (host side), checked to hold one entry per
/// record of the batch; each text is checked to lie within the reply when
/// it is read.
pub(crate) struct ReplyResults<'a> {
    reply: &'a [u8],
    n: usize,
}

impl<'a> ReplyResults<'a> {
    /// The results of `reply` for a batch of `expected` records.
    pub(crate) fn new(reply: &'a [u8], expected: usize) -> Result<Self, Malformed> {
        if reply.len() < REPLY_HEAD {
            return Err(Malformed(format!(
                "it is cut short ({} bytes)",
                reply.len()
            )));
        }
        match u32_at(reply, 0) {
            REPLY_RESULTS => {}
            kind => return Err(Malformed(format!("unknown reply {kind} to a batch"))),
        }
        let n = u32_at(reply, 4) as usize;
        if n != expected {
            return Err(Malformed(format!(
                "it holds {n} results for a batch of {expected} records"
            )));
        }
        if REPLY_HEAD + RESULT * n > reply.len() {
            return Err(Malformed(format!(
                "its {n} results run past its end ({} bytes)",
                reply.len()
            )));
        }
        Ok(ReplyResults { reply, n })
    }

    /// Writes result `i` into a result slot, as a plugin would: its texts
    /// copied into the call's buffer, or marked as not fitting. Nothing is
    /// checked here beyond the reply's bounds: the slot is then checked as
    /// any plugin's is (status, kind, verdict, a finite number, a bool
    /// that is 0 or 1, UTF-8 text).
    pub(crate) fn write(
        &self,
        i: usize,
        slot: &mut ResultSlot,
        buf: &mut Buf,
    ) -> Result<(), Malformed> {
        if i >= self.n {
            return Err(Malformed(format!("it has no result {i}")));
        }
        let r = self.reply;
        let at = REPLY_HEAD + RESULT * i;
        let text = |start: u32, len: u32| -> Result<&[u8], Malformed> {
            let (start, len) = (start as usize, len as usize);
            r.get(start..start.saturating_add(len)).ok_or_else(|| {
                Malformed(format!(
                    "result {i} has a text of {len} bytes at {start}, past its end ({} bytes)",
                    r.len()
                ))
            })
        };
        let label = text(u32_at(r, at + 16), u32_at(r, at + 20))?;
        let rationale = match u32_at(r, at + 28) {
            ABSENT => None,
            len => Some(text(u32_at(r, at + 24), len)?),
        };
        slot.status = u32::from(r[at]);
        slot.kind = u16::from(r[at + 1]);
        slot.verdict = u16::from(r[at + 2]);
        slot.number = f64::from_ne_bytes(r[at + 8..at + 16].try_into().expect("8 bytes"));
        slot.label = buf.push(label);
        slot.rationale = rationale.map_or(Str::ABSENT, |text| buf.push(text));
        Ok(())
    }
}

/// The longest text of a plugin's info or refusal the host keeps: a
/// description, a reason. Longer ones are cut.
const TEXT_CAP: usize = 64 * 1024;
/// The most config keys the host reads from a worker's info.
const KEYS_CAP: usize = 1024;

/// `text` cut to at most `cap` bytes, at a character boundary.
fn bounded(text: &str, cap: usize) -> String {
    if text.len() <= cap {
        return text.to_owned();
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A scorer's info as the worker sends it.
pub(crate) fn info_json(info: &ScorerInfo) -> String {
    json!({
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "needs_trace": info.needs_trace,
        "config_keys": info.config_keys.iter().map(|k| json!({
            "name": k.name,
            "kind": k.kind,
            "default_value": k.default_value,
            "description": k.description,
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

/// The info a worker sent for the plugin at `path`, checked as the
/// descriptor is when loaded here: its name must name feedback, and its
/// texts are bounded.
pub(crate) fn read_info(
    bytes: &[u8],
    path: &Path,
    sha256: String,
) -> Result<ScorerInfo, LoadError> {
    let invalid = |reason: String| LoadError::InvalidDescriptor {
        path: path.to_owned(),
        reason,
    };
    let json: Json = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("its worker's description of it is not JSON: {e}")))?;
    let text = |value: &Json, field: &str| -> Result<String, LoadError> {
        value
            .as_str()
            .map(|s| bounded(s, TEXT_CAP))
            .ok_or_else(|| invalid(format!("its worker sent no {field}")))
    };
    let name = json["name"]
        .as_str()
        .ok_or_else(|| invalid("its worker sent no name".into()))?
        .to_owned();
    verdict::AssessmentName::new(name.clone())
        .map_err(|e| invalid(format!("its name cannot name feedback: {e}")))?;
    let keys = json["config_keys"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    if keys.len() > KEYS_CAP {
        return Err(invalid(format!(
            "it lists {} config keys; at most {KEYS_CAP} are read",
            keys.len()
        )));
    }
    let config_keys = keys
        .iter()
        .map(|k| {
            Ok(ConfigKeyInfo {
                name: text(&k["name"], "config key name")?,
                kind: text(&k["kind"], "config key type")?,
                default_value: text(&k["default_value"], "config key default")?,
                description: text(&k["description"], "config key description")?,
            })
        })
        .collect::<Result<_, LoadError>>()?;
    Ok(ScorerInfo {
        name,
        version: text(&json["version"], "version")?,
        description: text(&json["description"], "description")?,
        config_keys,
        origin: Origin::Plugin {
            path: path.to_owned(),
            sha256,
        },
        needs_trace: json["needs_trace"].as_bool().unwrap_or(false),
    })
}

/// Why a worker refused a request, as it sends it: the kind of
/// [`LoadError`] and its fields other than the path, which the host
/// knows.
pub(crate) fn refusal_json(error: &LoadError) -> String {
    match error {
        LoadError::Missing { .. } => json!({"kind": "missing"}),
        LoadError::Directory { .. } => json!({"kind": "directory"}),
        LoadError::SymlinkLoop { .. } => json!({"kind": "symlink_loop"}),
        LoadError::DanglingSymlink { target, .. } => {
            json!({"kind": "dangling_symlink", "target": target.to_string_lossy()})
        }
        LoadError::NotAFile { what, .. } => json!({"kind": "not_a_file", "what": what}),
        LoadError::NotALibrary { reason, .. } => json!({"kind": "not_a_library", "reason": reason}),
        LoadError::NotAPlugin { .. } => json!({"kind": "not_a_plugin"}),
        LoadError::AbiVersion {
            found, expected, ..
        } => json!({"kind": "abi_version", "found": found, "expected": expected}),
        LoadError::DescriptorTooSmall {
            found, expected, ..
        } => json!({"kind": "descriptor_too_small", "found": found, "expected": expected}),
        LoadError::PanicAbort { .. } => json!({"kind": "panic_abort"}),
        LoadError::InvalidDescriptor { reason, .. } => {
            json!({"kind": "invalid_descriptor", "reason": reason})
        }
        LoadError::Config(message) => json!({"kind": "config", "reason": message}),
        other => json!({"kind": "other", "reason": other.to_string()}),
    }
    .to_string()
}

/// The [`LoadError`] a worker's refusal stands for, about the plugin at
/// `path` (the host's own path, never one the worker sent).
pub(crate) fn read_refusal(bytes: &[u8], path: &Path) -> LoadError {
    let path = path.to_owned();
    let Ok(json) = serde_json::from_slice::<Json>(bytes) else {
        return LoadError::Worker {
            path,
            reason: "its worker refused it, and its reason is not JSON".into(),
        };
    };
    let reason = || bounded(json["reason"].as_str().unwrap_or_default(), TEXT_CAP);
    let number = |field: &str| {
        json[field]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or_default()
    };
    match json["kind"].as_str().unwrap_or_default() {
        "missing" => LoadError::Missing { path },
        "directory" => LoadError::Directory { path },
        "symlink_loop" => LoadError::SymlinkLoop { path },
        "dangling_symlink" => LoadError::DanglingSymlink {
            path,
            target: bounded(json["target"].as_str().unwrap_or_default(), TEXT_CAP).into(),
        },
        "not_a_file" => LoadError::NotAFile {
            path,
            what: match json["what"].as_str() {
                Some("a FIFO") => "a FIFO",
                Some("a socket") => "a socket",
                Some("a device") => "a device",
                _ => "not a regular file",
            },
        },
        "not_a_library" => LoadError::NotALibrary {
            path,
            reason: reason(),
        },
        "not_a_plugin" => LoadError::NotAPlugin { path },
        "abi_version" => LoadError::AbiVersion {
            path,
            found: number("found"),
            expected: number("expected"),
        },
        "descriptor_too_small" => LoadError::DescriptorTooSmall {
            path,
            found: number("found"),
            expected: number("expected"),
        },
        "panic_abort" => LoadError::PanicAbort { path },
        "invalid_descriptor" => LoadError::InvalidDescriptor {
            path,
            reason: reason(),
        },
        "config" => LoadError::Config(reason()),
        _ => LoadError::Worker {
            path,
            reason: reason(),
        },
    }
}

#[cfg(test)]
mod tests {
    use verdict_plugin::host::{SCORER_INVALID_RESULT, score_batch_with};
    use verdict_plugin::{Results, Score, ScoreError};

    use super::*;

    /// One result as a worker could write it, with any bytes.
    type Raw<'a> = (u8, u16, u8, f64, &'a [u8], Option<&'a [u8]>);

    /// A results reply claiming `n` results, holding `results`.
    fn reply(n: u32, results: &[Raw<'_>]) -> Vec<u8> {
        let mut out = REPLY_RESULTS.to_ne_bytes().to_vec();
        out.extend(n.to_ne_bytes());
        let mut text: Vec<u8> = Vec::new();
        let start = (REPLY_HEAD + RESULT * results.len()) as u32;
        for &(status, kind, verdict, number, label, why) in results {
            out.extend([status, kind as u8, verdict, 0, 0, 0, 0, 0]);
            out.extend(number.to_ne_bytes());
            out.extend((start + text.len() as u32).to_ne_bytes());
            out.extend((label.len() as u32).to_ne_bytes());
            text.extend(label);
            out.extend((start + text.len() as u32).to_ne_bytes());
            match why {
                Some(why) => {
                    out.extend((why.len() as u32).to_ne_bytes());
                    text.extend(why);
                }
                None => out.extend(ABSENT.to_ne_bytes()),
            }
        }
        out.extend(text);
        out
    }

    /// Scores `n` empty records from `reply` as the host does: every slot
    /// checked as a plugin's that does not vouch for its results.
    fn host_reads(reply: &[u8], n: usize) -> Result<Results, Malformed> {
        let records = vec![Record::new(Value::NULL, Value::NULL, &[]); n];
        let results = ReplyResults::new(reply, n)?;
        let mut out = Results::new();
        let mut failed = None;
        let fill = |_: &[Record<'_>],
                    _: &[Option<&Trace<'_>>],
                    buf: &mut Buf,
                    slots: &mut [ResultSlot]| {
            for (i, slot) in slots.iter_mut().enumerate() {
                if let Err(e) = results.write(i, slot, buf) {
                    failed = Some(e);
                    return Err(ScoreError::new("MALFORMED", ""));
                }
            }
            Ok(())
        };
        score_batch_with(&records, &[], &mut out, false, fill, |_, _, _, _| Ok(()));
        failed.map_or(Ok(out), Err)
    }

    const GOOD: Raw<'static> = (0, KIND_BOOL, 0, 1.0, b"", None);

    #[test]
    fn every_read_of_a_reply_is_bounded_by_what_was_received() {
        // More results claimed than sent, or fewer than records.
        let err = host_reads(&reply(3, &[GOOD]), 3).err().unwrap();
        assert!(err.0.contains("run past its end"), "{}", err.0);
        let err = host_reads(&reply(1, &[GOOD]), 2).err().unwrap();
        assert!(err.0.contains("1 results for a batch of 2"), "{}", err.0);
        // A text whose length or start lies beyond the reply: refused,
        // not allocated.
        let whole = reply(1, &[(0, KIND_LABEL, 0, 0.0, b"x", None)]);
        for (field, value) in [(16, 0), (20, u32::MAX - 1), (16, u32::MAX), (28, 7)] {
            let mut bad = whole.clone();
            bad[REPLY_HEAD + field..REPLY_HEAD + field + 4].copy_from_slice(&value.to_ne_bytes());
            if field == 16 && value == 0 {
                // Pointing at the reply's own header is within bounds: its
                // bytes are then read as text, and checked as text.
                continue;
            }
            let err = host_reads(&bad, 1).err().unwrap();
            assert!(err.0.contains("past its end"), "{field}: {}", err.0);
        }
        // A reply cut short anywhere.
        let whole = reply(2, &[GOOD, (1, 0, 0, 0.0, b"CODE", Some(b"message"))]);
        for cut in 0..whole.len() {
            assert!(host_reads(&whole[..cut], 2).is_err(), "cut at {cut}");
        }
        assert!(host_reads(&whole, 2).is_ok());
        let mut r = Reader::new(&[0xff; 8]);
        assert!(r.bytes().is_err(), "a 64-bit length past the end");
    }

    #[test]
    fn what_a_worker_sends_is_checked_as_a_plugin_result_is() {
        let results: [Raw<'_>; 9] = [
            (0, KIND_LABEL, 0, 0.0, &[b'o', b'k', 0xff], None),
            (0, KIND_NUMBER, 0, f64::NAN, b"", None),
            (0, 9, 0, 1.0, b"", None),
            (0, KIND_NUMBER, 7, 1.0, b"", None),
            (5, 0, 0, 0.0, b"", None),
            (0, KIND_BOOL, 0, 7.0, b"", None),
            (0, KIND_BOOL, 0, 1.0, b"", Some(&[0xc3])),
            (1, 0, 0, 0.0, b"MY_CODE", Some(b"went wrong")),
            (0, KIND_NUMBER, VERDICT_PASS as u8, 0.5, b"", Some(b"half")),
        ];
        let out = host_reads(&reply(9, &results), 9).unwrap();
        for i in 0..7 {
            let (code, message) = out.get(i).unwrap().error().unwrap();
            assert_eq!(code, SCORER_INVALID_RESULT, "result {i}: {message}");
        }
        assert_eq!(out.get(7).unwrap().error(), Some(("MY_CODE", "went wrong")));
        let last = out.get(8).unwrap();
        assert_eq!(
            (last.number(), last.passed(), last.rationale()),
            (Some(0.5), Some(true), Some("half"))
        );
    }

    #[test]
    fn records_cross_as_views_of_the_request() {
        let named = [
            NamedValue::new("expected_response", Value::string("Paris")),
            NamedValue::new("facts", Value::json("[1, 2]")),
        ];
        let records = [
            Record::new(Value::string("q"), Value::string("Paris"), &named),
            Record::new(Value::NULL, Value::json("{\"a\": 1}"), &[]),
            Record::new(Value::string(""), Value::string("é"), &named[1..]),
        ];
        let size = score_request_size(&records, &[]);
        let mut bytes = vec![0u8; size];
        // SAFETY: a buffer of `size` bytes.
        let mut w = unsafe { Writer::new(bytes.as_mut_ptr(), size) };
        write_score_request(&mut w, &records, &[]);
        assert_eq!(w.len(), size);
        let batch = Batch::read(&bytes).unwrap();
        assert!(batch.traces().unwrap().is_none(), "no traces were sent");
        let views = batch.views();
        assert_eq!(views.len(), 3);
        for (got, sent) in views.iter().zip(&records) {
            assert_eq!(got.inputs.to_json(), sent.inputs.to_json());
            assert_eq!(got.outputs.to_json(), sent.outputs.to_json());
            assert_eq!(got.inputs.is_null(), sent.inputs.is_null());
            let names = |r: &Record<'_>| {
                r.expectations()
                    .iter()
                    .map(|e| (e.name.as_str().to_owned(), e.value.to_json()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(names(got), names(sent));
        }
        for cut in 0..size {
            if let Ok(batch) = Batch::read(&bytes[..cut]) {
                panic!(
                    "a request cut at {cut} read as {} records",
                    batch.views().len()
                );
            }
        }
    }

    #[test]
    fn traces_cross_whole_and_a_cut_or_lying_section_is_refused() {
        use crate::record::{OwnedEvent, OwnedRecord, OwnedSpan, OwnedTrace, OwnedValue};
        let span = OwnedSpan {
            trace_id: [7; 16],
            span_id: [2; 8],
            parent_span_id: Some([1; 8]),
            name: "execute_tool get_weather".into(),
            kind: 3,
            status_code: 2,
            status_message: "boom".into(),
            start_time_unix_nano: 5,
            end_time_unix_nano: 9,
            attributes: vec![
                (
                    "gen_ai.tool.name".into(),
                    OwnedValue::String("get_weather".into()),
                ),
                (
                    "gen_ai.usage.input_tokens".into(),
                    OwnedValue::Json("12".into()),
                ),
            ],
            events: vec![OwnedEvent {
                name: "exception".into(),
                time_unix_nano: 8,
                attributes: vec![("exception.message".into(), OwnedValue::String("é".into()))],
            }],
        };
        let owned = [
            OwnedRecord::new("q", "a").with_trace(OwnedTrace {
                spans: vec![span.clone(), OwnedSpan::default()],
            }),
            OwnedRecord::new("q", "a"),
        ];
        let named = crate::record::expectation_views(&owned);
        let records = crate::record::record_views(&owned, &named);
        let sent = TraceViews::of(&owned);
        let size = score_request_size(&records, sent.traces());
        let mut bytes = vec![0u8; size];
        // SAFETY: a buffer of `size` bytes.
        let mut w = unsafe { Writer::new(bytes.as_mut_ptr(), size) };
        write_score_request(&mut w, &records, sent.traces());
        assert_eq!(w.len(), size, "sized exactly");
        let batch = Batch::read(&bytes).unwrap();
        let got = batch.traces().unwrap().expect("traces were sent");
        let got = got.traces();
        assert!(got[1].is_none());
        let spans = got[0].unwrap().spans();
        assert_eq!(spans.len(), 2);
        let s = &spans[0];
        assert_eq!(
            (s.trace_id(), s.span_id(), s.parent_span_id()),
            ([7; 16], [2; 8], Some([1; 8]))
        );
        assert_eq!(
            (s.name(), s.kind(), s.status_code()),
            (span.name.as_str(), 3, 2)
        );
        assert_eq!((s.status_message(), s.duration_nanos()), ("boom", 4));
        assert_eq!(
            s.attribute("gen_ai.tool.name").unwrap().as_str(),
            Some("get_weather")
        );
        let tokens = s.attribute("gen_ai.usage.input_tokens").unwrap();
        assert_eq!((tokens.as_str(), tokens.text()), (None, "12"));
        assert_eq!(
            s.events()[0]
                .attribute("exception.message")
                .unwrap()
                .as_str(),
            Some("é")
        );
        assert!(spans[1].is_root());
        // Cut anywhere in the traces: refused, whatever the records say.
        let at = u32_at(&bytes, 12) as usize;
        for cut in at..size {
            let batch = Batch::read(&bytes[..cut]).unwrap();
            assert!(batch.traces().is_err(), "cut at {cut}");
        }
        // A span count far past what is there: refused before anything
        // is reserved for it.
        let mut lying = bytes.clone();
        lying[at..at + 4].copy_from_slice(&(u32::MAX - 1).to_ne_bytes());
        let err = Batch::read(&lying).unwrap().traces().err().unwrap();
        assert!(err.0.contains("spans where"), "{}", err.0);
        // Text that is not UTF-8: refused.
        let name_at = at + 4 + 32 + 8;
        let mut garbled = bytes.clone();
        garbled[name_at] = 0xff;
        let err = Batch::read(&garbled).unwrap().traces().err().unwrap();
        assert!(err.0.contains("UTF-8"), "{}", err.0);
        // Traces said to start past the end.
        let mut past = bytes.clone();
        past[12..16].copy_from_slice(&(size as u32 + 1).to_ne_bytes());
        assert!(Batch::read(&past).unwrap().traces().is_err());
    }

    #[test]
    fn results_cross_whole() {
        let mut results = Results::new();
        results.push(&Ok(Score::bool(true).with_rationale("same")));
        results.push(&Ok(Score::number(2.5).with_passed(false)));
        results.push(&Ok(Score::label("café")));
        results.push(&Err(ScoreError::new("MISSING_EXPECTATION", "none")));
        let size = results_size(results.iter());
        let mut bytes = vec![0u8; size];
        // SAFETY: a buffer of `size` bytes.
        let mut w = unsafe { Writer::new(bytes.as_mut_ptr(), size) };
        write_results(&mut w, results.iter());
        assert_eq!(w.len(), size);
        let back = host_reads(&bytes, 4).unwrap();
        assert_eq!(back.to_outcomes(), results.to_outcomes());
    }

    #[test]
    fn a_workers_info_and_refusals_are_checked_and_bounded() {
        let path = Path::new("/p/libx.so");
        let info = |json: &str| read_info(json.as_bytes(), path, String::new());
        let err = info(r#"{"name": "a.b", "version": "1", "description": ""}"#).unwrap_err();
        assert!(err.to_string().contains("cannot name feedback"), "{err}");
        let err = info("[").unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
        let keys =
            vec![json!({"name": "k", "kind": "", "default_value": "", "description": ""}); 2000];
        let many = json!({"name": "x", "version": "1", "description": "", "config_keys": keys});
        assert!(
            info(&many.to_string())
                .unwrap_err()
                .to_string()
                .contains("2000 config keys")
        );
        let long = json!({"name": "x", "version": "1", "description": "d".repeat(1 << 20)});
        assert!(info(&long.to_string()).unwrap().description.len() <= TEXT_CAP + 3);

        // The path is the host's, never the worker's.
        let refusal = read_refusal(
            br#"{"kind": "not_a_library", "reason": "file too short", "path": "/elsewhere"}"#,
            path,
        );
        assert!(matches!(&refusal, LoadError::NotALibrary { path: p, .. } if p == path));
        for garbage in [&b"\xff"[..], b"{}", br#"{"kind": 3}"#] {
            assert!(matches!(
                read_refusal(garbage, path),
                LoadError::Worker { .. }
            ));
        }
        let original = LoadError::AbiVersion {
            path: path.into(),
            found: 2,
            expected: 1,
        };
        let back = read_refusal(refusal_json(&original).as_bytes(), path);
        assert_eq!(back.to_string(), original.to_string());
    }
}
