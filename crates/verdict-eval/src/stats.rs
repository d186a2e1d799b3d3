//! Summary statistics per scorer, gathered as records stream by, in
//! memory that does not grow with the number of records.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use serde::{Deserialize, Serialize};

use crate::gates::PassCriterion;
use crate::scored::Said;

/// How many distinct values are kept exactly; past this, values are
/// counted to three significant digits, so that the memory stays bounded
/// whatever a scorer returns.
///
/// The median and p90 then come from those counts, and are not exact: each
/// count keeps the smallest and largest value it counted, which bound the
/// exact quantile ([`ScorerStats::p90_bounds`]), and a gate passes only
/// when the whole bound is on its passing side. Exact quantiles would mean
/// keeping every value (8 bytes per record and scorer, 800 MB for a
/// hundred million records): a run's memory would grow with its dataset,
/// which a streaming run never lets it do.
pub(crate) const EXACT_VALUES: usize = 4096;

/// How many of the worst records are kept per scorer.
pub const WORST_KEPT: usize = 5;

/// How many characters of an input, output or expectation a worst record
/// keeps.
const EXCERPT_CHARS: usize = 200;

/// A failing record, as reports and failure messages show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorstRecord {
    /// The dataset line.
    pub line: usize,
    /// The trace, MLflow form (`tr-…`).
    pub trace_id: String,
    /// The inputs (an excerpt).
    pub input: String,
    /// The outputs (an excerpt).
    pub output: String,
    /// The expectations, as JSON (an excerpt).
    pub expectations: String,
    /// The value, or the error code.
    pub value: String,
    /// The scorer's rationale, or the error message.
    pub rationale: Option<String>,
    #[serde(skip)]
    badness: f64,
}

/// One scorer's statistics over a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScorerStats {
    /// The scorer.
    pub name: String,
    /// Its pass criterion, in words.
    pub criterion: String,
    /// Its weight in the weighted pass rate.
    pub weight: f64,
    /// Records it was asked to score (invalid records included, as errors).
    pub records: u64,
    /// Records that passed.
    pub passed: u64,
    /// Records whose value the criterion could judge (errors included).
    pub judged: u64,
    /// Records it could not score, and invalid records.
    pub errors: u64,
    /// Values that were bools, numbers and labels.
    pub kinds: [u64; 3],
    /// The mean of its values as numbers (bools as 1/0); errors and
    /// labels are left out, as MLflow leaves them out of its `mean`.
    pub mean: Option<f64>,
    /// The median, interpolated between the two middle values (numpy's
    /// `median`, MLflow's `median` aggregation).
    pub p50: Option<f64>,
    /// The 90th percentile, interpolated linearly between the values
    /// around it (numpy's `percentile`, MLflow's `p90` aggregation).
    pub p90: Option<f64>,
    /// The smallest value.
    #[serde(default)]
    pub min: Option<f64>,
    /// The largest value.
    #[serde(default)]
    pub max: Option<f64>,
    /// The population variance of the values (numpy's `var`, MLflow's
    /// `variance` aggregation).
    #[serde(default)]
    pub variance: Option<f64>,
    /// When p50 is not exact (past 4,096 distinct values, which are then
    /// counted to three significant digits), the interval the exact median
    /// lies in, and `p50` is its middle; `None` when `p50` is exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_bounds: Option<(f64, f64)>,
    /// The same for p90.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90_bounds: Option<(f64, f64)>,
    /// Distinct values and how many records had each (rounded to three
    /// significant digits past 4096 distinct values), in increasing order.
    pub distribution: Vec<(f64, u64)>,
    /// The worst failing records, worst first.
    pub worst: Vec<WorstRecord>,
}

impl ScorerStats {
    /// The share of records that passed; `None` when some values could
    /// not be judged (numbers or labels with no criterion), or no record
    /// was scored.
    pub fn pass_rate(&self) -> Option<f64> {
        (self.records > 0 && self.judged == self.records)
            .then(|| self.passed as f64 / self.records as f64)
    }

    /// The kinds of values it gave, in words.
    pub fn kinds(&self) -> String {
        let names = ["bools", "numbers", "labels"];
        let kinds: Vec<&str> = names
            .iter()
            .zip(self.kinds)
            .filter(|(_, n)| *n > 0)
            .map(|(name, _)| *name)
            .collect();
        if kinds.is_empty() {
            "errors only".into()
        } else {
            kinds.join(" and ")
        }
    }
}

/// Gathers one scorer's statistics.
#[derive(Debug)]
pub(crate) struct StatsBuilder {
    stats: ScorerStats,
    pass: PassCriterion,
    sum: f64,
    numbers: u64,
    /// Welford's running mean and sum of squared deviations, for the
    /// variance.
    running_mean: f64,
    squares: f64,
    /// Values (exact, or rounded once `rounded`) and what each counted.
    values: BTreeMap<u64, Count>,
    rounded: bool,
    /// Values the default criterion judged by the scorer's own verdict.
    own_verdicts: u64,
}

/// The records that had one value, or (once values are rounded) that
/// rounded to it: how many, and the smallest and largest exact value
/// among them, which bound the quantiles that fall on them.
#[derive(Clone, Copy, Debug)]
struct Count {
    records: u64,
    low: f64,
    high: f64,
}

impl Count {
    /// One record, of this value.
    fn of(value: f64) -> Self {
        Count {
            records: 1,
            low: value,
            high: value,
        }
    }

    fn add(&mut self, other: Count) {
        self.records += other.records;
        self.low = self.low.min(other.low);
        self.high = self.high.max(other.high);
    }
}

/// What a worst record shows, taken only when it is kept.
pub(crate) struct RecordView<'a> {
    pub(crate) line: usize,
    pub(crate) trace_id: &'a dyn Fn() -> String,
    pub(crate) input: &'a dyn Fn() -> String,
    pub(crate) output: &'a dyn Fn() -> String,
    pub(crate) expectations: &'a dyn Fn() -> String,
}

impl RecordView<'static> {
    /// Line `line`, with nothing to show but its number.
    pub(crate) fn blank(line: usize) -> Self {
        RecordView {
            line,
            trace_id: &String::new,
            input: &String::new,
            output: &String::new,
            expectations: &String::new,
        }
    }
}

impl StatsBuilder {
    pub(crate) fn new(name: &str, pass: PassCriterion, weight: f64) -> Self {
        StatsBuilder {
            stats: ScorerStats {
                name: name.to_owned(),
                criterion: pass.describe(),
                weight,
                records: 0,
                passed: 0,
                judged: 0,
                errors: 0,
                kinds: [0; 3],
                mean: None,
                p50: None,
                p90: None,
                p50_bounds: None,
                p90_bounds: None,
                min: None,
                max: None,
                variance: None,
                distribution: Vec::new(),
                worst: Vec::new(),
            },
            pass,
            sum: 0.0,
            numbers: 0,
            running_mean: 0.0,
            squares: 0.0,
            values: BTreeMap::new(),
            rounded: false,
            own_verdicts: 0,
        }
    }

    /// Adds one record's result; returns whether it passed (`None`: no
    /// criterion for it).
    pub(crate) fn add(&mut self, said: &Said<'_>, record: &RecordView<'_>) -> Option<bool> {
        let s = &mut self.stats;
        s.records += 1;
        if said.error.is_some() {
            s.errors += 1;
        } else if said.boolean.is_some() {
            s.kinds[0] += 1;
        } else if said.label.is_some() {
            s.kinds[2] += 1;
        } else {
            s.kinds[1] += 1;
        }
        let verdict = self.pass.judge(said);
        if self.pass == PassCriterion::Default
            && said.error.is_none()
            && said.boolean.is_none()
            && said.passed.is_some()
        {
            self.own_verdicts += 1;
        }
        if let Some(passed) = verdict {
            s.judged += 1;
            s.passed += u64::from(passed);
        }
        if let Some(n) = said.number {
            self.sum += n;
            self.numbers += 1;
            let delta = n - self.running_mean;
            self.running_mean += delta / self.numbers as f64;
            self.squares += delta * (n - self.running_mean);
            s.min = Some(s.min.map_or(n, |m| m.min(n)));
            s.max = Some(s.max.map_or(n, |m| m.max(n)));
            let key = if self.rounded { round3(n) } else { n };
            self.count(key, Count::of(n));
            if self.values.len() > EXACT_VALUES && !self.rounded {
                self.round_values();
            }
        }
        if verdict == Some(false) {
            self.keep_if_worst(said, record);
        }
        verdict
    }

    /// Counts an invalid record as an error.
    pub(crate) fn add_invalid(&mut self, line: usize, reason: &str) {
        let said = Said {
            error: Some(("INVALID_RECORD", reason)),
            ..Said::default()
        };
        self.add(&said, &RecordView::blank(line));
    }

    fn keep_if_worst(&mut self, said: &Said<'_>, record: &RecordView<'_>) {
        let badness = self.pass.badness(said);
        let worst = &mut self.stats.worst;
        // Ties keep the earlier record.
        let at = worst
            .iter()
            .position(|w| badness > w.badness)
            .unwrap_or(worst.len());
        if at >= WORST_KEPT {
            return;
        }
        let (value, rationale) = match said.error {
            Some((code, message)) => (format!("error {code}"), Some(message.to_owned())),
            None => (
                match (said.boolean, said.label, said.number) {
                    (Some(b), _, _) => b.to_string(),
                    (_, Some(label), _) => label.to_owned(),
                    (_, _, Some(n)) => format_number(n),
                    _ => String::new(),
                },
                said.rationale.map(str::to_owned),
            ),
        };
        worst.insert(
            at,
            WorstRecord {
                line: record.line,
                trace_id: (record.trace_id)(),
                input: excerpt((record.input)()),
                output: excerpt((record.output)()),
                expectations: excerpt((record.expectations)()),
                value,
                rationale,
                badness,
            },
        );
        worst.truncate(WORST_KEPT);
    }

    fn round_values(&mut self) {
        self.rounded = true;
        let old = std::mem::take(&mut self.values);
        for (key, count) in old {
            self.count(round3(unordered(key)), count);
        }
    }

    /// Counts records under a (possibly rounded) value.
    fn count(&mut self, key: f64, count: Count) {
        match self.values.entry(ordered(key)) {
            Entry::Vacant(entry) => {
                entry.insert(count);
            }
            Entry::Occupied(mut entry) => entry.get_mut().add(count),
        }
    }

    pub(crate) fn finish(mut self) -> ScorerStats {
        let s = &mut self.stats;
        s.distribution = self
            .values
            .iter()
            .map(|(k, n)| (unordered(*k), n.records))
            .collect();
        if self.numbers > 0 {
            s.mean = Some(self.sum / self.numbers as f64);
            let counts: Vec<Count> = self.values.values().copied().collect();
            for (q, value, bounds) in [
                (0.5, &mut s.p50, &mut s.p50_bounds),
                (0.9, &mut s.p90, &mut s.p90_bounds),
            ] {
                let Some((low, high)) = quantile(&counts, self.numbers, q) else {
                    continue;
                };
                if self.rounded && low != high {
                    *value = Some(low + (high - low) / 2.0);
                    *bounds = Some((low, high));
                } else {
                    *value = Some(low);
                }
            }
            s.variance = Some((self.squares / self.numbers as f64).max(0.0));
        }
        // "true passes" would misread as a criterion for numbers or labels.
        if self.pass == PassCriterion::Default && s.judged < s.records {
            s.criterion = format!("none for {} (set threshold, max or pass_labels)", s.kinds());
        } else if self.pass == PassCriterion::Default && self.own_verdicts > 0 {
            s.criterion = if s.kinds[0] > 0 {
                "true, or the scorer's own pass".into()
            } else {
                "the scorer's own pass".into()
            };
        }
        self.stats
    }
}

/// The quantile `q` of `total` values counted in sorted `counts`, as
/// numpy's `percentile` computes it by default (and so MLflow's `median`
/// and `p90`): at position `q · (total − 1)` in the sorted values,
/// interpolated linearly between the two values around it. Given as the
/// interval it lies in: the interpolation is increasing in both values,
/// so it lies between the one of the smallest values their counts hold
/// and the one of the largest (the same number twice when each count holds
/// one exact value).
fn quantile(counts: &[Count], total: u64, q: f64) -> Option<(f64, f64)> {
    if total == 0 {
        return None;
    }
    let position = q * (total - 1) as f64;
    let below = position.floor() as u64;
    let above = position.ceil() as u64;
    // The count holding a 0-based index of the sorted values.
    let at = |index: u64| {
        let mut seen = 0;
        counts.iter().find(|count| {
            seen += count.records;
            seen > index
        })
    };
    let (low, high) = (at(below)?, at(above)?);
    let between = |a: f64, b: f64| a + (b - a) * (position - below as f64);
    Some((between(low.low, high.low), between(low.high, high.high)))
}

/// A key that sorts as the float does.
fn ordered(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn unordered(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

fn round3(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{x:.2e}").parse().unwrap_or(x)
}

/// A number as reports show it: integers without decimals, others with
/// up to four.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        let text = format!("{n:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// The first characters of a long text, as reports show them.
pub(crate) fn excerpt(text: String) -> String {
    if text.chars().nth(EXCERPT_CHARS).is_none() {
        return text;
    }
    crate::report::excerpt(&text, EXCERPT_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_as_floats() {
        let xs = [-3.5, -1.0, -0.0, 0.0, 0.25, 1.0, 7.0];
        for w in xs.windows(2) {
            assert!(ordered(w[0]) <= ordered(w[1]), "{w:?}");
        }
        for x in xs {
            assert_eq!(unordered(ordered(x)), x);
        }
    }

    #[test]
    fn quantiles_interpolate_as_numpy_does() {
        let exact = |d: &[(f64, u64)]| -> Vec<Count> {
            d.iter()
                .map(|&(v, n)| Count {
                    records: n,
                    ..Count::of(v)
                })
                .collect()
        };
        let one = |v: f64| Some((v, v));
        // numpy.percentile([1]*5 + [2]*4 + [10], [50, 90, 100]) and
        // numpy.median([1, 2, 3, 4]).
        let d = exact(&[(1.0, 5), (2.0, 4), (10.0, 1)]);
        assert_eq!(quantile(&d, 10, 0.5), one(1.5));
        let (low, high) = quantile(&d, 10, 0.9).unwrap();
        assert!(low == high && (low - 2.8).abs() < 1e-12);
        assert_eq!(quantile(&d, 10, 1.0), one(10.0));
        assert_eq!(
            quantile(&exact(&[(1.0, 1), (2.0, 1), (3.0, 1), (4.0, 1)]), 4, 0.5),
            one(2.5)
        );
        assert_eq!(quantile(&exact(&[(7.0, 1)]), 1, 0.9), one(7.0));
        assert_eq!(quantile(&[], 0, 0.5), None);
        // Counts that each hold a range of values: the quantile of any
        // values they may hold is within the interval.
        let ranges = [
            Count {
                records: 2,
                low: 1.0,
                high: 1.4,
            },
            Count {
                records: 2,
                low: 2.0,
                high: 2.6,
            },
        ];
        // numpy.percentile([1, 1, 2, 2], 50) is 1.5; of [1.4, 1.4, 2.6,
        // 2.6], 2.0.
        assert_eq!(quantile(&ranges, 4, 0.5), Some((1.5, 2.0)));
    }

    #[test]
    fn min_max_and_variance_are_numpys() {
        let mut b = StatsBuilder::new("x", PassCriterion::AtLeast(0.5), 1.0);
        let view = RecordView::blank(1);
        for n in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            b.add(&Said::number(n), &view);
        }
        b.add(
            &Said {
                error: Some(("E", "left out")),
                ..Said::default()
            },
            &view,
        );
        let s = b.finish();
        // numpy.var([2, 4, 4, 4, 5, 5, 7, 9]) is 4.0.
        assert_eq!(
            (s.min, s.max, s.variance),
            (Some(2.0), Some(9.0), Some(4.0))
        );
        assert_eq!(s.mean, Some(5.0));
    }

    #[test]
    fn past_the_exact_values_the_quantiles_exact_values_lie_within_their_bounds() {
        let view = RecordView::blank(1);
        // Spread over decades, in an order of their own, repeated: a
        // linear congruential sequence.
        let mut x: u64 = 12345;
        let mut values = Vec::new();
        for _ in 0..50_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = ((x >> 11) as f64 / (1u64 << 53) as f64) * 10f64.powi((x % 5) as i32) - 3.0;
            values.push(v);
            values.push(v);
        }
        let mut b = StatsBuilder::new("x", PassCriterion::AtLeast(0.5), 1.0);
        for &v in &values {
            b.add(&Said::number(v), &view);
        }
        let s = b.finish();
        values.sort_by(f64::total_cmp);
        // numpy's percentile, on every value.
        let exact = |q: f64| {
            let position = q * (values.len() - 1) as f64;
            let (below, above) = (position.floor() as usize, position.ceil() as usize);
            values[below] + (values[above] - values[below]) * (position - below as f64)
        };
        for (q, value, bounds) in [(0.5, s.p50, s.p50_bounds), (0.9, s.p90, s.p90_bounds)] {
            let (low, high) = bounds.expect("rounded: an interval");
            let exact = exact(q);
            assert!(
                low <= exact && exact <= high,
                "{q}: {exact} in [{low}, {high}]"
            );
            assert_eq!(value, Some(low + (high - low) / 2.0));
            // Three significant digits: the interval is narrow.
            assert!(high - low <= exact.abs() * 0.01 + 1e-9, "[{low}, {high}]");
        }
    }

    #[test]
    fn many_distinct_values_stay_bounded() {
        let mut b = StatsBuilder::new("x", PassCriterion::AtLeast(0.5), 1.0);
        let view = RecordView::blank(1);
        for i in 0..100_000 {
            b.add(&Said::number(f64::from(i) / 100_000.0), &view);
        }
        let s = b.finish();
        assert!(
            s.distribution.len() <= EXACT_VALUES + 1000,
            "{}",
            s.distribution.len()
        );
        assert_eq!(s.pass_rate(), Some(0.5));
        assert!((s.p50.unwrap() - 0.5).abs() < 0.01);
        assert_eq!(s.worst.len(), WORST_KEPT);
        assert_eq!(s.worst[0].value, "0");
    }
}
