//! Explanations: what the caller would get and why (`explainAccess`), and, for the board,
//! which agencies and roles could see a category of a person's data under which protocols
//! (`whoCanSee`). Both evaluate the protocols in force; neither releases data. Both are
//! recorded in the access log as actions on the subject.

use chrono::Utc;

use super::protocol::{ConsentRule, RelationshipRule};
use super::rules::Question;
use super::{Decision, GateError, RequestGate};
use crate::model::{AgencyKind, DataCategory, OrganisationId, PersonId, Purpose, Role};

/// What the caller would get of a category if an organisation of one kind held it.
#[derive(Clone, Debug)]
pub struct Explanation {
    pub holder: AgencyKind,
    pub decision: Decision,
    pub text: String,
}

/// A clause through which some agency's staff could see a category of a person's data.
#[derive(Clone, Debug)]
pub struct Route {
    pub protocol: String,
    pub version: String,
    pub clause: String,
    pub summary: String,
    pub in_force: bool,
    pub review_overdue: bool,
    /// The kinds of organisation whose data flows.
    pub from: Vec<AgencyKind>,
    /// The kinds of organisation whose staff receive it.
    pub to: Vec<AgencyKind>,
    pub roles: Vec<Role>,
    /// `None`: area-wide remit; otherwise the involvement kinds that give need-to-know.
    pub involvements: Option<Vec<String>>,
    /// What consent the clause needs, in words.
    pub consent: String,
    /// Whether this person's consent records meet the clause now (`None`: not needed).
    pub consent_met: Option<bool>,
    /// The person is shielded and the category is one a shield withholds.
    pub shielded: bool,
    pub break_glass: bool,
    pub basis: String,
}

impl RequestGate {
    pub(super) fn act(&self, action: serde_json::Value) {
        self.inner
            .actions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(action);
    }

    /// For each kind of holder, what the caller would get of `category` about `person` for
    /// the declared purpose, and why. `None` when no person has the id.
    pub async fn explain_access(
        &self,
        person: PersonId,
        category: DataCategory,
    ) -> Result<Option<Vec<Explanation>>, GateError> {
        let purpose = self.require_purpose()?;
        let contexts = self.contexts(&[person]).await?;
        let Some(ctx) = contexts.get(&person).filter(|c| c.person.is_some()) else {
            return Ok(None);
        };
        self.act(serde_json::json!({
            "action": "explain_access",
            "subject": person.to_string(),
            "category": category.as_str(),
            "purpose": purpose.as_str(),
        }));
        let out = AgencyKind::ALL
            .iter()
            .map(|kind| {
                // Consent scoped to named organisations cannot match a kind in general; the
                // explanation is for a holder of this kind that no such scope names.
                let owner = OrganisationId::new(*kind, "any");
                let decision = self.inner.rules.decide(&Question {
                    principal: self.principal(),
                    purpose: Some(purpose),
                    category,
                    owner: &owner,
                    subject: ctx,
                    justified: self.inner.info.justification.is_some(),
                    now: self.inner.now,
                });
                Explanation {
                    holder: *kind,
                    text: decision.explain(category),
                    decision,
                }
            })
            .collect();
        Ok(Some(out))
    }

    /// For the board: every clause of every protocol that shares `category` for `purpose`,
    /// with whether this person's consents and shield let it apply now.
    pub async fn who_can_see(
        &self,
        person: PersonId,
        category: DataCategory,
        purpose: Purpose,
    ) -> Result<Option<Vec<Route>>, GateError> {
        let p = self.principal();
        if !(p.has_role(Role::BoardMember) || p.has_role(Role::Dpo)) {
            return Err(GateError::Forbidden(
                "`whoCanSee` needs the board_member or dpo role".into(),
            ));
        }
        let contexts = self.contexts(&[person]).await?;
        let Some(ctx) = contexts.get(&person).filter(|c| c.person.is_some()) else {
            return Ok(None);
        };
        self.act(serde_json::json!({
            "action": "who_can_see",
            "subject": person.to_string(),
            "category": category.as_str(),
            "purpose": purpose.as_str(),
        }));
        let today = Utc::now().date_naive();
        let now = self.inner.now;
        // The same record the decision would weigh (any holder: a route is not one holder).
        let covering = super::rules::newest_covering(&ctx.consents, purpose, category, None, now)
            .filter(|c| c.state == crate::model::ConsentState::Given);
        let consent_given = |explicit: bool| {
            covering.is_some_and(|c| !explicit || c.categories.contains(&category))
        };
        let heightened = crate::model::catalogue::Catalogue::embedded().class(category)
            == Some(crate::model::DataClass::SpecialCategoryHeightened);
        let shieldable = matches!(
            category,
            DataCategory::PersonContact | DataCategory::PersonRelationships
        );
        let mut out = Vec::new();
        for protocol in self.inner.rules.protocols() {
            for c in &protocol.clauses {
                if !c.purposes.contains(&purpose)
                    || !c.categories.iter().any(|p| p.matches(category))
                {
                    continue;
                }
                let explicit = c.explicit_consent_for_heightened && heightened;
                let (consent, consent_met) = match (c.consent, explicit) {
                    (_, true) => (
                        "explicit consent naming this category".to_owned(),
                        Some(consent_given(true)),
                    ),
                    (ConsentRule::Required, false) => {
                        ("consent".to_owned(), Some(consent_given(false)))
                    }
                    (ConsentRule::NotRequiredIfRisk, false) => (
                        "not needed where a child may be at risk of significant harm".to_owned(),
                        None,
                    ),
                    (ConsentRule::NotRequired, false) => ("not needed".to_owned(), None),
                };
                out.push(Route {
                    protocol: protocol.id.clone(),
                    version: protocol.version.clone(),
                    clause: c.id.clone(),
                    summary: c.summary.clone(),
                    in_force: protocol.in_force(today),
                    review_overdue: protocol.review_overdue(today),
                    from: c.from.clone(),
                    to: c.to.clone(),
                    roles: c.roles.clone(),
                    involvements: match c.relationship {
                        RelationshipRule::AreaWide => None,
                        RelationshipRule::Required => {
                            Some(c.involvements.iter().map(|k| k.to_string()).collect())
                        }
                    },
                    consent,
                    consent_met,
                    shielded: ctx.shielded && shieldable,
                    break_glass: c.break_glass,
                    basis: super::rules::basis_words(c),
                });
            }
        }
        Ok(Some(out))
    }
}
