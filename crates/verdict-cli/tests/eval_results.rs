//! `verdict eval --results PATH.parquet`: every record's results as
//! Parquet in the shape of MLflow's evaluation results, read back by
//! pyarrow (the MLflow virtualenv's, which `scripts/mlflow/install.sh`
//! caches) and compared value by value with what `--json` wrote for the
//! same run; hostile texts, a scorer's errors and a failed call of the
//! system under test round-trip exactly. Written whole and never over
//! what the run reads. The real binary on real files.
#![cfg(feature = "parquet")]

mod common;
// Only its `mlflow_python` is used here.
#[allow(dead_code)]
#[path = "../../verdict-export/tests/common/mlflow_server.rs"]
mod mlflow_server;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use common::verdict_in;

/// More records than a batch of the writer holds, so that the file has
/// several.
const ROWS: usize = 5000;

/// A one-mebibyte output.
fn big() -> String {
    "0123456789abcdef".repeat(1 << 16)
}

/// Record `i` of the dataset: equal, different, without expectations,
/// numbers, and hostile texts (NUL, terminal escapes, non-ASCII, a
/// mebibyte, JSON outputs) at fixed lines.
fn record(i: usize) -> Value {
    let inputs = json!({"question": format!("q{i}"), "n": i});
    let (outputs, expected): (Value, Option<Value>) = match i {
        7 => (json!("a\u{0}b"), Some(json!("a\u{0}b"))),
        8 => (
            json!("\u{1b}[31mred\u{1b}[0m\r\n\t\\\"'"),
            Some(json!("red")),
        ),
        9 => (json!(big()), Some(json!("short"))),
        10 => (json!("Привет 👋 \u{202e}"), Some(json!("Привет"))),
        11 => (json!({"a": [1, 2.5, null], "b": "x"}), Some(json!("x"))),
        12 => (json!("7"), Some(json!("not a number \u{0}"))),
        _ => match i % 5 {
            0 => (
                json!(format!("answer {i}")),
                Some(json!(format!("answer {i}"))),
            ),
            1 => (
                json!(format!("answer {i}")),
                Some(json!(format!("answer {}", i + 1))),
            ),
            2 => (json!(format!("answer {i}")), None),
            3 => (json!("42"), Some(json!("42.0"))),
            _ => (json!("x"), Some(json!("3"))),
        },
    };
    let mut record = json!({"inputs": inputs, "outputs": outputs});
    if let Some(expected) = expected {
        record["expectations"] = json!({"expected_response": expected});
    }
    record
}

fn write_dataset(dir: &Path, rows: usize, tail: &str) {
    let mut text = String::new();
    for i in 0..rows {
        writeln!(text, "{}", record(i)).unwrap();
    }
    text.push_str(tail);
    std::fs::write(dir.join("qa.jsonl"), text).unwrap();
}

/// The Python of the MLflow virtualenv, which has pandas and pyarrow.
fn python() -> PathBuf {
    mlflow_server::mlflow_python()
}

/// The file as pyarrow reads it: its columns with their Arrow types, its
/// row groups, the rows as JSON; and the dtypes pandas gives them.
const READ_WITH_PYARROW: &str = r#"
import json, sys
import pyarrow.parquet as pq
import pandas as pd
path = sys.argv[1]
table = pq.read_table(path)
df = pd.read_parquet(path)
print(json.dumps({
    "columns": [[f.name, str(f.type)] for f in table.schema],
    "row_groups": pq.ParquetFile(path).metadata.num_row_groups,
    "rows": table.to_pylist(),
    "dtypes": {c: str(t) for c, t in df.dtypes.items()},
}))
"#;

fn read_with_pyarrow(path: &Path) -> Value {
    let out = Command::new(python())
        .args(["-c", READ_WITH_PYARROW])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const SCORERS: [&str; 6] = [
    "--scorer",
    "exact_match",
    "--scorer",
    "edit_distance",
    "--scorer",
    "numeric",
];

/// Compares every row of the Parquet file with the record `--json` wrote
/// for the same line: the same values, rationales, errors and verdicts,
/// the same inputs, outputs and expectations.
fn assert_same_as_json(parquet: &Value, json: &Value, scorers: &[&str]) {
    let run_id = json["summary"]["run_id"].as_str().unwrap();
    let rows = parquet["rows"].as_array().unwrap();
    let records = json["records"].as_array().unwrap();
    assert_eq!(rows.len(), records.len());
    for (row, record) in rows.iter().zip(records) {
        let line = record["line"].as_u64().unwrap();
        assert_eq!(row["line"], json!(line));
        assert_eq!(row["trace_id"], record["trace_id"], "line {line}");
        assert_eq!(row["run_id"], json!(run_id));
        for scorer in scorers {
            let result = &record["results"][scorer];
            let value = &row[format!("{scorer}/value")];
            // Whole numbers are floats in the file; JSON may write them
            // as integers.
            match (value.as_f64(), result["value"].as_f64()) {
                (Some(a), Some(b)) => assert_eq!(a, b, "line {line} {scorer}"),
                _ => assert_eq!(value, &result["value"], "line {line} {scorer}"),
            }
            assert_eq!(
                row[format!("{scorer}/rationale")],
                result["rationale"],
                "line {line} {scorer}"
            );
            assert_eq!(
                row[format!("{scorer}/error_code")],
                result["error"]["code"].clone(),
                "line {line} {scorer}"
            );
            assert_eq!(
                row[format!("{scorer}/error_message")],
                result["error"]["message"].clone(),
                "line {line} {scorer}"
            );
            assert_eq!(
                row[format!("{scorer}/passed")],
                result["passed"],
                "line {line} {scorer}"
            );
        }
        let parsed = |column: &str| -> Value {
            serde_json::from_str(row[column].as_str().unwrap()).unwrap()
        };
        assert_eq!(parsed("request"), record["inputs"], "line {line}");
        assert_eq!(
            parsed("expectations"),
            record["expectations"],
            "line {line}"
        );
        match &record["outputs"] {
            Value::Null => assert_eq!(row["response"], Value::Null, "line {line}"),
            Value::String(text) => assert_eq!(row["response"], json!(text), "line {line}"),
            other => assert_eq!(&parsed("response"), other, "line {line}"),
        }
    }
}

#[test]
fn results_as_parquet_hold_what_the_json_results_hold_as_pyarrow_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_dataset(dir, ROWS, "");
    let mut args = vec!["eval", "qa.jsonl"];
    args.extend(SCORERS);
    args.extend([
        "--json",
        "r.json",
        "--results",
        "r.parquet",
        "--store",
        "s.db",
    ]);
    let (code, stdout, stderr) = verdict_in(dir, &args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    let parquet = read_with_pyarrow(&dir.join("r.parquet"));

    let columns: Vec<(String, String)> =
        serde_json::from_value(parquet["columns"].clone()).unwrap();
    let mut wanted = vec![("trace_id".to_owned(), "string".to_owned())];
    for (scorer, kind) in [
        ("exact_match", "bool"),
        ("edit_distance", "double"),
        ("numeric", "bool"),
    ] {
        wanted.push((format!("{scorer}/value"), kind.to_owned()));
        for column in ["rationale", "error_code", "error_message"] {
            wanted.push((format!("{scorer}/{column}"), "string".to_owned()));
        }
        wanted.push((format!("{scorer}/passed"), "bool".to_owned()));
    }
    for (column, kind) in [
        ("request", "string"),
        ("response", "string"),
        ("expectations", "string"),
        ("state", "string"),
        ("line", "int64"),
        ("run_id", "string"),
        ("error_code", "string"),
        ("error_message", "string"),
    ] {
        wanted.push((column.to_owned(), kind.to_owned()));
    }
    assert_eq!(columns, wanted);
    // pandas reads a value column as MLflow's result_df holds it.
    assert_eq!(parquet["dtypes"]["edit_distance/value"], "float64");
    assert_eq!(parquet["dtypes"]["trace_id"], "str");
    assert_eq!(parquet["rows"].as_array().unwrap().len(), ROWS);

    assert_same_as_json(
        &parquet,
        &json,
        &["exact_match", "edit_distance", "numeric"],
    );
    let rows = parquet["rows"].as_array().unwrap();
    // The hostile rows, exactly.
    assert_eq!(rows[7]["response"], "a\u{0}b");
    assert_eq!(rows[7]["exact_match/value"], true);
    assert_eq!(rows[8]["response"], "\u{1b}[31mred\u{1b}[0m\r\n\t\\\"'");
    assert_eq!(rows[9]["response"].as_str().unwrap(), big());
    assert_eq!(rows[10]["response"], "Привет 👋 \u{202e}");
    assert_eq!(rows[12]["numeric/error_code"], "INVALID_EXPECTATION");
    assert!(
        rows[12]["numeric/error_message"]
            .as_str()
            .unwrap()
            .contains("not a number")
    );
    assert_eq!(rows[12]["numeric/value"], Value::Null);
    // A record without expectations: exact match's error, not a value.
    assert_eq!(rows[2]["exact_match/value"], Value::Null);
    assert!(rows[2]["exact_match/error_code"].is_string());
    assert!(
        rows.iter()
            .all(|r| r["state"] == "OK" && r["error_code"].is_null())
    );
}

/// Answers each question by its `n`, and dies on question 3.
const PREDICTOR: &str = r#"
import json, sys
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    if request["inputs"]["n"] == 3:
        sys.exit(3)
    print(json.dumps({"id": request["id"], "outputs": "answer %d" % request["inputs"]["n"]}), flush=True)
"#;

#[test]
fn a_record_whose_call_failed_is_an_error_row_as_in_the_json_results() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_dataset(dir, 6, "");
    std::fs::write(dir.join("predict.py"), PREDICTOR).unwrap();
    let predict = format!("python3 {}", dir.join("predict.py").display());
    let (code, stdout, stderr) = verdict_in(
        dir,
        &[
            "eval",
            "qa.jsonl",
            "--predict",
            &predict,
            "--predict-calls",
            "1",
            "--scorer",
            "exact_match",
            "--json",
            "r.json",
            "--results",
            "r.parquet",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    let parquet = read_with_pyarrow(&dir.join("r.parquet"));
    assert_same_as_json(&parquet, &json, &["exact_match"]);
    let rows = parquet["rows"].as_array().unwrap();
    let failed: Vec<&Value> = rows.iter().filter(|r| r["state"] == "ERROR").collect();
    assert_eq!(failed.len(), 1, "{rows:#?}");
    assert_eq!(failed[0]["line"], 4);
    assert_eq!(failed[0]["error_code"], "PREDICT_CRASHED");
    assert_eq!(failed[0]["exact_match/error_code"], "PREDICT_CRASHED");
    assert_eq!(failed[0]["response"], Value::Null);
    assert_eq!(failed[0]["exact_match/value"], Value::Null);
    assert!(!failed[0]["error_message"].as_str().unwrap().is_empty());
    assert_eq!(rows[0]["exact_match/value"], true);
}

#[test]
fn a_run_that_stops_before_its_verdict_leaves_no_results_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // An earlier run's results are there.
    std::fs::write(dir.join("r.parquet"), "earlier").unwrap();
    // Several batches of rows, then a line that is not a record.
    write_dataset(dir, ROWS, "{not json\n");
    let mut args = vec!["eval", "qa.jsonl"];
    args.extend(SCORERS);
    args.extend(["--results", "r.parquet", "--store", "s.db"]);
    let (code, stdout, stderr) = verdict_in(dir, &args);
    assert_ne!(code, 0, "{stdout}{stderr}");
    assert!(!dir.join("r.parquet").exists(), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("r.parquet"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_invalid_record_skipped_is_a_row_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_dataset(dir, 3, "{not json\n");
    let (code, stdout, stderr) = verdict_in(
        dir,
        &[
            "eval",
            "qa.jsonl",
            "--skip-invalid",
            "--scorer",
            "exact_match",
            "--results",
            "r.parquet",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let parquet = read_with_pyarrow(&dir.join("r.parquet"));
    let rows = parquet["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    // Written as the run meets it, before the records of its chunk.
    let invalid: Vec<&Value> = rows.iter().filter(|r| r["state"] == "ERROR").collect();
    assert_eq!(invalid.len(), 1, "{rows:#?}");
    let invalid = invalid[0];
    assert_eq!(invalid["line"], 4);
    assert_eq!(invalid["state"], "ERROR");
    assert_eq!(invalid["error_code"], "INVALID_RECORD");
    assert_eq!(invalid["exact_match/error_code"], "INVALID_RECORD");
    assert_eq!(invalid["trace_id"], Value::Null);
    assert_eq!(invalid["exact_match/value"], Value::Null);
}

#[test]
fn results_not_named_parquet_or_over_what_the_run_reads_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_dataset(dir, 3, "");
    for path in ["r.json", "r.csv", "results", "/dev/stdout"] {
        let (code, stdout, stderr) = verdict_in(
            dir,
            &[
                "eval",
                "qa.jsonl",
                "--scorer",
                "exact_match",
                "--results",
                path,
                "--store",
                "s.db",
            ],
        );
        assert_eq!(code, 2, "{path}: {stdout}{stderr}");
        assert!(
            stderr.contains("--results") && stderr.contains(".parquet"),
            "{path}: {stderr}"
        );
        assert!(
            !dir.join(path).exists() || path.starts_with("/dev"),
            "{path}"
        );
    }
    // The store named .parquet, and the results over it.
    let (code, _, stderr) = verdict_in(
        dir,
        &[
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--results",
            "s.parquet",
            "--store",
            "s.parquet",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("the store"), "{stderr}");
    // A Parquet dataset, and the results over it: refused, the dataset
    // as it was.
    let (code, stdout, stderr) = verdict_in(
        dir,
        &[
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--results",
            "qa.parquet",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let before = std::fs::read(dir.join("qa.parquet")).unwrap();
    let (code, _, stderr) = verdict_in(
        dir,
        &[
            "eval",
            "qa.parquet",
            "--scorer",
            "exact_match",
            "--results",
            "qa.parquet",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("the dataset"), "{stderr}");
    assert_eq!(std::fs::read(dir.join("qa.parquet")).unwrap(), before);
}

/// `verdict sql` reads the results as a table: the pass rate it computes
/// is the one the run's summary gives.
#[cfg(feature = "sql")]
#[test]
fn verdict_sql_queries_the_results_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_dataset(dir, 200, "");
    let mut args = vec!["eval", "qa.jsonl"];
    args.extend(SCORERS);
    args.extend([
        "--json",
        "r.json",
        "--results",
        "r.parquet",
        "--store",
        "s.db",
    ]);
    let (code, stdout, stderr) = verdict_in(dir, &args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = verdict_in(
        dir,
        &[
            "sql",
            "--table",
            "r=r.parquet",
            "--output",
            "out.jsonl",
            "SELECT avg(CAST(\"exact_match/value\" AS DOUBLE)) AS mean, \
             count(\"exact_match/error_code\") AS errors, \
             avg(\"edit_distance/value\") AS distance FROM r",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let row: Value = serde_json::from_str(
        std::fs::read_to_string(dir.join("out.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    let records = json["records"].as_array().unwrap();
    let values = |scorer: &str| -> Vec<f64> {
        records
            .iter()
            .filter_map(|r| {
                let v = &r["results"][scorer]["value"];
                v.as_bool().map(f64::from).or_else(|| v.as_f64())
            })
            .collect()
    };
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let errors = records
        .iter()
        .filter(|r| !r["results"]["exact_match"]["error"].is_null())
        .count();
    assert!(errors > 0);
    assert_eq!(row["errors"], json!(errors));
    assert!((row["mean"].as_f64().unwrap() - mean(values("exact_match"))).abs() < 1e-12);
    assert!((row["distance"].as_f64().unwrap() - mean(values("edit_distance"))).abs() < 1e-9);
}
