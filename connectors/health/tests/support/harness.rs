//! What the integration tests share: a loopback server for a router, the fixture envelopes,
//! a connector pointed at a URL, and a full pull.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::collections::BTreeMap;

use kinship_connector_health::{Config, HealthConnector};
use kinship_connector_sdk::{Connector, Cursor, Rejected, SourceRecord};

/// Serves `router` on an ephemeral loopback port; returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    serve_with(|_| router).await
}

/// Serves the router `make` builds for the server's own base URL.
pub async fn serve_with(make: impl FnOnce(&str) -> axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    let router = make(&url);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url
}

/// The fixture envelopes: one synthetic family known to a GP practice, an acute trust, a
/// community trust and a mental health trust.
pub fn envelopes() -> Vec<SourceRecord> {
    serde_json::from_str(include_str!("../fixtures/envelopes.json")).expect("envelopes.json")
}

/// An envelope whose NHS number fails its check.
pub fn invalid_envelopes() -> Vec<SourceRecord> {
    serde_json::from_str(include_str!("../fixtures/envelopes-invalid.json"))
        .expect("envelopes-invalid.json")
}

/// The ODS table of the fixtures.
pub fn organisation_kinds() -> BTreeMap<String, String> {
    [
        ("Y99001", "gp_practice"),
        ("RX1", "acute_trust"),
        ("RY1", "community_trust"),
        ("RZ1", "mental_health_trust"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A connector for `url` with pages of `page_size` and the fixtures' ODS table.
pub fn connector(url: &str, page_size: u32) -> HealthConnector {
    let mut config = Config::for_base_url(url);
    config.page_size = page_size;
    config.timeout_seconds = 5;
    config.organisation_kinds = organisation_kinds();
    HealthConnector::new(config).expect("a valid configuration")
}

/// What a pull to the end delivered, and the last cursor handed out.
pub struct Pulled {
    pub records: Vec<SourceRecord>,
    pub rejected: Vec<Rejected>,
    pub last: Option<Cursor>,
    pub batches: usize,
}

/// Pulls from `from` until the connector hands back no cursor.
pub async fn pull_all(c: &HealthConnector, from: Option<Cursor>) -> Pulled {
    let mut cursor = from;
    let mut out = Pulled {
        records: Vec::new(),
        rejected: Vec::new(),
        last: None,
        batches: 0,
    };
    loop {
        let batch = c.pull(cursor.as_ref()).await.expect("pull");
        out.batches += 1;
        out.records.extend(batch.records);
        out.rejected.extend(batch.rejected);
        match batch.next {
            Some(next) => {
                out.last = Some(next.clone());
                cursor = Some(next);
            }
            None => return out,
        }
        assert!(out.batches < 10_000, "a pull that never ends");
    }
}
