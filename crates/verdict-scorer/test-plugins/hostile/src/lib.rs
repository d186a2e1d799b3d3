//! Exact match of the output against `expected_response`, except on a
//! record whose output is `boom`, where it does what its `mode` says:
//! `segfault` (writes through a null pointer), `abort`, `stack_overflow`
//! (recurses until its stack runs out), `loop` (for ever), `exit`
//! (`std::process::exit(0)`), or `hog` (allocates and touches 16 MiB at a
//! time until an allocation fails, which aborts).

use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Record, Score, ScoreError, Scorer};

/// The hostile scorer.
pub struct Hostile {
    mode: String,
}

/// Recurses until the stack runs out (`black_box` hides from the compiler
/// that the depth never reaches `u64::MAX`), each frame holding a
/// kilobyte the optimizer keeps.
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth as u8; 1024]);
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + u64::from(frame[(depth % 1024) as usize])
}

fn misbehave(mode: &str) {
    match mode {
        "segfault" => {
            let nowhere: *mut u8 = std::hint::black_box(std::ptr::null_mut());
            // SAFETY: none; crashing is the point.
            unsafe { nowhere.write_volatile(1) };
        }
        "abort" => std::process::abort(),
        "stack_overflow" => {
            std::hint::black_box(recurse(0));
        }
        "loop" => loop {
            std::hint::black_box(0);
        },
        "exit" => std::process::exit(0),
        "hog" => {
            let mut kept = Vec::new();
            loop {
                kept.push(vec![1u8; 16 << 20]);
                std::hint::black_box(&kept);
            }
        }
        _ => {}
    }
}

impl Scorer for Hostile {
    const NAME: &'static str = "hostile";
    const VERSION: &'static str = "0.0.1";
    const DESCRIPTION: &'static str = "Exact match that crashes, hangs or exits on \"boom\".";
    const CONFIG_KEYS: &'static [ConfigKey] = &[ConfigKey::new(
        "mode",
        "one of: segfault, abort, stack_overflow, loop, exit, hog",
        "",
        "what to do on a record whose output is \"boom\"",
    )];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let modes = ["segfault", "abort", "stack_overflow", "loop", "exit", "hog"];
        Ok(Hostile {
            mode: config
                .one_of("mode", &modes)?
                .unwrap_or_default()
                .to_owned(),
        })
    }

    fn score(&self, record: &Record<'_>) -> Outcome {
        let output = record.outputs.text();
        if output == "boom" {
            misbehave(&self.mode);
        }
        let expected = record
            .expectation("expected_response")
            .ok_or_else(|| ScoreError::missing_expectation("expected_response"))?;
        Ok(Score::bool(output == expected.text()))
    }
}

verdict_plugin::export_plugin!(Hostile);
