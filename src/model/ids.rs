//! Stable identifiers of graph nodes. They are random UUIDs and carry no personal data, so
//! they may appear in logs and error messages.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new id. Time-ordered (UUIDv7): ids made together sort together, so a bulk
            /// insert appends to the end of an index instead of touching a page per row. It
            /// tells when a node was created, never anything about a person.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_type!(
    /// A person: a child or an adult.
    PersonId
);
id_type!(
    /// A family or household group.
    FamilyId
);
id_type!(
    /// One thing an agency knows about a person at a time.
    FactId
);
id_type!(
    /// A professional's legitimate relationship with a person or family.
    InvolvementId
);
id_type!(
    /// A raw payload a connector delivered.
    SourceRecordId
);
