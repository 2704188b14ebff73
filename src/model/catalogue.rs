//! The catalogue: data categories, purposes of use, roles, agencies and involvement kinds.
//!
//! Each is a closed Rust enum so that code can name them, and each value is also listed in
//! `schema/catalogue.toml` with what it means; [`Catalogue::embedded`] reads that file and a
//! test keeps the two in step. Strings are the stable wire form used in tokens, protocols,
//! GraphQL and the access log.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A value outside the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownValue {
    /// What was being parsed, e.g. `purpose`.
    pub kind: &'static str,
    /// The value as given (never personal data: these are codes).
    pub value: String,
}

macro_rules! catalogue_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($(#[$vdoc:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in catalogue order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable wire form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$variant),)+
                    _ => Err(UnknownValue { kind: $kind, value: s.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

catalogue_enum!(
    /// What a piece of data is about; the unit the gate decides on. One category per fact.
    DataCategory, "data category" {
        PersonIdentity = "person.identity",
        PersonContact = "person.contact",
        PersonRelationships = "person.relationships",
        PersonEthnicity = "person.ethnicity",
        PersonInvolvements = "person.involvements",
        HealthUnscheduledCare = "health.unscheduled_care",
        HealthCondition = "health.condition",
        HealthDevelopment = "health.development",
        HealthMentalHealth = "health.mental_health",
        HealthSexualHealth = "health.sexual_health",
        HealthSubstanceMisuse = "health.substance_misuse",
        EducationEnrolment = "education.enrolment",
        EducationAttendance = "education.attendance",
        EducationExclusions = "education.exclusions",
        EducationFsm = "education.fsm",
        EducationSen = "education.sen",
        PoliceIncident = "police.incident",
        PoliceDomesticAbuse = "police.domestic_abuse",
        PoliceMissingEpisode = "police.missing_episode",
        PoliceExploitation = "police.exploitation",
        PoliceYouthJustice = "police.youth_justice",
        SocialCareContactReferral = "social_care.contact_referral",
        SocialCareAssessment = "social_care.assessment",
        SocialCareChildInNeed = "social_care.child_in_need",
        SocialCareChildProtection = "social_care.child_protection",
        SocialCareChildProtectionFlag = "social_care.child_protection_flag",
        SocialCareLookedAfter = "social_care.looked_after",
        EarlyHelpAssessment = "early_help.assessment",
        EarlyHelpPlan = "early_help.plan",
        EarlyHelpFamilyOutcomes = "early_help.family_outcomes",
    }
);

impl DataCategory {
    /// The part before the dot: `person`, `health`, `education`, `police`, `social_care`,
    /// `early_help`. Protocols may grant a whole family of categories as `health.*`.
    pub fn family(self) -> &'static str {
        let s = self.as_str();
        s.split_once('.').map_or(s, |(head, _)| head)
    }
}

catalogue_enum!(
    /// Why a principal reads: declared on every request in the `Kinship-Purpose` header.
    Purpose, "purpose" {
        /// Possible significant harm: MASH, s47, child protection, Operation Encompass.
        Safeguarding = "safeguarding",
        /// Voluntary support below the statutory threshold; needs consent.
        EarlyHelp = "early_help",
        /// Individual care by health or care professionals.
        DirectCare = "direct_care",
        /// Attendance, SEND and inclusion duties.
        EducationSupport = "education_support",
        /// Police or youth justice preventing or detecting crime.
        CrimePrevention = "crime_prevention",
        /// Board and DPO oversight of access; never fact content.
        Audit = "audit",
        /// Aggregate indicators and returns; never a person.
        Statistics = "statistics",
        /// Keeping the hub's record of a person accurate: reviewing, confirming and undoing
        /// links between agencies' records. Identity only.
        RecordLinkage = "record_linkage",
    }
);

catalogue_enum!(
    /// A job a principal does; carried in the token's `roles` claim.
    Role, "role" {
        Dsl = "dsl",
        MashOfficer = "mash_officer",
        SocialWorker = "social_worker",
        EarlyHelpPractitioner = "early_help_practitioner",
        HealthVisitor = "health_visitor",
        Gp = "gp",
        EdClinician = "ed_clinician",
        PoliceOfficer = "police_officer",
        YjsOfficer = "yjs_officer",
        BoardMember = "board_member",
        Dpo = "dpo",
        SystemAdmin = "system_admin",
        DataSteward = "data_steward",
    }
);

catalogue_enum!(
    /// The kind of organisation a principal works for or a record came from. Protocols name
    /// their parties by kind.
    AgencyKind, "agency kind" {
        LocalAuthority = "local_authority",
        Police = "police",
        AcuteTrust = "acute_trust",
        CommunityTrust = "community_trust",
        MentalHealthTrust = "mental_health_trust",
        GpPractice = "gp_practice",
        School = "school",
    }
);

catalogue_enum!(
    /// The sector a fact came from: the agency of DOMAIN.md §1.
    Agency, "agency" {
        Health = "health",
        Education = "education",
        Police = "police",
        SocialCare = "social_care",
        EarlyHelp = "early_help",
    }
);

catalogue_enum!(
    /// The kind of a professional's legitimate relationship with a child or family.
    InvolvementKind, "involvement kind" {
        AllocatedSocialWorker = "allocated_social_worker",
        MashEnquiry = "mash_enquiry",
        LeadProfessional = "lead_professional",
        TafMember = "taf_member",
        HealthVisitorCaseload = "health_visitor_caseload",
        InvestigatingOfficer = "investigating_officer",
        DslCurrentSchool = "dsl_current_school",
        RegisteredGp = "registered_gp",
        TreatingClinician = "treating_clinician",
    }
);

/// An organisation's id, `<agency kind>:<code>`, e.g. `school:8012000` or `acute_trust:RXX`.
/// The kind is part of the id so a token's `agency` claim says what kind of body it is.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrganisationId {
    kind: AgencyKind,
    id: String,
}

impl OrganisationId {
    /// An id from its kind and local code.
    pub fn new(kind: AgencyKind, code: &str) -> Self {
        Self {
            kind,
            id: format!("{}:{code}", kind.as_str()),
        }
    }

    /// The kind of organisation.
    pub fn kind(&self) -> AgencyKind {
        self.kind
    }

    /// The whole id.
    pub fn as_str(&self) -> &str {
        &self.id
    }
}

impl FromStr for OrganisationId {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || UnknownValue {
            kind: "organisation id",
            value: s.to_owned(),
        };
        let (kind, code) = s.split_once(':').ok_or_else(bad)?;
        if code.is_empty()
            || !code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(bad());
        }
        let kind = kind.parse().map_err(|_| bad())?;
        Ok(Self {
            kind,
            id: s.to_owned(),
        })
    }
}

impl TryFrom<String> for OrganisationId {
    type Error = UnknownValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<OrganisationId> for String {
    fn from(o: OrganisationId) -> Self {
        o.id
    }
}

impl fmt::Display for OrganisationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl fmt::Debug for OrganisationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrganisationId({})", self.id)
    }
}

/// How data of a category is classed in law (DOMAIN.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// Ordinary personal data.
    Personal,
    /// Personal data an abuser could exploit (addresses, relationships): can be shielded.
    Shieldable,
    /// Personal data whose loss puts the child at high risk.
    HighRisk,
    /// UK GDPR Article 9 special-category data.
    SpecialCategory,
    /// Article 9 data that needs explicit consent outside safeguarding.
    SpecialCategoryHeightened,
    /// Article 10 criminal-offence data.
    CriminalOffence,
    /// Both Article 9 and Article 10.
    SpecialAndCriminal,
}

/// One category's entry in `schema/catalogue.toml`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryEntry {
    /// Which agencies typically hold it.
    pub held_by: String,
    /// What it covers.
    pub meaning: String,
    /// Its class in law.
    pub class: DataClass,
}

/// A described code: a purpose, role, agency kind or involvement kind.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Described {
    /// What it means.
    pub meaning: String,
}

/// `schema/catalogue.toml`, read.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// Data categories by wire name.
    pub categories: BTreeMap<String, CategoryEntry>,
    /// Purposes of use by wire name.
    pub purposes: BTreeMap<String, Described>,
    /// Roles by wire name.
    pub roles: BTreeMap<String, Described>,
    /// Agency kinds by wire name.
    pub agency_kinds: BTreeMap<String, Described>,
    /// Agencies (sectors) by wire name.
    pub agencies: BTreeMap<String, Described>,
    /// Involvement kinds by wire name.
    pub involvement_kinds: BTreeMap<String, Described>,
}

/// The catalogue file as shipped.
pub const CATALOGUE_TOML: &str = include_str!("../../schema/catalogue.toml");

impl Catalogue {
    /// The catalogue compiled into this binary.
    pub fn embedded() -> &'static Catalogue {
        static CATALOGUE: std::sync::OnceLock<Catalogue> = std::sync::OnceLock::new();
        CATALOGUE.get_or_init(|| match toml::from_str(CATALOGUE_TOML) {
            Ok(c) => c,
            // The file is compiled in and checked by a unit test; a failure here is a build defect.
            Err(e) => panic!("schema/catalogue.toml does not parse: {e}"),
        })
    }

    /// The class of a category.
    pub fn class(&self, category: DataCategory) -> Option<DataClass> {
        self.categories.get(category.as_str()).map(|c| c.class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_keys<T: Copy + fmt::Display>(all: &[T], listed: Vec<&String>, what: &str) {
        let mut code: Vec<String> = all.iter().map(|v| v.to_string()).collect();
        code.sort();
        let mut file: Vec<String> = listed.into_iter().cloned().collect();
        file.sort();
        assert_eq!(
            code, file,
            "{what}: the enum and schema/catalogue.toml differ"
        );
    }

    #[test]
    fn catalogue_file_lists_exactly_the_values_the_code_knows() {
        let c = Catalogue::embedded();
        same_keys(
            DataCategory::ALL,
            c.categories.keys().collect(),
            "categories",
        );
        same_keys(Purpose::ALL, c.purposes.keys().collect(), "purposes");
        same_keys(Role::ALL, c.roles.keys().collect(), "roles");
        same_keys(
            AgencyKind::ALL,
            c.agency_kinds.keys().collect(),
            "agency kinds",
        );
        same_keys(Agency::ALL, c.agencies.keys().collect(), "agencies");
        same_keys(
            InvolvementKind::ALL,
            c.involvement_kinds.keys().collect(),
            "involvement kinds",
        );
    }

    #[test]
    fn the_connector_sdk_knows_the_same_catalogue() {
        use kinship_connector_sdk::catalogue as sdk;
        let names = |all: &[&str]| {
            let mut v: Vec<String> = all.iter().map(|s| s.to_string()).collect();
            v.sort();
            v
        };
        let hub = |all: Vec<String>| {
            let mut v = all;
            v.sort();
            v
        };
        assert_eq!(
            names(sdk::CATEGORIES),
            hub(DataCategory::ALL.iter().map(|c| c.to_string()).collect())
        );
        assert_eq!(
            names(sdk::AGENCIES),
            hub(Agency::ALL.iter().map(|c| c.to_string()).collect())
        );
        assert_eq!(
            names(sdk::AGENCY_KINDS),
            hub(AgencyKind::ALL.iter().map(|c| c.to_string()).collect())
        );
        assert_eq!(
            names(sdk::IDENTIFIER_SYSTEMS),
            hub(crate::model::IdentifierSystem::ALL
                .iter()
                .map(|c| c.to_string())
                .collect())
        );
    }

    #[test]
    fn every_value_round_trips_through_its_wire_form() {
        for c in DataCategory::ALL {
            assert_eq!(c.as_str().parse::<DataCategory>(), Ok(*c));
        }
        for p in Purpose::ALL {
            assert_eq!(p.as_str().parse::<Purpose>(), Ok(*p));
        }
        assert!("fishing".parse::<Purpose>().is_err());
    }

    #[test]
    fn organisation_ids_carry_their_kind_and_reject_junk() {
        let school: OrganisationId = "school:8012000".parse().expect("valid id");
        assert_eq!(school.kind(), AgencyKind::School);
        assert_eq!(school, OrganisationId::new(AgencyKind::School, "8012000"));
        for bad in [
            "school",
            "school:",
            "bank:1",
            ":1",
            "school:a b",
            "school:x;y",
        ] {
            assert!(bad.parse::<OrganisationId>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn category_family_is_the_prefix() {
        assert_eq!(DataCategory::HealthMentalHealth.family(), "health");
        assert_eq!(DataCategory::SocialCareLookedAfter.family(), "social_care");
    }
}
