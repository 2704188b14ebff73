//! The sync engine's tables: source records with their envelopes, declared relationships
//! waiting for both ends, cursors, runs and the quarantine. Also the identifier and name
//! lookups linkage needs, one statement per batch.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::StoreError;
use super::entity::{
    addresses, facts, match_reviews, person_identifiers, person_names, quarantine, relationships,
    source_records, source_relationships, sync_cursors, sync_runs,
};
use crate::model::{IdentifierSystem, OrganisationId, PersonId, SourceRecordId};

/// The most values one `IN (...)` list binds: under SQLite's 32,766 parameters and
/// PostgreSQL's 65,535, with room for a statement's other parameters.
const IN_CHUNK: usize = 5_000;

/// What the store holds of a source record, to tell new from changed from unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Existing {
    pub id: SourceRecordId,
    pub content_hash: String,
    pub person_id: Option<PersonId>,
    pub link_method: Option<String>,
}

/// Source records of a connector by source key.
pub async fn existing(
    conn: &impl ConnectionTrait,
    connector: &str,
    keys: &[String],
) -> Result<HashMap<String, Existing>, StoreError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    type Row = (String, Uuid, String, Option<Uuid>, Option<String>);
    let mut rows: Vec<Row> = Vec::with_capacity(keys.len());
    for keys in keys.chunks(IN_CHUNK) {
        rows.extend(
            source_records::Entity::find()
                .select_only()
                .column(source_records::Column::SourceKey)
                .column(source_records::Column::Id)
                .column(source_records::Column::ContentHash)
                .column(source_records::Column::PersonId)
                .column(source_records::Column::LinkMethod)
                .filter(source_records::Column::Connector.eq(connector))
                .filter(source_records::Column::SourceKey.is_in(keys.iter().map(String::as_str)))
                .into_tuple::<Row>()
                .all(conn)
                .await?,
        );
    }
    Ok(rows
        .into_iter()
        .map(|(key, id, hash, person, method)| {
            (
                key,
                Existing {
                    id: SourceRecordId(id),
                    content_hash: hash,
                    person_id: person.map(PersonId),
                    link_method: method,
                },
            )
        })
        .collect())
}

/// The person each of these source keys (of one connector) is linked to.
pub async fn persons_of_keys(
    conn: &impl ConnectionTrait,
    connector: &str,
    keys: &[String],
) -> Result<HashMap<String, PersonId>, StoreError> {
    Ok(existing(conn, connector, keys)
        .await?
        .into_iter()
        .filter_map(|(k, e)| e.person_id.map(|p| (k, p)))
        .collect())
}

/// Persons holding any of these identifier values.
pub async fn persons_by_identifiers(
    conn: &impl ConnectionTrait,
    values: &[(IdentifierSystem, String)],
) -> Result<Vec<(IdentifierSystem, String, PersonId)>, StoreError> {
    if values.is_empty() {
        return Ok(vec![]);
    }
    // One statement per system, each an index range on (system, value).
    let mut by_system: std::collections::BTreeMap<IdentifierSystem, Vec<&str>> =
        std::collections::BTreeMap::new();
    for (s, v) in values {
        by_system.entry(*s).or_default().push(v.as_str());
    }
    let mut out = Vec::new();
    for (system, values) in by_system {
        for chunk in values.chunks(2_000) {
            let rows: Vec<(String, Uuid)> = person_identifiers::Entity::find()
                .select_only()
                .column(person_identifiers::Column::Value)
                .column(person_identifiers::Column::PersonId)
                .filter(person_identifiers::Column::System.eq(system.as_str()))
                .filter(person_identifiers::Column::Value.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(conn)
                .await?;
            out.extend(rows.into_iter().map(|(v, p)| (system, v, PersonId(p))));
        }
    }
    Ok(out)
}

/// Which of these persons hold a name.
pub async fn persons_named(
    conn: &impl ConnectionTrait,
    persons: &[PersonId],
) -> Result<std::collections::BTreeSet<PersonId>, StoreError> {
    let mut named = std::collections::BTreeSet::new();
    for persons in persons.chunks(IN_CHUNK) {
        let rows: Vec<Uuid> = person_names::Entity::find()
            .select_only()
            .column(person_names::Column::PersonId)
            .distinct()
            .filter(person_names::Column::PersonId.is_in(persons.iter().map(|p| p.0)))
            .into_tuple()
            .all(conn)
            .await?;
        named.extend(rows.into_iter().map(PersonId));
    }
    Ok(named)
}

/// The strong identifiers (NHS number, UPN, LA id) these persons hold.
pub async fn strong_identifiers_of(
    conn: &impl ConnectionTrait,
    persons: &[PersonId],
) -> Result<Vec<(PersonId, IdentifierSystem, String)>, StoreError> {
    if persons.is_empty() {
        return Ok(vec![]);
    }
    let mut rows: Vec<(Uuid, String, String)> = Vec::new();
    for persons in persons.chunks(IN_CHUNK) {
        rows.extend(
            person_identifiers::Entity::find()
                .select_only()
                .column(person_identifiers::Column::PersonId)
                .column(person_identifiers::Column::System)
                .column(person_identifiers::Column::Value)
                .filter(person_identifiers::Column::PersonId.is_in(persons.iter().map(|p| p.0)))
                .into_tuple::<(Uuid, String, String)>()
                .all(conn)
                .await?,
        );
    }
    // The system is filtered here, not in SQL: given a choice, SQLite's planner would rather
    // walk the (system, value) index, every identifier of three systems, than the few rows
    // per person of the person index.
    Ok(rows
        .into_iter()
        .filter_map(|(p, s, v)| Some((PersonId(p), s.parse().ok()?, v)))
        .filter(|(_, s, _)| {
            matches!(
                s,
                IdentifierSystem::NhsNumber | IdentifierSystem::Upn | IdentifierSystem::LaPersonId
            )
        })
        .collect())
}

/// Persons with names that agree with these normalised (family, given, date of birth) keys.
/// An OR of triples (not a row-value IN, which SQLite answers with a scan) so each is one probe
/// of the (family, given, date of birth) index: the cost follows the keys asked for, not the
/// graph's size, however common a name is.
pub async fn persons_by_names(
    conn: &impl ConnectionTrait,
    keys: &[(String, String, NaiveDate)],
) -> Result<Vec<(String, String, NaiveDate, PersonId)>, StoreError> {
    let mut out = Vec::new();
    for chunk in keys.chunks(200) {
        let mut any = Condition::any();
        for (f, g, dob) in chunk {
            any = any.add(
                Condition::all()
                    .add(person_names::Column::FamilyNorm.eq(f.as_str()))
                    .add(person_names::Column::GivenNorm.eq(g.as_str()))
                    .add(person_names::Column::DateOfBirth.eq(*dob)),
            );
        }
        let rows: Vec<(String, String, Uuid, NaiveDate)> = person_names::Entity::find()
            .select_only()
            .column(person_names::Column::FamilyNorm)
            .column(person_names::Column::GivenNorm)
            .column(person_names::Column::PersonId)
            .column(person_names::Column::DateOfBirth)
            .filter(any)
            .distinct()
            .into_tuple()
            .all(conn)
            .await?;
        out.extend(rows.into_iter().map(|(f, g, p, d)| (f, g, d, PersonId(p))));
    }
    Ok(out)
}

/// Name rows that probabilistic blocking puts beside records, as (person, family, given,
/// date of birth). `dated` holds each record's (date of birth, family, given) keys: the rows
/// with that date whose family name is either name, or whose given name is the given name.
/// `names` holds (family, given) pairs matched whatever the date.
///
/// On PostgreSQL the keys go in as one JSON parameter joined to the name index, so only the
/// rows a key matches are read, by a statement planned once (a long list of alternatives
/// costs PostgreSQL more to plan than it saves). Elsewhere (an in-memory SQLite database)
/// every row with one of the dates is read, and blocking keeps what it needs.
pub async fn names_for_blocking(
    conn: &impl ConnectionTrait,
    dated: &[(NaiveDate, String, String)],
    names: &[(String, String)],
) -> Result<Vec<(PersonId, String, String, Option<NaiveDate>)>, StoreError> {
    type Row = (Uuid, String, String, Option<NaiveDate>);
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        return names_for_blocking_pg(conn, dated, names).await;
    }
    let dates: Vec<NaiveDate> = dated
        .iter()
        .map(|(d, ..)| *d)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let select = || {
        person_names::Entity::find()
            .select_only()
            .column(person_names::Column::PersonId)
            .column(person_names::Column::FamilyNorm)
            .column(person_names::Column::GivenNorm)
            .column(person_names::Column::DateOfBirth)
    };
    let mut rows: Vec<Row> = Vec::new();
    for chunk in dates.chunks(IN_CHUNK) {
        rows.extend(
            select()
                .filter(person_names::Column::DateOfBirth.is_in(chunk.iter().copied()))
                .into_tuple::<Row>()
                .all(conn)
                .await?,
        );
    }
    for chunk in names.chunks(200) {
        let mut any = Condition::any();
        for (f, g) in chunk {
            any = any.add(
                Condition::all()
                    .add(person_names::Column::FamilyNorm.eq(f.as_str()))
                    .add(person_names::Column::GivenNorm.eq(g.as_str())),
            );
        }
        rows.extend(select().filter(any).into_tuple::<Row>().all(conn).await?);
    }
    Ok(rows
        .into_iter()
        .map(|(p, f, g, d)| (PersonId(p), f, g, d))
        .collect())
}

/// [`names_for_blocking`] on PostgreSQL: each chunk of keys is one JSON parameter, unpacked
/// by `jsonb_to_recordset` and joined to `person_names` on its date and name indexes.
async fn names_for_blocking_pg(
    conn: &impl ConnectionTrait,
    dated: &[(NaiveDate, String, String)],
    names: &[(String, String)],
) -> Result<Vec<(PersonId, String, String, Option<NaiveDate>)>, StoreError> {
    let mut out = names_joined(
        conn,
        "SELECT n.person_id, n.family_norm, n.given_norm, n.date_of_birth \
         FROM jsonb_to_recordset($1::jsonb) AS k(d date, f text, g text) \
         JOIN person_names n ON n.date_of_birth = k.d \
         AND (n.family_norm = k.f OR n.family_norm = k.g OR n.given_norm = k.g)",
        dated
            .iter()
            .map(|(d, f, g)| serde_json::json!({ "d": d, "f": f, "g": g }))
            .collect(),
    )
    .await?;
    out.extend(
        names_joined(
            conn,
            "SELECT n.person_id, n.family_norm, n.given_norm, n.date_of_birth \
             FROM jsonb_to_recordset($1::jsonb) AS k(f text, g text) \
             JOIN person_names n ON n.family_norm = k.f AND n.given_norm = k.g",
            names
                .iter()
                .map(|(f, g)| serde_json::json!({ "f": f, "g": g }))
                .collect(),
        )
        .await?,
    );
    Ok(out)
}

/// Name rows of a PostgreSQL statement whose one parameter is a JSON array of keys, run once
/// per chunk of `keys`.
async fn names_joined(
    conn: &impl ConnectionTrait,
    sql: &str,
    keys: Vec<serde_json::Value>,
) -> Result<Vec<(PersonId, String, String, Option<NaiveDate>)>, StoreError> {
    const KEYS: usize = 2_000;
    let mut out = Vec::new();
    for chunk in keys.chunks(KEYS) {
        let statement = sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            sql,
            [serde_json::Value::Array(chunk.to_vec()).to_string().into()],
        );
        for row in conn.query_all_raw(statement).await? {
            out.push((
                PersonId(row.try_get::<Uuid>("", "person_id")?),
                row.try_get::<String>("", "family_norm")?,
                row.try_get::<String>("", "given_norm")?,
                row.try_get::<Option<NaiveDate>>("", "date_of_birth")?,
            ));
        }
    }
    Ok(out)
}

/// What probabilistic linkage compares of a person: the person node, their names (given,
/// family), current addresses (first line, town, postcode) and strong identifiers, each list
/// sorted and without repeats.
#[derive(Clone, Debug, Default)]
pub struct Holding {
    pub names: Vec<(String, String)>,
    pub addresses: Vec<(String, String, String)>,
    pub ids: Vec<(IdentifierSystem, String)>,
}

impl Holding {
    /// Sorts each list and drops repeats, so both ways of reading a holding agree.
    pub fn settle(&mut self) {
        self.names.sort();
        self.names.dedup();
        self.addresses.sort();
        self.addresses.dedup();
        self.ids.sort();
        self.ids.dedup();
    }
}

/// The holdings of these persons (those the graph holds), with each person node.
pub async fn holdings(
    conn: &impl ConnectionTrait,
    persons: &[PersonId],
) -> Result<Vec<(crate::model::Person, Holding)>, StoreError> {
    let mut out = Vec::with_capacity(persons.len());
    for chunk in persons.chunks(500) {
        let mut held: HashMap<PersonId, Holding> = HashMap::new();
        for n in super::graph::names(conn, chunk).await? {
            held.entry(n.person_id)
                .or_default()
                .names
                .push((n.given, n.family));
        }
        for a in super::graph::addresses(conn, chunk).await? {
            if a.valid_to.is_none() {
                held.entry(a.person_id)
                    .or_default()
                    .addresses
                    .push((a.line1, a.town, a.postcode));
            }
        }
        for (person, system, value) in strong_identifiers_of(conn, chunk).await? {
            held.entry(person).or_default().ids.push((system, value));
        }
        for person in super::graph::persons(conn, chunk).await? {
            let mut h = held.remove(&person.id).unwrap_or_default();
            h.settle();
            out.push((person, h));
        }
    }
    Ok(out)
}

/// A pair waiting for review (or decided), as the engine or a reviewer writes it.
#[derive(Clone, Debug)]
pub struct MatchReviewRow {
    pub id: Uuid,
    pub source_record: SourceRecordId,
    pub record_person: PersonId,
    pub candidate_person: PersonId,
    pub score: f64,
    pub detail: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub note: Option<String>,
}

/// Inserts review rows.
pub async fn insert_reviews(
    conn: &impl ConnectionTrait,
    rows: &[MatchReviewRow],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(500) {
        match_reviews::Entity::insert_many(chunk.iter().map(|r| match_reviews::ActiveModel {
            id: Set(r.id),
            source_record_id: Set(r.source_record.0),
            record_person_id: Set(r.record_person.0),
            candidate_person_id: Set(r.candidate_person.0),
            score: Set(r.score),
            detail: Set(r.detail.clone()),
            status: Set(r.status.clone()),
            created_at: Set(r.created_at),
            decided_at: Set(r.decided_at),
            decided_by: Set(r.decided_by.clone()),
            note: Set(r.note.clone()),
        }))
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// A source record row as the engine writes it.
#[derive(Clone)]
pub struct RecordRow {
    pub id: SourceRecordId,
    pub connector: String,
    pub organisation: OrganisationId,
    pub source_key: String,
    pub subject_key: Option<String>,
    pub fetched_at: DateTime<Utc>,
    pub content_hash: String,
    pub raw: String,
    pub envelope: Option<String>,
    pub person_id: Option<PersonId>,
    pub link_method: Option<String>,
    /// The match probability and its explanation (JSON), for a probabilistic link. Written
    /// with a new record only: a changed record keeps the link it has.
    pub link_score: Option<f64>,
    pub link_detail: Option<String>,
}

/// Inserts new source records and overwrites changed ones, keyed by (connector, source key).
/// A changed record keeps the score it was linked with unless it is linked anew: only a
/// record with no person is linked again when it changes, and its new score replaces none.
pub async fn upsert_records(
    conn: &impl ConnectionTrait,
    rows: &[RecordRow],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(500) {
        let models = chunk.iter().map(|r| source_records::ActiveModel {
            id: Set(r.id.0),
            connector: Set(r.connector.clone()),
            organisation_id: Set(r.organisation.to_string()),
            source_key: Set(r.source_key.clone()),
            fetched_at: Set(r.fetched_at),
            content_hash: Set(r.content_hash.clone()),
            payload: Set(r.raw.clone()),
            person_id: Set(r.person_id.map(|p| p.0)),
            link_method: Set(r.link_method.clone()),
            subject_key: Set(r.subject_key.clone()),
            envelope: Set(r.envelope.clone()),
            updated_at: Set(Some(r.fetched_at)),
            link_score: Set(r.link_score),
            link_detail: Set(r.link_detail.clone()),
        });
        source_records::Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns([
                    source_records::Column::Connector,
                    source_records::Column::SourceKey,
                ])
                .update_columns([
                    source_records::Column::OrganisationId,
                    source_records::Column::FetchedAt,
                    source_records::Column::ContentHash,
                    source_records::Column::Payload,
                    source_records::Column::PersonId,
                    source_records::Column::LinkMethod,
                    source_records::Column::SubjectKey,
                    source_records::Column::Envelope,
                    source_records::Column::UpdatedAt,
                ])
                .value(
                    source_records::Column::LinkScore,
                    Expr::cust("COALESCE(excluded.link_score, source_records.link_score)"),
                )
                .value(
                    source_records::Column::LinkDetail,
                    Expr::cust("COALESCE(excluded.link_detail, source_records.link_detail)"),
                )
                .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// Deletes what was derived from these records (names, identifiers, addresses, facts, the
/// relationships they declared), so a changed record's rows can be written afresh.
pub async fn delete_derived(
    conn: &impl ConnectionTrait,
    ids: &[SourceRecordId],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
    for chunk in ids.chunks(500) {
        person_names::Entity::delete_many()
            .filter(person_names::Column::SourceRecordId.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
        person_identifiers::Entity::delete_many()
            .filter(person_identifiers::Column::SourceRecordId.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
        addresses::Entity::delete_many()
            .filter(addresses::Column::SourceRecordId.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
        facts::Entity::delete_many()
            .filter(facts::Column::SourceRecordId.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
        relationships::Entity::delete_many()
            .filter(relationships::Column::SourceRecordId.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
        source_relationships::Entity::delete_many()
            .filter(source_relationships::Column::SourceRecordId.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// A relationship a record declared, by the related record's source key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    pub id: Uuid,
    pub source_record: SourceRecordId,
    pub connector: String,
    pub related_key: String,
    pub kind: String,
    pub parental_responsibility: Option<bool>,
    pub resolved: bool,
}

/// Stores declared relationships.
pub async fn insert_declared(
    conn: &impl ConnectionTrait,
    rows: &[Declared],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(1_000) {
        source_relationships::Entity::insert_many(chunk.iter().map(|d| {
            source_relationships::ActiveModel {
                id: Set(d.id),
                source_record_id: Set(d.source_record.0),
                connector: Set(d.connector.clone()),
                related_key: Set(d.related_key.clone()),
                kind: Set(d.kind.clone()),
                parental_responsibility: Set(d.parental_responsibility),
                resolved: Set(d.resolved),
            }
        }))
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// Unresolved declarations pointing at these keys of a connector, with the declaring
/// record's person and organisation.
pub async fn unresolved_pointing_at(
    conn: &impl ConnectionTrait,
    connector: &str,
    keys: &[String],
) -> Result<Vec<(Declared, Option<PersonId>, String)>, StoreError> {
    if keys.is_empty() {
        return Ok(vec![]);
    }
    let mut rows = Vec::new();
    for keys in keys.chunks(IN_CHUNK) {
        rows.extend(
            source_relationships::Entity::find()
                .filter(source_relationships::Column::Connector.eq(connector))
                .filter(source_relationships::Column::Resolved.eq(false))
                .filter(
                    source_relationships::Column::RelatedKey.is_in(keys.iter().map(String::as_str)),
                )
                .all(conn)
                .await?,
        );
    }
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let mut owners: Vec<(Uuid, Option<Uuid>, String)> = Vec::new();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.source_record_id).collect();
    for ids in ids.chunks(IN_CHUNK) {
        owners.extend(
            source_records::Entity::find()
                .select_only()
                .column(source_records::Column::Id)
                .column(source_records::Column::PersonId)
                .column(source_records::Column::OrganisationId)
                .filter(source_records::Column::Id.is_in(ids.iter().copied()))
                .into_tuple::<(Uuid, Option<Uuid>, String)>()
                .all(conn)
                .await?,
        );
    }
    let owners: HashMap<Uuid, (Option<Uuid>, String)> =
        owners.into_iter().map(|(i, p, o)| (i, (p, o))).collect();
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let (person, org) = owners.get(&r.source_record_id)?.clone();
            Some((
                Declared {
                    id: r.id,
                    source_record: SourceRecordId(r.source_record_id),
                    connector: r.connector,
                    related_key: r.related_key,
                    kind: r.kind,
                    parental_responsibility: r.parental_responsibility,
                    resolved: r.resolved,
                },
                person.map(PersonId),
                org,
            ))
        })
        .collect())
}

/// Marks declarations resolved.
pub async fn mark_resolved(conn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<(), StoreError> {
    for chunk in ids.chunks(1_000) {
        source_relationships::Entity::update_many()
            .col_expr(source_relationships::Column::Resolved, Expr::value(true))
            .filter(source_relationships::Column::Id.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Records of a connector still waiting for the person of one of these subjects: their id,
/// subject key and envelope.
pub async fn waiting_for(
    conn: &impl ConnectionTrait,
    connector: &str,
    subject_keys: &[String],
) -> Result<Vec<(SourceRecordId, String, String)>, StoreError> {
    if subject_keys.is_empty() {
        return Ok(vec![]);
    }
    let mut rows: Vec<(Uuid, Option<String>, Option<String>)> = Vec::new();
    for keys in subject_keys.chunks(IN_CHUNK) {
        rows.extend(
            source_records::Entity::find()
                .select_only()
                .column(source_records::Column::Id)
                .column(source_records::Column::SubjectKey)
                .column(source_records::Column::Envelope)
                .filter(source_records::Column::Connector.eq(connector))
                .filter(source_records::Column::PersonId.is_null())
                .filter(source_records::Column::SubjectKey.is_in(keys.iter().map(String::as_str)))
                .into_tuple::<(Uuid, Option<String>, Option<String>)>()
                .all(conn)
                .await?,
        );
    }
    Ok(rows
        .into_iter()
        .filter_map(|(id, s, e)| Some((SourceRecordId(id), s?, e?)))
        .collect())
}

/// Links records to a person.
pub async fn set_person(
    conn: &impl ConnectionTrait,
    ids: &[SourceRecordId],
    person: PersonId,
    method: &str,
) -> Result<(), StoreError> {
    for ids in ids.chunks(IN_CHUNK) {
        source_records::Entity::update_many()
            .col_expr(source_records::Column::PersonId, Expr::value(person.0))
            .col_expr(source_records::Column::LinkMethod, Expr::value(method))
            .filter(source_records::Column::Id.is_in(ids.iter().map(|i| i.0)))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// The stored cursor of a connector.
pub async fn cursor(
    conn: &impl ConnectionTrait,
    connector: &str,
) -> Result<Option<String>, StoreError> {
    Ok(sync_cursors::Entity::find_by_id(connector.to_owned())
        .one(conn)
        .await?
        .map(|c| c.cursor))
}

/// Stores a connector's cursor.
pub async fn set_cursor(
    conn: &impl ConnectionTrait,
    connector: &str,
    cursor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sync_cursors::Entity::insert(sync_cursors::ActiveModel {
        connector: Set(connector.to_owned()),
        cursor: Set(cursor.to_owned()),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(sync_cursors::Column::Connector)
            .update_columns([
                sync_cursors::Column::Cursor,
                sync_cursors::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Forgets a connector's cursor, so its next sync starts from the beginning.
pub async fn reset_cursor(conn: &impl ConnectionTrait, connector: &str) -> Result<(), StoreError> {
    sync_cursors::Entity::delete_by_id(connector.to_owned())
        .exec(conn)
        .await?;
    Ok(())
}

/// A sync run as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub id: Uuid,
    pub connector: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `ok`, `failed`.
    pub status: String,
    pub batches: i64,
    pub new: i64,
    pub changed: i64,
    pub unchanged: i64,
    pub quarantined: i64,
    pub retries: i64,
    pub error: Option<String>,
}

/// Inserts or updates a run.
pub async fn save_run(conn: &impl ConnectionTrait, run: &Run) -> Result<(), StoreError> {
    sync_runs::Entity::insert(sync_runs::ActiveModel {
        id: Set(run.id),
        connector: Set(run.connector.clone()),
        started_at: Set(run.started_at),
        finished_at: Set(run.finished_at),
        status: Set(run.status.clone()),
        batches: Set(run.batches),
        records_new: Set(run.new),
        records_changed: Set(run.changed),
        records_unchanged: Set(run.unchanged),
        records_quarantined: Set(run.quarantined),
        retries: Set(run.retries),
        error: Set(run.error.clone()),
    })
    .on_conflict(
        OnConflict::column(sync_runs::Column::Id)
            .update_columns([
                sync_runs::Column::FinishedAt,
                sync_runs::Column::Status,
                sync_runs::Column::Batches,
                sync_runs::Column::RecordsNew,
                sync_runs::Column::RecordsChanged,
                sync_runs::Column::RecordsUnchanged,
                sync_runs::Column::RecordsQuarantined,
                sync_runs::Column::Retries,
                sync_runs::Column::Error,
            ])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The latest runs, newest first, optionally of one connector.
pub async fn runs(
    conn: &impl ConnectionTrait,
    connector: Option<&str>,
    limit: u64,
) -> Result<Vec<Run>, StoreError> {
    let mut q = sync_runs::Entity::find();
    if let Some(c) = connector {
        q = q.filter(sync_runs::Column::Connector.eq(c));
    }
    let rows = q
        .order_by_desc(sync_runs::Column::StartedAt)
        .limit(limit)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Run {
            id: r.id,
            connector: r.connector,
            started_at: r.started_at,
            finished_at: r.finished_at,
            status: r.status,
            batches: r.batches,
            new: r.records_new,
            changed: r.records_changed,
            unchanged: r.records_unchanged,
            quarantined: r.records_quarantined,
            retries: r.retries,
            error: r.error,
        })
        .collect())
}

/// A quarantined record.
#[derive(Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub id: Uuid,
    pub connector: String,
    pub source_key: Option<String>,
    pub reason: String,
    pub raw: String,
    pub received_at: DateTime<Utc>,
    pub run_id: Option<Uuid>,
    /// `open` or `resolved`.
    pub state: String,
    pub attempts: i32,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Quarantined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The raw payload is personal data.
        f.debug_struct("Quarantined")
            .field("id", &self.id)
            .field("connector", &self.connector)
            .field("source_key", &self.source_key)
            .field("reason", &self.reason)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Quarantines records.
pub async fn quarantine(
    conn: &impl ConnectionTrait,
    rows: &[Quarantined],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(500) {
        quarantine::Entity::insert_many(chunk.iter().map(|q| quarantine::ActiveModel {
            id: Set(q.id),
            connector: Set(q.connector.clone()),
            source_key: Set(q.source_key.clone()),
            reason: Set(q.reason.clone()),
            raw: Set(q.raw.clone()),
            received_at: Set(q.received_at),
            run_id: Set(q.run_id),
            state: Set(q.state.clone()),
            attempts: Set(q.attempts),
            resolved_at: Set(q.resolved_at),
        }))
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// Resolves open quarantine entries of these keys: the records have now landed.
pub async fn resolve_quarantined(
    conn: &impl ConnectionTrait,
    connector: &str,
    keys: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for chunk in keys.chunks(500) {
        quarantine::Entity::update_many()
            .col_expr(quarantine::Column::State, Expr::value("resolved"))
            .col_expr(quarantine::Column::ResolvedAt, Expr::value(now))
            .filter(quarantine::Column::Connector.eq(connector))
            .filter(quarantine::Column::State.eq("open"))
            .filter(quarantine::Column::SourceKey.is_in(chunk.iter().map(String::as_str)))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Updates one quarantine entry after a retry.
pub async fn retried(
    conn: &impl ConnectionTrait,
    id: Uuid,
    resolved: bool,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut q = quarantine::Entity::update_many()
        .col_expr(
            quarantine::Column::Attempts,
            Expr::col(quarantine::Column::Attempts).add(1),
        )
        .col_expr(quarantine::Column::Reason, Expr::value(reason));
    if resolved {
        q = q
            .col_expr(quarantine::Column::State, Expr::value("resolved"))
            .col_expr(quarantine::Column::ResolvedAt, Expr::value(now));
    }
    q.filter(quarantine::Column::Id.eq(id)).exec(conn).await?;
    Ok(())
}

/// Quarantine entries, newest first.
pub async fn quarantined(
    conn: &impl ConnectionTrait,
    connector: Option<&str>,
    open_only: bool,
    limit: u64,
) -> Result<Vec<Quarantined>, StoreError> {
    let mut cond = Condition::all();
    if let Some(c) = connector {
        cond = cond.add(quarantine::Column::Connector.eq(c));
    }
    if open_only {
        cond = cond.add(quarantine::Column::State.eq("open"));
    }
    let rows = quarantine::Entity::find()
        .filter(cond)
        .order_by_desc(quarantine::Column::ReceivedAt)
        .limit(limit)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|q| Quarantined {
            id: q.id,
            connector: q.connector,
            source_key: q.source_key,
            reason: q.reason,
            raw: q.raw,
            received_at: q.received_at,
            run_id: q.run_id,
            state: q.state,
            attempts: q.attempts,
            resolved_at: q.resolved_at,
        })
        .collect())
}

/// How many source records a connector has delivered.
pub async fn record_count(conn: &impl ConnectionTrait, connector: &str) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(source_records::Entity::find()
        .filter(source_records::Column::Connector.eq(connector))
        .count(conn)
        .await?)
}

/// Makes sure these organisations exist (a feed names holders the hub may not know yet);
/// a new one is named by its id until reference data names it.
pub async fn ensure_organisations(
    conn: &impl ConnectionTrait,
    ids: &[OrganisationId],
) -> Result<(), StoreError> {
    use super::entity::organisations;
    if ids.is_empty() {
        return Ok(());
    }
    organisations::Entity::insert_many(ids.iter().map(|o| organisations::ActiveModel {
        id: Set(o.to_string()),
        kind: Set(o.kind().to_string()),
        name: Set(o.to_string()),
    }))
    .on_conflict(
        OnConflict::column(organisations::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Names organisations (reference data), inserting those not known yet.
pub async fn name_organisations(
    conn: &impl ConnectionTrait,
    orgs: &[crate::model::Organisation],
) -> Result<(), StoreError> {
    use super::entity::organisations;
    if orgs.is_empty() {
        return Ok(());
    }
    organisations::Entity::insert_many(orgs.iter().map(|o| organisations::ActiveModel {
        id: Set(o.id.to_string()),
        kind: Set(o.id.kind().to_string()),
        name: Set(o.name.clone()),
    }))
    .on_conflict(
        OnConflict::column(organisations::Column::Id)
            .update_column(organisations::Column::Name)
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Persons related to these persons (either way round), with their names: who a parent
/// named only by name could be.
pub async fn relatives_with_names(
    conn: &impl ConnectionTrait,
    persons: &[PersonId],
) -> Result<Vec<(PersonId, PersonId, String, String)>, StoreError> {
    if persons.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<Uuid> = persons.iter().map(|p| p.0).collect();
    let mut pairs: Vec<(Uuid, Uuid)> = Vec::new();
    for chunk in ids.chunks(IN_CHUNK / 2) {
        pairs.extend(
            relationships::Entity::find()
                .select_only()
                .column(relationships::Column::PersonId)
                .column(relationships::Column::RelatedPersonId)
                .filter(
                    Condition::any()
                        .add(relationships::Column::PersonId.is_in(chunk.iter().copied()))
                        .add(relationships::Column::RelatedPersonId.is_in(chunk.iter().copied())),
                )
                .into_tuple::<(Uuid, Uuid)>()
                .all(conn)
                .await?,
        );
    }
    let wanted: std::collections::HashSet<Uuid> = ids.into_iter().collect();
    // (anchor, relative): the anchor is the person asked about, the relative the other end.
    let mut links: Vec<(Uuid, Uuid)> = Vec::new();
    for (a, b) in pairs {
        if wanted.contains(&a) {
            links.push((a, b));
        }
        if wanted.contains(&b) {
            links.push((b, a));
        }
    }
    let relatives: Vec<Uuid> = links
        .iter()
        .map(|(_, r)| *r)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if relatives.is_empty() {
        return Ok(vec![]);
    }
    let mut names: Vec<(Uuid, String, String)> = Vec::new();
    for chunk in relatives.chunks(IN_CHUNK) {
        names.extend(
            person_names::Entity::find()
                .select_only()
                .column(person_names::Column::PersonId)
                .column(person_names::Column::FamilyNorm)
                .column(person_names::Column::GivenNorm)
                .filter(person_names::Column::PersonId.is_in(chunk.iter().copied()))
                .into_tuple::<(Uuid, String, String)>()
                .all(conn)
                .await?,
        );
    }
    let mut by_person: HashMap<PersonId, Vec<(String, String)>> = HashMap::new();
    for (p, f, g) in names {
        by_person.entry(PersonId(p)).or_default().push((f, g));
    }
    let links = links
        .into_iter()
        .map(|(a, r)| (PersonId(a), PersonId(r)))
        .collect();
    Ok(relatives_named(links, &by_person))
}

/// Each (anchor, relative) link once for each name the relative holds, as (anchor, relative,
/// family, given).
pub(crate) fn relatives_named(
    links: Vec<(PersonId, PersonId)>,
    names: &HashMap<PersonId, Vec<(String, String)>>,
) -> Vec<(PersonId, PersonId, String, String)> {
    links
        .into_iter()
        .flat_map(|(anchor, rel)| {
            names
                .get(&rel)
                .into_iter()
                .flatten()
                .map(move |(f, g)| (anchor, rel, f.clone(), g.clone()))
        })
        .collect()
}
