//! The local store's write paths a service uses, each against the same
//! rows written with plain SQLite in the same run.
//!
//! One iteration is a burst of a service's traffic: 256 traces of 4 spans
//! each, with 2 feedbacks per trace (each on its own random trace id, as a
//! service makes them):
//!
//! - `recorder_store`: the 512 feedbacks recorded through a `Recorder`
//!   whose sink is a `LocalStore` (`AssessmentSink::export`: the lifecycle,
//!   one savepoint per assessment), then flushed;
//! - `write_batch_store`: `LocalStore::write_batch` of one `Batch` of the
//!   1,024 spans and 512 feedbacks (filled outside the timing, as its
//!   callers fill it on their own threads);
//! - `put_spans_store`: `LocalStore::put_spans` of 512 spans (128 traces),
//!   what `VerdictSpanExporter` does with a batch of the SDK's batch span
//!   processor (512 by default).
//!
//! Each has its baseline, `…_sqlite`: the same data inserted with plain
//! rusqlite (statements prepared once per transaction, one transaction per
//! batch) into the plain tables a SQLite schema would give them
//! (`traces`; `spans`, a row per span, its attributes, events and links as
//! JSON text, keyed by trace and span id; `assessments` as the store has
//! it, same columns, keys and indexes; the store's page size, WAL and
//! `synchronous = NORMAL`) in a file beside it: what storing them costs
//! SQLite done plainly, without the store's lifecycle checks or the
//! operation log, and with the store's packing of a trace's spans in one
//! row left out. For `recorder_sqlite` that file is the sink of the same
//! recorder, so the queue and batching are the same on both sides.
//!
//! Two groups run the same benchmarks: `store_cpu` measures the CPU time
//! of the whole process (the caller, the recorder's worker, the store's
//! checkpointer), which other work on the machine does not inflate;
//! `store_wall` the wall time.
//!
//! Each benchmark keeps its store for all its iterations, as a service
//! does; ids are new in every iteration, derived from a counter, so two
//! builds write the same traces in the same order.
//!
//! ```text
//! cargo bench -p verdict-benches --bench store -- --warm-up-time 1 --measurement-time 4
//! ```

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::measurement::Measurement;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use rusqlite::{Connection, params};
use verdict::{Assessment, AssessmentSink, Operation, Overflow, Recorder, SinkError};
use verdict_store::{Batch, LocalStore, StoredSpan};

mod common;
use common::ProcessCpuTime;

/// Traces per iteration.
const TRACES: u64 = 256;
/// Spans per trace: a root and three children.
const SPANS_PER_TRACE: u64 = 4;
/// Feedbacks per trace.
const FEEDBACKS_PER_TRACE: u64 = 2;
/// Traces per `put_spans` call: 512 spans, the SDK's export batch.
const SPAN_BATCH_TRACES: u64 = 128;

/// The plain tables of the baseline: `assessments` and `traces` as
/// `verdict-store`'s schema has them, spans a row each.
const SCHEMA: &str = "
CREATE TABLE traces (
    trace_id      BLOB PRIMARY KEY NOT NULL,
    first_seen_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE spans (
    trace_id       BLOB NOT NULL,
    span_id        BLOB NOT NULL,
    parent_span_id BLOB,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    start_time_ns  INTEGER NOT NULL,
    end_time_ns    INTEGER NOT NULL,
    status_code    TEXT NOT NULL,
    status_message TEXT,
    attributes     TEXT NOT NULL,
    events         TEXT NOT NULL,
    links          TEXT NOT NULL,
    scope_name     TEXT NOT NULL,
    scope_version  TEXT,
    PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
CREATE TABLE assessments (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    assessment_id       BLOB NOT NULL UNIQUE,
    trace_id            BLOB NOT NULL,
    span_id             BLOB,
    name                TEXT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('feedback', 'expectation')),
    valid               INTEGER NOT NULL,
    create_time_ns      INTEGER NOT NULL,
    last_update_time_ns INTEGER NOT NULL,
    overrides           BLOB,
    body                TEXT NOT NULL
);
CREATE INDEX assessments_by_trace ON assessments (trace_id);
CREATE INDEX assessments_by_name ON assessments (name, create_time_ns);
";

const NOTE_TRACE: &str =
    "INSERT INTO traces (trace_id, first_seen_ns) VALUES (?1, ?2) ON CONFLICT DO NOTHING";
const PUT_SPAN: &str = "INSERT OR REPLACE INTO spans (trace_id, span_id, parent_span_id, name,
    kind, start_time_ns, end_time_ns, status_code, status_message, attributes, events, links,
    scope_name, scope_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
const PUT_ROW: &str = "INSERT INTO assessments (assessment_id, trace_id, span_id, name, kind,
    valid, create_time_ns, last_update_time_ns, overrides, body)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9)";

/// Opens the baseline's database, shaped and set up as the store's.
fn open_sqlite(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("the baseline database opens");
    conn.pragma_update(None, "page_size", 16384).unwrap();
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .expect("WAL mode");
    assert_eq!(mode, "wal");
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.execute_batch(SCHEMA).expect("the baseline schema");
    conn
}

fn nanos(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64
}

/// The next trace of the run: random-looking bits from a counter
/// (SplitMix64), so that two builds make the same ones.
fn next_trace() -> u128 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    (u128::from(mix(n)) << 64) | u128::from(mix(!n))
}

fn span(trace: u128, index: u64) -> SpanData {
    let now = SystemTime::now();
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(trace),
            SpanId::from(index + 1),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: if index == 0 {
            SpanId::INVALID
        } else {
            SpanId::from(1)
        },
        parent_span_is_remote: false,
        span_kind: if index == 0 {
            SpanKind::Server
        } else {
            SpanKind::Internal
        },
        name: if index == 0 { "request" } else { "llm.call" }.into(),
        start_time: now - Duration::from_millis(40),
        end_time: now,
        attributes: vec![
            KeyValue::new("mlflow.spanInputs", "{\"question\": \"what is 2 + 2?\"}"),
            KeyValue::new("mlflow.spanOutputs", "{\"answer\": \"4\"}"),
            KeyValue::new("gen_ai.request.model", "some-model"),
        ],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Ok,
        instrumentation_scope: InstrumentationScope::builder("verdict-benches").build(),
    }
}

/// The spans of `traces` new traces.
fn spans(traces: u64) -> Vec<SpanData> {
    (0..traces)
        .flat_map(|_| {
            let trace = next_trace();
            (0..SPANS_PER_TRACE).map(move |i| span(trace, i))
        })
        .collect()
}

/// The feedbacks a service logs on one trace.
fn feedbacks_on(trace: u128) -> impl Iterator<Item = Assessment> {
    let hex = format!("{trace:032x}");
    (0..FEEDBACKS_PER_TRACE).map(move |i| {
        Assessment::feedback(if i == 0 { "correctness" } else { "helpful" }, i == 0)
            .rationale("the answer matches the expected one")
            .on_trace(&hex, Some("0000000000000001"))
            .expect("a valid trace")
    })
}

/// A span as the baseline's row: the JSON made the store's way.
struct SpanRow {
    trace: [u8; 16],
    span: [u8; 8],
    parent: Option<[u8; 8]>,
    name: String,
    kind: &'static str,
    start_ns: i64,
    end_ns: i64,
    attributes: String,
    events: String,
    links: String,
    scope_name: String,
}

impl From<&SpanData> for SpanRow {
    fn from(span: &SpanData) -> Self {
        let stored = StoredSpan::from(span);
        SpanRow {
            trace: stored.trace_id.to_bytes(),
            span: stored.span_id.to_bytes(),
            parent: stored.parent_span_id.map(SpanId::to_bytes),
            kind: match stored.kind {
                SpanKind::Server => "server",
                _ => "internal",
            },
            start_ns: nanos(stored.start_time),
            end_ns: nanos(stored.end_time),
            attributes: serde_json::Value::Object(stored.attributes).to_string(),
            events: serde_json::Value::Array(stored.events).to_string(),
            links: serde_json::Value::Array(stored.links).to_string(),
            name: stored.name,
            scope_name: stored.scope_name,
        }
    }
}

/// An assessment as the baseline's row.
struct AssessmentRow {
    id: [u8; 16],
    trace: [u8; 16],
    span: Option<[u8; 8]>,
    name: String,
    create_ns: i64,
    update_ns: i64,
    body: String,
}

impl From<&Assessment> for AssessmentRow {
    fn from(a: &Assessment) -> Self {
        AssessmentRow {
            id: a.id().to_u128().to_be_bytes(),
            trace: a.trace_id().to_bytes(),
            span: a.span_id().map(SpanId::to_bytes),
            name: a.name().as_str().to_owned(),
            create_ns: nanos(a.create_time()),
            update_ns: nanos(a.last_update_time()),
            body: verdict::wire::body_json(a),
        }
    }
}

/// Inserts spans and assessments in one transaction, noting each trace
/// once per batch as the store does.
fn insert_sqlite(conn: &mut Connection, spans: &[SpanRow], rows: &[AssessmentRow]) {
    let now = nanos(SystemTime::now());
    let tx = conn.transaction().unwrap();
    {
        let mut note = tx.prepare(NOTE_TRACE).unwrap();
        let mut put_span = tx.prepare(PUT_SPAN).unwrap();
        let mut put_row = tx.prepare(PUT_ROW).unwrap();
        let mut last = None;
        for s in spans {
            put_span
                .execute(params![
                    s.trace,
                    s.span,
                    s.parent,
                    s.name,
                    s.kind,
                    s.start_ns,
                    s.end_ns,
                    "ok",
                    None::<String>,
                    s.attributes,
                    s.events,
                    s.links,
                    s.scope_name,
                    None::<String>,
                ])
                .unwrap();
            if last != Some(s.trace) {
                note.execute(params![s.trace, now]).unwrap();
                last = Some(s.trace);
            }
        }
        for r in rows {
            put_row
                .execute(params![
                    r.id,
                    r.trace,
                    r.span,
                    r.name,
                    "feedback",
                    true,
                    r.create_ns,
                    r.update_ns,
                    r.body
                ])
                .unwrap();
            if last != Some(r.trace) {
                note.execute(params![r.trace, now]).unwrap();
                last = Some(r.trace);
            }
        }
    }
    tx.commit().unwrap();
}

/// The baseline's sink: each batch a transaction of plain inserts.
struct SqliteSink(Mutex<Connection>);

impl AssessmentSink for SqliteSink {
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        let rows: Vec<AssessmentRow> = batch
            .iter()
            .filter_map(|op| match op {
                Operation::Log(a) => Some(AssessmentRow::from(a)),
                _ => None,
            })
            .collect();
        insert_sqlite(&mut self.0.lock().unwrap(), &[], &rows);
        Ok(())
    }
}

fn recorder_with(sink: impl AssessmentSink) -> Recorder {
    Recorder::builder()
        .sink(sink)
        .capacity(1 << 14)
        .overflow(Overflow::Block)
        .build()
}

/// Records the feedbacks of `TRACES` new traces and flushes.
fn bench_recorder<M: Measurement>(c: &mut BenchmarkGroup<'_, M>, name: &str, recorder: &Recorder) {
    c.bench_function(name, |b| {
        b.iter_batched(
            || {
                (0..TRACES)
                    .flat_map(|_| feedbacks_on(next_trace()))
                    .collect::<Vec<_>>()
            },
            |feedbacks| {
                for feedback in feedbacks {
                    recorder.record(feedback).expect("recording succeeds");
                }
                recorder.flush().expect("the recorder flushes");
            },
            BatchSize::PerIteration,
        )
    });
    let counters = recorder.counters();
    assert_eq!(
        counters.delivered, counters.recorded,
        "{name}: {counters:?}"
    );
    assert_eq!(counters.failed + counters.dropped + counters.rejected, 0);
}

fn store<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut group = c.benchmark_group(name);
    group.sample_size(10);

    // (a) A recorder delivering to the store.
    group.throughput(Throughput::Elements(TRACES * FEEDBACKS_PER_TRACE));
    let recorder = recorder_with(SqliteSink(Mutex::new(open_sqlite(
        &dir.path().join("recorder-sqlite.db"),
    ))));
    bench_recorder(&mut group, "recorder_sqlite", &recorder);
    recorder.shutdown().expect("the recorder shuts down");
    let recorder =
        recorder_with(LocalStore::open(dir.path().join("recorder.db")).expect("the store opens"));
    bench_recorder(&mut group, "recorder_store", &recorder);
    recorder.shutdown().expect("the recorder shuts down");

    // (b) One batch of spans and assessments.
    group.throughput(Throughput::Elements(
        TRACES * (SPANS_PER_TRACE + FEEDBACKS_PER_TRACE),
    ));
    let mut conn = open_sqlite(&dir.path().join("batch-sqlite.db"));
    group.bench_function("write_batch_sqlite", |b| {
        b.iter_batched(
            || {
                let spans = spans(TRACES);
                let rows: Vec<AssessmentRow> = spans
                    .iter()
                    .step_by(SPANS_PER_TRACE as usize)
                    .flat_map(|s| {
                        let trace = u128::from_be_bytes(s.span_context.trace_id().to_bytes());
                        feedbacks_on(trace).map(|a| AssessmentRow::from(&a))
                    })
                    .collect();
                (spans.iter().map(SpanRow::from).collect::<Vec<_>>(), rows)
            },
            |(spans, rows)| insert_sqlite(&mut conn, &spans, &rows),
            BatchSize::PerIteration,
        )
    });
    let local = LocalStore::open(dir.path().join("batch.db")).expect("the store opens");
    group.bench_function("write_batch_store", |b| {
        b.iter_batched(
            || {
                let spans = spans(TRACES);
                let mut batch = Batch::with_capacity(spans.len(), spans.len() / 2);
                for s in &spans {
                    batch.push_span(s);
                }
                for s in spans.iter().step_by(SPANS_PER_TRACE as usize) {
                    let trace = u128::from_be_bytes(s.span_context.trace_id().to_bytes());
                    for a in feedbacks_on(trace) {
                        batch.push_assessment(a);
                    }
                }
                batch
            },
            |batch| local.write_batch(&batch).expect("the batch is stored"),
            BatchSize::PerIteration,
        )
    });

    // (c) A batch of spans from the span exporter.
    group.throughput(Throughput::Elements(SPAN_BATCH_TRACES * SPANS_PER_TRACE));
    let mut conn = open_sqlite(&dir.path().join("spans-sqlite.db"));
    group.bench_function("put_spans_sqlite", |b| {
        b.iter_batched(
            || spans(SPAN_BATCH_TRACES),
            |spans| {
                let rows: Vec<SpanRow> = spans.iter().map(SpanRow::from).collect();
                insert_sqlite(&mut conn, &rows, &[]);
            },
            BatchSize::PerIteration,
        )
    });
    let local = LocalStore::open(dir.path().join("spans.db")).expect("the store opens");
    group.bench_function("put_spans_store", |b| {
        b.iter_batched(
            || spans(SPAN_BATCH_TRACES),
            |spans| local.put_spans(&spans).expect("the spans are stored"),
            BatchSize::PerIteration,
        )
    });

    group.finish();
}

fn store_cpu(c: &mut Criterion<ProcessCpuTime>) {
    store(c, "store_cpu");
}

fn store_wall(c: &mut Criterion) {
    store(c, "store_wall");
}

criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ProcessCpuTime::default());
    targets = store_cpu
}
criterion_group!(wall, store_wall);
criterion_main!(cpu, wall);
