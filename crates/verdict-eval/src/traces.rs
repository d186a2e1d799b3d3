//! Traces that already exist as the records of a run: the local store's,
//! or an MLflow experiment's. Each trace is one record: inputs and outputs
//! from its root span ([`root_span`](crate::root_span)), expectations
//! from the valid expectations already on the trace, its spans carried
//! along for the scorers that read the trace.
//!
//! The decision: **an MLflow experiment's traces are read into the local
//! store first** (spans and assessments, with their own ids), and then
//! scored as the store's own are. The run then finds each trace's
//! expectations where it finds any trace's, logs none of them again, and
//! `verdict show` opens the trace. The alternative, scoring MLflow's
//! traces without keeping them, would leave a run whose records name
//! traces the store cannot show.
//!
//! A trace is skipped when every scorer of the run has already judged it
//! at the version it has now (a valid feedback of the scorer's name, from
//! code, with that version in its metadata), unless the run rescores.

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use opentelemetry::trace::TraceId;
use verdict::{Assessment, Kind, SourceType};
use verdict_export::LocalStore;
use verdict_export::mlflow::{MlflowTrace, TraceQuery};
use verdict_scorer::{SCORER_VERSION_KEY, ScorerInfo};
use verdict_store::{OpKind, OpScope, Settlement, StoredSpan};

use crate::dataset::{DatasetRecord, Entry, InvalidRecord};
use crate::error::{Error, Result};

/// Which existing traces to score.
#[derive(Clone, Debug, Default)]
pub struct TraceSelection {
    /// MLflow's filter (`trace.name = 'answer'`); MLflow only.
    pub filter: Option<String>,
    /// Only traces that started at this time or later.
    pub since: Option<SystemTime>,
    /// Only traces that started before this time.
    pub until: Option<SystemTime>,
    /// At most this many traces, the newest first.
    pub limit: Option<usize>,
    /// Score traces the scorers have judged already, at their versions.
    pub rescore: bool,
}

/// A trace to score: its spans and the assessments it holds.
#[derive(Debug)]
pub struct ExistingTrace {
    /// Its id.
    pub trace_id: TraceId,
    /// Its spans.
    pub spans: Vec<StoredSpan>,
    /// Its assessments, valid or not.
    pub assessments: Vec<Assessment>,
}

/// The records of a selection of traces, and how many traces were skipped
/// as judged already.
#[derive(Debug, Default)]
pub struct TraceRecords {
    /// One entry per trace not skipped, the oldest first; a trace that
    /// cannot be a record (no root span, a root without inputs) is an
    /// invalid entry saying why.
    pub entries: Vec<Entry>,
    /// Traces every scorer has judged at its current version.
    pub skipped: usize,
}

/// The store's traces outside evaluation runs that `selection` picks, the
/// newest first. A filter is MLflow's language, which the store does not
/// speak: it is refused.
pub fn store_traces(store: &LocalStore, selection: &TraceSelection) -> Result<Vec<ExistingTrace>> {
    if selection.filter.is_some() {
        return Err(Error::Usage(
            "--filter is MLflow's search language, for --traces mlflow; the store's traces are \
             chosen by --since, --until and --limit"
                .into(),
        ));
    }
    let mut picked = Vec::new();
    for trace in store.list_traces_outside_runs()?.into_iter().rev() {
        if selection.limit.is_some_and(|limit| picked.len() >= limit) {
            break;
        }
        let Some(start) = trace.start_time else {
            // Assessments without spans: nothing to read a record from.
            continue;
        };
        if selection.since.is_some_and(|since| start < since)
            || selection.until.is_some_and(|until| start >= until)
        {
            continue;
        }
        picked.push(ExistingTrace {
            trace_id: trace.trace_id,
            spans: store.spans_of(trace.trace_id)?,
            assessments: store.list_by_trace(trace.trace_id)?,
        });
    }
    Ok(picked)
}

/// The MLflow experiment's traces that `selection` picks, read into
/// `store` (spans, and assessments with their own ids) and returned, the
/// newest first.
pub fn mlflow_traces(
    sink: &verdict_export::MlflowSink,
    store: &LocalStore,
    selection: &TraceSelection,
) -> Result<Vec<ExistingTrace>> {
    let mut query = TraceQuery::new();
    if let Some(filter) = &selection.filter {
        query = query.filter(filter.clone());
    }
    if let Some(since) = selection.since {
        query = query.since(since);
    }
    if let Some(until) = selection.until {
        query = query.until(until);
    }
    if let Some(limit) = selection.limit {
        query = query.limit(limit);
    }
    let read = sink
        .read_traces(&query)
        .map_err(|e| Error::Usage(format!("--traces mlflow: {e}")))?;
    let traces = read
        .into_iter()
        .map(|trace| keep(store, trace))
        .collect::<Result<Vec<_>>>()?;
    settle_with_source(store, &sink.key(), &traces)?;
    Ok(traces)
}

/// Records that the experiment the traces were read from has what was
/// read: their spans and assessments are MLflow's already, and `verdict
/// push` to it must not send them back (other destinations still get
/// them).
fn settle_with_source(store: &LocalStore, key: &str, traces: &[ExistingTrace]) -> Result<()> {
    let read: HashSet<TraceId> = traces.iter().map(|t| t.trace_id).collect();
    let assessments: HashSet<_> = traces
        .iter()
        .flat_map(|t| t.assessments.iter().map(|a| a.id()))
        .collect();
    let unseen = store.unseen(Some(key), OpScope::All)?;
    let delivered: Vec<i64> = unseen
        .ops
        .iter()
        .filter(|op| match op.kind {
            OpKind::Spans => op.trace_id.is_some_and(|t| read.contains(&t)),
            OpKind::Log => op.assessment_id.is_some_and(|a| assessments.contains(&a)),
            _ => false,
        })
        .map(|op| op.seq)
        .collect();
    if !delivered.is_empty() {
        store.settle(
            key,
            &Settlement {
                delivered,
                ..Settlement::default()
            },
        )?;
    }
    Ok(())
}

/// Writes a trace read from MLflow into the store, as it is there.
fn keep(store: &LocalStore, trace: MlflowTrace) -> Result<ExistingTrace> {
    store.put_spans(&trace.spans)?;
    let held: HashSet<_> = store
        .list_by_trace(trace.trace_id)?
        .iter()
        .map(|a| a.id())
        .collect();
    for assessment in &trace.assessments {
        if !held.contains(&assessment.id()) {
            store.log(assessment)?;
        }
    }
    Ok(ExistingTrace {
        trace_id: trace.trace_id,
        spans: trace.spans.iter().map(StoredSpan::from).collect(),
        assessments: trace.assessments,
    })
}

/// The records of `traces` for a run of `scorers`, the oldest first.
pub fn trace_records(
    traces: Vec<ExistingTrace>,
    scorers: &[ScorerInfo],
    rescore: bool,
) -> TraceRecords {
    let mut out = TraceRecords::default();
    for (line, trace) in traces.into_iter().rev().enumerate() {
        if !rescore && judged_by_all(&trace.assessments, scorers) {
            out.skipped += 1;
            continue;
        }
        out.entries.push(record(line + 1, trace));
    }
    out
}

/// Whether every scorer has a valid feedback on the trace at its version.
fn judged_by_all(assessments: &[Assessment], scorers: &[ScorerInfo]) -> bool {
    let judged: BTreeMap<&str, HashSet<&str>> = assessments
        .iter()
        .filter(|a| a.kind() == Kind::Feedback && a.is_valid())
        .filter(|a| a.source().source_type() == SourceType::Code)
        .fold(BTreeMap::new(), |mut judged, a| {
            if let Some(version) = a.metadata().get(SCORER_VERSION_KEY) {
                judged
                    .entry(a.name().as_str())
                    .or_default()
                    .insert(version.as_str());
            }
            judged
        });
    !scorers.is_empty()
        && scorers.iter().all(|s| {
            judged
                .get(s.name.as_str())
                .is_some_and(|versions| versions.contains(s.version.as_str()))
        })
}

/// A trace as a record read from its root ([`root_of`](crate::root_span::root_of)),
/// or why it cannot be one. Its expectations are left for the run to take
/// from the store, where the trace's are.
fn record(line: usize, trace: ExistingTrace) -> Entry {
    let trace_id = trace.trace_id;
    let invalid = |reason: String| {
        Entry::Invalid(InvalidRecord {
            line,
            reason: format!("trace {}: {reason}", verdict::mlflow_trace_id(trace_id)),
        })
    };
    let read = crate::root_span::root_of(&trace.spans).and_then(|root| {
        crate::root_span::record(&root.name, &root.attributes).map(|record| (record, root.span_id))
    });
    match read {
        Ok((record, root)) => Entry::Record(DatasetRecord {
            line,
            trace_id: Some(trace_id),
            span_id: Some(root),
            record,
            spans: trace.spans,
        }),
        Err(reason) => invalid(reason),
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use opentelemetry::trace::{SpanId, SpanKind, Status};
    use serde_json::{Map, json};
    use verdict::{AssessmentSource, Target};
    use verdict_scorer::Origin;

    use super::*;

    const TRACE: TraceId = TraceId::from_bytes([7; 16]);

    fn span(id: u8, parent: Option<u8>, attributes: Map<String, serde_json::Value>) -> StoredSpan {
        let data = opentelemetry_sdk::trace::SpanData {
            span_context: opentelemetry::trace::SpanContext::new(
                TRACE,
                SpanId::from_bytes([id; 8]),
                opentelemetry::trace::TraceFlags::SAMPLED,
                false,
                Default::default(),
            ),
            parent_span_id: parent.map_or(SpanId::INVALID, |p| SpanId::from_bytes([p; 8])),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: format!("span {id}").into(),
            start_time: UNIX_EPOCH,
            end_time: UNIX_EPOCH,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: Default::default(),
        };
        let mut span = StoredSpan::from(&data);
        span.attributes = attributes;
        span
    }

    fn io() -> Map<String, serde_json::Value> {
        let mut attributes = Map::new();
        attributes.insert("input.value".into(), json!("2+2?"));
        attributes.insert("output.value".into(), json!("4"));
        attributes
    }

    fn scorer(name: &str, version: &str) -> ScorerInfo {
        ScorerInfo {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            config_keys: Vec::new(),
            origin: Origin::Builtin,
            needs_trace: false,
        }
    }

    fn judged(name: &str, version: &str, source: AssessmentSource) -> Assessment {
        Assessment::feedback(name.to_owned(), true)
            .source(source)
            .metadata(SCORER_VERSION_KEY, version)
            .on(Target::trace(TRACE).unwrap())
            .unwrap()
    }

    fn trace(spans: Vec<StoredSpan>, assessments: Vec<Assessment>) -> ExistingTrace {
        ExistingTrace {
            trace_id: TRACE,
            spans,
            assessments,
        }
    }

    #[test]
    fn a_trace_is_a_record_of_its_one_root_on_that_root() {
        let records = trace_records(
            vec![trace(
                vec![span(2, Some(1), Map::new()), span(1, None, io())],
                vec![],
            )],
            &[scorer("exact_match", "1")],
            false,
        );
        let [Entry::Record(record)] = records.entries.as_slice() else {
            panic!("{records:?}")
        };
        assert_eq!(record.span_id, Some(SpanId::from_bytes([1; 8])));
        assert_eq!(record.spans.len(), 2);
    }

    #[test]
    fn a_trace_without_a_root_is_an_invalid_record_naming_it() {
        for (spans, says) in [
            (vec![], "no spans"),
            (
                vec![span(1, Some(2), io()), span(2, Some(1), io())],
                "no root span",
            ),
            (vec![span(1, None, Map::new())], "has no inputs"),
        ] {
            let records = trace_records(vec![trace(spans, vec![])], &[], false);
            let [Entry::Invalid(invalid)] = records.entries.as_slice() else {
                panic!("{records:?}")
            };
            assert!(invalid.reason.contains(says), "{}", invalid.reason);
            assert!(invalid.reason.contains("tr-0707"), "{}", invalid.reason);
        }
        // A service whose caller is traced elsewhere: its local root.
        let records = trace_records(
            vec![trace(vec![span(2, Some(9), io())], vec![])],
            &[],
            false,
        );
        assert!(matches!(
            records.entries.as_slice(),
            [Entry::Record(r)] if r.span_id == Some(SpanId::from_bytes([2; 8]))
        ));
    }

    #[test]
    fn only_a_trace_every_scorer_judged_at_its_version_is_skipped() {
        let code = || AssessmentSource::code_named("exact_match");
        let scorers = [scorer("exact_match", "1"), scorer("token_f1", "2")];
        let cases = [
            (vec![judged("exact_match", "1", code())], false),
            (
                vec![
                    judged("exact_match", "1", code()),
                    judged("token_f1", "1", code()),
                ],
                false,
            ),
            (
                vec![
                    judged("exact_match", "1", code()),
                    judged("token_f1", "2", AssessmentSource::human("ann")),
                ],
                false,
            ),
            (
                vec![
                    judged("exact_match", "1", code()),
                    judged("token_f1", "2", code()),
                ],
                true,
            ),
        ];
        for (assessments, skipped) in cases {
            let records = trace_records(
                vec![trace(vec![span(1, None, io())], assessments.clone())],
                &scorers,
                false,
            );
            assert_eq!(records.skipped == 1, skipped, "{assessments:?}");
            let rescored = trace_records(
                vec![trace(vec![span(1, None, io())], assessments)],
                &scorers,
                true,
            );
            assert_eq!(rescored.skipped, 0);
        }
    }
}
