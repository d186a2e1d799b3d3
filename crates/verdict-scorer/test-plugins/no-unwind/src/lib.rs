//! A correct scorer whose descriptor lacks the panic-unwind flag, as a
//! plugin built with `panic = "abort"` has.

use verdict_plugin::abi::Descriptor;
use verdict_plugin::{Config, ConfigError, Outcome, Record, Score, Scorer};

/// A scorer that always passes.
pub struct Pass;

impl Scorer for Pass {
    const NAME: &'static str = "no_unwind";
    const VERSION: &'static str = "0.0.1";
    const DESCRIPTION: &'static str = "Always passes; claims to be built with panic=abort.";

    fn from_config(_: &Config) -> Result<Self, ConfigError> {
        Ok(Pass)
    }

    fn score(&self, _: &Record<'_>) -> Outcome {
        Ok(Score::bool(true))
    }
}

static DESCRIPTOR: Descriptor = verdict_plugin::export::descriptor::<Pass>(0);

/// The entry point, with a descriptor whose flags omit panic-unwind.
#[unsafe(no_mangle)]
pub extern "C" fn verdict_plugin_v1() -> *const Descriptor {
    &DESCRIPTOR
}
