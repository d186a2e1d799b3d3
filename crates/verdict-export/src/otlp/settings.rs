//! How the OTLP exporter sends (protocol, compression) and what it says it
//! is (the resource): from the code first, then from the standard
//! environment variables, a per-signal one before the general one.
//!
//! `opentelemetry-otlp` reads the same variables itself, but skips a value
//! it does not support with an internal warning nobody sees and sends in
//! its default way. These settings are read here, once, and a value that
//! is not supported is an error that names the variable, before anything
//! is sent; the library is then given them explicitly.

use opentelemetry::{Key, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::{EnvResourceDetector, ResourceDetector as _};

use super::OtlpError;

/// The resource attribute naming the service.
const SERVICE_NAME: &str = "service.name";

/// How OTLP requests are encoded, as `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// `http/protobuf`: OTLP/HTTP with protobuf bodies, the default.
    #[default]
    HttpProtobuf,
    /// `http/json`: OTLP/HTTP with JSON bodies.
    HttpJson,
}

impl Protocol {
    /// The name the variables use: `http/protobuf` or `http/json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    pub(crate) fn to_otlp(self) -> opentelemetry_otlp::Protocol {
        match self {
            Protocol::HttpProtobuf => opentelemetry_otlp::Protocol::HttpBinary,
            Protocol::HttpJson => opentelemetry_otlp::Protocol::HttpJson,
        }
    }

    fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Ok(Protocol::HttpJson),
            "grpc" => Err(
                "gRPC is not supported: use http/protobuf (a collector's port \
                 4318 rather than 4317) or http/json"
                    .to_owned(),
            ),
            _ => Err("not a protocol: use http/protobuf or http/json".to_owned()),
        }
    }
}

/// How OTLP request bodies are compressed, as
/// `OTEL_EXPORTER_OTLP_COMPRESSION` names it (`gzip`; `none`, the default,
/// is no compression).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// `gzip`: bodies sent with `Content-Encoding: gzip`.
    Gzip,
}

impl Compression {
    fn parse(value: &str) -> Result<Option<Self>, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "gzip" => Ok(Some(Compression::Gzip)),
            "none" => Ok(None),
            _ => Err("not a compression Verdict supports: use gzip or none".to_owned()),
        }
    }

    pub(crate) fn to_otlp(self) -> opentelemetry_otlp::Compression {
        match self {
            Compression::Gzip => opentelemetry_otlp::Compression::Gzip,
        }
    }
}

/// The two signals Verdict sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Logs,
}

impl Signal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
        }
    }

    /// The variables of `setting` for this signal, the per-signal one
    /// first: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, then
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`.
    fn variables(self, setting: &str) -> [String; 2] {
        let signal = self.as_str().to_ascii_uppercase();
        [
            format!("OTEL_EXPORTER_OTLP_{signal}_{setting}"),
            format!("OTEL_EXPORTER_OTLP_{setting}"),
        ]
    }
}

/// The first of the variables of `setting` for `signal` that is set and
/// not empty, read with `parse`; an error names it and its value.
fn from_env<T>(
    signal: Signal,
    setting: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, OtlpError> {
    for variable in signal.variables(setting) {
        let value = match std::env::var(&variable) {
            Ok(value) if value.trim().is_empty() => continue,
            Ok(value) => value,
            Err(std::env::VarError::NotPresent) => continue,
            Err(std::env::VarError::NotUnicode(raw)) => {
                return Err(OtlpError::Setting {
                    variable,
                    value: raw.to_string_lossy().into_owned(),
                    reason: "not valid UTF-8".to_owned(),
                });
            }
        };
        return parse(&value)
            .map(Some)
            .map_err(|reason| OtlpError::Setting {
                variable,
                value,
                reason,
            });
    }
    Ok(None)
}

/// The protocol of `signal`: the code's, else the environment's, else
/// `http/protobuf`.
pub(crate) fn protocol(code: Option<Protocol>, signal: Signal) -> Result<Protocol, OtlpError> {
    match code {
        Some(protocol) => Ok(protocol),
        None => Ok(from_env(signal, "PROTOCOL", Protocol::parse)?.unwrap_or_default()),
    }
}

/// The compression of `signal`: the code's, else the environment's, else
/// none.
pub(crate) fn compression(
    code: Option<Compression>,
    signal: Signal,
) -> Result<Option<Compression>, OtlpError> {
    match code {
        Some(compression) => Ok(Some(compression)),
        None => Ok(from_env(signal, "COMPRESSION", Compression::parse)?.flatten()),
    }
}

/// The resource of everything the exporter sends that has none of its
/// own: the code's when given, else the SDK's default one (built from
/// `OTEL_RESOURCE_ATTRIBUTES`, with `OTEL_SERVICE_NAME` first for
/// `service.name`, as the specification says), with `default_service_name`
/// instead of the SDK's `unknown_service:<executable>` when neither
/// variable names the service.
pub(crate) fn resource(code: Option<&Resource>, default_service_name: Option<&str>) -> Resource {
    if let Some(resource) = code {
        return resource.clone();
    }
    let from_env = EnvResourceDetector::new().detect();
    let service_key = Key::from_static_str(SERVICE_NAME);
    let service_name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .map(opentelemetry::Value::from)
        .or_else(|| from_env.get(&service_key))
        .or_else(|| default_service_name.map(|name| name.to_owned().into()));
    let builder = Resource::builder();
    match service_name {
        // Last, so that it wins over every detector.
        Some(name) => builder.with_attribute(KeyValue::new(service_key, name)),
        None => builder,
    }
    .build()
}
