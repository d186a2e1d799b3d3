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
