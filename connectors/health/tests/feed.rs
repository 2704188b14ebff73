//! The feed as a FHIR server: its CapabilityStatement, searchset paging, the `_lastUpdated`
//! filter and its OperationOutcomes.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "support/harness.rs"]
mod support;

use kinship_connector_health::feed::Feed;
use serde_json::Value;

async fn get(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/fhir+json"),
        "{content_type}"
    );
    (
        status,
        serde_json::from_str(&r.text().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn metadata_is_an_r4_capability_statement() {
    let url = support::serve(Feed::new(support::envelopes()).router()).await;
    let (status, body) = get(&format!("{url}/metadata")).await;
    assert_eq!(status, 200);
    assert_eq!(body["resourceType"], "CapabilityStatement");
    assert_eq!(body["fhirVersion"], "4.0.1");
}

#[tokio::test]
async fn searches_page_oldest_first_and_follow_next_links_to_the_end() {
    let url = support::serve(Feed::new(support::envelopes()).router()).await;
    let mut next = Some(format!("{url}/Patient?_sort=_lastUpdated&_count=4"));
    let mut seen = Vec::new();
    while let Some(page) = next {
        let (status, body) = get(&page).await;
        assert_eq!(status, 200);
        assert_eq!(body["type"], "searchset");
        for e in body["entry"].as_array().unwrap() {
            assert_eq!(e["search"]["mode"], "match");
            let id = e["resource"]["id"].as_str().unwrap();
            assert_eq!(e["fullUrl"], format!("{url}/Patient/{id}"));
            seen.push(
                e["resource"]["meta"]["lastUpdated"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        next = body["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .map(|l| l["url"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen.len(), support::envelopes().len());
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "oldest first");
}

#[tokio::test]
async fn last_updated_ge_returns_only_what_changed_since() {
    let url = support::serve(Feed::new(support::envelopes()).router()).await;
    let (_, all) = get(&format!("{url}/Encounter?_count=100")).await;
    let times: Vec<&str> = all["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["meta"]["lastUpdated"].as_str().unwrap())
        .collect();
    let pivot = times[times.len() / 2];
    let (_, since) = get(&format!(
        "{url}/Encounter?_lastUpdated=ge{pivot}&_count=100"
    ))
    .await;
    let expected = times.iter().filter(|t| **t >= pivot).count();
    assert_eq!(since["entry"].as_array().unwrap().len(), expected);
    let (_, after) = get(&format!(
        "{url}/Encounter?_lastUpdated=gt{pivot}&_count=100"
    ))
    .await;
    assert_eq!(after["entry"].as_array().unwrap().len(), expected - 1);
}

#[tokio::test]
async fn unsupported_searches_answer_operation_outcomes() {
    let url = support::serve(Feed::new(support::envelopes()).router()).await;
    for (path, status, code) in [
        ("/Observation", 404, "not-supported"),
        ("/Patient?_sort=-_lastUpdated", 400, "invalid"),
        ("/Patient?_lastUpdated=le2025-01-01", 400, "invalid"),
        ("/Patient?_page=not-a-token", 400, "invalid"),
        ("/Patient?_count=many", 400, "invalid"),
    ] {
        let (got, body) = get(&format!("{url}{path}")).await;
        assert_eq!(got, status, "{path}");
        assert_eq!(body["resourceType"], "OperationOutcome", "{path}");
        assert_eq!(body["issue"][0]["code"], code, "{path}");
    }
}

#[tokio::test]
async fn upsert_bumps_version_and_last_updated() {
    let envelopes = support::envelopes();
    let feed = Feed::new(envelopes.clone());
    let url = support::serve(feed.router()).await;
    let (_, before) = get(&format!("{url}/Patient?_count=100")).await;
    let latest = before["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["resource"]["meta"]["lastUpdated"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .max()
        .unwrap();
    // Nobody's RelatedPerson renders the acute trust's record of Amelia: it alone changes.
    let amelia = envelopes
        .iter()
        .find(|e| e.source_key == "RX1/pat-000001")
        .unwrap();
    feed.upsert(vec![amelia.clone()]);
    let (_, after) = get(&format!("{url}/Patient?_lastUpdated=gt{latest}")).await;
    let entries = after["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["resource"]["meta"]["versionId"], "2");
    assert_eq!(entries[0]["resource"]["id"], "RX1.2Fpat-000001");

    // The GP's record of Daniel is rendered in his children's RelatedPersons: their records
    // change with his.
    let daniel = envelopes
        .iter()
        .find(|e| e.source_key == "Y99001/pat-000003")
        .unwrap();
    let mut renamed = daniel.clone();
    renamed.identity.names[0].given = "Dan".into();
    let latest = entries[0]["resource"]["meta"]["lastUpdated"]
        .as_str()
        .unwrap()
        .to_owned();
    feed.upsert(vec![renamed]);
    let (_, after) = get(&format!("{url}/RelatedPerson?_lastUpdated=gt{latest}")).await;
    let given: Vec<&str> = after["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["relationship"][0]["coding"][0]["code"] == "FTH")
        .map(|e| e["resource"]["name"][0]["given"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        given,
        ["Dan", "Dan"],
        "both children's RelatedPersons for him"
    );
}

#[tokio::test]
async fn links_keep_the_prefix_the_feed_is_nested_under() {
    let feed = Feed::new(support::envelopes());
    let url = support::serve(axum::Router::new().nest("/health", feed.router())).await;
    let (_, body) = get(&format!("{url}/health/Patient?_count=2")).await;
    let next = body["link"][1]["url"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{url}/health/Patient?")),
        "{next}"
    );
    let full = body["entry"][0]["fullUrl"].as_str().unwrap();
    assert!(
        full.starts_with(&format!("{url}/health/Patient/")),
        "{full}"
    );
    let c = support::connector(&format!("{url}/health"), 2);
    let pulled = support::pull_all(&c, None).await;
    assert_eq!(pulled.records.len(), 30);
}
