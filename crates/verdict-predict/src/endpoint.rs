//! The run's OTLP/HTTP endpoint: where the system under test sends the
//! spans of its calls, and where each call takes those of its own trace.
//!
//! A call [`watch`](SpanEndpoint::watch)es its record's trace before the
//! system is asked, and [`take`](Watch::take)s what arrived for it once
//! the system has answered. A span of a trace no call watches (one that
//! came after its call was done, or of a trace the system made up) is
//! dropped and counted ([`SpanEndpoint::unclaimed`]): a record's trace
//! holds what arrived during its call, never another record's spans.
//!
//! Requests are read by `verdict-serve`'s decoder ([`verdict_serve::receive`]),
//! so both receivers take and refuse the same requests.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry::trace::{SpanId, TraceId};
use tokio::sync::watch;
use verdict_eval::predict::{MAX_SPANS_PER_CALL, SpanList};
use verdict_serve::receive;
use verdict_store::StoredSpan;

/// The largest request body the endpoint takes, compressed or not.
const MAX_BODY: usize = 16 << 20;

/// An OTLP/HTTP endpoint on loopback for the spans of a run's calls.
pub struct SpanEndpoint {
    addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct State {
    /// The spans of each watched trace, and how many calls watch it
    /// (records may share a trace, each under a root span of its own):
    /// past the bound, left out and counted in the trace ([`SpanList`]).
    traces: Mutex<HashMap<TraceId, Watched>>,
    arrived: Condvar,
    /// Whether any span arrived at all: a system that never sends spans
    /// is not waited for.
    any: AtomicBool,
    unclaimed: AtomicU64,
    /// The traces named by the dataset that a call has watched, with the
    /// root span of each call on them, kept to the end of the run (for
    /// records that name their trace only: a trace id and a span id
    /// each).
    named: Mutex<HashMap<TraceId, HashSet<SpanId>>>,
}

impl SpanEndpoint {
    /// Listens on `listen` (port 0 for any free one) and takes
    /// `POST /v1/traces`, protobuf or JSON, gzip or not.
    pub fn start(listen: SocketAddr) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("predict-otlp")
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let state = Arc::new(State::default());
        let (stop, stopped) = watch::channel(false);
        let served = Arc::clone(&state);
        let server = std::thread::Builder::new()
            .name("predict-otlp".into())
            .spawn(move || {
                runtime.block_on(accept(listener, served, stopped));
                // Connections still open are dropped with the runtime.
                runtime.shutdown_background();
            })?;
        Ok(SpanEndpoint {
            addr,
            state,
            stop,
            server: Some(server),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it
    /// (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its traces URL, as `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` takes it.
    pub fn traces_url(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    /// Keeps the spans of `trace_id` that arrive from now on, until the
    /// watch is taken or dropped, for a call whose top-level spans are
    /// children of `root`. `named`: the dataset named the trace
    /// ([`Call::named_trace`](verdict_eval::predict::Call::named_trace)),
    /// so other calls may be on it, before this one too: the call then
    /// takes only the spans under its own root, as a late span of an
    /// earlier call may come while it runs, and never a span that claims
    /// another call's root.
    pub fn watch(&self, trace_id: TraceId, root: SpanId, named: bool) -> Watch<'_> {
        // Never held while `traces` is taken: `take` takes `named` inside
        // `traces`, in that order only.
        let called_before = named && {
            let mut named = self
                .state
                .named
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let roots = named.entry(trace_id).or_default();
            roots.insert(root);
            roots.len() > 1
        };
        self.state
            .traces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(trace_id)
            .or_default()
            .watch(called_before);
        Watch {
            state: &self.state,
            trace_id,
        }
    }

    /// The spans of watched trace `trace_id` under `root` that arrived so
    /// far, taken: those of a call the run gave up on. The trace stays
    /// watched.
    pub fn take_now(&self, trace_id: TraceId, root: SpanId) -> Vec<StoredSpan> {
        let mut traces = self
            .state
            .traces
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.state.take(&mut traces, trace_id, root, false)
    }

    /// Spans dropped because no call was watching their trace: they came
    /// after their call was done, or belong to no record's trace. (Spans
    /// past a call's bound are counted in its trace, not here.)
    pub fn unclaimed(&self) -> u64 {
        self.state.unclaimed.load(Ordering::Relaxed)
    }
}

impl Drop for SpanEndpoint {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// A call's claim on the spans of its trace.
pub struct Watch<'a> {
    state: &'a State,
    trace_id: TraceId,
}

impl Watch<'_> {
    /// The spans that arrived for the trace, once one whose parent is
    /// `parent` (the system's top-level span, which ends last) is among
    /// them, or `grace` has passed. A system that has sent no span at all
    /// yet is not waited for.
    pub fn take(self, parent: SpanId, grace: Duration) -> Vec<StoredSpan> {
        let deadline = Instant::now() + grace;
        let mut traces = self
            .state
            .traces
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            let spans = traces
                .get(&self.trace_id)
                .map_or(&[][..], |watched| watched.spans.spans());
            let done = spans.iter().any(|s| s.parent_span_id == Some(parent))
                || !self.state.any.load(Ordering::Relaxed);
            let left = deadline.saturating_duration_since(Instant::now());
            if done || left.is_zero() {
                break;
            }
            traces = self
                .state
                .arrived
                .wait_timeout(traces, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        self.state.take(&mut traces, self.trace_id, parent, true)
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut traces = self
            .state
            .traces
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(watched) = traces.get_mut(&self.trace_id) else {
            return;
        };
        watched.calls -= 1;
        if watched.calls == 0 {
            // Spans of the trace under no call's root are no record's.
            let left = watched.spans.spans().len() as u64;
            traces.remove(&self.trace_id);
            self.state.unclaimed.fetch_add(left, Ordering::Relaxed);
        }
    }
}

/// The most span ids a watched trace keeps, for each call that watched it
/// at once, to know the late spans of calls that are done by.
const MAX_DONE: usize = 4 * MAX_SPANS_PER_CALL;

/// A trace the calls in flight watch.
#[derive(Default)]
struct Watched {
    spans: SpanList,
    /// How many calls watch it.
    calls: usize,
    /// The most calls that watched it at once: the list keeps as many
    /// spans as that many calls may.
    most: usize,
    /// Whether another call was on it, at once or before (a trace the
    /// dataset named): then each takes only the spans under its own root,
    /// also once the others returned (a span of theirs may still come).
    shared: bool,
    /// The roots of the calls that took their spans, and the spans they
    /// took: a span under one of them came after its call was done.
    done: HashSet<SpanId>,
}

impl Watched {
    /// A call more on the trace; `called_before`: another call was on it
    /// before (a trace the dataset named).
    fn watch(&mut self, called_before: bool) {
        self.calls += 1;
        self.most = self.most.max(self.calls);
        self.shared |= self.calls > 1 || called_before;
    }

    /// Keeps a span that arrived, while the trace has room for it;
    /// `false` for a span under a call that has taken its spans already
    /// (it came late), which is dropped rather than take room the calls
    /// still running need.
    fn add(&mut self, span: StoredSpan) -> bool {
        if span.parent_span_id.is_some_and(|p| self.done.contains(&p)) {
            // Its own late children are known by its id, up to a bound: a
            // system that keeps sending late spans grows no set without
            // end (past it, their children take room as orphans do).
            if self.done.len() < MAX_DONE.saturating_mul(self.most.max(1)) {
                self.done.insert(span.span_id);
            }
            return false;
        }
        self.spans.push_shared(span, self.most);
        true
    }

    /// The spans of the call under `root`: every span of the trace when
    /// the call has always been alone on it (parents kept as sent, even
    /// one that never came), else those under its root; `roots`: those of
    /// every call on the trace (none when the dataset did not name it).
    fn take(
        &mut self,
        trace_id: TraceId,
        root: SpanId,
        roots: Option<&HashSet<SpanId>>,
    ) -> Vec<StoredSpan> {
        if self.shared {
            self.spans.take_under(trace_id, root, |id| {
                roots.is_some_and(|roots| roots.contains(&id))
            })
        } else {
            self.spans.take(trace_id)
        }
    }

    /// The call under `root` is done, having taken `taken`: what comes
    /// under them from now on came late.
    fn done_with(&mut self, root: SpanId, taken: &[StoredSpan]) {
        self.done.insert(root);
        self.done.extend(taken.iter().map(|s| s.span_id));
    }
}

impl State {
    /// What the call under `root` takes of watched trace `trace_id`.
    /// Takes `named` inside `traces` (held by the caller), the one order
    /// the two are ever taken together in.
    /// `last`: the call is done (not a call the run gave up on, whose
    /// later spans still join its record).
    fn take(
        &self,
        traces: &mut HashMap<TraceId, Watched>,
        trace_id: TraceId,
        root: SpanId,
        last: bool,
    ) -> Vec<StoredSpan> {
        let Some(watched) = traces.get_mut(&trace_id) else {
            return Vec::new();
        };
        let named = self.named.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = watched.take(trace_id, root, named.get(&trace_id));
        if last {
            watched.done_with(root, &taken);
        }
        taken
    }

    fn add(&self, spans: Vec<(StoredSpan, usize)>) {
        let mut unclaimed = 0;
        {
            let mut traces = self.traces.lock().unwrap_or_else(PoisonError::into_inner);
            for (span, _) in spans {
                let kept = traces
                    .get_mut(&span.trace_id)
                    .is_some_and(|watched| watched.add(span));
                if !kept {
                    unclaimed += 1;
                }
            }
        }
        self.any.store(true, Ordering::Relaxed);
        self.unclaimed.fetch_add(unclaimed, Ordering::Relaxed);
        self.arrived.notify_all();
    }
}

async fn accept(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    mut stopped: watch::Receiver<bool>,
) {
    receive::accept_until_stopped(&listener, &mut stopped, |stream| {
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = Arc::clone(&state);
                async move { Ok::<_, std::convert::Infallible>(handle(request, &state).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    })
    .await;
}

async fn handle(
    request: hyper::Request<hyper::body::Incoming>,
    state: &State,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    match (request.method(), request.uri().path()) {
        (&Method::POST, "/v1/traces") => match receive::read_traces(request, MAX_BODY).await {
            Ok(received) => {
                let encoding = received.encoding;
                state.add(received.spans);
                receive::accepted(encoding)
            }
            Err(refused) => refused.response(),
        },
        _ => receive::plain(
            StatusCode::NOT_FOUND,
            "this endpoint takes the spans of the system under test as OTLP traces on POST \
             /v1/traces",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_eval::predict::{SPANS_LEFT_OUT, SPANS_LEFT_OUT_ATTRIBUTE};

    fn span(trace_id: TraceId, id: u64, parent: u64, name: &str) -> StoredSpan {
        let mut span = StoredSpan::new(trace_id, SpanId::from(id), name.to_owned());
        span.parent_span_id = Some(SpanId::from(parent));
        span
    }

    #[test]
    fn a_late_span_of_a_record_that_returned_is_not_taken_by_another_on_its_trace() {
        let trace = TraceId::from(5u128);
        let (root_a, root_b) = (SpanId::from(1u64), SpanId::from(2u64));
        let mut watched = shared_by_two();
        watched.add(span(trace, 10, 1, "a's"));
        let taken = take(&mut watched, trace, root_a);
        assert_eq!(taken.len(), 1);
        // A returns; a span of its comes late, then B's.
        watched.calls -= 1;
        watched.add(span(trace, 11, 1, "a's, late"));
        watched.add(span(trace, 20, 2, "b's"));
        let taken = take(&mut watched, trace, root_b);
        assert_eq!(
            taken.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["b's"]
        );
    }

    #[test]
    fn a_call_alone_on_its_trace_takes_every_span_of_it() {
        let trace = TraceId::from(5u128);
        let mut watched = Watched::default();
        watched.watch(false);
        // Its parent never came: kept as sent.
        assert!(watched.add(span(trace, 10, 77, "under a span not sent")));
        assert_eq!(take(&mut watched, trace, SpanId::from(1u64)).len(), 1);
    }
    /// The spans of `taken` that stand for spans left out, and how many
    /// each counts.
    fn left_out(taken: &[StoredSpan]) -> Vec<u64> {
        taken
            .iter()
            .filter(|s| s.name == SPANS_LEFT_OUT)
            .map(|s| {
                s.attributes[SPANS_LEFT_OUT_ATTRIBUTE]
                    .as_u64()
                    .expect("a count")
            })
            .collect()
    }

    /// Call `root`'s `n` spans, ids from `first`.
    fn made(watched: &mut Watched, trace: TraceId, root: u64, first: u64, n: u64) {
        for id in first..first + n {
            watched.add(span(trace, id, root, "child"));
        }
    }

    #[test]
    fn records_sharing_a_trace_each_keep_a_calls_worth_of_spans() {
        let trace = TraceId::from(5u128);
        let mut watched = shared_by_two();
        // Together more than one call keeps, each within it.
        let each = MAX_SPANS_PER_CALL as u64 * 3 / 5;
        made(&mut watched, trace, 1, 1_000_000, each);
        made(&mut watched, trace, 2, 2_000_000, each);
        for root in [1u64, 2] {
            let taken = take(&mut watched, trace, SpanId::from(root));
            assert_eq!(taken.len() as u64, each);
            assert_eq!(left_out(&taken), Vec::<u64>::new());
        }
    }

    #[test]
    fn a_call_past_its_bound_on_a_shared_trace_is_cut_and_says_so_alone() {
        let trace = TraceId::from(5u128);
        let mut watched = shared_by_two();
        let over = 1_234;
        made(
            &mut watched,
            trace,
            1,
            1_000_000,
            MAX_SPANS_PER_CALL as u64 + over,
        );
        made(&mut watched, trace, 2, 2_000_000, 100);
        let a = take(&mut watched, trace, SpanId::from(1u64));
        assert_eq!(a.len(), MAX_SPANS_PER_CALL + 1);
        assert_eq!(left_out(&a), [over]);
        let b = take(&mut watched, trace, SpanId::from(2u64));
        assert_eq!(b.len(), 100);
        assert_eq!(left_out(&b), Vec::<u64>::new());
    }

    #[test]
    fn spans_a_shared_trace_had_no_room_for_count_against_every_call_that_takes_after() {
        let trace = TraceId::from(5u128);
        let mut watched = shared_by_two();
        // B's spans come first, then more of A's than the two calls'
        // room: which call lost spans is not known from the list.
        let (a, b) = (2 * MAX_SPANS_PER_CALL as u64, 50);
        made(&mut watched, trace, 2, 2_000_000, b);
        made(&mut watched, trace, 1, 1_000_000, a);
        let lost = a + b - 2 * MAX_SPANS_PER_CALL as u64;
        let taken_b = take(&mut watched, trace, SpanId::from(2u64));
        assert_eq!(taken_b.len() as u64, b + 1);
        assert_eq!(left_out(&taken_b), [lost]);
        let taken_a = take(&mut watched, trace, SpanId::from(1u64));
        assert_eq!(taken_a.len(), MAX_SPANS_PER_CALL + 1);
        // Those the list had no room for, and those past A's own bound.
        assert_eq!(left_out(&taken_a), [a - MAX_SPANS_PER_CALL as u64]);
    }
    /// A trace two calls watch at once, with roots 1 and 2.
    fn shared_by_two() -> Watched {
        let mut watched = Watched::default();
        watched.watch(false);
        watched.watch(true);
        watched
    }

    /// What the call under `root` takes when it is done, on a trace whose
    /// calls have roots 1 and 2.
    fn take(watched: &mut Watched, trace: TraceId, root: SpanId) -> Vec<StoredSpan> {
        let roots: HashSet<SpanId> = [SpanId::from(1u64), SpanId::from(2u64)].into();
        let taken = watched.take(trace, root, Some(&roots));
        watched.done_with(root, &taken);
        taken
    }

    fn names(spans: &[StoredSpan]) -> Vec<&str> {
        spans.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn a_late_span_of_an_earlier_record_on_a_named_trace_is_not_the_next_ones() {
        let endpoint = SpanEndpoint::start(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bound");
        let trace = TraceId::from(9u128);
        // A, alone on the trace the dataset named, returns with its span.
        let a = endpoint.watch(trace, SpanId::from(1u64), true);
        endpoint.state.add(vec![(span(trace, 10, 1, "a's"), 0)]);
        assert_eq!(names(&a.take(SpanId::from(1u64), Duration::ZERO)), ["a's"]);
        // B on the same trace, not beside A but after it: a span of A's
        // comes late, while B runs.
        let b = endpoint.watch(trace, SpanId::from(2u64), true);
        endpoint.state.add(vec![
            (span(trace, 11, 1, "a's, late"), 0),
            (span(trace, 20, 2, "b's"), 0),
        ]);
        assert_eq!(names(&b.take(SpanId::from(2u64), Duration::ZERO)), ["b's"]);
        assert_eq!(endpoint.unclaimed(), 1, "A's late span is counted, not B's");
    }

    #[test]
    fn a_trace_the_run_made_is_its_records_alone() {
        let endpoint = SpanEndpoint::start(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bound");
        let trace = TraceId::from(9u128);
        for round in 0..2 {
            let call = endpoint.watch(trace, SpanId::from(1u64), false);
            // Its parent never came: kept as sent, as on any trace a call
            // has to itself.
            endpoint
                .state
                .add(vec![(span(trace, 10 + round, 77, "orphan"), 0)]);
            assert_eq!(call.take(SpanId::from(1u64), Duration::ZERO).len(), 1);
        }
        assert_eq!(endpoint.unclaimed(), 0);
    }
    #[test]
    fn a_span_that_claims_another_records_root_hands_none_of_its_spans_and_fails_both() {
        let trace = TraceId::from(5u128);
        let mut watched = shared_by_two();
        watched.add(span(trace, 10, 1, "a's"));
        // Under A's root, with B's root id: B's own span hangs under it.
        watched.add(span(trace, 2, 1, "claims b's root"));
        watched.add(span(trace, 20, 2, "b's"));
        // A's trace lacks a span its call made, and says so.
        let a = take(&mut watched, trace, SpanId::from(1u64));
        assert_eq!(names(&a), ["a's", SPANS_LEFT_OUT]);
        assert_eq!(left_out(&a), [1]);
        assert_eq!(
            a[1].attributes[verdict_eval::predict::SPANS_LEFT_OUT_REASON],
            "claims_another_root"
        );
        // B takes the span that claims its root, which its checks refuse.
        assert_eq!(
            names(&take(&mut watched, trace, SpanId::from(2u64))),
            ["claims b's root", "b's"]
        );
    }

    #[test]
    fn a_span_that_claims_the_records_own_root_is_taken_for_its_checks_to_refuse() {
        let trace = TraceId::from(5u128);
        let mut watched = shared_by_two();
        watched.add(span(trace, 1, 999, "claims a's root"));
        assert_eq!(
            names(&take(&mut watched, trace, SpanId::from(1u64))),
            ["claims a's root"]
        );
    }

    #[test]
    fn late_spans_of_calls_done_on_a_busy_trace_leave_the_room_to_those_still_running() {
        let trace = TraceId::from(5u128);
        let mut watched = shared_by_two();
        watched.add(span(trace, 10, 1, "a's"));
        assert_eq!(
            names(&take(&mut watched, trace, SpanId::from(1u64))),
            ["a's"]
        );
        // More late spans of A, under its root and under what it took,
        // than the trace has room for while B still runs.
        let late = 2 * MAX_SPANS_PER_CALL as u64 + 1;
        for id in 0..late {
            let parent = if id % 2 == 0 { 1 } else { 10 };
            assert!(!watched.add(span(trace, 1_000_000 + id, parent, "a's, late")));
        }
        assert!(watched.add(span(trace, 20, 2, "b's")));
        assert_eq!(
            names(&take(&mut watched, trace, SpanId::from(2u64))),
            ["b's"]
        );
    }

    #[test]
    fn a_flood_of_late_spans_is_dropped_without_remembering_each() {
        let trace = TraceId::from(5u128);
        let mut watched = shared_by_two();
        take(&mut watched, trace, SpanId::from(1u64));
        // A chain of late spans, each under the one before, past the bound.
        let late = MAX_DONE as u64 * 2 + 10;
        let mut dropped = 0;
        for id in 0..late {
            let parent = if id == 0 { 1 } else { 1_000_000 + id - 1 };
            dropped += u64::from(!watched.add(span(trace, 1_000_000 + id, parent, "late")));
        }
        assert!(watched.done.len() <= MAX_DONE * 2, "{}", watched.done.len());
        // Dropped while remembered; past the bound they take room as
        // orphans do, within the trace's bound.
        assert!(dropped >= MAX_DONE as u64, "{dropped}");
        assert!(watched.spans.spans().len() <= MAX_SPANS_PER_CALL * 2);
    }
}
