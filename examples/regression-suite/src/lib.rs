//! A regression suite as a team would keep one: the QA dataset of
//! `examples/data` scored by `cargo test`, failing when a gate fails.
//!
//! The suite is in `tests/qa.rs`; this library holds only the paths it
//! reads, so that they are written once.

/// The dataset: 300 questions, each with the system's answer and the
/// expected one.
pub const DATASET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/qa.jsonl");

/// The suite's scorers, criteria and gates.
pub const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/verdict.toml");
