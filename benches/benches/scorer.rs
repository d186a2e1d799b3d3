//! The cost of the plugin boundary, and how the runner scales.
//!
//! - `plugin_boundary`: exact match (default config) over the same records,
//!   256 at a time: the Rust type called directly into a `Vec<Outcome>`
//!   (`rust_type`, the baseline); the plugin library cargo built, loaded
//!   and called through the host's `Scorer::score_batch` (the batch entry)
//!   into the host's result storage (`plugin_batch`); and the very code
//!   `rust_type` calls, through the same interface and storage
//!   (`static_host`).
//! - `plugin_boundary_runner`: compiled in and loaded, through the runner
//!   on one thread.
//! - `runner_threads`: records per second of the runner with exact match,
//!   regex and edit distance, on 1 and on 2 threads.
//!
//! The two plugin-boundary groups measure the CPU time of the benchmark's
//! thread ([`ThreadCpuTime`]), not wall time: the machine is shared, and
//! wall time also counts the time the thread waits for a core, which
//! varies by more than the difference measured here. Everything they time
//! runs on that one thread. `runner_threads` measures wall time, since it
//! compares thread counts.

use std::hint::black_box;

mod common;
use common::{ThreadCpuTime, plugin_file, records};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use verdict_exact_match::ExactMatch;
use verdict_plugin::Outcome;
use verdict_scorer::{
    Plugin, Registry, Results, Runner, Scorer, StaticScorer, expectation_views, record_views,
};

fn plugin_boundary(c: &mut Criterion<ThreadCpuTime>) {
    const BATCH: usize = 256;
    let records = records(1024);
    let named = expectation_views(&records);
    let views = record_views(&records, &named);
    // The very code `rust_type` calls (this crate's copy of the type),
    // behind the host's interface.
    let compiled_in: Box<dyn Scorer> =
        Box::new(StaticScorer::<ExactMatch>::from_json("{}").unwrap());
    let plugin = Plugin::load(&plugin_file("verdict_exact_match")).expect("build the plugin first");
    let loaded: Box<dyn Scorer> = Box::new(plugin.instantiate("{}").unwrap());

    let rust_type = <ExactMatch as verdict_plugin::Scorer>::from_json("{}").unwrap();

    let mut group = c.benchmark_group("plugin_boundary");
    group.throughput(Throughput::Elements(views.len() as u64));
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(BATCH);
    group.bench_function("rust_type", |b| {
        b.iter(|| {
            for chunk in views.chunks(BATCH) {
                outcomes.clear();
                <ExactMatch as verdict_plugin::Scorer>::score_batch(
                    &rust_type,
                    black_box(chunk),
                    &mut outcomes,
                );
                black_box(&outcomes);
            }
        })
    });
    let mut results = Results::with_capacity(BATCH);
    for (name, scorer) in [("plugin_batch", &loaded), ("static_host", &compiled_in)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                for chunk in views.chunks(BATCH) {
                    results.clear();
                    scorer.score_batch(black_box(chunk), &mut results);
                    black_box(&results);
                }
            })
        });
    }
    group.finish();

    // The same comparison one level up: the runner lays out record views,
    // hands chunks to the scorer and collects outcomes, on one thread.
    let mut group = c.benchmark_group("plugin_boundary_runner");
    group.throughput(Throughput::Elements(records.len() as u64));
    let runners = [
        (
            "rust_type",
            Runner::new(vec![Box::new(
                StaticScorer::<ExactMatch>::from_json("{}").unwrap(),
            )]),
        ),
        (
            "plugin_batch",
            Runner::new(vec![Box::new(plugin.instantiate("{}").unwrap())]),
        ),
    ];
    for (name, runner) in runners {
        let runner = runner.threads(1);
        group.bench_function(name, |b| {
            b.iter_with_large_drop(|| runner.score(black_box(&records)))
        });
    }
    group.finish();
}

fn runner_threads(c: &mut Criterion) {
    let records = records(20_000);
    let registry = Registry::with_builtins();
    let specs = [
        "exact_match",
        "regex:pattern=\\d+",
        "edit_distance:max_distance=10",
    ];
    let mut group = c.benchmark_group("runner_threads");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.sample_size(20);
    for threads in [1, 2] {
        let scorers = specs
            .iter()
            .map(|s| registry.create(&s.parse().unwrap()).unwrap())
            .collect();
        let runner = Runner::new(scorers).threads(threads);
        group.bench_with_input(
            BenchmarkId::from_parameter(threads),
            &records,
            |b, records| b.iter_with_large_drop(|| runner.score(black_box(records))),
        );
    }
    group.finish();
}

criterion_group! {
    name = boundary;
    config = Criterion::default().with_measurement(ThreadCpuTime::default());
    targets = plugin_boundary
}
criterion_group!(scaling, runner_threads);
criterion_main!(boundary, scaling);
