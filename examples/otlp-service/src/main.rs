//! The smallest service that sends spans and feedback to an OpenTelemetry
//! collector and nothing else: one span, one feedback recorded on it, both
//! delivered over OTLP/HTTP (`OTEL_EXPORTER_OTLP_*`, by default
//! `http://localhost:4318`), then a clean shutdown.
//!
//! It is what `BENCHMARKS.md` measures for "An OTLP-only service: what it
//! builds": the crates it compiles, its cold build and its binary size,
//! against `benches/otlp_baseline`, the same work with plain OpenTelemetry.
//!
//! It prints the trace id, and exits with an error when the collector did
//! not take the feedback.

use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use verdict::{Assessment, Recorder};
use verdict_export::OtlpExporter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let otlp = OtlpExporter::builder()
        .default_service_name("otlp-service")
        .build()?;
    let tracer_provider = SdkTracerProvider::builder()
        .with_span_processor(otlp.batch_span_processor()?)
        .build();
    let recorder = Recorder::builder().sink(otlp.sink()).build();

    let trace_id = tracer_provider
        .tracer("otlp-service")
        .in_span("answer", |cx| {
            recorder.record(
                Assessment::feedback("helpful", true)
                    .rationale("answered the question")
                    .on_current_span()?,
            )?;
            Ok::<_, Box<dyn std::error::Error>>(cx.span().span_context().trace_id())
        })?;

    recorder.flush()?;
    tracer_provider.force_flush()?;
    let counters = recorder.counters();
    recorder.shutdown()?;
    tracer_provider.shutdown()?;
    if counters.delivered != 1 {
        return Err(format!("the feedback was not delivered: {counters:?}").into());
    }
    println!("{trace_id}");
    Ok(())
}
