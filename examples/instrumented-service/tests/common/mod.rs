//! Shared by the service's tests: an HTTP client, and a JSON request that
//! answers its status and JSON body.

use std::time::Duration;

use serde_json::Value;

/// A client that hands back 4xx and 5xx answers instead of failing on
/// them, so that tests can check the status and the error body.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// `POST url` with a JSON body: the status and the JSON answer.
pub(crate) fn post(agent: &ureq::Agent, url: &str, body: &Value) -> (u16, Value) {
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("POST {url} answered {status} with no JSON ({e}): {text}"));
    (status, json)
}
