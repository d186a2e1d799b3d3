//! `--predict CMD` through the `Predictor` trait: real Python processes,
//! real OTLP posts from them, real signals. Hostile processes first.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Record, endpoint, exists, running, script, script_exec, wait_for_file};
use serde_json::json;
use verdict_eval::predict::{PREDICT_CRASHED, PREDICT_FAILED, PREDICT_TIMEOUT, Predictor};
use verdict_predict::{CommandOptions, CommandPredictor};
use verdict_scorer::OwnedValue;

const LIMIT: Duration = Duration::from_secs(20);

/// Echoes `inputs` as `{"echo": inputs}`, except for the inputs that ask
/// for a misdeed.
const ECHO_UNLESS: &str = r#"
ready()
for request in requests():
    inputs = request["inputs"]
    do = inputs.get("do") if isinstance(inputs, dict) else None
    if do == "garbage":
        print("this is not JSON", flush=True)
    elif do == "wrong id":
        answer(request["id"] + 1000, "stolen")
    elif do == "huge":
        sys.stdout.write('{"id": %d, "outputs": "' % request["id"])
        chunk = "x" * (1 << 20)
        for _ in range(100):
            sys.stdout.write(chunk)
        sys.stdout.write('"}\n')
        sys.stdout.flush()
    elif do == "hang":
        time.sleep(3600)
    elif do == "exit":
        sys.exit(0)
    elif do == "close stdout":
        os.close(1)
        time.sleep(3600)
    elif do == "error":
        answer(request["id"], error="no such model")
    else:
        answer(request["id"], {"echo": inputs})
"#;

fn echo(dir: &std::path::Path) -> CommandPredictor {
    CommandPredictor::start(
        &script(dir, "echo", ECHO_UNLESS),
        endpoint(),
        CommandOptions::default(),
    )
    .unwrap()
}

/// After a misdeed, the next record is answered by a new process.
fn answers_again(predictor: &dyn Predictor, line: usize) {
    let prediction = Record::new(line, json!({"q": line}))
        .call(predictor, LIMIT)
        .unwrap();
    assert_eq!(
        prediction.outputs,
        OwnedValue::Json(format!("{{\"echo\":{{\"q\":{line}}}}}"))
    );
}

#[test]
fn a_line_that_is_not_json_fails_the_record_and_the_process_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let predictor = echo(dir.path());
    let error = Record::new(1, json!({"do": "garbage"}))
        .call(&predictor, LIMIT)
        .unwrap_err();
    assert_eq!(error.code(), PREDICT_FAILED);
    assert!(
        error.to_string().contains("\"this is not JSON\""),
        "{error}"
    );
    answers_again(&predictor, 2);
}

#[test]
fn an_answer_with_an_id_nobody_asked_fails_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let predictor = echo(dir.path());
    let error = Record::new(1, json!({"do": "wrong id"}))
        .call(&predictor, LIMIT)
        .unwrap_err();
    assert_eq!(error.code(), PREDICT_FAILED);
    assert!(
        error.to_string().contains("which no call was waiting for"),
        "{error}"
    );
    answers_again(&predictor, 2);
}

#[test]
fn a_100_mb_line_is_refused_past_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let predictor = echo(dir.path());
    let error = Record::new(1, json!({"do": "huge"}))
        .call(&predictor, LIMIT)
        .unwrap_err();
    assert_eq!(error.code(), PREDICT_FAILED);
    assert!(
        error.to_string().contains("longer than 16777216 bytes"),
        "{error}"
    );
    answers_again(&predictor, 2);
}

#[test]
fn a_process_that_never_answers_times_out_and_its_group_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    // The process starts a grandchild too, which must go with it.
    let command = script(
        dir.path(),
        "hang",
        &format!(
            r#"
import subprocess
helper = subprocess.Popen(["sleep", "3600"])
with open({pids:?}, "a") as f:
    f.write("%d %d %d\n" % (os.getpgid(0), os.getpid(), helper.pid))
ready()
for request in requests():
    if request["inputs"] == "hang":
        time.sleep(3600)
    answer(request["id"], "ok")
"#,
            pids = pid_file.display().to_string()
        ),
    );
    let predictor =
        CommandPredictor::start(&command, endpoint(), CommandOptions::default()).unwrap();
    let first = wait_for_file(&pid_file);
    let error = Record::new(1, json!("hang"))
        .call(&predictor, Duration::from_millis(300))
        .unwrap_err();
    assert_eq!(error.code(), PREDICT_TIMEOUT);
    // The next call starts a new process; the old one and its helper are
    // gone (the old one reaped: not even a zombie is left).
    let prediction = Record::new(2, json!("next"))
        .call(&predictor, LIMIT)
        .unwrap();
    assert_eq!(prediction.outputs, OwnedValue::String("ok".into()));
    all_gone(pids(&first));
}

/// The group leader (`verdict`'s child), the script's process, its
/// helper.
fn pids(line: &str) -> (u32, u32, u32) {
    let mut parts = line.split_whitespace().map(|p| p.parse::<u32>().unwrap());
    (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    )
}

/// The child is reaped (not even a zombie), and every process of its
/// group stops (whoever adopted them reaps them): they were sent SIGKILL,
/// which takes effect when each is next scheduled, so they are waited for
/// (bounded).
fn all_gone((leader, script, helper): (u32, u32, u32)) {
    assert!(!exists(leader), "the process {leader} was not reaped");
    let stops = |pid| {
        (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            !running(pid)
        })
    };
    assert!(stops(script), "the script {script} still runs");
    assert!(stops(helper), "its helper {helper} still runs");
}

#[test]
fn a_process_that_exits_0_mid_run_is_a_crash_and_is_started_again() {
    let dir = tempfile::tempdir().unwrap();
    let predictor = echo(dir.path());
    answers_again(&predictor, 1);
    let error = Record::new(2, json!({"do": "exit"}))
        .call(&predictor, LIMIT)
        .unwrap_err();
    assert_eq!(error.code(), PREDICT_CRASHED);
    assert!(
        error.to_string().contains("exited with status 0"),
        "{error}"
    );
    answers_again(&predictor, 3);
}

#[test]
fn a_process_that_closes_its_standard_output_is_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    // Run as the only holder of the pipe: a shell left as its parent holds
    // it open too, and then the call can only time out.
    let predictor = CommandPredictor::start(
        &script_exec(dir.path(), "echo", ECHO_UNLESS),
        endpoint(),
        CommandOptions::default(),
    )
    .unwrap();
    let error = Record::new(1, json!({"do": "close stdout"}))
        .call(&predictor, LIMIT)
        .unwrap_err();
    assert_eq!(error.code(), PREDICT_CRASHED);
    assert!(error.to_string().contains("standard output"), "{error}");
    answers_again(&predictor, 2);
}

#[test]
fn a_process_killed_with_sigkill_during_a_call_is_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let command = script(
        dir.path(),
        "victim",
        &format!(
            r#"
ready()
for request in requests():
    with open({pid:?}, "w") as f:
        f.write("%d\n" % os.getpid())
    time.sleep(3600)
"#,
            pid = pid_file.display().to_string()
        ),
    );
    let predictor =
        Arc::new(CommandPredictor::start(&command, endpoint(), CommandOptions::default()).unwrap());
    let calling = Arc::clone(&predictor);
    let call = std::thread::spawn(move || Record::new(1, json!("x")).call(&*calling, LIMIT));
    let pid: i32 = wait_for_file(&pid_file).trim().parse().unwrap();
    // SAFETY: kill(2) on the pid the script wrote, a process of this test.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let error = call.join().unwrap().unwrap_err();
    assert_eq!(error.code(), PREDICT_CRASHED);
    // Said as its parent saw it: killed by signal 9, or a shell's 137.
    assert!(
        error.to_string().contains("standard output closed"),
        "{error}"
    );
}

#[test]
fn an_error_answer_fails_the_record_and_keeps_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let command = script(
        dir.path(),
        "errors",
        &format!(
            r#"
with open({pids:?}, "a") as f:
    f.write("%d\n" % os.getpid())
ready()
for request in requests():
    if request["inputs"] == "fail":
        answer(request["id"], error="no such model")
    else:
        answer(request["id"], "ok")
"#,
            pids = pid_file.display().to_string()
        ),
    );
    let predictor =
        CommandPredictor::start(&command, endpoint(), CommandOptions::default()).unwrap();
    let error = Record::new(1, json!("fail"))
        .call(&predictor, LIMIT)
        .unwrap_err();
    assert_eq!(error.code(), PREDICT_FAILED);
    assert_eq!(error.to_string(), "the predictor failed: no such model");
    Record::new(2, json!("x")).call(&predictor, LIMIT).unwrap();
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().lines().count(),
        1
    );
}

#[test]
fn a_process_that_cannot_start_is_an_error_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.py");
    let error = CommandPredictor::start(
        &format!("python3 {}", missing.display()),
        endpoint(),
        CommandOptions::default(),
    )
    .err()
    .expect("a script that does not exist starts nothing");
    let message = error.to_string();
    assert!(
        message.contains("exited before it was ready (exited with status 2)"),
        "{message}"
    );

    let chatty = script(
        dir.path(),
        "chatty",
        "print('loading the model...', flush=True)\nready()",
    );
    let error = CommandPredictor::start(&chatty, endpoint(), CommandOptions::default())
        .err()
        .expect("a banner on standard output breaks the protocol");
    assert!(
        error
            .to_string()
            .contains("\"loading the model...\" before"),
        "{error}"
    );

    let silent = script(dir.path(), "silent", "time.sleep(3600)");
    let options = CommandOptions {
        ready_within: Duration::from_millis(300),
        ..CommandOptions::default()
    };
    let error = CommandPredictor::start(&silent, endpoint(), options)
        .err()
        .expect("a process that never says it is ready");
    assert!(
        error
            .to_string()
            .contains("did not write {\"ready\": true} within 300ms"),
        "{error}"
    );
}

#[test]
fn at_the_end_a_process_that_ignores_sigterm_and_its_children_are_killed_and_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let command = script(
        dir.path(),
        "stubborn",
        &format!(
            r#"
import signal, subprocess
signal.signal(signal.SIGTERM, signal.SIG_IGN)
helper = subprocess.Popen(["sleep", "3600"])
with open({pids:?}, "a") as f:
    f.write("%d %d %d\n" % (os.getpgid(0), os.getpid(), helper.pid))
ready()
for request in requests():
    answer(request["id"], "ok")
# Standard input closed: it stays anyway.
while True:
    time.sleep(3600)
"#,
            pids = pid_file.display().to_string()
        ),
    );
    let options = CommandOptions {
        stop_grace: Duration::from_millis(200),
        ..CommandOptions::default()
    };
    let predictor = CommandPredictor::start(&command, endpoint(), options).unwrap();
    Record::new(1, json!("x")).call(&predictor, LIMIT).unwrap();
    let started = pids(&wait_for_file(&pid_file));
    assert!(running(started.1) && running(started.2));
    drop(predictor);
    all_gone(started);
}

#[test]
fn calls_in_flight_at_once_are_matched_by_id_whatever_the_order_of_answers() {
    let dir = tempfile::tempdir().unwrap();
    // Answers the requests it has read in reverse order, two at a time
    // when it can, and one left alone once no other comes for a moment.
    let command = script(
        dir.path(),
        "reverse",
        r#"
import select
def lines():
    buffer = b""
    while True:
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield json.loads(line)
        if not select.select([0], [], [], 0.05)[0]:
            yield None
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            return
        buffer += chunk
ready()
held = []
for request in lines():
    if request is not None:
        held.append(request)
    if len(held) >= 2 or (request is None and held):
        for r in reversed(held):
            answer(r["id"], {"n": r["inputs"]["n"] * 10})
        held = []
"#,
    );
    let predictor =
        Arc::new(CommandPredictor::start(&command, endpoint(), CommandOptions::default()).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let predictor = Arc::clone(&predictor);
            std::thread::spawn(move || {
                for i in 0..25 {
                    let n = t * 100 + i;
                    let outputs = Record::new(n + 1, json!({"n": n}))
                        .call(&*predictor, LIMIT)
                        .unwrap()
                        .outputs;
                    assert_eq!(outputs, OwnedValue::Json(format!("{{\"n\":{}}}", n * 10)));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn each_call_gets_the_spans_of_its_own_trace_with_their_parents() {
    let dir = tempfile::tempdir().unwrap();
    let command = script(
        dir.path(),
        "traced",
        r#"
ready()
for request in requests():
    tp = request["traceparent"]
    top = send_span(tp, "predict", attributes={"n": str(request["inputs"]["n"])})
    send_span(tp, "tool", parent=top)
    answer(request["id"], request["inputs"])
"#,
    );
    let options = CommandOptions {
        processes: 2,
        ..CommandOptions::default()
    };
    let endpoint = endpoint();
    let predictor =
        Arc::new(CommandPredictor::start(&command, Arc::clone(&endpoint), options).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let predictor = Arc::clone(&predictor);
            std::thread::spawn(move || {
                for i in 0..10 {
                    let n = t * 10 + i;
                    let record = Record::new(n + 1, json!({"n": n}));
                    let spans = record.call(&*predictor, LIMIT).unwrap().spans;
                    assert_eq!(spans.len(), 2, "record {n}: {spans:?}");
                    assert!(spans.iter().all(|s| s.trace_id == record.trace_id));
                    let top = spans.iter().find(|s| s.name == "predict").unwrap();
                    let tool = spans.iter().find(|s| s.name == "tool").unwrap();
                    assert_eq!(top.parent_span_id, Some(record.parent));
                    assert_eq!(tool.parent_span_id, Some(top.span_id));
                    assert_eq!(top.attributes["n"], json!(n.to_string()));
                    assert_eq!(top.resource["service.name"], json!("predictor"));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(endpoint.unclaimed(), 0);
}

#[test]
fn spans_sent_after_the_answer_past_the_grace_are_not_the_records() {
    let dir = tempfile::tempdir().unwrap();
    // Answers first, then sends the span of the call before: always late.
    let command = script(
        dir.path(),
        "late",
        r#"
ready()
for request in requests():
    answer(request["id"], "ok")
    time.sleep(0.3)
    send_span(request["traceparent"], "late")
"#,
    );
    let endpoint = endpoint();
    let options = CommandOptions {
        span_grace: Duration::from_millis(50),
        ..CommandOptions::default()
    };
    let predictor = CommandPredictor::start(&command, Arc::clone(&endpoint), options).unwrap();
    let first = Record::new(1, json!("a")).call(&predictor, LIMIT).unwrap();
    assert!(first.spans.is_empty());
    // The first call's span arrives while the second waits; it is not the
    // second's.
    let second = Record::new(2, json!("b")).call(&predictor, LIMIT).unwrap();
    assert!(
        second
            .spans
            .iter()
            .all(|s| s.trace_id == Record::new(2, json!("b")).trace_id)
    );
    drop(predictor);
    assert!(endpoint.unclaimed() >= 1);
}

#[test]
fn a_call_that_fails_or_runs_out_of_time_keeps_the_spans_it_sent() {
    let dir = tempfile::tempdir().unwrap();
    let command = script(
        dir.path(),
        "gives_up",
        r#"
ready()
for request in requests():
    send_span(request["traceparent"], "before", attributes={"do": request["inputs"]})
    if request["inputs"] == "hang":
        time.sleep(3600)
    answer(request["id"], error="no such model")
"#,
    );
    let endpoint = endpoint();
    let predictor =
        CommandPredictor::start(&command, Arc::clone(&endpoint), CommandOptions::default())
            .unwrap();
    for (inputs, limit, code) in [
        ("error", LIMIT, PREDICT_FAILED),
        ("hang", Duration::from_secs(2), PREDICT_TIMEOUT),
    ] {
        let record = Record::new(1, json!(inputs));
        let (error, spans) = record.call(&predictor, limit).unwrap_err().into_parts();
        assert_eq!(error.code(), code, "{error}");
        assert_eq!(spans.len(), 1, "{inputs}: {spans:?}");
        assert_eq!(spans[0].name, "before");
        assert_eq!(spans[0].trace_id, record.trace_id);
        assert_eq!(spans[0].attributes["do"], json!(inputs));
    }
    predictor.stop();
    assert_eq!(endpoint.unclaimed(), 0);
}

#[test]
fn records_sharing_a_trace_called_side_by_side_each_get_their_own_spans() {
    use opentelemetry::trace::SpanId;
    let dir = tempfile::tempdir().unwrap();
    // Each call sends a span and a child of it, waits, and answers: the
    // calls overlap.
    let command = script(
        dir.path(),
        "shared",
        r#"
import threading
ready()
answering = threading.Lock()
def serve(request):
    tp = request["traceparent"]
    top = send_span(tp, "predict", attributes={"n": str(request["inputs"]["n"])})
    send_span(tp, "tool", parent=top)
    time.sleep(0.3)
    with answering:
        answer(request["id"], request["inputs"])
for request in requests():
    threading.Thread(target=serve, args=(request,)).start()
"#,
    );
    let endpoint = endpoint();
    let predictor = Arc::new(
        CommandPredictor::start(&command, Arc::clone(&endpoint), CommandOptions::default())
            .unwrap(),
    );
    // Records 1 to 4 name one trace, each on a span of its own, as a
    // dataset of several records per trace does.
    let shared = Record::new(1, json!(null)).trace_id;
    let threads: Vec<_> = (1..=4u64)
        .map(|n| {
            let predictor = Arc::clone(&predictor);
            std::thread::spawn(move || {
                let mut record = Record::new(n as usize, json!({"n": n}));
                record.trace_id = shared;
                record.parent = SpanId::from(0x6000 + n);
                let spans = record.call(&*predictor, LIMIT).unwrap().spans;
                assert_eq!(spans.len(), 2, "record {n}: {spans:?}");
                let top = spans.iter().find(|s| s.name == "predict").unwrap();
                assert_eq!(top.attributes["n"], json!(n.to_string()), "record {n}");
                assert_eq!(top.parent_span_id, Some(record.parent));
                let tool = spans.iter().find(|s| s.name == "tool").unwrap();
                assert_eq!(tool.parent_span_id, Some(top.span_id));
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    predictor.stop();
    assert_eq!(endpoint.unclaimed(), 0);
}

#[test]
fn a_span_of_a_record_that_comes_during_the_next_call_on_its_trace_is_not_the_next_ones() {
    use opentelemetry::trace::SpanId;
    let dir = tempfile::tempdir().unwrap();
    // Record 1 answers, and a span of its comes 0.3 s later; record 2,
    // called next on the same trace (at once: record 1's top-level span
    // came before its answer), answers 1 s after it is asked.
    let command = script(
        dir.path(),
        "late",
        r#"
import threading
ready()
for request in requests():
    tp = request["traceparent"]
    n = request["inputs"]["n"]
    top = send_span(tp, "predict %d" % n)
    if n == 1:
        threading.Timer(0.3, lambda tp=tp, top=top: send_span(tp, "late of 1", parent=top)).start()
    else:
        time.sleep(1.0)
    answer(request["id"], request["inputs"])
"#,
    );
    let endpoint = endpoint();
    let predictor =
        CommandPredictor::start(&command, Arc::clone(&endpoint), CommandOptions::default())
            .unwrap();
    let shared = Record::new(1, json!(null)).trace_id;
    for n in 1..=2u64 {
        let mut record = Record::new(n as usize, json!({ "n": n }));
        record.trace_id = shared;
        record.parent = SpanId::from(0x6000 + n);
        record.named = true;
        let spans = record.call(&predictor, LIMIT).unwrap().spans;
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [format!("predict {n}")], "record {n}");
    }
    predictor.stop();
    assert_eq!(
        endpoint.unclaimed(),
        1,
        "the late span is counted, in no record"
    );
}
