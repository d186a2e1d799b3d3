//! The `similarity` scorer: how alike the output and the expectation are as
//! strings, by Jaro-Winkler, Jaro or normalized Levenshtein similarity,
//! from 0 (nothing alike) to 1 (equal), with an optional pass mark.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `metric` | one of: `jaro_winkler`, `jaro`, `levenshtein` | `jaro_winkler` | the similarity to compute |
//! | `prefix_weight` | number, 0 to 0.25 | `0.1` | Jaro-Winkler's weight of the common prefix (up to 4 characters) |
//! | `min_similarity` | number, 0 to 1 | none | the pass mark: passes when the similarity is at least this |
//! | `output` | one of: `score`, `pass` | `score` | the value: the similarity (with the pass mark's verdict beside it), or whether it passes (needs `min_similarity`) |
//! | `expectation` | string | `expected_response` | the expectation to compare with; a JSON list scores its best item |
//!
//! # Semantics
//!
//! The numbers are those of Python's rapidfuzz
//! (`rapidfuzz.distance.JaroWinkler.normalized_similarity`,
//! `Jaro.normalized_similarity`, `Levenshtein.normalized_similarity`),
//! called with the output first; the tests check them against rapidfuzz
//! itself on a generated corpus.
//!
//! - A character is a Unicode scalar value, with no normalization: `é` and
//!   `e` + U+0301 differ. Two empty texts are equal (1); an empty text and
//!   another one have nothing alike (0).
//! - Jaro counts the characters of the output that match an unmatched equal
//!   character of the expectation at most `max(len) / 2 − 1` positions
//!   away (each taking the first such), `m`, and the matched characters
//!   that are out of order, `t` (halved, rounded down): `(m / len₁ + m /
//!   len₂ + (m − t) / m) / 3`, or 0 when nothing matches. Jaro-Winkler adds
//!   `ℓ · prefix_weight · (1 − jaro)` when Jaro is above 0.7, `ℓ` being the
//!   length of the common prefix, at most 4.
//! - Levenshtein similarity is `1 − d / max(len)`, with `d` the edit
//!   distance of the `edit_distance` scorer (the same bit-parallel code).
//! - Outputs and expectations that are not strings are compared as their
//!   JSON text; a missing output is the empty text. A record without the
//!   expectation (or with a `null` one) is an error, `MISSING_EXPECTATION`;
//!   an empty list, `EMPTY_EXPECTATION`. A list scores its best item (the
//!   first of equals).
//!
//! Jaro-Winkler suits short strings such as names, where a shared start
//! counts for more; Levenshtein, text where any edit counts the same.
//!
//! # Speed
//!
//! Jaro and Jaro-Winkler are those of the `rapidfuzz` crate, by rapidfuzz's
//! author: bit-parallel, as in the Python package; ASCII texts are
//! compared as bytes. Writing Jaro here was the alternative rejected: the
//! textbook loop over the match window was several times slower than
//! Python's rapidfuzz on sentences. Levenshtein is the `edit_distance`
//! scorer's own code, not a second implementation.
//!
//! # Example
//!
//! ```
//! use verdict_plugin::{NamedValue, Record, ScoreValue, Scorer, Value};
//! use verdict_similarity::Similarity;
//!
//! let scorer = Similarity::from_json(r#"{"min_similarity": 0.9}"#)?;
//! let expectations = [NamedValue::new("expected_response", Value::string("MARTHA"))];
//! let record = Record::new(Value::NULL, Value::string("MARHTA"), &expectations);
//! let score = scorer.score(&record).unwrap();
//! // Jaro: m = 6, t = 1: (1 + 1 + 5/6) / 3 = 0.944…; a prefix of 3 adds 0.3 · 0.0555….
//! assert_eq!(score.value, ScoreValue::Number(0.9611111111111111));
//! assert_eq!(score.passed, Some(true));
//! # Ok::<(), verdict_plugin::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

use std::borrow::Cow;

use rapidfuzz::distance::{jaro, jaro_winkler};
use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, PassMark, Record, Scorer};

/// Which similarity.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Metric {
    JaroWinkler { prefix_weight: f64 },
    Jaro,
    Levenshtein,
}

/// The `similarity` scorer. See the [crate docs](self) for its config.
#[derive(Clone, Debug)]
pub struct Similarity {
    metric: Metric,
    mark: PassMark,
    expectation: String,
}

impl Scorer for Similarity {
    const NAME: &'static str = "similarity";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Jaro-Winkler, Jaro or normalized Levenshtein similarity between the output and the expectation.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "metric",
            "one of: jaro_winkler, jaro, levenshtein",
            "jaro_winkler",
            "the similarity to compute, as rapidfuzz's normalized_similarity",
        ),
        ConfigKey::new(
            "prefix_weight",
            "number, 0 to 0.25",
            "0.1",
            "jaro_winkler only: the weight of the common prefix (up to 4 characters)",
        ),
        ConfigKey::new(
            "min_similarity",
            "number, 0 to 1",
            "none",
            "the pass mark: passes when the similarity is at least this",
        ),
        ConfigKey::new(
            "output",
            "one of: score, pass",
            "score",
            "the value: the similarity (with the pass mark's verdict beside it), or whether it \
             passes (needs min_similarity)",
        ),
        ConfigKey::new(
            "expectation",
            "string",
            "expected_response",
            "the expectation to compare with; a JSON list scores its best item",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let metric = config.one_of("metric", &["jaro_winkler", "jaro", "levenshtein"])?;
        let prefix_weight = config.f64_in("prefix_weight", 0.0, 0.25)?;
        let metric = match (metric, prefix_weight) {
            (Some("jaro"), Some(_)) | (Some("levenshtein"), Some(_)) => {
                return Err(config.error(
                    "prefix_weight",
                    "only jaro_winkler has a prefix weight; remove it or set metric to jaro_winkler",
                ));
            }
            (Some("jaro"), None) => Metric::Jaro,
            (Some("levenshtein"), None) => Metric::Levenshtein,
            (_, weight) => Metric::JaroWinkler {
                prefix_weight: weight.unwrap_or(0.1),
            },
        };
        let expectation = config.expectation("expected_response")?;
        Ok(Similarity {
            metric,
            mark: PassMark::from_config(config, "min_similarity")?,
            expectation: expectation.to_owned(),
        })
    }

    fn score(&self, record: &Record<'_>) -> Outcome {
        let items = record.references(&self.expectation)?;
        let output = record.outputs.text();
        let (best, value) = items
            .iter()
            .map(|item| self.similarity(output, item))
            .enumerate()
            .reduce(|best, next| if next.1 > best.1 { next } else { best })
            .expect("at least one item");
        let metric = match self.metric {
            Metric::JaroWinkler { .. } => "Jaro-Winkler similarity",
            Metric::Jaro => "Jaro similarity",
            Metric::Levenshtein => "Levenshtein similarity",
        };
        // The number is the value: the rationale repeats it only when the
        // value may be a bool or one of several references counts.
        let rationale: Cow<'static, str> = match (self.mark.min(), items.len()) {
            (None, 1) => metric.into(),
            (_, 1) => format!("{metric} {value:.3}").into(),
            (_, n) => format!("{metric} {value:.3} (best of {n}: #{})", best + 1).into(),
        };
        Ok(self.mark.score(value, rationale))
    }
}

impl Similarity {
    /// The configured similarity of `a` and `b`.
    fn similarity(&self, a: &str, b: &str) -> f64 {
        match self.metric {
            Metric::Levenshtein => verdict_edit_distance::similarity(a, b),
            // ASCII as bytes: the same characters, and rapidfuzz's
            // fastest form (a table lookup rather than a hash per character).
            Metric::Jaro if a.is_ascii() && b.is_ascii() => {
                jaro::normalized_similarity(a.bytes(), b.bytes())
            }
            Metric::Jaro => jaro::normalized_similarity(a.chars(), b.chars()),
            Metric::JaroWinkler { prefix_weight } => {
                let args = jaro_winkler::Args::default().prefix_weight(prefix_weight);
                if a.is_ascii() && b.is_ascii() {
                    jaro_winkler::normalized_similarity_with_args(a.bytes(), b.bytes(), &args)
                } else {
                    jaro_winkler::normalized_similarity_with_args(a.chars(), b.chars(), &args)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use verdict_plugin::{NamedValue, Score, ScoreValue, Value, check_config_errors, score_one};

    use super::Similarity;

    /// The similarity `metric` gives `a` against `b`.
    fn sim(metric: &str, a: &str, b: &str) -> f64 {
        let config = format!(r#"{{"metric": "{metric}"}}"#);
        number(&against(&config, a, Value::string(b)))
    }

    fn jw(a: &str, b: &str) -> f64 {
        sim("jaro_winkler", a, b)
    }

    fn jaro(a: &str, b: &str) -> f64 {
        sim("jaro", a, b)
    }

    fn against(config: &str, output: &str, expected: Value<'_>) -> Score {
        let expectations = [NamedValue::new("expected_response", expected)];
        score_one::<Similarity>(config, Value::string(output), &expectations)
    }

    fn number(score: &Score) -> f64 {
        match score.value {
            ScoreValue::Number(n) => n,
            ref other => panic!("not a number: {other:?}"),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn textbook_examples() {
        // Winkler's examples: MARTHA/MARHTA, DWAYNE/DUANE, DIXON/DICKSONX.
        assert!(close(jaro("MARTHA", "MARHTA"), 17.0 / 18.0));
        assert!(close(jw("MARTHA", "MARHTA"), 0.961_111_111_111_111_1));
        assert!(close(jw("DWAYNE", "DUANE"), 0.84));
        assert!(close(jw("DIXON", "DICKSONX"), 0.813_333_333_333_333_3));
        // The prefix counts up to 4 characters.
        let five = jw("abcdefgh", "abcdefgx");
        let jaro_only = jaro("abcdefgh", "abcdefgx");
        assert!(close(five, jaro_only + 0.4 * (1.0 - jaro_only)));
    }

    #[test]
    fn edges() {
        assert_eq!(jw("", ""), 1.0);
        assert_eq!(jw("", "a"), 0.0);
        assert_eq!(jw("a", ""), 0.0);
        assert_eq!(jw("a", "a"), 1.0);
        assert_eq!(jw("a", "b"), 0.0);
        // Matches only within the window: max(len) / 2 - 1 = 1.
        assert_eq!(jaro("abcd", "xxxa"), 0.0);
        // No boost at 0.7 or below.
        assert!(close(jaro("ab", "ac"), 2.0 / 3.0));
        assert_eq!(jw("ab", "ac"), jaro("ab", "ac"));
        // ASCII and the rest take different paths to the same numbers.
        assert!(close(
            jw("MARTHA\u{e9}", "MARHTA\u{e9}"),
            jw("MARTHAx", "MARHTAx")
        ));
    }

    #[test]
    fn metrics_through_the_scorer() {
        let jw_score = against("{}", "MARHTA", Value::string("MARTHA"));
        assert!(close(number(&jw_score), 0.961_111_111_111_111_1));
        assert_eq!(jw_score.passed, None);
        assert_eq!(
            jw_score.rationale.as_deref(),
            Some("Jaro-Winkler similarity")
        );
        let j = against(r#"{"metric": "jaro"}"#, "MARHTA", Value::string("MARTHA"));
        assert!(close(number(&j), 17.0 / 18.0));
        let lev = against(
            r#"{"metric": "levenshtein"}"#,
            "kitten",
            Value::string("sitting"),
        );
        assert!(close(number(&lev), 1.0 - 3.0 / 7.0));
        let weighted = against(
            r#"{"prefix_weight": 0.25}"#,
            "MARHTA",
            Value::string("MARTHA"),
        );
        assert!(close(number(&weighted), 17.0 / 18.0 + 0.75 / 18.0));
    }

    #[test]
    fn unicode_is_compared_by_scalar_value() {
        // é precomposed and e + U+0301: one and two characters.
        let s = against(
            r#"{"metric": "levenshtein"}"#,
            "café",
            Value::string("cafe\u{301}"),
        );
        assert!(close(number(&s), 1.0 - 2.0 / 5.0));
        let s = against("{}", "東京都", Value::string("東京"));
        assert!(number(&s) > 0.9);
        let s = against("{}", "👩‍💻", Value::string("👩‍💻"));
        assert_eq!(number(&s), 1.0);
    }

    #[test]
    fn pass_mark_and_lists() {
        let s = against(
            r#"{"min_similarity": 0.9, "output": "pass"}"#,
            "MARHTA",
            Value::string("MARTHA"),
        );
        assert_eq!(s.value, ScoreValue::Bool(true));
        assert_eq!(
            s.rationale.as_deref(),
            Some("Jaro-Winkler similarity 0.961; at least 0.9: pass")
        );
        let s = against(
            r#"{"min_similarity": 0.99}"#,
            "MARHTA",
            Value::string("MARTHA"),
        );
        assert_eq!(s.passed, Some(false));
        let s = against(
            "{}",
            "Paris",
            Value::json(r#"["London", "Paris", "Paris"]"#),
        );
        assert_eq!(number(&s), 1.0);
        assert_eq!(
            s.rationale.as_deref(),
            Some("Jaro-Winkler similarity 1.000 (best of 3: #2)")
        );
        // Non-strings are their JSON text; a string that looks like a list is one text.
        assert_eq!(number(&against("{}", "42", Value::json("42"))), 1.0);
        assert_eq!(number(&against("{}", "[1]", Value::string("[1]"))), 1.0);
    }

    #[test]
    fn bad_expectations_are_errors() {
        verdict_plugin::check_reference_errors::<Similarity>().unwrap();
    }

    #[test]
    fn invalid_configs_name_the_key() {
        check_config_errors::<Similarity>(&[
            (r#"{"metric": "cosine"}"#, "metric"),
            (r#"{"prefix_weight": 0.3}"#, "prefix_weight"),
            (
                r#"{"metric": "jaro", "prefix_weight": 0.1}"#,
                "prefix_weight",
            ),
            (r#"{"min_similarity": 1.5}"#, "min_similarity"),
            (r#"{"output": "pass"}"#, "output"),
            (r#"{"expectation": ""}"#, "expectation"),
            (r#"{"threshold": 0.5}"#, "threshold"),
        ])
        .unwrap();
    }
}

// Only the scorer's own entry point (`verdict_plugin_v1_similarity`): the
// host links every built-in scorer, and a program can hold one generic
// `verdict_plugin_v1` at most.
verdict_plugin::export_plugin!(Similarity, similarity);
