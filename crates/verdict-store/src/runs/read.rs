//! Reading a run's packed records back as the assessments and root spans
//! they stand for: the same [`Assessment`]s, ids, times and order that
//! one row per assessment would give, with the edits made since on top.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use verdict::wire::{Columns, from_columns};
use verdict::{Assessment, AssessmentError, AssessmentId, AssessmentSource, Target};

use super::pack::{
    self, PackedResult, PackedValue, RecordTarget, RecordView, Records, assessment_id,
    ordinal_of_trace, parts_of_assessment, root_span_id, trace_id,
};
use super::{Header, RecordSpan, StoredRecord, StoredResult, StoredValue};
use crate::error::{Error, Result, database};
use crate::span::StoredSpan;
use crate::store::{TraceSummary, from_nanos};

/// Where an assessment comes in the order logged: a row's `seq`, or for a
/// packed one, the `seq` its block was written after, then its run,
/// record and number.
pub(crate) type Order = (i64, u8, i64, u64, usize);

/// The order of a row of `assessments`.
pub(crate) fn row_order(seq: i64) -> Order {
    (seq, 0, 0, 0, 0)
}

/// What reading a run needs, and never changes once it started.
#[derive(Debug)]
pub(crate) struct RunMeta {
    pub(crate) run: i64,
    pub(crate) run_id: String,
    pub(crate) ids: u64,
    header: Header,
    sources: Vec<AssessmentSource>,
}

/// A block, decompressed.
#[derive(Debug)]
pub(crate) struct OpenBlock {
    /// The run's `ids` and the block's key.
    key: (u64, i64),
    pub(crate) first: u64,
    pub(crate) count: u64,
    pub(crate) time_ns: i64,
    seq_mark: i64,
    bytes: Vec<u8>,
    /// Where each record starts, found on the first read of one.
    offsets: std::sync::OnceLock<std::result::Result<Vec<usize>, String>>,
}

impl OpenBlock {
    /// Where each record starts.
    fn offsets(&self, scorers: usize) -> std::result::Result<&[usize], String> {
        self.offsets
            .get_or_init(|| {
                let mut records = Records::new(&self.bytes, scorers);
                let mut offsets = Vec::with_capacity(self.count as usize);
                loop {
                    let at = records.position();
                    match records.next() {
                        None => return Ok(offsets),
                        Some(Ok(_)) => offsets.push(at),
                        Some(Err(e)) => return Err(e),
                    }
                }
            })
            .as_deref()
            .map_err(Clone::clone)
    }
}

/// Runs and the last block read, kept between reads: a trace's records
/// are usually read one after the other (`verdict push`, `verdict show`).
#[derive(Debug, Default)]
pub(crate) struct RunCache {
    metas: HashMap<u64, Arc<RunMeta>>,
    block: Option<Arc<OpenBlock>>,
}

/// A change to a packed assessment, read from `run_edits`.
#[derive(Debug)]
pub(crate) struct Edit {
    deleted: bool,
    name: Option<String>,
    valid: Option<bool>,
    update_ns: Option<i64>,
    body: Option<String>,
}

/// Edits by assessment id.
pub(crate) type Edits = HashMap<AssessmentId, Edit>;

/// The packed side of the store, over one connection.
pub(crate) struct Packed<'c> {
    pub(crate) conn: &'c Connection,
    pub(crate) path: &'c Path,
    pub(crate) cache: &'c Mutex<RunCache>,
}

fn corrupt(path: &Path, what: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        what: what.into(),
        reason: reason.into(),
    }
}

impl Packed<'_> {
    fn db(&self, action: impl Into<String>) -> impl Fn(rusqlite::Error) -> Error + '_ {
        let action = action.into();
        move |e| database(self.path, action.clone(), e)
    }

    fn meta_where(&self, column: &str, value: i64) -> Result<Option<Arc<RunMeta>>> {
        let row: Option<(i64, String, i64, String)> = self
            .conn
            .prepare_cached(&format!(
                "SELECT run, run_id, ids, header FROM runs WHERE {column} = ?1"
            ))
            .and_then(|mut s| {
                s.query_row([value], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
            })
            .map_err(self.db("reading a run"))?;
        let Some((run, run_id, ids, header)) = row else {
            return Ok(None);
        };
        let what = || format!("run {run_id}");
        let header: Header =
            serde_json::from_str(&header).map_err(|e| corrupt(self.path, what(), e.to_string()))?;
        let sources = header
            .scorers
            .iter()
            .map(|s| s.source())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| corrupt(self.path, what(), e))?;
        let meta = Arc::new(RunMeta {
            run,
            run_id,
            ids: ids as u64,
            header,
            sources,
        });
        self.cache().metas.insert(meta.ids, Arc::clone(&meta));
        Ok(Some(meta))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, RunCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The run whose ids are `ids`.
    pub(crate) fn run_by_ids(&self, ids: u64) -> Result<Option<Arc<RunMeta>>> {
        if let Some(meta) = self.cache().metas.get(&ids) {
            return Ok(Some(Arc::clone(meta)));
        }
        self.meta_where("ids", ids as i64)
    }

    /// The run numbered `run` in this store.
    pub(crate) fn run_by_number(&self, run: i64) -> Result<Option<Arc<RunMeta>>> {
        if let Some(meta) = self.cache().metas.values().find(|m| m.run == run) {
            return Ok(Some(Arc::clone(meta)));
        }
        self.meta_where("run", run)
    }

    /// Every run, oldest first.
    pub(crate) fn all_runs(&self) -> Result<Vec<Arc<RunMeta>>> {
        let numbers: Vec<i64> = {
            let mut s = self
                .conn
                .prepare_cached("SELECT run FROM runs ORDER BY run")
                .map_err(self.db("listing the runs"))?;
            s.query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(self.db("listing the runs"))?
        };
        let mut metas = Vec::with_capacity(numbers.len());
        for run in numbers {
            if let Some(meta) = self.run_by_number(run)? {
                metas.push(meta);
            }
        }
        Ok(metas)
    }

    fn open_row(
        &self,
        meta: &RunMeta,
        row: (i64, i64, i64, i64, Vec<u8>),
    ) -> Result<Arc<OpenBlock>> {
        let (block, count, time_ns, seq_mark, data) = row;
        let first = (block & ((1 << 40) - 1)) as u64;
        let bytes = pack::open(&data).map_err(|reason| {
            corrupt(
                self.path,
                format!("the block of run {} from record {first}", meta.run_id),
                reason,
            )
        })?;
        Ok(Arc::new(OpenBlock {
            key: (meta.ids, block),
            first,
            count: u64::try_from(count).unwrap_or(0),
            time_ns,
            seq_mark,
            bytes,
            offsets: std::sync::OnceLock::new(),
        }))
    }

    /// The block holding record `ordinal` of the run.
    fn block_of(&self, meta: &RunMeta, ordinal: u64) -> Result<Option<Arc<OpenBlock>>> {
        if ordinal >= pack::MAX_RECORDS {
            return Ok(None);
        }
        if let Some(block) = &self.cache().block
            && block.key.0 == meta.ids
            && (block.first..block.first + block.count).contains(&ordinal)
        {
            return Ok(Some(Arc::clone(block)));
        }
        let base = meta.run << 40;
        let row = self
            .conn
            .prepare_cached(
                "SELECT block, count, time_ns, seq_mark, data FROM run_blocks
                 WHERE block BETWEEN ?1 AND ?2 ORDER BY block DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![base, base | ordinal as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()
            })
            .map_err(self.db(format!("reading run {}", meta.run_id)))?;
        let Some(row) = row else { return Ok(None) };
        let block = self.open_row(meta, row)?;
        if ordinal >= block.first + block.count {
            return Ok(None);
        }
        self.cache().block = Some(Arc::clone(&block));
        Ok(Some(block))
    }

    /// Every block of a run, in order, each handed to `f`.
    pub(crate) fn each_block(
        &self,
        meta: &RunMeta,
        mut f: impl FnMut(&OpenBlock) -> Result<()>,
    ) -> Result<()> {
        let base = meta.run << 40;
        let mut s = self
            .conn
            .prepare_cached(
                "SELECT block, count, time_ns, seq_mark, data FROM run_blocks
                 WHERE block BETWEEN ?1 AND ?2 ORDER BY block",
            )
            .map_err(self.db(format!("reading run {}", meta.run_id)))?;
        let rows = s
            .query_map(params![base, base | ((1 << 40) - 1)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(self.db(format!("reading run {}", meta.run_id)))?;
        for row in rows {
            let row = row.map_err(self.db(format!("reading run {}", meta.run_id)))?;
            f(&*self.open_row(meta, row)?)?;
        }
        Ok(())
    }

    /// The records of a block, decoded, each with its ordinal.
    pub(crate) fn records<'b>(
        &self,
        meta: &RunMeta,
        block: &'b OpenBlock,
    ) -> Result<Vec<(u64, RecordView<'b>)>> {
        let records: Vec<(u64, RecordView<'b>)> =
            Records::new(&block.bytes, meta.header.scorers.len())
                .enumerate()
                .map(|(i, record)| {
                    let ordinal = block.first + i as u64;
                    record
                        .map(|r| (ordinal, r))
                        .map_err(|reason| self.damaged_record(meta, ordinal, reason))
                })
                .collect::<Result<_>>()?;
        if records.len() as u64 != block.count {
            return Err(self.damaged_record(
                meta,
                block.first + records.len() as u64,
                format!(
                    "its block from record {} holds {} records, not the {} it says",
                    block.first,
                    records.len(),
                    block.count
                ),
            ));
        }
        Ok(records)
    }

    fn damaged_record(&self, meta: &RunMeta, ordinal: u64, reason: String) -> Error {
        corrupt(
            self.path,
            format!("record {ordinal} of run {}", meta.run_id),
            reason,
        )
    }

    /// Record `ordinal` of a run, from its block.
    fn with_record<T>(
        &self,
        meta: &RunMeta,
        ordinal: u64,
        f: impl FnOnce(&OpenBlock, RecordView<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let Some(block) = self.block_of(meta, ordinal)? else {
            return Ok(None);
        };
        let scorers = meta.header.scorers.len();
        let offsets = block
            .offsets(scorers)
            .map_err(|reason| self.damaged_record(meta, ordinal, reason))?;
        let Some(&at) = offsets.get((ordinal - block.first) as usize) else {
            return Err(self.damaged_record(
                meta,
                ordinal,
                format!(
                    "its block from record {} holds fewer records than it says",
                    block.first
                ),
            ));
        };
        match Records::at(&block.bytes, at, scorers).next() {
            Some(Ok(view)) => f(&block, view).map(Some),
            Some(Err(reason)) => Err(self.damaged_record(meta, ordinal, reason)),
            None => Ok(None),
        }
    }

    /// The packed records that stand for `trace`: a trace of a run's own,
    /// or records that name it.
    pub(crate) fn records_of_trace(&self, trace: TraceId) -> Result<Vec<(Arc<RunMeta>, u64)>> {
        let mut found = Vec::new();
        let (ids, ordinal) = ordinal_of_trace(trace);
        if ids != 0
            && let Some(meta) = self.run_by_ids(ids)?
        {
            found.push((meta, ordinal));
        }
        let named: Vec<(i64, i64)> = {
            let mut s = self
                .conn
                .prepare_cached("SELECT run, ordinal FROM run_traces WHERE trace_id = ?1")
                .map_err(self.db("reading the runs of a trace"))?;
            s.query_map([trace.to_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(self.db("reading the runs of a trace"))?
        };
        for (run, ordinal) in named {
            if let Some(meta) = self.run_by_number(run)? {
                found.push((meta, ordinal as u64));
            }
        }
        Ok(found)
    }

    /// The edits of a record's assessments (`Some(ordinal)`) or of a whole
    /// run's (`None`).
    pub(crate) fn edits(&self, meta: &RunMeta, ordinal: Option<u64>) -> Result<Edits> {
        let (low, high) = match ordinal {
            Some(o) => (
                assessment_id(meta.ids, o, 0).to_u128(),
                assessment_id(meta.ids, o, pack::MAX_ASSESSMENTS_PER_RECORD).to_u128(),
            ),
            None => (
                assessment_id(meta.ids, 0, 0).to_u128(),
                assessment_id(
                    meta.ids,
                    pack::MAX_RECORDS - 1,
                    pack::MAX_ASSESSMENTS_PER_RECORD,
                )
                .to_u128(),
            ),
        };
        let mut s = self
            .conn
            .prepare_cached(
                "SELECT assessment_id, deleted, name, valid, last_update_time_ns, body
                 FROM run_edits WHERE assessment_id BETWEEN ?1 AND ?2",
            )
            .map_err(self.db("reading edited assessments"))?;
        let rows = s
            .query_map(params![low.to_be_bytes(), high.to_be_bytes()], |r| {
                Ok((
                    r.get::<_, [u8; 16]>(0)?,
                    Edit {
                        deleted: r.get(1)?,
                        name: r.get(2)?,
                        valid: r.get(3)?,
                        update_ns: r.get(4)?,
                        body: r.get(5)?,
                    },
                ))
            })
            .map_err(self.db("reading edited assessments"))?;
        let mut edits = Edits::new();
        for row in rows {
            let (id, edit) = row.map_err(self.db("reading edited assessments"))?;
            if let Ok(id) = AssessmentId::from_u128(u128::from_be_bytes(id)) {
                edits.insert(id, edit);
            }
        }
        Ok(edits)
    }

    /// The assessments of record `ordinal` of a run, each with its place
    /// in the order logged, edits applied (deleted ones left out).
    pub(crate) fn assessments_of(
        &self,
        meta: &RunMeta,
        ordinal: u64,
    ) -> Result<Vec<(Order, Assessment)>> {
        let edits = self.edits(meta, Some(ordinal))?;
        Ok(self
            .with_record(meta, ordinal, |block, view| {
                assessments(self.path, meta, block, ordinal, &view, &edits)
            })?
            .unwrap_or_default())
    }

    /// The spans a run stored for record `ordinal`: the root span it made,
    /// if it made one, and the record's own spans.
    pub(crate) fn spans_of_record(
        &self,
        meta: &RunMeta,
        ordinal: u64,
    ) -> Result<(Option<StoredSpan>, Vec<StoredSpan>)> {
        Ok(self
            .with_record(meta, ordinal, |block, view| {
                let own = own_spans(meta, block, ordinal, &view)
                    .map_err(|reason| self.damaged_record(meta, ordinal, reason))?;
                Ok((root_span(meta, block, ordinal, &view), own))
            })?
            .unwrap_or_default())
    }

    /// The stand-in of the trace record `ordinal` of a run names, if it
    /// names one (see [`stand_in`]).
    pub(crate) fn stand_in_of(&self, meta: &RunMeta, ordinal: u64) -> Result<Option<StoredSpan>> {
        Ok(self
            .with_record(meta, ordinal, |block, view| {
                Ok(stand_in(meta, block, &view))
            })?
            .flatten())
    }

    /// The packed assessment with this id, edits applied; `None` when no
    /// run has it (or it was deleted).
    pub(crate) fn get(&self, id: AssessmentId) -> Result<Option<Assessment>> {
        let (ids, ordinal, k) = parts_of_assessment(id);
        if k == 0 {
            return Ok(None);
        }
        let Some(meta) = self.run_by_ids(ids)? else {
            return Ok(None);
        };
        Ok(self
            .assessments_of(&meta, ordinal)?
            .into_iter()
            .map(|(_, a)| a)
            .find(|a| a.id() == id))
    }

    /// Whether `id` is a packed assessment as it was written (deleted or
    /// not): the run and record exist and have an assessment `k`.
    pub(crate) fn holds(&self, id: AssessmentId) -> Result<bool> {
        let (ids, ordinal, k) = parts_of_assessment(id);
        if k == 0 {
            return Ok(false);
        }
        let Some(meta) = self.run_by_ids(ids)? else {
            return Ok(false);
        };
        Ok(self
            .with_record(&meta, ordinal, |_, view| {
                Ok(has_assessment(&meta, &view, k))
            })?
            .unwrap_or(false))
    }

    /// Keeps a changed packed assessment: it is read as it is now. Its id
    /// is the run's, so it must stay on the run's trace and span.
    pub(crate) fn put_edit(&self, a: &Assessment) -> Result<()> {
        let (ids, ordinal, _) = parts_of_assessment(a.id());
        let target = match self.run_by_ids(ids)? {
            Some(meta) => self.with_record(&meta, ordinal, |_, view| {
                let (trace, span) = record_target(&meta, ordinal, &view);
                Ok((trace, span))
            })?,
            None => None,
        };
        if let Some((trace, span)) = target
            && (a.trace_id() != trace || (a.span_id().is_some() && a.span_id() != span))
        {
            return Err(Error::Assessment(verdict::Error::DuplicateId {
                id: a.id().to_string(),
            }));
        }
        self.conn
            .prepare_cached(
                "INSERT INTO run_edits (assessment_id, deleted, name, valid, last_update_time_ns,
                     body)
                 VALUES (?1, 0, ?2, ?3, ?4, ?5)
                 ON CONFLICT (assessment_id) DO UPDATE SET deleted = 0, name = excluded.name,
                     valid = excluded.valid, last_update_time_ns = excluded.last_update_time_ns,
                     body = excluded.body",
            )
            .and_then(|mut s| {
                s.execute(params![
                    a.id().to_u128().to_be_bytes(),
                    a.name().as_str(),
                    a.is_valid(),
                    crate::store::to_nanos(a.last_update_time()),
                    verdict::wire::body_json(a),
                ])
            })
            .map(drop)
            .map_err(self.db(format!("storing assessment {}", a.id())))
    }

    /// Marks a packed assessment deleted.
    pub(crate) fn delete(&self, id: AssessmentId) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO run_edits (assessment_id, deleted) VALUES (?1, 1)
                 ON CONFLICT (assessment_id) DO UPDATE SET deleted = 1, name = NULL,
                     valid = NULL, last_update_time_ns = NULL, body = NULL",
            )
            .and_then(|mut s| s.execute([id.to_u128().to_be_bytes()]))
            .map(drop)
            .map_err(self.db(format!("deleting assessment {id}")))
    }
}

impl Packed<'_> {
    /// Every packed assessment of every run, edits applied, in the order
    /// logged within each run.
    pub(crate) fn each_assessment(
        &self,
        mut f: impl FnMut(Order, Assessment) -> Result<()>,
    ) -> Result<()> {
        for meta in self.all_runs()? {
            let edits = self.edits(&meta, None)?;
            self.each_block(&meta, |block| {
                for (ordinal, view) in self.records(&meta, block)? {
                    for (order, a) in assessments(self.path, &meta, block, ordinal, &view, &edits)?
                    {
                        f(order, a)?;
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Adds the traces of packed records to `traces` (each with the time
    /// it sorts by): a run's own traces, with their root span, and the
    /// assessments of records that name a trace.
    pub(crate) fn merge_traces(&self, traces: &mut Vec<(i64, TraceSummary)>) -> Result<()> {
        let mut at: HashMap<TraceId, usize> = traces
            .iter()
            .enumerate()
            .map(|(i, (_, t))| (t.trace_id, i))
            .collect();
        for meta in self.all_runs()? {
            let edits = self.edits(&meta, None)?;
            self.each_block(&meta, |block| {
                for (ordinal, view) in self.records(&meta, block)? {
                    let (trace, _) = record_target(&meta, ordinal, &view);
                    let assessments =
                        assessments(self.path, &meta, block, ordinal, &view, &edits)?.len();
                    let root = root_span(&meta, block, ordinal, &view);
                    let own = own_spans(&meta, block, ordinal, &view)
                        .map_err(|reason| self.damaged_record(&meta, ordinal, reason))?;
                    let i = *at.entry(trace).or_insert_with(|| {
                        traces.push((
                            block.time_ns,
                            TraceSummary {
                                trace_id: trace,
                                span_count: 0,
                                assessment_count: 0,
                                start_time: None,
                                end_time: None,
                            },
                        ));
                        traces.len() - 1
                    });
                    let (sort, summary) = &mut traces[i];
                    summary.assessment_count += assessments;
                    for span in root.iter().chain(&own) {
                        summary.span_count += 1;
                        summary.start_time = Some(
                            summary
                                .start_time
                                .map_or(span.start_time, |t| t.min(span.start_time)),
                        );
                        summary.end_time = Some(
                            summary
                                .end_time
                                .map_or(span.end_time, |t| t.max(span.end_time)),
                        );
                        *sort =
                            crate::store::to_nanos(summary.start_time.unwrap_or(span.start_time));
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}

/// A record as the run stored it.
pub(crate) fn stored_record(meta: &RunMeta, ordinal: u64, view: RecordView<'_>) -> StoredRecord {
    let (trace_id, span_id) = record_target(meta, ordinal, &view);
    StoredRecord {
        ordinal,
        line: view.line,
        trace_id,
        span_id,
        named: view.target != RecordTarget::Own,
        inputs: view.inputs.into(),
        outputs: view.outputs.into(),
        error: view.error.map(str::to_owned),
        expectations: view
            .expectations
            .iter()
            .map(|(name, value, _)| ((*name).to_owned(), (*value).into()))
            .collect(),
        results: view
            .results
            .iter()
            .zip(&meta.header.scorers)
            .map(|(r, scorer)| StoredResult {
                scorer: scorer.name.clone(),
                value: match r.result {
                    PackedResult::Bool(b) => StoredValue::Bool(b),
                    PackedResult::Number(n) => StoredValue::Number(n),
                    PackedResult::Label(l) => StoredValue::Label(l.to_owned()),
                    PackedResult::Error { code, message } => StoredValue::Error {
                        code: code.to_owned(),
                        message: message.map(str::to_owned),
                    },
                },
                verdict: r.verdict,
                judged: r.judged,
                rationale: r.rationale.map(str::to_owned),
            })
            .collect(),
    }
}

/// The trace a record's assessments go to, and the span its feedback
/// judges.
pub(crate) fn record_target(
    meta: &RunMeta,
    ordinal: u64,
    view: &RecordView<'_>,
) -> (TraceId, Option<SpanId>) {
    match view.target {
        RecordTarget::Named(trace, span) => (trace, span),
        RecordTarget::Own => {
            let trace = trace_id(meta.ids, ordinal);
            (trace, Some(root_span_id(trace)))
        }
    }
}

/// Whether a record has assessment `k` as written: a logged expectation
/// or a scorer's feedback.
fn has_assessment(meta: &RunMeta, view: &RecordView<'_>, k: usize) -> bool {
    let n = view.expectations.len();
    match k.checked_sub(1) {
        Some(j) if j < n => view.expectations[j].2,
        Some(j) => j - n < meta.header.scorers.len(),
        None => false,
    }
}

/// A packed value as JSON: text as a string, JSON text parsed.
pub(crate) fn json_of(value: PackedValue<'_>) -> Value {
    match value {
        PackedValue::Null => Value::Null,
        PackedValue::Text(text) => Value::String(text.to_owned()),
        PackedValue::Json(text) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
    }
}

/// The assessments a record stands for, edits applied.
pub(crate) fn assessments(
    path: &Path,
    meta: &RunMeta,
    block: &OpenBlock,
    ordinal: u64,
    view: &RecordView<'_>,
    edits: &Edits,
) -> Result<Vec<(Order, Assessment)>> {
    let (trace, span) = record_target(meta, ordinal, view);
    let time = from_nanos(block.time_ns);
    let damaged = |e: verdict::Error| {
        corrupt(
            path,
            format!("record {ordinal} of run {}", meta.run_id),
            e.to_string(),
        )
    };
    let trace_target = Target::trace(trace).map_err(damaged)?;
    let feedback_target = match span {
        Some(span) => Target::span(trace, span).map_err(damaged)?,
        None => trace_target,
    };
    // On a trace the run made, expectations are on its root span too.
    let truth_target = match view.target {
        RecordTarget::Own => feedback_target,
        RecordTarget::Named(..) => trace_target,
    };
    let n = view.expectations.len();
    let mut out = Vec::with_capacity(n + view.results.len());
    let order = |k| (block.seq_mark, 1, meta.run, ordinal, k);
    for (j, (name, value, logged)) in view.expectations.iter().enumerate() {
        if !logged {
            continue;
        }
        let k = j + 1;
        let id = assessment_id(meta.ids, ordinal, k);
        let built = Assessment::expectation(name.to_string(), json_of(*value))
            .run_id(meta.run_id.clone())
            .id(id)
            .created_at(time)
            .on(truth_target)
            .map_err(damaged)?;
        if let Some(a) = edited(path, built, edits)? {
            out.push((order(k), a));
        }
    }
    for (s, result) in view.results.iter().enumerate() {
        let k = n + 1 + s;
        let scorer = &meta.header.scorers[s];
        let builder = match result.result {
            PackedResult::Bool(b) => Assessment::feedback(scorer.name.clone(), b),
            PackedResult::Number(x) => Assessment::feedback(scorer.name.clone(), x),
            PackedResult::Label(label) => {
                Assessment::feedback(scorer.name.clone(), label.to_owned())
            }
            PackedResult::Error { code, message } => {
                let error = AssessmentError::new(code.to_owned());
                let error = match message {
                    Some(message) => error.with_message(message.to_owned()),
                    None => error,
                };
                Assessment::feedback_error(scorer.name.clone(), error)
            }
        };
        let builder = match result.rationale {
            Some(rationale) => builder.rationale(rationale.to_owned()),
            None => builder,
        };
        let built = builder
            .source(meta.sources[s].clone())
            .metadata_entries(scorer.metadata.iter().map(|(k, v)| (k.clone(), v.clone())))
            .run_id(meta.run_id.clone())
            .id(assessment_id(meta.ids, ordinal, k))
            .created_at(time)
            .on(feedback_target)
            .map_err(damaged)?;
        if let Some(a) = edited(path, built, edits)? {
            out.push((order(k), a));
        }
    }
    Ok(out)
}

/// An assessment as it is now: as written, changed, or deleted (`None`).
fn edited(path: &Path, written: Assessment, edits: &Edits) -> Result<Option<Assessment>> {
    let Some(edit) = edits.get(&written.id()) else {
        return Ok(Some(written));
    };
    if edit.deleted {
        return Ok(None);
    }
    let damaged = |reason: String| {
        corrupt(
            path,
            format!("the edit of assessment {}", written.id()),
            reason,
        )
    };
    let (Some(name), Some(valid), Some(update_ns), Some(body)) =
        (&edit.name, edit.valid, edit.update_ns, &edit.body)
    else {
        return Err(damaged("it lacks a column".into()));
    };
    from_columns(
        Columns {
            id: written.id(),
            name,
            target: written.target(),
            create_time: written.create_time(),
            last_update_time: from_nanos(update_ns),
            overrides: None,
            valid,
        },
        body,
    )
    .map(Some)
    .map_err(|e| damaged(e.to_string()))
}

/// The root span a run made for a record, if it made one.
pub(crate) fn root_span(
    meta: &RunMeta,
    block: &OpenBlock,
    ordinal: u64,
    view: &RecordView<'_>,
) -> Option<StoredSpan> {
    if view.target != RecordTarget::Own {
        return None;
    }
    Some(record_span(meta, block, trace_id(meta.ids, ordinal), view))
}

/// The spans of a record's own trace that the run stored beside its root
/// span (the spans the system under test made), in the order written.
pub(crate) fn own_spans(
    meta: &RunMeta,
    block: &OpenBlock,
    ordinal: u64,
    view: &RecordView<'_>,
) -> std::result::Result<Vec<StoredSpan>, pack::Damage> {
    let (trace, _) = record_target(meta, ordinal, view);
    view.spans
        .iter()
        .map(|span| span.to_span(trace, block.time_ns))
        .collect()
}

/// The span that stands in for the trace a record names, for a
/// destination that does not have it; `None` for a record of the run's
/// own trace.
pub(crate) fn stand_in(
    meta: &RunMeta,
    block: &OpenBlock,
    view: &RecordView<'_>,
) -> Option<StoredSpan> {
    match view.target {
        RecordTarget::Named(trace, _) => Some(record_span(meta, block, trace, view)),
        RecordTarget::Own => None,
    }
}

fn record_span(
    meta: &RunMeta,
    block: &OpenBlock,
    trace: TraceId,
    view: &RecordView<'_>,
) -> StoredSpan {
    let start = from_nanos(block.time_ns.saturating_add(view.span.0));
    {
        RecordSpan {
            run_id: &meta.run_id,
            scope: (
                &meta.header.scope_name,
                meta.header.scope_version.as_deref(),
            ),
            trace_id: trace,
            line: view.line,
            inputs: view.inputs,
            outputs: view.outputs,
            error: view.error,
            start,
            end: start + Duration::from_nanos(view.span.1),
        }
        .to_span()
    }
}
