//! The golden-rule scenarios of DOMAIN.md §8, through the real server: each case reads one
//! category of one child as one principal and checks what came back and what the access log
//! says decided it.

use chrono::{Duration, Utc};
use kinship::model::{
    Address, Agency, Consent, ConsentState, DataCategory, Fact, FactId, Family, FamilyId,
    FamilyKind, FamilyMember, Involvement, InvolvementId, InvolvementKind, Organisation,
    OrganisationId, Person, PersonId, PersonName, Principal, Purpose, Role, Sex,
};
use kinship::population::Population;
use kinship::store::load;
use serde_json::{Value, json};

use crate::helpers::{TestApp, on_each_backend, principal, spawn_with};

pub const LA: &str = "local_authority:999";
const POLICE: &str = "police:anyshire";
pub const ACUTE: &str = "acute_trust:RX1";
pub const COMMUNITY: &str = "community_trust:RY1";
const GP: &str = "gp_practice:Y99001";
pub const S1: &str = "school:9991001";
const S2: &str = "school:9991002";

fn org(id: &str) -> OrganisationId {
    id.parse().unwrap()
}

/// The scenario's world: children C1..C6 (C3b is C3's classmate who left for S2).
pub struct World {
    pub pop: Population,
    pub c: std::collections::BTreeMap<&'static str, PersonId>,
}

pub fn world() -> World {
    let now = Utc::now();
    let mut pop = Population::default();
    for (id, name) in [
        (LA, "Anyshire County Council"),
        (POLICE, "Anyshire Police"),
        (ACUTE, "Anyshire Royal Hospitals"),
        (COMMUNITY, "Anyshire Community Health"),
        (GP, "Riverside Surgery"),
        (S1, "Oakfield Primary School"),
        (S2, "Elm Primary School"),
    ] {
        pop.organisations.push(Organisation {
            id: org(id),
            name: name.into(),
        });
    }
    let ages = [
        ("C1", 6),
        ("C2", 9),
        ("C3", 8),
        ("C3b", 8),
        ("C4", 2),
        ("C5", 15),
        ("C6", 14),
    ];
    let mut c = std::collections::BTreeMap::new();
    for (label, age) in ages {
        let id = PersonId::new();
        c.insert(label, id);
        pop.persons.push(Person {
            id,
            date_of_birth: (now - Duration::days(365 * age + 40)).date_naive().into(),
            sex: Sex::Female,
            is_child: true,
            shielded: label == "C2",
        });
        // Every agency that holds the child holds its name, so identity can be released
        // under whichever protocol covers the flow.
        for holder in [LA, POLICE, ACUTE, COMMUNITY, S1] {
            pop.names.push(PersonName {
                person_id: id,
                given: format!("Child{label}"),
                family: "Golden".into(),
                usage: "official".into(),
                organisation: org(holder),
                source_record: None,
                date_of_birth: None,
            });
        }
    }
    let f2 = FamilyId::new();
    pop.families.push(Family {
        id: f2,
        kind: FamilyKind::Family,
        basis: None,
    });
    pop.members.push(FamilyMember {
        family_id: f2,
        person_id: c["C2"],
        role: "child".into(),
        organisation: org(LA),
        source_record: None,
    });
    pop.addresses.push(Address {
        person_id: c["C2"],
        line1: "1 Refuge Road".into(),
        line2: None,
        town: "Ashbury".into(),
        postcode: "AY1 1AA".into(),
        uprn: None,
        usage: "home".into(),
        valid_from: None,
        valid_to: None,
        organisation: org(LA),
        source_record: None,
    });
    let fact = |person: PersonId,
                holder: &str,
                agency: Agency,
                category: DataCategory,
                kind: &str| Fact {
        id: FactId::new(),
        person_id: person,
        agency,
        organisation: org(holder),
        category,
        kind: kind.into(),
        occurred_at: now - Duration::days(3),
        recorded_at: now - Duration::days(2),
        summary: format!("{kind} recorded"),
        payload: json!({ "eventRef": "AN-2026-000001", "role": "child_present", "dashRisk": "high" }),
        source_record: None,
    };
    pop.facts = vec![
        fact(
            c["C1"],
            ACUTE,
            Agency::Health,
            DataCategory::HealthUnscheduledCare,
            "ed_attendance",
        ),
        fact(
            c["C1"],
            GP,
            Agency::Health,
            DataCategory::HealthCondition,
            "condition",
        ),
        fact(
            c["C2"],
            S1,
            Agency::Education,
            DataCategory::EducationAttendance,
            "attendance_summary",
        ),
        fact(
            c["C3"],
            POLICE,
            Agency::Police,
            DataCategory::PoliceDomesticAbuse,
            "domestic_abuse_incident",
        ),
        fact(
            c["C3b"],
            POLICE,
            Agency::Police,
            DataCategory::PoliceDomesticAbuse,
            "domestic_abuse_incident",
        ),
        fact(
            c["C4"],
            LA,
            Agency::SocialCare,
            DataCategory::SocialCareChildProtectionFlag,
            "cp_flag",
        ),
        fact(
            c["C4"],
            LA,
            Agency::SocialCare,
            DataCategory::SocialCareChildProtection,
            "cp_plan",
        ),
        fact(
            c["C5"],
            COMMUNITY,
            Agency::Health,
            DataCategory::HealthSexualHealth,
            "sexual_health_contact",
        ),
        fact(
            c["C6"],
            LA,
            Agency::SocialCare,
            DataCategory::SocialCareChildProtection,
            "cp_plan",
        ),
    ];
    let inv = |kind,
               holder: Option<&str>,
               organisation: &str,
               person: Option<PersonId>,
               family: Option<FamilyId>,
               ended: bool| Involvement {
        id: InvolvementId::new(),
        kind,
        principal: holder.map(str::to_owned),
        organisation: org(organisation),
        person_id: person,
        family_id: family,
        started_at: now - Duration::days(400),
        ended_at: ended.then(|| now - Duration::days(30)),
        service: None,
        source: "hub".into(),
        category: None,
        contact: None,
    };
    pop.involvements = vec![
        inv(
            InvolvementKind::MashEnquiry,
            Some("mash-1"),
            LA,
            Some(c["C1"]),
            None,
            false,
        ),
        inv(
            InvolvementKind::AllocatedSocialWorker,
            Some("sw-1"),
            LA,
            Some(c["C1"]),
            None,
            false,
        ),
        inv(
            InvolvementKind::TafMember,
            Some("ehp-1"),
            LA,
            None,
            Some(f2),
            false,
        ),
        inv(
            InvolvementKind::TafMember,
            Some("hv-1"),
            COMMUNITY,
            None,
            Some(f2),
            false,
        ),
        inv(
            InvolvementKind::DslCurrentSchool,
            None,
            S1,
            Some(c["C3"]),
            None,
            false,
        ),
        inv(
            InvolvementKind::DslCurrentSchool,
            None,
            S1,
            Some(c["C3b"]),
            None,
            true,
        ),
        inv(
            InvolvementKind::DslCurrentSchool,
            None,
            S2,
            Some(c["C3b"]),
            None,
            false,
        ),
        inv(
            InvolvementKind::TreatingClinician,
            Some("ed-1"),
            ACUTE,
            Some(c["C4"]),
            None,
            false,
        ),
        inv(
            InvolvementKind::AllocatedSocialWorker,
            Some("sw-1"),
            LA,
            Some(c["C5"]),
            None,
            false,
        ),
    ];
    // C1's parent refused consent; safeguarding goes ahead and the refusal is on record.
    pop.consents = vec![consent(
        c["C1"],
        ConsentState::Refused,
        Purpose::Safeguarding,
        now - Duration::days(10),
    )];
    World { pop, c }
}

fn consent(
    person: PersonId,
    state: ConsentState,
    purpose: Purpose,
    at: chrono::DateTime<Utc>,
) -> Consent {
    crate::helpers::consent(person, state, purpose, "ehp-1", at)
}

struct Case {
    name: &'static str,
    who: Principal,
    purpose: &'static str,
    child: &'static str,
    category: DataCategory,
    justification: Option<&'static str>,
    /// The decision's reason code and protocol in the access log.
    expect: (&'static str, Option<&'static str>),
}

async fn read_facts(app: &TestApp, case: &Case, child: PersonId) -> Value {
    let mut headers = vec![];
    if let Some(j) = case.justification {
        headers.push(("Kinship-Justification", j));
    }
    let reply = app
        .post(
            Some(&app.token(&case.who)),
            Some(case.purpose),
            &headers,
            json!({
                "query": "query($id: ID!, $c: [String!]) { person(id: $id) { facts(categories: $c) { items { id category payload } withheld } } }",
                "variables": { "id": child.to_string(), "c": [case.category.as_str()] },
            }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}: {:?}", case.name, reply.body);
    reply.body["data"]["person"]["facts"].clone()
}

/// The newest log entry's decision for (child, category).
pub async fn logged(app: &TestApp, child: PersonId, category: DataCategory) -> Value {
    let log = app.log().await;
    let entry = log.last().expect("an access-log entry");
    entry.reads["reads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["subject"] == child.to_string() && r["category"] == category.as_str())
        .cloned()
        .unwrap_or(Value::Null)
}

fn cases() -> Vec<Case> {
    let mash = principal("mash-1", LA, Role::MashOfficer);
    let ehp = principal("ehp-1", LA, Role::EarlyHelpPractitioner);
    let dsl = principal("dsl-1", S1, Role::Dsl);
    let ed = principal("ed-1", ACUTE, Role::EdClinician);
    let sw = principal("sw-1", LA, Role::SocialWorker);
    let police = principal("pol-1", POLICE, Role::PoliceOfficer);
    let board = principal("board-1", LA, Role::BoardMember);
    use DataCategory as D;
    vec![
        Case {
            name: "1 MASH reads C1's ED attendance despite a refusal",
            who: mash,
            purpose: "safeguarding",
            child: "C1",
            category: D::HealthUnscheduledCare,
            justification: None,
            expect: ("permitted", Some("P-MASH")),
        },
        Case {
            name: "2 early help without consent",
            who: ehp,
            purpose: "early_help",
            child: "C2",
            category: D::EducationAttendance,
            justification: None,
            expect: ("consent_required", Some("P-EH")),
        },
        Case {
            name: "6 DSL reads Encompass for a child on roll",
            who: dsl.clone(),
            purpose: "safeguarding",
            child: "C3",
            category: D::PoliceDomesticAbuse,
            justification: None,
            expect: ("permitted", Some("P-ENC")),
        },
        Case {
            name: "7 DSL of the school the child left",
            who: dsl,
            purpose: "safeguarding",
            child: "C3b",
            category: D::PoliceDomesticAbuse,
            justification: None,
            expect: ("no_legitimate_relationship", Some("P-ENC")),
        },
        Case {
            name: "8 ED clinician sees the CP flag",
            who: ed.clone(),
            purpose: "direct_care",
            child: "C4",
            category: D::SocialCareChildProtectionFlag,
            justification: None,
            expect: ("permitted", Some("P-CPIS")),
        },
        Case {
            name: "9 ED clinician asks for the CP plan",
            who: ed,
            purpose: "direct_care",
            child: "C4",
            category: D::SocialCareChildProtection,
            justification: None,
            expect: ("category_not_shared", Some("P-CPIS")),
        },
        Case {
            name: "10 sexual health without explicit consent",
            who: sw.clone(),
            purpose: "safeguarding",
            child: "C5",
            category: D::HealthSexualHealth,
            justification: None,
            expect: ("explicit_consent_required", Some("P-MASH")),
        },
        Case {
            name: "11 the same under break-glass",
            who: sw.clone(),
            purpose: "safeguarding",
            child: "C5",
            category: D::HealthSexualHealth,
            justification: Some(
                "Disclosure at school today of a risk of sexual exploitation; strategy discussion at 14:00",
            ),
            expect: ("break_glass", Some("P-MASH")),
        },
        Case {
            name: "12 police for crime prevention",
            who: police,
            purpose: "crime_prevention",
            child: "C6",
            category: D::SocialCareChildProtection,
            justification: None,
            expect: ("purpose_not_permitted", Some("P-MASH")),
        },
        Case {
            name: "13 board member asks for facts",
            who: board,
            purpose: "audit",
            child: "C1",
            category: D::HealthUnscheduledCare,
            justification: None,
            expect: ("purpose_not_permitted", Some("P-MASH")),
        },
        Case {
            name: "14 GP data while P-CSC-GP is suspended",
            who: sw,
            purpose: "safeguarding",
            child: "C1",
            category: D::HealthCondition,
            justification: None,
            expect: ("no_active_protocol", Some("P-CSC-GP")),
        },
    ]
}

#[tokio::test]
async fn golden_rule_scenarios_decide_as_the_domain_reference_says() {
    on_each_backend(|db| async move {
        let w = world();
        let app = spawn_with(db, w.pop.clone()).await;
        for case in cases() {
            let child = w.c[case.child];
            let facts = read_facts(&app, &case, child).await;
            let permitted = matches!(case.expect.0, "permitted" | "break_glass");
            let items = facts["items"].as_array().unwrap().len();
            let withheld = facts["withheld"].as_u64().unwrap();
            if permitted {
                assert_eq!((items, withheld), (1, 0), "{}: released", case.name);
            } else {
                assert_eq!(
                    (items, withheld),
                    (0, 1),
                    "{}: withheld and counted",
                    case.name
                );
            }
            let read = logged(&app, child, case.category).await;
            assert_eq!(read["decision"], case.expect.0, "{}: {read}", case.name);
            assert_eq!(
                read["protocol"].as_str(),
                case.expect.1,
                "{}: {read}",
                case.name
            );
        }
        let log = app.log().await;
        let bg = log.iter().filter(|e| e.break_glass).collect::<Vec<_>>();
        assert_eq!(bg.len(), 1, "exactly the break-glass read is flagged");
        assert!(
            bg[0]
                .justification
                .as_deref()
                .unwrap()
                .contains("strategy discussion")
        );
        let cp_flag = log
            .iter()
            .flat_map(|e| e.reads["reads"].as_array().unwrap().iter())
            .find(|r| r["category"] == "social_care.child_protection_flag")
            .unwrap();
        assert_eq!(
            cp_flag["notify_owner"], true,
            "8: the local authority is told"
        );
    })
    .await;
}

#[tokio::test]
async fn break_glass_is_offered_only_where_the_protocol_allows_it() {
    on_each_backend(|db| async move {
        let w = world();
        let app = spawn_with(db, w.pop.clone()).await;
        let sw = principal("sw-1", LA, Role::SocialWorker);
        let q = "query($id: ID!) { person(id: $id) { names { given } } }";
        // C6: no involvement; P-MASH allows break-glass, so it is offered.
        let reply = app.query(&sw, Some("safeguarding"), q, json!({ "id": w.c["C6"].to_string() })).await;
        let err = reply.error_at("names").unwrap();
        assert_eq!(err["extensions"]["reason"], "no_legitimate_relationship");
        assert_eq!(err["extensions"]["breakGlassAvailable"], true);
        // C3b for a DSL: P-ENC does not allow break-glass, so a justification changes nothing.
        let dsl = principal("dsl-1", S1, Role::Dsl);
        let reply = app
            .post(
                Some(&app.token(&dsl)),
                Some("safeguarding"),
                &[("Kinship-Justification", "worried about this child")],
                json!({ "query": "query($id: ID!) { person(id: $id) { facts { items { id } withheld } } }", "variables": { "id": w.c["C3b"].to_string() } }),
            )
            .await;
        assert_eq!(reply.body["data"]["person"]["facts"]["withheld"], 1);
        assert!(app.log().await.iter().all(|e| !e.break_glass));
    })
    .await;
}

#[tokio::test]
async fn early_help_consent_given_then_withdrawn_takes_effect_on_the_next_request() {
    on_each_backend(|db| async move {
        let w = world();
        let app = spawn_with(db, w.pop.clone()).await;
        let ehp = principal("ehp-1", LA, Role::EarlyHelpPractitioner);
        let child = w.c["C2"];
        async fn read(app: &TestApp, who: &Principal, child: PersonId) -> usize {
            let q = "query($id: ID!) { person(id: $id) { facts(categories: [\"education.attendance\"]) { items { id } withheld } } }";
            let reply = app.query(who, Some("early_help"), q, json!({ "id": child.to_string() })).await;
            reply.body["data"]["person"]["facts"]["items"].as_array().unwrap().len()
        }
        assert_eq!(read(&app, &ehp, child).await, 0, "2: no consent yet");
        let now = Utc::now();
        let given = Population {
            consents: vec![consent(child, ConsentState::Given, Purpose::EarlyHelp, now - Duration::seconds(5))],
            ..Population::default()
        };
        load::population(app.store.conn(), &given, now).await.unwrap();
        assert_eq!(read(&app, &ehp, child).await, 1, "3: consent given");
        assert_eq!(logged(&app, child, DataCategory::EducationAttendance).await["decision"], "permitted");
        let withdrawn = Population {
            consents: vec![consent(child, ConsentState::Withdrawn, Purpose::EarlyHelp, Utc::now())],
            ..Population::default()
        };
        load::population(app.store.conn(), &withdrawn, now).await.unwrap();
        assert_eq!(read(&app, &ehp, child).await, 0, "4: withdrawn before the read");
        assert_eq!(logged(&app, child, DataCategory::EducationAttendance).await["decision"], "consent_withdrawn");
    })
    .await;
}

#[tokio::test]
async fn a_shielded_address_is_withheld_while_other_fields_resolve() {
    on_each_backend(|db| async move {
        let w = world();
        let app = spawn_with(db, w.pop.clone()).await;
        let child = w.c["C2"];
        let now = Utc::now();
        let given = Population {
            consents: vec![consent(
                child,
                ConsentState::Given,
                Purpose::EarlyHelp,
                now - Duration::seconds(5),
            )],
            ..Population::default()
        };
        load::population(app.store.conn(), &given, now)
            .await
            .unwrap();
        let hv = principal("hv-1", COMMUNITY, Role::HealthVisitor);
        let reply = app
            .query(
                &hv,
                Some("early_help"),
                "query($id: ID!) { person(id: $id) { names { given } addresses { line1 } } }",
                json!({ "id": child.to_string() }),
            )
            .await;
        assert_eq!(reply.status, 200);
        assert!(
            reply.body["data"]["person"]["names"]
                .as_array()
                .is_some_and(|n| !n.is_empty()),
            "5: other fields resolve"
        );
        assert!(reply.body["data"]["person"]["addresses"].is_null());
        let err = reply.error_at("addresses").unwrap();
        assert_eq!(err["extensions"]["reason"], "shielded");
        assert_eq!(err["extensions"]["protocol"], "P-EH");
        assert!(
            err["extensions"].get("breakGlassAvailable").is_none(),
            "break-glass never opens a shield"
        );
    })
    .await;
}
