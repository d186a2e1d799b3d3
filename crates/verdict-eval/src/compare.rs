//! A run against its baseline, record by record: which records newly fail
//! a scorer, and which newly pass.
//!
//! Records are matched across runs by what they are, not by where they
//! sit in the file: a record that names its trace (and span) is that
//! trace; any other is its inputs (the k-th record with the same inputs
//! matching the baseline's k-th). Both runs' values are judged by this
//! run's criteria, so that a change of threshold does not read as a
//! change of the system. The baseline is read once into an index of a few
//! bytes per record; this run is compared as it streams.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};

use opentelemetry::trace::{SpanId, TraceId};
use serde::{Deserialize, Serialize};
use verdict::mlflow_trace_id;
use verdict_export::runs::OwnVerdict;
use verdict_export::{LocalStore, RecordValue, StoredRecord, StoredValue};
use verdict_scorer::{OwnedRecord, OwnedValue};

use crate::error::Result;
use crate::gates::PassCriterion;
use crate::report::RowResult;
use crate::scored::Said;
use crate::stats::{excerpt, format_number};

/// How many changed records of each direction a summary lists (all are
/// counted).
pub const CHANGES_LISTED: usize = 20;

/// This run against its baseline, record by record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordComparison {
    /// The baseline run.
    pub baseline: String,
    /// Records of this run found in the baseline.
    pub matched: u64,
    /// Records of this run the baseline does not have.
    pub new_records: u64,
    /// (record, scorer) pairs that passed in the baseline and fail now.
    pub newly_failing: u64,
    /// (record, scorer) pairs that failed in the baseline and pass now.
    pub newly_passing: u64,
    /// The first changes of each direction, in the order of this run's
    /// records.
    pub changes: Vec<RecordChange>,
}

impl RecordComparison {
    /// The comparison in one sentence: `against run-…, record by record: 3
    /// newly fail, 1 newly passes (298 records in both runs, 2 new)`.
    pub fn headline(&self) -> String {
        format!(
            "against {}, record by record: {} newly {}, {} newly {} ({} in both runs{})",
            self.baseline,
            self.newly_failing,
            if self.newly_failing == 1 {
                "fails"
            } else {
                "fail"
            },
            self.newly_passing,
            if self.newly_passing == 1 {
                "passes"
            } else {
                "pass"
            },
            crate::report::count(self.matched, "record"),
            if self.new_records > 0 {
                format!(", {} new", self.new_records)
            } else {
                String::new()
            }
        )
    }

    /// The listed changes that fail now, then those that pass now.
    pub fn listed(&self, now_passes: bool) -> impl Iterator<Item = &RecordChange> {
        self.changes
            .iter()
            .filter(move |c| c.now_passes == now_passes)
    }
}

/// One record whose verdict by one scorer changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordChange {
    /// The scorer.
    pub scorer: String,
    /// Whether it passes now (it failed before), or fails now.
    pub now_passes: bool,
    /// Its dataset line in this run.
    pub line: u64,
    /// Its trace in this run, `tr-…`.
    pub trace_id: String,
    /// What the scorer says now.
    pub now: String,
    /// What the system answered now.
    pub output: String,
    /// Its dataset line in the baseline.
    pub baseline_line: u64,
    /// Its trace in the baseline.
    pub baseline_trace_id: String,
    /// What the scorer said then (filled once the run ends).
    pub before: String,
    /// What the system answered then.
    pub baseline_output: String,
    /// The baseline record's ordinal, to fill `before` from.
    #[serde(skip)]
    baseline_ordinal: u64,
}

/// What identifies a record across runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Trace(TraceId, Option<SpanId>),
    /// A hash of its inputs, and which record with those inputs it is.
    Inputs(u64, u32),
}

/// Counts records with the same inputs, in order.
#[derive(Default)]
pub(crate) struct Occurrences(HashMap<u64, u32>);

impl Occurrences {
    pub(crate) fn key(
        &mut self,
        named: Option<(TraceId, Option<SpanId>)>,
        inputs: (u8, &str),
    ) -> Key {
        if let Some((trace, span)) = named {
            return Key::Trace(trace, span);
        }
        let mut hasher = DefaultHasher::new();
        inputs.hash(&mut hasher);
        let hash = hasher.finish();
        let seen = self.0.entry(hash).or_default();
        *seen += 1;
        Key::Inputs(hash, *seen)
    }
}

pub(crate) fn current_inputs(value: &OwnedValue) -> (u8, &str) {
    match value {
        OwnedValue::Null => (0, ""),
        OwnedValue::String(s) => (1, s),
        OwnedValue::Json(s) => (2, s),
    }
}

pub(crate) fn stored_inputs(value: &RecordValue) -> (u8, &str) {
    match value {
        RecordValue::Null => (0, ""),
        RecordValue::Text(s) => (1, s),
        RecordValue::Json(s) => (2, s),
    }
}

/// What a scorer said, in a few words.
pub(crate) fn said_text(said: &Said<'_>) -> String {
    if let Some((code, message)) = said.error {
        return format!("error {code}: {message}");
    }
    match (said.boolean, said.label, said.number) {
        (Some(b), _, _) => b.to_string(),
        (_, Some(label), _) => label.to_owned(),
        (_, _, Some(n)) => format_number(n),
        _ => String::new(),
    }
}

/// A stored result as the criteria read it.
fn stored_said(result: &verdict_export::StoredResult) -> Said<'_> {
    let passed = match result.verdict {
        OwnVerdict::None => None,
        OwnVerdict::Pass => Some(true),
        OwnVerdict::Fail => Some(false),
    };
    let mut said = Said {
        passed,
        rationale: result.rationale.as_deref(),
        ..Said::default()
    };
    match &result.value {
        StoredValue::Bool(b) => {
            said.boolean = Some(*b);
            said.number = Some(f64::from(u8::from(*b)));
        }
        StoredValue::Number(n) => said.number = Some(*n),
        StoredValue::Label(l) => said.label = Some(l),
        StoredValue::Error { code, message } => {
            said.error = Some((code, message.as_deref().unwrap_or("")));
        }
    }
    said
}

/// A baseline record: where its verdicts are, and where it was.
#[derive(Clone, Copy)]
struct Baseline {
    slot: usize,
    ordinal: u64,
    line: u64,
    trace: TraceId,
}

/// Compares a run with its baseline as the run streams.
pub(crate) struct Comparer {
    comparison: RecordComparison,
    /// Baseline records by key.
    index: HashMap<Key, Baseline>,
    /// The baseline's verdicts, `scorers` per ordinal: -1 not judged,
    /// 0 failed, 1 passed, -2 the baseline did not run the scorer.
    verdicts: Vec<i8>,
    occurrences: Occurrences,
    listed: (usize, usize),
}

impl Comparer {
    /// Reads the baseline run's records, judged by this run's `criteria`
    /// for the scorers named `names`.
    pub(crate) fn load(
        store: &LocalStore,
        baseline: &str,
        names: &[String],
        criteria: &[PassCriterion],
    ) -> Result<Self> {
        let mut comparer = Comparer {
            comparison: RecordComparison {
                baseline: baseline.to_owned(),
                ..RecordComparison::default()
            },
            index: HashMap::new(),
            verdicts: Vec::new(),
            occurrences: Occurrences::default(),
            listed: (0, 0),
        };
        let mut occurrences = Occurrences::default();
        store.each_run_record(baseline, |record| {
            let named = record.named.then_some((record.trace_id, record.span_id));
            let key = occurrences.key(named, stored_inputs(&record.inputs));
            let at = comparer.verdicts.len();
            comparer.verdicts.resize(at + names.len(), -2);
            for (s, (name, criterion)) in names.iter().zip(criteria).enumerate() {
                if let Some(result) = record.results.iter().find(|r| &r.scorer == name) {
                    comparer.verdicts[at + s] = match criterion.judge(&stored_said(result)) {
                        None => -1,
                        Some(passed) => i8::from(passed),
                    };
                }
            }
            comparer.index.insert(
                key,
                Baseline {
                    slot: at,
                    ordinal: record.ordinal,
                    line: record.line,
                    trace: record.trace_id,
                },
            );
            Ok(())
        })?;
        Ok(comparer)
    }

    /// Compares one record of this run: its scorers' verdicts and what
    /// they said, in the run's order of scorers.
    pub(crate) fn record(
        &mut self,
        line: u64,
        trace: TraceId,
        named: Option<(TraceId, Option<SpanId>)>,
        record: &OwnedRecord,
        now: &[RowResult<'_>],
    ) {
        let key = self.occurrences.key(named, current_inputs(&record.inputs));
        let Some(&baseline) = self.index.get(&key) else {
            self.comparison.new_records += 1;
            return;
        };
        self.comparison.matched += 1;
        for (s, result) in now.iter().enumerate() {
            let before = self.verdicts[baseline.slot + s];
            let now_passes = match (before, result.passed) {
                (1, Some(false)) => false,
                (0, Some(true)) => true,
                _ => continue,
            };
            let listed = if now_passes {
                self.comparison.newly_passing += 1;
                &mut self.listed.1
            } else {
                self.comparison.newly_failing += 1;
                &mut self.listed.0
            };
            if *listed >= CHANGES_LISTED {
                continue;
            }
            *listed += 1;
            self.comparison.changes.push(RecordChange {
                scorer: result.scorer.to_owned(),
                now_passes,
                line,
                trace_id: mlflow_trace_id(trace),
                now: excerpt(said_text(&result.said)),
                output: excerpt(crate::run::text(&record.outputs).into_owned()),
                baseline_line: baseline.line,
                baseline_trace_id: mlflow_trace_id(baseline.trace),
                before: String::new(),
                baseline_output: String::new(),
                baseline_ordinal: baseline.ordinal,
            });
        }
    }

    /// The comparison, with what the baseline said of the changed records
    /// read back from the store.
    pub(crate) fn finish(mut self, store: &LocalStore) -> Result<RecordComparison> {
        if self.comparison.changes.is_empty() {
            return Ok(self.comparison);
        }
        let wanted: HashMap<u64, Vec<usize>> =
            self.comparison
                .changes
                .iter()
                .enumerate()
                .fold(HashMap::new(), |mut m, (i, c)| {
                    m.entry(c.baseline_ordinal).or_default().push(i);
                    m
                });
        let baseline = self.comparison.baseline.clone();
        let changes = &mut self.comparison.changes;
        store.each_run_record(&baseline, |record: StoredRecord| {
            let Some(indexes) = wanted.get(&record.ordinal) else {
                return Ok(());
            };
            for &i in indexes {
                let change = &mut changes[i];
                if let Some(result) = record.results.iter().find(|r| r.scorer == change.scorer) {
                    change.before = excerpt(said_text(&stored_said(result)));
                }
                change.baseline_output = excerpt(match &record.outputs {
                    RecordValue::Null => String::new(),
                    RecordValue::Text(t) | RecordValue::Json(t) => t.clone(),
                });
            }
            Ok(())
        })?;
        Ok(self.comparison)
    }
}
