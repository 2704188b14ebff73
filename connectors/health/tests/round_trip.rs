//! Render → parse: the feed serves the fixture envelopes (every health kind, a CP-IS flag,
//! parents, a carer and siblings) as FHIR, the connector pulls them back, and identity and
//! facts carry the same information. Then upserts reach an incremental sync, and nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "support/harness.rs"]
mod support;

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use kinship_connector_health::feed::{self, Feed};
use kinship_connector_sdk::{Connector, Identity, SourceFact, SourceRecord};

fn patient_key(envelope_key: &str) -> String {
    format!("Patient/{}", feed::patient_id(envelope_key))
}

fn without_relationships(identity: &Identity) -> Identity {
    Identity {
        relationships: Vec::new(),
        ..identity.clone()
    }
}

/// What a fact must keep through the round trip.
fn gist(f: &SourceFact) -> (String, String, DateTime<Utc>, String) {
    (
        f.category.clone(),
        f.kind.clone(),
        f.occurred_at,
        f.summary.clone(),
    )
}

fn inverse(kind: &str) -> &str {
    match kind {
        "parent" | "carer" => "child",
        "child" => "parent",
        other => other,
    }
}

#[tokio::test]
async fn every_envelope_comes_back_with_the_same_identity_relationships_and_facts() {
    let envelopes = support::envelopes();
    let feed = Feed::new(envelopes.clone());
    assert_eq!(feed.organisation_kinds(), support::organisation_kinds());
    let url = support::serve(feed.router()).await;
    let pulled = support::pull_all(&support::connector(&url, 3), None).await;
    assert!(pulled.rejected.is_empty(), "{:?}", pulled.rejected);
    let records: HashMap<&str, &SourceRecord> = pulled
        .records
        .iter()
        .map(|r| (r.source_key.as_str(), r))
        .collect();
    let by_envelope: HashMap<&str, &SourceRecord> = envelopes
        .iter()
        .map(|e| (e.source_key.as_str(), e))
        .collect();

    let mut kinds = BTreeSet::new();
    let mut expected_records = 0;
    for e in &envelopes {
        let key = patient_key(&e.source_key);
        let patient = records
            .get(key.as_str())
            .unwrap_or_else(|| panic!("{key} delivered"));
        expected_records += 1;
        assert_eq!(patient.organisation, e.organisation, "{key}");
        assert_eq!(
            patient.identity,
            without_relationships(&e.identity),
            "{key}: names, birth date, sex, identifiers and addresses"
        );

        // Each declared relationship is a RelatedPerson: the related envelope's identity,
        // related to this patient the other way round.
        for rel in &e.identity.relationships {
            let related = by_envelope[rel.related_key.as_str()];
            let rp = pulled
                .records
                .iter()
                .find(|r| {
                    r.source_key.starts_with("RelatedPerson/")
                        && r.identity
                            .relationships
                            .first()
                            .map(|x| x.related_key.as_str())
                            == Some(key.as_str())
                        && r.identity.names == related.identity.names
                })
                .unwrap_or_else(|| panic!("{key}: a RelatedPerson for `{}`", rel.kind));
            expected_records += 1;
            assert_eq!(rp.organisation, e.organisation);
            assert_eq!(
                without_relationships(&rp.identity),
                without_relationships(&related.identity)
            );
            let back = &rp.identity.relationships[0];
            assert_eq!(back.kind, inverse(&rel.kind), "{key}: {}", rel.kind);
            assert_eq!(back.parental_responsibility, rel.parental_responsibility);
        }

        // Each fact is one record about this patient, of the same kind, category, time and
        // summary.
        let mut sent: Vec<_> = e.facts.iter().map(gist).collect();
        let mut got: Vec<_> = pulled
            .records
            .iter()
            .filter(|r| r.subject.as_deref() == Some(key.as_str()))
            .inspect(|r| assert_eq!(r.organisation, e.organisation))
            .flat_map(|r| r.facts.iter().map(gist))
            .collect();
        expected_records += got.len();
        sent.sort();
        got.sort();
        assert_eq!(got, sent, "{key}");
        kinds.extend(e.facts.iter().map(|f| f.kind.clone()));
    }
    assert_eq!(
        pulled.records.len(),
        expected_records,
        "nothing else delivered"
    );
    let expected_kinds: BTreeSet<String> = [
        "development_review",
        "immunisation",
        "condition",
        "mental_health_condition",
        "substance_misuse_referral",
        "ed_attendance",
        "self_harm_attendance",
        "camhs_referral",
        "sexual_health_contact",
        "cp_flag",
        "admission",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(kinds, expected_kinds, "the fixtures cover every kind");
}

#[tokio::test]
async fn an_incremental_sync_delivers_exactly_what_upsert_changed() {
    let envelopes = support::envelopes();
    let feed = Feed::new(envelopes.clone());
    let url = support::serve(feed.router()).await;
    let c = support::connector(&url, 2);
    let first = support::pull_all(&c, None).await;
    let final_cursor = first.last.clone().expect("a final cursor");

    // Unchanged: nothing new, and no cursor to store.
    let batch = c.pull(Some(&final_cursor)).await.unwrap();
    assert!(batch.records.is_empty() && batch.rejected.is_empty());
    assert!(batch.next.is_none());

    // The acute trust records a new ED attendance for Oliver; a new baby is registered.
    let mut oliver = envelopes
        .iter()
        .find(|e| e.source_key == "RX1/pat-000002")
        .cloned()
        .unwrap();
    let mut attendance = oliver.facts[0].clone();
    attendance.key = "f2".into();
    attendance.kind = "ed_attendance".into();
    attendance.category = "health.unscheduled_care".into();
    attendance.summary = "Attended ED with a cut to the arm; discharged home".into();
    attendance.payload = serde_json::json!({ "status": "finished" });
    oliver.facts.push(attendance);
    let mut baby = envelopes
        .iter()
        .find(|e| e.source_key == "RY1/pat-000001")
        .cloned()
        .unwrap();
    baby.source_key = "RY1/pat-000004".into();
    baby.facts.clear();
    baby.identity.identifiers[0].value = "9990000107".into();
    feed.upsert(vec![oliver, baby]);

    let second = support::pull_all(&c, Some(final_cursor)).await;
    let keys: BTreeSet<&str> = second
        .records
        .iter()
        .map(|r| r.source_key.as_str())
        .collect();
    let oliver_patient = patient_key("RX1/pat-000002");
    let baby_patient = patient_key("RY1/pat-000004");
    let mut expected: BTreeSet<String> = [oliver_patient.clone(), baby_patient.clone()].into();
    for r in &first.records {
        if r.subject.as_deref() == Some(oliver_patient.as_str()) {
            expected.insert(r.source_key.clone());
        }
    }
    let new_encounters: Vec<&SourceRecord> = second
        .records
        .iter()
        .filter(|r| !first.records.iter().any(|f| f.source_key == r.source_key))
        .filter(|r| r.source_key.starts_with("Encounter/"))
        .collect();
    assert_eq!(new_encounters.len(), 1);
    expected.insert(new_encounters[0].source_key.clone());
    assert_eq!(
        keys,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );

    // And then nothing again.
    let last = second.last.expect("a final cursor after the changes");
    let batch = c.pull(Some(&last)).await.unwrap();
    assert!(batch.records.is_empty() && batch.next.is_none());
}

#[tokio::test]
async fn a_next_link_stays_valid_while_records_change() {
    let envelopes = support::envelopes();
    let feed = Feed::new(envelopes.clone());
    let url = support::serve(feed.router()).await;
    let c = support::connector(&url, 2);
    // Take the first page of Patients, then change a record already delivered on it.
    let first = c.pull(None).await.unwrap();
    let delivered = &first.records[0].source_key;
    let envelope = envelopes
        .iter()
        .find(|e| &patient_key(&e.source_key) == delivered)
        .cloned()
        .unwrap();
    feed.upsert(vec![envelope]);
    let rest = support::pull_all(&c, first.next.clone()).await;
    let patients: Vec<&str> = first
        .records
        .iter()
        .chain(&rest.records)
        .filter(|r| r.source_key.starts_with("Patient/"))
        .map(|r| r.source_key.as_str())
        .collect();
    let distinct: BTreeSet<&str> = patients.iter().copied().collect();
    assert_eq!(distinct.len(), envelopes.len(), "no Patient skipped");
    assert_eq!(
        patients.len(),
        envelopes.len() + 1,
        "the changed one comes again, once"
    );
}
