//! Which of a school's envelopes are pupils and which are their contacts.
//!
//! CTF has no place for a person on their own: an adult appears only as a `Contact` of a
//! pupil. An envelope is a pupil when it holds a UPN or facts; any other is an adult, and
//! becomes a contact of each pupil it is related to, either way round (the pupil declares a
//! parent or carer, or the adult declares a child). An adult related to no pupil becomes an
//! `OTH` contact of the pupils sharing its home address (the school knows parents as
//! contacts of their children even where another agency declared the family; at most
//! [`MAX_CONTACTS_AT_HOME`] per pupil), and is left out when no pupil lives there.
//!
//! Limits: pure; indices point into the feed's version list.

use std::collections::{HashMap, HashSet};

use kinship_connector_sdk::{SourceAddress, SourceRecord};

use crate::ctf;

/// The most undeclared adults one pupil takes as contacts from its home address: a hostel or
/// refuge may house many unrelated adults, and a school lists a few contacts, not a building.
const MAX_CONTACTS_AT_HOME: usize = 4;

/// A pupil of a file and its contacts, in order.
#[derive(Clone, Debug)]
pub(crate) struct PupilPlan {
    pub record: u32,
    pub contacts: Vec<ContactPlan>,
}

/// A contact of a pupil: the adult's record and how it stands to the pupil.
#[derive(Clone, Debug)]
pub(crate) struct ContactPlan {
    pub record: u32,
    /// The `Relationship` code.
    pub code: &'static str,
    /// `Responsibility`: parental responsibility, when declared.
    pub responsibility: Option<bool>,
}

/// The LAESTAB of a school organisation id, `school:NNNNNNN`.
pub(crate) fn laestab(organisation: &str) -> Option<&str> {
    organisation
        .strip_prefix("school:")
        .filter(|code| code.len() == 7 && ctf::is_numeric(code))
}

/// Whether an envelope describes a pupil rather than an adult contact.
pub(crate) fn is_pupil(r: &SourceRecord) -> bool {
    !r.facts.is_empty() || r.identity.identifiers.iter().any(|i| i.system == "upn")
}

/// Whether the pupil left for a destination the school does not know (a CME signal): such
/// pupils go in files whose `DestSchool` is `MMM`/`MMMM`.
pub(crate) fn destination_unknown(r: &SourceRecord) -> bool {
    r.facts.iter().any(|f| {
        f.kind == ctf::kinds::ENROLMENT.1
            && f.payload
                .get("DestinationUnknown")
                .and_then(serde_json::Value::as_bool)
                == Some(true)
    })
}

fn home_key(a: &SourceAddress) -> String {
    match &a.uprn {
        Some(uprn) if !uprn.trim().is_empty() => format!("uprn:{}", uprn.trim()),
        _ => format!(
            "{}|{}",
            a.postcode.replace(' ', "").to_ascii_uppercase(),
            a.line1.trim().to_ascii_lowercase()
        ),
    }
}

fn is_family(kind: &str) -> bool {
    matches!(kind, "parent" | "carer")
}

/// Plans one school's envelopes (`records`, indices into `versions`, in delivery order): its
/// pupils, in that order, each with its contacts.
pub(crate) fn school(versions: &[SourceRecord], records: &[u32]) -> Vec<PupilPlan> {
    let get = |i: u32| usize::try_from(i).ok().and_then(|i| versions.get(i));
    let by_key: HashMap<&str, u32> = records
        .iter()
        .filter_map(|&i| get(i).map(|r| (r.source_key.as_str(), i)))
        .collect();
    let (pupils, adults): (Vec<u32>, Vec<u32>) = records
        .iter()
        .copied()
        .filter(|&i| get(i).is_some())
        .partition(|&i| get(i).is_some_and(is_pupil));
    let adult_set: HashSet<u32> = adults.iter().copied().collect();

    // Adults that declare a pupil as their child, per pupil key; and every adult linked to
    // some pupil either way.
    let mut declared_by_adults: HashMap<&str, Vec<(u32, Option<bool>)>> = HashMap::new();
    let mut linked: HashSet<u32> = HashSet::new();
    for &a in &adults {
        let Some(adult) = get(a) else { continue };
        for rel in adult
            .identity
            .relationships
            .iter()
            .filter(|r| r.kind == "child")
        {
            if by_key
                .get(rel.related_key.as_str())
                .is_some_and(|p| !adult_set.contains(p))
            {
                declared_by_adults
                    .entry(rel.related_key.as_str())
                    .or_default()
                    .push((a, rel.parental_responsibility));
                linked.insert(a);
            }
        }
    }
    for &p in &pupils {
        let Some(pupil) = get(p) else { continue };
        for rel in pupil
            .identity
            .relationships
            .iter()
            .filter(|r| is_family(&r.kind))
        {
            if let Some(&a) = by_key.get(rel.related_key.as_str())
                && adult_set.contains(&a)
            {
                linked.insert(a);
            }
        }
    }
    let mut unlinked_at_home: HashMap<String, Vec<u32>> = HashMap::new();
    for &a in adults.iter().filter(|a| !linked.contains(a)) {
        let Some(adult) = get(a) else { continue };
        for address in &adult.identity.addresses {
            unlinked_at_home
                .entry(home_key(address))
                .or_default()
                .push(a);
        }
    }

    pupils
        .iter()
        .filter_map(|&p| {
            let pupil = get(p)?;
            let mut seen = HashSet::new();
            let mut contacts = Vec::new();
            let sex_of = |a: u32| get(a).and_then(|r| r.identity.sex.as_deref());
            for rel in pupil
                .identity
                .relationships
                .iter()
                .filter(|r| is_family(&r.kind))
            {
                if let Some(&a) = by_key.get(rel.related_key.as_str())
                    && adult_set.contains(&a)
                    && seen.insert(a)
                {
                    contacts.push(ContactPlan {
                        record: a,
                        code: ctf::relationship_code(&rel.kind, sex_of(a)),
                        responsibility: rel.parental_responsibility,
                    });
                }
            }
            for &(a, responsibility) in declared_by_adults
                .get(pupil.source_key.as_str())
                .into_iter()
                .flatten()
            {
                if seen.insert(a) {
                    let kind = if responsibility == Some(false) {
                        "carer"
                    } else {
                        "parent"
                    };
                    contacts.push(ContactPlan {
                        record: a,
                        code: ctf::relationship_code(kind, sex_of(a)),
                        responsibility,
                    });
                }
            }
            let mut at_home = 0;
            for address in &pupil.identity.addresses {
                for &a in unlinked_at_home
                    .get(&home_key(address))
                    .into_iter()
                    .flatten()
                {
                    if at_home < MAX_CONTACTS_AT_HOME && seen.insert(a) {
                        at_home += 1;
                        contacts.push(ContactPlan {
                            record: a,
                            code: "OTH",
                            responsibility: None,
                        });
                    }
                }
            }
            Some(PupilPlan {
                record: p,
                contacts,
            })
        })
        .collect()
}
