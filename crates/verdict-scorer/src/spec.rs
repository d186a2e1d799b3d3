//! Scorer specs as users write them: `exact_match`,
//! `edit_distance:max_distance=3`, `regex:{"pattern": "^\\d+$"}`, or a path
//! to a plugin file.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::LoadError;

/// Which scorer a spec names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecTarget {
    /// A scorer by name: built in, or from a loaded plugin.
    Name(String),
    /// A plugin file.
    Path(PathBuf),
}

/// A scorer and its config, parsed from a spec.
///
/// ```
/// use verdict_scorer::{ScorerSpec, SpecTarget};
///
/// let spec: ScorerSpec = "edit_distance:max_distance=3,report=distance".parse()?;
/// assert_eq!(spec.target, SpecTarget::Name("edit_distance".into()));
/// assert_eq!(spec.config["max_distance"], 3);
/// assert_eq!(spec.config["report"], "distance");
///
/// let spec: ScorerSpec = r#"regex:{"pattern": "a,b"}"#.parse()?;
/// assert_eq!(spec.config["pattern"], "a,b");
///
/// let spec: ScorerSpec = "./target/debug/libmy_scorer.so".parse()?;
/// assert!(matches!(spec.target, SpecTarget::Path(_)));
/// # Ok::<(), verdict_scorer::LoadError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ScorerSpec {
    /// The scorer.
    pub target: SpecTarget,
    /// Its config.
    pub config: Map<String, Value>,
}

impl ScorerSpec {
    /// The config as JSON text.
    pub fn config_json(&self) -> String {
        Value::Object(self.config.clone()).to_string()
    }
}

fn is_path(s: &str) -> bool {
    s.contains('/')
        || s.contains(std::path::MAIN_SEPARATOR)
        || s.ends_with(&format!(".{}", std::env::consts::DLL_EXTENSION))
}

impl std::str::FromStr for ScorerSpec {
    type Err = LoadError;

    fn from_str(spec: &str) -> Result<Self, LoadError> {
        let invalid = |reason: String| LoadError::InvalidSpec {
            spec: spec.to_owned(),
            reason,
        };
        // A path's config follows the first ':' after its last separator.
        let search_from = if is_path(spec) {
            spec.rfind('/').map_or(0, |i| i + 1)
        } else {
            0
        };
        let (head, config) = match spec[search_from..].find(':') {
            Some(i) => (&spec[..search_from + i], Some(&spec[search_from + i + 1..])),
            None => (spec, None),
        };
        if head.is_empty() {
            return Err(invalid(
                "it names no scorer; write NAME[:CONFIG] or PATH[:CONFIG]".into(),
            ));
        }
        let target = if is_path(head) {
            SpecTarget::Path(PathBuf::from(head))
        } else {
            SpecTarget::Name(head.to_owned())
        };
        let config = match config.map(str::trim) {
            None | Some("") => Map::new(),
            Some(text) if text.starts_with('{') => match serde_json::from_str(text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => unreachable!("text starting with '{{' that parses is an object"),
                Err(e) => return Err(invalid(format!("the config is not valid JSON: {e}"))),
            },
            Some(text) => {
                let mut map = Map::new();
                for pair in split_pairs(text) {
                    let Some((key, value)) = pair.split_once('=') else {
                        return Err(invalid(format!(
                            "{pair:?} is not KEY=VALUE; write NAME:key=value,key=value or \
                             NAME:{{\"key\": value}} (use the JSON form for values with commas)"
                        )));
                    };
                    let key = key.trim();
                    if key.is_empty() {
                        return Err(invalid(format!("{pair:?} has an empty key")));
                    }
                    // Numbers, bools and JSON lists are read as JSON; anything
                    // else is a string.
                    let value = serde_json::from_str(value.trim())
                        .unwrap_or_else(|_| Value::String(value.to_owned()));
                    map.insert(key.to_owned(), value);
                }
                map
            }
        };
        Ok(ScorerSpec { target, config })
    }
}

/// Splits `key=value,key=value` at the commas that are not inside a JSON
/// list, object or string, so that `values=["a","b"]` stays one pair.
fn split_pairs(text: &str) -> Vec<&str> {
    let (mut pairs, mut start, mut depth, mut in_string, mut escaped) =
        (Vec::new(), 0, 0i32, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '[' | '{' if !in_string => depth += 1,
            ']' | '}' if !in_string => depth -= 1,
            ',' if !in_string && depth <= 0 => {
                pairs.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pairs.push(&text[start..]);
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let s: ScorerSpec = "exact_match".parse().unwrap();
        assert_eq!(s.target, SpecTarget::Name("exact_match".into()));
        assert!(s.config.is_empty());
        let s: ScorerSpec = "regex:pattern=^\\d+$".parse().unwrap();
        assert_eq!(s.config["pattern"], "^\\d+$");
        let s: ScorerSpec = "contains:values=[\"a\",\"b\"],mode=prefix".parse().unwrap();
        assert_eq!(s.config["values"], serde_json::json!(["a", "b"]));
        assert_eq!(s.config["mode"], "prefix");
        let s: ScorerSpec = "/opt/plugins/libx.so:{\"k\": true}".parse().unwrap();
        assert_eq!(s.target, SpecTarget::Path("/opt/plugins/libx.so".into()));
        assert_eq!(s.config["k"], true);
        let s: ScorerSpec = "plugins/a:b/libx.so".parse().unwrap();
        assert_eq!(s.target, SpecTarget::Path("plugins/a:b/libx.so".into()));
    }

    #[test]
    fn errors_say_what_is_allowed() {
        for (spec, wanted) in [
            ("", "names no scorer"),
            (":x=1", "names no scorer"),
            ("exact_match:normalize", "is not KEY=VALUE"),
            ("exact_match:{bad json", "not valid JSON"),
            ("exact_match:=3", "empty key"),
        ] {
            let err = spec.parse::<ScorerSpec>().unwrap_err().to_string();
            assert!(err.contains(wanted), "{spec:?}: {err}");
        }
    }
}
