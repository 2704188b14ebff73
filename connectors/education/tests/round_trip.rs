//! Render → parse: envelopes as the hub's population makes them, covering every fact kind the
//! education agency produces, come back from the feed through the connector carrying the same
//! names, identifiers, dates, categories, kinds, occurred days and payload fields.
//!
//! CTF dates facts by day only, so occurred times are compared by day; the parser writes its
//! own summaries; a contact has no date of birth in CTF.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use chrono::{DateTime, NaiveDate, Utc};
use kinship_connector_education::{Config, EducationConnector, feed::Feed};
use kinship_connector_sdk::{
    Identity, SourceAddress, SourceFact, SourceIdentifier, SourceName, SourceRecord,
    SourceRelationship,
};
use serde_json::{Value, json};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn fact(key: &str, category: &str, kind: &str, when: &str, payload: Value) -> SourceFact {
    SourceFact {
        key: key.into(),
        category: category.into(),
        agency: None,
        kind: kind.into(),
        occurred_at: at(when),
        summary: "as the generator wrote it".into(),
        payload,
    }
}

fn name(given: &str, family: &str, usage: &str) -> SourceName {
    SourceName {
        given: given.into(),
        family: family.into(),
        usage: usage.into(),
    }
}

fn id(system: &str, value: &str) -> SourceIdentifier {
    SourceIdentifier {
        system: system.into(),
        value: value.into(),
        verified: true,
    }
}

fn home(line1: &str, line2: Option<&str>, postcode: &str, uprn: &str) -> SourceAddress {
    SourceAddress {
        line1: line1.into(),
        line2: line2.map(Into::into),
        town: "Anytown".into(),
        postcode: postcode.into(),
        uprn: Some(uprn.into()),
        usage: "home".into(),
        valid_from: None,
        valid_to: None,
    }
}

fn rel(key: &str, kind: &str, pr: Option<bool>) -> SourceRelationship {
    SourceRelationship {
        related_key: key.into(),
        kind: kind.into(),
        parental_responsibility: pr,
    }
}

fn record(key: &str, org: &str, identity: Identity, facts: Vec<SourceFact>) -> SourceRecord {
    SourceRecord {
        source_key: key.into(),
        organisation: org.into(),
        subject: None,
        identity,
        facts,
        raw: "{}".into(),
    }
}

/// A primary pupil with every kind, her mother and stepfather; a secondary leaver gone to an
/// unknown destination, and an adult at her address whom no one declared.
fn envelopes() -> Vec<SourceRecord> {
    let olivia_home = home("14 Larkspur Close", None, "AT1 4QX", "100090001234");
    let olivia = record(
        "mis-2001-00001",
        "school:9992001",
        Identity {
            names: vec![
                name("Liv", "Pemberton", "usual"),
                name("Olivia", "Pemberton", "official"),
            ],
            date_of_birth: Some(day("2014-03-14")),
            sex: Some("female".into()),
            identifiers: vec![
                id("upn", "D999200118007"),
                id("former_upn", "Q99920012001A"),
            ],
            addresses: vec![olivia_home.clone()],
            relationships: vec![
                rel("mis-2001-00002", "parent", Some(true)),
                rel("mis-2001-00003", "carer", Some(false)),
                rel("mis-2001-00009", "sibling", None),
            ],
        },
        vec![
            fact(
                "f1",
                "education.enrolment",
                "enrolment",
                "2018-09-04T08:41:00Z",
                json!({"LAESTAB": "9992001", "NCyearActual": "6", "EntryDate": "2018-09-04", "EnrolStatus": "C"}),
            ),
            fact(
                "f2",
                "education.attendance",
                "attendance_summary",
                "2024-12-19T16:00:00Z",
                json!({"Term": "AUT", "AcademicYear": "2024/25", "SessionsPossible": 142, "SessionsAttended": 120,
                       "SessionsAuthorised": 12, "SessionsUnauthorised": 10, "AttendancePercent": 84.5, "PersistentAbsence": true}),
            ),
            fact(
                "f3",
                "education.attendance",
                "attendance_summary",
                "2025-03-27T16:00:00Z",
                json!({"Term": "SPR", "AcademicYear": "2024/25", "SessionsPossible": 118, "SessionsAttended": 110,
                       "SessionsAuthorised": 6, "SessionsUnauthorised": 2, "AttendancePercent": 93.2, "PersistentAbsence": false}),
            ),
            fact(
                "f4",
                "education.attendance",
                "attendance_summary",
                "2024-07-21T16:00:00Z",
                json!({"Term": "SUM", "AcademicYear": "2023/24", "SessionsPossible": 128, "SessionsAttended": 128,
                       "SessionsAuthorised": 0, "SessionsUnauthorised": 0, "AttendancePercent": 100.0, "PersistentAbsence": false}),
            ),
            fact(
                "f5",
                "education.fsm",
                "fsm_period",
                "2022-11-01T10:12:00Z",
                json!({"FSMstartDate": "2022-11-01", "FSMendDate": null, "UKCountry": "ENG"}),
            ),
            fact(
                "f6",
                "education.fsm",
                "fsm_period",
                "2019-01-07T09:00:00Z",
                json!({"FSMstartDate": "2019-01-07", "FSMendDate": "2020-07-17", "UKCountry": "ENG"}),
            ),
            fact(
                "f7",
                "education.sen",
                "sen_provision",
                "2021-02-01T11:30:00Z",
                json!({"SENprovision": "K", "StartDate": "2021-02-01", "SENneeds": [{"SENtype": "SEMH", "SENtypeRank": 1}]}),
            ),
            fact(
                "f8",
                "education.exclusions",
                "exclusion",
                "2024-12-04T10:00:00Z",
                json!({"Category": "SUSP", "StartDate": "2024-12-04", "Sessions": 2, "Reason": "PD"}),
            ),
            fact(
                "f9",
                "education.exclusions",
                "exclusion",
                "2025-02-10T13:20:00Z",
                json!({"Category": "PERM", "StartDate": "2025-02-10", "Sessions": null, "Reason": "PA"}),
            ),
            fact(
                "f10",
                "person.ethnicity",
                "ethnicity",
                "2018-09-04T00:00:00Z",
                json!({"Ethnicity": "WBRI"}),
            ),
        ],
    );
    let mother = record(
        "mis-2001-00002",
        "school:9992001",
        Identity {
            names: vec![name("Claire", "Pemberton", "official")],
            date_of_birth: Some(day("1986-07-02")),
            sex: Some("female".into()),
            addresses: vec![olivia_home],
            ..Identity::default()
        },
        vec![],
    );
    let stepfather = record(
        "mis-2001-00003",
        "school:9992001",
        Identity {
            names: vec![name("Darren", "Hollis", "official")],
            date_of_birth: Some(day("1983-01-19")),
            sex: Some("male".into()),
            addresses: vec![home(
                "Flat 3",
                Some("27 Mill Lane"),
                "AT1 2RB",
                "100090002468",
            )],
            ..Identity::default()
        },
        vec![],
    );
    let kyle_home = home("3 Quarry Rise", None, "AT3 1HW", "100090004680");
    let kyle = record(
        "mis-4001-00001",
        "school:9994001",
        Identity {
            names: vec![name("Kyle", "Brennan", "official")],
            date_of_birth: Some(day("2010-02-11")),
            sex: Some("male".into()),
            identifiers: vec![id("upn", "N999200114009")],
            addresses: vec![kyle_home.clone()],
            relationships: vec![],
        },
        vec![fact(
            "f1",
            "education.enrolment",
            "enrolment",
            "2021-09-02T09:10:00Z",
            json!({"LAESTAB": "9994001", "NCyearActual": "10", "EntryDate": "2021-09-02", "LeavingDate": "2025-01-24",
                   "LeavingReason": "UNK", "EnrolStatus": "C", "InCare": true, "CareAuthority": "999", "DestinationUnknown": true}),
        )],
    );
    let kyles_mum = record(
        "mis-4001-00002",
        "school:9994001",
        Identity {
            names: vec![name("Louise", "Brennan", "official")],
            date_of_birth: Some(day("1988-10-30")),
            sex: Some("female".into()),
            addresses: vec![kyle_home],
            ..Identity::default()
        },
        vec![],
    );
    vec![olivia, mother, stepfather, kyle, kyles_mum]
}

fn by_upn<'a>(records: &'a [SourceRecord], upn: &str) -> &'a SourceRecord {
    records
        .iter()
        .find(|r| {
            r.identity
                .identifiers
                .iter()
                .any(|i| i.system == "upn" && i.value == upn)
        })
        .unwrap_or_else(|| panic!("no pupil with UPN {upn}"))
}

fn by_name<'a>(records: &'a [SourceRecord], given: &str) -> &'a SourceRecord {
    records
        .iter()
        .find(|r| r.identity.names.iter().any(|n| n.given == given))
        .unwrap_or_else(|| panic!("no record named {given}"))
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn same_identity(sent: &SourceRecord, got: &SourceRecord) {
    let names = |r: &SourceRecord| {
        sorted(
            r.identity
                .names
                .iter()
                .map(|n| (n.given.clone(), n.family.clone(), n.usage.clone()))
                .collect(),
        )
    };
    assert_eq!(names(sent), names(got), "names of {}", sent.source_key);
    assert_eq!(
        sent.identity.sex, got.identity.sex,
        "sex of {}",
        sent.source_key
    );
    let ids = |r: &SourceRecord| {
        sorted(
            r.identity
                .identifiers
                .iter()
                .map(|i| (i.system.clone(), i.value.clone()))
                .collect(),
        )
    };
    assert_eq!(ids(sent), ids(got), "identifiers of {}", sent.source_key);
    let addresses = |r: &SourceRecord| {
        r.identity
            .addresses
            .iter()
            .map(|a| {
                (
                    a.line1.clone(),
                    a.line2.clone(),
                    a.town.clone(),
                    a.postcode.clone(),
                    a.uprn.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        addresses(sent),
        addresses(got),
        "addresses of {}",
        sent.source_key
    );
}

/// Every fact sent comes back once, in the same category and kind, on the same day, with
/// every payload field it had; and nothing else comes back.
fn same_facts(sent: &SourceRecord, got: &SourceRecord) {
    assert_eq!(
        sent.facts.len(),
        got.facts.len(),
        "facts of {}",
        sent.source_key
    );
    for f in &sent.facts {
        let matching: Vec<&SourceFact> = got
            .facts
            .iter()
            .filter(|g| {
                g.category == f.category
                    && g.kind == f.kind
                    && g.occurred_at.date_naive() == f.occurred_at.date_naive()
                    && f.payload
                        .as_object()
                        .unwrap()
                        .iter()
                        .all(|(k, v)| g.payload.get(k) == Some(v))
            })
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "fact {} ({}) of {}: sent {} got {:?}",
            f.key,
            f.kind,
            sent.source_key,
            f.payload,
            got.facts
                .iter()
                .filter(|g| g.kind == f.kind)
                .map(|g| &g.payload)
                .collect::<Vec<_>>()
        );
        assert!(
            !matching[0].summary.contains("Olivia") && !matching[0].summary.contains("Pemberton")
        );
    }
}

async fn round_trip(records: Vec<SourceRecord>) -> Vec<SourceRecord> {
    let feed = Feed::new(records);
    let url = common::serve(&feed).await;
    let c = EducationConnector::new(Config::http(url)).unwrap();
    let batches = common::pull_all(&c, None).await;
    for b in &batches {
        assert!(b.rejected.is_empty(), "{:?}", b.rejected);
    }
    batches.into_iter().flat_map(|b| b.records).collect()
}

#[tokio::test]
async fn pupils_come_back_with_the_same_identity_and_facts() {
    let sent = envelopes();
    let got = round_trip(sent.clone()).await;
    for (upn, key) in [
        ("D999200118007", "mis-2001-00001"),
        ("N999200114009", "mis-4001-00001"),
    ] {
        let s = sent.iter().find(|r| r.source_key == key).unwrap();
        let g = by_upn(&got, upn);
        assert_eq!(g.source_key, format!("ctf:{}:{upn}", &s.organisation[7..]));
        assert_eq!(g.organisation, s.organisation);
        assert_eq!(g.identity.date_of_birth, s.identity.date_of_birth);
        same_identity(s, g);
        same_facts(s, g);
    }
    let autumn = by_upn(&got, "D999200118007")
        .facts
        .iter()
        .find(|f| f.payload["Term"] == "AUT")
        .unwrap();
    assert_eq!(
        autumn.payload["ExclusionMarks"], 2,
        "the suspension shows as E marks"
    );
}

#[tokio::test]
async fn contacts_come_back_related_as_they_were_declared() {
    let sent = envelopes();
    let got = round_trip(sent.clone()).await;
    let olivia = by_upn(&got, "D999200118007");
    let mother = by_name(&got, "Claire");
    let stepfather = by_name(&got, "Darren");
    same_identity(&sent[1], mother);
    same_identity(&sent[2], stepfather);
    let declared: Vec<(&str, &str, Option<bool>)> = olivia
        .identity
        .relationships
        .iter()
        .map(|r| {
            (
                r.related_key.as_str(),
                r.kind.as_str(),
                r.parental_responsibility,
            )
        })
        .collect();
    assert_eq!(
        declared,
        vec![
            (mother.source_key.as_str(), "parent", Some(true)),
            (stepfather.source_key.as_str(), "carer", Some(false)),
        ],
        "siblings have no CTF element"
    );
    assert_eq!(
        mother.identity.relationships[0].related_key,
        olivia.source_key
    );
    assert_eq!(mother.identity.relationships[0].kind, "child");
    assert_eq!(
        mother.identity.date_of_birth, None,
        "CTF holds no contact's date of birth"
    );
    // No one declared Kyle's mother: she is a contact at his address, not declared family.
    let louise = by_name(&got, "Louise");
    same_identity(&sent[4], louise);
    assert!(louise.identity.relationships.is_empty());
    assert!(
        louise
            .source_key
            .starts_with("ctf:9994001:N999200114009:contact:")
    );
}

#[tokio::test]
async fn a_leaver_to_an_unknown_destination_is_served_to_the_lost_pupils_database() {
    let feed = Feed::new(envelopes());
    let names = feed.file_names();
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("_9994001_CTF_MMMMMMM.xml")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("_9992001_CTF_9990000.xml")),
        "{names:?}"
    );
}
