//! Reading datasets: the formats and shapes people keep evaluation data
//! in, each read as one stream, once.
//!
//! - **Formats**: JSON lines; one JSON array of records; CSV and TSV with
//!   a header row; OTLP JSON traces, whose root spans hold inputs and
//!   outputs; Parquet, and Arrow IPC files and streams (Feather version
//!   2), whose columns are the fields (`columnar`, with the `parquet`
//!   feature: the Arrow project's readers cost the default build more than
//!   every other format together; without it such a file is refused,
//!   naming the feature). The format comes from the first bytes when they
//!   are Parquet's or Arrow's, else from the file's extension (`.csv`,
//!   `.tsv`, `.jsonl`, `.ndjson`, `.parquet`, `.arrow`, `.feather`) or
//!   its first bytes (`[` an array, `{` JSON lines or OTLP, anything else
//!   CSV), or is given ([`DatasetOptions::format`]).
//! - **Shapes**: a record's fields are read as MLflow's evaluation records
//!   (`inputs`, `outputs`, `expectations`), MLflow's request/response
//!   records, or `input`/`output`/`expected`, recognised by the first
//!   record; or as a [`FieldMap`] says. A dataset in none is refused with
//!   the map that would read it.
//! - **Once**: a dataset is opened once and its first bytes peeked to
//!   tell the format, so standard input (`-`), a FIFO and a process
//!   substitution are read whole, like a file. Parquet and Arrow IPC
//!   files are read from their end: from a pipe, they are first copied to
//!   an unnamed temporary file.
//! - **Streaming**: records are read one at a time (a line, an array
//!   element, a row; Parquet and Arrow a record batch at a time), so a
//!   dataset of any size is evaluated in constant memory. An OTLP file written as one pretty-printed document is the
//!   exception: it is parsed whole. Records that name traces are
//!   remembered, to refuse a trace named twice (see `seen`).
//! - **Bounded**: no record is kept past [`MAX_RECORD`] bytes, whatever
//!   the stream holds (a line that never ends, `/dev/zero`): a longer one
//!   is an invalid record, reported as soon as it is known to be too long
//!   and skipped to its end, never an allocation that aborts the run.

mod array;
#[cfg(feature = "parquet")]
mod columnar;
mod delimited;
mod directory;
mod lines;
mod mapping;
mod otlp;
mod seen;
mod source;
mod trace;

use std::collections::VecDeque;
use std::fmt;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use opentelemetry::trace::{SpanId, TraceId};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use verdict_scorer::{OwnedRecord, OwnedValue};
use verdict_store::StoredSpan;

use crate::error::{Error, Result};
use array::{ArrayReader, Element};
use delimited::Row;
use lines::{Lines, ReadLine};
use mapping::{Fields, MLFLOW_RECORD_FIELDS, Plan, Shape};
use otlp::otlp_records;
use seen::Seen;
use source::{Source, Stream};
pub use trace::owned_trace;

pub(crate) use directory::would_read;
pub use mapping::FieldMap;

/// The most bytes one record may take: a JSON line (its newline left
/// out), an element of a JSON array, a CSV or TSV row (its line end
/// included), an OTLP document spread over lines. A bigger one is an invalid record, so that
/// `--skip-invalid` counts it and goes on.
pub(crate) const MAX_RECORD: usize = 64 << 20;

/// A record over the cap is skipped to its end, unless it goes on for this
/// many times the cap (1 GiB): a stream with no end of record in sight
/// (`/dev/zero`) is no dataset, and reading it stops with an error, so
/// that neither a run nor a Ctrl-C waits on it forever.
const ENDLESS: usize = 16;

/// Whether a record of `size` bytes so far, over the cap `max`, has gone
/// on for too long to be skipped.
pub(super) fn endless(size: u64, max: usize) -> bool {
    size > (max as u64).saturating_mul(ENDLESS as u64)
}

/// The error for a record that has gone on for too long to be skipped.
pub(super) fn endless_error(what: &str, max: usize) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "a {what} goes on for more than {} without ending: this is no dataset, and nothing \
             more of it is read",
            size(max.saturating_mul(ENDLESS))
        ),
    )
}

/// Why a record over `max` bytes is invalid: "the line is longer than 64
/// MiB (67108864 bytes), …".
pub(super) fn too_long(what: &str, max: usize) -> String {
    format!(
        "the {what} is longer than {}, the most one record may take, and is not read",
        size(max)
    )
}

/// A size in bytes, in MiB as well when it is a whole number of them.
fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB ({bytes} bytes)", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}
pub use source::STDIN;

/// One record of a dataset, ready to score.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetRecord {
    /// The line it was read from (1-based).
    pub line: usize,
    /// The trace it belongs to, when the dataset names one.
    pub trace_id: Option<TraceId>,
    /// The span it judges, when the dataset names one.
    pub span_id: Option<SpanId>,
    /// Inputs, outputs and expectations.
    pub record: OwnedRecord,
    /// The spans of its trace the dataset holds (an OTLP file's, or the
    /// MLflow `trace` of a record in MLflow's evaluation shape), each with
    /// the resource it came with, to store and send on with it; empty
    /// otherwise.
    pub spans: Vec<StoredSpan>,
}

/// A record that could not be read: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InvalidRecord {
    /// The line (1-based).
    pub line: usize,
    /// What is wrong with it, and what is expected.
    pub reason: String,
}

/// What a dataset yields: a record, or a line that is not one.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A record to score.
    Record(DatasetRecord),
    /// A malformed record.
    Invalid(InvalidRecord),
}

/// How a dataset is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (`jsonl`).
    Jsonl,
    /// One JSON array of records (`json`), read element by element.
    JsonArray,
    /// Comma-separated values with a header row (`csv`).
    Csv,
    /// Tab-separated values with a header row (`tsv`).
    Tsv,
    /// OTLP JSON traces (`{"resourceSpans": [...]}`), one request per line
    /// as the OpenTelemetry Collector's file exporter writes them, or one
    /// document (`otlp`).
    OtlpJson,
    /// A Parquet file (`parquet`), read a record batch at a time; its
    /// columns are the records' fields. Read with the `parquet` feature.
    Parquet,
    /// An Arrow IPC file or stream (`arrow`: `.arrow`, `.feather` version
    /// 2, `.arrows`), read a record batch at a time. Read with the
    /// `parquet` feature.
    Arrow,
    /// Traces that already exist, the store's or an MLflow experiment's
    /// (`verdict eval --traces`): records read from their root spans, not
    /// from a file.
    Traces,
}

impl Format {
    /// Its name, as `--format` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::JsonArray => "json",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::OtlpJson => "otlp",
            Format::Parquet => "parquet",
            Format::Arrow => "arrow",
            Format::Traces => "traces",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Format::Jsonl,
            "json" => Format::JsonArray,
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            "otlp" => Format::OtlpJson,
            "parquet" => Format::Parquet,
            "arrow" | "feather" | "ipc" => Format::Arrow,
            _ => {
                return Err(format!(
                    "{s:?} is not a dataset format: give jsonl, json (one array of records), \
                     csv, tsv, otlp, parquet or arrow (Arrow IPC, Feather version 2)"
                ));
            }
        })
    }
}

/// How to read a dataset beyond what its name and first bytes tell
/// (`verdict.toml`'s `[dataset]`, `--format` and `--map`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatasetOptions {
    /// Its format, when the extension and the first bytes should not
    /// decide.
    pub format: Option<Format>,
    /// Which fields are inputs, outputs and expectations; empty to read
    /// the shapes Verdict recognises.
    pub map: FieldMap,
}

/// A dataset: one stream, read once.
///
/// ```
/// use verdict_eval::{Dataset, Entry};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("qa.jsonl");
/// std::fs::write(&path, concat!(
///     r#"{"inputs": {"question": "Capital of France?"}, "outputs": "Paris", "#,
///     r#""expectations": {"expected_response": "Paris"}}"#, "\n",
///     r#"{"inputs": "2+2?", "outputs": 4"#, "\n",
/// ))?;
/// let entries: Vec<Entry> = Dataset::open(&path)?.entries()?.collect::<Result<_, _>>()?;
/// assert!(matches!(&entries[0], Entry::Record(r) if r.record.expectations.len() == 1));
/// assert!(matches!(&entries[1], Entry::Invalid(i) if i.line == 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Dataset {
    path: PathBuf,
    format: Format,
    len: Option<u64>,
    plan: Option<Plan>,
    /// The Parquet files of a directory, in the order they are read;
    /// empty for a file or a stream.
    files: Vec<directory::File>,
    /// The rows of each row group of each Parquet file, once read.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    groups: std::sync::OnceLock<Vec<Vec<u64>>>,
    /// The stream, until [`Dataset::entries`] takes it.
    source: Mutex<Option<Source>>,
    /// The records of existing traces, until [`Dataset::entries`] takes
    /// them.
    given: Mutex<Option<Vec<Entry>>>,
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Dataset {
    /// Opens a dataset (`-`: standard input) and tells its format from its
    /// name and first bytes.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Dataset::open_with(path, &DatasetOptions::default())
    }

    /// Opens a dataset, read as `options` say.
    pub fn open_with(path: impl AsRef<Path>, options: &DatasetOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let plan = if options.map.is_empty() {
            None
        } else {
            Some(Plan::from_map(&options.map).map_err(Error::Usage)?)
        };
        let read = |source| Error::ReadDataset {
            path: path.clone(),
            source,
        };
        let files = if path.as_os_str() != STDIN && path.is_dir() {
            if let Some(format) = options.format.filter(|f| *f != Format::Parquet) {
                return Err(Error::Usage(format!(
                    "{} is a directory, which is read as Parquet files, not as {format}: give \
                     one file of that format",
                    path.display()
                )));
            }
            directory::parquet_files(&path).map_err(read)?
        } else {
            Vec::new()
        };
        let source = Source::open(files.first().map_or(&path, |f| &f.path)).map_err(read)?;
        let format = match files.is_empty() {
            true => options
                .format
                .unwrap_or_else(|| detect(&path, source.head())),
            false => Format::Parquet,
        };
        if matches!(format, Format::Parquet | Format::Arrow) && !cfg!(feature = "parquet") {
            return Err(Error::Usage(format!(
                "{} is {}, and this verdict was built without Parquet and Arrow datasets: build \
                 it with the `parquet` feature (cargo install verdict-cli --features parquet), \
                 or give the records as JSON lines or CSV",
                display_name(&path),
                match format {
                    _ if !files.is_empty() => "a directory of Parquet files",
                    Format::Parquet => "a Parquet file",
                    _ => "Arrow IPC",
                }
            )));
        }
        if plan.is_some() && format == Format::OtlpJson {
            return Err(Error::Usage(format!(
                "{} is OTLP traces, whose records come from their root spans' attributes: a \
                 field map reads JSON lines, JSON arrays, CSV and TSV",
                display_name(&path)
            )));
        }
        let len = match files.is_empty() {
            true => source.len(),
            false => Some(files.iter().map(|f| f.len).sum()),
        };
        Ok(Dataset {
            len,
            path,
            format,
            plan,
            files,
            groups: std::sync::OnceLock::new(),
            source: Mutex::new(Some(source)),
            given: Mutex::new(None),
        })
    }

    /// The records of traces that already exist (see
    /// [`trace_records`](crate::trace_records)), read once, as a dataset
    /// named `name` (which says where the traces are).
    pub fn of_traces(name: impl Into<PathBuf>, entries: Vec<Entry>) -> Self {
        Dataset {
            path: name.into(),
            format: Format::Traces,
            len: None,
            plan: None,
            files: Vec::new(),
            groups: std::sync::OnceLock::new(),
            source: Mutex::new(None),
            given: Mutex::new(Some(entries)),
        }
    }

    /// The dataset as it was named (`-` for standard input).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How it is written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Its size in bytes (for progress), when it is a file; `None` for a
    /// pipe.
    pub fn len_bytes(&self) -> Option<u64> {
        self.len
    }

    /// Reads the records, in order, from the start. A stream is read once:
    /// a file is opened again on a second call, a pipe refuses it.
    pub fn entries(&self) -> Result<Entries> {
        self.entries_watched(None)
    }

    /// As [`entries`](Self::entries), calling `before_read` each time the
    /// reader is about to read from the file or pipe itself (its buffer
    /// used up): a read from a pipe may wait for as long as the writer
    /// does, so this is when to hand on the records read so far.
    pub fn entries_watched(&self, before_read: Option<Box<dyn FnMut() + Send>>) -> Result<Entries> {
        let read = |source| Error::ReadDataset {
            path: self.path.clone(),
            source,
        };
        let given = self
            .given
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(given) = given {
            return Ok(Entries::new(
                self.path.clone(),
                Rows::Given(given.into_iter()),
                Reading::Detect,
            ));
        }
        let taken = self
            .source
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let source = match taken {
            Some(source) => source,
            None if self.len.is_some() && self.path.as_os_str() != STDIN => {
                Source::open(self.first_file()).map_err(read)?
            }
            None => {
                return Err(read(std::io::Error::other(
                    "it was read already, and a stream is read once",
                )));
            }
        };
        let source = match before_read {
            Some(hook) => source.watch(hook),
            None => source,
        };
        #[cfg(feature = "parquet")]
        if matches!(self.format, Format::Parquet | Format::Arrow) {
            return self.columnar(source, None);
        }
        let stream = source.into_stream();
        let reader = |stream| BufReader::with_capacity(1 << 16, stream);
        let rows = match self.format {
            // Read above; a second read is refused as a stream's.
            Format::Traces => {
                return Err(read(std::io::Error::other(
                    "its traces were read already, and they are read once",
                )));
            }
            Format::Jsonl | Format::OtlpJson => Rows::Lines {
                lines: Lines::new(stream, MAX_RECORD),
                buffer: Vec::new(),
                line: 0,
                otlp: self.format == Format::OtlpJson,
            },
            Format::JsonArray => Rows::Array {
                reader: reader(stream),
                array: ArrayReader::new(),
            },
            Format::Parquet | Format::Arrow => {
                unreachable!("a columnar dataset is read above, or refused when it is opened")
            }
            Format::Csv => {
                Rows::Delimited(Box::new(delimited::Rows::new(stream, b',', MAX_RECORD)))
            }
            Format::Tsv => {
                Rows::Delimited(Box::new(delimited::Rows::new(stream, b'\t', MAX_RECORD)))
            }
        };
        let reading = match &self.plan {
            Some(plan) => Reading::Plan(plan.clone()),
            None => Reading::Detect,
        };
        Ok(Entries {
            started: false,
            ..Entries::new(self.path.clone(), rows, reading)
        })
    }
}

impl Dataset {
    /// The file read first: the dataset's own path, or a directory's first
    /// Parquet file.
    fn first_file(&self) -> &Path {
        self.files.first().map_or(&self.path, |f| &f.path)
    }
}

#[cfg(feature = "parquet")]
impl Dataset {
    /// The rows of each row group of a Parquet dataset (a directory's
    /// files' one after the other), in order: the parts it can be read in
    /// ([`Dataset::entries_of_row_groups`]).
    pub fn row_groups(&self) -> Result<Vec<u64>> {
        Ok(self.groups_by_file()?.into_iter().flatten().collect())
    }

    /// The rows of each row group of each file, read from the files'
    /// footers once.
    fn groups_by_file(&self) -> Result<Vec<Vec<u64>>> {
        if let Some(groups) = self.groups.get() {
            return Ok(groups.clone());
        }
        let groups = self.read_groups_by_file()?;
        Ok(self.groups.get_or_init(|| groups).clone())
    }

    fn read_groups_by_file(&self) -> Result<Vec<Vec<u64>>> {
        self.parquet_file()?;
        let groups = |path: &Path| {
            columnar::parquet_row_groups(path).map_err(|source| match self.files.is_empty() {
                true => self.read_error(source),
                false => self.read_error(std::io::Error::new(
                    source.kind(),
                    format!("{}: {source}", path.display()),
                )),
            })
        };
        match self.files.is_empty() {
            true => Ok(vec![groups(&self.path)?]),
            false => self.files.iter().map(|f| groups(&f.path)).collect(),
        }
    }

    /// Refuses a dataset that is not a Parquet file (a stream, another
    /// format): only a file's row groups can be read apart.
    fn parquet_file(&self) -> Result<()> {
        if self.format != Format::Parquet || self.path.as_os_str() == STDIN || self.len.is_none() {
            return Err(self.read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "it is not a Parquet file, whose row groups can be read apart",
            )));
        }
        Ok(())
    }

    fn read_error(&self, source: std::io::Error) -> Error {
        Error::ReadDataset {
            path: self.path.clone(),
            source,
        }
    }

    /// The records of row groups `part` of a Parquet file, in order, each
    /// with the line (row) it has in the whole file: one part of a dataset
    /// read in parts, as a worker reads it.
    pub fn entries_of_row_groups(&self, part: std::ops::Range<usize>) -> Result<Entries> {
        self.parquet_file()?;
        if self.files.is_empty() {
            let source = Source::open(&self.path).map_err(|source| self.read_error(source))?;
            return self.columnar(source, Some(part));
        }
        // The files the groups are in, each with its own groups of them.
        let by_file = self.groups_by_file()?;
        let total: usize = by_file.iter().map(Vec::len).sum();
        if part.start > part.end || part.end > total {
            return Err(self.read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("its files have {total} row groups, not the row groups {part:?} asked for"),
            )));
        }
        let piece = |file: &directory::File, groups, rows_before| directory::Piece {
            path: file.path.clone(),
            len: file.len,
            groups: Some(groups),
            rows_before: Some(rows_before),
        };
        // No group: none of the first file's.
        let mut pieces = vec![piece(&self.files[0], 0..0, 0)];
        let (mut first_group, mut rows_before) = (0, 0);
        if !part.is_empty() {
            pieces.clear();
            for (file, groups) in self.files.iter().zip(&by_file) {
                let local = part.start.max(first_group)..part.end.min(first_group + groups.len());
                if local.start < local.end {
                    let local = local.start - first_group..local.end - first_group;
                    pieces.push(piece(file, local, rows_before));
                }
                first_group += groups.len();
                rows_before += groups.iter().sum::<u64>() as usize;
            }
        }
        self.pieces(pieces)
    }

    /// The records of a Parquet or Arrow IPC dataset (of row groups `part`
    /// alone when given, a file's): its schema read, its shape told (or its
    /// map checked) from the columns.
    fn columnar(&self, source: Source, part: Option<std::ops::Range<usize>>) -> Result<Entries> {
        if !self.files.is_empty() {
            // A directory is read whole here: its first file's stream is
            // `source`, opened already.
            let mut pieces: Vec<directory::Piece> = self
                .files
                .iter()
                .map(|f| directory::Piece {
                    path: f.path.clone(),
                    len: f.len,
                    groups: None,
                    rows_before: None,
                })
                .collect();
            let rest = pieces.split_off(1);
            let rows = self.open_rows(Format::Parquet, source, None, Some(&pieces[0].path))?;
            return Ok(self.entries_of(directory::Chained::files(
                rows,
                &pieces[0],
                rest,
                self.plan.clone(),
                MAX_RECORD,
            )));
        }
        let rows = self.open_rows(self.format, source, part, None)?;
        Ok(self.entries_of(directory::Chained::one(rows)))
    }

    /// Reads `pieces` (at least one) one after the other.
    fn pieces(&self, mut pieces: Vec<directory::Piece>) -> Result<Entries> {
        let rest = pieces.split_off(1);
        let first = &pieces[0];
        let source = Source::open(&first.path).map_err(|source| self.read_error(source))?;
        let rows = self.open_rows(
            Format::Parquet,
            source,
            first.groups.clone(),
            Some(&first.path),
        )?;
        Ok(self.entries_of(directory::Chained::files(
            rows,
            first,
            rest,
            self.plan.clone(),
            MAX_RECORD,
        )))
    }

    /// Opens a columnar source, `file` named in a refusal when the
    /// dataset is a directory.
    fn open_rows(
        &self,
        format: Format,
        source: Source,
        part: Option<std::ops::Range<usize>>,
        file: Option<&Path>,
    ) -> Result<columnar::Rows> {
        let named = |reason: String| match file {
            Some(file) => format!("{}: {reason}", file.display()),
            None => reason,
        };
        columnar::Rows::open(format, source, self.plan.clone(), MAX_RECORD, part).map_err(
            |refusal| match refusal {
                columnar::Refusal::Read(source) if file.is_none() => self.read_error(source),
                columnar::Refusal::Read(source) => self.read_error(std::io::Error::new(
                    source.kind(),
                    named(source.to_string()),
                )),
                columnar::Refusal::Shape(reason) => Error::DatasetShape {
                    path: self.path.clone(),
                    reason: named(reason),
                },
            },
        )
    }

    fn entries_of(&self, rows: directory::Chained) -> Entries {
        Entries::new(
            self.path.clone(),
            Rows::Columnar(Box::new(rows)),
            Reading::Detect,
        )
    }
}

/// A dataset's name for people: `standard input` for `-`.
pub(crate) fn display_name(path: &Path) -> String {
    if path.as_os_str() == STDIN {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}

/// The format of a dataset, from its extension and its first bytes.
fn detect(path: &Path, head: &[u8]) -> Format {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if let Some(format) = columnar_magic(head) {
        return format;
    }
    let text = source::trim_start(head);
    match extension.as_deref() {
        Some("csv") => return Format::Csv,
        Some("tsv") => return Format::Tsv,
        Some("parquet" | "pq") => return Format::Parquet,
        Some("arrow" | "arrows" | "feather" | "ipc") => return Format::Arrow,
        _ => {}
    }
    if text.first() == Some(&b'{') && is_otlp(text) {
        return Format::OtlpJson;
    }
    match (extension.as_deref(), text.first()) {
        (Some("jsonl" | "ndjson"), _) => Format::Jsonl,
        (_, Some(b'[')) => Format::JsonArray,
        (_, Some(b'{') | None) | (Some("json"), _) => Format::Jsonl,
        _ => Format::Csv,
    }
}

/// The format of a dataset whose first bytes are a Parquet file's
/// (`PAR1`), an Arrow IPC file's (`ARROW1`) or an Arrow IPC stream's (its
/// first message's continuation marker); known without the `parquet`
/// feature, so that such a file is refused by name.
fn columnar_magic(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"PAR1") {
        Some(Format::Parquet)
    } else if head.starts_with(b"ARROW1") || head.starts_with(&[0xFF; 4]) {
        Some(Format::Arrow)
    } else {
        None
    }
}

/// Whether a JSON object's first line is an OTLP traces request: it has
/// `resourceSpans` (or, spread over lines, it is its first key).
fn is_otlp(text: &[u8]) -> bool {
    let first_line = text.split(|&b| b == b'\n').next().unwrap_or(text);
    match serde_json::from_slice::<Value>(first_line) {
        Ok(Value::Object(map)) => map.contains_key("resourceSpans"),
        _ => source::first_key(text).as_deref() == Some("resourceSpans"),
    }
}

/// How a format yields records.
enum Rows {
    /// JSON lines, or OTLP requests one per line.
    Lines {
        lines: Lines,
        buffer: Vec<u8>,
        line: usize,
        otlp: bool,
    },
    Array {
        reader: BufReader<Stream>,
        array: ArrayReader,
    },
    /// Boxed: the CSV parser's state tables are large.
    Delimited(Box<delimited::Rows>),
    /// The records of existing traces, made already.
    Given(std::vec::IntoIter<Entry>),
    /// Parquet or Arrow IPC rows, read a record batch at a time; boxed:
    /// the reader's state is large.
    #[cfg(feature = "parquet")]
    Columnar(Box<directory::Chained>),
}

/// How records' fields are read.
enum Reading {
    /// The first record's fields tell (no map was given).
    Detect,
    /// MLflow's evaluation shape, parsed straight into [`Line`] from JSON.
    Evaluation,
    /// A recognised shape's plan, or the map's.
    Plan(Plan),
}

/// The records of a [`Dataset`], read as they are asked for.
pub struct Entries {
    path: PathBuf,
    rows: Rows,
    reading: Reading,
    /// Whether the first record (or CSV header) has been read.
    started: bool,
    /// Whether the dataset was refused: nothing more is read.
    done: bool,
    /// Records of an OTLP request not handed out yet.
    pending: VecDeque<Entry>,
    seen: Seen,
    /// Whether a record may leave its outputs out (they are null then).
    outputs_optional: bool,
}

impl Entries {
    /// The records of `rows`, read as `reading` says, whose shape is
    /// known before the first (`started`).
    fn new(path: PathBuf, rows: Rows, reading: Reading) -> Self {
        Entries {
            path,
            rows,
            reading,
            started: true,
            done: false,
            pending: VecDeque::new(),
            seen: Seen::default(),
            outputs_optional: false,
        }
    }

    /// Reads records without outputs too, their outputs null: for a run
    /// whose outputs come from calling the system under test.
    pub(crate) fn outputs_optional(mut self) -> Self {
        self.outputs_optional = true;
        self
    }

    /// How many bytes of the dataset have been read so far.
    pub fn bytes_read(&self) -> u64 {
        match &self.rows {
            Rows::Lines { lines, .. } => lines.bytes_read(),
            Rows::Array { array, .. } => array.bytes_read(),
            Rows::Delimited(rows) => rows.bytes_read(),
            Rows::Given(_) => 0,
            #[cfg(feature = "parquet")]
            Rows::Columnar(rows) => rows.bytes_read(),
        }
    }

    /// The next record or invalid record; `Ok(None)` at the end, and
    /// `Ok(Some(None))` when a step made none (a blank line, an OTLP
    /// request whose records wait in `pending`).
    fn step(&mut self) -> Result<Option<Option<Entry>>> {
        let read = |path: &Path, source| Error::ReadDataset {
            path: path.to_path_buf(),
            source,
        };
        let refused = |path: &Path, reason| Error::DatasetShape {
            path: path.to_path_buf(),
            reason,
        };
        let Entries {
            path,
            rows,
            reading,
            started,
            pending,
            outputs_optional,
            ..
        } = self;
        let optional = *outputs_optional;
        match rows {
            Rows::Lines {
                lines,
                buffer,
                line,
                otlp,
            } => {
                let Some(read_line) = lines.next(buffer).map_err(|e| read(path, e))? else {
                    return Ok(None);
                };
                *line += 1;
                if let ReadLine::TooLong = read_line {
                    return Ok(Some(Some(invalid(*line, too_long("line", lines.max())))));
                }
                if buffer.iter().all(u8::is_ascii_whitespace) {
                    return Ok(Some(None));
                }
                if !*otlp {
                    return json_record(reading, path, *line, buffer, optional)
                        .map(|e| Some(Some(e)));
                }
                let document = match serde_json::from_slice::<Value>(buffer) {
                    Ok(document) => document,
                    Err(_) if !*started && *line == 1 => {
                        // One document over many lines: read the rest.
                        if !lines.rest_onto(buffer).map_err(|e| read(path, e))? {
                            return Ok(Some(Some(invalid(
                                *line,
                                too_long(
                                    "OTLP document, read as one over many lines,",
                                    lines.max(),
                                ),
                            ))));
                        }
                        match serde_json::from_slice::<Value>(buffer) {
                            Ok(document) => document,
                            Err(e) => return Ok(Some(Some(invalid(*line, json_reason(&e))))),
                        }
                    }
                    Err(e) => return Ok(Some(Some(invalid(*line, json_reason(&e))))),
                };
                *started = true;
                pending.extend(otlp_records(*line, &document));
                Ok(Some(None))
            }
            Rows::Given(entries) => Ok(entries.next().map(Some)),
            #[cfg(feature = "parquet")]
            Rows::Columnar(rows) => Ok(rows.next(optional).map_err(|e| read(path, e))?.map(Some)),
            Rows::Array { reader, array } => match array.next(reader).map_err(|e| read(path, e))? {
                None => Ok(None),
                Some(Element::Invalid(line, reason)) => Ok(Some(Some(invalid(line, reason)))),
                Some(Element::Value(line)) => {
                    json_record(reading, path, line, &array.buffer, optional).map(|e| Some(Some(e)))
                }
            },
            Rows::Delimited(rows) => {
                if !*started {
                    *started = true;
                    let Some(header) = rows.header().map_err(|r| refused(path, r))? else {
                        return Ok(None);
                    };
                    let header: Vec<&str> = header.iter().map(String::as_str).collect();
                    match reading {
                        Reading::Plan(plan) => {
                            plan.check_first(1, &header).map_err(|r| refused(path, r))?
                        }
                        Reading::Detect | Reading::Evaluation => {
                            let shape = Shape::detect(header.iter().copied())
                                .ok_or_else(|| refused(path, mapping::refusal(1, &header)))?;
                            *reading = Reading::Plan(shape.plan());
                        }
                    }
                }
                let Reading::Plan(plan) = reading else {
                    unreachable!("a CSV dataset is read by a plan once its header is read")
                };
                match rows.next() {
                    None => Ok(None),
                    Some(Err(e)) => Err(read(path, e)),
                    Some(Ok(Row::Invalid(line, reason))) => Ok(Some(Some(invalid(line, reason)))),
                    Some(Ok(Row::Cells(line, cells))) => {
                        Ok(Some(Some(plan.apply(line, Fields::csv(cells), optional))))
                    }
                }
            }
        }
    }

    /// A record that names a trace an earlier one named, made invalid.
    fn checked(&mut self, entry: Entry) -> Entry {
        match entry {
            Entry::Record(record) => match self.seen.check(&record) {
                Ok(()) => Entry::Record(record),
                Err(reason) => invalid(record.line, reason),
            },
            invalid => invalid,
        }
    }
}

impl Iterator for Entries {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        loop {
            if let Some(entry) = self.pending.pop_front() {
                return Some(Ok(self.checked(entry)));
            }
            if self.done {
                return None;
            }
            match self.step() {
                Ok(Some(Some(entry))) => return Some(Ok(self.checked(entry))),
                Ok(Some(None)) => {}
                Ok(None) => return None,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// One JSON record (a line, an array element) as its shape reads it; the
/// first one that is an object tells the shape when no map was given.
fn json_record(
    reading: &mut Reading,
    path: &Path,
    line: usize,
    bytes: &[u8],
    outputs_optional: bool,
) -> Result<Entry> {
    let refused = |reason| Error::DatasetShape {
        path: path.to_path_buf(),
        reason,
    };
    if let Reading::Detect = reading {
        let Ok(Value::Object(first)) = serde_json::from_slice::<Value>(bytes) else {
            // Not a record in any shape: say why as the evaluation shape.
            return Ok(parse_jsonl(line, bytes, outputs_optional));
        };
        let fields: Vec<&str> = first.keys().map(String::as_str).collect();
        *reading = match Shape::detect(fields.iter().copied()) {
            Some(Shape::Evaluation) => Reading::Evaluation,
            Some(shape) => Reading::Plan(shape.plan()),
            None => return Err(refused(mapping::refusal(line, &fields))),
        };
    }
    match reading {
        Reading::Detect | Reading::Evaluation => Ok(parse_jsonl(line, bytes, outputs_optional)),
        Reading::Plan(plan) => {
            let map = match serde_json::from_slice::<Value>(bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Ok(invalid(
                        line,
                        "not a JSON object; a record is an object of fields",
                    ));
                }
                Err(e) => return Ok(invalid(line, json_reason(&e))),
            };
            let fields: Vec<&str> = map.keys().map(String::as_str).collect();
            plan.check_first(line, &fields).map_err(refused)?;
            Ok(plan.apply(line, Fields::json(map), outputs_optional))
        }
    }
}

pub(super) fn invalid(line: usize, reason: impl Into<String>) -> Entry {
    Entry::Invalid(InvalidRecord {
        line,
        reason: reason.into(),
    })
}

/// serde_json's message without its "at line 1 column N" (the line is
/// ours), with the column kept.
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = text
        .rfind(" at line ")
        .map_or(text.as_str(), |i| &text[..i]);
    format!("not a valid record: {text} (column {})", e.column())
}

/// The fields a record in MLflow's evaluation shape may have.
const FIELDS: &str = "inputs, outputs, expectations, trace_id, span_id, trace";

/// One record in MLflow's evaluation shape, parsed straight from its JSON
/// (the hot path of JSON lines).
///
/// The fields MLflow adds to a record of a managed evaluation dataset
/// ([`MLFLOW_RECORD_FIELDS`]: its ids, tags, source, and who made it when)
/// are read and ignored, so that records exported from MLflow are
/// evaluated as they are; any other field is refused, so that a typo such
/// as `expectation` is not silently a record without expectations.
struct Line {
    inputs: Value,
    /// Checked by the caller: a run that calls the system under test
    /// reads records without.
    outputs: Option<Value>,
    expectations: Option<Map<String, Value>>,
    trace_id: Option<String>,
    span_id: Option<String>,
    /// The MLflow trace it came from (`Trace.to_dict()`), for the store
    /// and for trace scorers.
    trace: Option<Value>,
}

/// A key of a [`Line`], read without allocating.
enum Key {
    Inputs,
    Outputs,
    Expectations,
    TraceId,
    SpanId,
    Trace,
    Ignored,
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "inputs" => Key::Inputs,
                    "outputs" => Key::Outputs,
                    "expectations" => Key::Expectations,
                    "trace_id" => Key::TraceId,
                    "span_id" => Key::SpanId,
                    "trace" => Key::Trace,
                    _ if MLFLOW_RECORD_FIELDS.contains(&key) => Key::Ignored,
                    _ => return Err(E::unknown_field(key, LINE_FIELDS)),
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// The fields a [`Line`] names when it refuses another.
const LINE_FIELDS: &[&str] = &[
    "inputs",
    "outputs",
    "expectations",
    "trace_id",
    "span_id",
    "trace",
];

impl<'de> serde::Deserialize<'de> for Line {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LineVisitor;
        impl<'de> Visitor<'de> for LineVisitor {
            type Value = Line;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a record object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Line, A::Error> {
                let (mut inputs, mut outputs) = (None, None);
                let (mut expectations, mut trace_id, mut span_id) = (None, None, None);
                let mut trace = None;
                fn once<T, E: de::Error>(
                    slot: &mut Option<T>,
                    value: T,
                    key: &'static str,
                ) -> Result<(), E> {
                    if slot.replace(value).is_some() {
                        return Err(E::duplicate_field(key));
                    }
                    Ok(())
                }
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Inputs => once(&mut inputs, map.next_value()?, "inputs")?,
                        Key::Outputs => once(&mut outputs, map.next_value()?, "outputs")?,
                        Key::Expectations => {
                            once(&mut expectations, map.next_value()?, "expectations")?
                        }
                        Key::TraceId => once(&mut trace_id, map.next_value()?, "trace_id")?,
                        Key::SpanId => once(&mut span_id, map.next_value()?, "span_id")?,
                        Key::Trace => once(&mut trace, map.next_value()?, "trace")?,
                        Key::Ignored => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Line {
                    inputs: inputs.ok_or_else(|| de::Error::missing_field("inputs"))?,
                    outputs,
                    expectations: expectations.flatten(),
                    trace_id: trace_id.flatten(),
                    span_id: span_id.flatten(),
                    trace: trace.flatten(),
                })
            }
        }
        deserializer.deserialize_map(LineVisitor)
    }
}

/// One record in MLflow's evaluation shape; without outputs only when
/// `outputs_optional` (they are null then).
fn parse_jsonl(line: usize, bytes: &[u8], outputs_optional: bool) -> Entry {
    // serde would read a struct from a JSON array too.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return invalid(
            line,
            format!("not a JSON object; a record is an object with the fields {FIELDS}"),
        );
    }
    let parsed: Line = match serde_json::from_slice(bytes) {
        Ok(parsed) => parsed,
        Err(e) if e.is_data() => {
            return invalid(
                line,
                format!(
                    "{}; a record is an object with the fields {FIELDS} ({} required)",
                    json_reason(&e),
                    if outputs_optional {
                        "inputs"
                    } else {
                        "inputs and outputs"
                    }
                ),
            );
        }
        Err(e) => return invalid(line, json_reason(&e)),
    };
    let outputs = match parsed.outputs {
        Some(outputs) => outputs,
        None if outputs_optional => Value::Null,
        None => {
            return invalid(
                line,
                format!(
                    "not a valid record: missing field `outputs`; a record is an object with the \
                     fields {FIELDS} (inputs and outputs required; a run that calls the system \
                     under test reads records without outputs)"
                ),
            );
        }
    };
    let entry = make_record(
        line,
        parsed.inputs,
        outputs,
        parsed.expectations.unwrap_or_default(),
        parsed.trace_id.as_deref(),
        parsed.span_id.as_deref(),
    );
    match (entry, parsed.trace) {
        (Entry::Record(record), Some(trace)) => trace::with_mlflow_trace(record, &trace),
        (entry, _) => entry,
    }
}

/// A record from its parts, whatever shape they were read in: its
/// expectations' names checked and null ones refused, its ids parsed.
fn make_record(
    line: usize,
    inputs: Value,
    outputs: Value,
    expectations: impl IntoIterator<Item = (String, Value)>,
    trace_id: Option<&str>,
    span_id: Option<&str>,
) -> Entry {
    let trace_id = match trace_id.map(verdict::parse_trace_id) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => return invalid(line, format!("trace_id: {e}")),
    };
    let span_id = match span_id.map(verdict::parse_span_id) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => return invalid(line, format!("span_id: {e}")),
    };
    if span_id.is_some() && trace_id.is_none() {
        return invalid(
            line,
            "span_id is given without trace_id; give both, or neither",
        );
    }
    let mut record = OwnedRecord::new(OwnedValue::from(inputs), OwnedValue::from(outputs));
    for (name, value) in expectations {
        if let Err(e) = verdict::AssessmentName::new(name.clone()) {
            return invalid(line, format!("expectation {name:?}: {e}"));
        }
        if value.is_null() {
            return invalid(line, null_expectation(&name));
        }
        record.expectations.push((name, OwnedValue::from(value)));
    }
    Entry::Record(DatasetRecord {
        line,
        trace_id,
        span_id,
        record,
        spans: Vec::new(),
    })
}

/// Why an expectation whose value is null is refused: an expectation is
/// ground truth, and the store refuses a null one.
pub(crate) fn null_expectation(name: &str) -> String {
    format!(
        "expectation {name:?} is null: null is not a ground truth; give the expected value, or \
         leave the expectation out"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parquet and Arrow IPC are told by their first bytes whatever the
    /// name, and by the name when the bytes are not theirs.
    #[test]
    fn columnar_formats_are_told_by_their_magic_then_their_name() {
        let cases: [(&str, &[u8], Format); 6] = [
            ("data.jsonl", b"PAR1\x15\x04", Format::Parquet),
            ("data", b"ARROW1\0\0", Format::Arrow),
            ("-", b"\xff\xff\xff\xff\x10\0\0\0", Format::Arrow),
            ("data.parquet", b"{\"inputs\": 1}\n", Format::Parquet),
            ("d.feather", b"", Format::Arrow),
            ("d.csv", b"a,b\n", Format::Csv),
        ];
        for (name, head, format) in cases {
            assert_eq!(detect(Path::new(name), head), format, "{name}");
        }
    }

    /// Built without the `parquet` feature, a Parquet or Arrow dataset is
    /// refused before anything is read, naming the feature (CI runs this
    /// build's unit tests: `.ci/run`).
    #[cfg(not(feature = "parquet"))]
    #[test]
    fn without_the_feature_a_parquet_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [
            ("d.parquet", b"PAR1 and the rest".as_slice()),
            ("d", b"ARROW1\0\0 and the rest"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let err = Dataset::open(&path).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::Usage(_)), "{text}");
            assert!(
                text.contains("built without Parquet and Arrow datasets")
                    && text.contains(
                        "the `parquet` feature (cargo install verdict-cli --features parquet)"
                    ),
                "{text}"
            );
        }
    }
}
