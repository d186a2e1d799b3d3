//! Text from data as a terminal shows it: control characters made visible.
//!
//! A dataset name, a scorer's rationale, a plugin's description or an
//! error message quoting a record comes from data that anyone may have
//! written. Printed raw, an escape sequence in it moves the cursor, clears
//! the screen or writes a fake `PASS` over the real verdict, and a carriage
//! return or a right-to-left override hides what came before it. Every
//! place that prints such text to a terminal passes it through [`visible`]
//! (or [`visible_lines`] where the text may span lines): the characters
//! that a terminal acts on instead of showing are written as Rust escapes
//! (`\u{1b}`, `\r`), so that a person sees them and nothing acts on them.

use std::borrow::Cow;

/// `text` with every character a terminal would act on instead of showing
/// written as an escape: C0 and C1 control characters (newlines and tabs
/// included), DEL, and the bidirectional overrides and isolates that
/// reorder what is displayed. Text with none of them is returned as it is.
///
/// ```
/// use verdict_eval::report::visible;
///
/// assert_eq!(visible("Paris"), "Paris");
/// assert_eq!(visible("\u{1b}[2Jall gates passed\r"), "\\u{1b}[2Jall gates passed\\r");
/// ```
pub fn visible(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// As [`visible`], but line breaks (`\n`) are kept: for text shown on lines
/// of its own, such as a judge's rationale. A carriage return is still
/// escaped, since it would let a line overwrite the one it is on.
pub fn visible_lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let acts = |c: char| acts_on_terminal(c) && !(keep_newlines && c == '\n');
    if !text.chars().any(acts) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if acts(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether a terminal acts on `c` rather than showing it.
fn acts_on_terminal(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_character_a_terminal_acts_on_is_escaped() {
        let hostile = "a\u{1b}[31mb\u{7}c\u{0}d\u{7f}e\u{9b}1mf\u{202e}g\u{2066}h\ti\nj\rk";
        let shown = visible(hostile);
        assert!(!shown.chars().any(acts_on_terminal), "{shown}");
        assert_eq!(
            shown,
            "a\\u{1b}[31mb\\u{7}c\\0d\\u{7f}e\\u{9b}1mf\\u{202e}g\\u{2066}h\\ti\\nj\\rk"
        );
        // Lines stay lines; a carriage return does not.
        assert_eq!(visible_lines("one\ntwo\r"), "one\ntwo\\r");
        // Text that needs nothing is not copied.
        assert!(matches!(visible("é 東京 🙂"), Cow::Borrowed(_)));
    }
}
