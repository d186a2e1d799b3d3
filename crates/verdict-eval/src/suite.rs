//! A regression suite that reads like a test: load a dataset, run
//! scorers, assert the gates — from `cargo test`.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use verdict_export::LocalStore;
use verdict_scorer::{Registry, ScorerSpec};

use crate::config::SuiteConfig;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::otel_capture::SuiteSpans;
use crate::predict::Predictor;
use crate::report;
use crate::run::{Evaluation, RunSummary};
use crate::suite_predictor::ClosurePredictor;

/// A regression suite for `cargo test`.
///
/// ```
/// use verdict_eval::Suite;
///
/// let dir = tempfile::tempdir()?;
/// let data = dir.path().join("qa.jsonl");
/// std::fs::write(&data, concat!(
///     r#"{"inputs": "Capital of France?", "outputs": "paris.", "expectations": {"expected_response": "Paris"}}"#, "\n",
///     r#"{"inputs": "Capital of Italy?", "outputs": "Rome", "expectations": {"expected_response": "Rome"}}"#, "\n",
/// ))?;
/// let report = Suite::new()
///     .scorer("exact_match:normalize=squad")
///     .fail_under("exact_match", 0.9)
///     .run(&data)?;
/// report.assert_gates();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Suite {
    config: SuiteConfig,
    specs: Vec<String>,
    plugins: Vec<PathBuf>,
    fail_under: Vec<(String, f64)>,
    gates: Vec<String>,
    store: Option<PathBuf>,
    skip_invalid: bool,
    threads: Option<usize>,
    predictor: Option<SystemUnderTest>,
    predict_calls: Option<usize>,
    predict_time_limit: Option<Duration>,
    /// Captures the calls' OpenTelemetry API spans, once added to the
    /// program's provider.
    otel: SuiteSpans,
}

/// The system a suite calls, for its `Debug`.
#[derive(Clone)]
struct SystemUnderTest(Arc<dyn Predictor>);

impl std::fmt::Debug for SystemUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SystemUnderTest")
    }
}

impl Suite {
    /// A suite with no scorers yet.
    pub fn new() -> Self {
        Suite::default()
    }

    /// A suite from a `verdict.toml`.
    pub fn from_config(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Suite {
            config: SuiteConfig::from_path(path)?,
            ..Suite::default()
        })
    }

    /// Runs this scorer too (a spec, as on the command line): it is added
    /// to the config's scorers, or, when the config has a scorer of the
    /// same name, replaces its spec and keeps its criteria and gate (see
    /// [`SuiteConfig::merge_scorers`]).
    pub fn scorer(mut self, spec: &str) -> Self {
        self.specs.push(spec.to_owned());
        self
    }

    /// Loads a scorer plugin.
    pub fn plugin(mut self, path: impl Into<PathBuf>) -> Self {
        self.plugins.push(path.into());
        self
    }

    /// Gates the scorer named `scorer`: its pass rate must be at least
    /// `rate`.
    pub fn fail_under(mut self, scorer: &str, rate: f64) -> Self {
        self.fail_under.push((scorer.to_owned(), rate));
        self
    }

    /// Gates the suite with an expression in MLflow's `quality_criteria`
    /// language, as `verdict eval --gate` does, such as
    /// ``exact_match >= 0.9 AND `edit_distance/p90` <= 3`` (see
    /// [`criteria`](crate::criteria)).
    pub fn gate(mut self, expression: &str) -> Self {
        self.gates.push(expression.to_owned());
        self
    }

    /// Also stores traces, assessments and the run in a local store.
    pub fn store(mut self, path: impl Into<PathBuf>) -> Self {
        self.store = Some(path.into());
        self
    }

    /// Counts malformed records as errors instead of failing.
    pub fn skip_invalid(mut self) -> Self {
        self.skip_invalid = true;
        self
    }

    /// Scores on this many threads.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Calls the system under test for each record: `f` turns the
    /// record's inputs into its outputs (the dataset then needs none). Each
    /// call runs inside the record's root span, and every span the code
    /// opens through `tracing` during the call is stored in the record's
    /// trace and given to the scorers that read traces (`latency`,
    /// `tool_calls`, …); the process's own subscriber, if any, sees none
    /// of them and is in place again after each call. Spans it makes
    /// through the OpenTelemetry API are captured too once the program's
    /// provider has the suite's [`span_processor`](Self::span_processor).
    /// An error, a panic or a call past its time limit is an error
    /// feedback from every scorer for that record, and the suite goes on;
    /// the spans an error or a panic closed before are stored with the
    /// record (its root span an error), those of a call past its limit
    /// are not (the call is still running).
    ///
    /// ```
    /// use verdict_eval::Suite;
    ///
    /// fn capital(country: &str) -> String {
    ///     let _span = tracing::info_span!("lookup", country).entered();
    ///     match country { "France" => "Paris", _ => "?" }.to_owned()
    /// }
    ///
    /// let dir = tempfile::tempdir()?;
    /// let data = dir.path().join("qa.jsonl");
    /// std::fs::write(&data, concat!(
    ///     r#"{"inputs": "France", "expectations": {"expected_response": "Paris"}}"#, "\n",
    /// ))?;
    /// let report = Suite::new()
    ///     .scorer("exact_match")
    ///     .scorer("latency:max_ms=1000")
    ///     .fail_under("exact_match", 1.0)
    ///     .predict(|inputs| Ok::<_, String>(capital(inputs.as_str().unwrap_or_default()).into()))
    ///     .run(&data)?;
    /// report.assert_gates();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn predict<E: Display + 'static>(
        self,
        f: impl Fn(&serde_json::Value) -> std::result::Result<serde_json::Value, E>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        let otel = self.otel.clone();
        self.predictor(Arc::new(ClosurePredictor::new(f, otel)))
    }

    /// The span processor that captures the spans the code under test
    /// makes through the OpenTelemetry API, for the program to add to its
    /// own tracer provider: during a call of [`predict`](Self::predict)
    /// or [`predict_async`](Self::predict_async), such a span (in the
    /// record's trace, under its root span) is stored and judged with the
    /// record's `tracing` spans, and still goes to the provider's other
    /// processors. Spans the program makes outside the calls pass
    /// untouched. See [`SuiteSpans`].
    ///
    /// ```
    /// use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    /// use verdict_eval::Suite;
    ///
    /// let suite = Suite::new().scorer("exact_match");
    /// let provider = SdkTracerProvider::builder()
    ///     .with_span_processor(suite.span_processor())
    ///     .build();
    /// let tracer = provider.tracer("code under test");
    /// # let dir = tempfile::tempdir()?;
    /// # let data = dir.path().join("qa.jsonl");
    /// # std::fs::write(&data, "{\"inputs\": \"q\", \"expectations\": {\"expected_response\": \"a\"}}\n")?;
    /// let report = suite
    ///     .predict(move |_| Ok::<_, String>(tracer.in_span("answer", |_| "a".into())))
    ///     .run(&data)?;
    /// report.assert_gates();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn span_processor(&self) -> SuiteSpans {
        self.otel.hand_out()
    }

    /// [`predict`](Self::predict) for async code: `f` makes a future per
    /// record, run on a tokio runtime of the suite's own (so a
    /// `#[tokio::test]` may run a suite), with the spans it opens through
    /// `tracing` captured as the sync form captures them, whichever thread
    /// polls it.
    ///
    /// # Errors
    /// When the runtime cannot be started.
    #[cfg(feature = "tokio")]
    pub fn predict_async<F, Fut, E>(self, f: F) -> Result<Self>
    where
        F: Fn(serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = std::result::Result<serde_json::Value, E>>
            + Send
            + 'static,
        E: Display + 'static,
    {
        let predictor =
            crate::suite_predictor::AsyncPredictor::new(f, self.otel.clone()).map_err(|e| {
                Error::Usage(format!("cannot start a runtime for the suite's calls: {e}"))
            })?;
        Ok(self.predictor(Arc::new(predictor)))
    }

    /// Calls the system under test through any [`Predictor`].
    pub fn predictor(mut self, predictor: Arc<dyn Predictor>) -> Self {
        self.predictor = Some(SystemUnderTest(predictor));
        self
    }

    /// Makes at most `at_once` calls of the system side by side (default
    /// [`PREDICT_CALLS`](crate::PREDICT_CALLS)).
    pub fn predict_calls(mut self, at_once: usize) -> Self {
        self.predict_calls = Some(at_once);
        self
    }

    /// Gives each call of the system `limit` to answer (default
    /// [`PREDICT_TIME_LIMIT`](crate::PREDICT_TIME_LIMIT)).
    pub fn predict_time_limit(mut self, limit: Duration) -> Self {
        self.predict_time_limit = Some(limit);
        self
    }

    /// Runs the suite over a dataset.
    pub fn run(self, dataset: impl AsRef<Path>) -> Result<SuiteReport> {
        let mut config = self.config;
        if !self.specs.is_empty() {
            let specs = self
                .specs
                .iter()
                .map(|s| s.parse::<ScorerSpec>())
                .collect::<Result<Vec<_>, _>>()?;
            config.merge_scorers(specs);
        }
        for (scorer, rate) in &self.fail_under {
            config.set_fail_under(&format!("{scorer}={rate}"))?;
        }
        for expression in &self.gates {
            config.add_gate(expression)?;
        }
        let options = config.dataset.clone();
        let mut registry = Registry::with_builtins();
        for plugin in &self.plugins {
            registry.load_plugin(plugin)?;
        }
        let mut evaluation =
            Evaluation::with_registry(config, &registry)?.skip_invalid(self.skip_invalid);
        if let Some(path) = &self.store {
            evaluation = evaluation.store(Arc::new(LocalStore::open(path).map_err(Error::Store)?));
        }
        if let Some(threads) = self.threads {
            evaluation = evaluation.threads(threads);
        }
        if let Some(SystemUnderTest(predictor)) = self.predictor {
            evaluation = evaluation.predict(predictor);
        }
        if let Some(at_once) = self.predict_calls {
            evaluation = evaluation.predict_calls(at_once);
        }
        if let Some(limit) = self.predict_time_limit {
            evaluation = evaluation.predict_time_limit(limit);
        }
        let late_before = self.otel.late();
        let summary = evaluation.run(&Dataset::open_with(dataset, &options)?)?;
        let spans_left_open = self.otel.late() - late_before;
        if spans_left_open > 0 {
            eprintln!(
                "warning: {spans_left_open} span(s) of the calls were still open when their call \
                 returned, and are in no record's trace: wait for the work a call starts before \
                 it returns, or make its spans roots of their own (`parent: None`)"
            );
        }
        Ok(SuiteReport {
            summary,
            store: self.store,
            spans_left_open,
        })
    }
}

/// What a suite found; its assertions fail with the gates that failed and
/// the worst records.
#[derive(Clone, Debug)]
pub struct SuiteReport {
    summary: RunSummary,
    /// The store the run's traces are in, if any: failures then say how
    /// to open a record's trace.
    store: Option<PathBuf>,
    /// Spans of the calls still open when their call returned.
    spans_left_open: u64,
}

impl SuiteReport {
    /// The run's summary.
    pub fn summary(&self) -> &RunSummary {
        &self.summary
    }

    /// How many spans of the calls (through `tracing` or the OpenTelemetry
    /// API) were still open when their call returned: work a call started
    /// and left running. Their records' traces do not hold them, and the
    /// run warns on standard error when there are any.
    pub fn spans_left_open(&self) -> u64 {
        self.spans_left_open
    }

    /// The pass rate of a scorer.
    pub fn pass_rate(&self, scorer: &str) -> Option<f64> {
        self.summary.scorer(scorer).and_then(|s| s.pass_rate())
    }

    /// Panics, listing the failed gates and the worst records of each
    /// scorer, unless every gate passed.
    #[track_caller]
    pub fn assert_gates(&self) {
        if !self.summary.passed {
            panic!("{}", self.failure_message());
        }
    }

    /// Panics unless the scorer's pass rate is at least `min`, listing its
    /// worst records.
    #[track_caller]
    pub fn assert_pass_rate(&self, scorer: &str, min: f64) {
        let rate = self.pass_rate(scorer);
        if !rate.is_some_and(|r| r >= min) {
            panic!(
                "{scorer} pass rate is {}, expected at least {:.1} %\n{}",
                rate.map_or_else(|| "undefined".to_owned(), |r| format!("{:.1} %", 100.0 * r)),
                100.0 * min,
                self.summary
                    .scorer(scorer)
                    .map(|s| report::worst_records(s, self.store.as_deref()))
                    .unwrap_or_default()
            );
        }
    }

    /// What failed, in words: the failed gates, then the worst records of
    /// each scorer they measure (with the `verdict show` command for each
    /// record's trace when the suite has a store); empty when every gate
    /// passed. `verdict eval` prints the same.
    pub fn failure_message(&self) -> String {
        report::failure_message(&self.summary, self.store.as_deref())
    }
}
