//! Assessment names, validated once.

use std::borrow::Cow;
use std::fmt;

use crate::error::{Error, Result, excerpt};

/// The longest name allowed, in Unicode scalar values.
pub const MAX_NAME_CHARS: usize = 250;

/// The name of an assessment, such as `correctness` or `expected_response`.
///
/// A name is non-empty, has no `.` (MLflow's search syntax uses it to
/// separate the kind from the name: `feedback.correctness`) and is at most
/// [`MAX_NAME_CHARS`] characters long. Static names are stored without
/// allocating.
///
/// ```
/// use verdict::AssessmentName;
///
/// assert!(AssessmentName::new("correctness").is_ok());
/// assert!(AssessmentName::new("").is_err());
/// assert!(AssessmentName::new("a.b").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssessmentName(Cow<'static, str>);

impl AssessmentName {
    /// Checks `name` against the naming rules.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Result<Self> {
        let name = name.into();
        let reason = if name.is_empty() {
            Some("a name must not be empty")
        } else if name.contains('.') {
            Some("a name must not contain '.' (MLflow uses it in search filters)")
        } else if name.len() > MAX_NAME_CHARS && name.chars().count() > MAX_NAME_CHARS {
            Some("a name is at most 250 characters long")
        } else {
            None
        };
        match reason {
            None => Ok(AssessmentName(name)),
            Some(reason) => Err(Error::InvalidName {
                name: excerpt(&name),
                reason,
            }),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for AssessmentName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AssessmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AssessmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl PartialEq<str> for AssessmentName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for AssessmentName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters() {
        assert!(AssessmentName::new("é".repeat(250)).is_ok());
        let err = AssessmentName::new("é".repeat(251))
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 250 characters"), "{err}");
        assert!(AssessmentName::new("x".repeat(251)).is_err());
    }

    #[test]
    fn rules_are_named_in_the_message() {
        let err = AssessmentName::new("").unwrap_err().to_string();
        assert!(err.contains("must not be empty"), "{err}");
        let err = AssessmentName::new("feedback.x").unwrap_err().to_string();
        assert!(err.contains("must not contain '.'"), "{err}");
    }
}
