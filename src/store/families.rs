//! Families and households the hub derives from what sources say, rebuilt for the persons a
//! change touched (a batch of records, a confirmed match, a split):
//!
//! - a **family** is a group of persons joined by declared parent, carer, child and sibling
//!   relationships; each membership names the record that declared the relationship;
//! - a **household** is the persons whose current address (postcode and first line) is the
//!   same; each membership names the record that gave the address. An address with more than
//!   [`MAX_HOUSEHOLD`] residents (a children's home, a hostel, a block with one line) is not a
//!   household.
//!
//! Sync queues the persons each batch touched ([`enqueue`]) and rebuilds their groups once at
//! the end of the run ([`drain`]): a family touched by many batches is rebuilt once.
//! When much of the graph is queued (an initial load), [`drain`] rebuilds every group from one
//! read of the graph ([`rebuild_everything`]) instead of walking out from each queued person.
//!
//! A derived group's id is stable: a household's follows from its address, a family's from its
//! earliest member, so involvements that name a group keep naming it as members join.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, StreamTrait,
};
use uuid::Uuid;

use super::StoreError;
use super::entity::{addresses, families, family_members, family_queue, persons, relationships};
use crate::model::{PersonId, RelationshipKind};

/// A family larger than this stops growing: chains of step- and half-relations are not one
/// family.
const MAX_FAMILY: usize = 40;
/// An address with more current residents than this is not a household.
pub const MAX_HOUSEHOLD: usize = 20;

/// The namespace derived group ids are made in.
const NAMESPACE: Uuid = Uuid::from_u128(0x6b69_6e73_6869_7066_616d_696c_6965_7300);

/// A relationship as read: person, related person, kind, organisation, source record.
type Edge = (Uuid, Uuid, String, String, Option<Uuid>);
/// A relationship as grouping holds it, its kind and organisation shared, not copied.
type Link = (Uuid, Uuid, &'static str, Arc<str>, Option<Uuid>);
/// The organisation and source record behind a fact about a person.
type Holder = (Arc<str>, Option<Uuid>);

/// The rows `query` finds for `keys`, asked a chunk of at most 2,000 keys at a time (so that
/// bound parameters stay under SQLite's limit).
async fn chunked<K: Clone, T, F>(
    keys: &[K],
    mut query: impl FnMut(Vec<K>) -> F,
) -> Result<Vec<T>, StoreError>
where
    F: std::future::Future<Output = Result<Vec<T>, sea_orm::DbErr>>,
{
    let mut out = Vec::new();
    for chunk in keys.chunks(2_000) {
        out.extend(query(chunk.to_vec()).await?);
    }
    Ok(out)
}

/// The relationships that make a family, as [`Edge`]s.
fn family_relationships() -> sea_orm::Select<relationships::Entity> {
    relationships::Entity::find()
        .select_only()
        .column(relationships::Column::PersonId)
        .column(relationships::Column::RelatedPersonId)
        .column(relationships::Column::Kind)
        .column(relationships::Column::OrganisationId)
        .column(relationships::Column::SourceRecordId)
        .filter(relationships::Column::Kind.is_in(family_kinds()))
}

/// Current addresses, as (person, postcode, first line, organisation, source record).
fn current_addresses() -> sea_orm::Select<addresses::Entity> {
    addresses::Entity::find()
        .select_only()
        .column(addresses::Column::PersonId)
        .column(addresses::Column::PostcodeNorm)
        .column(addresses::Column::Line1)
        .column(addresses::Column::OrganisationId)
        .column(addresses::Column::SourceRecordId)
        .filter(addresses::Column::ValidTo.is_null())
}

/// Relationships that make a family, touching any of `ids`.
async fn family_edges(conn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Edge>, StoreError> {
    chunked(ids, |chunk| {
        family_relationships()
            .filter(
                Condition::any()
                    .add(relationships::Column::PersonId.is_in(chunk.clone()))
                    .add(relationships::Column::RelatedPersonId.is_in(chunk)),
            )
            .into_tuple::<Edge>()
            .all(conn)
    })
    .await
}

/// A membership to write.
struct Member {
    family: Uuid,
    person: Uuid,
    role: &'static str,
    organisation: Arc<str>,
    source: Option<Uuid>,
}

impl Member {
    /// The membership row's id: the same for the same person in the same group, however
    /// often the group is rebuilt.
    fn id(&self) -> Uuid {
        Uuid::new_v5(&self.family, self.person.as_bytes())
    }
}

/// A derived group's kind and basis: a household is made by a shared address, a family by
/// declared relationships.
fn kind_and_basis(household: bool) -> (&'static str, &'static str) {
    if household {
        ("household", "address")
    } else {
        ("family", "relationships")
    }
}

/// The root of `x` in a union-find forest (with path compression). Shared with relinking.
pub fn find<T: Copy + Eq + std::hash::Hash>(parent: &mut HashMap<T, T>, x: T) -> T {
    let p = *parent.get(&x).unwrap_or(&x);
    if p == x {
        return x;
    }
    let root = find(parent, p);
    parent.insert(x, root);
    root
}

/// The derived families and households these persons belong to, as (families, households).
async fn derived_families_of(
    conn: &impl ConnectionTrait,
    persons: &[Uuid],
) -> Result<(BTreeSet<Uuid>, BTreeSet<Uuid>), StoreError> {
    let theirs: BTreeSet<Uuid> = chunked(persons, |chunk| {
        family_members::Entity::find()
            .select_only()
            .column(family_members::Column::FamilyId)
            .filter(family_members::Column::PersonId.is_in(chunk))
            .into_tuple::<Uuid>()
            .all(conn)
    })
    .await?
    .into_iter()
    .collect();
    let theirs: Vec<Uuid> = theirs.into_iter().collect();
    let (mut families, mut households) = (BTreeSet::new(), BTreeSet::new());
    let groups = chunked(&theirs, |chunk| {
        families::Entity::find()
            .select_only()
            .column(families::Column::Id)
            .column(families::Column::Basis)
            .filter(families::Column::Id.is_in(chunk))
            .filter(families::Column::Basis.is_not_null())
            .into_tuple::<(Uuid, Option<String>)>()
            .all(conn)
    })
    .await?;
    for (id, basis) in groups {
        if basis.as_deref() == Some("address") {
            households.insert(id);
        } else {
            families.insert(id);
        }
    }
    Ok((families, households))
}

/// The members of families.
async fn members_of(
    conn: &impl ConnectionTrait,
    families: &BTreeSet<Uuid>,
) -> Result<Vec<Uuid>, StoreError> {
    let families: Vec<Uuid> = families.iter().copied().collect();
    chunked(&families, |chunk| {
        family_members::Entity::find()
            .select_only()
            .column(family_members::Column::PersonId)
            .filter(family_members::Column::FamilyId.is_in(chunk))
            .into_tuple::<Uuid>()
            .all(conn)
    })
    .await
}

/// What groups are made of: the declared relationships that make families, the current
/// residents of each address, and which persons are children.
#[derive(Default)]
struct Found {
    /// In any order, and possibly twice: [`group`] sorts them.
    links: Vec<Link>,
    /// Current residents by (postcode, normalised first line), each with the record that gave
    /// the address (the least, when several do).
    residents: BTreeMap<(String, String), BTreeMap<Uuid, Holder>>,
    is_child: HashMap<Uuid, bool>,
    /// Organisation ids, each held once.
    organisations: HashSet<Arc<str>>,
}

impl Found {
    /// The organisation id, shared with every other mention of it.
    fn organisation(&mut self, id: String) -> Arc<str> {
        if let Some(held) = self.organisations.get(id.as_str()) {
            return Arc::clone(held);
        }
        let held: Arc<str> = id.into();
        self.organisations.insert(Arc::clone(&held));
        held
    }

    /// Holds a relationship that makes a family.
    fn link(&mut self, (a, b, kind, organisation, source): Edge) {
        let kind = RelationshipKind::parse(&kind).map_or("", RelationshipKind::as_str);
        let organisation = self.organisation(organisation);
        self.links.push((a, b, kind, organisation, source));
    }

    /// Counts a current address towards its household (see [`household_key`]).
    fn resident(
        &mut self,
        person: Uuid,
        key: (String, String),
        organisation: String,
        source: Option<Uuid>,
    ) {
        let holder = (self.organisation(organisation), source);
        self.residents
            .entry(key)
            .or_default()
            .entry(person)
            .and_modify(|h| {
                if holder < *h {
                    *h = holder.clone();
                }
            })
            .or_insert(holder);
    }
}

/// The household an address counts towards: (postcode, first line with its spaces and case
/// made regular), or none without a postcode.
fn household_key(postcode: &str, line: &str) -> Option<(String, String)> {
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    (!postcode.is_empty()).then(|| (postcode.to_owned(), line.to_uppercase()))
}

/// Reads whether each of `ids` is a child, for those not yet known.
async fn read_is_child(
    conn: &impl ConnectionTrait,
    found: &mut Found,
    ids: impl Iterator<Item = Uuid>,
) -> Result<(), StoreError> {
    let unknown: Vec<Uuid> = ids.filter(|p| !found.is_child.contains_key(p)).collect();
    let rows = chunked(&unknown, |chunk| {
        persons::Entity::find()
            .select_only()
            .column(persons::Column::Id)
            .column(persons::Column::IsChild)
            .filter(persons::Column::Id.is_in(chunk))
            .into_tuple::<(Uuid, bool)>()
            .all(conn)
    })
    .await?;
    found.is_child.extend(rows);
    Ok(())
}

/// The relationships kinds that make a family.
fn family_kinds() -> [&'static str; 4] {
    [
        RelationshipKind::Parent,
        RelationshipKind::Carer,
        RelationshipKind::Child,
        RelationshipKind::Sibling,
    ]
    .map(|k| k.as_str())
}

/// The memberships groups are made of, and which of the groups are households.
fn group(mut found: Found) -> (BTreeMap<(Uuid, Uuid), Member>, BTreeSet<Uuid>) {
    found.links.sort_unstable();
    found.links.dedup();
    let mut parent: HashMap<Uuid, Uuid> = HashMap::new();
    let mut size: HashMap<Uuid, usize> = HashMap::new();
    for (a, b, ..) in &found.links {
        let (ra, rb) = (find(&mut parent, *a), find(&mut parent, *b));
        if ra == rb {
            continue;
        }
        let (sa, sb) = (*size.get(&ra).unwrap_or(&1), *size.get(&rb).unwrap_or(&1));
        if sa + sb > MAX_FAMILY {
            continue;
        }
        let (root, child) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent.insert(child, root);
        size.insert(root, sa + sb);
    }
    let is_child = |p: &Uuid| found.is_child.get(p).copied().unwrap_or(false);
    // Each person's role and the record that says so: the first edge that names them.
    let mut members: BTreeMap<(Uuid, Uuid), Member> = BTreeMap::new();
    for (a, b, kind, organisation, source) in &found.links {
        let root = find(&mut parent, *a);
        if root != find(&mut parent, *b) {
            continue;
        }
        let family = Uuid::new_v5(&NAMESPACE, format!("family:{root}").as_bytes());
        // `b` is `kind` of `a`.
        let (role_a, role_b) = match RelationshipKind::parse(kind) {
            Some(RelationshipKind::Parent) => ("child", "parent"),
            Some(RelationshipKind::Carer) => ("child", "carer"),
            Some(RelationshipKind::Child) => ("parent", "child"),
            _ => ("member", "member"),
        };
        for (person, role) in [(*a, role_a), (*b, role_b)] {
            let role = match role {
                "member" if is_child(&person) => "child",
                r => r,
            };
            let m = members.entry((family, person)).or_insert(Member {
                family,
                person,
                role,
                organisation: Arc::clone(organisation),
                source: *source,
            });
            // A parent or carer in any edge is a parent or carer of the family.
            if matches!(role, "parent" | "carer") && m.role == "member" {
                m.role = role;
            }
        }
    }
    let mut households = BTreeSet::new();
    for ((postcode, line), people) in &found.residents {
        if people.len() < 2 || people.len() > MAX_HOUSEHOLD {
            continue;
        }
        let family = Uuid::new_v5(
            &NAMESPACE,
            format!("household:{postcode}:{line}").as_bytes(),
        );
        households.insert(family);
        for (person, (organisation, source)) in people {
            members.insert(
                (family, *person),
                Member {
                    family,
                    person: *person,
                    role: if is_child(person) { "child" } else { "member" },
                    organisation: Arc::clone(organisation),
                    source: *source,
                },
            );
        }
    }
    (members, households)
}

/// Rebuilds the derived families and households of the persons in `touched` (and of everyone
/// grouped with them).
pub async fn rebuild(
    conn: &impl ConnectionTrait,
    touched: &[PersonId],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if touched.is_empty() {
        return Ok(());
    }
    // Everyone already grouped with a touched person is rebuilt too: a group a touched
    // person leaves must be rebuilt without them. The families are walked again from the
    // members of the touched persons' families, the households found again from the
    // addresses of the members of their households: a group no touched person was in, and
    // none joins, is left as it is.
    let touched: Vec<Uuid> = touched.iter().map(|p| p.0).collect();
    let (before_families, before_households) = derived_families_of(conn, &touched).await?;
    let mut seeds: BTreeSet<Uuid> = touched.iter().copied().collect();
    seeds.extend(members_of(conn, &before_families).await?);
    let mut residents_of: BTreeSet<Uuid> = touched.iter().copied().collect();
    residents_of.extend(members_of(conn, &before_households).await?);
    let before: BTreeSet<Uuid> = before_families.union(&before_households).copied().collect();
    // Families: walk declared relationships out from them. A family holds at most
    // MAX_FAMILY persons, so no one further than that many steps from a seed can join a
    // seed's family: the walk stops there, or (against a web of relationships that links
    // half the graph) once it has seen far more persons than the seeds could be grouped with.
    // It always takes the first step: a bound on the persons seen alone, reached by the seeds
    // of a large rebuild, once left every family of that rebuild without its relationships.
    let mut found = Found::default();
    let mut seen: BTreeSet<Uuid> = seeds.clone();
    let mut frontier: Vec<Uuid> = seen.iter().copied().collect();
    let most = seeds.len().saturating_mul(MAX_FAMILY).max(10_000);
    let mut steps = 0;
    while !frontier.is_empty() && steps < MAX_FAMILY && (steps == 0 || seen.len() < most) {
        steps += 1;
        let edges = family_edges(conn, &frontier).await?;
        frontier.clear();
        for e in edges {
            for end in [e.0, e.1] {
                if seen.insert(end) {
                    frontier.push(end);
                }
            }
            found.link(e);
        }
    }

    // Households: current residents of the current addresses of the touched persons and of
    // those they lived with.
    let ids: Vec<Uuid> = residents_of.iter().copied().collect();
    let wanted: BTreeSet<(String, String)> = chunked(&ids, |chunk| {
        addresses::Entity::find()
            .select_only()
            .column(addresses::Column::PostcodeNorm)
            .column(addresses::Column::Line1)
            .filter(addresses::Column::PersonId.is_in(chunk))
            .filter(addresses::Column::ValidTo.is_null())
            .into_tuple::<(String, String)>()
            .all(conn)
    })
    .await?
    .iter()
    .filter_map(|(p, l)| household_key(p, l))
    .collect();
    let postcodes: Vec<&str> = wanted
        .iter()
        .map(|(p, _)| p.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for chunk in postcodes.chunks(1_000) {
        let rows: Vec<(Uuid, String, String, String, Option<Uuid>)> = current_addresses()
            .filter(addresses::Column::PostcodeNorm.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        for (person, postcode, line, organisation, source) in rows {
            if let Some(key) = household_key(&postcode, &line).filter(|k| wanted.contains(k)) {
                found.resident(person, key, organisation, source);
            }
        }
    }
    let people: BTreeSet<Uuid> = found
        .residents
        .values()
        .flat_map(|r| r.keys().copied())
        .chain(seen)
        .collect();
    read_is_child(conn, &mut found, people.into_iter()).await?;
    let (members, households) = group(found);
    replace(conn, before, &members, &households, now).await
}

/// Rebuilds every derived family and household in the store, from one read of every
/// relationship that makes a family and every current address: for a rebuild that touches
/// much of the graph (an initial load queues every person), far less work than walking out
/// from each person. Groups come out exactly as [`rebuild`] of every person makes them.
pub async fn rebuild_everything<C>(conn: &C, now: DateTime<Utc>) -> Result<(), StoreError>
where
    C: ConnectionTrait + StreamTrait,
{
    use futures_util::TryStreamExt;
    // Rows are streamed, not collected: at a million records the graph's relationships and
    // addresses would otherwise be held twice over.
    let mut found = Found::default();
    let mut edges = family_relationships()
        .into_tuple::<Edge>()
        .stream(conn)
        .await?;
    while let Some(e) = edges.try_next().await? {
        found.link(e);
    }
    drop(edges);
    let mut rows = current_addresses()
        .into_tuple::<(Uuid, String, String, String, Option<Uuid>)>()
        .stream(conn)
        .await?;
    while let Some((person, postcode, line, organisation, source)) = rows.try_next().await? {
        if let Some(key) = household_key(&postcode, &line) {
            found.resident(person, key, organisation, source);
        }
    }
    drop(rows);
    let mut children = persons::Entity::find()
        .select_only()
        .column(persons::Column::Id)
        .column(persons::Column::IsChild)
        .into_tuple::<(Uuid, bool)>()
        .stream(conn)
        .await?;
    while let Some((person, child)) = children.try_next().await? {
        found.is_child.insert(person, child);
    }
    drop(children);
    let before: BTreeSet<Uuid> = families::Entity::find()
        .select_only()
        .column(families::Column::Id)
        .filter(families::Column::Basis.is_not_null())
        .into_tuple::<Uuid>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let (members, households) = group(found);
    replace(conn, before, &members, &households, now).await
}

/// Replaces the memberships of the groups rebuilt here (and of `before`, the groups they were
/// rebuilt from) with `members`, and drops the groups of `before` that no longer exist.
async fn replace(
    conn: &impl ConnectionTrait,
    before: BTreeSet<Uuid>,
    members: &BTreeMap<(Uuid, Uuid), Member>,
    households: &BTreeSet<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let kept: BTreeSet<Uuid> = members.values().map(|m| m.family).collect();
    let old: Vec<Uuid> = before.union(&kept).copied().collect();
    for chunk in old.chunks(2_000) {
        family_members::Entity::delete_many()
            .filter(family_members::Column::FamilyId.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
    }
    let gone: Vec<Uuid> = old.iter().filter(|f| !kept.contains(f)).copied().collect();
    for chunk in gone.chunks(2_000) {
        families::Entity::delete_many()
            .filter(families::Column::Id.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
    }
    // A group that goes on keeps its row (and the time it was first made).
    let rows: Vec<families::ActiveModel> = kept
        .iter()
        .map(|f| {
            let (kind, basis) = kind_and_basis(households.contains(f));
            families::ActiveModel {
                id: Set(*f),
                kind: Set(kind.to_owned()),
                created_at: Set(now),
                basis: Set(Some(basis.to_owned())),
            }
        })
        .collect();
    for chunk in rows.chunks(500) {
        families::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(families::Column::Id)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    for chunk in members.values().collect::<Vec<_>>().chunks(500) {
        family_members::Entity::insert_many(chunk.iter().map(|m| family_members::ActiveModel {
            id: Set(m.id()),
            family_id: Set(m.family),
            person_id: Set(m.person),
            role: Set(m.role.to_owned()),
            organisation_id: Set(m.organisation.to_string()),
            source_record_id: Set(m.source),
        }))
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// Queues persons whose groups need rebuilding.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    persons: &[PersonId],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for chunk in persons.chunks(2_000) {
        family_queue::Entity::insert_many(chunk.iter().map(|p| family_queue::ActiveModel {
            person_id: Set(p.0),
            queued_at: Set(now),
        }))
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(family_queue::Column::PersonId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// [`rebuild_everything`] on the sync engine's own connection to a SQLite file (see
/// [`super::batch`]), in the transaction open on it: the same reads, grouping and writes,
/// through prepared statements instead of the pool, which streams each row through a worker
/// thread of its own. The connection does not enforce foreign keys; the only rows referring
/// to a group are its memberships, and those of every group replaced are deleted first.
pub(super) fn rebuild_everything_on(
    c: &rusqlite::Connection,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use super::batch::{opt_uuid_col, time, uuid, uuid_col};
    let mut found = Found::default();
    let kinds = family_kinds();
    let mut s = c.prepare(
        "SELECT person_id, related_person_id, kind, organisation_id, source_record_id \
         FROM relationships WHERE kind IN (?1, ?2, ?3, ?4)",
    )?;
    let mut rows = s.query(kinds)?;
    while let Some(r) = rows.next()? {
        found.link((
            uuid_col(r, 0)?,
            uuid_col(r, 1)?,
            r.get(2)?,
            r.get(3)?,
            opt_uuid_col(r, 4)?,
        ));
    }
    drop(rows);
    let mut s = c.prepare(
        "SELECT person_id, postcode_norm, line1, organisation_id, source_record_id \
         FROM addresses WHERE valid_to IS NULL",
    )?;
    let mut rows = s.query([])?;
    while let Some(r) = rows.next()? {
        let (postcode, line): (String, String) = (r.get(1)?, r.get(2)?);
        if let Some(key) = household_key(&postcode, &line) {
            found.resident(uuid_col(r, 0)?, key, r.get(3)?, opt_uuid_col(r, 4)?);
        }
    }
    drop(rows);
    let mut s = c.prepare("SELECT id, is_child FROM persons")?;
    let mut rows = s.query([])?;
    while let Some(r) = rows.next()? {
        found.is_child.insert(uuid_col(r, 0)?, r.get(1)?);
    }
    drop(rows);
    let mut s = c.prepare("SELECT id FROM families WHERE basis IS NOT NULL")?;
    let before: BTreeSet<Uuid> = s
        .query_map([], |r| uuid_col(r, 0))?
        .collect::<Result<_, _>>()?;
    let (members, households) = group(found);

    let kept: BTreeSet<Uuid> = members.values().map(|m| m.family).collect();
    let mut s = c.prepare_cached("DELETE FROM family_members WHERE family_id = ?1")?;
    for f in before.union(&kept) {
        s.execute([uuid(f)])?;
    }
    let mut s = c.prepare_cached("DELETE FROM families WHERE id = ?1")?;
    for f in before.difference(&kept) {
        s.execute([uuid(f)])?;
    }
    // A group that goes on keeps its row (and the time it was first made).
    let mut s = c.prepare_cached(
        "INSERT INTO families (id, kind, created_at, basis) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (id) DO NOTHING",
    )?;
    let now = time(&now);
    for f in &kept {
        let (kind, basis) = kind_and_basis(households.contains(f));
        s.execute(rusqlite::params![uuid(f), kind, now, basis])?;
    }
    let mut s = c.prepare_cached(
        "INSERT INTO family_members (id, family_id, person_id, role, organisation_id, \
         source_record_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for m in members.values() {
        s.execute(rusqlite::params![
            uuid(&m.id()),
            uuid(&m.family),
            uuid(&m.person),
            m.role,
            &*m.organisation,
            m.source.as_ref().map(uuid),
        ])?;
    }
    Ok(())
}

/// The most queued persons one rebuild takes.
const DRAIN_CHUNK: u64 = 5_000;

/// When at least one person in this many is queued, the drain rebuilds every group from one
/// read of the graph ([`rebuild_everything`]) rather than walking out from each queued person.
const EVERYTHING_SHARE: u64 = 10;

/// What a drain did, and how long its two halves took.
#[derive(Clone, Copy, Debug, Default)]
pub struct Drained {
    /// Persons taken from the queue.
    pub persons: u64,
    /// Whether every group was rebuilt from one read of the graph.
    pub everything: bool,
    /// Time spent rebuilding groups (with reading and emptying the queue, and committing).
    pub rebuild: std::time::Duration,
    /// Time spent re-evaluating indicators.
    pub indicators: std::time::Duration,
}

/// Rebuilds the groups of every queued person and re-evaluates their indicators of need, a
/// chunk per transaction, and empties the queue. When much of the graph is queued (an initial
/// load), every group is rebuilt first in one transaction, and the chunks that follow only
/// re-evaluate indicators: a crash between the two leaves the queue as it was, and the next
/// drain starts again.
pub async fn drain(
    conn: &sea_orm::DatabaseConnection,
    sets: &crate::practice::indicators::IndicatorSets,
) -> Result<Drained, StoreError> {
    let started = std::time::Instant::now();
    let everything = wants_everything(conn).await?;
    if everything {
        let txn = super::begin_write(conn).await?;
        rebuild_everything(&txn, Utc::now()).await?;
        txn.commit().await?;
    }
    let rebuilt = started.elapsed();
    let mut done = drain_rebuilt(conn, sets, everything).await?;
    done.rebuild += rebuilt;
    Ok(done)
}

/// Whether so much of the graph is queued (an initial load) that every group is better
/// rebuilt from one read of the graph ([`rebuild_everything`]).
pub async fn wants_everything(conn: &sea_orm::DatabaseConnection) -> Result<bool, StoreError> {
    use sea_orm::PaginatorTrait;
    let queued = family_queue::Entity::find().count(conn).await?;
    Ok(queued > 0
        && queued.saturating_mul(EVERYTHING_SHARE) >= persons::Entity::find().count(conn).await?)
}

/// [`drain`] once every group has been rebuilt when `everything` (by the caller, in a
/// transaction of its own): the chunks only re-evaluate indicators and empty the queue.
pub async fn drain_rebuilt(
    conn: &sea_orm::DatabaseConnection,
    sets: &crate::practice::indicators::IndicatorSets,
    everything: bool,
) -> Result<Drained, StoreError> {
    let mut done = Drained {
        everything,
        ..Drained::default()
    };
    let mut lap = std::time::Instant::now();
    loop {
        let txn = super::begin_write(conn).await?;
        let ids: Vec<Uuid> = family_queue::Entity::find()
            .select_only()
            .column(family_queue::Column::PersonId)
            .limit(DRAIN_CHUNK)
            .into_tuple()
            .all(&txn)
            .await?;
        if ids.is_empty() {
            txn.commit().await?;
            done.rebuild += lap.elapsed();
            return Ok(done);
        }
        let persons: Vec<PersonId> = ids.iter().copied().map(PersonId).collect();
        let now = Utc::now();
        if !done.everything {
            rebuild(&txn, &persons, now).await?;
        }
        let refreshing = std::time::Instant::now();
        done.rebuild += refreshing - lap;
        super::indicators::refresh(&txn, sets, &persons, now).await?;
        lap = std::time::Instant::now();
        done.indicators += lap - refreshing;
        family_queue::Entity::delete_many()
            .filter(family_queue::Column::PersonId.is_in(ids.iter().copied()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        done.persons += ids.len() as u64;
    }
}
