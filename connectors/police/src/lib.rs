//! Kinship connector for a police force's POLE incident feed (Person, Object, Location,
//! Event), in the Kinship profile of DOMAIN.md §6.
//!
//! The feed is cursor-paginated: `GET {base_url}/pole/events?cursor={c}&limit={n}` returns
//! events in the order they were recorded or updated, with the persons, locations and links
//! they need, and `next_cursor` (null once nothing follows). `GET {base_url}/pole/health`
//! answers `check`. Each page becomes one [`Batch`]: person records (`pole:person:{id}`,
//! with identity and PNC ID) and event-person records (`pole:event:{event}:{person}`, one
//! fact per role the person plays, in a `police.*` category); see [`pole`].
//!
//! The connector's cursor is the feed's own, verbatim. A page that ends the events handed
//! out so far still carries a `next_cursor`; a pull from it gives an empty page and no
//! cursor, so the hub keeps that last cursor and the next sync asks only for what the force
//! recorded or updated since.
//!
//! With the `feed` feature, [`feed`] serves envelopes as such a feed on loopback.
//!
//! Limits: reads over HTTP only through the SDK's helpers; imports the SDK, never hub code.

mod config;
pub mod pole;

#[cfg(feature = "feed")]
pub mod feed;

use kinship_connector_sdk::{Batch, Connector, ConnectorError, Cursor, Manifest, http};
use serde_json::Value;

pub use config::{Config, MAX_PAGE_SIZE};

/// The connector kind the hub's configuration names.
pub const KIND: &str = "police-pole";

/// The agency whose data the connector carries.
pub const AGENCY: &str = "police";

/// The profile the feed's health answer names, proving it speaks this format.
pub const PROFILE: &str = "kinship-pole/1";

/// Reads one force's POLE feed.
pub struct PoliceConnector {
    config: Config,
    organisation: String,
    client: reqwest::Client,
}

impl PoliceConnector {
    /// A connector for a checked configuration.
    pub fn new(config: Config) -> Result<Self, ConnectorError> {
        config.validate()?;
        let client = http::client(config.timeout())?;
        Ok(Self {
            organisation: config.organisation(),
            config,
            client,
        })
    }

    /// Builds from the hub's JSON configuration table; a bad key is a fatal error naming it.
    pub fn from_json(config: Value) -> Result<Self, ConnectorError> {
        if let Some(problem) = key_problem(&config) {
            return Err(ConnectorError::Fatal(problem));
        }
        let config: Config = serde_json::from_value(config)
            .map_err(|e| ConnectorError::Fatal(format!("config: {e}")))?;
        Self::new(config)
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn events_url(&self, cursor: Option<&Cursor>) -> String {
        let mut url = format!(
            "{}/pole/events?limit={}",
            self.config.base(),
            self.config.page_size
        );
        if let Some(c) = cursor {
            url.push_str("&cursor=");
            url.push_str(&percent_encode(&c.0));
        }
        url
    }
}

/// The first key of a configuration table that is unknown or of the wrong type, so the error
/// names it (serde's type errors name only the value).
fn key_problem(config: &Value) -> Option<String> {
    let Some(table) = config.as_object() else {
        return Some("config: expected a table of keys".into());
    };
    for (key, value) in table {
        let ok = match key.as_str() {
            "base_url" | "force" => value.is_string(),
            "page_size" => value.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
            "timeout_seconds" => value.as_u64().is_some(),
            _ => return Some(format!("config: unknown key `{key}`")),
        };
        if !ok {
            let expected = match key.as_str() {
                "base_url" | "force" => "a string",
                _ => "a whole number",
            };
            return Some(format!("config: {key}: expected {expected}"));
        }
    }
    None
}

/// Percent-encodes everything but RFC 3986's unreserved characters: cursors are opaque.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Connector for PoliceConnector {
    fn manifest(&self) -> Manifest {
        Manifest {
            id: KIND.into(),
            agency: AGENCY.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            categories: pole::vocabulary::CATEGORIES
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
            config_schema: serde_json::to_value(schemars::schema_for!(Config))
                .unwrap_or(Value::Null),
        }
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        let url = format!("{}/pole/health", self.config.base());
        let body = http::get_text(&self.client, &url).await?;
        let profile = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("profile").and_then(Value::as_str).map(str::to_owned));
        match profile {
            Some(p) if p == PROFILE => Ok(()),
            _ => Err(ConnectorError::Fatal(format!(
                "the feed's health answer does not name profile `{PROFILE}`"
            ))),
        }
    }

    async fn pull(&self, cursor: Option<&Cursor>) -> Result<Batch, ConnectorError> {
        let body = http::get_text(&self.client, &self.events_url(cursor)).await?;
        let page = pole::parse_page(&body, &self.organisation)?;
        Ok(Batch {
            records: page.records,
            rejected: page.rejected,
            next: page.next_cursor.map(Cursor),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn from_json_applies_defaults() {
        let c =
            PoliceConnector::from_json(json!({"base_url": "http://127.0.0.1:9"})).expect("valid");
        assert_eq!(c.config().force, "anyshire");
        assert_eq!(c.config().page_size, 200);
        assert_eq!(c.organisation, "police:anyshire");
    }

    #[test]
    fn from_json_names_the_bad_key() {
        let cases = [
            (json!({"base_url": "http://x", "colour": "blue"}), "colour"),
            (
                json!({"base_url": "http://x", "page_size": "many"}),
                "page_size",
            ),
            (json!({"base_url": "http://x", "page_size": 0}), "page_size"),
            (json!({"base_url": "ftp://x"}), "base_url"),
            (
                json!({"base_url": "http://x", "force": "any shire"}),
                "force",
            ),
            (
                json!({"base_url": "http://x", "timeout_seconds": 0}),
                "timeout_seconds",
            ),
            (json!({"force": "anyshire"}), "base_url"),
        ];
        for (config, key) in cases {
            match PoliceConnector::from_json(config) {
                Err(ConnectorError::Fatal(m)) => assert!(m.contains(key), "{key}: {m}"),
                Err(e) => panic!("{key}: not fatal: {e}"),
                Ok(_) => panic!("{key}: accepted"),
            }
        }
    }

    #[test]
    fn the_manifest_is_valid_and_declares_every_police_category() {
        let c = PoliceConnector::new(Config::new("http://127.0.0.1:9")).expect("valid");
        let m = c.manifest();
        assert!(m.problems().is_empty(), "{:?}", m.problems());
        assert_eq!(m.id, KIND);
        assert_eq!(m.categories.len(), 5);
    }

    #[test]
    fn cursors_are_percent_encoded_into_the_url() {
        let c = PoliceConnector::new(Config::new("http://h/")).expect("valid");
        assert_eq!(
            c.events_url(Some(&Cursor("a b/&=".into()))),
            "http://h/pole/events?limit=200&cursor=a%20b%2F%26%3D"
        );
        assert_eq!(c.events_url(None), "http://h/pole/events?limit=200");
    }
}
