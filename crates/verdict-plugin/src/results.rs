//! Where the host keeps what scorers said: the result slots plugins write
//! ([`ResultSlot`]), checked once and then kept as they are.
//!
//! A plugin writes one 48-byte slot per record, whose texts point at the
//! plugin's static text or at copies in the call's text buffer. [`Results`]
//! checks each slot once — a known status and kind, a finite number, a bool
//! that is 0 or 1, text within [`TEXT_LIMIT`] that is UTF-8 and, when
//! copied, inside what the plugin wrote — and stores it with no
//! conversion; copied text moves into blocks that [`Results`] owns, and so
//! does static text, checked as it is copied (a plugin could rewrite its
//! "static" bytes once checked), unless the plugin vouches for it. What
//! no feedback can hold is replaced, in the same pass, by an error result
//! ([`SCORER_INVALID_RESULT`]). A plugin built with the kit vouches for
//! its results ([`FLAG_VALID_RESULTS`](abi::FLAG_VALID_RESULTS): its
//! writer makes them from Rust values and turns a non-finite number into
//! that error itself), so its slots are checked only when a call copied
//! text, to move it (and then where each text lies and how long it is);
//! its static text is kept by reference. Reading a result ([`ScoreRef`])
//! then needs no check at all.
//!
//! Compared with a list of [`Outcome`]s (56 bytes each, plus a heap
//! allocation for every text that is not static), a result costs 48
//! bytes, static text of a plugin that vouches for it costs nothing, and
//! the text a call copies (the static text of one that does not, once
//! per distinct text) shares one allocation.

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

/// The most bytes one text of a result (a label, an error code, a
/// rationale or a message) may hold, as much as a record may: a plugin
/// that gives a longer one, or asks for a buffer that large to write it
/// in, gets an error for that record, and nothing of that size is
/// allocated or read.
pub const TEXT_LIMIT: usize = 64 << 20;

/// The limit as messages give it.
const TEXT_LIMIT_WORDS: &str = "64 MiB";

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

    /// No results, with room for `n` (and for the guard slot a call
    /// into a scorer writes after the slots it hands over).
    pub fn with_capacity(n: usize) -> Self {
        Results {
            slots: Vec::with_capacity(n + 1),
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
        crate::export::write_outcome(&mut slots[0], outcome, "", &mut buf);
        // Rust strings are UTF-8, and this program's static text is its own.
        let kept = CallText::kept_in_place(&block, buf.len, true);
        if let Some((_, problem)) = self.check_prepared(0..1, &kept).pop() {
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
    /// caught. The slot after them is set to [`GUARD`], so that a scorer
    /// that writes one result more than it was asked for is caught
    /// ([`guard_intact`](Self::guard_intact)) rather than overwriting memory.
    pub(crate) fn prepare(&mut self, n: usize, mark: bool) -> &mut [ResultSlot] {
        let end = self.len + n;
        if self.slots.len() <= end {
            self.slots.resize(end + 1, ResultSlot::UNTOUCHED);
        }
        self.slots[end] = GUARD;
        let slots = &mut self.slots[self.len..end];
        for slot in slots.iter_mut() {
            slot.verdict = VERDICT_NONE;
            if mark {
                slot.status = STATUS_UNTOUCHED;
            }
        }
        slots
    }

    /// Whether the guard slot after `n` prepared slots is as
    /// [`prepare`](Self::prepare) left it.
    pub(crate) fn guard_intact(&self, n: usize) -> bool {
        is_guard(&self.slots[self.len + n])
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

    /// Keeps the text blocks of `other`, whose slots were copied into
    /// these.
    pub(crate) fn adopt(&mut self, other: Results) {
        self.text.extend(other.text);
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
    /// one), whose copied text was written to the call's buffer `call`,
    /// points their copied text at where that text is kept, and, unless
    /// the scorer vouches for its results, copies their static text into a
    /// block of their own. Returns the slots not accepted and why; none,
    /// usually, which allocates nothing.
    pub(crate) fn check_prepared(
        &mut self,
        range: std::ops::Range<usize>,
        call: &CallText,
    ) -> Vec<(usize, Problem)> {
        let mut problems = Vec::new();
        let mut copies = StaticCopies::default();
        let first = range.start;
        let slots = &mut self.slots[self.len + range.start..self.len + range.end];
        for (i, slot) in (first..).zip(slots.iter_mut()) {
            // The common case first, in a few instructions: a bool or a
            // finite number, with no rationale or, from a scorer that
            // vouches for it, a static one or one it copied (then pointed
            // at where it is kept).
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
                } else if !call.vouched || len == 0 {
                    false
                } else if call.holds(ptr) {
                    match call.copied(ptr, len) {
                        Some(kept) => {
                            slot.rationale = kept;
                            true
                        }
                        None => false,
                    }
                } else {
                    len <= TEXT_LIMIT
                };
                if accepted {
                    continue;
                }
            }
            // Read once: what is checked is what is kept.
            let mut copy = *slot;
            match check_slot(&mut copy, call, &mut copies, i) {
                Ok(()) => *slot = copy,
                Err(problem) => {
                    copies.forget(i);
                    problems.push((i, problem));
                }
            }
        }
        if let Some(block) = copies.point(&mut self.slots[self.len..]) {
            self.keep(block);
        }
        problems
    }
}

/// The slot [`Results::prepare`] sets after the slots a scorer may write.
const GUARD: ResultSlot = ResultSlot {
    status: STATUS_UNTOUCHED - 1,
    kind: 0x6775,
    verdict: 0x6172,
    number: f64::from_bits(0x6775_6172_6400_0000),
    label: Str::ABSENT,
    rationale: Str::ABSENT,
};

fn is_guard(slot: &ResultSlot) -> bool {
    slot.status == GUARD.status
        && slot.kind == GUARD.kind
        && slot.verdict == GUARD.verdict
        && slot.number.to_bits() == GUARD.number.to_bits()
        && slot.label.raw_parts() == GUARD.label.raw_parts()
        && slot.rationale.raw_parts() == GUARD.rationale.raw_parts()
}

/// Checks one slot, whatever it holds (see [`Results::check_prepared`]);
/// it is prepared slot `index`.
#[inline(never)]
fn check_slot(
    slot: &mut ResultSlot,
    call: &CallText,
    copies: &mut StaticCopies,
    index: usize,
) -> Result<(), Problem> {
    let (status, kind, verdict, number) = (slot.status, slot.kind, slot.verdict, slot.number);
    let (label, rationale) = (&mut slot.label, &mut slot.rationale);
    // A text that did not fit: score the record again, with room for
    // every text of the slot, unless it asks for more than a text may be.
    let (lp, ll) = label.raw_parts();
    let (rp, rl) = rationale.raw_parts();
    let needs_label = matches!((status, kind), (STATUS_OK, KIND_LABEL) | (STATUS_ERROR, _));
    if (needs_label && lp.is_null() && ll > 0) || (rp.is_null() && rl > 0) {
        let ll = if needs_label { ll } else { 0 };
        for (what, len) in [("label", ll), ("rationale", rl)] {
            if len > TEXT_LIMIT {
                return Err(Problem::Invalid(format!(
                    "the scorer's {what} needs {len} bytes, over the {TEXT_LIMIT_WORDS} a text may be"
                )));
            }
        }
        return Err(Problem::TooLong(ll + rl));
    }
    let invalid = |message: String| Err(Problem::Invalid(message));
    match status {
        STATUS_OK => {
            match kind {
                KIND_BOOL if number == 0.0 || number == 1.0 => {}
                KIND_NUMBER if number.is_finite() => {}
                KIND_LABEL => call.check(label, copies, (index, Field::Label), "label", true)?,
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
        STATUS_ERROR => call.check(label, copies, (index, Field::Label), "error code", true)?,
        STATUS_PANIC => {}
        STATUS_UNTOUCHED => {
            return invalid("the scorer left this record's result unwritten".into());
        }
        status => return invalid(format!("the scorer returned an unknown status {status}")),
    }
    call.check(
        rationale,
        copies,
        (index, Field::Rationale),
        "rationale",
        false,
    )
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

/// A text of a result slot.
#[derive(Clone, Copy, PartialEq)]
enum Field {
    Label,
    Rationale,
}

/// How many distinct static texts one call remembers having copied.
const REMEMBERED: usize = 16;

/// The static text of one call's results, copied into one block, for a
/// scorer that does not vouch for its results: its "static" bytes may be
/// rewritten after they were checked, so what is kept is a copy, checked
/// as it was copied. The same text (address and length) returned for many
/// records is copied once.
#[derive(Default)]
struct StaticCopies {
    block: Vec<u8>,
    /// Texts copied, by address and length: where in the block.
    seen: [(usize, usize, usize); REMEMBERED],
    /// The texts to point at the block once it is complete: slot, field,
    /// offset and length.
    fields: Vec<(usize, Field, usize, usize)>,
}

impl StaticCopies {
    /// Copies `len` bytes at `ptr` (checked to lie outside the call's
    /// buffer, and within [`TEXT_LIMIT`]) for field `at`, unless the same
    /// text was copied already; fails when the copy is not UTF-8, or the
    /// call's copies would pass the limit.
    fn copy(
        &mut self,
        ptr: *const u8,
        len: usize,
        at: (usize, Field),
        what: &str,
    ) -> Result<(), Problem> {
        let key = (ptr as usize, len);
        let entry = (key.0 >> 3 ^ len) % REMEMBERED;
        let offset = match self.seen[entry] {
            (p, l, offset) if (p, l) == key => offset,
            _ => {
                if self.block.len() + len > TEXT_LIMIT {
                    return Err(Problem::Invalid(format!(
                        "the scorer's static text passes {TEXT_LIMIT_WORDS} in one call"
                    )));
                }
                let offset = self.block.len();
                // SAFETY: text outside the call's buffer is the plugin's
                // static memory by the ABI's contract (verdict_plugin.h),
                // `len` bytes, checked against the limit; only a crash in
                // isolation can tell a plugin that lies about it.
                self.block
                    .extend_from_slice(unsafe { std::slice::from_raw_parts(ptr, len) });
                if std::str::from_utf8(&self.block[offset..]).is_err() {
                    self.block.truncate(offset);
                    return Err(Problem::Invalid(format!(
                        "the scorer's {what} is not valid UTF-8"
                    )));
                }
                self.seen[entry] = (key.0, len, offset);
                offset
            }
        };
        self.fields.push((at.0, at.1, offset, len));
        Ok(())
    }

    /// Drops the copies made for slot `i`, which was not accepted (its
    /// bytes stay in the block, unused).
    fn forget(&mut self, i: usize) {
        self.fields.retain(|&(slot, ..)| slot != i);
    }

    /// Points the fields copied at the complete block (`slots` counted from
    /// the first prepared one), and returns the block to keep with them.
    fn point(self, slots: &mut [ResultSlot]) -> Option<Vec<u8>> {
        if self.fields.is_empty() {
            return None;
        }
        for (i, field, offset, len) in self.fields {
            // SAFETY: UTF-8 copied into the block, which is kept with the
            // slots and never changes again.
            let text = unsafe { Str::from_raw_parts(self.block.as_ptr().add(offset), len) };
            match field {
                Field::Label => slots[i].label = text,
                Field::Rationale => slots[i].rationale = text,
            }
        }
        Some(self.block)
    }
}

/// The text buffer of one call: where the plugin wrote (`base`, `cap`
/// bytes, `used` of them written), where those bytes are kept now, and
/// whether the scorer vouches for its texts.
pub(crate) struct CallText {
    base: usize,
    cap: usize,
    used: usize,
    kept: *const u8,
    /// The scorer vouches for its results
    /// ([`FLAG_VALID_RESULTS`](abi::FLAG_VALID_RESULTS)): its text is
    /// UTF-8, and its static text stays as it is, so it is kept by
    /// reference; only where text lies and how long it is are checked.
    vouched: bool,
}

impl CallText {
    /// A buffer whose bytes stay where the plugin wrote them.
    pub(crate) fn kept_in_place(block: &[u8], used: usize, vouched: bool) -> Self {
        CallText {
            base: block.as_ptr() as usize,
            cap: block.len(),
            used: used.min(block.len()),
            kept: block.as_ptr(),
            vouched,
        }
    }

    /// A buffer written at `written` (`cap` bytes), whose first `used`
    /// bytes were copied to `kept`.
    pub(crate) fn moved(
        written: *const u8,
        cap: usize,
        used: usize,
        kept: &[u8],
        vouched: bool,
    ) -> Self {
        CallText {
            base: written as usize,
            cap,
            used: used.min(kept.len()),
            kept: kept.as_ptr(),
            vouched,
        }
    }

    /// Whether `ptr` points into the call's buffer.
    #[inline(always)]
    fn holds(&self, ptr: *const u8) -> bool {
        (ptr as usize).wrapping_sub(self.base) < self.cap
    }

    /// Where the `len` bytes the plugin wrote at `ptr`, in the call's
    /// buffer ([`holds`](Self::holds)), are kept; `None` when they run
    /// past what it wrote. Not checked for UTF-8.
    #[inline(always)]
    fn copied(&self, ptr: *const u8, len: usize) -> Option<Str<'static>> {
        let offset = ptr as usize - self.base;
        if len > self.used.saturating_sub(offset) {
            return None;
        }
        // SAFETY: `offset + len <= used`, and `kept` holds `used` bytes,
        // in the block the caller keeps with the slot; the caller checks
        // the text for UTF-8 unless the scorer vouches for it.
        Some(unsafe { Str::from_raw_parts(self.kept.add(offset), len) })
    }

    /// Checks one text of a slot, field `at`: absent (allowed unless
    /// `required`), copied into this call's buffer (then pointed at where
    /// it is kept), or static text of the plugin (copied, unless the
    /// scorer vouches for it).
    #[inline(always)]
    fn check(
        &self,
        text: &mut Str<'static>,
        copies: &mut StaticCopies,
        at: (usize, Field),
        what: &str,
        required: bool,
    ) -> Result<(), Problem> {
        let (ptr, len) = text.raw_parts();
        let invalid = |message: String| Err(Problem::Invalid(message));
        if ptr.is_null() {
            return if required {
                invalid(format!("the scorer's {what} is missing"))
            } else {
                Ok(())
            };
        }
        if len == 0 {
            *text = Str::new("");
            return Ok(());
        }
        if self.holds(ptr) {
            let Some(kept) = self.copied(ptr, len) else {
                return invalid(format!("the scorer's {what} points past the text it wrote"));
            };
            if !self.vouched {
                let (at, len) = kept.raw_parts();
                // SAFETY: `len` bytes the call's block keeps (`copied`).
                let bytes = unsafe { std::slice::from_raw_parts(at, len) };
                if std::str::from_utf8(bytes).is_err() {
                    return invalid(format!("the scorer's {what} is not valid UTF-8"));
                }
            }
            *text = kept;
            return Ok(());
        }
        if len > TEXT_LIMIT {
            return invalid(format!(
                "the scorer's {what} is {len} bytes long, over the {TEXT_LIMIT_WORDS} a text may be"
            ));
        }
        // Static text ends before the call's buffer starts (or starts after
        // it ends), and before the end of the address space.
        let start = ptr as usize;
        let Some(end) = start.checked_add(len) else {
            return invalid(format!("the scorer's {what} runs past the end of memory"));
        };
        if start < self.base && end > self.base {
            return invalid(format!(
                "the scorer's {what} runs into the call's text buffer"
            ));
        }
        if self.vouched {
            return Ok(());
        }
        copies.copy(ptr, len, at, what)
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
