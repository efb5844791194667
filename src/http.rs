//! The one HTTP client setup: distfile fetches and repository summaries share
//! it, so both honour the same timeout, retries and proxy settings.

use std::time::Duration;

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
