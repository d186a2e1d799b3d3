//! Where recorded assessments go: the [`AssessmentSink`] trait (an
//! exporter: it delivers what it is given, and holds nothing back), the
//! operations it receives, and an in-memory sink for tests.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use opentelemetry::trace::TraceId;

use crate::assessment::Assessment;
use crate::ids::AssessmentId;
use crate::lifecycle::AssessmentUpdate;

/// One change to the assessments of a trace, as a sink receives it.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    /// A new assessment. One whose [`overrides`](Assessment::overrides) is
    /// set also marks the overridden assessment invalid.
    Log(Assessment),
    /// A change to an existing assessment.
    Update(AssessmentUpdate),
    /// The removal of an assessment; removing an override restores what it
    /// overrode. Deleting twice is not an error.
    Delete {
        /// The trace the assessment belongs to.
        trace_id: TraceId,
        /// The assessment.
        assessment_id: AssessmentId,
    },
}

impl Operation {
    /// The trace the operation concerns.
    pub fn trace_id(&self) -> TraceId {
        match self {
            Operation::Log(a) => a.trace_id(),
            Operation::Update(u) => u.trace_id(),
            Operation::Delete { trace_id, .. } => *trace_id,
        }
    }
}

/// Why an item of a batch was not delivered, for a person: shared, so that
/// a batch failing for one reason holds the message once, not per item.
pub type Reason = Arc<str>;

/// What became of one item (an operation, a span) of a batch a sink was
/// given.
///
/// Sinks are exporters: they return one outcome per item, so that
/// whoever delivers through them (the recorder, a spool, `verdict eval`,
/// `verdict push`) knows of each item whether to count it delivered,
/// keep it to send again, or give up on it, without reconstructing that
/// from counts. A sink that delivered everything returns `Ok(())`, which
/// stands for [`Delivered`](Outcome::Delivered) for every item; one that
/// did not returns a [`SinkError`] carrying the outcomes
/// ([`SinkError::with_outcomes`]). [`Outcomes::of`] reads either as one
/// outcome per item. A count of failures with a list of positions worth
/// retrying would say less and leave each consumer to rebuild the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver took it.
    Delivered,
    /// Not delivered for now: the receiver was down, overloaded, lacked
    /// what the item needs, or timed out after the sink's own retries.
    /// Sending it again later may deliver it; a spool keeps it.
    Deferred(Reason),
    /// Refused for good: sending it again would be refused again (the
    /// receiver answered that the item is invalid or not allowed).
    Refused(Reason),
    /// Kept by a processor (a stage that holds items to send them later,
    /// such as with their trace once it ends) rather than sent: neither
    /// delivered nor failed yet. An exporter never returns it; the
    /// processor reports the item's fate later.
    Held,
    /// Not delivered yet, and not lost: written to a local spool (by
    /// `verdict_export::Spooled`), which delivers it later. Told apart from
    /// [`Deferred`](Outcome::Deferred) (which nobody keeps) so that the
    /// recorder's counters can say what waits on disk
    /// ([`Counters::spooled`](crate::Counters::spooled)) rather than count
    /// it delivered or failed.
    Spooled,
}

impl Outcome {
    /// Deferred, for `reason`.
    pub fn deferred(reason: impl Into<Reason>) -> Self {
        Outcome::Deferred(reason.into())
    }

    /// Refused for good, for `reason`.
    pub fn refused(reason: impl Into<Reason>) -> Self {
        Outcome::Refused(reason.into())
    }

    /// Whether the receiver took it.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Outcome::Delivered)
    }

    /// Whether it failed: deferred or refused.
    pub fn is_failed(&self) -> bool {
        matches!(self, Outcome::Deferred(_) | Outcome::Refused(_))
    }

    /// Why it was not delivered, when it failed.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Outcome::Deferred(reason) | Outcome::Refused(reason) => Some(reason),
            Outcome::Delivered | Outcome::Held | Outcome::Spooled => None,
        }
    }
}

/// One outcome per item of a batch, read from what a sink returned: the
/// one way every consumer reads a batch's result.
///
/// `Ok(())` is every item delivered. An error with per-item outcomes
/// ([`SinkError::outcomes`]) is those. An error without them (the sink
/// could not say which items it failed on, or did not try to) is every
/// item deferred, for the error's message: not known to be refused, so
/// worth sending again, which is what a spool does with it.
/// [`itemized`](Self::itemized) tells this last case apart, for a report
/// that must say that the counts are whole batches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcomes {
    items: Vec<Outcome>,
    itemized: bool,
}

impl Outcomes {
    /// The outcomes of a batch of `len` items that a sink returned
    /// `result` for (see the [type](Self)). Outcomes a sink listed beyond
    /// `len` are ignored; items it left out are deferred for the error's
    /// message, and the outcomes are then not itemized.
    pub fn of(result: &Result<(), SinkError>, len: usize) -> Self {
        match result {
            Ok(()) => Self::every(Outcome::Delivered, len),
            Err(error) => Self::of_error(error, len),
        }
    }

    /// The outcomes of a batch of `len` items that a sink failed with
    /// `error` (see [`of`](Self::of)).
    pub fn of_error(error: &SinkError, len: usize) -> Self {
        match error.outcomes() {
            Some(listed) if listed.len() == len => Outcomes {
                items: listed.to_vec(),
                itemized: true,
            },
            listed => {
                let unexplained = Outcome::Deferred(Reason::from(error.to_string()));
                let listed = listed.unwrap_or_default();
                let mut items: Vec<Outcome> = listed.iter().take(len).cloned().collect();
                items.resize(len, unexplained);
                Outcomes {
                    items,
                    itemized: false,
                }
            }
        }
    }

    /// `outcome` for each of `len` items (itemized: each is known).
    pub fn every(outcome: Outcome, len: usize) -> Self {
        Outcomes {
            items: vec![outcome; len],
            itemized: true,
        }
    }

    /// Whether the sink said what became of each item; `false` when it
    /// failed without saying, and every item was then taken as deferred.
    pub fn itemized(&self) -> bool {
        self.itemized
    }

    /// How many items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch was empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Each item's outcome, in the batch's order.
    pub fn as_slice(&self) -> &[Outcome] {
        &self.items
    }

    /// The outcome of the item at `index`.
    pub fn get(&self, index: usize) -> Option<&Outcome> {
        self.items.get(index)
    }

    /// Each item's position and outcome.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Outcome)> {
        self.items.iter().enumerate()
    }

    /// How many were delivered.
    pub fn delivered(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Delivered))
    }

    /// How many were deferred.
    pub fn deferred(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Deferred(_)))
    }

    /// How many were refused.
    pub fn refused(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Refused(_)))
    }

    /// How many are held by a processor.
    pub fn held(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Held))
    }

    /// How many a spool keeps to deliver later.
    pub fn spooled(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Spooled))
    }

    /// The positions of the spooled items, ascending.
    pub fn spooled_at(&self) -> Vec<usize> {
        self.positions(|o| matches!(o, Outcome::Spooled))
    }

    /// How many failed: deferred or refused.
    pub fn failed(&self) -> usize {
        self.count(Outcome::is_failed)
    }

    /// Whether every item was delivered.
    pub fn all_delivered(&self) -> bool {
        self.items.iter().all(Outcome::is_delivered)
    }

    /// The positions of the delivered items, ascending.
    pub fn delivered_at(&self) -> Vec<usize> {
        self.positions(|o| matches!(o, Outcome::Delivered))
    }

    /// The positions of the deferred items, ascending.
    pub fn deferred_at(&self) -> Vec<usize> {
        self.positions(|o| matches!(o, Outcome::Deferred(_)))
    }

    /// The positions of the refused items, ascending.
    pub fn refused_at(&self) -> Vec<usize> {
        self.positions(|o| matches!(o, Outcome::Refused(_)))
    }

    /// The positions of the failed items (deferred or refused), ascending.
    pub fn failed_at(&self) -> Vec<usize> {
        self.positions(Outcome::is_failed)
    }

    /// Appends the outcomes of the next part of a batch sent in parts;
    /// the whole is itemized only if every part is.
    pub fn extend(&mut self, part: Outcomes) {
        if self.items.is_empty() && part.items.is_empty() {
            self.itemized &= part.itemized;
            return;
        }
        self.itemized = (self.itemized || self.items.is_empty()) && part.itemized;
        self.items.extend(part.items);
    }

    /// Sets the outcomes of a part of the batch sent apart: `part`'s
    /// `k`-th outcome becomes that of the item at `positions[k]`. The whole
    /// stays itemized only if the part is.
    pub fn place(&mut self, positions: &[usize], part: Outcomes) {
        self.itemized &= part.itemized;
        for (&at, outcome) in positions.iter().zip(part.items) {
            if let Some(slot) = self.items.get_mut(at) {
                *slot = outcome;
            }
        }
    }

    /// The batch's result as a sink returns it: `Ok(())` when every item
    /// was delivered, otherwise an error carrying these outcomes, whose
    /// message counts them (of `what`: "operations", "spans") and quotes
    /// the first reason of each kind, or, when every item failed for one
    /// reason, is that reason.
    pub fn into_result(self, what: &str) -> Result<(), SinkError> {
        if self.all_delivered() {
            return Ok(());
        }
        let message = self.summary(what);
        Err(SinkError::new(message).with_outcomes(self.items))
    }

    /// What [`into_result`](Self::into_result)'s error says.
    pub fn summary(&self, what: &str) -> String {
        let len = self.items.len();
        let failed = self.failed();
        let first = |kind: fn(&Outcome) -> bool| {
            self.items
                .iter()
                .find(|o| kind(o))
                .and_then(Outcome::reason)
        };
        let refusal = first(|o| matches!(o, Outcome::Refused(_)));
        let deferral = first(|o| matches!(o, Outcome::Deferred(_)));
        let one_reason = self
            .items
            .iter()
            .filter_map(Outcome::reason)
            .all(|r| Some(r) == refusal.or(deferral));
        if failed == len
            && one_reason
            && let Some(reason) = refusal.or(deferral)
        {
            return reason.to_string();
        }
        let spooled = self.spooled();
        let mut parts = vec![format!(
            "{} of {len} {what} not delivered",
            len - self.delivered()
        )];
        if let Some(why) = refusal {
            parts.push(format!("{} refused, the first: {why}", self.refused()));
        }
        if let Some(why) = deferral {
            parts.push(format!(
                "{} deferred (may be delivered later), the first: {why}",
                self.deferred()
            ));
        }
        let held = self.held();
        if held > 0 {
            parts.push(format!("{held} held to send later"));
        }
        if spooled > 0 {
            parts.push(format!("{spooled} kept in the spool to send later"));
        }
        parts.join("; ")
    }

    fn count(&self, kind: impl Fn(&Outcome) -> bool) -> usize {
        self.items.iter().filter(|o| kind(o)).count()
    }

    fn positions(&self, kind: impl Fn(&Outcome) -> bool) -> Vec<usize> {
        self.iter()
            .filter(|(_, o)| kind(o))
            .map(|(i, _)| i)
            .collect()
    }
}

impl From<Vec<Outcome>> for Outcomes {
    fn from(items: Vec<Outcome>) -> Self {
        Outcomes {
            items,
            itemized: true,
        }
    }
}

/// What a sink that ships a trace's spans and its assessments together
/// reports: the spans' result, then the operations'.
pub type SpansAndOperations = (Result<(), SinkError>, Result<(), SinkError>);

/// An error a sink reports: what failed, for a person, the cause, and,
/// when the sink knows it, what became of each item of the batch.
#[derive(Debug)]
pub struct SinkError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    outcomes: Option<Vec<Outcome>>,
}

impl SinkError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        SinkError {
            message: message.into(),
            source: None,
            outcomes: None,
        }
    }

    /// An error with a message and the error that caused it.
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        SinkError {
            message: message.into(),
            source: Some(source.into()),
            outcomes: None,
        }
    }

    /// Says what became of each item of the batch, in its order (one
    /// outcome per item). Without it, every item counts as deferred for
    /// this error's message (see [`Outcomes::of`]).
    pub fn with_outcomes(mut self, outcomes: Vec<Outcome>) -> Self {
        self.outcomes = Some(outcomes);
        self
    }

    /// What became of each item of the batch, if the sink said. Read a
    /// batch's result through [`Outcomes::of`], which also covers `Ok` and
    /// an error without outcomes.
    pub fn outcomes(&self) -> Option<&[Outcome]> {
        self.outcomes.as_deref()
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Receives recorded operations from a [`Recorder`](crate::Recorder)'s
/// background worker and ships or stores them: an exporter.
///
/// A sink is called from one worker thread with batches in recording
/// order. It owns delivery: batching further, retrying, spooling what it
/// cannot deliver. It returns `Ok(())` when it delivered every operation,
/// and otherwise an error with the [`Outcome`] of each
/// ([`SinkError::with_outcomes`]): the recorder counts those it failed on
/// and reports the error through its error handler. An error without
/// outcomes counts the whole batch as failed. A sink never holds
/// operations back to ship later; that is a processor's work
/// ([`AssessmentProcessor`](crate::AssessmentProcessor)), in front of a
/// sink of its own.
///
/// ```
/// use verdict::{AssessmentSink, Operation, SinkError};
///
/// struct Stdout;
///
/// impl AssessmentSink for Stdout {
///     fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
///         for op in batch {
///             if let Operation::Log(a) = op {
///                 println!("{}", a.to_json());
///             }
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait AssessmentSink: Send + Sync + 'static {
    /// Ships or stores a batch of operations.
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError>;

    /// Delivers whatever the sink still buffers.
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Delivers whatever the sink still buffers and releases its resources.
    /// Nothing is exported after this.
    fn shutdown(&self) -> Result<(), SinkError> {
        self.flush()
    }

    /// The moment by which the calls under way and those to come (a flush,
    /// a shutdown, the exports before them) must return, or `None` to
    /// lift it: set by [`Recorder::flush_timeout`](crate::Recorder::flush_timeout)
    /// and [`Recorder::shutdown_timeout`](crate::Recorder::shutdown_timeout)
    /// before they start, from another thread than the worker's. A sink that
    /// retries stops retrying by then; a sink that keeps what it cannot
    /// deliver (a spool) keeps it rather than wait. The default ignores it.
    fn set_deadline(&self, deadline: Option<Instant>) {
        let _ = deadline;
    }

    /// A name for error messages.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

impl<S: AssessmentSink + ?Sized> AssessmentSink for Arc<S> {
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        (**self).export(batch)
    }

    fn flush(&self) -> Result<(), SinkError> {
        (**self).flush()
    }

    fn shutdown(&self) -> Result<(), SinkError> {
        (**self).shutdown()
    }

    fn set_deadline(&self, deadline: Option<Instant>) {
        (**self).set_deadline(deadline);
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

/// A sink that keeps every operation in memory, for tests: clone it, give
/// one clone to the recorder, and read what arrived from the other.
///
/// ```
/// use verdict::{Assessment, InMemorySink, Recorder};
///
/// let sink = InMemorySink::default();
/// let recorder = Recorder::builder().sink(sink.clone()).build();
/// let fb = Assessment::feedback("ok", true).on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)?;
/// recorder.record(fb)?;
/// recorder.flush()?;
/// assert_eq!(sink.assessments().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct InMemorySink {
    operations: Arc<Mutex<Vec<Operation>>>,
}

impl InMemorySink {
    /// Every operation received so far, in order.
    pub fn operations(&self) -> Vec<Operation> {
        self.lock().clone()
    }

    /// The assessments logged so far, in order.
    pub fn assessments(&self) -> Vec<Assessment> {
        self.lock()
            .iter()
            .filter_map(|op| match op {
                Operation::Log(a) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }

    /// Forgets everything received.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Operation>> {
        self.operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl AssessmentSink for InMemorySink {
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        self.lock().extend_from_slice(batch);
        Ok(())
    }

    fn name(&self) -> &str {
        "in-memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_is_every_item_delivered() {
        let outcomes = Outcomes::of(&Ok(()), 3);
        assert!(outcomes.itemized() && outcomes.all_delivered());
        assert_eq!(outcomes.delivered_at(), vec![0, 1, 2]);
    }

    #[test]
    fn an_error_without_outcomes_is_every_item_deferred_for_its_message() {
        let outcomes = Outcomes::of(&Err(SinkError::new("connection refused")), 2);
        assert!(!outcomes.itemized());
        assert_eq!(outcomes.deferred_at(), vec![0, 1]);
        assert_eq!(
            outcomes.get(1).and_then(Outcome::reason).map(|r| &**r),
            Some("connection refused")
        );
    }

    #[test]
    fn listed_outcomes_are_read_as_they_are_and_a_short_list_is_filled_in() {
        let listed = vec![
            Outcome::Delivered,
            Outcome::refused("bad name"),
            Outcome::deferred("503"),
        ];
        let error = SinkError::new("x").with_outcomes(listed.clone());
        let outcomes = Outcomes::of_error(&error, 3);
        assert!(outcomes.itemized());
        assert_eq!(outcomes.as_slice(), &listed[..]);
        assert_eq!(
            (
                outcomes.delivered(),
                outcomes.refused(),
                outcomes.deferred()
            ),
            (1, 1, 1)
        );
        assert_eq!(outcomes.failed_at(), vec![1, 2]);
        // A sink that listed too few: the rest are deferred, not itemized.
        let outcomes = Outcomes::of_error(&error, 4);
        assert!(!outcomes.itemized());
        assert_eq!(outcomes.deferred_at(), vec![2, 3]);
    }

    #[test]
    fn parts_combine_and_the_result_quotes_the_first_reason_of_each_kind() {
        let mut whole = Outcomes::every(Outcome::Delivered, 0);
        whole.extend(Outcomes::every(Outcome::Delivered, 2));
        whole.extend(Outcomes::from(vec![Outcome::refused("too big")]));
        let mut placed = Outcomes::every(Outcome::Delivered, 3);
        placed.place(&[0, 2], Outcomes::every(Outcome::deferred("timeout"), 2));
        assert_eq!(placed.deferred_at(), vec![0, 2]);
        whole.extend(placed);
        assert!(whole.itemized());
        let error = whole.clone().into_result("operations").unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("3 of 6 operations not delivered"),
            "{text}"
        );
        assert!(text.contains("1 refused, the first: too big"), "{text}");
        assert!(text.contains("2 deferred"), "{text}");
        assert_eq!(error.outcomes(), Some(whole.as_slice()));
        // One reason for all: the message is the reason.
        let one = Outcomes::every(Outcome::deferred("down"), 2).into_result("spans");
        assert_eq!(one.unwrap_err().to_string(), "down");
        assert!(
            Outcomes::every(Outcome::Delivered, 2)
                .into_result("spans")
                .is_ok()
        );
        // An unitemized part leaves the whole unitemized.
        whole.extend(Outcomes::of(&Err(SinkError::new("?")), 1));
        assert!(!whole.itemized());
    }
}
