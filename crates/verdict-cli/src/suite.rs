//! The suite a command scores with: `--config`'s verdict.toml, and the
//! `--scorer` specs added to it, read the same way by `eval` and `serve`.

use std::path::Path;

use verdict_eval::SuiteConfig;
use verdict_scorer::ScorerSpec;

/// The config at `config` (the default one without it), with the scorers
/// of `scorers` merged in (see [`SuiteConfig::merge_scorers`]).
pub(crate) fn suite_config(
    config: Option<&Path>,
    scorers: &[String],
) -> anyhow::Result<SuiteConfig> {
    let mut suite = match config {
        Some(path) => SuiteConfig::from_path(path)?,
        None => SuiteConfig::default(),
    };
    if !scorers.is_empty() {
        let specs = scorers
            .iter()
            .map(|s| s.parse::<ScorerSpec>())
            .collect::<Result<Vec<_>, _>>()?;
        suite.merge_scorers(specs);
    }
    Ok(suite)
}
