//! Envelopes as the hub's population makes them for the police: one per person, identity
//! (names, date of birth, sex, PNC ID, home address) plus the facts of every police kind,
//! with the payloads `src/population/generate.rs` writes.

use chrono::{DateTime, NaiveDate, Utc};
use kinship_connector_sdk::{
    Identity, SourceAddress, SourceFact, SourceIdentifier, SourceName, SourceRecord,
};
use serde_json::{Value, json};

pub const ORGANISATION: &str = "police:anyshire";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("fixture instant")
        .with_timezone(&Utc)
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("fixture date")
}

fn home(line1: &str, line2: Option<&str>, town: &str, postcode: &str, uprn: &str) -> SourceAddress {
    SourceAddress {
        line1: line1.into(),
        line2: line2.map(Into::into),
        town: town.into(),
        postcode: postcode.into(),
        uprn: Some(uprn.into()),
        usage: "home".into(),
        valid_from: Some(date("2018-04-01")),
        valid_to: None,
    }
}

fn person(
    key: &str,
    (given, family): (&str, &str),
    (dob, sex): (&str, &str),
    pnc: Option<&str>,
    address: SourceAddress,
    facts: Vec<SourceFact>,
) -> SourceRecord {
    SourceRecord {
        source_key: key.into(),
        organisation: ORGANISATION.into(),
        subject: None,
        identity: Identity {
            names: vec![SourceName {
                given: given.into(),
                family: family.into(),
                usage: "official".into(),
            }],
            date_of_birth: Some(date(dob)),
            sex: Some(sex.into()),
            identifiers: pnc
                .map(|p| SourceIdentifier {
                    system: "pnc_id".into(),
                    value: p.into(),
                    verified: true,
                })
                .into_iter()
                .collect(),
            addresses: vec![address],
            relationships: vec![],
        },
        facts,
        raw: format!("{{\"personRef\":\"{key}\"}}"),
    }
}

fn fact(
    key: &str,
    category: &str,
    kind: &str,
    when: &str,
    summary: &str,
    payload: Value,
) -> SourceFact {
    SourceFact {
        key: key.into(),
        category: category.into(),
        agency: Some("police".into()),
        kind: kind.into(),
        occurred_at: at(when),
        summary: summary.into(),
        payload,
    }
}

fn da(key: &str, when: &str, payload: Value) -> SourceFact {
    fact(
        key,
        "police.domestic_abuse",
        "domestic_abuse_incident",
        when,
        "Domestic abuse incident at the home address",
        payload,
    )
}

/// Two households and a lone teenager, covering every police kind and role the population
/// generator produces.
pub fn population() -> Vec<SourceRecord> {
    let brennan = || home("14 Mill Lane", None, "Anytown", "AN3 5QT", "100090012345");
    let okafor = || {
        home(
            "Flat 6",
            Some("22 Orchard Court"),
            "Brookfield",
            "AN7 2HX",
            "100090077811",
        )
    };
    let recent = "2025-11-08T21:14:00Z";
    let older = "2025-03-02T19:40:00Z";
    vec![
        person(
            "AN-P-0001041",
            ("Danielle", "Brennan"),
            ("1989-06-14", "female"),
            None,
            brennan(),
            vec![
                da(
                    "f1",
                    older,
                    json!({"eventRef": "AN-2025-001208", "role": "victim", "dashRisk": "medium"}),
                ),
                da(
                    "f2",
                    recent,
                    json!({"eventRef": "AN-2025-004417", "role": "victim", "dashRisk": "high"}),
                ),
            ],
        ),
        person(
            "AN-P-0001042",
            ("Craig", "Brennan"),
            ("1986-02-03", "male"),
            Some("2009/0041207B"),
            brennan(),
            vec![
                da(
                    "f1",
                    older,
                    json!({"eventRef": "AN-2025-001208", "role": "suspect", "outcome": "no further action"}),
                ),
                da(
                    "f2",
                    recent,
                    json!({"eventRef": "AN-2025-004417", "role": "suspect", "outcome": "arrested; charged"}),
                ),
            ],
        ),
        person(
            "AN-P-0001043",
            ("Kai", "Brennan"),
            ("2011-09-30", "male"),
            Some("2025/0003318L"),
            brennan(),
            vec![
                da(
                    "f1",
                    older,
                    json!({"eventRef": "AN-2025-001208", "role": "child_present", "dashRisk": "medium", "encompassNotified": true}),
                ),
                da(
                    "f2",
                    recent,
                    json!({"eventRef": "AN-2025-004417", "role": "child_present", "dashRisk": "high", "encompassNotified": true}),
                ),
                fact(
                    "f3",
                    "police.youth_justice",
                    "youth_justice_outcome",
                    "2025-11-20T11:00:00Z",
                    "Youth rehabilitation order for possession of a bladed article",
                    json!({"eventRef": "AN-2025-004630", "offence": "possession of a bladed article", "outcome": "youth_rehabilitation_order"}),
                ),
                fact(
                    "f4",
                    "police.incident",
                    "police_incident",
                    "2025-06-14T15:20:00Z",
                    "Subject of an anti-social behaviour report",
                    json!({"eventRef": "AN-2025-002655", "role": "subject", "offenceCategory": "asb"}),
                ),
            ],
        ),
        person(
            "AN-P-0001044",
            ("Lily", "Brennan"),
            ("2016-03-22", "female"),
            None,
            brennan(),
            vec![da(
                "f1",
                recent,
                json!({"eventRef": "AN-2025-004417", "role": "child_present", "dashRisk": "high", "encompassNotified": false}),
            )],
        ),
        person(
            "AN-P-0001107",
            ("Jasmine", "Okafor"),
            ("2009-11-05", "female"),
            None,
            okafor(),
            vec![
                fact(
                    "f1",
                    "police.missing_episode",
                    "missing_episode",
                    "2025-11-12T17:40:00Z",
                    "Reported missing by parent; found after 16 hours at a friend's address; return interview offered",
                    json!({"eventRef": "AN-2025-004502", "reportedBy": "parent", "durationHours": 16, "foundLocation": "at a friend's address", "risk": "medium", "returnInterviewOffered": true}),
                ),
                fact(
                    "f2",
                    "police.missing_episode",
                    "missing_episode",
                    "2025-09-30T20:05:00Z",
                    "Reported missing by parent; found after 40 hours in another town; return interview offered",
                    json!({"eventRef": "AN-2025-003871", "reportedBy": "parent", "durationHours": 40, "foundLocation": "in another town", "risk": "high", "returnInterviewOffered": true}),
                ),
                fact(
                    "f3",
                    "police.exploitation",
                    "exploitation_concern",
                    "2025-10-04T13:10:00Z",
                    "County lines concern: stopped at a railway station far from home",
                    json!({"eventRef": "AN-2025-003940", "concern": "county_lines", "nrmReferral": true}),
                ),
                fact(
                    "f4",
                    "police.incident",
                    "police_incident",
                    "2025-05-21T16:45:00Z",
                    "Witness to an assault in a park",
                    json!({"eventRef": "AN-2025-002210", "role": "witness", "offenceCategory": "assault"}),
                ),
            ],
        ),
    ]
}
