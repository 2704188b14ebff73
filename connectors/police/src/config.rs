//! The connector's configuration: where the force's POLE feed is, which force it is, and how
//! much to ask for at once. Owns validation of those keys; knows nothing of the feed's format.

use std::time::Duration;

use kinship_connector_sdk::{ConnectorError, catalogue};
use schemars::JsonSchema;
use serde::Deserialize;

/// Configuration of a police POLE connector, as the hub's configuration table names it.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the force's POLE incident feed, e.g. `https://pole.anyshire.police.uk`;
    /// the connector reads `{base_url}/pole/events` and `{base_url}/pole/health`.
    pub base_url: String,
    /// The force's code: records are held by organisation `police:{force}`.
    #[serde(default = "default_force")]
    pub force: String,
    /// How many events to ask for per page (1 to 1000).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// How long one request may take, connection included, before it counts as a transient
    /// failure.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
}

fn default_force() -> String {
    "anyshire".into()
}

fn default_page_size() -> u32 {
    200
}

fn default_timeout_seconds() -> u64 {
    30
}

/// The largest page a connector asks for: a POLE page carries its persons and locations too,
/// so pages of a thousand events are already several megabytes.
pub const MAX_PAGE_SIZE: u32 = 1000;

impl Config {
    /// A configuration with defaults for everything but the feed's address.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            force: default_force(),
            page_size: default_page_size(),
            timeout_seconds: default_timeout_seconds(),
        }
    }

    /// Every bad key, one line each; empty when the configuration is usable.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let url = self.base_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 8 {
            p.push("config: base_url: expected an http:// or https:// URL".into());
        }
        if !catalogue::is_organisation_id(&self.organisation()) {
            p.push("config: force: expected a code of letters, digits, `-`, `_` or `.`".to_owned());
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            p.push(format!("config: page_size: expected 1 to {MAX_PAGE_SIZE}"));
        }
        if self.timeout_seconds == 0 {
            p.push("config: timeout_seconds: expected at least 1".into());
        }
        p
    }

    /// Checks every key, as one fatal error listing each problem.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConnectorError::Fatal(problems.join("; ")))
        }
    }

    /// The organisation holding the records, `police:{force}`.
    pub fn organisation(&self) -> String {
        format!("police:{}", self.force)
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds)
    }

    /// The base URL without a trailing slash, so paths join cleanly.
    pub(crate) fn base(&self) -> &str {
        self.base_url.trim().trim_end_matches('/')
    }
}
