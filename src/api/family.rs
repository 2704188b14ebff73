//! Families and households: the node holds no personal data; each membership is gated as the
//! member's `person.relationships`.

use async_graphql::{Context, Enum, ID, Object, Result};

use super::errors::gate_failed;
use super::person::{Organisation, Person, loaders};
use crate::gate::MembersRead;
use crate::model;
use crate::model::FamilyId;

/// A family (declared relationships) or a household (a shared address).
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::model::FamilyKind")]
pub enum FamilyKind {
    Family,
    Household,
}

/// What a family or household group rests on.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum FamilyBasis {
    /// Derived from the relationships sources declare (parent, carer, child, sibling).
    Relationships,
    /// Derived from a shared current address.
    Address,
    /// Recorded by the hub's users (a family an early help team works with).
    Recorded,
}

/// A family or household group.
pub struct Family(pub FamilyId);

/// A person's place in a family, with the source that asserts it.
pub struct FamilyMember(model::FamilyMember);

#[Object]
impl FamilyMember {
    /// `child`, `parent`, `carer` or `member`.
    async fn role(&self) -> &str {
        &self.0.role
    }

    /// The member; their own data is gated when read.
    async fn person(&self) -> Person {
        Person(self.0.person_id)
    }

    /// The organisation that declared the membership.
    async fn source(&self) -> Organisation {
        Organisation(self.0.organisation.clone())
    }

    /// The source record that declared it (the relationship or the address), for a group the
    /// hub derived; see `person.provenance`.
    async fn source_record_id(&self) -> Option<ID> {
        self.0.source_record.map(|r| ID(r.0.to_string()))
    }
}

/// Members as released, with how many were withheld.
pub struct MemberList(MembersRead);

#[Object]
impl MemberList {
    async fn items(&self) -> Vec<FamilyMember> {
        self.0.members.iter().cloned().map(FamilyMember).collect()
    }

    /// How many memberships were withheld.
    async fn withheld(&self) -> u64 {
        self.0.withheld
    }
}

#[Object]
impl Family {
    async fn id(&self) -> ID {
        ID(self.0.to_string())
    }

    async fn kind(&self, ctx: &Context<'_>) -> Result<Option<FamilyKind>> {
        let family = loaders(ctx)?
            .family
            .load_one(self.0)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(family.map(|f| f.kind.into()))
    }

    /// What the group rests on: declared relationships, a shared address, or a user's record.
    async fn basis(&self, ctx: &Context<'_>) -> Result<Option<FamilyBasis>> {
        let family = loaders(ctx)?
            .family
            .load_one(self.0)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(family.map(|f| match f.basis.as_deref() {
            Some("relationships") => FamilyBasis::Relationships,
            Some("address") => FamilyBasis::Address,
            _ => FamilyBasis::Recorded,
        }))
    }

    /// The indicators of need of `set` that hold for the family's members now; members whose
    /// indicators the caller may not see are counted in `withheld`.
    async fn indicators(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "super::indicators::DEFAULT_SET.to_owned()")] set: String,
    ) -> Result<super::indicators::FamilyIndicators> {
        let mut answer = super::person::gate(ctx)?
            .family_indicators(&[self.0], &set)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        let (items, withheld) = answer.remove(&self.0).unwrap_or_default();
        Ok(super::indicators::FamilyIndicators(items, withheld))
    }

    /// Members the caller may see.
    async fn members(&self, ctx: &Context<'_>) -> Result<MemberList> {
        let read = loaders(ctx)?
            .members
            .load_one(self.0)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(MemberList(read.unwrap_or_default()))
    }
}
