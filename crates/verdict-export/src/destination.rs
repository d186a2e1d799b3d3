//! One destination for spans and assessment operations, opened from its
//! kind and the environment, and the one fan-out every deliverer goes
//! through: `verdict eval --export`, `verdict push`, and a service that
//! records through a [`Destination`] as its sink.
//!
//! The decision that shapes it: **spans first, then the operations on
//! them, and a per-item account of what did not arrive.** A server knows
//! a trace before its assessments arrive, so operations are held back when
//! their spans fail; and whatever a sink says about each item is added up
//! ([`Tally`], [`DeliveryFailure`]) rather than turned into one error for
//! the whole batch, so that a caller can say exactly what is missing and
//! where. The alternative, each caller driving the sinks itself, is what
//! made `eval` and `push` count failures differently.
//!
//! How a destination is named on a command line (`otlp`, `jsonl:PATH`…)
//! is the command line's business: this module takes an [`ExportTarget`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TraceId;
#[cfg(feature = "mlflow")]
use verdict::Assessment;
use verdict::{AssessmentSink, Operation, Outcome, Outcomes, SinkError};

#[cfg(feature = "jsonl")]
use crate::JsonlSink;
#[cfg(any(feature = "mlflow", feature = "phoenix"))]
use crate::WithHttpSettings as _;
#[cfg(feature = "otlp")]
use crate::otlp::SpanExporter as OtlpSpanExporter;
#[cfg(feature = "mlflow")]
use crate::{MlflowConfig, MlflowSink};
#[cfg(feature = "otlp")]
use crate::{OtlpExporter, OtlpSink};
#[cfg(feature = "phoenix")]
use crate::{PhoenixConfig, PhoenixSink};
use crate::{SpanSink, StoredSpan};

/// Where spans and assessments go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportTarget {
    /// Any OpenTelemetry collector; configured by `OTEL_EXPORTER_OTLP_*`.
    Otlp,
    /// An MLflow tracking server; configured by `MLFLOW_TRACKING_URI`,
    /// `MLFLOW_EXPERIMENT_ID` and MLflow's credential variables.
    Mlflow,
    /// An Arize Phoenix server: spans over OTLP, assessments as
    /// annotations; configured by `PHOENIX_COLLECTOR_ENDPOINT`,
    /// `PHOENIX_API_KEY`, `PHOENIX_PROJECT_NAME` and Phoenix's other
    /// client variables.
    Phoenix,
    /// Spans and assessments (MLflow JSON), one per line, appended to a
    /// file, or written to standard output when the path is `-`.
    Jsonl(std::path::PathBuf),
}

impl ExportTarget {
    /// The feature of this crate that sends to it, named as the kind is.
    fn feature(&self) -> &'static str {
        match self {
            ExportTarget::Otlp => "otlp",
            ExportTarget::Mlflow => "mlflow",
            ExportTarget::Phoenix => "phoenix",
            ExportTarget::Jsonl(_) => "jsonl",
        }
    }

    /// Whether it writes to standard output (`jsonl:-`): then the command
    /// prints its own output elsewhere.
    pub fn is_stdout(&self) -> bool {
        matches!(self, ExportTarget::Jsonl(path) if path.as_os_str() == "-")
    }
}

impl fmt::Display for ExportTarget {
    /// The name people know it by: `otlp`, `mlflow`, `phoenix`,
    /// `jsonl:PATH`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportTarget::Otlp => f.write_str("otlp"),
            ExportTarget::Mlflow => f.write_str("mlflow"),
            ExportTarget::Phoenix => f.write_str("phoenix"),
            ExportTarget::Jsonl(path) => write!(f, "jsonl:{}", path.display()),
        }
    }
}

/// A destination that failed: which, what it said, and what of the spans
/// and operations sent it did not deliver. What the local store holds is
/// intact.
#[derive(Debug)]
pub struct DeliveryError {
    /// The destination, as people name it (see [`ExportTarget`]'s `Display`).
    pub destination: String,
    /// What went wrong.
    pub message: String,
    /// What was not delivered, when the destination said what became of
    /// each item; `None` when it did not (then none of what was sent may
    /// count as delivered, though some may have arrived).
    pub undelivered: Option<Box<Undelivered>>,
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exporting to {} failed: {}",
            self.destination, self.message
        )?;
        if let Some(u) = &self.undelivered {
            write!(f, " ({u})")?;
        }
        Ok(())
    }
}

impl std::error::Error for DeliveryError {}

/// How a [`Destination`] behaves while it retries: a hook that stops its
/// retries (a signal arrived), and one told of retries that go on (to
/// show progress). Both are optional.
#[derive(Clone, Default)]
pub struct OpenOptions {
    stop: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
    #[cfg(any(feature = "mlflow", feature = "phoenix"))]
    on_retry_wait: Option<Arc<RetryObserver>>,
}

/// Told of a retry that goes on, with the destination's name.
#[cfg(any(feature = "mlflow", feature = "phoenix"))]
type RetryObserver = dyn Fn(&str, crate::mlflow::Waiting) + Send + Sync;

impl fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut options = f.debug_struct("OpenOptions");
        options.field("stop", &self.stop.is_some());
        #[cfg(any(feature = "mlflow", feature = "phoenix"))]
        options.field("on_retry_wait", &self.on_retry_wait.is_some());
        options.finish()
    }
}

impl OpenOptions {
    /// Stops retrying at once when `stop` returns true: a run stopped by a
    /// signal does not wait out a server's retry budget before it ends.
    pub fn stop_retrying_when(mut self, stop: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.stop = Some(Arc::new(stop));
        self
    }

    /// Tells `observer` of retries that go on, with the destination's
    /// name (see [`RetryPolicy::on_wait`](crate::RetryPolicy::on_wait)).
    /// With the `mlflow` or `phoenix` feature: the others do not retry.
    #[cfg(any(feature = "mlflow", feature = "phoenix"))]
    pub fn on_retry_wait(
        mut self,
        observer: impl Fn(&str, crate::mlflow::Waiting) + Send + Sync + 'static,
    ) -> Self {
        self.on_retry_wait = Some(Arc::new(observer));
        self
    }
}

/// A destination, opened: its spans go first, then its assessments, so
/// that a server knows a trace before its assessments arrive.
///
/// It is also an [`AssessmentSink`] and a [`SpanSink`], so that a service
/// can record to the same destinations, configured the same way, as
/// `verdict eval --export` and `verdict push` send to.
pub struct Destination {
    target: ExportTarget,
    sink: Sink,
    /// Why the destination could not be reached when it was opened (or,
    /// for an evaluation, its MLflow run could not be started): then
    /// nothing is sent to it, and everything is counted as not delivered.
    unreachable: Option<String>,
    /// The MLflow run what is sent belongs to, for an MLflow destination
    /// (see [`join_mlflow_run`](Self::join_mlflow_run)).
    mlflow_run: Option<String>,
    /// It took none of a chunk of the run, and nothing more is sent to it
    /// (see [`Tally`]).
    given_up: AtomicBool,
    /// The high half of the trace ids of the run being evaluated (see
    /// `verdict_store::runs::pack`): its own traces, new to every
    /// destination.
    new_traces: Option<u64>,
}

/// The kinds this build sends to (their features).
enum Sink {
    #[cfg(feature = "otlp")]
    Otlp(Box<Otlp>),
    #[cfg(feature = "mlflow")]
    Mlflow(Box<MlflowSink>),
    #[cfg(feature = "phoenix")]
    Phoenix(Box<PhoenixSink>),
    #[cfg(feature = "jsonl")]
    Jsonl(JsonlSink),
}

/// The OTLP exporter, its span exporter and its assessment sink.
#[cfg(feature = "otlp")]
struct Otlp {
    exporter: OtlpExporter,
    spans: OtlpSpanExporter,
    sink: OtlpSink,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("target", &self.target)
            .finish()
    }
}

impl Destination {
    /// Opens a destination from its configuration (environment variables
    /// for OTLP, MLflow and Phoenix). A kind whose feature this crate was
    /// built without is refused, with an error naming the feature.
    pub fn open(target: ExportTarget) -> Result<Self, DeliveryError> {
        Self::open_with(target, &OpenOptions::default())
    }

    /// [`open`](Self::open), with `options` for its retries.
    pub fn open_with(target: ExportTarget, options: &OpenOptions) -> Result<Self, DeliveryError> {
        #[cfg(any(feature = "mlflow", feature = "phoenix"))]
        let stop = {
            let stop = options.stop.clone();
            move || stop.as_ref().is_some_and(|stop| stop())
        };
        #[cfg(not(any(feature = "mlflow", feature = "phoenix")))]
        let _ = options;
        #[cfg(any(feature = "mlflow", feature = "phoenix"))]
        let notice = |name: &'static str| {
            let observer = options.on_retry_wait.clone();
            move |waiting| {
                if let Some(observer) = &observer {
                    observer(name, waiting);
                }
            }
        };
        let failed = |message: String| DeliveryError {
            destination: target.to_string(),
            message,
            undelivered: None,
        };
        let sink = match &target {
            #[cfg(feature = "otlp")]
            ExportTarget::Otlp => {
                let exporter = OtlpExporter::builder()
                    .default_service_name("verdict")
                    .build()
                    .map_err(|e| failed(e.to_string()))?;
                let spans = exporter
                    .span_exporter()
                    .map_err(|e| failed(e.to_string()))?;
                let sink = exporter.sink();
                Sink::Otlp(Box::new(Otlp {
                    exporter,
                    spans,
                    sink,
                }))
            }
            #[cfg(feature = "mlflow")]
            ExportTarget::Mlflow => Sink::Mlflow(Box::new(
                MlflowConfig::from_env()
                    .and_then(|c| {
                        c.on_retry_wait(notice("mlflow"))
                            .stop_retrying_when(stop.clone())
                            .build()
                    })
                    .map_err(|e| failed(e.to_string()))?,
            )),
            #[cfg(feature = "phoenix")]
            ExportTarget::Phoenix => Sink::Phoenix(Box::new(
                PhoenixConfig::from_env()
                    .and_then(|c| {
                        c.on_retry_wait(notice("phoenix"))
                            .stop_retrying_when(stop.clone())
                            .build()
                    })
                    .map_err(|e| failed(e.to_string()))?,
            )),
            #[cfg(feature = "jsonl")]
            ExportTarget::Jsonl(_) if target.is_stdout() => Sink::Jsonl(JsonlSink::stdout()),
            #[cfg(feature = "jsonl")]
            ExportTarget::Jsonl(path) => {
                Sink::Jsonl(JsonlSink::append(path).map_err(|e| failed(e.to_string()))?)
            }
            #[allow(unreachable_patterns)]
            _ => {
                return Err(failed(format!(
                    "this program was built without verdict-export's `{}` feature, which sends \
                     there; add it to the features of its verdict-export dependency",
                    target.feature()
                )));
            }
        };
        // A server that is down is found out now, in seconds, rather than
        // by every trace's retry budget running out.
        #[allow(unreachable_patterns)]
        let unreachable = match &sink {
            #[cfg(feature = "mlflow")]
            Sink::Mlflow(sink) => sink
                .check_reachable(REACHABLE_WITHIN)
                .err()
                .map(|e| e.to_string()),
            #[cfg(feature = "phoenix")]
            Sink::Phoenix(sink) => sink
                .check_reachable(REACHABLE_WITHIN)
                .err()
                .map(|e| e.to_string()),
            _ => None,
        };
        Ok(Destination {
            target,
            sink,
            unreachable,
            mlflow_run: None,
            given_up: AtomicBool::new(false),
            new_traces: None,
        })
    }

    /// The MLflow client, for an MLflow destination that could be reached
    /// (an evaluation starts and ends its MLflow run through it).
    #[cfg(feature = "mlflow")]
    pub fn mlflow(&self) -> Option<&MlflowSink> {
        match (&self.sink, &self.unreachable) {
            (Sink::Mlflow(sink), None) => Some(sink),
            _ => None,
        }
    }

    /// Makes what is sent from now on part of the MLflow run `run_id`:
    /// assessments logged carry its id, and every trace sent is linked to
    /// it, as `mlflow.genai.evaluate` links them. Nothing for the other
    /// kinds.
    pub fn join_mlflow_run(&mut self, run_id: String) {
        #[cfg(feature = "mlflow")]
        if matches!(self.sink, Sink::Mlflow(_)) {
            self.mlflow_run = Some(run_id);
        }
        #[cfg(not(feature = "mlflow"))]
        let _ = run_id;
    }

    /// Sends nothing more to it, for `reason` (an evaluation's MLflow run
    /// could not be started, say): what is sent counts as not delivered.
    pub fn set_unreachable(&mut self, reason: String) {
        self.unreachable = Some(reason);
    }

    /// Traces whose ids' high half is `ids` (those of a run being
    /// evaluated, see `verdict_store::runs::pack`) are new to it: MLflow
    /// creates them without reading them first.
    pub fn new_traces(&mut self, ids: u64) {
        self.new_traces = Some(ids);
    }

    /// Whether it took none of a chunk a [`Tally`] sent, after which
    /// nothing more is sent to it: a server that is most likely gone.
    pub fn given_up(&self) -> bool {
        self.given_up.load(Ordering::Relaxed)
    }

    /// Why the destination could not be reached when it was opened, if it
    /// could not: nothing is sent to it.
    pub fn unreachable(&self) -> Option<&str> {
        self.unreachable.as_deref()
    }

    /// The export, as the user named it.
    pub fn target(&self) -> &ExportTarget {
        &self.target
    }

    /// What the local store keeps what was delivered here under, so that
    /// `verdict push` sends only what it has not seen: its kind and
    /// address. `None` for standard output, which keeps nothing.
    // With MLflow the only kind built, its arm is the only one reached.
    #[allow(unreachable_patterns)]
    pub fn key(&self) -> Option<String> {
        match (&self.target, &self.sink) {
            #[cfg(feature = "mlflow")]
            (_, Sink::Mlflow(sink)) => Some(sink.key()),
            #[cfg(feature = "phoenix")]
            (_, Sink::Phoenix(sink)) => Some(sink.key()),
            (ExportTarget::Otlp, _) => Some(format!("otlp {}", otlp_traces_endpoint())),
            (ExportTarget::Jsonl(path), _) if !self.target.is_stdout() => Some(format!(
                "jsonl {}",
                std::fs::canonicalize(path)
                    .unwrap_or_else(|_| path.clone())
                    .display()
            )),
            _ => None,
        }
    }

    /// Sends spans, then the operations on them (as `verdict eval` does
    /// per batch of records, and `verdict push` per chunk of traces).
    ///
    /// When the spans fail, the operations are not sent (a server should
    /// know a trace before its assessments). The error's
    /// [`undelivered`](DeliveryError::undelivered) holds each span's and
    /// operation's outcome, counts those not delivered and names their
    /// traces; it is `None` when the sink gave no outcome per item, as a
    /// JSONL file that failed mid-write does.
    /// Spans go as the store keeps them, each with its own resource if it
    /// has one (those of an OTLP file), which OTLP and JSON lines keep.
    pub fn send(
        &self,
        spans: &[StoredSpan],
        operations: &[Operation],
    ) -> Result<(), DeliveryError> {
        self.send_standing_in(spans, &[], operations)
    }

    /// [`send`](Self::send), with stand-in root spans for traces that
    /// records name but whose spans are not in `spans`: where the
    /// destination does not have such a trace, its stand-in creates it
    /// (MLflow: named, timed, with the record's inputs and outputs), so
    /// that its assessments land instead of waiting for spans that will
    /// not come; where it has the trace, the stand-in is not sent. Only
    /// MLflow needs them: an OTLP collector or a file takes assessments of
    /// any trace.
    pub fn send_standing_in(
        &self,
        spans: &[StoredSpan],
        stand_ins: &[StoredSpan],
        operations: &[Operation],
    ) -> Result<(), DeliveryError> {
        if let Some(reason) = &self.unreachable {
            let message = format!("{reason}; nothing was sent to it");
            return Err(DeliveryError {
                destination: self.target.to_string(),
                undelivered: Undelivered::of(
                    spans,
                    &Sent::not_sent(spans.len(), &message),
                    operations,
                    &Sent::not_sent(operations.len(), &message),
                )
                .map(Box::new),
                message,
            });
        }
        let (spans_sent, operations_sent) = self.send_apart(spans, stand_ins, operations);
        // Every trace of an evaluation is linked to its MLflow run, as
        // `mlflow.genai.evaluate` links them (idempotent; a trace need not
        // have arrived).
        let linked = match (&self.sink, &self.mlflow_run) {
            #[cfg(feature = "mlflow")]
            (Sink::Mlflow(sink), Some(run)) => {
                sink.link_traces(run, &all_traces(spans, operations)).err()
            }
            _ => None,
        };
        let failed: Vec<&SinkError> = [&spans_sent.error, &operations_sent.error, &linked]
            .into_iter()
            .flatten()
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        Err(DeliveryError {
            destination: self.target.to_string(),
            message: failed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            undelivered: Undelivered::of(spans, &spans_sent, operations, &operations_sent)
                .map(Box::new),
        })
    }

    /// What became of the spans and of the operations. Operations whose
    /// spans failed are not sent (a server should know a trace before its
    /// assessments): each is deferred, for that reason.
    fn send_apart(
        &self,
        spans: &[StoredSpan],
        stand_ins: &[StoredSpan],
        operations: &[Operation],
    ) -> (Sent, Sent) {
        let held_back = || {
            Sent::not_sent(
                operations.len(),
                "not sent: the spans sent before them were not all delivered",
            )
        };
        // Spans, then the operations only if the spans went.
        let in_order = |spans_sent: Sent, send_operations: &dyn Fn() -> Sent| {
            if spans_sent.error.is_some() {
                (spans_sent, held_back())
            } else {
                (spans_sent, send_operations())
            }
        };
        let some_spans = |send: &dyn Fn() -> std::result::Result<(), SinkError>| {
            if spans.is_empty() {
                Sent::of(Ok(()), 0)
            } else {
                Sent::of(send(), spans.len())
            }
        };
        // Stand-ins are for MLflow only.
        #[cfg(not(feature = "mlflow"))]
        let _ = stand_ins;
        let sent = |result: std::result::Result<(), SinkError>| Sent::of(result, operations.len());
        match &self.sink {
            #[cfg(feature = "otlp")]
            Sink::Otlp(otlp) => in_order(
                some_spans(&|| otlp.spans.export_stored_spans(spans)),
                &|| sent(otlp.sink.export(operations)),
            ),
            #[cfg(feature = "mlflow")]
            Sink::Mlflow(sink) => {
                // New traces with their new assessments go together (one
                // request creates a trace with its assessments inline);
                // updates and deletions go one by one after the spans.
                // An evaluation's assessments carry its MLflow run's id.
                let logged: Option<Vec<Assessment>> = operations
                    .iter()
                    .map(|operation| match (operation, &self.mlflow_run) {
                        (Operation::Log(a), Some(run)) => {
                            let mut a = a.clone();
                            a.set_run_id(Some(run.clone()));
                            Some(a)
                        }
                        (Operation::Log(a), None) => Some(a.clone()),
                        _ => None,
                    })
                    .collect();
                let data = spans
                    .iter()
                    .map(StoredSpan::to_span_data)
                    .collect::<verdict::Result<Vec<_>>>();
                // A stand-in that cannot be made is left out: its trace's
                // assessments then meet the usual retries.
                let stand_ins: Vec<_> = stand_ins
                    .iter()
                    .filter_map(|s| s.to_span_data().ok())
                    .collect();
                match (logged, data) {
                    (_, Err(e)) => {
                        let why = format!("a span cannot be sent as it is stored: {e}");
                        let refused = Outcomes::every(Outcome::refused(why.as_str()), spans.len());
                        (
                            Sent::of(refused.into_result("spans"), spans.len()),
                            held_back(),
                        )
                    }
                    (Some(assessments), Ok(spans)) => {
                        // The run's own traces are new: created without
                        // being read first.
                        let new = |trace: TraceId| {
                            self.new_traces
                                .is_some_and(|ids| (trace.to_bytes()[..8]) == ids.to_be_bytes())
                        };
                        let (spans_sent, assessments_sent) =
                            sink.export_traces_standing_in(&spans, &stand_ins, &assessments, &new);
                        (Sent::of(spans_sent, spans.len()), sent(assessments_sent))
                    }
                    (None, Ok(_)) => in_order(
                        some_spans(&|| SpanSink::export_stored_spans(sink.as_ref(), spans)),
                        &|| sent(AssessmentSink::export(sink.as_ref(), operations)),
                    ),
                }
            }
            #[cfg(feature = "phoenix")]
            Sink::Phoenix(sink) => in_order(
                some_spans(&|| SpanSink::export_stored_spans(sink.as_ref(), spans)),
                &|| sent(AssessmentSink::export(sink.as_ref(), operations)),
            ),
            #[cfg(feature = "jsonl")]
            Sink::Jsonl(sink) => in_order(
                some_spans(&|| SpanSink::export_stored_spans(sink, spans)),
                &|| sent(AssessmentSink::export(sink, operations)),
            ),
        }
    }

    /// Delivers what is buffered.
    pub fn finish(&self) -> Result<(), DeliveryError> {
        let failed = |e: SinkError| DeliveryError {
            destination: self.target.to_string(),
            message: e.to_string(),
            undelivered: None,
        };
        match &self.sink {
            #[cfg(feature = "otlp")]
            Sink::Otlp(otlp) => otlp.exporter.flush().map_err(failed),
            #[cfg(feature = "mlflow")]
            Sink::Mlflow(sink) => AssessmentSink::flush(sink.as_ref()).map_err(failed),
            #[cfg(feature = "phoenix")]
            Sink::Phoenix(sink) => AssessmentSink::flush(sink.as_ref()).map_err(failed),
            #[cfg(feature = "jsonl")]
            Sink::Jsonl(sink) => sink
                .flush()
                .map_err(|e| failed(SinkError::with_source("flushing", e))),
        }
    }
}

/// Where OTLP spans go, as the OpenTelemetry SDK resolves it from the
/// environment.
fn otlp_traces_endpoint() -> String {
    let set = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").unwrap_or_else(|| {
        let base = set("OTEL_EXPORTER_OTLP_ENDPOINT")
            .unwrap_or_else(|| "http://localhost:4318".to_owned());
        format!("{}/v1/traces", base.trim_end_matches('/'))
    })
}

/// A service records to a destination as to any sink: the error carries
/// each item's outcome, and names what was not delivered.
impl AssessmentSink for Destination {
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        self.send(&[], batch)
            .map_err(|e| sink_error(e, |u| &u.operation_outcomes))
    }

    fn flush(&self) -> Result<(), SinkError> {
        // Of no batch: its error has no outcomes.
        self.finish().map_err(|e| SinkError::new(e.to_string()))
    }

    /// Tells the destination's sink: the MLflow and Phoenix sinks stop
    /// retrying at it.
    fn set_deadline(&self, deadline: Option<std::time::Instant>) {
        match &self.sink {
            #[cfg(feature = "otlp")]
            Sink::Otlp(otlp) => otlp.sink.set_deadline(deadline),
            #[cfg(feature = "mlflow")]
            Sink::Mlflow(sink) => sink.set_deadline(deadline),
            #[cfg(feature = "phoenix")]
            Sink::Phoenix(sink) => sink.set_deadline(deadline),
            #[cfg(feature = "jsonl")]
            Sink::Jsonl(sink) => sink.set_deadline(deadline),
        }
    }

    fn name(&self) -> &str {
        match self.target {
            ExportTarget::Otlp => "otlp",
            ExportTarget::Mlflow => "mlflow",
            ExportTarget::Phoenix => "phoenix",
            ExportTarget::Jsonl(_) => "jsonl",
        }
    }
}

impl SpanSink for Destination {
    fn export_spans(&self, spans: &[opentelemetry_sdk::trace::SpanData]) -> Result<(), SinkError> {
        let stored: Vec<StoredSpan> = spans.iter().map(StoredSpan::from).collect();
        self.export_stored_spans(&stored)
    }

    fn export_stored_spans(&self, spans: &[StoredSpan]) -> Result<(), SinkError> {
        self.send(spans, &[])
            .map_err(|e| sink_error(e, |u| &u.span_outcomes))
    }

    fn flush_spans(&self) -> Result<(), SinkError> {
        // Of no batch: its error has no outcomes.
        self.finish().map_err(|e| SinkError::new(e.to_string()))
    }
}

/// A destination's error as a sink reports it: with the outcomes of the
/// items it was given (`items`: those of its spans or of its operations),
/// when it said.
fn sink_error(error: DeliveryError, items: fn(&Undelivered) -> &Outcomes) -> SinkError {
    let outcomes = error
        .undelivered
        .as_deref()
        .map(|u| items(u).as_slice().to_vec());
    let sink_error = SinkError::new(error.to_string());
    match outcomes {
        Some(outcomes) => sink_error.with_outcomes(outcomes),
        None => sink_error,
    }
}

/// How long a destination is given to answer when it is opened: a server
/// that is starting may refuse connections for a few seconds.
#[cfg(any(feature = "mlflow", feature = "phoenix"))]
const REACHABLE_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// What a sink made of the spans or the operations it was sent: each
/// item's outcome, and the error it returned, if it failed.
struct Sent {
    outcomes: Outcomes,
    error: Option<SinkError>,
}

impl Sent {
    /// What a sink returned for `len` items.
    fn of(result: std::result::Result<(), SinkError>, len: usize) -> Self {
        Sent {
            outcomes: Outcomes::of(&result, len),
            error: result.err(),
        }
    }

    /// `len` items not sent, for `why`: each deferred.
    fn not_sent(len: usize, why: &str) -> Self {
        Sent {
            outcomes: Outcomes::every(Outcome::deferred(why), len),
            error: None,
        }
    }
}

/// What a [`Destination`] did not deliver of one
/// [`send`](Destination::send), as its sink said item by item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Undelivered {
    /// Spans not delivered: failed, or only kept to send later (held, or
    /// spooled locally).
    pub spans: usize,
    /// Spans sent.
    pub spans_of: usize,
    /// Operations (assessments logged, updated, deleted) not delivered,
    /// as spans are counted.
    pub operations: usize,
    /// Operations sent.
    pub operations_of: usize,
    /// The traces of what was not delivered, in the order sent.
    pub traces: Vec<TraceId>,
    /// What became of each span, in the order sent.
    pub span_outcomes: Outcomes,
    /// What became of each operation, in the order sent (those not sent
    /// because their spans failed deferred).
    pub operation_outcomes: Outcomes,
}

impl Undelivered {
    /// From what became of each part; `None` when a sink that failed gave
    /// no outcome per item (a JSONL file that failed mid-write).
    fn of(
        spans: &[StoredSpan],
        spans_sent: &Sent,
        operations: &[Operation],
        operations_sent: &Sent,
    ) -> Option<Self> {
        let (span_outcomes, operation_outcomes) = (&spans_sent.outcomes, &operations_sent.outcomes);
        if !span_outcomes.itemized() || !operation_outcomes.itemized() {
            return None;
        }
        // Failed, or kept to send later (held, spooled): not delivered.
        let not_delivered = |outcomes: &Outcomes| -> Vec<usize> {
            outcomes
                .iter()
                .filter(|(_, outcome)| !outcome.is_delivered())
                .map(|(i, _)| i)
                .collect()
        };
        let failed_spans = not_delivered(span_outcomes);
        let failed_operations = not_delivered(operation_outcomes);
        let traces = distinct(
            failed_spans
                .iter()
                .map(|&i| spans[i].trace_id)
                .chain(failed_operations.iter().map(|&i| operations[i].trace_id())),
        );
        Some(Undelivered {
            spans: failed_spans.len(),
            spans_of: spans.len(),
            operations: failed_operations.len(),
            operations_of: operations.len(),
            traces,
            span_outcomes: span_outcomes.clone(),
            operation_outcomes: operation_outcomes.clone(),
        })
    }
}

impl fmt::Display for Undelivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let traces = self.traces.len();
        write!(
            f,
            "{} of {} spans and {} of {} assessments not delivered, of {traces} {}",
            self.spans,
            self.spans_of,
            self.operations,
            self.operations_of,
            if traces == 1 { "trace" } else { "traces" }
        )
    }
}

/// How many traces a [`DeliveryFailure`] names.
pub const TRACES_NAMED: usize = 10;

/// How many distinct error messages a [`DeliveryFailure`] keeps.
const ERRORS_KEPT: usize = 5;

/// What one `--export` destination did not deliver of a whole run.
///
/// A run goes on when a destination fails: the local store keeps every
/// record, and each destination's failures are added up here, exactly
/// when the destination said what became of each item (every sink but a
/// JSONL file that failed mid-write).
/// After a chunk of which a destination took nothing (it is down, or
/// refuses everything), the run sends it nothing more, so that a server
/// that is down costs one chunk's timeouts and retries, not every
/// chunk's; what it was not sent is counted here too.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeliveryFailure {
    /// The destination, as the user named it (`otlp`, `mlflow`,
    /// `phoenix`, `jsonl:PATH`).
    pub destination: String,
    /// Spans not delivered.
    pub spans: u64,
    /// Spans the run had for it.
    pub spans_of: u64,
    /// Assessments not delivered.
    pub assessments: u64,
    /// Assessments the run had for it.
    pub assessments_of: u64,
    /// Whether some of the counts are whole chunks that the destination
    /// failed without an outcome per item (a JSONL file that failed
    /// mid-write): some of those may have arrived.
    #[serde(default)]
    pub counted_whole: bool,
    /// Whether the run sent it none of its later chunks, after a chunk
    /// it took none of.
    #[serde(default)]
    pub stopped_sending: bool,
    /// The first [`TRACES_NAMED`] traces of what was not delivered, as
    /// MLflow writes their ids, when the destination said which.
    #[serde(default)]
    pub traces: Vec<String>,
    /// Whether more traces than those named were not delivered (or some
    /// were, unnamed).
    #[serde(default)]
    pub more_traces: bool,
    /// What the destination said, each distinct message once (the first
    /// few).
    #[serde(default)]
    pub errors: Vec<String>,
}

impl fmt::Display for DeliveryFailure {
    /// "N of M spans and K of L assessments were not delivered to X
    /// (notes): errors".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.spans + self.assessments == 0 {
            write!(f, "not everything was delivered to {}", self.destination)?;
        } else {
            write!(
                f,
                "{} of {} spans and {} of {} assessments were not delivered to {}",
                self.spans, self.spans_of, self.assessments, self.assessments_of, self.destination
            )?;
        }
        let mut notes = Vec::new();
        if self.stopped_sending {
            notes.push("nothing more was sent to it after a chunk it took none of");
        }
        if self.counted_whole {
            notes.push(
                "chunks it failed without an outcome per item are counted whole, and some of \
                 them may have arrived",
            );
        }
        if !notes.is_empty() {
            write!(f, " ({})", notes.join("; "))?;
        }
        if !self.errors.is_empty() {
            write!(f, ": {}", self.errors.join("; "))?;
        }
        Ok(())
    }
}

/// Sends a run's chunks to one destination, and adds up what it did not
/// deliver.
pub struct Tally<'a> {
    destination: &'a Destination,
    failure: DeliveryFailure,
    failed: bool,
    /// It took none of a chunk: nothing more is sent to it.
    given_up: bool,
}

impl<'a> Tally<'a> {
    /// Counts what `destination` does not deliver of what it is sent.
    pub fn new(destination: &'a Destination) -> Self {
        Tally {
            destination,
            failure: DeliveryFailure {
                destination: destination.target.to_string(),
                ..DeliveryFailure::default()
            },
            failed: false,
            given_up: false,
        }
    }

    /// Sends one chunk (unless the destination took none of an earlier
    /// one) and counts what it did not deliver.
    pub fn send(
        &mut self,
        spans: &[StoredSpan],
        stand_ins: &[StoredSpan],
        operations: &[Operation],
    ) {
        let failure = &mut self.failure;
        failure.spans_of += spans.len() as u64;
        failure.assessments_of += operations.len() as u64;
        if self.given_up {
            failure.stopped_sending = true;
            self.not_delivered(spans.len(), operations.len(), all_traces(spans, operations));
            return;
        }
        let Err(error) = self
            .destination
            .send_standing_in(spans, stand_ins, operations)
        else {
            return;
        };
        let (span_count, operation_count, traces) = match &error.undelivered {
            Some(u) => (u.spans, u.operations, u.traces.clone()),
            None => {
                // No outcome per item: the whole chunk, some of which may
                // have arrived.
                self.failure.counted_whole = true;
                (spans.len(), operations.len(), all_traces(spans, operations))
            }
        };
        self.note(error.message.clone());
        self.not_delivered(span_count, operation_count, traces);
        self.given_up = span_count == spans.len() && operation_count == operations.len();
        if self.given_up {
            self.destination.given_up.store(true, Ordering::Relaxed);
        }
    }

    fn not_delivered(&mut self, spans: usize, operations: usize, traces: Vec<TraceId>) {
        self.failed = true;
        let failure = &mut self.failure;
        failure.spans += spans as u64;
        failure.assessments += operations as u64;
        for trace in traces {
            let id = verdict::mlflow_trace_id(trace);
            if failure.traces.contains(&id) {
                continue;
            }
            if failure.traces.len() < TRACES_NAMED {
                failure.traces.push(id);
            } else {
                failure.more_traces = true;
            }
        }
    }

    fn note(&mut self, message: String) {
        self.failed = true;
        let errors = &mut self.failure.errors;
        if errors.len() < ERRORS_KEPT && !errors.contains(&message) {
            errors.push(message);
        }
    }

    /// Delivers what the destination buffers; what it did not deliver of
    /// the run, if anything.
    pub fn finish(mut self) -> Option<DeliveryFailure> {
        if !self.given_up
            && let Err(error) = self.destination.finish()
        {
            self.note(format!(
                "at the end, delivering what it buffered: {}",
                error.message
            ));
        }
        self.failed.then_some(self.failure)
    }
}

/// The distinct traces of spans and operations, in order.
fn all_traces(spans: &[StoredSpan], operations: &[Operation]) -> Vec<TraceId> {
    distinct(
        spans
            .iter()
            .map(|s| s.trace_id)
            .chain(operations.iter().map(Operation::trace_id)),
    )
}

/// Each trace once, in the order first seen.
fn distinct(ids: impl Iterator<Item = TraceId>) -> Vec<TraceId> {
    let mut seen = std::collections::HashSet::new();
    ids.filter(|id| seen.insert(*id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict::Assessment;

    fn operations(traces: &[u128]) -> Vec<Operation> {
        traces
            .iter()
            .map(|&t| {
                Operation::Log(
                    Assessment::feedback("ok", true)
                        .on_trace(&format!("{t:032x}"), None)
                        .unwrap(),
                )
            })
            .collect()
    }

    fn stored_spans(traces: &[u128]) -> Vec<StoredSpan> {
        traces
            .iter()
            .map(|&t| {
                use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags};
                StoredSpan::from(&opentelemetry_sdk::trace::SpanData {
                    span_context: SpanContext::new(
                        TraceId::from(t),
                        SpanId::from(t as u64 + 1),
                        TraceFlags::SAMPLED,
                        false,
                        Default::default(),
                    ),
                    parent_span_id: SpanId::INVALID,
                    parent_span_is_remote: false,
                    span_kind: SpanKind::Internal,
                    name: "answer".into(),
                    start_time: std::time::SystemTime::UNIX_EPOCH,
                    end_time: std::time::SystemTime::UNIX_EPOCH,
                    attributes: Vec::new(),
                    dropped_attributes_count: 0,
                    events: Default::default(),
                    links: Default::default(),
                    status: Status::Unset,
                    instrumentation_scope: Default::default(),
                })
            })
            .collect()
    }

    #[test]
    fn each_items_outcome_is_counted_and_names_its_trace() {
        let ops = operations(&[1, 2, 3, 2]);
        // Delivered the first and third; refused the second, deferred the
        // fourth (both of trace 2).
        let sent = Sent::of(
            Err(SinkError::new("2 of 4 failed").with_outcomes(vec![
                Outcome::Delivered,
                Outcome::refused("invalid"),
                Outcome::Delivered,
                Outcome::deferred("503"),
            ])),
            4,
        );
        let u = Undelivered::of(&[], &Sent::of(Ok(()), 0), &ops, &sent).unwrap();
        assert_eq!((u.spans, u.operations, u.operations_of), (0, 2, 4));
        assert_eq!(u.traces, vec![TraceId::from(2u128)]);
        assert_eq!(u.operation_outcomes.refused_at(), vec![1]);
        assert_eq!(u.operation_outcomes.deferred_at(), vec![3]);
        assert_eq!(
            u.to_string(),
            "0 of 0 spans and 2 of 4 assessments not delivered, of 1 trace"
        );
    }

    /// An item a sink kept to send later (held, or written to a local
    /// spool) has not reached the destination: it is counted, and its
    /// trace named, with those that failed.
    #[test]
    fn kept_items_are_not_delivered() {
        let spans = stored_spans(&[4, 5]);
        let ops = operations(&[4, 5, 6]);
        let spans_sent = Sent::of(
            Err(SinkError::new("kept").with_outcomes(vec![Outcome::Spooled, Outcome::Delivered])),
            2,
        );
        let operations_sent = Sent::of(
            Err(SinkError::new("kept").with_outcomes(vec![
                Outcome::Delivered,
                Outcome::Held,
                Outcome::Spooled,
            ])),
            3,
        );
        let u = Undelivered::of(&spans, &spans_sent, &ops, &operations_sent).unwrap();
        assert_eq!((u.spans, u.operations), (1, 2), "{u:?}");
        assert_eq!(
            u.traces,
            vec![
                TraceId::from(4u128),
                TraceId::from(5u128),
                TraceId::from(6u128)
            ]
        );
        assert_eq!(
            u.to_string(),
            "1 of 2 spans and 2 of 3 assessments not delivered, of 3 traces"
        );
    }

    #[test]
    fn failed_spans_name_their_traces_and_the_operations_held_back_count() {
        let spans = stored_spans(&[7, 8]);
        let ops = operations(&[7, 8]);
        let spans_sent = Sent::of(
            Err(SinkError::new("x")
                .with_outcomes(vec![Outcome::Delivered, Outcome::deferred("timeout")])),
            2,
        );
        let held_back = Sent::not_sent(2, "not sent");
        let u = Undelivered::of(&spans, &spans_sent, &ops, &held_back).unwrap();
        assert_eq!((u.spans, u.operations), (1, 2));
        assert_eq!(u.traces, vec![TraceId::from(8u128), TraceId::from(7u128)]);
        assert_eq!(u.operation_outcomes.deferred(), 2);
    }

    /// Run by `.ci/run` in a build with the `otlp` feature alone.
    #[cfg(not(feature = "mlflow"))]
    #[test]
    fn a_sink_without_outcomes_leaves_the_count_unknown() {
        let ops = operations(&[1]);
        let sent = Sent::of(Err(SinkError::new("disk full")), 1);
        assert_eq!(
            Undelivered::of(&[], &Sent::of(Ok(()), 0), &ops, &sent),
            None
        );
    }

    #[cfg(feature = "jsonl")]
    #[test]
    fn a_jsonl_file_that_fails_mid_write_is_counted_whole() {
        // /dev/full takes the open and fails every write once the buffer
        // spills: the sink cannot say which lines arrived.
        let destination = Destination::open(ExportTarget::Jsonl("/dev/full".into())).unwrap();
        let mut tally = Tally::new(&destination);
        let many: Vec<u128> = (1..=200).collect();
        tally.send(&[], &[], &operations(&many));
        let failure = tally.finish().expect("a failure");
        assert!(failure.counted_whole, "{failure:?}");
        assert_eq!((failure.assessments, failure.assessments_of), (200, 200));
        assert!(failure.to_string().contains("counted whole"), "{failure}");
    }
}
