//! JUnit XML: one test suite per scorer, one test case per record, so
//! that CI systems list each failing record.
//!
//! Test cases are written to one temporary file per scorer while the run
//! streams, and joined under their suites' counts at the end: memory does
//! not grow with the number of records.
//!
//! Times, in seconds as JUnit has them: a test case's `time` is its even
//! share of the scoring time of its chunk of records (4,096; the first
//! chunk 512): scorers take records in batches on every core, so one
//! record's own time is not measured, and measuring it would slow the
//! run. A test suite's `time`
//! is the sum of its cases', so CI systems that add up cases and those
//! that read the suite agree, and all suites together make the run's
//! scoring time. `<testsuites time>` is the whole run's, reading and
//! storing included. An invalid record was not scored: its time is 0.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::{ResultStream, Row};
use crate::dataset::InvalidRecord;
use crate::error::{Error, Result};
use crate::output::OutputFile;
use crate::run::{RunSummary, expectations_json, text};
use crate::stats::format_number;

/// How many characters of the input a test case's name shows.
const NAME_CHARS: usize = 80;

struct Suite {
    name: String,
    body: BufWriter<File>,
    tests: u64,
    failures: u64,
    errors: u64,
    skipped: u64,
    /// The sum of its cases' times.
    seconds: f64,
}

pub(crate) struct JunitWriter {
    path: PathBuf,
    suites: Vec<Suite>,
    out: OutputFile,
}

impl JunitWriter {
    pub(crate) fn create(path: &Path, scorers: &[String]) -> Result<Self> {
        let error = |source| Error::WriteReport {
            path: path.to_path_buf(),
            source,
        };
        // Fail early if the file cannot be written.
        let out = OutputFile::create(path)?;
        let suites = scorers
            .iter()
            .map(|name| {
                Ok(Suite {
                    name: name.clone(),
                    body: BufWriter::new(tempfile::tempfile().map_err(error)?),
                    tests: 0,
                    failures: 0,
                    errors: 0,
                    skipped: 0,
                    seconds: 0.0,
                })
            })
            .collect::<Result<_>>()?;
        Ok(JunitWriter {
            path: path.to_path_buf(),
            suites,
            out,
        })
    }
}

impl ResultStream for JunitWriter {
    fn record(&mut self, row: &Row<'_>) -> io::Result<()> {
        let input = text(&row.record.inputs);
        let name = case_name(row.line, &input);
        for (suite, r) in self.suites.iter_mut().zip(row.results) {
            suite.tests += 1;
            suite.seconds += row.seconds;
            let out = &mut suite.body;
            write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\">",
                escape(&suite.name),
                escape(&name),
                seconds(row.seconds)
            )?;
            let details = || {
                format!(
                    "trace: {}\ninput: {}\noutput: {}\nexpectations: {}\nrationale: {}",
                    verdict::mlflow_trace_id(row.trace_id),
                    input,
                    text(&row.record.outputs),
                    expectations_json(row.record),
                    r.said.rationale.unwrap_or("-")
                )
            };
            match (r.said.error, r.passed) {
                (Some((code, message)), _) => {
                    suite.errors += 1;
                    write!(
                        out,
                        "<error type=\"{}\" message=\"{}\">{}</error>",
                        escape(code),
                        escape(message),
                        escape(&details())
                    )?;
                }
                (None, Some(false)) => {
                    suite.failures += 1;
                    let value = match (r.said.boolean, r.said.label, r.said.number) {
                        (Some(b), _, _) => b.to_string(),
                        (_, Some(label), _) => label.to_owned(),
                        (_, _, Some(n)) => format_number(n),
                        _ => String::new(),
                    };
                    write!(
                        out,
                        "<failure type=\"fail\" message=\"{} gave {}\">{}</failure>",
                        escape(r.scorer),
                        escape(&value),
                        escape(&details())
                    )?;
                }
                (None, None) => {
                    suite.skipped += 1;
                    out.write_all(b"<skipped message=\"no pass criterion for this value\"/>")?;
                }
                (None, Some(true)) => {}
            }
            out.write_all(b"</testcase>\n")?;
        }
        Ok(())
    }

    fn invalid(&mut self, invalid: &InvalidRecord, _scorers: &[String]) -> io::Result<()> {
        for suite in &mut self.suites {
            suite.tests += 1;
            suite.errors += 1;
            writeln!(
                suite.body,
                "    <testcase classname=\"{}\" name=\"line {}\" time=\"0\"><error type=\"INVALID_RECORD\" message=\"{}\"/></testcase>",
                escape(&suite.name),
                invalid.line,
                escape(&invalid.reason)
            )?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>, summary: &RunSummary) -> Result<()> {
        let path = self.path.clone();
        let write = move || -> io::Result<OutputFile> {
            let mut out = BufWriter::new(self.out);
            let total = |f: fn(&Suite) -> u64| self.suites.iter().map(f).sum::<u64>();
            writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
            writeln!(
                out,
                "<testsuites name=\"verdict eval {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
                escape(&summary.run_id),
                total(|s| s.tests),
                total(|s| s.failures),
                total(|s| s.errors),
                total(|s| s.skipped),
                summary.seconds
            )?;
            for suite in self.suites {
                writeln!(
                    out,
                    "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
                    escape(&suite.name),
                    suite.tests,
                    suite.failures,
                    suite.errors,
                    suite.skipped,
                    seconds(suite.seconds)
                )?;
                let mut body = suite.body.into_inner().map_err(|e| e.into_error())?;
                body.rewind()?;
                let mut buffer = Vec::new();
                let mut reader = io::BufReader::new(body);
                loop {
                    buffer.clear();
                    let n = (&mut reader).take(1 << 20).read_to_end(&mut buffer)?;
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buffer)?;
                }
                writeln!(out, "  </testsuite>")?;
            }
            writeln!(out, "</testsuites>")?;
            out.into_inner().map_err(|e| e.into_error())
        };
        write()
            .map_err(|source| Error::WriteReport { path, source })?
            .commit()
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Seconds as JUnit writes them, to the nanosecond as the clock measures
/// them: a share of a batch may be well under a microsecond.
fn seconds(seconds: f64) -> String {
    format!("{seconds:.9}")
}

fn case_name(line: usize, input: &str) -> String {
    let one_line: String = input
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(NAME_CHARS)
        .collect();
    if one_line.is_empty() {
        format!("line {line}")
    } else {
        format!("line {line}: {one_line}")
    }
}

/// Text as XML attribute or element content: markup escaped, characters
/// XML cannot hold dropped (as a visible U+FFFD).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}
