//! GraphQL over HTTP as the specification prescribes: media types, methods and status codes.

use kinship::model::{InvolvementKind, Role};
use serde_json::json;

use crate::helpers::{on_each_backend, principal, reply, spawn_app};
use crate::reads::involved;

#[tokio::test]
async fn media_types_methods_and_status_codes_follow_the_specification() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 10).await;
        let sw = principal("sw-0001", "local_authority:999", Role::SocialWorker);
        let token = app.token(&sw);
        let call = |method: reqwest::Method,
                    accept: Option<&'static str>,
                    body: Option<&'static str>,
                    query: Option<&'static str>| {
            let mut req = app
                .client
                .request(method, &app.url)
                .bearer_auth(&token)
                .header("Kinship-Purpose", "safeguarding");
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if let Some(b) = body {
                req = req.header("Content-Type", "application/json").body(b);
            }
            if let Some(q) = query {
                req = req.query(&[("query", q)]);
            }
            async move { reply(req.send().await.unwrap()).await }
        };
        let gr = Some("application/graphql-response+json");
        let ok = r#"{"query":"{ me { subject } }"}"#;

        let r = call(reqwest::Method::POST, gr, Some(ok), None).await;
        assert_eq!(
            (r.status, r.content_type.as_str()),
            (200, "application/graphql-response+json; charset=utf-8")
        );
        assert_eq!(r.body["data"]["me"]["subject"], "sw-0001");
        assert!(
            r.request_id.is_some(),
            "every response carries a request id"
        );

        let r = call(reqwest::Method::POST, None, Some(ok), None).await;
        assert_eq!(
            (r.status, r.content_type.as_str()),
            (200, "application/json; charset=utf-8"),
            "no Accept: legacy JSON"
        );

        let r = call(reqwest::Method::GET, gr, None, Some("{ me { subject } }")).await;
        assert_eq!(r.status, 200, "queries over GET: {:?}", r.body);
        assert_eq!(r.body["data"]["me"]["subject"], "sw-0001");

        let r = call(
            reqwest::Method::GET,
            gr,
            None,
            Some("mutation { me { subject } }"),
        )
        .await;
        assert_eq!(r.status, 405, "mutations never over GET");

        // A document that does not parse or validate is a request error: 400 and no `data`
        // for the new media type, 200 for legacy JSON.
        let r = call(
            reqwest::Method::POST,
            gr,
            Some(r#"{"query":"{ me { "}"#),
            None,
        )
        .await;
        assert_eq!(r.status, 400);
        assert!(r.body.get("data").is_none() && r.body["errors"].is_array());
        let r = call(
            reqwest::Method::POST,
            gr,
            Some(r#"{"query":"{ nosuchfield }"}"#),
            None,
        )
        .await;
        assert_eq!(r.status, 400);
        assert!(r.body.get("data").is_none());
        let r = call(
            reqwest::Method::POST,
            Some("application/json"),
            Some(r#"{"query":"{ nosuchfield }"}"#),
            None,
        )
        .await;
        assert_eq!(r.status, 200);

        let r = call(reqwest::Method::POST, gr, Some(r#"{"nope": 1}"#), None).await;
        assert_eq!(
            (r.status, r.codes()),
            (400, vec!["BAD_REQUEST".to_string()])
        );
        let r = call(reqwest::Method::POST, Some("text/csv"), Some(ok), None).await;
        assert_eq!(r.status, 406);
        let r = app
            .client
            .post(&app.url)
            .bearer_auth(&token)
            .header("Kinship-Purpose", "safeguarding")
            .header("Content-Type", "text/plain")
            .body(ok)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 415);
    })
    .await;
}

#[tokio::test]
async fn operations_that_are_too_deep_complex_or_aliased_are_refused() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 10).await;
        let (sw, child) = involved(&app.population, InvolvementKind::AllocatedSocialWorker, None);
        let accept = [("Accept", "application/graphql-response+json")];
        let deep = "query($id: ID!) { person(id: $id) { families { members { items { person { families { members { items { person { families { members { items { person { id } } } } } } } } } } } } } }";
        let aliases: String = (0..40).map(|i| format!("a{i}: me {{ subject }} ")).collect();
        let big = "query($id: ID!) { person(id: $id) { facts(first: 500) { items { id agency category kind occurredAt recordedAt summary payload organisation { id name } } } timeline(first: 500) { entries { kind occurredAt summary category } } } }";
        for (name, q) in [("depth", deep.to_string()), ("aliases", format!("{{ {aliases} }}")), ("complexity", big.to_string())] {
            let r = app
                .post(Some(&app.token(&sw)), Some("safeguarding"), &accept, json!({ "query": q, "variables": { "id": child.to_string() } }))
                .await;
            assert_eq!(r.status, 400, "{name}: {:?}", r.body);
            assert!(r.body.get("data").is_none(), "{name}");
        }
        assert!(app.log().await.is_empty(), "refused operations read nothing");
    })
    .await;
}

#[tokio::test]
async fn health_readiness_and_graphiql_answer() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 5).await;
        let get = |path: &str, accept: &str| {
            app.client
                .get(format!("{}{path}", app.base))
                .header("Accept", accept)
                .send()
        };
        let r = get("/healthz", "*/*").await.unwrap();
        assert_eq!(
            (r.status().as_u16(), r.text().await.unwrap()),
            (200, "ok".to_string())
        );
        let r = get("/readyz", "*/*").await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let r = get("/graphql", "text/html").await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.text().await.unwrap().contains("graphiql"));
        let r = get("/metrics", "*/*").await.unwrap();
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("kinship_db_statements_total")
        );
    })
    .await;
}
