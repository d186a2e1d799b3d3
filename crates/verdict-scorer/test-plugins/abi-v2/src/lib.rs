//! Exports only `verdict_plugin_v2`, as a plugin built for a future ABI.

/// The future entry point; a v1 host must not call it.
#[unsafe(no_mangle)]
pub extern "C" fn verdict_plugin_v2() -> *const u8 {
    std::ptr::null()
}
