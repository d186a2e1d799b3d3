//! The C ABI, version 2: the types that cross the boundary between the
//! host and a plugin, laid out as `include/verdict_plugin.h` declares them.
//!
//! Rules of the boundary:
//!
//! - The host passes text as borrowed UTF-8 byte slices ([`Str`]); they are
//!   valid for the duration of the call only.
//! - The plugin writes one [`ResultSlot`] per record into host memory. The
//!   slot is what the host keeps: it checks it once (or trusts a plugin that
//!   vouches for its results, [`FLAG_VALID_RESULTS`]) and stores it as it is,
//!   with no conversion. Its texts (a label or error code, a rationale or
//!   message) are [`Str`]s that point either at static text of the plugin
//!   (valid for good, because the host never unloads a plugin) or at a copy
//!   the plugin appended to the call's one text buffer ([`Buf::push`]). A
//!   text that does not fit is written as a null pointer with the text's
//!   length; the host then scores that record again, alone, with a buffer
//!   large enough. Nothing allocated on one side is freed on the other.
//! - The host checks what comes back before it reads or allocates by it:
//!   the text buffer's pointer and capacity unchanged and its length
//!   within its capacity, no result written after the slots handed over,
//!   every text within [`TEXT_LIMIT`](crate::host::TEXT_LIMIT), static
//!   text copied (unless the plugin vouches for it), at most
//!   [`LAST_ERROR_LIMIT`](crate::host::LAST_ERROR_LIMIT) bytes of a
//!   message read. What it cannot check in its own process (unmapped
//!   pointers, writes past what it handed over) takes isolation.
//! - Every exported function catches panics; a plugin built with
//!   `panic = "abort"` cannot, and does not set [`FLAG_PANIC_UNWIND`].
//!
//! Entry points and versions:
//!
//! - A library exports the entry point of its scorer, named by
//!   [`entry_symbol`] (`verdict_plugin_v1_exact_match`), the generic
//!   [`SYMBOL`], or both. A host looks for the one named for the scorer
//!   the file is named for ([`library_scorer`]), then for the generic one.
//! - Fields are only ever appended to [`Descriptor`]; the host reads
//!   [`Descriptor::abi_version`] and [`Descriptor::struct_size`] first,
//!   then only the fields the size covers (the others take their
//!   defaults), and refuses a plugin whose
//!   [`Descriptor::min_abi_version`] is past its own [`ABI_VERSION`].

use std::ffi::c_void;
use std::marker::PhantomData;

/// The ABI version this crate speaks: what a plugin built with it puts in
/// [`Descriptor::abi_version`], and the newest version a host built with
/// it loads.
///
/// Version 2 added traces: a plugin whose descriptor has
/// [`score_batch_traced`](Descriptor::score_batch_traced) is handed each
/// record's trace beside it. Plugins built for version 1 load and score as
/// they did.
pub const ABI_VERSION: u32 = 2;

/// The ABI version that added traces ([`Descriptor::score_batch_traced`]):
/// the [`Descriptor::min_abi_version`] of a plugin that reads them.
pub const ABI_VERSION_TRACES: u32 = 2;

/// The name of the generic entry point, NUL-terminated: a function taking
/// nothing and returning `*const Descriptor`. A host looks for it when the
/// library has no entry point named for its scorer ([`entry_symbol`]).
pub const SYMBOL: &[u8] = b"verdict_plugin_v1\0";

/// The entry point of the scorer `name`: `verdict_plugin_v1_<name>`. A
/// library exports it instead of (or beside) the generic [`SYMBOL`], so
/// that several plugins can be linked into one program, each with its own
/// symbol; a host finds it by the library's file name
/// ([`library_scorer`]).
pub fn entry_symbol(name: &str) -> String {
    format!("verdict_plugin_v1_{name}")
}

/// The scorer a library file is named for, whose entry point
/// ([`entry_symbol`]) a host looks for first: the file name without the
/// platform's library prefix (`lib` on Unix), without everything from its
/// first `.`, and without a leading `verdict_` or `verdict-`, with every
/// `-` read as `_`. `libverdict_exact_match.so`, `exact-match.dll` and
/// `libexact_match.dylib` are all named for `exact_match`. `None` when
/// nothing is left, or what is left is not made of ASCII letters, digits
/// and `_`.
///
/// ```
/// use verdict_plugin::abi::library_scorer;
///
/// let file = format!("{}verdict_token_f1.so", std::env::consts::DLL_PREFIX);
/// assert_eq!(library_scorer(&file).as_deref(), Some("token_f1"));
/// assert_eq!(library_scorer("my-scorer.so.1").as_deref(), Some("my_scorer"));
/// assert_eq!(library_scorer(".so"), None);
/// ```
pub fn library_scorer(file_name: &str) -> Option<String> {
    let name = file_name
        .strip_prefix(std::env::consts::DLL_PREFIX)
        .unwrap_or(file_name);
    let name = name.split('.').next().unwrap_or_default().replace('-', "_");
    let name = name.strip_prefix("verdict_").unwrap_or(&name);
    let plain = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    plain.then(|| name.to_owned())
}

/// Descriptor flag: the plugin was built with `panic = "unwind"`, so its
/// exported functions catch panics. The host refuses plugins without it.
pub const FLAG_PANIC_UNWIND: u64 = 1;
/// Descriptor flag: `score` and `score_batch` may be called from several
/// threads at once on the same state.
pub const FLAG_THREAD_SAFE: u64 = 2;
/// Descriptor flag: the plugin vouches for its results: it writes every
/// slot, with a known status, kind and verdict, a finite number, a bool
/// that is 0 or 1, and UTF-8 text that is static or within what it wrote. The kit
/// sets it: its writer makes results from Rust values, whose strings are
/// UTF-8, and turns a number that is not finite into an error with code
/// `SCORER_INVALID_RESULT`. The host then checks such results only to move
/// the text a call copied, and not at all when it copied none. Without it,
/// the host checks every slot (static text for UTF-8 once per address).
pub const FLAG_VALID_RESULTS: u64 = 4;

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
pub const KIND_BOOL: u16 = 1;
/// Result kind: a number in `number`; it must be finite.
pub const KIND_NUMBER: u16 = 2;
/// Result kind: a label in `label`.
pub const KIND_LABEL: u16 = 3;

/// Result verdict: the scorer says nothing of pass or fail (the value is
/// judged by the host's criterion alone).
pub const VERDICT_NONE: u16 = 0;
/// Result verdict: by the scorer's own criterion (a threshold in its
/// config), the value passes.
pub const VERDICT_PASS: u16 = 1;
/// Result verdict: by the scorer's own criterion, the value fails.
pub const VERDICT_FAIL: u16 = 2;

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
    /// No text: a null pointer and a length of 0. A result's rationale is
    /// absent when it is this.
    pub const ABSENT: Str<'static> = Str {
        ptr: std::ptr::null(),
        len: 0,
        _text: PhantomData,
    };

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

    /// The text; `""` when absent (a null pointer).
    pub fn as_str(&self) -> &'a str {
        if self.len == 0 || self.ptr.is_null() {
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

    /// A text from raw parts, for hand-written ABI code.
    ///
    /// # Safety
    /// Unless `ptr` is null, it must point at `len` bytes of UTF-8 that
    /// stay valid for `'a`, as [`as_str`](Self::as_str) reads them.
    pub const unsafe fn from_raw_parts(ptr: *const u8, len: usize) -> Self {
        Str {
            ptr,
            len,
            _text: PhantomData,
        }
    }
}

impl std::fmt::Debug for Str<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The host-owned text buffer of one call. The plugin appends the text it
/// must copy (text that is not static) at `ptr + len` and advances `len`;
/// it never writes past `cap`. [`Buf::push`] does both.
#[repr(C)]
#[derive(Debug)]
pub struct Buf {
    /// The start of the buffer.
    pub ptr: *mut u8,
    /// How many bytes it holds.
    pub cap: usize,
    /// How many bytes the plugin has written so far.
    pub len: usize,
}

impl Buf {
    /// An empty buffer over `bytes`, for one call. The bytes must not move
    /// or be otherwise used while a plugin may write to them.
    pub fn over(bytes: &mut [u8]) -> Buf {
        Buf {
            ptr: bytes.as_mut_ptr(),
            cap: bytes.len(),
            len: 0,
        }
    }

    /// Appends `text` and returns where it now is; when it does not fit in
    /// what is left, writes nothing and returns a null pointer with the
    /// text's length, so that the host knows to score the record again with
    /// a larger buffer.
    #[inline]
    pub fn push(&mut self, text: &[u8]) -> Str<'static> {
        if text.is_empty() {
            return Str::new("");
        }
        if text.len() > self.cap.saturating_sub(self.len) {
            // SAFETY: a null pointer.
            return unsafe { Str::from_raw_parts(std::ptr::null(), text.len()) };
        }
        // SAFETY: the host guarantees `ptr` is valid for `cap` bytes, and
        // `len + text.len() <= cap`.
        let at = unsafe { self.ptr.add(self.len) };
        // SAFETY: as above; the text is the scorer's, not in the buffer.
        unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), at, text.len()) };
        self.len += text.len();
        // SAFETY: the bytes just copied from a `&[u8]`; they are UTF-8 when
        // the caller's text is, and the host checks them.
        unsafe { Str::from_raw_parts(at, text.len()) }
    }
}

/// One result, in host memory: 48 bytes, written once by the plugin and
/// kept by the host as it is.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ResultSlot {
    /// [`STATUS_OK`], [`STATUS_ERROR`] or [`STATUS_PANIC`].
    pub status: u32,
    /// With [`STATUS_OK`]: [`KIND_BOOL`], [`KIND_NUMBER`] or [`KIND_LABEL`].
    pub kind: u16,
    /// With [`KIND_NUMBER`] or [`KIND_LABEL`]: whether the value passes
    /// the scorer's own criterion, [`VERDICT_PASS`] or [`VERDICT_FAIL`],
    /// or [`VERDICT_NONE`] when the scorer has none. Not read with
    /// [`KIND_BOOL`] (the bool is the verdict) or an error. The host sets
    /// it to [`VERDICT_NONE`] with the status before a call, so a plugin
    /// that never writes it says nothing.
    pub verdict: u16,
    /// The number, or the bool as 0 or 1.
    pub number: f64,
    /// The label ([`KIND_LABEL`]), or the error code ([`STATUS_ERROR`]):
    /// static text of the plugin, or a copy in the call's [`Buf`]. Not
    /// read otherwise, so it need not be written.
    pub label: Str<'static>,
    /// The rationale, or the error or panic message, like `label`;
    /// [`Str::ABSENT`] when there is none.
    pub rationale: Str<'static>,
}

impl ResultSlot {
    /// A slot no plugin has written yet: its status is
    /// [`STATUS_UNTOUCHED`], so that a plugin that skips it is caught.
    pub const UNTOUCHED: ResultSlot = ResultSlot {
        status: STATUS_UNTOUCHED,
        kind: 0,
        verdict: VERDICT_NONE,
        number: 0.0,
        label: Str::ABSENT,
        rationale: Str::ABSENT,
    };
}

// 48 bytes on 64-bit targets, as the header says.
const _: () = assert!(size_of::<ResultSlot>() == 16 + 4 * size_of::<usize>());

/// The status of a slot no plugin has written: the host sets it before a
/// call, so that a plugin that skips a slot is caught.
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
/// Scores one record into one result slot, copying text into `text`.
pub type ScoreFn = unsafe extern "C" fn(
    state: *const c_void,
    record: *const RawRecord,
    text: *mut Buf,
    result: *mut ResultSlot,
) -> i32;
/// Scores `n` records into `n` result slots, copying text into `text`.
pub type ScoreBatchFn = unsafe extern "C" fn(
    state: *const c_void,
    records: *const RawRecord,
    n: usize,
    text: *mut Buf,
    results: *mut ResultSlot,
) -> i32;
/// Scores `n` records, each with its trace (`traces[i]`, null when record
/// `i` has none), into `n` result slots, copying text into `text`.
pub type ScoreBatchTracedFn = unsafe extern "C" fn(
    state: *const c_void,
    records: *const RawRecord,
    traces: *const *const RawTrace,
    n: usize,
    text: *mut Buf,
    results: *mut ResultSlot,
) -> i32;
/// Frees a scorer state.
pub type DestroyFn = unsafe extern "C" fn(state: *mut c_void);
/// Copies the calling thread's last error message into `buf` (at most
/// `cap` bytes) and returns its full length.
pub type LastErrorFn = unsafe extern "C" fn(buf: *mut u8, cap: usize) -> usize;

/// What a plugin's exported symbol returns: who it is and its functions.
///
/// It only ever grows: a field keeps its place, type and meaning, and new
/// fields are appended. [`struct_size`](Self::struct_size) says which
/// fields a plugin has: a host reads a field only when the size covers it,
/// takes its default (given with each field) otherwise, and ignores what
/// follows the fields it knows. The fields up to
/// [`last_error`](Self::last_error) are required
/// ([`DESCRIPTOR_MIN_SIZE`]).
#[repr(C)]
pub struct Descriptor {
    /// [`ABI_VERSION`] of the plugin kit or header the plugin was built
    /// with.
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
    /// The oldest ABI version of a host the plugin works with: a host of an
    /// older version refuses it, one of this version or later loads it.
    /// Raised above 1 only by a plugin that relies on what a later version
    /// added. When absent (a smaller descriptor) or 0:
    /// [`abi_version`](Self::abi_version).
    pub min_abi_version: u32,
    /// See [`ScoreBatchTracedFn`]; since version 2. Set only by a scorer
    /// that reads traces: the host then calls it, and not
    /// [`score_batch`](Self::score_batch) or [`score`](Self::score), with
    /// each record's trace, and builds traces for no other scorer. Such a
    /// plugin sets [`min_abi_version`](Self::min_abi_version) to
    /// [`ABI_VERSION_TRACES`], so that an older host, which would score it
    /// without traces, refuses it. When absent or null: the scorer does
    /// not read traces.
    pub score_batch_traced: Option<ScoreBatchTracedFn>,
}

/// The size of the smallest descriptor a host accepts: every field up to
/// [`Descriptor::last_error`].
pub const DESCRIPTOR_MIN_SIZE: u32 = std::mem::offset_of!(Descriptor, min_abi_version) as u32;

impl Descriptor {
    /// The oldest host ABI version the plugin works with (see
    /// [`min_abi_version`](Self::min_abi_version)), when the descriptor is
    /// `struct_size` bytes long.
    pub fn required_abi_version(&self) -> u32 {
        let has = self.struct_size as usize
            >= std::mem::offset_of!(Descriptor, min_abi_version) + size_of::<u32>();
        match self.min_abi_version {
            min if has && min != 0 => min,
            _ => self.abi_version,
        }
    }

    /// Whether the scorer reads traces: it has
    /// [`score_batch_traced`](Self::score_batch_traced) (a descriptor too
    /// small to hold it has not).
    pub fn needs_trace(&self) -> bool {
        let has = self.struct_size as usize
            >= std::mem::offset_of!(Descriptor, score_batch_traced) + size_of::<usize>();
        has && self.score_batch_traced.is_some()
    }
}

// SAFETY: a descriptor is immutable static data and function pointers.
unsafe impl Sync for Descriptor {}

/// A record as it crosses the boundary: the same layout as
/// [`Record`](crate::Record), without lifetimes.
pub type RawRecord = crate::record::Record<'static>;

pub use crate::trace::RawTrace;
