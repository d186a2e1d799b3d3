//! One interface for every scorer, whether a plain Rust type compiled in
//! or a plugin loaded from a dynamic library.

use std::path::PathBuf;
use std::sync::Arc;

use verdict_plugin::abi::{Buf, ResultSlot};
use verdict_plugin::export::{score_into, score_traced_into, score_values_into};
pub use verdict_plugin::host::{SCORER_ERROR, SCORER_INVALID_RESULT, SCORER_PANIC};
use verdict_plugin::host::{invalid, one_trace_each, score_batch_with};
use verdict_plugin::{ConfigKey, Outcome, Record, Results, Trace};

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
    /// Whether it reads each record's trace: it is then scored with
    /// [`Scorer::score_batch_traced`], and the runner lays traces out for
    /// it (and for no other).
    pub needs_trace: bool,
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
            needs_trace: S::NEEDS_TRACE,
        }
    }
}

/// A configured scorer, ready to score records.
///
/// Compiled-in scorers ([`StaticScorer`]) and plugins
/// ([`PluginScorer`](crate::PluginScorer)) both stand behind it, and both
/// write into the same compact storage, [`Results`]: the result slots of
/// the plugin ABI, checked once and kept as they are. Scoring never fails
/// as a whole: every record gets a result, and a scorer that panics or
/// returns something unusable gives that record an error with code
/// [`SCORER_PANIC`] or [`SCORER_INVALID_RESULT`].
pub trait Scorer: Send + Sync {
    /// What the scorer is.
    fn info(&self) -> &ScorerInfo;

    /// Scores `records`, adding exactly one result per record to `out`,
    /// in order.
    fn score_batch(&self, records: &[Record<'_>], out: &mut Results);

    /// Scores `records` with their traces (`traces[i]` is record `i`'s,
    /// `None` when it has none), like [`score_batch`](Self::score_batch).
    /// Only a scorer that reads traces ([`ScorerInfo::needs_trace`]) is
    /// called so; the default ignores the traces.
    fn score_batch_traced(
        &self,
        records: &[Record<'_>],
        traces: &[Option<&Trace<'_>>],
        out: &mut Results,
    ) {
        let _ = traces;
        self.score_batch(records, out);
    }

    /// Scores `records` of which only the values are read (a SQL function
    /// returns the value alone), like [`score_batch`](Self::score_batch)
    /// but for the rationales, which a scorer may leave out. The default
    /// scores them in full.
    fn score_batch_values(&self, records: &[Record<'_>], out: &mut Results) {
        self.score_batch(records, out);
    }

    /// Scores one record.
    fn score(&self, record: &Record<'_>) -> Outcome {
        let mut out = Results::with_capacity(1);
        self.score_batch(std::slice::from_ref(record), &mut out);
        out.get(0).map_or_else(
            || Err(invalid("the scorer returned no result")),
            |r| r.outcome(),
        )
    }
}

/// A scorer type compiled into this program. It is called the way a
/// plugin's entry points call it ([`score_into`]), so that it gives the
/// same results, checked the same way.
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

/// The kit's writer of a batch without traces: in full
/// ([`score_into`]) or for the values alone ([`score_values_into`]).
type WriteUntraced<S> = fn(&S, &[Record<'_>], &mut [ResultSlot], &mut Buf);

impl<S: verdict_plugin::Scorer> StaticScorer<S> {
    /// Scores `records`, which have no traces, into `out` with `write`.
    fn score_untraced(&self, records: &[Record<'_>], out: &mut Results, write: WriteUntraced<S>) {
        let fill = |records: &[Record<'_>],
                    _: &[Option<&Trace<'_>>],
                    text: &mut Buf,
                    slots: &mut [ResultSlot]| {
            write(&self.scorer, records, slots, text);
            Ok(())
        };
        // The kit's writer vouches for the results it writes.
        score_batch_with(records, &[], out, true, fill, fill);
    }
}

impl<S: verdict_plugin::Scorer> Scorer for StaticScorer<S> {
    fn info(&self) -> &ScorerInfo {
        &self.info
    }

    fn score_batch(&self, records: &[Record<'_>], out: &mut Results) {
        if S::NEEDS_TRACE {
            // Scored as its plugin would be by a caller with no traces.
            return self.score_batch_traced(records, &[], out);
        }
        self.score_untraced(records, out, score_into::<S>);
    }

    fn score_batch_values(&self, records: &[Record<'_>], out: &mut Results) {
        if S::NEEDS_TRACE {
            return self.score_batch(records, out);
        }
        self.score_untraced(records, out, score_values_into::<S>);
    }

    fn score_batch_traced(
        &self,
        records: &[Record<'_>],
        traces: &[Option<&Trace<'_>>],
        out: &mut Results,
    ) {
        if !S::NEEDS_TRACE {
            return self.score_batch(records, out);
        }
        let fill = |records: &[Record<'_>],
                    traces: &[Option<&Trace<'_>>],
                    text: &mut Buf,
                    slots: &mut [ResultSlot]| {
            let traces = one_trace_each(records, traces);
            score_traced_into(&self.scorer, records, &traces, slots, text);
            Ok(())
        };
        score_batch_with(records, traces, out, true, fill, fill);
    }
}
