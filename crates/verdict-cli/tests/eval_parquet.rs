//! `verdict eval` on Parquet and Arrow IPC files: the same rows written as
//! JSON lines, as Parquet by the `parquet` crate's `ArrowWriter`, and as
//! Parquet and Feather by pandas and pyarrow (the MLflow virtualenv's,
//! which `scripts/mlflow/install.sh` caches), give the same results file
//! and the same stored records and assessments. Also from standard input,
//! a file or a pipe. The real binary on real files.
#![cfg(feature = "parquet")]

mod common;
// Only its `mlflow_python` is used here.
#[allow(dead_code)]
#[path = "../../verdict-export/tests/common/mlflow_server.rs"]
mod mlflow_server;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, StructArray};
use arrow_schema::{Field, Fields};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde_json::{Value, json};

use common::text_of;

const ROWS: usize = 300;

/// Row `i` in MLflow's evaluation shape: some without outputs, without
/// expectations, with expected facts, without a trace id.
fn row(i: usize) -> Value {
    let mut inputs = json!({"question": format!("question {i}?")});
    if i.is_multiple_of(3) {
        inputs["context"] = json!([format!("context {i}"), "ünïcode ✓"]);
    }
    let mut row = json!({"inputs": inputs});
    row["outputs"] = match i {
        _ if i.is_multiple_of(7) => Value::Null,
        _ if i.is_multiple_of(2) => json!("Paris"),
        _ => json!(format!("answer {i}")),
    };
    if !i.is_multiple_of(5) {
        let mut expectations = json!({"expected_response": "Paris"});
        if i.is_multiple_of(4) {
            expectations["expected_facts"] = json!(["fact"]);
        }
        row["expectations"] = expectations;
    }
    if !i.is_multiple_of(11) {
        row["trace_id"] = json!(format!("{:032x}", 0xabc0_0000 + i));
    }
    row
}

fn rows() -> Vec<Value> {
    (0..ROWS).map(row).collect()
}

/// The rows with the `parquet` crate's writer, built column by column,
/// row groups of 64 rows.
fn write_with_arrow_writer(path: &Path) {
    let rows = rows();
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let strings = |f: &dyn Fn(&Value) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let lists = |f: &dyn Fn(&Value) -> Option<Vec<String>>| -> ArrayRef {
        let mut b = ListBuilder::new(StringBuilder::new());
        for r in &rows {
            match f(r) {
                Some(items) => {
                    items.iter().for_each(|i| b.values().append_value(i));
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        Arc::new(b.finish())
    };
    let list_of = |v: &Value| {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
    };
    let structure = |children: Vec<(&str, ArrayRef)>, valid: Vec<bool>| -> ArrayRef {
        let (fields, arrays): (Vec<_>, Vec<_>) = children
            .into_iter()
            .map(|(n, a)| (Field::new(n, a.data_type().clone(), true), a))
            .unzip();
        Arc::new(StructArray::new(
            Fields::from(fields),
            arrays,
            Some(valid.into()),
        ))
    };
    let inputs = structure(
        vec![
            ("question", strings(&|r| text(&r["inputs"]["question"]))),
            ("context", lists(&|r| list_of(&r["inputs"]["context"]))),
        ],
        vec![true; ROWS],
    );
    let expectations = structure(
        vec![
            (
                "expected_response",
                strings(&|r| text(&r["expectations"]["expected_response"])),
            ),
            (
                "expected_facts",
                lists(&|r| list_of(&r["expectations"]["expected_facts"])),
            ),
        ],
        rows.iter()
            .map(|r| r.get("expectations").is_some())
            .collect(),
    );
    let batch = RecordBatch::try_from_iter([
        ("inputs", inputs),
        ("outputs", strings(&|r| text(&r["outputs"]))),
        ("expectations", expectations),
        ("trace_id", strings(&|r| text(&r["trace_id"]))),
    ])
    .unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(64))
        .build();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// The Python of the MLflow virtualenv, which has pandas and pyarrow.
fn python() -> PathBuf {
    mlflow_server::mlflow_python()
}

/// pandas' `to_parquet` (snappy, as it writes by default), pyarrow's
/// `write_table` (zstd, row groups of 50), pyarrow's Feather (Arrow IPC
/// with lz4, its default) and pyarrow's dataset writer (a directory of
/// files of 25 rows), all from the JSON lines.
const WRITE_WITH_PYARROW: &str = r#"
import json, sys
import pandas as pd
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.feather as feather
import pyarrow.dataset as ds
src, pandas_path, zstd_path, feather_path, lake_path = sys.argv[1:]
rows = [json.loads(line) for line in open(src, encoding="utf-8")]
pd.DataFrame(rows).to_parquet(pandas_path)
table = pa.Table.from_batches([pa.RecordBatch.from_struct_array(pa.array(rows))])
pq.write_table(table, zstd_path, compression="zstd", row_group_size=50)
feather.write_feather(table, feather_path)
# A directory of files part-0 ... part-11: their names sort as numbers.
ds.write_dataset(table, lake_path, format="parquet", max_rows_per_file=25,
                 max_rows_per_group=25, use_threads=False)
print(pq.ParquetFile(pandas_path).metadata.row_group(0).column(1).compression,
      pq.ParquetFile(zstd_path).metadata.num_row_groups)
"#;

fn verdict(dir: &Path, args: &[&str]) -> (i32, String, String) {
    text_of(
        &Command::new(env!("CARGO_BIN_EXE_verdict"))
            .args(args)
            .current_dir(dir)
            .env_remove("VERDICT_PLUGIN_PATH")
            .output()
            .unwrap(),
    )
}

/// `verdict eval DATA` into a store and a results file of their own,
/// named after `name`; `stdin`: DATA is `-`, fed this file's bytes through
/// a pipe (`Some(true)`) or as the file itself (`Some(false)`).
fn eval(dir: &Path, data: &str, name: &str, stdin: Option<bool>) {
    let store = format!("{name}.db");
    let results = format!("{name}.json");
    let args = [
        "eval",
        if stdin.is_some() { "-" } else { data },
        "--scorer",
        "exact_match",
        "--scorer",
        "contains",
        "--store",
        &store,
        "--json",
        &results,
    ];
    let mut command = Command::new(env!("CARGO_BIN_EXE_verdict"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("VERDICT_PLUGIN_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = match stdin {
        None => command.stdin(Stdio::null()).output().unwrap(),
        Some(false) => command
            .stdin(std::fs::File::open(dir.join(data)).unwrap())
            .output()
            .unwrap(),
        Some(true) => {
            let mut child = command.stdin(Stdio::piped()).spawn().unwrap();
            let bytes = std::fs::read(dir.join(data)).unwrap();
            let mut pipe = child.stdin.take().unwrap();
            let feeder = std::thread::spawn(move || pipe.write_all(&bytes));
            let out = child.wait_with_output().unwrap();
            feeder.join().unwrap().unwrap();
            out
        }
    };
    let (code, stdout, stderr) = text_of(&out);
    assert_eq!(code, 0, "{name}: {stdout}{stderr}");
}

/// The results file without what differs between runs: the run's id,
/// time and dataset name, and the trace ids made up for records without
/// one (from the run).
fn results(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
    let mut results: Value = serde_json::from_str(&text).unwrap();
    let summary = results["summary"].as_object_mut().unwrap();
    for key in ["run_id", "dataset", "started", "seconds"] {
        assert!(summary.remove(key).is_some(), "{key}");
    }
    for scorer in summary["scorers"].as_array_mut().unwrap() {
        for worst in scorer["worst"].as_array_mut().unwrap() {
            made_up_trace(worst);
        }
    }
    for record in results["records"].as_array_mut().unwrap() {
        made_up_trace(record);
    }
    results
}

/// Drops a record's trace id when the dataset gave it none (row `line -
/// 1`), since the run makes one up.
fn made_up_trace(record: &mut Value) {
    let line = record["line"].as_u64().unwrap() as usize;
    if row(line - 1).get("trace_id").is_none() {
        assert!(record.as_object_mut().unwrap().remove("trace_id").is_some());
    }
}

/// What the store holds of the run: its records (`verdict show --run
/// latest`), and the assessments on a trace, without their ids, times and
/// run.
fn stored(dir: &Path, name: &str) -> Value {
    let store = format!("{name}.db");
    let (code, records, stderr) = verdict(
        dir,
        &[
            "show", "--run", "latest", "--json", "--limit", "1000", "--store", &store,
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let mut records: Value = serde_json::from_str(&records).unwrap();
    for record in records.as_array_mut().unwrap() {
        made_up_trace(record);
    }
    assert_eq!(records.as_array().unwrap().len(), ROWS);
    let mut assessments = Vec::new();
    for i in [1usize, 2, 4, 8] {
        let trace = format!("{:032x}", 0xabc0_0000 + i);
        let (code, shown, stderr) = verdict(dir, &["show", &trace, "--json", "--store", &store]);
        assert_eq!(code, 0, "{stderr}");
        let mut shown: Value = serde_json::from_str(&shown).unwrap();
        for a in shown["assessments"].as_array_mut().unwrap() {
            let a = a.as_object_mut().unwrap();
            for key in ["assessment_id", "create_time", "last_update_time"] {
                assert!(a.remove(key).is_some(), "{key}");
            }
            let metadata = a["metadata"].as_object_mut().unwrap();
            assert!(metadata.remove("mlflow.assessment.sourceRunId").is_some());
        }
        assert!(!shown["assessments"].as_array().unwrap().is_empty());
        assessments.push(shown);
    }
    json!({"records": records, "assessments": assessments})
}

#[test]
fn parquet_and_feather_from_rust_pandas_and_pyarrow_score_as_the_json_lines_do() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl: String = rows().iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(dir.path().join("rows.jsonl"), jsonl).unwrap();
    write_with_arrow_writer(&dir.path().join("rust.parquet"));
    let out = Command::new(python())
        .args(["-c", WRITE_WITH_PYARROW])
        .args([
            "rows.jsonl",
            "pandas.parquet",
            "zstd.parquet",
            "rows.feather",
            "lake",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let (code, said, stderr) = text_of(&out);
    assert_eq!(code, 0, "{said}{stderr}");
    // The codecs the writers chose, and the row groups asked for.
    assert_eq!(said.trim(), "SNAPPY 6");
    let lake = std::fs::read_dir(dir.path().join("lake")).unwrap().count();
    assert_eq!(lake, ROWS / 25, "files of the dataset writer");

    eval(dir.path(), "rows.jsonl", "jsonl", None);
    let want = results(dir.path(), "jsonl");
    let want_stored = stored(dir.path(), "jsonl");
    // Some records pass, some fail, some lack what a scorer needs.
    let scorers = want["summary"]["scorers"].as_array().unwrap();
    assert!(scorers[0]["passed"].as_u64().unwrap() > 0);
    assert!(scorers[0]["errors"].as_u64().unwrap() > 0);
    assert!(scorers[0]["passed"].as_u64() < scorers[0]["records"].as_u64());

    for (data, name, stdin) in [
        ("rust.parquet", "rust", None),
        ("pandas.parquet", "pandas", None),
        ("zstd.parquet", "zstd", None),
        ("rows.feather", "feather", None),
        ("lake", "lake", None),
        // Standard input: the file itself, and a pipe (copied to a
        // temporary file, since Parquet is read from its end).
        ("pandas.parquet", "stdin-file", Some(false)),
        ("zstd.parquet", "stdin-pipe", Some(true)),
        ("rows.feather", "stdin-feather", Some(true)),
    ] {
        eval(dir.path(), data, name, stdin);
        assert_eq!(results(dir.path(), name), want, "{name}");
        assert_eq!(stored(dir.path(), name), want_stored, "{name}");
    }
}

#[test]
fn a_broken_parquet_file_fails_the_run_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    write_with_arrow_writer(&dir.path().join("good.parquet"));
    let bytes = std::fs::read(dir.path().join("good.parquet")).unwrap();
    std::fs::write(
        dir.path().join("cut.parquet"),
        &bytes[..bytes.len() * 2 / 3],
    )
    .unwrap();
    std::fs::write(dir.path().join("text.parquet"), "{\"inputs\": 1}\n").unwrap();
    for (data, said) in [
        (
            "cut.parquet",
            "reading it as a Parquet file failed (is it whole?)",
        ),
        (
            "text.parquet",
            "it is not a Parquet file, which starts with PAR1",
        ),
    ] {
        let (code, stdout, stderr) = verdict(
            dir.path(),
            &["eval", data, "--scorer", "exact_match", "--store", "s.db"],
        );
        assert_eq!(code, 2, "{data}: {stdout}{stderr}");
        assert!(stderr.contains(said), "{data}: {stderr}");
        assert!(stderr.contains(data), "{data}: {stderr}");
    }
}

#[test]
fn an_output_that_would_be_a_file_of_the_dataset_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(lake.join("date=1")).unwrap();
    write_with_arrow_writer(&lake.join("date=1/part-0.parquet"));
    let before = std::fs::read(lake.join("date=1/part-0.parquet")).unwrap();
    // A link in the directory to a file outside it, read as data.
    write_with_arrow_writer(&dir.path().join("outside.parquet"));
    let outside = std::fs::read(dir.path().join("outside.parquet")).unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("outside.parquet"),
        lake.join("link.parquet"),
    )
    .unwrap();
    let eval = |what: &str, output: &str| {
        let args = ["eval", "lake", "--scorer", "exact_match", "--store", "s.db"];
        verdict(dir.path(), &[&args[..], &[what, output]].concat())
    };
    for (output, what) in [
        // A file of the dataset, overwritten while it is read.
        ("lake/date=1/part-0.parquet", "--results"),
        // A new file, read as data by the next run.
        ("lake/results.parquet", "--results"),
        ("./lake/date=1/../new.parquet", "--results"),
        // The link: writing it would overwrite the file it names.
        ("lake/link.parquet", "--results"),
    ] {
        let (code, stdout, stderr) = eval(what, output);
        assert_eq!(code, 2, "{output}: {stdout}{stderr}");
        assert!(
            stderr.contains("is in the dataset lake"),
            "{output}: {stderr}"
        );
        assert!(!dir.path().join("lake/results.parquet").exists());
        assert!(!dir.path().join("lake/new.parquet").exists());
    }
    assert_eq!(
        std::fs::read(lake.join("date=1/part-0.parquet")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read(dir.path().join("outside.parquet")).unwrap(),
        outside
    );
    std::fs::remove_file(lake.join("link.parquet")).unwrap();
    // Beside the data, not read as data: written.
    for (output, what) in [
        ("lake/_results.parquet", "--results"),
        ("lake/report.xml", "--junit"),
    ] {
        let (code, stdout, stderr) = eval(what, output);
        assert!(code == 0 || code == 1, "{output}: {stdout}{stderr}");
        assert!(dir.path().join(output).exists(), "{output}");
    }
}
