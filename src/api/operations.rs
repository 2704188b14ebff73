//! Registered operations in GraphQL: the board's list with each one's use, and registration
//! and withdrawal for administrators.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::errors::gate_failed;
use super::person::gate;
use crate::gate::operations::{NewOperation, OperationUse};

/// A GraphQL document a partner application registered, and how often it ran.
#[derive(SimpleObject)]
pub struct RegisteredOperation {
    /// The id clients send as `documentId`.
    pub id: ID,
    pub application: String,
    /// The operation's name in the document.
    pub name: Option<String>,
    /// `query` or `mutation`.
    pub kind: String,
    pub document: String,
    pub approved_by: String,
    pub registered_at: DateTime<Utc>,
    pub registered_by: String,
    /// Set once withdrawn: it no longer runs where registration is required.
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Access-log entries that name it.
    pub uses: u64,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<OperationUse> for RegisteredOperation {
    fn from(u: OperationUse) -> Self {
        let r = u.row;
        Self {
            id: ID(r.id),
            application: r.application,
            name: r.name,
            kind: r.kind,
            document: r.document,
            approved_by: r.approved_by,
            registered_at: r.registered_at,
            registered_by: r.registered_by,
            withdrawn_at: r.withdrawn_at,
            uses: u.uses,
            last_used_at: u.last_used,
        }
    }
}

/// The board's view of registered operations.
#[derive(Default)]
pub struct OperationsQuery;

#[Object]
impl OperationsQuery {
    /// Registered operations with their use, most used first (board_member, dpo,
    /// system_admin). Withdrawn ones are left out unless asked for.
    async fn registered_operations(
        &self,
        ctx: &Context<'_>,
        application: Option<String>,
        #[graphql(default = false)] include_withdrawn: bool,
    ) -> Result<Vec<RegisteredOperation>> {
        let mut ops = gate(ctx)?
            .registered_operations()
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        ops.retain(|u| {
            (include_withdrawn || u.row.withdrawn_at.is_none())
                && application.as_ref().is_none_or(|a| &u.row.application == a)
        });
        ops.sort_by(|a, b| b.uses.cmp(&a.uses).then_with(|| a.row.id.cmp(&b.row.id)));
        Ok(ops.into_iter().map(Into::into).collect())
    }
}

/// Registration and withdrawal of operations.
#[derive(Default)]
pub struct OperationsMutation;

#[Object]
impl OperationsMutation {
    /// Registers a document an application will run (system_admin, dpo): one named query or
    /// mutation, with who approved it. Its id is `sha256:<hash of the document>` unless one is
    /// given. Registering a document again changes nothing and returns its id.
    async fn register_operation(
        &self,
        ctx: &Context<'_>,
        application: String,
        document: String,
        approved_by: String,
        id: Option<String>,
    ) -> Result<ID> {
        let (id, _) = gate(ctx)?
            .register_operation(NewOperation {
                id,
                application,
                document,
                approved_by,
            })
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(ID(id))
    }

    /// Withdraws a registered operation (system_admin, dpo). False when none in force has
    /// the id.
    async fn withdraw_operation(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        gate(ctx)?
            .withdraw_operation(id.as_str())
            .await
            .map_err(|e| gate_failed(ctx, &e))
    }
}
