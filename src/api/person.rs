//! A person and what hangs off them. Each personal-data field is one gate read through a
//! loader; a refusal becomes null plus an `ISP_DENIED` error.

use async_graphql::{ComplexObject, Context, Enum, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};

use super::errors::{bad_input, denied, gate_failed};
use super::family::Family;
use super::loaders::{LoadError, Loaders};
use crate::gate::{FactQuery, FactsRead, Gated, RequestGate};
use crate::model;
use crate::model::{OrganisationId, PersonId};
use crate::store::graph::FactFilter;

/// The most facts one list returns.
pub const MAX_FACTS: i32 = 500;

pub(super) fn loaders<'a>(ctx: &Context<'a>) -> Result<&'a Loaders> {
    ctx.data::<Loaders>()
}

/// Turns a loader answer into a field value: gate failure → request-level error, refusal →
/// `ISP_DENIED`, unknown key → null.
pub(super) fn released<T>(
    ctx: &Context<'_>,
    answer: std::result::Result<Option<Gated<T>>, LoadError>,
) -> Result<Option<T>> {
    match answer {
        Err(e) => Err(gate_failed(ctx, &e)),
        Ok(None) => Ok(None),
        Ok(Some(Err(d))) => Err(denied(&d)),
        Ok(Some(Ok(v))) => Ok(Some(v)),
    }
}

/// The sector a fact came from.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::model::Agency")]
pub enum Agency {
    Health,
    Education,
    Police,
    SocialCare,
    EarlyHelp,
}

/// The kind of an organisation.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::model::AgencyKind")]
pub enum AgencyKind {
    LocalAuthority,
    Police,
    AcuteTrust,
    CommunityTrust,
    MentalHealthTrust,
    GpPractice,
    School,
}

/// Administrative sex or gender as recorded.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::model::Sex")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

/// An identifier system.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::model::IdentifierSystem")]
pub enum IdentifierSystem {
    /// NHS number (Modulus 11 checked).
    NhsNumber,
    /// Unique Pupil Number (check letter checked).
    Upn,
    /// A UPN the pupil held before.
    FormerUpn,
    /// Police National Computer id; released only as `police.youth_justice`.
    PncId,
    /// A local authority's child id.
    LaPersonId,
}

/// How a related person stands to this one.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::model::RelationshipKind")]
pub enum RelationshipKind {
    Parent,
    Carer,
    Child,
    Sibling,
    HouseholdMember,
}

/// The kind of a professional's involvement.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::model::InvolvementKind")]
pub enum InvolvementKind {
    AllocatedSocialWorker,
    MashEnquiry,
    LeadProfessional,
    TafMember,
    HealthVisitorCaseload,
    InvestigatingOfficer,
    DslCurrentSchool,
    RegisteredGp,
    TreatingClinician,
}

/// An organisation that holds records or employs practitioners.
pub struct Organisation(pub OrganisationId);

#[Object]
impl Organisation {
    /// `<kind>:<code>`, e.g. `school:9992001`.
    async fn id(&self) -> &str {
        self.0.as_str()
    }

    async fn kind(&self) -> AgencyKind {
        self.0.kind().into()
    }

    /// Its name, when the hub knows it.
    async fn name(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let org = loaders(ctx)?
            .organisations
            .load_one(self.0.clone())
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(org.map(|o| o.name))
    }
}

/// A name as one source records it.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct PersonName {
    pub given: String,
    pub family: String,
    /// `official`, `usual`, `nickname`, `maiden`, `old`.
    pub usage: String,
    #[graphql(skip)]
    pub organisation: OrganisationId,
}

#[ComplexObject]
impl PersonName {
    /// The organisation whose record holds it.
    async fn source(&self) -> Organisation {
        Organisation(self.organisation.clone())
    }
}

/// An identifier, normalised and checked.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Identifier {
    pub system: IdentifierSystem,
    pub value: String,
    /// For NHS numbers: traced and verified.
    pub verified: bool,
    #[graphql(skip)]
    pub organisation: OrganisationId,
}

#[ComplexObject]
impl Identifier {
    /// The organisation whose record holds it.
    async fn source(&self) -> Organisation {
        Organisation(self.organisation.clone())
    }
}

/// An address a source holds.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub town: String,
    pub postcode: String,
    /// The Unique Property Reference Number.
    pub uprn: Option<String>,
    /// `home`, `placement`, `temp`, `old`.
    pub usage: String,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    #[graphql(skip)]
    pub organisation: OrganisationId,
}

#[ComplexObject]
impl Address {
    /// The organisation whose record holds it.
    async fn source(&self) -> Organisation {
        Organisation(self.organisation.clone())
    }
}

/// A relationship a source declares.
pub struct Relationship(model::Relationship);

#[Object]
impl Relationship {
    /// How `related` stands to the person: `PARENT` means `related` is their parent.
    async fn kind(&self) -> RelationshipKind {
        self.0.kind.into()
    }

    async fn parental_responsibility(&self) -> Option<bool> {
        self.0.parental_responsibility
    }

    /// The related person; their own data is gated when read.
    async fn related(&self) -> Person {
        Person(self.0.related_person)
    }

    /// The organisation that declared it.
    async fn source(&self) -> Organisation {
        Organisation(self.0.organisation.clone())
    }
}

/// Involvements the caller may not see, counted.
#[derive(SimpleObject)]
pub struct FurtherInvolvements {
    pub count: u64,
    /// Whom to ask about them.
    pub ask: String,
}

/// A professional's involvement with the person or their family.
pub struct Involvement(pub(super) model::Involvement);

#[Object]
impl Involvement {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn kind(&self) -> InvolvementKind {
        self.0.kind.into()
    }

    /// The practitioner's staff id, or null when their whole organisation holds it.
    async fn held_by(&self) -> Option<&str> {
        self.0.principal.as_deref()
    }

    async fn organisation(&self) -> Organisation {
        Organisation(self.0.organisation.clone())
    }

    /// The service, e.g. `children's social care`.
    async fn service(&self) -> Option<&str> {
        self.0.service.as_deref()
    }

    /// How to reach the practitioner or team.
    async fn contact(&self) -> Option<&str> {
        self.0.contact.as_deref()
    }

    /// For a sensitive service, the category it is governed as.
    async fn category(&self) -> Option<&str> {
        self.0.category.map(|c| c.as_str())
    }

    /// Set when the involvement is with the person's family rather than the person.
    async fn family_id(&self) -> Option<ID> {
        self.0.family_id.map(|f| ID(f.to_string()))
    }

    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }

    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.0.ended_at
    }

    /// In force now.
    async fn active(&self) -> bool {
        self.0.is_active(Utc::now())
    }
}

/// One thing an agency knows about a person at a time.
pub struct Fact(pub(super) model::Fact);

#[Object]
impl Fact {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The sector that sent it.
    async fn agency(&self) -> Agency {
        self.0.agency.into()
    }

    /// The organisation that holds it.
    async fn organisation(&self) -> Organisation {
        Organisation(self.0.organisation.clone())
    }

    /// Its data category, e.g. `health.unscheduled_care`.
    async fn category(&self) -> &str {
        self.0.category.as_str()
    }

    /// What happened, e.g. `ed_attendance`.
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }

    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }

    /// One line a practitioner reads.
    async fn summary(&self) -> &str {
        &self.0.summary
    }

    /// The structured content, limited to the fields the protocol releases.
    async fn payload(&self) -> Json<serde_json::Value> {
        Json(self.0.payload.clone())
    }

    /// The source record it came from.
    async fn source_record_id(&self) -> Option<ID> {
        self.0.source_record.map(|s| ID(s.to_string()))
    }
}

/// Facts as released. Facts the caller may not see are left out and counted; which
/// categories they were is not said, because that alone can disclose (a sexual health
/// contact, say). The access log records each one for the board.
pub struct FactList(FactsRead);

#[Object]
impl FactList {
    /// Newest first.
    async fn items(&self) -> Vec<Fact> {
        self.0.facts.iter().cloned().map(Fact).collect()
    }

    /// How many matching facts were withheld.
    async fn withheld(&self) -> u64 {
        self.0.withheld
    }
}

/// One line of a chronology.
pub struct TimelineEntry(model::Fact);

#[Object]
impl TimelineEntry {
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }

    async fn agency(&self) -> Agency {
        self.0.agency.into()
    }

    async fn organisation(&self) -> Organisation {
        Organisation(self.0.organisation.clone())
    }

    async fn category(&self) -> &str {
        self.0.category.as_str()
    }

    async fn kind(&self) -> &str {
        &self.0.kind
    }

    async fn summary(&self) -> &str {
        &self.0.summary
    }

    /// The full fact.
    async fn fact_id(&self) -> ID {
        ID(self.0.id.to_string())
    }
}

/// A chronology across agencies, newest first.
pub struct Timeline(FactsRead);

#[Object]
impl Timeline {
    async fn entries(&self) -> Vec<TimelineEntry> {
        self.0.facts.iter().cloned().map(TimelineEntry).collect()
    }

    /// How many entries were withheld.
    async fn withheld(&self) -> u64 {
        self.0.withheld
    }
}

/// A child or adult in the graph.
pub struct Person(pub PersonId);

impl Person {
    async fn facts_read(
        &self,
        ctx: &Context<'_>,
        filter: FactFilter,
        first: i32,
    ) -> Result<FactsRead> {
        if !(0..=MAX_FACTS).contains(&first) {
            return Err(bad_input(format!(
                "`first` must be between 0 and {MAX_FACTS}"
            )));
        }
        let query = FactQuery {
            filter,
            limit: u64::try_from(first).unwrap_or(0),
        };
        let read = loaders(ctx)?
            .facts
            .load_one((self.0, query))
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(read.unwrap_or_default())
    }
}

#[Object]
impl Person {
    /// A stable random id; carries no personal data.
    async fn id(&self) -> ID {
        ID(self.0.to_string())
    }

    /// Names from each source the caller may see (`person.identity`).
    async fn names(&self, ctx: &Context<'_>) -> Result<Option<Vec<PersonName>>> {
        let identity = released(ctx, loaders(ctx)?.identity.load_one(self.0).await)?;
        Ok(identity.map(|i| {
            i.names
                .into_iter()
                .map(|n| PersonName {
                    given: n.given,
                    family: n.family,
                    usage: n.usage,
                    organisation: n.organisation,
                })
                .collect()
        }))
    }

    /// `person.identity`.
    async fn date_of_birth(&self, ctx: &Context<'_>) -> Result<Option<NaiveDate>> {
        let identity = released(ctx, loaders(ctx)?.identity.load_one(self.0).await)?;
        Ok(identity.and_then(|i| i.date_of_birth))
    }

    /// `person.identity`.
    async fn sex(&self, ctx: &Context<'_>) -> Result<Option<Sex>> {
        let identity = released(ctx, loaders(ctx)?.identity.load_one(self.0).await)?;
        Ok(identity.map(|i| i.sex.into()))
    }

    /// NHS number, UPN, LA ids (`person.identity`) and PNC ID (`police.youth_justice`).
    async fn identifiers(&self, ctx: &Context<'_>) -> Result<Option<Vec<Identifier>>> {
        let identity = released(ctx, loaders(ctx)?.identity.load_one(self.0).await)?;
        Ok(identity.map(|i| {
            i.identifiers
                .into_iter()
                .map(|x| Identifier {
                    system: x.system.into(),
                    value: x.value,
                    verified: x.verified,
                    organisation: x.organisation,
                })
                .collect()
        }))
    }

    /// `person.contact`; withheld for shielded persons.
    async fn addresses(&self, ctx: &Context<'_>) -> Result<Option<Vec<Address>>> {
        let rows = released(ctx, loaders(ctx)?.addresses.load_one(self.0).await)?;
        Ok(rows.map(|rows| {
            rows.into_iter()
                .map(|a| Address {
                    line1: a.line1,
                    line2: a.line2,
                    town: a.town,
                    postcode: a.postcode,
                    uprn: a.uprn,
                    usage: a.usage,
                    valid_from: a.valid_from,
                    valid_to: a.valid_to,
                    organisation: a.organisation,
                })
                .collect()
        }))
    }

    /// Declared relationships (`person.relationships`).
    async fn relationships(&self, ctx: &Context<'_>) -> Result<Option<Vec<Relationship>>> {
        let rows = released(ctx, loaders(ctx)?.relationships.load_one(self.0).await)?;
        Ok(rows.map(|rows| rows.into_iter().map(Relationship).collect()))
    }

    /// Families and households the person belongs to (`person.relationships`).
    async fn families(&self, ctx: &Context<'_>) -> Result<Option<Vec<Family>>> {
        let rows = released(ctx, loaders(ctx)?.memberships.load_one(self.0).await)?;
        Ok(rows.map(|rows| {
            let mut ids: Vec<_> = rows.into_iter().map(|m| m.family_id).collect();
            ids.sort();
            ids.dedup();
            ids.into_iter().map(Family).collect()
        }))
    }

    /// The source records behind the person and why each was linked, in words and numbers
    /// (each released as its holder's `person.identity`; records the caller may not see are
    /// left out).
    async fn provenance(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<Vec<super::matches::LinkedRecord>>> {
        let answer = gate(ctx)?
            .provenance(&[self.0])
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        let rows = match answer.into_iter().next() {
            None => return Ok(None),
            Some((_, Err(d))) => return Err(super::errors::denied(&d)),
            Some((_, Ok(rows))) => rows,
        };
        Ok(Some(
            rows.into_iter()
                .map(|(_, r)| super::matches::LinkedRecord(r))
                .collect(),
        ))
    }

    /// Who works with the person or their family, now and before (`person.involvements`).
    async fn involvements(&self, ctx: &Context<'_>) -> Result<Option<Vec<Involvement>>> {
        let read = released(ctx, loaders(ctx)?.involvements.load_one(self.0).await)?;
        Ok(read.map(|r| r.items.into_iter().map(Involvement).collect()))
    }

    /// Involvements with sensitive services (CAMHS, sexual health, substance misuse) the
    /// caller's protocols do not share: how many, and whom to ask. Never the service. Null
    /// when there are none.
    async fn further_involvements(&self, ctx: &Context<'_>) -> Result<Option<FurtherInvolvements>> {
        let read = released(ctx, loaders(ctx)?.involvements.load_one(self.0).await)?;
        let ask = gate(ctx)?.further_involvement_contact();
        Ok(read.filter(|r| r.further > 0).map(|r| FurtherInvolvements {
            count: r.further,
            ask,
        }))
    }

    /// The indicators of need of `set` that hold for the person now, evaluated from their
    /// facts. Each is `early_help.family_outcomes` held by the local authority; its evidence
    /// is gated fact by fact, and what is withheld is counted with the reason.
    async fn indicators(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "super::indicators::DEFAULT_SET.to_owned()")] set: String,
    ) -> Result<Option<Vec<super::indicators::Indicator>>> {
        let mut answer = gate(ctx)?
            .person_indicators(&[self.0], &set)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        match answer.remove(&self.0) {
            None => Ok(None),
            Some(Err(d)) => Err(denied(&d)),
            Some(Ok(list)) => Ok(Some(
                list.into_iter().map(super::indicators::Indicator).collect(),
            )),
        }
    }

    /// Referrals about the person to the front door (`social_care.contact_referral` held by
    /// the local authority), oldest first.
    async fn referrals(&self, ctx: &Context<'_>) -> Result<Option<Vec<super::practice::Referral>>> {
        super::practice::person_referrals(ctx, self.0).await
    }

    /// Early help assessments of the person (`early_help.assessment`; the plan and lead
    /// professional as `early_help.plan`), oldest first.
    async fn assessments(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<Vec<super::practice::Assessment>>> {
        super::practice::person_assessments(ctx, self.0).await
    }

    /// Facts the caller may see, newest first, each gated by its category and holder.
    #[graphql(complexity = "(first.max(0) as usize).saturating_mul(child_complexity)")]
    async fn facts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only facts from this sector.")] agency: Option<Agency>,
        #[graphql(desc = "Only these categories, e.g. `education.attendance`.")] categories: Option<
            Vec<String>,
        >,
        #[graphql(default = 50)] first: i32,
        #[graphql(desc = "Only facts that occurred before this instant: the next page.")]
        before: Option<DateTime<Utc>>,
    ) -> Result<FactList> {
        let categories = categories
            .unwrap_or_default()
            .iter()
            .map(|c| super::errors::parse_category(c))
            .collect::<Result<Vec<_>>>()?;
        let filter = FactFilter {
            categories,
            agency: agency.map(Into::into),
            before,
        };
        Ok(FactList(self.facts_read(ctx, filter, first).await?))
    }

    /// The chronology across every agency, newest first.
    #[graphql(complexity = "(first.max(0) as usize).saturating_mul(child_complexity)")]
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] first: i32,
        before: Option<DateTime<Utc>>,
    ) -> Result<Timeline> {
        let filter = FactFilter {
            before,
            ..FactFilter::default()
        };
        Ok(Timeline(self.facts_read(ctx, filter, first).await?))
    }
}

/// The request's gate, for resolvers that need the caller.
pub(super) fn gate<'a>(ctx: &Context<'a>) -> Result<&'a RequestGate> {
    ctx.data::<RequestGate>()
}
