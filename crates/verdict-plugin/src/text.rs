//! Text normalization that scorers share: case folding, and the steps of
//! SQuAD's `normalize_answer`.
//!
//! # Case folding
//!
//! [`fold`] maps a character to its lowercase form (`char::to_lowercase`,
//! Unicode's default lowercase mapping), with the final sigma `ς` taken as
//! `σ` so that a word compares equal whatever its position. It is a
//! comparison key, computed char by char: `ÉCOLE` folds to `école`, the
//! Kelvin sign `K` to an ASCII `k`, `İ` to two characters (`i` and U+0307),
//! full-width `Ｐ` to full-width `ｐ`. It is not Unicode's full case folding:
//! `ß` stays `ß` and does not match `ss`. [`fold_eq`], [`fold_str`],
//! [`folded_starts_with`] and [`folded_ends_with`] build on it, with a fast
//! path for ASCII text that allocates nothing.
//!
//! # SQuAD normalization
//!
//! The official SQuAD evaluation script compares answers after
//! `normalize_answer`, which is, in order:
//!
//! 1. `lower`: Python's `str.lower` — [`lowercase`];
//! 2. `remove_punc`: drop the 32 characters of Python's `string.punctuation`,
//!    the ASCII punctuation — [`remove_punctuation`];
//! 3. `remove_articles`: `re.sub(r'\b(a|an|the)\b', ' ', text)`, the whole
//!    words `a`, `an` and `the` become a space — [`remove_articles`];
//! 4. `white_space_fix`: `' '.join(text.split())`, every run of whitespace
//!    becomes one space and the ends are trimmed — [`collapse_whitespace`].
//!
//! [`normalize_answer`] applies all four. The script's token F1 splits the
//! normalized answer on whitespace; [`tokens_without_articles`] gives those
//! tokens from text that went through steps 1 and 2, without allocating.
//!
//! The steps take text borrowed or owned (`&str`, `String` or `Cow`) and
//! give it back borrowed when they change nothing; an owned text is changed
//! in place where the step allows, so a chain of steps allocates little.
//!
//! Unicode notes: the lowercase is Rust's `str::to_lowercase`, which like
//! Python's `str.lower` knows the final sigma; punctuation other than ASCII
//! (`«`, `“`, `。`) stays. A word character is a Unicode alphanumeric or
//! `_`, as Python's `\w` on `str` sees it (Rust's alphanumerics also count
//! the few marks of Unicode's `Other_Alphabetic`, such as Devanagari vowel
//! signs, that Python's `\w` does not); a combining mark such as U+0301 is
//! not one, so it ends a word. Whitespace is Unicode `White_Space`
//! (Python's `str.split` also splits at the separators U+001C to U+001F).
//! No step applies Unicode normalization (NFC, NFKC): `é` and `e` + U+0301
//! stay different; a scorer that wants it applies it first.
//!
//! ```
//! use verdict_plugin::text;
//!
//! assert_eq!(text::normalize_answer("The  Eiffel Tower!"), "eiffel tower");
//! assert!(text::fold_eq("ÉCOLE", "école"));
//! ```

use std::borrow::Cow;

/// The lowercase form of `c`, with the final sigma taken as sigma: the key
/// that [`fold_eq`] and the other folded comparisons compare.
///
/// ```
/// use verdict_plugin::text::fold;
///
/// assert!(fold('É').eq(['é']));
/// assert!(fold('ς').eq(['σ']));
/// assert!(fold('İ').eq(['i', '\u{307}']));
/// ```
#[inline]
pub fn fold(c: char) -> impl DoubleEndedIterator<Item = char> {
    c.to_lowercase().map(|l| if l == 'ς' { 'σ' } else { l })
}

/// Whether `c` folds to itself.
fn folds_to_itself(c: char) -> bool {
    let mut folded = fold(c);
    folded.next() == Some(c) && folded.next().is_none()
}

/// Whether `a` and `b` are equal when case is ignored ([`fold`]). Allocates
/// nothing.
///
/// ```
/// use verdict_plugin::text::fold_eq;
///
/// assert!(fold_eq("PARIS", "paris"));
/// assert!(fold_eq("ΟΔΟΣ", "οδοσ"));
/// assert!(!fold_eq("Straße", "STRASSE"));
/// ```
#[inline]
pub fn fold_eq(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars().flat_map(fold).eq(b.chars().flat_map(fold))
}

/// `text` with every character folded ([`fold`]); borrowed when nothing
/// changes.
///
/// ```
/// use std::borrow::Cow;
/// use verdict_plugin::text::fold_str;
///
/// assert_eq!(fold_str("L'ÉCOLE"), "l'école");
/// assert!(matches!(fold_str("déjà vu"), Cow::Borrowed(_)));
/// ```
#[inline]
pub fn fold_str(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(text.to_ascii_lowercase())
        } else {
            Cow::Borrowed(text)
        }
    } else if text.chars().all(folds_to_itself) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().flat_map(fold).collect())
    }
}

/// Whether `text`, folded, starts with `needle`, already folded (see
/// [`fold_str`]). Allocates nothing.
///
/// ```
/// use verdict_plugin::text::folded_starts_with;
///
/// assert!(folded_starts_with("YES, sir", "yes"));
/// assert!(folded_starts_with("İstanbul", "i\u{307}"));
/// ```
#[inline]
pub fn folded_starts_with(text: &str, needle: &str) -> bool {
    if text.is_ascii() && needle.is_ascii() {
        return text.len() >= needle.len()
            && text.as_bytes()[..needle.len()].eq_ignore_ascii_case(needle.as_bytes());
    }
    let mut folded = text.chars().flat_map(fold);
    needle.chars().all(|c| folded.next() == Some(c))
}

/// Whether `text`, folded, ends with `needle`, already folded (see
/// [`fold_str`]). Allocates nothing.
///
/// ```
/// use verdict_plugin::text::folded_ends_with;
///
/// assert!(folded_ends_with("THE END", "end"));
/// assert!(folded_ends_with("ΜΙΑ ΟΔΟΣ", "οδοσ"));
/// ```
#[inline]
pub fn folded_ends_with(text: &str, needle: &str) -> bool {
    if text.is_ascii() && needle.is_ascii() {
        return text.len() >= needle.len()
            && text.as_bytes()[text.len() - needle.len()..]
                .eq_ignore_ascii_case(needle.as_bytes());
    }
    let mut folded = text.chars().rev().flat_map(|c| fold(c).rev());
    needle.chars().rev().all(|c| folded.next() == Some(c))
}

/// SQuAD's `normalize_answer`: [`lowercase`], [`remove_punctuation`],
/// [`remove_articles`], [`collapse_whitespace`], in that order.
///
/// ```
/// use verdict_plugin::text::normalize_answer;
///
/// assert_eq!(normalize_answer("  An apple, a day!"), "apple day");
/// assert_eq!(normalize_answer("U.S.A."), "usa");
/// assert_eq!(normalize_answer("the-end"), "theend");
/// ```
pub fn normalize_answer<'a>(text: impl Into<Cow<'a, str>>) -> Cow<'a, str> {
    collapse_whitespace(remove_articles(remove_punctuation(lowercase(text))))
}

/// SQuAD's `lower`: `str::to_lowercase`, which like Python's `str.lower`
/// writes a capital sigma at the end of a word as the final sigma `ς`.
///
/// ```
/// use verdict_plugin::text::lowercase;
///
/// assert_eq!(lowercase("ΟΔΟΣ Straße"), "οδος straße");
/// ```
pub fn lowercase<'a>(text: impl Into<Cow<'a, str>>) -> Cow<'a, str> {
    let mut text = text.into();
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            text.to_mut().make_ascii_lowercase();
        }
        return text;
    }
    // `str::to_lowercase` changes a character only where `char::to_lowercase`
    // does (a capital sigma is no exception), so this finds whether it would
    // change the text without allocating.
    let unchanged = text.chars().all(|c| {
        let mut lower = c.to_lowercase();
        lower.next() == Some(c) && lower.next().is_none()
    });
    if unchanged {
        text
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

/// SQuAD's `remove_punc`: drops the ASCII punctuation, Python's
/// `string.punctuation`; other punctuation stays.
///
/// ```
/// use verdict_plugin::text::remove_punctuation;
///
/// assert_eq!(remove_punctuation("Don't «stop»!"), "Dont «stop»");
/// ```
pub fn remove_punctuation<'a>(text: impl Into<Cow<'a, str>>) -> Cow<'a, str> {
    let text = text.into();
    if !text.bytes().any(|b| b.is_ascii_punctuation()) {
        return text;
    }
    // An ASCII byte is a whole character in UTF-8, so the bytes can go one
    // by one and what is left stays valid.
    let kept = match text {
        Cow::Borrowed(t) => t.bytes().filter(|b| !b.is_ascii_punctuation()).collect(),
        Cow::Owned(t) => {
            let mut bytes = t.into_bytes();
            bytes.retain(|b| !b.is_ascii_punctuation());
            bytes
        }
    };
    Cow::Owned(String::from_utf8(kept).expect("removing ASCII characters keeps UTF-8 valid"))
}

/// SQuAD's `remove_articles`: `re.sub(r'\b(a|an|the)\b', ' ', text)`, each
/// of the whole words `a`, `an` and `the` (lowercase) becomes a space. A
/// match of that pattern is always a whole run of word characters.
///
/// ```
/// use verdict_plugin::text::remove_articles;
///
/// assert_eq!(remove_articles("the cat, a_b, another"), "  cat, a_b, another");
/// ```
pub fn remove_articles<'a>(text: impl Into<Cow<'a, str>>) -> Cow<'a, str> {
    let text = text.into();
    if next_article(&text).is_none() {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for (i, piece) in between_articles(&text).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(piece);
    }
    Cow::Owned(out)
}

/// SQuAD's `white_space_fix`: `' '.join(text.split())`, every run of
/// whitespace becomes one space, and the ends are trimmed.
///
/// ```
/// use verdict_plugin::text::collapse_whitespace;
///
/// assert_eq!(collapse_whitespace(" new \t\n york "), "new york");
/// ```
pub fn collapse_whitespace<'a>(text: impl Into<Cow<'a, str>>) -> Cow<'a, str> {
    let text = text.into();
    if is_collapsed(&text) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    Cow::Owned(out)
}

/// The whitespace-separated tokens of `remove_articles(text)`, borrowed
/// from `text`: what SQuAD's token F1 splits an answer into, given text
/// already lowercased and without punctuation.
///
/// ```
/// use verdict_plugin::text::tokens_without_articles;
///
/// let tokens: Vec<&str> = tokens_without_articles("the cat «the» an apple").collect();
/// assert_eq!(tokens, ["cat", "«", "»", "apple"]);
/// ```
pub fn tokens_without_articles(text: &str) -> impl Iterator<Item = &str> {
    let mut words = text.split_whitespace();
    // What is left of the current word.
    let mut rest = "";
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                rest = words.next()?;
            }
            match next_article(rest) {
                Some((start, end)) => {
                    let piece = &rest[..start];
                    rest = &rest[end..];
                    if !piece.is_empty() {
                        return Some(piece);
                    }
                }
                None => return Some(std::mem::take(&mut rest)),
            }
        }
    })
}

/// Whether `text` has no whitespace but single spaces between words.
fn is_collapsed(text: &str) -> bool {
    let mut after_space = true; // a space at the start would be leading
    for c in text.chars() {
        if c == ' ' {
            if after_space {
                return false;
            }
            after_space = true;
        } else if c.is_whitespace() {
            return false;
        } else {
            after_space = false;
        }
    }
    !after_space || text.is_empty()
}

/// A character of a word, as Python's `\w` sees it.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The byte range of the first article: a whole run of word characters
/// that is `a`, `an` or `the`.
fn next_article(text: &str) -> Option<(usize, usize)> {
    let is_article = |start: usize, end: usize| matches!(&text[start..end], "a" | "an" | "the");
    let mut run_start = None;
    for (i, c) in text.char_indices() {
        match (is_word_char(c), run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                if is_article(start, i) {
                    return Some((start, i));
                }
                run_start = None;
            }
            _ => {}
        }
    }
    run_start
        .filter(|&start| is_article(start, text.len()))
        .map(|start| (start, text.len()))
}

/// The pieces of `text` around its articles, empty ones included: `n`
/// articles leave `n + 1` pieces.
fn between_articles(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        // An article ends at a non-word character or at the end, so the
        // rest starts a new run.
        Some(match next_article(text) {
            Some((start, end)) => {
                rest = Some(&text[end..]);
                &text[..start]
            }
            None => {
                rest = None;
                text
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn borrowed(text: Cow<'_, str>) -> bool {
        matches!(text, Cow::Borrowed(_))
    }

    #[test]
    fn fold_eq_ignores_case() {
        assert!(fold_eq("PARIS", "paris"));
        assert!(fold_eq("ÉCOLE", "école"));
        assert!(fold_eq("Straße", "STRAßE"));
        assert!(fold_eq("\u{212a}", "k"));
        assert!(fold_eq("ΟΔΟΣ", "οδος"));
        assert!(fold_eq("οδοσ", "οδος"));
        assert!(fold_eq("東京タワー", "東京タワー"));
        assert!(fold_eq("", ""));
        assert!(!fold_eq("Paris.", "paris"));
        assert!(!fold_eq("ｐａｒｉｓ", "PARIS"));
    }

    #[test]
    fn fold_str_borrows_when_nothing_changes() {
        assert!(borrowed(fold_str("paris")));
        assert!(borrowed(fold_str("école 東京 👍🏽")));
        assert_eq!(fold_str("PaRiS"), "paris");
        assert_eq!(fold_str("ΟΔΟΣ"), "οδοσ");
        assert_eq!(fold_str("οδος"), "οδοσ");
        assert_eq!(fold_str("İ"), "i\u{307}");
        assert_eq!(fold_str("ＰＡＲＩＳ"), "ｐａｒｉｓ");
    }

    #[test]
    fn folded_prefixes_and_suffixes() {
        assert!(folded_starts_with("YES sir", "yes"));
        assert!(!folded_starts_with("ye", "yes"));
        assert!(folded_starts_with("ΟΔΟΣ", "οδοσ"));
        assert!(folded_starts_with("k", &fold_str("\u{212a}")));
        assert!(folded_starts_with("İstanbul", "i\u{307}"));
        assert!(!folded_starts_with("", "a"));
        assert!(folded_starts_with("", ""));
        assert!(folded_ends_with("THE END", "end"));
        assert!(!folded_ends_with("ending", "end"));
        assert!(folded_ends_with("5 K", &fold_str("\u{212a}")));
        assert!(folded_ends_with("xi\u{307}", &fold_str("İ")));
        assert!(folded_ends_with("👍🏽", "🏽"));
        assert!(folded_ends_with("É", ""));
        assert!(!folded_ends_with("", "é"));
    }

    #[test]
    fn lowercase_is_str_to_lowercase() {
        assert_eq!(lowercase("The Eiffel TOWER"), "the eiffel tower");
        assert_eq!(lowercase("ΟΔΟΣ"), "οδος");
        assert!(borrowed(lowercase("école")));
        assert!(borrowed(lowercase("paris")));
        // An owned text is lowercased in place.
        let owned = lowercase(String::from("ABC"));
        assert_eq!(owned, "abc");
    }

    #[test]
    fn remove_punctuation_drops_ascii_punctuation_only() {
        assert_eq!(remove_punctuation("U.S.A."), "USA");
        assert_eq!(remove_punctuation("rock-n-roll"), "rocknroll");
        assert_eq!(remove_punctuation("a_b"), "ab");
        assert_eq!(remove_punctuation("«Paris»"), "«Paris»");
        assert!(borrowed(remove_punctuation("«Paris»")));
        assert_eq!(remove_punctuation(String::from("!!!")), "");
    }

    #[test]
    fn remove_articles_replaces_whole_words() {
        assert_eq!(remove_articles("the cat"), "  cat");
        assert_eq!(remove_articles("the a an"), "     ");
        assert_eq!(remove_articles("theory another"), "theory another");
        assert!(borrowed(remove_articles("theory another")));
        // `é`, digits and CJK are word characters; U+0301 is not.
        assert_eq!(remove_articles("aé a1 the 東京"), "aé a1   東京");
        assert_eq!(remove_articles("a\u{301}"), " \u{301}");
        // Case matters: "The" is not an article.
        assert_eq!(remove_articles("The cat"), "The cat");
        assert_eq!(remove_articles("«the»"), "« »");
        assert_eq!(remove_articles(""), "");
    }

    #[test]
    fn collapse_whitespace_is_join_split() {
        assert_eq!(collapse_whitespace(" new \t\n york "), "new york");
        assert_eq!(collapse_whitespace("new\u{a0}york\u{3000}"), "new york");
        assert_eq!(collapse_whitespace("   "), "");
        assert!(borrowed(collapse_whitespace("new york")));
        assert!(borrowed(collapse_whitespace("")));
        assert!(!borrowed(collapse_whitespace("new  york")));
    }

    #[test]
    fn normalize_answer_by_hand() {
        // Hand-worked through Python's normalize_answer.
        assert_eq!(normalize_answer("The Eiffel Tower!"), "eiffel tower");
        assert_eq!(normalize_answer("  an  apple,  a day "), "apple day");
        assert_eq!(normalize_answer("Theory of the case"), "theory of case");
        assert_eq!(normalize_answer("the-end"), "theend");
        assert_eq!(normalize_answer("A"), "");
        assert_eq!(normalize_answer("!!!"), "");
        assert_eq!(normalize_answer("👨‍👩‍👧!"), "👨‍👩‍👧");
        assert!(borrowed(normalize_answer("paris is nice")));
    }

    #[test]
    fn tokens_are_the_split_of_removed_articles() {
        for text in [
            "the cat sat",
            "theatre an anagram aanthe athe",
            "«the» “cat”",
            "a\u{301} the",
            "new\u{a0}the\u{3000}city",
            "the a an",
            "",
            "   ",
            "x-the-y the_a",
        ] {
            let tokens: Vec<&str> = tokens_without_articles(text).collect();
            let expected: Vec<String> = remove_articles(text)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            assert_eq!(tokens, expected, "{text:?}");
        }
        let tokens: Vec<&str> = tokens_without_articles("«the» “cat”").collect();
        assert_eq!(tokens, ["«", "»", "“cat”"]);
    }
}
