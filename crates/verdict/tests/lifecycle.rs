//! The in-memory store follows MLflow's lifecycle rules; the checks are the
//! ones every other store runs too (`verdict::testing`).
#![cfg(feature = "testing")]

use verdict::testing::{check_lifecycle, check_same_as_memory, random_operations};
use verdict::{Assessment, AssessmentSink, MemoryStore, Operation, Recorder};

#[test]
fn memory_store_follows_every_rule() {
    check_lifecycle(&MemoryStore::default());
}

#[test]
fn random_sequences_exercise_every_outcome() {
    // The differential check is only as good as its input: make sure the
    // generated sequences hit successes and each kind of refusal.
    let store = MemoryStore::default();
    let mut outcomes = std::collections::BTreeMap::new();
    for op in random_operations(7, 2_000) {
        let outcome = match store.apply(&op) {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("{e:?}")
                .split([' ', '{', '('])
                .next()
                .unwrap()
                .to_owned(),
        };
        *outcomes.entry(outcome).or_insert(0) += 1;
    }
    for expected in [
        "ok",
        "NotFound",
        "DuplicateId",
        "KindMismatch",
        "InvalidOverride",
    ] {
        assert!(
            outcomes.contains_key(expected),
            "{expected} never happened: {outcomes:?}"
        );
    }
    check_same_as_memory(&MemoryStore::default(), &random_operations(7, 2_000));
}

#[test]
fn a_recorder_feeds_the_store_and_reports_refusals() {
    let store = MemoryStore::default();
    let refused = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = refused.clone();
    let recorder = Recorder::builder()
        .sink(store.clone())
        .on_error(move |sink, e| seen.lock().unwrap().push(format!("{sink}: {e}")))
        .build();
    let a = Assessment::feedback("ok", true)
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
        .unwrap();
    recorder.record(a.clone()).unwrap();
    // An override of a missing id is refused by the store, and reported.
    recorder
        .record(
            Assessment::feedback("ok", false)
                .overrides(verdict::AssessmentId::random())
                .on(a.target())
                .unwrap(),
        )
        .unwrap();
    recorder.flush().unwrap_err();
    assert_eq!(store.len(), 1);
    let refused = refused.lock().unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("no assessment a-"), "{}", refused[0]);
    assert_eq!(recorder.counters().failed, 1);
    // The store as a sink, directly.
    assert!(store.export(&[Operation::Log(a)]).is_ok(), "idempotent");
}

#[test]
fn restating_brings_an_old_version_up_to_date() {
    use verdict::AssessmentUpdate;
    let old = Assessment::feedback("ok", true)
        .rationale("first look")
        .metadata("reviewer", "ann")
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
        .unwrap();
    let mut current = old.clone();
    for update in [
        AssessmentUpdate::builder(old.trace_id(), old.id())
            .feedback(0.25)
            .metadata("round", "2")
            .build()
            .unwrap(),
        AssessmentUpdate::builder(old.trace_id(), old.id())
            .name("correct")
            .rationale("second look")
            .build()
            .unwrap(),
    ] {
        update.apply(&mut current).unwrap();
    }
    assert_ne!(current, old);
    // A destination that saw only the first version gets one update.
    let mut stale = old.clone();
    AssessmentUpdate::restating(&current)
        .apply(&mut stale)
        .unwrap();
    assert_eq!(stale, current);
    assert_eq!(
        AssessmentUpdate::restating(&current).mask(),
        "assessment_name,feedback,rationale,metadata"
    );
}
