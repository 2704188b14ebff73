//! Bulk writes of a generated population: the demo's and the tests' way into the graph until
//! connectors carry the same data in (issue 4). One transaction for the whole load, rows in
//! chunks sized under SQLite's bound-parameter limit.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, TransactionTrait};

use super::StoreError;
use super::entity::{
    addresses, consents, facts, families, family_members, involvements, organisations,
    person_identifiers, person_names, persons, relationships, source_records,
};
use super::graph::normalise_name;
use crate::model::Address;
use crate::population::Population;

/// Rows per INSERT: about 14 columns a row stays well under SQLite's 32,766 bound parameters.
const CHUNK: usize = 1_000;

async fn insert_chunks<E, A>(
    conn: &impl ConnectionTrait,
    rows: impl IntoIterator<Item = A>,
) -> Result<(), StoreError>
where
    E: EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
{
    let mut batch = Vec::with_capacity(CHUNK);
    for row in rows {
        batch.push(row);
        if batch.len() == CHUNK {
            E::insert_many(std::mem::take(&mut batch))
                .exec(conn)
                .await?;
        }
    }
    if !batch.is_empty() {
        E::insert_many(batch).exec(conn).await?;
    }
    Ok(())
}

/// Counts of what a load wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadCounts {
    pub persons: usize,
    pub facts: usize,
    pub involvements: usize,
    pub source_records: usize,
}

/// Writes a whole population in one transaction: all of it lands or none does.
pub async fn population(
    db: &sea_orm::DatabaseConnection,
    pop: &Population,
    now: DateTime<Utc>,
) -> Result<LoadCounts, StoreError> {
    let txn = db.begin().await?;
    insert_chunks(
        &txn,
        pop.organisations
            .iter()
            .map(|o| organisations::ActiveModel {
                id: Set(o.id.to_string()),
                kind: Set(o.id.kind().to_string()),
                name: Set(o.name.clone()),
            }),
    )
    .await?;
    insert_chunks(
        &txn,
        pop.persons.iter().map(|p| persons::ActiveModel {
            id: Set(p.id.0),
            date_of_birth: Set(p.date_of_birth),
            sex: Set(p.sex.as_str().to_owned()),
            is_child: Set(p.is_child),
            shielded: Set(p.shielded),
            created_at: Set(now),
            updated_at: Set(now),
        }),
    )
    .await?;
    insert_chunks(
        &txn,
        pop.source_records
            .iter()
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
            }),
    )
    .await?;
    insert_chunks(
        &txn,
        pop.names.iter().map(|n| person_names::ActiveModel {
            id: Set(uuid::Uuid::new_v4()),
            person_id: Set(n.person_id.0),
            given: Set(n.given.clone()),
            family: Set(n.family.clone()),
            given_norm: Set(normalise_name(&n.given)),
            family_norm: Set(normalise_name(&n.family)),
            usage: Set(n.usage.clone()),
            organisation_id: Set(n.organisation.to_string()),
            source_record_id: Set(n.source_record.map(|s| s.0)),
        }),
    )
    .await?;
    insert_chunks(
        &txn,
        pop.identifiers
            .iter()
            .map(|i| person_identifiers::ActiveModel {
                id: Set(uuid::Uuid::new_v4()),
                person_id: Set(i.person_id.0),
                system: Set(i.system.as_str().to_owned()),
                value: Set(i.value.clone()),
                verified: Set(i.verified),
                organisation_id: Set(i.organisation.to_string()),
                source_record_id: Set(i.source_record.map(|s| s.0)),
            }),
    )
    .await?;
    insert_chunks(
        &txn,
        pop.addresses.iter().map(|a| addresses::ActiveModel {
            id: Set(uuid::Uuid::new_v4()),
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
        }),
    )
    .await?;
    insert_chunks(
        &txn,
        pop.families.iter().map(|f| families::ActiveModel {
            id: Set(f.id.0),
            kind: Set(f.kind.as_str().to_owned()),
            created_at: Set(now),
        }),
    )
    .await?;
    insert_chunks(
        &txn,
        pop.members.iter().map(|m| family_members::ActiveModel {
            id: Set(uuid::Uuid::new_v4()),
            family_id: Set(m.family_id.0),
            person_id: Set(m.person_id.0),
            role: Set(m.role.clone()),
            organisation_id: Set(m.organisation.to_string()),
            source_record_id: Set(m.source_record.map(|s| s.0)),
        }),
    )
    .await?;
    insert_chunks(
        &txn,
        pop.relationships
            .iter()
            .map(|r| relationships::ActiveModel {
                id: Set(uuid::Uuid::new_v4()),
                person_id: Set(r.person_id.0),
                related_person_id: Set(r.related_person.0),
                kind: Set(r.kind.as_str().to_owned()),
                parental_responsibility: Set(r.parental_responsibility),
                organisation_id: Set(r.organisation.to_string()),
                source_record_id: Set(r.source_record.map(|s| s.0)),
            }),
    )
    .await?;
    insert_chunks(
        &txn,
        pop.facts.iter().map(|f| facts::ActiveModel {
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
        }),
    )
    .await?;
    insert_chunks(
        &txn,
        pop.involvements.iter().map(|i| involvements::ActiveModel {
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
        }),
    )
    .await?;
    insert_chunks(
        &txn,
        pop.consents.iter().map(|c| consents::ActiveModel {
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
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(LoadCounts {
        persons: pop.persons.len(),
        facts: pop.facts.len(),
        involvements: pop.involvements.len(),
        source_records: pop.source_records.len(),
    })
}

/// Whether the graph holds any person yet (the demo loads only into an empty store).
pub async fn is_empty(conn: &impl ConnectionTrait) -> Result<bool, StoreError> {
    use sea_orm::{PaginatorTrait, QuerySelect};
    let n = persons::Entity::find()
        .select_only()
        .limit(1)
        .count(conn)
        .await?;
    Ok(n == 0)
}
