//! The population served as real agency documents on loopback, one feed per connector, and
//! the connector specs that read them: the demo's and the benchmarks' way data arrives.

use std::time::Duration;

use kinship_connector_sdk::SourceRecord;
use serde_json::json;
use tokio::net::TcpListener;

use super::CliError;
use crate::population::envelopes::Feed;
use crate::sync::{ConnectorSpec, RetryPolicy};

/// The feeds, with handles to change what they serve.
pub struct Feeds {
    pub health: kinship_connector_health::feed::Feed,
    pub education: kinship_connector_education::feed::Feed,
    pub police: kinship_connector_police::feed::Feed,
    pub social_care: kinship_connector_social_care::feed::Feed,
    /// One spec per feed, pointing at its loopback URL.
    pub specs: Vec<ConnectorSpec>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Feeds {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Feeds {
    /// Adds or replaces records on the feed that carries them.
    pub fn upsert(&self, feed: Feed, records: Vec<SourceRecord>) {
        match feed {
            Feed::Health => self.health.upsert(records),
            Feed::Education => self.education.upsert(records),
            Feed::Police => self.police.upsert(records),
            Feed::SocialCare => self.social_care.upsert(records),
        }
    }
}

async fn serve(router: axum::Router) -> Result<(String, tokio::task::JoinHandle<()>), CliError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((url, task))
}

fn spec(id: &str, kind: &str, settings: serde_json::Value) -> ConnectorSpec {
    ConnectorSpec {
        id: id.to_owned(),
        kind: kind.to_owned(),
        settings,
        rate_per_second: None,
        retry: RetryPolicy {
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_attempts: 5,
        },
    }
}

/// Starts the four feeds over these envelopes and returns them with their specs.
pub async fn start(
    mut envelopes: std::collections::BTreeMap<Feed, Vec<SourceRecord>>,
    page_size: usize,
) -> Result<Feeds, CliError> {
    let mut take = |f: Feed| envelopes.remove(&f).unwrap_or_default();
    let health = kinship_connector_health::feed::Feed::new(take(Feed::Health));
    let education = kinship_connector_education::feed::Feed::new(take(Feed::Education));
    let police = kinship_connector_police::feed::Feed::new(take(Feed::Police));
    let social_care = kinship_connector_social_care::feed::Feed::new(take(Feed::SocialCare));
    let (health_url, t1) = serve(health.router()).await?;
    let (education_url, t2) = serve(education.router()).await?;
    let (police_url, t3) = serve(police.router()).await?;
    let (social_url, t4) = serve(social_care.router()).await?;
    let specs = vec![
        spec(
            "anyshire-health",
            kinship_connector_health::KIND,
            json!({
                "base_url": health_url,
                "page_size": page_size,
                "organisation_kinds": health.organisation_kinds(),
            }),
        ),
        spec(
            "anyshire-schools",
            kinship_connector_education::KIND,
            json!({ "base_url": education_url }),
        ),
        spec(
            "anyshire-council",
            kinship_connector_social_care::KIND,
            json!({ "base_url": social_url, "la": "999" }),
        ),
        spec(
            "anyshire-police",
            kinship_connector_police::KIND,
            json!({ "base_url": police_url, "page_size": page_size.min(1_000) }),
        ),
    ];
    Ok(Feeds {
        health,
        education,
        police,
        social_care,
        specs,
        tasks: vec![t1, t2, t3, t4],
    })
}
