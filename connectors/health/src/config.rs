//! The connector's configuration: where the FHIR server is, how to page it, and how ODS codes
//! map onto the hub's organisation kinds. Validated once, when the connector is built; a bad
//! key is a fatal error naming the key, never echoing a secret.

use std::collections::BTreeMap;
use std::time::Duration;

use kinship_connector_sdk::ConnectorError;
use kinship_connector_sdk::catalogue;

use crate::codes::ResourceType;

/// Configuration of the `health-fhir` connector.
#[derive(Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the FHIR R4 server (UK Core), e.g. `https://fhir.trust.example/R4`; searches
    /// go to `{base_url}/{Type}` and the connection check to `{base_url}/metadata`.
    pub base_url: String,
    /// Resources per page (`_count`), 1 to 1000.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Seconds before a request is abandoned as a transient failure.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// ODS code to the hub's organisation kind (`acute_trust`, `community_trust`,
    /// `mental_health_trust`, `gp_practice`, `local_authority`...), e.g. `{ "Y99001" =
    /// "gp_practice" }`. A record's organisation is `<kind>:<ODS code>`.
    #[serde(default)]
    pub organisation_kinds: BTreeMap<String, String>,
    /// The organisation kind of an ODS code missing from `organisation_kinds`.
    #[serde(default = "default_organisation_kind")]
    pub default_organisation_kind: String,
    /// The resource types to pull (always in the order Patient, RelatedPerson, Encounter,
    /// Condition, Flag, whatever the order here).
    #[serde(default = "default_resource_types")]
    pub resource_types: Vec<ResourceType>,
    /// A bearer token sent as `Authorization` to the server's own origin, if it needs one.
    #[serde(default)]
    pub bearer_token: Option<String>,
}

fn default_page_size() -> u32 {
    100
}

fn default_timeout_seconds() -> u64 {
    30
}

fn default_organisation_kind() -> String {
    "acute_trust".into()
}

fn default_resource_types() -> Vec<ResourceType> {
    ResourceType::ALL.to_vec()
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: say only whether there is one.
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("page_size", &self.page_size)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("organisation_kinds", &self.organisation_kinds)
            .field("default_organisation_kind", &self.default_organisation_kind)
            .field("resource_types", &self.resource_types)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Config {
    /// A configuration for `base_url` with every default.
    pub fn for_base_url(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            page_size: default_page_size(),
            timeout_seconds: default_timeout_seconds(),
            organisation_kinds: BTreeMap::new(),
            default_organisation_kind: default_organisation_kind(),
            resource_types: default_resource_types(),
            bearer_token: None,
        }
    }

    /// Every problem with the configuration, one line each, naming the key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        match reqwest::Url::parse(&self.base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => p.push("config: base_url: expected an http:// or https:// URL".into()),
        }
        if !(1..=1000).contains(&self.page_size) {
            p.push("config: page_size: expected 1 to 1000".into());
        }
        if self.timeout_seconds == 0 {
            p.push("config: timeout_seconds: expected at least 1".into());
        }
        for (ods, kind) in &self.organisation_kinds {
            if !catalogue::is_organisation_id(&format!("{kind}:{ods}")) {
                p.push(format!(
                    "config: organisation_kinds.{ods}: expected an agency kind ({}) for an ODS code of letters and digits",
                    catalogue::AGENCY_KINDS.join(", ")
                ));
            }
        }
        if !catalogue::AGENCY_KINDS.contains(&self.default_organisation_kind.as_str()) {
            p.push(format!(
                "config: default_organisation_kind: expected one of {}",
                catalogue::AGENCY_KINDS.join(", ")
            ));
        }
        if self.resource_types.is_empty() {
            p.push("config: resource_types: expected at least one resource type".into());
        }
        if let Some(token) = &self.bearer_token
            && (token.trim().is_empty() || token.chars().any(char::is_control))
        {
            p.push(
                "config: bearer_token: expected a non-empty token without control characters"
                    .into(),
            );
        }
        p
    }

    /// Fails with every problem when there is any.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        let p = self.problems();
        if p.is_empty() {
            Ok(())
        } else {
            Err(ConnectorError::Fatal(p.join("; ")))
        }
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds)
    }

    /// The types to pull, in pull order, each once.
    pub fn types(&self) -> Vec<ResourceType> {
        ResourceType::ALL
            .into_iter()
            .filter(|t| self.resource_types.contains(t))
            .collect()
    }

    /// The base URL without a trailing slash.
    pub fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    /// The organisation id of an ODS code: `<kind>:<ODS>`.
    pub fn organisation(&self, ods: &str) -> String {
        let kind = self
            .organisation_kinds
            .get(ods)
            .unwrap_or(&self.default_organisation_kind);
        format!("{kind}:{ods}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_bearer_token() {
        let mut c = Config::for_base_url("https://fhir.example/R4");
        c.bearer_token = Some("s3cret-token".into());
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"));
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn problems_name_each_bad_key() {
        let mut c = Config::for_base_url("ftp://x");
        c.page_size = 0;
        c.default_organisation_kind = "hospital".into();
        c.organisation_kinds.insert("RX1".into(), "trust".into());
        let p = c.problems().join("\n");
        for key in [
            "base_url",
            "page_size",
            "default_organisation_kind",
            "organisation_kinds.RX1",
        ] {
            assert!(p.contains(key), "{key} in {p}");
        }
    }

    #[test]
    fn types_follow_pull_order_whatever_the_configured_order() {
        let mut c = Config::for_base_url("http://127.0.0.1:1");
        c.resource_types = vec![ResourceType::Flag, ResourceType::Patient];
        assert_eq!(c.types(), vec![ResourceType::Patient, ResourceType::Flag]);
    }

    #[test]
    fn unknown_ods_codes_take_the_default_kind() {
        let mut c = Config::for_base_url("http://127.0.0.1:1");
        c.organisation_kinds
            .insert("Y99001".into(), "gp_practice".into());
        assert_eq!(c.organisation("Y99001"), "gp_practice:Y99001");
        assert_eq!(c.organisation("RX1"), "acute_trust:RX1");
    }
}
