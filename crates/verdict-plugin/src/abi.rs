//! The C ABI, version 1: the types that cross the boundary between the
//! host and a plugin, laid out as `include/verdict_plugin.h` declares them.
//!
//! Rules of the boundary:
//!
//! - The host passes text as borrowed UTF-8 byte slices ([`Str`]); they are
//!   valid for the duration of the call only.
//! - The plugin writes results into host-owned [`ResultSlot`]s; text goes
//!   into host-provided buffers ([`Buf`]), or, when it is static text of the
//!   plugin (which stays valid because the host never unloads a plugin), is
//!   pointed at without a copy. Nothing allocated on one side is freed on
//!   the other.
//! - Every exported function catches panics; a plugin built with
//!   `panic = "abort"` cannot, and does not set [`FLAG_PANIC_UNWIND`].
//! - Fields are only ever appended to [`Descriptor`]; the host checks
//!   [`Descriptor::abi_version`] and [`Descriptor::struct_size`] before
//!   reading anything else.

use std::ffi::c_void;
use std::marker::PhantomData;

/// The ABI version this crate speaks.
pub const ABI_VERSION: u32 = 1;

/// The name of the one symbol a plugin exports, NUL-terminated. It is a
/// function taking nothing and returning `*const Descriptor`.
pub const SYMBOL: &[u8] = b"verdict_plugin_v1\0";

/// Descriptor flag: the plugin was built with `panic = "unwind"`, so its
/// exported functions catch panics. The host refuses plugins without it.
pub const FLAG_PANIC_UNWIND: u64 = 1;
/// Descriptor flag: `score` and `score_batch` may be called from several
/// threads at once on the same state.
pub const FLAG_THREAD_SAFE: u64 = 2;

/// Return code: the call succeeded.
pub const RC_OK: i32 = 0;
/// Return code: the call failed (a bad config, a bad argument); the
/// message is available through `last_error`.
pub const RC_ERROR: i32 = 1;
/// Return code: the plugin panicked and caught it; the message is available
/// through `last_error`.
pub const RC_PANIC: i32 = 2;

/// Value kind: no value.
pub const VALUE_NULL: u32 = 0;
/// Value kind: a string; the text is the string itself, not JSON.
pub const VALUE_STRING: u32 = 1;
/// Value kind: any other JSON (number, bool, list, object); the text is
/// its JSON encoding.
pub const VALUE_JSON: u32 = 2;

/// Result status: scored; `kind` says which value.
pub const STATUS_OK: u32 = 0;
/// Result status: the scorer reported an error; `label` holds its code and
/// `rationale` its message.
pub const STATUS_ERROR: u32 = 1;
/// Result status: the scorer panicked on this record; `rationale` holds the
/// panic message.
pub const STATUS_PANIC: u32 = 2;

/// Result kind: a bool in `number` (0 or 1).
pub const KIND_BOOL: u32 = 1;
/// Result kind: a number in `number`.
pub const KIND_NUMBER: u32 = 2;
/// Result kind: a label in `label`.
pub const KIND_LABEL: u32 = 3;

/// Result flag: the result has a rationale (an empty one is still one), in
/// `rationale` or, with [`RESULT_RATIONALE_STATIC`], in `rationale_static`.
pub const RESULT_HAS_RATIONALE: u32 = 1;
/// Result flag: the label (or error code) is `label_static`, text in the
/// plugin's static memory, rather than a copy in `label`.
pub const RESULT_LABEL_STATIC: u32 = 2;
/// Result flag: the rationale (or message) is `rationale_static`, text in
/// the plugin's static memory, rather than a copy in `rationale`.
pub const RESULT_RATIONALE_STATIC: u32 = 4;

/// Borrowed UTF-8 text: a pointer and a length in bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Str<'a> {
    ptr: *const u8,
    len: usize,
    _text: PhantomData<&'a str>,
}

// SAFETY: a `Str` is a borrowed `&str` in another shape.
unsafe impl Send for Str<'_> {}
// SAFETY: as above.
unsafe impl Sync for Str<'_> {}

impl<'a> Str<'a> {
    /// Borrows `text`.
    pub const fn new(text: &'a str) -> Self {
        Str {
            ptr: text.as_ptr(),
            len: text.len(),
            _text: PhantomData,
        }
    }

    /// Points at `text`, storing the two words one at a time. The text
    /// reference usually comes from an outcome the scorer has just written
    /// word by word; copying it as one 16-byte vector (which the optimizer
    /// otherwise does) waits for those writes to reach the cache, and that
    /// wait was the largest cost of a plugin's batch entry.
    #[inline]
    pub(crate) fn set(&mut self, text: &'a str) {
        // SAFETY: plain writes to this struct's own fields; volatile only
        // keeps them apart.
        unsafe {
            std::ptr::write_volatile(&raw mut self.ptr, text.as_ptr());
            std::ptr::write_volatile(&raw mut self.len, text.len());
        }
    }

    /// The text.
    pub fn as_str(&self) -> &'a str {
        if self.len == 0 {
            return "";
        }
        // SAFETY: a `Str` is made from a `&'a str` by `new`, or handed over
        // by the host, whose contract (verdict_plugin.h) is to pass valid
        // UTF-8 that outlives the call.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr, self.len)) }
    }

    /// The raw parts, for the host's checks.
    pub fn raw_parts(&self) -> (*const u8, usize) {
        (self.ptr, self.len)
    }
}

impl std::fmt::Debug for Str<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A host-owned output buffer. The plugin copies at most `cap` bytes to
/// `ptr` and sets `len` to the full length of its text, so that the host
/// sees when the text did not fit (`len > cap`) and can ask again.
#[repr(C)]
#[derive(Debug)]
pub struct Buf {
    /// Where to write.
    pub ptr: *mut u8,
    /// How many bytes fit.
    pub cap: usize,
    /// Set by the plugin: the full length of the text it wanted to write.
    pub len: usize,
}

impl Buf {
    /// An empty buffer (capacity 0): every text is reported as not fitting.
    pub const EMPTY: Buf = Buf {
        ptr: std::ptr::null_mut(),
        cap: 0,
        len: 0,
    };

    /// Writes `text`, truncated to the capacity, and records its full length.
    pub fn write(&mut self, text: &[u8]) {
        let n = text.len().min(self.cap);
        if n > 0 {
            // SAFETY: the host guarantees `ptr` is valid for `cap` bytes.
            unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), self.ptr, n) };
        }
        self.len = text.len();
    }
}

/// One result, in host memory.
#[repr(C)]
#[derive(Debug)]
pub struct ResultSlot {
    /// [`STATUS_OK`], [`STATUS_ERROR`] or [`STATUS_PANIC`].
    pub status: u32,
    /// With [`STATUS_OK`]: [`KIND_BOOL`], [`KIND_NUMBER`] or [`KIND_LABEL`].
    pub kind: u32,
    /// [`RESULT_HAS_RATIONALE`], or 0.
    pub flags: u32,
    /// Reserved, 0.
    pub reserved: u32,
    /// The number, or the bool as 0 or 1.
    pub number: f64,
    /// The label, or the error code.
    pub label: Buf,
    /// The rationale, or the error or panic message.
    pub rationale: Buf,
    /// With [`RESULT_LABEL_STATIC`]: the label or error code, pointing at
    /// the plugin's static memory. Since the host never unloads a plugin,
    /// such text stays valid, and the host need not copy it.
    pub label_static: Str<'static>,
    /// With [`RESULT_RATIONALE_STATIC`]: the rationale or message, in the
    /// plugin's static memory.
    pub rationale_static: Str<'static>,
}

impl ResultSlot {
    /// A slot whose text buffers are `label` and `rationale`, with a status
    /// no plugin writes, so that a slot left untouched shows.
    ///
    /// # Safety
    /// The buffers must stay valid, and not be otherwise used, for as long
    /// as a plugin may write to the slot.
    pub unsafe fn with_buffers(
        label: *mut u8,
        label_cap: usize,
        rationale: *mut u8,
        rationale_cap: usize,
    ) -> Self {
        ResultSlot {
            status: STATUS_UNTOUCHED,
            kind: 0,
            flags: 0,
            reserved: 0,
            number: 0.0,
            label: Buf {
                ptr: label,
                cap: label_cap,
                len: 0,
            },
            rationale: Buf {
                ptr: rationale,
                cap: rationale_cap,
                len: 0,
            },
            label_static: Str::new(""),
            rationale_static: Str::new(""),
        }
    }
}

/// The status of a slot no plugin has written: [`ResultSlot::with_buffers`]
/// sets it, so that a plugin that skips a slot is caught.
pub const STATUS_UNTOUCHED: u32 = u32::MAX;

/// Documentation of one config key, for listings such as `verdict scorers`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ConfigKey {
    /// The key.
    pub name: Str<'static>,
    /// Its type, in words: `string`, `bool`, `number`, `integer`,
    /// `string or list of strings`, `one of: raw, strip, squad`…
    pub kind: Str<'static>,
    /// Its default, in words (empty when required or absent).
    pub default_value: Str<'static>,
    /// What it does.
    pub description: Str<'static>,
}

impl ConfigKey {
    /// Documents a key.
    pub const fn new(
        name: &'static str,
        kind: &'static str,
        default_value: &'static str,
        description: &'static str,
    ) -> Self {
        ConfigKey {
            name: Str::new(name),
            kind: Str::new(kind),
            default_value: Str::new(default_value),
            description: Str::new(description),
        }
    }
}

/// Creates a scorer state from a JSON config (an object, possibly empty).
pub type CreateFn = unsafe extern "C" fn(config: Str<'_>, state: *mut *mut c_void) -> i32;
/// Scores one record into one result slot.
pub type ScoreFn = unsafe extern "C" fn(
    state: *const c_void,
    record: *const RawRecord,
    result: *mut ResultSlot,
) -> i32;
/// Scores `n` records into `n` result slots.
pub type ScoreBatchFn = unsafe extern "C" fn(
    state: *const c_void,
    records: *const RawRecord,
    n: usize,
    results: *mut ResultSlot,
) -> i32;
/// Frees a scorer state.
pub type DestroyFn = unsafe extern "C" fn(state: *mut c_void);
/// Copies the calling thread's last error message into `buf` (at most
/// `cap` bytes) and returns its full length.
pub type LastErrorFn = unsafe extern "C" fn(buf: *mut u8, cap: usize) -> usize;

/// What a plugin's exported symbol returns: who it is and its functions.
#[repr(C)]
pub struct Descriptor {
    /// [`ABI_VERSION`] of the plugin kit the plugin was built with.
    pub abi_version: u32,
    /// `size_of::<Descriptor>()` in the plugin; fields past it are absent.
    pub struct_size: u32,
    /// [`FLAG_PANIC_UNWIND`], [`FLAG_THREAD_SAFE`].
    pub flags: u64,
    /// The scorer's name, such as `exact_match`.
    pub name: Str<'static>,
    /// The scorer's version.
    pub version: Str<'static>,
    /// One sentence on what it scores.
    pub description: Str<'static>,
    /// Its config keys.
    pub config_keys: *const ConfigKey,
    /// How many config keys.
    pub n_config_keys: usize,
    /// See [`CreateFn`]. Never null in a valid plugin; the host checks.
    pub create: Option<CreateFn>,
    /// See [`ScoreFn`]. Never null in a valid plugin; the host checks.
    pub score: Option<ScoreFn>,
    /// See [`ScoreBatchFn`]. Never null in a valid plugin; the host checks.
    pub score_batch: Option<ScoreBatchFn>,
    /// See [`DestroyFn`]. Never null in a valid plugin; the host checks.
    pub destroy: Option<DestroyFn>,
    /// See [`LastErrorFn`]. Never null in a valid plugin; the host checks.
    pub last_error: Option<LastErrorFn>,
}

// SAFETY: a descriptor is immutable static data and function pointers.
unsafe impl Sync for Descriptor {}

/// A record as it crosses the boundary: the same layout as
/// [`Record`](crate::Record), without lifetimes.
pub type RawRecord = crate::record::Record<'static>;
