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

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
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
    group.finish();

    recorder.shutdown().expect("the recorder shuts down");
    let counters = recorder.counters();
    assert_eq!(counters.delivered, recorded, "{counters:?}");
    assert_eq!(counters.failed + counters.dropped + counters.rejected, 0);
    assert_eq!(receiver.log_record_count(), recorded);
}

criterion_group!(benches, otlp);
criterion_main!(benches);
