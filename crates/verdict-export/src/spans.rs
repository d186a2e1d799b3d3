//! Finished spans from a user's `SdkTracerProvider` into this crate's
//! sinks: the [`SpanSink`] trait and [`VerdictSpanExporter`], an
//! OpenTelemetry [`SpanExporter`] over one or more of them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use verdict::{Outcome, Outcomes, Reason, SinkError};

#[cfg(feature = "jsonl")]
use crate::JsonlSink;
#[cfg(feature = "mlflow")]
use verdict_mlflow::MlflowSink;
#[cfg(feature = "store")]
use verdict_store::LocalStore;
use verdict_store::StoredSpan;

/// Somewhere finished spans can go: the local store, a JSONL output, an
/// MLflow server, an OTLP collector. [`VerdictSpanExporter`] feeds one or
/// more of them from an `SdkTracerProvider`.
///
/// The methods are named apart from [`AssessmentSink`](verdict::AssessmentSink)'s
/// so that a type can be both (as [`LocalStore`] is) with both traits in
/// scope. Calls come from the span processor's thread and may block.
///
/// Like an assessment sink, a span sink is an exporter: it returns
/// `Ok(())` when it delivered every span, and otherwise the [`Outcome`] of
/// each ([`SinkError::with_outcomes`]).
pub trait SpanSink: Send + Sync + 'static {
    /// Stores or ships a batch of finished spans.
    fn export_spans(&self, spans: &[SpanData]) -> Result<(), SinkError>;

    /// Stores or ships spans as the local store keeps them, each with its
    /// own resource when it has one (spans of an OTLP file, read back from
    /// the store or a spool). The sinks that can say a resource per span
    /// (the local store, JSON lines, OTLP) keep it; by default the spans
    /// become `SpanData` for [`export_spans`](Self::export_spans) and go
    /// out with the sink's resource. A span whose events or links cannot
    /// be read back fails the batch: every span refused for good.
    fn export_stored_spans(&self, spans: &[StoredSpan]) -> Result<(), SinkError> {
        self.export_spans(&span_data(spans.iter())?)
    }

    /// Delivers whatever the sink still buffers.
    fn flush_spans(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Delivers what is left; the exporter sends nothing more after this.
    fn shutdown_spans(&self) -> Result<(), SinkError> {
        self.flush_spans()
    }
}

impl<S: SpanSink + ?Sized> SpanSink for Arc<S> {
    fn export_spans(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        (**self).export_spans(spans)
    }

    fn export_stored_spans(&self, spans: &[StoredSpan]) -> Result<(), SinkError> {
        (**self).export_stored_spans(spans)
    }

    fn flush_spans(&self) -> Result<(), SinkError> {
        (**self).flush_spans()
    }

    fn shutdown_spans(&self) -> Result<(), SinkError> {
        (**self).shutdown_spans()
    }
}

#[cfg(feature = "store")]
impl SpanSink for LocalStore {
    /// [`LocalStore::put_spans`]: the whole batch in one transaction.
    fn export_spans(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        self.put_spans(spans)
            .map_err(|e| store_error(e, spans.len()))
    }

    /// [`LocalStore::put_stored_spans`], resources kept.
    fn export_stored_spans(&self, spans: &[StoredSpan]) -> Result<(), SinkError> {
        self.put_stored_spans(spans)
            .map_err(|e| store_error(e, spans.len()))
    }
}

/// Nothing of the batch is stored; a database that failed may not fail
/// the next time: every span deferred.
#[cfg(feature = "store")]
fn store_error(error: verdict_store::Error, count: usize) -> SinkError {
    let message = format!("the local store stored none of a batch of {count} spans");
    let why = Reason::from(format!("{message}: {error}"));
    SinkError::with_source(message, error).with_outcomes(vec![Outcome::Deferred(why); count])
}

/// Spans as the store keeps them as the SDK's, their resources left out;
/// a span that cannot be read back fails them all, refused for good.
pub(crate) fn span_data<'a>(
    spans: impl ExactSizeIterator<Item = &'a StoredSpan>,
) -> Result<Vec<SpanData>, SinkError> {
    let count = spans.len();
    spans
        .map(StoredSpan::to_span_data)
        .collect::<verdict::Result<Vec<_>>>()
        .map_err(|e| {
            let why = Reason::from(format!(
                "a span of the batch cannot be sent as it is stored: {e}"
            ));
            SinkError::with_source("a span cannot be sent as it is stored", e)
                .with_outcomes(vec![Outcome::Refused(why); count])
        })
}

#[cfg(feature = "jsonl")]
impl SpanSink for JsonlSink {
    /// [`JsonlSink::write_spans`]: one line per span.
    fn export_spans(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        self.write_span_lines(spans)
            .map_err(|failed| self.batch_error("spans", spans.len(), failed))
    }

    /// [`JsonlSink::write_stored_spans`]: one line per span, resources
    /// kept.
    fn export_stored_spans(&self, spans: &[StoredSpan]) -> Result<(), SinkError> {
        self.write_stored_span_lines(spans)
            .map_err(|failed| self.batch_error("spans", spans.len(), failed))
    }

    fn flush_spans(&self) -> Result<(), SinkError> {
        self.flush()
            .map_err(|e| SinkError::with_source("could not write out the buffered span lines", e))
    }
}

#[cfg(feature = "mlflow")]
impl SpanSink for MlflowSink {
    /// [`MlflowSink::export_spans`]: one OTLP request, retried.
    fn export_spans(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        MlflowSink::export_spans(self, spans)
    }
}

#[cfg(feature = "otlp")]
impl SpanSink for crate::otlp::SpanExporter {
    /// Posts the batch to the collector as one OTLP request, waiting for
    /// the answer on the calling thread. A failure is sorted as for
    /// assessment events ([`OtlpSink`](crate::OtlpSink)'s `export`): a 4xx
    /// other than 408 and 429 is a refusal for good, anything else lists
    /// defers the spans ([`Outcome::Deferred`]). Make one with
    /// [`OtlpExporter::span_exporter`](crate::OtlpExporter::span_exporter).
    fn export_spans(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        self.post(spans)
    }

    /// One OTLP request per resource: the spans without one of their own
    /// go with the exporter's (see [`SpanExporter`](crate::otlp::SpanExporter)).
    fn export_stored_spans(&self, spans: &[StoredSpan]) -> Result<(), SinkError> {
        self.post_stored(spans)
    }
}

/// An OpenTelemetry [`SpanExporter`] that hands each batch of finished
/// spans to one or more [`SpanSink`]s, in order.
///
/// Add it to your own `SdkTracerProvider`, with the SDK's batch processor
/// (`with_batch_exporter`) in an application or the simple one
/// (`with_simple_exporter`) in tests. Every sink gets every batch, even
/// when an earlier one fails; the batch fails if any sink failed, with the
/// sinks' messages. To feed the same store from a
/// [`Recorder`](verdict::Recorder) too, share it through an [`Arc`]: the
/// [crate docs](crate#spans-and-assessments-in-the-local-store) show how.
///
/// ```
/// use opentelemetry::trace::{Tracer as _, TracerProvider as _};
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use verdict_export::{JsonlSink, VerdictSpanExporter};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("spans.jsonl");
/// let provider = SdkTracerProvider::builder()
///     .with_batch_exporter(VerdictSpanExporter::new(JsonlSink::append(&path)?))
///     .build();
/// provider.tracer("app").in_span("answer", |_cx| {});
/// provider.shutdown()?;
/// assert_eq!(std::fs::read_to_string(&path)?.lines().count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct VerdictSpanExporter {
    sinks: Vec<Box<dyn SpanSink>>,
}

impl fmt::Debug for VerdictSpanExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerdictSpanExporter")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl VerdictSpanExporter {
    /// An exporter over one sink.
    pub fn new(sink: impl SpanSink) -> Self {
        VerdictSpanExporter {
            sinks: vec![Box::new(sink)],
        }
    }

    /// Also sends every batch to `sink`, after the sinks before it.
    #[must_use]
    pub fn with_sink(mut self, sink: impl SpanSink) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Hands the spans to every sink; fails if any sink failed.
    pub fn export_spans(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        if spans.is_empty() {
            return Ok(());
        }
        self.each(Some(spans.len()), |sink| sink.export_spans(spans))
    }

    /// Flushes every sink.
    pub fn flush(&self) -> Result<(), SinkError> {
        self.each(None, |sink| sink.flush_spans())
    }

    /// Shuts every sink down.
    pub fn shutdown(&self) -> Result<(), SinkError> {
        self.each(None, |sink| sink.shutdown_spans())
    }

    /// Calls `f` on every sink, and gathers the failures into one error;
    /// with `len` items, its outcomes: each item's first failure among
    /// the sinks, delivered when every sink delivered it.
    fn each(
        &self,
        len: Option<usize>,
        f: impl Fn(&dyn SpanSink) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        let errors: Vec<SinkError> = self
            .sinks
            .iter()
            .filter_map(|sink| f(sink.as_ref()).err())
            .collect();
        let message = match errors.len() {
            0 => return Ok(()),
            1 => errors[0].to_string(),
            n => format!(
                "{n} of {} span sinks failed: {}",
                self.sinks.len(),
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        let Some(len) = len else {
            return Err(SinkError::new(message));
        };
        let mut outcomes = vec![Outcome::Delivered; len];
        for error in &errors {
            for (at, outcome) in Outcomes::of_error(error, len).iter() {
                if outcomes[at].is_delivered() {
                    outcomes[at] = outcome.clone();
                }
            }
        }
        Err(SinkError::new(message).with_outcomes(outcomes))
    }
}

/// Thin on purpose: the trait's signatures change in 0.34.
impl SpanExporter for VerdictSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.export_spans(&batch).map_err(sdk_error)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush().map_err(sdk_error)
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        VerdictSpanExporter::shutdown(self).map_err(sdk_error)
    }
}

fn sdk_error(error: SinkError) -> OTelSdkError {
    OTelSdkError::InternalFailure(error.to_string())
}
