//! Per-request loaders built on the request's gate. Keys requested in the same tick are
//! batched into one gate call, and the gate checks every key of the batch: batching changes
//! how many statements run, never what is decided.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};

use crate::gate::{
    FactQuery, FactsRead, GateError, Gated, Identity, InvolvementsRead, MembersRead, RequestGate,
};
use crate::model::{
    Address, Family, FamilyId, FamilyMember, Organisation, OrganisationId, PersonId, Relationship,
};

/// Gate errors are shared by every key of a failed batch.
pub type LoadError = Arc<GateError>;

macro_rules! gate_loader {
    ($name:ident, $key:ty, $value:ty, $method:ident) => {
        /// Batches keys into one call of the gate's method of the same name.
        pub struct $name(RequestGate);

        impl Loader<$key> for $name {
            type Value = $value;
            type Error = LoadError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $value>, LoadError> {
                self.0.$method(keys).await.map_err(Arc::new)
            }
        }
    };
}

gate_loader!(IdentityLoader, PersonId, Gated<Identity>, identity);
gate_loader!(AddressLoader, PersonId, Gated<Vec<Address>>, addresses);
gate_loader!(
    RelationshipLoader,
    PersonId,
    Gated<Vec<Relationship>>,
    relationships
);
gate_loader!(
    MembershipLoader,
    PersonId,
    Gated<Vec<FamilyMember>>,
    memberships
);
gate_loader!(
    InvolvementLoader,
    PersonId,
    Gated<InvolvementsRead>,
    involvements
);
gate_loader!(FamilyLoader, FamilyId, Family, families);
gate_loader!(MembersLoader, FamilyId, MembersRead, family_members);
gate_loader!(FactsLoader, (PersonId, FactQuery), FactsRead, facts);
gate_loader!(
    OrganisationLoader,
    OrganisationId,
    Organisation,
    organisations
);

/// Existence of persons needs no purpose and is not logged: ids are random keys.
pub struct PersonLoader(RequestGate);

impl Loader<PersonId> for PersonLoader {
    type Value = ();
    type Error = LoadError;

    async fn load(&self, keys: &[PersonId]) -> Result<HashMap<PersonId, ()>, LoadError> {
        let found = self.0.existing(keys).await.map_err(Arc::new)?;
        Ok(found.into_iter().map(|id| (id, ())).collect())
    }
}

/// Every loader of one request.
pub struct Loaders {
    pub person: DataLoader<PersonLoader>,
    pub identity: DataLoader<IdentityLoader>,
    pub addresses: DataLoader<AddressLoader>,
    pub relationships: DataLoader<RelationshipLoader>,
    pub memberships: DataLoader<MembershipLoader>,
    pub involvements: DataLoader<InvolvementLoader>,
    pub family: DataLoader<FamilyLoader>,
    pub members: DataLoader<MembersLoader>,
    pub facts: DataLoader<FactsLoader>,
    pub organisations: DataLoader<OrganisationLoader>,
}

impl Loaders {
    /// Loaders over one request's gate.
    pub fn new(gate: RequestGate) -> Self {
        fn dl<T: Send + Sync + 'static>(loader: T) -> DataLoader<T> {
            DataLoader::new(loader, tokio::spawn)
        }
        Self {
            person: dl(PersonLoader(gate.clone())),
            identity: dl(IdentityLoader(gate.clone())),
            addresses: dl(AddressLoader(gate.clone())),
            relationships: dl(RelationshipLoader(gate.clone())),
            memberships: dl(MembershipLoader(gate.clone())),
            involvements: dl(InvolvementLoader(gate.clone())),
            family: dl(FamilyLoader(gate.clone())),
            members: dl(MembersLoader(gate.clone())),
            facts: dl(FactsLoader(gate.clone())),
            organisations: dl(OrganisationLoader(gate)),
        }
    }
}
