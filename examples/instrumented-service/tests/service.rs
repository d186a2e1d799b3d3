//! The service as its users meet it: started on 127.0.0.1:0 with a real
//! local store file, asked over HTTP, given a thumbs-down, stopped; then the
//! store is opened again and must hold the request's spans, the inline CODE
//! check and the user's HUMAN feedback.

mod common;

use common::{agent, post};
use instrumented_service::{Config, Export, THUMBS_UP, start};
use serde_json::json;
use verdict::opentelemetry::trace::SpanKind;
use verdict::{FeedbackValue, SourceType, parse_span_id, parse_trace_id};
use verdict_export::LocalStore;

#[test]
fn spans_the_inline_check_and_a_thumbs_down_land_in_the_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let running = start(&Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        export: Export::Local(path.clone()),
        spool: path.clone(),
        write_ahead: false,
        max_delay: verdict_export::SPOOL_MAX_DELAY,
    })
    .unwrap();
    let url = running.url();
    let agent = agent();

    let (status, wrong) = post(
        &agent,
        &format!("{url}/ask"),
        &json!({"question": "What is the capital of Australia?"}),
    );
    assert_eq!(status, 200, "{wrong}");
    assert!(wrong["answer"].as_str().unwrap().starts_with("Sydney"));
    let (status, right) = post(
        &agent,
        &format!("{url}/ask"),
        &json!({"question": "What is the capital of France?"}),
    );
    assert_eq!(status, 200, "{right}");
    assert_ne!(
        wrong["trace_id"], right["trace_id"],
        "one trace per request"
    );

    let (status, down) = post(
        &agent,
        &format!("{url}/feedback"),
        &json!({"trace_id": wrong["trace_id"], "thumbs": "down", "user": "ana",
                "comment": "the capital is Canberra"}),
    );
    assert_eq!(status, 202, "{down}");
    let (status, up) = post(
        &agent,
        &format!("{url}/feedback"),
        &json!({"trace_id": right["trace_id"], "span_id": right["span_id"], "thumbs": "up"}),
    );
    assert_eq!(status, 202, "{up}");

    // Mistakes answer 400 with a reason, and record nothing.
    for (body, reason) in [
        (json!({"trace_id": "tr-nope", "thumbs": "down"}), "trace id"),
        (
            json!({"trace_id": wrong["trace_id"], "thumbs": "sideways"}),
            "\"up\" or \"down\"",
        ),
        (json!({"thumbs": "up"}), "trace_id"),
        (
            json!({"trace_id": wrong["trace_id"], "thumbs": "up", "user": 7}),
            "\"user\"",
        ),
        // An empty name is refused, never recorded as someone else's.
        (
            json!({"trace_id": wrong["trace_id"], "thumbs": "up", "user": ""}),
            "source_id",
        ),
    ] {
        let (status, answer) = post(&agent, &format!("{url}/feedback"), &body);
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(reason),
            "{answer}"
        );
    }
    let (status, answer) = post(&agent, &format!("{url}/ask"), &json!({"q": 1}));
    assert_eq!(status, 400, "{answer}");

    running.shutdown().unwrap();

    let store = LocalStore::open(&path).unwrap();
    let trace = parse_trace_id(wrong["trace_id"].as_str().unwrap()).unwrap();
    let root_id = parse_span_id(wrong["span_id"].as_str().unwrap()).unwrap();

    // The spans: the server span, and the pipeline's steps under it.
    let spans = store.spans_of(trace).unwrap();
    let root = spans.iter().find(|s| s.name == "POST /ask").unwrap();
    assert_eq!(root.span_id, root_id);
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(root.parent_span_id, None);
    assert_eq!(
        root.attributes["question"],
        "What is the capital of Australia?"
    );
    assert_eq!(
        root.attributes["mlflow.spanOutputs"],
        json!(wrong["answer"]).to_string(),
        "the response, as MLflow's UI shows it"
    );
    let answer = spans.iter().find(|s| s.name == "answer").unwrap();
    assert_eq!(answer.parent_span_id, Some(root_id));
    for step in ["retrieve", "generate"] {
        let span = spans.iter().find(|s| s.name == step).unwrap();
        assert_eq!(span.parent_span_id, Some(answer.span_id), "{step}");
    }

    // The assessments: the inline CODE check on the server span, and the
    // user's thumbs-down on the trace.
    let assessments = store.list_by_trace(trace).unwrap();
    assert_eq!(assessments.len(), 2, "{assessments:?}");
    let check = assessments
        .iter()
        .find(|a| a.name().as_str() == "length")
        .unwrap();
    assert_eq!(check.source().source_type(), SourceType::Code);
    assert_eq!(check.span_id(), Some(root_id));
    assert_eq!(check.feedback_value(), Some(&FeedbackValue::Bool(true)));
    let thumbs = assessments
        .iter()
        .find(|a| a.name().as_str() == THUMBS_UP)
        .unwrap();
    assert_eq!(thumbs.source().source_type(), SourceType::Human);
    assert_eq!(thumbs.source().source_id(), "ana");
    assert_eq!(thumbs.feedback_value(), Some(&FeedbackValue::Bool(false)));
    assert_eq!(thumbs.rationale(), Some("the capital is Canberra"));
    assert_eq!(thumbs.span_id(), None);

    // The other request's thumbs-up sits on its span, from an anonymous user.
    let trace = parse_trace_id(right["trace_id"].as_str().unwrap()).unwrap();
    let thumbs: Vec<_> = store
        .list_by_trace(trace)
        .unwrap()
        .into_iter()
        .filter(|a| a.name().as_str() == THUMBS_UP)
        .collect();
    assert_eq!(thumbs.len(), 1);
    assert_eq!(thumbs[0].feedback_value(), Some(&FeedbackValue::Bool(true)));
    assert_eq!(thumbs[0].source().source_id(), "anonymous");
    assert_eq!(
        thumbs[0].span_id().map(|s| format!("{s:016x}")).as_deref(),
        right["span_id"].as_str()
    );
}
