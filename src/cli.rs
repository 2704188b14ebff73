//! The command line: what each `kinship` subcommand does, composed from the hub's parts.
//!
//! Limits: the only module that wires `store`, `gate`, `server` and `audit` together; holds
//! no domain logic of its own.

mod audit_cmd;
pub mod bench;
pub mod connector_cmd;
pub mod demo;
pub mod feeds;
pub mod hub;
mod indicators_cmd;
mod link_cmd;
mod operations_cmd;
pub mod protocol_cmd;
pub mod sync_cmd;
mod token;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigError, LogFormat};

/// Kinship: a governed GraphQL hub joining what health, education, police and children's
/// social care know about a child, released field by field under signed
/// information-sharing protocols, with every access logged.
#[derive(Debug, Parser)]
#[command(
    name = "kinship",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log lines as human-readable text or JSON (overrides `log.format`).
    #[arg(long, global = true, value_enum, env = "KINSHIP_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// Options shared by commands that read a configuration file.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// A configuration file (TOML). Environment variables override it: `DATABASE_URL`, and
    /// `KINSHIP_<SECTION>__<KEY>` such as `KINSHIP_SERVER__PORT`.
    #[arg(long, short = 'c', env = "KINSHIP_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the demo: a synthetic population in a SQLite file, the example protocols, GraphQL
    /// on 127.0.0.1, and ready-to-paste tokens and curl commands for five demo practitioners.
    Demo(demo::DemoArgs),
    /// Serve GraphQL against a configured database.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Bind this port (overrides `server.port`).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Print the GraphQL schema (SDL) the hub serves.
    Schema,
    /// Sign a token for a principal. Only with a shared secret configured (demo and test
    /// configurations); production tokens come from your identity provider.
    Token(token::TokenArgs),
    /// Run connectors once (every enabled one, or `--connector ID`), or `sync status`.
    Sync(sync_cmd::SyncArgs),
    /// Records connectors could not read: `list` them, or `retry` them.
    Quarantine {
        #[command(subcommand)]
        command: sync_cmd::QuarantineCommand,
    },
    /// Scaffold a connector crate, or list the built-in connector kinds.
    Connector {
        #[command(subcommand)]
        command: connector_cmd::ConnectorCommand,
    },
    /// Check protocols (`lint`) or print one in plain English (`explain FILE`).
    Protocol {
        #[command(subcommand)]
        command: protocol_cmd::ProtocolCommand,
    },
    /// Indicators of need: `check` the sets, or `refresh` every person's.
    Indicators {
        #[command(subcommand)]
        command: indicators_cmd::IndicatorsCommand,
    },
    /// Link the records of CSV files probabilistically: deduplicate one, or link two.
    Link(link_cmd::LinkArgs),
    /// Register, list or withdraw the operations partner applications may run.
    Operations {
        #[command(subcommand)]
        command: operations_cmd::OperationsCommand,
    },
    /// Work with the access log.
    Audit {
        #[command(subcommand)]
        command: audit_cmd::AuditCommand,
    },
    /// Benchmarks that build their own data and print each figure with its unit.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

/// Why a command failed. Printed by `main` as one line per cause.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Protocols(#[from] crate::gate::protocol::ProtocolError),
    #[error(transparent)]
    Keys(#[from] crate::server::auth::KeyError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// A failure with its whole chain of causes, for the operator running the command.
    pub fn failed(e: &(dyn std::error::Error + 'static)) -> Self {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Self::Failed(message)
    }
}

impl Cli {
    /// Runs the chosen command. Tracing starts here, once the command says how loud to be.
    pub async fn run(self) -> Result<(), CliError> {
        let flag = self.log_format;
        let quiet = |filter: &str| crate::telemetry::init(flag.unwrap_or_default(), filter);
        match self.command {
            Command::Demo(args) => {
                quiet("warn,kinship=info");
                demo::run(args).await
            }
            Command::Serve { config, port } => {
                hub::serve(config.config.as_deref(), port, flag).await
            }
            Command::Migrate { config } => {
                quiet("warn");
                hub::migrate(config.config.as_deref()).await
            }
            Command::Schema => {
                print!("{}", crate::api::sdl());
                Ok(())
            }
            Command::Token(args) => token::run(args),
            Command::Sync(args) => {
                quiet("warn,kinship=info");
                sync_cmd::run(args).await
            }
            Command::Quarantine { command } => {
                quiet("warn");
                sync_cmd::quarantine(command).await
            }
            Command::Connector { command } => connector_cmd::run(command),
            Command::Protocol { command } => protocol_cmd::run(command),
            Command::Link(args) => {
                quiet("warn");
                if args.all {
                    link_cmd::relink(args).await
                } else {
                    link_cmd::run(args)
                }
            }
            Command::Indicators { command } => {
                quiet("warn");
                indicators_cmd::run(command).await
            }
            Command::Operations { command } => {
                quiet("warn");
                operations_cmd::run(command).await
            }
            Command::Audit { command } => {
                quiet("warn");
                audit_cmd::run(command).await
            }
            Command::Bench { command } => {
                quiet("warn");
                bench::run(command).await
            }
        }
    }
}
