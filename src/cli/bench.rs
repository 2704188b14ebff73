//! `kinship bench ...`: benchmarks that build their own data on the embedded default, print
//! each figure with its unit and end with a one-line summary.

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use super::demo::{fresh_demo_store, populate, subjects_of};
use super::{CliError, hub};
use crate::config::Config;
use crate::model::{InvolvementKind, Role};
use crate::population::PopulationSpec;
use crate::server::auth::TokenSigner;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Requests per second and p50/p99 latency of the whole-child query against a running hub
    /// on SQLite: the baseline later work is measured against.
    Api(ApiArgs),
    /// Records per second and peak memory of an initial load through the four connectors
    /// from loopback feeds, and of an incremental sync where 1% changed.
    Sync(sync::SyncArgs),
    /// A protocol decision's median and p99 time over a realistic mix, and the whole-child
    /// query's throughput with enforcement and logging on against the same query with both
    /// bypassed inside the harness, with their ratio.
    Gate(gate::GateArgs),
    /// Access-log appends per second with concurrent writers (SQLite, and PostgreSQL given a
    /// URL), and `audit verify` over a million entries.
    Log(log::LogArgs),
    /// Precision, recall and F1 of probabilistic linkage against a generated corpus's truth,
    /// with blocking recall, pairs compared, records per second and peak memory.
    Link(link::LinkArgs),
    /// Time to evaluate every indicator of need for every family of a generated population,
    /// and for one family after one new fact.
    Practice(practice::PracticeArgs),
    /// Serves a population as agency feeds for `bench sync` (run by it as a child process,
    /// so the feeds' memory is not counted as the sync's).
    #[command(hide = true)]
    Feeds(sync::FeedsArgs),
}

mod floor;
mod gate;
mod link;
mod log;
mod practice;
mod sync;

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Families in the generated population.
    #[arg(long, default_value_t = 2_000)]
    pub families: usize,
    /// Measured requests (after a warm-up of a tenth as many).
    #[arg(long, default_value_t = 2_000)]
    pub requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// The whole-child query: names, identifiers, addresses, families with their members,
/// involvements and the last 100 facts.
pub const WHOLE_CHILD_QUERY: &str = "query WholeChild($id: ID!) { person(id: $id) { id names { given family usage } dateOfBirth sex identifiers { system value } addresses { line1 town postcode usage } families { id kind members { items { role person { id names { given family } dateOfBirth } } withheld } } involvements { kind heldBy service active organisation { id } } facts(first: 100) { items { id agency category kind occurredAt summary payload } withheld } } }";

pub async fn run(command: BenchCommand) -> Result<(), CliError> {
    match command {
        BenchCommand::Api(args) => api(args).await,
        BenchCommand::Sync(args) => sync::run(args).await,
        BenchCommand::Gate(args) => gate::run(args).await,
        BenchCommand::Log(args) => log::run(args).await,
        BenchCommand::Link(args) => link::run(args),
        BenchCommand::Practice(args) => practice::run(args).await,
        BenchCommand::Feeds(args) => sync::feeds(args).await,
    }
}

/// Social workers reading their allocated children (a permitted, whole-picture read): a
/// token and a child for each allocation.
fn whole_child_targets(
    pop: &crate::population::Population,
    signer: &TokenSigner,
) -> Result<Vec<(String, crate::model::PersonId)>, CliError> {
    let mut targets = Vec::new();
    for p in pop
        .practitioners
        .iter()
        .filter(|p| p.principal.has_role(Role::SocialWorker))
    {
        let token = signer
            .sign(&p.principal)
            .map_err(|e| CliError::Failed(format!("cannot sign: {e}")))?;
        for child in subjects_of(pop, &p.principal, &[InvolvementKind::AllocatedSocialWorker]) {
            targets.push((token.clone(), child));
        }
    }
    if targets.is_empty() {
        return Err(CliError::Failed(
            "the population has no allocated children".into(),
        ));
    }
    Ok(targets)
}

/// Sends `n` whole-child queries (targets from `start` on, cycling), `concurrency` at once;
/// each result is its latency and, when it succeeded, how many facts came back.
async fn whole_child_load(
    client: &reqwest::Client,
    url: &str,
    targets: &[(String, crate::model::PersonId)],
    start: usize,
    n: usize,
    concurrency: usize,
) -> Vec<(Duration, Option<usize>)> {
    use futures_util::StreamExt;
    let send = |i: usize| {
        let (token, child) = targets[i % targets.len()].clone();
        let client = client.clone();
        let url = url.to_owned();
        async move {
            let started = Instant::now();
            let res = client
                .post(&url)
                .bearer_auth(token)
                .header("Kinship-Purpose", "safeguarding")
                .json(&serde_json::json!({ "query": WHOLE_CHILD_QUERY, "variables": { "id": child.to_string() } }))
                .send()
                .await;
            let ok = match res {
                Ok(r) if r.status().is_success() => {
                    r.json::<serde_json::Value>().await.ok().and_then(|body| {
                        body["data"]["person"]["facts"]["items"]
                            .as_array()
                            .map(Vec::len)
                    })
                }
                _ => None,
            };
            (started.elapsed(), ok)
        }
    };
    futures_util::stream::iter(start..start + n)
        .map(send)
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
}

/// CPU time this process has used so far (user and system, all threads, exited ones
/// included), from `/proc/self/stat`; `None` where there is no such file. Its unit is the
/// kernel's clock tick (1/100 s), so it suits phases of a second or more.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; the fields after its `)` are plain.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((user + system) * 10))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn api(args: ApiArgs) -> Result<(), CliError> {
    if args.requests == 0 || args.concurrency == 0 {
        return Err(CliError::Usage(
            "--requests and --concurrency must be at least 1".into(),
        ));
    }
    let dir = std::env::temp_dir().join(format!("kinship-bench-{}", std::process::id()));
    tokio::fs::create_dir_all(&dir).await?;
    let db = dir.join("bench.db");
    let config = Config::demo(&db, 0, super::demo::default_protocols());
    config.validate()?;
    let store = fresh_demo_store(&db).await?;
    let spec = PopulationSpec::new(args.families, args.seed);
    let (pop, _, load_s) = populate(&store, &spec).await?;
    let hub = hub::start(&config, store).await?;
    let addr = hub.local_addr()?;
    let server = tokio::spawn(crate::server::serve(
        hub.listener,
        hub.router,
        std::future::pending(),
    ));

    let signer = TokenSigner::from_config(&config.auth)
        .ok_or_else(|| CliError::Failed("bench configuration has no shared secret".into()))?;
    let targets = whole_child_targets(&pop, &signer)?;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/graphql");
    let run_batch = |start: usize, n: usize| {
        whole_child_load(&client, &url, &targets, start, n, args.concurrency)
    };
    run_batch(0, (args.requests / 10).max(1)).await;
    let started = Instant::now();
    let results = run_batch(1_000_000, args.requests).await;
    let wall = started.elapsed();
    server.abort();

    let failures = results.iter().filter(|(_, ok)| ok.is_none()).count();
    let facts: usize = results.iter().filter_map(|(_, ok)| *ok).sum();
    let mut latencies: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
    latencies.sort();
    let rps = args.requests as f64 / wall.as_secs_f64();
    let p50 = percentile(&latencies, 50.0).as_secs_f64() * 1e3;
    let p99 = percentile(&latencies, 99.0).as_secs_f64() * 1e3;
    println!(
        "population: {} families, {} children, {} facts (loaded in {load_s:.1} s)",
        pop.families.len(),
        pop.child_count(),
        pop.facts.len()
    );
    println!(
        "whole-child query: {} distinct children, {:.1} facts returned per request on average",
        targets.len(),
        facts as f64 / (args.requests - failures).max(1) as f64
    );
    println!(
        "requests: {} measured, {} concurrent, {failures} failed",
        args.requests, args.concurrency
    );
    println!("throughput: {rps:.1} requests/s");
    println!("latency p50: {p50:.2} ms");
    println!("latency p99: {p99:.2} ms");
    println!(
        "summary: bench api (SQLite, whole-child query, {} concurrent): {rps:.1} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms, {failures} failures",
        args.concurrency
    );
    let _ = tokio::fs::remove_dir_all(&dir).await;
    if failures > 0 {
        return Err(CliError::Failed(format!("{failures} requests failed")));
    }
    Ok(())
}
