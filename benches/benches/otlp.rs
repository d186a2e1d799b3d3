//! Assessments per second delivered over OTLP/HTTP protobuf to the
//! in-process receiver (`verdict_export::testing::OtlpReceiver`): one
//! iteration records `N` feedbacks on a span through a `Recorder` whose
//! sink is `OtlpExporter::sink`, then flushes; it ends when the receiver
//! has decoded all `N` log records. The issue's goal is at least 100,000
//! per second.
//!
//! ```text
//! cargo bench -p verdict-benches --bench otlp
//! ```
//!
//! The recorder blocks rather than drop (`Overflow::Block`), and after the
//! group its counters and the receiver's count are checked against the
//! calls made, so nothing lost flatters the figure.
//!
//! Baseline, in the same group: `otel_batch_log_processor_100k` emits the
//! same number of log records with the same attributes as Verdict's events
//! straight through the OpenTelemetry SDK (an `SdkLoggerProvider` with
//! `opentelemetry-otlp`'s HTTP protobuf log exporter behind the SDK's
//! `BatchLogProcessor`, batches of the same size, a queue that holds them
//! all so that none is dropped), then force-flushes; the receiver's count
//! is checked the same way.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::logs::{BatchConfigBuilder, BatchLogProcessor, SdkLoggerProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use verdict::{Assessment, Overflow, Recorder};
use verdict_export::OtlpExporter;
use verdict_export::testing::OtlpReceiver;

/// Feedbacks recorded per iteration.
const N: u64 = 100_000;

/// Assessments per OTLP request: the recorder's batch.
const BATCH: usize = 4096;

fn otlp(c: &mut Criterion) {
    let receiver = OtlpReceiver::start_counting().expect("the receiver starts");
    let otlp = OtlpExporter::builder()
        .endpoint(receiver.endpoint())
        .build()
        .expect("the exporter builds");
    let recorder = Recorder::builder()
        .sink(otlp.sink())
        .capacity(1 << 16)
        .max_batch(BATCH)
        .overflow(Overflow::Block)
        .build();

    let tracer_provider = SdkTracerProvider::builder().build();
    let span = tracer_provider.tracer("verdict-benches").start("request");
    let span_context = span.span_context().clone();

    // The baseline's pipeline, to the same receiver.
    let baseline_exporter = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/logs", receiver.endpoint()))
        .build()
        .expect("the baseline exporter builds");
    let baseline = SdkLoggerProvider::builder()
        .with_log_processor(
            BatchLogProcessor::builder(baseline_exporter)
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_max_queue_size(2 * N as usize)
                        .with_max_export_batch_size(BATCH)
                        .build(),
                )
                .build(),
        )
        .build();
    let baseline_logger = baseline.logger("verdict-benches");
    let mut baseline_sent = 0u64;

    let mut recorded = 0u64;
    let mut group = c.benchmark_group("otlp");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(N));
    group.bench_function("deliver_100k_feedbacks", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let target = receiver.log_record_count() + N;
                let start = Instant::now();
                for i in 0..N {
                    let feedback = Assessment::feedback("correctness", i % 2 == 0)
                        .rationale("matches")
                        .on_span(&span_context)
                        .expect("a valid span");
                    recorder.record(feedback).expect("recording succeeds");
                }
                recorder.flush().expect("the receiver takes everything");
                assert_eq!(receiver.log_record_count(), target, "all delivered");
                total += start.elapsed();
                recorded += N;
            }
            total
        })
    });
    group.bench_function("otel_batch_log_processor_100k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let target = receiver.log_record_count() + N;
                let start = Instant::now();
                for i in 0..N {
                    let mut record = baseline_logger.create_log_record();
                    record.set_event_name(verdict::EVENT_NAME);
                    record.set_trace_context(
                        span_context.trace_id(),
                        span_context.span_id(),
                        Some(span_context.trace_flags()),
                    );
                    record.set_timestamp(std::time::SystemTime::now());
                    record.set_severity_number(Severity::Info);
                    record.set_severity_text(Severity::Info.name());
                    record.add_attribute("gen_ai.evaluation.name", "correctness");
                    let pass = i % 2 == 0;
                    record.add_attribute(
                        "gen_ai.evaluation.score.value",
                        if pass { 1.0 } else { 0.0 },
                    );
                    record.add_attribute(
                        "gen_ai.evaluation.score.label",
                        if pass { "pass" } else { "fail" },
                    );
                    record.add_attribute("gen_ai.evaluation.explanation", "matches");
                    record.add_attribute(
                        "verdict.assessment.id",
                        verdict::AssessmentId::random().to_string(),
                    );
                    record.add_attribute("verdict.assessment.kind", "feedback");
                    record.add_attribute("verdict.assessment.source.type", "CODE");
                    record.add_attribute("verdict.assessment.source.id", "default");
                    baseline_logger.emit(record);
                }
                baseline
                    .force_flush()
                    .expect("the receiver takes everything");
                assert_eq!(receiver.log_record_count(), target, "all delivered");
                total += start.elapsed();
                baseline_sent += N;
            }
            total
        })
    });
    group.finish();
    baseline.shutdown().expect("the baseline shuts down");

    recorder.shutdown().expect("the recorder shuts down");
    let counters = recorder.counters();
    assert_eq!(counters.delivered, recorded, "{counters:?}");
    assert_eq!(counters.failed + counters.dropped + counters.rejected, 0);
    assert_eq!(receiver.log_record_count(), recorded + baseline_sent);
}

criterion_group!(benches, otlp);
criterion_main!(benches);
