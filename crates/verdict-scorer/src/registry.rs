//! The scorers a program knows: built-in ones and loaded plugins.

#[cfg(feature = "plugins")]
use std::path::Path;
#[cfg(feature = "plugins")]
use std::sync::Arc;

use crate::builtins;
use crate::error::LoadError;
#[cfg(feature = "plugins")]
use crate::plugin::{Plugin, discover};
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
/// A loaded plugin shadows a built-in scorer of the same name, so a newer
/// build of a scorer can be tried without rebuilding the host.
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
    plugins: Vec<Arc<Plugin>>,
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

    /// Loads a plugin file. Loading a second plugin with the name of one
    /// already loaded from another file is refused.
    #[cfg(feature = "plugins")]
    pub fn load_plugin(&mut self, path: &Path) -> Result<Arc<Plugin>, LoadError> {
        let plugin = Plugin::load(path)?;
        if let Some(other) = self
            .plugins
            .iter()
            .find(|p| p.info().name == plugin.info().name && !Arc::ptr_eq(p, &plugin))
        {
            return Err(LoadError::InvalidSpec {
                spec: path.display().to_string(),
                reason: format!(
                    "a plugin named {:?} is already loaded from {:?}",
                    plugin.info().name,
                    other.info().origin
                ),
            });
        }
        if !self.plugins.iter().any(|p| Arc::ptr_eq(p, &plugin)) {
            self.plugins.push(Arc::clone(&plugin));
        }
        Ok(plugin)
    }

    /// Loads every plugin in the directories of `VERDICT_PLUGIN_PATH`.
    #[cfg(feature = "plugins")]
    pub fn load_plugin_path(&mut self) -> Result<Vec<Arc<Plugin>>, LoadError> {
        discover().iter().map(|p| self.load_plugin(p)).collect()
    }

    /// Every scorer available, plugins first, then the built-in scorers
    /// they do not shadow.
    pub fn scorers(&self) -> Vec<&ScorerInfo> {
        let mut all: Vec<&ScorerInfo> = self.plugin_infos().collect();
        all.extend(
            self.builtins
                .iter()
                .map(|b| &b.info)
                .filter(|b| !self.plugin_infos().any(|p| p.name == b.name)),
        );
        all
    }

    /// The loaded plugins (none without the `plugins` feature).
    fn plugin_infos(&self) -> impl Iterator<Item = &ScorerInfo> {
        #[cfg(feature = "plugins")]
        return self.plugins.iter().map(|p| p.info());
        #[cfg(not(feature = "plugins"))]
        return std::iter::empty();
    }

    /// Makes the scorer a spec names, with its config.
    pub fn create(&self, spec: &ScorerSpec) -> Result<Box<dyn Scorer>, LoadError> {
        let config = spec.config_json();
        match &spec.target {
            #[cfg(feature = "plugins")]
            SpecTarget::Path(path) => Ok(Box::new(Plugin::load(path)?.instantiate(&config)?)),
            #[cfg(not(feature = "plugins"))]
            SpecTarget::Path(path) => Err(LoadError::InvalidSpec {
                spec: path.display().to_string(),
                reason: "loading a plugin file takes verdict-scorer's `plugins` feature, which \
                         this program was built without"
                    .to_owned(),
            }),
            SpecTarget::Name(name) => {
                #[cfg(feature = "plugins")]
                if let Some(plugin) = self.plugins.iter().find(|p| &p.info().name == name) {
                    return Ok(Box::new(plugin.instantiate(&config)?));
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
                    })?;
                (builtin.make)(&config).map_err(|e| LoadError::Config(e.to_string()))
            }
        }
    }
}
