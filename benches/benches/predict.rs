//! What `Suite::predict` costs per record around code under test that
//! answers at once, against the same code called in a plain loop, in the
//! same run.
//!
//! One iteration is 4,096 records (`{"inputs": {"q": "question i"}}`, one
//! expectation each, no outputs). The code under test opens one `tracing`
//! span and returns its inputs:
//!
//! - `plain_loop`: the code called on each record's inputs (parsed before
//!   the timing), with no subscriber: what the calls cost alone.
//! - `suite_predict`: a whole suite over the dataset file with
//!   `exact_match` and a new store in a temporary directory (made, schema
//!   and all, outside the timing; a store kept across iterations would
//!   grow, and each run checks its integrity first): the dataset read, each call made on the
//!   suite's calling threads with its span captured into the record's
//!   trace, scored, and everything stored, the captured spans included.
//! - `suite_predict_no_store`: the same suite without a store: the calls
//!   and their spans captured, without writing them.
//! - `suite_outputs_given`: the suite with its store over the same records
//!   with the outputs in the file and no calls: what a suite costs without
//!   calling anything.
//! - `suite_predict_x4`: `suite_predict` over four times the records
//!   (16,384).
//!
//! Overhead per record = (`suite_predict` − `plain_loop`) / 4,096: a run's
//! fixed costs (making the suite, opening and checking the store, closing
//! it) shared by its 4,096 records. The cost of one record more, without
//! them = (`suite_predict_x4` − `suite_predict`) / 12,288, less the plain
//! loop's cost of one record.
//!
//! Two groups run the same benchmarks: `predict_cpu` measures the CPU
//! time of the whole process (every thread), which other work on the
//! machine does not inflate; `predict_wall` the wall time.
//!
//! ```text
//! cargo bench -p verdict-benches --bench predict -- --warm-up-time 2 --measurement-time 8
//! ```

use std::io::Write as _;

use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use verdict_eval::Suite;

mod common;
use common::ProcessCpuTime;

const RECORDS: usize = 4096;

/// The code under test: one span, and its inputs back.
fn code_under_test(inputs: &Value) -> Result<Value, String> {
    let _span = tracing::info_span!("answer").entered();
    Ok(inputs["q"].clone())
}

fn dataset(path: &std::path::Path, outputs: bool, records: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..records {
        let q = format!("question {i}");
        let mut record = json!({"inputs": {"q": q}, "expectations": {"expected_response": q}});
        if outputs {
            record["outputs"] = Value::from(q);
        }
        writeln!(file, "{record}").unwrap();
    }
}

fn predict<M: Measurement + 'static>(c: &mut Criterion<M>, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let asked = dir.path().join("asked.jsonl");
    let answered = dir.path().join("answered.jsonl");
    let asked_x4 = dir.path().join("asked_x4.jsonl");
    dataset(&asked, false, RECORDS);
    dataset(&answered, true, RECORDS);
    dataset(&asked_x4, false, 4 * RECORDS);
    let inputs: Vec<Value> = (0..RECORDS)
        .map(|i| json!({"q": format!("question {i}")}))
        .collect();
    // A store made, schema and all, outside the timing: what a run writes
    // is measured, not the store's creation.
    let new_store = || {
        let dir = tempfile::tempdir().unwrap();
        verdict_store::LocalStore::open(dir.path().join("verdict.db")).unwrap();
        dir
    };

    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("plain_loop", |b| {
        b.iter(|| {
            for input in &inputs {
                std::hint::black_box(code_under_test(std::hint::black_box(input)).unwrap());
            }
        })
    });
    let suite_predict = |store: tempfile::TempDir, data: &std::path::Path| {
        let report = Suite::new()
            .scorer("exact_match")
            .store(store.path().join("verdict.db"))
            .predict(code_under_test)
            .run(data)
            .unwrap();
        assert_eq!(report.pass_rate("exact_match"), Some(1.0));
        store
    };
    group.bench_function("suite_predict", |b| {
        b.iter_batched(
            new_store,
            |store| suite_predict(store, &asked),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("suite_predict_no_store", |b| {
        b.iter(|| {
            let report = Suite::new()
                .scorer("exact_match")
                .predict(code_under_test)
                .run(&asked)
                .unwrap();
            assert_eq!(report.pass_rate("exact_match"), Some(1.0));
        })
    });
    group.bench_function("suite_outputs_given", |b| {
        b.iter_batched(
            new_store,
            |store| {
                let report = Suite::new()
                    .scorer("exact_match")
                    .store(store.path().join("verdict.db"))
                    .run(&answered)
                    .unwrap();
                assert_eq!(report.pass_rate("exact_match"), Some(1.0));
                store
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("suite_predict_x4", |b| {
        b.iter_batched(
            new_store,
            |store| suite_predict(store, &asked_x4),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn predict_cpu(c: &mut Criterion<ProcessCpuTime>) {
    predict(c, "predict_cpu");
}

fn predict_wall(c: &mut Criterion) {
    predict(c, "predict_wall");
}

criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ProcessCpuTime::default());
    targets = predict_cpu
}
criterion_group!(wall, predict_wall);
criterion_main!(cpu, wall);
