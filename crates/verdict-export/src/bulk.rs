//! Many new spans and assessments stored at once, in one transaction:
//! what an evaluation run writes.
//!
//! The work that needs no database — turning spans into rows, writing each
//! assessment's MLflow JSON — happens where a [`Batch`] is filled, on the
//! caller's threads; [`LocalStore::write_batch`] then only inserts rows, so
//! one writer thread keeps up with scoring on every other core.

use std::time::SystemTime;

use opentelemetry_sdk::trace::SpanData;
use verdict::Assessment;
use verdict::lifecycle;

use crate::error::{Error, Result};
use crate::span::StoredSpan;
use crate::store::{LocalStore, Rows, put_json, put_span, to_nanos};

/// New spans and assessments, ready to be stored together by
/// [`LocalStore::write_batch`].
///
/// ```
/// use verdict::Assessment;
/// use verdict_export::{Batch, LocalStore};
///
/// let dir = tempfile::tempdir()?;
/// let store = LocalStore::open(dir.path().join("verdict.db"))?;
/// let mut batch = Batch::default();
/// for i in 0..3u32 {
///     let trace = format!("{:032x}", i + 1);
///     batch.push_assessment(Assessment::feedback("ok", i % 2 == 0).on_trace(&trace, None)?);
/// }
/// store.write_batch(&batch)?;
/// assert_eq!(store.count_assessments()?, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Batch {
    spans: Vec<StoredSpan>,
    assessments: Vec<(Assessment, String)>,
}

impl Batch {
    /// An empty batch with room for `spans` spans and `assessments`
    /// assessments.
    pub fn with_capacity(spans: usize, assessments: usize) -> Self {
        Batch {
            spans: Vec::with_capacity(spans),
            assessments: Vec::with_capacity(assessments),
        }
    }

    /// Adds a finished span (storing it again later replaces it).
    pub fn push_span(&mut self, span: &SpanData) {
        self.spans.push(StoredSpan::from(span));
    }

    /// Adds a new assessment, writing its JSON now. Its id must be new to
    /// the store (ids made by Verdict are random, so they are); one that
    /// overrides another also marks that one invalid, as
    /// [`LocalStore::log`] does.
    pub fn push_assessment(&mut self, assessment: Assessment) {
        let json = assessment.to_json();
        self.assessments.push((assessment, json));
    }

    /// Adds the spans and assessments of another batch.
    pub fn append(&mut self, other: &mut Batch) {
        self.spans.append(&mut other.spans);
        self.assessments.append(&mut other.assessments);
    }

    /// How many spans and assessments it holds.
    pub fn len(&self) -> usize {
        self.spans.len() + self.assessments.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties it, keeping its memory for the next batch.
    pub fn clear(&mut self) {
        self.spans.clear();
        self.assessments.clear();
    }
}

impl LocalStore {
    /// Stores a batch in one transaction: all of it, or — if the database
    /// fails — none of it. An assessment that overrides another goes
    /// through [`lifecycle::log`], which refuses an override of an unknown
    /// assessment; that refusal fails the whole batch.
    pub fn write_batch(&self, batch: &Batch) -> Result<()> {
        let action = || {
            format!(
                "storing a batch of {} spans and {} assessments",
                batch.spans.len(),
                batch.assessments.len()
            )
        };
        let now = to_nanos(SystemTime::now());
        self.write(action, |tx| {
            for span in &batch.spans {
                put_span(tx, self.path(), span, now)?;
            }
            for (assessment, json) in &batch.assessments {
                if assessment.overrides().is_some() {
                    let mut rows = Rows {
                        conn: tx,
                        path: self.path(),
                    };
                    lifecycle::log(&mut rows, assessment).map_err(Error::from_core)?;
                } else {
                    put_json(tx, self.path(), assessment, json)?;
                }
            }
            Ok(())
        })
    }
}
