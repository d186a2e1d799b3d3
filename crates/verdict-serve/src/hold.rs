//! The traces held until they are complete: spans by trace, bounded in
//! traces, spans and bytes, handed to the pipeline when the root span has
//! arrived or the trace has been idle for a while.
//!
//! The bound is checked before a request is taken, against everything not
//! yet forwarded (traces still open, and those complete but not yet
//! scored and delivered), so that memory stays bounded however fast spans
//! come and however slow a destination is: a request that would pass a
//! bound is refused whole (the receiver answers 429 with Retry-After) and
//! nothing it held is kept. What was taken is never dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry::trace::TraceId;
use verdict_store::StoredSpan;

/// How much may be held at once, and how long a trace without its root
/// span is waited for.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Traces held (open, or complete and not yet forwarded).
    pub max_traces: usize,
    /// Spans held.
    pub max_spans: usize,
    /// Bytes of spans held, as their requests encoded them.
    pub max_bytes: usize,
    /// A trace whose root span has not come is complete after this long
    /// without a new span.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_traces: 20_000,
            max_spans: 100_000,
            max_bytes: 256 << 20,
            idle: Duration::from_secs(30),
        }
    }
}

/// Why a trace is complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Its root span arrived.
    Root,
    /// No span came for [`Limits::idle`].
    Idle,
    /// The server is shutting down.
    Shutdown,
}

/// A trace handed to the pipeline.
#[derive(Debug)]
pub(crate) struct Complete {
    pub(crate) trace_id: TraceId,
    pub(crate) spans: Vec<StoredSpan>,
    pub(crate) bytes: usize,
    pub(crate) completion: Completion,
    /// When it became complete: the start of the latency it is given.
    pub(crate) since: Instant,
}

/// A request refused because it would pass a bound.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Held traces, spans or bytes would pass their bound: try again later.
    Full(String),
    /// The request alone is over a bound: it can never be taken.
    TooLarge(String),
    /// The server is shutting down.
    Closing,
}

#[derive(Debug)]
struct Open {
    spans: Vec<StoredSpan>,
    bytes: usize,
    last: Instant,
    /// Complete and queued; more spans may still join it until taken.
    queued: bool,
}

#[derive(Debug, Default)]
struct State {
    open: HashMap<TraceId, Open>,
    /// Complete traces, in the order they completed.
    queue: VecDeque<(TraceId, Completion, Instant)>,
    traces: usize,
    spans: usize,
    bytes: usize,
    closing: bool,
    /// When idle traces were last looked for.
    swept: Option<Instant>,
}

/// The held traces, shared by the receiver (which adds) and the pipeline
/// (which takes and releases).
#[derive(Debug)]
pub(crate) struct Holding {
    limits: Limits,
    state: Mutex<State>,
    ready: Condvar,
}

impl Holding {
    pub(crate) fn new(limits: Limits) -> Self {
        Holding {
            limits,
            state: Mutex::default(),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a request's spans (with their encoded sizes, in the same
    /// order), all or none.
    pub(crate) fn add(&self, spans: Vec<(StoredSpan, usize)>) -> Result<(), Refused> {
        let bytes: usize = spans.iter().map(|(_, b)| b).sum();
        let limits = &self.limits;
        if spans.len() > limits.max_spans || bytes > limits.max_bytes {
            return Err(Refused::TooLarge(format!(
                "the request holds {} spans of {bytes} bytes, more than this server holds at \
                 once ({} spans, {} bytes): send smaller batches",
                spans.len(),
                limits.max_spans,
                limits.max_bytes
            )));
        }
        let now = Instant::now();
        let mut state = self.lock();
        if state.closing {
            return Err(Refused::Closing);
        }
        let new_traces: std::collections::HashSet<TraceId> = spans
            .iter()
            .map(|(s, _)| s.trace_id)
            .filter(|t| !state.open.contains_key(t))
            .collect();
        if new_traces.len() > limits.max_traces {
            return Err(Refused::TooLarge(format!(
                "the request holds {} traces, more than this server holds at once ({})",
                new_traces.len(),
                limits.max_traces
            )));
        }
        if state.traces + new_traces.len() > limits.max_traces
            || state.spans + spans.len() > limits.max_spans
            || state.bytes + bytes > limits.max_bytes
        {
            return Err(Refused::Full(format!(
                "holding {} traces, {} spans and {} bytes (at most {}, {} and {}): retry later",
                state.traces,
                state.spans,
                state.bytes,
                limits.max_traces,
                limits.max_spans,
                limits.max_bytes
            )));
        }
        state.traces += new_traces.len();
        state.spans += spans.len();
        state.bytes += bytes;
        let mut completed = false;
        for (span, size) in spans {
            let trace_id = span.trace_id;
            let root = span.parent_span_id.is_none();
            let open = state.open.entry(trace_id).or_insert_with(|| Open {
                spans: Vec::new(),
                bytes: 0,
                last: now,
                queued: false,
            });
            open.spans.push(span);
            open.bytes += size;
            open.last = now;
            if root && !open.queued {
                open.queued = true;
                state.queue.push_back((trace_id, Completion::Root, now));
                completed = true;
            }
        }
        drop(state);
        if completed {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Waits at most `wait` for complete traces, then takes up to `max`
    /// of them; traces idle past the limit (all open ones, once closing)
    /// complete first. Returns nothing only when closing and nothing is
    /// left, or when `wait` passed with nothing complete.
    pub(crate) fn take(&self, max: usize, wait: Duration) -> Vec<Complete> {
        let mut state = self.lock();
        if state.queue.is_empty() && !state.closing {
            state = self
                .ready
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let now = Instant::now();
        let idle = self.limits.idle;
        let closing = state.closing;
        // Looked for at most every tenth of the idle time (and 100 ms):
        // the open traces are many under load, the idle ones few.
        let every = (idle / 10).min(Duration::from_millis(100));
        let sweep = closing || state.swept.is_none_or(|at| now.duration_since(at) >= every);
        let expired: Vec<TraceId> = if sweep {
            state.swept = Some(now);
            state
                .open
                .iter()
                .filter(|(_, open)| {
                    !open.queued && (closing || now.duration_since(open.last) >= idle)
                })
                .map(|(id, _)| *id)
                .collect()
        } else {
            Vec::new()
        };
        let completion = if closing {
            Completion::Shutdown
        } else {
            Completion::Idle
        };
        for id in expired {
            if let Some(open) = state.open.get_mut(&id) {
                open.queued = true;
            }
            state.queue.push_back((id, completion, now));
        }
        let mut out = Vec::new();
        while out.len() < max {
            let Some((trace_id, completion, since)) = state.queue.pop_front() else {
                break;
            };
            if let Some(open) = state.open.remove(&trace_id) {
                out.push(Complete {
                    trace_id,
                    spans: open.spans,
                    bytes: open.bytes,
                    completion,
                    since,
                });
            }
        }
        out
    }

    /// Gives back the room of traces forwarded.
    pub(crate) fn release(&self, traces: usize, spans: usize, bytes: usize) {
        let mut state = self.lock();
        state.traces -= traces;
        state.spans -= spans;
        state.bytes -= bytes;
    }

    /// Takes no more spans; every open trace completes at the next
    /// [`take`](Self::take).
    pub(crate) fn close(&self) {
        self.lock().closing = true;
        self.ready.notify_all();
    }

    /// Whether closing and nothing is left to take.
    pub(crate) fn drained(&self) -> bool {
        let state = self.lock();
        state.closing && state.open.is_empty()
    }

    /// Traces, spans and bytes held now.
    pub(crate) fn held(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (state.traces, state.spans, state.bytes)
    }
}
