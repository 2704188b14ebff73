//! The code lists and date forms the returns share: DfE codes rendered as practitioner words
//! for summaries, the collection year a date falls in, and the two date forms (`xs:date` in
//! the CIN census, `DD/MM/YYYY` in the CSVs).
//!
//! Code lists change yearly (DOMAIN §6): an unknown code is kept as it is in the payload and
//! named by its code in the summary, never refused.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// The practitioner's words for a CIN referral source, e.g. `6` → "police".
pub(crate) fn referral_source(code: &str) -> Option<&'static str> {
    Some(match code {
        "1A" => "a family member",
        "1B" => "an acquaintance",
        "1C" => "the child",
        "1D" => "another individual",
        "2A" => "a school",
        "2B" => "education services",
        "3A" => "a GP",
        "3B" => "a health visitor",
        "3C" => "a school nurse",
        "3D" => "primary health services",
        "3E" => "the emergency department",
        "3F" => "health services",
        "4" => "housing",
        "5A" => "adult social care",
        "5B" => "another LA service",
        "5C" => "another local authority",
        "5D" => "early help",
        "6" => "police",
        "7" => "a legal agency",
        "8" => "another agency",
        "9" => "an anonymous caller",
        "10" => "an unknown source",
        _ => return None,
    })
}

/// The words for a CIN primary need code, e.g. `N1` → "abuse or neglect".
pub(crate) fn primary_need(code: &str) -> Option<&'static str> {
    Some(match code {
        "N0" => "not stated",
        "N1" => "abuse or neglect",
        "N2" => "child's disability",
        "N3" => "parental illness or disability",
        "N4" => "family in acute stress",
        "N5" => "family dysfunction",
        "N6" => "socially unacceptable behaviour",
        "N7" => "low income",
        "N8" => "absent parenting",
        "N9" => "cases other than children in need",
        _ => return None,
    })
}

/// The words for a category of abuse, e.g. `NEG` → "neglect".
pub(crate) fn category_of_abuse(code: &str) -> Option<&'static str> {
    Some(match code {
        "NEG" => "neglect",
        "PHY" => "physical abuse",
        "SAB" => "sexual abuse",
        "EMO" => "emotional abuse",
        "MUL" => "multiple categories",
        _ => return None,
    })
}

/// The words for a reason a CIN episode closed.
pub(crate) fn reason_for_closure(code: &str) -> Option<&'static str> {
    Some(match code {
        "RC1" => "adopted",
        "RC2" => "died",
        "RC3" => "child arrangements order",
        "RC4" => "special guardianship order",
        "RC5" => "transferred to another local authority",
        "RC6" => "transferred to adult social care",
        "RC7" => "services ceased",
        "RC8" => "closed after assessment with no further action",
        "RC9" => "closed after assessment and referred to early help",
        _ => return None,
    })
}

/// The words for a 903 legal status, e.g. `C2` → "a full care order".
pub(crate) fn legal_status(code: &str) -> Option<&'static str> {
    Some(match code {
        "C1" => "an interim care order",
        "C2" => "a full care order",
        "D1" => "a freeing order",
        "E1" => "a placement order",
        "V2" => "section 20 accommodation",
        "V3" => "section 20 short breaks (single placement)",
        "V4" => "section 20 short breaks (series)",
        "L1" => "police protection",
        "L2" => "an emergency protection order",
        "L3" => "a child assessment order",
        "J1" => "remand to local authority accommodation",
        "J2" => "PACE detention",
        "J3" => "a sentence with a residence requirement",
        _ => return None,
    })
}

/// Whether a 903 legal status is a youth justice one (remand, PACE, sentence): DOMAIN §3
/// note (c) puts those episodes in `police.youth_justice`.
pub(crate) fn is_youth_justice_status(code: &str) -> bool {
    matches!(code, "J1" | "J2" | "J3")
}

/// The words for a 903 placement type, e.g. `U4` → "with foster carers".
pub(crate) fn placement(code: &str) -> Option<&'static str> {
    Some(match code {
        "A3" | "A4" | "A5" | "A6" => "for adoption",
        "H5" => "in semi-independent accommodation",
        "K1" => "in a secure children's home",
        "K2" => "in a children's home",
        "P1" => "with parents under a care order",
        "P2" => "in independent living",
        "P3" => "in residential employment",
        "R1" => "in a residential care home",
        "R2" => "in an NHS or health trust setting",
        "R3" => "in a family centre or mother and baby unit",
        "R5" => "in a young offender institution",
        "S1" => "in an independent residential school",
        "T0" | "T1" | "T2" | "T3" | "T4" => "in a temporary placement",
        "U1" | "U2" | "U3" => "with relative foster carers",
        "U4" | "U5" => "with foster carers",
        "U6" => "with foster carers out of area",
        "Z1" => "in another placement",
        _ => return None,
    })
}

/// A code's words, or the code itself when the list does not know it.
pub(crate) fn words(lookup: fn(&str) -> Option<&'static str>, code: &str) -> String {
    lookup(code).map_or_else(|| format!("code {code}"), str::to_owned)
}

/// The DfE collection year a date falls in: 1 April to 31 March, named by the year it ends.
#[cfg_attr(
    not(feature = "feed"),
    allow(dead_code, reason = "the feed renders with it")
)]
pub(crate) fn collection_year(date: NaiveDate) -> i32 {
    if date.month() >= 4 {
        date.year() + 1
    } else {
        date.year()
    }
}

/// The reference date of a collection year: 31 March.
#[cfg_attr(
    not(feature = "feed"),
    allow(dead_code, reason = "the feed renders with it")
)]
pub(crate) fn reference_date(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, 3, 31)
}

/// A date as an instant: midnight UTC, since the returns carry dates without times.
pub(crate) fn instant(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// `YYYY-MM-DD`, the form of `xs:date` and of the payloads.
pub(crate) fn iso(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// `DD/MM/YYYY`, the form of the SSDA903 and early help CSVs.
#[cfg_attr(
    not(feature = "feed"),
    allow(dead_code, reason = "the feed renders with it")
)]
pub(crate) fn dmy(date: NaiveDate) -> String {
    date.format("%d/%m/%Y").to_string()
}

/// "4 March 2026", for summaries.
pub(crate) fn long_date(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

/// Reads an `xs:date` (`YYYY-MM-DD`; a trailing time-zone designator is allowed and ignored).
pub(crate) fn parse_iso(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let day = s.get(..10)?;
    let rest = &s[10..];
    let zone_ok = rest.is_empty()
        || rest == "Z"
        || (rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')));
    if !zone_ok {
        return None;
    }
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// Reads a `DD/MM/YYYY` date.
pub(crate) fn parse_dmy(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let mut parts = s.split('/');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    let ok = parts.next().is_none()
        && (1..=2).contains(&d.len())
        && (1..=2).contains(&m.len())
        && y.len() == 4;
    if !ok {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// Reads an `xs:boolean`: `true`, `false`, `1` or `0` (upper case tolerated, as the CIN XSD
/// allows it).
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "true" | "TRUE" | "1" => Some(true),
        "false" | "FALSE" | "0" => Some(false),
        _ => None,
    }
}

/// The first run of four digits in a return's name, read as the collection year it is for
/// (`ssda903-2026` → 2026).
pub(crate) fn year_in_name(name: &str) -> Option<i32> {
    let bytes = name.as_bytes();
    bytes
        .windows(4)
        .enumerate()
        .find(|(i, w)| {
            w.iter().all(u8::is_ascii_digit)
                && (*i == 0 || !bytes[i - 1].is_ascii_digit())
                && bytes.get(i + 4).is_none_or(|b| !b.is_ascii_digit())
        })
        .and_then(|(_, w)| std::str::from_utf8(w).ok()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn collection_years_run_from_april_to_march() {
        assert_eq!(collection_year(date(2025, 3, 31)), 2025);
        assert_eq!(collection_year(date(2025, 4, 1)), 2026);
        assert_eq!(collection_year(date(2026, 1, 15)), 2026);
    }

    #[test]
    fn both_date_forms_are_read_strictly() {
        assert_eq!(parse_iso("2026-03-04"), Some(date(2026, 3, 4)));
        assert_eq!(parse_iso("2026-03-04Z"), Some(date(2026, 3, 4)));
        assert_eq!(parse_iso("04/03/2026"), None);
        assert_eq!(parse_iso("2026-02-30"), None);
        assert_eq!(parse_dmy("04/03/2026"), Some(date(2026, 3, 4)));
        assert_eq!(parse_dmy("4/3/2026"), Some(date(2026, 3, 4)));
        assert_eq!(parse_dmy("2026-03-04"), None);
        assert_eq!(parse_dmy("31/02/2026"), None);
        assert_eq!(parse_dmy("04/03/26"), None);
    }

    #[test]
    fn booleans_take_the_four_xsd_forms() {
        assert_eq!(parse_bool("true"), Some(true));
        assert_eq!(parse_bool("1"), Some(true));
        assert_eq!(parse_bool("FALSE"), Some(false));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("yes"), None);
    }

    #[test]
    fn the_year_of_a_return_is_read_from_its_name() {
        assert_eq!(year_in_name("ssda903-2026"), Some(2026));
        assert_eq!(year_in_name("ssda903-2026-r2"), Some(2026));
        assert_eq!(year_in_name("cin_census_2025_final"), Some(2025));
        assert_eq!(year_in_name("ssda903"), None);
        assert_eq!(year_in_name("x-20261"), None);
    }

    #[test]
    fn unknown_codes_are_named_by_their_code() {
        assert_eq!(words(referral_source, "6"), "police");
        assert_eq!(words(referral_source, "Q9"), "code Q9");
        assert!(is_youth_justice_status("J2"));
        assert!(!is_youth_justice_status("C2"));
        assert_eq!(long_date(date(2026, 3, 4)), "4 March 2026");
    }
}
