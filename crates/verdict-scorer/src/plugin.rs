//! Loading scorer plugins from dynamic libraries, and calling them.

use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use sha2::{Digest as _, Sha256};
use verdict_plugin::abi::{
    self, ABI_VERSION, DESCRIPTOR_MIN_SIZE, Descriptor, FLAG_PANIC_UNWIND, FLAG_THREAD_SAFE, RC_OK,
    Str,
};
use verdict_plugin::{Record, Results, Trace, host};

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

/// The most bytes a text of a descriptor (a name, a version, a
/// description, a config key's words) may hold.
const DESCRIPTOR_TEXT_LIMIT: usize = 64 * 1024;
/// The most config keys a descriptor may list.
const CONFIG_KEYS_LIMIT: usize = 1024;

impl Plugin {
    /// Loads the plugin at `path` into this process, or returns the one
    /// already loaded from the same file. Its code then runs in this
    /// process, with no isolation: see the crate's trust model.
    pub fn load(path: &Path) -> Result<Arc<Plugin>, LoadError> {
        Plugin::load_as(path, Digest::Compute)
    }

    /// Loads the plugin at `path`; its digest computed, or left to
    /// whoever reads it (a worker process, whose host computes it).
    pub(crate) fn load_as(path: &Path, digest: Digest) -> Result<Arc<Plugin>, LoadError> {
        check_file(path)?;
        let io = |source| LoadError::Io {
            path: path.to_owned(),
            source,
        };
        let canonical = path.canonicalize().map_err(io)?;
        let mut loaded = loaded().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(plugin) = loaded.get(&canonical) {
            return Ok(Arc::clone(plugin));
        }
        let sha256 = match digest {
            Digest::Compute => sha256_of(&canonical)?,
            Digest::Skip => String::new(),
        };
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
        let name = self.named();
        if rc == RC_OK && state.is_null() {
            // Its last error, if any, is from an earlier call: not read.
            return Err(LoadError::Config(format!(
                "{name} returned no state from `create` (return code 0, and a null state): the \
                 plugin is broken"
            )));
        }
        if rc != RC_OK {
            let message = self.last_error();
            return Err(LoadError::Config(if message.is_empty() {
                format!("{name} refused its config (return code {rc})")
            } else {
                format!("{name}: {message}")
            }));
        }
        let serial = (self.descriptor.flags & FLAG_THREAD_SAFE == 0).then(|| Mutex::new(()));
        Ok(PluginScorer {
            plugin: Arc::clone(self),
            state,
            serial,
        })
    }

    /// The scorer's name and its file, for messages.
    fn named(&self) -> String {
        match &self.info.origin {
            Origin::Plugin { path, .. } => {
                format!("{} (plugin {})", self.info.name, path.display())
            }
            Origin::Builtin => self.info.name.clone(),
        }
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

/// The loader's refusal, with the system's reason (`dlerror`'s "file too
/// short"), which libloading keeps as the error's source.
fn not_a_library(path: &Path, error: libloading::Error) -> LoadError {
    let mut reason = error.to_string();
    if let Some(source) = std::error::Error::source(&error) {
        reason = format!("{reason}: {source}");
    }
    LoadError::NotALibrary {
        path: path.to_owned(),
        reason,
    }
}

/// Whether the plugin's file is read for its digest here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Digest {
    /// Read it: the plugin is loaded for this process.
    Compute,
    /// Leave it: the process that asked for the plugin computes it.
    Skip,
}

/// The SHA-256 digest of a file, as lowercase hex.
pub(crate) fn sha256_of(path: &Path) -> Result<String, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(format!("{:x}", Sha256::digest(bytes)))
}

/// Tells apart what can be at a plugin path before anything opens it: a
/// file (the one answer that goes on), nothing, a dangling symbolic link,
/// a loop of links, a directory, or something else (a FIFO, which opening
/// would block on).
pub(crate) fn check_file(path: &Path) -> Result<(), LoadError> {
    let path_buf = || path.to_owned();
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) if meta.is_dir() => Err(LoadError::Directory { path: path_buf() }),
        Ok(meta) => Err(LoadError::NotAFile {
            path: path_buf(),
            what: special_kind(&meta),
        }),
        Err(e) if is_loop(&e) => Err(LoadError::SymlinkLoop { path: path_buf() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::read_link(path) {
            Ok(target) => Err(LoadError::DanglingSymlink {
                path: path_buf(),
                target,
            }),
            Err(_) => Err(LoadError::Missing { path: path_buf() }),
        },
        Err(source) => Err(LoadError::Io {
            path: path_buf(),
            source,
        }),
    }
}

#[cfg(unix)]
fn is_loop(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(not(unix))]
fn is_loop(_: &std::io::Error) -> bool {
    false
}

#[cfg(unix)]
fn special_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::Metadata) -> &'static str {
    "not a regular file"
}

type EntryPoint = unsafe extern "C" fn() -> *const Descriptor;

/// Finds the entry point (the one named for the scorer the file is named
/// for, else the generic one) and calls it; tells a plugin that needs a
/// newer host apart from a library that is no plugin at all. Returns a
/// copy of the descriptor, read as far as its declared size (the fields
/// it lacks take their defaults), which the plugin cannot change later.
fn entry_point(
    library: &libloading::Library,
    path: &Path,
) -> Result<&'static Descriptor, LoadError> {
    let named = path
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(abi::library_scorer)
        .map(|name| abi::entry_symbol(&name));
    let entry = named
        .iter()
        .map(String::as_bytes)
        .chain([abi::SYMBOL])
        // SAFETY: the symbol, if present, has the signature of the ABI.
        .find_map(|symbol| {
            unsafe { library.get::<EntryPoint>(symbol) }
                .ok()
                .map(|e| *e)
        });
    let Some(entry) = entry else {
        // Entry points keep their `v1` name through the versions this
        // host speaks; one named for a later version is a newer plugin.
        let other = (ABI_VERSION + 1..=16).find(|v| {
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
    };
    // SAFETY: the entry point takes nothing and returns a static pointer.
    let ptr = unsafe { entry() };
    if ptr.is_null() {
        return Err(invalid_descriptor(
            path,
            "the entry point returned a null descriptor",
        ));
    }
    // Read the version and size before anything else.
    // SAFETY: every ABI version starts with these two u32 fields.
    let (version, size) = unsafe {
        let head = ptr.cast::<u32>();
        (head.read(), head.add(1).read())
    };
    if version == 0 {
        return Err(invalid_descriptor(path, "its ABI version is 0"));
    }
    if size < DESCRIPTOR_MIN_SIZE {
        return Err(LoadError::DescriptorTooSmall {
            path: path.to_owned(),
            found: size,
            expected: DESCRIPTOR_MIN_SIZE,
        });
    }
    let mut copy = std::mem::MaybeUninit::<Descriptor>::zeroed();
    // SAFETY: the plugin's static descriptor holds `size` bytes, and the
    // copy takes no more than that. All zeros is a valid descriptor (null
    // pointers, `None` for every function), and so is whatever the plugin
    // wrote in its fields: raw pointers and integers take any value, and a
    // function field is `None` when null, a function pointer otherwise.
    let descriptor = unsafe {
        std::ptr::copy_nonoverlapping(
            ptr.cast::<u8>(),
            copy.as_mut_ptr().cast::<u8>(),
            (size as usize).min(size_of::<Descriptor>()),
        );
        copy.assume_init()
    };
    let required = descriptor.required_abi_version();
    if required > ABI_VERSION {
        return Err(LoadError::AbiVersion {
            path: path.to_owned(),
            found: required,
            expected: ABI_VERSION,
        });
    }
    // Kept for good, as the library is: see `Plugin`.
    Ok(Box::leak(Box::new(descriptor)))
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
    if len > DESCRIPTOR_TEXT_LIMIT {
        return Err(invalid_descriptor(
            path,
            format!(
                "{field} is {len} bytes long, over the {DESCRIPTOR_TEXT_LIMIT} a descriptor's text may be"
            ),
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
        (false, n) if n > CONFIG_KEYS_LIMIT => {
            return Err(invalid_descriptor(
                path,
                format!("it lists {n} config keys, over the {CONFIG_KEYS_LIMIT} a plugin may have"),
            ));
        }
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
        needs_trace: d.needs_trace(),
    })
}

/// The plugin files in the directories of `VERDICT_PLUGIN_PATH`, in the
/// order of the directories, then by file name: every entry whose name
/// ends in the system's library extension (`.so`), whatever it is, so
/// that a directory, a dangling link or a loop of links named so is
/// reported when it is read rather than silently skipped. A file listed
/// in the variable itself is taken too; directories that do not exist are
/// skipped, as `PATH` does. Nothing is opened here.
pub fn discover() -> Vec<PathBuf> {
    let Some(dirs) = std::env::var_os(PLUGIN_PATH_VAR) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for dir in std::env::split_paths(&dirs) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        if dir.is_file() {
            found.push(dir);
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
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
        unsafe { host::score_batch(self.plugin.descriptor, self.state, records, &[], out) };
    }

    fn score_batch_traced(
        &self,
        records: &[Record<'_>],
        traces: &[Option<&Trace<'_>>],
        out: &mut Results,
    ) {
        let _serial = self
            .serial
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner));
        // SAFETY: as above; the traces are borrowed for the call.
        unsafe { host::score_batch(self.plugin.descriptor, self.state, records, traces, out) };
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
