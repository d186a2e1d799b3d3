//! Loading scorer plugins from dynamic libraries, and calling them.

use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use sha2::{Digest, Sha256};
use verdict_plugin::abi::{
    self, ABI_VERSION, Descriptor, FLAG_PANIC_UNWIND, FLAG_THREAD_SAFE, RC_OK, Str,
};
use verdict_plugin::{Record, Results, host};

use crate::error::LoadError;
use crate::scorer::{ConfigKeyInfo, Origin, Scorer, ScorerInfo};

/// The environment variable listing directories to find plugins in, like
/// `PATH`.
pub const PLUGIN_PATH_VAR: &str = "VERDICT_PLUGIN_PATH";

/// A loaded plugin library: its descriptor and where it came from.
///
/// Libraries are opened with `RTLD_NOW | RTLD_LOCAL` (every symbol resolved
/// up front, none leaking into the global namespace), loaded once per
/// canonical path, and never unloaded: a plugin's code and static data stay
/// valid for as long as the process runs, whatever still points at them.
pub struct Plugin {
    descriptor: &'static Descriptor,
    info: ScorerInfo,
}

// SAFETY: the descriptor is immutable static data of a library that is
// never unloaded.
unsafe impl Send for Plugin {}
// SAFETY: as above.
unsafe impl Sync for Plugin {}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("info", &self.info).finish()
    }
}

fn loaded() -> &'static Mutex<HashMap<PathBuf, Arc<Plugin>>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<Plugin>>>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

/// The size of an ABI v1 descriptor, the smallest this host accepts.
const DESCRIPTOR_V1_SIZE: u32 = size_of::<Descriptor>() as u32;

impl Plugin {
    /// Loads the plugin at `path`, or returns the one already loaded from
    /// the same file.
    pub fn load(path: &Path) -> Result<Arc<Plugin>, LoadError> {
        if !path.is_file() {
            return Err(LoadError::Missing {
                path: path.to_owned(),
            });
        }
        let io = |source| LoadError::Io {
            path: path.to_owned(),
            source,
        };
        let canonical = path.canonicalize().map_err(io)?;
        let mut loaded = loaded().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(plugin) = loaded.get(&canonical) {
            return Ok(Arc::clone(plugin));
        }
        let sha256 = format!(
            "{:x}",
            Sha256::digest(std::fs::read(&canonical).map_err(io)?)
        );
        let library = open(&canonical)?;
        let descriptor = entry_point(&library, &canonical)?;
        let info = read_descriptor(descriptor, &canonical, sha256)?;
        // Never unloaded: see the type's docs.
        std::mem::forget(library);
        let plugin = Arc::new(Plugin { descriptor, info });
        loaded.insert(canonical, Arc::clone(&plugin));
        Ok(plugin)
    }

    /// What the plugin's scorer is.
    pub fn info(&self) -> &ScorerInfo {
        &self.info
    }

    /// Makes a scorer from config JSON (an object; empty for the defaults).
    pub fn instantiate(self: &Arc<Self>, config: &str) -> Result<PluginScorer, LoadError> {
        let create = self.descriptor.create.expect("checked at load");
        let mut state: *mut c_void = std::ptr::null_mut();
        // SAFETY: `create` comes from a descriptor checked at load; the
        // config is valid UTF-8 and outlives the call.
        let rc = unsafe { create(Str::new(config), &mut state) };
        if rc != RC_OK || state.is_null() {
            let message = self.last_error();
            let message = if message.is_empty() {
                format!("{} refused its config (return code {rc})", self.info.name)
            } else {
                message
            };
            return Err(LoadError::Config(message));
        }
        let serial = (self.descriptor.flags & FLAG_THREAD_SAFE == 0).then(|| Mutex::new(()));
        Ok(PluginScorer {
            plugin: Arc::clone(self),
            state,
            serial,
        })
    }

    /// The calling thread's last error message from the plugin.
    fn last_error(&self) -> String {
        // SAFETY: a descriptor checked at load.
        unsafe { host::last_error(self.descriptor) }
    }
}

#[cfg(unix)]
fn open(path: &Path) -> Result<libloading::Library, LoadError> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: loading a library runs its initializers; that is the point
    // of a plugin, and the user chose the file.
    unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
        .map(Into::into)
        .map_err(|e| not_a_library(path, e))
}

#[cfg(not(unix))]
fn open(path: &Path) -> Result<libloading::Library, LoadError> {
    // SAFETY: as above.
    unsafe { libloading::Library::new(path) }.map_err(|e| not_a_library(path, e))
}

fn not_a_library(path: &Path, error: libloading::Error) -> LoadError {
    LoadError::NotALibrary {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

type EntryPoint = unsafe extern "C" fn() -> *const Descriptor;

/// Finds the entry point and calls it; tells a plugin for another ABI
/// version apart from a library that is no plugin at all.
fn entry_point(
    library: &libloading::Library,
    path: &Path,
) -> Result<&'static Descriptor, LoadError> {
    // SAFETY: the symbol, if present, has the signature of the ABI.
    let entry = match unsafe { library.get::<EntryPoint>(abi::SYMBOL) } {
        Ok(entry) => *entry,
        Err(_) => {
            let other = (2..=16).find(|v| {
                let name = format!("verdict_plugin_v{v}\0");
                // SAFETY: only looked up, never called.
                unsafe { library.get::<EntryPoint>(name.as_bytes()) }.is_ok()
            });
            return Err(match other {
                Some(found) => LoadError::AbiVersion {
                    path: path.to_owned(),
                    found,
                    expected: ABI_VERSION,
                },
                None => LoadError::NotAPlugin {
                    path: path.to_owned(),
                },
            });
        }
    };
    // SAFETY: the entry point takes nothing and returns a static pointer.
    let ptr = unsafe { entry() };
    if ptr.is_null() {
        return Err(invalid_descriptor(
            path,
            "the entry point returned a null descriptor",
        ));
    }
    // Read the version and size before trusting the rest of the layout.
    // SAFETY: every ABI version starts with these two u32 fields.
    let (version, size) = unsafe {
        let head = ptr.cast::<u32>();
        (head.read(), head.add(1).read())
    };
    if version != ABI_VERSION {
        return Err(LoadError::AbiVersion {
            path: path.to_owned(),
            found: version,
            expected: ABI_VERSION,
        });
    }
    if size < DESCRIPTOR_V1_SIZE {
        return Err(LoadError::DescriptorTooSmall {
            path: path.to_owned(),
            found: size,
            expected: DESCRIPTOR_V1_SIZE,
        });
    }
    // SAFETY: a v1 descriptor of at least v1's size, static in a library
    // that is never unloaded.
    Ok(unsafe { &*ptr })
}

fn invalid_descriptor(path: &Path, reason: impl Into<String>) -> LoadError {
    LoadError::InvalidDescriptor {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Text from the plugin, checked for UTF-8.
fn text(path: &Path, field: &str, s: Str<'_>) -> Result<String, LoadError> {
    let (ptr, len) = s.raw_parts();
    if ptr.is_null() && len > 0 {
        return Err(invalid_descriptor(
            path,
            format!("{field} is a null pointer"),
        ));
    }
    let bytes = if len == 0 {
        &[][..]
    } else {
        // SAFETY: the plugin's static data, valid for `len` bytes.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    };
    String::from_utf8(bytes.to_vec())
        .map_err(|_| invalid_descriptor(path, format!("{field} is not valid UTF-8")))
}

fn read_descriptor(d: &Descriptor, path: &Path, sha256: String) -> Result<ScorerInfo, LoadError> {
    if d.flags & FLAG_PANIC_UNWIND == 0 {
        return Err(LoadError::PanicAbort {
            path: path.to_owned(),
        });
    }
    let missing = [
        ("create", d.create.is_none()),
        ("score", d.score.is_none()),
        ("score_batch", d.score_batch.is_none()),
        ("destroy", d.destroy.is_none()),
        ("last_error", d.last_error.is_none()),
    ];
    if let Some((name, _)) = missing.iter().find(|(_, absent)| *absent) {
        return Err(invalid_descriptor(
            path,
            format!("the function `{name}` is missing"),
        ));
    }
    let name = text(path, "the name", d.name)?;
    verdict::AssessmentName::new(name.clone())
        .map_err(|e| invalid_descriptor(path, format!("its name cannot name feedback: {e}")))?;
    let keys: &[verdict_plugin::ConfigKey] = match (d.config_keys.is_null(), d.n_config_keys) {
        (_, 0) => &[],
        (true, _) => return Err(invalid_descriptor(path, "config_keys is a null pointer")),
        // SAFETY: the plugin's static array of `n_config_keys` entries.
        (false, n) => unsafe { std::slice::from_raw_parts(d.config_keys, n) },
    };
    let config_keys = keys
        .iter()
        .map(|k| {
            Ok(ConfigKeyInfo {
                name: text(path, "a config key's name", k.name)?,
                kind: text(path, "a config key's type", k.kind)?,
                default_value: text(path, "a config key's default", k.default_value)?,
                description: text(path, "a config key's description", k.description)?,
            })
        })
        .collect::<Result<_, LoadError>>()?;
    Ok(ScorerInfo {
        version: text(path, "the version", d.version)?,
        description: text(path, "the description", d.description)?,
        name,
        config_keys,
        origin: Origin::Plugin {
            path: path.to_owned(),
            sha256,
        },
    })
}

/// The plugin files in the directories of `VERDICT_PLUGIN_PATH`, in the
/// order of the directories, then by file name. Directories that do not
/// exist are skipped, as `PATH` does.
pub fn discover() -> Vec<PathBuf> {
    let Some(dirs) = std::env::var_os(PLUGIN_PATH_VAR) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for dir in std::env::split_paths(&dirs) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
            })
            .collect();
        files.sort();
        found.extend(files);
    }
    found
}

/// A configured scorer from a plugin. Dropping it frees its state in the
/// plugin.
pub struct PluginScorer {
    plugin: Arc<Plugin>,
    state: *mut c_void,
    /// Serializes calls into plugins that are not thread-safe.
    serial: Option<Mutex<()>>,
}

impl std::fmt::Debug for PluginScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginScorer")
            .field("name", &self.plugin.info.name)
            .finish_non_exhaustive()
    }
}

// SAFETY: the state is only used through the plugin's functions, which are
// thread-safe (FLAG_THREAD_SAFE) or serialized by `serial`.
unsafe impl Send for PluginScorer {}
// SAFETY: as above.
unsafe impl Sync for PluginScorer {}

impl Scorer for PluginScorer {
    fn info(&self) -> &ScorerInfo {
        &self.plugin.info
    }

    fn score_batch(&self, records: &[Record<'_>], out: &mut Results) {
        let _serial = self
            .serial
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner));
        // SAFETY: a descriptor checked at load, this plugin's own state,
        // and calls serialized unless the plugin is thread-safe.
        unsafe { host::score_batch(self.plugin.descriptor, self.state, records, out) };
    }
}

impl Drop for PluginScorer {
    fn drop(&mut self) {
        let destroy = self.plugin.descriptor.destroy.expect("checked at load");
        // SAFETY: the state came from this plugin's `create` and is not
        // used again.
        unsafe { destroy(self.state) };
    }
}
