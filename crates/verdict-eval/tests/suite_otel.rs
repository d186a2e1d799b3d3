//! `Suite::span_processor`: spans the code under test makes through the
//! OpenTelemetry API, with a real `SdkTracerProvider` of the program's
//! whose other processor is an in-memory exporter, captured into each
//! record's trace in a real SQLite store — none leaked between records
//! called side by side, none of the program's own, a span left open past
//! its call dropped and counted, and the program's exporter receiving
//! every span as it would without the suite.

use std::sync::mpsc;

use opentelemetry::KeyValue;
use opentelemetry::trace::{
    Span as _, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::{Value, json};
use verdict_eval::Suite;
use verdict_export::LocalStore;

mod common;
use common::{by_line, write};

/// The program's provider: the suite's processor, and its own exporter.
fn provider(suite: &Suite) -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(suite.span_processor())
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

#[test]
fn otel_spans_of_records_called_side_by_side_stay_with_their_own_record() {
    let dir = tempfile::tempdir().unwrap();
    let n = 200u64;
    let lines: Vec<Value> = (0..n)
        .map(|i| json!({"inputs": {"i": i}, "expectations": {"expected_response": i}}))
        .collect();
    let data = write(dir.path(), &lines);
    let db = dir.path().join("store.db");
    let suite = Suite::new()
        .scorer("exact_match")
        .store(&db)
        .predict_calls(8);
    let late = suite.span_processor();
    let (provider, exporter) = provider(&suite);
    let tracer = provider.tracer("code under test");
    // The program makes spans of its own on another thread meanwhile.
    let (stop, stopped) = mpsc::channel::<()>();
    let program = {
        let tracer = provider.tracer("program");
        std::thread::spawn(move || {
            let mut made = 0;
            while stopped.try_recv().is_err() {
                tracer.in_span("program's own", |_| {});
                made += 1;
                std::thread::yield_now();
            }
            made
        })
    };
    let report = suite
        .predict(move |inputs| {
            let i = inputs["i"].as_u64().unwrap();
            tracer.in_span("answer", |cx| {
                cx.span().set_attribute(KeyValue::new("i", i as i64));
                for step in 0..(i % 3) {
                    std::thread::yield_now();
                    let mut tool = tracer.start("execute_tool lookup");
                    tool.set_attribute(KeyValue::new("i", i as i64));
                    tool.set_attribute(KeyValue::new("step", step as i64));
                    tool.add_event("looked up", vec![KeyValue::new("rows", 1)]);
                    std::thread::yield_now();
                    tool.end();
                }
            });
            Ok::<_, String>(Value::from(i))
        })
        .run(&data)
        .unwrap();
    stop.send(()).unwrap();
    let made = program.join().unwrap();
    assert_eq!(report.summary().scorer("exact_match").unwrap().passed, n);

    let traces = by_line(&LocalStore::open(&db).unwrap());
    assert_eq!(
        traces.len(),
        n as usize,
        "the program's own spans are not the suite's"
    );
    for (line, spans) in &traces {
        let i = line - 1;
        assert_eq!(spans.len() as u64, 2 + i % 3, "record {i}: {spans:?}");
        let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
        let answer = spans.iter().find(|s| s.name == "answer").unwrap();
        assert_eq!(answer.parent_span_id, Some(root.span_id));
        assert_eq!(answer.attributes["i"], i);
        for tool in spans.iter().filter(|s| s.name == "execute_tool lookup") {
            assert_eq!(tool.attributes["i"], i, "record {i} holds {tool:?}");
            assert_eq!(tool.parent_span_id, Some(answer.span_id));
            assert_eq!(tool.events[0]["name"], "looked up");
            assert_eq!(tool.trace_id, root.trace_id);
        }
    }
    // The program's exporter received every span: the calls' and its own.
    let calls: u64 = (0..n).map(|i| 1 + i % 3).sum();
    let exported = exporter.get_finished_spans().unwrap();
    assert_eq!(exported.len() as u64, calls + made);
    assert_eq!(
        exported
            .iter()
            .filter(|s| s.name == "program's own")
            .count() as u64,
        made
    );
    assert_eq!(late.late(), 0);
}

#[test]
fn a_span_left_open_past_its_call_is_dropped_and_counted_and_still_exported() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(
        dir.path(),
        &[json!({"inputs": "q", "expectations": {"expected_response": "a"}})],
    );
    let db = dir.path().join("store.db");
    let suite = Suite::new().scorer("exact_match").store(&db);
    let late = suite.span_processor();
    let (provider, exporter) = provider(&suite);
    let tracer = provider.tracer("code under test");
    let (left, open) = mpsc::channel();
    let report = suite
        .predict(move |_| {
            tracer.in_span("answered", |_| {});
            // A span the call hands to work that outlives it.
            left.send(tracer.start("left running")).unwrap();
            Ok::<_, String>(Value::from("a"))
        })
        .run(&data)
        .unwrap();
    report.assert_gates();
    // Counted when its call returned, still open then.
    assert_eq!(late.late(), 1);
    assert_eq!(report.spans_left_open(), 1);
    let mut span = open.recv().unwrap();
    span.end();
    assert_eq!(late.late(), 1, "counted once");

    let traces = by_line(&LocalStore::open(&db).unwrap());
    let names: Vec<&str> = traces[&1].iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"answered") && !names.contains(&"left running"));
    let exported = exporter.get_finished_spans().unwrap();
    let names: Vec<&str> = exported.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["answered", "left running"]);
}

#[test]
fn a_call_that_panics_keeps_the_otel_spans_it_made_before_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(
        dir.path(),
        &[json!({"inputs": "boom", "expectations": {"expected_response": "a"}})],
    );
    let db = dir.path().join("store.db");
    let suite = Suite::new().scorer("exact_match").store(&db);
    let (provider, _exporter) = provider(&suite);
    let tracer = provider.tracer("code under test");
    let report = suite
        .predict(move |_| -> Result<Value, String> {
            tracer.in_span("retrieve", |cx| {
                cx.span().set_status(Status::error("index offline"));
            });
            // Ended by the unwinding.
            let _span = tracer.start("generate");
            panic!("no answer");
        })
        .run(&data)
        .unwrap();
    let exact = report.summary().scorer("exact_match").unwrap();
    assert_eq!(exact.errors, 1);

    let spans = &by_line(&LocalStore::open(&db).unwrap())[&1];
    let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
    assert!(
        matches!(&root.status, Status::Error { description } if description.contains("no answer")),
        "{:?}",
        root.status
    );
    let retrieve = spans.iter().find(|s| s.name == "retrieve").unwrap();
    assert_eq!(retrieve.status, Status::error("index offline"));
    assert_eq!(retrieve.parent_span_id, Some(root.span_id));
    let generate = spans.iter().find(|s| s.name == "generate").unwrap();
    assert_eq!(generate.parent_span_id, Some(root.span_id));
    assert_eq!(spans.len(), 3);
}

#[test]
fn an_otel_span_made_inside_a_tracing_span_is_its_child() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<Value> = (0..20u64)
        .map(|i| json!({"inputs": {"i": i}, "expectations": {"expected_response": i}}))
        .collect();
    let data = write(dir.path(), &lines);
    let db = dir.path().join("store.db");
    let suite = Suite::new()
        .scorer("exact_match")
        .store(&db)
        .predict_calls(4);
    let (provider, _exporter) = provider(&suite);
    let tracer = provider.tracer("code under test");
    let report = suite
        .predict(move |inputs| {
            let i = inputs["i"].as_u64().unwrap();
            let _outer = tracing::info_span!("outer", i).entered();
            tracer.in_span("model call", |_| {
                std::thread::yield_now();
                tracer.in_span("tokenize", |_| {});
            });
            tracing::info_span!("after").in_scope(|| {});
            Ok::<_, String>(Value::from(i))
        })
        .run(&data)
        .unwrap();
    assert_eq!(report.summary().scorer("exact_match").unwrap().passed, 20);
    let traces = by_line(&LocalStore::open(&db).unwrap());
    for (line, spans) in &traces {
        assert_eq!(spans.len(), 5, "record {line}: {spans:?}");
        let named = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
        let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
        assert_eq!(named("outer").parent_span_id, Some(root.span_id));
        assert_eq!(named("outer").attributes["i"], line - 1);
        assert_eq!(
            named("model call").parent_span_id,
            Some(named("outer").span_id)
        );
        assert_eq!(
            named("tokenize").parent_span_id,
            Some(named("model call").span_id)
        );
        assert_eq!(named("after").parent_span_id, Some(named("outer").span_id));
    }
}

#[test]
fn tracing_spans_exited_out_of_order_or_never_leave_the_right_context() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<Value> = (0..2u64)
        .map(|i| json!({"inputs": {"i": i}, "expectations": {"expected_response": i}}))
        .collect();
    let data = write(dir.path(), &lines);
    let db = dir.path().join("store.db");
    // One calling thread: both records' calls run on it, one after the
    // other.
    let suite = Suite::new()
        .scorer("exact_match")
        .store(&db)
        .predict_calls(1);
    let (provider, _exporter) = provider(&suite);
    let tracer = provider.tracer("code under test");
    let report = suite
        .predict(move |inputs| {
            let i = inputs["i"].as_u64().unwrap();
            if i == 0 {
                // The outer span exited before the inner one: the context
                // is the inner one's still.
                let outer = tracing::info_span!("outer").entered();
                let inner = tracing::info_span!("inner").entered();
                drop(outer);
                tracer.in_span("under inner", |_| {});
                drop(inner);
                // A guard forgotten: the call must not leave it behind.
                std::mem::forget(tracing::info_span!("forgotten").entered());
            } else {
                tracer.in_span("top of the second call", |_| {});
                // Made while the first call's forgotten span is still the
                // thread's current one.
                tracing::info_span!("tracing in the second call").in_scope(|| {});
            }
            Ok::<_, String>(Value::from(i))
        })
        .run(&data)
        .unwrap();
    assert_eq!(report.summary().scorer("exact_match").unwrap().passed, 2);
    let traces = by_line(&LocalStore::open(&db).unwrap());
    let named = |line: u64, name: &str| {
        traces[&line]
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} in record {line}: {:?}", traces[&line]))
            .clone()
    };
    assert_eq!(
        named(1, "under inner").parent_span_id,
        Some(named(1, "inner").span_id)
    );
    // The second call's span is its own, under its root.
    let root = traces[&2]
        .iter()
        .find(|s| s.parent_span_id.is_none())
        .unwrap();
    assert_eq!(
        named(2, "top of the second call").parent_span_id,
        Some(root.span_id)
    );
    assert_eq!(
        named(2, "tracing in the second call").parent_span_id,
        Some(root.span_id)
    );
    assert!(traces[&1].iter().all(|s| !s.name.contains("second call")));
}
