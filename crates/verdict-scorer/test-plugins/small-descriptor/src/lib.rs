//! Declares a descriptor smaller than its required fields.

use verdict_plugin::abi::Descriptor;
use verdict_plugin::{Config, ConfigError, Outcome, Record, Score, Scorer};

/// A scorer that always passes.
pub struct Pass;

impl Scorer for Pass {
    const NAME: &'static str = "small_descriptor";
    const VERSION: &'static str = "0.0.1";
    const DESCRIPTION: &'static str = "Declares a descriptor of 16 bytes.";

    fn from_config(_: &Config) -> Result<Self, ConfigError> {
        Ok(Pass)
    }

    fn score(&self, _: &Record<'_>) -> Outcome {
        Ok(Score::bool(true))
    }
}

static DESCRIPTOR: Descriptor = {
    let mut d = verdict_plugin::export::descriptor::<Pass>(verdict_plugin::abi::FLAG_PANIC_UNWIND);
    d.struct_size = 16;
    d
};

/// The entry point.
#[unsafe(no_mangle)]
pub extern "C" fn verdict_plugin_v1() -> *const Descriptor {
    &DESCRIPTOR
}
