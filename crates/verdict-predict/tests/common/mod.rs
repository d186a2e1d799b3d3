//! Real predictor processes for the tests: Python scripts written into a
//! temporary directory, speaking the protocol and posting real OTLP/JSON
//! to the run's endpoint with the standard library's `urllib`.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId};
use verdict_eval::predict::{Call, PredictError, Prediction, Predictor};
use verdict_predict::SpanEndpoint;
use verdict_scorer::OwnedValue;

/// What every test script starts with: `send_span(traceparent, name)`
/// posts one span as OTLP/JSON to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
/// `ready()` says the process can take requests, `answer(...)` writes one
/// answer line.
pub(crate) const PRELUDE: &str = r#"
import sys, os, json, time, random, urllib.request

def send_span(traceparent, name, parent=None, attributes=None):
    _, trace, call_parent, _ = traceparent.split("-")
    span = "%016x" % random.getrandbits(64)
    now = time.time_ns()
    attrs = [{"key": k, "value": {"stringValue": v}} for k, v in (attributes or {}).items()]
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "predictor"}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": [{
            "traceId": trace, "spanId": span, "parentSpanId": parent or call_parent, "name": name,
            "kind": 1, "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000),
            "attributes": attrs}]}]}]}
    request = urllib.request.Request(os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"],
        data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()
    return span

def ready():
    print(json.dumps({"ready": True}), flush=True)

def answer(id, outputs=None, error=None):
    line = {"id": id}
    if error is not None:
        line["error"] = error
    else:
        line["outputs"] = outputs
    print(json.dumps(line), flush=True)

def requests():
    for line in sys.stdin:
        yield json.loads(line)
"#;

/// Writes a script (the prelude, then `body`) and returns the command
/// line that runs it as users write one: `python3 PATH`, which may go
/// through shells and version managers that stay as its parents.
pub(crate) fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(format!("{name}.py"));
    std::fs::write(&path, format!("{PRELUDE}\n{body}\n")).unwrap();
    format!("python3 {}", path.display())
}

/// The same, with the shell replaced by the interpreter itself (`exec`),
/// so that the process is the only one holding its standard output.
pub(crate) fn script_exec(dir: &Path, name: &str, body: &str) -> String {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let python = PYTHON.get_or_init(|| {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    });
    let command = script(dir, name, body);
    format!("exec {python} {}", command.trim_start_matches("python3 "))
}

/// A span endpoint on a free loopback port.
pub(crate) fn endpoint() -> Arc<SpanEndpoint> {
    Arc::new(SpanEndpoint::start(([127, 0, 0, 1], 0).into()).unwrap())
}

/// One record's call: `inputs` as JSON, a fresh trace, a root span.
pub(crate) struct Record {
    pub(crate) line: usize,
    pub(crate) inputs: OwnedValue,
    pub(crate) trace_id: TraceId,
    pub(crate) parent: SpanId,
    /// Whether the dataset named its trace (others may be on it).
    pub(crate) named: bool,
}

impl Record {
    pub(crate) fn new(line: usize, inputs: serde_json::Value) -> Self {
        Record {
            line,
            inputs: OwnedValue::from(inputs),
            trace_id: TraceId::from(0x7000_0000_0000_0000_0000_0000_0000_0000u128 + line as u128),
            parent: SpanId::from(0x5000_0000_0000_0000u64 + line as u64),
            named: false,
        }
    }

    pub(crate) fn call(
        &self,
        predictor: &dyn Predictor,
        limit: Duration,
    ) -> Result<Prediction, PredictError> {
        predictor.predict(Call {
            line: self.line,
            inputs: &self.inputs,
            trace_id: self.trace_id,
            parent_span_id: self.parent,
            named_trace: self.named,
            time_limit: limit,
        })
    }
}

/// Whether process `pid` still exists (a zombie counts: it was not reaped).
pub(crate) fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether `pid` is running (not gone, not a zombie): for a grandchild,
/// which whoever adopts it reaps.
pub(crate) fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Waits (bounded) for a file a script writes, and reads it.
pub(crate) fn wait_for_file(path: &Path) -> String {
    for _ in 0..1000 {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{} was never written", path.display());
}
