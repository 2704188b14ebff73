//! `kinship audit ...`: checks on the access log.

use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use super::hub;
use crate::audit::AccessLog;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and name the first entry that was changed, removed, inserted
    /// or reordered. Exits non-zero when the chain is broken.
    Verify {
        /// Start at this entry (1 = the first).
        #[arg(long, default_value_t = 1)]
        from: i64,
        #[arg(long, short = 'c', env = "KINSHIP_CONFIG")]
        config: Option<PathBuf>,
    },
}

pub async fn run(command: AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::Verify { from, config } => {
            let mut config = crate::config::Config::load(config.as_deref())?;
            config.validate_store()?;
            config.database.migrate_on_start = false;
            let store = hub::open_store(&config).await?;
            let report = AccessLog::new(store.clone()).verify(from).await?;
            store.close().await?;
            match &report.first_break {
                None => {
                    println!(
                        "access log intact: {} entries checked up to #{} in {:.2} s",
                        report.checked, report.head, report.seconds
                    );
                    Ok(())
                }
                Some((seq, kind)) => Err(CliError::Failed(format!(
                    "access log broken at entry #{seq}: {}",
                    serde_json::to_string(kind).unwrap_or_default()
                ))),
            }
        }
    }
}
