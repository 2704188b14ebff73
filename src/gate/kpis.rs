//! Governed reads of the partnership indicators (`kpis`): de-identified aggregates under the
//! `statistics` purpose that never return a person.
//!
//! Governance is a protocol, like every other read: `protocols/p-stats.toml` says which roles
//! may see which categories aggregated, from which holders, for `statistics`. For each source
//! a KPI counts (a category and the kinds of organisation that hold it) the gate asks the rule
//! set the category-level question — no subject, so no relationship or consent applies — and
//! counts only rows from holders the protocols permit. A KPI none of whose holders is
//! permitted is withheld with the reason and clause; when every KPI is withheld the read is
//! refused as a whole. Any other purpose is refused before anything is counted, so a
//! practitioner's safeguarding token cannot be used to profile an area.
//!
//! Each read is one access-log action with the period, the area, the clauses relied on, the
//! KPIs released and withheld and how many cells were suppressed. It names no person: the
//! entry has no subjects.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};

use super::rules::{Question, SubjectContext};
use super::{ClauseRef, Decision, Denial, GateError, Gated, RequestGate, denial};
use crate::model::{AgencyKind, DataCategory, OrganisationId, PersonId, Purpose};
use crate::practice::early_help::AssessmentOutcome;
use crate::practice::kpis::{
    self as domain, Cell, Counts, Kpi, PERSISTENT_ABSENCE_BELOW, Table, Window,
};
use crate::store::kpis::{self as store, Scope};

/// The longest period one read may ask for, so one request cannot scan a decade.
pub const MAX_DAYS: i64 = 3 * 366;

/// Facts that mark a child as known to children's social care, with their categories.
const KNOWN_TO_SOCIAL_CARE: &[(&str, DataCategory)] = &[
    ("contact", DataCategory::SocialCareContactReferral),
    ("referral", DataCategory::SocialCareContactReferral),
    ("assessment", DataCategory::SocialCareAssessment),
    ("cin_plan", DataCategory::SocialCareChildInNeed),
    ("cp_plan", DataCategory::SocialCareChildProtection),
    ("looked_after_episode", DataCategory::SocialCareLookedAfter),
];

/// A KPI as released: its table with suppression applied.
#[derive(Clone, Debug)]
pub struct KpiRead {
    pub kpi: Kpi,
    pub table: Table,
    /// The child population its rate is per, when it is a rate.
    pub population: Option<Cell>,
}

/// A KPI the protocols do not let the caller see.
#[derive(Clone, Debug)]
pub struct KpiWithheld {
    pub kpi: Kpi,
    pub denial: Denial,
}

/// What a `kpis` read released.
#[derive(Clone, Debug)]
pub struct KpisRead {
    pub window: Window,
    pub area: Option<String>,
    /// The children the area holds (the rates' denominator), suppressed like any count.
    pub children: Cell,
    pub kpis: Vec<KpiRead>,
    pub withheld: Vec<KpiWithheld>,
}

/// A postcode district (outward code) as typed, upper-cased and checked: one or two letters,
/// a digit, and an optional letter or digit (`AN1`, `AN10`, `EC1A`).
pub fn parse_area(raw: &str) -> Option<String> {
    let a: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect();
    let b = a.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    let rest = &b[letters..];
    let ok = (1..=2).contains(&letters)
        && !rest.is_empty()
        && rest.len() <= 2
        && rest[0].is_ascii_digit()
        && rest[1..].iter().all(u8::is_ascii_alphanumeric);
    ok.then_some(a)
}

/// What the protocols let this caller count.
struct Permits {
    /// (category, holder kind) → the decision.
    decisions: HashMap<(DataCategory, AgencyKind), Decision>,
}

impl Permits {
    /// The holder kinds of `category` the caller may count, from `candidates`.
    fn holders(&self, category: DataCategory, candidates: &[AgencyKind]) -> Vec<AgencyKind> {
        candidates
            .iter()
            .copied()
            .filter(|k| {
                self.decisions
                    .get(&(category, *k))
                    .is_some_and(Decision::permits)
            })
            .collect()
    }

    /// The refusal of the first candidate, when none of them is permitted.
    fn refusal(&self, category: DataCategory, candidates: &[AgencyKind]) -> Option<Denial> {
        if !self.holders(category, candidates).is_empty() {
            return None;
        }
        let d = candidates
            .first()
            .and_then(|k| self.decisions.get(&(category, *k)))?;
        Some(denial(category, d))
    }
}

/// The (category, holder kinds) each KPI counts.
fn sources(kpi: Kpi, practice_holder: AgencyKind) -> Vec<(DataCategory, Vec<AgencyKind>)> {
    let la = vec![practice_holder];
    let mut out = vec![(DataCategory::PersonIdentity, la.clone())];
    match kpi {
        Kpi::ReferralRate | Kpi::ReReferrals | Kpi::DecidedOnTime => {
            out.push((DataCategory::SocialCareContactReferral, la));
        }
        Kpi::EarlyHelpStarted | Kpi::EarlyHelpClosed => {
            out.push((DataCategory::EarlyHelpAssessment, la));
        }
        Kpi::CpPlanRate => out.push((
            DataCategory::SocialCareChildProtection,
            vec![AgencyKind::LocalAuthority],
        )),
        Kpi::PersistentAbsence => {
            out.push((
                DataCategory::EducationAttendance,
                vec![AgencyKind::School, AgencyKind::LocalAuthority],
            ));
            let categories: BTreeSet<DataCategory> =
                KNOWN_TO_SOCIAL_CARE.iter().map(|(_, c)| *c).collect();
            for c in categories {
                out.push((c, vec![AgencyKind::LocalAuthority]));
            }
        }
        Kpi::SelfHarm => out.push((
            DataCategory::HealthMentalHealth,
            vec![AgencyKind::AcuteTrust, AgencyKind::MentalHealthTrust],
        )),
    }
    out
}

fn day_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(NaiveTime::MIN).and_utc()
}

impl RequestGate {
    /// The partnership indicators for `from`..=`to` (whole days, UTC), for the whole
    /// authority or one postcode district. `Ok(Err(_))` when the protocols withhold every one.
    pub async fn kpis(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        area: Option<&str>,
    ) -> Result<Gated<KpisRead>, GateError> {
        let purpose = self.require_purpose()?;
        if purpose != Purpose::Statistics {
            return Err(GateError::Forbidden(format!(
                "`kpis` answers only under the `statistics` purpose, not `{purpose}`: it returns aggregates, never a person"
            )));
        }
        if to < from {
            return Err(GateError::Invalid("`to` is before `from`".into()));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(GateError::Invalid(format!(
                "a period of at most {MAX_DAYS} days"
            )));
        }
        let area = match area {
            None => None,
            Some(raw) => Some(parse_area(raw).ok_or_else(|| {
                GateError::Invalid(format!(
                    "`{raw}` is not a postcode district (the outward code, e.g. `AN1`)"
                ))
            })?),
        };
        let window = Window { from, to };
        let owner = self.inner.gate.practice_owner();
        let permits = self.statistics_permits(owner.kind(), area.is_some());

        let mut withheld = Vec::new();
        let mut allowed = Vec::new();
        for kpi in Kpi::ALL.iter().copied() {
            let refusal = sources(kpi, owner.kind())
                .iter()
                .find_map(|(c, holders)| permits.refusal(*c, holders));
            // Narrowing by area reads addresses: the protocols must allow that too.
            let refusal = refusal.or_else(|| {
                area.as_ref()
                    .and_then(|_| permits.refusal(DataCategory::PersonContact, &[owner.kind()]))
            });
            match refusal {
                Some(denial) => withheld.push(KpiWithheld { kpi, denial }),
                None => allowed.push(kpi),
            }
        }
        let clauses: BTreeSet<String> = permits
            .decisions
            .values()
            .filter(|d| d.permits())
            .filter_map(|d| d.by.as_ref().map(clause_key))
            .collect();
        if allowed.is_empty() {
            let first = withheld
                .iter()
                .map(|w| &w.denial)
                .max_by_key(|d| d.reason)
                .cloned();
            self.log_kpis(&window, area.as_deref(), &clauses, &[], &withheld, 0);
            return Ok(Err(first.unwrap_or(Denial {
                category: DataCategory::PersonIdentity,
                reason: super::Reason::NoActiveProtocol,
                by: None,
                break_glass_available: false,
            })));
        }

        let scope = Scope {
            start: day_start(from),
            end: day_start(to) + TimeDelta::days(1),
            area: area.clone(),
            today: self.inner.now.date_naive(),
        };
        let conn = self.inner.store.conn();
        let months = window.months();
        let month_of = |at: DateTime<Utc>| Window::month_index(&months, at.date_naive());
        let children = Cell::alone(store::children(conn, &scope).await?);
        let wants = |k: Kpi| allowed.contains(&k);
        let mut reads: BTreeMap<Kpi, KpiRead> = BTreeMap::new();
        let mut publish = |tables: Vec<(Kpi, Counts)>, linked: bool| {
            let measured: Vec<_> = tables
                .iter()
                .map(|(k, c)| (c.clone(), k.measure(children)))
                .collect();
            for ((kpi, _), table) in tables
                .iter()
                .zip(domain::publish(window, &measured, linked))
            {
                let population = matches!(kpi.measure(children), domain::Measure::Per10k { .. })
                    .then_some(children);
                reads.insert(
                    *kpi,
                    KpiRead {
                        kpi: *kpi,
                        table,
                        population,
                    },
                );
            }
        };

        // The front door's referrals: three tables over the same referrals, suppressed as one.
        let referral_kpis: Vec<Kpi> = [Kpi::ReferralRate, Kpi::ReReferrals, Kpi::DecidedOnTime]
            .into_iter()
            .filter(|k| wants(*k))
            .collect();
        if !referral_kpis.is_empty() {
            let rows = store::referrals(conn, &scope).await?;
            let tables = referral_kpis
                .iter()
                .map(|&kpi| {
                    let mut counts = Counts::new(kpi.columns(), months.len(), true);
                    for r in &rows {
                        let column = match kpi {
                            Kpi::ReReferrals => Some(usize::from(!r.re_referral)),
                            Kpi::DecidedOnTime => Some(domain::timeliness(r.due_at, r.decided_at)),
                            _ => None,
                        };
                        counts.add(month_of(r.submitted_at), column);
                    }
                    (kpi, counts)
                })
                .collect();
            publish(tables, true);
        }
        if wants(Kpi::EarlyHelpStarted) {
            let mut counts = Counts::new(vec![], months.len(), true);
            for at in store::assessments_started(conn, &scope).await? {
                counts.add(month_of(at), None);
            }
            publish(vec![(Kpi::EarlyHelpStarted, counts)], false);
        }
        if wants(Kpi::EarlyHelpClosed) {
            let mut counts = Counts::new(Kpi::EarlyHelpClosed.columns(), months.len(), true);
            for (at, outcome) in store::assessments_closed(conn, &scope).await? {
                let column = outcome
                    .as_deref()
                    .and_then(AssessmentOutcome::parse)
                    .and_then(|o| AssessmentOutcome::ALL.iter().position(|x| *x == o));
                // An assessment closed without a known outcome cannot sit in a column, and a
                // total that is not the sum of its cells would undo the suppression.
                if column.is_some() {
                    counts.add(month_of(at), column);
                }
            }
            publish(vec![(Kpi::EarlyHelpClosed, counts)], false);
        }
        if wants(Kpi::CpPlanRate) {
            let holders = permits.holders(
                DataCategory::SocialCareChildProtection,
                &[AgencyKind::LocalAuthority],
            );
            let mut counts = Counts::new(vec![], months.len(), true);
            for (_, at) in store::fact_times(conn, &scope, &["cp_plan"], &holders).await? {
                counts.add(month_of(at), None);
            }
            publish(vec![(Kpi::CpPlanRate, counts)], false);
        }
        if wants(Kpi::PersistentAbsence) {
            let counts = self.persistent_absence(&scope, &permits, &months).await?;
            publish(vec![(Kpi::PersistentAbsence, counts)], false);
        }
        if wants(Kpi::SelfHarm) {
            let holders = permits.holders(
                DataCategory::HealthMentalHealth,
                &[AgencyKind::AcuteTrust, AgencyKind::MentalHealthTrust],
            );
            let rows = store::fact_times(conn, &scope, &["self_harm_attendance"], &holders).await?;
            let persons: Vec<PersonId> = rows
                .iter()
                .map(|(p, _)| *p)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let born: HashMap<PersonId, NaiveDate> = store::dates_of_birth(conn, &persons)
                .await?
                .into_iter()
                .collect();
            let mut counts = Counts::new(Kpi::SelfHarm.columns(), months.len(), true);
            for (p, at) in rows {
                let band = born
                    .get(&p)
                    .and_then(|b| domain::self_harm_band(*b, at.date_naive()));
                if band.is_some() {
                    counts.add(month_of(at), band);
                }
            }
            publish(vec![(Kpi::SelfHarm, counts)], false);
        }

        let kpis: Vec<KpiRead> = Kpi::ALL.iter().filter_map(|k| reads.remove(k)).collect();
        let suppressed = kpis
            .iter()
            .flat_map(|k| k.table.series.iter().chain([&k.table.period]))
            .flat_map(|r| r.cells.iter().chain([&r.total]))
            .filter(|c| c.suppressed)
            .count();
        self.log_kpis(
            &window,
            area.as_deref(),
            &clauses,
            &kpis,
            &withheld,
            suppressed,
        );
        Ok(Ok(KpisRead {
            window,
            area,
            children,
            kpis,
            withheld,
        }))
    }

    /// Children known to social care with attendance recorded, per month and for the period,
    /// by whether they were persistently absent over the summaries in that window.
    async fn persistent_absence(
        &self,
        scope: &Scope,
        permits: &Permits,
        months: &[Window],
    ) -> Result<Counts, GateError> {
        let attendance = permits.holders(
            DataCategory::EducationAttendance,
            &[AgencyKind::School, AgencyKind::LocalAuthority],
        );
        let social_care = [AgencyKind::LocalAuthority];
        let kinds: Vec<&str> = KNOWN_TO_SOCIAL_CARE.iter().map(|(k, _)| *k).collect();
        let rows = store::attendance_of_children_known_to_social_care(
            self.inner.store.conn(),
            scope,
            &attendance,
            &kinds,
            &social_care,
        )
        .await?;
        // Per child: the summaries of each month and of the whole period.
        let mut by_child: BTreeMap<PersonId, Vec<(Option<usize>, serde_json::Value)>> =
            BTreeMap::new();
        for (p, at, payload) in rows {
            let payload = serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null);
            by_child
                .entry(p)
                .or_default()
                .push((Window::month_index(months, at.date_naive()), payload));
        }
        let column = |summaries: &[serde_json::Value]| {
            domain::attendance_percent(summaries)
                .map(|pct| usize::from(pct >= PERSISTENT_ABSENCE_BELOW))
        };
        let mut counts = Counts::new(Kpi::PersistentAbsence.columns(), months.len(), false);
        for summaries in by_child.values() {
            for (m, row) in counts.months.iter_mut().enumerate() {
                let mine: Vec<serde_json::Value> = summaries
                    .iter()
                    .filter(|(month, _)| *month == Some(m))
                    .map(|(_, s)| s.clone())
                    .collect();
                if let Some(c) = column(&mine) {
                    row.0[c] += 1;
                    row.1 += 1;
                }
            }
            let all: Vec<serde_json::Value> = summaries.iter().map(|(_, s)| s.clone()).collect();
            if let Some(c) = column(&all) {
                counts.period.0[c] += 1;
                counts.period.1 += 1;
            }
        }
        Ok(counts)
    }

    /// Asks the rule set, for every category a KPI may count and every kind of holder, whether
    /// this caller may see it aggregated under `statistics`. No subject: relationship,
    /// consent and shield steps have nothing to test, so only the protocol, purpose, role,
    /// category and lawful condition decide.
    fn statistics_permits(&self, practice_holder: AgencyKind, with_area: bool) -> Permits {
        let nobody = SubjectContext::default();
        let mut wanted: BTreeSet<(DataCategory, AgencyKind)> = BTreeSet::new();
        for kpi in Kpi::ALL {
            for (c, holders) in sources(*kpi, practice_holder) {
                wanted.extend(holders.into_iter().map(|h| (c, h)));
            }
        }
        if with_area {
            wanted.insert((DataCategory::PersonContact, practice_holder));
        }
        let decisions = wanted
            .into_iter()
            .map(|(category, holder)| {
                let owner = OrganisationId::new(holder, "any");
                let d = self.inner.rules.decide(&Question {
                    principal: self.principal(),
                    purpose: Some(Purpose::Statistics),
                    category,
                    owner: &owner,
                    subject: &nobody,
                    justified: false,
                    now: self.inner.now,
                });
                ((category, holder), d)
            })
            .collect();
        Permits { decisions }
    }

    fn log_kpis(
        &self,
        window: &Window,
        area: Option<&str>,
        clauses: &BTreeSet<String>,
        released: &[KpiRead],
        withheld: &[KpiWithheld],
        suppressed: usize,
    ) {
        self.act(serde_json::json!({
            "action": "kpis",
            "from": window.from.to_string(),
            "to": window.to.to_string(),
            "area": area,
            "clauses": clauses,
            "released": released.iter().map(|k| k.kpi.as_str()).collect::<Vec<_>>(),
            "withheld": withheld.iter().map(|w| serde_json::json!({
                "kpi": w.kpi.as_str(),
                "category": w.denial.category.as_str(),
                "reason": w.denial.reason.as_str(),
                "clause": w.denial.by.as_ref().map(clause_key),
            })).collect::<Vec<_>>(),
            "suppressed_cells": suppressed,
        }));
    }
}

fn clause_key(by: &ClauseRef) -> String {
    match &by.clause {
        Some(c) => format!("{} {} {c}", by.protocol, by.version),
        None => format!("{} {}", by.protocol, by.version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_are_postcode_districts() {
        assert_eq!(parse_area("an1").as_deref(), Some("AN1"));
        assert_eq!(parse_area(" AN10 ").as_deref(), Some("AN10"));
        assert_eq!(parse_area("EC1A").as_deref(), Some("EC1A"));
        for bad in ["", "1AN", "ANB1", "AN1 2AB", "AN%", "A_1", "AN123"] {
            assert_eq!(parse_area(bad), None, "{bad}");
        }
    }
}
