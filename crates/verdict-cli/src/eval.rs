//! `verdict eval`: score a dataset, store the run, check the gates.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use verdict_eval::{Dataset, Evaluation, ExportTarget, Outputs, TraceSelection, report};
use verdict_export::LocalStore;

use crate::cli::{EvalArgs, TraceSource};
use crate::plugins::registry;
use crate::summary::Summary;

/// A run shorter than this shows no progress bar.
const QUIET_FOR: Duration = Duration::from_millis(700);

pub(crate) fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    // Before anything else that can fail: no output may be the dataset,
    // the store, or another output; then the result files an earlier run
    // left go, so that a run that fails from here on (a config, a scorer,
    // a dataset or a baseline it cannot read) leaves none for CI to read
    // as its own. An --export file is appended to, and stays.
    let targets: Vec<_> = args
        .exports
        .iter()
        .map(|s| crate::target::parse(s))
        .collect();
    let mut outputs = Outputs::new().store(&args.store.path);
    if let Some(data) = &args.data {
        outputs = outputs.dataset(data);
    }
    if let Some(config) = &args.config {
        outputs = outputs.input("--config", config);
    }
    for plugin in &args.plugins.plugins {
        outputs = outputs.input("--plugin", plugin);
    }
    for plugin in &args.plugins.trusted {
        outputs = outputs.input("--trusted-plugin", plugin);
    }
    for (flag, path) in [
        ("--report", &args.report),
        ("--json", &args.json),
        ("--junit", &args.junit),
        ("--results", &args.results),
    ] {
        if let Some(path) = path {
            outputs = outputs.result(flag, path);
        }
    }
    for target in targets.iter().flatten() {
        if target.is_stdout() {
            // Seen as the file standard output is redirected to, if any.
            outputs = outputs.standard_output("--export jsonl:-");
        } else if let ExportTarget::Jsonl(path) = target {
            outputs = outputs.output("--export", path);
        }
    }
    if let Some(path) = &args.results {
        report::check_results_path(path)?;
    }
    outputs.remove_stale_results()?;
    let targets = targets.into_iter().collect::<Result<Vec<_>, _>>()?;
    let mut config = crate::suite::suite_config(args.config.as_deref(), &args.scorers)?;
    for arg in &args.fail_under {
        config.set_fail_under(arg)?;
    }
    for expression in &args.gates {
        config.add_gate(expression)?;
    }
    // With --export jsonl:- standard output carries the JSON lines only.
    let to_stdout = targets.iter().any(ExportTarget::is_stdout);
    let mut options = config.dataset.clone();
    if let Some(format) = &args.format {
        options.format = Some(
            format
                .parse()
                .map_err(|e| anyhow::anyhow!("--format: {e}"))?,
        );
    }
    for arg in &args.map {
        options
            .map
            .add(arg)
            .map_err(|e| anyhow::anyhow!("--map {arg}: {e}"))?;
    }
    let registry = registry(&args.plugins, &config.plugins)?;
    #[cfg(feature = "distributed")]
    let specs: Vec<_> = config.scorers.iter().map(|s| s.spec.clone()).collect();
    let dataset = match &args.data {
        Some(data) => Some(Dataset::open_with(data, &options)?),
        None => None,
    };
    let store = Arc::new(LocalStore::open(&args.store.path)?);
    let mut evaluation = Evaluation::with_registry(config, &registry)?
        .skip_invalid(args.skip_invalid)
        .store(Arc::clone(&store));
    let run_id = evaluation.run_id().to_owned();
    // Taken before the destinations open, so that their retries stop
    // with the run.
    let interrupt = crate::signals::interrupt_on_signals()?;
    let to_mlflow = targets.contains(&ExportTarget::Mlflow);
    for target in targets {
        evaluation = evaluation.export(crate::target::open(target, &interrupt)?);
    }
    let dataset = match (dataset, args.traces) {
        (Some(dataset), _) => dataset,
        (None, source) => {
            let source = source.expect("clap asks for DATA or --traces");
            // The feedback on an experiment's traces goes back to it.
            if source == TraceSource::Mlflow && !to_mlflow {
                evaluation =
                    evaluation.export(crate::target::open(ExportTarget::Mlflow, &interrupt)?);
            }
            traces_dataset(args, source, &store, &evaluation)?
        }
    };
    if let Some(path) = &args.junit {
        evaluation = evaluation.junit(path);
    }
    if let Some(path) = &args.json {
        evaluation = evaluation.json(path);
    }
    if let Some(path) = &args.results {
        evaluation = evaluation.results(path);
    }
    if let Some(path) = &args.report {
        evaluation = evaluation.report(path);
    }
    if let Some(run) = &args.baseline {
        evaluation = evaluation.baseline(run);
    }
    if let Some(run) = &args.reuse_outputs {
        evaluation = evaluation.reuse_outputs(run);
    }
    evaluation = evaluation.interrupt(interrupt);
    #[cfg(feature = "distributed")]
    if let Some(workers) = &args.workers {
        if args.traces.is_some() {
            anyhow::bail!(
                "--workers scores a Parquet file's records; traces are scored without workers"
            );
        }
        evaluation = crate::distributed::score_on_workers(
            workers, evaluation, &dataset, &options, &specs, registry,
        )?;
    }
    // Last before the run: a command that cannot start stops it here,
    // before any record is read.
    let (mut evaluation, system) = crate::predict::start(&args.predict, evaluation)?;
    let bar = progress_bar(dataset.len_bytes());
    let shown = bar.clone();
    let started = Instant::now();
    evaluation = evaluation.on_progress(move |p| {
        if shown.is_hidden() && started.elapsed() > QUIET_FOR && std::io::stderr().is_terminal() {
            shown.set_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        }
        shown.set_position(p.bytes);
        shown.set_message(format!("{} records", p.records));
    });
    let summary = evaluation.run(&dataset);
    bar.finish_and_clear();
    if let Some(system) = system {
        system.finish();
    }
    let data = match &args.data {
        Some(data) if data.as_os_str() == verdict_eval::STDIN => "standard input".to_owned(),
        _ => dataset.path().display().to_string(),
    };
    let summary = match summary {
        Ok(summary) => summary,
        // A signal stopped it: said as any stop, and the exit code is the
        // one a shell gives a process the signal killed.
        Err(verdict_eval::Error::Interrupted { signal }) => {
            eprintln!(
                "{}",
                report::visible_lines(&format!(
                    "{}: {}",
                    stop_context(&store, &run_id, &data),
                    verdict_eval::Error::Interrupted { signal }
                ))
            );
            return Ok(ExitCode::from(
                u8::try_from(128 + signal).unwrap_or(u8::MAX),
            ));
        }
        Err(error) => {
            return Err(anyhow::Error::new(error).context(stop_context(&store, &run_id, &data)));
        }
    };
    if summary.records == 0 && summary.invalid == 0 {
        let what = if args.traces.is_some() {
            "left no trace to score"
        } else {
            "holds no records"
        };
        eprintln!(
            "warning: {} {what}: nothing was scored",
            report::visible(&data)
        );
    }
    // The verdict decides the exit code: a reader that stops reading the
    // summary (`| head`, `| true`) changes nothing.
    let code = if !summary.undelivered.is_empty() {
        2
    } else if summary.passed {
        0
    } else {
        1
    };
    let summary_text = format!(
        "{}{}\nstored as {} in {}{}\n",
        report::terminal(&summary),
        // A failed run says which records failed, and how to open each one.
        report::failed_records(&summary, Some(&args.store.path)),
        summary.run_id,
        report::visible(&args.store.path.display().to_string()),
        if summary.passed {
            ""
        } else {
            " — a gate failed"
        }
    );
    let mut out = if to_stdout {
        Summary::stderr()
    } else {
        Summary::stdout()
    };
    let _ = out.write_all(summary_text.as_bytes());
    let exit = out.finish(code);
    if !summary.undelivered.is_empty() {
        // After the summary, so that it is the last thing a CI log shows.
        let _ = write!(
            std::io::stderr(),
            "{}",
            report::undelivered(&summary, &args.store.path)
        );
    }
    Ok(exit)
}

/// What a run that stopped before its verdict left: the records it kept,
/// under a run listed as stopped or interrupted.
fn stop_context(store: &LocalStore, run_id: &str, data: &str) -> String {
    match store.run(run_id) {
        Ok(Some(run)) => format!(
            "evaluating {data}: run {run_id} stopped after storing {} (kept in {}, and listed as \
             {} by `verdict runs`)",
            report::count(run.records, "record"),
            store.path().display(),
            run.status
        ),
        _ => format!("evaluating {data}"),
    }
}

/// A bar over the dataset's bytes (a count of records and bytes read when
/// the size is not known: a pipe), hidden until the run has gone on for a
/// while, and for good when stderr is not a terminal.
fn progress_bar(total: Option<u64>) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
    let template = match total {
        Some(_) => "{bar:40} {percent:>3}% {msg} ({elapsed})",
        None => "{spinner} {msg}, {bytes} read ({elapsed})",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// The traces `--traces` names, as a dataset: the store's, or the MLflow
/// experiment's (read into the store first).
fn traces_dataset(
    args: &EvalArgs,
    source: TraceSource,
    store: &LocalStore,
    evaluation: &Evaluation,
) -> anyhow::Result<Dataset> {
    let when = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(|text| crate::when::parse_when(flag, text))
            .transpose()
    };
    let selection = TraceSelection {
        filter: args.filter.clone(),
        since: when("--since", &args.since)?,
        until: when("--until", &args.until)?,
        limit: args.limit,
        rescore: args.rescore,
    };
    let (name, traces) = match source {
        TraceSource::Store => (
            format!("the traces of {}", args.store.path.display()),
            verdict_eval::store_traces(store, &selection)?,
        ),
        TraceSource::Mlflow => {
            let sink = verdict_export::MlflowSink::from_env()?;
            (
                format!(
                    "the traces of MLflow experiment {} at {}",
                    sink.config().get_experiment_id(),
                    sink.config().tracking_uri()
                ),
                verdict_eval::mlflow_traces(&sink, store, &selection)?,
            )
        }
    };
    let found = traces.len();
    let infos: Vec<_> = evaluation
        .scorers()
        .iter()
        .map(|scorer| scorer.info().clone())
        .collect();
    let records = verdict_eval::trace_records(traces, &infos, args.rescore);
    if records.skipped > 0 {
        eprintln!(
            "{} of the {found} traces found skipped: every scorer of the run has judged them at \
             its current version (--rescore scores them again)",
            records.skipped
        );
    }
    Ok(Dataset::of_traces(name, records.entries))
}
