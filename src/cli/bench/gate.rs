//! `kinship bench gate`: how long one protocol decision takes over a realistic mix of
//! principals, purposes, subjects and categories, and what enforcement plus logging cost the
//! whole-child query, against the same query served by a gate that does neither. That gate
//! ([`Gate::unenforced`]) is built here, inside the harness: the server has no switch for it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Args;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::super::demo::{default_protocols, fresh_demo_store, populate};
use super::super::{CliError, hub};
use super::{percentile, process_cpu, whole_child_load, whole_child_targets};
use crate::config::Config;
use crate::gate::{Gate, ProtocolRules, Question, RuleSet, SubjectContext, protocol};
use crate::model::{
    DataCategory, FamilyId, InvolvementKind, OrganisationId, PersonId, Principal, Purpose, Role,
};
use crate::population::{Population, PopulationSpec};
use crate::server::auth::TokenSigner;
use crate::server::{self, App};

#[derive(Debug, Args)]
pub struct GateArgs {
    /// Families in the generated population.
    #[arg(long, default_value_t = 2_000)]
    pub families: usize,
    /// Decisions timed, one by one.
    #[arg(long, default_value_t = 1_000_000)]
    pub decisions: usize,
    /// Whole-child requests per mode (enforced, bypassed), after a warm-up. Enough that a
    /// shared machine's noise moves the ratio by a point or two rather than five.
    #[arg(long, default_value_t = 6_000)]
    pub requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// The requests are split into this many alternating rounds per mode, so that a change in
    /// the machine's load falls on both.
    #[arg(long, default_value_t = 8)]
    pub rounds: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Serve only one of the two hubs (for profiling one side; no ratio is printed).
    #[arg(long, value_parser = ["enforced", "bypassed"])]
    pub only: Option<String>,
}

/// One question of the mix, owned (a [`Question`] borrows from it).
pub struct Asked {
    pub principal: usize,
    pub purpose: Purpose,
    pub category: DataCategory,
    pub owner: OrganisationId,
    pub subject: Arc<SubjectContext>,
    pub justified: bool,
}

/// The questions a day's reads would ask: practitioners mostly about the children they work
/// with and for their own purpose, sometimes about others or for another purpose, over the
/// categories and holders of what the graph holds about each child.
pub struct Mix {
    pub principals: Vec<Principal>,
    pub asked: Vec<Asked>,
}

fn usual_purpose(role: Role) -> Purpose {
    match role {
        Role::EarlyHelpPractitioner | Role::HealthVisitor => Purpose::EarlyHelp,
        Role::Gp | Role::EdClinician => Purpose::DirectCare,
        Role::YjsOfficer => Purpose::CrimePrevention,
        Role::BoardMember | Role::Dpo | Role::SystemAdmin => Purpose::Audit,
        _ => Purpose::Safeguarding,
    }
}

/// Builds `n` questions over a population.
pub fn mix(pop: &Population, n: usize, seed: u64) -> Mix {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let now = Utc::now();
    let principals: Vec<Principal> = pop
        .practitioners
        .iter()
        .map(|p| p.principal.clone())
        .collect();
    let mut members_of: HashMap<FamilyId, Vec<PersonId>> = HashMap::new();
    for m in &pop.members {
        members_of.entry(m.family_id).or_default().push(m.person_id);
    }
    // What each principal is involved with: (principal, person) -> kinds.
    let mut held: HashMap<(usize, PersonId), BTreeSet<InvolvementKind>> = HashMap::new();
    let mut caseload: Vec<Vec<PersonId>> = vec![Vec::new(); principals.len()];
    for i in pop.involvements.iter().filter(|i| i.is_active(now)) {
        for (pi, p) in principals.iter().enumerate() {
            let holds = i.principal.as_deref() == Some(p.subject.as_str())
                || (i.principal.is_none() && i.organisation == p.organisation);
            if !holds {
                continue;
            }
            let persons = match (i.person_id, i.family_id) {
                (Some(person), _) => vec![person],
                (None, Some(f)) => members_of.get(&f).cloned().unwrap_or_default(),
                _ => vec![],
            };
            for person in persons {
                held.entry((pi, person)).or_default().insert(i.kind);
                caseload[pi].push(person);
            }
        }
    }
    let mut consents: HashMap<PersonId, Vec<crate::model::Consent>> = HashMap::new();
    for c in &pop.consents {
        consents.entry(c.person_id).or_default().push(c.clone());
    }
    let mut holdings: HashMap<PersonId, Vec<(DataCategory, OrganisationId)>> = HashMap::new();
    for f in &pop.facts {
        holdings
            .entry(f.person_id)
            .or_default()
            .push((f.category, f.organisation.clone()));
    }
    for name in &pop.names {
        holdings
            .entry(name.person_id)
            .or_default()
            .push((DataCategory::PersonIdentity, name.organisation.clone()));
    }
    for a in &pop.addresses {
        holdings
            .entry(a.person_id)
            .or_default()
            .push((DataCategory::PersonContact, a.organisation.clone()));
    }
    let persons: HashMap<PersonId, &crate::model::Person> =
        pop.persons.iter().map(|p| (p.id, p)).collect();
    let children: Vec<PersonId> = pop
        .persons
        .iter()
        .filter(|p| p.is_child && holdings.contains_key(&p.id))
        .map(|p| p.id)
        .collect();
    let mut contexts: HashMap<(usize, PersonId), Arc<SubjectContext>> = HashMap::new();
    let mut asked = Vec::with_capacity(n);
    while asked.len() < n {
        let pi = rng.random_range(0..principals.len());
        let p = &principals[pi];
        let subject = match (caseload[pi].choose(&mut rng), children.choose(&mut rng)) {
            (Some(s), _) if rng.random_bool(0.7) => *s,
            (_, Some(any)) => *any,
            (Some(s), None) => *s,
            (None, None) => break,
        };
        let Some((category, owner)) = holdings.get(&subject).and_then(|h| h.choose(&mut rng))
        else {
            continue;
        };
        let role = p.roles.first().copied().unwrap_or(Role::SocialWorker);
        let purpose = if rng.random_bool(0.8) {
            usual_purpose(role)
        } else {
            *Purpose::ALL
                .choose(&mut rng)
                .unwrap_or(&Purpose::Safeguarding)
        };
        let ctx = contexts
            .entry((pi, subject))
            .or_insert_with(|| {
                let person = persons.get(&subject).map(|x| (*x).clone());
                Arc::new(SubjectContext {
                    shielded: person.as_ref().is_some_and(|x| x.shielded),
                    person,
                    involvements: held
                        .get(&(pi, subject))
                        .map(|k| k.iter().copied().collect())
                        .unwrap_or_default(),
                    consents: consents.get(&subject).cloned().unwrap_or_default(),
                    shield_roles: None,
                })
            })
            .clone();
        asked.push(Asked {
            principal: pi,
            purpose,
            category: *category,
            owner: owner.clone(),
            subject: ctx,
            justified: rng.random_bool(0.02),
        });
    }
    Mix { principals, asked }
}

impl Mix {
    /// The `i`th question (cycling).
    pub fn question(&self, i: usize, now: chrono::DateTime<Utc>) -> Question<'_> {
        let a = &self.asked[i % self.asked.len()];
        Question {
            principal: &self.principals[a.principal],
            purpose: Some(a.purpose),
            category: a.category,
            owner: &a.owner,
            subject: &a.subject,
            justified: a.justified,
            now,
        }
    }
}

/// Times `decisions` calls of `decide`, one by one; returns the sorted durations and how many
/// permitted.
pub fn time_decisions(
    mix: &Mix,
    decisions: usize,
    mut decide: impl FnMut(&Question<'_>) -> bool,
) -> (Vec<Duration>, usize) {
    let now = Utc::now();
    // Warm the caches on a tenth as many first.
    for i in 0..decisions / 10 {
        std::hint::black_box(decide(&mix.question(i, now)));
    }
    let mut times = Vec::with_capacity(decisions);
    let mut permitted = 0;
    for i in 0..decisions {
        let q = mix.question(i, now);
        let started = Instant::now();
        let ok = std::hint::black_box(decide(std::hint::black_box(&q)));
        times.push(started.elapsed());
        permitted += usize::from(ok);
    }
    times.sort_unstable();
    (times, permitted)
}

/// The same mix through the protocols compiled into Cedar: decision time and agreement with
/// the evaluator. Returns the line to print before the summary.
#[cfg(feature = "cedar")]
fn cedar(
    protocols: &[protocol::Protocol],
    mix: &Mix,
    rules: &ProtocolRules,
    decisions: usize,
    ours: Duration,
) -> Result<String, CliError> {
    use crate::gate::cedar::CedarRules;
    let cedar = CedarRules::new(protocols, Utc::now().date_naive()).map_err(CliError::Failed)?;
    let now = Utc::now();
    let mut disagree = 0;
    for i in 0..mix.asked.len() {
        let q = mix.question(i, now);
        let theirs = cedar.permits(&q).map_err(CliError::Failed)?;
        disagree += usize::from(theirs != rules.decide(&q).permits());
    }
    let mut failed = None;
    let (times, _) = time_decisions(mix, decisions, |q| match cedar.permits(q) {
        Ok(ok) => ok,
        Err(e) => {
            failed.get_or_insert(e);
            false
        }
    });
    if let Some(e) = failed {
        return Err(CliError::Failed(format!("cedar: {e}")));
    }
    let (median, p99) = (percentile(&times, 50.0), percentile(&times, 99.0));
    println!(
        "cedar policies compiled from the protocols: {}",
        cedar.len()
    );
    println!(
        "cedar agreement with the evaluator: {} of {} questions differ",
        disagree,
        mix.asked.len()
    );
    println!("cedar decision median: {:.3} µs", micros(median));
    println!("cedar decision p99: {:.3} µs", micros(p99));
    Ok(format!(
        "cedar/evaluator decision median ratio: {:.1}x (permit or deny only; no reason, clause or explanation)",
        median.as_secs_f64() / ours.as_secs_f64().max(1e-12)
    ))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub async fn run(args: GateArgs) -> Result<(), CliError> {
    if args.requests == 0 || args.concurrency == 0 || args.rounds == 0 || args.decisions == 0 {
        return Err(CliError::Usage(
            "--decisions, --requests, --concurrency and --rounds must be at least 1".into(),
        ));
    }
    let dir = std::env::temp_dir().join(format!("kinship-bench-gate-{}", std::process::id()));
    tokio::fs::create_dir_all(&dir).await?;
    let db = dir.join("bench.db");
    let config = Config::demo(&db, 0, default_protocols());
    config.validate()?;
    let store = fresh_demo_store(&db).await?;
    let (pop, _, load_s) = populate(&store, &PopulationSpec::new(args.families, args.seed)).await?;
    println!(
        "population: {} families, {} children, {} facts, {} practitioners (loaded in {load_s:.1} s)",
        pop.families.len(),
        pop.child_count(),
        pop.facts.len(),
        pop.practitioners.len()
    );

    // 1. One decision, over the mix.
    let protocols = protocol::load_dir(&config.protocols.dir)?;
    let rules = ProtocolRules::new(protocols.clone());
    let mix = mix(&pop, 50_000, args.seed);
    let (times, permitted) = time_decisions(&mix, args.decisions, |q| rules.decide(q).permits());
    let (median, p99) = (percentile(&times, 50.0), percentile(&times, 99.0));
    let total: Duration = times.iter().sum();
    println!(
        "decision mix: {} distinct questions from {} principals, {:.1}% permitted",
        mix.asked.len(),
        mix.principals.len(),
        100.0 * permitted as f64 / args.decisions as f64
    );
    println!("decision median: {:.3} µs", micros(median));
    println!("decision p99: {:.3} µs", micros(p99));
    println!(
        "decisions per second (one core): {:.0} decisions/s",
        args.decisions as f64 / total.as_secs_f64()
    );
    #[cfg(feature = "cedar")]
    let cedar_line = cedar(&protocols, &mix, &rules, args.decisions, median)?;

    // 2. The whole-child query, enforced and logged against bypassed, in alternating rounds.
    let signer = TokenSigner::from_config(&config.auth)
        .ok_or_else(|| CliError::Failed("bench configuration has no shared secret".into()))?;
    let targets = whole_child_targets(&pop, &signer)?;
    let enforced = hub::start(&config, store.clone()).await?;
    let bypass = {
        let app = App::new(
            &config,
            Gate::unenforced(store.clone()),
            Arc::new(|| (0, 0)),
        )?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        (listener, server::router(app, &config))
    };
    let urls = [
        format!("http://{}/graphql", enforced.local_addr()?),
        format!("http://{}/graphql", bypass.0.local_addr()?),
    ];
    let servers = [
        tokio::spawn(server::serve(
            enforced.listener,
            enforced.router,
            std::future::pending(),
        )),
        tokio::spawn(server::serve(bypass.0, bypass.1, std::future::pending())),
    ];
    let client = reqwest::Client::new();
    let per_round = args.requests.div_ceil(args.rounds);
    let mut wall = [Duration::ZERO; 2];
    // SQL statements each mode ran (the log's appends included).
    let mut sql = [0u64; 2];
    // CPU time the whole process (server, database and client) used in each mode.
    let mut cpu = [Some(Duration::ZERO); 2];
    let mut results: [Vec<(Duration, Option<usize>)>; 2] = [Vec::new(), Vec::new()];
    for url in &urls {
        whole_child_load(
            &client,
            url,
            &targets,
            0,
            (per_round / 2).max(1),
            args.concurrency,
        )
        .await;
    }
    for round in 0..args.rounds {
        // Alternate which mode goes first, so neither always runs on a warmer cache.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for mode in order {
            if args
                .only
                .as_deref()
                .is_some_and(|o| o != ["enforced", "bypassed"][mode])
            {
                continue;
            }
            let started = Instant::now();
            let statements = store.stats().statements();
            let cpu_before = process_cpu();
            let r = whole_child_load(
                &client,
                &urls[mode],
                &targets,
                round * per_round,
                per_round,
                args.concurrency,
            )
            .await;
            wall[mode] += started.elapsed();
            cpu[mode] = match (cpu[mode], cpu_before, process_cpu()) {
                (Some(sum), Some(before), Some(after)) => Some(sum + after.saturating_sub(before)),
                _ => None,
            };
            sql[mode] += store.stats().statements() - statements;
            results[mode].extend(r);
        }
    }
    for s in servers {
        s.abort();
    }
    let mut rps = [0.0; 2];
    let mut failures = 0;
    for (mode, name) in ["enforced and logged", "bypassed (harness only)"]
        .iter()
        .enumerate()
    {
        if results[mode].is_empty() {
            continue;
        }
        let ok: Vec<usize> = results[mode].iter().filter_map(|(_, n)| *n).collect();
        failures += results[mode].len() - ok.len();
        let mut lat: Vec<Duration> = results[mode].iter().map(|(d, _)| *d).collect();
        lat.sort_unstable();
        rps[mode] = results[mode].len() as f64 / wall[mode].as_secs_f64();
        let cpu_per_request = cpu[mode].map_or_else(
            || "unknown".to_owned(),
            |c| {
                format!(
                    "{:.2} ms",
                    c.as_secs_f64() * 1e3 / results[mode].len() as f64
                )
            },
        );
        println!(
            "whole-child {name}: {:.1} requests/s, p50 {:.2} ms, p99 {:.2} ms, {:.1} facts per response, {:.1} SQL statements per request, {cpu_per_request} CPU per request (whole process, client included), {} failed",
            rps[mode],
            percentile(&lat, 50.0).as_secs_f64() * 1e3,
            percentile(&lat, 99.0).as_secs_f64() * 1e3,
            ok.iter().sum::<usize>() as f64 / ok.len().max(1) as f64,
            sql[mode] as f64 / results[mode].len() as f64,
            results[mode].len() - ok.len(),
        );
    }
    let logged = crate::store::log::entries(store.conn(), 1, 1)
        .await
        .map(|e| !e.is_empty())
        .unwrap_or(false);
    println!(
        "access-log entries written by the enforced hub: {}",
        if logged { "yes" } else { "none" }
    );
    #[cfg(feature = "cedar")]
    println!("{cedar_line}");
    if let Some(only) = &args.only {
        let _ = tokio::fs::remove_dir_all(&dir).await;
        println!(
            "summary: bench gate --only {only}: {:.1} req/s (no ratio: one side only)",
            rps[0].max(rps[1])
        );
        return Ok(());
    }
    let ratio = rps[0] / rps[1];
    let cost = 100.0 * (1.0 - ratio);
    println!(
        "summary: bench gate (SQLite, {} families): decision median {:.3} µs, p99 {:.3} µs; whole-child {:.1} req/s enforced vs {:.1} req/s bypassed: ratio {ratio:.3}, enforcement plus logging cost {cost:.1}% of throughput",
        args.families,
        micros(median),
        micros(p99),
        rps[0],
        rps[1]
    );
    let _ = tokio::fs::remove_dir_all(&dir).await;
    if failures > 0 || !logged {
        return Err(CliError::Failed(format!(
            "{failures} requests failed{}",
            if logged {
                ""
            } else {
                "; the enforced hub wrote no access log"
            }
        )));
    }
    Ok(())
}
