//! Hand-written ABI functions that return what the kit never would. The
//! config (JSON text) picks the garbage: it must contain one of `utf8`,
//! `kind`, `status`, `bool`, `inf`, `verdict` (an unknown verdict beside a
//! number), `long`, `past` (text pointing past what
//! it wrote into the call's buffer), `skip` (a slot left unwritten), `fail`
//! (a failing batch call), `fail_create` (a refused config), `null_max`
//! (a rationale of `usize::MAX` bytes "that did not fit"), `cap_raised`
//! (the call's text buffer given a larger capacity, and filled to it),
//! `last_error_max` (a failing call whose message claims `usize::MAX`
//! bytes) or `rewrite` (a label in static memory, rewritten into invalid
//! UTF-8 by every later call).

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use verdict_plugin::abi::{
    ABI_VERSION, Buf, Descriptor, FLAG_PANIC_UNWIND, FLAG_THREAD_SAFE, KIND_BOOL, KIND_LABEL,
    KIND_NUMBER, RC_ERROR, RC_OK, RawRecord, ResultSlot, STATUS_OK, Str,
};

#[derive(Clone, Copy)]
enum Mode {
    Utf8,
    Kind,
    Status,
    Bool,
    Inf,
    Verdict,
    Long,
    Past,
    Skip,
    Fail,
    NullMax,
    CapRaised,
    LastErrorMax,
    Rewrite,
}

thread_local! {
    /// The length `last_error` claims: the message's, unless a call in
    /// `last_error_max` mode failed on this thread.
    static CLAIMED: Cell<Option<usize>> = const { Cell::new(None) };
}

const MESSAGE: &str = "raw_garbage failed on purpose";

/// Labels of two bytes in static memory, one per call (the 64th call
/// takes the first again): each call points its results at its own, after
/// rewriting every other one (which earlier calls' results point at) into
/// bytes that are not UTF-8.
static LABELS: [AtomicU8; 128] = [const { AtomicU8::new(0) }; 128];
static CALLS: AtomicUsize = AtomicUsize::new(0);

/// The label of this call, in static memory; every other call's label
/// rewritten.
fn rewritten_label() -> Str<'static> {
    let this = CALLS.fetch_add(1, Ordering::SeqCst) % (LABELS.len() / 2);
    for (i, byte) in LABELS.iter().enumerate() {
        let value = match (i / 2 == this, i % 2) {
            (true, 0) => b'o',
            (true, _) => b'k',
            (false, 0) => 0xff,
            (false, _) => 0xfe,
        };
        byte.store(value, Ordering::SeqCst);
    }
    // SAFETY: two bytes of a static array; what they hold is the host's to
    // check (that is the point).
    unsafe { Str::from_raw_parts(LABELS[2 * this..].as_ptr().cast::<u8>(), 2) }
}

unsafe extern "C" fn create(config: Str<'_>, state: *mut *mut c_void) -> i32 {
    let config = config.as_str();
    let mode = [
        ("null_max", Some(Mode::NullMax)),
        ("cap_raised", Some(Mode::CapRaised)),
        ("last_error_max", Some(Mode::LastErrorMax)),
        ("rewrite", Some(Mode::Rewrite)),
        ("fail_create", None),
        ("utf8", Some(Mode::Utf8)),
        ("kind", Some(Mode::Kind)),
        ("status", Some(Mode::Status)),
        ("bool", Some(Mode::Bool)),
        ("inf", Some(Mode::Inf)),
        ("verdict", Some(Mode::Verdict)),
        ("long", Some(Mode::Long)),
        ("past", Some(Mode::Past)),
        ("skip", Some(Mode::Skip)),
        ("fail", Some(Mode::Fail)),
    ]
    .into_iter()
    .find(|(word, _)| config.contains(word));
    match mode {
        Some((_, Some(mode))) => {
            // SAFETY: the host passes a writable slot.
            unsafe { *state = Box::into_raw(Box::new(mode)).cast() };
            RC_OK
        }
        _ => RC_ERROR,
    }
}

fn fill(mode: Mode, slot: &mut ResultSlot, text: &mut Buf) {
    slot.status = STATUS_OK;
    slot.number = 0.0;
    slot.label = Str::ABSENT;
    slot.rationale = Str::ABSENT;
    match mode {
        Mode::Utf8 => {
            slot.kind = KIND_LABEL;
            slot.label = text.push(&[b'o', b'k', 0xff, 0xfe]);
        }
        Mode::Kind => slot.kind = 99,
        Mode::Status => slot.status = 42,
        Mode::Bool => {
            slot.kind = KIND_BOOL;
            slot.number = 7.0;
        }
        Mode::Inf => {
            slot.kind = KIND_NUMBER;
            slot.number = f64::INFINITY;
        }
        Mode::Verdict => {
            slot.kind = KIND_NUMBER;
            slot.number = 1.0;
            slot.verdict = 7;
        }
        Mode::Past => {
            slot.kind = KIND_BOOL;
            // Copies 3 bytes, then claims 300.
            let (ptr, _) = text.push(b"abc").raw_parts();
            // SAFETY: never read here; the host checks it.
            slot.rationale = unsafe { Str::from_raw_parts(ptr, 300) };
        }
        Mode::NullMax => {
            slot.kind = KIND_BOOL;
            // SAFETY: a null pointer, which says "did not fit".
            slot.rationale = unsafe { Str::from_raw_parts(std::ptr::null(), usize::MAX) };
        }
        Mode::CapRaised => {
            slot.kind = KIND_LABEL;
            slot.label = text.push(b"ok");
        }
        Mode::Rewrite => {
            slot.kind = KIND_LABEL;
            slot.label = rewritten_label();
        }
        Mode::Skip | Mode::LastErrorMax => {}
        Mode::Long | Mode::Fail => {
            slot.kind = KIND_LABEL;
            slot.label = text.push("L".repeat(1000).as_bytes());
            slot.rationale = text.push("R".repeat(100_000).as_bytes());
        }
    }
}

unsafe extern "C" fn score(
    state: *const c_void,
    _: *const RawRecord,
    text: *mut Buf,
    result: *mut ResultSlot,
) -> i32 {
    // SAFETY: the host passes this plugin's state, a text buffer and a
    // valid slot.
    let (mode, text, slot) = unsafe { (*state.cast::<Mode>(), &mut *text, &mut *result) };
    if let Mode::LastErrorMax = mode {
        CLAIMED.set(Some(usize::MAX));
        return RC_ERROR;
    }
    fill(mode, slot, text);
    raise_capacity(mode, text);
    RC_OK
}

unsafe extern "C" fn score_batch(
    state: *const c_void,
    _: *const RawRecord,
    n: usize,
    text: *mut Buf,
    results: *mut ResultSlot,
) -> i32 {
    // SAFETY: the host passes this plugin's state, a text buffer and `n`
    // valid slots.
    let (mode, text, slots) = unsafe {
        (
            *state.cast::<Mode>(),
            &mut *text,
            std::slice::from_raw_parts_mut(results, n),
        )
    };
    match mode {
        Mode::Fail => return RC_ERROR,
        Mode::LastErrorMax => {
            CLAIMED.set(Some(usize::MAX));
            return RC_ERROR;
        }
        // Writes a valid result in every slot but the last.
        Mode::Skip => {
            let n = slots.len() - 1;
            for slot in &mut slots[..n] {
                fill(Mode::Bool, slot, text);
                slot.number = 1.0;
            }
        }
        _ => slots.iter_mut().for_each(|slot| fill(mode, slot, text)),
    }
    raise_capacity(mode, text);
    RC_OK
}

/// In `cap_raised` mode, claims a megabyte more of buffer than the host
/// gave, all of it written.
fn raise_capacity(mode: Mode, text: &mut Buf) {
    if let Mode::CapRaised = mode {
        text.cap += 1 << 20;
        text.len = text.cap;
    }
}

unsafe extern "C" fn destroy(state: *mut c_void) {
    // SAFETY: made by `create`.
    drop(unsafe { Box::from_raw(state.cast::<Mode>()) });
}

unsafe extern "C" fn last_error(buf: *mut u8, cap: usize) -> usize {
    let n = MESSAGE.len().min(cap);
    // SAFETY: the host passes `cap` writable bytes.
    unsafe { std::ptr::copy_nonoverlapping(MESSAGE.as_ptr(), buf, n) };
    CLAIMED.get().unwrap_or(MESSAGE.len())
}

static DESCRIPTOR: Descriptor = Descriptor {
    abi_version: ABI_VERSION,
    struct_size: size_of::<Descriptor>() as u32,
    flags: FLAG_PANIC_UNWIND | FLAG_THREAD_SAFE,
    name: Str::new("raw_garbage"),
    version: Str::new("0.0.1"),
    description: Str::new("Returns garbage on request."),
    config_keys: std::ptr::null(),
    n_config_keys: 0,
    create: Some(create),
    score: Some(score),
    score_batch: Some(score_batch),
    destroy: Some(destroy),
    last_error: Some(last_error),
    min_abi_version: 1,
    score_batch_traced: None,
};

/// The entry point.
#[unsafe(no_mangle)]
pub extern "C" fn verdict_plugin_v1() -> *const Descriptor {
    &DESCRIPTOR
}
