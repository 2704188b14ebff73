//! The review queue of doubtful links, and the moves a reviewer's decision makes: merging one
//! person into another (`confirmMatch`) and moving source records, with everything derived
//! from them, to a new person (`splitPerson`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::StoreError;
use super::entity::{
    addresses, consents, facts, family_members, family_queue, indicator_hits, involvements,
    match_reviews, person_identifiers, person_names, persons, relationships, source_records,
};
use super::entity::{assessments, practice_events, referrals};
use super::notifications::{events, notices};
use super::sync::MatchReviewRow;
use crate::model::{OrganisationId, PersonId, SourceRecordId};

fn review_from(r: match_reviews::Model) -> MatchReviewRow {
    MatchReviewRow {
        id: r.id,
        source_record: SourceRecordId(r.source_record_id),
        record_person: PersonId(r.record_person_id),
        candidate_person: PersonId(r.candidate_person_id),
        score: r.score,
        detail: r.detail,
        status: r.status,
        created_at: r.created_at,
        decided_at: r.decided_at,
        decided_by: r.decided_by,
        note: r.note,
    }
}

/// Open reviews, oldest first: `limit` of them after review `after`.
pub async fn open(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<MatchReviewRow>, StoreError> {
    let mut q = match_reviews::Entity::find().filter(match_reviews::Column::Status.eq("open"));
    if let Some(after) = after {
        q = q.filter(match_reviews::Column::Id.gt(after));
    }
    Ok(q.order_by_asc(match_reviews::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(review_from)
        .collect())
}

/// One review by id.
pub async fn get(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<MatchReviewRow>, StoreError> {
    Ok(match_reviews::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(review_from))
}

/// Records a decision on an open review. False when it was no longer open.
pub async fn decide(
    conn: &impl ConnectionTrait,
    id: Uuid,
    status: &str,
    by: &str,
    note: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = match_reviews::Entity::update_many()
        .col_expr(match_reviews::Column::Status, Expr::value(status))
        .col_expr(match_reviews::Column::DecidedBy, Expr::value(by))
        .col_expr(match_reviews::Column::DecidedAt, Expr::value(at))
        .col_expr(
            match_reviews::Column::Note,
            Expr::value(note.map(str::to_owned)),
        )
        .filter(match_reviews::Column::Id.eq(id))
        .filter(match_reviews::Column::Status.eq("open"))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Closes the open reviews of a record (another of its candidates was confirmed).
pub async fn supersede(
    conn: &impl ConnectionTrait,
    record: SourceRecordId,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    match_reviews::Entity::update_many()
        .col_expr(match_reviews::Column::Status, Expr::value("superseded"))
        .col_expr(match_reviews::Column::DecidedBy, Expr::value(by))
        .col_expr(match_reviews::Column::DecidedAt, Expr::value(at))
        .filter(match_reviews::Column::SourceRecordId.eq(record.0))
        .filter(match_reviews::Column::Status.eq("open"))
        .exec(conn)
        .await?;
    Ok(())
}

/// Source records with these ids and what was linked to them through their subject key (a
/// record of facts about a person whose identity is in another record of the same connector):
/// the records a split moves.
pub async fn records_with_followers(
    conn: &impl ConnectionTrait,
    person: PersonId,
    ids: &[SourceRecordId],
) -> Result<Vec<SourceRecordId>, StoreError> {
    let named: Vec<(Uuid, String, String)> = source_records::Entity::find()
        .select_only()
        .column(source_records::Column::Id)
        .column(source_records::Column::Connector)
        .column(source_records::Column::SourceKey)
        .filter(source_records::Column::PersonId.eq(person.0))
        .filter(source_records::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .into_tuple()
        .all(conn)
        .await?;
    let mut out: Vec<SourceRecordId> = named.iter().map(|(id, _, _)| SourceRecordId(*id)).collect();
    for (_, connector, key) in &named {
        let followers: Vec<Uuid> = source_records::Entity::find()
            .select_only()
            .column(source_records::Column::Id)
            .filter(source_records::Column::PersonId.eq(person.0))
            .filter(source_records::Column::Connector.eq(connector.as_str()))
            .filter(source_records::Column::SubjectKey.eq(key.as_str()))
            .into_tuple()
            .all(conn)
            .await?;
        out.extend(followers.into_iter().map(SourceRecordId));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Moves everything of person `from` to person `into` and deletes `from`: its source records,
/// names, identifiers, addresses, facts, relationships (a relationship between the two is
/// dropped), family memberships, involvements and consents, the reviews that name it, its
/// referrals, assessments and their events, its notifications, and its shield order (see
/// [`super::practice::merge_shields`]). Its indicator results and its place in the family
/// queue go: the caller re-evaluates and rebuilds `into`.
pub async fn merge(
    conn: &impl ConnectionTrait,
    from: PersonId,
    into: PersonId,
) -> Result<(), StoreError> {
    macro_rules! repoint {
        ($entity:ident, $column:ident) => {
            $entity::Entity::update_many()
                .col_expr($entity::Column::$column, Expr::value(into.0))
                .filter($entity::Column::$column.eq(from.0))
                .exec(conn)
                .await?;
        };
    }
    repoint!(source_records, PersonId);
    repoint!(person_names, PersonId);
    repoint!(person_identifiers, PersonId);
    repoint!(addresses, PersonId);
    repoint!(facts, PersonId);
    repoint!(relationships, PersonId);
    repoint!(relationships, RelatedPersonId);
    repoint!(family_members, PersonId);
    repoint!(involvements, PersonId);
    repoint!(consents, PersonId);
    repoint!(match_reviews, RecordPersonId);
    repoint!(match_reviews, CandidatePersonId);
    relationships::Entity::delete_many()
        .filter(relationships::Column::PersonId.eq(into.0))
        .filter(relationships::Column::RelatedPersonId.eq(into.0))
        .exec(conn)
        .await?;
    repoint!(referrals, PersonId);
    repoint!(assessments, PersonId);
    repoint!(practice_events, PersonId);
    repoint!(events, PersonId);
    repoint!(notices, PersonId);
    super::practice::merge_shields(conn, from, into).await?;
    indicator_hits::Entity::delete_many()
        .filter(indicator_hits::Column::PersonId.eq(from.0))
        .exec(conn)
        .await?;
    family_queue::Entity::delete_many()
        .filter(family_queue::Column::PersonId.eq(from.0))
        .exec(conn)
        .await?;
    persons::Entity::delete_by_id(from.0).exec(conn).await?;
    Ok(())
}

/// Moves source records, and what was derived from them, from person `from` to person `to`.
pub async fn move_records(
    conn: &impl ConnectionTrait,
    ids: &[SourceRecordId],
    from: PersonId,
    to: PersonId,
) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
    source_records::Entity::update_many()
        .col_expr(source_records::Column::PersonId, Expr::value(to.0))
        .filter(source_records::Column::PersonId.eq(from.0))
        .filter(source_records::Column::Id.is_in(ids.clone()))
        .exec(conn)
        .await?;
    macro_rules! follow {
        ($entity:ident) => {
            $entity::Entity::update_many()
                .col_expr($entity::Column::PersonId, Expr::value(to.0))
                .filter($entity::Column::PersonId.eq(from.0))
                .filter($entity::Column::SourceRecordId.is_in(ids.clone()))
                .exec(conn)
                .await?;
        };
    }
    follow!(person_names);
    follow!(person_identifiers);
    follow!(addresses);
    follow!(facts);
    follow!(relationships);
    follow!(family_members);
    Ok(())
}

/// Sets how records were linked.
pub async fn set_method(
    conn: &impl ConnectionTrait,
    ids: &[SourceRecordId],
    method: &str,
) -> Result<(), StoreError> {
    source_records::Entity::update_many()
        .col_expr(source_records::Column::LinkMethod, Expr::value(method))
        .filter(source_records::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .exec(conn)
        .await?;
    Ok(())
}

/// Inserts a person row.
pub async fn insert_person(
    conn: &impl ConnectionTrait,
    person: &crate::model::Person,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    persons::Entity::insert(persons::ActiveModel {
        id: Set(person.id.0),
        date_of_birth: Set(person.date_of_birth),
        sex: Set(person.sex.as_str().to_owned()),
        is_child: Set(person.is_child),
        shielded: Set(person.shielded),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// One source record behind a person, and how it was linked.
#[derive(Clone, Debug, PartialEq)]
pub struct Provenance {
    pub id: SourceRecordId,
    pub connector: String,
    pub organisation: OrganisationId,
    pub source_key: String,
    pub fetched_at: DateTime<Utc>,
    pub method: Option<String>,
    pub score: Option<f64>,
    pub detail: Option<String>,
}

/// The source records of persons, oldest first.
pub async fn provenance(
    conn: &impl ConnectionTrait,
    persons: &[PersonId],
) -> Result<Vec<(PersonId, Provenance)>, StoreError> {
    if persons.is_empty() {
        return Ok(vec![]);
    }
    let rows = source_records::Entity::find()
        .filter(source_records::Column::PersonId.is_in(persons.iter().map(|p| p.0)))
        .order_by_asc(source_records::Column::Id)
        .all(conn)
        .await?;
    rows.into_iter()
        .filter_map(|r| {
            let organisation = match r.organisation_id.parse() {
                Ok(o) => o,
                Err(_) => {
                    return Some(Err(StoreError::Corrupt {
                        table: "source_records",
                        column: "organisation_id",
                    }));
                }
            };
            Some(Ok((
                PersonId(r.person_id?),
                Provenance {
                    id: SourceRecordId(r.id),
                    connector: r.connector,
                    organisation,
                    source_key: r.source_key,
                    fetched_at: r.fetched_at,
                    method: r.link_method,
                    score: r.link_score,
                    detail: r.link_detail,
                },
            )))
        })
        .collect()
}

/// Person ids in id order, `limit` of them after `after`: a walk over every person.
pub async fn person_ids(
    conn: &impl ConnectionTrait,
    after: Option<PersonId>,
    limit: u64,
) -> Result<Vec<PersonId>, StoreError> {
    let mut q = persons::Entity::find()
        .select_only()
        .column(persons::Column::Id);
    if let Some(after) = after {
        q = q.filter(persons::Column::Id.gt(after.0));
    }
    let ids: Vec<Uuid> = q
        .order_by_asc(persons::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(ids.into_iter().map(PersonId).collect())
}

/// Pairs of persons a review names, with its status: what relinking must not queue again
/// (`open`) or link (`rejected`).
pub async fn reviewed_pairs(
    conn: &impl ConnectionTrait,
) -> Result<Vec<(PersonId, PersonId, String)>, StoreError> {
    let rows: Vec<(Uuid, Uuid, String)> = match_reviews::Entity::find()
        .select_only()
        .column(match_reviews::Column::RecordPersonId)
        .column(match_reviews::Column::CandidatePersonId)
        .column(match_reviews::Column::Status)
        .filter(match_reviews::Column::Status.is_in(["open", "rejected"]))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(a, b, s)| (PersonId(a), PersonId(b), s))
        .collect())
}

/// The first source record of each person that has one.
pub async fn first_records(
    conn: &impl ConnectionTrait,
    persons: &[PersonId],
) -> Result<std::collections::HashMap<PersonId, SourceRecordId>, StoreError> {
    let mut out = std::collections::HashMap::new();
    for chunk in persons.chunks(2_000) {
        let rows: Vec<(Uuid, Uuid)> = source_records::Entity::find()
            .select_only()
            .column(source_records::Column::PersonId)
            .column(source_records::Column::Id)
            .filter(source_records::Column::PersonId.is_in(chunk.iter().map(|p| p.0)))
            .order_by_asc(source_records::Column::Id)
            .into_tuple()
            .all(conn)
            .await?;
        for (p, r) in rows {
            out.entry(PersonId(p)).or_insert(SourceRecordId(r));
        }
    }
    Ok(out)
}

/// Records that a person's first-arrived records were linked, after all, by another rule: the
/// records that had been the person's own ("new") take the method, and the score and
/// explanation where the rule gives them.
pub async fn mark_linked(
    conn: &impl ConnectionTrait,
    person: PersonId,
    method: &str,
    score: Option<f64>,
    detail: Option<&str>,
) -> Result<(), StoreError> {
    source_records::Entity::update_many()
        .col_expr(source_records::Column::LinkMethod, Expr::value(method))
        .col_expr(source_records::Column::LinkScore, Expr::value(score))
        .col_expr(source_records::Column::LinkDetail, Expr::value(detail))
        .filter(source_records::Column::PersonId.eq(person.0))
        .filter(source_records::Column::LinkMethod.eq("new"))
        .exec(conn)
        .await?;
    Ok(())
}
