//! The Levenshtein distance of the `edit_distance` scorer against `strsim`
//! (the quadratic table) and `rapidfuzz` (bit-parallel, like ours), in one
//! criterion group `edit_distance`.
//!
//! Inputs: pairs of 20, 240 and 2000 characters of ASCII text, the second
//! a copy of the first with 10% random edits (substitutions, insertions,
//! deletions), generated deterministically by the scorer crate's
//! `testdata`; plus one pair of about 240 characters of mixed Unicode
//! (accents, CJK, emoji) for the non-ASCII path. Functions:
//!
//! - `verdict`: `verdict_edit_distance::levenshtein`;
//! - `verdict_bounded`: `levenshtein_bounded` with a maximum of 10% of the
//!   length, as a `max_distance` or `min_similarity: 0.9` threshold gives;
//! - `rapidfuzz`: `rapidfuzz::distance::levenshtein::distance` over `chars()`,
//!   the same Unicode semantics;
//! - `rapidfuzz_bytes`: the same over `bytes()`, its fastest form for ASCII;
//! - `rapidfuzz_bounded`: `distance_with_args` with the same maximum;
//! - `strsim`: `strsim::levenshtein`.
//!
//! Run them with:
//!
//! ```text
//! cargo bench -p verdict-benches --bench edit_distance -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rapidfuzz::distance::levenshtein as rapidfuzz;
use verdict_edit_distance::testdata::{Alphabet, Rng};
use verdict_edit_distance::{levenshtein, levenshtein_bounded};

/// English-like ASCII: frequent letters weighted, spaces, a few marks.
const ASCII: Alphabet = Alphabet::Chars(&[
    'e', 'e', 'e', 't', 't', 'a', 'a', 'o', 'o', 'i', 'n', 's', 'h', 'r', 'd', 'l', 'c', 'u', 'm',
    'w', 'f', 'g', 'y', 'p', 'b', 'v', 'k', ' ', ' ', ' ', ' ', ',', '.', 'T', 'P',
]);

/// Accents, CJK, emoji and a combining mark among ASCII letters.
const UNICODE: Alphabet = Alphabet::Chars(&[
    'e', 'a', 'o', 'n', 't', ' ', ' ', 'é', 'è', 'à', 'ç', 'ü', 'ß', '東', '京', '都', '日', '本',
    '語', 'の', 'は', '👍', '😀', '\u{301}',
]);

fn edit_distance(c: &mut Criterion) {
    let mut rng = Rng(2024);
    let inputs = [
        ("ascii_20", rng.edited_pair(20, ASCII)),
        ("ascii_240", rng.edited_pair(240, ASCII)),
        ("ascii_2000", rng.edited_pair(2000, ASCII)),
        ("unicode_240", rng.edited_pair(240, UNICODE)),
    ];
    let mut group = c.benchmark_group("edit_distance");
    for (name, (a, b)) in &inputs {
        let (a, b) = (a.as_str(), b.as_str());
        let len = a.chars().count().max(b.chars().count());
        let max = len / 10;
        let d = strsim::levenshtein(a, b);
        assert_eq!(levenshtein(a, b), d, "{name}");
        assert_eq!(rapidfuzz::distance(a.chars(), b.chars()), d, "{name}");
        assert_eq!(
            levenshtein_bounded(a, b, max),
            (d <= max).then_some(d),
            "{name}"
        );
        eprintln!("{name}: {len} chars, distance {d}, bound {max}");

        group.bench_with_input(
            BenchmarkId::new("verdict", name),
            &(a, b),
            |bench, &(a, b)| bench.iter(|| levenshtein(black_box(a), black_box(b))),
        );
        group.bench_with_input(
            BenchmarkId::new("verdict_bounded", name),
            &(a, b),
            |bench, &(a, b)| bench.iter(|| levenshtein_bounded(black_box(a), black_box(b), max)),
        );
        group.bench_with_input(
            BenchmarkId::new("rapidfuzz", name),
            &(a, b),
            |bench, &(a, b)| {
                bench.iter(|| rapidfuzz::distance(black_box(a).chars(), black_box(b).chars()))
            },
        );
        if a.is_ascii() && b.is_ascii() {
            group.bench_with_input(
                BenchmarkId::new("rapidfuzz_bytes", name),
                &(a, b),
                |bench, &(a, b)| {
                    bench.iter(|| rapidfuzz::distance(black_box(a).bytes(), black_box(b).bytes()))
                },
            );
        }
        group.bench_with_input(
            BenchmarkId::new("rapidfuzz_bounded", name),
            &(a, b),
            |bench, &(a, b)| {
                let args = rapidfuzz::Args::default().score_cutoff(max);
                bench.iter(|| {
                    rapidfuzz::distance_with_args(black_box(a).chars(), black_box(b).chars(), &args)
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("strsim", name),
            &(a, b),
            |bench, &(a, b)| bench.iter(|| strsim::levenshtein(black_box(a), black_box(b))),
        );
    }
    group.finish();
}

criterion_group!(benches, edit_distance);
criterion_main!(benches);
