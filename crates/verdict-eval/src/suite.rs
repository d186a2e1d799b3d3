//! A regression suite that reads like a test: load a dataset, run
//! scorers, assert the gates — from `cargo test`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use verdict_export::LocalStore;
use verdict_scorer::{Registry, ScorerSpec};

use crate::config::SuiteConfig;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::run::{Evaluation, RunSummary};

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
    store: Option<PathBuf>,
    skip_invalid: bool,
    threads: Option<usize>,
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

    /// Runs this scorer (a spec, as on the command line); given at least
    /// once, the scorers named here replace those of the config, keeping
    /// their criteria.
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

    /// Runs the suite over a dataset.
    pub fn run(self, dataset: impl AsRef<Path>) -> Result<SuiteReport> {
        let mut config = self.config;
        if !self.specs.is_empty() {
            let specs = self
                .specs
                .iter()
                .map(|s| s.parse::<ScorerSpec>())
                .collect::<Result<Vec<_>, _>>()?;
            config.replace_scorers(specs);
        }
        for (scorer, rate) in &self.fail_under {
            config.set_fail_under(&format!("{scorer}={rate}"))?;
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
        let summary = evaluation.run(&Dataset::open_with(dataset, &options)?)?;
        Ok(SuiteReport { summary })
    }
}

/// What a suite found; its assertions fail with the gates that failed and
/// the worst records.
#[derive(Clone, Debug)]
pub struct SuiteReport {
    summary: RunSummary,
}

impl SuiteReport {
    /// The run's summary.
    pub fn summary(&self) -> &RunSummary {
        &self.summary
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
                self.worst_records(Some(scorer))
            );
        }
    }

    /// What failed, in words: the failed gates, then the worst records.
    pub fn failure_message(&self) -> String {
        let s = &self.summary;
        let failed: Vec<_> = s.gates.iter().filter(|g| !g.passed).collect();
        let mut out = format!(
            "{} of {} failed on {} ({}):\n",
            failed.len(),
            crate::report::count(s.gates.len() as u64, "gate"),
            s.dataset,
            crate::report::count(s.records, "record")
        );
        for g in failed {
            let _ = writeln!(out, "  FAIL {} — {}", g.gate, g.measured);
        }
        out.push_str(&self.worst_records(None));
        out
    }

    fn worst_records(&self, only: Option<&str>) -> String {
        let mut out = String::new();
        for s in &self.summary.scorers {
            if only.is_some_and(|name| name != s.name) || s.worst.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\nworst records of {} ({}):", s.name, s.criterion);
            for w in &s.worst {
                let _ = writeln!(
                    out,
                    "  line {}: {} → {}\n    input:    {}\n    output:   {}\n    expected: {}",
                    w.line, s.name, w.value, w.input, w.output, w.expectations
                );
                if let Some(rationale) = &w.rationale {
                    let _ = writeln!(out, "    why:      {rationale}");
                }
            }
        }
        out
    }
}
