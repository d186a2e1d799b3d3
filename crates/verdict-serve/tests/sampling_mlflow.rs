//! The sampler against MLflow's own: `OnlineScorerSampler.sample` from the
//! `mlflow` package on PyPI (the virtualenv `scripts/mlflow/install.sh`
//! caches) picks the same scorers for every trace, at every rate.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use opentelemetry::trace::TraceId;
use serde_json::{Value, json};
use verdict_serve::Sampler;

/// The python of MLflow's virtualenv, installed if it is not yet.
fn python() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mlflow/install.sh");
    let output = Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/mlflow/install.sh");
    assert!(output.status.success(), "scripts/mlflow/install.sh failed");
    let venv = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    PathBuf::from(venv).join("bin/python")
}

/// Reads `{"scorers": [[name, rate]...], "traces": [id...]}` and prints,
/// per trace, the names of the scorers MLflow's sampler picks. The
/// sampler is built without its scorers' serialized form, which only
/// gives it their names and rates.
const MLFLOW_SAMPLE: &str = r#"
import json, sys
from types import SimpleNamespace
from mlflow.genai.scorers.online.sampler import OnlineScorerSampler

cases = json.load(sys.stdin)
sampler = OnlineScorerSampler.__new__(OnlineScorerSampler)
sampler._sample_rates = {name: rate for name, rate in cases["scorers"]}
scorers = [SimpleNamespace(name=name) for name, _ in cases["scorers"]]
print(json.dumps([[s.name for s in sampler.sample(t, scorers)] for t in cases["traces"]]))
"#;

/// Trace ids spread over the whole range (splitmix64, twice per id).
fn trace_ids(n: usize) -> Vec<TraceId> {
    let mut state = 0x5eed_u64;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|_| TraceId::from((u128::from(next()) << 64) | u128::from(next())))
        .collect()
}

#[test]
fn the_same_scorers_are_picked_for_every_trace_as_mlflow_picks() {
    let scorers: Vec<(String, f64)> = [
        ("relevance", 0.5),
        ("exact_match", 0.2),
        ("safety", 0.2),
        ("rare", 0.01),
        ("never", 0.0),
        ("always", 1.0),
        ("third", 1.0 / 3.0),
    ]
    .into_iter()
    .map(|(n, r)| (n.to_owned(), r))
    .collect();
    let traces = trace_ids(5000);
    let ids: Vec<String> = traces.iter().map(|t| format!("tr-{t:032x}")).collect();
    let mut child = Command::new(python())
        .args(["-c", MLFLOW_SAMPLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            json!({"scorers": scorers, "traces": ids})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "MLflow's sampler failed");
    let mlflow: Vec<Vec<String>> = serde_json::from_slice::<Value>(&output.stdout)
        .map(|v| serde_json::from_value(v).unwrap())
        .unwrap();
    let sampler = Sampler::new(scorers.clone());
    let mut picked = 0;
    for (i, trace) in traces.iter().enumerate() {
        let ours: Vec<&str> = sampler
            .sample(*trace)
            .into_iter()
            .map(|s| scorers[s].0.as_str())
            .collect();
        assert_eq!(ours, mlflow[i], "trace {}", ids[i]);
        picked += ours.len();
    }
    // Not vacuous: traces were kept and refused at every rate.
    assert!(mlflow.iter().any(|s| s.len() == 1));
    assert!(mlflow.iter().any(|s| s.len() >= 4));
    assert!(picked > 5000 && picked < 5000 * 7);
}
