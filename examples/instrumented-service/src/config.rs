//! What the service reads from its environment: where it listens and where
//! its spans and assessments go.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::Error;

/// Where spans and assessments go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Export {
    /// The local store, one SQLite file: no server needed. Read it with
    /// `verdict show`, ship it later with `verdict push`.
    Local(PathBuf),
    /// Any OpenTelemetry collector, configured by the standard
    /// `OTEL_EXPORTER_OTLP_*` variables.
    Otlp,
    /// An MLflow tracking server: `MLFLOW_TRACKING_URI`,
    /// `MLFLOW_EXPERIMENT_ID`, and MLflow's credential variables.
    Mlflow,
}

/// The service's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The address to listen on; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Where spans and assessments go.
    pub export: Export,
    /// The local store that keeps, for `otlp` and `mlflow`, what the
    /// receiver could not take yet (its spool), until it can: the file of
    /// [`Export::Local`] otherwise.
    pub spool: PathBuf,
    /// For `otlp` and `mlflow`: whether every batch is written to the
    /// spool before it is sent ([`verdict_export::Spooled::write_ahead`]),
    /// so that a crash loses nothing handed to it.
    pub write_ahead: bool,
    /// For `otlp` and `mlflow`: the longest a batch waits on the receiver
    /// before it is kept in the spool ([`verdict_export::Spooled::max_delay`]).
    pub max_delay: Duration,
}

/// The address the service listens on without `SERVICE_ADDR`.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

impl Config {
    /// Reads the environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `SERVICE_ADDR` | address to listen on | `127.0.0.1:8080` |
    /// | `VERDICT_EXPORT` | `local`, `otlp` or `mlflow` | `local` |
    /// | `VERDICT_STORE` | the local store's file: where `local` writes, and where `otlp` and `mlflow` spool what the receiver cannot take yet | `.verdict/verdict.db` |
    /// | `VERDICT_WRITE_AHEAD` | `1`: `otlp` and `mlflow` write every batch to the spool before sending it (a crash loses nothing handed to the spool); `0`: only what the receiver did not take | `0` |
    /// | `VERDICT_SPOOL_MAX_DELAY_MS` | for `otlp` and `mlflow`, the longest a batch waits on the receiver before it is spooled, in milliseconds | `5000` |
    pub fn from_env() -> Result<Self, Error> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), from any source of variables.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let addr_text = var("SERVICE_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let addr = addr_text.trim().parse().map_err(|_| {
            Error::Config(format!(
                "SERVICE_ADDR={addr_text:?} is not an address such as 127.0.0.1:8080"
            ))
        })?;
        let store = var("VERDICT_STORE").map_or_else(
            || PathBuf::from(verdict_export::DEFAULT_PATH),
            PathBuf::from,
        );
        let export = match var("VERDICT_EXPORT").as_deref().map(str::trim) {
            None | Some("local") => Export::Local(store.clone()),
            Some("otlp") => Export::Otlp,
            Some("mlflow") => Export::Mlflow,
            Some(other) => {
                return Err(Error::Config(format!(
                    "VERDICT_EXPORT={other:?} is not an export: use local (the default), otlp \
                     or mlflow"
                )));
            }
        };
        let write_ahead = match var("VERDICT_WRITE_AHEAD").as_deref().map(str::trim) {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(Error::Config(format!(
                    "VERDICT_WRITE_AHEAD={other:?} is not 0 or 1"
                )));
            }
        };
        let max_delay = match var("VERDICT_SPOOL_MAX_DELAY_MS") {
            None => verdict_export::SPOOL_MAX_DELAY,
            Some(text) => text
                .trim()
                .parse()
                .ok()
                .filter(|&ms| ms > 0)
                .map(Duration::from_millis)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "VERDICT_SPOOL_MAX_DELAY_MS={text:?} is not a number of milliseconds \
                         above 0"
                    ))
                })?,
        };
        Ok(Config {
            addr,
            export,
            spool: store,
            write_ahead,
            max_delay,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, Error> {
        Config::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_local_store_on_port_8080_by_default() {
        let c = config(&[]).unwrap();
        assert_eq!(c.addr, DEFAULT_ADDR.parse().unwrap());
        assert_eq!(
            c.export,
            Export::Local(PathBuf::from(verdict_export::DEFAULT_PATH))
        );
        let c = config(&[
            ("VERDICT_STORE", "/tmp/s.db"),
            ("SERVICE_ADDR", "127.0.0.1:0"),
        ])
        .unwrap();
        assert_eq!(c.export, Export::Local(PathBuf::from("/tmp/s.db")));
        assert_eq!(c.spool, PathBuf::from("/tmp/s.db"));
        assert_eq!(c.addr.port(), 0);
        assert!(!c.write_ahead);
        assert_eq!(c.max_delay, verdict_export::SPOOL_MAX_DELAY);
        let c = config(&[
            ("VERDICT_WRITE_AHEAD", "1"),
            ("VERDICT_SPOOL_MAX_DELAY_MS", "60000"),
        ])
        .unwrap();
        assert!(c.write_ahead);
        assert_eq!(c.max_delay, Duration::from_secs(60));
        assert_eq!(
            config(&[("VERDICT_EXPORT", "otlp")]).unwrap().export,
            Export::Otlp
        );
        assert_eq!(
            config(&[("VERDICT_EXPORT", "mlflow")]).unwrap().export,
            Export::Mlflow
        );
    }

    #[test]
    fn wrong_settings_are_named() {
        let e = config(&[("VERDICT_EXPORT", "kafka")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("kafka") && e.contains("local"), "{e}");
        let e = config(&[("SERVICE_ADDR", "localhost")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("SERVICE_ADDR"), "{e}");
        for (name, value) in [
            ("VERDICT_WRITE_AHEAD", "yes"),
            ("VERDICT_SPOOL_MAX_DELAY_MS", "5s"),
            ("VERDICT_SPOOL_MAX_DELAY_MS", "0"),
        ] {
            let e = config(&[(name, value)]).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains(value), "{e}");
        }
    }
}
