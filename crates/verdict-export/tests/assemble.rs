//! `TraceAssembler` wired as a real `SdkTracerProvider`'s span processor
//! and a real `Recorder`'s assessment processor, over the local store: assessments recorded
//! in an open trace ship with it, late ones on their own, flush sends what
//! is held, and holding is bounded — with the recorder's counters honest
//! throughout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::trace::{
    SpanId, TraceContextExt as _, TraceId, Tracer as _, TracerProvider as _,
};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData};
use verdict::{
    Assessment, AssessmentSink, Counters, Operation, Recorder, SinkError, SpansAndOperations,
    Target,
};
use verdict_export::{LocalStore, SpanSink, TraceAssembler, TraceSink};

/// The local store, noting every call: (spans, operations) per call, and
/// whether they came together.
struct Noting {
    store: LocalStore,
    calls: Mutex<Vec<Call>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Together { spans: usize, operations: usize },
    Spans(usize),
    Operations(usize),
}

impl Noting {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn note(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }
}

impl AssessmentSink for Noting {
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        self.note(Call::Operations(batch.len()));
        self.store.export(batch)
    }
}

impl SpanSink for Noting {
    fn export_spans(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        self.note(Call::Spans(spans.len()));
        self.store.export_spans(spans)
    }
}

impl TraceSink for Noting {
    fn export_trace(
        &self,
        spans: &[SpanData],
        operations: &[Operation],
        _fresh: bool,
    ) -> SpansAndOperations {
        self.note(Call::Together {
            spans: spans.len(),
            operations: operations.len(),
        });
        (
            self.store.export_spans(spans),
            self.store.export(operations),
        )
    }
}

struct Setup {
    sink: Arc<Noting>,
    provider: SdkTracerProvider,
    recorder: Recorder,
    _dir: tempfile::TempDir,
}

fn setup(
    configure: impl FnOnce(verdict_export::AssemblerBuilder) -> verdict_export::AssemblerBuilder,
) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(Noting {
        store: LocalStore::open(dir.path().join("verdict.db")).unwrap(),
        calls: Mutex::default(),
    });
    let (spans, assessments) = configure(TraceAssembler::builder(Arc::clone(&sink))).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(spans)
        .build();
    let recorder = Recorder::builder().processor(assessments).build();
    Setup {
        sink,
        provider,
        recorder,
        _dir: dir,
    }
}

/// Waits until the recorder's worker has handed `n` operations over.
fn handed_over(recorder: &Recorder, n: u64) -> Counters {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = recorder.counters();
        if c.delivered + c.held + c.failed >= n {
            return c;
        }
        assert!(Instant::now() < deadline, "not handed over: {c:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn settled(recorder: &Recorder, n: u64) {
    assert_eq!(
        recorder.counters(),
        Counters {
            recorded: n,
            delivered: n,
            ..Counters::default()
        }
    );
}

#[test]
fn an_assessment_recorded_in_an_open_trace_ships_with_it_and_a_late_one_on_its_own() {
    let s = setup(|b| b);
    let tracer = s.provider.tracer("test");
    let (trace_id, root) = tracer.in_span("root", |cx| {
        tracer.in_span("child", |_| {});
        s.recorder
            .record(
                Assessment::feedback("helpful", true)
                    .on_current_span()
                    .unwrap(),
            )
            .unwrap();
        let c = handed_over(&s.recorder, 1);
        assert_eq!(
            (c.held, c.delivered),
            (1, 0),
            "held while the trace is open"
        );
        let sc = cx.span().span_context().clone();
        (sc.trace_id(), sc.span_id())
    });
    s.provider.force_flush().unwrap();
    assert_eq!(
        s.sink.calls(),
        [Call::Together {
            spans: 2,
            operations: 1
        }],
        "the trace's spans and its assessment in one call"
    );
    s.recorder.flush().unwrap();
    settled(&s.recorder, 1);
    assert_eq!(s.sink.store.spans_of(trace_id).unwrap().len(), 2);

    // Hours later, a review of the finished trace: on its own, on the
    // right trace and span.
    let late = Assessment::feedback("reviewed", "good")
        .on(Target::span(trace_id, root).unwrap())
        .unwrap();
    s.recorder.record(late.clone()).unwrap();
    s.recorder.flush().unwrap();
    settled(&s.recorder, 2);
    assert_eq!(s.sink.calls()[1..], [Call::Operations(1)]);
    let stored = s.sink.store.list_by_trace(trace_id).unwrap();
    assert_eq!(stored.len(), 2);
    let got = stored.iter().find(|a| a.id() == late.id()).unwrap();
    assert_eq!(got.target(), late.target());
    assert_eq!(got.target().span_id(), Some(root));
}

#[test]
fn flush_with_the_trace_still_open_sends_what_is_held() {
    let s = setup(|b| b);
    let tracer = s.provider.tracer("test");
    let trace_id: TraceId = tracer.in_span("root", |cx| {
        tracer.in_span("child", |_| {});
        // The child's end reaches the assembler, which holds it.
        s.provider.force_flush().unwrap();
        let trace_id = cx.span().span_context().trace_id();
        for i in 0..3 {
            s.recorder
                .record(Assessment::feedback("score", i).on_current_span().unwrap())
                .unwrap();
        }
        s.recorder.flush().unwrap();
        settled(&s.recorder, 3);
        assert_eq!(s.sink.store.list_by_trace(trace_id).unwrap().len(), 3);
        assert_eq!(
            s.sink.store.spans_of(trace_id).unwrap().len(),
            1,
            "the child"
        );
        // Released: what comes later goes at once.
        s.recorder
            .record(Assessment::feedback("more", 1).on_current_span().unwrap())
            .unwrap();
        let c = handed_over(&s.recorder, 4);
        assert_eq!(c.held, 0, "{c:?}");
        trace_id
    });
    s.provider.force_flush().unwrap();
    assert_eq!(s.sink.store.spans_of(trace_id).unwrap().len(), 2);
    s.recorder.flush().unwrap();
    settled(&s.recorder, 4);
    assert_eq!(s.sink.store.list_by_trace(trace_id).unwrap().len(), 4);
}

#[test]
fn holding_is_bounded_by_count_and_by_time() {
    let s = setup(|b| b.max_held(3).max_hold(Duration::from_secs(3600)));
    let tracer = s.provider.tracer("test");
    let trace_id = tracer.in_span("root", |cx| {
        for i in 0..10 {
            s.recorder
                .record(Assessment::feedback("score", i).on_current_span().unwrap())
                .unwrap();
        }
        handed_over(&s.recorder, 10);
        // While a released batch of the trace is being shipped, what comes
        // next waits behind it (order within a trace), so the bound holds
        // once that shipping is done — not at every instant.
        let deadline = Instant::now() + Duration::from_secs(10);
        let c = loop {
            let c = s.recorder.counters();
            if c.held <= 3 {
                break c;
            }
            assert!(Instant::now() < deadline, "more than max_held held: {c:?}");
            std::thread::sleep(Duration::from_millis(2));
        };
        assert_eq!(c.delivered + c.held, 10, "{c:?}");
        cx.span().span_context().trace_id()
    });
    s.provider.force_flush().unwrap();
    s.recorder.flush().unwrap();
    settled(&s.recorder, 10);
    assert_eq!(s.sink.store.list_by_trace(trace_id).unwrap().len(), 10);

    let s = setup(|b| b.max_hold(Duration::from_millis(50)));
    let tracer = s.provider.tracer("test");
    tracer.in_span("root", |_| {
        s.recorder
            .record(Assessment::feedback("score", 1).on_current_span().unwrap())
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while s.recorder.counters().delivered < 1 {
            assert!(Instant::now() < deadline, "never released");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(s.recorder.counters().held, 0);
    });
    s.provider.shutdown().unwrap();
    s.recorder.shutdown().unwrap();
    assert_eq!(
        s.sink.calls().first(),
        Some(&Call::Together {
            spans: 0,
            operations: 1
        })
    );
}

#[test]
fn spans_and_assessments_of_traces_it_never_saw_start_go_at_once() {
    let s = setup(|b| b);
    let other = TraceId::from_hex("0fb07256509eb9d22d07f42f7eb9f24d").unwrap();
    let a = Assessment::feedback("remote", true)
        .on(Target::span(other, SpanId::from_hex("71492b10072d70de").unwrap()).unwrap())
        .unwrap();
    s.recorder.record(a).unwrap();
    s.recorder.flush().unwrap();
    settled(&s.recorder, 1);
    assert_eq!(s.sink.calls(), [Call::Operations(1)]);
}

/// Refuses one operation of each trace it ships together.
struct RefusesOne;

impl AssessmentSink for RefusesOne {
    fn export(&self, _batch: &[Operation]) -> Result<(), SinkError> {
        Ok(())
    }
}

impl SpanSink for RefusesOne {
    fn export_spans(&self, _spans: &[SpanData]) -> Result<(), SinkError> {
        Ok(())
    }
}

impl TraceSink for RefusesOne {
    fn export_trace(
        &self,
        _spans: &[SpanData],
        operations: &[Operation],
        _fresh: bool,
    ) -> SpansAndOperations {
        let mut outcomes = vec![verdict::Outcome::Delivered; operations.len()];
        outcomes[0] = verdict::Outcome::refused("refused one");
        (
            Ok(()),
            Err(SinkError::new("refused one").with_outcomes(outcomes)),
        )
    }
}

#[test]
fn a_held_operation_refused_is_counted_failed_and_reported_the_others_delivered() {
    let (spans, assessments) = TraceAssembler::builder(RefusesOne).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(spans)
        .build();
    let recorder = Recorder::builder().processor(assessments).build();
    provider.tracer("test").in_span("root", |_| {
        for i in 0..3 {
            recorder
                .record(Assessment::feedback("score", i).on_current_span().unwrap())
                .unwrap();
        }
        handed_over(&recorder, 3);
    });
    provider.force_flush().unwrap();
    let err = recorder.flush().unwrap_err();
    assert!(err.to_string().contains("refused one"), "{err}");
    let c = recorder.counters();
    assert_eq!(
        (c.recorded, c.delivered, c.failed, c.held),
        (3, 2, 1, 0),
        "{c:?}"
    );
}

/// Over the local store itself: a trace with new assessments is stored in
/// one transaction; one whose held operations include an override, an
/// update and a delete goes operation by operation, with the lifecycle.
#[test]
fn over_the_local_store_held_operations_keep_their_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(dir.path().join("verdict.db")).unwrap());
    let (spans, assessments) = TraceAssembler::builder(Arc::clone(&store)).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(spans)
        .build();
    let recorder = Recorder::builder().processor(assessments).build();
    let tracer = provider.tracer("test");
    let (trace_id, first, overriding, gone) = tracer.in_span("root", |cx| {
        let first = Assessment::feedback("correct", true)
            .on_current_span()
            .unwrap();
        let overriding = Assessment::override_of(&first, false)
            .on_current_span()
            .unwrap();
        let gone = Assessment::feedback("scratch", 1)
            .on_current_span()
            .unwrap();
        let trace_id = cx.span().span_context().trace_id();
        for a in [&first, &overriding, &gone] {
            recorder.record(a.clone()).unwrap();
        }
        recorder
            .update(
                verdict::AssessmentUpdate::builder(trace_id, overriding.id())
                    .rationale("on review")
                    .build()
                    .unwrap(),
            )
            .unwrap();
        recorder.delete(trace_id, gone.id()).unwrap();
        let c = handed_over(&recorder, 5);
        assert_eq!(c.held, 5, "{c:?}");
        (trace_id, first, overriding, gone)
    });
    provider.force_flush().unwrap();
    recorder.flush().unwrap();
    settled(&recorder, 5);
    let stored = store.list_by_trace(trace_id).unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
    let find = |id| stored.iter().find(|a| a.id() == id).unwrap();
    assert!(!find(first.id()).is_valid(), "overridden");
    assert_eq!(find(overriding.id()).rationale(), Some("on review"));
    assert!(stored.iter().all(|a| a.id() != gone.id()));
    assert_eq!(store.spans_of(trace_id).unwrap().len(), 1);
}

/// Refuses every span; takes every operation.
struct RefusesSpans;

impl AssessmentSink for RefusesSpans {
    fn export(&self, _batch: &[Operation]) -> Result<(), SinkError> {
        Ok(())
    }
}

impl SpanSink for RefusesSpans {
    fn export_spans(&self, _spans: &[SpanData]) -> Result<(), SinkError> {
        Err(SinkError::new("spans refused"))
    }
}

impl TraceSink for RefusesSpans {}

/// A failure on the assembler's own thread, which has no caller to return
/// it to, reaches the recorder the assessment processor is registered
/// with: its error handler at once, and its next flush.
#[test]
fn spans_refused_on_the_assemblers_thread_reach_the_recorders_handler_and_flush() {
    let (spans, assessments) = TraceAssembler::builder(RefusesSpans).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(spans)
        .build();
    let log: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = Arc::clone(&log);
    let recorder = Recorder::builder()
        .processor(assessments)
        .on_error(move |name, error| {
            seen.lock()
                .unwrap()
                .push((name.to_owned(), error.to_string()));
        })
        .build();
    provider.tracer("test").in_span("root", |_| {
        recorder
            .record(Assessment::feedback("ok", true).on_current_span().unwrap())
            .unwrap();
        handed_over(&recorder, 1);
    });
    provider.force_flush().unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [("trace-assembler".to_owned(), "spans refused".to_owned())]
    );
    let err = recorder.flush().unwrap_err();
    assert!(
        err.to_string()
            .contains("processor trace-assembler: spans refused"),
        "{err}"
    );
    settled(&recorder, 1);
    recorder.flush().unwrap();
}
