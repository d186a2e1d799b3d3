//! Where the service's spans and assessments go: one tracer provider for
//! the spans, one recorder for the assessments, both pointed at the export
//! the configuration names.

use std::sync::Arc;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use verdict::Recorder;
use verdict_export::{LocalStore, MlflowSink, OtlpExporter, VerdictSpanExporter};

use crate::Error;
use crate::config::Export;

/// The service's instrumentation scope.
const SCOPE: &str = "instrumented-service";

/// The tracer provider and the recorder, set up for one export.
pub(crate) struct Telemetry {
    provider: SdkTracerProvider,
    recorder: Recorder,
    otlp: Option<OtlpExporter>,
}

impl Telemetry {
    /// Sets up both signals for `export`: spans through the SDK's batch
    /// processor, assessments through a recorder (which never blocks the
    /// request on I/O).
    pub(crate) fn new(export: &Export) -> Result<Self, Error> {
        Ok(match export {
            Export::Local(path) => {
                let store = Arc::new(LocalStore::open(path)?);
                Telemetry {
                    provider: SdkTracerProvider::builder()
                        .with_batch_exporter(VerdictSpanExporter::new(store.clone()))
                        .build(),
                    recorder: Recorder::builder().sink(store).build(),
                    otlp: None,
                }
            }
            Export::Otlp => {
                let exporter = OtlpExporter::builder()
                    .build()
                    .map_err(|e| Error::export("otlp", e))?;
                let spans = exporter
                    .batch_span_processor()
                    .map_err(|e| Error::export("otlp", e))?;
                Telemetry {
                    provider: SdkTracerProvider::builder()
                        .with_span_processor(spans)
                        .build(),
                    recorder: Recorder::builder().sink(exporter.sink()).build(),
                    otlp: Some(exporter),
                }
            }
            Export::Mlflow => {
                let sink =
                    Arc::new(MlflowSink::from_env().map_err(|e| Error::export("mlflow", e))?);
                Telemetry {
                    provider: SdkTracerProvider::builder()
                        .with_batch_exporter(VerdictSpanExporter::new(sink.clone()))
                        .build(),
                    recorder: Recorder::builder().sink(sink).build(),
                    otlp: None,
                }
            }
        })
    }

    /// The recorder assessments go through.
    pub(crate) fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// A `tracing` subscriber whose spans become this provider's
    /// OpenTelemetry spans.
    pub(crate) fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(self.provider.tracer(SCOPE)))
    }

    /// Delivers what is pending — assessments, then spans — and stops.
    pub(crate) fn shutdown(self) -> Result<(), Error> {
        let mut errors = Vec::new();
        if let Err(e) = self.recorder.shutdown() {
            errors.push(format!("assessments: {e}"));
        }
        if let Err(e) = self.provider.shutdown() {
            errors.push(format!("spans: {e}"));
        }
        if let Some(otlp) = self.otlp
            && let Err(e) = otlp.shutdown()
        {
            errors.push(format!("OTLP events: {e}"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Shutdown(errors.join("; ")))
        }
    }
}
