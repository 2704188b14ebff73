//! Starting the hub: configuration → store → protocols → gate → server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::CliError;
use crate::config::Config;
use crate::gate::{Gate, ProtocolRules, protocol};
use crate::server::{self, App};
use crate::store::{Store, StoreOptions};

/// A started hub, before it serves.
pub struct Hub {
    pub store: Store,
    pub gate: Gate,
    pub router: axum::Router,
    pub listener: TcpListener,
    /// The notification worker; it stops when this is dropped.
    pub notifier: crate::notify::Running,
}

impl Hub {
    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Opens the configured store, running migrations when configured to.
pub async fn open_store(config: &Config) -> Result<Store, CliError> {
    let mut options = StoreOptions::new(config.database.store_url());
    options.max_connections = config.database.max_connections;
    let store = Store::connect(&options).await?;
    if config.database.migrate_on_start {
        store.migrate().await?;
    }
    Ok(store)
}

/// Loads protocols from the configured folder (a blocking read, so off the async workers).
pub async fn load_rules(config: &Config) -> Result<ProtocolRules, CliError> {
    let dir = config.protocols.dir.clone();
    let protocols = tokio::task::spawn_blocking(move || protocol::load_dir(&dir))
        .await
        .map_err(|e| CliError::Failed(format!("protocol loading stopped: {e}")))??;
    Ok(ProtocolRules::new(protocols))
}

/// Re-evaluates every person's indicators now and then every `every`, with the sets in force.
async fn refresh_indicators(store: Store, gate: Gate, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let sets = gate.indicator_sets();
        match crate::store::indicators::refresh_all(&store, &sets, chrono::Utc::now(), |_| {}).await
        {
            Ok((persons, hits)) => tracing::info!(persons, hits, "indicators refreshed"),
            Err(e) => tracing::error!(error = %e, "indicator refresh failed"),
        }
    }
}

/// Loads the indicator sets: the built-in one and the files in the protocol folder's
/// `indicators/`.
pub async fn load_indicators(
    config: &Config,
) -> Result<crate::practice::indicators::IndicatorSets, CliError> {
    let dir = crate::gate::dir_of_indicators(Some(&config.protocols.dir));
    tokio::task::spawn_blocking(move || crate::practice::indicators::IndicatorSets::load(&dir))
        .await
        .map_err(|e| CliError::Failed(format!("indicator loading stopped: {e}")))?
        .map_err(|e| CliError::Failed(e.to_string()))
}

/// Builds everything and binds the listener.
pub async fn start(config: &Config, store: Store) -> Result<Hub, CliError> {
    let rules = load_rules(config).await?;
    tracing::info!(protocols = rules_fingerprint(&rules), "protocols loaded");
    let mut log = crate::audit::AccessLog::new(store.clone());
    if let Some(key) = config.audit.signing_key().map_err(CliError::Failed)? {
        log = log.with_checkpoints(crate::audit::Checkpointer::new(
            key,
            config.audit.checkpoint_every,
            Duration::from_secs(config.audit.checkpoint_seconds),
        ));
    }
    let indicators = load_indicators(config).await?;
    let gate = Gate::new(store.clone(), Arc::new(rules))
        .with_practice(indicators, config.practice.clone())
        .with_log(log)
        .with_protocols_dir(config.protocols.dir.clone())
        .with_review_roles(
            config
                .linkage
                .review_roles
                .iter()
                .filter_map(|r| r.parse().ok())
                .collect(),
        );
    tokio::spawn(watch_protocols(gate.clone(), config.protocols.dir.clone()));
    if config.audit.verify_seconds > 0 {
        tokio::spawn(verify_periodically(
            gate.log().clone(),
            Duration::from_secs(config.audit.verify_seconds),
        ));
    }
    // The worker polls the outbox through a pool of its own, so its idle reads neither wait
    // behind requests nor show in the server's statement counts.
    let notifier = crate::notify::Worker::new(
        store.separate(2).await?,
        gate.clone(),
        &config.notifications,
    )
    .spawn();
    let counters = store.clone();
    let app = App::new(
        config,
        gate.clone(),
        Arc::new(move || (counters.stats().statements(), counters.stats().failed())),
    )?;
    let router = server::router(app, config);
    let addr = SocketAddr::new(config.server.host, config.server.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen on {addr}: {e}")))?;
    Ok(Hub {
        store,
        gate,
        router,
        listener,
        notifier,
    })
}

/// The protocol folder's files with their sizes and modification times: what a change to
/// any of them changes.
fn folder_signature(dir: &Path) -> Vec<(std::path::PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut sig: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.path(), m.len(), m.modified().ok()))
        })
        .collect();
    sig.sort();
    sig
}

/// Verifies the whole access-log chain at start and then every `every`, so the board's
/// dashboard can say when the log was last found intact. A broken chain is an error in the
/// server's log too (naming the entry, never whose data it holds).
async fn verify_periodically(log: crate::audit::AccessLog, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match log.verify(1).await {
            Ok(v) => match &v.first_break {
                None => tracing::info!(
                    entries = v.checked,
                    seconds = v.seconds,
                    "access log verified"
                ),
                Some((seq, kind)) => {
                    tracing::error!(entry = seq, kind = ?kind, "access log chain broken")
                }
            },
            Err(e) => tracing::warn!(error = %e, "access log verification did not finish"),
        }
    }
}

/// Reloads protocols when their files change, polling every few seconds (a portable watch:
/// the folder is small). A bad file is reported and the protocols in force stay.
async fn watch_protocols(gate: Gate, dir: std::path::PathBuf) {
    let signature =
        |dir: std::path::PathBuf| tokio::task::spawn_blocking(move || folder_signature(&dir));
    let Ok(mut last) = signature(dir.clone()).await else {
        return;
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3));
    loop {
        tick.tick().await;
        let Ok(now) = signature(dir.clone()).await else {
            return;
        };
        if now != last {
            last = now;
            if let Err(e) = gate.reload().await {
                tracing::error!(error = %e, "protocols changed but did not load; the previous protocols stay in force");
            }
        }
    }
}

fn rules_fingerprint(rules: &ProtocolRules) -> String {
    use crate::gate::RuleSet;
    rules.fingerprint().to_owned()
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// Reads, overrides and validates configuration.
pub fn config(file: Option<&Path>, port: Option<u16>) -> Result<Config, CliError> {
    let mut config = Config::load(file)?;
    if let Some(port) = port {
        config.server.port = port;
    }
    config.validate()?;
    Ok(config)
}

/// `kinship serve`.
pub async fn serve(
    file: Option<&Path>,
    port: Option<u16>,
    log_format: Option<crate::config::LogFormat>,
) -> Result<(), CliError> {
    let config = config(file, port)?;
    crate::telemetry::init(log_format.unwrap_or(config.log.format), &config.log.filter);
    let store = open_store(&config).await?;
    let hub = start(&config, store).await?;
    if config.practice.indicator_refresh_hours > 0 {
        tokio::spawn(refresh_indicators(
            hub.store.clone(),
            hub.gate.clone(),
            Duration::from_secs(u64::from(config.practice.indicator_refresh_hours) * 3600),
        ));
    }
    // Connectors with a schedule sync in the background for as long as the server runs.
    let scheduled = config
        .connectors
        .iter()
        .filter(|c| c.enabled)
        .filter_map(|c| c.schedule_seconds.map(|s| (c, s)))
        .map(|(c, s)| {
            crate::sync::Running::build(super::sync_cmd::spec(&config, c))
                .map(|r| (Arc::new(r), std::time::Duration::from_secs(s)))
                .map_err(|e| CliError::failed(&e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !scheduled.is_empty() {
        tracing::info!(connectors = scheduled.len(), "scheduled syncs started");
        tokio::spawn(crate::sync::schedule(
            crate::sync::Engine::new(hub.store.clone())
                .with_linkage(config.linkage.clone())
                .with_indicators((*hub.gate.indicator_sets()).clone()),
            scheduled,
            config.sync.max_concurrent,
            Arc::new(crate::sync::progress::Lines::default()),
        ));
    }
    tracing::info!(addr = %hub.local_addr()?, "serving GraphQL at /graphql");
    server::serve(hub.listener, hub.router, shutdown_signal()).await?;
    hub.store.close().await?;
    Ok(())
}

/// `kinship migrate`.
pub async fn migrate(file: Option<&Path>) -> Result<(), CliError> {
    let mut config = Config::load(file)?;
    config.database.migrate_on_start = false;
    config.validate_store()?;
    let store = open_store(&config).await?;
    store.migrate().await?;
    println!("migrations applied");
    store.close().await?;
    Ok(())
}
