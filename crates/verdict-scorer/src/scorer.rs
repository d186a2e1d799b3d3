//! One interface for every scorer, whether a plain Rust type compiled in
//! or a plugin loaded from a dynamic library.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;

use verdict_plugin::export::panic_message;
use verdict_plugin::{ConfigKey, Outcome, Record, ScoreError};

pub use verdict_plugin::host::{SCORER_ERROR, SCORER_INVALID_RESULT, SCORER_PANIC};
use verdict_plugin::host::{check, invalid};

/// A config key, documented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigKeyInfo {
    /// The key.
    pub name: String,
    /// Its type, in words.
    pub kind: String,
    /// Its default, in words.
    pub default_value: String,
    /// What it does.
    pub description: String,
}

impl From<&ConfigKey> for ConfigKeyInfo {
    fn from(key: &ConfigKey) -> Self {
        ConfigKeyInfo {
            name: key.name.as_str().to_owned(),
            kind: key.kind.as_str().to_owned(),
            default_value: key.default_value.as_str().to_owned(),
            description: key.description.as_str().to_owned(),
        }
    }
}

/// Where a scorer comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Compiled into this program.
    Builtin,
    /// Loaded from a plugin file.
    Plugin {
        /// The file, canonicalized.
        path: PathBuf,
        /// The SHA-256 digest of the file, as lowercase hex.
        sha256: String,
    },
}

/// What a scorer is: name, version, description, config keys, origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScorerInfo {
    /// The name; the feedback it produces is named after it.
    pub name: String,
    /// The version.
    pub version: String,
    /// One sentence on what it scores.
    pub description: String,
    /// The config keys it reads.
    pub config_keys: Vec<ConfigKeyInfo>,
    /// Built in, or loaded from a file.
    pub origin: Origin,
}

impl ScorerInfo {
    /// The info of a scorer type compiled in.
    pub fn of<S: verdict_plugin::Scorer>() -> Self {
        ScorerInfo {
            name: S::NAME.to_owned(),
            version: S::VERSION.to_owned(),
            description: S::DESCRIPTION.to_owned(),
            config_keys: S::CONFIG_KEYS.iter().map(ConfigKeyInfo::from).collect(),
            origin: Origin::Builtin,
        }
    }
}

/// A configured scorer, ready to score records.
///
/// Compiled-in scorers ([`StaticScorer`]) and plugins
/// ([`PluginScorer`](crate::PluginScorer)) both stand behind it. Scoring
/// never fails as a whole: every record gets an outcome, and a scorer that
/// panics or returns something unusable gives that record a [`ScoreError`]
/// with code [`SCORER_PANIC`] or [`SCORER_INVALID_RESULT`].
pub trait Scorer: Send + Sync {
    /// What the scorer is.
    fn info(&self) -> &ScorerInfo;

    /// Scores `records`, pushing exactly one outcome per record onto `out`,
    /// in order.
    fn score_batch(&self, records: &[Record<'_>], out: &mut Vec<Outcome>);

    /// Scores one record.
    fn score(&self, record: &Record<'_>) -> Outcome {
        let mut out = Vec::with_capacity(1);
        self.score_batch(std::slice::from_ref(record), &mut out);
        out.pop()
            .unwrap_or_else(|| Err(invalid("the scorer returned no outcome")))
    }
}

/// A scorer type compiled into this program.
pub struct StaticScorer<S> {
    scorer: S,
    info: Arc<ScorerInfo>,
}

impl<S: verdict_plugin::Scorer> StaticScorer<S> {
    /// Wraps a configured scorer.
    pub fn new(scorer: S) -> Self {
        StaticScorer {
            scorer,
            info: Arc::new(ScorerInfo::of::<S>()),
        }
    }

    /// Builds the scorer from config JSON.
    pub fn from_json(config: &str) -> Result<Self, verdict_plugin::ConfigError> {
        S::from_json(config).map(Self::new)
    }
}

impl<S: verdict_plugin::Scorer> Scorer for StaticScorer<S> {
    fn info(&self) -> &ScorerInfo {
        &self.info
    }

    fn score_batch(&self, records: &[Record<'_>], out: &mut Vec<Outcome>) {
        let start = out.len();
        let whole = catch_unwind(AssertUnwindSafe(|| self.scorer.score_batch(records, out)));
        if whole.is_ok() && out.len() == start + records.len() {
            out[start..].iter_mut().for_each(check);
            return;
        }
        // A panic, or the wrong number of outcomes: score one by one, so
        // that a panic is pinned to the records that cause it.
        out.truncate(start);
        out.extend(records.iter().map(|record| {
            let mut outcome = catch_unwind(AssertUnwindSafe(|| self.scorer.score(record)))
                .unwrap_or_else(|panic| {
                    Err(ScoreError::new(
                        SCORER_PANIC,
                        panic_message(&*panic).to_owned(),
                    ))
                });
            check(&mut outcome);
            outcome
        }));
    }
}
