//! The host side of the boundary: calling a plugin's functions and keeping
//! what it wrote as [`Results`], with every check a host owes its users.
//! The `verdict` host uses it for loaded plugins and for scorers compiled
//! in, and [`through_abi`](crate::through_abi) for plugin authors' tests,
//! so all of them score and check results the same way.
//!
//! Every record gets a result. What a plugin writes that no feedback can
//! hold — NaN, invalid UTF-8, an unknown kind or status, a slot left
//! unwritten, a text longer than [`TEXT_LIMIT`] or outside what it wrote —
//! becomes an error with code [`SCORER_INVALID_RESULT`]; so does, for
//! every record of the call, a call that moved or overfilled its text
//! buffer or wrote a result after its last slot; a panic caught in the
//! plugin, [`SCORER_PANIC`]; a call that fails as a whole,
//! [`SCORER_ERROR`] for each of its records, with at most
//! [`LAST_ERROR_LIMIT`] bytes of the plugin's message. No length a plugin
//! gives is allocated or read past those limits.
//!
//! The decision: **check in the host, after the call, what the plugin
//! handed back**, rather than trust a plugin to keep the rules: the
//! checks cost a few comparisons per call and per result (none per byte,
//! but for copied text and for static text of a plugin that does not
//! vouch for it). They cannot reach what happens during the call (a wild
//! pointer, a write past the memory handed over): only a separate process
//! does.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::c_void;

use crate::abi::{self, Buf, Descriptor, RC_OK, RawRecord, RawTrace, ResultSlot};
use crate::record::Record;
use crate::results::{CallText, Problem, Results};
pub use crate::results::{SCORER_ERROR, SCORER_INVALID_RESULT, SCORER_PANIC, TEXT_LIMIT, invalid};
use crate::scorer::ScoreError;
use crate::trace::Trace;

/// How many records one call into a scorer scores at most.
const RECORDS_PER_CALL: usize = 256;
/// How many bytes of text one call can copy; a record whose text does not
/// fit in what is left is scored again, alone, with a buffer of its size.
const TEXT_PER_CALL: usize = 64 * 1024;
/// How many bytes of a plugin's last error message the host reads at most.
pub const LAST_ERROR_LIMIT: usize = 64 * 1024;

/// What fills the result slots of some records: their records, their
/// traces (as many, or none for a scorer that does not read them), the
/// call's text buffer and the slots.
pub trait Fill:
    FnMut(&[Record<'_>], &[Option<&Trace<'_>>], &mut Buf, &mut [ResultSlot]) -> Result<(), ScoreError>
{
}

impl<F> Fill for F where
    F: FnMut(
        &[Record<'_>],
        &[Option<&Trace<'_>>],
        &mut Buf,
        &mut [ResultSlot],
    ) -> Result<(), ScoreError>
{
}

/// What a [`Fill`] hands a scorer that reads traces: `traces` when it
/// gives each of `records` its trace, else no trace for any of them (a
/// caller lays traces out only for such a scorer, and may give none).
pub fn one_trace_each<'a, 't>(
    records: &[Record<'_>],
    traces: &'a [Option<&'t Trace<'t>>],
) -> Cow<'a, [Option<&'t Trace<'t>>]> {
    if traces.len() == records.len() {
        Cow::Borrowed(traces)
    } else {
        Cow::Owned(vec![None; records.len()])
    }
}

thread_local! {
    /// A thread's text buffer for calls.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Scores `records` (with `traces`, one per record, or none: see
/// [`Fill`]) into `out`, exactly one result per record, in order:
/// `batch` fills the result slots of at most a few hundred records per
/// call, copying text into the call's buffer; each slot is then checked
/// once and kept as it is, with the text the call copied. A record whose
/// text did not fit is scored again alone with `one`, with a buffer of the
/// size it asked for (within [`TEXT_LIMIT`]).
///
/// A plugin's entry points fill the slots (see [`score_batch`]); the host
/// fills them for a scorer compiled in with
/// [`score_into`](crate::export::score_into). A fill that fails as a whole
/// returns the error every record of the call then gets. With `vouched`,
/// the scorer vouches for its results (see
/// [`FLAG_VALID_RESULTS`](abi::FLAG_VALID_RESULTS)): they are checked only
/// to move the text a call copied (where each text lies, and how long it
/// is), and kept as they are when it copied none.
///
/// What a call hands back that the host cannot sort out record by record
/// gives every record of the call an error ([`SCORER_INVALID_RESULT`]): a
/// text buffer whose pointer or capacity changed, or whose length passes
/// its capacity, and a result written after the last slot it was given
/// (caught when it is the one slot after them; a plugin that writes
/// further corrupts memory the host cannot guard in its own process).
pub fn score_batch_with(
    records: &[Record<'_>],
    traces: &[Option<&Trace<'_>>],
    out: &mut Results,
    vouched: bool,
    batch: impl Fill,
    one: impl Fill,
) {
    if records.is_empty() {
        return;
    }
    SCRATCH.with(|scratch| {
        let Ok(mut scratch) = scratch.try_borrow_mut() else {
            // Re-entered from a scorer: use a buffer of its own.
            return score_with_scratch(&mut Vec::new(), records, traces, out, vouched, batch, one);
        };
        score_with_scratch(&mut scratch, records, traces, out, vouched, batch, one);
    });
}

fn score_with_scratch(
    scratch: &mut Vec<u8>,
    records: &[Record<'_>],
    traces: &[Option<&Trace<'_>>],
    out: &mut Results,
    vouched: bool,
    mut batch: impl Fill,
    mut one: impl Fill,
) {
    if scratch.len() < TEXT_PER_CALL {
        *scratch = vec![0; TEXT_PER_CALL];
    }
    for (c, records) in records.chunks(RECORDS_PER_CALL).enumerate() {
        let n = records.len();
        let start = c * RECORDS_PER_CALL;
        let traces = traces.get(start..start + n).unwrap_or_default();
        let mut buf = Buf::over(scratch);
        let given = (buf.ptr, buf.cap);
        let filled = batch(records, traces, &mut buf, out.prepare(n, !vouched));
        let broken = if out.guard_intact(n) {
            moved(&buf, given)
        } else {
            Some(more_results(n))
        };
        if let Some(message) = broken {
            out.set_errors(0, n, &Cow::Borrowed(SCORER_INVALID_RESULT), &message);
            out.commit(n);
            continue;
        }
        if let Err(error) = filled {
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
        let kept = scratch[..buf.len].to_vec();
        let call = CallText::moved(scratch.as_ptr(), scratch.len(), buf.len, &kept, vouched);
        for (i, problem) in out.check_prepared(0..n, &call) {
            match problem {
                Problem::Invalid(message) => {
                    out.set_errors(i, 1, &Cow::Borrowed(SCORER_INVALID_RESULT), &message);
                }
                Problem::TooLong(size) => {
                    let trace = traces.get(i..=i).unwrap_or_default();
                    rescore(out, i, &records[i], trace, size, vouched, &mut one)
                }
            }
        }
        out.keep(kept);
        out.commit(n);
    }
}

/// What is wrong with a call's text buffer after the call, given where it
/// was and its capacity before: the plugin may only advance its length,
/// up to its capacity.
fn moved(buf: &Buf, (ptr, cap): (*mut u8, usize)) -> Option<String> {
    if buf.ptr != ptr {
        Some(
            "the scorer moved the call's text buffer: the texts it wrote there cannot be found"
                .into(),
        )
    } else if buf.cap != cap {
        Some(format!(
            "the scorer changed the capacity of the call's text buffer from {cap} to {} bytes",
            buf.cap
        ))
    } else if buf.len > cap {
        Some(format!(
            "the scorer set the length of the call's text buffer to {} bytes, past its capacity of {cap}",
            buf.len
        ))
    } else {
        None
    }
}

/// The message of a call that wrote a result after the last slot it was
/// given.
fn more_results(n: usize) -> String {
    let records = if n == 1 { "record" } else { "records" };
    format!(
        "the scorer wrote more results than the {n} {records} it was given (into memory after \
         them): none of the call's results can be trusted"
    )
}

/// Scores prepared result `i` again, alone, with `size` bytes for its text
/// (at most twice [`TEXT_LIMIT`]: a label and a rationale), into a slot of
/// its own with a guard after it.
fn rescore(
    out: &mut Results,
    i: usize,
    record: &Record<'_>,
    trace: &[Option<&Trace<'_>>],
    size: usize,
    vouched: bool,
    one: &mut impl Fill,
) {
    let mut alone = Results::with_capacity(1);
    let mut block = vec![0u8; size];
    let mut buf = Buf::over(&mut block);
    let given = (buf.ptr, buf.cap);
    let filled = one(
        std::slice::from_ref(record),
        trace,
        &mut buf,
        alone.prepare(1, true),
    );
    let broken = if alone.guard_intact(1) {
        moved(&buf, given)
    } else {
        Some(more_results(1))
    };
    let message = match (broken, filled) {
        (Some(message), _) => message,
        (None, Err(error)) => return out.set_errors(i, 1, &error.code, &error.message),
        (None, Ok(())) => {
            let call = CallText::kept_in_place(&block, buf.len, vouched);
            match alone.check_prepared(0..1, &call).pop() {
                None => {
                    *out.prepared(i) = *alone.prepared(0);
                    out.keep(block);
                    // The static text it copied, if any.
                    return out.adopt(alone);
                }
                Some((_, Problem::Invalid(message))) => message,
                Some((_, Problem::TooLong(_))) => {
                    "the scorer's text changed length between two calls".into()
                }
            }
        }
    };
    out.set_errors(i, 1, &Cow::Borrowed(SCORER_INVALID_RESULT), &message);
}

/// The plugin's last error message on this thread: at most
/// [`LAST_ERROR_LIMIT`] bytes of it, whatever length the plugin claims
/// (the claim is given after a cut message), without trailing NUL bytes.
///
/// # Safety
/// `descriptor` must be a plugin's, checked as the `verdict` host checks it.
pub unsafe fn last_error(descriptor: &Descriptor) -> String {
    let Some(last_error) = descriptor.last_error else {
        return String::new();
    };
    let mut buf = vec![0u8; 1024];
    // SAFETY: the buffer is valid for its length.
    let claimed = unsafe { last_error(buf.as_mut_ptr(), buf.len()) };
    if claimed > buf.len() {
        buf.resize(claimed.min(LAST_ERROR_LIMIT), 0);
        // SAFETY: as above, with the length the plugin asked for, within
        // the limit.
        unsafe { last_error(buf.as_mut_ptr(), buf.len()) };
    }
    buf.truncate(claimed);
    while buf.last() == Some(&0) {
        buf.pop();
    }
    let mut message = String::from_utf8_lossy(&buf).into_owned();
    if claimed > LAST_ERROR_LIMIT {
        message.push_str(&format!(
            " (cut at {LAST_ERROR_LIMIT} bytes of the {claimed} the plugin claimed)"
        ));
    }
    message
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
/// A plugin that reads traces
/// ([`Descriptor::needs_trace`]) is called through its traced batch entry
/// instead, for both, with `traces` (one per record: the caller lays them
/// out only for such a plugin; records past them are scored without one).
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
    traces: &[Option<&Trace<'_>>],
    out: &mut Results,
) {
    let result = |rc: i32| {
        if rc == RC_OK {
            Ok(())
        } else {
            Err(call_failed(descriptor, rc))
        }
    };
    let vouched = descriptor.flags & abi::FLAG_VALID_RESULTS != 0;
    if descriptor.needs_trace() {
        let traced = |records: &[Record<'_>],
                      traces: &[Option<&Trace<'_>>],
                      text: &mut Buf,
                      slots: &mut [ResultSlot]| {
            let Some(score_batch_traced) = descriptor.score_batch_traced else {
                return Err(invalid("the plugin has no `score_batch_traced` function"));
            };
            let traces = one_trace_each(records, traces);
            // SAFETY: as for `score_batch` below; the traces are as many
            // as the records, each null or valid for the call, and an
            // `Option<&Trace>` is a nullable pointer.
            result(unsafe {
                score_batch_traced(
                    state,
                    records.as_ptr().cast::<RawRecord>(),
                    traces.as_ptr().cast::<*const RawTrace>(),
                    records.len(),
                    text,
                    slots.as_mut_ptr(),
                )
            })
        };
        return score_batch_with(records, traces, out, vouched, traced, traced);
    }
    let batch = |records: &[Record<'_>],
                 _: &[Option<&Trace<'_>>],
                 text: &mut Buf,
                 slots: &mut [ResultSlot]| {
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
    let one = |records: &[Record<'_>],
               _: &[Option<&Trace<'_>>],
               text: &mut Buf,
               slots: &mut [ResultSlot]| {
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
    score_batch_with(records, &[], out, vouched, batch, one);
}
