//! An evaluation exported to MLflow (`--export mlflow`) is an MLflow run,
//! as `mlflow.genai.evaluate` makes one: what a user compares runs by in
//! MLflow's UI, and what `mlflow.search_traces(run_id=…)` and MLflow's
//! evaluation views find traces by.
//!
//! - **When the run starts**, a run named after Verdict's run id is
//!   created in the experiment, with params for the dataset and each
//!   scorer's config, version, pass criterion and weight, and tags: the
//!   run type MLflow gives evaluations (`mlflow.runType` =
//!   `genai_evaluate`), Verdict's run id (`verdict.run_id`) and the gate
//!   conditions in MLflow's language (`verdict.gate`). It is the MLflow
//!   sink's active run: the traces the evaluation creates carry its id
//!   (`mlflow.sourceRun`).
//! - **As records are sent**, every assessment the evaluation logs carries
//!   the MLflow run's id (`mlflow.assessment.sourceRunId`; the local store
//!   keeps Verdict's), and each trace is linked to the run, those the
//!   records named included, as `mlflow.genai.evaluate` links them.
//! - **When the run ends**, the dataset is logged as the run's dataset
//!   input (a file: its name, a digest of its content, its path and
//!   records), each scorer's statistics as metrics
//!   named as MLflow names its aggregations (`exact_match/mean`,
//!   `exact_match/median`, `…/p90`, `…/min`, `…/max`, `…/variance`) and as
//!   the gate language names Verdict's own (`…/pass_rate`, `…/errors`),
//!   with `weighted_pass_rate`; tags say whether every gate passed
//!   (`verdict.passed`), each gate's verdict (`verdict.gates`) and how the
//!   run ended (`verdict.status`); the run ends `FINISHED` once it reached
//!   its verdict (passed or not), `FAILED` when an error stopped it,
//!   `KILLED` when a signal did.

use std::time::SystemTime;

use verdict::SinkError;
use verdict_export::MlflowSink;
use verdict_export::mlflow::{RunData, RunDataset, RunEnd};
use verdict_scorer::{Origin, Scorer};

use crate::config::SuiteConfig;
use crate::criteria::Statistic;
use crate::run::RunSummary;

/// What MLflow's runs call an evaluation (`MLFLOW_RUN_TYPE_GENAI_EVALUATE`).
const RUN_TYPE: (&str, &str) = ("mlflow.runType", "genai_evaluate");

/// The tag that holds Verdict's run id.
pub(crate) const VERDICT_RUN_ID_TAG: &str = "verdict.run_id";

/// What an evaluation tells MLflow when it starts: the run's name, params
/// and tags.
#[derive(Clone, Debug)]
pub(crate) struct RunPlan {
    verdict_run_id: String,
    data: RunData,
    /// The dataset as named, and the file it is, if it is one.
    dataset: (String, Option<std::path::PathBuf>),
}

impl RunPlan {
    /// The plan of Verdict's run `run_id` of `dataset` with these scorers
    /// (in `config`'s order).
    pub(crate) fn new(
        run_id: &str,
        dataset: &str,
        dataset_file: Option<&std::path::Path>,
        config: &SuiteConfig,
        scorers: &[Box<dyn Scorer>],
        baseline: Option<&str>,
    ) -> Self {
        let mut params = vec![
            ("dataset".to_owned(), dataset.to_owned()),
            (
                "scorers".to_owned(),
                scorers
                    .iter()
                    .map(|s| s.info().name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ];
        for (setup, scorer) in config.scorers.iter().zip(scorers) {
            let info = scorer.info();
            let name = key_name(&info.name);
            let mut param =
                |what: &str, value: String| params.push((format!("{name}/{what}"), value));
            param("config", setup.spec.config_json());
            param("version", info.version.clone());
            param("pass_when", setup.pass.describe());
            param("weight", setup.weight.to_string());
            if let Some(rate) = setup.fail_under {
                param("fail_under", rate.to_string());
            }
            if let Origin::Plugin { sha256, .. } = &info.origin {
                param("plugin_sha256", sha256.clone());
            }
        }
        if let Some(rate) = config.gates.weighted_pass_rate {
            params.push(("gates/weighted_pass_rate".to_owned(), rate.to_string()));
        }
        if let Some(baseline) = baseline {
            params.push(("baseline".to_owned(), baseline.to_owned()));
            params.push((
                "gates/baseline_tolerance".to_owned(),
                config.gates.baseline_tolerance.to_string(),
            ));
        }
        let mut tags = vec![
            (RUN_TYPE.0.to_owned(), RUN_TYPE.1.to_owned()),
            (VERDICT_RUN_ID_TAG.to_owned(), run_id.to_owned()),
        ];
        if !config.gates.conditions.is_empty() {
            let expression: Vec<String> = config
                .gates
                .conditions
                .iter()
                .map(ToString::to_string)
                .collect();
            tags.push(("verdict.gate".to_owned(), expression.join(" AND ")));
        }
        RunPlan {
            verdict_run_id: run_id.to_owned(),
            data: RunData {
                params,
                metrics: Vec::new(),
                tags,
            },
            dataset: (dataset.to_owned(), dataset_file.map(ToOwned::to_owned)),
        }
    }
}

/// An evaluation's MLflow run, started.
#[derive(Clone, Debug)]
pub(crate) struct MlflowRun {
    id: String,
    dataset: (String, Option<std::path::PathBuf>),
}

impl MlflowRun {
    /// Creates the run (named after Verdict's run id, started at
    /// `started`) as the sink's active run, with its params and tags.
    pub(crate) fn start(
        sink: &MlflowSink,
        plan: &RunPlan,
        started: SystemTime,
    ) -> Result<Self, SinkError> {
        let id = sink.start_run(&plan.verdict_run_id, started, &plan.data.tags)?;
        let params = RunData {
            params: plan.data.params.clone(),
            ..RunData::default()
        };
        sink.log_run(&id, &params, started)?;
        Ok(MlflowRun {
            id,
            dataset: plan.dataset.clone(),
        })
    }

    /// MLflow's id of the run.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Logs how the run ended — its statistics and gates when it reached
    /// its verdict (`summary`), why it stopped otherwise — and ends it.
    pub(crate) fn end(
        &self,
        sink: &MlflowSink,
        summary: Option<&RunSummary>,
        end: RunEnd,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), SinkError> {
        let mut data = RunData {
            tags: vec![("verdict.status".to_owned(), status.to_owned())],
            ..RunData::default()
        };
        if let Some(summary) = summary {
            for stats in &summary.scorers {
                let name = key_name(&stats.name);
                for statistic in Statistic::ALL {
                    if let Some(value) = statistic.of(stats) {
                        data.metrics.push((statistic.key(&name), value));
                    }
                }
            }
            if let Some(rate) = summary.weighted_pass_rate {
                data.metrics.push(("weighted_pass_rate".to_owned(), rate));
            }
            data.tags
                .push(("verdict.passed".to_owned(), summary.passed.to_string()));
            if !summary.gates.is_empty() {
                let gates: Vec<String> = summary
                    .gates
                    .iter()
                    .map(|g| {
                        let verdict = if g.passed { "PASS" } else { "FAIL" };
                        format!("{verdict} {} — {}", g.gate, g.measured)
                    })
                    .collect();
                data.tags
                    .push(("verdict.gates".to_owned(), gates.join("\n")));
            }
        }
        if let Some(reason) = reason {
            data.tags
                .push(("verdict.error".to_owned(), reason.to_owned()));
        }
        let at = SystemTime::now();
        sink.log_run(&self.id, &data, at)?;
        if let (Some(summary), Some(dataset)) = (summary, self.dataset_input()) {
            sink.log_dataset(
                &self.id,
                &RunDataset {
                    rows: Some(summary.records + summary.invalid),
                    ..dataset
                },
            )?;
        }
        sink.end_run(&self.id, end, at)
    }

    /// The dataset as MLflow's dataset inputs say it, when it is a file
    /// that can be read again for its digest (the first 8 hex digits of its
    /// SHA-256, as MLflow's digests are 8 characters): a pipe has none, and
    /// is named by the `dataset` param alone.
    fn dataset_input(&self) -> Option<RunDataset> {
        use sha2::Digest as _;
        let (name, file) = &self.dataset;
        let file = file.as_ref()?;
        let mut hasher = sha2::Sha256::new();
        std::io::copy(&mut std::fs::File::open(file).ok()?, &mut hasher).ok()?;
        let digest: String = hasher
            .finalize()
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        let shown = std::path::Path::new(name)
            .file_name()
            .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
        Some(RunDataset {
            name: shown,
            digest,
            source_type: "local".to_owned(),
            source: serde_json::json!({"uri": file.display().to_string()}).to_string(),
            rows: None,
        })
    }
}

/// A scorer's name as MLflow takes it in a param or metric key:
/// alphanumerics, `_`, `-`, `.`, spaces and `:` kept, anything else (`/`
/// included, which separates the statistic) as `_`.
fn key_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_keys_mlflow_takes() {
        assert_eq!(key_name("exact_match"), "exact_match");
        assert_eq!(key_name("odd/name é?"), "odd_name é_");
    }
}
