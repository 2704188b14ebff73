//! `kinship bench log`: access-log appends per second under concurrent load (each writer a
//! request waiting for its own entry to commit, as the server does), on SQLite and, given a
//! URL, on PostgreSQL; then `verify` over a chain of a million entries.

use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Args;

use super::super::CliError;
use crate::audit::{AccessLog, Entry, Read};
use crate::model::{DataCategory, OrganisationId, PersonId, Principal, Purpose, Role};
use crate::store::{Store, StoreOptions};

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Concurrent writers.
    #[arg(long, default_value_t = 64)]
    pub writers: usize,
    /// Appends measured per store.
    #[arg(long, default_value_t = 100_000)]
    pub appends: usize,
    /// Entries in the chain `verify` checks.
    #[arg(long, default_value_t = 1_000_000)]
    pub verify_entries: usize,
    /// An empty PostgreSQL database to measure appends on as well (or
    /// `KINSHIP_BENCH_POSTGRES_URL`).
    #[arg(long, env = "KINSHIP_BENCH_POSTGRES_URL")]
    pub postgres: Option<String>,
}

/// A typical entry: one practitioner reading a few categories of one child from two holders.
fn entry(i: usize) -> Entry {
    let subject = PersonId::new();
    let owners: [OrganisationId; 2] = [
        OrganisationId::new(crate::model::AgencyKind::LocalAuthority, "999"),
        OrganisationId::new(crate::model::AgencyKind::School, "9991001"),
    ];
    let reads = [
        DataCategory::PersonIdentity,
        DataCategory::PersonContact,
        DataCategory::EducationAttendance,
    ]
    .iter()
    .enumerate()
    .map(|(k, category)| Read {
        subject,
        category: *category,
        owner: owners[k % 2].clone(),
        decision: "permitted".into(),
        protocol: Some("P-MASH".into()),
        protocol_version: Some("3.0".into()),
        clause: Some("4.1".into()),
        released: 1 + (i % 3) as u64,
        withheld: 0,
        review_overdue: false,
        notify_owner: false,
        obligations: vec![],
    })
    .collect();
    Entry {
        at: Utc::now(),
        request_id: format!("bench-{i}"),
        client_addr: Some("127.0.0.1".into()),
        principal: Principal {
            subject: format!("sw-{}", i % 50),
            organisation: owners[0].clone(),
            roles: vec![Role::SocialWorker],
        },
        purpose: Some(Purpose::Safeguarding),
        justification: None,
        operation_name: Some("ChildSummary".into()),
        registered_operation: Some("sha256:bench-child-summary".into()),
        query_hash: crate::audit::query_hash("query ChildSummary { person { id } }"),
        outcome: "ok".into(),
        rules: "P-CPIS@1.0 P-EH@2.0 P-ENC@1.2 P-MASH@3.0".into(),
        reads,
        bases: [(
            crate::audit::clause_key("P-MASH", "3.0", "4.1"),
            "UK GDPR Article 6(1)(e) public task; consent not needed where a child may be at risk of significant harm".to_owned(),
        )]
        .into_iter()
        .collect(),
        actions: vec![],
    }
}

/// `writers` tasks each appending their share of `appends` entries, one at a time.
async fn appends(store: &Store, writers: usize, appends: usize) -> Result<f64, CliError> {
    let log = AccessLog::new(store.clone());
    // Warm-up: the writer starts and connects.
    log.append(&entry(0)).await?;
    let per = appends.div_ceil(writers);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let log = log.clone();
        tasks.spawn(async move {
            for i in 0..per {
                log.append(&entry(w * per + i)).await?;
            }
            Ok::<_, crate::audit::AuditError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| CliError::Failed(format!("writer stopped: {e}")))??;
    }
    Ok((per * writers) as f64 / started.elapsed().as_secs_f64())
}

async fn fresh_sqlite(dir: &std::path::Path, name: &str) -> Result<Store, CliError> {
    let store = Store::connect(&StoreOptions::sqlite_path(&dir.join(name))).await?;
    store.migrate().await?;
    Ok(store)
}

pub async fn run(args: LogArgs) -> Result<(), CliError> {
    if args.writers == 0 || args.appends == 0 {
        return Err(CliError::Usage(
            "--writers and --appends must be at least 1".into(),
        ));
    }
    let dir = std::env::temp_dir().join(format!("kinship-bench-log-{}", std::process::id()));
    tokio::fs::create_dir_all(&dir).await?;
    let sample = serde_json::to_vec(&entry(0).reads)
        .map(|v| v.len())
        .unwrap_or(0);
    println!(
        "entry: 3 reads of one child from two holders ({sample} bytes of reads JSON); each writer waits for its own entry to commit"
    );

    let sqlite = fresh_sqlite(&dir, "appends.db").await?;
    let sqlite_rate = appends(&sqlite, args.writers, args.appends).await?;
    sqlite.close().await?;
    println!(
        "SQLite appends: {sqlite_rate:.0} entries/s ({} writers, {} entries)",
        args.writers, args.appends
    );
    let pg_rate = match &args.postgres {
        Some(url) => {
            let store = Store::connect(&StoreOptions::new(url.clone())).await?;
            store.migrate().await?;
            let rate = appends(&store, args.writers, args.appends).await?;
            store.close().await?;
            println!(
                "PostgreSQL appends: {rate:.0} entries/s ({} writers, {} entries)",
                args.writers, args.appends
            );
            Some(rate)
        }
        None => {
            println!("PostgreSQL appends: not measured (give --postgres URL of an empty database)");
            None
        }
    };

    // A chain of `verify_entries`, written in large groups, then verified.
    let store = fresh_sqlite(&dir, "verify.db").await?;
    let log = AccessLog::new(store.clone());
    let started = Instant::now();
    let mut written = 0;
    while written < args.verify_entries {
        let n = (args.verify_entries - written).min(10_000);
        let batch: Vec<Entry> = (written..written + n).map(entry).collect();
        log.append_all(&batch).await?;
        written += n;
    }
    let seed_s = started.elapsed().as_secs_f64();
    let report = log.verify(1).await?;
    store.close().await?;
    if !report.is_intact() || report.checked != args.verify_entries as u64 {
        return Err(CliError::Failed(format!(
            "verify checked {} of {} entries: {:?}",
            report.checked, args.verify_entries, report.first_break
        )));
    }
    let verify = Duration::from_secs_f64(report.seconds);
    println!(
        "verify: {} entries in {:.2} s ({:.0} entries/s; chain written in {seed_s:.1} s)",
        report.checked,
        verify.as_secs_f64(),
        report.checked as f64 / verify.as_secs_f64()
    );
    let _ = tokio::fs::remove_dir_all(&dir).await;
    println!(
        "summary: bench log: {sqlite_rate:.0} appends/s on SQLite{} with {} concurrent writers; {} entries verified in {:.2} s",
        pg_rate.map_or(String::new(), |r| format!(", {r:.0} on PostgreSQL")),
        args.writers,
        report.checked,
        verify.as_secs_f64()
    );
    Ok(())
}
