//! Explanations of access, consent recording and protocol reloads.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::errors::{bad_input, gate_failed, parse_category, parse_id};
use super::person::{AgencyKind, gate};
use crate::gate::consent::ConsentScope;
use crate::gate::explain::{Explanation, Route};
use crate::model::{ConsentState, OrganisationId, PersonId, Purpose};

/// What you would get of a category if an organisation of one kind held it, and why.
#[derive(SimpleObject)]
pub struct AccessExplanation {
    pub holder_kind: AgencyKind,
    pub permitted: bool,
    /// The reason code (`permitted`, `consent_required`, ...).
    pub reason: String,
    pub protocol: Option<String>,
    pub protocol_version: Option<String>,
    pub clause: Option<String>,
    /// The lawful basis relied on, when permitted.
    pub basis: Option<String>,
    /// What must follow (`notify_owner`, `flag_for_board`, ...).
    pub obligations: Vec<String>,
    pub break_glass_available: bool,
    pub review_overdue: bool,
    /// All of it in a sentence.
    pub explanation: String,
}

impl From<Explanation> for AccessExplanation {
    fn from(e: Explanation) -> Self {
        let d = &e.decision;
        Self {
            holder_kind: e.holder.into(),
            permitted: d.permits(),
            reason: d.reason.as_str().to_owned(),
            protocol: d.by.as_ref().map(|b| b.protocol.to_string()),
            protocol_version: d.by.as_ref().map(|b| b.version.to_string()),
            clause: d
                .by
                .as_ref()
                .and_then(|b| b.clause.as_ref().map(|c| c.to_string())),
            basis: d
                .basis
                .as_ref()
                .filter(|_| d.permits())
                .map(|b| b.to_string()),
            obligations: d.obligations().into_iter().map(str::to_owned).collect(),
            break_glass_available: d.break_glass_available,
            review_overdue: d.review_overdue,
            explanation: e.text,
        }
    }
}

/// A clause through which some agency's staff could see the data.
#[derive(SimpleObject)]
pub struct AccessRoute {
    pub protocol: String,
    pub protocol_version: String,
    pub clause: String,
    pub summary: String,
    pub in_force: bool,
    pub review_overdue: bool,
    /// Whose data flows.
    pub from_kinds: Vec<AgencyKind>,
    /// Whose staff receive it.
    pub to_kinds: Vec<AgencyKind>,
    pub roles: Vec<String>,
    /// The involvement kinds that give need-to-know; null for an area-wide remit.
    pub involvements: Option<Vec<String>>,
    /// What consent the clause needs.
    pub consent: String,
    /// Whether this person's consent records meet it now; null when none is needed.
    pub consent_met: Option<bool>,
    /// A shield withholds this category of this person from everyone.
    pub shielded: bool,
    pub break_glass: bool,
    pub basis: String,
}

impl From<Route> for AccessRoute {
    fn from(r: Route) -> Self {
        Self {
            protocol: r.protocol,
            protocol_version: r.version,
            clause: r.clause,
            summary: r.summary,
            in_force: r.in_force,
            review_overdue: r.review_overdue,
            from_kinds: r.from.into_iter().map(Into::into).collect(),
            to_kinds: r.to.into_iter().map(Into::into).collect(),
            roles: r.roles.iter().map(|x| x.to_string()).collect(),
            involvements: r.involvements,
            consent: r.consent,
            consent_met: r.consent_met,
            shielded: r.shielded,
            break_glass: r.break_glass,
            basis: r.basis,
        }
    }
}

/// Explanations, merged into the query root.
#[derive(Default)]
pub struct ExplainQuery;

#[Object]
impl ExplainQuery {
    /// What you would get of `category` about a person for your declared purpose, for each
    /// kind of organisation that could hold it, and why. Null when no person has the id.
    async fn explain_access(
        &self,
        ctx: &Context<'_>,
        person_id: ID,
        category: String,
    ) -> Result<Option<Vec<AccessExplanation>>> {
        let (p, c) = (
            parse_id::<PersonId>(&person_id, "person")?,
            parse_category(&category)?,
        );
        let out = gate(ctx)?
            .explain_access(p, c)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(out.map(|v| v.into_iter().map(Into::into).collect()))
    }

    /// For the board (board_member, dpo): every protocol clause that shares `category` for
    /// `purpose`, with the agencies and roles it reaches and whether this person's consents
    /// and shield let it apply now.
    async fn who_can_see(
        &self,
        ctx: &Context<'_>,
        person_id: ID,
        category: String,
        purpose: String,
    ) -> Result<Option<Vec<AccessRoute>>> {
        let (p, c) = (
            parse_id::<PersonId>(&person_id, "person")?,
            parse_category(&category)?,
        );
        let purpose: Purpose = purpose
            .parse()
            .map_err(|_| bad_input(format!("unknown purpose `{purpose}`")))?;
        let out = gate(ctx)?
            .who_can_see(p, c, purpose)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(out.map(|v| v.into_iter().map(Into::into).collect()))
    }
}

/// Who gave (or refused, or withdrew) consent.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ConsentGiver {
    /// The child or young person (a competent child decides for their own health data).
    Child,
    /// A parent with parental responsibility.
    Parent,
    /// Another carer with parental responsibility.
    Carer,
}

/// What a consent record covers.
#[derive(InputObject)]
pub struct ConsentInput {
    pub person_id: ID,
    pub given_by: ConsentGiver,
    /// Purposes, e.g. `early_help`.
    pub purposes: Vec<String>,
    /// Categories; empty means every category (not explicit consent to heightened ones).
    #[graphql(default)]
    pub categories: Vec<String>,
    /// Organisations (`<kind>:<code>`) whose data it covers; empty means all.
    #[graphql(default)]
    pub organisations: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A consent record as stored.
#[derive(SimpleObject)]
pub struct ConsentRecord {
    pub id: ID,
    /// `given`, `refused` or `withdrawn`.
    pub state: String,
    pub given_by: String,
    pub purposes: Vec<String>,
    pub categories: Vec<String>,
    pub organisations: Vec<String>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The result of a protocol reload.
#[derive(SimpleObject)]
pub struct ReloadResult {
    pub ok: bool,
    /// The protocol versions now in force.
    pub protocols: Option<String>,
    /// Why the reload was refused (the old protocols stay in force).
    pub error: Option<String>,
}

fn scope(input: &ConsentInput) -> Result<ConsentScope> {
    Ok(ConsentScope {
        purposes: input
            .purposes
            .iter()
            .map(|p| {
                p.parse()
                    .map_err(|_| bad_input(format!("unknown purpose `{p}`")))
            })
            .collect::<Result<_>>()?,
        categories: input
            .categories
            .iter()
            .map(|c| parse_category(c))
            .collect::<Result<_>>()?,
        organisations: input
            .organisations
            .iter()
            .map(|o| {
                o.parse::<OrganisationId>()
                    .map_err(|_| bad_input(format!("`{o}` is not an organisation id")))
            })
            .collect::<Result<_>>()?,
        expires_at: input.expires_at,
    })
}

/// Writes: consent, and protocol reloads.
#[derive(Default)]
pub struct ProtocolMutation;

impl ProtocolMutation {
    async fn record(
        ctx: &Context<'_>,
        input: ConsentInput,
        state: ConsentState,
    ) -> Result<Option<ConsentRecord>> {
        let giver = match input.given_by {
            ConsentGiver::Child => "child",
            ConsentGiver::Parent => "parent",
            ConsentGiver::Carer => "carer",
        };
        let recorded = gate(ctx)?
            .record_consent(
                parse_id::<PersonId>(&input.person_id, "person")?,
                state,
                giver,
                scope(&input)?,
            )
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(recorded.map(|c| ConsentRecord {
            id: ID(c.id.to_string()),
            state: c.state.as_str().to_owned(),
            given_by: c.given_by,
            purposes: c.purposes.iter().map(|p| p.to_string()).collect(),
            categories: c.categories.iter().map(|x| x.to_string()).collect(),
            organisations: c.organisations.iter().map(|x| x.to_string()).collect(),
            recorded_by: c.recorded_by,
            recorded_at: c.recorded_at,
            expires_at: c.expires_at,
        }))
    }
}

#[Object]
impl ProtocolMutation {
    /// Records consent given (or, with `refused: true`, refused) by a child or parent. You must
    /// be involved with the child or their family. Null when no person has the id.
    async fn record_consent(
        &self,
        ctx: &Context<'_>,
        input: ConsentInput,
        #[graphql(default = false)] refused: bool,
    ) -> Result<Option<ConsentRecord>> {
        let state = if refused {
            ConsentState::Refused
        } else {
            ConsentState::Given
        };
        Self::record(ctx, input, state).await
    }

    /// Records that consent was withdrawn, for the purposes, categories and organisations
    /// given. It takes effect from the next request.
    async fn withdraw_consent(
        &self,
        ctx: &Context<'_>,
        input: ConsentInput,
    ) -> Result<Option<ConsentRecord>> {
        Self::record(ctx, input, ConsentState::Withdrawn).await
    }

    /// Reads the protocol folder again and puts it in force (system_admin). A folder with a
    /// bad file changes nothing.
    async fn reload_protocols(&self, ctx: &Context<'_>) -> Result<ReloadResult> {
        let result = gate(ctx)?
            .reload_protocols()
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(match result {
            Ok(p) => ReloadResult {
                ok: true,
                protocols: Some(p),
                error: None,
            },
            Err(e) => ReloadResult {
                ok: false,
                protocols: None,
                error: Some(e),
            },
        })
    }
}
