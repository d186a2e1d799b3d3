//! Attaching assessments to spans and traces: an explicit `SpanContext`, the
//! current OpenTelemetry `Context`, the current `tracing` span, and ids as
//! people paste them — with real SDK spans, and errors (never panics) for
//! everything that cannot be attached.

use opentelemetry::Context;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    TracerProvider as _,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider};
use verdict::{Assessment, Error, Target};

const TRACE_HEX: &str = "0fb07256509eb9d22d07f42f7eb9f24d";
const SPAN_HEX: &str = "71492b10072d70de";

fn tracer() -> (SdkTracerProvider, SdkTracer, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("verdict-tests");
    (provider, tracer, exporter)
}

fn hint(err: &Error) -> &'static str {
    match err {
        Error::NoActiveSpan { hint } => hint,
        other => panic!("expected Error::NoActiveSpan, got {other:?}"),
    }
}

// --- (a) an explicit SpanContext ---------------------------------------------

#[test]
fn explicit_span_context_of_a_real_span() {
    let (_provider, tracer, _) = tracer();
    let mut span = tracer.start("answer");
    let sc = span.span_context().clone();
    assert!(sc.is_valid());

    let feedback = Assessment::feedback("helpful", true).on_span(&sc).unwrap();
    assert_eq!(feedback.trace_id(), sc.trace_id());
    assert_eq!(feedback.span_id(), Some(sc.span_id()));
    assert_eq!(
        feedback.target(),
        Target::from_span_context(&sc).unwrap(),
        "the builder and Target agree"
    );
    span.end();

    // The span context stays usable after the span ended: a judge's verdict
    // arriving later attaches to the same ids.
    let late = Assessment::feedback("judge", 0.5).on_span(&sc).unwrap();
    assert_eq!(late.target(), feedback.target());
}

#[test]
fn explicit_invalid_span_context_is_refused() {
    let err = Assessment::feedback("helpful", true)
        .on_span(&SpanContext::empty_context())
        .unwrap_err();
    assert!(hint(&err).contains("span context is invalid"), "{err}");
    assert!(err.to_string().starts_with("no active span"), "{err}");
}

#[test]
fn remote_span_context_from_propagation() {
    let trace_id = TraceId::from_hex(TRACE_HEX).unwrap();
    let span_id = SpanId::from_hex(SPAN_HEX).unwrap();
    let remote = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let cx = Context::new().with_remote_span_context(remote);
    let feedback = Assessment::feedback("helpful", true)
        .on_context(&cx)
        .unwrap();
    assert_eq!(feedback.trace_id(), trace_id);
    assert_eq!(feedback.span_id(), Some(span_id));
}

// --- (b) the current OpenTelemetry Context -------------------------------------

#[test]
fn current_context_inside_in_span() {
    let (_provider, tracer, exporter) = tracer();
    let (assessment, expected) = tracer.in_span("answer", |cx| {
        let expected = cx.span().span_context().clone();
        let a = Assessment::feedback("helpful", true)
            .on_current_span()
            .unwrap();
        let via_context = Assessment::feedback("helpful", true)
            .on_context(&cx)
            .unwrap();
        assert_eq!(a.target(), via_context.target());
        assert_eq!(Target::current().unwrap(), a.target());
        (a, expected)
    });
    assert_eq!(assessment.trace_id(), expected.trace_id());
    assert_eq!(assessment.span_id(), Some(expected.span_id()));

    let spans = exporter.get_finished_spans().unwrap();
    let exported = spans.iter().find(|s| s.name == "answer").unwrap();
    assert_eq!(exported.span_context.trace_id(), assessment.trace_id());
    assert_eq!(Some(exported.span_context.span_id()), assessment.span_id());
}

#[test]
fn nested_spans_attach_to_the_innermost() {
    let (_provider, tracer, _) = tracer();
    tracer.in_span("parent", |parent| {
        let parent_sc = parent.span().span_context().clone();
        let child_sc = tracer.in_span("child", |child| {
            let child_sc = child.span().span_context().clone();
            let a = Assessment::feedback("f", 1).on_current_span().unwrap();
            assert_eq!(a.span_id(), Some(child_sc.span_id()));
            assert_eq!(a.trace_id(), parent_sc.trace_id());
            child_sc
        });
        assert_ne!(child_sc.span_id(), parent_sc.span_id());
        // Back in the parent once the child's scope ends.
        let a = Assessment::feedback("f", 1).on_current_span().unwrap();
        assert_eq!(a.span_id(), Some(parent_sc.span_id()));
    });
}

#[test]
fn no_current_otel_span_is_an_error_that_says_what_to_do() {
    let err = Assessment::feedback("helpful", true)
        .on_current_span()
        .unwrap_err();
    let hint = hint(&err);
    assert!(hint.contains("in_span"), "{err}");
    assert!(hint.contains("name the span explicitly"), "{err}");

    let err = Target::current().unwrap_err();
    assert!(matches!(err, Error::NoActiveSpan { .. }), "{err}");

    let err = Assessment::feedback("helpful", true)
        .on_context(&Context::new())
        .unwrap_err();
    assert!(matches!(err, Error::NoActiveSpan { .. }), "{err}");
}

#[test]
fn after_in_span_returns_there_is_no_current_span_again() {
    let (_provider, tracer, _) = tracer();
    tracer.in_span("answer", |_| {
        Assessment::feedback("f", true).on_current_span().unwrap();
    });
    assert!(matches!(
        Assessment::feedback("f", true).on_current_span(),
        Err(Error::NoActiveSpan { .. })
    ));
}

// --- (c) the current `tracing` span --------------------------------------------

#[cfg(feature = "tracing")]
mod tracing_span {
    use super::*;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn ids_equal_the_otel_span_behind_the_tracing_span() {
        let (provider, tracer, exporter) = tracer();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));

        let (outer, inner, outer_cx, inner_cx) =
            tracing::subscriber::with_default(subscriber, || {
                let span = tracing::info_span!("answer");
                let _entered = span.enter();
                let outer = Assessment::feedback("helpful", true)
                    .on_tracing_span()
                    .unwrap();
                let outer_cx = span.context().span().span_context().clone();

                let child = tracing::info_span!("retrieve");
                let (inner, inner_cx) = child.in_scope(|| {
                    let a = Assessment::expectation("expected_response", "Paris")
                        .on_tracing_span()
                        .unwrap();
                    (a, child.context().span().span_context().clone())
                });
                (outer, inner, outer_cx, inner_cx)
            });

        assert!(outer_cx.is_valid());
        assert_eq!(outer.trace_id(), outer_cx.trace_id());
        assert_eq!(outer.span_id(), Some(outer_cx.span_id()));
        assert_eq!(inner.trace_id(), outer_cx.trace_id(), "same trace");
        assert_eq!(inner.span_id(), Some(inner_cx.span_id()));
        assert_ne!(inner.span_id(), outer.span_id());

        provider.force_flush().unwrap();
        let spans = exporter.get_finished_spans().unwrap();
        let exported = |name: &str| {
            spans
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("span {name} not exported: {spans:?}"))
                .span_context
                .clone()
        };
        let answer = exported("answer");
        let retrieve = exported("retrieve");
        assert_eq!(outer.trace_id(), answer.trace_id());
        assert_eq!(outer.span_id(), Some(answer.span_id()));
        assert_eq!(inner.trace_id(), retrieve.trace_id());
        assert_eq!(inner.span_id(), Some(retrieve.span_id()));
    }

    #[test]
    fn tracing_span_and_current_otel_context_agree() {
        // tracing-opentelemetry activates the OpenTelemetry context of an
        // entered span, so both ways in name the same span.
        let (_provider, tracer, _) = tracer();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("answer").in_scope(|| {
                let a = Target::current_tracing_span().unwrap();
                let b = Target::current().unwrap();
                assert_eq!(a, b);
            });
        });
    }

    #[test]
    fn no_tracing_span_is_an_error_that_says_what_to_do() {
        let (_provider, tracer, _) = tracer();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        let err = tracing::subscriber::with_default(subscriber, || {
            Assessment::feedback("helpful", true)
                .on_tracing_span()
                .unwrap_err()
        });
        let hint = hint(&err);
        assert!(hint.contains("no current `tracing` span"), "{err}");
        assert!(hint.contains("tracing::instrument"), "{err}");

        // No subscriber at all: there is no span either.
        let err = Assessment::feedback("helpful", true)
            .on_tracing_span()
            .unwrap_err();
        assert!(matches!(err, Error::NoActiveSpan { .. }), "{err}");
    }

    #[test]
    fn tracing_span_without_the_opentelemetry_layer_is_a_clear_error() {
        let subscriber = tracing_subscriber::registry();
        let err = tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("answer").in_scope(|| {
                assert!(!tracing::Span::current().is_none(), "the span exists");
                Assessment::feedback("helpful", true)
                    .on_tracing_span()
                    .unwrap_err()
            })
        });
        let hint = hint(&err);
        assert!(hint.contains("tracing_opentelemetry::layer()"), "{err}");
        assert!(hint.contains("no OpenTelemetry span context"), "{err}");
    }
}

// --- (d) ids as people paste them -------------------------------------------------

#[test]
fn ids_in_hex_and_mlflow_form_with_and_without_span() {
    let trace_id = TraceId::from_hex(TRACE_HEX).unwrap();
    let span_id = SpanId::from_hex(SPAN_HEX).unwrap();
    let mlflow = format!("tr-{TRACE_HEX}");

    for trace in [TRACE_HEX, mlflow.as_str(), &TRACE_HEX.to_uppercase()] {
        let whole = Assessment::feedback("f", true)
            .on_trace(trace, None)
            .unwrap();
        assert_eq!(whole.trace_id(), trace_id, "{trace}");
        assert_eq!(whole.span_id(), None, "{trace}");

        let one = Assessment::feedback("f", true)
            .on_trace(trace, Some(SPAN_HEX))
            .unwrap();
        assert_eq!(one.trace_id(), trace_id, "{trace}");
        assert_eq!(one.span_id(), Some(span_id), "{trace}");

        assert_eq!(Target::parse(trace, Some(SPAN_HEX)).unwrap(), one.target());
        assert_eq!(Target::parse(trace, None).unwrap(), whole.target());
    }
    assert_eq!(
        Target::span(trace_id, span_id).unwrap(),
        Target::parse(&mlflow, Some(SPAN_HEX)).unwrap()
    );
    assert_eq!(verdict::mlflow_trace_id(trace_id), mlflow);
}

#[test]
fn malformed_ids_are_errors_not_panics() {
    let bad_traces = [
        "",
        "tr-",
        "tr",
        &TRACE_HEX[..31],
        &format!("{TRACE_HEX}0"),
        &format!("tr-tr-{TRACE_HEX}"),
        &format!("TR-{TRACE_HEX}"),
        &format!(" {TRACE_HEX}"),
        &format!("0x{}", &TRACE_HEX[2..]),
        "00000000000000000000000000000000",
        "tr-00000000000000000000000000000000",
        "0fb07256509eb9d22d07f42f7eb9f2g4",
        // 32 bytes, but multi-byte characters: must not be sliced mid-char.
        "0fb07256509eb9d22d07f42f7eb9f2é",
        "éééééééééééééééé",
        &"é".repeat(10_000),
    ];
    for bad in bad_traces {
        let err = Assessment::feedback("f", true)
            .on_trace(bad, None)
            .unwrap_err();
        match &err {
            Error::InvalidId { kind, expected, .. } => {
                assert_eq!(*kind, "trace id");
                assert!(expected.contains("32 hex digits"), "{err}");
            }
            other => panic!("{bad:?}: expected InvalidId, got {other:?}"),
        }
        assert!(err.to_string().len() < 400, "message is cut: {err}");
    }

    let bad_spans = [
        "",
        &SPAN_HEX[..15],
        &format!("{SPAN_HEX}0"),
        "0000000000000000",
        "71492b10072d70dz",
        "71492b10072d70é",
        "tr-71492b10072d70de",
    ];
    for bad in bad_spans {
        let err = Assessment::feedback("f", true)
            .on_trace(TRACE_HEX, Some(bad))
            .unwrap_err();
        match &err {
            Error::InvalidId { kind, expected, .. } => {
                assert_eq!(*kind, "span id");
                assert!(expected.contains("16 hex digits"), "{err}");
            }
            other => panic!("{bad:?}: expected InvalidId, got {other:?}"),
        }
    }

    assert!(matches!(
        Target::trace(TraceId::INVALID),
        Err(Error::InvalidId {
            kind: "trace id",
            ..
        })
    ));
    assert!(matches!(
        Target::span(TraceId::from_hex(TRACE_HEX).unwrap(), SpanId::INVALID),
        Err(Error::InvalidId {
            kind: "span id",
            ..
        })
    ));
}

#[test]
fn bad_values_and_names_are_errors_not_panics() {
    let target = Target::parse(TRACE_HEX, Some(SPAN_HEX)).unwrap();

    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = Assessment::feedback("score", bad).on(target).unwrap_err();
        assert!(matches!(err, Error::InvalidValue { .. }), "{err:?}");
        assert!(err.to_string().contains("finite"), "{err}");
    }

    let err = Assessment::feedback("", true).on(target).unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }), "{err:?}");
    assert!(err.to_string().contains("must not be empty"), "{err}");

    let err = Assessment::feedback("feedback.x", true)
        .on(target)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }), "{err:?}");

    let err = Assessment::feedback("x".repeat(251), true)
        .on(target)
        .unwrap_err();
    assert!(err.to_string().contains("at most 250"), "{err}");
    assert!(
        Assessment::feedback("x".repeat(250), true)
            .on(target)
            .is_ok()
    );

    // An invalid name is reported even when the target is also missing: the
    // caller gets an error either way, never a panic.
    assert!(
        Assessment::feedback("", f64::NAN)
            .on_current_span()
            .is_err()
    );
    assert!(
        Assessment::feedback("", f64::NAN)
            .on_trace("nope", None)
            .is_err()
    );
}

#[test]
fn an_empty_source_id_is_refused_rather_than_made_default() {
    let trace = "0af7651916cd43dd8448eb211c80319c";
    for source in [
        verdict::AssessmentSource::human(""),
        verdict::AssessmentSource::llm_judge(String::new()),
        verdict::AssessmentSource::code_named(""),
    ] {
        let error = verdict::Assessment::feedback("helpful", true)
            .source(source.clone())
            .on_trace(trace, None)
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("source_id") && message.contains("names nobody"),
            "{source:?}: {message}"
        );
    }
    // Decoded from MLflow JSON, the same rule.
    let good = verdict::Assessment::feedback("helpful", true)
        .source(verdict::AssessmentSource::human("ana"))
        .on_trace(trace, None)
        .unwrap()
        .to_json();
    let json = good.replace(r#""source_id":"ana""#, r#""source_id":"""#);
    assert_ne!(json, good, "{good}");
    let error = verdict::Assessment::from_json(&json).unwrap_err();
    assert!(error.to_string().contains("source_id"), "{error}");
    // Left out, the source is the default one.
    let feedback = verdict::Assessment::feedback("helpful", true)
        .on_trace(trace, None)
        .unwrap();
    assert_eq!(feedback.source().source_id(), "default");
}
