//! Operations views for administrators: connectors, their runs, and the quarantine.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::errors::gate_failed;
use super::person::gate;
use crate::gate::admin::{Configured, ConnectorView, QuarantineView, RunView};

/// The connectors this hub is configured with (schema data set at start).
#[derive(Clone, Debug, Default)]
pub struct ConfiguredConnectors(pub Vec<Configured>);

/// One sync run.
#[derive(SimpleObject)]
pub struct SyncRun {
    pub id: ID,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `ok` or `failed`.
    pub status: String,
    pub batches: i64,
    pub records_new: i64,
    pub records_changed: i64,
    pub records_unchanged: i64,
    pub records_quarantined: i64,
    pub retries: i64,
    /// Why it failed.
    pub error: Option<String>,
}

impl From<RunView> for SyncRun {
    fn from(r: RunView) -> Self {
        Self {
            id: ID(r.id),
            started_at: r.started_at,
            finished_at: r.finished_at,
            status: r.status,
            batches: r.batches,
            records_new: r.new,
            records_changed: r.changed,
            records_unchanged: r.unchanged,
            records_quarantined: r.quarantined,
            retries: r.retries,
            error: r.error,
        }
    }
}

/// A configured connector and how its syncs have gone.
#[derive(SimpleObject)]
pub struct ConnectorStatus {
    pub id: String,
    pub kind: String,
    pub enabled: bool,
    pub schedule_seconds: Option<u64>,
    /// Source records it has delivered.
    pub records: u64,
    /// Records waiting in quarantine.
    pub open_quarantine: u64,
    /// Whether the next sync resumes from a stored cursor.
    pub cursor_stored: bool,
    /// The latest runs, newest first.
    pub runs: Vec<SyncRun>,
}

impl From<ConnectorView> for ConnectorStatus {
    fn from(c: ConnectorView) -> Self {
        Self {
            id: c.configured.id,
            kind: c.configured.kind,
            enabled: c.configured.enabled,
            schedule_seconds: c.configured.schedule_seconds,
            records: c.records,
            open_quarantine: c.open_quarantine,
            cursor_stored: c.cursor_stored,
            runs: c.runs.into_iter().map(SyncRun::from).collect(),
        }
    }
}

/// A record a connector could not read. Its payload stays in the hub.
#[derive(SimpleObject)]
pub struct QuarantinedRecord {
    pub id: ID,
    pub connector: String,
    /// The source's key for the record; shown to a data protection officer only, since keys
    /// can embed a UPN or a local authority's child id.
    pub source_key: Option<String>,
    /// Why it was refused, naming the field.
    pub reason: String,
    pub received_at: DateTime<Utc>,
    pub attempts: i32,
    /// `open` or `resolved`.
    pub state: String,
}

impl From<QuarantineView> for QuarantinedRecord {
    fn from(q: QuarantineView) -> Self {
        Self {
            id: ID(q.id),
            connector: q.connector,
            source_key: q.source_key,
            reason: q.reason,
            received_at: q.received_at,
            attempts: q.attempts,
            state: q.state,
        }
    }
}

/// Administrators' queries, merged into the root.
#[derive(Default)]
pub struct AdminQuery;

#[Object]
impl AdminQuery {
    /// The configured connectors with their latest runs (system_admin or dpo).
    async fn connectors(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 5)] runs: u32,
    ) -> Result<Vec<ConnectorStatus>> {
        let configured = ctx
            .data_opt::<ConfiguredConnectors>()
            .cloned()
            .unwrap_or_default();
        let views = gate(ctx)?
            .connectors(&configured.0, u64::from(runs.min(100)))
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(views.into_iter().map(ConnectorStatus::from).collect())
    }

    /// Quarantined records, newest first (system_admin or dpo).
    async fn quarantine(
        &self,
        ctx: &Context<'_>,
        connector: Option<String>,
        #[graphql(default = false)] include_resolved: bool,
        #[graphql(default = 50)] first: u32,
    ) -> Result<Vec<QuarantinedRecord>> {
        let views = gate(ctx)?
            .quarantine(
                connector.as_deref(),
                include_resolved,
                u64::from(first.min(1_000)),
            )
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(views.into_iter().map(QuarantinedRecord::from).collect())
    }
}
