//! JSON: whether the output is valid JSON, has the required top-level
//! keys, or equals the expected JSON.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `check` | one of: `valid`, `equal` | `valid` | `valid`: the output parses as JSON; `equal`: it also equals the expectation as JSON |
//! | `required_keys` | string or list of strings | none | the output must be a JSON object with all these top-level keys |
//! | `expectation` | string | `expected_response` | the expectation to compare with; only for `check: "equal"` (an error otherwise) |
//!
//! Semantics:
//!
//! - An output given as a string is parsed as JSON text (surrounding
//!   whitespace allowed, nothing else: a Markdown code fence is not JSON);
//!   an output given as a JSON value already is JSON. A missing output
//!   fails.
//! - `equal` compares JSON values structurally: object key order does not
//!   matter, numbers are compared as `f64` (so `1` equals `1.0`), strings
//!   byte for byte (no Unicode normalization). An expectation that is a
//!   string holding JSON text is parsed (`"{\"a\": 1}"` is the object
//!   `{"a": 1}`); any other string is itself, a JSON string. A list
//!   expectation is one JSON array, not a choice of references.
//! - Checks run in order (parse, required keys, equality) and the first
//!   failure is the rationale: the parse error with its line and column,
//!   the missing keys, or the first difference with its path, such as
//!   `$.items[2].name`.
//! - The score is a bool.
//!
//! ```
//! use verdict_plugin::{NamedValue, Record, ScoreValue, Scorer, Value};
//! use verdict_json::JsonMatch;
//!
//! let scorer = JsonMatch::from_json(r#"{"check": "equal"}"#)?;
//! let expectations = [NamedValue::new("expected_response", Value::json(r#"{"a": 1, "b": [true]}"#))];
//! let record = Record::new(Value::NULL, Value::string(r#"{"b": [true], "a": 1.0}"#), &expectations);
//! assert_eq!(scorer.score(&record).unwrap().value, ScoreValue::Bool(true));
//!
//! let record = Record::new(Value::NULL, Value::string(r#"{"b": [false], "a": 1}"#), &expectations);
//! let score = scorer.score(&record).unwrap();
//! assert_eq!(score.value, ScoreValue::Bool(false));
//! assert_eq!(score.rationale.as_deref(), Some("not equal: $.b[0] is false, expected true"));
//! # Ok::<(), verdict_plugin::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

use std::fmt::Write as _;

use serde_json::Value as Json;
use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Record, Score, ScoreError, Scorer};

/// Valid JSON, required keys, JSON equality; see the crate documentation
/// for its config.
#[derive(Clone, Debug)]
pub struct JsonMatch {
    /// `Some(expectation name)` with `check: "equal"`.
    equal_to: Option<String>,
    required_keys: Vec<String>,
}

/// The longest value, in chars, that a rationale quotes in full.
const QUOTE_CHARS: usize = 40;

impl Scorer for JsonMatch {
    const NAME: &'static str = "json";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Passes when the output is valid JSON, has the required keys, or equals the expected JSON.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "check",
            "one of: valid, equal",
            "valid",
            "valid: the output parses as JSON; equal: it also equals the expectation, ignoring \
             key order, numbers compared as f64",
        ),
        ConfigKey::new(
            "required_keys",
            "string or list of strings",
            "none",
            "top-level keys the output must have (it must then be a JSON object)",
        ),
        ConfigKey::new(
            "expectation",
            "string",
            "expected_response",
            "the expectation to compare with; only used with check equal",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let equal = config.one_of("check", &["valid", "equal"])? == Some("equal");
        let required_keys = match config.strings("required_keys")? {
            Some(keys) if keys.is_empty() => {
                return Err(config.error("required_keys", "list at least one key, or remove it"));
            }
            Some(keys) => keys.into_iter().map(str::to_owned).collect(),
            None => Vec::new(),
        };
        let expectation = config.str("expectation")?;
        let equal_to = match (equal, expectation) {
            (true, name) => Some(name.unwrap_or("expected_response").to_owned()),
            (false, None) => None,
            (false, Some(_)) => {
                return Err(config.error(
                    "expectation",
                    "only used when check is \"equal\"; set check to \"equal\" or remove it",
                ));
            }
        };
        Ok(JsonMatch {
            equal_to,
            required_keys,
        })
    }

    fn score(&self, record: &Record<'_>) -> Outcome {
        let expected = match &self.equal_to {
            None => None,
            Some(name) => match record.expectation(name) {
                Some(value) if !value.is_null() => Some(value),
                _ => return Err(ScoreError::missing_expectation(name)),
            },
        };

        if record.outputs.is_null() {
            return Ok(fail("no output"));
        }
        let output: Json = match serde_json::from_str(record.outputs.text()) {
            Ok(json) => json,
            Err(e) => return Ok(fail(format!("not valid JSON: {e}"))),
        };

        if !self.required_keys.is_empty() {
            let Json::Object(object) = &output else {
                return Ok(fail(format!(
                    "not a JSON object, as required_keys needs: {}",
                    quote(&output)
                )));
            };
            let mut missing = self
                .required_keys
                .iter()
                .filter(|key| !object.contains_key(key.as_str()))
                .peekable();
            if missing.peek().is_some() {
                let mut rationale = String::from("missing keys:");
                for (i, key) in missing.enumerate() {
                    let sep = if i == 0 { " " } else { ", " };
                    let _ = write!(rationale, "{sep}{}", Json::String(key.clone()));
                }
                return Ok(fail(rationale));
            }
        }

        let Some(expected) = expected else {
            return Ok(
                Score::bool(true).with_rationale(if self.required_keys.is_empty() {
                    "valid JSON"
                } else {
                    "valid JSON with the required keys"
                }),
            );
        };
        let expected = match expected.to_json() {
            Json::String(text) => serde_json::from_str(&text).unwrap_or(Json::String(text)),
            json => json,
        };
        let mut path = String::from("$");
        Ok(match first_difference(&expected, &output, &mut path) {
            None => Score::bool(true).with_rationale("equal JSON"),
            Some(difference) => fail(format!("not equal: {difference}")),
        })
    }
}

fn fail(rationale: impl Into<std::borrow::Cow<'static, str>>) -> Score {
    Score::bool(false).with_rationale(rationale)
}

/// Where and how `got` first differs from `expected`, depth first, objects
/// in key order; `path` is where both are, and is left as it was.
fn first_difference(expected: &Json, got: &Json, path: &mut String) -> Option<String> {
    match (expected, got) {
        (Json::Number(e), Json::Number(g)) if e.as_f64() == g.as_f64() => None,
        (Json::Object(e), Json::Object(g)) => {
            for (key, e_value) in e {
                let len = path.len();
                push_key(path, key);
                let difference = match g.get(key) {
                    None => Some(format!("{path} is missing")),
                    Some(g_value) => first_difference(e_value, g_value, path),
                };
                path.truncate(len);
                if difference.is_some() {
                    return difference;
                }
            }
            let extra = g.keys().find(|key| !e.contains_key(key.as_str()))?;
            push_key(path, extra);
            Some(format!("{path} is unexpected"))
        }
        (Json::Array(e), Json::Array(g)) => {
            for (i, (e_item, g_item)) in e.iter().zip(g).enumerate() {
                let len = path.len();
                let _ = write!(path, "[{i}]");
                let difference = first_difference(e_item, g_item, path);
                path.truncate(len);
                if difference.is_some() {
                    return difference;
                }
            }
            (e.len() != g.len())
                .then(|| format!("{path} has {} items, expected {}", g.len(), e.len()))
        }
        (e, g) if e == g => None,
        (e, g) => Some(format!("{path} is {}, expected {}", quote(g), quote(e))),
    }
}

/// Appends `.key`, or `["key"]` when the key is not an identifier.
fn push_key(path: &mut String, key: &str) {
    let mut chars = key.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if identifier {
        path.push('.');
        path.push_str(key);
    } else {
        let _ = write!(path, "[{}]", Json::String(key.to_owned()));
    }
}

/// A value as JSON text, cut short with `…` past [`QUOTE_CHARS`].
fn quote(value: &Json) -> String {
    let mut text = value.to_string();
    if let Some((cut, _)) = text.char_indices().nth(QUOTE_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use verdict_plugin::{NamedValue, Record, Score, ScoreValue, Scorer, Value};

    use super::JsonMatch;

    fn score_with(config: &str, output: Value<'_>, expected: Option<Value<'_>>) -> Score {
        let scorer = JsonMatch::from_json(config).unwrap();
        let expectations: Vec<_> = expected
            .map(|e| NamedValue::new("expected_response", e))
            .into_iter()
            .collect();
        scorer
            .score(&Record::new(Value::NULL, output, &expectations))
            .unwrap()
    }

    fn check(config: &str, output: Value<'_>, expected: Option<Value<'_>>, pass: bool, why: &str) {
        let score = score_with(config, output, expected);
        assert_eq!(
            score.value,
            ScoreValue::Bool(pass),
            "{output:?} vs {expected:?}"
        );
        assert_eq!(
            score.rationale.as_deref(),
            Some(why),
            "{output:?} vs {expected:?}"
        );
    }

    fn valid(output: &str, pass: bool, why: &str) {
        check("{}", Value::string(output), None, pass, why);
    }

    fn equal(output: &str, expected: Value<'_>, pass: bool, why: &str) {
        check(
            r#"{"check": "equal"}"#,
            Value::string(output),
            Some(expected),
            pass,
            why,
        );
    }

    #[test]
    fn valid_json() {
        for text in [
            r#"{"a": 1}"#,
            "[1, 2]",
            "42",
            "-0.5e3",
            "\"text\"",
            "null",
            "true",
            " \n{}\t",
        ] {
            valid(text, true, "valid JSON");
        }
        valid(
            "hello",
            false,
            "not valid JSON: expected value at line 1 column 1",
        );
        valid(
            r#"{"a": 1,}"#,
            false,
            "not valid JSON: trailing comma at line 1 column 9",
        );
        valid(
            "{\n  \"a\": 1\n  \"b\": 2\n}",
            false,
            "not valid JSON: expected `,` or `}` at line 3 column 3",
        );
        valid(
            "",
            false,
            "not valid JSON: EOF while parsing a value at line 1 column 0",
        );
        valid(
            "{} {}",
            false,
            "not valid JSON: trailing characters at line 1 column 4",
        );
        valid(
            "```json\n{}\n```",
            false,
            "not valid JSON: expected value at line 1 column 1",
        );
        // An output that is already JSON; a missing output.
        check("{}", Value::json(r#"{"a": [1]}"#), None, true, "valid JSON");
        check("{}", Value::NULL, None, false, "no output");
    }

    #[test]
    fn valid_unicode() {
        valid(
            r#"{"名前": "猫", "emoji": "👩‍💻", "mark": "e\u0301"}"#,
            true,
            "valid JSON",
        );
        // Line and column count from 1; the column is in bytes.
        valid(
            "[\"é\", x]",
            false,
            "not valid JSON: expected value at line 1 column 8",
        );
    }

    #[test]
    fn required_keys() {
        let config = r#"{"required_keys": ["name", "age"]}"#;
        check(
            config,
            Value::string(r#"{"age": 3, "name": "Tom", "extra": null}"#),
            None,
            true,
            "valid JSON with the required keys",
        );
        check(
            config,
            Value::string(r#"{"nested": {"name": 1}}"#),
            None,
            false,
            "missing keys: \"name\", \"age\"",
        );
        check(
            config,
            Value::string(r#"{"name": null}"#),
            None,
            false,
            "missing keys: \"age\"",
        );
        check(
            config,
            Value::string("[1, 2]"),
            None,
            false,
            "not a JSON object, as required_keys needs: [1,2]",
        );
        check(
            config,
            Value::string("{"),
            None,
            false,
            "not valid JSON: EOF while parsing an object at line 1 column 1",
        );
        // A single key as a string; Unicode keys.
        check(
            r#"{"required_keys": "名前"}"#,
            Value::json(r#"{"名前": "猫"}"#),
            None,
            true,
            "valid JSON with the required keys",
        );
        check(
            r#"{"required_keys": "名前"}"#,
            Value::string("{}"),
            None,
            false,
            "missing keys: \"名前\"",
        );
    }

    #[test]
    fn equality_ignores_key_order_and_number_form() {
        let expected = Value::json(r#"{"a": 1, "b": {"c": [1, 2.5, "x"], "d": null}}"#);
        equal(
            r#"{"b": {"d": null, "c": [1.0, 25e-1, "x"]}, "a": 1}"#,
            expected,
            true,
            "equal JSON",
        );
        equal("0", Value::json("-0.0"), true, "equal JSON");
        equal("100", Value::json("1e2"), true, "equal JSON");
    }

    #[test]
    fn equality_reports_the_first_difference() {
        let expected =
            Value::json(r#"{"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}], "n": 3}"#);
        equal(
            r#"{"items": [{"name": "a"}, {"name": "b"}, {"name": "C"}], "n": 3}"#,
            expected,
            false,
            "not equal: $.items[2].name is \"C\", expected \"c\"",
        );
        equal(
            r#"{"items": [{"name": "a"}, {"name": "b"}], "n": 3}"#,
            expected,
            false,
            "not equal: $.items has 2 items, expected 3",
        );
        equal(
            r#"{"items": [{"name": "a"}, {}, {"name": "c"}], "n": 3}"#,
            expected,
            false,
            "not equal: $.items[1].name is missing",
        );
        equal(
            r#"{"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}], "n": 3, "x y": 0}"#,
            expected,
            false,
            "not equal: $[\"x y\"] is unexpected",
        );
        equal(
            r#"{"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}], "n": "3"}"#,
            expected,
            false,
            "not equal: $.n is \"3\", expected 3",
        );
        equal(
            "[1, 2]",
            Value::json("{}"),
            false,
            "not equal: $ is [1,2], expected {}",
        );
        equal(
            "true",
            Value::json("1"),
            false,
            "not equal: $ is true, expected 1",
        );
        let long = format!("\"{}\"", "x".repeat(60));
        equal(
            &long,
            Value::json("null"),
            false,
            &format!("not equal: $ is \"{}…, expected null", "x".repeat(39)),
        );
        // Invalid output, before any comparison.
        equal(
            "{'a': 1}",
            expected,
            false,
            "not valid JSON: key must be a string at line 1 column 2",
        );
    }

    #[test]
    fn expectation_forms() {
        // A string holding JSON text is parsed, as is a JSON string holding JSON text.
        equal(
            r#"{"a": [1]}"#,
            Value::string(r#"{"a":[1.0]}"#),
            true,
            "equal JSON",
        );
        equal(
            r#"{"a": [1]}"#,
            Value::json(r#""{\"a\": [1]}""#),
            true,
            "equal JSON",
        );
        equal("42", Value::string("42"), true, "equal JSON");
        // Any other string is a JSON string.
        equal("\"hello\"", Value::string("hello"), true, "equal JSON");
        equal(
            "hello",
            Value::string("hello"),
            false,
            "not valid JSON: expected value at line 1 column 1",
        );
        // A list is one JSON array, not a choice.
        equal("[1, 2]", Value::json("[1, 2]"), true, "equal JSON");
        equal(
            "1",
            Value::json("[1, 2]"),
            false,
            "not equal: $ is 1, expected [1,2]",
        );
        // Strings compare byte for byte: NFC é differs from e + U+0301.
        equal(
            r#"{"k": "é"}"#,
            Value::json(r#"{"k": "e\u0301"}"#),
            false,
            "not equal: $.k is \"é\", expected \"e\u{301}\"",
        );
        equal(
            r#"["👩‍💻", "猫"]"#,
            Value::json(r#"["👩‍💻", "猫"]"#),
            true,
            "equal JSON",
        );
        // Output given as JSON: a JSON string is not parsed again.
        check(
            r#"{"check": "equal"}"#,
            Value::json(r#""{}""#),
            Some(Value::json("{}")),
            false,
            "not equal: $ is \"{}\", expected {}",
        );
    }

    #[test]
    fn equality_with_required_keys() {
        let config = r#"{"check": "equal", "required_keys": ["id"]}"#;
        check(
            config,
            Value::string(r#"{"id": 1}"#),
            Some(Value::json(r#"{"id": 1}"#)),
            true,
            "equal JSON",
        );
        check(
            config,
            Value::string(r#"{"ID": 1}"#),
            Some(Value::json(r#"{"ID": 1}"#)),
            false,
            "missing keys: \"id\"",
        );
    }

    #[test]
    fn missing_expectation() {
        let scorer =
            JsonMatch::from_json(r#"{"check": "equal", "expectation": "schema_example"}"#).unwrap();
        let expectations = [NamedValue::new("expected_response", Value::json("{}"))];
        let error = scorer
            .score(&Record::new(
                Value::NULL,
                Value::string("{}"),
                &expectations,
            ))
            .unwrap_err();
        assert_eq!(error.code, "MISSING_EXPECTATION");
        assert!(error.message.contains("\"schema_example\""));
        let null = [NamedValue::new("schema_example", Value::NULL)];
        let error = scorer
            .score(&Record::new(Value::NULL, Value::string("{}"), &null))
            .unwrap_err();
        assert_eq!(error.code, "MISSING_EXPECTATION");
        let named = [NamedValue::new("schema_example", Value::json("{}"))];
        let score = scorer
            .score(&Record::new(Value::NULL, Value::string("{ }"), &named))
            .unwrap();
        assert_eq!(score.value, ScoreValue::Bool(true));
        // `valid` needs no expectation.
        let score = score_with("{}", Value::string("{}"), None);
        assert_eq!(score.value, ScoreValue::Bool(true));
    }

    #[test]
    fn invalid_configs_name_the_key() {
        for (config, key) in [
            (r#"{"check": "schema"}"#, "check"),
            (r#"{"check": ["valid"]}"#, "check"),
            (r#"{"required_keys": 3}"#, "required_keys"),
            (r#"{"required_keys": ["a", 1]}"#, "required_keys"),
            (r#"{"required_keys": []}"#, "required_keys"),
            (r#"{"expectation": "answer"}"#, "expectation"),
            (r#"{"check": "equal", "expectation": 1}"#, "expectation"),
            (r#"{"schema": {}}"#, "schema"),
        ] {
            let error = JsonMatch::from_json(config).unwrap_err();
            assert_eq!(error.key.as_deref(), Some(key), "{config}: {error}");
            assert_eq!(error.scorer, "json");
        }
    }
}

// Only the scorer's own entry point (`verdict_plugin_v1_json`): the host
// links every built-in scorer, and a program can hold one generic
// `verdict_plugin_v1` at most.
verdict_plugin::export_plugin!(JsonMatch, json);
