//! `cargo run -p instrumented-service`: serves on `SERVICE_ADDR`
//! (127.0.0.1:8080), exporting to `VERDICT_EXPORT` (the local store by
//! default). Type `q` and Enter to stop and deliver what is pending; an
//! interrupt (Ctrl-C) stops at once and may lose the last few seconds of
//! spans.

use std::io::BufRead as _;

use instrumented_service::{Config, Export, start};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let running = start(&config)?;
    let url = running.url();
    match &config.export {
        Export::Local(path) => eprintln!("exporting to the local store {}", path.display()),
        other => eprintln!("exporting to {other:?}"),
    }
    eprintln!("listening on {url}; type q and Enter to stop");
    eprintln!("  curl -s {url}/ask -d '{{\"question\": \"What is the capital of Australia?\"}}'");
    eprintln!(
        "  curl -s {url}/feedback -d '{{\"trace_id\": \"tr-…\", \"thumbs\": \"down\", \"user\": \"ana\"}}'"
    );
    let mut asked_to_stop = false;
    for line in std::io::stdin().lock().lines() {
        if line?.trim() == "q" {
            asked_to_stop = true;
            break;
        }
    }
    // Without a terminal (stdin at its end at once), serve until
    // interrupted.
    if !asked_to_stop && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        loop {
            std::thread::park();
        }
    }
    running.shutdown()?;
    Ok(())
}
