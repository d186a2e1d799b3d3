//! Where the host keeps what scorers said: the result slots plugins write
//! ([`ResultSlot`]), checked once and then kept as they are.
//!
//! A plugin writes one 48-byte slot per record, whose texts point at the
//! plugin's static text or at copies in the call's text buffer. [`Results`]
//! checks each slot once — a known status and kind, a finite number, a bool
//! that is 0 or 1, text that is UTF-8 and, when copied, inside what the
//! plugin wrote — and stores it with no conversion; copied text moves into
//! blocks that [`Results`] owns. What no feedback can hold is replaced, in
//! the same pass, by an error result ([`SCORER_INVALID_RESULT`]). A plugin
//! built with the kit vouches for its results
//! ([`FLAG_VALID_RESULTS`](abi::FLAG_VALID_RESULTS): its writer makes them
//! from Rust values and turns a non-finite number into that error itself),
//! so its slots are checked only when a call copied text, to move it.
//! Reading a result ([`ScoreRef`]) then needs no check at all.
//!
//! Compared with a list of [`Outcome`]s (56 bytes each, plus a heap
//! allocation for every text that is not static), a result costs 48
//! bytes, static text costs nothing, and the text a call copies shares one
//! allocation.

use std::borrow::Cow;
use std::fmt;

use crate::abi::{
    self, KIND_BOOL, KIND_LABEL, KIND_NUMBER, ResultSlot, STATUS_ERROR, STATUS_OK, STATUS_PANIC,
    STATUS_UNTOUCHED, Str, VERDICT_FAIL, VERDICT_NONE, VERDICT_PASS,
};
use crate::scorer::{Outcome, Score, ScoreError, ScoreValue};

/// Error code of a result whose scorer panicked.
pub const SCORER_PANIC: &str = "SCORER_PANIC";
/// Error code of a result whose scorer failed as a whole (a plugin call
/// that returned an error).
pub const SCORER_ERROR: &str = "SCORER_ERROR";
/// Error code of a result whose scorer returned something unusable: NaN,
/// invalid UTF-8, an unknown kind or status.
pub const SCORER_INVALID_RESULT: &str = "SCORER_INVALID_RESULT";

/// The message of a result whose number is not finite.
pub(crate) fn not_finite(number: f64) -> String {
    format!("the scorer returned {number}, not a finite number")
}

/// An error outcome for an unusable result.
pub fn invalid(message: impl Into<String>) -> ScoreError {
    ScoreError::new(SCORER_INVALID_RESULT, message)
}

/// The results of scoring records, one per record, in order.
///
/// Every result is valid: checked when it was added. A scorer's text is
/// either static (a plugin's, which is never unloaded, or this program's)
/// or a copy in blocks this value owns, so a [`ScoreRef`] borrows from it
/// and reads without checks.
///
/// ```
/// use verdict_plugin::{Results, Score, ScoreError};
///
/// let mut results = Results::new();
/// results.push(&Ok(Score::bool(true).with_rationale("identical")));
/// results.push(&Ok(Score::number(f64::NAN)));
/// results.push(&Err(ScoreError::new("MISSING_EXPECTATION", "no expected_response")));
/// results.push(&Ok(Score::number(3.0).with_passed(false)));
/// assert_eq!(results.get(0).unwrap().number(), Some(1.0));
/// assert_eq!(results.get(0).unwrap().passed(), None, "a bool is its own verdict");
/// assert_eq!(results.get(3).unwrap().passed(), Some(false));
/// assert_eq!(results.get(0).unwrap().rationale(), Some("identical"));
/// assert_eq!(results.get(1).unwrap().error().unwrap().0, "SCORER_INVALID_RESULT");
/// assert_eq!(results.get(2).unwrap().error(), Some(("MISSING_EXPECTATION", "no expected_response")));
/// ```
#[derive(Default)]
pub struct Results {
    /// The results are `slots[..len]`; the rest were written before (they
    /// stay initialized, so preparing slots for a call again only resets
    /// their status).
    slots: Vec<ResultSlot>,
    len: usize,
    /// Copies of the text the results point at. A block is never grown or
    /// changed once made, so pointers into it stay valid as it moves.
    text: Vec<Vec<u8>>,
}

// SAFETY: the slots point at immutable static text or at the blocks this
// value owns and never changes.
unsafe impl Send for Results {}
// SAFETY: as above.
unsafe impl Sync for Results {}

impl Results {
    /// No results.
    pub fn new() -> Self {
        Results::default()
    }

    /// No results, with room for `n`.
    pub fn with_capacity(n: usize) -> Self {
        Results {
            slots: Vec::with_capacity(n),
            ..Results::default()
        }
    }

    /// How many results.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Result `i`.
    pub fn get(&self, i: usize) -> Option<ScoreRef<'_>> {
        (i < self.len).then(|| ScoreRef {
            slot: &self.slots[i],
        })
    }

    /// Every result, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = ScoreRef<'_>> {
        self.slots[..self.len].iter().map(|slot| ScoreRef { slot })
    }

    /// Removes every result, keeping the memory of the slots.
    pub fn clear(&mut self) {
        self.len = 0;
        self.text.clear();
    }

    /// Keeps the first `n` results.
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    /// Every result as an owned [`Outcome`].
    pub fn to_outcomes(&self) -> Vec<Outcome> {
        self.iter().map(|r| r.outcome()).collect()
    }

    /// Bytes of memory held: slots and text.
    pub fn memory(&self) -> usize {
        self.slots.capacity() * size_of::<ResultSlot>()
            + self.text.iter().map(Vec::capacity).sum::<usize>()
    }

    /// Adds one result made elsewhere (by a scorer that is neither a
    /// plugin nor a compiled-in [`Scorer`](crate::Scorer)): it is checked
    /// as a plugin's would be, so a non-finite number becomes an error.
    pub fn push(&mut self, outcome: &Outcome) {
        let texts: usize = match outcome {
            Ok(score) => {
                score.rationale.as_ref().map_or(0, |r| r.len())
                    + match &score.value {
                        ScoreValue::Label(l) => l.len(),
                        _ => 0,
                    }
            }
            Err(e) => e.code.len() + e.message.len(),
        };
        let mut block = vec![0u8; texts];
        let mut buf = abi::Buf::over(&mut block);
        let slots = self.prepare(1, true);
        crate::export::write_outcome(&mut slots[0], outcome, &mut buf);
        let mut checked = Checked::default();
        // Rust strings are UTF-8.
        let kept = CallText::kept_in_place(&block, buf.len, true);
        if let Some((_, problem)) = self.check_prepared(0..1, &kept, &mut checked).pop() {
            let message = match problem {
                Problem::Invalid(message) => message,
                Problem::TooLong(_) => "the result's text did not fit".to_owned(),
            };
            self.set_errors(0, 1, &Cow::Borrowed(SCORER_INVALID_RESULT), &message);
        }
        self.keep(block);
        self.len += 1;
    }

    /// Makes `n` slots ready for a scorer to write, after the results:
    /// each with no verdict, so that a scorer that never writes one says
    /// nothing rather than what the slot held, and marked
    /// [`STATUS_UNTOUCHED`] when `mark`, so that a slot the scorer skips is
    /// caught.
    pub(crate) fn prepare(&mut self, n: usize, mark: bool) -> &mut [ResultSlot] {
        let end = self.len + n;
        if self.slots.len() < end {
            self.slots.resize(end, ResultSlot::UNTOUCHED);
        }
        let slots = &mut self.slots[self.len..end];
        for slot in slots.iter_mut() {
            slot.verdict = VERDICT_NONE;
            if mark {
                slot.status = STATUS_UNTOUCHED;
            }
        }
        slots
    }

    /// Prepared slot `i` (counted from the first prepared one).
    pub(crate) fn prepared(&mut self, i: usize) -> &mut ResultSlot {
        &mut self.slots[self.len + i]
    }

    /// Keeps a block of text that prepared slots point at.
    pub(crate) fn keep(&mut self, block: Vec<u8>) {
        if !block.is_empty() {
            self.text.push(block);
        }
    }

    /// Makes the first `n` prepared slots results.
    pub(crate) fn commit(&mut self, n: usize) {
        self.len += n;
    }

    /// Replaces prepared slots `i..i + n` with the same error, its text
    /// copied once.
    // Whether the code is static (kept by reference) is the point, hence
    // the Cow.
    #[allow(clippy::ptr_arg)]
    pub(crate) fn set_errors(
        &mut self,
        i: usize,
        n: usize,
        code: &Cow<'static, str>,
        message: &str,
    ) {
        let mut block = Vec::with_capacity(code.len() + message.len());
        let code = match code {
            Cow::Borrowed(code) => Str::new(code),
            Cow::Owned(code) => {
                block.extend_from_slice(code.as_bytes());
                // SAFETY: the code just copied into the block, which is
                // kept with the slots and never changes again.
                unsafe { Str::from_raw_parts(block.as_ptr(), code.len()) }
            }
        };
        let start = block.len();
        block.extend_from_slice(message.as_bytes());
        // SAFETY: the message just copied into the block, which was
        // allocated with room for both texts (so it did not move), and is
        // kept with the slots.
        let rationale = unsafe { Str::from_raw_parts(block.as_ptr().add(start), message.len()) };
        for k in i..i + n {
            *self.prepared(k) = ResultSlot {
                status: STATUS_ERROR,
                kind: 0,
                verdict: VERDICT_NONE,
                number: 0.0,
                label: code,
                rationale,
            };
        }
        self.keep(block);
    }

    /// Checks prepared slots `range` (counted from the first prepared
    /// one), whose copied text was written
    /// to the call's buffer `call`, and points their copied text at where
    /// that text is kept. Returns the slots not accepted (left as they
    /// were) and why; none, usually, which allocates nothing.
    pub(crate) fn check_prepared(
        &mut self,
        range: std::ops::Range<usize>,
        call: &CallText,
        checked: &mut Checked,
    ) -> Vec<(usize, Problem)> {
        let mut problems = Vec::new();
        let first = range.start;
        let slots = &mut self.slots[self.len + range.start..self.len + range.end];
        for (i, slot) in (first..).zip(slots.iter_mut()) {
            // The common case first, in a few instructions: a bool or a
            // finite number, with no rationale or a static one.
            let number = slot.number;
            let value = slot.status == STATUS_OK
                && slot.verdict <= VERDICT_FAIL
                && match slot.kind {
                    KIND_BOOL => number == 0.0 || number == 1.0,
                    KIND_NUMBER => number.is_finite(),
                    _ => false,
                };
            if value {
                let (ptr, len) = slot.rationale.raw_parts();
                let accepted = if ptr.is_null() {
                    len == 0
                } else {
                    len != 0 && !call.holds(ptr) && (call.utf8 || checked.hit(ptr, len))
                };
                if accepted {
                    continue;
                }
            }
            if let Err(problem) = check_slot(slot, call, checked) {
                problems.push((i, problem));
            }
        }
        problems
    }
}

/// Checks one slot, whatever it holds (see [`Results::check_prepared`]).
#[inline(never)]
fn check_slot(
    slot: &mut ResultSlot,
    call: &CallText,
    checked: &mut Checked,
) -> Result<(), Problem> {
    let (status, kind, verdict, number) = (slot.status, slot.kind, slot.verdict, slot.number);
    let (label, rationale) = (&mut slot.label, &mut slot.rationale);
    // A text that did not fit: score the record again, with room for
    // every text of the slot.
    let (lp, ll) = label.raw_parts();
    let (rp, rl) = rationale.raw_parts();
    let needs_label = matches!((status, kind), (STATUS_OK, KIND_LABEL) | (STATUS_ERROR, _));
    if (needs_label && lp.is_null() && ll > 0) || (rp.is_null() && rl > 0) {
        return Err(Problem::TooLong(
            if needs_label { ll } else { 0 }.saturating_add(rl),
        ));
    }
    let invalid = |message: String| Err(Problem::Invalid(message));
    match status {
        STATUS_OK => {
            match kind {
                KIND_BOOL if number == 0.0 || number == 1.0 => {}
                KIND_NUMBER if number.is_finite() => {}
                KIND_LABEL => call.check(label, checked, "label", true)?,
                KIND_NUMBER => return invalid(not_finite(number)),
                KIND_BOOL => return invalid(format!("the scorer returned the bool {number}")),
                kind => {
                    return invalid(format!("the scorer returned an unknown value kind {kind}"));
                }
            }
            if kind != KIND_BOOL && verdict > VERDICT_FAIL {
                return invalid(format!("the scorer returned an unknown verdict {verdict}"));
            }
        }
        STATUS_ERROR => call.check(label, checked, "error code", true)?,
        STATUS_PANIC => {}
        STATUS_UNTOUCHED => {
            return invalid("the scorer left this record's result unwritten".into());
        }
        status => return invalid(format!("the scorer returned an unknown status {status}")),
    }
    call.check(rationale, checked, "rationale", false)
}

impl fmt::Debug for Results {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Why a slot was not accepted.
pub(crate) enum Problem {
    /// Its text did not fit the call's buffer; this many bytes will.
    TooLong(usize),
    /// It holds something no feedback can hold.
    Invalid(String),
}

/// How many static texts of plugins a thread remembers as checked.
const CHECKED: usize = 16;

/// Static texts already checked for UTF-8, by address and length: a
/// scorer returns the same few static rationales again and again, and
/// each needs checking only once.
#[derive(Clone, Copy, Default)]
pub(crate) struct Checked([(usize, usize); CHECKED]);

impl Checked {
    /// Whether the static text at `ptr`, `len` bytes, is known to be UTF-8.
    #[inline(always)]
    fn hit(&self, ptr: *const u8, len: usize) -> bool {
        self.0[Self::index(ptr as usize, len)] == (ptr as usize, len)
    }

    #[inline(always)]
    fn index(addr: usize, len: usize) -> usize {
        (addr >> 3 ^ len) % CHECKED
    }

    /// Checks static text of `len` bytes at `ptr` for UTF-8, once.
    fn check(&mut self, bytes: &[u8]) -> bool {
        let key = (bytes.as_ptr() as usize, bytes.len());
        let entry = &mut self.0[Self::index(key.0, key.1)];
        if *entry == key {
            return true;
        }
        let utf8 = std::str::from_utf8(bytes).is_ok();
        if utf8 {
            *entry = key;
        }
        utf8
    }
}

/// The text buffer of one call: where the plugin wrote (`base`, `cap`
/// bytes, `used` of them written), where those bytes are kept now, and
/// whether the scorer's texts are known to be UTF-8.
pub(crate) struct CallText {
    base: usize,
    cap: usize,
    used: usize,
    kept: *const u8,
    /// The scorer's text is known to be UTF-8 (it vouches for its results,
    /// [`FLAG_VALID_RESULTS`](abi::FLAG_VALID_RESULTS)): only where it lies
    /// is checked.
    utf8: bool,
}

impl CallText {
    /// A buffer whose bytes stay where the plugin wrote them.
    pub(crate) fn kept_in_place(block: &[u8], used: usize, utf8: bool) -> Self {
        CallText {
            base: block.as_ptr() as usize,
            cap: block.len(),
            used: used.min(block.len()),
            kept: block.as_ptr(),
            utf8,
        }
    }

    /// A buffer written at `written` (`cap` bytes), whose first `used`
    /// bytes were copied to `kept`.
    pub(crate) fn moved(
        written: *const u8,
        cap: usize,
        used: usize,
        kept: &[u8],
        utf8: bool,
    ) -> Self {
        CallText {
            base: written as usize,
            cap,
            used: used.min(kept.len()),
            kept: kept.as_ptr(),
            utf8,
        }
    }

    /// Whether `ptr` points into the call's buffer.
    #[inline(always)]
    fn holds(&self, ptr: *const u8) -> bool {
        (ptr as usize).wrapping_sub(self.base) < self.cap
    }

    /// Checks one text of a slot: absent (allowed unless `required`),
    /// copied into this call's buffer (then pointed at where it is kept),
    /// or static text of the plugin.
    #[inline(always)]
    fn check(
        &self,
        text: &mut Str<'static>,
        checked: &mut Checked,
        what: &str,
        required: bool,
    ) -> Result<(), Problem> {
        let (ptr, len) = text.raw_parts();
        let not_utf8 = || Problem::Invalid(format!("the scorer's {what} is not valid UTF-8"));
        if ptr.is_null() {
            return if required {
                Err(Problem::Invalid(format!("the scorer's {what} is missing")))
            } else {
                Ok(())
            };
        }
        if len == 0 {
            *text = Str::new("");
            return Ok(());
        }
        if self.holds(ptr) {
            let offset = ptr as usize - self.base;
            if len > self.used.saturating_sub(offset) {
                return Err(Problem::Invalid(format!(
                    "the scorer's {what} points past the text it wrote"
                )));
            }
            // SAFETY: `offset + len <= used`, and `kept` holds `used` bytes.
            let bytes = unsafe { std::slice::from_raw_parts(self.kept.add(offset), len) };
            if !self.utf8 {
                std::str::from_utf8(bytes).map_err(|_| not_utf8())?;
            }
            // SAFETY: UTF-8, in the block the caller keeps with the slot.
            *text = unsafe { Str::from_raw_parts(bytes.as_ptr(), len) };
            return Ok(());
        }
        // SAFETY: static memory of a plugin that is never unloaded, `len`
        // bytes: the ABI's contract for text outside the call's buffer.
        let bytes: &'static [u8] = unsafe { std::slice::from_raw_parts(ptr, len) };
        if self.utf8 || checked.check(bytes) {
            Ok(())
        } else {
            Err(not_utf8())
        }
    }
}

/// A score's value, borrowed from [`Results`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScoreValueRef<'a> {
    /// Pass or fail.
    Bool(bool),
    /// A finite number.
    Number(f64),
    /// A label.
    Label(&'a str),
}

/// One result, borrowed from [`Results`]: a score (value and rationale) or
/// an error (code and message). Reading it costs no check and no copy.
#[derive(Clone, Copy)]
pub struct ScoreRef<'a> {
    slot: &'a ResultSlot,
}

impl<'a> ScoreRef<'a> {
    /// A text of a checked slot.
    fn text(text: Str<'static>) -> Option<&'a str> {
        let (ptr, len) = text.raw_parts();
        if ptr.is_null() {
            return None;
        }
        if len == 0 {
            return Some("");
        }
        // SAFETY: checked UTF-8 when the slot was accepted, and static or
        // kept by the `Results` this borrows from.
        Some(unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr, len)) })
    }

    /// Whether the record was scored (no error).
    pub fn is_ok(&self) -> bool {
        self.slot.status == STATUS_OK
    }

    /// The value, unless the result is an error.
    pub fn value(&self) -> Option<ScoreValueRef<'a>> {
        if self.slot.status != STATUS_OK {
            return None;
        }
        Some(match self.slot.kind {
            KIND_BOOL => ScoreValueRef::Bool(self.slot.number == 1.0),
            KIND_NUMBER => ScoreValueRef::Number(self.slot.number),
            _ => ScoreValueRef::Label(Self::text(self.slot.label).unwrap_or_default()),
        })
    }

    /// Whether a number or a label passes by the scorer's own criterion;
    /// `None` when it has none, for a bool (its own verdict), and for an
    /// error.
    pub fn passed(&self) -> Option<bool> {
        if self.slot.status != STATUS_OK || self.slot.kind == KIND_BOOL {
            return None;
        }
        match self.slot.verdict {
            VERDICT_PASS => Some(true),
            VERDICT_FAIL => Some(false),
            _ => None,
        }
    }

    /// The value as a number: a number as it is, a bool as 1 or 0; `None`
    /// for a label or an error.
    pub fn number(&self) -> Option<f64> {
        (self.slot.status == STATUS_OK && self.slot.kind != KIND_LABEL).then_some(self.slot.number)
    }

    /// The rationale, unless there is none or the result is an error.
    pub fn rationale(&self) -> Option<&'a str> {
        if self.slot.status != STATUS_OK {
            return None;
        }
        Self::text(self.slot.rationale)
    }

    /// The error code and message, if the record could not be scored; a
    /// panic has code [`SCORER_PANIC`].
    pub fn error(&self) -> Option<(&'a str, &'a str)> {
        let message = || Self::text(self.slot.rationale).unwrap_or_default();
        match self.slot.status {
            STATUS_OK => None,
            STATUS_PANIC => Some((SCORER_PANIC, message())),
            // An error needs a code: a plugin that gave none gets the
            // generic one.
            _ => Some((
                Self::text(self.slot.label)
                    .filter(|code| !code.is_empty())
                    .unwrap_or(SCORER_ERROR),
                message(),
            )),
        }
    }

    /// The result as an owned [`Outcome`].
    pub fn outcome(&self) -> Outcome {
        let owned = |text: &str| Cow::Owned(text.to_owned());
        if let Some((code, message)) = self.error() {
            return Err(ScoreError::new(owned(code), message));
        }
        let value = match self.value() {
            Some(ScoreValueRef::Bool(b)) => ScoreValue::Bool(b),
            Some(ScoreValueRef::Number(n)) => ScoreValue::Number(n),
            Some(ScoreValueRef::Label(l)) => ScoreValue::Label(owned(l)),
            None => unreachable!("a result is an error or has a value"),
        };
        Ok(Score {
            value,
            rationale: self.rationale().map(owned),
            passed: self.passed(),
        })
    }
}

impl fmt::Debug for ScoreRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.error() {
            Some((code, message)) => f
                .debug_struct("Error")
                .field("code", &code)
                .field("message", &message)
                .finish(),
            None => f
                .debug_struct("Score")
                .field("value", &self.value())
                .field("rationale", &self.rationale())
                .finish(),
        }
    }
}
