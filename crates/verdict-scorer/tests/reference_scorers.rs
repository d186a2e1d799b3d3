//! The text scorers against the Python packages they follow, on one
//! generated corpus, through the scorer path `verdict eval` runs (the
//! registry's built-ins, scoring batches into the host's results):
//! `rouge` against `rouge-score`, `bleu` against `sacrebleu.sentence_bleu`
//! (its defaults, lowercased, and its other smoothing methods),
//! `similarity` against rapidfuzz's `normalized_similarity`, each to 1e-9.
//!
//! The packages come from the virtualenv `scripts/reference/install.sh`
//! makes (and installs on first use). The corpus is seeded: English words
//! with capitals, digits and punctuation, 13a's special cases (`&amp;`,
//! `<skipped>`, `-` before a newline), accented and CJK text, emoji,
//! combining marks, the two characters whose lowercase is ASCII, Unicode
//! and ASCII separators, repeated tokens, empty texts, and several
//! references; and for `similarity`, also short strings of several
//! alphabets.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value as Json, json};
use verdict_edit_distance::testdata::{Alphabet, Rng};
use verdict_plugin::ScoreValue;
use verdict_scorer::{OwnedRecord, Registry, Results, expectation_views, record_views};

const WORDS: &[&str] = &[
    "the",
    "The",
    "THE",
    "cat",
    "Cat's",
    "sat",
    "on",
    "mat",
    "a",
    "running",
    "runs",
    "Paris",
    "3.14",
    "1,000",
    "$5",
    "e-mail",
    "re-use",
    "42",
    "2nd-best",
    "don't",
    "U.S.A.",
    "&amp;",
    "&quot;hi&quot;",
    "&lt;b&gt;",
    "<skipped>",
    "(note)",
    "[x]",
    "{y}",
    "x/y",
    "a.b",
    "end.",
    "well,",
    "yes!",
    "why?",
    "5-4",
    "9.",
    ".5",
    "café",
    "naïve",
    "東京",
    "東京。",
    "😀",
    "e\u{301}",
    "İstanbul",
    "\u{212a}elvin",
    "ΟΔΟΣ",
    "straße",
    "Ω",
    "-",
    "--",
    "...",
    "'",
    "\"quoted\"",
    "@home",
    "#tag",
    "100%",
    "a_b",
    "~",
    "^",
    "`",
    "|",
    "\\",
];

const SEPARATORS: &[&str] = &[
    " ", " ", " ", " ", " ", "  ", "\n", "\t", "\u{a0}", "\u{3000}", "-\n", "\u{1f}", ", ", ".",
    "\r\n",
];

/// A text of up to `max` words of `vocabulary`, joined by separators.
fn sentence(rng: &mut Rng, vocabulary: &[&str], max: usize) -> String {
    let n = rng.below(max + 1);
    let mut text = String::new();
    for i in 0..n {
        if i > 0 {
            text.push_str(SEPARATORS[rng.below(SEPARATORS.len())]);
        }
        text.push_str(vocabulary[rng.below(vocabulary.len())]);
    }
    if rng.below(8) == 0 {
        text.push_str(SEPARATORS[rng.below(SEPARATORS.len())]);
    }
    text
}

/// `text` with some words dropped, doubled or replaced.
fn edited(rng: &mut Rng, text: &str, vocabulary: &[&str]) -> String {
    let mut words = Vec::new();
    for word in text.split(' ') {
        match rng.below(8) {
            0 => {}
            1 => words.extend([word, word]),
            2 => words.push(vocabulary[rng.below(vocabulary.len())]),
            _ => words.push(word),
        }
    }
    words.join(" ")
}

/// Outputs and their references (one to three).
fn text_corpus(n: usize) -> Vec<(String, Vec<String>)> {
    let mut rng = Rng(0x5EED_7E57);
    (0..n)
        .map(|i| {
            // A small vocabulary now and then, for repeated tokens.
            let start = rng.below(WORDS.len() - 4);
            let small = &WORDS[start..start + 4];
            let vocabulary = if i % 3 == 0 { small } else { WORDS };
            let reference = sentence(&mut rng, vocabulary, 24);
            let output = match rng.below(10) {
                0 => String::new(),
                1 => sentence(&mut rng, vocabulary, 24),
                2 => reference.clone(),
                _ => edited(&mut rng, &reference, vocabulary),
            };
            let mut references = vec![reference];
            for _ in 0..rng.below(3).saturating_sub(1) {
                let other = edited(&mut rng, &references[0], vocabulary);
                references.push(other);
            }
            if i % 17 == 0 {
                references[0].clear();
            }
            (output, references)
        })
        .collect()
}

/// Pairs of short strings over several alphabets, edited or not.
fn char_corpus(n: usize) -> Vec<(String, String)> {
    let mut rng = Rng(0x0051_A117);
    (0..n)
        .map(|i| {
            let alphabet = Alphabet::ALL[i % Alphabet::ALL.len()];
            let len = rng.below(40);
            match rng.below(4) {
                0 => {
                    let other = rng.below(40);
                    (rng.text(len, alphabet), rng.text(other, alphabet))
                }
                1 => {
                    let a = rng.text(len, alphabet);
                    let b = rng.mutate(&a, 30, alphabet);
                    (a, b)
                }
                _ => rng.edited_pair(len, alphabet),
            }
        })
        .collect()
}

/// The reference packages' numbers for the corpus.
const REFERENCE: &str = r#"
import json, sys
from rouge_score import rouge_scorer
import sacrebleu
from rapidfuzz.distance import Jaro, JaroWinkler, Levenshtein

data = json.load(sys.stdin)
scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
out = {"rouge": [], "bleu": [], "similarity": []}
variants = [{}, {"lowercase": True}, {"smooth_method": "floor"},
            {"smooth_method": "add-k", "smooth_value": 0.5}, {"smooth_method": "none"}]
for output, references in data["texts"]:
    scores = scorer.score_multi(references, output)
    out["rouge"].append({k: [s.precision, s.recall, s.fmeasure] for k, s in scores.items()})
    out["bleu"].append([sacrebleu.sentence_bleu(output, references, **v).score for v in variants])
for a, b in data["pairs"]:
    out["similarity"].append([
        JaroWinkler.normalized_similarity(a, b),
        Jaro.normalized_similarity(a, b),
        Levenshtein.normalized_similarity(a, b),
    ])
json.dump(out, sys.stdout)
"#;

/// The python of the reference virtualenv, installed once per test binary.
fn python() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/reference/install.sh"
        );
        let output = Command::new("bash")
            .arg(script)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/reference/install.sh");
        assert!(
            output.status.success(),
            "scripts/reference/install.sh failed"
        );
        let venv = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        PathBuf::from(venv).join("bin/python")
    })
}

/// Runs [`REFERENCE`] on the corpus.
fn reference_numbers(texts: &[(String, Vec<String>)], pairs: &[(String, String)]) -> Json {
    let mut child = Command::new(python())
        .args(["-c", REFERENCE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the reference python");
    let input = json!({"texts": texts, "pairs": pairs}).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the reference python failed");
    serde_json::from_slice(&output.stdout).expect("the reference's JSON")
}

/// The numbers the built-in scorer `spec` gives `records`, through the
/// registry and a batch into the host's results.
fn verdict_numbers(spec: &str, records: &[OwnedRecord]) -> Vec<f64> {
    let scorer = Registry::with_builtins()
        .create(&spec.parse().unwrap())
        .unwrap_or_else(|e| panic!("{spec}: {e}"));
    let named = expectation_views(records);
    let views = record_views(records, &named);
    let mut results = Results::with_capacity(views.len());
    scorer.score_batch(&views, &mut results);
    assert_eq!(results.len(), records.len(), "{spec}");
    (0..results.len())
        .map(|i| match results.get(i).unwrap().outcome() {
            Ok(score) => match score.value {
                ScoreValue::Number(n) => n,
                other => panic!("{spec}: record {i} scored {other:?}"),
            },
            Err(e) => panic!("{spec}: record {i}: {e}"),
        })
        .collect()
}

/// Checks `ours` against `theirs` to 1e-9, naming the first records that
/// differ with `show`.
fn agree(what: &str, ours: &[f64], theirs: &[f64], show: impl Fn(usize) -> String) {
    assert_eq!(ours.len(), theirs.len(), "{what}");
    // A NaN on either side is never close.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9;
    let differ: Vec<usize> = (0..ours.len())
        .filter(|&i| !close(ours[i], theirs[i]))
        .collect();
    let first: Vec<String> = differ
        .iter()
        .take(3)
        .map(|&i| format!("#{i}: ours {} theirs {}: {}", ours[i], theirs[i], show(i)))
        .collect();
    assert!(
        differ.is_empty(),
        "{what}: {} of {} differ, first:\n{}",
        differ.len(),
        ours.len(),
        first.join("\n")
    );
}

fn text_records(texts: &[(String, Vec<String>)]) -> Vec<OwnedRecord> {
    texts
        .iter()
        .map(|(output, references)| {
            let expected: Json = match references.as_slice() {
                [one] => one.clone().into(),
                many => many.to_vec().into(),
            };
            OwnedRecord::new("", output.as_str()).with_expectation("expected_response", expected)
        })
        .collect()
}

#[test]
fn rouge_bleu_and_similarity_agree_with_the_python_packages() {
    let texts = text_corpus(600);
    let mut pairs = char_corpus(600);
    // Sentences too, for similarity: the output and its first reference.
    pairs.extend(texts.iter().map(|(o, r)| (o.clone(), r[0].clone())));
    let theirs = reference_numbers(&texts, &pairs);
    let records = text_records(&texts);
    let show_text = |i: usize| format!("{:?} against {:?}", texts[i].0, texts[i].1);

    for kind in ["rouge1", "rouge2", "rougeL"] {
        for (m, measure) in ["precision", "recall", "f"].into_iter().enumerate() {
            let spec = format!("rouge:type={kind},measure={measure}");
            let expected: Vec<f64> = theirs["rouge"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r[kind][m].as_f64().unwrap())
                .collect();
            agree(
                &spec,
                &verdict_numbers(&spec, &records),
                &expected,
                show_text,
            );
        }
    }

    // sacreBLEU's scale is 0 to 100; Verdict's, 0 to 1.
    for (v, config) in [
        "",
        ":lowercase=true",
        ":smooth_method=floor",
        ":smooth_method=add-k,smooth_value=0.5",
        ":smooth_method=none",
    ]
    .into_iter()
    .enumerate()
    {
        let expected: Vec<f64> = theirs["bleu"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b[v].as_f64().unwrap() / 100.0).min(1.0))
            .collect();
        let partial = expected.iter().filter(|&&b| b > 0.0 && b < 1.0).count();
        assert!(
            partial > 100,
            "bleu{config}: only {partial} partial matches"
        );
        let spec = format!("bleu{config}");
        agree(
            &spec,
            &verdict_numbers(&spec, &records),
            &expected,
            show_text,
        );
    }

    let records: Vec<OwnedRecord> = pairs
        .iter()
        .map(|(a, b)| {
            OwnedRecord::new("", a.as_str()).with_expectation("expected_response", b.as_str())
        })
        .collect();
    for (m, metric) in ["jaro_winkler", "jaro", "levenshtein"]
        .into_iter()
        .enumerate()
    {
        let spec = format!("similarity:metric={metric}");
        let expected: Vec<f64> = theirs["similarity"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s[m].as_f64().unwrap())
            .collect();
        agree(&spec, &verdict_numbers(&spec, &records), &expected, |i| {
            format!("{:?} against {:?}", pairs[i].0, pairs[i].1)
        });
    }
}
