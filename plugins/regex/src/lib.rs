//! The `regex` scorer: passes when the output matches a regular expression,
//! or any or all of several.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `pattern` | string | (set it or `patterns`) | the regular expression |
//! | `patterns` | string or list of strings | (set it or `pattern`) | several regular expressions |
//! | `mode` | one of: `search`, `fullmatch` | `search` | `search` finds a match anywhere; `fullmatch` needs the whole text to match |
//! | `ignore_case` | bool | `false` | match letters whatever their case |
//! | `require` | one of: `any`, `all` | `any` | pass when any pattern matches, or only when all do |
//! | `target` | one of: `outputs`, `inputs`, `expectation` | `outputs` | the text to match |
//! | `expectation` | string | `expected_response` | with `target: "expectation"`, which expectation |
//!
//! # Semantics
//!
//! Patterns use the syntax of the [`regex`](https://docs.rs/regex) crate
//! (Perl-like, without look-around or backreferences, Unicode-aware:
//! `.` and `\w` match Unicode scalar values and word characters). They are
//! compiled once, when the scorer is built; several patterns are run
//! together in one pass over the text (a `RegexSet`). An invalid pattern is
//! a config error that names the pattern and says what is wrong.
//!
//! `search` is unanchored, as Python's `re.search`; `fullmatch` is Python's
//! `re.fullmatch`: some way of matching the pattern must cover the whole
//! text (`a|ab` full-matches `ab`). Inline flags such as `(?m)` or `(?x)` work
//! in both modes.
//!
//! The target is the output by default; `target: "inputs"` matches the
//! inputs and `target: "expectation"` the expectation named by `expectation`
//! (a record without it is an error, `MISSING_EXPECTATION`). A value that is
//! not a string is matched as its JSON text; a missing output as `""`.
//!
//! The value is a bool; the rationale names the first pattern that matches
//! (`require: "any"`) or the first that does not (`require: "all"`), as
//! written, in double quotes and without escapes.
//!
//! # Example
//!
//! ```
//! use verdict_plugin::{Record, ScoreValue, Scorer, Value};
//! use verdict_regex::RegexMatch;
//!
//! let scorer = RegexMatch::from_json(r#"{"pattern": "\\d{4}", "ignore_case": true}"#)?;
//! let record = Record::new(Value::NULL, Value::string("It opened in 1889."), &[]);
//! let score = scorer.score(&record).unwrap();
//! assert_eq!(score.value, ScoreValue::Bool(true));
//! assert_eq!(score.rationale.as_deref(), Some(r#"matches pattern "\d{4}""#));
//! # Ok::<(), verdict_plugin::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Record, Score, ScoreError, Scorer};

/// The text a record is matched on.
#[derive(Clone, Debug)]
enum Target {
    Outputs,
    Inputs,
    Expectation(String),
}

/// The compiled patterns.
#[derive(Clone, Debug)]
enum Matcher {
    One(Regex),
    Many(RegexSet),
}

/// The `regex` scorer. See the [crate docs](self) for its config.
#[derive(Clone, Debug)]
pub struct RegexMatch {
    /// The patterns as written, for rationales.
    patterns: Vec<String>,
    matcher: Matcher,
    require_all: bool,
    target: Target,
}

impl Scorer for RegexMatch {
    const NAME: &'static str = "regex";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Passes when the output matches a regular expression (or any or all of several).";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "pattern",
            "string",
            "none: set pattern or patterns",
            "the regular expression (Rust regex syntax)",
        ),
        ConfigKey::new(
            "patterns",
            "string or list of strings",
            "none: set pattern or patterns",
            "several regular expressions, run in one pass",
        ),
        ConfigKey::new(
            "mode",
            "one of: search, fullmatch",
            "search",
            "search finds a match anywhere in the text; fullmatch needs the whole text to match",
        ),
        ConfigKey::new(
            "ignore_case",
            "bool",
            "false",
            "match letters whatever their case (Unicode-aware)",
        ),
        ConfigKey::new(
            "require",
            "one of: any, all",
            "any",
            "pass when any pattern matches, or only when all of them do",
        ),
        ConfigKey::new(
            "target",
            "one of: outputs, inputs, expectation",
            "outputs",
            "the text to match; non-string values are matched as their JSON text",
        ),
        ConfigKey::new(
            "expectation",
            "string",
            "expected_response",
            "with target expectation: the expectation to match",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let (key, patterns) = match (config.str("pattern")?, config.strings("patterns")?) {
            (Some(_), Some(_)) => {
                return Err(config.error("patterns", "set `pattern` or `patterns`, not both"));
            }
            (None, None) => {
                return Err(config.error(
                    "pattern",
                    "required: set `pattern` (a string) or `patterns` (a list of strings)",
                ));
            }
            (Some(one), None) => ("pattern", vec![one]),
            (None, Some(many)) if many.is_empty() => {
                return Err(
                    config.error("patterns", "the list is empty; give at least one pattern")
                );
            }
            (None, Some(many)) => ("patterns", many),
        };
        let fullmatch = config.one_of("mode", &["search", "fullmatch"])? == Some("fullmatch");
        let ignore_case = config.bool("ignore_case")?.unwrap_or(false);
        let require_all = config.one_of("require", &["any", "all"])? == Some("all");
        let target = match config.one_of("target", &["outputs", "inputs", "expectation"])? {
            Some("expectation") => {
                let name = config.expectation("expected_response")?;
                Target::Expectation(name.to_owned())
            }
            other => {
                if config.get("expectation").is_some() {
                    return Err(config.error(
                        "expectation",
                        "only used with `target: \"expectation\"`; set that too, or remove this key",
                    ));
                }
                if other == Some("inputs") {
                    Target::Inputs
                } else {
                    Target::Outputs
                }
            }
        };

        let invalid = |pattern: &str, error: regex::Error| {
            config.error(key, format!("invalid pattern \"{pattern}\": {error}"))
        };
        // The first pattern that does not compile on its own, to name it.
        let culprit = |fallback: regex::Error| {
            for pattern in &patterns {
                if let Err(e) = RegexBuilder::new(pattern)
                    .case_insensitive(ignore_case)
                    .build()
                {
                    return invalid(pattern, e);
                }
            }
            config.error(key, fallback.to_string())
        };
        let sources: Vec<String> = patterns
            .iter()
            .map(|p| {
                if fullmatch {
                    anchored(p, ignore_case)
                } else {
                    (*p).to_owned()
                }
            })
            .collect();
        let matcher = if let [source] = sources.as_slice() {
            let regex = RegexBuilder::new(source)
                .case_insensitive(ignore_case)
                .build();
            Matcher::One(regex.map_err(culprit)?)
        } else {
            let set = RegexSetBuilder::new(&sources)
                .case_insensitive(ignore_case)
                .build();
            Matcher::Many(set.map_err(culprit)?)
        };
        Ok(RegexMatch {
            patterns: patterns.into_iter().map(str::to_owned).collect(),
            matcher,
            require_all,
            target,
        })
    }

    fn score(&self, record: &Record<'_>) -> Outcome {
        let text = match &self.target {
            Target::Outputs => record.outputs.text(),
            Target::Inputs => record.inputs.text(),
            Target::Expectation(name) => record
                .expectation(name)
                .filter(|v| !v.is_null())
                .ok_or_else(|| ScoreError::missing_expectation(name))?
                .text(),
        };
        let n = self.patterns.len();
        let (pass, rationale) = match &self.matcher {
            Matcher::One(regex) if regex.is_match(text) => (true, self.matched(0)),
            Matcher::One(_) => (false, self.unmatched(0)),
            Matcher::Many(set) => {
                let matches = set.matches(text);
                match (self.require_all, matches.iter().next()) {
                    (true, _) if matches.matched_all() => (true, format!("all {n} patterns match")),
                    (true, _) => {
                        let first = (0..n).find(|&i| !matches.matched(i)).unwrap_or(0);
                        (false, self.unmatched(first))
                    }
                    (false, Some(first)) => (true, self.matched(first)),
                    (false, None) => (false, format!("matches none of {n} patterns")),
                }
            }
        };
        Ok(Score::bool(pass).with_rationale(rationale))
    }
}

impl RegexMatch {
    fn matched(&self, i: usize) -> String {
        format!("matches pattern \"{}\"", self.patterns[i])
    }

    fn unmatched(&self, i: usize) -> String {
        format!("does not match pattern \"{}\"", self.patterns[i])
    }
}

/// `pattern`, anchored at both ends of the text, for `fullmatch`.
///
/// The pattern goes in a group. A pattern that turns on `(?x)` and ends in
/// a `#` comment would swallow the closing `)`; then a newline (whitespace
/// under `x`) ends the comment first.
fn anchored(pattern: &str, ignore_case: bool) -> String {
    let plain = format!(r"\A(?:{pattern})\z");
    if !pattern.contains('#')
        || RegexBuilder::new(&plain)
            .case_insensitive(ignore_case)
            .build()
            .is_ok()
    {
        return plain;
    }
    format!("\\A(?:{pattern}\n)\\z")
}

#[cfg(test)]
mod tests {
    use verdict_plugin::{
        NamedValue, Record, Score, ScoreValue, Scorer, Value, check_config_errors, config_error,
        score_one,
    };

    use super::RegexMatch;

    fn scorer(config: &str) -> RegexMatch {
        RegexMatch::from_json(config).unwrap_or_else(|e| panic!("{config}: {e}"))
    }

    fn score(config: &str, output: &str) -> Score {
        score_one::<RegexMatch>(config, Value::string(output), &[])
    }

    fn pass(config: &str, output: &str) -> bool {
        score(config, output).value == ScoreValue::Bool(true)
    }

    fn why(config: &str, output: &str) -> String {
        score(config, output).rationale.unwrap().into_owned()
    }

    #[test]
    fn search_is_unanchored() {
        let c = r#"{"pattern": "\\d+"}"#;
        assert!(pass(c, "abc 123 def"));
        assert!(!pass(c, "abc"));
        assert!(pass(r#"{"pattern": "^abc"}"#, "abcdef"));
        assert!(!pass(r#"{"pattern": "^abc"}"#, "xabc"));
        assert!(pass(r#"{"pattern": "b", "mode": "search"}"#, "abc"));
    }

    #[test]
    fn fullmatch_needs_the_whole_text() {
        let c = r#"{"pattern": "\\d+", "mode": "fullmatch"}"#;
        assert!(pass(c, "123"));
        assert!(!pass(c, "123 "));
        assert!(!pass(c, "a123"));
        // Any way of matching counts, not only the leftmost-first one.
        assert!(pass(r#"{"pattern": "a|ab", "mode": "fullmatch"}"#, "ab"));
        // Alternation binds inside the group: both ends are anchored.
        assert!(!pass(r#"{"pattern": "a|b", "mode": "fullmatch"}"#, "ab"));
        // `$` under (?m) does not end the text.
        assert!(!pass(
            r#"{"pattern": "(?m)a$", "mode": "fullmatch"}"#,
            "a\nb"
        ));
        assert!(pass(r#"{"pattern": "", "mode": "fullmatch"}"#, ""));
        assert!(!pass(r#"{"pattern": "", "mode": "fullmatch"}"#, "a"));
    }

    #[test]
    fn fullmatch_survives_a_trailing_comment() {
        let c = r#"{"pattern": "(?x) a b  # letters", "mode": "fullmatch"}"#;
        assert!(pass(c, "ab"));
        assert!(!pass(c, "abc"));
        // A `#` that is no comment stays a literal.
        let hash = r##"{"pattern": "#\\d", "mode": "fullmatch"}"##;
        assert!(pass(hash, "#1"));
        assert!(!pass(hash, "#1 "));
    }

    #[test]
    fn ignore_case() {
        assert!(!pass(r#"{"pattern": "paris"}"#, "PARIS"));
        assert!(pass(
            r#"{"pattern": "paris", "ignore_case": true}"#,
            "PARIS"
        ));
        assert!(pass(
            r#"{"pattern": "école", "ignore_case": true}"#,
            "ÉCOLE"
        ));
        assert!(pass(r#"{"pattern": "(?-i)P", "ignore_case": true}"#, "P"));
        assert!(!pass(r#"{"pattern": "(?-i)P", "ignore_case": true}"#, "p"));
        let c = r#"{"patterns": ["x", "paris"], "ignore_case": true, "require": "all", "mode": "fullmatch"}"#;
        assert!(!pass(c, "PARIS"));
        assert!(pass(
            r#"{"patterns": ["par", "PARIS"], "ignore_case": true, "require": "all"}"#,
            "Paris"
        ));
        assert!(!pass(
            r#"{"patterns": ["par", "PARIS"], "ignore_case": false, "require": "all"}"#,
            "Paris"
        ));
    }

    #[test]
    fn require_any_names_the_first_match() {
        let c = r#"{"patterns": ["cat", "dog", "bird"]}"#;
        assert!(pass(c, "a dog and a bird"));
        assert_eq!(why(c, "a dog and a bird"), r#"matches pattern "dog""#);
        assert!(!pass(c, "a fish"));
        assert_eq!(why(c, "a fish"), "matches none of 3 patterns");
    }

    #[test]
    fn require_all_names_the_first_failure() {
        let c = r#"{"patterns": ["cat", "dog", "bird"], "require": "all"}"#;
        assert!(pass(c, "bird, dog, cat"));
        assert_eq!(why(c, "bird, dog, cat"), "all 3 patterns match");
        assert!(!pass(c, "cat and bird"));
        assert_eq!(why(c, "cat and bird"), r#"does not match pattern "dog""#);
        let one = r#"{"patterns": "cat", "require": "all"}"#;
        assert_eq!(why(one, "dog"), r#"does not match pattern "cat""#);
        assert_eq!(why(one, "cat"), r#"matches pattern "cat""#);
    }

    #[test]
    fn single_pattern_rationales() {
        assert_eq!(
            why(r#"{"pattern": "a+"}"#, "caat"),
            r#"matches pattern "a+""#
        );
        assert_eq!(
            why(r#"{"pattern": "a+"}"#, "xyz"),
            r#"does not match pattern "a+""#
        );
        assert_eq!(
            why(r#"{"pattern": "\"q\""}"#, "\"q\""),
            r#"matches pattern ""q"""#
        );
    }

    #[test]
    fn unicode_text() {
        // `.` is one scalar value.
        assert!(pass(r#"{"pattern": "^.$"}"#, "東"));
        assert!(pass(r#"{"pattern": "^.$"}"#, "é"));
        assert!(!pass(r#"{"pattern": "^.$"}"#, "e\u{301}"));
        assert!(pass(r#"{"pattern": "^..$"}"#, "e\u{301}"));
        assert!(pass(r#"{"pattern": "👍", "mode": "search"}"#, "great 👍🏽"));
        assert!(pass(
            r#"{"pattern": "\\p{Han}+", "mode": "fullmatch"}"#,
            "東京"
        ));
        assert!(pass(r#"{"pattern": "^\\w+$"}"#, "Ｐａｒｉｓ"));
        // Precomposed and combining forms differ: no normalization here.
        assert!(!pass(r#"{"pattern": "caf\u00e9"}"#, "cafe\u{301}"));
    }

    #[test]
    fn empty_text_and_empty_pattern() {
        assert!(pass(r#"{"pattern": ""}"#, ""));
        assert!(pass(r#"{"pattern": ""}"#, "anything"));
        assert!(!pass(r#"{"pattern": "."}"#, ""));
        assert!(pass(r#"{"pattern": "^$"}"#, ""));
    }

    #[test]
    fn targets() {
        let expectations = [NamedValue::new("answer", Value::string("42"))];
        let record = Record::new(
            Value::string("what is six times seven?"),
            Value::string("forty-two"),
            &expectations,
        );
        let check = |config: &str| scorer(config).score(&record).map(|s| s.value);
        assert_eq!(check(r#"{"pattern": "\\d"}"#), Ok(ScoreValue::Bool(false)));
        assert_eq!(
            check(r#"{"pattern": "\\d", "target": "outputs"}"#),
            Ok(ScoreValue::Bool(false))
        );
        assert_eq!(
            check(r#"{"pattern": "seven", "target": "inputs"}"#),
            Ok(ScoreValue::Bool(true))
        );
        assert_eq!(
            check(r#"{"pattern": "^\\d+$", "target": "expectation", "expectation": "answer"}"#),
            Ok(ScoreValue::Bool(true))
        );
        let err = check(r#"{"pattern": "x", "target": "expectation"}"#).unwrap_err();
        assert_eq!(err.code, "MISSING_EXPECTATION");
        assert!(err.message.contains("expected_response"));
    }

    #[test]
    fn non_string_values_match_their_json_text() {
        let record = Record::new(Value::json(r#"{"q": 1}"#), Value::json("[1, 2]"), &[]);
        let check = |config: &str| scorer(config).score(&record).unwrap().value;
        assert_eq!(
            check(r#"{"pattern": "^\\[1, 2\\]$"}"#),
            ScoreValue::Bool(true)
        );
        assert_eq!(
            check(r#"{"pattern": "\"q\": 1", "target": "inputs"}"#),
            ScoreValue::Bool(true)
        );
        let null = Record::new(Value::NULL, Value::NULL, &[]);
        assert_eq!(
            scorer(r#"{"pattern": "^$"}"#).score(&null).unwrap().value,
            ScoreValue::Bool(true)
        );
    }

    #[test]
    fn invalid_pattern_names_the_pattern_and_the_error() {
        let (key, message) = config_error::<RegexMatch>(r#"{"pattern": "(unclosed"}"#);
        assert_eq!(key.as_deref(), Some("pattern"));
        assert!(message.contains(r#""(unclosed""#), "{message}");
        assert!(message.contains("unclosed group"), "{message}");

        let (key, message) =
            config_error::<RegexMatch>(r#"{"patterns": ["ok", "a{2,1}", "[z-a]"]}"#);
        assert_eq!(key.as_deref(), Some("patterns"));
        assert!(message.contains(r#""a{2,1}""#), "{message}");
        assert!(!message.contains("z-a"), "{message}");

        let (_, message) =
            config_error::<RegexMatch>(r#"{"pattern": "(?<=a)b", "mode": "fullmatch"}"#);
        assert!(message.contains(r#""(?<=a)b""#), "{message}");
        assert!(message.contains("look-around"), "{message}");
    }

    #[test]
    fn invalid_configs_name_the_key() {
        let cases = [
            (r#"{}"#, "pattern"),
            (r#"{"pattern": "a", "patterns": ["b"]}"#, "patterns"),
            (r#"{"patterns": []}"#, "patterns"),
            (r#"{"pattern": 3}"#, "pattern"),
            (r#"{"patterns": [1]}"#, "patterns"),
            (r#"{"pattern": "a", "mode": "match"}"#, "mode"),
            (r#"{"pattern": "a", "ignore_case": "yes"}"#, "ignore_case"),
            (r#"{"pattern": "a", "require": "most"}"#, "require"),
            (r#"{"pattern": "a", "target": "output"}"#, "target"),
            (
                r#"{"pattern": "a", "expectation": "answer"}"#,
                "expectation",
            ),
            (
                r#"{"pattern": "a", "target": "expectation", "expectation": ""}"#,
                "expectation",
            ),
            (r#"{"pattern": "a", "flags": "i"}"#, "flags"),
        ];
        check_config_errors::<RegexMatch>(&cases).unwrap();
    }

    #[test]
    fn config_keys_are_documented() {
        let names: Vec<&str> = RegexMatch::CONFIG_KEYS
            .iter()
            .map(|k| k.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "pattern",
                "patterns",
                "mode",
                "ignore_case",
                "require",
                "target",
                "expectation"
            ]
        );
    }
}

// Only the scorer's own entry point (`verdict_plugin_v1_regex`): the host
// links every built-in scorer, and a program can hold one generic
// `verdict_plugin_v1` at most.
verdict_plugin::export_plugin!(RegexMatch, regex);
