//! JUnit XML that says what the exit code says: a CI dashboard shows red
//! exactly when the run failed.
//!
//! - The suite `gates` holds one test case per gate, failed when the gate
//!   failed (the message is what was measured; the body, the worst records
//!   of the scorers it measures, with the command that opens each trace),
//!   and one test case for the run itself, an *error* when the run stopped
//!   before its verdict, and one per `--export` destination that did not
//!   take everything, an error as well (the exit code is 2 for both).
//! - Each scorer has a suite of one test case that always passes: the
//!   records it judged false or could not score are listed in its
//!   `<system-out>` (the first [`LISTED`]; `--json` has every result), which
//!   GitLab, Jenkins and GitHub's JUnit reporters show on the test case,
//!   without counting them as failures: a record judged false fails the
//!   run only through a gate. Values it has no criterion for are counted,
//!   not listed.
//!
//! A run with no failed gate, no stop and every export delivered has no
//! failure and no error in its JUnit file, and exits 0; every failure or
//! error in the file is a reason for its exit code.
//!
//! The records are written to one temporary file per scorer while the run
//! streams, and joined at the end: memory does not grow with the number of
//! records.
//!
//! Times, in seconds as JUnit has them: a scorer's test case (and suite)
//! takes the scoring time of its records, each record's an even share of
//! the scoring time of its chunk (scorers take records in batches on every
//! core, so one record's own time is not measured). Gates are checked at
//! the end, in no time of their own. `<testsuites time>` is the whole
//! run's, reading and storing included.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::{ResultStream, Row, Stopped, failures};
use crate::dataset::InvalidRecord;
use crate::error::{Error, Result};
use crate::output::OutputFile;
use crate::run::{RunSummary, expectations_json, text};
use crate::stats::format_number;

/// How many records a scorer's `<system-out>` lists.
pub(crate) const LISTED: u64 = 1000;

/// How many characters of an input, output or expectation a listed record
/// shows.
const FIELD_CHARS: usize = 200;

/// One scorer's listing, written as the run streams.
struct Listing {
    name: String,
    body: BufWriter<File>,
    /// Records it judged false or could not score.
    noted: u64,
    /// Records whose value it has no criterion for.
    unjudged: u64,
    /// The sum of its records' times.
    seconds: f64,
}

pub(crate) struct JunitWriter {
    path: PathBuf,
    /// The local store, for the `verdict show` command of a listed record.
    store: Option<PathBuf>,
    scorers: Vec<Listing>,
    /// Where the file is written, renamed into place once whole.
    out: Option<OutputFile>,
}

impl JunitWriter {
    pub(crate) fn create(path: &Path, scorers: &[String], store: Option<&Path>) -> Result<Self> {
        let error = |source| Error::WriteReport {
            path: path.to_path_buf(),
            source,
        };
        // Fail early if the file cannot be written.
        let out = OutputFile::create(path)?;
        let scorers = scorers
            .iter()
            .map(|name| {
                Ok(Listing {
                    name: name.clone(),
                    body: BufWriter::new(tempfile::tempfile().map_err(error)?),
                    noted: 0,
                    unjudged: 0,
                    seconds: 0.0,
                })
            })
            .collect::<Result<_>>()?;
        Ok(JunitWriter {
            path: path.to_path_buf(),
            store: store.map(Path::to_path_buf),
            scorers,
            out: Some(out),
        })
    }

    /// Writes the file: `cases` (the gates, the run, the exports), then a
    /// suite per scorer with its listing, unless the run stopped.
    fn write(&mut self, run_id: &str, seconds: f64, cases: &[Case], listings: bool) -> Result<()> {
        let path = self.path.clone();
        let file = self.out.take().ok_or_else(|| Error::WriteReport {
            path: path.clone(),
            source: io::Error::other("written already"),
        })?;
        let mut out = BufWriter::new(file);
        self.write_to(&mut out, run_id, seconds, cases, listings)
            .map_err(|source| Error::WriteReport { path, source })?;
        OutputFile::commit_buffered(out)
    }

    fn write_to(
        &mut self,
        out: &mut impl Write,
        run_id: &str,
        seconds: f64,
        cases: &[Case],
        listings: bool,
    ) -> io::Result<()> {
        let failures = cases.iter().filter(|c| c.outcome.is_failure()).count();
        let errors = cases.iter().filter(|c| c.outcome.is_error()).count();
        let scorer_suites = if listings { self.scorers.len() } else { 0 };
        writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
        writeln!(
            out,
            "<testsuites name=\"verdict eval {}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{seconds:.3}\">",
            escape(run_id),
            cases.len() + scorer_suites,
        )?;
        writeln!(
            out,
            "  <testsuite name=\"gates\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"0\">",
            cases.len()
        )?;
        for case in cases {
            case.write(out)?;
        }
        writeln!(out, "  </testsuite>")?;
        if listings {
            for listing in &mut self.scorers {
                listing.write(out)?;
            }
        }
        writeln!(out, "</testsuites>")?;
        out.flush()
    }
}

impl Listing {
    fn note(&mut self, line: std::fmt::Arguments<'_>) -> io::Result<()> {
        self.noted += 1;
        if self.noted <= LISTED {
            self.body.write_fmt(line)?;
        }
        Ok(())
    }

    /// Its suite: one test case that passes, with the listing.
    fn write(&mut self, out: &mut impl Write) -> io::Result<()> {
        let time = seconds(self.seconds);
        writeln!(
            out,
            "  <testsuite name=\"{name}\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\" time=\"{time}\">\n    <testcase classname=\"verdict.scorer\" name=\"{name}\" time=\"{time}\">",
            name = escape(&self.name),
        )?;
        if self.noted + self.unjudged > 0 {
            out.write_all(b"<system-out>")?;
        }
        if self.unjudged > 0 {
            writeln!(
                out,
                "{} not judged: no pass criterion for its values (set threshold, max or pass_labels in verdict.toml)",
                super::count(self.unjudged, "record")
            )?;
        }
        if self.noted > 0 {
            writeln!(
                out,
                "{} judged false or not scored (listed: not failures; a gate decides whether the run fails):",
                super::count(self.noted, "record")
            )?;
            self.body.flush()?;
            let body = self.body.get_mut();
            body.rewind()?;
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                let n = (&mut *body).take(1 << 20).read_to_end(&mut buffer)?;
                if n == 0 {
                    break;
                }
                out.write_all(&buffer)?;
            }
            if self.noted > LISTED {
                writeln!(
                    out,
                    "… and {} more (--json writes every result)",
                    self.noted - LISTED
                )?;
            }
        }
        if self.noted + self.unjudged > 0 {
            out.write_all(b"</system-out>")?;
        }
        writeln!(out, "</testcase>\n  </testsuite>")
    }
}

impl ResultStream for JunitWriter {
    fn record(&mut self, row: &Row<'_>) -> io::Result<()> {
        for (listing, r) in self.scorers.iter_mut().zip(row.results) {
            listing.seconds += row.seconds;
            let value = match (r.said.error, r.passed) {
                (Some((code, message)), _) => format!("error {code}: {message}"),
                (None, Some(true)) => continue,
                (None, None) => {
                    listing.unjudged += 1;
                    continue;
                }
                (None, Some(false)) => {
                    let value = match (r.said.boolean, r.said.label, r.said.number) {
                        (Some(b), _, _) => b.to_string(),
                        (_, Some(label), _) => label.to_owned(),
                        (_, _, Some(n)) => format_number(n),
                        _ => String::new(),
                    };
                    match r.said.rationale {
                        Some(why) => format!("{value}: {why}"),
                        None => value,
                    }
                }
            };
            let trace = verdict::mlflow_trace_id(row.trace_id);
            listing.note(format_args!(
                "line {} · {}: {}\n    input:    {}\n    output:   {}\n    expected: {}\n",
                row.line,
                escape(&trace),
                escape(&value),
                escape(&excerpt(&text(&row.record.inputs))),
                escape(&excerpt(&text(&row.record.outputs))),
                escape(&excerpt(&expectations_json(row.record)))
            ))?;
        }
        Ok(())
    }

    fn invalid(&mut self, invalid: &InvalidRecord, _scorers: &[String]) -> io::Result<()> {
        for listing in &mut self.scorers {
            listing.note(format_args!(
                "line {}: not a record, counted as an error: {}\n",
                invalid.line,
                escape(&invalid.reason)
            ))?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, summary: &RunSummary) -> Result<()> {
        let mut cases = Vec::new();
        for gate in &summary.gates {
            let outcome = if gate.passed {
                Outcome::Passed
            } else {
                let mut body = String::new();
                for name in &gate.scorers {
                    if let Some(s) = summary.scorer(name) {
                        body.push_str(&failures::worst_records(s, self.store.as_deref()));
                    }
                }
                Outcome::Failure {
                    kind: "gate",
                    message: format!("measured {}", gate.measured),
                    body,
                }
            };
            cases.push(Case {
                classname: "verdict.gates",
                name: gate.gate.clone(),
                outcome,
            });
        }
        cases.push(Case {
            classname: "verdict.run",
            name: run_name(&summary.run_id, &summary.dataset),
            outcome: Outcome::Passed,
        });
        for failure in &summary.undelivered {
            let mut body = String::new();
            if !failure.traces.is_empty() {
                body = format!(
                    "not delivered: {}{}\nthe local store holds all of run {}: `verdict push --to {}` sends it again\n",
                    failure.traces.join(", "),
                    if failure.more_traces { " and more" } else { "" },
                    summary.run_id,
                    failure.destination
                );
            }
            cases.push(Case {
                classname: "verdict.export",
                name: format!("export to {}", failure.destination),
                outcome: Outcome::Error {
                    kind: "undelivered",
                    message: failure.to_string(),
                    body,
                },
            });
        }
        self.write(&summary.run_id, summary.seconds, &cases, true)
    }

    fn stopped(mut self: Box<Self>, run: &Stopped<'_>) -> Result<bool> {
        let cases = [Case {
            classname: "verdict.run",
            name: run_name(run.run_id, run.dataset),
            outcome: Outcome::Error {
                kind: "stopped",
                message: format!("the run stopped before its verdict: {}", run.error),
                body: String::new(),
            },
        }];
        self.write(run.run_id, run.seconds, &cases, false)?;
        Ok(true)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// The test case of the run itself.
fn run_name(run_id: &str, dataset: &str) -> String {
    format!("run {run_id} of {dataset}")
}

/// A test case of the `gates` suite.
struct Case {
    classname: &'static str,
    name: String,
    outcome: Outcome,
}

enum Outcome {
    Passed,
    Failure {
        kind: &'static str,
        message: String,
        body: String,
    },
    Error {
        kind: &'static str,
        message: String,
        body: String,
    },
}

impl Outcome {
    fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failure { .. })
    }

    fn is_error(&self) -> bool {
        matches!(self, Outcome::Error { .. })
    }
}

impl Case {
    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0\">",
            self.classname,
            escape(&self.name)
        )?;
        let (tag, kind, message, body) = match &self.outcome {
            Outcome::Passed => return writeln!(out, "</testcase>"),
            Outcome::Failure {
                kind,
                message,
                body,
            } => ("failure", kind, message, body),
            Outcome::Error {
                kind,
                message,
                body,
            } => ("error", kind, message, body),
        };
        writeln!(
            out,
            "<{tag} type=\"{kind}\" message=\"{}\">{}</{tag}></testcase>",
            escape(message),
            escape(body)
        )
    }
}

/// Seconds as JUnit writes them, to the nanosecond as the clock measures
/// them: a share of a batch may be well under a microsecond.
fn seconds(seconds: f64) -> String {
    format!("{seconds:.9}")
}

/// The first characters of a long text.
fn excerpt(text: &str) -> String {
    super::excerpt(text, FIELD_CHARS)
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
