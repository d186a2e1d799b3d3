//! Borrowed views of a batch's traces, laid out once for the scorers that
//! read them: every attribute, event, span and trace of the batch in one
//! array each, pointing at the owned text, with no copy of it.
//!
//! The host lays them out from its records' [`OwnedTrace`]s
//! ([`TraceViews::of`]); a worker process from the bytes of its request,
//! with the same builder ([`TraceLayout`]). Nothing here runs for a batch
//! whose scorers do not read traces.

use verdict_plugin::{NamedValue, Span, SpanEvent, SpanHead, Trace, Value};

use crate::record::{OwnedRecord, OwnedSpan, OwnedTrace};

/// The traces of a batch, one per record (or none), as scorers read them.
///
/// ```
/// use verdict_scorer::{OwnedRecord, OwnedSpan, OwnedTrace, TraceViews};
///
/// let span = OwnedSpan { name: "agent".into(), ..OwnedSpan::default() };
/// let records = [
///     OwnedRecord::new("q", "a").with_trace(OwnedTrace { spans: vec![span] }),
///     OwnedRecord::new("q", "a"),
/// ];
/// let views = TraceViews::of(&records);
/// assert_eq!(views.traces()[0].unwrap().spans()[0].name(), "agent");
/// assert!(views.traces()[1].is_none());
/// ```
pub struct TraceViews<'r> {
    // The views below point into these arrays' heap buffers, which never
    // move or change once laid out: the arrays are only read afterwards.
    _span_attributes: Vec<NamedValue<'r>>,
    _event_attributes: Vec<NamedValue<'r>>,
    _events: Vec<SpanEvent<'r>>,
    _spans: Vec<Span<'r>>,
    _traces: Vec<Trace<'r>>,
    /// One per record: null, or one of the traces.
    per_record: Vec<*const Trace<'r>>,
}

// SAFETY: shared borrows of owned text, and pointers into the struct's
// own arrays, only read.
unsafe impl Send for TraceViews<'_> {}
// SAFETY: as above.
unsafe impl Sync for TraceViews<'_> {}

impl<'r> TraceViews<'r> {
    /// The views of `records`' traces, one per record.
    pub fn of(records: &'r [OwnedRecord]) -> Self {
        let mut layout = TraceLayout::default();
        for record in records {
            match &record.trace {
                Some(trace) => layout.owned(trace),
                None => layout.no_trace(),
            }
        }
        layout.finish()
    }

    /// One per record: its trace, or `None`.
    pub fn traces(&self) -> &[Option<&Trace<'_>>] {
        // SAFETY: `Option<&T>` has the layout of a nullable `*const T`;
        // each pointer is null or points at one of `_traces`, which lives
        // (unmoved) as long as `self`.
        unsafe {
            std::slice::from_raw_parts(
                self.per_record.as_ptr().cast::<Option<&Trace<'_>>>(),
                self.per_record.len(),
            )
        }
    }
}

/// What a span is before its attributes and events are laid out.
struct SpanParts<'r> {
    head: SpanHead<'r>,
    attributes: (usize, usize),
    events: (usize, usize),
}

/// Lays out traces one at a time, then all views at once
/// ([`finish`](Self::finish)): a record's trace is its spans (each after
/// its attributes and its events, each event after its attributes), then
/// [`trace`](Self::trace); a record without one is
/// [`no_trace`](Self::no_trace).
#[derive(Default)]
pub(crate) struct TraceLayout<'r> {
    span_attributes: Vec<NamedValue<'r>>,
    event_attributes: Vec<NamedValue<'r>>,
    events: Vec<(&'r str, u64, (usize, usize))>,
    spans: Vec<SpanParts<'r>>,
    traces: Vec<(usize, usize)>,
    per_record: Vec<Option<usize>>,
    marks: Marks,
}

/// Where the attributes, events and spans not yet claimed start.
#[derive(Default)]
struct Marks {
    span_attributes: usize,
    event_attributes: usize,
    events: usize,
    spans: usize,
}

impl<'r> TraceLayout<'r> {
    /// An attribute of the span being laid out.
    pub(crate) fn span_attribute(&mut self, key: &'r str, value: Value<'r>) {
        self.span_attributes.push(NamedValue::new(key, value));
    }

    /// An attribute of the event being laid out.
    pub(crate) fn event_attribute(&mut self, key: &'r str, value: Value<'r>) {
        self.event_attributes.push(NamedValue::new(key, value));
    }

    /// An event of the span being laid out, with the event attributes
    /// given since the last event.
    pub(crate) fn event(&mut self, name: &'r str, time_unix_nano: u64) {
        let end = self.event_attributes.len();
        let start = std::mem::replace(&mut self.marks.event_attributes, end);
        self.events.push((name, time_unix_nano, (start, end)));
    }

    /// A span, with the span attributes and events given since the last
    /// span.
    pub(crate) fn span(&mut self, head: SpanHead<'r>) {
        let end = self.span_attributes.len();
        let attributes = (std::mem::replace(&mut self.marks.span_attributes, end), end);
        let end = self.events.len();
        let events = (std::mem::replace(&mut self.marks.events, end), end);
        self.spans.push(SpanParts {
            head,
            attributes,
            events,
        });
    }

    /// The next record's trace: the spans given since the last trace.
    pub(crate) fn trace(&mut self) {
        let end = self.spans.len();
        let start = std::mem::replace(&mut self.marks.spans, end);
        self.per_record.push(Some(self.traces.len()));
        self.traces.push((start, end));
    }

    /// The next record has no trace.
    pub(crate) fn no_trace(&mut self) {
        self.per_record.push(None);
    }

    /// The next record's trace, from an owned one.
    fn owned(&mut self, trace: &'r OwnedTrace) {
        for span in &trace.spans {
            for (key, value) in &span.attributes {
                self.span_attribute(key, value.view());
            }
            for event in &span.events {
                for (key, value) in &event.attributes {
                    self.event_attribute(key, value.view());
                }
                self.event(&event.name, event.time_unix_nano);
            }
            self.span(head(span));
        }
        self.trace();
    }

    /// The views of every trace laid out.
    pub(crate) fn finish(self) -> TraceViews<'r> {
        // Each array is complete before views point into it, and none is
        // changed afterwards, so the pointers stay valid as the arrays
        // move (their heap buffers do not).
        let slice = |ptr: *const NamedValue<'r>, (start, end): (usize, usize)| {
            // SAFETY: `start..end` lies within the array `ptr` starts,
            // which outlives the views (see above).
            unsafe { std::slice::from_raw_parts(ptr.add(start), end - start) }
        };
        let event_attributes = self.event_attributes;
        let events: Vec<SpanEvent<'r>> = self
            .events
            .iter()
            .map(|&(name, time, range)| {
                SpanEvent::new(name, time, slice(event_attributes.as_ptr(), range))
            })
            .collect();
        let span_attributes = self.span_attributes;
        let spans: Vec<Span<'r>> = self
            .spans
            .iter()
            .map(|parts| {
                let (start, end) = parts.events;
                // SAFETY: as above, within `events`.
                let events =
                    unsafe { std::slice::from_raw_parts(events.as_ptr().add(start), end - start) };
                Span::new(
                    parts.head,
                    slice(span_attributes.as_ptr(), parts.attributes),
                    events,
                )
            })
            .collect();
        let traces: Vec<Trace<'r>> = self
            .traces
            .iter()
            .map(|&(start, end)| {
                // SAFETY: as above, within `spans`.
                Trace::new(unsafe {
                    std::slice::from_raw_parts(spans.as_ptr().add(start), end - start)
                })
            })
            .collect();
        let per_record = self
            .per_record
            .iter()
            .map(|t| t.map_or(std::ptr::null(), |i| &raw const traces[i]))
            .collect();
        TraceViews {
            _span_attributes: span_attributes,
            _event_attributes: event_attributes,
            _events: events,
            _spans: spans,
            _traces: traces,
            per_record,
        }
    }
}

/// What a span is, apart from its attributes and events.
pub(crate) fn head(span: &OwnedSpan) -> SpanHead<'_> {
    SpanHead {
        trace_id: span.trace_id,
        span_id: span.span_id,
        parent_span_id: span.parent_span_id.unwrap_or_default(),
        name: &span.name,
        kind: span.kind,
        status_code: span.status_code,
        status_message: &span.status_message,
        start_time_unix_nano: span.start_time_unix_nano,
        end_time_unix_nano: span.end_time_unix_nano,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{OwnedEvent, OwnedValue};

    #[test]
    fn every_span_keeps_its_own_attributes_and_events_across_traces() {
        let span = |name: &str, n: u64| OwnedSpan {
            name: name.into(),
            span_id: [n as u8; 8],
            parent_span_id: (n > 1).then_some([1; 8]),
            start_time_unix_nano: n,
            end_time_unix_nano: 10 * n,
            attributes: (0..n)
                .map(|i| (format!("{name}.{i}"), OwnedValue::Json(i.to_string())))
                .collect(),
            events: vec![OwnedEvent {
                name: format!("{name}-event"),
                time_unix_nano: n,
                attributes: vec![("at".into(), OwnedValue::String(name.into()))],
            }],
            ..OwnedSpan::default()
        };
        let records = [
            OwnedRecord::new("q", "a").with_trace(OwnedTrace {
                spans: vec![span("a", 1), span("b", 2)],
            }),
            OwnedRecord::new("q", "a"),
            OwnedRecord::new("q", "a").with_trace(OwnedTrace {
                spans: vec![span("c", 3)],
            }),
            OwnedRecord::new("q", "a").with_trace(OwnedTrace::default()),
        ];
        let views = TraceViews::of(&records);
        // Moved, as a caller may: the views point at heap buffers.
        let views = Box::new(views);
        let traces = views.traces();
        assert_eq!(traces.len(), 4);
        let first = traces[0].expect("a trace");
        assert_eq!(first.spans().len(), 2);
        let b = &first.spans()[1];
        assert_eq!(b.name(), "b");
        assert_eq!(b.parent_span_id(), Some([1; 8]));
        assert_eq!(b.duration_nanos(), 18);
        let keys: Vec<&str> = b.attributes().iter().map(|a| a.name.as_str()).collect();
        assert_eq!(keys, ["b.0", "b.1"]);
        assert_eq!(b.events()[0].name(), "b-event");
        assert_eq!(b.events()[0].attribute("at").unwrap().as_str(), Some("b"));
        assert!(traces[1].is_none());
        let c = &traces[2].expect("a trace").spans()[0];
        assert_eq!(c.attribute("c.2").unwrap().text(), "2");
        assert_eq!(c.events()[0].attribute("at").unwrap().as_str(), Some("c"));
        assert_eq!(traces[3].expect("an empty trace").spans().len(), 0);
        assert_eq!(first.root().map(|s| s.name()), Some("a"));
    }
}
