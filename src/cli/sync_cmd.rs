//! `kinship sync`, `kinship sync status`, `kinship quarantine list|retry`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{CliError, hub};
use crate::config::{Config, ConnectorConfig};
use crate::store::sync as rows;
use crate::sync::{ConnectorSpec, Engine, RetryPolicy, Running, progress};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SyncArgs {
    #[command(subcommand)]
    pub command: Option<SyncCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Only this connector (its `id`); default: every enabled connector.
    #[arg(long)]
    pub connector: Option<String>,
    /// Forget the stored cursor first, so the connector delivers everything again (unchanged
    /// records still write nothing).
    #[arg(long)]
    pub from_start: bool,
    #[arg(long, short = 'c', env = "KINSHIP_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// The latest runs of each connector and where its cursor stands.
    Status {
        #[arg(long, short = 'c', env = "KINSHIP_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Quarantined records: connector, source key, reason and when (never the payload).
    List {
        #[arg(long)]
        connector: Option<String>,
        /// Resolved entries too.
        #[arg(long)]
        all: bool,
        #[arg(long, short = 'c', env = "KINSHIP_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Reads open entries again through their connector; those that now read cleanly land.
    Retry {
        #[arg(long)]
        connector: Option<String>,
        #[arg(long, short = 'c', env = "KINSHIP_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// The spec of a configured connector.
pub fn spec(config: &Config, c: &ConnectorConfig) -> ConnectorSpec {
    ConnectorSpec {
        id: c.id.clone(),
        kind: c.kind.clone(),
        settings: c.settings.clone(),
        rate_per_second: c.rate_per_second,
        retry: RetryPolicy {
            base: Duration::from_millis(config.sync.retry_base_ms),
            max_delay: Duration::from_millis(config.sync.retry_max_ms),
            max_attempts: config.sync.max_attempts,
        },
    }
}

/// Builds the enabled connectors (or the one named), failing on the first bad one.
pub fn build(config: &Config, only: Option<&str>) -> Result<Vec<Running>, CliError> {
    if let Some(id) = only
        && !config.connectors.iter().any(|c| c.id == id)
    {
        return Err(CliError::Usage(format!(
            "no connector `{id}` is configured"
        )));
    }
    config
        .connectors
        .iter()
        .filter(|c| only.map_or(c.enabled, |id| c.id == id))
        .map(|c| Running::build(spec(config, c)).map_err(|e| CliError::failed(&e)))
        .collect()
}

fn store_config(file: Option<&std::path::Path>) -> Result<Config, CliError> {
    let config = Config::load(file)?;
    config.validate_store()?;
    Ok(config)
}

/// `kinship sync`.
pub async fn run(args: SyncArgs) -> Result<(), CliError> {
    match args.command {
        Some(SyncCommand::Status { config }) => status(config).await,
        None => sync(args.run).await,
    }
}

async fn sync(args: RunArgs) -> Result<(), CliError> {
    let config = store_config(args.config.as_deref())?;
    let connectors = build(&config, args.connector.as_deref())?;
    if connectors.is_empty() {
        return Err(CliError::Usage("no enabled connector is configured".into()));
    }
    let store = hub::open_store(&config).await?;
    let engine = Engine::new(store.clone())
        .with_linkage(config.linkage.clone())
        .with_indicators(hub::load_indicators(&config).await?);
    let progress: Arc<dyn crate::sync::Progress> = Arc::from(progress::for_terminal());
    if args.from_start {
        for c in &connectors {
            rows::reset_cursor(store.conn(), &c.spec.id).await?;
        }
    }
    let gate = Arc::new(tokio::sync::Semaphore::new(config.sync.max_concurrent));
    let mut tasks = tokio::task::JoinSet::new();
    for c in connectors {
        let (engine, progress, gate) = (engine.clone(), Arc::clone(&progress), Arc::clone(&gate));
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let id = c.spec.id.clone();
            (id, engine.run(&c, progress.as_ref()).await)
        });
    }
    let mut failed = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((id, Ok(run))) => println!(
                "{id}: {} new, {} changed, {} unchanged, {} quarantined in {} batches ({} retries)",
                run.new, run.changed, run.unchanged, run.quarantined, run.batches, run.retries
            ),
            Ok((id, Err(e))) => {
                println!("{id}: failed: {e}");
                failed.push(id);
            }
            Err(e) => failed.push(format!("a sync task stopped: {e}")),
        }
    }
    store.close().await?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "sync failed for {}",
            failed.join(", ")
        )))
    }
}

async fn status(file: Option<PathBuf>) -> Result<(), CliError> {
    let config = store_config(file.as_deref())?;
    let store = hub::open_store(&config).await?;
    let conn = store.conn();
    for c in &config.connectors {
        let last = rows::runs(conn, Some(&c.id), 1).await?;
        let records = rows::record_count(conn, &c.id).await?;
        let open = rows::quarantined(conn, Some(&c.id), true, 100_000)
            .await?
            .len();
        let cursor = rows::cursor(conn, &c.id).await?;
        println!(
            "{} ({}{}): {records} records, {open} quarantined, cursor {}",
            c.id,
            c.kind,
            if c.enabled { "" } else { ", disabled" },
            if cursor.is_some() {
                "stored"
            } else {
                "none (next sync starts from the beginning)"
            }
        );
        match last.first() {
            Some(r) => println!(
                "  last run {} at {}: {}; {} new, {} changed, {} unchanged, {} quarantined, {} retries{}",
                r.id,
                r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                r.status,
                r.new,
                r.changed,
                r.unchanged,
                r.quarantined,
                r.retries,
                r.error
                    .as_deref()
                    .map(|e| format!("; {e}"))
                    .unwrap_or_default()
            ),
            None => println!("  never run"),
        }
    }
    store.close().await?;
    Ok(())
}

/// `kinship quarantine`.
pub async fn quarantine(command: QuarantineCommand) -> Result<(), CliError> {
    match command {
        QuarantineCommand::List {
            connector,
            all,
            config,
        } => {
            let config = store_config(config.as_deref())?;
            let store = hub::open_store(&config).await?;
            let items = rows::quarantined(store.conn(), connector.as_deref(), !all, 10_000).await?;
            for q in &items {
                println!(
                    "{}  {}  {}  {}  {}  (attempts {})",
                    q.id,
                    q.received_at.format("%Y-%m-%d %H:%M:%S"),
                    q.connector,
                    q.source_key.as_deref().unwrap_or("-"),
                    q.reason,
                    q.attempts
                );
            }
            println!("{} entries", items.len());
            store.close().await?;
            Ok(())
        }
        QuarantineCommand::Retry { connector, config } => {
            let config = store_config(config.as_deref())?;
            let connectors = build(&config, connector.as_deref())?;
            let store = hub::open_store(&config).await?;
            let engine = Engine::new(store.clone())
                .with_linkage(config.linkage.clone())
                .with_indicators(hub::load_indicators(&config).await?);
            for c in &connectors {
                let (resolved, open) = engine
                    .retry_quarantined(c)
                    .await
                    .map_err(|e| CliError::failed(&e))?;
                println!(
                    "{}: {resolved} resolved, {open} still quarantined",
                    c.spec.id
                );
            }
            store.close().await?;
            Ok(())
        }
    }
}
