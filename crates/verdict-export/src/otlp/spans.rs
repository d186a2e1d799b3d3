//! The span side of the OTLP exporter: [`SpanExporter`], and the root
//! spans it has seen, by which the assessment events of a whole trace are
//! parented to the trace's root.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::SpanData;
use verdict::SinkError;

use super::{lock, span_export_error};

/// Root spans remembered per exporter: the last this many traces' roots.
/// A chunk of `verdict eval` (4,096 records) or of `verdict push` sends
/// its spans just before its assessments, well within it; about 2 MiB at
/// most.
const MAX_ROOTS: usize = 65_536;

/// The root span of the traces whose roots an exporter has sent, the most
/// recent [`MAX_ROOTS`] of them, shared by its span exporters and its
/// assessment sinks.
#[derive(Debug, Default)]
pub(crate) struct Roots {
    known: Mutex<(HashMap<TraceId, SpanId>, VecDeque<TraceId>)>,
}

impl Roots {
    /// Notes the roots among `spans`: those without a parent.
    pub(crate) fn note<'a>(&self, spans: impl IntoIterator<Item = &'a SpanData>) {
        let mut roots = spans
            .into_iter()
            .filter(|span| span.parent_span_id == SpanId::INVALID)
            .map(|span| (span.span_context.trace_id(), span.span_context.span_id()))
            .peekable();
        if roots.peek().is_none() {
            return;
        }
        let mut known = lock(&self.known);
        let (by_trace, order) = &mut *known;
        for (trace_id, span_id) in roots {
            if by_trace.insert(trace_id, span_id).is_none() {
                order.push_back(trace_id);
            }
            while order.len() > MAX_ROOTS {
                if let Some(oldest) = order.pop_front() {
                    by_trace.remove(&oldest);
                }
            }
        }
    }

    /// The root span of `trace_id`, if this exporter has sent it.
    pub(crate) fn of(&self, trace_id: TraceId) -> Option<SpanId> {
        lock(&self.known).0.get(&trace_id).copied()
    }
}

/// Sends finished spans to the collector over OTLP, with the exporter's
/// protocol, compression, headers and resource: an OpenTelemetry span
/// exporter for your own `SdkTracerProvider`, and a
/// [`SpanSink`](crate::SpanSink). Make one with
/// [`OtlpExporter::span_exporter`](crate::OtlpExporter::span_exporter).
///
/// Every span it sends carries a resource: the tracer provider's, once a
/// provider took the exporter (a library user's own resource wins), else
/// the exporter's ([`OtlpExporterBuilder::resource`](crate::OtlpExporterBuilder::resource),
/// or the one built from `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`).
/// The root spans it sends are remembered by the exporter, so that its
/// assessment sinks parent the events of a whole trace to the trace's
/// root.
pub struct SpanExporter {
    otlp: opentelemetry_otlp::SpanExporter,
    roots: Arc<Roots>,
}

impl fmt::Debug for SpanExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanExporter").finish_non_exhaustive()
    }
}

impl SpanExporter {
    pub(crate) fn new(
        mut otlp: opentelemetry_otlp::SpanExporter,
        resource: &Resource,
        roots: Arc<Roots>,
    ) -> Self {
        opentelemetry_sdk::trace::SpanExporter::set_resource(&mut otlp, resource);
        SpanExporter { otlp, roots }
    }

    /// Posts `spans` as one OTLP request and waits for the answer on the
    /// calling thread (which must not be running an async executor).
    pub(crate) fn post(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        self.roots.note(spans);
        futures_executor::block_on(opentelemetry_sdk::trace::SpanExporter::export(
            &self.otlp,
            spans.to_vec(),
        ))
        .map_err(|e| span_export_error(&e, spans.len()))
    }
}

/// Thin on purpose: the trait's signatures change in 0.34.
impl opentelemetry_sdk::trace::SpanExporter for SpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.roots.note(&batch);
        self.otlp.export(batch).await
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.otlp.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.otlp.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.otlp.set_resource(resource);
    }
}
