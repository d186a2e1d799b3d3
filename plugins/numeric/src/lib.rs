//! The `numeric` scorer: passes when the output, read as a number, equals
//! the expected number within an absolute and/or a relative tolerance.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `abs_tol` | number ≥ 0 | `0` | the absolute tolerance |
//! | `rel_tol` | number ≥ 0 | `1e-9` | the relative tolerance, a fraction of the larger magnitude |
//! | `expectation` | string | `expected_response` | the expectation that gives the number (a JSON list: any of its items) |
//!
//! # Semantics
//!
//! The output passes when `|output − expected| ≤ max(abs_tol, rel_tol ·
//! max(|output|, |expected|))`, the rule of Python's `math.isclose` and
//! its defaults (so `0.1 + 0.2` equals `0.3`, and any number is close to
//! itself). `abs_tol` matters near zero, where a relative tolerance
//! allows nothing; set `rel_tol` to `0` for an absolute tolerance alone.
//!
//! The output is its text with surrounding whitespace removed, read as a
//! decimal number: an optional sign, digits with an optional fraction, an
//! optional exponent (`-1.5e3`). Anything else (units, thousands
//! separators, words, several numbers, `NaN`, infinities) is not a number
//! and fails, with a rationale saying so: the scorer checks an answer, it
//! does not search a text for one (`regex` can). An output given as a JSON
//! number is that number.
//!
//! The expectation is a JSON number or a string holding one; a JSON list
//! gives several acceptable numbers, and the record passes when the output
//! is close to any of them. An expectation that is not a number is an
//! error, `INVALID_EXPECTATION`; a missing one, `MISSING_EXPECTATION`.
//!
//! The value is a bool; the rationale gives the difference and the
//! tolerance it was held to.
//!
//! # Example
//!
//! ```
//! use verdict_numeric::Numeric;
//! use verdict_plugin::{NamedValue, Record, ScoreValue, Scorer, Value};
//!
//! let scorer = Numeric::from_json(r#"{"abs_tol": 0.05}"#)?;
//! let expectations = [NamedValue::new("expected_response", Value::json("3.14159"))];
//! let record = Record::new(Value::NULL, Value::string(" 3.14 "), &expectations);
//! let score = scorer.score(&record).unwrap();
//! assert_eq!(score.value, ScoreValue::Bool(true));
//! # Ok::<(), verdict_plugin::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Record, Score, ScoreError, Scorer};

/// The `numeric` scorer. See the [crate docs](self) for its config.
#[derive(Clone, Debug)]
pub struct Numeric {
    abs_tol: f64,
    rel_tol: f64,
    expectation: String,
}

/// The longest output, in chars, that a rationale quotes in full.
const QUOTE_CHARS: usize = 40;

impl Scorer for Numeric {
    const NAME: &'static str = "numeric";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Passes when the output, read as a number, equals the expected number within a tolerance.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "abs_tol",
            "number, at least 0",
            "0",
            "the absolute tolerance",
        ),
        ConfigKey::new(
            "rel_tol",
            "number, at least 0",
            "1e-9",
            "the relative tolerance, a fraction of the larger magnitude (0: none)",
        ),
        ConfigKey::new(
            "expectation",
            "string",
            "expected_response",
            "the expectation that gives the number; a JSON list gives several, any of which passes",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let tolerance = |key: &str, default: f64| match config.f64(key)? {
            Some(t) if !(t >= 0.0 && t.is_finite()) => {
                Err(config.error(key, format!("{t} is out of range; expected a number ≥ 0")))
            }
            found => Ok(found.unwrap_or(default)),
        };
        let abs_tol = tolerance("abs_tol", 0.0)?;
        let rel_tol = tolerance("rel_tol", 1e-9)?;
        let expectation = config.expectation("expected_response")?;
        Ok(Numeric {
            abs_tol,
            rel_tol,
            expectation: expectation.to_owned(),
        })
    }

    fn score(&self, record: &Record<'_>) -> Outcome {
        let name = self.expectation.as_str();
        let items = record.references(name)?;
        let numbers = items
            .iter()
            .map(|item| {
                parse(item).ok_or_else(|| {
                    ScoreError::new(
                        "INVALID_EXPECTATION",
                        format!("the expectation {name:?} is not a number: {}", quote(item)),
                    )
                })
            })
            .collect::<Result<Vec<f64>, _>>()?;
        let text = record.outputs.text();
        let Some(output) = parse(text) else {
            return Ok(Score::bool(false)
                .with_rationale(format!("the output is not a number: {}", quote(text))));
        };
        // The closest expected number; the first of equals.
        let (index, &target) = numbers
            .iter()
            .enumerate()
            .reduce(|best, next| {
                if (output - next.1).abs() < (output - best.1).abs() {
                    next
                } else {
                    best
                }
            })
            .expect("at least one item");
        let difference = (output - target).abs();
        let tolerance = self
            .abs_tol
            .max(self.rel_tol * output.abs().max(target.abs()));
        let pass = difference <= tolerance;
        let of = if numbers.len() > 1 {
            format!(" (the closest of {}: #{})", numbers.len(), index + 1)
        } else {
            String::new()
        };
        let rationale = if pass {
            format!("{output} is within {tolerance} of {target}{of}")
        } else {
            format!("{output} differs from {target} by {difference}, more than {tolerance}{of}")
        };
        Ok(Score::bool(pass).with_rationale(rationale))
    }
}

/// `text`, trimmed, as a finite decimal number: sign, digits, fraction,
/// exponent, and nothing else.
fn parse(text: &str) -> Option<f64> {
    let text = text.trim();
    let decimal = text
        .strip_prefix(['+', '-'])
        .unwrap_or(text)
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '.');
    // Rust also reads `inf`, `NaN` and `infinity`, which are not answers.
    let number: f64 = if decimal {
        text.parse().ok()?
    } else {
        return None;
    };
    number.is_finite().then_some(number)
}

/// Quotes a text for a rationale, cut after [`QUOTE_CHARS`] characters.
fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{:?}", format!("{}…", &value[..cut])),
        None => format!("{value:?}"),
    }
}

#[cfg(test)]
mod tests {
    use verdict_plugin::{
        NamedValue, Record, Score, ScoreValue, Scorer, Value, check_config_errors, score_one,
    };

    use super::{Numeric, parse};

    fn against(config: &str, output: &str, expected: Value<'_>) -> Score {
        let expectations = [NamedValue::new("expected_response", expected)];
        score_one::<Numeric>(config, Value::string(output), &expectations)
    }

    fn pass(config: &str, output: &str, expected: &str) -> bool {
        against(config, output, Value::json(expected)).value == ScoreValue::Bool(true)
    }

    #[test]
    fn parses_decimal_numbers_only() {
        for (text, number) in [
            ("42", 42.0),
            (" -1.5e3\n", -1500.0),
            ("+.5", 0.5),
            ("5.", 5.0),
            ("1E-2", 0.01),
            ("0", 0.0),
        ] {
            assert_eq!(parse(text), Some(number), "{text}");
        }
        for text in [
            "",
            " ",
            "abc",
            "1,000",
            "42 km",
            "NaN",
            "inf",
            "-infinity",
            "1e999",
            "0x10",
            "1_000",
            "--1",
            "½",
            "٣",
            "e5",
            "4 2",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn the_default_is_python_isclose() {
        // 0.1 + 0.2 is 0.30000000000000004: close, with rel_tol 1e-9.
        assert!(pass("{}", "0.30000000000000004", "0.3"));
        assert!(pass("{}", "42", "42"));
        assert!(pass("{}", "42.0", "42"));
        assert!(!pass("{}", "42.001", "42"));
        // Near zero a relative tolerance allows nothing.
        assert!(!pass("{}", "1e-20", "0"));
        assert!(pass(r#"{"abs_tol": 1e-12}"#, "1e-20", "0"));
    }

    #[test]
    fn absolute_and_relative_tolerances() {
        let abs = r#"{"abs_tol": 0.5, "rel_tol": 0}"#;
        assert!(pass(abs, "41.5", "42"));
        assert!(pass(abs, "42.5", "42"));
        assert!(!pass(abs, "42.51", "42"));
        // 5 % of the larger magnitude: 5 % of 105 is 5.25.
        let rel = r#"{"rel_tol": 0.05}"#;
        assert!(pass(rel, "105", "100"));
        assert!(!pass(rel, "94", "100"));
        assert!(pass(rel, "-100", "-104"));
        assert!(!pass(rel, "100", "-100"));
        // The larger of the two wins.
        let both = r#"{"abs_tol": 2, "rel_tol": 0.01}"#;
        assert!(pass(both, "11.9", "10"));
        assert!(pass(both, "1010", "1000"));
        assert!(!pass(both, "1012.5", "1000"));
    }

    #[test]
    fn rationales() {
        let score = against(r#"{"abs_tol": 0.5}"#, "41.9", Value::json("42"));
        assert_eq!(score.rationale.as_deref(), Some("41.9 is within 0.5 of 42"));
        let score = against(r#"{"abs_tol": 0.5}"#, "41", Value::json("42"));
        assert_eq!(score.value, ScoreValue::Bool(false));
        assert_eq!(
            score.rationale.as_deref(),
            Some("41 differs from 42 by 1, more than 0.5")
        );
        let score = against("{}", "forty-two", Value::json("42"));
        assert_eq!(score.value, ScoreValue::Bool(false));
        assert_eq!(
            score.rationale.as_deref(),
            Some(r#"the output is not a number: "forty-two""#)
        );
        let long = "9".repeat(30) + " apples and pears";
        let score = against("{}", &long, Value::json("1"));
        assert!(score.rationale.unwrap().ends_with("99999 apples an…\""));
    }

    #[test]
    fn expectations_as_strings_json_numbers_and_lists() {
        assert!(against("{}", "7", Value::string(" 7.0 ")).value == ScoreValue::Bool(true));
        let list = r#"{"abs_tol": 0.1}"#;
        let score = against(list, "2.05", Value::json(r#"[1, "2", 3]"#));
        assert_eq!(score.value, ScoreValue::Bool(true));
        assert!(score.rationale.unwrap().ends_with("(the closest of 3: #2)"));
        assert!(!pass(list, "2.5", "[1, 2, 3]"));
        // An output given as a JSON number.
        let expectations = [NamedValue::new("expected_response", Value::json("1e3"))];
        let record = Record::new(Value::NULL, Value::json("1000"), &expectations);
        let score = Numeric::from_json("{}").unwrap().score(&record).unwrap();
        assert_eq!(score.value, ScoreValue::Bool(true));
        // A missing output is not a number.
        let record = Record::new(Value::NULL, Value::NULL, &expectations);
        let score = Numeric::from_json("{}").unwrap().score(&record).unwrap();
        assert_eq!(score.value, ScoreValue::Bool(false));
    }

    #[test]
    fn bad_expectations_are_errors() {
        let scorer = Numeric::from_json("{}").unwrap();
        let score = |expected: Option<Value<'_>>| {
            let named: Vec<NamedValue<'_>> = expected
                .into_iter()
                .map(|v| NamedValue::new("expected_response", v))
                .collect();
            scorer
                .score(&Record::new(Value::NULL, Value::string("1"), &named))
                .unwrap_err()
        };
        assert_eq!(score(None).code, "MISSING_EXPECTATION");
        assert_eq!(score(Some(Value::NULL)).code, "MISSING_EXPECTATION");
        assert_eq!(score(Some(Value::json("[]"))).code, "EMPTY_EXPECTATION");
        let err = score(Some(Value::string("about 4")));
        assert_eq!(err.code, "INVALID_EXPECTATION");
        assert!(err.message.contains(r#""about 4""#), "{}", err.message);
        assert_eq!(
            score(Some(Value::json(r#"[1, "x"]"#))).code,
            "INVALID_EXPECTATION"
        );
        assert_eq!(score(Some(Value::json("true"))).code, "INVALID_EXPECTATION");
    }

    #[test]
    fn invalid_configs_name_the_key() {
        check_config_errors::<Numeric>(&[
            (r#"{"abs_tol": -1}"#, "abs_tol"),
            (r#"{"rel_tol": -0.1}"#, "rel_tol"),
            (r#"{"abs_tol": "0.1"}"#, "abs_tol"),
            (r#"{"expectation": ""}"#, "expectation"),
            (r#"{"tolerance": 1}"#, "tolerance"),
        ])
        .unwrap();
    }
}

// Only the scorer's own entry point (`verdict_plugin_v1_numeric`): the host
// links every built-in scorer, and a program can hold one generic
// `verdict_plugin_v1` at most.
verdict_plugin::export_plugin!(Numeric, numeric);
