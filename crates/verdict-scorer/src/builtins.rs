//! The built-in scorers, compiled into the host.
//!
//! Each lives in its own plugin crate under `plugins/`, built as a dynamic
//! library that exports `verdict_plugin_v1`. Linking several such crates
//! into one binary would define that symbol several times, so the host
//! compiles their source as modules here instead, where their `export`
//! feature is off: the very same code, without the symbol. (Doc tests are
//! collected from each plugin crate itself, not again here.)

use crate::registry::Registry;

#[cfg(not(doctest))]
#[allow(unreachable_pub, dead_code)]
#[path = "../../../plugins/contains/src/lib.rs"]
mod contains;
#[cfg(not(doctest))]
#[allow(unreachable_pub, dead_code)]
#[path = "../../../plugins/edit-distance/src/lib.rs"]
mod edit_distance;
#[cfg(not(doctest))]
#[allow(unreachable_pub, dead_code)]
#[path = "../../../plugins/exact-match/src/lib.rs"]
mod exact_match;
#[cfg(not(doctest))]
#[allow(unreachable_pub, dead_code)]
#[path = "../../../plugins/json/src/lib.rs"]
mod json;
#[cfg(not(doctest))]
#[allow(unreachable_pub, dead_code)]
#[path = "../../../plugins/length/src/lib.rs"]
mod length;
#[cfg(all(not(doctest), feature = "regex"))]
#[allow(unreachable_pub, dead_code)]
#[path = "../../../plugins/regex/src/lib.rs"]
mod regex;
#[cfg(not(doctest))]
#[allow(unreachable_pub, dead_code)]
#[path = "../../../plugins/token-f1/src/lib.rs"]
mod token_f1;

/// Adds every built-in scorer to `registry`.
pub(crate) fn register(registry: &mut Registry) {
    #[cfg(not(doctest))]
    {
        registry.add_builtin::<exact_match::ExactMatch>();
        #[cfg(feature = "regex")]
        registry.add_builtin::<regex::RegexMatch>();
        registry.add_builtin::<edit_distance::EditDistance>();
        registry.add_builtin::<contains::Contains>();
        registry.add_builtin::<token_f1::TokenF1>();
        registry.add_builtin::<json::JsonMatch>();
        registry.add_builtin::<length::Length>();
    }
    #[cfg(doctest)]
    let _ = registry;
}
