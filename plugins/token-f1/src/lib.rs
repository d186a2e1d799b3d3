//! Token F1: how many words the output shares with the expected response,
//! as SQuAD scores extractive answers.
//!
//! Both texts are normalized and split into tokens; the score is the F1 of
//! the two token multisets, the harmonic mean of precision (shared tokens
//! over output tokens) and recall (shared tokens over expected tokens).
//! When the expectation is a list, the output is scored against each item
//! and the best F1 wins.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `expectation` | string | `expected_response` | the expectation to compare with: a string, or a list of strings (the best match wins) |
//! | `normalize` | one of: `squad`, `none` | `squad` | `squad`: lowercase, drop ASCII punctuation, drop the articles a/an/the, split on whitespace; `none`: split on whitespace only (case-sensitive) |
//! | `output` | one of: `score`, `pass` | `score` | `score`: the F1 as a number; `pass`: a bool, F1 ≥ `min_f1` |
//! | `min_f1` | number, 0 to 1 | none | the F1 to pass; required with `output: "pass"`, an error without it |
//!
//! Semantics, those of the official SQuAD evaluation script (its
//! normalization steps are those of [`verdict_plugin::text`]):
//!
//! - `squad` normalization lowercases (full Unicode lowercase), removes the
//!   32 ASCII punctuation characters (so `don't` becomes `dont`), removes
//!   `a`, `an` and `the` where they stand as whole words (a word character
//!   is a letter, a digit or `_`, as in the script's `\b(a|an|the)\b`), and
//!   splits on Unicode whitespace. Text is not Unicode-normalized: `é` and
//!   `e` + U+0301 are different tokens.
//! - Tokens are whitespace-separated, so a sentence in a language written
//!   without spaces (Chinese, Japanese) is a single token.
//! - F1 = 2·shared / (output tokens + expected tokens), counting repeated
//!   tokens as often as they occur in both. When both sides have no
//!   tokens, F1 is 1; when only one side has none, it is 0 (as in SQuAD
//!   2.0's script).
//! - Outputs and expectations that are not strings are compared as their
//!   JSON text; a missing output counts as empty.
//!
//! ```
//! use verdict_plugin::{NamedValue, Record, ScoreValue, Scorer, Value};
//! use verdict_token_f1::TokenF1;
//!
//! let scorer = TokenF1::from_json(r#"{"output": "pass", "min_f1": 0.5}"#)?;
//! let expectations = [NamedValue::new("expected_response", Value::string("a cat sat down"))];
//! let record = Record::new(Value::NULL, Value::string("The cat sat."), &expectations);
//! let score = scorer.score(&record).unwrap();
//! // Tokens: [cat, sat] against [cat, sat, down]: F1 = 2·2 / (2 + 3) = 0.8.
//! assert_eq!(score.value, ScoreValue::Bool(true));
//! assert_eq!(score.rationale.as_deref(), Some("F1 0.80, at least 0.50 (precision 1.00, recall 0.67)"));
//! # Ok::<(), verdict_plugin::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::collections::HashMap;

use verdict_plugin::decimal::{push_fixed, push_uint};
use verdict_plugin::text::{lowercase, remove_punctuation, tokens_without_articles};
use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Record, Score, ScoreError, Scorer};

/// SQuAD token F1 between the output and the expected response; see the
/// crate documentation for its config.
#[derive(Clone, Debug)]
pub struct TokenF1 {
    expectation: String,
    normalize: Normalize,
    /// `Some(min_f1)` with `output: "pass"`.
    pass_at: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Normalize {
    Squad,
    None,
}

/// How one output compares with one reference.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Overlap {
    f1: f64,
    precision: f64,
    recall: f64,
    output_tokens: usize,
    expected_tokens: usize,
}

impl Scorer for TokenF1 {
    const NAME: &'static str = "token_f1";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "SQuAD token F1 between the output and the expected response (best over a list).";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "expectation",
            "string",
            "expected_response",
            "the expectation to compare with: a string, or a list of strings (the best match wins)",
        ),
        ConfigKey::new(
            "normalize",
            "one of: squad, none",
            "squad",
            "squad: lowercase, drop ASCII punctuation and the articles a/an/the, split on \
             whitespace; none: split on whitespace only",
        ),
        ConfigKey::new(
            "output",
            "one of: score, pass",
            "score",
            "score: the F1 as a number; pass: a bool, F1 at least min_f1",
        ),
        ConfigKey::new(
            "min_f1",
            "number, 0 to 1",
            "none (required with output pass)",
            "the F1 to pass; only used with output pass",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let expectation = config.str("expectation")?.unwrap_or("expected_response");
        let normalize = match config.one_of("normalize", &["squad", "none"])? {
            Some("none") => Normalize::None,
            _ => Normalize::Squad,
        };
        let pass = config.one_of("output", &["score", "pass"])? == Some("pass");
        let min_f1 = config.f64_in("min_f1", 0.0, 1.0)?;
        let pass_at = match (pass, min_f1) {
            (true, Some(min)) => Some(min),
            (true, None) => {
                return Err(config.error("output", "\"pass\" requires min_f1, the F1 to pass"));
            }
            (false, Some(_)) => {
                return Err(config.error(
                    "min_f1",
                    "has no effect unless output is \"pass\"; set output to \"pass\" or remove min_f1",
                ));
            }
            (false, None) => None,
        };
        Ok(TokenF1 {
            expectation: expectation.to_owned(),
            normalize,
            pass_at,
        })
    }

    verdict_plugin::score_by_writing_rationale!();

    fn score_writing_rationale(&self, record: &Record<'_>, rationale: &mut String) -> Outcome {
        let expected = match record.expectation(&self.expectation) {
            Some(value) if !value.is_null() => value,
            _ => return Err(ScoreError::missing_expectation(&self.expectation)),
        };
        // A list's items, or the one text (`Value::texts`, without a list
        // for a single text).
        let list = expected.list_texts();
        let single = [Cow::Borrowed(expected.text())];
        let expected: &[Cow<'_, str>] = list.as_deref().unwrap_or(&single);
        let output = self.normalized(record.outputs.text());
        let output_tokens = self.tokens(&output);
        let mut counts = HashMap::new();
        let (best_index, best) = expected
            .iter()
            .map(|reference| {
                let reference = self.normalized(reference);
                overlap(&output_tokens, &self.tokens(&reference), &mut counts)
            })
            .enumerate()
            // The first of the best, on ties.
            .reduce(|best, next| if next.1.f1 > best.1.f1 { next } else { best })
            .ok_or_else(|| {
                ScoreError::new(
                    "INVALID_EXPECTATION",
                    format!("the expectation {:?} is an empty list", self.expectation),
                )
            })?;

        let why: Option<&'static str> = match (best.output_tokens, best.expected_tokens) {
            (0, 0) => Some("no tokens on either side"),
            (0, _) => Some("the output has no tokens"),
            (_, 0) => Some("the expectation has no tokens"),
            _ => None,
        };
        if let (Some(why), None, 1) = (why, self.pass_at, expected.len()) {
            // Static text, kept by reference.
            return Ok(Score::number(best.f1).with_rationale(why));
        }
        if let Some(min) = self.pass_at {
            rationale.push_str("F1 ");
            push_fixed(rationale, best.f1, 2);
            rationale.push_str(if best.f1 >= min {
                ", at least "
            } else {
                ", below "
            });
            push_fixed(rationale, min, 2);
            rationale.push_str(" (");
        }
        match why {
            Some(why) => rationale.push_str(why),
            None => {
                rationale.push_str("precision ");
                push_fixed(rationale, best.precision, 2);
                rationale.push_str(", recall ");
                push_fixed(rationale, best.recall, 2);
            }
        }
        if expected.len() > 1 {
            rationale.push_str("; best of ");
            push_uint(rationale, expected.len() as u64);
            rationale.push_str(" references: #");
            push_uint(rationale, best_index as u64 + 1);
        }
        Ok(match self.pass_at {
            None => Score::number(best.f1),
            Some(min) => {
                rationale.push(')');
                Score::bool(best.f1 >= min)
            }
        })
    }
}

impl TokenF1 {
    /// The text after lowercasing and removing punctuation (`squad`), or
    /// as it is (`none`). Articles go in [`Self::tokens`].
    fn normalized<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match self.normalize {
            Normalize::None => Cow::Borrowed(text),
            Normalize::Squad => remove_punctuation(lowercase(text)),
        }
    }

    /// The tokens of normalized text.
    fn tokens<'t>(&self, text: &'t str) -> Vec<&'t str> {
        match self.normalize {
            Normalize::None => text.split_whitespace().collect(),
            Normalize::Squad => tokens_without_articles(text).collect(),
        }
    }
}

/// The multiset overlap of two token lists; `counts` is scratch space.
fn overlap<'o>(
    output: &[&'o str],
    expected: &[&str],
    counts: &mut HashMap<&'o str, usize>,
) -> Overlap {
    let (n_out, n_exp) = (output.len(), expected.len());
    if n_out == 0 || n_exp == 0 {
        let f1 = if n_out == n_exp { 1.0 } else { 0.0 };
        return Overlap {
            f1,
            precision: f1,
            recall: f1,
            output_tokens: n_out,
            expected_tokens: n_exp,
        };
    }
    counts.clear();
    for token in output {
        *counts.entry(*token).or_insert(0) += 1;
    }
    let mut shared = 0usize;
    for token in expected {
        if let Some(n) = counts.get_mut(*token)
            && *n > 0
        {
            *n -= 1;
            shared += 1;
        }
    }
    Overlap {
        f1: 2.0 * shared as f64 / (n_out + n_exp) as f64,
        precision: shared as f64 / n_out as f64,
        recall: shared as f64 / n_exp as f64,
        output_tokens: n_out,
        expected_tokens: n_exp,
    }
}

#[cfg(test)]
mod tests {
    use verdict_plugin::{NamedValue, Record, Score, ScoreValue, Scorer, Value};

    use super::TokenF1;

    fn score_with(config: &str, output: Value<'_>, expected: Value<'_>) -> Score {
        let scorer = TokenF1::from_json(config).unwrap();
        let expectations = [NamedValue::new("expected_response", expected)];
        scorer
            .score(&Record::new(Value::NULL, output, &expectations))
            .unwrap()
    }

    fn f1(output: &str, expected: &str) -> f64 {
        match score_with("{}", Value::string(output), Value::string(expected)).value {
            ScoreValue::Number(n) => n,
            other => panic!("expected a number, got {other:?}"),
        }
    }

    fn tokens(normalize: &str, text: &str) -> Vec<String> {
        let scorer = TokenF1::from_json(&format!(r#"{{"normalize": "{normalize}"}}"#)).unwrap();
        let normalized = scorer.normalized(text);
        scorer
            .tokens(&normalized)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn squad_example_by_hand() {
        // [cat, sat] vs [cat, sat, down]: shared 2, P = 2/2, R = 2/3,
        // F1 = 2PR / (P + R) = (4/3) / (5/3) = 0.8.
        let score = score_with(
            "{}",
            Value::string("the cat sat"),
            Value::string("a cat sat down"),
        );
        assert_eq!(score.value, ScoreValue::Number(0.8));
        assert_eq!(
            score.rationale.as_deref(),
            Some("precision 1.00, recall 0.67")
        );
        // Symmetric in F1, not in precision and recall.
        let score = score_with(
            "{}",
            Value::string("a cat sat down"),
            Value::string("the cat sat"),
        );
        assert_eq!(score.value, ScoreValue::Number(0.8));
        assert_eq!(
            score.rationale.as_deref(),
            Some("precision 0.67, recall 1.00")
        );
    }

    #[test]
    fn repeated_tokens_count_as_a_multiset() {
        // [cat, cat, cat] vs [cat, dog]: shared min(3,1) = 1,
        // P = 1/3, R = 1/2, F1 = 2·1 / (3 + 2) = 0.4.
        assert!(close(f1("cat cat cat", "cat dog"), 0.4));
        // [a, b, a] vs [a, a]: "a" is an article and is dropped, leaving [b] vs [].
        assert_eq!(f1("a b a", "a a"), 0.0);
        // [x, y, x] vs [x, x]: shared 2, F1 = 4 / 5.
        assert!(close(f1("x y x", "x x"), 0.8));
    }

    #[test]
    fn squad_normalization() {
        assert_eq!(
            tokens("squad", "The  Eiffel-Tower, in PARIS!"),
            ["eiffeltower", "in", "paris"]
        );
        // Apostrophes are ASCII punctuation: removed, not split on.
        assert_eq!(tokens("squad", "Don't stop"), ["dont", "stop"]);
        // Articles only as whole words, after punctuation is gone (as in
        // the official script, "a-an-the" becomes the word "aanthe").
        assert_eq!(
            tokens("squad", "theatre an anagram a-an-the a_the"),
            ["theatre", "anagram", "aanthe", "athe"]
        );
        assert_eq!(
            tokens("squad", "There is an apple"),
            ["there", "is", "apple"]
        );
        // Non-ASCII punctuation stays, but bounds words as `\b` does.
        assert_eq!(tokens("squad", "«the» “cat”"), ["«", "»", "“cat”"]);
        // Full Unicode lowercase, with the final sigma.
        assert_eq!(tokens("squad", "ΟΔΟΣ Straße"), ["οδος", "straße"]);
        assert!(close(
            f1("The answer is 42.", "answer: 42"),
            2.0 * 2.0 / 5.0
        ));
        assert_eq!(f1("THE PARIS", "paris"), 1.0);
    }

    #[test]
    fn no_normalization_is_case_sensitive() {
        assert_eq!(tokens("none", " The  cat, sat.\n"), ["The", "cat,", "sat."]);
        let score = score_with(
            r#"{"normalize": "none"}"#,
            Value::string("The cat"),
            Value::string("the cat"),
        );
        // [The, cat] vs [the, cat]: shared 1, F1 = 2 / 4.
        assert_eq!(score.value, ScoreValue::Number(0.5));
        assert_eq!(
            score.rationale.as_deref(),
            Some("precision 0.50, recall 0.50")
        );
        let score = score_with(
            r#"{"normalize": "none"}"#,
            Value::string("the a"),
            Value::string("the a"),
        );
        assert_eq!(score.value, ScoreValue::Number(1.0));
    }

    #[test]
    fn empty_sides() {
        let score = score_with("{}", Value::string(""), Value::string(""));
        assert_eq!(score.value, ScoreValue::Number(1.0));
        assert_eq!(score.rationale.as_deref(), Some("no tokens on either side"));
        // Nothing left after normalization counts as empty.
        let score = score_with("{}", Value::string("The."), Value::string(" a , an "));
        assert_eq!(score.value, ScoreValue::Number(1.0));
        let score = score_with("{}", Value::string("..."), Value::string("cat"));
        assert_eq!(score.value, ScoreValue::Number(0.0));
        assert_eq!(score.rationale.as_deref(), Some("the output has no tokens"));
        let score = score_with("{}", Value::string("cat"), Value::string(""));
        assert_eq!(score.value, ScoreValue::Number(0.0));
        assert_eq!(
            score.rationale.as_deref(),
            Some("the expectation has no tokens")
        );
        // A missing output is empty.
        let score = score_with("{}", Value::NULL, Value::string("cat"));
        assert_eq!(score.value, ScoreValue::Number(0.0));
        let score = score_with(
            r#"{"normalize": "none"}"#,
            Value::string(" \t\n"),
            Value::string(""),
        );
        assert_eq!(score.value, ScoreValue::Number(1.0));
    }

    #[test]
    fn unicode() {
        // No Unicode normalization: precomposed é and e + U+0301 differ.
        assert_eq!(f1("café", "cafe\u{301}"), 0.0);
        assert_eq!(f1("cafe\u{301} noir", "CAFE\u{301} NOIR"), 1.0);
        // A combining mark is not a word character, so it bounds a word as
        // in the official script: "a" + U+0301 loses its "a".
        assert_eq!(tokens("squad", "a\u{301}"), ["\u{301}"]);
        // Emoji are kept, and a ZWJ sequence is one token.
        assert_eq!(tokens("squad", "👍 👩‍💻!"), ["👍", "👩‍💻"]);
        assert!(close(f1("great 👍", "👍"), 2.0 / 3.0));
        // CJK has no spaces: a sentence is one token.
        assert_eq!(tokens("squad", "我喜欢猫。"), ["我喜欢猫。"]);
        assert_eq!(f1("我喜欢猫", "我喜欢狗"), 0.0);
        assert_eq!(f1("我 喜欢 猫", "我 喜欢 狗"), 2.0 / 3.0);
        // Unicode whitespace splits (no-break space, ideographic space).
        assert_eq!(
            tokens("squad", "new\u{a0}york\u{3000}city"),
            ["new", "york", "city"]
        );
    }

    #[test]
    fn max_over_references() {
        let expected = Value::json(r#"["a dog", "the cat sat down", "cat sat"]"#);
        let score = score_with("{}", Value::string("the cat sat"), expected);
        assert_eq!(score.value, ScoreValue::Number(1.0));
        assert_eq!(
            score.rationale.as_deref(),
            Some("precision 1.00, recall 1.00; best of 3 references: #3")
        );
        // Ties keep the first reference.
        let expected = Value::json(r#"["cat", "sat", "dog"]"#);
        let score = score_with("{}", Value::string("cat sat"), expected);
        // [cat, sat] vs [cat]: F1 = 2 / 3.
        assert!(matches!(score.value, ScoreValue::Number(n) if close(n, 2.0 / 3.0)));
        assert_eq!(
            score.rationale.as_deref(),
            Some("precision 0.50, recall 1.00; best of 3 references: #1")
        );
        // A one-item list is a plain reference; non-strings are their JSON text.
        let score = score_with("{}", Value::string("42"), Value::json("[42]"));
        assert_eq!(score.value, ScoreValue::Number(1.0));
        assert_eq!(
            score.rationale.as_deref(),
            Some("precision 1.00, recall 1.00")
        );
        let score = score_with("{}", Value::string("42"), Value::json("42"));
        assert_eq!(score.value, ScoreValue::Number(1.0));
    }

    #[test]
    fn pass_output() {
        let config = r#"{"output": "pass", "min_f1": 0.8}"#;
        let score = score_with(
            config,
            Value::string("the cat sat"),
            Value::string("a cat sat down"),
        );
        assert_eq!(score.value, ScoreValue::Bool(true));
        assert_eq!(
            score.rationale.as_deref(),
            Some("F1 0.80, at least 0.80 (precision 1.00, recall 0.67)")
        );
        let score = score_with(
            config,
            Value::string("cat"),
            Value::string("a cat sat down"),
        );
        assert_eq!(score.value, ScoreValue::Bool(false));
        assert_eq!(
            score.rationale.as_deref(),
            Some("F1 0.50, below 0.80 (precision 1.00, recall 0.33)")
        );
        let score = score_with(
            r#"{"output": "pass", "min_f1": 0}"#,
            Value::string("x"),
            Value::string("y"),
        );
        assert_eq!(score.value, ScoreValue::Bool(true));
        let score = score_with(
            r#"{"output": "pass", "min_f1": 1}"#,
            Value::string("Cat!"),
            Value::string("the cat"),
        );
        assert_eq!(score.value, ScoreValue::Bool(true));
        let score = score_with(
            r#"{"output": "score"}"#,
            Value::string("cat"),
            Value::string("cat"),
        );
        assert_eq!(score.value, ScoreValue::Number(1.0));
    }

    #[test]
    fn named_and_missing_expectations() {
        let scorer = TokenF1::from_json(r#"{"expectation": "answer"}"#).unwrap();
        let expectations = [
            NamedValue::new("expected_response", Value::string("dog")),
            NamedValue::new("answer", Value::string("cat")),
        ];
        let score = scorer
            .score(&Record::new(
                Value::NULL,
                Value::string("cat"),
                &expectations,
            ))
            .unwrap();
        assert_eq!(score.value, ScoreValue::Number(1.0));

        let error = scorer
            .score(&Record::new(
                Value::NULL,
                Value::string("cat"),
                &expectations[..1],
            ))
            .unwrap_err();
        assert_eq!(error.code, "MISSING_EXPECTATION");
        assert!(error.message.contains("\"answer\""));

        let null = [NamedValue::new("answer", Value::NULL)];
        let error = scorer
            .score(&Record::new(Value::NULL, Value::string("cat"), &null))
            .unwrap_err();
        assert_eq!(error.code, "MISSING_EXPECTATION");

        let empty = [NamedValue::new("answer", Value::json("[]"))];
        let error = scorer
            .score(&Record::new(Value::NULL, Value::string("cat"), &empty))
            .unwrap_err();
        assert_eq!(error.code, "INVALID_EXPECTATION");
    }

    #[test]
    fn invalid_configs_name_the_key() {
        for (config, key) in [
            (r#"{"normalize": "nfkc"}"#, "normalize"),
            (r#"{"normalize": true}"#, "normalize"),
            (r#"{"output": "label"}"#, "output"),
            (r#"{"output": "pass"}"#, "output"),
            (r#"{"min_f1": 0.5}"#, "min_f1"),
            (r#"{"output": "pass", "min_f1": 1.5}"#, "min_f1"),
            (r#"{"output": "pass", "min_f1": -0.1}"#, "min_f1"),
            (r#"{"output": "pass", "min_f1": "0.5"}"#, "min_f1"),
            (r#"{"expectation": 3}"#, "expectation"),
            (r#"{"min_f": 0.5}"#, "min_f"),
        ] {
            let error = TokenF1::from_json(config).unwrap_err();
            assert_eq!(error.key.as_deref(), Some(key), "{config}: {error}");
            assert_eq!(error.scorer, "token_f1");
        }
        assert!(TokenF1::from_json("").is_ok());
        assert!(TokenF1::from_json(r#"{"min_f1": null}"#).is_ok());
    }
}

// Only the scorer's own entry point (`verdict_plugin_v1_token_f1`): the host
// links every built-in scorer, and a program can hold one generic
// `verdict_plugin_v1` at most.
verdict_plugin::export_plugin!(TokenF1, token_f1);
