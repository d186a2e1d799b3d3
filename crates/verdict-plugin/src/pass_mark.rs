//! A pass mark on a score from 0 to 1, as the text-similarity scorers
//! (`rouge`, `bleu`, `similarity`) read it from their config.

use std::borrow::Cow;

use crate::config::{Config, ConfigError};
use crate::scorer::Score;

/// The pass mark of a scorer whose number runs from 0 to 1: a minimum
/// (config key `min_key`) and what the value is (config key `output`:
/// `score`, the number with the mark's verdict beside it, or `pass`, a
/// bool, which needs a minimum).
///
/// ```
/// use verdict_plugin::{Config, PassMark, ScoreValue};
///
/// let config = Config::parse("demo", r#"{"min_score": 0.5}"#, &[
///     verdict_plugin::ConfigKey::new("min_score", "number", "none", "the pass mark"),
///     verdict_plugin::ConfigKey::new("output", "score or pass", "score", "the value"),
/// ])?;
/// let mark = PassMark::from_config(&config, "min_score")?;
/// let score = mark.score(0.75, "overlap 0.75");
/// assert_eq!(score.value, ScoreValue::Number(0.75));
/// assert_eq!(score.passed, Some(true));
/// assert_eq!(score.rationale.as_deref(), Some("overlap 0.75; at least 0.5: pass"));
/// # Ok::<(), verdict_plugin::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PassMark {
    min: Option<f64>,
    bool_output: bool,
}

impl PassMark {
    /// Reads the minimum from `min_key` (a number from 0 to 1) and the
    /// value's form from `output`; `output: "pass"` without a minimum is
    /// refused.
    pub fn from_config(config: &Config, min_key: &str) -> Result<Self, ConfigError> {
        let min = config.f64_in(min_key, 0.0, 1.0)?;
        let bool_output = config.one_of("output", &["score", "pass"])? == Some("pass");
        if bool_output && min.is_none() {
            return Err(config.error(
                "output",
                format!("\"pass\" needs a pass mark: set {min_key}"),
            ));
        }
        Ok(PassMark { min, bool_output })
    }

    /// The minimum, if there is one.
    pub fn min(&self) -> Option<f64> {
        self.min
    }

    /// The score of `value`: the number (with the verdict beside it when
    /// there is a minimum) or, with `output: "pass"`, a bool. The verdict
    /// is added to `rationale`; without a minimum, `rationale` is kept as
    /// it is (static text costs nothing to pass on).
    pub fn score(&self, value: f64, rationale: impl Into<Cow<'static, str>>) -> Score {
        let Some(min) = self.min else {
            return Score::number(value).with_rationale(rationale);
        };
        let pass = value >= min;
        let rationale = if pass {
            format!("{}; at least {min}: pass", rationale.into())
        } else {
            format!("{}; below {min}: fail", rationale.into())
        };
        if self.bool_output {
            Score::bool(pass).with_rationale(rationale)
        } else {
            Score::number(value)
                .with_passed(pass)
                .with_rationale(rationale)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PassMark;
    use crate::{Config, ConfigKey, ScoreValue};

    const KEYS: &[ConfigKey] = &[
        ConfigKey::new("min", "number", "none", "the pass mark"),
        ConfigKey::new("output", "score or pass", "score", "the value"),
    ];

    fn mark(json: &str) -> Result<PassMark, String> {
        let config = Config::parse("demo", json, KEYS).map_err(|e| e.to_string())?;
        PassMark::from_config(&config, "min").map_err(|e| e.to_string())
    }

    #[test]
    fn without_a_minimum_the_number_alone() {
        let score = mark("{}").unwrap().score(0.25, "why");
        assert_eq!(score.value, ScoreValue::Number(0.25));
        assert_eq!(score.passed, None);
        assert_eq!(score.rationale.as_deref(), Some("why"));
    }

    #[test]
    fn a_minimum_passes_at_and_above_it() {
        let m = mark(r#"{"min": 0.5}"#).unwrap();
        assert_eq!(m.score(0.5, "").passed, Some(true));
        let below = m.score(0.49, "x");
        assert_eq!(below.passed, Some(false));
        assert_eq!(below.rationale.as_deref(), Some("x; below 0.5: fail"));
        let b = mark(r#"{"min": 0.5, "output": "pass"}"#).unwrap();
        assert_eq!(b.score(0.7, "").value, ScoreValue::Bool(true));
        assert_eq!(b.score(0.2, "").value, ScoreValue::Bool(false));
    }

    #[test]
    fn bad_marks_are_refused_by_key() {
        for (json, key) in [
            (r#"{"output": "pass"}"#, "`output`"),
            (r#"{"min": 1.5}"#, "`min`"),
            (r#"{"min": "0.5"}"#, "`min`"),
            (r#"{"output": "label"}"#, "`output`"),
        ] {
            let err = mark(json).unwrap_err();
            assert!(err.contains(key), "{json}: {err}");
        }
    }
}
