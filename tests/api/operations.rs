//! Registered operations (trusted documents), through the real server: a strict hub runs only
//! what was registered, by text or by id; every entry names the operation it ran; the board
//! counts their use; a withdrawn operation stops running.

use kinship::audit::{AccessLog, query_hash};
use kinship::gate::operations::{NewOperation, Registry};
use kinship::model::Role;
use serde_json::{Value, json};

use crate::golden::{LA, S1, world};
use crate::helpers::{on_each_backend, principal, spawn_configured, spawn_with};

const FACTS: &str =
    "query SchoolFacts($id: ID!) { person(id: $id) { facts { items { id } withheld } } }";
const LIST: &str = "query BoardOperations($all: Boolean!) { registeredOperations(includeWithdrawn: $all) { id application name kind approvedBy uses lastUsedAt withdrawnAt } }";
const WITHDRAW: &str = "mutation Withdraw($id: ID!) { withdrawOperation(id: $id) }";
const BY_OPERATION: &str = "query BoardLogByOperation($op: String!) { accessLog(filter: { registeredOperation: $op }) { entries { seq operationName registeredOperation } } }";

fn op(application: &str, document: &str) -> NewOperation {
    NewOperation {
        id: None,
        application: application.into(),
        document: document.into(),
        approved_by: "Anyshire ISP board, 2026-11-02".into(),
    }
}

#[tokio::test]
async fn a_strict_hub_runs_registered_operations_only_and_the_log_names_them() {
    on_each_backend(|db| async move {
        let w = world();
        let app = spawn_configured(db, w.pop.clone(), |c| c.graphql.require_registered = true).await;
        // Registered the way `kinship operations register` does, before the hub's first request.
        let registry = Registry::new(app.store.clone());
        let added = registry
            .register(
                &[
                    op("school-portal", FACTS),
                    op("board-console", LIST),
                    op("board-console", BY_OPERATION),
                    op("kinship-admin", WITHDRAW),
                ],
                "cli:test",
            )
            .await
            .unwrap();
        let facts_id = format!("sha256:{}", query_hash(FACTS));
        assert_eq!(added[0], facts_id);
        assert_eq!(added.len(), 4);
        // Registering again adds nothing.
        assert!(registry.register(&[op("school-portal", FACTS)], "cli:test").await.unwrap().is_empty());

        let dsl = principal("dsl-1", S1, Role::Dsl);
        let c3 = w.c["C3"].to_string();
        let token = app.token(&dsl);

        // Free text is refused before it runs, and nothing is logged.
        let free = "query Mine($id: ID!) { person(id: $id) { facts { items { id } } } }";
        let reply = app.query(&dsl, Some("safeguarding"), free, json!({ "id": c3 })).await;
        assert_eq!(reply.status, 403, "{:?}", reply.body);
        assert_eq!(reply.codes(), ["OPERATION_NOT_REGISTERED"]);
        assert!(reply.body.get("data").is_none());
        assert!(app.log().await.is_empty());

        // The registered text, its id, and Apollo's hash extension all run.
        let by_text = app.query(&dsl, Some("safeguarding"), FACTS, json!({ "id": c3 })).await;
        assert_eq!(by_text.status, 200, "{:?}", by_text.body);
        let items = &by_text.body["data"]["person"]["facts"]["items"];
        assert!(!items.as_array().unwrap().is_empty(), "{:?}", by_text.body);
        let by_id = app
            .post(Some(&token), Some("safeguarding"), &[], json!({ "documentId": facts_id, "variables": { "id": c3 } }))
            .await;
        assert_eq!(by_id.body["data"], by_text.body["data"]);
        let apq = json!({ "variables": { "id": c3 }, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": query_hash(FACTS) } } });
        let by_hash = app.post(Some(&token), Some("safeguarding"), &[], apq).await;
        assert_eq!(by_hash.body["data"], by_text.body["data"]);
        let get = app
            .client
            .get(&app.url)
            .query(&[("documentId", facts_id.clone()), ("variables", json!({ "id": c3 }).to_string())])
            .bearer_auth(&token)
            .header("Kinship-Purpose", "safeguarding")
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), 200);
        let get: Value = get.json().await.unwrap();
        assert_eq!(get["data"], by_text.body["data"]);

        // An id that names nothing.
        let unknown = app
            .post(Some(&token), Some("safeguarding"), &[], json!({ "documentId": "sha256:00ff" }))
            .await;
        assert_eq!(unknown.status, 400);
        assert_eq!(unknown.codes(), ["PERSISTED_DOCUMENT_NOT_FOUND"]);

        // Every entry names the operation, and its name even when only the id was sent.
        let log = app.log().await;
        assert_eq!(log.len(), 4);
        for e in &log {
            assert_eq!(e.registered_operation.as_deref(), Some(facts_id.as_str()));
            assert_eq!(e.operation_name.as_deref(), Some("SchoolFacts"));
        }

        // The board sees each operation's use, and filters the log by it.
        let board = principal("board-1", LA, Role::BoardMember);
        let list = app.query(&board, Some("audit"), LIST, json!({ "all": false })).await;
        assert!(list.body.get("errors").is_none(), "{:?}", list.body);
        let ops = list.body["data"]["registeredOperations"].as_array().unwrap().clone();
        assert_eq!(ops.len(), 4);
        assert_eq!(ops[0]["id"], facts_id.as_str(), "most used first");
        assert_eq!(ops[0]["uses"], 4);
        assert_eq!(ops[0]["name"], "SchoolFacts");
        assert_eq!(ops[0]["application"], "school-portal");
        assert_eq!(ops[0]["approvedBy"], "Anyshire ISP board, 2026-11-02");
        assert!(ops[0]["lastUsedAt"].is_string());
        let unused = ops.iter().find(|o| o["name"] == "Withdraw").unwrap();
        assert_eq!(unused["uses"], 0);
        assert!(unused["lastUsedAt"].is_null());
        let filtered = app.query(&board, Some("audit"), BY_OPERATION, json!({ "op": facts_id })).await;
        let entries = filtered.body["data"]["accessLog"]["entries"].as_array().unwrap().clone();
        assert_eq!(entries.len(), 4, "{:?}", filtered.body);

        // Withdrawn: neither its text nor its id runs any more.
        let admin = principal("admin-1", LA, Role::SystemAdmin);
        let withdrawn = app.query(&admin, None, WITHDRAW, json!({ "id": facts_id })).await;
        assert_eq!(withdrawn.body["data"]["withdrawOperation"], true, "{:?}", withdrawn.body);
        let again = app.query(&dsl, Some("safeguarding"), FACTS, json!({ "id": c3 })).await;
        assert_eq!(again.codes(), ["OPERATION_NOT_REGISTERED"]);
        let again = app
            .post(Some(&token), Some("safeguarding"), &[], json!({ "documentId": facts_id, "variables": { "id": c3 } }))
            .await;
        assert_eq!(again.codes(), ["PERSISTED_DOCUMENT_NOT_FOUND"]);
        let list = app.query(&board, Some("audit"), LIST, json!({ "all": true })).await;
        let ops = list.body["data"]["registeredOperations"].as_array().unwrap().clone();
        let facts = ops.iter().find(|o| o["id"] == facts_id.as_str()).unwrap();
        assert!(facts["withdrawnAt"].is_string(), "{facts}");
        let list = app.query(&board, Some("audit"), LIST, json!({ "all": false })).await;
        assert_eq!(list.body["data"]["registeredOperations"].as_array().unwrap().len(), 3);

        // The chain, with the operations named in it, verifies.
        let report = AccessLog::new(app.store.clone()).verify(1).await.unwrap();
        assert!(report.is_intact(), "{report:?}");
    })
    .await;
}

#[tokio::test]
async fn an_open_hub_runs_free_text_and_administrators_register_through_graphql() {
    on_each_backend(|db| async move {
        let w = world();
        let app = spawn_with(db, w.pop.clone()).await;
        let dsl = principal("dsl-1", S1, Role::Dsl);
        let admin = principal("admin-1", LA, Role::SystemAdmin);
        let c3 = w.c["C3"].to_string();
        let register = "mutation($app: String!, $doc: String!, $by: String!, $id: String) { registerOperation(application: $app, document: $doc, approvedBy: $by, id: $id) }";

        // Free text runs where registration is not required, and names no operation.
        let reply = app.query(&dsl, Some("safeguarding"), FACTS, json!({ "id": c3 })).await;
        assert_eq!(reply.status, 200);
        assert_eq!(app.log().await[0].registered_operation, None);

        // Only administrators register, and only a named single operation that parses.
        let vars = json!({ "app": "school-portal", "doc": FACTS, "by": "DPO", "id": "school-facts-v1" });
        let refused = app.query(&dsl, None, register, vars.clone()).await;
        assert_eq!(refused.codes(), ["FORBIDDEN"]);
        let anonymous = json!({ "app": "school-portal", "doc": "{ me { subject } }", "by": "DPO" });
        let bad = app.query(&admin, None, register, anonymous).await;
        assert_eq!(bad.codes(), ["BAD_USER_INPUT"]);
        let ok = app.query(&admin, None, register, vars).await;
        assert_eq!(ok.body["data"]["registerOperation"], "school-facts-v1", "{:?}", ok.body);

        // The same text now runs as the registered operation, found by its hash, and by the
        // id the application chose.
        app.query(&dsl, Some("safeguarding"), FACTS, json!({ "id": c3 })).await;
        let token = app.token(&dsl);
        let by_id = app
            .post(Some(&token), Some("safeguarding"), &[], json!({ "documentId": "school-facts-v1", "variables": { "id": c3 } }))
            .await;
        assert_eq!(by_id.status, 200, "{:?}", by_id.body);
        let log = app.log().await;
        let named: Vec<_> = log.iter().filter_map(|e| e.registered_operation.as_deref()).collect();
        assert_eq!(named, ["school-facts-v1", "school-facts-v1"]);
        // Registering is itself an action in the log.
        assert!(log.iter().any(|e| e.reads["actions"].to_string().contains("register_operation")));
    })
    .await;
}
