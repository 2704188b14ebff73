//! `kinship bench sync`: an initial load and a 1% incremental sync through the four
//! connectors, from feeds served by a child process on loopback, against the baseline of
//! pulling and parsing the same feeds with nothing written.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::super::{CliError, feeds};
use super::floor;
use crate::population::envelopes::{Feed, envelopes};
use crate::population::{self, PopulationSpec};
use crate::store::{Store, StoreOptions};
use crate::sync::{ConnectorSpec, Engine, Running, progress};

/// Source records per family the four feeds deliver, measured on the generator's default
/// population (health resources, pupils and contacts, police persons and events, returns).
const RECORDS_PER_FAMILY: f64 = 21.0;

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// About how many source records to serve and sync.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: usize,
    /// The store: a SQLite file in a temporary folder by default, or a `postgres://` URL of an
    /// empty database.
    #[arg(long)]
    pub db: Option<String>,
    /// Records per page the feeds serve.
    #[arg(long, default_value_t = 1_000)]
    pub page_size: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Run the connectors one after another, these first in this order (ids such as
    /// `anyshire-schools`), instead of all at once: linkage must come out the same whichever
    /// agency's records arrive first.
    #[arg(long, value_delimiter = ',')]
    pub in_order: Vec<String>,
    /// Skip the store's floor (on SQLite, copying the loaded file twice needs twice its size
    /// free beside it).
    #[arg(long)]
    pub no_floor: bool,
}

#[derive(Debug, Args)]
pub struct FeedsArgs {
    #[arg(long)]
    pub families: usize,
    #[arg(long)]
    pub seed: u64,
    #[arg(long)]
    pub page_size: usize,
}

/// The child: serve the feeds, print their specs, change 1% on request.
pub async fn feeds(args: FeedsArgs) -> Result<(), CliError> {
    let spec = PopulationSpec::new(args.families, args.seed);
    let pop = tokio::task::spawn_blocking(move || population::generate(&spec))
        .await
        .map_err(|e| CliError::Failed(format!("generator stopped: {e}")))?;
    let all = envelopes(&pop);
    drop(pop);
    let mut changeable: Vec<(Feed, kinship_connector_sdk::SourceRecord)> = Vec::new();
    for (feed, records) in &all {
        changeable.extend(records.iter().step_by(100).map(|r| (*feed, r.clone())));
    }
    let counts: Vec<(String, usize)> = all
        .iter()
        .map(|(f, r)| (format!("{f:?}"), r.len()))
        .collect();
    let served = feeds::start_keeping_pages(all, args.page_size).await?;
    let specs: Vec<serde_json::Value> = served
        .specs
        .iter()
        .map(|s| serde_json::json!({ "id": s.id, "kind": s.kind, "settings": s.settings }))
        .collect();
    println!(
        "READY {}",
        serde_json::json!({ "specs": specs, "envelopes": counts })
    );
    std::io::stdout().flush()?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "CHANGE" {
            // One envelope in a hundred changes: a new fact summary, or a new address line.
            let mut by_feed: std::collections::BTreeMap<Feed, Vec<_>> = Default::default();
            for (feed, mut r) in changeable.clone() {
                if let Some(f) = r.facts.first_mut() {
                    f.summary.push_str(" (amended)");
                } else if let Some(a) = r.identity.addresses.first_mut() {
                    a.line1.push_str(" (flat 2)");
                } else if let Some(n) = r.identity.names.first_mut() {
                    n.usage = "usual".into();
                }
                by_feed.entry(feed).or_default().push(r);
            }
            let n: usize = by_feed.values().map(Vec::len).sum();
            for (feed, records) in by_feed {
                served.upsert(feed, records);
            }
            println!("CHANGED {n}");
            std::io::stdout().flush()?;
        }
    }
    Ok(())
}

/// Peak resident memory of this process since start or the last reset, in bytes.
pub(super) fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Resets the peak so the next phase is measured alone.
pub(super) fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Phase {
    records: i64,
    changed: i64,
    seconds: f64,
    peak: Option<u64>,
    stages: Vec<(crate::sync::timing::Stage, std::time::Duration)>,
}

/// Syncs every connector, all at once, or one after another when `one_by_one`.
async fn phase(
    engine: &Engine,
    connectors: &[Arc<Running>],
    one_by_one: bool,
) -> Result<Phase, CliError> {
    reset_peak();
    engine.timings().reset();
    let started = Instant::now();
    let mut runs = Vec::new();
    if one_by_one {
        for c in connectors {
            runs.push(
                engine
                    .run(c, &progress::Silent)
                    .await
                    .map_err(|e| CliError::failed(&e))?,
            );
        }
    } else {
        // One task per connector, so their parsing spreads over the runtime's threads.
        let mut tasks = tokio::task::JoinSet::new();
        for c in connectors {
            let (engine, c) = (engine.clone(), Arc::clone(c));
            tasks.spawn(async move { engine.run(&c, &progress::Silent).await });
        }
        while let Some(done) = tasks.join_next().await {
            let run = done
                .map_err(|e| CliError::Failed(format!("a sync task stopped: {e}")))?
                .map_err(|e| CliError::failed(&e))?;
            runs.push(run);
        }
    }
    Ok(Phase {
        records: runs
            .iter()
            .map(|r| r.new + r.changed + r.unchanged + r.quarantined)
            .sum(),
        changed: runs.iter().map(|r| r.new + r.changed).sum(),
        seconds: started.elapsed().as_secs_f64(),
        peak: peak_rss(),
        stages: engine.timings().snapshot(),
    })
}

/// The feeds alone: every connector pulls and parses its whole feed at once, and nothing is
/// written. The ceiling any store could reach on this machine with these feeds, and the
/// baseline the initial load's cost is stated against.
/// Returns the records pulled, the seconds all of them took, and each connector's records and
/// seconds.
async fn pull_only(
    connectors: &[Arc<Running>],
) -> Result<(i64, f64, Vec<(String, i64, f64)>), CliError> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in connectors {
        let c = Arc::clone(c);
        tasks.spawn(async move {
            let mut cursor = None;
            let mut records = 0i64;
            loop {
                let batch = c.connector.pull(cursor.as_ref()).await?;
                records += (batch.records.len() + batch.rejected.len()) as i64;
                match batch.next {
                    Some(n) => cursor = Some(n),
                    None => {
                        let seconds = started.elapsed().as_secs_f64();
                        return Ok::<_, kinship_connector_sdk::ConnectorError>((
                            c.spec.id.clone(),
                            records,
                            seconds,
                        ));
                    }
                }
            }
        });
    }
    let mut each = Vec::new();
    while let Some(done) = tasks.join_next().await {
        each.push(
            done.map_err(|e| CliError::Failed(format!("a pull task stopped: {e}")))?
                .map_err(|e| CliError::Failed(format!("a feed failed: {e}")))?,
        );
    }
    let records = each.iter().map(|(_, n, _)| n).sum();
    Ok((records, started.elapsed().as_secs_f64(), each))
}

/// The store's floor (see [`floor`]), in seconds.
struct FloorFigures {
    rows: u64,
    /// Copying every row into indexed tables.
    indexed: f64,
    /// Copying every row into bare tables...
    bare: f64,
    /// ...and then building their indexes.
    index: f64,
    /// The faster copy while every connector pulls and parses its whole feed.
    together: f64,
}

/// Copies the loaded SQLite file's rows into fresh files, alone and while the feeds are
/// pulled again: what the load costs with nothing between reading and writing.
async fn store_floor(
    path: &std::path::Path,
    connectors: &[Arc<Running>],
) -> Result<FloorFigures, CliError> {
    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T, CliError> + Send + 'static,
    ) -> Result<T, CliError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| CliError::Failed(format!("the floor's task stopped: {e}")))?
    }
    eprintln!("bench sync: the store's floor: copying the loaded rows into fresh files...");
    let path = path.to_owned();
    let plan = Arc::new(blocking(move || floor::Plan::of(&path)).await?);
    let p = Arc::clone(&plan);
    let indexed = blocking(move || p.copy_indexed()).await?;
    let p = Arc::clone(&plan);
    let (bare, index) = blocking(move || p.copy_bare_then_index()).await?;
    eprintln!("bench sync: the store's floor: copying while the feeds are pulled...");
    let p = Arc::clone(&plan);
    let started = Instant::now();
    let copy = blocking(move || {
        if indexed <= bare + index {
            p.copy_indexed()
        } else {
            p.copy_bare_then_index().map(|(b, i)| b + i)
        }
    });
    let (copied, pulled) = tokio::join!(copy, pull_only(connectors));
    copied?;
    pulled?;
    Ok(FloorFigures {
        rows: plan.rows,
        indexed,
        bare,
        index,
        together: started.elapsed().as_secs_f64(),
    })
}

/// One line per stage: seconds summed over the connectors' tasks (pulling overlaps with
/// writing, so the stages add up to more than the phase's wall time).
fn print_stages(label: &str, p: &Phase) {
    for (stage, d) in &p.stages {
        println!(
            "{label}: stage {}: {:.2} s ({:.1} us/record)",
            stage.name(),
            d.as_secs_f64(),
            1e6 * d.as_secs_f64() / p.records.max(1) as f64
        );
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("unknown".into(), |b| {
        format!("{:.0} MiB", b as f64 / 1_048_576.0)
    })
}

/// `kinship bench sync`.
pub async fn run(args: SyncArgs) -> Result<(), CliError> {
    let families = ((args.records as f64 / RECORDS_PER_FAMILY).ceil() as usize).max(1);
    let dir = std::env::temp_dir().join(format!("kinship-bench-sync-{}", std::process::id()));
    tokio::fs::create_dir_all(&dir).await?;
    let (url, backend) = match &args.db {
        Some(u) if u.starts_with("postgres") => (u.clone(), "PostgreSQL"),
        Some(u) => (u.clone(), "SQLite"),
        None => (
            format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
            "SQLite",
        ),
    };
    let store = Store::connect(&StoreOptions::new(url)).await?;
    store.migrate().await?;
    if !crate::store::load::is_empty(store.conn()).await? {
        return Err(CliError::Usage("--db must be an empty database".into()));
    }

    eprintln!("bench sync: generating {families} families and starting the feeds...");
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "bench",
            "feeds",
            "--families",
            &families.to_string(),
            "--seed",
            &args.seed.to_string(),
            "--page-size",
            &args.page_size.to_string(),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut to_child = child
        .stdin
        .take()
        .ok_or_else(|| CliError::Failed("no stdin".into()))?;
    let mut from_child = BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| CliError::Failed("no stdout".into()))?,
    )
    .lines();
    let ready = loop {
        match from_child.next_line().await? {
            Some(l) if l.starts_with("READY ") => break l,
            Some(_) => continue,
            None => return Err(CliError::Failed("the feed process stopped".into())),
        }
    };
    let ready: serde_json::Value = serde_json::from_str(&ready["READY ".len()..])
        .map_err(|e| CliError::Failed(format!("feed process said: {e}")))?;
    let mut connectors = ready["specs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let mut spec: ConnectorSpec = feeds_spec(s)?;
            spec.retry.max_attempts = 5;
            Running::build(spec)
                .map(Arc::new)
                .map_err(|e| CliError::failed(&e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for id in &args.in_order {
        if !connectors.iter().any(|c| c.spec.id == *id) {
            return Err(CliError::Usage(format!(
                "--in-order names `{id}`; the connectors are {}",
                connectors
                    .iter()
                    .map(|c| c.spec.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    connectors.sort_by_key(|c| {
        args.in_order
            .iter()
            .position(|id| *id == c.spec.id)
            .unwrap_or(args.in_order.len())
    });
    let one_by_one = !args.in_order.is_empty();
    let engine = Engine::new(store.clone());

    eprintln!("bench sync: the feeds alone, rendered as they are asked for...");
    let (rendered, render_seconds, _) = pull_only(&connectors).await?;
    eprintln!("bench sync: the feeds alone, served as rendered, pulled and parsed...");
    let (pulled, pull_seconds, pulled_each) = pull_only(&connectors).await?;
    eprintln!("bench sync: initial load...");
    let initial = phase(&engine, &connectors, one_by_one).await?;
    let linked = linkage_outcome(&store).await?;
    let floor = match store.sqlite_file().filter(|_| !args.no_floor) {
        Some(path) => Some(store_floor(&path, &connectors).await?),
        None => None,
    };
    to_child.write_all(b"CHANGE\n").await?;
    to_child.flush().await?;
    let changed = loop {
        match from_child.next_line().await? {
            Some(l) if l.starts_with("CHANGED ") => break l["CHANGED ".len()..].trim().to_owned(),
            Some(_) => continue,
            None => return Err(CliError::Failed("the feed process stopped".into())),
        }
    };
    eprintln!("bench sync: incremental sync after {changed} envelopes changed...");
    let incremental = phase(&engine, &connectors, one_by_one).await?;
    drop(to_child);
    let _ = child.kill().await;

    let rate = |p: &Phase| p.records as f64 / p.seconds.max(1e-9);
    println!(
        "store: {backend}; families: {families}; page size: {}",
        args.page_size
    );
    println!(
        "initial load: {} records in {:.1} s",
        initial.records, initial.seconds
    );
    println!("initial load: {:.0} records/s", rate(&initial));
    println!("initial load: peak memory {}", mib(initial.peak));
    let order = if one_by_one {
        connectors
            .iter()
            .map(|c| c.spec.id.as_str())
            .collect::<Vec<_>>()
            .join(", then ")
    } else {
        "all connectors at once".to_owned()
    };
    println!("initial load: order: {order}");
    println!(
        "initial load: linkage: {} persons, {} records linked by score, {} pairs queued for review",
        linked.persons, linked.by_score, linked.reviews
    );
    println!(
        "feeds alone, each page rendered as it is asked for: {rendered} records in {render_seconds:.1} s, {:.0} records/s",
        rendered as f64 / render_seconds.max(1e-9)
    );
    let ceiling = pulled as f64 / pull_seconds.max(1e-9);
    println!(
        "feeds alone, pages served as rendered (pulled and parsed, nothing written): {pulled} records in {pull_seconds:.1} s, {ceiling:.0} records/s"
    );
    for (id, n, seconds) in &pulled_each {
        println!("feeds alone: {id}: {n} records, done after {seconds:.1} s");
    }
    println!(
        "initial load: {:.2}x the time of pulling the feeds alone",
        initial.seconds / pull_seconds.max(1e-9)
    );
    print_stages("initial load", &initial);
    let floor_summary = match &floor {
        Some(f) => {
            let per_second = |seconds: f64| initial.records as f64 / seconds.max(1e-9);
            println!(
                "store floor: SQLite writing the initial load's {} rows with nothing else to do (copied table to table), into indexed tables: {:.1} s, {:.0} records/s",
                f.rows,
                f.indexed,
                per_second(f.indexed)
            );
            println!(
                "store floor: into bare tables {:.1} s, then their indexes built {:.1} s: {:.0} records/s",
                f.bare,
                f.index,
                per_second(f.bare + f.index)
            );
            println!(
                "store floor: the feeds pulled and parsed while the rows are copied, nothing between them: {:.1} s, {:.0} records/s; a load must do both",
                f.together,
                per_second(f.together)
            );
            println!(
                "initial load: {:.2}x the time of the floor",
                initial.seconds / f.together.max(1e-9)
            );
            format!(", floor {:.0} records/s", per_second(f.together))
        }
        None => {
            let why = if args.no_floor {
                "--no-floor"
            } else {
                "measured on SQLite files only"
            };
            println!("store floor: not measured ({why})");
            String::new()
        }
    };
    println!(
        "incremental sync (1% of envelopes changed, {changed} envelopes): {} records delivered, {} written, in {:.2} s",
        incremental.records, incremental.changed, incremental.seconds
    );
    println!(
        "incremental sync: {:.0} records/s delivered",
        rate(&incremental)
    );
    println!("incremental sync: peak memory {}", mib(incremental.peak));
    print_stages("incremental sync", &incremental);
    println!(
        "incremental sync: {:.1}% of the initial load's time for {:.1}% of its records",
        100.0 * incremental.seconds / initial.seconds.max(1e-9),
        100.0 * incremental.records as f64 / initial.records.max(1) as f64
    );
    println!(
        "summary: bench sync on {backend}: {} records at {:.0} records/s ({:.2}x the feeds alone, {ceiling:.0} records/s{floor_summary}), peak {}, {} persons and {} review pairs; 1% incremental in {:.2} s ({:.1}% of the initial time)",
        initial.records,
        rate(&initial),
        initial.seconds / pull_seconds.max(1e-9),
        mib(initial.peak),
        linked.persons,
        linked.reviews,
        incremental.seconds,
        100.0 * incremental.seconds / initial.seconds.max(1e-9)
    );
    store.close().await?;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    Ok(())
}

/// What linkage made of the initial load.
struct Linked {
    persons: u64,
    by_score: i64,
    reviews: i64,
}

async fn linkage_outcome(store: &Store) -> Result<Linked, CliError> {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = store.conn();
    let count = |sql: &'static str| async move {
        let row = conn
            .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await
            .map_err(|e| CliError::Failed(format!("counting the store: {e}")))?;
        row.and_then(|r| r.try_get_by_index::<i64>(0).ok())
            .ok_or_else(|| CliError::Failed("counting the store: no count".into()))
    };
    Ok(Linked {
        persons: crate::store::graph::person_count(conn)
            .await
            .map_err(|e| CliError::failed(&e))?,
        by_score: count("SELECT COUNT(*) FROM source_records WHERE link_method = 'probabilistic'")
            .await?,
        reviews: count("SELECT COUNT(*) FROM match_reviews").await?,
    })
}

fn feeds_spec(s: &serde_json::Value) -> Result<ConnectorSpec, CliError> {
    let text = |k: &str| {
        s[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| CliError::Failed(format!("feed spec lacks `{k}`")))
    };
    Ok(ConnectorSpec {
        id: text("id")?,
        kind: text("kind")?,
        settings: s["settings"].clone(),
        rate_per_second: None,
        retry: crate::sync::RetryPolicy::default(),
    })
}
