//! `verdict eval --predict CMD` and `--predict-url URL` end to end: a
//! real Python process (or HTTP service) per run, posting real OTLP spans
//! to the run's endpoint, the spans read back from the real SQLite store
//! under each record's root span; hostile processes and real signals to
//! `verdict` itself, with no process of the predictor left behind.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use verdict_eval::RECORD_SPAN_NAME;
use verdict_export::LocalStore;

/// Sends a span to the run's endpoint (OTLP/JSON over `urllib`).
const PRELUDE: &str = r#"
import sys, os, json, time, random, urllib.request

def send_span(traceparent, name, parent=None, attributes=None, error=False):
    _, trace, call_parent, _ = traceparent.split("-")
    span = "%016x" % random.getrandbits(64)
    now = time.time_ns()
    attrs = [{"key": k, "value": {"stringValue": v}} for k, v in (attributes or {}).items()]
    body = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "predictor"}, "spans": [{
        "traceId": trace, "spanId": span, "parentSpanId": parent or call_parent, "name": name,
        "kind": 1, "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000),
        "status": {"code": 2 if error else 0}, "attributes": attrs}]}]}]}
    request = urllib.request.Request(os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"],
        data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()
    return span
"#;

/// Answers each question in capitals after a tool call, with a span for
/// the call and one for the tool; `crash` ends the process, `slow` sleeps
/// for an hour (after writing its pid and group).
const AGENT: &str = r#"
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    q = request["inputs"]["q"]
    if q == "crash":
        sys.exit(3)
    if q == "slow":
        with open(os.environ["PIDS"], "w") as f:
            f.write("%d %d\n" % (os.getpgid(0), os.getpid()))
        time.sleep(3600)
    tp = request["traceparent"]
    top = send_span(tp, "agent")
    send_span(tp, "search", parent=top, attributes={
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"})
    print(json.dumps({"id": request["id"], "outputs": q.upper()}), flush=True)
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn agent(dir: &Path) -> String {
    format!(
        "python3 {}",
        write(dir, "agent.py", &format!("{PRELUDE}{AGENT}"))
    )
}

/// A dataset of questions whose expected answer is the question in
/// capitals; no outputs.
fn questions(dir: &Path, questions: &[&str]) -> String {
    let lines: String = questions
        .iter()
        .map(|q| {
            format!(
                "{{\"inputs\": {{\"q\": \"{q}\"}}, \"expectations\": {{\"expected_response\": \"{}\"}}}}\n",
                q.to_uppercase()
            )
        })
        .collect();
    write(dir, "questions.jsonl", &lines)
}

/// Each stored record's root span, with the spans under it, by line.
fn traces(db: &Path) -> Vec<(String, Vec<verdict_store::StoredSpan>)> {
    let store = LocalStore::open(db).unwrap();
    let mut out = Vec::new();
    for trace in store.list_traces().unwrap() {
        let spans = store.spans_of(trace.trace_id).unwrap();
        let root = spans
            .iter()
            .find(|s| s.name == RECORD_SPAN_NAME)
            .expect("a record's root span");
        let line = root.attributes["verdict.eval.line"].to_string();
        out.push((line, spans.clone()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Feedback per record line and scorer: its value, or its error code.
fn results(json: &Path) -> Vec<(u64, String, Result<serde_json::Value, String>)> {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let mut out = Vec::new();
    for record in report["records"].as_array().unwrap() {
        let line = record["line"].as_u64().unwrap();
        for (scorer, result) in record["results"].as_object().unwrap() {
            let value = match result["error"].get("code").and_then(|c| c.as_str()) {
                Some(code) => Err(code.to_owned()),
                None => Ok(result["value"].clone()),
            };
            out.push((line, scorer.clone(), value));
        }
    }
    out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    out
}

#[test]
fn each_records_spans_are_stored_under_its_root_and_judged() {
    let dir = tempfile::tempdir().unwrap();
    let data = questions(dir.path(), &["paris", "rome", "oslo"]);
    let (code, stdout, stderr) = common::verdict_in(
        dir.path(),
        &[
            "eval",
            &data,
            "--predict",
            &agent(dir.path()),
            "--scorer",
            "exact_match",
            "--scorer",
            "span_status",
            "--json",
            "out.json",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let results = results(&dir.path().join("out.json"));
    assert_eq!(results.len(), 6, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(_, _, v)| v == &Ok(serde_json::json!(true))),
        "{results:?}"
    );
    let traces = traces(&dir.path().join("s.db"));
    assert_eq!(traces.len(), 3);
    for (line, spans) in &traces {
        assert_eq!(spans.len(), 3, "record {line}: {spans:#?}");
        let root = spans.iter().find(|s| s.name == RECORD_SPAN_NAME).unwrap();
        let agent = spans.iter().find(|s| s.name == "agent").unwrap();
        let search = spans.iter().find(|s| s.name == "search").unwrap();
        assert_eq!(agent.parent_span_id, Some(root.span_id), "record {line}");
        assert_eq!(search.parent_span_id, Some(agent.span_id), "record {line}");
        assert!(spans.iter().all(|s| s.trace_id == root.trace_id));
        assert_eq!(search.attributes["gen_ai.tool.name"], "search");
    }
}

#[test]
fn a_record_the_process_crashes_on_is_an_error_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = questions(dir.path(), &["paris", "crash", "oslo"]);
    let (code, stdout, stderr) = common::verdict_in(
        dir.path(),
        &[
            "eval",
            &data,
            "--predict",
            &agent(dir.path()),
            "--predict-calls",
            "1",
            "--scorer",
            "exact_match",
            "--fail-under",
            "exact_match=0.9",
            "--json",
            "out.json",
            "--store",
            "s.db",
        ],
    );
    // The crashed record is no pass: the run fails its gate.
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(
        results(&dir.path().join("out.json")),
        vec![
            (1, "exact_match".to_owned(), Ok(serde_json::json!(true))),
            (
                2,
                "exact_match".to_owned(),
                Err("PREDICT_CRASHED".to_owned())
            ),
            (3, "exact_match".to_owned(), Ok(serde_json::json!(true))),
        ]
    );
}

#[test]
fn a_command_that_cannot_start_stops_the_run_before_any_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = questions(dir.path(), &["paris", "rome"]);
    let (code, stdout, stderr) = common::verdict_in(
        dir.path(),
        &[
            "eval",
            &data,
            "--predict",
            "python3 no-such-file.py",
            "--scorer",
            "exact_match",
            "--store",
            "s.db",
        ],
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "the predictor `python3 no-such-file.py` could not be started: it exited before it \
             was ready (exited with status 2)"
        ),
        "{stderr}"
    );
    // Its own word on why, passed through.
    assert!(stderr.contains("no-such-file.py"), "{stderr}");
    let store = LocalStore::open(dir.path().join("s.db")).unwrap();
    assert!(store.list_traces().unwrap().is_empty());
}

/// `verdict eval` running over a process that hangs on its second record;
/// returns it with the predictor's group and pid once the hang began.
fn hung_run(dir: &Path) -> (std::process::Child, (i32, i32)) {
    let data = questions(dir, &["paris", "slow", "oslo"]);
    let pids = dir.join("pids");
    let child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args([
            "eval",
            &data,
            "--predict",
            &agent(dir),
            "--predict-calls",
            "1",
        ])
        .args(["--scorer", "exact_match", "--store", "s.db"])
        .current_dir(dir)
        .env("PIDS", &pids)
        .env_remove("VERDICT_PLUGIN_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut text = String::new();
    for _ in 0..2000 {
        text = std::fs::read_to_string(&pids).unwrap_or_default();
        if text.ends_with('\n') {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut ids = text.split_whitespace().map(|p| p.parse::<i32>().unwrap());
    (child, (ids.next().unwrap(), ids.next().unwrap()))
}

/// Whether `pid` is there and not a zombie.
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .to_owned();
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

/// Waits (bounded) for a process to stop running.
fn gone(pid: i32) -> bool {
    for _ in 0..500 {
        if !running(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn sigint_during_a_call_stops_the_run_and_leaves_no_predictor_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (verdict, (group, script)) = hung_run(dir.path());
    // SAFETY: kill(2) on the verdict process this test started.
    assert_eq!(unsafe { libc::kill(verdict.id() as i32, libc::SIGINT) }, 0);
    let out = verdict.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // verdict reaped its child before it exited; the script is gone too.
    assert!(!running(group), "the predictor's shell {group} survived");
    assert!(!running(script), "the predictor {script} survived");
}

#[test]
fn when_verdict_is_killed_its_predictor_dies_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut verdict, (group, script)) = hung_run(dir.path());
    verdict.kill().unwrap();
    verdict.wait().unwrap();
    // SIGKILL leaves verdict no say: the kernel kills its child (the
    // parent-death signal), and its watchdog the rest of the group (the
    // script behind the shell, asleep, would not notice otherwise).
    assert!(gone(group), "the predictor's shell {group} survived");
    assert!(gone(script), "the predictor {script} survived");
}

/// An HTTP service answering in capitals, with a span in the request's
/// trace; `fail` gets a 503.
const SERVICE: &str = r#"
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        inputs = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if inputs["q"] == "fail":
            status, body = 503, b"overloaded"
        else:
            send_span(self.headers["traceparent"], "service")
            status, body = 200, json.dumps(inputs["q"].upper()).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % server.server_address[1])
server.serve_forever()
"#;

#[test]
fn predict_url_posts_each_record_and_stores_the_services_spans() {
    let dir = tempfile::tempdir().unwrap();
    let data = questions(dir.path(), &["paris", "fail", "oslo"]);
    // A fixed port for the run's endpoint, told to the service before it
    // starts, as a user would.
    let otlp = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let script = write(dir.path(), "service.py", &format!("{PRELUDE}{SERVICE}"));
    let port_file = dir.path().join("port");
    let mut service = Command::new("python3")
        .arg(&script)
        .arg(&port_file)
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("http://{otlp}/v1/traces"),
        )
        .spawn()
        .unwrap();
    let mut port = String::new();
    for _ in 0..1000 {
        port = std::fs::read_to_string(&port_file).unwrap_or_default();
        if port.ends_with('\n') {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let url = format!("http://127.0.0.1:{}/", port.trim());
    let (code, stdout, stderr) = common::verdict_in(
        dir.path(),
        &[
            "eval",
            &data,
            "--predict-url",
            &url,
            "--predict-otlp",
            &otlp.to_string(),
            "--scorer",
            "exact_match",
            "--fail-under",
            "exact_match=0.9",
            "--json",
            "out.json",
            "--store",
            "s.db",
        ],
    );
    let _ = service.kill();
    let _ = service.wait();
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(
        results(&dir.path().join("out.json")),
        vec![
            (1, "exact_match".to_owned(), Ok(serde_json::json!(true))),
            (
                2,
                "exact_match".to_owned(),
                Err("PREDICT_FAILED".to_owned())
            ),
            (3, "exact_match".to_owned(), Ok(serde_json::json!(true))),
        ]
    );
    let report = std::fs::read_to_string(dir.path().join("out.json")).unwrap();
    assert!(report.contains("503 Service Unavailable"), "{report}");
    let traces = traces(&dir.path().join("s.db"));
    let with_service: Vec<_> = traces
        .iter()
        .filter(|(_, spans)| spans.iter().any(|s| s.name == "service"))
        .collect();
    assert_eq!(with_service.len(), 2, "{traces:#?}");
    for (_, spans) in with_service {
        let root = spans.iter().find(|s| s.name == RECORD_SPAN_NAME).unwrap();
        let service = spans.iter().find(|s| s.name == "service").unwrap();
        assert_eq!(service.parent_span_id, Some(root.span_id));
    }
}

/// The README's commands, run from the workspace root as shown.
fn readme_example(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let json = dir.join("out.json");
    let store = dir.join("s.db");
    common::text_of(
        &Command::new(env!("CARGO_BIN_EXE_verdict"))
            .args(args)
            .args(["--json", &json.display().to_string()])
            .args(["--store", &store.display().to_string()])
            .current_dir(root)
            .env_remove("VERDICT_PLUGIN_PATH")
            .output()
            .unwrap(),
    )
}

#[test]
fn the_readme_agent_is_judged_by_its_answer_and_its_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = readme_example(
        dir.path(),
        &[
            "eval",
            "examples/predict-command/capitals.jsonl",
            "--predict",
            "python3 examples/predict-command/agent.py",
            "--config",
            "examples/predict-command/verdict.toml",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let atlantis: Vec<_> = results(&dir.path().join("out.json"))
        .into_iter()
        .filter(|(line, _, _)| *line == 4)
        .map(|(_, scorer, value)| (scorer, value))
        .collect();
    let t = |b: bool| Ok(serde_json::json!(b));
    assert_eq!(
        atlantis,
        vec![
            ("exact_match".to_owned(), t(false)),
            // It called the tool as expected, which failed: the trace says so.
            ("span_status".to_owned(), t(false)),
            ("tool_calls".to_owned(), t(true)),
        ]
    );
}

#[test]
fn the_readme_shell_echo_answers_with_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = readme_example(
        dir.path(),
        &[
            "eval",
            "examples/predict-command/capitals.jsonl",
            "--predict",
            "sh examples/predict-command/echo.sh",
            "--scorer",
            "exact_match",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
            .unwrap();
    let records = report["records"].as_array().unwrap();
    assert_eq!(records.len(), 4);
    for record in records {
        assert_eq!(record["outputs"], record["inputs"]);
    }
}
