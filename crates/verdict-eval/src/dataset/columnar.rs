//! Parquet files and Arrow IPC files and streams (`.arrow`, `.feather`),
//! read a record batch at a time.
//!
//! - **Bounded**: the Arrow project's readers hand one record batch at a
//!   time, and a batch's rows become records one at a time as they are
//!   asked for; nothing holds more than a batch (and, for Parquet, the
//!   column chunks of the row group it comes from). A Parquet batch has at
//!   most [`BATCH_ROWS`] rows and about [`BATCH_BYTES`] by the file's own
//!   figures, so that rows of long texts make short batches. An Arrow IPC
//!   batch is read as it was written.
//! - **Seekable**: a Parquet file and an Arrow IPC file are read from
//!   their end (the footer says where each row group or batch is), so one
//!   on standard input or a pipe is first copied to an unnamed temporary
//!   file; an Arrow IPC stream is read as it comes.
//! - **Same records**: a row is read as a JSON record with the column
//!   names as its fields, through the same shapes and field map as the
//!   other formats, so the same rows as JSON lines make the same records.
//!   Only the columns a record's shape or map reads are converted (a
//!   Parquet file's other columns are not even decoded), so a column of a
//!   type JSON has no value for is refused only when it is read.
//! - **Values**: strings, booleans, integers and floats are themselves;
//!   binary is its text when it is UTF-8 (a row holding bytes that are not
//!   is an invalid record); lists are arrays; maps with string keys and
//!   structs are objects, a struct without its null fields (Arrow has no
//!   absent field: a struct's type is the union of its rows' keys, and a
//!   key a row lacks is null there); dictionaries are their values. A NaN
//!   or infinite float makes its row invalid, JSON having no such number.
//!   Dates, times, decimals and the other types are refused by name,
//!   rather than written in one of their many textual forms.
//!
//! Rejected: `arrow-json`'s decoder, which writes JSON text (to be parsed
//! again) and brings `arrow-cast`; DataFusion, far too large for reading
//! rows.

use std::fs::File;
use std::io::{self, Read, Seek as _};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::cast::AsArray as _;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{ArrowError, DataType, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value};

use super::mapping::{Fields, Plan, Shape};
use super::source::Source;
use super::{Entry, Format, invalid, too_long};

/// The most rows in a batch.
pub(super) const BATCH_ROWS: usize = 1024;

/// About the most bytes of a Parquet batch, by the row groups' own sizes
/// (uncompressed): rows of long texts make batches of fewer rows.
pub(super) const BATCH_BYTES: u64 = 8 << 20;

/// The batches of a file or stream.
type Batches = Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>;

/// Why a columnar dataset cannot be read at all.
pub(super) enum Refusal {
    /// Reading it failed (not Parquet, truncated, a broken footer).
    Read(io::Error),
    /// Its columns are in no shape, or of a type not read.
    Shape(String),
}

/// The rows of a Parquet file or an Arrow IPC file or stream.
pub(super) struct Rows {
    batches: Batches,
    /// The columns each record is made of.
    columns: Vec<Column>,
    plan: Plan,
    batch: Option<RecordBatch>,
    /// The next row of `batch`.
    next: usize,
    /// The rows handed out so far (a record's `line` is its row).
    row: usize,
    /// The most bytes of text one record may hold.
    max: usize,
    progress: Progress,
    /// The batches read so far.
    batches_read: usize,
}

/// A column a record reads.
struct Column {
    /// Its place in the batches.
    index: usize,
    name: String,
    /// Whether its value is read; `false` for a column the shape refuses,
    /// which is named (as null) so that the record says so.
    read: bool,
}

/// How far through the dataset the reader is.
enum Progress {
    /// A Parquet file: by rows, of all its rows.
    Rows { len: u64, total: u64 },
    /// Arrow IPC: the bytes the reader took.
    Counted(Arc<AtomicU64>),
}

impl Rows {
    /// Opens a Parquet (`format` [`Format::Parquet`]) or Arrow IPC dataset
    /// from its peeked source, and reads its schema: the columns tell the
    /// shape when `plan` is `None`. With `part`, only those row groups of
    /// a Parquet file are read, their rows numbered as in the whole file.
    pub(super) fn open(
        format: Format,
        mut source: Source,
        plan: Option<Plan>,
        max: usize,
        part: Option<Range<usize>>,
    ) -> Result<Rows, Refusal> {
        // Its first bytes, kept apart from `source`, which is taken below.
        let head: Vec<u8> = source.head().iter().take(8).copied().collect();
        let head = head.as_slice();
        let mut first_row = 0;
        let (batches, schema, progress, plan): (Batches, Arc<Schema>, Progress, Plan) = match format
        {
            Format::Parquet => {
                if !head.starts_with(PARQUET_MAGIC) {
                    return Err(Refusal::Read(not_what(head, "a Parquet file", "PAR1")));
                }
                let (file, len) = seekable(&mut source).map_err(Refusal::Read)?;
                let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| Refusal::Read(broken("a Parquet file", e)))?;
                let schema = builder.schema().clone();
                let plan = shaped(&schema, plan)?;
                let kept = columns(&schema, &plan)?;
                let metadata = builder.metadata().clone();
                let total: u64 = metadata
                    .row_groups()
                    .iter()
                    .map(|g| g.num_rows().max(0) as u64)
                    .sum();
                let widest = metadata
                    .row_groups()
                    .iter()
                    .filter(|g| g.num_rows() > 0)
                    .map(|g| g.total_byte_size().max(0) as u64 / g.num_rows() as u64)
                    .max()
                    .unwrap_or(0);
                let rows = (BATCH_BYTES / widest.max(1)).clamp(1, BATCH_ROWS as u64) as usize;
                let mask =
                    ProjectionMask::roots(builder.parquet_schema(), kept.iter().map(|c| c.index));
                let builder = match part {
                    None => builder,
                    Some(part) => {
                        let groups = metadata.row_groups();
                        if part.start > part.end || part.end > groups.len() {
                            return Err(Refusal::Read(io::Error::new(
                                io::ErrorKind::InvalidInput,
                                format!(
                                    "it has {} row groups, not the row groups {part:?} asked for",
                                    groups.len()
                                ),
                            )));
                        }
                        first_row = groups[..part.start]
                            .iter()
                            .map(|g| g.num_rows().max(0) as usize)
                            .sum();
                        builder.with_row_groups(part.collect())
                    }
                };
                let reader = builder
                    .with_projection(mask)
                    .with_batch_size(rows)
                    .build()
                    .map_err(|e| Refusal::Read(broken("a Parquet file", e)))?;
                // The batches hold the kept columns alone, in order.
                let projected = Schema::new(
                    kept.iter()
                        .map(|c| schema.field(c.index).clone())
                        .collect::<Vec<_>>(),
                );
                (
                    Box::new(reader),
                    Arc::new(projected),
                    Progress::Rows { len, total },
                    plan,
                )
            }
            _ if part.is_some() => {
                return Err(Refusal::Read(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "row groups are parts of Parquet files, not of Arrow IPC",
                )));
            }
            _ => {
                let counted = Arc::new(AtomicU64::new(0));
                let progress = Progress::Counted(counted.clone());
                if head.starts_with(b"FEA1") {
                    return Err(Refusal::Read(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "it is a Feather version 1 file, which the Arrow readers no longer \
                         read: write it again as Feather version 2 (Arrow IPC), as pyarrow's \
                         feather.write_feather does by default",
                    )));
                }
                let (batches, schema): (Batches, _) = if head.starts_with(ARROW_FILE_MAGIC) {
                    let (file, _) = seekable(&mut source).map_err(Refusal::Read)?;
                    let file = Counting {
                        inner: file,
                        read: counted,
                    };
                    let reader = arrow_ipc::reader::FileReader::try_new_buffered(file, None)
                        .map_err(|e| Refusal::Read(broken("an Arrow IPC file", e)))?;
                    let schema = reader.schema();
                    (Box::new(reader), schema)
                } else if head.starts_with(&[0xFF; 4]) {
                    let stream = Counting {
                        inner: source.into_stream(),
                        read: counted,
                    };
                    let reader = arrow_ipc::reader::StreamReader::try_new_buffered(stream, None)
                        .map_err(|e| Refusal::Read(broken("an Arrow IPC stream", e)))?;
                    let schema = reader.schema();
                    (Box::new(reader), schema)
                } else {
                    return Err(Refusal::Read(not_what(
                        head,
                        "an Arrow IPC file or stream",
                        "ARROW1 (a file) or 0xFFFFFFFF (a stream)",
                    )));
                };
                let plan = shaped(&schema, plan)?;
                (batches, schema, progress, plan)
            }
        };
        let columns = columns(&schema, &plan)?;
        Ok(Rows {
            batches,
            columns,
            plan,
            batch: None,
            next: 0,
            row: first_row,
            max,
            progress,
            batches_read: 0,
        })
    }

    /// How many bytes of the dataset have been read, about.
    pub(super) fn bytes_read(&self) -> u64 {
        match &self.progress {
            Progress::Rows { len, total } if *total > 0 => {
                (*len as u128 * self.row as u128 / *total as u128) as u64
            }
            Progress::Rows { .. } => 0,
            Progress::Counted(read) => read.load(Ordering::Relaxed),
        }
    }

    /// The line of the last row handed out (0 before the first): the
    /// rows of a whole file once it is read.
    pub(super) fn row(&self) -> usize {
        self.row
    }

    /// How many batches have been read so far.
    #[cfg(test)]
    fn batches_read(&self) -> usize {
        self.batches_read
    }

    /// The next row as a record, `Ok(None)` at the end; one without
    /// outputs is read with null outputs when `outputs_optional` (the
    /// outputs come from elsewhere).
    pub(super) fn next(&mut self, outputs_optional: bool) -> io::Result<Option<Entry>> {
        let batch = loop {
            match &self.batch {
                Some(batch) if self.next < batch.num_rows() => break batch,
                _ => {}
            }
            self.batch = None;
            match self.batches.next() {
                None => return Ok(None),
                Some(Err(e)) => return Err(broken("a record batch", e)),
                Some(Ok(batch)) => {
                    self.batches_read += 1;
                    self.next = 0;
                    self.batch = Some(batch);
                }
            }
        };
        let at = self.next;
        self.next += 1;
        self.row += 1;
        let line = self.row;
        let mut budget = Budget {
            left: self.max,
            over: false,
        };
        let mut fields = Map::new();
        for column in &self.columns {
            let value = if column.read {
                match value(batch.column(column.index).as_ref(), at, &mut budget) {
                    Ok(value) => value,
                    Err(_) if budget.over => {
                        return Ok(Some(invalid(line, too_long("row", self.max))));
                    }
                    Err(reason) => {
                        return Ok(Some(invalid(
                            line,
                            format!("column `{}` {reason}", column.name),
                        )));
                    }
                }
            } else {
                Value::Null
            };
            fields.insert(column.name.clone(), value);
        }
        Ok(Some(self.plan.apply(
            line,
            Fields::json(fields),
            outputs_optional,
        )))
    }
}

/// The rows of each row group of the Parquet file at `path`, in order:
/// what a file is cut into when it is read in parts.
pub(crate) fn parquet_row_groups(path: &Path) -> io::Result<Vec<u64>> {
    let file = File::open(path)?;
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| broken("a Parquet file", e))?;
    Ok(metadata
        .row_groups()
        .iter()
        .map(|g| g.num_rows().max(0) as u64)
        .collect())
}

/// The first bytes of a Parquet file (and its last).
const PARQUET_MAGIC: &[u8] = b"PAR1";
/// The first bytes of an Arrow IPC file.
const ARROW_FILE_MAGIC: &[u8] = b"ARROW1";

/// The file itself when the source is one, else the source copied to an
/// unnamed temporary file (standard input, a pipe): Parquet and Arrow IPC
/// files are read from their end. With its size.
fn seekable(source: &mut Source) -> io::Result<(File, u64)> {
    if let Some(file) = source.take_file() {
        let len = file.metadata()?.len();
        return Ok((file, len));
    }
    let taken = std::mem::replace(source, Source::empty());
    let mut spool = tempfile::tempfile().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "it is not a file, and it is read from its end: copying it to a temporary file \
                 failed ({e}); give it as a file"
            ),
        )
    })?;
    let len = io::copy(&mut taken.into_stream(), &mut spool)?;
    spool.rewind()?;
    Ok((spool, len))
}

/// The error for a dataset whose first bytes are not `what`'s.
fn not_what(head: &[u8], what: &str, magic: &str) -> io::Error {
    let start: String = head
        .iter()
        .take(8)
        .map(|&b| {
            if b.is_ascii_graphic() {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect();
    io::Error::new(
        io::ErrorKind::InvalidData,
        if head.is_empty() {
            format!("it is empty, and is not {what}, which starts with {magic}")
        } else {
            format!("it is not {what}, which starts with {magic}: it starts with {start}")
        },
    )
}

/// A reader's error, as the dataset's.
fn broken(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("reading it as {what} failed (is it whole?): {e}"),
    )
}

/// Whether a column is pandas' index, which `DataFrame.to_parquet` writes
/// as a column: not a field of the records.
fn pandas_index(name: &str) -> bool {
    name.strip_prefix("__index_level_")
        .and_then(|rest| rest.strip_suffix("__"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The plan that reads records of this schema: the one given, checked
/// against the columns, or the shape the columns are in.
fn shaped(schema: &Schema, plan: Option<Plan>) -> Result<Plan, Refusal> {
    let names: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| !pandas_index(n))
        .collect();
    match plan {
        Some(mut plan) => {
            plan.check_first(1, &names).map_err(Refusal::Shape)?;
            Ok(plan)
        }
        None => Shape::detect(names.iter().copied())
            .map(Shape::plan)
            .ok_or_else(|| Refusal::Shape(super::mapping::refusal(1, &names))),
    }
}

/// The columns records are made of, their types checked: those the plan
/// reads, and those its shape refuses (named, not read).
fn columns(schema: &Schema, plan: &Plan) -> Result<Vec<Column>, Refusal> {
    let mut columns = Vec::new();
    for (index, field) in schema.fields().iter().enumerate() {
        let name = field.name();
        if pandas_index(name) {
            continue;
        }
        let read = plan.reads(name);
        if !read && !plan.refuses(name) {
            continue;
        }
        if read && let Err(inner) = readable(field.data_type(), name) {
            return Err(Refusal::Shape(format!(
                "column `{name}` {}: a record's values are read as JSON, from strings, binary \
                 holding UTF-8 text, booleans, integers, floats, lists, structs, maps with \
                 string keys and dictionaries of these; write it as one of these (a date or a \
                 decimal as a string, say){}",
                inner,
                if plan.is_map() {
                    ""
                } else {
                    ", or map the columns to read with --map"
                }
            )));
        }
        columns.push(Column {
            index,
            name: name.clone(),
            read,
        });
    }
    Ok(columns)
}

/// Whether values of `data_type` are read as JSON; if not, which part of
/// `name` is of which type.
fn readable(data_type: &DataType, name: &str) -> Result<(), String> {
    use DataType as T;
    match data_type {
        T::Null
        | T::Boolean
        | T::Int8
        | T::Int16
        | T::Int32
        | T::Int64
        | T::UInt8
        | T::UInt16
        | T::UInt32
        | T::UInt64
        | T::Float16
        | T::Float32
        | T::Float64
        | T::Utf8
        | T::LargeUtf8
        | T::Utf8View
        | T::Binary
        | T::LargeBinary
        | T::BinaryView
        | T::FixedSizeBinary(_) => Ok(()),
        T::List(item) | T::LargeList(item) | T::FixedSizeList(item, _) => {
            readable(item.data_type(), &format!("{name}[]"))
        }
        T::Struct(fields) => fields
            .iter()
            .try_for_each(|f| readable(f.data_type(), &format!("{name}.{}", f.name()))),
        T::Map(entries, _) => {
            let T::Struct(kv) = entries.data_type() else {
                return Err(format!(
                    "is a map of type {data_type}, whose entries are no struct"
                ));
            };
            let key = kv.first().map(|k| k.data_type());
            if !matches!(key, Some(T::Utf8 | T::LargeUtf8 | T::Utf8View)) {
                return Err(format!(
                    "is a map whose keys are not strings ({data_type}), and an object's keys are"
                ));
            }
            match kv.get(1) {
                Some(value) => readable(value.data_type(), &format!("{name}{{}}")),
                None => Err(format!("is a map of type {data_type} without values")),
            }
        }
        T::Dictionary(_, values) => readable(values, name),
        other => Err(if name.contains(['.', '[', '{']) {
            format!("holds `{name}` of type {other}, which is not read")
        } else {
            format!("is of type {other}, which is not read")
        }),
    }
}

/// The bytes of text a record may still take.
struct Budget {
    left: usize,
    /// Whether it ran out.
    over: bool,
}

impl Budget {
    fn take(&mut self, bytes: usize) -> Result<(), String> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => {
                self.over = true;
                Err("is too long".to_owned())
            }
        }
    }
}

/// The JSON value of row `i` of `array`, whose type [`readable`] passed.
fn value(array: &dyn Array, i: usize, budget: &mut Budget) -> Result<Value, String> {
    use DataType as T;
    if array.is_null(i) {
        return Ok(Value::Null);
    }
    budget.take(1)?;
    Ok(match array.data_type() {
        T::Null => Value::Null,
        T::Boolean => Value::Bool(array.as_boolean().value(i)),
        T::Int8 => array.as_primitive::<Int8Type>().value(i).into(),
        T::Int16 => array.as_primitive::<Int16Type>().value(i).into(),
        T::Int32 => array.as_primitive::<Int32Type>().value(i).into(),
        T::Int64 => array.as_primitive::<Int64Type>().value(i).into(),
        T::UInt8 => array.as_primitive::<UInt8Type>().value(i).into(),
        T::UInt16 => array.as_primitive::<UInt16Type>().value(i).into(),
        T::UInt32 => array.as_primitive::<UInt32Type>().value(i).into(),
        T::UInt64 => array.as_primitive::<UInt64Type>().value(i).into(),
        // As its shortest decimal form, as JSON text of it reads back.
        T::Float16 => float(array.as_primitive::<Float16Type>().value(i).to_f32())?,
        T::Float32 => float(array.as_primitive::<Float32Type>().value(i))?,
        T::Float64 => number(array.as_primitive::<Float64Type>().value(i))?,
        T::Utf8 => text(array.as_string::<i32>().value(i), budget)?,
        T::LargeUtf8 => text(array.as_string::<i64>().value(i), budget)?,
        T::Utf8View => text(array.as_string_view().value(i), budget)?,
        T::Binary => bytes(array.as_binary::<i32>().value(i), budget)?,
        T::LargeBinary => bytes(array.as_binary::<i64>().value(i), budget)?,
        T::BinaryView => bytes(array.as_binary_view().value(i), budget)?,
        T::FixedSizeBinary(_) => bytes(array.as_fixed_size_binary().value(i), budget)?,
        T::List(_) => {
            let list = array.as_list::<i32>();
            let offsets = list.value_offsets();
            let range = offsets[i] as usize..offsets[i + 1] as usize;
            items(list.values().as_ref(), range, budget)?
        }
        T::LargeList(_) => {
            let list = array.as_list::<i64>();
            let offsets = list.value_offsets();
            let range = offsets[i] as usize..offsets[i + 1] as usize;
            items(list.values().as_ref(), range, budget)?
        }
        T::FixedSizeList(_, _) => {
            let list = array.as_fixed_size_list();
            // A sliced list's values are sliced with it: row i starts at
            // i * value_length (Arrow's `value_offset` would narrow it to i32).
            let start = i * list.value_length() as usize;
            let range = start..start + list.value_length() as usize;
            items(list.values().as_ref(), range, budget)?
        }
        T::Struct(fields) => {
            let array = array.as_struct();
            let mut object = Map::new();
            for (field, column) in fields.iter().zip(array.columns()) {
                let value = value(column.as_ref(), i, budget)
                    .map_err(|reason| format!("at `{}`: {reason}", field.name()))?;
                if !value.is_null() {
                    budget.take(field.name().len())?;
                    object.insert(field.name().clone(), value);
                }
            }
            Value::Object(object)
        }
        T::Map(_, _) => {
            let map = array.as_map();
            let offsets = map.value_offsets();
            let (keys, values) = (map.keys().as_ref(), map.values().as_ref());
            let mut object = Map::new();
            for j in offsets[i] as usize..offsets[i + 1] as usize {
                let Value::String(key) = value(keys, j, budget)? else {
                    return Err("has a map entry whose key is null".to_owned());
                };
                let value =
                    value(values, j, budget).map_err(|reason| format!("at `{key}`: {reason}"))?;
                object.insert(key, value);
            }
            Value::Object(object)
        }
        T::Dictionary(_, _) => {
            let dictionary = array.as_any_dictionary();
            let key = dictionary_key(dictionary.keys(), i)
                .ok_or_else(|| "has a dictionary key out of range".to_owned())?;
            let values = dictionary.values();
            if key >= values.len() {
                return Err("has a dictionary key out of range".to_owned());
            }
            value(values.as_ref(), key, budget)?
        }
        other => return Err(format!("is of type {other}, which is not read")),
    })
}

/// The values at `range` of a list's items, as an array.
fn items(
    values: &dyn Array,
    range: std::ops::Range<usize>,
    budget: &mut Budget,
) -> Result<Value, String> {
    range
        .map(|j| value(values, j, budget))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// A dictionary's key at `i`, as an index of its values.
fn dictionary_key(keys: &dyn Array, i: usize) -> Option<usize> {
    use DataType as T;
    match keys.data_type() {
        T::Int8 => usize::try_from(keys.as_primitive::<Int8Type>().value(i)).ok(),
        T::Int16 => usize::try_from(keys.as_primitive::<Int16Type>().value(i)).ok(),
        T::Int32 => usize::try_from(keys.as_primitive::<Int32Type>().value(i)).ok(),
        T::Int64 => usize::try_from(keys.as_primitive::<Int64Type>().value(i)).ok(),
        T::UInt8 => Some(keys.as_primitive::<UInt8Type>().value(i).into()),
        T::UInt16 => Some(keys.as_primitive::<UInt16Type>().value(i).into()),
        T::UInt32 => usize::try_from(keys.as_primitive::<UInt32Type>().value(i)).ok(),
        T::UInt64 => usize::try_from(keys.as_primitive::<UInt64Type>().value(i)).ok(),
        _ => None,
    }
}

/// A string, counted against the budget before it is copied.
fn text(s: &str, budget: &mut Budget) -> Result<Value, String> {
    budget.take(s.len())?;
    Ok(Value::String(s.to_owned()))
}

/// Binary as its UTF-8 text.
fn bytes(b: &[u8], budget: &mut Budget) -> Result<Value, String> {
    budget.take(b.len())?;
    match std::str::from_utf8(b) {
        Ok(s) => Ok(Value::String(s.to_owned())),
        Err(e) => Err(format!(
            "holds bytes that are not UTF-8 text (from byte {}), and a record's values are JSON, \
             whose strings are text",
            e.valid_up_to()
        )),
    }
}

/// A 32-bit float as the number its shortest decimal form is.
fn float(v: f32) -> Result<Value, String> {
    if !v.is_finite() {
        return number(f64::from(v));
    }
    number(v.to_string().parse::<f64>().unwrap_or(f64::from(v)))
}

/// A float as a JSON number; NaN and the infinities are none.
fn number(v: f64) -> Result<Value, String> {
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .ok_or_else(|| format!("holds {v}, and JSON has no such number"))
}

/// A reader that counts the bytes read through it.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: io::Seek> io::Seek for Counting<R> {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(to)
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{ArrayRef, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use super::*;

    /// A Parquet file of `groups` row groups of `rows` rows, each output
    /// its row's number and `width` bytes more.
    fn parquet(dir: &std::path::Path, groups: usize, rows: usize, width: usize) -> Source {
        let path = dir.join("d.parquet");
        let n = groups * rows;
        let input: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("q{i}")),
        ));
        let output: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("{i}{}", "x".repeat(width))),
        ));
        let batch = RecordBatch::try_from_iter([("input", input), ("output", output)]).unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(rows))
            .build();
        let file = File::create(&path).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        let metadata = writer.close().unwrap();
        assert_eq!(metadata.num_row_groups(), groups);
        Source::open(&path).unwrap()
    }

    fn open(source: Source, max: usize) -> Rows {
        match Rows::open(Format::Parquet, source, None, max, None) {
            Ok(rows) => rows,
            Err(Refusal::Read(e)) => panic!("{e}"),
            Err(Refusal::Shape(e)) => panic!("{e}"),
        }
    }

    #[test]
    fn a_file_of_many_row_groups_is_read_a_batch_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = open(parquet(dir.path(), 200, 10, 8), usize::MAX);
        assert_eq!(rows.batches_read(), 0);
        let first = rows.next(false).unwrap().unwrap();
        assert!(matches!(first, Entry::Record(r) if r.line == 1));
        // One batch read for the first record, not the file's 200 row
        // groups; and a batch never holds more than its rows.
        assert_eq!(rows.batches_read(), 1);
        let held = rows.batch.as_ref().unwrap().num_rows();
        assert!(held <= BATCH_ROWS, "{held}");
        let mut n = 1;
        let mut most = 0;
        while let Some(entry) = rows.next(false).unwrap() {
            n += 1;
            assert!(matches!(entry, Entry::Record(r) if r.line == n));
            most = most.max(rows.batch.as_ref().unwrap().num_rows());
            // A batch is read only once the one before is used up.
            assert!(rows.batches_read() <= n.div_ceil(held));
        }
        assert_eq!(n, 2000);
        assert!(most <= BATCH_ROWS, "{most}");
    }

    #[test]
    fn row_groups_read_apart_keep_their_lines_in_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        drop(parquet(dir.path(), 5, 10, 0));
        let path = dir.path().join("d.parquet");
        assert_eq!(parquet_row_groups(&path).unwrap(), vec![10; 5]);
        let part = |range: Range<usize>| {
            let source = Source::open(&path).unwrap();
            match Rows::open(Format::Parquet, source, None, usize::MAX, Some(range)) {
                Ok(mut rows) => {
                    let mut lines = Vec::new();
                    while let Some(entry) = rows.next(false).unwrap() {
                        let Entry::Record(r) = entry else {
                            panic!("a record")
                        };
                        // The row's own output says which row it is.
                        assert_eq!(
                            r.record.outputs,
                            verdict_scorer::OwnedValue::from(Value::String(
                                (r.line - 1).to_string()
                            ))
                        );
                        lines.push(r.line);
                    }
                    Ok(lines)
                }
                Err(Refusal::Read(e)) => Err(e.to_string()),
                Err(Refusal::Shape(e)) => Err(e),
            }
        };
        assert_eq!(part(2..4).unwrap(), (21..=40).collect::<Vec<_>>());
        assert_eq!(part(0..1).unwrap(), (1..=10).collect::<Vec<_>>());
        assert_eq!(part(3..3).unwrap(), Vec::<usize>::new());
        let refused = part(4..6).unwrap_err();
        assert!(refused.contains("has 5 row groups"), "{refused}");
    }

    #[test]
    fn rows_of_long_texts_make_short_batches() {
        let dir = tempfile::tempdir().unwrap();
        // 64 KiB a row: about 128 rows make BATCH_BYTES.
        let mut rows = open(parquet(dir.path(), 2, 600, 64 << 10), usize::MAX);
        let mut n = 0;
        while let Some(entry) = rows.next(false).unwrap() {
            assert!(matches!(entry, Entry::Record(_)));
            n += 1;
            let held = rows.batch.as_ref().unwrap().num_rows();
            assert!(held <= 128 && held > 0, "{held} rows held");
        }
        assert_eq!(n, 1200);
        assert!(rows.batches_read() >= 1200 / 128, "{}", rows.batches_read());
    }

    #[test]
    fn a_row_over_the_cap_is_invalid_and_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        // Outputs of 101 bytes and inputs of 2: each row's text passes a
        // cap of 100 only together.
        let mut rows = open(parquet(dir.path(), 1, 3, 100), 100);
        for line in 1..=3 {
            let entry = rows.next(false).unwrap().unwrap();
            assert!(
                matches!(&entry, Entry::Invalid(i) if i.line == line && i.reason.contains("longer than 100 bytes")),
                "{entry:?}"
            );
        }
        assert!(rows.next(false).unwrap().is_none());
        let mut rows = open(parquet(dir.path(), 1, 3, 90), 100);
        assert!(matches!(rows.next(false).unwrap(), Some(Entry::Record(_))));
    }
}
