//! The HTML report: one self-contained page (inline CSS, inline SVG
//! charts, no script) that can be attached to a CI run or mailed.

use std::fmt::Write as _;

use super::junit::escape;
use super::table::{HEADERS, percent, rows};
use crate::run::RunSummary;
use crate::stats::{ScorerStats, format_number};

/// Bars in a chart of many distinct values.
const BINS: usize = 20;
/// Up to this many distinct values, each gets its own bar.
const DISTINCT_BARS: usize = 12;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;\
text-align:left;vertical-align:top}th{background:#f3f3f3}td.n{text-align:right}\
.pass{color:#1a7f37;font-weight:600}.fail{color:#c62828;font-weight:600}\
.charts{display:flex;flex-wrap:wrap;gap:1.5em}figure{margin:0}figcaption{font-weight:600}\
code{background:#f3f3f3;padding:0 .2em}";

/// The report as one HTML page: summary table, a chart of each scorer's
/// score distribution, gates, worst records, invalid records.
pub fn html(summary: &RunSummary) -> String {
    let mut out = String::new();
    let verdict = if summary.passed {
        "<span class=\"pass\">passed</span>"
    } else {
        "<span class=\"fail\">FAILED</span>"
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Verdict eval {id}</title><style>{STYLE}</style></head><body>\n\
         <h1>Verdict eval <code>{id}</code> — {verdict}</h1>\n\
         <p>Dataset <code>{dataset}</code>: {records} records{invalid}, started {started}, {seconds:.2} s.{baseline}</p>\n",
        id = escape(&summary.run_id),
        dataset = escape(&summary.dataset),
        records = summary.records,
        invalid = if summary.invalid > 0 {
            format!(" and {} invalid", summary.invalid)
        } else {
            String::new()
        },
        started = escape(&summary.started),
        seconds = summary.seconds,
        baseline = summary
            .baseline
            .as_ref()
            .map_or_else(String::new, |b| format!(
                " Baseline: <code>{}</code>.",
                escape(b)
            )),
    );
    out.push_str("<table><tr>");
    for h in HEADERS {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr>\n");
    for row in rows(summary) {
        out.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let class = if i == 0 || i == 8 { "" } else { " class=\"n\"" };
            let _ = write!(out, "<td{class}>{}</td>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    let _ = writeln!(
        out,
        "</table>\n<p>Weighted pass rate: <b>{}</b></p>\n<h2>Score distributions</h2>\n<div class=\"charts\">",
        percent(summary.weighted_pass_rate)
    );
    for s in &summary.scorers {
        out.push_str(&chart(s));
    }
    out.push_str("</div>\n<h2>Gates</h2>\n");
    if summary.gates.is_empty() {
        out.push_str("<p>No gates were set.</p>\n");
    } else {
        out.push_str("<table><tr><th>gate</th><th>measured</th><th>verdict</th></tr>\n");
        for g in &summary.gates {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&g.gate),
                escape(&g.measured),
                if g.passed {
                    "<span class=\"pass\">pass</span>"
                } else {
                    "<span class=\"fail\">FAIL</span>"
                }
            );
        }
        out.push_str("</table>\n");
    }
    if let Some(comparison) = &summary.comparison {
        let _ = writeln!(
            out,
            "<h2>Against the baseline</h2>\n<p>{}</p>",
            escape(&comparison.headline())
        );
        if !comparison.changes.is_empty() {
            out.push_str(
                "<table><tr><th>change</th><th>scorer</th><th>line</th><th>trace</th><th>before</th>\
                 <th>now</th><th>output before</th><th>output now</th></tr>\n",
            );
            for c in &comparison.changes {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    if c.now_passes {
                        "<span class=\"pass\">newly passes</span>"
                    } else {
                        "<span class=\"fail\">newly fails</span>"
                    },
                    escape(&c.scorer),
                    c.line,
                    escape(&c.trace_id),
                    escape(&c.before),
                    escape(&c.now),
                    escape(&c.baseline_output),
                    escape(&c.output)
                );
            }
            out.push_str("</table>\n");
        }
    }
    out.push_str("<h2>Worst records</h2>\n");
    for s in summary.scorers.iter().filter(|s| !s.worst.is_empty()) {
        let _ = writeln!(
            out,
            "<h3>{}</h3>\n<table><tr><th>line</th><th>trace</th><th>input</th><th>output</th><th>expectations</th>\
             <th>value</th><th>rationale</th></tr>",
            escape(&s.name)
        );
        for w in &s.worst {
            // `verdict show` opens it.
            let _ = writeln!(
                out,
                "<tr><td class=\"n\">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                w.line,
                escape(&w.trace_id),
                escape(&w.input),
                escape(&w.output),
                escape(&w.expectations),
                escape(&w.value),
                escape(w.rationale.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</table>\n");
    }
    if !summary.invalid_records.is_empty() {
        out.push_str("<h2>Invalid records</h2>\n<table><tr><th>line</th><th>reason</th></tr>\n");
        for i in &summary.invalid_records {
            let _ = writeln!(
                out,
                "<tr><td class=\"n\">{}</td><td>{}</td></tr>",
                i.line,
                escape(&i.reason)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// Bars of (label, count) for a scorer's distribution.
fn bars(s: &ScorerStats) -> Vec<(String, u64)> {
    let d = &s.distribution;
    let only_bools = s.kinds[1] == 0 && s.kinds[2] == 0;
    if d.len() <= DISTINCT_BARS {
        return d
            .iter()
            .map(|(v, n)| {
                let label = match (only_bools, *v) {
                    (true, 0.0) => "false".to_owned(),
                    (true, 1.0) => "true".to_owned(),
                    _ => format_number(*v),
                };
                (label, *n)
            })
            .collect();
    }
    let (lo, hi) = (d[0].0, d[d.len() - 1].0);
    let width = (hi - lo) / BINS as f64;
    let mut counts = vec![0u64; BINS];
    for (v, n) in d {
        let bin = (((v - lo) / width) as usize).min(BINS - 1);
        counts[bin] += n;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| (format_number(lo + width * i as f64), n))
        .collect()
}

/// An inline SVG bar chart of a scorer's values.
fn chart(s: &ScorerStats) -> String {
    let bars = bars(s);
    let mut out = format!("<figure><figcaption>{}</figcaption>", escape(&s.name));
    if bars.is_empty() {
        out.push_str("<p>No values (every record was an error).</p></figure>\n");
        return out;
    }
    let (w, h, pad) = (360.0, 160.0, 24.0);
    let max = bars.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1) as f64;
    let slot = (w - 2.0 * pad) / bars.len() as f64;
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{total}\" role=\"img\" \
         aria-label=\"distribution of {name}\"><line x1=\"{pad}\" y1=\"{base}\" x2=\"{right}\" y2=\"{base}\" stroke=\"#888\"/>",
        total = h + 2.0 * pad,
        name = escape(&s.name),
        base = h + pad,
        right = w - pad,
    );
    for (i, (label, n)) in bars.iter().enumerate() {
        let bar = (h - 12.0) * (*n as f64) / max;
        let x = pad + slot * i as f64 + slot * 0.1;
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bar:.1}\" fill=\"#4f6fb3\"><title>{label}: {n}</title></rect>",
            y = h + pad - bar,
            bw = slot * 0.8,
            label = escape(label),
        );
        if bars.len() <= DISTINCT_BARS || i % 4 == 0 {
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{ty:.1}\" font-size=\"10\" text-anchor=\"middle\">{label}</text>",
                cx = x + slot * 0.4,
                ty = h + pad + 14.0,
                label = escape(label),
            );
        }
        let _ = write!(
            out,
            "<text x=\"{cx:.1}\" y=\"{ty:.1}\" font-size=\"10\" text-anchor=\"middle\">{n}</text>",
            cx = x + slot * 0.4,
            ty = h + pad - bar - 3.0,
        );
    }
    out.push_str("</svg></figure>\n");
    out
}
