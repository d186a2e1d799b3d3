//! Records with their traces, scored by plugins of both ABI versions side
//! by side: a C plugin built against the first header (before traces)
//! scores as it did, and a C trace scorer built against today's header
//! reads each record's trace, in this process and in a worker process;
//! a Rust plugin with the descriptor the kit made before traces does too.

mod common;

use std::path::Path;

use common::{build_c_plugin, build_c_plugin_against, built, library_file, v1_header};
use verdict_scorer::{OwnedRecord, OwnedSpan, OwnedTrace, Registry, Runner, Scorer, Scores};

/// Serves as a worker when this binary was started as one (see
/// `tests/isolation.rs`).
#[test]
fn worker() {
    let started_as_worker = std::fs::read_link("/proc/self/fd/0")
        .is_ok_and(|p| p.to_string_lossy().contains("memfd:verdict-plugin-worker"));
    if started_as_worker {
        let served = verdict_scorer::serve_worker();
        std::process::exit(i32::from(served.is_err()));
    }
}

fn span(name: &str, id: u8, parent: Option<u8>, error: bool, tokens: Option<i64>) -> OwnedSpan {
    let mut span = OwnedSpan {
        trace_id: [9; 16],
        span_id: [id; 8],
        parent_span_id: parent.map(|p| [p; 8]),
        name: name.into(),
        status_code: if error { 2 } else { 0 },
        start_time_unix_nano: 1_000 * u64::from(id),
        end_time_unix_nano: 1_000 * u64::from(id) + 500,
        ..OwnedSpan::default()
    };
    if let Some(tokens) = tokens {
        span = span.with_attribute("gen_ai.usage.output_tokens", serde_json::json!(tokens));
    }
    span
}

/// Three records: a trace of three spans (one failed), none, a trace of
/// one span; each with its expectation.
fn records() -> Vec<OwnedRecord> {
    let three = OwnedTrace {
        spans: vec![
            span("tool", 2, Some(1), true, Some(5)),
            span("agent", 1, None, false, Some(37)),
            span("llm", 3, Some(1), false, None),
        ],
    };
    let one = OwnedTrace {
        spans: vec![span("solo", 1, None, false, None)],
    };
    vec![
        OwnedRecord::new("q", "ok")
            .with_expectation("expected_response", "ok")
            .with_trace(three),
        OwnedRecord::new("q", "ok").with_expectation("expected_response", "ok"),
        OwnedRecord::new("q", "no")
            .with_expectation("expected_response", "ok")
            .with_trace(one),
    ]
}

/// The old plugin, the trace plugin and the built-in exact match, made by
/// `registry`, which loaded the two C plugins.
fn scorers(registry: &Registry) -> Vec<Box<dyn Scorer>> {
    ["c_exact_match", "c_trace_spans", "exact_match"]
        .iter()
        .map(|name| registry.create(&name.parse().unwrap()).unwrap())
        .collect()
}

fn build(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let old = build_c_plugin_against("exact_match.c", dir, "c_exact_match", &v1_header());
    let traced = build_c_plugin("trace_spans.c", dir, "c_trace_spans");
    (old, traced)
}

fn check(scores: &Scores) {
    // The old plugin and the built-in: as without traces.
    for (record, want) in [(0, true), (1, true), (2, false)] {
        for scorer in [0, 2] {
            let score = scores.get(record, scorer);
            assert_eq!(
                score.value(),
                Some(verdict_scorer::ScoreValueRef::Bool(want)),
                "record {record}, scorer {scorer}: {:?}",
                score.outcome()
            );
        }
    }
    // The trace scorer: each record's own trace.
    let first = scores.get(0, 1);
    assert_eq!(first.number(), Some(3.0), "{:?}", first.outcome());
    assert_eq!(
        first.rationale(),
        Some("root agent, 1 failed, 42 output tokens")
    );
    assert_eq!(
        scores.get(1, 1).error(),
        Some(("MISSING_TRACE", "the record has no trace"))
    );
    let third = scores.get(2, 1);
    assert_eq!(third.number(), Some(1.0));
    assert_eq!(
        third.rationale(),
        Some("root solo, 0 failed, 0 output tokens")
    );
}

#[test]
fn an_old_plugin_and_a_trace_scorer_score_side_by_side_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let (old, traced) = build(dir.path());
    let mut registry = Registry::with_builtins();
    registry.load_plugin(&old).unwrap();
    registry.load_plugin(&traced).unwrap();
    let info = |name: &str| {
        registry
            .scorers()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap()
    };
    assert!(info("c_trace_spans").needs_trace);
    assert!(!info("c_exact_match").needs_trace);
    assert!(!info("exact_match").needs_trace);
    // Across chunks and threads, each record keeps its own trace.
    let records: Vec<OwnedRecord> = std::iter::repeat_n(records(), 40).flatten().collect();
    let runner = Runner::new(scorers(&registry)).threads(3).chunk_size(7);
    let scores = runner.score(&records);
    for i in (0..records.len()).step_by(3) {
        let part = runner.score(&records[i..i + 3]);
        for s in 0..3 {
            assert_eq!(
                scores.get(i + 1, s).outcome(),
                part.get(1, s).outcome(),
                "record {}",
                i + 1
            );
        }
    }
    check(&runner.score(&records[..3]));
}

#[test]
fn a_trace_scorer_in_a_worker_process_reads_the_trace_sent_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let (old, traced) = build(dir.path());
    let isolation = verdict_scorer::Isolation::new(std::env::current_exe().unwrap())
        .arg("worker")
        .arg("--exact")
        .arg("--quiet")
        .arg("--test-threads=1");
    let mut registry = Registry::with_builtins();
    registry.isolate(isolation);
    registry.load_plugin(&old).unwrap();
    registry.load_plugin(&traced).unwrap();
    let runner = Runner::new(scorers(&registry)).threads(1);
    check(&runner.score(&records()));
}

#[test]
fn a_rust_plugin_with_the_kits_v1_descriptor_scores_beside_a_trace_scorer() {
    let dir = tempfile::tempdir().unwrap();
    let kit_v1 = dir.path().join(library_file("kit_v1"));
    std::fs::copy(built("verdict-test-abi-versions"), &kit_v1).unwrap();
    let traced = build_c_plugin("trace_spans.c", dir.path(), "c_trace_spans");
    let mut registry = Registry::new();
    let info = registry.load_plugin(&kit_v1).unwrap();
    assert_eq!((info.name.as_str(), info.needs_trace), ("kit_v1", false));
    registry.load_plugin(&traced).unwrap();
    let scorers = ["kit_v1", "c_trace_spans"]
        .iter()
        .map(|name| registry.create(&name.parse().unwrap()).unwrap())
        .collect();
    let scores = Runner::new(scorers).threads(1).score(&records());
    for record in 0..3 {
        assert_eq!(
            scores.get(record, 0).value(),
            Some(verdict_scorer::ScoreValueRef::Bool(true)),
            "record {record}"
        );
    }
    assert_eq!(scores.get(0, 1).number(), Some(3.0));
    assert_eq!(scores.get(1, 1).error().map(|e| e.0), Some("MISSING_TRACE"));
}
