//! A process-wide recorder, like `opentelemetry::global`.
//!
//! Install one at start-up with [`set_recorder`], record from anywhere with
//! [`record`], and call [`shutdown`] before the process exits: a static is
//! never dropped, so only `shutdown` delivers what is still queued.
//! Recording with no recorder installed is an error, not a silent no-op.
//!
//! ```
//! use verdict::{Assessment, InMemorySink, Recorder, global};
//!
//! let sink = InMemorySink::default();
//! global::set_recorder(Recorder::builder().sink(sink.clone()).build());
//! let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
//! global::record(Assessment::feedback("ok", true).on_trace(trace, None)?)?;
//! global::shutdown()?;
//! assert_eq!(sink.assessments().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::{PoisonError, RwLock};

use crate::assessment::Assessment;
use crate::error::RecorderError;
use crate::ids::AssessmentId;
use crate::recorder::Recorder;

static GLOBAL: RwLock<Option<Recorder>> = RwLock::new(None);

/// Installs the global recorder and returns the one it replaces, which
/// keeps running until it is shut down or dropped.
pub fn set_recorder(recorder: Recorder) -> Option<Recorder> {
    GLOBAL
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .replace(recorder)
}

/// A handle on the global recorder.
pub fn recorder() -> Result<Recorder, RecorderError> {
    GLOBAL
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .ok_or(RecorderError::NoGlobalRecorder)
}

/// Records an assessment with the global recorder.
pub fn record(assessment: Assessment) -> Result<AssessmentId, RecorderError> {
    match &*GLOBAL.read().unwrap_or_else(PoisonError::into_inner) {
        Some(recorder) => recorder.record(assessment),
        None => Err(RecorderError::NoGlobalRecorder),
    }
}

/// Removes the global recorder and shuts it down, delivering everything
/// queued. Does nothing when none is installed.
pub fn shutdown() -> Result<(), RecorderError> {
    let recorder = GLOBAL
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    match recorder {
        Some(recorder) => recorder.shutdown(),
        None => Ok(()),
    }
}
