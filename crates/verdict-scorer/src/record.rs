//! Records the host owns, and the borrowed views scorers read.

use serde_json::Value as Json;
use verdict_plugin::{NamedValue, Record, Value};

/// One value of a record, owned: nothing, a string, or other JSON as text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OwnedValue {
    /// No value.
    #[default]
    Null,
    /// A string.
    String(String),
    /// Another JSON value (number, bool, list, object), as JSON text.
    Json(String),
}

impl OwnedValue {
    /// The borrowed view scorers read.
    pub fn view(&self) -> Value<'_> {
        match self {
            OwnedValue::Null => Value::NULL,
            OwnedValue::String(s) => Value::string(s),
            OwnedValue::Json(text) => Value::json(text),
        }
    }
}

impl From<Json> for OwnedValue {
    fn from(value: Json) -> Self {
        match value {
            Json::Null => OwnedValue::Null,
            Json::String(s) => OwnedValue::String(s),
            other => OwnedValue::Json(other.to_string()),
        }
    }
}

impl From<&str> for OwnedValue {
    fn from(value: &str) -> Self {
        OwnedValue::String(value.to_owned())
    }
}

impl From<String> for OwnedValue {
    fn from(value: String) -> Self {
        OwnedValue::String(value)
    }
}

/// One record to score, owned: inputs, outputs and named expectations.
///
/// ```
/// use verdict_scorer::OwnedRecord;
///
/// let record = OwnedRecord::new("What is the capital of France?", "Paris")
///     .with_expectation("expected_response", "Paris");
/// assert_eq!(record.expectations.len(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedRecord {
    /// What the system was given.
    pub inputs: OwnedValue,
    /// What it answered.
    pub outputs: OwnedValue,
    /// Named ground truths.
    pub expectations: Vec<(String, OwnedValue)>,
}

impl OwnedRecord {
    /// A record with inputs and outputs and no expectations.
    pub fn new(inputs: impl Into<OwnedValue>, outputs: impl Into<OwnedValue>) -> Self {
        OwnedRecord {
            inputs: inputs.into(),
            outputs: outputs.into(),
            expectations: Vec::new(),
        }
    }

    /// Adds an expectation.
    pub fn with_expectation(
        mut self,
        name: impl Into<String>,
        value: impl Into<OwnedValue>,
    ) -> Self {
        self.expectations.push((name.into(), value.into()));
        self
    }
}

/// The expectations of `records`, all in one array, in order: the first
/// half of laying out borrowed views of many records at once (see
/// [`record_views`]). Nothing is copied.
pub fn expectation_views(records: &[OwnedRecord]) -> Vec<NamedValue<'_>> {
    records
        .iter()
        .flat_map(|record| {
            record
                .expectations
                .iter()
                .map(|(name, value)| NamedValue::new(name, value.view()))
        })
        .collect()
}

/// Borrowed views of `records`, each pointing at its expectations in
/// `named`, which [`expectation_views`] made from the same records.
pub fn record_views<'a>(
    records: &'a [OwnedRecord],
    named: &'a [NamedValue<'a>],
) -> Vec<Record<'a>> {
    let mut start = 0;
    records
        .iter()
        .map(|record| {
            let end = start + record.expectations.len();
            let view = Record::new(
                record.inputs.view(),
                record.outputs.view(),
                &named[start..end],
            );
            start = end;
            view
        })
        .collect()
}
