//! Renders envelopes as the LA's CSV files: the SSDA903 tables of one collection year and the
//! early help extract.
//!
//! - 903: `looked_after_episode` facts are grouped into periods of care (chained by `REC` =
//!   X1); a period belongs to the collection year of its latest date, a `missing_episode` to
//!   the year it started. `header.csv` has a row for every child in the return, `PL_POST` is
//!   the placement address whose span holds the episode's start, `HOME_POST` the home address.
//! - Early help: one row per child per episode (`ehaRef`), joining the assessment, the plan
//!   and the Supporting Families outcomes of that episode.
//!
//! Limits: pure; no IO.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{NaiveDate, TimeDelta};
use kinship_connector_sdk::{SourceFact, SourceRecord};

use super::{child_id, fact_date, payload_date, payload_strings, payload_text};
use crate::codes;
use crate::early_help::{self, Outcome};
use crate::table::write_row;

/// The 903 tables' columns, in the DfE's order.
const HEADER_COLUMNS: [&str; 7] = ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"];
const EPISODE_COLUMNS: [&str; 13] = [
    "CHILD",
    "DECOM",
    "RNE",
    "LS",
    "CIN",
    "PLACE",
    "PLACE_PROVIDER",
    "DEC",
    "REC",
    "REASON_PLACE_CHANGE",
    "HOME_POST",
    "PL_POST",
    "URN",
];
const MISSING_COLUMNS: [&str; 5] = ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"];

fn episodes(r: &SourceRecord) -> Vec<&SourceFact> {
    let mut eps: Vec<&SourceFact> = r
        .facts
        .iter()
        .filter(|f| f.kind == "looked_after_episode")
        .collect();
    eps.sort_by_key(|f| fact_date(f, "DECOM"));
    eps
}

fn missing(r: &SourceRecord) -> Vec<&SourceFact> {
    let mut m: Vec<&SourceFact> = r
        .facts
        .iter()
        .filter(|f| f.kind == "missing_episode")
        .collect();
    m.sort_by_key(|f| f.occurred_at);
    m
}

/// Each episode with the collection year of the period of care it belongs to.
fn episode_years(r: &SourceRecord) -> Vec<(&SourceFact, i32)> {
    let mut out = Vec::new();
    let mut period: Vec<&SourceFact> = Vec::new();
    let eps = episodes(r);
    let last = eps.len().saturating_sub(1);
    for (i, f) in eps.into_iter().enumerate() {
        period.push(f);
        let continues = payload_date(f, "DEC").is_none() || payload_text(f, "REC") == Some("X1");
        if continues && i < last {
            continue;
        }
        let latest = period
            .iter()
            .map(|f| payload_date(f, "DEC").unwrap_or_else(|| fact_date(f, "DECOM")))
            .max();
        if let Some(latest) = latest {
            let year = codes::collection_year(latest);
            out.extend(period.drain(..).map(|f| (f, year)));
        }
    }
    out
}

fn missing_start(f: &SourceFact) -> NaiveDate {
    fact_date(f, "MIS_START")
}

/// The collection years this record has 903 rows in.
pub(super) fn years_903(r: &SourceRecord) -> BTreeSet<i32> {
    let mut years: BTreeSet<i32> = episode_years(r).into_iter().map(|(_, y)| y).collect();
    years.extend(
        missing(r)
            .iter()
            .map(|f| codes::collection_year(missing_start(f))),
    );
    years
}

/// Renders one 903 table of one collection year.
pub(super) fn render_903(file: &str, year: i32, members: &[Arc<SourceRecord>]) -> Option<String> {
    let mut out = String::new();
    match file {
        crate::ssda903::HEADER => {
            write_row(&mut out, &HEADER_COLUMNS);
            for r in members {
                header_row(&mut out, r);
            }
        }
        crate::ssda903::EPISODES => {
            write_row(&mut out, &EPISODE_COLUMNS);
            for r in members {
                for (f, _) in episode_years(r).into_iter().filter(|(_, y)| *y == year) {
                    episode_row(&mut out, r, f);
                }
            }
        }
        crate::ssda903::MISSING => {
            write_row(&mut out, &MISSING_COLUMNS);
            for r in members {
                for f in missing(r)
                    .into_iter()
                    .filter(|f| codes::collection_year(missing_start(f)) == year)
                {
                    missing_row(&mut out, r, f);
                }
            }
        }
        _ => return None,
    }
    Some(out)
}

fn dmy(d: Option<NaiveDate>) -> String {
    d.map(codes::dmy).unwrap_or_default()
}

fn header_row(out: &mut String, r: &SourceRecord) {
    let sex = match r.identity.sex.as_deref() {
        Some("male") => "1",
        Some("female") => "2",
        _ => "",
    };
    let upn = r
        .identity
        .identifiers
        .iter()
        .find(|i| i.system == "upn")
        .map(|i| i.value.as_str())
        .unwrap_or_default();
    let row = [
        child_id(r),
        sex.to_owned(),
        dmy(r.identity.date_of_birth),
        // The envelope holds no ethnicity: "information not yet obtained".
        "NOBT".to_owned(),
        upn.to_owned(),
        String::new(),
        String::new(),
    ];
    write_row(out, &row);
}

fn episode_row(out: &mut String, r: &SourceRecord, f: &SourceFact) {
    let start = fact_date(f, "DECOM");
    let text = |k: &str| payload_text(f, k).unwrap_or_default().to_owned();
    let home = r
        .identity
        .addresses
        .iter()
        .filter(|a| a.usage == "home")
        .find(|a| a.valid_to.is_none())
        .or_else(|| r.identity.addresses.iter().find(|a| a.usage == "home"))
        .map(|a| a.postcode.clone())
        .unwrap_or_default();
    let placement = r
        .identity
        .addresses
        .iter()
        .filter(|a| a.usage == "placement")
        .find(|a| {
            a.valid_from.is_none_or(|from| from <= start) && a.valid_to.is_none_or(|to| to >= start)
        })
        .map(|a| a.postcode.clone())
        .unwrap_or_default();
    let row = [
        child_id(r),
        codes::dmy(start),
        text("RNE"),
        text("LS"),
        text("CIN"),
        text("PLACE"),
        text("PLACE_PROVIDER"),
        dmy(payload_date(f, "DEC")),
        text("REC"),
        text("REASON_PLACE_CHANGE"),
        home,
        placement,
        text("URN"),
    ];
    write_row(out, &row);
}

fn missing_row(out: &mut String, r: &SourceRecord, f: &SourceFact) {
    let start = missing_start(f);
    // A police-style payload gives a duration rather than an end date.
    let end = payload_date(f, "MIS_END").or_else(|| {
        let hours = f.payload.get("durationHours")?.as_i64()?;
        Some((f.occurred_at + TimeDelta::hours(hours)).date_naive())
    });
    let row = [
        child_id(r),
        dmy(r.identity.date_of_birth),
        payload_text(f, "MISSING").unwrap_or("M").to_owned(),
        codes::dmy(start),
        dmy(end),
    ];
    write_row(out, &row);
}

/// One early help row in the making.
#[derive(Default)]
struct EhRow<'a> {
    assessment: Option<&'a SourceFact>,
    plan: Option<&'a SourceFact>,
    outcomes: Vec<&'a SourceFact>,
}

/// The record's early help episodes, by episode id.
fn eh_rows(r: &SourceRecord) -> BTreeMap<String, EhRow<'_>> {
    let mut rows: BTreeMap<String, EhRow<'_>> = BTreeMap::new();
    let episode_of = |f: &SourceFact| {
        payload_text(f, "ehaRef")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("EH-{}", f.occurred_at.format("%Y%m%d")))
    };
    let mut facts: Vec<&SourceFact> = r.facts.iter().collect();
    facts.sort_by_key(|f| f.occurred_at);
    for f in &facts {
        match f.kind.as_str() {
            "early_help_assessment" => rows.entry(episode_of(f)).or_default().assessment = Some(f),
            "taf_plan" => rows.entry(episode_of(f)).or_default().plan = Some(f),
            _ => {}
        }
    }
    for f in facts.into_iter().filter(|f| f.kind == "family_outcome") {
        // An outcome names its episode, or is claimed when that episode's plan ended.
        let claimed = fact_date(f, "claimDate");
        let key = payload_text(f, "ehaRef").map(str::to_owned).or_else(|| {
            rows.iter()
                .find(|(_, row)| row.plan.and_then(|p| payload_date(p, "planEnd")) == Some(claimed))
                .or_else(|| rows.iter().last())
                .map(|(k, _)| k.clone())
        });
        let key = key.unwrap_or_else(|| episode_of(f));
        rows.entry(key).or_default().outcomes.push(f);
    }
    rows
}

/// Whether the record has anything for the early help extract.
pub(super) fn has_early_help(r: &SourceRecord) -> bool {
    r.facts.iter().any(|f| {
        matches!(
            f.kind.as_str(),
            "early_help_assessment" | "taf_plan" | "family_outcome"
        )
    })
}

/// The latest early help fact's date, which names the extract's month.
pub(super) fn latest_early_help(r: &SourceRecord) -> Option<NaiveDate> {
    r.facts
        .iter()
        .filter(|f| {
            matches!(
                f.kind.as_str(),
                "early_help_assessment" | "taf_plan" | "family_outcome"
            )
        })
        .map(|f| f.occurred_at.date_naive())
        .max()
}

/// Renders the early help extract.
pub(super) fn render_early_help(members: &[Arc<SourceRecord>]) -> String {
    let mut out = String::new();
    write_row(&mut out, &early_help::COLUMNS);
    for r in members {
        let child = child_id(r);
        for (episode, row) in eh_rows(r) {
            eh_row(&mut out, &child, &episode, &row);
        }
    }
    out
}

fn eh_row(out: &mut String, child: &str, episode: &str, row: &EhRow<'_>) {
    let a = row.assessment;
    let p = row.plan;
    let plan_start = p.map(|p| fact_date(p, "planStart"));
    let claimed = row.outcomes.iter().map(|f| fact_date(f, "claimDate")).max();
    let plan_end = p.and_then(|p| payload_date(p, "planEnd")).or(claimed);
    let interval = p.and_then(|p| p.payload.get("reviewIntervalWeeks")?.as_i64());
    let review = p.and_then(|p| payload_date(p, "reviewDate")).or_else(|| {
        let weeks = interval?;
        Some(plan_start? + TimeDelta::weeks(weeks))
    });
    let status = p.and_then(|p| payload_text(p, "status"));
    let result = p
        .and_then(|p| payload_text(p, "outcome"))
        .map(str::to_owned);
    let outcome = Outcome {
        declined: a.and_then(|a| payload_text(a, "outcome")) == Some("declined"),
        consent_withdrawn: status == Some("closed_consent_withdrawn"),
        // Only needed where nothing else says the plan closed.
        closed: status == Some("closed") && plan_end.is_none() && result.is_none(),
        result,
        family_outcomes: row
            .outcomes
            .iter()
            .flat_map(|f| payload_strings(f, "outcomes"))
            .map(str::to_owned)
            .collect(),
    };
    let family = [a, p]
        .into_iter()
        .flatten()
        .chain(row.outcomes.iter().copied())
        .find_map(|f| payload_text(f, "familyId"))
        .unwrap_or_default();
    let fields = [
        child.to_owned(),
        family.to_owned(),
        episode.to_owned(),
        dmy(a.map(|a| a.occurred_at.date_naive())),
        dmy(a.and_then(|a| payload_date(a, "assessmentEnd"))),
        a.map(|a| payload_strings(a, "needs").join(";"))
            .unwrap_or_default(),
        dmy(plan_start),
        dmy(plan_end.filter(|_| plan_start.is_some())),
        dmy(review.filter(|_| plan_start.is_some())),
        outcome.render(),
        p.and_then(|p| payload_text(p, "leadProfessionalRole"))
            .unwrap_or_default()
            .to_owned(),
    ];
    write_row(out, &fields);
}
