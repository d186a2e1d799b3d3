//! Running the system under test: a [`Predictor`] turns a record's inputs
//! into its outputs, and hands back the spans the system emitted while it
//! did, so that trace scorers judge what it actually did.
//!
//! A predictor is called once per record, on a thread of the run's own,
//! with the record's trace and the span the call's spans are children of
//! ([`Call`]); calls run side by side up to a limit the run sets. A call
//! that fails, panics, crashes or runs out of time is that record's
//! [`PredictError`]: every scorer gives the record an error feedback with
//! its [`code`](PredictError::code), and the run goes on.
//!
//! One call per record, not one per batch: the systems a suite runs (a
//! function, a model behind a process or an HTTP endpoint) answer one
//! input at a time, and a per-record call is what lets one slow or broken
//! record fail alone. A batch interface was rejected: it would make every
//! predictor split and time its batch itself.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, TraceId};
use verdict_scorer::OwnedValue;
use verdict_store::StoredSpan;

/// The most spans one call keeps of its own. A system that makes more (a
/// span per item of a long loop, a runaway recursion) has the rest left
/// out and counted, so that one record's trace never holds the run's
/// memory; the span named [`SPANS_LEFT_OUT`] says how many. Such a call is
/// a failure ([`PREDICT_FAILED`]): a trace cut short is never judged, as
/// the spans left out may hold what a trace scorer looks for. The spans
/// kept may name parents left out (spans end inside out, so outer ones
/// are the last to come).
pub const MAX_SPANS_PER_CALL: usize = 10_000;

/// The name of the span that stands, in a record's trace, for the spans
/// its call made past [`MAX_SPANS_PER_CALL`]: a child of the record's root
/// span, from the first left out's start to the last's end, its attribute
/// [`SPANS_LEFT_OUT_ATTRIBUTE`] their number.
pub const SPANS_LEFT_OUT: &str = "verdict.spans_left_out";

/// The attribute of the [`SPANS_LEFT_OUT`] span that counts them.
pub const SPANS_LEFT_OUT_ATTRIBUTE: &str = "verdict.spans.left_out";

/// The attribute of the [`SPANS_LEFT_OUT`] span that says why they were
/// left out ([`LeftOutReason`]).
pub const SPANS_LEFT_OUT_REASON: &str = "verdict.spans.left_out.reason";

/// Why a record's trace lacks spans its call made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeftOutReason {
    /// Past [`MAX_SPANS_PER_CALL`].
    PastBound,
    /// Past the room of a trace several records share: some may be the
    /// others'.
    PastSharedBound,
    /// Under the record's root, claiming the root span id of another
    /// record on its trace.
    ClaimsAnotherRoot,
}

impl LeftOutReason {
    /// Its value of [`SPANS_LEFT_OUT_REASON`].
    pub fn as_str(self) -> &'static str {
        match self {
            LeftOutReason::PastBound => "past_bound",
            LeftOutReason::PastSharedBound => "past_shared_bound",
            LeftOutReason::ClaimsAnotherRoot => "claims_another_root",
        }
    }

    /// The reason [`as_str`](Self::as_str) names.
    pub fn parse(text: &str) -> Option<Self> {
        [
            LeftOutReason::PastBound,
            LeftOutReason::PastSharedBound,
            LeftOutReason::ClaimsAnotherRoot,
        ]
        .into_iter()
        .find(|why| why.as_str() == text)
    }

    /// What happened to `count` spans, in words.
    pub fn describe(self, count: u64) -> String {
        match self {
            LeftOutReason::PastBound => {
                format!("{count} spans left out, past the {MAX_SPANS_PER_CALL} a call keeps")
            }
            LeftOutReason::PastSharedBound => format!(
                "{count} spans left out, past the {MAX_SPANS_PER_CALL} a call keeps (on a trace \
                 several records share: some may be the others')"
            ),
            LeftOutReason::ClaimsAnotherRoot => format!(
                "{count} spans under the record's root left out: they claim the root span id of \
                 another record on its trace"
            ),
        }
    }
}

/// The spans of one call as they end: the first [`MAX_SPANS_PER_CALL`]
/// kept, the rest counted. A list that several calls share (records on
/// one trace, [`SpanList::push_shared`]) keeps that many for each, and
/// each call's part is bounded as it is taken ([`SpanList::take_under`]).
#[derive(Debug, Default)]
pub struct SpanList {
    spans: Vec<StoredSpan>,
    /// Spans that did not fit.
    left_out: LeftOut,
}

/// Spans counted rather than kept.
#[derive(Clone, Copy, Debug, Default)]
struct LeftOut {
    count: u64,
    /// When the first span left out started, and the last one ended.
    between: Option<(SystemTime, SystemTime)>,
}

impl LeftOut {
    fn add(&mut self, span: &StoredSpan) {
        self.count += 1;
        let (start, end) = self.between.get_or_insert((span.start_time, span.end_time));
        *start = (*start).min(span.start_time);
        *end = (*end).max(span.end_time);
    }

    /// The [`SPANS_LEFT_OUT`] span of trace `trace_id` that stands for
    /// them, if there are any, its status an error saying why.
    fn span(&self, trace_id: TraceId, why: LeftOutReason) -> Option<StoredSpan> {
        let (start, end) = self.between?;
        let mut span = StoredSpan::new(
            trace_id,
            SpanId::from(rand::random::<u64>().max(1)),
            SPANS_LEFT_OUT.to_owned(),
        );
        span.start_time = start;
        span.end_time = end;
        span.attributes
            .insert(SPANS_LEFT_OUT_ATTRIBUTE.to_owned(), self.count.into());
        span.attributes
            .insert(SPANS_LEFT_OUT_REASON.to_owned(), why.as_str().into());
        span.status = opentelemetry::trace::Status::error(why.describe(self.count));
        Some(span)
    }
}

impl SpanList {
    /// Adds a span that ended, or counts it when the list is full.
    pub fn push(&mut self, span: StoredSpan) {
        self.push_shared(span, 1);
    }

    /// Adds a span that ended to a list `calls` calls share, or counts it
    /// when the list holds [`MAX_SPANS_PER_CALL`] for each of them.
    pub fn push_shared(&mut self, span: StoredSpan, calls: usize) {
        if self.spans.len() < MAX_SPANS_PER_CALL.saturating_mul(calls.max(1)) {
            self.spans.push(span);
        } else {
            self.left_out.add(&span);
        }
    }

    /// The spans kept so far.
    pub fn spans(&self) -> &[StoredSpan] {
        &self.spans
    }

    /// The spans kept under `root` (its children, theirs, and so on), at
    /// most [`MAX_SPANS_PER_CALL`] of them; the others stay: what one call
    /// takes of a trace that several records share, each under a root
    /// span of its own (`is_root` says whether an id is one of them).
    ///
    /// A span that claims `root`'s id is taken too, wherever it hangs, so
    /// that the call's checks refuse it (the record fails). Under `root`,
    /// a span that claims another call's root is neither taken nor
    /// followed: a system that reuses a record's root id cannot hand that
    /// record's spans to another. The record whose root it claims takes
    /// it (and fails); this one has a trace without it, and a
    /// [`SPANS_LEFT_OUT`] span says so (it fails too).
    ///
    /// A [`SPANS_LEFT_OUT`] span comes with them when the call made more,
    /// or when any span of the shared list was left out: whose it was is
    /// not known, so every call that takes from the list after that
    /// counts it as possibly its own, and none is judged on a trace that
    /// may be cut short.
    pub fn take_under(
        &mut self,
        trace_id: TraceId,
        root: SpanId,
        is_root: impl Fn(SpanId) -> bool,
    ) -> Vec<StoredSpan> {
        let mut children: std::collections::HashMap<SpanId, Vec<usize>> =
            std::collections::HashMap::new();
        let mut under = vec![false; self.spans.len()];
        for (i, span) in self.spans.iter().enumerate() {
            if let Some(parent) = span.parent_span_id {
                children.entry(parent).or_default().push(i);
            }
            under[i] = span.span_id == root;
        }
        let mut claiming = LeftOut::default();
        let mut next = vec![root];
        while let Some(parent) = next.pop() {
            for &i in children.get(&parent).map_or(&[][..], Vec::as_slice) {
                let id = self.spans[i].span_id;
                if under[i] {
                    continue;
                }
                if id != root && is_root(id) {
                    claiming.add(&self.spans[i]);
                } else {
                    under[i] = true;
                    next.push(id);
                }
            }
        }
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.spans)
            .into_iter()
            .zip(under)
            .partition(|(_, under)| *under);
        self.spans = kept.into_iter().map(|(span, _)| span).collect();
        let mut taken: Vec<StoredSpan> = taken.into_iter().map(|(span, _)| span).collect();
        let mut left_out = self.left_out;
        if taken.len() > MAX_SPANS_PER_CALL {
            for span in taken.split_off(MAX_SPANS_PER_CALL) {
                left_out.add(&span);
            }
        }
        let past = if self.left_out.count > 0 {
            LeftOutReason::PastSharedBound
        } else {
            LeftOutReason::PastBound
        };
        taken.extend(left_out.span(trace_id, past));
        taken.extend(claiming.span(trace_id, LeftOutReason::ClaimsAnotherRoot));
        taken
    }

    /// The spans kept, and a [`SPANS_LEFT_OUT`] span of trace `trace_id`
    /// when any were left out; the list is empty again.
    pub fn take(&mut self, trace_id: TraceId) -> Vec<StoredSpan> {
        let mut spans = std::mem::take(&mut self.spans);
        spans.extend(std::mem::take(&mut self.left_out).span(trace_id, LeftOutReason::PastBound));
        spans
    }
}

/// The error code of a record whose predictor returned an error.
pub const PREDICT_FAILED: &str = "PREDICT_FAILED";
/// The error code of a record whose predictor panicked.
pub const PREDICT_PANICKED: &str = "PREDICT_PANICKED";
/// The error code of a record whose predictor did not answer within its
/// time limit.
pub const PREDICT_TIMEOUT: &str = "PREDICT_TIMEOUT";
/// The error code of a record whose predictor process died, or closed its
/// end, while it was called.
pub const PREDICT_CRASHED: &str = "PREDICT_CRASHED";

/// One call of a [`Predictor`]: a record and where its spans go.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The record's dataset line (1-based).
    pub line: usize,
    /// What the system is given.
    pub inputs: &'a OwnedValue,
    /// The record's trace: every span the call emits belongs to it.
    pub trace_id: TraceId,
    /// The span the call's top-level spans are children of (the record's
    /// root span).
    pub parent_span_id: SpanId,
    /// Whether the dataset named the record's trace: other records of the
    /// run may be on it too, called before, after or beside this one, each
    /// under a root span of its own. A trace the run made is the record's
    /// alone.
    pub named_trace: bool,
    /// How long the call may take.
    pub time_limit: Duration,
}

/// What a call gave back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prediction {
    /// What the system answered.
    pub outputs: OwnedValue,
    /// The spans it emitted during the call, in the call's trace, with
    /// their parents as emitted (top-level ones under the call's parent).
    pub spans: Vec<StoredSpan>,
}

/// Why a call gave no outputs.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PredictError {
    /// The predictor returned an error.
    #[error("the predictor failed: {0}")]
    Failed(String),
    /// The predictor panicked.
    #[error("the predictor panicked: {0}")]
    Panicked(String),
    /// The predictor did not answer within the time limit.
    #[error("the predictor did not answer within {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
    /// The predictor's process died or closed its end during the call.
    #[error("the predictor crashed: {0}")]
    Crashed(String),
    /// A failure, with the spans the call made before it failed: they are
    /// stored in the record's trace beside its root span (an error), so
    /// that the trace shows what the system did up to the failure. Made
    /// with [`with_spans`](Self::with_spans).
    #[error("{error}")]
    WithSpans {
        /// What failed (never itself `WithSpans`).
        error: Box<PredictError>,
        /// The spans made before, in the call's trace.
        spans: Vec<StoredSpan>,
    },
}

impl PredictError {
    /// This error with `spans`, the spans the call made before it failed,
    /// added to those it carries.
    pub fn with_spans(self, mut spans: Vec<StoredSpan>) -> PredictError {
        if spans.is_empty() {
            return self;
        }
        match self {
            PredictError::WithSpans {
                error,
                spans: mut before,
            } => {
                before.append(&mut spans);
                PredictError::WithSpans {
                    error,
                    spans: before,
                }
            }
            error => PredictError::WithSpans {
                error: Box::new(error),
                spans,
            },
        }
    }

    /// The failure, and the spans the call made before it.
    pub fn into_parts(self) -> (PredictError, Vec<StoredSpan>) {
        match self {
            PredictError::WithSpans { error, spans } => (*error, spans),
            error => (error, Vec::new()),
        }
    }

    /// The error code its records' feedback carries.
    pub fn code(&self) -> &'static str {
        match self {
            PredictError::WithSpans { error, .. } => error.code(),
            PredictError::Failed(_) => PREDICT_FAILED,
            PredictError::Panicked(_) => PREDICT_PANICKED,
            PredictError::TimedOut(_) => PREDICT_TIMEOUT,
            PredictError::Crashed(_) => PREDICT_CRASHED,
        }
    }
}

/// The system under test, called once per record.
pub trait Predictor: Send + Sync {
    /// Runs the system on one record's inputs. Called from several threads
    /// at once, up to the run's limit; a call should give up at its
    /// [`time_limit`](Call::time_limit) (the run records it as timed out
    /// then in any case).
    fn predict(&self, call: Call<'_>) -> Result<Prediction, PredictError>;

    /// The spans `call`, still running, has made so far, taken: the run
    /// asks once it gives up on the call (it ran out of time), to store
    /// them with the record's timeout, so that its trace shows what the
    /// system did until then. The default has none.
    fn spans_so_far(&self, call: Call<'_>) -> Vec<StoredSpan> {
        let _ = call;
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_own_code() {
        let codes = [
            PredictError::Failed("no".into()).code(),
            PredictError::Panicked("no".into()).code(),
            PredictError::TimedOut(Duration::from_secs(1)).code(),
            PredictError::Crashed("no".into()).code(),
        ];
        for (i, a) in codes.iter().enumerate() {
            assert!(codes[i + 1..].iter().all(|b| a != b), "{a} repeats");
        }
        assert_eq!(
            PredictError::TimedOut(Duration::from_millis(1500)).to_string(),
            "the predictor did not answer within 1s 500ms"
        );
    }

    #[test]
    fn spans_change_neither_the_code_nor_the_text_and_come_back_out() {
        let span = |name: &str| StoredSpan::new(TraceId::from(1u128), SpanId::from(2), name.into());
        let error = PredictError::Panicked("boom".into())
            .with_spans(vec![span("a")])
            .with_spans(vec![span("b")]);
        assert_eq!(error.code(), PREDICT_PANICKED);
        assert_eq!(error.to_string(), "the predictor panicked: boom");
        let (inner, spans) = error.into_parts();
        assert_eq!(inner, PredictError::Panicked("boom".into()));
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            PredictError::Failed("no".into()).with_spans(Vec::new()),
            PredictError::Failed("no".into())
        );
    }
}
