//! Pass criteria for one value, and the gates a run must pass.

use serde::{Deserialize, Serialize};

use crate::criteria::{Bound, Resolved, Statistic};
use crate::report::count;
use crate::scored::Said;
use crate::stats::{EXACT_VALUES, ScorerStats, format_number};

/// When a scorer's value for one record passes.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum PassCriterion {
    /// A bool passes when true; a number or a label passes when the scorer
    /// says it does, by its own criterion (`edit_distance:max_distance=2`
    /// reports a distance and whether it is within 2); other numbers and
    /// labels need a criterion.
    #[default]
    Default,
    /// A number (or a bool as 1/0) at or above this passes.
    AtLeast(f64),
    /// A number (or a bool as 1/0) at or below this passes.
    AtMost(f64),
    /// One of these labels passes (a bool passes as `"true"`).
    Labels(Vec<String>),
}

impl PassCriterion {
    /// Whether a value passes: `Some(false)` for an error, `None` when the
    /// criterion cannot judge this kind of value.
    pub(crate) fn judge(&self, said: &Said<'_>) -> Option<bool> {
        if said.error.is_some() {
            return Some(false);
        }
        match self {
            PassCriterion::Default => said.boolean.or(said.passed),
            PassCriterion::AtLeast(min) => said.number.map(|n| n >= *min),
            PassCriterion::AtMost(max) => said.number.map(|n| n <= *max),
            PassCriterion::Labels(labels) => {
                let label = match (said.label, said.boolean) {
                    (Some(label), _) => label,
                    (None, Some(true)) => "true",
                    (None, Some(false)) => "false",
                    (None, None) => return None,
                };
                Some(labels.iter().any(|l| l == label))
            }
        }
    }

    /// How bad a failing value is, for ranking the worst records (higher
    /// is worse; errors are worst). A value the default criterion fails
    /// (a false, or a scorer's own fail, whose number may be better high
    /// or low) is not ranked: failures are kept in dataset order.
    pub(crate) fn badness(&self, said: &Said<'_>) -> f64 {
        if said.error.is_some() {
            return f64::INFINITY;
        }
        match (self, said.number) {
            (PassCriterion::Default, _) => 0.0,
            (PassCriterion::AtMost(_), Some(n)) => n,
            (_, Some(n)) => -n,
            (_, None) => 0.0,
        }
    }

    /// The criterion in words, for reports.
    pub fn describe(&self) -> String {
        match self {
            PassCriterion::Default => "true passes".into(),
            PassCriterion::AtLeast(min) => format!("≥ {min} passes"),
            PassCriterion::AtMost(max) => format!("≤ {max} passes"),
            PassCriterion::Labels(labels) => format!("{} pass", labels.join(", ")),
        }
    }
}

/// One gate and whether the run passed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateVerdict {
    /// What the gate checks, such as `exact_match pass rate ≥ 0.80`.
    pub gate: String,
    /// What the run measured, in words.
    pub measured: String,
    /// Whether it passed.
    pub passed: bool,
    /// The scorers whose records it measures (one for a scorer's gate,
    /// every one for the weighted pass rate): where to look when it fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scorers: Vec<String>,
}

/// The scorers of a baseline run, each with its pass rate if it had one.
pub(crate) type BaselineRates<'a> = &'a [(String, Option<f64>)];

/// Checks every gate against a run's statistics.
pub(crate) fn check(
    stats: &[ScorerStats],
    weights: &[f64],
    fail_under: &[Option<f64>],
    conditions: &[Resolved],
    weighted_min: Option<f64>,
    baseline: Option<(&str, BaselineRates<'_>, f64)>,
) -> Vec<GateVerdict> {
    let mut verdicts = Vec::new();
    let rate = |r: Option<f64>| {
        r.map_or_else(
            || "no pass rate".to_owned(),
            |r| format!("{:.1} %", 100.0 * r),
        )
    };
    for (s, min) in stats.iter().zip(fail_under) {
        let Some(min) = min else { continue };
        let measured = match s.pass_rate() {
            Some(r) => format!("{:.1} % ({} of {})", 100.0 * r, s.passed, s.records),
            None if s.records == 0 => "no pass rate: the dataset has no records".to_owned(),
            None => format!(
                "no pass rate: its values are {} and it has no criterion for them — set \
                 threshold, max or pass_labels in verdict.toml",
                s.kinds()
            ),
        };
        verdicts.push(GateVerdict {
            gate: format!("{} pass rate ≥ {:.1} %", s.name, 100.0 * min),
            passed: s.pass_rate().is_some_and(|r| r + 1e-12 >= *min),
            measured,
            scorers: vec![s.name.clone()],
        });
    }
    for c in conditions {
        if let Some(s) = stats.iter().find(|s| s.name == c.scorer) {
            // The gate says how many errors are acceptable when it bounds
            // the scorer's `errors` too.
            let errors_gated = conditions
                .iter()
                .any(|o| o.scorer == c.scorer && o.statistic == Statistic::Errors);
            verdicts.push(condition(c, s, errors_gated));
        }
    }
    if let Some(min) = weighted_min {
        let weighted = weighted_pass_rate(stats, weights);
        verdicts.push(GateVerdict {
            gate: format!("weighted pass rate ≥ {:.1} %", 100.0 * min),
            passed: weighted.is_some_and(|r| r + 1e-12 >= min),
            measured: rate(weighted),
            scorers: stats.iter().map(|s| s.name.clone()).collect(),
        });
    }
    if let Some((run_id, rates, tolerance)) = baseline {
        // A scorer the baseline cannot judge is said to be left out, and a
        // baseline that judges none fails: asking for a comparison and
        // getting none must not pass silently.
        let mut compared = 0;
        for s in stats {
            let before = match rates.iter().find(|(name, _)| *name == s.name) {
                Some((_, Some(before))) => before,
                found => {
                    verdicts.push(GateVerdict {
                        gate: format!("{} pass rate against baseline {run_id}", s.name),
                        measured: if found.is_some() {
                            format!("not compared: {run_id} has no pass rate for {}", s.name)
                        } else {
                            format!("not compared: {run_id} did not run {}", s.name)
                        },
                        passed: true,
                        scorers: vec![s.name.clone()],
                    });
                    continue;
                }
            };
            compared += 1;
            let now = s.pass_rate();
            verdicts.push(GateVerdict {
                gate: format!(
                    "{} pass rate ≥ baseline {run_id} ({:.1} %) − {:.1} points",
                    s.name,
                    100.0 * before,
                    100.0 * tolerance
                ),
                passed: now.is_some_and(|r| r + tolerance + 1e-12 >= *before),
                measured: rate(now),
                scorers: vec![s.name.clone()],
            });
        }
        if compared == 0 {
            verdicts.push(GateVerdict {
                gate: format!("comparison with baseline {run_id}"),
                measured: format!(
                    "nothing compared: {run_id} has no pass rate for any scorer of this run ({})",
                    stats
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                passed: false,
                scorers: Vec::new(),
            });
        }
    }
    verdicts
}

/// The verdict of one condition in MLflow's language on `s`'s statistics.
/// A statistic the run could not measure fails: a gate that measured
/// nothing never passes. A statistic of the values (mean, median, p90,
/// min, max, variance) leaves out the records the scorer could not score,
/// as MLflow's do; unlike MLflow's, its condition then fails unless
/// `errors_gated` (another condition of the gate bounds the scorer's
/// errors): records left out must not pass by accident.
fn condition(c: &Resolved, s: &ScorerStats, errors_gated: bool) -> GateVerdict {
    let value = c.statistic.of(s);
    let of = match c.statistic {
        Statistic::PassRate | Statistic::Errors => s.records,
        _ => s.kinds[0] + s.kinds[1],
    };
    let threshold = c.condition.threshold;
    // Past a number of distinct values, quantiles are known to lie within
    // an interval, not exactly: the gate passes only when all of it does.
    let bounds = match c.statistic {
        Statistic::Median => s.p50_bounds,
        Statistic::P90 => s.p90_bounds,
        _ => None,
    };
    let measured = match (value, c.statistic) {
        (Some(v), Statistic::Errors) => format!("{v} of {}", s.records),
        (Some(v), Statistic::PassRate) => format!(
            "{} ({:.1} %, {} of {})",
            shown(v),
            100.0 * v,
            s.passed,
            s.records
        ),
        (Some(v), _) => {
            let mut m = format!("{} over {of} values", shown(v));
            if let Some((low, high)) = bounds {
                m = format!(
                    "between {} and {} over {of} values (past {EXACT_VALUES} distinct values, \
                     they are counted to 3 significant digits: the gate passes only when the \
                     whole interval is on its side)",
                    shown(low),
                    shown(high)
                );
            }
            if s.errors > 0 {
                // As MLflow leaves them out of its aggregations.
                m.push_str(&format!(", {} left out", count(s.errors, "error")));
                if !errors_gated {
                    m.push_str(&format!(
                        ": {} could not score {} of {} records, and a gate on {} fails over \
                         errors unless it says how many are acceptable (add AND `{}/errors` <= N)",
                        s.name,
                        s.errors,
                        s.records,
                        c.key(),
                        s.name
                    ));
                }
            }
            m
        }
        (None, Statistic::PassRate) if s.records > 0 => format!(
            "not measured: {}'s values are {} and it has no criterion for them",
            s.name,
            s.kinds()
        ),
        (None, _) if s.records == 0 => "not measured: the dataset has no records".to_owned(),
        (None, _) => format!("not measured: {} gave no numbers ({})", s.name, s.kinds()),
    };
    let leaves_errors_out = !matches!(c.statistic, Statistic::PassRate | Statistic::Errors);
    let errors_unsaid = leaves_errors_out && s.errors > 0 && !errors_gated;
    // The same margin for rounding as the other gates.
    let passed = !errors_unsaid
        && value.is_some_and(|v| {
            let (low, high) = bounds.unwrap_or((v, v));
            match c.condition.bound {
                Bound::AtLeast => low + 1e-12 >= threshold,
                Bound::AtMost => high - 1e-12 <= threshold,
            }
        });
    GateVerdict {
        gate: format!(
            "{} {} {}",
            c.key(),
            c.condition.bound.symbol(),
            c.condition.threshold_text
        ),
        measured,
        passed,
        scorers: vec![s.name.clone()],
    }
}

/// A statistic as a gate shows it: as reports show numbers, or in
/// scientific notation when that would round it to nothing.
fn shown(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:.3e}")
    } else {
        format_number(v)
    }
}

/// The weighted mean of the scorers' pass rates (scorers without one are
/// left out); `None` when no scorer has one or all weights are zero.
pub(crate) fn weighted_pass_rate(stats: &[ScorerStats], weights: &[f64]) -> Option<f64> {
    let (sum, total) = stats
        .iter()
        .zip(weights)
        .filter_map(|(s, w)| s.pass_rate().map(|r| (r * w, *w)))
        .fold((0.0, 0.0), |(a, b), (x, w)| (a + x, b + w));
    (total > 0.0).then(|| sum / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scorer's statistics: a mean of 1 over one value, and `errors`.
    fn scorer(name: &str, errors: u64) -> ScorerStats {
        ScorerStats {
            name: name.into(),
            criterion: String::new(),
            weight: 1.0,
            records: 1 + errors,
            passed: 1,
            judged: 1 + errors,
            errors,
            kinds: [1, 0, 0],
            mean: Some(1.0),
            p50: Some(1.0),
            p90: Some(1.0),
            p50_bounds: None,
            p90_bounds: None,
            min: Some(1.0),
            max: Some(1.0),
            variance: Some(0.0),
            distribution: vec![(1.0, 1)],
            worst: Vec::new(),
        }
    }

    fn verdicts(stats: &[ScorerStats], gate: &str) -> Vec<(String, bool)> {
        let names: Vec<String> = stats.iter().map(|s| s.name.clone()).collect();
        let conditions =
            crate::criteria::resolve_all(&crate::criteria::parse(gate, "--gate").unwrap(), &names)
                .unwrap();
        check(stats, &[], &[], &conditions, None, None)
            .into_iter()
            .map(|v| (v.gate, v.passed))
            .collect()
    }

    #[test]
    fn only_a_bound_on_the_same_scorers_errors_lets_a_statistic_pass_over_errors() {
        let stats = [scorer("a", 3), scorer("b", 0)];
        let passed = |gate: &str| -> Vec<bool> {
            verdicts(&stats, gate).into_iter().map(|(_, p)| p).collect()
        };
        assert_eq!(passed("a >= 1"), [false]);
        // b's errors say nothing of a's.
        assert_eq!(passed("a >= 1 AND `b/errors` <= 5"), [false, true]);
        assert_eq!(passed("a >= 1 AND `a/errors` <= 5"), [true, true]);
        // b had no errors: nothing to allow.
        assert_eq!(passed("`b/p90` >= 1"), [true]);
        // Not when a's statistic fails on its own.
        assert_eq!(passed("a >= 2 AND `a/errors` <= 5"), [false, true]);
    }

    #[test]
    fn criteria_judge_each_kind_of_value() {
        let yes = Said {
            boolean: Some(true),
            number: Some(1.0),
            ..Said::default()
        };
        let label = Said {
            label: Some("relevant"),
            ..Said::default()
        };
        let error = Said {
            error: Some(("SCORER_ERROR", "boom")),
            ..Said::default()
        };
        assert_eq!(PassCriterion::Default.judge(&yes), Some(true));
        assert_eq!(PassCriterion::Default.judge(&Said::number(0.9)), None);
        // A scorer's own verdict beside its number, unless a criterion is
        // given.
        let own_fail = Said {
            number: Some(3.0),
            passed: Some(false),
            ..Said::default()
        };
        assert_eq!(PassCriterion::Default.judge(&own_fail), Some(false));
        assert_eq!(PassCriterion::AtMost(3.0).judge(&own_fail), Some(true));
        assert_eq!(PassCriterion::Default.judge(&error), Some(false));
        assert_eq!(
            PassCriterion::AtLeast(0.5).judge(&Said::number(0.5)),
            Some(true)
        );
        assert_eq!(
            PassCriterion::AtLeast(0.5).judge(&Said::number(0.4)),
            Some(false)
        );
        assert_eq!(
            PassCriterion::AtMost(2.0).judge(&Said::number(3.0)),
            Some(false)
        );
        assert_eq!(PassCriterion::AtLeast(0.5).judge(&label), None);
        let labels = PassCriterion::Labels(vec!["relevant".into(), "true".into()]);
        assert_eq!(labels.judge(&label), Some(true));
        assert_eq!(labels.judge(&yes), Some(true));
        assert_eq!(labels.judge(&Said::number(1.0)), None);
        // Worst first: errors, then the lowest (or, with a maximum, the
        // highest) numbers.
        assert_eq!(PassCriterion::AtLeast(0.5).badness(&error), f64::INFINITY);
        assert!(
            PassCriterion::AtLeast(0.5).badness(&Said::number(0.1))
                > PassCriterion::AtLeast(0.5).badness(&Said::number(0.4))
        );
        assert!(
            PassCriterion::AtMost(2.0).badness(&Said::number(9.0))
                > PassCriterion::AtMost(2.0).badness(&Said::number(3.0))
        );
    }
}
