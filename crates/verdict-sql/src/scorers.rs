//! The configured scorers a session's queries call, made once per scorer
//! and config through the registry, with the SQL type of their value.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, plan_datafusion_err, plan_err};
use serde_json::{Map, Value as Json};
use verdict_plugin::{NamedValue, Record, Results, ScoreValueRef, Value};
use verdict_scorer::{Registry, Scorer, ScorerSpec, SpecTarget};

use crate::records::EXPECTED;

/// The SQL type of a scorer's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// Pass or fail: BOOLEAN.
    Bool,
    /// A number: DOUBLE.
    Number,
    /// A label, or a scorer whose kind could not be learned: VARCHAR.
    Label,
}

impl ValueType {
    /// The Arrow type.
    pub fn data_type(self) -> DataType {
        match self {
            ValueType::Bool => DataType::Boolean,
            ValueType::Number => DataType::Float64,
            ValueType::Label => DataType::Utf8,
        }
    }
}

/// A scorer made from its name and config, with the type of its value.
pub(crate) struct Made {
    pub(crate) scorer: Box<dyn Scorer>,
    pub(crate) value_type: ValueType,
}

/// The registry and the scorers made from it, shared by every function of
/// a session.
pub(crate) struct Scorers {
    registry: Arc<Registry>,
    made: Mutex<HashMap<(String, String), Arc<Made>>>,
}

impl std::fmt::Debug for Scorers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorers").finish_non_exhaustive()
    }
}

/// The texts a scorer's kind is learned from, in order: most scorers give
/// a value for the first; one that wants a number or JSON, for the others.
const PROBES: [&str; 3] = ["verdict", "1", "{}"];

impl Scorers {
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        Scorers {
            registry,
            made: Mutex::new(HashMap::new()),
        }
    }

    /// The scorer `name` with `config` (JSON text of an object, or
    /// nothing), made the first time it is asked for. `call` is how the
    /// query called it, for the messages.
    pub(crate) fn get(&self, name: &str, config: Option<&str>, call: &str) -> Result<Arc<Made>> {
        let config = parse_config(config, call)?;
        let key = (name.to_owned(), Json::Object(config.clone()).to_string());
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = made.get(&key) {
            return Ok(Arc::clone(found));
        }
        // Refused before its config is read: no config makes it score rows.
        if self
            .registry
            .scorers()
            .iter()
            .any(|info| info.name == name && info.needs_trace)
        {
            return plan_err!(
                "{call}: the scorer {name} reads each record's trace, which a row of a table \
                 does not carry; score traces with `verdict eval --traces`"
            );
        }
        let spec = ScorerSpec {
            target: SpecTarget::Name(name.to_owned()),
            config,
        };
        let scorer = self
            .registry
            .create(&spec)
            .map_err(|e| plan_datafusion_err!("{call}: {e}"))?;
        let value_type = probe(scorer.as_ref());
        let found = Arc::new(Made { scorer, value_type });
        made.insert(key, Arc::clone(&found));
        Ok(found)
    }
}

/// The config argument: a JSON object, with the keys `verdict eval
/// --scorer name:{json}` takes.
fn parse_config(config: Option<&str>, call: &str) -> Result<Map<String, Json>> {
    let Some(text) = config else {
        return Ok(Map::new());
    };
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(other) => plan_err!(
            "{call}: the config must be a JSON object such as '{{\"key\": 1}}', not {other}"
        ),
        Err(e) => plan_err!("{call}: the config is not valid JSON: {e}"),
    }
}

/// The config argument as planned: a literal string, or nothing.
pub(crate) fn literal_text<'a>(
    value: Option<&'a ScalarValue>,
    what: &str,
    call: &str,
) -> Result<&'a str> {
    match value {
        Some(
            ScalarValue::Utf8(Some(text))
            | ScalarValue::LargeUtf8(Some(text))
            | ScalarValue::Utf8View(Some(text)),
        ) => Ok(text),
        _ => plan_err!("{call}: the {what} must be a literal string"),
    }
}

/// The type of a scorer's value, learned by scoring [`PROBES`] (each as
/// both output and expected) and taking the kind of the first value: a
/// scorer's kind is known only per record (nothing in a plugin declares
/// it), and every scorer this project ships gives one kind whatever the
/// record. A scorer that fails on every probe is typed VARCHAR, which
/// holds any value as text.
fn probe(scorer: &dyn Scorer) -> ValueType {
    for text in PROBES {
        let named = [NamedValue::new(EXPECTED, Value::string(text))];
        let record = Record::new(Value::NULL, Value::string(text), &named);
        let mut out = Results::with_capacity(1);
        scorer.score_batch(std::slice::from_ref(&record), &mut out);
        match out.get(0).and_then(|r| r.value()) {
            Some(ScoreValueRef::Bool(_)) => return ValueType::Bool,
            Some(ScoreValueRef::Number(_)) => return ValueType::Number,
            Some(ScoreValueRef::Label(_)) => return ValueType::Label,
            None => {}
        }
    }
    ValueType::Label
}
