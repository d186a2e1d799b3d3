//! The [`Scorer`](crate::Scorer) methods that scorers of one kind write
//! the same way, written once: invoked inside an `impl Scorer` block,
//! each macro supplies `BATCHED` (and `NEEDS_TRACE`) and the scoring
//! methods, all routed through one method of the scorer's own.
//!
//! The decision: **macros inside the impl, not a second trait with a
//! blanket `impl Scorer`**. A blanket impl would have to repeat the
//! scorer's name, version, description, config keys and `from_config`
//! in a trait of its own, and a scorer could no longer override any
//! other method; a macro leaves the impl the scorer's, with every other
//! item written out where a reader looks for it.

/// Inside `impl Scorer`: scores each record with
/// `self.$method(record, &mut scratch)`, where `scratch` (of type
/// `$scratch`, made with [`Default`]) is made once per batch and reused
/// from one record to the next, and once per record in `score`. Sets
/// `BATCHED`.
///
/// ```
/// use verdict_plugin::{Config, ConfigError, Outcome, Record, Score, Scorer};
///
/// /// The number of distinct words of the output.
/// struct Distinct;
///
/// impl Scorer for Distinct {
///     const NAME: &'static str = "distinct";
///     const VERSION: &'static str = "1.0.0";
///     const DESCRIPTION: &'static str = "The number of distinct words of the output.";
///
///     fn from_config(_: &Config) -> Result<Self, ConfigError> {
///         Ok(Distinct)
///     }
///
///     verdict_plugin::score_with_scratch!(Vec<String>, count);
/// }
///
/// impl Distinct {
///     fn count(&self, record: &Record<'_>, seen: &mut Vec<String>) -> Outcome {
///         seen.clear();
///         for word in record.outputs.text().split_whitespace() {
///             if !seen.iter().any(|s| s == word) {
///                 seen.push(word.to_owned());
///             }
///         }
///         Ok(Score::number(seen.len() as f64))
///     }
/// }
///
/// let record = Record::new(verdict_plugin::Value::NULL, verdict_plugin::Value::string("a b a"), &[]);
/// assert_eq!(Distinct.score(&record).unwrap(), Score::number(2.0));
/// ```
#[macro_export]
macro_rules! score_with_scratch {
    ($scratch:ty, $method:ident) => {
        const BATCHED: bool = true;

        fn score(&self, record: &$crate::Record<'_>) -> $crate::Outcome {
            self.$method(
                record,
                &mut <$scratch as ::core::default::Default>::default(),
            )
        }

        fn score_batch(
            &self,
            records: &[$crate::Record<'_>],
            out: &mut ::std::vec::Vec<$crate::Outcome>,
        ) {
            let mut scratch = <$scratch as ::core::default::Default>::default();
            out.extend(records.iter().map(|r| self.$method(r, &mut scratch)));
        }
    };
}

/// Inside `impl Scorer`: a scorer that judges each record's trace alone,
/// never the record, with `self.$judge(trace)` (`trace` an
/// `Option<&Trace>`, `None` when the record has none, which the judge
/// answers with [`ScoreError::missing_trace`](crate::ScoreError::missing_trace)).
/// Sets `NEEDS_TRACE` and `BATCHED`; `score` judges no trace, and the
/// batch path reads only the traces.
///
/// ```
/// use verdict_plugin::{Config, ConfigError, Outcome, Score, ScoreError, Scorer, Trace};
///
/// /// Passes when no span of the trace failed.
/// struct NoErrors;
///
/// impl Scorer for NoErrors {
///     const NAME: &'static str = "no_errors";
///     const VERSION: &'static str = "1.0.0";
///     const DESCRIPTION: &'static str = "Passes when no span of the trace failed.";
///
///     fn from_config(_: &Config) -> Result<Self, ConfigError> {
///         Ok(NoErrors)
///     }
///
///     verdict_plugin::judge_trace_only!(judge);
/// }
///
/// impl NoErrors {
///     fn judge(&self, trace: Option<&Trace<'_>>) -> Outcome {
///         let trace = trace.ok_or_else(|| ScoreError::missing_trace(Self::NAME))?;
///         Ok(Score::bool(!trace.spans().iter().any(|s| s.is_error())))
///     }
/// }
///
/// assert!(NoErrors::NEEDS_TRACE);
/// ```
#[macro_export]
macro_rules! judge_trace_only {
    ($judge:ident) => {
        const NEEDS_TRACE: bool = true;
        const BATCHED: bool = true;

        fn score(&self, record: &$crate::Record<'_>) -> $crate::Outcome {
            self.score_traced(record, ::core::option::Option::None)
        }

        fn score_traced(
            &self,
            _: &$crate::Record<'_>,
            trace: ::core::option::Option<&$crate::Trace<'_>>,
        ) -> $crate::Outcome {
            self.$judge(trace)
        }

        /// The batch path: the records are not read, only their traces.
        fn score_batch_traced(
            &self,
            _: &[$crate::Record<'_>],
            traces: &[::core::option::Option<&$crate::Trace<'_>>],
            out: &mut ::std::vec::Vec<$crate::Outcome>,
        ) {
            out.extend(traces.iter().map(|t| self.$judge(*t)));
        }
    };
}

/// Inside `impl Scorer`, for a scorer that writes its rationale into the
/// call's buffer ([`Scorer::score_writing_rationale`](crate::Scorer::score_writing_rationale)):
/// `score` runs that method with a buffer of its own and gives the score
/// the text written there when it has no rationale of its own
/// ([`Score::or_rationale`](crate::Score::or_rationale)), so that both
/// paths give the same outcome.
///
/// ```
/// use std::fmt::Write;
/// use verdict_plugin::{Config, ConfigError, Outcome, Record, Score, Scorer, Value};
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
///     verdict_plugin::score_by_writing_rationale!();
///
///     fn score_writing_rationale(&self, record: &Record<'_>, rationale: &mut String) -> Outcome {
///         let n = record.outputs.text().len();
///         let _ = write!(rationale, "{n} bytes");
///         Ok(Score::number(n as f64))
///     }
/// }
///
/// let record = Record::new(Value::NULL, Value::string("Paris"), &[]);
/// assert_eq!(Bytes.score(&record).unwrap().rationale.as_deref(), Some("5 bytes"));
/// ```
#[macro_export]
macro_rules! score_by_writing_rationale {
    () => {
        fn score(&self, record: &$crate::Record<'_>) -> $crate::Outcome {
            let mut rationale = ::std::string::String::new();
            let outcome = self.score_writing_rationale(record, &mut rationale);
            outcome.map(|score| score.or_rationale(rationale))
        }
    };
}
