//! Bulk writes of graph rows: a generated population (the tests' fixture path) and the rows
//! the sync engine derives from source records. Rows go in chunks sized under SQLite's
//! bound-parameter limit; the caller owns the transaction.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, TransactionTrait};

use super::StoreError;
use super::entity::{
    addresses, consents, facts, families, family_members, involvements, organisations,
    person_identifiers, person_names, persons, relationships, source_records,
};
use super::graph::normalise_name;
use crate::model::{
    Address, Consent, Fact, Family, FamilyMember, Identifier, Involvement, Organisation, Person,
    PersonName, Relationship, SourceRecord,
};
use crate::population::Population;

/// Rows per INSERT: about 14 columns a row stays well under SQLite's 32,766 bound parameters.
const CHUNK: usize = 1_000;

/// Inserts rows in chunks. Takes the rows already built: an iterator with a borrowing closure
/// held across the awaits would make the future not provably `Send`.
async fn insert_chunks<E, A>(conn: &impl ConnectionTrait, rows: Vec<A>) -> Result<(), StoreError>
where
    E: EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(CHUNK).collect();
        E::insert_many(chunk).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// Inserts organisations.
pub async fn organisations(
    conn: &impl ConnectionTrait,
    rows: &[Organisation],
) -> Result<(), StoreError> {
    insert_chunks(
        conn,
        rows.iter()
            .map(|o| organisations::ActiveModel {
                id: Set(o.id.to_string()),
                kind: Set(o.id.kind().to_string()),
                name: Set(o.name.clone()),
            })
            .collect(),
    )
    .await
}

/// Inserts person nodes.
pub async fn persons(
    conn: &impl ConnectionTrait,
    rows: &[Person],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    insert_chunks(
        conn,
        rows.iter()
            .map(|p| persons::ActiveModel {
                id: Set(p.id.0),
                date_of_birth: Set(p.date_of_birth),
                sex: Set(p.sex.as_str().to_owned()),
                is_child: Set(p.is_child),
                shielded: Set(p.shielded),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .collect(),
    )
    .await
}

/// Inserts names, keeping the normalised forms search compares.
pub async fn names(conn: &impl ConnectionTrait, rows: &[PersonName]) -> Result<(), StoreError> {
    insert_chunks(
        conn,
        rows.iter()
            .map(|n| person_names::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                person_id: Set(n.person_id.0),
                given: Set(n.given.clone()),
                family: Set(n.family.clone()),
                given_norm: Set(normalise_name(&n.given)),
                family_norm: Set(normalise_name(&n.family)),
                usage: Set(n.usage.clone()),
                organisation_id: Set(n.organisation.to_string()),
                source_record_id: Set(n.source_record.map(|s| s.0)),
                date_of_birth: Set(n.date_of_birth),
            })
            .collect(),
    )
    .await
}

/// Inserts identifiers (already checked and normalised).
pub async fn identifiers(
    conn: &impl ConnectionTrait,
    rows: &[Identifier],
) -> Result<(), StoreError> {
    insert_chunks(
        conn,
        rows.iter()
            .map(|i| person_identifiers::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                person_id: Set(i.person_id.0),
                system: Set(i.system.as_str().to_owned()),
                value: Set(i.value.clone()),
                verified: Set(i.verified),
                organisation_id: Set(i.organisation.to_string()),
                source_record_id: Set(i.source_record.map(|s| s.0)),
            })
            .collect(),
    )
    .await
}

/// Inserts addresses, keeping the normalised postcode search compares.
pub async fn addresses(conn: &impl ConnectionTrait, rows: &[Address]) -> Result<(), StoreError> {
    insert_chunks(
        conn,
        rows.iter()
            .map(|a| addresses::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                person_id: Set(a.person_id.0),
                line1: Set(a.line1.clone()),
                line2: Set(a.line2.clone()),
                town: Set(a.town.clone()),
                postcode: Set(a.postcode.clone()),
                postcode_norm: Set(Address::normalise_postcode(&a.postcode)),
                uprn: Set(a.uprn.clone()),
                usage: Set(a.usage.clone()),
                valid_from: Set(a.valid_from),
                valid_to: Set(a.valid_to),
                organisation_id: Set(a.organisation.to_string()),
                source_record_id: Set(a.source_record.map(|s| s.0)),
            })
            .collect(),
    )
    .await
}

/// Inserts families.
pub async fn families(
    conn: &impl ConnectionTrait,
    rows: &[Family],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    insert_chunks(
        conn,
        rows.iter()
            .map(|f| families::ActiveModel {
                id: Set(f.id.0),
                kind: Set(f.kind.as_str().to_owned()),
                created_at: Set(now),
                basis: Set(None),
            })
            .collect(),
    )
    .await
}

/// Inserts family memberships.
pub async fn members(conn: &impl ConnectionTrait, rows: &[FamilyMember]) -> Result<(), StoreError> {
    insert_chunks(
        conn,
        rows.iter()
            .map(|m| family_members::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                family_id: Set(m.family_id.0),
                person_id: Set(m.person_id.0),
                role: Set(m.role.clone()),
                organisation_id: Set(m.organisation.to_string()),
                source_record_id: Set(m.source_record.map(|s| s.0)),
            })
            .collect(),
    )
    .await
}

/// Inserts declared relationships between persons.
pub async fn relationships(
    conn: &impl ConnectionTrait,
    rows: &[Relationship],
) -> Result<(), StoreError> {
    insert_chunks(
        conn,
        rows.iter()
            .map(|r| relationships::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                person_id: Set(r.person_id.0),
                related_person_id: Set(r.related_person.0),
                kind: Set(r.kind.as_str().to_owned()),
                parental_responsibility: Set(r.parental_responsibility),
                organisation_id: Set(r.organisation.to_string()),
                source_record_id: Set(r.source_record.map(|s| s.0)),
            })
            .collect(),
    )
    .await
}

/// Inserts facts.
pub async fn facts(conn: &impl ConnectionTrait, rows: &[Fact]) -> Result<(), StoreError> {
    insert_chunks(
        conn,
        rows.iter()
            .map(|f| facts::ActiveModel {
                id: Set(f.id.0),
                person_id: Set(f.person_id.0),
                agency: Set(f.agency.as_str().to_owned()),
                organisation_id: Set(f.organisation.to_string()),
                category: Set(f.category.as_str().to_owned()),
                kind: Set(f.kind.clone()),
                occurred_at: Set(f.occurred_at),
                recorded_at: Set(f.recorded_at),
                summary: Set(f.summary.clone()),
                payload: Set(f.payload.clone()),
                source_record_id: Set(f.source_record.map(|s| s.0)),
            })
            .collect(),
    )
    .await
}

/// Inserts involvements.
pub async fn involvements(
    conn: &impl ConnectionTrait,
    rows: &[Involvement],
) -> Result<(), StoreError> {
    insert_chunks(
        conn,
        rows.iter()
            .map(|i| involvements::ActiveModel {
                id: Set(i.id.0),
                kind: Set(i.kind.as_str().to_owned()),
                principal_subject: Set(i.principal.clone()),
                organisation_id: Set(i.organisation.to_string()),
                person_id: Set(i.person_id.map(|p| p.0)),
                family_id: Set(i.family_id.map(|f| f.0)),
                started_at: Set(i.started_at),
                ended_at: Set(i.ended_at),
                service: Set(i.service.clone()),
                source: Set(i.source.clone()),
                category: Set(i.category.map(|c| c.as_str().to_owned())),
                contact: Set(i.contact.clone()),
            })
            .collect(),
    )
    .await
}

/// Inserts consent records.
pub async fn consents(conn: &impl ConnectionTrait, rows: &[Consent]) -> Result<(), StoreError> {
    insert_chunks(
        conn,
        rows.iter()
            .map(|c| consents::ActiveModel {
                id: Set(c.id),
                person_id: Set(c.person_id.0),
                state: Set(c.state.as_str().to_owned()),
                given_by: Set(c.given_by.clone()),
                purposes: Set(serde_json::json!(c.purposes)),
                categories: Set(serde_json::json!(c.categories)),
                organisations: Set(serde_json::json!(c.organisations)),
                recorded_by: Set(c.recorded_by.clone()),
                recorded_at: Set(c.recorded_at),
                expires_at: Set(c.expires_at),
            })
            .collect(),
    )
    .await
}

/// Inserts source records that came without an envelope (the generator's).
async fn bare_source_records(
    conn: &impl ConnectionTrait,
    rows: &[SourceRecord],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    insert_chunks(
        conn,
        rows.iter()
            .map(|s| source_records::ActiveModel {
                id: Set(s.id.0),
                connector: Set(s.connector.clone()),
                organisation_id: Set(s.organisation.to_string()),
                source_key: Set(s.source_key.clone()),
                fetched_at: Set(s.fetched_at),
                content_hash: Set(s.content_hash.clone()),
                payload: Set(s.payload.clone()),
                person_id: Set(s.person_id.map(|p| p.0)),
                link_method: Set(s.link_method.clone()),
                subject_key: Set(None),
                envelope: Set(None),
                updated_at: Set(Some(now)),
                link_score: Set(None),
                link_detail: Set(None),
            })
            .collect(),
    )
    .await
}

/// Counts of what a load wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadCounts {
    pub persons: usize,
    pub facts: usize,
    pub involvements: usize,
    pub source_records: usize,
}

/// Writes a whole population in one transaction: all of it lands or none does. Tests use it
/// to build fixtures (and to append records to a running hub's store); production data
/// arrives through connectors.
pub async fn population(
    db: &sea_orm::DatabaseConnection,
    pop: &Population,
    now: DateTime<Utc>,
) -> Result<LoadCounts, StoreError> {
    let txn = db.begin().await?;
    organisations(&txn, &pop.organisations).await?;
    persons(&txn, &pop.persons, now).await?;
    bare_source_records(&txn, &pop.source_records, now).await?;
    names(&txn, &pop.names).await?;
    identifiers(&txn, &pop.identifiers).await?;
    addresses(&txn, &pop.addresses).await?;
    families(&txn, &pop.families, now).await?;
    members(&txn, &pop.members).await?;
    relationships(&txn, &pop.relationships).await?;
    facts(&txn, &pop.facts).await?;
    involvements(&txn, &pop.involvements).await?;
    consents(&txn, &pop.consents).await?;
    txn.commit().await?;
    Ok(LoadCounts {
        persons: pop.persons.len(),
        facts: pop.facts.len(),
        involvements: pop.involvements.len(),
        source_records: pop.source_records.len(),
    })
}

/// Whether the graph holds any person yet.
pub async fn is_empty(conn: &impl ConnectionTrait) -> Result<bool, StoreError> {
    Ok(persons::Entity::find().one(conn).await?.is_none())
}
