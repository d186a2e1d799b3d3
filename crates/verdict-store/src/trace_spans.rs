//! The spans of the traces outside runs (a service's, those `verdict push`
//! or a dataset brought): rows of `trace_spans`, a few chunks a trace,
//! each holding some of its spans packed in one
//! LZ4-compressed blob as a run's block holds a record's spans
//! ([`pack::write_span`]), beside their ids, their count and their
//! earliest start and latest end, which listing the traces reads.
//!
//! A row per trace and write, not per span: a service's traces come whole
//! or in a few batches (`verdict serve` assembles each before it stores
//! it), and a row per span costs an insert into a table keyed by trace and
//! span id, at a random place, with its JSON in text columns; those
//! inserts bounded the store's one writer. A write adds a chunk, or
//! takes the trace's newest chunks into its own while they are small
//! next to it, so that a trace that grows batch by batch keeps a few
//! chunks and is never rewritten whole on each write. A span stored again
//! replaces the one with its id, found by the chunks' ids (8 bytes a span,
//! not compressed): only a chunk that holds one is rewritten. A chunk that
//! cannot be read is reported by reads of its trace and left as it is by
//! writes, which then never fail for it.
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

/// The chunks of a trace: their spans' ids, count and times.
const CHUNKS: &str = "SELECT chunk, ids, span_count, start_time_ns, end_time_ns
    FROM trace_spans WHERE trace_id = ?1 ORDER BY chunk";

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
            bytes: Vec::with_capacity(spans.saturating_mul(256)),
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

    /// Stores its spans in `conn`'s transaction, each trace's in a chunk
    /// of its own or taken into the trace's newest ([`Chunks::add`]; a span
    /// stored again replaces the one with its id), and
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
            let (live, next) = chunks.replace(trace, &ids)?;
            chunks.add(
                trace,
                live,
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

/// A chunk of a trace as listed.
struct Listed {
    chunk: i64,
    /// Its spans' ids, 8 bytes each, sorted.
    ids: Vec<u8>,
    count: i64,
    times: (i64, i64),
}

impl Listed {
    /// How many of `ids` it holds (its ids are stored sorted).
    fn holds(&self, ids: &HashSet<SpanId>) -> usize {
        let (sorted, _) = self.ids.as_chunks::<8>();
        ids.iter()
            .filter(|id| sorted.binary_search(&id.to_bytes()).is_ok())
            .count()
    }
}

impl Chunks<'_> {
    fn db(&self, trace: TraceId) -> impl Fn(rusqlite::Error) -> Error + '_ {
        move |e| {
            database(
                self.path,
                format!("storing the spans of trace {trace:032x}"),
                e,
            )
        }
    }

    /// Takes the spans of `ids` out of the chunks of `trace` that hold
    /// them: a chunk is removed when all of its spans are stored again,
    /// else rewritten without them. Gives the chunks left that a write
    /// may add to, the oldest first, and the number of the trace's next
    /// chunk.
    ///
    /// A damaged chunk is left as it is, neither rewritten nor added to,
    /// unless every span its ids name is stored again: a read of the
    /// trace reports it, and a write does not fail for it (nor do the
    /// other traces of the write).
    fn replace(&mut self, trace: TraceId, ids: &HashSet<SpanId>) -> Result<(Vec<Listed>, i64)> {
        let key = trace.to_bytes();
        let listed: Vec<Listed> = self
            .list
            .query_map([key], |row| {
                Ok(Listed {
                    chunk: row.get(0)?,
                    ids: row.get(1)?,
                    count: row.get(2)?,
                    times: (row.get(3)?, row.get(4)?),
                })
            })
            .and_then(Iterator::collect)
            .map_err(self.db(trace))?;
        let next = match listed.last() {
            None => 0,
            Some(last) => last.chunk.checked_add(1).ok_or_else(|| {
                corrupt(
                    self.path,
                    trace,
                    format!("its chunk {} is the last number", last.chunk),
                )
            })?,
        };
        let mut live = Vec::with_capacity(listed.len());
        for chunk in listed {
            let whole = chunk.ids.len() % 8 == 0 && chunk.ids.len() / 8 == chunk.count as usize;
            let again = chunk.holds(ids);
            if whole && again == 0 {
                live.push(chunk);
            } else if chunk.ids.len() % 8 == 0 && again == chunk.ids.len() / 8 && again > 0 {
                self.drop
                    .execute(params![key, chunk.chunk])
                    .map_err(self.db(trace))?;
            } else if whole && let Some(rest) = self.without(trace, &chunk, ids)? {
                live.push(rest);
            }
        }
        Ok((live, next))
    }

    /// Rewrites `chunk` of `trace` without the spans of `ids`: the chunk
    /// left, or `None` when it cannot be read (it is left as it is).
    fn without(
        &mut self,
        trace: TraceId,
        chunk: &Listed,
        ids: &HashSet<SpanId>,
    ) -> Result<Option<Listed>> {
        let key = trace.to_bytes();
        let Some(stored) = self.read(trace, chunk.chunk)? else {
            return Ok(None);
        };
        let mut spans = Records::new(&stored, 0);
        self.row.clear();
        while spans.position() < stored.len() {
            let from = spans.position();
            let Ok(span) = spans.span() else {
                return Ok(None);
            };
            if !ids.contains(&span.id()) {
                let bytes = &stored[from..spans.position()];
                self.row.add(span.id(), bytes, span.times(0));
            }
        }
        if self.row.count == 0 {
            // Its ids did not name its spans: they were all stored again.
            self.drop
                .execute(params![key, chunk.chunk])
                .map_err(self.db(trace))?;
            return Ok(None);
        }
        self.row
            .put(&mut self.put, key, chunk.chunk)
            .map_err(self.db(trace))?;
        Ok(Some(Listed {
            chunk: chunk.chunk,
            ids: self.row.sorted_ids(),
            count: self.row.count,
            times: self.row.times,
        }))
    }

    /// The decompressed bytes of `chunk` of `trace`, or `None` when they
    /// cannot be read.
    fn read(&mut self, trace: TraceId, chunk: i64) -> Result<Option<Vec<u8>>> {
        let stored: Vec<u8> = self
            .get
            .query_row(params![trace.to_bytes(), chunk], |row| row.get(0))
            .map_err(self.db(trace))?;
        Ok(pack::open(&stored).ok())
    }

    /// Stores `spans` (id, bytes, times) as chunks of `trace` after `live`,
    /// its chunks left (the oldest first), from chunk `next` on; each at
    /// most [`CHUNK_BYTES`] unless one span alone is larger.
    ///
    /// A trace written a few spans at a time would gather a chunk a write,
    /// and every write lists them all; so the new spans take in the
    /// trace's newest chunk while it holds at most twice as many spans as
    /// they do (and then the one before, and so on), which keeps the
    /// chunks of a trace to a logarithm of its spans, each span rewritten
    /// that many times at most.
    fn add<'s>(
        &mut self,
        trace: TraceId,
        mut live: Vec<Listed>,
        mut next: i64,
        spans: impl Iterator<Item = (SpanId, &'s [u8], (i64, i64))>,
    ) -> Result<()> {
        let key = trace.to_bytes();
        self.row.clear();
        let mut split = false;
        for (id, bytes, times) in spans {
            if self.row.count > 0 && self.row.raw.len() + bytes.len() > CHUNK_BYTES {
                self.row
                    .put(&mut self.put, key, next)
                    .map_err(self.db(trace))?;
                next += 1;
                split = true;
                self.row.clear();
            }
            self.row.add(id, bytes, times);
        }
        let mut taken_in = Vec::new();
        while !split
            && let Some(newest) = live.pop()
            && newest.count <= 2 * self.row.count
        {
            let Some(stored) = self.read(trace, newest.chunk)? else {
                break;
            };
            if stored.len() + self.row.raw.len() > CHUNK_BYTES + 1 {
                break;
            }
            // Its spans first, as they were stored first.
            self.row.raw.splice(1..1, stored[1..].iter().copied());
            self.row.ids.splice(0..0, newest.ids.iter().copied());
            self.row.count += newest.count;
            self.row.times = (
                self.row.times.0.min(newest.times.0),
                self.row.times.1.max(newest.times.1),
            );
            taken_in.push(newest.chunk);
            next = newest.chunk;
        }
        self.row
            .put(&mut self.put, key, next)
            .map_err(self.db(trace))?;
        // The newer chunks taken in, now in the oldest one.
        for chunk in taken_in.into_iter().filter(|&chunk| chunk != next) {
            self.drop
                .execute(params![key, chunk])
                .map_err(self.db(trace))?;
        }
        Ok(())
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

    /// Its spans' ids, sorted.
    fn sorted_ids(&self) -> Vec<u8> {
        let mut ids = self.ids.as_chunks::<8>().0.to_vec();
        ids.sort_unstable();
        ids.into_flattened()
    }

    /// Stores it as `chunk` of `trace`, its ids sorted (a write looks up
    /// the few it stores again in every chunk of the trace).
    fn put(&self, put: &mut Statement<'_>, trace: [u8; 16], chunk: i64) -> rusqlite::Result<()> {
        put.execute(params![
            trace,
            chunk,
            self.count,
            self.times.0,
            self.times.1,
            self.sorted_ids(),
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
