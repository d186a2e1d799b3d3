//! `verdict worker`, `verdict sql --workers` and `verdict eval
//! --workers`: a coordinator and two real worker processes on 127.0.0.1
//! over Parquet datasets of several row groups (split into files for the
//! queries), compared with the same query or run in one process; and the
//! ways a distributed query or run must fail rather than return part of
//! its rows or a verdict.
#![cfg(all(feature = "distributed", target_os = "linux"))]

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use common::{plugin_file, text_of};

/// Rows per file, and files: row groups of 100 rows, so that each file
/// is split across tasks by row group.
const ROWS_PER_FILE: usize = 400;
const FILES: usize = 3;

/// Writes `qa/part-N.parquet`: an id, an output and an expected text, a
/// quarter of the outputs right, the rest near or far; `boom` as the
/// output of each file's first row when `boom` is set.
fn write_dataset(dir: &Path, boom: bool) -> std::path::PathBuf {
    let qa = dir.join("qa");
    std::fs::create_dir(&qa).unwrap();
    for file in 0..FILES {
        let ids: Vec<i64> = (0..ROWS_PER_FILE)
            .map(|i| (file * ROWS_PER_FILE + i) as i64)
            .collect();
        let expected: Vec<String> = ids.iter().map(|i| format!("answer {i}")).collect();
        let outputs: Vec<String> = ids
            .iter()
            .map(|&i| match i % 4 {
                _ if boom && (i as usize).is_multiple_of(ROWS_PER_FILE) => "boom".to_owned(),
                0 => format!("answer {i}"),
                1 => format!("answer {}", i + 1),
                2 => format!("the answer is {i}"),
                _ => "no idea".to_owned(),
            })
            .collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(Int64Array::from(ids))),
            ("output", Arc::new(StringArray::from(outputs))),
            ("expected", Arc::new(StringArray::from(expected))),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(100))
            .build();
        let path = qa.join(format!("part-{file}.parquet"));
        let mut writer = ArrowWriter::try_new(
            std::fs::File::create(path).unwrap(),
            batch.schema(),
            Some(props),
        )
        .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }
    qa
}

/// A `verdict worker` process on 127.0.0.1, killed when dropped.
struct Worker {
    child: Child,
    url: String,
}

impl Worker {
    fn start(args: &[&str]) -> Worker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_verdict"))
            .args(["worker", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("VERDICT_PLUGIN_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The bound address, the first line it prints.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim();
        assert!(
            address.starts_with("127.0.0.1:"),
            "the worker printed {line:?}"
        );
        Worker {
            url: format!("http://{address}"),
            child,
        }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as libc::pid_t, signal) },
            0
        );
    }
}

/// Two workers started with `args`, and their URLs as `--workers` takes
/// them.
fn two_workers(args: &[&str]) -> (Worker, Worker, String) {
    let (a, b) = (Worker::start(args), Worker::start(args));
    let workers = format!("{},{}", a.url, b.url);
    (a, b, workers)
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `verdict sql` in `dir`.
fn sql(dir: &Path, args: &[&str]) -> (i32, String, String) {
    text_of(
        &Command::new(env!("CARGO_BIN_EXE_verdict"))
            .arg("sql")
            .args(args)
            .current_dir(dir)
            .env_remove("VERDICT_PLUGIN_PATH")
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

/// The lines of a CSV file after its header, sorted: rows compared
/// whatever order the tasks gave them in.
fn sorted_rows(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().skip(1).map(str::to_owned).collect();
    lines.sort();
    lines
}

const QUERY: &str = "SELECT id, exact_match(output, expected) AS exact, \
                     edit_distance(output, expected) AS distance, \
                     assess('token_f1', output, expected)['number'] AS f1, \
                     assess('edit_distance', output, expected, '{\"max_distance\": 3}')['passed'] AS near \
                     FROM qa";

#[test]
fn two_workers_give_the_rows_one_process_gives() {
    let dir = tempfile::tempdir().unwrap();
    let qa = write_dataset(dir.path(), false);
    let table = format!("qa={}:parquet", qa.display());
    let (_a, _b, workers) = two_workers(&[]);

    let (code, out, err) = sql(
        dir.path(),
        &["--table", &table, "--output", "local.csv", QUERY],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = sql(
        dir.path(),
        &[
            "--table",
            &table,
            "--workers",
            &workers,
            "--output",
            "workers.csv",
            QUERY,
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let local = sorted_rows(&dir.path().join("local.csv"));
    assert_eq!(local.len(), FILES * ROWS_PER_FILE);
    assert_eq!(sorted_rows(&dir.path().join("workers.csv")), local);

    // An aggregate over the workers' scores, as one process gives it.
    // (A sum of doubles is rounded: its last digits follow the order the
    // partial sums are added in, which differs between runs.)
    let total = "SELECT count(*) AS n, sum(CASE WHEN exact_match(output, expected) THEN 1 ELSE 0 END) \
                 AS right, round(sum(edit_distance(output, expected)), 9) AS distance FROM qa";
    let (code, local, err) = sql(dir.path(), &["--table", &table, total]);
    assert_eq!(code, 0, "{err}");
    let (code, distributed, err) = sql(
        dir.path(),
        &["--table", &table, "--workers", &workers, total],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(distributed, local);
    assert!(local.contains("1200"), "{local}");
}

#[test]
fn a_worker_killed_mid_query_fails_the_query_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let qa = write_dataset(dir.path(), true);
    let table = format!("qa={}:parquet", qa.display());
    // Each worker hangs in the plugin on its first `boom` row, until the
    // plugin's time limit: the query is under way on both when one dies.
    let hostile = plugin_file("verdict_test_hostile");
    let hostile = hostile.to_str().unwrap();
    let plugin = ["--plugin", hostile, "--plugin-timeout", "120s"];
    let (a, b, workers) = two_workers(&plugin);
    let query =
        "SELECT id, assess('hostile', output, expected, '{\"mode\": \"loop\"}')['value'] FROM qa";
    let mut coordinator = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args([
            "sql",
            "--table",
            &table,
            "--workers",
            &workers,
            "--plugin",
            hostile,
        ])
        .args(["--output", "rows.csv", query])
        .current_dir(dir.path())
        .env_remove("VERDICT_PLUGIN_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Under way: each worker has started its plugin's process.
    while !has_child(&a.child) || !has_child(&b.child) {
        if coordinator.try_wait().unwrap().is_some() {
            let (code, out, err) = text_of(&coordinator.wait_with_output().unwrap());
            panic!("the query ended before both workers scored: {code}\n{out}\n{err}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    a.signal(libc::SIGKILL);
    let (code, out, err) = text_of(&coordinator.wait_with_output().unwrap());
    assert_eq!(code, 2, "{out}\n{err}");
    let port = a.url.rsplit(':').next().unwrap();
    assert!(err.contains(port), "the error names the dead worker: {err}");
    assert!(!dir.path().join("rows.csv").exists(), "no partial output");
}

/// Whether `child` has started a process of its own.
fn has_child(child: &Child) -> bool {
    let tasks = format!("/proc/{}/task", child.id());
    std::fs::read_dir(tasks).unwrap().any(|task| {
        let children = task.unwrap().path().join("children");
        std::fs::read_to_string(children).is_ok_and(|c| !c.trim().is_empty())
    })
}

/// `127.0.0.1:PORT` of a port that was free a moment ago, and that
/// nothing listens on now.
fn closed_address() -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    format!("127.0.0.1:{port}")
}

#[test]
fn a_worker_that_refuses_connections_fails_the_query_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let qa = write_dataset(dir.path(), false);
    let table = format!("qa={}:parquet", qa.display());
    let live = Worker::start(&[]);
    let closed = closed_address();
    let workers = format!("{},{closed}", live.url);
    let (code, out, err) = sql(
        dir.path(),
        &["--table", &table, "--workers", &workers, QUERY],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains(&closed), "{err}");
    assert!(out.is_empty(), "{out}");
}

#[test]
fn a_worker_that_accepts_and_never_answers_fails_the_query_naming_it() {
    // A machine that died mid-query, or a port that is not a worker:
    // the connection opens and nothing ever comes back. Without HTTP/2
    // keep-alive the query waits for ever; with it, the unanswered ping
    // breaks the connection and the query fails naming the worker.
    let dir = tempfile::tempdir().unwrap();
    let qa = write_dataset(dir.path(), false);
    let table = format!("qa={}:parquet", qa.display());
    let live = Worker::start(&[]);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        // Accepts and keeps every connection open, reading nothing.
        let mut open = Vec::new();
        for stream in silent.incoming().take(4) {
            open.push(stream);
        }
        std::thread::sleep(std::time::Duration::from_secs(120));
    });
    let workers = format!("{},127.0.0.1:{port}", live.url);
    let (code, out, err) = sql(
        dir.path(),
        &["--table", &table, "--workers", &workers, QUERY],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(out.is_empty(), "{out}");
    drop(held);
}

#[test]
fn a_worker_without_the_plugin_refuses_naming_the_scorer() {
    let dir = tempfile::tempdir().unwrap();
    let qa = write_dataset(dir.path(), false);
    let table = format!("qa={}:parquet", qa.display());
    let (_a, _b, workers) = two_workers(&[]);
    let keyword = plugin_file("keyword_coverage");
    for query in [
        "SELECT keyword_coverage(output, expected) FROM qa",
        "SELECT assess('keyword_coverage', output, expected)['value'] FROM qa",
    ] {
        let (code, out, err) = sql(
            dir.path(),
            &[
                "--table",
                &table,
                "--workers",
                &workers,
                "--plugin",
                keyword.to_str().unwrap(),
                query,
            ],
        );
        assert_eq!(code, 2, "{out}\n{err}");
        assert!(err.contains("keyword_coverage"), "{err}");
    }
}

#[test]
fn the_store_tables_are_refused_with_workers() {
    let dir = tempfile::tempdir().unwrap();
    common::write_dataset(dir.path(), 10);
    let (code, out, err) =
        common::verdict_in(dir.path(), &["eval", "qa.jsonl", "--scorer", "exact_match"]);
    assert!(code == 0 || code == 1, "{out}\n{err}");
    let worker = Worker::start(&[]);
    let (code, out, err) = sql(
        dir.path(),
        &["--workers", &worker.url, "SELECT count(*) FROM assessments"],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("store") && err.contains("assessments"),
        "{err}"
    );
}

#[test]
fn a_worker_stops_on_sigterm_and_refuses_a_port_in_use() {
    let worker = Worker::start(&[]);
    let address = worker.url.trim_start_matches("http://").to_owned();
    let (code, out, err) = text_of(
        &Command::new(env!("CARGO_BIN_EXE_verdict"))
            .args(["worker", "--listen", &address])
            .output()
            .unwrap(),
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains(&format!("cannot listen on {address}")),
        "{err}"
    );

    let mut worker = worker;
    worker.signal(libc::SIGTERM);
    let status = worker.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// Writes `qa.parquet`: 1,200 records (input, output, expected) in row
/// groups of 100; every seventh has no expected answer, which exact
/// match cannot judge (an error result), and `boom` is the output of the
/// first record of each row group when `boom` is set. With `traces`, a
/// `tid` column names each record's trace, and the record at row 1150
/// names the trace of row 50: the second is refused by a run that reads
/// the whole file, and not by a worker that reads the last row groups.
fn write_eval_dataset(dir: &Path, boom: bool, traces: bool) -> std::path::PathBuf {
    let rows = FILES * ROWS_PER_FILE;
    let inputs: Vec<String> = (0..rows).map(|i| format!("question {i}")).collect();
    let outputs: Vec<String> = (0..rows)
        .map(|i| match i % 4 {
            _ if boom && i % 100 == 0 => "boom".to_owned(),
            0 => format!("answer {i}"),
            1 => format!("answer {}", i + 1),
            2 => format!("the answer is {i}"),
            _ => "no idea".to_owned(),
        })
        .collect();
    let expected: Vec<Option<String>> = (0..rows)
        .map(|i| (i % 7 != 3).then(|| format!("answer {i}")))
        .collect();
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("input", Arc::new(StringArray::from(inputs))),
        ("output", Arc::new(StringArray::from(outputs))),
        ("expected", Arc::new(StringArray::from(expected))),
    ];
    if traces {
        let ids: Vec<String> = (0..rows)
            .map(|i| format!("{:032x}", if i == 1150 { 51 } else { i + 1 }))
            .collect();
        columns.push(("tid", Arc::new(StringArray::from(ids))));
    }
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let path = dir.join("qa.parquet");
    write_groups(&path, &batch);
    path
}

/// Writes `batch` to `path` in row groups of 100 rows.
fn write_groups(path: &Path, batch: &RecordBatch) {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(100))
        .build();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// The rows of the Parquet file at `path`, in one batch.
fn read_parquet(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let mut batches: Vec<RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .with_batch_size(1 << 20)
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
    assert_eq!(batches.len(), 1, "one batch of every row");
    batches.remove(0)
}

/// The rows of an evaluation's `--results` file without the columns that
/// name the run (its id, and the trace ids drawn for it).
fn results_without_ids(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|batch| {
            let batch = batch.unwrap();
            let schema = batch.schema();
            let kept: Vec<usize> = (0..batch.num_columns())
                .filter(|&i| !matches!(schema.field(i).name().as_str(), "run_id" | "trace_id"))
                .collect();
            batch.project(&kept).unwrap()
        })
        .collect()
}

/// Runs `verdict eval ARGS` in `dir` alone and on `workers`, each with a
/// store and a `--results` file of its own; checks that both results hold
/// the same rows (1,200), the run's ids aside; returns both outcomes,
/// alone first.
fn alone_and_on_workers(
    dir: &Path,
    args: &[&str],
    workers: &str,
) -> ((i32, String, String), (i32, String, String)) {
    alone_and_on_workers_of(dir, "qa.parquet", args, workers)
}

/// [`alone_and_on_workers`] over the dataset `data` in `dir`.
fn alone_and_on_workers_of(
    dir: &Path,
    data: &str,
    args: &[&str],
    workers: &str,
) -> ((i32, String, String), (i32, String, String)) {
    let run = |name: &str, extra: &[&str]| {
        let (store, results) = (format!("{name}.db"), format!("{name}.parquet"));
        let mut all = vec!["eval", data];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--store", &store, "--results", &results]);
        all.extend_from_slice(extra);
        common::verdict_in(dir, &all)
    };
    let alone = run("alone", &[]);
    let on_workers = run("workers", &["--workers", workers]);
    let rows = results_without_ids(&dir.join("alone.parquet"));
    assert_eq!(rows.iter().map(RecordBatch::num_rows).sum::<usize>(), 1200);
    assert_eq!(results_without_ids(&dir.join("workers.parquet")), rows);
    (alone, on_workers)
}

#[test]
fn two_workers_score_a_run_as_one_machine_does() {
    let dir = tempfile::tempdir().unwrap();
    write_eval_dataset(dir.path(), false, false);
    let (_a, _b, workers) = two_workers(&[]);
    let args = [
        "--scorer",
        "exact_match",
        "--scorer",
        "edit_distance",
        "--scorer",
        "token_f1",
        "--fail-under",
        "exact_match=0.2",
        "--junit",
        "run.xml",
    ];
    let ((code, local_out, err), (workers_code, out, workers_err)) =
        alone_and_on_workers(dir.path(), &args, &workers);
    assert_eq!(code, 0, "{local_out}\n{err}");
    assert_eq!(workers_code, code, "{out}\n{workers_err}");
    // The summaries agree but for the run's id.
    let strip = |text: &str| {
        text.lines()
            .filter(|l| !l.contains("run-"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&out), strip(&local_out));
    let junit = std::fs::read_to_string(dir.path().join("run.xml")).unwrap();
    assert!(junit.contains("failures=\"0\""), "{junit}");
    // A stricter gate fails the run on workers too.
    let (code, out, err) = common::verdict_in(
        dir.path(),
        &[
            "eval",
            "qa.parquet",
            "--scorer",
            "exact_match",
            "--fail-under",
            "exact_match=0.9",
            "--workers",
            &workers,
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
}

#[test]
fn a_directory_of_files_is_scored_on_workers_as_the_one_file_is() {
    let dir = tempfile::tempdir().unwrap();
    let one = write_eval_dataset(dir.path(), false, false);
    // The same rows cut into three files, in partition directories, beside
    // a writer's bookkeeping: read in the order of their paths.
    let rows = read_parquet(&one);
    let table = dir.path().join("qa");
    for (i, name) in [
        "date=1/part-0.parquet",
        "date=1/part-1.parquet",
        "date=2/part-0.parquet",
    ]
    .iter()
    .enumerate()
    {
        let part = rows.slice(i * ROWS_PER_FILE, ROWS_PER_FILE);
        write_groups(&table.join(name), &part);
    }
    std::fs::write(table.join("_SUCCESS"), "").unwrap();
    let (_a, _b, workers) = two_workers(&[]);
    let args = ["--scorer", "exact_match", "--scorer", "edit_distance"];
    let ((code, out, err), (workers_code, workers_out, workers_err)) =
        alone_and_on_workers_of(dir.path(), "qa", &args, &workers);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(workers_code, 0, "{workers_out}\n{workers_err}");
    // The directory gives the results the one file gives.
    let file = [&["eval", "qa.parquet"], &args[..], &["--store", "file.db"]].concat();
    let (code, out, err) = common::verdict_in(
        dir.path(),
        &[&file[..], &["--results", "file.parquet"]].concat(),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        results_without_ids(&dir.path().join("file.parquet")),
        results_without_ids(&dir.path().join("alone.parquet"))
    );
}

#[test]
fn a_run_whose_worker_dies_stops_and_never_passes() {
    let dir = tempfile::tempdir().unwrap();
    write_eval_dataset(dir.path(), true, false);
    // Each worker hangs in the plugin on its first `boom` record, until
    // the plugin's time limit: both are scoring when one dies.
    let hostile = plugin_file("verdict_test_hostile");
    let hostile = hostile.to_str().unwrap();
    let plugin = ["--plugin", hostile, "--plugin-timeout", "120s"];
    let (a, b, workers) = two_workers(&plugin);
    let coordinator = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["eval", "qa.parquet", "--plugin", hostile])
        .args(["--scorer", "hostile:{\"mode\": \"loop\"}"])
        .args(["--workers", &workers, "--junit", "run.xml"])
        .current_dir(dir.path())
        .env_remove("VERDICT_PLUGIN_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while !has_child(&a.child) || !has_child(&b.child) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    a.signal(libc::SIGKILL);
    let (code, out, err) = text_of(&coordinator.wait_with_output().unwrap());
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("scoring on the workers failed"), "{err}");
    let port = a.url.rsplit(':').next().unwrap();
    assert!(err.contains(port), "the error names the dead worker: {err}");
    // The JUnit file says the run stopped, as an error.
    let junit = std::fs::read_to_string(dir.path().join("run.xml")).unwrap();
    assert!(
        junit.contains("the run stopped before its verdict"),
        "{junit}"
    );
    assert!(!junit.contains("errors=\"0\""), "{junit}");
}

#[test]
fn a_run_on_workers_is_refused_what_they_cannot_score() {
    let dir = tempfile::tempdir().unwrap();
    write_eval_dataset(dir.path(), false, false);
    common::write_dataset(dir.path(), 10);
    let worker = Worker::start(&[]);
    let eval = |args: &[&str]| {
        let mut all = vec!["eval"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--workers", &worker.url]);
        common::verdict_in(dir.path(), &all)
    };
    // Not a Parquet file.
    let (code, out, err) = eval(&["qa.jsonl", "--scorer", "exact_match"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("is not Parquet"), "{err}");
    // A plugin the worker lacks: refused naming the scorer.
    let keyword = plugin_file("keyword_coverage");
    let (code, out, err) = eval(&[
        "qa.parquet",
        "--plugin",
        keyword.to_str().unwrap(),
        "--scorer",
        "keyword_coverage",
    ]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("keyword_coverage"), "{err}");
    // A scorer that reads traces.
    let (code, out, err) = eval(&["qa.parquet", "--scorer", "latency:max_ms=10"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("reads traces"), "{err}");
}

#[test]
fn records_the_run_refuses_are_passed_over_in_the_workers_results() {
    let dir = tempfile::tempdir().unwrap();
    write_eval_dataset(dir.path(), false, true);
    let (_a, _b, workers) = two_workers(&[]);
    let args = [
        "--map",
        "inputs=input",
        "--map",
        "outputs=output",
        "--map",
        "expectations.expected_response=expected",
        "--map",
        "trace_id=tid",
        "--scorer",
        "exact_match",
        "--skip-invalid",
    ];
    let ((code, out, err), (workers_code, workers_out, workers_err)) =
        alone_and_on_workers(dir.path(), &args, &workers);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("1 invalid"), "{out}");
    assert_eq!(workers_code, 0, "{workers_out}\n{workers_err}");
}

#[test]
fn one_worker_does_the_whole_work() {
    // A stage of one task runs on the coordinator in datafusion-distributed:
    // with one worker named, the run and the query must still go to it, so
    // a worker that is down stops them rather than the coordinator doing
    // the work.
    let dir = tempfile::tempdir().unwrap();
    write_eval_dataset(dir.path(), false, false);
    let down = closed_address();
    let (code, out, err) = common::verdict_in(
        dir.path(),
        &[
            "eval",
            "qa.parquet",
            "--scorer",
            "exact_match",
            "--workers",
            &down,
        ],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains(&down), "{err}");
    // And a query's scan too.
    let qa = write_dataset(dir.path(), false);
    let table = format!("qa={}:parquet", qa.display());
    let (code, out, err) = sql(dir.path(), &["--table", &table, "--workers", &down, QUERY]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains(&down), "{err}");
    let worker = Worker::start(&[]);
    let (code, out, err) = sql(
        dir.path(),
        &["--table", &table, "--workers", &worker.url, QUERY],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = common::verdict_in(
        dir.path(),
        &[
            "eval",
            "qa.parquet",
            "--scorer",
            "exact_match",
            "--workers",
            &worker.url,
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("1200 records"), "{out}");
}

#[test]
fn a_record_that_takes_its_expectations_from_the_store_is_refused_on_workers() {
    let dir = tempfile::tempdir().unwrap();
    write_eval_dataset(dir.path(), false, true);
    let (_a, _b, workers) = two_workers(&[]);
    let traces = ["--map", "inputs=input", "--map", "outputs=output"];
    let traces = [&traces[..], &["--map", "trace_id=tid", "--skip-invalid"]].concat();
    // A first run stores each trace's expected answer.
    let mut first = vec!["eval", "qa.parquet", "--scorer", "exact_match"];
    first.extend_from_slice(&traces);
    first.extend_from_slice(&["--map", "expectations.expected_response=expected"]);
    let (code, out, err) = common::verdict_in(dir.path(), &first);
    assert_eq!(code, 0, "{out}\n{err}");
    // The same traces without expectations take them from the store, which
    // the workers do not read: refused rather than scored without them.
    let mut again = vec!["eval", "qa.parquet", "--scorer", "exact_match"];
    again.extend_from_slice(&traces);
    again.extend_from_slice(&["--workers", &workers]);
    let (code, out, err) = common::verdict_in(dir.path(), &again);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("takes its expectations from the store"),
        "{err}"
    );
}
