//! `Suite::predict`: real code under test emitting real `tracing` spans,
//! each call's spans captured into its record's trace in a real SQLite
//! store, read back with their parents and trace ids; none leaked between
//! records called side by side.

use opentelemetry::trace::Status;
use serde_json::{Value, json};
use verdict_eval::Suite;
use verdict_export::LocalStore;

mod common;
use common::{by_line, echoes, write};

/// The code under test: looks the country up through a tool, in spans.
fn capital(country: &str) -> Result<String, String> {
    let span = tracing::info_span!("answer", country, otel.status_code = tracing::field::Empty);
    let _entered = span.enter();
    let found = {
        let _tool = tracing::info_span!(
            "execute_tool lookup",
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = "lookup",
            country
        )
        .entered();
        match country {
            "France" => Some("Paris"),
            "Italy" => Some("Rome"),
            _ => None,
        }
    };
    match found {
        Some(city) => Ok(city.to_owned()),
        None => {
            span.record("otel.status_code", "error");
            Err(format!("no capital known for {country}"))
        }
    }
}

#[test]
fn each_calls_tracing_spans_are_its_records_trace_and_trace_scorers_judge_them() {
    let dir = tempfile::tempdir().unwrap();
    let expected = json!(["lookup"]);
    let data = write(
        dir.path(),
        &[
            json!({"inputs": "France", "expectations": {"expected_response": "Paris", "expected_tool_calls": expected}}),
            json!({"inputs": "Italy", "expectations": {"expected_response": "Rome", "expected_tool_calls": expected}}),
            json!({"inputs": "Narnia", "expectations": {"expected_response": "?", "expected_tool_calls": expected}}),
        ],
    );
    let db = dir.path().join("store.db");
    let report = Suite::new()
        .scorer("exact_match")
        .scorer("tool_calls")
        .scorer("latency:max_ms=60000")
        .store(&db)
        .predict(|inputs| capital(inputs.as_str().unwrap_or_default()).map(Value::from))
        .run(&data)
        .unwrap();
    let summary = report.summary();
    let exact = summary.scorer("exact_match").unwrap();
    assert_eq!((exact.passed, exact.errors), (2, 1));
    let tools = summary.scorer("tool_calls").unwrap();
    assert_eq!((tools.passed, tools.errors), (2, 1), "{tools:?}");
    assert_eq!(summary.scorer("latency").unwrap().passed, 2);

    let traces = by_line(&LocalStore::open(&db).unwrap());
    for line in [1, 2] {
        let spans = &traces[&line];
        assert_eq!(spans.len(), 3, "{spans:?}");
        let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
        let answer = spans.iter().find(|s| s.name == "answer").unwrap();
        let tool = spans
            .iter()
            .find(|s| s.name == "execute_tool lookup")
            .unwrap();
        assert!(spans.iter().all(|s| s.trace_id == root.trace_id));
        assert_eq!(answer.parent_span_id, Some(root.span_id));
        assert_eq!(tool.parent_span_id, Some(answer.span_id));
        assert_eq!(tool.attributes["gen_ai.tool.name"], "lookup");
        assert_eq!(tool.attributes["gen_ai.operation.name"], "execute_tool");
        // The root lasts the call, which holds its spans.
        assert!(root.start_time <= answer.start_time && answer.end_time <= root.end_time);
    }
    // The failed call: the error on its root span, and the spans it made
    // before failing, as it made them.
    let spans = &traces[&3];
    let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
    assert!(
        matches!(&root.status, Status::Error { description } if description.contains("no capital known for Narnia")),
        "{:?}",
        root.status
    );
    assert_eq!(spans.len(), 3, "{spans:?}");
    let answer = spans.iter().find(|s| s.name == "answer").unwrap();
    assert_eq!(answer.parent_span_id, Some(root.span_id));
    assert!(matches!(answer.status, Status::Error { .. }), "{answer:?}");
    let tool = spans
        .iter()
        .find(|s| s.name == "execute_tool lookup")
        .unwrap();
    assert_eq!(tool.parent_span_id, Some(answer.span_id));
    assert_eq!(tool.attributes["country"], "Narnia");
}

#[test]
fn a_call_that_panics_keeps_the_spans_it_made_before_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = echoes(dir.path(), &[json!("fine"), json!("boom")]);
    let db = dir.path().join("store.db");
    let report = Suite::new()
        .scorer("exact_match")
        .store(&db)
        .predict(|inputs| {
            let input = inputs.as_str().unwrap_or_default().to_owned();
            let _call = tracing::info_span!("call", input = input.as_str()).entered();
            tracing::info_span!("fetched", rows = 3).in_scope(|| {});
            if input == "boom" {
                panic!("the code under test gave up");
            }
            Ok::<_, String>(Value::from(input))
        })
        .run(&data)
        .unwrap();
    let exact = report.summary().scorer("exact_match").unwrap().clone();
    assert_eq!((exact.passed, exact.errors), (1, 1));

    // Read back from the SQLite file by another connection.
    let traces = by_line(&LocalStore::open(&db).unwrap());
    let spans = &traces[&2];
    let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
    assert!(
        matches!(&root.status, Status::Error { description }
            if description.contains("panicked: the code under test gave up")),
        "{:?}",
        root.status
    );
    assert_eq!(spans.len(), 3, "{spans:?}");
    let call = spans.iter().find(|s| s.name == "call").unwrap();
    assert_eq!(call.parent_span_id, Some(root.span_id));
    assert_eq!(call.attributes["input"], "boom");
    // The span the unwinding closed, and the one closed before.
    let fetched = spans.iter().find(|s| s.name == "fetched").unwrap();
    assert_eq!(fetched.parent_span_id, Some(call.span_id));
    assert_eq!(fetched.attributes["rows"], 3);
    assert_eq!(traces[&1].len(), 3);
}

#[test]
fn spans_of_records_called_side_by_side_stay_with_their_own_record() {
    let dir = tempfile::tempdir().unwrap();
    let n = 300;
    let lines: Vec<Value> = (0..n)
        .map(|i| json!({"inputs": {"i": i}, "expectations": {"expected_response": i}}))
        .collect();
    let data = write(dir.path(), &lines);
    let db = dir.path().join("store.db");
    let report = Suite::new()
        .scorer("exact_match")
        .store(&db)
        .predict_calls(8)
        .predict(|inputs| {
            let i = inputs["i"].as_u64().unwrap();
            // A few spans per call, some nested, with yields between them
            // so that calls interleave.
            for step in 0..(i % 4) {
                let _outer = tracing::info_span!("step", i, step).entered();
                std::thread::yield_now();
                let _inner = tracing::info_span!("inner", i).entered();
                std::thread::yield_now();
            }
            Ok::<_, String>(Value::from(i))
        })
        .run(&data)
        .unwrap();
    assert_eq!(report.summary().scorer("exact_match").unwrap().passed, n);
    let traces = by_line(&LocalStore::open(&db).unwrap());
    assert_eq!(traces.len(), n as usize);
    for (line, spans) in traces {
        let i = line - 1;
        // The root, then two spans per step.
        assert_eq!(spans.len() as u64, 1 + 2 * (i % 4), "record {i}: {spans:?}");
        for span in spans.iter().filter(|s| s.parent_span_id.is_some()) {
            assert_eq!(span.attributes["i"], i, "record {i} holds {span:?}");
        }
    }
}

#[test]
fn a_call_that_makes_too_many_spans_keeps_the_first_and_counts_the_rest() {
    use verdict_eval::predict::{MAX_SPANS_PER_CALL, SPANS_LEFT_OUT, SPANS_LEFT_OUT_ATTRIBUTE};
    let dir = tempfile::tempdir().unwrap();
    let data = echoes(dir.path(), &[json!(7), json!(2)]);
    let db = dir.path().join("store.db");
    let report = Suite::new()
        .scorer("exact_match")
        .store(&db)
        .predict(|inputs| {
            // A span per item of a long loop: past the bound by `inputs`.
            let over = inputs.as_u64().unwrap();
            for item in 0..MAX_SPANS_PER_CALL as u64 + over {
                tracing::info_span!("item", item).in_scope(|| {});
            }
            Ok::<_, String>(inputs.clone())
        })
        .run(&data)
        .unwrap();
    // A trace cut short is not judged: the records fail, whatever they
    // answered.
    let exact = report.summary().scorer("exact_match").unwrap().clone();
    assert_eq!((exact.passed, exact.errors), (0, 2), "{exact:?}");
    let traces = by_line(&LocalStore::open(&db).unwrap());
    for (line, over) in [(1, 7), (2, 2)] {
        let spans = &traces[&line];
        // The root, the spans kept, and the one that counts the rest.
        assert_eq!(spans.len(), 1 + MAX_SPANS_PER_CALL + 1, "record {line}");
        let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
        assert!(
            matches!(&root.status, Status::Error { description } if description.contains("trace is incomplete")),
            "{:?}",
            root.status
        );
        let left_out: Vec<_> = spans.iter().filter(|s| s.name == SPANS_LEFT_OUT).collect();
        assert!(matches!(left_out[0].status, Status::Error { .. }));
        assert_eq!(left_out.len(), 1);
        assert_eq!(left_out[0].attributes[SPANS_LEFT_OUT_ATTRIBUTE], over);
        assert_eq!(left_out[0].parent_span_id, Some(root.span_id));
        assert!(left_out[0].start_time <= left_out[0].end_time);
        // The first spans are the ones kept.
        let items = spans.iter().filter_map(|s| s.attributes.get("item"));
        assert_eq!(
            items.map(|i| i.as_u64().unwrap()).max(),
            Some(MAX_SPANS_PER_CALL as u64 - 1)
        );
    }
}

#[test]
fn a_call_that_runs_out_of_time_keeps_the_spans_it_made_before() {
    let dir = tempfile::tempdir().unwrap();
    let data = echoes(dir.path(), &[json!("fast"), json!("slow")]);
    let db = dir.path().join("store.db");
    let report = Suite::new()
        .scorer("exact_match")
        .store(&db)
        .predict_time_limit(std::time::Duration::from_millis(500))
        .predict(|inputs| {
            let input = inputs.as_str().unwrap_or_default().to_owned();
            tracing::info_span!("looked up", input = input.as_str()).in_scope(|| {});
            if input == "slow" {
                // Hangs, inside a span that has not ended by the limit.
                let _hang = tracing::info_span!("waits on a lock").entered();
                std::thread::sleep(std::time::Duration::from_secs(3));
            }
            Ok::<_, String>(Value::from(input))
        })
        .run(&data)
        .unwrap();
    let exact = report.summary().scorer("exact_match").unwrap().clone();
    assert_eq!((exact.passed, exact.errors), (1, 1));
    let traces = by_line(&LocalStore::open(&db).unwrap());
    let spans = &traces[&2];
    let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
    assert!(
        matches!(&root.status, Status::Error { description } if description.contains("did not answer within")),
        "{:?}",
        root.status
    );
    // What it did until the limit: the span that ended, not the one that
    // had not.
    assert_eq!(spans.len(), 2, "{spans:?}");
    let looked_up = spans.iter().find(|s| s.name == "looked up").unwrap();
    assert_eq!(looked_up.parent_span_id, Some(root.span_id));
    assert_eq!(looked_up.attributes["input"], "slow");
    assert_eq!(traces[&1].len(), 2);
}

#[test]
fn spans_made_where_the_call_hands_its_current_span_are_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let data = echoes(dir.path(), &[json!("a"), json!("b")]);
    let db = dir.path().join("store.db");
    let report = Suite::new()
        .scorer("exact_match")
        .store(&db)
        .predict(|inputs| {
            // What code that fans out does: its current span and
            // subscriber handed to the threads it starts.
            let dispatch = tracing::dispatcher::get_default(|d| d.clone());
            let current = tracing::Span::current();
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    tracing::dispatcher::with_default(&dispatch, || {
                        current.in_scope(|| {
                            tracing::info_span!("on a thread it started").in_scope(|| {});
                        });
                    });
                });
            });
            tracing::info_span!(parent: &tracing::Span::current(), "given its parent")
                .in_scope(|| {});
            Ok::<_, String>(inputs.clone())
        })
        .run(&data)
        .unwrap();
    assert_eq!(report.summary().scorer("exact_match").unwrap().passed, 2);
    let traces = by_line(&LocalStore::open(&db).unwrap());
    for line in [1, 2] {
        let spans = &traces[&line];
        let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
        for name in ["on a thread it started", "given its parent"] {
            let span = spans
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("no {name:?} in record {line}: {spans:?}"));
            assert_eq!(span.parent_span_id, Some(root.span_id));
        }
    }
}

#[test]
fn a_tracing_span_left_open_past_its_call_is_counted_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = echoes(dir.path(), &[json!("a"), json!("b")]);
    let db = dir.path().join("store.db");
    let (left, open) = std::sync::mpsc::channel();
    let report = Suite::new()
        .scorer("exact_match")
        .store(&db)
        .predict(move |inputs| {
            tracing::info_span!("answered").in_scope(|| {});
            // A span the call hands to work that outlives it.
            left.send(tracing::info_span!("left running")).unwrap();
            Ok::<_, String>(inputs.clone())
        })
        .predict_calls(1)
        .run(&data)
        .unwrap();
    assert_eq!(report.spans_left_open(), 2, "one a call");
    let spans: Vec<tracing::Span> = open.try_iter().collect();
    assert_eq!(spans.len(), 2);
    drop(spans);
    let traces = by_line(&LocalStore::open(&db).unwrap());
    for line in [1, 2] {
        let names: Vec<&str> = traces[&line].iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"answered"), "{names:?}");
        assert!(!names.contains(&"left running"), "{names:?}");
    }
}

#[test]
fn calls_that_close_their_spans_leave_none_open() {
    let dir = tempfile::tempdir().unwrap();
    let data = echoes(dir.path(), &[json!("a"), json!("b"), json!("c")]);
    let report = Suite::new()
        .scorer("exact_match")
        .predict(|inputs| {
            let span = tracing::info_span!("outer");
            let _entered = span.enter();
            tracing::info_span!("inner").in_scope(|| {});
            Ok::<_, String>(inputs.clone())
        })
        .run(&data)
        .unwrap();
    assert_eq!(report.spans_left_open(), 0);
}
