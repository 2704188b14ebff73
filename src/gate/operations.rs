//! Registered operations (trusted documents). Partner applications register the GraphQL
//! documents they run, each with an id, the application and who approved it; a hub with
//! `require_registered` runs nothing else, and every access-log entry names the registered
//! operation it ran, so the board reviews a few dozen named queries instead of free text.
//!
//! The registry keeps the operations in force in memory and re-reads the table when a lookup
//! misses and the copy is more than a few seconds old, so an operation registered by the CLI
//! or another hub is found without a restart, and an unregistered one costs no query each time.
//!
//! Limits: reads and writes the `registered_operations` table through `store`; knows nothing of
//! HTTP (the server resolves a request's document through [`Registry::resolve`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_graphql::parser::types::{DocumentOperations, OperationType};
use chrono::Utc;

use super::{GateError, RequestGate};
use crate::audit::query_hash;
use crate::model::Role;
use crate::store::operations::{self as rows, OperationRow};
use crate::store::{Store, StoreError};

/// How old the in-memory copy may be before a missed lookup reads the table again.
const REFRESH: Duration = Duration::from_secs(5);

/// The prefix of ids the hub derives from a document's hash.
const HASH_ID_PREFIX: &str = "sha256:";

/// An operation in force, as requests resolve it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    pub id: String,
    pub application: String,
    pub name: Option<String>,
    pub document: String,
}

/// An operation to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOperation {
    /// The id clients will send; `sha256:<hash of the document>` when `None`.
    pub id: Option<String>,
    pub application: String,
    pub document: String,
    pub approved_by: String,
}

/// Why operations could not be registered. Names the id or the problem, never a variable.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("operation {index}: {message}")]
    Invalid { index: usize, message: String },
    #[error("store unavailable")]
    Store(#[from] StoreError),
}

#[derive(Default)]
struct Cache {
    by_id: HashMap<String, Arc<Registered>>,
    by_hash: HashMap<String, Arc<Registered>>,
    loaded: Option<Instant>,
}

/// The operations registered on a store, with an in-memory copy of those in force.
pub struct Registry {
    store: Store,
    cache: RwLock<Cache>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

/// What a request's document turned out to be.
#[derive(Debug)]
pub enum Resolved {
    /// A registered operation in force.
    Registered(Arc<Registered>),
    /// A document that is not registered (or was withdrawn).
    Unregistered,
    /// A `documentId` that names nothing in force.
    UnknownId,
}

/// The name and kind of a document's one operation, or why it cannot be registered.
pub fn describe(document: &str) -> Result<(Option<String>, &'static str), String> {
    let doc = async_graphql::parser::parse_query(document)
        .map_err(|e| format!("the document does not parse: {e}"))?;
    let (name, op) = match &doc.operations {
        DocumentOperations::Single(op) => (None, op),
        DocumentOperations::Multiple(ops) => {
            let mut all = ops.iter();
            match (all.next(), all.next()) {
                (Some((name, op)), None) => (Some(name.to_string()), op),
                _ => return Err("register one operation per document".into()),
            }
        }
    };
    if name.is_none() {
        return Err("name the operation, so the board can tell it from the others".into());
    }
    let kind = match op.node.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => return Err("subscriptions are not served".into()),
    };
    Ok((name, kind))
}

/// Reads operations to register from a file's text: an Apollo persisted-query manifest
/// (`{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}, ...]}`)
/// when `manifest`, otherwise one GraphQL document.
pub fn read_operations(
    text: &str,
    manifest: bool,
    application: &str,
    approved_by: &str,
) -> Result<Vec<NewOperation>, String> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        format: String,
        operations: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        id: Option<String>,
        body: String,
    }
    let op = |id, document| NewOperation {
        id,
        application: application.to_owned(),
        document,
        approved_by: approved_by.to_owned(),
    };
    if manifest {
        let m: Manifest = serde_json::from_str(text).map_err(|e| format!("not a manifest: {e}"))?;
        if m.format != "apollo-persisted-query-manifest" {
            return Err(format!("unknown manifest format `{}`", m.format));
        }
        Ok(m.operations.into_iter().map(|e| op(e.id, e.body)).collect())
    } else {
        Ok(vec![op(None, text.to_owned())])
    }
}

impl Registry {
    /// The registry of a store; nothing is read until the first lookup.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            cache: RwLock::new(Cache::default()),
        }
    }

    fn cached(&self, id: Option<&str>, hash: &str) -> (Option<Arc<Registered>>, bool) {
        let cache = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let hit = match id {
            Some(id) => cache.by_id.get(id).cloned(),
            None => cache.by_hash.get(hash).cloned(),
        };
        let stale = cache.loaded.is_none_or(|at| at.elapsed() >= REFRESH);
        (hit, stale)
    }

    /// Reads the operations in force again.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let mut cache = Cache {
            loaded: Some(Instant::now()),
            ..Cache::default()
        };
        for r in rows::all(self.store.conn()).await? {
            if r.withdrawn_at.is_some() {
                continue;
            }
            let op = Arc::new(Registered {
                id: r.id,
                application: r.application,
                name: r.name,
                document: r.document,
            });
            cache.by_hash.insert(r.document_hash, Arc::clone(&op));
            cache.by_id.insert(op.id.clone(), op);
        }
        *self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = cache;
        Ok(())
    }

    /// Resolves a request's document: by `document_id` when the client sent one, otherwise by
    /// `text_hash`, the hash of its text.
    pub async fn resolve(
        &self,
        document_id: Option<&str>,
        text_hash: &str,
    ) -> Result<Resolved, StoreError> {
        let hash = match document_id {
            Some(id) => id.strip_prefix(HASH_ID_PREFIX).unwrap_or_default(),
            None => text_hash,
        };
        let (mut hit, stale) = self.cached(document_id, hash);
        if hit.is_none() && stale {
            self.reload().await?;
            hit = self.cached(document_id, hash).0;
        }
        // A hash-derived id the application did not choose still names its document.
        if hit.is_none() && document_id.is_some() && !hash.is_empty() {
            hit = self.cached(None, hash).0;
        }
        Ok(match (hit, document_id) {
            (Some(op), _) => Resolved::Registered(op),
            (None, Some(_)) => Resolved::UnknownId,
            (None, None) => Resolved::Unregistered,
        })
    }

    /// Registers operations after checking each one; a document or id already registered is
    /// kept as it was. Returns the ids that were added.
    pub async fn register(
        &self,
        ops: &[NewOperation],
        registered_by: &str,
    ) -> Result<Vec<String>, RegisterError> {
        let now = Utc::now();
        let mut rows_in = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            let invalid = |message: String| RegisterError::Invalid { index, message };
            let (name, kind) = describe(&op.document).map_err(invalid)?;
            if op.application.trim().is_empty() || op.approved_by.trim().is_empty() {
                return Err(invalid("name the application and who approved it".into()));
            }
            let hash = query_hash(&op.document);
            let id = op
                .id
                .clone()
                .filter(|id| !id.trim().is_empty())
                .unwrap_or_else(|| format!("{HASH_ID_PREFIX}{hash}"));
            if id.starts_with(HASH_ID_PREFIX) && id != format!("{HASH_ID_PREFIX}{hash}") {
                return Err(invalid(format!(
                    "id `{id}` claims a hash that is not the document's"
                )));
            }
            rows_in.push(OperationRow {
                id,
                application: op.application.trim().to_owned(),
                name,
                kind: kind.to_owned(),
                document: op.document.clone(),
                document_hash: hash,
                approved_by: op.approved_by.trim().to_owned(),
                registered_at: now,
                registered_by: registered_by.to_owned(),
                withdrawn_at: None,
            });
        }
        let added = rows::insert(self.store.conn(), &rows_in).await?;
        self.reload().await?;
        Ok(added)
    }

    /// Withdraws an operation: from now on it no longer runs on a hub that requires
    /// registration. False when no operation in force has the id.
    pub async fn withdraw(&self, id: &str) -> Result<bool, StoreError> {
        let done = rows::withdraw(self.store.conn(), id, Utc::now()).await?;
        self.reload().await?;
        Ok(done)
    }

    /// Every registered operation, with how often it ran and when it last did.
    pub async fn with_use(&self) -> Result<Vec<OperationUse>, StoreError> {
        let conn = self.store.conn();
        let mut uses = rows::uses(conn).await?;
        Ok(rows::all(conn)
            .await?
            .into_iter()
            .map(|row| {
                let (uses, last_used) = uses
                    .remove(&row.id)
                    .map_or((0, None), |(n, at)| (n, Some(at)));
                OperationUse {
                    row,
                    uses,
                    last_used,
                }
            })
            .collect())
    }
}

/// A registered operation and its use according to the access log.
#[derive(Clone, Debug)]
pub struct OperationUse {
    pub row: OperationRow,
    pub uses: u64,
    pub last_used: Option<chrono::DateTime<Utc>>,
}

impl RequestGate {
    /// The registered operations with their use: for the board, the DPO and administrators.
    pub async fn registered_operations(&self) -> Result<Vec<OperationUse>, GateError> {
        let p = self.principal();
        if ![Role::BoardMember, Role::Dpo, Role::SystemAdmin]
            .iter()
            .any(|r| p.has_role(*r))
        {
            return Err(GateError::Forbidden(
                "`registeredOperations` needs the board_member, dpo or system_admin role".into(),
            ));
        }
        self.act(serde_json::json!({ "action": "registered_operations_query" }));
        Ok(self.inner.gate.operations.with_use().await?)
    }

    /// Registers one operation for an application. Returns its id and whether it was new.
    pub async fn register_operation(&self, op: NewOperation) -> Result<(String, bool), GateError> {
        self.require_admin("registerOperation")?;
        let registry = &self.inner.gate.operations;
        let added = registry
            .register(std::slice::from_ref(&op), &self.principal().subject)
            .await
            .map_err(|e| match e {
                RegisterError::Invalid { message, .. } => GateError::Invalid(message),
                RegisterError::Store(e) => GateError::Store(e),
            })?;
        let id = match (added.first(), op.id) {
            (Some(id), _) => id.clone(),
            (None, Some(id)) => id,
            (None, None) => format!("{HASH_ID_PREFIX}{}", query_hash(&op.document)),
        };
        self.act(serde_json::json!({
            "action": "register_operation",
            "operation": id,
            "new": !added.is_empty(),
        }));
        Ok((id, !added.is_empty()))
    }

    /// Withdraws a registered operation.
    pub async fn withdraw_operation(&self, id: &str) -> Result<bool, GateError> {
        self.require_admin("withdrawOperation")?;
        let done = self.inner.gate.operations.withdraw(id).await?;
        self.act(serde_json::json!({
            "action": "withdraw_operation",
            "operation": id,
            "withdrawn": done,
        }));
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_must_hold_one_named_query_or_mutation() {
        assert_eq!(
            describe("query Child($id: ID!) { person(id: $id) { id } }"),
            Ok((Some("Child".into()), "query"))
        );
        assert_eq!(
            describe("mutation Withdraw { reloadProtocols }"),
            Ok((Some("Withdraw".into()), "mutation"))
        );
        assert!(describe("{ person(id: 1) { id } }").is_err());
        assert!(describe("query A { a } query B { b }").is_err());
        assert!(describe("subscription S { s }").is_err());
        assert!(describe("query {").is_err());
    }

    #[test]
    fn manifests_and_plain_documents_are_read() {
        let manifest = r#"{"format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{"id": "school-1", "name": "A", "type": "query", "body": "query A { a }"},
                           {"body": "query B { b }"}]}"#;
        let ops = read_operations(manifest, true, "school-portal", "DPO").unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].id.as_deref(), Some("school-1"));
        assert_eq!(ops[1].id, None);
        assert_eq!(ops[1].application, "school-portal");
        let plain = read_operations("query A { a }", false, "app", "DPO").unwrap();
        assert_eq!(plain[0].document, "query A { a }");
        // A document in shorthand form is a document, not a manifest.
        let shorthand = read_operations("{ a }", false, "app", "DPO").unwrap();
        assert_eq!(shorthand[0].document, "{ a }");
        assert!(
            read_operations(r#"{"format": "other", "operations": []}"#, true, "a", "b").is_err()
        );
    }
}
