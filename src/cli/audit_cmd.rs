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
        /// Check an extract written by `audit export` instead of the database.
        #[arg(long)]
        extract: Option<PathBuf>,
        /// The Ed25519 public key (hex) every checkpoint must be signed by (default: the
        /// configured checkpoint key's).
        #[arg(long)]
        public_key: Option<String>,
        #[arg(long, short = 'c', env = "KINSHIP_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Write entries as JSON Lines with the chain data needed to verify the extract on its
    /// own (`audit verify --extract FILE`).
    Export {
        #[arg(long, default_value_t = 1)]
        from: i64,
        /// The last entry (default: the head).
        #[arg(long)]
        to: Option<i64>,
        /// The file to write (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, short = 'c', env = "KINSHIP_CONFIG")]
        config: Option<PathBuf>,
    },
}

fn report(report: &crate::audit::Verification) -> Result<(), CliError> {
    match &report.first_break {
        None => {
            println!(
                "access log intact: {} entries checked up to #{}, {} signed checkpoints, in {:.2} s",
                report.checked, report.head, report.checkpoints, report.seconds
            );
            Ok(())
        }
        Some((seq, kind)) => Err(CliError::Failed(format!(
            "access log broken at entry #{seq}: {}",
            serde_json::to_string(kind).unwrap_or_default()
        ))),
    }
}

async fn open(config: Option<&std::path::Path>) -> Result<crate::store::Store, CliError> {
    let mut config = crate::config::Config::load(config)?;
    config.validate_store()?;
    config.database.migrate_on_start = false;
    hub::open_store(&config).await
}

pub async fn run(command: AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::Verify {
            extract: Some(file),
            ..
        } => {
            let input = std::io::BufReader::new(std::fs::File::open(&file)?);
            let verified = crate::audit::verify_extract(input)
                .map_err(|e| CliError::Failed(format!("{}: {e}", file.display())))?;
            report(&verified)
        }
        AuditCommand::Verify {
            from,
            config,
            extract: None,
            public_key,
        } => {
            let trusted = match public_key {
                Some(hex_key) => Some(
                    hex::decode(hex_key.trim())
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                        .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok())
                        .ok_or_else(|| {
                            CliError::Usage("--public-key: expected 64 hex digits".into())
                        })?,
                ),
                None => crate::config::Config::load(config.as_deref())?
                    .audit
                    .signing_key()
                    .map_err(CliError::Failed)?
                    .map(|k| k.verifying_key()),
            };
            let store = open(config.as_deref()).await?;
            let verified = AccessLog::new(store.clone())
                .verify_with(from, trusted)
                .await?;
            store.close().await?;
            report(&verified)
        }
        AuditCommand::Export {
            from,
            to,
            out,
            config,
        } => {
            let store = open(config.as_deref()).await?;
            let to = match to {
                Some(to) => to,
                None => crate::store::log::head(store.conn()).await?.seq,
            };
            let log = AccessLog::new(store.clone());
            let written = match &out {
                Some(path) => {
                    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
                    log.export(from, to, &mut file).await
                }
                None => {
                    let mut stdout = std::io::BufWriter::new(std::io::stdout());
                    log.export(from, to, &mut stdout).await
                }
            }
            .map_err(|e| CliError::Failed(format!("export: {e}")))?;
            store.close().await?;
            eprintln!("exported {written} entries (#{from} to #{to})");
            Ok(())
        }
    }
}
