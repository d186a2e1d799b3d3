//! The host side of Verdict's scorers: loads plugins, knows the scorers by
//! name, and scores records on all cores, turning every outcome into a
//! feedback assessment.
//!
//! - [`Scorer`] is the one interface behind which compiled-in scorers
//!   ([`StaticScorer`]) and plugins ([`PluginScorer`]) stand.
//! - [`Plugin::load`] opens a dynamic library with `RTLD_NOW | RTLD_LOCAL`,
//!   once per canonical path, and never unloads it; it refuses, with a
//!   sentence a person can act on, a missing file, a library that is not a
//!   plugin, a plugin for another ABI version, one built with
//!   `panic = "abort"`, or a damaged descriptor ([`LoadError`]).
//! - [`Registry`] holds the built-in scorers and loaded plugins and makes
//!   scorers from specs such as `edit_distance:max_distance=3`
//!   ([`ScorerSpec`]).
//! - [`Runner`] scores many records with several scorers in parallel into
//!   [`Scores`], and [`to_feedback`] turns each result into a CODE feedback.
//!
//! Two decisions shape it. **Batches cross the boundary, not records**:
//! records are laid out once as borrowed views and handed to a scorer a
//! chunk at a time, so the cost of a plugin call is paid per chunk.
//! **No record is skipped**: a scorer that fails, panics or returns garbage
//! (NaN, invalid UTF-8, an unknown kind) gives that record an error result
//! — which becomes a feedback with an `AssessmentError` — and the run goes
//! on. And one more for speed: **a plugin writes the result the host
//! keeps** ([`Results`]): a 48-byte slot whose texts point at the plugin's
//! static text or at one text block per call, checked once (unless the
//! plugin vouches for them, as every plugin built with the kit does) and
//! never converted, so a loaded plugin costs what the same type compiled
//! in costs behind this interface, and 100 000 records × 3 scorers take
//! 14.4 MB plus the text the scorers make per record (an `Outcome` per
//! result took 16.8 MB plus one allocation per such text).
//!
//! **Features**, both on by default (the `verdict` command and
//! `verdict-eval` use them):
//!
//! - `plugins`: loading plugins from dynamic libraries — the `Plugin` and
//!   `PluginScorer` types, [`Registry::load_plugin`], `VERDICT_PLUGIN_PATH`
//!   and a path as a [`ScorerSpec`] — with libloading, and sha2 for the
//!   digest a plugin's feedback carries. Without it, a path is refused with
//!   a [`LoadError`] naming the feature.
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
mod plugin;
mod record;
mod registry;
mod runner;
mod scorer;
mod spec;

pub use error::LoadError;
pub use feedback::{
    SCORER_SHA256_KEY, SCORER_VERSION_KEY, feedback_builder, feedback_metadata, feedback_source,
    to_feedback,
};
#[cfg(feature = "plugins")]
pub use plugin::{PLUGIN_PATH_VAR, Plugin, PluginScorer, discover};
pub use record::{OwnedRecord, OwnedValue, expectation_views, record_views};
pub use registry::{MakeFn, Registry};
pub use runner::{RecordScores, Runner, Scores};
pub use scorer::{
    ConfigKeyInfo, Origin, SCORER_ERROR, SCORER_INVALID_RESULT, SCORER_PANIC, Scorer, ScorerInfo,
    StaticScorer,
};
pub use spec::{ScorerSpec, SpecTarget};
pub use verdict_plugin::{Results, ScoreRef, ScoreValueRef};

/// Scores one record with one scorer.
pub fn score_one(scorer: &dyn Scorer, record: &OwnedRecord) -> verdict_plugin::Outcome {
    let named = expectation_views(std::slice::from_ref(record));
    let views = record_views(std::slice::from_ref(record), &named);
    scorer.score(&views[0])
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
