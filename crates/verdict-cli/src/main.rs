//! `verdict`: Verdict from the command line — list and run scorers
//! (`scorers`, `score`), evaluate datasets (`eval`, `runs`, `prune`),
//! evaluate traces as services send them (`serve`), query files and the
//! store with scorers as SQL functions (`sql`), read and review
//! the traces of the local store (`show`, `feedback`, `expectation`,
//! `override`, `delete`) and ship them to a server (`push`).
//!
//! Every command module holds one command; the local store, the scorer
//! host and the export destinations are the library crates', so the
//! binary adds argument parsing and output, not rules.
//!
//! Exit codes: 0 when the command did its job; 1 when it ran but its
//! verdict is negative (a gate of `eval` failed, `push` could not deliver
//! everything); 2 on a usage, input, config or plugin error (clap's own
//! usage errors exit with 2 as well; `score` exits 2 when the scorer could
//! not score the record, after printing the result with its error), and
//! when `eval` could not deliver
//! everything to an `--export` destination: 1 is kept for a quality
//! verdict, so that a CI job never reads a server outage as a regression
//! (the gates are printed all the same; `push`, whose job is delivering,
//! exits 1). An `eval` stopped by SIGINT, SIGTERM or SIGHUP exits 128 +
//! the signal's number, as a shell reports a process a signal ended.
//!
//! A reader that stops reading (`| head`, `| true`) never changes a
//! command's exit code: a listing (`scorers`, `runs`, `show`) has done its
//! job and exits 0; the others exit as what they did says, a failed
//! `eval` with 1 (see `summary`). Nor does a plugin: one isolated in a
//! worker process cannot reach the exit code, and one trusted to run in
//! this process that calls `exit` makes it 2 (see `exit_guard`).

use std::process::ExitCode;

#[cfg(all(feature = "mimalloc", unix))]
#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;

use clap::Parser;

#[cfg(all(feature = "mimalloc", unix))]
mod allocator;
mod cli;
#[cfg(feature = "distributed")]
mod distributed;
mod eval;
mod exit_guard;
mod plugins;
mod predict;
mod prune;
mod push;
mod review;
mod runs;
mod score;
mod scorers;
#[cfg(feature = "serve")]
mod serve;
mod show;
mod signals;
#[cfg(feature = "sql")]
mod sql;
mod store;
mod suite;
mod summary;
mod target;
mod when;
#[cfg(feature = "distributed")]
mod worker;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let cli::Command::PluginWorker = cli.command {
        return plugin_worker();
    }
    exit_guard::install();
    // A panic is reported by its hook and exits 101, as Rust's main does.
    let code = std::panic::catch_unwind(|| run(cli)).unwrap_or(ExitCode::from(101));
    exit_guard::settle(code)
}

/// The worker process a plugin runs in (see verdict-scorer's isolation).
fn plugin_worker() -> ExitCode {
    #[cfg(target_os = "linux")]
    let served = verdict_scorer::serve_worker();
    #[cfg(not(target_os = "linux"))]
    let served: std::io::Result<()> = Err(std::io::Error::other("plugins run in-process here"));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "error: `verdict {}` serves a plugin for the verdict process that starts it, and \
                 is not run by hand: {e}",
                plugins::WORKER_COMMAND
            );
            ExitCode::from(2)
        }
    }
}

fn run(cli: cli::Cli) -> ExitCode {
    // Commands whose whole job is writing a listing: for them a reader
    // that stops reading ends the job. The others decide their exit code
    // by what they did, whoever reads what they say (`summary`).
    let listing = matches!(
        cli.command,
        cli::Command::Scorers(_) | cli::Command::Show(_) | cli::Command::Runs(_)
    );
    let result = match &cli.command {
        cli::Command::Scorers(args) => scorers::run(args),
        cli::Command::Score(args) => score::run(args),
        cli::Command::Show(args) => show::run(args),
        cli::Command::Feedback(args) => review::feedback(args),
        cli::Command::Expectation(args) => review::expectation(args),
        cli::Command::Override(args) => review::override_feedback(args),
        cli::Command::Delete(args) => review::delete(args),
        cli::Command::Push(args) => push::run(args),
        cli::Command::Eval(args) => eval::run(args),
        cli::Command::Runs(args) => runs::run(args),
        cli::Command::Prune(args) => prune::run(args),
        #[cfg(feature = "serve")]
        cli::Command::Serve(args) => serve::run(args),
        #[cfg(feature = "sql")]
        cli::Command::Sql(args) => sql::run(args),
        #[cfg(feature = "distributed")]
        cli::Command::Worker(args) => worker::run(args),
        cli::Command::PluginWorker => unreachable!("served before"),
    };
    match result {
        Ok(code) => code,
        // `verdict scorers | head` is not an error.
        Err(error)
            if listing
                && error
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            // Messages quote data (a dataset line, a plugin's words):
            // nothing in them may act on the terminal.
            eprintln!(
                "error: {}",
                verdict_eval::report::visible_lines(&message(&error))
            );
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, as `{:#}` writes them, except a
/// cause that the message already quotes: the libraries' messages name
/// their cause in the sentence (so that they read whole on their own), and
/// also expose it as their source, which `{:#}` would print a second time.
pub(crate) fn message(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}
