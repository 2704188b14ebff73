//! The connector trait, its manifest, cursors, batches and errors.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::catalogue;
use crate::envelope::{Rejected, SourceRecord};

/// What a connector declares about itself before it is switched on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// A stable id of the connector type, lowercase with hyphens, e.g. `health-fhir`.
    pub id: String,
    /// The agency whose data it carries: `health`, `education`, `police`, `social_care`,
    /// `early_help`.
    pub agency: String,
    /// The connector's version.
    pub version: String,
    /// Every data category it may emit (catalogue names). The engine refuses others.
    pub categories: Vec<String>,
    /// A JSON Schema of its configuration.
    pub config_schema: serde_json::Value,
}

impl Manifest {
    /// What is wrong with the manifest, one problem per line; empty when it is valid.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let id_ok = !self.id.is_empty()
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !id_ok {
            p.push(format!(
                "manifest id `{}` must be lowercase letters, digits and hyphens",
                self.id
            ));
        }
        if !catalogue::AGENCIES.contains(&self.agency.as_str()) {
            p.push(format!(
                "manifest agency `{}` is not in the catalogue",
                self.agency
            ));
        }
        if self.version.trim().is_empty() {
            p.push("manifest version is empty".into());
        }
        if self.categories.is_empty() {
            p.push("manifest declares no categories".into());
        }
        for c in &self.categories {
            if !catalogue::CATEGORIES.contains(&c.as_str()) {
                p.push(format!("manifest category `{c}` is not in the catalogue"));
            }
        }
        let schema_ok = self.config_schema.is_object()
            && (self.config_schema.get("type").and_then(|t| t.as_str()) == Some("object")
                || self.config_schema.get("properties").is_some());
        if !schema_ok {
            p.push("manifest config_schema is not a JSON Schema of an object".into());
        }
        p
    }

    /// The categories a batch emits that the manifest does not declare, with how often.
    pub fn undeclared(&self, batch: &Batch) -> BTreeMap<String, usize> {
        let mut found = BTreeMap::new();
        for fact in batch.records.iter().flat_map(|r| &r.facts) {
            if !self.categories.iter().any(|c| c == &fact.category) {
                *found.entry(fact.category.clone()).or_insert(0) += 1;
            }
        }
        found
    }
}

/// An opaque position in a feed, handed back to `pull` to resume after a batch. The engine
/// stores it in the same transaction as the batch it follows.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor(pub String);

/// One batch of a pull.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub records: Vec<SourceRecord>,
    /// Records that could not be read: quarantined by the engine, the batch goes on.
    pub rejected: Vec<Rejected>,
    /// Where to resume after this batch. `None` when the feed has nothing more now; the next
    /// sync then starts from the last cursor handed out.
    pub next: Option<Cursor>,
}

/// What went wrong with a pull or check, classified so the engine knows what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// Worth retrying: connection refused, timeout, 5xx, 429.
    #[error("transient: {message}")]
    Transient {
        message: String,
        /// The source asked to wait this long (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Stop this connector and report: bad credentials, a feed that no longer speaks its
    /// format, a configuration the source refuses.
    #[error("fatal: {0}")]
    Fatal(String),
}

impl ConnectorError {
    /// A transient error without a requested wait.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            retry_after: None,
        }
    }

    /// Whether the engine should retry.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }
}

/// A connector: configuration in, batches out. Configuration is the connector's own typed
/// struct, passed when it is built; state (the cursor) belongs to the engine.
pub trait Connector: Send + Sync {
    /// What the connector is and may emit.
    fn manifest(&self) -> Manifest;

    /// Checks that the source is reachable and speaks the expected format.
    fn check(&self) -> impl Future<Output = Result<(), ConnectorError>> + Send;

    /// Pulls the batch after `cursor` (from the start when `None`).
    fn pull(
        &self,
        cursor: Option<&Cursor>,
    ) -> impl Future<Output = Result<Batch, ConnectorError>> + Send;

    /// Reads one quarantined record again from its raw bytes ([`Rejected::raw`]), after the
    /// source or the connector was fixed. Connectors that can read a single record override
    /// this; the default says it cannot, and the engine re-pulls instead.
    fn reparse(&self, raw: &str) -> Result<Vec<SourceRecord>, Rejected> {
        Err(Rejected {
            source_key: None,
            reason: "this connector cannot re-read a single record; re-pull from the start instead"
                .into(),
            raw: raw.to_owned(),
        })
    }
}

/// A boxed future, for [`DynConnector`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`Connector`] as a trait object, so an engine can hold connectors of different types.
/// Implemented for every connector.
pub trait DynConnector: Send + Sync {
    fn manifest(&self) -> Manifest;
    fn check(&self) -> BoxFuture<'_, Result<(), ConnectorError>>;
    fn pull<'a>(
        &'a self,
        cursor: Option<&'a Cursor>,
    ) -> BoxFuture<'a, Result<Batch, ConnectorError>>;
    fn reparse(&self, raw: &str) -> Result<Vec<SourceRecord>, Rejected>;
}

impl<C: Connector> DynConnector for C {
    fn manifest(&self) -> Manifest {
        Connector::manifest(self)
    }

    fn check(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(Connector::check(self))
    }

    fn pull<'a>(
        &'a self,
        cursor: Option<&'a Cursor>,
    ) -> BoxFuture<'a, Result<Batch, ConnectorError>> {
        Box::pin(Connector::pull(self, cursor))
    }

    fn reparse(&self, raw: &str) -> Result<Vec<SourceRecord>, Rejected> {
        Connector::reparse(self, raw)
    }
}
