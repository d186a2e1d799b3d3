//! What a record costs through the scorer path `verdict eval` runs, step by
//! step, against the work itself.
//!
//! Inputs: pairs of 20, 240 and 2,000 characters of English-like ASCII, the
//! second a copy of the first with 10 % random edits, generated
//! deterministically by the edit-distance crate's `testdata` (100,000,
//! 20,000 and 2,000 pairs). Group `scorer_path`, per size:
//!
//! - `distance`: `verdict_edit_distance::similarity`, the number the scorer
//!   reports: the work;
//! - `score`: `EditDistance::score` (default config) on each record's
//!   view: the scorer with its rationale, into an `Outcome` dropped at once;
//! - `static_host`: the scorer behind the host's `Scorer` interface into
//!   `Results`, 256 records a call, as the runner calls it;
//! - `runner`: `Runner::score` on one thread over the owned records, 4,096
//!   at a time as `verdict eval` hands them over, each chunk's results
//!   dropped before the next: views, batches and results, what `verdict
//!   eval` scores with.
//!
//! Group `scorer_path_others`: `score` and `runner` for exact match and
//! token F1 on the 20-character pairs.
//!
//! CPU time of the bench's thread ([`ThreadCpuTime`]): everything timed
//! runs on it (a runner of one thread scores on the caller's).
//!
//! With `VERDICT_PAIRS_OUT=DIR` set, the pairs are also written to
//! `DIR/pairs-20.jsonl` (and `-240`, `-2000`) as `verdict eval` records, for
//! `benches/edit_distance_vs_rapidfuzz.sh` to time the same pairs through
//! Python's rapidfuzz and through `verdict eval`.
//!
//! ```text
//! cargo bench -p verdict-benches --bench scorer_path -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::io::Write;

mod common;
use common::ThreadCpuTime;

use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use verdict_edit_distance::EditDistance;
use verdict_edit_distance::testdata::{Alphabet, Rng};
use verdict_exact_match::ExactMatch;
use verdict_plugin::{Record, Scorer as _};
use verdict_scorer::{
    OwnedRecord, Registry, Results, Runner, Scorer, expectation_views, record_views,
};
use verdict_token_f1::TokenF1;

/// English-like ASCII: frequent letters weighted, spaces, a few marks (the
/// alphabet of the `edit_distance` bench).
const ASCII: Alphabet = Alphabet::Chars(&[
    'e', 'e', 'e', 't', 't', 'a', 'a', 'o', 'o', 'i', 'n', 's', 'h', 'r', 'd', 'l', 'c', 'u', 'm',
    'w', 'f', 'g', 'y', 'p', 'b', 'v', 'k', ' ', ' ', ' ', ' ', ',', '.', 'T', 'P',
]);

/// Sizes in characters, and how many pairs of each.
const SIZES: [(usize, usize); 3] = [(20, 100_000), (240, 20_000), (2000, 2_000)];

/// `n` pairs of `len` characters as records: output and expected response.
fn pairs(len: usize, n: usize) -> Vec<OwnedRecord> {
    let mut rng = Rng(len as u64 * 7919 + 2024);
    (0..n)
        .map(|i| {
            let (a, b) = rng.edited_pair(len, ASCII);
            OwnedRecord::new(format!("pair {i}"), a).with_expectation("expected_response", b)
        })
        .collect()
}

/// Writes `records` as JSON lines of `verdict eval`'s records.
fn write_jsonl(path: &std::path::Path, records: &[OwnedRecord]) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create pairs file"));
    for r in records {
        let line = serde_json::json!({
            "inputs": text(&r.inputs),
            "outputs": text(&r.outputs),
            "expectations": {"expected_response": text(&r.expectations[0].1)},
        });
        writeln!(out, "{line}").expect("write pairs file");
    }
    out.flush().expect("write pairs file");
}

fn text(value: &verdict_scorer::OwnedValue) -> &str {
    match value {
        verdict_scorer::OwnedValue::String(s) => s,
        other => panic!("a pair holds strings, not {other:?}"),
    }
}

/// Scores `records` as `verdict eval` does: 4,096 at a time, each chunk's
/// results dropped before the next is scored.
fn through_runner(runner: &Runner, records: &[OwnedRecord]) {
    for chunk in records.chunks(4096) {
        black_box(runner.score(black_box(chunk)));
    }
}

fn one_thread(spec: &str) -> Runner {
    let registry = Registry::with_builtins();
    Runner::new(vec![registry.create(&spec.parse().unwrap()).unwrap()]).threads(1)
}

fn scorer_path(c: &mut Criterion<ThreadCpuTime>) {
    let out = std::env::var_os("VERDICT_PAIRS_OUT").map(std::path::PathBuf::from);
    let scorer = EditDistance::from_json("{}").unwrap();
    let host = verdict_scorer::StaticScorer::new(scorer.clone());
    let runner = one_thread("edit_distance");
    let mut group = c.benchmark_group("scorer_path");
    group.sample_size(10);
    for (len, n) in SIZES {
        let records = pairs(len, n);
        if let Some(dir) = &out {
            write_jsonl(&dir.join(format!("pairs-{len}.jsonl")), &records);
        }
        let named = expectation_views(&records);
        let views = record_views(&records, &named);
        let texts: Vec<(&str, &str)> = views
            .iter()
            .map(|v| {
                let expected = v.expectation("expected_response").unwrap();
                (v.outputs.text(), expected.text())
            })
            .collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("distance", len), |b| {
            b.iter(|| {
                for &(a, e) in &texts {
                    black_box(verdict_edit_distance::similarity(black_box(a), e));
                }
            })
        });
        group.bench_function(BenchmarkId::new("score", len), |b| {
            b.iter(|| {
                for view in &views {
                    black_box(scorer.score(black_box(view)).ok());
                }
            })
        });
        let mut results = Results::with_capacity(256);
        group.bench_function(BenchmarkId::new("static_host", len), |b| {
            b.iter(|| {
                for chunk in views.chunks(256) {
                    results.clear();
                    host.score_batch(black_box(chunk), &mut results);
                    black_box(&results);
                }
            })
        });
        group.bench_function(BenchmarkId::new("runner", len), |b| {
            b.iter(|| through_runner(&runner, &records))
        });
    }
    group.finish();

    let records = pairs(20, 100_000);
    let named = expectation_views(&records);
    let views = record_views(&records, &named);
    let mut group = c.benchmark_group("scorer_path_others");
    group.sample_size(10);
    group.throughput(Throughput::Elements(records.len() as u64));
    others::<ExactMatch>(&mut group, &records, &views);
    others::<TokenF1>(&mut group, &records, &views);
    group.finish();
}

/// `score` and `runner` for scorer `S` (default config).
fn others<S: verdict_plugin::Scorer>(
    group: &mut BenchmarkGroup<'_, ThreadCpuTime>,
    records: &[OwnedRecord],
    views: &[Record<'_>],
) {
    let scorer = S::from_json("{}").unwrap();
    group.bench_function(BenchmarkId::new("score", S::NAME), |b| {
        b.iter(|| {
            for view in views {
                black_box(scorer.score(black_box(view)).ok());
            }
        })
    });
    let runner = one_thread(S::NAME);
    group.bench_function(BenchmarkId::new("runner", S::NAME), |b| {
        b.iter(|| through_runner(&runner, records))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime::default());
    targets = scorer_path
}
criterion_main!(benches);
