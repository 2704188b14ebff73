//! HTTP helpers for connectors: a client with timeouts, and the classification of what a
//! feed answered into records, transient errors and fatal errors.

use std::time::Duration;

use crate::connector::ConnectorError;

/// A client with connect and whole-request timeouts, so a stalled feed becomes a transient
/// error instead of a hung sync.
pub fn client(timeout: Duration) -> Result<reqwest::Client, ConnectorError> {
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .build()
        .map_err(|e| ConnectorError::Fatal(format!("cannot build an HTTP client: {e}")))
}

/// A request that failed before any status arrived: timeouts and refused connections are
/// transient; anything else (a malformed URL) is fatal.
pub fn request_failed(e: &reqwest::Error) -> ConnectorError {
    if e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::transient(format!("request failed: {}", without_url(e)))
    } else {
        ConnectorError::Fatal(format!("request failed: {}", without_url(e)))
    }
}

fn without_url(e: &reqwest::Error) -> String {
    // URLs can carry query parameters (a date of birth in a search); keep them out.
    let mut e = e.to_string();
    if let Some(i) = e.find(" for url (") {
        e.truncate(i);
    }
    e
}

/// Classifies a response: 2xx passes; 408, 425, 429 and 5xx are transient (with
/// `Retry-After` when the source sent one, in seconds or as an HTTP date); other statuses are
/// fatal.
pub fn classify(response: reqwest::Response) -> Result<reqwest::Response, ConnectorError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let code = status.as_u16();
    if matches!(code, 408 | 425 | 429) || status.is_server_error() {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        return Err(ConnectorError::Transient {
            message: format!("feed answered {code}"),
            retry_after,
        });
    }
    Err(ConnectorError::Fatal(format!("feed answered {code}")))
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// GETs a URL and returns the body as text, classified.
pub async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, ConnectorError> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| request_failed(&e))?;
    classify(response)?
        .text()
        .await
        .map_err(|e| request_failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Mon, 01 Jan 2001 00:00:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
