//! The host side of the boundary: calling a plugin's functions and turning
//! what it wrote into [`Outcome`]s, with every check a host owes its
//! users. The `verdict` host uses it for loaded plugins, and
//! [`through_abi`](crate::through_abi) for plugin authors' tests, so both
//! read results the same way.
//!
//! Every record gets an outcome. What a plugin writes that no feedback can
//! hold — NaN, invalid UTF-8, an unknown kind or status, a slot left
//! unwritten — becomes a [`ScoreError`] with code
//! [`SCORER_INVALID_RESULT`]; a panic caught in the plugin, [`SCORER_PANIC`];
//! a call that fails as a whole, [`SCORER_ERROR`] for each of its records.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::c_void;

use crate::abi::{
    self, Buf, Descriptor, RC_OK, RESULT_HAS_RATIONALE, RESULT_LABEL_STATIC,
    RESULT_RATIONALE_STATIC, RawRecord, ResultSlot, STATUS_UNTOUCHED, Str,
};
use crate::record::Record;
use crate::scorer::{Outcome, Score, ScoreError, ScoreValue};

/// Error code of an outcome whose scorer panicked.
pub const SCORER_PANIC: &str = "SCORER_PANIC";
/// Error code of an outcome whose scorer failed as a whole (a plugin call
/// that returned an error).
pub const SCORER_ERROR: &str = "SCORER_ERROR";
/// Error code of an outcome whose scorer returned something unusable: NaN,
/// invalid UTF-8, an unknown kind or status.
pub const SCORER_INVALID_RESULT: &str = "SCORER_INVALID_RESULT";

/// An error outcome for an unusable result.
pub fn invalid(message: impl Into<String>) -> ScoreError {
    ScoreError::new(SCORER_INVALID_RESULT, message)
}

/// Replaces an outcome no feedback can hold (a NaN or infinite number)
/// with an error that says so.
#[inline]
pub fn check(outcome: &mut Outcome) {
    if let Ok(Score {
        value: ScoreValue::Number(n),
        ..
    }) = outcome
        && !n.is_finite()
    {
        *outcome = Err(invalid(format!(
            "the scorer returned {n}, not a finite number"
        )));
    }
}

/// Room for text per result before a record is scored again with larger
/// buffers.
const LABEL_CAP: usize = 64;
/// How many result slots are filled per call into a scorer.
const SLOTS: usize = 64;
const RATIONALE_CAP: usize = 256;

/// Result slots and their text buffers, reused across calls on a thread.
#[derive(Default)]
struct Arena {
    slots: Vec<ResultSlot>,
    text: Vec<u8>,
    /// Static texts of plugins already checked for UTF-8.
    checked: Checked,
}

thread_local! {
    static ARENA: RefCell<Arena> = RefCell::new(Arena::default());
}

impl Arena {
    /// `n` result slots whose buffers point into `text`, each with a status
    /// no plugin writes, so that a slot left untouched is caught.
    fn prepare(&mut self, n: usize, label_cap: usize, rationale_cap: usize) -> &mut [ResultSlot] {
        let per = label_cap + rationale_cap;
        let laid_out = self.slots.len() >= n
            && self
                .slots
                .first()
                .is_none_or(|s| s.label.cap == label_cap && s.rationale.cap == rationale_cap);
        if !laid_out {
            self.text = vec![0; n * per];
            let base = self.text.as_mut_ptr();
            self.slots = (0..n)
                .map(|i| {
                    // SAFETY: offsets within `text`, which is only replaced
                    // together with the slots.
                    unsafe {
                        let at = base.add(i * per);
                        ResultSlot::with_buffers(at, label_cap, at.add(label_cap), rationale_cap)
                    }
                })
                .collect();
        }
        let slots = &mut self.slots[..n];
        for slot in slots.iter_mut() {
            slot.status = STATUS_UNTOUCHED;
        }
        slots
    }
}

/// How many static texts of plugins a thread remembers as checked.
const CHECKED: usize = 16;

/// Static texts already checked for UTF-8, by address and length: a
/// scorer returns the same few static rationales again and again, and
/// each needs checking only once.
type Checked = [(usize, usize); CHECKED];

/// One text of a result: static text of the plugin, or a copy in a buffer.
#[inline(always)]
fn slot_text(
    slot: &ResultSlot,
    static_flag: u32,
    pointer: Str<'static>,
    buf: &Buf,
    checked: &mut Checked,
    what: &str,
) -> Result<Cow<'static, str>, ScoreError> {
    let not_utf8 = || invalid(format!("the scorer's {what} is not valid UTF-8"));
    if slot.flags & static_flag == 0 {
        // SAFETY: the host's own buffer, of which the plugin wrote `len`
        // bytes (within `cap`, checked by the caller).
        let bytes = unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) };
        return std::str::from_utf8(bytes)
            .map(|s| Cow::Owned(s.to_owned()))
            .map_err(|_| not_utf8());
    }
    let (ptr, len) = pointer.raw_parts();
    if len == 0 {
        return Ok(Cow::Borrowed(""));
    }
    if ptr.is_null() {
        return Err(invalid(format!("the scorer's {what} is a null pointer")));
    }
    // SAFETY: static memory of a plugin that is never unloaded, `len` bytes.
    let bytes: &'static [u8] = unsafe { std::slice::from_raw_parts(ptr, len) };
    let key = (ptr as usize, len);
    let entry = &mut checked[(key.0 >> 3 ^ key.1) % CHECKED];
    if *entry == key {
        // SAFETY: checked to be UTF-8 when it entered the cache.
        return Ok(Cow::Borrowed(unsafe {
            std::str::from_utf8_unchecked(bytes)
        }));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| not_utf8())?;
    *entry = key;
    Ok(Cow::Borrowed(text))
}

/// Reads one result slot into `dst`, or returns the sizes its text needs
/// when it did not fit (nothing is written then). The outcome is written in
/// place: returning it would copy it through the stack right after it was
/// made, which costs more than the rest of the decoding.
#[inline(always)]
fn decode_into(
    slot: &ResultSlot,
    checked: &mut Checked,
    dst: &mut std::mem::MaybeUninit<Outcome>,
) -> Option<(usize, usize)> {
    let copied = |flag: u32, buf: &Buf| slot.flags & flag == 0 && buf.len > buf.cap;
    if copied(RESULT_LABEL_STATIC, &slot.label) || copied(RESULT_RATIONALE_STATIC, &slot.rationale)
    {
        return Some((slot.label.len, slot.rationale.len));
    }
    let rationale = if slot.flags & RESULT_HAS_RATIONALE != 0 {
        match slot_text(
            slot,
            RESULT_RATIONALE_STATIC,
            slot.rationale_static,
            &slot.rationale,
            checked,
            "rationale",
        ) {
            Ok(r) => Some(r),
            Err(e) => {
                dst.write(Err(e));
                return None;
            }
        }
    } else {
        None
    };
    let label = |checked: &mut Checked, what| {
        slot_text(
            slot,
            RESULT_LABEL_STATIC,
            slot.label_static,
            &slot.label,
            checked,
            what,
        )
    };
    let fail = |message: String| Err(invalid(message));
    match slot.status {
        abi::STATUS_OK => match slot.kind {
            abi::KIND_BOOL if slot.number == 0.0 || slot.number == 1.0 => {
                dst.write(Ok(Score {
                    value: ScoreValue::Bool(slot.number == 1.0),
                    rationale,
                }));
            }
            abi::KIND_NUMBER if slot.number.is_finite() => {
                dst.write(Ok(Score {
                    value: ScoreValue::Number(slot.number),
                    rationale,
                }));
            }
            abi::KIND_NUMBER => {
                dst.write(fail(format!(
                    "the scorer returned {}, not a finite number",
                    slot.number
                )));
            }
            abi::KIND_BOOL => {
                dst.write(fail(format!(
                    "the scorer returned the bool {}",
                    slot.number
                )));
            }
            abi::KIND_LABEL => {
                dst.write(label(checked, "label").map(|l| Score {
                    value: ScoreValue::Label(l),
                    rationale,
                }));
            }
            kind => {
                dst.write(fail(format!(
                    "the scorer returned an unknown value kind {kind}"
                )));
            }
        },
        abi::STATUS_ERROR => {
            dst.write(label(checked, "error code").and_then(|code| {
                Err(ScoreError {
                    code,
                    message: rationale.map(Cow::into_owned).unwrap_or_default(),
                })
            }));
        }
        abi::STATUS_PANIC => {
            dst.write(Err(ScoreError::new(
                SCORER_PANIC,
                rationale.map(Cow::into_owned).unwrap_or_default(),
            )));
        }
        STATUS_UNTOUCHED => {
            dst.write(fail(
                "the scorer left this record's result unwritten".into(),
            ));
        }
        status => {
            dst.write(fail(format!(
                "the scorer returned an unknown status {status}"
            )));
        }
    }
    None
}

/// Reads one result slot.
fn decode(slot: &ResultSlot, checked: &mut Checked) -> Result<Outcome, (usize, usize)> {
    let mut outcome = std::mem::MaybeUninit::uninit();
    match decode_into(slot, checked, &mut outcome) {
        // SAFETY: `decode_into` writes the outcome unless it returns sizes.
        None => Ok(unsafe { outcome.assume_init() }),
        Some(sizes) => Err(sizes),
    }
}

/// The plugin's last error message on this thread.
///
/// # Safety
/// `descriptor` must be a plugin's, checked as the `verdict` host checks it.
pub unsafe fn last_error(descriptor: &Descriptor) -> String {
    let Some(last_error) = descriptor.last_error else {
        return String::new();
    };
    let mut buf = vec![0u8; 1024];
    // SAFETY: the buffer is valid for its length.
    let len = unsafe { last_error(buf.as_mut_ptr(), buf.len()) };
    if len > buf.len() {
        buf.resize(len, 0);
        // SAFETY: as above, with the length the plugin asked for.
        unsafe { last_error(buf.as_mut_ptr(), buf.len()) };
    }
    buf.truncate(len);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The error every record of a failed plugin call gets.
fn call_failed(descriptor: &Descriptor, rc: i32) -> ScoreError {
    // SAFETY: the caller's descriptor, as in `score_batch`.
    let message = unsafe { last_error(descriptor) };
    let code = if rc == abi::RC_PANIC {
        SCORER_PANIC
    } else {
        SCORER_ERROR
    };
    ScoreError::new(
        code,
        format!("the plugin call failed (return code {rc}): {message}"),
    )
}

/// Scores one record again with buffers large enough for its text.
///
/// # Safety
/// As for [`score_batch`].
unsafe fn rescore(
    descriptor: &Descriptor,
    state: *const c_void,
    record: &Record<'_>,
    label: usize,
    rationale: usize,
) -> Outcome {
    let Some(score) = descriptor.score else {
        return Err(invalid("the plugin has no `score` function"));
    };
    let mut arena = Arena::default();
    let slot = &mut arena.prepare(1, label, rationale)[0];
    let mut checked = [(0, 0); CHECKED];
    // SAFETY: the caller's descriptor and state, a record valid for the
    // call and a slot with buffers of the stated sizes.
    let rc = unsafe { score(state, std::ptr::from_ref(record).cast::<RawRecord>(), slot) };
    if rc != RC_OK {
        return Err(call_failed(descriptor, rc));
    }
    decode(slot, &mut checked).unwrap_or_else(|_| {
        Err(invalid(
            "the scorer's text changed length between two calls",
        ))
    })
}

/// Scores `records` into result slots with `fill` (at most a few hundred
/// records per call), then reads the slots into `out`: exactly one outcome
/// per record, in order.
///
/// A plugin's batch entry fills the slots (see [`score_batch`]); the
/// kit's tests fill them with [`score_into`](crate::export::score_into)
/// directly. `fill`
/// returns an error when the call failed as a whole; every record then
/// gets it. A record whose text did not fit its slot is scored again with
/// `rescore`.
pub fn score_batch_with(
    records: &[Record<'_>],
    out: &mut Vec<Outcome>,
    fill: impl FnMut(&[Record<'_>], &mut [ResultSlot]) -> Result<(), ScoreError>,
    rescore: impl Fn(&Record<'_>, usize, usize) -> Outcome,
) {
    if records.is_empty() {
        return;
    }
    ARENA.with(|arena| {
        let Ok(mut arena) = arena.try_borrow_mut() else {
            // Re-entered from a scorer: use buffers of its own.
            return score_batch_with_arena(&mut Arena::default(), records, out, fill, rescore);
        };
        score_batch_with_arena(&mut arena, records, out, fill, rescore);
    });
}

fn score_batch_with_arena(
    arena: &mut Arena,
    records: &[Record<'_>],
    out: &mut Vec<Outcome>,
    mut fill: impl FnMut(&[Record<'_>], &mut [ResultSlot]) -> Result<(), ScoreError>,
    rescore: impl Fn(&Record<'_>, usize, usize) -> Outcome,
) {
    let mut checked = arena.checked;
    out.reserve(records.len());
    // At most SLOTS records per call, so the slots of a call stay in cache.
    for records in records.chunks(SLOTS) {
        let slots = arena.prepare(records.len(), LABEL_CAP, RATIONALE_CAP);
        if let Err(error) = fill(records, slots) {
            out.extend(std::iter::repeat_n(Err(error), records.len()));
            continue;
        }
        let filled = out.len();
        let dst = &mut out.spare_capacity_mut()[..records.len()];
        for ((slot, record), dst) in slots.iter().zip(records).zip(dst) {
            if let Some((label, rationale)) = decode_into(slot, &mut checked, dst) {
                dst.write(rescore(record, label, rationale));
            }
        }
        // SAFETY: every one of these entries was written just above.
        unsafe { out.set_len(filled + records.len()) };
    }
    arena.checked = checked;
}

/// Scores `records` through a plugin's batch entry, pushing exactly one
/// outcome per record onto `out` (see [`score_batch_with`]). Text too long
/// for the result buffers is fetched by scoring that record again with
/// buffers of the size the plugin asked for.
///
/// # Safety
/// `descriptor` must be a plugin's, checked as the `verdict` host checks it
/// (version, size, functions present), and `state` must come from its
/// `create` and not have been destroyed. Calls must be serialized unless
/// the plugin is thread-safe.
pub unsafe fn score_batch(
    descriptor: &Descriptor,
    state: *const c_void,
    records: &[Record<'_>],
    out: &mut Vec<Outcome>,
) {
    let fill = |records: &[Record<'_>], slots: &mut [ResultSlot]| {
        let Some(score_batch) = descriptor.score_batch else {
            return Err(invalid("the plugin has no `score_batch` function"));
        };
        // SAFETY: the caller's descriptor and state; records and slots
        // valid for `records.len()` entries.
        let rc = unsafe {
            score_batch(
                state,
                records.as_ptr().cast::<RawRecord>(),
                records.len(),
                slots.as_mut_ptr(),
            )
        };
        if rc == RC_OK {
            Ok(())
        } else {
            Err(call_failed(descriptor, rc))
        }
    };
    // SAFETY: passed on from the caller.
    let rescore = |record: &Record<'_>, label, rationale| unsafe {
        rescore(descriptor, state, record, label, rationale)
    };
    score_batch_with(records, out, fill, rescore);
}
