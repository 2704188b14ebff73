//! Indicators of need in the store: the facts rules read, and the hits that hold.
//!
//! Evaluation itself is pure (`practice::indicators`); this module loads what it reads — only
//! facts of the kinds some set uses, a chunk of persons at a time — and keeps `indicator_hits`
//! in step: the rows of a person are replaced whole whenever the person is evaluated.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Order, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, StatementBuilder,
};
use uuid::Uuid;

use super::StoreError;
use super::entity::{facts, families, family_members, indicator_hits, persons};
use crate::model::{FactId, FamilyId, PersonId};
use crate::practice::indicators::{Hit, IndicatorSets, Observed};

/// Persons per evaluation chunk: under SQLite's bound-parameter limit with room to spare, and
/// a chunk's facts stay a few megabytes.
pub const CHUNK: usize = 2_000;

/// The facts of these persons that any set reads. A payload is parsed only for the kinds
/// some indicator's conditions read (`Null` otherwise): parsing is most of the cost.
pub async fn observed(
    conn: &impl ConnectionTrait,
    persons: &[PersonId],
    sets: &IndicatorSets,
) -> Result<Vec<Observed>, StoreError> {
    let kinds = sets.kinds();
    if persons.is_empty() || kinds.is_empty() {
        return Ok(vec![]);
    }
    let read_payload = sets.payload_kinds();
    type Row = (Uuid, Uuid, String, String, String, DateTime<Utc>, String);
    let rows: Vec<Row> = facts::Entity::find()
        .select_only()
        .columns([
            facts::Column::Id,
            facts::Column::PersonId,
            facts::Column::Kind,
            facts::Column::Category,
            facts::Column::OrganisationId,
            facts::Column::OccurredAt,
        ])
        .column_as(
            Expr::col(facts::Column::Payload).cast_as(sea_orm::sea_query::Alias::new("text")),
            "payload",
        )
        .filter(facts::Column::PersonId.is_in(persons.iter().map(|p| p.0)))
        // `kind || ''`, not `kind`: without statistics SQLite picks the kind index here and
        // reads every fact of those kinds in the store for each chunk of persons (quadratic
        // over a sync); the persons' own index reads only their facts.
        .filter(Expr::cust("(kind || '')").is_in(kinds))
        .into_tuple()
        .all(conn)
        .await?;
    rows.into_iter()
        .map(
            |(id, person, kind, category, organisation, occurred_at, payload)| {
                let corrupt = |column| StoreError::Corrupt {
                    table: "facts",
                    column,
                };
                let payload = if read_payload.contains(kind.as_str()) {
                    serde_json::from_str(&payload).map_err(|_| corrupt("payload"))?
                } else {
                    serde_json::Value::Null
                };
                Ok(Observed {
                    id: FactId(id),
                    person: PersonId(person),
                    kind,
                    category: category.parse().map_err(|_| corrupt("category"))?,
                    organisation: organisation
                        .parse()
                        .map_err(|_| corrupt("organisation_id"))?,
                    occurred_at,
                    payload,
                })
            },
        )
        .collect()
}

/// Whether each person is a child: the rules' `applies_to`.
async fn child_flags(
    conn: &impl ConnectionTrait,
    ids: &[PersonId],
) -> Result<Vec<(PersonId, bool)>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<(Uuid, bool)> = persons::Entity::find()
        .select_only()
        .columns([persons::Column::Id, persons::Column::IsChild])
        .filter(persons::Column::Id.is_in(ids.iter().map(|p| p.0)))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|(id, c)| (PersonId(id), c)).collect())
}

/// Every hit for these persons, evaluated now from their facts (nothing stored).
pub async fn evaluate(
    conn: &impl ConnectionTrait,
    sets: &IndicatorSets,
    ids: &[PersonId],
    now: DateTime<Utc>,
) -> Result<(Vec<Hit>, Vec<Observed>), StoreError> {
    let flags = child_flags(conn, ids).await?;
    let facts = observed(conn, ids, sets).await?;
    let hits = {
        let grouped = crate::practice::indicators::by_person(&facts);
        flags
            .iter()
            .flat_map(|(p, is_child)| {
                let mine = grouped.get(p).map_or(&[][..], Vec::as_slice);
                sets.evaluate(*p, *is_child, mine, now)
            })
            .collect()
    };
    Ok((hits, facts))
}

/// Re-evaluates these persons and replaces their stored hits. Returns the hits stored.
pub async fn refresh(
    conn: &impl ConnectionTrait,
    sets: &IndicatorSets,
    ids: &[PersonId],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut stored = 0;
    for chunk in ids.chunks(CHUNK) {
        let (hits, _) = evaluate(conn, sets, chunk, now).await?;
        stored += replace(conn, chunk, &hits, now).await?;
    }
    Ok(stored)
}

/// Replaces the stored hits of `persons` with `hits`.
async fn replace(
    conn: &impl ConnectionTrait,
    persons: &[PersonId],
    hits: &[Hit],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    indicator_hits::Entity::delete_many()
        .filter(indicator_hits::Column::PersonId.is_in(persons.iter().map(|p| p.0)))
        .exec(conn)
        .await?;
    // Seven columns a row: 1,000 rows stay under SQLite's bound-parameter limit.
    for chunk in hits.chunks(1_000) {
        indicator_hits::Entity::insert_many(chunk.iter().map(|h| indicator_hits::ActiveModel {
            person_id: Set(h.person.0),
            set_id: Set(h.set.clone()),
            indicator_id: Set(h.indicator.clone()),
            criterion: Set(h.criterion.clone()),
            since: Set(h.since),
            evidence: Set(serde_json::json!(
                h.evidence.iter().map(|f| f.0.to_string()).collect::<Vec<_>>()
            )),
            evaluated_at: Set(now),
        }))
        .exec_without_returning(conn)
        .await?;
    }
    Ok(hits.len() as u64)
}

/// Re-evaluates every person, a chunk per transaction, and returns (persons, hits stored).
/// `progress` hears the persons done after each chunk.
///
/// On a SQLite file the persons and their facts are read straight from the file in one
/// sequential pass on a blocking thread (as `audit verify` does), which evaluates them and
/// hands each chunk's hits to this task to write: reading through the pool would cost a
/// thread hand-off per row. Elsewhere, chunks are read through the pool, the next while this
/// one is written.
pub async fn refresh_all(
    store: &super::Store,
    sets: &IndicatorSets,
    now: DateTime<Utc>,
    mut progress: impl FnMut(u64),
) -> Result<(u64, u64), StoreError> {
    let db = store.conn();
    let (mut persons_done, mut stored) = (0, 0);
    if let Some(path) = store.sqlite_file() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<PersonId>, Vec<Hit>)>(2);
        let scan_sets = sets.clone();
        let scanner = tokio::task::spawn_blocking(move || {
            scan_file(&path, &scan_sets, now, |ids, hits| {
                tx.blocking_send((ids, hits)).is_ok()
            })
        });
        while let Some((ids, hits)) = rx.recv().await {
            let txn = super::begin_write(db).await?;
            stored += replace(&txn, &ids, &hits, now).await?;
            txn.commit().await?;
            persons_done += ids.len() as u64;
            progress(persons_done);
        }
        scanner
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        return Ok((persons_done, stored));
    }
    let mut next = read_chunk(db, sets, None, now).await?;
    while let Some((ids, hits, after)) = next {
        let write = async {
            let txn = super::begin_write(db).await?;
            let n = replace(&txn, &ids, &hits, now).await?;
            txn.commit().await?;
            Ok::<_, StoreError>(n)
        };
        let (written, read) = tokio::join!(write, read_chunk(db, sets, after, now));
        stored += written?;
        next = read?;
        persons_done += ids.len() as u64;
        progress(persons_done);
    }
    Ok((persons_done, stored))
}

/// Reads every person and the facts of the kinds `sets` reads from a SQLite file, in the
/// order persons were written, evaluates them, and calls `chunk` with each [`CHUNK`] of
/// persons and their hits until it returns false. Blocking.
fn scan_file(
    path: &std::path::Path,
    sets: &IndicatorSets,
    now: DateTime<Utc>,
    mut chunk: impl FnMut(Vec<PersonId>, Vec<Hit>) -> bool,
) -> Result<(), StoreError> {
    use rusqlite::types::ValueRef;
    let conn = super::open_read_only(path)?;
    // One pass over most of the file: map it rather than copy each page through a read call.
    // The mapping is of the file (shared, clean pages), gone when the pass ends.
    conn.pragma_update(None, "mmap_size", 4_i64 << 30)?;
    let kinds = sets.kinds();
    let read_payload = sets.payload_kinds();
    let marks = vec!["?"; kinds.len()].join(", ");
    let mut stmt = conn.prepare(&format!(
        "SELECT p.id, p.is_child, f.id, f.kind, f.category, f.organisation_id, f.occurred_at, \
         f.payload FROM persons p LEFT JOIN facts f ON f.person_id = p.id AND f.kind IN ({marks}) \
         ORDER BY p.rowid"
    ))?;
    let mut rows = stmt.query(rusqlite::params_from_iter(kinds.iter()))?;
    let corrupt = |column| StoreError::Corrupt {
        table: "facts",
        column,
    };
    let uuid = |v: ValueRef<'_>, column| match v {
        ValueRef::Blob(b) => Uuid::from_slice(b).map_err(|_| corrupt(column)),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| corrupt(column)),
        _ => Err(corrupt(column)),
    };
    fn text<'a>(v: ValueRef<'a>, column: &'static str) -> Result<&'a str, StoreError> {
        match v {
            ValueRef::Text(t) => std::str::from_utf8(t).map_err(|_| StoreError::Corrupt {
                table: "facts",
                column,
            }),
            _ => Err(StoreError::Corrupt {
                table: "facts",
                column,
            }),
        }
    }
    let mut ids: Vec<PersonId> = Vec::with_capacity(CHUNK);
    let mut hits: Vec<Hit> = Vec::new();
    let mut current: Option<(PersonId, bool, Vec<Observed>)> = None;
    let finish = |person: Option<(PersonId, bool, Vec<Observed>)>,
                  ids: &mut Vec<PersonId>,
                  hits: &mut Vec<Hit>| {
        if let Some((p, is_child, facts)) = person {
            let refs: Vec<&Observed> = facts.iter().collect();
            hits.extend(sets.evaluate(p, is_child, &refs, now));
            ids.push(p);
        }
    };
    while let Some(row) = rows.next()? {
        let person = PersonId(uuid(row.get_ref(0)?, "person_id")?);
        if current.as_ref().is_none_or(|(p, ..)| *p != person) {
            finish(current.take(), &mut ids, &mut hits);
            if ids.len() >= CHUNK && !chunk(std::mem::take(&mut ids), std::mem::take(&mut hits)) {
                return Ok(());
            }
            let is_child = matches!(row.get_ref(1)?, ValueRef::Integer(i) if i != 0);
            current = Some((person, is_child, Vec::new()));
        }
        if matches!(row.get_ref(2)?, ValueRef::Null) {
            continue;
        }
        let kind = text(row.get_ref(3)?, "kind")?;
        let payload = if read_payload.contains(kind) {
            serde_json::from_str(text(row.get_ref(7)?, "payload")?)
                .map_err(|_| corrupt("payload"))?
        } else {
            serde_json::Value::Null
        };
        let fact = Observed {
            id: FactId(uuid(row.get_ref(2)?, "id")?),
            person,
            kind: kind.to_owned(),
            category: text(row.get_ref(4)?, "category")?
                .parse()
                .map_err(|_| corrupt("category"))?,
            organisation: text(row.get_ref(5)?, "organisation_id")?
                .parse()
                .map_err(|_| corrupt("organisation_id"))?,
            occurred_at: DateTime::parse_from_rfc3339(text(row.get_ref(6)?, "occurred_at")?)
                .map_err(|_| corrupt("occurred_at"))?
                .with_timezone(&Utc),
            payload,
        };
        if let Some((.., facts)) = current.as_mut() {
            facts.push(fact);
        }
    }
    finish(current.take(), &mut ids, &mut hits);
    if !ids.is_empty() {
        chunk(ids, hits);
    }
    Ok(())
}

/// The next chunk of persons after `after` in id order, evaluated; `None` when none is left.
/// The path through the pool (PostgreSQL, in-memory SQLite): a SQLite file is scanned
/// directly instead.
async fn read_chunk(
    db: &sea_orm::DatabaseConnection,
    sets: &IndicatorSets,
    after: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Option<(Vec<PersonId>, Vec<Hit>, Option<Uuid>)>, StoreError> {
    let mut q = persons::Entity::find()
        .select_only()
        .column(persons::Column::Id)
        .order_by_asc(persons::Column::Id)
        .limit(CHUNK as u64);
    if let Some(a) = after {
        q = q.filter(persons::Column::Id.gt(a));
    }
    let ids: Vec<Uuid> = q.into_tuple().all(db).await?;
    let next = ids.last().copied();
    let ids: Vec<PersonId> = ids.into_iter().map(PersonId).collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let (hits, _) = evaluate(db, sets, &ids, now).await?;
    Ok(Some((ids, hits, next)))
}

/// A stored hit, as a family listing reads it.
#[derive(Clone, Debug)]
pub struct StoredHit {
    pub family: FamilyId,
    pub person: PersonId,
    pub indicator: String,
    pub criterion: String,
    pub since: DateTime<Utc>,
    pub evidence: Vec<FactId>,
}

/// Families (of kind `family`) whose members' stored hits of `set` meet at least `min`
/// distinct criteria, after `after` in id order, at most `limit`.
pub async fn families_meeting(
    conn: &impl ConnectionTrait,
    set: &str,
    min: u32,
    after: Option<FamilyId>,
    limit: u64,
) -> Result<Vec<FamilyId>, StoreError> {
    use family_members::Column as M;
    use indicator_hits::Column as H;
    let member = |c: M| (family_members::Entity, c);
    let hit = |c: H| (indicator_hits::Entity, c);
    let mut q = Query::select();
    q.column(member(M::FamilyId))
        .from(indicator_hits::Entity)
        .inner_join(
            family_members::Entity,
            Expr::col(member(M::PersonId)).equals(hit(H::PersonId)),
        )
        .inner_join(
            families::Entity,
            Expr::col((families::Entity, families::Column::Id)).equals(member(M::FamilyId)),
        )
        .and_where(Expr::col(hit(H::SetId)).eq(set))
        .and_where(Expr::col((families::Entity, families::Column::Kind)).eq("family"))
        .group_by_col(member(M::FamilyId))
        .and_having(Func::count_distinct(Expr::col(hit(H::Criterion))).gte(i64::from(min)))
        .order_by(member(M::FamilyId), Order::Asc)
        .limit(Ord::min(limit, i64::MAX as u64));
    if let Some(a) = after {
        q.and_where(Expr::col(member(M::FamilyId)).gt(a.0));
    }
    let stmt = StatementBuilder::build(&q, &conn.get_database_backend());
    #[derive(FromQueryResult)]
    struct Row {
        family_id: Uuid,
    }
    let rows = Row::find_by_statement(stmt).all(conn).await?;
    Ok(rows.into_iter().map(|r| FamilyId(r.family_id)).collect())
}

/// The stored hits of `set` for the members of these families.
pub async fn family_hits(
    conn: &impl ConnectionTrait,
    set: &str,
    ids: &[FamilyId],
) -> Result<Vec<StoredHit>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let members: Vec<(Uuid, Uuid)> = family_members::Entity::find()
        .select_only()
        .columns([
            family_members::Column::FamilyId,
            family_members::Column::PersonId,
        ])
        .filter(family_members::Column::FamilyId.is_in(ids.iter().map(|f| f.0)))
        .into_tuple()
        .all(conn)
        .await?;
    let mut families_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (f, p) in &members {
        families_of.entry(*p).or_default().push(*f);
    }
    let rows = indicator_hits::Entity::find()
        .filter(indicator_hits::Column::SetId.eq(set))
        .filter(indicator_hits::Column::PersonId.is_in(families_of.keys().copied()))
        .all(conn)
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let evidence: Vec<FactId> = r
            .evidence
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str()?.parse().ok().map(FactId))
            .collect();
        for f in families_of.get(&r.person_id).into_iter().flatten() {
            out.push(StoredHit {
                family: FamilyId(*f),
                person: PersonId(r.person_id),
                indicator: r.indicator_id.clone(),
                criterion: r.criterion.clone(),
                since: r.since,
                evidence: evidence.clone(),
            });
        }
    }
    Ok(out)
}
