//! The query root.

use async_graphql::connection::{Connection, Edge, EmptyFields, query};
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::NaiveDate;

use super::errors::{bad_input, gate_failed, parse_id};
use super::family::Family;
use super::person::{IdentifierSystem, Person, gate, loaders};
use crate::model::{FamilyId, PersonId};
use crate::store::graph::{SearchCriteria, normalise_name};

/// The most results one search page returns.
const MAX_PAGE: usize = 100;

/// An identifier to search by.
#[derive(InputObject)]
pub struct IdentifierInput {
    pub system: IdentifierSystem,
    /// The value as written; spaces and hyphens in NHS numbers are fine.
    pub value: String,
}

/// The caller as the hub sees them. Holds no personal data about anyone else.
#[derive(SimpleObject)]
pub struct Me {
    /// The token subject.
    pub subject: String,
    /// The organisation, `<kind>:<code>`.
    pub organisation: String,
    pub roles: Vec<String>,
    /// The purpose declared in `Kinship-Purpose`, if any.
    pub purpose: Option<String>,
}

/// The root of every read.
#[derive(Default)]
pub struct GraphQuery;

#[Object]
impl GraphQuery {
    /// Who the hub thinks you are.
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        let gate = gate(ctx)?;
        let p = gate.principal();
        Ok(Me {
            subject: p.subject.clone(),
            organisation: p.organisation.to_string(),
            roles: p.roles.iter().map(|r| r.to_string()).collect(),
            purpose: gate.purpose().map(|p| p.to_string()),
        })
    }

    /// A person by id; null when no person has it. Every field of the person is gated.
    async fn person(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Person>> {
        let id: PersonId = parse_id(&id, "person")?;
        let found = loaders(ctx)?
            .person
            .load_one(id)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(found.map(|()| Person(id)))
    }

    /// Persons by id, in the order given; null where no person has the id. At most 100 ids:
    /// for a caseload or a list the application already holds.
    #[graphql(complexity = "ids.len().saturating_mul(child_complexity)")]
    async fn people(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Person>>> {
        if ids.len() > MAX_PAGE {
            return Err(bad_input(format!("at most {MAX_PAGE} ids at once")));
        }
        let ids = ids
            .iter()
            .map(|id| parse_id::<PersonId>(id, "person"))
            .collect::<Result<Vec<_>>>()?;
        let found = loaders(ctx)?
            .person
            .load_many(ids.iter().copied())
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(ids
            .into_iter()
            .map(|id| found.contains_key(&id).then_some(Person(id)))
            .collect())
    }

    /// A family or household by id.
    async fn family(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Family>> {
        let id: FamilyId = parse_id(&id, "family")?;
        let found = loaders(ctx)?
            .family
            .load_one(id)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(found.map(|f| Family(f.id)))
    }

    /// Persons matching every criterion given, whose identity you may see. Give an
    /// identifier, a family name or a postcode; a date of birth and a given-name prefix narrow
    /// the search. Persons you may not see are left out (and recorded for the board), so the
    /// results never disclose who else is known to services.
    #[graphql(
        complexity = "(first.unwrap_or(20).max(0) as usize).saturating_mul(child_complexity)"
    )]
    #[allow(
        clippy::too_many_arguments,
        reason = "each argument is one search criterion of the GraphQL field"
    )]
    async fn search_people(
        &self,
        ctx: &Context<'_>,
        family_name: Option<String>,
        #[graphql(desc = "A prefix of a given name.")] given_name: Option<String>,
        date_of_birth: Option<NaiveDate>,
        postcode: Option<String>,
        identifier: Option<IdentifierInput>,
        after: Option<String>,
        #[graphql(desc = "At most 100.")] first: Option<i32>,
    ) -> Result<Connection<String, Person, EmptyFields, EmptyFields>> {
        let identifier = identifier
            .map(|i| {
                let system: crate::model::IdentifierSystem = i.system.into();
                system
                    .normalise(&i.value)
                    .map(|v| (system, v))
                    .map_err(|e| bad_input(format!("`{system}`: {e}")))
            })
            .transpose()?;
        let family_name = family_name.filter(|f| !normalise_name(f).is_empty());
        if family_name
            .as_ref()
            .is_some_and(|f| normalise_name(f).chars().count() < 2)
        {
            return Err(bad_input("`familyName` needs at least two letters"));
        }
        let postcode = postcode.filter(|p| !p.trim().is_empty());
        if identifier.is_none() && family_name.is_none() && postcode.is_none() {
            return Err(bad_input(
                "give an `identifier`, a `familyName` or a `postcode`",
            ));
        }
        let criteria = SearchCriteria {
            family_name,
            given_name: given_name.filter(|g| !normalise_name(g).is_empty()),
            date_of_birth,
            postcode,
            identifier,
        };
        let gate = gate(ctx)?;
        query(
            after,
            None,
            first.or(Some(20)),
            None,
            |after: Option<String>, _before: Option<String>, first, _last| async move {
                let first = first.unwrap_or(20).min(MAX_PAGE);
                let after = after
                    .map(|a| a.parse::<PersonId>())
                    .transpose()
                    .map_err(|_| bad_input("`after` is not a cursor from this search"))?;
                let page = gate
                    .search(&criteria, after, first)
                    .await
                    .map_err(|e| gate_failed(ctx, &e))?;
                let mut connection = Connection::new(after.is_some(), page.has_next);
                connection.edges.extend(
                    page.persons
                        .into_iter()
                        .map(|id| Edge::new(id.to_string(), Person(id))),
                );
                Ok::<_, async_graphql::Error>(connection)
            },
        )
        .await
    }
}
