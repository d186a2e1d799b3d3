//! CSV and TSV datasets: a header row names the columns, and each row is
//! a record, read one at a time into a reused buffer.
//!
//! A cell that parses as a JSON object or array is that JSON (an
//! `inputs` of `{"question": "…"}`, a list of acceptable answers); any
//! other cell is text, `42` and `true` included, so that a value is never
//! guessed into another type. An empty cell of an optional field (an
//! expectation, `trace_id`) is no value.

use std::io::{self, BufRead as _, BufReader};

use csv_core::ReadRecordResult;
use serde_json::{Map, Value};

use super::lines::fill;
use super::source::Stream;
use super::{endless, endless_error, too_long};

/// The most columns a header row may name: beyond any spreadsheet's
/// (Excel stops at 16,384), and what bounds the cell ends a header keeps.
const MAX_COLUMNS: usize = 1 << 16;

/// The rows of a CSV or TSV stream.
///
/// Rows are parsed by `csv_core` (RFC 4180 quoting, `\n`, `\r` or `\r\n`
/// ends, empty lines skipped) into buffers this reader bounds: a row of
/// more than `max` bytes, or of more cells than the header has columns,
/// is read to its end without being kept, and reported as invalid (unless
/// it goes on for 16 times `max`: see [`endless`]).
pub(super) struct Rows {
    reader: BufReader<Stream>,
    core: csv_core::Reader,
    /// The most bytes a row may take.
    max: usize,
    bytes: u64,
    header: Option<Vec<String>>,
    /// The current row's cells, one after the other, and where each ends.
    text: Vec<u8>,
    ends: Vec<usize>,
    /// The stream has ended.
    done: bool,
}

/// What the next row is.
pub(super) enum Row {
    /// A row's cells by column, and the line it starts on.
    Cells(usize, Map<String, Value>),
    /// A row that is not a record, its line, and why.
    Invalid(usize, String),
}

/// A row as read, before its cells are named.
enum Raw {
    /// Its cells are in `text` and `ends`: this many.
    Cells(usize),
    /// It was longer than `max` bytes.
    TooLong,
    /// It had more cells than it may keep: this many.
    TooManyCells(usize),
}

impl Rows {
    pub(super) fn new(stream: Stream, delimiter: u8, max: usize) -> Self {
        Rows {
            reader: BufReader::with_capacity(1 << 16, stream),
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            max,
            bytes: 0,
            header: None,
            text: vec![0; 1 << 10],
            ends: vec![0; 1 << 6],
            done: false,
        }
    }

    /// The bytes read so far.
    pub(super) fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Reads the next row (`None` at the end) and the line it starts on,
    /// keeping at most `max_cells` cells. A row over the limits is read to
    /// its end when `to_its_end`, else reported at once.
    fn read(&mut self, max_cells: usize, to_its_end: bool) -> io::Result<Option<(usize, Raw)>> {
        if self.done {
            return Ok(None);
        }
        // csv_core counts the lines it has read past.
        let line = usize::try_from(self.core.line()).unwrap_or(usize::MAX);
        let (mut kept, mut cells) = (0usize, 0usize);
        let (mut size, mut count) = (0usize, 0usize);
        let mut over: Option<Raw> = None;
        loop {
            let input = fill(&mut self.reader)?;
            let (result, read, written, ended) =
                self.core
                    .read_record(input, &mut self.text[kept..], &mut self.ends[cells..]);
            self.reader.consume(read);
            self.bytes += read as u64;
            size = size.saturating_add(read);
            count += ended;
            kept += written;
            cells += ended;
            if over.is_none() && size > self.max {
                over = Some(Raw::TooLong);
            } else if over.is_none() && count > max_cells {
                over = Some(Raw::TooManyCells(0));
            }
            if !to_its_end && over.is_some() {
                self.done = true;
                return Ok(over.map(|over| (line, over)));
            }
            if over.is_some() {
                // Read on to its end; keep nothing more of it.
                (kept, cells) = (0, 0);
                if endless(size as u64, self.max) {
                    self.done = true;
                    return Err(endless_error("row", self.max));
                }
            }
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    if over.is_none() {
                        // A row's cells are never longer than the row.
                        let grown = (self.text.len() * 2).min(self.max.saturating_add(1));
                        self.text.resize(grown.max(self.text.len() + 1), 0);
                    }
                }
                ReadRecordResult::OutputEndsFull => {
                    if over.is_none() {
                        self.ends.resize(self.ends.len() * 2, 0);
                    }
                }
                ReadRecordResult::Record => {
                    return Ok(Some((
                        line,
                        match over {
                            None => Raw::Cells(cells),
                            Some(Raw::TooManyCells(_)) => Raw::TooManyCells(count),
                            Some(other) => other,
                        },
                    )));
                }
                ReadRecordResult::End => {
                    self.done = true;
                    return Ok(None);
                }
            }
        }
    }

    /// Cell `i` of the row just read, as text.
    fn cell(&self, i: usize) -> Result<&str, std::str::Utf8Error> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        std::str::from_utf8(&self.text[start..self.ends[i]])
    }

    /// The column names, from the first row; `Err` with the reason when
    /// the header cannot name columns. `Ok(None)` for an empty stream.
    pub(super) fn header(&mut self) -> Result<Option<&[String]>, String> {
        if self.header.is_none() {
            // A header over the limits refuses the dataset: not read on.
            let read = self
                .read(MAX_COLUMNS, false)
                .map_err(|e| format!("its header row cannot be read: {e}"))?;
            let cells = match read {
                None => return Ok(None),
                Some((_, Raw::Cells(cells))) => cells,
                Some((_, Raw::TooLong)) => {
                    return Err(format!("its header row: {}", too_long("row", self.max)));
                }
                Some((_, Raw::TooManyCells(_))) => {
                    return Err(format!(
                        "its header row names more than {MAX_COLUMNS} columns, the most a \
                         dataset may have"
                    ));
                }
            };
            let names = (0..cells)
                .map(|i| self.cell(i).map(str::to_owned))
                .collect::<Result<Vec<String>, _>>()
                .map_err(|e| format!("its header row is not UTF-8 text ({e})"))?;
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
    pub(super) fn next(&mut self) -> Option<io::Result<Row>> {
        let columns = self.header.as_ref()?.len();
        loop {
            let (line, raw) = match self.read(columns, true) {
                Ok(Some(read)) => read,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            let cells = match raw {
                Raw::Cells(cells) => cells,
                Raw::TooLong => return Some(Ok(Row::Invalid(line, too_long("row", self.max)))),
                Raw::TooManyCells(n) => {
                    return Some(Ok(Row::Invalid(
                        line,
                        format!("the row has {n} cells and the header {columns} columns"),
                    )));
                }
            };
            // A blank line is no record.
            if cells == 1 && self.ends[0] == 0 && columns > 1 {
                continue;
            }
            if cells != columns {
                return Some(Ok(Row::Invalid(
                    line,
                    format!("the row has {cells} cells and the header {columns} columns"),
                )));
            }
            let header = self.header.as_ref()?;
            let mut row = Map::new();
            for (i, name) in header.iter().enumerate() {
                match self.cell(i) {
                    Ok(text) => {
                        row.insert(name.clone(), cell(text));
                    }
                    Err(e) => {
                        return Some(Ok(Row::Invalid(
                            line,
                            format!(
                                "not a valid row: its cell `{name}` is not UTF-8 text ({e}); a \
                                 CSV dataset is UTF-8 text"
                            ),
                        )));
                    }
                }
            }
            return Some(Ok(Row::Cells(line, row)));
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
        rows_of(text, 1 << 20)
    }

    fn rows_of(text: &str, max: usize) -> (Result<Vec<String>, String>, Vec<Row>) {
        let stream: super::super::source::Stream = Cursor::new(text.as_bytes().to_vec())
            .chain(Box::new(std::io::empty()) as Box<dyn Read + Send>);
        let mut rows = Rows::new(stream, b',', max);
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
    fn a_row_over_the_cap_or_with_too_many_cells_is_read_to_its_end_without_being_kept() {
        let long = "x".repeat(100_000);
        let commas = ",".repeat(100_000);
        let text = format!("a,b\n1,2\n\"{long}\n{long}\",3\n4,5\n{commas}\n6,7\n");
        let total = text.len() as u64;
        let stream: super::super::source::Stream = Cursor::new(text.into_bytes())
            .chain(Box::new(std::io::empty()) as Box<dyn Read + Send>);
        let mut rows = Rows::new(stream, b',', 20_000);
        assert_eq!(rows.header().unwrap().unwrap(), ["a", "b"]);
        let mut said = Vec::new();
        while let Some(row) = rows.next() {
            said.push(match row.unwrap() {
                Row::Cells(line, cells) => format!("{line}: {}", Value::Object(cells)),
                Row::Invalid(line, reason) => format!("{line}! {reason}"),
            });
        }
        assert_eq!(
            said,
            [
                r#"2: {"a":"1","b":"2"}"#.to_owned(),
                "3! the row is longer than 20000 bytes, the most one record may take, and is \
                 not read"
                    .to_owned(),
                r#"5: {"a":"4","b":"5"}"#.to_owned(),
                "6! the row has 100001 cells and the header 2 columns".to_owned(),
                r#"7: {"a":"6","b":"7"}"#.to_owned(),
            ]
        );
        // Nothing of them was kept.
        assert!(rows.text.len() <= 40_000, "{}", rows.text.len());
        assert!(rows.ends.len() <= 64, "{}", rows.ends.len());
        assert_eq!(rows.bytes_read(), total);
    }

    #[test]
    fn a_row_that_does_not_end_stops_the_reading_at_16_times_the_cap() {
        let stream: super::super::source::Stream = Cursor::new(b"a,b\n1,\"".to_vec())
            .chain(Box::new(std::io::repeat(b'x')) as Box<dyn Read + Send>);
        let mut rows = Rows::new(stream, b',', 1000);
        rows.header().unwrap();
        let Some(Err(err)) = rows.next() else {
            panic!("read on")
        };
        assert!(
            err.to_string()
                .starts_with("a row goes on for more than 16000 bytes without ending"),
            "{err}"
        );
        assert!(rows.next().is_none());
    }

    #[test]
    fn a_header_over_the_cap_is_refused() {
        let (header, _) = rows_of(&format!("a,{}\n1,2\n", "b".repeat(2000)), 1000);
        assert!(
            header
                .unwrap_err()
                .contains("the row is longer than 1000 bytes"),
            "header"
        );
        let (header, _) = rows_of(&",".repeat(1 << 17), 1 << 20);
        assert!(
            header
                .unwrap_err()
                .contains("names more than 65536 columns"),
            "header"
        );
    }

    #[test]
    fn a_header_that_cannot_name_columns_is_refused() {
        assert!(rows("a,,b\n").0.unwrap_err().contains("column 2"));
        assert!(rows("a,b,a\n").0.unwrap_err().contains("`a` twice"));
    }
}
