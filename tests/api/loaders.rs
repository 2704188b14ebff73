//! Loaders batch: a query over many children issues a bounded number of SQL statements,
//! however many children it touches.

use kinship::model::{Involvement, InvolvementId, InvolvementKind, PersonId};
use kinship::population::{self, Population, PopulationSpec};
use kinship::store::load;
use serde_json::json;

use crate::helpers::{on_each_backend, principal, spawn_with};

const QUERY: &str = "query($ids: [ID!]!) { people(ids: $ids) { id names { given family } dateOfBirth addresses { postcode } families { id kind members { items { role person { id names { given } } } withheld } } involvements { kind } timeline(first: 10) { entries { kind } withheld } } }";

#[tokio::test]
async fn fifty_children_and_their_families_take_a_bounded_number_of_statements() {
    on_each_backend(|db| async move {
        let pop = population::generate(&PopulationSpec::new(40, 11));
        let children: Vec<PersonId> = pop
            .persons
            .iter()
            .filter(|p| p.is_child)
            .map(|p| p.id)
            .take(50)
            .collect();
        assert_eq!(children.len(), 50);
        let app = spawn_with(db, pop).await;
        // A MASH officer with an open enquiry on each of the fifty.
        let mash = principal(
            "mash-bulk",
            "local_authority:999",
            kinship::model::Role::MashOfficer,
        );
        let now = chrono::Utc::now();
        let enquiries = Population {
            involvements: children
                .iter()
                .map(|c| Involvement {
                    id: InvolvementId::new(),
                    kind: InvolvementKind::MashEnquiry,
                    principal: Some(mash.subject.clone()),
                    organisation: mash.organisation.clone(),
                    person_id: Some(*c),
                    family_id: None,
                    started_at: now - chrono::Duration::days(1),
                    ended_at: None,
                    service: None,
                    source: "test".into(),
                    category: None,
                    contact: None,
                })
                .collect(),
            ..Population::default()
        };
        load::population(app.store.conn(), &enquiries, now)
            .await
            .unwrap();

        let mut counts = Vec::new();
        for n in [5usize, 50] {
            let ids: Vec<String> = children[..n].iter().map(|c| c.to_string()).collect();
            let before = app.statements().await;
            let reply = app
                .query(&mash, Some("safeguarding"), QUERY, json!({ "ids": ids }))
                .await;
            let used = app.statements().await - before;
            assert_eq!(reply.status, 200, "{:?}", reply.body);
            let people = reply.body["data"]["people"].as_array().unwrap();
            assert_eq!(people.len(), n);
            assert!(
                people
                    .iter()
                    .all(|p| p["names"].as_array().is_some_and(|a| !a.is_empty())),
                "all fifty are readable"
            );
            counts.push(used);
        }
        eprintln!("statements for 5 and 50 children: {counts:?}");
        // Unbatched, each child would cost a dozen statements or more. Batched, fifty children
        // cost fewer statements than there are children, and not much more than five do (a
        // batch can split when keys arrive after the loader's 1 ms window, which a loaded
        // machine makes likelier).
        assert!(counts[1] < 50, "fewer statements than children: {counts:?}");
        assert!(
            counts[1] <= counts[0] * 2,
            "statements barely grow with children: {counts:?}"
        );
    })
    .await;
}
