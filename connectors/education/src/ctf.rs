//! The CTF vocabulary the parser and the feed's renderer share: code lists, date forms, the
//! school-term calendar read from attendance marks, and the wording of fact summaries.
//!
//! DfE code lists change yearly; these are the codes the hub needs to tell apart, and an
//! unknown code is kept as it is rather than refused.
//!
//! Limits: pure functions and constants; no IO, no XML.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// The fact categories and kinds a CTF file yields.
pub(crate) mod kinds {
    pub const ENROLMENT: (&str, &str) = ("education.enrolment", "enrolment");
    pub const ATTENDANCE: (&str, &str) = ("education.attendance", "attendance_summary");
    pub const EXCLUSION: (&str, &str) = ("education.exclusions", "exclusion");
    pub const FSM: (&str, &str) = ("education.fsm", "fsm_period");
    pub const SEN: (&str, &str) = ("education.sen", "sen_provision");
    pub const ETHNICITY: (&str, &str) = ("person.ethnicity", "ethnicity");
}

/// A CTF date, `YYYY-MM-DD`.
pub(crate) fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// A date as CTF writes it.
pub(crate) fn iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// When a fact dated only by day happened: the start of that day, UTC (the same day in UK
/// time, winter or summer).
pub(crate) fn start_of(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// A header `DateTime`: `YYYY-MM-DDThh:mm:ss`, with or without fraction or offset.
pub(crate) fn date_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    date(s).map(start_of)
}

/// Whether a code is all digits (an LA number or establishment number).
pub(crate) fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A CTF boolean: `true|false|1|0`, and the `Y|N` some MIS vendors write.
pub(crate) fn boolean(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "y" | "yes" => Some(true),
        "false" | "0" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// The catalogue sex for a `Gender` or `Sex` code; `None` for a code not in the list.
pub(crate) fn sex(code: &str) -> Option<&'static str> {
    match code.trim().to_ascii_uppercase().as_str() {
        "M" => Some("male"),
        "F" => Some("female"),
        "U" | "X" | "N" | "9" | "0" => Some("unknown"),
        _ => None,
    }
}

/// The `Gender`/`Sex` code for a catalogue sex; CTF has none for `other` or `unknown`.
#[cfg_attr(
    not(feature = "feed"),
    allow(dead_code, reason = "only the feed renders codes")
)]
pub(crate) fn sex_code(sex: &str) -> Option<&'static str> {
    match sex {
        "male" => Some("M"),
        "female" => Some("F"),
        _ => None,
    }
}

/// How a contact stands to the pupil, from its `Relationship` code: a parent or a carer;
/// `None` for anyone else (a relative, a social worker, a doctor, another contact), who is a
/// contact but not family the hub can declare.
pub(crate) fn relationship_kind(code: &str) -> Option<&'static str> {
    match code.trim().to_ascii_uppercase().as_str() {
        "PAR" | "MTH" | "FTH" | "MUM" | "DAD" => Some("parent"),
        "CAR" | "STP" | "STF" | "STM" | "FOF" | "FOM" | "FOC" => Some("carer"),
        _ => None,
    }
}

/// The `Relationship` code for a declared relationship kind and the contact's sex.
#[cfg_attr(
    not(feature = "feed"),
    allow(dead_code, reason = "only the feed renders codes")
)]
pub(crate) fn relationship_code(kind: &str, sex: Option<&str>) -> &'static str {
    match (kind, sex) {
        ("parent", Some("female")) => "MTH",
        ("parent", Some("male")) => "FTH",
        ("parent", _) => "PAR",
        ("carer", _) => "CAR",
        _ => "OTH",
    }
}

/// What an `NCyearActual` code reads as.
pub(crate) fn nc_year(code: &str) -> String {
    match code {
        "R" => "Reception".to_owned(),
        "N1" | "N2" => "Nursery".to_owned(),
        "X" => "a mixed-age class".to_owned(),
        n if is_numeric(n) => format!("Year {}", n.trim_start_matches('0')),
        other => format!("NC year {other}"),
    }
}

/// A term read from attendance marks: its code and name, from the month it ended in.
pub(crate) fn term(end: NaiveDate) -> (&'static str, &'static str) {
    match end.month() {
        9..=12 => ("AUT", "Autumn"),
        1..=4 => ("SPR", "Spring"),
        _ => ("SUM", "Summer"),
    }
}

/// The longest period, in days, that attendance marks may cover and still count as a term.
pub(crate) const TERM_DAYS: i64 = 140;

/// `2024/25` for the academic year starting in 2024.
pub(crate) fn academic_year(start_year: i32) -> String {
    format!("{start_year}/{:02}", (start_year + 1).rem_euclid(100))
}

/// The academic year (its starting calendar year) a date falls in: from 1 September.
pub(crate) fn academic_year_of(d: NaiveDate) -> i32 {
    if d.month() >= 9 {
        d.year()
    } else {
        d.year() - 1
    }
}

/// `September 2021`.
pub(crate) fn month_year(d: NaiveDate) -> String {
    d.format("%B %Y").to_string()
}

/// `2 September 2021`.
pub(crate) fn long_date(d: NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

/// What a SEN provision code means.
pub(crate) fn sen_provision(code: &str) -> String {
    match code {
        "E" => "Education, health and care plan (E)".to_owned(),
        "K" => "SEN support (K)".to_owned(),
        "S" => "Statement of SEN (S)".to_owned(),
        "N" => "No special educational need (N)".to_owned(),
        other => format!("SEN provision {other}"),
    }
}

/// What a SEN type (primary need) code means.
pub(crate) fn sen_type(code: &str) -> String {
    let text = match code {
        "SLCN" => "speech, language and communication needs",
        "SEMH" => "social, emotional and mental health",
        "MLD" => "moderate learning difficulty",
        "SLD" => "severe learning difficulty",
        "PMLD" => "profound and multiple learning difficulty",
        "SPLD" => "specific learning difficulty",
        "ASD" => "autistic spectrum disorder",
        "PD" => "physical disability",
        "HI" => "hearing impairment",
        "VI" => "visual impairment",
        "MSI" => "multi-sensory impairment",
        "NSA" => "SEN support but no specialist assessment of type of need",
        "OTH" => "other difficulty or disability",
        other => return format!("need type {other}"),
    };
    text.to_owned()
}

/// What a suspension or exclusion reason code means.
pub(crate) fn exclusion_reason(code: &str) -> String {
    let text = match code {
        "PD" => "persistent disruptive behaviour",
        "PP" => "physical assault against a pupil",
        "PA" => "physical assault against an adult",
        "VP" => "verbal abuse or threatening behaviour against a pupil",
        "VA" => "verbal abuse or threatening behaviour against an adult",
        "BU" => "bullying",
        "DA" => "use or threat of use of an offensive weapon or prohibited item",
        "DM" => "damage to property",
        "RA" => "racist abuse",
        "SM" => "sexual misconduct",
        "TH" => "theft",
        "DR" => "drug and alcohol related",
        "MT" => "abuse relating to disability",
        "LG" => "abuse against sexual orientation and gender identity",
        "OT" => "other",
        other => return format!("reason {other}"),
    };
    text.to_owned()
}

/// Whether an exclusion `Category` is a permanent exclusion (`PERM`); anything else
/// (`SUSP`, the older `FIXD`, lunchtime `LUNCH`) is a suspension.
pub(crate) fn is_permanent(category: &str) -> bool {
    category.eq_ignore_ascii_case("PERM")
}

/// The attendance mark for a session excluded (an authorised absence).
pub(crate) const EXCLUDED_MARK: char = 'E';

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_the_hub_needs() {
        assert_eq!(sex("f"), Some("female"));
        assert_eq!(sex("Q"), None);
        assert_eq!(relationship_kind("MTH"), Some("parent"));
        assert_eq!(relationship_kind("STP"), Some("carer"));
        assert_eq!(relationship_kind("SWR"), None);
        assert_eq!(relationship_code("parent", Some("male")), "FTH");
        assert_eq!(nc_year("R"), "Reception");
        assert_eq!(nc_year("07"), "Year 7");
        assert_eq!(boolean("1"), Some(true));
        assert_eq!(boolean("maybe"), None);
    }

    #[test]
    fn dates_and_terms() {
        assert_eq!(date("2024-02-30"), None);
        assert_eq!(date("01/02/2024"), None);
        let d = date("2024-12-19").expect("date");
        assert_eq!(term(d), ("AUT", "Autumn"));
        assert_eq!(academic_year(academic_year_of(d)), "2024/25");
        assert_eq!(academic_year_of(date("2025-03-27").expect("date")), 2024);
        assert_eq!(
            date_time("2024-03-01T10:15:00").map(|t| t.to_rfc3339()),
            Some("2024-03-01T10:15:00+00:00".into())
        );
        assert!(date_time("2024-03-01T10:15:00+01:00").is_some());
    }
}
