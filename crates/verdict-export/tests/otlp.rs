//! The OTLP sink against the in-process receiver: spans from a real
//! `SdkTracerProvider` and assessment events arrive as real OTLP protobuf
//! requests, correlated by trace and span id.

use std::collections::HashMap;
use std::net::TcpListener;

use opentelemetry::trace::{SpanContext, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_sdk::trace::SdkTracerProvider;
use verdict::{
    Assessment, AssessmentError, AssessmentSource, EVENT_NAME, EXPECTATION_EVENT_NAME, Recorder,
    attributes,
};
use verdict_export::OtlpExporter;
use verdict_export::testing::OtlpReceiver;

/// The attributes of a log record by key.
fn attrs(record: &LogRecord) -> HashMap<String, Value> {
    record
        .attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?.value?)))
        .collect()
}

fn string(v: &str) -> Value {
    Value::StringValue(v.to_owned())
}

#[test]
fn spans_and_assessment_events_arrive_correlated() {
    let receiver = OtlpReceiver::start().unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(receiver.endpoint())
        .build()
        .unwrap();
    let tracer_provider = SdkTracerProvider::builder()
        .with_span_processor(otlp.batch_span_processor().unwrap())
        .build();
    let tracer = tracer_provider.tracer("otlp-test");
    let recorder = Recorder::builder().sink(otlp.sink()).build();

    let mut ids = Vec::new();
    let child: SpanContext = tracer.in_span("request", |_root| {
        tracer.in_span("retrieve", |cx| {
            let on_span = |a: verdict::AssessmentBuilder| a.on_context(&cx).unwrap();
            let assessments = [
                on_span(
                    Assessment::feedback("correct", true)
                        .rationale("matches the reference")
                        .source(AssessmentSource::llm_judge("judge-1")),
                ),
                on_span(Assessment::feedback("relevance", 0.75)),
                on_span(Assessment::feedback("tone", "friendly")),
                on_span(
                    Assessment::expectation("expected_answer", "Paris")
                        .source(AssessmentSource::human("alice")),
                ),
                on_span(Assessment::feedback_error(
                    "faithfulness",
                    AssessmentError::new("TIMEOUT").with_message("judge timed out"),
                )),
            ];
            for a in assessments {
                ids.push(recorder.record(a).unwrap());
            }
            cx.span().span_context().clone()
        })
    });

    recorder.flush().unwrap();
    tracer_provider.force_flush().unwrap();
    let counters = recorder.counters();
    assert_eq!(
        (counters.delivered, counters.failed),
        (5, 0),
        "{counters:?}"
    );

    // Spans.
    let spans = receiver.spans();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let retrieve = spans.iter().find(|s| s.name == "retrieve").unwrap();
    let request = spans.iter().find(|s| s.name == "request").unwrap();
    let trace_id = child.trace_id().to_bytes().to_vec();
    let span_id = child.span_id().to_bytes().to_vec();
    assert_eq!(retrieve.trace_id, trace_id);
    assert_eq!(retrieve.span_id, span_id);
    assert_eq!(retrieve.parent_span_id, request.span_id);
    assert_eq!(request.trace_id, trace_id);

    // One event per assessment, on the assessed span.
    let records = receiver.log_records();
    assert_eq!(records.len(), 5, "{records:?}");
    let mut by_name = HashMap::new();
    for record in &records {
        assert_eq!(record.trace_id, trace_id);
        assert_eq!(record.span_id, span_id);
        assert!(record.time_unix_nano > 0);
        assert!(record.observed_time_unix_nano > 0);
        assert_eq!(record.severity_number, 9, "INFO");
        assert_eq!(record.severity_text, "INFO");
        assert!(record.body.is_none(), "{:?}", record.body);
        let a = attrs(record);
        // Feedback is an evaluation result; an expectation, ground truth,
        // is an event of its own.
        let (event, key) = match a.get(attributes::KIND) {
            Some(Value::StringValue(kind)) if kind == "expectation" => {
                (EXPECTATION_EVENT_NAME, attributes::NAME)
            }
            _ => (EVENT_NAME, attributes::EVALUATION_NAME),
        };
        assert_eq!(record.event_name, event, "{a:?}");
        let Some(Value::StringValue(name)) = a.get(key) else {
            panic!("no name: {a:?}")
        };
        by_name.insert(name.clone(), a);
    }
    assert!(
        receiver
            .log_requests()
            .iter()
            .flat_map(|r| &r.resource_logs)
            .flat_map(|r| &r.scope_logs)
            .all(|s| s.scope.as_ref().is_some_and(|s| s.name == "verdict"))
    );

    let correct = &by_name["correct"];
    assert_eq!(correct[attributes::SCORE_VALUE], Value::DoubleValue(1.0));
    assert_eq!(correct[attributes::SCORE_LABEL], string("pass"));
    assert_eq!(
        correct[attributes::EXPLANATION],
        string("matches the reference")
    );
    assert_eq!(
        correct[attributes::ASSESSMENT_ID],
        string(&ids[0].to_string())
    );
    assert_eq!(correct[attributes::KIND], string("feedback"));
    assert_eq!(correct[attributes::SOURCE_TYPE], string("LLM_JUDGE"));
    assert_eq!(correct[attributes::SOURCE_ID], string("judge-1"));
    assert!(!correct.contains_key(attributes::ERROR_TYPE));

    let relevance = &by_name["relevance"];
    assert_eq!(relevance[attributes::SCORE_VALUE], Value::DoubleValue(0.75));
    assert!(!relevance.contains_key(attributes::SCORE_LABEL));
    assert_eq!(
        relevance[attributes::ASSESSMENT_ID],
        string(&ids[1].to_string())
    );
    assert_eq!(relevance[attributes::SOURCE_TYPE], string("CODE"));

    let tone = &by_name["tone"];
    assert_eq!(tone[attributes::SCORE_LABEL], string("friendly"));
    assert!(!tone.contains_key(attributes::SCORE_VALUE));
    assert_eq!(tone[attributes::ASSESSMENT_ID], string(&ids[2].to_string()));

    let expected = &by_name["expected_answer"];
    assert_eq!(expected[attributes::KIND], string("expectation"));
    assert!(
        expected.keys().all(|k| !k.starts_with("gen_ai.")),
        "{expected:?}"
    );
    assert_eq!(expected[attributes::VALUE_JSON], string("\"Paris\""));
    assert_eq!(expected[attributes::SOURCE_TYPE], string("HUMAN"));
    assert_eq!(expected[attributes::SOURCE_ID], string("alice"));
    assert_eq!(
        expected[attributes::ASSESSMENT_ID],
        string(&ids[3].to_string())
    );
    assert!(!expected.contains_key(attributes::SCORE_VALUE));

    let faithfulness = &by_name["faithfulness"];
    assert_eq!(faithfulness[attributes::ERROR_TYPE], string("TIMEOUT"));
    assert_eq!(
        faithfulness[attributes::ERROR_MESSAGE],
        string("judge timed out")
    );
    assert_eq!(faithfulness[attributes::KIND], string("feedback"));
    assert_eq!(
        faithfulness[attributes::ASSESSMENT_ID],
        string(&ids[4].to_string())
    );
    assert!(!faithfulness.contains_key(attributes::SCORE_VALUE));

    // Protobuf over the signal paths, nothing else.
    for request in receiver.requests() {
        assert!(
            request.path == "/v1/logs" || request.path == "/v1/traces",
            "{request:?}"
        );
        assert_eq!(
            request.header("content-type"),
            Some("application/x-protobuf")
        );
    }

    recorder.shutdown().unwrap();
    otlp.shutdown().unwrap();
    tracer_provider.shutdown().unwrap();
}

#[test]
fn an_assessment_recorded_after_its_span_ended_lands_on_it() {
    let receiver = OtlpReceiver::start().unwrap();
    let otlp = OtlpExporter::builder()
        .traces_endpoint(receiver.traces_endpoint())
        .logs_endpoint(receiver.logs_endpoint())
        .header("x-api-key", "from-code")
        .build()
        .unwrap();
    let recorder = Recorder::builder().sink(otlp.sink()).build();

    // A human review hours later: only the ids are known.
    let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
    let span = "00f067aa0ba902b7";
    recorder
        .record(
            Assessment::feedback("approved", false)
                .source(AssessmentSource::human("bob"))
                .on_trace(trace, Some(span))
                .unwrap(),
        )
        .unwrap();
    recorder.flush().unwrap();

    let records = receiver.log_records();
    assert_eq!(records.len(), 1);
    assert_eq!(hex(&records[0].trace_id), trace);
    assert_eq!(hex(&records[0].span_id), span);
    let a = attrs(&records[0]);
    assert_eq!(a[attributes::SCORE_LABEL], string("fail"));
    assert_eq!(a[attributes::SCORE_VALUE], Value::DoubleValue(0.0));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("x-api-key"), Some("from-code"));
    recorder.shutdown().unwrap();
}

#[test]
fn a_receiver_that_is_down_fails_the_batch() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let otlp = OtlpExporter::builder()
        .endpoint(format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let recorder = Recorder::builder().sink(otlp.sink()).build();
    recorder
        .record(
            Assessment::feedback("ok", true)
                .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
                .unwrap(),
        )
        .unwrap();
    assert!(recorder.flush().is_err());
    assert_eq!(recorder.counters().failed, 1);
}

/// A batch larger than one post: every post's outcome counts. The
/// collector refuses the first post and takes the others; the error
/// says of each operation what became of it: the first post's refused,
/// the others delivered.
#[test]
fn every_post_of_a_large_batch_is_counted() {
    use verdict::AssessmentSink as _;
    use verdict_export::testing::HttpStub;
    let posts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = posts.clone();
    let stub = HttpStub::builder()
        .keep_bodies(false)
        .content_type("application/x-protobuf")
        .start(move |request| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match (request.path.as_str(), n) {
                ("/v1/logs", 0) => (400, b"refused".to_vec()),
                _ => (200, Vec::new()),
            }
        })
        .unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(stub.url())
        .build()
        .unwrap();
    let sink = otlp.sink();
    let batch: Vec<verdict::Operation> = (0..9000u128)
        .map(|i| {
            verdict::Operation::Log(
                Assessment::feedback("ok", true)
                    .on_trace(&format!("{:032x}", i + 1), None)
                    .unwrap(),
            )
        })
        .collect();
    let error = sink.export(&batch).unwrap_err();
    let outcomes = verdict::Outcomes::of_error(&error, batch.len());
    assert!(outcomes.itemized(), "{error}");
    assert_eq!(
        outcomes.refused_at(),
        (0..4096).collect::<Vec<_>>(),
        "{error}"
    );
    assert_eq!(outcomes.delivered(), 9000 - 4096, "{error}");
    assert!(error.to_string().contains("refused"), "{error}");
    assert_eq!(
        posts.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "4,096 + 4,096 + 808"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Through a `TraceAssembler` over `OtlpExporter::trace_sink`: an
/// assessment recorded while its trace is open is held, then posted right
/// after the trace's spans, correlated with its span; the spans carry the
/// tracer provider's resource.
#[test]
fn an_assembler_posts_a_trace_then_the_events_recorded_while_it_was_open() {
    use opentelemetry::trace::TraceContextExt as _;
    use verdict_export::TraceAssembler;

    let receiver = OtlpReceiver::start().unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(receiver.endpoint())
        .build()
        .unwrap();
    let (spans, assessments) = TraceAssembler::builder(otlp.trace_sink().unwrap()).build();
    let provider = SdkTracerProvider::builder()
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("assembled-service")
                .build(),
        )
        .with_span_processor(spans)
        .build();
    let recorder = Recorder::builder().processor(assessments).build();
    let tracer = provider.tracer("otlp-test");
    let span: SpanContext = tracer.in_span("request", |cx| {
        recorder
            .record(Assessment::feedback("ok", true).on_current_span().unwrap())
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while recorder.counters().held < 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "not held: {:?}",
                recorder.counters()
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        cx.span().span_context().clone()
    });
    assert!(receiver.requests().is_empty(), "held until the trace ships");
    provider.force_flush().unwrap();
    let paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v1/traces", "/v1/logs"], "spans, then the events");
    recorder.flush().unwrap();
    let c = recorder.counters();
    assert_eq!((c.delivered, c.held, c.failed), (1, 0, 0), "{c:?}");

    let received = receiver.spans();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].span_id, span.span_id().to_bytes().to_vec());
    let records = receiver.log_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].trace_id, span.trace_id().to_bytes().to_vec());
    assert_eq!(records[0].span_id, span.span_id().to_bytes().to_vec());
    let resource = receiver.trace_requests()[0].resource_spans[0]
        .resource
        .clone()
        .unwrap();
    let service = resource
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value);
    assert_eq!(service, Some(string("assembled-service")));
    provider.shutdown().unwrap();
    recorder.shutdown().unwrap();
}

/// An assessment of a whole trace is parented to the trace's root span
/// when the exporter sent that root (as `verdict eval` and `verdict push`
/// send a trace's spans before its assessments), and to no span when it
/// did not; both carry `verdict.assessment.on_trace`.
#[test]
fn trace_level_assessments_are_parented_to_the_root_span_the_exporter_sent() {
    use opentelemetry_sdk::trace::InMemorySpanExporter;
    use verdict::AssessmentSink as _;
    use verdict_export::SpanSink as _;

    let receiver = OtlpReceiver::start().unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(receiver.endpoint())
        .build()
        .unwrap();
    // A finished trace of two spans, sent child first.
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(memory.clone())
        .build();
    let tracer = provider.tracer("otlp-test");
    let (root, child) = tracer.in_span("request", |root| {
        let child = tracer.in_span("retrieve", |cx| cx.span().span_context().clone());
        (root.span().span_context().clone(), child)
    });
    let spans = memory.get_finished_spans().unwrap();
    assert_eq!(spans[0].span_context.span_id(), child.span_id());
    otlp.span_exporter().unwrap().export_spans(&spans).unwrap();

    let trace = format!("{:032x}", root.trace_id());
    let unsent = "0fb07256509eb9d22d07f42f7eb9f24d";
    let operations = [
        Assessment::feedback("whole_trace", true).on_trace(&trace, None),
        Assessment::expectation("expected", "Paris").on_trace(&trace, None),
        Assessment::feedback("on_child", true).on_span(&child),
        Assessment::feedback("unsent_trace", true).on_trace(unsent, None),
    ]
    .map(|a| verdict::Operation::Log(a.unwrap()));
    otlp.sink().export(&operations).unwrap();

    let records = receiver.log_records();
    let by_name = |name: &str| {
        records
            .iter()
            .find(|r| {
                let a = attrs(r);
                a.get(attributes::EVALUATION_NAME) == Some(&string(name))
                    || a.get(attributes::NAME) == Some(&string(name))
            })
            .unwrap_or_else(|| panic!("no event for {name}"))
    };
    let on_trace =
        |r: &LogRecord| attrs(r).get(attributes::ON_TRACE) == Some(&Value::BoolValue(true));
    let root_id = root.span_id().to_bytes().to_vec();
    for name in ["whole_trace", "expected"] {
        let record = by_name(name);
        assert_eq!(record.span_id, root_id, "{name}");
        assert!(on_trace(record), "{name}");
    }
    let record = by_name("on_child");
    assert_eq!(record.span_id, child.span_id().to_bytes().to_vec());
    assert!(!on_trace(record));
    let record = by_name("unsent_trace");
    // No span: the invalid (all-zero) id, as the SDK encodes it.
    assert!(record.span_id.iter().all(|b| *b == 0), "{record:?}");
    assert_eq!(hex(&record.trace_id), unsent);
    assert!(on_trace(record));

    // The roots are the exporter's, whichever of its span exporters sent
    // them: a second sink of the same exporter knows them too, another
    // exporter does not.
    let again = [verdict::Operation::Log(
        Assessment::feedback("again", true)
            .on_trace(&trace, None)
            .unwrap(),
    )];
    otlp.sink().export(&again).unwrap();
    let other = OtlpExporter::builder()
        .endpoint(receiver.endpoint())
        .build()
        .unwrap();
    let elsewhere = [verdict::Operation::Log(
        Assessment::feedback("elsewhere", true)
            .on_trace(&trace, None)
            .unwrap(),
    )];
    other.sink().export(&elsewhere).unwrap();
    let records = receiver.log_records();
    let span_of = |name: &str| {
        records
            .iter()
            .find(|r| attrs(r).get(attributes::EVALUATION_NAME) == Some(&string(name)))
            .unwrap()
            .span_id
            .clone()
    };
    assert_eq!(span_of("again"), root_id);
    assert!(span_of("elsewhere").iter().all(|b| *b == 0));
    provider.shutdown().unwrap();
}
