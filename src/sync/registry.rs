//! The built-in connectors, by kind.

use kinship_connector_sdk::{DynConnector, Manifest};

/// The kinds this hub can run.
pub const KINDS: &[&str] = &[
    kinship_connector_health::KIND,
    kinship_connector_education::KIND,
    kinship_connector_police::KIND,
    kinship_connector_social_care::KIND,
];

/// Builds a connector of `kind` from its settings.
pub fn build(kind: &str, settings: serde_json::Value) -> Result<Box<dyn DynConnector>, String> {
    let built: Box<dyn DynConnector> = match kind {
        kinship_connector_health::KIND => Box::new(
            kinship_connector_health::HealthConnector::from_json(settings)
                .map_err(|e| e.to_string())?,
        ),
        kinship_connector_education::KIND => Box::new(
            kinship_connector_education::EducationConnector::from_json(settings)
                .map_err(|e| e.to_string())?,
        ),
        kinship_connector_police::KIND => Box::new(
            kinship_connector_police::PoliceConnector::from_json(settings)
                .map_err(|e| e.to_string())?,
        ),
        kinship_connector_social_care::KIND => Box::new(
            kinship_connector_social_care::SocialCareConnector::from_json(settings)
                .map_err(|e| e.to_string())?,
        ),
        _ => {
            return Err(format!(
                "unknown connector kind `{kind}`; this hub knows: {}",
                KINDS.join(", ")
            ));
        }
    };
    Ok(built)
}

/// The manifest of a kind, from a connector built with placeholder settings.
pub fn manifest(kind: &str) -> Result<Manifest, String> {
    let placeholder = serde_json::json!({ "base_url": "http://127.0.0.1:1" });
    build(kind, placeholder).map(|c| c.manifest())
}
