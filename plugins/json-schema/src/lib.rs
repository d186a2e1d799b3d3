//! The `json_schema` scorer: passes when the output is JSON that validates
//! against a JSON Schema, given in the config or as an expectation.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `schema` | JSON Schema (object or bool) | the expectation | the schema, compiled once |
//! | `expectation` | string | `expected_schema` | without `schema`: the expectation that holds the schema (an object, or a string of JSON text) |
//!
//! # Semantics
//!
//! - An output given as a string is parsed as JSON text (surrounding
//!   whitespace allowed, nothing else: a Markdown code fence is not JSON);
//!   an output given as a JSON value already is JSON. An output that is
//!   not JSON fails, with the parse error as the rationale; a missing one
//!   fails too.
//! - Validation is the `jsonschema` crate's: the draft is the one the
//!   schema's `$schema` names (4, 6, 7, 2019-09 or 2020-12), else 2020-12.
//!   `format` is an annotation, not an assertion, as those drafts say for
//!   2019-09 and later. References resolve within the schema only: nothing
//!   is fetched over the network or read from files, and a schema that
//!   needs it does not compile.
//! - A schema in the config that does not compile refuses the config; one
//!   from an expectation that does not compile (or is missing) is an
//!   error for that record, `INVALID_EXPECTATION` (or
//!   `MISSING_EXPECTATION`). In a batch, records with the same schema text
//!   share one compiled schema.
//! - The value is a bool; a failure's rationale is the first validation
//!   error with where it is (`/items/2: "x" is not of type "integer"`) and
//!   how many there are.
//!
//! # Example
//!
//! ```
//! use verdict_json_schema::JsonSchema;
//! use verdict_plugin::{Record, ScoreValue, Scorer, Value};
//!
//! let scorer = JsonSchema::from_json(r#"{"schema": {
//!     "type": "object",
//!     "properties": {"age": {"type": "integer", "minimum": 0}},
//!     "required": ["age"]
//! }}"#)?;
//! let ok = Record::new(Value::NULL, Value::string(r#"{"age": 42}"#), &[]);
//! assert_eq!(scorer.score(&ok).unwrap().value, ScoreValue::Bool(true));
//! let bad = Record::new(Value::NULL, Value::string(r#"{"age": -1}"#), &[]);
//! let score = scorer.score(&bad).unwrap();
//! assert_eq!(score.value, ScoreValue::Bool(false));
//! assert_eq!(score.rationale.as_deref(), Some("/age: -1 is less than the minimum of 0"));
//! # Ok::<(), verdict_plugin::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

use std::collections::HashMap;

use jsonschema::Validator;
use serde_json::Value as Json;
use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Record, Score, ScoreError, Scorer};

/// Where the schema comes from.
#[derive(Debug)]
enum Source {
    /// The config's, compiled.
    Schema(Box<Validator>),
    /// The expectation of this name.
    Expectation(String),
}

/// The `json_schema` scorer. See the [crate docs](self) for its config.
#[derive(Debug)]
pub struct JsonSchema {
    source: Source,
}

/// The longest error message, in chars, that a rationale quotes in full.
const MESSAGE_CHARS: usize = 200;

impl Scorer for JsonSchema {
    const NAME: &'static str = "json_schema";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Passes when the output is JSON that validates against a JSON Schema.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "schema",
            "JSON Schema (object or bool)",
            "the expectation",
            "the schema, compiled once; drafts 4 to 2020-12 (by $schema, else 2020-12)",
        ),
        ConfigKey::new(
            "expectation",
            "string",
            "expected_schema",
            "without schema: the expectation that holds it (an object, or a string of JSON text)",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let source = match config.get("schema") {
            Some(_) if config.get("expectation").is_some() => {
                return Err(config.error(
                    "expectation",
                    "not used when `schema` is set; remove one of the two",
                ));
            }
            Some(schema) => Source::Schema(Box::new(
                compile(schema).map_err(|e| config.error("schema", e))?,
            )),
            None => {
                let name = config.expectation("expected_schema")?;
                Source::Expectation(name.to_owned())
            }
        };
        Ok(JsonSchema { source })
    }

    verdict_plugin::score_with_scratch!(Compiled, score_with);
}

/// Schemas from expectations compiled in this batch, by their text.
type Compiled = HashMap<String, Result<Validator, String>>;

impl JsonSchema {
    fn score_with(&self, record: &Record<'_>, compiled: &mut Compiled) -> Outcome {
        let validator = match &self.source {
            Source::Schema(validator) => validator,
            Source::Expectation(name) => {
                let expected = record
                    .expectation(name)
                    .filter(|v| !v.is_null())
                    .ok_or_else(|| ScoreError::missing_expectation(name))?;
                let text = expected.text();
                if !compiled.contains_key(text) {
                    let schema = match expected.as_str() {
                        // A string holds the schema as JSON text.
                        Some(s) => serde_json::from_str(s)
                            .map_err(|e| format!("its text is not JSON: {e}")),
                        None => Ok(expected.to_json()),
                    };
                    compiled.insert(text.to_owned(), schema.and_then(|s| compile(&s)));
                }
                match &compiled[text] {
                    Ok(validator) => validator,
                    Err(why) => {
                        return Err(ScoreError::new(
                            "INVALID_EXPECTATION",
                            format!("the expectation {name:?} is not a usable JSON Schema: {why}"),
                        ));
                    }
                }
            }
        };
        let parsed;
        let instance = match record.outputs.as_str() {
            _ if record.outputs.is_null() => {
                return Ok(Score::bool(false).with_rationale("no output"));
            }
            Some(text) => match serde_json::from_str::<Json>(text) {
                Ok(json) => {
                    parsed = json;
                    &parsed
                }
                Err(e) => {
                    return Ok(Score::bool(false).with_rationale(format!("not JSON: {e}")));
                }
            },
            None => {
                parsed = record.outputs.to_json();
                &parsed
            }
        };
        let mut errors = validator.iter_errors(instance);
        let Some(first) = errors.next() else {
            return Ok(Score::bool(true).with_rationale("valid"));
        };
        let path = first.instance_path().to_string();
        let mut rationale = if path.is_empty() {
            cut(&first.to_string())
        } else {
            format!("{path}: {}", cut(&first.to_string()))
        };
        let more = errors.count();
        if more > 0 {
            rationale.push_str(&format!(" (and {more} more)"));
        }
        Ok(Score::bool(false).with_rationale(rationale))
    }
}

/// Compiles `schema`, or says why it does not compile.
fn compile(schema: &Json) -> Result<Validator, String> {
    jsonschema::validator_for(schema).map_err(|e| format!("not a valid JSON Schema: {e}"))
}

/// `message`, cut after [`MESSAGE_CHARS`] characters.
fn cut(message: &str) -> String {
    match message.char_indices().nth(MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use verdict_plugin::{
        NamedValue, Record, Score, ScoreValue, Scorer, Value, check_config_errors,
    };

    use super::JsonSchema;

    const PERSON: &str = r#"{"schema": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "tags": {"type": "array", "items": {"type": "integer"}}
        },
        "required": ["name"],
        "additionalProperties": false
    }}"#;

    fn score(config: &str, output: Value<'_>) -> Score {
        let scorer = JsonSchema::from_json(config).unwrap();
        scorer
            .score(&Record::new(Value::NULL, output, &[]))
            .unwrap()
    }

    fn verdict(config: &str, output: &str) -> (bool, String) {
        let s = score(config, Value::string(output));
        (
            s.value == ScoreValue::Bool(true),
            s.rationale.unwrap().into_owned(),
        )
    }

    #[test]
    fn valid_and_invalid_outputs() {
        assert_eq!(
            verdict(PERSON, r#" {"name": "Ada", "tags": [1, 2]} "#),
            (true, "valid".into())
        );
        let (pass, why) = verdict(PERSON, r#"{"name": "Ada", "tags": [1, "x"]}"#);
        assert!(!pass);
        assert_eq!(why, r#"/tags/1: "x" is not of type "integer""#);
        let (pass, why) = verdict(PERSON, r#"{"tags": [], "extra": 1}"#);
        assert!(!pass);
        assert!(why.ends_with("(and 1 more)"), "{why}");
        let (pass, why) = verdict(PERSON, "[1]");
        assert!(!pass);
        assert_eq!(why, r#"[1] is not of type "object""#);
    }

    #[test]
    fn outputs_that_are_not_json_fail() {
        let (pass, why) = verdict(PERSON, "```json\n{\"name\": \"Ada\"}\n```");
        assert!(!pass);
        assert!(why.starts_with("not JSON: "), "{why}");
        assert!(!verdict(PERSON, "").0);
        let s = score(PERSON, Value::NULL);
        assert_eq!(s.value, ScoreValue::Bool(false));
        assert_eq!(s.rationale.as_deref(), Some("no output"));
        // A JSON output is used as it is.
        let s = score(PERSON, Value::json(r#"{"name": "東京"}"#));
        assert_eq!(s.value, ScoreValue::Bool(true));
        // A string that is JSON text of a string.
        let s = score(
            r#"{"schema": {"type": "string"}}"#,
            Value::string(r#""hi""#),
        );
        assert_eq!(s.value, ScoreValue::Bool(true));
    }

    #[test]
    fn drafts_refs_and_formats() {
        // Draft 4's boolean exclusiveMaximum, chosen by $schema.
        let draft4 = r#"{"schema": {"$schema": "http://json-schema.org/draft-04/schema#",
            "type": "number", "maximum": 10, "exclusiveMaximum": true}}"#;
        assert!(!verdict(draft4, "10").0);
        assert!(verdict(draft4, "9.5").0);
        // Local references.
        let refs = r##"{"schema": {"$defs": {"id": {"type": "integer"}},
            "type": "array", "items": {"$ref": "#/$defs/id"}}}"##;
        assert!(verdict(refs, "[1, 2]").0);
        assert!(!verdict(refs, "[1, 2.5]").0);
        // `format` annotates in 2020-12.
        assert!(verdict(r#"{"schema": {"format": "email"}}"#, r#""not an email""#).0);
        // true and false are schemas.
        assert!(verdict(r#"{"schema": true}"#, "null").0);
        assert!(!verdict(r#"{"schema": false}"#, "null").0);
    }

    #[test]
    fn schemas_from_expectations() {
        let scorer = JsonSchema::from_json("{}").unwrap();
        let schema = r#"{"type": "integer"}"#;
        for expected in [Value::json(schema), Value::string(schema)] {
            let named = [NamedValue::new("expected_schema", expected)];
            let ok = Record::new(Value::NULL, Value::string("3"), &named);
            assert_eq!(scorer.score(&ok).unwrap().value, ScoreValue::Bool(true));
            let bad = Record::new(Value::NULL, Value::string("3.5"), &named);
            assert_eq!(scorer.score(&bad).unwrap().value, ScoreValue::Bool(false));
        }
        let none = Record::new(Value::NULL, Value::string("3"), &[]);
        assert_eq!(scorer.score(&none).unwrap_err().code, "MISSING_EXPECTATION");
        for broken in [
            Value::json(r#"{"type": "integr"}"#),
            Value::string("{not json"),
            Value::json(r#"{"$ref": "https://example.com/schema.json"}"#),
        ] {
            let named = [NamedValue::new("expected_schema", broken)];
            let record = Record::new(Value::NULL, Value::string("3"), &named);
            let err = scorer.score(&record).unwrap_err();
            assert_eq!(err.code, "INVALID_EXPECTATION", "{broken:?}");
        }
        // The batch path shares compiled schemas and gives the same outcomes.
        let a = [NamedValue::new("expected_schema", Value::json(schema))];
        let b = [NamedValue::new(
            "expected_schema",
            Value::json(r#"{"type": "string"}"#),
        )];
        let records = [
            Record::new(Value::NULL, Value::string("1"), &a),
            Record::new(Value::NULL, Value::string("1"), &b),
            Record::new(Value::NULL, Value::string("\"1\""), &b),
            Record::new(Value::NULL, Value::string("x"), &a),
        ];
        let mut batch = Vec::new();
        scorer.score_batch(&records, &mut batch);
        let one_by_one: Vec<_> = records.iter().map(|r| scorer.score(r)).collect();
        assert_eq!(batch, one_by_one);
        let passes: Vec<_> = batch
            .iter()
            .map(|o| o.as_ref().unwrap().value.clone())
            .collect();
        assert_eq!(passes, [true, false, true, false].map(ScoreValue::Bool));
    }

    #[test]
    fn invalid_configs_name_the_key() {
        check_config_errors::<JsonSchema>(&[
            (r#"{"schema": {"type": "integr"}}"#, "schema"),
            (r#"{"schema": {"minimum": "0"}}"#, "schema"),
            (r#"{"schema": 3}"#, "schema"),
            (r#"{"schema": {}, "expectation": "s"}"#, "expectation"),
            (r#"{"expectation": ""}"#, "expectation"),
            (r#"{"schemas": {}}"#, "schemas"),
        ])
        .unwrap();
    }
}

// Only the scorer's own entry point (`verdict_plugin_v1_json_schema`): the
// host links every built-in scorer, and a program can hold one generic
// `verdict_plugin_v1` at most.
verdict_plugin::export_plugin!(JsonSchema, json_schema);
