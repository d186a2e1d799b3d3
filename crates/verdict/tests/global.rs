//! The process-wide recorder. Global state is shared by every test of a
//! binary, and tests run in parallel, so this binary has a single test that
//! walks through the whole sequence.

use verdict::{Assessment, InMemorySink, Recorder, RecorderError, global};

fn feedback() -> Assessment {
    Assessment::feedback("ok", true)
        .on_trace("0fb07256509eb9d22d07f42f7eb9f24d", None)
        .unwrap()
}

#[test]
fn global_recorder_lifecycle() {
    // Before one is installed: a clear error, not a silent no-op.
    let err = global::record(feedback()).unwrap_err();
    assert!(matches!(err, RecorderError::NoGlobalRecorder), "{err:?}");
    assert!(err.to_string().contains("set_recorder"), "{err}");
    assert!(matches!(
        global::recorder(),
        Err(RecorderError::NoGlobalRecorder)
    ));
    // Shutting down with none installed is fine.
    global::shutdown().unwrap();

    // Install one; record from anywhere.
    let first_sink = InMemorySink::default();
    let previous = global::set_recorder(Recorder::builder().sink(first_sink.clone()).build());
    assert!(previous.is_none());
    let a = global::record(feedback()).unwrap();
    let from_thread = std::thread::spawn(|| global::record(feedback()).unwrap())
        .join()
        .unwrap();
    let handle = global::recorder().unwrap();
    handle.flush().unwrap();
    let ids: Vec<_> = first_sink.assessments().iter().map(|a| a.id()).collect();
    assert_eq!(ids, vec![a, from_thread]);

    // Replacing returns the old one, which keeps running until shut down.
    let second_sink = InMemorySink::default();
    let old = global::set_recorder(Recorder::builder().sink(second_sink.clone()).build())
        .expect("the first recorder is returned");
    let b = global::record(feedback()).unwrap();
    let c = old.record(feedback()).unwrap();
    old.shutdown().unwrap();
    assert_eq!(first_sink.assessments().len(), 3);
    assert_eq!(first_sink.assessments()[2].id(), c);
    assert!(matches!(
        handle.record(feedback()),
        Err(RecorderError::Shutdown)
    ));

    // Shutdown removes the global recorder and delivers what is queued.
    let second_handle = global::recorder().unwrap();
    let d = global::record(feedback()).unwrap();
    global::shutdown().unwrap();
    let ids: Vec<_> = second_sink.assessments().iter().map(|a| a.id()).collect();
    assert_eq!(ids, vec![b, d]);
    assert!(matches!(
        second_handle.record(feedback()),
        Err(RecorderError::Shutdown)
    ));

    // Back to no recorder.
    assert!(matches!(
        global::record(feedback()),
        Err(RecorderError::NoGlobalRecorder)
    ));
    assert!(matches!(
        global::recorder(),
        Err(RecorderError::NoGlobalRecorder)
    ));
    global::shutdown().unwrap();
}
