//! A time as the command line takes it: a date, an RFC 3339 time, or how
//! long ago.

use std::time::{Duration, SystemTime};

use anyhow::anyhow;

/// `text`, given to `flag`, as a time: a date (2026-11-30), an RFC 3339
/// time (2026-11-30T12:00:00Z), or how long ago (30days, 2weeks, 12h).
pub(crate) fn parse_when(flag: &str, text: &str) -> anyhow::Result<SystemTime> {
    let text = text.trim();
    let date = |t: &str| humantime::parse_rfc3339_weak(t).ok();
    if let Some(time) = date(text).or_else(|| date(&format!("{text}T00:00:00"))) {
        return Ok(time);
    }
    let ago: Duration = humantime::parse_duration(text).map_err(|_| {
        anyhow!(
            "{flag} {text:?} is neither a date (2026-11-30), a time (2026-11-30T12:00:00Z) nor \
             how long ago (30days, 2weeks, 12h)"
        )
    })?;
    SystemTime::now()
        .checked_sub(ago)
        .ok_or_else(|| anyhow!("{flag} {text:?} is before the start of time"))
}
