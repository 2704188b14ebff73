//! Renders planned envelopes as one Common Transfer File: the inverse of `parse`.
//!
//! Fact to element: `enrolment` → `SchoolHistory/School` (the sending school's open entry
//! also fills `BasicDetails/NCyearActual`, `EnrolStatus` and `LookedAfter`);
//! `attendance_summary` → `Attendance/YearData` with `AttendanceMarks` spanning the term (so
//! the parser reads the term back from the marks, and suspensions in the term show as `E`
//! marks); `fsm_period` → `FSMhistory/FSMinstance`; `sen_provision` → `SENhistory`;
//! `exclusion` → the Kinship `Exclusions/Exclusion` extension; `ethnicity` →
//! `BasicDetails/Ethnicity`. Other kinds have no CTF element and are left out.
//!
//! What CTF cannot say is lost: times of day, summaries (the parser writes its own), address
//! dates, a contact's date of birth and identifiers, and relationships other than to parents
//! and carers.
//!
//! Limits: pure; writes text, reads nothing.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc, Weekday};
use kinship_connector_sdk::{SourceAddress, SourceFact, SourceRecord};
use serde_json::Value;

use super::plan::{ContactPlan, PupilPlan};
use crate::ctf::{self, kinds};

/// What the file's header says.
pub(crate) struct HeaderInfo<'a> {
    pub laestab: &'a str,
    pub destination_unknown: bool,
    pub issued: DateTime<Utc>,
}

/// An indenting XML writer for the few shapes CTF needs.
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn open(&mut self, name: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn leaf(&mut self, name: &str, value: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.out.push_str(&quick_xml::escape::escape(value));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn opt(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.leaf(name, v);
        }
    }
}

/// A payload field as text: strings as they are, numbers and booleans written out.
fn text(p: &Value, key: &str) -> Option<String> {
    match p.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn count(p: &Value, key: &str) -> Option<u32> {
    match p.get(key)? {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn day(p: &Value, key: &str) -> Option<NaiveDate> {
    p.get(key).and_then(Value::as_str).and_then(ctf::date)
}

fn of_kind<'a>(r: &'a SourceRecord, kind: (&str, &str)) -> impl Iterator<Item = &'a SourceFact> {
    r.facts.iter().filter(move |f| f.kind == kind.1)
}

/// Renders a whole file.
pub(crate) fn file<'r>(
    header: &HeaderInfo<'_>,
    pupils: &[PupilPlan],
    record: &dyn Fn(u32) -> Option<&'r SourceRecord>,
) -> String {
    let mut x = Xml {
        out: String::with_capacity(2048 + pupils.len() * 3072),
        depth: 0,
    };
    x.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.open("CTfile");
    x.open("Header");
    x.leaf("DocumentName", "Common Transfer File");
    x.leaf("CTFversion", "22.0");
    x.leaf(
        "DateTime",
        &header.issued.format("%Y-%m-%dT%H:%M:%S").to_string(),
    );
    x.leaf("DocumentQualifier", "partial");
    x.leaf("SupplierID", "Kinship demo feed");
    let (lea, estab) = header.laestab.split_at(3.min(header.laestab.len()));
    x.open("SourceSchool");
    x.leaf("LEA", lea);
    x.leaf("Estab", estab);
    let year = ctf::academic_year_of(header.issued.date_naive());
    x.leaf("AcademicYear", &ctf::academic_year(year));
    x.close("SourceSchool");
    x.open("DestSchool");
    if header.destination_unknown {
        // The lost pupils database: the school does not know where they went.
        x.leaf("LEA", "MMM");
        x.leaf("Estab", "MMMM");
    } else {
        // The local authority itself.
        x.leaf("LEA", lea);
        x.leaf("Estab", "0000");
    }
    x.close("DestSchool");
    x.close("Header");
    x.open("CTFpupilData");
    for plan in pupils {
        if let Some(r) = record(plan.record) {
            pupil(&mut x, header, r, &plan.contacts, record);
        }
    }
    x.close("CTFpupilData");
    x.close("CTfile");
    x.out
}

fn official(r: &SourceRecord) -> Option<(&str, &str)> {
    let names = &r.identity.names;
    names
        .iter()
        .find(|n| n.usage == "official")
        .or_else(|| names.first())
        .map(|n| (n.given.as_str(), n.family.as_str()))
}

/// Splits a line into `PAON` and `Street`: a leading house number is the PAON, else the whole
/// line is (a building name).
fn paon_street(line: &str) -> (&str, Option<&str>) {
    let line = line.trim();
    match line.split_once(' ') {
        Some((first, rest)) if first.bytes().any(|b| b.is_ascii_digit()) => {
            (first, Some(rest.trim()).filter(|s| !s.is_empty()))
        }
        _ => (line, None),
    }
}

fn address(x: &mut Xml, a: &SourceAddress) {
    x.open("Address");
    x.open("BS7666Address");
    let (saon, main) = match &a.line2 {
        Some(l2) if !l2.trim().is_empty() => (Some(a.line1.as_str()), l2.as_str()),
        _ => (None, a.line1.as_str()),
    };
    x.opt("SAON", saon);
    let (paon, street) = paon_street(main);
    x.opt("PAON", Some(paon).filter(|p| !p.is_empty()));
    x.opt("Street", street);
    x.opt("Town", Some(a.town.as_str()).filter(|t| !t.is_empty()));
    x.opt("UniquePropertyReferenceNumber", a.uprn.as_deref());
    x.close("BS7666Address");
    x.opt(
        "PostCode",
        Some(a.postcode.as_str()).filter(|p| !p.is_empty()),
    );
    x.close("Address");
}

fn pupil<'r>(
    x: &mut Xml,
    header: &HeaderInfo<'_>,
    r: &SourceRecord,
    contacts: &[ContactPlan],
    record: &dyn Fn(u32) -> Option<&'r SourceRecord>,
) {
    let id = &r.identity;
    let identifier = |system: &str| {
        id.identifiers
            .iter()
            .find(|i| i.system == system)
            .map(|i| i.value.as_str())
    };
    let enrolments: Vec<&SourceFact> = of_kind(r, kinds::ENROLMENT).collect();
    let laestab_of = |f: &SourceFact| text(&f.payload, "LAESTAB");
    // The sending school's own entry: open if the pupil is on roll, else the first.
    let own = enrolments
        .iter()
        .filter(|f| laestab_of(f).is_none_or(|l| l == header.laestab))
        .min_by_key(|f| f.payload.get("LeavingDate").is_some_and(|v| !v.is_null()))
        .map(|f| &f.payload);

    x.open("Pupil");
    x.opt("UPN", identifier("upn"));
    let (forename, surname) = official(r).unwrap_or_default();
    x.opt("Surname", Some(surname).filter(|s| !s.is_empty()));
    x.opt("Forename", Some(forename).filter(|s| !s.is_empty()));
    x.opt("DOB", id.date_of_birth.map(ctf::iso).as_deref());
    x.opt("Sex", id.sex.as_deref().and_then(ctf::sex_code));

    x.open("BasicDetails");
    x.opt("FormerUPN", identifier("former_upn"));
    if let Some(usual) = id.names.iter().find(|n| n.usage == "usual") {
        x.opt(
            "PreferredSurname",
            Some(usual.family.as_str()).filter(|s| !s.is_empty() && *s != surname),
        );
        x.opt(
            "PreferredForename",
            Some(usual.given.as_str()).filter(|s| !s.is_empty() && *s != forename),
        );
    }
    x.opt(
        "NCyearActual",
        own.and_then(|p| text(p, "NCyearActual")).as_deref(),
    );
    let ethnicity = of_kind(r, kinds::ETHNICITY).next().and_then(|f| {
        ["Ethnicity", "code", "ethnicity"]
            .iter()
            .find_map(|k| text(&f.payload, k))
    });
    x.opt("Ethnicity", ethnicity.as_deref());
    x.opt(
        "EnrolStatus",
        own.and_then(|p| text(p, "EnrolStatus")).as_deref(),
    );
    x.close("BasicDetails");

    if let Some(in_care) = own.and_then(|p| p.get("InCare")).and_then(Value::as_bool) {
        x.open("LookedAfter");
        x.leaf("InCare", if in_care { "true" } else { "false" });
        x.opt(
            "CareAuthority",
            own.and_then(|p| text(p, "CareAuthority")).as_deref(),
        );
        x.close("LookedAfter");
    }

    fsm(x, r);
    sen(x, r);
    let home = id.addresses.first();
    if let Some(a) = home {
        address(x, a);
    }
    if !contacts.is_empty() {
        x.open("Contacts");
        for (i, c) in contacts.iter().enumerate() {
            if let Some(adult) = record(c.record) {
                contact(x, i + 1, adult, c, home);
            }
        }
        x.close("Contacts");
    }
    attendance(x, header, r);
    exclusions(x, r);
    if !enrolments.is_empty() {
        x.open("SchoolHistory");
        for f in &enrolments {
            let laestab = laestab_of(f).unwrap_or_else(|| header.laestab.to_owned());
            let (lea, estab) = laestab.split_at(3.min(laestab.len()));
            x.open("School");
            x.leaf("LEA", lea);
            x.leaf("Estab", estab);
            let entry = day(&f.payload, "EntryDate").unwrap_or(f.occurred_at.date_naive());
            x.leaf("EntryDate", &ctf::iso(entry));
            x.opt(
                "LeavingDate",
                day(&f.payload, "LeavingDate").map(ctf::iso).as_deref(),
            );
            x.opt(
                "LeavingReason",
                text(&f.payload, "LeavingReason").as_deref(),
            );
            x.close("School");
        }
        x.close("SchoolHistory");
    }
    x.close("Pupil");
}

fn contact(
    x: &mut Xml,
    order: usize,
    adult: &SourceRecord,
    plan: &ContactPlan,
    home: Option<&SourceAddress>,
) {
    x.open("Contact");
    x.leaf("Order", &order.to_string());
    let (forename, surname) = official(adult).unwrap_or_default();
    x.opt("Surname", Some(surname).filter(|s| !s.is_empty()));
    x.opt("Forename", Some(forename).filter(|s| !s.is_empty()));
    x.opt(
        "Gender",
        adult.identity.sex.as_deref().and_then(ctf::sex_code),
    );
    x.leaf("Relationship", plan.code);
    x.opt(
        "Responsibility",
        plan.responsibility
            .map(|r| if r { "true" } else { "false" }),
    );
    match adult.identity.addresses.first() {
        Some(a) if Some(a) == home => x.leaf("AddressAsPupil", "true"),
        Some(a) => address(x, a),
        None => {}
    }
    x.close("Contact");
}

fn fsm(x: &mut Xml, r: &SourceRecord) {
    let periods: Vec<&SourceFact> = of_kind(r, kinds::FSM).collect();
    if periods.is_empty() {
        return;
    }
    x.open("FSMhistory");
    for f in periods {
        let start = day(&f.payload, "FSMstartDate").unwrap_or(f.occurred_at.date_naive());
        x.open("FSMinstance");
        x.leaf("FSMstartDate", &ctf::iso(start));
        x.opt(
            "FSMendDate",
            day(&f.payload, "FSMendDate").map(ctf::iso).as_deref(),
        );
        x.opt("UKCountry", text(&f.payload, "UKCountry").as_deref());
        x.close("FSMinstance");
    }
    x.close("FSMhistory");
}

fn sen(x: &mut Xml, r: &SourceRecord) {
    let mut provisions: Vec<(NaiveDate, &SourceFact)> = of_kind(r, kinds::SEN)
        .map(|f| {
            let start = day(&f.payload, "StartDate").unwrap_or(f.occurred_at.date_naive());
            (start, f)
        })
        .collect();
    if provisions.is_empty() {
        return;
    }
    provisions.sort_by_key(|(d, _)| *d);
    x.open("SENhistory");
    for (start, f) in &provisions {
        x.open("SEN");
        x.leaf("StartDate", &ctf::iso(*start));
        x.opt("SENprovision", text(&f.payload, "SENprovision").as_deref());
        x.close("SEN");
    }
    // CTF keeps one list of needs: the latest provision's.
    let needs = provisions
        .last()
        .and_then(|(_, f)| f.payload.get("SENneeds"))
        .and_then(Value::as_array)
        .filter(|n| !n.is_empty());
    if let Some(needs) = needs {
        x.open("SENneeds");
        for need in needs {
            x.open("SENneed");
            x.opt("SENtype", text(need, "SENtype").as_deref());
            x.opt("SENtypeRank", text(need, "SENtypeRank").as_deref());
            x.close("SENneed");
        }
        x.close("SENneeds");
    }
    x.close("SENhistory");
}

/// The period a termly summary covers: from `AttendanceStartDate` when the payload has it,
/// else back from the day it was recorded over as many school days as sessions possible.
fn period(p: &Value, end: NaiveDate, possible: u32) -> NaiveDate {
    if let Some(start) = day(p, "AttendanceStartDate").filter(|s| *s <= end) {
        return start;
    }
    let mut start = end;
    let mut slots = school_slots(end);
    while slots < possible {
        start -= TimeDelta::days(1);
        slots += school_slots(start);
    }
    start
}

fn school_slots(d: NaiveDate) -> u32 {
    if matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
        0
    } else {
        2
    }
}

/// Session marks from `start` to `end`, two a day: `#` at weekends and after the possible
/// sessions are used up; presence `/` in the morning and `\` in the afternoon. Of the
/// absences, `excluded` are `E`, placed from each suspension's start date (then at the
/// earliest sessions if the dates do not place them all); the rest are spread evenly,
/// authorised (`I`) before unauthorised (`O`).
fn marks(
    (start, end): (NaiveDate, NaiveDate),
    (possible, attended, authorised): (u32, u32, u32),
    excluded: u32,
    suspensions: &[(NaiveDate, u32)],
) -> String {
    // The date of each session, in order.
    let mut sessions = Vec::new();
    let mut d = start;
    while d <= end && sessions.len() < usize::try_from(possible).unwrap_or(usize::MAX) {
        for _ in 0..school_slots(d) {
            sessions.push(d);
        }
        d += TimeDelta::days(1);
    }
    sessions.truncate(usize::try_from(possible).unwrap_or(usize::MAX));
    let absent = usize::try_from(possible.saturating_sub(attended)).unwrap_or(0);
    let excluded = usize::try_from(excluded).unwrap_or(0).min(absent);
    let mut mark: Vec<Option<char>> = vec![None; sessions.len()];
    let mut placed = 0;
    for &(from, n) in suspensions {
        let first = sessions.partition_point(|s| *s < from);
        for m in mark
            .iter_mut()
            .skip(first)
            .take(usize::try_from(n).unwrap_or(0))
        {
            if placed < excluded && m.is_none() {
                *m = Some(ctf::EXCLUDED_MARK);
                placed += 1;
            }
        }
    }
    for m in &mut mark {
        if placed < excluded && m.is_none() {
            *m = Some(ctf::EXCLUDED_MARK);
            placed += 1;
        }
    }
    // The other absences, spread evenly over the sessions not marked `E`.
    let others = absent - placed;
    let free = mark.iter().filter(|m| m.is_none()).count();
    let authorised = usize::try_from(authorised)
        .unwrap_or(0)
        .saturating_sub(placed);
    let (mut j, mut absences) = (0usize, 0usize);
    for m in mark.iter_mut().filter(|m| m.is_none()) {
        if (j + 1) * others / free.max(1) > j * others / free.max(1) {
            absences += 1;
            *m = Some(if absences <= authorised { 'I' } else { 'O' });
        }
        j += 1;
    }
    let mut out = String::new();
    let mut i = 0;
    let mut d = start;
    while d <= end {
        for half in 0..2 {
            let present = if half == 0 { '/' } else { '\\' };
            match sessions.get(i) {
                Some(s) if *s == d => {
                    out.push(mark.get(i).copied().flatten().unwrap_or(present));
                    i += 1;
                }
                _ => out.push('#'),
            }
        }
        d += TimeDelta::days(1);
    }
    out
}

fn attendance(x: &mut Xml, header: &HeaderInfo<'_>, r: &SourceRecord) {
    let summaries: Vec<&SourceFact> = of_kind(r, kinds::ATTENDANCE).collect();
    if summaries.is_empty() {
        return;
    }
    // Suspended sessions by start date, to mark them `E` in the term they fall in.
    let suspensions: Vec<(NaiveDate, u32)> = of_kind(r, kinds::EXCLUSION)
        .filter(|f| {
            !f.payload
                .get("Category")
                .and_then(Value::as_str)
                .is_some_and(ctf::is_permanent)
        })
        .filter_map(|f| {
            let start = day(&f.payload, "StartDate")?;
            Some((start, count(&f.payload, "Sessions").unwrap_or(1)))
        })
        .collect();
    x.open("Attendance");
    for f in summaries {
        let p = &f.payload;
        let Some(possible) = count(p, "SessionsPossible") else {
            continue;
        };
        let attended = count(p, "SessionsAttended").unwrap_or(0).min(possible);
        let end = f.occurred_at.date_naive();
        let year = text(p, "AcademicYear")
            .and_then(|y| y.get(..4).and_then(|y| y.parse::<i32>().ok()))
            .unwrap_or_else(|| ctf::academic_year_of(end));
        let laestab = text(p, "LAESTAB").unwrap_or_else(|| header.laestab.to_owned());
        let (lea, estab) = laestab.split_at(3.min(laestab.len()));
        x.open("YearData");
        x.leaf("Year", &year.to_string());
        x.leaf("LEA", lea);
        x.leaf("Estab", estab);
        x.leaf("SessionsPossible", &possible.to_string());
        x.leaf("SessionsAttended", &attended.to_string());
        let authorised = count(p, "SessionsAuthorised");
        x.opt(
            "SessionsAuthorised",
            authorised.map(|n| n.to_string()).as_deref(),
        );
        x.opt(
            "SessionsUnauthorised",
            count(p, "SessionsUnauthorised")
                .map(|n| n.to_string())
                .as_deref(),
        );
        // A termly summary carries its period in the marks; a whole year's figures none.
        if p.get("Term").is_some() || p.get("AttendanceStartDate").is_some() {
            let start = period(p, end, possible);
            let absent = possible - attended;
            let authorised = authorised.unwrap_or(absent).min(absent);
            let in_term: Vec<(NaiveDate, u32)> = suspensions
                .iter()
                .copied()
                .filter(|(d, _)| (start..=end).contains(d))
                .collect();
            let excluded = count(p, "ExclusionMarks")
                .unwrap_or_else(|| in_term.iter().map(|(_, n)| *n).sum())
                .min(authorised);
            x.leaf("AttendanceStartDate", &ctf::iso(start));
            x.leaf(
                "AttendanceMarks",
                &marks(
                    (start, end),
                    (possible, attended, authorised),
                    excluded,
                    &in_term,
                ),
            );
        }
        x.close("YearData");
    }
    x.close("Attendance");
}

fn exclusions(x: &mut Xml, r: &SourceRecord) {
    let mut list: Vec<(NaiveDate, &SourceFact)> = of_kind(r, kinds::EXCLUSION)
        .map(|f| {
            let start = day(&f.payload, "StartDate").unwrap_or(f.occurred_at.date_naive());
            (start, f)
        })
        .collect();
    if list.is_empty() {
        return;
    }
    // In date order, so fact keys (by date, then position) are stable across re-issues.
    list.sort_by_key(|(d, _)| *d);
    x.open("Exclusions");
    for (start, f) in list {
        x.open("Exclusion");
        x.leaf("StartDate", &ctf::iso(start));
        x.opt("Category", text(&f.payload, "Category").as_deref());
        x.opt(
            "Sessions",
            count(&f.payload, "Sessions")
                .map(|n| n.to_string())
                .as_deref(),
        );
        x.opt("Reason", text(&f.payload, "Reason").as_deref());
        x.close("Exclusion");
    }
    x.close("Exclusions");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_fit_the_sessions_and_weekends() {
        let start = ctf::date("2024-12-02").expect("monday");
        let end = ctf::date("2024-12-13").expect("friday");
        let wednesday = ctf::date("2024-12-11").expect("wednesday");
        let m = marks((start, end), (20, 17, 2), 2, &[(wednesday, 2)]);
        assert_eq!(m.chars().count(), 24);
        assert_eq!(&m[10..14], "####");
        assert_eq!(&m[18..20], "EE", "the suspension's sessions");
        assert_eq!(m.matches('E').count(), 2);
        assert_eq!(m.matches('O').count(), 1);
        assert_eq!(m.matches(['/', '\\']).count(), 17);
    }

    #[test]
    fn a_period_covers_the_possible_sessions_back_from_its_end() {
        let end = ctf::date("2024-12-19").expect("thursday");
        let start = period(&Value::Null, end, 142);
        let weekdays = (0..=(end - start).num_days())
            .filter(|n| school_slots(start + TimeDelta::days(*n)) > 0)
            .count();
        assert_eq!(weekdays, 71);
    }

    #[test]
    fn house_numbers_split_from_streets() {
        assert_eq!(
            paon_street("14 Larkspur Close"),
            ("14", Some("Larkspur Close"))
        );
        assert_eq!(paon_street("Rose Cottage"), ("Rose Cottage", None));
        assert_eq!(paon_street("12a"), ("12a", None));
    }
}
