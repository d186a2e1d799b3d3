//! What `verdict push` records of a destination behind a spool: an
//! operation that was only spooled has not reached the destination. A
//! push to a collector that is down, through `Spooled` over the
//! destination, settles nothing as delivered — every operation stays
//! unseen, with a reason that says it waits in a spool — and the next
//! push, once the collector is up, sends it. Its own binary: it sets the
//! OTLP endpoint in the environment.

use std::net::TcpListener;

use verdict::{Assessment, AssessmentSink as _, Outcome, Outcomes};
use verdict_export::replay::{Ledger, Replay};
use verdict_export::testing::HttpStub;
use verdict_export::{
    Destination, ExportTarget, LocalStore, OpScope, SpanSink as _, Spooled, StoredSpan,
};

/// Pushes what `destination_key` has not seen through `send`, as `verdict
/// push` does, and records what each chunk's outcomes say.
fn push(
    store: &LocalStore,
    destination_key: &str,
    send: impl Fn(&[StoredSpan], &[verdict::Operation]) -> (Outcomes, Outcomes),
) -> Vec<Outcome> {
    let unseen = store.unseen(Some(destination_key), OpScope::All).unwrap();
    let mut replay = Replay::new(store, unseen, None).unwrap();
    let mut ledger = Ledger::default();
    let mut seen = Vec::new();
    while let Some(chunk) = replay.next_chunk().unwrap() {
        let (spans, operations) = send(&chunk.spans, &chunk.operations);
        seen.extend(spans.as_slice().iter().cloned());
        seen.extend(operations.as_slice().iter().cloned());
        ledger.outcomes(&chunk, &spans, &operations);
    }
    store
        .settle(destination_key, &ledger.settlement(Some(replay.snapshot())))
        .unwrap();
    seen
}

#[test]
fn what_only_a_spool_took_is_not_delivered_and_the_next_push_sends_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let store = LocalStore::open(&path).unwrap();
    for trace in [
        "0fb07256509eb9d22d07f42f7eb9f24d",
        "1fb07256509eb9d22d07f42f7eb9f24d",
    ] {
        store
            .log(
                &Assessment::feedback("ok", true)
                    .on_trace(trace, None)
                    .unwrap(),
            )
            .unwrap();
    }
    let logged = store.unseen(Some("any"), OpScope::All).unwrap().ops.len();
    assert_eq!(logged, 2);

    // A port nobody listens on: the collector is down.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // SAFETY: set before the exporters that read it are built; this
    // binary's only test.
    unsafe {
        std::env::set_var(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
    };
    let destination = Destination::open(ExportTarget::Otlp).unwrap();
    let key = destination.key().unwrap();
    let spooled = Spooled::with_spans(destination, LocalStore::open(&path).unwrap(), "push")
        .retry_after(std::time::Duration::from_secs(3600));

    let outcomes = push(&store, &key, |spans, operations| {
        (
            Outcomes::of(&spooled.export_stored_spans(spans), spans.len()),
            Outcomes::of(&spooled.export(operations), operations.len()),
        )
    });
    assert_eq!(
        outcomes,
        vec![Outcome::Spooled; logged],
        "all kept, none sent"
    );
    assert_eq!(spooled.pending().unwrap(), logged);

    // Not marked delivered: each stays unseen, saying why.
    assert_eq!(
        store.unseen(Some(&key), OpScope::All).unwrap().ops.len(),
        logged
    );
    let state = store.destinations().unwrap();
    let reasons: Vec<&str> = state[0].refused.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(reasons.len(), logged, "{reasons:?}");
    for reason in reasons {
        assert!(
            reason.contains("spool") && reason.contains("not at the destination"),
            "{reason}"
        );
    }
    drop(spooled);

    // The collector is up: the next push sends them, and they are seen.
    let collector = HttpStub::builder()
        .port(port)
        .start(|_| (200, Vec::new()))
        .unwrap();
    let destination = Destination::open(ExportTarget::Otlp).unwrap();
    let outcomes = push(&store, &key, |spans, operations| {
        match destination.send(spans, operations) {
            Ok(()) => (
                Outcomes::every(Outcome::Delivered, spans.len()),
                Outcomes::every(Outcome::Delivered, operations.len()),
            ),
            Err(error) => {
                let u = error
                    .undelivered
                    .expect("OTLP says what became of each item");
                (u.span_outcomes, u.operation_outcomes)
            }
        }
    });
    assert_eq!(outcomes, vec![Outcome::Delivered; logged]);
    assert!(collector.requests().iter().any(|r| r.path == "/v1/logs"));
    assert!(
        store
            .unseen(Some(&key), OpScope::All)
            .unwrap()
            .ops
            .is_empty()
    );
}
