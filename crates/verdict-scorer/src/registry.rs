//! The scorers a program knows: built-in ones and plugins.

#[cfg(feature = "plugins")]
use std::path::{Path, PathBuf};

use crate::builtins;
use crate::error::LoadError;
#[cfg(feature = "plugins")]
use crate::isolation::Isolation;
#[cfg(feature = "plugins")]
use crate::plugin::discover;
#[cfg(feature = "plugins")]
use crate::plugin_set::PluginSet;
use crate::scorer::{Scorer, ScorerInfo};
use crate::spec::{ScorerSpec, SpecTarget};

/// Makes a configured compiled-in scorer from config JSON.
pub type MakeFn = fn(&str) -> Result<Box<dyn Scorer>, verdict_plugin::ConfigError>;

struct Builtin {
    info: ScorerInfo,
    make: MakeFn,
}

/// The scorers available by name.
///
/// A plugin shadows a built-in scorer of the same name, so a newer build
/// of a scorer can be tried without rebuilding the host.
///
/// Plugins run in this process unless the registry isolates them
/// ([`Registry::isolate`]): then each plugin file is read by a worker
/// process, and its scorers score in worker processes, except those of
/// the files the user trusts ([`Registry::trust`]), which are loaded
/// into this process when a scorer of theirs is made. The plugins of
/// `VERDICT_PLUGIN_PATH` ([`Registry::add_plugin_path`]) are read only
/// when a scorer name is looked up or the scorers are listed, and one
/// that cannot be read is set aside ([`Registry::plugin_problems`]) and
/// stops nothing.
///
/// ```
/// use verdict_scorer::{OwnedRecord, Registry};
///
/// let registry = Registry::with_builtins();
/// let scorer = registry.create(&"exact_match".parse()?)?;
/// let record = OwnedRecord::new("", "Paris").with_expectation("expected_response", "Paris");
/// let outcome = verdict_scorer::score_one(scorer.as_ref(), &record);
/// assert!(outcome.is_ok());
/// # Ok::<(), verdict_scorer::LoadError>(())
/// ```
#[derive(Default)]
pub struct Registry {
    builtins: Vec<Builtin>,
    #[cfg(feature = "plugins")]
    plugins: PluginSet,
}

impl Registry {
    /// A registry with no scorers.
    pub fn new() -> Self {
        Registry::default()
    }

    /// A registry with the built-in scorers.
    pub fn with_builtins() -> Self {
        let mut registry = Registry::new();
        builtins::register(&mut registry);
        registry
    }

    /// Adds a compiled-in scorer type.
    pub fn add_builtin<S: verdict_plugin::Scorer>(&mut self) {
        fn make<S: verdict_plugin::Scorer>(
            config: &str,
        ) -> Result<Box<dyn Scorer>, verdict_plugin::ConfigError> {
            Ok(Box::new(crate::StaticScorer::<S>::from_json(config)?))
        }
        self.builtins.retain(|b| b.info.name != S::NAME);
        self.builtins.push(Builtin {
            info: ScorerInfo::of::<S>(),
            make: make::<S>,
        });
    }

    /// Runs plugins in worker processes from now on (see
    /// [`Isolation`]).
    #[cfg(feature = "plugins")]
    pub fn isolate(&mut self, isolation: Isolation) {
        self.plugins.isolate(isolation);
    }

    /// Runs the plugin file at `path` in this process even when plugins
    /// are isolated: the user trusts it with this process (a crash, a
    /// hang or an `exit` in it is this process's).
    #[cfg(feature = "plugins")]
    pub fn trust(&mut self, path: &Path) {
        self.plugins.trust(path);
    }

    /// Reads a plugin file, now: one that cannot be read is refused.
    /// Reading a second plugin with the name of one already loaded from
    /// another file is refused too.
    #[cfg(feature = "plugins")]
    pub fn load_plugin(&mut self, path: &Path) -> Result<ScorerInfo, LoadError> {
        self.plugins.load(path)
    }

    /// Adds the plugin files of the directories of `VERDICT_PLUGIN_PATH`
    /// ([`discover`]), to be read when needed.
    #[cfg(feature = "plugins")]
    pub fn add_plugin_path(&mut self) {
        self.plugins.add_found(discover());
    }

    /// The files of `VERDICT_PLUGIN_PATH` that give no scorer, each with
    /// why: unreadable, or shadowed by an earlier plugin of the same name.
    /// Reads every one not read yet.
    #[cfg(feature = "plugins")]
    pub fn plugin_problems(&self) -> Vec<(PathBuf, String)> {
        self.plugins.problems()
    }

    /// Every scorer available, plugins first, then the built-in scorers
    /// they do not shadow. Reads every plugin file not read yet.
    pub fn scorers(&self) -> Vec<&ScorerInfo> {
        let mut all: Vec<&ScorerInfo> = self.plugin_infos();
        let plugins = all.len();
        for builtin in &self.builtins {
            if !all[..plugins].iter().any(|p| p.name == builtin.info.name) {
                all.push(&builtin.info);
            }
        }
        all
    }

    /// The plugins' infos (none without the `plugins` feature).
    fn plugin_infos(&self) -> Vec<&ScorerInfo> {
        #[cfg(feature = "plugins")]
        return self.plugins.infos();
        #[cfg(not(feature = "plugins"))]
        return Vec::new();
    }

    /// What the user may want to know when no scorer has a name: the
    /// plugin files that could not be read.
    fn unreadable(&self) -> String {
        #[cfg(feature = "plugins")]
        {
            let problems = self.plugins.problems();
            if !problems.is_empty() {
                let list: Vec<&str> = problems.iter().map(|(_, why)| why.as_str()).collect();
                return format!(
                    ". Files of {} that give no scorer: {}",
                    crate::PLUGIN_PATH_VAR,
                    list.join("; ")
                );
            }
        }
        String::new()
    }

    /// Makes the scorer a spec names, with its config.
    pub fn create(&self, spec: &ScorerSpec) -> Result<Box<dyn Scorer>, LoadError> {
        let config = spec.config_json();
        match &spec.target {
            #[cfg(feature = "plugins")]
            SpecTarget::Path(path) => self.plugins.instantiate_file(path, &config),
            #[cfg(not(feature = "plugins"))]
            SpecTarget::Path(path) => Err(LoadError::InvalidSpec {
                spec: path.display().to_string(),
                reason: "loading a plugin file takes verdict-scorer's `plugins` feature, which \
                         this program was built without"
                    .to_owned(),
            }),
            SpecTarget::Name(name) => {
                #[cfg(feature = "plugins")]
                if let Some(source) = self.plugins.by_name(name) {
                    return self.plugins.instantiate(source, &config);
                }
                let builtin = self
                    .builtins
                    .iter()
                    .find(|b| &b.info.name == name)
                    .ok_or_else(|| LoadError::UnknownScorer {
                        name: name.clone(),
                        known: self
                            .scorers()
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        unreadable: self.unreadable(),
                    })?;
                (builtin.make)(&config).map_err(|e| LoadError::Config(e.to_string()))
            }
        }
    }
}
