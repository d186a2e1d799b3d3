//! Arrow string arrays as the borrowed records scorers read: each row's
//! output and expected text are slices of the arrays' own buffers, never
//! copied.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringViewArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use verdict_plugin::{NamedValue, Record, Value};

/// The expectation a scorer's second argument becomes: what `verdict
/// eval` maps a dataset's `expected` column to.
pub(crate) const EXPECTED: &str = "expected_response";

/// One string column, whatever its Arrow layout.
pub(crate) enum Texts<'a> {
    Utf8(&'a StringArray),
    Large(&'a datafusion::arrow::array::LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Texts<'a> {
    /// The column, if it holds strings (the function's signature coerced
    /// every argument to one of these layouts).
    pub(crate) fn of(array: &'a ArrayRef) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Utf8 => Texts::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Texts::Large(array.as_string::<i64>()),
            DataType::Utf8View => Texts::View(array.as_string_view()),
            other => return exec_err!("a scorer's argument must be text, not {other}"),
        })
    }

    /// Row `i`, `None` when null.
    pub(crate) fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Texts::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Texts::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Texts::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// The rows of one batch that are scored: those whose output and expected
/// text are both non-null, as (row, output, expected).
pub(crate) fn scored_rows<'a>(
    outputs: &Texts<'a>,
    expected: &Texts<'a>,
    rows: usize,
) -> Vec<(usize, &'a str, &'a str)> {
    (0..rows)
        .filter_map(|i| Some((i, outputs.get(i)?, expected.get(i)?)))
        .collect()
}

/// The expectations of `rows`, one per row, in order: the first half of
/// laying the rows out as records ([`records`]).
pub(crate) fn expectations<'a>(rows: &[(usize, &'a str, &'a str)]) -> Vec<NamedValue<'a>> {
    rows.iter()
        .map(|&(_, _, expected)| NamedValue::new(EXPECTED, Value::string(expected)))
        .collect()
}

/// The records of `rows`, each pointing at its expectation in `named`.
pub(crate) fn records<'a>(
    rows: &[(usize, &'a str, &'a str)],
    named: &'a [NamedValue<'a>],
) -> Vec<Record<'a>> {
    rows.iter()
        .zip(named.chunks(1))
        .map(|(&(_, output, _), named)| Record::new(Value::NULL, Value::string(output), named))
        .collect()
}
