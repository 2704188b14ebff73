//! HTTP to the FHIR server: GETs with `Accept: application/fhir+json` and the optional bearer
//! token, and the classification of failures.
//!
//! A non-2xx answer is classified by status with the SDK's [`http::classify`] (429 and 5xx
//! transient, other statuses fatal); an `OperationOutcome` body whose issue code is
//! `transient` or `throttled` makes any failure transient. Diagnostics are never copied into
//! errors: a server may echo a search parameter (an NHS number, a date of birth) in them.
//!
//! Limits: no parsing beyond `OperationOutcome.issue[].code`.

use kinship_connector_sdk::ConnectorError;
use kinship_connector_sdk::http;
use reqwest::Url;
use reqwest::header::{ACCEPT, RETRY_AFTER};
use serde::Deserialize;

use crate::config::Config;

/// A client bound to one FHIR server.
#[derive(Clone)]
pub struct Server {
    client: reqwest::Client,
    base: Option<Url>,
    token: Option<String>,
}

impl Server {
    /// A client with the configured timeout.
    pub fn new(config: &Config) -> Result<Self, ConnectorError> {
        Ok(Self {
            client: http::client(config.timeout())?,
            base: Url::parse(config.base()).ok(),
            token: config.bearer_token.clone(),
        })
    }

    /// GETs `url` and returns the body of a 2xx answer, or the classified failure.
    pub async fn get(&self, url: &str) -> Result<String, ConnectorError> {
        let mut request = self.client.get(url).header(ACCEPT, "application/fhir+json");
        // The token goes only to the configured server, never to another origin a `next`
        // link might name.
        if let Some(token) = &self.token
            && self.same_origin(url)
        {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| http::request_failed(&e))?;
        if response.status().is_success() {
            return response.text().await.map_err(|e| http::request_failed(&e));
        }
        let status = response.status().as_u16();
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let body = response.text().await.unwrap_or_default();
        Err(failure(status, retry_after, &body))
    }

    fn same_origin(&self, url: &str) -> bool {
        let Some(base) = &self.base else {
            return false;
        };
        Url::parse(url).is_ok_and(|u| u.origin() == base.origin())
    }
}

/// Classifies a failed answer: the SDK decides by status, an `OperationOutcome` asking to
/// retry upgrades a fatal answer to a transient one.
pub fn failure(
    status: u16,
    retry_after: Option<reqwest::header::HeaderValue>,
    body: &str,
) -> ConnectorError {
    let mut rebuilt = ::http::Response::builder().status(status);
    if let Some(v) = retry_after {
        rebuilt = rebuilt.header(RETRY_AFTER, v);
    }
    let by_status = match rebuilt.body(Vec::<u8>::new()) {
        Ok(r) => match http::classify(reqwest::Response::from(r)) {
            Err(e) => e,
            Ok(_) => ConnectorError::Fatal(format!("feed answered {status}")),
        },
        Err(_) => ConnectorError::Fatal(format!("feed answered {status}")),
    };
    let issues = issue_codes(body);
    let retry = issues
        .iter()
        .find(|c| matches!(c.as_str(), "transient" | "throttled"));
    match (by_status, retry) {
        (ConnectorError::Fatal(_), Some(code)) => {
            ConnectorError::transient(format!("feed answered {status}: OperationOutcome `{code}`"))
        }
        (ConnectorError::Fatal(_), None) if !issues.is_empty() => ConnectorError::Fatal(format!(
            "feed answered {status}: OperationOutcome `{}`",
            issues.join("`, `")
        )),
        (other, _) => other,
    }
}

/// The issue codes of an `OperationOutcome`, empty when the body is anything else.
pub fn issue_codes(body: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Outcome {
        #[serde(rename = "resourceType")]
        resource_type: String,
        #[serde(default)]
        issue: Vec<Issue>,
    }
    #[derive(Deserialize)]
    struct Issue {
        code: Option<String>,
    }
    match serde_json::from_str::<Outcome>(body) {
        Ok(o) if o.resource_type == "OperationOutcome" => {
            let mut codes: Vec<String> = o
                .issue
                .into_iter()
                .filter_map(|i| i.code)
                // Codes are FHIR tokens; anything else is not echoed.
                .filter(|c| {
                    c.len() <= 40 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
                .collect();
            codes.dedup();
            codes
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: &str) -> String {
        format!(
            r#"{{"resourceType":"OperationOutcome","issue":[{{"severity":"error","code":"{code}","diagnostics":"no match for 9990000018"}}]}}"#
        )
    }

    #[test]
    fn statuses_are_classified_by_the_sdk() {
        assert!(failure(503, None, "").is_transient());
        assert!(failure(429, None, &outcome("throttled")).is_transient());
        assert!(!failure(401, None, "").is_transient());
        assert!(!failure(404, None, &outcome("not-found")).is_transient());
    }

    #[test]
    fn an_outcome_asking_to_retry_makes_a_4xx_transient() {
        assert!(failure(400, None, &outcome("transient")).is_transient());
        assert!(failure(403, None, &outcome("throttled")).is_transient());
    }

    #[test]
    fn retry_after_is_kept() {
        let e = failure(503, Some("7".parse().expect("header")), "");
        assert_eq!(
            e,
            ConnectorError::Transient {
                message: "feed answered 503".into(),
                retry_after: Some(std::time::Duration::from_secs(7)),
            }
        );
    }

    #[test]
    fn diagnostics_never_reach_the_error() {
        let e = failure(400, None, &outcome("invalid")).to_string();
        assert!(e.contains("invalid"));
        assert!(!e.contains("999"));
    }
}
