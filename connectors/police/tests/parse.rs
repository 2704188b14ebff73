//! The POLE page parser over the fixture pages: every element type, the category rules, the
//! `last_event` rule, and malformed elements rejected with reasons while the rest lands.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use kinship_connector_police::pole::{ParsedPage, parse_page};
use kinship_connector_sdk::{ConnectorError, SourceRecord};
use serde_json::{Value, json};

const ORG: &str = "police:anyshire";
const HOUSEHOLD: &str = include_str!("fixtures/page-household.json");
const MALFORMED: &str = include_str!("fixtures/page-malformed.json");

fn parse(text: &str) -> ParsedPage {
    parse_page(text, ORG).expect("a readable page")
}

fn record<'a>(page: &'a ParsedPage, key: &str) -> &'a SourceRecord {
    page.records
        .iter()
        .find(|r| r.source_key == key)
        .unwrap_or_else(|| panic!("no record {key}"))
}

#[test]
fn a_household_page_gives_five_persons_and_six_event_parts() {
    let page = parse(HOUSEHOLD);
    assert!(page.rejected.is_empty(), "{:?}", page.rejected);
    let keys: Vec<&str> = page.records.iter().map(|r| r.source_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "pole:person:AN-P-0001041",
            "pole:person:AN-P-0001042",
            "pole:person:AN-P-0001043",
            "pole:person:AN-P-0001044",
            "pole:person:AN-P-0001107",
            "pole:event:AN-2025-004417:AN-P-0001041",
            "pole:event:AN-2025-004417:AN-P-0001042",
            "pole:event:AN-2025-004417:AN-P-0001043",
            "pole:event:AN-2025-004417:AN-P-0001044",
            "pole:event:AN-2025-004502:AN-P-0001107",
            "pole:event:AN-2025-004630:AN-P-0001043",
        ]
    );
    assert_eq!(page.next_cursor.as_deref(), Some("3"));
    assert!(
        page.records
            .iter()
            .all(|r| r.organisation == ORG && !r.raw.is_empty())
    );
}

#[test]
fn a_person_carries_identity_pnc_id_and_the_address_of_its_residence() {
    let page = parse(HOUSEHOLD);
    let kai = record(&page, "pole:person:AN-P-0001043");
    assert!(kai.subject.is_none() && kai.facts.is_empty());
    let id = &kai.identity;
    assert_eq!(id.names.len(), 2);
    assert_eq!(
        (id.names[0].given.as_str(), id.names[0].family.as_str()),
        ("Kai", "Brennan")
    );
    assert_eq!(id.names[1].usage, "nickname");
    assert_eq!(id.date_of_birth.unwrap().to_string(), "2011-09-30");
    assert_eq!(id.sex.as_deref(), Some("male"));
    assert_eq!(id.identifiers.len(), 1);
    assert_eq!(id.identifiers[0].system, "pnc_id");
    assert_eq!(
        id.identifiers[0].value, "2025/0003318L",
        "short form made canonical"
    );
    assert_eq!(id.addresses.len(), 1);
    let a = &id.addresses[0];
    assert_eq!(
        (a.line1.as_str(), a.town.as_str(), a.postcode.as_str()),
        ("14 Mill Lane", "Anytown", "AN3 5QT")
    );
    assert_eq!(a.uprn.as_deref(), Some("100090012345"));
    assert_eq!(a.usage, "home");

    let jasmine = record(&page, "pole:person:AN-P-0001107");
    let a = &jasmine.identity.addresses[0];
    assert_eq!(
        (a.line1.as_str(), a.line2.as_deref()),
        ("Flat 6", Some("22 Orchard Court"))
    );
    let danielle = record(&page, "pole:person:AN-P-0001041");
    assert_eq!(
        danielle.identity.addresses[0]
            .valid_from
            .unwrap()
            .to_string(),
        "2018-04-01"
    );
    assert!(danielle.identity.identifiers.is_empty());
}

#[test]
fn a_person_without_a_residence_link_has_no_address() {
    let mut v: Value = serde_json::from_str(HOUSEHOLD).unwrap();
    let links = v["links"].as_array_mut().unwrap();
    links.retain(|l| !(l["from"] == "AN-P-0001107" && l["role"] == "resident"));
    let page = parse(&v.to_string());
    assert!(
        record(&page, "pole:person:AN-P-0001107")
            .identity
            .addresses
            .is_empty()
    );
}

#[test]
fn the_domestic_abuse_incident_is_one_event_with_a_part_per_person() {
    let page = parse(HOUSEHOLD);
    let parts: Vec<&SourceRecord> = page
        .records
        .iter()
        .filter(|r| r.source_key.starts_with("pole:event:AN-2025-004417:"))
        .collect();
    assert_eq!(parts.len(), 4);
    for r in &parts {
        assert!(r.identity.is_empty());
        let person = r.source_key.rsplit(':').next().unwrap();
        assert_eq!(
            r.subject.as_deref(),
            Some(format!("pole:person:{person}").as_str())
        );
        for f in &r.facts {
            assert_eq!(f.payload["eventRef"], "AN-2025-004417");
            assert_eq!(f.payload["postcode"], "AN3 5QT");
            assert_eq!(f.payload["dashRisk"], "high");
            assert_eq!(f.occurred_at.to_rfc3339(), "2025-11-08T21:14:00+00:00");
        }
    }
    let child = record(&page, "pole:event:AN-2025-004417:AN-P-0001044");
    assert_eq!(child.facts.len(), 1);
    let f = &child.facts[0];
    assert_eq!(
        (f.category.as_str(), f.kind.as_str(), f.key.as_str()),
        (
            "police.domestic_abuse",
            "domestic_abuse_incident",
            "child_present"
        )
    );
    assert_eq!(f.payload["encompassNotified"], true);
    assert_eq!(f.payload["role"], "child_present");
    assert_eq!(
        f.summary,
        "Domestic abuse incident; child present; DASH risk high; Operation Encompass notification sent to school"
    );

    let suspect = &record(&page, "pole:event:AN-2025-004417:AN-P-0001042").facts[0];
    assert_eq!(suspect.category, "police.domestic_abuse");
    assert_eq!(suspect.payload["outcome"], "arrested; charged");
}

#[test]
fn two_roles_are_two_links_and_two_facts_in_one_record() {
    let page = parse(HOUSEHOLD);
    let victim = record(&page, "pole:event:AN-2025-004417:AN-P-0001041");
    let facts: Vec<(&str, &str, &str)> = victim
        .facts
        .iter()
        .map(|f| (f.key.as_str(), f.category.as_str(), f.kind.as_str()))
        .collect();
    assert_eq!(
        facts,
        [
            ("victim", "police.domestic_abuse", "domestic_abuse_incident"),
            ("reporter", "police.incident", "police_incident"),
        ]
    );
}

#[test]
fn missing_and_youth_justice_events_take_their_categories() {
    let page = parse(HOUSEHOLD);
    let missing = &record(&page, "pole:event:AN-2025-004502:AN-P-0001107").facts[0];
    assert_eq!(
        (missing.category.as_str(), missing.kind.as_str()),
        ("police.missing_episode", "missing_episode")
    );
    assert_eq!(missing.payload["occurredTo"], "2025-11-13T09:40:00Z");
    assert_eq!(missing.payload["durationHours"], 16);
    assert_eq!(missing.payload["eventType"], "missing_person");
    assert!(missing.payload.get("postcode").is_none());
    let yj = &record(&page, "pole:event:AN-2025-004630:AN-P-0001043").facts[0];
    assert_eq!(
        (yj.category.as_str(), yj.kind.as_str()),
        ("police.youth_justice", "youth_justice_outcome")
    );
    assert_eq!(yj.payload["outcome"], "youth_rehabilitation_order");
    assert_eq!(
        yj.summary,
        "Youth justice disposal: youth rehabilitation order for possession of a bladed article; recorded as offender"
    );
}

#[test]
fn summaries_carry_no_names() {
    let page = parse(HOUSEHOLD);
    for r in &page.records {
        for f in &r.facts {
            for name in [
                "Danielle", "Craig", "Kai", "Lily", "Jasmine", "Brennan", "Okafor",
            ] {
                assert!(!f.summary.contains(name), "{}: {}", r.source_key, f.summary);
            }
        }
    }
}

#[test]
fn a_child_victim_of_domestic_abuse_is_an_incident_about_the_child() {
    let mut v: Value = serde_json::from_str(HOUSEHOLD).unwrap();
    for l in v["links"].as_array_mut().unwrap() {
        if l["from"] == "AN-P-0001044" && l["to"] == "AN-2025-004417" {
            l["role"] = json!("victim");
        }
    }
    let page = parse(&v.to_string());
    let f = &record(&page, "pole:event:AN-2025-004417:AN-P-0001044").facts[0];
    assert_eq!(
        (f.category.as_str(), f.kind.as_str()),
        ("police.incident", "police_incident")
    );
}

#[test]
fn an_exploitation_event_is_an_exploitation_concern() {
    let mut v: Value = serde_json::from_str(HOUSEHOLD).unwrap();
    v["events"][1]["type"] = json!("county_lines");
    v["links"][5]["role"] = json!("victim");
    let page = parse(&v.to_string());
    let f = &record(&page, "pole:event:AN-2025-004502:AN-P-0001107").facts[0];
    assert_eq!(
        (f.category.as_str(), f.kind.as_str()),
        ("police.exploitation", "exploitation_concern")
    );
    assert_eq!(
        f.summary,
        "Exploitation concern (county lines); recorded as victim"
    );
}

#[test]
fn a_person_whose_last_event_is_on_a_later_page_is_sent_there_and_not_here() {
    let mut v: Value = serde_json::from_str(HOUSEHOLD).unwrap();
    v["persons"][4]["last_event"] = json!("AN-2026-000001");
    v["persons"][3]
        .as_object_mut()
        .unwrap()
        .remove("last_event");
    let page = parse(&v.to_string());
    assert!(
        page.records
            .iter()
            .all(|r| r.source_key != "pole:person:AN-P-0001107")
    );
    assert!(page.rejected.is_empty());
    // The part still lands, pointing at the person record to come.
    let part = record(&page, "pole:event:AN-2025-004502:AN-P-0001107");
    assert_eq!(part.subject.as_deref(), Some("pole:person:AN-P-0001107"));
    // Without `last_event`, a person is sent on every page that carries them.
    record(&page, "pole:person:AN-P-0001044");
}

#[test]
fn each_malformed_element_is_rejected_with_a_reason_and_the_rest_lands() {
    let page = parse(MALFORMED);
    let keys: Vec<&str> = page.records.iter().map(|r| r.source_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "pole:person:AN-P-0002001",
            "pole:event:AN-2025-005120:AN-P-0002001"
        ]
    );
    let rejected: Vec<(Option<&str>, &str)> = page
        .rejected
        .iter()
        .map(|r| (r.source_key.as_deref(), r.reason.as_str()))
        .collect();
    assert_eq!(
        rejected,
        [
            (
                Some("pole:event:AN-2025-005120:AN-P-0009999"),
                "`links[3].from` names no person, event, location or object on the page"
            ),
            (
                Some("pole:person:AN-P-0002002"),
                "`persons[1].pnc_id` fails its check"
            ),
            (
                Some("pole:person:AN-P-0002003"),
                "`persons[2].dob` is not a date"
            ),
            (
                Some("pole:event:AN-2025-005120:AN-P-0002002"),
                "the person record `persons[1]` was rejected"
            ),
            (
                Some("pole:event:AN-2025-005120:AN-P-0002003"),
                "the person record `persons[2]` was rejected"
            ),
            (
                Some("pole:event:AN-2025-005133:AN-P-0002001"),
                "`events[1].type` is missing"
            ),
        ]
    );
    for r in &page.rejected {
        assert!(!r.raw.is_empty());
        for value in ["2024/0001234Z", "31/02/2010", "Tyler", "Ellis"] {
            assert!(!r.reason.contains(value), "{}", r.reason);
        }
    }
    let bad_pnc = &page.rejected[1];
    assert!(bad_pnc.raw.contains("\"pnc_id\""), "raw keeps the element");
    assert_eq!(page.next_cursor, None);
}

#[test]
fn a_link_with_an_unknown_role_or_an_event_at_an_unknown_location_is_rejected() {
    let mut v: Value = serde_json::from_str(HOUSEHOLD).unwrap();
    v["links"][6]["role"] = json!("bystander");
    v["events"][0]["location"] = json!("L-000000000000");
    let page = parse(&v.to_string());
    let reasons: Vec<(&str, &str)> = page
        .rejected
        .iter()
        .map(|r| (r.source_key.as_deref().unwrap(), r.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    assert_eq!(
        reasons[0],
        (
            "pole:event:AN-2025-004630:AN-P-0001043",
            "`links[6].role` is not a role of the POLE profile"
        )
    );
    for (key, reason) in &reasons[1..] {
        assert!(key.starts_with("pole:event:AN-2025-004417:"));
        assert_eq!(
            *reason,
            "`events[0].location` names no location on the page"
        );
    }
    record(&page, "pole:event:AN-2025-004502:AN-P-0001107");
}

#[test]
fn wrong_types_in_an_element_reject_that_element_only() {
    let mut v: Value = serde_json::from_str(HOUSEHOLD).unwrap();
    v["persons"][3]["names"] = json!("Lily Brennan");
    v["events"][2]["details"] = json!(["youth_rehabilitation_order"]);
    let page = parse(&v.to_string());
    let reasons: Vec<&str> = page.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "`persons[3].names` is not an array",
            "the person record `persons[3]` was rejected",
            "`events[2].details` is not an object",
        ]
    );
    assert_eq!(page.records.len(), 11 - 3);
}

#[test]
fn a_page_that_is_not_pole_json_is_fatal() {
    for text in [
        "<html>maintenance</html>",
        "{\"persons\": {}, \"next_cursor\": null}",
        "{\"events\": [], \"next_cursor\": 7}",
        "[]",
        "{\"persons\": [], \"events\": [], \"links\": []}",
    ] {
        match parse_page(text, ORG) {
            Err(ConnectorError::Fatal(m)) => {
                assert!(m.contains("not POLE JSON"), "{m}");
                assert!(!m.contains("maintenance"));
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}
