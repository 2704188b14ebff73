//! `kinship connector new|list`: scaffold a connector crate; list the built-in kinds.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::CliError;
use crate::model::{Agency, DataCategory};

#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Scaffold a working connector crate, with a loopback feed and a conformance test that
    /// passes, to adapt to a new source. See docs/connectors.md.
    New {
        /// The connector's name: lowercase letters, digits and hyphens (e.g. `housing`).
        name: String,
        /// The agency whose data it carries: health, education, police, social_care,
        /// early_help.
        #[arg(long)]
        agency: String,
        /// The first data category it emits (default: the agency's first in the catalogue).
        #[arg(long)]
        category: Option<String>,
        /// Where to create the crate's folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// The connector kinds this hub runs, with each one's manifest and settings schema.
    List,
}

const CARGO: &str = include_str!("scaffold/Cargo.toml.tmpl");
const LIB: &str = include_str!("scaffold/lib.rs.tmpl");
const FEED: &str = include_str!("scaffold/feed.rs.tmpl");
const CONFORMANCE: &str = include_str!("scaffold/conformance.rs.tmpl");

fn camel(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Writes the scaffold for `name` under `dir`, returning the crate's folder.
pub fn scaffold(
    name: &str,
    agency: &str,
    category: Option<&str>,
    dir: &Path,
    sdk: &Path,
) -> Result<PathBuf, CliError> {
    let name_ok = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        return Err(CliError::Usage(format!(
            "connector name `{name}`: use lowercase letters, digits and hyphens, starting with a letter"
        )));
    }
    let agency: Agency = agency
        .parse()
        .map_err(|e| CliError::Usage(format!("--agency: {e}")))?;
    let category = match category {
        Some(c) => c
            .parse::<DataCategory>()
            .map_err(|e| CliError::Usage(format!("--category: {e}")))?,
        None => DataCategory::ALL
            .iter()
            .copied()
            .find(|c| c.family() == agency.as_str())
            .unwrap_or(DataCategory::PersonIdentity),
    };
    let root = dir.join(name);
    if root.exists() {
        return Err(CliError::Usage(format!(
            "`{}` already exists",
            root.display()
        )));
    }
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{snake}}", &name.replace('-', "_"))
            .replace("{{Name}}", &camel(name))
            .replace("{{agency}}", agency.as_str())
            .replace("{{category}}", category.as_str())
            .replace("{{sdk_path}}", &sdk.display().to_string())
    };
    std::fs::create_dir_all(root.join("src"))?;
    std::fs::create_dir_all(root.join("tests"))?;
    // A workspace of its own, so it builds wherever it is created; move it into the hub's
    // workspace members (and drop this table) to ship it as a built-in connector.
    std::fs::write(root.join("Cargo.toml"), fill(CARGO) + "\n[workspace]\n")?;
    std::fs::write(root.join("src/lib.rs"), fill(LIB))?;
    std::fs::write(root.join("src/feed.rs"), fill(FEED))?;
    std::fs::write(root.join("tests/conformance.rs"), fill(CONFORMANCE))?;
    Ok(root)
}

/// `kinship connector ...`.
pub fn run(command: ConnectorCommand) -> Result<(), CliError> {
    match command {
        ConnectorCommand::New {
            name,
            agency,
            category,
            dir,
        } => {
            let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors/sdk");
            let root = scaffold(&name, &agency, category.as_deref(), &dir, &sdk)?;
            println!("created {}", root.display());
            println!(
                "next: cd {} && cargo test   (the conformance kit runs against its loopback feed)",
                root.display()
            );
            println!(
                "then: replace FeedRecord and envelope() with your source's format; see docs/connectors.md"
            );
            Ok(())
        }
        ConnectorCommand::List => {
            for kind in crate::sync::registry::KINDS {
                let manifest = crate::sync::registry::manifest(kind).map_err(CliError::Failed)?;
                println!(
                    "{kind} ({} {}): {}",
                    manifest.agency,
                    manifest.version,
                    manifest.categories.join(", ")
                );
                println!(
                    "  settings schema: {}",
                    serde_json::to_string(&manifest.config_schema).unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}
