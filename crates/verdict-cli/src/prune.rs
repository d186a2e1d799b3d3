//! `verdict prune`: remove evaluation runs from the local store and give
//! the space back.

use std::collections::HashSet;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::bail;
use verdict_eval::find_run;
use verdict_eval::report::{count, visible};
use verdict_export::{RunStatus, StoredRun};

use crate::cli::PruneArgs;
use crate::summary::Summary;

pub(crate) fn run(args: &PruneArgs) -> anyhow::Result<ExitCode> {
    if args.keep.is_none() && args.before.is_none() && args.runs.is_empty() && !args.unfinished {
        bail!(
            "say which runs to remove: --keep N (all but the N most recent), --before WHEN, \
             --run RUN, or --unfinished (interrupted or stopped runs)"
        );
    }
    let before = args
        .before
        .as_deref()
        .map(|text| crate::when::parse_when("--before", text))
        .transpose()?;
    let store = crate::store::open_existing(&args.store.path)?;
    let runs = store.runs()?;
    let mut chosen: HashSet<String> = HashSet::new();
    for spec in &args.runs {
        chosen.insert(find_run(&store, spec)?.run_id);
    }
    let keep = kept(&runs, args.keep);
    for run in &runs {
        let old = before.is_some_and(|when| run.started < when);
        let beyond = args.keep.is_some() && !keep.contains(run.run_id.as_str());
        let unfinished =
            args.unfinished && matches!(run.status, RunStatus::Interrupted | RunStatus::Stopped);
        if old || beyond || unfinished {
            chosen.insert(run.run_id.clone());
        }
    }
    // What it removes decides the exit code: a reader that stops reading
    // (`| head`) does not stop the removal half-way.
    let mut out = Summary::stdout();
    // Never a run still running: its process writes to it.
    let (running, chosen): (Vec<&StoredRun>, Vec<&StoredRun>) = runs
        .iter()
        .filter(|r| chosen.contains(&r.run_id))
        .partition(|r| r.status == RunStatus::Running);
    for run in running {
        let _ = writeln!(
            out,
            "kept {}: it is still running (its process is alive)",
            run.run_id
        );
    }
    if chosen.is_empty() {
        let _ = writeln!(out, "no run to remove");
        return Ok(out.finish(0));
    }
    for run in &chosen {
        let _ = writeln!(
            out,
            "{} {}  {}  {:<11}  {:>8}  {}",
            if args.dry_run {
                "would remove"
            } else {
                "removing"
            },
            run.run_id,
            humantime::format_rfc3339_seconds(run.started),
            run.status.as_str(),
            run.records,
            visible(&run.dataset)
        );
    }
    let records: u64 = chosen.iter().map(|r| r.records).sum();
    if args.dry_run {
        let _ = writeln!(
            out,
            "{} and {} would be removed (--dry-run: nothing was)",
            count(chosen.len() as u64, "run"),
            count(records, "record")
        );
        return Ok(out.finish(0));
    }
    let size = || file_size(&args.store.path);
    let was = size();
    let ids: Vec<&str> = chosen.iter().map(|r| r.run_id.as_str()).collect();
    store.delete_runs(&ids)?;
    let _ = writeln!(
        out,
        "removed {} and {}; {} is {} (was {})",
        count(chosen.len() as u64, "run"),
        count(records, "record"),
        visible(&args.store.path.display().to_string()),
        human_bytes(size()),
        human_bytes(was)
    );
    Ok(out.finish(0))
}

/// The runs `--keep N` keeps: the N most recent, and the latest run that
/// passed of each dataset, so that `--baseline latest` still finds it.
fn kept(runs: &[StoredRun], keep: Option<usize>) -> HashSet<&str> {
    let Some(n) = keep else {
        return HashSet::new();
    };
    // Newest first, as the store lists them.
    let mut kept: HashSet<&str> = runs.iter().take(n).map(|r| r.run_id.as_str()).collect();
    let mut baselines: HashSet<&str> = HashSet::new();
    for run in runs.iter().filter(|r| r.passed()) {
        if baselines.insert(run.dataset.as_str()) {
            kept.insert(run.run_id.as_str());
        }
    }
    kept
}

/// The store's size on disk: its file and the log beside it.
fn file_size(path: &std::path::Path) -> u64 {
    let len = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    len(path) + len(std::path::Path::new(&wal))
}

/// Bytes as a person reads them.
fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GB", n as f64 / f64::from(1 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} kB", n as f64 / f64::from(1 << 10)),
        n => format!("{n} bytes"),
    }
}
