//! The text scorers through the scorer path against the Python packages
//! they follow, on the same pairs: `rouge` (rougeL F) against
//! `rouge_scorer.RougeScorer(["rougeL"]).score`, `bleu` against
//! `sacrebleu.sentence_bleu`, `similarity` (Jaro-Winkler) against
//! `rapidfuzz.distance.JaroWinkler.normalized_similarity` called per pair
//! and through `rapidfuzz.process.cpdist`, its batch form.
//!
//! Inputs: 2,000 English-like sentences of 5 to 30 words and a copy of
//! each with about one word in six dropped, doubled or replaced, generated
//! deterministically; for `similarity` also 2,000 short pairs (two words,
//! the second pair with a character edited, as names and labels are). Verdict scores them through the registry's built-in
//! scorers, 256 records per `score_batch` into the host's results, as
//! `verdict eval` does.
//!
//! Both sides are timed in CPU time (the thread's for Verdict,
//! `time.process_time_ns` for Python), each the best of five passes over
//! all pairs, in the same run; the bench prints each side's cost per
//! record and the ratio. The criterion group `text_scorers` measures the
//! Verdict side again with criterion's statistics.
//!
//! ```text
//! cargo bench -p verdict-benches --bench text_scorers -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::io::Write as _;
use std::process::{Command, Stdio};

mod common;
use common::ThreadCpuTime;

use criterion::measurement::Measurement as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use verdict_edit_distance::testdata::Rng;
use verdict_scorer::{OwnedRecord, Registry, Results, Scorer, expectation_views, record_views};

const WORDS: &[&str] = &[
    "the", "a", "of", "and", "to", "in", "is", "it", "that", "was", "for", "on", "are", "with",
    "as", "his", "they", "be", "at", "one", "have", "this", "from", "by", "hot", "word", "but",
    "what", "some", "we", "can", "out", "other", "were", "all", "there", "when", "up", "use",
    "your", "how", "said", "an", "each", "she", "Paris", "capital", "France", "river", "city",
    "answer", "question", "model", "output", "3.14", "1,000", "e-mail", "don't", "(note)", "yes.",
];

/// A batch of records the size `verdict eval` hands a scorer.
const BATCH: usize = 256;

fn pairs(n: usize) -> Vec<(String, String)> {
    let mut rng = Rng(0x7E_57_5C);
    (0..n)
        .map(|_| {
            let len = 5 + rng.below(26);
            let reference: Vec<&str> = (0..len).map(|_| WORDS[rng.below(WORDS.len())]).collect();
            let mut output = Vec::new();
            for &word in &reference {
                match rng.below(18) {
                    0 => {}
                    1 => output.extend([word, word]),
                    2 => output.push(WORDS[rng.below(WORDS.len())]),
                    _ => output.push(word),
                }
            }
            (output.join(" "), reference.join(" "))
        })
        .collect()
}

/// Python's CPU nanoseconds per pair for each reference call, best of five.
const PYTHON: &str = r#"
import json, sys, time
from rouge_score import rouge_scorer
import sacrebleu
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

data = json.load(sys.stdin)
pairs, short = data["long"], data["short"]
outputs = [o for o, _ in pairs]
references = [r for _, r in pairs]
rouge = rouge_scorer.RougeScorer(["rougeL"])
calls = {
    "similarity_short": lambda: [JaroWinkler.normalized_similarity(o, r) for o, r in short],
    "similarity_short_cpdist": lambda: process.cpdist(
        [o for o, _ in short], [r for _, r in short], scorer=JaroWinkler.normalized_similarity),
    "rouge": lambda: [rouge.score(r, o)["rougeL"].fmeasure for o, r in pairs],
    "bleu": lambda: [sacrebleu.sentence_bleu(o, [r]).score for o, r in pairs],
    "similarity": lambda: [JaroWinkler.normalized_similarity(o, r) for o, r in pairs],
    "similarity_cpdist": lambda: process.cpdist(
        outputs, references, scorer=JaroWinkler.normalized_similarity),
}
out = {}
for name, call in calls.items():
    best = None
    for _ in range(5):
        start = time.process_time_ns()
        call()
        spent = time.process_time_ns() - start
        best = spent if best is None else min(best, spent)
    out[name] = best / len(pairs)
json.dump(out, sys.stdout)
"#;

/// Two words and a copy with one character replaced.
fn short_pairs(n: usize) -> Vec<(String, String)> {
    let mut rng = Rng(0x5_4027);
    (0..n)
        .map(|_| {
            let a = format!(
                "{} {}",
                WORDS[rng.below(WORDS.len())],
                WORDS[rng.below(WORDS.len())]
            );
            let mut b: Vec<char> = a.chars().collect();
            let at = rng.below(b.len());
            b[at] = char::from(b'a' + rng.below(26) as u8);
            (a, b.into_iter().collect())
        })
        .collect()
}

fn python_costs(pairs: &[(String, String)], short: &[(String, String)]) -> serde_json::Value {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let venv = Command::new("bash")
        .arg(format!("{root}/scripts/reference/install.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/reference/install.sh");
    assert!(venv.status.success(), "scripts/reference/install.sh failed");
    let python = format!(
        "{}/bin/python",
        String::from_utf8_lossy(&venv.stdout).trim()
    );
    let mut child = Command::new(python)
        .args(["-c", PYTHON])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python");
    let input = serde_json::json!({"long": pairs, "short": short}).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the python timing failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Scores every record, a batch at a time, into `results`.
fn score_all(scorer: &dyn Scorer, views: &[verdict_plugin::Record<'_>], results: &mut Results) {
    for chunk in views.chunks(BATCH) {
        results.clear();
        scorer.score_batch(black_box(chunk), results);
        black_box(&*results);
    }
}

fn records(pairs: &[(String, String)]) -> Vec<OwnedRecord> {
    pairs
        .iter()
        .map(|(o, r)| {
            OwnedRecord::new("", o.as_str()).with_expectation("expected_response", r.as_str())
        })
        .collect()
}

fn text_scorers(c: &mut Criterion<ThreadCpuTime>) {
    let pairs = pairs(2000);
    let short = short_pairs(2000);
    let (long_records, short_records) = (records(&pairs), records(&short));
    let long_named = expectation_views(&long_records);
    let short_named = expectation_views(&short_records);
    let long_views = record_views(&long_records, &long_named);
    let short_views = record_views(&short_records, &short_named);
    let python = python_costs(&pairs, &short);
    let registry = Registry::with_builtins();
    let scorers: [(&str, &str, &str, &Vec<verdict_plugin::Record<'_>>); 6] = [
        ("rouge", "rouge", "rouge-score", &long_views),
        ("bleu", "bleu", "sacrebleu", &long_views),
        (
            "similarity",
            "similarity",
            "rapidfuzz per pair",
            &long_views,
        ),
        (
            "similarity",
            "similarity_cpdist",
            "rapidfuzz cpdist",
            &long_views,
        ),
        (
            "similarity",
            "similarity_short",
            "rapidfuzz per pair",
            &short_views,
        ),
        (
            "similarity",
            "similarity_short_cpdist",
            "rapidfuzz cpdist",
            &short_views,
        ),
    ];
    let mut results = Results::with_capacity(BATCH);
    let clock = ThreadCpuTime::default();
    let mut group = c.benchmark_group("text_scorers");
    for (spec, baseline, package, views) in scorers {
        let scorer = registry.create(&spec.parse().unwrap()).unwrap();
        let ours = (0..5)
            .map(|_| {
                let start = clock.start();
                score_all(&*scorer, views, &mut results);
                clock.end(start)
            })
            .min()
            .unwrap() as f64
            / views.len() as f64;
        let theirs = python[baseline].as_f64().unwrap();
        println!(
            "{baseline}: verdict {ours:.0} ns/record, {package} {theirs:.0} ns/record: {:.1}x",
            theirs / ours
        );
        if !baseline.ends_with("cpdist") {
            group.throughput(Throughput::Elements(views.len() as u64));
            group.bench_function(baseline, |b| {
                b.iter(|| score_all(&*scorer, views, &mut results))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime::default());
    targets = text_scorers
}
criterion_main!(benches);
