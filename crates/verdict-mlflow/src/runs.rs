//! MLflow runs, as MLflow's client makes them: created in the sink's
//! experiment, given params, metrics and tags, linked to traces, and
//! ended.
//!
//! | operation | request |
//! |---|---|
//! | [`MlflowSink::start_run`] | `POST /api/2.0/mlflow/runs/create` |
//! | [`MlflowSink::log_run`] | `POST /api/2.0/mlflow/runs/log-batch`, as many as MLflow's per-request limits need |
//! | [`MlflowSink::log_dataset`] | `POST /api/2.0/mlflow/runs/log-inputs` |
//! | [`MlflowSink::link_traces`] | `POST /api/2.0/mlflow/traces/link-to-run`, 100 traces a request |
//! | [`MlflowSink::end_run`] | `POST /api/2.0/mlflow/runs/update` |
//!
//! While a run is the sink's active run (from `start_run` to `end_run`),
//! every trace the sink creates carries the run's id in its metadata
//! (`mlflow.sourceRun`), as MLflow's client marks the traces made inside
//! `mlflow.start_run()`. That is how `mlflow.genai.evaluate` ties the
//! traces it makes to its run; it links the traces it did not make with
//! `link-to-run`. `mlflow.search_traces(run_id=…)` and MLflow's
//! evaluation views find both.

use std::collections::BTreeMap;
use std::sync::PoisonError;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::TraceId;
use serde_json::{Value, json};
use verdict::{SinkError, mlflow_trace_id};

use super::provenance::Provenance;
use super::{Body, MlflowSink};

/// The longest param value MLflow takes (`MAX_PARAM_VAL_LENGTH`).
pub const MAX_PARAM_VALUE: usize = 6000;

/// The longest run tag value MLflow takes (`MAX_TAG_VAL_LENGTH`).
pub const MAX_TAG_VALUE: usize = 8000;

/// MLflow's limits on one `log-batch` request.
const MAX_METRICS_PER_REQUEST: usize = 1000;
const MAX_PARAMS_OR_TAGS_PER_REQUEST: usize = 100;

/// The most traces one `link-to-run` request takes.
const MAX_LINKS_PER_REQUEST: usize = 100;

/// How a run ended: MLflow's `RunStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// It ran to its end (`FINISHED`).
    Finished,
    /// An error stopped it (`FAILED`).
    Failed,
    /// It was stopped from outside, by a signal (`KILLED`).
    Killed,
}

impl RunEnd {
    fn as_str(self) -> &'static str {
        match self {
            RunEnd::Finished => "FINISHED",
            RunEnd::Failed => "FAILED",
            RunEnd::Killed => "KILLED",
        }
    }
}

/// What [`MlflowSink::log_run`] logs to a run: params (written once: MLflow
/// refuses to change a param), metrics (step 0) and tags.
///
/// Values longer than MLflow takes ([`MAX_PARAM_VALUE`],
/// [`MAX_TAG_VALUE`] characters) are cut, ending in `...`. A metric that
/// is not finite is sent as protobuf JSON writes it (`"NaN"`,
/// `"Infinity"`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunData {
    /// Params, by key.
    pub params: Vec<(String, String)>,
    /// Metrics, by key.
    pub metrics: Vec<(String, f64)>,
    /// Tags, by key.
    pub tags: Vec<(String, String)>,
}

impl RunData {
    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty() && self.metrics.is_empty() && self.tags.is_empty()
    }
}

/// A dataset a run read ([`MlflowSink::log_dataset`]), as MLflow's
/// `Dataset` entity holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDataset {
    /// Its name.
    pub name: String,
    /// A short digest of its content.
    pub digest: String,
    /// What kind of place it comes from (`local` for a file).
    pub source_type: String,
    /// Where, as JSON text (`{"uri": "/path/to/data.jsonl"}`).
    pub source: String,
    /// How many records it has, if known.
    pub rows: Option<u64>,
}

impl MlflowSink {
    /// Creates a run named `name` in the sink's experiment, started at
    /// `start`, with `tags` and the tags MLflow's client gives every run
    /// (`mlflow.user`, `mlflow.source.name`, `mlflow.source.type`, and in a
    /// git checkout `mlflow.source.git.*`), and makes it the sink's active
    /// run (see the [crate docs](crate#runs)). Returns its id.
    ///
    /// A create whose answer was lost and that is retried may leave an
    /// empty run behind: MLflow gives a run its id, so the request is not
    /// idempotent.
    pub fn start_run(
        &self,
        name: &str,
        start: SystemTime,
        tags: &[(String, String)],
    ) -> Result<String, SinkError> {
        let mut all: BTreeMap<String, String> = Provenance::current().run_tags();
        all.extend(tags.iter().cloned());
        let user = all.get(super::provenance::USER).cloned();
        let body = json!({
            "experiment_id": self.config.experiment_id,
            "run_name": name,
            "start_time": millis(start),
            "user_id": user,
            "tags": key_values(all.iter(), MAX_TAG_VALUE),
        });
        let answer = self.call("POST", "/api/2.0/mlflow/runs/create", &body, || {
            format!("create run {name:?}")
        })?;
        let run_id = serde_json::from_str::<Value>(&answer)
            .ok()
            .and_then(|v| v["run"]["info"]["run_id"].as_str().map(str::to_owned))
            .ok_or_else(|| {
                SinkError::new(format!(
                    "MLflow at {} answered the creation of run {name:?} without a run id: {}",
                    self.shown_uri,
                    super::excerpt(&answer)
                ))
            })?;
        *self
            .active_run
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(run_id.clone());
        Ok(run_id)
    }

    /// The run the traces this sink creates belong to, if one is active.
    pub fn active_run(&self) -> Option<String> {
        self.active_run
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Logs params, metrics (at `at`) and tags to run `run_id`, in as few
    /// requests as MLflow's per-request limits allow.
    pub fn log_run(&self, run_id: &str, data: &RunData, at: SystemTime) -> Result<(), SinkError> {
        let time = millis(at);
        let metrics: Vec<Value> = data
            .metrics
            .iter()
            .map(|(key, value)| {
                json!({"key": key, "value": metric_value(*value), "timestamp": time, "step": 0})
            })
            .collect();
        let params = key_values(data.params.iter().map(|(k, v)| (k, v)), MAX_PARAM_VALUE);
        let tags = key_values(data.tags.iter().map(|(k, v)| (k, v)), MAX_TAG_VALUE);
        let (mut metrics, mut params, mut tags) = (&metrics[..], &params[..], &tags[..]);
        while !(metrics.is_empty() && params.is_empty() && tags.is_empty()) {
            let (m, rest_m) = metrics.split_at(metrics.len().min(MAX_METRICS_PER_REQUEST));
            let (p, rest_p) = params.split_at(params.len().min(MAX_PARAMS_OR_TAGS_PER_REQUEST));
            let (t, rest_t) = tags.split_at(tags.len().min(MAX_PARAMS_OR_TAGS_PER_REQUEST));
            let body = json!({"run_id": run_id, "metrics": m, "params": p, "tags": t});
            self.call("POST", "/api/2.0/mlflow/runs/log-batch", &body, || {
                format!(
                    "log {} metrics, {} params and {} tags to run {run_id}",
                    m.len(),
                    p.len(),
                    t.len()
                )
            })?;
            (metrics, params, tags) = (rest_m, rest_p, rest_t);
        }
        Ok(())
    }

    /// Logs the dataset a run read, as MLflow's dataset inputs say it:
    /// shown in the run's *Datasets* column.
    pub fn log_dataset(&self, run_id: &str, dataset: &RunDataset) -> Result<(), SinkError> {
        let mut entity = json!({
            "name": dataset.name,
            "digest": dataset.digest,
            "source_type": dataset.source_type,
            "source": dataset.source,
        });
        if let Some(rows) = dataset.rows {
            entity["profile"] = json!({"num_rows": rows}).to_string().into();
        }
        let body = json!({"run_id": run_id, "datasets": [{"tags": [], "dataset": entity}]});
        self.call("POST", "/api/2.0/mlflow/runs/log-inputs", &body, || {
            format!("log dataset {:?} to run {run_id}", dataset.name)
        })
        .map(drop)
    }

    /// Links traces to run `run_id`, as `mlflow.genai.evaluate` links the
    /// traces it evaluates: `mlflow.search_traces(run_id=…)` then finds
    /// them. Linking is idempotent, and a trace need not have arrived yet.
    pub fn link_traces(&self, run_id: &str, traces: &[TraceId]) -> Result<(), SinkError> {
        for chunk in traces.chunks(MAX_LINKS_PER_REQUEST) {
            let ids: Vec<String> = chunk.iter().map(|t| mlflow_trace_id(*t)).collect();
            let body = json!({"run_id": run_id, "trace_ids": ids});
            self.call("POST", "/api/2.0/mlflow/traces/link-to-run", &body, || {
                format!("link {} traces to run {run_id}", ids.len())
            })?;
        }
        Ok(())
    }

    /// Ends run `run_id` at `at`, with the status `end` says; it is no
    /// longer the active run.
    pub fn end_run(&self, run_id: &str, end: RunEnd, at: SystemTime) -> Result<(), SinkError> {
        {
            let mut active = self
                .active_run
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if active.as_deref() == Some(run_id) {
                *active = None;
            }
        }
        let body = json!({"run_id": run_id, "status": end.as_str(), "end_time": millis(at)});
        self.call("POST", "/api/2.0/mlflow/runs/update", &body, || {
            format!("end run {run_id} as {}", end.as_str())
        })
        .map(drop)
    }

    /// One JSON request, retried as the sink retries: its answer's body.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        what: impl Fn() -> String,
    ) -> Result<String, SinkError> {
        let url = format!("{}{path}", self.config.tracking_uri);
        let what = what();
        self.config
            .http
            .retry_policy()
            .run(|| self.classify(&what, self.request(method, &url, Body::Json(body))))
            .map_err(|gave_up| self.gave_up(gave_up))
    }
}

/// `[{"key": k, "value": v}]`, each value cut to `max` characters.
fn key_values<'a>(pairs: impl Iterator<Item = (&'a String, &'a String)>, max: usize) -> Vec<Value> {
    pairs
        .map(|(key, value)| json!({"key": key, "value": truncate(value, max)}))
        .collect()
}

/// `text` cut to `max` characters (Unicode scalar values, as Python counts
/// them), ending in `...` when cut, as MLflow's client cuts what is too
/// long.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let keep = max.saturating_sub(3);
            let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
            format!("{}...", &text[..end])
        }
    }
}

/// A metric value as protobuf's JSON mapping writes a double.
fn metric_value(value: f64) -> Value {
    if value.is_nan() {
        json!("NaN")
    } else if value.is_infinite() {
        json!(if value > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(value)
    }
}

/// Milliseconds since the epoch.
fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::HttpStub;

    #[test]
    fn values_are_cut_as_mlflow_cuts_them() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcdef", 5), "ab...");
        assert_eq!(truncate("ééééé", 4), "é...");
        assert_eq!(metric_value(f64::NAN), json!("NaN"));
        assert_eq!(metric_value(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(metric_value(0.5), json!(0.5));
    }

    #[test]
    fn a_run_is_logged_within_mlflows_limits_per_request() {
        let server = HttpStub::builder()
            .content_type("application/json")
            .start(|request| {
                if request.path.ends_with("/runs/create") {
                    (200, br#"{"run": {"info": {"run_id": "abc123"}}}"#.to_vec())
                } else {
                    (200, b"{}".to_vec())
                }
            })
            .unwrap();
        let sink = MlflowSink::builder(server.url())
            .experiment_id("7")
            .build()
            .unwrap();
        let run = sink
            .start_run(
                "run-1",
                UNIX_EPOCH,
                &[("verdict.run_id".into(), "run-1".into())],
            )
            .unwrap();
        assert_eq!(run, "abc123");
        assert_eq!(sink.active_run().as_deref(), Some("abc123"));
        let data = RunData {
            params: (0..150)
                .map(|i| (format!("p{i}"), "x".repeat(7000)))
                .collect(),
            metrics: (0..1500).map(|i| (format!("m{i}"), i as f64)).collect(),
            tags: vec![("t".into(), "y".into())],
        };
        sink.log_run(&run, &data, UNIX_EPOCH).unwrap();
        let traces: Vec<TraceId> = (1..=150u128).map(TraceId::from).collect();
        sink.link_traces(&run, &traces).unwrap();
        sink.end_run(&run, RunEnd::Killed, UNIX_EPOCH).unwrap();
        assert_eq!(sink.active_run(), None);

        let requests = server.requests();
        let bodies: Vec<(String, Value)> = requests
            .iter()
            .map(|r| (r.path.clone(), serde_json::from_slice(&r.body).unwrap()))
            .collect();
        let create = &bodies[0].1;
        assert_eq!(create["experiment_id"], "7");
        assert_eq!(create["run_name"], "run-1");
        let tags = create["tags"].as_array().unwrap();
        assert!(tags.iter().any(|t| t["key"] == "verdict.run_id"));
        assert!(tags.iter().any(|t| t["key"] == "mlflow.source.type"));
        let batches: Vec<&Value> = bodies
            .iter()
            .filter(|(p, _)| p.ends_with("/log-batch"))
            .map(|(_, b)| b)
            .collect();
        assert_eq!(batches.len(), 2);
        let count = |b: &Value, k: &str| b[k].as_array().unwrap().len();
        assert_eq!(
            (count(batches[0], "metrics"), count(batches[0], "params")),
            (1000, 100)
        );
        assert_eq!(
            (count(batches[1], "metrics"), count(batches[1], "params")),
            (500, 50)
        );
        let value = batches[0]["params"][0]["value"].as_str().unwrap();
        assert_eq!(value.chars().count(), MAX_PARAM_VALUE);
        assert!(value.ends_with("..."));
        let links: Vec<&Value> = bodies
            .iter()
            .filter(|(p, _)| p.ends_with("/link-to-run"))
            .map(|(_, b)| b)
            .collect();
        assert_eq!(links.len(), 2);
        assert_eq!(links[1]["trace_ids"].as_array().unwrap().len(), 50);
        assert_eq!(
            links[0]["trace_ids"][0],
            "tr-00000000000000000000000000000001"
        );
        let end = &bodies.last().unwrap().1;
        assert_eq!(end["status"], "KILLED");
    }
}
