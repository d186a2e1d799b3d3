//! `VERDICT_EXPORT=otlp`: the same requests reach an OpenTelemetry
//! collector — here an in-process receiver that decodes the real OTLP
//! protobuf — as spans and `gen_ai.evaluation.result` events. A test file
//! of its own, because it sets the process's environment.

mod common;

use common::{agent, post};
use instrumented_service::{Config, start};
use serde_json::json;
use verdict_export::testing::OtlpReceiver;

#[test]
fn spans_and_both_feedbacks_reach_the_collector() {
    let receiver = OtlpReceiver::start().unwrap();
    // SAFETY: the only test of this binary, before any thread of ours reads
    // the environment.
    unsafe {
        std::env::set_var("VERDICT_EXPORT", "otlp");
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint());
        std::env::set_var("SERVICE_ADDR", "127.0.0.1:0");
    }
    let running = start(&Config::from_env().unwrap()).unwrap();
    let url = running.url();
    let agent = agent();
    let (status, asked) = post(
        &agent,
        &format!("{url}/ask"),
        &json!({"question": "When did the Eiffel Tower open?"}),
    );
    assert_eq!(status, 200, "{asked}");
    let (status, thumbs) = post(
        &agent,
        &format!("{url}/feedback"),
        &json!({"trace_id": asked["trace_id"], "thumbs": "up", "user": "bo"}),
    );
    assert_eq!(status, 202, "{thumbs}");
    running.shutdown().unwrap();

    let trace = asked["trace_id"]
        .as_str()
        .unwrap()
        .trim_start_matches("tr-");
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let spans = receiver.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    for name in ["POST /ask", "answer", "retrieve", "generate"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(spans.iter().all(|s| hex(&s.trace_id) == trace));

    let evaluations: Vec<String> = receiver
        .log_records()
        .iter()
        .inspect(|r| assert_eq!(hex(&r.trace_id), trace))
        .filter_map(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "gen_ai.evaluation.name")
                .map(|kv| format!("{:?}", kv.value))
        })
        .collect();
    assert_eq!(evaluations.len(), 2, "{evaluations:?}");
    assert!(evaluations.iter().any(|e| e.contains("length")));
    assert!(evaluations.iter().any(|e| e.contains("thumbs_up")));
}
