//! Probabilistic linkage through sync, explained and corrected over GraphQL: two forces' POLE
//! feeds on loopback describe the same children differently (a diminutive, swapped names, a
//! child known by another given name) and twins; the hub links, queues, and a data steward
//! confirms, rejects and splits.

use std::sync::{Arc, Mutex};

use axum::Router;
use kinship::model::{PersonId, Role};
use kinship::population::{self, PopulationSpec};
use kinship::store::graph::{self, FactFilter};
use kinship::store::sync as rows;
use kinship::sync::{ConnectorSpec, Engine, RetryPolicy, Running, progress::Silent};
use serde_json::{Value, json};

use crate::golden::LA;
use crate::helpers::{TestApp, on_each_backend, principal, spawn_with};
use crate::sync::serve;

/// A POLE page: each person `(id, given, family, dob, sex)` with a missing-person event.
fn page(force: &str, persons: &[(&str, &str, &str, &str, &str)]) -> Value {
    let mut events = Vec::new();
    let mut links = Vec::new();
    for (i, (id, ..)) in persons.iter().enumerate() {
        let event = format!("{id}-e");
        events.push(json!({
            "id": event, "type": "missing_person",
            "reference": format!("{}-2026-{:06}", force.to_uppercase(), i + 1),
            "occurred_from": "2026-10-01T10:00:00Z", "occurred_to": null, "location": null
        }));
        links.push(json!({ "from": id, "to": event, "role": "missing_person" }));
    }
    json!({
        "persons": persons.iter().map(|(id, given, family, dob, sex)| json!({
            "id": id, "names": [{ "given": given, "family": family }], "dob": dob, "sex": sex
        })).collect::<Vec<_>>(),
        "objects": [], "locations": [], "events": events, "links": links, "next_cursor": null
    })
}

/// Serves a page that the test can change, as force `force`'s feed.
async fn feed(page: Arc<Mutex<Value>>) -> String {
    let router = Router::new()
        .route(
            "/pole/events",
            axum::routing::get(move || {
                let p = page.lock().unwrap().clone();
                async move { axum::Json(p) }
            }),
        )
        .route(
            "/pole/health",
            axum::routing::get(|| async {
                axum::Json(json!({ "status": "ok", "profile": "kinship-pole/1" }))
            }),
        );
    serve(router).await
}

fn spec(id: &str, force: &str, url: &str) -> ConnectorSpec {
    ConnectorSpec {
        id: id.into(),
        kind: "police-pole".into(),
        settings: json!({ "base_url": url, "force": force, "page_size": 50, "timeout_seconds": 2 }),
        rate_per_second: None,
        retry: RetryPolicy {
            base: std::time::Duration::from_millis(20),
            max_delay: std::time::Duration::from_secs(1),
            max_attempts: 3,
        },
    }
}

async fn person_of(app: &TestApp, connector: &str, key: &str) -> PersonId {
    let key = format!("pole:person:{key}");
    rows::persons_of_keys(app.store.conn(), connector, std::slice::from_ref(&key))
        .await
        .unwrap()
        .remove(&key)
        .unwrap_or_else(|| panic!("{connector}/{key} has a person"))
}

async fn facts_of(app: &TestApp, person: PersonId) -> u64 {
    graph::fact_groups(app.store.conn(), &[person], &FactFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|g| g.count)
        .sum()
}

const QUEUE: &str = "{ matchReviewQueue { reviews { id status score explanation \
    comparisons { name label weight } recordPerson { id names { given family } } \
    candidatePerson { id names { given family } } } hasNext } }";

#[tokio::test]
async fn sync_links_probable_matches_queues_doubtful_ones_and_a_steward_corrects_them() {
    on_each_backend(|db| async move {
        let app = spawn_with(db, population::generate(&PopulationSpec::new(0, 1))).await;
        let engine = Engine::new(app.store.clone());
        let a = Arc::new(Mutex::new(page(
            "a",
            &[
                ("p1", "William", "Zebedee", "2014-03-04", "male"),
                ("p2", "Amelia", "Quillfeather", "2013-07-08", "female"),
                ("p3", "Aisha", "Khanzada", "2012-01-02", "female"),
                ("p4", "Tobias", "Thistlewood", "2010-02-03", "male"),
            ],
        )));
        let b_persons = [
            ("q1", "Bill", "Zebedee", "2014-03-04", "male"),
            // Amelia's twin sister: same family, birthday and sex.
            ("q2", "Olivia", "Quillfeather", "2013-07-08", "female"),
            ("q3", "Khanzada", "Aisha", "2012-01-02", "female"),
            // Tobias, known to this force by his middle name.
            ("q4", "Ezra", "Thistlewood", "2010-02-03", "male"),
        ];
        let b = Arc::new(Mutex::new(page("b", &b_persons)));
        let force_a = Running::build(spec("force-a", "aforce", &feed(a).await)).unwrap();
        let force_b = Running::build(spec("force-b", "bforce", &feed(b.clone()).await)).unwrap();
        engine.run(&force_a, &Silent).await.unwrap();
        engine.run(&force_b, &Silent).await.unwrap();

        // A diminutive and swapped names link; twins and a different given name do not.
        assert_eq!(person_of(&app, "force-a", "p1").await, person_of(&app, "force-b", "q1").await);
        assert_eq!(person_of(&app, "force-a", "p3").await, person_of(&app, "force-b", "q3").await);
        let (amelia, olivia) = (person_of(&app, "force-a", "p2").await, person_of(&app, "force-b", "q2").await);
        assert_ne!(amelia, olivia, "twins are never linked automatically");
        let (tobias, ezra) = (person_of(&app, "force-a", "p4").await, person_of(&app, "force-b", "q4").await);
        assert_ne!(tobias, ezra);

        // The steward sees both doubtful pairs, explained.
        let steward = principal("steward-1", LA, Role::DataSteward);
        let r = app.query(&steward, Some("record_linkage"), QUEUE, json!({})).await;
        assert!(r.body["errors"].is_null(), "{:?}", r.body);
        let reviews = r.body["data"]["matchReviewQueue"]["reviews"].as_array().unwrap().clone();
        let pair = |rp: PersonId, cp: PersonId| {
            reviews
                .iter()
                .find(|v| v["recordPerson"]["id"] == rp.to_string() && v["candidatePerson"]["id"] == cp.to_string())
                .unwrap_or_else(|| panic!("a review of {rp} against {cp} in {reviews:?}"))
                .clone()
        };
        let twins = pair(olivia, amelia);
        let middle = pair(ezra, tobias);
        assert_eq!(reviews.len(), 2, "{reviews:?}");
        assert!(twins["score"].as_f64().unwrap() >= 0.5);
        assert!(twins["explanation"].as_str().unwrap().contains("date of birth agrees exactly"), "{twins}");
        assert_eq!(twins["candidatePerson"]["names"][0]["given"], "Amelia", "identity read under P-IDR");
        assert!(twins["comparisons"].as_array().unwrap().iter().any(|c| c["name"] == "name" && c["weight"].as_f64().unwrap() < 0.0));

        // A social worker may not review links.
        let sw = principal("sw-1", LA, Role::SocialWorker);
        let refused = app.query(&sw, Some("safeguarding"), QUEUE, json!({})).await;
        assert_eq!(refused.codes(), ["FORBIDDEN"], "{:?}", refused.body);

        // Provenance: why Bill's record joined William.
        let prov = "query($id: ID!) { person(id: $id) { provenance { id connector method score explanation comparisons { name label } } } }";
        let william = person_of(&app, "force-a", "p1").await;
        let r = app.query(&steward, Some("record_linkage"), prov, json!({ "id": william.to_string() })).await;
        let records = r.body["data"]["person"]["provenance"].as_array().unwrap().clone();
        let linked = records
            .iter()
            .find(|x| x["method"] == "probabilistic")
            .unwrap_or_else(|| panic!("a probabilistic link in {records:?}"));
        assert!(linked["score"].as_f64().unwrap() >= 0.9);
        let why = linked["explanation"].as_str().unwrap();
        assert!(why.contains("diminutive") && why.contains("match probability"), "{why}");

        // Reject the twins, change Olivia's record and pull everything again: still apart,
        // and not queued again.
        let reject = "mutation($id: ID!) { rejectMatch(id: $id, note: \"twins: different children\") { status decidedBy } }";
        let r = app.query(&steward, Some("record_linkage"), reject, json!({ "id": twins["id"] })).await;
        assert_eq!(r.body["data"]["rejectMatch"]["status"], "rejected", "{:?}", r.body);
        assert_eq!(r.body["data"]["rejectMatch"]["decidedBy"], "steward-1");
        let again = app.query(&steward, Some("record_linkage"), reject, json!({ "id": twins["id"] })).await;
        assert_eq!(again.codes(), ["BAD_USER_INPUT"], "a decided review cannot be decided again");
        {
            let mut changed = b_persons;
            changed[1] = ("q2", "Olivia", "Quillfeather", "2013-07-08", "f");
            let mut p = page("b", &changed);
            p["events"][1]["reference"] = json!("B-2026-999999");
            *b.lock().unwrap() = p;
        }
        rows::reset_cursor(app.store.conn(), "force-b").await.unwrap();
        let rerun = engine.run(&force_b, &Silent).await.unwrap();
        assert!(rerun.changed >= 1, "{rerun:?}");
        assert_ne!(person_of(&app, "force-a", "p2").await, person_of(&app, "force-b", "q2").await);
        let r = app.query(&steward, Some("record_linkage"), QUEUE, json!({})).await;
        let open: Vec<Value> = r.body["data"]["matchReviewQueue"]["reviews"].as_array().unwrap().clone();
        assert_eq!(open.len(), 1, "only the middle-name pair is still open: {open:?}");
        assert_eq!(open[0]["id"], middle["id"]);

        // Confirm the middle name: Ezra's records and facts join Tobias.
        let ezra_facts = facts_of(&app, ezra).await;
        let tobias_facts = facts_of(&app, tobias).await;
        assert!(ezra_facts >= 1 && tobias_facts >= 1);
        let confirm = "mutation($id: ID!) { confirmMatch(id: $id, note: \"school confirms Ezra is Tobias's middle name\") { status candidatePerson { id } } }";
        let r = app.query(&steward, Some("record_linkage"), confirm, json!({ "id": middle["id"] })).await;
        assert_eq!(r.body["data"]["confirmMatch"]["status"], "confirmed", "{:?}", r.body);
        assert_eq!(person_of(&app, "force-b", "q4").await, tobias);
        assert_eq!(facts_of(&app, tobias).await, ezra_facts + tobias_facts);
        let r = app.query(&steward, Some("record_linkage"), prov, json!({ "id": tobias.to_string() })).await;
        let records = r.body["data"]["person"]["provenance"].as_array().unwrap().clone();
        let confirmed = records
            .iter()
            .find(|x| x["method"] == "review:confirmed")
            .unwrap_or_else(|| panic!("the confirmed record in {records:?}"));
        assert!(confirmed["explanation"].as_str().unwrap().contains("reviewer"));

        // Split it off again: the record, and its event's facts, go to a new person.
        let split = "mutation($p: ID!, $r: [ID!]!) { splitPerson(personId: $p, sourceRecords: $r, note: \"confirmed in error\") { id } }";
        let r = app
            .query(&steward, Some("record_linkage"), split, json!({ "p": tobias.to_string(), "r": [confirmed["id"]] }))
            .await;
        let new: PersonId = r.body["data"]["splitPerson"]["id"].as_str().unwrap_or_else(|| panic!("{:?}", r.body)).parse().unwrap();
        assert_eq!(person_of(&app, "force-b", "q4").await, new);
        assert_eq!(person_of(&app, "force-a", "p4").await, tobias);
        assert_eq!(facts_of(&app, new).await, ezra_facts);
        assert_eq!(facts_of(&app, tobias).await, tobias_facts);
        // Naming every record of a person leaves nothing to split from.
        let all: Vec<Value> = {
            let r = app.query(&steward, Some("record_linkage"), prov, json!({ "id": tobias.to_string() })).await;
            r.body["data"]["person"]["provenance"].as_array().unwrap().iter().map(|x| x["id"].clone()).collect()
        };
        let r = app.query(&steward, Some("record_linkage"), split, json!({ "p": tobias.to_string(), "r": all })).await;
        assert_eq!(r.codes(), ["BAD_USER_INPUT"], "{:?}", r.body);

        // Every decision is in the access log, as an action on each person it touched.
        let log = app.log().await;
        for (action, persons) in [
            ("reject_match", vec![olivia, amelia]),
            ("confirm_match", vec![ezra, tobias]),
            ("split_person", vec![tobias, new]),
        ] {
            let entry = log
                .iter()
                .find(|e| {
                    e.reads["actions"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|a| a["action"] == action))
                })
                .unwrap_or_else(|| panic!("{action} is logged"));
            for p in persons {
                assert!(entry.subjects.contains(&p), "{action} names {p}");
            }
        }
    })
    .await;
}

/// A record that first arrives naming no one waits without a person. When it changes to name
/// someone and is linked by score, the score and its explanation stay with the link, as they
/// do for a record linked by score when it first arrives.
#[tokio::test]
async fn a_record_linked_by_score_when_it_changes_keeps_the_score_it_was_linked_with() {
    on_each_backend(|db| async move {
        let app = spawn_with(db, population::generate(&PopulationSpec::new(0, 1))).await;
        let engine = Engine::new(app.store.clone());
        let a = Arc::new(Mutex::new(page("a", &[("p1", "William", "Zebedee", "2014-03-04", "male")])));
        let named = page("b", &[("q1", "Bill", "Zebedee", "2014-03-04", "male")]);
        let mut unnamed = named.clone();
        unnamed["persons"][0]["names"] = json!([]);
        unnamed["persons"][0]["dob"] = Value::Null;
        unnamed["persons"][0]["sex"] = Value::Null;
        let b = Arc::new(Mutex::new(unnamed));
        let force_a = Running::build(spec("force-a", "aforce", &feed(a).await)).unwrap();
        let force_b = Running::build(spec("force-b", "bforce", &feed(b.clone()).await)).unwrap();
        engine.run(&force_a, &Silent).await.unwrap();
        engine.run(&force_b, &Silent).await.unwrap();
        let key = "pole:person:q1".to_owned();
        let waiting = rows::existing(app.store.conn(), "force-b", std::slice::from_ref(&key)).await.unwrap();
        assert!(
            waiting.get(&key).is_some_and(|e| e.person_id.is_none()),
            "a record naming no one is kept, waiting for a person: {waiting:?}"
        );

        *b.lock().unwrap() = named;
        rows::reset_cursor(app.store.conn(), "force-b").await.unwrap();
        let rerun = engine.run(&force_b, &Silent).await.unwrap();
        assert_eq!(rerun.changed, 1, "{rerun:?}");
        let william = person_of(&app, "force-a", "p1").await;
        assert_eq!(person_of(&app, "force-b", "q1").await, william);

        let steward = principal("steward-1", LA, Role::DataSteward);
        let prov = "query($id: ID!) { person(id: $id) { provenance { id connector method score explanation } } }";
        let r = app.query(&steward, Some("record_linkage"), prov, json!({ "id": william.to_string() })).await;
        let records = r.body["data"]["person"]["provenance"].as_array().unwrap_or_else(|| panic!("{:?}", r.body)).clone();
        let linked = records
            .iter()
            .find(|x| x["connector"] == "force-b" && x["method"] == "probabilistic")
            .unwrap_or_else(|| panic!("Bill's record linked by score in {records:?}"));
        assert!(linked["score"].as_f64().is_some_and(|s| s >= 0.9), "{linked}");
        let why = linked["explanation"].as_str().unwrap_or_default();
        assert!(why.contains("diminutive") && why.contains("match probability"), "{linked}");
    })
    .await;
}

#[tokio::test]
async fn families_come_from_declared_relationships_and_households_from_shared_addresses() {
    use kinship::model::{FamilyId, RelationshipKind};
    on_each_backend(|db| async move {
        let (store, _dir) = crate::sync::fresh_store(db).await;
        let pop = population::generate(&PopulationSpec::new(12, 3));
        let (_feeds, _runs) = kinship::cli::demo::sync_from_feeds(&store, &pop, &Silent)
            .await
            .unwrap();
        let graph_of = kinship::cli::demo::hub_records(&store, &pop).await.unwrap();
        let conn = store.conn();
        // A parent a school lists as a contact (a name and the pupil's address, no date of
        // birth) joins the parent the health record already gave the hub: no name is held
        // by two persons.
        {
            use sea_orm::{ConnectionTrait, Statement};
            let shared = conn
                .query_all_raw(Statement::from_string(
                    conn.get_database_backend(),
                    "SELECT family_norm, given_norm FROM person_names \
                     GROUP BY family_norm, given_norm HAVING COUNT(DISTINCT person_id) > 1"
                        .to_owned(),
                ))
                .await
                .unwrap();
            assert_eq!(shared.len(), 0, "names held by more than one person");
        }
        let derived = |basis: &'static str, person: PersonId| {
            let store = store.clone();
            async move {
                let memberships = graph::memberships(store.conn(), &[person]).await.unwrap();
                let ids: Vec<FamilyId> = memberships.iter().map(|m| m.family_id).collect();
                graph::families(store.conn(), &ids)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|f| f.basis.as_deref() == Some(basis))
                    .map(|f| f.id)
                    .collect::<Vec<_>>()
            }
        };

        // A parent a source declares is in the child's derived family, as a parent, with the
        // record that declared it.
        let mut checked = 0;
        for r in pop
            .relationships
            .iter()
            .filter(|r| r.kind == RelationshipKind::Parent)
        {
            let (Some(child), Some(parent)) =
                (graph_of.get(&r.person_id), graph_of.get(&r.related_person))
            else {
                continue;
            };
            // Declared by either side's record, in either direction.
            let declared = graph::relationships(conn, &[*child, *parent])
                .await
                .unwrap();
            if !declared.iter().any(|d| {
                (d.person_id, d.related_person) == (*child, *parent)
                    || (d.person_id, d.related_person) == (*parent, *child)
            }) {
                continue;
            }
            let families = derived("relationships", *child).await;
            assert_eq!(families.len(), 1, "one derived family for the child");
            let members = graph::members(conn, &families).await.unwrap();
            let role = |p: PersonId| {
                members
                    .iter()
                    .find(|m| m.person_id == p)
                    .map(|m| m.role.clone())
            };
            assert_eq!(role(*parent).as_deref(), Some("parent"), "{members:?}");
            assert_eq!(role(*child).as_deref(), Some("child"));
            assert!(
                members.iter().all(|m| m.source_record.is_some()),
                "each edge names its source"
            );
            checked += 1;
        }
        assert!(checked > 3, "some declared parents were checked: {checked}");

        // Persons who share a current address are a household.
        let mut by_address: std::collections::HashMap<(String, String), Vec<PersonId>> =
            Default::default();
        for a in pop.addresses.iter().filter(|a| a.valid_to.is_none()) {
            if let Some(p) = graph_of.get(&a.person_id) {
                let held = graph::addresses(conn, &[*p]).await.unwrap();
                if held
                    .iter()
                    .any(|h| h.valid_to.is_none() && h.postcode == a.postcode && h.line1 == a.line1)
                {
                    by_address
                        .entry((a.postcode.clone(), a.line1.clone()))
                        .or_default()
                        .push(*p);
                }
            }
        }
        let shared: Vec<Vec<PersonId>> = by_address
            .into_values()
            .map(|mut v| {
                v.sort();
                v.dedup();
                v
            })
            .filter(|v| (2..=6).contains(&v.len()))
            .collect();
        assert!(!shared.is_empty(), "the population has shared addresses");
        for people in &shared {
            let households = derived("address", people[0]).await;
            assert_eq!(households.len(), 1, "one household per current address");
            let members = graph::members(conn, &households).await.unwrap();
            for p in people {
                assert!(members.iter().any(|m| m.person_id == *p), "{p} lives there");
            }
        }

        // Rebuilding changes nothing: ids are stable.
        let first = derived("relationships", shared[0][0]).await;
        let everyone: Vec<PersonId> = graph_of.values().copied().collect();
        kinship::store::families::rebuild(conn, &everyone, chrono::Utc::now())
            .await
            .unwrap();
        assert_eq!(derived("relationships", shared[0][0]).await, first);
    })
    .await;
}

#[tokio::test]
async fn link_all_merges_what_sync_left_apart_and_queues_the_doubtful_once() {
    use kinship::config::LinkageConfig;
    use kinship::store::{Store, StoreOptions};
    on_each_backend(|db| async move {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::helpers::fresh_database(db, dir.path()).await;
        let store = Store::connect(&StoreOptions::new(url.clone()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        // Sync with linkage on arrival switched off: every force's record is its own person.
        let engine = Engine::new(store.clone()).with_linkage(LinkageConfig {
            on_arrival: false,
            ..LinkageConfig::default()
        });
        let a = page(
            "a",
            &[
                ("p1", "William", "Zebedee", "2014-03-04", "male"),
                ("p2", "Tobias", "Thistlewood", "2010-02-03", "male"),
            ],
        );
        let b = page(
            "b",
            &[
                ("q1", "Bill", "Zebedee", "2014-03-04", "male"),
                // A twin brother: the same initials, birthday and sex.
                ("q2", "Theo", "Thistlewood", "2010-02-03", "male"),
            ],
        );
        for (id, force, p) in [("force-a", "aforce", a), ("force-b", "bforce", b)] {
            let c = Running::build(spec(id, force, &feed(Arc::new(Mutex::new(p))).await)).unwrap();
            engine.run(&c, &Silent).await.unwrap();
        }
        let person = |connector: &'static str, key: &'static str| {
            let store = store.clone();
            async move {
                let key = format!("pole:person:{key}");
                rows::persons_of_keys(store.conn(), connector, std::slice::from_ref(&key))
                    .await
                    .unwrap()[&key]
            }
        };
        assert_ne!(person("force-a", "p1").await, person("force-b", "q1").await);

        // `kinship link --all`, as an operator runs it.
        let config = dir.path().join("kinship.toml");
        std::fs::write(&config, format!("[database]\nurl = \"{url}\"\n")).unwrap();
        let run = || {
            std::process::Command::new(env!("CARGO_BIN_EXE_kinship"))
                .args(["link", "--all", "--config"])
                .arg(&config)
                .output()
                .unwrap()
        };
        let out = run();
        let said = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{said}");
        assert!(
            said.contains("1 persons merged, 1 pairs queued for review"),
            "{said}"
        );
        assert_eq!(person("force-a", "p1").await, person("force-b", "q1").await);
        let (tobias, theo) = (person("force-a", "p2").await, person("force-b", "q2").await);
        assert_ne!(tobias, theo, "twins are not merged");
        let open = kinship::store::matches::open(store.conn(), None, 10)
            .await
            .unwrap();
        assert_eq!(open.len(), 1);
        let pair = [open[0].record_person, open[0].candidate_person];
        assert!(pair.contains(&tobias) && pair.contains(&theo));
        let william = person("force-a", "p1").await;
        let provenance = kinship::store::matches::provenance(store.conn(), &[william])
            .await
            .unwrap();
        assert!(
            provenance
                .iter()
                .any(|(_, r)| r.method.as_deref() == Some("probabilistic")
                    && r.score.is_some_and(|s| s >= 0.9)),
            "{provenance:?}"
        );

        // Again: nothing new to merge, and the open pair is not queued twice.
        let said = String::from_utf8_lossy(&run().stderr).to_string();
        assert!(
            said.contains("0 persons merged, 0 pairs queued for review"),
            "{said}"
        );
        // Rejected, it stays rejected.
        kinship::store::matches::decide(
            store.conn(),
            open[0].id,
            "rejected",
            "steward-1",
            Some("twins"),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        let said = String::from_utf8_lossy(&run().stderr).to_string();
        assert!(
            said.contains("0 persons merged, 0 pairs queued for review"),
            "{said}"
        );
        assert!(
            kinship::store::matches::open(store.conn(), None, 10)
                .await
                .unwrap()
                .is_empty()
        );

        // `--all` takes no files.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kinship"))
            .args(["link", "--all", "--input", "x.csv"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    })
    .await;
}

/// A fresh SQLite store holding a generated population as loaded (no sync), and its persons.
async fn loaded(
    families: usize,
    seed: u64,
) -> (kinship::store::Store, tempfile::TempDir, Vec<PersonId>) {
    let (store, dir) = crate::sync::fresh_store(crate::helpers::Db::Sqlite).await;
    let pop = population::generate(&PopulationSpec::new(families, seed));
    kinship::store::load::population(store.conn(), &pop, chrono::Utc::now())
        .await
        .unwrap();
    let everyone = pop.persons.iter().map(|p| p.id).collect();
    (store, dir, everyone)
}

#[tokio::test]
async fn a_rebuild_of_thousands_of_persons_keeps_every_family_its_relationships_make() {
    // One rebuild takes up to 5,000 queued persons, and everyone already grouped with them:
    // well over 10,000 persons here. Every declared parent, carer, child or sibling
    // relationship must still put both persons in one family built from relationships.
    //
    // A drain with every person queued rebuilds every group from one read of the graph; a
    // drain with few queued walks out from each, a chunk at a time. Both make the same groups.
    let (store, _dir, mut everyone) = loaded(4_000, 23).await;
    assert!(everyone.len() > 12_000, "{} persons", everyone.len());
    let groups = || {
        let store = store.clone();
        async move {
            crate::sync::query(
                &store,
                "SELECT m.family_id, m.person_id, m.role, m.organisation_id, m.source_record_id \
                 FROM family_members m JOIN families f ON f.id = m.family_id \
                 WHERE f.basis IS NOT NULL",
            )
            .await
            .into_iter()
            .map(|r| {
                (
                    r.try_get::<uuid::Uuid>("", "family_id").unwrap(),
                    r.try_get::<uuid::Uuid>("", "person_id").unwrap(),
                    r.try_get::<String>("", "role").unwrap(),
                    r.try_get::<String>("", "organisation_id").unwrap(),
                    r.try_get::<Option<uuid::Uuid>>("", "source_record_id")
                        .unwrap(),
                )
            })
            .collect::<std::collections::BTreeSet<_>>()
        }
    };
    kinship::store::families::enqueue(store.conn(), &everyone, chrono::Utc::now())
        .await
        .unwrap();
    let drained = kinship::store::families::drain(store.conn(), &Default::default())
        .await
        .unwrap();
    assert!(
        drained.everything,
        "every person queued: one read of the graph"
    );
    let whole = groups().await;
    assert!(whole.len() > 20_000, "{} memberships", whole.len());
    // Then a chunk of queued persons at a time, as a drain takes them, twice: the second
    // rebuild starts from the groups the first made, as a later sync does.
    everyone.sort();
    for _ in 0..2 {
        for chunk in everyone.chunks(5_000) {
            kinship::store::families::rebuild(store.conn(), chunk, chrono::Utc::now())
                .await
                .unwrap();
        }
    }
    assert!(
        whole == groups().await,
        "chunked rebuilds changed the groups"
    );
    let count = |sql: &'static str| {
        let store = store.clone();
        async move {
            crate::sync::query(&store, sql).await[0]
                .try_get_by_index::<i64>(0)
                .unwrap()
        }
    };
    let related = count(
        "SELECT COUNT(*) FROM relationships WHERE kind IN ('parent', 'carer', 'child', 'sibling')",
    )
    .await;
    assert!(related > 5_000, "{related} relationships");
    let apart = count(
        "SELECT COUNT(*) FROM relationships r \
         WHERE r.kind IN ('parent', 'carer', 'child', 'sibling') AND NOT EXISTS ( \
           SELECT 1 FROM family_members a \
           JOIN family_members b ON b.family_id = a.family_id \
           JOIN families f ON f.id = a.family_id AND f.basis = 'relationships' \
           WHERE a.person_id = r.person_id AND b.person_id = r.related_person_id)",
    )
    .await;
    assert_eq!(
        apart, 0,
        "related persons in no family together, of {related}"
    );
}

#[tokio::test]
async fn a_person_who_moves_leaves_one_household_and_joins_another() {
    let (store, _dir, everyone) = loaded(40, 29).await;
    crate::sync::rebuild_groups(&store, &everyone).await;
    let households = |store: kinship::store::Store| async move {
        let mut by: std::collections::BTreeMap<uuid::Uuid, std::collections::BTreeSet<uuid::Uuid>> =
            Default::default();
        for r in crate::sync::query(
            &store,
            "SELECT m.family_id, m.person_id FROM family_members m \
             JOIN families f ON f.id = m.family_id WHERE f.basis = 'address'",
        )
        .await
        {
            by.entry(r.try_get("", "family_id").unwrap())
                .or_default()
                .insert(r.try_get("", "person_id").unwrap());
        }
        by
    };
    let before = households(store.clone()).await;
    let mut big = before.iter().filter(|(_, m)| m.len() >= 3);
    let (&old, old_members) = big.next().expect("a household of three or more");
    let (&new, new_members) = big.next().expect("a second one");
    let mover = *old_members.iter().next().unwrap();
    let host = *new_members.iter().next().unwrap();

    // The mover's current address ends; they now live at the host's address.
    {
        use sea_orm::{ConnectionTrait, Statement};
        let conn = store.conn();
        let backend = conn.get_database_backend();
        conn.execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE addresses SET valid_to = '2026-11-01' WHERE person_id = ? AND valid_to IS NULL",
            [mover.into()],
        ))
        .await
        .unwrap();
        conn.execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO addresses (id, person_id, line1, line2, town, postcode, postcode_norm, \
             uprn, usage, valid_from, valid_to, organisation_id, source_record_id) \
             SELECT ?, ?, line1, line2, town, postcode, postcode_norm, uprn, usage, \
             '2026-11-01', NULL, organisation_id, NULL FROM addresses \
             WHERE person_id = ? AND valid_to IS NULL LIMIT 1",
            [uuid::Uuid::now_v7().into(), mover.into(), host.into()],
        ))
        .await
        .unwrap();
    }
    // Only the mover is queued, as a sync queues the person whose address changed.
    crate::sync::rebuild_groups(&store, &[PersonId(mover)]).await;
    let after = households(store.clone()).await;
    let mut expected_new = new_members.clone();
    expected_new.insert(mover);
    assert_eq!(
        after.get(&new),
        Some(&expected_new),
        "the mover joins the new household"
    );
    let mut expected_old = old_members.clone();
    expected_old.remove(&mover);
    assert_eq!(
        after.get(&old),
        Some(&expected_old),
        "the old household goes on without them"
    );
    // Every other household is as it was.
    for (id, members) in &before {
        if *id != old && *id != new {
            assert_eq!(after.get(id), Some(members));
        }
    }
}

/// Merging two persons (a reviewer's confirmation, or a relink) carries everything the hub
/// holds of the absorbed person: its referrals and its shield order, which must never be lost
/// or widened by a merge.
#[tokio::test]
async fn a_merged_person_keeps_the_referrals_and_the_shield_order_of_the_one_absorbed() {
    use kinship::model::{OrganisationId, Person, Sex};
    use kinship::practice::referrals::{Concern, Referral, ReferralConsent, Referrer, Urgency};
    use kinship::store::{matches, practice};

    on_each_backend(|db| async move {
        let (store, _dir) = crate::sync::fresh_store(db).await;
        let conn = store.conn();
        let now = chrono::Utc::now();
        let person = || Person {
            id: PersonId::new(),
            date_of_birth: None,
            sex: Sex::Unknown,
            is_child: true,
            shielded: false,
        };
        let roles_of = |p: PersonId| {
            let store = store.clone();
            async move {
                let mut roles: Vec<Role> = practice::shield_roles(store.conn(), &[p])
                    .await
                    .unwrap()
                    .into_iter()
                    .flat_map(|(_, r)| r)
                    .collect();
                roles.sort_by_key(|r| r.as_str());
                roles
            }
        };
        let (from, into, other) = (person(), person(), person());
        for p in [&from, &into, &other] {
            matches::insert_person(conn, p, now).await.unwrap();
        }
        let referral = Referral {
            id: uuid::Uuid::new_v4(),
            person: from.id,
            concerns: vec![Concern::Neglect],
            what_was_seen: "seen".into(),
            consent: ReferralConsent::NotSought,
            urgency: Urgency::Routine,
            referrer: Referrer {
                subject: "dsl-1".into(),
                organisation: "school:100001".parse::<OrganisationId>().unwrap(),
                role: "dsl".into(),
            },
            submitted_at: now,
            due_at: now,
            decided: None,
            re_referral: false,
        };
        practice::insert_referral(conn, &referral).await.unwrap();
        let order = [Role::SocialWorker, Role::Dsl];
        practice::shield(conn, from.id, "refuge", &order, "sw-1", now)
            .await
            .unwrap();

        // Only the absorbed person was shielded: the merged person is, by the same order.
        matches::merge(conn, from.id, into.id).await.unwrap();
        let referrals = practice::referrals_of(conn, &[into.id]).await.unwrap();
        assert_eq!(referrals.len(), 1, "the referral follows the merge");
        assert_eq!(roles_of(into.id).await, [Role::Dsl, Role::SocialWorker]);
        let merged = graph::persons(conn, &[into.id]).await.unwrap();
        assert!(merged[0].shielded, "the merged person is shielded");

        // Both shielded: only the roles both orders allowed may see the merged person.
        practice::shield(conn, other.id, "refuge", &[Role::SocialWorker], "sw-2", now)
            .await
            .unwrap();
        matches::merge(conn, other.id, into.id).await.unwrap();
        assert_eq!(roles_of(into.id).await, [Role::SocialWorker]);
        assert!(roles_of(other.id).await.is_empty());

        // A person a source flagged shielded absorbs one under an order: lifting the order
        // leaves the source's flag standing.
        let flagged = Person {
            shielded: true,
            ..person()
        };
        let ordered = person();
        for p in [&flagged, &ordered] {
            matches::insert_person(conn, p, now).await.unwrap();
        }
        practice::shield(conn, ordered.id, "refuge", &order, "sw-3", now)
            .await
            .unwrap();
        matches::merge(conn, ordered.id, flagged.id).await.unwrap();
        assert!(practice::lift_shield(conn, flagged.id).await.unwrap());
        let lifted = graph::persons(conn, &[flagged.id]).await.unwrap();
        assert!(
            lifted[0].shielded,
            "the source's flag outlives the lifted order"
        );
    })
    .await;
}
