//! `bleu` through the C ABI, in process, as the `verdict` host calls a
//! loaded plugin: the same outcomes as calling the scorer directly.

use verdict_bleu::Bleu;
use verdict_plugin::{check_abi, through_abi};

#[test]
fn the_abi_gives_the_same_outcomes_as_a_direct_call() {
    for config in [
        "{}",
        r#"{"smooth_method": "floor", "lowercase": true}"#,
        r#"{"min_score": 0.3, "output": "pass"}"#,
    ] {
        check_abi::<Bleu>(config, "expected_response").unwrap_or_else(|e| panic!("{config}: {e}"));
    }
}

#[test]
fn a_bad_config_is_refused_with_the_key_named() {
    let err = through_abi::<Bleu>(r#"{"smooth_value": 0.5}"#, &[]).unwrap_err();
    assert!(err.contains("smooth_value"), "{err}");
}

unsafe extern "C" {
    /// The scorer's own entry point, the symbol the host looks for in a
    /// library named for the scorer.
    fn verdict_plugin_v1_bleu() -> *const verdict_plugin::abi::Descriptor;
}

#[test]
fn the_scorers_entry_point_describes_it_with_its_crate_version() {
    // SAFETY: the entry point returns a pointer to a static descriptor.
    let d = unsafe { &*verdict_plugin_v1_bleu() };
    assert_eq!(d.name.as_str(), "bleu");
    assert_eq!(d.version.as_str(), env!("CARGO_PKG_VERSION"));
    assert_eq!(d.abi_version, verdict_plugin::abi::ABI_VERSION);
    assert_ne!(d.flags & verdict_plugin::abi::FLAG_PANIC_UNWIND, 0);
}
