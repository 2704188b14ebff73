//! The purpose of use: required for personal data, checked against the catalogue.

use kinship::model::Role;
use serde_json::json;

use crate::helpers::{on_each_backend, principal, spawn_app};

#[tokio::test]
async fn a_read_of_personal_data_without_a_purpose_is_refused_naming_the_header() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 10).await;
        let child = app
            .population
            .persons
            .iter()
            .find(|p| p.is_child)
            .unwrap()
            .id;
        let sw = principal("sw-0001", "local_authority:999", Role::SocialWorker);
        let reply = app
            .query(
                &sw,
                None,
                "query($id: ID!) { person(id: $id) { names { given } } }",
                json!({ "id": child.to_string() }),
            )
            .await;
        assert_eq!(reply.status, 400, "{:?}", reply.body);
        assert_eq!(reply.codes(), vec!["PURPOSE_REQUIRED"]);
        let message = reply.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("Kinship-Purpose"), "{message}");
        assert!(reply.body.get("data").is_none());
        assert!(
            app.log().await.is_empty(),
            "nothing was read, so nothing is logged"
        );
    })
    .await;
}

#[tokio::test]
async fn a_request_that_reads_no_personal_data_needs_no_purpose() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 5).await;
        let sw = principal("sw-0001", "local_authority:999", Role::SocialWorker);
        let reply = app
            .query(&sw, None, "{ me { subject purpose } }", json!({}))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(
            reply.body["data"]["me"],
            json!({ "subject": "sw-0001", "purpose": null })
        );
    })
    .await;
}

#[tokio::test]
async fn an_unknown_purpose_is_refused_listing_the_known_ones() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 5).await;
        let sw = principal("sw-0001", "local_authority:999", Role::SocialWorker);
        for bad in ["curiosity", "SAFEGUARDING", ""] {
            let reply = app
                .query(&sw, Some(bad), "{ me { subject } }", json!({}))
                .await;
            assert_eq!(reply.status, 400, "purpose {bad:?}: {:?}", reply.body);
            assert_eq!(reply.codes(), vec!["PURPOSE_UNKNOWN"], "purpose {bad:?}");
            let message = reply.body["errors"][0]["message"].as_str().unwrap();
            assert!(
                message.contains("Kinship-Purpose") && message.contains("early_help"),
                "{message}"
            );
        }
    })
    .await;
}
