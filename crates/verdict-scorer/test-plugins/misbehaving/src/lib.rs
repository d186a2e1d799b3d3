//! Panics on records whose output contains `panic`, returns NaN for `nan`,
//! and panics while reading a config with `"panic_in_create": true`.

use verdict_plugin::{Config, ConfigError, ConfigKey, Outcome, Record, Score, Scorer};

/// The misbehaving scorer.
pub struct Misbehaving;

impl Scorer for Misbehaving {
    const NAME: &'static str = "misbehaving";
    const VERSION: &'static str = "0.0.1";
    const DESCRIPTION: &'static str = "Panics and returns NaN on request.";
    const CONFIG_KEYS: &'static [ConfigKey] = &[ConfigKey::new(
        "panic_in_create",
        "bool",
        "false",
        "panic while reading the config",
    )];

    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        if config.bool("panic_in_create")?.unwrap_or(false) {
            panic!("asked to panic in create");
        }
        Ok(Misbehaving)
    }

    fn score(&self, record: &Record<'_>) -> Outcome {
        match record.outputs.text() {
            text if text.contains("panic") => panic!("asked to panic on {text:?}"),
            text if text.contains("nan") => Ok(Score::number(f64::NAN)),
            text => Ok(Score::bool(!text.is_empty()).with_rationale("fine")),
        }
    }
}

verdict_plugin::export_plugin!(Misbehaving);
