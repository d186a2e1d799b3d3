//! The bytes of a block of a run's records: what `verdict eval` stores per
//! record, and how a read gets it back.
//!
//! A block holds up to a few hundred records, each written as its fields
//! one after the other (lengths as LEB128 varints, numbers little-endian),
//! and the whole block is compressed with LZ4: the JSON keys, the
//! scorers' short rationales and the repeated expectation names cost
//! almost nothing once compressed. Everything a record does not hold is
//! derived ([`trace_id`], [`root_span_id`], [`assessment_id`]) or is the
//! run's (its scorers' names, sources and metadata, the block's time).
//!
//! LZ4 (the `lz4_flex` crate, pure Rust) rather than zstd: it compresses
//! a run's blocks at several hundred MB/s on the threads that build them,
//! and needs no C library in the build; zstd would make the store smaller
//! still at several times the CPU per byte.
//!
//! A record, in order:
//!
//! | field | bytes |
//! |---|---|
//! | flags | 1: 1 the record names its trace, 2 its span, 4 the run made its root span |
//! | dataset line | varint |
//! | trace id, span id | 16 and 8, when named |
//! | root span start, duration | zigzag varint ns from the block's time, varint ns, with a root span |
//! | inputs, outputs | a value each |
//! | error | a string, when the root span ended in error |
//! | spans | varint count, when the record has spans of its own |
//! | expectations | varint count, then each: name, value, 1 byte (1 if this run logged it) |
//! | results | one per scorer of the run: a tag, its payload, a rationale |
//! | spans | the record's spans, as many as its count says |
//!
//! A record's spans are those the system under test made in the record's
//! own trace, beside the root span (which is derived and not written), so
//! that a predicted record costs no row in `trace_spans`, `traces` or the
//! operation log. A span, in order: its id (8 bytes), its parent's (8,
//! zero for none), name, kind and status code as their stored names
//! (`internal`, `error`…), the status message (an optional string),
//! start and end (zigzag varint ns from the block's time), attributes (a
//! string of JSON text), events, links and resource (optional strings of
//! JSON text, absent when empty), scope name and version (a string, an
//! optional string). A service's spans are stored in the same format, a
//! trace's together in a row of `trace_spans` (`crate::trace_spans`);
//! storing a record's that way would cost a row in three tables, with
//! their indexes, per record.
//!
//! A value is a tag byte (0 null, 1 text, 2 JSON text) and, but for null,
//! a string: varint length and UTF-8 bytes. A result's tag says what it is
//! (see [`PackedResult`]) in its low four bits, the scorer's own verdict
//! in its top two, and the run's judgment by its criterion in the two
//! between; a rationale is a varint of its length plus one (0 for none) and
//! its bytes.

use opentelemetry::trace::{SpanId, TraceId};
use verdict::AssessmentId;

use crate::span::{StoredSpan, kind_str, parse_kind, parse_status, status_parts};
use crate::store::{from_nanos, to_nanos};

/// Flag: the record names its trace; its id follows.
pub(crate) const NAMED_TRACE: u8 = 1;
/// Flag: the record names its span; its id follows.
pub(crate) const NAMED_SPAN: u8 = 2;
/// Flag: the run made the record's root span; its times follow.
pub(crate) const ROOT_SPAN: u8 = 4;
/// Flag: the record's root span ended in error (the system under test
/// failed); the message follows the outputs.
pub(crate) const ROOT_ERROR: u8 = 8;
/// Flag: the record has spans of its own; their count follows the error,
/// and the spans its results.
pub(crate) const SPANS: u8 = 16;

/// The first byte of a block: its format.
pub(crate) const FORMAT: u8 = 1;

/// How many bits of an assessment id's low half number a record's
/// assessments (its expectations, then its scorers' feedback).
const ASSESSMENT_BITS: u32 = 20;

/// The most records a run may hold: ordinals fit in what the assessment
/// ids leave.
pub const MAX_RECORDS: u64 = 1 << (64 - ASSESSMENT_BITS);

/// The most assessments (expectations plus scorers) one record may have.
pub const MAX_ASSESSMENTS_PER_RECORD: usize = (1 << ASSESSMENT_BITS) - 1;

/// The trace id the run with `ids` gives its record `ordinal` when the
/// record names none: the run's bits, then the ordinal plus one. Unique
/// across runs (the store refuses two runs with the same `ids`), and in
/// increasing order within a run.
pub fn trace_id(ids: u64, ordinal: u64) -> TraceId {
    TraceId::from((u128::from(ids) << 64) | u128::from(ordinal + 1))
}

/// The run and ordinal a derived trace id encodes, if it is one of the run
/// with `ids`.
pub(crate) fn ordinal_of_trace(trace: TraceId) -> (u64, u64) {
    let bits = u128::from_be_bytes(trace.to_bytes());
    ((bits >> 64) as u64, (bits as u64).wrapping_sub(1))
}

/// The root span the run makes for a record that names no trace: derived
/// from its trace id, never zero.
pub fn root_span_id(trace: TraceId) -> SpanId {
    let bits = u128::from_be_bytes(trace.to_bytes());
    // SplitMix64's finalizer: a bijection, so distinct traces of a run get
    // distinct spans.
    let mut z = (bits as u64) ^ ((bits >> 64) as u64).rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    SpanId::from(z.max(1))
}

/// The id of assessment `k` (from 1: its expectations, then its scorers)
/// of record `ordinal` of the run with `ids`. Its high half is the run's
/// bits turned by half a word, so that an assessment id never reads as
/// its trace's id.
pub fn assessment_id(ids: u64, ordinal: u64, k: usize) -> AssessmentId {
    let low = (ordinal << ASSESSMENT_BITS) | k as u64;
    AssessmentId::from_u128((u128::from(ids.rotate_left(32)) << 64) | u128::from(low))
        .expect("the run's bits are never zero, so the id is not zero")
}

/// The run bits, ordinal and number of an assessment id of a run.
pub(crate) fn parts_of_assessment(id: AssessmentId) -> (u64, u64, usize) {
    let bits = id.to_u128();
    let low = bits as u64;
    (
        ((bits >> 64) as u64).rotate_right(32),
        low >> ASSESSMENT_BITS,
        (low & ((1 << ASSESSMENT_BITS) - 1)) as usize,
    )
}

/// A value of a record as stored: nothing, text, or JSON text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackedValue<'a> {
    /// No value.
    Null,
    /// A string.
    Text(&'a str),
    /// Another JSON value (number, bool, list, object), as JSON text.
    Json(&'a str),
}

/// What a scorer said of a record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PackedResult<'a> {
    /// A bool.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A label.
    Label(&'a str),
    /// The scorer failed: its error code and message.
    Error {
        /// The code, such as `SCORER_ERROR`.
        code: &'a str,
        /// What went wrong, if it said.
        message: Option<&'a str>,
    },
}

/// A scorer's own verdict on a record, beside its value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OwnVerdict {
    /// The scorer gave none.
    #[default]
    None,
    /// It says the record passes.
    Pass,
    /// It says the record fails.
    Fail,
}

/// One scorer's result for a record, with its rationale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScorerResult<'a> {
    /// The value or error.
    pub result: PackedResult<'a>,
    /// The scorer's own pass or fail.
    pub verdict: OwnVerdict,
    /// Whether the record passed by the run's criterion for this scorer
    /// (`None`: the criterion could not judge the value).
    pub judged: Option<bool>,
    /// Why.
    pub rationale: Option<&'a str>,
}

/// Where a record's assessments go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordTarget {
    /// A trace the record names, and maybe a span of it.
    Named(TraceId, Option<SpanId>),
    /// A trace of the run's own ([`trace_id`]) with a root span
    /// ([`root_span_id`]) that the run makes.
    Own,
}

/// The head of a record, before its expectations and results.
#[derive(Clone, Copy, Debug)]
pub struct RecordHead<'a> {
    /// The dataset line it came from.
    pub line: u64,
    /// Where its assessments go.
    pub target: RecordTarget,
    /// When the run scored it — its root span's time, or its stand-in's
    /// for a trace it names — as a start in nanoseconds from the block's
    /// time and a length.
    pub span: (i64, u64),
    /// What the system was given.
    pub inputs: PackedValue<'a>,
    /// What it answered.
    pub outputs: PackedValue<'a>,
    /// Why the system under test gave no outputs, when it failed: the
    /// root span's status is then an error with this message.
    pub error: Option<&'a str>,
    /// How many expectations follow.
    pub expectations: usize,
    /// How many spans of its own follow its results (only a record of
    /// [`RecordTarget::Own`] has them: the spans the system under test
    /// made in the record's trace).
    pub spans: usize,
}

/// Writes a block's records, then compresses them.
#[derive(Debug)]
pub struct BlockWriter {
    bytes: Vec<u8>,
    count: u32,
    /// A span's JSON text, written here then copied in after its length.
    scratch: Vec<u8>,
}

impl Default for BlockWriter {
    fn default() -> Self {
        BlockWriter::with_capacity(0)
    }
}

impl BlockWriter {
    /// An empty block with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut out = Vec::with_capacity(bytes.max(1));
        out.push(FORMAT);
        BlockWriter {
            bytes: out,
            count: 0,
            scratch: Vec::new(),
        }
    }

    /// Starts a record: its expectations and one result per scorer of the
    /// run follow.
    pub fn record(&mut self, head: &RecordHead<'_>) {
        let mut flags = 0;
        if let RecordTarget::Named(_, span) = head.target {
            flags |= NAMED_TRACE;
            if span.is_some() {
                flags |= NAMED_SPAN;
            }
        } else {
            flags |= ROOT_SPAN;
        }
        if head.error.is_some() {
            flags |= ROOT_ERROR;
        }
        if head.spans > 0 {
            flags |= SPANS;
        }
        self.bytes.push(flags);
        varint(&mut self.bytes, head.line);
        if let RecordTarget::Named(trace, span) = head.target {
            self.bytes.extend_from_slice(&trace.to_bytes());
            if let Some(span) = span {
                self.bytes.extend_from_slice(&span.to_bytes());
            }
        }
        varint(&mut self.bytes, zigzag(head.span.0));
        varint(&mut self.bytes, head.span.1);
        value(&mut self.bytes, head.inputs);
        value(&mut self.bytes, head.outputs);
        if let Some(error) = head.error {
            string(&mut self.bytes, error);
        }
        if head.spans > 0 {
            varint(&mut self.bytes, head.spans as u64);
        }
        varint(&mut self.bytes, head.expectations as u64);
        self.count += 1;
    }

    /// One span of the current record, after its results: its times as
    /// nanoseconds from `time_ns`, the block's time. Its trace is the
    /// record's, and is not written.
    pub fn span(&mut self, span: &StoredSpan, time_ns: i64) {
        write_span(&mut self.bytes, &mut self.scratch, span, time_ns);
    }

    /// One expectation of the current record.
    pub fn expectation(&mut self, name: &str, expected: PackedValue<'_>, logged: bool) {
        string(&mut self.bytes, name);
        value(&mut self.bytes, expected);
        self.bytes.push(u8::from(logged));
    }

    /// One scorer's result for the current record.
    pub fn result(&mut self, result: &ScorerResult<'_>) {
        let verdict = match result.verdict {
            OwnVerdict::None => 0,
            OwnVerdict::Pass => 0x40,
            OwnVerdict::Fail => 0x80,
        } | match result.judged {
            None => 0,
            Some(true) => 0x10,
            Some(false) => 0x20,
        };
        match result.result {
            PackedResult::Bool(false) => self.bytes.push(1 | verdict),
            PackedResult::Bool(true) => self.bytes.push(2 | verdict),
            PackedResult::Number(n) => {
                self.bytes.push(3 | verdict);
                self.bytes.extend_from_slice(&n.to_le_bytes());
            }
            PackedResult::Label(label) => {
                self.bytes.push(4 | verdict);
                string(&mut self.bytes, label);
            }
            PackedResult::Error { code, message } => {
                self.bytes.push(5 | verdict);
                string(&mut self.bytes, code);
                optional(&mut self.bytes, message);
            }
        }
        optional(&mut self.bytes, result.rationale);
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The block, compressed, and how many records it holds.
    pub fn finish(self) -> (Vec<u8>, u32) {
        (
            lz4_flex::block::compress_prepend_size(&self.bytes),
            self.count,
        )
    }
}

/// Why a block cannot be read.
pub(crate) type Damage = String;

/// Decompresses a block (or a chunk of a trace's spans). The size it says
/// it holds is checked against what LZ4 can make of its bytes (at most
/// 255 bytes a byte) before anything is allocated: a damaged size never
/// asks for gigabytes.
pub(crate) fn open(data: &[u8]) -> Result<Vec<u8>, Damage> {
    let said = data
        .first_chunk::<4>()
        .map(|size| u32::from_le_bytes(*size) as usize)
        .ok_or("it is cut short")?;
    if said > data.len().saturating_mul(255) {
        return Err(format!(
            "it says it holds {said} bytes, more than its {} can hold",
            data.len()
        ));
    }
    let bytes = lz4_flex::block::decompress_size_prepended(data)
        .map_err(|e| format!("its records cannot be decompressed: {e}"))?;
    match bytes.first() {
        Some(&FORMAT) => Ok(bytes),
        Some(other) => Err(format!(
            "it is in format {other}, which this build cannot read"
        )),
        None => Err("it is empty".into()),
    }
}

/// A span of a record, borrowed from its block's bytes.
#[derive(Clone, Debug)]
pub(crate) struct SpanView<'a> {
    span_id: SpanId,
    parent: SpanId,
    name: &'a str,
    kind: &'a str,
    status: (&'a str, Option<&'a str>),
    /// Start and end, in nanoseconds from the block's time.
    times: (i64, i64),
    attributes: &'a str,
    events: Option<&'a str>,
    links: Option<&'a str>,
    resource: Option<&'a str>,
    scope: (&'a str, Option<&'a str>),
}

impl SpanView<'_> {
    /// Its span id.
    pub(crate) fn id(&self) -> SpanId {
        self.span_id
    }

    /// Its start and end, in nanoseconds since the epoch, in a block of
    /// time `time_ns`.
    pub(crate) fn times(&self, time_ns: i64) -> (i64, i64) {
        (
            time_ns.wrapping_add(self.times.0),
            time_ns.wrapping_add(self.times.1),
        )
    }

    /// The span, in `trace`, in a block of time `time_ns`.
    pub(crate) fn to_span(&self, trace: TraceId, time_ns: i64) -> Result<StoredSpan, Damage> {
        let damaged = |what: &str, e: serde_json::Error| {
            format!("span {} has damaged {what}: {e}", self.span_id)
        };
        let list = |text: Option<&str>, what: &str| {
            text.map_or(Ok(Vec::new()), |t| {
                serde_json::from_str(t).map_err(|e| damaged(what, e))
            })
        };
        let mut span = StoredSpan::new(trace, self.span_id, self.name.to_owned());
        span.parent_span_id = (self.parent != SpanId::INVALID).then_some(self.parent);
        span.kind = parse_kind(self.kind)
            .ok_or_else(|| format!("span {} has an unknown kind {:?}", self.span_id, self.kind))?;
        span.status =
            parse_status(self.status.0, self.status.1.map(str::to_owned)).ok_or_else(|| {
                format!(
                    "span {} has an unknown status {:?}",
                    self.span_id, self.status.0
                )
            })?;
        span.start_time = from_nanos(time_ns.wrapping_add(self.times.0));
        span.end_time = from_nanos(time_ns.wrapping_add(self.times.1));
        span.attributes =
            serde_json::from_str(self.attributes).map_err(|e| damaged("attributes", e))?;
        span.events = list(self.events, "events")?;
        span.links = list(self.links, "links")?;
        span.resource = match self.resource {
            Some(text) => serde_json::from_str(text).map_err(|e| damaged("resource", e))?,
            None => serde_json::Map::new(),
        };
        span.scope_name = self.scope.0.to_owned();
        span.scope_version = self.scope.1.map(str::to_owned);
        Ok(span)
    }
}

/// One record of a block, borrowed from its bytes.
#[derive(Clone, Debug)]
pub(crate) struct RecordView<'a> {
    pub(crate) line: u64,
    pub(crate) target: RecordTarget,
    pub(crate) span: (i64, u64),
    pub(crate) inputs: PackedValue<'a>,
    pub(crate) outputs: PackedValue<'a>,
    /// Why the system under test failed, when it did.
    pub(crate) error: Option<&'a str>,
    /// (name, value, logged by this run).
    pub(crate) expectations: Vec<(&'a str, PackedValue<'a>, bool)>,
    pub(crate) results: Vec<ScorerResult<'a>>,
    /// Its own spans, beside the root span.
    pub(crate) spans: Vec<SpanView<'a>>,
}

/// Reads the records of a decompressed block, each with `scorers` results.
pub(crate) struct Records<'a> {
    bytes: &'a [u8],
    at: usize,
    scorers: usize,
}

impl<'a> Records<'a> {
    pub(crate) fn new(block: &'a [u8], scorers: usize) -> Self {
        Records::at(block, 1, scorers)
    }

    /// Reads from byte `at` of a decompressed block: the start of a record.
    pub(crate) fn at(block: &'a [u8], at: usize, scorers: usize) -> Self {
        Records {
            bytes: block,
            at,
            scorers,
        }
    }

    /// Where the next record starts.
    pub(crate) fn position(&self) -> usize {
        self.at
    }

    fn byte(&mut self) -> Result<u8, Damage> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| "a record is cut short".to_owned())?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Damage> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| "a record is cut short".to_owned())?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn varint(&mut self) -> Result<u64, Damage> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err("a number is too long".into())
    }

    fn length(&mut self) -> Result<usize, Damage> {
        usize::try_from(self.varint()?).map_err(|_| "a length is too large".to_owned())
    }

    fn string(&mut self) -> Result<&'a str, Damage> {
        let n = self.length()?;
        std::str::from_utf8(self.take(n)?).map_err(|e| format!("a text is not UTF-8: {e}"))
    }

    fn optional(&mut self) -> Result<Option<&'a str>, Damage> {
        match self.length()? {
            0 => Ok(None),
            n => {
                let bytes = self.take(n - 1)?;
                std::str::from_utf8(bytes)
                    .map(Some)
                    .map_err(|e| format!("a text is not UTF-8: {e}"))
            }
        }
    }

    fn value(&mut self) -> Result<PackedValue<'a>, Damage> {
        match self.byte()? {
            0 => Ok(PackedValue::Null),
            1 => Ok(PackedValue::Text(self.string()?)),
            2 => Ok(PackedValue::Json(self.string()?)),
            tag => Err(format!("unknown value tag {tag}")),
        }
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Damage> {
        Ok(self.take(N)?.try_into().expect("take gives N bytes"))
    }

    fn result(&mut self) -> Result<ScorerResult<'a>, Damage> {
        let tag = self.byte()?;
        let verdict = match tag & 0xc0 {
            0 => OwnVerdict::None,
            0x40 => OwnVerdict::Pass,
            0x80 => OwnVerdict::Fail,
            _ => return Err(format!("result tag {tag:#x} says both pass and fail")),
        };
        let judged = match tag & 0x30 {
            0 => None,
            0x10 => Some(true),
            0x20 => Some(false),
            _ => {
                return Err(format!(
                    "result tag {tag:#x} is judged both passed and failed"
                ));
            }
        };
        let result = match tag & 0x0f {
            1 => PackedResult::Bool(false),
            2 => PackedResult::Bool(true),
            3 => PackedResult::Number(f64::from_le_bytes(self.fixed()?)),
            4 => PackedResult::Label(self.string()?),
            5 => PackedResult::Error {
                code: self.string()?,
                message: self.optional()?,
            },
            other => return Err(format!("unknown result tag {other}")),
        };
        Ok(ScorerResult {
            result,
            verdict,
            judged,
            rationale: self.optional()?,
        })
    }

    fn record(&mut self) -> Result<RecordView<'a>, Damage> {
        let flags = self.byte()?;
        let line = self.varint()?;
        let target = if flags & NAMED_TRACE != 0 {
            let trace = TraceId::from_bytes(self.fixed()?);
            let span = if flags & NAMED_SPAN != 0 {
                Some(SpanId::from_bytes(self.fixed()?))
            } else {
                None
            };
            RecordTarget::Named(trace, span)
        } else {
            RecordTarget::Own
        };
        let start = unzigzag(self.varint()?);
        let span = (start, self.varint()?);
        let inputs = self.value()?;
        let outputs = self.value()?;
        let error = if flags & ROOT_ERROR != 0 {
            Some(self.string()?)
        } else {
            None
        };
        let spans = if flags & SPANS != 0 {
            self.length()?
        } else {
            0
        };
        let n = self.length()?;
        if n > MAX_ASSESSMENTS_PER_RECORD {
            return Err(format!("a record claims {n} expectations"));
        }
        let mut expectations = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.string()?;
            let expected = self.value()?;
            expectations.push((name, expected, self.byte()? != 0));
        }
        let results = (0..self.scorers)
            .map(|_| self.result())
            .collect::<Result<_, _>>()?;
        // Each span takes at least 16 bytes: a count beyond what is left
        // is damage, not a reason to allocate.
        if spans > (self.bytes.len() - self.at) / 16 {
            return Err(format!("a record claims {spans} spans"));
        }
        let spans = (0..spans).map(|_| self.span()).collect::<Result<_, _>>()?;
        Ok(RecordView {
            line,
            target,
            span,
            inputs,
            outputs,
            error,
            expectations,
            results,
            spans,
        })
    }

    /// Reads a span written by [`write_span`].
    pub(crate) fn span(&mut self) -> Result<SpanView<'a>, Damage> {
        Ok(SpanView {
            span_id: SpanId::from_bytes(self.fixed()?),
            parent: SpanId::from_bytes(self.fixed()?),
            name: self.string()?,
            kind: self.string()?,
            status: (self.string()?, self.optional()?),
            times: (unzigzag(self.varint()?), unzigzag(self.varint()?)),
            attributes: self.string()?,
            events: self.optional()?,
            links: self.optional()?,
            resource: self.optional()?,
            scope: (self.string()?, self.optional()?),
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordView<'a>, Damage>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let record = self.record();
        if record.is_err() {
            // Nothing after a damaged record can be found again.
            self.at = self.bytes.len();
        }
        Some(record)
    }
}

/// Writes a span to `out` as a block holds it (see the module's docs), its
/// times as nanoseconds from `time_ns`, its JSON made through `scratch`.
/// Its trace is not written: a block's is its record's, a trace's pack's
/// its row's.
pub(crate) fn write_span(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    span: &StoredSpan,
    time_ns: i64,
) {
    out.extend_from_slice(&span.span_id.to_bytes());
    out.extend_from_slice(&span.parent_span_id.unwrap_or(SpanId::INVALID).to_bytes());
    string(out, &span.name);
    string(out, kind_str(&span.kind));
    let (code, message) = status_parts(&span.status);
    string(out, code);
    optional(out, message);
    varint(out, zigzag(to_nanos(span.start_time).wrapping_sub(time_ns)));
    varint(out, zigzag(to_nanos(span.end_time).wrapping_sub(time_ns)));
    json(out, scratch, &span.attributes);
    optional_json(out, scratch, span.events.is_empty(), &span.events);
    optional_json(out, scratch, span.links.is_empty(), &span.links);
    optional_json(out, scratch, span.resource.is_empty(), &span.resource);
    string(out, &span.scope_name);
    optional(out, span.scope_version.as_deref());
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

fn string(out: &mut Vec<u8>, text: &str) {
    varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn optional(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.push(0),
        Some(text) => {
            varint(out, text.len() as u64 + 1);
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// A value as a string of its JSON text, serialized through `scratch`.
fn json(out: &mut Vec<u8>, scratch: &mut Vec<u8>, value: &impl serde::Serialize) {
    scratch.clear();
    serde_json::to_writer(&mut *scratch, value).expect("a JSON value serializes");
    varint(out, scratch.len() as u64);
    out.extend_from_slice(scratch);
}

/// A value as an optional string of its JSON text: absent when `empty`.
fn optional_json(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    empty: bool,
    value: &impl serde::Serialize,
) {
    if empty {
        out.push(0);
        return;
    }
    scratch.clear();
    serde_json::to_writer(&mut *scratch, value).expect("a JSON value serializes");
    varint(out, scratch.len() as u64 + 1);
    out.extend_from_slice(scratch);
}

fn value(out: &mut Vec<u8>, v: PackedValue<'_>) {
    match v {
        PackedValue::Null => out.push(0),
        PackedValue::Text(text) => {
            out.push(1);
            string(out, text);
        }
        PackedValue::Json(text) => {
            out.push(2);
            string(out, text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_reads_back_as_written() {
        let mut block = BlockWriter::default();
        let named = TraceId::from(0x0fb0_7256_509e_b9d2_2d07_f42f_7eb9_f24d_u128);
        block.record(&RecordHead {
            line: 3,
            target: RecordTarget::Own,
            span: (-5, 1_000),
            inputs: PackedValue::Json(r#"{"q":"capital of France?"}"#),
            outputs: PackedValue::Text("Paris"),
            error: None,
            expectations: 2,
            spans: 0,
        });
        block.expectation("expected_response", PackedValue::Text("Paris"), true);
        block.expectation("expected_facts", PackedValue::Json(r#"["Paris"]"#), false);
        block.result(&ScorerResult {
            result: PackedResult::Bool(true),
            verdict: OwnVerdict::None,
            judged: Some(true),
            rationale: Some("matches expectation"),
        });
        block.result(&ScorerResult {
            result: PackedResult::Number(0.25),
            verdict: OwnVerdict::Fail,
            judged: Some(false),
            rationale: None,
        });
        block.record(&RecordHead {
            line: u64::MAX,
            target: RecordTarget::Named(named, Some(SpanId::from(7))),
            span: (0, 0),
            inputs: PackedValue::Null,
            outputs: PackedValue::Null,
            error: Some("the predictor panicked: boom"),
            expectations: 0,
            spans: 0,
        });
        block.result(&ScorerResult {
            result: PackedResult::Error {
                code: "SCORER_ERROR",
                message: Some("boom\0\u{1b}[2J"),
            },
            verdict: OwnVerdict::None,
            judged: None,
            rationale: Some(""),
        });
        block.result(&ScorerResult {
            result: PackedResult::Label("relevant"),
            verdict: OwnVerdict::Pass,
            judged: None,
            rationale: None,
        });
        let (data, count) = block.finish();
        assert_eq!(count, 2);
        let bytes = open(&data).unwrap();
        let records: Vec<_> = Records::new(&bytes, 2).collect::<Result<_, _>>().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].line, 3);
        assert_eq!(records[0].target, RecordTarget::Own);
        assert_eq!(records[0].span, (-5, 1_000));
        assert_eq!(records[0].outputs, PackedValue::Text("Paris"));
        assert_eq!(
            records[0].expectations[1],
            ("expected_facts", PackedValue::Json(r#"["Paris"]"#), false)
        );
        assert_eq!(records[0].results[1].result, PackedResult::Number(0.25));
        assert_eq!(records[0].results[1].verdict, OwnVerdict::Fail);
        assert_eq!(records[0].results[1].judged, Some(false));
        assert_eq!(records[0].results[0].judged, Some(true));
        assert_eq!(records[0].error, None);
        assert_eq!(records[1].line, u64::MAX);
        assert_eq!(records[1].error, Some("the predictor panicked: boom"));
        assert_eq!(records[1].outputs, PackedValue::Null);
        assert_eq!(
            records[1].target,
            RecordTarget::Named(named, Some(SpanId::from(7)))
        );
        assert_eq!(
            records[1].results[0].result,
            PackedResult::Error {
                code: "SCORER_ERROR",
                message: Some("boom\0\u{1b}[2J")
            }
        );
        assert_eq!(records[1].results[0].rationale, Some(""));
        assert_eq!(records[1].results[1].verdict, OwnVerdict::Pass);
    }

    /// A span with every field set.
    fn full_span(trace: TraceId) -> StoredSpan {
        let mut span = StoredSpan::new(trace, SpanId::from(0x11), "generate".into());
        span.parent_span_id = Some(SpanId::from(0x22));
        span.kind = opentelemetry::trace::SpanKind::Client;
        span.start_time =
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(1_700_000_000_123_456_789);
        span.end_time = span.start_time - std::time::Duration::from_nanos(5);
        span.status = opentelemetry::trace::Status::error("timed out");
        span.attributes =
            serde_json::json!({"tokens": 42, "text": "a\u{0}b", "score": 0.30000000000000004})
                .as_object()
                .unwrap()
                .clone();
        span.events = vec![serde_json::json!({"name": "retry", "time": "x", "attributes": {}})];
        span.links = vec![serde_json::json!({"trace_id": "0a", "span_id": "0b", "attributes": {}})];
        span.resource = serde_json::json!({"service.name": "svc"})
            .as_object()
            .unwrap()
            .clone();
        span.scope_name = "code".into();
        span.scope_version = Some("1.2".into());
        span
    }

    #[test]
    fn a_records_spans_read_back_whole() {
        let trace = TraceId::from(0x77u128);
        let time_ns = 1_700_000_000_000_000_000;
        let full = full_span(trace);
        let mut bare = StoredSpan::new(trace, SpanId::from(0x33), "bare".into());
        bare.start_time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        bare.end_time = bare.start_time;
        let mut block = BlockWriter::default();
        block.record(&RecordHead {
            line: 1,
            target: RecordTarget::Own,
            span: (0, 0),
            inputs: PackedValue::Text("q"),
            outputs: PackedValue::Null,
            error: Some("failed"),
            expectations: 1,
            spans: 2,
        });
        block.expectation("expected_response", PackedValue::Text("a"), true);
        block.result(&ScorerResult {
            result: PackedResult::Bool(true),
            verdict: OwnVerdict::None,
            judged: None,
            rationale: None,
        });
        block.span(&full, time_ns);
        block.span(&bare, time_ns);
        let (data, _) = block.finish();
        let bytes = open(&data).unwrap();
        let records: Vec<_> = Records::new(&bytes, 1).collect::<Result<_, _>>().unwrap();
        assert_eq!(records[0].error, Some("failed"));
        assert_eq!(records[0].expectations.len(), 1);
        let spans: Vec<StoredSpan> = records[0]
            .spans
            .iter()
            .map(|s| s.to_span(trace, time_ns).unwrap())
            .collect();
        assert_eq!(spans, [full, bare]);
    }

    #[test]
    fn damaged_blocks_are_refused_not_trusted() {
        let mut block = BlockWriter::default();
        block.record(&RecordHead {
            line: 1,
            target: RecordTarget::Own,
            span: (0, 0),
            inputs: PackedValue::Text("q"),
            outputs: PackedValue::Text("a"),
            error: None,
            expectations: 0,
            spans: 1,
        });
        block.result(&ScorerResult {
            result: PackedResult::Label("x"),
            verdict: OwnVerdict::None,
            judged: None,
            rationale: Some("why"),
        });
        block.span(&full_span(TraceId::from(1u128)), 0);
        let (data, _) = block.finish();
        let bytes = open(&data).unwrap();
        // Every cut inside the record is an error, never a panic or a
        // shorter record.
        for cut in 2..bytes.len() {
            let read: Result<Vec<_>, _> = Records::new(&bytes[..cut], 1).collect();
            assert!(read.is_err(), "cut at {cut} read as {read:?}");
        }
        // A huge length does not allocate what it claims.
        let mut huge = vec![FORMAT, ROOT_SPAN, 1, 0, 0, 1];
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(Records::new(&huge, 0).next().unwrap().is_err());
        // Nor a huge count of spans.
        let mut spans = vec![FORMAT, ROOT_SPAN | SPANS, 1, 0, 0, 0, 0];
        spans.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
        let error = Records::new(&spans, 0).next().unwrap().unwrap_err();
        assert!(error.contains("claims"), "{error}");
        assert!(open(b"\x05\x00\x00\x00garbage").is_err());
        assert!(open(&[]).is_err());
        // A damaged size is refused before it is allocated.
        let error = open(b"\xff\xff\xff\xf0\x10\x01").unwrap_err();
        assert!(error.contains("more than its 6 can hold"), "{error}");
        // The most a block can hold for its size still opens.
        let zeros = vec![FORMAT; 100_000];
        let packed = lz4_flex::block::compress_prepend_size(&zeros);
        assert_eq!(open(&packed).unwrap(), zeros);
    }

    #[test]
    fn derived_ids_round_trip_and_differ() {
        let ids = 0x8000_0000_0000_0001_u64;
        for ordinal in [0, 1, 4095, MAX_RECORDS - 1] {
            let trace = trace_id(ids, ordinal);
            assert_eq!(ordinal_of_trace(trace), (ids, ordinal));
            let id = assessment_id(ids, ordinal, 3);
            assert_eq!(parts_of_assessment(id), (ids, ordinal, 3));
        }
        let spans: std::collections::HashSet<SpanId> = (0..10_000)
            .map(|o| root_span_id(trace_id(ids, o)))
            .collect();
        assert_eq!(spans.len(), 10_000);
        assert!(!spans.contains(&SpanId::INVALID));
    }
}
