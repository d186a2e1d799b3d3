//! Signals by name, as `kill -l` and a shell say them: how a worker died,
//! and what interrupted a run.

/// A signal's name and number: `SIGSEGV (signal 11)`, or `signal 64`
/// for one without a usual name.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGALRM => "SIGALRM",
        _ => return format!("signal {signal}"),
    };
    format!("{name} (signal {signal})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_usual_signals_and_numbers_the_rest() {
        assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV (signal 11)");
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM (signal 15)");
        assert_eq!(signal_name(64), "signal 64");
    }
}
