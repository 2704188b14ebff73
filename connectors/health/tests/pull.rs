//! The connector against a FHIR server serving the hand-written UK Core fixture Bundles: what
//! each resource becomes, which are rejected and why, paging, and how failures are classified.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "support/harness.rs"]
mod support;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use kinship_connector_sdk::{Connector, ConnectorError, SourceRecord};

const CAPABILITY: &str = r#"{"resourceType":"CapabilityStatement","status":"active","date":"2025-01-01","kind":"instance","fhirVersion":"4.0.1","format":["json"]}"#;

fn fixture(name: &str) -> &'static str {
    match name {
        "Patient" => include_str!("fixtures/Patient.json"),
        "Patient-2" => include_str!("fixtures/Patient-2.json"),
        "RelatedPerson" => include_str!("fixtures/RelatedPerson.json"),
        "Encounter" => include_str!("fixtures/Encounter.json"),
        "Condition" => include_str!("fixtures/Condition.json"),
        "Flag" => include_str!("fixtures/Flag.json"),
        _ => "",
    }
}

/// A static server: `/{Type}` answers the fixture Bundle (page 2 with `_page=2`).
async fn fixture_server() -> String {
    support::serve_with(|url| {
        let base = url.to_owned();
        Router::new()
            .route("/metadata", get(|| async { CAPABILITY }))
            .route(
                "/{ty}",
                get(
                    move |Path(ty): Path<String>, Query(q): Query<HashMap<String, String>>| {
                        let base = base.clone();
                        async move {
                            let name = match q.get("_page") {
                                Some(p) => format!("{ty}-{p}"),
                                None => ty,
                            };
                            let body = fixture(&name).replace("{{base}}", &base);
                            if body.is_empty() {
                                return (StatusCode::NOT_FOUND, String::new());
                            }
                            (StatusCode::OK, body)
                        }
                    },
                ),
            )
    })
    .await
}

fn by_key(records: &[SourceRecord]) -> HashMap<&str, &SourceRecord> {
    records.iter().map(|r| (r.source_key.as_str(), r)).collect()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn a_full_pull_reads_every_resource_type_and_rejects_each_malformed_one_by_name() {
    let url = fixture_server().await;
    let c = support::connector(&url, 4);
    c.check().await.expect("the fixture server speaks FHIR R4");
    let pulled = support::pull_all(&c, None).await;
    let records = by_key(&pulled.records);

    let mut keys: Vec<&str> = records.keys().copied().collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "Condition/cond-2001",
            "Condition/cond-2002",
            "Condition/cond-2003",
            "Condition/cond-2004",
            "Condition/cond-2005",
            "Encounter/enc-1001",
            "Encounter/enc-1002",
            "Encounter/enc-1003",
            "Encounter/enc-1004",
            "Encounter/enc-1005",
            "Flag/flag-3001",
            "Patient/pat-000001",
            "Patient/pat-000002",
            "Patient/pat-000012",
            "RelatedPerson/pat-000001-rp-1",
            "RelatedPerson/pat-000001-rp-2",
        ]
    );

    let mut reasons: Vec<(Option<&str>, &str)> = pulled
        .rejected
        .iter()
        .map(|r| (r.source_key.as_deref(), r.reason.as_str()))
        .collect();
    reasons.sort_unstable();
    assert_eq!(
        reasons,
        [
            (None, "`resource` is not an object"),
            (Some("Condition/cond-2006"), "`Condition.code` is missing"),
            (
                Some("Encounter/enc-1006"),
                "`Encounter.period.start` is missing"
            ),
            (Some("Encounter/enc-1007"), "`Encounter.subject` is missing"),
            (
                Some("Flag/flag-3002"),
                "`Flag.code.coding` is not a CP-IS flag code"
            ),
            (
                Some("Patient/pat-000009"),
                "`Patient.identifier[0].value` fails its NHS number check"
            ),
            (
                Some("Patient/pat-000010"),
                "`Patient.birthDate` is not a date"
            ),
            (
                Some("Patient/pat-000011"),
                "`Patient.gender` is not a string"
            ),
            (
                Some("Patient/pat-000014"),
                "`Patient.managingOrganization` is missing"
            ),
            (
                Some("RelatedPerson/pat-000002-rp-1"),
                "`RelatedPerson.patient` is missing"
            ),
        ]
    );
    for r in &pulled.rejected {
        assert!(!r.raw.is_empty(), "{:?} keeps its raw bytes", r.source_key);
        for personal in ["9990000019", "14/03/2016", "Okafor", "Ndlovu", "Kowalski"] {
            assert!(!r.reason.contains(personal), "{} names a value", r.reason);
        }
    }
    // Page 2 of Patient was followed: its records are here.
    assert!(records.contains_key("Patient/pat-000012"));
}

#[tokio::test]
async fn a_patient_carries_names_nhs_number_verification_and_addresses() {
    let url = fixture_server().await;
    let pulled = support::pull_all(&support::connector(&url, 4), None).await;
    let records = by_key(&pulled.records);

    let amelia = records["Patient/pat-000001"];
    assert_eq!(amelia.organisation, "acute_trust:RX1");
    assert!(amelia.facts.is_empty() && amelia.subject.is_none());
    let id = &amelia.identity;
    assert_eq!(
        id.names
            .iter()
            .map(|n| (n.given.as_str(), n.family.as_str(), n.usage.as_str()))
            .collect::<Vec<_>>(),
        [
            ("Amelia", "Hartley", "official"),
            ("Millie", "Hartley", "usual")
        ]
    );
    assert_eq!(id.date_of_birth, NaiveDate::from_ymd_opt(2022, 3, 14));
    assert_eq!(id.sex.as_deref(), Some("female"));
    assert_eq!(
        id.identifiers.len(),
        1,
        "a trust MRN is not a person identifier"
    );
    assert_eq!(id.identifiers[0].system, "nhs_number");
    assert_eq!(id.identifiers[0].value, "9990000018");
    assert!(id.identifiers[0].verified);
    assert_eq!(id.addresses.len(), 2);
    let home = &id.addresses[0];
    assert_eq!(
        (
            home.line1.as_str(),
            home.line2.as_deref(),
            home.town.as_str()
        ),
        ("14 Larch Close", Some("Eastfield"), "Anyton")
    );
    assert_eq!(home.postcode, "AN1 4LC");
    assert_eq!(home.uprn.as_deref(), Some("100023456789"));
    assert_eq!(home.usage, "home");
    assert_eq!(home.valid_from, NaiveDate::from_ymd_opt(2021, 6, 1));
    let old = &id.addresses[1];
    assert_eq!(old.usage, "old");
    assert_eq!(old.valid_to, NaiveDate::from_ymd_opt(2021, 5, 31));
    assert_eq!((old.line2.as_deref(), old.uprn.as_deref()), (None, None));

    let yusuf = records["Patient/pat-000012"];
    assert_eq!(
        yusuf.identity.date_of_birth, None,
        "a partial birth date is kept out"
    );
    assert!(
        !yusuf.identity.identifiers[0].verified,
        "status 02 is not verified"
    );
    assert_eq!(yusuf.identity.addresses[0].usage, "temp");
    assert!(yusuf.raw.contains("replaced-by"), "the merge stays in raw");
}

#[tokio::test]
async fn a_related_person_says_how_the_patient_stands_to_them() {
    let url = fixture_server().await;
    let pulled = support::pull_all(&support::connector(&url, 4), None).await;
    let records = by_key(&pulled.records);

    let mother = records["RelatedPerson/pat-000001-rp-1"];
    assert_eq!(
        mother.organisation, "acute_trust:RX1",
        "from the identifier's assigner"
    );
    let rel = &mother.identity.relationships;
    assert_eq!(rel.len(), 1);
    assert_eq!(rel[0].related_key, "Patient/pat-000001");
    assert_eq!(rel[0].kind, "child");
    assert_eq!(rel[0].parental_responsibility, Some(true));
    assert_eq!(mother.identity.identifiers[0].value, "9990000034");
    assert_eq!(mother.identity.names[0].given, "Sophie");

    let father = records["RelatedPerson/pat-000001-rp-2"];
    let rel = &father.identity.relationships[0];
    assert_eq!(
        rel.related_key, "Patient/pat-000001",
        "from an absolute reference"
    );
    assert_eq!(rel.kind, "child");
    assert_eq!(rel.parental_responsibility, None, "FTH does not imply it");
}

#[tokio::test]
async fn encounters_map_to_kinds_by_class_snomed_and_kinship_type() {
    let url = fixture_server().await;
    let pulled = support::pull_all(&support::connector(&url, 4), None).await;
    let records = by_key(&pulled.records);
    let fact = |key: &str| {
        let r = records[key];
        assert_eq!(r.facts.len(), 1, "{key}");
        assert!(r.identity.is_empty());
        (r.subject.as_deref(), r.organisation.as_str(), &r.facts[0])
    };

    let (subject, org, ed) = fact("Encounter/enc-1001");
    assert_eq!(
        (subject, org),
        (Some("Patient/pat-000001"), "acute_trust:RX1")
    );
    assert_eq!(
        (ed.kind.as_str(), ed.category.as_str()),
        ("ed_attendance", "health.unscheduled_care")
    );
    assert_eq!(ed.occurred_at, at("2025-01-12T18:42:00Z"));
    assert_eq!(
        ed.summary,
        "Attended ED with a head injury after a fall; discharged home"
    );
    assert_eq!(ed.payload["dischargeDisposition"], "home");
    assert_eq!(ed.payload["reasonCode"][0]["code"], "82271004");

    let (_, _, harm) = fact("Encounter/enc-1002");
    assert_eq!(
        (harm.kind.as_str(), harm.category.as_str()),
        ("self_harm_attendance", "health.mental_health")
    );
    assert!(harm.summary.starts_with("Attended ED with self-inflicted"));

    let (_, org, review) = fact("Encounter/enc-1003");
    assert_eq!(org, "community_trust:RY1");
    assert_eq!(
        (review.kind.as_str(), review.category.as_str()),
        ("development_review", "health.development")
    );

    let (_, _, admission) = fact("Encounter/enc-1004");
    assert_eq!(admission.kind, "admission");
    assert_eq!(admission.summary, "Observation after head injury");

    let retracted = records["Encounter/enc-1005"];
    assert!(retracted.facts.is_empty(), "entered-in-error retracts");
    assert_eq!(retracted.subject.as_deref(), Some("Patient/pat-000002"));
}

#[tokio::test]
async fn conditions_take_their_category_from_snomed_and_flags_are_cp_is() {
    let url = fixture_server().await;
    let pulled = support::pull_all(&support::connector(&url, 4), None).await;
    let records = by_key(&pulled.records);
    let kind = |key: &str| {
        let f = &records[key].facts[0];
        (f.kind.as_str(), f.category.as_str())
    };
    assert_eq!(
        kind("Condition/cond-2001"),
        ("condition", "health.condition")
    );
    assert_eq!(
        records["Condition/cond-2001"].organisation,
        "gp_practice:Y99001"
    );
    assert_eq!(
        kind("Condition/cond-2002"),
        ("mental_health_condition", "health.mental_health")
    );
    assert_eq!(
        kind("Condition/cond-2003"),
        ("sexual_health_condition", "health.sexual_health")
    );
    assert_eq!(
        kind("Condition/cond-2004"),
        ("substance_misuse_condition", "health.substance_misuse")
    );
    let asthma = &records["Condition/cond-2001"].facts[0];
    assert_eq!(asthma.occurred_at, at("2024-01-17T00:00:00Z"), "onset date");
    assert_eq!(asthma.payload["clinicalStatus"], "active");
    assert_eq!(asthma.payload["verificationStatus"], "confirmed");
    let alcohol = &records["Condition/cond-2004"].facts[0];
    assert_eq!(
        alcohol.occurred_at,
        at("2025-01-11T00:00:00Z"),
        "recorded date without onset"
    );
    assert!(
        records["Condition/cond-2005"].facts.is_empty(),
        "entered-in-error retracts"
    );

    let flag = &records["Flag/flag-3001"];
    assert_eq!(flag.subject.as_deref(), Some("Patient/pat-000001"));
    let f = &flag.facts[0];
    assert_eq!(
        (f.kind.as_str(), f.category.as_str()),
        ("cp_flag", "social_care.child_protection_flag")
    );
    assert_eq!(f.agency.as_deref(), Some("social_care"));
    assert_eq!(f.payload["code"], "CPP");
    assert_eq!(f.occurred_at, at("2024-11-04T00:00:00Z"));
}

#[tokio::test]
async fn only_the_configured_types_are_pulled() {
    let url = fixture_server().await;
    let mut config = kinship_connector_health::Config::for_base_url(&url);
    config.resource_types = vec![kinship_connector_health::ResourceType::Flag];
    let c = kinship_connector_health::HealthConnector::new(config).unwrap();
    let pulled = support::pull_all(&c, None).await;
    assert!(
        pulled
            .records
            .iter()
            .all(|r| r.source_key.starts_with("Flag/"))
    );
    assert_eq!(pulled.records.len(), 1);
}

/// A server answering every search with one status and body.
async fn answering(status: u16, body: &'static str) -> String {
    let status = StatusCode::from_u16(status).unwrap();
    support::serve(Router::new().fallback(move || async move { (status, body).into_response() }))
        .await
}

#[tokio::test]
async fn failures_are_classified_by_status_and_operation_outcome() {
    let invalid = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"identifier 9990000018 unknown"}]}"#;
    let throttled =
        r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"throttled"}]}"#;
    let cases: [(u16, &'static str, bool); 6] = [
        (400, invalid, false),
        (404, invalid, false),
        (429, throttled, true),
        (400, throttled, true),
        (500, invalid, true),
        (200, invalid, false),
    ];
    for (status, body, transient) in cases {
        let c = support::connector(&answering(status, body).await, 10);
        let e = c.pull(None).await.expect_err("a failing page");
        assert_eq!(e.is_transient(), transient, "{status}: {e}");
        assert!(
            !e.to_string().contains("9990000018"),
            "diagnostics stay out"
        );
    }
}

#[tokio::test]
async fn a_page_that_is_not_a_bundle_is_fatal() {
    for body in [
        "<html>maintenance</html>",
        r#"{"resourceType":"Patient","id":"x"}"#,
    ] {
        let c = support::connector(&answering(200, body).await, 10);
        let e = c.pull(None).await.expect_err("unreadable page");
        assert!(matches!(e, ConnectorError::Fatal(_)), "{e}");
    }
    let c = support::connector(&answering(200, "<html/>").await, 10);
    assert!(matches!(c.check().await, Err(ConnectorError::Fatal(_))));
}

#[tokio::test]
async fn a_bad_configuration_is_fatal_and_names_the_key() {
    let e = kinship_connector_health::HealthConnector::from_json(serde_json::json!({
        "base_url": "http://127.0.0.1:1",
        "page_sise": 10,
    }))
    .err()
    .expect("an unknown key");
    assert!(
        matches!(&e, ConnectorError::Fatal(m) if m.contains("page_sise")),
        "{e}"
    );
    let e = kinship_connector_health::HealthConnector::from_json(serde_json::json!({
        "base_url": "http://127.0.0.1:1",
        "organisation_kinds": { "RX1": "hospital" },
    }))
    .err()
    .expect("an unknown kind");
    assert!(e.to_string().contains("organisation_kinds.RX1"), "{e}");
}
