//! Testing a scorer: directly, and through its C ABI in process.

use std::ffi::c_void;

use crate::abi::{FLAG_PANIC_UNWIND, RC_OK, Str};
use crate::export::descriptor;
use crate::host;
use crate::record::{NamedValue, Record, Value};
use crate::results::Results;
use crate::scorer::{Outcome, Score, Scorer};
use crate::trace::Trace;

/// Scores one record directly with scorer `S` built from `config`: a
/// record with no inputs, output `output` and `expectations`. For a
/// scorer's tests, it panics, naming the config, when `S` refuses the
/// config or fails on the record.
///
/// ```
/// # use verdict_plugin::{Config, ConfigError, Outcome, Record, Score, ScoreValue, Scorer, Value};
/// # struct Loud;
/// # impl Scorer for Loud {
/// #     const NAME: &'static str = "loud";
/// #     const VERSION: &'static str = "1";
/// #     const DESCRIPTION: &'static str = "Passes when the output is in capitals.";
/// #     fn from_config(_: &Config) -> Result<Self, ConfigError> { Ok(Loud) }
/// #     fn score(&self, r: &Record<'_>) -> Outcome {
/// #         let text = r.outputs.text();
/// #         Ok(Score::bool(text == text.to_uppercase()))
/// #     }
/// # }
/// let score = verdict_plugin::score_one::<Loud>("", Value::string("HEY"), &[]);
/// assert_eq!(score.value, ScoreValue::Bool(true));
/// ```
pub fn score_one<S: Scorer>(
    config: &str,
    output: Value<'_>,
    expectations: &[NamedValue<'_>],
) -> Score {
    let scorer = S::from_json(config).unwrap_or_else(|e| panic!("{config}: {e}"));
    let record = Record::new(Value::NULL, output, expectations);
    scorer
        .score(&record)
        .unwrap_or_else(|e| panic!("{config}: {e}"))
}

/// The key and the message of the error with which scorer `S` refuses
/// `config`. For a scorer's tests, it panics when `S` accepts the config.
pub fn config_error<S: Scorer>(config: &str) -> (Option<String>, String) {
    match S::from_json(config) {
        Ok(_) => panic!("{config}: accepted, expected an error"),
        Err(e) => {
            let message = e.to_string();
            (e.key, message)
        }
    }
}

/// Checks that scorer `S` refuses each config of `cases` for the key
/// beside it: the error is about that key, and its message names it.
/// Returns the first config that is accepted or refused otherwise.
///
/// ```
/// # use verdict_plugin::{Config, ConfigError, Outcome, Record, Score, Scorer};
/// # struct Loud;
/// # impl Scorer for Loud {
/// #     const NAME: &'static str = "loud";
/// #     const VERSION: &'static str = "1";
/// #     const DESCRIPTION: &'static str = "Passes when the output is in capitals.";
/// #     fn from_config(_: &Config) -> Result<Self, ConfigError> { Ok(Loud) }
/// #     fn score(&self, r: &Record<'_>) -> Outcome {
/// #         let text = r.outputs.text();
/// #         Ok(Score::bool(text == text.to_uppercase()))
/// #     }
/// # }
/// // Loud takes no keys: an unknown one is refused by name.
/// verdict_plugin::check_config_errors::<Loud>(&[(r#"{"shout": true}"#, "shout")])?;
/// # Ok::<(), String>(())
/// ```
pub fn check_config_errors<S: Scorer>(cases: &[(&str, &str)]) -> Result<(), String> {
    for &(config, key) in cases {
        let e = match S::from_json(config) {
            Ok(_) => {
                return Err(format!(
                    "{config}: accepted, expected an error about {key:?}"
                ));
            }
            Err(e) => e,
        };
        if e.key.as_deref() != Some(key) {
            return Err(format!(
                "{config}: an error about {:?}, not {key:?}: {e}",
                e.key
            ));
        }
        if !e.to_string().contains(key) {
            return Err(format!("{config}: the message does not name {key:?}: {e}"));
        }
    }
    Ok(())
}

/// Checks what scorer `S`, built with its defaults and comparing the
/// output with the references of `expected_response`
/// ([`Record::references`]), answers for a record that lacks them: the
/// error `MISSING_EXPECTATION` without the expectation, and
/// `EMPTY_EXPECTATION` with an empty list. Returns the first other
/// outcome.
pub fn check_reference_errors<S: Scorer>() -> Result<(), String> {
    let scorer = S::from_json("{}").map_err(|e| e.to_string())?;
    let empty = [NamedValue::new("expected_response", Value::json("[]"))];
    for (expectations, code) in [
        (&[][..], "MISSING_EXPECTATION"),
        (&empty[..], "EMPTY_EXPECTATION"),
    ] {
        let record = Record::new(Value::NULL, Value::string("a"), expectations);
        match scorer.score(&record) {
            Err(e) if e.code == code => {}
            other => return Err(format!("{expectations:?}: {other:?}, expected {code}")),
        }
    }
    Ok(())
}

/// Scores `records` with scorer `S` built from `config` the way the
/// `verdict` host does with a loaded plugin: through the descriptor that
/// [`export_plugin!`](crate::export_plugin) makes, the batch entry point,
/// result slots and a text buffer in host memory, and the host's checks. A scorer's tests
/// can then check that its ABI path gives the same outcomes as calling it
/// directly. A refused config gives the plugin's error message.
///
/// ```
/// use verdict_plugin::{Config, ConfigError, Outcome, Record, Score, Scorer, Value};
///
/// struct Loud;
///
/// impl Scorer for Loud {
///     const NAME: &'static str = "loud";
///     const VERSION: &'static str = "1";
///     const DESCRIPTION: &'static str = "Passes when the output is in capitals.";
///     fn from_config(_: &Config) -> Result<Self, ConfigError> { Ok(Loud) }
///     fn score(&self, r: &Record<'_>) -> Outcome {
///         let text = r.outputs.text();
///         Ok(Score::bool(text == text.to_uppercase()).with_rationale("compared with its capitals"))
///     }
/// }
///
/// let records = [Record::new(Value::NULL, Value::string("HEY"), &[])];
/// let through = verdict_plugin::through_abi::<Loud>("", &records)?;
/// assert_eq!(through, vec![Loud.score(&records[0])]);
/// # Ok::<(), String>(())
/// ```
pub fn through_abi<S: Scorer>(
    config: &str,
    records: &[Record<'_>],
) -> Result<Vec<Outcome>, String> {
    through_abi_traced::<S>(config, records, &[])
}

/// [`through_abi`] with each record's trace (`traces` as long as
/// `records`), for a scorer that reads traces
/// ([`Scorer::NEEDS_TRACE`]): through its traced batch entry point, as
/// the host calls it.
pub fn through_abi_traced<S: Scorer>(
    config: &str,
    records: &[Record<'_>],
    traces: &[Option<&Trace<'_>>],
) -> Result<Vec<Outcome>, String> {
    let d = descriptor::<S>(FLAG_PANIC_UNWIND);
    let create = d.create.expect("the kit's descriptor has every function");
    let destroy = d.destroy.expect("the kit's descriptor has every function");
    let mut state: *mut c_void = std::ptr::null_mut();
    // SAFETY: the kit's own functions for `S`, a valid slot for the state.
    let rc = unsafe { create(Str::new(config), &mut state) };
    if rc != RC_OK {
        // SAFETY: the kit's own descriptor.
        return Err(unsafe { host::last_error(&d) });
    }
    let mut out = Results::with_capacity(records.len());
    // SAFETY: the kit's descriptor and the state its `create` made, used
    // from this thread only.
    unsafe { host::score_batch(&d, state, records, traces, &mut out) };
    // SAFETY: made by `create`, not used again.
    unsafe { destroy(state) };
    Ok(out.to_outcomes())
}

/// Checks that scorer `S`, built from `config`, gives the same outcomes
/// through its C ABI ([`through_abi`]) as called directly, on a corpus of
/// records that covers plain, empty, whitespace-padded, Unicode (combining
/// marks, CJK, emoji) and JSON outputs, with string, list, object, empty
/// and missing expectations named `expectation`. Returns the first
/// difference, or the config error.
///
/// ```
/// # use verdict_plugin::{Config, ConfigError, Outcome, Record, Score, Scorer};
/// # struct Loud;
/// # impl Scorer for Loud {
/// #     const NAME: &'static str = "loud";
/// #     const VERSION: &'static str = "1";
/// #     const DESCRIPTION: &'static str = "Passes when the output is in capitals.";
/// #     fn from_config(_: &Config) -> Result<Self, ConfigError> { Ok(Loud) }
/// #     fn score(&self, r: &Record<'_>) -> Outcome {
/// #         let text = r.outputs.text();
/// #         Ok(Score::bool(text == text.to_uppercase()))
/// #     }
/// # }
/// verdict_plugin::check_abi::<Loud>("", "expected_response")?;
/// # Ok::<(), String>(())
/// ```
pub fn check_abi<S: Scorer>(config: &str, expectation: &str) -> Result<(), String> {
    let scorer = S::from_json(config).map_err(|e| e.to_string())?;
    let outputs = [
        Value::string("Paris"),
        Value::string(" it is PARIS. "),
        Value::string("the cat sat on the mat"),
        Value::string(""),
        Value::string("東京 🙂 e\u{301} caf\u{e9}"),
        Value::string(r#"{"a": 1.0, "b": [1, 2]}"#),
        Value::json(r#"{"a": 2}"#),
        Value::json("42"),
        Value::NULL,
    ];
    let expected = [
        Value::string("Paris"),
        Value::string("the cat"),
        Value::string(""),
        Value::string("cafe\u{301}"),
        Value::json(r#"["Lyon", "Paris", "a cat sat"]"#),
        Value::json(r#"{"a": 1, "b": [1, 2]}"#),
        Value::json("[]"),
    ];
    let named: Vec<[NamedValue<'_>; 1]> = expected
        .iter()
        .map(|v| [NamedValue::new(expectation, *v)])
        .collect();
    let mut records = Vec::new();
    for output in outputs {
        records.push(Record::new(Value::string("question"), output, &[]));
        for e in &named {
            records.push(Record::new(Value::string("question"), output, e));
        }
    }
    let direct: Vec<Outcome> = records.iter().map(|r| scorer.score(r)).collect();
    let through = through_abi::<S>(config, &records)?;
    match direct.iter().zip(&through).position(|(d, t)| d != t) {
        None if direct.len() == through.len() => Ok(()),
        None => Err(format!(
            "{} outcomes through the ABI for {} records",
            through.len(),
            direct.len()
        )),
        Some(i) => Err(format!(
            "record {i} ({:?}): directly {:?}, through the ABI {:?}",
            records[i], direct[i], through[i]
        )),
    }
}
