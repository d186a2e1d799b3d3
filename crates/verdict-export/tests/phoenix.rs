//! The Phoenix sink against a real Arize Phoenix server
//! (`scripts/phoenix/start.sh`): spans arrive in the project, assessments
//! as span and trace annotations with the right name, annotator kind,
//! label, score and explanation, on the right span; an update changes the
//! same annotation; a delete removes it, in whichever project its span
//! is; and every failure — a name Phoenix
//! refuses, a span it never gets, a server that answers 503, 500 or 401, or
//! none at all — is counted exactly. Everything is read back through
//! Phoenix's own REST API.

mod common;
#[path = "common/fault_proxy.rs"]
#[allow(dead_code)]
mod fault_proxy;
#[path = "common/phoenix_server.rs"]
mod phoenix_server;

use std::time::Duration;

use fault_proxy::{Fault, FaultProxy};
use opentelemetry::trace::SpanId;
use phoenix_server::PhoenixServer;
use serde_json::{Value, json};
use verdict::{
    Assessment, AssessmentError, AssessmentSink, AssessmentSource, AssessmentUpdate, Operation,
};
use verdict_export::testing::HttpStub;
use verdict_export::{PhoenixSink, RetryPolicy, WithHttpSettings as _};

/// A project name Phoenix cannot take in a URL path (`/`, `?`, `#`).
const PROJECT: &str = "verdict tests / ünï?#code";

fn quick_retries() -> RetryPolicy {
    RetryPolicy::default()
        .initial_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(200))
        .budget(Duration::from_secs(2))
}

fn sink(url: &str) -> PhoenixSink {
    PhoenixSink::builder(url)
        .project(PROJECT)
        .retry(quick_retries())
        .span_wait(Duration::from_secs(3))
        .build()
        .unwrap()
}

/// The annotation with identifier `id` among `rows`, exactly one.
fn the_one<'a>(rows: &'a [Value], id: &str) -> &'a Value {
    let found: Vec<&Value> = rows.iter().filter(|r| r["identifier"] == id).collect();
    assert_eq!(found.len(), 1, "{id} in {rows:#?}");
    found[0]
}

#[test]
fn assessments_become_phoenix_annotations_and_read_back() {
    let server = PhoenixServer::start();
    eprintln!("phoenix started in {:?}", server.startup);
    let sink = sink(&server.url);
    sink.check_reachable(Duration::from_secs(5)).unwrap();

    let spans = common::finished_trace();
    let trace = spans[0].span_context.trace_id();
    let span_of = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .span_context
            .span_id()
    };
    let (root, answer) = (span_of("handle request"), span_of("answer"));
    sink.export_spans(&spans).unwrap();

    let on = |span: Option<SpanId>| {
        let span = span.map(|s| s.to_string());
        move |b: verdict::AssessmentBuilder| {
            b.on_trace(&trace.to_string(), span.as_deref()).unwrap()
        }
    };
    let huge: String = "why \u{0} \u{1F600} ".repeat(200_000);
    let hostile = "naïve – 'quoted' \"x\" <b>&amp; %2F/?#";
    let batch = [
        on(Some(answer))(
            Assessment::feedback("correct", true)
                .source(AssessmentSource::human("reviewer@example.com"))
                .rationale("same city")
                .metadata("scorer.version", "1")
                .run_id("run-42"),
        ),
        on(Some(answer))(
            Assessment::feedback(hostile, 0.25)
                .source(AssessmentSource::llm_judge("judge-model"))
                .rationale(huge.clone()),
        ),
        on(None)(Assessment::expectation("expected_response", "Paris")),
        on(Some(root))(Assessment::feedback_error(
            "latency",
            AssessmentError::new("TIMEOUT").with_message("took too long"),
        )),
        on(Some(root))(Assessment::feedback("note", true)),
        on(Some(SpanId::from(0x0123_4567_89ab_cdef_u64)))(Assessment::feedback("lost", 1)),
    ];
    let operations: Vec<Operation> = batch.iter().cloned().map(Operation::Log).collect();
    let error = sink.export(&operations).unwrap_err();
    // "note" is Phoenix's: refused for good; the span it never got: for later.
    let outcomes = verdict::Outcomes::of_error(&error, operations.len());
    assert_eq!(outcomes.refused_at(), vec![4], "{error:?}");
    assert_eq!(outcomes.deferred_at(), vec![5], "{error:?}");
    assert_eq!(outcomes.delivered(), operations.len() - 2, "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("notes") && message.contains("0123456789abcdef"),
        "{message}"
    );

    let span_ids = vec![answer.to_string(), root.to_string()];
    let rows = server.annotations(PROJECT, "span", &span_ids);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let correct = the_one(&rows, &batch[0].id().to_string());
    assert_eq!(correct["name"], "correct");
    assert_eq!(correct["annotator_kind"], "HUMAN");
    assert_eq!(correct["span_id"], answer.to_string());
    assert_eq!(
        correct["result"],
        json!({"label": "pass", "score": 1.0, "explanation": "same city"})
    );
    assert_eq!(correct["metadata"]["scorer.version"], "1");
    assert_eq!(
        correct["metadata"]["mlflow.assessment.sourceRunId"],
        "run-42"
    );
    assert_eq!(
        correct["metadata"]["verdict"]["source"]["source_id"],
        "reviewer@example.com"
    );
    let judged = the_one(&rows, &batch[1].id().to_string());
    assert_eq!(judged["name"], hostile);
    assert_eq!(judged["annotator_kind"], "LLM");
    assert_eq!(judged["result"]["score"], 0.25);
    assert_eq!(judged["result"]["label"], Value::Null);
    assert_eq!(
        judged["result"]["explanation"].as_str(),
        Some(huge.as_str())
    );
    let failed = the_one(&rows, &batch[3].id().to_string());
    assert_eq!(failed["annotator_kind"], "CODE");
    assert_eq!(failed["span_id"], root.to_string());
    assert_eq!(
        failed["metadata"]["verdict"]["feedback"]["error"]["error_code"],
        "TIMEOUT"
    );
    let traces = server.annotations(PROJECT, "trace", &[trace.to_string()]);
    let expected = the_one(&traces, &batch[2].id().to_string());
    assert_eq!(expected["name"], "expected_response");
    assert_eq!(expected["annotator_kind"], "HUMAN");
    assert_eq!(expected["trace_id"], trace.to_string());
    assert_eq!(expected["result"]["label"], "Paris");
    assert_eq!(
        expected["metadata"]["verdict"]["expectation"]["value"],
        "Paris"
    );

    // An update changes the same annotation, by Verdict's rules (metadata
    // merged); a second send of the same batch creates nothing twice.
    let update = AssessmentUpdate::builder(trace, batch[0].id())
        .feedback(false)
        .rationale("wrong city after all")
        .metadata("reviewed", "yes")
        .build()
        .unwrap();
    sink.export(&[Operation::Update(update.clone()), Operation::Update(update)])
        .unwrap();
    let rows = server.annotations(PROJECT, "span", &span_ids);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let updated = the_one(&rows, &batch[0].id().to_string());
    assert_eq!(updated["id"], correct["id"], "the same annotation");
    assert_eq!(
        updated["result"],
        json!({"label": "fail", "score": 0.0, "explanation": "wrong city after all"})
    );
    assert_eq!(updated["metadata"]["reviewed"], "yes");
    assert_eq!(updated["metadata"]["scorer.version"], "1");

    // A new name: one annotation of that identifier, under the new name.
    let rename = AssessmentUpdate::builder(trace, batch[1].id())
        .name("renamed")
        .build()
        .unwrap();
    sink.export(&[Operation::Update(rename)]).unwrap();
    let rows = server.annotations(PROJECT, "span", &span_ids);
    let renamed = the_one(&rows, &batch[1].id().to_string());
    assert_eq!(renamed["name"], "renamed");
    assert_eq!(renamed["result"]["score"], 0.25);

    // An override replaces what it overrides (Phoenix would show and
    // average both); updating it keeps what it replaced, and deleting it
    // writes that back, as it was.
    let override_ = Assessment::override_of(&batch[0], true)
        .source(AssessmentSource::human("lead"))
        .on(batch[0].target())
        .unwrap();
    sink.export(&[Operation::Log(override_.clone())]).unwrap();
    let rows = server.annotations(PROJECT, "span", &span_ids);
    assert!(
        rows.iter()
            .all(|r| r["identifier"] != batch[0].id().to_string())
    );
    assert_eq!(
        the_one(&rows, &override_.id().to_string())["result"]["label"],
        "pass"
    );
    let reworded = AssessmentUpdate::builder(trace, override_.id())
        .rationale("accepted on review")
        .build()
        .unwrap();
    sink.export(&[Operation::Update(reworded)]).unwrap();
    let delete = |a: &Assessment| Operation::Delete {
        trace_id: trace,
        assessment_id: a.id(),
    };
    sink.export(&[delete(&override_), delete(&override_), delete(&batch[2])])
        .unwrap();
    let rows = server.annotations(PROJECT, "span", &span_ids);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert!(
        rows.iter()
            .all(|r| r["identifier"] != override_.id().to_string())
    );
    let restored = the_one(&rows, &batch[0].id().to_string());
    assert_eq!(restored["name"], "correct");
    assert_eq!(restored["annotator_kind"], "HUMAN");
    assert_eq!(restored["span_id"], answer.to_string());
    assert_eq!(
        restored["result"],
        json!({"label": "fail", "score": 0.0, "explanation": "wrong city after all"})
    );
    assert_eq!(restored["metadata"]["reviewed"], "yes");
    assert!(
        server
            .annotations(PROJECT, "trace", &[trace.to_string()])
            .is_empty()
    );
    // What an update reads back of the restored one is the assessment.
    let touched = AssessmentUpdate::builder(trace, batch[0].id())
        .metadata("restored", "yes")
        .build()
        .unwrap();
    sink.export(&[Operation::Update(touched)]).unwrap();
    let rows = server.annotations(PROJECT, "span", &[answer.to_string()]);
    let restored = the_one(&rows, &batch[0].id().to_string());
    assert_eq!(restored["metadata"]["restored"], "yes");
    assert_eq!(restored["metadata"]["reviewed"], "yes");
    assert!(restored["metadata"]["verdict"].get("replaced").is_none());
    assert_eq!(restored["result"]["label"], "fail");

    // A sink configured for a project that does not exist, while the spans
    // are in another: new annotations arrive by span id, and an update or
    // a delete finds its annotation in the project it is in.
    let elsewhere = PhoenixSink::builder(&server.url)
        .project("no such project")
        .retry(quick_retries())
        .span_wait(Duration::from_secs(3))
        .build()
        .unwrap();
    let stray = on(Some(root))(
        Assessment::feedback("stray", "odd").source(AssessmentSource::human("someone")),
    );
    elsewhere.export(&[Operation::Log(stray.clone())]).unwrap();
    let update = AssessmentUpdate::builder(trace, stray.id())
        .feedback("even")
        .build()
        .unwrap();
    elsewhere
        .export(&[Operation::Update(update), delete(&batch[3])])
        .unwrap();
    let rows = server.annotations(PROJECT, "span", &[root.to_string()]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let strayed = the_one(&rows, &stray.id().to_string());
    assert_eq!(strayed["result"]["label"], "even");
    assert_eq!(strayed["annotator_kind"], "HUMAN");
    elsewhere.export(&[delete(&stray), delete(&stray)]).unwrap();
    assert!(
        server
            .annotations(PROJECT, "span", &[root.to_string()])
            .is_empty()
    );
    let (_, projects) = server.get("/v1/projects?limit=1000");
    assert!(
        projects["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "no such project"),
        "{projects}"
    );

    // The spans, in the project, with the kind Phoenix shows.
    let stored = server.spans(PROJECT);
    assert_eq!(stored.len(), 3, "{stored:#?}");
    for span in &spans {
        let back = stored
            .iter()
            .find(|s| s["context"]["span_id"] == span.span_context.span_id().to_string())
            .unwrap_or_else(|| panic!("{} not in {stored:#?}", span.name));
        assert_eq!(back["name"], span.name.as_ref());
        assert_eq!(back["context"]["trace_id"], trace.to_string());
    }
    let answer_back = stored.iter().find(|s| s["name"] == "answer").unwrap();
    assert_eq!(answer_back["span_kind"], "LLM", "{answer_back:#}");

    // A server that answers 503 for a while: everything arrives, once.
    let proxy = FaultProxy::start(&server.url, 0, Fault::Unavailable(3));
    let through_proxy = PhoenixSink::builder(proxy.url())
        .traces_endpoint(format!("{}/v1/traces", server.url))
        .project(PROJECT)
        .retry(quick_retries())
        .build()
        .unwrap();
    let retried: Vec<Assessment> = (0..5)
        .map(|i| on(Some(root))(Assessment::feedback(format!("retried_{i}"), i)))
        .collect();
    let operations: Vec<Operation> = retried.iter().cloned().map(Operation::Log).collect();
    through_proxy.export(&operations).unwrap();
    assert_eq!(proxy.counts().1, 3, "the proxy answered 503 three times");
    let rows = server.annotations(PROJECT, "span", &[root.to_string()]);
    for assessment in &retried {
        the_one(&rows, &assessment.id().to_string());
    }
}

#[test]
fn a_server_that_fails_or_is_not_there_gets_every_failure_counted() {
    let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
    let operations: Vec<Operation> = (0..7)
        .map(|i| {
            Operation::Log(
                Assessment::feedback(format!("f{i}"), i)
                    .on_trace(trace, Some("71492b10072d70de"))
                    .unwrap(),
            )
        })
        .collect();

    // 500 on every call: retried within the budget, then all for later,
    // and nothing more is sent once the server is found down.
    let stub = HttpStub::start(|_| (500, b"Internal Server Error".to_vec())).unwrap();
    let error = sink(&stub.url()).export(&operations).unwrap_err();
    let deferred = verdict::Outcomes::of_error(&error, 7).deferred_at();
    assert_eq!(deferred, vec![0, 1, 2, 3, 4, 5, 6], "{error:?}");
    assert!(error.to_string().contains("HTTP 500"), "{error}");
    let posts = stub.requests().len();
    assert!(posts > 1, "retried: {posts}");
    assert!(
        sink(&stub.url())
            .check_reachable(Duration::from_millis(300))
            .is_err()
    );

    // Nothing listening.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let down = sink(&dead);
    let error = down
        .check_reachable(Duration::from_millis(500))
        .unwrap_err();
    assert!(error.to_string().contains("cannot be reached"), "{error}");
    let error = down.export(&operations).unwrap_err();
    let outcomes = verdict::Outcomes::of_error(&error, 7);
    assert!(outcomes.itemized(), "{error:?}");
    assert_eq!(outcomes.deferred(), 7, "{error:?}");

    // A 422 that names one annotation: that one refused, the rest sent.
    let stub = HttpStub::start(|request| {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let bad = body["data"]
            .as_array()
            .and_then(|d| d.iter().position(|a| a["name"] == "f3"));
        match bad {
            Some(k) => (
                422,
                json!({"detail": [{"loc": ["body", "data", k, "name"], "msg": "no"}]})
                    .to_string()
                    .into_bytes(),
            ),
            None => (200, br#"{"data": []}"#.to_vec()),
        }
    })
    .unwrap();
    let error = sink(&stub.url()).export(&operations).unwrap_err();
    let outcomes = verdict::Outcomes::of_error(&error, 7);
    assert_eq!(outcomes.refused_at(), vec![3], "{error:?}");
    assert_eq!(outcomes.delivered(), 6, "{error:?}");
}

#[test]
fn a_wrong_key_is_refused_at_once_and_the_right_one_delivers() {
    let key = "verdict-admin-secret-0123456789abcdefgh";
    let server = PhoenixServer::start_with(Some(key));
    let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
    let operations = [Operation::Log(
        Assessment::feedback("ok", true)
            .on_trace(trace, None)
            .unwrap(),
    )];

    let wrong = PhoenixSink::builder(&server.url)
        .api_key("not-the-key")
        .retry(quick_retries())
        .build()
        .unwrap();
    let error = wrong.check_reachable(Duration::from_secs(5)).unwrap_err();
    assert!(error.to_string().contains("PHOENIX_API_KEY"), "{error}");
    assert!(error.to_string().contains("401"), "{error}");
    assert!(!error.to_string().contains("not-the-key"), "{error}");
    let error = wrong.export(&operations).unwrap_err();
    assert!(
        matches!(error.outcomes(), Some([verdict::Outcome::Refused(_)])),
        "refused, not for later: {error:?}"
    );

    let right = PhoenixSink::builder(&server.url)
        .api_key(key)
        .retry(quick_retries())
        .span_wait(Duration::from_secs(20))
        .build()
        .unwrap();
    right.check_reachable(Duration::from_secs(5)).unwrap();
    let spans = common::finished_trace();
    let trace = spans[0].span_context.trace_id();
    right.export_spans(&spans).unwrap();
    let on_trace = Assessment::feedback("ok", true)
        .on_trace(&trace.to_string(), None)
        .unwrap();
    right.export(&[Operation::Log(on_trace.clone())]).unwrap();
    let rows = server.annotations("default", "trace", &[trace.to_string()]);
    assert_eq!(
        the_one(&rows, &on_trace.id().to_string())["result"]["label"],
        "pass"
    );
}
