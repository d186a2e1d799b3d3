//! What failed, pytest-style: each failed gate, then the worst records of
//! every scorer a failed gate measures — line, trace, output against
//! expectation, why, and the `verdict show` command that opens the trace.
//! `verdict eval` prints it when a run fails, [`Suite`](crate::Suite)
//! panics with it, and a JUnit gate's failure carries it: one text, so a
//! person reads the same whichever way the run was started.

use std::fmt::Write as _;
use std::path::Path;

use super::visible;
use crate::run::RunSummary;
use crate::stats::ScorerStats;

/// The failed gates, then the records behind them ([`failed_records`]);
/// empty when every gate passed. With `store`, each record says how to
/// open its trace there.
pub fn failure_message(summary: &RunSummary, store: Option<&Path>) -> String {
    let failed: Vec<_> = summary.gates.iter().filter(|g| !g.passed).collect();
    if failed.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "{} of {} failed on {} ({}):\n",
        failed.len(),
        super::count(summary.gates.len() as u64, "gate"),
        visible(&summary.dataset),
        super::count(summary.records, "record")
    );
    for g in failed {
        let _ = writeln!(
            out,
            "  FAIL {} — {}",
            visible(&g.gate),
            visible(&g.measured)
        );
    }
    out.push_str(&failed_records(summary, store));
    out
}

/// The worst records of every scorer that a failed gate measures, in the
/// suite's order, each scorer once; empty when every gate passed.
pub fn failed_records(summary: &RunSummary, store: Option<&Path>) -> String {
    let mut out = String::new();
    for s in &summary.scorers {
        let measured = summary
            .gates
            .iter()
            .any(|g| !g.passed && g.scorers.contains(&s.name));
        if measured {
            out.push_str(&worst_records(s, store));
        }
    }
    out
}

/// One scorer's worst records, worst first (none when every record
/// passed).
pub fn worst_records(scorer: &ScorerStats, store: Option<&Path>) -> String {
    let mut out = String::new();
    if scorer.worst.is_empty() {
        return out;
    }
    let name = visible(&scorer.name);
    let _ = writeln!(
        out,
        "\nworst records of {name} ({}):",
        visible(&scorer.criterion)
    );
    for w in &scorer.worst {
        let trace = if w.trace_id.is_empty() {
            String::new()
        } else {
            format!(" · {}", visible(&w.trace_id))
        };
        let _ = writeln!(
            out,
            "  line {}{trace}: {name} → {}\n    input:    {}\n    output:   {}\n    expected: {}",
            w.line,
            visible(&w.value),
            visible(&w.input),
            visible(&w.output),
            visible(&w.expectations)
        );
        if let Some(rationale) = &w.rationale {
            let _ = writeln!(out, "    why:      {}", visible(rationale));
        }
        if let (Some(store), false) = (store, w.trace_id.is_empty()) {
            let _ = writeln!(out, "    see:      {}", show_command(&w.trace_id, store));
        }
    }
    out
}

/// The command that shows a trace of the store at `store`.
fn show_command(trace_id: &str, store: &Path) -> String {
    let mut command = format!("verdict show {}", visible(trace_id));
    if store != Path::new(verdict_export::DEFAULT_PATH) {
        let path = store.display().to_string();
        // Quoted as a shell reads it when it holds anything but plain
        // path characters.
        let plain = path
            .chars()
            .all(|c| c.is_alphanumeric() || "/._-+:@%,=".contains(c));
        if plain {
            let _ = write!(command, " --store {path}");
        } else {
            let _ = write!(
                command,
                " --store '{}'",
                visible(&path.replace('\'', r"'\''"))
            );
        }
    }
    command
}
