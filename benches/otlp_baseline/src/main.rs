//! What `examples/otlp-service` does, with plain OpenTelemetry and no
//! Verdict: one span through a batch span processor and the OTLP/HTTP
//! span exporter, and one `gen_ai.evaluation.result` log record on it
//! through the OTLP/HTTP log exporter, with `opentelemetry-otlp`'s
//! features as `verdict-export` turns them on. `BENCHMARKS.md` ("An
//! OTLP-only service: what it builds") builds both and compares them.

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_otlp::{LogExporter, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(
            SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .build()?,
        )
        .build();
    let logger_provider = SdkLoggerProvider::builder()
        .with_simple_exporter(LogExporter::builder().with_http().build()?)
        .build();
    let logger = logger_provider.logger("otlp-baseline");

    let trace_id = tracer_provider
        .tracer("otlp-baseline")
        .in_span("answer", |cx| {
            let span = cx.span();
            let span_context = span.span_context();
            let mut record = logger.create_log_record();
            record.set_event_name("gen_ai.evaluation.result");
            record.set_severity_number(Severity::Info);
            record.set_trace_context(
                span_context.trace_id(),
                span_context.span_id(),
                Some(span_context.trace_flags()),
            );
            record.add_attribute("gen_ai.evaluation.name", "helpful");
            record.add_attribute("gen_ai.evaluation.score.value", AnyValue::Double(1.0));
            record.add_attribute("gen_ai.evaluation.explanation", "answered the question");
            logger.emit(record);
            span_context.trace_id()
        });

    logger_provider.force_flush()?;
    tracer_provider.force_flush()?;
    logger_provider.shutdown()?;
    tracer_provider.shutdown()?;
    println!("{trace_id}");
    Ok(())
}
