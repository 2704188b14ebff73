//! Reads an SSDA903 return (children looked after, DOMAIN §6): `header.csv`, `episodes.csv`
//! and `missing.csv`, joined on `CHILD`, into one record per child:
//! `903:<LA>:<Year>:<CHILD>`, the year taken from the return's name.
//!
//! What each table becomes:
//! - `header.csv` → identity: `DOB`, `SEX` (1 male, 2 female), `UPN` (checked; `UN1`-`UN5`
//!   are reasons, never identifiers) and `la_person_id` = `la:<LA>:<CHILD>`.
//! - `episodes.csv` → one `looked_after_episode` per row (`social_care.looked_after`, or
//!   `police.youth_justice` for legal status J1-J3, DOMAIN §3 note (c)); each period of care
//!   (episodes chained by `REC` = X1) gives a `cp_flag` with code `LAC`, active while open;
//!   `PL_POST` becomes a placement address (usage `placement`, postcode only) for the
//!   episodes' span.
//! - `missing.csv` → one `missing_episode` per row (`police.missing_episode`).
//!
//! Left out: `ETHNIC`, `MOTHER`/`MC_DOB` and `HOME_POST` (the brief's identity is the child's
//! own, with placement postcodes only), and the other 903 tables (reviews, OC2, UASC...), which
//! are skipped if present.
//!
//! A row that breaks a rule is rejected with its bytes; the child's other rows land. A child
//! whose `header.csv` row is rejected takes its episode and missing rows with it. A record's
//! raw bytes are its rows, each file's section opened by the file's name and header line.
//!
//! Limits: pure; no IO. Reasons name the file, line and column, never a value.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use kinship_connector_sdk::identifiers::Upn;
use kinship_connector_sdk::{Identity, SourceAddress, SourceFact, SourceIdentifier, SourceRecord};
use serde_json::json;

use crate::codes;
use crate::record::{self, FactSpec, Keys, Output, json_date};
use crate::table::{Row, Table};

/// The three tables' file names.
pub(crate) const HEADER: &str = "header.csv";
/// Episodes of care.
pub(crate) const EPISODES: &str = "episodes.csv";
/// Missing and away-from-placement episodes.
pub(crate) const MISSING: &str = "missing.csv";

/// One episode row, read.
struct Episode {
    start: NaiveDate,
    end: Option<NaiveDate>,
    rne: Option<String>,
    ls: Option<String>,
    cin: Option<String>,
    place: Option<String>,
    provider: Option<String>,
    rec: Option<String>,
    reason_change: Option<String>,
    placement_postcode: Option<String>,
    urn: Option<String>,
}

/// One missing row, read.
struct Missing {
    kind: Option<String>,
    start: NaiveDate,
    end: Option<NaiveDate>,
}

/// A child being assembled from the three tables.
struct Child<'a> {
    id: String,
    identity: Identity,
    header_raw: &'a str,
    episodes: Vec<(&'a str, Episode)>,
    missing: Vec<(&'a str, Missing)>,
}

/// Reads one 903 return. `files` are (file name, text) pairs; the return's `name` gives the
/// collection year.
pub(crate) fn read(files: &[(String, String)], name: &str, la: &str, out: &mut Output) {
    let find = |n: &str| files.iter().find(|(f, _)| f.eq_ignore_ascii_case(n));
    let (header_file, episodes_file, missing_file) = (find(HEADER), find(EPISODES), find(MISSING));
    let others: Vec<&(String, String)> = [episodes_file, missing_file]
        .into_iter()
        .flatten()
        .collect();
    let refuse_all = |out: &mut Output, reason: &str| {
        for (f, text) in header_file.into_iter().chain(others.iter().copied()) {
            out.reject(None, format!("`{f}`: {reason}"), text);
        }
    };
    let Some(year) = codes::year_in_name(name) else {
        refuse_all(out, "the return's name holds no collection year");
        return;
    };
    let Some((_, header_text)) = header_file else {
        refuse_all(out, "the return has no `header.csv` to join on");
        return;
    };
    let header = match Table::read(header_text) {
        Ok(t) => t,
        Err(why) => {
            refuse_all(out, &format!("`header.csv` {why}"));
            return;
        }
    };
    if let Some(col) = header.lacks(&["CHILD", "DOB"]) {
        refuse_all(out, &format!("`header.csv` has no `{col}` column"));
        return;
    }

    let key = |child: &str| format!("903:{la}:{year}:{child}");
    let mut children: BTreeMap<String, Child<'_>> = BTreeMap::new();
    let mut refused: BTreeSet<String> = BTreeSet::new();
    let (c_child, c_sex, c_dob, c_upn, c_mc_dob) = (
        header.col("CHILD"),
        header.col("SEX"),
        header.col("DOB"),
        header.col("UPN"),
        header.col("MC_DOB"),
    );
    for row in &header.rows {
        let at = |what: String| format!("`{HEADER}` line {}: {what}", row.line);
        if let Some(why) = row.broken() {
            out.reject(None, at(format!("the row {why}")), row.raw);
            continue;
        }
        let Some(id) = row.get(c_child) else {
            out.reject(None, at("`CHILD` is missing".into()), row.raw);
            continue;
        };
        if children.contains_key(id) || refused.contains(id) {
            out.reject(Some(key(id)), at("`CHILD` appears twice".into()), row.raw);
            continue;
        }
        let identity = (|| {
            let dob = row
                .get(c_dob)
                .ok_or("`DOB` is missing".to_owned())
                .and_then(|d| {
                    codes::parse_dmy(d).ok_or("`DOB` is not a DD/MM/YYYY date".to_owned())
                })?;
            let sex = match row.get(c_sex) {
                None => None,
                Some("1") => Some("male"),
                Some("2") => Some("female"),
                Some(_) => return Err("`SEX` is not 1 or 2".to_owned()),
            };
            if row
                .get(c_mc_dob)
                .is_some_and(|d| codes::parse_dmy(d).is_none())
            {
                return Err("`MC_DOB` is not a DD/MM/YYYY date".to_owned());
            }
            let mut identifiers = vec![record::la_person_id(la, id)];
            match row.get(c_upn) {
                None | Some("UN1" | "UN2" | "UN3" | "UN4" | "UN5") => {}
                Some(v) => {
                    let upn: Upn = v.parse().map_err(|e| format!("`UPN`: {e}"))?;
                    identifiers.push(SourceIdentifier {
                        system: "upn".into(),
                        value: upn.to_string(),
                        verified: false,
                    });
                }
            }
            Ok(Identity {
                date_of_birth: Some(dob),
                sex: sex.map(Into::into),
                identifiers,
                ..Identity::default()
            })
        })();
        match identity {
            Ok(identity) => {
                children.insert(
                    id.to_owned(),
                    Child {
                        id: id.to_owned(),
                        identity,
                        header_raw: row.raw,
                        episodes: Vec::new(),
                        missing: Vec::new(),
                    },
                );
            }
            Err(why) => {
                refused.insert(id.to_owned());
                out.reject(Some(key(id)), at(why), row.raw);
            }
        }
    }

    let episodes = episodes_file.map(|(f, text)| (f, text, Table::read(text)));
    if let Some((f, text, table)) = &episodes {
        match table {
            Err(why) => out.reject(None, format!("`{f}` {why}"), text),
            Ok(t) => match t.lacks(&["CHILD", "DECOM"]) {
                Some(col) => out.reject(None, format!("`{f}` has no `{col}` column"), text),
                None => rows(t, EPISODES, &mut children, &refused, &key, out, episode),
            },
        }
    }
    let missing = missing_file.map(|(f, text)| (f, text, Table::read(text)));
    if let Some((f, text, table)) = &missing {
        match table {
            Err(why) => out.reject(None, format!("`{f}` {why}"), text),
            Ok(t) => match t.lacks(&["CHILD", "MIS_START"]) {
                Some(col) => out.reject(None, format!("`{f}` has no `{col}` column"), text),
                None => rows(t, MISSING, &mut children, &refused, &key, out, missing_row),
            },
        }
    }

    let section = |file: &str, table: Option<&Result<Table<'_>, String>>| {
        table
            .and_then(|t| t.as_ref().ok())
            .map(|t| format!("# {file}\n{}\n", t.header_line))
            .unwrap_or_else(|| format!("# {file}\n"))
    };
    let episodes_head = section(EPISODES, episodes.as_ref().map(|(_, _, t)| t));
    let missing_head = section(MISSING, missing.as_ref().map(|(_, _, t)| t));
    for child in children.into_values() {
        let mut raw = format!("# {HEADER}\n{}\n{}\n", header.header_line, child.header_raw);
        if !child.episodes.is_empty() {
            raw.push_str(&episodes_head);
            for (r, _) in &child.episodes {
                raw.push_str(r);
                raw.push('\n');
            }
        }
        if !child.missing.is_empty() {
            raw.push_str(&missing_head);
            for (r, _) in &child.missing {
                raw.push_str(r);
                raw.push('\n');
            }
        }
        out.records.push(build(child, la, key, raw));
    }
}

/// Something a table row adds to a child.
trait Attach<'a>: Sized {
    fn attach(self, raw: &'a str, child: &mut Child<'a>);
}

impl<'a> Attach<'a> for Episode {
    fn attach(self, raw: &'a str, child: &mut Child<'a>) {
        child.episodes.push((raw, self));
    }
}

impl<'a> Attach<'a> for Missing {
    fn attach(self, raw: &'a str, child: &mut Child<'a>) {
        child.missing.push((raw, self));
    }
}

/// Reads a joined table's rows onto their children, rejecting rows that cannot join or read.
fn rows<'a, T: Attach<'a>>(
    table: &Table<'a>,
    file: &str,
    children: &mut BTreeMap<String, Child<'a>>,
    refused: &BTreeSet<String>,
    key: &dyn Fn(&str) -> String,
    out: &mut Output,
    read_row: fn(&Table<'a>, &Row<'a>) -> Result<T, String>,
) {
    let c_child = table.col("CHILD");
    for row in &table.rows {
        let at = |what: &str| format!("`{file}` line {}: {what}", row.line);
        if let Some(why) = row.broken() {
            out.reject(None, at(&format!("the row {why}")), row.raw);
            continue;
        }
        let Some(id) = row.get(c_child) else {
            out.reject(None, at("`CHILD` is missing"), row.raw);
            continue;
        };
        let Some(child) = children.get_mut(id) else {
            let why = if refused.contains(id) {
                "the child's `header.csv` row was rejected"
            } else {
                "`CHILD` has no row in `header.csv`"
            };
            out.reject(Some(key(id)), at(why), row.raw);
            continue;
        };
        match read_row(table, row) {
            Ok(item) => item.attach(row.raw, child),
            Err(why) => out.reject(Some(key(id)), at(&why), row.raw),
        }
    }
}

fn dmy(row: &Row<'_>, table: &Table<'_>, col: &str) -> Result<Option<NaiveDate>, String> {
    row.get(table.col(col))
        .map(|d| codes::parse_dmy(d).ok_or(format!("`{col}` is not a DD/MM/YYYY date")))
        .transpose()
}

fn text(row: &Row<'_>, table: &Table<'_>, col: &str) -> Option<String> {
    row.get(table.col(col)).map(str::to_owned)
}

fn episode(t: &Table<'_>, row: &Row<'_>) -> Result<Episode, String> {
    let start = dmy(row, t, "DECOM")?.ok_or("`DECOM` is missing")?;
    let end = dmy(row, t, "DEC")?;
    if end.is_some_and(|e| e < start) {
        return Err("`DEC` is before `DECOM`".into());
    }
    Ok(Episode {
        start,
        end,
        rne: text(row, t, "RNE"),
        ls: text(row, t, "LS"),
        cin: text(row, t, "CIN"),
        place: text(row, t, "PLACE"),
        provider: text(row, t, "PLACE_PROVIDER"),
        rec: text(row, t, "REC"),
        reason_change: text(row, t, "REASON_PLACE_CHANGE"),
        placement_postcode: text(row, t, "PL_POST"),
        urn: text(row, t, "URN"),
    })
}

fn missing_row(t: &Table<'_>, row: &Row<'_>) -> Result<Missing, String> {
    let kind = text(row, t, "MISSING");
    if kind.as_deref().is_some_and(|k| k != "M" && k != "A") {
        return Err("`MISSING` is not M or A".into());
    }
    let start = dmy(row, t, "MIS_START")?.ok_or("`MIS_START` is missing")?;
    let end = dmy(row, t, "MIS_END")?;
    if end.is_some_and(|e| e < start) {
        return Err("`MIS_END` is before `MIS_START`".into());
    }
    Ok(Missing { kind, start, end })
}

fn build(
    mut child: Child<'_>,
    la: &str,
    key: impl Fn(&str) -> String,
    raw: String,
) -> SourceRecord {
    child.episodes.sort_by_key(|(_, e)| e.start);
    child.missing.sort_by_key(|(_, m)| m.start);
    let mut keys = Keys::default();
    let mut facts: Vec<SourceFact> = Vec::new();
    for (_, e) in &child.episodes {
        facts.push(episode_fact(e, &mut keys));
    }
    for (start, end) in periods_of_care(child.episodes.iter().map(|(_, e)| e)) {
        facts.push(record::flag(&mut keys, "LAC", start, end));
    }
    for (_, m) in &child.missing {
        facts.push(missing_fact(m, &mut keys));
    }
    child.identity.addresses = placements(child.episodes.iter().map(|(_, e)| e));
    SourceRecord {
        source_key: key(&child.id),
        organisation: record::organisation(la),
        subject: None,
        identity: child.identity,
        facts,
        raw,
    }
}

fn episode_fact(e: &Episode, keys: &mut Keys) -> SourceFact {
    let ls = e.ls.as_deref();
    let category = if ls.is_some_and(codes::is_youth_justice_status) {
        "police.youth_justice"
    } else {
        "social_care.looked_after"
    };
    let mut payload = json!({
        "DECOM": codes::iso(e.start),
        "RNE": e.rne,
        "LS": e.ls,
        "CIN": e.cin,
        "PLACE": e.place,
        "PLACE_PROVIDER": e.provider,
        "DEC": json_date(e.end),
        "REC": e.rec,
    });
    if let Some(map) = payload.as_object_mut() {
        if let Some(r) = &e.reason_change {
            map.insert("REASON_PLACE_CHANGE".into(), r.as_str().into());
        }
        if let Some(u) = &e.urn {
            map.insert("URN".into(), u.as_str().into());
        }
    }
    let legal = match ls {
        Some(code) => format!("{} ({code})", codes::words(codes::legal_status, code)),
        None => "an unrecorded legal status".into(),
    };
    let placed = e.place.as_deref().map(|p| {
        codes::placement(p).map_or_else(|| format!("in placement type {p}"), str::to_owned)
    });
    let summary = match (e.end, placed) {
        (Some(end), Some(p)) => format!(
            "Looked after under {legal}, placed {p}; episode ended {}",
            codes::long_date(end)
        ),
        (Some(end), None) => format!(
            "Looked after under {legal}; episode ended {}",
            codes::long_date(end)
        ),
        (None, Some(p)) => format!(
            "Looked after under {legal} since {}; placed {p}",
            codes::long_date(e.start)
        ),
        (None, None) => format!(
            "Looked after under {legal} since {}",
            codes::long_date(e.start)
        ),
    };
    FactSpec {
        key: keys.key(format!("episode:{}", codes::iso(e.start))),
        category,
        agency: None,
        kind: "looked_after_episode",
        on: e.start,
        summary,
        payload,
    }
    .into()
}

/// Periods of care: episodes chained by `REC` = X1 (the next episode starts that day). A period
/// whose last episode ends with any other reason is closed; one still open, or whose last
/// episode says X1 with no successor in this return, is open.
fn periods_of_care<'e>(
    episodes: impl Iterator<Item = &'e Episode>,
) -> Vec<(NaiveDate, Option<NaiveDate>)> {
    let mut periods = Vec::new();
    // The start of a period still running into the next episode.
    let mut running: Option<NaiveDate> = None;
    for e in episodes {
        let start = running.take().unwrap_or(e.start);
        match e.end {
            Some(end) if e.rec.as_deref() != Some("X1") => periods.push((start, Some(end))),
            _ => running = Some(start),
        }
    }
    periods.extend(running.map(|start| (start, None)));
    periods
}

/// Placement postcodes as addresses: consecutive episodes at one postcode are one address.
fn placements<'e>(episodes: impl Iterator<Item = &'e Episode>) -> Vec<SourceAddress> {
    let mut out: Vec<SourceAddress> = Vec::new();
    for e in episodes {
        let Some(postcode) = &e.placement_postcode else {
            continue;
        };
        if let Some(last) = out.last_mut()
            && &last.postcode == postcode
            && last.valid_to.is_none_or(|to| to >= e.start)
        {
            last.valid_to = e.end;
            continue;
        }
        out.push(SourceAddress {
            line1: String::new(),
            line2: None,
            town: String::new(),
            postcode: postcode.clone(),
            uprn: None,
            usage: "placement".into(),
            valid_from: Some(e.start),
            valid_to: e.end,
        });
    }
    out
}

fn missing_fact(m: &Missing, keys: &mut Keys) -> SourceFact {
    let away = m.kind.as_deref() == Some("A");
    let what = if away {
        "Away from placement without authorisation"
    } else {
        "Missing from care"
    };
    let summary = match m.end {
        Some(e) => format!(
            "{what} from {}; returned {}",
            codes::long_date(m.start),
            codes::long_date(e)
        ),
        None => format!(
            "{what} since {}; not yet returned",
            codes::long_date(m.start)
        ),
    };
    FactSpec {
        key: keys.key(format!("missing:{}", codes::iso(m.start))),
        category: "police.missing_episode",
        agency: None,
        kind: "missing_episode",
        on: m.start,
        summary,
        payload: json!({
            "MISSING": m.kind.as_deref().unwrap_or("M"),
            "MIS_START": codes::iso(m.start),
            "MIS_END": json_date(m.end),
        }),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(start: &str, end: Option<&str>, rec: Option<&str>) -> Episode {
        Episode {
            start: codes::parse_iso(start).unwrap(),
            end: end.and_then(codes::parse_iso),
            rne: None,
            ls: None,
            cin: None,
            place: None,
            provider: None,
            rec: rec.map(Into::into),
            reason_change: None,
            placement_postcode: None,
            urn: None,
        }
    }

    #[test]
    fn periods_of_care_chain_on_x1_and_end_on_other_reasons() {
        let episodes = [
            ep("2024-01-01", Some("2024-03-01"), Some("X1")),
            ep("2024-03-01", Some("2024-06-01"), Some("E4A")),
            ep("2025-01-10", Some("2025-02-01"), Some("X1")),
            ep("2025-02-01", None, None),
        ];
        let periods = periods_of_care(episodes.iter());
        let d = |s: &str| codes::parse_iso(s).unwrap();
        assert_eq!(
            periods,
            vec![
                (d("2024-01-01"), Some(d("2024-06-01"))),
                (d("2025-01-10"), None)
            ]
        );
    }

    #[test]
    fn a_period_ending_in_x1_without_a_successor_stays_open() {
        let episodes = [ep("2024-01-01", Some("2024-03-01"), Some("X1"))];
        assert_eq!(periods_of_care(episodes.iter())[0].1, None);
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    const HEADER_CSV: &str = "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB\r\n";
    const EPISODES_CSV: &str = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN\r\n";

    fn files(header: &str, episodes: &str) -> Vec<(String, String)> {
        vec![
            (HEADER.into(), format!("{HEADER_CSV}{header}")),
            (EPISODES.into(), format!("{EPISODES_CSV}{episodes}")),
        ]
    }

    fn run(files: &[(String, String)], name: &str) -> Output {
        let mut out = Output::default();
        read(files, name, "999", &mut out);
        out
    }

    #[test]
    fn a_return_without_a_header_table_or_a_year_is_refused_file_by_file() {
        let episodes = vec![(EPISODES.to_owned(), EPISODES_CSV.to_owned())];
        let out = run(&episodes, "ssda903-2026");
        assert_eq!(out.rejected.len(), 1);
        assert!(out.rejected[0].reason.contains("no `header.csv`"));
        let out = run(&files("7,1,01/01/2015,WBRI,,,\r\n", ""), "ssda903");
        assert_eq!(out.rejected.len(), 2);
        assert!(
            out.rejected
                .iter()
                .all(|r| r.reason.contains("no collection year"))
        );
    }

    #[test]
    fn a_header_table_without_dob_is_refused() {
        let f = vec![(HEADER.to_owned(), "CHILD,SEX\r\n7,1\r\n".to_owned())];
        let out = run(&f, "ssda903-2026");
        assert!(out.records.is_empty());
        assert!(out.rejected[0].reason.contains("no `DOB` column"));
    }

    #[test]
    fn a_refused_header_row_takes_its_episodes_with_it() {
        let out = run(
            &files(
                "7,3,01/01/2015,WBRI,,,\r\n8,2,02/02/2016,WBRI,,,\r\n8,2,02/02/2016,WBRI,,,\r\n",
                "7,01/05/2025,S,V2,N1,U4,PR1,,,,,,\r\n8,01/05/2025,S,V2,N1,U4,PR1,,,,,,\r\n",
            ),
            "ssda903-2026",
        );
        let reasons: Vec<&str> = out.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                "`header.csv` line 2: `SEX` is not 1 or 2",
                "`header.csv` line 4: `CHILD` appears twice",
                "`episodes.csv` line 2: the child's `header.csv` row was rejected",
            ]
        );
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.records[0].source_key, "903:999:2026:8");
        assert_eq!(out.records[0].facts.len(), 2, "its episode and its flag");
    }

    #[test]
    fn an_episode_ending_before_it_starts_is_refused() {
        let out = run(
            &files(
                "7,1,01/01/2015,WBRI,,,\r\n",
                "7,01/05/2025,S,V2,N1,U4,PR1,01/04/2025,E4A,,,,\r\n",
            ),
            "ssda903-2026",
        );
        assert!(out.rejected[0].reason.contains("`DEC` is before `DECOM`"));
        assert!(out.records[0].facts.is_empty());
    }
}
