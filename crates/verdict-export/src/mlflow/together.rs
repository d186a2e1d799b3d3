//! Finished traces shipped together with their assessments
//! ([`MlflowSink::export_traces`]): the trace created with its assessments
//! in one request, its spans posted after.

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Value, json};
use verdict::wire::format_time;
use verdict::{Assessment, Operation, SinkError, mlflow_trace_id};

use super::MlflowSink;
use super::delivery::summarize;

impl MlflowSink {
    /// Ships finished traces together with the assessments recorded on
    /// them: the fastest way into MLflow, for a batch job that holds both
    /// (an evaluation, a push of a local store).
    ///
    /// For each trace whose root span is in `spans` and whose first
    /// assessment overrides nothing, one `POST /api/3.0/mlflow/traces`
    /// creates the trace with its new assessments inline — its time,
    /// duration and state taken from the root span, as MLflow computes them
    /// from spans — and the spans follow in one OTLP request, which fills in
    /// the rest (names, previews, tags). Creating the trace that way costs
    /// the server about half as much per assessment as adding them to a
    /// trace it already has. Every other assessment (of a trace without
    /// its root here, an override, …) is delivered after the spans, as
    /// [`export`](verdict::AssessmentSink::export) does.
    ///
    /// Sent again after a failure, nothing is created twice: the server
    /// upserts inline assessments by id, and spans by id. The error counts
    /// the assessments and spans not delivered.
    pub fn export_traces(
        &self,
        spans: &[SpanData],
        assessments: &[Assessment],
    ) -> Result<(), SinkError> {
        let roots: HashMap<TraceId, &SpanData> = spans
            .iter()
            .filter(|span| span.parent_span_id == SpanId::INVALID)
            .map(|span| (span.span_context.trace_id(), span))
            .collect();
        // A trace goes first when its first assessment can create it.
        let mut first: HashMap<TraceId, bool> = HashMap::new();
        for a in assessments {
            first
                .entry(a.trace_id())
                .or_insert_with(|| a.overrides().is_none() && roots.contains_key(&a.trace_id()));
        }
        let (early, late): (Vec<&Assessment>, Vec<&Assessment>) =
            assessments.iter().partition(|a| first[&a.trace_id()]);
        let known: HashMap<TraceId, Value> = first
            .iter()
            .filter(|(_, goes_first)| **goes_first)
            .map(|(trace, _)| (*trace, self.info_from_root(roots[trace])))
            .collect();
        let early: Vec<Operation> = early.into_iter().cloned().map(Operation::Log).collect();
        let created = summarize(early.len(), self.deliver_known(&early, &known));
        let spans_sent = self.export_spans(spans);
        let late: Vec<Operation> = late.into_iter().cloned().map(Operation::Log).collect();
        let rest = summarize(late.len(), self.deliver(&late));
        let errors: Vec<SinkError> = [created, spans_sent, rest]
            .into_iter()
            .filter_map(Result::err)
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        let failed = errors.iter().map(|e| e.failed().unwrap_or(0)).sum();
        let message = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Err(SinkError::new(message).with_failed(failed))
    }

    /// What MLflow would make of the trace's info from its root span: the
    /// fields a `POST /api/3.0/mlflow/traces` writes.
    fn info_from_root(&self, root: &SpanData) -> Value {
        let duration = root
            .end_time
            .duration_since(root.start_time)
            .unwrap_or_default();
        let start = root
            .start_time
            .duration_since(UNIX_EPOCH)
            .map(|d| UNIX_EPOCH + std::time::Duration::from_millis(d.as_millis() as u64))
            .unwrap_or(UNIX_EPOCH);
        json!({
            "trace_id": mlflow_trace_id(root.span_context.trace_id()),
            "trace_location": {
                "type": "MLFLOW_EXPERIMENT",
                "mlflow_experiment": {"experiment_id": self.config.experiment_id},
            },
            "request_time": format_time(start),
            "execution_duration": format!("{}.{:09}s", duration.as_secs(), duration.subsec_nanos()),
            "state": match root.status {
                Status::Error { .. } => "ERROR",
                Status::Ok | Status::Unset => "OK",
            },
        })
    }
}
