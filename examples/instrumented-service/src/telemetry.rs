//! Where the service's spans and assessments go: one tracer provider for
//! the spans, one recorder for the assessments, both pointed at the export
//! the configuration names.
//!
//! For a receiver over the network (OTLP, MLflow) it is the wiring the
//! README recommends: a [`TraceAssembler`] (a trace's spans ship with the
//! assessments recorded on it) over a [`Spooled`] sink (what the receiver
//! cannot take waits in the local store, and is sent when it can), stopped
//! within one deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use verdict::Recorder;
use verdict_export::{
    LocalStore, MlflowSink, OtlpExporter, Spooled, TraceAssembler, VerdictSpanExporter,
};

use crate::Error;
use crate::config::{Config, Export};

/// The service's instrumentation scope.
const SCOPE: &str = "instrumented-service";

/// The tracer provider and the recorder, set up for one export.
pub(crate) struct Telemetry {
    provider: SdkTracerProvider,
    recorder: Recorder,
}

impl Telemetry {
    /// Sets up both signals for `config.export`: spans through the SDK's
    /// batch processor, assessments through a recorder (which never blocks
    /// the request on I/O). Nothing here waits on the network: what an
    /// earlier run spooled is replayed in the background.
    pub(crate) fn new(config: &Config) -> Result<Self, Error> {
        Ok(match &config.export {
            Export::Local(path) => {
                let store = Arc::new(LocalStore::open(path)?);
                Telemetry {
                    provider: SdkTracerProvider::builder()
                        .with_batch_exporter(VerdictSpanExporter::new(store.clone()))
                        .build(),
                    recorder: Recorder::builder().sink(store).build(),
                }
            }
            Export::Otlp => {
                let exporter = OtlpExporter::builder()
                    .build()
                    .map_err(|e| Error::export("otlp", e))?;
                let sink = exporter
                    .trace_sink()
                    .map_err(|e| Error::export("otlp", e))?;
                Self::assembled(spooled(config, sink, "otlp")?)
            }
            Export::Mlflow => {
                let sink = MlflowSink::from_env().map_err(|e| Error::export("mlflow", e))?;
                Self::assembled(spooled(config, sink, "mlflow")?)
            }
        })
    }

    /// A trace assembler over `sink`, on both signals.
    fn assembled(sink: impl verdict_export::TraceSink) -> Self {
        let (spans, assessments) = TraceAssembler::builder(sink).build();
        Telemetry {
            provider: SdkTracerProvider::builder()
                .with_span_processor(spans)
                .build(),
            recorder: Recorder::builder().processor(assessments).build(),
        }
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

    /// Delivers what is pending — assessments, then spans — and stops,
    /// within `budget` in all: what the receiver has not taken by then
    /// waits in the spool for the next start.
    pub(crate) fn shutdown(self, budget: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + budget;
        let left = || deadline.saturating_duration_since(Instant::now());
        let mut errors = Vec::new();
        if let Err(e) = self.recorder.shutdown_timeout(left()) {
            errors.push(format!("assessments: {e}"));
        }
        if let Err(e) = self.provider.shutdown_with_timeout(left()) {
            errors.push(format!("spans: {e}"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Shutdown(errors.join("; ")))
        }
    }
}

/// `sink` over the local store's spool, under `key`, as `config` says.
fn spooled<S: verdict_export::TraceSink>(
    config: &Config,
    sink: S,
    key: &str,
) -> Result<Spooled<S>, Error> {
    let store = Arc::new(LocalStore::open(&config.spool)?);
    Ok(Spooled::with_spans(sink, store, key)
        .max_delay(config.max_delay)
        .write_ahead(config.write_ahead))
}
