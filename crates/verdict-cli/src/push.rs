//! `verdict push`: send each destination — an MLflow server, a Phoenix
//! server, an OTLP collector, a JSONL file — exactly what it has not seen
//! of the local store, deletes included, through the same destinations as
//! `verdict eval --export` ([`verdict_eval::Destination`]).
//!
//! The store logs every change (`verdict_export::replay` says how the
//! operations become what is sent) and keeps, per destination, which of
//! them it was delivered; a push reads the unseen ones, sends them a chunk
//! of traces at a time, spans before assessments, and records what each
//! destination took. What it did not take is sent again by the next push,
//! and a push that finds nothing new sends nothing. `--again` sends
//! everything once more (to a server that was wiped); `--run` one run's
//! records and what was logged on its traces; `--trace` named traces.
//!
//! A destination says what became of each span and operation (OTLP,
//! MLflow, Phoenix): the push counts exactly, names the traces, and
//! settles item by item — what was delivered is seen; what was refused,
//! deferred, or only kept to send later (held, or written to a local spool:
//! not at the destination) is counted as not delivered, recorded with its
//! reason and sent again by the next push, and the push exits 1.
//! One that gives no outcome per item (a JSONL file that failed
//! mid-write) has its whole chunk counted, of which some may have arrived.
//! `--to jsonl:-` writes the lines to standard output, the summary then
//! goes to standard error so that the lines can be piped, and, keeping
//! nothing, it is always sent everything.
//!
//! To MLflow, a chunk's traces are created with their assessments, one
//! request each, after one read of up to 100 of them at once
//! (`batchGetInfos`), not one `GET` per trace. None is created without
//! that read, even where the operation log shows that this store never
//! sent the destination anything of it: the log knows what this store
//! sent and settled, not what the server has. Spans a service stored here
//! may have reached MLflow by another path (its own exporter), and a push
//! or `eval --export` stopped between its requests and recording them
//! leaves no trace in the log; a trace created unread over one of those
//! would get this store's time, state and metadata (`mlflow.user`,
//! `mlflow.source.*`, previews) written over its own, and assessments
//! overridden in MLflow since would be made valid again. Read together,
//! the check costs the server about 0.1 ms for a trace it lacks (12 ms
//! for 100, BENCHMARKS.md) against about 40 ms to create it: what a push
//! of traces MLflow never saw would save by skipping it is under 1 %.

use std::collections::HashSet;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use verdict::opentelemetry::trace::TraceId;
use verdict::{Operation, mlflow_trace_id};
use verdict_eval::{Interrupt, Outputs};
use verdict_export::replay::{Ledger, Replay, TRACES_PER_CHUNK};
use verdict_export::{Destination, ExportTarget};
use verdict_export::{JsonlSink, LocalStore, OpScope, StoredSpan};

use crate::cli::PushArgs;
use crate::store::{open_existing, parse_trace, require_trace};
use crate::summary::Summary;

/// One destination and what it took.
struct Delivery {
    target: ExportTarget,
    receiver: Receiver,
    spans_sent: usize,
    logs_sent: usize,
    updates_sent: usize,
    deletes_sent: usize,
    traces_sent: usize,
    spans_failed: usize,
    assessments_failed: usize,
    /// The traces of what was not delivered, when the destination said.
    traces_failed: Vec<TraceId>,
    /// Traces of chunks the destination failed without an outcome per
    /// item: the whole chunk is counted as not delivered.
    traces_uncounted: usize,
    errors: Vec<String>,
    /// Standard output was closed by its reader (`| head`): not a failure,
    /// and nothing more is written to it.
    reader_gone: bool,
    /// Unseen operations when the push started.
    unseen: usize,
}

/// Where a `--to` goes: a [`Destination`], or standard output for
/// `jsonl:-`, kept here as the sink itself so that a reader that stops
/// reading shows as a closed pipe (a `Destination` reports it as text).
enum Receiver {
    Destination(Destination),
    Stdout(JsonlSink),
}

impl Receiver {
    fn open(target: &ExportTarget) -> anyhow::Result<Receiver> {
        Ok(if target.is_stdout() {
            Receiver::Stdout(JsonlSink::stdout())
        } else {
            // Ctrl-C ends a push at once (what it had not recorded as
            // delivered is sent by the next one): nothing raises this, but
            // retries that go on are told on standard error.
            Receiver::Destination(crate::target::open(target.clone(), &Interrupt::new())?)
        })
    }

    /// Its key in the store's record of deliveries; `None` for standard
    /// output, which is sent everything every time.
    fn key(&self) -> Option<String> {
        match self {
            Receiver::Destination(destination) => destination.key(),
            Receiver::Stdout(_) => None,
        }
    }

    fn send(
        &self,
        spans: &[StoredSpan],
        stand_ins: &[StoredSpan],
        operations: &[Operation],
    ) -> anyhow::Result<()> {
        match self {
            Receiver::Destination(destination) => {
                Ok(destination.send_standing_in(spans, stand_ins, operations)?)
            }
            Receiver::Stdout(sink) => {
                sink.write_stored_spans(spans)?;
                Ok(sink.write_operations(operations)?)
            }
        }
    }

    fn finish(&self) -> anyhow::Result<()> {
        match self {
            Receiver::Destination(destination) => Ok(destination.finish()?),
            Receiver::Stdout(sink) => Ok(sink.flush()?),
        }
    }
}

/// Whether the error is a closed pipe: `verdict push --to jsonl:- | head`.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub(crate) fn run(args: &PushArgs) -> anyhow::Result<ExitCode> {
    let targets = args
        .to
        .iter()
        .map(|t| crate::target::parse(t).with_context(|| format!("--to {t}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // A JSONL file written over the store would destroy it.
    let mut outputs = Outputs::new().store(&args.store.path);
    for target in &targets {
        if target.is_stdout() {
            outputs = outputs.standard_output("--to jsonl:-");
        } else if let ExportTarget::Jsonl(path) = target {
            outputs = outputs.output("--to", path);
        }
    }
    outputs.check()?;
    let store = open_existing(&args.store.path)?;
    let only = traces(&store, &args.traces)?;
    let scope = match &args.run {
        Some(run) => OpScope::Run(run),
        None => OpScope::All,
    };
    if let Some(run) = &args.run
        && store.run(run)?.is_none()
    {
        anyhow::bail!("no run {run} in the store {}", store.path().display());
    }
    let summary_to_stderr = targets.iter().any(ExportTarget::is_stdout);
    let mut deliveries = Vec::with_capacity(targets.len());
    for target in targets {
        deliveries.push(Delivery {
            receiver: Receiver::open(&target)?,
            target,
            spans_sent: 0,
            logs_sent: 0,
            updates_sent: 0,
            deletes_sent: 0,
            traces_sent: 0,
            spans_failed: 0,
            assessments_failed: 0,
            traces_failed: Vec::new(),
            traces_uncounted: 0,
            errors: Vec::new(),
            reader_gone: false,
            unseen: 0,
        });
    }

    for delivery in &mut deliveries {
        push_to(&store, delivery, scope, only.as_ref(), args.again)?;
    }

    // What was delivered decides the exit code: a reader that stops
    // reading the summary changes nothing.
    let mut out = if summary_to_stderr {
        Summary::stderr()
    } else {
        Summary::stdout()
    };
    let mut all_delivered = true;
    for delivery in &deliveries {
        let changes = changes(delivery);
        if delivery.reader_gone {
            let _ = writeln!(
                out,
                "stopped pushing to {} when its reader stopped reading ({} spans and {} \
                 assessments had been written in full{changes})",
                delivery.target, delivery.spans_sent, delivery.logs_sent
            );
        } else if delivery.unseen == 0 {
            let _ = writeln!(
                out,
                "nothing new to push to {}: it has everything the store holds",
                delivery.target
            );
        } else {
            let _ = writeln!(
                out,
                "pushed {} spans and {} assessments of {} traces to {}{changes}",
                delivery.spans_sent, delivery.logs_sent, delivery.traces_sent, delivery.target
            );
        }
        if !delivery.errors.is_empty() {
            all_delivered = false;
            if delivery.spans_failed + delivery.assessments_failed == 0 {
                // Every chunk was taken, but what was buffered was not
                // delivered at the end.
                eprintln!(
                    "error: not everything was delivered to {}:",
                    delivery.target
                );
            } else {
                eprintln!("error: {}:", not_delivered(delivery));
            }
            // A server's answer is quoted in them: shown, never acted on.
            for error in &delivery.errors {
                eprintln!("  {}", verdict_eval::report::visible(error));
            }
            if !delivery.traces_failed.is_empty() {
                eprintln!(
                    "  not delivered: {}",
                    listed(&delivery.traces_failed, TRACES_LISTED)
                );
            }
            eprintln!("  `verdict push` sends what was not delivered again");
        }
    }
    Ok(out.finish(if all_delivered { 0 } else { 1 }))
}

impl Delivery {
    /// Counts delivered operations by kind.
    fn count_sent<'a>(&mut self, operations: impl Iterator<Item = &'a Operation>) {
        for operation in operations {
            match operation {
                Operation::Log(_) => self.logs_sent += 1,
                Operation::Update(_) => self.updates_sent += 1,
                Operation::Delete { .. } => self.deletes_sent += 1,
            }
        }
    }
}

/// ", with N updates and M deletes" when there were any.
fn changes(delivery: &Delivery) -> String {
    let mut parts = Vec::new();
    if delivery.updates_sent > 0 {
        parts.push(format!("{} updates", delivery.updates_sent));
    }
    if delivery.deletes_sent > 0 {
        parts.push(format!("{} deletes", delivery.deletes_sent));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(", with {}", parts.join(" and "))
    }
}

/// Sends one destination what it has not seen (everything, with
/// `again`), and records what it took.
fn push_to(
    store: &LocalStore,
    delivery: &mut Delivery,
    scope: OpScope<'_>,
    only: Option<&HashSet<TraceId>>,
    again: bool,
) -> anyhow::Result<()> {
    let key = delivery.receiver.key();
    let unseen = store.unseen(if again { None } else { key.as_deref() }, scope)?;
    let mut replay = Replay::new(store, unseen, only.cloned())?;
    delivery.unseen = replay.operations();
    let mut ledger = Ledger::default();
    while let Some(chunk) = replay.next_chunk()? {
        if chunk.is_empty() {
            ledger.delivered(&chunk);
            continue;
        }
        match delivery
            .receiver
            .send(&chunk.spans, &chunk.stand_ins, &chunk.operations)
        {
            Ok(()) => {
                ledger.delivered(&chunk);
                delivery.spans_sent += chunk.spans.len();
                delivery.traces_sent += chunk.traces();
                delivery.count_sent(chunk.operations.iter());
            }
            Err(e) if is_broken_pipe(&e) => {
                delivery.reader_gone = true;
                return Ok(());
            }
            Err(e) => {
                let message = crate::message(&e);
                let undelivered = e
                    .downcast_ref::<verdict_export::DeliveryError>()
                    .and_then(|e| e.undelivered.as_ref());
                match undelivered {
                    Some(u) => {
                        // Settled item by item: what was delivered is
                        // delivered, the rest sent again by the next push.
                        ledger.outcomes(&chunk, &u.span_outcomes, &u.operation_outcomes);
                        delivery.spans_sent += u.span_outcomes.delivered();
                        delivery.count_sent(
                            u.operation_outcomes
                                .delivered_at()
                                .into_iter()
                                .map(|i| &chunk.operations[i]),
                        );
                        delivery.spans_failed += u.spans;
                        delivery.assessments_failed += u.operations;
                        delivery.traces_failed.extend(&u.traces);
                    }
                    None => {
                        delivery.spans_failed += chunk.spans.len();
                        delivery.assessments_failed += chunk.operations.len();
                        delivery.traces_uncounted += chunk.traces();
                        ledger.failed(&chunk, &message);
                    }
                }
                delivery.errors.push(message);
            }
        }
    }
    match delivery.receiver.finish() {
        Ok(()) => {}
        Err(e) if is_broken_pipe(&e) => {
            delivery.reader_gone = true;
            return Ok(());
        }
        Err(e) => {
            let message = crate::message(&e);
            ledger.fail_all(&message);
            delivery.errors.push(message);
        }
    }
    if let Some(key) = key {
        let whole = matches!(scope, OpScope::All) && only.is_none();
        store.settle(&key, &ledger.settlement(whole.then_some(replay.snapshot())))?;
    }
    Ok(())
}

/// How many failed traces are named in the summary.
const TRACES_LISTED: usize = 10;

/// "N spans and M assessments of K traces were not delivered to X", with
/// what is exact and what is not.
fn not_delivered(delivery: &Delivery) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut text = format!(
        "{} and {}",
        plural(delivery.spans_failed, "span", "spans"),
        plural(delivery.assessments_failed, "assessment", "assessments")
    );
    if delivery.traces_uncounted == 0 {
        text += &format!(
            " of {}",
            plural(delivery.traces_failed.len(), "trace", "traces")
        );
    }
    text += &format!(" were not delivered to {}", delivery.target);
    let mut notes = Vec::new();
    if delivery.traces_uncounted > 0 {
        notes.push(format!(
            "{} counted whole, by chunk of up to {TRACES_PER_CHUNK} traces, where it gave no \
             count: some of those may have arrived",
            plural(delivery.traces_uncounted, "trace", "traces")
        ));
    }
    if !notes.is_empty() {
        text += &format!(" ({})", notes.join("; "));
    }
    text
}

/// Trace ids as MLflow writes them, the first `most`, then how many more.
fn listed(traces: &[TraceId], most: usize) -> String {
    let mut text = traces
        .iter()
        .take(most)
        .map(|&t| mlflow_trace_id(t))
        .collect::<Vec<_>>()
        .join(", ");
    if traces.len() > most {
        text += &format!(" and {} more", traces.len() - most);
    }
    text
}

/// The traces to push when some are named (each must be in the store).
fn traces(store: &LocalStore, named: &[String]) -> anyhow::Result<Option<HashSet<TraceId>>> {
    if named.is_empty() {
        return Ok(None);
    }
    let mut traces = HashSet::with_capacity(named.len());
    for text in named {
        let trace_id = parse_trace(text)?;
        require_trace(store, trace_id)?;
        traces.insert(trace_id);
    }
    Ok(Some(traces))
}
