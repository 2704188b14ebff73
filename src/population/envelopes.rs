//! The population as the agencies would send it: one SDK envelope per source record (an
//! organisation's record of a person), holding only the names, identifiers, addresses,
//! relationships and facts that organisation holds. The demo and the benchmarks hand these to
//! each connector's loopback feed, which renders them as real documents.

use std::collections::{BTreeMap, HashMap};

use kinship_connector_sdk::{
    Identity, SourceAddress, SourceFact, SourceIdentifier, SourceName, SourceRecord,
    SourceRelationship,
};

use super::Population;
use crate::model::{Agency, AgencyKind, OrganisationId, PersonId, SourceRecordId};

/// Which connector's feed carries an organisation's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feed {
    /// Acute, community and mental health trusts and GP practices: FHIR.
    Health,
    /// Schools: Common Transfer Files.
    Education,
    /// The police force: POLE incidents.
    Police,
    /// The local authority: CIN census, SSDA903 and the early help extract.
    SocialCare,
}

impl Feed {
    /// The feed of an organisation kind.
    pub fn of(kind: AgencyKind) -> Self {
        match kind {
            AgencyKind::School => Self::Education,
            AgencyKind::Police => Self::Police,
            AgencyKind::LocalAuthority => Self::SocialCare,
            AgencyKind::AcuteTrust
            | AgencyKind::CommunityTrust
            | AgencyKind::MentalHealthTrust
            | AgencyKind::GpPractice => Self::Health,
        }
    }

    /// The agency its facts belong to unless a fact says otherwise.
    pub fn agency(self) -> Agency {
        match self {
            Self::Health => Agency::Health,
            Self::Education => Agency::Education,
            Self::Police => Agency::Police,
            Self::SocialCare => Agency::SocialCare,
        }
    }
}

/// Every source record of the population as an envelope, by feed, in a stable order.
pub fn envelopes(pop: &Population) -> BTreeMap<Feed, Vec<SourceRecord>> {
    let mut names: HashMap<SourceRecordId, Vec<SourceName>> = HashMap::new();
    for n in &pop.names {
        if let Some(s) = n.source_record {
            names.entry(s).or_default().push(SourceName {
                given: n.given.clone(),
                family: n.family.clone(),
                usage: n.usage.clone(),
            });
        }
    }
    let mut identifiers: HashMap<SourceRecordId, Vec<SourceIdentifier>> = HashMap::new();
    for i in &pop.identifiers {
        if let Some(s) = i.source_record {
            identifiers.entry(s).or_default().push(SourceIdentifier {
                system: i.system.as_str().to_owned(),
                value: i.value.clone(),
                verified: i.verified,
            });
        }
    }
    let mut addresses: HashMap<SourceRecordId, Vec<SourceAddress>> = HashMap::new();
    for a in &pop.addresses {
        if let Some(s) = a.source_record {
            addresses.entry(s).or_default().push(SourceAddress {
                line1: a.line1.clone(),
                line2: a.line2.clone(),
                town: a.town.clone(),
                postcode: a.postcode.clone(),
                uprn: a.uprn.clone(),
                usage: a.usage.clone(),
                valid_from: a.valid_from,
                valid_to: a.valid_to,
            });
        }
    }
    let key_of: HashMap<(&OrganisationId, PersonId), &str> = pop
        .source_records
        .iter()
        .filter_map(|s| Some(((&s.organisation, s.person_id?), s.source_key.as_str())))
        .collect();
    let mut relationships: HashMap<SourceRecordId, Vec<SourceRelationship>> = HashMap::new();
    for r in &pop.relationships {
        let (Some(s), Some(related)) = (
            r.source_record,
            key_of.get(&(&r.organisation, r.related_person)),
        ) else {
            continue;
        };
        relationships
            .entry(s)
            .or_default()
            .push(SourceRelationship {
                related_key: (*related).to_owned(),
                kind: r.kind.as_str().to_owned(),
                parental_responsibility: r.parental_responsibility,
            });
    }
    let mut facts: HashMap<SourceRecordId, Vec<SourceFact>> = HashMap::new();
    for f in &pop.facts {
        if let Some(s) = f.source_record {
            let feed = Feed::of(f.organisation.kind());
            facts.entry(s).or_default().push(SourceFact {
                key: f.id.to_string(),
                category: f.category.as_str().to_owned(),
                agency: (f.agency != feed.agency()).then(|| f.agency.as_str().to_owned()),
                kind: f.kind.clone(),
                occurred_at: f.occurred_at,
                summary: f.summary.clone(),
                payload: f.payload.clone(),
            });
        }
    }
    let persons: HashMap<PersonId, &crate::model::Person> =
        pop.persons.iter().map(|p| (p.id, p)).collect();
    let mut out: BTreeMap<Feed, Vec<SourceRecord>> = BTreeMap::new();
    for s in &pop.source_records {
        let person = s.person_id.and_then(|p| persons.get(&p));
        let identity = Identity {
            names: names.remove(&s.id).unwrap_or_default(),
            date_of_birth: person.and_then(|p| p.date_of_birth),
            sex: person.map(|p| p.sex.as_str().to_owned()),
            identifiers: identifiers.remove(&s.id).unwrap_or_default(),
            addresses: addresses.remove(&s.id).unwrap_or_default(),
            relationships: relationships.remove(&s.id).unwrap_or_default(),
        };
        out.entry(Feed::of(s.organisation.kind()))
            .or_default()
            .push(SourceRecord {
                source_key: s.source_key.clone(),
                organisation: s.organisation.to_string(),
                subject: None,
                identity,
                facts: facts.remove(&s.id).unwrap_or_default(),
                raw: s.payload.clone(),
            });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::population::{PopulationSpec, generate};

    #[test]
    fn every_fact_and_name_reaches_exactly_one_envelope() {
        let pop = generate(&PopulationSpec::new(30, 3));
        let feeds = envelopes(&pop);
        let all: Vec<&SourceRecord> = feeds.values().flatten().collect();
        assert_eq!(all.len(), pop.source_records.len());
        let facts: usize = all.iter().map(|r| r.facts.len()).sum();
        assert_eq!(
            facts,
            pop.facts
                .iter()
                .filter(|f| f.source_record.is_some())
                .count()
        );
        let names: usize = all.iter().map(|r| r.identity.names.len()).sum();
        assert_eq!(
            names,
            pop.names
                .iter()
                .filter(|n| n.source_record.is_some())
                .count()
        );
        assert!(feeds.len() == 4, "all four feeds carry records");
        for (feed, records) in &feeds {
            for r in records {
                let org: OrganisationId = r.organisation.parse().expect("organisation id");
                assert_eq!(Feed::of(org.kind()), *feed);
            }
        }
    }
}
