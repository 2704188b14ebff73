//! From an envelope to graph rows: names, identifiers, addresses, facts and declared
//! relationships, each pointing at the source record it came from. Pure. Anything the hub will
//! not accept (an identifier failing its check, a category the connector did not declare, two
//! facts with one key) makes the whole record a rejection with a reason naming the field.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use kinship_connector_sdk::{Manifest, SourceRecord};
use uuid::Uuid;

use crate::linkage::{Evidence, probabilistic};
use crate::model::{
    Address, Agency, DataCategory, Fact, FactId, Identifier, IdentifierSystem, OrganisationId,
    PersonId, PersonName, Sex, SourceRecordId,
};
use crate::store::graph::normalise_name;

/// The id a connector's source record gets if it is new: time-ordered, so a batch's records
/// sit together in every index keyed by them. An existing record keeps the id it has.
pub fn new_record_id() -> SourceRecordId {
    SourceRecordId(Uuid::now_v7())
}

/// The id of a fact within a source record: the record's id with its last eight bytes
/// replaced by a hash of the fact's key. Stable for the same record and key, and sorted with
/// the record, so a batch's facts land together in the index.
pub fn fact_id(record: SourceRecordId, key: &str) -> FactId {
    let mut bytes = *record.0.as_bytes();
    let hashed = Uuid::new_v5(&record.0, key.as_bytes());
    bytes[8..].copy_from_slice(&hashed.as_bytes()[8..]);
    FactId(Uuid::from_bytes(bytes))
}

/// A record checked and ready to write, before it knows its person.
#[derive(Clone)]
pub struct Checked {
    /// The record's id: a new one until the engine finds the record already stored.
    pub id: SourceRecordId,
    pub organisation: OrganisationId,
    pub identifiers: Vec<(IdentifierSystem, String, bool)>,
    pub evidence: Evidence,
    pub date_of_birth: Option<chrono::NaiveDate>,
    pub sex: Sex,
    pub has_identity: bool,
    pub facts: Vec<(DataCategory, Agency)>,
}

/// Checks an envelope against the manifest and the hub's rules.
pub fn check(manifest: &Manifest, r: &SourceRecord) -> Result<Checked, String> {
    let organisation: OrganisationId = r
        .organisation
        .parse()
        .map_err(|_| format!("organisation `{}` is not `<kind>:<code>`", r.organisation))?;
    if r.source_key.trim().is_empty() {
        return Err("the record has no source key".into());
    }
    let id = new_record_id();
    let mut identifiers = Vec::new();
    for i in &r.identity.identifiers {
        let system: IdentifierSystem = i
            .system
            .parse()
            .map_err(|_| format!("identifier system `{}` is not in the catalogue", i.system))?;
        let value = system
            .normalise(&i.value)
            .map_err(|e| format!("`{system}`: {e}"))?;
        identifiers.push((system, value, i.verified));
    }
    let default_agency: Agency = manifest.agency.parse().map_err(|_| {
        format!(
            "manifest agency `{}` is not in the catalogue",
            manifest.agency
        )
    })?;
    let mut keys = HashSet::new();
    let mut facts = Vec::with_capacity(r.facts.len());
    for f in &r.facts {
        if !keys.insert(f.key.as_str()) {
            return Err(format!("two facts share the key `{}`", f.key));
        }
        if !manifest.categories.iter().any(|c| c == &f.category) {
            return Err(format!(
                "fact category `{}` is not declared by the connector",
                f.category
            ));
        }
        let category: DataCategory = f
            .category
            .parse()
            .map_err(|_| format!("fact category `{}` is not in the catalogue", f.category))?;
        let agency = match &f.agency {
            Some(a) => a
                .parse()
                .map_err(|_| format!("fact agency `{a}` is not in the catalogue"))?,
            None => default_agency,
        };
        facts.push((category, agency));
    }
    for rel in &r.identity.relationships {
        if crate::model::RelationshipKind::parse(&rel.kind).is_none() {
            return Err(format!(
                "relationship kind `{}` is not in the catalogue",
                rel.kind
            ));
        }
    }
    let value_of = |s: IdentifierSystem| {
        identifiers
            .iter()
            .find(|(sys, _, _)| *sys == s)
            .map(|(_, v, _)| v.clone())
    };
    let name = main_name(r)
        .map(|n| (normalise_name(&n.family), normalise_name(&n.given)))
        .filter(|(f, g)| !f.is_empty() && !g.is_empty());
    let name_dob = name
        .clone()
        .zip(r.identity.date_of_birth)
        .map(|((f, g), dob)| (f, g, dob));
    let record = linkage_record(r, &value_of);
    let evidence = Evidence {
        record,
        nhs_number: value_of(IdentifierSystem::NhsNumber),
        upn: value_of(IdentifierSystem::Upn),
        la_person_ids: identifiers
            .iter()
            .filter(|(s, _, _)| *s == IdentifierSystem::LaPersonId)
            .map(|(_, v, _)| v.clone())
            .collect(),
        name_dob,
        name,
    };
    Ok(Checked {
        id,
        organisation,
        identifiers,
        evidence,
        date_of_birth: r.identity.date_of_birth,
        sex: r.identity.sex.as_deref().map_or(Sex::Unknown, Sex::parse),
        has_identity: !r.identity.is_empty(),
        facts,
    })
}

/// The name linkage goes by: the official (legal) name where the source gives one, as other
/// agencies record it, else the first. A GP record may list the name a patient goes by
/// ("Matt") before the official one ("Matthew"), which a school names as a contact.
fn main_name(r: &SourceRecord) -> Option<&kinship_connector_sdk::SourceName> {
    let names = &r.identity.names;
    names
        .iter()
        .find(|n| n.usage == "official")
        .or(names.first())
}

/// What probabilistic linkage compares of a record: the name it goes by ([`main_name`]), date
/// of birth, sex, the address it gives as current (else its first), and its strong
/// identifiers.
fn linkage_record(
    r: &SourceRecord,
    value_of: &dyn Fn(IdentifierSystem) -> Option<String>,
) -> probabilistic::Record {
    use probabilistic::Field;
    let name = main_name(r);
    let address = r
        .identity
        .addresses
        .iter()
        .find(|a| a.valid_to.is_none() && a.usage != "old")
        .or(r.identity.addresses.first());
    let dob = r.identity.date_of_birth.map(|d| d.to_string());
    let (nhs, upn) = (
        value_of(IdentifierSystem::NhsNumber),
        value_of(IdentifierSystem::Upn),
    );
    probabilistic::Record::from_values(
        [
            (Field::GivenName, name.map(|n| n.given.as_str())),
            (Field::FamilyName, name.map(|n| n.family.as_str())),
            (Field::DateOfBirth, dob.as_deref()),
            (
                Field::Sex,
                r.identity.sex.as_deref().filter(|s| *s != "unknown"),
            ),
            (Field::Postcode, address.map(|a| a.postcode.as_str())),
            (Field::AddressLine, address.map(|a| a.line1.as_str())),
            (Field::Locality, address.map(|a| a.town.as_str())),
            (Field::NhsNumber, nhs.as_deref()),
            (Field::Upn, upn.as_deref()),
        ]
        .into_iter()
        .filter_map(|(f, v)| Some((f, v?))),
    )
}

/// The rows a record contributes once its person is known.
#[derive(Default)]
pub struct Rows {
    pub names: Vec<PersonName>,
    pub identifiers: Vec<Identifier>,
    pub addresses: Vec<Address>,
    pub facts: Vec<Fact>,
}

impl Rows {
    /// Adds a checked record's rows for `person`.
    pub fn add(&mut self, r: &SourceRecord, c: &Checked, person: PersonId, now: DateTime<Utc>) {
        let source = Some(c.id);
        for n in &r.identity.names {
            self.names.push(PersonName {
                person_id: person,
                given: n.given.clone(),
                family: n.family.clone(),
                usage: n.usage.clone(),
                organisation: c.organisation.clone(),
                source_record: source,
                date_of_birth: c.date_of_birth,
            });
        }
        for (system, value, verified) in &c.identifiers {
            self.identifiers.push(Identifier {
                person_id: person,
                system: *system,
                value: value.clone(),
                verified: *verified,
                organisation: c.organisation.clone(),
                source_record: source,
            });
        }
        for a in &r.identity.addresses {
            self.addresses.push(Address {
                person_id: person,
                line1: a.line1.clone(),
                line2: a.line2.clone(),
                town: a.town.clone(),
                postcode: a.postcode.clone(),
                uprn: a.uprn.clone(),
                usage: a.usage.clone(),
                valid_from: a.valid_from,
                valid_to: a.valid_to,
                organisation: c.organisation.clone(),
                source_record: source,
            });
        }
        for (f, (category, agency)) in r.facts.iter().zip(&c.facts) {
            self.facts.push(Fact {
                id: fact_id(c.id, &f.key),
                person_id: person,
                agency: *agency,
                organisation: c.organisation.clone(),
                category: *category,
                kind: f.kind.clone(),
                occurred_at: f.occurred_at,
                recorded_at: now,
                summary: f.summary.clone(),
                payload: f.payload.clone(),
                source_record: source,
            });
        }
    }

    /// How many rows in all.
    pub fn len(&self) -> usize {
        self.names.len() + self.identifiers.len() + self.addresses.len() + self.facts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether a person born on `dob` is a child at `now` (unknown: not assumed a child).
pub fn is_child(dob: Option<chrono::NaiveDate>, now: DateTime<Utc>) -> bool {
    dob.and_then(|d| now.date_naive().years_since(d))
        .is_some_and(|age| age < 18)
}

#[cfg(test)]
mod tests {
    use kinship_connector_sdk::{Identity, SourceName, SourceRecord};

    use super::main_name;

    fn named(names: &[(&str, &str)]) -> SourceRecord {
        SourceRecord {
            source_key: "Patient/1".into(),
            organisation: "gp:Y00001".into(),
            subject: None,
            identity: Identity {
                names: names
                    .iter()
                    .map(|(given, usage)| SourceName {
                        given: (*given).into(),
                        family: "Blackwood".into(),
                        usage: (*usage).into(),
                    })
                    .collect(),
                ..Identity::default()
            },
            facts: vec![],
            raw: String::new(),
        }
    }

    #[test]
    fn linkage_goes_by_the_official_name_wherever_the_source_lists_it() {
        let official_second = named(&[("Matt", "usual"), ("Matthew", "official")]);
        assert_eq!(main_name(&official_second).unwrap().given, "Matthew");
        let none_official = named(&[("Matt", "usual"), ("Matthew", "nickname")]);
        assert_eq!(main_name(&none_official).unwrap().given, "Matt");
        assert!(main_name(&named(&[])).is_none());
    }
}
