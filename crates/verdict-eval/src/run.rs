//! An evaluation run: records stream from the dataset in chunks, are
//! scored on all cores, become traces with expectation and feedback
//! assessments, and are written by one writer thread in one transaction
//! per chunk, while the next chunk is scored.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use crossbeam_channel::bounded;
use opentelemetry::InstrumentationScope;
use opentelemetry::trace::{SpanId, TraceId};
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use verdict::{Assessment, Kind, Operation, Target, mlflow_trace_id};
use verdict_export::runs::pack;
use verdict_export::runs::{PackedValue, RecordHead, RecordTarget};
use verdict_export::{
    Batch, LocalStore, NewRun, RecordSpan, RunBlock, RunBlockBuilder, RunKey, RunScorer, RunStatus,
    StoredRun, StoredSpan,
};
use verdict_scorer::{
    OwnedRecord, OwnedValue, Registry, Runner, Scorer, Scores, feedback_metadata, feedback_source,
};

use crate::compare::{Comparer, RecordComparison};
use crate::config::SuiteConfig;
use crate::criteria;
use crate::dataset::{Dataset, Entry, InvalidRecord};
use crate::error::{Error, Result};
use crate::export::Export;
use crate::gates::{self, GateVerdict};
use crate::mlflow_run::RunPlan;
use crate::output::{OutputFile, Outputs};
use crate::predict::{PredictError, Predictor};
use crate::predict_stage::{Job, Stage};
use crate::remote::RemoteScoring;
use crate::report::{
    ResultStream, Row, RowResult, Stopped, StreamPaths, Unfinished, open_streams, write_report_to,
};
use crate::reuse::StoredAnswers;
use crate::scored::{self, ChunkScores, Failed, Said};
use crate::stats::{RecordView, ScorerStats, StatsBuilder};
use verdict_export::mlflow::RunEnd;
use verdict_export::{DeliveryFailure, Destination, ExportTarget, Tally};

/// Records read, scored and written together.
const CHUNK: usize = 4096;

/// The first chunk is smaller: the writer, which bounds the run, starts
/// once it is scored instead of waiting for a whole chunk.
const FIRST_CHUNK: usize = 512;

/// Records the reader hands over at a time: at most this many read but
/// not yet scored are left behind when a run is interrupted while its
/// dataset gives nothing more (a pipe whose writer waits).
const READ_BATCH: usize = 256;

/// After an interruption, how long the reader may be quiet before what
/// it had read is taken to be all handed on ([`Chunks::settle`]).
const SETTLE_QUIET: std::time::Duration = std::time::Duration::from_millis(100);

/// After an interruption, the longest the reader's last records are
/// waited for.
const SETTLE_MAX: std::time::Duration = std::time::Duration::from_millis(500);

/// How many invalid records a summary lists (all are counted).
const INVALID_LISTED: usize = 20;

/// Records packed together in one block of the store: small enough that
/// reading one record back decompresses little, large enough to compress
/// well.
const BLOCK_RECORDS: usize = 256;

pub use verdict_export::runs::{LINE_ATTRIBUTE, RECORD_SPAN_NAME, RUN_ID_ATTRIBUTE};

/// How far a run has got, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Records scored so far.
    pub records: u64,
    /// Bytes of the dataset read so far.
    pub bytes: u64,
    /// The dataset's size in bytes, when it is a file (not a pipe).
    pub total_bytes: Option<u64>,
}

/// What a run found: statistics per scorer, gate verdicts, and where it
/// is stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's id (`run-` + 12 hex), usable as a baseline.
    pub run_id: String,
    /// The dataset, as it was named.
    pub dataset: String,
    /// When the run started, RFC 3339.
    pub started: String,
    /// How long it took, in seconds.
    pub seconds: f64,
    /// Records scored; for a run that stopped, the records it had stored.
    pub records: u64,
    /// Records that could not be read (each an error for every scorer).
    pub invalid: u64,
    /// The first invalid records, with their reasons.
    pub invalid_records: Vec<InvalidRecord>,
    /// Statistics per scorer, in the suite's order.
    pub scorers: Vec<ScorerStats>,
    /// The weighted mean of the scorers' pass rates.
    pub weighted_pass_rate: Option<f64>,
    /// The baseline run compared against, if any.
    pub baseline: Option<String>,
    /// Every gate and whether it passed.
    pub gates: Vec<GateVerdict>,
    /// Whether every gate passed.
    pub passed: bool,
    /// Why the run stopped before the end of the dataset, for a run that
    /// did: it is stored with the records it had written (its feedback
    /// carries its run id, and so do the root spans it made), with no
    /// statistics or gates, and it is never a baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What each `--export` destination that failed did not deliver (the
    /// local store holds all of it, for `verdict push` to send again);
    /// empty when every destination took everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undelivered: Vec<DeliveryFailure>,
    /// With a baseline: which records newly fail and newly pass against
    /// it, record by record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<RecordComparison>,
}

impl RunSummary {
    /// What a run says however it ends, before any scorer statistics or
    /// gates: it has not passed, and has no error yet.
    fn before_scoring(
        run_id: String,
        dataset: String,
        started: SystemTime,
        seconds: f64,
        records: u64,
        (invalid, invalid_records): (u64, Vec<InvalidRecord>),
        baseline: Option<String>,
    ) -> Self {
        RunSummary {
            run_id,
            dataset,
            started: humantime::format_rfc3339_millis(started).to_string(),
            seconds,
            records,
            invalid,
            invalid_records,
            scorers: Vec::new(),
            weighted_pass_rate: None,
            baseline,
            gates: Vec::new(),
            passed: false,
            error: None,
            undelivered: Vec::new(),
            comparison: None,
        }
    }

    /// The statistics of the scorer named `name`.
    pub fn scorer(&self, name: &str) -> Option<&ScorerStats> {
        self.scorers.iter().find(|s| s.name == name)
    }

    /// The summary a stored run carries, read back; `None` for a run
    /// still running (or killed) before it had one.
    pub fn of(run: &StoredRun) -> Result<Option<RunSummary>> {
        run.summary
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Error::Summary {
                run_id: run.run_id.clone(),
                reason: format!("cannot be read back: {e}"),
            })
    }

    /// Records scored per second.
    pub fn records_per_second(&self) -> f64 {
        self.records as f64 / self.seconds.max(1e-9)
    }
}

/// An evaluation, configured: scorers and gates, where results go.
///
/// ```
/// use verdict_eval::{Dataset, Evaluation, SuiteConfig};
///
/// let dir = tempfile::tempdir()?;
/// let data = dir.path().join("qa.jsonl");
/// std::fs::write(&data, concat!(
///     r#"{"inputs": "Capital of France?", "outputs": "Paris", "expectations": {"expected_response": "Paris"}}"#, "\n",
///     r#"{"inputs": "Capital of Italy?", "outputs": "Milan", "expectations": {"expected_response": "Rome"}}"#, "\n",
/// ))?;
/// let mut config = SuiteConfig::default();
/// config.replace_scorers(vec!["exact_match".parse()?]);
/// config.set_fail_under("exact_match=0.5")?;
/// let summary = Evaluation::new(config)?.run(&Dataset::open(&data)?)?;
/// assert_eq!(summary.scorer("exact_match").unwrap().pass_rate(), Some(0.5));
/// assert!(summary.passed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Evaluation {
    run_id: String,
    config: SuiteConfig,
    /// The gate conditions, each naming a scorer of the run.
    conditions: Vec<criteria::Resolved>,
    scorers: Vec<Box<dyn Scorer>>,
    skip_invalid: bool,
    store: Option<Arc<LocalStore>>,
    destinations: Vec<Export>,
    junit: Option<PathBuf>,
    json: Option<PathBuf>,
    results: Option<PathBuf>,
    report: Option<PathBuf>,
    baseline: Option<String>,
    threads: Option<usize>,
    progress: Option<Box<dyn Fn(Progress) + Send + Sync>>,
    interrupt: Option<Interrupt>,
    predictor: Option<Arc<dyn Predictor>>,
    predict_calls: usize,
    predict_time_limit: std::time::Duration,
    reuse_outputs: Option<String>,
    remote: Option<Box<dyn RemoteScoring>>,
}

/// Calls of the system under test that run side by side unless
/// [`Evaluation::predict_calls`] says otherwise: as many as MLflow's
/// `genai.evaluate` makes by default.
pub const PREDICT_CALLS: usize = 10;

/// How long a call of the system under test may take unless
/// [`Evaluation::predict_time_limit`] says otherwise.
pub const PREDICT_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A request to stop a run early, set from a signal handler (or another
/// thread): the run stops reading, stores what it has scored, and is kept
/// as interrupted. Clones share the request.
#[derive(Clone, Debug, Default)]
pub struct Interrupt(Arc<std::sync::atomic::AtomicUsize>);

impl Interrupt {
    /// No stop asked for yet.
    pub fn new() -> Self {
        Interrupt::default()
    }

    /// Asks the run to stop because of `signal` (its number, such as 2
    /// for SIGINT).
    pub fn raise(&self, signal: i32) {
        self.0
            .store(signal.max(1) as usize, std::sync::atomic::Ordering::SeqCst);
    }

    /// The word a signal handler sets to the signal's number (as
    /// `signal_hook::flag::register_usize` does): raising, without a call.
    pub fn word(&self) -> Arc<std::sync::atomic::AtomicUsize> {
        Arc::clone(&self.0)
    }

    /// The signal that asked the run to stop, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.0.load(std::sync::atomic::Ordering::SeqCst) {
            0 => None,
            n => Some(i32::try_from(n).unwrap_or(i32::MAX)),
        }
    }
}

impl Evaluation {
    /// An evaluation with the built-in scorers (and the plugins of
    /// `VERDICT_PLUGIN_PATH` are not loaded: see
    /// [`Evaluation::with_registry`]).
    pub fn new(config: SuiteConfig) -> Result<Self> {
        Evaluation::with_registry(config, &Registry::with_builtins())
    }

    /// An evaluation whose scorers come from `registry` (built-in scorers
    /// and loaded plugins).
    pub fn with_registry(config: SuiteConfig, registry: &Registry) -> Result<Self> {
        let scorers = config.create_scorers(registry)?;
        let names: Vec<String> = scorers.iter().map(|s| s.info().name.clone()).collect();
        let conditions =
            criteria::resolve_all(&config.gates.conditions, &names).map_err(Error::Usage)?;
        Ok(Evaluation {
            run_id: format!("run-{:012x}", rand::random::<u64>() >> 16),
            config,
            conditions,
            scorers,
            skip_invalid: false,
            store: None,
            destinations: Vec::new(),
            junit: None,
            json: None,
            results: None,
            report: None,
            baseline: None,
            threads: None,
            progress: None,
            interrupt: None,
            predictor: None,
            predict_calls: PREDICT_CALLS,
            predict_time_limit: PREDICT_TIME_LIMIT,
            reuse_outputs: None,
            remote: None,
        })
    }

    /// Has the records scored by `remote` (on other machines) instead of
    /// here: the run reads the dataset, stores and reports exactly as it
    /// does when it scores, and takes each record's results from `remote`,
    /// which reads the same dataset. A failure of `remote` stops the run,
    /// which is then stored as stopped. Not with
    /// [`predict`](Self::predict), [`reuse_outputs`](Self::reuse_outputs)
    /// or scorers that read traces; a record that takes its expectations
    /// from the store (it names a stored trace and gives none) stops the
    /// run, `remote` having scored it without them.
    pub fn remote_scoring(mut self, remote: Box<dyn RemoteScoring>) -> Self {
        self.remote = Some(remote);
        self
    }

    /// Runs the system under test on each record: its outputs are what
    /// `predictor` answers for its inputs (outputs the dataset gives are
    /// replaced, and a dataset may give none), and the spans it returns
    /// are stored in the record's trace under the record's root span,
    /// which lasts the call. A call that fails, panics, crashes or runs
    /// out of time gives the record an error feedback from every scorer,
    /// with the [`PredictError`]'s code, and an error status on its root
    /// span; the run goes on. See the `predict_stage` module for what
    /// becomes of a call that runs out of time.
    pub fn predict(mut self, predictor: Arc<dyn Predictor>) -> Self {
        self.predictor = Some(predictor);
        self
    }

    /// Gives each record the outputs its match in the stored run `run`
    /// (an id, a unique prefix of one, or `latest`) answered, instead of
    /// calling the system under test again: records are matched as the
    /// baseline comparison matches them, and one the stored run lacks is an
    /// error feedback from every scorer (see the `reuse` module). Needs the
    /// store; not with [`predict`](Self::predict).
    pub fn reuse_outputs(mut self, run: impl Into<String>) -> Self {
        self.reuse_outputs = Some(run.into());
        self
    }

    /// Makes at most `at_once` calls of the system under test side by
    /// side (at least one; default [`PREDICT_CALLS`]).
    pub fn predict_calls(mut self, at_once: usize) -> Self {
        self.predict_calls = at_once.max(1);
        self
    }

    /// Gives each call of the system under test `limit` to answer
    /// (default [`PREDICT_TIME_LIMIT`]); a call that takes longer is
    /// recorded as [`PredictError::TimedOut`].
    pub fn predict_time_limit(mut self, limit: std::time::Duration) -> Self {
        self.predict_time_limit = limit;
        self
    }

    /// Records invalid records as errors and goes on, instead of stopping.
    pub fn skip_invalid(mut self, skip: bool) -> Self {
        self.skip_invalid = skip;
        self
    }

    /// Stores traces, assessments and the run in `store`.
    pub fn store(mut self, store: Arc<LocalStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Also sends spans and assessments to `destination`.
    pub fn export(mut self, destination: Destination) -> Self {
        self.destinations.push(Export::new(destination));
        self
    }

    /// Writes JUnit XML to `path` that fails exactly when the run does: a
    /// test case per gate, one for the run and for each export that did
    /// not deliver everything, and a passing test case per scorer that
    /// lists the records it judged false (see the `report` module's JUnit
    /// writer).
    pub fn junit(mut self, path: impl Into<PathBuf>) -> Self {
        self.junit = Some(path.into());
        self
    }

    /// Writes every result and the summary as JSON to `path`.
    pub fn json(mut self, path: impl Into<PathBuf>) -> Self {
        self.json = Some(path.into());
        self
    }

    /// Writes every record's results to `path` as Parquet, one row per
    /// record, in the shape of MLflow's evaluation results (see the
    /// `report` module's Parquet writer); `path` must end in `.parquet`,
    /// and the crate must have its `parquet` feature, or the run is
    /// refused before it starts.
    pub fn results(mut self, path: impl Into<PathBuf>) -> Self {
        self.results = Some(path.into());
        self
    }

    /// Writes a report to `path` when the run ends: Markdown, or HTML
    /// when the path ends in `.html`.
    pub fn report(mut self, path: impl Into<PathBuf>) -> Self {
        self.report = Some(path.into());
        self
    }

    /// The files the run reads and writes, checked before it writes any.
    fn outputs(&self, dataset: &Dataset) -> Outputs {
        let mut outputs = Outputs::new().dataset(dataset.path());
        if let Some(store) = &self.store {
            outputs = outputs.store(store.path());
        }
        for (what, path) in [
            ("the JUnit file", &self.junit),
            ("the JSON results", &self.json),
            ("the Parquet results", &self.results),
            ("the report", &self.report),
        ] {
            if let Some(path) = path {
                outputs = outputs.output(what, path);
            }
        }
        for Export { destination, .. } in &self.destinations {
            if let ExportTarget::Jsonl(path) = destination.target()
                && !destination.target().is_stdout()
            {
                outputs = outputs.output("the JSONL export", path);
            }
        }
        outputs
    }

    /// Compares against a stored run: its id, a unique prefix of it, or
    /// `latest`. Needs a store.
    pub fn baseline(mut self, run: impl Into<String>) -> Self {
        self.baseline = Some(run.into());
        self
    }

    /// Scores on `threads` threads (default: every core).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads.max(1));
        self
    }

    /// Calls `f` after each chunk of records.
    pub fn on_progress(mut self, f: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Stops the run when `interrupt` is raised: it stops reading, keeps
    /// what it has stored, and is stored as interrupted (the run returns
    /// [`Error::Interrupted`]).
    pub fn interrupt(mut self, interrupt: Interrupt) -> Self {
        self.interrupt = Some(interrupt);
        self
    }

    /// The id the run will be stored under.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The scorers, in order.
    pub fn scorers(&self) -> &[Box<dyn Scorer>] {
        &self.scorers
    }

    /// Runs the evaluation over `dataset`.
    ///
    /// An export destination that fails does not stop the run: the store,
    /// if any, keeps every record, and [`RunSummary::undelivered`] counts what
    /// each destination did not deliver.
    ///
    /// A run that stops on an error (an invalid record without
    /// [`skip_invalid`](Self::skip_invalid), a store failure)
    /// after it has stored records keeps them, and is stored as a run
    /// that stopped, with its [`error`](RunSummary::error) and the number
    /// of records it stored, so that `verdict runs` shows it and its data
    /// is attributable to it. Records of the chunk (4,096 records; the first, 512) that
    /// holds an invalid record are not stored, nor are those after it; a
    /// run stopped before it stored anything leaves no trace in the store.
    pub fn run(self, dataset: &Dataset) -> Result<RunSummary> {
        self.outputs(dataset).check()?;
        if let Some(path) = &self.results {
            crate::report::check_results_path(path)?;
        }
        let started = SystemTime::now();
        let clock = Instant::now();
        let mut rng = rand::rngs::StdRng::from_os_rng();
        let baseline = match (&self.baseline, &self.store) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(Error::Usage("--baseline needs the local store".into()));
            }
            (Some(spec), Some(store)) => Some(find_baseline(store, spec, dataset)?),
        };
        if let Some(run) = &baseline
            && !run.status.is_finished()
        {
            return Err(Error::Baseline(format!(
                "{} is {} ({}): only a run that reached its verdict is a baseline",
                run.run_id,
                run.status,
                run.reason.as_deref().unwrap_or("no reason recorded")
            )));
        }
        // Its pass rates, read now: a baseline whose summary cannot be
        // read back gives no rates to compare against, and the run says so
        // before scoring rather than comparing with nothing.
        let baseline_scorers: Option<Vec<ScorerStats>> = match &baseline {
            None => None,
            Some(run) => match RunSummary::of(run)? {
                Some(summary) => Some(summary.scorers),
                None => {
                    return Err(Error::Baseline(format!(
                        "{} reached its verdict but has no summary stored, so it has no pass \
                         rates to compare against",
                        run.run_id
                    )));
                }
            },
        };
        let Evaluation {
            run_id,
            config,
            conditions,
            scorers,
            skip_invalid,
            store,
            mut destinations,
            junit,
            json,
            results,
            report,
            progress,
            threads,
            interrupt,
            predictor,
            predict_calls,
            predict_time_limit,
            reuse_outputs,
            mut remote,
            ..
        } = self;
        if remote.is_some() {
            let refused = if predictor.is_some() {
                Some("calls the system under test")
            } else if reuse_outputs.is_some() {
                Some("reuses a stored run's outputs")
            } else if scorers.iter().any(|s| s.info().needs_trace) {
                Some("has a scorer that reads traces")
            } else {
                None
            };
            if let Some(why) = refused {
                return Err(Error::Usage(format!(
                    "a run scored on workers reads its records from the dataset alone; this run \
                     {why}: run it without workers"
                )));
            }
        }
        let mut answers = match (&reuse_outputs, &store, &predictor) {
            (None, _, _) => None,
            (Some(_), _, Some(_)) => {
                return Err(Error::Usage(
                    "outputs are either reused from a stored run or asked of the system under \
                     test, not both"
                        .into(),
                ));
            }
            (Some(_), None, None) => {
                return Err(Error::Usage("--reuse-outputs needs the local store".into()));
            }
            (Some(spec), Some(store), None) => {
                let run = find_run(store, spec)?;
                Some(StoredAnswers::load(store, &run.run_id)?)
            }
        };
        let stage = predictor.map(|predictor| Stage {
            predictor,
            at_once: predict_calls,
            limit: predict_time_limit,
        });
        let names: Vec<String> = scorers.iter().map(|s| s.info().name.clone()).collect();
        let dataset_name = dataset.path().display().to_string();
        // What an MLflow destination's run is made with, while the scorers
        // are at hand.
        let mlflow_plan = RunPlan::new(
            &run_id,
            &dataset_name,
            dataset_key(dataset.path())
                .as_deref()
                .map(std::path::Path::new),
            &config,
            &scorers,
            baseline.as_ref().map(|b| b.run_id.as_str()),
        );
        let run_scorers: Vec<RunScorer> = scorers
            .iter()
            .map(|s| RunScorer {
                name: s.info().name.clone(),
                source: feedback_source(s.info()),
                metadata: feedback_metadata(s.info()),
            })
            .collect();
        // Records bring their trace (their spans) only when a scorer
        // reads traces.
        let needs_trace = scorers.iter().any(|s| s.info().needs_trace);
        let mut runner = Runner::new(scorers);
        if let Some(threads) = threads {
            runner = runner.threads(threads);
        }
        let mut stats: Vec<StatsBuilder> = config
            .scorers
            .iter()
            .zip(&names)
            .map(|(setup, name)| StatsBuilder::new(name, setup.pass.clone(), setup.weight))
            .collect();
        let paths = StreamPaths {
            junit: junit.as_deref(),
            json: json.as_deref(),
            results: results.as_deref(),
        };
        let mut streams = open_streams(paths, &names, store.as_ref().map(|s| s.path()), &run_id)?;
        let mut unfinished = Unfinished::new(&streams);
        let report = report.as_deref().map(OutputFile::create).transpose()?;
        if let Some(report) = &report {
            unfinished.push(report.path());
        }
        // The high half of the run's trace and assessment ids: random, so
        // that they are unique across runs; the low half counts records
        // (see `verdict_export::runs::pack`), so that indexes grow at one
        // end.
        let ids = rng.random::<u64>().max(1);
        let scope = ("verdict-eval", Some(env!("CARGO_PKG_VERSION")));
        // A run is never written into a damaged store without a word.
        if let Some(store) = &store {
            store.check_integrity()?;
        }
        // Everything that can fail before the run is in the store: the
        // baseline's records (to tell which records newly fail or newly
        // pass), the dataset opened.
        let mut comparer = match (&store, &baseline) {
            (Some(store), Some(run)) => {
                let criteria: Vec<_> = config.scorers.iter().map(|s| s.pass.clone()).collect();
                Some(Comparer::load(store, &run.run_id, &names, &criteria)?)
            }
            _ => None,
        };
        let total_bytes = dataset.len_bytes();
        let (chunk_tx, chunk_rx) =
            bounded::<Result<(Vec<Entry>, Option<u64>)>>(2 * CHUNK / READ_BATCH);
        // The records read and not yet handed on. They are handed on in
        // batches, and also whenever the reader is about to read more from
        // the dataset's file or pipe: a pipe may keep that read waiting,
        // and what was read before it must reach the scoring (and, if the
        // run is interrupted meanwhile, the store).
        // Once interrupted, the reader stops before its next read: what
        // it had read is handed on (and taken by `Chunks::settle`), and
        // nothing read after the signal joins the run.
        let pending: Arc<Mutex<Vec<Entry>>> = Arc::default();
        let halted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let before_read: Box<dyn FnMut() + Send> = {
            let (pending, to) = (Arc::clone(&pending), chunk_tx.clone());
            let (halted, interrupt) = (Arc::clone(&halted), interrupt.clone());
            Box::new(move || {
                let stop = interrupt.as_ref().is_some_and(|i| i.signal().is_some());
                let batch = std::mem::take(&mut *lock(&pending));
                if !batch.is_empty() {
                    let _ = to.send(Ok((batch, None)));
                }
                if stop {
                    halted.store(true, std::sync::atomic::Ordering::Release);
                }
            })
        };
        let mut entries = dataset.entries_watched(Some(before_read))?;
        if stage.is_some() || answers.is_some() {
            entries = entries.outputs_optional();
        }
        let dataset_key = dataset_key(dataset.path());
        let key: Option<RunKey> = match &store {
            Some(store) => Some(store.begin_run(&NewRun {
                run_id: &run_id,
                ids,
                dataset: &dataset_name,
                started,
                scorers: &run_scorers,
                scope,
                dataset_key: dataset_key.as_deref(),
                baseline: baseline.as_ref().map(|b| b.run_id.as_str()),
            })?),
            None => None,
        };
        for destination in &mut destinations {
            destination.begin_run(&mlflow_plan, started, ids);
        }
        let context = Context {
            run_id: run_id.clone(),
            ids,
            scope: InstrumentationScope::builder(scope.0)
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
            to_store: store.is_some(),
            to_destinations: !destinations.is_empty(),
        };
        let (write_tx, write_rx) = bounded::<Shipment>(2);
        let mut records_done = 0u64;
        let mut invalid: Vec<InvalidRecord> = Vec::new();
        let mut invalid_count = 0u64;
        // Records the writer has stored, for a run that stops.
        let stored = std::sync::atomic::AtomicU64::new(0);
        // Chunks the writer has stored: what the store shows of this run.
        let chunks_stored = std::sync::atomic::AtomicU64::new(0);
        let mut logged = Logged::default();
        let mut chunk_index = 0u64;
        let mut judged: Vec<Option<bool>> = Vec::new();
        let interrupt = interrupt.as_ref();

        let outcome: Result<Vec<DeliveryFailure>> = std::thread::scope(|scope| {
            // Reads ahead while a chunk is scored, in batches. A thread of
            // its own, not joined: a read blocked on a pipe that gives
            // nothing more must not keep an interrupted run from ending.
            std::thread::spawn(move || {
                let flush = |pending: &Mutex<Vec<Entry>>, bytes| {
                    let batch = std::mem::take(&mut *lock(pending));
                    batch.is_empty() || chunk_tx.send(Ok((batch, bytes))).is_ok()
                };
                loop {
                    match entries.next() {
                        // Made of bytes read after an interruption: not
                        // read before it, so not the run's.
                        Some(Ok(_)) if halted.load(std::sync::atomic::Ordering::Acquire) => {
                            return;
                        }
                        Some(Ok(entry)) => {
                            let full = {
                                let mut batch = lock(&pending);
                                batch.push(entry);
                                batch.len() >= READ_BATCH
                            };
                            if full && !flush(&pending, Some(entries.bytes_read())) {
                                return;
                            }
                        }
                        Some(Err(e)) => {
                            if flush(&pending, Some(entries.bytes_read())) {
                                let _ = chunk_tx.send(Err(e));
                            }
                            return;
                        }
                        None => {
                            flush(&pending, Some(entries.bytes_read()));
                            return;
                        }
                    }
                }
            });
            // Says the run is alive while it runs, for readers who cannot
            // see this process (another container sharing the store).
            let (beat_stop, beat_wait) = bounded::<()>(0);
            if let (Some(store), Some(key)) = (&store, key) {
                scope.spawn(move || {
                    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                        beat_wait.recv_timeout(verdict_export::runs::HEARTBEAT_EVERY)
                    {
                        let _ = store.heartbeat(key);
                    }
                });
            }
            // Frees what the writer has written: hundreds of thousands of
            // strings made on the build threads, which the writer, the
            // bound, no longer spends its time on.
            let (spent_tx, spent_rx) = bounded::<Shipment>(2);
            // Nothing waits for it: it gives way to the writer too.
            scope.spawn(move || {
                crate::priority::give_way();
                spent_rx.iter().for_each(drop);
            });
            // Writes each chunk while the next one is scored. The store
            // first: it keeps every record, whatever a destination does. A
            // destination that fails does not stop the run; what it did not
            // deliver is counted (see `Tally`).
            let writer = scope.spawn(|| -> Result<Vec<DeliveryFailure>> {
                // Owned, so that the freeing thread ends with this one.
                let spent_tx = spent_tx;
                let mut first_error = None;
                let mut tallies: Vec<Tally<'_>> = destinations
                    .iter()
                    .map(|e| Tally::new(&e.destination))
                    .collect();
                let mut stored_so_far = 0u64;
                for shipment in write_rx {
                    if first_error.is_some() {
                        continue;
                    }
                    let shipment = Spent(shipment, &spent_tx);
                    if let (Some(store), Some(key)) = (&store, key) {
                        let records = stored_so_far + shipment.records;
                        if let Err(e) = store.write_run(
                            key,
                            &shipment.blocks,
                            &shipment.batch,
                            records,
                            shipment.invalid,
                        ) {
                            first_error = Some(Error::Store(e));
                            continue;
                        }
                        stored_so_far = records;
                        stored.store(records, std::sync::atomic::Ordering::Relaxed);
                        chunks_stored.fetch_add(1, std::sync::atomic::Ordering::Release);
                    }
                    for tally in &mut tallies {
                        tally.send(&shipment.spans, &shipment.stand_ins, &shipment.operations);
                    }
                }
                if let Some(e) = first_error {
                    return Err(e);
                }
                Ok(tallies.into_iter().filter_map(Tally::finish).collect())
            });

            // Scoring runs on a thread of its own that gives way to the
            // writer, and so do the threads it starts (see `priority`).
            // It owns both ends, so that the reader and the writer stop
            // when it does.
            let scoring = scope.spawn(|| -> Result<()> {
                let write_tx = write_tx;
                crate::priority::give_way();
                let mut chunks = Chunks::new(chunk_rx, interrupt);
                while let Some((chunk, bytes)) = chunks.next_chunk() {
                    let mut meta = Vec::with_capacity(chunk.len());
                    let mut records = Vec::with_capacity(chunk.len());
                    for entry in chunk {
                        match entry {
                            Entry::Record(mut r) => {
                                if needs_trace && r.record.trace.is_none() && !r.spans.is_empty() {
                                    r.record.trace =
                                        Some(Arc::new(crate::dataset::owned_trace(&r.spans)));
                                }
                                meta.push(Meta {
                                    line: r.line,
                                    trace_id: r.trace_id,
                                    span_id: r.span_id,
                                    spans: r.spans,
                                    ..Meta::default()
                                });
                                records.push(r.record);
                            }
                            Entry::Invalid(bad) => {
                                if !skip_invalid {
                                    return Err(Error::InvalidRecord {
                                        path: dataset.path().to_path_buf(),
                                        invalid: bad,
                                    });
                                }
                                for s in &mut stats {
                                    s.add_invalid(bad.line, &bad.reason);
                                }
                                for stream in &mut streams {
                                    stream.invalid(&bad, &names).map_err(|e| stream.error(e))?;
                                }
                                invalid_count += 1;
                                if invalid.len() < INVALID_LISTED {
                                    invalid.push(bad);
                                }
                            }
                        }
                    }
                    // Which records give no expectations, for a remote
                    // scoring that cannot see those the store adds.
                    let without: Option<Vec<bool>> = remote
                        .is_some()
                        .then(|| records.iter().map(|r| r.expectations.is_empty()).collect());
                    if let Some(store) = &store {
                        // Read before the store: a chunk counted here is
                        // in what the store then shows.
                        let in_store = chunks_stored.load(std::sync::atomic::Ordering::Acquire);
                        logged.forget_stored(in_store);
                        expectations_from_store(
                            store,
                            &mut meta,
                            &mut records,
                            &mut logged,
                            chunk_index,
                        )?;
                    }
                    // Ids first, so that statistics and rows name the trace:
                    // a record that names no trace gets the run's own,
                    // derived from its ordinal.
                    for (i, m) in meta.iter_mut().enumerate() {
                        if m.trace_id.is_none() {
                            let trace = pack::trace_id(ids, records_done + i as u64);
                            m.trace_id = Some(trace);
                            m.span_id = Some(pack::root_span_id(trace));
                            m.new_span = true;
                        }
                    }
                    if let Some(answers) = &mut answers {
                        for (m, record) in meta.iter_mut().zip(records.iter_mut()) {
                            let trace_id = m.trace_id.unwrap_or(TraceId::INVALID);
                            let named = (!m.new_span).then_some((trace_id, m.span_id));
                            match answers.answer(named, &record.inputs) {
                                Ok(outputs) => record.outputs = outputs,
                                Err(error) => {
                                    record.outputs = OwnedValue::Null;
                                    m.failed = Some(error);
                                }
                            }
                        }
                    }
                    if let Some(stage) = &stage {
                        predict(
                            stage,
                            &context,
                            needs_trace,
                            &mut meta,
                            &mut records,
                            interrupt,
                        );
                        if records.is_empty() {
                            // Interrupted before any answer: the next
                            // chunk sees the interrupt and ends the run.
                            continue;
                        }
                    }
                    let failed = Failed::of(meta.iter().map(|m| m.failed.as_ref()));
                    let scoring = (SystemTime::now(), Instant::now());
                    let scores = match &mut remote {
                        None => runner.score(&records),
                        Some(remote) => {
                            let lines: Vec<usize> = meta.iter().map(|m| m.line).collect();
                            let without = without.as_deref().unwrap_or_default();
                            if let Some(i) = (0..records.len()).find(|&i| {
                                without.get(i) == Some(&true) && !records[i].expectations.is_empty()
                            }) {
                                return Err(Error::Remote(format!(
                                    "the record at line {} takes its expectations from the \
                                     store's trace, which the workers do not read: run it \
                                     without workers",
                                    lines[i]
                                )));
                            }
                            let columns = remote.score(&lines).map_err(Error::Remote)?;
                            if columns.len() != names.len()
                                || columns.iter().any(|c| c.len() != records.len())
                            {
                                return Err(Error::Remote(format!(
                                    "the workers gave {} columns of results for {} scorers and \
                                     {} records",
                                    columns.len(),
                                    names.len(),
                                    records.len()
                                )));
                            }
                            Scores::from_columns(records.len(), columns)
                        }
                    };
                    let scores = ChunkScores::new(&scores, &failed);
                    let timing = ScoringTime {
                        start: scoring.0,
                        per_record: scoring.1.elapsed() / records.len().max(1) as u32,
                    };
                    // Each result gets an even share of its record's.
                    let share = timing.per_record.as_secs_f64() / names.len().max(1) as f64;
                    summarize(
                        &scores,
                        &meta,
                        &records,
                        &names,
                        Tallies {
                            stats: &mut stats,
                            streams: &mut streams,
                            comparer: &mut comparer,
                            judged: &mut judged,
                        },
                        share,
                    )?;
                    let chunk = Chunk {
                        scorers: runner.scorers(),
                        scores: &scores,
                        judged: &judged,
                        meta: &meta,
                        records: &records,
                        first: records_done,
                        timing,
                    };
                    let mut shipment = build(&context, &chunk)?;
                    shipment.records = records.len() as u64;
                    shipment.invalid = invalid_count;
                    records_done += records.len() as u64;
                    chunk_index += 1;
                    if write_tx.send(shipment).is_err() {
                        break;
                    }
                    if let Some(progress) = &progress {
                        progress(Progress {
                            records: records_done,
                            bytes,
                            total_bytes,
                        });
                    }
                }
                // What stopped the reading, once all it read is scored: an
                // error of the dataset, or an interruption.
                chunks.end()
            });
            let scored = scoring
                .join()
                .unwrap_or_else(|_| Err(Error::Usage("the scoring thread panicked".into())));
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(Error::Usage("the writer thread panicked".into())));
            drop(beat_stop);
            scored.and(written)
        });
        let undelivered = match outcome {
            Ok(undelivered) => {
                // A destination that took everything has the run: `verdict
                // push` need not send it again. Best effort: one that is
                // not recorded is only sent again.
                if let Some(store) = &store {
                    for Export { destination, .. } in &destinations {
                        let name = destination.target().to_string();
                        if let Some(key) = destination.key()
                            && !undelivered
                                .iter()
                                .any(|u: &DeliveryFailure| u.destination == name)
                        {
                            let _ = store.settle_run(&key, &run_id);
                        }
                    }
                }
                undelivered
            }
            Err(error) => {
                // A JUnit file says the run stopped (an error test case):
                // CI shows red with the reason, never stale results.
                let message = error.to_string();
                unfinished.stopped(
                    streams,
                    &Stopped {
                        run_id: &run_id,
                        dataset: &dataset_name,
                        seconds: clock.elapsed().as_secs_f64(),
                        error: &message,
                    },
                );
                let stored = stored.into_inner();
                // Best effort too: the run has failed already.
                end_mlflow_runs(&destinations, &error);
                if let (Some(store), Some(key)) = (&store, key) {
                    // Best effort: the run's own error is the one to report
                    // (a store that failed may refuse this too).
                    let _ = record_stop(
                        store,
                        key,
                        &error,
                        RunSummary {
                            error: Some(error.to_string()),
                            ..RunSummary::before_scoring(
                                run_id.clone(),
                                dataset_name,
                                started,
                                clock.elapsed().as_secs_f64(),
                                stored,
                                (invalid_count, invalid),
                                baseline.map(|b| b.run_id),
                            )
                        },
                    );
                }
                return Err(error);
            }
        };

        let stats: Vec<ScorerStats> = stats.into_iter().map(StatsBuilder::finish).collect();
        let weights: Vec<f64> = config.scorers.iter().map(|s| s.weight).collect();
        let fail_under: Vec<Option<f64>> = config.scorers.iter().map(|s| s.fail_under).collect();
        let baseline_rates: Option<(String, Vec<ScorerRate>)> = baseline.as_ref().map(|run| {
            let rates = baseline_scorers
                .iter()
                .flatten()
                .map(|st| (st.name.clone(), st.pass_rate()))
                .collect();
            // Named with its dataset when that is another one, and said to
            // have failed when it did (only an id names such a baseline).
            let mut label = run.run_id.clone();
            if !same_dataset(run, dataset.path()) {
                label.push_str(&format!(" (of {})", run.dataset));
            }
            if !run.passed() {
                label.push_str(" (which failed its own gates)");
            }
            (label, rates)
        });
        let verdicts = gates::check(
            &stats,
            &weights,
            &fail_under,
            &conditions,
            config.gates.weighted_pass_rate,
            baseline_rates.as_ref().map(|(id, rates)| {
                (
                    id.as_str(),
                    rates.as_slice(),
                    config.gates.baseline_tolerance,
                )
            }),
        );
        let mut summary = RunSummary {
            weighted_pass_rate: gates::weighted_pass_rate(&stats, &weights),
            scorers: stats,
            passed: verdicts.iter().all(|g| g.passed),
            gates: verdicts,
            undelivered,
            ..RunSummary::before_scoring(
                run_id,
                dataset_name,
                started,
                clock.elapsed().as_secs_f64(),
                records_done,
                (invalid_count, invalid),
                baseline.map(|b| b.run_id),
            )
        };
        // An MLflow run gets its metrics and ends now, so that a failure
        // to end it is in the result files too.
        for destination in &destinations {
            let status = if summary.passed { "passed" } else { "failed" };
            if let Some(problem) =
                destination.end_run(Some(&summary), RunEnd::Finished, status, None)
            {
                note_undelivered(&mut summary.undelivered, &destination.destination, problem);
            }
        }
        // From here the run is in the store: whatever fails is recorded
        // as its stop, never left as a run that looks killed (nor does its
        // MLflow run look finished).
        let stop = |error: Error, summary: RunSummary| {
            end_mlflow_runs(&destinations, &error);
            if let (Some(store), Some(key)) = (&store, key) {
                let _ = record_stop(store, key, &error, summary);
            }
            Err(error)
        };
        if let (Some(comparer), Some(store)) = (comparer, &store) {
            match comparer.finish(store) {
                Ok(comparison) => summary.comparison = Some(comparison),
                Err(error) => return stop(error, summary),
            }
        }
        // The result files before the run is stored: a run whose results
        // could not be written did not reach its verdict, and is stored
        // as stopped, never as passed (and its files are removed).
        let written = streams
            .into_iter()
            .try_for_each(|stream| stream.finish(&summary))
            .and_then(|()| report.map_or(Ok(()), |out| write_report_to(out, &summary)));
        if let Err(error) = written {
            return stop(error, summary);
        }
        if let (Some(store), Some(key)) = (&store, key) {
            let json = match serde_json::to_value(&summary) {
                Ok(json) => json,
                Err(e) => {
                    let error = Error::Summary {
                        run_id: summary.run_id.clone(),
                        reason: format!("cannot be stored as JSON: {e}"),
                    };
                    return stop(error, summary);
                }
            };
            store.finish_run(
                key,
                if summary.passed {
                    RunStatus::Passed
                } else {
                    RunStatus::Failed
                },
                Some(&json),
                None,
                summary.invalid,
            )?;
        }
        unfinished.done();
        Ok(summary)
    }
}

/// Ends the MLflow runs of a run that stopped before its verdict, or whose
/// results could not be written after it: `KILLED` when a signal stopped
/// it, `FAILED` otherwise, with why. Best effort: the run's own error is
/// the one reported.
fn end_mlflow_runs(destinations: &[Export], error: &Error) {
    let (end, status) = match error {
        Error::Interrupted { .. } => (RunEnd::Killed, "interrupted"),
        _ => (RunEnd::Failed, "stopped"),
    };
    let reason = error.to_string();
    for destination in destinations {
        let _ = destination.end_run(None, end, status, Some(&reason));
    }
}

/// Adds what `destination` did not do to the run's delivery failures.
fn note_undelivered(
    failures: &mut Vec<DeliveryFailure>,
    destination: &Destination,
    problem: String,
) {
    let name = destination.target().to_string();
    let at = match failures.iter().position(|f| f.destination == name) {
        Some(at) => at,
        None => {
            failures.push(DeliveryFailure {
                destination: name,
                ..DeliveryFailure::default()
            });
            failures.len() - 1
        }
    };
    failures[at].errors.push(problem);
}

/// Records in the store how a run ended before its verdict: interrupted
/// by a signal, or stopped on an error, with what it had stored. A run
/// that stored no record leaves nothing behind.
fn record_stop(
    store: &LocalStore,
    key: RunKey,
    error: &Error,
    summary: RunSummary,
) -> verdict_store::Result<()> {
    if summary.records == 0 {
        return store.discard_run(key);
    }
    let status = match error {
        Error::Interrupted { .. } => RunStatus::Interrupted,
        _ => RunStatus::Stopped,
    };
    let reason = error.to_string();
    // No statistics or gates: it never reached its verdict.
    let summary = RunSummary {
        scorers: Vec::new(),
        weighted_pass_rate: None,
        gates: Vec::new(),
        passed: false,
        error: Some(reason.clone()),
        ..summary
    };
    let json = serde_json::to_value(&summary).ok();
    store.finish_run(key, status, json.as_ref(), Some(&reason), summary.invalid)
}

/// The run a new run of `dataset` is compared against: a run by id or
/// unique id prefix (of any dataset), or `latest` — the latest run of the
/// same dataset file that passed its gates, since another suite's pass
/// rates say nothing about this one's, and a run that failed (or stopped)
/// is no standard: were it one, a regression would pass by being run
/// twice.
pub fn find_baseline(store: &LocalStore, spec: &str, dataset: &Dataset) -> Result<StoredRun> {
    if spec.trim() != "latest" {
        return find_run(store, spec);
    }
    if dataset_key(dataset.path()).is_none() {
        return Err(Error::Baseline(format!(
            "--baseline latest: {} is not a file (a pipe, standard input), so no earlier run can \
             be told to be of the same data; give the baseline run's id (`verdict runs` lists \
             them)",
            dataset.path().display()
        )));
    }
    let runs = store.runs()?;
    let mut of_dataset = runs.iter().filter(|r| same_dataset(r, dataset.path()));
    if let Some(run) = of_dataset.clone().find(|r| r.passed()) {
        return Ok(run.clone());
    }
    Err(Error::Baseline(format!(
        "--baseline latest: the store {} holds no run of {} that passed its gates{}",
        store.path().display(),
        dataset.path().display(),
        match (of_dataset.next(), runs.first()) {
            (Some(r), _) => format!(
                " (the latest, {}, {}: give its id to compare against it all the same)",
                r.run_id,
                match r.status {
                    RunStatus::Failed => "failed its gates",
                    RunStatus::Running => "is still running",
                    RunStatus::Interrupted => "was interrupted",
                    _ => "stopped",
                }
            ),
            (None, Some(r)) => format!(
                " (the latest run, {}, is of {}: give its id to compare against it)",
                r.run_id, r.dataset
            ),
            (None, None) => String::new(),
        }
    )))
}

/// What tells a dataset file from any other, whatever it is called: its
/// absolute path, when it is a regular file (a pipe has none: runs of
/// standard input are not matched by `--baseline latest`).
fn dataset_key(path: &std::path::Path) -> Option<String> {
    path.canonicalize()
        .ok()
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string())
}

/// Whether a stored run evaluated the dataset file at `path`: the same
/// file, resolved, not merely the same name (two projects' `qa.jsonl`
/// share a store), and never a pipe.
fn same_dataset(run: &StoredRun, path: &std::path::Path) -> bool {
    run.dataset_key.is_some() && run.dataset_key == dataset_key(path)
}

/// Finds a stored run by id, unique id prefix, or `latest` (the latest run
/// of any dataset).
pub fn find_run(store: &LocalStore, spec: &str) -> Result<StoredRun> {
    if spec.trim().is_empty() {
        return Err(Error::Baseline(
            "an empty run id names no run: give a run id (or a unique prefix of one) from \
             `verdict runs`, or latest"
                .into(),
        ));
    }
    if let Some(run) = store.run(spec)? {
        return Ok(run);
    }
    let runs = store.runs()?;
    if spec == "latest" {
        return runs.into_iter().next().ok_or_else(|| {
            Error::Baseline(format!(
                "--baseline latest: the store {} holds no run yet",
                store.path().display()
            ))
        });
    }
    let matching: Vec<&StoredRun> = runs.iter().filter(|r| r.run_id.starts_with(spec)).collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::Baseline(format!(
            "no run {spec:?} in the store {}; `verdict runs` lists them{}",
            store.path().display(),
            match runs.first() {
                Some(r) => format!(" (the latest is {})", r.run_id),
                None => " (it holds none yet)".into(),
            }
        ))),
        many => Err(Error::Baseline(format!(
            "{spec:?} names {} runs ({}); give more of the id",
            many.len(),
            many.iter()
                .map(|r| r.run_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A scorer's name and pass rate in a baseline run.
type ScorerRate = (String, Option<f64>);

/// Per record: where it came from and which trace it is.
#[derive(Default)]
struct Meta {
    line: usize,
    trace_id: Option<TraceId>,
    span_id: Option<SpanId>,
    /// Its expectations the store already holds on its trace (indexes
    /// into the record's expectations, in increasing order), which are not
    /// logged again.
    stored: Vec<usize>,
    /// Whether the run makes the record's root span.
    new_span: bool,
    /// The spans of its trace that the dataset holds, and those the
    /// system under test returned, stored with it.
    spans: Vec<StoredSpan>,
    /// When the system under test was called for it, from start to end:
    /// its root span's time.
    called: Option<(SystemTime, SystemTime)>,
    /// Why the system under test gave it no outputs.
    failed: Option<PredictError>,
}

/// The reader's batches gathered into chunks to score: the first of
/// [`FIRST_CHUNK`] records, then [`CHUNK`]. While it waits for the reader it
/// watches the interrupt, so that a run whose dataset stalls still stops;
/// what it has gathered by then is scored, stored, and counted.
struct Chunks<'a> {
    from: crossbeam_channel::Receiver<Result<(Vec<Entry>, Option<u64>)>>,
    interrupt: Option<&'a Interrupt>,
    size: usize,
    bytes: u64,
    /// Records read past the last chunk.
    carry: Vec<Entry>,
    /// Why it stopped before the end of the dataset.
    stop: Option<Error>,
    ended: bool,
    /// Whether what the reader had in hand at the interruption was taken.
    settled: bool,
}

impl<'a> Chunks<'a> {
    fn new(
        from: crossbeam_channel::Receiver<Result<(Vec<Entry>, Option<u64>)>>,
        interrupt: Option<&'a Interrupt>,
    ) -> Self {
        Chunks {
            from,
            interrupt,
            size: FIRST_CHUNK,
            bytes: 0,
            carry: Vec::new(),
            stop: None,
            ended: false,
            settled: false,
        }
    }

    fn interrupted(&self) -> Option<Error> {
        self.interrupt
            .and_then(Interrupt::signal)
            .map(|signal| Error::Interrupted { signal })
    }

    /// The next chunk and the bytes read so far; `None` once the dataset
    /// is read or reading stopped (see [`end`](Self::end)).
    fn next_chunk(&mut self) -> Option<(Vec<Entry>, u64)> {
        if self.ended {
            return None;
        }
        let mut chunk = std::mem::take(&mut self.carry);
        chunk.reserve(self.size.saturating_sub(chunk.len()));
        while chunk.len() < self.size {
            if let Some(stop) = self.interrupted() {
                self.stop = Some(stop);
                self.settle(&mut chunk);
                break;
            }
            match self.from.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(Ok((batch, bytes))) => {
                    chunk.extend(batch);
                    self.bytes = bytes.unwrap_or(self.bytes);
                }
                Ok(Err(e)) => {
                    self.stop = Some(e);
                    break;
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        }
        if chunk.len() > self.size {
            // Batches come whole: what is past the chunk's size is the
            // start of the next one, so that chunks stay the sizes the
            // documentation gives.
            self.carry = chunk.split_off(self.size);
        } else if chunk.len() < self.size {
            self.ended = self.carry.is_empty();
        }
        self.size = CHUNK;
        (!chunk.is_empty()).then_some((chunk, self.bytes))
    }

    /// Takes, once the run is interrupted, what the reader had read by
    /// then and not yet handed on: a pipe's bytes it had taken but was
    /// still making records of when the signal came. The reader stops
    /// before its next read; its last batches are taken until it ends, or
    /// none comes for [`SETTLE_QUIET`] (it waits on a pipe, having handed
    /// on what it read), for at most [`SETTLE_MAX`] in all, once.
    fn settle(&mut self, chunk: &mut Vec<Entry>) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        let until = std::time::Instant::now() + SETTLE_MAX;
        while let Some(wait) = until
            .checked_duration_since(std::time::Instant::now())
            .map(|left| left.min(SETTLE_QUIET))
        {
            match self.from.recv_timeout(wait) {
                Ok(Ok((batch, bytes))) => {
                    chunk.extend(batch);
                    self.bytes = bytes.unwrap_or(self.bytes);
                }
                Ok(Err(_)) | Err(_) => break,
            }
        }
    }

    /// Why reading stopped early, if it did; an interruption that came once
    /// everything was read still counts: the run was asked to stop before
    /// its verdict.
    fn end(self) -> Result<()> {
        let interrupted = self.interrupted();
        match self.stop.or(interrupted) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A lock that a panic elsewhere does not poison for good.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A shipment the writer is done with once dropped: it goes to the
/// thread that frees it (or is freed here if that thread is gone).
struct Spent<'a>(Shipment, &'a crossbeam_channel::Sender<Shipment>);

impl std::ops::Deref for Spent<'_> {
    type Target = Shipment;
    fn deref(&self) -> &Shipment {
        &self.0
    }
}

impl Drop for Spent<'_> {
    fn drop(&mut self) {
        let _ = self.1.send(std::mem::take(&mut self.0));
    }
}

/// What the writer thread writes for one chunk.
#[derive(Default)]
struct Shipment {
    /// The chunk's records, packed for the store.
    blocks: Vec<RunBlock>,
    /// The spans its records brought (an OTLP file's), for the store.
    batch: Batch,
    /// Spans and assessments for the destinations.
    spans: Vec<StoredSpan>,
    operations: Vec<Operation>,
    /// Root spans standing in for the traces that records name without
    /// bringing their spans: a destination that lacks such a trace is
    /// given it (see `Destination::send_standing_in`).
    stand_ins: Vec<StoredSpan>,
    /// Records it holds (set once the chunk is built).
    records: u64,
    /// Invalid records of the run so far.
    invalid: u64,
}

struct Context {
    run_id: String,
    /// The high half of the run's trace and assessment ids (see
    /// `verdict_export::runs::pack`).
    ids: u64,
    scope: InstrumentationScope,
    to_store: bool,
    to_destinations: bool,
}

/// Expectations this run has logged on traces its records name, per chunk,
/// kept until the writer has stored the chunk: a later chunk is read while
/// earlier ones are still being written, so the store alone would not show
/// them yet. Memory stays bounded by the chunks in flight.
#[derive(Default)]
struct Logged {
    /// (chunk index, each trace's expectations in the order logged).
    chunks: std::collections::VecDeque<(u64, ByTrace)>,
}

/// Expectations (name, value) per trace, in the order logged.
type ByTrace = std::collections::HashMap<TraceId, Vec<(String, Value)>>;

impl Logged {
    /// Forgets the chunks the store holds: the first `stored` ones.
    fn forget_stored(&mut self, stored: u64) {
        while self
            .chunks
            .front()
            .is_some_and(|(index, _)| *index < stored)
        {
            self.chunks.pop_front();
        }
    }

    /// What the run logged on `trace_id` in chunks not yet stored, oldest
    /// first.
    fn of(&self, trace_id: TraceId) -> impl Iterator<Item = &(String, Value)> {
        self.chunks
            .iter()
            .filter_map(move |(_, by_trace)| by_trace.get(&trace_id))
            .flatten()
    }
}

/// A record that names a trace takes the trace's valid expectations from
/// the store (and from this run's earlier records, stored or not yet) when
/// it brings none, and does not log again those it brings that the trace
/// already holds (same name and value), so that neither running a dataset
/// again nor a trace named by many records of one run piles up copies of
/// its expectations.
///
/// An expectation is ground truth about the trace: the same name and value
/// on the same trace is the same fact, whoever logged it (the run's
/// expectations are HUMAN `default`; one a reviewer logged with `verdict
/// expectation` counts as the same), so it is kept once. A different value
/// is a new fact: it is logged, and the older one stays valid, as MLflow
/// keeps both; a record judged from the store takes the latest of each name.
fn expectations_from_store(
    store: &LocalStore,
    meta: &mut [Meta],
    records: &mut [OwnedRecord],
    logged: &mut Logged,
    chunk: u64,
) -> Result<()> {
    let mut this_chunk = ByTrace::new();
    for (m, record) in meta.iter_mut().zip(records) {
        let Some(trace_id) = m.trace_id else { continue };
        // The trace's expectations in the order logged: the store's, then
        // this run's not yet stored (earlier chunks, then this one).
        let mut known: Vec<(String, Value)> = store
            .list_by_trace(trace_id)?
            .into_iter()
            .filter(|a| a.kind() == Kind::Expectation && a.is_valid())
            .map(|a| {
                let value = a.expectation_value().cloned().unwrap_or(Value::Null);
                (a.name().as_str().to_owned(), value)
            })
            .collect();
        known.extend(logged.of(trace_id).cloned());
        known.extend(this_chunk.get(&trace_id).into_iter().flatten().cloned());
        if record.expectations.is_empty() {
            // A changed expectation is logged beside the old one, which
            // stays valid: the record is judged against the latest value
            // of each name.
            let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
            for (name, value) in known {
                match at.get(&name) {
                    Some(&i) => record.expectations[i].1 = OwnedValue::from(value),
                    None => {
                        at.insert(name.clone(), record.expectations.len());
                        record.expectations.push((name, OwnedValue::from(value)));
                    }
                }
            }
            m.stored = (0..record.expectations.len()).collect();
        } else {
            m.stored.clear();
            // (name, value as JSON text): one lookup per expectation, not a
            // scan of all the trace holds.
            let held: std::collections::HashSet<(String, String)> =
                known.into_iter().map(|(n, v)| (n, v.to_string())).collect();
            for (i, (name, value)) in record.expectations.iter().enumerate() {
                let value = json_value(value);
                if held.contains(&(name.clone(), value.to_string())) {
                    m.stored.push(i);
                } else {
                    this_chunk
                        .entry(trace_id)
                        .or_default()
                        .push((name.clone(), value));
                }
            }
        }
    }
    if !this_chunk.is_empty() {
        logged.chunks.push_back((chunk, this_chunk));
    }
    Ok(())
}

/// Where a chunk's results are counted: the statistics, the result files,
/// the comparison with the baseline.
struct Tallies<'a> {
    stats: &'a mut [StatsBuilder],
    streams: &'a mut [Box<dyn ResultStream>],
    comparer: &'a mut Option<Comparer>,
    /// Each record's verdict by each scorer's criterion, record by record:
    /// stored with the record.
    judged: &'a mut Vec<Option<bool>>,
}

/// Adds a chunk's results to the statistics and the result streams.
fn summarize(
    scores: &ChunkScores<'_>,
    meta: &[Meta],
    records: &[OwnedRecord],
    names: &[String],
    into: Tallies<'_>,
    seconds: f64,
) -> Result<()> {
    let Tallies {
        stats,
        streams,
        comparer,
        judged,
    } = into;
    judged.clear();
    let mut results: Vec<RowResult<'_>> = Vec::with_capacity(names.len());
    for (i, (m, record)) in meta.iter().zip(records).enumerate() {
        results.clear();
        let trace_id = m.trace_id.unwrap_or(TraceId::INVALID);
        let trace = || mlflow_trace_id(trace_id);
        let input = || text(&record.inputs).into_owned();
        let output = || text(&record.outputs).into_owned();
        let expectations = || expectations_json(record);
        let view = RecordView {
            line: m.line,
            trace_id: &trace,
            input: &input,
            output: &output,
            expectations: &expectations,
        };
        for (s, (builder, name)) in stats.iter_mut().zip(names).enumerate() {
            let said: Said<'_> = scored::said(scores, i, s);
            let passed = builder.add(&said, &view);
            judged.push(passed);
            results.push(RowResult {
                scorer: name,
                said,
                passed,
            });
        }
        if let Some(comparer) = comparer {
            let named = (!m.new_span).then_some((trace_id, m.span_id));
            comparer.record(m.line as u64, trace_id, named, record, &results);
        }
        if !streams.is_empty() {
            let row = Row {
                line: m.line,
                trace_id,
                record,
                results: &results,
                seconds,
                failed: m.failed.as_ref(),
            };
            for stream in streams.iter_mut() {
                stream.record(&row).map_err(|e| stream.error(e))?;
            }
        }
    }
    Ok(())
}

/// A value as text: a string as it is, other JSON as JSON.
pub(crate) fn text(value: &OwnedValue) -> std::borrow::Cow<'_, str> {
    match value {
        OwnedValue::Null => "".into(),
        OwnedValue::String(s) => s.as_str().into(),
        OwnedValue::Json(json) => json.as_str().into(),
    }
}

/// A value as JSON.
pub(crate) fn json_value(value: &OwnedValue) -> Value {
    match value {
        OwnedValue::Null => Value::Null,
        OwnedValue::String(s) => Value::String(s.clone()),
        OwnedValue::Json(text) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
        }
    }
}

/// A record's expectations as one JSON object.
pub(crate) fn expectations_json(record: &OwnedRecord) -> String {
    Value::Object(
        record
            .expectations
            .iter()
            .map(|(name, value)| (name.clone(), json_value(value)))
            .collect(),
    )
    .to_string()
}

/// The spans and assessments of a chunk, built on all cores.
fn build(context: &Context, chunk: &Chunk<'_>) -> Result<Shipment> {
    let meta = chunk.meta;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Whole blocks per thread, so that a block is never split.
    let per = meta
        .len()
        .div_ceil(threads)
        .max(BLOCK_RECORDS)
        .next_multiple_of(BLOCK_RECORDS);
    let ranges: Vec<(usize, usize)> = (0..meta.len())
        .step_by(per)
        .map(|start| (start, (start + per).min(meta.len())))
        .collect();
    let parts: Vec<Result<Shipment>> = if ranges.len() <= 1 {
        ranges
            .iter()
            .map(|&(a, b)| build_range(context, chunk, a, b))
            .collect()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = ranges
                .iter()
                .map(|&(a, b)| scope.spawn(move || build_range(context, chunk, a, b)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Usage("a build thread panicked".into())))
                })
                .collect()
        })
    };
    let mut shipment = Shipment::default();
    for part in parts {
        let mut part = part?;
        shipment.blocks.append(&mut part.blocks);
        shipment.batch.append(&mut part.batch);
        shipment.spans.append(&mut part.spans);
        shipment.stand_ins.append(&mut part.stand_ins);
        shipment.operations.append(&mut part.operations);
    }
    Ok(shipment)
}

/// A scored chunk: its records, what the run knows of them, their
/// results, the ordinal of its first record in the run, and when it was
/// scored.
struct Chunk<'a> {
    scorers: &'a [Box<dyn Scorer>],
    scores: &'a ChunkScores<'a>,
    /// Each record's verdict by each scorer's criterion.
    judged: &'a [Option<bool>],
    meta: &'a [Meta],
    records: &'a [OwnedRecord],
    first: u64,
    timing: ScoringTime,
}

/// When a chunk was scored, and each record's share of it: the time a
/// record's root span lasts (a record of a dataset has no timing of its
/// own, and scorers take a chunk's records in batches on every core, so a
/// record's own scoring is not measured apart). Records' spans are laid
/// end to end from when the chunk's scoring began, so that together they
/// last as long as it did.
#[derive(Clone, Copy, Debug)]
struct ScoringTime {
    start: SystemTime,
    per_record: std::time::Duration,
}

impl ScoringTime {
    /// When the chunk's `i`-th record's span starts and ends.
    fn of_record(&self, i: usize) -> (SystemTime, SystemTime) {
        let before = u32::try_from(i).unwrap_or(u32::MAX);
        let start = self.start + self.per_record.saturating_mul(before);
        (start, start + self.per_record)
    }
}

/// `to - from` in signed nanoseconds.
fn signed_nanos(from: SystemTime, to: SystemTime) -> i64 {
    match to.duration_since(from) {
        Ok(later) => i64::try_from(later.as_nanos()).unwrap_or(i64::MAX),
        Err(earlier) => -i64::try_from(earlier.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// A record's value as the store packs it.
fn packed(value: &OwnedValue) -> PackedValue<'_> {
    match value {
        OwnedValue::Null => PackedValue::Null,
        OwnedValue::String(s) => PackedValue::Text(s),
        OwnedValue::Json(text) => PackedValue::Json(text),
    }
}

/// The records `start..end` of a chunk: packed in blocks for the store,
/// and as spans and assessments for the destinations. Both carry the same
/// ids (derived from the run's and the record's ordinal) and times, so the
/// store reads back exactly what the destinations were sent.
fn build_range(context: &Context, chunk: &Chunk<'_>, start: usize, end: usize) -> Result<Shipment> {
    let Chunk {
        scorers,
        scores,
        judged,
        meta,
        records,
        first,
        timing,
    } = *chunk;
    let mut out = Shipment::default();
    let now = SystemTime::now();
    let mut block: Option<RunBlockBuilder> = None;
    for i in start..end {
        let (m, record) = (&meta[i], &records[i]);
        let ordinal = first + i as u64;
        let trace_id = m.trace_id.unwrap_or(TraceId::INVALID);
        // The same times for the span the store keeps and the one sent.
        let (span_start, span_end) = m.called.unwrap_or_else(|| timing.of_record(i));
        let error = m.failed.as_ref().map(ToString::to_string);
        let n = record.expectations.len();
        if n + scorers.len() > pack::MAX_ASSESSMENTS_PER_RECORD {
            return Err(Error::Usage(format!(
                "line {}: {n} expectations and {} scorers make more assessments than a record \
                 may hold ({})",
                m.line,
                scorers.len(),
                pack::MAX_ASSESSMENTS_PER_RECORD
            )));
        }
        if context.to_store {
            // The spans of a trace of the run's own (those the system under
            // test made) are packed with the record, as its root span is;
            // the spans of a trace a record names are rows, as a service's.
            let packs = |span: &&StoredSpan| m.new_span && span.trace_id == trace_id;
            let b = block.get_or_insert_with(|| RunBlockBuilder::new(ordinal, now));
            b.record(&RecordHead {
                line: m.line as u64,
                target: if m.new_span {
                    RecordTarget::Own
                } else {
                    RecordTarget::Named(trace_id, m.span_id)
                },
                span: (
                    signed_nanos(now, span_start),
                    u64::try_from(signed_nanos(span_start, span_end)).unwrap_or(0),
                ),
                inputs: packed(&record.inputs),
                outputs: packed(&record.outputs),
                error: error.as_deref(),
                expectations: n,
                spans: m.spans.iter().filter(packs).count(),
            });
            for (j, (name, value)) in record.expectations.iter().enumerate() {
                b.expectation(name, packed(value), m.stored.binary_search(&j).is_err());
            }
            for s in 0..scorers.len() {
                b.result(&scored::packed(scores, i, s, judged[i * scorers.len() + s]));
            }
            for span in m.spans.iter().filter(packs) {
                b.span(span);
            }
            if b.len() == BLOCK_RECORDS
                && let Some(full) = block.take()
            {
                out.blocks.push(full.finish());
            }
            for span in m.spans.iter().filter(|span| !packs(span)) {
                out.batch.push_stored_span(span);
            }
        }
        if !context.to_destinations {
            continue;
        }
        if m.new_span {
            out.spans
                .push(root_span(context, m, record, (span_start, span_end))?);
        } else if m.spans.is_empty() {
            out.stand_ins
                .push(root_span(context, m, record, (span_start, span_end))?);
        }
        // The trace's spans from the dataset (an OTLP file's).
        out.spans.extend(m.spans.iter().cloned());
        let target = match m.span_id {
            Some(span_id) => Target::span(trace_id, span_id)?,
            None => Target::trace(trace_id)?,
        };
        // Expectations are ground truth about the trace; on a trace the run
        // made, they are on its root span, as MLflow's evaluation puts them.
        let truth = if m.new_span {
            target
        } else {
            Target::trace(trace_id)?
        };
        for (j, (name, value)) in record.expectations.iter().enumerate() {
            if m.stored.binary_search(&j).is_err() {
                out.operations.push(Operation::Log(
                    Assessment::expectation(name.clone(), json_value(value))
                        .run_id(context.run_id.clone())
                        .id(pack::assessment_id(context.ids, ordinal, j + 1))
                        .created_at(now)
                        .on(truth)?,
                ));
            }
        }
        for (s, scorer) in scorers.iter().enumerate() {
            out.operations.push(Operation::Log(
                scored::feedback(scorer.info(), scores, i, s)
                    .run_id(context.run_id.clone())
                    .id(pack::assessment_id(context.ids, ordinal, n + 1 + s))
                    .created_at(now)
                    .on(target)?,
            ));
        }
    }
    if let Some(block) = block {
        out.blocks.push(block.finish());
    }
    Ok(out)
}

/// The root span of a record that names no trace, as the store reads it
/// back: from `start` to `end`.
fn root_span(
    context: &Context,
    m: &Meta,
    record: &OwnedRecord,
    (start, end): (SystemTime, SystemTime),
) -> Result<StoredSpan> {
    Ok(RecordSpan {
        run_id: &context.run_id,
        scope: (context.scope.name(), context.scope.version()),
        trace_id: m.trace_id.unwrap_or(TraceId::INVALID),
        line: m.line as u64,
        inputs: packed(&record.inputs),
        outputs: packed(&record.outputs),
        error: m.failed.as_ref().map(ToString::to_string).as_deref(),
        start,
        end,
    }
    .to_span())
}

/// Calls the system under test for a chunk's records: each record's
/// outputs become its answer, the spans it returned join the record's
/// (and, for scorers that read traces, its trace, with the root span the
/// run makes for it), and a record without an answer keeps why. When the
/// run is interrupted, the records after the first one left without an
/// answer are dropped: they are neither scored nor stored.
fn predict(
    stage: &Stage,
    context: &Context,
    needs_trace: bool,
    meta: &mut Vec<Meta>,
    records: &mut Vec<OwnedRecord>,
    interrupt: Option<&Interrupt>,
) {
    let jobs = meta
        .iter()
        .zip(records.iter())
        .map(|(m, r)| {
            let trace_id = m.trace_id.unwrap_or(TraceId::INVALID);
            Job {
                line: m.line,
                inputs: r.inputs.clone(),
                trace_id,
                parent: m.span_id.unwrap_or_else(|| pack::root_span_id(trace_id)),
                named: !m.new_span,
            }
        })
        .collect();
    let answers = stage.call(jobs, interrupt);
    meta.truncate(answers.len());
    records.truncate(answers.len());
    for ((m, record), answer) in meta.iter_mut().zip(records.iter_mut()).zip(answers) {
        m.called = Some((answer.start, answer.end));
        match answer.result {
            Ok(prediction) => {
                record.outputs = prediction.outputs;
                m.spans.extend(prediction.spans);
            }
            Err(error) => {
                // The spans it made before failing show what it did.
                let (error, spans) = error.into_parts();
                record.outputs = OwnedValue::Null;
                m.spans.extend(spans);
                m.failed = Some(error);
            }
        }
        if needs_trace {
            let mut spans = m.spans.clone();
            if m.new_span
                && let Ok(root) = root_span(context, m, record, (answer.start, answer.end))
            {
                spans.push(root);
            }
            record.trace = Some(Arc::new(crate::dataset::owned_trace(&spans)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(trace: TraceId) -> Meta {
        Meta {
            trace_id: Some(trace),
            ..Meta::default()
        }
    }

    #[test]
    fn what_a_chunk_not_yet_stored_logged_is_neither_logged_again_nor_missed() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("s.db")).unwrap();
        let trace = TraceId::from(7u128);
        let paris =
            || OwnedRecord::new("q", "Paris").with_expectation("expected_response", "Paris");
        let mut logged = Logged::default();

        // Chunk 0 logs the expectation; the writer has stored nothing yet.
        let (mut meta, mut records) = (vec![on(trace)], vec![paris()]);
        expectations_from_store(&store, &mut meta, &mut records, &mut logged, 0).unwrap();
        assert!(meta[0].stored.is_empty(), "logged");

        // Chunk 1, chunk 0 still unstored: the same one is not logged
        // again, and a record that brings none is judged against it.
        logged.forget_stored(0);
        let (mut meta, mut records) = (
            vec![on(trace), on(trace)],
            vec![paris(), OwnedRecord::new("q", "Paris")],
        );
        expectations_from_store(&store, &mut meta, &mut records, &mut logged, 1).unwrap();
        assert_eq!(meta[0].stored, [0]);
        assert_eq!(records[1].expectations, paris().expectations);
        assert_eq!(meta[1].stored, [0]);

        // Once chunk 0 is stored, the store shows it: nothing is kept.
        logged.forget_stored(1);
        assert!(logged.chunks.is_empty());
    }
}
