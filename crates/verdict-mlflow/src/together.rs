//! Finished traces shipped together with their assessments
//! ([`MlflowSink::export_traces`]): the trace created with its assessments
//! in one request, its spans posted after.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Map, Value, json};
use verdict::wire::format_time;
use verdict::{Assessment, Operation, Outcome, SinkError, SpansAndOperations, mlflow_trace_id};

use super::MlflowSink;
use super::delivery::summarize;
use super::provenance::Provenance;
use super::runs::truncate;

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
    /// upserts inline assessments by id, and spans by id. The error says
    /// what was not delivered; for the outcome of each span and each
    /// assessment, see [`export_traces_apart`](Self::export_traces_apart).
    pub fn export_traces(
        &self,
        spans: &[SpanData],
        assessments: &[Assessment],
    ) -> Result<(), SinkError> {
        let (spans_sent, operations_sent) = self.export_traces_apart(spans, assessments);
        let errors: Vec<SinkError> = [operations_sent, spans_sent]
            .into_iter()
            .filter_map(Result::err)
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        let message = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Err(SinkError::new(message))
    }

    /// [`export_traces`](Self::export_traces), with the outcome of the
    /// spans and that of the assessments apart (each error with an outcome
    /// per item, in `spans`' and `assessments`' order), for a caller that
    /// reports how many of each were not delivered, such as `verdict push`.
    pub fn export_traces_apart(
        &self,
        spans: &[SpanData],
        assessments: &[Assessment],
    ) -> SpansAndOperations {
        let operations: Vec<Operation> = assessments.iter().cloned().map(Operation::Log).collect();
        self.ship_together(spans, &operations, false)
    }

    /// [`export_traces_apart`](Self::export_traces_apart), with stand-in
    /// root spans for traces that records name but whose spans are not
    /// here (a dataset made from traces): a trace the server does not have
    /// is created from its stand-in — named, timed, its inputs and outputs
    /// — and its assessments go with it; a trace the server has keeps its
    /// own spans, and its assessments are added to it, the stand-in never
    /// sent. Without stand-ins, assessments of a trace the server lacks
    /// wait for spans that will never come.
    ///
    /// `new` says which traces are new (see [`ship_together_new`](Self::ship_together_new)).
    /// The spans' outcomes are those of `spans` alone: a stand-in's fate
    /// shows in its trace's assessments.
    pub fn export_traces_standing_in(
        &self,
        spans: &[SpanData],
        stand_ins: &[SpanData],
        assessments: &[Assessment],
        new: &(dyn Fn(TraceId) -> bool + Sync),
    ) -> SpansAndOperations {
        let operations: Vec<Operation> = assessments.iter().cloned().map(Operation::Log).collect();
        if stand_ins.is_empty() {
            return self.ship_together_new(spans, &operations, false, new);
        }
        let traces: Vec<TraceId> = stand_ins
            .iter()
            .map(|s| s.span_context.trace_id())
            .collect();
        let lacking: std::collections::HashSet<TraceId> =
            self.lacking(&traces).into_iter().collect();
        let mut all = spans.to_vec();
        all.extend(
            stand_ins
                .iter()
                .filter(|s| lacking.contains(&s.span_context.trace_id()))
                .cloned(),
        );
        let (spans_sent, operations_sent) = self.ship_together_new(&all, &operations, false, new);
        let spans_sent = spans_sent.map_err(|error| match error.outcomes() {
            Some(outcomes) if outcomes.len() > spans.len() => {
                let own = outcomes[..spans.len()].to_vec();
                SinkError::new(error.to_string()).with_outcomes(own)
            }
            _ => error,
        });
        (spans_sent, operations_sent)
    }

    /// [`export_traces`](Self::export_traces) for any operations: returns
    /// the outcome of the spans and that of the operations (each error
    /// with an outcome per item, in `spans`' and `operations`' order).
    ///
    /// `fresh`: the caller knows that no span or assessment of these traces
    /// has been sent anywhere before, so a trace whose root span is here
    /// is created without reading it from the server first, and one whose
    /// root has not ended yet (an open trace whose assessments are flushed)
    /// is created `IN_PROGRESS` with them, instead of waiting for spans the
    /// server cannot have. Its spans update it when they come; its root,
    /// through [`export_spans`](Self::export_spans), sets its time,
    /// duration and state.
    pub fn ship_together(
        &self,
        spans: &[SpanData],
        operations: &[Operation],
        fresh: bool,
    ) -> SpansAndOperations {
        self.ship_together_new(spans, operations, fresh, &|_| false)
    }

    /// [`ship_together`](Self::ship_together), with the traces the caller
    /// knows to be new (`new`: made by it and sent nowhere before, such as
    /// an evaluation's own) created from their root without reading them
    /// first: one request a trace instead of two.
    pub fn ship_together_new(
        &self,
        spans: &[SpanData],
        operations: &[Operation],
        fresh: bool,
        new: &(dyn Fn(TraceId) -> bool + Sync),
    ) -> SpansAndOperations {
        let roots: HashMap<TraceId, &SpanData> = spans
            .iter()
            .filter(|span| span.parent_span_id == SpanId::INVALID)
            .map(|span| (span.span_context.trace_id(), span))
            .collect();
        // A trace goes first when its first operation can create it: from
        // its root span, or, new (`fresh`) and without its root, in
        // progress.
        let mut first: HashMap<TraceId, bool> = HashMap::new();
        for op in operations {
            let trace = op.trace_id();
            first.entry(trace).or_insert_with(|| {
                matches!(op, Operation::Log(a) if a.overrides().is_none())
                    && (fresh || roots.contains_key(&trace))
            });
        }
        let (early, late): (Vec<usize>, Vec<usize>) =
            (0..operations.len()).partition(|&i| first[&operations[i].trace_id()]);
        let known: HashMap<TraceId, (Value, bool)> = first
            .iter()
            .filter(|(_, goes_first)| **goes_first)
            .map(|(trace, _)| match roots.get(trace) {
                Some(root) => (*trace, (self.info_from_root(root), fresh || new(*trace))),
                None => {
                    self.opened(*trace);
                    (*trace, (self.info_in_progress(*trace, operations), true))
                }
            })
            .collect();
        let pick = |indexes: &[usize]| -> Vec<Operation> {
            indexes.iter().map(|&i| operations[i].clone()).collect()
        };
        let created = self.deliver_known(&pick(&early), &known);
        let spans_sent = self.export_spans(spans);
        let rest = self.deliver(&pick(&late));
        let mut outcomes: Vec<Option<Outcome>> = std::iter::repeat_with(|| None)
            .take(operations.len())
            .collect();
        for (index, outcome) in early
            .into_iter()
            .zip(created)
            .chain(late.into_iter().zip(rest))
        {
            outcomes[index] = Some(outcome);
        }
        let outcomes = outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::deferred("not attempted")))
            .collect();
        (spans_sent, summarize(operations.len(), outcomes))
    }

    /// The info of a new trace whose root span has not ended yet, for the
    /// server to hold its assessments meanwhile: `IN_PROGRESS`, from the
    /// time of the first of them (after the root started: MLflow moves the
    /// start back when the spans come), with no duration. When the root
    /// span comes through this sink, the trace's info is set from it.
    fn info_in_progress(&self, trace: TraceId, operations: &[Operation]) -> Value {
        let first = operations
            .iter()
            .filter_map(|op| match op {
                Operation::Log(a) if a.trace_id() == trace => Some(a.create_time()),
                _ => None,
            })
            .min()
            .unwrap_or_else(SystemTime::now);
        json!({
            "trace_id": mlflow_trace_id(trace),
            "trace_location": {
                "type": "MLFLOW_EXPERIMENT",
                "mlflow_experiment": {"experiment_id": self.config.experiment_id},
            },
            "request_time": format_time(whole_millis(first)),
            "state": "IN_PROGRESS",
        })
    }

    /// What MLflow's client makes of a trace's info from its root span:
    /// the fields a `POST /api/3.0/mlflow/traces` writes, and the trace's
    /// name (`mlflow.traceName`, the root span's name) and metadata (see
    /// [`trace_metadata`](Self::trace_metadata)).
    pub(super) fn info_from_root(&self, root: &SpanData) -> Value {
        let duration = root
            .end_time
            .duration_since(root.start_time)
            .unwrap_or_default();
        let start = whole_millis(root.start_time);
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
            "trace_metadata": self.trace_metadata(root),
            "tags": {TRACE_NAME: truncate(&root.name, MAX_TRACE_TAG_VALUE)},
        })
    }

    /// The metadata MLflow's client gives a trace: where it comes from
    /// (`mlflow.user`, `mlflow.source.*`), its schema version, its inputs
    /// and outputs (the root span's `mlflow.spanInputs` and
    /// `mlflow.spanOutputs`, cut to 250 characters, empty when absent),
    /// and the active run, if any (`mlflow.sourceRun`).
    fn trace_metadata(&self, root: &SpanData) -> Map<String, Value> {
        let attribute = |key: &str| {
            root.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| truncate(&kv.value.as_str(), MAX_TRACE_METADATA_VALUE))
                .unwrap_or_default()
        };
        let mut metadata: Map<String, Value> = Provenance::current()
            .trace_metadata()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        metadata.insert(SCHEMA_VERSION.into(), "3".into());
        metadata.insert(TRACE_INPUTS.into(), attribute(SPAN_INPUTS).into());
        metadata.insert(TRACE_OUTPUTS.into(), attribute(SPAN_OUTPUTS).into());
        if let Some(run) = self.active_run() {
            metadata.insert(SOURCE_RUN.into(), run.into());
        }
        metadata
    }
}

/// The trace's name, a tag.
const TRACE_NAME: &str = "mlflow.traceName";
/// Trace metadata MLflow's client writes.
const SCHEMA_VERSION: &str = "mlflow.trace_schema.version";
const TRACE_INPUTS: &str = "mlflow.traceInputs";
const TRACE_OUTPUTS: &str = "mlflow.traceOutputs";
const SOURCE_RUN: &str = "mlflow.sourceRun";
/// The span attributes they come from.
const SPAN_INPUTS: &str = "mlflow.spanInputs";
const SPAN_OUTPUTS: &str = "mlflow.spanOutputs";
/// MLflow's `MAX_CHARS_IN_TRACE_INFO_METADATA`, to which its client cuts
/// a trace's inputs and outputs in its metadata.
const MAX_TRACE_METADATA_VALUE: usize = 250;
/// MLflow's `MAX_CHARS_IN_TRACE_INFO_TAGS_VALUE`: a longer trace name is
/// refused.
const MAX_TRACE_TAG_VALUE: usize = 4096;

/// `time` to the millisecond below, as MLflow keeps it.
fn whole_millis(time: SystemTime) -> SystemTime {
    time.duration_since(UNIX_EPOCH)
        .map(|d| UNIX_EPOCH + std::time::Duration::from_millis(d.as_millis() as u64))
        .unwrap_or(UNIX_EPOCH)
}
