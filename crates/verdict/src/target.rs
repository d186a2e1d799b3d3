//! What an assessment is attached to: a span, or a whole trace.

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceId};

use crate::error::{Error, Result};
use crate::ids::{parse_span_id, parse_trace_id};

/// The span, or the whole trace, an assessment judges.
///
/// ```
/// use verdict::Target;
///
/// let span = Target::parse("tr-0fb07256509eb9d22d07f42f7eb9f24d", Some("71492b10072d70de"))?;
/// assert!(span.span_id().is_some());
/// let trace = Target::parse("0fb07256509eb9d22d07f42f7eb9f24d", None)?;
/// assert_eq!(trace.trace_id(), span.trace_id());
/// # Ok::<(), verdict::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    trace_id: TraceId,
    span_id: Option<SpanId>,
}

impl Target {
    /// A whole trace. The invalid (all-zero) id is refused.
    pub fn trace(trace_id: TraceId) -> Result<Self> {
        if trace_id == TraceId::INVALID {
            return Err(Error::InvalidId {
                kind: "trace id",
                value: "00000000000000000000000000000000".into(),
                expected: "a valid (non-zero) OpenTelemetry trace id",
            });
        }
        Ok(Target {
            trace_id,
            span_id: None,
        })
    }

    /// One span of a trace. Invalid (all-zero) ids are refused.
    pub fn span(trace_id: TraceId, span_id: SpanId) -> Result<Self> {
        if span_id == SpanId::INVALID {
            return Err(Error::InvalidId {
                kind: "span id",
                value: "0000000000000000".into(),
                expected: "a valid (non-zero) OpenTelemetry span id",
            });
        }
        Ok(Target {
            span_id: Some(span_id),
            ..Target::trace(trace_id)?
        })
    }

    /// The span a [`SpanContext`] names.
    pub fn from_span_context(cx: &SpanContext) -> Result<Self> {
        if !cx.is_valid() {
            return Err(Error::NoActiveSpan {
                hint: "the span context is invalid (a non-recording or no-op span); attach to \
                       a span created by an OpenTelemetry tracer",
            });
        }
        Target::span(cx.trace_id(), cx.span_id())
    }

    /// The active span of an OpenTelemetry [`Context`].
    pub fn from_context(cx: &Context) -> Result<Self> {
        span_of(cx, NO_OTEL_SPAN)
    }

    /// The active span of the current OpenTelemetry [`Context`].
    pub fn current() -> Result<Self> {
        Context::map_current(|cx| span_of(cx, NO_OTEL_SPAN))
    }

    /// The OpenTelemetry span behind the current `tracing` span, through
    /// `tracing-opentelemetry`.
    #[cfg(feature = "tracing")]
    pub fn current_tracing_span() -> Result<Self> {
        use tracing_opentelemetry::OpenTelemetrySpanExt;

        let span = tracing::Span::current();
        if span.is_none() {
            return Err(Error::NoActiveSpan {
                hint: "there is no current `tracing` span; call this inside a span \
                       (`#[tracing::instrument]` or `span.in_scope(..)`)",
            });
        }
        span_of(&span.context(), NO_TRACING_OTEL_SPAN)
    }

    /// Ids as people paste them: a trace id as 32 hex or `tr-<32 hex>`, and
    /// an optional 16-hex span id.
    pub fn parse(trace_id: &str, span_id: Option<&str>) -> Result<Self> {
        let trace_id = parse_trace_id(trace_id)?;
        match span_id {
            None => Target::trace(trace_id),
            Some(span_id) => Target::span(trace_id, parse_span_id(span_id)?),
        }
    }

    /// The trace.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span, or `None` for the whole trace.
    pub fn span_id(&self) -> Option<SpanId> {
        self.span_id
    }
}

const NO_OTEL_SPAN: &str = concat!(
    "the OpenTelemetry context has no valid span; call this inside a span made current by a \
     tracer (e.g. `tracer.in_span(..)`), or name the span explicitly; ",
    crate::versions::mismatch_hint!()
);

#[cfg(feature = "tracing")]
const NO_TRACING_OTEL_SPAN: &str = concat!(
    "the current `tracing` span has no OpenTelemetry span context; install \
     `tracing_opentelemetry::layer()` with a tracer in the subscriber; ",
    crate::versions::mismatch_hint!()
);

fn span_of(cx: &Context, hint: &'static str) -> Result<Target> {
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return Err(Error::NoActiveSpan { hint });
    }
    Target::span(sc.trace_id(), sc.span_id())
}
