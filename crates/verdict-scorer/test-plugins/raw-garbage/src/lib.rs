//! Hand-written ABI functions that return what the kit never would. The
//! config (JSON text) picks the garbage: it must contain one of `utf8`,
//! `kind`, `status`, `bool`, `inf`, `long`, `fail` (a failing batch call) or
//! `fail_create` (a refused config).

use std::ffi::c_void;

use verdict_plugin::abi::{
    ABI_VERSION, Descriptor, FLAG_PANIC_UNWIND, FLAG_THREAD_SAFE, KIND_BOOL, KIND_LABEL,
    KIND_NUMBER, RC_ERROR, RC_OK, RESULT_HAS_RATIONALE, RawRecord, ResultSlot, STATUS_OK, Str,
};

#[derive(Clone, Copy)]
enum Mode {
    Utf8,
    Kind,
    Status,
    Bool,
    Inf,
    Long,
    Fail,
}

const MESSAGE: &str = "raw_garbage failed on purpose";

unsafe extern "C" fn create(config: Str<'_>, state: *mut *mut c_void) -> i32 {
    let config = config.as_str();
    let mode = [
        ("fail_create", None),
        ("utf8", Some(Mode::Utf8)),
        ("kind", Some(Mode::Kind)),
        ("status", Some(Mode::Status)),
        ("bool", Some(Mode::Bool)),
        ("inf", Some(Mode::Inf)),
        ("long", Some(Mode::Long)),
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

fn fill(mode: Mode, slot: &mut ResultSlot) {
    slot.status = STATUS_OK;
    slot.flags = 0;
    slot.label.len = 0;
    slot.rationale.len = 0;
    match mode {
        Mode::Utf8 => {
            slot.kind = KIND_LABEL;
            slot.label.write(&[b'o', b'k', 0xff, 0xfe]);
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
        Mode::Long | Mode::Fail => {
            slot.kind = KIND_LABEL;
            slot.label.write("L".repeat(1000).as_bytes());
            slot.flags = RESULT_HAS_RATIONALE;
            slot.rationale.write("R".repeat(10_000).as_bytes());
        }
    }
}

unsafe extern "C" fn score(
    state: *const c_void,
    _: *const RawRecord,
    result: *mut ResultSlot,
) -> i32 {
    // SAFETY: the host passes this plugin's state and a valid slot.
    let (mode, slot) = unsafe { (*state.cast::<Mode>(), &mut *result) };
    fill(mode, slot);
    RC_OK
}

unsafe extern "C" fn score_batch(
    state: *const c_void,
    _: *const RawRecord,
    n: usize,
    results: *mut ResultSlot,
) -> i32 {
    // SAFETY: the host passes this plugin's state and `n` valid slots.
    let (mode, slots) = unsafe {
        (
            *state.cast::<Mode>(),
            std::slice::from_raw_parts_mut(results, n),
        )
    };
    if let Mode::Fail = mode {
        return RC_ERROR;
    }
    slots.iter_mut().for_each(|slot| fill(mode, slot));
    RC_OK
}

unsafe extern "C" fn destroy(state: *mut c_void) {
    // SAFETY: made by `create`.
    drop(unsafe { Box::from_raw(state.cast::<Mode>()) });
}

unsafe extern "C" fn last_error(buf: *mut u8, cap: usize) -> usize {
    let n = MESSAGE.len().min(cap);
    // SAFETY: the host passes `cap` writable bytes.
    unsafe { std::ptr::copy_nonoverlapping(MESSAGE.as_ptr(), buf, n) };
    MESSAGE.len()
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
};

/// The entry point.
#[unsafe(no_mangle)]
pub extern "C" fn verdict_plugin_v1() -> *const Descriptor {
    &DESCRIPTOR
}
