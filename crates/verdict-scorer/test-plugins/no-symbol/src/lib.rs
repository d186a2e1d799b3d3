//! A dynamic library with no Verdict entry point.

/// Some unrelated exported function.
#[unsafe(no_mangle)]
pub extern "C" fn unrelated_function() -> i32 {
    42
}
