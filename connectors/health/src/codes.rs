//! The FHIR vocabulary both directions share: resource types, code systems, extension URLs
//! and the code tables that map FHIR codes onto Kinship fact kinds, data categories and
//! relationship kinds. The parser reads with these and the feed renders with them, so a code
//! the feed writes is always one the parser knows.
//!
//! The SNOMED CT sets are illustrative, as in the hub's synthetic population: check them
//! against a terminology server (and the trust's own subsets) before relying on a mapping.
//!
//! Limits: constants and pure lookups only; imports nothing from the rest of the crate.

use serde::{Deserialize, Serialize};

/// NHS number identifier system (UK Core `Patient.identifier:nhsNumber`).
pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
/// ODS organisation code identifier system.
pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
/// The UK Core NHS number verification status extension.
pub const NHS_VERIFICATION_EXTENSION: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus";
/// The code system of the verification status; `01` = number present and verified.
pub const NHS_VERIFICATION_SYSTEM: &str =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland";
/// The UK Core address key extension, carrying a UPRN (verify against the published profile).
pub const ADDRESS_KEY_EXTENSION: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AddressKey";
/// The address key type code system (`uprn`, `paf`).
pub const ADDRESS_KEY_TYPE_SYSTEM: &str =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-AddressKeyType";
/// HL7 v3 ActCode: `Encounter.class`.
pub const ACT_CODE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// HL7 v3 ActPriority: `Encounter.priority`.
pub const ACT_PRIORITY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActPriority";
/// HL7 v3 RoleCode: `RelatedPerson.relationship`.
pub const ROLE_CODE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
/// SNOMED CT.
pub const SNOMED_SYSTEM: &str = "http://snomed.info/sct";
/// `Condition.clinicalStatus`.
pub const CONDITION_CLINICAL_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/condition-clinical";
/// `Condition.verificationStatus`.
pub const CONDITION_VERIFICATION_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/condition-ver-status";
/// `Condition.category` (problem list item, encounter diagnosis).
pub const CONDITION_CATEGORY_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/condition-category";

/// **Kinship:** the fact kind of an `Encounter.type`, a `Condition.category` or a `Flag.code`:
/// its codes are the hub's kind names (`development_review`, `camhs_referral`...), see
/// [`KINDS`].
pub const FACT_KIND_SYSTEM: &str = "https://kinship.invalid/fhir/CodeSystem/encounter-kind";
/// **Kinship:** a data category from the hub's catalogue, the fallback for a fact kind this
/// table does not know.
pub const DATA_CATEGORY_SYSTEM: &str = "https://kinship.invalid/fhir/CodeSystem/data-category";
/// **Kinship:** CP-IS flag codes on `Flag.code`: `CPP` child protection plan, `LAC` looked
/// after child, `UCPP` unborn child protection plan.
pub const CP_FLAG_SYSTEM: &str = "https://kinship.invalid/fhir/CodeSystem/cp-is-flag";
/// **Kinship:** whether a `RelatedPerson` holds parental responsibility for the patient
/// (`valueBoolean`); without it the relationship code decides, see [`relationship_from_code`].
pub const PARENTAL_RESPONSIBILITY_EXTENSION: &str =
    "https://kinship.invalid/fhir/StructureDefinition/parental-responsibility";
/// **Kinship:** a `RelatedPerson`'s local identifier, whose `assigner` names the organisation
/// holding the record (the resource has no organisation element of its own).
pub const RELATED_PERSON_ID_SYSTEM: &str = "https://kinship.invalid/fhir/Id/related-person";
/// **Kinship:** prefix of identifier systems for the hub's other catalogue identifiers
/// (`.../upn`, `.../la_person_id`...), which a health record rarely holds.
pub const CATALOGUE_ID_PREFIX: &str = "https://kinship.invalid/fhir/Id/";

/// The UK Core profiles the feed declares in `meta.profile`.
pub const PROFILE_PREFIX: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-";

/// The resource types the connector reads, in the order it pulls them.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum ResourceType {
    Patient,
    RelatedPerson,
    Encounter,
    Condition,
    Flag,
}

impl ResourceType {
    /// All five, in pull order.
    pub const ALL: [ResourceType; 5] = [
        ResourceType::Patient,
        ResourceType::RelatedPerson,
        ResourceType::Encounter,
        ResourceType::Condition,
        ResourceType::Flag,
    ];

    /// The FHIR name, as in URLs and `resourceType`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "Patient",
            Self::RelatedPerson => "RelatedPerson",
            Self::Encounter => "Encounter",
            Self::Condition => "Condition",
            Self::Flag => "Flag",
        }
    }

    /// Parses the FHIR name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Its position in [`Self::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A fact kind the connector knows: its data category and a display for codes and summaries.
pub struct Kind {
    pub kind: &'static str,
    pub category: &'static str,
    pub display: &'static str,
}

const fn k(kind: &'static str, category: &'static str, display: &'static str) -> Kind {
    Kind {
        kind,
        category,
        display,
    }
}

/// Every fact kind the connector emits (the hub population's health kinds, the CP-IS flag and
/// the few the format implies, such as an admission or a condition of a heightened category).
pub const KINDS: &[Kind] = &[
    k(
        "ed_attendance",
        "health.unscheduled_care",
        "Emergency department attendance",
    ),
    k("admission", "health.unscheduled_care", "Hospital admission"),
    k(
        "self_harm_attendance",
        "health.mental_health",
        "Emergency department attendance after self-harm",
    ),
    k(
        "development_review",
        "health.development",
        "Health visiting development review",
    ),
    k(
        "immunisation",
        "health.development",
        "Childhood immunisations",
    ),
    k(
        "camhs_referral",
        "health.mental_health",
        "Referral to CAMHS",
    ),
    k(
        "sexual_health_contact",
        "health.sexual_health",
        "Sexual health service contact",
    ),
    k(
        "substance_misuse_referral",
        "health.substance_misuse",
        "Referral to drug and alcohol service",
    ),
    k("encounter", "health.condition", "Health encounter"),
    k("condition", "health.condition", "Condition"),
    k(
        "mental_health_condition",
        "health.mental_health",
        "Mental health condition",
    ),
    k(
        "sexual_health_condition",
        "health.sexual_health",
        "Sexual health condition",
    ),
    k(
        "substance_misuse_condition",
        "health.substance_misuse",
        "Substance misuse condition",
    ),
    k(
        "cp_flag",
        "social_care.child_protection_flag",
        "Child protection information sharing flag",
    ),
];

/// The kind named `name`, if the table knows it.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.kind == name)
}

/// Every data category the connector may emit: those of [`KINDS`] and the identity record's.
pub fn categories() -> Vec<String> {
    let mut out: Vec<String> = ["person.identity", "person.contact", "person.relationships"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for k in KINDS {
        if !out.iter().any(|c| c == k.category) {
            out.push(k.category.to_owned());
        }
    }
    out
}

/// SNOMED CT codes that make an attendance a self-harm attendance.
pub const SELF_HARM_CODES: &[&str] = &[
    "248062006", // Self-injurious behaviour
    "287182007", // Self inflicted injury
    "82313006",  // Suicide attempt
];

/// SNOMED CT condition codes of the mental health category (neurodevelopmental diagnoses such
/// as ADHD and autism stay `health.condition`, as the hub's population records them).
const MENTAL_HEALTH_CODES: &[&str] = &[
    "35489007",  // Depressive disorder
    "370143000", // Major depressive disorder
    "197480006", // Anxiety disorder
    "13746004",  // Bipolar disorder
    "58214004",  // Schizophrenia
    "47505003",  // Posttraumatic stress disorder
    "56882008",  // Anorexia nervosa
    "78004001",  // Bulimia nervosa
    "248062006", // Self-injurious behaviour
];

/// SNOMED CT condition codes of the sexual health category.
const SEXUAL_HEALTH_CODES: &[&str] = &[
    "8098009",   // Sexually transmitted infectious disease
    "105629000", // Chlamydial infection
    "15628003",  // Gonorrhoea
    "86406008",  // HIV infection
    "77386006",  // Pregnancy
];

/// SNOMED CT condition codes of the substance misuse category.
const SUBSTANCE_MISUSE_CODES: &[&str] = &[
    "66214007",  // Substance abuse
    "26416006",  // Drug abuse
    "191816009", // Drug dependence
    "15167005",  // Alcohol abuse
    "7200002",   // Alcoholism
];

/// The category a SNOMED CT condition code belongs to, when it is in a heightened set.
pub fn condition_category(snomed: &str) -> Option<&'static str> {
    if MENTAL_HEALTH_CODES.contains(&snomed) {
        Some("health.mental_health")
    } else if SEXUAL_HEALTH_CODES.contains(&snomed) {
        Some("health.sexual_health")
    } else if SUBSTANCE_MISUSE_CODES.contains(&snomed) {
        Some("health.substance_misuse")
    } else {
        None
    }
}

/// The condition kind of a category.
pub fn condition_kind(category: &str) -> &'static str {
    match category {
        "health.mental_health" => "mental_health_condition",
        "health.sexual_health" => "sexual_health_condition",
        "health.substance_misuse" => "substance_misuse_condition",
        _ => "condition",
    }
}

/// The CP-IS flag codes.
pub const CP_FLAG_CODES: &[(&str, &str)] = &[
    ("CPP", "Child protection plan"),
    ("LAC", "Looked after child"),
    ("UCPP", "Unborn child protection plan"),
];

/// What a `RelatedPerson.relationship` code says, read from the related person's side: how
/// the patient stands to them (a Kinship relationship kind) and whether the code implies
/// parental responsibility.
pub fn relationship_from_code(code: &str) -> Option<(&'static str, Option<bool>)> {
    Some(match code {
        // A mother has parental responsibility from birth, adoptive parents from the order.
        "MTH" | "NMTH" | "GESTM" | "ADOPTM" | "ADOPTF" | "ADOPTP" => ("child", Some(true)),
        // A father or parent may or may not have it: the code does not say.
        "FTH" | "NFTH" | "PRN" | "NPRN" => ("child", None),
        // Foster carers act for the local authority, which holds responsibility with the
        // parents; step-parents and grandparents need an order.
        "PRNFOST" | "MTHFOST" | "FTHFOST" => ("child", Some(false)),
        "STPPRN" | "STPMTH" | "STPFTH" | "GRPRN" | "GRMTH" | "GRFTH" => ("child", None),
        "SIB" | "BRO" | "SIS" | "HSIB" | "HBRO" | "HSIS" | "NSIB" | "NBRO" | "NSIS" | "STPSIB"
        | "STPBRO" | "STPSIS" | "TWIN" | "TWINBRO" | "TWINSIS" => ("sibling", None),
        "CHILD" | "SONC" | "DAUC" | "NCHILD" | "SON" | "DAU" | "CHLDADOPT" | "CHLDFOST"
        | "STPCHLD" => ("parent", None),
        "ROOM" => ("household_member", None),
        _ => return None,
    })
}

/// The v3 RoleCode (and display) for a related person who stands to the patient as `kind`
/// (an envelope relationship kind), by the related person's sex.
pub fn relationship_code(kind: &str, sex: Option<&str>) -> Option<(&'static str, &'static str)> {
    Some(match (kind, sex) {
        ("parent", Some("female")) => ("MTH", "mother"),
        ("parent", Some("male")) => ("FTH", "father"),
        ("parent", _) => ("PRN", "parent"),
        ("carer", Some("female")) => ("STPMTH", "stepmother"),
        ("carer", Some("male")) => ("STPFTH", "stepfather"),
        ("carer", _) => ("STPPRN", "step parent"),
        ("sibling", _) => ("SIB", "sibling"),
        ("child", _) => ("CHILD", "child"),
        ("household_member", _) => ("ROOM", "roommate"),
        _ => return None,
    })
}

/// The FHIR `HumanName.use` a Kinship name usage reads from, and back.
pub fn name_use(fhir: &str) -> Option<&'static str> {
    Some(match fhir {
        "official" => "official",
        "usual" | "temp" => "usual",
        "nickname" => "nickname",
        "maiden" => "maiden",
        "old" => "old",
        _ => return None,
    })
}

/// The Kinship address usage of a FHIR `Address.use`; work and billing addresses say nothing
/// about where a child lives and are skipped.
pub fn address_use(fhir: &str) -> Option<&'static str> {
    Some(match fhir {
        "home" => "home",
        "temp" => "temp",
        "old" => "old",
        _ => return None,
    })
}

/// The FHIR `Address.use` of a Kinship address usage: FHIR has no placement address, the
/// nearest is a temporary one.
pub fn fhir_address_use(usage: &str) -> &'static str {
    match usage {
        "old" => "old",
        "temp" | "placement" => "temp",
        _ => "home",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_catalogue_category() {
        for k in KINDS {
            assert!(
                kinship_connector_sdk::catalogue::CATEGORIES.contains(&k.category),
                "{}",
                k.kind
            );
        }
    }

    #[test]
    fn rendered_relationship_codes_read_back_as_the_inverse_kind() {
        for (kind, inverse) in [
            ("parent", "child"),
            ("carer", "child"),
            ("child", "parent"),
            ("sibling", "sibling"),
            ("household_member", "household_member"),
        ] {
            for sex in [Some("female"), Some("male"), None] {
                let (code, _) = relationship_code(kind, sex).expect("a code");
                assert_eq!(
                    relationship_from_code(code).map(|r| r.0),
                    Some(inverse),
                    "{kind}"
                );
            }
        }
    }

    #[test]
    fn neurodevelopmental_codes_stay_general_conditions() {
        assert_eq!(condition_category("406506008"), None, "ADHD");
        assert_eq!(condition_category("35919005"), None, "autism");
        assert_eq!(condition_category("35489007"), Some("health.mental_health"));
    }
}
