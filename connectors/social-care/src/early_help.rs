//! Reads the early help extract, `early_help.csv`: a Kinship-defined format, since early help
//! has no statutory return (the crate docs define it). One row per child per early help
//! episode becomes one record, `eh:<LA>:<EPISODE_ID>:<CHILD>`, whose identity is the LA person
//! id alone and whose facts carry `agency: early_help`:
//! - `ASSESSMENT_START` → `early_help_assessment` (`early_help.assessment`, needs and whether
//!   the family declined);
//! - `PLAN_START` → `taf_plan` (`early_help.plan`: status, outcome, review, lead professional);
//! - `sf:` outcomes in `OUTCOME` → `family_outcome` (`early_help.family_outcomes`, the
//!   Supporting Families outcomes claimed at `PLAN_END`).
//!
//! Limits: pure; no IO. Reasons name the line and column, never a value.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use kinship_connector_sdk::{Identity, SourceFact, SourceRecord};
use serde_json::{Value, json};

use crate::codes;
use crate::record::{self, FactSpec, Keys, Output, json_date};
use crate::table::{Row, Table};

/// The extract's file name.
pub(crate) const FILE: &str = "early_help.csv";

/// The extract's columns, in order.
#[cfg_attr(
    not(feature = "feed"),
    allow(dead_code, reason = "the feed renders with it")
)]
pub(crate) const COLUMNS: [&str; 11] = [
    "CHILD",
    "FAMILY_ID",
    "EPISODE_ID",
    "ASSESSMENT_START",
    "ASSESSMENT_END",
    "NEEDS",
    "PLAN_START",
    "PLAN_END",
    "REVIEW_DATE",
    "OUTCOME",
    "LEAD_PROFESSIONAL_ROLE",
];

/// The Supporting Families programme whose outcomes `sf:` tokens claim.
pub(crate) const PROGRAMME: &str = "Supporting Families";

/// What the `OUTCOME` column says, read.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Outcome {
    pub declined: bool,
    pub consent_withdrawn: bool,
    pub closed: bool,
    /// `needs_met` or `stepped_up`.
    pub result: Option<String>,
    /// Supporting Families outcomes met (`sf:<outcome>`).
    pub family_outcomes: Vec<String>,
}

impl Outcome {
    /// Reads `;`-separated tokens; `Err` names no value, only that a token is unknown.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let mut o = Outcome::default();
        for token in s.split(';').map(str::trim).filter(|t| !t.is_empty()) {
            match token {
                "declined" => o.declined = true,
                "consent_withdrawn" => o.consent_withdrawn = true,
                "closed" => o.closed = true,
                "needs_met" | "stepped_up" => o.result = Some(token.to_owned()),
                t => match t.strip_prefix("sf:").filter(|x| !x.is_empty()) {
                    Some(x) => o.family_outcomes.push(x.to_owned()),
                    None => {
                        return Err(
                            "`OUTCOME` holds a token that is not in the extract's list".into()
                        );
                    }
                },
            }
        }
        Ok(o)
    }

    /// The column's text.
    #[cfg_attr(
        not(feature = "feed"),
        allow(dead_code, reason = "the feed renders with it")
    )]
    pub(crate) fn render(&self) -> String {
        let mut tokens: Vec<String> = Vec::new();
        if self.declined {
            tokens.push("declined".into());
        }
        if self.consent_withdrawn {
            tokens.push("consent_withdrawn".into());
        }
        if self.closed {
            tokens.push("closed".into());
        }
        tokens.extend(self.result.clone());
        tokens.extend(self.family_outcomes.iter().map(|o| format!("sf:{o}")));
        tokens.join(";")
    }
}

/// Reads one extract.
pub(crate) fn read(doc: &str, la: &str, out: &mut Output) {
    let table = match Table::read(doc) {
        Ok(t) => t,
        Err(why) => {
            out.reject(None, format!("`{FILE}` {why}"), doc);
            return;
        }
    };
    if let Some(col) = table.lacks(&["CHILD", "EPISODE_ID"]) {
        out.reject(None, format!("`{FILE}` has no `{col}` column"), doc);
        return;
    }
    let mut seen = BTreeSet::new();
    for row in &table.rows {
        let at = |what: &str| format!("`{FILE}` line {}: {what}", row.line);
        if let Some(why) = row.broken() {
            out.reject(None, at(&format!("the row {why}")), row.raw);
            continue;
        }
        let (Some(child), Some(episode)) = (
            row.get(table.col("CHILD")),
            row.get(table.col("EPISODE_ID")),
        ) else {
            let missing = if row.get(table.col("CHILD")).is_none() {
                "CHILD"
            } else {
                "EPISODE_ID"
            };
            out.reject(None, at(&format!("`{missing}` is missing")), row.raw);
            continue;
        };
        let key = format!("eh:{la}:{episode}:{child}");
        if !seen.insert(key.clone()) {
            out.reject(
                Some(key),
                at("the child appears twice in one episode"),
                row.raw,
            );
            continue;
        }
        match facts(&table, row, episode) {
            Ok(facts) => out.records.push(SourceRecord {
                source_key: key,
                organisation: record::organisation(la),
                subject: None,
                identity: Identity {
                    identifiers: vec![record::la_person_id(la, child)],
                    ..Identity::default()
                },
                facts,
                raw: format!("# {FILE}\n{}\n{}\n", table.header_line, row.raw),
            }),
            Err(why) => out.reject(Some(key), at(&why), row.raw),
        }
    }
}

fn date(t: &Table<'_>, row: &Row<'_>, col: &str) -> Result<Option<NaiveDate>, String> {
    row.get(t.col(col))
        .map(|d| codes::parse_dmy(d).ok_or(format!("`{col}` is not a DD/MM/YYYY date")))
        .transpose()
}

fn spaced(codes: &[&str]) -> String {
    codes.join(", ").replace('_', " ")
}

fn eh_fact(
    keys: &mut Keys,
    base: String,
    category: &'static str,
    kind: &'static str,
    on: NaiveDate,
    summary: String,
    payload: Value,
) -> SourceFact {
    FactSpec {
        key: keys.key(base),
        category,
        agency: Some("early_help"),
        kind,
        on,
        summary,
        payload,
    }
    .into()
}

fn facts(t: &Table<'_>, row: &Row<'_>, episode: &str) -> Result<Vec<SourceFact>, String> {
    let assessed = date(t, row, "ASSESSMENT_START")?;
    let assessment_end = date(t, row, "ASSESSMENT_END")?;
    let plan_start = date(t, row, "PLAN_START")?;
    let plan_end = date(t, row, "PLAN_END")?;
    let review = date(t, row, "REVIEW_DATE")?;
    let outcome = Outcome::parse(row.get(t.col("OUTCOME")).unwrap_or_default())?;
    let needs: Vec<&str> = row
        .get(t.col("NEEDS"))
        .unwrap_or_default()
        .split(';')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    let family = row.get(t.col("FAMILY_ID"));
    let lead = row.get(t.col("LEAD_PROFESSIONAL_ROLE"));
    if assessed.is_none() && plan_start.is_none() {
        return Err("neither `ASSESSMENT_START` nor `PLAN_START` is given".into());
    }
    if plan_end.is_some() && plan_start.is_none() {
        return Err("`PLAN_END` is given without `PLAN_START`".into());
    }
    if plan_start.zip(plan_end).is_some_and(|(s, e)| e < s) {
        return Err("`PLAN_END` is before `PLAN_START`".into());
    }
    if !outcome.family_outcomes.is_empty() && plan_end.is_none() {
        return Err("`OUTCOME` claims Supporting Families outcomes but `PLAN_END` is empty".into());
    }

    let mut keys = Keys::default();
    let mut facts = Vec::new();
    let with_family = |mut payload: Value| {
        if let (Some(f), Some(map)) = (family, payload.as_object_mut()) {
            map.insert("familyId".into(), f.into());
        }
        payload
    };
    if let Some(start) = assessed {
        let mut payload = json!({
            "ehaRef": episode,
            "needs": needs,
            "outcome": if outcome.declined { "declined" } else { "taf" },
        });
        if let (Some(end), Some(map)) = (assessment_end, payload.as_object_mut()) {
            map.insert("assessmentEnd".into(), codes::iso(end).into());
        }
        let summary = if outcome.declined {
            format!(
                "Early help assessment offered (needs: {}); family declined support",
                spaced(&needs)
            )
        } else if needs.is_empty() {
            "Early help assessment completed".to_owned()
        } else {
            format!("Early help assessment completed; needs: {}", spaced(&needs))
        };
        facts.push(eh_fact(
            &mut keys,
            format!("assessment:{}", codes::iso(start)),
            "early_help.assessment",
            "early_help_assessment",
            start,
            summary,
            with_family(payload),
        ));
    }
    if let Some(start) = plan_start {
        let status = if outcome.consent_withdrawn {
            "closed_consent_withdrawn"
        } else if plan_end.is_some() || outcome.closed {
            "closed"
        } else {
            "open"
        };
        // The first review, a whole number of weeks after the start, gives the interval.
        let interval = review
            .map(|r| (r - start).num_days())
            .filter(|d| *d > 0 && d % 7 == 0)
            .map(|d| d / 7);
        let mut payload = json!({
            "ehaRef": episode,
            "planStart": codes::iso(start),
            "planEnd": json_date(plan_end),
            "status": status,
            "outcome": outcome.result,
        });
        if let Some(map) = payload.as_object_mut() {
            if let Some(r) = review {
                map.insert("reviewDate".into(), codes::iso(r).into());
            }
            if let Some(w) = interval {
                map.insert("reviewIntervalWeeks".into(), w.into());
            }
            if let Some(l) = lead {
                map.insert("leadProfessionalRole".into(), l.into());
            }
        }
        let summary = match (status, outcome.result.as_deref()) {
            ("open", _) => match interval {
                Some(w) => format!("Team around the family plan open; reviewed every {w} weeks"),
                None => format!(
                    "Team around the family plan open since {}",
                    codes::long_date(start)
                ),
            },
            ("closed_consent_withdrawn", _) => {
                "Team around the family plan closed: family withdrew consent".to_owned()
            }
            (_, Some("needs_met")) => {
                "Team around the family plan closed with needs met".to_owned()
            }
            (_, Some(_)) => {
                "Team around the family plan closed; stepped up to children's social care"
                    .to_owned()
            }
            (_, None) => "Team around the family plan closed".to_owned(),
        };
        facts.push(eh_fact(
            &mut keys,
            format!("plan:{}", codes::iso(start)),
            "early_help.plan",
            "taf_plan",
            start,
            summary,
            with_family(payload),
        ));
    }
    if let (Some(claimed), false) = (plan_end, outcome.family_outcomes.is_empty()) {
        let names: Vec<&str> = outcome.family_outcomes.iter().map(String::as_str).collect();
        facts.push(eh_fact(
            &mut keys,
            format!("family_outcome:{}", codes::iso(claimed)),
            "early_help.family_outcomes",
            "family_outcome",
            claimed,
            format!("{PROGRAMME} outcomes met: {}", spaced(&names)),
            with_family(json!({
                "ehaRef": episode,
                "programme": PROGRAMME,
                "outcomes": names,
                "claimDate": codes::iso(claimed),
            })),
        ));
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_tokens_read_back_as_written() {
        let o = Outcome::parse("consent_withdrawn; needs_met;sf:school_attendance").unwrap();
        assert!(o.consent_withdrawn);
        assert_eq!(o.result.as_deref(), Some("needs_met"));
        assert_eq!(o.family_outcomes, vec!["school_attendance"]);
        assert_eq!(Outcome::parse(&o.render()).unwrap(), o);
        assert!(Outcome::parse("maybe").is_err());
        assert!(Outcome::parse("sf:").is_err());
    }
}

#[cfg(test)]
mod row_tests {
    use super::*;

    fn run(rows: &str) -> Output {
        let mut out = Output::default();
        let text = format!("{}\r\n{rows}", COLUMNS.join(","));
        read(&text, "999", &mut out);
        out
    }

    #[test]
    fn rows_breaking_the_extracts_rules_are_refused_by_line() {
        let out = run(concat!(
            "1,,E1,,,,,02/02/2026,,,\r\n",
            "2,,E2,01/01/2026,,,05/01/2026,,,needs_met;sf:school_attendance,\r\n",
            "3,,E3,,,,,,,,\r\n",
            "4,,E4,01/01/2026,,,,,,,\r\n",
            "4,,E4,01/01/2026,,,,,,,\r\n",
        ));
        let reasons: Vec<&str> = out.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                "`early_help.csv` line 2: neither `ASSESSMENT_START` nor `PLAN_START` is given",
                "`early_help.csv` line 3: `OUTCOME` claims Supporting Families outcomes but `PLAN_END` is empty",
                "`early_help.csv` line 4: neither `ASSESSMENT_START` nor `PLAN_START` is given",
                "`early_help.csv` line 6: the child appears twice in one episode",
            ]
        );
        assert_eq!(out.records.len(), 1);
    }

    #[test]
    fn a_plan_closed_by_withdrawn_consent_has_that_status_without_an_end() {
        let out = run("5,,E5,,,,03/03/2025,,,consent_withdrawn,\r\n");
        let plan = &out.records[0].facts[0];
        assert_eq!(plan.payload["status"], "closed_consent_withdrawn");
        assert!(plan.summary.contains("withdrew consent"));
        assert_eq!(plan.agency.as_deref(), Some("early_help"));
    }

    #[test]
    fn an_extract_without_episode_ids_is_refused_whole() {
        let mut out = Output::default();
        read("CHILD,NEEDS\r\n1,housing\r\n", "999", &mut out);
        assert!(out.records.is_empty());
        assert!(out.rejected[0].reason.contains("no `EPISODE_ID` column"));
    }
}
