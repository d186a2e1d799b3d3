//! Identifiers: assessment ids, and trace and span ids in the forms people
//! paste (`tr-<hex>` from MLflow, bare hex from OpenTelemetry).
//!
//! Every id is parsed in one place and trusted afterwards.

use std::fmt;
use std::str::FromStr;

use opentelemetry::trace::{SpanId, TraceId};

use crate::error::{Error, Result, excerpt};

/// The prefix MLflow puts before a 32-hex OpenTelemetry trace id.
pub const MLFLOW_TRACE_PREFIX: &str = "tr-";

/// The id of an assessment: `a-` followed by 32 lowercase hex digits, as
/// MLflow writes them.
///
/// Ids are generated on the client, so a retried delivery carries the same
/// id and a receiver can recognise it.
///
/// ```
/// use verdict::AssessmentId;
///
/// let id: AssessmentId = "a-e3e076695b0d40dc8238ee5e60061c9c".parse()?;
/// assert_eq!(id.to_string(), "a-e3e076695b0d40dc8238ee5e60061c9c");
/// assert!("a-XYZ".parse::<AssessmentId>().is_err());
/// # Ok::<(), verdict::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssessmentId(u128);

impl AssessmentId {
    const PREFIX: &'static str = "a-";

    /// A new random id.
    pub fn random() -> Self {
        loop {
            let id = rand::random::<u128>();
            if id != 0 {
                return AssessmentId(id);
            }
        }
    }

    /// The id from its 128 bits. Zero is not a valid id.
    pub fn from_u128(bits: u128) -> Result<Self> {
        if bits == 0 {
            return Err(invalid_assessment_id("a-00000000000000000000000000000000"));
        }
        Ok(AssessmentId(bits))
    }

    /// The id's 128 bits.
    pub fn to_u128(self) -> u128 {
        self.0
    }
}

fn invalid_assessment_id(value: &str) -> Error {
    Error::InvalidId {
        kind: "assessment id",
        value: excerpt(value),
        expected: "\"a-\" followed by 32 lowercase hex digits, not all zero",
    }
}

impl FromStr for AssessmentId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let hex = s
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| invalid_assessment_id(s))?;
        let bits = parse_hex::<16>(hex, true).ok_or_else(|| invalid_assessment_id(s))?;
        AssessmentId::from_u128(u128::from_be_bytes(bits)).map_err(|_| invalid_assessment_id(s))
    }
}

impl fmt::Display for AssessmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:032x}", Self::PREFIX, self.0)
    }
}

impl fmt::Debug for AssessmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AssessmentId({self})")
    }
}

/// Parses a trace id given as 32 hex digits (OpenTelemetry) or as
/// `tr-` + 32 hex digits (MLflow). Upper-case hex is accepted; the all-zero
/// id is not.
///
/// ```
/// let a = verdict::parse_trace_id("tr-0fb07256509eb9d22d07f42f7eb9f24d")?;
/// let b = verdict::parse_trace_id("0fb07256509eb9d22d07f42f7eb9f24d")?;
/// assert_eq!(a, b);
/// assert_eq!(verdict::mlflow_trace_id(a), "tr-0fb07256509eb9d22d07f42f7eb9f24d");
/// # Ok::<(), verdict::Error>(())
/// ```
pub fn parse_trace_id(s: &str) -> Result<TraceId> {
    let invalid = || Error::InvalidId {
        kind: "trace id",
        value: excerpt(s),
        expected: "32 hex digits, optionally prefixed by \"tr-\", not all zero",
    };
    let hex = s.strip_prefix(MLFLOW_TRACE_PREFIX).unwrap_or(s);
    let id = TraceId::from_bytes(parse_hex::<16>(hex, false).ok_or_else(invalid)?);
    if id == TraceId::INVALID {
        return Err(invalid());
    }
    Ok(id)
}

/// Parses a span id given as 16 hex digits. Upper-case hex is accepted;
/// the all-zero id is not.
pub fn parse_span_id(s: &str) -> Result<SpanId> {
    let invalid = || Error::InvalidId {
        kind: "span id",
        value: excerpt(s),
        expected: "16 hex digits, not all zero",
    };
    let id = SpanId::from_bytes(parse_hex::<8>(s, false).ok_or_else(invalid)?);
    if id == SpanId::INVALID {
        return Err(invalid());
    }
    Ok(id)
}

/// The MLflow form of a trace id: `tr-` followed by its 32 hex digits.
pub fn mlflow_trace_id(trace_id: TraceId) -> String {
    format!("{MLFLOW_TRACE_PREFIX}{trace_id:032x}")
}

/// Decodes exactly `2 * N` hex digits. `lowercase_only` refuses `A`–`F`.
fn parse_hex<const N: usize>(hex: &str, lowercase_only: bool) -> Option<[u8; N]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' if !lowercase_only => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_in_both_forms() {
        let hex = "0fb07256509eb9d22d07f42f7eb9f24d";
        let id = parse_trace_id(hex).unwrap();
        assert_eq!(parse_trace_id(&format!("tr-{hex}")).unwrap(), id);
        assert_eq!(parse_trace_id(&hex.to_uppercase()).unwrap(), id);
        assert_eq!(mlflow_trace_id(id), format!("tr-{hex}"));
    }

    #[test]
    fn malformed_trace_ids_are_refused_with_the_shape_expected() {
        for bad in [
            "",
            "tr-",
            "0fb07256509eb9d22d07f42f7eb9f24",
            "0fb07256509eb9d22d07f42f7eb9f24d0",
            "+fb07256509eb9d22d07f42f7eb9f24d",
            "0fb07256509eb9d22d07f42f7eb9f24g",
            "00000000000000000000000000000000",
            "tr-tr-0fb07256509eb9d22d07f42f7eb9f24",
            "0fb07256509eb9d22d07f42f7eb9f2é",
        ] {
            let err = parse_trace_id(bad).unwrap_err().to_string();
            assert!(err.contains("32 hex digits"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn span_ids() {
        assert_eq!(
            parse_span_id("71492b10072d70de").unwrap(),
            SpanId::from_bytes(0x71492b10072d70de_u64.to_be_bytes())
        );
        for bad in [
            "",
            "71492b10072d70d",
            "0000000000000000",
            "71492b10072d70dz",
        ] {
            assert!(parse_span_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn assessment_ids_are_lowercase_a_dash_hex() {
        let id = AssessmentId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 34);
        assert_eq!(text.parse::<AssessmentId>().unwrap(), id);
        for bad in [
            "e3e076695b0d40dc8238ee5e60061c9c",
            "a-E3E076695B0D40DC8238EE5E60061C9C",
            "a-e3e076695b0d40dc8238ee5e60061c9",
            "a-00000000000000000000000000000000",
            "b-e3e076695b0d40dc8238ee5e60061c9c",
        ] {
            let err = bad.parse::<AssessmentId>().unwrap_err().to_string();
            assert!(err.contains("\"a-\" followed by 32"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn long_input_is_cut_in_messages() {
        let long = "x".repeat(10_000);
        assert!(parse_trace_id(&long).unwrap_err().to_string().len() < 300);
    }
}
