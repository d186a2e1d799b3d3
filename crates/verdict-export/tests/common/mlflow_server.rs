//! A real MLflow tracking server for tests: installed (cached) and started
//! by `scripts/mlflow/start.sh` in a temporary directory, on a free
//! 127.0.0.1 port, and stopped — its whole process group — by
//! `scripts/mlflow/stop.sh` when the guard is dropped, panics included.
//!
//! A test binary owns one server by running its checks inside one
//! `#[test]` function that holds the guard: statics are never dropped, so a
//! server shared through a `OnceLock` would outlive the tests.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running server; dropping it stops the server.
pub(crate) struct MlflowServer {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    /// How long starting it took (install check included).
    pub(crate) startup: Duration,
    dir: tempfile::TempDir,
    agent: ureq::Agent,
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../scripts/mlflow/{name}"))
}

impl MlflowServer {
    /// Starts a server; panics with the script's message when it cannot.
    pub(crate) fn start() -> MlflowServer {
        let dir = tempfile::Builder::new()
            .prefix("verdict-mlflow-")
            .tempdir()
            .expect("temporary directory");
        let start = Instant::now();
        let output = Command::new("bash")
            .arg(script("start.sh"))
            .arg(dir.path())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/mlflow/start.sh");
        let startup = start.elapsed();
        let url = String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let server = MlflowServer {
            url,
            startup,
            dir,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
        };
        assert!(
            output.status.success() && server.url.starts_with("http://"),
            "scripts/mlflow/start.sh failed ({}); is python3 with venv available? Run \
             scripts/mlflow/install.sh to see why",
            output.status
        );
        server
    }

    /// The directory of its state: `server.log`, `mlflow.db`.
    #[allow(dead_code)] // Not every test binary reads the log.
    pub(crate) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `GET {url}{path}`: the status and the JSON answer (`null` if the
    /// body is not JSON).
    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.url))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

/// The Python of the cached MLflow virtualenv that `scripts/mlflow/install.sh`
/// makes (and prints): MLflow's own client, to read back what arrived.
#[allow(dead_code)] // Not every test binary reads back with MLflow's client.
pub(crate) fn mlflow_python() -> PathBuf {
    let out = Command::new("bash")
        .arg(script("install.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/mlflow/install.sh");
    assert!(out.status.success(), "scripts/mlflow/install.sh failed");
    let venv = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    PathBuf::from(venv).join("bin/python")
}

impl MlflowServer {
    /// Runs `code` with MLflow's own Python client against this server
    /// (`MLFLOW_TRACKING_URI` set), `args` as `sys.argv[1:]`; returns the
    /// JSON of the last line it prints.
    #[allow(dead_code)] // Not every test binary reads back with MLflow's client.
    pub(crate) fn python(&self, code: &str, args: &[&str]) -> Value {
        let out = Command::new(mlflow_python())
            .arg("-c")
            .arg(code)
            .args(args)
            .env("MLFLOW_TRACKING_URI", &self.url)
            .env_remove("MLFLOW_EXPERIMENT_ID")
            .output()
            .expect("run MLflow's Python client");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "python {args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        let status = Command::new("bash")
            .arg(script("stop.sh"))
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!(
                "scripts/mlflow/stop.sh {} failed: {status:?}",
                self.dir.path().display()
            );
        }
    }
}
