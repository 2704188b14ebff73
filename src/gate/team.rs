//! The team around the child and shield orders, written through the gate.
//!
//! The hub's own involvement records grow from inside the team: recording or ending one needs
//! the caller to be allowed to read the child's involvements already (so nobody can grant
//! themselves need-to-know), and the record is logged as an action on the child. A shield
//! order is recorded by a shield role with need-to-know of the child's identity; from then on
//! only the roles it names see anything of the child (see `rules.rs`), and every read of the
//! child is flagged for the board.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{GateError, Gated, RequestGate};
use crate::model::{
    DataCategory, FamilyId, Involvement, InvolvementId, InvolvementKind, PersonId, Role,
};
use crate::store::{begin_write, load, practice as rows};

/// The services whose involvements take their own category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SensitiveService {
    MentalHealth,
    SexualHealth,
    SubstanceMisuse,
}

impl SensitiveService {
    /// The category an involvement with it is governed as.
    pub fn category(self) -> DataCategory {
        match self {
            Self::MentalHealth => DataCategory::HealthMentalHealth,
            Self::SexualHealth => DataCategory::HealthSexualHealth,
            Self::SubstanceMisuse => DataCategory::HealthSubstanceMisuse,
        }
    }
}

/// An involvement as a practitioner records it for a colleague or themselves.
#[derive(Clone, Debug)]
pub struct NewInvolvement {
    pub person: Option<PersonId>,
    pub family: Option<FamilyId>,
    pub kind: InvolvementKind,
    /// The practitioner (token subject); `None` for the whole organisation.
    pub holder: Option<String>,
    pub organisation: crate::model::OrganisationId,
    pub service: String,
    pub sensitive: Option<SensitiveService>,
    pub contact: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
}

/// Why a shield order was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShieldReason {
    Adoption,
    Refuge,
    WitnessProtection,
}

impl ShieldReason {
    /// The stable wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adoption => "adoption",
            Self::Refuge => "refuge",
            Self::WitnessProtection => "witness_protection",
        }
    }
}

impl RequestGate {
    /// The persons an involvement with a person or family is about.
    async fn subjects_of(
        &self,
        person: Option<PersonId>,
        family: Option<FamilyId>,
    ) -> Result<Vec<PersonId>, GateError> {
        match (person, family) {
            (Some(p), None) => Ok(vec![p]),
            (None, Some(f)) => Ok(crate::store::graph::members(self.inner.store.conn(), &[f])
                .await?
                .into_iter()
                .map(|m| m.person_id)
                .collect()),
            _ => Err(GateError::Invalid(
                "name either a person or a family".into(),
            )),
        }
    }

    /// Whether the caller may read the involvements of every one of `persons` now.
    async fn may_read_involvements(&self, persons: &[PersonId]) -> Result<Gated<()>, GateError> {
        let contexts = self.contexts(persons).await?;
        let owner = self.inner.gate.practice_owner();
        for p in persons {
            let Some(ctx) = contexts.get(p).filter(|c| c.person.is_some()) else {
                continue;
            };
            let d = self.decide(ctx, *p, DataCategory::PersonInvolvements, &owner);
            if !d.permits() {
                self.record(
                    (*p, DataCategory::PersonInvolvements, owner.clone()),
                    &d,
                    0,
                    1,
                );
                return Ok(Err(super::denial(DataCategory::PersonInvolvements, &d)));
            }
        }
        Ok(Ok(()))
    }

    /// Records an involvement. `None` when the person or family has no members known.
    pub async fn record_involvement(
        &self,
        new: NewInvolvement,
    ) -> Result<Option<Gated<Involvement>>, GateError> {
        self.require_purpose()?;
        if new.service.trim().is_empty() {
            return Err(GateError::Invalid("`service` must not be empty".into()));
        }
        let subjects = self.subjects_of(new.person, new.family).await?;
        if self.existing(&subjects).await?.is_empty() {
            return Ok(None);
        }
        if let Err(d) = self.may_read_involvements(&subjects).await? {
            return Ok(Some(Err(d)));
        }
        let now = self.inner.now;
        let inv = Involvement {
            id: InvolvementId(Uuid::now_v7()),
            kind: new.kind,
            principal: new.holder,
            organisation: new.organisation,
            person_id: new.person,
            family_id: new.family,
            started_at: new.started_at.unwrap_or(now),
            ended_at: None,
            service: Some(new.service),
            source: format!("hub:{}", self.principal().subject),
            category: new.sensitive.map(SensitiveService::category),
            contact: new.contact,
        };
        load::involvements(self.inner.store.conn(), std::slice::from_ref(&inv)).await?;
        for p in &subjects {
            self.act(serde_json::json!({
                "action": "record_involvement",
                "involvement": inv.id.to_string(),
                "subject": p.to_string(),
            }));
        }
        Ok(Some(Ok(inv)))
    }

    /// Ends an involvement now. `None` when no open involvement has the id.
    pub async fn end_involvement(
        &self,
        id: InvolvementId,
    ) -> Result<Option<Gated<Involvement>>, GateError> {
        self.require_purpose()?;
        let conn = self.inner.store.conn();
        let Some(mut inv) = rows::involvement(conn, id).await? else {
            return Ok(None);
        };
        if inv.ended_at.is_some() {
            return Err(GateError::Invalid(format!("involvement {id} has ended")));
        }
        let subjects = self.subjects_of(inv.person_id, inv.family_id).await?;
        if let Err(d) = self.may_read_involvements(&subjects).await? {
            return Ok(Some(Err(d)));
        }
        let now = self.inner.now;
        rows::end_involvement(conn, id, now).await?;
        inv.ended_at = Some(now);
        for p in &subjects {
            self.act(serde_json::json!({
                "action": "end_involvement",
                "involvement": id.to_string(),
                "subject": p.to_string(),
            }));
        }
        Ok(Some(Ok(inv)))
    }

    fn require_shield_role(&self) -> Result<(), GateError> {
        let roles = &self.inner.gate.practice().shield_roles;
        if self.holds_one_of(roles) {
            Ok(())
        } else {
            Err(GateError::Forbidden(format!(
                "shield orders are recorded by {}",
                roles.join(", ")
            )))
        }
    }

    /// Records a shield order naming the roles that may see anything of the person; the
    /// caller needs need-to-know of the person's identity now. `None` for an unknown person.
    pub async fn shield_record(
        &self,
        person: PersonId,
        reason: ShieldReason,
        roles: Vec<Role>,
    ) -> Result<Option<Gated<()>>, GateError> {
        self.require_purpose()?;
        self.require_shield_role()?;
        if roles.is_empty() {
            return Err(GateError::Invalid(
                "name at least one role that may see the record".into(),
            ));
        }
        if self.existing(&[person]).await?.is_empty() {
            return Ok(None);
        }
        if let Err(d) = self
            .decide_practice(person, DataCategory::PersonIdentity, 0)
            .await?
        {
            return Ok(Some(Err(d)));
        }
        let txn = begin_write(self.inner.store.conn()).await?;
        rows::shield(
            &txn,
            person,
            reason.as_str(),
            &roles,
            &self.principal().subject,
            self.inner.now,
        )
        .await?;
        txn.commit().await.map_err(crate::store::StoreError::from)?;
        self.act(serde_json::json!({
            "action": "shield_record",
            "reason": reason.as_str(),
            "roles": roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "subject": person.to_string(),
        }));
        Ok(Some(Ok(())))
    }

    /// Lifts a shield order. False when the person had none.
    pub async fn lift_shield(&self, person: PersonId) -> Result<Gated<bool>, GateError> {
        self.require_purpose()?;
        self.require_shield_role()?;
        if let Err(d) = self
            .decide_practice(person, DataCategory::PersonIdentity, 0)
            .await?
        {
            return Ok(Err(d));
        }
        let txn = begin_write(self.inner.store.conn()).await?;
        let lifted = rows::lift_shield(&txn, person).await?;
        txn.commit().await.map_err(crate::store::StoreError::from)?;
        self.act(serde_json::json!({
            "action": "lift_shield",
            "lifted": lifted,
            "subject": person.to_string(),
        }));
        Ok(Ok(lifted))
    }
}
