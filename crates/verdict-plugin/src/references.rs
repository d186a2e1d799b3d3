//! The references a text scorer compares the output with.

use std::borrow::Cow;

use crate::record::Record;
use crate::scorer::ScoreError;

impl<'a> Record<'a> {
    /// The texts of the expectation `name`, for scorers that compare the
    /// output with one reference or with each of a list: a JSON list gives
    /// its items ([`Value::list_texts`](crate::Value::list_texts)), anything
    /// else its text. A record without it (or with a `null` one) is an
    /// error, `MISSING_EXPECTATION`; an empty list, `EMPTY_EXPECTATION`.
    ///
    /// ```
    /// use verdict_plugin::{NamedValue, Record, Value};
    ///
    /// let named = [NamedValue::new("expected_response", Value::json(r#"["Paris", 42]"#))];
    /// let record = Record::new(Value::NULL, Value::string("Paris"), &named);
    /// assert_eq!(record.references("expected_response").unwrap(), ["Paris", "42"]);
    /// assert_eq!(record.references("other").unwrap_err().code, "MISSING_EXPECTATION");
    /// ```
    pub fn references(&self, name: &str) -> Result<Vec<Cow<'a, str>>, ScoreError> {
        let expected = self
            .expectation(name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| ScoreError::missing_expectation(name))?;
        let texts = expected.texts();
        if texts.is_empty() {
            return Err(ScoreError::new(
                "EMPTY_EXPECTATION",
                format!("the expectation {name:?} is an empty list"),
            ));
        }
        Ok(texts)
    }
}
