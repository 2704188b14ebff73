//! Recording consent: given, refused or withdrawn, by the child or a parent, scoped by
//! purposes, categories and organisations. A practitioner records it only for a child or
//! family they are involved with; each record is an action in the access log. A withdrawal
//! takes effect from the next request.

use chrono::{DateTime, Utc};

use super::{GateError, RequestGate};
use crate::model::{Consent, ConsentState, DataCategory, OrganisationId, PersonId, Purpose};
use crate::store::load;

/// What a consent record says.
#[derive(Clone, Debug)]
pub struct ConsentScope {
    pub purposes: Vec<Purpose>,
    /// Empty: every category.
    pub categories: Vec<DataCategory>,
    /// Empty: every organisation.
    pub organisations: Vec<OrganisationId>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl RequestGate {
    /// Records consent given, refused or withdrawn for `person`. `given_by` is `child`,
    /// `parent` or `carer`. `None` when no person has the id.
    pub async fn record_consent(
        &self,
        person: PersonId,
        state: ConsentState,
        given_by: &str,
        scope: ConsentScope,
    ) -> Result<Option<Consent>, GateError> {
        self.require_purpose()?;
        if scope.purposes.is_empty() {
            return Err(GateError::Forbidden(
                "a consent record names at least one purpose".into(),
            ));
        }
        let contexts = self.contexts(&[person]).await?;
        let Some(ctx) = contexts.get(&person).filter(|c| c.person.is_some()) else {
            return Ok(None);
        };
        if ctx.involvements.is_empty() {
            return Err(GateError::Forbidden(
                "recording consent needs an active involvement with the child or family".into(),
            ));
        }
        let consent = Consent {
            id: uuid::Uuid::now_v7(),
            person_id: person,
            state,
            given_by: given_by.to_owned(),
            purposes: scope.purposes,
            categories: scope.categories,
            organisations: scope.organisations,
            recorded_by: self.principal().subject.clone(),
            recorded_at: Utc::now(),
            expires_at: scope.expires_at,
        };
        load::consents(self.inner.store.conn(), std::slice::from_ref(&consent)).await?;
        self.act(serde_json::json!({
            "action": "record_consent",
            "subject": person.to_string(),
            "consent": consent.id.to_string(),
            "state": state.as_str(),
            "given_by": given_by,
            "purposes": consent.purposes,
            "categories": consent.categories,
        }));
        Ok(Some(consent))
    }

    /// Puts the protocol folder's current files in force (system_admin only).
    pub async fn reload_protocols(&self) -> Result<Result<String, String>, GateError> {
        if !self.principal().has_role(crate::model::Role::SystemAdmin) {
            return Err(GateError::Forbidden(
                "`reloadProtocols` needs the system_admin role".into(),
            ));
        }
        Ok(self.inner.gate.reload().await.map_err(|e| e.to_string()))
    }
}
