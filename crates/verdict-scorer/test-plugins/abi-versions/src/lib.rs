//! Three descriptors of other ABI versions, each behind its own entry
//! point, so that the host's tests pick one by the name they give the
//! library file (see `verdict_plugin::abi::library_scorer`):
//!
//! - the generic `verdict_plugin_v1` (this crate's own file name): an old
//!   layout, the required fields only, with no `min_abi_version`;
//! - `verdict_plugin_v1_newer` (a file named `newer`): built for ABI v3,
//!   one field longer than this host knows, working with hosts from v1;
//! - `verdict_plugin_v1_too_new` (a file named `too_new`): built for ABI
//!   v4, needing a host of v3 or later;
//! - `verdict_plugin_v1_kit_v1` (a file named `kit_v1`): the descriptor
//!   the kit made before version 2 added traces, byte for byte: the
//!   required fields, then `min_abi_version` 1, and nothing after.

use std::ffi::c_void;

use verdict_plugin::abi::{
    ConfigKey, CreateFn, DESCRIPTOR_MIN_SIZE, Descriptor, DestroyFn, FLAG_PANIC_UNWIND,
    FLAG_THREAD_SAFE, FLAG_VALID_RESULTS, LastErrorFn, ScoreBatchFn, ScoreFn, Str,
};
use verdict_plugin::export::{create, destroy, last_error, score, score_batch};
use verdict_plugin::{Config, ConfigError, Outcome, Record, Score, Scorer};

/// A scorer that always passes.
pub struct Pass;

impl Scorer for Pass {
    const NAME: &'static str = "old_layout";
    const VERSION: &'static str = "0.0.1";
    const DESCRIPTION: &'static str = "Always passes.";

    fn from_config(_: &Config) -> Result<Self, ConfigError> {
        Ok(Pass)
    }

    fn score(&self, _: &Record<'_>) -> Outcome {
        Ok(Score::bool(true))
    }
}

/// The required fields of a descriptor, as the first version laid them
/// out, and nothing after them.
#[repr(C)]
pub struct OldLayout {
    abi_version: u32,
    struct_size: u32,
    flags: u64,
    name: Str<'static>,
    version: Str<'static>,
    description: Str<'static>,
    config_keys: *const ConfigKey,
    n_config_keys: usize,
    create: Option<CreateFn>,
    score: Option<ScoreFn>,
    score_batch: Option<ScoreBatchFn>,
    destroy: Option<DestroyFn>,
    last_error: Option<LastErrorFn>,
}

// SAFETY: immutable static data and function pointers.
unsafe impl Sync for OldLayout {}

const _: () = assert!(size_of::<OldLayout>() == DESCRIPTOR_MIN_SIZE as usize);

static OLD: OldLayout = OldLayout {
    abi_version: 1,
    struct_size: size_of::<OldLayout>() as u32,
    flags: FLAG_PANIC_UNWIND,
    name: Str::new("old_layout"),
    version: Str::new("0.0.1"),
    description: Str::new("Always passes; an old descriptor."),
    config_keys: std::ptr::null(),
    n_config_keys: 0,
    create: Some(create::<Pass>),
    score: Some(score::<Pass>),
    score_batch: Some(score_batch::<Pass>),
    destroy: Some(destroy::<Pass>),
    last_error: Some(last_error),
};

/// The descriptor the kit made for ABI v1: the old layout, then
/// `min_abi_version`.
#[repr(C)]
pub struct KitV1 {
    old: OldLayout,
    min_abi_version: u32,
}

const _: () = assert!(
    size_of::<KitV1>() == std::mem::offset_of!(Descriptor, score_batch_traced),
    "v1's descriptor ends where v2's first field starts"
);

static KIT_V1: KitV1 = KitV1 {
    old: OldLayout {
        abi_version: 1,
        struct_size: size_of::<KitV1>() as u32,
        flags: FLAG_PANIC_UNWIND | FLAG_THREAD_SAFE | FLAG_VALID_RESULTS,
        name: Str::new("kit_v1"),
        version: Str::new("0.0.1"),
        description: Str::new("Always passes; the kit's v1 descriptor."),
        config_keys: std::ptr::null(),
        n_config_keys: 0,
        create: Some(create::<Pass>),
        score: Some(score::<Pass>),
        score_batch: Some(score_batch::<Pass>),
        destroy: Some(destroy::<Pass>),
        last_error: Some(last_error),
    },
    min_abi_version: 1,
};

/// The entry point of a library named `kit_v1`.
#[unsafe(no_mangle)]
pub extern "C" fn verdict_plugin_v1_kit_v1() -> *const c_void {
    (&raw const KIT_V1).cast()
}

/// A descriptor of a later version: this host's fields, then one more.
#[repr(C)]
pub struct Later {
    known: Descriptor,
    /// A field this host does not know.
    added: u64,
}

/// A descriptor for ABI `version`, named `name`, working with hosts from
/// `min`, one field longer than this host's.
const fn later(name: &'static str, version: u32, min: u32) -> Later {
    let mut known = verdict_plugin::export::descriptor::<Pass>(FLAG_PANIC_UNWIND);
    known.abi_version = version;
    known.struct_size = size_of::<Later>() as u32;
    known.name = Str::new(name);
    known.min_abi_version = min;
    Later {
        known,
        added: u64::MAX,
    }
}

static NEWER: Later = later("newer", 3, 1);
static TOO_NEW: Later = later("too_new", 4, 3);

/// The generic entry point: the old layout.
#[unsafe(no_mangle)]
pub extern "C" fn verdict_plugin_v1() -> *const c_void {
    (&raw const OLD).cast()
}

/// The entry point of a library named `newer`.
#[unsafe(no_mangle)]
pub extern "C" fn verdict_plugin_v1_newer() -> *const c_void {
    (&raw const NEWER).cast()
}

/// The entry point of a library named `too_new`.
#[unsafe(no_mangle)]
pub extern "C" fn verdict_plugin_v1_too_new() -> *const c_void {
    (&raw const TOO_NEW).cast()
}
