//! Outputs a stored run's records answered, given again to the same
//! records of a new run (`--reuse-outputs RUN`): the new run scores them
//! without calling the system under test.
//!
//! Records are matched as the baseline comparison matches them (see the
//! `compare` module): a record that names its trace is that trace, any
//! other its inputs and which record with those inputs it is. A record the
//! stored run lacks, or whose call failed in it, has no outputs to reuse:
//! every scorer gives it an error feedback ([`PREDICT_FAILED`]), never a
//! pass on empty outputs.
//!
//! The decision: **matched in dataset order on the scoring thread, not
//! through a [`Predictor`](crate::predict::Predictor)**: the k-th record
//! with the same inputs is only known in order, and a predictor's calls
//! run side by side. The stored run's spans are not copied: its trace
//! stays where it is, named by the run.
//!
//! [`PREDICT_FAILED`]: crate::predict::PREDICT_FAILED

use std::collections::HashMap;

use opentelemetry::trace::{SpanId, TraceId};
use verdict_export::{LocalStore, RecordValue};
use verdict_scorer::OwnedValue;

use crate::compare::{Key, Occurrences, current_inputs, stored_inputs};
use crate::error::Result;
use crate::predict::PredictError;

/// A stored run's answers, by record.
pub(crate) struct StoredAnswers {
    run_id: String,
    /// What each record answered, or why its call failed.
    index: HashMap<Key, std::result::Result<OwnedValue, String>>,
    occurrences: Occurrences,
}

impl StoredAnswers {
    /// Reads the answers of the stored run `run_id`.
    pub(crate) fn load(store: &LocalStore, run_id: &str) -> Result<Self> {
        let mut index = HashMap::new();
        // The stored run's own count: this run's starts afresh.
        let mut occurrences = Occurrences::default();
        store.each_run_record(run_id, |record| {
            let named = record.named.then_some((record.trace_id, record.span_id));
            let key = occurrences.key(named, stored_inputs(&record.inputs));
            let answer = match (record.error, record.outputs) {
                (Some(error), _) => Err(error),
                (None, RecordValue::Null) => Ok(OwnedValue::Null),
                (None, RecordValue::Text(text)) => Ok(OwnedValue::String(text)),
                (None, RecordValue::Json(json)) => Ok(OwnedValue::Json(json)),
            };
            index.insert(key, answer);
            Ok(())
        })?;
        Ok(StoredAnswers {
            run_id: run_id.to_owned(),
            index,
            occurrences: Occurrences::default(),
        })
    }

    /// What the stored run's matching record answered; records are asked
    /// for in dataset order.
    pub(crate) fn answer(
        &mut self,
        named: Option<(TraceId, Option<SpanId>)>,
        inputs: &OwnedValue,
    ) -> std::result::Result<OwnedValue, PredictError> {
        let key = self.occurrences.key(named, current_inputs(inputs));
        match self.index.remove(&key) {
            Some(Ok(outputs)) => Ok(outputs),
            Some(Err(error)) => Err(PredictError::Failed(format!(
                "{} has no outputs to reuse for this record: its call failed ({error})",
                self.run_id
            ))),
            None => Err(PredictError::Failed(format!(
                "{} has no record {}, so it has no outputs to reuse for it",
                self.run_id,
                match named {
                    Some((trace, _)) => format!("of trace {}", verdict::mlflow_trace_id(trace)),
                    None => "with these inputs".to_owned(),
                }
            ))),
        }
    }
}
