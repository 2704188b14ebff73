//! The built-in connectors, by kind.

use kinship_connector_sdk::DynConnector;

/// The kinds this hub can run.
pub const KINDS: &[&str] = &[];

/// Builds a connector of `kind` from its settings.
pub fn build(kind: &str, _settings: serde_json::Value) -> Result<Box<dyn DynConnector>, String> {
    Err(format!(
        "unknown connector kind `{kind}`; this hub knows: {}",
        KINDS.join(", ")
    ))
}
