//! Who is asking: the verified claims of a bearer token.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::catalogue::{AgencyKind, OrganisationId, Role};

/// An authenticated caller. Built only by `server` from a verified token (or by a benchmark
/// harness); everything below trusts it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The token subject: a stable, pseudonymous staff id (not a name).
    pub subject: String,
    /// The organisation the principal acts for.
    pub organisation: OrganisationId,
    /// The jobs they do.
    pub roles: Vec<Role>,
}

impl Principal {
    /// Whether the principal holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The kind of organisation they act for.
    pub fn agency_kind(&self) -> AgencyKind {
        self.organisation.kind()
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Subjects are pseudonymous staff ids; printing them is how the log names a reader.
        f.debug_struct("Principal")
            .field("subject", &self.subject)
            .field("organisation", &self.organisation)
            .field("roles", &self.roles)
            .finish()
    }
}
