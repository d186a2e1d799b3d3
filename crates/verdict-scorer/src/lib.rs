//! The host side of Verdict's scorers: loads plugins, knows the scorers by
//! name, and scores records on all cores, turning every outcome into a
//! feedback assessment.
//!
//! - [`Scorer`] is the one interface behind which compiled-in scorers
//!   ([`StaticScorer`]) and plugins ([`PluginScorer`]) stand.
//! - [`Plugin::load`] opens a dynamic library in this process with
//!   `RTLD_NOW | RTLD_LOCAL`, once per canonical path, and never unloads
//!   it; it takes the entry point named for the scorer the file is named
//!   for, else the generic one, and a copy of its descriptor; it refuses,
//!   with a sentence a person can act on that names the file, a missing
//!   file, a directory, a loop of symbolic links, a library the system
//!   cannot load (with the loader's reason), one that is not a plugin, a
//!   plugin that needs a newer host, one built with `panic = "abort"`, or
//!   a damaged descriptor ([`LoadError`]).
//! - `IsolatedPlugin` reads a plugin in a worker process instead, and
//!   its scorers score there ([`Isolation`], Linux): see the trust model
//!   below.
//! - [`Registry`] holds the built-in scorers and plugins and makes
//!   scorers from specs such as `edit_distance:max_distance=3`
//!   ([`ScorerSpec`]); the plugins of `VERDICT_PLUGIN_PATH` are read only
//!   when needed, and a broken one is set aside, never fatal.
//! - [`Runner`] scores many records with several scorers in parallel into
//!   [`Scores`], and [`to_feedback`] turns each result into a CODE feedback.
//! - A record may carry its trace ([`OwnedTrace`]); a scorer that reads
//!   traces ([`ScorerInfo::needs_trace`]) is scored with
//!   [`Scorer::score_batch_traced`], and the runner lays out the trace
//!   views ([`TraceViews`]) of a chunk only when one of its scorers reads
//!   them, and hands them to those only.
//!
//! Two decisions shape it. **Batches cross the boundary, not records**:
//! records are laid out once as borrowed views and handed to a scorer a
//! chunk at a time, so the cost of a plugin call is paid per chunk.
//! **No record is skipped**: a scorer that fails, panics or returns garbage
//! (NaN, invalid UTF-8, an unknown kind, lengths and buffers that do not
//! hold up: see [`verdict_plugin::host`]) gives that record an error
//! result — which becomes a feedback with an `AssessmentError` — and the
//! run goes on. And one more for speed: **a plugin writes the result the host
//! keeps** ([`Results`]): a 48-byte slot whose texts point at the plugin's
//! static text or at one text block per call, checked once (unless the
//! plugin vouches for them, as every plugin built with the kit does) and
//! never converted, so a loaded plugin costs what the same type compiled
//! in costs behind this interface, and 100 000 records × 3 scorers take
//! 14.4 MB plus the text the scorers make per record (an `Outcome` per
//! result took 16.8 MB plus one allocation per such text).
//!
//! **The trust model.** A plugin is native code; in a process it can do
//! whatever that process can, and no check of what it returns stops it
//! from crashing, hanging, calling `exit` or taking all memory. So a
//! program that isolates plugins ([`Registry::isolate`], as the `verdict`
//! command does on Linux) has every plugin that is not built in read and
//! run by worker processes, fed whole batches through shared memory. A
//! crash, a fatal signal or an `exit` there gives the batch's records an
//! error feedback ([`SCORER_CRASHED`], naming the signal or status), a
//! batch over its time limit is killed ([`SCORER_TIMEOUT`]), a worker at
//! its memory limit ([`SCORER_OOM`]); a new worker takes the next batch,
//! and the run goes on. A plugin whose library constructor crashes or
//! exits is refused when read, and the host never opens it. Whatever a
//! worker sends back is bounded and checked before use. What it costs: a
//! round trip to another process per batch, and a process per runner
//! thread. What it is not: a sandbox — a worker runs as the same user,
//! with the same files and network. Built-in scorers, and plugins the
//! user trusts ([`Registry::trust`]), run in this process at native
//! speed, where nothing protects the host from them: a crash or a hang
//! is the host's, and `exit` ends it (the `verdict` command turns that
//! into a failing status; `_exit` and fatal signals cannot be caught).
//! Without isolation (the library's default, for programs that have no
//! worker mode) every plugin runs in this process.
//!
//! **Features**, both on by default (the `verdict` command and
//! `verdict-eval` use them):
//!
//! - `plugins`: loading plugins from dynamic libraries — the `Plugin` and
//!   `PluginScorer` types, isolation in worker processes, [`Registry::load_plugin`],
//!   `VERDICT_PLUGIN_PATH` and a path as a [`ScorerSpec`] — with
//!   libloading, sha2 for the digest a plugin's feedback carries, and libc
//!   for the workers. Without it, a path is refused with a [`LoadError`]
//!   naming the feature.
//! - `regex`: the built-in `regex` scorer, with the regex crate.
//!
//! A service that scores inline with the other built-in scorers writes
//! `verdict-scorer = { version = "0.1", default-features = false }`. The
//! decision: **a feature for the one built-in scorer with dependencies of
//! its own**: regex's engine is the largest part of the built-ins' build,
//! and a service that does not match patterns should not compile it; the
//! others need only exact match's Unicode normalization, one small
//! crate, so a feature each, the alternative, would add switches that save
//! next to nothing.
#![deny(missing_docs)]

mod builtins;
mod error;
mod feedback;
#[cfg(feature = "plugins")]
mod isolation;
#[cfg(feature = "plugins")]
mod plugin;
#[cfg(feature = "plugins")]
mod plugin_set;
mod record;
mod registry;
mod runner;
mod scorer;
#[cfg(all(feature = "plugins", unix))]
mod signal;
mod spec;
mod trace_views;

pub use error::LoadError;
pub use feedback::{
    SCORER_SHA256_KEY, SCORER_VERSION_KEY, feedback_builder, feedback_metadata, feedback_source,
    to_feedback,
};
#[cfg(all(feature = "plugins", target_os = "linux"))]
pub use isolation::{IsolatedPlugin, IsolatedScorer, serve_worker};
#[cfg(feature = "plugins")]
pub use isolation::{Isolation, SCORER_CRASHED, SCORER_OOM, SCORER_TIMEOUT};
#[cfg(feature = "plugins")]
pub use plugin::{PLUGIN_PATH_VAR, Plugin, PluginScorer, discover};
pub use record::{
    OwnedEvent, OwnedRecord, OwnedSpan, OwnedTrace, OwnedValue, expectation_views, record_views,
};
pub use registry::{MakeFn, Registry};
pub use runner::{RecordScores, Runner, Scores};
pub use scorer::{
    ConfigKeyInfo, Origin, SCORER_ERROR, SCORER_INVALID_RESULT, SCORER_PANIC, Scorer, ScorerInfo,
    StaticScorer,
};
#[cfg(all(feature = "plugins", unix))]
pub use signal::signal_name;
pub use spec::{ScorerSpec, SpecTarget};
pub use trace_views::TraceViews;
pub use verdict_plugin::{Results, ScoreRef, ScoreValueRef};

/// Scores one record with one scorer (with its trace, when the scorer
/// reads traces).
pub fn score_one(scorer: &dyn Scorer, record: &OwnedRecord) -> verdict_plugin::Outcome {
    let records = std::slice::from_ref(record);
    let named = expectation_views(records);
    let views = record_views(records, &named);
    if !scorer.info().needs_trace {
        return scorer.score(&views[0]);
    }
    let traces = TraceViews::of(records);
    let mut out = Results::with_capacity(1);
    scorer.score_batch_traced(&views, traces.traces(), &mut out);
    out.get(0).map_or_else(
        || {
            Err(verdict_plugin::host::invalid(
                "the scorer returned no result",
            ))
        },
        |r| r.outcome(),
    )
}

/// Scores one record into the feedback it becomes ([`to_feedback`]),
/// attached to `target`: the one call a service makes to judge an answer
/// inline. A record the scorer fails on gives a feedback that carries the
/// error, so that it is recorded and counted rather than lost; the `Err`
/// is only for a feedback that cannot be built (an invalid target).
///
/// ```
/// use verdict::Target;
/// use verdict_scorer::{OwnedRecord, Registry, ScorerSpec, score_to_feedback};
///
/// let registry = Registry::with_builtins();
/// let exact = registry.create(&"exact_match".parse::<ScorerSpec>()?)?;
/// let record = OwnedRecord::new("capital of France?", "Paris")
///     .with_expectation("expected_response", "Paris");
/// let target = Target::trace(verdict::opentelemetry::trace::TraceId::from(7u128))?;
/// let feedback = score_to_feedback(exact.as_ref(), &record, target)?;
/// assert_eq!(feedback.name().as_str(), "exact_match");
/// assert_eq!(feedback.feedback_value(), Some(&verdict::FeedbackValue::Bool(true)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn score_to_feedback(
    scorer: &dyn Scorer,
    record: &OwnedRecord,
    target: verdict::Target,
) -> verdict::Result<verdict::Assessment> {
    let mut results = Results::with_capacity(1);
    results.push(&score_one(scorer, record));
    // `push` adds exactly one result, checked as a plugin's would be.
    let score = results.get(0).expect("one result was pushed");
    to_feedback(scorer.info(), score, target)
}
