//! `numeric` through the C ABI, in process, as the `verdict` host calls a
//! loaded plugin: the same outcomes as calling the scorer directly.

use verdict_numeric::Numeric;
use verdict_plugin::{NamedValue, Record, Scorer, Value, check_abi, through_abi};

#[test]
fn the_abi_gives_the_same_outcomes_as_a_direct_call() {
    for config in ["{}", r#"{"abs_tol": 0.5, "rel_tol": 0}"#] {
        check_abi::<Numeric>(config, "expected_response")
            .unwrap_or_else(|e| panic!("{config}: {e}"));
    }
    // Numbers, which the shared records hardly have.
    let expected = [NamedValue::new("expected_response", Value::json("[2, 40]"))];
    let records: Vec<Record<'_>> = ["41.6", "2", "x", " 1e1 ", ""]
        .into_iter()
        .map(|o| Record::new(Value::NULL, Value::string(o), &expected))
        .collect();
    let config = r#"{"abs_tol": 1.5}"#;
    let scorer = Numeric::from_json(config).unwrap();
    let direct: Vec<_> = records.iter().map(|r| scorer.score(r)).collect();
    assert_eq!(through_abi::<Numeric>(config, &records).unwrap(), direct);
}

#[test]
fn a_bad_config_is_refused_with_the_key_named() {
    let err = through_abi::<Numeric>(r#"{"abs_tol": -1}"#, &[]).unwrap_err();
    assert!(err.contains("abs_tol"), "{err}");
}

unsafe extern "C" {
    /// The scorer's own entry point, the symbol the host looks for in a
    /// library named for the scorer.
    fn verdict_plugin_v1_numeric() -> *const verdict_plugin::abi::Descriptor;
}

#[test]
fn the_scorers_entry_point_describes_it_with_its_crate_version() {
    // SAFETY: the entry point returns a pointer to a static descriptor.
    let d = unsafe { &*verdict_plugin_v1_numeric() };
    assert_eq!(d.name.as_str(), "numeric");
    assert_eq!(d.version.as_str(), env!("CARGO_PKG_VERSION"));
    assert_eq!(d.abi_version, verdict_plugin::abi::ABI_VERSION);
    assert_ne!(d.flags & verdict_plugin::abi::FLAG_PANIC_UNWIND, 0);
}
