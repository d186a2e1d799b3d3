//! Length: whether the output (or the input) is within a length range, in
//! characters, words or bytes.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `unit` | one of: `chars`, `words`, `bytes` | `chars` | what to count: Unicode scalar values, whitespace-separated words, or UTF-8 bytes |
//! | `min` | non-negative integer | none | the shortest length that passes (inclusive) |
//! | `max` | non-negative integer | none | the longest length that passes (inclusive) |
//! | `target` | one of: `outputs`, `inputs` | `outputs` | which side of the record to measure |
//!
//! At least one of `min` and `max` is required, and `min` may not exceed
//! `max`.
//!
//! Semantics:
//!
//! - `chars` counts Unicode scalar values (Rust `char`s), not what a reader
//!   sees as one character: `e` + U+0301 is 2, the emoji `👩‍💻` (woman,
//!   zero-width joiner, laptop) is 3.
//! - `words` counts runs of non-whitespace between Unicode whitespace, so
//!   a sentence in a language written without spaces (Chinese, Japanese)
//!   is one word, and punctuation attached to a word is part of it.
//! - `bytes` counts the UTF-8 encoding.
//! - A value that is not a string is measured as its JSON text; a missing
//!   value has length 0.
//! - The score is a bool: `true` when `min ≤ length ≤ max`.
//!
//! ```
//! use verdict_plugin::{Record, ScoreValue, Scorer, Value};
//! use verdict_length::Length;
//!
//! let scorer = Length::from_json(r#"{"unit": "words", "min": 2, "max": 5}"#)?;
//! let record = Record::new(Value::NULL, Value::string("Paris, France."), &[]);
//! let score = scorer.score(&record).unwrap();
//! assert_eq!(score.value, ScoreValue::Bool(true));
//! assert_eq!(score.rationale.as_deref(), Some("2 words, within 2..=5"));
//! # Ok::<(), verdict_plugin::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Record, Score, Scorer};

/// Whether a length is within bounds; see the crate documentation for its
/// config.
#[derive(Clone, Debug)]
pub struct Length {
    unit: Unit,
    min: Option<u64>,
    max: Option<u64>,
    target: Target,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Chars,
    Words,
    Bytes,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Outputs,
    Inputs,
}

impl Unit {
    fn count(self, text: &str) -> u64 {
        let n = match self {
            Unit::Chars => text.chars().count(),
            Unit::Words => text.split_whitespace().count(),
            Unit::Bytes => text.len(),
        };
        n as u64
    }

    fn name(self, n: u64) -> &'static str {
        match (self, n) {
            (Unit::Chars, 1) => "char",
            (Unit::Chars, _) => "chars",
            (Unit::Words, 1) => "word",
            (Unit::Words, _) => "words",
            (Unit::Bytes, 1) => "byte",
            (Unit::Bytes, _) => "bytes",
        }
    }
}

impl Scorer for Length {
    const NAME: &'static str = "length";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Passes when the output's length in chars, words or bytes is within bounds.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "unit",
            "one of: chars, words, bytes",
            "chars",
            "what to count: Unicode scalar values, whitespace-separated words, or UTF-8 bytes",
        ),
        ConfigKey::new(
            "min",
            "integer",
            "none",
            "the shortest length that passes (inclusive); min, max or both is required",
        ),
        ConfigKey::new(
            "max",
            "integer",
            "none",
            "the longest length that passes (inclusive); min, max or both is required",
        ),
        ConfigKey::new(
            "target",
            "one of: outputs, inputs",
            "outputs",
            "which side of the record to measure",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let unit = match config.one_of("unit", &["chars", "words", "bytes"])? {
            Some("words") => Unit::Words,
            Some("bytes") => Unit::Bytes,
            _ => Unit::Chars,
        };
        let target = match config.one_of("target", &["outputs", "inputs"])? {
            Some("inputs") => Target::Inputs,
            _ => Target::Outputs,
        };
        let (min, max) = (config.u64("min")?, config.u64("max")?);
        match (min, max) {
            (None, None) => {
                return Err(
                    config.error("min", "set min, max or both: a length scorer needs a bound")
                );
            }
            (Some(min), Some(max)) if min > max => {
                return Err(config.error("min", format!("{min} is greater than max {max}")));
            }
            _ => {}
        }
        Ok(Length {
            unit,
            min,
            max,
            target,
        })
    }

    fn score(&self, record: &Record<'_>) -> Outcome {
        let value = match self.target {
            Target::Outputs => record.outputs,
            Target::Inputs => record.inputs,
        };
        let n = self.unit.count(value.text());
        let unit = self.unit.name(n);
        let (pass, rationale) = match (self.min, self.max) {
            (Some(min), _) if n < min => (false, format!("{n} {unit}, below min {min}")),
            (_, Some(max)) if n > max => (false, format!("{n} {unit}, above max {max}")),
            (Some(min), Some(max)) => (true, format!("{n} {unit}, within {min}..={max}")),
            (Some(min), None) => (true, format!("{n} {unit}, within {min}..")),
            (None, Some(max)) => (true, format!("{n} {unit}, within ..={max}")),
            (None, None) => (true, format!("{n} {unit}")),
        };
        Ok(Score::bool(pass).with_rationale(rationale))
    }
}

#[cfg(test)]
mod tests {
    use verdict_plugin::{Record, Score, ScoreValue, Scorer, Value};

    use super::Length;

    fn score_of(config: &str, output: Value<'_>) -> Score {
        Length::from_json(config)
            .unwrap()
            .score(&Record::new(Value::NULL, output, &[]))
            .unwrap()
    }

    fn check(config: &str, output: &str, pass: bool, rationale: &str) {
        let score = score_of(config, Value::string(output));
        assert_eq!(score.value, ScoreValue::Bool(pass), "{config} {output:?}");
        assert_eq!(
            score.rationale.as_deref(),
            Some(rationale),
            "{config} {output:?}"
        );
    }

    #[test]
    fn chars_with_inclusive_bounds() {
        let config = r#"{"min": 3, "max": 5}"#;
        check(config, "ab", false, "2 chars, below min 3");
        check(config, "abc", true, "3 chars, within 3..=5");
        check(config, "abcde", true, "5 chars, within 3..=5");
        check(config, "abcdef", false, "6 chars, above max 5");
        check(r#"{"min": 1}"#, "a", true, "1 char, within 1..");
        check(r#"{"max": 1}"#, "ab", false, "2 chars, above max 1");
        check(r#"{"max": 10}"#, "  hi  ", true, "6 chars, within ..=10");
        check(
            r#"{"min": 2, "max": 2, "unit": "chars"}"#,
            "ab",
            true,
            "2 chars, within 2..=2",
        );
    }

    #[test]
    fn words() {
        let config = r#"{"unit": "words", "min": 2, "max": 3}"#;
        check(config, "one", false, "1 word, below min 2");
        check(config, "  one,\ttwo\n", true, "2 words, within 2..=3");
        check(config, "one - two", true, "3 words, within 2..=3");
        check(config, "a b c d", false, "4 words, above max 3");
        // Unicode whitespace separates words: no-break space, ideographic space.
        check(config, "a\u{a0}b\u{3000}c", true, "3 words, within 2..=3");
    }

    #[test]
    fn bytes() {
        let config = r#"{"unit": "bytes", "max": 4}"#;
        check(config, "abcd", true, "4 bytes, within ..=4");
        check(config, "é", true, "2 bytes, within ..=4");
        check(config, "ééé", false, "6 bytes, above max 4");
        check(
            r#"{"unit": "bytes", "min": 1}"#,
            "a",
            true,
            "1 byte, within 1..",
        );
    }

    #[test]
    fn unicode_counts() {
        let chars = r#"{"max": 100}"#;
        let words = r#"{"unit": "words", "max": 100}"#;
        let bytes = r#"{"unit": "bytes", "max": 100}"#;
        // Precomposed é is one scalar value; e + combining acute is two.
        check(chars, "café", true, "4 chars, within ..=100");
        check(chars, "cafe\u{301}", true, "5 chars, within ..=100");
        check(bytes, "cafe\u{301}", true, "6 bytes, within ..=100");
        // 👍 is one scalar value of 4 bytes; 👩‍💻 is three (ZWJ between), 11 bytes.
        check(chars, "👍", true, "1 char, within ..=100");
        check(chars, "👩‍💻", true, "3 chars, within ..=100");
        check(bytes, "👩‍💻", true, "11 bytes, within ..=100");
        // CJK: 5 chars, 15 bytes, one word (no spaces).
        check(chars, "我喜欢猫。", true, "5 chars, within ..=100");
        check(bytes, "我喜欢猫。", true, "15 bytes, within ..=100");
        check(words, "我喜欢猫。", true, "1 word, within ..=100");
        check(words, "我 喜欢 猫", true, "3 words, within ..=100");
    }

    #[test]
    fn empty_and_missing() {
        check(r#"{"min": 1}"#, "", false, "0 chars, below min 1");
        check(r#"{"max": 0}"#, "", true, "0 chars, within ..=0");
        check(
            r#"{"unit": "words", "max": 0}"#,
            " \n\t",
            true,
            "0 words, within ..=0",
        );
        let score = score_of(r#"{"min": 0}"#, Value::NULL);
        assert_eq!(score.value, ScoreValue::Bool(true));
        assert_eq!(score.rationale.as_deref(), Some("0 chars, within 0.."));
        // Non-string values are measured as their JSON text.
        let score = score_of(r#"{"max": 3}"#, Value::json(r#"{"a": 1}"#));
        assert_eq!(score.rationale.as_deref(), Some("8 chars, above max 3"));
    }

    #[test]
    fn inputs_target() {
        let scorer = Length::from_json(r#"{"target": "inputs", "max": 5}"#).unwrap();
        let record = Record::new(Value::string("a long question"), Value::string("ok"), &[]);
        let score = scorer.score(&record).unwrap();
        assert_eq!(score.value, ScoreValue::Bool(false));
        assert_eq!(score.rationale.as_deref(), Some("15 chars, above max 5"));
        let scorer = Length::from_json(r#"{"target": "outputs", "max": 5}"#).unwrap();
        assert_eq!(scorer.score(&record).unwrap().value, ScoreValue::Bool(true));
    }

    #[test]
    fn invalid_configs_name_the_key() {
        for (config, key) in [
            ("{}", "min"),
            (r#"{"unit": "chars"}"#, "min"),
            (r#"{"min": 5, "max": 4}"#, "min"),
            (r#"{"min": -1}"#, "min"),
            (r#"{"min": 1.5}"#, "min"),
            (r#"{"max": "10"}"#, "max"),
            (r#"{"max": 10, "unit": "graphemes"}"#, "unit"),
            (r#"{"max": 10, "target": "expectations"}"#, "target"),
            (r#"{"max": 10, "maximum": 10}"#, "maximum"),
        ] {
            let error = Length::from_json(config).unwrap_err();
            assert_eq!(error.key.as_deref(), Some(key), "{config}: {error}");
            assert_eq!(error.scorer, "length");
        }
        let error = Length::from_json(r#"{"min": 5, "max": 4}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "length config key `min`: 5 is greater than max 4"
        );
    }
}

// Only the scorer's own entry point (`verdict_plugin_v1_length`): the host
// links every built-in scorer, and a program can hold one generic
// `verdict_plugin_v1` at most.
verdict_plugin::export_plugin!(Length, length);
