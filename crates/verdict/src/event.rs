//! Assessments as OpenTelemetry events: feedback as
//! `gen_ai.evaluation.result` log records, expectations as
//! `verdict.expectation` ones, parented to the assessed span.
//!
//! The semantic conventions cover the name, the score, the explanation and
//! the error type of an evaluation; everything else an assessment carries
//! (its source, id, kind, override, run, metadata, and values that are
//! neither a number nor a label) goes into attributes under
//! `verdict.assessment.`.
//!
//! An expectation is ground truth, not the result of an evaluation, so it
//! is not sent as one (a consumer of `gen_ai.evaluation.result` would count
//! it as a score-less evaluation): it is an event of Verdict's own name,
//! [`EXPECTATION_EVENT_NAME`], on the same span, with the name in
//! [`attributes::NAME`] and the value as JSON in [`attributes::VALUE_JSON`].
//! Find them in a backend by that event name, or by
//! `verdict.assessment.kind = expectation`, which every event carries.
//!
//! An assessment of a whole trace (no span id) is parented to the trace's
//! root span when the sink knows it ([`EventSink::with_root_spans`]; the
//! OTLP exporter knows the roots of the spans it has sent), and to no span
//! otherwise; either way it carries [`attributes::ON_TRACE`], so that it is
//! not read as judging the root span alone.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::logs::{AnyValue, LogRecord, Logger, Severity};
use opentelemetry::trace::{SpanId, TraceId};

use crate::assessment::{Assessment, AssessmentValue};
use crate::sink::{AssessmentSink, Operation, SinkError};

/// The event name of an evaluation result (feedback).
pub const EVENT_NAME: &str = "gen_ai.evaluation.result";

/// The event name of an expectation: ground truth, which the semantic
/// conventions do not cover, in Verdict's own namespace.
pub const EXPECTATION_EVENT_NAME: &str = "verdict.expectation";

/// Attribute keys of the evaluation event.
pub mod attributes {
    /// The assessment's name (semantic conventions).
    pub const EVALUATION_NAME: &str = "gen_ai.evaluation.name";
    /// A number, or a bool as 1 or 0 (semantic conventions).
    pub const SCORE_VALUE: &str = "gen_ai.evaluation.score.value";
    /// A label, or a bool as `pass` or `fail` (semantic conventions).
    pub const SCORE_LABEL: &str = "gen_ai.evaluation.score.label";
    /// The rationale (semantic conventions).
    pub const EXPLANATION: &str = "gen_ai.evaluation.explanation";
    /// The error code of a failed evaluation (semantic conventions).
    pub const ERROR_TYPE: &str = "error.type";
    /// The name of an expectation (feedback names are in
    /// [`EVALUATION_NAME`]).
    pub const NAME: &str = "verdict.assessment.name";
    /// The rationale of an expectation (feedback's is in [`EXPLANATION`]).
    pub const RATIONALE: &str = "verdict.assessment.rationale";
    /// `true` on the event of an assessment of a whole trace, which is
    /// parented to the trace's root span when it is known.
    pub const ON_TRACE: &str = "verdict.assessment.on_trace";
    /// The assessment id, `a-<hex>`.
    pub const ASSESSMENT_ID: &str = "verdict.assessment.id";
    /// `feedback` or `expectation`.
    pub const KIND: &str = "verdict.assessment.kind";
    /// `HUMAN`, `LLM_JUDGE` or `CODE`.
    pub const SOURCE_TYPE: &str = "verdict.assessment.source.type";
    /// Who or what made the assessment.
    pub const SOURCE_ID: &str = "verdict.assessment.source.id";
    /// The id of the assessment this one overrides.
    pub const OVERRIDES: &str = "verdict.assessment.overrides";
    /// The MLflow run id.
    pub const RUN_ID: &str = "verdict.assessment.run_id";
    /// The value as JSON text, for expectations and for feedback that is a
    /// list or an object.
    pub const VALUE_JSON: &str = "verdict.assessment.value";
    /// The error message of a failed evaluation.
    pub const ERROR_MESSAGE: &str = "verdict.assessment.error.message";
    /// The prefix of metadata entries: `verdict.assessment.metadata.<key>`.
    pub const METADATA_PREFIX: &str = "verdict.assessment.metadata.";
}

/// Fills `record` with the event of `assessment`: event name
/// ([`EVENT_NAME`] for feedback, [`EXPECTATION_EVENT_NAME`] for an
/// expectation), trace context, timestamps, severity and attributes. No
/// body. An assessment of a whole trace is parented to no span; see
/// [`fill_log_record_with_root`].
pub fn fill_log_record<R: LogRecord>(assessment: &Assessment, record: &mut R) {
    fill_log_record_with_root(assessment, None, record);
}

/// As [`fill_log_record`], with the root span of the assessment's trace
/// when it is known: an assessment of a whole trace is then parented to
/// it. An assessment of a span is parented to its span whatever `root` is.
pub fn fill_log_record_with_root<R: LogRecord>(
    assessment: &Assessment,
    root: Option<SpanId>,
    record: &mut R,
) {
    use attributes::*;

    let expectation = matches!(assessment.value(), AssessmentValue::Expectation(_));
    record.set_event_name(if expectation {
        EXPECTATION_EVENT_NAME
    } else {
        EVENT_NAME
    });
    let span_id = assessment.span_id().or(root).unwrap_or(SpanId::INVALID);
    record.set_trace_context(assessment.trace_id(), span_id, None);
    record.set_timestamp(assessment.create_time());
    record.set_observed_timestamp(SystemTime::now());
    record.set_severity_number(Severity::Info);
    record.set_severity_text(Severity::Info.name());

    let name = assessment.name().as_str().to_owned();
    match assessment.value() {
        AssessmentValue::Feedback { value, error } => {
            record.add_attribute(EVALUATION_NAME, name);
            if let Some(value) = value {
                let score = value.as_score();
                let label = value.as_label();
                if let Some(score) = score {
                    record.add_attribute(SCORE_VALUE, score);
                }
                if let Some(label) = label {
                    record.add_attribute(SCORE_LABEL, label.to_owned());
                }
                if score.is_none() && label.is_none() {
                    record.add_attribute(VALUE_JSON, value.to_json().to_string());
                }
            }
            if let Some(error) = error {
                record.add_attribute(ERROR_TYPE, error.error_code.clone());
                if let Some(message) = &error.error_message {
                    record.add_attribute(ERROR_MESSAGE, message.clone());
                }
            }
            if let Some(rationale) = assessment.rationale() {
                record.add_attribute(EXPLANATION, rationale.to_owned());
            }
        }
        AssessmentValue::Expectation(value) => {
            record.add_attribute(NAME, name);
            record.add_attribute(VALUE_JSON, value.to_string());
            if let Some(rationale) = assessment.rationale() {
                record.add_attribute(RATIONALE, rationale.to_owned());
            }
        }
    }
    if assessment.span_id().is_none() {
        record.add_attribute(ON_TRACE, true);
    }
    record.add_attribute(ASSESSMENT_ID, assessment.id().to_string());
    record.add_attribute(KIND, assessment.kind().as_str());
    record.add_attribute(SOURCE_TYPE, assessment.source().source_type().as_str());
    record.add_attribute(SOURCE_ID, assessment.source().source_id().to_owned());
    if let Some(overrides) = assessment.overrides() {
        record.add_attribute(OVERRIDES, overrides.to_string());
    }
    if let Some(run_id) = assessment.run_id() {
        record.add_attribute(RUN_ID, run_id.to_owned());
    }
    for (key, value) in assessment.metadata() {
        record.add_attribute(
            format!("{METADATA_PREFIX}{key}"),
            AnyValue::from(value.clone()),
        );
    }
}

/// Finds the root span of a trace, for [`EventSink::with_root_spans`].
pub type RootSpans = Arc<dyn Fn(TraceId) -> Option<SpanId> + Send + Sync>;

/// A sink that emits every logged assessment as an event through an
/// OpenTelemetry [`Logger`]: feedback as `gen_ai.evaluation.result`,
/// expectations as `verdict.expectation` (see the [module docs](self)).
///
/// Updates and deletions emit nothing: an event records an evaluation as
/// it happened. Flushing the logger's provider is the provider owner's job.
///
/// ```
/// use opentelemetry::logs::LoggerProvider as _;
/// use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
/// use verdict::{Assessment, EventSink, Recorder};
///
/// let exporter = InMemoryLogExporter::default();
/// let provider = SdkLoggerProvider::builder()
///     .with_simple_exporter(exporter.clone())
///     .build();
/// let recorder = Recorder::builder()
///     .sink(EventSink::new(provider.logger("verdict")))
///     .build();
/// let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
/// recorder.record(Assessment::feedback("ok", true).on_trace(trace, None)?)?;
/// recorder.flush()?;
/// assert_eq!(exporter.get_emitted_logs().unwrap().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EventSink<L> {
    logger: L,
    roots: Option<RootSpans>,
}

impl<L: fmt::Debug> fmt::Debug for EventSink<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSink")
            .field("logger", &self.logger)
            .field("root_spans", &self.roots.is_some())
            .finish()
    }
}

impl<L: Logger> EventSink<L> {
    /// Emits through `logger`.
    pub fn new(logger: L) -> Self {
        EventSink {
            logger,
            roots: None,
        }
    }

    /// Parents the event of an assessment of a whole trace to the span
    /// `roots` names as the trace's root, when it names one.
    #[must_use]
    pub fn with_root_spans(mut self, roots: RootSpans) -> Self {
        self.roots = Some(roots);
        self
    }
}

impl<L> AssessmentSink for EventSink<L>
where
    L: Logger + Send + Sync + 'static,
{
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        for op in batch {
            if let Operation::Log(assessment) = op {
                let root = match (assessment.span_id(), &self.roots) {
                    (None, Some(roots)) => roots(assessment.trace_id()),
                    _ => None,
                };
                let mut record = self.logger.create_log_record();
                fill_log_record_with_root(assessment, root, &mut record);
                self.logger.emit(record);
            }
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "opentelemetry-events"
    }
}
