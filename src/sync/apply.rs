//! One batch, one transaction: check, classify (new, changed, unchanged), link, write.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use kinship_connector_sdk::{Batch, SourceRecord};
use uuid::Uuid;

use super::derive::{self, Checked, Rows};
use super::timing::{Stage, Timings};
use super::{Running, SyncError};
use crate::config::LinkageConfig;
use crate::linkage::probabilistic::{Field, PairScore, Record, Scorer};
use crate::linkage::{self, Candidates, Decision, Method, Outcome, Probable, Probables};
use crate::model::{IdentifierSystem, Person, PersonId, Relationship, RelationshipKind};
use crate::store::batch::{BatchTxn, SqliteTxn, Writer};
use crate::store::sync::{
    self as rows, Declared, Existing, MatchReviewRow, Quarantined, RecordRow, Run,
};
use crate::store::{Store, graph};

struct Work {
    record: SourceRecord,
    checked: Checked,
    hash: String,
    existing: Option<Existing>,
    person: Option<PersonId>,
    method: Option<&'static str>,
    /// The score a probabilistic link was made with.
    score: Option<PairScore>,
    /// Candidates a person must decide on.
    reviews: Vec<Probable>,
}

/// What the sync engine keeps between batches about linkage. Held under a lock: linkage is
/// serialised across the connectors of a process.
#[derive(Debug, Default)]
pub(crate) struct LinkState {
    /// How many persons the graph holds, counted once and kept up to date: the prior of the
    /// probabilistic model.
    persons: Option<u64>,
    /// The engine's own connection to a SQLite file, kept between batches (see
    /// [`crate::store::batch`]).
    writer: Option<crate::store::batch::Writer>,
}

fn quarantined(
    connector: &str,
    run: &Run,
    key: Option<String>,
    reason: String,
    raw: String,
) -> Quarantined {
    Quarantined {
        id: Uuid::new_v4(),
        connector: connector.to_owned(),
        source_key: key,
        reason,
        raw,
        received_at: Utc::now(),
        run_id: Some(run.id),
        state: "open".into(),
        attempts: 0,
        resolved_at: None,
    }
}

/// The stored envelope: the record without its raw bytes (those are stored beside it).
fn envelope_json(r: &SourceRecord) -> String {
    let mut copy = r.clone();
    copy.raw = String::new();
    serde_json::to_string(&copy).unwrap_or_default()
}

/// What linkage needs to know about the records of a batch that have no person yet.
async fn candidates(tx: &mut BatchTxn, work: &[Work]) -> Result<Candidates, SyncError> {
    let mut values: BTreeSet<(IdentifierSystem, String)> = BTreeSet::new();
    let mut names: BTreeSet<(String, String, chrono::NaiveDate)> = BTreeSet::new();
    for w in work.iter().filter(|w| w.person.is_none()) {
        let e = &w.checked.evidence;
        values.extend(
            e.nhs_number
                .iter()
                .map(|v| (IdentifierSystem::NhsNumber, v.clone())),
        );
        values.extend(e.upn.iter().map(|v| (IdentifierSystem::Upn, v.clone())));
        values.extend(
            e.la_person_ids
                .iter()
                .map(|v| (IdentifierSystem::LaPersonId, v.clone())),
        );
        names.extend(e.name_dob.iter().cloned());
    }
    let mut c = Candidates::default();
    let mut persons: BTreeSet<PersonId> = BTreeSet::new();
    for (system, value, person) in tx
        .persons_by_identifiers(values.into_iter().collect())
        .await?
    {
        c.by_identifier
            .entry((system, value))
            .or_default()
            .insert(person);
        persons.insert(person);
    }
    for (family, given, dob, person) in tx.persons_by_names(names.into_iter().collect()).await? {
        c.by_name_dob
            .entry((family, given, dob))
            .or_default()
            .insert(person);
        persons.insert(person);
    }
    for (person, system, value) in tx
        .strong_identifiers_of(persons.into_iter().collect())
        .await?
    {
        c.held.entry(person).or_default().insert((system, value));
    }
    Ok(c)
}

/// The most candidate persons probabilistic linkage loads for one record (those blocking puts
/// first, by id): a bound per record, not per batch, so that how records fall into batches
/// does not decide which of them are compared with anyone. A bound of 5,000 persons a batch
/// once left most records of a large batch with no one to compare with, and made a person of
/// each.
const MAX_PROBABLE_PERSONS: usize = 200;

/// The persons probabilistic blocking puts beside the records of a batch that no
/// deterministic rule has linked, with their linkage records.
async fn probables(tx: &mut BatchTxn, work: &[&Work]) -> Result<Probables, SyncError> {
    let mut p = Probables::default();
    let (mut dated, mut names) = (BTreeSet::new(), BTreeSet::new());
    for w in work {
        let (d, n) = Probables::keys(&w.checked.evidence);
        if let Some((family, given)) = &w.checked.evidence.name {
            dated.extend(d.into_iter().map(|d| (d, family.clone(), given.clone())));
        }
        names.extend(n);
    }
    if dated.is_empty() && names.is_empty() {
        return Ok(p);
    }
    for (person, family, given, dob) in tx
        .names_for_blocking(dated.into_iter().collect(), names.into_iter().collect())
        .await?
    {
        p.add_key(person, &family, &given, dob);
    }
    let mut persons: BTreeSet<PersonId> = BTreeSet::new();
    for w in work {
        persons.extend(
            p.candidates(&w.checked.evidence)
                .into_iter()
                .take(MAX_PROBABLE_PERSONS),
        );
    }
    let persons: Vec<PersonId> = persons.into_iter().collect();
    for (id, records) in records_of(tx.holdings(persons).await?) {
        for r in records {
            p.add_record(id, r);
        }
    }
    Ok(p)
}

/// What probabilistic linkage compares of each of these persons: a record per name and
/// current address they hold, with their date of birth, sex and strong identifiers.
pub(super) async fn linkage_records(
    conn: &impl sea_orm::ConnectionTrait,
    persons: &[PersonId],
) -> Result<HashMap<PersonId, Vec<Record>>, SyncError> {
    Ok(records_of(rows::holdings(conn, persons).await?))
}

/// Linkage records from what the store holds of each person.
fn records_of(held: Vec<(Person, rows::Holding)>) -> HashMap<PersonId, Vec<Record>> {
    held.into_iter()
        .map(|(person, h)| {
            let records = person_records(&person, &h.names, &h.addresses, &h.ids);
            (person.id, records)
        })
        .collect()
}

/// A person's linkage records: one per name and current address (a few of each).
fn person_records(
    person: &Person,
    names: &[(String, String)],
    addresses: &[(String, String, String)],
    ids: &[(IdentifierSystem, String)],
) -> Vec<Record> {
    let dob = person.date_of_birth.map(|d| d.to_string());
    let sex = person.sex.as_str();
    let id = |s: IdentifierSystem| ids.iter().find(|(x, _)| *x == s).map(|(_, v)| v.as_str());
    let no_address = [(String::new(), String::new(), String::new())];
    let addresses = if addresses.is_empty() {
        &no_address[..]
    } else {
        addresses
    };
    let mut out = Vec::new();
    for (given, family) in names.iter().take(4) {
        for (line, town, postcode) in addresses.iter().take(3) {
            out.push(Record::from_values([
                (Field::GivenName, given.as_str()),
                (Field::FamilyName, family.as_str()),
                (Field::DateOfBirth, dob.as_deref().unwrap_or("")),
                (Field::Sex, if sex == "unknown" { "" } else { sex }),
                (Field::Postcode, postcode.as_str()),
                (Field::AddressLine, line.as_str()),
                (Field::Locality, town.as_str()),
                (
                    Field::NhsNumber,
                    id(IdentifierSystem::NhsNumber).unwrap_or(""),
                ),
                (Field::Upn, id(IdentifierSystem::Upn).unwrap_or("")),
            ]));
        }
    }
    out
}

/// Applies a linkage decision to a record: an existing person, a new one (for a record that
/// describes someone), or none yet (for a record about a person whose record has not arrived).
fn link(
    w: &mut Work,
    decision: Decision,
    new_persons: &mut Vec<Person>,
    now: chrono::DateTime<Utc>,
) {
    match decision {
        Decision::Existing(p, method) => {
            w.person = Some(p);
            w.method = Some(method.as_str());
        }
        Decision::New if w.checked.has_identity => {
            let id = PersonId::new();
            new_persons.push(Person {
                id,
                date_of_birth: w.checked.date_of_birth,
                sex: w.checked.sex,
                is_child: derive::is_child(w.checked.date_of_birth, now),
                shielded: false,
            });
            w.person = Some(id);
            w.method = Some(Method::New.as_str());
        }
        Decision::New => {}
    }
}

/// Applies one batch in one transaction, updating the run's counters. `link_lock` serialises
/// linkage across the connectors of this process: a batch must see the persons every earlier
/// batch created, or two feeds syncing at once would each create the same child.
pub async fn batch(
    store: &Store,
    c: &Running,
    batch: Batch,
    run: &mut Run,
    link_lock: &tokio::sync::Mutex<LinkState>,
    linkage_config: &LinkageConfig,
    timings: &Timings,
) -> Result<(), SyncError> {
    let mut lap = std::time::Instant::now();
    let connector = c.spec.id.as_str();
    let now = Utc::now();
    let conn = store.conn();

    let mut quarantine: Vec<Quarantined> = batch
        .rejected
        .into_iter()
        .map(|r| quarantined(connector, run, r.source_key, r.reason, r.raw))
        .collect();

    // Check every record; a later copy of a key in the same batch replaces an earlier one.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut work: Vec<Work> = Vec::with_capacity(batch.records.len());
    for record in batch.records {
        match derive::check(&c.manifest, &record) {
            Ok(checked) => {
                let hash = record.content_hash();
                let w = Work {
                    record,
                    checked,
                    hash,
                    existing: None,
                    person: None,
                    method: None,
                    score: None,
                    reviews: Vec::new(),
                };
                match index.get(&w.record.source_key) {
                    Some(&i) => work[i] = w,
                    None => {
                        index.insert(w.record.source_key.clone(), work.len());
                        work.push(w);
                    }
                }
            }
            Err(reason) => quarantine.push(quarantined(
                connector,
                run,
                Some(record.source_key.clone()),
                reason,
                record.raw,
            )),
        }
    }

    // The feed had nothing new: nothing to write, and the cursor stays where it is.
    if work.is_empty() && quarantine.is_empty() && batch.next.is_none() {
        return Ok(());
    }

    // New, changed or unchanged.
    let keys: Vec<String> = work.iter().map(|w| w.record.source_key.clone()).collect();
    let mut existing = rows::existing(conn, connector, &keys).await?;
    let mut unchanged = 0i64;
    work.retain_mut(|w| {
        w.existing = existing.remove(&w.record.source_key);
        if let Some(e) = &w.existing {
            w.checked.id = e.id;
        }
        match &w.existing {
            Some(e) if e.content_hash == w.hash => {
                unchanged += 1;
                false
            }
            Some(e) => {
                w.person = e.person_id;
                true
            }
            None => true,
        }
    });
    run.unchanged += unchanged;
    // Records that describe a person first, so records about them in the same batch follow.
    work.sort_by_key(|w| !w.checked.has_identity);

    // Link records that have no person yet, holding the linkage lock until the transaction
    // commits. Across hub processes on PostgreSQL an advisory lock does the same.
    lap = timings.lap(Stage::Classify, lap);
    let mut linking = link_lock.lock().await;
    lap = timings.lap(Stage::LockWait, lap);
    // The prior of the probabilistic model: counted once, before the transaction (which on
    // an in-memory database may hold the pool's only connection).
    let persons_held = match linking.persons {
        Some(n) => n,
        None => graph::person_count(conn).await?,
    };
    // On a SQLite file the batch is written through the engine's own connection, whose
    // transaction holds the write lock from here. Elsewhere the batch is one sea-orm
    // transaction. Either way the linkage reads below go through the transaction, and see
    // the state it builds on.
    let mut tx = begin(store, &mut linking).await?;
    lap = timings.lap(Stage::Commit, lap);
    let mut cands = candidates(&mut tx, &work).await?;
    // What the deterministic rules make of each record with no person yet, before the batch
    // links anything: which records need blocking, and which persons they reach.
    let guesses: Vec<Option<Decision>> = work
        .iter()
        .map(|w| {
            w.person
                .is_none()
                .then(|| linkage::decide(&w.checked.evidence, None, &cands))
        })
        .collect();
    // Persons a named record reaches by an identifier who hold no name yet: a council's
    // record (a UPN and a date of birth, never a name) made them. The named record may also
    // match the person another agency's records made; the two are then one (see
    // [`same_as_named`]).
    let mut nameless: BTreeSet<PersonId> = BTreeSet::new();
    if linkage_config.on_arrival {
        let reached: Vec<PersonId> = work
            .iter()
            .zip(&guesses)
            .filter(|(w, _)| w.checked.evidence.name.is_some())
            .filter_map(|(_, guess)| guess.and_then(by_identifier))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let named = tx.persons_named(reached.clone()).await?;
        nameless.extend(reached.into_iter().filter(|p| !named.contains(p)));
    }
    lap = timings.lap(Stage::Candidates, lap);
    // Blocking is prepared only for the records no deterministic rule is likely to link: most
    // records find their person by an identifier, and need no candidates.
    let doubtful: Vec<&Work> = work
        .iter()
        .zip(&guesses)
        .filter(|(w, guess)| {
            linkage_config.on_arrival
                && w.checked.has_identity
                && w.record.subject.is_none()
                && guess.is_some_and(|d| {
                    w.checked.evidence.needs_relatives()
                        || d == Decision::New
                        || by_identifier(d).is_some_and(|p| nameless.contains(&p))
                })
        })
        .map(|(w, _)| w)
        .collect();
    let mut probables = probables(&mut tx, &doubtful).await?;
    lap = timings.lap(Stage::Blocking, lap);
    let mut scorer = Scorer::standard(persons_held);
    let subject_keys: Vec<String> = work
        .iter()
        .filter(|w| w.person.is_none())
        .filter_map(|w| w.record.subject.clone())
        .collect();
    let mut person_of: HashMap<String, PersonId> =
        tx.persons_of_keys_after(connector, subject_keys).await?;
    let mut new_persons: Vec<Person> = Vec::new();
    // Persons found to be part of another as the batch links.
    let mut absorbed: Vec<Absorbed> = Vec::new();
    // Records with only a name wait for a second pass, once the persons they are related to
    // (by their own declarations, or by this batch's records declaring them) are known.
    let mut incoming: HashMap<String, Vec<String>> = HashMap::new();
    for w in &work {
        for r in &w.record.identity.relationships {
            incoming
                .entry(r.related_key.clone())
                .or_default()
                .push(w.record.source_key.clone());
        }
    }
    let related_keys = |w: &Work| -> Vec<String> {
        w.record
            .identity
            .relationships
            .iter()
            .map(|r| r.related_key.clone())
            .chain(
                incoming
                    .get(&w.record.source_key)
                    .into_iter()
                    .flatten()
                    .cloned(),
            )
            .collect()
    };
    let by_relatives = |w: &Work| {
        w.person.is_none()
            && w.record.subject.is_none()
            && w.checked.evidence.needs_relatives()
            && !related_keys(w).is_empty()
    };
    let (first, second): (Vec<usize>, Vec<usize>) =
        (0..work.len()).partition(|i| !by_relatives(&work[*i]));
    for pass in [first, second] {
        let relatives_pass = pass.first().is_some_and(|i| by_relatives(&work[*i]));
        if relatives_pass {
            let related: Vec<String> = pass
                .iter()
                .flat_map(|i| related_keys(&work[*i]))
                .filter(|k| !person_of.contains_key(k))
                .collect();
            person_of.extend(tx.persons_of_keys_after(connector, related).await?);
            let anchors: Vec<PersonId> = pass
                .iter()
                .flat_map(|i| related_keys(&work[*i]))
                .filter_map(|k| person_of.get(&k).copied())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            for (anchor, relative, family, given) in tx.relatives_with_names(anchors).await? {
                cands
                    .by_relative_name
                    .entry((anchor, family, given))
                    .or_default()
                    .insert(relative);
            }
        }
        for i in pass {
            let w = &mut work[i];
            if w.person.is_none() {
                let subject = w
                    .record
                    .subject
                    .as_ref()
                    .and_then(|s| person_of.get(s))
                    .copied();
                let mut decision = if relatives_pass {
                    let anchors: Vec<PersonId> = related_keys(w)
                        .iter()
                        .filter_map(|k| person_of.get(k).copied())
                        .collect();
                    linkage::decide_by_relatives(&w.checked.evidence, &anchors, &cands)
                } else {
                    linkage::decide(&w.checked.evidence, subject, &cands)
                };
                if decision == Decision::New && w.checked.has_identity && linkage_config.on_arrival
                {
                    // The prior follows the graph as this batch grows it: a batch that
                    // began on an empty store must not score its last record as if the
                    // store were still empty.
                    scorer.set_persons(persons_held + new_persons.len() as u64);
                    match linkage::decide_probable(
                        &w.checked.evidence,
                        &probables,
                        &scorer,
                        linkage_config.link_threshold,
                        linkage_config.review_threshold,
                    ) {
                        Outcome::Link(found) => {
                            decision = Decision::Existing(found.person, Method::Probabilistic);
                            w.score = Some(found.score);
                        }
                        Outcome::Unmatched => {}
                        Outcome::Review(found) => w.reviews = found,
                    }
                }
                if let Some(p) = by_identifier(decision)
                    && nameless.contains(&p)
                {
                    scorer.set_persons(persons_held + new_persons.len() as u64);
                    if let Some(found) = same_as_named(
                        &mut tx,
                        &w.checked.evidence,
                        p,
                        &mut cands,
                        &probables,
                        &scorer,
                        linkage_config,
                    )
                    .await?
                    {
                        cands.absorb(found.from, p);
                        probables.absorb(found.from, p);
                        for held in person_of.values_mut().filter(|h| **h == found.from) {
                            *held = p;
                        }
                        absorbed.push(found);
                    }
                    nameless.remove(&p);
                }
                link(w, decision, &mut new_persons, now);
                if let Some(p) = w.person {
                    cands.learn(p, &w.checked.evidence);
                    probables.learn(p, &w.checked.evidence);
                }
            }
            if let Some(p) = w.person {
                person_of.insert(w.record.source_key.clone(), p);
            }
        }
    }

    // Records linked, earlier in the batch, to a person since found part of another.
    let mut merged_in_store: Vec<Absorbed> = Vec::new();
    for a in absorbed {
        for w in work.iter_mut() {
            if w.person == Some(a.from) {
                w.person = Some(a.into);
            }
            for r in w.reviews.iter_mut().filter(|r| r.person == a.from) {
                r.person = a.into;
            }
            let own = w.person;
            w.reviews.retain(|r| Some(r.person) != own);
        }
        // A person this batch made goes unwritten; a stored one is merged once it commits.
        let before = new_persons.len();
        new_persons.retain(|n| n.id != a.from);
        if new_persons.len() == before {
            merged_in_store.push(a);
        }
    }

    lap = timings.lap(Stage::Link, lap);
    let organisations: Vec<_> = work
        .iter()
        .map(|w| w.checked.organisation.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    tx.ensure_organisations(organisations).await?;
    let created = new_persons.len() as u64;
    tx.persons(new_persons, now).await?;
    let changed: Vec<_> = work
        .iter()
        .filter_map(|w| w.existing.as_ref().map(|e| e.id))
        .collect();
    tx.delete_derived(changed).await?;
    let records: Vec<RecordRow> = work
        .iter()
        .map(|w| RecordRow {
            id: w.checked.id,
            connector: connector.to_owned(),
            organisation: w.checked.organisation.clone(),
            source_key: w.record.source_key.clone(),
            subject_key: w.record.subject.clone(),
            fetched_at: now,
            content_hash: w.hash.clone(),
            raw: w.record.raw.clone(),
            // The parsed envelope is kept only while the record waits for its person: once
            // linked, its rows are in the graph and the raw payload is kept beside them.
            envelope: w.person.is_none().then(|| envelope_json(&w.record)),
            person_id: w.person,
            link_method: w
                .method
                .map(str::to_owned)
                .or_else(|| w.existing.as_ref().and_then(|e| e.link_method.clone())),
            link_score: w.score.as_ref().map(|s| s.probability),
            link_detail: w.score.as_ref().and_then(|s| serde_json::to_string(s).ok()),
        })
        .collect();
    tx.upsert_records(records).await?;
    let reviews: Vec<MatchReviewRow> = work
        .iter()
        .filter_map(|w| Some((w, w.person?)))
        .flat_map(|(w, record_person)| {
            w.reviews.iter().map(move |r| MatchReviewRow {
                id: Uuid::now_v7(),
                source_record: w.checked.id,
                record_person,
                candidate_person: r.person,
                score: r.score.probability,
                detail: serde_json::to_string(&r.score).unwrap_or_default(),
                status: "open".into(),
                created_at: now,
                decided_at: None,
                decided_by: None,
                note: None,
            })
        })
        .collect();
    tx.insert_reviews(reviews).await?;

    let mut derived = Rows::default();
    for w in &work {
        if let Some(p) = w.person {
            derived.add(&w.record, &w.checked, p, now);
        }
    }

    // Records that were waiting for one of this batch's persons.
    let linked_keys: Vec<String> = work
        .iter()
        .filter(|w| w.person.is_some() && w.checked.has_identity)
        .map(|w| w.record.source_key.clone())
        .collect();
    let waiting = tx.waiting_for_after(connector, linked_keys.clone()).await?;
    let mut adopted: HashMap<PersonId, Vec<crate::model::SourceRecordId>> = HashMap::new();
    for (id, subject, envelope) in waiting {
        let Some(person) = person_of.get(&subject).copied() else {
            continue;
        };
        let Ok(record) = serde_json::from_str::<SourceRecord>(&envelope) else {
            continue;
        };
        if let Ok(mut checked) = derive::check(&c.manifest, &record) {
            checked.id = id;
            derived.add(&record, &checked, person, now);
            adopted.entry(person).or_default().push(id);
        }
    }
    for (person, ids) in adopted {
        tx.set_person(ids, person, Method::Subject.as_str()).await?;
    }

    // Relationships each record declares, resolved where both ends are known.
    let related: Vec<String> = work
        .iter()
        .flat_map(|w| {
            w.record
                .identity
                .relationships
                .iter()
                .map(|r| r.related_key.clone())
        })
        .filter(|k| !person_of.contains_key(k))
        .collect();
    person_of.extend(tx.persons_of_keys_after(connector, related).await?);
    let mut declared: Vec<Declared> = Vec::new();
    let mut links: Vec<Relationship> = Vec::new();
    for w in &work {
        for rel in &w.record.identity.relationships {
            let other = person_of.get(&rel.related_key).copied();
            let kind = RelationshipKind::parse(&rel.kind);
            let resolved = match (w.person, other, kind) {
                (Some(a), Some(b), Some(kind)) if a != b => {
                    links.push(Relationship {
                        person_id: a,
                        related_person: b,
                        kind,
                        parental_responsibility: rel.parental_responsibility,
                        organisation: w.checked.organisation.clone(),
                        source_record: Some(w.checked.id),
                    });
                    true
                }
                _ => false,
            };
            declared.push(Declared {
                id: Uuid::now_v7(),
                source_record: w.checked.id,
                connector: connector.to_owned(),
                related_key: rel.related_key.clone(),
                kind: rel.kind.clone(),
                parental_responsibility: rel.parental_responsibility,
                resolved,
            });
        }
    }
    // Earlier records that declared a relationship to one of this batch's records.
    let mut now_resolved = Vec::new();
    for (d, owner, org) in tx
        .unresolved_pointing_at_after(connector, linked_keys)
        .await?
    {
        let (Some(a), Some(b), Some(kind), Ok(organisation)) = (
            owner,
            person_of.get(&d.related_key).copied(),
            RelationshipKind::parse(&d.kind),
            org.parse(),
        ) else {
            continue;
        };
        if a != b {
            links.push(Relationship {
                person_id: a,
                related_person: b,
                kind,
                parental_responsibility: d.parental_responsibility,
                organisation,
                source_record: Some(d.source_record),
            });
        }
        now_resolved.push(d.id);
    }

    // Families and households of the persons whose relationships or addresses this batch
    // added or changed, rebuilt once at the end of the run.
    let touched: Vec<PersonId> = links
        .iter()
        .flat_map(|l| [l.person_id, l.related_person])
        .chain(derived.addresses.iter().map(|a| a.person_id))
        .chain(
            work.iter()
                .filter(|w| w.existing.is_some())
                .filter_map(|w| w.person),
        )
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Facts that call for a notification (Operation Encompass) are queued in this same
    // transaction: the outbox holds exactly the facts that committed.
    tx.derived(
        derived.names,
        derived.identifiers,
        derived.addresses,
        derived.facts,
        links,
        now,
    )
    .await?;
    tx.enqueue_families(touched, now).await?;
    let quarantined = i64::try_from(quarantine.len()).unwrap_or(i64::MAX);
    tx.declarations_and_quarantine(connector, declared, now_resolved, quarantine, keys, now)
        .await?;
    for w in &work {
        if w.existing.is_some() {
            run.changed += 1;
        } else {
            run.new += 1;
        }
    }
    run.quarantined += quarantined;
    tx.cursor_and_run(connector, batch.next.map(|n| n.0), run.clone(), now)
        .await?;
    lap = timings.lap(Stage::Write, lap);
    linking.writer = tx.commit().await?;
    timings.lap(Stage::Commit, lap);
    merge_found(store, &merged_in_store, now).await?;
    linking.persons = Some(persons_held + created - merged_in_store.len() as u64);
    Ok(())
}

/// Opens the transaction the engine writes in, under the linkage lock: on a SQLite file
/// through the engine's own connection (opened the first time), whose transaction holds the
/// write lock from here; elsewhere a sea-orm transaction, holding an advisory lock on
/// PostgreSQL so that the hub processes sharing a database link one at a time.
async fn begin(store: &Store, linking: &mut LinkState) -> Result<BatchTxn, SyncError> {
    Ok(match store.sqlite_file() {
        Some(path) => {
            let writer = match linking.writer.take() {
                Some(w) => w,
                None => tokio::task::spawn_blocking(move || Writer::open(&path))
                    .await
                    .map_err(|e| crate::store::StoreError::Task(e.to_string()))??,
            };
            BatchTxn::Sqlite(SqliteTxn::begin(writer).await?)
        }
        None => {
            let txn = crate::store::begin_write(store.conn()).await?;
            if sea_orm::ConnectionTrait::get_database_backend(&txn) == sea_orm::DbBackend::Postgres
            {
                use sea_orm::ConnectionTrait;
                txn.execute_unprepared("SELECT pg_advisory_xact_lock(7120141771)")
                    .await?;
            }
            BatchTxn::Orm(txn)
        }
    })
}

/// A person found, as a batch links, to be part of another: `from` goes into `into`, by the
/// rule `method` (with its score, when the rule is the model's).
struct Absorbed {
    from: PersonId,
    into: PersonId,
    method: Method,
    score: Option<PairScore>,
}

/// The person a record reached by an identifier, when that is how it was linked.
fn by_identifier(decision: Decision) -> Option<PersonId> {
    match decision {
        Decision::Existing(p, Method::NhsNumber | Method::Upn | Method::LaPersonId) => Some(p),
        _ => None,
    }
}

/// For a named record that reached nameless person `p` by an identifier: the one other person
/// the record is, by name and date of birth held by no one else, or by a match probability at
/// or above the link threshold with names agreeing; never a person holding a different NHS
/// number or UPN from `p`. The record joins `p`, and so that person is `p` too (absorbed into
/// it): whichever of a child's agencies' records arrives first, they end as one person.
async fn same_as_named(
    tx: &mut BatchTxn,
    evidence: &linkage::Evidence,
    p: PersonId,
    cands: &mut Candidates,
    probables: &Probables,
    scorer: &Scorer,
    config: &LinkageConfig,
) -> Result<Option<Absorbed>, SyncError> {
    let by_name = evidence
        .name_dob
        .as_ref()
        .and_then(|key| cands.by_name_dob.get(key))
        .map(|found| {
            found
                .iter()
                .copied()
                .filter(|q| *q != p)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let found = match by_name.as_slice() {
        [q] => Some((*q, Method::NameAndDateOfBirth, None)),
        [] => match linkage::decide_probable(
            evidence,
            probables,
            scorer,
            config.link_threshold,
            config.review_threshold,
        ) {
            Outcome::Link(found) if found.person != p => {
                Some((found.person, Method::Probabilistic, Some(found.score)))
            }
            _ => None,
        },
        _ => None,
    };
    let Some((q, method, score)) = found else {
        return Ok(None);
    };
    for (person, system, value) in tx.strong_identifiers_of(vec![p, q]).await? {
        cands
            .held
            .entry(person)
            .or_default()
            .insert((system, value));
    }
    if cands.conflicts(q, evidence, true) || cands.clash(p, q) {
        return Ok(None);
    }
    Ok(Some(Absorbed {
        from: q,
        into: p,
        method,
        score,
    }))
}

/// Merges each stored person a batch found to be part of another into it, once the batch has
/// committed, each in a transaction of its own: the absorbed person's first records take the
/// rule that joined them, and the person's families are rebuilt at the end of the run. A crash
/// between the batch and a merge leaves the two apart, as they were before the batch, for
/// `kinship link --all` or a reviewer to join.
async fn merge_found(
    store: &Store,
    merges: &[Absorbed],
    now: chrono::DateTime<Utc>,
) -> Result<(), SyncError> {
    for a in merges {
        let txn = crate::store::begin_write(store.conn()).await?;
        let detail = a.score.as_ref().and_then(|s| serde_json::to_string(s).ok());
        crate::store::matches::mark_linked(
            &txn,
            a.from,
            a.method.as_str(),
            a.score.as_ref().map(|s| s.probability),
            detail.as_deref(),
        )
        .await?;
        crate::store::matches::merge(&txn, a.from, a.into).await?;
        crate::store::families::enqueue(&txn, &[a.into], now).await?;
        txn.commit().await.map_err(crate::store::StoreError::from)?;
    }
    Ok(())
}

/// Rebuilds the families and households of the persons the run's batches queued, under the
/// linkage lock so that no batch writes beside it.
pub(super) async fn rebuild_families(
    store: &Store,
    link_lock: &tokio::sync::Mutex<LinkState>,
    indicators: &crate::practice::indicators::IndicatorSets,
    timings: &Timings,
) -> Result<u64, SyncError> {
    let mut linking = link_lock.lock().await;
    let started = std::time::Instant::now();
    // After an initial load every group is rebuilt at once, through the engine's own
    // connection where it has one, in a transaction of its own: a crash before the queue is
    // emptied leaves it for the next run.
    let everything = crate::store::families::wants_everything(store.conn()).await?;
    if everything {
        let mut tx = begin(store, &mut linking).await?;
        tx.rebuild_families_everything(Utc::now()).await?;
        linking.writer = tx.commit().await?;
    }
    let rebuilt = started.elapsed();
    let drained =
        crate::store::families::drain_rebuilt(store.conn(), indicators, everything).await?;
    timings.add(Stage::Families, rebuilt + drained.rebuild);
    timings.add(Stage::Indicators, drained.indicators);
    Ok(drained.persons)
}
