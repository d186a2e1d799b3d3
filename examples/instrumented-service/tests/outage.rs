//! The service against a collector that fails: the real binary, over OTLP.
//!
//! - A collector that accepts connections and never answers (the hostile
//!   case: every request waits out its whole timeout): SIGTERM stops the
//!   service within Kubernetes' 30 s grace period, with everything it
//!   recorded in the local store's spool; the next start listens at once
//!   (nothing of the spool's replay runs on the starting thread), and
//!   sends what was spooled once a real receiver answers — exactly once.
//! - A collector that is not there at all while requests are served, then
//!   comes up: every span and assessment arrives exactly once.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Service, agent, ask_then_thumbs_up};
use serde_json::Value;
use verdict::Assessment;
use verdict_export::testing::{HangingReceiver, OtlpReceiver};
use verdict_export::{LocalStore, StoredSpan};

/// The grace period Kubernetes gives between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(30);

/// How long a receiver that came up may take to get what waited.
const DELIVERY: Duration = Duration::from_secs(120);

/// Asks `n` questions, each given a thumbs up: the trace ids (hex).
fn serve(url: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let asked = ask_then_thumbs_up(url);
            hex_of(&asked)
        })
        .collect()
}

fn hex_of(asked: &Value) -> String {
    asked["trace_id"]
        .as_str()
        .unwrap()
        .trim_start_matches("tr-")
        .to_owned()
}

/// What waits in the spool at `path`: per trace (hex), the span lines
/// and the assessment lines.
fn spooled(path: &Path) -> HashMap<String, (usize, usize)> {
    let store = LocalStore::open(path).unwrap();
    let mut per_trace: HashMap<String, (usize, usize)> = HashMap::new();
    for row in store.spooled("otlp", None, false).unwrap() {
        let json: Value = serde_json::from_str(&row.line).unwrap();
        if json["type"] == "span" {
            let span = StoredSpan::from_mlflow_json(&json).unwrap();
            per_trace
                .entry(format!("{:032x}", span.trace_id))
                .or_default()
                .0 += 1;
        } else {
            let assessment = Assessment::from_json(&row.line).unwrap();
            per_trace
                .entry(format!("{:032x}", assessment.trace_id()))
                .or_default()
                .1 += 1;
        }
    }
    per_trace
}

/// Per trace (hex), the spans and the evaluation events a receiver got.
fn received(receiver: &OtlpReceiver) -> HashMap<String, (usize, usize)> {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut per_trace: HashMap<String, (usize, usize)> = HashMap::new();
    for span in receiver.spans() {
        per_trace.entry(hex(&span.trace_id)).or_default().0 += 1;
    }
    for record in receiver.log_records() {
        per_trace.entry(hex(&record.trace_id)).or_default().1 += 1;
    }
    per_trace
}

/// Every trace asked has its 4 spans and its 2 evaluations (the inline
/// check and the thumbs up) in `got`, each once, and nothing else is there.
fn assert_each_once(got: &HashMap<String, (usize, usize)>, traces: &[String]) {
    for trace in traces {
        assert_eq!(got.get(trace), Some(&(4, 2)), "trace {trace} in {got:?}");
    }
    assert_eq!(got.len(), traces.len(), "{got:?}");
}

/// Stops the service with SIGTERM and waits for it: how long it took, and
/// whether it exited successfully, with what it printed.
fn stop(mut service: Service) -> (Duration, bool, String) {
    let start = Instant::now();
    service.signal("TERM");
    let exit = service.child.wait().unwrap();
    let took = start.elapsed();
    (took, exit.success(), service.printed())
}

#[test]
fn a_hanging_collector_neither_holds_up_stopping_nor_starting_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("verdict.db");
    let hanging = HangingReceiver::start().unwrap();
    let endpoint = hanging.endpoint();
    let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();

    let service = Service::start(&endpoint, &spool);
    let traces = serve(&service.url, 5);
    let (took, success, printed) = stop(service);
    assert!(took < GRACE, "stopping took {took:?}\n{printed}");
    assert!(success, "{printed}");
    assert!(hanging.connections() > 0, "the collector was never tried");
    // Everything recorded waits in the spool (a request that timed out
    // may have reached the collector too: delivery is at least once).
    let waiting = spooled(&spool);
    for trace in &traces {
        let (spans, assessments) = waiting.get(trace).copied().unwrap_or_default();
        assert!(spans >= 4 && assessments >= 2, "{trace}: {waiting:?}");
    }

    // The next start listens and serves while its spool's replay hangs.
    let service = Service::start(&endpoint, &spool);
    let mut health = agent()
        .get(format!("{}/health", service.url))
        .call()
        .unwrap();
    assert_eq!(health.body_mut().read_to_string().unwrap(), "\"ok\"");
    assert_eq!(spooled(&spool), waiting, "nothing can have been delivered");

    // A real collector comes up where the hanging one was: what waited
    // arrives, each once.
    drop(hanging);
    let receiver = OtlpReceiver::start_on(port).unwrap();
    everything_arrives_once_and_it_stops_in_time(&receiver, service, &traces, &spool);
}

#[test]
fn a_collector_down_while_requests_are_served_gets_everything_once_when_it_comes_up() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("verdict.db");
    // Nobody listens on this port yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let service = Service::start(&format!("http://127.0.0.1:{port}"), &spool);
    let mut traces = serve(&service.url, 20);
    // The collector comes up while the service serves.
    let receiver = OtlpReceiver::start_on(port).unwrap();
    traces.extend(serve(&service.url, 20));
    everything_arrives_once_and_it_stops_in_time(&receiver, service, &traces, &spool);
}

/// Every span and assessment of `traces` reaches `receiver`, the service
/// then stops within the grace period, each arrived once, and nothing is
/// left in the spool.
fn everything_arrives_once_and_it_stops_in_time(
    receiver: &OtlpReceiver,
    service: Service,
    traces: &[String],
    spool: &Path,
) {
    let all = traces.len() as u64;
    assert!(
        receiver.wait_for(4 * all, 2 * all, DELIVERY),
        "{:?}",
        received(receiver)
    );
    let (took, success, printed) = stop(service);
    assert!(took < GRACE, "stopping took {took:?}\n{printed}");
    assert!(success, "{printed}");
    assert_each_once(&received(receiver), traces);
    assert!(spooled(spool).is_empty(), "{:?}", spooled(spool));
}

/// How long what was recorded may sit in memory while the collector
/// hangs, as the service is set up in this test: the spool's `max_delay`
/// (5 s: the first call to the hanging collector is given up then, and
/// what follows is spooled at once) after the batch span processor's
/// schedule delay (set to 200 ms here). Doubled, for a loaded machine.
const IN_MEMORY_AT_MOST: Duration = Duration::from_millis(2 * (5_000 + 200));

#[test]
fn kill_9_loses_nothing_recorded_longer_ago_than_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("verdict.db");
    let hanging = HangingReceiver::start().unwrap();

    let mut service = Service::start_with(
        &hanging.endpoint(),
        &spool,
        &[("OTEL_BSP_SCHEDULE_DELAY", "200")],
    );
    let traces = serve(&service.url, 5);
    std::thread::sleep(IN_MEMORY_AT_MOST);
    service.signal("KILL");
    let exit = service.child.wait().unwrap();
    assert!(!exit.success());
    let waiting = spooled(&spool);
    for trace in &traces {
        let (spans, assessments) = waiting.get(trace).copied().unwrap_or_default();
        assert!(spans >= 4 && assessments >= 2, "{trace}: {waiting:?}");
    }
}

/// Written ahead (`VERDICT_WRITE_AHEAD=1`), `kill -9` loses nothing the
/// spool was handed, even in the middle of a call to the collector: with
/// a collector that never answers, and the spool's `max_delay` and the
/// exporter's timeout an hour each, the trace and its assessments are in
/// the spool while the call to the collector still hangs, and they are
/// there after the kill. (Without write-ahead they would sit in memory for
/// that hour, and the kill would lose them.)
#[test]
fn kill_9_in_the_middle_of_a_call_loses_nothing_written_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("verdict.db");
    let hanging = HangingReceiver::start().unwrap();

    let mut service = Service::start_with(
        &hanging.endpoint(),
        &spool,
        &[
            ("VERDICT_WRITE_AHEAD", "1"),
            ("VERDICT_SPOOL_MAX_DELAY_MS", "3600000"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "3600000"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    let trace = serve(&service.url, 1).remove(0);
    // Wait (generously) until the trace's 4 spans and 2 assessments are
    // in the spool and the call to the collector is under way.
    let start = Instant::now();
    loop {
        let waiting = spooled(&spool);
        if waiting.get(&trace) == Some(&(4, 2)) && hanging.connections() > 0 {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            // Not left serving after the test.
            service.signal("KILL");
            panic!(
                "not in the spool while the collector hangs: {waiting:?}, {} connections",
                hanging.connections()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    service.signal("KILL");
    let exit = service.child.wait().unwrap();
    assert!(!exit.success());
    let waiting = spooled(&spool);
    assert_eq!(waiting.get(&trace), Some(&(4, 2)), "{waiting:?}");
    assert_eq!(waiting.len(), 1, "{waiting:?}");
}
