//! The traces a dataset's records have named so far.
//!
//! Two records that name the same trace are never merged silently:
//!
//! - a trace, or a span of it, is judged once per dataset: a record naming
//!   the trace and span (or the trace without a span) that an earlier
//!   record named is refused, naming both lines;
//! - records on different spans of one trace share the trace's
//!   expectations (expectations are the trace's ground truth): a record
//!   that gives other expectations than the first one that gave the trace
//!   some is refused, naming both lines. A record that gives none takes
//!   the trace's.
//!
//! The refused record is an invalid record: it stops the run, or with
//! `--skip-invalid` counts as invalid. Each named trace costs about 50
//! bytes until the end of the run (50 MB per million): the one thing a
//! streaming read keeps per record, and only for records that name a
//! trace.

use std::collections::HashMap;
use std::collections::hash_map::{DefaultHasher, Entry};
use std::hash::{Hash as _, Hasher as _};

use opentelemetry::trace::{SpanId, TraceId};
use verdict::mlflow_trace_id;
use verdict_scorer::OwnedValue;

use super::DatasetRecord;

/// What the first record naming a trace said of it.
struct Named {
    line: u64,
    /// Its span, 0 for none.
    span: u64,
    /// The line of the first record that gave the trace expectations, 0
    /// for none yet, and a digest of them.
    expectations_line: u64,
    expectations: u64,
}

/// The traces named so far.
#[derive(Default)]
pub(super) struct Seen {
    traces: HashMap<TraceId, Named>,
    /// The second and later spans of a trace, with their lines: few.
    more_spans: HashMap<(TraceId, u64), u64>,
}

impl Seen {
    /// Takes note of a record; `Err` with the reason when it must be
    /// refused.
    pub(super) fn check(&mut self, record: &DatasetRecord) -> Result<(), String> {
        let Some(trace_id) = record.trace_id else {
            return Ok(());
        };
        let line = record.line as u64;
        let span = record.span_id.map_or(0, span_bits);
        let given = &record.record.expectations;
        let digest = (!given.is_empty()).then(|| digest(given));
        let named = match self.traces.entry(trace_id) {
            Entry::Vacant(vacant) => {
                vacant.insert(Named {
                    line,
                    span,
                    expectations_line: if digest.is_some() { line } else { 0 },
                    expectations: digest.unwrap_or(0),
                });
                return Ok(());
            }
            Entry::Occupied(occupied) => occupied.into_mut(),
        };
        let earlier = if named.span == span {
            Some(named.line)
        } else {
            self.more_spans.get(&(trace_id, span)).copied()
        };
        if let Some(earlier) = earlier {
            return Err(format!(
                "it names {} as line {earlier} does: a dataset judges a trace, or a span of it, \
                 once; remove one of the two lines, or give each its own span_id",
                target(trace_id, record.span_id)
            ));
        }
        if let Some(digest) = digest {
            if named.expectations_line == 0 {
                named.expectations_line = line;
                named.expectations = digest;
            } else if named.expectations != digest {
                let first = named.expectations_line;
                return Err(format!(
                    "it gives trace {} other expectations than line {first} does: a trace has \
                     one set of expectations, its ground truth, whichever of its spans a record \
                     judges; give the same as line {first}, or none (the record then takes line \
                     {first}'s)",
                    mlflow_trace_id(trace_id)
                ));
            }
        }
        self.more_spans.insert((trace_id, span), line);
        Ok(())
    }
}

fn span_bits(span: SpanId) -> u64 {
    u64::from_be_bytes(span.to_bytes())
}

/// "trace tr-… (span …)", or "trace tr-…" for the trace itself.
fn target(trace_id: TraceId, span_id: Option<SpanId>) -> String {
    match span_id {
        Some(span) => format!("trace {} and span {span}", mlflow_trace_id(trace_id)),
        None => format!("trace {} (without a span_id)", mlflow_trace_id(trace_id)),
    }
}

/// A digest of a set of expectations, whatever their order.
fn digest(expectations: &[(String, OwnedValue)]) -> u64 {
    expectations.iter().fold(0u64, |sum, (name, value)| {
        let mut hasher = DefaultHasher::new();
        name.hash(&mut hasher);
        match value {
            OwnedValue::Null => 0u8.hash(&mut hasher),
            OwnedValue::String(s) => (1u8, s).hash(&mut hasher),
            OwnedValue::Json(json) => (2u8, json).hash(&mut hasher),
        }
        sum.wrapping_add(hasher.finish())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_scorer::OwnedRecord;

    fn record(line: usize, span: Option<u64>, expected: Option<&str>) -> DatasetRecord {
        let mut record = OwnedRecord::new("q", "a");
        if let Some(expected) = expected {
            record = record.with_expectation("expected_response", expected);
        }
        DatasetRecord {
            line,
            trace_id: Some(TraceId::from(7u128)),
            span_id: span.map(SpanId::from),
            record,
            spans: Vec::new(),
        }
    }

    #[test]
    fn a_trace_or_span_named_twice_is_refused_with_both_lines() {
        let mut seen = Seen::default();
        seen.check(&record(1, None, Some("a"))).unwrap();
        let err = seen.check(&record(4, None, Some("a"))).unwrap_err();
        assert!(
            err.contains("as line 1 does") && err.contains("without a span_id"),
            "{err}"
        );
        // Spans of the trace are records of their own, once each.
        seen.check(&record(5, Some(9), Some("a"))).unwrap();
        seen.check(&record(6, Some(10), None)).unwrap();
        let err = seen.check(&record(7, Some(9), Some("a"))).unwrap_err();
        assert!(
            err.contains("as line 5 does") && err.contains("span 0000000000000009"),
            "{err}"
        );
    }

    #[test]
    fn other_expectations_for_one_trace_are_refused_with_the_first_line() {
        let mut seen = Seen::default();
        seen.check(&record(2, Some(1), None)).unwrap();
        seen.check(&record(3, Some(2), Some("Paris"))).unwrap();
        seen.check(&record(8, Some(3), Some("Paris"))).unwrap();
        let err = seen.check(&record(9, Some(4), Some("Lyon"))).unwrap_err();
        assert!(err.contains("other expectations than line 3 does"), "{err}");
    }
}
