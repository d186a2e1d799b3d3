//! `verdict sql`: scorers as SQL functions over real files and a real
//! store that `verdict eval` wrote, compared with what eval stored.
#![cfg(feature = "sql")]

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::{plugin_file, verdict_in};

/// A dataset `verdict eval` and `verdict sql` both read: records that
/// name their traces, with right, wrong, near and empty answers.
fn write_named_dataset(dir: &Path, n: usize) {
    let mut text = String::new();
    for i in 0..n {
        let expected = format!("answer {i}");
        let output = match i % 4 {
            0 => expected.clone(),
            1 => format!("answer {}", i + 1),
            2 => format!("Answer {i}"),
            _ => String::new(),
        };
        let record = serde_json::json!({
            "trace_id": format!("{:032x}", i + 1),
            "input": format!("q{i}"),
            "output": output,
            "expected": expected,
        });
        writeln!(text, "{record}").unwrap();
    }
    std::fs::write(dir.join("qa.jsonl"), text).unwrap();
}

const MAP: [&str; 8] = [
    "--map",
    "inputs=input",
    "--map",
    "outputs=output",
    "--map",
    "expectations.expected_response=expected",
    "--map",
    "trace_id=trace_id",
];

fn eval(dir: &Path, scorers: &[&str]) {
    let mut args = vec!["eval", "qa.jsonl"];
    args.extend(MAP);
    for s in scorers {
        args.extend(["--scorer", s]);
    }
    let (code, out, err) = verdict_in(dir, &args);
    assert!(code == 0 || code == 1, "{out}\n{err}");
}

#[test]
fn scorer_functions_equal_the_feedback_eval_stored() {
    let dir = tempfile::tempdir().unwrap();
    write_named_dataset(dir.path(), 200);
    eval(dir.path(), &["exact_match", "edit_distance"]);
    // Each record's stored feedback beside the function's value on the
    // same row of the file: no row may differ, and every row is joined.
    let query = "SELECT count(*) AS joined,
                        sum(CASE WHEN CAST(exact_match(q.output, q.expected) AS VARCHAR) = em.value
                                 THEN 0 ELSE 1 END) AS exact_differ,
                        sum(CASE WHEN edit_distance(q.output, q.expected) = CAST(ed.value AS DOUBLE)
                                 THEN 0 ELSE 1 END) AS distance_differ
                 FROM qa q
                 JOIN assessments em ON em.trace_id = 'tr-' || q.trace_id AND em.name = 'exact_match'
                 JOIN assessments ed ON ed.trace_id = 'tr-' || q.trace_id AND ed.name = 'edit_distance'";
    let (code, out, err) = verdict_in(
        dir.path(),
        &[
            "sql",
            "--table",
            "qa=qa.jsonl",
            "--output",
            "check.csv",
            query,
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let check = std::fs::read_to_string(dir.path().join("check.csv")).unwrap();
    assert_eq!(check, "joined,exact_differ,distance_differ\n200,0,0\n");
}

#[test]
fn assessments_go_to_parquet_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    write_named_dataset(dir.path(), 40);
    eval(dir.path(), &["exact_match"]);
    let (code, out, err) = verdict_in(
        dir.path(),
        &[
            "sql",
            "--output",
            "results.parquet",
            "SELECT trace_id, name, kind, value, source_type, source_id, rationale, error_code, \
             valid, run_id FROM assessments WHERE kind = 'feedback'",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = verdict_in(
        dir.path(),
        &[
            "sql",
            "--table",
            "r=results.parquet",
            "--output",
            "summary.csv",
            "SELECT count(*) AS n, sum(CASE WHEN value = 'true' THEN 1 ELSE 0 END) AS passed, \
             min(source_type) AS source, count(DISTINCT run_id) AS runs FROM r",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let summary = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    // A quarter of the 40 records is right.
    assert_eq!(summary, "n,passed,source,runs\n40,10,CODE,1\n");
}

#[test]
fn a_query_error_exits_2_with_the_engines_message() {
    let dir = tempfile::tempdir().unwrap();
    write_named_dataset(dir.path(), 4);
    for (query, wanted) in [
        ("SELECT nope FROM qa", "nope"),
        (
            "SELECT exact_match(output) FROM qa",
            "takes 2 or 3 arguments",
        ),
        ("SELEKT 1", "SELEKT"),
    ] {
        let (code, out, err) = verdict_in(dir.path(), &["sql", "--table", "qa=qa.jsonl", query]);
        assert_eq!(code, 2, "{query}: {out}\n{err}");
        assert!(err.contains(wanted), "{query}: {err}");
        assert!(out.is_empty(), "{query}: {out}");
    }
}

#[test]
fn hostile_text_never_reaches_the_terminal_raw() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("evil.csv"),
        "output,expected\n\"\x1b[2J\x1b]0;owned\x07\",x\n",
    )
    .unwrap();
    let (code, out, err) = verdict_in(
        dir.path(),
        &[
            "sql",
            "--table",
            "evil=evil.csv",
            "SELECT output, exact_match(output, expected) AS same FROM evil",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(out.contains("\\u{1b}[2J"), "{out}");
}

#[test]
fn outputs_never_overwrite_what_the_query_reads() {
    let dir = tempfile::tempdir().unwrap();
    write_named_dataset(dir.path(), 4);
    let before = std::fs::read(dir.path().join("qa.jsonl")).unwrap();
    let (code, _, err) = verdict_in(
        dir.path(),
        &[
            "sql",
            "--table",
            "qa=qa.jsonl",
            "--output",
            "qa.jsonl",
            "SELECT 1",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--output"), "{err}");
    assert_eq!(std::fs::read(dir.path().join("qa.jsonl")).unwrap(), before);
}

#[test]
fn statements_that_write_are_refused_and_the_store_stays_whole() {
    let dir = tempfile::tempdir().unwrap();
    write_named_dataset(dir.path(), 4);
    eval(dir.path(), &["exact_match"]);
    let store = dir.path().join(".verdict/verdict.db");
    let before = std::fs::read(&store).unwrap();
    let copy = format!(
        "COPY (SELECT 1 AS a) TO '{}' STORED AS CSV",
        store.display()
    );
    let external = format!(
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{}'",
        dir.path().join("t.csv").display()
    );
    for statement in [
        copy.as_str(),
        "INSERT INTO assessments SELECT * FROM assessments",
        "CREATE TABLE t AS SELECT 1 AS a",
        external.as_str(),
        "DROP TABLE assessments",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let (code, out, err) = verdict_in(dir.path(), &["sql", statement]);
        assert_eq!(code, 2, "{statement}: {out}\n{err}");
        assert!(err.contains("--output"), "{statement}: {err}");
        assert_eq!(std::fs::read(&store).unwrap(), before, "{statement}");
    }
    // A query still runs, and EXPLAIN too.
    for query in [
        "SELECT count(*) FROM assessments",
        "EXPLAIN SELECT count(*) FROM assessments",
    ] {
        let (code, out, err) = verdict_in(dir.path(), &["sql", query]);
        assert_eq!(code, 0, "{query}: {out}\n{err}");
    }
}

#[test]
fn a_crashing_plugin_costs_its_rows_not_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("output,expected\n");
    for i in 0..20 {
        let output = if i == 7 {
            "boom"
        } else if i % 2 == 0 {
            "a"
        } else {
            "b"
        };
        writeln!(csv, "{output},a").unwrap();
    }
    std::fs::write(dir.path().join("t.csv"), csv).unwrap();
    let plugin = plugin_file("verdict_test_hostile");
    let (code, out, err) = verdict_in(
        dir.path(),
        &[
            "sql",
            "--plugin",
            plugin.to_str().unwrap(),
            "--table",
            "t=t.csv",
            "--output",
            "r.csv",
            r#"SELECT count(*) AS n,
                      count(hostile(output, expected, '{"mode": "segfault"}')) AS scored,
                      sum(CASE WHEN assess('hostile', output, expected, '{"mode": "segfault"}')['error_code'] = 'SCORER_CRASHED' THEN 1 ELSE 0 END) AS crashed
               FROM t"#,
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let result = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    // One batch: every row of it carries the crash; none is a value.
    assert_eq!(result, "n,scored,crashed\n20,0,20\n");
}
