//! `keyword_coverage`: the fraction of expected keywords an output
//! mentions — a Verdict scorer plugin, written the way a user writes one.
//!
//! Built-in scorers answer "does the output contain this?" (`contains`) or
//! "how close is it to the answer?" (`token_f1`, `edit_distance`). Checking
//! an answer for the facts it must mention is a different question: with
//! keywords `["Paris", "Seine", "1889"]`, an answer naming two of them
//! scores `0.667`, and the rationale names the one it missed. Pass criteria
//! (say, at least 0.8) belong to the run — `verdict eval`'s gates — not to
//! the scorer. By default the keywords come from the expectation
//! `expected_facts`, the name MLflow's evaluation datasets use for the facts
//! an answer must state.
//!
//! # Config
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `keywords` | string or list of strings | the expectation | the keywords to look for |
//! | `expectation` | string | `expected_facts` | without `keywords`: the expectation that lists them (a JSON list, or one keyword as a string) |
//! | `ignore_case` | bool | `true` | compare lowercase forms (Unicode-aware) |
//! | `whole_words` | bool | `true` | a keyword counts only where it is not part of a longer word: `cat` is not in `category` |
//!
//! # Semantics
//!
//! The value is a number in `[0, 1]`: the keywords found over the
//! keywords asked for, each counted once (duplicates, after case folding
//! when `ignore_case`, count once). A keyword may be several words
//! (`"Eiffel Tower"`); with `whole_words`, the characters just before and
//! after it must not be letters or digits. A record without the
//! expectation is an error (`MISSING_EXPECTATION`), and so is an empty
//! list of keywords (`NO_KEYWORDS`): coverage of nothing means nothing.
//!
//! # As a plugin
//!
//! [`export_plugin!`](verdict_plugin::export_plugin) below is all it takes:
//! no `unsafe` in this crate. Build it with
//! `cargo build --release -p keyword-coverage` and load
//! `target/release/libkeyword_coverage.so` (`.dylib` on macOS, `.dll` on
//! Windows) with `verdict --plugin`.
//!
//! ```
//! use keyword_coverage::KeywordCoverage;
//! use verdict_plugin::{Record, ScoreValue, Scorer, Value};
//!
//! let scorer = KeywordCoverage::from_json(r#"{"keywords": ["Paris", "Seine", "1889"]}"#)?;
//! let record = Record::new(Value::NULL, Value::string("Built in 1889 in paris."), &[]);
//! let score = scorer.score(&record).unwrap();
//! assert_eq!(score.value, ScoreValue::Number(2.0 / 3.0));
//! assert_eq!(score.rationale.as_deref(), Some("2 of 3 keywords; missing: \"Seine\""));
//! # Ok::<(), verdict_plugin::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

use std::borrow::Cow;

use verdict_plugin::text::fold_str;
use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Record, Score, ScoreError, Scorer};

/// Where the keywords come from.
#[derive(Clone, Debug)]
enum Keywords {
    /// From the config, each once.
    Fixed(Vec<Keyword>),
    /// From the expectation of this name, record by record.
    Expectation(String),
}

/// A keyword as written, and as looked for (folded when case is ignored).
#[derive(Clone, Debug)]
struct Keyword {
    written: String,
    needle: String,
}

/// The `keyword_coverage` scorer. See the [crate docs](self) for its
/// config.
#[derive(Clone, Debug)]
pub struct KeywordCoverage {
    keywords: Keywords,
    ignore_case: bool,
    whole_words: bool,
}

impl Scorer for KeywordCoverage {
    const NAME: &'static str = "keyword_coverage";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str =
        "The fraction of expected keywords the output mentions, naming the missing ones.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "keywords",
            "string or list of strings",
            "the expectation",
            "the keywords to look for; when absent, the expectation gives them",
        ),
        ConfigKey::new(
            "expectation",
            "string",
            "expected_facts",
            "without keywords: the expectation that lists them (a JSON list, or one string)",
        ),
        ConfigKey::new(
            "ignore_case",
            "bool",
            "true",
            "compare lowercase forms (Unicode-aware)",
        ),
        ConfigKey::new(
            "whole_words",
            "bool",
            "true",
            "count a keyword only where it is not part of a longer word",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let ignore_case = config.bool("ignore_case")?.unwrap_or(true);
        let whole_words = config.bool("whole_words")?.unwrap_or(true);
        let keywords = match config.strings("keywords")? {
            Some(_) if config.get("expectation").is_some() => {
                return Err(config.error(
                    "expectation",
                    "not used when `keywords` is set; remove one of the two",
                ));
            }
            Some(list) => {
                let list = distinct(list.into_iter().map(Cow::Borrowed), ignore_case);
                if list.is_empty() {
                    return Err(config.error(
                        "keywords",
                        "no keyword to look for; give at least one non-empty keyword",
                    ));
                }
                Keywords::Fixed(list)
            }
            None => {
                let name = config.expectation("expected_facts")?;
                Keywords::Expectation(name.to_owned())
            }
        };
        Ok(KeywordCoverage {
            keywords,
            ignore_case,
            whole_words,
        })
    }

    fn score(&self, record: &Record<'_>) -> Outcome {
        let from_record;
        let keywords = match &self.keywords {
            Keywords::Fixed(list) => list,
            Keywords::Expectation(name) => {
                let expected = record
                    .expectation(name)
                    .filter(|v| !v.is_null())
                    .ok_or_else(|| ScoreError::missing_expectation(name))?;
                from_record = distinct(expected.texts().into_iter(), self.ignore_case);
                if from_record.is_empty() {
                    return Err(ScoreError::new(
                        "NO_KEYWORDS",
                        format!("expectation {name:?} lists no keyword to look for"),
                    ));
                }
                &from_record
            }
        };
        let output = record.outputs.text();
        let output = if self.ignore_case {
            fold_str(output)
        } else {
            Cow::Borrowed(output)
        };
        let missing: Vec<&str> = keywords
            .iter()
            .filter(|k| !mentions(&output, &k.needle, self.whole_words))
            .map(|k| k.written.as_str())
            .collect();
        let found = keywords.len() - missing.len();
        let rationale = if missing.is_empty() {
            format!("all {} keywords", keywords.len())
        } else {
            let quoted: Vec<String> = missing.iter().map(|k| format!("{k:?}")).collect();
            format!(
                "{found} of {} keywords; missing: {}",
                keywords.len(),
                quoted.join(", ")
            )
        };
        Ok(Score::number(found as f64 / keywords.len() as f64).with_rationale(rationale))
    }
}

verdict_plugin::export_plugin!(KeywordCoverage);

/// The keywords, trimmed, without empty ones, each once (as first
/// written; the same once folded counts as the same when case is ignored).
fn distinct<'a>(keywords: impl Iterator<Item = Cow<'a, str>>, ignore_case: bool) -> Vec<Keyword> {
    let mut seen: Vec<Keyword> = Vec::new();
    for keyword in keywords {
        let written = keyword.trim();
        let needle = if ignore_case {
            fold_str(written).into_owned()
        } else {
            written.to_owned()
        };
        if !needle.is_empty() && !seen.iter().any(|k| k.needle == needle) {
            seen.push(Keyword {
                written: written.to_owned(),
                needle,
            });
        }
    }
    seen
}

/// Whether `text` mentions `keyword`; with `whole_words`, only where the
/// characters around it are not letters or digits.
fn mentions(text: &str, keyword: &str, whole_words: bool) -> bool {
    if !whole_words {
        return text.contains(keyword);
    }
    let is_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    text.match_indices(keyword).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + keyword.len()..].chars().next();
        // A keyword that starts or ends with a non-word character (`C++`,
        // `.NET`) has its boundary there already.
        let first = keyword.chars().next();
        let last = keyword.chars().next_back();
        (!is_word(before) || !is_word(first)) && (!is_word(after) || !is_word(last))
    })
}

#[cfg(test)]
mod tests {
    use verdict_plugin::{NamedValue, ScoreValue, Value, check_abi, through_abi};

    use super::*;

    fn score(config: &str, output: &str, expectations: &[NamedValue<'_>]) -> Outcome {
        let scorer = KeywordCoverage::from_json(config).unwrap();
        scorer.score(&Record::new(
            Value::NULL,
            Value::string(output),
            expectations,
        ))
    }

    fn number(outcome: &Outcome) -> f64 {
        match outcome.as_ref().unwrap().value {
            ScoreValue::Number(n) => n,
            ref other => panic!("not a number: {other:?}"),
        }
    }

    #[test]
    fn counts_the_keywords_found_from_the_expectation() {
        let expected = [NamedValue::new(
            "expected_facts",
            Value::json(r#"["Eiffel Tower", "1889", "Paris", "paris"]"#),
        )];
        let outcome = score("", "The eiffel tower opened in 1889.", &expected);
        assert_eq!(
            number(&outcome),
            2.0 / 3.0,
            "\"paris\" and \"Paris\" count once"
        );
        assert_eq!(
            outcome.unwrap().rationale.as_deref(),
            Some("2 of 3 keywords; missing: \"Paris\"")
        );
        let all = score("", "Paris: the Eiffel Tower, 1889", &expected);
        assert_eq!(number(&all), 1.0);
        assert_eq!(all.unwrap().rationale.as_deref(), Some("all 3 keywords"));
    }

    #[test]
    fn whole_words_and_case_are_configurable() {
        let config = r#"{"keywords": ["cat"]}"#;
        assert_eq!(number(&score(config, "a category", &[])), 0.0);
        assert_eq!(number(&score(config, "the CAT sat", &[])), 1.0);
        assert_eq!(number(&score(config, "cat.", &[])), 1.0);
        let loose = r#"{"keywords": ["cat"], "whole_words": false}"#;
        assert_eq!(number(&score(loose, "a category", &[])), 1.0);
        let exact_case = r#"{"keywords": ["Cat"], "ignore_case": false}"#;
        assert_eq!(number(&score(exact_case, "the cat", &[])), 0.0);
        // Keywords that end in symbols have their boundary there.
        let symbols = r#"{"keywords": ["C++", ".NET"]}"#;
        assert_eq!(number(&score(symbols, "C++ and .NET devs", &[])), 1.0);
        // Unicode case folding.
        let accents = r#"{"keywords": ["ÉCOLE"]}"#;
        assert_eq!(number(&score(accents, "une école", &[])), 1.0);
    }

    #[test]
    fn missing_or_empty_keywords_are_errors_not_scores() {
        let missing = score("", "anything", &[]).unwrap_err();
        assert_eq!(missing.code, "MISSING_EXPECTATION");
        let empty = [NamedValue::new("expected_facts", Value::json("[]"))];
        let none = score("", "anything", &empty).unwrap_err();
        assert_eq!(none.code, "NO_KEYWORDS");
        let error = KeywordCoverage::from_json(r#"{"keywords": ["  "]}"#).unwrap_err();
        assert!(error.to_string().contains("keywords"), "{error}");
        let both = KeywordCoverage::from_json(r#"{"keywords": "a", "expectation": "b"}"#);
        assert!(both.is_err());
        let unknown = KeywordCoverage::from_json(r#"{"keyword": "a"}"#).unwrap_err();
        assert!(unknown.to_string().contains("keyword"), "{unknown}");
    }

    #[test]
    fn the_c_abi_gives_the_same_outcomes_as_a_direct_call() {
        let expected = [NamedValue::new(
            "expected_facts",
            Value::json(r#"["Paris", "Seine"]"#),
        )];
        let records = [
            Record::new(Value::NULL, Value::string("Paris, on the Seine"), &expected),
            Record::new(Value::NULL, Value::string("Lyon"), &expected),
            Record::new(Value::NULL, Value::string("no expectation"), &[]),
        ];
        let direct: Vec<Outcome> = records
            .iter()
            .map(|r| KeywordCoverage::from_json("").unwrap().score(r))
            .collect();
        assert_eq!(
            through_abi::<KeywordCoverage>("", &records).unwrap(),
            direct
        );
        let refused = through_abi::<KeywordCoverage>(r#"{"ignore_case": 1}"#, &records);
        assert!(refused.unwrap_err().contains("ignore_case"));
        check_abi::<KeywordCoverage>(r#"{"expectation": "expectation"}"#, "expectation").unwrap();
        check_abi::<KeywordCoverage>(r#"{"keywords": ["paris", "cat"]}"#, "expectation").unwrap();
    }
}
