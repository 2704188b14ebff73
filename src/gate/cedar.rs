//! The protocols compiled into Cedar policies, for `kinship bench gate --features cedar`: the
//! comparison issue 6 asked for between an engine made for authorisation and the compact
//! evaluator in `rules.rs`. Not used to serve; see `docs/protocols.md` for the choice.
//!
//! Each clause of a protocol in force becomes a `permit` whose conditions are the steps of
//! DOMAIN.md §5 (flow, purpose, role, category with its lawful condition, relationship,
//! consent); a clause that allows break-glass also becomes a `permit` that asks for a
//! justification in place of relationship and consent; a shield is a `forbid`. Cedar answers
//! allow or deny and which policies decided; the reason codes and plain-words explanations the
//! board needs would have to be rebuilt outside it.

use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request, RestrictedExpression,
};
use chrono::NaiveDate;

use super::Question;
use super::protocol::{ConsentRule, Protocol, RelationshipRule};
use super::rules::{covering_consent, lawful_condition_covers};
use crate::model::catalogue::Catalogue;
use crate::model::{ConsentState, DataCategory, DataClass};

/// The protocols as a Cedar policy set, with what a request needs.
pub struct CedarRules {
    policies: PolicySet,
    authorizer: Authorizer,
    entities: Entities,
    action: EntityUid,
    resource: EntityUid,
}

fn quoted<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let inner: Vec<String> = items.into_iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", inner.join(", "))
}

/// The Cedar text of the protocols in force on `today`.
pub fn policy_text(protocols: &[Protocol], today: NaiveDate) -> String {
    let catalogue = Catalogue::embedded();
    let mut out = String::from(
        "forbid(principal, action, resource) when { context.shielded && [\"person.contact\", \"person.relationships\"].contains(context.category) };\n",
    );
    for p in protocols.iter().filter(|p| p.in_force(today)) {
        for c in &p.clauses {
            let shared: Vec<DataCategory> = DataCategory::ALL
                .iter()
                .copied()
                .filter(|cat| c.categories.iter().any(|pat| pat.matches(*cat)))
                .filter(|cat| lawful_condition_covers(c, catalogue.class(*cat)))
                .collect();
            if shared.is_empty() {
                continue;
            }
            let heightened: Vec<DataCategory> = shared
                .iter()
                .copied()
                .filter(|cat| {
                    c.explicit_consent_for_heightened
                        && catalogue.class(*cat) == Some(DataClass::SpecialCategoryHeightened)
                })
                .collect();
            let base = format!(
                "{}.contains(context.owner_kind) && {}.contains(context.principal_kind) && {}.contains(context.purpose) && context.roles.containsAny({}) && {}.contains(context.category)",
                quoted(&c.from),
                quoted(&c.to),
                quoted(&c.purposes),
                quoted(&c.roles),
                quoted(&shared),
            );
            let relationship = match c.relationship {
                RelationshipRule::AreaWide => "true".to_owned(),
                RelationshipRule::Required => {
                    format!(
                        "context.involvements.containsAny({})",
                        quoted(&c.involvements)
                    )
                }
            };
            let consent = match c.consent {
                ConsentRule::Required => "context.consent == \"given\"",
                ConsentRule::NotRequired | ConsentRule::NotRequiredIfRisk => "true",
            };
            let explicit = if heightened.is_empty() {
                "true".to_owned()
            } else {
                format!(
                    "(!{}.contains(context.category) || context.explicit_consent)",
                    quoted(&heightened)
                )
            };
            out.push_str(&format!(
                "@id(\"{}/{}\")\npermit(principal, action, resource) when {{ {base} && {relationship} && {consent} && {explicit} }};\n",
                p.id, c.id
            ));
            if c.break_glass {
                out.push_str(&format!(
                    "@id(\"{}/{}/break-glass\")\npermit(principal, action, resource) when {{ context.justified && {base} }};\n",
                    p.id, c.id
                ));
            }
        }
    }
    out
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

impl CedarRules {
    /// Compiles the protocols in force on `today`.
    pub fn new(protocols: &[Protocol], today: NaiveDate) -> Result<Self, String> {
        let text = policy_text(protocols, today);
        let policies = PolicySet::from_str(&text).map_err(|e| e.to_string())?;
        let uid = |s: &str| EntityUid::from_str(s).map_err(|e| e.to_string());
        Ok(Self {
            policies,
            authorizer: Authorizer::new(),
            entities: Entities::empty(),
            action: uid("Action::\"read\"")?,
            resource: uid("Record::\"read\"")?,
        })
    }

    /// How many policies the protocols compiled into.
    pub fn len(&self) -> usize {
        self.policies.policies().count()
    }

    /// Whether no policy was compiled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the read is permitted: the question turned into a Cedar request, then
    /// authorised.
    pub fn permits(&self, q: &Question<'_>) -> Result<bool, String> {
        let Some(purpose) = q.purpose else {
            return Ok(false);
        };
        let consent = covering_consent(q, purpose);
        let state = match consent.map(|c| c.state) {
            Some(ConsentState::Given) => "given",
            Some(ConsentState::Withdrawn) => "withdrawn",
            Some(ConsentState::Refused) => "refused",
            None => "none",
        };
        let explicit = consent
            .is_some_and(|c| c.state == ConsentState::Given && c.categories.contains(&q.category));
        let context = Context::from_pairs([
            ("owner_kind".to_owned(), string(q.owner.kind().as_str())),
            (
                "principal_kind".to_owned(),
                string(q.principal.agency_kind().as_str()),
            ),
            ("purpose".to_owned(), string(purpose.as_str())),
            (
                "roles".to_owned(),
                RestrictedExpression::new_set(q.principal.roles.iter().map(|r| string(r.as_str()))),
            ),
            ("category".to_owned(), string(q.category.as_str())),
            (
                "involvements".to_owned(),
                RestrictedExpression::new_set(
                    q.subject.involvements.iter().map(|k| string(k.as_str())),
                ),
            ),
            ("consent".to_owned(), string(state)),
            (
                "explicit_consent".to_owned(),
                RestrictedExpression::new_bool(explicit),
            ),
            (
                "shielded".to_owned(),
                RestrictedExpression::new_bool(q.subject.shielded),
            ),
            (
                "justified".to_owned(),
                RestrictedExpression::new_bool(q.justified),
            ),
        ])
        .map_err(|e| e.to_string())?;
        let principal = EntityUid::from_type_name_and_id(
            cedar_policy::EntityTypeName::from_str("User").map_err(|e| e.to_string())?,
            cedar_policy::EntityId::new(&q.principal.subject),
        );
        let request = Request::new(
            principal,
            self.action.clone(),
            self.resource.clone(),
            context,
            None,
        )
        .map_err(|e| e.to_string())?;
        let answer = self
            .authorizer
            .is_authorized(&request, &self.policies, &self.entities);
        Ok(answer.decision() == Decision::Allow)
    }
}
