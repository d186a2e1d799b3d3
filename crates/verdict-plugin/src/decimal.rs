//! Numbers written into text as `format!` writes them, for a rationale
//! built for every record: `format!` parses its template at run time, and
//! writes a float with a fixed number of decimals (`{:.4}`) from its exact
//! decimal expansion, in big-number arithmetic whenever its fast path
//! gives up; both cost more than a short edit distance itself.
//!
//! The decision: [`push_fixed`] scales the number by a power of ten and
//! rounds it, which gives `format!`'s digits whenever the scaled number is
//! not within a millionth of a tie (the scaling's error is below half of
//! that), and hands the few others — ties, large numbers, negative ones —
//! to `format!`. Integers go through `itoa`. The alternative, `ryu`,
//! writes the shortest text that reads back as the same float, not a fixed
//! number of decimals.
//!
//! ```
//! use verdict_plugin::decimal::{push_fixed, push_uint};
//!
//! let mut text = String::from("distance ");
//! push_uint(&mut text, 3);
//! text.push_str(", similarity ");
//! push_fixed(&mut text, 1.0 - 3.0 / 7.0, 4);
//! assert_eq!(text, "distance 3, similarity 0.5714");
//! ```

use std::fmt::Write;

/// Powers of ten that [`push_fixed`] scales by; each is exact in an `f64`.
const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Appends `n` in decimal, as `format!("{n}")` writes it.
#[inline]
pub fn push_uint(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Appends `x` with `places` decimals, as `format!("{x:.places$}")`
/// writes it.
#[inline]
pub fn push_fixed(out: &mut String, x: f64, places: usize) {
    if let Some(&scale) = POW10.get(places)
        && x.is_sign_positive()
    {
        let scaled = x * scale;
        // Below 2^32 the scaling's error is at most half a unit in the last
        // place, 2^-21: a number farther than 1e-6 from a tie rounds the
        // way its exact value does.
        if scaled < 4_294_967_296.0 {
            let floor = scaled.floor();
            let frac = scaled - floor;
            if (frac - 0.5).abs() > 1e-6 {
                let n = floor as u64 + u64::from(frac > 0.5);
                let unit = 10u64.pow(places as u32);
                push_uint(out, n / unit);
                if places > 0 {
                    out.push('.');
                    let mut digits = itoa::Buffer::new();
                    let digits = digits.format(n % unit);
                    out.extend(std::iter::repeat_n('0', places - digits.len()));
                    out.push_str(digits);
                }
                return;
            }
        }
    }
    let _ = write!(out, "{x:.places$}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(x: f64, places: usize) -> String {
        let mut text = String::new();
        push_fixed(&mut text, x, places);
        text
    }

    #[test]
    fn fixed_is_format_on_ratios() {
        // Every similarity 1 - d / len an edit distance gives up to 600
        // characters, and every precision of token counts.
        for len in 1..=600u32 {
            for d in 0..=len {
                let x = 1.0 - f64::from(d) / f64::from(len);
                let y = f64::from(d) / f64::from(len);
                for places in [2, 4] {
                    assert_eq!(fixed(x, places), format!("{x:.places$}"), "{d}/{len}");
                    assert_eq!(fixed(y, places), format!("{y:.places$}"), "{d}/{len}");
                }
            }
        }
    }

    #[test]
    fn fixed_is_format_on_generated_numbers() {
        // Seeded xorshift: numbers of every size, ties, and what format!
        // alone handles (negative, huge, not finite).
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut numbers = vec![
            0.0,
            -0.0,
            1.0,
            0.5,
            0.125,
            0.03125,
            0.00005,
            0.99995,
            2.5,
            1e300,
            -1.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            4_294_967_295.5,
            1e-300,
        ];
        for _ in 0..50_000 {
            let bits = next();
            let unit = (bits >> 11) as f64 / (1u64 << 53) as f64;
            numbers.push(unit);
            numbers.push(unit * 1e6);
            numbers.push((bits % 100_000) as f64 / 10_000.0 + 0.00005);
            numbers.push(f64::from_bits(bits));
        }
        for x in numbers {
            for places in [0, 1, 2, 4, 9, 12] {
                assert_eq!(
                    fixed(x, places),
                    format!("{x:.places$}"),
                    "{x:e} to {places}"
                );
            }
        }
    }

    #[test]
    fn uint_is_format() {
        for n in [0, 7, 10, 99, 12_345, u64::MAX] {
            let mut text = String::from("n=");
            push_uint(&mut text, n);
            assert_eq!(text, format!("n={n}"));
        }
    }
}
