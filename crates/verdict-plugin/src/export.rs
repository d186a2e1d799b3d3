//! The plugin side of the boundary: the `extern "C"` functions that
//! [`export_plugin!`](crate::export_plugin) points a descriptor at. Each
//! catches panics and reports failures through return codes, result
//! statuses and a thread-local last error.

use std::any::Any;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::abi::{
    ABI_VERSION, ABI_VERSION_TRACES, Buf, Descriptor, FLAG_THREAD_SAFE, FLAG_VALID_RESULTS,
    KIND_BOOL, KIND_LABEL, KIND_NUMBER, RC_ERROR, RC_OK, RC_PANIC, RawRecord, RawTrace, ResultSlot,
    STATUS_ERROR, STATUS_OK, STATUS_PANIC, Str, VERDICT_FAIL, VERDICT_NONE, VERDICT_PASS,
};
use crate::record::Record;
use crate::results::{SCORER_INVALID_RESULT, not_finite};
use crate::scorer::{Outcome, ScoreValue, Scorer};
use crate::trace::Trace;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
    static OUTCOMES: RefCell<Vec<Outcome>> = const { RefCell::new(Vec::new()) };
    /// The rationale buffer of the thread's calls, kept between them (taken
    /// for a call, so a call re-entered from a scorer gets one of its own).
    static RATIONALE: Cell<String> = const { Cell::new(String::new()) };
}

fn set_last_error(message: String) {
    LAST_ERROR.with(|e| *e.borrow_mut() = message);
}

/// The text a caught panic carries, when it carries text (`panic!` with a
/// message gives a `&str` or a `String`).
pub fn panic_text(panic: &(dyn Any + Send)) -> Option<&str> {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
}

/// The message of a caught panic.
pub fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic_text(panic).unwrap_or("the scorer panicked with a non-text payload")
}

/// The descriptor of scorer `S`, with `flags` computed where the plugin is
/// compiled (whether it unwinds on panic).
pub const fn descriptor<S: Scorer>(flags: u64) -> Descriptor {
    Descriptor {
        abi_version: ABI_VERSION,
        struct_size: size_of::<Descriptor>() as u32,
        flags: flags | FLAG_THREAD_SAFE | FLAG_VALID_RESULTS,
        name: Str::new(S::NAME),
        version: Str::new(S::VERSION),
        description: Str::new(S::DESCRIPTION),
        config_keys: S::CONFIG_KEYS.as_ptr(),
        n_config_keys: S::CONFIG_KEYS.len(),
        create: Some(create::<S>),
        score: Some(score::<S>),
        score_batch: Some(score_batch::<S>),
        destroy: Some(destroy::<S>),
        last_error: Some(last_error),
        // The kit's plugins ask nothing of a host that its first version
        // did not give, unless they read traces.
        min_abi_version: if S::NEEDS_TRACE {
            ABI_VERSION_TRACES
        } else {
            1
        },
        score_batch_traced: if S::NEEDS_TRACE {
            Some(score_batch_traced::<S>)
        } else {
            None
        },
    }
}

/// Whether two names are the same, at compile time: the entry point
/// [`export_plugin!`](crate::export_plugin) names for a scorer must carry
/// the scorer's name.
#[doc(hidden)]
pub const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Puts text into a slot: static text by reference (it lives as long as
/// the plugin, which is never unloaded), other text copied into the call's
/// text buffer.
// Whether the text is borrowed (static) or owned is the point, hence the Cow.
#[allow(clippy::ptr_arg)]
#[inline]
fn put(text: &Cow<'static, str>, buf: &mut Buf, dst: &mut Str<'static>) {
    match text {
        Cow::Borrowed(s) => dst.set(s),
        Cow::Owned(s) => *dst = buf.push(s.as_bytes()),
    }
}

/// Writes one outcome into a host result slot, copying the text that is
/// not static into `text`; `written` is what the scorer wrote as the
/// rationale ([`Scorer::score_writing_rationale`]), the rationale of a
/// score that has none of its own.
#[inline]
pub fn write_outcome(slot: &mut ResultSlot, outcome: &Outcome, written: &str, text: &mut Buf) {
    match outcome {
        Ok(score) => {
            slot.status = STATUS_OK;
            slot.verdict = match score.passed {
                None => VERDICT_NONE,
                Some(true) => VERDICT_PASS,
                Some(false) => VERDICT_FAIL,
            };
            match &score.value {
                // The label is read only with a label kind or an error:
                // not written here.
                ScoreValue::Bool(b) => {
                    slot.kind = KIND_BOOL;
                    slot.verdict = VERDICT_NONE;
                    slot.number = f64::from(u8::from(*b));
                }
                ScoreValue::Number(n) if n.is_finite() => {
                    slot.kind = KIND_NUMBER;
                    slot.number = *n;
                }
                // No feedback can hold it: the result is an error, as the
                // host would make it (the kit vouches for its results).
                ScoreValue::Number(n) => {
                    slot.status = STATUS_ERROR;
                    slot.kind = 0;
                    slot.verdict = VERDICT_NONE;
                    slot.number = 0.0;
                    slot.label = Str::new(SCORER_INVALID_RESULT);
                    slot.rationale = text.push(not_finite(*n).as_bytes());
                    return;
                }
                ScoreValue::Label(label) => {
                    slot.kind = KIND_LABEL;
                    slot.number = 0.0;
                    put(label, text, &mut slot.label);
                }
            }
            match &score.rationale {
                Some(rationale) => put(rationale, text, &mut slot.rationale),
                None if !written.is_empty() => slot.rationale = text.push(written.as_bytes()),
                None => slot.rationale = Str::ABSENT,
            }
        }
        Err(error) => {
            slot.status = STATUS_ERROR;
            slot.kind = 0;
            slot.verdict = VERDICT_NONE;
            slot.number = 0.0;
            put(&error.code, text, &mut slot.label);
            slot.rationale = text.push(error.message.as_bytes());
        }
    }
}

fn write_panic(slot: &mut ResultSlot, panic: &(dyn Any + Send), text: &mut Buf) {
    slot.status = STATUS_PANIC;
    slot.kind = 0;
    slot.verdict = VERDICT_NONE;
    slot.number = 0.0;
    slot.label = Str::ABSENT;
    slot.rationale = text.push(panic_message(panic).as_bytes());
}

/// Builds a scorer from its JSON config.
///
/// # Safety
/// `state` must be valid for a write; `config` must be valid UTF-8.
pub unsafe extern "C" fn create<S: Scorer>(config: Str<'_>, state: *mut *mut c_void) -> i32 {
    if state.is_null() {
        set_last_error("create: the state pointer is null".into());
        return RC_ERROR;
    }
    match catch_unwind(|| S::from_json(config.as_str())) {
        Ok(Ok(scorer)) => {
            // SAFETY: checked non-null; the host provides a writable slot.
            unsafe { *state = Box::into_raw(Box::new(scorer)).cast() };
            RC_OK
        }
        Ok(Err(error)) => {
            set_last_error(error.to_string());
            RC_ERROR
        }
        Err(panic) => {
            set_last_error(format!(
                "{} panicked while reading its config: {}",
                S::NAME,
                panic_message(&*panic)
            ));
            RC_PANIC
        }
    }
}

/// Scores one record.
///
/// # Safety
/// `state` must come from `create` of the same scorer; `record`, `text`
/// and `result` must be valid.
pub unsafe extern "C" fn score<S: Scorer>(
    state: *const c_void,
    record: *const RawRecord,
    text: *mut Buf,
    result: *mut ResultSlot,
) -> i32 {
    if state.is_null() || record.is_null() || text.is_null() || result.is_null() {
        set_last_error("score: a null pointer was passed".into());
        return RC_ERROR;
    }
    // SAFETY: checked non-null; the host's contract makes them valid.
    let (scorer, record, text, slot) = unsafe {
        (
            &*state.cast::<S>(),
            std::slice::from_ref(&*record.cast::<Record<'_>>()),
            &mut *text,
            std::slice::from_mut(&mut *result),
        )
    };
    score_into(scorer, record, slot, text);
    RC_OK
}

/// Scores `n` records with [`score_into`].
///
/// # Safety
/// `state` must come from `create` of the same scorer; `records` and
/// `results` must be valid for `n` entries, `text` for one.
pub unsafe extern "C" fn score_batch<S: Scorer>(
    state: *const c_void,
    records: *const RawRecord,
    n: usize,
    text: *mut Buf,
    results: *mut ResultSlot,
) -> i32 {
    if n == 0 {
        return RC_OK;
    }
    if state.is_null() || records.is_null() || text.is_null() || results.is_null() {
        set_last_error("score_batch: a null pointer was passed".into());
        return RC_ERROR;
    }
    // SAFETY: checked non-null; the host's contract makes them valid for n.
    let (scorer, records, text, slots) = unsafe {
        (
            &*state.cast::<S>(),
            std::slice::from_raw_parts(records.cast::<Record<'_>>(), n),
            &mut *text,
            std::slice::from_raw_parts_mut(results, n),
        )
    };
    score_into(scorer, records, slots, text);
    RC_OK
}

/// Scores `n` records, each with its trace, with [`score_traced_into`].
///
/// # Safety
/// `state` must come from `create` of the same scorer; `records`,
/// `traces` and `results` must be valid for `n` entries (each trace
/// pointer null or valid), `text` for one.
pub unsafe extern "C" fn score_batch_traced<S: Scorer>(
    state: *const c_void,
    records: *const RawRecord,
    traces: *const *const RawTrace,
    n: usize,
    text: *mut Buf,
    results: *mut ResultSlot,
) -> i32 {
    if n == 0 {
        return RC_OK;
    }
    if state.is_null()
        || records.is_null()
        || traces.is_null()
        || text.is_null()
        || results.is_null()
    {
        set_last_error("score_batch_traced: a null pointer was passed".into());
        return RC_ERROR;
    }
    // SAFETY: checked non-null; the host's contract makes them valid for
    // n. A nullable pointer to a trace has the layout of `Option<&Trace>`.
    let (scorer, records, traces, text, slots) = unsafe {
        (
            &*state.cast::<S>(),
            std::slice::from_raw_parts(records.cast::<Record<'_>>(), n),
            std::slice::from_raw_parts(traces.cast::<Option<&Trace<'_>>>(), n),
            &mut *text,
            std::slice::from_raw_parts_mut(results, n),
        )
    };
    score_traced_into(scorer, records, traces, slots, text);
    RC_OK
}

/// Scores `records` with their traces into `slots`, as [`score_into`]
/// does without them: through the scorer's
/// [`score_batch_traced`](Scorer::score_batch_traced) when it has its own
/// ([`Scorer::BATCHED`]), else record by record with
/// [`score_traced`](Scorer::score_traced). `traces` is as long as
/// `records`; records past it get no result (the host catches that).
pub fn score_traced_into<S: Scorer>(
    scorer: &S,
    records: &[Record<'_>],
    traces: &[Option<&Trace<'_>>],
    slots: &mut [ResultSlot],
    text: &mut Buf,
) {
    let n = records.len().min(slots.len()).min(traces.len());
    let (records, traces) = (&records[..n], &traces[..n]);
    fill(
        records,
        slots,
        text,
        |outcomes| scorer.score_batch_traced(records, traces, outcomes),
        // A trace scorer returns its rationale; the call's buffer stays
        // empty.
        |record, i, _| scorer.score_traced(record, traces[i]),
        S::BATCHED,
        Rationale::Kept,
    );
}

/// Scores `records` into `slots`, one each: through the scorer's own
/// `score_batch` when it has one ([`Scorer::BATCHED`]), else record by
/// record, straight into the slots. A panic is pinned to the records that
/// cause it: a batch that panics is scored again record by record, and only
/// those records get a panic status.
///
/// Text that is not static is copied into `text`.
///
/// This is what a plugin's entry points run, and what the host runs for a
/// scorer compiled in, so that both give the same results the same way.
pub fn score_into<S: Scorer>(
    scorer: &S,
    records: &[Record<'_>],
    slots: &mut [ResultSlot],
    text: &mut Buf,
) {
    score_untraced(scorer, records, slots, text, Rationale::Kept);
}

/// Scores `records` into `slots` as [`score_into`] does, for their values
/// alone: record by record with [`Scorer::score_value`] (or the scorer's
/// own `score_batch`), every score's rationale left out. What a SQL
/// function that returns the value runs.
pub fn score_values_into<S: Scorer>(
    scorer: &S,
    records: &[Record<'_>],
    slots: &mut [ResultSlot],
    text: &mut Buf,
) {
    score_untraced(scorer, records, slots, text, Rationale::Dropped);
}

/// [`score_into`], the rationales kept or dropped as `rationale` says.
#[inline(always)]
fn score_untraced<S: Scorer>(
    scorer: &S,
    records: &[Record<'_>],
    slots: &mut [ResultSlot],
    text: &mut Buf,
    rationale: Rationale,
) {
    let n = records.len().min(slots.len());
    let records = &records[..n];
    fill(
        records,
        slots,
        text,
        |outcomes| scorer.score_batch(records, outcomes),
        |record, _, buffer| match rationale {
            Rationale::Kept => scorer.score_writing_rationale(record, buffer),
            Rationale::Dropped => scorer.score_value(record, buffer),
        },
        S::BATCHED,
        rationale,
    );
}

/// Whether the scores' rationales are written into the results.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rationale {
    Kept,
    /// Left out: only the values are read. An error keeps its message.
    Dropped,
}

impl Rationale {
    /// `outcome` and the rationale `written` for it, as they are kept.
    #[inline(always)]
    fn keep<'a>(self, outcome: &mut Outcome, written: &'a str) -> &'a str {
        match (self, outcome) {
            (Rationale::Kept, _) => written,
            (Rationale::Dropped, Ok(score)) => {
                score.rationale = None;
                ""
            }
            (Rationale::Dropped, Err(_)) => "",
        }
    }
}

/// Fills one slot per record of `records` (which `slots` holds at
/// least): with `batch`'s outcomes when `batched` and it gives one per
/// record without panicking, else with `one` record at a time (given the
/// record, its index and the call's rationale buffer, emptied before
/// each), a panic pinned to the record that caused it; each score's
/// rationale kept or dropped as `rationale` says.
#[inline(always)]
fn fill(
    records: &[Record<'_>],
    slots: &mut [ResultSlot],
    text: &mut Buf,
    batch: impl FnOnce(&mut Vec<Outcome>),
    one: impl Fn(&Record<'_>, usize, &mut String) -> Outcome,
    batched: bool,
    rationale: Rationale,
) {
    let n = records.len();
    let slots = &mut slots[..n];
    let whole = batched
        && OUTCOMES.with(|cell| {
            let Ok(mut outcomes) = cell.try_borrow_mut() else {
                return false;
            };
            outcomes.clear();
            let scored = catch_unwind(AssertUnwindSafe(|| batch(&mut outcomes)));
            if scored.is_err() || outcomes.len() != n {
                return false;
            }
            for (slot, mut outcome) in slots.iter_mut().zip(outcomes.drain(..)) {
                rationale.keep(&mut outcome, "");
                write_outcome(slot, &outcome, "", text);
            }
            true
        });
    if !whole {
        // One guard for the whole loop rather than one per record: the loop
        // stays a plain loop. `done` counts the records written, so that a
        // panic is pinned to the record that caused it, and the loop goes
        // on after it.
        // One rationale buffer for the call: a scorer that writes its
        // rationale there allocates none per record.
        let mut done = 0;
        let mut written = RATIONALE.with(|cell| cell.take());
        while done < n {
            let scored = catch_unwind(AssertUnwindSafe(|| {
                for ((slot, record), i) in
                    slots[done..].iter_mut().zip(&records[done..]).zip(done..)
                {
                    written.clear();
                    let mut outcome = one(record, i, &mut written);
                    let kept = rationale.keep(&mut outcome, &written);
                    write_outcome(slot, &outcome, kept, text);
                    done += 1;
                }
            }));
            if let Err(panic) = scored {
                write_panic(&mut slots[done], &*panic, text);
                done += 1;
            }
        }
        written.clear();
        RATIONALE.with(|cell| cell.replace(written));
    }
}

/// Frees a scorer.
///
/// # Safety
/// `state` must come from `create` of the same scorer, and not be used
/// again.
pub unsafe extern "C" fn destroy<S: Scorer>(state: *mut c_void) {
    if state.is_null() {
        return;
    }
    // SAFETY: made by `create` with `Box::into_raw`.
    let scorer = unsafe { Box::from_raw(state.cast::<S>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(scorer)));
}

/// Copies the calling thread's last error into `buf`.
///
/// # Safety
/// `buf` must be valid for `cap` bytes.
pub unsafe extern "C" fn last_error(buf: *mut u8, cap: usize) -> usize {
    LAST_ERROR.with(|e| {
        let e = e.borrow();
        let n = e.len().min(cap);
        if n > 0 && !buf.is_null() {
            // SAFETY: the host provides `cap` writable bytes.
            unsafe { std::ptr::copy_nonoverlapping(e.as_ptr(), buf, n) };
        }
        e.len()
    })
}

/// Turns a type implementing [`Scorer`] into a plugin: exports an entry
/// point that returns the scorer's descriptor.
///
/// - `export_plugin!(MyScorer)` exports the generic `verdict_plugin_v1`,
///   which a host finds whatever the library's file is called. Use it once
///   per dynamic library.
/// - `export_plugin!(MyScorer, my_scorer)` exports
///   `verdict_plugin_v1_my_scorer` (the second argument must be the
///   scorer's [`NAME`](Scorer::NAME); the build fails otherwise). A host
///   looks for it first, in a library named for the scorer
///   (`libmy_scorer.so`, `libverdict_my_scorer.so`:
///   [`library_scorer`](crate::abi::library_scorer)); and since each
///   scorer's symbol is its own, several such plugin crates can be linked
///   into one program as plain Rust dependencies. Add the generic form
///   beside it for a library that may be renamed but is never linked
///   beside another plugin; Verdict's built-in scorers, which the host
///   links together, export only their own.
///
/// ```
/// # use verdict_plugin::{Config, ConfigError, Outcome, Record, Score, Scorer};
/// # pub struct Loud;
/// # impl Scorer for Loud {
/// #     const NAME: &'static str = "loud";
/// #     const VERSION: &'static str = "1";
/// #     const DESCRIPTION: &'static str = "Passes when the output is in capitals.";
/// #     fn from_config(_: &Config) -> Result<Self, ConfigError> { Ok(Loud) }
/// #     fn score(&self, r: &Record<'_>) -> Outcome { Ok(Score::bool(true)) }
/// # }
/// verdict_plugin::export_plugin!(Loud, loud); // verdict_plugin_v1_loud
/// verdict_plugin::export_plugin!(Loud); // verdict_plugin_v1
/// ```
///
/// A name that is not the scorer's does not build:
///
/// ```compile_fail
/// # use verdict_plugin::{Config, ConfigError, Outcome, Record, Score, Scorer};
/// # pub struct Loud;
/// # impl Scorer for Loud {
/// #     const NAME: &'static str = "loud";
/// #     const VERSION: &'static str = "1";
/// #     const DESCRIPTION: &'static str = "Passes when the output is in capitals.";
/// #     fn from_config(_: &Config) -> Result<Self, ConfigError> { Ok(Loud) }
/// #     fn score(&self, r: &Record<'_>) -> Outcome { Ok(Score::bool(true)) }
/// # }
/// verdict_plugin::export_plugin!(Loud, quiet);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($scorer:ty) => {
        /// The Verdict plugin entry point (named `v1` in every ABI version).
        #[unsafe(no_mangle)]
        pub extern "C" fn verdict_plugin_v1() -> *const $crate::abi::Descriptor {
            $crate::__plugin_descriptor!($scorer)
        }
    };
    ($scorer:ty, $name:ident) => {
        const _: () = {
            assert!(
                $crate::export::same_name(<$scorer as $crate::Scorer>::NAME, stringify!($name)),
                concat!(
                    "export_plugin!: `",
                    stringify!($name),
                    "` is not the scorer's NAME"
                )
            );
            /// The Verdict plugin entry point of this scorer (named `v1` in every ABI version).
            #[unsafe(export_name = concat!("verdict_plugin_v1_", stringify!($name)))]
            extern "C" fn entry() -> *const $crate::abi::Descriptor {
                $crate::__plugin_descriptor!($scorer)
            }
        };
    };
}

/// The static descriptor of a scorer, with the unwind flag of the crate
/// the macro is expanded in (where the plugin is compiled).
#[doc(hidden)]
#[macro_export]
macro_rules! __plugin_descriptor {
    ($scorer:ty) => {{
        static DESCRIPTOR: $crate::abi::Descriptor =
            $crate::export::descriptor::<$scorer>(if cfg!(panic = "unwind") {
                $crate::abi::FLAG_PANIC_UNWIND
            } else {
                0
            });
        &DESCRIPTOR
    }};
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use crate::config::{Config, ConfigError};
    use crate::record::{Record, Value};
    use crate::scorer::{Outcome, Score, ScoreError, Scorer};
    use crate::testing::through_abi;

    /// Writes its rationale into the call's buffer, whatever it returns:
    /// the output says what it returns.
    struct Writes;

    impl Scorer for Writes {
        const NAME: &'static str = "writes";
        const VERSION: &'static str = "1";
        const DESCRIPTION: &'static str = "Writes its rationale into the call's buffer.";

        fn from_config(_: &Config) -> Result<Self, ConfigError> {
            Ok(Writes)
        }

        fn score(&self, record: &Record<'_>) -> Outcome {
            let mut rationale = String::new();
            let outcome = self.score_writing_rationale(record, &mut rationale);
            outcome.map(|score| score.or_rationale(rationale))
        }

        fn score_writing_rationale(&self, record: &Record<'_>, rationale: &mut String) -> Outcome {
            let output = record.outputs.text();
            assert!(rationale.is_empty(), "a record's buffer starts empty");
            match output {
                "silent" => Ok(Score::bool(true)),
                "own" => {
                    rationale.push_str("written");
                    Ok(Score::bool(true).with_rationale("its own"))
                }
                "error" => {
                    rationale.push_str("written");
                    Err(ScoreError::new("BAD", "an error"))
                }
                "panic" => {
                    rationale.push_str("half written");
                    panic!("in the middle of a rationale");
                }
                _ => {
                    let _ = write!(rationale, "{} chars", output.len());
                    Ok(Score::number(output.len() as f64))
                }
            }
        }
    }

    #[test]
    fn a_rationale_written_in_the_buffer_is_the_records_own() {
        let outputs = ["abc", "panic", "silent", "own", "error", "abcdef", "silent"];
        let records: Vec<Record<'_>> = outputs
            .iter()
            .map(|o| Record::new(Value::NULL, Value::string(o), &[]))
            .collect();
        let direct: Vec<Outcome> = outputs
            .iter()
            .zip(&records)
            .filter(|(o, _)| **o != "panic")
            .map(|(_, r)| Writes.score(r))
            .collect();
        let through = through_abi::<Writes>("", &records).unwrap();
        fn rationale(o: &Outcome) -> Option<&str> {
            o.as_ref().ok().and_then(|s| s.rationale.as_deref())
        }
        assert_eq!(rationale(&through[0]), Some("3 chars"));
        assert_eq!(
            through[1].as_ref().unwrap_err().code,
            "SCORER_PANIC",
            "{:?}",
            through[1]
        );
        assert_eq!(rationale(&through[2]), None, "nothing left of the panic");
        assert_eq!(rationale(&through[3]), Some("its own"));
        assert_eq!(through[4].as_ref().unwrap_err().message, "an error");
        assert_eq!(rationale(&through[5]), Some("6 chars"));
        assert_eq!(rationale(&through[6]), None);
        let without_panic: Vec<Outcome> = [0, 2, 3, 4, 5, 6]
            .iter()
            .map(|&i| through[i].clone())
            .collect();
        assert_eq!(without_panic, direct, "the same as `score`");
    }

    #[test]
    fn values_alone_are_the_scores_without_their_rationales() {
        use crate::abi::{Buf, ResultSlot};
        use crate::host::score_batch_with;
        use crate::results::Results;

        let outputs = ["abc", "panic", "silent", "own", "error", "abcdef"];
        let records: Vec<Record<'_>> = outputs
            .iter()
            .map(|o| Record::new(Value::NULL, Value::string(o), &[]))
            .collect();
        let values = |records: &[Record<'_>],
                      _: &[Option<&crate::trace::Trace<'_>>],
                      text: &mut Buf,
                      slots: &mut [ResultSlot]| {
            super::score_values_into(&Writes, records, slots, text);
            Ok(())
        };
        let mut out = Results::with_capacity(records.len());
        score_batch_with(&records, &[], &mut out, true, values, values);
        let values = out.to_outcomes();
        let full = through_abi::<Writes>("", &records).unwrap();
        assert_eq!(values.len(), full.len());
        for (i, (value, full)) in values.iter().zip(&full).enumerate() {
            match (value, full) {
                (Ok(value), Ok(full)) => {
                    assert_eq!(value.rationale, None, "record {i}: {value:?}");
                    assert_eq!(value.value, full.value, "record {i}");
                    assert_eq!(value.passed, full.passed, "record {i}");
                }
                (Err(value), Err(full)) => assert_eq!(value, full, "record {i}: errors are whole"),
                _ => panic!("record {i}: {value:?} against {full:?}"),
            }
        }
        assert!(
            full[0].as_ref().unwrap().rationale.is_some(),
            "a rationale was dropped"
        );
        assert_eq!(values[4].as_ref().unwrap_err().message, "an error");
    }
}
