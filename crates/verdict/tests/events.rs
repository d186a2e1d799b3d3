//! Assessments as `gen_ai.evaluation.result` OpenTelemetry events, emitted by
//! [`EventSink`] through a real `SdkLoggerProvider` and read back from the
//! SDK's in-memory exporter.

use std::collections::HashMap;

use opentelemetry::logs::{AnyValue, LoggerProvider as _, Severity};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceId, Tracer, TracerProvider as _,
};
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::{Value, json};
use verdict::attributes::*;
use verdict::{
    Assessment, AssessmentError, AssessmentSink, AssessmentSource, AssessmentUpdate, EVENT_NAME,
    EXPECTATION_EVENT_NAME, EventSink, Operation, Recorder,
};

struct Harness {
    exporter: InMemoryLogExporter,
    logs: SdkLoggerProvider,
    recorder: Recorder,
    tracer: opentelemetry_sdk::trace::SdkTracer,
    _traces: SdkTracerProvider,
}

fn harness() -> Harness {
    let exporter = InMemoryLogExporter::default();
    let logs = SdkLoggerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let recorder = Recorder::builder()
        .sink(EventSink::new(logs.logger("verdict")))
        .build();
    let traces = SdkTracerProvider::builder().build();
    let tracer = traces.tracer("app");
    Harness {
        exporter,
        logs,
        recorder,
        tracer,
        _traces: traces,
    }
}

impl Harness {
    /// Records `build(span)` inside a real span and returns the assessment,
    /// the span's context and the one exported record.
    fn record_in_span(
        &self,
        build: impl FnOnce() -> verdict::Result<Assessment>,
    ) -> (Assessment, SpanContext, SdkLogRecord) {
        let (assessment, sc) = self.tracer.in_span("answer", |cx| {
            let assessment = build().unwrap();
            self.recorder.record(assessment.clone()).unwrap();
            (assessment, cx.span().span_context().clone())
        });
        self.recorder.flush().unwrap();
        let record = self.only_record();
        (assessment, sc, record)
    }

    fn only_record(&self) -> SdkLogRecord {
        let mut logs = self.exporter.get_emitted_logs().unwrap();
        assert_eq!(logs.len(), 1, "exactly one event: {logs:?}");
        logs.remove(0).record
    }
}

fn attrs(record: &SdkLogRecord) -> HashMap<String, AnyValue> {
    let mut map = HashMap::new();
    for (key, value) in record.attributes_iter() {
        let previous = map.insert(key.as_str().to_owned(), value.clone());
        assert!(previous.is_none(), "attribute {key} set twice");
    }
    map
}

fn string(attrs: &HashMap<String, AnyValue>, key: &str) -> String {
    match attrs.get(key) {
        Some(AnyValue::String(s)) => s.as_str().to_owned(),
        other => panic!("{key}: expected a string attribute, got {other:?} in {attrs:?}"),
    }
}

fn double(attrs: &HashMap<String, AnyValue>, key: &str) -> f64 {
    match attrs.get(key) {
        Some(AnyValue::Double(d)) => *d,
        other => panic!("{key}: expected a double attribute, got {other:?} in {attrs:?}"),
    }
}

fn json_attr(attrs: &HashMap<String, AnyValue>, key: &str) -> Value {
    serde_json::from_str(&string(attrs, key)).unwrap()
}

#[test]
fn feedback_in_a_span_is_an_evaluation_event_of_that_span() {
    let h = harness();
    let (feedback, sc, record) = h.record_in_span(|| {
        Assessment::feedback("helpful", true)
            .rationale("the user clicked thumbs-up")
            .source(AssessmentSource::human("user-42"))
            .metadata("channel", "web")
            .metadata("reviewer.team", "support")
            .run_id("run-7")
            .on_current_span()
    });

    assert_eq!(record.event_name(), Some(EVENT_NAME));
    assert_eq!(EVENT_NAME, "gen_ai.evaluation.result");

    // Parented to the evaluated span, though emitted on the recorder's
    // worker thread where no span is current.
    let tc = record.trace_context().expect("a trace context");
    assert_eq!(tc.trace_id, sc.trace_id());
    assert_eq!(tc.span_id, sc.span_id());

    assert_eq!(record.timestamp(), Some(feedback.create_time()));
    assert!(record.observed_timestamp().is_some());
    assert_eq!(record.severity_number(), Some(Severity::Info));
    assert!(record.body().is_none(), "no body: {:?}", record.body());

    let a = attrs(&record);
    assert_eq!(string(&a, "gen_ai.evaluation.name"), "helpful");
    assert_eq!(double(&a, "gen_ai.evaluation.score.value"), 1.0);
    assert_eq!(string(&a, "gen_ai.evaluation.score.label"), "pass");
    assert_eq!(
        string(&a, "gen_ai.evaluation.explanation"),
        "the user clicked thumbs-up"
    );
    assert!(!a.contains_key("error.type"));
    assert_eq!(
        string(&a, "verdict.assessment.id"),
        feedback.id().to_string()
    );
    assert!(string(&a, ASSESSMENT_ID).starts_with("a-"));
    assert_eq!(string(&a, "verdict.assessment.kind"), "feedback");
    assert_eq!(string(&a, "verdict.assessment.source.type"), "HUMAN");
    assert_eq!(string(&a, "verdict.assessment.source.id"), "user-42");
    assert_eq!(string(&a, "verdict.assessment.run_id"), "run-7");
    assert_eq!(string(&a, "verdict.assessment.metadata.channel"), "web");
    assert_eq!(
        string(&a, "verdict.assessment.metadata.reviewer.team"),
        "support"
    );
    assert!(!a.contains_key(OVERRIDES));
    assert!(!a.contains_key(VALUE_JSON), "a bool needs no JSON value");
    // The run id is an attribute of its own, not MLflow's metadata key.
    assert!(!a.contains_key("verdict.assessment.metadata.mlflow.assessment.sourceRunId"));
    assert_eq!(a.len(), 11, "nothing else: {a:?}");
}

#[test]
fn false_is_zero_and_fail() {
    let h = harness();
    let (_, _, record) = h.record_in_span(|| Assessment::feedback("ok", false).on_current_span());
    let a = attrs(&record);
    assert_eq!(double(&a, SCORE_VALUE), 0.0);
    assert_eq!(string(&a, SCORE_LABEL), "fail");
    assert!(!a.contains_key(EXPLANATION), "no rationale, no explanation");
    assert_eq!(string(&a, SOURCE_TYPE), "CODE");
    assert_eq!(string(&a, SOURCE_ID), "default");
}

#[test]
fn numbers_are_score_values_without_a_label() {
    let h = harness();
    let (_, _, record) = h.record_in_span(|| {
        Assessment::feedback("relevance", 0.75)
            .source(AssessmentSource::llm_judge("judge-v2"))
            .on_current_span()
    });
    let a = attrs(&record);
    assert_eq!(double(&a, SCORE_VALUE), 0.75);
    assert!(!a.contains_key(SCORE_LABEL), "{a:?}");
    assert_eq!(string(&a, SOURCE_TYPE), "LLM_JUDGE");
    assert_eq!(string(&a, SOURCE_ID), "judge-v2");

    // Integers are doubles too, as the convention types the score.
    let h = harness();
    let (_, _, record) = h.record_in_span(|| Assessment::feedback("n", 3).on_current_span());
    assert_eq!(double(&attrs(&record), SCORE_VALUE), 3.0);
}

#[test]
fn strings_are_labels_without_a_score() {
    let h = harness();
    let (_, _, record) =
        h.record_in_span(|| Assessment::feedback("relevance", "relevant").on_current_span());
    let a = attrs(&record);
    assert_eq!(string(&a, SCORE_LABEL), "relevant");
    assert!(!a.contains_key(SCORE_VALUE), "{a:?}");
    assert!(!a.contains_key(VALUE_JSON), "{a:?}");
}

#[test]
fn a_failed_evaluation_carries_its_error_type() {
    let h = harness();
    let (_, _, record) = h.record_in_span(|| {
        Assessment::feedback_error(
            "judge",
            AssessmentError::new("TIMEOUT").with_message("took too long"),
        )
        .source(AssessmentSource::llm_judge("m"))
        .on_current_span()
    });
    let a = attrs(&record);
    assert_eq!(string(&a, "error.type"), "TIMEOUT");
    assert_eq!(string(&a, ERROR_MESSAGE), "took too long");
    assert!(!a.contains_key(SCORE_VALUE), "{a:?}");
    assert!(!a.contains_key(SCORE_LABEL), "{a:?}");
    assert_eq!(string(&a, EVALUATION_NAME), "judge");

    // A value and an error together: both are there.
    let h = harness();
    let (_, _, record) = h.record_in_span(|| {
        Assessment::feedback("partial", 0.5)
            .error(AssessmentError::new("PARTIAL"))
            .on_current_span()
    });
    let a = attrs(&record);
    assert_eq!(double(&a, SCORE_VALUE), 0.5);
    assert_eq!(string(&a, ERROR_TYPE), "PARTIAL");
    assert!(!a.contains_key(ERROR_MESSAGE));
}

#[test]
fn an_override_names_the_overridden_assessment() {
    let h = harness();
    let first = Assessment::feedback("ok", false)
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", Some("71492b10072d70de"))
        .unwrap();
    let fix = Assessment::override_of(&first, true)
        .source(AssessmentSource::human("alice"))
        .on(first.target())
        .unwrap();
    h.recorder.record(fix.clone()).unwrap();
    h.recorder.flush().unwrap();
    let a = attrs(&h.only_record());
    assert_eq!(string(&a, OVERRIDES), first.id().to_string());
    assert_eq!(string(&a, ASSESSMENT_ID), fix.id().to_string());
}

#[test]
fn expectations_are_events_of_their_own_not_evaluation_results() {
    let values = [
        json!("Paris"),
        json!(42),
        json!(["Paris", "Lyon"]),
        json!({"answer": "Paris", "sources": [1, 2]}),
    ];
    for value in values {
        let h = harness();
        let (expectation, sc, record) = h.record_in_span(|| {
            Assessment::expectation("expected_response", value.clone())
                .rationale("from the FAQ")
                .on_current_span()
        });
        // Ground truth is not the result of an evaluation.
        assert_eq!(record.event_name(), Some(EXPECTATION_EVENT_NAME));
        assert_eq!(EXPECTATION_EVENT_NAME, "verdict.expectation");
        let tc = record.trace_context().expect("a trace context");
        assert_eq!((tc.trace_id, tc.span_id), (sc.trace_id(), sc.span_id()));
        assert_eq!(record.timestamp(), Some(expectation.create_time()));
        assert_eq!(record.severity_number(), Some(Severity::Info));
        assert!(record.body().is_none());
        let a = attrs(&record);
        assert_eq!(string(&a, NAME), "expected_response");
        assert_eq!(string(&a, KIND), "expectation");
        assert_eq!(json_attr(&a, "verdict.assessment.value"), value);
        assert_eq!(string(&a, RATIONALE), "from the FAQ");
        assert_eq!(string(&a, SOURCE_TYPE), "HUMAN");
        assert_eq!(string(&a, SOURCE_ID), "default");
        assert_eq!(string(&a, ASSESSMENT_ID), expectation.id().to_string());
        // Nothing of the evaluation convention.
        for key in a.keys() {
            assert!(!key.starts_with("gen_ai."), "{key} in {a:?}");
        }
        assert!(!a.contains_key(ON_TRACE), "it judges its span: {a:?}");
    }
}

#[test]
fn list_and_object_feedback_carry_their_value_as_json() {
    let list = vec![json!("a"), json!(1)];
    let h = harness();
    let (_, _, record) =
        h.record_in_span(|| Assessment::feedback("tags", list.clone()).on_current_span());
    let a = attrs(&record);
    assert_eq!(json_attr(&a, VALUE_JSON), Value::Array(list));
    assert!(!a.contains_key(SCORE_VALUE) && !a.contains_key(SCORE_LABEL));

    let object = json!({"precision": 0.5, "recall": 1.0});
    let h = harness();
    let (_, _, record) = h.record_in_span(|| {
        Assessment::feedback("prf", object.as_object().unwrap().clone()).on_current_span()
    });
    assert_eq!(json_attr(&attrs(&record), VALUE_JSON), object);
}

#[test]
fn updates_and_deletes_emit_nothing() {
    let h = harness();
    let a = Assessment::feedback("ok", true)
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
        .unwrap();
    h.recorder.record(a.clone()).unwrap();
    h.recorder
        .update(
            AssessmentUpdate::builder(a.trace_id(), a.id())
                .feedback(false)
                .build()
                .unwrap(),
        )
        .unwrap();
    h.recorder.delete(a.trace_id(), a.id()).unwrap();
    h.recorder.flush().unwrap();
    let record = h.only_record();
    assert_eq!(string(&attrs(&record), ASSESSMENT_ID), a.id().to_string());
}

#[test]
fn a_trace_level_assessment_has_the_trace_and_no_span() {
    let h = harness();
    let a = Assessment::feedback("ok", true)
        .on_trace("tr-0fb07256509eb9d22d07f42f7eb9f24d", None)
        .unwrap();
    h.recorder.record(a.clone()).unwrap();
    h.recorder.flush().unwrap();
    let record = h.only_record();
    let tc = record.trace_context().expect("a trace context");
    assert_eq!(tc.trace_id, a.trace_id());
    assert_eq!(tc.span_id, SpanId::INVALID);
    assert_eq!(attrs(&record).get(ON_TRACE), Some(&AnyValue::Boolean(true)));
}

/// With a way to find root spans, an assessment of a whole trace is
/// parented to its trace's root; one of a span stays on its span; a trace
/// whose root is unknown gets no span.
#[test]
fn a_trace_level_assessment_is_parented_to_the_root_span_when_it_is_known() {
    let h = harness();
    let known = TraceId::from_hex("0fb07256509eb9d22d07f42f7eb9f24d").unwrap();
    let root = SpanId::from_hex("00f067aa0ba902b7").unwrap();
    let roots: verdict::RootSpans = std::sync::Arc::new(move |t| (t == known).then_some(root));
    let sink = EventSink::new(h.logs.logger("verdict")).with_root_spans(roots);
    let on_trace = Assessment::feedback("ok", true)
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
        .unwrap();
    let on_span = Assessment::feedback("ok", true)
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", Some("1111111111111111"))
        .unwrap();
    let expectation = Assessment::expectation("expected", "Paris")
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
        .unwrap();
    let unknown = Assessment::feedback("ok", true)
        .on_trace("22222222222222222222222222222222", None)
        .unwrap();
    sink.export(&[on_trace, on_span, expectation, unknown].map(Operation::Log))
        .unwrap();
    let records: Vec<SdkLogRecord> = h
        .exporter
        .get_emitted_logs()
        .unwrap()
        .into_iter()
        .map(|l| l.record)
        .collect();
    let spans: Vec<SpanId> = records
        .iter()
        .map(|r| r.trace_context().unwrap().span_id)
        .collect();
    assert_eq!(
        spans,
        [
            root,
            SpanId::from_hex("1111111111111111").unwrap(),
            root,
            SpanId::INVALID
        ]
    );
    let on_trace: Vec<bool> = records
        .iter()
        .map(|r| attrs(r).get(ON_TRACE) == Some(&AnyValue::Boolean(true)))
        .collect();
    assert_eq!(on_trace, [true, false, true, true]);
}

#[test]
fn the_event_names_the_assessed_span_not_the_current_one() {
    // A judge's verdict for an earlier span, emitted while another span is
    // current on the emitting thread: the event belongs to the earlier one.
    let h = harness();
    let earlier = h
        .tracer
        .in_span("answer", |cx| cx.span().span_context().clone());
    let feedback = Assessment::feedback("judge", 0.9)
        .on_span(&earlier)
        .unwrap();
    let sink = EventSink::new(h.logs.logger("verdict"));
    let current = h.tracer.in_span("judging", |cx| {
        sink.export(&[Operation::Log(feedback.clone())]).unwrap();
        cx.span().span_context().clone()
    });
    assert_ne!(current.span_id(), earlier.span_id());
    let tc = h.only_record().trace_context().unwrap().clone();
    assert_eq!(tc.trace_id, earlier.trace_id());
    assert_eq!(tc.span_id, earlier.span_id());
}

#[test]
fn every_recorded_assessment_is_one_event() {
    let h = harness();
    let mut ids = Vec::new();
    h.tracer.in_span("answer", |_| {
        for i in 0..50 {
            let a = Assessment::feedback("score", i).on_current_span().unwrap();
            ids.push(h.recorder.record(a).unwrap().to_string());
        }
    });
    h.recorder.flush().unwrap();
    let emitted: Vec<String> = h
        .exporter
        .get_emitted_logs()
        .unwrap()
        .iter()
        .map(|log| string(&attrs(&log.record), ASSESSMENT_ID))
        .collect();
    assert_eq!(emitted, ids);
}
