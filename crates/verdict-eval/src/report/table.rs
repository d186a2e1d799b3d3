//! The summary table every report shows: one row per scorer.

use super::visible;
use crate::run::RunSummary;
use crate::stats::{ScorerStats, format_number};

/// The table's columns.
pub(crate) const HEADERS: [&str; 9] = [
    "scorer",
    "records",
    "pass rate",
    "mean",
    "p50",
    "p90",
    "errors",
    "weight",
    "pass when",
];

/// How many invalid records the terminal lists.
const INVALID_SHOWN: usize = 5;

/// One row per scorer, as text.
pub(crate) fn rows(summary: &RunSummary) -> Vec<[String; 9]> {
    summary.scorers.iter().map(row).collect()
}

fn row(s: &ScorerStats) -> [String; 9] {
    let number = |n: Option<f64>| n.map_or_else(|| "–".to_owned(), format_number);
    [
        s.name.clone(),
        s.records.to_string(),
        percent(s.pass_rate()),
        number(s.mean),
        approximate(s.p50, s.p50_bounds),
        approximate(s.p90, s.p90_bounds),
        s.errors.to_string(),
        format_number(s.weight),
        s.criterion.clone(),
    ]
}

/// A quantile, marked `≈` when it is the middle of the interval the
/// exact one lies in.
fn approximate(n: Option<f64>, bounds: Option<(f64, f64)>) -> String {
    match (n, bounds) {
        (Some(n), Some(_)) => format!("≈{}", format_number(n)),
        (Some(n), None) => format_number(n),
        (None, _) => "–".to_owned(),
    }
}

/// A rate as a percentage, or a dash.
pub(crate) fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_owned(), |r| format!("{:.1} %", 100.0 * r))
}

/// The summary as aligned plain text, for a terminal: text from data
/// (names, reasons, gates) shown with [`visible`].
pub fn terminal(summary: &RunSummary) -> String {
    let rows: Vec<[String; 9]> = rows(summary)
        .into_iter()
        .map(|row| row.map(|cell| visible(&cell).into_owned()))
        .collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            // Names and criteria left, numbers right.
            if i == 0 || i == 8 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
            out.push_str("  ");
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = format!(
        "{} · {} · {}{} · {:.2} s ({:.0} records/s)\n\n",
        visible(&summary.run_id),
        visible(&summary.dataset),
        super::count(summary.records, "record"),
        if summary.invalid > 0 {
            format!(" + {} invalid", summary.invalid)
        } else {
            String::new()
        },
        summary.seconds,
        summary.records_per_second()
    );
    if summary.invalid > 0 {
        // Which lines and why, not only how many: the first few.
        let listed = summary.invalid_records.iter().take(INVALID_SHOWN);
        for bad in listed {
            out.push_str(&format!(
                "invalid line {}: {}\n",
                bad.line,
                visible(&bad.reason)
            ));
        }
        if summary.invalid > INVALID_SHOWN as u64 {
            out.push_str(&format!(
                "… and {} more invalid (--json or --report lists the first {})\n",
                summary.invalid - INVALID_SHOWN as u64,
                summary.invalid_records.len()
            ));
        }
        out.push('\n');
    }
    out.push_str(&line(&HEADERS.map(str::to_owned)));
    for row in &rows {
        out.push_str(&line(row));
    }
    out.push_str(&format!(
        "\nweighted pass rate: {}\n",
        percent(summary.weighted_pass_rate)
    ));
    if summary.gates.is_empty() {
        out.push_str("no gates\n");
    }
    for gate in &summary.gates {
        out.push_str(&format!(
            "{}  {} — {}\n",
            if gate.passed { "PASS" } else { "FAIL" },
            visible(&gate.gate),
            visible(&gate.measured)
        ));
    }
    if let Some(comparison) = &summary.comparison {
        out.push_str(&format!("\n{}\n", visible(&comparison.headline())));
        for (now_passes, title, total) in [
            (false, "newly failing", comparison.newly_failing),
            (true, "newly passing", comparison.newly_passing),
        ] {
            let listed: Vec<_> = comparison.listed(now_passes).collect();
            if listed.is_empty() {
                continue;
            }
            out.push_str(&format!("  {title}:\n"));
            for c in &listed {
                out.push_str(&format!(
                    "    line {} · {} · {}: {} → {}   output: {} (was {})\n",
                    c.line,
                    visible(&c.trace_id),
                    visible(&c.scorer),
                    visible(&c.before),
                    visible(&c.now),
                    visible(&c.output),
                    visible(&c.baseline_output)
                ));
            }
            if total > listed.len() as u64 {
                out.push_str(&format!(
                    "    … and {} more (--json lists the first {})\n",
                    total - listed.len() as u64,
                    crate::compare::CHANGES_LISTED
                ));
            }
        }
    }
    out
}

/// What the run's `--export` destinations did not deliver, one `error:`
/// paragraph per destination, with the traces named and how to send them
/// again from the local store at `store`; empty when everything arrived.
pub fn undelivered(summary: &RunSummary, store: &std::path::Path) -> String {
    let mut out = String::new();
    for failure in &summary.undelivered {
        out.push_str(&format!("error: {}\n", visible(&failure.to_string())));
        if !failure.traces.is_empty() {
            out.push_str(&format!(
                "  not delivered: {}{}\n",
                visible(&failure.traces.join(", ")),
                if failure.more_traces { " and more" } else { "" }
            ));
        }
        out.push_str(&format!(
            "  the local store {store} holds all of run {run}: `verdict push --to {to} --store \
             {store}` sends it again ({what})\n",
            store = visible(&store.display().to_string()),
            run = visible(&summary.run_id),
            to = visible(&failure.destination),
            what = if failure.traces.is_empty() || failure.more_traces {
                "the whole store; add --trace ID for some traces only"
            } else {
                "the whole store; add --trace ID for each trace named to send only those"
            },
        ));
    }
    out
}
