//! Scoring a run's records somewhere else: the run keeps reading,
//! storing and reporting, and takes each record's results from a
//! [`RemoteScoring`] instead of its own runner.
//!
//! The records are named by their dataset line, the one thing a run and a
//! reader elsewhere agree on without sending records: the remote side
//! reads the same dataset, in parts, and answers for every line it found a
//! record at. Rejected: sending the run's records to be scored, which
//! would move the data to the scorers instead of the scorers to the data,
//! and would cost the run's machine what scoring saves it.

use verdict_plugin::Results;

/// Scores a run's records elsewhere (see
/// [`Evaluation::remote_scoring`](crate::Evaluation::remote_scoring)).
pub trait RemoteScoring: Send {
    /// The results of the records at `lines`, their dataset lines in
    /// increasing order, as the run's scorers give them: one column per
    /// scorer, in the run's order, one result per line. The lines asked
    /// for always increase from one call to the next, so the answers can
    /// stream. An `Err` says why the records cannot be scored, and stops
    /// the run.
    fn score(&mut self, lines: &[usize]) -> Result<Vec<Results>, String>;
}
