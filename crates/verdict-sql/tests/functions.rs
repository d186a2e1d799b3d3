//! Scorers as SQL functions, over real Parquet, CSV and JSON files, against
//! the same scorers called the way `verdict eval` calls them.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, RecordBatch, StringArray, StringViewArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{SessionConfig, SessionContext};
use verdict_plugin::ScoreValue;
use verdict_scorer::{OwnedRecord, Registry, score_one};
use verdict_sql::{Format, TableSpec, register_file, register_scorers};

/// Pairs of (output, expected) with right, wrong, empty and non-ASCII
/// answers.
fn pairs() -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for i in 0..300 {
        let expected = format!("answer {i} — café");
        let output = match i % 4 {
            0 => expected.clone(),
            1 => format!("answer {}", i + 1),
            2 => expected.to_uppercase(),
            _ => String::new(),
        };
        pairs.push((output, expected));
    }
    pairs
}

fn batch_of(pairs: &[(String, String)]) -> RecordBatch {
    let outputs: StringArray = pairs.iter().map(|(o, _)| Some(o.as_str())).collect();
    let expected: StringArray = pairs.iter().map(|(_, e)| Some(e.as_str())).collect();
    let schema = Schema::new(vec![
        Field::new("output", DataType::Utf8, true),
        Field::new("expected", DataType::Utf8, true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(outputs), Arc::new(expected)],
    )
    .unwrap()
}

/// A Parquet file written with the parquet crate's Arrow writer.
fn write_parquet(path: &Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

fn write_csv(path: &Path, pairs: &[(String, String)]) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = datafusion::arrow::csv::Writer::new(file);
    writer.write(&batch_of(pairs)).unwrap();
}

fn write_jsonl(path: &Path, pairs: &[(String, String)]) {
    let mut text = String::new();
    for (o, e) in pairs {
        text += &serde_json::json!({"output": o, "expected": e}).to_string();
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn context() -> SessionContext {
    let ctx = SessionContext::new();
    register_scorers(&ctx, Registry::with_builtins()).unwrap();
    ctx
}

async fn query(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

async fn error_of(ctx: &SessionContext, sql: &str) -> String {
    match ctx.sql(sql).await {
        Err(e) => e.to_string(),
        Ok(df) => match df.collect().await {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{sql} ran"),
        },
    }
}

/// The value each scorer gives each pair, called as `verdict eval` calls
/// it (a record with the output and its `expected_response`).
fn expected_values(spec: &str, pairs: &[(String, String)]) -> Vec<Option<ScoreValue>> {
    let scorer = Registry::with_builtins()
        .create(&spec.parse().unwrap())
        .unwrap();
    pairs
        .iter()
        .map(|(o, e)| {
            let record =
                OwnedRecord::new("", o.as_str()).with_expectation("expected_response", e.as_str());
            score_one(scorer.as_ref(), &record).ok().map(|s| s.value)
        })
        .collect()
}

fn column_values(batches: &[RecordBatch]) -> Vec<Option<ScoreValue>> {
    let mut values = Vec::new();
    for batch in batches {
        let column = batch.column(0);
        for i in 0..column.len() {
            values.push(column.is_valid(i).then(|| {
                match column.data_type() {
                    DataType::Boolean => ScoreValue::Bool(column.as_boolean().value(i)),
                    DataType::Float64 => ScoreValue::Number(
                        column
                            .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                            .value(i),
                    ),
                    DataType::Utf8 => {
                        ScoreValue::Label(column.as_string::<i32>().value(i).to_owned().into())
                    }
                    other => panic!("unexpected type {other}"),
                }
            }));
        }
    }
    values
}

#[tokio::test]
async fn each_file_format_scores_as_eval_does() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = pairs();
    write_parquet(&dir.path().join("qa.parquet"), &batch_of(&pairs));
    write_csv(&dir.path().join("qa.csv"), &pairs);
    write_jsonl(&dir.path().join("qa.jsonl"), &pairs);
    let ctx = context();
    for (name, file) in [("p", "qa.parquet"), ("c", "qa.csv"), ("j", "qa.jsonl")] {
        let spec: TableSpec = format!("{name}={}", dir.path().join(file).display())
            .parse()
            .unwrap();
        register_file(&ctx, &spec).await.unwrap();
    }
    for (call, spec) in [
        ("exact_match(output, expected)", "exact_match"),
        (
            r#"exact_match(output, expected, '{"case_sensitive": false}')"#,
            r#"exact_match:{"case_sensitive": false}"#,
        ),
        ("edit_distance(output, expected)", "edit_distance"),
        ("token_f1(output, expected)", "token_f1"),
        ("similarity(output, expected)", "similarity"),
    ] {
        let wanted = expected_values(spec, &pairs);
        assert!(wanted.iter().all(Option::is_some), "{spec}: {wanted:?}");
        for table in ["p", "c", "j"] {
            // A CSV file's empty field is NULL, the empty string to eval.
            let from = if table == "c" {
                "(SELECT coalesce(output, '') AS output, expected FROM c)"
            } else {
                table
            };
            let got = column_values(&query(&ctx, &format!("SELECT {call} FROM {from}")).await);
            assert_eq!(got, wanted, "{call} over {table}");
        }
    }
}

#[tokio::test]
async fn value_types_follow_the_scorers_kind() {
    let ctx = context();
    let batches = query(
        &ctx,
        "SELECT exact_match('a', 'a') AS b, edit_distance('ab', 'abc') AS n, \
         assess('exact_match', 'a', 'b') AS s",
    )
    .await;
    let schema = batches[0].schema();
    assert_eq!(schema.field(0).data_type(), &DataType::Boolean);
    assert_eq!(schema.field(1).data_type(), &DataType::Float64);
    assert!(matches!(schema.field(2).data_type(), DataType::Struct(_)));
    assert!(batches[0].column(0).as_boolean().value(0));
}

#[tokio::test]
async fn nulls_give_null_and_errors_are_said_by_assess() {
    let ctx = context();
    let batches = query(
        &ctx,
        "SELECT numeric(o, e) AS v, assess('numeric', o, e) AS a FROM \
         (VALUES ('1', '1'), (NULL, '1'), ('1', NULL), ('1', 'not a number')) t(o, e)",
    )
    .await;
    let batch = &batches[0];
    let values = batch.column(0).as_boolean();
    assert!(values.value(0));
    assert!(values.is_null(1) && values.is_null(2) && values.is_null(3));
    let assessed = batch.column(1).as_struct();
    assert!(assessed.is_valid(0) && assessed.is_null(1) && assessed.is_null(2));
    let code = assessed
        .column_by_name("error_code")
        .unwrap()
        .as_string::<i32>();
    let message = assessed
        .column_by_name("error_message")
        .unwrap()
        .as_string::<i32>();
    assert!(code.is_null(0));
    assert_eq!(code.value(3), "INVALID_EXPECTATION");
    assert!(
        message.value(3).contains("not a number"),
        "{}",
        message.value(3)
    );
    let value = assessed.column_by_name("value").unwrap().as_string::<i32>();
    assert_eq!(value.value(0), "true");
}

#[tokio::test]
async fn wrong_calls_are_refused_when_planned_with_the_signature() {
    let ctx = context();
    for (sql, wanted) in [
        (
            "SELECT exact_match('a')",
            "exact_match(output, expected[, config]) takes 2 or 3 arguments, not 1",
        ),
        (
            "SELECT exact_match('a', 'b', '{}', 'x')",
            "exact_match(output, expected[, config]) takes 2 or 3 arguments, not 4",
        ),
        (
            "SELECT exact_match(1, 'b')",
            "exact_match(output, expected[, config]): the output must be text (VARCHAR), not Int64",
        ),
        (
            "SELECT exact_match('a', X'ff')",
            "the expected must be text (VARCHAR), not Binary; bytes are not text: CAST",
        ),
        (
            "SELECT exact_match('a', 'b', '{not json')",
            "the config is not valid JSON",
        ),
        (
            "SELECT exact_match('a', 'b', '[1]')",
            "the config must be a JSON object",
        ),
        (
            r#"SELECT edit_distance('a', 'b', '{"max_distance": "far"}')"#,
            "edit_distance (called as edit_distance(output, expected[, config]))",
        ),
        (
            "SELECT exact_match(o, e, c) FROM (VALUES ('a', 'b', '{}')) t(o, e, c)",
            "the config must be a literal string",
        ),
        (
            "SELECT assess('no_such_scorer', 'a', 'b')",
            "no_such_scorer",
        ),
        ("SELECT latency('a', 'b')", "reads each record's trace"),
    ] {
        let error = error_of(&ctx, sql).await;
        assert!(error.contains(wanted), "{sql}: {error}");
    }
}

#[tokio::test]
async fn functions_shadowed_by_sql_keep_sql_meaning() {
    let ctx = context();
    let batches = query(
        &ctx,
        r#"SELECT length('abc') AS sql_length, score_length('abc', '3', '{"min": 1}') AS scorer"#,
    )
    .await;
    assert_eq!(
        batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
            .value(0),
        3
    );
    assert!(batches[0].column(1).is_valid(0));
}

#[tokio::test]
async fn empty_tables_huge_strings_and_string_views() {
    let ctx = context();
    let empty = query(
        &ctx,
        "SELECT exact_match(o, e) FROM (VALUES ('a', 'a')) t(o, e) WHERE o = 'z'",
    )
    .await;
    assert_eq!(empty.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);

    // 32 MiB strings, equal but for their last byte, in a string view
    // array (the layout DataFusion reads Parquet into).
    let big = "x".repeat(32 << 20);
    let outputs = StringViewArray::from(vec![Some(big.as_str()), Some(big.as_str())]);
    let other = format!("{}y", &big[1..]);
    let expected = StringViewArray::from(vec![Some(big.as_str()), Some(other.as_str())]);
    let schema = Schema::new(vec![
        Field::new("o", DataType::Utf8View, true),
        Field::new("e", DataType::Utf8View, true),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(outputs) as ArrayRef, Arc::new(expected)],
    )
    .unwrap();
    ctx.register_batch("big", batch).unwrap();
    let batches = query(&ctx, "SELECT exact_match(o, e) FROM big").await;
    let same = batches[0].column(0).as_boolean();
    assert!(same.value(0));
    assert!(!same.value(1));
}

#[tokio::test]
async fn bytes_that_are_not_utf8_are_never_read_as_text() {
    let ctx = context();
    let bytes = BinaryArray::from(vec![&b"ok"[..], &[0xff, 0xfe][..]]);
    let schema = Schema::new(vec![Field::new("b", DataType::Binary, true)]);
    let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(bytes) as ArrayRef]).unwrap();
    ctx.register_batch("raw", batch).unwrap();
    let error = error_of(&ctx, "SELECT exact_match(b, 'ok') FROM raw").await;
    assert!(error.contains("CAST(column AS VARCHAR)"), "{error}");
    // Cast, the valid row is scored and the invalid one is refused by
    // Arrow's cast, never handed to a scorer.
    let error = error_of(
        &ctx,
        "SELECT exact_match(CAST(b AS VARCHAR), 'ok') FROM raw",
    )
    .await;
    assert!(error.to_lowercase().contains("utf"), "{error}");
}

#[tokio::test]
async fn table_specs_name_their_format() {
    let spec: TableSpec = "qa=data/qa.PARQUET".parse().unwrap();
    assert_eq!(spec.format, Format::Parquet);
    let spec: TableSpec = "qa=data/export.txt:csv".parse().unwrap();
    assert_eq!(
        (spec.format, spec.path.to_str()),
        (Format::Csv, Some("data/export.txt"))
    );
    for (bad, wanted) in [
        ("qa", "is not NAME=PATH"),
        ("qa=data/export.txt", "cannot tell the format"),
        ("q a=x.csv", "cannot name a table"),
    ] {
        let error = bad.parse::<TableSpec>().unwrap_err();
        assert!(error.contains(wanted), "{bad}: {error}");
    }
    let ctx = SessionContext::new_with_config(SessionConfig::new());
    let spec: TableSpec = "qa=/nonexistent/qa.csv".parse().unwrap();
    let error = register_file(&ctx, &spec).await.unwrap_err().to_string();
    assert!(error.contains("is not a file"), "{error}");
}
