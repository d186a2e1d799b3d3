//! What the host and a worker write into their shared region: requests
//! (load a plugin, make its scorer, score a batch) and replies.
//!
//! A plain binary layout in native byte order (both ends are the same
//! program on the same machine): fixed-width integers, and text as a
//! length then its bytes. The host writes requests straight into the
//! region; the worker reads them in place, as the records' views. Replies
//! are the worker's, so the host reads them with [`Reader`], whose every
//! read is bounded by what was received: a count or a length that runs
//! past the end is an error, never a read out of bounds or an allocation
//! of the size asked for.

use std::path::Path;

use serde_json::{Value as Json, json};
use verdict_plugin::abi::{
    Buf, KIND_BOOL, KIND_LABEL, KIND_NUMBER, ResultSlot, STATUS_ERROR, STATUS_OK, Str,
    VERDICT_FAIL, VERDICT_NONE, VERDICT_PASS,
};
use verdict_plugin::{NamedValue, Record, ScoreRef, ScoreValueRef, Value};

use crate::error::LoadError;
use crate::scorer::{ConfigKeyInfo, Origin, ScorerInfo};

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

    fn put(&mut self, bytes: &[u8]) {
        assert!(
            bytes.len() <= self.cap - self.len,
            "a message is sized before it is written"
        );
        // SAFETY: in bounds (checked above); `bytes` is not in the region.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(self.len), bytes.len());
        }
        self.len += bytes.len();
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.put(&v.to_ne_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.put(&v.to_ne_bytes());
    }

    fn f64(&mut self, v: f64) {
        self.put(&v.to_ne_bytes());
    }

    /// A length (`u64`) and the bytes.
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.put(bytes);
    }

    /// A short text of a reply: a `u32` length and the bytes.
    fn text(&mut self, text: &str) {
        self.u32(u32::try_from(text.len()).expect("sized before writing"));
        self.put(text.as_bytes());
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

    pub(crate) fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
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

    fn f64(&mut self) -> Result<f64, Malformed> {
        Ok(f64::from_ne_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// A length (`u64`) and that many bytes.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let len = self.u64()?;
        self.take(usize::try_from(len).unwrap_or(usize::MAX))
    }

    /// A `u32` length and that many bytes; `None` for [`ABSENT`].
    fn text(&mut self) -> Result<Option<&'a [u8]>, Malformed> {
        match self.u32()? {
            ABSENT => Ok(None),
            len => self.take(len as usize).map(Some),
        }
    }

    /// Where the next read starts.
    pub(crate) fn offset(&self) -> usize {
        self.at
    }

    /// Reads from `offset` on.
    pub(crate) fn seek(&mut self, offset: usize) {
        self.at = offset.min(self.bytes.len());
    }
}

/// The length of a text that is absent (an absent rationale).
const ABSENT: u32 = u32::MAX;

const VALUE_NULL: u8 = 0;
const VALUE_STRING: u8 = 1;
const VALUE_JSON: u8 = 2;

fn value_size(value: &Value<'_>) -> usize {
    1 + 8 + value.text().len()
}

fn write_value(w: &mut Writer, value: &Value<'_>) {
    let kind = if value.is_null() {
        VALUE_NULL
    } else if value.as_str().is_some() {
        VALUE_STRING
    } else {
        VALUE_JSON
    };
    w.u8(kind);
    w.bytes(if kind == VALUE_NULL {
        b""
    } else {
        value.text().as_bytes()
    });
}

/// The size of the score request for `records`.
pub(crate) fn score_request_size(records: &[Record<'_>]) -> usize {
    8 + records
        .iter()
        .map(|r| {
            value_size(&r.inputs)
                + value_size(&r.outputs)
                + 4
                + r.expectations()
                    .iter()
                    .map(|e| 8 + e.name.as_str().len() + value_size(&e.value))
                    .sum::<usize>()
        })
        .sum::<usize>()
}

/// Writes the score request for `records` (sized by
/// [`score_request_size`]).
pub(crate) fn write_score_request(w: &mut Writer, records: &[Record<'_>]) {
    w.u32(OP_SCORE);
    w.u32(u32::try_from(records.len()).expect("a batch is a few hundred records"));
    for record in records {
        write_value(w, &record.inputs);
        write_value(w, &record.outputs);
        let expectations = record.expectations();
        w.u32(u32::try_from(expectations.len()).unwrap_or(u32::MAX));
        for e in expectations {
            w.bytes(e.name.as_str().as_bytes());
            write_value(w, &e.value);
        }
    }
}

/// The records of a score request, as views of the request's bytes
/// (worker side; the host wrote them, from Rust strings).
pub(crate) struct Batch<'a> {
    pub(crate) named: Vec<NamedValue<'a>>,
    /// Each record's inputs, outputs, and its expectations in `named`.
    pub(crate) records: Vec<(Value<'a>, Value<'a>, std::ops::Range<usize>)>,
}

impl<'a> Batch<'a> {
    /// Reads the records after the request's op code.
    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Batch<'a>, Malformed> {
        let n = r.u32()? as usize;
        let mut batch = Batch {
            named: Vec::new(),
            records: Vec::with_capacity(n.min(4096)),
        };
        for _ in 0..n {
            let inputs = read_value(r)?;
            let outputs = read_value(r)?;
            let start = batch.named.len();
            for _ in 0..r.u32()? {
                let name = utf8(r.bytes()?)?;
                batch.named.push(NamedValue::new(name, read_value(r)?));
            }
            batch
                .records
                .push((inputs, outputs, start..batch.named.len()));
        }
        Ok(batch)
    }

    /// The views scorers read.
    pub(crate) fn views(&'a self) -> Vec<Record<'a>> {
        self.records
            .iter()
            .map(|(inputs, outputs, range)| {
                Record::new(*inputs, *outputs, &self.named[range.clone()])
            })
            .collect()
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, Malformed> {
    std::str::from_utf8(bytes).map_err(|_| Malformed("a text is not UTF-8".into()))
}

fn read_value<'a>(r: &mut Reader<'a>) -> Result<Value<'a>, Malformed> {
    let kind = r.u8()?;
    let text = utf8(r.bytes()?)?;
    Ok(match kind {
        VALUE_NULL => Value::NULL,
        VALUE_STRING => Value::string(text),
        _ => Value::json(text),
    })
}

/// The size of a result in a reply.
fn result_size(score: &ScoreRef<'_>) -> usize {
    let (label, rationale) = result_texts(score);
    3 + 8 + 4 + label.map_or(0, str::len) + 4 + rationale.map_or(0, str::len)
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
    8 + results.map(|s| result_size(&s)).sum::<usize>()
}

/// Writes a reply holding `results` (sized by [`results_size`]).
pub(crate) fn write_results<'a>(
    w: &mut Writer,
    results: impl ExactSizeIterator<Item = ScoreRef<'a>>,
) {
    w.u32(REPLY_RESULTS);
    w.u32(u32::try_from(results.len()).expect("a batch is a few hundred records"));
    for score in results {
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
        w.u8(status as u8);
        w.u8(kind as u8);
        w.u8(verdict as u8);
        w.f64(number);
        w.text(label.unwrap_or(""));
        match rationale {
            Some(text) => w.text(text),
            None => w.u32(ABSENT),
        }
    }
}

/// Reads the count of a results reply (after its op code) and where each
/// result starts, checking that each lies within the reply.
pub(crate) fn result_offsets(r: &mut Reader<'_>, expected: usize) -> Result<Vec<usize>, Malformed> {
    let n = r.u32()? as usize;
    if n != expected {
        return Err(Malformed(format!(
            "it holds {n} results for a batch of {expected} records"
        )));
    }
    let mut offsets = Vec::with_capacity(n);
    for _ in 0..n {
        offsets.push(r.offset());
        r.take(3 + 8)?;
        r.text()?;
        r.text()?;
    }
    Ok(offsets)
}

/// Writes the result at the reader's position into a result slot, as a
/// plugin would: its texts copied into the call's buffer, or marked as
/// not fitting. Nothing is checked here beyond the reply's bounds: the
/// slot is then checked as any plugin's is (status, kind, verdict, a
/// finite number, a bool that is 0 or 1, UTF-8 text).
pub(crate) fn read_result(
    r: &mut Reader<'_>,
    slot: &mut ResultSlot,
    buf: &mut Buf,
) -> Result<(), Malformed> {
    let status = u32::from(r.u8()?);
    let kind = u16::from(r.u8()?);
    let verdict = u16::from(r.u8()?);
    let number = r.f64()?;
    let label = r.text()?.unwrap_or_default();
    let rationale = r.text()?;
    slot.status = status;
    slot.kind = kind;
    slot.verdict = verdict;
    slot.number = number;
    slot.label = buf.push(label);
    slot.rationale = rationale.map_or(Str::ABSENT, |text| buf.push(text));
    Ok(())
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

    /// One result as a worker would write it, with any bytes.
    fn raw(
        status: u8,
        kind: u8,
        verdict: u8,
        number: f64,
        label: &[u8],
        why: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut out = vec![status, kind, verdict];
        out.extend(number.to_ne_bytes());
        out.extend((label.len() as u32).to_ne_bytes());
        out.extend(label);
        match why {
            Some(text) => {
                out.extend((text.len() as u32).to_ne_bytes());
                out.extend(text);
            }
            None => out.extend(ABSENT.to_ne_bytes()),
        }
        out
    }

    /// A results reply holding `results`, claiming `n` of them.
    fn reply(n: u32, results: &[Vec<u8>]) -> Vec<u8> {
        let mut out = REPLY_RESULTS.to_ne_bytes().to_vec();
        out.extend(n.to_ne_bytes());
        for r in results {
            out.extend(r);
        }
        out
    }

    /// Scores `n` empty records from `reply` as the host does: every slot
    /// checked as a plugin's that does not vouch for its results.
    fn host_reads(reply: &[u8], n: usize) -> Result<Results, Malformed> {
        let records = vec![Record::new(Value::NULL, Value::NULL, &[]); n];
        let mut r = Reader::new(reply);
        assert_eq!(r.u32()?, REPLY_RESULTS);
        let offsets = result_offsets(&mut r, n)?;
        let mut out = Results::new();
        let fill = |_: &[Record<'_>], buf: &mut Buf, slots: &mut [ResultSlot]| {
            for (slot, &at) in slots.iter_mut().zip(&offsets) {
                let mut r = Reader::new(reply);
                r.seek(at);
                read_result(&mut r, slot, buf).map_err(|e| ScoreError::new("MALFORMED", e.0))?;
            }
            Ok(())
        };
        score_batch_with(&records, &mut out, false, fill, fill);
        Ok(out)
    }

    #[test]
    fn every_read_of_a_reply_is_bounded_by_what_was_received() {
        let good = raw(0, KIND_BOOL as u8, 0, 1.0, b"", None);
        // More results claimed than sent, or fewer than records.
        let err = host_reads(&reply(3, std::slice::from_ref(&good)), 3)
            .err()
            .unwrap();
        assert!(err.0.contains("runs past its end"), "{}", err.0);
        let err = host_reads(&reply(1, std::slice::from_ref(&good)), 2)
            .err()
            .unwrap();
        assert!(err.0.contains("1 results for a batch of 2"), "{}", err.0);
        // A text length far beyond the reply: refused, not allocated.
        let mut huge = raw(0, KIND_LABEL as u8, 0, 0.0, b"x", None);
        huge[11..15].copy_from_slice(&(u32::MAX - 1).to_ne_bytes());
        let err = host_reads(&reply(1, &[huge]), 1).err().unwrap();
        assert!(err.0.contains("runs past its end"), "{}", err.0);
        // A 64-bit length, and a reply cut short anywhere.
        let mut r = Reader::new(&[0xff; 8]);
        assert!(r.bytes().is_err());
        let whole = reply(1, &[good]);
        for cut in 0..whole.len() {
            assert!(host_reads(&whole[..cut], 1).is_err(), "cut at {cut}");
        }
        assert!(host_reads(&whole, 1).is_ok());
    }

    #[test]
    fn what_a_worker_sends_is_checked_as_a_plugin_result_is() {
        let results = [
            raw(0, KIND_LABEL as u8, 0, 0.0, &[b'o', b'k', 0xff], None),
            raw(0, KIND_NUMBER as u8, 0, f64::NAN, b"", None),
            raw(0, 9, 0, 1.0, b"", None),
            raw(0, KIND_NUMBER as u8, 7, 1.0, b"", None),
            raw(5, 0, 0, 0.0, b"", None),
            raw(0, KIND_BOOL as u8, 0, 7.0, b"", None),
            raw(0, KIND_BOOL as u8, 0, 1.0, b"", Some(&[0xc3])),
            raw(1, 0, 0, 0.0, b"MY_CODE", Some(b"went wrong")),
            raw(
                0,
                KIND_NUMBER as u8,
                VERDICT_PASS as u8,
                0.5,
                b"",
                Some(b"half"),
            ),
        ];
        let out = host_reads(&reply(results.len() as u32, &results), results.len()).unwrap();
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
