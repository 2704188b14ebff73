//! Reads one Common Transfer File into envelopes: one record per `Pupil`, one per `Contact`,
//! and the rejects.
//!
//! The file is walked as a stream (see `xml`): the `Header` first, then each `Pupil` is built
//! as a small tree, read and dropped. A pupil that cannot be read (no `UPN`, a `UPN` failing
//! its check letter, a `DOB` that is not a date, a missing `Surname`...) is rejected with its
//! bytes and the rest goes on; a contact that cannot be read is rejected on its own. A file
//! that is not a CTF at all is one reject; XML that breaks part-way keeps the pupils before
//! the break and rejects the rest of the file as one entry.
//!
//! Element to envelope:
//! - `Pupil`: key `ctf:{LAESTAB}:{UPN}` from `Header/SourceSchool`, organisation
//!   `school:{LAESTAB}`; `Forename`/`Surname` official name, `PreferredForename`/
//!   `PreferredSurname` usual name, `DOB`, `Sex` or `Gender`, `UPN` and
//!   `BasicDetails/FormerUPN` identifiers, `Address/BS7666Address` home address.
//! - `Contacts/Contact`: key `{pupil key}:contact:{Order}`, names and address
//!   (`AddressAsPupil` = the pupil's); parent or carer by `Relationship` code, declared both
//!   ways, with `Responsibility` as parental responsibility.
//! - `SchoolHistory/School` → `education.enrolment`/`enrolment` (the source school's entry
//!   also carries `NCyearActual`, `EnrolStatus` and `LookedAfter`; a leaver's entry in a file
//!   whose `DestSchool` is not numeric says `DestinationUnknown`, the CME signal).
//! - `Attendance/YearData` → `education.attendance`/`attendance_summary`; the period runs from
//!   `AttendanceStartDate` for as many days as `AttendanceMarks` has pairs of sessions, and
//!   `E` marks are counted as `ExclusionMarks`.
//! - `FSMhistory/FSMinstance` → `education.fsm`/`fsm_period`.
//! - `SENhistory/SEN` with `SENneeds/SENneed` → `education.sen`/`sen_provision`.
//! - `Exclusions/Exclusion` (a Kinship extension after `Attendance`) →
//!   `education.exclusions`/`exclusion`.
//! - `BasicDetails/Ethnicity` → `person.ethnicity`/`ethnicity`, dated by the pupil's entry to
//!   the source school (CTF does not date it).
//!
//! Facts dated by day occur at the start of that day, UTC. Reasons name the element, never
//! its value.
//!
//! Limits: no IO; CTF only.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use kinship_connector_sdk::identifiers::{IdentifierError, Upn};
use kinship_connector_sdk::{
    Identity, Rejected, SourceAddress, SourceFact, SourceIdentifier, SourceName, SourceRecord,
    SourceRelationship,
};
use serde_json::{Map, Value, json};

use crate::ctf::{self, kinds};
use crate::xml::{Child, Element, Walker, XmlError};

/// What one file gave.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub records: Vec<SourceRecord>,
    pub rejected: Vec<Rejected>,
}

/// The file's `Header`: who sent it and where to.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    /// The sending school's LAESTAB (LA number and establishment number).
    pub laestab: String,
    pub school_name: Option<String>,
    /// `DestSchool` is present and not numeric (`MMM`/`MMMM` lost pupils, `XXX`/`XXXX`
    /// left the system): the pupils' destination is unknown.
    pub destination_unknown: bool,
    pub date_time: Option<DateTime<Utc>>,
}

impl Header {
    fn read(e: &Element) -> Result<Self, String> {
        let lea = e
            .text_at("SourceSchool/LEA")
            .ok_or("`Header/SourceSchool/LEA` is missing")?;
        let estab = e
            .text_at("SourceSchool/Estab")
            .ok_or("`Header/SourceSchool/Estab` is missing")?;
        if lea.len() != 3 || !ctf::is_numeric(lea) {
            return Err("`Header/SourceSchool/LEA` is not a three-digit LA number".into());
        }
        if estab.len() != 4 || !ctf::is_numeric(estab) {
            return Err(
                "`Header/SourceSchool/Estab` is not a four-digit establishment number".into(),
            );
        }
        let destination_unknown = e.child("DestSchool").is_some_and(|d| {
            !(d.text_at("LEA").is_some_and(ctf::is_numeric)
                && d.text_at("Estab").is_some_and(ctf::is_numeric))
        });
        Ok(Self {
            laestab: format!("{lea}{estab}"),
            school_name: e.text_at("SourceSchool/SchoolName").map(str::to_owned),
            destination_unknown,
            date_time: e.text_at("DateTime").and_then(ctf::date_time),
        })
    }
}

/// Reads a whole CTF document.
pub(crate) fn document(text: &str) -> Parsed {
    // Windows MIS exports often start with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Parsed::default();
    let mut w = Walker::new(text);
    match w.root() {
        Ok(Some(root)) if root == "CTfile" => {}
        Ok(Some(_)) => return whole(text, "the root element is not `CTfile`: not a CTF file"),
        Ok(None) => return whole(text, "the file is not XML"),
        Err(e) => return whole(text, &format!("the file is not XML: {e}")),
    }
    let mut header: Option<Header> = None;
    loop {
        let (name, at) = match w.next_child() {
            Ok(Child::Start { name, at }) => (name, at),
            Ok(Child::End) => break,
            Err(e) => return broken(out, &w, &e, e.at, header.is_some()),
        };
        let read = match name.as_str() {
            "Header" => w.element().map(|e| match Header::read(&e) {
                Ok(h) => {
                    header = Some(h);
                    None
                }
                Err(reason) => Some(reason),
            }),
            "CTFpupilData" => match &header {
                Some(h) => match pupils(&mut w, h, &mut out) {
                    Ok(()) => Ok(None),
                    Err((e, from)) => return broken(out, &w, &e, from, true),
                },
                None => Ok(Some("`CTFpupilData` comes before `Header`".to_owned())),
            },
            _ => w.skip().map(|()| None),
        };
        match read {
            Ok(None) => {}
            Ok(Some(reason)) => return whole(text, &reason),
            Err(e) => {
                return broken(out, &w, &e, at, header.is_some());
            }
        }
    }
    if header.is_none() {
        return whole(text, "`Header` is missing");
    }
    out
}

/// The whole document as one reject.
fn whole(text: &str, reason: &str) -> Parsed {
    Parsed {
        records: Vec::new(),
        rejected: vec![Rejected {
            source_key: None,
            reason: reason.to_owned(),
            raw: text.to_owned(),
        }],
    }
}

/// XML that broke part-way: the pupils read so far stand, the rest (from the start of the
/// element that broke, `from`) is one reject. Before the header was read nothing stands.
fn broken(mut out: Parsed, w: &Walker<'_>, e: &XmlError, from: usize, started: bool) -> Parsed {
    if !started {
        return whole(w.text(), &format!("the file cannot be read: {e}"));
    }
    out.rejected.push(Rejected {
        source_key: None,
        reason: format!("{e}; the rest of the file cannot be read"),
        raw: w.rest(from).to_owned(),
    });
    out
}

/// Reads the children of `CTFpupilData`. On broken XML, says where and from where the rest
/// of the file is unread.
fn pupils(w: &mut Walker<'_>, h: &Header, out: &mut Parsed) -> Result<(), (XmlError, usize)> {
    loop {
        match w.next_child().map_err(|e| (e.clone(), e.at))? {
            Child::End => return Ok(()),
            Child::Start { name, at } if name == "Pupil" => {
                let e = w.element().map_err(|e| (e, at))?;
                pupil(w.text(), &e, h, out);
            }
            Child::Start { at, .. } => w.skip().map_err(|e| (e, at))?,
        }
    }
}

/// Keys made unique within one record: a second fact with the same key gets `#2`.
#[derive(Default)]
struct Keys(HashMap<String, usize>);

impl Keys {
    fn unique(&mut self, key: String) -> String {
        let n = self.0.entry(key.clone()).or_insert(0);
        *n += 1;
        if *n == 1 { key } else { format!("{key}#{n}") }
    }
}

/// A required text, or a reason naming it.
fn required<'e>(e: &'e Element, path: &str, label: &str) -> Result<&'e str, String> {
    e.text_at(path)
        .ok_or_else(|| format!("`{label}` is missing"))
}

/// An optional date, or a reason naming it.
fn opt_date(e: &Element, path: &str, label: &str) -> Result<Option<NaiveDate>, String> {
    e.text_at(path)
        .map(|s| ctf::date(s).ok_or_else(|| format!("`{label}` is not a date")))
        .transpose()
}

/// A required date, or a reason naming it.
fn required_date(e: &Element, path: &str, label: &str) -> Result<NaiveDate, String> {
    opt_date(e, path, label)?.ok_or_else(|| format!("`{label}` is missing"))
}

/// An optional whole number, or a reason naming it.
fn opt_count(e: &Element, path: &str, label: &str) -> Result<Option<u32>, String> {
    e.text_at(path)
        .map(|s| {
            s.parse::<u32>()
                .map_err(|_| format!("`{label}` is not a whole number"))
        })
        .transpose()
}

/// An optional boolean, or a reason naming it.
fn opt_bool(e: &Element, path: &str, label: &str) -> Result<Option<bool>, String> {
    e.text_at(path)
        .map(|s| ctf::boolean(s).ok_or_else(|| format!("`{label}` is not true or false")))
        .transpose()
}

/// A validated UPN, or a reason naming the element.
fn upn(value: &str, label: &str) -> Result<Upn, String> {
    value.parse::<Upn>().map_err(|e| match e {
        IdentifierError::CheckFailed(_) => format!("`{label}` fails its check letter"),
        IdentifierError::Malformed(_) => format!("`{label}` is not a well-formed UPN"),
    })
}

/// A sex code at `Sex` (newer files) or `Gender`, or a reason naming the element.
fn sex(e: &Element, prefix: &str) -> Result<Option<String>, String> {
    for element in ["Sex", "Gender"] {
        if let Some(code) = e.text_at(element) {
            return ctf::sex(code)
                .map(|s| Some(s.to_owned()))
                .ok_or_else(|| format!("`{prefix}{element}` is not a known code"));
        }
    }
    Ok(None)
}

/// An `Address` element as an envelope address: `SAON` as line 1 when there is one, else
/// `PAON` and `Street`.
fn address(a: &Element) -> Option<SourceAddress> {
    let bs = a.child("BS7666Address");
    let get = |name: &str| {
        bs.and_then(|b| b.text_at(name))
            .or_else(|| a.text_at(name))
            .map(str::to_owned)
    };
    let main = [get("PAON"), get("Street")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let (line1, line2) = match get("SAON") {
        Some(saon) => (saon, Some(main).filter(|m| !m.is_empty())),
        None => (main, get("Locality")),
    };
    let town = get("Town").or_else(|| get("PostTown")).unwrap_or_default();
    let postcode = get("PostCode").unwrap_or_default();
    if line1.is_empty() && town.is_empty() && postcode.is_empty() {
        return None;
    }
    Some(SourceAddress {
        line1,
        line2,
        town,
        postcode,
        uprn: get("UniquePropertyReferenceNumber"),
        usage: "home".to_owned(),
        valid_from: None,
        valid_to: None,
    })
}

/// The bytes of an element of `text`.
fn raw(text: &str, e: &Element) -> String {
    text.get(e.span.clone()).unwrap_or_default().to_owned()
}

/// Reads one `Pupil` of the document `text` into `out`: its record and its contacts', or
/// rejects.
fn pupil(text: &str, e: &Element, h: &Header, out: &mut Parsed) {
    let key = e
        .text_at("UPN")
        .and_then(|u| u.parse::<Upn>().ok())
        .map(|u| format!("ctf:{}:{u}", h.laestab));
    match read_pupil(text, e, h) {
        Ok((record, contacts)) => {
            out.records.push(record);
            for contact in contacts {
                match contact {
                    Ok(c) => out.records.push(c),
                    Err(r) => out.rejected.push(r),
                }
            }
        }
        Err(reason) => out.rejected.push(Rejected {
            source_key: key,
            reason,
            raw: raw(text, e),
        }),
    }
}

type Contacts = Vec<Result<SourceRecord, Rejected>>;

fn read_pupil(text: &str, e: &Element, h: &Header) -> Result<(SourceRecord, Contacts), String> {
    let upn = upn(e.text_at("UPN").ok_or("`UPN` is missing")?, "UPN")?;
    let key = format!("ctf:{}:{upn}", h.laestab);
    let surname = required(e, "Surname", "Surname")?;
    let forename = required(e, "Forename", "Forename")?;
    let dob = required_date(e, "DOB", "DOB")?;
    let sex = sex(e, "")?;

    let mut names = vec![SourceName {
        given: forename.to_owned(),
        family: surname.to_owned(),
        usage: "official".to_owned(),
    }];
    let preferred = |name: &str| {
        e.text_at(&format!("BasicDetails/{name}"))
            .or_else(|| e.text_at(name))
    };
    let (pf, ps) = (
        preferred("PreferredForename"),
        preferred("PreferredSurname"),
    );
    if pf.is_some() || ps.is_some() {
        let usual = SourceName {
            given: pf.unwrap_or(forename).to_owned(),
            family: ps.unwrap_or(surname).to_owned(),
            usage: "usual".to_owned(),
        };
        if (usual.given.as_str(), usual.family.as_str()) != (forename, surname) {
            names.push(usual);
        }
    }

    let mut identifiers = vec![SourceIdentifier {
        system: "upn".to_owned(),
        value: upn.to_string(),
        verified: true,
    }];
    let former = e
        .text_at("BasicDetails/FormerUPN")
        .map(|v| ("BasicDetails/FormerUPN", v))
        .or_else(|| e.text_at("FormerUPN").map(|v| ("FormerUPN", v)));
    if let Some((label, value)) = former {
        identifiers.push(SourceIdentifier {
            system: "former_upn".to_owned(),
            value: self::upn(value, label)?.to_string(),
            verified: false,
        });
    }

    let home = e.child("Address").and_then(address);
    let mut facts = Vec::new();
    let mut keys = Keys::default();
    let entry = enrolments(e, h, &mut facts, &mut keys)?;
    attendance(e, h, &mut facts, &mut keys)?;
    fsm(e, &mut facts, &mut keys)?;
    sen(e, &mut facts, &mut keys)?;
    exclusions(e, &mut facts, &mut keys)?;
    if let Some(code) = e.text_at("BasicDetails/Ethnicity")
        && let Some(when) = entry.map(ctf::start_of).or(h.date_time)
    {
        facts.push(fact(
            kinds::ETHNICITY,
            keys.unique("ethnicity".into()),
            when,
            format!("Ethnicity recorded as {code}"),
            json!({ "Ethnicity": code }),
        ));
    }

    let (relationships, contacts) = contacts(text, e, h, &key, home.as_ref());
    let record = SourceRecord {
        source_key: key,
        organisation: format!("school:{}", h.laestab),
        subject: None,
        identity: Identity {
            names,
            date_of_birth: Some(dob),
            sex,
            identifiers,
            addresses: home.into_iter().collect(),
            relationships,
        },
        facts,
        raw: raw(text, e),
    };
    Ok((record, contacts))
}

fn fact(
    (category, kind): (&str, &str),
    key: String,
    occurred_at: DateTime<Utc>,
    summary: String,
    payload: Value,
) -> SourceFact {
    SourceFact {
        key,
        category: category.to_owned(),
        agency: None,
        kind: kind.to_owned(),
        occurred_at,
        summary,
        payload,
    }
}

/// The pupil's contacts, and the relationships the pupil declares to them. A contact that
/// cannot be read is rejected alone, and the pupil declares nothing to it.
fn contacts(
    text: &str,
    e: &Element,
    h: &Header,
    pupil_key: &str,
    home: Option<&SourceAddress>,
) -> (Vec<SourceRelationship>, Contacts) {
    let mut relationships = Vec::new();
    let mut out = Vec::new();
    let mut keys = Keys::default();
    let Some(list) = e.child("Contacts") else {
        return (relationships, out);
    };
    for (i, c) in list.children_named("Contact").enumerate() {
        let order = c
            .text_at("Order")
            .and_then(|o| o.parse::<u32>().ok())
            .unwrap_or_else(|| u32::try_from(i + 1).unwrap_or(u32::MAX));
        let key = keys.unique(format!("{pupil_key}:contact:{order}"));
        match read_contact(c, h, pupil_key, &key, home) {
            Ok((mut record, declared)) => {
                record.raw = raw(text, c);
                if let Some(r) = declared {
                    relationships.push(r);
                }
                out.push(Ok(record));
            }
            Err(reason) => out.push(Err(Rejected {
                source_key: Some(key),
                reason,
                raw: raw(text, c),
            })),
        }
    }
    (relationships, out)
}

/// One contact's record, and the relationship the pupil declares to it when it is family.
fn read_contact(
    c: &Element,
    h: &Header,
    pupil_key: &str,
    key: &str,
    home: Option<&SourceAddress>,
) -> Result<(SourceRecord, Option<SourceRelationship>), String> {
    let surname = required(c, "Surname", "Contacts/Contact/Surname")?;
    let forename = required(c, "Forename", "Contacts/Contact/Forename")?;
    let sex = sex(c, "Contacts/Contact/")?;
    let responsibility = opt_bool(c, "Responsibility", "Contacts/Contact/Responsibility")?;
    let as_pupil = opt_bool(c, "AddressAsPupil", "Contacts/Contact/AddressAsPupil")?;
    let address = match as_pupil {
        Some(true) => home.cloned(),
        _ => c.child("Address").and_then(address),
    };
    let kind = c.text_at("Relationship").and_then(ctf::relationship_kind);
    let identity = Identity {
        names: vec![SourceName {
            given: forename.to_owned(),
            family: surname.to_owned(),
            usage: "official".to_owned(),
        }],
        date_of_birth: None,
        sex,
        identifiers: Vec::new(),
        addresses: address.into_iter().collect(),
        relationships: kind
            .map(|_| SourceRelationship {
                related_key: pupil_key.to_owned(),
                kind: "child".to_owned(),
                parental_responsibility: None,
            })
            .into_iter()
            .collect(),
    };
    let record = SourceRecord {
        source_key: key.to_owned(),
        organisation: format!("school:{}", h.laestab),
        subject: None,
        identity,
        facts: Vec::new(),
        raw: String::new(),
    };
    let declared = kind.map(|kind| SourceRelationship {
        related_key: key.to_owned(),
        kind: kind.to_owned(),
        parental_responsibility: responsibility,
    });
    Ok((record, declared))
}

/// `SchoolHistory/School` entries as enrolment facts. Returns the entry date at the source
/// school, which dates what CTF leaves undated.
fn enrolments(
    e: &Element,
    h: &Header,
    facts: &mut Vec<SourceFact>,
    keys: &mut Keys,
) -> Result<Option<NaiveDate>, String> {
    const P: &str = "SchoolHistory/School";
    let nc = e.text_at("BasicDetails/NCyearActual");
    let status = e.text_at("BasicDetails/EnrolStatus");
    let in_care = opt_bool(e, "LookedAfter/InCare", "LookedAfter/InCare")?;
    let authority = e.text_at("LookedAfter/CareAuthority");

    struct Entry<'e> {
        laestab: String,
        name: Option<&'e str>,
        entry: NaiveDate,
        leaving: Option<NaiveDate>,
        reason: Option<&'e str>,
    }
    let mut entries = Vec::new();
    if let Some(history) = e.child("SchoolHistory") {
        for s in history.children_named("School") {
            let lea = required(s, "LEA", &format!("{P}/LEA"))?;
            let estab = required(s, "Estab", &format!("{P}/Estab"))?;
            entries.push(Entry {
                laestab: format!("{lea}{estab}"),
                name: s.text_at("SchoolName"),
                entry: required_date(s, "EntryDate", &format!("{P}/EntryDate"))?,
                leaving: opt_date(s, "LeavingDate", &format!("{P}/LeavingDate"))?,
                reason: s.text_at("LeavingReason"),
            });
        }
    }
    // The source school's own entry carries what `BasicDetails` and `LookedAfter` say: the
    // open one if the pupil is on roll, else the latest.
    let own = entries
        .iter()
        .enumerate()
        .filter(|(_, s)| s.laestab == h.laestab)
        .max_by_key(|(_, s)| (s.leaving.is_none(), s.entry))
        .map(|(i, _)| i);

    let mut add = |laestab: &str,
                   name: Option<&str>,
                   entry: Option<NaiveDate>,
                   leaving: Option<(NaiveDate, Option<&str>)>,
                   own: bool,
                   when: DateTime<Utc>| {
        let mut p = Map::new();
        p.insert("LAESTAB".into(), json!(laestab));
        if let Some(d) = entry {
            p.insert("EntryDate".into(), json!(ctf::iso(d)));
        }
        if let Some((d, reason)) = leaving {
            p.insert("LeavingDate".into(), json!(ctf::iso(d)));
            if let Some(r) = reason {
                p.insert("LeavingReason".into(), json!(r));
            }
        }
        let mut notes = String::new();
        if own {
            if let Some(nc) = nc {
                p.insert("NCyearActual".into(), json!(nc));
            }
            if let Some(s) = status {
                p.insert("EnrolStatus".into(), json!(s));
            }
            if let Some(c) = in_care {
                p.insert("InCare".into(), json!(c));
                if c {
                    notes.push_str("; looked after");
                }
            }
            if let Some(a) = authority {
                p.insert("CareAuthority".into(), json!(a));
            }
            if leaving.is_some() && h.destination_unknown {
                p.insert("DestinationUnknown".into(), json!(true));
                notes.push_str("; destination unknown (possible child missing education)");
            }
        }
        let name = name
            .or(if laestab == h.laestab {
                h.school_name.as_deref()
            } else {
                None
            })
            .map_or_else(|| format!("school {laestab}"), str::to_owned);
        let summary = match (entry, leaving) {
            (Some(from), Some((to, _))) => format!(
                "Was on roll at {name} from {}; left {}{notes}",
                ctf::month_year(from),
                ctf::month_year(to)
            ),
            (Some(from), None) => {
                let year = nc.filter(|_| own).map(ctf::nc_year);
                match year {
                    Some(y) => format!(
                        "On roll at {name}, {y} (joined {}){notes}",
                        ctf::month_year(from)
                    ),
                    None => format!(
                        "On roll at {name} (joined {}){notes}",
                        ctf::month_year(from)
                    ),
                }
            }
            (None, _) => {
                let year = nc
                    .map(|n| format!(", {}", ctf::nc_year(n)))
                    .unwrap_or_default();
                format!("On roll at {name}{year}{notes}")
            }
        };
        let key = format!(
            "enrolment:{laestab}:{}",
            entry.map_or_else(|| "current".to_owned(), ctf::iso)
        );
        facts.push(fact(
            kinds::ENROLMENT,
            keys.unique(key),
            when,
            summary,
            Value::Object(p),
        ));
    };

    for (i, s) in entries.iter().enumerate() {
        add(
            &s.laestab,
            s.name,
            Some(s.entry),
            s.leaving.map(|d| (d, s.reason)),
            own == Some(i),
            ctf::start_of(s.entry),
        );
    }
    if own.is_none()
        && (nc.is_some() || status.is_some() || in_care.is_some())
        && let Some(when) = h.date_time
    {
        // No history entry for the sending school: what it says about the pupil now is
        // dated by the file.
        add(&h.laestab, None, None, None, true, when);
    }
    Ok(own.and_then(|i| entries.get(i)).map(|s| s.entry))
}

/// `Attendance/YearData` as attendance summaries.
fn attendance(
    e: &Element,
    h: &Header,
    facts: &mut Vec<SourceFact>,
    keys: &mut Keys,
) -> Result<(), String> {
    const P: &str = "Attendance/YearData";
    let Some(list) = e.child("Attendance") else {
        return Ok(());
    };
    for y in list.children_named("YearData") {
        let year: i32 = required(y, "Year", &format!("{P}/Year"))?
            .parse()
            .ok()
            .filter(|y| (1900..=2999).contains(y))
            .ok_or_else(|| format!("`{P}/Year` is not a year"))?;
        let laestab = match (y.text_at("LEA"), y.text_at("Estab")) {
            (Some(lea), Some(estab)) => format!("{lea}{estab}"),
            _ => h.laestab.clone(),
        };
        let count = |name: &str| opt_count(y, name, &format!("{P}/{name}"));
        let possible = count("SessionsPossible")?
            .ok_or_else(|| format!("`{P}/SessionsPossible` is missing"))?;
        let attended = count("SessionsAttended")?
            .ok_or_else(|| format!("`{P}/SessionsAttended` is missing"))?;
        if attended > possible {
            return Err(format!(
                "`{P}/SessionsAttended` is more than `{P}/SessionsPossible`"
            ));
        }
        let authorised = count("SessionsAuthorised")?;
        let unauthorised = count("SessionsUnauthorised")?;
        let start = opt_date(
            y,
            "AttendanceStartDate",
            &format!("{P}/AttendanceStartDate"),
        )?;
        let marks = y.text_at("AttendanceMarks");

        let year_end = NaiveDate::from_ymd_opt(year + 1, 7, 31)
            .ok_or_else(|| format!("`{P}/Year` is not a year"))?;
        let (end, term) = match (start, marks) {
            (Some(start), Some(marks)) => {
                let days = i64::try_from(marks.chars().count().div_ceil(2)).unwrap_or(0);
                let end = start + TimeDelta::days((days - 1).max(0));
                let term = (days <= ctf::TERM_DAYS).then(|| ctf::term(end));
                (end, term)
            }
            // A whole year's figures: as of the file when it was sent during that year.
            _ => {
                let sent = h.date_time.map(|t| t.date_naive());
                let end = sent
                    .filter(|d| ctf::academic_year_of(*d) == year && *d < year_end)
                    .unwrap_or(year_end);
                (end, None)
            }
        };
        let percent = if possible > 0 {
            (1000.0 * f64::from(attended) / f64::from(possible)).round() / 10.0
        } else {
            100.0
        };
        let mut p = Map::new();
        if let Some((code, _)) = term {
            p.insert("Term".into(), json!(code));
        }
        let academic_year = ctf::academic_year(year);
        p.insert("AcademicYear".into(), json!(academic_year));
        p.insert("LAESTAB".into(), json!(laestab));
        p.insert("SessionsPossible".into(), json!(possible));
        p.insert("SessionsAttended".into(), json!(attended));
        p.insert("SessionsAuthorised".into(), json!(authorised));
        p.insert("SessionsUnauthorised".into(), json!(unauthorised));
        p.insert("AttendancePercent".into(), json!(percent));
        p.insert("PersistentAbsence".into(), json!(percent < 90.0));
        if let Some(s) = start {
            p.insert("AttendanceStartDate".into(), json!(ctf::iso(s)));
        }
        if let Some(m) = marks {
            let excluded = m.chars().filter(|c| *c == ctf::EXCLUDED_MARK).count();
            p.insert("ExclusionMarks".into(), json!(excluded));
        }
        let period = match term {
            Some((_, name)) => format!("{name} term {}", end.year()),
            None => academic_year,
        };
        let unauthorised =
            unauthorised.map_or_else(String::new, |u| format!(", {u} unauthorised absences"));
        let summary = format!(
            "{period}: attendance {percent:.1}% ({possible} sessions possible{unauthorised})"
        );
        let key = format!(
            "attendance:{laestab}:{year}:{}",
            start.map_or_else(|| "year".to_owned(), ctf::iso)
        );
        facts.push(fact(
            kinds::ATTENDANCE,
            keys.unique(key),
            ctf::start_of(end),
            summary,
            Value::Object(p),
        ));
    }
    Ok(())
}

/// `FSMhistory/FSMinstance` as FSM periods.
fn fsm(e: &Element, facts: &mut Vec<SourceFact>, keys: &mut Keys) -> Result<(), String> {
    const P: &str = "FSMhistory/FSMinstance";
    let Some(list) = e.child("FSMhistory") else {
        return Ok(());
    };
    for f in list.children_named("FSMinstance") {
        let start = required_date(f, "FSMstartDate", &format!("{P}/FSMstartDate"))?;
        let end = opt_date(f, "FSMendDate", &format!("{P}/FSMendDate"))?;
        let mut p = Map::new();
        p.insert("FSMstartDate".into(), json!(ctf::iso(start)));
        p.insert("FSMendDate".into(), json!(end.map(ctf::iso)));
        if let Some(country) = f.text_at("UKCountry") {
            p.insert("UKCountry".into(), json!(country));
        }
        let summary = match end {
            Some(end) => format!(
                "Eligible for free school meals from {} to {}",
                ctf::long_date(start),
                ctf::long_date(end)
            ),
            None => format!(
                "Eligible for free school meals since {}",
                ctf::long_date(start)
            ),
        };
        facts.push(fact(
            kinds::FSM,
            keys.unique(format!("fsm:{}", ctf::iso(start))),
            ctf::start_of(start),
            summary,
            Value::Object(p),
        ));
    }
    Ok(())
}

/// `SENhistory/SEN` as SEN provision; the needs (`SENneeds/SENneed`) go with the latest.
fn sen(e: &Element, facts: &mut Vec<SourceFact>, keys: &mut Keys) -> Result<(), String> {
    const P: &str = "SENhistory";
    let Some(history) = e.child("SENhistory") else {
        return Ok(());
    };
    let mut needs = Vec::new();
    if let Some(list) = history.child("SENneeds").or_else(|| e.child("SENneeds")) {
        for n in list.children_named("SENneed") {
            let code = required(n, "SENtype", &format!("{P}/SENneeds/SENneed/SENtype"))?;
            let rank = opt_count(
                n,
                "SENtypeRank",
                &format!("{P}/SENneeds/SENneed/SENtypeRank"),
            )?;
            needs.push((rank.unwrap_or(u32::MAX), code));
        }
    }
    needs.sort_by_key(|(rank, _)| *rank);
    let mut provisions = Vec::new();
    for s in history.children_named("SEN") {
        let start = required_date(s, "StartDate", &format!("{P}/SEN/StartDate"))?;
        let provision = required(s, "SENprovision", &format!("{P}/SEN/SENprovision"))?;
        provisions.push((start, provision));
    }
    let latest = provisions.iter().map(|(d, _)| *d).max();
    for (start, provision) in provisions {
        let own: Vec<&(u32, &str)> = if Some(start) == latest {
            needs.iter().collect()
        } else {
            Vec::new()
        };
        let list: Vec<Value> = own
            .iter()
            .map(|(rank, code)| {
                let rank = (*rank != u32::MAX).then_some(*rank);
                json!({ "SENtype": code, "SENtypeRank": rank })
            })
            .collect();
        let mut summary = ctf::sen_provision(provision);
        if let Some((_, code)) = own.first() {
            summary.push_str(&format!(": primary need {}", ctf::sen_type(code)));
        }
        facts.push(fact(
            kinds::SEN,
            keys.unique(format!("sen:{}", ctf::iso(start))),
            ctf::start_of(start),
            summary,
            json!({ "SENprovision": provision, "StartDate": ctf::iso(start), "SENneeds": list }),
        ));
    }
    Ok(())
}

/// `Exclusions/Exclusion`, the Kinship extension, as exclusions and suspensions.
fn exclusions(e: &Element, facts: &mut Vec<SourceFact>, keys: &mut Keys) -> Result<(), String> {
    const P: &str = "Exclusions/Exclusion";
    let Some(list) = e.child("Exclusions") else {
        return Ok(());
    };
    for x in list.children_named("Exclusion") {
        let start = required_date(x, "StartDate", &format!("{P}/StartDate"))?;
        let category = required(x, "Category", &format!("{P}/Category"))?;
        let sessions = opt_count(x, "Sessions", &format!("{P}/Sessions"))?;
        let reason = x.text_at("Reason");
        let why = reason
            .map(|r| format!(": {}", ctf::exclusion_reason(r)))
            .unwrap_or_default();
        let summary = match (ctf::is_permanent(category), sessions) {
            (true, _) => format!("Permanently excluded{why}"),
            (false, Some(n)) => format!("Suspended for {n} sessions{why}"),
            (false, None) => format!("Suspended{why}"),
        };
        facts.push(fact(
            kinds::EXCLUSION,
            keys.unique(format!("exclusion:{}", ctf::iso(start))),
            ctf::start_of(start),
            summary,
            json!({
                "Category": category,
                "StartDate": ctf::iso(start),
                "Sessions": sessions,
                "Reason": reason,
            }),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = include_str!("../tests/fixtures/0001_9992001_CTF_9994001.xml");
    const NOT_XML: &str = include_str!("../tests/fixtures/0002_9992003_CTF_9994001.xml");
    const LEAVERS: &str = include_str!("../tests/fixtures/0003_9994001_CTF_MMMMMMM.xml");
    const MALFORMED: &str = include_str!("../tests/fixtures/0004_9992002_CTF_9992001.xml");

    fn record<'a>(p: &'a Parsed, key: &str) -> &'a SourceRecord {
        p.records
            .iter()
            .find(|r| r.source_key == key)
            .unwrap_or_else(|| panic!("no record {key}"))
    }

    fn facts<'a>(r: &'a SourceRecord, kind: &str) -> Vec<&'a SourceFact> {
        r.facts.iter().filter(|f| f.kind == kind).collect()
    }

    fn doc(header: &str, pupils: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CTfile><Header><CTFversion>22.0</CTFversion>\
             <DateTime>2025-01-10T09:00:00</DateTime>{header}</Header>\
             <CTFpupilData>{pupils}</CTFpupilData></CTfile>"
        )
    }

    const SOURCE: &str = "<SourceSchool><LEA>999</LEA><Estab>2001</Estab></SourceSchool>";

    #[test]
    fn a_pupil_becomes_one_record_keyed_by_school_and_upn() {
        let p = document(GOOD);
        assert!(p.rejected.is_empty(), "{:?}", p.rejected);
        let r = record(&p, "ctf:9992001:D999200118007");
        assert_eq!(r.organisation, "school:9992001");
        let id = &r.identity;
        assert_eq!(id.date_of_birth, ctf::date("2014-03-14"));
        assert_eq!(id.sex.as_deref(), Some("female"));
        let official = id
            .names
            .iter()
            .find(|n| n.usage == "official")
            .expect("official");
        assert_eq!(
            (official.given.as_str(), official.family.as_str()),
            ("Olivia", "Pemberton")
        );
        let usual = id.names.iter().find(|n| n.usage == "usual").expect("usual");
        assert_eq!(usual.given, "Liv");
        let systems: Vec<(&str, &str)> = id
            .identifiers
            .iter()
            .map(|i| (i.system.as_str(), i.value.as_str()))
            .collect();
        assert_eq!(
            systems,
            vec![("upn", "D999200118007"), ("former_upn", "Q99920012001A")]
        );
        let home = &id.addresses[0];
        assert_eq!(home.line1, "14 Larkspur Close");
        assert_eq!(home.town, "Anytown");
        assert_eq!(home.postcode, "AT1 4QX");
        assert_eq!(home.uprn.as_deref(), Some("100090001234"));
        assert!(r.raw.starts_with("<Pupil>") && r.raw.ends_with("</Pupil>"));
        assert!(r.raw.contains("D999200118007"));
    }

    #[test]
    fn the_gender_element_of_older_files_and_flats_are_read() {
        let p = document(GOOD);
        let r = record(&p, "ctf:9992001:H999200119003");
        assert_eq!(r.identity.sex.as_deref(), Some("male"));
        let home = &r.identity.addresses[0];
        assert_eq!(home.line1, "Flat 3");
        assert_eq!(home.line2.as_deref(), Some("27 Mill Lane"));
    }

    #[test]
    fn contacts_are_records_related_to_the_pupil_both_ways() {
        let p = document(GOOD);
        let pupil = record(&p, "ctf:9992001:D999200118007");
        let mother = record(&p, "ctf:9992001:D999200118007:contact:1");
        let step = record(&p, "ctf:9992001:D999200118007:contact:2");
        let gran = record(&p, "ctf:9992001:D999200118007:contact:3");
        assert_eq!(mother.identity.names[0].family, "Pemberton");
        assert_eq!(
            mother.identity.addresses, pupil.identity.addresses,
            "AddressAsPupil"
        );
        assert_eq!(step.identity.addresses[0].postcode, "AT2 7LP");
        assert_eq!(
            mother.identity.relationships[0].related_key,
            pupil.source_key
        );
        assert_eq!(mother.identity.relationships[0].kind, "child");
        let declared: Vec<(&str, &str, Option<bool>)> = pupil
            .identity
            .relationships
            .iter()
            .map(|r| {
                (
                    r.related_key.as_str(),
                    r.kind.as_str(),
                    r.parental_responsibility,
                )
            })
            .collect();
        assert_eq!(
            declared,
            vec![
                (mother.source_key.as_str(), "parent", Some(true)),
                (step.source_key.as_str(), "carer", Some(false)),
            ]
        );
        assert!(
            gran.identity.relationships.is_empty(),
            "a relative is not declared family"
        );
        assert!(mother.raw.starts_with("<Contact>") && mother.raw.ends_with("</Contact>"));
        assert!(mother.facts.is_empty() && mother.identity.date_of_birth.is_none());
    }

    #[test]
    fn enrolment_carries_the_school_history_nc_year_and_looked_after_status() {
        let p = document(GOOD);
        let r = record(&p, "ctf:9992001:H999200119003");
        let e = facts(r, "enrolment");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].category, "education.enrolment");
        assert_eq!(
            e[0].occurred_at,
            ctf::start_of(ctf::date("2019-09-03").expect("d"))
        );
        assert_eq!(e[0].payload["NCyearActual"], "5");
        assert_eq!(e[0].payload["InCare"], true);
        assert_eq!(e[0].payload["CareAuthority"], "999");
        assert!(e[0].summary.contains("Year 5") && e[0].summary.contains("looked after"));
        assert!(!e[0].summary.contains("Mason"));
    }

    #[test]
    fn attendance_reads_sessions_the_term_and_exclusion_marks() {
        let p = document(GOOD);
        let r = record(&p, "ctf:9992001:D999200118007");
        let a = facts(r, "attendance_summary");
        assert_eq!(a.len(), 2);
        let autumn = a
            .iter()
            .find(|f| f.payload["Term"] == "AUT")
            .expect("autumn term");
        assert_eq!(autumn.payload["AcademicYear"], "2024/25");
        assert_eq!(autumn.payload["SessionsPossible"], 20);
        assert_eq!(autumn.payload["SessionsAttended"], 17);
        assert_eq!(autumn.payload["AttendancePercent"], 85.0);
        assert_eq!(autumn.payload["PersistentAbsence"], true);
        assert_eq!(autumn.payload["ExclusionMarks"], 2);
        assert_eq!(
            autumn.occurred_at,
            ctf::start_of(ctf::date("2024-12-13").expect("d"))
        );
        let year = a
            .iter()
            .find(|f| f.payload.get("Term").is_none())
            .expect("year");
        assert_eq!(year.payload["AcademicYear"], "2023/24");
    }

    #[test]
    fn fsm_sen_exclusions_and_ethnicity_become_facts() {
        let p = document(GOOD);
        let r = record(&p, "ctf:9992001:D999200118007");
        let fsm = facts(r, "fsm_period");
        assert_eq!(fsm.len(), 2);
        assert!(fsm.iter().any(|f| f.payload["FSMendDate"].is_null()));
        let sen = facts(r, "sen_provision");
        assert_eq!(sen.len(), 1);
        assert_eq!(sen[0].payload["SENprovision"], "K");
        assert_eq!(sen[0].payload["SENneeds"][0]["SENtype"], "SEMH");
        assert_eq!(sen[0].payload["SENneeds"][0]["SENtypeRank"], 1);
        let ex = facts(r, "exclusion");
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].category, "education.exclusions");
        assert_eq!(ex[0].payload["Sessions"], 2);
        assert_eq!(
            ex[0].summary,
            "Suspended for 2 sessions: persistent disruptive behaviour"
        );
        let eth = facts(r, "ethnicity");
        assert_eq!(eth[0].category, "person.ethnicity");
        assert_eq!(eth[0].payload["Ethnicity"], "WBRI");
    }

    #[test]
    fn a_leaver_to_an_unknown_destination_is_a_cme_signal() {
        let p = document(LEAVERS);
        assert!(p.rejected.is_empty(), "{:?}", p.rejected);
        let r = record(&p, "ctf:9994001:N999200114009");
        let e = facts(r, "enrolment");
        let own = e
            .iter()
            .find(|f| f.payload["LAESTAB"] == "9994001")
            .expect("own entry");
        assert_eq!(own.payload["DestinationUnknown"], true);
        assert_eq!(own.payload["LeavingReason"], "UNK");
        assert!(own.summary.contains("missing education"));
        let earlier = e
            .iter()
            .find(|f| f.payload["LAESTAB"] == "9992001")
            .expect("primary entry");
        assert!(earlier.payload.get("DestinationUnknown").is_none());
        assert_eq!(
            r.identity.sex.as_deref(),
            Some("male"),
            "the newer Sex element"
        );
        let pe = facts(r, "exclusion");
        assert_eq!(pe[0].payload["Category"], "PERM");
        assert!(pe[0].payload["Sessions"].is_null());
    }

    #[test]
    fn malformed_pupils_are_rejected_by_field_and_the_rest_delivered() {
        let p = document(MALFORMED);
        let reasons: Vec<&str> = p.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert!(
            reasons.contains(&"`UPN` fails its check letter"),
            "{reasons:?}"
        );
        assert!(reasons.contains(&"`DOB` is not a date"), "{reasons:?}");
        assert!(reasons.contains(&"`Surname` is missing"), "{reasons:?}");
        assert!(
            reasons.contains(&"`Contacts/Contact/Surname` is missing"),
            "{reasons:?}"
        );
        for r in &p.rejected {
            assert!(r.raw.starts_with("<Pupil>") || r.raw.starts_with("<Contact>"));
            assert!(!r.reason.contains("999"), "no values in reasons");
        }
        let keys: Vec<&str> = p.records.iter().map(|r| r.source_key.as_str()).collect();
        assert!(keys.contains(&"ctf:9992002:N999200220011"), "{keys:?}");
        let bad_upn = p
            .rejected
            .iter()
            .find(|r| r.reason.contains("check letter"))
            .expect("bad UPN");
        assert_eq!(bad_upn.source_key, None, "an invalid UPN makes no key");
    }

    #[test]
    fn a_byte_order_mark_before_the_declaration_is_ignored() {
        let p = document(&format!("\u{feff}{GOOD}"));
        assert!(p.rejected.is_empty());
        assert_eq!(p.records.len(), 9);
    }

    #[test]
    fn a_file_that_is_not_xml_is_one_reject_with_the_whole_file() {
        let p = document(NOT_XML);
        assert!(p.records.is_empty());
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0].reason, "the file is not XML");
        assert_eq!(p.rejected[0].raw, NOT_XML);
        let other = document("<Message><Header/></Message>");
        assert!(other.rejected[0].reason.contains("`CTfile`"));
    }

    #[test]
    fn xml_broken_part_way_keeps_the_pupils_before_it() {
        let good = "<Pupil><UPN>X999200116001</UPN><Surname>A</Surname><Forename>B</Forename><DOB>2011-05-14</DOB></Pupil>";
        let text = doc(
            SOURCE,
            &format!("{good}<Pupil><UPN>L999200116002</Surname></Pupil>"),
        );
        let p = document(&text);
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.rejected.len(), 1);
        assert!(p.rejected[0].reason.contains("not well formed"));
        assert!(p.rejected[0].raw.starts_with("<Pupil><UPN>L999"));
    }

    #[test]
    fn a_header_without_a_source_school_rejects_the_file() {
        let p = document(&doc("<SourceSchool><LEA>999</LEA></SourceSchool>", ""));
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(
            p.rejected[0].reason,
            "`Header/SourceSchool/Estab` is missing"
        );
        let p = document(&doc(
            "<SourceSchool><LEA>AB</LEA><Estab>2001</Estab></SourceSchool>",
            "",
        ));
        assert!(p.rejected[0].reason.contains("LEA"));
    }

    #[test]
    fn wrong_types_are_rejected_naming_the_element() {
        let cases = [
            ("<UPN>X99920011600</UPN>", "`UPN` is not a well-formed UPN"),
            ("", "`UPN` is missing"),
            (
                "<UPN>X999200116001</UPN><Gender>Q</Gender>",
                "`Gender` is not a known code",
            ),
            (
                "<UPN>X999200116001</UPN><BasicDetails><FormerUPN>A801200005001</FormerUPN></BasicDetails>",
                "`BasicDetails/FormerUPN` fails its check letter",
            ),
            (
                "<UPN>X999200116001</UPN><Attendance><YearData><Year>2024</Year><SessionsPossible>ten</SessionsPossible><SessionsAttended>9</SessionsAttended></YearData></Attendance>",
                "`Attendance/YearData/SessionsPossible` is not a whole number",
            ),
            (
                "<UPN>X999200116001</UPN><FSMhistory><FSMinstance><FSMendDate>2024-01-01</FSMendDate></FSMinstance></FSMhistory>",
                "`FSMhistory/FSMinstance/FSMstartDate` is missing",
            ),
            (
                "<UPN>X999200116001</UPN><LookedAfter><InCare>perhaps</InCare></LookedAfter>",
                "`LookedAfter/InCare` is not true or false",
            ),
            (
                "<UPN>X999200116001</UPN><SchoolHistory><School><LEA>999</LEA><Estab>2001</Estab><EntryDate>5 Sept</EntryDate></School></SchoolHistory>",
                "`SchoolHistory/School/EntryDate` is not a date",
            ),
        ];
        for (upn, expected) in cases {
            let pupil = format!(
                "<Pupil>{upn}<Surname>A</Surname><Forename>B</Forename><DOB>2011-05-14</DOB></Pupil>"
            );
            let p = document(&doc(SOURCE, &pupil));
            assert!(p.records.is_empty(), "case {expected}");
            assert_eq!(p.rejected.len(), 1, "case {expected}");
            assert_eq!(p.rejected[0].reason, expected);
        }
    }

    #[test]
    fn whole_year_attendance_without_marks_is_dated_by_the_file() {
        let pupil = "<Pupil><UPN>X999200116001</UPN><Surname>A</Surname><Forename>B</Forename><DOB>2011-05-14</DOB>\
            <Attendance><YearData><Year>2024</Year><SessionsPossible>100</SessionsPossible><SessionsAttended>95</SessionsAttended></YearData></Attendance></Pupil>";
        let p = document(&doc(SOURCE, pupil));
        let f = &p.records[0].facts[0];
        assert_eq!(
            f.occurred_at,
            ctf::start_of(ctf::date("2025-01-10").expect("d"))
        );
        assert_eq!(f.payload["AttendancePercent"], 95.0);
        assert!(f.payload["SessionsAuthorised"].is_null());
    }
}
