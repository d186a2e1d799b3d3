//! The spans of the traces outside runs (a service's, those `verdict push`
//! or a dataset brought): rows of `trace_spans`, one per write of a
//! trace's spans (a chunk), each holding them packed in one
//! LZ4-compressed blob as a run's block holds a record's spans
//! ([`pack::write_span`]), beside their ids, their count and their
//! earliest start and latest end, which listing the traces reads.
//!
//! A row per trace and write, not per span: a service's traces come whole
//! or in a few batches (`verdict serve` assembles each before it stores
//! it), and a row per span costs an insert into a table keyed by trace and
//! span id, at a random place, with its JSON in text columns; those
//! inserts bounded the store's one writer. A write adds a chunk, so that a
//! trace that grows batch by batch is never rewritten whole; a span stored
//! again replaces the one with its id, found by the chunks' ids (8 bytes a
//! span, not compressed): only a chunk that holds one is rewritten.
//!
//! What needs no database — the JSON, the bytes of each span — is done
//! where a [`SpanBatch`] is filled, on the caller's threads; the writer
//! groups, compresses and inserts.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use opentelemetry::trace::{SpanId, TraceId};
use rusqlite::{CachedStatement, Connection, Statement, params};

use crate::error::{Error, Result, database};
use crate::runs::pack::{self, Records};
use crate::span::StoredSpan;
use crate::store::to_nanos;

/// Stores a chunk of a trace's spans, or replaces it.
const PUT: &str = "
    INSERT INTO trace_spans (trace_id, chunk, span_count, start_time_ns, end_time_ns, ids, spans)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
    ON CONFLICT (trace_id, chunk) DO UPDATE SET
        span_count = excluded.span_count, start_time_ns = excluded.start_time_ns,
        end_time_ns = excluded.end_time_ns, ids = excluded.ids, spans = excluded.spans";

/// The chunks of a trace, and the ids of their spans.
const CHUNKS: &str = "SELECT chunk, ids FROM trace_spans WHERE trace_id = ?1 ORDER BY chunk";

/// The packed spans of a chunk.
const GET: &str = "SELECT spans FROM trace_spans WHERE trace_id = ?1 AND chunk = ?2";

/// The packed spans of every chunk of a trace, in the order written.
const GET_ALL: &str = "SELECT spans FROM trace_spans WHERE trace_id = ?1 ORDER BY chunk";

/// Removes a chunk whose every span was stored again.
const DROP: &str = "DELETE FROM trace_spans WHERE trace_id = ?1 AND chunk = ?2";

/// The most bytes of spans a chunk holds before compression, unless one
/// span alone is larger: a trace stored whole in one write (one a dataset
/// brought, say) is split, so that no row nears SQLite's bound on a value
/// (1 GB) and no read needs one allocation the size of the trace.
const CHUNK_BYTES: usize = 8 << 20;

/// Spans to store, each already in its stored bytes.
#[derive(Debug, Default)]
pub(crate) struct SpanBatch {
    bytes: Vec<u8>,
    /// A span's JSON text, written here then copied in after its length.
    scratch: Vec<u8>,
    spans: Vec<Packed>,
}

/// A span of a batch.
#[derive(Debug)]
struct Packed {
    trace: TraceId,
    id: SpanId,
    /// Start and end, nanoseconds since the epoch.
    times: (i64, i64),
    /// Its bytes in the batch's.
    bytes: Range<usize>,
}

impl SpanBatch {
    /// An empty batch with room for `spans` spans.
    pub(crate) fn with_capacity(spans: usize) -> Self {
        SpanBatch {
            bytes: Vec::with_capacity(spans * 256),
            scratch: Vec::new(),
            spans: Vec::with_capacity(spans),
        }
    }

    /// Adds a span; one with the same trace and span id as an earlier one
    /// replaces it.
    pub(crate) fn push(&mut self, span: &StoredSpan) {
        let at = self.bytes.len();
        pack::write_span(&mut self.bytes, &mut self.scratch, span, 0);
        self.spans.push(Packed {
            trace: span.trace_id,
            id: span.span_id,
            times: (to_nanos(span.start_time), to_nanos(span.end_time)),
            bytes: at..self.bytes.len(),
        });
    }

    /// Adds the spans of `other`, which is left empty.
    pub(crate) fn append(&mut self, other: &mut SpanBatch) {
        let shift = self.bytes.len();
        self.bytes.append(&mut other.bytes);
        self.spans.extend(other.spans.drain(..).map(|mut span| {
            span.bytes = span.bytes.start + shift..span.bytes.end + shift;
            span
        }));
    }

    /// How many spans it holds.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// Empties it, keeping its memory.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
    }

    /// Stores its spans in `conn`'s transaction, each trace's as a chunk
    /// of its own (a span stored again replaces the one with its id), and
    /// gives the traces whose spans changed, in the order first seen. The
    /// caller notes them and logs the change.
    pub(crate) fn write(&self, conn: &Connection, path: &Path) -> Result<Vec<TraceId>> {
        let db = |e| database(path, format!("storing {} spans", self.spans.len()), e);
        let mut order: Vec<TraceId> = Vec::new();
        let mut of_trace: HashMap<TraceId, Vec<usize>> = HashMap::new();
        for (i, span) in self.spans.iter().enumerate() {
            of_trace
                .entry(span.trace)
                .or_insert_with(|| {
                    order.push(span.trace);
                    Vec::new()
                })
                .push(i);
        }
        let mut chunks = Chunks {
            path,
            list: conn.prepare_cached(CHUNKS).map_err(db)?,
            get: conn.prepare_cached(GET).map_err(db)?,
            put: conn.prepare_cached(PUT).map_err(db)?,
            drop: conn.prepare_cached(DROP).map_err(db)?,
            row: Row::default(),
        };
        let mut ids = HashSet::new();
        for &trace in &order {
            // The last of a span id in the batch is the one stored.
            ids.clear();
            let mut chosen: Vec<&Packed> = of_trace[&trace]
                .iter()
                .rev()
                .map(|&i| &self.spans[i])
                .filter(|span| ids.insert(span.id))
                .collect();
            chosen.reverse();
            let next = chunks.replace(trace, &ids)?;
            chunks.add(
                trace,
                next,
                chosen
                    .into_iter()
                    .map(|span| (span.id, &self.bytes[span.bytes.clone()], span.times)),
            )?;
        }
        Ok(order)
    }
}

/// The chunks of the traces a write changes, through its statements.
struct Chunks<'c> {
    path: &'c Path,
    list: CachedStatement<'c>,
    get: CachedStatement<'c>,
    put: CachedStatement<'c>,
    drop: CachedStatement<'c>,
    row: Row,
}

impl Chunks<'_> {
    /// Takes the spans of `ids` out of the chunks of `trace` that hold
    /// them (rewritten, or removed when nothing is left), and gives the
    /// number of the trace's next chunk.
    fn replace(&mut self, trace: TraceId, ids: &HashSet<SpanId>) -> Result<i64> {
        let path = self.path;
        let db = |e| database(path, format!("storing the spans of trace {trace:032x}"), e);
        let key = trace.to_bytes();
        let written: Vec<(i64, Vec<u8>)> = self
            .list
            .query_map([key], |row| Ok((row.get(0)?, row.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(db)?;
        for (chunk, chunk_ids) in &written {
            if chunk_ids.len() % 8 != 0 {
                let reason = format!("its chunk {chunk} has {} bytes of ids", chunk_ids.len());
                return Err(corrupt(path, trace, reason));
            }
            let stored_again = chunk_ids
                .chunks_exact(8)
                .any(|id| ids.contains(&SpanId::from_bytes(id.try_into().expect("8 bytes"))));
            if !stored_again {
                continue;
            }
            let stored: Vec<u8> = self
                .get
                .query_row(params![key, chunk], |row| row.get(0))
                .map_err(db)?;
            let stored = pack::open(&stored).map_err(|reason| corrupt(path, trace, reason))?;
            let mut spans = Records::new(&stored, 0);
            self.row.clear();
            while spans.position() < stored.len() {
                let from = spans.position();
                let span = spans
                    .span()
                    .map_err(|reason| corrupt(path, trace, reason))?;
                if !ids.contains(&span.id()) {
                    let bytes = &stored[from..spans.position()];
                    self.row.add(span.id(), bytes, span.times(0));
                }
            }
            if self.row.count == 0 {
                self.drop.execute(params![key, chunk]).map_err(db)?;
            } else {
                self.row.put(&mut self.put, key, *chunk).map_err(db)?;
            }
        }
        Ok(written.last().map_or(0, |(chunk, _)| chunk + 1))
    }

    /// Stores `spans` (id, bytes, times) as new chunks of `trace`, from
    /// chunk `next` on, each at most [`CHUNK_BYTES`] unless one span alone
    /// is larger.
    fn add<'s>(
        &mut self,
        trace: TraceId,
        mut next: i64,
        spans: impl Iterator<Item = (SpanId, &'s [u8], (i64, i64))>,
    ) -> Result<()> {
        let path = self.path;
        let db = |e| database(path, format!("storing the spans of trace {trace:032x}"), e);
        let key = trace.to_bytes();
        self.row.clear();
        for (id, bytes, times) in spans {
            if self.row.count > 0 && self.row.raw.len() + bytes.len() > CHUNK_BYTES {
                self.row.put(&mut self.put, key, next).map_err(db)?;
                next += 1;
                self.row.clear();
            }
            self.row.add(id, bytes, times);
        }
        self.row.put(&mut self.put, key, next).map_err(db)
    }
}

/// A chunk being made.
#[derive(Default)]
struct Row {
    raw: Vec<u8>,
    ids: Vec<u8>,
    count: i64,
    times: (i64, i64),
}

impl Row {
    fn clear(&mut self) {
        self.raw.clear();
        self.raw.push(pack::FORMAT);
        self.ids.clear();
        self.count = 0;
        self.times = (i64::MAX, i64::MIN);
    }

    fn add(&mut self, id: SpanId, span: &[u8], (start, end): (i64, i64)) {
        self.raw.extend_from_slice(span);
        self.ids.extend_from_slice(&id.to_bytes());
        self.count += 1;
        self.times = (self.times.0.min(start), self.times.1.max(end));
    }

    fn put(&self, put: &mut Statement<'_>, trace: [u8; 16], chunk: i64) -> rusqlite::Result<()> {
        put.execute(params![
            trace,
            chunk,
            self.count,
            self.times.0,
            self.times.1,
            self.ids,
            lz4_flex::block::compress_prepend_size(&self.raw),
        ])
        .map(drop)
    }
}

/// The stored spans of `trace`, in the order stored.
pub(crate) fn read(conn: &Connection, path: &Path, trace: TraceId) -> Result<Vec<StoredSpan>> {
    let chunks: Vec<Vec<u8>> = conn
        .prepare_cached(GET_ALL)
        .and_then(|mut get| {
            get.query_map([trace.to_bytes()], |row| row.get(0))?
                .collect()
        })
        .map_err(|e| database(path, format!("reading the spans of trace {trace:032x}"), e))?;
    let mut out = Vec::new();
    for chunk in chunks {
        let stored = pack::open(&chunk).map_err(|reason| corrupt(path, trace, reason))?;
        let mut spans = Records::new(&stored, 0);
        while spans.position() < stored.len() {
            let span = spans
                .span()
                .and_then(|span| span.to_span(trace, 0))
                .map_err(|reason| corrupt(path, trace, reason))?;
            out.push(span);
        }
    }
    Ok(out)
}

fn corrupt(path: &Path, trace: TraceId, reason: String) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        what: format!("the spans of trace {trace:032x}"),
        reason,
    }
}
