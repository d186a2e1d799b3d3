//! The values an assessment carries: feedback values, expectation values and
//! the error of a failed evaluation.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The value of a feedback: a judgment of an output.
///
/// Numbers must be finite. Lists and objects hold any JSON.
///
/// ```
/// use verdict::FeedbackValue;
///
/// assert_eq!(FeedbackValue::from(true), FeedbackValue::Bool(true));
/// assert_eq!(FeedbackValue::from(3), FeedbackValue::Number(3.0));
/// assert_eq!(FeedbackValue::from("good"), FeedbackValue::String("good".into()));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum FeedbackValue {
    /// Pass or fail, yes or no.
    Bool(bool),
    /// A score. MLflow stores every number as a double.
    Number(f64),
    /// A label such as `"relevant"`.
    String(String),
    /// A list of JSON values.
    List(Vec<Value>),
    /// A JSON object.
    Object(Map<String, Value>),
}

impl FeedbackValue {
    /// Converts a JSON value; `null` is refused, since a feedback without a
    /// value is written by leaving the value out.
    pub fn from_json(value: Value) -> Result<Self> {
        Ok(match value {
            Value::Null => {
                return Err(Error::InvalidValue {
                    field: "feedback value".into(),
                    reason: "null is not a value; record an error instead when the \
                             evaluation failed"
                        .into(),
                });
            }
            Value::Bool(b) => FeedbackValue::Bool(b),
            // serde_json numbers are always finite.
            Value::Number(n) => FeedbackValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => FeedbackValue::String(s),
            Value::Array(items) => FeedbackValue::List(items),
            Value::Object(map) => FeedbackValue::Object(map),
        })
    }

    /// The value as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            FeedbackValue::Bool(b) => Value::Bool(*b),
            FeedbackValue::Number(n) => serde_json::Number::from_f64(*n)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            FeedbackValue::String(s) => Value::String(s.clone()),
            FeedbackValue::List(items) => Value::Array(items.clone()),
            FeedbackValue::Object(map) => Value::Object(map.clone()),
        }
    }

    /// The value as a number where it has one: numbers as they are, bools
    /// as 1 and 0. Used by aggregations and by the OpenTelemetry event's
    /// `gen_ai.evaluation.score.value`.
    pub fn as_score(&self) -> Option<f64> {
        match self {
            FeedbackValue::Bool(b) => Some(f64::from(u8::from(*b))),
            FeedbackValue::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The value as a label where it has one: strings as they are, bools
    /// as `pass` and `fail`. Used by the OpenTelemetry event's
    /// `gen_ai.evaluation.score.label` and by annotations' labels.
    ///
    /// ```
    /// use verdict::FeedbackValue;
    ///
    /// assert_eq!(FeedbackValue::from(false).as_label(), Some("fail"));
    /// assert_eq!(FeedbackValue::from("relevant").as_label(), Some("relevant"));
    /// assert_eq!(FeedbackValue::from(0.5).as_label(), None);
    /// ```
    pub fn as_label(&self) -> Option<&str> {
        match self {
            FeedbackValue::Bool(true) => Some("pass"),
            FeedbackValue::Bool(false) => Some("fail"),
            FeedbackValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn check(&self, name: &str) -> Result<()> {
        match self {
            FeedbackValue::Number(n) if !n.is_finite() => Err(Error::InvalidValue {
                field: format!("feedback {name:?}"),
                reason: format!("{n} is not a finite number; scores must be finite"),
            }),
            _ => Ok(()),
        }
    }
}

impl From<bool> for FeedbackValue {
    fn from(v: bool) -> Self {
        FeedbackValue::Bool(v)
    }
}

macro_rules! number_from {
    ($($t:ty),*) => {$(
        impl From<$t> for FeedbackValue {
            fn from(v: $t) -> Self {
                FeedbackValue::Number(v as f64)
            }
        }
    )*};
}
number_from!(f64, f32, i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl From<&str> for FeedbackValue {
    fn from(v: &str) -> Self {
        FeedbackValue::String(v.to_owned())
    }
}

impl From<String> for FeedbackValue {
    fn from(v: String) -> Self {
        FeedbackValue::String(v)
    }
}

impl From<Vec<Value>> for FeedbackValue {
    fn from(v: Vec<Value>) -> Self {
        FeedbackValue::List(v)
    }
}

impl From<Map<String, Value>> for FeedbackValue {
    fn from(v: Map<String, Value>) -> Self {
        FeedbackValue::Object(v)
    }
}

/// Why an evaluation failed: a judge timed out, a scorer panicked.
///
/// A failure is an assessment too, recorded as a feedback with this error,
/// so that it is counted rather than lost.
///
/// ```
/// use verdict::AssessmentError;
///
/// let err = AssessmentError::new("TIMEOUT").with_message("judge took longer than 30 s");
/// assert_eq!(err.error_code, "TIMEOUT");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssessmentError {
    /// A short machine-readable code, such as `TIMEOUT` or `SCORER_PANIC`.
    pub error_code: String,
    /// What happened, for a person.
    pub error_message: Option<String>,
    /// Where it happened, when known.
    pub stack_trace: Option<String>,
}

impl AssessmentError {
    /// An error with a code and nothing else.
    pub fn new(error_code: impl Into<String>) -> Self {
        AssessmentError {
            error_code: error_code.into(),
            error_message: None,
            stack_trace: None,
        }
    }

    /// Adds a message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.error_message = Some(message.into());
        self
    }

    /// Adds a stack trace.
    pub fn with_stack_trace(mut self, stack_trace: impl Into<String>) -> Self {
        self.stack_trace = Some(stack_trace.into());
        self
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.error_code.is_empty() {
            return Err(Error::InvalidValue {
                field: "error_code".into(),
                reason: "an assessment error needs a non-empty code, such as TIMEOUT".into(),
            });
        }
        Ok(())
    }
}
