//! Parquet against JSON lines through `verdict eval`'s reading and
//! scoring: the same rows, read by `Dataset` and run by `Evaluation` with
//! `exact_match` (no store, so that the store's writes, the same for both,
//! do not hide the reading).
//!
//! Rows: 100,000 records in MLflow's evaluation shape (`inputs` an object
//! of one question, `outputs` text, `expectations` an object of one
//! expected response, a `trace_id`), generated deterministically, written
//! as JSON lines and as Parquet (the `parquet` crate's `ArrowWriter`,
//! snappy, as pandas and pyarrow write by default; row groups of 16,384
//! rows). The baseline is JSON lines.
//!
//! Cases, each in CPU time of the whole process (the reading thread and
//! the scoring threads, which other work on this shared machine does not
//! inflate as it does wall time):
//! - `read/jsonl`, `read/parquet`: `Dataset::entries`, every record made;
//! - `eval/jsonl`, `eval/parquet`: a whole `Evaluation::run`.
//!
//! Before criterion's groups, each case runs five times, alternated, and
//! the bench prints the best of each and the ratio to JSON lines, so that
//! the ratio comes from one run.
//!
//! ```text
//! cargo bench -p verdict-benches --bench columnar -- --warm-up-time 1 --measurement-time 5
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

mod common;
use common::ProcessCpuTime;

use arrow_array::{ArrayRef, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field, Fields};
use criterion::measurement::Measurement as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use verdict_eval::{Dataset, Entry, Evaluation, SuiteConfig};

const ROWS: usize = 100_000;

struct Files {
    _dir: tempfile::TempDir,
    jsonl: PathBuf,
    parquet: PathBuf,
}

fn question(i: usize) -> String {
    format!("What is the capital of country number {i}, and why is it there?")
}

fn output(i: usize) -> String {
    if i.is_multiple_of(3) {
        "Paris".to_owned()
    } else {
        format!("City {i}, the largest on the river")
    }
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("rows.jsonl");
    let mut text = String::new();
    for i in 0..ROWS {
        let row = serde_json::json!({
            "inputs": {"question": question(i)},
            "outputs": output(i),
            "expectations": {"expected_response": "Paris"},
            "trace_id": format!("{:032x}", i + 1),
        });
        text.push_str(&row.to_string());
        text.push('\n');
    }
    std::fs::write(&jsonl, text).unwrap();

    let strings = |f: &dyn Fn(usize) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values((0..ROWS).map(f)))
    };
    let object = |name: &str, values: ArrayRef| -> ArrayRef {
        Arc::new(StructArray::new(
            Fields::from(vec![Field::new(name, DataType::Utf8, true)]),
            vec![values],
            None,
        ))
    };
    let batch = RecordBatch::try_from_iter([
        ("inputs", object("question", strings(&question))),
        ("outputs", strings(&output)),
        (
            "expectations",
            object("expected_response", strings(&|_| "Paris".to_owned())),
        ),
        ("trace_id", strings(&|i| format!("{:032x}", i + 1))),
    ])
    .unwrap();
    let parquet = dir.path().join("rows.parquet");
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(16_384))
        .build();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(&parquet).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    Files {
        _dir: dir,
        jsonl,
        parquet,
    }
}

fn read(path: &Path) -> usize {
    let dataset = Dataset::open(path).unwrap();
    let n = dataset
        .entries()
        .unwrap()
        .filter(|e| matches!(e.as_ref().unwrap(), Entry::Record(_)))
        .count();
    assert_eq!(n, ROWS);
    n
}

fn eval(path: &Path, config: &SuiteConfig) -> usize {
    let dataset = Dataset::open(path).unwrap();
    let summary = Evaluation::new(config.clone())
        .unwrap()
        .run(&dataset)
        .unwrap();
    assert_eq!(summary.records, ROWS as u64);
    // A third of the outputs are the expected response.
    assert_eq!(
        summary.scorer("exact_match").unwrap().passed,
        ROWS.div_ceil(3) as u64
    );
    summary.records as usize
}

fn bench(c: &mut Criterion<ProcessCpuTime>) {
    let files = files();
    let config = SuiteConfig::from_toml(
        "[[scorers]]\nspec = \"exact_match\"\n",
        Path::new("verdict.toml"),
    )
    .unwrap();
    let cases: [(&str, &str, &Path); 4] = [
        ("read", "jsonl", &files.jsonl),
        ("read", "parquet", &files.parquet),
        ("eval", "jsonl", &files.jsonl),
        ("eval", "parquet", &files.parquet),
    ];
    let run = |what: &str, path: &Path| match what {
        "read" => read(path),
        _ => eval(path, &config),
    };

    // The best of five, alternated, and the ratio in this run.
    let clock = ProcessCpuTime::default();
    let mut best = [u64::MAX; 4];
    for _ in 0..5 {
        for (i, (what, _, path)) in cases.iter().enumerate() {
            let start = clock.start();
            run(what, path);
            best[i] = best[i].min(clock.end(start));
        }
    }
    println!(
        "sizes: jsonl {} bytes, parquet {} bytes",
        std::fs::metadata(&files.jsonl).unwrap().len(),
        std::fs::metadata(&files.parquet).unwrap().len()
    );
    for (i, (what, format, _)) in cases.iter().enumerate() {
        let baseline = best[i - i % 2];
        println!(
            "{what}/{format}: best of 5 {:.1} ms CPU, {:.0} records/s of CPU, {:.2}x JSON lines",
            best[i] as f64 / 1e6,
            ROWS as f64 / (best[i] as f64 / 1e9),
            best[i] as f64 / baseline as f64
        );
    }

    for what in ["read", "eval"] {
        let mut group = c.benchmark_group(what);
        group.throughput(Throughput::Elements(ROWS as u64));
        group.sample_size(10);
        for (w, format, path) in cases {
            if w == what {
                group.bench_function(format, |b| b.iter(|| run(what, path)));
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ProcessCpuTime::default());
    targets = bench
}
criterion_main!(benches);
