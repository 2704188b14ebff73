//! Linkage: which person a source record is about. Pure: no IO. The sync engine gathers the
//! candidates (persons already holding the record's identifiers, the person of the record's
//! subject, persons with the same name and date of birth) and asks [`decide`].
//!
//! The rules here are deterministic and conservative, in order: a valid NHS number; a valid
//! UPN; a local authority's child id; the person of the record the source says this one is
//! about; an exact normalised name and date of birth held by exactly one person; and, for a
//! record with a name but no date of birth or identifier (a parent named as a school contact),
//! the one person of that name already related to the child the record says it is related
//! to. A candidate
//! that holds a different NHS number (or, for a name match, a different UPN) than the record
//! is never chosen: two different valid NHS numbers never end up on one person. Anything else
//! becomes a new person.
//!
//! A record these rules would make a new person is then scored against the persons blocking
//! puts beside it ([`Probables`]: the same date of birth with the same family or given name,
//! day and month swapped, or the same name with any date or none: a parent a school lists as a
//! contact, with a name and the pupil's address but no date of birth) by the Fellegi–Sunter model of
//! [`probabilistic`] ([`decide_probable`]): it joins the one person it matches with a
//! probability at or above the link threshold, names agreeing, when no other candidate is in
//! doubt; it becomes a new person with its doubtful candidates queued for review when any
//! candidate scores between the thresholds; else it is a new person. `kinship link` runs the
//! same model over plain files, fitting m by EM.
//!
//! Limits: imports `model` only.

pub mod probabilistic;

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;

use crate::model::{IdentifierSystem, PersonId};
use probabilistic::{PairScore, Record, Scorer};

/// What a record offers to link on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    pub nhs_number: Option<String>,
    pub upn: Option<String>,
    pub la_person_ids: Vec<String>,
    /// Normalised family and given name, and date of birth, when all three are known.
    pub name_dob: Option<(String, String, NaiveDate)>,
    /// Normalised family and given name, when known.
    pub name: Option<(String, String)>,
    /// What probabilistic linkage compares.
    pub record: probabilistic::Record,
}

impl Evidence {
    /// Whether only a name and declared relationships could link the record.
    pub fn needs_relatives(&self) -> bool {
        self.nhs_number.is_none()
            && self.upn.is_none()
            && self.la_person_ids.is_empty()
            && self.name_dob.is_none()
            && self.name.is_some()
    }
}

/// What the store knows that bears on a batch of records.
#[derive(Clone, Debug, Default)]
pub struct Candidates {
    /// Persons holding each identifier.
    pub by_identifier: HashMap<(IdentifierSystem, String), BTreeSet<PersonId>>,
    /// The strong identifiers each candidate person holds.
    pub held: HashMap<PersonId, BTreeSet<(IdentifierSystem, String)>>,
    /// Persons holding each (family, given, date of birth).
    pub by_name_dob: HashMap<(String, String, NaiveDate), BTreeSet<PersonId>>,
    /// Persons related to a person, by (that person, family, given).
    pub by_relative_name: HashMap<(PersonId, String, String), BTreeSet<PersonId>>,
}

impl Candidates {
    /// Records that `person` now holds these identifiers and name (a person created or linked
    /// earlier in the same batch).
    pub fn learn(&mut self, person: PersonId, evidence: &Evidence) {
        let mut ids: Vec<(IdentifierSystem, String)> = Vec::new();
        if let Some(n) = &evidence.nhs_number {
            ids.push((IdentifierSystem::NhsNumber, n.clone()));
        }
        if let Some(u) = &evidence.upn {
            ids.push((IdentifierSystem::Upn, u.clone()));
        }
        for la in &evidence.la_person_ids {
            ids.push((IdentifierSystem::LaPersonId, la.clone()));
        }
        for id in ids {
            self.by_identifier
                .entry(id.clone())
                .or_default()
                .insert(person);
            self.held.entry(person).or_default().insert(id);
        }
        if let Some(key) = &evidence.name_dob {
            self.by_name_dob
                .entry(key.clone())
                .or_default()
                .insert(person);
        }
    }

    /// Records that person `from` is now part of person `into`: every key that found `from`
    /// finds `into`.
    pub fn absorb(&mut self, from: PersonId, into: PersonId) {
        let swap = |set: &mut BTreeSet<PersonId>| swap_person(set, from, into);
        self.by_identifier.values_mut().for_each(swap);
        self.by_name_dob.values_mut().for_each(swap);
        self.by_relative_name.values_mut().for_each(swap);
        if let Some(ids) = self.held.remove(&from) {
            self.held.entry(into).or_default().extend(ids);
        }
    }

    /// Whether two persons hold different values of a strong identifier, as far as this
    /// batch knows them (see [`identifiers_clash`]).
    pub fn clash(&self, a: PersonId, b: PersonId) -> bool {
        match (self.held.get(&a), self.held.get(&b)) {
            (Some(x), Some(y)) => identifiers_clash(x, y),
            _ => false,
        }
    }

    fn holds_other(&self, person: PersonId, system: IdentifierSystem, value: &str) -> bool {
        self.held
            .get(&person)
            .is_some_and(|ids| ids.iter().any(|(s, v)| *s == system && v != value))
    }

    /// Whether linking `evidence` to `person` would put two different values of a strong
    /// identifier on one person.
    pub fn conflicts(&self, person: PersonId, evidence: &Evidence, check_upn: bool) -> bool {
        evidence
            .nhs_number
            .as_deref()
            .is_some_and(|n| self.holds_other(person, IdentifierSystem::NhsNumber, n))
            || (check_upn
                && evidence
                    .upn
                    .as_deref()
                    .is_some_and(|u| self.holds_other(person, IdentifierSystem::Upn, u)))
    }

    fn by(&self, system: IdentifierSystem, value: &str) -> Option<PersonId> {
        self.by_identifier
            .get(&(system, value.to_owned()))
            .and_then(|s| s.iter().next().copied())
    }
}

/// Whether two persons' identifiers put two different NHS numbers, or two different UPNs, on
/// one person were they merged: two such persons are never one.
pub fn identifiers_clash(
    a: &BTreeSet<(IdentifierSystem, String)>,
    b: &BTreeSet<(IdentifierSystem, String)>,
) -> bool {
    a.iter()
        .filter(|(s, _)| matches!(s, IdentifierSystem::NhsNumber | IdentifierSystem::Upn))
        .any(|(s, v)| b.iter().any(|(t, w)| s == t && v != w))
}

/// Puts `into` in place of `from` in a set of persons a key finds.
fn swap_person(set: &mut BTreeSet<PersonId>, from: PersonId, into: PersonId) {
    if set.remove(&from) {
        set.insert(into);
    }
}

/// How a record was linked, stored with it as its link method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    NhsNumber,
    Upn,
    LaPersonId,
    Subject,
    NameAndDateOfBirth,
    RelativeAndName,
    /// The Fellegi–Sunter model, above the link threshold.
    Probabilistic,
    /// A reviewer confirmed a queued pair.
    Confirmed,
    /// A reviewer split the record off the person it was on.
    Split,
    /// No candidate: a new person.
    New,
}

impl Method {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NhsNumber => "deterministic:nhs_number",
            Self::Upn => "deterministic:upn",
            Self::LaPersonId => "deterministic:la_person_id",
            Self::Subject => "subject",
            Self::NameAndDateOfBirth => "deterministic:name_dob",
            Self::RelativeAndName => "deterministic:relative_name",
            Self::Probabilistic => "probabilistic",
            Self::Confirmed => "review:confirmed",
            Self::Split => "review:split",
            Self::New => "new",
        }
    }
}

/// A stored link method in words, for explanations.
pub fn describe_method(stored: &str) -> &'static str {
    match stored {
        "deterministic:nhs_number" => "linked on a valid NHS number held by the person",
        "deterministic:upn" => "linked on a valid unique pupil number held by the person",
        "deterministic:la_person_id" => "linked on the local authority's id for the person",
        "subject" => "a record about the person of another record from the same source",
        "deterministic:name_dob" => {
            "linked on the same name and date of birth, held by no other person"
        }
        "deterministic:relative_name" => {
            "linked on the same name as the one relative of that name the source declares"
        }
        "probabilistic" => "linked by the match probability of its comparisons",
        "review:confirmed" => "linked by a reviewer who confirmed a queued match",
        "review:split" => "split off another person by a reviewer",
        "new" => "the first record of the person: nothing it matched",
        _ => "linked before link methods were recorded",
    }
}

/// The decision for one record: an existing person and how, or a new person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Existing(PersonId, Method),
    New,
}

/// Decides which person a record is about.
pub fn decide(evidence: &Evidence, subject: Option<PersonId>, c: &Candidates) -> Decision {
    if let Some(p) = evidence
        .nhs_number
        .as_deref()
        .and_then(|n| c.by(IdentifierSystem::NhsNumber, n))
    {
        return Decision::Existing(p, Method::NhsNumber);
    }
    if let Some(p) = evidence
        .upn
        .as_deref()
        .and_then(|u| c.by(IdentifierSystem::Upn, u))
        .filter(|p| !c.conflicts(*p, evidence, false))
    {
        return Decision::Existing(p, Method::Upn);
    }
    if let Some(p) = evidence
        .la_person_ids
        .iter()
        .find_map(|la| c.by(IdentifierSystem::LaPersonId, la))
        .filter(|p| !c.conflicts(*p, evidence, true))
    {
        return Decision::Existing(p, Method::LaPersonId);
    }
    if let Some(p) = subject {
        return Decision::Existing(p, Method::Subject);
    }
    if let Some(key) = &evidence.name_dob
        && let Some(persons) = c.by_name_dob.get(key)
        && persons.len() == 1
        && let Some(p) = persons.iter().next().copied()
        && !c.conflicts(p, evidence, true)
    {
        return Decision::Existing(p, Method::NameAndDateOfBirth);
    }
    Decision::New
}

/// For a record with only a name: the one person of that name related to any of `relatives`
/// (the persons of the records it declares relationships to).
pub fn decide_by_relatives(
    evidence: &Evidence,
    relatives: &[PersonId],
    c: &Candidates,
) -> Decision {
    let Some((family, given)) = &evidence.name else {
        return Decision::New;
    };
    let found: BTreeSet<PersonId> = relatives
        .iter()
        .filter_map(|r| c.by_relative_name.get(&(*r, family.clone(), given.clone())))
        .flatten()
        .copied()
        .collect();
    match (found.len(), found.iter().next()) {
        (1, Some(p)) if !c.conflicts(*p, evidence, true) => {
            Decision::Existing(*p, Method::RelativeAndName)
        }
        _ => Decision::New,
    }
}

/// A person, with the date of birth one of their name rows holds.
type Dated = (PersonId, Option<NaiveDate>);

/// Persons that blocking puts beside a batch's records, with what linkage compares of each.
#[derive(Default)]
pub struct Probables {
    by_date_family: HashMap<(NaiveDate, String), BTreeSet<PersonId>>,
    by_date_given: HashMap<(NaiveDate, String), BTreeSet<PersonId>>,
    /// Persons by name whatever their date of birth, with the date of birth of each name row.
    by_name: HashMap<(String, String), BTreeSet<Dated>>,
    records: HashMap<PersonId, Vec<Record>>,
}

/// Whether two dates of birth are near enough for a pair to be worth scoring: the same, day
/// and month swapped, or differing in only one of year, month and day (a slip in one part).
/// Two names alike with dates further apart are two people (a father and a son of one name
/// at one address, say). Scored, such a pair would be queued for review, or in a small graph,
/// where the prior is weak, even linked.
fn near(a: NaiveDate, b: NaiveDate) -> bool {
    use chrono::Datelike;
    let differing = usize::from(a.year() != b.year())
        + usize::from(a.month() != b.month())
        + usize::from(a.day() != b.day());
    differing <= 1 || swapped(a) == Some(b)
}

/// A date with day and month swapped, where that is a date.
fn swapped(d: NaiveDate) -> Option<NaiveDate> {
    use chrono::Datelike;
    NaiveDate::from_ymd_opt(d.year(), d.day(), d.month()).filter(|s| *s != d)
}

impl Probables {
    /// The keys the store is asked for: dates of birth (as given and with day and month
    /// swapped) and normalised (family, given) names (as given and swapped).
    pub fn keys(evidence: &Evidence) -> (Vec<NaiveDate>, Vec<(String, String)>) {
        let Some((family, given)) = &evidence.name else {
            return (vec![], vec![]);
        };
        let dates = evidence
            .name_dob
            .iter()
            .flat_map(|(_, _, dob)| std::iter::once(*dob).chain(swapped(*dob)))
            .collect();
        let names = vec![
            (family.clone(), given.clone()),
            (given.clone(), family.clone()),
        ];
        (dates, names)
    }

    /// Indexes one name row of a person: normalised family and given name, date of birth.
    pub fn add_key(&mut self, person: PersonId, family: &str, given: &str, dob: Option<NaiveDate>) {
        if let Some(d) = dob {
            self.by_date_family
                .entry((d, family.to_owned()))
                .or_default()
                .insert(person);
            self.by_date_given
                .entry((d, given.to_owned()))
                .or_default()
                .insert(person);
        }
        self.by_name
            .entry((family.to_owned(), given.to_owned()))
            .or_default()
            .insert((person, dob));
    }

    /// Adds a linkage record of a person (one per name and address it holds).
    pub fn add_record(&mut self, person: PersonId, record: Record) {
        let held = self.records.entry(person).or_default();
        if !held.contains(&record) {
            held.push(record);
        }
    }

    /// Records that `person` now holds what `evidence` says (a person created or linked
    /// earlier in the same batch).
    pub fn learn(&mut self, person: PersonId, evidence: &Evidence) {
        // A name with no date of birth (a school's contact, say) is a key too: a sibling's
        // record naming the same contact later in the batch must find this person, as it
        // would once the batch is stored.
        if let Some((family, given)) = &evidence.name {
            let dob = evidence.name_dob.as_ref().map(|(_, _, d)| *d);
            self.add_key(person, family, given, dob);
        }
        self.add_record(person, evidence.record.clone());
    }

    /// Records that person `from` is now part of person `into`: blocking finds `into` where it
    /// found `from`, and `into` holds the linkage records of both.
    pub fn absorb(&mut self, from: PersonId, into: PersonId) {
        let swap = |set: &mut BTreeSet<PersonId>| swap_person(set, from, into);
        self.by_date_family.values_mut().for_each(swap);
        self.by_date_given.values_mut().for_each(swap);
        for block in self.by_name.values_mut() {
            let moved: Vec<_> = block.iter().filter(|(p, _)| *p == from).copied().collect();
            for (p, dob) in moved {
                block.remove(&(p, dob));
                block.insert((into, dob));
            }
        }
        for r in self.records.remove(&from).unwrap_or_default() {
            self.add_record(into, r);
        }
    }

    /// The persons blocking puts beside a record.
    pub fn candidates(&self, evidence: &Evidence) -> BTreeSet<PersonId> {
        let mut out = BTreeSet::new();
        let Some((family, given)) = &evidence.name else {
            return out;
        };
        let dates = evidence
            .name_dob
            .iter()
            .flat_map(|(_, _, dob)| std::iter::once(*dob).chain(swapped(*dob)));
        for d in dates {
            for (map, name) in [
                (&self.by_date_family, family),
                (&self.by_date_given, given),
                // Given and family swapped.
                (&self.by_date_family, given),
            ] {
                out.extend(map.get(&(d, name.clone())).into_iter().flatten());
            }
        }
        // By name alone: the persons whose date of birth, where both are known, is near.
        let dob = evidence.name_dob.as_ref().map(|(_, _, d)| *d);
        for key in [
            (family.clone(), given.clone()),
            (given.clone(), family.clone()),
        ] {
            out.extend(
                self.by_name
                    .get(&key)
                    .into_iter()
                    .flatten()
                    .filter(|(_, held)| match (dob, held) {
                        (Some(a), Some(b)) => near(a, *b),
                        _ => true,
                    })
                    .map(|(p, _)| *p),
            );
        }
        out
    }
}

/// A candidate person and how well a record matches them (their best-matching record).
#[derive(Clone, Debug, PartialEq)]
pub struct Probable {
    pub person: PersonId,
    pub score: PairScore,
}

/// What probabilistic linkage decided for a record.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The record is this person.
    Link(Probable),
    /// A person must decide: these candidates scored between the thresholds (or more than
    /// one scored high, or the names do not agree), best first.
    Review(Vec<Probable>),
    /// No candidate is close: a new person.
    Unmatched,
}

/// The most candidates one record queues for review.
const MAX_REVIEWS: usize = 5;

/// Scores a record against its blocking candidates and decides.
pub fn decide_probable(
    evidence: &Evidence,
    p: &Probables,
    scorer: &Scorer,
    link_threshold: f64,
    review_threshold: f64,
) -> Outcome {
    let mut found: Vec<Probable> = p
        .candidates(evidence)
        .into_iter()
        .filter_map(|person| {
            let score = p
                .records
                .get(&person)?
                .iter()
                .filter_map(|r| scorer.score(&evidence.record, r))
                .max_by(|a, b| a.probability.total_cmp(&b.probability))?;
            Some(Probable { person, score })
        })
        .filter(|f| f.score.probability >= review_threshold)
        .collect();
    found.sort_by(|a, b| b.score.probability.total_cmp(&a.score.probability));
    match found.as_slice() {
        [] => Outcome::Unmatched,
        [only] if only.score.probability >= link_threshold && only.score.names_agree => {
            Outcome::Link(only.clone())
        }
        _ => {
            found.truncate(MAX_REVIEWS);
            Outcome::Review(found)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nhs(n: &str) -> Evidence {
        Evidence {
            nhs_number: Some(n.into()),
            ..Evidence::default()
        }
    }

    #[test]
    fn an_nhs_number_links_and_a_different_one_never_shares_a_person() {
        let mut c = Candidates::default();
        let a = PersonId::new();
        let first = Evidence {
            upn: Some("B801200005001".into()),
            ..nhs("9990000018")
        };
        c.learn(a, &first);
        assert_eq!(
            decide(&nhs("9990000018"), None, &c),
            Decision::Existing(a, Method::NhsNumber)
        );
        // Same UPN, different NHS number: the UPN match is refused.
        let clash = Evidence {
            upn: Some("B801200005001".into()),
            ..nhs("9990000050")
        };
        assert_eq!(decide(&clash, None, &c), Decision::New);
        // Same UPN and no NHS number: linked on the UPN.
        let upn_only = Evidence {
            upn: Some("B801200005001".into()),
            ..Evidence::default()
        };
        assert_eq!(
            decide(&upn_only, None, &c),
            Decision::Existing(a, Method::Upn)
        );
    }

    #[test]
    fn name_and_birth_date_link_only_when_unique_and_consistent() {
        let mut c = Candidates::default();
        let dob = NaiveDate::from_ymd_opt(2015, 3, 4).unwrap();
        let key = ("SMITH".to_string(), "AMELIA".to_string(), dob);
        let a = PersonId::new();
        c.learn(
            a,
            &Evidence {
                name_dob: Some(key.clone()),
                ..nhs("9990000018")
            },
        );
        let bare = Evidence {
            name_dob: Some(key.clone()),
            ..Evidence::default()
        };
        assert_eq!(
            decide(&bare, None, &c),
            Decision::Existing(a, Method::NameAndDateOfBirth)
        );
        let other_nhs = Evidence {
            name_dob: Some(key.clone()),
            ..nhs("9990000050")
        };
        assert_eq!(
            decide(&other_nhs, None, &c),
            Decision::New,
            "never across NHS numbers"
        );
        c.learn(
            PersonId::new(),
            &Evidence {
                name_dob: Some(key),
                ..Evidence::default()
            },
        );
        assert_eq!(
            decide(&bare, None, &c),
            Decision::New,
            "ambiguous: two candidates"
        );
    }

    #[test]
    fn a_named_contact_joins_the_one_relative_of_that_name() {
        let child = PersonId::new();
        let mother = PersonId::new();
        let mut c = Candidates::default();
        c.by_relative_name
            .entry((child, "SMITH".into(), "JANE".into()))
            .or_default()
            .insert(mother);
        let contact = Evidence {
            name: Some(("SMITH".into(), "JANE".into())),
            ..Evidence::default()
        };
        assert!(contact.needs_relatives());
        assert_eq!(
            decide_by_relatives(&contact, &[child], &c),
            Decision::Existing(mother, Method::RelativeAndName)
        );
        assert_eq!(
            decide_by_relatives(&contact, &[PersonId::new()], &c),
            Decision::New
        );
        c.by_relative_name
            .entry((child, "SMITH".into(), "JANE".into()))
            .or_default()
            .insert(PersonId::new());
        assert_eq!(
            decide_by_relatives(&contact, &[child], &c),
            Decision::New,
            "ambiguous"
        );
    }

    #[test]
    fn a_record_without_identity_follows_its_subject() {
        let c = Candidates::default();
        let p = PersonId::new();
        assert_eq!(
            decide(&Evidence::default(), Some(p), &c),
            Decision::Existing(p, Method::Subject)
        );
        assert_eq!(decide(&Evidence::default(), None, &c), Decision::New);
    }

    fn probable_evidence(given: &str, family: &str, dob: &str, nhs: &str) -> Evidence {
        use probabilistic::Field;
        let d = NaiveDate::parse_from_str(dob, "%Y-%m-%d").unwrap();
        let norm = |s: &str| s.to_uppercase();
        Evidence {
            nhs_number: (!nhs.is_empty()).then(|| nhs.to_owned()),
            name_dob: Some((norm(family), norm(given), d)),
            name: Some((norm(family), norm(given))),
            record: Record::from_values([
                (Field::GivenName, given),
                (Field::FamilyName, family),
                (Field::DateOfBirth, dob),
                (Field::Sex, "female"),
                (Field::NhsNumber, nhs),
            ]),
            ..Evidence::default()
        }
    }

    #[test]
    fn blocking_by_name_alone_passes_over_a_namesake_born_years_apart() {
        // A father and son of one name: the son's record is never scored against the father,
        // while a record whose date has one part wrong, or day and month swapped, still is.
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let mut p = Probables::default();
        let (father, slip, swap, undated) = (
            PersonId::new(),
            PersonId::new(),
            PersonId::new(),
            PersonId::new(),
        );
        p.add_key(father, "SMITH", "JOHN", Some(d("1979-06-21")));
        p.add_key(slip, "SMITH", "JOHN", Some(d("2013-06-12")));
        p.add_key(swap, "SMITH", "JOHN", Some(d("2012-12-06")));
        p.add_key(undated, "SMITH", "JOHN", None);
        let son = probable_evidence("John", "Smith", "2012-06-12", "");
        let found = p.candidates(&son);
        assert!(!found.contains(&father), "born years apart");
        for near in [slip, swap, undated] {
            assert!(found.contains(&near));
        }
        // A record with no date of birth is compared with every namesake.
        let contact = Evidence {
            name: Some(("SMITH".into(), "JOHN".into())),
            ..Evidence::default()
        };
        assert_eq!(p.candidates(&contact).len(), 4);
    }

    #[test]
    fn probabilistic_links_nicknames_and_swaps_queues_twins_and_never_crosses_nhs_numbers() {
        let mut p = Probables::default();
        let held = [
            ("Elizabeth", "Marlow", "2014-03-04", "9990000018"),
            ("Amelia", "Quill", "2013-07-08", ""),
            ("Aisha", "Khan", "2012-01-02", ""),
        ];
        let ids: Vec<PersonId> = held
            .iter()
            .map(|(g, f, d, n)| {
                let id = PersonId::new();
                p.learn(id, &probable_evidence(g, f, d, n));
                id
            })
            .collect();
        let scorer = Scorer::standard(10_000);
        let decide = |e: &Evidence| decide_probable(e, &p, &scorer, 0.9, 0.5);
        match decide(&probable_evidence("Beth", "Marlow", "2014-03-04", "")) {
            Outcome::Link(found) => assert_eq!(found.person, ids[0]),
            other => panic!("a diminutive links: {other:?}"),
        }
        match decide(&probable_evidence("Khan", "Aisha", "2012-01-02", "")) {
            Outcome::Link(found) => assert_eq!(found.person, ids[2]),
            other => panic!("swapped names link: {other:?}"),
        }
        // Day and month swapped in the date of birth.
        match decide(&probable_evidence("Aisha", "Khan", "2012-02-01", "")) {
            Outcome::Link(found) => assert_eq!(found.person, ids[2]),
            other => panic!("a swapped date links: {other:?}"),
        }
        // A twin: in a large graph not even in doubt; in a small one, in doubt but never
        // linked, since the given names disagree.
        let twin = probable_evidence("Olivia", "Quill", "2013-07-08", "");
        assert_eq!(decide(&twin), Outcome::Unmatched);
        match decide_probable(&twin, &p, &Scorer::standard(10), 0.9, 0.5) {
            Outcome::Review(found) => assert_eq!(found[0].person, ids[1]),
            other => panic!("a twin goes to review: {other:?}"),
        }
        assert_eq!(
            decide(&probable_evidence(
                "Elizabeth",
                "Marlow",
                "2014-03-04",
                "9990000050"
            )),
            Outcome::Unmatched,
            "a different valid NHS number is never a match"
        );
        assert_eq!(
            decide(&probable_evidence("Zara", "Osei", "2011-11-11", "")),
            Outcome::Unmatched
        );
    }
}
