//! `verdict worker`: serves the stages of the queries a coordinator
//! (`verdict sql --workers`) sends, with every scorer as a function, and
//! the parts of the runs `verdict eval --workers` sends
//! (`verdict-distributed`), until SIGINT or SIGTERM.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use verdict_eval::PluginSettings;

use crate::cli::WorkerArgs;

pub(crate) fn run(args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    let registry = crate::plugins::registry(&args.plugins, &PluginSettings::default())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the worker's threads")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| anyhow!("cannot listen on {}: {e}", args.listen))?;
        let address = listener.local_addr()?;
        let stop = stopped()?;
        // The bound address, alone on its line: what a script (or a test)
        // that asked for port 0 reads to reach the worker.
        let mut out = std::io::stdout().lock();
        writeln!(out, "{address}")?;
        out.flush()?;
        drop(out);
        eprintln!(
            "verdict worker: serving queries on http://{address} (no authentication, no TLS: \
             keep it on a private network)"
        );
        verdict_distributed::serve(verdict_distributed::worker(registry), listener, stop)
            .await
            .map_err(|e| anyhow!("serving on {address}: {e}"))?;
        eprintln!("verdict worker: stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Completes at the first SIGINT or SIGTERM.
#[cfg(unix)]
fn stopped() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Completes at Ctrl-C.
#[cfg(not(unix))]
fn stopped() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
