//! The scalar functions: `name(output, expected[, config])` for each
//! scorer, and `assess(name, output, expected[, config])`, which says
//! everything a scorer said of each row.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Float64Builder, StringBuilder, StructArray, new_null_array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use verdict_plugin::{Results, ScoreRef, ScoreValueRef};

use crate::records::{Texts, expectations, records, scored_rows};
use crate::scorers::{Made, Scorers, ValueType, literal_text};

/// What a function returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Returns {
    /// The scorer's value (NULL when it failed).
    Value,
    /// A struct of value, number, passed, rationale and error.
    Assessment,
}

/// A scorer as a SQL function.
#[derive(Debug)]
pub(crate) struct ScorerFunction {
    /// The function's name in SQL.
    name: String,
    /// The scorer it calls; `None` for `assess`, which names it in its
    /// first argument.
    scorer: Option<String>,
    returns: Returns,
    scorers: Arc<Scorers>,
    signature: Signature,
}

impl PartialEq for ScorerFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.scorer == other.scorer
            && self.returns == other.returns
            && Arc::ptr_eq(&self.scorers, &other.scorers)
    }
}

impl Eq for ScorerFunction {}

impl Hash for ScorerFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.scorer.hash(state);
        self.returns.hash(state);
    }
}

/// The name of `assess`.
pub const ASSESS: &str = "assess";

impl ScorerFunction {
    /// `sql_name(output, expected[, config])`, scoring with `scorer`.
    pub(crate) fn value(sql_name: &str, scorer: &str, scorers: Arc<Scorers>) -> Self {
        ScorerFunction {
            name: sql_name.to_owned(),
            scorer: Some(scorer.to_owned()),
            returns: Returns::Value,
            scorers,
            // Arguments are checked where the scorer is made, so that a
            // wrong call is refused with the scorer's signature.
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    /// `assess(name, output, expected[, config])`.
    pub(crate) fn assess(scorers: Arc<Scorers>) -> Self {
        ScorerFunction {
            name: ASSESS.to_owned(),
            scorer: None,
            returns: Returns::Assessment,
            scorers,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    /// How the function is called, for messages.
    fn usage(&self) -> String {
        match &self.scorer {
            Some(_) => format!("{}(output, expected[, config])", self.name),
            None => format!("{ASSESS}(scorer, output, expected[, config])"),
        }
    }

    /// The number of arguments before output and expected.
    fn leading(&self) -> usize {
        usize::from(self.scorer.is_none())
    }

    /// The scorer and config a call names, made (or found) in the
    /// session's scorers; `args` are the call's literal arguments.
    fn made(&self, args: &[Option<&datafusion::common::ScalarValue>]) -> Result<Arc<Made>> {
        let usage = self.usage();
        let name = match &self.scorer {
            Some(name) => name.as_str(),
            None => literal_text(args.first().copied().flatten(), "scorer name", &usage)?,
        };
        let call = format!("{name} (called as {usage})");
        let config = match args.get(self.leading() + 2) {
            Some(value) => Some(literal_text(*value, "config", &call)?),
            None => None,
        };
        self.scorers.get(name, config, &call)
    }

    /// Refuses a call with the wrong number of arguments, or output and
    /// expected that are not text.
    fn check_arguments(&self, fields: &[FieldRef]) -> Result<()> {
        let leading = self.leading();
        let usage = self.usage();
        if fields.len() != leading + 2 && fields.len() != leading + 3 {
            return plan_err!(
                "{usage} takes {} or {} arguments, not {}",
                leading + 2,
                leading + 3,
                fields.len()
            );
        }
        for (field, what) in fields[leading..leading + 2]
            .iter()
            .zip(["output", "expected"])
        {
            if !is_text(field.data_type()) {
                let hint = if matches!(
                    field.data_type(),
                    DataType::Binary
                        | DataType::LargeBinary
                        | DataType::BinaryView
                        | DataType::FixedSizeBinary(_)
                ) {
                    "; bytes are not text: CAST(column AS VARCHAR) turns UTF-8 bytes into text"
                } else {
                    "; CAST(column AS VARCHAR) scores its text"
                };
                return plan_err!(
                    "{usage}: the {what} must be text (VARCHAR), not {}{hint}",
                    field.data_type()
                );
            }
        }
        Ok(())
    }
}

/// Whether scorers read this type as text: strings in any layout, and the
/// NULL literal.
fn is_text(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => true,
        DataType::Dictionary(_, values) => is_text(values),
        _ => false,
    }
}

/// The fields of `assess`'s struct: an assessment as MLflow shapes a
/// feedback (value as JSON, rationale, error), with the value also as a
/// number and the verdict beside it.
pub fn assessment_fields() -> Fields {
    Fields::from(vec![
        Field::new("value", DataType::Utf8, true),
        Field::new("number", DataType::Float64, true),
        Field::new("passed", DataType::Boolean, true),
        Field::new("rationale", DataType::Utf8, true),
        Field::new("error_code", DataType::Utf8, true),
        Field::new("error_message", DataType::Utf8, true),
    ])
}

impl ScalarUDFImpl for ScorerFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        datafusion::common::internal_err!("{} is typed by return_field_from_args", self.name)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.check_arguments(args.arg_fields)?;
        let made = self.made(args.scalar_arguments)?;
        let data_type = match self.returns {
            Returns::Value => made.value_type.data_type(),
            Returns::Assessment => DataType::Struct(assessment_fields()),
        };
        Ok(Arc::new(Field::new(&self.name, data_type, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let literals: Vec<Option<&datafusion::common::ScalarValue>> = args
            .args
            .iter()
            .map(|arg| match arg {
                ColumnarValue::Scalar(value) => Some(value),
                ColumnarValue::Array(_) => None,
            })
            .collect();
        let made = self.made(&literals)?;
        let leading = self.leading();
        let arrays = ColumnarValue::values_to_arrays(&args.args[leading..leading + 2])?;
        let rows = arrays[0].len();
        let column = score(&made, &arrays[0], &arrays[1], rows, self.returns)?;
        Ok(ColumnarValue::Array(column))
    }
}

/// Strings in a layout [`Texts`] reads: a dictionary or the NULL literal
/// is cast (copied) to plain strings first.
fn as_text(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Arc::clone(array),
        _ => cast(array, &DataType::Utf8)?,
    })
}

/// Records per call of a scorer: what `verdict eval`'s runner hands it,
/// so that an isolated plugin's time limit covers the same work, and a
/// crash costs at most these rows.
const CHUNK: usize = 256;

/// Scores the rows of one batch whose output and expected are both
/// non-null, through the scorer's batch path ([`CHUNK`] records a call),
/// and lays out the column: NULL where either argument is.
fn score(
    made: &Made,
    outputs: &ArrayRef,
    expected: &ArrayRef,
    rows: usize,
    returns: Returns,
) -> Result<ArrayRef> {
    let (outputs, expected) = (as_text(outputs)?, as_text(expected)?);
    let (outputs, expected) = (Texts::of(&outputs)?, Texts::of(&expected)?);
    let scored = scored_rows(&outputs, &expected, rows);
    let mut results = Results::with_capacity(scored.len());
    if !scored.is_empty() {
        let named = expectations(&scored);
        let views = records(&scored, &named);
        for chunk in views.chunks(CHUNK) {
            match returns {
                // The rationale is not read: a scorer may leave it out.
                Returns::Value => made.scorer.score_batch_values(chunk, &mut results),
                Returns::Assessment => made.scorer.score_batch(chunk, &mut results),
            }
        }
    }
    // One result per record is the scorer's contract, and `Scorer`
    // implementations turn any shortfall into error results.
    let mut at = vec![None; rows];
    for (k, &(row, _, _)) in scored.iter().enumerate() {
        at[row] = results.get(k);
    }
    Ok(match returns {
        Returns::Value => values(made.value_type, &at),
        Returns::Assessment => assessments(&at),
    })
}

/// The value column: a result of another kind than the column's is
/// converted where nothing is lost (a bool as 1 or 0 in DOUBLE, any
/// value as its text in VARCHAR), and NULL otherwise, as an error is.
fn values(value_type: ValueType, at: &[Option<ScoreRef<'_>>]) -> ArrayRef {
    fn value<'a>(r: &Option<ScoreRef<'a>>) -> Option<ScoreValueRef<'a>> {
        r.as_ref().and_then(ScoreRef::value)
    }
    match value_type {
        ValueType::Bool => {
            let mut b = BooleanBuilder::with_capacity(at.len());
            for r in at {
                b.append_option(match value(r) {
                    Some(ScoreValueRef::Bool(v)) => Some(v),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        ValueType::Number => {
            let mut b = Float64Builder::with_capacity(at.len());
            for r in at {
                b.append_option(r.as_ref().and_then(ScoreRef::number));
            }
            Arc::new(b.finish())
        }
        ValueType::Label => {
            let mut b = StringBuilder::with_capacity(at.len(), 8 * at.len());
            for r in at {
                match value(r) {
                    Some(ScoreValueRef::Label(l)) => b.append_value(l),
                    Some(ScoreValueRef::Bool(v)) => {
                        b.append_value(if v { "true" } else { "false" })
                    }
                    Some(ScoreValueRef::Number(n)) => b.append_value(n.to_string()),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
    }
}

/// The value as MLflow's feedback JSON holds it.
fn value_json(value: ScoreValueRef<'_>) -> String {
    match value {
        ScoreValueRef::Bool(v) => v.to_string(),
        ScoreValueRef::Number(n) => serde_json::Value::from(n).to_string(),
        ScoreValueRef::Label(l) => serde_json::Value::from(l).to_string(),
    }
}

/// `assess`'s struct column: NULL where a row was not scored.
fn assessments(at: &[Option<ScoreRef<'_>>]) -> ArrayRef {
    let n = at.len();
    let mut value = StringBuilder::with_capacity(n, 8 * n);
    let mut number = Float64Builder::with_capacity(n);
    let mut passed = BooleanBuilder::with_capacity(n);
    let mut rationale = StringBuilder::with_capacity(n, 0);
    let mut code = StringBuilder::with_capacity(n, 0);
    let mut message = StringBuilder::with_capacity(n, 0);
    for r in at {
        let v = r.as_ref().and_then(ScoreRef::value);
        value.append_option(v.map(value_json));
        number.append_option(r.as_ref().and_then(ScoreRef::number));
        passed.append_option(match v {
            Some(ScoreValueRef::Bool(b)) => Some(b),
            _ => r.as_ref().and_then(ScoreRef::passed),
        });
        rationale.append_option(r.as_ref().and_then(ScoreRef::rationale));
        let error = r.as_ref().and_then(ScoreRef::error);
        code.append_option(error.map(|(c, _)| c));
        message.append_option(error.map(|(_, m)| m));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(value.finish()),
        Arc::new(number.finish()),
        Arc::new(passed.finish()),
        Arc::new(rationale.finish()),
        Arc::new(code.finish()),
        Arc::new(message.finish()),
    ];
    if n == 0 {
        return new_null_array(&DataType::Struct(assessment_fields()), 0);
    }
    let nulls = NullBuffer::from(at.iter().map(Option::is_some).collect::<Vec<bool>>());
    Arc::new(StructArray::new(assessment_fields(), columns, Some(nulls)))
}
