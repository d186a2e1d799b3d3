//! An isolated plugin as a SQL function: scored in worker processes (this
//! test binary is its own worker program, as in verdict-scorer's
//! isolation tests), and a crash costs the rows of its batch, not the
//! query.
#![cfg(target_os = "linux")]

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use verdict_scorer::{Isolation, Registry, SCORER_CRASHED};

/// Serves as a worker when this binary was started as one.
#[test]
fn worker() {
    let started_as_worker = std::fs::read_link("/proc/self/fd/0")
        .is_ok_and(|p| p.to_string_lossy().contains("memfd:verdict-plugin-worker"));
    if started_as_worker {
        let served = verdict_scorer::serve_worker();
        std::process::exit(i32::from(served.is_err()));
    }
}

fn hostile_plugin() -> std::path::PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let path = deps.join(format!(
        "{}verdict_test_hostile{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(path.is_file(), "{path:?} was not built");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_errs_the_rows_of_its_batch_and_the_query_goes_on() {
    let mut registry = Registry::with_builtins();
    registry.isolate(
        Isolation::new(std::env::current_exe().unwrap())
            .arg("worker")
            .arg("--exact")
            .arg("--quiet")
            .arg("--test-threads=1"),
    );
    registry.load_plugin(&hostile_plugin()).unwrap();
    // Batches stay as the table holds them: one partition, four rows.
    let config = SessionConfig::new()
        .with_target_partitions(1)
        .with_batch_size(4);
    let ctx = SessionContext::new_with_config(config);
    verdict_sql::register_scorers(&ctx, registry).unwrap();

    // Three batches of four rows; the sixth row makes the plugin crash.
    let schema = Arc::new(Schema::new(vec![
        Field::new("n", DataType::Utf8, false),
        Field::new("o", DataType::Utf8, false),
        Field::new("e", DataType::Utf8, false),
    ]));
    let batches: Vec<RecordBatch> = (0..3)
        .map(|b| {
            let rows: Vec<usize> = (b * 4..b * 4 + 4).collect();
            let n: StringArray = rows.iter().map(|i| Some(format!("{i:02}"))).collect();
            let o: StringArray = rows
                .iter()
                .map(|&i| {
                    Some(if i == 5 {
                        "boom".to_owned()
                    } else {
                        format!("a{}", i % 2)
                    })
                })
                .collect();
            let e: StringArray = rows.iter().map(|_| Some("a0")).collect();
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(n), Arc::new(o), Arc::new(e)],
            )
            .unwrap()
        })
        .collect();
    let table = MemTable::try_new(Arc::clone(&schema), vec![batches]).unwrap();
    ctx.register_table("t", Arc::new(table)).unwrap();

    let out = ctx
        .sql(
            r#"SELECT n, hostile(o, e, '{"mode": "segfault"}') AS v,
                      assess('hostile', o, e, '{"mode": "segfault"}') AS a
               FROM t"#,
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut seen = 0;
    for batch in &out {
        let values = batch.column(1).as_boolean();
        let codes = batch
            .column(2)
            .as_struct()
            .column_by_name("error_code")
            .unwrap()
            .as_string::<i32>()
            .clone();
        let names = batch.column(0).as_string::<i32>();
        for i in 0..batch.num_rows() {
            let row: usize = names.value(i).parse().unwrap();
            if (4..8).contains(&row) {
                assert!(values.is_null(i), "row {row}");
                assert_eq!(codes.value(i), SCORER_CRASHED, "row {row}");
            } else {
                assert!(codes.is_null(i), "row {row}: {}", codes.value(i));
                assert_eq!(values.value(i), row.is_multiple_of(2), "row {row}");
            }
        }
        seen += batch.num_rows();
    }
    assert_eq!(seen, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_a_large_batch_costs_only_its_256_rows() {
    let mut registry = Registry::with_builtins();
    registry.isolate(
        Isolation::new(std::env::current_exe().unwrap())
            .arg("worker")
            .arg("--exact")
            .arg("--quiet")
            .arg("--test-threads=1"),
    );
    registry.load_plugin(&hostile_plugin()).unwrap();
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    verdict_sql::register_scorers(&ctx, registry).unwrap();
    // One batch of 600 rows; row 300 makes the plugin crash.
    let schema = Arc::new(Schema::new(vec![
        Field::new("o", DataType::Utf8, false),
        Field::new("e", DataType::Utf8, false),
    ]));
    let o: StringArray = (0..600)
        .map(|i| Some(if i == 300 { "boom" } else { "a0" }))
        .collect();
    let e: StringArray = (0..600).map(|_| Some("a0")).collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(o), Arc::new(e)]).unwrap();
    ctx.register_batch("t", batch).unwrap();
    let out = ctx
        .sql(r#"SELECT hostile(o, e, '{"mode": "abort"}') AS v FROM t"#)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut row = 0;
    for batch in &out {
        let values = batch.column(0).as_boolean();
        for i in 0..batch.num_rows() {
            if (256..512).contains(&row) {
                assert!(values.is_null(i), "row {row}");
            } else {
                assert!(values.value(i), "row {row}");
            }
            row += 1;
        }
    }
    assert_eq!(row, 600);
}
