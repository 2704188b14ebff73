//! Registered operations (trusted documents) and how often the access log says each ran.
//! Registration inserts; withdrawal only stamps `withdrawn_at`, so the log's references to an
//! operation always resolve to the document that ran.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};

use super::StoreError;
use super::entity::{access_log, registered_operations as ops};

/// One registered operation as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationRow {
    /// The id clients send as `documentId` (`sha256:<hash>` unless the application chose one).
    pub id: String,
    pub application: String,
    /// The operation's name in the document.
    pub name: Option<String>,
    /// `query` or `mutation`.
    pub kind: String,
    pub document: String,
    /// SHA-256 of the document text, hex.
    pub document_hash: String,
    pub approved_by: String,
    pub registered_at: DateTime<Utc>,
    pub registered_by: String,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl From<ops::Model> for OperationRow {
    fn from(m: ops::Model) -> Self {
        Self {
            id: m.id,
            application: m.application,
            name: m.name,
            kind: m.kind,
            document: m.document,
            document_hash: m.document_hash,
            approved_by: m.approved_by,
            registered_at: m.registered_at,
            registered_by: m.registered_by,
            withdrawn_at: m.withdrawn_at,
        }
    }
}

/// Every registered operation, withdrawn ones included, oldest first.
pub async fn all(conn: &impl ConnectionTrait) -> Result<Vec<OperationRow>, StoreError> {
    Ok(ops::Entity::find()
        .order_by_asc(ops::Column::RegisteredAt)
        .order_by_asc(ops::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Registers operations in one transaction. An operation whose id or document is already
/// registered is left as it is; returns the ids that were new.
pub async fn insert(
    conn: &sea_orm::DatabaseConnection,
    rows: &[OperationRow],
) -> Result<Vec<String>, StoreError> {
    let txn = super::begin_write(conn).await?;
    let mut added = Vec::new();
    for r in rows {
        let exists = ops::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(ops::Column::Id.eq(r.id.clone()))
                    .add(ops::Column::DocumentHash.eq(r.document_hash.clone())),
            )
            .one(&txn)
            .await?
            .is_some();
        if exists {
            continue;
        }
        ops::Entity::insert(ops::ActiveModel {
            id: Set(r.id.clone()),
            application: Set(r.application.clone()),
            name: Set(r.name.clone()),
            kind: Set(r.kind.clone()),
            document: Set(r.document.clone()),
            document_hash: Set(r.document_hash.clone()),
            approved_by: Set(r.approved_by.clone()),
            registered_at: Set(r.registered_at),
            registered_by: Set(r.registered_by.clone()),
            withdrawn_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await?;
        added.push(r.id.clone());
    }
    txn.commit().await?;
    Ok(added)
}

/// Withdraws an operation from `at` on. False when there is no such operation still in use.
pub async fn withdraw(
    conn: &impl ConnectionTrait,
    id: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let r = ops::Entity::update_many()
        .col_expr(ops::Column::WithdrawnAt, Expr::value(at))
        .filter(ops::Column::Id.eq(id))
        .filter(ops::Column::WithdrawnAt.is_null())
        .exec(conn)
        .await?;
    Ok(r.rows_affected > 0)
}

/// How often each registered operation ran (by the access log) and when it last did.
pub async fn uses(
    conn: &impl ConnectionTrait,
) -> Result<HashMap<String, (u64, DateTime<Utc>)>, StoreError> {
    let rows: Vec<(Option<String>, i64, Option<DateTime<Utc>>)> = access_log::Entity::find()
        .select_only()
        .column(access_log::Column::RegisteredOperation)
        .column_as(access_log::Column::Seq.count(), "uses")
        .column_as(access_log::Column::At.max(), "last")
        .filter(access_log::Column::RegisteredOperation.is_not_null())
        .group_by(access_log::Column::RegisteredOperation)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, n, last)| Some((id?, (u64::try_from(n).unwrap_or(0), last?))))
        .collect())
}
