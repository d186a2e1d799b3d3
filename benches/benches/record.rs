//! The caller's cost of recording one assessment on the current span,
//! against emitting one OpenTelemetry log record. See the crate docs.
//!
//! Both sides run inside the same active span and hand their record to a
//! background worker whose exporter or sink does nothing. The recorder
//! must not drop, as a counted drop skips the queue and would flatter its
//! figure: it uses [`Overflow::Block`] (back-pressure, never a drop or a
//! refusal), and after the group its counters are checked against the
//! calls made. The log processor cannot block; its drops are reported.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::Context;
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchConfigBuilder, BatchLogProcessor, LogBatch, LogExporter, SdkLoggerProvider,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use verdict::{
    Assessment, AssessmentSink, EVENT_NAME, Operation, Overflow, Recorder, SinkError, attributes,
    global,
};

/// A log exporter that only counts what it receives.
#[derive(Debug, Default)]
struct NullLogExporter {
    exported: Arc<AtomicU64>,
}

impl LogExporter for NullLogExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let n = batch.iter().count() as u64;
        self.exported.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }
}

/// An assessment sink that does nothing; the recorder counts deliveries.
struct NullSink;

impl AssessmentSink for NullSink {
    fn export(&self, _batch: &[Operation]) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The queue capacity of both sides.
const QUEUE_CAPACITY: usize = 1 << 16;

fn record(c: &mut Criterion) {
    // One active span for the whole group, so that every case pays the
    // same context look-up.
    let tracer_provider = SdkTracerProvider::builder().build();
    let span = tracer_provider.tracer("verdict-benches").start("request");
    let _active = Context::current_with_span(span).attach();

    let exporter = NullLogExporter::default();
    let exported = Arc::clone(&exporter.exported);
    // The default queue (2048) overflows and drops under this load; a large
    // one keeps the baseline honest.
    let processor = BatchLogProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(QUEUE_CAPACITY)
                .build(),
        )
        .build();
    let logger_provider = SdkLoggerProvider::builder()
        .with_log_processor(processor)
        .build();
    let logger = logger_provider.logger("verdict-benches");

    let recorder = Recorder::builder()
        .sink(NullSink)
        .capacity(QUEUE_CAPACITY)
        .overflow(Overflow::Block)
        .build();
    global::set_recorder(recorder.clone());

    let mut emitted = 0u64;
    let mut recorded = 0u64;
    let mut group = c.benchmark_group("record");

    group.bench_function("otel_log_record", |b| {
        b.iter(|| {
            let mut log = logger.create_log_record();
            log.set_event_name(EVENT_NAME);
            log.set_severity_number(Severity::Info);
            log.set_severity_text(Severity::Info.name());
            log.set_timestamp(SystemTime::now());
            log.add_attribute(attributes::EVALUATION_NAME, "correctness");
            log.add_attribute(attributes::SCORE_VALUE, 1.0);
            logger.emit(log);
            emitted += 1;
        })
    });

    group.bench_function("verdict_record_current_span", |b| {
        b.iter(|| {
            let feedback = Assessment::feedback("correctness", true)
                .rationale("matches")
                .on_current_span()
                .expect("a span is active");
            black_box(recorder.record(feedback).expect("recording succeeds"));
            recorded += 1;
        })
    });

    group.bench_function("verdict_record_global", |b| {
        b.iter(|| {
            let feedback = Assessment::feedback("correctness", true)
                .rationale("matches")
                .on_current_span()
                .expect("a span is active");
            black_box(global::record(feedback).expect("recording succeeds"));
            recorded += 1;
        })
    });

    group.bench_function("verdict_build_only", |b| {
        b.iter(|| {
            Assessment::feedback("correctness", true)
                .rationale("matches")
                .on_current_span()
                .expect("a span is active")
        })
    });

    group.finish();

    // Nothing may have been dropped or refused on either side.
    logger_provider
        .force_flush()
        .expect("the log provider flushes");
    let exported = exported.load(Ordering::Relaxed);
    recorder.flush().expect("the recorder flushes");
    let counters = recorder.counters();
    println!(
        "otel: {emitted} emitted, {exported} exported; verdict: {recorded} recorded, {counters:?}"
    );
    // The batch log processor can only drop when its worker falls behind,
    // which happens on a busy machine; a dropping producer also frees what
    // it dropped, so the baseline is then slower than it should be.
    if exported != emitted {
        let dropped = emitted - exported;
        eprintln!(
            "WARNING: the batch log processor dropped {dropped} of {emitted} records ({:.1}%): \
             its worker fell behind, so this run's otel_log_record figure is too high; \
             run again on a quieter machine",
            100.0 * dropped as f64 / emitted as f64
        );
    }
    assert_eq!(counters.recorded, recorded);
    assert_eq!(counters.delivered, recorded);
    assert_eq!(counters.failed + counters.dropped + counters.rejected, 0);

    global::shutdown().expect("the recorder shuts down");
    logger_provider
        .shutdown()
        .expect("the log provider shuts down");
}

criterion_group!(benches, record);
criterion_main!(benches);
