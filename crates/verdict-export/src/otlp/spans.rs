//! The span side of the OTLP exporter: [`SpanExporter`], and the root
//! spans it has seen, by which the assessment events of a whole trace are
//! parented to the trace's root.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::SpanData;
use verdict::{Outcome, Outcomes, SinkError};
use verdict_store::StoredSpan;

use super::{Resolved, lock, span_export_error};

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
        self.note_roots(
            spans
                .into_iter()
                .filter(|span| span.parent_span_id == SpanId::INVALID)
                .map(|span| (span.span_context.trace_id(), span.span_context.span_id())),
        );
    }

    /// Notes the roots among stored spans.
    fn note_stored<'a>(&self, spans: impl IntoIterator<Item = &'a StoredSpan>) {
        self.note_roots(
            spans
                .into_iter()
                .filter(|span| span.parent_span_id.is_none())
                .map(|span| (span.trace_id, span.span_id)),
        );
    }

    /// Notes root spans, by trace.
    fn note_roots(&self, roots: impl Iterator<Item = (TraceId, SpanId)>) {
        let mut roots = roots.peekable();
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
/// or the one built from `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`);
/// a span that has its own ([`StoredSpan::resource`], the spans of an OTLP
/// file that `verdict eval` read) goes with its own, in a request of its
/// resource. The root spans it sends are remembered by the exporter, so
/// that its assessment sinks parent the events of a whole trace to the
/// trace's root.
pub struct SpanExporter {
    /// Sends the spans that go with [`own`](Self::own).
    otlp: opentelemetry_otlp::SpanExporter,
    /// The resource of spans without one of their own: the exporter's,
    /// then the tracer provider's once one took this exporter.
    own: Resource,
    roots: Arc<Roots>,
    config: Arc<Resolved>,
    /// Send the spans that carry their own resource: a client per
    /// resource, made on first use, the latest [`OTHER_RESOURCES`] kept.
    /// The lock is held to find or make one, never across a request, so
    /// that a request that hangs holds up neither another resource's nor
    /// a shutdown.
    others: Mutex<VecDeque<(Resource, Arc<opentelemetry_otlp::SpanExporter>)>>,
}

/// The most clients for spans of other resources kept at once: each is an
/// HTTP client of its own; a file's spans come from a few services.
const OTHER_RESOURCES: usize = 8;

impl fmt::Debug for SpanExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanExporter")
            .field("own", &self.own)
            .finish_non_exhaustive()
    }
}

impl SpanExporter {
    pub(crate) fn new(mut otlp: opentelemetry_otlp::SpanExporter, config: Arc<Resolved>) -> Self {
        let own = config.resource.clone();
        opentelemetry_sdk::trace::SpanExporter::set_resource(&mut otlp, &own);
        SpanExporter {
            otlp,
            own,
            roots: config.roots.clone(),
            config,
            others: Mutex::new(VecDeque::new()),
        }
    }

    /// A new exporter with the same settings whose spans carry `resource`
    /// (a second HTTP client: for when this one cannot be changed, as a
    /// post still uses it).
    pub(crate) fn with_resource(&self, resource: &Resource) -> Result<Self, super::OtlpError> {
        let mut fresh = SpanExporter::new(self.config.otlp_span_exporter()?, self.config.clone());
        opentelemetry_sdk::trace::SpanExporter::set_resource(&mut fresh, resource);
        Ok(fresh)
    }

    /// Posts `spans` as one OTLP request and waits for the answer.
    pub(crate) fn post(&self, spans: &[SpanData]) -> Result<(), SinkError> {
        self.roots.note(spans);
        super::wait(opentelemetry_sdk::trace::SpanExporter::export(
            &self.otlp,
            spans.to_vec(),
        ))
        .map_err(|e| span_export_error(&e, spans.len()))
    }

    /// Posts spans as the store keeps them, one request per resource (in
    /// the order each resource first appears), each span with its own
    /// resource or, without one, this exporter's. Every request is tried;
    /// the error carries every span's outcome: those of a failed request
    /// refused or deferred as [`span_export_error`] sorts them.
    pub(crate) fn post_stored(&self, spans: &[StoredSpan]) -> Result<(), SinkError> {
        self.roots.note_stored(spans);
        // Spans by resource, compared as they are: a file has few.
        let mut groups: Vec<(&serde_json::Map<String, serde_json::Value>, Vec<usize>)> = Vec::new();
        for (i, span) in spans.iter().enumerate() {
            match groups.iter_mut().find(|(r, _)| **r == span.resource) {
                Some((_, members)) => members.push(i),
                None => groups.push((&span.resource, vec![i])),
            }
        }
        let mut outcomes = Outcomes::every(Outcome::Delivered, spans.len());
        let mut messages: Vec<String> = Vec::new();
        for (_, members) in groups {
            let first = &spans[members[0]];
            let result =
                crate::spans::span_data(members.iter().map(|&i| &spans[i])).and_then(|data| {
                    self.post_with(first.own_resource().as_ref(), data)
                        .map_err(|e| span_export_error(&e, members.len()))
                });
            let Err(error) = &result else { continue };
            let message = error.to_string();
            if !messages.contains(&message) {
                messages.push(message);
            }
            outcomes.place(&members, Outcomes::of(&result, members.len()));
        }
        if messages.is_empty() {
            return Ok(());
        }
        Err(SinkError::new(messages.join("; ")).with_outcomes(outcomes.as_slice().to_vec()))
    }

    /// Posts spans of one resource: `None` or the exporter's own through
    /// the first client, any other through that resource's.
    fn post_with(&self, resource: Option<&Resource>, spans: Vec<SpanData>) -> OTelSdkResult {
        use opentelemetry_sdk::trace::SpanExporter as _;
        match resource {
            Some(resource) if *resource != self.own => {
                let otlp = self.client_for(resource)?;
                super::wait(otlp.export(spans))
            }
            _ => super::wait(self.otlp.export(spans)),
        }
    }

    /// The client for spans of `resource`: kept, or made and kept in place
    /// of the least recently used.
    fn client_for(
        &self,
        resource: &Resource,
    ) -> Result<Arc<opentelemetry_otlp::SpanExporter>, OTelSdkError> {
        use opentelemetry_sdk::trace::SpanExporter as _;
        let mut others = lock(&self.others);
        if let Some(at) = others.iter().position(|(r, _)| r == resource) {
            let kept = others.remove(at).expect("found just now");
            let client = Arc::clone(&kept.1);
            others.push_back(kept);
            return Ok(client);
        }
        let mut otlp = self
            .config
            .otlp_span_exporter()
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))?;
        otlp.set_resource(resource);
        let client = Arc::new(otlp);
        if others.len() == OTHER_RESOURCES {
            // A request it still makes holds its own reference.
            others.pop_front();
        }
        others.push_back((resource.clone(), Arc::clone(&client)));
        Ok(client)
    }
}

/// Thin on purpose: the trait's signatures change in 0.34.
impl opentelemetry_sdk::trace::SpanExporter for SpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.roots.note(&batch);
        self.otlp.export(batch).await
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        // Their requests were each waited for: nothing is left in them.
        let others: Vec<_> = lock(&self.others).drain(..).collect();
        for (_, otlp) in others {
            let _ = otlp.shutdown_with_timeout(timeout);
        }
        self.otlp.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.otlp.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.own = resource.clone();
        self.otlp.set_resource(resource);
    }
}
