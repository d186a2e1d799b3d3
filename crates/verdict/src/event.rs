//! Assessments as OpenTelemetry events: `gen_ai.evaluation.result` log
//! records, parented to the assessed span.
//!
//! The semantic conventions cover the name, the score, the explanation and
//! the error type; everything else an assessment carries (its source, id,
//! kind, override, run, metadata, and values that are neither a number nor
//! a label) goes into attributes under `verdict.assessment.`.

use std::time::SystemTime;

use opentelemetry::logs::{AnyValue, LogRecord, Logger, Severity};
use opentelemetry::trace::SpanId;

use crate::assessment::{Assessment, AssessmentValue};
use crate::sink::{AssessmentSink, Operation, SinkError};

/// The event name of an evaluation result.
pub const EVENT_NAME: &str = "gen_ai.evaluation.result";

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

/// Fills `record` with the evaluation event of `assessment`: event name,
/// trace context, timestamps, severity and attributes. No body.
pub fn fill_log_record<R: LogRecord>(assessment: &Assessment, record: &mut R) {
    use attributes::*;

    record.set_event_name(EVENT_NAME);
    record.set_trace_context(
        assessment.trace_id(),
        assessment.span_id().unwrap_or(SpanId::INVALID),
        None,
    );
    record.set_timestamp(assessment.create_time());
    record.set_observed_timestamp(SystemTime::now());
    record.set_severity_number(Severity::Info);
    record.set_severity_text(Severity::Info.name());

    record.add_attribute(EVALUATION_NAME, assessment.name().as_str().to_owned());
    match assessment.value() {
        AssessmentValue::Feedback { value, error } => {
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
        }
        AssessmentValue::Expectation(value) => {
            record.add_attribute(VALUE_JSON, value.to_string());
        }
    }
    if let Some(rationale) = assessment.rationale() {
        record.add_attribute(EXPLANATION, rationale.to_owned());
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

/// A sink that emits every logged assessment as a `gen_ai.evaluation.result`
/// event through an OpenTelemetry [`Logger`].
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
/// # Ok::<(), verdict::Error>(())
/// ```
#[derive(Debug)]
pub struct EventSink<L> {
    logger: L,
}

impl<L: Logger> EventSink<L> {
    /// Emits through `logger`.
    pub fn new(logger: L) -> Self {
        EventSink { logger }
    }
}

impl<L> AssessmentSink for EventSink<L>
where
    L: Logger + Send + Sync + 'static,
{
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        for op in batch {
            if let Operation::Log(assessment) = op {
                let mut record = self.logger.create_log_record();
                fill_log_record(assessment, &mut record);
                self.logger.emit(record);
            }
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "opentelemetry-events"
    }
}
