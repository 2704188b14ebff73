//! What administrators see of the sync engine: connectors, runs and the quarantine. No
//! personal data: record payloads never leave the hub this way, and source keys (which can
//! embed a UPN or a local authority id) only to a data protection officer.

use chrono::{DateTime, Utc};

use super::{GateError, RequestGate};
use crate::model::Role;
use crate::store::sync as rows;

/// A configured connector, as the API is told at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Configured {
    pub id: String,
    pub kind: String,
    pub enabled: bool,
    pub schedule_seconds: Option<u64>,
}

/// One sync run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunView {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: String,
    pub batches: i64,
    pub new: i64,
    pub changed: i64,
    pub unchanged: i64,
    pub quarantined: i64,
    pub retries: i64,
    pub error: Option<String>,
}

/// A connector's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectorView {
    pub configured: Configured,
    pub records: u64,
    pub open_quarantine: u64,
    pub cursor_stored: bool,
    pub runs: Vec<RunView>,
}

/// A quarantined record, without its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuarantineView {
    pub id: String,
    pub connector: String,
    /// Only for a data protection officer.
    pub source_key: Option<String>,
    pub reason: String,
    pub received_at: DateTime<Utc>,
    pub attempts: i32,
    pub state: String,
}

fn run_view(r: rows::Run) -> RunView {
    RunView {
        id: r.id.to_string(),
        started_at: r.started_at,
        finished_at: r.finished_at,
        status: r.status,
        batches: r.batches,
        new: r.new,
        changed: r.changed,
        unchanged: r.unchanged,
        quarantined: r.quarantined,
        retries: r.retries,
        error: r.error,
    }
}

impl RequestGate {
    pub(super) fn require_admin(&self, what: &str) -> Result<(), GateError> {
        let p = self.principal();
        if p.has_role(Role::SystemAdmin) || p.has_role(Role::Dpo) {
            Ok(())
        } else {
            Err(GateError::Forbidden(format!(
                "`{what}` needs the system_admin or dpo role"
            )))
        }
    }

    /// The configured connectors with their latest runs.
    pub async fn connectors(
        &self,
        configured: &[Configured],
        runs: u64,
    ) -> Result<Vec<ConnectorView>, GateError> {
        self.require_admin("connectors")?;
        let conn = self.inner.store.conn();
        let mut out = Vec::with_capacity(configured.len());
        for c in configured {
            out.push(ConnectorView {
                configured: c.clone(),
                records: rows::record_count(conn, &c.id).await?,
                open_quarantine: rows::quarantined(conn, Some(&c.id), true, 1_000_000)
                    .await?
                    .len() as u64,
                cursor_stored: rows::cursor(conn, &c.id).await?.is_some(),
                runs: rows::runs(conn, Some(&c.id), runs)
                    .await?
                    .into_iter()
                    .map(run_view)
                    .collect(),
            });
        }
        Ok(out)
    }

    /// Quarantine entries, newest first.
    pub async fn quarantine(
        &self,
        connector: Option<&str>,
        include_resolved: bool,
        first: u64,
    ) -> Result<Vec<QuarantineView>, GateError> {
        self.require_admin("quarantine")?;
        let show_keys = self.principal().has_role(Role::Dpo);
        let items =
            rows::quarantined(self.inner.store.conn(), connector, !include_resolved, first).await?;
        Ok(items
            .into_iter()
            .map(|q| QuarantineView {
                id: q.id.to_string(),
                connector: q.connector,
                source_key: q.source_key.filter(|_| show_keys),
                reason: q.reason,
                received_at: q.received_at,
                attempts: q.attempts,
                state: q.state,
            })
            .collect())
    }
}
