//! `verdict runs`: the stored evaluation runs, or one run in full.

use std::io::Write as _;
use std::process::ExitCode;

use verdict_eval::report::{self, visible};
use verdict_eval::{RunSummary, find_run};
use verdict_export::{RunStatus, StoredRun};

use crate::cli::RunsArgs;

pub(crate) fn run(args: &RunsArgs) -> anyhow::Result<ExitCode> {
    // Listing runs reads the store: a mistyped --store is not a new one.
    let store = crate::store::open_to_read(&args.store.path)?;
    let mut out = std::io::stdout().lock();
    if let Some(spec) = &args.run {
        let run = find_run(&store, spec)?;
        if args.json {
            writeln!(out, "{}", run_json(&run))?;
            return Ok(ExitCode::SUCCESS);
        }
        let summary = RunSummary::of(&run)?;
        match (run.status, summary) {
            (status, Some(summary)) if status.is_finished() => {
                write!(out, "{}", report::terminal(&summary))?;
                write!(out, "{}", report::undelivered(&summary, &args.store.path))?;
            }
            (status, _) => {
                let reason = run
                    .reason
                    .as_deref()
                    .map_or_else(String::new, |r| format!(": {}", visible(r)));
                let stored = report::count(run.records, "record");
                match status {
                    RunStatus::Running => writeln!(
                        out,
                        "run {} of {} is running: {stored} stored so far",
                        run.run_id,
                        visible(&run.dataset)
                    )?,
                    RunStatus::Interrupted => writeln!(
                        out,
                        "run {} was interrupted after storing {stored}{reason}",
                        run.run_id
                    )?,
                    _ => writeln!(
                        out,
                        "run {} stopped after storing {stored}{reason}",
                        run.run_id
                    )?,
                }
                if status != RunStatus::Running {
                    writeln!(
                        out,
                        "it never reached its verdict, so it is never a baseline; `verdict prune \
                         --run {}` removes it",
                        run.run_id
                    )?;
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let runs = store.runs()?;
    if args.json {
        for run in &runs {
            writeln!(out, "{}", run_json(run))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        writeln!(
            out,
            "no runs in {} yet: `verdict eval DATA` makes one",
            visible(&args.store.path.display().to_string())
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<16}  {:<20}  {:>8}  {:>7}  {:<6}  {:>9}  dataset",
        "run", "started", "records", "invalid", "status", "weighted"
    )?;
    for run in &runs {
        // One run whose summary cannot be read back does not hide the
        // others: it shows as such, and `verdict runs RUN` says why.
        let weighted = match RunSummary::of(run) {
            Ok(summary) => summary
                .and_then(|s| s.weighted_pass_rate)
                .map_or_else(|| "–".to_owned(), |r| format!("{:.1} %", 100.0 * r)),
            Err(_) => "unreadable".to_owned(),
        };
        writeln!(
            out,
            "{:<16}  {:<20}  {:>8}  {:>7}  {:<6}  {:>9}  {}",
            visible(&run.run_id),
            humantime::format_rfc3339_seconds(run.started).to_string(),
            run.records,
            run.invalid,
            status_word(run.status),
            weighted,
            visible(&run.dataset)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A run's status as the list shows it: what failed stands out.
fn status_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "run",
        RunStatus::Passed => "pass",
        RunStatus::Failed => "FAIL",
        RunStatus::Stopped => "STOP",
        RunStatus::Interrupted => "INT",
    }
}

/// A run as one JSON object.
fn run_json(run: &StoredRun) -> serde_json::Value {
    serde_json::json!({
        "run_id": run.run_id,
        "status": run.status.as_str(),
        "started": humantime::format_rfc3339_seconds(run.started).to_string(),
        "finished": run.finished.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
        "dataset": run.dataset,
        "records": run.records,
        "invalid": run.invalid,
        "assessments": run.assessments,
        "passed": run.passed(),
        "reason": run.reason,
        "summary": run.summary,
    })
}
