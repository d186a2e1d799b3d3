//! Exports only `verdict_plugin_v3`, as a plugin would whose entry point
//! follows a naming of a future ABI (this host's entry points keep the
//! `v1` name through every version it speaks).

/// The future entry point; this host must not call it.
#[unsafe(no_mangle)]
pub extern "C" fn verdict_plugin_v3() -> *const u8 {
    std::ptr::null()
}
