//! Helpers the integration tests share: the fixture folder, a loopback server for a feed,
//! and a full pull.

#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::PathBuf;

use kinship_connector_education::{Config, EducationConnector, feed::Feed};
use kinship_connector_sdk::{Batch, Connector, Cursor, SourceRecord};

/// The folder of fixture CTF files.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Serves a feed on an ephemeral loopback port; returns its base URL.
pub async fn serve(feed: &Feed) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = feed.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// Every batch from `from` until the connector says there is nothing more, with the cursor
/// handed out after each.
pub async fn pull_all(c: &EducationConnector, from: Option<Cursor>) -> Vec<Batch> {
    let mut cursor = from;
    let mut batches = Vec::new();
    loop {
        let batch = c.pull(cursor.as_ref()).await.expect("pull");
        cursor = batch.next.clone();
        batches.push(batch);
        if cursor.is_none() {
            return batches;
        }
        assert!(batches.len() < 1000, "endless pull");
    }
}

/// The records a full pull of the fixture folder delivers.
pub async fn fixture_records() -> Vec<SourceRecord> {
    let c = EducationConnector::new(Config::folder(fixtures())).expect("connector");
    pull_all(&c, None)
        .await
        .into_iter()
        .flat_map(|b| b.records)
        .collect()
}
