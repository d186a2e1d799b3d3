//! The host side of the boundary: calling a plugin's functions and keeping
//! what it wrote as [`Results`], with every check a host owes its users.
//! The `verdict` host uses it for loaded plugins and for scorers compiled
//! in, and [`through_abi`](crate::through_abi) for plugin authors' tests,
//! so all of them score and check results the same way.
//!
//! Every record gets a result. What a plugin writes that no feedback can
//! hold — NaN, invalid UTF-8, an unknown kind or status, a slot left
//! unwritten — becomes an error with code [`SCORER_INVALID_RESULT`]; a
//! panic caught in the plugin, [`SCORER_PANIC`]; a call that fails as a
//! whole, [`SCORER_ERROR`] for each of its records.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::c_void;

use crate::abi::{self, Buf, Descriptor, RC_OK, RawRecord, ResultSlot};
use crate::record::Record;
use crate::results::{CallText, Checked, Problem, Results};
pub use crate::results::{SCORER_ERROR, SCORER_INVALID_RESULT, SCORER_PANIC, invalid};
use crate::scorer::ScoreError;

/// How many records one call into a scorer scores at most.
const RECORDS_PER_CALL: usize = 256;
/// How many bytes of text one call can copy; a record whose text does not
/// fit in what is left is scored again, alone, with a buffer of its size.
const TEXT_PER_CALL: usize = 64 * 1024;

/// A thread's text buffer for calls, and the static texts it has checked.
#[derive(Default)]
struct Scratch {
    text: Vec<u8>,
    checked: Checked,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Scores `records` into `out`, exactly one result per record, in order:
/// `batch` fills the result slots of at most a few hundred records per
/// call, copying text into the call's buffer; each slot is then checked
/// once and kept as it is, with the text the call copied. A record whose
/// text did not fit is scored again alone with `one`, with a buffer of the
/// size it asked for.
///
/// A plugin's entry points fill the slots (see [`score_batch`]); the host
/// fills them for a scorer compiled in with
/// [`score_into`](crate::export::score_into). A fill that fails as a whole
/// returns the error every record of the call then gets. With `vouched`,
/// the scorer vouches for its results (see
/// [`FLAG_VALID_RESULTS`](abi::FLAG_VALID_RESULTS)): they are checked only
/// to move the text a call copied, and kept as they are when it copied
/// none.
pub fn score_batch_with(
    records: &[Record<'_>],
    out: &mut Results,
    vouched: bool,
    batch: impl FnMut(&[Record<'_>], &mut Buf, &mut [ResultSlot]) -> Result<(), ScoreError>,
    one: impl FnMut(&[Record<'_>], &mut Buf, &mut [ResultSlot]) -> Result<(), ScoreError>,
) {
    if records.is_empty() {
        return;
    }
    SCRATCH.with(|scratch| {
        let Ok(mut scratch) = scratch.try_borrow_mut() else {
            // Re-entered from a scorer: use a buffer of its own.
            return score_with_scratch(&mut Scratch::default(), records, out, vouched, batch, one);
        };
        score_with_scratch(&mut scratch, records, out, vouched, batch, one);
    });
}

fn score_with_scratch(
    scratch: &mut Scratch,
    records: &[Record<'_>],
    out: &mut Results,
    vouched: bool,
    mut batch: impl FnMut(&[Record<'_>], &mut Buf, &mut [ResultSlot]) -> Result<(), ScoreError>,
    mut one: impl FnMut(&[Record<'_>], &mut Buf, &mut [ResultSlot]) -> Result<(), ScoreError>,
) {
    if scratch.text.len() < TEXT_PER_CALL {
        scratch.text = vec![0; TEXT_PER_CALL];
    }
    let mut checked = scratch.checked;
    for records in records.chunks(RECORDS_PER_CALL) {
        let n = records.len();
        let mut buf = Buf::over(&mut scratch.text);
        if let Err(error) = batch(records, &mut buf, out.prepare(n, !vouched)) {
            out.set_errors(0, n, &error.code, &error.message);
            out.commit(n);
            continue;
        }
        if vouched && buf.len == 0 {
            // Valid results, with static text only: kept as written.
            out.commit(n);
            continue;
        }
        // The call's text moves to a block of its own (one allocation, and
        // none when every text was static); the slots are pointed at it.
        let kept = scratch.text[..buf.len.min(buf.cap)].to_vec();
        let call = CallText::moved(
            scratch.text.as_ptr(),
            scratch.text.len(),
            buf.len,
            &kept,
            vouched,
        );
        for (i, problem) in out.check_prepared(0..n, &call, &mut checked) {
            match problem {
                Problem::Invalid(message) => {
                    out.set_errors(i, 1, &Cow::Borrowed(SCORER_INVALID_RESULT), &message);
                }
                Problem::TooLong(size) => {
                    rescore(out, i, &records[i], size, vouched, &mut checked, &mut one);
                }
            }
        }
        out.keep(kept);
        out.commit(n);
    }
    scratch.checked = checked;
}

/// Scores prepared result `i` again, alone, with `size` bytes for its text.
fn rescore(
    out: &mut Results,
    i: usize,
    record: &Record<'_>,
    size: usize,
    vouched: bool,
    checked: &mut Checked,
    one: &mut impl FnMut(&[Record<'_>], &mut Buf, &mut [ResultSlot]) -> Result<(), ScoreError>,
) {
    let mut block = vec![0u8; size];
    let mut buf = Buf::over(&mut block);
    let slot = out.prepared(i);
    *slot = ResultSlot::UNTOUCHED;
    if let Err(error) = one(
        std::slice::from_ref(record),
        &mut buf,
        std::slice::from_mut(slot),
    ) {
        out.set_errors(i, 1, &error.code, &error.message);
        return;
    }
    let call = CallText::kept_in_place(&block, buf.len, vouched);
    let message = match out.check_prepared(i..i + 1, &call, checked).pop() {
        None => return out.keep(block),
        Some((_, Problem::Invalid(message))) => message,
        Some((_, Problem::TooLong(_))) => {
            "the scorer's text changed length between two calls".into()
        }
    };
    out.set_errors(i, 1, &Cow::Borrowed(SCORER_INVALID_RESULT), &message);
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

/// Scores `records` through a plugin's entry points, pushing exactly one
/// result per record onto `out` (see [`score_batch_with`]): its batch entry
/// for all of them, its single entry for a record whose text did not fit.
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
    out: &mut Results,
) {
    let result = |rc: i32| {
        if rc == RC_OK {
            Ok(())
        } else {
            Err(call_failed(descriptor, rc))
        }
    };
    let batch = |records: &[Record<'_>], text: &mut Buf, slots: &mut [ResultSlot]| {
        let Some(score_batch) = descriptor.score_batch else {
            return Err(invalid("the plugin has no `score_batch` function"));
        };
        // SAFETY: the caller's descriptor and state; records and slots
        // valid for `records.len()` entries, a text buffer valid as stated.
        result(unsafe {
            score_batch(
                state,
                records.as_ptr().cast::<RawRecord>(),
                records.len(),
                text,
                slots.as_mut_ptr(),
            )
        })
    };
    let one = |records: &[Record<'_>], text: &mut Buf, slots: &mut [ResultSlot]| {
        let Some(score) = descriptor.score else {
            return Err(invalid("the plugin has no `score` function"));
        };
        // SAFETY: as above, for the one record and slot given.
        result(unsafe {
            score(
                state,
                records.as_ptr().cast::<RawRecord>(),
                text,
                slots.as_mut_ptr(),
            )
        })
    };
    let vouched = descriptor.flags & abi::FLAG_VALID_RESULTS != 0;
    score_batch_with(records, out, vouched, batch, one);
}
