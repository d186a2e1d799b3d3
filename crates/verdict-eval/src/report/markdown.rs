//! The Markdown report.

use std::fmt::Write as _;

use super::table::{HEADERS, percent, rows};
use crate::run::RunSummary;

/// The report as Markdown: summary table, gates, worst records per scorer,
/// invalid records.
pub fn markdown(summary: &RunSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Verdict eval {} — {}\n",
        summary.run_id,
        if summary.passed { "passed" } else { "FAILED" }
    );
    let _ = writeln!(
        out,
        "Dataset `{}`: {}{}, started {}, {:.2} s.{}\n",
        summary.dataset,
        super::count(summary.records, "record"),
        if summary.invalid > 0 {
            format!(" and {} invalid", summary.invalid)
        } else {
            String::new()
        },
        summary.started,
        summary.seconds,
        summary
            .baseline
            .as_ref()
            .map_or_else(String::new, |b| format!(" Baseline: `{b}`."))
    );
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(HEADERS.len()));
    for row in rows(summary) {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
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
                cell(&g.gate),
                cell(&g.measured),
                if g.passed { "✅ pass" } else { "❌ FAIL" }
            );
        }
    }
    let _ = writeln!(out, "\n## Worst records\n");
    for s in &summary.scorers {
        if s.worst.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "### {}\n\n| line | input | output | expectations | value | rationale |\n|---|---|---|---|---|---|",
            s.name
        );
        for w in &s.worst {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                w.line,
                cell(&w.input),
                cell(&w.output),
                cell(&w.expectations),
                cell(&w.value),
                cell(w.rationale.as_deref().unwrap_or(""))
            );
        }
        out.push('\n');
    }
    if !summary.invalid_records.is_empty() {
        let _ = writeln!(out, "## Invalid records\n\n| line | reason |\n|---|---|");
        for i in &summary.invalid_records {
            let _ = writeln!(out, "| {} | {} |", i.line, cell(&i.reason));
        }
    }
    out
}

/// Text safe inside a Markdown table cell: dataset text is shown as it
/// is, never read as HTML (an `<img>` or a `</td>` in an output would
/// otherwise be rendered, or break the page, where the report is viewed).
fn cell(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_show_html_and_pipes_as_text() {
        assert_eq!(
            cell("<img src=x onerror=alert(1)> </td> a|b & c\nd"),
            "&lt;img src=x onerror=alert(1)&gt; &lt;/td&gt; a\\|b &amp; c d"
        );
    }
}
