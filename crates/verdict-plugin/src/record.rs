//! What a scorer reads: one record of `inputs`, `outputs` and named
//! `expectations`, as MLflow's scorers receive them.
//!
//! These types are `#[repr(C)]` and are the very bytes that cross the
//! plugin boundary: the host lays records out once, and a plugin reads them
//! in place, with no copy and no parsing unless it asks for JSON.

use std::borrow::Cow;
use std::marker::PhantomData;

use crate::abi::{Str, VALUE_JSON, VALUE_NULL, VALUE_STRING};

/// One value of a record: nothing, a string, or other JSON.
///
/// Strings, by far the most common case, are passed as they are; other
/// values (numbers, bools, lists, objects) as JSON text, parsed only by the
/// scorers that need them.
///
/// ```
/// use verdict_plugin::Value;
///
/// assert_eq!(Value::string("Paris").as_str(), Some("Paris"));
/// assert_eq!(Value::json("[1, 2]").text(), "[1, 2]");
/// assert!(Value::NULL.is_null());
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Value<'a> {
    kind: u32,
    text: Str<'a>,
}

impl<'a> Value<'a> {
    /// No value.
    pub const NULL: Value<'static> = Value {
        kind: VALUE_NULL,
        text: Str::new(""),
    };

    /// A string.
    pub const fn string(text: &'a str) -> Self {
        Value {
            kind: VALUE_STRING,
            text: Str::new(text),
        }
    }

    /// Any other JSON value, as its JSON text.
    pub const fn json(text: &'a str) -> Self {
        Value {
            kind: VALUE_JSON,
            text: Str::new(text),
        }
    }

    /// Whether there is no value.
    pub fn is_null(&self) -> bool {
        self.kind == VALUE_NULL
    }

    /// The string, if the value is one.
    pub fn as_str(&self) -> Option<&'a str> {
        (self.kind == VALUE_STRING).then(|| self.text.as_str())
    }

    /// The text to compare: a string as it is, other JSON as its text,
    /// nothing as `""`.
    pub fn text(&self) -> &'a str {
        match self.kind {
            VALUE_STRING | VALUE_JSON => self.text.as_str(),
            _ => "",
        }
    }

    /// The value as a number: JSON number text, or a string that reads as
    /// one (attributes carried as text). `None` otherwise, and for a
    /// number that is not finite.
    ///
    /// ```
    /// use verdict_plugin::Value;
    ///
    /// assert_eq!(Value::json("42").as_f64(), Some(42.0));
    /// assert_eq!(Value::string(" 0.5").as_f64(), Some(0.5));
    /// assert_eq!(Value::json("true").as_f64(), None);
    /// assert_eq!(Value::string("NaN").as_f64(), None);
    /// ```
    pub fn as_f64(&self) -> Option<f64> {
        match self.kind {
            VALUE_STRING | VALUE_JSON => self.text.as_str().trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|n| n.is_finite())
    }

    /// The value as JSON. Text that does not parse becomes a JSON string.
    pub fn to_json(&self) -> serde_json::Value {
        match self.kind {
            VALUE_STRING => serde_json::Value::String(self.text.as_str().to_owned()),
            VALUE_JSON => serde_json::from_str(self.text.as_str())
                .unwrap_or_else(|_| serde_json::Value::String(self.text.as_str().to_owned())),
            _ => serde_json::Value::Null,
        }
    }

    /// The strings this value holds: a string gives itself, a JSON list
    /// gives its string items (others in their JSON text), anything else
    /// its text. For scorers that compare against "one expectation or any
    /// of a list".
    ///
    /// ```
    /// use verdict_plugin::Value;
    ///
    /// assert_eq!(Value::json(r#"["a", 1]"#).texts(), ["a", "1"]);
    /// assert_eq!(Value::string("[1]").texts(), ["[1]"]);
    /// assert_eq!(Value::json("42").texts(), ["42"]);
    /// ```
    pub fn texts(&self) -> Vec<Cow<'a, str>> {
        self.list_texts()
            .unwrap_or_else(|| vec![Cow::Borrowed(self.text())])
    }

    /// The items of a JSON list, as texts (a string item as itself, any
    /// other item as its JSON text), or `None` when the value is not a
    /// list: a string (even one that looks like a list), other JSON, or
    /// nothing. For scorers that treat a list expectation apart from a
    /// single one; JSON is parsed only when the text starts with `[`.
    ///
    /// ```
    /// use verdict_plugin::Value;
    ///
    /// let list = Value::json(r#"["Paris", "City of Light", 42, null]"#);
    /// assert_eq!(list.list_texts().unwrap(), ["Paris", "City of Light", "42", "null"]);
    /// assert_eq!(Value::json("[]").list_texts().unwrap(), Vec::<String>::new());
    /// assert_eq!(Value::string("[1, 2]").list_texts(), None);
    /// assert_eq!(Value::json(r#"{"a": [1]}"#).list_texts(), None);
    /// assert_eq!(Value::json("[1,").list_texts(), None);
    /// assert_eq!(Value::NULL.list_texts(), None);
    /// ```
    pub fn list_texts(&self) -> Option<Vec<Cow<'a, str>>> {
        let text = self.text.as_str();
        if self.kind != VALUE_JSON || !text.trim_start().starts_with('[') {
            return None;
        }
        match serde_json::from_str(text) {
            Ok(serde_json::Value::Array(items)) => Some(
                items
                    .into_iter()
                    .map(|item| match item {
                        serde_json::Value::String(s) => Cow::Owned(s),
                        other => Cow::Owned(other.to_string()),
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            VALUE_STRING => write!(f, "String({:?})", self.text.as_str()),
            VALUE_JSON => write!(f, "Json({})", self.text.as_str()),
            _ => f.write_str("Null"),
        }
    }
}

/// A named value: one expectation.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NamedValue<'a> {
    /// The expectation's name, such as `expected_response`.
    pub name: Str<'a>,
    /// Its value.
    pub value: Value<'a>,
}

impl<'a> NamedValue<'a> {
    /// Names a value.
    pub const fn new(name: &'a str, value: Value<'a>) -> Self {
        NamedValue {
            name: Str::new(name),
            value,
        }
    }
}

/// One record to score.
///
/// ```
/// use verdict_plugin::{NamedValue, Record, Value};
///
/// let expectations = [NamedValue::new("expected_response", Value::string("Paris"))];
/// let record = Record::new(Value::NULL, Value::string("Paris"), &expectations);
/// assert_eq!(record.expectation("expected_response").and_then(|v| v.as_str()), Some("Paris"));
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Record<'a> {
    /// What the system under test was given.
    pub inputs: Value<'a>,
    /// What it answered.
    pub outputs: Value<'a>,
    expectations: *const NamedValue<'a>,
    n_expectations: usize,
    _borrow: PhantomData<&'a [NamedValue<'a>]>,
}

// SAFETY: a `Record` is a bundle of shared borrows.
unsafe impl Send for Record<'_> {}
// SAFETY: as above.
unsafe impl Sync for Record<'_> {}

impl<'a> Record<'a> {
    /// A record of inputs, outputs and expectations.
    pub fn new(inputs: Value<'a>, outputs: Value<'a>, expectations: &'a [NamedValue<'a>]) -> Self {
        Record {
            inputs,
            outputs,
            expectations: expectations.as_ptr(),
            n_expectations: expectations.len(),
            _borrow: PhantomData,
        }
    }

    /// Every expectation, in order.
    pub fn expectations(&self) -> &'a [NamedValue<'a>] {
        if self.n_expectations == 0 {
            return &[];
        }
        // SAFETY: made by `new` from a slice borrowed for 'a, or handed over
        // by the host with a pointer valid for `n_expectations` entries.
        unsafe { std::slice::from_raw_parts(self.expectations, self.n_expectations) }
    }

    /// The expectation named `name`.
    pub fn expectation(&self, name: &str) -> Option<Value<'a>> {
        self.expectations()
            .iter()
            .find(|e| e.name.as_str() == name)
            .map(|e| e.value)
    }
}

impl std::fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("expectations", &self.expectations())
            .finish()
    }
}
