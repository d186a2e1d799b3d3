//! `Suite::predict_async`: async code under test, whose futures move
//! between a runtime's threads as they wait, still has each call's spans
//! in its own record's trace; and a suite runs from a `#[tokio::test]`.
#![cfg(feature = "tokio")]

use serde_json::{Value, json};
use verdict_eval::{LINE_ATTRIBUTE, Suite};
use verdict_export::LocalStore;

async fn answer(i: u64) -> Result<Value, String> {
    use tracing::Instrument as _;
    async {
        tokio::time::sleep(std::time::Duration::from_millis(i % 3)).await;
        async { tokio::task::yield_now().await }
            .instrument(tracing::info_span!("inner", i))
            .await;
        Ok(Value::from(i))
    }
    .instrument(tracing::info_span!("outer", i))
    .await
}

#[tokio::test]
async fn each_async_calls_spans_stay_with_its_record_from_a_tokio_test() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("qa.jsonl");
    let n = 60u64;
    let text: String = (0..n)
        .map(|i| {
            format!(
                "{}\n",
                json!({"inputs": i, "expectations": {"expected_response": i}})
            )
        })
        .collect();
    std::fs::write(&data, text).unwrap();
    let db = dir.path().join("store.db");
    let report = Suite::new()
        .scorer("exact_match")
        .store(&db)
        .predict_calls(6)
        .predict_async(|inputs: Value| answer(inputs.as_u64().unwrap()))
        .unwrap()
        .run(&data)
        .unwrap();
    assert_eq!(report.summary().scorer("exact_match").unwrap().passed, n);
    let store = LocalStore::open(&db).unwrap();
    let traces = store.list_traces().unwrap();
    assert_eq!(traces.len() as u64, n);
    for trace in traces {
        let spans = store.spans_of(trace.trace_id).unwrap();
        let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
        let i = root.attributes[LINE_ATTRIBUTE].as_u64().unwrap() - 1;
        let outer = spans.iter().find(|s| s.name == "outer").unwrap();
        let inner = spans.iter().find(|s| s.name == "inner").unwrap();
        assert_eq!(spans.len(), 3, "record {i}: {spans:?}");
        assert_eq!(outer.parent_span_id, Some(root.span_id));
        assert_eq!(inner.parent_span_id, Some(outer.span_id));
        assert_eq!(
            (&outer.attributes["i"], &inner.attributes["i"]),
            (&json!(i), &json!(i))
        );
    }
}

#[test]
fn async_calls_keep_their_opentelemetry_spans_across_awaits_and_a_panic() {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("qa.jsonl");
    let text: String = (0..20u64)
        .map(|i| {
            format!(
                "{}\n",
                json!({"inputs": i, "expectations": {"expected_response": i}})
            )
        })
        .collect();
    std::fs::write(&data, text).unwrap();
    let db = dir.path().join("store.db");
    let suite = Suite::new()
        .scorer("exact_match")
        .store(&db)
        .predict_calls(6);
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(suite.span_processor())
        .build();
    let tracer = provider.tracer("code under test");
    let report = suite
        .predict_async(move |inputs: Value| {
            let tracer = tracer.clone();
            async move {
                let i = inputs.as_u64().unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(i % 3)).await;
                // Made after an await, on whichever thread polls it.
                drop(tracer.start(format!("after an await {i}")));
                if i == 7 {
                    panic!("record 7 gives up");
                }
                Ok::<_, String>(Value::from(i))
            }
        })
        .unwrap()
        .run(&data)
        .unwrap();
    let exact = report.summary().scorer("exact_match").unwrap();
    assert_eq!((exact.passed, exact.errors), (19, 1));
    let store = LocalStore::open(&db).unwrap();
    for trace in store.list_traces().unwrap() {
        let spans = store.spans_of(trace.trace_id).unwrap();
        let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
        let i = root.attributes[LINE_ATTRIBUTE].as_u64().unwrap() - 1;
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(spans.len(), 2, "record {i}: {names:?}");
        let made = spans.iter().find(|s| s.parent_span_id.is_some()).unwrap();
        assert_eq!(made.name, format!("after an await {i}"));
        assert_eq!(made.parent_span_id, Some(root.span_id));
    }
}
