//! The `contains` scorer: passes when the output contains, starts with or
//! ends with given values — any of them, or all.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `mode` | one of: `substring`, `prefix`, `suffix` | `substring` | where a value must appear in the output |
//! | `values` | string or list of strings | the expectation | the values to look for |
//! | `expectation` | string | `expected_response` | without `values`: the expectation that gives the values |
//! | `require` | one of: `any`, `all` | `any` | pass when any value is found, or only when all are |
//! | `ignore_case` | bool | `false` | compare lowercase forms (Unicode-aware) |
//!
//! # Semantics
//!
//! The values come from `values` when it is set; otherwise from the
//! expectation named by `expectation`, where a JSON list gives one value per
//! item and an empty list fails the score. A record without that expectation
//! (or with a `null` one) is an error, `MISSING_EXPECTATION`. Outputs and
//! expectations that are not strings are used as their JSON text.
//!
//! `substring` passes when the value occurs anywhere in the output,
//! `prefix` when the output starts with it, `suffix` when it ends with it.
//! The empty value is found in every output. Text is compared as Unicode
//! scalar values, with no normalization: a precomposed `é` and `e` followed
//! by U+0301 differ.
//!
//! `ignore_case` compares the lowercase form of every character
//! (`char::to_lowercase`, with the final sigma `ς` taken as `σ`), so `ÉCOLE`
//! contains `école` and the Kelvin sign `K` is a `k` (see
//! [`verdict_plugin::text`]). ASCII text takes a fast path; prefixes and
//! suffixes are compared without allocating.
//!
//! The value is a bool; the rationale names the first value found
//! (`require: "any"`) or the first value missing (`require: "all"`).
//!
//! # Example
//!
//! ```
//! use verdict_contains::Contains;
//! use verdict_plugin::{Record, ScoreValue, Scorer, Value};
//!
//! let scorer = Contains::from_json(r#"{"values": ["Paris", "Lyon"], "ignore_case": true}"#)?;
//! let record = Record::new(Value::NULL, Value::string("It is PARIS."), &[]);
//! let score = scorer.score(&record).unwrap();
//! assert_eq!(score.value, ScoreValue::Bool(true));
//! assert_eq!(score.rationale.as_deref(), Some(r#"contains "Paris""#));
//! # Ok::<(), verdict_plugin::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

use std::borrow::Cow;

use verdict_plugin::text::{fold_str, folded_ends_with, folded_starts_with};
use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Record, Score, ScoreError, Scorer};

/// Where a value must appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Substring,
    Prefix,
    Suffix,
}

/// Where the values come from.
#[derive(Clone, Debug)]
enum Source {
    /// From the config: as written, and folded when case is ignored.
    Values {
        written: Vec<String>,
        folded: Vec<String>,
    },
    /// From the expectation of this name.
    Expectation(String),
}

/// The `contains` scorer. See the [crate docs](self) for its config.
#[derive(Clone, Debug)]
pub struct Contains {
    mode: Mode,
    require_all: bool,
    ignore_case: bool,
    source: Source,
}

impl Scorer for Contains {
    const NAME: &'static str = "contains";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Passes when the output contains, starts with or ends with any (or all) of the given values.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "mode",
            "one of: substring, prefix, suffix",
            "substring",
            "where a value must appear in the output",
        ),
        ConfigKey::new(
            "values",
            "string or list of strings",
            "the expectation",
            "the values to look for; when absent, the expectation gives them",
        ),
        ConfigKey::new(
            "expectation",
            "string",
            "expected_response",
            "without values: the expectation that gives them (a JSON list gives one per item)",
        ),
        ConfigKey::new(
            "require",
            "one of: any, all",
            "any",
            "pass when any value is found, or only when all of them are",
        ),
        ConfigKey::new(
            "ignore_case",
            "bool",
            "false",
            "compare lowercase forms (Unicode-aware, with an ASCII fast path)",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let mode = match config.one_of("mode", &["substring", "prefix", "suffix"])? {
            Some("prefix") => Mode::Prefix,
            Some("suffix") => Mode::Suffix,
            _ => Mode::Substring,
        };
        let require_all = config.one_of("require", &["any", "all"])? == Some("all");
        let ignore_case = config.bool("ignore_case")?.unwrap_or(false);
        let source = match config.strings("values")? {
            Some(_) if config.get("expectation").is_some() => {
                return Err(config.error(
                    "expectation",
                    "not used when `values` is set; remove one of the two",
                ));
            }
            Some(values) if values.is_empty() => {
                return Err(config.error("values", "the list is empty; give at least one value"));
            }
            Some(values) => Source::Values {
                folded: if ignore_case {
                    values.iter().map(|v| fold_str(v).into_owned()).collect()
                } else {
                    Vec::new()
                },
                written: values.into_iter().map(str::to_owned).collect(),
            },
            None => {
                let name = config.expectation("expected_response")?;
                Source::Expectation(name.to_owned())
            }
        };
        Ok(Contains {
            mode,
            require_all,
            ignore_case,
            source,
        })
    }

    fn score(&self, record: &Record<'_>) -> Outcome {
        let output = record.outputs.text();
        match &self.source {
            Source::Values { written, folded } => {
                let needles = if self.ignore_case { folded } else { written };
                Ok(self.judge(output, written, |i| Cow::Borrowed(needles[i].as_str())))
            }
            Source::Expectation(name) => {
                let expected = record
                    .expectation(name)
                    .filter(|v| !v.is_null())
                    .ok_or_else(|| ScoreError::missing_expectation(name))?;
                let one;
                let many;
                let values: &[Cow<'_, str>] = match expected.list_texts() {
                    Some(items) => {
                        many = items;
                        &many
                    }
                    None => {
                        one = Cow::Borrowed(expected.text());
                        std::slice::from_ref(&one)
                    }
                };
                if values.is_empty() {
                    return Ok(Score::bool(false).with_rationale("empty expectation list"));
                }
                Ok(self.judge(output, values, |i| {
                    if self.ignore_case {
                        fold_str(&values[i])
                    } else {
                        Cow::Borrowed(values[i].as_ref())
                    }
                }))
            }
        }
    }
}

impl Contains {
    /// Scores `output` against `values` (as written, for rationales);
    /// `needle(i)` is value `i` as it is compared (folded or not).
    fn judge<'v, S: AsRef<str>>(
        &self,
        output: &str,
        values: &[S],
        needle: impl Fn(usize) -> Cow<'v, str>,
    ) -> Score {
        let mut folded_output = None;
        let mut found = |i: usize| self.found(output, &mut folded_output, &needle(i));
        let (verb, negation) = match self.mode {
            Mode::Substring => ("contains", "does not contain"),
            Mode::Prefix => ("starts with", "does not start with"),
            Mode::Suffix => ("ends with", "does not end with"),
        };
        let n = values.len();
        let value = |i: usize| quote(values[i].as_ref());
        let (pass, rationale) = if self.require_all {
            match (0..n).find(|&i| !found(i)) {
                Some(missing) => (false, format!("{negation} {}", value(missing))),
                None if n == 1 => (true, format!("{verb} {}", value(0))),
                None => (true, format!("{verb} all {n} values")),
            }
        } else {
            match (0..n).find(|&i| found(i)) {
                Some(hit) => (true, format!("{verb} {}", value(hit))),
                None if n == 1 => (false, format!("{negation} {}", value(0))),
                None => (false, format!("{verb} none of {n} values")),
            }
        };
        Score::bool(pass).with_rationale(rationale)
    }

    /// Whether `needle` (folded when case is ignored) is found in `output`.
    /// `folded_output` caches the folded output across values.
    fn found<'o>(
        &self,
        output: &'o str,
        folded_output: &mut Option<Cow<'o, str>>,
        needle: &str,
    ) -> bool {
        match (self.mode, self.ignore_case) {
            (Mode::Substring, false) => output.contains(needle),
            (Mode::Prefix, false) => output.starts_with(needle),
            (Mode::Suffix, false) => output.ends_with(needle),
            (Mode::Substring, true) => folded_output
                .get_or_insert_with(|| fold_str(output))
                .contains(needle),
            (Mode::Prefix, true) => folded_starts_with(output, needle),
            (Mode::Suffix, true) => folded_ends_with(output, needle),
        }
    }
}

/// Quotes a value for a rationale, cut after 40 characters.
fn quote(value: &str) -> String {
    const MAX: usize = 40;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}", format!("{}…", &value[..cut])),
        None => format!("{value:?}"),
    }
}

#[cfg(test)]
mod tests {
    use verdict_plugin::{
        NamedValue, Record, Score, ScoreValue, Scorer, Value, check_config_errors, score_one,
    };

    use super::Contains;

    fn scorer(config: &str) -> Contains {
        Contains::from_json(config).unwrap_or_else(|e| panic!("{config}: {e}"))
    }

    fn score(config: &str, output: &str) -> Score {
        score_one::<Contains>(config, Value::string(output), &[])
    }

    fn pass(config: &str, output: &str) -> bool {
        score(config, output).value == ScoreValue::Bool(true)
    }

    fn why(config: &str, output: &str) -> String {
        score(config, output).rationale.unwrap().into_owned()
    }

    /// Scores `output` against the expectation `expected`.
    fn against(config: &str, output: &str, expected: Value<'_>) -> Score {
        let expectations = [NamedValue::new("expected_response", expected)];
        score_one::<Contains>(config, Value::string(output), &expectations)
    }

    #[test]
    fn substring_is_the_default() {
        let c = r#"{"values": "Paris"}"#;
        assert!(pass(c, "I love Paris in spring"));
        assert!(pass(c, "Paris"));
        assert!(!pass(c, "paris"));
        assert!(!pass(c, "Pari"));
        assert!(pass(r#"{"values": "ar", "mode": "substring"}"#, "Paris"));
    }

    #[test]
    fn prefix_and_suffix() {
        let prefix = r#"{"values": "Yes", "mode": "prefix"}"#;
        assert!(pass(prefix, "Yes, it is."));
        assert!(!pass(prefix, "Well, Yes"));
        assert!(!pass(prefix, "Ye"));
        let suffix = r#"{"values": "done.", "mode": "suffix"}"#;
        assert!(pass(suffix, "All done."));
        assert!(!pass(suffix, "done. Really"));
        assert!(pass(suffix, "done."));
    }

    #[test]
    fn require_any_and_all() {
        let any = r#"{"values": ["cat", "dog"]}"#;
        assert!(pass(any, "hot dog"));
        assert_eq!(why(any, "hot dog"), r#"contains "dog""#);
        assert!(!pass(any, "bird"));
        assert_eq!(why(any, "bird"), "contains none of 2 values");
        let all = r#"{"values": ["cat", "dog"], "require": "all"}"#;
        assert!(pass(all, "dog eats cat"));
        assert_eq!(why(all, "dog eats cat"), "contains all 2 values");
        assert!(!pass(all, "cat only"));
        assert_eq!(why(all, "cat only"), r#"does not contain "dog""#);
        let all_prefix = r#"{"values": ["a", "ab"], "require": "all", "mode": "prefix"}"#;
        assert!(pass(all_prefix, "abc"));
        assert_eq!(why(all_prefix, "ac"), r#"does not start with "ab""#);
    }

    #[test]
    fn single_value_rationales() {
        assert_eq!(why(r#"{"values": "x"}"#, "y"), r#"does not contain "x""#);
        assert_eq!(
            why(r#"{"values": "x", "require": "all"}"#, "x"),
            r#"contains "x""#
        );
        assert_eq!(
            why(r#"{"values": "x", "mode": "prefix"}"#, "x"),
            r#"starts with "x""#
        );
        assert_eq!(
            why(r#"{"values": "x", "mode": "suffix"}"#, "y"),
            r#"does not end with "x""#
        );
        assert_eq!(
            why(r#"{"values": ["x", "y"], "mode": "suffix"}"#, "z"),
            "ends with none of 2 values"
        );
        let long = "a".repeat(50);
        let rationale = why(&format!(r#"{{"values": "{long}"}}"#), "b");
        assert_eq!(
            rationale,
            format!("does not contain \"{}…\"", "a".repeat(40))
        );
    }

    #[test]
    fn ignore_case_ascii() {
        let c = r#"{"values": "PaRiS", "ignore_case": true}"#;
        assert!(pass(c, "i love paris"));
        assert!(pass(c, "I LOVE PARIS"));
        assert!(!pass(c, "I love Pari s"));
        let prefix = r#"{"values": "YES", "mode": "prefix", "ignore_case": true}"#;
        assert!(pass(prefix, "yes sir"));
        assert!(!pass(prefix, "ye"));
        let suffix = r#"{"values": "end", "mode": "suffix", "ignore_case": true}"#;
        assert!(pass(suffix, "THE END"));
        assert!(!pass(suffix, "ending"));
        assert!(!pass(
            r#"{"values": "PaRiS", "ignore_case": false}"#,
            "paris"
        ));
    }

    #[test]
    fn ignore_case_unicode() {
        let c = r#"{"values": "école", "ignore_case": true}"#;
        assert!(pass(c, "L'ÉCOLE"));
        assert!(pass(
            r#"{"values": "ÉCOLE", "ignore_case": true}"#,
            "l'école"
        ));
        // Final sigma and sigma are the same letter.
        assert!(pass(
            r#"{"values": "ΟΔΟΣ", "ignore_case": true}"#,
            "μια οδος εδω"
        ));
        assert!(pass(
            r#"{"values": "οδος", "ignore_case": true, "mode": "prefix"}"#,
            "ΟΔΟΣ"
        ));
        assert!(pass(
            r#"{"values": "οδος", "ignore_case": true, "mode": "suffix"}"#,
            "ΜΙΑ ΟΔΟΣ"
        ));
        // The Kelvin sign folds to an ASCII k, both ways.
        assert!(pass(
            r#"{"values": "k", "ignore_case": true}"#,
            "5 \u{212a}"
        ));
        assert!(pass(
            r#"{"values": "\u212a", "ignore_case": true, "mode": "suffix"}"#,
            "5 K"
        ));
        assert!(pass(
            r#"{"values": "\u212a", "ignore_case": true, "mode": "prefix"}"#,
            "k"
        ));
        // İ lowercases to two characters: i and U+0307.
        assert!(pass(
            r#"{"values": "i\u0307", "ignore_case": true, "mode": "prefix"}"#,
            "İstanbul"
        ));
        assert!(pass(
            r#"{"values": "İ", "ignore_case": true, "mode": "suffix"}"#,
            "xi\u{307}"
        ));
        // Full-width letters have their own lowercase forms.
        assert!(pass(
            r#"{"values": "ｐａｒｉｓ", "ignore_case": true}"#,
            "ＰＡＲＩＳ"
        ));
        assert!(!pass(
            r#"{"values": "paris", "ignore_case": true}"#,
            "ＰＡＲＩＳ"
        ));
    }

    #[test]
    fn combining_marks_emoji_cjk() {
        let precomposed = r#"{"values": "caf\u00e9"}"#;
        assert!(pass(precomposed, "un café"));
        assert!(!pass(precomposed, "un cafe\u{301}"));
        // The base letter is a prefix; a mark may follow it.
        assert!(pass(
            r#"{"values": "cafe", "mode": "prefix"}"#,
            "cafe\u{301}"
        ));
        assert!(pass(r#"{"values": "👍", "mode": "prefix"}"#, "👍🏽 great"));
        assert!(pass(
            r#"{"values": "🏽", "mode": "suffix", "ignore_case": true}"#,
            "👍🏽"
        ));
        assert!(pass(
            r#"{"values": ["東京", "大阪"], "require": "all"}"#,
            "東京と大阪"
        ));
        assert!(pass(
            r#"{"values": "京", "mode": "suffix", "ignore_case": true}"#,
            "東京"
        ));
        assert!(!pass(r#"{"values": "東", "mode": "suffix"}"#, "東京"));
    }

    #[test]
    fn empty_strings() {
        assert!(pass(r#"{"values": ""}"#, ""));
        assert!(pass(r#"{"values": ""}"#, "abc"));
        assert!(pass(
            r#"{"values": "", "mode": "suffix", "ignore_case": true}"#,
            "É"
        ));
        assert!(!pass(r#"{"values": "a"}"#, ""));
        assert!(!pass(
            r#"{"values": "a", "mode": "prefix", "ignore_case": true}"#,
            ""
        ));
        assert!(!pass(
            r#"{"values": "é", "mode": "suffix", "ignore_case": true}"#,
            ""
        ));
    }

    #[test]
    fn values_from_the_expectation() {
        let s = against("{}", "The answer is Paris.", Value::string("Paris"));
        assert_eq!(s.value, ScoreValue::Bool(true));
        let s = against("{}", "The answer is Paris.", Value::string("London"));
        assert_eq!(s.value, ScoreValue::Bool(false));
        assert_eq!(s.rationale.as_deref(), Some(r#"does not contain "London""#));
        let s = against(r#"{"ignore_case": true}"#, "PARIS", Value::string("paris"));
        assert_eq!(s.value, ScoreValue::Bool(true));

        let expectations = [NamedValue::new("keywords", Value::string("x"))];
        let record = Record::new(Value::NULL, Value::string("xyz"), &expectations);
        let s = scorer(r#"{"expectation": "keywords", "mode": "prefix"}"#).score(&record);
        assert_eq!(s.unwrap().value, ScoreValue::Bool(true));
    }

    #[test]
    fn list_expectation_gives_several_values() {
        let list = Value::json(r#"["Paris", "London", 42]"#);
        assert_eq!(
            against("{}", "London calling", list).value,
            ScoreValue::Bool(true)
        );
        assert_eq!(against("{}", "room 42", list).value, ScoreValue::Bool(true));
        assert_eq!(
            against("{}", "Rome", list).rationale.as_deref(),
            Some("contains none of 3 values")
        );
        let all = r#"{"require": "all", "ignore_case": true}"#;
        assert_eq!(
            against(all, "PARIS, LONDON, 42", list).value,
            ScoreValue::Bool(true)
        );
        let s = against(all, "PARIS, 42", list);
        assert_eq!(s.value, ScoreValue::Bool(false));
        assert_eq!(s.rationale.as_deref(), Some(r#"does not contain "London""#));
        let empty = against(all, "anything", Value::json("[]"));
        assert_eq!(empty.value, ScoreValue::Bool(false));
        assert_eq!(empty.rationale.as_deref(), Some("empty expectation list"));
        // A string that looks like a list is one value.
        let s = against("{}", "[1] and more", Value::string("[1]"));
        assert_eq!(s.value, ScoreValue::Bool(true));
    }

    #[test]
    fn non_string_values_use_their_json_text() {
        let s = against("{}", "the number 42.5 appears", Value::json("42.5"));
        assert_eq!(s.value, ScoreValue::Bool(true));
        let expectations = [NamedValue::new("expected_response", Value::string("\"a\""))];
        let record = Record::new(Value::NULL, Value::json(r#"{"k": "a"}"#), &expectations);
        assert_eq!(
            scorer("{}").score(&record).unwrap().value,
            ScoreValue::Bool(true)
        );
    }

    #[test]
    fn missing_expectation_is_an_error() {
        let record = Record::new(Value::NULL, Value::string("a"), &[]);
        let err = scorer("{}").score(&record).unwrap_err();
        assert_eq!(err.code, "MISSING_EXPECTATION");
        assert!(err.message.contains("expected_response"));
        let null = [NamedValue::new("expected_response", Value::NULL)];
        let record = Record::new(Value::NULL, Value::string("a"), &null);
        assert_eq!(
            scorer("{}").score(&record).unwrap_err().code,
            "MISSING_EXPECTATION"
        );
        // With `values`, expectations are not read.
        let record = Record::new(Value::NULL, Value::string("a"), &[]);
        assert!(scorer(r#"{"values": "a"}"#).score(&record).is_ok());
    }

    #[test]
    fn invalid_configs_name_the_key() {
        let cases = [
            (r#"{"mode": "infix"}"#, "mode"),
            (r#"{"values": 3}"#, "values"),
            (r#"{"values": ["a", 3]}"#, "values"),
            (r#"{"values": []}"#, "values"),
            (r#"{"values": "a", "expectation": "b"}"#, "expectation"),
            (r#"{"expectation": ""}"#, "expectation"),
            (r#"{"expectation": false}"#, "expectation"),
            (r#"{"require": "none"}"#, "require"),
            (r#"{"ignore_case": "yes"}"#, "ignore_case"),
            (r#"{"value": "a"}"#, "value"),
        ];
        check_config_errors::<Contains>(&cases).unwrap();
    }

    #[test]
    fn config_keys_are_documented() {
        let names: Vec<&str> = Contains::CONFIG_KEYS
            .iter()
            .map(|k| k.name.as_str())
            .collect();
        assert_eq!(
            names,
            ["mode", "values", "expectation", "require", "ignore_case"]
        );
    }
}

// Only the scorer's own entry point (`verdict_plugin_v1_contains`): the host
// links every built-in scorer, and a program can hold one generic
// `verdict_plugin_v1` at most.
verdict_plugin::export_plugin!(Contains, contains);
