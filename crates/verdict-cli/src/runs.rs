//! `verdict runs`: the stored evaluation runs, or one run in full.

use std::io::Write as _;
use std::process::ExitCode;

use verdict_eval::report::{self, visible};
use verdict_eval::{RunSummary, find_run};

use crate::cli::RunsArgs;

pub(crate) fn run(args: &RunsArgs) -> anyhow::Result<ExitCode> {
    // Listing runs reads the store: a mistyped --store is not a new one.
    let store = crate::store::open_existing(&args.store.path)?;
    let mut out = std::io::stdout().lock();
    if let Some(spec) = &args.run {
        let run = find_run(&store, spec)?;
        if args.json {
            writeln!(out, "{}", run.summary)?;
        } else {
            let summary: RunSummary = serde_json::from_value(run.summary.clone()).map_err(|e| {
                anyhow::anyhow!(
                    "the summary of run {} in {} cannot be read: {e}",
                    run.run_id,
                    args.store.path.display()
                )
            })?;
            if let Some(error) = &summary.error {
                writeln!(
                    out,
                    "run {} stopped after storing {} records: {}",
                    visible(&summary.run_id),
                    summary.records,
                    visible(error)
                )?;
            } else {
                write!(out, "{}", report::terminal(&summary))?;
                write!(out, "{}", report::undelivered(&summary, &args.store.path))?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let runs = store.runs()?;
    if args.json {
        for run in &runs {
            writeln!(
                out,
                "{}",
                serde_json::json!({
                    "run_id": run.run_id,
                    "started": humantime::format_rfc3339_seconds(run.started).to_string(),
                    "dataset": run.dataset,
                    "records": run.records,
                    "invalid": run.invalid,
                    "passed": run.passed,
                    "summary": run.summary,
                })
            )?;
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
        "run", "started", "records", "invalid", "gates", "weighted"
    )?;
    for run in &runs {
        let weighted = run.summary["weighted_pass_rate"]
            .as_f64()
            .map_or_else(|| "–".to_owned(), |r| format!("{:.1} %", 100.0 * r));
        writeln!(
            out,
            "{:<16}  {:<20}  {:>8}  {:>7}  {:<6}  {:>9}  {}",
            visible(&run.run_id),
            humantime::format_rfc3339_seconds(run.started).to_string(),
            run.records,
            run.invalid,
            if run.summary.get("error").is_some() {
                "STOP"
            } else if run.passed {
                "pass"
            } else {
                "FAIL"
            },
            weighted,
            visible(&run.dataset)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
