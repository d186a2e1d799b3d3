//! The JSON results file: every result as it is scored, then the summary.
//!
//! `{"records": [{"line", "trace_id", "inputs", "outputs", "expectations",
//! "results": {SCORER: {"value", "passed", "rationale", "error"}}} …],
//! "invalid": [{"line", "reason"} …], "summary": {…}}`

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use verdict::mlflow_trace_id;

use super::{ResultStream, Row};
use crate::dataset::InvalidRecord;
use crate::error::{Error, Result};
use crate::output::OutputFile;
use crate::run::{RunSummary, expectations_json, json_value};

pub(crate) struct JsonWriter {
    path: PathBuf,
    out: BufWriter<OutputFile>,
    records: usize,
    /// Invalid records are written after the records.
    invalid: Vec<Value>,
}

impl JsonWriter {
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let mut out = BufWriter::new(OutputFile::create(path)?);
        out.write_all(b"{\"records\": [\n")
            .map_err(|source| Error::WriteReport {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(JsonWriter {
            path: path.to_path_buf(),
            out,
            records: 0,
            invalid: Vec::new(),
        })
    }
}

impl ResultStream for JsonWriter {
    fn record(&mut self, row: &Row<'_>) -> io::Result<()> {
        let mut results = Map::new();
        for r in row.results {
            let value = match (r.said.boolean, r.said.label, r.said.number) {
                (Some(b), _, _) => json!(b),
                (_, Some(label), _) => json!(label),
                (_, _, Some(n)) => json!(n),
                _ => Value::Null,
            };
            results.insert(
                r.scorer.to_owned(),
                json!({
                    "value": value,
                    "passed": r.passed,
                    "rationale": r.said.rationale,
                    "error": r.said.error.map(|(code, message)| json!({"code": code, "message": message})),
                }),
            );
        }
        let line = json!({
            "line": row.line,
            "trace_id": mlflow_trace_id(row.trace_id),
            "inputs": json_value(&row.record.inputs),
            "outputs": json_value(&row.record.outputs),
            "expectations": serde_json::from_str::<Value>(&expectations_json(row.record)).unwrap_or(Value::Null),
            "results": results,
        });
        if self.records > 0 {
            self.out.write_all(b",\n")?;
        }
        self.records += 1;
        serde_json::to_writer(&mut self.out, &line)?;
        Ok(())
    }

    fn invalid(&mut self, invalid: &InvalidRecord, _scorers: &[String]) -> io::Result<()> {
        self.invalid
            .push(json!({"line": invalid.line, "reason": invalid.reason}));
        Ok(())
    }

    fn finish(mut self: Box<Self>, summary: &RunSummary) -> Result<()> {
        let invalid = std::mem::take(&mut self.invalid);
        let write = |out: &mut BufWriter<OutputFile>| -> io::Result<()> {
            out.write_all(b"\n],\n\"invalid\": ")?;
            serde_json::to_writer(&mut *out, &invalid)?;
            out.write_all(b",\n\"summary\": ")?;
            serde_json::to_writer(&mut *out, summary)?;
            out.write_all(b"}\n")?;
            out.flush()
        };
        write(&mut self.out).map_err(|source| Error::WriteReport {
            path: self.path.clone(),
            source,
        })?;
        OutputFile::commit_buffered(self.out)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}
