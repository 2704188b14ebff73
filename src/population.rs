//! The synthetic population: a deterministic, seeded generator of UK-style children, families,
//! practitioners, involvements and facts from all four agencies. It feeds `kinship demo`, the
//! benchmarks and the integration tests, so every test reads the same kind of data a newcomer
//! sees in the demo.
//!
//! Everything here is invented: names from common-name lists, postcodes shaped like UK ones,
//! NHS numbers from the never-issued 999 range, UPNs and school numbers in LA 999. The same
//! [`PopulationSpec`] always gives the same [`Population`], byte for byte.
//!
//! Limits: pure computation, no IO; imports `model` and the connector SDK's envelope types.

pub mod corpus;
pub mod envelopes;
mod generate;
mod names;

use chrono::NaiveDate;

use crate::model::{
    Address, Consent, Fact, Family, FamilyMember, Identifier, Involvement, Organisation, Person,
    PersonName, Principal, Relationship, SourceRecord,
};

pub use generate::generate;

/// What to generate.
#[derive(Clone, Debug)]
pub struct PopulationSpec {
    /// How many families; children come to about 2.5 per family.
    pub families: usize,
    /// The seed: the same seed, families and date give the same population.
    pub seed: u64,
    /// The day the population is "as of": ages, open involvements and recent facts are
    /// relative to it.
    pub as_of: NaiveDate,
}

impl PopulationSpec {
    /// The default reference day, fixed so that a seed means the same population on any day.
    pub const DEFAULT_AS_OF: (i32, u32, u32) = (2026, 11, 2);

    /// The demo's default: 2,000 families (about 5,000 children), seed 42.
    pub fn demo() -> Self {
        Self::new(2_000, 42)
    }

    /// A spec with the default reference day.
    pub fn new(families: usize, seed: u64) -> Self {
        let (y, m, d) = Self::DEFAULT_AS_OF;
        Self {
            families,
            seed,
            as_of: NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default(),
        }
    }
}

/// A practitioner who can sign in: the principal their token carries, and what to call them.
#[derive(Clone, Debug)]
pub struct Practitioner {
    pub principal: Principal,
    /// A synthetic display name for the demo's printout (never a real person).
    pub display_name: String,
    /// What they do, e.g. "Designated safeguarding lead, Oakfield Primary School".
    pub title: String,
}

/// Everything the generator made, ready for `store::load`.
#[derive(Clone, Debug, Default)]
pub struct Population {
    pub organisations: Vec<Organisation>,
    pub persons: Vec<Person>,
    pub names: Vec<PersonName>,
    pub identifiers: Vec<Identifier>,
    pub addresses: Vec<Address>,
    pub families: Vec<Family>,
    pub members: Vec<FamilyMember>,
    pub relationships: Vec<Relationship>,
    pub facts: Vec<Fact>,
    pub involvements: Vec<Involvement>,
    pub consents: Vec<Consent>,
    pub source_records: Vec<SourceRecord>,
    pub practitioners: Vec<Practitioner>,
}

impl Population {
    /// How many persons are children.
    pub fn child_count(&self) -> usize {
        self.persons.iter().filter(|p| p.is_child).count()
    }
}
