//! What a scorer that reads the trace sees: the spans of a record's
//! trace, borrowed like the rest of the record.
//!
//! These types are `#[repr(C)]`, the `vd_trace`, `vd_span` and `vd_event`
//! of `verdict_plugin.h`: the host lays a batch's traces out once and a
//! plugin reads them in place. Only a scorer that says it reads traces
//! ([`Scorer::NEEDS_TRACE`](crate::Scorer::NEEDS_TRACE), or a descriptor
//! with `score_batch_traced`) is handed them; the host builds no trace
//! view for any other, so the others pay nothing for them.
//!
//! The decision: **the trace beside the record, not in it**. A field
//! appended to `vd_record` would change the stride of the record array
//! every plugin built against the first header walks; a parallel array of
//! trace pointers, passed through an entry point of its own, leaves those
//! plugins' records as they were.
//!
//! Attribute values are [`Value`]s: a string as itself, any other value
//! as its JSON text (`42`, `0.5`, `true`, `["a"]`), so that a string
//! `"42"` and the number `42` stay apart.

use std::marker::PhantomData;

use crate::abi::Str;
use crate::record::{NamedValue, Value};

/// OpenTelemetry's span kinds, as OTLP numbers them.
pub mod kind {
    /// Not given.
    pub const UNSPECIFIED: u32 = 0;
    /// An internal operation.
    pub const INTERNAL: u32 = 1;
    /// The server side of a call.
    pub const SERVER: u32 = 2;
    /// The client side of a call.
    pub const CLIENT: u32 = 3;
    /// The sender of a message.
    pub const PRODUCER: u32 = 4;
    /// The receiver of a message.
    pub const CONSUMER: u32 = 5;
}

/// OpenTelemetry's span status codes, as OTLP numbers them.
pub mod status {
    /// No status was set.
    pub const UNSET: u32 = 0;
    /// The operation succeeded, as its instrumentation says.
    pub const OK: u32 = 1;
    /// The operation failed.
    pub const ERROR: u32 = 2;
}

/// Borrowed attributes: a pointer and a count.
fn attributes<'a>(ptr: *const NamedValue<'a>, n: usize) -> &'a [NamedValue<'a>] {
    if n == 0 {
        return &[];
    }
    // SAFETY: made from a slice borrowed for 'a, or handed over by the
    // host with a pointer valid for `n` entries.
    unsafe { std::slice::from_raw_parts(ptr, n) }
}

/// The value of the attribute `key`, the first if it repeats.
fn find<'a>(attributes: &[NamedValue<'a>], key: &str) -> Option<Value<'a>> {
    attributes
        .iter()
        .find(|a| a.name.as_str() == key)
        .map(|a| a.value)
}

/// An event of a span: a name, a time and attributes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SpanEvent<'a> {
    name: Str<'a>,
    time_unix_nano: u64,
    attributes: *const NamedValue<'a>,
    n_attributes: usize,
    _borrow: PhantomData<&'a [NamedValue<'a>]>,
}

// SAFETY: a bundle of shared borrows.
unsafe impl Send for SpanEvent<'_> {}
// SAFETY: as above.
unsafe impl Sync for SpanEvent<'_> {}

impl<'a> SpanEvent<'a> {
    /// An event.
    pub fn new(name: &'a str, time_unix_nano: u64, attributes: &'a [NamedValue<'a>]) -> Self {
        SpanEvent {
            name: Str::new(name),
            time_unix_nano,
            attributes: attributes.as_ptr(),
            n_attributes: attributes.len(),
            _borrow: PhantomData,
        }
    }

    /// Its name, such as `exception`.
    pub fn name(&self) -> &'a str {
        self.name.as_str()
    }

    /// When it happened, in nanoseconds since the Unix epoch.
    pub fn time_unix_nano(&self) -> u64 {
        self.time_unix_nano
    }

    /// Its attributes, in order.
    pub fn attributes(&self) -> &'a [NamedValue<'a>] {
        attributes(self.attributes, self.n_attributes)
    }

    /// The value of its attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<Value<'a>> {
        find(self.attributes(), key)
    }
}

impl std::fmt::Debug for SpanEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanEvent")
            .field("name", &self.name())
            .field("time_unix_nano", &self.time_unix_nano)
            .field("attributes", &self.attributes())
            .finish()
    }
}

/// What a span is, apart from its attributes and events: for
/// [`Span::new`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SpanHead<'a> {
    /// The trace's id, 16 bytes.
    pub trace_id: [u8; 16],
    /// The span's id, 8 bytes.
    pub span_id: [u8; 8],
    /// Its parent's id; all zeros for a root span.
    pub parent_span_id: [u8; 8],
    /// Its name.
    pub name: &'a str,
    /// Its kind: one of [`kind`].
    pub kind: u32,
    /// Its status code: one of [`status`].
    pub status_code: u32,
    /// Its status message (set with an error).
    pub status_message: &'a str,
    /// When it started, in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// When it ended, likewise.
    pub end_time_unix_nano: u64,
}

/// One span of a trace.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Span<'a> {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_span_id: [u8; 8],
    name: Str<'a>,
    kind: u32,
    status_code: u32,
    status_message: Str<'a>,
    start_time_unix_nano: u64,
    end_time_unix_nano: u64,
    attributes: *const NamedValue<'a>,
    n_attributes: usize,
    events: *const SpanEvent<'a>,
    n_events: usize,
    _borrow: PhantomData<&'a [SpanEvent<'a>]>,
}

// SAFETY: a bundle of shared borrows.
unsafe impl Send for Span<'_> {}
// SAFETY: as above.
unsafe impl Sync for Span<'_> {}

impl<'a> Span<'a> {
    /// A span of `head`, with its attributes and events.
    pub fn new(
        head: SpanHead<'a>,
        attributes: &'a [NamedValue<'a>],
        events: &'a [SpanEvent<'a>],
    ) -> Self {
        Span {
            trace_id: head.trace_id,
            span_id: head.span_id,
            parent_span_id: head.parent_span_id,
            name: Str::new(head.name),
            kind: head.kind,
            status_code: head.status_code,
            status_message: Str::new(head.status_message),
            start_time_unix_nano: head.start_time_unix_nano,
            end_time_unix_nano: head.end_time_unix_nano,
            attributes: attributes.as_ptr(),
            n_attributes: attributes.len(),
            events: events.as_ptr(),
            n_events: events.len(),
            _borrow: PhantomData,
        }
    }

    /// The trace's id.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The span's id.
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// Its parent's id; `None` for a root span.
    pub fn parent_span_id(&self) -> Option<[u8; 8]> {
        (self.parent_span_id != [0; 8]).then_some(self.parent_span_id)
    }

    /// Whether it has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id == [0; 8]
    }

    /// Its name.
    pub fn name(&self) -> &'a str {
        self.name.as_str()
    }

    /// Its kind: one of [`kind`].
    pub fn kind(&self) -> u32 {
        self.kind
    }

    /// Its status code: one of [`status`].
    pub fn status_code(&self) -> u32 {
        self.status_code
    }

    /// Its status message.
    pub fn status_message(&self) -> &'a str {
        self.status_message.as_str()
    }

    /// Whether its status is an error.
    pub fn is_error(&self) -> bool {
        self.status_code == status::ERROR
    }

    /// When it started, in nanoseconds since the Unix epoch.
    pub fn start_time_unix_nano(&self) -> u64 {
        self.start_time_unix_nano
    }

    /// When it ended, likewise.
    pub fn end_time_unix_nano(&self) -> u64 {
        self.end_time_unix_nano
    }

    /// How long it took, in nanoseconds (0 when it ended before it
    /// started).
    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
    }

    /// Its attributes, in order.
    pub fn attributes(&self) -> &'a [NamedValue<'a>] {
        attributes(self.attributes, self.n_attributes)
    }

    /// The value of its attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<Value<'a>> {
        find(self.attributes(), key)
    }

    /// Its events, in order.
    pub fn events(&self) -> &'a [SpanEvent<'a>] {
        if self.n_events == 0 {
            return &[];
        }
        // SAFETY: made by `new` from a slice borrowed for 'a, or handed
        // over by the host with a pointer valid for `n_events` entries.
        unsafe { std::slice::from_raw_parts(self.events, self.n_events) }
    }
}

impl std::fmt::Debug for Span<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Span")
            .field("name", &self.name())
            .field("span_id", &self.span_id)
            .field("parent_span_id", &self.parent_span_id())
            .field("kind", &self.kind)
            .field("status_code", &self.status_code)
            .field("start_time_unix_nano", &self.start_time_unix_nano)
            .field("end_time_unix_nano", &self.end_time_unix_nano)
            .field("attributes", &self.attributes())
            .field("events", &self.events())
            .finish()
    }
}

/// The trace of a record: its spans, in the order the host was given
/// them (not sorted).
///
/// ```
/// use verdict_plugin::{NamedValue, Span, SpanHead, Trace, Value};
///
/// let attributes = [NamedValue::new("gen_ai.usage.output_tokens", Value::json("42"))];
/// let head = SpanHead { name: "chat", start_time_unix_nano: 10, end_time_unix_nano: 25, ..SpanHead::default() };
/// let spans = [Span::new(head, &attributes, &[])];
/// let trace = Trace::new(&spans);
/// assert_eq!(trace.root().map(|s| s.duration_nanos()), Some(15));
/// assert_eq!(trace.spans()[0].attribute("gen_ai.usage.output_tokens").map(|v| v.text()), Some("42"));
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Trace<'a> {
    spans: *const Span<'a>,
    n_spans: usize,
    _borrow: PhantomData<&'a [Span<'a>]>,
}

// SAFETY: a bundle of shared borrows.
unsafe impl Send for Trace<'_> {}
// SAFETY: as above.
unsafe impl Sync for Trace<'_> {}

impl<'a> Trace<'a> {
    /// A trace of `spans`.
    pub fn new(spans: &'a [Span<'a>]) -> Self {
        Trace {
            spans: spans.as_ptr(),
            n_spans: spans.len(),
            _borrow: PhantomData,
        }
    }

    /// Its spans.
    pub fn spans(&self) -> &'a [Span<'a>] {
        if self.n_spans == 0 {
            return &[];
        }
        // SAFETY: made by `new` from a slice borrowed for 'a, or handed
        // over by the host with a pointer valid for `n_spans` entries.
        unsafe { std::slice::from_raw_parts(self.spans, self.n_spans) }
    }

    /// Its root span (the first span without a parent), if it has one.
    pub fn root(&self) -> Option<&'a Span<'a>> {
        self.spans().iter().find(|s| s.is_root())
    }

    /// How long the whole trace took: from its earliest start to its
    /// latest end, in nanoseconds; `None` when it has no span.
    pub fn duration_nanos(&self) -> Option<u64> {
        let start = self.spans().iter().map(|s| s.start_time_unix_nano).min()?;
        let end = self.spans().iter().map(|s| s.end_time_unix_nano).max()?;
        Some(end.saturating_sub(start))
    }
}

impl std::fmt::Debug for Trace<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.spans()).finish()
    }
}

/// A trace as it crosses the boundary, without lifetimes.
pub type RawTrace = Trace<'static>;
