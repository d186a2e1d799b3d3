//! `verdict serve`: receive traces over OTLP/HTTP, score and forward them
//! (see `verdict-serve`), until SIGINT or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use verdict_export::LocalStore;
use verdict_serve::{Limits, Options, Server, Snapshot};

use crate::cli::ServeArgs;
use crate::plugins::registry;

pub(crate) fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let targets = args
        .exports
        .iter()
        .map(|s| crate::target::parse(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = crate::suite::suite_config(args.config.as_deref(), &args.scorers)?;
    let registry = registry(&args.plugins, &config.plugins)?;
    let scorers = config.create_scorers(&registry)?;
    let names: Vec<String> = scorers.iter().map(|s| s.info().name.clone()).collect();
    let rates = sample_rates(&args.sample_rates, &names)?;
    if args.no_store && targets.is_empty() {
        anyhow::bail!(
            "--no-store without --export: the traces received would go nowhere; name a destination \
             with --export, or keep the local store"
        );
    }
    let interrupt = crate::signals::interrupt_on_signals()?;
    let mut server = Server::new(scorers.into_iter().zip(rates).collect());
    if !args.no_store {
        server = server.store(Arc::new(LocalStore::open(&args.store.path)?));
    }
    for target in targets {
        server = server.export(crate::target::open(target, &interrupt)?);
    }
    let options = Options {
        listen: args.listen,
        limits: Limits {
            max_traces: args.max_traces.max(1),
            max_spans: args.max_spans.max(1),
            max_bytes: args.max_held_mib.max(1).saturating_mul(1 << 20),
            idle: args.idle_timeout.into(),
        },
        max_body: args.max_request_mib.max(1).saturating_mul(1 << 20),
        ..Options::default()
    };
    let running = server
        .start(options)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    eprintln!(
        "verdict serve: listening on http://{} (POST /v1/traces, GET /metrics), scoring with {}, \
         forwarding to {}",
        running.local_addr(),
        names.join(", "),
        if args.no_store {
            args.exports.join(", ")
        } else {
            std::iter::once(format!("the store {}", args.store.path.display()))
                .chain(args.exports.iter().cloned())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    while interrupt.signal().is_none() {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("verdict serve: stopping: scoring and forwarding the traces held");
    let snapshot = running.shutdown();
    eprint!("{}", summary(&snapshot));
    Ok(if snapshot.all_delivered() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Each scorer's rate: 1, unless `--sample-rate` says otherwise (a bare
/// RATE for every scorer, NAME=RATE for one, later ones winning).
fn sample_rates(args: &[String], names: &[String]) -> anyhow::Result<Vec<f64>> {
    let mut rates = vec![1.0; names.len()];
    for arg in args {
        let (name, rate) = match arg.split_once('=') {
            Some((name, rate)) => (Some(name), rate),
            None => (None, arg.as_str()),
        };
        let rate: f64 = rate
            .trim()
            .parse()
            .ok()
            .filter(|r: &f64| (0.0..=1.0).contains(r))
            .ok_or_else(|| anyhow::anyhow!("--sample-rate {arg}: give a rate from 0 to 1"))?;
        match name {
            None => rates.iter_mut().for_each(|r| *r = rate),
            Some(name) => {
                let i = names.iter().position(|n| n == name).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--sample-rate {arg}: no scorer is named {name:?} (the scorers: {})",
                        names.join(", ")
                    )
                })?;
                rates[i] = rate;
            }
        }
    }
    Ok(rates)
}

/// What the server did, as its last words on standard error.
fn summary(s: &Snapshot) -> String {
    let mut out = format!(
        "verdict serve: received {} spans ({} refused); {} traces complete ({} at shutdown), {} \
         sampled, {} scored, {} could not be scored; {} feedback\n",
        s.spans_received,
        s.spans_refused,
        s.traces_complete,
        s.traces_by_shutdown,
        s.traces_sampled,
        s.traces_scored,
        s.traces_unscorable,
        s.assessments
    );
    if let Some(why) = &s.last_unscorable {
        out.push_str(&format!("  the last trace not scored: {why}\n"));
    }
    for d in &s.deliveries {
        out.push_str(&format!(
            "  {}: {} spans and {} feedback delivered",
            d.destination, d.spans, d.assessments
        ));
        if d.flush_failed {
            out.push_str("; its last flush FAILED, so what it buffered may not have arrived");
        }
        if d.spans_undelivered + d.assessments_undelivered > 0 {
            out.push_str(&format!(
                "; NOT delivered: {} spans and {} feedback{}",
                d.spans_undelivered,
                d.assessments_undelivered,
                d.last_error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
        out.push('\n');
    }
    verdict_eval::report::visible_lines(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_apply_to_all_or_to_one_and_a_bad_one_is_refused() {
        let names = ["a".to_owned(), "b".to_owned()];
        assert_eq!(sample_rates(&[], &names).unwrap(), [1.0, 1.0]);
        let args = ["0.5".to_owned(), "b=0.1".to_owned()];
        assert_eq!(sample_rates(&args, &names).unwrap(), [0.5, 0.1]);
        for bad in ["1.5", "c=0.5", "x", "-0.1"] {
            assert!(sample_rates(&[bad.to_owned()], &names).is_err(), "{bad}");
        }
    }
}
