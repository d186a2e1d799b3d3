//! The registry every command starts from, and how its plugins run.

use verdict_eval::PluginSettings;
use verdict_scorer::{Isolation, Registry};

use crate::cli::PluginArgs;

/// The hidden command a worker process is started with.
pub(crate) const WORKER_COMMAND: &str = "plugin-worker";

/// The built-in scorers, the plugins of `--plugin` and `--trusted-plugin`
/// (read now: one that cannot be read is an error), and those of
/// VERDICT_PLUGIN_PATH (read when a name is looked up). On Linux, plugins
/// run in worker processes of this same program, except the trusted ones
/// (`--trusted-plugin`, and `trusted` of verdict.toml's `[plugins]`).
pub(crate) fn registry(args: &PluginArgs, settings: &PluginSettings) -> anyhow::Result<Registry> {
    let mut registry = Registry::with_builtins();
    if cfg!(target_os = "linux") {
        registry.isolate(isolation(args, settings)?);
    }
    for path in settings.trusted.iter().chain(&args.trusted) {
        registry.trust(path);
    }
    registry.add_plugin_path();
    for path in args.plugins.iter().chain(&args.trusted) {
        registry.load_plugin(path)?;
    }
    Ok(registry)
}

/// Workers are this program, started with the hidden worker command and
/// the C library's allocator (see `allocator`), under the limits of the
/// command line, else of verdict.toml.
fn isolation(args: &PluginArgs, settings: &PluginSettings) -> anyhow::Result<Isolation> {
    let program = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find this program to start plugin workers: {e}"))?;
    let mut isolation = Isolation::new(program).arg(WORKER_COMMAND);
    #[cfg(all(feature = "mimalloc", unix))]
    {
        isolation = isolation.env(crate::allocator::SYSTEM_ALLOCATOR_VAR, "1");
    }
    if let Some(timeout) = args.plugin_timeout.map(Into::into).or(settings.timeout) {
        isolation = isolation.timeout(timeout);
    }
    if let Some(mib) = args.plugin_memory.or(settings.memory_mib) {
        isolation = isolation.memory_limit((mib > 0).then(|| mib.saturating_mul(1 << 20)));
    }
    Ok(isolation)
}
