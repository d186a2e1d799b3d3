//! The registry every command starts from.

use anyhow::Context;
use verdict_scorer::Registry;

use crate::cli::PluginArgs;

/// The built-in scorers, the plugins of VERDICT_PLUGIN_PATH, then those of
/// `--plugin` (which shadow the others).
pub(crate) fn registry(args: &PluginArgs) -> anyhow::Result<Registry> {
    let mut registry = Registry::with_builtins();
    registry
        .load_plugin_path()
        .with_context(|| format!("loading the plugins of {}", verdict_scorer::PLUGIN_PATH_VAR))?;
    for path in &args.plugins {
        registry.load_plugin(path)?;
    }
    Ok(registry)
}
