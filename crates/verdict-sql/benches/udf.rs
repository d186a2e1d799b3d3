//! Scorers as SQL functions against their baselines, measured in the same
//! run, on one core (one DataFusion partition, one runner thread):
//!
//! - `exact_match_parquet`: 1M rows of (output, expected), 20–40
//!   characters, half equal, in a Parquet file. `sql_equality` is SQL's
//!   own `output = expected` (the floor: reading and comparing);
//!   `udf` is `exact_match(output, expected)`; `eval_runner` scores the
//!   same rows as `verdict eval` does (owned records through the runner,
//!   one thread), reading excluded.
//! - `edit_distance`: 100 000 pairs of 240 characters with 10% edits, in
//!   memory (enough that a query's own fixed cost, its planning, is a
//!   small share of a pair's). `bare` is `verdict_edit_distance::levenshtein`
//!   per pair; `sql_floor` the same query over the table with SQL's own
//!   `length(output)` in place of the scorer (the query's cost without
//!   it); `udf` is `edit_distance(a, b)` over the same pairs in a table;
//!   `eval_runner` as above.
//!
//! Times are the process's CPU time (every thread's: DataFusion reads
//! files on tokio's blocking threads), not wall time: the machine these
//! run on is shared, and other processes' load would count in wall time.
//!
//! ```text
//! cargo bench -p verdict-sql --bench udf -- --warm-up-time 2 --measurement-time 8
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Bencher, Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::datasource::MemTable;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use verdict_edit_distance::testdata::{Alphabet, Rng};
use verdict_scorer::{OwnedRecord, Registry, Runner};

const ROWS: usize = 1_000_000;
const PAIRS: usize = 100_000;

const ASCII: Alphabet = Alphabet::Chars(&[
    'e', 'e', 'e', 't', 't', 'a', 'a', 'o', 'o', 'i', 'n', 's', 'h', 'r', 'd', 'l', 'c', 'u', 'm',
    'w', 'f', 'g', 'y', 'p', ' ', ' ', ' ', ',', '.',
]);

/// The CPU time the process has used, all threads.
fn cpu_now() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec, for a clock Linux has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Measures `f` in CPU time.
fn on_cpu<O>(b: &mut Bencher<'_>, mut f: impl FnMut() -> O) {
    b.iter_custom(|iters| {
        let start = cpu_now();
        for _ in 0..iters {
            black_box(f());
        }
        cpu_now() - start
    })
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("output", DataType::Utf8, false),
        Field::new("expected", DataType::Utf8, false),
    ]))
}

fn batch(pairs: &[(String, String)]) -> RecordBatch {
    let o: StringArray = pairs.iter().map(|(o, _)| Some(o.as_str())).collect();
    let e: StringArray = pairs.iter().map(|(_, e)| Some(e.as_str())).collect();
    RecordBatch::try_new(schema(), vec![Arc::new(o), Arc::new(e)]).unwrap()
}

fn one_core() -> SessionContext {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    verdict_sql::register_scorers(&ctx, Registry::with_builtins()).unwrap();
    ctx
}

async fn count(ctx: &SessionContext, sql: &str) -> i64 {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

fn records(pairs: &[(String, String)]) -> Vec<OwnedRecord> {
    pairs
        .iter()
        .map(|(o, e)| {
            OwnedRecord::new("", o.as_str()).with_expectation("expected_response", e.as_str())
        })
        .collect()
}

fn exact_match_parquet(c: &mut Criterion) {
    let mut rng = Rng(7);
    let pairs: Vec<(String, String)> = (0..ROWS)
        .map(|i| {
            let expected = rng.text(20 + i % 21, ASCII);
            let output = if i % 2 == 0 {
                expected.clone()
            } else {
                rng.text(20 + i % 21, ASCII)
            };
            (output, expected)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qa.parquet");
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema(), None).unwrap();
    for chunk in pairs.chunks(64 * 1024) {
        writer.write(&batch(chunk)).unwrap();
    }
    writer.close().unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ctx = one_core();
    runtime
        .block_on(ctx.register_parquet("qa", path.to_str().unwrap(), ParquetReadOptions::default()))
        .unwrap();
    let equal = "SELECT count(*) FROM qa WHERE output = expected";
    let udf = "SELECT count(*) FROM qa WHERE exact_match(output, expected)";
    let wanted = runtime.block_on(count(&ctx, equal));
    assert_eq!(runtime.block_on(count(&ctx, udf)), wanted);
    assert_eq!(wanted, (ROWS / 2) as i64);

    let records = records(&pairs);
    let runner = Runner::new(vec![
        Registry::with_builtins()
            .create(&"exact_match".parse().unwrap())
            .unwrap(),
    ])
    .threads(1);

    let mut group = c.benchmark_group("exact_match_parquet");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    group.bench_function("sql_equality", |b| {
        on_cpu(b, || runtime.block_on(count(&ctx, black_box(equal))))
    });
    group.bench_function("udf", |b| {
        on_cpu(b, || runtime.block_on(count(&ctx, black_box(udf))))
    });
    group.bench_function("eval_runner", |b| {
        on_cpu(b, || runner.score(black_box(&records)).len())
    });
    group.finish();
}

fn edit_distance(c: &mut Criterion) {
    let mut rng = Rng(2024);
    let pairs: Vec<(String, String)> = (0..PAIRS).map(|_| rng.edited_pair(240, ASCII)).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ctx = one_core();
    let table = MemTable::try_new(schema(), vec![pairs.chunks(8192).map(batch).collect()]).unwrap();
    ctx.register_table("pairs", Arc::new(table)).unwrap();
    let udf = "SELECT count(*) FROM pairs WHERE edit_distance(output, expected) >= 0";
    let floor = "SELECT count(*) FROM pairs WHERE length(output) >= 0";
    assert_eq!(runtime.block_on(count(&ctx, udf)), PAIRS as i64);
    assert_eq!(runtime.block_on(count(&ctx, floor)), PAIRS as i64);

    let records = records(&pairs);
    let runner = Runner::new(vec![
        Registry::with_builtins()
            .create(&"edit_distance".parse().unwrap())
            .unwrap(),
    ])
    .threads(1);

    let mut group = c.benchmark_group("edit_distance");
    group.throughput(Throughput::Elements(PAIRS as u64));
    group.sample_size(20);
    group.bench_function("bare", |b| {
        on_cpu(b, || {
            pairs
                .iter()
                .map(|(a, e)| verdict_edit_distance::levenshtein(black_box(a), black_box(e)))
                .sum::<usize>()
        })
    });
    group.bench_function("sql_floor", |b| {
        on_cpu(b, || runtime.block_on(count(&ctx, black_box(floor))))
    });
    group.bench_function("udf", |b| {
        on_cpu(b, || runtime.block_on(count(&ctx, black_box(udf))))
    });
    group.bench_function("eval_runner", |b| {
        on_cpu(b, || runner.score(black_box(&records)).len())
    });
    group.finish();
}

criterion_group!(benches, exact_match_parquet, edit_distance);
criterion_main!(benches);
