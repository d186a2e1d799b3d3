//! Delivering one batch: its traces' plans run on a few threads at once,
//! each trace within its own retry budget; new assessments go inline with
//! their trace.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use opentelemetry::trace::TraceId;
use serde_json::{Value, json};
use verdict::{Assessment, Operation, Outcome, Reason, SinkError, mlflow_trace_id};

use super::plan::{Step, TracePlan, plan};
use super::{Body, Failure, MlflowSink, Problem, Reply, same_assessment, server_message};
use crate::retry::{GaveUp, Retryable};

/// Fields of a trace's info that a `POST /api/3.0/mlflow/traces` on an
/// existing trace leaves alone when absent, and that would otherwise be
/// written back as read (a tag or metadata entry changed meanwhile by
/// someone else would be undone).
const LEFT_OUT: [&str; 5] = [
    "assessments",
    "tags",
    "trace_metadata",
    "request_preview",
    "response_preview",
];

/// What the server has of a trace, for inline creates.
enum TraceInfo {
    /// Its info as the server has it, without [`LEFT_OUT`] (what a `POST`
    /// of the trace must carry so as not to change it), and the assessments
    /// it holds by id (`None`: one that cannot be read).
    Ready {
        info: Value,
        existing: HashMap<String, Option<Assessment>>,
    },
    /// The server has some of its spans but not the root: an inline `POST`
    /// would freeze its time range, so its assessments are created one by
    /// one instead.
    InProgress,
    /// Its info as made from its root span, for a trace the server may not
    /// have yet: used to create it if the server answers that it lacks it.
    /// (Read first all the same: on a trace it has, sending back an
    /// assessment it holds would undo what happened to it since, such as
    /// being overridden.)
    FromRoot(Value),
}

impl MlflowSink {
    /// Delivers `batch`: one outcome per operation, in its order.
    pub(super) fn deliver(&self, batch: &[Operation]) -> Vec<Outcome> {
        self.deliver_known(batch, &HashMap::new())
    }

    /// [`deliver`](Self::deliver), with the info of some traces known
    /// already (`known`, by trace: what a `POST` of the trace carries, and
    /// whether the trace is new — sent nowhere before): their new
    /// assessments create the trace when the server does not have it yet.
    /// A trace not known to be new is read first all the same (see
    /// [`TraceInfo::FromRoot`]); a new one is created at once. The traces
    /// to read are read together, before any is written (see
    /// [`read_together`](Self::read_together)).
    pub(super) fn deliver_known(
        &self,
        batch: &[Operation],
        known: &HashMap<TraceId, (Value, bool)>,
    ) -> Vec<Outcome> {
        if self.deadline.passed() {
            let why = Reason::from(self.past_deadline());
            return vec![Outcome::Deferred(why); batch.len()];
        }
        let plans = plan(batch, self.config.max_inline);
        let infos: Vec<Mutex<Option<TraceInfo>>> = self
            .infos(&plans, known)
            .into_iter()
            .map(Mutex::new)
            .collect();
        let outcomes: Mutex<Vec<Option<Outcome>>> =
            Mutex::new(std::iter::repeat_with(|| None).take(batch.len()).collect());
        let down = AtomicBool::new(false);
        let next = AtomicUsize::new(0);
        let work = || {
            loop {
                let at = next.fetch_add(1, Ordering::Relaxed);
                let Some(trace) = plans.get(at) else {
                    break;
                };
                let info = infos[at].lock().unwrap_or_else(|e| e.into_inner()).take();
                let done = self.run_trace(batch, trace, info, &down);
                let mut outcomes = outcomes.lock().unwrap_or_else(|e| e.into_inner());
                for (index, outcome) in done {
                    outcomes[index] = Some(outcome);
                }
            }
        };
        let threads = plans.len().min(self.config.max_concurrency);
        std::thread::scope(|scope| {
            for _ in 1..threads {
                scope.spawn(work);
            }
            work();
        });
        outcomes
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .map(|outcome| outcome.unwrap_or_else(|| Outcome::deferred("not attempted")))
            .collect()
    }

    /// What each plan's trace starts from: its info when known to be new;
    /// otherwise, for a trace with assessments to create inline, what the
    /// server has of it, read for all such traces at once. `None` (and
    /// [`TraceInfo::FromRoot`]) leave the reading to
    /// [`create_inline`](Self::create_inline), one trace at a time, as when
    /// the server cannot read them together.
    fn infos(
        &self,
        plans: &[TracePlan],
        known: &HashMap<TraceId, (Value, bool)>,
    ) -> Vec<Option<TraceInfo>> {
        // A trace is read for its inline creates: those made from its root
        // (which may create it), and on a trace known only by id, those of
        // two assessments or more (one alone goes to the create endpoint,
        // which needs no read: see `run_trace`).
        let creates = |plan: &TracePlan| {
            let from_root = known.contains_key(&plan.trace_id);
            plan.steps
                .iter()
                .any(|s| matches!(s, Step::Inline(i) if from_root || i.len() > 1))
        };
        let to_read: Vec<TraceId> = plans
            .iter()
            .filter(|plan| creates(plan) && !matches!(known.get(&plan.trace_id), Some((_, true))))
            .map(|plan| plan.trace_id)
            .collect();
        // One trace is read as well on its own.
        let mut read = if to_read.len() > 1 {
            self.read_together(&to_read)
        } else {
            None
        };
        plans
            .iter()
            .map(|plan| {
                let trace = plan.trace_id;
                match (known.get(&trace), read.as_mut()) {
                    (Some((info, true)), _) => Some(TraceInfo::Ready {
                        info: info.clone(),
                        existing: HashMap::new(),
                    }),
                    (from_root, Some(read)) if creates(plan) => match read.remove(&trace) {
                        Some(found) => Some(found),
                        // The server lacks it: the first request creates it
                        // from its root, or, without one, waits for it.
                        None => from_root.map(|(root, _)| TraceInfo::Ready {
                            info: root.clone(),
                            existing: HashMap::new(),
                        }),
                    },
                    (from_root, _) => from_root.map(|(root, _)| TraceInfo::FromRoot(root.clone())),
                }
            })
            .collect()
    }

    /// What the server has of `traces`, read with
    /// `POST /api/3.0/mlflow/traces/batchGetInfos` (MLflow's client's
    /// `batch_get_trace_infos`), [`READ_TOGETHER`] a request: the same
    /// info a `GET` of each gives, for about a tenth of the server's time
    /// per trace. A trace it does not have is not in the map. `None` when
    /// the server does not answer so — one without the endpoint (an older
    /// MLflow; then not asked again), or a failure, which the reads one
    /// trace at a time that follow meet with their retries.
    fn read_together(&self, traces: &[TraceId]) -> Option<HashMap<TraceId, TraceInfo>> {
        if !self.reads_together.load(Ordering::Relaxed) {
            return None;
        }
        let url = format!(
            "{}/api/3.0/mlflow/traces/batchGetInfos",
            self.config.tracking_uri
        );
        let mut read = HashMap::with_capacity(traces.len());
        for chunk in traces.chunks(READ_TOGETHER) {
            let ids: Vec<String> = chunk.iter().map(|&t| mlflow_trace_id(t)).collect();
            let body = json!({ "trace_ids": ids });
            let text = match self.request("POST", &url, Body::Json(&body)) {
                Reply::Answer { status, body } if (200..300).contains(&status) => body,
                Reply::Answer {
                    status: 404 | 405 | 501,
                    ..
                } => {
                    self.reads_together.store(false, Ordering::Relaxed);
                    return None;
                }
                _ => return None,
            };
            let mut json: Value = serde_json::from_str(&text).ok()?;
            let Value::Array(infos) = json["trace_infos"].take() else {
                // `{}`: none of them.
                continue;
            };
            for info in infos {
                let trace = chunk
                    .iter()
                    .zip(&ids)
                    .find(|(_, id)| info["trace_id"].as_str() == Some(id.as_str()))
                    .map(|(&t, _)| t)?;
                read.insert(trace, parse_info(info).ok()?);
            }
        }
        Some(read)
    }

    /// Runs one trace's steps in order. A step that runs out of its retry
    /// budget defers it and the trace's later steps (their order matters);
    /// a step refused for good does not stop the next ones. A server found
    /// down (rather than a trace not there yet) stops the other traces too.
    fn run_trace(
        &self,
        batch: &[Operation],
        trace: &TracePlan,
        mut info: Option<TraceInfo>,
        down: &AtomicBool,
    ) -> Vec<(usize, Outcome)> {
        let mut done = Vec::new();
        let keep_going = || !down.load(Ordering::Relaxed) && !self.deadline.passed();
        for (at, step) in trace.steps.iter().enumerate() {
            if !keep_going() {
                let why = Reason::from(if self.deadline.passed() {
                    self.past_deadline()
                } else {
                    format!(
                        "not sent: MLflow at {} stopped answering during this batch",
                        self.shown_uri
                    )
                });
                done.extend(
                    trace
                        .indexes_from(at)
                        .map(|i| (i, Outcome::Deferred(why.clone()))),
                );
                return done;
            }
            let result = match step {
                Step::Single(index) => self.config.http.retry_policy().run_while(
                    keep_going,
                    self.waiting_for_trace(|| self.apply(&batch[*index])),
                ),
                // One new assessment on a trace not read: the create
                // endpoint takes it in one request, for about half what
                // reading the trace and writing it back costs the server.
                Step::Inline(indexes) if indexes.len() == 1 && info.is_none() => {
                    self.config.http.retry_policy().run_while(
                        keep_going,
                        self.waiting_for_trace(|| self.apply(&batch[indexes[0]])),
                    )
                }
                Step::Inline(indexes) => {
                    let assessments: Vec<&Assessment> = indexes
                        .iter()
                        .filter_map(|&i| match &batch[i] {
                            Operation::Log(a) => Some(a),
                            _ => None,
                        })
                        .collect();
                    let mut created = 0;
                    let result = self.config.http.retry_policy().run_while(
                        keep_going,
                        self.waiting_for_trace(|| {
                            self.create_inline(&assessments, &mut info, &mut created)
                        }),
                    );
                    match result {
                        // Ids the trace holds already: ours (sent before)
                        // are delivered, another's are refused.
                        Ok(taken) => {
                            for (position, &index) in indexes.iter().enumerate() {
                                let outcome = match taken.iter().find(|(p, _)| *p == position) {
                                    Some((_, why)) => Outcome::refused(why.as_str()),
                                    None => Outcome::Delivered,
                                };
                                done.push((index, outcome));
                            }
                            continue;
                        }
                        // Refused as a whole (a 400): try each on its own,
                        // so that only the bad ones are refused.
                        Err(gave_up) if !gave_up.transient => {
                            for &index in indexes {
                                let outcome = match self
                                    .config
                                    .http
                                    .retry_policy()
                                    .run_while(keep_going, || self.apply(&batch[index]))
                                {
                                    Ok(()) => Outcome::Delivered,
                                    Err(e) => self.outcome(&e, down),
                                };
                                done.push((index, outcome));
                            }
                            continue;
                        }
                        Err(gave_up) => Err(gave_up),
                    }
                }
            };
            match result {
                Ok(()) => done.extend(
                    trace
                        .indexes_from(at)
                        .take(step_len(step))
                        .map(|i| (i, Outcome::Delivered)),
                ),
                Err(gave_up) if gave_up.transient => {
                    let why = Reason::from(self.failed(&gave_up, down));
                    done.extend(
                        trace
                            .indexes_from(at)
                            .map(|i| (i, Outcome::Deferred(why.clone()))),
                    );
                    return done;
                }
                Err(gave_up) => {
                    let why = Reason::from(self.failed(&gave_up, down));
                    done.extend(
                        trace
                            .indexes_from(at)
                            .take(step_len(step))
                            .map(|i| (i, Outcome::Refused(why.clone()))),
                    );
                }
            }
        }
        done
    }

    /// Of `traces`, those the server answers it does not have: read
    /// together (see `read_together`), or, where
    /// the server cannot, a few at a time (up to
    /// [`MlflowConfig::max_concurrency`](super::MlflowConfig::max_concurrency)
    /// at once). A trace whose read fails otherwise (the server is down, or
    /// refuses) is not among them: its assessments then meet the usual
    /// retries.
    pub fn lacking(&self, traces: &[TraceId]) -> Vec<TraceId> {
        if traces.len() > 1
            && let Some(read) = self.read_together(traces)
        {
            return traces
                .iter()
                .filter(|t| !read.contains_key(t))
                .copied()
                .collect();
        }
        let lacking = Mutex::new(Vec::new());
        let next = AtomicUsize::new(0);
        let work = || {
            while let Some(&trace) = traces.get(next.fetch_add(1, Ordering::Relaxed)) {
                if let Err(Retryable::Transient(problem)) = self.trace_info(&mlflow_trace_id(trace))
                    && problem.trace_only
                {
                    lacking
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(trace);
                }
            }
        };
        std::thread::scope(|scope| {
            for _ in 1..traces.len().min(self.config.max_concurrency) {
                scope.spawn(work);
            }
            work();
        });
        let mut lacking = lacking.into_inner().unwrap_or_else(|e| e.into_inner());
        lacking.sort_by_key(|t| traces.iter().position(|u| u == t));
        lacking
    }

    /// `attempt`, giving up for now once the server has lacked the trace
    /// for longer than [`MlflowConfig::trace_wait`](super::MlflowConfig::trace_wait).
    fn waiting_for_trace<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T, Failure>,
    ) -> impl FnMut() -> Result<T, Failure> {
        let mut lacking_since: Option<Instant> = None;
        let wait = self.config.trace_wait;
        move || match attempt() {
            Err(Retryable::Transient(problem)) if problem.trace_only => {
                let since = *lacking_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= wait {
                    Err(Retryable::GiveUp(problem))
                } else {
                    Err(Retryable::Transient(problem))
                }
            }
            other => other,
        }
    }

    /// Why a step gave up; a transient failure that is not about the trace
    /// alone marks the server down.
    fn failed(&self, gave_up: &GaveUp<Problem>, down: &AtomicBool) -> String {
        if gave_up.transient && !gave_up.error.trace_only && !gave_up.at_deadline {
            down.store(true, Ordering::Relaxed);
        }
        self.gave_up_message(gave_up)
    }

    /// The outcome of a step that gave up.
    fn outcome(&self, gave_up: &GaveUp<Problem>, down: &AtomicBool) -> Outcome {
        let why = self.failed(gave_up, down);
        if gave_up.transient {
            Outcome::deferred(why)
        } else {
            Outcome::refused(why)
        }
    }

    /// Creates `assessments` (all of one trace) with one
    /// `POST /api/3.0/mlflow/traces` carrying the trace's info as the server
    /// has it, read first. Returns the positions of those refused because
    /// the trace holds another assessment with their id, and why.
    ///
    /// Those the trace holds already (sent before, by an attempt whose
    /// answer got lost or by a replay) are not sent again. The server
    /// upserts by id, so a retry of this request creates nothing twice
    /// either. On a trace still in progress, creates them one by one
    /// (`created` counts those done, across attempts).
    fn create_inline(
        &self,
        assessments: &[&Assessment],
        info: &mut Option<TraceInfo>,
        created: &mut usize,
    ) -> Result<Vec<(usize, String)>, Failure> {
        let Some(first) = assessments.first() else {
            return Ok(Vec::new());
        };
        let trace = mlflow_trace_id(first.trace_id());
        if !matches!(info, Some(TraceInfo::Ready { .. } | TraceInfo::InProgress)) {
            let from_root = match info.take() {
                Some(TraceInfo::FromRoot(root)) => Some(root),
                _ => None,
            };
            *info = Some(match (self.trace_info(&trace), from_root) {
                (Ok(found), _) => found,
                // Not there yet: this request creates it.
                (Err(Retryable::Transient(problem)), Some(root)) if problem.trace_only => {
                    TraceInfo::Ready {
                        info: root,
                        existing: HashMap::new(),
                    }
                }
                (Err(error), root) => {
                    *info = root.map(TraceInfo::FromRoot);
                    return Err(error);
                }
            });
        }
        let Some(TraceInfo::Ready {
            info: trace_info,
            existing,
        }) = info
        else {
            while let Some(a) = assessments.get(*created) {
                self.log(a)?;
                *created += 1;
            }
            return Ok(Vec::new());
        };
        let mut taken = Vec::new();
        let mut new = Vec::new();
        for (position, a) in assessments.iter().enumerate() {
            match existing.get(&a.id().to_string()) {
                None => new.push(*a),
                Some(Some(stored)) if same_assessment(stored, a) => {}
                Some(_) => taken.push((
                    position,
                    format!(
                        "MLflow at {} refused to create assessment {} on trace {trace}: the \
                         id is taken by another assessment",
                        self.shown_uri,
                        a.id()
                    ),
                )),
            }
        }
        if new.is_empty() {
            return Ok(taken);
        }
        let mut trace_info = trace_info.clone();
        trace_info["assessments"] = json!(new);
        let body = json!({ "trace": { "trace_info": trace_info } });
        let what = format!("create {} assessments on trace {trace}", new.len());
        let url = format!("{}/api/3.0/mlflow/traces", self.config.tracking_uri);
        match self.request("POST", &url, Body::Json(&body)) {
            // The trace is gone (deleted since it was read): read it again.
            Reply::Answer { status: 404, body } => {
                *info = None;
                Err(Retryable::Transient(Problem::trace_only(format!(
                    "MLflow at {} cannot {what}: HTTP 404 {}",
                    self.shown_uri,
                    server_message(&body)
                ))))
            }
            other => self.classify(&what, other).map(|_| taken),
        }
    }

    /// Reads what the server has of a trace. A trace it does not know yet
    /// is a transient failure of this trace alone: its spans may still be
    /// on their way.
    fn trace_info(&self, trace: &str) -> Result<TraceInfo, Failure> {
        let url = format!("{}/api/3.0/mlflow/traces/{trace}", self.config.tracking_uri);
        let what = format!("read trace {trace}");
        let body = match self.request("GET", &url, Body::None) {
            Reply::Answer { status: 404, body } => {
                return Err(Retryable::Transient(Problem::trace_only(format!(
                    "MLflow at {} does not have trace {trace} yet: HTTP 404 {}",
                    self.shown_uri,
                    server_message(&body)
                ))));
            }
            other => self.classify(&what, other)?,
        };
        let mut json: Value = serde_json::from_str(&body).map_err(|e| {
            Retryable::Permanent(Problem::new(format!(
                "MLflow at {} answered {what} with something that is not JSON ({e})",
                self.shown_uri
            )))
        })?;
        parse_info(json["trace"]["trace_info"].take()).map_err(|()| {
            Retryable::Permanent(Problem::new(format!(
                "MLflow at {} answered {what} without trace.trace_info",
                self.shown_uri
            )))
        })
    }
}

/// The most traces one `batchGetInfos` request reads.
const READ_TOGETHER: usize = 100;

/// A trace's info as the server answers it (`trace_info`, JSON), as
/// [`TraceInfo`]; `Err` when it is not an object.
fn parse_info(mut info: Value) -> Result<TraceInfo, ()> {
    let fields = info.as_object_mut().ok_or(())?;
    if fields.get("state").and_then(Value::as_str) == Some("IN_PROGRESS") {
        return Ok(TraceInfo::InProgress);
    }
    let existing = match fields.remove("assessments") {
        Some(Value::Array(list)) => list
            .into_iter()
            .filter_map(|a| {
                let id = a.get("assessment_id")?.as_str()?.to_owned();
                Some((id, serde_json::from_value::<Assessment>(a).ok()))
            })
            .collect(),
        _ => HashMap::new(),
    };
    for field in LEFT_OUT {
        fields.remove(field);
    }
    Ok(TraceInfo::Ready { info, existing })
}

fn step_len(step: &Step) -> usize {
    match step {
        Step::Inline(indexes) => indexes.len(),
        Step::Single(_) => 1,
    }
}

/// The batch's outcome for the recorder: `Ok` when all was delivered,
/// otherwise an error that carries every operation's outcome and quotes
/// the first reason of each kind.
pub(super) fn summarize(len: usize, outcomes: Vec<Outcome>) -> Result<(), SinkError> {
    let mut refused = 0;
    let mut deferred = 0;
    let mut first_refusal: Option<&Reason> = None;
    let mut first_deferral: Option<&Reason> = None;
    for outcome in &outcomes {
        match outcome {
            Outcome::Delivered | Outcome::Held | Outcome::Spooled => {}
            Outcome::Refused(why) => {
                refused += 1;
                first_refusal.get_or_insert(why);
            }
            Outcome::Deferred(why) => {
                deferred += 1;
                first_deferral.get_or_insert(why);
            }
        }
    }
    let failed = refused + deferred;
    if failed == 0 {
        return Ok(());
    }
    let message = match (first_refusal, first_deferral) {
        (Some(why), None) | (None, Some(why)) if failed == 1 => why.to_string(),
        (refusal, deferral) => {
            let mut parts = vec![format!("{failed} of {len} operations failed")];
            if let Some(why) = refusal {
                parts.push(format!("{refused} refused, the first: {why}"));
            }
            if let Some(why) = deferral {
                parts.push(format!(
                    "{deferred} not delivered for now, the first: {why}"
                ));
            }
            parts.join("; ")
        }
    };
    Err(SinkError::new(message).with_outcomes(outcomes))
}
