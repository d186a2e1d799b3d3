//! What a run writes besides the store: result files that stream as the
//! run goes (JUnit XML, JSON results) and reports made from its summary
//! (Markdown, HTML).

mod failures;
mod html;
mod junit;
mod markdown;
#[cfg(feature = "parquet")]
mod parquet;
mod results;
mod table;
mod visible;

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use opentelemetry::trace::TraceId;
use verdict_scorer::OwnedRecord;

pub use failures::{failed_records, failure_message, worst_records};
pub use html::html;
pub use markdown::markdown;
#[cfg(feature = "parquet")]
pub use parquet::{BATCH_BYTES, BATCH_ROWS, ROW_GROUP_BYTES};
pub use table::{terminal, undelivered};
pub use visible::{visible, visible_lines};

pub use crate::stats::format_number;

use crate::dataset::InvalidRecord;
use crate::error::{Error, Result};
use crate::output::OutputFile;
use crate::predict::PredictError;
use crate::run::RunSummary;
use crate::scored::Said;

/// One scorer's result for a row.
pub(crate) struct RowResult<'a> {
    pub(crate) scorer: &'a str,
    pub(crate) said: Said<'a>,
    pub(crate) passed: Option<bool>,
}

/// One record and its results, as result files see it.
pub(crate) struct Row<'a> {
    pub(crate) line: usize,
    pub(crate) trace_id: TraceId,
    pub(crate) record: &'a OwnedRecord,
    pub(crate) results: &'a [RowResult<'a>],
    /// The time each result took: its even share of its chunk's scoring
    /// time, in seconds.
    pub(crate) seconds: f64,
    /// Why the system under test gave the record no outputs, if it did not.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) failed: Option<&'a PredictError>,
}

/// A result file written while the run streams.
pub(crate) trait ResultStream: Send {
    /// Writes one record's results.
    fn record(&mut self, row: &Row<'_>) -> io::Result<()>;
    /// Writes an invalid record (an error for every scorer).
    fn invalid(&mut self, invalid: &InvalidRecord, scorers: &[String]) -> io::Result<()>;
    /// Writes the end, with the summary, and closes the file.
    fn finish(self: Box<Self>, summary: &RunSummary) -> Result<()>;
    /// The run stopped before its verdict: writes what the file says
    /// then, and returns whether to keep it. By default nothing is
    /// written, and the file is removed (see [`Unfinished`]).
    fn stopped(self: Box<Self>, _run: &Stopped<'_>) -> Result<bool> {
        Ok(false)
    }
    /// The file, for messages.
    fn path(&self) -> &Path;
    /// An I/O error as this crate's error.
    fn error(&self, source: io::Error) -> Error {
        Error::WriteReport {
            path: self.path().to_path_buf(),
            source,
        }
    }
}

/// A run that stopped before its verdict, as result files say it.
pub(crate) struct Stopped<'a> {
    pub(crate) run_id: &'a str,
    pub(crate) dataset: &'a str,
    pub(crate) seconds: f64,
    pub(crate) error: &'a str,
}

/// The result files a run streams, by path.
#[derive(Clone, Copy, Default)]
pub(crate) struct StreamPaths<'a> {
    pub(crate) junit: Option<&'a Path>,
    pub(crate) json: Option<&'a Path>,
    /// The Parquet results.
    pub(crate) results: Option<&'a Path>,
}

/// Opens the result files asked for; `store` is the local store of the
/// run, whose `verdict show` command they give for a record.
pub(crate) fn open_streams(
    paths: StreamPaths<'_>,
    scorers: &[String],
    store: Option<&Path>,
    run_id: &str,
) -> Result<Vec<Box<dyn ResultStream>>> {
    let mut streams: Vec<Box<dyn ResultStream>> = Vec::new();
    let mut open = |stream: Result<Box<dyn ResultStream>>| match stream {
        Ok(stream) => {
            streams.push(stream);
            Ok(())
        }
        Err(e) => {
            // Not those opened before, empty, either.
            drop(Unfinished::new(&streams));
            Err(e)
        }
    };
    if let Some(path) = paths.junit {
        open(junit::JunitWriter::create(path, scorers, store).map(|w| Box::new(w) as _))?;
    }
    if let Some(path) = paths.json {
        open(results::JsonWriter::create(path).map(|w| Box::new(w) as _))?;
    }
    if let Some(path) = paths.results {
        open(parquet_results(path, scorers, run_id))?;
    }
    Ok(streams)
}

#[cfg(feature = "parquet")]
fn parquet_results(path: &Path, scorers: &[String], run_id: &str) -> Result<Box<dyn ResultStream>> {
    Ok(Box::new(parquet::ParquetWriter::create(
        path, scorers, run_id,
    )?))
}

#[cfg(not(feature = "parquet"))]
fn parquet_results(
    _path: &Path,
    _scorers: &[String],
    _run_id: &str,
) -> Result<Box<dyn ResultStream>> {
    Err(without_parquet())
}

/// Refuses a Parquet results path that the run could not write: one not
/// named `.parquet`, or any, in a build without the `parquet` feature.
pub fn check_results_path(path: &Path) -> Result<()> {
    #[cfg(feature = "parquet")]
    return parquet::check_results_path(path);
    #[cfg(not(feature = "parquet"))]
    {
        let _ = path;
        Err(without_parquet())
    }
}

#[cfg(not(feature = "parquet"))]
fn without_parquet() -> Error {
    Error::Usage(
        "--results writes Parquet, and this verdict was built without it: build it with the \
         `parquet` feature (cargo install verdict-cli --features parquet), or use --json"
            .into(),
    )
}

/// The first `chars` characters of a long text, with `…` where it was
/// cut.
pub fn excerpt(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// A count and its noun: "1 record", "2 records".
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The result files of a run that has not finished: if the run ends in
/// an error (or a panic) before [`Unfinished::done`], those already
/// renamed into place and those of an earlier run at the same paths are
/// removed, so that CI never reads them as this run's (results being
/// written are temporary files, removed when dropped).
pub(crate) struct Unfinished(Vec<PathBuf>);

impl Unfinished {
    pub(crate) fn new(streams: &[Box<dyn ResultStream>]) -> Self {
        Unfinished(streams.iter().map(|s| s.path().to_path_buf()).collect())
    }

    /// One more result file.
    pub(crate) fn push(&mut self, path: &Path) {
        self.0.push(path.to_path_buf());
    }

    /// The files are complete: keep them.
    pub(crate) fn done(mut self) {
        self.0.clear();
    }

    /// The run stopped: each stream writes what it says then (a JUnit
    /// file, an error test case), and is kept if it did; the others are
    /// removed when this is dropped. A stream that cannot write is removed
    /// too: the run's own error is the one to report.
    pub(crate) fn stopped(&mut self, streams: Vec<Box<dyn ResultStream>>, run: &Stopped<'_>) {
        for stream in streams {
            let path = stream.path().to_path_buf();
            if let Ok(true) = stream.stopped(run) {
                self.0.retain(|p| *p != path);
            }
        }
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        for path in &self.0 {
            // Best effort: the run's own error is the one to report.
            let _ = crate::output::remove_stale(path);
        }
    }
}

/// Writes a report from a summary: Markdown, or HTML when the path ends in
/// `.html` or `.htm`. It is written whole, then renamed into place.
pub fn write_report(path: &Path, summary: &RunSummary) -> Result<()> {
    write_report_to(OutputFile::create(path)?, summary)
}

/// Writes a report into a result file opened before the run.
pub(crate) fn write_report_to(mut out: OutputFile, summary: &RunSummary) -> Result<()> {
    let is_html = out
        .path()
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    let text = if is_html {
        html(summary)
    } else {
        markdown(summary)
    };
    out.write_all(text.as_bytes())
        .map_err(|source| Error::WriteReport {
            path: out.path().to_path_buf(),
            source,
        })?;
    out.commit()
}
