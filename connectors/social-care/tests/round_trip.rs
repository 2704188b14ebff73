//! Round trip: envelopes shaped as the hub's population makes them for a local authority,
//! covering every social care and early help kind it produces, rendered by the feed and read
//! back by the connector, over HTTP and from a folder; then resubmissions after `upsert`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "support/helpers.rs"]
mod helpers;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use helpers::{Pulled, folder_connector, http_connector, pull_all, serve};
use kinship_connector_sdk::{
    Connector, Identity, SourceAddress, SourceFact, SourceIdentifier, SourceName, SourceRecord,
};
use kinship_connector_social_care::feed::{self, Feed};
use serde_json::{Value, json};

const ORG: &str = "local_authority:999";

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// An instant during the working day, as the population records them.
fn at(s: &str, hour: i64) -> DateTime<Utc> {
    day(s).and_time(chrono::NaiveTime::MIN).and_utc() + TimeDelta::hours(hour)
}

fn fact(kind: &str, category: &str, when: DateTime<Utc>, payload: Value) -> SourceFact {
    let agency = category
        .starts_with("early_help")
        .then(|| "early_help".to_owned());
    SourceFact {
        key: format!("{kind}-{}", when.timestamp()),
        category: category.into(),
        agency,
        kind: kind.into(),
        occurred_at: when,
        summary: format!("{kind} summary"),
        payload,
    }
}

fn person(key: &str, dob: &str, sex: &str, facts: Vec<SourceFact>) -> SourceRecord {
    SourceRecord {
        source_key: key.into(),
        organisation: ORG.into(),
        subject: None,
        identity: Identity {
            names: vec![SourceName {
                given: "Amelia".into(),
                family: "Hartley".into(),
                usage: "official".into(),
            }],
            date_of_birth: Some(day(dob)),
            sex: Some(sex.into()),
            identifiers: vec![
                SourceIdentifier {
                    system: "la_person_id".into(),
                    value: format!("la:999:{key}"),
                    verified: true,
                },
                SourceIdentifier {
                    system: "nhs_number".into(),
                    value: "9990000018".into(),
                    verified: true,
                },
            ],
            addresses: vec![SourceAddress {
                line1: "14 Mill Lane".into(),
                line2: None,
                town: "Anyshire".into(),
                postcode: "AN1 2BX".into(),
                uprn: Some("100000000014".into()),
                usage: "home".into(),
                valid_from: Some(day(dob)),
                valid_to: None,
            }],
            relationships: vec![],
        },
        facts,
        raw: "{}".into(),
    }
}

fn contact(when: DateTime<Utc>, source: &str, outcome: &str) -> SourceFact {
    fact(
        "contact",
        "social_care.contact_referral",
        when,
        json!({ "ReferralSource": source, "ContactOutcome": outcome }),
    )
}

fn referral(when: DateTime<Utc>, source: &str, need: &str) -> SourceFact {
    let date = when.date_naive().format("%Y-%m-%d").to_string();
    fact(
        "referral",
        "social_care.contact_referral",
        when,
        json!({ "ReferralSource": source, "PrimaryNeedCode": need, "ReferralNFA": false, "CINreferralDate": date }),
    )
}

fn assessment(when: DateTime<Utc>, authorised: Option<&str>, factors: &[&str]) -> SourceFact {
    let start = when.date_naive().format("%Y-%m-%d").to_string();
    fact(
        "assessment",
        "social_care.assessment",
        when,
        json!({ "AssessmentActualStartDate": start, "AssessmentAuthorisationDate": authorised, "AssessmentFactors": factors }),
    )
}

fn flag(code: &str, from: &str, to: Option<&str>) -> SourceFact {
    fact(
        "cp_flag",
        "social_care.child_protection_flag",
        at(from, 0),
        json!({
            "resourceType": "Flag",
            "status": if to.is_none() { "active" } else { "inactive" },
            "code": code,
            "period": { "start": from, "end": to },
            "author": "Anyshire County Council",
            "laContact": "Anyshire MASH, 01632 960000",
        }),
    )
}

/// Envelopes covering every kind the population gives a local authority.
fn envelopes() -> Vec<SourceRecord> {
    // A child protection case after domestic abuse, with a further contact while it is open.
    let cp = person(
        "1201",
        "2017-03-04",
        "female",
        vec![
            contact(at("2025-05-06", 10), "6", "referral"),
            referral(at("2025-05-06", 12), "6", "N1"),
            assessment(
                at("2025-05-08", 11),
                Some("2025-06-12"),
                &["3A", "3B", "4B"],
            ),
            fact(
                "s47_enquiry",
                "social_care.assessment",
                at("2025-05-08", 14),
                json!({ "S47ActualStartDate": "2025-05-08", "InitialCPCtarget": "2025-05-23", "DateOfInitialCPC": "2025-05-21", "ICPCnotRequired": false }),
            ),
            fact(
                "cp_plan",
                "social_care.child_protection",
                at("2025-05-21", 10),
                json!({ "CPPstartDate": "2025-05-21", "CPPendDate": null, "InitialCategoryOfAbuse": "EMO", "LatestCategoryOfAbuse": "EMO", "NumberOfPreviousCPP": 0, "CPPreviewDates": ["2025-08-19", "2026-02-15"] }),
            ),
            flag("CPP", "2025-05-21", None),
            contact(at("2025-11-03", 15), "6", "mash_screening"),
        ],
    );
    // A closed child in need plan, and a closed protection plan from two years ago.
    let cin = person(
        "1202",
        "2013-10-11",
        "male",
        vec![
            contact(at("2023-06-01", 9), "2A", "referral"),
            referral(at("2023-06-01", 11), "2A", "N4"),
            assessment(at("2023-06-03", 10), Some("2023-07-10"), &["1B"]),
            fact(
                "cp_plan",
                "social_care.child_protection",
                at("2023-07-10", 10),
                json!({ "CPPstartDate": "2023-07-10", "CPPendDate": "2024-01-09", "InitialCategoryOfAbuse": "NEG", "LatestCategoryOfAbuse": "NEG", "NumberOfPreviousCPP": 0, "CPPreviewDates": ["2023-10-08"] }),
            ),
            flag("CPP", "2023-07-10", Some("2024-01-09")),
            contact(at("2025-09-15", 13), "3A", "referral"),
            referral(at("2025-09-15", 15), "3A", "N5"),
            assessment(at("2025-09-17", 10), Some("2025-10-20"), &["21"]),
            fact(
                "cin_plan",
                "social_care.child_in_need",
                at("2025-10-20", 11),
                json!({ "CINPlanStartDate": "2025-10-20", "CINPlanEndDate": "2026-01-30", "PrimaryNeedCode": "N5" }),
            ),
        ],
    );
    // A contact screened out, and an assessment still in progress on another child.
    let nfa = person(
        "1203",
        "2020-01-30",
        "female",
        vec![contact(at("2025-12-02", 11), "9", "NFA")],
    );
    let open = person(
        "1204",
        "2011-07-19",
        "male",
        vec![
            contact(at("2026-02-09", 10), "3E", "referral"),
            referral(at("2026-02-09", 12), "3E", "N1"),
            assessment(at("2026-02-11", 9), None, &["4A"]),
        ],
    );
    // A looked after child: episode, LAC flag, placement address, and a missing episode.
    let mut lac = person(
        "1205",
        "2010-12-01",
        "male",
        vec![
            contact(at("2025-01-13", 10), "6", "referral"),
            referral(at("2025-01-13", 11), "6", "N1"),
            assessment(at("2025-01-15", 10), Some("2025-02-20"), &["3A"]),
            fact(
                "looked_after_episode",
                "social_care.looked_after",
                at("2025-02-24", 14),
                json!({ "DECOM": "2025-02-24", "RNE": "S", "LS": "C2", "CIN": "N1", "PLACE": "U4", "PLACE_PROVIDER": "PR1", "DEC": null, "REC": null }),
            ),
            flag("LAC", "2025-02-24", None),
            fact(
                "missing_episode",
                "police.missing_episode",
                at("2025-10-04", 21),
                json!({ "MISSING": "M", "MIS_START": "2025-10-04", "MIS_END": "2025-10-05" }),
            ),
        ],
    );
    lac.identity.addresses.push(SourceAddress {
        line1: "3 Orchard Close".into(),
        line2: None,
        town: "Bramford".into(),
        postcode: "AN6 3RD".into(),
        uprn: Some("100000000099".into()),
        usage: "placement".into(),
        valid_from: Some(day("2025-02-24")),
        valid_to: None,
    });
    // An ended episode, placed in a children's home.
    let left_care = person(
        "1206",
        "2009-04-22",
        "female",
        vec![
            fact(
                "looked_after_episode",
                "social_care.looked_after",
                at("2024-11-04", 10),
                json!({ "DECOM": "2024-11-04", "RNE": "S", "LS": "V2", "CIN": "N1", "PLACE": "K2", "PLACE_PROVIDER": "PR0", "DEC": "2025-06-30", "REC": "E4A" }),
            ),
            flag("LAC", "2024-11-04", Some("2025-06-30")),
        ],
    );
    // Early help: a family that took up a plan and met its outcomes, one that declined, one
    // open, one that withdrew consent.
    let eh = |child: &str, reference: &str, start: &str, plan: Option<Value>, declined: bool| {
        let mut facts = vec![fact(
            "early_help_assessment",
            "early_help.assessment",
            at(start, 10),
            json!({ "ehaRef": reference, "needs": ["school_attendance", "housing"], "outcome": if declined { "declined" } else { "taf" } }),
        )];
        if let Some(p) = plan {
            let plan_start = p["planStart"].as_str().unwrap().to_owned();
            facts.push(fact("taf_plan", "early_help.plan", at(&plan_start, 11), p));
        }
        person(child, "2015-02-02", "male", facts)
    };
    let mut met = eh(
        "1207",
        "EHA-2024-00007",
        "2024-09-02",
        Some(
            json!({ "ehaRef": "EHA-2024-00007", "planStart": "2024-09-16", "planEnd": "2025-05-30", "status": "closed", "outcome": "needs_met", "reviewIntervalWeeks": 6 }),
        ),
        false,
    );
    met.facts.push(fact(
        "family_outcome",
        "early_help.family_outcomes",
        at("2025-05-30", 12),
        json!({ "programme": "Supporting Families", "outcomes": ["school_attendance", "family_stability"], "claimDate": "2025-05-30" }),
    ));
    let declined = eh("1208", "EHA-2025-00008", "2025-10-06", None, true);
    let open_plan = eh(
        "1209",
        "EHA-2025-00009",
        "2025-11-10",
        Some(
            json!({ "ehaRef": "EHA-2025-00009", "planStart": "2025-11-24", "planEnd": null, "status": "open", "outcome": null, "reviewIntervalWeeks": 6 }),
        ),
        false,
    );
    let withdrawn = eh(
        "1210",
        "EHA-2025-00010",
        "2025-03-03",
        Some(
            json!({ "ehaRef": "EHA-2025-00010", "planStart": "2025-03-17", "planEnd": null, "status": "closed_consent_withdrawn", "outcome": null, "reviewIntervalWeeks": 6 }),
        ),
        false,
    );
    // An adult the LA knows through the family: nothing of it goes in a return.
    let mut adult = person("P000001", "1988-05-05", "female", vec![]);
    adult
        .identity
        .identifiers
        .retain(|i| i.system != "la_person_id");
    vec![
        cp, cin, nfa, open, lac, left_care, met, declined, open_plan, withdrawn, adult,
    ]
}

/// Every fact pulled back for the LA child id `child`, with the record it came in.
fn facts_of<'a>(pulled: &'a Pulled, child: &str) -> Vec<(&'a SourceRecord, &'a SourceFact)> {
    let id = format!("la:999:{child}");
    pulled
        .records
        .iter()
        .filter(|r| r.identity.identifiers.iter().any(|i| i.value == id))
        .flat_map(|r| r.facts.iter().map(move |f| (r, f)))
        .collect()
}

/// The payload fields that must survive the trip for each kind.
fn kept_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "referral" => &["ReferralSource", "PrimaryNeedCode", "CINreferralDate"],
        "contact" => &["ReferralSource"],
        "assessment" => &[
            "AssessmentActualStartDate",
            "AssessmentAuthorisationDate",
            "AssessmentFactors",
        ],
        "s47_enquiry" => &[
            "S47ActualStartDate",
            "InitialCPCtarget",
            "DateOfInitialCPC",
            "ICPCnotRequired",
        ],
        "cin_plan" => &["CINPlanStartDate", "CINPlanEndDate", "PrimaryNeedCode"],
        "cp_plan" => &[
            "CPPstartDate",
            "CPPendDate",
            "InitialCategoryOfAbuse",
            "LatestCategoryOfAbuse",
            "NumberOfPreviousCPP",
            "CPPreviewDates",
        ],
        "cp_flag" => &["status", "code", "period"],
        "looked_after_episode" => &[
            "DECOM",
            "RNE",
            "LS",
            "CIN",
            "PLACE",
            "PLACE_PROVIDER",
            "DEC",
            "REC",
        ],
        "missing_episode" => &["MISSING", "MIS_START", "MIS_END"],
        "early_help_assessment" => &["ehaRef", "needs", "outcome"],
        "taf_plan" => &[
            "ehaRef",
            "planStart",
            "planEnd",
            "status",
            "outcome",
            "reviewIntervalWeeks",
        ],
        "family_outcome" => &["programme", "outcomes", "claimDate"],
        _ => &[],
    }
}

fn assert_round_trip(input: &[SourceRecord], pulled: &Pulled) {
    assert!(pulled.rejected.is_empty(), "{:?}", pulled.rejected);
    let mut kinds_seen = std::collections::BTreeSet::new();
    for envelope in input.iter().filter(|e| !e.facts.is_empty()) {
        let child = &envelope.source_key;
        let back = facts_of(pulled, child);
        for (record, _) in &back {
            assert_eq!(record.organisation, ORG);
            let cin_or_903 = !record.source_key.starts_with("eh:");
            if cin_or_903 {
                assert_eq!(
                    record.identity.date_of_birth,
                    envelope.identity.date_of_birth
                );
                assert_eq!(record.identity.sex, envelope.identity.sex);
            }
            assert!(
                record.identity.names.is_empty(),
                "the returns carry no names"
            );
        }
        for want in &envelope.facts {
            let found = back.iter().find(|(_, f)| {
                f.kind == want.kind
                    && f.category == want.category
                    && f.agency.as_deref().unwrap_or("social_care")
                        == want.agency.as_deref().unwrap_or("social_care")
                    && f.occurred_at.date_naive() == want.occurred_at.date_naive()
            });
            let Some((_, got)) = found else {
                panic!(
                    "child {child}: no `{}` on {} came back",
                    want.kind, want.occurred_at
                );
            };
            kinds_seen.insert(want.kind.clone());
            for field in kept_fields(&want.kind) {
                assert_eq!(
                    got.payload[*field], want.payload[*field],
                    "child {child}: `{}`.{field}",
                    want.kind
                );
            }
            if want.kind == "contact" && want.payload["ContactOutcome"] != "mash_screening" {
                assert_eq!(
                    got.payload["ContactOutcome"],
                    want.payload["ContactOutcome"]
                );
            }
        }
        let wanted = envelope.facts.len();
        assert_eq!(back.len(), wanted, "child {child}: no facts were added");
    }
    let all = [
        "contact",
        "referral",
        "assessment",
        "s47_enquiry",
        "cin_plan",
        "cp_plan",
        "cp_flag",
        "looked_after_episode",
        "missing_episode",
        "early_help_assessment",
        "taf_plan",
        "family_outcome",
    ];
    for kind in all {
        assert!(
            kinds_seen.contains(kind),
            "the round trip covered no `{kind}`"
        );
    }
    let placement = &pulled.record("903:999:2025:1205").identity.addresses;
    assert_eq!(placement.len(), 1);
    assert_eq!(
        (placement[0].usage.as_str(), placement[0].postcode.as_str()),
        ("placement", "AN6 3RD")
    );
    assert_eq!(placement[0].valid_from, Some(day("2025-02-24")));
}

#[tokio::test]
async fn every_kind_survives_render_and_parse_over_http() {
    let input = envelopes();
    let feed = Feed::new(input.clone());
    assert_eq!(
        feed.return_names(),
        vec![
            "cin-2024",
            "cin-2025",
            "cin-2026",
            "early-help-2025-11",
            "ssda903-2025",
            "ssda903-2026"
        ]
    );
    let url = serve(feed.router()).await;
    let pulled = pull_all(&http_connector(&url), None).await;
    assert_round_trip(&input, &pulled);
    // A protection plan's child appears in the years its episodes last saw.
    assert!(
        pulled
            .records
            .iter()
            .any(|r| r.source_key == "cin:999:2024:1202")
    );
    assert!(
        pulled
            .records
            .iter()
            .any(|r| r.source_key == "cin:999:2026:1202")
    );
}

#[tokio::test]
async fn every_kind_survives_render_and_parse_from_a_folder() {
    let input = envelopes();
    let feed = Feed::new(input.clone());
    let dir = tempfile::tempdir().unwrap();
    feed::write_folder(&feed, dir.path()).unwrap();
    assert!(dir.path().join("ssda903-2026/episodes.csv").is_file());
    let pulled = pull_all(&folder_connector(dir.path()), None).await;
    assert_round_trip(&input, &pulled);
}

#[tokio::test]
async fn rendered_files_are_what_the_formats_say() {
    let feed = Feed::new(envelopes());
    let census = feed.render("cin-2026", "cin.xml").unwrap();
    assert!(census.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Message>"));
    assert!(census.contains("<Collection>CIN</Collection>"));
    assert!(census.contains("<LEA>999</LEA>"));
    assert!(census.contains("<LAchildID>1201</LAchildID>"));
    assert!(!census.contains("Hartley"), "the census carries no names");
    assert!(!census.contains("9990000018"), "nor NHS numbers");
    let episodes = feed.render("ssda903-2025", "episodes.csv").unwrap();
    assert!(episodes.starts_with("CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,"));
    assert!(episodes.contains("1205,24/02/2025,S,C2,N1,U4,PR1,,,,AN1 2BX,AN6 3RD,\r\n"));
    let extract = feed.render("early-help-2025-11", "early_help.csv").unwrap();
    assert!(extract.contains(
        "1207,,EHA-2024-00007,02/09/2024,,school_attendance;housing,16/09/2024,30/05/2025,28/10/2024,needs_met;sf:school_attendance;sf:family_stability,\r\n"
    ));
    assert!(feed.render("cin-2026", "episodes.csv").is_none());
    assert!(feed.render("cin-2099", "cin.xml").is_none());
}

#[tokio::test]
async fn an_upsert_issues_a_resubmission_that_an_incremental_pull_sees_alone() {
    let input = envelopes();
    let feed = Feed::new(input.clone());
    let url = serve(feed.router()).await;
    let c = http_connector(&url);
    let first = pull_all(&c, None).await;
    let last = first.last_cursor().unwrap();
    let nothing = c.pull(Some(&last)).await.unwrap();
    assert!(nothing.records.is_empty() && nothing.next.is_none());

    // The protection plan ends: the LA resubmits this year's census with that child.
    let mut changed = input[0].clone();
    for f in &mut changed.facts {
        if f.kind == "cp_plan" {
            f.payload["CPPendDate"] = json!("2026-03-02");
        }
    }
    feed.upsert(vec![changed]);
    assert!(feed.return_names().contains(&"cin-2026-r2".to_owned()));
    let second = pull_all(&c, Some(last.clone())).await;
    let keys: Vec<&str> = second
        .records
        .iter()
        .map(|r| r.source_key.as_str())
        .collect();
    assert_eq!(keys, vec!["cin:999:2026:1201"]);
    let plan = second.records[0]
        .facts
        .iter()
        .find(|f| f.kind == "cp_plan")
        .unwrap();
    assert_eq!(plan.payload["CPPendDate"], "2026-03-02");
    let flag = second.records[0]
        .facts
        .iter()
        .find(|f| f.kind == "cp_flag")
        .unwrap();
    assert_eq!(flag.payload["status"], "inactive");

    // A new year's referral for another child opens a new return.
    let mut next_year = input[2].clone();
    next_year
        .facts
        .push(contact(at("2026-05-11", 10), "2A", "NFA"));
    feed.upsert(vec![next_year]);
    let third = pull_all(&c, second.last_cursor()).await;
    let mut keys: Vec<&str> = third
        .records
        .iter()
        .map(|r| r.source_key.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, vec!["cin:999:2026:1203", "cin:999:2027:1203"]);
    assert!(feed.return_names().contains(&"cin-2027".to_owned()));

    // The earlier return did not change: a full pull still sees the original plan there.
    let again = pull_all(&c, None).await;
    let original: Vec<&SourceRecord> = again
        .records
        .iter()
        .filter(|r| r.source_key == "cin:999:2026:1201")
        .collect();
    assert_eq!(original.len(), 2, "the first issue and the resubmission");
    assert!(
        original[0]
            .facts
            .iter()
            .any(|f| f.kind == "cp_plan" && f.payload["CPPendDate"].is_null())
    );
}

#[tokio::test]
async fn the_listing_honours_after_in_series_order() {
    let feed = Feed::new(envelopes());
    let url = serve(feed.router()).await;
    let text = reqwest::get(format!("{url}/returns?after=cin-2025"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = body["returns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "cin-2026",
            "early-help-2025-11",
            "ssda903-2025",
            "ssda903-2026"
        ]
    );
    assert_eq!(
        body["returns"][2]["files"],
        json!(["header.csv", "episodes.csv", "missing.csv"])
    );
    let missing = reqwest::get(format!("{url}/returns/cin-2026/nope.csv"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(http_connector(&url).check().await.is_ok());
}

#[tokio::test]
async fn a_key_given_twice_is_one_child_the_later_envelope() {
    let first = envelopes().remove(2);
    let mut later = first.clone();
    later.facts[0].payload["ReferralSource"] = json!("3A");
    let feed = Feed::new(vec![first, later]);
    let census = feed.render("cin-2026", "cin.xml").unwrap();
    assert_eq!(census.matches("<LAchildID>1203</LAchildID>").count(), 1);
    assert!(census.contains("<ReferralSource>3A</ReferralSource>"));
}
