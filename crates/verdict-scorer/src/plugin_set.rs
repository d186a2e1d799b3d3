//! The plugins a registry knows: those loaded by name of file, and those
//! found in `VERDICT_PLUGIN_PATH`, each read only when a scorer name must
//! be looked up or the scorers listed, so that a broken file there stops
//! nothing that does not need it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::error::LoadError;
#[cfg(target_os = "linux")]
use crate::isolation::IsolatedPlugin;
use crate::isolation::Isolation;
use crate::plugin::Plugin;
use crate::scorer::{Origin, Scorer, ScorerInfo};

/// A plugin read: loaded into this process, or read by a worker.
pub(crate) enum Source {
    InProcess(Arc<Plugin>),
    #[cfg(target_os = "linux")]
    Isolated(Arc<IsolatedPlugin>),
}

impl Source {
    pub(crate) fn info(&self) -> &ScorerInfo {
        match self {
            Source::InProcess(plugin) => plugin.info(),
            #[cfg(target_os = "linux")]
            Source::Isolated(plugin) => plugin.info(),
        }
    }

    /// The plugin's file, canonicalized.
    fn path(&self) -> &Path {
        match &self.info().origin {
            Origin::Plugin { path, .. } => path,
            Origin::Builtin => unreachable!("a plugin has a file"),
        }
    }
}

/// A file found in `VERDICT_PLUGIN_PATH`, read once when first needed.
struct Found {
    path: PathBuf,
    read: OnceLock<Result<Source, LoadError>>,
}

/// How many plugin files are read at once.
const READ_AT_ONCE: usize = 8;

/// The plugins of a registry.
#[derive(Default)]
pub(crate) struct PluginSet {
    /// Whether plugins run in workers, and how; none: in this process.
    isolation: Option<Isolation>,
    /// Plugin files run in this process all the same (canonicalized).
    trusted: Vec<PathBuf>,
    /// Loaded by name of file, in order.
    given: Vec<Source>,
    /// Found in `VERDICT_PLUGIN_PATH`, in its order.
    found: Vec<Found>,
}

impl PluginSet {
    pub(crate) fn isolate(&mut self, isolation: Isolation) {
        self.isolation = Some(isolation);
    }

    pub(crate) fn trust(&mut self, path: &Path) {
        self.trusted
            .push(path.canonicalize().unwrap_or_else(|_| path.to_owned()));
    }

    /// Reads the plugin at `path`: in a worker when plugins are isolated
    /// (a trusted one too: it is loaded into this process only when a
    /// scorer of it is made), else into this process.
    fn read(&self, path: &Path) -> Result<Source, LoadError> {
        match &self.isolation {
            None => Plugin::load(path).map(Source::InProcess),
            #[cfg(target_os = "linux")]
            Some(isolation) => IsolatedPlugin::load(path, isolation).map(Source::Isolated),
            #[cfg(not(target_os = "linux"))]
            Some(_) if self.is_trusted(path) => Plugin::load(path).map(Source::InProcess),
            #[cfg(not(target_os = "linux"))]
            Some(_) => Err(LoadError::Worker {
                path: path.to_owned(),
                reason: "running plugins in worker processes needs Linux; trust the plugin to \
                         run it in this process"
                    .into(),
            }),
        }
    }

    fn is_trusted(&self, path: &Path) -> bool {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        self.trusted.contains(&canonical)
    }

    /// Reads a plugin file given by name; a second plugin with the name
    /// of one already given from another file is refused.
    pub(crate) fn load(&mut self, path: &Path) -> Result<ScorerInfo, LoadError> {
        let source = self.read(path)?;
        let info = source.info().clone();
        if let Some(other) = self.given.iter().find(|s| s.info().name == info.name) {
            if other.path() == source.path() {
                return Ok(info);
            }
            return Err(LoadError::InvalidSpec {
                spec: path.display().to_string(),
                reason: format!(
                    "a plugin named {:?} is already loaded from {:?}",
                    info.name,
                    other.path()
                ),
            });
        }
        self.given.push(source);
        Ok(info)
    }

    /// Adds files found in `VERDICT_PLUGIN_PATH`, to read when needed.
    pub(crate) fn add_found(&mut self, paths: Vec<PathBuf>) {
        self.found.extend(paths.into_iter().map(|path| Found {
            path,
            read: OnceLock::new(),
        }));
    }

    /// Reads every found file not read yet, several at once (each read
    /// mostly waits on a worker process).
    fn read_found(&self) {
        let next = AtomicUsize::new(0);
        let read = || {
            while let Some(found) = self.found.get(next.fetch_add(1, Ordering::Relaxed)) {
                found.read.get_or_init(|| self.read(&found.path));
            }
        };
        let threads = READ_AT_ONCE.min(self.found.len());
        if threads <= 1 {
            return read();
        }
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(read);
            }
        });
    }

    /// The found plugins that were read, in order.
    fn found_read(&self) -> impl Iterator<Item = &Source> {
        self.found
            .iter()
            .filter_map(|f| f.read.get().and_then(|r| r.as_ref().ok()))
    }

    /// The plugin whose scorer is named `name`: one given first, then
    /// the first found.
    pub(crate) fn by_name(&self, name: &str) -> Option<&Source> {
        if let Some(source) = self.given.iter().find(|s| s.info().name == name) {
            return Some(source);
        }
        self.read_found();
        self.found_read().find(|s| s.info().name == name)
    }

    /// Every plugin's info: those given, then those found that no earlier
    /// one shadows.
    pub(crate) fn infos(&self) -> Vec<&ScorerInfo> {
        self.read_found();
        let mut infos: Vec<&ScorerInfo> = Vec::new();
        for source in self.given.iter().chain(self.found_read()) {
            if !infos.iter().any(|i| i.name == source.info().name) {
                infos.push(source.info());
            }
        }
        infos
    }

    /// The found files that could not be read, or whose scorer another
    /// plugin shadows, each with why (a sentence that names the file).
    pub(crate) fn problems(&self) -> Vec<(PathBuf, String)> {
        self.read_found();
        let mut seen: Vec<&Source> = self.given.iter().collect();
        let mut problems = Vec::new();
        for found in &self.found {
            match found.read.get() {
                Some(Err(e)) => problems.push((found.path.clone(), e.to_string())),
                Some(Ok(source)) => {
                    match seen.iter().find(|s| s.info().name == source.info().name) {
                        Some(other) if other.path() != source.path() => problems.push((
                            found.path.clone(),
                            format!(
                                "{:?} gives the scorer {:?}, which {:?} gives first: it is not used",
                                found.path,
                                source.info().name,
                                other.path()
                            ),
                        )),
                        Some(_) => {}
                        None => seen.push(source),
                    }
                }
                None => {}
            }
        }
        problems
    }

    /// Makes a scorer of `source` from config JSON: in this process when
    /// it is read so or trusted, else in workers.
    pub(crate) fn instantiate(
        &self,
        source: &Source,
        config: &str,
    ) -> Result<Box<dyn Scorer>, LoadError> {
        match source {
            Source::InProcess(plugin) => Ok(Box::new(plugin.instantiate(config)?)),
            #[cfg(target_os = "linux")]
            Source::Isolated(plugin) if self.is_trusted(plugin.path()) => {
                Ok(Box::new(Plugin::load(plugin.path())?.instantiate(config)?))
            }
            #[cfg(target_os = "linux")]
            Source::Isolated(plugin) => Ok(Box::new(plugin.instantiate(config)?)),
        }
    }

    /// Makes a scorer of the plugin file at `path`.
    pub(crate) fn instantiate_file(
        &self,
        path: &Path,
        config: &str,
    ) -> Result<Box<dyn Scorer>, LoadError> {
        self.instantiate(&self.read(path)?, config)
    }
}
