//! `verdict eval --export` when the destination fails: the run goes to its
//! end, the local store keeps every record, the failure is reported at the
//! end with exact counts and exit code 2, and `verdict push` delivers what
//! was missing. The real binary, a real store file, and the in-process
//! OTLP receiver decoding the real protobuf, behind a proxy that refuses
//! some requests.

mod common;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{dead_endpoint, slow_endpoint, text_of, verdict_otlp, write_dataset};
use verdict_export::testing::{HttpStub, OtlpReceiver};

/// A proxy in front of `receiver` that refuses for good (400, which an
/// OTLP exporter does not retry; it retries a 503), without forwarding,
/// the `refused`-th request (from 0) to `/v1/logs`, and forwards every
/// other request unchanged.
fn refusing_proxy(receiver: &OtlpReceiver, refused: usize) -> HttpStub {
    let upstream = receiver.endpoint();
    let logs = Arc::new(AtomicUsize::new(0));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    HttpStub::builder()
        .keep_bodies(false)
        .content_type("application/x-protobuf")
        .start(move |request| {
            if request.path == "/v1/logs" && logs.fetch_add(1, Ordering::SeqCst) == refused {
                return (400, Vec::new());
            }
            let mut post = agent.post(format!("{upstream}{}", request.path));
            if let Some(content_type) = request.header("content-type") {
                post = post.header("content-type", content_type);
            }
            match post.send(&request.body[..]) {
                Ok(response) => (response.status().as_u16(), Vec::new()),
                Err(e) => (502, e.to_string().into_bytes()),
            }
        })
        .unwrap()
}

/// The trace ids (32 hex) of the log records the receiver holds.
fn event_traces(receiver: &OtlpReceiver) -> HashSet<String> {
    receiver
        .log_records()
        .iter()
        .map(|r| r.trace_id.iter().map(|b| format!("{b:02x}")).collect())
        .collect()
}

#[test]
fn a_destination_that_refuses_part_of_a_run_does_not_stop_it_and_push_delivers_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    // Three chunks: 512 + 4,096 + 3,684 records.
    let records = 2 * 4096 + 100;
    write_dataset(dir.path(), records);
    let receiver = OtlpReceiver::start().unwrap();
    // The second chunk's assessment events are refused; its spans, and
    // every other chunk, go through.
    let proxy = refusing_proxy(&receiver, 1);
    let eval = [
        "eval",
        "qa.jsonl",
        "--scorer",
        "exact_match",
        "--store",
        "s.db",
        "--export",
        "otlp",
    ];
    let (code, stdout, stderr) = text_of(
        &verdict_otlp(dir.path(), &proxy.url(), &eval)
            .output()
            .unwrap(),
    );

    assert_eq!(code, 2, "{stdout}{stderr}");
    // The run went to its end: every record scored, stored whole.
    assert!(stdout.contains(&format!("{records} records")), "{stdout}");
    assert!(stdout.contains("stored as run-"), "{stdout}");
    assert!(!stderr.contains("stopped after storing"), "{stderr}");
    // One expectation and one feedback per record, sent 4,096 events per
    // request: the refused request's are counted exactly, and the run did
    // not give up on the destination (it took that chunk's spans).
    let assessments = 2 * records;
    assert!(
        stderr.contains(&format!(
            "error: 0 of {records} spans and 4096 of {assessments} assessments were not \
             delivered to otlp: "
        )),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(!stderr.contains("nothing more was sent"), "{stderr}");
    assert!(
        stderr.contains("holds all of run run-") && stderr.contains("verdict push --to otlp"),
        "{stderr}"
    );
    // What the receiver decoded: every span, every event but the chunk's.
    assert_eq!(receiver.span_count(), records as u64);
    assert_eq!(
        receiver.log_record_count(),
        (assessments - 4096) as u64,
        "what followed the refused request was sent"
    );
    // The traces named are the refused request's: no event of theirs
    // arrived.
    let named: Vec<String> = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("not delivered: "))
        .expect("the traces are named")
        .trim_end_matches(" and more")
        .split(", ")
        .map(|t| t.trim_start_matches("tr-").to_owned())
        .collect();
    assert_eq!(named.len(), 10, "{stderr}");
    let arrived = event_traces(&receiver);
    // 4,096 events of 2,048 records: an expectation and a feedback each.
    assert_eq!(arrived.len(), records - 2048);
    assert!(named.iter().all(|t| !arrived.contains(t)), "{named:?}");

    // The run is stored as a finished run, and says what it did not
    // deliver.
    let runs = verdict_otlp(dir.path(), &proxy.url(), &["runs", "--store", "s.db"])
        .output()
        .unwrap();
    let (code, listed, _) = text_of(&runs);
    assert_eq!(code, 0);
    assert!(!listed.contains("STOP"), "{listed}");
    let run_id = listed
        .split_whitespace()
        .find(|w| w.starts_with("run-"))
        .unwrap()
        .to_owned();
    let shown = verdict_otlp(
        dir.path(),
        &proxy.url(),
        &["runs", &run_id, "--store", "s.db"],
    )
    .output()
    .unwrap();
    let (_, shown, _) = text_of(&shown);
    assert!(
        shown.contains(&format!(
            "4096 of {assessments} assessments were not delivered to otlp"
        )),
        "{shown}"
    );

    // Replayable: the store pushed again, the receiver has every trace's
    // events.
    let push = verdict_otlp(
        dir.path(),
        &receiver.endpoint(),
        &["push", "--to", "otlp", "--store", "s.db"],
    )
    .output()
    .unwrap();
    let (code, _, stderr) = text_of(&push);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(event_traces(&receiver).len(), records);
}

#[test]
fn a_destination_that_is_down_is_given_up_after_one_chunk_and_the_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let records = 4096 + 2;
    write_dataset(dir.path(), records);
    let eval = [
        "eval",
        "qa.jsonl",
        "--scorer",
        "exact_match",
        "--store",
        "s.db",
        "--export",
        "otlp",
        "--fail-under",
        "exact_match=0.9",
    ];
    let (code, stdout, stderr) = text_of(
        &verdict_otlp(dir.path(), &dead_endpoint(), &eval)
            .output()
            .unwrap(),
    );
    // A failed gate and a failed delivery: the delivery's 2 wins, and the
    // gate is still printed.
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.contains("FAIL"), "{stdout}");
    // Every span and every assessment counted, the second chunk's as not
    // sent at all; each of the first 10 traces named.
    assert!(
        stderr.contains(&format!(
            "error: {records} of {records} spans and {a} of {a} assessments were not delivered \
             to otlp (nothing more was sent to it after a chunk it took none of): ",
            a = 2 * records
        )),
        "{stderr}"
    );
    let named = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("not delivered: "))
        .expect("the traces are named");
    assert_eq!(named.matches("tr-").count(), 10, "{named}");
    assert!(named.ends_with(" and more"), "{named}");
    // The store has every record, under a finished run.
    let store = verdict_export::LocalStore::open(dir.path().join("s.db")).unwrap();
    assert_eq!(store.list_traces().unwrap().len(), records);
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].records, records as u64);
    assert!(runs[0].status.is_finished(), "{:?}", runs[0]);
}

#[test]
fn a_trace_named_in_many_chunks_of_one_run_gets_its_expectation_once() {
    // A trace named by records in chunks 1, 2 and 3 (of 4,096 records),
    // each judging a span of its own (a dataset judges a trace, or a span
    // of it, once). The destination answers slowly, so the writer, which stores a chunk
    // and then sends it, lags: chunk 1 waits to be stored while chunk 0 is
    // sent, and chunk 2 is read meanwhile. The store alone does not show
    // what the run has just logged.
    let dir = tempfile::tempdir().unwrap();
    let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
    let named = [4096 + 5, 2 * 4096 + 1, 3 * 4096 + 2];
    let mut text = String::new();
    for i in 0..=named[2] {
        let span = format!("{:016x}", i + 1);
        let line = if i == named[2] {
            // No expectations: judged against the one the run logged.
            format!(
                r#"{{"inputs": "q", "outputs": "Paris", "trace_id": "{trace}", "span_id": "{span}"}}"#
            )
        } else if named.contains(&i) {
            format!(
                r#"{{"inputs": "q", "outputs": "Paris", "expectations": {{"expected_response": "Paris"}}, "trace_id": "{trace}", "span_id": "{span}"}}"#
            )
        } else {
            format!(
                r#"{{"inputs": "q{i}", "outputs": "a", "expectations": {{"expected_response": "a"}}}}"#
            )
        };
        writeln!(text, "{line}").unwrap();
    }
    std::fs::write(dir.path().join("qa.jsonl"), text).unwrap();
    let slow = slow_endpoint(Duration::from_millis(200));
    let eval = [
        "eval",
        "qa.jsonl",
        "--scorer",
        "exact_match",
        "--store",
        "s.db",
        "--export",
        "otlp",
    ];
    let trace = verdict::parse_trace_id(trace).unwrap();
    let of_kind = |kind: verdict::Kind| -> Vec<String> {
        let store = verdict_export::LocalStore::open(dir.path().join("s.db")).unwrap();
        store
            .list_by_trace(trace)
            .unwrap()
            .iter()
            .filter(|a| a.kind() == kind)
            .map(|a| match a.expectation_value() {
                Some(value) => format!("{}={value}", a.name()),
                None => format!("{}={:?}", a.name(), a.feedback_value()),
            })
            .collect()
    };
    // Within the run, then across runs (the second without the export).
    for args in [&eval[..], &eval[..6]] {
        let (code, stdout, stderr) = text_of(
            &verdict_otlp(dir.path(), &slow.url(), args)
                .output()
                .unwrap(),
        );
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert_eq!(
            of_kind(verdict::Kind::Expectation),
            ["expected_response=\"Paris\""]
        );
    }
    // Every record on the trace was judged against it, the last one too.
    let feedback = of_kind(verdict::Kind::Feedback);
    assert_eq!(feedback.len(), 6, "{feedback:?}");
    assert!(
        feedback.iter().all(|f| f == &feedback[0]) && feedback[0].contains("true"),
        "{feedback:?}"
    );
}
