//! The built-in scorers, compiled into the host.
//!
//! Each lives in its own plugin crate under `plugins/`, a plain dependency
//! of this one: the host links the scorer type and calls it directly
//! ([`StaticScorer`](crate::StaticScorer)), with the crate's own version.
//! The same crate builds as a dynamic library whose only entry point is
//! named for its scorer (`verdict_plugin_v1_exact_match`), which is why
//! several can be linked into one program: none exports the generic
//! `verdict_plugin_v1`, which only one of them could define (behind a
//! cargo feature it would still clash, since `--all-features` turns it on
//! for all of them at once). Compiling their source into this crate
//! instead (`#[path]` modules) was the alternative: it ran their unit
//! tests a second time here and gave them this crate's version.

use crate::registry::Registry;

/// Adds every built-in scorer to `registry`.
pub(crate) fn register(registry: &mut Registry) {
    registry.add_builtin::<verdict_exact_match::ExactMatch>();
    #[cfg(feature = "regex")]
    registry.add_builtin::<verdict_regex::RegexMatch>();
    registry.add_builtin::<verdict_edit_distance::EditDistance>();
    registry.add_builtin::<verdict_contains::Contains>();
    registry.add_builtin::<verdict_token_f1::TokenF1>();
    registry.add_builtin::<verdict_json::JsonMatch>();
    registry.add_builtin::<verdict_length::Length>();
    registry.add_builtin::<verdict_numeric::Numeric>();
    registry.add_builtin::<verdict_similarity::Similarity>();
    registry.add_builtin::<verdict_rouge::Rouge>();
    registry.add_builtin::<verdict_bleu::Bleu>();
    #[cfg(feature = "json-schema")]
    registry.add_builtin::<verdict_json_schema::JsonSchema>();
    // Trace scorers: handed each record's trace.
    registry.add_builtin::<verdict_latency::Latency>();
    registry.add_builtin::<verdict_span_status::SpanStatus>();
    registry.add_builtin::<verdict_tool_calls::ToolCalls>();
    registry.add_builtin::<verdict_attribute::Attribute>();
    registry.add_builtin::<verdict_token_budget::TokenBudget>();
}
