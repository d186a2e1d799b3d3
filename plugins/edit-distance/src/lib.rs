//! The `edit_distance` scorer: the Levenshtein distance between the output
//! and the expectation, reported as a distance or as a similarity, with an
//! optional pass/fail threshold.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `report` | one of: `similarity`, `distance` | `similarity` | the number to report: `1 - d / max_len` (in characters), or the distance `d` |
//! | `max_distance` | non-negative integer | none | passes when `d ≤ max_distance` |
//! | `min_similarity` | number, 0 to 1 | none | passes when `1 - d / max_len ≥ min_similarity` |
//! | `output` | one of: `score`, `pass` | `score` | the value of the score: the reported number (with the threshold's verdict beside it), or whether it passes (needs a threshold) |
//! | `expectation` | string | `expected_response` | the expectation to compare with |
//!
//! At most one of `max_distance` and `min_similarity` may be set.
//!
//! # Semantics
//!
//! - The distance is the Levenshtein distance: the fewest insertions,
//!   deletions and substitutions of characters that turn one text into the
//!   other. A character is a Unicode scalar value (a Rust `char`), not what a
//!   reader sees as one: `e` + U+0301 (combining acute) is two characters and
//!   is at distance 2 from the precomposed `é` (U+00E9); the emoji `👩‍💻`
//!   (woman, zero-width joiner, laptop) is three. No normalization is applied.
//! - The similarity is `1 - d / max_len`, where `max_len` is the length in
//!   characters of the longer text; two empty texts have similarity `1.0`.
//!   This is Ragas' (and rapidfuzz's) normalized Levenshtein similarity.
//! - Outputs and expectations that are not strings are compared by their
//!   JSON text; a missing output is the empty text. A record without the
//!   expectation (or with a `null` one) is an error, `MISSING_EXPECTATION`;
//!   an empty list is an error, `EMPTY_EXPECTATION`.
//! - When the expectation is a JSON list, each item is an acceptable
//!   answer. The value is the best item's, in the reported metric (the
//!   lowest distance, or the highest similarity; the first of equals wins),
//!   whatever the threshold: a threshold never changes which answer counts
//!   as best. The record passes when any item is within the threshold,
//!   which may be another item when the threshold measures the other metric
//!   (`report: similarity` with `max_distance`); the rationale then names
//!   both.
//!
//! # Pass/fail
//!
//! With `output: score` (the default) the value is the reported number, and
//! a threshold adds its verdict beside it ([`Score::passed`], which the
//! host's default criterion takes as the record's pass or fail, so that
//! `edit_distance:max_distance=2` has a pass rate) and to the rationale:
//! `distance 3 ≤ max 5: pass`. With `output: pass` the value is a bool
//! (which a threshold then requires), and the rationale gives the number.
//! `output: pass` is also the fast choice: the search for the distance
//! stops as soon as it must exceed the threshold (the rationale then reads
//! `distance > max 5: fail`).
//!
//! # Speed
//!
//! The distance is computed with the bit-parallel algorithm of Myers (1999)
//! in Hyyrö's (2003) formulation, never with the quadratic table: after the
//! common prefix and suffix are stripped, a pattern of up to 64 characters
//! takes one 64-bit word step per character of the other text. A longer one
//! is computed in Ukkonen's diagonal band of a bound `k`: one word that
//! slides down the diagonal while the band fits in 64 rows, else 64-row
//! blocks that leave the band as soon as none of their cells can lie on a
//! path of cost at most `k`, so that the band narrows as the distance
//! grows. Without a threshold, an exponential search widens `k` until the
//! band holds the distance; with one, `k` comes from `max_distance` (or is
//! `floor((1 − t) · max_len)` from `min_similarity`) and the search stops
//! as soon as the distance must exceed it. ASCII texts are compared as bytes; other
//! texts through a compact alphabet of the shorter text's characters. The
//! algorithms are public: [`levenshtein`], [`levenshtein_bounded`] and
//! [`similarity`].
//!
//! On short texts the distance costs less than writing why, so the
//! rationale is written the cheap way: its numbers through the kit's
//! [`decimal`](verdict_plugin::decimal) writers (the same text `format!`
//! gives), into the one buffer the kit keeps for a call
//! ([`Scorer::score_writing_rationale`]), with no allocation per record.
//! Building it only for the records whose rationale is read was the
//! alternative; `verdict eval` stores every record's, so it would save
//! nothing there. Where no one reads it (a SQL function returns the value
//! alone, [`Scorer::score_value`]), it is not written: the scorer finds
//! (`judge`), then scores and explains what it found, apart.
//!
//! # Example
//!
//! ```
//! use verdict_edit_distance::EditDistance;
//! use verdict_plugin::{NamedValue, Record, ScoreValue, Scorer, Value};
//!
//! let expectations = [NamedValue::new("expected_response", Value::string("kitten"))];
//! let record = Record::new(Value::NULL, Value::string("sitting"), &expectations);
//!
//! let scorer = EditDistance::from_json(r#"{"report": "distance", "max_distance": 5}"#)?;
//! let score = scorer.score(&record).unwrap();
//! assert_eq!(score.value, ScoreValue::Number(3.0));
//! assert_eq!(score.passed, Some(true));
//! assert_eq!(score.rationale.as_deref(), Some("distance 3 ≤ max 5: pass"));
//!
//! let scorer = EditDistance::from_json(r#"{"min_similarity": 0.8, "output": "pass"}"#)?;
//! let score = scorer.score(&record).unwrap();
//! assert_eq!(score.value, ScoreValue::Bool(false));
//!
//! assert_eq!(verdict_edit_distance::levenshtein("e\u{301}", "\u{e9}"), 2);
//! assert_eq!(verdict_edit_distance::levenshtein_bounded("kitten", "sitting", 2), None);
//! # Ok::<(), verdict_plugin::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::fmt::Write;

use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Record, Score, ScoreError, Scorer};

/// The Levenshtein distance between `a` and `b`, in Unicode scalar values.
///
/// ```
/// assert_eq!(verdict_edit_distance::levenshtein("kitten", "sitting"), 3);
/// assert_eq!(verdict_edit_distance::levenshtein("東京都", "京都"), 1);
/// ```
pub fn levenshtein(a: &str, b: &str) -> usize {
    levenshtein_bounded(a, b, usize::MAX).expect("a distance never exceeds the longer length")
}

/// The Levenshtein distance between `a` and `b` if it is at most `max`,
/// else `None`; faster than [`levenshtein`] when `max` is small, as the
/// search stops as soon as the distance must exceed `max`.
///
/// ```
/// use verdict_edit_distance::levenshtein_bounded;
///
/// assert_eq!(levenshtein_bounded("kitten", "sitting", 3), Some(3));
/// assert_eq!(levenshtein_bounded("kitten", "sitting", 2), None);
/// ```
pub fn levenshtein_bounded(a: &str, b: &str, max: usize) -> Option<usize> {
    bounded(a, b, a.is_ascii() && b.is_ascii(), max)
}

/// [`levenshtein_bounded`], told whether both texts are ASCII.
fn bounded(a: &str, b: &str, ascii: bool, max: usize) -> Option<usize> {
    if ascii {
        return self::bitpar::distance(a.as_bytes(), b.as_bytes(), self::bitpar::ASCII, max);
    }
    let (a, b) = self::alphabet::strip_affix(a, b);
    let (la, lb) = (a.chars().count(), b.chars().count());
    let ((p, m), (t, n)) = if la <= lb {
        ((a, la), (b, lb))
    } else {
        ((b, lb), (a, la))
    };
    if n - m > max {
        return None;
    }
    if m == 0 {
        return Some(n);
    }
    let (p, t, sigma) = self::alphabet::encode(p, m, t, n);
    self::bitpar::distance(&p, &t, sigma, max)
}

/// The normalized similarity `1 - d / max_len`, with `d` the Levenshtein
/// distance and `max_len` the length of the longer text, both in Unicode
/// scalar values; `1.0` for two empty texts.
///
/// ```
/// assert_eq!(verdict_edit_distance::similarity("", ""), 1.0);
/// assert_eq!(verdict_edit_distance::similarity("abcd", "abce"), 0.75);
/// ```
pub fn similarity(a: &str, b: &str) -> f64 {
    let len = char_len(a).0.max(char_len(b).0);
    self::metric::similarity(levenshtein(a, b), len)
}

/// The length of `text` in Unicode scalar values, and whether it is ASCII
/// (its length is then its length in bytes, found faster than the chars
/// are counted).
fn char_len(text: &str) -> (usize, bool) {
    if text.is_ascii() {
        (text.len(), true)
    } else {
        (text.chars().count(), false)
    }
}

/// The bit-parallel edit distance over slices of symbols.
mod bitpar {
    /// The alphabet size of ASCII bytes.
    pub(super) const ASCII: usize = 128;

    use std::cell::RefCell;

    /// A symbol: an ASCII byte, or an id in a compact alphabet.
    pub(super) trait Sym: Copy + Eq {
        /// Its index in the match table; below the alphabet size.
        fn idx(self) -> usize;

        /// How many symbols `a` and `b` start with in common.
        fn common_prefix(a: &[Self], b: &[Self]) -> usize {
            a.iter().zip(b).take_while(|(x, y)| x == y).count()
        }

        /// How many symbols `a` and `b` end with in common.
        fn common_suffix(a: &[Self], b: &[Self]) -> usize {
            a.iter()
                .rev()
                .zip(b.iter().rev())
                .take_while(|(x, y)| x == y)
                .count()
        }
    }

    /// Eight bytes of `bytes` from `at`, the first the least significant.
    #[inline(always)]
    fn word(bytes: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
    }

    impl Sym for u8 {
        #[inline(always)]
        fn idx(self) -> usize {
            usize::from(self)
        }

        // Eight bytes a step: on short texts, where stripping costs as
        // much as the distance, the byte loop's exit was mispredicted at a
        // different byte for every pair.
        #[inline]
        fn common_prefix(a: &[u8], b: &[u8]) -> usize {
            let n = a.len().min(b.len());
            let mut i = 0;
            while i + 8 <= n {
                let diff = word(a, i) ^ word(b, i);
                if diff != 0 {
                    return i + (diff.trailing_zeros() / 8) as usize;
                }
                i += 8;
            }
            i + a[i..n]
                .iter()
                .zip(&b[i..n])
                .take_while(|(x, y)| x == y)
                .count()
        }

        #[inline]
        fn common_suffix(a: &[u8], b: &[u8]) -> usize {
            let n = a.len().min(b.len());
            let (ea, eb) = (a.len(), b.len());
            let mut i = 0;
            while i + 8 <= n {
                let diff = word(a, ea - i - 8) ^ word(b, eb - i - 8);
                if diff != 0 {
                    return i + (diff.leading_zeros() / 8) as usize;
                }
                i += 8;
            }
            i + a[..ea - i]
                .iter()
                .rev()
                .zip(b[..eb - i].iter().rev())
                .take(n - i)
                .take_while(|(x, y)| x == y)
                .count()
        }
    }

    impl Sym for u32 {
        #[inline(always)]
        fn idx(self) -> usize {
            self as usize
        }
    }

    /// Strips the common prefix and suffix, which never change the distance.
    fn strip_affix<'a, S: Sym>(a: &'a [S], b: &'a [S]) -> (&'a [S], &'a [S]) {
        let pre = S::common_prefix(a, b);
        let (a, b) = (&a[pre..], &b[pre..]);
        let suf = S::common_suffix(a, b);
        (&a[..a.len() - suf], &b[..b.len() - suf])
    }

    /// The distance between `a` and `b` if it is at most `max`; every symbol
    /// is below `sigma`.
    pub(super) fn distance<S: Sym>(a: &[S], b: &[S], sigma: usize, max: usize) -> Option<usize> {
        let (a, b) = strip_affix(a, b);
        // The pattern (rows) is the shorter text, the other one the columns.
        let (p, t) = if a.len() <= b.len() { (a, b) } else { (b, a) };
        let (m, n) = (p.len(), t.len());
        if n - m > max {
            return None;
        }
        if m == 0 {
            return Some(n);
        }
        // Both are non-empty and differ in their first symbol.
        let max = max.min(n);
        if max == 0 {
            return None;
        }
        if m == 1 {
            let d = if t.contains(&p[0]) { n - 1 } else { n };
            return (d <= max).then_some(d);
        }
        if m <= 64 {
            return single_word(p, t, max);
        }
        let table = Table::new(p, sigma);
        let mut blocks = Vec::new();
        // An exponential search for the smallest band that holds the
        // distance, each attempt stopping as soon as the distance must
        // exceed its band. The first attempt fits one word.
        let gap = n - m;
        let mut k = if gap <= 31 { 63 } else { gap + 32 };
        loop {
            let k_try = k.min(max);
            let h = (k_try - gap) / 2;
            let found = if gap + 2 * h < 64 {
                small_band(&table, m, t, k_try)
            } else {
                banded_blocks(&table, m, t, k_try, &mut blocks)
            };
            match found {
                Ok(d) => return Some(d),
                Err(_) if k_try == max => return None,
                // Stopped at column `j` with a distance over `k_try` so far:
                // extrapolate, and at least double.
                Err(j) => {
                    let estimate = k_try.saturating_mul(n) / j.max(1);
                    k = (k_try.saturating_mul(2)).max(estimate.saturating_add(estimate / 4));
                }
            }
        }
    }

    thread_local! {
        /// The match table of [`single_word`], all zero between calls:
        /// setting the pattern's bits and clearing them afterwards costs
        /// less than zeroing a kilobyte for every pair of short texts.
        static PEQ: RefCell<[u64; 128]> = const { RefCell::new([0; 128]) };
    }

    /// A match table holding the bits of pattern `p`, cleared of them when
    /// dropped, whatever happens in between.
    struct Peq<'a, S: Sym> {
        table: &'a mut [u64; 128],
        p: &'a [S],
    }

    impl<S: Sym> Drop for Peq<'_, S> {
        fn drop(&mut self) {
            for &c in self.p {
                self.table[c.idx() & 127] = 0;
            }
        }
    }

    /// Myers/Hyyrö with the whole pattern (at most 64 symbols) in one word.
    /// No early exit: the other text is at most `64 + max` symbols long.
    fn single_word<S: Sym>(p: &[S], t: &[S], max: usize) -> Option<usize> {
        debug_assert!((1..=64).contains(&p.len()) && p.len() <= t.len());
        PEQ.with(|cell| match cell.try_borrow_mut() {
            Ok(mut table) => single_word_with(
                Peq {
                    table: &mut table,
                    p,
                },
                t,
                max,
            ),
            // Only a call from within a call would find it taken.
            Err(_) => single_word_with(
                Peq {
                    table: &mut [0; 128],
                    p,
                },
                t,
                max,
            ),
        })
    }

    /// [`single_word`] with a zeroed table for its pattern.
    #[inline(always)]
    fn single_word_with<S: Sym>(peq: Peq<'_, S>, t: &[S], max: usize) -> Option<usize> {
        let p = peq.p;
        for (i, &c) in p.iter().enumerate() {
            peq.table[c.idx() & 127] |= 1 << i;
        }
        let peq = &*peq.table;
        let last = 1u64 << (p.len() - 1);
        let (mut vp, mut vn, mut score) = (!0u64, 0u64, p.len());
        for &c in t {
            let eq = peq[c.idx() & 127];
            let x = eq | vn;
            let d0 = ((eq & vp).wrapping_add(vp) ^ vp) | x;
            let hp = vn | !(d0 | vp);
            let hn = vp & d0;
            score += usize::from(hp & last != 0);
            score -= usize::from(hn & last != 0);
            let hp = (hp << 1) | 1;
            let hn = hn << 1;
            vp = hn | !(d0 | hp);
            vn = hp & d0;
        }
        (score <= max).then_some(score)
    }

    /// For each symbol, the bits of the rows where the pattern holds it:
    /// row `i` (1-based) is bit `i - 1 + 64` of the symbol's words, after a
    /// leading zero word and before a trailing one, so that any 64 rows from
    /// row -63 on can be read as one word.
    struct Table {
        words: Vec<u64>,
        stride: usize,
        blocks: usize,
    }

    impl Table {
        fn new<S: Sym>(p: &[S], sigma: usize) -> Self {
            let blocks = p.len().div_ceil(64);
            let stride = blocks + 2;
            let mut words = vec![0u64; sigma * stride];
            for (i, &c) in p.iter().enumerate() {
                words[c.idx() * stride + 1 + i / 64] |= 1 << (i % 64);
            }
            Table {
                words,
                stride,
                blocks,
            }
        }

        /// Words `w` and `w + 1` of symbol `c`.
        #[inline(always)]
        fn pair(&self, c: usize, w: usize) -> &[u64; 2] {
            let at = c * self.stride + w;
            self.words[at..at + 2].try_into().expect("two words")
        }

        #[inline(always)]
        fn symbol(&self, c: usize) -> &[u64] {
            &self.words[c * self.stride..(c + 1) * self.stride]
        }
    }

    /// The cells that can lie on a path of cost at most `k` from `(0, 0)` to
    /// `(m, n)`: those whose diagonal `i - j` is within `-top..=h`, as the
    /// path must also come back to the diagonal `m - n = -gap`.
    fn band(m: usize, n: usize, k: usize) -> (usize, usize) {
        let gap = n - m;
        let h = (k - gap) / 2;
        (gap + h, h)
    }

    /// Hyyrö's banded algorithm with the band in one word that slides one
    /// row down per column. The word of column `j` holds rows
    /// `j - top ..= j - top + 63`; rows above the matrix (`i ≤ 0`) extend it
    /// with `D[i][j] = j - i`, which keeps row 0 at `D[0][j] = j`. The value
    /// on the final diagonal is followed along: it never decreases, so the
    /// search stops when it exceeds `k`.
    ///
    /// `Ok(distance)`, or `Err(column)` where the distance was seen to
    /// exceed `k`.
    fn small_band<S: Sym>(table: &Table, m: usize, t: &[S], k: usize) -> Result<usize, usize> {
        let n = t.len();
        let (top, h) = band(m, n, k);
        debug_assert!(top + h < 64);
        // Column 0: rows -top..=0 have vertical delta -1, rows 1.. +1. The
        // vectors are kept slid down one row, ready for the next column,
        // with the new bottom row (bit 63) taken as +1: the update keeps
        // bit 63 of vp set and of vn clear, as it makes bit 63 of hp clear.
        let vn0: u64 = if top >= 63 {
            !0
        } else {
            (1u64 << (top + 1)) - 1
        };
        let (mut vp, mut vn) = ((!vn0 >> 1) | (1 << 63), vn0 >> 1);
        let mut diag = n - m;
        for (j, &c) in t.iter().enumerate() {
            // Column j + 1 holds rows from j + 1 - top: bit j + 64 - top.
            let start = j + 64 - top;
            let (w, sh) = (start / 64, start % 64);
            let words = table.pair(c.idx(), w);
            let eq = (words[0] >> sh) | ((words[1] << 1) << (63 - sh));
            let x = eq | vn;
            let d0 = ((eq & vp).wrapping_add(vp) ^ vp) | x;
            let hp = vn | !(d0 | vp);
            let hn = vp & d0;
            // The final diagonal is bit h; it grows where D0 has no match.
            diag += ((d0 >> h) & 1 ^ 1) as usize;
            if diag > k {
                return Err(j + 1);
            }
            // The new vertical deltas are `hp << 1 | 1` and `hn << 1`
            // against D0, slid down one row: the shifts cancel.
            let d0 = d0 >> 1;
            vp = hn | !(d0 | hp);
            vn = d0 & hp;
            debug_assert!(vp >> 63 == 1 && vn >> 63 == 0);
        }
        Ok(diag)
    }

    /// One block of 64 rows of one column: vertical deltas, the value of
    /// its bottom row, and where the diagonal delta was zero.
    #[derive(Clone, Copy, Debug)]
    struct Block {
        vp: u64,
        vn: u64,
        d0: u64,
        score: usize,
    }

    /// Advances one block by one column, with the horizontal delta entering
    /// at its top (`hp_in`/`hn_in`) and leaving at bit `out` (its last row).
    #[inline(always)]
    fn advance(block: &mut Block, eq: u64, hp_in: &mut u64, hn_in: &mut u64, out: u32) {
        let (vp, vn) = (block.vp, block.vn);
        let x = eq | *hn_in;
        let d0 = ((x & vp).wrapping_add(vp) ^ vp) | x | vn;
        let hp = vn | !(d0 | vp);
        let hn = d0 & vp;
        block.d0 = d0;
        let (hp_out, hn_out) = ((hp >> out) & 1, (hn >> out) & 1);
        block.score = block.score + hp_out as usize - hn_out as usize;
        let hp = (hp << 1) | *hp_in;
        let hn = (hn << 1) | *hn_in;
        block.vp = hn | !(d0 | hp);
        block.vn = hp & d0;
        *hp_in = hp_out;
        *hn_in = hn_out;
    }

    /// Myers' blocks of 64 rows, restricted to Ukkonen's band of `k`.
    ///
    /// A cell `(i, j)` can only lie on a path of cost at most `k` if
    /// `D[i][j] + |i - j - (m - n)| ≤ k` (the rest of the path must come
    /// back to the final diagonal), and both terms never decrease along a
    /// diagonal. So, per column: a top block leaves the band for good once
    /// all its cells fail this test, so does a bottom block (it may come
    /// back), and the next block joins only while the last block's bottom
    /// cell passes it (besides the static band of [`band`]). The test is
    /// exact per block: above the final diagonal, `D + offset` is smallest
    /// at a block's bottom row; below it, at its top row.
    ///
    /// Cells outside the band are taken as large as they can be (a
    /// dropped block gives +1 to the one below, a new block starts with +1
    /// per row): this only raises values, never those of cells whose best
    /// path stays in the band, so every decision above is sound.
    ///
    /// `Ok(distance)`, or `Err(column)` where the distance was seen to
    /// exceed `k`.
    fn banded_blocks<S: Sym>(
        table: &Table,
        m: usize,
        t: &[S],
        k: usize,
        blocks: &mut Vec<Block>,
    ) -> Result<usize, usize> {
        let n = t.len();
        let nb = table.blocks;
        let (top, h) = band(m, n, k);
        let gap = n - m;
        let last_rows = m - 64 * (nb - 1);
        let last_out = (last_rows - 1) as u32;
        // Rows are 1-based: block b holds rows 64b + 1 ..= bottom(b).
        let bottom = |b: usize| (64 * (b + 1)).min(m);
        let fresh = Block {
            vp: !0,
            vn: 0,
            d0: 0,
            score: 0,
        };
        blocks.clear();
        blocks.resize(nb, fresh);
        let mut lb = ((1 + h).min(m) - 1) / 64;
        for (b, block) in blocks.iter_mut().enumerate().take(lb + 1) {
            block.score = bottom(b);
        }
        let mut fb = 0;
        // The value on the final diagonal, from D[0][gap] = gap on.
        let mut diag = gap;
        for (j0, &c) in t.iter().enumerate() {
            let j = j0 + 1;
            fb = fb.max((j.saturating_sub(top).max(1) - 1) / 64);
            let words = &table.symbol(c.idx())[1..=nb];
            let (mut hp_in, mut hn_in) = (1u64, 0u64);
            let end = if lb == nb - 1 { lb } else { lb + 1 };
            for (block, &eq) in blocks[fb..end].iter_mut().zip(&words[fb..end]) {
                advance(block, eq, &mut hp_in, &mut hn_in, 63);
            }
            if lb == nb - 1 {
                advance(&mut blocks[lb], words[lb], &mut hp_in, &mut hn_in, last_out);
            }
            // The cell on the final diagonal, row j - gap: it never
            // decreases along the diagonal, so it bounds the distance.
            let diag_row = j as isize - gap as isize;
            if diag_row >= 1 {
                let r = diag_row as usize - 1;
                diag += ((blocks[r / 64].d0 >> (r % 64)) & 1 ^ 1) as usize;
                if diag > k {
                    return Err(j);
                }
            }
            // Top blocks wholly above the final diagonal.
            while fb < lb && (bottom(fb) as isize) < diag_row {
                let off = (diag_row - bottom(fb) as isize) as usize;
                if blocks[fb].score + off <= k {
                    break;
                }
                fb += 1;
            }
            // Bottom blocks wholly below it (the value of a block's top row
            // is the bottom of the one above and a vertical delta).
            while lb > fb && ((64 * lb + 1) as isize) > diag_row {
                let off = ((64 * lb + 1) as isize - diag_row) as usize;
                let block = &blocks[lb];
                let value =
                    blocks[lb - 1].score + (block.vp & 1) as usize - (block.vn & 1) as usize;
                if value + off <= k {
                    break;
                }
                lb -= 1;
            }
            // The next block, for the next column.
            if lb + 1 < nb && 64 * (lb + 1) < j + 1 + h {
                let r1 = bottom(lb);
                let off = (r1 as isize - diag_row).unsigned_abs();
                if blocks[lb].score + off <= k {
                    lb += 1;
                    blocks[lb] = Block {
                        score: blocks[lb - 1].score + bottom(lb) - 64 * lb,
                        ..fresh
                    };
                }
            }
        }
        let d = blocks[nb - 1].score;
        if lb == nb - 1 && d <= k {
            Ok(d)
        } else {
            Err(n)
        }
    }
}

/// Texts that are not all ASCII: their characters as ids in a compact
/// alphabet.
mod alphabet {
    /// Strips the common prefix and suffix, at character boundaries.
    pub(super) fn strip_affix<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
        let mut pre = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        // The same bytes before `pre` in both: a boundary in one (the length
        // of a character is in its first byte) is one in the other.
        while !a.is_char_boundary(pre) {
            pre -= 1;
        }
        let (a, b) = (&a[pre..], &b[pre..]);
        let mut suf = a
            .bytes()
            .rev()
            .zip(b.bytes().rev())
            .take_while(|(x, y)| x == y)
            .count();
        while !a.is_char_boundary(a.len() - suf) {
            suf -= 1;
        }
        (&a[..a.len() - suf], &b[..b.len() - suf])
    }

    /// The ids of `p`'s characters (from 1, by first appearance) and of
    /// `t`'s (0 for those not in `p`), and the alphabet size. `m` and `n`
    /// are their lengths in characters.
    pub(super) fn encode(p: &str, m: usize, t: &str, n: usize) -> (Vec<u32>, Vec<u32>, usize) {
        let mut map = CharMap::new();
        let mut ps = Vec::with_capacity(m);
        ps.extend(p.chars().map(|c| map.insert(c)));
        let mut ts = Vec::with_capacity(n);
        ts.extend(t.chars().map(|c| map.get(c)));
        (ps, ts, map.next as usize)
    }

    /// Char to id: a direct table below U+0100, open addressing above (at
    /// most half full).
    struct CharMap {
        latin1: [u32; 256],
        keys: Vec<u32>,
        ids: Vec<u32>,
        wide: usize,
        next: u32,
    }

    const EMPTY: u32 = u32::MAX;

    impl CharMap {
        fn new() -> Self {
            CharMap {
                latin1: [0; 256],
                keys: vec![EMPTY; 32],
                ids: vec![0; 32],
                wide: 0,
                next: 1,
            }
        }

        #[inline]
        fn slot(keys: &[u32], c: u32) -> usize {
            (c.wrapping_mul(0x9E37_79B1) >> 7) as usize & (keys.len() - 1)
        }

        fn insert(&mut self, c: char) -> u32 {
            let c = c as u32;
            if c < 256 {
                let id = &mut self.latin1[c as usize];
                if *id == 0 {
                    *id = self.next;
                    self.next += 1;
                }
                return *id;
            }
            let mut i = Self::slot(&self.keys, c);
            loop {
                if self.keys[i] == c {
                    return self.ids[i];
                }
                if self.keys[i] == EMPTY {
                    break;
                }
                i = (i + 1) & (self.keys.len() - 1);
            }
            if 2 * (self.wide + 1) > self.keys.len() {
                self.grow();
                i = Self::slot(&self.keys, c);
                while self.keys[i] != EMPTY {
                    i = (i + 1) & (self.keys.len() - 1);
                }
            }
            self.keys[i] = c;
            self.ids[i] = self.next;
            self.wide += 1;
            self.next += 1;
            self.ids[i]
        }

        fn grow(&mut self) {
            let size = 2 * self.keys.len();
            let keys = std::mem::replace(&mut self.keys, vec![EMPTY; size]);
            let ids = std::mem::replace(&mut self.ids, vec![0; size]);
            for (c, id) in keys.into_iter().zip(ids).filter(|&(c, _)| c != EMPTY) {
                let mut i = Self::slot(&self.keys, c);
                while self.keys[i] != EMPTY {
                    i = (i + 1) & (size - 1);
                }
                self.keys[i] = c;
                self.ids[i] = id;
            }
        }

        #[inline]
        fn get(&self, c: char) -> u32 {
            let c = c as u32;
            if c < 256 {
                return self.latin1[c as usize];
            }
            let mut i = Self::slot(&self.keys, c);
            loop {
                if self.keys[i] == c {
                    return self.ids[i];
                }
                if self.keys[i] == EMPTY {
                    return 0;
                }
                i = (i + 1) & (self.keys.len() - 1);
            }
        }
    }
}

/// Distance, similarity and thresholds.
mod metric {
    /// `1 - d / len`; 1 when `len` is 0.
    pub(super) fn similarity(d: usize, len: usize) -> f64 {
        if len == 0 {
            1.0
        } else {
            1.0 - d as f64 / len as f64
        }
    }

    /// The largest distance `d ≤ len` whose similarity satisfies `keep`
    /// (which must hold for all smaller ones too), if any; `guess` is
    /// where to start looking.
    pub(super) fn largest_distance(
        len: usize,
        guess: f64,
        keep: impl Fn(f64) -> bool,
    ) -> Option<usize> {
        let ok = |d: usize| keep(similarity(d, len));
        let mut d = if guess.is_finite() && guess > 0.0 {
            (guess.floor() as usize).min(len)
        } else {
            0
        };
        while d < len && ok(d + 1) {
            d += 1;
        }
        loop {
            if ok(d) {
                return Some(d);
            }
            d = d.checked_sub(1)?;
        }
    }

    /// Appends a similarity for a rationale: four decimals at most
    /// (`format!("{s:.4}")` without its trailing zeros).
    pub(super) fn show(out: &mut String, s: f64) {
        let start = out.len();
        verdict_plugin::decimal::push_fixed(out, s, 4);
        let kept = out[start..]
            .trim_end_matches('0')
            .trim_end_matches('.')
            .len();
        out.truncate(start + kept);
    }
}

/// Scores the Levenshtein distance between the output and the expectation;
/// see the crate documentation for its config.
#[derive(Clone, Debug)]
pub struct EditDistance {
    expectation: String,
    report: Metric,
    threshold: Option<Threshold>,
    output: Output,
    /// A `min_similarity` as a rationale gives it (`{min}`), and as a
    /// similarity is shown: written once, not per record.
    min_text: String,
    min_shown: String,
}

/// A number the scorer can report or compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Metric {
    Similarity,
    Distance,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Threshold {
    MaxDistance(usize),
    MinSimilarity(f64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    Score,
    Pass,
}

/// The best expectation item found so far.
#[derive(Clone, Copy, Debug)]
struct Found {
    index: usize,
    distance: usize,
    len: usize,
}

impl Threshold {
    fn metric(self) -> Metric {
        match self {
            Threshold::MaxDistance(_) => Metric::Distance,
            Threshold::MinSimilarity(_) => Metric::Similarity,
        }
    }

    /// The largest distance that passes, for texts of at most `len` chars.
    fn max_distance(self, len: usize) -> usize {
        match self {
            Threshold::MaxDistance(k) => k,
            Threshold::MinSimilarity(min) => {
                self::metric::largest_distance(len, (1.0 - min) * len as f64, |s| s >= min)
                    .unwrap_or(0)
            }
        }
    }
}

impl EditDistance {
    /// Appends the clause of a rationale: `distance 3 ≤ max 5`.
    fn clause(&self, threshold: Threshold, found: Option<&Found>, out: &mut String) {
        use verdict_plugin::decimal::push_uint;
        let pass = found.is_some_and(|f| f.distance <= threshold.max_distance(f.len));
        match (threshold, found) {
            (Threshold::MaxDistance(k), found) => {
                out.push_str("distance ");
                match found {
                    Some(f) => {
                        push_uint(out, f.distance as u64);
                        out.push_str(if pass { " ≤" } else { " >" });
                    }
                    None => out.push('>'),
                }
                out.push_str(" max ");
                push_uint(out, k as u64);
            }
            (Threshold::MinSimilarity(min), found) => {
                out.push_str("similarity ");
                match found {
                    Some(f) => {
                        let s = self::metric::similarity(f.distance, f.len);
                        let start = out.len();
                        self::metric::show(out, s);
                        // Shown as the minimum, yet not equal to it: in full.
                        if out[start..] == self.min_shown && s != min {
                            out.truncate(start);
                            let _ = write!(out, "{s}");
                        }
                        out.push_str(if pass { " ≥" } else { " <" });
                    }
                    None => out.push('<'),
                }
                out.push_str(" min ");
                out.push_str(&self.min_text);
            }
        }
    }

    /// Whether a distance `d` over `len` chars beats `best` in `metric`
    /// (strictly: the first of equals wins), as the largest distance that
    /// still does (`None`: none does).
    fn beating(metric: Metric, best: &Found, len: usize) -> Option<usize> {
        match metric {
            Metric::Distance => best.distance.checked_sub(1),
            Metric::Similarity => {
                let s = self::metric::similarity(best.distance, best.len);
                self::metric::largest_distance(len, (1.0 - s) * len as f64, |x| x > s)
            }
        }
    }

    /// The best item of `items` against `output` in `metric` (the first of
    /// equals). With a `cap`, only items that pass it are looked for, and
    /// the search for each stops as soon as it must exceed it: `None` when
    /// none passes. Without one, every item is scored.
    fn best(
        output: &str,
        items: &[Cow<'_, str>],
        metric: Metric,
        cap: Option<Threshold>,
    ) -> Option<Found> {
        let (out_len, out_ascii) = char_len(output);
        let mut best: Option<Found> = None;
        for (index, item) in items.iter().enumerate() {
            let (item_len, item_ascii) = char_len(item);
            let len = out_len.max(item_len);
            let mut limit = usize::MAX;
            if let Some(best) = &best {
                match Self::beating(metric, best, len) {
                    Some(d) => limit = d,
                    None => continue,
                }
            }
            if let Some(cap) = cap {
                limit = limit.min(cap.max_distance(len));
            }
            if let Some(distance) = bounded(output, item, out_ascii && item_ascii, limit) {
                best = Some(Found {
                    index,
                    distance,
                    len,
                });
            }
        }
        best
    }
}

impl Scorer for EditDistance {
    const NAME: &'static str = "edit_distance";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "The Levenshtein distance or similarity between the output and the expectation.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "report",
            "one of: similarity, distance",
            "similarity",
            "the number to report: 1 - distance / max_len in characters (1.0 for two empty texts), or the distance",
        ),
        ConfigKey::new(
            "max_distance",
            "integer",
            "none",
            "passes when the distance is at most this; not with min_similarity",
        ),
        ConfigKey::new(
            "min_similarity",
            "number, 0 to 1",
            "none",
            "passes when the similarity is at least this; not with max_distance",
        ),
        ConfigKey::new(
            "output",
            "one of: score, pass",
            "score",
            "the value: the reported number (a threshold adds its verdict beside it and to the rationale), or whether it passes (needs a threshold)",
        ),
        ConfigKey::new(
            "expectation",
            "string",
            "expected_response",
            "the expectation to compare with; a JSON list scores its best item",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let report = match config.one_of("report", &["similarity", "distance"])? {
            Some("distance") => Metric::Distance,
            _ => Metric::Similarity,
        };
        let max_distance = config.u64("max_distance")?;
        let min_similarity = config.f64_in("min_similarity", 0.0, 1.0)?;
        let threshold = match (max_distance, min_similarity) {
            (Some(_), Some(_)) => {
                return Err(config.error(
                    "min_similarity",
                    "cannot be combined with max_distance: set one threshold",
                ));
            }
            (Some(k), None) => Some(Threshold::MaxDistance(
                usize::try_from(k).unwrap_or(usize::MAX),
            )),
            (None, Some(min)) => Some(Threshold::MinSimilarity(min)),
            (None, None) => None,
        };
        let output = match config.one_of("output", &["score", "pass"])? {
            Some("pass") if threshold.is_none() => {
                return Err(config.error(
                    "output",
                    "\"pass\" needs a threshold: set max_distance or min_similarity",
                ));
            }
            Some("pass") => Output::Pass,
            _ => Output::Score,
        };
        let expectation = config.expectation("expected_response")?;
        let (min_text, min_shown) = match threshold {
            Some(Threshold::MinSimilarity(min)) => {
                let mut shown = String::new();
                self::metric::show(&mut shown, min);
                (min.to_string(), shown)
            }
            _ => Default::default(),
        };
        Ok(EditDistance {
            expectation: expectation.to_owned(),
            report,
            threshold,
            output,
            min_text,
            min_shown,
        })
    }

    verdict_plugin::score_by_writing_rationale!();

    fn score_writing_rationale(&self, record: &Record<'_>, rationale: &mut String) -> Outcome {
        let judged = self.judge(record)?;
        self.explain(&judged, rationale);
        Ok(self.score_of(&judged))
    }

    fn score_value(&self, record: &Record<'_>, _: &mut String) -> Outcome {
        self.judge(record).map(|judged| self.score_of(&judged))
    }
}

/// What the scorer found for one record, before it is scored and put in
/// words.
struct Judged {
    /// How many expected texts there were.
    items: usize,
    found: Judgment,
}

enum Judgment {
    /// `output: pass`: the first item within the threshold, if any.
    Passes(Option<Found>),
    /// The best item in the reported metric; with a threshold, whether the
    /// record passes, and the other item that makes it pass when the best
    /// does not (the threshold measures the other metric).
    Best {
        best: Found,
        pass: Option<bool>,
        other: Option<Found>,
    },
}

impl EditDistance {
    /// Compares the output with each expected text.
    fn judge(&self, record: &Record<'_>) -> Result<Judged, ScoreError> {
        let name = self.expectation.as_str();
        let expected = record
            .expectation(name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| ScoreError::missing_expectation(name))?;
        // A list's items, or the one text (`Value::texts`, without a list
        // for a single text).
        let list = expected.list_texts();
        let single = [Cow::Borrowed(expected.text())];
        let items: &[Cow<'_, str>] = list.as_deref().unwrap_or(&single);
        if items.is_empty() {
            return Err(ScoreError::new(
                "EMPTY_EXPECTATION",
                format!("the expectation {name:?} is an empty list"),
            ));
        }
        let output = record.outputs.text();
        let found = if let (Output::Pass, Some(threshold)) = (self.output, self.threshold) {
            // Only whether some item passes counts: the search stops at the
            // threshold.
            Judgment::Passes(Self::best(
                output,
                items,
                threshold.metric(),
                Some(threshold),
            ))
        } else {
            // The value is the best item in the reported metric, whatever
            // the threshold: a threshold decides whether the record passes,
            // not which answer counts as best.
            let best = Self::best(output, items, self.report, None)
                .expect("without a cap, every item is scored");
            // The record passes when any item is within the threshold: the
            // best in the reported metric, or else (the threshold measures
            // the other metric) another one.
            let (pass, other) = match self.threshold {
                None => (None, None),
                Some(threshold) if best.distance <= threshold.max_distance(best.len) => {
                    (Some(true), None)
                }
                Some(threshold) if threshold.metric() != self.report => {
                    let other = Self::best(output, items, threshold.metric(), Some(threshold));
                    (Some(other.is_some()), other)
                }
                Some(_) => (Some(false), None),
            };
            Judgment::Best { best, pass, other }
        };
        Ok(Judged {
            items: items.len(),
            found,
        })
    }

    /// The score of what was found.
    fn score_of(&self, judged: &Judged) -> Score {
        match judged.found {
            Judgment::Passes(found) => Score::bool(found.is_some()),
            Judgment::Best { best, pass, .. } => {
                let value = match self.report {
                    Metric::Distance => best.distance as f64,
                    Metric::Similarity => self::metric::similarity(best.distance, best.len),
                };
                match pass {
                    Some(pass) => Score::number(value).with_passed(pass),
                    None => Score::number(value),
                }
            }
        }
    }

    /// Writes why: `distance 3 over 240 chars: similarity 0.9875`,
    /// `distance 3 ≤ max 5: pass`.
    fn explain(&self, judged: &Judged, rationale: &mut String) {
        use verdict_plugin::decimal::push_uint;
        let items = judged.items;
        let several = |found: &Found, out: &mut String| {
            if items > 1 {
                out.push_str("best of ");
                push_uint(out, items as u64);
                out.push_str(" expectations (#");
                push_uint(out, found.index as u64 + 1);
                out.push_str("): ");
            }
        };
        let pass = match judged.found {
            Judgment::Passes(found) => {
                let threshold = self.threshold.expect("`output: pass` needs a threshold");
                match &found {
                    Some(f) => several(f, rationale),
                    None if items > 1 => {
                        rationale.push_str("none of ");
                        push_uint(rationale, items as u64);
                        rationale.push_str(" expectations passes: ");
                    }
                    None => {}
                }
                self.clause(threshold, found.as_ref(), rationale);
                found.is_some()
            }
            Judgment::Best { best, pass, other } => {
                several(&best, rationale);
                let (Some(threshold), Some(pass)) = (self.threshold, pass) else {
                    rationale.push_str("distance ");
                    push_uint(rationale, best.distance as u64);
                    rationale.push_str(" over ");
                    push_uint(rationale, best.len as u64);
                    rationale.push_str(" chars: similarity ");
                    self::metric::show(
                        rationale,
                        self::metric::similarity(best.distance, best.len),
                    );
                    return;
                };
                self.clause(threshold, Some(&best), rationale);
                if let Some(other) = other {
                    rationale.push_str("; #");
                    push_uint(rationale, other.index as u64 + 1);
                    rationale.push_str(" passes: ");
                    self.clause(threshold, Some(&other), rationale);
                }
                pass
            }
        };
        rationale.push_str(if pass { ": pass" } else { ": fail" });
    }
}

/// Generated texts and the textbook distance, for this crate's tests and
/// for the benches: not part of the API.
#[doc(hidden)]
pub mod testdata {
    /// The Levenshtein distance by the textbook table, over chars: the
    /// reference the fast algorithms are checked against.
    pub fn reference(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut diag = row[0];
            row[0] = i + 1;
            for (j, &cb) in b.iter().enumerate() {
                let next = (diag + usize::from(ca != cb))
                    .min(row[j] + 1)
                    .min(row[j + 1] + 1);
                diag = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[b.len()]
    }

    /// Where generated characters come from.
    #[derive(Clone, Copy, Debug)]
    pub enum Alphabet {
        /// These characters, each equally likely (repeat one to weight it).
        Chars(&'static [char]),
        /// Printable ASCII, `' '` to `'~'`.
        PrintableAscii,
        /// Any Unicode scalar value below U+20000: many distinct ones.
        Unicode,
    }

    impl Alphabet {
        /// The alphabets the tests go through: two letters, four (DNA),
        /// ASCII letters, digits and marks, a Unicode mix (combining mark,
        /// CJK, emoji, ZWJ), printable ASCII, any Unicode.
        pub const ALL: [Alphabet; 6] = [
            Alphabet::Chars(&['a', 'b']),
            Alphabet::Chars(&['a', 'c', 'g', 't']),
            Alphabet::Chars(&[
                'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p',
                ' ', '.', 'X', 'Y', 'Z', '0', '1', '2',
            ]),
            Alphabet::Chars(&[
                'a', 'é', 'e', '\u{301}', '東', '京', '😀', '\u{200d}', '👩', 'ß', 'Ω',
            ]),
            Alphabet::PrintableAscii,
            Alphabet::Unicode,
        ];
    }

    /// SplitMix64: a deterministic generator with no dependency.
    #[derive(Clone, Debug)]
    pub struct Rng(pub u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// A number below `n`.
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }

        /// A character of `alphabet`.
        pub fn char(&mut self, alphabet: Alphabet) -> char {
            match alphabet {
                Alphabet::Chars(chars) => chars[self.below(chars.len())],
                Alphabet::PrintableAscii => char::from(b' ' + self.below(95) as u8),
                Alphabet::Unicode => loop {
                    if let Some(c) = char::from_u32(self.below(0x2_0000) as u32) {
                        break c;
                    }
                },
            }
        }

        /// A text of `len` characters of `alphabet`.
        pub fn text(&mut self, len: usize, alphabet: Alphabet) -> String {
            (0..len).map(|_| self.char(alphabet)).collect()
        }

        /// `text` with about `rate` percent of its characters edited.
        pub fn mutate(&mut self, text: &str, rate: usize, alphabet: Alphabet) -> String {
            let mut out = String::new();
            for c in text.chars() {
                if self.below(100) >= rate {
                    out.push(c);
                } else {
                    self.edit(c, alphabet, &mut out);
                }
            }
            out
        }

        /// A text of `len` characters and a copy with exactly `len / 10`
        /// of them edited, at distinct positions.
        pub fn edited_pair(&mut self, len: usize, alphabet: Alphabet) -> (String, String) {
            let a: Vec<char> = (0..len).map(|_| self.char(alphabet)).collect();
            let mut edited = vec![false; len];
            let mut edits = 0;
            while edits < len / 10 {
                let i = self.below(len);
                if !edited[i] {
                    edited[i] = true;
                    edits += 1;
                }
            }
            let mut b = String::new();
            for (&c, &edit) in a.iter().zip(&edited) {
                if edit {
                    self.edit(c, alphabet, &mut b);
                } else {
                    b.push(c);
                }
            }
            (a.into_iter().collect(), b)
        }

        /// Writes `c` to `out` with one random edit: substituted, deleted,
        /// or followed by an insertion.
        fn edit(&mut self, c: char, alphabet: Alphabet, out: &mut String) {
            match self.below(3) {
                0 => out.push(self.char(alphabet)),
                1 => {}
                _ => {
                    out.push(c);
                    out.push(self.char(alphabet));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use verdict_plugin::{NamedValue, Record, Score, ScoreError, ScoreValue, Scorer, Value};

    use super::testdata::{Alphabet, Rng, reference};
    use super::{EditDistance, levenshtein, levenshtein_bounded, similarity};

    fn check_pair(a: &str, b: &str, rng: &mut Rng) {
        let d = reference(a, b);
        assert_eq!(levenshtein(a, b), d, "{a:?} {b:?}");
        assert_eq!(levenshtein(b, a), d, "{b:?} {a:?}");
        let len = a.chars().count().max(b.chars().count());
        let mut maxes = vec![0, 1, d.saturating_sub(1), d, d + 1, len, usize::MAX];
        maxes.push(rng.below(len + 2));
        maxes.push(d.saturating_sub(1 + rng.below(d + 1)));
        maxes.push(d + rng.below(len + 1));
        for max in maxes {
            let expected = (d <= max).then_some(d);
            assert_eq!(
                levenshtein_bounded(a, b, max),
                expected,
                "{a:?} {b:?} max {max}"
            );
            assert_eq!(
                levenshtein_bounded(b, a, max),
                expected,
                "{b:?} {a:?} max {max}"
            );
        }
    }

    /// The common prefix and suffix of ASCII texts, found eight bytes a
    /// step, are those a byte loop finds.
    #[test]
    fn common_affixes_are_those_of_the_byte_loop() {
        use super::bitpar::Sym;
        let mut rng = Rng(11);
        for round in 0..20_000 {
            let shared = rng.below(30);
            let shared = rng.text(shared, Alphabet::ALL[0]);
            let (x, y) = (rng.below(20), rng.below(20));
            let (a, b) = match round % 3 {
                0 => (
                    format!("{shared}{}", rng.text(x, Alphabet::ALL[0])),
                    format!("{shared}{}", rng.text(y, Alphabet::ALL[0])),
                ),
                1 => (
                    format!("{}{shared}", rng.text(x, Alphabet::ALL[0])),
                    format!("{}{shared}", rng.text(y, Alphabet::ALL[0])),
                ),
                _ => (rng.text(x, Alphabet::ALL[0]), shared.clone()),
            };
            let (a, b) = (a.as_bytes(), b.as_bytes());
            let prefix = a.iter().zip(b).take_while(|(p, q)| p == q).count();
            let suffix = a
                .iter()
                .rev()
                .zip(b.iter().rev())
                .take_while(|(p, q)| p == q)
                .count();
            assert_eq!(u8::common_prefix(a, b), prefix, "{a:?} {b:?}");
            assert_eq!(u8::common_suffix(a, b), suffix, "{a:?} {b:?}");
        }
    }

    #[test]
    fn hand_worked() {
        let cases = [
            ("", "", 0),
            ("", "abc", 3),
            ("abc", "", 3),
            ("abc", "abc", 0),
            ("kitten", "sitting", 3),
            ("flaw", "lawn", 2),
            ("saturday", "sunday", 3),
            ("intention", "execution", 5),
            ("a", "b", 1),
            ("ab", "ba", 2),
            ("abcdef", "azced", 3),
            // Combining marks are characters of their own: substitute e by
            // é, delete U+0301.
            ("e\u{301}", "\u{e9}", 2),
            ("caf\u{e9}", "cafe\u{301}", 2),
            ("e\u{301}", "e", 1),
            // Emoji: a ZWJ sequence is several scalar values.
            ("👩\u{200d}💻", "👩", 2),
            ("👨\u{200d}👩\u{200d}👧", "👨\u{200d}👩\u{200d}👦", 1),
            ("👍", "👎", 1),
            ("👍🏽", "👍", 1),
            // CJK.
            ("東京都", "京都", 1),
            ("北京", "東京", 1),
            ("日本語のテキスト", "日本語テキスト", 1),
            ("ß", "ss", 2),
        ];
        for (a, b, d) in cases {
            assert_eq!(levenshtein(a, b), d, "{a:?} {b:?}");
            assert_eq!(levenshtein(b, a), d, "{b:?} {a:?}");
            assert_eq!(reference(a, b), d, "reference {a:?} {b:?}");
            assert_eq!(levenshtein_bounded(a, b, d), Some(d));
            if d > 0 {
                assert_eq!(levenshtein_bounded(a, b, d - 1), None);
            }
        }
    }

    #[test]
    fn similarity_is_normalized() {
        assert_eq!(similarity("", ""), 1.0);
        assert_eq!(similarity("abc", ""), 0.0);
        assert_eq!(similarity("abc", "abc"), 1.0);
        assert_eq!(similarity("abcd", "abce"), 0.75);
        assert_eq!(similarity("東京都", "京都"), 1.0 - 1.0 / 3.0);
    }

    #[test]
    fn long_texts() {
        let a = "a".repeat(1000);
        let b = "b".repeat(1000);
        assert_eq!(levenshtein(&a, &b), 1000);
        assert_eq!(levenshtein_bounded(&a, &b, 999), None);
        assert_eq!(levenshtein(&a, &format!("{a}{b}")), 1000);
        assert_eq!(levenshtein(&a, &a[1..]), 1);
        let c = "x".repeat(65);
        assert_eq!(levenshtein(&c, &format!("y{c}")), 1);
        assert_eq!(levenshtein(&format!("y{c}z"), &format!("z{c}y")), 2);
    }

    /// Shifted copies: the best path runs far from the final diagonal (all
    /// insertions first and deletions last, or the reverse), through blocks
    /// wholly above or below it, at a cost of exactly the bound.
    #[test]
    fn shifted_copies_at_the_bound() {
        let mut rng = Rng(0x51F7);
        for (shared, shift) in [
            (150, 80),
            (300, 70),
            (200, 130),
            (100, 20),
            (500, 200),
            (90, 40),
        ] {
            for alphabet in [2, 3, 4, 5] {
                let s = rng.text(shared, Alphabet::ALL[alphabet]);
                let x = rng.text(shift, Alphabet::ALL[0]);
                let extra = rng.below(3);
                let y = rng.text(shift + extra, Alphabet::ALL[0]);
                for (a, b) in [
                    (format!("{s}{x}"), format!("{y}{s}")),
                    (format!("{x}{s}"), format!("{s}{y}")),
                    (format!("{x}{s}"), s.clone()),
                    (format!("{s}{x}{s}"), format!("{y}{s}{s}")),
                ] {
                    check_pair(&a, &b, &mut rng);
                }
            }
        }
    }

    #[test]
    fn agrees_with_the_table_on_generated_pairs() {
        let mut rng = Rng(0x5EED);
        let mut pairs = 0;
        for round in 0..3000 {
            let alphabet = round % 6;
            let len = match round % 10 {
                0..=5 => rng.below(70),
                6 | 7 => 60 + rng.below(80),
                _ => rng.below(300),
            };
            let a = rng.text(len, Alphabet::ALL[alphabet]);
            let b = match round % 4 {
                0 => {
                    let len = rng.below(len + 10);
                    rng.text(len, Alphabet::ALL[alphabet])
                }
                1 => rng.mutate(&a, 3, Alphabet::ALL[alphabet]),
                2 => rng.mutate(&a, 15, Alphabet::ALL[alphabet]),
                _ => rng.mutate(&a, 40, Alphabet::ALL[alphabet]),
            };
            check_pair(&a, &b, &mut rng);
            pairs += 1;
        }
        assert_eq!(pairs, 3000);
    }

    #[test]
    fn agrees_with_the_table_on_long_pairs() {
        let mut rng = Rng(0xB16);
        for round in 0..24 {
            let alphabet = round % 6;
            let len = 1500 + rng.below(700);
            let a = rng.text(len, Alphabet::ALL[alphabet]);
            let b = match round % 3 {
                0 => rng.mutate(&a, 10, Alphabet::ALL[alphabet]),
                1 => rng.mutate(&a, 2, Alphabet::ALL[alphabet]),
                _ => {
                    let len = len - rng.below(300);
                    rng.text(len, Alphabet::ALL[alphabet])
                }
            };
            check_pair(&a, &b, &mut rng);
        }
    }

    fn record_score(
        config: &str,
        output: Value<'_>,
        expected: Value<'_>,
    ) -> Result<Score, ScoreError> {
        let expectations = [NamedValue::new("expected_response", expected)];
        let record = Record::new(Value::NULL, output, &expectations);
        let scorer = EditDistance::from_json(config).unwrap();
        let score = scorer.score(&record);
        // Every case checks the value alone as well: the same score, no
        // rationale.
        let value = scorer.score_value(&record, &mut String::new());
        let without = score.clone().map(|score| Score {
            rationale: None,
            ..score
        });
        assert_eq!(value, without, "{config}: the value alone");
        score
    }

    fn check(config: &str, output: &str, expected: &str, value: ScoreValue, rationale: &str) {
        let score = record_score(config, Value::string(output), Value::string(expected)).unwrap();
        assert_eq!(score.value, value, "{config} {output:?} {expected:?}");
        assert_eq!(
            score.rationale.as_deref(),
            Some(rationale),
            "{config} {output:?} {expected:?}"
        );
    }

    #[test]
    fn reports_similarity_by_default() {
        check(
            "",
            "kitten",
            "sitting",
            ScoreValue::Number(1.0 - 3.0 / 7.0),
            "distance 3 over 7 chars: similarity 0.5714",
        );
        check(
            "{}",
            "",
            "",
            ScoreValue::Number(1.0),
            "distance 0 over 0 chars: similarity 1",
        );
        check(
            r#"{"report": "distance"}"#,
            "東京都",
            "京都",
            ScoreValue::Number(1.0),
            "distance 1 over 3 chars: similarity 0.6667",
        );
    }

    #[test]
    fn thresholds_add_a_verdict() {
        let max5 = r#"{"report": "distance", "max_distance": 5}"#;
        check(
            max5,
            "kitten",
            "sitting",
            ScoreValue::Number(3.0),
            "distance 3 ≤ max 5: pass",
        );
        check(
            max5,
            "abcdefgh",
            "",
            ScoreValue::Number(8.0),
            "distance 8 > max 5: fail",
        );
        let max3 = r#"{"max_distance": 3}"#;
        check(
            max3,
            "kitten",
            "sitting",
            ScoreValue::Number(4.0 / 7.0),
            "distance 3 ≤ max 3: pass",
        );
        let min = r#"{"min_similarity": 0.9}"#;
        check(
            min,
            "abcdefghij",
            "abcdefghiX",
            ScoreValue::Number(0.9),
            "similarity 0.9 ≥ min 0.9: pass",
        );
        check(
            min,
            "abcdefghij",
            "abcdefghXX",
            ScoreValue::Number(0.8),
            "similarity 0.8 < min 0.9: fail",
        );
    }

    #[test]
    fn output_pass_gives_a_bool() {
        let max = r#"{"max_distance": 3, "output": "pass"}"#;
        check(
            max,
            "kitten",
            "sitting",
            ScoreValue::Bool(true),
            "distance 3 ≤ max 3: pass",
        );
        check(
            max,
            "kitten",
            "sittinggg",
            ScoreValue::Bool(false),
            "distance > max 3: fail",
        );
        let min = r#"{"min_similarity": 0.5, "output": "pass"}"#;
        check(
            min,
            "abcd",
            "abXY",
            ScoreValue::Bool(true),
            "similarity 0.5 ≥ min 0.5: pass",
        );
        check(
            min,
            "abcd",
            "aXYZ",
            ScoreValue::Bool(false),
            "similarity < min 0.5: fail",
        );
        check(
            r#"{"min_similarity": 1, "output": "pass"}"#,
            "",
            "",
            ScoreValue::Bool(true),
            "similarity 1 ≥ min 1: pass",
        );
    }

    #[test]
    fn lists_keep_the_best_item() {
        let list = Value::json(r#"["kitten", "sitting", "mitten", 42]"#);
        let score =
            record_score(r#"{"report": "distance"}"#, Value::string("bitten"), list).unwrap();
        assert_eq!(score.value, ScoreValue::Number(1.0));
        assert_eq!(
            score.rationale.as_deref(),
            Some("best of 4 expectations (#1): distance 1 over 6 chars: similarity 0.8333")
        );
        // The best similarity is not always the lowest distance.
        let list = Value::json(r#"["ab", "abcdefghiX"]"#);
        let score = record_score("", Value::string("abcdefghij"), list).unwrap();
        assert_eq!(score.value, ScoreValue::Number(0.9));
        let score = record_score(
            r#"{"report": "distance"}"#,
            Value::string("abcdefghia"),
            list,
        )
        .unwrap();
        assert_eq!(score.value, ScoreValue::Number(1.0));
        let score = record_score(
            r#"{"max_distance": 1, "output": "pass"}"#,
            Value::string("x"),
            list,
        )
        .unwrap();
        assert_eq!(score.value, ScoreValue::Bool(false));
        assert_eq!(
            score.rationale.as_deref(),
            Some("none of 2 expectations passes: distance > max 1: fail")
        );
        let score = record_score(
            r#"{"max_distance": 1, "output": "pass"}"#,
            Value::string("abc"),
            list,
        )
        .unwrap();
        assert_eq!(score.value, ScoreValue::Bool(true));
        assert_eq!(
            score.rationale.as_deref(),
            Some("best of 2 expectations (#1): distance 1 ≤ max 1: pass")
        );
        // Non-string items compare by their JSON text.
        let list = Value::json(r#"[7, 42]"#);
        let score = record_score(r#"{"report": "distance"}"#, Value::json("42"), list).unwrap();
        assert_eq!(score.value, ScoreValue::Number(0.0));
    }

    /// The rationale as `format!` wrote it before it was written without
    /// it: the reference the fast writing is checked against.
    fn reference_rationale(config: &str, output: &str, expected: &str) -> String {
        let show = |s: f64| {
            let text = format!("{s:.4}");
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        };
        let d = reference(output, expected);
        let len = output.chars().count().max(expected.chars().count());
        let s = 1.0 - d as f64 / len.max(1) as f64;
        let s = if len == 0 { 1.0 } else { s };
        let json: serde_json::Value = serde_json::from_str(config).unwrap();
        let pass_mode = json.get("output").is_some();
        if let Some(k) = json.get("max_distance").and_then(|k| k.as_u64()) {
            let k = k as usize;
            let pass = d <= k;
            let clause = match (pass_mode, pass) {
                (true, false) => format!("distance > max {k}"),
                _ => format!("distance {d} {} max {k}", if pass { "≤" } else { ">" }),
            };
            return format!("{clause}: {}", if pass { "pass" } else { "fail" });
        }
        if let Some(min) = json.get("min_similarity").and_then(|m| m.as_f64()) {
            let pass = s >= min;
            let mut shown = show(s);
            if shown == show(min) && s != min {
                shown = s.to_string();
            }
            let clause = match (pass_mode, pass) {
                (true, false) => format!("similarity < min {min}"),
                _ => format!(
                    "similarity {shown} {} min {min}",
                    if pass { "≥" } else { "<" }
                ),
            };
            return format!("{clause}: {}", if pass { "pass" } else { "fail" });
        }
        format!("distance {d} over {len} chars: similarity {}", show(s))
    }

    /// The numbers of a rationale are written without `format!`, and read
    /// as they did with it, on generated pairs of every alphabet and size.
    #[test]
    fn rationales_read_as_format_wrote_them() {
        let configs = [
            "{}",
            r#"{"report": "distance"}"#,
            r#"{"max_distance": 3}"#,
            r#"{"max_distance": 3, "output": "pass"}"#,
            r#"{"min_similarity": 0.85}"#,
            r#"{"min_similarity": 0.3333, "output": "pass"}"#,
            r#"{"min_similarity": 0.66666}"#,
        ];
        let mut rng = Rng(77);
        for round in 0..3000 {
            let alphabet = Alphabet::ALL[round % Alphabet::ALL.len()];
            let len = [0, 1, 3, 7, 20, 33, 64, 100, 241][round % 9];
            let a = rng.text(len, alphabet);
            let b = rng.mutate(&a, [5, 10, 30, 60][round % 4], alphabet);
            for config in configs {
                let score = record_score(config, Value::string(&a), Value::string(&b)).unwrap();
                assert_eq!(
                    score.rationale.as_deref(),
                    Some(reference_rationale(config, &a, &b).as_str()),
                    "{config} {a:?} {b:?}"
                );
            }
        }
    }

    /// With several acceptable answers, a threshold decides whether the
    /// record passes (any answer within it does) and never which answer
    /// counts as best: the value is the one the scorer reports without
    /// the threshold, and the verdict beside it is whether any answer
    /// passes, by the plain table.
    #[test]
    fn a_threshold_never_changes_which_answer_is_best() {
        use super::testdata::{Alphabet, Rng, reference};
        let mut rng = Rng(10);
        let alphabet = Alphabet::Chars(&['a', 'b', 'c', 'é']);
        for round in 0..3000 {
            let len = rng.below(9);
            let output = rng.text(len, alphabet);
            let items: Vec<String> = (0..1 + rng.below(4))
                .map(|_| {
                    let len = rng.below(12);
                    rng.text(len, alphabet)
                })
                .collect();
            // Their characters need no escaping in JSON.
            let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
            let list = format!("[{}]", quoted.join(", "));
            let (report, k, min) = (
                ["similarity", "distance"][rng.below(2)],
                rng.below(5),
                [0.3, 0.5, 0.75, 0.9][rng.below(4)],
            );
            let uncapped = format!(r#"{{"report": "{report}"}}"#);
            let plain =
                record_score(&uncapped, Value::string(&output), Value::json(&list)).unwrap();
            for by_similarity in [false, true] {
                let threshold = if by_similarity {
                    format!(r#""min_similarity": {min}"#)
                } else {
                    format!(r#""max_distance": {k}"#)
                };
                let passes = |d: usize, len: usize| {
                    if by_similarity {
                        super::metric::similarity(d, len) >= min
                    } else {
                        d <= k
                    }
                };
                let config = format!(r#"{{"report": "{report}", {threshold}}}"#);
                let capped =
                    record_score(&config, Value::string(&output), Value::json(&list)).unwrap();
                let at = format!("round {round}: {config} {output:?} {list}");
                assert_eq!(capped.value, plain.value, "{at}: the value changed");
                let any = items.iter().any(|item| {
                    let len = output.chars().count().max(item.chars().count());
                    passes(reference(&output, item), len)
                });
                assert_eq!(capped.passed, Some(any), "{at}: {:?}", capped.rationale);
                let pass = format!(r#"{{"output": "pass", {threshold}}}"#);
                let bool = record_score(&pass, Value::string(&output), Value::json(&list)).unwrap();
                assert_eq!(bool.value, ScoreValue::Bool(any), "{at}");
            }
        }
    }

    #[test]
    fn non_strings_compare_as_json_text() {
        let score = record_score(
            r#"{"report": "distance"}"#,
            Value::json("{\"a\": 1}"),
            Value::string("{\"a\": 2}"),
        )
        .unwrap();
        assert_eq!(score.value, ScoreValue::Number(1.0));
        let score = record_score(
            r#"{"report": "distance"}"#,
            Value::NULL,
            Value::string("abc"),
        )
        .unwrap();
        assert_eq!(score.value, ScoreValue::Number(3.0));
    }

    #[test]
    fn missing_or_empty_expectations_are_errors() {
        let error = record_score("", Value::string("a"), Value::NULL).unwrap_err();
        assert_eq!(error, ScoreError::missing_expectation("expected_response"));
        let error = record_score("", Value::string("a"), Value::json("[]")).unwrap_err();
        assert_eq!(error.code, "EMPTY_EXPECTATION");
        let scorer = EditDistance::from_json(r#"{"expectation": "answer"}"#).unwrap();
        let expectations = [NamedValue::new("expected_response", Value::string("a"))];
        let record = Record::new(Value::NULL, Value::string("a"), &expectations);
        assert_eq!(
            scorer.score(&record).unwrap_err(),
            ScoreError::missing_expectation("answer")
        );
        let expectations = [NamedValue::new("answer", Value::string("ab"))];
        let record = Record::new(Value::NULL, Value::string("a"), &expectations);
        assert_eq!(
            scorer.score(&record).unwrap().value,
            ScoreValue::Number(0.5)
        );
    }

    #[test]
    fn invalid_configs_name_the_key() {
        let cases = [
            (r#"{"max_distnce": 3}"#, "max_distnce"),
            (r#"{"report": "ratio"}"#, "report"),
            (r#"{"report": 1}"#, "report"),
            (r#"{"max_distance": -1}"#, "max_distance"),
            (r#"{"max_distance": 1.5}"#, "max_distance"),
            (r#"{"max_distance": "5"}"#, "max_distance"),
            (r#"{"min_similarity": 1.5}"#, "min_similarity"),
            (r#"{"min_similarity": -0.1}"#, "min_similarity"),
            (r#"{"min_similarity": "high"}"#, "min_similarity"),
            (
                r#"{"max_distance": 3, "min_similarity": 0.5}"#,
                "min_similarity",
            ),
            (r#"{"output": "pass"}"#, "output"),
            (r#"{"output": "bool"}"#, "output"),
            (r#"{"expectation": ""}"#, "expectation"),
            (r#"{"expectation": ["a"]}"#, "expectation"),
        ];
        for (config, key) in cases {
            let error = EditDistance::from_json(config).unwrap_err();
            assert_eq!(error.key.as_deref(), Some(key), "{config}: {error}");
        }
        assert!(EditDistance::from_json(r#"{"max_distance": 0, "output": "pass"}"#).is_ok());
        assert!(EditDistance::from_json(r#"{"report": "distance", "min_similarity": 0}"#).is_ok());
    }

    #[test]
    fn declares_every_key_it_reads() {
        let keys: Vec<&str> = EditDistance::CONFIG_KEYS
            .iter()
            .map(|k| k.name.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "report",
                "max_distance",
                "min_similarity",
                "output",
                "expectation"
            ]
        );
    }
}

// Only the scorer's own entry point (`verdict_plugin_v1_edit_distance`): the host
// links every built-in scorer, and a program can hold one generic
// `verdict_plugin_v1` at most.
verdict_plugin::export_plugin!(EditDistance, edit_distance);
