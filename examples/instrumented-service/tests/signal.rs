//! The service stopped by SIGTERM or SIGINT, as a process manager or a
//! user's Ctrl-C stops it, has delivered everything it recorded: the real
//! binary, exporting over OTLP to an in-process receiver that decodes the
//! real protobuf. Without the signal handling, the spans still waiting in
//! the batch processor (it exports every few seconds) and the recorder's
//! queue die with the process.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use common::{ask_then_thumbs_up, assert_collector_has};
use verdict_export::testing::OtlpReceiver;

/// Starts the service on a free port, exporting to `receiver`, with no
/// standard input (it then serves until a signal); its URL, read from
/// what it prints.
fn service(receiver: &OtlpReceiver) -> (Child, String, std::thread::JoinHandle<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_instrumented-service"))
        .env("VERDICT_EXPORT", "otlp")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
        .env("SERVICE_ADDR", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut printed = String::new();
    let url = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the service ended first:\n{printed}"))
            .unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.strip_prefix("listening on ") {
            break rest.split(';').next().unwrap().to_owned();
        }
    };
    // The rest of what it prints, for the failure messages.
    let rest = std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            printed.push_str(&line);
            printed.push('\n');
        }
        printed
    });
    (child, url, rest)
}

#[test]
fn sigterm_and_sigint_stop_it_after_delivering_everything() {
    for signal in ["TERM", "INT"] {
        let receiver = OtlpReceiver::start().unwrap();
        let (mut child, url, printed) = service(&receiver);
        let asked = ask_then_thumbs_up(&url);

        let killed = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let exit = child.wait().unwrap();
        let printed = printed.join().unwrap();
        assert!(exit.success(), "SIG{signal}: {exit:?}\n{printed}");
        assert!(
            printed.contains("stopping on a termination signal"),
            "{printed}"
        );

        // Everything it recorded arrived before it exited.
        assert_collector_has(&receiver, asked["trace_id"].as_str().unwrap());
    }
}
