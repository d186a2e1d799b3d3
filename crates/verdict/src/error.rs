//! The core's two errors, each returned only where it can happen:
//! [`Error`], what is wrong with an assessment or with a change to one, and
//! [`RecorderError`], what recording and delivering report.

use crate::sink::SinkError;

/// What is wrong with an assessment or with a change to one: building,
/// attaching, parsing and decoding (names, ids, values, JSON), and the
/// lifecycle rules a store applies (an unknown id, a taken id, an override
/// that cannot be). Recording and delivering fail with [`RecorderError`]
/// instead.
///
/// Each message says what was wrong and what is allowed, so that it can be
/// shown to a person as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An assessment name broke a naming rule.
    #[error("invalid assessment name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it broke, and what is allowed.
        reason: &'static str,
    },

    /// A trace, span or assessment id did not have the expected shape.
    #[error("invalid {kind} {value:?}: expected {expected}")]
    InvalidId {
        /// What kind of id: "trace id", "span id", "assessment id".
        kind: &'static str,
        /// The id as given (cut to a readable length).
        value: String,
        /// The accepted shape.
        expected: &'static str,
    },

    /// A value that cannot be stored: a NaN or infinite number, a `null`
    /// where a value is required, a source id that is empty.
    #[error("invalid value for {field}: {reason}")]
    InvalidValue {
        /// The field or assessment the value was meant for.
        field: String,
        /// What was wrong and what is allowed.
        reason: String,
    },

    /// A feedback with neither a value nor an error.
    #[error(
        "feedback {name:?} has neither a value nor an error: give it a value (bool, number, \
         string, list or object) or an AssessmentError saying why the evaluation failed"
    )]
    EmptyFeedback {
        /// The feedback's name.
        name: String,
    },

    /// An expectation with an error. Expectations are ground truth; only
    /// feedback records a failed evaluation.
    #[error(
        "expectation {name:?} carries an error: expectations are ground truth and never carry \
         one; record a feedback with an AssessmentError instead"
    )]
    ExpectationWithError {
        /// The expectation's name.
        name: String,
    },

    /// The OpenTelemetry context or `tracing` span to attach to has no
    /// valid span.
    #[error("no active span to attach the assessment to: {hint}")]
    NoActiveSpan {
        /// Where we looked and how to fix it.
        hint: &'static str,
    },

    /// A JSON document is not an MLflow assessment.
    #[error("invalid assessment JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// An update changed an assessment's kind, e.g. gave an expectation a
    /// feedback value.
    #[error("cannot update {kind} {id} with a {given} value: an assessment keeps its kind")]
    KindMismatch {
        /// The assessment's id.
        id: String,
        /// Its kind: "feedback" or "expectation".
        kind: &'static str,
        /// The kind of the value in the update.
        given: &'static str,
    },

    /// No assessment with this id exists in the store.
    #[error("no assessment {id} in trace {trace_id}")]
    NotFound {
        /// The assessment id looked for.
        id: String,
        /// The trace it was looked for in, as `tr-<hex>`.
        trace_id: String,
    },

    /// Logging an assessment whose id is already taken by a different
    /// assessment. Logging the very same assessment twice is not an error.
    #[error("assessment id {id} is already used by a different assessment")]
    DuplicateId {
        /// The id.
        id: String,
    },

    /// An override pointing at something that cannot be overridden.
    #[error("cannot override {id}: {reason}")]
    InvalidOverride {
        /// The overridden id.
        id: String,
        /// Why.
        reason: &'static str,
    },

    /// A store could not read or write its records (a database or file
    /// failed), as opposed to refusing an operation under the lifecycle
    /// rules. The lifecycle functions pass it through unchanged; the
    /// store's own error inside says which file and what to do.
    #[error(transparent)]
    Store(Box<dyn std::error::Error + Send + Sync>),
}

/// What recording and delivering report: the queue is full, the recorder
/// is shut down (or none is installed globally), or sinks failed.
///
/// Returned by [`Recorder`](crate::Recorder)'s `record`, `update`,
/// `delete`, `flush` and `shutdown`, and by [`global`](crate::global).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// The recorder's queue is full and its overflow policy is
    /// [`Overflow::Reject`](crate::Overflow::Reject).
    #[error(
        "the recorder's queue is full ({capacity} pending): the sinks are not keeping up; \
         raise the capacity, or choose Overflow::Block or Overflow::DropAndCount"
    )]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },

    /// The recorder has been shut down.
    #[error("the recorder has been shut down and accepts no more assessments")]
    Shutdown,

    /// `verdict::global` was used before a recorder was installed.
    #[error(
        "no global recorder is installed: call verdict::global::set_recorder(recorder) at start-up"
    )]
    NoGlobalRecorder,

    /// A deadline passed before the recorder's worker had handed over and
    /// settled everything ([`Recorder::flush_timeout`](crate::Recorder::flush_timeout),
    /// [`Recorder::shutdown_timeout`](crate::Recorder::shutdown_timeout)).
    /// The worker goes on in the background; its processors were told the
    /// deadline, so a spool has kept what it could not deliver in time.
    #[error(
        "the deadline of {budget:?} passed with {unsettled} operations neither delivered,          spooled nor failed; they are still being delivered in the background"
    )]
    TimedOut {
        /// The time the call was given.
        budget: std::time::Duration,
        /// Operations recorded and not yet settled when it returned.
        unsettled: u64,
    },

    /// One or more sinks or processors failed: to export since the last
    /// flush (operations they held included), or to flush or shut down
    /// now.
    #[error("{} sink(s) failed: {}", .0.len(), join(.0))]
    Sinks(Vec<SinkError>),
}

fn join(errors: &[SinkError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shortens user input quoted in an error message.
pub(crate) fn excerpt(value: &str) -> String {
    const MAX: usize = 80;
    match value.char_indices().nth(MAX) {
        None => value.to_owned(),
        Some((cut, _)) => format!("{}…", &value[..cut]),
    }
}
