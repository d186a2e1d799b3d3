//! `verdict eval --predict CMD`: the system under test as long-lived
//! processes that answer JSON lines (the protocol is in `docs/predict.md`
//! and [`crate::protocol`]).
//!
//! Calls are written to a process as they come, several in flight at once,
//! and its answers are matched to them by id, in whatever order they come:
//! one process keeps a pipe full, which is what makes a process that
//! answers fast answer many records a second. The alternative, a pool of
//! processes answering one call each, was measured against it (see
//! BENCHMARKS.md) and gained nothing on a fast process; more processes
//! ([`CommandOptions::processes`], taking calls in turn) stay an option
//! for a system that answers one call at a time and has cores to use.
//!
//! A record whose call breaks its process fails alone when the run makes
//! one call at a time; with several in flight, the calls waiting on the
//! same process fail with it, each saying why. What breaks it: a time
//! limit passed (PREDICT_TIMEOUT for that record), a line that is not an
//! answer, an answer to an id nobody waits for, a line longer than the
//! bound (PREDICT_FAILED), its standard output closed or its death
//! (PREDICT_CRASHED). Its process group is killed then, and the next call
//! starts a new one.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use verdict_eval::predict::{Call, PredictError, Prediction, Predictor};
use verdict_store::StoredSpan;

use crate::child::{Child, Spawner, Start};
use crate::endpoint::SpanEndpoint;
use crate::protocol;

/// How the processes are run.
#[derive(Clone, Debug)]
pub struct CommandOptions {
    /// Processes started, each taking calls in turn.
    pub processes: usize,
    /// How long a process may take to write its ready line.
    pub ready_within: Duration,
    /// The longest answer line taken, in bytes.
    pub max_line: usize,
    /// How long a call waits, after its answer, for the system's
    /// top-level span, when the system has sent spans before.
    pub span_grace: Duration,
    /// At the end, how long a process has to exit once its standard input
    /// is closed, and again after SIGTERM, before SIGKILL.
    pub stop_grace: Duration,
}

impl Default for CommandOptions {
    fn default() -> Self {
        CommandOptions {
            processes: 1,
            ready_within: Duration::from_secs(60),
            max_line: 16 << 20,
            span_grace: Duration::from_millis(200),
            stop_grace: Duration::from_secs(2),
        }
    }
}

/// Why the processes could not be started.
#[derive(Debug, thiserror::Error)]
#[error("the predictor `{command}` could not be started: {why}")]
pub struct StartError {
    command: String,
    why: String,
}

/// The system under test as processes started from a shell command line.
pub struct CommandPredictor {
    command: String,
    env: Vec<(String, String)>,
    options: CommandOptions,
    endpoint: Arc<SpanEndpoint>,
    /// The endpoint's URL, as each request line gives it.
    endpoint_url: String,
    slots: Vec<Mutex<Option<Arc<Child>>>>,
    turn: AtomicUsize,
    ids: AtomicU64,
    stopped: AtomicBool,
    // Last: the processes are stopped before the thread that started them
    // ends (which would kill them).
    spawner: Spawner,
}

impl CommandPredictor {
    /// Starts `options.processes` processes of `sh -c COMMAND` (so a
    /// command line is written as in a shell, with its quoting, variables
    /// and pipes), each told the OTLP endpoint in
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
    /// and waits until each is ready. A process that exits, or writes
    /// anything else, before it is ready is an error here, before any
    /// record is called.
    pub fn start(
        command: &str,
        endpoint: Arc<SpanEndpoint>,
        options: CommandOptions,
    ) -> Result<Self, StartError> {
        let failed = |why: String| StartError {
            command: command.to_owned(),
            why,
        };
        let spawner = Spawner::new().map_err(|e| failed(e.to_string()))?;
        let env = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), endpoint.url()),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".to_owned(),
                endpoint.traces_url(),
            ),
        ];
        let mut predictor = CommandPredictor {
            command: command.to_owned(),
            env,
            slots: Vec::new(),
            turn: AtomicUsize::new(0),
            ids: AtomicU64::new(1),
            stopped: AtomicBool::new(false),
            endpoint_url: endpoint.url(),
            endpoint,
            spawner,
            options,
        };
        for _ in 0..predictor.options.processes.max(1) {
            let child =
                Child::start(&predictor.start_with(), &predictor.spawner).map_err(failed)?;
            predictor.slots.push(Mutex::new(Some(child)));
        }
        Ok(predictor)
    }

    fn start_with(&self) -> Start<'_> {
        Start {
            command: &self.command,
            env: &self.env,
            ready_within: self.options.ready_within,
            max_line: self.options.max_line,
        }
    }

    /// The process of a slot, started again if the one it had is broken.
    fn process(&self, slot: usize) -> Result<Arc<Child>, PredictError> {
        let mut held = self.slots[slot]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(child) = &*held
            && !child.is_broken()
        {
            return Ok(Arc::clone(child));
        }
        if let Some(old) = held.take() {
            old.stop(Duration::ZERO);
        }
        if self.stopped.load(Ordering::Acquire) {
            return Err(PredictError::Crashed(
                "the predictor was stopped: the run is ending".to_owned(),
            ));
        }
        let child = Child::start(&self.start_with(), &self.spawner).map_err(|why| {
            PredictError::Crashed(format!("it could not be started again: {why}"))
        })?;
        *held = Some(Arc::clone(&child));
        Ok(child)
    }
}

impl Predictor for CommandPredictor {
    fn predict(&self, call: Call<'_>) -> Result<Prediction, PredictError> {
        let slot = self.turn.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let mut line = Vec::with_capacity(256);
        protocol::write_request(
            &mut line,
            id,
            call.line,
            &protocol::traceparent(call.trace_id, call.parent_span_id),
            &self.endpoint_url,
            call.inputs,
        );
        let watch = self
            .endpoint
            .watch(call.trace_id, call.parent_span_id, call.named_trace);
        let (answer, answered) = crossbeam_channel::bounded(1);
        // A process that broke before this call came (for another call)
        // is replaced; one that breaks again as soon as it starts fails
        // this call.
        let mut unsent = Some((line, answer));
        let mut sent_to = None;
        for _ in 0..3 {
            let child = self.process(slot)?;
            let (line, answer) = unsent.take().expect("put back on each failure");
            match child.send(id, line, answer) {
                Ok(()) => {
                    sent_to = Some(child);
                    break;
                }
                Err(back) => unsent = Some(back),
            }
        }
        let Some(child) = sent_to else {
            return Err(PredictError::Crashed(
                "it broke each time it was started, before it took this call".to_owned(),
            ));
        };
        match answered.recv_timeout(call.time_limit) {
            Ok(Ok(Ok(outputs))) => Ok(Prediction {
                outputs,
                spans: watch.take(call.parent_span_id, self.options.span_grace),
            }),
            // What it sent before it failed shows what it did.
            Ok(Ok(Err(message))) => Err(PredictError::Failed(message)
                .with_spans(watch.take(call.parent_span_id, self.options.span_grace))),
            Ok(Err(fault)) => {
                Err(fault.with_spans(watch.take(call.parent_span_id, Duration::ZERO)))
            }
            Err(_) => {
                child.forget(id);
                child.break_with(PredictError::Crashed(format!(
                    "it was killed because the call for record {} did not answer within {}",
                    call.line,
                    humantime::format_duration(call.time_limit)
                )));
                Err(PredictError::TimedOut(call.time_limit)
                    .with_spans(watch.take(call.parent_span_id, Duration::ZERO)))
            }
        }
    }

    fn spans_so_far(&self, call: Call<'_>) -> Vec<StoredSpan> {
        self.endpoint.take_now(call.trace_id, call.parent_span_id)
    }
}

impl CommandPredictor {
    /// Stops every process (standard input closed, then SIGTERM, then
    /// SIGKILL to its group, each after [`CommandOptions::stop_grace`]) and
    /// reaps it; calls still waiting get PREDICT_CRASHED, and later calls
    /// fail the same way. A run that was interrupted, or that abandoned
    /// calls past their limit, still holds the predictor: this is what
    /// ends its processes then, without waiting for those calls.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        for slot in &self.slots {
            let child = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(child) = child {
                child.stop(self.options.stop_grace);
            }
        }
    }
}

impl Drop for CommandPredictor {
    fn drop(&mut self) {
        self.stop();
    }
}
