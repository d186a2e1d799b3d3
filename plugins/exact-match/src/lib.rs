//! The `exact_match` scorer: passes when the output equals the expectation,
//! after an optional normalization.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `normalize` | one of: `raw`, `strip`, `squad` | `strip` | the preset: `raw` compares the bytes as they are; `strip` trims surrounding whitespace; `squad` is SQuAD's `normalize_answer` |
//! | `case_sensitive` | bool | `true` (`false` with `squad`) | whether case matters |
//! | `collapse_whitespace` | bool | `false` (`true` with `squad`) | turn every run of whitespace into one space and trim the ends |
//! | `unicode` | one of: `none`, `nfc`, `nfkc` | `none` | Unicode normalization, applied first |
//! | `expectation` | string | `expected_response` | the expectation to compare with |
//!
//! # Semantics
//!
//! Both the output and the expectation go through the same steps, in this
//! order, and are then compared byte for byte:
//!
//! 1. `strip` and `squad` trim surrounding whitespace (Unicode `White_Space`).
//! 2. `unicode`: `nfc` composes (`e` + U+0301 becomes `é`); `nfkc` also
//!    folds compatibility forms (full-width `Ａ` becomes `A`, `x²` becomes
//!    `x2`).
//! 3. `squad` lowercases (Rust's `str::to_lowercase`, which like Python's
//!    `str.lower` knows the final sigma), removes ASCII punctuation (Python's
//!    `string.punctuation`), and replaces the whole words `a`, `an` and `the`
//!    with a space (a word is a run of Unicode alphanumerics and `_`, as
//!    Python's `\b` sees it). These are the steps of
//!    [`verdict_plugin::text`].
//! 4. `collapse_whitespace` turns every run of whitespace into one space and
//!    trims the ends, as Python's `" ".join(text.split())`.
//!
//! `normalize: "squad"` with the other keys left alone is exactly SQuAD's
//! `normalize_answer`. Explicit keys apply on top of the preset:
//! `{"normalize": "squad", "case_sensitive": true}` skips the lowercasing.
//! Without `squad`, `case_sensitive: false` compares the lowercase forms of
//! each character (`char::to_lowercase`, with the final sigma `ς` taken as
//! `σ`: [`verdict_plugin::text::fold_eq`]).
//!
//! The expectation may be a JSON list: the score passes when any item
//! matches. Outputs and expectations that are not strings are compared by
//! their JSON text. A record without the expectation (or with a `null` one)
//! is an error, `MISSING_EXPECTATION`.
//!
//! The value is a bool, with a short rationale: `matches expectation` or
//! `differs from expectation` (for a list, `matches an expectation` or
//! `matches no expectation`).
//!
//! # Speed
//!
//! `raw` and `strip` compare bytes and allocate nothing; so does
//! `case_sensitive: false` (an ASCII fast path, then a char-by-char walk).
//! The other steps allocate only when they change the text.
//!
//! # Example
//!
//! ```
//! use verdict_exact_match::ExactMatch;
//! use verdict_plugin::{NamedValue, Record, ScoreValue, Scorer, Value};
//!
//! let scorer = ExactMatch::from_json(r#"{"normalize": "squad"}"#)?;
//! let expectations = [NamedValue::new("expected_response", Value::string("Paris"))];
//! let record = Record::new(Value::NULL, Value::string("The  paris."), &expectations);
//! let score = scorer.score(&record).unwrap();
//! assert_eq!(score.value, ScoreValue::Bool(true));
//! assert_eq!(score.rationale.as_deref(), Some("matches expectation"));
//! # Ok::<(), verdict_plugin::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick, is_nfkc_quick};
use verdict_plugin::text::{
    collapse_whitespace, fold_eq, lowercase, remove_articles, remove_punctuation,
};
use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Record, Score, ScoreError, Scorer};

const MATCHES: &str = "matches expectation";
const DIFFERS: &str = "differs from expectation";
const MATCHES_ONE: &str = "matches an expectation";
const MATCHES_NONE: &str = "matches no expectation";
const EMPTY_LIST: &str = "empty expectation list";

/// Unicode normalization, applied first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unicode {
    None,
    Nfc,
    Nfkc,
}

/// How case is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    /// Case matters.
    Sensitive,
    /// Compare lowercase forms char by char, at comparison time.
    Fold,
    /// Lowercase the text (`squad`), before punctuation and articles.
    Lower,
}

/// The `exact_match` scorer. See the [crate docs](self) for its config.
#[derive(Clone, Debug)]
pub struct ExactMatch {
    trim: bool,
    unicode: Unicode,
    case: Case,
    squad: bool,
    collapse: bool,
    /// Nothing but trimming (or not) and byte equality.
    bytes_only: bool,
    expectation: String,
}

impl Scorer for ExactMatch {
    const NAME: &'static str = "exact_match";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Passes when the output equals the expectation (or any item of a list), after optional normalization.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "normalize",
            "one of: raw, strip, squad",
            "strip",
            "raw compares bytes as they are; strip trims surrounding whitespace; squad is SQuAD's \
             normalize_answer (lowercase, drop ASCII punctuation and the articles a/an/the, \
             collapse whitespace)",
        ),
        ConfigKey::new(
            "case_sensitive",
            "bool",
            "true (false with squad)",
            "whether case matters",
        ),
        ConfigKey::new(
            "collapse_whitespace",
            "bool",
            "false (true with squad)",
            "turn every run of whitespace into one space and trim the ends",
        ),
        ConfigKey::new(
            "unicode",
            "one of: none, nfc, nfkc",
            "none",
            "Unicode normalization applied first; nfkc also folds compatibility forms \
             (full-width letters, x² into x2)",
        ),
        ConfigKey::new(
            "expectation",
            "string",
            "expected_response",
            "the expectation to compare with; a JSON list passes when any item matches",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let preset = config
            .one_of("normalize", &["raw", "strip", "squad"])?
            .unwrap_or("strip");
        let squad = preset == "squad";
        let case_sensitive = config.bool("case_sensitive")?.unwrap_or(!squad);
        let collapse = config.bool("collapse_whitespace")?.unwrap_or(squad);
        let unicode = match config.one_of("unicode", &["none", "nfc", "nfkc"])? {
            Some("nfc") => Unicode::Nfc,
            Some("nfkc") => Unicode::Nfkc,
            _ => Unicode::None,
        };
        let expectation = config.expectation("expected_response")?;
        let case = match (case_sensitive, squad) {
            (true, _) => Case::Sensitive,
            (false, true) => Case::Lower,
            (false, false) => Case::Fold,
        };
        Ok(ExactMatch {
            trim: preset != "raw",
            unicode,
            case,
            squad,
            collapse,
            bytes_only: unicode == Unicode::None && case == Case::Sensitive && !squad && !collapse,
            expectation: expectation.to_owned(),
        })
    }

    fn score(&self, record: &Record<'_>) -> Outcome {
        let expected = record
            .expectation(&self.expectation)
            .filter(|v| !v.is_null())
            .ok_or_else(|| ScoreError::missing_expectation(&self.expectation))?;
        let output = self.prepare(record.outputs.text());
        if let Some(items) = expected.list_texts() {
            if items.is_empty() {
                return Ok(Score::bool(false).with_rationale(EMPTY_LIST));
            }
            let pass = items
                .iter()
                .any(|item| self.same(&output, &self.prepare(item)));
            let why = if pass { MATCHES_ONE } else { MATCHES_NONE };
            return Ok(Score::bool(pass).with_rationale(why));
        }
        let pass = self.same(&output, &self.prepare(expected.text()));
        Ok(Score::bool(pass).with_rationale(if pass { MATCHES } else { DIFFERS }))
    }
}

impl ExactMatch {
    /// Every step but case folding, which is done while comparing.
    fn prepare<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let text = if self.trim { text.trim() } else { text };
        if self.bytes_only {
            return Cow::Borrowed(text);
        }
        let mut text = Cow::Borrowed(text);
        match self.unicode {
            Unicode::None => {}
            Unicode::Nfc => text = nfc(text),
            Unicode::Nfkc => text = nfkc(text),
        }
        if self.case == Case::Lower {
            text = lowercase(text);
        }
        if self.squad {
            text = remove_articles(remove_punctuation(text));
        }
        if self.collapse {
            text = collapse_whitespace(text);
        } else if self.squad {
            // Removing articles may have left whitespace at the ends.
            text = trim(text);
        }
        text
    }

    /// Compares two prepared texts.
    fn same(&self, a: &str, b: &str) -> bool {
        if self.case == Case::Fold {
            fold_eq(a, b)
        } else {
            a == b
        }
    }
}

fn nfc(text: Cow<'_, str>) -> Cow<'_, str> {
    if !text.is_ascii() && is_nfc_quick(text.chars()) != IsNormalized::Yes {
        Cow::Owned(text.nfc().collect())
    } else {
        text
    }
}

fn nfkc(text: Cow<'_, str>) -> Cow<'_, str> {
    if !text.is_ascii() && is_nfkc_quick(text.chars()) != IsNormalized::Yes {
        Cow::Owned(text.nfkc().collect())
    } else {
        text
    }
}

/// `text` without surrounding whitespace.
fn trim(text: Cow<'_, str>) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(t) => Cow::Borrowed(t.trim()),
        Cow::Owned(t) if t.trim().len() != t.len() => Cow::Owned(t.trim().to_owned()),
        owned => owned,
    }
}

#[cfg(test)]
mod tests {
    use verdict_plugin::{
        NamedValue, Record, ScoreValue, Scorer, Value, check_config_errors, config_error, score_one,
    };

    use super::ExactMatch;

    fn scorer(config: &str) -> ExactMatch {
        ExactMatch::from_json(config).unwrap()
    }

    /// Scores `output` against the string expectation `expected`.
    fn pass(config: &str, output: &str, expected: &str) -> bool {
        let expectations = [NamedValue::new(
            "expected_response",
            Value::string(expected),
        )];
        match score_one::<ExactMatch>(config, Value::string(output), &expectations).value {
            ScoreValue::Bool(b) => b,
            other => panic!("not a bool: {other:?}"),
        }
    }

    #[test]
    fn default_strips_surrounding_whitespace_only() {
        assert!(pass("{}", "  Paris\n", "Paris"));
        assert!(pass("", "Paris", "\tParis "));
        assert!(!pass("{}", "paris", "Paris"));
        assert!(!pass("{}", "Par  is", "Par is"));
        assert!(!pass("{}", "Paris.", "Paris"));
    }

    #[test]
    fn raw_compares_bytes() {
        let raw = r#"{"normalize": "raw"}"#;
        assert!(pass(raw, "Paris", "Paris"));
        assert!(!pass(raw, "Paris ", "Paris"));
        assert!(!pass(raw, " Paris", "Paris"));
        assert!(!pass(raw, "paris", "Paris"));
    }

    #[test]
    fn strip_trims_unicode_whitespace() {
        // U+00A0 no-break space and U+3000 ideographic space are White_Space.
        assert!(pass(
            r#"{"normalize": "strip"}"#,
            "\u{a0}Paris\u{3000}",
            "Paris"
        ));
    }

    #[test]
    fn squad_is_normalize_answer() {
        let squad = r#"{"normalize": "squad"}"#;
        // Hand-worked through Python's normalize_answer.
        assert!(pass(squad, "The Eiffel Tower!", "eiffel tower"));
        assert!(pass(squad, "  an  apple,  a day ", "apple day"));
        assert!(pass(squad, "Theory of the case", "theory of case"));
        assert!(pass(squad, "U.S.A.", "usa"));
        assert!(pass(squad, "rock-n-roll", "rocknroll"));
        // Punctuation goes before articles: "the-end" becomes "theend".
        assert!(pass(squad, "the-end", "theend"));
        assert!(!pass(squad, "the-end", "end"));
        // Articles only as whole words; `_` is punctuation, so it goes first.
        assert!(pass(squad, "another", "another"));
        assert!(pass(squad, "a_b", "ab"));
        assert!(pass(squad, "A", ""));
        assert!(pass(squad, "the a an", ""));
        // Non-ASCII punctuation stays.
        assert!(!pass(squad, "«Paris»", "paris"));
        assert!(pass(squad, "«Paris»", "«PARIS»"));
        // Tabs and newlines collapse too.
        assert!(pass(squad, "new\t\nyork", "New York"));
        assert!(!pass(squad, "newyork", "new york"));
    }

    #[test]
    fn squad_articles_are_whole_unicode_words() {
        let squad = r#"{"normalize": "squad"}"#;
        // `é` is a word character, so "aé" is one word, not an article.
        assert!(!pass(squad, "aé", "é"));
        // A digit is a word character too.
        assert!(pass(squad, "a1 the", "a1"));
        // CJK characters are word characters.
        assert!(pass(squad, "the 東京", "東京"));
    }

    #[test]
    fn squad_with_explicit_overrides() {
        let cased = r#"{"normalize": "squad", "case_sensitive": true}"#;
        assert!(!pass(cased, "Paris", "paris"));
        // Case-sensitive article removal: "The" is not an article then.
        assert!(pass(cased, "the Paris", "Paris"));
        assert!(!pass(cased, "The Paris", "Paris"));
        let spaced = r#"{"normalize": "squad", "collapse_whitespace": false}"#;
        assert!(pass(spaced, " the paris ", "paris"));
        assert!(!pass(spaced, "new  york", "new york"));
    }

    #[test]
    fn case_insensitive() {
        let ci = r#"{"case_sensitive": false}"#;
        assert!(pass(ci, "PARIS", "paris"));
        assert!(pass(ci, " Paris ", "pARIS"));
        assert!(!pass(ci, "Paris.", "paris"));
        assert!(pass(ci, "ÉCOLE", "école"));
        assert!(pass(ci, "Straße", "STRAßE"));
        // The Kelvin sign lowercases to an ASCII k.
        assert!(pass(ci, "\u{212a}", "k"));
        // Final sigma and sigma are the same letter.
        assert!(pass(ci, "ΟΔΟΣ", "οδος"));
        assert!(pass(ci, "οδοσ", "οδος"));
        assert!(!pass(r#"{"case_sensitive": true}"#, "PARIS", "paris"));
    }

    #[test]
    fn collapse_whitespace() {
        let collapse = r#"{"collapse_whitespace": true}"#;
        assert!(pass(collapse, " new \t\n york ", "new york"));
        assert!(!pass(collapse, "newyork", "new york"));
        let raw_collapse = r#"{"normalize": "raw", "collapse_whitespace": true}"#;
        assert!(pass(raw_collapse, "  new   york", "new york"));
        assert!(!pass(raw_collapse, "New york", "new york"));
        assert!(!pass(
            r#"{"collapse_whitespace": false}"#,
            "new  york",
            "new york"
        ));
    }

    #[test]
    fn unicode_combining_marks() {
        let precomposed = "caf\u{e9}";
        let combining = "cafe\u{301}";
        assert!(!pass("{}", precomposed, combining));
        assert!(!pass(r#"{"unicode": "none"}"#, precomposed, combining));
        assert!(pass(r#"{"unicode": "nfc"}"#, precomposed, combining));
        assert!(pass(r#"{"unicode": "nfc"}"#, combining, precomposed));
        assert!(pass(r#"{"unicode": "nfkc"}"#, combining, precomposed));
        // With case folding on top.
        assert!(pass(
            r#"{"unicode": "nfc", "case_sensitive": false}"#,
            "CAFE\u{301}",
            precomposed
        ));
    }

    #[test]
    fn unicode_compatibility_forms() {
        // Full-width letters and digits.
        assert!(!pass(r#"{"unicode": "nfc"}"#, "ＡＢＣ１２", "ABC12"));
        assert!(pass(r#"{"unicode": "nfkc"}"#, "ＡＢＣ１２", "ABC12"));
        assert!(pass(r#"{"unicode": "nfkc"}"#, "x²", "x2"));
        assert!(!pass(r#"{"unicode": "nfc"}"#, "x²", "x2"));
        // NFKC then SQuAD: full-width punctuation becomes ASCII, then goes.
        assert!(pass(
            r#"{"normalize": "squad", "unicode": "nfkc"}"#,
            "Ｐａｒｉｓ！",
            "paris"
        ));
        assert!(!pass(r#"{"normalize": "squad"}"#, "Ｐａｒｉｓ！", "paris"));
    }

    #[test]
    fn emoji_and_cjk() {
        assert!(pass("{}", " 👍🏽 ", "👍🏽"));
        assert!(!pass("{}", "👍", "👍🏽"));
        // A ZWJ sequence is compared as its scalar values.
        assert!(pass(r#"{"normalize": "squad"}"#, "👨‍👩‍👧!", "👨‍👩‍👧"));
        assert!(pass("{}", "東京", "東京"));
        assert!(!pass("{}", "東京", "京都"));
        assert!(pass(
            r#"{"case_sensitive": false}"#,
            "東京タワー",
            "東京タワー"
        ));
    }

    #[test]
    fn empty_strings() {
        assert!(pass("{}", "", ""));
        assert!(pass("{}", "   ", ""));
        assert!(!pass(r#"{"normalize": "raw"}"#, " ", ""));
        assert!(!pass("{}", "a", ""));
        assert!(!pass("{}", "", "a"));
        assert!(pass(r#"{"normalize": "squad"}"#, "", "!!!"));
        assert!(pass(r#"{"case_sensitive": false}"#, "", ""));
    }

    #[test]
    fn rationales_are_short_and_static() {
        let s = scorer("{}");
        let expectations = [NamedValue::new("expected_response", Value::string("a"))];
        for (output, rationale) in [
            ("a", "matches expectation"),
            ("b", "differs from expectation"),
        ] {
            let record = Record::new(Value::NULL, Value::string(output), &expectations);
            let score = s.score(&record).unwrap();
            let got = score.rationale.unwrap();
            assert_eq!(got, rationale);
            assert!(got.len() <= 24);
            assert!(matches!(got, std::borrow::Cow::Borrowed(_)));
        }
    }

    #[test]
    fn missing_expectation_is_an_error() {
        let s = scorer("{}");
        let record = Record::new(Value::NULL, Value::string("a"), &[]);
        let err = s.score(&record).unwrap_err();
        assert_eq!(err.code, "MISSING_EXPECTATION");
        assert!(err.message.contains("expected_response"));

        let null = [NamedValue::new("expected_response", Value::NULL)];
        let record = Record::new(Value::NULL, Value::string("a"), &null);
        assert_eq!(s.score(&record).unwrap_err().code, "MISSING_EXPECTATION");

        let other = [NamedValue::new("expected_response", Value::string("a"))];
        let record = Record::new(Value::NULL, Value::string("a"), &other);
        let err = scorer(r#"{"expectation": "answer"}"#)
            .score(&record)
            .unwrap_err();
        assert!(err.message.contains("\"answer\""));
    }

    #[test]
    fn named_expectation() {
        let expectations = [
            NamedValue::new("expected_response", Value::string("no")),
            NamedValue::new("answer", Value::string("yes")),
        ];
        let record = Record::new(Value::NULL, Value::string("yes"), &expectations);
        let score = scorer(r#"{"expectation": "answer"}"#)
            .score(&record)
            .unwrap();
        assert_eq!(score.value, ScoreValue::Bool(true));
    }

    #[test]
    fn list_expectation_passes_on_any_item() {
        let s = scorer(r#"{"normalize": "squad"}"#);
        let expectations = [NamedValue::new(
            "expected_response",
            Value::json(r#"["Paris", "City of Light", 42]"#),
        )];
        let cases = [
            ("the city of light", true, "matches an expectation"),
            ("PARIS!", true, "matches an expectation"),
            ("42", true, "matches an expectation"),
            ("London", false, "matches no expectation"),
        ];
        for (output, expected, rationale) in cases {
            let record = Record::new(Value::NULL, Value::string(output), &expectations);
            let score = s.score(&record).unwrap();
            assert_eq!(score.value, ScoreValue::Bool(expected), "{output}");
            assert_eq!(score.rationale.as_deref(), Some(rationale));
        }
        let empty = [NamedValue::new("expected_response", Value::json("[]"))];
        let record = Record::new(Value::NULL, Value::string(""), &empty);
        let score = s.score(&record).unwrap();
        assert_eq!(score.value, ScoreValue::Bool(false));
        assert_eq!(score.rationale.as_deref(), Some("empty expectation list"));
    }

    #[test]
    fn a_string_that_looks_like_a_list_is_one_expectation() {
        let expectations = [NamedValue::new(
            "expected_response",
            Value::string("[1, 2]"),
        )];
        let record = Record::new(Value::NULL, Value::string("[1, 2]"), &expectations);
        let score = scorer("{}").score(&record).unwrap();
        assert_eq!(score.rationale.as_deref(), Some("matches expectation"));
        let record = Record::new(Value::NULL, Value::string("1"), &expectations);
        assert_eq!(
            scorer("{}").score(&record).unwrap().value,
            ScoreValue::Bool(false)
        );
    }

    #[test]
    fn non_string_values_compare_by_json_text() {
        let expectations = [NamedValue::new("expected_response", Value::json("42"))];
        for (output, expected) in [
            (Value::json("42"), true),
            (Value::string("42"), true),
            (Value::json("42.0"), false),
        ] {
            let record = Record::new(Value::NULL, output, &expectations);
            let score = scorer("{}").score(&record).unwrap();
            assert_eq!(score.value, ScoreValue::Bool(expected), "{output:?}");
        }
        let object = [NamedValue::new(
            "expected_response",
            Value::json(r#"{"a": 1}"#),
        )];
        let record = Record::new(Value::NULL, Value::json(r#"{"a": 1}"#), &object);
        assert_eq!(
            scorer("{}").score(&record).unwrap().value,
            ScoreValue::Bool(true)
        );
        // A null output is the empty text.
        let empty = [NamedValue::new("expected_response", Value::string(""))];
        let record = Record::new(Value::NULL, Value::NULL, &empty);
        assert_eq!(
            scorer("{}").score(&record).unwrap().value,
            ScoreValue::Bool(true)
        );
    }

    #[test]
    fn invalid_configs_name_the_key() {
        let cases = [
            (r#"{"normalize": "lower"}"#, "normalize"),
            (r#"{"normalize": true}"#, "normalize"),
            (r#"{"case_sensitive": "no"}"#, "case_sensitive"),
            (r#"{"collapse_whitespace": 1}"#, "collapse_whitespace"),
            (r#"{"unicode": "nfd"}"#, "unicode"),
            (r#"{"expectation": 3}"#, "expectation"),
            (r#"{"expectation": ""}"#, "expectation"),
            (r#"{"normalise": "raw"}"#, "normalise"),
        ];
        check_config_errors::<ExactMatch>(&cases).unwrap();
        let (_, message) = config_error::<ExactMatch>(r#"{"unicode": "nfd"}"#);
        assert!(message.contains("none, nfc, nfkc"), "{message}");
        assert!(ExactMatch::from_json("[]").is_err());
    }

    #[test]
    fn nulls_in_config_mean_defaults() {
        assert!(pass(r#"{"normalize": null, "unicode": null}"#, " a ", "a"));
    }

    #[test]
    fn steps_allocate_only_when_they_change_the_text() {
        use std::borrow::Cow;
        let all = scorer(r#"{"normalize": "squad", "unicode": "nfkc"}"#);
        assert!(matches!(
            all.prepare("paris is nice"),
            Cow::Borrowed("paris is nice")
        ));
        assert!(matches!(all.prepare(" école "), Cow::Borrowed("école")));
        assert_eq!(all.prepare("The  École!"), "école");
        let default = scorer("{}");
        assert!(matches!(default.prepare(" A "), Cow::Borrowed("A")));
    }

    #[test]
    fn config_keys_are_documented() {
        let names: Vec<&str> = ExactMatch::CONFIG_KEYS
            .iter()
            .map(|k| k.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "normalize",
                "case_sensitive",
                "collapse_whitespace",
                "unicode",
                "expectation"
            ]
        );
        for key in ExactMatch::CONFIG_KEYS {
            assert!(!key.kind.as_str().is_empty() && !key.description.as_str().is_empty());
        }
    }
}

// Only the scorer's own entry point (`verdict_plugin_v1_exact_match`): the host
// links every built-in scorer, and a program can hold one generic
// `verdict_plugin_v1` at most.
verdict_plugin::export_plugin!(ExactMatch, exact_match);
