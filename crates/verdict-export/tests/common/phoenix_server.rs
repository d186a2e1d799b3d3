//! A real Arize Phoenix server for tests: installed (cached) and started by
//! `scripts/phoenix/start.sh` in a temporary directory, on free 127.0.0.1
//! ports, and stopped — its whole process group — by
//! `scripts/phoenix/stop.sh` when the guard is dropped, panics included.
//!
//! What the tests read back goes through Phoenix's own REST API.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running server; dropping it stops the server.
pub(crate) struct PhoenixServer {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    /// How long starting it took (install check included).
    pub(crate) startup: Duration,
    /// The bearer token it takes, when it authenticates.
    key: Option<String>,
    dir: tempfile::TempDir,
    agent: ureq::Agent,
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../scripts/phoenix/{name}"))
}

impl PhoenixServer {
    /// Starts a server without authentication.
    pub(crate) fn start() -> PhoenixServer {
        Self::start_with(None)
    }

    /// Starts a server that takes `key` (its admin secret) as a bearer
    /// token, and refuses requests without it.
    pub(crate) fn start_with(key: Option<&str>) -> PhoenixServer {
        let dir = tempfile::Builder::new()
            .prefix("verdict-phoenix-")
            .tempdir()
            .expect("temporary directory");
        let start = Instant::now();
        let mut command = Command::new("bash");
        command
            .arg(script("start.sh"))
            .arg(dir.path())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        match key {
            Some(key) => command.env("VERDICT_PHOENIX_ADMIN_SECRET", key),
            None => command.env_remove("VERDICT_PHOENIX_ADMIN_SECRET"),
        };
        let output = command.output().expect("run scripts/phoenix/start.sh");
        let url = String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let server = PhoenixServer {
            url,
            startup: start.elapsed(),
            key: key.map(str::to_owned),
            dir,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
        };
        assert!(
            output.status.success() && server.url.starts_with("http://"),
            "scripts/phoenix/start.sh failed ({}); is python3 with venv available? Run \
             scripts/phoenix/install.sh to see why",
            output.status
        );
        server
    }

    /// The directory of its state: `server.log`, `work/`.
    #[allow(dead_code)] // Not every test binary reads the log.
    pub(crate) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `GET {url}{path}`: the status and the JSON answer (`null` if the
    /// body is not JSON).
    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        let mut request = self.agent.get(format!("{}{path}", self.url));
        if let Some(key) = &self.key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let mut response = request.call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// The id of project `name`.
    pub(crate) fn project_id(&self, name: &str) -> String {
        let (status, projects) = self.get("/v1/projects?limit=1000");
        assert_eq!(status, 200, "{projects}");
        projects["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no project {name:?}: {projects}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Every annotation of `level` (`span` or `trace`) on `targets` in the
    /// project, through Phoenix's REST API.
    pub(crate) fn annotations(&self, project: &str, level: &str, targets: &[String]) -> Vec<Value> {
        let id = self.project_id(project);
        let query: Vec<String> = targets.iter().map(|t| format!("{level}_ids={t}")).collect();
        let (status, answer) = self.get(&format!(
            "/v1/projects/{id}/{level}_annotations?limit=1000&{}",
            query.join("&")
        ));
        assert_eq!(status, 200, "{answer}");
        answer["data"].as_array().unwrap().clone()
    }

    /// The spans of the project (up to 1,000), through Phoenix's REST API.
    pub(crate) fn spans(&self, project: &str) -> Vec<Value> {
        let id = self.project_id(project);
        let (status, answer) = self.get(&format!("/v1/projects/{id}/spans?limit=1000"));
        assert_eq!(status, 200, "{answer}");
        answer["data"].as_array().unwrap().clone()
    }
}

impl Drop for PhoenixServer {
    fn drop(&mut self) {
        let status = Command::new("bash")
            .arg(script("stop.sh"))
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!(
                "scripts/phoenix/stop.sh {} failed: {status:?}",
                self.dir.path().display()
            );
        }
    }
}
