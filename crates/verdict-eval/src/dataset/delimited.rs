//! CSV and TSV datasets: a header row names the columns, and each row is
//! a record, read one at a time into a reused buffer.
//!
//! A cell that parses as a JSON object or array is that JSON (an
//! `inputs` of `{"question": "…"}`, a list of acceptable answers); any
//! other cell is text, `42` and `true` included, so that a value is never
//! guessed into another type. An empty cell of an optional field (an
//! expectation, `trace_id`) is no value.

use serde_json::{Map, Value};

use super::source::Stream;

/// The rows of a CSV or TSV stream.
pub(super) struct Rows {
    reader: csv::Reader<Stream>,
    header: Option<Vec<String>>,
    record: csv::StringRecord,
}

/// What the next row is.
pub(super) enum Row {
    /// A row's cells by column, and the line it starts on.
    Cells(usize, Map<String, Value>),
    /// A row that is not a record, its line, and why.
    Invalid(usize, String),
}

impl Rows {
    pub(super) fn new(stream: Stream, delimiter: u8) -> Self {
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(stream);
        Rows {
            reader,
            header: None,
            record: csv::StringRecord::new(),
        }
    }

    /// The bytes read so far.
    pub(super) fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }

    /// The column names, from the first row; `Err` with the reason when
    /// the header cannot name columns. `Ok(None)` for an empty stream.
    pub(super) fn header(&mut self) -> Result<Option<&[String]>, String> {
        if self.header.is_none() {
            match self.reader.read_record(&mut self.record) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(e) => return Err(format!("its header row cannot be read: {e}")),
            }
            let names: Vec<String> = self.record.iter().map(str::to_owned).collect();
            if let Some(i) = names.iter().position(String::is_empty) {
                return Err(format!(
                    "column {} of the header row has no name: every column is named",
                    i + 1
                ));
            }
            if let Some(twice) = names
                .iter()
                .enumerate()
                .find_map(|(i, n)| names[..i].contains(n).then_some(n))
            {
                return Err(format!(
                    "the header row names the column `{twice}` twice: a record could not say \
                     which one it means"
                ));
            }
            self.header = Some(names);
        }
        Ok(self.header.as_deref())
    }

    /// The next row, once [`header`](Self::header) has been read.
    pub(super) fn next(&mut self) -> Option<Result<Row, csv::Error>> {
        let header = self.header.as_ref()?;
        let line = |record: &csv::StringRecord, reader: &csv::Reader<Stream>| {
            record
                .position()
                .unwrap_or_else(|| reader.position())
                .line() as usize
        };
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let at = line(&self.record, &self.reader);
                // A blank line is no record.
                if self.record.len() == 1 && self.record[0].is_empty() && header.len() > 1 {
                    return self.next();
                }
                if self.record.len() != header.len() {
                    return Some(Ok(Row::Invalid(
                        at,
                        format!(
                            "the row has {} cells and the header {} columns",
                            self.record.len(),
                            header.len()
                        ),
                    )));
                }
                let cells = header
                    .iter()
                    .zip(self.record.iter())
                    .map(|(name, text)| (name.clone(), cell(text)))
                    .collect();
                Some(Ok(Row::Cells(at, cells)))
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::Utf8 { pos, .. } => Some(Ok(Row::Invalid(
                    pos.as_ref().map_or(0, |p| p.line() as usize),
                    format!("not a valid row: {e}; a CSV dataset is UTF-8 text"),
                ))),
                _ => Some(Err(e)),
            },
        }
    }
}

/// A cell's value: the JSON object or array it holds, else its text.
pub(super) fn cell(text: &str) -> Value {
    let trimmed = text.trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(value @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str(text)
    {
        return value;
    }
    Value::String(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    fn rows(text: &str) -> (Result<Vec<String>, String>, Vec<Row>) {
        let stream: super::super::source::Stream = Cursor::new(text.as_bytes().to_vec())
            .chain(Box::new(std::io::empty()) as Box<dyn Read + Send>);
        let mut rows = Rows::new(stream, b',');
        let header = rows
            .header()
            .map(|h| h.map(<[String]>::to_vec).unwrap_or_default());
        let mut all = Vec::new();
        while let Some(row) = rows.next() {
            all.push(row.unwrap());
        }
        (header, all)
    }

    #[test]
    fn cells_are_json_objects_and_arrays_else_text() {
        assert_eq!(cell("{\"q\": 1}"), serde_json::json!({"q": 1}));
        assert_eq!(
            cell(" [\"Lima\", \"Ciudad\"]"),
            serde_json::json!(["Lima", "Ciudad"])
        );
        assert_eq!(cell("42"), Value::String("42".into()));
        assert_eq!(cell("true"), Value::String("true".into()));
        assert_eq!(cell("[not json"), Value::String("[not json".into()));
    }

    #[test]
    fn rows_are_read_with_their_lines_and_quoting() {
        let (header, rows) = rows(
            "question,answer\n\"Capital, of France?\",\"Pa\"\"ris\"\n\"two\nlines\",x\nonly one cell\n",
        );
        assert_eq!(header.unwrap(), ["question", "answer"]);
        let Row::Cells(line, cells) = &rows[0] else {
            panic!("not read")
        };
        assert_eq!(*line, 2);
        assert_eq!(cells["question"], "Capital, of France?");
        assert_eq!(cells["answer"], "Pa\"ris");
        let Row::Cells(line, cells) = &rows[1] else {
            panic!("not read")
        };
        assert_eq!((*line, cells["question"].as_str()), (3, Some("two\nlines")));
        let Row::Invalid(line, reason) = &rows[2] else {
            panic!("read")
        };
        assert_eq!(*line, 5);
        assert!(
            reason.contains("1 cells and the header 2 columns"),
            "{reason}"
        );
    }

    #[test]
    fn a_header_that_cannot_name_columns_is_refused() {
        assert!(rows("a,,b\n").0.unwrap_err().contains("column 2"));
        assert!(rows("a,b,a\n").0.unwrap_err().contains("`a` twice"));
    }
}
