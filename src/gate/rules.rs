//! The rule set: protocols compiled for fast decisions.
//!
//! [`RuleSet`] is the seam the gate decides through; [`ProtocolRules`] implements it over the
//! protocol documents. It is pure: the subject's involvements and consents are loaded by the
//! gate beforehand, so a decision is a few vector scans and no IO.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::decision::{ClauseRef, Decision, Reason};
use super::protocol::{Clause, ConsentRule, Protocol, RelationshipRule};
use crate::model::catalogue::Catalogue;
use crate::model::{
    AgencyKind, Consent, ConsentState, DataCategory, DataClass, InvolvementKind, OrganisationId,
    Person, Principal, Purpose,
};

/// What the gate knows about the subject of a read, loaded once per request and person.
#[derive(Clone, Debug, Default)]
pub struct SubjectContext {
    /// The person node (date of birth, sex, shield); `None` when no person has the id.
    pub person: Option<Person>,
    /// The person is shielded: contact details and relationships are withheld.
    pub shielded: bool,
    /// Involvements the principal holds now with the person or one of their families.
    pub involvements: Vec<InvolvementKind>,
    /// Consent records about the person, any state.
    pub consents: Vec<Consent>,
    /// A shield order's roles: only these see anything of the person. `None` when no order
    /// names any (a shield a source flagged still withholds contact and relationships).
    pub shield_roles: Option<Vec<crate::model::Role>>,
}

/// One question to the rule set.
#[derive(Clone, Copy, Debug)]
pub struct Question<'a> {
    pub principal: &'a Principal,
    pub purpose: Option<Purpose>,
    pub category: DataCategory,
    /// The organisation that holds the data.
    pub owner: &'a OrganisationId,
    pub subject: &'a SubjectContext,
    /// The request carries a written break-glass justification.
    pub justified: bool,
    pub now: DateTime<Utc>,
}

/// Something that decides reads. The gate asks it and nothing else, so a richer protocol
/// language replaces this without touching a resolver.
pub trait RuleSet: Send + Sync {
    /// Permit or deny, with the clause and the reason.
    fn decide(&self, q: &Question<'_>) -> Decision;
    /// Which protocol versions are in the set, e.g. `P-ENC@1.2 P-MASH@3.0`; recorded in the
    /// access log so the board knows what decided.
    fn fingerprint(&self) -> &str;
    /// The protocols loaded.
    fn protocols(&self) -> &[Protocol];
}

/// The protocols, indexed by (owner kind, requester kind).
pub struct ProtocolRules {
    protocols: Vec<Protocol>,
    /// For each flow, the (protocol index, clause index) pairs whose clause covers it, in
    /// protocol-id order.
    by_flow: HashMap<(AgencyKind, AgencyKind), Vec<(usize, usize)>>,
    /// Interned references so decisions clone cheaply.
    refs: Vec<Vec<ClauseRef>>,
    protocol_refs: Vec<ClauseRef>,
    fields: Vec<Vec<Option<Arc<[String]>>>>,
    bases: Vec<Vec<Arc<str>>>,
    fingerprint: String,
    catalogue: &'static Catalogue,
}

impl ProtocolRules {
    /// Compiles protocols (any order) into a rule set.
    pub fn new(mut protocols: Vec<Protocol>) -> Self {
        protocols.sort_by(|a, b| a.id.cmp(&b.id));
        let mut by_flow: HashMap<(AgencyKind, AgencyKind), Vec<(usize, usize)>> = HashMap::new();
        for (pi, p) in protocols.iter().enumerate() {
            for (ci, c) in p.clauses.iter().enumerate() {
                for from in &c.from {
                    for to in &c.to {
                        by_flow.entry((*from, *to)).or_default().push((pi, ci));
                    }
                }
            }
        }
        let protocol_refs = protocols
            .iter()
            .map(|p| ClauseRef {
                protocol: Arc::from(p.id.as_str()),
                version: Arc::from(p.version.as_str()),
                clause: None,
            })
            .collect();
        let refs = protocols
            .iter()
            .map(|p| {
                p.clauses
                    .iter()
                    .map(|c| ClauseRef {
                        protocol: Arc::from(p.id.as_str()),
                        version: Arc::from(p.version.as_str()),
                        clause: Some(Arc::from(c.id.as_str())),
                    })
                    .collect()
            })
            .collect();
        let fields = protocols
            .iter()
            .map(|p| {
                p.clauses
                    .iter()
                    .map(|c| (!c.fields.is_empty()).then(|| Arc::from(c.fields.clone())))
                    .collect()
            })
            .collect();
        let bases = protocols
            .iter()
            .map(|p| {
                p.clauses
                    .iter()
                    .map(|c| Arc::from(basis_words(c)))
                    .collect()
            })
            .collect();
        let fingerprint = protocols
            .iter()
            .map(|p| format!("{}@{}", p.id, p.version))
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            protocols,
            by_flow,
            refs,
            protocol_refs,
            fields,
            bases,
            fingerprint,
            catalogue: Catalogue::embedded(),
        }
    }

    /// The first step of `clause` a read fails, or `None` when it passes every step.
    /// Returns whether break-glass could override the failure: only when every failing step
    /// is relationship or consent.
    fn evaluate(
        &self,
        clause: &Clause,
        q: &Question<'_>,
        purpose: Purpose,
    ) -> Option<(Reason, bool)> {
        if !clause.purposes.contains(&purpose) {
            return Some((Reason::PurposeNotPermitted, false));
        }
        if !clause.roles.iter().any(|r| q.principal.has_role(*r)) {
            return Some((Reason::RoleNotPermitted, false));
        }
        if !clause.categories.iter().any(|c| c.matches(q.category)) {
            return Some((Reason::CategoryNotShared, false));
        }
        let class = self.catalogue.class(q.category);
        if !lawful_condition_covers(clause, class) {
            return Some((Reason::NoLawfulCondition, false));
        }
        let mut failures = Vec::new();
        if clause.relationship == RelationshipRule::Required
            && !q
                .subject
                .involvements
                .iter()
                .any(|k| clause.involvements.contains(k))
        {
            failures.push(Reason::NoLegitimateRelationship);
        }
        if let Some(r) = consent_failure(clause, class, q, purpose) {
            failures.push(r);
        }
        if q.subject.shielded
            && matches!(
                q.category,
                DataCategory::PersonContact | DataCategory::PersonRelationships
            )
        {
            failures.push(Reason::Shielded);
        }
        let first = *failures.first()?;
        let overridable = failures.iter().all(|r| r.break_glass_may_override());
        Some((first, overridable))
    }
}

/// The clause's lawful basis and consent position, in words.
pub fn basis_words(c: &Clause) -> String {
    let b = &c.lawful_basis;
    let mut parts = vec![format!("UK GDPR Article {}", b.article6)];
    if let Some(a9) = &b.article9 {
        let mut s = format!("Article {a9}");
        if let Some(s1) = &b.schedule1 {
            s.push_str(&format!(" with DPA 2018 Schedule 1 {s1}"));
        }
        parts.push(s);
    }
    if let Some(a10) = &b.article10 {
        parts.push(format!("Article 10: {a10}"));
    }
    if !b.powers.is_empty() {
        parts.push(format!("powers: {}", b.powers.join(", ")));
    }
    parts.push(match c.consent {
        ConsentRule::Required => "consent required".to_owned(),
        ConsentRule::NotRequiredIfRisk => {
            "consent not needed where a child may be at risk of significant harm".to_owned()
        }
        ConsentRule::NotRequired => "consent not needed for this purpose".to_owned(),
    });
    parts.join("; ")
}

/// Special-category data needs an Article 9 condition; criminal-offence data an Article 10
/// authority. A clause without them shares nothing of that class.
pub(crate) fn lawful_condition_covers(clause: &Clause, class: Option<DataClass>) -> bool {
    let b = &clause.lawful_basis;
    match class {
        Some(DataClass::SpecialCategory | DataClass::SpecialCategoryHeightened) => {
            b.article9.is_some()
        }
        Some(DataClass::CriminalOffence) => b.article10.is_some(),
        Some(DataClass::SpecialAndCriminal) => b.article9.is_some() && b.article10.is_some(),
        Some(DataClass::Personal | DataClass::Shieldable | DataClass::HighRisk) => true,
        None => false,
    }
}

/// What the consent records say for this read: the newest record covering the purpose,
/// category and owner that has not expired.
pub(crate) fn covering_consent<'c>(q: &Question<'c>, purpose: Purpose) -> Option<&'c Consent> {
    newest_covering(
        &q.subject.consents,
        purpose,
        q.category,
        Some(q.owner),
        q.now,
    )
}

/// The newest unexpired consent record covering `purpose` and `category` (and `owner`, when
/// given; `None` asks about a holder whose organisation scope is not known).
pub(crate) fn newest_covering<'c>(
    consents: &'c [Consent],
    purpose: Purpose,
    category: DataCategory,
    owner: Option<&OrganisationId>,
    now: DateTime<Utc>,
) -> Option<&'c Consent> {
    consents
        .iter()
        .filter(|c| c.purposes.contains(&purpose))
        .filter(|c| c.categories.is_empty() || c.categories.contains(&category))
        .filter(|c| owner.is_none_or(|o| c.organisations.is_empty() || c.organisations.contains(o)))
        .filter(|c| c.recorded_at <= now)
        .filter(|c| c.expires_at.is_none_or(|e| e > now))
        .max_by_key(|c| c.recorded_at)
}

fn consent_failure(
    clause: &Clause,
    class: Option<DataClass>,
    q: &Question<'_>,
    purpose: Purpose,
) -> Option<Reason> {
    let consent = covering_consent(q, purpose);
    let state = consent.map(|c| c.state);
    if clause.explicit_consent_for_heightened && class == Some(DataClass::SpecialCategoryHeightened)
    {
        // Explicit means the consent names this category, not a blanket "all categories".
        let explicit = consent
            .is_some_and(|c| c.state == ConsentState::Given && c.categories.contains(&q.category));
        return match (explicit, state) {
            (true, _) => None,
            (false, Some(ConsentState::Withdrawn)) => Some(Reason::ConsentWithdrawn),
            (false, _) => Some(Reason::ExplicitConsentRequired),
        };
    }
    match (clause.consent, state) {
        (ConsentRule::Required, Some(ConsentState::Given)) => None,
        (ConsentRule::Required, Some(ConsentState::Withdrawn)) => Some(Reason::ConsentWithdrawn),
        (ConsentRule::Required, _) => Some(Reason::ConsentRequired),
        (ConsentRule::NotRequiredIfRisk | ConsentRule::NotRequired, _) => None,
    }
}

impl RuleSet for ProtocolRules {
    fn decide(&self, q: &Question<'_>) -> Decision {
        Decision {
            shielded_subject: q.subject.shielded,
            ..self.decide_unflagged(q)
        }
    }

    fn fingerprint(&self) -> &str {
        self.fingerprint_str()
    }

    fn protocols(&self) -> &[Protocol] {
        self.protocols_list()
    }
}

impl ProtocolRules {
    fn decide_unflagged(&self, q: &Question<'_>) -> Decision {
        let Some(purpose) = q.purpose else {
            return Decision::deny(Reason::PurposeMissing);
        };
        // A shield order comes before every protocol: only the roles it names see anything.
        if let Some(roles) = &q.subject.shield_roles
            && !roles.iter().any(|r| q.principal.has_role(*r))
        {
            return Decision::deny(Reason::Shielded);
        }
        let today: NaiveDate = q.now.date_naive();
        let flow = (q.owner.kind(), q.principal.agency_kind());
        let Some(candidates) = self.by_flow.get(&flow) else {
            return Decision::deny(Reason::NoActiveProtocol);
        };
        let mut break_glass: Option<Decision> = None;
        let mut worst: Option<Decision> = None;
        let consider = |d: Decision, worst: &mut Option<Decision>| {
            // The latest failing step names the reason; on a tie the lowest protocol id,
            // which is the one seen first.
            if worst.as_ref().is_none_or(|w| d.reason > w.reason) {
                *worst = Some(d);
            }
        };
        // A clause that neither serves the declared purpose nor shares the category (an
        // identity-only clause for another purpose, say) says nothing about this read: it
        // explains a refusal only when no other clause of the flow is closer.
        let relevant = |&(pi, ci): &(usize, usize)| {
            let clause = &self.protocols[pi].clauses[ci];
            clause.purposes.contains(&purpose)
                || clause.categories.iter().any(|c| c.matches(q.category))
        };
        let any_relevant = candidates.iter().any(relevant);
        for &(pi, ci) in candidates.iter().filter(|c| !any_relevant || relevant(c)) {
            let p = &self.protocols[pi];
            if !p.in_force(today) {
                consider(
                    Decision {
                        by: Some(self.protocol_refs[pi].clone()),
                        ..Decision::deny(Reason::NoActiveProtocol)
                    },
                    &mut worst,
                );
                continue;
            }
            let clause = &p.clauses[ci];
            let decided = |reason| Decision {
                reason,
                by: Some(self.refs[pi][ci].clone()),
                fields: self.fields[pi][ci].clone(),
                review_overdue: p.review_overdue(today),
                notify_owner: clause.notify_owner,
                break_glass_available: false,
                basis: Some(self.bases[pi][ci].clone()),
                consent_refused: false,
                shielded_subject: false,
            };
            match self.evaluate(clause, q, purpose) {
                None => {
                    let refused = clause.consent != ConsentRule::Required
                        && covering_consent(q, purpose)
                            .is_some_and(|c| c.state == ConsentState::Refused);
                    return Decision {
                        consent_refused: refused,
                        ..decided(Reason::Permitted)
                    };
                }
                Some((_, true)) if clause.break_glass && q.justified => {
                    break_glass.get_or_insert_with(|| decided(Reason::BreakGlass));
                }
                Some((reason, overridable)) => consider(
                    Decision {
                        fields: None,
                        // Nothing was released, so there is nothing to tell the owner.
                        notify_owner: false,
                        break_glass_available: overridable && clause.break_glass,
                        ..decided(reason)
                    },
                    &mut worst,
                ),
            }
        }
        break_glass
            .or(worst)
            .unwrap_or_else(|| Decision::deny(Reason::NoActiveProtocol))
    }

    fn fingerprint_str(&self) -> &str {
        &self.fingerprint
    }

    fn protocols_list(&self) -> &[Protocol] {
        &self.protocols
    }
}
