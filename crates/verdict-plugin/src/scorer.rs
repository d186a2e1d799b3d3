//! The authoring trait and what a scorer returns.

use std::borrow::Cow;
use std::fmt;

use crate::abi::ConfigKey;
use crate::config::{Config, ConfigError};
use crate::record::Record;
use crate::trace::Trace;

/// The value of a score: pass/fail, a number, or a label.
#[derive(Clone, Debug, PartialEq)]
pub enum ScoreValue {
    /// Pass or fail.
    Bool(bool),
    /// A number; it must be finite.
    Number(f64),
    /// A label, such as `"relevant"`.
    Label(Cow<'static, str>),
}

/// What a scorer says of one record: a value, optionally why, and, for a
/// number or a label, optionally whether it passes by the scorer's own
/// criterion.
///
/// A scorer configured with a threshold (`edit_distance:max_distance=2`)
/// reports the number it measured and its own verdict beside it; the host
/// uses that verdict as the value's pass/fail unless the suite gives a
/// criterion of its own. A bool is its own verdict.
///
/// ```
/// use verdict_plugin::{Score, ScoreValue};
///
/// let score = Score::bool(true).with_rationale("identical");
/// assert_eq!(score.value, ScoreValue::Bool(true));
/// let score = Score::number(1.0).with_passed(true).with_rationale("distance 1 ≤ max 2");
/// assert_eq!(score.passed, Some(true));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    /// The value.
    pub value: ScoreValue,
    /// Why, for a person.
    pub rationale: Option<Cow<'static, str>>,
    /// Whether a number or a label passes by the scorer's own criterion;
    /// `None` when it has none. Not kept with a bool, which is its own
    /// verdict.
    pub passed: Option<bool>,
}

impl Score {
    /// A pass/fail score.
    pub fn bool(pass: bool) -> Self {
        Score {
            value: ScoreValue::Bool(pass),
            rationale: None,
            passed: None,
        }
    }

    /// A numeric score.
    pub fn number(value: f64) -> Self {
        Score {
            value: ScoreValue::Number(value),
            rationale: None,
            passed: None,
        }
    }

    /// A label.
    pub fn label(label: impl Into<Cow<'static, str>>) -> Self {
        Score {
            value: ScoreValue::Label(label.into()),
            rationale: None,
            passed: None,
        }
    }

    /// Adds a rationale.
    pub fn with_rationale(mut self, rationale: impl Into<Cow<'static, str>>) -> Self {
        self.rationale = Some(rationale.into());
        self
    }

    /// Takes `text` as the rationale when the score has none and `text` is
    /// not empty: what the kit does with the text a scorer wrote in
    /// [`Scorer::score_writing_rationale`].
    ///
    /// ```
    /// use verdict_plugin::Score;
    ///
    /// assert_eq!(Score::bool(true).or_rationale("why".into()).rationale.as_deref(), Some("why"));
    /// assert_eq!(Score::bool(true).or_rationale(String::new()).rationale, None);
    /// let own = Score::bool(true).with_rationale("own").or_rationale("why".into());
    /// assert_eq!(own.rationale.as_deref(), Some("own"));
    /// ```
    pub fn or_rationale(mut self, text: String) -> Self {
        if self.rationale.is_none() && !text.is_empty() {
            self.rationale = Some(Cow::Owned(text));
        }
        self
    }

    /// Says whether a number or a label passes by the scorer's own
    /// criterion (ignored with a bool, which is its own verdict).
    pub fn with_passed(mut self, passed: bool) -> Self {
        self.passed = match self.value {
            ScoreValue::Bool(_) => None,
            _ => Some(passed),
        };
        self
    }
}

/// A record the scorer could not score: a missing expectation, an output
/// of the wrong shape. It becomes a feedback with an error, never a
/// silently skipped record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreError {
    /// A short code, such as `MISSING_EXPECTATION`.
    pub code: Cow<'static, str>,
    /// What went wrong, for a person.
    pub message: String,
}

impl ScoreError {
    /// An error with a code and a message.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ScoreError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The record has no trace, and the scorer reads traces: code
    /// [`MISSING_TRACE`](Self::MISSING_TRACE). Never a pass.
    pub fn missing_trace(scorer: &str) -> Self {
        ScoreError::new(
            Self::MISSING_TRACE,
            format!(
                "{scorer} scores traces and the record has none: give it a trace (an OTLP \
                 dataset, or a JSONL record with a \"trace\")"
            ),
        )
    }

    /// The code of [`missing_trace`](Self::missing_trace).
    pub const MISSING_TRACE: &'static str = "MISSING_TRACE";

    /// The record has no expectation named `name`.
    pub fn missing_expectation(name: &str) -> Self {
        ScoreError::new(
            "MISSING_EXPECTATION",
            format!("the record has no expectation named {name:?}"),
        )
    }
}

impl fmt::Display for ScoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ScoreError {}

/// The result of scoring one record.
pub type Outcome = Result<Score, ScoreError>;

/// A heuristic CODE scorer.
///
/// A scorer is built once from its config and then scores records,
/// possibly from several threads at once (hence `Sync`). Turn a type that
/// implements it into a plugin with [`export_plugin!`](crate::export_plugin).
///
/// ```
/// use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Record, Score, Scorer};
///
/// /// Passes when the output is not empty.
/// struct NonEmpty { trim: bool }
///
/// impl Scorer for NonEmpty {
///     const NAME: &'static str = "non_empty";
///     const VERSION: &'static str = "1.0.0";
///     const DESCRIPTION: &'static str = "Passes when the output is not empty.";
///     const CONFIG_KEYS: &'static [ConfigKey] =
///         &[ConfigKey::new("trim", "bool", "true", "ignore surrounding whitespace")];
///
///     fn from_config(config: &Config) -> Result<Self, ConfigError> {
///         Ok(NonEmpty { trim: config.bool("trim")?.unwrap_or(true) })
///     }
///
///     fn score(&self, record: &Record<'_>) -> Outcome {
///         let text = record.outputs.text();
///         let text = if self.trim { text.trim() } else { text };
///         Ok(Score::bool(!text.is_empty()))
///     }
/// }
///
/// verdict_plugin::export_plugin!(NonEmpty);
/// ```
pub trait Scorer: Send + Sync + Sized + 'static {
    /// The scorer's name: what feedback it produces is named after it.
    const NAME: &'static str;
    /// Its version, recorded with every feedback.
    const VERSION: &'static str;
    /// One sentence on what it scores.
    const DESCRIPTION: &'static str;
    /// The config keys it reads. Keys not listed here are refused.
    const CONFIG_KEYS: &'static [ConfigKey] = &[];

    /// Builds the scorer from its config. An invalid config is an error
    /// that names the key and says why.
    fn from_config(config: &Config) -> Result<Self, ConfigError>;

    /// Scores one record.
    fn score(&self, record: &Record<'_>) -> Outcome;

    /// Scores one record as [`score`](Self::score) does, but may write the
    /// rationale into `rationale` (empty when called) instead of the
    /// score: a score returned without a rationale takes the text written
    /// there, if any ([`Score::or_rationale`]); a score with a rationale of
    /// its own, and an error, leave it unread. The kit's entry points call
    /// this one with one buffer for a whole call, so that a rationale
    /// built for every record costs no allocation; override it (and have
    /// `score` call it, as [`score_by_writing_rationale!`](crate::score_by_writing_rationale)
    /// writes it) when yours is. The default calls `score`.
    ///
    /// ```
    /// use std::fmt::Write;
    /// use verdict_plugin::{Config, ConfigError, Outcome, Record, Score, Scorer};
    ///
    /// /// The length of the output, in bytes.
    /// struct Bytes;
    ///
    /// impl Scorer for Bytes {
    ///     const NAME: &'static str = "bytes";
    ///     const VERSION: &'static str = "1.0.0";
    ///     const DESCRIPTION: &'static str = "The length of the output, in bytes.";
    ///
    ///     fn from_config(_: &Config) -> Result<Self, ConfigError> {
    ///         Ok(Bytes)
    ///     }
    ///
    ///     fn score(&self, record: &Record<'_>) -> Outcome {
    ///         let mut rationale = String::new();
    ///         let outcome = self.score_writing_rationale(record, &mut rationale);
    ///         outcome.map(|score| score.or_rationale(rationale))
    ///     }
    ///
    ///     fn score_writing_rationale(&self, record: &Record<'_>, rationale: &mut String) -> Outcome {
    ///         let n = record.outputs.text().len();
    ///         let _ = write!(rationale, "{n} bytes");
    ///         Ok(Score::number(n as f64))
    ///     }
    /// }
    ///
    /// let record = Record::new(verdict_plugin::Value::NULL, verdict_plugin::Value::string("Paris"), &[]);
    /// let score = Bytes.score(&record).unwrap();
    /// assert_eq!(score.rationale.as_deref(), Some("5 bytes"));
    /// ```
    fn score_writing_rationale(&self, record: &Record<'_>, rationale: &mut String) -> Outcome {
        let _ = rationale;
        self.score(record)
    }

    /// Scores one record of which only the value is read: whatever
    /// rationale it gets is dropped unread (a SQL function returns the
    /// value alone). Override it when the rationale costs a share of the
    /// scoring worth saving; the outcome must be
    /// [`score_writing_rationale`](Self::score_writing_rationale)'s but for
    /// its rationale. The default calls that method, with `scratch` as the
    /// buffer.
    fn score_value(&self, record: &Record<'_>, scratch: &mut String) -> Outcome {
        self.score_writing_rationale(record, scratch)
    }

    /// Whether [`score_batch`](Self::score_batch) is overridden. When it
    /// is not, the plugin's batch entry scores record by record and writes
    /// each result straight to the host, skipping the list of outcomes in
    /// between; set it to `true` when you override `score_batch`.
    const BATCHED: bool = false;

    /// Scores many records, one outcome each, in order. The default scores
    /// them one by one; override it (and set [`BATCHED`](Self::BATCHED))
    /// when a batch can be scored faster.
    fn score_batch(&self, records: &[Record<'_>], out: &mut Vec<Outcome>) {
        out.extend(records.iter().map(|r| self.score(r)));
    }

    /// Whether the scorer reads the trace of each record. When it does,
    /// the host hands it each record's trace (and only then builds trace
    /// views), and calls [`score_traced`](Self::score_traced) and
    /// [`score_batch_traced`](Self::score_batch_traced) instead of
    /// [`score`](Self::score) and [`score_batch`](Self::score_batch).
    /// Its plugin needs a host of ABI version 2 or later.
    ///
    /// ```
    /// use verdict_plugin::{Config, ConfigError, Outcome, Record, Score, ScoreError, Scorer, Trace};
    ///
    /// /// Passes when no span of the trace failed.
    /// struct NoErrors;
    ///
    /// impl Scorer for NoErrors {
    ///     const NAME: &'static str = "no_errors";
    ///     const VERSION: &'static str = "1.0.0";
    ///     const DESCRIPTION: &'static str = "Passes when no span of the trace failed.";
    ///     const NEEDS_TRACE: bool = true;
    ///
    ///     fn from_config(_: &Config) -> Result<Self, ConfigError> {
    ///         Ok(NoErrors)
    ///     }
    ///
    ///     fn score(&self, record: &Record<'_>) -> Outcome {
    ///         self.score_traced(record, None)
    ///     }
    ///
    ///     fn score_traced(&self, _: &Record<'_>, trace: Option<&Trace<'_>>) -> Outcome {
    ///         let trace = trace.ok_or_else(|| ScoreError::missing_trace(Self::NAME))?;
    ///         Ok(Score::bool(!trace.spans().iter().any(|s| s.is_error())))
    ///     }
    /// }
    ///
    /// verdict_plugin::export_plugin!(NoErrors);
    /// ```
    const NEEDS_TRACE: bool = false;

    /// Scores one record with its trace (`None` when it has none: a trace
    /// scorer then answers [`ScoreError::missing_trace`], never a pass).
    /// Called only when [`NEEDS_TRACE`](Self::NEEDS_TRACE); the default
    /// ignores the trace.
    fn score_traced(&self, record: &Record<'_>, trace: Option<&Trace<'_>>) -> Outcome {
        let _ = trace;
        self.score(record)
    }

    /// Scores many records with their traces, one outcome each, in order,
    /// like [`score_batch`](Self::score_batch); `traces` is as long as
    /// `records`. The default scores them one by one.
    fn score_batch_traced(
        &self,
        records: &[Record<'_>],
        traces: &[Option<&Trace<'_>>],
        out: &mut Vec<Outcome>,
    ) {
        out.extend(
            records
                .iter()
                .zip(traces)
                .map(|(r, t)| self.score_traced(r, *t)),
        );
    }

    /// Builds the scorer from config JSON text (an object, or empty for
    /// the defaults).
    fn from_json(config: &str) -> Result<Self, ConfigError> {
        Self::from_config(&Config::parse(Self::NAME, config, Self::CONFIG_KEYS)?)
    }
}
