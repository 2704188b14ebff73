//! Reads of the child-and-family graph. Every function takes a batch of keys and issues one
//! statement (or a fixed few), so per-request loaders keep SQL counts bounded however many
//! persons a query touches.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, WindowStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, StatementBuilder,
};
use uuid::Uuid;

use super::entity::{
    addresses, facts, families, family_members, involvements, person_identifiers, person_names,
    persons, relationships,
};
use super::error::StoreError;
use crate::model::{
    Address, DataCategory, Fact, FactId, Family, FamilyId, FamilyKind, FamilyMember, Identifier,
    IdentifierSystem, Involvement, InvolvementKind, OrganisationId, Person, PersonId, PersonName,
    Relationship, RelationshipKind, Sex,
};

fn uuids<T: Copy + Into<Uuid>>(ids: &[T]) -> Vec<Uuid> {
    ids.iter().map(|id| (*id).into()).collect()
}

fn org(table: &'static str, s: &str) -> Result<OrganisationId, StoreError> {
    s.parse().map_err(|_| StoreError::Corrupt {
        table,
        column: "organisation_id",
    })
}

/// Persons by id, in no particular order; unknown ids are left out.
pub async fn persons(
    conn: &impl ConnectionTrait,
    ids: &[PersonId],
) -> Result<Vec<Person>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows = persons::Entity::find()
        .filter(persons::Column::Id.is_in(uuids(ids)))
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(person_from_row).collect())
}

fn person_from_row(r: persons::Model) -> Person {
    Person {
        id: PersonId(r.id),
        date_of_birth: r.date_of_birth,
        sex: Sex::parse(&r.sex),
        is_child: r.is_child,
        shielded: r.shielded,
    }
}

/// Names of persons.
pub async fn names(
    conn: &impl ConnectionTrait,
    ids: &[PersonId],
) -> Result<Vec<PersonName>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows = person_names::Entity::find()
        .filter(person_names::Column::PersonId.is_in(uuids(ids)))
        .order_by_asc(person_names::Column::Id)
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(PersonName {
                person_id: PersonId(r.person_id),
                given: r.given,
                family: r.family,
                usage: r.usage,
                organisation: org("person_names", &r.organisation_id)?,
                source_record: r.source_record_id.map(Into::into),
                date_of_birth: r.date_of_birth,
            })
        })
        .collect()
}

/// Identifiers of persons.
pub async fn identifiers(
    conn: &impl ConnectionTrait,
    ids: &[PersonId],
) -> Result<Vec<Identifier>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows = person_identifiers::Entity::find()
        .filter(person_identifiers::Column::PersonId.is_in(uuids(ids)))
        .order_by_asc(person_identifiers::Column::Id)
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Identifier {
                person_id: PersonId(r.person_id),
                system: r.system.parse().map_err(|_| StoreError::Corrupt {
                    table: "person_identifiers",
                    column: "system",
                })?,
                value: r.value,
                verified: r.verified,
                organisation: org("person_identifiers", &r.organisation_id)?,
                source_record: r.source_record_id.map(Into::into),
            })
        })
        .collect()
}

/// Addresses of persons.
pub async fn addresses(
    conn: &impl ConnectionTrait,
    ids: &[PersonId],
) -> Result<Vec<Address>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows = addresses::Entity::find()
        .filter(addresses::Column::PersonId.is_in(uuids(ids)))
        .order_by_asc(addresses::Column::Id)
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Address {
                person_id: PersonId(r.person_id),
                line1: r.line1,
                line2: r.line2,
                town: r.town,
                postcode: r.postcode,
                uprn: r.uprn,
                usage: r.usage,
                valid_from: r.valid_from,
                valid_to: r.valid_to,
                organisation: org("addresses", &r.organisation_id)?,
                source_record: r.source_record_id.map(Into::into),
            })
        })
        .collect()
}

/// Relationships declared for persons.
pub async fn relationships(
    conn: &impl ConnectionTrait,
    ids: &[PersonId],
) -> Result<Vec<Relationship>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows = relationships::Entity::find()
        .filter(relationships::Column::PersonId.is_in(uuids(ids)))
        .order_by_asc(relationships::Column::Id)
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Relationship {
                person_id: PersonId(r.person_id),
                related_person: PersonId(r.related_person_id),
                kind: RelationshipKind::parse(&r.kind).ok_or(StoreError::Corrupt {
                    table: "relationships",
                    column: "kind",
                })?,
                parental_responsibility: r.parental_responsibility,
                organisation: org("relationships", &r.organisation_id)?,
                source_record: r.source_record_id.map(Into::into),
            })
        })
        .collect()
}

fn member_from_row(r: family_members::Model) -> Result<FamilyMember, StoreError> {
    Ok(FamilyMember {
        family_id: FamilyId(r.family_id),
        person_id: PersonId(r.person_id),
        role: r.role,
        organisation: org("family_members", &r.organisation_id)?,
        source_record: r.source_record_id.map(Into::into),
    })
}

/// The family memberships of persons.
pub async fn memberships(
    conn: &impl ConnectionTrait,
    ids: &[PersonId],
) -> Result<Vec<FamilyMember>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows = family_members::Entity::find()
        .filter(family_members::Column::PersonId.is_in(uuids(ids)))
        .order_by_asc(family_members::Column::Id)
        .all(conn)
        .await?;
    rows.into_iter().map(member_from_row).collect()
}

/// The members of families.
pub async fn members(
    conn: &impl ConnectionTrait,
    ids: &[FamilyId],
) -> Result<Vec<FamilyMember>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows = family_members::Entity::find()
        .filter(family_members::Column::FamilyId.is_in(uuids(ids)))
        .order_by_asc(family_members::Column::Id)
        .all(conn)
        .await?;
    rows.into_iter().map(member_from_row).collect()
}

/// Families by id.
pub async fn families(
    conn: &impl ConnectionTrait,
    ids: &[FamilyId],
) -> Result<Vec<Family>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows = families::Entity::find()
        .filter(families::Column::Id.is_in(uuids(ids)))
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Family {
            id: FamilyId(r.id),
            kind: FamilyKind::parse(&r.kind),
            basis: r.basis,
        })
        .collect())
}

pub(super) fn involvement_from_row(r: involvements::Model) -> Result<Involvement, StoreError> {
    Ok(Involvement {
        id: r.id.into(),
        kind: r.kind.parse().map_err(|_| StoreError::Corrupt {
            table: "involvements",
            column: "kind",
        })?,
        principal: r.principal_subject,
        organisation: org("involvements", &r.organisation_id)?,
        person_id: r.person_id.map(PersonId),
        family_id: r.family_id.map(FamilyId),
        started_at: r.started_at,
        ended_at: r.ended_at,
        service: r.service,
        source: r.source,
        category: r
            .category
            .map(|c| c.parse())
            .transpose()
            .map_err(|_| StoreError::Corrupt {
                table: "involvements",
                column: "category",
            })?,
        contact: r.contact,
    })
}

/// Every involvement, current or past, with these persons or these families.
pub async fn involvements(
    conn: &impl ConnectionTrait,
    persons: &[PersonId],
    families: &[FamilyId],
) -> Result<Vec<Involvement>, StoreError> {
    if persons.is_empty() && families.is_empty() {
        return Ok(vec![]);
    }
    let rows = involvements::Entity::find()
        .filter(
            Condition::any()
                .add(involvements::Column::PersonId.is_in(uuids(persons)))
                .add(involvements::Column::FamilyId.is_in(uuids(families))),
        )
        .order_by_asc(involvements::Column::StartedAt)
        .order_by_asc(involvements::Column::Id)
        .all(conn)
        .await?;
    rows.into_iter().map(involvement_from_row).collect()
}

/// How many facts of one category from one organisation a person has: the unit the gate
/// decides on for fact lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactGroup {
    pub person_id: PersonId,
    pub category: DataCategory,
    pub organisation: OrganisationId,
    pub count: u64,
}

/// Which facts a list asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FactFilter {
    /// Only these categories (empty: all).
    pub categories: Vec<DataCategory>,
    /// Only from this sector.
    pub agency: Option<crate::model::Agency>,
    /// Only facts that occurred before this instant (for paging back through a timeline).
    pub before: Option<DateTime<Utc>>,
}

impl FactFilter {
    fn condition(&self) -> Condition {
        let mut c = Condition::all();
        if !self.categories.is_empty() {
            c = c.add(facts::Column::Category.is_in(self.categories.iter().map(|c| c.as_str())));
        }
        if let Some(agency) = self.agency {
            c = c.add(facts::Column::Agency.eq(agency.as_str()));
        }
        if let Some(before) = self.before {
            c = c.add(facts::Column::OccurredAt.lt(before));
        }
        c
    }
}

#[derive(FromQueryResult)]
struct GroupRow {
    person_id: Uuid,
    category: String,
    organisation_id: String,
    n: i64,
}

/// Counts of matching facts per (person, category, organisation), in one statement.
pub async fn fact_groups(
    conn: &impl ConnectionTrait,
    ids: &[PersonId],
    filter: &FactFilter,
) -> Result<Vec<FactGroup>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows = facts::Entity::find()
        .select_only()
        .column(facts::Column::PersonId)
        .column(facts::Column::Category)
        .column(facts::Column::OrganisationId)
        .column_as(facts::Column::Id.count(), "n")
        .filter(facts::Column::PersonId.is_in(uuids(ids)))
        .filter(filter.condition())
        .group_by(facts::Column::PersonId)
        .group_by(facts::Column::Category)
        .group_by(facts::Column::OrganisationId)
        .into_model::<GroupRow>()
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(FactGroup {
                person_id: PersonId(r.person_id),
                category: r.category.parse().map_err(|_| StoreError::Corrupt {
                    table: "facts",
                    column: "category",
                })?,
                organisation: org("facts", &r.organisation_id)?,
                count: u64::try_from(r.n).unwrap_or(0),
            })
        })
        .collect()
}

/// The newest `limit` facts of each person among the (category, organisation) groups given
/// for that person, newest first. One statement for the whole batch: a window function ranks
/// each person's facts and the outer query keeps the first `limit`.
pub async fn facts_in_groups(
    conn: &impl ConnectionTrait,
    allowed: &[(PersonId, Vec<(DataCategory, OrganisationId)>)],
    filter: &FactFilter,
    limit: u64,
) -> Result<Vec<Fact>, StoreError> {
    let mut any = Condition::any();
    let mut empty = true;
    for (person, groups) in allowed {
        if groups.is_empty() {
            continue;
        }
        let mut of_person = Condition::any();
        for (category, organisation) in groups {
            of_person = of_person.add(
                Condition::all()
                    .add(facts::Column::Category.eq(category.as_str()))
                    .add(facts::Column::OrganisationId.eq(organisation.as_str())),
            );
        }
        any = any.add(
            Condition::all()
                .add(facts::Column::PersonId.eq(person.0))
                .add(of_person),
        );
        empty = false;
    }
    if empty || limit == 0 {
        return Ok(vec![]);
    }
    let rank = Alias::new("rank_in_person");
    let inner = Query::select()
        .columns([
            facts::Column::Id,
            facts::Column::PersonId,
            facts::Column::Agency,
            facts::Column::OrganisationId,
            facts::Column::Category,
            facts::Column::Kind,
            facts::Column::OccurredAt,
            facts::Column::RecordedAt,
            facts::Column::Summary,
            facts::Column::Payload,
            facts::Column::SourceRecordId,
        ])
        .expr_window_as(
            Func::cust(Alias::new("ROW_NUMBER")),
            WindowStatement::partition_by(facts::Column::PersonId)
                .order_by(facts::Column::OccurredAt, Order::Desc)
                .order_by(facts::Column::Id, Order::Desc)
                .to_owned(),
            rank.clone(),
        )
        .from(facts::Entity)
        .cond_where(any)
        .cond_where(filter.condition())
        .to_owned();
    let ranked = Alias::new("ranked");
    let outer = Query::select()
        .column(sea_orm::sea_query::Asterisk)
        .from_subquery(inner, ranked)
        .and_where(Expr::col(rank).lte(limit))
        .order_by(facts::Column::PersonId, Order::Asc)
        .order_by(facts::Column::OccurredAt, Order::Desc)
        .order_by(facts::Column::Id, Order::Desc)
        .to_owned();
    let stmt = StatementBuilder::build(&outer, &conn.get_database_backend());
    let rows = facts::Model::find_by_statement(stmt).all(conn).await?;
    rows.into_iter().map(fact_from_row).collect()
}

fn fact_from_row(r: facts::Model) -> Result<Fact, StoreError> {
    let corrupt = |column| StoreError::Corrupt {
        table: "facts",
        column,
    };
    Ok(Fact {
        id: FactId(r.id),
        person_id: PersonId(r.person_id),
        agency: r.agency.parse().map_err(|_| corrupt("agency"))?,
        organisation: org("facts", &r.organisation_id)?,
        category: r.category.parse().map_err(|_| corrupt("category"))?,
        kind: r.kind,
        occurred_at: r.occurred_at,
        recorded_at: r.recorded_at,
        summary: r.summary,
        payload: r.payload,
        source_record: r.source_record_id.map(Into::into),
    })
}

/// One fact by id, if it is still held (a retracted record's facts are gone).
pub async fn fact(conn: &impl ConnectionTrait, id: FactId) -> Result<Option<Fact>, StoreError> {
    facts::Entity::find_by_id(id.0)
        .one(conn)
        .await?
        .map(fact_from_row)
        .transpose()
}

/// What a search asks for. Every given criterion must hold.
#[derive(Clone, Debug, Default)]
pub struct SearchCriteria {
    /// A family name, compared normalised (letters only, upper case).
    pub family_name: Option<String>,
    /// A given name prefix, compared normalised.
    pub given_name: Option<String>,
    pub date_of_birth: Option<chrono::NaiveDate>,
    /// A postcode, compared without spaces, upper case.
    pub postcode: Option<String>,
    /// An identifier, already checked and normalised by its system.
    pub identifier: Option<(IdentifierSystem, String)>,
}

/// Upper-case letters only: how names are compared.
pub fn normalise_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Persons matching `criteria`, ordered by id, after `after`, at most `limit`.
pub async fn search(
    conn: &impl ConnectionTrait,
    criteria: &SearchCriteria,
    after: Option<PersonId>,
    limit: u64,
) -> Result<Vec<PersonId>, StoreError> {
    let mut q = persons::Entity::find()
        .select_only()
        .column(persons::Column::Id);
    if let Some(family) = &criteria.family_name {
        let mut names = Query::select()
            .column(person_names::Column::PersonId)
            .from(person_names::Entity)
            .and_where(Expr::col(person_names::Column::FamilyNorm).eq(normalise_name(family)))
            .to_owned();
        if let Some(given) = &criteria.given_name {
            names.and_where(
                Expr::col(person_names::Column::GivenNorm)
                    .like(format!("{}%", normalise_name(given))),
            );
        }
        q = q.filter(persons::Column::Id.in_subquery(names));
    }
    if let Some(dob) = criteria.date_of_birth {
        q = q.filter(persons::Column::DateOfBirth.eq(dob));
    }
    if let Some(postcode) = &criteria.postcode {
        let at = Query::select()
            .column(addresses::Column::PersonId)
            .from(addresses::Entity)
            .and_where(
                Expr::col(addresses::Column::PostcodeNorm)
                    .eq(crate::model::Address::normalise_postcode(postcode)),
            )
            .to_owned();
        q = q.filter(persons::Column::Id.in_subquery(at));
    }
    if let Some((system, value)) = &criteria.identifier {
        let with = Query::select()
            .column(person_identifiers::Column::PersonId)
            .from(person_identifiers::Entity)
            .and_where(Expr::col(person_identifiers::Column::System).eq(system.as_str()))
            .and_where(Expr::col(person_identifiers::Column::Value).eq(value.as_str()))
            .to_owned();
        q = q.filter(persons::Column::Id.in_subquery(with));
    }
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

/// The families each of these persons belongs to, de-duplicated.
pub fn family_ids(memberships: &[FamilyMember]) -> Vec<FamilyId> {
    memberships
        .iter()
        .map(|m| m.family_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn consent_from_row(
    r: super::entity::consents::Model,
) -> Result<crate::model::Consent, StoreError> {
    let corrupt = |column| StoreError::Corrupt {
        table: "consents",
        column,
    };
    Ok(crate::model::Consent {
        id: r.id,
        person_id: PersonId(r.person_id),
        state: crate::model::ConsentState::parse(&r.state).ok_or(corrupt("state"))?,
        given_by: r.given_by,
        purposes: serde_json::from_value(r.purposes).map_err(|_| corrupt("purposes"))?,
        categories: serde_json::from_value(r.categories).map_err(|_| corrupt("categories"))?,
        organisations: serde_json::from_value(r.organisations)
            .map_err(|_| corrupt("organisations"))?,
        recorded_by: r.recorded_by,
        recorded_at: r.recorded_at,
        expires_at: r.expires_at,
    })
}

/// What the gate needs of each subject, read in one statement: the persons, their consents
/// (oldest recorded first), and the kinds of the involvements in force at `now` that a
/// principal holds (personally, or as their organisation where none is named) with each,
/// directly or through a family the person belongs to.
#[derive(Default)]
pub struct SubjectRows {
    pub persons: Vec<Person>,
    pub consents: Vec<crate::model::Consent>,
    pub held: Vec<(PersonId, InvolvementKind)>,
}

/// Reads [`SubjectRows`]: persons left-joined to their consents, with the involvements held
/// with each as two correlated aggregates (direct, and through families).
pub async fn subject_rows(
    conn: &impl ConnectionTrait,
    ids: &[PersonId],
    subject: &str,
    organisation: &OrganisationId,
    now: DateTime<Utc>,
) -> Result<SubjectRows, StoreError> {
    use super::entity::consents;
    use sea_orm::{JoinType, QueryTrait};
    if ids.is_empty() {
        return Ok(SubjectRows::default());
    }
    let backend = conn.get_database_backend();
    // Kinds are snake_case words, so a comma separates them unambiguously.
    let kinds = Expr::cust(match backend {
        sea_orm::DbBackend::Postgres => r#"string_agg("involvements"."kind", ',')"#,
        _ => r#"group_concat("involvements"."kind", ',')"#,
    });
    let held = Condition::all()
        .add(
            Condition::any()
                .add(involvements::Column::PrincipalSubject.eq(subject))
                .add(
                    Condition::all()
                        .add(involvements::Column::PrincipalSubject.is_null())
                        .add(involvements::Column::OrganisationId.eq(organisation.as_str())),
                ),
        )
        .add(involvements::Column::StartedAt.lte(now))
        .add(
            Condition::any()
                .add(involvements::Column::EndedAt.is_null())
                .add(involvements::Column::EndedAt.gt(now)),
        );
    let direct = Query::select()
        .expr(kinds.clone())
        .from(involvements::Entity)
        .cond_where(
            held.clone().add(
                Expr::col((involvements::Entity, involvements::Column::PersonId))
                    .equals((persons::Entity, persons::Column::Id)),
            ),
        )
        .to_owned();
    let through_families = Query::select()
        .expr(kinds)
        .from(family_members::Entity)
        .inner_join(
            involvements::Entity,
            Expr::col((involvements::Entity, involvements::Column::FamilyId))
                .equals((family_members::Entity, family_members::Column::FamilyId)),
        )
        .cond_where(
            held.add(
                Expr::col((family_members::Entity, family_members::Column::PersonId))
                    .equals((persons::Entity, persons::Column::Id)),
            ),
        )
        .to_owned();
    let consent_of = consents::Entity::belongs_to(persons::Entity)
        .from(consents::Column::PersonId)
        .to(persons::Column::Id);
    let stmt = persons::Entity::find()
        .join_rev(JoinType::LeftJoin, consent_of.into())
        .select_also(consents::Entity)
        .expr_as(Expr::SubQuery(None, Box::new(direct.into())), "held_direct")
        .expr_as(
            Expr::SubQuery(None, Box::new(through_families.into())),
            "held_through_families",
        )
        .filter(persons::Column::Id.is_in(uuids(ids)))
        .order_by_asc(consents::Column::RecordedAt)
        .build(backend);
    let mut out = SubjectRows {
        persons: Vec::with_capacity(ids.len()),
        consents: Vec::new(),
        held: Vec::new(),
    };
    let corrupt = |column| StoreError::Corrupt {
        table: "involvements",
        column,
    };
    for row in conn.query_all_raw(stmt).await? {
        let person = persons::Model::from_query_result(&row, "A_")?;
        if let Some(c) = super::entity::consents::Model::from_query_result_optional(&row, "B_")? {
            out.consents.push(consent_from_row(c)?);
        }
        if out.persons.iter().any(|p| p.id.0 == person.id) {
            continue;
        }
        for column in ["held_direct", "held_through_families"] {
            let kinds: Option<String> = row.try_get("", column)?;
            for kind in kinds.iter().flat_map(|k| k.split(',')) {
                out.held.push((
                    PersonId(person.id),
                    kind.parse().map_err(|_| corrupt("kind"))?,
                ));
            }
        }
        out.persons.push(person_from_row(person));
    }
    Ok(out)
}

/// Organisations by id (not personal data).
pub async fn organisations(
    conn: &impl ConnectionTrait,
    ids: &[OrganisationId],
) -> Result<Vec<crate::model::Organisation>, StoreError> {
    use super::entity::organisations;
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows = organisations::Entity::find()
        .filter(organisations::Column::Id.is_in(ids.iter().map(|o| o.as_str())))
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(crate::model::Organisation {
                id: org("organisations", &r.id)?,
                name: r.name,
            })
        })
        .collect()
}

/// How many person nodes the graph holds.
pub async fn person_count(conn: &impl ConnectionTrait) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(persons::Entity::find().count(conn).await?)
}

/// Facts by id, in no particular order; unknown ids are left out.
pub async fn facts_by_id(
    conn: &impl ConnectionTrait,
    ids: &[FactId],
) -> Result<Vec<Fact>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(10_000) {
        let rows = facts::Entity::find()
            .filter(facts::Column::Id.is_in(chunk.iter().map(|f| f.0)))
            .all(conn)
            .await?;
        for r in rows {
            out.push(fact_from_row(r)?);
        }
    }
    Ok(out)
}
