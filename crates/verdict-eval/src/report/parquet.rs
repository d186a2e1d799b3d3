//! The Parquet results file (`--results PATH.parquet`): one row per
//! record, in the shape of the table MLflow's `mlflow.genai.evaluate`
//! returns (`EvaluationResult.result_df`), so that what reads one reads
//! the other.
//!
//! | column | type | holds |
//! |---|---|---|
//! | `trace_id` | VARCHAR | the record's trace, `tr-` and 32 hex digits (NULL for a line that is not a record) |
//! | `SCORER/value` | BOOLEAN, DOUBLE or VARCHAR | the scorer's value; NULL when it failed |
//! | `SCORER/rationale` | VARCHAR | why |
//! | `SCORER/error_code`, `SCORER/error_message` | VARCHAR | the scorer's error |
//! | `SCORER/passed` | BOOLEAN | Verdict's: the record's verdict by the scorer's pass criterion |
//! | `request` | VARCHAR | the inputs, as JSON |
//! | `response` | VARCHAR | the outputs as the scorers read them: a string as it is, other JSON as its text; NULL when there are none |
//! | `expectations` | VARCHAR | the expectations, a JSON object |
//! | `state` | VARCHAR | `OK`, or `ERROR` for a record whose call failed (`--predict`) or a line that is not a record |
//! | `line` | BIGINT | Verdict's: the record's line in the dataset (1-based), as `--json` and `verdict show` name it |
//! | `run_id` | VARCHAR | Verdict's: the run |
//! | `error_code`, `error_message` | VARCHAR | Verdict's: why the record has no outputs (`PREDICT_FAILED`, …) or is not one (`INVALID_RECORD`) |
//!
//! Rows come in the order the run scores them: a line that is not a
//! record (with `--skip-invalid`) comes before the records read with it;
//! `ORDER BY line` gives the dataset's order.
//!
//! Decisions:
//!
//! - **MLflow's names, MLflow's types.** `SCORER/value`, `/rationale`,
//!   `/error_code` and `/error_message` are the keys of MLflow's
//!   evaluation result; a value is BOOLEAN, DOUBLE or VARCHAR as pandas
//!   types MLflow's (bool, float64, str). `request`, `response` and
//!   `expectations` are text: MLflow holds them as Python objects, whose
//!   shape varies by record and has no one Parquet type.
//!   MLflow's columns of the whole trace (`trace`, `spans`,
//!   `assessments`, `trace_metadata`, `tags`, `request_time`,
//!   `execution_duration`) are not written: the local store holds the
//!   trace, and `verdict sql` reads it as its `spans` and `assessments`
//!   tables, joined on `trace_id`.
//! - **A value's type is learned from the first batch.** Nothing in a
//!   scorer declares its kind; a Parquet column has one type, fixed
//!   before the first row is written. The first batch's values decide it
//!   (no value at all, or kinds that differ: VARCHAR). A later value of
//!   another kind is written where nothing is lost (a bool as 1 or 0 in
//!   DOUBLE, any value as its text in VARCHAR); one that cannot be (a
//!   label in a DOUBLE column) stops the run with an error naming the
//!   scorer, rather than a NULL that a query would read as a failure.
//!   The alternative, every value as text, would make each query cast.
//! - **Written in batches**: at most [`BATCH_ROWS`] rows or
//!   [`BATCH_BYTES`] of text are held before they go to the Parquet
//!   writer, whose row groups close at [`ROW_GROUP_BYTES`]: memory is
//!   bounded by these, not by the dataset.
//! - Snappy, as pandas and pyarrow write by default.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use verdict::mlflow_trace_id;

use super::{ResultStream, Row};
use crate::dataset::InvalidRecord;
use crate::error::{Error, Result};
use crate::output::OutputFile;
use crate::run::{RunSummary, expectations_json, json_value, text};

/// Rows held before they are written.
pub const BATCH_ROWS: usize = 4096;
/// Bytes of text held before the rows are written.
pub const BATCH_BYTES: usize = 16 << 20;
/// The bytes of a row group before it is closed.
pub const ROW_GROUP_BYTES: usize = 64 << 20;

/// The file extension `--results` writes.
pub(super) const EXTENSION: &str = "parquet";

/// Refuses a results path that does not end in `.parquet`: the format is
/// not guessed from anything else.
pub(super) fn check_results_path(path: &Path) -> Result<()> {
    let parquet = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(EXTENSION));
    if parquet {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "--results {}: the results are written as Parquet, to a file named .parquet; \
         for JSON use --json, for JUnit XML --junit",
        path.display()
    )))
}

/// The kind of a scorer's value column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Number,
    Text,
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Bool => DataType::Boolean,
            Kind::Number => DataType::Float64,
            Kind::Text => DataType::Utf8,
        }
    }
}

/// A value held until its column's type is known.
enum Cell {
    Null,
    Bool(bool),
    Number(f64),
    Label(String),
}

impl Cell {
    fn kind(&self) -> Option<Kind> {
        match self {
            Cell::Null => None,
            Cell::Bool(_) => Some(Kind::Bool),
            Cell::Number(_) => Some(Kind::Number),
            Cell::Label(_) => Some(Kind::Text),
        }
    }
}

/// One scorer's columns of the batch being filled.
struct ScorerColumns {
    name: String,
    kind: Option<Kind>,
    values: Vec<Cell>,
    rationale: StringBuilder,
    error_code: StringBuilder,
    error_message: StringBuilder,
    passed: BooleanBuilder,
}

impl ScorerColumns {
    fn new(name: &str) -> Self {
        ScorerColumns {
            name: name.to_owned(),
            kind: None,
            values: Vec::new(),
            rationale: StringBuilder::new(),
            error_code: StringBuilder::new(),
            error_message: StringBuilder::new(),
            passed: BooleanBuilder::new(),
        }
    }

    /// The kind the first batch's values share; text when none or mixed.
    fn learn_kind(&self) -> Kind {
        let mut kinds = self.values.iter().filter_map(Cell::kind);
        match kinds.next() {
            Some(first) if kinds.all(|k| k == first) => first,
            _ => Kind::Text,
        }
    }

    /// The value column, in the column's kind; an error names a value
    /// that does not fit it.
    fn value_array(&mut self, lines: &[i64]) -> io::Result<ArrayRef> {
        let kind = match self.kind {
            Some(kind) => kind,
            None => *self.kind.insert(self.learn_kind()),
        };
        let misfit = |line: i64, what: &str| {
            io::Error::other(format!(
                "scorer {} gave {what} on line {line}, where its earlier values were {}: a \
                 Parquet column has one type; write this scorer's results with --json",
                self.name,
                match kind {
                    Kind::Bool => "true or false",
                    Kind::Number => "numbers",
                    Kind::Text => "labels",
                }
            ))
        };
        let values = std::mem::take(&mut self.values);
        Ok(match kind {
            Kind::Bool => {
                let mut b = BooleanBuilder::with_capacity(values.len());
                for (cell, &line) in values.iter().zip(lines) {
                    match cell {
                        Cell::Null => b.append_null(),
                        Cell::Bool(v) => b.append_value(*v),
                        Cell::Number(_) => return Err(misfit(line, "a number")),
                        Cell::Label(_) => return Err(misfit(line, "a label")),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Number => {
                let mut b = Float64Builder::with_capacity(values.len());
                for (cell, &line) in values.iter().zip(lines) {
                    match cell {
                        Cell::Null => b.append_null(),
                        Cell::Bool(v) => b.append_value(if *v { 1.0 } else { 0.0 }),
                        Cell::Number(n) => b.append_value(*n),
                        Cell::Label(_) => return Err(misfit(line, "a label")),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Text => {
                let mut b = StringBuilder::with_capacity(values.len(), 8 * values.len());
                for cell in &values {
                    match cell {
                        Cell::Null => b.append_null(),
                        Cell::Bool(v) => b.append_value(if *v { "true" } else { "false" }),
                        Cell::Number(n) => b.append_value(serde_json::Value::from(*n).to_string()),
                        Cell::Label(l) => b.append_value(l),
                    }
                }
                Arc::new(b.finish())
            }
        })
    }
}

/// The Parquet results file being written.
pub(crate) struct ParquetWriter {
    path: PathBuf,
    run_id: String,
    /// Opened with the first batch, when the schema is known.
    file: Option<OutputFile>,
    writer: Option<ArrowWriter<OutputFile>>,
    schema: Option<SchemaRef>,
    scorers: Vec<ScorerColumns>,
    trace_id: StringBuilder,
    request: StringBuilder,
    response: StringBuilder,
    expectations: StringBuilder,
    state: StringBuilder,
    line: Int64Builder,
    lines: Vec<i64>,
    error_code: StringBuilder,
    error_message: StringBuilder,
    rows: usize,
    bytes: usize,
}

impl ParquetWriter {
    pub(crate) fn create(path: &Path, scorers: &[String], run_id: &str) -> Result<Self> {
        check_results_path(path)?;
        Ok(ParquetWriter {
            path: path.to_path_buf(),
            run_id: run_id.to_owned(),
            file: Some(OutputFile::create(path)?),
            writer: None,
            schema: None,
            scorers: scorers.iter().map(|s| ScorerColumns::new(s)).collect(),
            trace_id: StringBuilder::new(),
            request: StringBuilder::new(),
            response: StringBuilder::new(),
            expectations: StringBuilder::new(),
            state: StringBuilder::new(),
            line: Int64Builder::new(),
            lines: Vec::new(),
            error_code: StringBuilder::new(),
            error_message: StringBuilder::new(),
            rows: 0,
            bytes: 0,
        })
    }

    fn schema(&self) -> SchemaRef {
        let text = |name: &str| Field::new(name, DataType::Utf8, true);
        let mut fields = vec![text("trace_id")];
        for s in &self.scorers {
            let kind = s.kind.unwrap_or(Kind::Text);
            fields.push(Field::new(
                format!("{}/value", s.name),
                kind.data_type(),
                true,
            ));
            for column in ["rationale", "error_code", "error_message"] {
                fields.push(text(&format!("{}/{column}", s.name)));
            }
            fields.push(Field::new(
                format!("{}/passed", s.name),
                DataType::Boolean,
                true,
            ));
        }
        fields.extend([
            text("request"),
            text("response"),
            text("expectations"),
            Field::new("state", DataType::Utf8, false),
            Field::new("line", DataType::Int64, false),
            Field::new("run_id", DataType::Utf8, false),
            text("error_code"),
            text("error_message"),
        ]);
        Arc::new(Schema::new(fields))
    }

    /// The row's own columns; `error` is why it has no outputs, if so.
    fn common(&mut self, line: usize, error: Option<(&str, &str)>) {
        let line = i64::try_from(line).unwrap_or(i64::MAX);
        self.line.append_value(line);
        self.lines.push(line);
        self.state
            .append_value(if error.is_some() { "ERROR" } else { "OK" });
        self.error_code.append_option(error.map(|(c, _)| c));
        self.error_message.append_option(error.map(|(_, m)| m));
        self.rows += 1;
    }

    /// Writes the rows held, if the batch is full (or `force`).
    fn flush_batch(&mut self, force: bool) -> io::Result<()> {
        if self.rows == 0 || (!force && self.rows < BATCH_ROWS && self.bytes < BATCH_BYTES) {
            return Ok(());
        }
        let lines = std::mem::take(&mut self.lines);
        let mut values = Vec::with_capacity(self.scorers.len());
        for s in &mut self.scorers {
            values.push(s.value_array(&lines)?);
        }
        let schema = match &self.schema {
            Some(schema) => Arc::clone(schema),
            None => {
                let schema = self.schema();
                self.schema = Some(Arc::clone(&schema));
                schema
            }
        };
        let mut columns: Vec<ArrayRef> = vec![Arc::new(self.trace_id.finish())];
        for (s, value) in self.scorers.iter_mut().zip(values) {
            columns.push(value);
            columns.push(Arc::new(s.rationale.finish()));
            columns.push(Arc::new(s.error_code.finish()));
            columns.push(Arc::new(s.error_message.finish()));
            columns.push(Arc::new(s.passed.finish()));
        }
        columns.push(Arc::new(self.request.finish()));
        columns.push(Arc::new(self.response.finish()));
        columns.push(Arc::new(self.expectations.finish()));
        columns.push(Arc::new(self.state.finish()));
        columns.push(Arc::new(self.line.finish()));
        let mut run_id = StringBuilder::with_capacity(self.rows, self.rows * self.run_id.len());
        for _ in 0..self.rows {
            run_id.append_value(&self.run_id);
        }
        columns.push(Arc::new(run_id.finish()));
        columns.push(Arc::new(self.error_code.finish()));
        columns.push(Arc::new(self.error_message.finish()));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns).map_err(io::Error::other)?;
        if self.writer.is_none() {
            let file = self.file.take().expect("the file is open until finished");
            let properties = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
                .build();
            self.writer = Some(
                ArrowWriter::try_new(file, schema, Some(properties)).map_err(io::Error::other)?,
            );
        }
        let writer = self.writer.as_mut().expect("opened above");
        writer.write(&batch).map_err(io::Error::other)?;
        self.rows = 0;
        self.bytes = 0;
        Ok(())
    }
}

impl ResultStream for ParquetWriter {
    fn record(&mut self, row: &Row<'_>) -> io::Result<()> {
        self.trace_id.append_value(mlflow_trace_id(row.trace_id));
        for (s, r) in self.scorers.iter_mut().zip(row.results) {
            let said = &r.said;
            s.values
                .push(match (said.boolean, said.label, said.number) {
                    (Some(b), _, _) => Cell::Bool(b),
                    (_, Some(label), _) => {
                        self.bytes += label.len();
                        Cell::Label(label.to_owned())
                    }
                    (_, _, Some(n)) => Cell::Number(n),
                    _ => Cell::Null,
                });
            s.rationale.append_option(said.rationale);
            s.error_code.append_option(said.error.map(|(c, _)| c));
            s.error_message.append_option(said.error.map(|(_, m)| m));
            s.passed.append_option(r.passed);
            self.bytes += said.rationale.map_or(0, str::len)
                + said.error.map_or(0, |(c, m)| c.len() + m.len());
        }
        let record = row.record;
        let request = match json_value(&record.inputs) {
            serde_json::Value::Null => None,
            inputs => Some(inputs.to_string()),
        };
        let response = match &record.outputs {
            verdict_scorer::OwnedValue::Null => None,
            outputs => Some(text(outputs)),
        };
        let expectations = expectations_json(record);
        self.bytes += request.as_ref().map_or(0, String::len)
            + response.as_ref().map_or(0, |r| r.len())
            + expectations.len();
        self.request.append_option(request);
        self.response.append_option(response);
        self.expectations.append_value(expectations);
        let error = row.failed.map(|e| (e.code(), e.to_string()));
        self.common(row.line, error.as_ref().map(|(c, m)| (*c, m.as_str())));
        self.flush_batch(false)
    }

    fn invalid(&mut self, invalid: &InvalidRecord, _scorers: &[String]) -> io::Result<()> {
        const CODE: &str = "INVALID_RECORD";
        self.trace_id.append_null();
        for s in &mut self.scorers {
            s.values.push(Cell::Null);
            s.rationale.append_null();
            s.error_code.append_value(CODE);
            s.error_message.append_value(&invalid.reason);
            s.passed.append_null();
        }
        self.request.append_null();
        self.response.append_null();
        self.expectations.append_null();
        self.bytes += invalid.reason.len() * (1 + self.scorers.len());
        self.common(invalid.line, Some((CODE, &invalid.reason)));
        self.flush_batch(false)
    }

    fn finish(mut self: Box<Self>, _summary: &RunSummary) -> Result<()> {
        self.flush_batch(true).map_err(|e| self.error(e))?;
        let writer = match self.writer.take() {
            Some(writer) => writer,
            // No row: a file of the schema and no row group.
            None => {
                let file = self.file.take().expect("the file is open until finished");
                let schema = self.schema();
                ArrowWriter::try_new(file, schema, None)
                    .map_err(|e| self.error(io::Error::other(e)))?
            }
        };
        let file = writer
            .into_inner()
            .map_err(|e| self.error(io::Error::other(e)))?;
        file.commit()
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TraceId;
    use verdict_scorer::OwnedRecord;

    use super::*;
    use crate::report::RowResult;
    use crate::scored::Said;

    fn row<'a>(record: &'a OwnedRecord, results: &'a [RowResult<'a>], line: usize) -> Row<'a> {
        Row {
            line,
            trace_id: TraceId::from(line as u128),
            record,
            results,
            seconds: 0.0,
            failed: None,
        }
    }

    fn said(boolean: Option<bool>, number: Option<f64>, label: Option<&str>) -> Said<'_> {
        Said {
            boolean,
            number,
            label,
            ..Said::default()
        }
    }

    #[test]
    fn rows_are_written_a_batch_at_a_time_not_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.parquet");
        let mut writer = ParquetWriter::create(&path, &["s".to_owned()], "run").unwrap();
        let record = OwnedRecord::new("in", "out");
        let results = [RowResult {
            scorer: "s",
            said: said(Some(true), Some(1.0), None),
            passed: Some(true),
        }];
        for line in 1..=BATCH_ROWS {
            assert_eq!(writer.rows, line - 1);
            writer.record(&row(&record, &results, line)).unwrap();
        }
        // The batch went to the Parquet writer; nothing is held.
        assert_eq!(writer.rows, 0);
        assert!(writer.writer.is_some());
        assert!(writer.scorers[0].values.is_empty());
    }

    #[test]
    fn a_value_that_does_not_fit_its_column_is_an_error_and_a_bool_fits_a_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.parquet");
        let mut writer = ParquetWriter::create(&path, &["s".to_owned()], "run").unwrap();
        let record = OwnedRecord::new("in", "out");
        let number = [RowResult {
            scorer: "s",
            said: said(None, Some(0.5), None),
            passed: None,
        }];
        let boolean = [RowResult {
            scorer: "s",
            said: said(Some(true), Some(1.0), None),
            passed: None,
        }];
        let label = [RowResult {
            scorer: "s",
            said: said(None, None, Some("good")),
            passed: None,
        }];
        // The first batch makes the column DOUBLE.
        for line in 1..=BATCH_ROWS {
            writer.record(&row(&record, &number, line)).unwrap();
        }
        assert_eq!(writer.scorers[0].kind, Some(Kind::Number));
        // A bool is 1 in it.
        writer
            .record(&row(&record, &boolean, BATCH_ROWS + 1))
            .unwrap();
        writer.flush_batch(true).unwrap();
        // A label is not written as NULL: the write fails, naming it.
        writer
            .record(&row(&record, &label, BATCH_ROWS + 2))
            .unwrap();
        let error = writer.flush_batch(true).unwrap_err().to_string();
        assert!(
            error.contains("scorer s gave a label on line 4098") && error.contains("--json"),
            "{error}"
        );
    }

    #[test]
    fn only_a_parquet_name_is_taken() {
        assert!(check_results_path(Path::new("r.parquet")).is_ok());
        assert!(check_results_path(Path::new("R.PARQUET")).is_ok());
        for name in ["r.json", "r", "r.parquet.tmp", "/dev/stdout"] {
            let error = check_results_path(Path::new(name)).unwrap_err().to_string();
            assert!(error.contains(".parquet"), "{name}: {error}");
        }
    }
}
