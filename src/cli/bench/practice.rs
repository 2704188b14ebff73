//! `kinship bench practice`: how long indicators of need take to evaluate — for every family
//! of a generated population (what `kinship indicators refresh` does, and what keeps
//! `familiesMeetingCriteria` current), and for one family after one new fact arrives (what
//! sync does per batch). Both read the facts from the store and write the hits back, on the
//! embedded default (SQLite).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use chrono::{TimeDelta, Utc};
use clap::Args;
use serde_json::json;

use super::super::CliError;
use super::super::demo::fresh_demo_store;
use crate::model::{Agency, DataCategory, Fact, FactId, FamilyId, FamilyKind, PersonId};
use crate::population::{self, PopulationSpec};
use crate::practice::indicators::IndicatorSets;
use crate::store::{indicators, load};

#[derive(Debug, Args)]
pub struct PracticeArgs {
    /// Families in the generated population.
    #[arg(long, default_value_t = 100_000)]
    pub families: usize,
    /// Single-family evaluations timed after one new fact each.
    #[arg(long, default_value_t = 500)]
    pub single: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The SQLite file to build (replaced if it is an earlier bench or demo database).
    #[arg(long, default_value = "target/bench-practice.db")]
    pub db: std::path::PathBuf,
    /// Keep `--db` when it already holds this population (same families and seed), instead
    /// of loading it again: loading is not what is measured, and takes minutes at 100,000.
    #[arg(long)]
    pub reuse: bool,
}

pub async fn run(args: PracticeArgs) -> Result<(), CliError> {
    let spec = PopulationSpec::new(args.families, args.seed);
    // Evaluate as of the population's own day, so windows hold the facts it generated.
    let now = spec
        .as_of
        .and_hms_opt(23, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let started = Instant::now();
    let spec_owned = spec.clone();
    let pop = tokio::task::spawn_blocking(move || population::generate(&spec_owned))
        .await
        .map_err(|e| CliError::Failed(format!("generator stopped: {e}")))?;
    let generated = started.elapsed().as_secs_f64();
    if let Some(dir) = args.db.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let reusable = args.reuse && args.db.exists() && {
        let store =
            crate::store::Store::connect(&crate::store::StoreOptions::sqlite_path(&args.db))
                .await?;
        let same = store.application_id().await.unwrap_or(0)
            == super::super::demo::DEMO_APPLICATION_ID
            && crate::store::graph::person_count(store.conn())
                .await
                .unwrap_or(0)
                == pop.persons.len() as u64;
        store.close().await?;
        same
    };
    let (store, loaded) = if reusable {
        let store =
            crate::store::Store::connect(&crate::store::StoreOptions::sqlite_path(&args.db))
                .await?;
        // Earlier runs' new facts stay; they are a few hundred among millions.
        (store, "reused".to_owned())
    } else {
        let store = fresh_demo_store(&args.db).await?;
        let started = Instant::now();
        load::population(store.conn(), &pop, Utc::now()).await?;
        let loaded = started.elapsed().as_secs_f64();
        (store, format!("loaded into SQLite in {loaded:.1} s"))
    };
    let families: Vec<FamilyId> = pop
        .families
        .iter()
        .filter(|f| f.kind == FamilyKind::Family)
        .map(|f| f.id)
        .collect();
    println!(
        "population: {} families, {} persons, {} facts (generated in {generated:.1} s, {loaded})",
        families.len(),
        pop.persons.len(),
        pop.facts.len()
    );
    let sets = IndicatorSets::built_in();

    // The whole population: every person's facts of the kinds the rules read, evaluated and
    // the hits written back, a chunk per transaction.
    let started = Instant::now();
    let (persons, hits) = indicators::refresh_all(&store, &sets, now, |_| {}).await?;
    let whole = started.elapsed().as_secs_f64();
    let meeting =
        indicators::families_meeting(store.conn(), "supporting-families", 3, None, u64::MAX)
            .await?
            .len();
    println!(
        "whole population: {persons} persons of {} families evaluated in {whole:.2} s ({:.0} families/s); {hits} indicators hold; {meeting} families meet 3 or more criteria",
        families.len(),
        families.len() as f64 / whole.max(f64::MIN_POSITIVE)
    );

    // One family after one new fact: a low attendance term for one of its children, then
    // that family's members re-evaluated and their hits replaced, in one transaction.
    let members: HashMap<FamilyId, Vec<PersonId>> =
        pop.members.iter().fold(HashMap::new(), |mut m, x| {
            m.entry(x.family_id).or_default().push(x.person_id);
            m
        });
    let children: BTreeSet<PersonId> = pop
        .persons
        .iter()
        .filter(|p| p.is_child)
        .map(|p| p.id)
        .collect();
    let school = pop
        .organisations
        .iter()
        .find(|o| o.id.kind() == crate::model::AgencyKind::School)
        .map(|o| o.id.clone())
        .ok_or_else(|| CliError::Failed("the population has no school".into()))?;
    let step = (families.len() / args.single.max(1)).max(1);
    let mut times: Vec<f64> = Vec::new();
    for family in families.iter().step_by(step).take(args.single) {
        let Some(persons) = members.get(family) else {
            continue;
        };
        let Some(child) = persons.iter().find(|p| children.contains(p)) else {
            continue;
        };
        let fact = low_attendance(*child, &school, now);
        let started = Instant::now();
        let txn = crate::store::begin_write(store.conn()).await?;
        load::facts(&txn, &[fact]).await?;
        indicators::refresh(&txn, &sets, persons, now).await?;
        txn.commit()
            .await
            .map_err(|e| CliError::Failed(format!("commit failed: {e}")))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        let i = ((times.len() as f64 - 1.0) * q).round() as usize;
        times.get(i).copied().unwrap_or(f64::NAN)
    };
    let (median, p99) = (pick(0.5), pick(0.99));
    println!(
        "one family after one new fact: {} families, median {median:.2} ms, p99 {p99:.2} ms (insert the fact, re-evaluate the family, replace its hits, commit)",
        times.len()
    );
    println!(
        "summary: all indicators for {} families in {whole:.2} s (aim < 10 s); one family after one new fact median {median:.2} ms, p99 {p99:.2} ms (aim < 10 ms)",
        families.len()
    );
    Ok(())
}

/// A term's attendance under 90%, as the education connector records it.
fn low_attendance(
    person: PersonId,
    school: &crate::model::OrganisationId,
    now: chrono::DateTime<Utc>,
) -> Fact {
    Fact {
        id: FactId(uuid::Uuid::now_v7()),
        person_id: person,
        agency: Agency::Education,
        organisation: school.clone(),
        category: DataCategory::EducationAttendance,
        kind: "attendance_summary".into(),
        occurred_at: now - TimeDelta::hours(2),
        recorded_at: now,
        summary: "Autumn term: attendance 84.0%".into(),
        payload: json!({ "AttendancePercent": 84.0, "SessionsPossible": 100, "SessionsAttended": 84 }),
        source_record: None,
    }
}
