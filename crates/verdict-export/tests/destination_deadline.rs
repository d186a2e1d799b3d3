//! A `Destination` a service records to passes the recorder's deadline on
//! to the MLflow or Phoenix sink inside it, which then starts nothing
//! more and defers what it was given. The environment is process-wide, so
//! this binary has this one test.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use verdict::{Assessment, AssessmentSink, Operation, Outcomes};
use verdict_export::testing::HttpStub;
use verdict_export::{Destination, ExportTarget};

#[test]
fn a_destination_tells_its_sink_the_deadline() {
    // Answers the probes of `Destination::open` (any answer to MLflow's
    // `/health`, Phoenix's project list), and 503 to everything else.
    let stub = HttpStub::start(|request| match request.path.as_str() {
        "/health" => (200, b"OK".to_vec()),
        path if path.starts_with("/v1/projects") => (200, b"{\"data\": []}".to_vec()),
        _ => (503, b"{\"detail\": \"overloaded\"}".to_vec()),
    })
    .unwrap();
    // SAFETY: no other test in this binary, and nothing else running yet.
    unsafe {
        std::env::set_var("MLFLOW_TRACKING_URI", stub.url());
        std::env::set_var("PHOENIX_ENDPOINT", stub.url());
        std::env::remove_var("PHOENIX_COLLECTOR_ENDPOINT");
        std::env::remove_var("OTEL_EXPORTER_OTLP_ENDPOINT");
    }
    for target in [ExportTarget::Mlflow, ExportTarget::Phoenix] {
        let destination = Destination::open(target.clone()).unwrap();
        assert_eq!(destination.unreachable(), None, "{target}");
        let probes = stub.requests().len();
        destination.set_deadline(Some(Instant::now()));
        let batch = vec![Operation::Log(
            Assessment::feedback("ok", true)
                .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", Some("71492b10072d70de"))
                .unwrap(),
        )];
        // On a thread: a sink that did not hear of the deadline would
        // retry for its whole budget (2 minutes).
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(destination.export(&batch));
        });
        let result = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{target}: still retrying a minute past the deadline"));
        assert_eq!(
            Outcomes::of(&result, 1).deferred(),
            1,
            "{target}: {result:?}"
        );
        assert_eq!(
            stub.requests().len(),
            probes,
            "{target}: sent past its deadline"
        );
    }
}
