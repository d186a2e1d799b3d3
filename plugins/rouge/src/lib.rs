//! The `rouge` scorer: ROUGE-N and ROUGE-L between the output and the
//! expected response, as Google's `rouge-score` Python package computes
//! them (the package MLflow and Hugging Face `evaluate` call).
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `type` | one of: `rouge1` … `rouge9`, `rougeL` | `rougeL` | n-gram overlap of that order, or the longest common subsequence |
//! | `measure` | one of: `f`, `precision`, `recall` | `f` | the number reported |
//! | `use_stemmer` | bool | `false` | only `false`: see below |
//! | `min_score` | number, 0 to 1 | none | the pass mark: passes when the measure is at least this |
//! | `output` | one of: `score`, `pass` | `score` | the value: the measure (with the pass mark's verdict beside it), or whether it passes (needs `min_score`) |
//! | `expectation` | string | `expected_response` | the reference; a JSON list scores against each and keeps the best F |
//!
//! # Semantics
//!
//! Those of `rouge_scorer.RougeScorer([type]).score(target, prediction)`
//! with its default tokenizer, the expectation being the target and the
//! output the prediction; the tests check them against the package itself
//! on a generated corpus.
//!
//! - Tokens: the text is lowercased (as Python's `str.lower`), every run of
//!   characters other than `a`–`z` and `0`–`9` is a separator, and the
//!   tokens are what is left. Text in other scripts has no tokens: ROUGE
//!   here is for English.
//! - ROUGE-N counts the n-grams the two sides share (each as often as it
//!   occurs on both): precision is that over the output's n-grams, recall
//!   over the expectation's (a side without any counts as one), and F is
//!   their harmonic mean (0 when both are 0). ROUGE-L does the same with
//!   the length of the longest common subsequence of tokens over the
//!   numbers of tokens, and is 0 when either side has none. Two empty texts
//!   score 0, as in the package.
//! - A JSON list expectation is several references: each is scored and the
//!   one with the highest F counts (the first of equals), as
//!   `RougeScorer.score_multi` does, whatever the measure reported.
//! - Outputs and expectations that are not strings are used as their JSON
//!   text; a missing output is the empty text. A record without the
//!   expectation (or with a `null` one) is an error, `MISSING_EXPECTATION`;
//!   an empty list, `EMPTY_EXPECTATION`.
//!
//! `use_stemmer: true` is refused. `rouge-score` stems with NLTK's Porter
//! stemmer (NLTK's own variant of Porter's 1980 algorithm); the
//! `rust-stemmers` crate implements Snowball's English stemmer (Porter2),
//! which stems differently (`generously`: `generous` against NLTK's
//! `gener`), so a score would not be the package's, and a port of NLTK's
//! stemmer was left for when it is asked for. `rougeLsum` (ROUGE-L over
//! sentences) is not offered.
//!
//! # Example
//!
//! ```
//! use verdict_plugin::{NamedValue, Record, ScoreValue, Scorer, Value};
//! use verdict_rouge::Rouge;
//!
//! let scorer = Rouge::from_json(r#"{"type": "rouge1"}"#)?;
//! let expectations = [NamedValue::new("expected_response", Value::string("The cat sat on the mat."))];
//! let record = Record::new(Value::NULL, Value::string("the cat was on the mat"), &expectations);
//! let score = scorer.score(&record).unwrap();
//! // 5 of 6 unigrams shared each way.
//! assert_eq!(score.value, ScoreValue::Number(5.0 / 6.0));
//! # Ok::<(), verdict_plugin::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

use std::collections::HashMap;

use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, PassMark, Record, Scorer};

/// What is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// n-grams of this order.
    N(usize),
    /// The longest common subsequence.
    L,
}

/// Which number is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Measure {
    F,
    Precision,
    Recall,
}

/// The `rouge` scorer. See the [crate docs](self) for its config.
#[derive(Clone, Debug)]
pub struct Rouge {
    kind: Kind,
    measure: Measure,
    mark: PassMark,
    expectation: String,
}

/// Precision, recall and F of one output against one reference.
#[derive(Clone, Copy, Debug, PartialEq)]
struct RougeScore {
    /// Shared over the output's count.
    precision: f64,
    /// Shared over the reference's count.
    recall: f64,
    /// The harmonic mean of the two.
    fmeasure: f64,
}

impl RougeScore {
    fn new(precision: f64, recall: f64) -> Self {
        // As rouge-score's `scoring.fmeasure`, operation for operation.
        let fmeasure = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        RougeScore {
            precision,
            recall,
            fmeasure,
        }
    }

    const ZERO: RougeScore = RougeScore {
        precision: 0.0,
        recall: 0.0,
        fmeasure: 0.0,
    };
}

/// Buffers reused from one record to the next in a batch.
#[derive(Default)]
struct Scratch {
    text: String,
    ids: HashMap<String, u32>,
    output: Vec<u32>,
    reference: Vec<u32>,
    row: Vec<u32>,
    counts: Vec<[u32; 2]>,
    ngrams: HashMap<Vec<u32>, [u32; 2]>,
}

impl Scorer for Rouge {
    const NAME: &'static str = "rouge";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "ROUGE-N or ROUGE-L between the output and the expected response, as the rouge-score package.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "type",
            "one of: rouge1 … rouge9, rougeL",
            "rougeL",
            "n-gram overlap of that order, or the longest common subsequence",
        ),
        ConfigKey::new(
            "measure",
            "one of: f, precision, recall",
            "f",
            "the number reported",
        ),
        ConfigKey::new(
            "use_stemmer",
            "bool",
            "false",
            "only false: rouge-score's Porter stemmer (NLTK's) is not implemented",
        ),
        ConfigKey::new(
            "min_score",
            "number, 0 to 1",
            "none",
            "the pass mark: passes when the measure is at least this",
        ),
        ConfigKey::new(
            "output",
            "one of: score, pass",
            "score",
            "the value: the measure (with the pass mark's verdict beside it), or whether it \
             passes (needs min_score)",
        ),
        ConfigKey::new(
            "expectation",
            "string",
            "expected_response",
            "the reference; a JSON list scores each and keeps the best F",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let kind = match config.str("type")? {
            None | Some("rougeL") => Kind::L,
            Some(t) => match t
                .strip_prefix("rouge")
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(n @ 1..=9) if t.len() == 6 => Kind::N(n),
                _ => {
                    return Err(config.error(
                        "type",
                        format!("{t:?} is not offered; expected one of: rouge1 … rouge9, rougeL"),
                    ));
                }
            },
        };
        let measure = match config.one_of("measure", &["f", "precision", "recall"])? {
            Some("precision") => Measure::Precision,
            Some("recall") => Measure::Recall,
            _ => Measure::F,
        };
        if config.bool("use_stemmer")? == Some(true) {
            return Err(config.error(
                "use_stemmer",
                "stemming is not offered: rouge-score uses NLTK's Porter stemmer, which no Rust \
                 stemmer reproduces; remove use_stemmer or set it to false",
            ));
        }
        let expectation = config.expectation("expected_response")?;
        Ok(Rouge {
            kind,
            measure,
            mark: PassMark::from_config(config, "min_score")?,
            expectation: expectation.to_owned(),
        })
    }

    verdict_plugin::score_with_scratch!(Scratch, score_with);
}

impl Rouge {
    fn score_with(&self, record: &Record<'_>, scratch: &mut Scratch) -> Outcome {
        let references = record.references(&self.expectation)?;
        scratch.ids.clear();
        let mut output = std::mem::take(&mut scratch.output);
        tokenize(
            record.outputs.text(),
            &mut scratch.text,
            &mut scratch.ids,
            &mut output,
        );
        // The first reference with the highest F, as numpy's argmax.
        let mut best = (0, RougeScore::ZERO);
        for (i, reference) in references.iter().enumerate() {
            let score = self.against(&output, reference, scratch);
            if i == 0 || score.fmeasure > best.1.fmeasure {
                best = (i, score);
            }
        }
        scratch.output = output;
        let (index, score) = best;
        let kind = match self.kind {
            Kind::N(n) => format!("rouge{n}"),
            Kind::L => "rougeL".to_owned(),
        };
        let value = match self.measure {
            Measure::F => score.fmeasure,
            Measure::Precision => score.precision,
            Measure::Recall => score.recall,
        };
        let mut rationale = format!(
            "{kind} F {:.3} (precision {:.3}, recall {:.3})",
            score.fmeasure, score.precision, score.recall
        );
        if references.len() > 1 {
            rationale.push_str(&format!(
                "; best of {} references: #{}",
                references.len(),
                index + 1
            ));
        }
        Ok(self.mark.score(value, rationale))
    }

    /// The score of the output's tokens against `reference`.
    fn against(&self, output: &[u32], reference: &str, scratch: &mut Scratch) -> RougeScore {
        let mut target = std::mem::take(&mut scratch.reference);
        tokenize(reference, &mut scratch.text, &mut scratch.ids, &mut target);
        let score = match self.kind {
            Kind::L => lcs_score(&target, output, &mut scratch.row),
            Kind::N(1) => unigram_score(&target, output, scratch.ids.len(), &mut scratch.counts),
            Kind::N(n) => ngram_score(&target, output, n, &mut scratch.ngrams),
        };
        scratch.reference = target;
        score
    }
}

/// The tokens of `text` as rouge-score's default tokenizer makes them,
/// each as its id in `ids` (new tokens get the next id), into `out`;
/// `buf` is scratch space.
fn tokenize(text: &str, buf: &mut String, ids: &mut HashMap<String, u32>, out: &mut Vec<u32>) {
    out.clear();
    buf.clear();
    for c in text.chars() {
        // `str.lower()`, then every character but a-z and 0-9 is a
        // separator. Only two non-ASCII characters lowercase to an ASCII
        // letter: U+0130 (to `i` and a combining dot, which ends the
        // token) and the Kelvin sign U+212A (to `k`).
        match c {
            'a'..='z' | '0'..='9' => buf.push(c),
            'A'..='Z' => buf.push(c.to_ascii_lowercase()),
            '\u{212a}' => buf.push('k'),
            '\u{130}' => {
                buf.push('i');
                push_token(buf, ids, out);
            }
            _ => push_token(buf, ids, out),
        }
    }
    push_token(buf, ids, out);
}

/// Ends the token in `buf`, if any.
fn push_token(buf: &mut String, ids: &mut HashMap<String, u32>, out: &mut Vec<u32>) {
    if buf.is_empty() {
        return;
    }
    let next = ids.len() as u32;
    let id = match ids.get(buf.as_str()) {
        Some(&id) => id,
        None => {
            ids.insert(buf.clone(), next);
            next
        }
    };
    out.push(id);
    buf.clear();
}

/// ROUGE-L of `prediction` against `target`; `row` is scratch space.
fn lcs_score(target: &[u32], prediction: &[u32], row: &mut Vec<u32>) -> RougeScore {
    if target.is_empty() || prediction.is_empty() {
        return RougeScore::ZERO;
    }
    let lcs = lcs_len(target, prediction, row);
    RougeScore::new(
        lcs as f64 / prediction.len() as f64,
        lcs as f64 / target.len() as f64,
    )
}

/// The length of the longest common subsequence of `a` and `b`, by the
/// table one row at a time.
fn lcs_len(a: &[u32], b: &[u32], row: &mut Vec<u32>) -> u32 {
    row.clear();
    row.resize(b.len() + 1, 0);
    for &x in a {
        let mut diag = 0;
        for (j, &y) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if x == y { diag + 1 } else { up.max(row[j]) };
            diag = up;
        }
    }
    row[b.len()]
}

/// ROUGE-1 with a count per token id below `n_ids`; `counts` is scratch.
fn unigram_score(
    target: &[u32],
    prediction: &[u32],
    n_ids: usize,
    counts: &mut Vec<[u32; 2]>,
) -> RougeScore {
    counts.clear();
    counts.resize(n_ids, [0, 0]);
    for &t in target {
        counts[t as usize][0] += 1;
    }
    for &p in prediction {
        counts[p as usize][1] += 1;
    }
    let shared: u32 = target
        .iter()
        .map(|&t| {
            let c = &mut counts[t as usize];
            let n = c[0].min(c[1]);
            // Count each distinct token once.
            *c = [0, 0];
            n
        })
        .sum();
    overlap_score(shared as usize, target.len(), prediction.len())
}

/// ROUGE-N for `n` of 2 or more; `ngrams` is scratch space.
fn ngram_score(
    target: &[u32],
    prediction: &[u32],
    n: usize,
    ngrams: &mut HashMap<Vec<u32>, [u32; 2]>,
) -> RougeScore {
    ngrams.clear();
    for gram in target.windows(n) {
        ngrams.entry(gram.to_vec()).or_insert([0, 0])[0] += 1;
    }
    for gram in prediction.windows(n) {
        if let Some(c) = ngrams.get_mut(gram) {
            c[1] += 1;
        }
    }
    let shared: u32 = ngrams.values().map(|c| c[0].min(c[1])).sum();
    let grams = |len: usize| (len + 1).saturating_sub(n);
    overlap_score(
        shared as usize,
        grams(target.len()),
        grams(prediction.len()),
    )
}

/// Precision and recall of `shared` n-grams, as rouge-score's
/// `_score_ngrams`: a side without any counts as one.
fn overlap_score(shared: usize, target: usize, prediction: usize) -> RougeScore {
    RougeScore::new(
        shared as f64 / prediction.max(1) as f64,
        shared as f64 / target.max(1) as f64,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use verdict_plugin::{
        NamedValue, Score, ScoreValue, Scorer, Value, check_config_errors, score_one,
    };

    use super::{Rouge, tokenize};

    fn tokens(text: &str) -> Vec<String> {
        let mut ids = HashMap::new();
        let mut out = Vec::new();
        tokenize(text, &mut String::new(), &mut ids, &mut out);
        let names: HashMap<u32, String> = ids.into_iter().map(|(k, v)| (v, k)).collect();
        out.iter().map(|id| names[id].clone()).collect()
    }

    fn against(config: &str, output: &str, expected: Value<'_>) -> Score {
        let expectations = [NamedValue::new("expected_response", expected)];
        score_one::<Rouge>(config, Value::string(output), &expectations)
    }

    fn number(config: &str, output: &str, expected: &str) -> f64 {
        match against(config, output, Value::string(expected)).value {
            ScoreValue::Number(n) => n,
            other => panic!("not a number: {other:?}"),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn the_default_tokenizer() {
        assert_eq!(
            tokens("The cat's  hat, 2nd-best!"),
            ["the", "cat", "s", "hat", "2nd", "best"]
        );
        assert_eq!(tokens("  "), Vec::<String>::new());
        // Non-ASCII letters are separators; the two characters whose
        // lowercase is ASCII are not.
        assert_eq!(tokens("café naïve 東京"), ["caf", "na", "ve"]);
        assert_eq!(tokens("\u{130}STANBUL"), ["i", "stanbul"]);
        assert_eq!(tokens("5\u{212a}M"), ["5km"]);
        assert_eq!(tokens("ÉCOLE"), ["cole"]);
    }

    #[test]
    fn rouge_n_by_hand() {
        // [the, cat, was, on, the, mat] vs [the, cat, sat, on, the, mat]:
        // 5 shared unigrams of 6 each way.
        let (out, exp) = ("the cat was on the mat", "The cat sat on the mat.");
        assert!(close(number(r#"{"type": "rouge1"}"#, out, exp), 5.0 / 6.0));
        // Bigrams: (the cat) (on the) (the mat) of 5 each way.
        assert!(close(number(r#"{"type": "rouge2"}"#, out, exp), 3.0 / 5.0));
        // Repeated tokens count as often as on both sides: [a, a, a] vs [a, b]:
        // shared 1, precision 1/3, recall 1/2, F 0.4.
        assert!(close(number(r#"{"type": "rouge1"}"#, "a a a", "a b"), 0.4));
        assert!(close(
            number(
                r#"{"type": "rouge1", "measure": "precision"}"#,
                "a a a",
                "a b"
            ),
            1.0 / 3.0
        ));
        assert!(close(
            number(r#"{"type": "rouge1", "measure": "recall"}"#, "a a a", "a b"),
            0.5
        ));
        // An order above the output's length: no n-grams, precision over 1.
        assert_eq!(number(r#"{"type": "rouge3"}"#, "a b", "a b"), 0.0);
        assert_eq!(number(r#"{"type": "rouge3"}"#, "a b c", "a b c"), 1.0);
    }

    #[test]
    fn rouge_l_by_hand() {
        // LCS of [a, b, c, d, e] and [a, x, c, e, b] is [a, c, e]: 3.
        let s = against("{}", "a x c e b", Value::string("a b c d e"));
        assert!(matches!(s.value, ScoreValue::Number(n) if close(n, 0.6)));
        assert_eq!(
            s.rationale.as_deref(),
            Some("rougeL F 0.600 (precision 0.600, recall 0.600)")
        );
        assert_eq!(number("{}", "b a", "a b"), 0.5);
    }

    #[test]
    fn empty_sides_score_zero() {
        for kind in ["rouge1", "rouge2", "rougeL"] {
            let config = format!(r#"{{"type": "{kind}"}}"#);
            assert_eq!(number(&config, "", ""), 0.0, "{kind}");
            assert_eq!(number(&config, "...", "a"), 0.0, "{kind}");
            assert_eq!(number(&config, "a", "東京"), 0.0, "{kind}");
        }
    }

    #[test]
    fn several_references_keep_the_best_f() {
        let s = against(
            r#"{"type": "rouge1", "measure": "recall"}"#,
            "a b",
            Value::json(r#"["a b c d", "a", "a b"]"#),
        );
        // F: 2/3, 2/3, 1: the third wins, whose recall is 1.
        assert_eq!(s.value, ScoreValue::Number(1.0));
        assert!(s.rationale.unwrap().ends_with("best of 3 references: #3"));
        // Ties keep the first.
        let s = against(r#"{"type": "rouge1"}"#, "a b", Value::json(r#"["a", "b"]"#));
        assert!(s.rationale.unwrap().ends_with("#1"));
    }

    #[test]
    fn pass_mark() {
        let s = against(
            r#"{"min_score": 0.5, "output": "pass"}"#,
            "a x c e b",
            Value::string("a b c d e"),
        );
        assert_eq!(s.value, ScoreValue::Bool(true));
        let s = against(
            r#"{"min_score": 0.7}"#,
            "a x c e b",
            Value::string("a b c d e"),
        );
        assert_eq!(s.passed, Some(false));
    }

    #[test]
    fn bad_expectations_are_errors() {
        verdict_plugin::check_reference_errors::<Rouge>().unwrap();
    }

    #[test]
    fn invalid_configs_name_the_key() {
        check_config_errors::<Rouge>(&[
            (r#"{"type": "rougeLsum"}"#, "type"),
            (r#"{"type": "rouge0"}"#, "type"),
            (r#"{"type": "rouge10"}"#, "type"),
            (r#"{"type": "rouge+1"}"#, "type"),
            (r#"{"measure": "f1"}"#, "measure"),
            (r#"{"use_stemmer": true}"#, "use_stemmer"),
            (r#"{"min_score": 2}"#, "min_score"),
            (r#"{"output": "pass"}"#, "output"),
            (r#"{"expectation": ""}"#, "expectation"),
        ])
        .unwrap();
        assert!(Rouge::from_json(r#"{"use_stemmer": false, "type": "rouge9"}"#).is_ok());
    }
}

// Only the scorer's own entry point (`verdict_plugin_v1_rouge`): the host
// links every built-in scorer, and a program can hold one generic
// `verdict_plugin_v1` at most.
verdict_plugin::export_plugin!(Rouge, rouge);
