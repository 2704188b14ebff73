//! Reads through the gate over the generated population: what is permitted resolves, what is
//! not is null with `ISP_DENIED` or left out of a list and counted.

use kinship::model::{
    DataCategory, IdentifierSystem, InvolvementKind, NhsNumber, PersonId, Principal,
};
use kinship::population::Population;
use serde_json::json;

use crate::helpers::{on_each_backend, spawn_app};

/// A practitioner holding an open involvement of `kind` with a child, and that child —
/// preferring a child with a fact in `category` when given.
pub fn involved(
    pop: &Population,
    kind: InvolvementKind,
    category: Option<DataCategory>,
) -> (Principal, PersonId) {
    let children: Vec<(Principal, PersonId)> = pop
        .involvements
        .iter()
        .filter(|i| i.kind == kind && i.ended_at.is_none())
        .filter_map(|i| {
            let p = pop.practitioners.iter().find(|p| {
                i.principal.as_deref() == Some(p.principal.subject.as_str())
                    || (i.principal.is_none() && i.organisation == p.principal.organisation)
            })?;
            Some((p.principal.clone(), i.person_id?))
        })
        .collect();
    children
        .iter()
        .find(|(_, c)| {
            category.is_none_or(|cat| {
                pop.facts
                    .iter()
                    .any(|f| f.person_id == *c && f.category == cat)
            })
        })
        .or(children.first())
        .cloned()
        .expect("the population has such an involvement")
}

const WHOLE: &str = "query($id: ID!) { person(id: $id) { id names { given family } dateOfBirth sex identifiers { system value } addresses { postcode } families { id members { items { role person { id } } withheld } } involvements { kind active } timeline(first: 100) { entries { category } withheld } } }";

#[tokio::test]
async fn an_allocated_social_worker_sees_the_whole_child() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 60).await;
        let (sw, child) = involved(
            &app.population,
            InvolvementKind::AllocatedSocialWorker,
            None,
        );
        let reply = app
            .query(
                &sw,
                Some("safeguarding"),
                WHOLE,
                json!({ "id": child.to_string() }),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let person = &reply.body["data"]["person"];
        assert!(
            reply.body["errors"].is_null(),
            "nothing is refused to the allocated social worker here: {:?}",
            reply.body["errors"]
        );
        assert!(!person["names"].as_array().unwrap().is_empty());
        assert!(person["dateOfBirth"].is_string());
        let nhs = person["identifiers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["system"] == "NHS_NUMBER")
            .expect("an NHS number");
        assert!(nhs["value"].as_str().unwrap().parse::<NhsNumber>().is_ok());
        assert!(!person["addresses"].as_array().unwrap().is_empty());
        let families = person["families"].as_array().unwrap();
        assert!(!families.is_empty());
        assert!(families[0]["members"]["items"].as_array().unwrap().len() >= 2);
        assert!(
            person["involvements"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["kind"] == "ALLOCATED_SOCIAL_WORKER")
        );
        let facts = app
            .population
            .facts
            .iter()
            .filter(|f| f.person_id == child)
            .count();
        let entries = person["timeline"]["entries"].as_array().unwrap().len();
        let withheld = person["timeline"]["withheld"].as_u64().unwrap() as usize;
        assert_eq!(
            entries + withheld,
            facts.min(100 + withheld),
            "every fact is released or counted"
        );
    })
    .await;
}

#[tokio::test]
async fn a_category_the_protocol_does_not_share_is_null_with_isp_denied() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 60).await;
        let (dsl, child) = involved(
            &app.population,
            InvolvementKind::DslCurrentSchool,
            Some(DataCategory::PoliceDomesticAbuse),
        );
        let reply = app
            .query(
                &dsl,
                Some("safeguarding"),
                "query($id: ID!) { person(id: $id) { names { family } addresses { postcode } da: facts(categories: [\"police.domestic_abuse\"]) { items { payload summary } withheld } health: facts(agency: HEALTH) { items { id } withheld } } }",
                json!({ "id": child.to_string() }),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let person = &reply.body["data"]["person"];
        assert!(person["names"].as_array().is_some_and(|n| !n.is_empty()), "Encompass shares identity");
        assert!(person["addresses"].is_null());
        let err = reply.error_at("addresses").expect("an addresses error");
        assert_eq!(err["extensions"]["code"], "ISP_DENIED");
        assert_eq!(err["extensions"]["category"], "person.contact");
        assert_eq!(err["extensions"]["reason"], "category_not_shared");
        assert_eq!(err["extensions"]["protocol"], "P-ENC");
        assert_eq!(err["extensions"]["clause"], "2.1");
        assert!(!err["message"].as_str().unwrap().contains(&child.to_string()));
        // Encompass releases only its fields, and the summary is limited with them.
        let da = person["da"]["items"].as_array().unwrap();
        assert!(!da.is_empty());
        for item in da {
            let keys: Vec<&String> = item["payload"].as_object().unwrap().keys().collect();
            assert!(keys.iter().all(|k| *k == "eventRef" || *k == "role"), "{keys:?}");
            assert!(item["summary"].as_str().unwrap().contains("P-ENC"));
        }
        let health = app
            .population
            .facts
            .iter()
            .filter(|f| f.person_id == child && f.agency == kinship::model::Agency::Health)
            .count() as u64;
        assert!(person["health"]["items"].as_array().unwrap().is_empty());
        assert_eq!(person["health"]["withheld"].as_u64().unwrap(), health);
    })
    .await;
}

#[tokio::test]
async fn a_practitioner_with_no_involvement_is_refused_for_no_legitimate_relationship() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 60).await;
        let (sw, child) = involved(
            &app.population,
            InvolvementKind::AllocatedSocialWorker,
            None,
        );
        let stranger = kinship::model::Principal {
            subject: "sw-stranger".into(),
            ..sw
        };
        let reply = app
            .query(
                &stranger,
                Some("safeguarding"),
                "query($id: ID!) { person(id: $id) { names { family } } }",
                json!({ "id": child.to_string() }),
            )
            .await;
        let err = reply.error_at("names").expect("a names error");
        assert_eq!(err["extensions"]["reason"], "no_legitimate_relationship");
        assert_eq!(err["extensions"]["protocol"], "P-MASH");
        assert_eq!(err["extensions"]["breakGlassAvailable"], true);
    })
    .await;
}

#[tokio::test]
async fn search_finds_only_people_the_caller_may_see_and_pages() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 60).await;
        let pop = &app.population;
        let (sw, child) = involved(pop, InvolvementKind::AllocatedSocialWorker, None);
        let nhs = pop
            .identifiers
            .iter()
            .find(|i| i.person_id == child && i.system == IdentifierSystem::NhsNumber)
            .unwrap()
            .value
            .clone();
        let spaced = format!("{} {} {}", &nhs[..3], &nhs[3..6], &nhs[6..]);
        let q = "query($v: String!) { searchPeople(identifier: { system: NHS_NUMBER, value: $v }) { edges { node { id } } pageInfo { hasNextPage } } }";
        let reply = app.query(&sw, Some("safeguarding"), q, json!({ "v": spaced })).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let ids: Vec<&str> = reply.body["data"]["searchPeople"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![child.to_string()]);

        let stranger = kinship::model::Principal { subject: "sw-stranger".into(), ..sw.clone() };
        let reply = app.query(&stranger, Some("safeguarding"), q, json!({ "v": nhs })).await;
        assert_eq!(reply.body["data"]["searchPeople"]["edges"], json!([]), "no hint that the child exists");

        let reply = app.query(&sw, Some("safeguarding"), q, json!({ "v": "9990000019" })).await;
        assert_eq!(reply.codes(), vec!["BAD_USER_INPUT"]);
        assert!(!reply.body["errors"][0]["message"].as_str().unwrap().contains("999"), "never echoes the value");

        // Paging by family name over the children the social worker is allocated to.
        let family = pop.names.iter().find(|n| n.person_id == child).unwrap().family.clone();
        let page = "query($f: String!, $after: String) { searchPeople(familyName: $f, first: 1, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }";
        let mut seen = Vec::new();
        let mut after = serde_json::Value::Null;
        loop {
            let reply = app.query(&sw, Some("safeguarding"), page, json!({ "f": family, "after": after })).await;
            let conn = &reply.body["data"]["searchPeople"];
            for e in conn["edges"].as_array().unwrap() {
                seen.push(e["node"]["id"].as_str().unwrap().to_owned());
            }
            if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                break;
            }
            after = conn["pageInfo"]["endCursor"].clone();
            assert!(seen.len() < 50, "paging terminates");
        }
        assert!(seen.contains(&child.to_string()));
        let mut unique = seen.clone();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "no person twice across pages");
    })
    .await;
}

#[tokio::test]
async fn a_search_without_a_criterion_is_a_bad_input() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 5).await;
        let (sw, _) = involved(
            &app.population,
            InvolvementKind::AllocatedSocialWorker,
            None,
        );
        let reply = app
            .query(
                &sw,
                Some("safeguarding"),
                "{ searchPeople(givenName: \"A\") { edges { cursor } } }",
                json!({}),
            )
            .await;
        assert_eq!(reply.codes(), vec!["BAD_USER_INPUT"]);
    })
    .await;
}
