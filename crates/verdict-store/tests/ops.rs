//! The operation log in a real store file: what each destination has not
//! seen, what a push settles, and what deleting a run forgets.

use std::time::SystemTime;

use verdict::{Assessment, AssessmentUpdate};
use verdict_store::runs::pack::{
    OwnVerdict, PackedResult, PackedValue, RecordHead, RecordTarget, ScorerResult,
};
use verdict_store::{
    LocalStore, NewRun, OpKind, OpScope, RunBlockBuilder, RunScorer, RunStatus, Settlement,
};

fn kinds(store: &LocalStore, key: Option<&str>, scope: OpScope<'_>) -> Vec<(i64, OpKind)> {
    store
        .unseen(key, scope)
        .unwrap()
        .ops
        .iter()
        .map(|op| (op.seq, op.kind))
        .collect()
}

#[test]
fn a_destination_sees_each_operation_once_and_refused_ones_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("verdict.db")).unwrap();
    let trace = "0fb07256509eb9d22d07f42f7eb9f24d";
    let a = Assessment::feedback("helpful", true)
        .on_trace(trace, None)
        .unwrap();
    let b = Assessment::expectation("answer", "Paris")
        .on_trace(trace, None)
        .unwrap();
    store.log(&a).unwrap();
    store.log(&b).unwrap();
    store
        .update(
            &AssessmentUpdate::builder(a.trace_id(), a.id())
                .feedback(false)
                .build()
                .unwrap(),
        )
        .unwrap();
    store.delete(b.trace_id(), b.id()).unwrap();
    // A refused operation is logged by nobody.
    assert!(
        store
            .update(
                &AssessmentUpdate::builder(b.trace_id(), b.id())
                    .expectation("Lyon")
                    .build()
                    .unwrap()
            )
            .is_err()
    );

    let all = kinds(&store, Some("mlflow here"), OpScope::All);
    assert_eq!(
        all.iter().map(|(_, k)| *k).collect::<Vec<_>>(),
        [OpKind::Log, OpKind::Log, OpKind::Update, OpKind::Delete]
    );
    let unseen = store.unseen(Some("mlflow here"), OpScope::All).unwrap();
    assert_eq!(unseen.snapshot, all[3].0);
    assert_eq!(unseen.ops[3].assessment_id, Some(b.id()));
    assert_eq!(unseen.ops[3].trace_id, Some(a.trace_id()));

    // The update was refused; the rest arrived.
    store
        .settle(
            "mlflow here",
            &Settlement {
                delivered: vec![all[0].0, all[1].0, all[3].0],
                refused: vec![(all[2].0, "HTTP 503".into())],
                through: Some(unseen.snapshot),
            },
        )
        .unwrap();
    assert_eq!(
        kinds(&store, Some("mlflow here"), OpScope::All),
        [all[2]],
        "only the refused update is unseen"
    );
    let state = store.destinations().unwrap();
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].through, unseen.snapshot);
    assert_eq!(state[0].refused, [(all[2].0, "HTTP 503".to_owned())]);

    // A change made since comes after it; another destination sees all.
    let c = Assessment::feedback("fast", true)
        .on_trace(trace, None)
        .unwrap();
    store.log(&c).unwrap();
    let unseen = kinds(&store, Some("mlflow here"), OpScope::All);
    assert_eq!(unseen.len(), 2);
    assert_eq!(unseen[0], all[2]);
    assert_eq!(unseen[1].1, OpKind::Log);
    assert_eq!(kinds(&store, Some("otlp there"), OpScope::All).len(), 5);
    assert_eq!(kinds(&store, None, OpScope::All).len(), 5);

    // Delivered at last: nothing is unseen, and nothing is refused.
    store
        .settle(
            "mlflow here",
            &Settlement {
                delivered: unseen.iter().map(|(seq, _)| *seq).collect(),
                refused: Vec::new(),
                through: Some(unseen[1].0),
            },
        )
        .unwrap();
    assert!(kinds(&store, Some("mlflow here"), OpScope::All).is_empty());
    assert!(store.destinations().unwrap()[0].refused.is_empty());
}

#[test]
fn a_run_is_one_operation_per_block_settled_whole_and_forgotten_when_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("verdict.db")).unwrap();
    let scorers = [RunScorer {
        name: "exact_match".into(),
        source: verdict::AssessmentSource::code_named("exact_match"),
        metadata: Default::default(),
    }];
    let ids = 0x1234_5678_9abc_def0;
    let key = store
        .begin_run(&NewRun {
            run_id: "run-000000000001",
            ids,
            dataset: "qa.jsonl",
            started: SystemTime::now(),
            scorers: &scorers,
            scope: ("verdict-eval", Some("0.1.0")),
            dataset_key: None,
            baseline: None,
        })
        .unwrap();
    let mut blocks = Vec::new();
    for first in [0u64, 3] {
        let mut builder = RunBlockBuilder::new(first, SystemTime::now());
        for _ in 0..3 {
            builder.record(&RecordHead {
                line: 1,
                target: RecordTarget::Own,
                span: (0, 1_000),
                inputs: PackedValue::Text("q"),
                outputs: PackedValue::Text("a"),
                error: None,
                expectations: 0,
                spans: 0,
            });
            builder.result(&ScorerResult {
                result: PackedResult::Bool(true),
                verdict: OwnVerdict::None,
                judged: Some(true),
                rationale: None,
            });
        }
        blocks.push(builder.finish());
    }
    store
        .write_run(key, &blocks, &Default::default(), 6, 0)
        .unwrap();
    // A person's review of one of its records.
    let trace = verdict_store::runs::pack::trace_id(ids, 4);
    let review = Assessment::feedback("correct", false)
        .on(verdict::Target::trace(trace).unwrap())
        .unwrap();
    store.log(&review).unwrap();
    // And a trace of no run.
    let other = Assessment::feedback("helpful", true)
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
        .unwrap();
    store.log(&other).unwrap();

    let run_ops = kinds(&store, Some("otlp"), OpScope::Run("run-000000000001"));
    assert_eq!(
        run_ops.iter().map(|(_, k)| *k).collect::<Vec<_>>(),
        [OpKind::Block, OpKind::Block, OpKind::Log],
        "its blocks and the review of its trace, not the other trace"
    );
    let records = store
        .block_records(
            store.unseen(None, OpScope::All).unwrap().ops[1]
                .block
                .unwrap(),
            1,
            10,
        )
        .unwrap();
    assert_eq!(records.len(), 2, "records 4 and 5 of the second block");
    assert_eq!(records[0].trace_id, trace);
    assert!(records[0].root_span.is_some());

    store.settle_run("otlp", "run-000000000001").unwrap();
    let left = kinds(&store, Some("otlp"), OpScope::All);
    assert_eq!(left.len(), 1, "only the other trace's log: {left:?}");
    assert!(kinds(&store, Some("otlp"), OpScope::Run("run-000000000001")).is_empty());

    store
        .finish_run(key, RunStatus::Passed, None, None, 0)
        .unwrap();
    store.delete_runs(&["run-000000000001"]).unwrap();
    let all = store.unseen(None, OpScope::All).unwrap().ops;
    assert_eq!(
        all.len(),
        1,
        "a deleted run's operations are forgotten: {all:?}"
    );
    assert_eq!(all[0].assessment_id, Some(other.id()));
    assert!(
        store
            .unseen(None, OpScope::Run("run-000000000001"))
            .is_err(),
        "a run that is gone is named as such"
    );
}
