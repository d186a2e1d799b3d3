//! The run's calls of the system under test: a chunk's records are handed
//! to a [`Predictor`] on threads of their own, up to a number at once,
//! each call with its time limit, and each answer checked before the
//! record is scored.
//!
//! The decision: **a call that runs out of time is abandoned, not
//! awaited.** A synchronous call cannot be stopped from outside, so when
//! its limit passes the record is recorded as [`PredictError::TimedOut`],
//! another thread takes the next record in its place, and the run goes
//! on. The abandoned call keeps its thread (and whatever it holds) until
//! it returns; its answer is then dropped, and a call that never returns
//! keeps its thread until the process exits: the run does not wait for it.
//! The spans it closed until its limit ([`Predictor::spans_so_far`]), and
//! those it closes until it returns while the run still holds the
//! chunk, are stored with the timeout; a span still open then (where it
//! hangs) is not. The alternative, a process per call that can be killed, is what a
//! command predictor does; for a closure in the test's own process it
//! would cost far more than the call.
//!
//! Threads are started per chunk and take records in turn from a shared
//! counter, so a call costs one lock turn (the turn that gives an answer
//! takes the next record) and no thread start; the
//! scoring thread sleeps until every record has its answer, the first
//! call's limit passes, or an interrupt comes (it looks every
//! [`POLL`]). An interrupted chunk keeps the records answered before the
//! first one not answered; calls in flight are abandoned as above.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{SpanId, TraceId};
use verdict_scorer::OwnedValue;
use verdict_store::StoredSpan;

use crate::dataset::MAX_RECORD;
use crate::predict::{
    Call, LeftOutReason, PredictError, Prediction, Predictor, SPANS_LEFT_OUT,
    SPANS_LEFT_OUT_ATTRIBUTE, SPANS_LEFT_OUT_REASON,
};
use crate::run::{Interrupt, lock};

/// How often a chunk's wait looks for an interrupt and for calls past
/// their limit that started after it began waiting.
const POLL: Duration = Duration::from_millis(50);

/// How calls are made: the system, how many at once, how long each may
/// take.
#[derive(Clone)]
pub(crate) struct Stage {
    pub(crate) predictor: Arc<dyn Predictor>,
    pub(crate) at_once: usize,
    pub(crate) limit: Duration,
}

/// One record to call the system with.
pub(crate) struct Job {
    pub(crate) line: usize,
    pub(crate) inputs: OwnedValue,
    pub(crate) trace_id: TraceId,
    /// The record's root span: the call's top-level spans' parent.
    pub(crate) parent: SpanId,
    /// Whether the dataset named its trace ([`Call::named_trace`]).
    pub(crate) named: bool,
}

impl Job {
    /// Its call, with `time_limit`.
    fn call(&self, time_limit: Duration) -> Call<'_> {
        Call {
            line: self.line,
            inputs: &self.inputs,
            trace_id: self.trace_id,
            parent_span_id: self.parent,
            named_trace: self.named,
            time_limit,
        }
    }
}

/// What a call gave, and when it started and ended.
pub(crate) struct Answer {
    pub(crate) result: Result<Prediction, PredictError>,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
}

impl Stage {
    /// Calls the system once per job, `at_once` at a time, and gives each
    /// job's answer in order: every job's, unless `interrupt` is raised,
    /// then those before the first job left without one.
    pub(crate) fn call(&self, jobs: Vec<Job>, interrupt: Option<&Interrupt>) -> Vec<Answer> {
        let n = jobs.len();
        if n == 0 {
            return Vec::new();
        }
        let shared = Arc::new(Shared {
            jobs,
            stage: self.clone(),
            state: Mutex::new(State {
                next: 0,
                answers: (0..n).map(|_| None).collect(),
                left: n,
                workers: Vec::new(),
                live: 0,
                stop: false,
            }),
            done: Condvar::new(),
        });
        let mut state = lock(&shared.state);
        let mut cannot_start = None;
        for _ in 0..self.at_once.clamp(1, n) {
            if let Err(e) = start_worker(&shared, &mut state) {
                cannot_start = Some(e);
            }
        }
        loop {
            if state.left == 0 {
                break;
            }
            if interrupt.and_then(Interrupt::signal).is_some() {
                state.stop = true;
                for worker in &mut state.workers {
                    if worker.on.take().is_some() {
                        worker.abandoned = true;
                    }
                }
                break;
            }
            let now = Instant::now();
            let mut late = 0;
            let State {
                workers,
                answers,
                left,
                live,
                ..
            } = &mut *state;
            let mut timed_out = Vec::new();
            for worker in workers.iter_mut() {
                if let Some(on) = worker.on.take_if(|on| on.deadline <= now) {
                    answers[on.job] = Some(Answer {
                        result: Err(PredictError::TimedOut(self.limit)),
                        start: on.start,
                        end: SystemTime::now(),
                    });
                    *left -= 1;
                    *live -= 1;
                    worker.abandoned = true;
                    late += 1;
                    timed_out.push(on.job);
                }
            }
            if !timed_out.is_empty() {
                // What the calls did until now shows where they hung; asked
                // without the lock, which the calling threads need, and a
                // predictor that fails to say gives none.
                drop(state);
                let found: Vec<(usize, Vec<StoredSpan>)> = timed_out
                    .into_iter()
                    .map(|job| {
                        let call = shared.jobs[job].call(self.limit);
                        let spans =
                            catch_unwind(AssertUnwindSafe(|| self.predictor.spans_so_far(call)));
                        (job, spans.unwrap_or_default())
                    })
                    .collect();
                state = lock(&shared.state);
                for (job, spans) in found {
                    add_to_timeout(&mut state.answers, &shared.jobs[job], job, spans);
                }
            }
            for _ in 0..late {
                if state.next < n
                    && let Err(e) = start_worker(&shared, &mut state)
                {
                    cannot_start = Some(e);
                }
            }
            if state.live == 0 && state.next < n {
                // No thread could be started to take the rest.
                let reason = cannot_start
                    .take()
                    .map_or_else(|| "no thread left".to_owned(), |e| e.to_string());
                while state.next < n {
                    let job = state.next;
                    state.next += 1;
                    let now = SystemTime::now();
                    state.answers[job] = Some(Answer {
                        result: Err(PredictError::Failed(format!(
                            "no thread could be started to call the system: {reason}"
                        ))),
                        start: now,
                        end: now,
                    });
                    state.left -= 1;
                }
                continue;
            }
            let wait = state
                .workers
                .iter()
                .filter_map(|w| w.on.as_ref())
                .map(|on| on.deadline.saturating_duration_since(now))
                .min()
                .map_or(POLL, |d| d.min(POLL));
            state = shared
                .done
                .wait_timeout(state, wait)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        std::mem::take(&mut state.answers)
            .into_iter()
            .map_while(|answer| answer)
            .collect()
    }
}

/// What the scoring thread and the calling threads share for one chunk.
struct Shared {
    jobs: Vec<Job>,
    stage: Stage,
    state: Mutex<State>,
    /// Signalled when the last answer is in.
    done: Condvar,
}

struct State {
    /// The next job to take.
    next: usize,
    answers: Vec<Option<Answer>>,
    /// Jobs without an answer yet.
    left: usize,
    workers: Vec<Worker>,
    /// Threads started and not abandoned that have not ended.
    live: usize,
    /// No more jobs are taken (an interrupt).
    stop: bool,
}

/// A calling thread, as the scoring thread sees it.
#[derive(Default)]
struct Worker {
    /// The call it is in.
    on: Option<OnCall>,
    /// Its call ran out of time (or the chunk was interrupted): whatever
    /// it answers is dropped, and it takes no more jobs.
    abandoned: bool,
}

struct OnCall {
    job: usize,
    start: SystemTime,
    deadline: Instant,
}

fn start_worker(shared: &Arc<Shared>, state: &mut State) -> std::io::Result<()> {
    let index = state.workers.len();
    let worker = Arc::clone(shared);
    std::thread::Builder::new()
        .name("verdict-predict".into())
        .spawn(move || work(&worker, index))?;
    state.workers.push(Worker::default());
    state.live += 1;
    Ok(())
}

/// A calling thread: takes jobs until none is left, it is abandoned, or
/// the chunk is interrupted.
fn work(shared: &Shared, me: usize) {
    let Stage {
        predictor, limit, ..
    } = &shared.stage;
    // One lock turn a call: the one that gives an answer takes the next
    // job.
    let mut state = lock(&shared.state);
    loop {
        if state.workers[me].abandoned {
            return;
        }
        if state.stop || state.next >= shared.jobs.len() {
            state.live -= 1;
            return;
        }
        let job = state.next;
        state.next += 1;
        let start = SystemTime::now();
        state.workers[me].on = Some(OnCall {
            job,
            start,
            deadline: Instant::now() + *limit,
        });
        drop(state);
        let called = &shared.jobs[job];
        let result = catch_unwind(AssertUnwindSafe(|| predictor.predict(called.call(*limit))))
            .unwrap_or_else(|panic| Err(PredictError::Panicked(panic_message(panic.as_ref()))))
            .and_then(|prediction| checked(prediction, called.trace_id, called.parent))
            .map_err(|error| checked_failure(error, called.trace_id, called.parent));
        let end = SystemTime::now();
        state = lock(&shared.state);
        if state.workers[me].abandoned {
            // Recorded as timed out already; the spans it made since it was
            // asked for them join the record's trace, if the run still
            // holds its answer.
            let spans = match result {
                Ok(prediction) => prediction.spans,
                Err(error) => error.into_parts().1,
            };
            add_to_timeout(&mut state.answers, called, job, spans);
            return;
        }
        state.workers[me].on = None;
        state.answers[job] = Some(Answer { result, start, end });
        state.left -= 1;
        if state.left == 0 {
            shared.done.notify_all();
        }
    }
}

/// A prediction as a record takes it: outputs no larger than a record may
/// hold, spans of the record's trace only, top-level spans under the
/// record's root span.
///
/// A span of another trace is refused, not moved into the record's: it is
/// what another call did (a span leaked between concurrent calls), and a
/// trace scorer judging it would judge the wrong record. So is a span that
/// claims the root span's id, which the run makes.
fn checked(
    mut prediction: Prediction,
    trace_id: TraceId,
    root: SpanId,
) -> Result<Prediction, PredictError> {
    let size = match &prediction.outputs {
        OwnedValue::Null => 0,
        OwnedValue::String(s) => s.len(),
        OwnedValue::Json(json) => json.len(),
    };
    if size > MAX_RECORD {
        return Err(PredictError::Failed(format!(
            "it answered {size} bytes of outputs, more than a record may hold ({} MiB)",
            MAX_RECORD >> 20
        )));
    }
    checked_spans(&mut prediction.spans, trace_id, root)?;
    // A trace cut short is not judged: the spans left out may hold the
    // error, the tokens or the tool call a scorer looks for.
    if let Some(why) = prediction.spans.iter().find_map(left_out) {
        return Err(PredictError::Failed(format!(
            "{why}: its trace is incomplete, and is not judged"
        ))
        .with_spans(prediction.spans));
    }
    Ok(prediction)
}

/// Why spans were left out, if `span` is a [`SPANS_LEFT_OUT`] span: how
/// many, and the reason it names (one of the run's own texts, whatever
/// the span says: a system may send a span of that name too).
fn left_out(span: &StoredSpan) -> Option<String> {
    if span.name != SPANS_LEFT_OUT {
        return None;
    }
    let count = span
        .attributes
        .get(SPANS_LEFT_OUT_ATTRIBUTE)
        .and_then(|n| n.as_u64())
        .unwrap_or(0);
    let why = span
        .attributes
        .get(SPANS_LEFT_OUT_REASON)
        .and_then(|why| why.as_str())
        .and_then(LeftOutReason::parse);
    Some(match why {
        Some(why) => why.describe(count),
        None => format!("{count} spans of its trace were left out"),
    })
}

/// Adds `spans`, checked as a failure's are, to the answer of `job` (`at`
/// in `answers`) when it is a timeout the run still holds.
fn add_to_timeout(answers: &mut [Option<Answer>], job: &Job, at: usize, spans: Vec<StoredSpan>) {
    if spans.is_empty() {
        return;
    }
    let Some(Some(Answer {
        result: Err(error), ..
    })) = answers.get_mut(at)
    else {
        return;
    };
    let checked = PredictError::TimedOut(Duration::ZERO).with_spans(spans);
    let (_, spans) = checked_failure(checked, job.trace_id, job.parent).into_parts();
    let taken = std::mem::replace(error, PredictError::Failed(String::new()));
    *error = taken.with_spans(spans);
}

/// A failure as a record takes it: the spans it carries are kept when they
/// pass the checks of [`checked`], and all dropped otherwise (the record is
/// an error either way).
fn checked_failure(error: PredictError, trace_id: TraceId, root: SpanId) -> PredictError {
    let (error, mut spans) = error.into_parts();
    match checked_spans(&mut spans, trace_id, root) {
        Ok(()) => error.with_spans(spans),
        Err(_) => error,
    }
}

/// Spans of the record's trace only, none with the root span's id, and
/// top-level ones put under the root span.
fn checked_spans(
    spans: &mut [StoredSpan],
    trace_id: TraceId,
    root: SpanId,
) -> Result<(), PredictError> {
    for span in spans {
        if span.trace_id != trace_id {
            return Err(PredictError::Failed(format!(
                "it returned span {:?} of trace {}, not of the record's trace {}: a span of \
                 another trace is what another call did, and is refused",
                span.name,
                verdict::mlflow_trace_id(span.trace_id),
                verdict::mlflow_trace_id(trace_id)
            )));
        }
        if span.span_id == root {
            return Err(PredictError::Failed(format!(
                "it returned span {:?} with the id of the record's root span {root}, which the \
                 run makes",
                span.name
            )));
        }
        if span.parent_span_id.is_none() {
            span.parent_span_id = Some(root);
        }
    }
    Ok(())
}

/// What a panic said, when it said it with text.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    verdict_plugin::export::panic_text(panic)
        .unwrap_or("a panic without a message")
        .to_owned()
}
