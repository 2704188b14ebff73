//! Helpers the integration tests share: fixture paths, connectors over a folder or a URL, a
//! loopback server for a feed, and a full pull.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::{Path, PathBuf};

use kinship_connector_sdk::{Connector, Cursor, Rejected, SourceRecord};
use kinship_connector_social_care::SocialCareConnector;
use serde_json::json;

/// A folder under `tests/fixtures`.
pub fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A connector reading returns from a folder.
pub fn folder_connector(folder: &Path) -> SocialCareConnector {
    SocialCareConnector::from_json(json!({ "folder": folder })).unwrap()
}

/// A connector reading returns over HTTP.
pub fn http_connector(base_url: &str) -> SocialCareConnector {
    SocialCareConnector::from_json(json!({ "base_url": base_url, "timeout_seconds": 5 })).unwrap()
}

/// Serves a router on an ephemeral loopback port; returns its base URL.
#[cfg(feature = "feed")]
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// What a pull from a cursor to the end delivered.
pub struct Pulled {
    pub records: Vec<SourceRecord>,
    pub rejected: Vec<Rejected>,
    /// The cursor handed out after each batch.
    pub cursors: Vec<Cursor>,
}

impl Pulled {
    /// The record with this source key.
    pub fn record(&self, key: &str) -> &SourceRecord {
        self.records
            .iter()
            .find(|r| r.source_key == key)
            .unwrap_or_else(|| panic!("no record `{key}`"))
    }

    /// The last cursor handed out.
    pub fn last_cursor(&self) -> Option<Cursor> {
        self.cursors.last().cloned()
    }
}

/// Pulls from `cursor` until the connector says there is nothing more.
pub async fn pull_all(c: &SocialCareConnector, cursor: Option<Cursor>) -> Pulled {
    let mut cursor = cursor;
    let mut out = Pulled {
        records: Vec::new(),
        rejected: Vec::new(),
        cursors: Vec::new(),
    };
    for _ in 0..1000 {
        let batch = c.pull(cursor.as_ref()).await.unwrap();
        out.records.extend(batch.records);
        out.rejected.extend(batch.rejected);
        match batch.next {
            Some(next) => {
                out.cursors.push(next.clone());
                cursor = Some(next);
            }
            None => return out,
        }
    }
    panic!("the pull did not end");
}
