//! Where recorded assessments go: the [`AssessmentSink`] trait (an
//! exporter: it delivers what it is given, and holds nothing back), the
//! operations it receives, and an in-memory sink for tests.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::trace::TraceId;

use crate::assessment::Assessment;
use crate::ids::AssessmentId;
use crate::lifecycle::AssessmentUpdate;

/// One change to the assessments of a trace, as a sink receives it.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    /// A new assessment. One whose [`overrides`](Assessment::overrides) is
    /// set also marks the overridden assessment invalid.
    Log(Assessment),
    /// A change to an existing assessment.
    Update(AssessmentUpdate),
    /// The removal of an assessment; removing an override restores what it
    /// overrode. Deleting twice is not an error.
    Delete {
        /// The trace the assessment belongs to.
        trace_id: TraceId,
        /// The assessment.
        assessment_id: AssessmentId,
    },
}

impl Operation {
    /// The trace the operation concerns.
    pub fn trace_id(&self) -> TraceId {
        match self {
            Operation::Log(a) => a.trace_id(),
            Operation::Update(u) => u.trace_id(),
            Operation::Delete { trace_id, .. } => *trace_id,
        }
    }
}

/// An error a sink reports: what failed, for a person, and the cause.
#[derive(Debug)]
pub struct SinkError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    failed: Option<usize>,
    retryable: Option<Vec<usize>>,
}

impl SinkError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        SinkError {
            message: message.into(),
            source: None,
            failed: None,
            retryable: None,
        }
    }

    /// An error with a message and the error that caused it.
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        SinkError {
            message: message.into(),
            source: Some(source.into()),
            failed: None,
            retryable: None,
        }
    }

    /// Says that only `count` operations of the batch failed (the others
    /// were delivered). Without it, the whole batch counts as failed.
    pub fn with_failed(mut self, count: usize) -> Self {
        self.failed = Some(count);
        self
    }

    /// How many operations of the batch failed, if the sink said.
    pub fn failed(&self) -> Option<usize> {
        self.failed
    }

    /// Says which operations of the batch failed for a reason that may
    /// pass (the receiver was down, overloaded or timed out after the sink's
    /// own retries), by their positions in the batch, ascending: sending
    /// them again later may deliver them. Operations not listed were
    /// delivered or refused for good (counted by [`with_failed`](Self::with_failed)).
    /// A wrapper that spools undeliverable operations (such as
    /// `verdict_export::Spooled`) spools exactly these.
    pub fn with_retryable(mut self, indexes: Vec<usize>) -> Self {
        self.retryable = Some(indexes);
        self
    }

    /// The positions of the operations worth sending again later, if the
    /// sink said (see [`with_retryable`](Self::with_retryable)).
    pub fn retryable(&self) -> Option<&[usize]> {
        self.retryable.as_deref()
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Receives recorded operations from a [`Recorder`](crate::Recorder)'s
/// background worker and ships or stores them: an exporter.
///
/// A sink is called from one worker thread with batches in recording
/// order. It owns delivery: batching further, retrying, spooling what it
/// cannot deliver. An `Err` counts the whole batch as failed (or the
/// operations [`SinkError::with_failed`] names) and is reported through
/// the recorder's error handler. A sink never holds operations back to
/// ship later; that is a processor's work
/// ([`AssessmentProcessor`](crate::AssessmentProcessor)), in front of a
/// sink of its own.
///
/// ```
/// use verdict::{AssessmentSink, Operation, SinkError};
///
/// struct Stdout;
///
/// impl AssessmentSink for Stdout {
///     fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
///         for op in batch {
///             if let Operation::Log(a) = op {
///                 println!("{}", a.to_json());
///             }
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait AssessmentSink: Send + Sync + 'static {
    /// Ships or stores a batch of operations.
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError>;

    /// Delivers whatever the sink still buffers.
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Delivers whatever the sink still buffers and releases its resources.
    /// Nothing is exported after this.
    fn shutdown(&self) -> Result<(), SinkError> {
        self.flush()
    }

    /// A name for error messages.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

impl<S: AssessmentSink + ?Sized> AssessmentSink for Arc<S> {
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        (**self).export(batch)
    }

    fn flush(&self) -> Result<(), SinkError> {
        (**self).flush()
    }

    fn shutdown(&self) -> Result<(), SinkError> {
        (**self).shutdown()
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

/// A sink that keeps every operation in memory, for tests: clone it, give
/// one clone to the recorder, and read what arrived from the other.
///
/// ```
/// use verdict::{Assessment, InMemorySink, Recorder};
///
/// let sink = InMemorySink::default();
/// let recorder = Recorder::builder().sink(sink.clone()).build();
/// let fb = Assessment::feedback("ok", true).on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)?;
/// recorder.record(fb)?;
/// recorder.flush()?;
/// assert_eq!(sink.assessments().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct InMemorySink {
    operations: Arc<Mutex<Vec<Operation>>>,
}

impl InMemorySink {
    /// Every operation received so far, in order.
    pub fn operations(&self) -> Vec<Operation> {
        self.lock().clone()
    }

    /// The assessments logged so far, in order.
    pub fn assessments(&self) -> Vec<Assessment> {
        self.lock()
            .iter()
            .filter_map(|op| match op {
                Operation::Log(a) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }

    /// Forgets everything received.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Operation>> {
        self.operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl AssessmentSink for InMemorySink {
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        self.lock().extend_from_slice(batch);
        Ok(())
    }

    fn name(&self) -> &str {
        "in-memory"
    }
}
