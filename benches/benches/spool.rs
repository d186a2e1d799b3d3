//! What a spool costs on the way to a collector that answers, with and
//! without a backlog, written ahead or not, and what keeping a batch costs
//! while the collector does not answer: one iteration exports a batch of
//! `BATCH` feedback operations (on `TRACES` traces) through an
//! `AssessmentSink`, delivered as OTLP/HTTP protobuf to the in-process
//! receiver.
//!
//! ```text
//! cargo bench -p verdict-benches --bench spool
//! ```
//!
//! - `otlp_sink` (the baseline): `OtlpExporter::sink` alone. Measured
//!   again last, as `otlp_sink_again`, so that a drift over the run (a
//!   connection pool, a receiver or a machine warming up) shows.
//! - `spooled_up`: the same sink behind `Spooled`, over a store file in a
//!   temporary directory, the collector answering, nothing waiting. Each
//!   export runs the inner call on a thread of its own (so that it can be
//!   given up at `max_delay` or at a deadline) and asks the store whether
//!   anything waits.
//! - `spooled_up_backlog`: the same with `BACKLOG` lines of other traces
//!   waiting in the spool (left by an earlier outage; a span line first,
//!   which this sink's replay does not send, so that they stay there):
//!   each export looks up its own traces in the spool's index.
//! - `write_ahead_up`, `write_ahead_up_backlog`: the same two with
//!   `Spooled::write_ahead`: the batch is written to the spool before it
//!   is sent and removed once delivered.
//! - `spooled_failing`: the collector is gone, and the spool knows it:
//!   the batch is written to the spool (one SQLite transaction) without
//!   trying the network. The spool is emptied between samples.
//!
//! Every sink is warmed up (connections made, statements prepared) before
//! the first case runs. Two groups run the same cases: `spool_cpu`
//! measures the CPU time of the whole process (the caller, the sink's call
//! thread, the receiver, SQLite), which other work on the machine does not
//! inflate; `spool_wall` the wall time. Report each case's ratio to
//! `otlp_sink`, from one run, and `spooled_up_backlog / spooled_up`.

use std::time::{Duration, SystemTime};

use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::InstrumentationScope;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use verdict::{Assessment, AssessmentSink, Operation, Outcomes};
use verdict_export::StoredSpan;
use verdict_export::testing::OtlpReceiver;
use verdict_export::{LocalStore, OtlpExporter, OtlpSink, Spooled, jsonl_line};
use verdict_store::SpoolLine;

mod common;
use common::ProcessCpuTime;

/// Operations per export: the recorder's default batch.
const BATCH: usize = 512;

/// The traces a batch's operations are on.
const TRACES: usize = 128;

/// Lines waiting in the spool for the backlog cases.
const BACKLOG: usize = 100_000;

/// Exports through each sink before the first case.
const WARM_UP: usize = 20;

fn trace_hex(n: usize) -> String {
    format!(
        "{:032x}",
        0x0fb0_7256_509e_b9d2_2d07_f42f_0000_0000u128 + n as u128
    )
}

fn batch() -> Vec<Operation> {
    (0..BATCH)
        .map(|i| {
            Operation::Log(
                Assessment::feedback("helpful", i % 2 == 0)
                    .rationale("the answer cites its source")
                    .on_trace(&trace_hex(i % TRACES), Some("71492b10072d70de"))
                    .expect("a valid feedback"),
            )
        })
        .collect()
}

/// `BACKLOG` lines of traces that no batch is on, under `key`: a span
/// line first (this sink's replay stops there: its inner sink takes no
/// spans), then operations.
fn fill_backlog(store: &LocalStore, key: &str) {
    let lines = (0..BACKLOG).map(|i| {
        let operation = Operation::Log(
            Assessment::feedback("helpful", true)
                .on_trace(&trace_hex(TRACES + i % 1_000), None)
                .expect("a valid feedback"),
        );
        let line = if i == 0 {
            span_line(operation.trace_id())
        } else {
            jsonl_line(&operation)
        };
        SpoolLine {
            trace_id: operation.trace_id(),
            span: i == 0,
            line,
        }
    });
    store.spool(key, lines).expect("the backlog is spooled");
}

/// The spool line of a root span of `trace`.
fn span_line(trace: TraceId) -> String {
    let span = SpanData {
        span_context: SpanContext::new(
            trace,
            SpanId::from(1),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: "answer".into(),
        start_time: SystemTime::UNIX_EPOCH,
        end_time: SystemTime::UNIX_EPOCH,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::default(),
    };
    StoredSpan::from(&span).to_mlflow_json().to_string()
}

/// The sinks the cases export through, ready: the backlogs filled, every
/// sink warmed up, and the failing one found failing.
struct Sinks {
    bare: OtlpSink,
    up: Spooled<OtlpSink>,
    up_backlog: Spooled<OtlpSink>,
    ahead: Spooled<OtlpSink>,
    ahead_backlog: Spooled<OtlpSink>,
    failing: Spooled<OtlpSink>,
    ops: Vec<Operation>,
    // Last: the sinks go first.
    _receiver: OtlpReceiver,
    _dir: tempfile::TempDir,
}

impl Sinks {
    fn new() -> Sinks {
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
        let spooled = |file: &str, write_ahead: bool| {
            let store = LocalStore::open(dir.path().join(file)).expect("the store opens");
            // No replay during the bench but the one at start, which finds
            // nothing it can send.
            Spooled::new(exporter(receiver.endpoint()).sink(), store)
                .retry_after(Duration::from_secs(3600))
                .write_ahead(write_ahead)
        };
        let up_backlog = spooled("up-backlog.db", false);
        let ahead_backlog = spooled("ahead-backlog.db", true);
        for sink in [&up_backlog, &ahead_backlog] {
            fill_backlog(sink.store(), sink.key());
        }
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
        let sinks = Sinks {
            bare: exporter(receiver.endpoint()).sink(),
            up: spooled("up.db", false),
            up_backlog,
            ahead: spooled("ahead.db", true),
            ahead_backlog,
            failing,
            ops,
            _receiver: receiver,
            _dir: dir,
        };
        for _ in 0..WARM_UP {
            for sink in sinks.delivering() {
                sink.export(&sinks.ops).expect("delivered");
            }
        }
        sinks
    }

    /// The sinks of the collector that answers.
    fn delivering(&self) -> [&dyn AssessmentSink; 5] {
        [
            &self.bare,
            &self.up,
            &self.up_backlog,
            &self.ahead,
            &self.ahead_backlog,
        ]
    }

    /// The backlogs stayed, and nothing delivered was kept.
    fn check(&self) {
        for (sink, waiting) in [
            (&self.up, 0),
            (&self.ahead, 0),
            (&self.up_backlog, BACKLOG),
            (&self.ahead_backlog, BACKLOG),
        ] {
            assert_eq!(sink.pending().expect("the spool reads"), waiting);
            assert_eq!(sink.stats().spooled, 0, "nothing spooled");
        }
    }
}

fn spool<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let sinks = Sinks::new();
    let ops = &sinks.ops;
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(30);
    let cases: [(&str, &dyn AssessmentSink); 6] = [
        ("otlp_sink", &sinks.bare),
        ("spooled_up", &sinks.up),
        ("spooled_up_backlog", &sinks.up_backlog),
        ("write_ahead_up", &sinks.ahead),
        ("write_ahead_up_backlog", &sinks.ahead_backlog),
        ("otlp_sink_again", &sinks.bare),
    ];
    for (case, sink) in cases {
        group.bench_function(case, |b| {
            b.iter(|| sink.export(ops).expect("delivered"));
        });
    }
    let failing = &sinks.failing;
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
                let kept = failing.export(ops);
                assert_eq!(Outcomes::of(&kept, BATCH).spooled(), BATCH);
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
    sinks.check();
}

fn spool_cpu(c: &mut Criterion<ProcessCpuTime>) {
    spool(c, "spool_cpu");
}

fn spool_wall(c: &mut Criterion) {
    spool(c, "spool_wall");
}

criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ProcessCpuTime::default());
    targets = spool_cpu
}
criterion_group!(wall, spool_wall);
criterion_main!(cpu, wall);
