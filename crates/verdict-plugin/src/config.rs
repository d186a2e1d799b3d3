//! Reading a scorer's JSON config, with errors that name the key and say
//! why.

use std::fmt;

use serde_json::{Map, Value};

use crate::abi::ConfigKey;

/// A config that could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The scorer.
    pub scorer: String,
    /// The key at fault, if one is.
    pub key: Option<String>,
    /// What was wrong and what is allowed.
    pub reason: String,
}

impl ConfigError {
    /// An error about `key` of `scorer`'s config.
    pub fn new(scorer: &str, key: Option<&str>, reason: impl Into<String>) -> Self {
        ConfigError {
            scorer: scorer.to_owned(),
            key: key.map(str::to_owned),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{} config key `{key}`: {}", self.scorer, self.reason),
            None => write!(f, "{} config: {}", self.scorer, self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A scorer's config: a JSON object whose keys are all known.
///
/// ```
/// use verdict_plugin::{Config, ConfigKey};
///
/// const KEYS: &[ConfigKey] = &[ConfigKey::new("max_distance", "integer", "5", "")];
/// let config = Config::parse("edit_distance", r#"{"max_distance": 3}"#, KEYS)?;
/// assert_eq!(config.u64("max_distance")?, Some(3));
///
/// let err = Config::parse("edit_distance", r#"{"max_distnce": 3}"#, KEYS).unwrap_err();
/// assert!(err.to_string().contains("unknown key"));
/// # Ok::<(), verdict_plugin::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    scorer: String,
    map: Map<String, Value>,
}

impl Config {
    /// Parses `json` (an object, or empty or blank for no settings) and
    /// refuses keys that are not in `known`.
    pub fn parse(scorer: &str, json: &str, known: &[ConfigKey]) -> Result<Self, ConfigError> {
        let map = if json.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<Value>(json) {
                Ok(Value::Object(map)) => map,
                Ok(other) => {
                    return Err(ConfigError::new(
                        scorer,
                        None,
                        format!("expected a JSON object of settings, got {other}"),
                    ));
                }
                Err(e) => {
                    return Err(ConfigError::new(
                        scorer,
                        None,
                        format!("not valid JSON: {e}"),
                    ));
                }
            }
        };
        Self::from_map(scorer, map, known)
    }

    /// Takes settings already parsed, refusing unknown keys.
    pub fn from_map(
        scorer: &str,
        map: Map<String, Value>,
        known: &[ConfigKey],
    ) -> Result<Self, ConfigError> {
        if let Some(unknown) = map
            .keys()
            .find(|k| !known.iter().any(|known| known.name.as_str() == k.as_str()))
        {
            let names: Vec<&str> = known.iter().map(|k| k.name.as_str()).collect();
            let allowed = if names.is_empty() {
                "this scorer takes no settings".to_owned()
            } else {
                format!("known keys: {}", names.join(", "))
            };
            return Err(ConfigError::new(
                scorer,
                Some(unknown),
                format!("unknown key; {allowed}"),
            ));
        }
        Ok(Config {
            scorer: scorer.to_owned(),
            map,
        })
    }

    /// The raw value of `key`, if set (and not `null`).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// An error about `key`, for checks the getters do not cover.
    pub fn error(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(&self.scorer, Some(key), reason)
    }

    fn wrong_type(&self, key: &str, expected: &str, got: &Value) -> ConfigError {
        self.error(key, format!("expected {expected}, got {got}"))
    }

    /// A string setting.
    pub fn str(&self, key: &str) -> Result<Option<&str>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// A string setting that must be one of `allowed`.
    pub fn one_of(&self, key: &str, allowed: &[&str]) -> Result<Option<&str>, ConfigError> {
        match self.str(key)? {
            Some(s) if !allowed.contains(&s) => Err(self.error(
                key,
                format!(
                    "{s:?} is not allowed; expected one of: {}",
                    allowed.join(", ")
                ),
            )),
            found => Ok(found),
        }
    }

    /// A bool setting.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong_type(key, "true or false", other)),
        }
    }

    /// A number setting.
    pub fn f64(&self, key: &str) -> Result<Option<f64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(self.wrong_type(key, "a number", other)),
        }
    }

    /// A number setting within `min..=max`.
    pub fn f64_in(&self, key: &str, min: f64, max: f64) -> Result<Option<f64>, ConfigError> {
        match self.f64(key)? {
            Some(v) if !(min..=max).contains(&v) => {
                Err(self.error(key, format!("{v} is out of range; expected {min} to {max}")))
            }
            found => Ok(found),
        }
    }

    /// A non-negative integer setting.
    pub fn u64(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(other) => Err(self.wrong_type(key, "a non-negative integer", other)),
        }
    }

    /// The name of the expectation the scorer reads (key `expectation`),
    /// `default` when unset; an empty name is refused, since no record can
    /// carry it.
    ///
    /// ```
    /// use verdict_plugin::{Config, ConfigKey};
    ///
    /// const KEYS: &[ConfigKey] = &[ConfigKey::new("expectation", "string", "expected_response", "")];
    /// let config = Config::parse("demo", "{}", KEYS)?;
    /// assert_eq!(config.expectation("expected_response")?, "expected_response");
    /// let config = Config::parse("demo", r#"{"expectation": ""}"#, KEYS)?;
    /// assert!(config.expectation("expected_response").is_err());
    /// # Ok::<(), verdict_plugin::ConfigError>(())
    /// ```
    pub fn expectation<'s>(&'s self, default: &'s str) -> Result<&'s str, ConfigError> {
        let name = self.str("expectation")?.unwrap_or(default);
        if name.is_empty() {
            return Err(self.error("expectation", "must not be empty"));
        }
        Ok(name)
    }

    /// A setting that is a string or a list of strings.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<&str>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(vec![s.as_str()])),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .ok_or_else(|| self.wrong_type(key, "a list of strings", item))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.wrong_type(key, "a string or a list of strings", other)),
        }
    }
}
