//! `kinship demo`: everything a newcomer needs on one machine with nothing installed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::{CliError, hub};
use crate::config::Config;
use crate::model::{DataCategory, InvolvementKind, PersonId, Principal, Purpose, Role};
use crate::population::{self, Population, PopulationSpec};
use crate::server::auth::TokenSigner;
use crate::store::{Store, StoreOptions, load};

mod story;

/// `PRAGMA application_id` of a demo database ("KINS"): the demo replaces only files it made.
pub(crate) const DEMO_APPLICATION_ID: i64 = 0x4B49_4E53;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The SQLite file to create (replaced if it is an earlier demo database).
    #[arg(long, default_value = "kinship-demo.db")]
    pub db: PathBuf,
    /// The port to serve on (127.0.0.1 only).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// How many families to generate (about 2.5 children each).
    #[arg(long, default_value_t = 2_000)]
    pub families: usize,
    /// The generator's seed: the same seed gives the same population.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The day the population is "as of" (YYYY-MM-DD; default today): ages, open cases and
    /// recent incidents are relative to it. The same seed, size and day give the same data.
    #[arg(long)]
    pub as_of: Option<chrono::NaiveDate>,
    /// The folder of protocols to load.
    #[arg(long)]
    pub protocols: Option<PathBuf>,
}

/// The shipped protocols: `./protocols` when run from the repository, else the folder next
/// to the sources this binary was built from.
pub fn default_protocols() -> PathBuf {
    let here = PathBuf::from("protocols");
    if here.is_dir() {
        here
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("protocols")
    }
}

/// Opens a fresh demo database at `path`, refusing to touch a file the demo did not make.
pub async fn fresh_demo_store(path: &Path) -> Result<Store, CliError> {
    if path.exists() {
        let store = Store::connect(&StoreOptions::sqlite_path(path)).await?;
        let id = store.application_id().await.unwrap_or(0);
        store.close().await?;
        if id != DEMO_APPLICATION_ID {
            return Err(CliError::Usage(format!(
                "`{}` exists and is not a Kinship demo database; choose another --db",
                path.display()
            )));
        }
        for p in crate::store::sqlite_files(path) {
            match tokio::fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let store = Store::connect(&StoreOptions::sqlite_path(path)).await?;
    store.set_application_id(DEMO_APPLICATION_ID).await?;
    store.migrate().await?;
    Ok(store)
}

/// Generates and loads a population, returning it with how long each step took.
pub async fn populate(
    store: &Store,
    spec: &PopulationSpec,
) -> Result<(Population, f64, f64), CliError> {
    let started = Instant::now();
    let spec_owned = spec.clone();
    let pop = tokio::task::spawn_blocking(move || population::generate(&spec_owned))
        .await
        .map_err(|e| CliError::Failed(format!("generator stopped: {e}")))?;
    let generated = started.elapsed().as_secs_f64();
    let started = Instant::now();
    load::population(store.conn(), &pop, chrono::Utc::now()).await?;
    Ok((pop, generated, started.elapsed().as_secs_f64()))
}

/// The children a practitioner is involved with through one of `kinds` (with the child or
/// their family), busiest first.
pub fn subjects_of(pop: &Population, p: &Principal, kinds: &[InvolvementKind]) -> Vec<PersonId> {
    let now = pop
        .involvements
        .iter()
        .map(|i| i.started_at)
        .max()
        .unwrap_or_default();
    let children: HashMap<PersonId, bool> =
        pop.persons.iter().map(|x| (x.id, x.is_child)).collect();
    let mut facts: HashMap<PersonId, usize> = HashMap::new();
    for f in &pop.facts {
        *facts.entry(f.person_id).or_default() += 1;
    }
    let mut out: Vec<PersonId> = Vec::new();
    for i in pop.involvements.iter().filter(|i| i.is_active(now)) {
        let holds = i.principal.as_deref() == Some(p.subject.as_str())
            || (i.principal.is_none() && i.organisation == p.organisation);
        if !holds || !kinds.contains(&i.kind) {
            continue;
        }
        if let Some(person) = i.person_id {
            out.push(person);
        } else if let Some(family) = i.family_id {
            out.extend(
                pop.members
                    .iter()
                    .filter(|m| m.family_id == family)
                    .map(|m| m.person_id),
            );
        }
    }
    out.retain(|id| children.get(id).copied().unwrap_or(false));
    out.sort_by_key(|id| (std::cmp::Reverse(facts.get(id).copied().unwrap_or(0)), *id));
    out.dedup();
    out
}

fn has_category(pop: &Population, person: PersonId, category: DataCategory) -> bool {
    pop.facts
        .iter()
        .any(|f| f.person_id == person && f.category == category)
}

/// What the demo shows each role: the purpose it reads under, the involvement that gives it
/// need-to-know, a category its showcase child should have, and the query.
struct Showcase {
    role: Role,
    purpose: Purpose,
    kinds: &'static [InvolvementKind],
    wants: Option<DataCategory>,
    query: &'static str,
}

const WHOLE_PICTURE: &str = "{ person(id: \\\"ID\\\") { names { given family source { name } } dateOfBirth identifiers { system value } addresses { line1 town postcode } families { members { items { role person { names { given family } } } withheld } } involvements { kind heldBy organisation { name } active } timeline(first: 20) { entries { occurredAt agency category summary } withheld } } }";

const SHOWCASES: &[Showcase] = &[
    Showcase {
        role: Role::Dsl,
        purpose: Purpose::Safeguarding,
        kinds: &[InvolvementKind::DslCurrentSchool],
        wants: Some(DataCategory::PoliceDomesticAbuse),
        query: "{ person(id: \\\"ID\\\") { names { given family } dateOfBirth facts(categories: [\\\"police.domestic_abuse\\\"], first: 5) { items { occurredAt summary payload } withheld } } }",
    },
    Showcase {
        role: Role::MashOfficer,
        purpose: Purpose::Safeguarding,
        kinds: &[InvolvementKind::MashEnquiry],
        wants: None,
        query: WHOLE_PICTURE,
    },
    Showcase {
        role: Role::SocialWorker,
        purpose: Purpose::Safeguarding,
        kinds: &[InvolvementKind::AllocatedSocialWorker],
        wants: None,
        query: WHOLE_PICTURE,
    },
    Showcase {
        role: Role::HealthVisitor,
        purpose: Purpose::DirectCare,
        kinds: &[InvolvementKind::HealthVisitorCaseload],
        wants: Some(DataCategory::HealthDevelopment),
        query: "{ person(id: \\\"ID\\\") { names { given family } dateOfBirth facts(agency: HEALTH, first: 10) { items { occurredAt category summary } withheld } } }",
    },
];

/// The board reads no facts about children: it reviews who read what (run the others first),
/// and sees facts withheld from it.
const BOARD_QUERY: &str = "{ accessLog(first: 5) { entries { seq at principal organisation purpose breakGlass reads { category decision protocol clause } } } person(id: \\\"ID\\\") { timeline(first: 5) { withheld } } }";

/// A query that shows a role what it is for, with the purpose it runs under.
/// `graph` maps a population person to their person in the graph.
fn showcase(
    pop: &Population,
    p: &Principal,
    graph: &HashMap<PersonId, PersonId>,
) -> Option<(Purpose, String)> {
    if p.has_role(Role::BoardMember) {
        let child = pop
            .persons
            .iter()
            .filter(|x| x.is_child)
            .find_map(|x| graph.get(&x.id))?;
        return Some((
            Purpose::Audit,
            BOARD_QUERY.replace("ID", &child.to_string()),
        ));
    }
    let show = SHOWCASES.iter().find(|s| p.has_role(s.role))?;
    let subjects: Vec<PersonId> = subjects_of(pop, p, show.kinds)
        .into_iter()
        .filter(|s| graph.contains_key(s))
        .collect();
    let child = subjects
        .iter()
        .copied()
        .find(|s| show.wants.is_none_or(|c| has_category(pop, *s, c)))
        .or_else(|| subjects.first().copied())?;
    let child = graph.get(&child)?;
    Some((show.purpose, show.query.replace("ID", &child.to_string())))
}

/// Pulls the population through the four connectors from its loopback feeds.
pub async fn sync_from_feeds(
    store: &Store,
    pop: &Population,
    progress: &dyn crate::sync::Progress,
) -> Result<(super::feeds::Feeds, Vec<crate::store::sync::Run>), CliError> {
    let feeds = super::feeds::start(crate::population::envelopes::envelopes(pop), 500).await?;
    let engine = crate::sync::Engine::new(store.clone());
    let connectors = feeds
        .specs
        .iter()
        .cloned()
        .map(|s| crate::sync::Running::build(s).map_err(|e| CliError::failed(&e)))
        .collect::<Result<Vec<_>, _>>()?;
    // Health first: its records carry NHS numbers and dates of birth for everyone, so the
    // schools', the council's and the police's records find their person on arrival.
    let mut runs = Vec::with_capacity(connectors.len());
    for c in &connectors {
        runs.push(
            engine
                .run(c, progress)
                .await
                .map_err(|e| CliError::failed(&e))?,
        );
    }
    Ok((feeds, runs))
}

/// What the hub itself records, beside what connectors bring: the organisations' names, the
/// families the local authority has grouped, practitioners' involvements and consents. Each is
/// attached to the person the population's NHS number now leads to in the graph. Returns that
/// mapping from population persons to graph persons.
pub async fn hub_records(
    store: &Store,
    pop: &Population,
) -> Result<HashMap<PersonId, PersonId>, CliError> {
    use crate::model::{FamilyMember, IdentifierSystem};
    use crate::store::sync as rows;
    let conn = store.conn();
    rows::name_organisations(conn, &pop.organisations).await?;
    let nhs_of: HashMap<PersonId, &str> = pop
        .identifiers
        .iter()
        .filter(|i| i.system == IdentifierSystem::NhsNumber)
        .map(|i| (i.person_id, i.value.as_str()))
        .collect();
    let values: Vec<(IdentifierSystem, String)> = nhs_of
        .values()
        .map(|v| (IdentifierSystem::NhsNumber, (*v).to_owned()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut by_value: HashMap<String, PersonId> = HashMap::new();
    for chunk in values.chunks(5_000) {
        for (_, value, person) in rows::persons_by_identifiers(conn, chunk).await? {
            by_value.entry(value).or_insert(person);
        }
    }
    let graph: HashMap<PersonId, PersonId> = nhs_of
        .iter()
        .filter_map(|(p, v)| Some((*p, *by_value.get(*v)?)))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let members: Vec<FamilyMember> = pop
        .members
        .iter()
        .filter_map(|m| {
            let person = *graph.get(&m.person_id)?;
            seen.insert((m.family_id, person)).then(|| FamilyMember {
                person_id: person,
                source_record: None,
                ..m.clone()
            })
        })
        .collect();
    let involvements: Vec<_> = pop
        .involvements
        .iter()
        .filter_map(|i| {
            let person_id = match i.person_id {
                Some(p) => Some(*graph.get(&p)?),
                None => None,
            };
            Some(crate::model::Involvement {
                person_id,
                ..i.clone()
            })
        })
        .collect();
    let consents: Vec<_> = pop
        .consents
        .iter()
        .filter_map(|c| {
            Some(crate::model::Consent {
                person_id: *graph.get(&c.person_id)?,
                ..c.clone()
            })
        })
        .collect();
    let now = chrono::Utc::now();
    let txn = sea_orm::TransactionTrait::begin(conn)
        .await
        .map_err(crate::store::StoreError::from)?;
    load::families(&txn, &pop.families, now).await?;
    load::members(&txn, &members).await?;
    load::involvements(&txn, &involvements).await?;
    load::consents(&txn, &consents).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(graph)
}

/// `kinship demo`.
pub async fn run(args: DemoArgs) -> Result<(), CliError> {
    let protocols = args.protocols.clone().unwrap_or_else(default_protocols);
    let config = Config::demo(&args.db, args.port, protocols);
    config.validate()?;
    let spec = PopulationSpec {
        as_of: args
            .as_of
            .unwrap_or_else(|| chrono::Utc::now().date_naive()),
        ..PopulationSpec::new(args.families, args.seed)
    };
    println!("Kinship demo");
    println!("  database   {} (SQLite, WAL)", args.db.display());
    let store = fresh_demo_store(&args.db).await?;
    let started = Instant::now();
    let spec_owned = spec.clone();
    let pop = tokio::task::spawn_blocking(move || population::generate(&spec_owned))
        .await
        .map_err(|e| CliError::Failed(format!("generator stopped: {e}")))?;
    println!(
        "  population {} families, {} children, {} adults, {} facts, {} involvements (seed {}, as of {}; generated in {:.1} s)",
        pop.families.len(),
        pop.child_count(),
        pop.persons.len() - pop.child_count(),
        pop.facts.len(),
        pop.involvements.len(),
        spec.seed,
        spec.as_of,
        started.elapsed().as_secs_f64()
    );
    println!(
        "  feeds      serving the population as FHIR, CTF XML, POLE JSON, CIN XML and SSDA903 CSV on loopback; syncing..."
    );
    let started = Instant::now();
    let progress = crate::sync::progress::for_terminal();
    let (_feeds, runs) = sync_from_feeds(&store, &pop, progress.as_ref()).await?;
    for r in &runs {
        println!(
            "  synced     {:<18} {:>6} records, {:>3} quarantined, {} batches",
            r.connector, r.new, r.quarantined, r.batches
        );
    }
    let graph = hub_records(&store, &pop).await?;
    let persons = crate::store::graph::person_count(store.conn()).await?;
    println!(
        "  graph      {persons} persons from {} people, linked on arrival by NHS number, UPN, LA id, exact name and date of birth, and name among a child's relatives ({:.1} s)",
        pop.persons.len(),
        started.elapsed().as_secs_f64()
    );
    let hub = hub::start(&config, store).await?;
    let addr = hub.local_addr()?;
    let rules = hub.gate.rules();
    println!(
        "  protocols  {} from {}",
        rules.fingerprint(),
        config.protocols.dir.display()
    );
    println!(
        "  GraphQL    http://{addr}/graphql (GraphiQL in a browser; paste a token as `Authorization: Bearer ...`)"
    );
    println!("  health     http://{addr}/healthz  http://{addr}/readyz  http://{addr}/metrics");
    println!("  board      http://{addr}/board (sign in with the board member's token below)");
    println!("  insights   http://{addr}/insights (the partnership's indicators; the same token)");
    println!();
    let signer = TokenSigner::from_config(&config.auth)
        .ok_or_else(|| CliError::Failed("demo configuration has no shared secret".into()))?;
    for practitioner in pop.practitioners.iter().take(5) {
        let p = &practitioner.principal;
        let token = signer
            .sign(p)
            .map_err(|e| CliError::Failed(format!("cannot sign a demo token: {e}")))?;
        println!("# {} — {}", practitioner.display_name, practitioner.title);
        println!(
            "#   sub {}, agency {}, roles {}",
            p.subject,
            p.organisation,
            p.roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(",")
        );
        match showcase(&pop, p, &graph) {
            Some((purpose, query)) => {
                println!(
                    "curl -s http://{addr}/graphql -H 'Authorization: Bearer {token}' -H 'Kinship-Purpose: {purpose}' -H 'Content-Type: application/json' -d '{{\"query\":\"{query}\"}}'"
                );
            }
            None => println!("export TOKEN={token}"),
        }
        println!();
    }
    story::print(&pop, &graph, &signer, addr)?;
    println!(
        "Press Ctrl-C to stop. Every read is in the access log; check its chain with `DATABASE_URL={} kinship audit verify`.",
        args.db.display()
    );
    crate::server::serve(hub.listener, hub.router, hub::shutdown_signal()).await?;
    hub.store.close().await?;
    println!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{BOARD_QUERY, SHOWCASES};

    /// Every query the demo prints is valid against the schema: the only errors are those of
    /// resolvers running without a request's gate, never of parsing or validation.
    #[tokio::test]
    async fn the_printed_queries_validate_against_the_schema() {
        let schema = crate::api::schema(
            &crate::config::GraphqlConfig::default(),
            crate::api::ConfiguredConnectors::default(),
        );
        let queries = SHOWCASES
            .iter()
            .map(|s| s.query)
            .chain([BOARD_QUERY])
            .chain(super::story::STEPS.iter().map(|s| s.query));
        for q in queries {
            // The printed form is escaped for a shell's JSON string; the story's shell
            // variables stand for ids.
            let mut q = q
                .replace("\\\"", "\"")
                .replace("ID", "01a206c2-5a0e-70fb-b259-eb07173f8a3c");
            for var in ["$CHILD", "$REFERRAL", "$ASSESSMENT"] {
                q = q.replace(var, "01a206c2-5a0e-70fb-b259-eb07173f8a3c");
            }
            q = q
                .replace("$COLLEAGUE_ORG", "local_authority:999")
                .replace("$COLLEAGUE", "eh-0002");
            let res = schema.execute(q.as_str()).await;
            assert!(!res.errors.is_empty(), "no gate, so resolvers fail: {q}");
            for e in &res.errors {
                assert!(!e.path.is_empty(), "{q}: {}", e.message);
            }
        }
    }
}
