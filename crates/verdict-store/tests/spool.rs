//! The spool's index of waiting traces, against a real store file: which
//! traces wait is answered per sink, per trace, and (for a writer that
//! wrote its own lines first) among older lines only; spans are read
//! apart; and what is removed stops waiting.

use opentelemetry::trace::TraceId;
use verdict_store::{LocalStore, SpoolLine};

fn trace(n: u128) -> TraceId {
    TraceId::from(n)
}

fn line(trace_id: TraceId, span: bool, text: &str) -> SpoolLine {
    SpoolLine {
        trace_id,
        span,
        line: text.to_owned(),
    }
}

#[test]
fn waiting_traces_are_found_per_sink_per_trace_and_before_a_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("verdict.db")).unwrap();
    let (a, b, c) = (trace(1), trace(2), trace(3));
    assert!(!store.spool_waits("otlp", None).unwrap());
    assert!(
        store
            .spool_waiting("otlp", [a, b], None)
            .unwrap()
            .is_empty()
    );

    let first = store
        .spool(
            "otlp",
            [line(a, true, "span of a"), line(a, false, "op of a")],
        )
        .unwrap();
    let other_sink = store.spool("mlflow", [line(c, false, "op of c")]).unwrap();
    let later = store.spool("otlp", [line(b, false, "op of b")]).unwrap();
    assert_eq!(first.len(), 2);
    assert!(first[0] < first[1] && first[1] < other_sink[0] && other_sink[0] < later[0]);

    // Per sink, per trace: c waits under another key only.
    let waiting = store.spool_waiting("otlp", [a, b, c, a], None).unwrap();
    assert_eq!(waiting, [a, b].into_iter().collect());
    assert_eq!(
        store.spool_waiting("mlflow", [a, b, c], None).unwrap(),
        [c].into_iter().collect()
    );
    // Before a place: what a writer that wrote its own lines first asks.
    assert_eq!(
        store.spool_waiting("otlp", [a, b], Some(later[0])).unwrap(),
        [a].into_iter().collect()
    );
    assert!(store.spool_waits("otlp", Some(later[0])).unwrap());
    assert!(!store.spool_waits("otlp", Some(first[0])).unwrap());
    assert!(!store.spool_waits("mlflow", Some(other_sink[0])).unwrap());

    // Spans are read apart, in order.
    let spans = store.spooled("otlp", None, true).unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        (spans[0].seq, spans[0].line.as_str()),
        (first[0], "span of a")
    );
    let all: Vec<String> = store
        .spooled("otlp", None, false)
        .unwrap()
        .into_iter()
        .map(|row| row.line)
        .collect();
    assert_eq!(all, ["span of a", "op of a", "op of b"]);

    // Of the places asked, those still spooled under the key.
    let mut asked = first.clone();
    asked.extend(&other_sink);
    assert_eq!(
        store.still_spooled("otlp", &asked).unwrap(),
        first.iter().copied().collect()
    );

    // What is removed stops waiting.
    store.unspool(&first).unwrap();
    assert_eq!(
        store.spool_waiting("otlp", [a, b], None).unwrap(),
        [b].into_iter().collect()
    );
    assert!(store.still_spooled("otlp", &first).unwrap().is_empty());
    assert_eq!(store.spool_len("otlp").unwrap(), 1);
    assert_eq!(
        store.spool_depths().unwrap(),
        [("mlflow".to_owned(), 1), ("otlp".to_owned(), 1)]
    );

    // Another connection to the file (another process) sees the same.
    let again = LocalStore::open(dir.path().join("verdict.db")).unwrap();
    assert_eq!(
        again.spool_waiting("otlp", [a, b, c], None).unwrap(),
        [b].into_iter().collect()
    );
}
