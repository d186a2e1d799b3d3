//! The `bleu` scorer: sentence BLEU of the output against the expected
//! response(s), as `sacrebleu.sentence_bleu` computes it with its defaults
//! (the `13a` tokenizer, exponential smoothing, effective order).
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `smooth_method` | one of: `exp`, `floor`, `add-k`, `none` | `exp` | sacreBLEU's smoothing of n-gram orders without a match |
//! | `smooth_value` | number ≥ 0 | `0.1` for `floor`, `1` for `add-k` | the value of `floor` and `add-k` smoothing |
//! | `lowercase` | bool | `false` | lowercase both sides first |
//! | `min_score` | number, 0 to 1 | none | the pass mark: passes when the score is at least this |
//! | `output` | one of: `score`, `pass` | `score` | the value: the score (with the pass mark's verdict beside it), or whether it passes (needs `min_score`) |
//! | `expectation` | string | `expected_response` | the reference; a JSON list gives several references |
//!
//! # Semantics
//!
//! The value is sacreBLEU's sentence score divided by 100 (and at most 1),
//! so that it runs from 0 to 1 like every other Verdict score; the rationale also gives it
//! on sacreBLEU's scale. The tests check it against the `sacrebleu` package
//! itself on a generated corpus.
//!
//! - Tokens: trailing whitespace is removed, then `13a` (mteval-v13a, as
//!   WMT uses): `<skipped>` and `-` + newline are dropped, newlines become
//!   spaces, `&quot;` `&amp;` `&lt;` `&gt;` are unescaped; ASCII
//!   punctuation except `'`, `-`, `.` and `,` is split off; `.` and `,` are
//!   split off unless between digits (`3.14` and `1,000` stay whole); a `-`
//!   after a digit is split off; the result is split on whitespace.
//! - For n = 1 to 4, the output's n-grams that also occur in a reference
//!   are counted (each at most as often as in the reference where it occurs
//!   most), and the precision of order n is that count over the output's
//!   n-grams. Orders the output is too short for are left out (effective
//!   order). With `exp` smoothing an order without a match counts as
//!   `1 / (2^k · n-grams)` for its k-th such order; `floor` takes
//!   `smooth_value / n-grams`; `add-k` adds `smooth_value` to both counts
//!   from order 2 on; `none` makes the score 0.
//! - The score is the geometric mean of the precisions times the brevity
//!   penalty `exp(1 − r / c)` when the output's `c` tokens are fewer than
//!   the `r` of the reference closest in length (the shorter of equals). An
//!   output that shares no token with the references scores 0.
//! - Outputs and expectations that are not strings are used as their JSON
//!   text; a missing output is the empty text. A record without the
//!   expectation (or with a `null` one) is an error, `MISSING_EXPECTATION`;
//!   an empty list, `EMPTY_EXPECTATION`.
//!
//! BLEU is a corpus metric; a sentence score is noisy, and is best read
//! over many records.
//!
//! # Example
//!
//! ```
//! use verdict_bleu::Bleu;
//! use verdict_plugin::{NamedValue, Record, ScoreValue, Scorer, Value};
//!
//! let scorer = Bleu::from_json("{}")?;
//! let expectations = [NamedValue::new("expected_response", Value::string("The cat sat on the mat."))];
//! let record = Record::new(Value::NULL, Value::string("The cat sat on the mat."), &expectations);
//! assert_eq!(scorer.score(&record).unwrap().value, ScoreValue::Number(1.0));
//! # Ok::<(), verdict_plugin::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::collections::HashMap;

use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, PassMark, Record, Scorer};

/// The highest n-gram order.
const MAX_ORDER: usize = 4;

/// sacreBLEU's smoothing methods.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Smooth {
    Exp,
    Floor(f64),
    AddK(f64),
    None,
}

/// The `bleu` scorer. See the [crate docs](self) for its config.
#[derive(Clone, Debug)]
pub struct Bleu {
    smooth: Smooth,
    lowercase: bool,
    mark: PassMark,
    expectation: String,
}

/// Buffers reused from one record to the next in a batch.
#[derive(Default)]
struct Scratch {
    chars: Vec<char>,
    other: Vec<char>,
    hypothesis: String,
    reference: String,
    ids: HashMap<String, u32>,
    tokens: Vec<u32>,
    /// The highest count of each n-gram in a reference.
    reference_ngrams: HashMap<u128, u32>,
    /// The count of each n-gram in the output.
    ngrams: HashMap<u128, u32>,
}

/// BLEU and its parts, for the rationale.
#[derive(Clone, Debug, PartialEq)]
struct BleuScore {
    /// On sacreBLEU's scale, 0 to 100.
    score: f64,
    /// The precision of each order, in percent (0 when left out).
    precisions: [f64; MAX_ORDER],
    /// The brevity penalty.
    brevity_penalty: f64,
    /// The output's tokens.
    output_len: usize,
    /// The tokens of the reference closest in length.
    reference_len: usize,
}

impl Scorer for Bleu {
    const NAME: &'static str = "bleu";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Sentence BLEU of the output against the expected response(s), as sacrebleu.sentence_bleu.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[
        ConfigKey::new(
            "smooth_method",
            "one of: exp, floor, add-k, none",
            "exp",
            "sacreBLEU's smoothing of n-gram orders without a match",
        ),
        ConfigKey::new(
            "smooth_value",
            "number, at least 0",
            "0.1 for floor, 1 for add-k",
            "the value of floor and add-k smoothing",
        ),
        ConfigKey::new("lowercase", "bool", "false", "lowercase both sides first"),
        ConfigKey::new(
            "min_score",
            "number, 0 to 1",
            "none",
            "the pass mark: passes when the score (0 to 1) is at least this",
        ),
        ConfigKey::new(
            "output",
            "one of: score, pass",
            "score",
            "the value: the score (with the pass mark's verdict beside it), or whether it \
             passes (needs min_score)",
        ),
        ConfigKey::new(
            "expectation",
            "string",
            "expected_response",
            "the reference; a JSON list gives several references",
        ),
    ];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let method = config.one_of("smooth_method", &["exp", "floor", "add-k", "none"])?;
        let value = match config.f64("smooth_value")? {
            Some(v) if !(v >= 0.0 && v.is_finite()) => {
                return Err(config.error(
                    "smooth_value",
                    format!("{v} is out of range; expected a number ≥ 0"),
                ));
            }
            found => found,
        };
        let smooth = match (method, value) {
            (Some("floor"), v) => Smooth::Floor(v.unwrap_or(0.1)),
            (Some("add-k"), v) => Smooth::AddK(v.unwrap_or(1.0)),
            (_, Some(_)) => {
                return Err(config.error(
                    "smooth_value",
                    "only floor and add-k smoothing take a value; set smooth_method or remove it",
                ));
            }
            (Some("none"), None) => Smooth::None,
            (_, None) => Smooth::Exp,
        };
        let expectation = config.expectation("expected_response")?;
        Ok(Bleu {
            smooth,
            lowercase: config.bool("lowercase")?.unwrap_or(false),
            mark: PassMark::from_config(config, "min_score")?,
            expectation: expectation.to_owned(),
        })
    }

    verdict_plugin::score_with_scratch!(Scratch, score_with);
}

impl Bleu {
    fn score_with(&self, record: &Record<'_>, scratch: &mut Scratch) -> Outcome {
        let references = record.references(&self.expectation)?;
        let bleu = self.sentence_bleu(record.outputs.text(), &references, scratch);
        let p = bleu.precisions;
        let rationale = format!(
            "BLEU {:.2} (n-gram precisions {:.1}/{:.1}/{:.1}/{:.1}, brevity penalty {:.3}, \
             {} tokens against {})",
            bleu.score,
            p[0],
            p[1],
            p[2],
            p[3],
            bleu.brevity_penalty,
            bleu.output_len,
            bleu.reference_len
        );
        // sacreBLEU gives 100.00000000000004 for identical texts: the
        // value is kept within 0 to 1.
        Ok(self.mark.score((bleu.score / 100.0).min(1.0), rationale))
    }

    /// sacreBLEU's sentence score of `hypothesis` against `references`.
    fn sentence_bleu(
        &self,
        hypothesis: &str,
        references: &[Cow<'_, str>],
        scratch: &mut Scratch,
    ) -> BleuScore {
        scratch.ids.clear();
        scratch.reference_ngrams.clear();
        let mut reference_lens = Vec::with_capacity(references.len());
        for reference in references {
            let mut text = std::mem::take(&mut scratch.reference);
            self.tokens(reference, &mut text, scratch);
            scratch.reference = text;
            reference_lens.push(scratch.tokens.len());
            count_ngrams(&scratch.tokens, &mut scratch.ngrams);
            for (&gram, &count) in &scratch.ngrams {
                let kept = scratch.reference_ngrams.entry(gram).or_insert(0);
                *kept = (*kept).max(count);
            }
        }
        let mut text = std::mem::take(&mut scratch.hypothesis);
        self.tokens(hypothesis, &mut text, scratch);
        scratch.hypothesis = text;
        let output_len = scratch.tokens.len();
        count_ngrams(&scratch.tokens, &mut scratch.ngrams);
        let mut correct = [0u64; MAX_ORDER];
        let mut total = [0u64; MAX_ORDER];
        for (&gram, &count) in &scratch.ngrams {
            let n = order(gram) - 1;
            total[n] += u64::from(count);
            if let Some(&kept) = scratch.reference_ngrams.get(&gram) {
                correct[n] += u64::from(count.min(kept));
            }
        }
        // The closest reference length; the shorter of equals.
        let reference_len = reference_lens
            .iter()
            .copied()
            .min_by_key(|&r| (r.abs_diff(output_len), r))
            .expect("at least one reference");
        compute_bleu(correct, total, output_len, reference_len, self.smooth)
    }

    /// Tokenizes `text` into `out` with 13a and gives the tokens' ids in
    /// `scratch.tokens`.
    fn tokens(&self, text: &str, out: &mut String, scratch: &mut Scratch) {
        let lowered;
        let text = if self.lowercase {
            lowered = text.to_lowercase();
            lowered.as_str()
        } else {
            text
        };
        tokenize_13a(text, out, &mut scratch.chars, &mut scratch.other);
        scratch.tokens.clear();
        for token in out.split(' ').filter(|t| !t.is_empty()) {
            let next = scratch.ids.len() as u32;
            let id = match scratch.ids.get(token) {
                Some(&id) => id,
                None => {
                    scratch.ids.insert(token.to_owned(), next);
                    next
                }
            };
            scratch.tokens.push(id);
        }
    }
}

/// The n-gram of order 1 to 4 whose token ids are `gram`, as one key: each
/// id plus one in its own 32 bits, so that orders differ.
fn key(gram: &[u32]) -> u128 {
    gram.iter()
        .enumerate()
        .fold(0, |k, (i, &id)| k | (u128::from(id) + 1) << (32 * i))
}

/// The order of the n-gram `key`.
fn order(key: u128) -> usize {
    (4 - key.leading_zeros() as usize / 32).max(1)
}

/// Counts the n-grams of orders 1 to 4 of `tokens` into `ngrams`.
fn count_ngrams(tokens: &[u32], ngrams: &mut HashMap<u128, u32>) {
    ngrams.clear();
    for n in 1..=MAX_ORDER {
        for gram in tokens.windows(n) {
            *ngrams.entry(key(gram)).or_insert(0) += 1;
        }
    }
}

/// sacreBLEU's `BLEU.compute_bleu` with effective order, operation for
/// operation.
fn compute_bleu(
    correct: [u64; MAX_ORDER],
    total: [u64; MAX_ORDER],
    sys_len: usize,
    ref_len: usize,
    smooth: Smooth,
) -> BleuScore {
    let brevity_penalty = if sys_len < ref_len {
        if sys_len > 0 {
            (1.0 - ref_len as f64 / sys_len as f64).exp()
        } else {
            0.0
        }
    } else {
        1.0
    };
    let mut precisions = [0.0; MAX_ORDER];
    let result = |score, precisions| BleuScore {
        score,
        precisions,
        brevity_penalty,
        output_len: sys_len,
        reference_len: ref_len,
    };
    if correct.iter().all(|&c| c == 0) {
        return result(0.0, precisions);
    }
    let mut correct = correct.map(|c| c as f64);
    let mut total = total.map(|t| t as f64);
    let mut smooth_mteval = 1.0;
    let mut eff_order = MAX_ORDER;
    for n in 1..=MAX_ORDER {
        if let Smooth::AddK(k) = smooth
            && n > 1
        {
            correct[n - 1] += k;
            total[n - 1] += k;
        }
        if total[n - 1] == 0.0 {
            break;
        }
        eff_order = n;
        if correct[n - 1] == 0.0 {
            match smooth {
                Smooth::Exp => {
                    smooth_mteval *= 2.0;
                    precisions[n - 1] = 100.0 / (smooth_mteval * total[n - 1]);
                }
                Smooth::Floor(v) => precisions[n - 1] = 100.0 * v / total[n - 1],
                Smooth::AddK(_) | Smooth::None => {}
            }
        } else {
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1];
        }
    }
    // sacreBLEU's `my_log`: log(0) is floored to -9999999999.
    let log_sum = precisions[..eff_order].iter().fold(0.0, |sum, &p| {
        sum + if p == 0.0 { -9_999_999_999.0 } else { p.ln() }
    });
    result(
        brevity_penalty * (log_sum / eff_order as f64).exp(),
        precisions,
    )
}

/// Python's `str.isspace`, which `str.split()` and `str.rstrip()` split
/// and strip on: Rust's whitespace and the four ASCII separators
/// U+001C to U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// sacreBLEU's `13a` tokenizer applied to `text.rstrip()`: the tokens of
/// `text`, joined by single spaces, into `out`. `chars` and `other` are
/// scratch space.
fn tokenize_13a(text: &str, out: &mut String, chars: &mut Vec<char>, other: &mut Vec<char>) {
    let mut line = Cow::Borrowed(text.trim_end_matches(is_python_space));
    for (from, to) in [("<skipped>", ""), ("-\n", ""), ("\n", " ")] {
        if line.contains(from) {
            line = Cow::Owned(line.replace(from, to));
        }
    }
    if line.contains('&') {
        for (from, to) in [
            ("&quot;", "\""),
            ("&amp;", "&"),
            ("&lt;", "<"),
            ("&gt;", ">"),
        ] {
            line = Cow::Owned(line.replace(from, to));
        }
    }
    // The four substitutions of sacreBLEU's `TokenizerRegexp`, in order,
    // each a left-to-right scan of non-overlapping matches, on " line ".
    chars.clear();
    chars.push(' ');
    for c in line.chars() {
        // 1. `([\{-\~\[-\` -\&\(-\+\:-\@\/])` → ` \1 `
        if matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/') {
            chars.extend([' ', c, ' ']);
        } else {
            chars.push(c);
        }
    }
    chars.push(' ');
    let digit = |c: char| c.is_ascii_digit();
    let dot = |c: char| c == '.' || c == ',';
    // 2. `([^0-9])([\.,])` → `\1 \2 `
    pairs(
        chars,
        other,
        |a, b| !digit(a) && dot(b),
        |a, b| [a, ' ', b, ' '],
    );
    // 3. `([\.,])([^0-9])` → ` \1 \2`
    pairs(
        other,
        chars,
        |a, b| dot(a) && !digit(b),
        |a, b| [' ', a, ' ', b],
    );
    // 4. `([0-9])(-)` → `\1 \2 `
    pairs(
        chars,
        other,
        |a, b| digit(a) && b == '-',
        |a, b| [a, ' ', b, ' '],
    );
    // ' '.join(line.split())
    out.clear();
    let mut gap = false;
    for &c in other.iter() {
        if is_python_space(c) {
            gap = !out.is_empty();
        } else {
            if gap {
                out.push(' ');
                gap = false;
            }
            out.push(c);
        }
    }
}

/// Rewrites `from` into `to`: each pair of characters for which `hit`
/// holds, from left to right without overlap, becomes the four of `put`.
fn pairs(
    from: &[char],
    to: &mut Vec<char>,
    hit: impl Fn(char, char) -> bool,
    put: impl Fn(char, char) -> [char; 4],
) {
    to.clear();
    let mut i = 0;
    while i < from.len() {
        if i + 1 < from.len() && hit(from[i], from[i + 1]) {
            to.extend(put(from[i], from[i + 1]));
            i += 2;
        } else {
            to.push(from[i]);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use verdict_plugin::{NamedValue, Score, ScoreValue, Value, check_config_errors, score_one};

    use super::{Bleu, key, order, tokenize_13a};

    fn tokens(text: &str) -> String {
        let mut out = String::new();
        tokenize_13a(text, &mut out, &mut Vec::new(), &mut Vec::new());
        out
    }

    fn against(config: &str, output: &str, expected: Value<'_>) -> Score {
        let expectations = [NamedValue::new("expected_response", expected)];
        score_one::<Bleu>(config, Value::string(output), &expectations)
    }

    fn number(config: &str, output: &str, expected: &str) -> f64 {
        match against(config, output, Value::string(expected)).value {
            ScoreValue::Number(n) => n,
            other => panic!("not a number: {other:?}"),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn the_13a_tokenizer() {
        assert_eq!(tokens("Hello, world!"), "Hello , world !");
        assert_eq!(
            tokens("It costs $3.14, or 1,000."),
            "It costs $ 3.14 , or 1,000 ."
        );
        assert_eq!(tokens("don't re-use 3-4"), "don't re-use 3 - 4");
        assert_eq!(tokens("a.b 1.b a.1"), "a . b 1 . b a . 1");
        assert_eq!(tokens("&quot;x&quot; &amp;lt; <skipped>"), "\" x \" <");
        assert_eq!(tokens("line-\nbreak\nnext"), "linebreak next");
        // Trailing whitespace goes first: the newline after `-` is not joined.
        assert_eq!(tokens("end-\n"), "end-");
        assert_eq!(tokens("  (a)[b]{c}  "), "( a ) [ b ] { c }");
        assert_eq!(tokens("x\u{1f}y\u{a0}z"), "x y z");
        assert_eq!(tokens("東京。😀"), "東京。😀");
        assert_eq!(tokens(""), "");
        assert_eq!(tokens("..."), ". . .");
    }

    #[test]
    fn ngram_keys_hold_their_order() {
        assert_eq!(order(key(&[0])), 1);
        assert_eq!(order(key(&[7, 0])), 2);
        assert_eq!(order(key(&[0, 0, 0])), 3);
        assert_eq!(order(key(&[u32::MAX - 1; 4])), 4);
        assert_ne!(key(&[0, 1]), key(&[1, 0]));
    }

    #[test]
    fn by_hand() {
        assert_eq!(
            number("{}", "The cat sat on the mat.", "The cat sat on the mat."),
            1.0
        );
        // [the, cat, sat] vs [the, cat, sat, down]: precisions 3/3, 2/2,
        // 1/1, and no 4-grams (effective order 3); brevity penalty exp(1 - 4/3).
        let s = number("{}", "the cat sat", "the cat sat down");
        assert!(close(s, (1.0f64 - 4.0 / 3.0).exp()), "{s}");
        // Nothing shared: 0.
        assert_eq!(number("{}", "a b c", "x y z"), 0.0);
        assert_eq!(number("{}", "", "x"), 0.0);
        assert_eq!(number("{}", "", ""), 0.0);
        // exp smoothing: [a, b, c, d] vs [a, x, c, y]: unigrams 2/4, no
        // match of order 2 to 4: 100 / (2 · 3), 100 / (4 · 2), 100 / (8 · 1).
        let p = [50.0f64, 100.0 / 6.0, 12.5, 12.5];
        let expected = (p.iter().map(|p| p.ln()).sum::<f64>() / 4.0).exp() / 100.0;
        assert!(close(number("{}", "a b c d", "a x c y"), expected));
        // No smoothing: an order without a match makes the score 0.
        assert!(number(r#"{"smooth_method": "none"}"#, "a b c d", "a x c y") < 1e-100);
    }

    #[test]
    fn references_and_case() {
        let s = against("{}", "the cat", Value::json(r#"["a dog", "the cat"]"#));
        assert_eq!(s.value, ScoreValue::Number(1.0));
        assert_eq!(number("{}", "The Cat", "the cat"), 0.0);
        assert_eq!(number(r#"{"lowercase": true}"#, "The Cat", "the cat"), 1.0);
        let s = against("{}", "the cat sat", Value::string("the cat sat down"));
        assert_eq!(
            s.rationale.as_deref(),
            Some(
                "BLEU 71.65 (n-gram precisions 100.0/100.0/100.0/0.0, brevity penalty 0.717, \
                 3 tokens against 4)"
            )
        );
    }

    #[test]
    fn bad_expectations_are_errors() {
        verdict_plugin::check_reference_errors::<Bleu>().unwrap();
    }

    #[test]
    fn invalid_configs_name_the_key() {
        check_config_errors::<Bleu>(&[
            (r#"{"smooth_method": "add-one"}"#, "smooth_method"),
            (r#"{"smooth_value": 0.1}"#, "smooth_value"),
            (
                r#"{"smooth_method": "exp", "smooth_value": 0.1}"#,
                "smooth_value",
            ),
            (
                r#"{"smooth_method": "floor", "smooth_value": -1}"#,
                "smooth_value",
            ),
            (r#"{"lowercase": "yes"}"#, "lowercase"),
            (r#"{"min_score": 50}"#, "min_score"),
            (r#"{"output": "pass"}"#, "output"),
            (r#"{"tokenize": "13a"}"#, "tokenize"),
        ])
        .unwrap();
    }
}

// Only the scorer's own entry point (`verdict_plugin_v1_bleu`): the host
// links every built-in scorer, and a program can hold one generic
// `verdict_plugin_v1` at most.
verdict_plugin::export_plugin!(Bleu, bleu);
