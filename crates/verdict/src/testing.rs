//! Tests a store's lifecycle against the rules, so that every store gives
//! the same answers as [`MemoryStore`]. Enabled by the `testing` feature.
//!
//! A store under test implements [`AssessmentStore`]; its own test suite
//! then calls [`check_lifecycle`] (a scripted walk through every rule) and
//! [`check_same_as_memory`] (any sequence of operations gives the same
//! results and the same final state as the in-memory store).
//!
//! ```
//! use verdict::MemoryStore;
//!
//! verdict::testing::check_lifecycle(&MemoryStore::default());
//! ```

use std::mem::discriminant;

use opentelemetry::trace::TraceId;

use crate::aggregate::FeedbackSummary;
use crate::assessment::Assessment;
use crate::error::{Error, Result};
use crate::ids::AssessmentId;
use crate::lifecycle::AssessmentUpdate;
use crate::memory::MemoryStore;
use crate::sink::Operation;
use crate::target::Target;
use crate::value::AssessmentError;

/// What a store offers for reading back assessments, so that stores can be
/// compared.
pub trait AssessmentStore {
    /// Applies one operation with the rules of [`crate::lifecycle`].
    fn apply(&self, operation: &Operation) -> Result<()>;
    /// The assessment with this id in this trace, or [`Error::NotFound`].
    fn get(&self, trace_id: TraceId, id: AssessmentId) -> Result<Assessment>;
    /// The assessments of a trace in the order logged.
    fn list_by_trace(&self, trace_id: TraceId) -> Result<Vec<Assessment>>;
    /// The assessments with this name, ordered by creation time, then by
    /// the order logged.
    fn list_by_name(&self, name: &str) -> Result<Vec<Assessment>>;
}

impl AssessmentStore for MemoryStore {
    fn apply(&self, operation: &Operation) -> Result<()> {
        MemoryStore::apply(self, operation)
    }

    fn get(&self, trace_id: TraceId, id: AssessmentId) -> Result<Assessment> {
        MemoryStore::get(self, trace_id, id)
    }

    fn list_by_trace(&self, trace_id: TraceId) -> Result<Vec<Assessment>> {
        Ok(MemoryStore::list_by_trace(self, trace_id))
    }

    fn list_by_name(&self, name: &str) -> Result<Vec<Assessment>> {
        Ok(MemoryStore::list_by_name(self, name))
    }
}

fn target(trace: &str, span: Option<&str>) -> Target {
    Target::parse(trace, span).expect("valid test ids")
}

const TRACE_A: &str = "0fb07256509eb9d22d07f42f7eb9f24d";
const TRACE_B: &str = "1fb07256509eb9d22d07f42f7eb9f24d";

fn log(store: &dyn AssessmentStore, a: &Assessment) {
    store
        .apply(&Operation::Log(a.clone()))
        .unwrap_or_else(|e| panic!("logging {} failed: {e}", a.id()));
}

fn assert_err(result: Result<()>, expected: fn(&Error) -> bool, what: &str) {
    match result {
        Err(e) if expected(&e) => {}
        Err(e) => panic!("{what}: wrong error: {e}"),
        Ok(()) => panic!("{what}: succeeded, but should have failed"),
    }
}

/// Walks `store` (which must start empty) through every lifecycle rule and
/// panics with a description of the first rule it breaks.
pub fn check_lifecycle(store: &dyn AssessmentStore) {
    let span = target(TRACE_A, Some("71492b10072d70de"));
    let trace_a = span.trace_id();
    let trace_b = target(TRACE_B, None).trace_id();

    // Log: feedback on a span, an expectation, feedback on the whole trace.
    let judged = Assessment::feedback("correctness", false)
        .rationale("differs from the reference")
        .metadata("scorer.version", "1")
        .run_id("run-1")
        .on(span)
        .unwrap();
    let expected = Assessment::expectation("expected_response", serde_json::json!({"a": [1, 2]}))
        .on(span)
        .unwrap();
    let whole = Assessment::feedback_error("judge", AssessmentError::new("TIMEOUT"))
        .on(target(TRACE_A, None))
        .unwrap();
    let elsewhere = Assessment::feedback("correctness", true)
        .on(target(TRACE_B, None))
        .unwrap();
    for a in [&judged, &expected, &whole, &elsewhere] {
        log(store, a);
    }
    assert_eq!(store.get(trace_a, judged.id()).unwrap(), judged, "get");
    assert_eq!(
        store.list_by_trace(trace_a).unwrap(),
        vec![judged.clone(), expected.clone(), whole.clone()],
        "list by trace, in the order logged"
    );
    assert_eq!(
        store.list_by_name("correctness").unwrap().len(),
        2,
        "list by name spans traces"
    );
    assert_err(
        store.get(trace_b, judged.id()).map(drop),
        |e| matches!(e, Error::NotFound { .. }),
        "get with the wrong trace",
    );

    // Logging the same assessment again is a no-op; a different one with a
    // taken id is refused.
    log(store, &judged);
    assert_eq!(
        store.list_by_trace(trace_a).unwrap().len(),
        3,
        "idempotent log"
    );
    let impostor = Assessment::feedback("correctness", true)
        .id(judged.id())
        .on(span)
        .unwrap();
    assert_err(
        store.apply(&Operation::Log(impostor)),
        |e| matches!(e, Error::DuplicateId { .. }),
        "a different assessment with a taken id",
    );

    // Override: the old one becomes invalid; summaries skip it.
    let fix = Assessment::override_of(&judged, true)
        .rationale("reviewed by a person")
        .on(judged.target())
        .unwrap();
    log(store, &fix);
    let old = store.get(trace_a, judged.id()).unwrap();
    assert!(!old.is_valid(), "an overridden assessment is invalid");
    assert_eq!(
        old.last_update_time(),
        judged.last_update_time(),
        "overriding does not touch the old one's update time"
    );
    assert_eq!(fix.name(), judged.name(), "an override keeps the name");
    let summary = FeedbackSummary::of("correctness", &store.list_by_trace(trace_a).unwrap());
    assert_eq!(
        (summary.count, summary.passed, summary.skipped_invalid),
        (1, 1, 1),
        "summaries count the override, not what it overrode"
    );
    for (bad, expected_err, what) in [
        (
            Assessment::feedback("x", 1)
                .overrides(AssessmentId::random())
                .on(span),
            (|e: &Error| matches!(e, Error::NotFound { .. })) as fn(&Error) -> bool,
            "overriding a missing id",
        ),
        (
            Assessment::feedback("x", 1)
                .overrides(expected.id())
                .on(span),
            |e: &Error| matches!(e, Error::InvalidOverride { .. }),
            "overriding an expectation",
        ),
        (
            Assessment::feedback("x", 1)
                .overrides(elsewhere.id())
                .on(span),
            |e: &Error| matches!(e, Error::NotFound { .. }),
            "overriding an assessment of another trace",
        ),
    ] {
        assert_err(
            store.apply(&Operation::Log(bad.unwrap())),
            expected_err,
            what,
        );
    }

    // Update: name, value, rationale, merged metadata; the rest is kept.
    let update = AssessmentUpdate::builder(trace_a, judged.id())
        .name("accuracy")
        .feedback(0.25)
        .rationale("partly right")
        .metadata("reviewed", "yes")
        .build()
        .unwrap();
    store.apply(&Operation::Update(update.clone())).unwrap();
    let updated = store.get(trace_a, judged.id()).unwrap();
    assert_eq!(updated.name(), "accuracy", "update renames");
    assert_eq!(
        updated.feedback_value(),
        Some(&crate::FeedbackValue::Number(0.25)),
        "update sets the value"
    );
    assert_eq!(updated.rationale(), Some("partly right"));
    assert_eq!(
        updated.metadata().get("scorer.version").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        updated.metadata().get("reviewed").map(String::as_str),
        Some("yes")
    );
    assert_eq!(updated.run_id(), Some("run-1"), "update keeps the run");
    assert_eq!(updated.source(), judged.source(), "update keeps the source");
    assert_eq!(updated.target(), judged.target(), "update keeps the span");
    assert_eq!(
        updated.create_time(),
        judged.create_time(),
        "update keeps the create time"
    );
    assert_eq!(updated.last_update_time(), update.update_time());
    assert!(!updated.is_valid(), "update keeps validity");
    assert_err(
        store.apply(&Operation::Update(
            AssessmentUpdate::builder(trace_a, judged.id())
                .expectation("x")
                .build()
                .unwrap(),
        )),
        |e| matches!(e, Error::KindMismatch { .. }),
        "an update that changes the kind",
    );
    assert_err(
        store.apply(&Operation::Update(
            AssessmentUpdate::builder(trace_a, AssessmentId::random())
                .rationale("x")
                .build()
                .unwrap(),
        )),
        |e| matches!(e, Error::NotFound { .. }),
        "updating a missing assessment",
    );

    // Delete: the override goes, what it overrode is valid again; deleting
    // twice is fine; the wrong trace is not.
    let delete = |id| Operation::Delete {
        trace_id: trace_a,
        assessment_id: id,
    };
    store.apply(&delete(fix.id())).unwrap();
    assert!(
        store.get(trace_a, judged.id()).unwrap().is_valid(),
        "deleting an override restores what it overrode"
    );
    store.apply(&delete(fix.id())).unwrap();
    assert_err(
        store.apply(&Operation::Delete {
            trace_id: trace_b,
            assessment_id: whole.id(),
        }),
        |e| matches!(e, Error::NotFound { .. }),
        "deleting with the wrong trace",
    );
    assert_eq!(
        store.list_by_trace(trace_a).unwrap().len(),
        3,
        "only the override is gone"
    );
    assert_err(
        store.get(trace_a, fix.id()).map(drop),
        |e| matches!(e, Error::NotFound { .. }),
        "a deleted assessment is gone",
    );
}

/// Applies `operations` to `store` (which must start empty) and to a fresh
/// [`MemoryStore`], and panics at the first result, or in the final state,
/// where they differ.
pub fn check_same_as_memory(store: &dyn AssessmentStore, operations: &[Operation]) {
    let memory = MemoryStore::default();
    let mut traces = Vec::new();
    let mut names = Vec::new();
    for (i, op) in operations.iter().enumerate() {
        let want = AssessmentStore::apply(&memory, op);
        let got = store.apply(op);
        match (&want, &got) {
            (Ok(()), Ok(())) => {}
            (Err(w), Err(g)) if discriminant(w) == discriminant(g) => {}
            _ => panic!(
                "operation {i} ({op:?}): the in-memory store gave {want:?}, this store {got:?}"
            ),
        }
        if !traces.contains(&op.trace_id()) {
            traces.push(op.trace_id());
        }
        if let Operation::Log(a) = op
            && !names.contains(&a.name().as_str().to_owned())
        {
            names.push(a.name().as_str().to_owned());
        }
    }
    for trace in traces {
        assert_eq!(
            store.list_by_trace(trace).unwrap(),
            memory.list_by_trace(trace),
            "trace {trace} differs"
        );
    }
    for name in names {
        assert_eq!(
            store.list_by_name(&name).unwrap(),
            memory.list_by_name(&name),
            "name {name} differs"
        );
    }
}

/// A reproducible random sequence of `n` operations over a few traces,
/// spans and names: logs of every kind of value, overrides (of live,
/// missing and expectation ids), updates (some changing the kind), deletes
/// (of live, deleted and missing ids) and repeated or conflicting logs —
/// the input for [`check_same_as_memory`].
pub fn random_operations(seed: u64, n: usize) -> Vec<Operation> {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    let mut rng = StdRng::seed_from_u64(seed);
    let traces = [TRACE_A, TRACE_B];
    let spans = [None, Some("71492b10072d70de"), Some("81492b10072d70de")];
    let names = ["correctness", "relevance", "expected_response"];
    let mut logged: Vec<Assessment> = Vec::new();
    let mut ops = Vec::with_capacity(n);
    while ops.len() < n {
        let t = target(
            traces[rng.random_range(0..traces.len())],
            spans[rng.random_range(0..spans.len())],
        );
        let name = names[rng.random_range(0..names.len())];
        let pick = |rng: &mut StdRng, logged: &[Assessment]| -> Option<Assessment> {
            (!logged.is_empty()).then(|| logged[rng.random_range(0..logged.len())].clone())
        };
        let op = match rng.random_range(0..10) {
            0..=2 => {
                let builder = match rng.random_range(0..5) {
                    0 => Assessment::feedback(name, rng.random_bool(0.5)),
                    1 => Assessment::feedback(name, rng.random_range(0.0..1.0)),
                    2 => Assessment::feedback(name, "label"),
                    3 => Assessment::feedback_error(name, AssessmentError::new("TIMEOUT")),
                    _ => Assessment::expectation(name, serde_json::json!([1, "two"])),
                };
                Operation::Log(builder.metadata("k", "v").on(t).unwrap())
            }
            3 => match pick(&mut rng, &logged) {
                Some(old) if old.kind() == crate::Kind::Feedback => Operation::Log(
                    Assessment::override_of(&old, true)
                        .on(old.target())
                        .unwrap(),
                ),
                Some(old) => Operation::Log(
                    Assessment::feedback(name, true)
                        .overrides(old.id())
                        .on(t)
                        .unwrap(),
                ),
                None => Operation::Log(
                    Assessment::feedback(name, true)
                        .overrides(AssessmentId::random())
                        .on(t)
                        .unwrap(),
                ),
            },
            4 | 5 => {
                let (trace, id, kind) = match pick(&mut rng, &logged) {
                    Some(a) if rng.random_bool(0.9) => (a.trace_id(), a.id(), a.kind()),
                    _ => (t.trace_id(), AssessmentId::random(), crate::Kind::Feedback),
                };
                let mut update = AssessmentUpdate::builder(trace, id).metadata("n", "1");
                update = match (kind, rng.random_range(0..4)) {
                    (_, 0) => update.name(names[rng.random_range(0..names.len())]),
                    (crate::Kind::Feedback, 1) => update.feedback(0.5),
                    (crate::Kind::Expectation, 1) => update.expectation("new"),
                    (_, 2) => update.rationale("changed"),
                    _ => update.expectation(1), // wrong kind for feedback
                };
                Operation::Update(update.build().unwrap())
            }
            6 | 7 => {
                let (trace_id, assessment_id) = match pick(&mut rng, &logged) {
                    Some(a) if rng.random_bool(0.9) => (a.trace_id(), a.id()),
                    _ => (t.trace_id(), AssessmentId::random()),
                };
                Operation::Delete {
                    trace_id,
                    assessment_id,
                }
            }
            8 => match pick(&mut rng, &logged) {
                Some(a) => Operation::Log(a),
                None => continue,
            },
            _ => match pick(&mut rng, &logged) {
                Some(a) => Operation::Log(
                    Assessment::feedback(name, 0.1)
                        .id(a.id())
                        .on(a.target())
                        .unwrap(),
                ),
                None => continue,
            },
        };
        if let Operation::Log(a) = &op {
            logged.push(a.clone());
        }
        ops.push(op);
    }
    ops
}
