//! A destination passes on what its sink said of each item: as a sink
//! (a service's recorder) and through a `Tally` (`verdict eval`,
//! `verdict push`). Its own binary: it sets the OTLP endpoint in the
//! environment.

use verdict::{Assessment, AssessmentSink as _, Operation, Outcomes};
use verdict_export::testing::HttpStub;
use verdict_export::{Destination, ExportTarget, Tally};

#[test]
fn a_collector_that_refuses_the_events_has_each_refused_and_counted_exactly() {
    // Takes spans, refuses every logs request for good.
    let collector = HttpStub::start(|request| match request.path.as_str() {
        "/v1/logs" => (400, b"bad events".to_vec()),
        _ => (200, Vec::new()),
    })
    .unwrap();
    // SAFETY: set before the exporter that reads it is built; this
    // binary's only test.
    unsafe { std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url()) };
    let destination = Destination::open(ExportTarget::Otlp).unwrap();
    let traces = [
        "0fb07256509eb9d22d07f42f7eb9f24d",
        "1fb07256509eb9d22d07f42f7eb9f24d",
        "1fb07256509eb9d22d07f42f7eb9f24d",
    ];
    let operations: Vec<Operation> = traces
        .iter()
        .map(|t| Operation::Log(Assessment::feedback("ok", true).on_trace(t, None).unwrap()))
        .collect();

    // As a sink: one refusal per operation.
    let error = destination.export(&operations).unwrap_err();
    let outcomes = Outcomes::of_error(&error, operations.len());
    assert!(outcomes.itemized(), "{error:?}");
    assert_eq!(outcomes.refused_at(), vec![0, 1, 2], "{error:?}");

    // Through a tally: counted exactly, each trace named once.
    let mut tally = Tally::new(&destination);
    tally.send(&[], &[], &operations);
    let failure = tally.finish().expect("a failure");
    assert_eq!((failure.assessments, failure.assessments_of), (3, 3));
    assert!(!failure.counted_whole, "{failure}");
    assert_eq!(
        failure.traces,
        vec![format!("tr-{}", traces[0]), format!("tr-{}", traces[1])]
    );
    assert!(failure.to_string().contains("400"), "{failure}");
}
