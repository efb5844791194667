//! The one HTTP client setup: distfile fetches and repository summaries share
//! it, so both honour the same timeout, retries and proxy settings.

use std::time::Duration;

/// How long one download may take: `FETCH_TIMEOUT` seconds (pkgsrc's name), default 300.
pub fn timeout_from_env() -> Duration {
    Duration::from_secs(number_from_env("FETCH_TIMEOUT", 300))
}

/// How many more times a request that may pass (no connection, a 5xx answer)
/// is tried: `FETCH_RETRIES`, default 2.
pub fn retries_from_env() -> u32 {
    u32::try_from(number_from_env("FETCH_RETRIES", 2)).unwrap_or(2)
}

fn number_from_env(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// An agent with `timeout` for each request and the proxy named by
/// `ALL_PROXY`, `HTTPS_PROXY` or `HTTP_PROXY`. With `statuses_as_errors`
/// false, 4xx and 5xx answers come back as responses for the caller to read.
pub fn agent(timeout: Duration, statuses_as_errors: bool) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(statuses_as_errors)
        .proxy(ureq::Proxy::try_from_env())
        .build()
        .into()
}
