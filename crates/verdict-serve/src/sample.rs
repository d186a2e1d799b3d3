//! Which scorers judge a trace: MLflow's online-monitoring sampling, so
//! that at the same rates the same traces are chosen as MLflow's
//! monitoring would choose (`mlflow.genai.scorers.online.sampler`).
//!
//! Scorers are taken by rate, highest first. Each is kept when
//! `sha256("{trace id}:{scorer name}")`, read as a 256-bit number over
//! 2²⁵⁶, is at most its rate divided by the rate of the scorer kept
//! before it (1 for the first); the first one not kept ends the list. A
//! trace chosen at 25 % is thus also chosen by the scorers at 50 %: the
//! traces sampled are judged densely, not thinly. The trace id is MLflow's
//! (`tr-` and 32 hex digits).

use opentelemetry::trace::TraceId;
use sha2::{Digest as _, Sha256};

/// The scorers' names and rates, in the order scorers were given.
#[derive(Clone, Debug)]
pub struct Sampler {
    /// Indices of the scorers, highest rate first (a stable sort, as
    /// Python's `sorted(..., reverse=True)`).
    order: Vec<usize>,
    names: Vec<String>,
    rates: Vec<f64>,
}

impl Sampler {
    /// A sampler over scorers with these names and rates (each within 0
    /// and 1).
    pub fn new(scorers: impl IntoIterator<Item = (String, f64)>) -> Self {
        let (names, rates): (Vec<String>, Vec<f64>) = scorers.into_iter().unzip();
        let mut order: Vec<usize> = (0..names.len()).collect();
        // Stable, highest first; equal rates keep their order.
        order.sort_by(|&a, &b| rates[b].total_cmp(&rates[a]));
        Sampler {
            order,
            names,
            rates,
        }
    }

    /// Whether every scorer judges every trace (every rate is 1): then
    /// nothing is hashed.
    pub fn takes_all(&self) -> bool {
        self.rates.iter().all(|&r| r >= 1.0)
    }

    /// The scorers that judge `trace`, as indices in the order scorers were
    /// given to [`new`](Self::new), highest rate first.
    pub fn sample(&self, trace: TraceId) -> Vec<usize> {
        if self.takes_all() {
            return self.order.clone();
        }
        let mut selected = Vec::new();
        let mut previous = 1.0;
        for &i in &self.order {
            let rate = self.rates[i];
            let conditional = if previous > 0.0 { rate / previous } else { 0.0 };
            if hash_fraction(&format!("tr-{trace:032x}:{}", self.names[i])) > conditional {
                break;
            }
            selected.push(i);
            previous = rate;
        }
        selected
    }
}

/// `int(sha256(text).hexdigest(), 16) / 2**256` as Python computes it: the
/// 256-bit integer divided by a power of two, correctly rounded to a
/// double (to nearest, ties to even).
fn hash_fraction(text: &str) -> f64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut top = [0u8; 16];
    top.copy_from_slice(&digest[..16]);
    let top = u128::from_be_bytes(top);
    // Whether any bit below the top 128 is set: it breaks a tie upwards.
    let sticky = digest[16..].iter().any(|&b| b != 0);
    if top == 0 {
        // Below 2⁻¹²⁸: smaller than any rate worth giving but 0.
        return if sticky { f64::MIN_POSITIVE } else { 0.0 };
    }
    let bits = 128 - top.leading_zeros() as i32;
    // Below 2⁻⁷⁵ the top 128 bits hold fewer than 53; the exact value is
    // then within 2⁻¹²⁸ of theirs, far below any rate's resolution.
    let shift = (bits - 53).max(0);
    let mut mantissa = top >> shift;
    if shift > 0 {
        let dropped = top & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        if dropped > half || (dropped == half && (sticky || mantissa & 1 == 1)) {
            mantissa += 1;
        }
    }
    // At most 2⁵³, exact as a double; scaling by a power of two is exact.
    (mantissa as f64) * 2f64.powi(shift - 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scorer_at_rate_one_takes_every_trace_in_the_order_given() {
        let sampler = Sampler::new([("a".to_owned(), 1.0), ("b".to_owned(), 1.0)]);
        assert_eq!(sampler.sample(TraceId::from(7)), vec![0, 1]);
    }

    #[test]
    fn rate_zero_takes_nothing_and_a_half_takes_about_half() {
        let none = Sampler::new([("a".to_owned(), 0.0)]);
        assert!((1..1000u128).all(|t| none.sample(TraceId::from(t)).is_empty()));
        let half = Sampler::new([("a".to_owned(), 0.5)]);
        let taken = (1..2001u128)
            .filter(|&t| !half.sample(TraceId::from(t)).is_empty())
            .count();
        assert!((900..1100).contains(&taken), "{taken} of 2000");
    }

    #[test]
    fn a_trace_kept_by_a_lower_rate_is_kept_by_the_higher_ones() {
        let sampler = Sampler::new([("low".to_owned(), 0.25), ("high".to_owned(), 0.5)]);
        for t in 1..2000u128 {
            let selected = sampler.sample(TraceId::from(t));
            if selected.contains(&0) {
                assert!(selected.contains(&1), "trace {t}: {selected:?}");
            }
        }
    }
}
