//! An in-memory assessment store with MLflow's lifecycle, for tests and for
//! programs that want to read back what they recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use opentelemetry::trace::TraceId;

use crate::aggregate::FeedbackSummary;
use crate::assessment::Assessment;
use crate::error::{Error, Result};
use crate::ids::{AssessmentId, mlflow_trace_id};
use crate::lifecycle::{self, AssessmentUpdate, Records};
use crate::sink::{AssessmentSink, Operation, Outcome, SinkError};

/// Assessments kept in memory, with the lifecycle of [`crate::lifecycle`].
///
/// Cloning gives another handle on the same store. It is also an
/// [`AssessmentSink`], so a recorder can feed it.
///
/// ```
/// use verdict::{Assessment, MemoryStore};
///
/// let store = MemoryStore::default();
/// let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
/// let first = Assessment::feedback("ok", false).on_trace(trace, None)?;
/// store.log(&first)?;
/// let fix = Assessment::override_of(&first, true).on(first.target())?;
/// store.log(&fix)?;
/// assert!(!store.get(first.trace_id(), first.id())?.is_valid());
/// store.delete(fix.trace_id(), fix.id())?;
/// assert!(store.get(first.trace_id(), first.id())?.is_valid());
/// # Ok::<(), verdict::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Each assessment with the sequence number of its logging.
    by_id: HashMap<AssessmentId, (u64, Assessment)>,
    next_seq: u64,
    /// Ids per trace, in the order they were logged.
    by_trace: HashMap<TraceId, Vec<AssessmentId>>,
}

impl Records for State {
    fn get(&mut self, id: AssessmentId) -> Result<Option<Assessment>> {
        Ok(self.by_id.get(&id).map(|(_, a)| a.clone()))
    }

    fn put(&mut self, assessment: &Assessment) -> Result<()> {
        if let Some((_, slot)) = self.by_id.get_mut(&assessment.id()) {
            *slot = assessment.clone();
            return Ok(());
        }
        self.next_seq += 1;
        self.by_id
            .insert(assessment.id(), (self.next_seq, assessment.clone()));
        self.by_trace
            .entry(assessment.trace_id())
            .or_default()
            .push(assessment.id());
        Ok(())
    }

    fn remove(&mut self, id: AssessmentId) -> Result<()> {
        if let Some((_, gone)) = self.by_id.remove(&id)
            && let Some(ids) = self.by_trace.get_mut(&gone.trace_id())
        {
            ids.retain(|other| *other != id);
        }
        Ok(())
    }
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Logs an assessment; see [`lifecycle::log`].
    pub fn log(&self, assessment: &Assessment) -> Result<()> {
        lifecycle::log(&mut *self.lock(), assessment)
    }

    /// The assessment with this id in this trace.
    pub fn get(&self, trace_id: TraceId, id: AssessmentId) -> Result<Assessment> {
        self.lock()
            .by_id
            .get(&id)
            .map(|(_, a)| a)
            .filter(|a| a.trace_id() == trace_id)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                id: id.to_string(),
                trace_id: mlflow_trace_id(trace_id),
            })
    }

    /// The assessments of a trace, valid and invalid, in the order logged.
    pub fn list_by_trace(&self, trace_id: TraceId) -> Vec<Assessment> {
        let state = self.lock();
        state
            .by_trace
            .get(&trace_id)
            .into_iter()
            .flatten()
            .filter_map(|id| state.by_id.get(id).map(|(_, a)| a.clone()))
            .collect()
    }

    /// The assessments with this name across all traces, ordered by
    /// creation time, then by the order logged.
    pub fn list_by_name(&self, name: &str) -> Vec<Assessment> {
        let mut found: Vec<(u64, Assessment)> = self
            .lock()
            .by_id
            .values()
            .filter(|(_, a)| a.name() == name)
            .cloned()
            .collect();
        found.sort_by_key(|(seq, a)| (a.create_time(), *seq));
        found.into_iter().map(|(_, a)| a).collect()
    }

    /// Applies an update; see [`lifecycle::update`].
    pub fn update(&self, update: &AssessmentUpdate) -> Result<Assessment> {
        lifecycle::update(&mut *self.lock(), update)
    }

    /// Deletes an assessment; see [`lifecycle::delete`].
    pub fn delete(&self, trace_id: TraceId, id: AssessmentId) -> Result<()> {
        lifecycle::delete(&mut *self.lock(), trace_id, id)
    }

    /// Applies one recorded operation.
    pub fn apply(&self, operation: &Operation) -> Result<()> {
        lifecycle::apply(&mut *self.lock(), operation)
    }

    /// Summarizes the valid feedback named `name`.
    pub fn summary(&self, name: &str) -> FeedbackSummary {
        FeedbackSummary::of(name, self.lock().by_id.values().map(|(_, a)| a))
    }

    /// How many assessments the store holds.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl AssessmentSink for MemoryStore {
    /// Applies every operation of the batch; those the lifecycle refuses
    /// are reported together, the others still apply.
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        let mut state = self.lock();
        let mut refused = Vec::new();
        let outcomes: Vec<Outcome> = batch
            .iter()
            .map(|op| match lifecycle::apply(&mut *state, op) {
                Ok(()) => Outcome::Delivered,
                Err(e) => {
                    let why = e.to_string();
                    refused.push(why.clone());
                    Outcome::refused(why)
                }
            })
            .collect();
        if refused.is_empty() {
            return Ok(());
        }
        Err(SinkError::new(format!(
            "{} of {} operations refused: {}",
            refused.len(),
            batch.len(),
            refused.join("; ")
        ))
        .with_outcomes(outcomes))
    }

    fn name(&self) -> &str {
        "memory-store"
    }
}
