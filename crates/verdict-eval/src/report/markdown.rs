//! The Markdown report.
//!
//! Everything that comes from data — the dataset's name, scorer names
//! (a plugin chooses its own), gates, record text, rationales — is written
//! so that a CommonMark renderer shows it as text and nothing else:
//! [`text`] backslash-escapes the ASCII punctuation that markup is made of
//! (CommonMark lets any of it be escaped), so no link, image, emphasis,
//! HTML or entity survives, and [`code`] fences a code span with more
//! backticks than the text holds. Control characters are shown
//! ([`visible`]), which also keeps each value on its line.

use std::fmt::Write as _;

use super::table::{HEADERS, percent, rows};
use super::visible;
use crate::run::RunSummary;

/// The report as Markdown: summary table, gates, worst records per scorer,
/// invalid records.
pub fn markdown(summary: &RunSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Verdict eval {} — {}\n",
        text(&summary.run_id),
        if summary.passed { "passed" } else { "FAILED" }
    );
    let _ = writeln!(
        out,
        "Dataset {}: {}{}, started {}, {:.2} s.{}\n",
        code(&summary.dataset),
        super::count(summary.records, "record"),
        if summary.invalid > 0 {
            format!(" and {} invalid", summary.invalid)
        } else {
            String::new()
        },
        text(&summary.started),
        summary.seconds,
        summary
            .baseline
            .as_ref()
            .map_or_else(String::new, |b| format!(" Baseline: {}.", code(b)))
    );
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(HEADERS.len()));
    for row in rows(summary) {
        let cells: Vec<String> = row.iter().map(|c| text(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(
        out,
        "\nWeighted pass rate: **{}**\n\n## Gates\n",
        percent(summary.weighted_pass_rate)
    );
    if summary.gates.is_empty() {
        let _ = writeln!(out, "No gates were set.");
    } else {
        let _ = writeln!(out, "| gate | measured | verdict |\n|---|---|---|");
        for g in &summary.gates {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                text(&g.gate),
                text(&g.measured),
                if g.passed { "✅ pass" } else { "❌ FAIL" }
            );
        }
    }
    if let Some(comparison) = &summary.comparison {
        let _ = writeln!(
            out,
            "\n## Against the baseline\n\n{}\n",
            text(&comparison.headline())
        );
        if !comparison.changes.is_empty() {
            let _ = writeln!(
                out,
                "| change | scorer | line | trace | before | now | output before | output now |\n|---|---|---|---|---|---|---|---|"
            );
            for c in &comparison.changes {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    if c.now_passes {
                        "✅ newly passes"
                    } else {
                        "❌ newly fails"
                    },
                    text(&c.scorer),
                    c.line,
                    code(&c.trace_id),
                    text(&c.before),
                    text(&c.now),
                    text(&c.baseline_output),
                    text(&c.output)
                );
            }
        }
    }
    let _ = writeln!(out, "\n## Worst records\n");
    for s in &summary.scorers {
        if s.worst.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "### {}\n\n| line | trace | input | output | expectations | value | rationale |\n|---|---|---|---|---|---|---|",
            text(&s.name)
        );
        for w in &s.worst {
            // `verdict show` opens it.
            let trace = if w.trace_id.is_empty() {
                String::new()
            } else {
                code(&w.trace_id)
            };
            let _ = writeln!(
                out,
                "| {} | {trace} | {} | {} | {} | {} | {} |",
                w.line,
                text(&w.input),
                text(&w.output),
                text(&w.expectations),
                text(&w.value),
                text(w.rationale.as_deref().unwrap_or(""))
            );
        }
        out.push('\n');
    }
    if !summary.invalid_records.is_empty() {
        let _ = writeln!(out, "## Invalid records\n\n| line | reason |\n|---|---|");
        for i in &summary.invalid_records {
            let _ = writeln!(out, "| {} | {} |", i.line, text(&i.reason));
        }
    }
    out
}

/// Text from data as Markdown text, placed after other text on its line
/// (a heading's `#`, a table's `|`, a sentence): every character that can
/// begin inline markup in CommonMark or GitHub's Markdown (`\\`, `` ` ``,
/// `*`, `_`, `[`, `]`, `!`, `<`, `>`, `&`, `|`, `~`, `$`) is
/// backslash-escaped, and control characters, line breaks included, are
/// shown, so the text never starts a line of its own and the markers of
/// blocks (`#`, `-`, `=` at the start of a line) mean nothing in it. An `_`
/// between two letters or digits is left as it is (it never delimits
/// emphasis), so that `exact_match` reads as it is written.
pub(crate) fn text(data: &str) -> String {
    let shown = visible(data);
    let chars: Vec<char> = shown.chars().collect();
    let mut out = String::with_capacity(shown.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let markup = match c {
            '_' => {
                let alnum = |j: Option<usize>| {
                    j.and_then(|j| chars.get(j))
                        .is_some_and(|c| c.is_alphanumeric())
                };
                !(alnum(i.checked_sub(1)) && alnum(Some(i + 1)))
            }
            '\\' | '`' | '*' | '[' | ']' | '!' | '<' | '>' | '&' | '|' | '~' | '$' => true,
            _ => false,
        };
        if markup {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Text from data as a code span: nothing in a code span is markup, so
/// the text only needs a fence of more backticks than any run it holds
/// (and a space inside the fence when it starts or ends with a backtick
/// or a space). Not for table cells, where a `|` would still end the cell.
pub(crate) fn code(data: &str) -> String {
    let shown = visible(data);
    let longest = shown.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if shown.starts_with(['`', ' ']) || shown.ends_with(['`', ' ']) {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{shown}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::{code, text};

    #[test]
    fn data_is_shown_as_text() {
        assert_eq!(
            text("<img src=x onerror=alert(1)> </td> a|b & c\nd"),
            "\\<img src=x onerror=alert(1)\\> \\</td\\> a\\|b \\& c\\\\nd"
        );
        assert_eq!(
            text("![x](javascript:alert(1))"),
            "\\!\\[x\\](javascript:alert(1))"
        );
        assert_eq!(text("exact_match _em_ a_"), "exact_match \\_em\\_ a\\_");
        assert_eq!(code("qa.jsonl"), "`qa.jsonl`");
        assert_eq!(code("a`b``c"), "```a`b``c```");
        assert_eq!(code("`x"), "`` `x ``");
    }
}
