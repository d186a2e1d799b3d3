//! Shared by the service's tests: an HTTP client, and a JSON request that
//! answers its status and JSON body.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// The service's binary, running as a child process.
#[allow(dead_code)] // not every test binary runs it
pub(crate) struct Service {
    /// The process.
    pub(crate) child: Child,
    /// Its base URL.
    pub(crate) url: String,
    /// What it prints, until [`printed`](Self::printed) takes it.
    printed: Option<JoinHandle<String>>,
}

/// A test that fails does not leave its service running.
impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[allow(dead_code)] // not every test binary runs it
impl Service {
    /// Starts the binary on a free port, exporting over OTLP to `endpoint`
    /// and spooling to the store `spool`, with no standard input (it then
    /// serves until a signal); returns once it says it listens.
    pub(crate) fn start(endpoint: &str, spool: &Path) -> Service {
        Self::start_with(endpoint, spool, &[])
    }

    /// As [`start`](Self::start), with more environment variables.
    pub(crate) fn start_with(endpoint: &str, spool: &Path, vars: &[(&str, &str)]) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_instrumented-service"))
            .envs(vars.iter().copied())
            .env("VERDICT_EXPORT", "otlp")
            .env("VERDICT_STORE", spool)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
            .env("SERVICE_ADDR", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut printed = String::new();
        let url = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("the service ended first:\n{printed}"))
                .unwrap();
            printed.push_str(&line);
            printed.push('\n');
            if let Some(rest) = line.strip_prefix("listening on ") {
                break rest.split(';').next().unwrap().to_owned();
            }
        };
        // The rest of what it prints, for the failure messages.
        let printed = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                printed.push_str(&line);
                printed.push('\n');
            }
            printed
        });
        Service {
            child,
            url,
            printed: Some(printed),
        }
    }

    /// What it printed, once it has ended.
    pub(crate) fn printed(&mut self) -> String {
        self.printed
            .take()
            .map(|printed| printed.join().unwrap())
            .unwrap_or_default()
    }

    /// Sends it `signal` (such as `TERM`).
    pub(crate) fn signal(&self, signal: &str) {
        let killed = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
    }
}

/// A client that hands back 4xx and 5xx answers instead of failing on
/// them, so that tests can check the status and the error body.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// `POST url` with a JSON body: the status and the JSON answer.
pub(crate) fn post(agent: &ureq::Agent, url: &str, body: &Value) -> (u16, Value) {
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("POST {url} answered {status} with no JSON ({e}): {text}"));
    (status, json)
}

/// Asks the service at `url` a question, then gives its trace a thumbs up
/// from `bo`: the answer to the question.
#[allow(dead_code)] // not every test binary asks this way
pub(crate) fn ask_then_thumbs_up(url: &str) -> Value {
    let agent = agent();
    let (status, asked) = post(
        &agent,
        &format!("{url}/ask"),
        &serde_json::json!({"question": "When did the Eiffel Tower open?"}),
    );
    assert_eq!(status, 200, "{asked}");
    let (status, thumbs) = post(
        &agent,
        &format!("{url}/feedback"),
        &serde_json::json!({"trace_id": asked["trace_id"], "thumbs": "up", "user": "bo"}),
    );
    assert_eq!(status, 202, "{thumbs}");
    asked
}

/// Checks that `receiver` holds the asked trace (`tr-…`): its four spans,
/// and its two evaluations (the inline `length` check and the thumbs up),
/// every one on that trace.
#[allow(dead_code)] // not every test binary exports to OTLP
pub(crate) fn assert_collector_has(receiver: &verdict_export::testing::OtlpReceiver, trace: &str) {
    let trace = trace.trim_start_matches("tr-");
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let spans = receiver.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    for name in ["POST /ask", "answer", "retrieve", "generate"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(spans.iter().all(|s| hex(&s.trace_id) == trace));

    let evaluations: Vec<String> = receiver
        .log_records()
        .iter()
        .inspect(|r| assert_eq!(hex(&r.trace_id), trace))
        .filter_map(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "gen_ai.evaluation.name")
                .map(|kv| format!("{:?}", kv.value))
        })
        .collect();
    assert_eq!(evaluations.len(), 2, "{evaluations:?}");
    assert!(evaluations.iter().any(|e| e.contains("length")));
    assert!(evaluations.iter().any(|e| e.contains("thumbs_up")));
}
