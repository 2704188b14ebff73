//! The catalogue names a connector may use. The hub's catalogue (`schema/catalogue.toml`) is
//! the source; a hub test fails if these lists drift from it.

/// Every data category.
pub const CATEGORIES: &[&str] = &[
    "person.identity",
    "person.contact",
    "person.relationships",
    "person.ethnicity",
    "person.involvements",
    "health.unscheduled_care",
    "health.condition",
    "health.development",
    "health.mental_health",
    "health.sexual_health",
    "health.substance_misuse",
    "education.enrolment",
    "education.attendance",
    "education.exclusions",
    "education.fsm",
    "education.sen",
    "police.incident",
    "police.domestic_abuse",
    "police.missing_episode",
    "police.exploitation",
    "police.youth_justice",
    "social_care.contact_referral",
    "social_care.assessment",
    "social_care.child_in_need",
    "social_care.child_protection",
    "social_care.child_protection_flag",
    "social_care.looked_after",
    "early_help.assessment",
    "early_help.plan",
    "early_help.family_outcomes",
];

/// The agencies (sectors) a connector may carry.
pub const AGENCIES: &[&str] = &["health", "education", "police", "social_care", "early_help"];

/// The identifier systems the hub checks and links on.
pub const IDENTIFIER_SYSTEMS: &[&str] =
    &["nhs_number", "upn", "former_upn", "pnc_id", "la_person_id"];

/// The agency kinds an organisation id may start with (`<kind>:<code>`).
pub const AGENCY_KINDS: &[&str] = &[
    "local_authority",
    "police",
    "acute_trust",
    "community_trust",
    "mental_health_trust",
    "gp_practice",
    "school",
];

/// The relationship kinds a record may declare.
pub const RELATIONSHIP_KINDS: &[&str] =
    &["parent", "carer", "child", "sibling", "household_member"];

/// Whether `id` is an organisation id of a known kind with a non-empty code.
pub fn is_organisation_id(id: &str) -> bool {
    id.split_once(':').is_some_and(|(kind, code)| {
        AGENCY_KINDS.contains(&kind)
            && !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    })
}
