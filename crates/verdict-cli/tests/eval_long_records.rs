//! A record is at most 64 MiB in every format: a longer JSON line or CSV
//! row is an invalid record (which `--skip-invalid` counts), reported as
//! soon as it is known to be too long, and a stream that never ends a line
//! (`/dev/zero`) is refused once it has gone past the cap, never read into
//! memory until an allocation aborts. The real binary, reading real pipes.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::text_of;

/// The cap, as the messages give it.
const CAP: &str = "longer than 64 MiB (67108864 bytes)";

/// Long enough for any machine; reached only by a hang.
const WATCHDOG: Duration = Duration::from_secs(300);

/// `verdict eval -` with `args`, in `dir`, reading from a pipe.
fn eval_stdin(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["eval", "-", "--scorer", "exact_match", "--store", "v.db"])
        .args(args)
        .current_dir(dir)
        .env_remove("VERDICT_PLUGIN_PATH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Writes `parts` to the child's standard input, a MiB at a time, and
/// closes it: how many bytes the child took before it stopped reading.
fn feed(child: &mut Child, parts: Vec<Part>) -> JoinHandle<u64> {
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let mut written = 0u64;
        let chunk = vec![0u8; 1 << 20];
        for part in parts {
            let result = match part {
                Part::Text(text) => stdin.write_all(text.as_bytes()).map(|()| text.len()),
                Part::Repeat(byte, n) => {
                    let chunk: Vec<u8> = chunk.iter().map(|_| byte).collect();
                    let mut left = n;
                    let mut result = Ok(0);
                    while left > 0 {
                        let take = left.min(chunk.len());
                        if let Err(e) = stdin.write_all(&chunk[..take]) {
                            result = Err(e);
                            break;
                        }
                        written += take as u64;
                        left -= take;
                    }
                    result
                }
            };
            match result {
                Ok(n) => written += n as u64,
                // The reader stopped reading: what it took is counted.
                Err(_) => return written,
            }
        }
        written
    })
}

/// What a test writes: text, or a byte many times.
enum Part {
    Text(String),
    Repeat(u8, usize),
}

/// Waits for the child; a hang fails the test instead of blocking it.
fn finish(mut child: Child) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > WATCHDOG {
            child.kill().unwrap();
            panic!("verdict eval hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

const GOOD: &str = r#"{"inputs": "q", "outputs": "a", "expectations": {"expected_response": "a"}}"#;

#[test]
fn a_json_line_over_64_mib_is_an_invalid_record_that_skip_invalid_counts() {
    let dir = tempfile::tempdir().unwrap();
    // A record that is valid JSON, only too long: 65 MiB of input.
    let mut child = eval_stdin(dir.path(), &["--format", "jsonl", "--skip-invalid"]);
    let fed = feed(
        &mut child,
        vec![
            Part::Text(format!("{GOOD}\n{{\"inputs\": \"")),
            Part::Repeat(b'x', 65 << 20),
            Part::Text(format!(
                "\", \"outputs\": \"a\", \"expectations\": {{\"expected_response\": \"a\"}}}}\n{GOOD}\n"
            )),
        ],
    );
    let out = finish(child);
    fed.join().unwrap();
    let (code, stdout, stderr) = text_of(&out);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // The records around it are read and scored; it is counted as invalid.
    assert!(stdout.contains("· 2 records + 1 invalid ·"), "{stdout}");
    let said = format!("invalid line 2: the line is {CAP}");
    assert!(stdout.contains(&said), "{stdout}");
}

#[test]
fn a_csv_row_over_64_mib_is_an_invalid_record_that_skip_invalid_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = eval_stdin(dir.path(), &["--format", "csv", "--skip-invalid"]);
    // A quoted cell of 65 MiB, over lines.
    let fed = feed(
        &mut child,
        vec![
            Part::Text("input,output,expected\nq,a,a\nq,\"".to_owned()),
            Part::Repeat(b'\n', 65 << 20),
            Part::Text("\",a\nq,a,a\n".to_owned()),
        ],
    );
    let out = finish(child);
    fed.join().unwrap();
    let (code, stdout, stderr) = text_of(&out);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("· 2 records + 1 invalid ·"), "{stdout}");
    let said = format!("invalid line 3: the row is {CAP}");
    assert!(stdout.contains(&said), "{stdout}");
}

#[test]
fn a_stream_that_never_ends_its_line_is_refused_not_read_into_memory() {
    for format in [&["--format", "jsonl"][..], &[]] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = eval_stdin(dir.path(), format);
        // 256 MiB of zeros, no newline.
        let fed = feed(&mut child, vec![Part::Repeat(0, 256 << 20)]);
        let out = finish(child);
        fed.join().unwrap();
        let (code, stdout, stderr) = text_of(&out);
        assert_eq!(code, 2, "{format:?}: {stdout}{stderr}");
        // Without a format, bytes that are not JSON are read as CSV: its
        // header row is what is too long.
        let said = if format.is_empty() {
            format!("its header row: the row is {CAP}")
        } else {
            format!(":1: the line is {CAP}")
        };
        assert!(stderr.contains(&said), "{format:?}: {stderr}");
    }
}

/// `verdict eval /dev/zero` with `args`: its exit code and standard error.
#[cfg(target_os = "linux")]
fn dev_zero(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args([
            "eval",
            "/dev/zero",
            "--scorer",
            "exact_match",
            "--store",
            "v.db",
        ])
        .args(args)
        .current_dir(dir.path())
        .env_remove("VERDICT_PLUGIN_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, _, stderr) = text_of(&finish(child));
    (code, stderr)
}

#[cfg(target_os = "linux")]
#[test]
fn dev_zero_is_refused_and_never_read_for_ever() {
    // Read as CSV: a header row past the cap.
    let (code, stderr) = dev_zero(&[]);
    assert_eq!(code, 2, "{stderr}");
    let said = format!("its header row: the row is {CAP}");
    assert!(stderr.contains(&said), "{stderr}");
    // As JSON lines: an invalid first record stops the run.
    let (code, stderr) = dev_zero(&["--format", "jsonl"]);
    assert_eq!(code, 2, "{stderr}");
    let said = format!(":1: the line is {CAP}");
    assert!(stderr.contains(&said), "{stderr}");
    // Skipping invalid records, the line is skipped as far as 16 times the
    // cap; then reading stops, and the run with it.
    let (code, stderr) = dev_zero(&["--format", "jsonl", "--skip-invalid"]);
    assert_eq!(code, 2, "{stderr}");
    let said = "a line goes on for more than 1024 MiB (1073741824 bytes) without ending";
    assert!(stderr.contains(said), "{stderr}");
    // As a JSON array: it is none, and is not read on.
    let (code, stderr) = dev_zero(&["--format", "json"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(":1: not a JSON array"), "{stderr}");
}
