//! How a batch of operations becomes requests: grouped by trace, new
//! assessments of a trace gathered into inline batches, everything else one
//! request each, in the order recorded within each trace.

use std::collections::HashMap;

use opentelemetry::trace::TraceId;
use verdict::Operation;

/// One request's worth of a trace's operations (positions in the batch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// New assessments that override nothing, created together inline with
    /// the trace (`POST /api/3.0/mlflow/traces`).
    Inline(Vec<usize>),
    /// An operation with its own endpoint: an override (which must mark
    /// the overridden assessment invalid), an update or a delete.
    Single(usize),
}

/// The steps of one trace, to run in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TracePlan {
    pub(crate) trace_id: TraceId,
    pub(crate) steps: Vec<Step>,
}

impl TracePlan {
    /// The positions of every operation of the plan from step `from` on.
    pub(crate) fn indexes_from(&self, from: usize) -> impl Iterator<Item = usize> + '_ {
        self.steps[from..].iter().flat_map(|step| match step {
            Step::Inline(indexes) => indexes.clone(),
            Step::Single(index) => vec![*index],
        })
    }
}

/// Groups `batch` by trace, traces in order of first appearance. Within a
/// trace, consecutive new assessments that override nothing share inline
/// steps of at most `max_inline` (at least 1); any other operation is a
/// step of its own, so that it runs after the creates recorded before it.
pub(crate) fn plan(batch: &[Operation], max_inline: usize) -> Vec<TracePlan> {
    let max_inline = max_inline.max(1);
    let mut plans: Vec<TracePlan> = Vec::new();
    let mut by_trace: HashMap<TraceId, usize> = HashMap::new();
    for (index, operation) in batch.iter().enumerate() {
        let trace_id = operation.trace_id();
        let at = *by_trace.entry(trace_id).or_insert_with(|| {
            plans.push(TracePlan {
                trace_id,
                steps: Vec::new(),
            });
            plans.len() - 1
        });
        let steps = &mut plans[at].steps;
        match operation {
            Operation::Log(a) if a.overrides().is_none() => match steps.last_mut() {
                Some(Step::Inline(indexes)) if indexes.len() < max_inline => indexes.push(index),
                _ => steps.push(Step::Inline(vec![index])),
            },
            _ => steps.push(Step::Single(index)),
        }
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict::{Assessment, AssessmentUpdate};

    const T1: &str = "0fb07256509eb9d22d07f42f7eb9f24d";
    const T2: &str = "1fb07256509eb9d22d07f42f7eb9f24d";

    fn log(trace: &str) -> (Assessment, Operation) {
        let a = Assessment::feedback("ok", true)
            .on_trace(trace, None)
            .unwrap();
        (a.clone(), Operation::Log(a))
    }

    #[test]
    fn groups_by_trace_and_keeps_order_within_a_trace() {
        let (a, log_a) = log(T1);
        let (_, log_b) = log(T2);
        let (_, log_c) = log(T1);
        let (_, log_d) = log(T1);
        let override_a = Operation::Log(Assessment::override_of(&a, false).on(a.target()).unwrap());
        let update_a = Operation::Update(
            AssessmentUpdate::builder(a.trace_id(), a.id())
                .rationale("why")
                .build()
                .unwrap(),
        );
        let (_, log_e) = log(T2);
        let batch = [
            log_a,      // 0: T1
            log_b,      // 1: T2
            log_c,      // 2: T1
            override_a, // 3: T1
            log_d,      // 4: T1
            update_a,   // 5: T1
            log_e,      // 6: T2
        ];
        let plans = plan(&batch, 100);
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0].trace_id, a.trace_id());
        assert_eq!(
            plans[0].steps,
            [
                Step::Inline(vec![0, 2]),
                Step::Single(3),
                Step::Inline(vec![4]),
                Step::Single(5)
            ]
        );
        assert_eq!(plans[1].steps, [Step::Inline(vec![1, 6])]);
        assert_eq!(plans[0].indexes_from(1).collect::<Vec<_>>(), [3, 4, 5]);
    }

    #[test]
    fn inline_steps_are_bounded() {
        let batch: Vec<Operation> = (0..5).map(|_| log(T1).1).collect();
        let plans = plan(&batch, 2);
        assert_eq!(
            plans[0].steps,
            [
                Step::Inline(vec![0, 1]),
                Step::Inline(vec![2, 3]),
                Step::Inline(vec![4])
            ]
        );
    }
}
