//! `cargo run -p instrumented-service`: serves on `SERVICE_ADDR`
//! (127.0.0.1:8080), exporting to `VERDICT_EXPORT` (the local store by
//! default). It stops cleanly, delivering every span and assessment it
//! recorded, on `q` and Enter, at the end of a terminal's input (Ctrl-D),
//! and on SIGTERM or SIGINT (Ctrl-C) — the way a process manager or a
//! container runtime stops it. A second signal while it delivers stops it
//! at once.

use std::io::BufRead as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use instrumented_service::{Config, Export, start};

/// Exit code when a second signal stops it before it has delivered
/// everything (128 + SIGINT, as shells report an interrupt).
const INTERRUPTED: i32 = 130;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let running = start(&config)?;
    let url = running.url();

    // Whatever asks it to stop says why on this channel.
    let (stop, why) = mpsc::channel::<&'static str>();
    let on_signal = stop.clone();
    let stopping = AtomicBool::new(false);
    ctrlc::set_handler(move || {
        if stopping.swap(true, Ordering::SeqCst) {
            eprintln!("stopping at once: what was not yet delivered is lost");
            std::process::exit(INTERRUPTED);
        }
        let _ = on_signal.send("a termination signal");
    })?;
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) if line.trim() == "q" => {
                    let _ = stop.send("q");
                    return;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // The end of a terminal's input stops it; without a terminal
        // (standard input empty, as under a process manager) it serves
        // until a signal.
        if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            let _ = stop.send("the end of input");
        }
    });

    match &config.export {
        Export::Local(path) => eprintln!("exporting to the local store {}", path.display()),
        other => eprintln!("exporting to {other:?}"),
    }
    eprintln!("listening on {url}; type q and Enter (or Ctrl-C) to stop");
    eprintln!("  curl -s {url}/ask -d '{{\"question\": \"What is the capital of Australia?\"}}'");
    eprintln!(
        "  curl -s {url}/feedback -d '{{\"trace_id\": \"tr-…\", \"thumbs\": \"down\", \"user\": \"ana\"}}'"
    );

    // The signal handler keeps a sender for good: this waits for a reason.
    let reason = why.recv().unwrap_or("a closed channel");
    eprintln!("stopping on {reason}: delivering what is pending");
    running.shutdown()?;
    eprintln!("stopped");
    Ok(())
}
