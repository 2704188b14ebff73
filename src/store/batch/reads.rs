//! The reads linkage makes while a batch's transaction is open, through that transaction.
//!
//! On a SQLite file they run on the engine's own connection, one cached prepared statement
//! probed once per key. Its page cache stays warm from batch to batch (it is the connection
//! that wrote the pages), where a pool connection must drop its cache each time another
//! connection commits, and read every page again through a system call. Each probe is an
//! index lookup, so a batch's reads cost what its keys ask for, not what the graph holds.
//! Through sea-orm (PostgreSQL, in-memory SQLite) they are the batched `IN (...)` statements
//! of [`rows`].

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use rusqlite::Connection;

use super::{BatchTxn, uuid, uuid_col};
use crate::model::{IdentifierSystem, Person, PersonId, Sex};
use crate::store::StoreError;
use crate::store::sync::{self as rows, Holding};

/// The strong identifier systems linkage compares.
const STRONG: [IdentifierSystem; 3] = [
    IdentifierSystem::NhsNumber,
    IdentifierSystem::Upn,
    IdentifierSystem::LaPersonId,
];

fn date_col(row: &rusqlite::Row<'_>, i: usize) -> Result<Option<NaiveDate>, rusqlite::Error> {
    let text: Option<String> = row.get(i)?;
    Ok(text.and_then(|t| t.get(..10).and_then(|d| d.parse().ok())))
}

/// Runs `each` once for every row `sql` returns for each key, in one prepared statement.
fn probe<K, T>(
    c: &Connection,
    sql: &str,
    keys: &[K],
    bind: impl Fn(&K) -> Vec<rusqlite::types::Value>,
    mut each: impl FnMut(&K, &rusqlite::Row<'_>) -> Result<Option<T>, rusqlite::Error>,
) -> Result<Vec<T>, StoreError> {
    let mut s = c.prepare_cached(sql)?;
    let mut out = Vec::new();
    for k in keys {
        let mut q = s.query(rusqlite::params_from_iter(bind(k)))?;
        while let Some(row) = q.next()? {
            if let Some(t) = each(k, row)? {
                out.push(t);
            }
        }
    }
    Ok(out)
}

fn text(s: &str) -> rusqlite::types::Value {
    rusqlite::types::Value::Text(s.to_owned())
}

fn blob(p: &PersonId) -> rusqlite::types::Value {
    rusqlite::types::Value::Blob(uuid(&p.0).to_vec())
}

fn strong_of(
    c: &Connection,
    persons: &[PersonId],
) -> Result<Vec<(PersonId, IdentifierSystem, String)>, StoreError> {
    probe(
        c,
        "SELECT system, value FROM person_identifiers WHERE person_id = ?1",
        persons,
        |p| vec![blob(p)],
        |p, row| {
            let system: String = row.get(0)?;
            let Some(system) = system
                .parse::<IdentifierSystem>()
                .ok()
                .filter(|s| STRONG.contains(s))
            else {
                return Ok(None);
            };
            Ok(Some((*p, system, row.get::<_, String>(1)?)))
        },
    )
}

impl BatchTxn {
    /// Persons holding any of these identifier values (see [`rows::persons_by_identifiers`]).
    pub async fn persons_by_identifiers(
        &mut self,
        values: Vec<(IdentifierSystem, String)>,
    ) -> Result<Vec<(IdentifierSystem, String, PersonId)>, StoreError> {
        match self {
            Self::Orm(t) => rows::persons_by_identifiers(t, &values).await,
            Self::Sqlite(t) => {
                t.run(move |c| {
                    probe(
                        c,
                        "SELECT person_id FROM person_identifiers WHERE system = ?1 AND value = ?2",
                        &values,
                        |(s, v)| vec![text(s.as_str()), text(v)],
                        |(s, v), row| Ok(Some((*s, v.clone(), PersonId(uuid_col(row, 0)?)))),
                    )
                })
                .await
            }
        }
    }

    /// Persons with names that agree with these normalised (family, given, date of birth)
    /// keys (see [`rows::persons_by_names`]).
    pub async fn persons_by_names(
        &mut self,
        keys: Vec<(String, String, NaiveDate)>,
    ) -> Result<Vec<(String, String, NaiveDate, PersonId)>, StoreError> {
        match self {
            Self::Orm(t) => rows::persons_by_names(t, &keys).await,
            Self::Sqlite(t) => {
                t.run(move |c| {
                    let found = probe(
                        c,
                        "SELECT person_id FROM person_names \
                         WHERE family_norm = ?1 AND given_norm = ?2 AND date_of_birth = ?3",
                        &keys,
                        |(f, g, d)| vec![text(f), text(g), text(&d.to_string())],
                        |(f, g, d), row| {
                            Ok(Some((
                                f.clone(),
                                g.clone(),
                                *d,
                                PersonId(uuid_col(row, 0)?),
                            )))
                        },
                    )?;
                    // A person with the same name twice (two sources) is one answer.
                    Ok(found
                        .into_iter()
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect())
                })
                .await
            }
        }
    }

    /// Which of these persons hold a name.
    pub async fn persons_named(
        &mut self,
        persons: Vec<PersonId>,
    ) -> Result<BTreeSet<PersonId>, StoreError> {
        match self {
            Self::Orm(t) => rows::persons_named(t, &persons).await,
            Self::Sqlite(t) => {
                t.run(move |c| {
                    probe(
                        c,
                        "SELECT 1 FROM person_names WHERE person_id = ?1 LIMIT 1",
                        &persons,
                        |p| vec![blob(p)],
                        |p, _| Ok(Some(*p)),
                    )
                    .map(|v| v.into_iter().collect())
                })
                .await
            }
        }
    }

    /// The strong identifiers (NHS number, UPN, LA id) these persons hold.
    pub async fn strong_identifiers_of(
        &mut self,
        persons: Vec<PersonId>,
    ) -> Result<Vec<(PersonId, IdentifierSystem, String)>, StoreError> {
        match self {
            Self::Orm(t) => rows::strong_identifiers_of(t, &persons).await,
            Self::Sqlite(t) => t.run(move |c| strong_of(c, &persons)).await,
        }
    }

    /// Name rows probabilistic blocking puts beside records, as (person, family, given,
    /// date of birth). `dated` holds each record's (date of birth, family, given) keys: the
    /// rows with that date whose family name is either name, or whose given name is the given
    /// name. `names` holds (family, given) pairs matched whatever the date.
    ///
    /// On a SQLite file and on PostgreSQL only the rows a key matches are read; on an
    /// in-memory database every row with one of the dates is (see [`rows::names_for_blocking`]).
    pub async fn names_for_blocking(
        &mut self,
        dated: Vec<(NaiveDate, String, String)>,
        names: Vec<(String, String)>,
    ) -> Result<Vec<(PersonId, String, String, Option<NaiveDate>)>, StoreError> {
        match self {
            Self::Orm(t) => rows::names_for_blocking(t, &dated, &names).await,
            Self::Sqlite(t) => {
                t.run(move |c| {
                    let row_of = |row: &rusqlite::Row<'_>| {
                        Ok(Some((
                            PersonId(uuid_col(row, 0)?),
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            date_col(row, 3)?,
                        )))
                    };
                    let mut found = probe(
                        c,
                        "SELECT person_id, family_norm, given_norm, date_of_birth \
                         FROM person_names INDEXED BY ix_person_names_dob_names \
                         WHERE date_of_birth = ?1 \
                         AND (family_norm = ?2 OR family_norm = ?3 OR given_norm = ?3)",
                        &dated,
                        |(d, f, g)| vec![text(&d.to_string()), text(f), text(g)],
                        |_, row| row_of(row),
                    )?;
                    found.extend(probe(
                        c,
                        "SELECT person_id, family_norm, given_norm, date_of_birth \
                         FROM person_names WHERE family_norm = ?1 AND given_norm = ?2",
                        &names,
                        |(f, g)| vec![text(f), text(g)],
                        |_, row| row_of(row),
                    )?);
                    Ok(found)
                })
                .await
            }
        }
    }

    /// What probabilistic linkage compares of each of these persons (see [`rows::holdings`]).
    pub async fn holdings(
        &mut self,
        persons: Vec<PersonId>,
    ) -> Result<Vec<(Person, Holding)>, StoreError> {
        match self {
            Self::Orm(t) => rows::holdings(t, &persons).await,
            Self::Sqlite(t) => t.run(move |c| holdings(c, &persons)).await,
        }
    }

    /// Persons related to these persons (either way round), with their normalised names, as
    /// (anchor, relative, family, given) (see [`rows::relatives_with_names`]).
    pub async fn relatives_with_names(
        &mut self,
        anchors: Vec<PersonId>,
    ) -> Result<Vec<(PersonId, PersonId, String, String)>, StoreError> {
        match self {
            Self::Orm(t) => rows::relatives_with_names(t, &anchors).await,
            Self::Sqlite(t) => {
                t.run(move |c| {
                    let mut links = probe(
                        c,
                        "SELECT related_person_id FROM relationships WHERE person_id = ?1",
                        &anchors,
                        |a| vec![blob(a)],
                        |a, row| Ok(Some((*a, PersonId(uuid_col(row, 0)?)))),
                    )?;
                    links.extend(probe(
                        c,
                        "SELECT person_id FROM relationships WHERE related_person_id = ?1",
                        &anchors,
                        |a| vec![blob(a)],
                        |a, row| Ok(Some((*a, PersonId(uuid_col(row, 0)?)))),
                    )?);
                    let relatives: Vec<PersonId> = links
                        .iter()
                        .map(|(_, r)| *r)
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    let mut names: HashMap<PersonId, Vec<(String, String)>> = HashMap::new();
                    for (p, f, g) in probe(
                        c,
                        "SELECT family_norm, given_norm FROM person_names WHERE person_id = ?1",
                        &relatives,
                        |p| vec![blob(p)],
                        |p, row| Ok(Some((*p, row.get(0)?, row.get(1)?))),
                    )? {
                        names.entry(p).or_default().push((f, g));
                    }
                    Ok(rows::relatives_named(links, &names))
                })
                .await
            }
        }
    }
}

/// The holdings of these persons, read on the engine's connection.
fn holdings(c: &Connection, persons: &[PersonId]) -> Result<Vec<(Person, Holding)>, StoreError> {
    let mut held: HashMap<PersonId, Holding> = HashMap::new();
    for (p, given, family) in probe(
        c,
        "SELECT given, family FROM person_names WHERE person_id = ?1",
        persons,
        |p| vec![blob(p)],
        |p, row| Ok(Some((*p, row.get(0)?, row.get(1)?))),
    )? {
        held.entry(p).or_default().names.push((given, family));
    }
    for (p, line, town, postcode) in probe(
        c,
        "SELECT line1, town, postcode FROM addresses WHERE person_id = ?1 AND valid_to IS NULL",
        persons,
        |p| vec![blob(p)],
        |p, row| Ok(Some((*p, row.get(0)?, row.get(1)?, row.get(2)?))),
    )? {
        held.entry(p)
            .or_default()
            .addresses
            .push((line, town, postcode));
    }
    for (p, system, value) in strong_of(c, persons)? {
        held.entry(p).or_default().ids.push((system, value));
    }
    probe(
        c,
        "SELECT date_of_birth, sex, is_child, shielded FROM persons WHERE id = ?1",
        persons,
        |p| vec![blob(p)],
        |p, row| {
            let person = Person {
                id: *p,
                date_of_birth: date_col(row, 0)?,
                sex: Sex::parse(&row.get::<_, String>(1)?),
                is_child: row.get(2)?,
                shielded: row.get(3)?,
            };
            let mut h = held.remove(p).unwrap_or_default();
            h.settle();
            Ok(Some((person, h)))
        },
    )
}
