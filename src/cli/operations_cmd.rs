//! `kinship operations ...`: the registered operations (trusted documents) partner
//! applications may run.

use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use super::hub;
use crate::gate::operations::{Registry, read_operations};

#[derive(Debug, Subcommand)]
pub enum OperationsCommand {
    /// Register the documents an application runs: `.graphql` files (one named operation
    /// each) or an Apollo persisted-query manifest (`.json`).
    Register {
        /// The application that runs them (`school-portal`, `mash-case-system`, ...).
        #[arg(long)]
        application: String,
        /// Who approved them (the board's decision, the DPO).
        #[arg(long)]
        approved_by: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, short = 'c', env = "KINSHIP_CONFIG")]
        config: Option<PathBuf>,
    },
    /// List the registered operations with how often each ran.
    List {
        /// Withdrawn operations too.
        #[arg(long)]
        all: bool,
        #[arg(long, short = 'c', env = "KINSHIP_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Withdraw an operation: a hub that requires registration no longer runs it.
    Withdraw {
        id: String,
        #[arg(long, short = 'c', env = "KINSHIP_CONFIG")]
        config: Option<PathBuf>,
    },
}

async fn registry(config: Option<&std::path::Path>) -> Result<Registry, CliError> {
    let config = crate::config::Config::load(config)?;
    config.validate_store()?;
    Ok(Registry::new(hub::open_store(&config).await?))
}

/// Who registered from the command line: the operating-system user.
fn operator() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

pub async fn run(command: OperationsCommand) -> Result<(), CliError> {
    match command {
        OperationsCommand::Register {
            application,
            approved_by,
            files,
            config,
        } => {
            let mut ops = Vec::new();
            for file in &files {
                let text = std::fs::read_to_string(file)?;
                let manifest = file.extension().is_some_and(|e| e == "json");
                ops.extend(
                    read_operations(&text, manifest, &application, &approved_by)
                        .map_err(|e| CliError::Failed(format!("{}: {e}", file.display())))?,
                );
            }
            let registry = registry(config.as_deref()).await?;
            let added = registry
                .register(&ops, &operator())
                .await
                .map_err(|e| CliError::Failed(e.to_string()))?;
            for id in &added {
                println!("registered {id}");
            }
            println!(
                "{} of {} operations registered for `{application}` ({} already were)",
                added.len(),
                ops.len(),
                ops.len() - added.len()
            );
            Ok(())
        }
        OperationsCommand::List { all, config } => {
            let registry = registry(config.as_deref()).await?;
            let mut ops = registry.with_use().await?;
            ops.retain(|u| all || u.row.withdrawn_at.is_none());
            println!("id\tapplication\tname\tkind\tapproved by\tuses\tlast used\twithdrawn");
            for u in ops {
                let r = u.row;
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.id,
                    r.application,
                    r.name.unwrap_or_default(),
                    r.kind,
                    r.approved_by,
                    u.uses,
                    u.last_used.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    r.withdrawn_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                );
            }
            Ok(())
        }
        OperationsCommand::Withdraw { id, config } => {
            let registry = registry(config.as_deref()).await?;
            if registry.withdraw(&id).await? {
                println!("withdrew {id}");
                Ok(())
            } else {
                Err(CliError::Failed(format!(
                    "no registered operation in force has id `{id}`"
                )))
            }
        }
    }
}
