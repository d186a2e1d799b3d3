//! Many new spans and assessments stored at once, in one transaction:
//! what an evaluation run writes.
//!
//! The work that needs no database — turning spans into their stored
//! bytes, writing each assessment's MLflow JSON — happens where a
//! [`Batch`] is filled, on the caller's threads; [`LocalStore::write_batch`]
//! then only compresses each trace's spans and inserts rows, so one writer
//! thread keeps up with scoring on every other core.

use std::collections::HashSet;
use std::time::SystemTime;

use opentelemetry::trace::TraceId;
use opentelemetry_sdk::trace::SpanData;
use verdict::Assessment;
use verdict::lifecycle;

use crate::error::{Error, Result, database};
use crate::ops::{self, OpKind};
use crate::span::StoredSpan;
use crate::store::{
    AssessmentRow, LocalStore, NOTE_TRACE, PUT_ROW, Rows, insert_row, insert_trace, to_nanos,
};
use crate::trace_spans::SpanBatch;

/// The page cache of a connection that writes batches, in KiB.
const BULK_CACHE_KIB: i64 = 64 * 1024;

/// New spans and assessments, ready to be stored together by
/// [`LocalStore::write_batch`].
///
/// ```
/// use verdict::Assessment;
/// use verdict_store::{Batch, LocalStore};
///
/// let dir = tempfile::tempdir()?;
/// let store = LocalStore::open(dir.path().join("verdict.db"))?;
/// let mut batch = Batch::default();
/// for i in 0..3u32 {
///     let trace = format!("{:032x}", i + 1);
///     batch.push_assessment(Assessment::feedback("ok", i % 2 == 0).on_trace(&trace, None)?);
/// }
/// store.write_batch(&batch)?;
/// assert_eq!(store.count_assessments()?, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Batch {
    spans: SpanBatch,
    assessments: Vec<Pending>,
}

/// An assessment of a batch: a new one as its row, or an override, which
/// goes through the lifecycle.
#[derive(Debug)]
enum Pending {
    New(AssessmentRow),
    Override(Box<Assessment>),
}

impl Batch {
    /// An empty batch with room for `spans` spans and `assessments`
    /// assessments.
    pub fn with_capacity(spans: usize, assessments: usize) -> Self {
        Batch {
            spans: SpanBatch::with_capacity(spans),
            assessments: Vec::with_capacity(assessments),
        }
    }

    /// Adds a finished span (storing it again later replaces it).
    pub fn push_span(&mut self, span: &SpanData) {
        self.spans.push(&StoredSpan::from(span));
    }

    /// Adds a span as the store keeps them, with its own resource if it
    /// has one.
    pub fn push_stored_span(&mut self, span: &StoredSpan) {
        self.spans.push(span);
    }

    /// Adds a new assessment, writing its JSON now. Its id must be new to
    /// the store (ids made by Verdict are random, so they are); one that
    /// overrides another also marks that one invalid, as
    /// [`LocalStore::log`] does.
    pub fn push_assessment(&mut self, assessment: Assessment) {
        self.assessments.push(if assessment.overrides().is_some() {
            Pending::Override(Box::new(assessment))
        } else {
            Pending::New(AssessmentRow::new(&assessment))
        });
    }

    /// Adds the spans and assessments of another batch.
    pub fn append(&mut self, other: &mut Batch) {
        self.spans.append(&mut other.spans);
        self.assessments.append(&mut other.assessments);
    }

    /// How many spans and assessments it holds.
    pub fn len(&self) -> usize {
        self.spans.len() + self.assessments.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties it, keeping its memory for the next batch.
    pub fn clear(&mut self) {
        self.spans.clear();
        self.assessments.clear();
    }
}

impl LocalStore {
    /// Stores a batch in one transaction: all of it, or — if the database
    /// fails — none of it. An assessment that overrides another goes
    /// through [`lifecycle::log`], which refuses an override of an unknown
    /// assessment; that refusal fails the whole batch.
    pub fn write_batch(&self, batch: &Batch) -> Result<()> {
        let action = || {
            format!(
                "storing a batch of {} spans and {} assessments",
                batch.spans.len(),
                batch.assessments.len()
            )
        };
        // Its commits then never wait for a checkpoint's fsyncs.
        self.checkpoint_elsewhere();
        {
            // A batch touches many index pages; SQLite's default cache of
            // 2 MiB would write them out and read them back on every
            // batch. The cache is per connection and bounded.
            let conn = self.lock();
            if conn
                .pragma_query_value(None, "cache_size", |row| row.get::<_, i64>(0))
                .is_ok_and(|size| size > -BULK_CACHE_KIB)
            {
                conn.pragma_update(None, "cache_size", -BULK_CACHE_KIB)
                    .map_err(|e| database(self.path(), "growing the page cache", e))?;
            }
        }
        self.write(action, |tx| self.write_batch_in(tx, batch, None))
    }

    /// Stores a batch inside the caller's transaction, and logs what it
    /// changed (`crate::ops`) as part of `run`, if it is a run's.
    pub(crate) fn write_batch_in(
        &self,
        tx: &rusqlite::Transaction<'_>,
        batch: &Batch,
        run: Option<i64>,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let now = to_nanos(SystemTime::now());
        let action = || {
            format!(
                "storing a batch of {} spans and {} assessments",
                batch.spans.len(),
                batch.assessments.len()
            )
        };
        let path = self.path();
        let prepare = |sql| tx.prepare(sql).map_err(|e| database(path, action(), e));
        // Prepared once per batch, not looked up per row.
        let mut row_insert = prepare(PUT_ROW)?;
        let mut trace_insert = prepare(NOTE_TRACE)?;
        // Each trace is noted once per batch, not once per row.
        let mut noted: HashSet<TraceId> = HashSet::new();
        let mut last: Option<TraceId> = None;
        let mut ops_log = ops::Log::new(tx, path)?;
        let mut log = |kind, trace, id| ops_log.push(kind, Some(trace), id, run, None);
        // The traces whose spans change, in the order first seen: those
        // the spans note (nothing is noted before them).
        for trace in batch.spans.write(tx, path)? {
            noted.insert(trace);
            insert_trace(&mut trace_insert, path, trace, now)?;
            log(OpKind::Spans, trace, None)?;
        }
        for pending in &batch.assessments {
            match pending {
                Pending::Override(assessment) => {
                    let mut rows = Rows {
                        packed: self.packed(tx),
                    };
                    lifecycle::log(&mut rows, assessment).map_err(Error::from_core)?;
                    log(OpKind::Log, assessment.trace_id(), Some(assessment.id()))?;
                }
                Pending::New(row) => {
                    insert_row(&mut row_insert, path, row)?;
                    log(OpKind::Log, row.target.trace_id(), Some(row.id))?;
                    // A record's assessments come together: most rows
                    // name the trace of the row before.
                    let trace = row.target.trace_id();
                    if last != Some(trace) && noted.insert(trace) {
                        insert_trace(&mut trace_insert, path, trace, now)?;
                    }
                    last = Some(trace);
                }
            }
        }
        Ok(())
    }
}
