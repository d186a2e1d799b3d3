//! The HTTP settings every sink built on this crate's client shares: the
//! MLflow sink's, and the Phoenix sink's in `verdict-export`.
//!
//! One [`HttpSettings`] value held by each configuration, and one trait,
//! [`WithHttpSettings`], whose provided methods are the setters, as
//! `opentelemetry-otlp` does with `WithExportConfig`: a setter is written
//! and documented once. The alternative rejected: the same five setters
//! written on each configuration, which drifted apart in their docs and
//! defaults as soon as one sink gained a setting.

use std::time::Duration;

use crate::retry::{Deadline, RetryPolicy, Waiting};

/// How long a request may take, how long connecting may take, and how
/// transient failures are retried. Defaults: 30 s, 5 s, and
/// [`RetryPolicy::default`].
#[derive(Clone, Debug)]
pub struct HttpSettings {
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
        }
    }
}

impl HttpSettings {
    /// The time limit of one request, answer included.
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }

    /// The time limit for opening a connection.
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How transient failures are retried.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// For a sink being built: its HTTP client, keeping up to `idle`
    /// connections per host for reuse, and the [`Deadline`] its retries
    /// now stop at (the sink's `set_deadline` sets it).
    pub fn client(&mut self, idle: usize) -> (ureq::Agent, Deadline) {
        let deadline = Deadline::default();
        self.retry = std::mem::take(&mut self.retry).stop_at(deadline.clone());
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(self.timeout))
            .timeout_connect(Some(self.connect_timeout))
            .user_agent(concat!("verdict/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections_per_host(idle)
            .max_idle_connections(idle.max(10))
            .build()
            .into();
        (agent, deadline)
    }
}

/// The HTTP setters of a sink's configuration ([`MlflowConfig`](crate::MlflowConfig),
/// and Phoenix's in `verdict-export`). Bring it into scope to call them:
/// `use verdict_mlflow::WithHttpSettings as _;`.
pub trait WithHttpSettings: Sized {
    /// The settings these setters change.
    fn http_settings(&mut self) -> &mut HttpSettings;

    /// The time limit of one request, answer included (default 30 s).
    fn timeout(mut self, timeout: Duration) -> Self {
        self.http_settings().timeout = timeout;
        self
    }

    /// The time limit for opening a connection (default 5 s).
    fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.http_settings().connect_timeout = timeout;
        self
    }

    /// How transient failures are retried (see [`RetryPolicy`]).
    fn retry(mut self, policy: RetryPolicy) -> Self {
        self.http_settings().retry = policy;
        self
    }

    /// Stops retrying once `stop` says so (see [`RetryPolicy::stop_when`]).
    fn stop_retrying_when(mut self, stop: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        let settings = self.http_settings();
        settings.retry = std::mem::take(&mut settings.retry).stop_when(stop);
        self
    }

    /// Tells `observer` of retries that go on (see [`RetryPolicy::on_wait`]).
    fn on_retry_wait(mut self, observer: impl Fn(Waiting) + Send + Sync + 'static) -> Self {
        let settings = self.http_settings();
        settings.retry = std::mem::take(&mut settings.retry).on_wait(observer);
        self
    }
}
