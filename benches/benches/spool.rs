//! What a spool costs on the way to a collector that answers, and what
//! keeping a batch costs while it does not: one iteration exports a batch
//! of `BATCH` feedback operations through an `AssessmentSink`, delivered
//! as OTLP/HTTP protobuf to the in-process receiver.
//!
//! ```text
//! cargo bench -p verdict-benches --bench spool
//! ```
//!
//! - `otlp_sink` (the baseline): `OtlpExporter::sink` alone.
//! - `spooled_up`: the same sink behind `Spooled`, over a store file in a
//!   temporary directory, the collector answering. Each export runs the
//!   inner call on a thread of its own (so that it can be given up at
//!   `max_delay` or at a deadline: the bound on what sits in memory) and
//!   asks the store whether anything waits.
//! - `spooled_failing`: the collector is gone, and the spool knows it:
//!   the batch is written to the spool (one SQLite transaction) without
//!   trying the network. The spool is emptied between samples.
//!
//! Report `spooled_up / otlp_sink` and `spooled_failing / otlp_sink` from
//! one run.

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use verdict::{Assessment, AssessmentSink, Operation, Outcomes};
use verdict_export::testing::OtlpReceiver;
use verdict_export::{LocalStore, OtlpExporter, Spooled};

/// Operations per export: the recorder's default batch.
const BATCH: usize = 512;

fn batch() -> Vec<Operation> {
    (0..BATCH)
        .map(|i| {
            Operation::Log(
                Assessment::feedback("helpful", i % 2 == 0)
                    .rationale("the answer cites its source")
                    .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", Some("71492b10072d70de"))
                    .expect("a valid feedback"),
            )
        })
        .collect()
}

fn spool(c: &mut Criterion) {
    let receiver = OtlpReceiver::start_counting().expect("the receiver starts");
    let exporter = |endpoint: String| {
        OtlpExporter::builder()
            .endpoint(endpoint)
            .timeout(Duration::from_secs(2))
            .build()
            .expect("the exporter builds")
    };
    let ops = batch();
    let dir = tempfile::tempdir().expect("a temporary directory");

    let bare = exporter(receiver.endpoint()).sink();
    let up = Spooled::new(
        exporter(receiver.endpoint()).sink(),
        LocalStore::open(dir.path().join("up.db")).expect("the store opens"),
    );
    // A port nobody listens on: the first export finds it failing, and
    // the background replay is kept from retrying during the bench.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let failing = Spooled::new(
        exporter(format!("http://127.0.0.1:{gone}")).sink(),
        LocalStore::open(dir.path().join("failing.db")).expect("the store opens"),
    )
    .retry_after(Duration::from_secs(3600));
    let first = failing.export(&ops);
    assert_eq!(Outcomes::of(&first, BATCH).spooled(), BATCH, "{first:?}");
    assert!(failing.is_failing());

    let mut group = c.benchmark_group("spool");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(30);
    group.bench_function("otlp_sink", |b| {
        b.iter(|| bare.export(&ops).expect("delivered"));
    });
    group.bench_function("spooled_up", |b| {
        b.iter(|| up.export(&ops).expect("delivered"));
    });
    group.bench_function("spooled_failing", |b| {
        b.iter_batched(
            || {
                let waiting = failing.store().spooled(failing.key(), None, false);
                let seqs: Vec<i64> = waiting
                    .expect("the spool reads")
                    .iter()
                    .map(|row| row.seq)
                    .collect();
                failing.store().unspool(&seqs).expect("the spool empties");
            },
            |()| {
                let kept = failing.export(&ops);
                assert_eq!(Outcomes::of(&kept, BATCH).spooled(), BATCH);
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
    assert_eq!(up.pending().expect("the spool reads"), 0, "nothing spooled");
}

criterion_group!(benches, spool);
criterion_main!(benches);
