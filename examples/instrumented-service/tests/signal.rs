//! The service stopped by SIGTERM or SIGINT, as a process manager or a
//! user's Ctrl-C stops it, has delivered everything it recorded: the real
//! binary, exporting over OTLP to an in-process receiver that decodes the
//! real protobuf. Without the signal handling, the spans still waiting in
//! the batch processor (it exports every few seconds) and the recorder's
//! queue die with the process.

mod common;

use common::{Service, ask_then_thumbs_up, assert_collector_has};
use verdict_export::testing::OtlpReceiver;

#[test]
fn sigterm_and_sigint_stop_it_after_delivering_everything() {
    for signal in ["TERM", "INT"] {
        let receiver = OtlpReceiver::start().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut service = Service::start(&receiver.endpoint(), &dir.path().join("verdict.db"));
        let asked = ask_then_thumbs_up(&service.url);

        service.signal(signal);
        let exit = service.child.wait().unwrap();
        let printed = service.printed();
        assert!(exit.success(), "SIG{signal}: {exit:?}\n{printed}");
        assert!(
            printed.contains("stopping on a termination signal"),
            "{printed}"
        );

        // Everything it recorded arrived before it exited.
        assert_collector_has(&receiver, asked["trace_id"].as_str().unwrap());
    }
}
