//! `VERDICT_EXPORT=otlp`: the same requests reach an OpenTelemetry
//! collector — here an in-process receiver that decodes the real OTLP
//! protobuf — as spans and `gen_ai.evaluation.result` events. A test file
//! of its own, because it sets the process's environment.

mod common;

use common::{ask_then_thumbs_up, assert_collector_has};
use instrumented_service::{Config, start};
use verdict_export::testing::OtlpReceiver;

#[test]
fn spans_and_both_feedbacks_reach_the_collector() {
    let receiver = OtlpReceiver::start().unwrap();
    let spool = tempfile::tempdir().unwrap();
    // SAFETY: the only test of this binary, before any thread of ours reads
    // the environment.
    unsafe {
        std::env::set_var("VERDICT_EXPORT", "otlp");
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint());
        std::env::set_var("SERVICE_ADDR", "127.0.0.1:0");
        // The spool: a file of the test's own, not the example's.
        std::env::set_var("VERDICT_STORE", spool.path().join("verdict.db"));
    }
    let running = start(&Config::from_env().unwrap()).unwrap();
    let asked = ask_then_thumbs_up(&running.url());
    running.shutdown().unwrap();
    assert_collector_has(&receiver, asked["trace_id"].as_str().unwrap());
}
