//! Gates in MLflow's language: the `quality_criteria` of MLflow 3.18's
//! `mlflow.genai.evaluate`, such as
//! ``correctness >= 0.9 AND `latency/p90` <= 2``, read as MLflow reads it.
//!
//! The grammar (MLflow's, `mlflow/genai/evaluation/quality_criteria.py`):
//!
//! ```text
//! criteria   := condition ( AND condition )*       AND in any case, with
//!                                                  whitespace on both sides
//! condition  := metric comparator number
//! metric     := `…` | "…" | [A-Za-z_][letters, digits, _, .]*
//! comparator := >= | <=                            (=, !=, >, < are refused)
//! number     := [+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?
//! ```
//!
//! A metric is a scorer's name, which checks its mean, or
//! `` `name/aggregation` `` in backticks (names with `/` or spaces need them),
//! where the aggregation is one of MLflow's `min`, `max`, `mean`, `median`,
//! `variance`, `p90`, or one of Verdict's own statistics: `pass_rate`,
//! `p50` (the median) and `errors` (how many records the scorer could not
//! score). A name that is a scorer's whole name is that scorer, `/` and all.
//! `OR` and parentheses are not part of the language: every condition must
//! hold. One condition per metric.
//!
//! Three choices differ from MLflow, all so that a gate never passes by
//! accident: an empty expression is refused (MLflow reads it as no
//! criteria, so an unset variable in `--gate "$GATE"` would drop the gate
//! unseen); a metric the run could not measure (a scorer that gave only
//! errors or labels) fails its condition (MLflow marks the run
//! incomplete); and a condition on a statistic of a scorer's values
//! (`mean`, `median`, `p90`, `min`, `max`, `variance`, which leave out the
//! records it could not score, as MLflow's do) fails when it had errors,
//! unless a condition of the run bounds that scorer's `errors`, which
//! says how many are acceptable (MLflow passes a mean of 1 over one
//! record and 99 errors).
//!
//! Past 4,096 distinct values of a scorer, its values are counted to three
//! significant digits so that memory stays flat: `median`, `p50` and `p90`
//! are then known within an interval, and a condition on one holds only
//! when the whole interval is on its side.
//!
//! Errors say where (the character, counted from 1) and what was expected.

use std::fmt;

/// MLflow's aggregations, then Verdict's own statistics.
const AGGREGATIONS: [&str; 9] = [
    "min",
    "max",
    "mean",
    "median",
    "variance",
    "p90",
    "pass_rate",
    "p50",
    "errors",
];

/// An example for messages, MLflow's own.
const EXAMPLE: &str = "correctness >= 0.9 AND `latency/p90` <= 2";

/// How many characters of the rest of an expression a message quotes.
const QUOTED: usize = 24;

/// Which side of the threshold passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// `>=`: the statistic must be at least the threshold.
    AtLeast,
    /// `<=`: the statistic must be at most the threshold.
    AtMost,
}

impl Bound {
    /// The bound as a gate shows it.
    pub fn symbol(self) -> &'static str {
        match self {
            Bound::AtLeast => "≥",
            Bound::AtMost => "≤",
        }
    }
}

/// One condition of a gate, as written: a metric, a bound and a number.
/// Which scorer and statistic the metric names is known once the run's
/// scorers are: an [`Evaluation`](crate::Evaluation) checks it when it is
/// made.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The metric as written, without its backticks or quotes.
    pub metric: String,
    /// `>=` or `<=`.
    pub bound: Bound,
    /// The threshold.
    pub threshold: f64,
    /// The threshold as written, for messages (`0.9`, `1e-3`).
    pub threshold_text: String,
    /// Where the condition was given (`--gate`, a `verdict.toml`), for
    /// messages.
    pub source: String,
}

/// The condition in the language, as `parse` reads it back: the metric in
/// backticks unless it is a bare name (`` `edit_distance/p50` >= 0.8 ``).
impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bare = self
            .metric
            .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && self
                .metric
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
        let comparison = match self.bound {
            Bound::AtLeast => ">=",
            Bound::AtMost => "<=",
        };
        if bare {
            write!(f, "{} {comparison} {}", self.metric, self.threshold_text)
        } else {
            let quote = if self.metric.contains('`') { '"' } else { '`' };
            write!(
                f,
                "{quote}{}{quote} {comparison} {}",
                self.metric, self.threshold_text
            )
        }
    }
}

/// A statistic of one scorer's results that a condition checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statistic {
    /// The mean of its values as numbers (bools as 1/0), errors left out.
    Mean,
    /// The median of those values (`median`, `p50`).
    Median,
    /// Their 90th percentile, interpolated as numpy (and MLflow) does.
    P90,
    /// The smallest.
    Min,
    /// The largest.
    Max,
    /// Their population variance (numpy's `var`).
    Variance,
    /// The share of its records that passed its criterion.
    PassRate,
    /// How many records it could not score, invalid ones included.
    Errors,
}

impl Statistic {
    /// Every statistic, MLflow's aggregations first.
    pub const ALL: [Statistic; 8] = [
        Statistic::Min,
        Statistic::Max,
        Statistic::Mean,
        Statistic::Median,
        Statistic::Variance,
        Statistic::P90,
        Statistic::PassRate,
        Statistic::Errors,
    ];

    /// Its value in a scorer's statistics, if the run could measure it (a
    /// quantile past 4,096 distinct values is the middle of the interval
    /// it is known to lie in).
    pub fn of(self, s: &crate::ScorerStats) -> Option<f64> {
        match self {
            Statistic::Mean => s.mean,
            Statistic::Median => s.p50,
            Statistic::P90 => s.p90,
            Statistic::Min => s.min,
            Statistic::Max => s.max,
            Statistic::Variance => s.variance,
            Statistic::PassRate => s.pass_rate(),
            Statistic::Errors => Some(s.errors as f64),
        }
    }

    /// MLflow's metric key for it of `scorer`: `scorer/aggregation`.
    pub fn key(self, scorer: &str) -> String {
        format!("{scorer}/{}", self.name())
    }

    fn named(aggregation: &str) -> Option<Statistic> {
        Some(match aggregation {
            "mean" => Statistic::Mean,
            "median" | "p50" => Statistic::Median,
            "p90" => Statistic::P90,
            "min" => Statistic::Min,
            "max" => Statistic::Max,
            "variance" => Statistic::Variance,
            "pass_rate" => Statistic::PassRate,
            "errors" => Statistic::Errors,
            _ => return None,
        })
    }

    /// Its name in a metric key, as MLflow names its metrics.
    pub fn name(self) -> &'static str {
        match self {
            Statistic::Mean => "mean",
            Statistic::Median => "median",
            Statistic::P90 => "p90",
            Statistic::Min => "min",
            Statistic::Max => "max",
            Statistic::Variance => "variance",
            Statistic::PassRate => "pass_rate",
            Statistic::Errors => "errors",
        }
    }
}

/// A condition whose metric names one scorer of the run and a statistic.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Resolved {
    pub(crate) condition: Condition,
    pub(crate) scorer: String,
    pub(crate) statistic: Statistic,
}

impl Resolved {
    /// MLflow's metric key: `scorer/aggregation`.
    pub(crate) fn key(&self) -> String {
        self.statistic.key(&self.scorer)
    }
}

/// Why an expression cannot be read: where, and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CriteriaError {
    /// The character the problem starts at, counted from 1.
    pub at: usize,
    /// What was expected there, or what is wrong.
    pub expected: String,
    /// What was found there: a quote of the rest, or "the end".
    pub found: String,
}

impl fmt::Display for CriteriaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at character {}: expected {}, found {} (write conditions joined by AND, such as {})",
            self.at, self.expected, self.found, EXAMPLE
        )
    }
}

impl std::error::Error for CriteriaError {}

/// Reads an expression in MLflow's `quality_criteria` language into its
/// conditions. `source` says where it was given, for later messages.
///
/// ```
/// use verdict_eval::criteria::{Bound, parse};
///
/// let conditions = parse("correctness >= 0.9 AND `latency/p90` <= 2", "--gate")?;
/// assert_eq!(conditions[1].metric, "latency/p90");
/// assert_eq!((conditions[1].bound, conditions[1].threshold), (Bound::AtMost, 2.0));
/// let err = parse("correctness >= 0.9 OR x <= 2", "--gate").unwrap_err();
/// assert_eq!(err.at, 20);
/// # Ok::<(), verdict_eval::criteria::CriteriaError>(())
/// ```
pub fn parse(text: &str, source: &str) -> Result<Vec<Condition>, CriteriaError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        at: 0,
    };
    p.skip_space();
    if p.at == p.chars.len() {
        return Err(p.error(
            "a condition (an empty gate checks nothing, and is refused rather than read as none)",
        ));
    }
    let mut conditions = Vec::new();
    loop {
        conditions.push(p.condition(source)?);
        let spaced = p.skip_space();
        if p.at == p.chars.len() {
            return Ok(conditions);
        }
        if !spaced {
            return Err(p.error("a space, then AND or the end of the gate"));
        }
        if p.keyword("AND") {
            p.skip_space();
            continue;
        }
        let or = p.at;
        if p.keyword("OR") {
            return Err(p.error_at(
                or,
                "AND: OR is not part of the language (every condition must hold, as in MLflow)",
            ));
        }
        return Err(p.error("AND or the end of the gate"));
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    /// Skips whitespace; whether there was any.
    fn skip_space(&mut self) -> bool {
        let start = self.at;
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
        self.at > start
    }

    /// Consumes `word` (any case) when a space follows it.
    fn keyword(&mut self, word: &str) -> bool {
        let n = word.chars().count();
        let matches = self
            .chars
            .get(self.at..self.at + n)
            .is_some_and(|w| w.iter().collect::<String>().eq_ignore_ascii_case(word));
        if matches
            && self
                .chars
                .get(self.at + n)
                .is_some_and(|c| c.is_whitespace())
        {
            self.at += n;
            return true;
        }
        false
    }

    fn error_at(&self, at: usize, expected: impl Into<String>) -> CriteriaError {
        let rest: String = self.chars[at.min(self.chars.len())..].iter().collect();
        let found = if rest.is_empty() {
            "the end".to_owned()
        } else if rest.chars().count() > QUOTED {
            format!("{:?}", rest.chars().take(QUOTED).collect::<String>() + "…")
        } else {
            format!("{rest:?}")
        };
        CriteriaError {
            at: at + 1,
            expected: expected.into(),
            found,
        }
    }

    fn error(&self, expected: impl Into<String>) -> CriteriaError {
        self.error_at(self.at, expected)
    }

    fn condition(&mut self, source: &str) -> Result<Condition, CriteriaError> {
        let metric = self.metric()?;
        self.skip_space();
        let bound = self.comparator()?;
        self.skip_space();
        let (threshold, threshold_text) = self.number()?;
        Ok(Condition {
            metric,
            bound,
            threshold,
            threshold_text,
            source: source.to_owned(),
        })
    }

    fn metric(&mut self) -> Result<String, CriteriaError> {
        let start = self.at;
        match self.peek() {
            Some(quote @ ('`' | '"')) => {
                self.at += 1;
                let from = self.at;
                while self.peek().is_some_and(|c| c != quote) {
                    self.at += 1;
                }
                if self.peek().is_none() {
                    return Err(self.error_at(
                        start,
                        format!("a metric name closed by {quote} (none closes this one)"),
                    ));
                }
                let name: String = self.chars[from..self.at].iter().collect();
                self.at += 1;
                if name.is_empty() {
                    return Err(self.error_at(start, "a metric name between the quotes"));
                }
                Ok(name)
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                while self
                    .peek()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
                {
                    self.at += 1;
                }
                Ok(self.chars[start..self.at].iter().collect())
            }
            _ => Err(self.error("a metric: a scorer's name, or `name/aggregation` in backticks")),
        }
    }

    fn comparator(&mut self) -> Result<Bound, CriteriaError> {
        let start = self.at;
        let two: String = self.chars[self.at..].iter().take(2).collect();
        let (bound, len) = match two.as_str() {
            ">=" => (Some(Bound::AtLeast), 2),
            "<=" => (Some(Bound::AtMost), 2),
            "!=" => (None, 2),
            _ => match self.peek() {
                Some('=' | '>' | '<') => (None, 1),
                Some('/') => {
                    return Err(self.error(
                        "a comparison, >= or <= (a name with / is written in backticks: \
                         `scorer/aggregation`)",
                    ));
                }
                _ => return Err(self.error("a comparison, >= or <=")),
            },
        };
        match bound {
            Some(bound) => {
                self.at += len;
                Ok(bound)
            }
            None => Err(self.error_at(start, "a comparison: only >= and <= are supported")),
        }
    }

    fn number(&mut self) -> Result<(f64, String), CriteriaError> {
        let start = self.at;
        let digits = |p: &mut Parser| {
            let from = p.at;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.at += 1;
            }
            p.at - from
        };
        if matches!(self.peek(), Some('+' | '-')) {
            self.at += 1;
        }
        let whole = digits(self);
        let mut fraction = 0;
        if self.peek() == Some('.') {
            self.at += 1;
            fraction = digits(self);
        }
        if whole == 0 && fraction == 0 {
            self.at = start;
            return Err(self.error("a number"));
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let before = self.at;
            self.at += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                // Not an exponent: the number ends before the `e`.
                self.at = before;
            }
        }
        let text: String = self.chars[start..self.at].iter().collect();
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok((if n == 0.0 { 0.0 } else { n }, text)),
            _ => Err(self.error_at(start, "a finite number")),
        }
    }
}

impl Condition {
    /// Which scorer of `scorers` and which statistic the metric names, as
    /// MLflow decides: the whole name when it is a scorer's, else
    /// `scorer/aggregation`.
    pub(crate) fn resolve(&self, scorers: &[String]) -> Result<Resolved, String> {
        let is_scorer = |name: &str| scorers.iter().any(|s| s == name);
        let found = if is_scorer(&self.metric) {
            Some((self.metric.clone(), Statistic::Mean))
        } else {
            self.metric
                .rsplit_once('/')
                .filter(|(scorer, _)| is_scorer(scorer))
                .and_then(|(scorer, aggregation)| {
                    Statistic::named(aggregation).map(|s| (scorer.to_owned(), s))
                })
        };
        match found {
            Some((scorer, statistic)) => Ok(Resolved {
                condition: self.clone(),
                scorer,
                statistic,
            }),
            None => Err(format!(
                "{}: the condition on {:?} names no scorer of this run (scorers: {}): write a \
                 scorer's name to check its mean, or `name/aggregation` in backticks, where the \
                 aggregation is one of {}",
                self.source,
                self.metric,
                if scorers.is_empty() {
                    "none".to_owned()
                } else {
                    scorers.join(", ")
                },
                AGGREGATIONS.join(", ")
            )),
        }
    }
}

/// Resolves every condition against the run's scorers. One condition per
/// metric (`exact_match` and `` `exact_match/mean` `` are the same one):
/// two from the same place are refused, as MLflow refuses them; one given
/// with `--gate` replaces one of `verdict.toml`'s, as `--fail-under`
/// replaces `fail_under`.
pub(crate) fn resolve_all(
    conditions: &[Condition],
    scorers: &[String],
) -> Result<Vec<Resolved>, String> {
    let mut resolved: Vec<Resolved> = Vec::new();
    for condition in conditions {
        let r = condition.resolve(scorers)?;
        match resolved.iter_mut().find(|o| o.key() == r.key()) {
            Some(other) if other.condition.source == r.condition.source => {
                return Err(format!(
                    "{}: more than one condition on {}: set one condition per metric",
                    r.condition.source,
                    r.key()
                ));
            }
            Some(other) => *other = r,
            None => resolved.push(r),
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Vec<(String, Bound, f64)> {
        parse(text, "--gate")
            .unwrap_or_else(|e| panic!("{text:?}: {e}"))
            .into_iter()
            .map(|c| (c.metric, c.bound, c.threshold))
            .collect()
    }

    fn err(text: &str) -> CriteriaError {
        parse(text, "--gate").expect_err(text)
    }

    #[test]
    fn mlflow_examples_read_as_mlflow_reads_them() {
        assert_eq!(
            ok("correctness >= 0.9 AND `latency/p90` <= 2"),
            [
                ("correctness".into(), Bound::AtLeast, 0.9),
                ("latency/p90".into(), Bound::AtMost, 2.0)
            ]
        );
        // Any case of AND, any whitespace, quotes, signs and exponents.
        assert_eq!(
            ok("\ta>=1\nand \"b c\"<=-.5e1   AnD\u{3000}_x.y >= +3E-2 "),
            [
                ("a".into(), Bound::AtLeast, 1.0),
                ("b c".into(), Bound::AtMost, -5.0),
                ("_x.y".into(), Bound::AtLeast, 0.03)
            ]
        );
        assert_eq!(ok("x >= 1."), [("x".into(), Bound::AtLeast, 1.0)]);
        // A name may hold letters of any script after its first.
        assert_eq!(ok("qualité >= 1")[0].0, "qualité");
        // -0 is 0.
        assert_eq!(ok("x <= -0")[0].2.to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn errors_say_where_and_what_was_expected() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "a condition"),
            ("   ", 4, "a condition"),
            ("correctness", 12, "a comparison, >= or <="),
            ("correctness >= ", 16, "a number"),
            ("correctness > 0.9", 13, "only >= and <= are supported"),
            ("correctness = 0.9", 13, "only >= and <= are supported"),
            ("correctness != 0.9", 13, "only >= and <= are supported"),
            ("correctness >= 0.9 OR x <= 2", 20, "OR is not part"),
            ("correctness >= 0.9 AND", 20, "AND or the end"),
            ("correctness >= 0.9 AND ", 24, "a metric"),
            ("correctness >= 0.9AND x <= 1", 19, "a space"),
            ("correctness >= 0.9 x <= 1", 20, "AND or the end"),
            ("(correctness >= 0.9)", 1, "a metric"),
            ("1abc >= 2", 1, "a metric"),
            ("latency/p90 <= 2", 8, "written in backticks"),
            ("`latency/p90 <= 2", 1, "closed by `"),
            ("`` >= 1", 1, "between the quotes"),
            ("x >= 1e999", 6, "a finite number"),
            ("x >= nan", 6, "a number"),
            ("x >= inf", 6, "a number"),
            ("x >= 1e", 7, "a space"),
            ("x >= .", 6, "a number"),
            ("x >= ٣", 6, "a number"),
        ];
        for (text, at, expected) in cases {
            let e = err(text);
            assert_eq!(e.at, *at, "{text:?}: {e}");
            assert!(e.to_string().contains(expected), "{text:?}: {e}");
        }
        assert_eq!(err("x").found, "the end");
    }

    #[test]
    fn hostile_text_is_quoted_short_and_escaped() {
        // A NUL, an escape sequence, a huge expression: the message quotes
        // a bounded excerpt, Debug-escaped.
        let e = err("x >= 1 AND \u{0}\u{1b}[2J >= 1");
        assert_eq!(e.at, 12);
        assert!(e.found.starts_with("\"\\0\\u{1b}[2J"), "{}", e.found);
        let huge = format!("x >= 1 AND {}", "y".repeat(1_000_000));
        let e = err(&huge);
        assert!(e.to_string().len() < 400, "{}", e.to_string().len());
        // A hundred thousand conditions are read, in linear time.
        let many = vec!["x >= 1"; 100_000].join(" AND ");
        assert_eq!(parse(&many, "--gate").unwrap().len(), 100_000);
    }

    #[test]
    fn a_condition_is_written_back_as_it_is_read() {
        let text = "exact_match >= 0.9 AND `edit_distance/p50` <= 2 AND \"odd`name\" >= 1e-3";
        let conditions = parse(text, "--gate").unwrap();
        let written: Vec<String> = conditions.iter().map(ToString::to_string).collect();
        assert_eq!(written.join(" AND "), text);
        assert_eq!(parse(&written.join(" AND "), "--gate").unwrap(), conditions);
    }

    #[test]
    fn metrics_resolve_as_mlflow_resolves_them() {
        let scorers = ["exact_match".to_owned(), "odd/name".to_owned()];
        let key = |text: &str| -> Result<String, String> {
            let c = &parse(text, "--gate").unwrap()[0];
            c.resolve(&scorers).map(|r| r.key())
        };
        assert_eq!(key("exact_match >= 1").unwrap(), "exact_match/mean");
        assert_eq!(key("`exact_match/p90` >= 1").unwrap(), "exact_match/p90");
        assert_eq!(key("`exact_match/p50` >= 1").unwrap(), "exact_match/median");
        assert_eq!(
            key("`exact_match/pass_rate` >= 1").unwrap(),
            "exact_match/pass_rate"
        );
        // A scorer's whole name wins over a split at its '/'.
        assert_eq!(key("`odd/name` >= 1").unwrap(), "odd/name/mean");
        assert_eq!(key("`odd/name/max` >= 1").unwrap(), "odd/name/max");
        let e = key("`exact_match/p99` >= 1").unwrap_err();
        assert!(e.contains("names no scorer") && e.contains("p90"), "{e}");
        assert!(
            key("token_f1 >= 1")
                .unwrap_err()
                .contains("exact_match, odd/name")
        );

        // One condition per metric; --gate replaces verdict.toml's.
        let mut both = parse(
            "exact_match >= 0.5 AND `exact_match/p90` >= 1",
            "verdict.toml",
        )
        .unwrap();
        let again = parse("`exact_match/mean` >= 0.9", "verdict.toml").unwrap();
        let twice = [both.clone(), again].concat();
        assert!(
            resolve_all(&twice, &scorers)
                .unwrap_err()
                .contains("one condition per metric")
        );
        both.extend(parse("`exact_match/mean` >= 0.9", "--gate").unwrap());
        let resolved = resolve_all(&both, &scorers).unwrap();
        assert_eq!(resolved.len(), 2);
        assert_eq!(resolved[0].condition.threshold, 0.9);
    }
}
