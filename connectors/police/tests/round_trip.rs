//! Render then parse: the envelopes the hub's population makes for the police come back
//! through the loopback feed with the same identity and facts; upserts reach an incremental
//! sync as exactly the changed persons; persons render identically on every page.

#![cfg(feature = "feed")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

#[path = "support/envelopes.rs"]
mod envelopes;
#[path = "support/serve.rs"]
mod serve;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use kinship_connector_police::feed::Feed;
use kinship_connector_police::{Config, PoliceConnector};
use kinship_connector_sdk::{Connector, ConnectorError, Cursor, SourceFact, SourceRecord};
use serde_json::{Value, json};

fn connector(url: &str, page_size: u32) -> PoliceConnector {
    PoliceConnector::new(Config {
        page_size,
        ..Config::new(url)
    })
    .expect("valid config")
}

/// Pulls until the feed has nothing more: the records, and the last cursor handed out.
async fn pull_all(
    c: &PoliceConnector,
    from: Option<Cursor>,
) -> (Vec<SourceRecord>, Option<Cursor>) {
    let mut cursor = from;
    let mut records = Vec::new();
    loop {
        let batch = c.pull(cursor.as_ref()).await.expect("pull");
        assert!(batch.rejected.is_empty(), "{:?}", batch.rejected);
        records.extend(batch.records);
        match batch.next {
            Some(next) => cursor = Some(next),
            None => return (records, cursor),
        }
    }
}

fn keys(records: &[SourceRecord]) -> BTreeSet<String> {
    let all: Vec<String> = records.iter().map(|r| r.source_key.clone()).collect();
    let set: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(set.len(), all.len(), "a source key came twice in one pull");
    set
}

fn sorted(facts: Vec<&SourceFact>) -> Vec<&SourceFact> {
    let mut facts = facts;
    facts.sort_by_key(|f| (f.occurred_at, f.kind.clone()));
    facts
}

/// Every envelope has a person record with its identity, and its facts come back as the
/// facts of the parts whose subject is that record.
fn assert_round_trip(envelopes: &[SourceRecord], records: &[SourceRecord], context: &str) {
    let by_key: BTreeMap<&str, &SourceRecord> =
        records.iter().map(|r| (r.source_key.as_str(), r)).collect();
    for e in envelopes {
        let person_key = format!("pole:person:{}", e.source_key);
        let person = by_key
            .get(person_key.as_str())
            .unwrap_or_else(|| panic!("{context}: no {person_key}"));
        assert!(
            person.identity == e.identity,
            "{context}: identity of {person_key}"
        );
        assert_eq!(person.organisation, e.organisation);
        let parsed: Vec<&SourceFact> = records
            .iter()
            .filter(|r| r.subject.as_deref() == Some(person_key.as_str()))
            .flat_map(|r| &r.facts)
            .collect();
        let (parsed, expected) = (sorted(parsed), sorted(e.facts.iter().collect()));
        assert_eq!(
            parsed.len(),
            expected.len(),
            "{context}: facts of {person_key}"
        );
        for (p, x) in parsed.iter().zip(&expected) {
            assert_eq!(
                (&p.category, &p.kind, p.occurred_at),
                (&x.category, &x.kind, x.occurred_at),
                "{context}: {person_key}"
            );
            for (k, v) in x.payload.as_object().unwrap() {
                assert_eq!(
                    p.payload.get(k),
                    Some(v),
                    "{context}: {person_key} payload `{k}`"
                );
            }
            assert!(!p.summary.is_empty());
            for name in e.identity.names.iter().flat_map(|n| [&n.given, &n.family]) {
                assert!(
                    !p.summary.contains(name.as_str()),
                    "{context}: name in summary"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_police_kind_round_trips_through_the_feed_at_any_page_size() {
    let envelopes = envelopes::population();
    let kinds: BTreeSet<&str> = envelopes
        .iter()
        .flat_map(|e| &e.facts)
        .map(|f| f.kind.as_str())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "domestic_abuse_incident",
            "exploitation_concern",
            "missing_episode",
            "police_incident",
            "youth_justice_outcome"
        ]
    );
    let url = serve::serve(Feed::new(envelopes.clone()).router()).await;
    for page_size in [1, 3, 200] {
        let (records, last) = pull_all(&connector(&url, page_size), None).await;
        keys(&records);
        assert_eq!(records.len(), 18);
        assert!(
            last.is_some(),
            "the final cursor remembers the high-water mark"
        );
        assert_round_trip(&envelopes, &records, &format!("page size {page_size}"));
    }
}

#[tokio::test]
async fn a_household_incident_is_one_event_with_a_link_per_person() {
    let feed = Feed::new(envelopes::population());
    let page: Value = serde_json::from_str(&feed.page(None, 200).unwrap()).unwrap();
    let events = page["events"].as_array().unwrap();
    let incident: Vec<&Value> = events
        .iter()
        .filter(|e| e["id"] == "AN-2025-004417")
        .collect();
    assert_eq!(incident.len(), 1);
    let incident = incident[0];
    assert_eq!(incident["type"], "domestic_abuse");
    assert_eq!(incident["reference"], "AN-2025-004417");
    // The generator gives the suspect no DASH risk, so no detail is shared by every party:
    // each link carries its own.
    assert_eq!(incident["details"], Value::Null);
    let location = incident["location"].as_str().unwrap();
    let place = page["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == location)
        .unwrap();
    assert_eq!(place["postcode"], "AN3 5QT");
    let roles: Vec<(&str, &str)> = page["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["to"] == "AN-2025-004417")
        .map(|l| (l["from"].as_str().unwrap(), l["role"].as_str().unwrap()))
        .collect();
    let suspect = page["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["to"] == "AN-2025-004417" && l["role"] == "suspect")
        .unwrap();
    assert_eq!(suspect["details"], json!({"outcome": "arrested; charged"}));
    assert_eq!(
        roles,
        [
            ("AN-P-0001041", "victim"),
            ("AN-P-0001042", "suspect"),
            ("AN-P-0001043", "child_present"),
            ("AN-P-0001044", "child_present"),
        ]
    );
    let missing = events.iter().find(|e| e["id"] == "AN-2025-004502").unwrap();
    assert_eq!(
        missing["details"]["reportedBy"], "parent",
        "a lone party's details are the event's"
    );
    assert_eq!(
        missing["occurred_to"], "2025-11-13T09:40:00Z",
        "16 hours after it began"
    );
}

#[tokio::test]
async fn a_person_renders_identically_on_every_page() {
    let feed = Feed::new(envelopes::population());
    let mut seen: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page: Value = serde_json::from_str(&feed.page(cursor.as_deref(), 1).unwrap()).unwrap();
        for p in page["persons"].as_array().unwrap() {
            seen.entry(p["id"].as_str().unwrap().to_owned())
                .or_default()
                .push(p.clone());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert!(
        seen["AN-P-0001043"].len() > 1,
        "Kai appears on several pages"
    );
    for (id, renders) in seen {
        assert!(
            renders.windows(2).all(|w| w[0] == w[1]),
            "{id} renders differently"
        );
    }
}

fn changed(envelope: &SourceRecord) -> SourceRecord {
    let mut e = envelope.clone();
    e.identity.names[0].family = format!("{}-Hale", e.identity.names[0].family);
    e
}

#[tokio::test]
async fn an_upsert_reaches_an_incremental_sync_as_exactly_the_changed_persons() {
    let envelopes = envelopes::population();
    let feed = Feed::new(envelopes.clone());
    let url = serve::serve(feed.router()).await;
    let c = connector(&url, 2);
    let (first, last) = pull_all(&c, None).await;
    assert_eq!(first.len(), 18);
    let last = last.expect("a final cursor");
    assert!(
        c.pull(Some(&last)).await.unwrap().records.is_empty(),
        "nothing new yet"
    );

    // Kai changes name and has a new missing episode; Jasmine is unchanged but re-sent.
    let mut kai = changed(&envelopes[2]);
    let when: DateTime<Utc> = "2025-12-01T18:00:00Z".parse().unwrap();
    kai.facts.push(SourceFact {
        key: "f5".into(),
        category: "police.missing_episode".into(),
        agency: Some("police".into()),
        kind: "missing_episode".into(),
        occurred_at: when,
        summary: "Reported missing by parent".into(),
        payload: json!({"eventRef": "AN-2025-005301", "reportedBy": "parent", "durationHours": 5}),
    });
    let jasmine = envelopes[4].clone();
    feed.upsert(vec![kai.clone(), jasmine.clone()]);

    let (delta, newer) = pull_all(&c, Some(last.clone())).await;
    let expected: BTreeSet<String> = [
        "pole:person:AN-P-0001043",
        "pole:event:AN-2025-001208:AN-P-0001043",
        "pole:event:AN-2025-004417:AN-P-0001043",
        "pole:event:AN-2025-004630:AN-P-0001043",
        "pole:event:AN-2025-002655:AN-P-0001043",
        "pole:event:AN-2025-005301:AN-P-0001043",
        "pole:person:AN-P-0001107",
        "pole:event:AN-2025-004502:AN-P-0001107",
        "pole:event:AN-2025-003871:AN-P-0001107",
        "pole:event:AN-2025-003940:AN-P-0001107",
        "pole:event:AN-2025-002210:AN-P-0001107",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(keys(&delta), expected);
    assert_ne!(newer, Some(last.clone()), "the high-water mark moved on");
    let person = delta
        .iter()
        .find(|r| r.source_key == "pole:person:AN-P-0001043")
        .unwrap();
    assert_eq!(person.identity.names[0].family, "Brennan-Hale");
    let unchanged: BTreeMap<_, _> = first
        .iter()
        .map(|r| (r.source_key.clone(), r.content_hash()))
        .collect();
    let jasmine_again = delta
        .iter()
        .find(|r| r.source_key == "pole:person:AN-P-0001107")
        .unwrap();
    assert_eq!(
        unchanged[&jasmine_again.source_key],
        jasmine_again.content_hash()
    );

    // The cursor handed out before the upsert stays valid, and a new full pull delivers
    // every record once, as it now stands.
    let (again, _) = pull_all(&c, None).await;
    assert_eq!(keys(&again).len(), 19);
    let mut now = envelopes.clone();
    now[2] = kai;
    assert_round_trip(&now, &again, "after upsert");
}

#[tokio::test]
async fn a_cursor_the_feed_never_handed_out_is_fatal_and_check_passes() {
    let url = serve::serve(Feed::new(envelopes::population()).router()).await;
    let c = connector(&url, 5);
    c.check().await.expect("the feed is healthy");
    match c.pull(Some(&Cursor("not-a-cursor".into()))).await {
        Err(ConnectorError::Fatal(m)) => assert!(m.contains("400"), "{m}"),
        other => panic!("{other:?}"),
    }
    let (records, _) = pull_all(&c, Some(Cursor("999999".into()))).await;
    assert!(records.is_empty(), "a cursor past the end gives nothing");
}

#[tokio::test]
async fn check_refuses_a_server_that_is_not_a_pole_feed() {
    let app = axum::Router::new().route(
        "/pole/health",
        axum::routing::get(|| async { "{\"status\":\"ok\"}" }),
    );
    let url = serve::serve(app).await;
    match connector(&url, 5).check().await {
        Err(ConnectorError::Fatal(m)) => assert!(m.contains("kinship-pole/1"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_later_of_two_upserts_with_one_key_wins() {
    let envelopes = envelopes::population();
    let feed = Feed::new(envelopes.clone());
    let url = serve::serve(feed.router()).await;
    let c = connector(&url, 4);
    let (_, last) = pull_all(&c, None).await;
    let first = changed(&envelopes[3]);
    let mut second = envelopes[3].clone();
    second.identity.names[0].given = "Lilly".into();
    feed.upsert(vec![first, second]);
    let (delta, _) = pull_all(&c, last).await;
    assert_eq!(
        keys(&delta),
        BTreeSet::from([
            "pole:person:AN-P-0001044".to_owned(),
            "pole:event:AN-2025-004417:AN-P-0001044".to_owned(),
        ])
    );
    let lily = &delta[0].identity.names[0];
    assert_eq!(
        (lily.given.as_str(), lily.family.as_str()),
        ("Lilly", "Brennan")
    );
}
