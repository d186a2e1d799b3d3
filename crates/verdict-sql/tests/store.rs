//! The local store's tables, read from a real SQLite store.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::prelude::{SessionConfig, SessionContext};
use verdict::opentelemetry::trace::{SpanId, TraceId};
use verdict::{Assessment, AssessmentError};
use verdict_store::{LocalStore, StoredSpan};

const TRACE: &str = "0fb07256509eb9d22d07f42f7eb9f24d";

fn store(dir: &std::path::Path, traces: usize) -> std::path::PathBuf {
    let path = dir.join("verdict.db");
    let store = LocalStore::open(&path).unwrap();
    let trace_id = TraceId::from_hex(TRACE).unwrap();
    let span = StoredSpan::new(trace_id, SpanId::from(7u64), "agent \u{1b}[2J".to_owned());
    store.put_stored_spans(&[span]).unwrap();
    let helpful = Assessment::feedback("helpful", true)
        .rationale("said so")
        .on_trace(TRACE, None)
        .unwrap();
    store.log(&helpful).unwrap();
    let failed = Assessment::feedback_error("judge", AssessmentError::new("TIMEOUT"))
        .on_trace(TRACE, Some("0000000000000007"))
        .unwrap();
    store.log(&failed).unwrap();
    let expected = Assessment::expectation("expected_response", "Paris")
        .on_trace(TRACE, None)
        .unwrap();
    store.log(&expected).unwrap();
    // More traces than one batch holds.
    for i in 1..traces {
        let feedback = Assessment::feedback("score", i as f64)
            .on_trace(&format!("{:032x}", i), None)
            .unwrap();
        store.log(&feedback).unwrap();
    }
    path
}

async fn rows(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

#[tokio::test]
async fn the_store_reads_as_mlflow_shaped_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = store(dir.path(), 1);
    let ctx = SessionContext::new();
    verdict_sql::register_store(&ctx, &path).unwrap();

    let out = rows(
        &ctx,
        "SELECT name, kind, value, source_type, rationale, error_code, span_id, valid, trace_id \
         FROM assessments ORDER BY name",
    )
    .await;
    let b = &out[0];
    assert_eq!(b.num_rows(), 3);
    let text = |c: usize, r: usize| {
        let col = b.column(c).as_string::<i32>();
        col.is_valid(r).then(|| col.value(r).to_owned())
    };
    assert_eq!(text(0, 0).as_deref(), Some("expected_response"));
    assert_eq!(text(1, 0).as_deref(), Some("expectation"));
    assert_eq!(text(2, 0).as_deref(), Some("\"Paris\""));
    assert_eq!(text(3, 0).as_deref(), Some("HUMAN"));
    assert_eq!(text(0, 1).as_deref(), Some("helpful"));
    assert_eq!(text(2, 1).as_deref(), Some("true"));
    assert_eq!(text(4, 1).as_deref(), Some("said so"));
    assert_eq!(text(3, 1).as_deref(), Some("CODE"));
    assert_eq!(text(0, 2).as_deref(), Some("judge"));
    assert_eq!(text(2, 2), None);
    assert_eq!(text(5, 2).as_deref(), Some("TIMEOUT"));
    assert_eq!(text(6, 2).as_deref(), Some("0000000000000007"));
    assert!(b.column(7).as_boolean().value(0));
    assert_eq!(text(8, 0), Some(format!("tr-{TRACE}")));

    let out = rows(
        &ctx,
        "SELECT trace_id, span_count, assessment_count FROM traces",
    )
    .await;
    assert_eq!(out[0].column(1).as_primitive::<Int64Type>().value(0), 1);
    assert_eq!(out[0].column(2).as_primitive::<Int64Type>().value(0), 3);

    let out = rows(&ctx, "SELECT name, span_id, kind, status_code FROM spans").await;
    assert_eq!(
        out[0].column(0).as_string::<i32>().value(0),
        "agent \u{1b}[2J"
    );
    assert_eq!(
        out[0].column(1).as_string::<i32>().value(0),
        "0000000000000007"
    );
    assert_eq!(out[0].column(3).as_string::<i32>().value(0), "UNSET");
}

#[tokio::test]
async fn the_store_is_read_a_batch_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = store(dir.path(), 50);
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_batch_size(8));
    verdict_sql::register_store(&ctx, &path).unwrap();
    let out = rows(&ctx, "SELECT assessment_id FROM assessments").await;
    let total: usize = out.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(total, 52);
    assert!(
        out.iter().all(|b| b.num_rows() <= 10),
        "{:?}",
        out.iter().map(RecordBatch::num_rows).collect::<Vec<_>>()
    );
    let out = rows(&ctx, "SELECT count(*) FROM traces").await;
    assert_eq!(out[0].column(0).as_primitive::<Int64Type>().value(0), 50);
}

#[test]
fn a_missing_store_is_refused_when_registered() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = SessionContext::new();
    let error = verdict_sql::register_store(&ctx, dir.path().join("nope.db"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("nope.db"), "{error}");
}
