//! The Kinship profile of police POLE JSON (Person, Object, Location, Event): one page of the
//! incident feed in, SDK records and rejections out.
//!
//! A page is `{persons[], objects[], locations[], events[], links[], next_cursor}` carrying
//! the persons, locations and links its events need. It becomes:
//! - a person record per person, `pole:person:{id}`, with names, date of birth, sex, the PNC
//!   ID (checked with the SDK's [`PncId`](kinship_connector_sdk::identifiers::PncId)) and the
//!   addresses of the locations linked to the person (role `resident`);
//! - an event-person record per (event, person) pair, `pole:event:{event}:{person}`, whose
//!   `subject` is the person record, with one fact per role the person plays in the event.
//!
//! A person appears on every page that mentions them, so that each page's links resolve; its
//! record is emitted only on the page that links it to its `last_event` (on every page when the
//! feed gives none). One pull then delivers each person record once, and a person who changes
//! is re-sent with the change, because the feed appends the changed events.
//!
//! A malformed element is rejected with a reason naming the field, and so is every record
//! built on it; the rest of the page lands. A page that is not POLE JSON at all is a fatal
//! error: without a readable `next_cursor` the feed cannot be followed.
//!
//! Limits: pure parsing, no IO; imports the SDK only.

mod element;
pub mod vocabulary;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{SecondsFormat, Utc};
use kinship_connector_sdk::{
    ConnectorError, Identity, Rejected, SourceAddress, SourceFact, SourceRecord,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use element::{Event, Link, Location, Person, Reason};

/// What one page held.
#[derive(Debug, Default)]
pub struct ParsedPage {
    /// Person and event-person records, persons first.
    pub records: Vec<SourceRecord>,
    /// Elements and records that could not be read, with reasons.
    pub rejected: Vec<Rejected>,
    /// The feed's cursor for the page after this one; `None` at the end of the feed.
    pub next_cursor: Option<String>,
}

/// The source key of a person's record.
pub fn person_key(person_id: &str) -> String {
    format!("pole:person:{person_id}")
}

/// The source key of a person's part in an event.
pub fn event_key(event_id: &str, person_id: &str) -> String {
    format!("pole:event:{event_id}:{person_id}")
}

#[derive(Deserialize)]
struct RawPage<'a> {
    #[serde(borrow, default)]
    persons: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    objects: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    locations: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    events: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    links: Vec<&'a RawValue>,
    /// Outer `None`: the key is absent, which no page of the feed may be.
    #[serde(default, deserialize_with = "present")]
    next_cursor: Option<Option<String>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// One element: where it sits, its exact bytes, and what reading it gave.
struct Slot<'a, T> {
    index: usize,
    raw: &'a RawValue,
    /// Its `id`, read once.
    id: Option<&'a str>,
    read: Result<T, Reason>,
}

/// What an id on the page names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Person(usize),
    Event(usize),
    Location(usize),
    Object,
    Unknown,
}

/// A person's part in one event, gathered from its links.
struct Part {
    event: usize,
    person_id: String,
    /// Indices of the links, in page order.
    links: Vec<usize>,
}

/// Reads one page of the feed. `organisation` is `police:{force}`.
pub fn parse_page(text: &str, organisation: &str) -> Result<ParsedPage, ConnectorError> {
    if !text.trim_start().starts_with('{') {
        return Err(ConnectorError::Fatal(
            "the feed's page is not POLE JSON (not a JSON object)".into(),
        ));
    }
    let page: RawPage<'_> = serde_json::from_str(text).map_err(|e| {
        // serde's message can quote the input; the position is enough to find the fault.
        ConnectorError::Fatal(format!(
            "the feed's page is not POLE JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let Some(next_cursor) = page.next_cursor.clone() else {
        return Err(ConnectorError::Fatal(
            "the feed's page is not POLE JSON (no `next_cursor`)".into(),
        ));
    };
    let mut parsed = Page::read(&page, organisation).assemble();
    parsed.next_cursor = next_cursor;
    Ok(parsed)
}

/// A page's links, sorted by what they join.
struct Sorted {
    /// People's parts in events, events in page order.
    parts: Vec<Part>,
    /// Per person (index), the links to the locations they live at.
    residences: BTreeMap<usize, Vec<usize>>,
    /// Every (person, event) pair linked at all, whatever the role: the `last_event` rule.
    linked: HashSet<(usize, usize)>,
}

struct Page<'a> {
    organisation: &'a str,
    persons: Vec<Slot<'a, Person>>,
    locations: Vec<Slot<'a, Location>>,
    events: Vec<Slot<'a, Event>>,
    links: Vec<Slot<'a, Link>>,
    ids: HashMap<&'a str, End>,
    out: ParsedPage,
}

fn value_of(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

fn slots<'a, T>(
    raws: &[&'a RawValue],
    what: &str,
    read: impl Fn(&str, &Value) -> Result<T, Reason>,
) -> Vec<Slot<'a, T>> {
    raws.iter()
        .enumerate()
        .map(|(index, raw)| Slot {
            index,
            raw,
            id: id_of_raw(raw),
            read: read(&format!("{what}[{index}]"), &value_of(raw)),
        })
        .collect()
}

impl<'a> Page<'a> {
    fn read(page: &RawPage<'a>, organisation: &'a str) -> Self {
        let mut p = Self {
            organisation,
            persons: slots(&page.persons, "persons", element::person),
            locations: slots(&page.locations, "locations", element::location),
            events: slots(&page.events, "events", element::event),
            links: slots(&page.links, "links", element::link),
            ids: HashMap::new(),
            out: ParsedPage::default(),
        };
        for o in &page.objects {
            if let Some(id) = id_of_raw(o) {
                p.ids.entry(id).or_insert(End::Object);
            }
        }
        // Registered in this order so that, should ids collide across kinds, persons win,
        // then events, then locations; within a kind the first element with an id wins (the
        // later ones are refused as repeats).
        for (i, s) in p.locations.iter().enumerate().rev() {
            if let Some(id) = s.id {
                p.ids.insert(id, End::Location(i));
            }
        }
        for (i, s) in p.events.iter().enumerate().rev() {
            if let Some(id) = s.id {
                p.ids.insert(id, End::Event(i));
            }
        }
        for (i, s) in p.persons.iter().enumerate().rev() {
            if let Some(id) = s.id {
                p.ids.insert(id, End::Person(i));
            }
        }
        p
    }

    fn end(&self, id: &str) -> End {
        self.ids.get(id).copied().unwrap_or(End::Unknown)
    }

    fn reject(&mut self, source_key: Option<String>, reason: Reason, raw: String) {
        self.out.rejected.push(Rejected {
            source_key,
            reason,
            raw,
        });
    }

    fn assemble(mut self) -> ParsedPage {
        self.duplicate_ids();
        let sorted = self.sort_links();
        self.persons_out(&sorted.residences, &sorted.linked);
        self.parts_out(&sorted.parts);
        self.out
    }

    /// A second element with an id already used on the page is refused: its links could not
    /// say which one they mean.
    fn duplicate_ids(&mut self) {
        let mut seen = HashSet::new();
        for s in &mut self.persons {
            if let Some(id) = s.id
                && !seen.insert(id)
            {
                s.read = Err(format!(
                    "`persons[{}].id` repeats an earlier person",
                    s.index
                ));
            }
        }
        let mut seen = HashSet::new();
        for s in &mut self.events {
            if let Some(id) = s.id
                && !seen.insert(id)
            {
                s.read = Err(format!("`events[{}].id` repeats an earlier event", s.index));
            }
        }
    }

    /// Splits links into people's parts in events and their residences; rejects links whose
    /// ends name nothing on the page or whose role the profile does not know. Also returns
    /// every (person, event) pair linked at all, for the `last_event` rule.
    fn sort_links(&mut self) -> Sorted {
        let mut parts: Vec<Part> = Vec::new();
        let mut part_of: HashMap<(usize, usize), usize> = HashMap::new();
        let mut residences: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut linked = HashSet::new();
        let mut rejections = Vec::new();
        for l in &self.links {
            let link = match &l.read {
                Ok(link) => link,
                Err(reason) => {
                    rejections.push((None, reason.clone(), l.raw.get().to_owned()));
                    continue;
                }
            };
            let ctx = format!("links[{}]", l.index);
            let (from, to) = (self.end(&link.from), self.end(&link.to));
            let pair = match (from, to) {
                (End::Person(p), End::Event(e)) => Some((p, e, &link.from, &link.to)),
                (End::Event(e), End::Person(p)) => Some((p, e, &link.to, &link.from)),
                _ => None,
            };
            if let Some((p, e, person_id, event_id)) = pair {
                linked.insert((p, e));
                if !vocabulary::ROLES.contains(&link.role.as_str()) {
                    rejections.push((
                        Some(event_key(event_id, person_id)),
                        format!("`{ctx}.role` is not a role of the POLE profile"),
                        l.raw.get().to_owned(),
                    ));
                    continue;
                }
                let at = *part_of.entry((e, p)).or_insert_with(|| {
                    parts.push(Part {
                        event: e,
                        person_id: person_id.clone(),
                        links: Vec::new(),
                    });
                    parts.len() - 1
                });
                parts[at].links.push(l.index);
                continue;
            }
            match (from, to) {
                (End::Person(p), End::Location(_)) | (End::Location(_), End::Person(p)) => {
                    residences.entry(p).or_default().push(l.index);
                }
                (End::Unknown, other) | (other, End::Unknown) => {
                    let (side, missing) = if from == End::Unknown {
                        ("from", &link.from)
                    } else {
                        ("to", &link.to)
                    };
                    let key = match other {
                        End::Event(e) => self.event_id(e).map(|id| event_key(id, missing)),
                        _ => None,
                    };
                    rejections.push((
                        key,
                        format!(
                            "`{ctx}.{side}` names no person, event, location or object on the page"
                        ),
                        l.raw.get().to_owned(),
                    ));
                }
                // Objects, person-to-person and event-to-location links carry nothing the
                // hub takes from this feed.
                _ => {}
            }
        }
        for (key, reason, raw) in rejections {
            self.reject(key, reason, raw);
        }
        // Events in page order, then people in the order their links came.
        parts.sort_by_key(|p| (p.event, p.links.first().copied()));
        Sorted {
            parts,
            residences,
            linked,
        }
    }

    fn event_id(&self, e: usize) -> Option<&'a str> {
        self.events.get(e).and_then(|s| s.id)
    }

    fn persons_out(
        &mut self,
        residences: &BTreeMap<usize, Vec<usize>>,
        linked: &HashSet<(usize, usize)>,
    ) {
        let event_index: HashMap<&str, usize> = self
            .events
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.id.map(|id| (id, i)))
            .collect();
        for i in 0..self.persons.len() {
            let slot = &self.persons[i];
            let id = slot.id;
            // Current on this page? A person whose `last_event` is on a later page is emitted
            // there; one without `last_event` on every page that carries them.
            let current = match &slot.read {
                Ok(Person {
                    last_event: Some(ev),
                    ..
                }) => event_index
                    .get(ev.as_str())
                    .is_some_and(|&e| linked.contains(&(i, e))),
                _ => true,
            };
            if !current {
                continue;
            }
            let empty = Vec::new();
            let homes = residences.get(&i).unwrap_or(&empty);
            let raw = self.person_raw(i, homes);
            match self.person_record(i, homes) {
                Ok(identity) => {
                    let Some(id) = id else { continue };
                    self.out.records.push(SourceRecord {
                        source_key: person_key(id),
                        organisation: self.organisation.to_owned(),
                        subject: None,
                        identity,
                        facts: Vec::new(),
                        raw,
                    });
                }
                Err(reason) => {
                    let key = id.map(person_key);
                    self.reject(key, reason, raw);
                }
            }
        }
    }

    fn person_record(&self, i: usize, homes: &[usize]) -> Result<Identity, Reason> {
        let person = self.persons[i].read.as_ref().map_err(Clone::clone)?;
        let mut addresses = Vec::new();
        for &l in homes {
            let link = self.links[l].read.as_ref().map_err(Clone::clone)?;
            let loc_id = if self.end(&link.to) == End::Person(i) {
                &link.from
            } else {
                &link.to
            };
            let End::Location(at) = self.end(loc_id) else {
                continue;
            };
            let location = self.locations[at].read.as_ref().map_err(Clone::clone)?;
            addresses.push(address(location, link));
        }
        Ok(Identity {
            names: person.names.clone(),
            date_of_birth: person.dob,
            sex: person.sex.clone(),
            identifiers: person.pnc_id.clone().into_iter().collect(),
            addresses,
            relationships: Vec::new(),
        })
    }

    /// The person's bytes with those of their residence links and locations.
    fn person_raw(&self, i: usize, homes: &[usize]) -> String {
        let person = self.persons[i].raw.get();
        if homes.is_empty() {
            return person.to_owned();
        }
        let links: Vec<&str> = homes.iter().map(|&l| self.links[l].raw.get()).collect();
        let mut locations: Vec<&str> = Vec::new();
        for &l in homes {
            if let Ok(link) = &self.links[l].read {
                for id in [&link.from, &link.to] {
                    if let End::Location(at) = self.end(id) {
                        let raw = self.locations[at].raw.get();
                        if !locations.contains(&raw) {
                            locations.push(raw);
                        }
                    }
                }
            }
        }
        format!(
            "{{\"person\":{person},\"links\":[{}],\"locations\":[{}]}}",
            links.join(","),
            locations.join(",")
        )
    }

    fn parts_out(&mut self, parts: &[Part]) {
        for part in parts {
            let event_id = self.event_id(part.event).unwrap_or_default();
            let key = event_key(event_id, &part.person_id);
            let raw = self.part_raw(part);
            match self.part_record(part) {
                Ok(facts) => self.out.records.push(SourceRecord {
                    source_key: key,
                    organisation: self.organisation.to_owned(),
                    subject: Some(person_key(&part.person_id)),
                    identity: Identity::default(),
                    facts,
                    raw,
                }),
                Err(reason) => self.reject(Some(key), reason, raw),
            }
        }
    }

    fn part_record(&self, part: &Part) -> Result<Vec<SourceFact>, Reason> {
        let ev = &self.events[part.event];
        let event = ev.read.as_ref().map_err(Clone::clone)?;
        let End::Person(p) = self.end(&part.person_id) else {
            return Err(format!("no person on the page for `events[{}]`", ev.index));
        };
        let person = self.persons[p]
            .read
            .as_ref()
            .map_err(|_| format!("the person record `persons[{p}]` was rejected"))?;
        let postcode = match &event.location {
            None => None,
            Some(l) => match self.end(l) {
                End::Location(at) => {
                    let loc = self.locations[at].read.as_ref().map_err(Clone::clone)?;
                    loc.postcode.clone()
                }
                _ => {
                    return Err(format!(
                        "`events[{}].location` names no location on the page",
                        ev.index
                    ));
                }
            },
        };
        let adult = person.dob.map(|dob| {
            event
                .occurred_from
                .date_naive()
                .years_since(dob)
                .is_some_and(|years| years >= 18)
        });
        let mut facts: Vec<SourceFact> = Vec::new();
        for &l in &part.links {
            let Ok(link) = &self.links[l].read else {
                continue;
            };
            if facts.iter().any(|f| f.key == link.role) {
                continue;
            }
            let (category, kind) = vocabulary::classify(&event.event_type, &link.role, adult);
            let payload = payload(event, link, postcode.as_deref());
            let summary = vocabulary::summary(kind, &event.event_type, &link.role, &payload);
            facts.push(SourceFact {
                key: link.role.clone(),
                category: category.to_owned(),
                agency: None,
                kind: kind.to_owned(),
                occurred_at: event.occurred_from,
                summary,
                payload: Value::Object(payload),
            });
        }
        Ok(facts)
    }

    /// The event's bytes with those of the person's links to it and of its location.
    fn part_raw(&self, part: &Part) -> String {
        let ev = &self.events[part.event];
        let links: Vec<&str> = part
            .links
            .iter()
            .map(|&l| self.links[l].raw.get())
            .collect();
        let location = match &ev.read {
            Ok(Event {
                location: Some(l), ..
            }) => match self.end(l) {
                End::Location(at) => Some(self.locations[at].raw.get()),
                _ => None,
            },
            _ => None,
        };
        match location {
            Some(loc) => format!(
                "{{\"event\":{},\"links\":[{}],\"location\":{loc}}}",
                ev.raw.get(),
                links.join(",")
            ),
            None => format!(
                "{{\"event\":{},\"links\":[{}]}}",
                ev.raw.get(),
                links.join(",")
            ),
        }
    }
}

fn id_of_raw(raw: &RawValue) -> Option<&str> {
    // Cheap path first: most elements are objects whose id is a plain string.
    #[derive(Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        id: Option<&'a str>,
    }
    serde_json::from_str::<Id<'_>>(raw.get())
        .ok()
        .and_then(|i| i.id)
        .filter(|s| !s.trim().is_empty())
}

fn address(location: &Location, link: &Link) -> SourceAddress {
    let mut lines = location.lines.iter();
    let line1 = lines.next().cloned().unwrap_or_default();
    let rest: Vec<&str> = lines.map(String::as_str).collect();
    SourceAddress {
        line1,
        line2: (!rest.is_empty()).then(|| rest.join(", ")),
        town: location.town.clone(),
        postcode: location.postcode.clone().unwrap_or_default(),
        uprn: location.uprn.clone(),
        usage: link.usage.clone().unwrap_or_else(|| "home".into()),
        valid_from: link.valid_from,
        valid_to: link.valid_to,
    }
}

/// A fact's payload: the event's own fields under the hub's payload names, then the event's
/// and the link's details (the link's win: they are about this person).
fn payload(event: &Event, link: &Link, postcode: Option<&str>) -> Map<String, Value> {
    let mut p = Map::new();
    if let Some(r) = &event.reference {
        p.insert("eventRef".into(), Value::String(r.clone()));
    }
    p.insert("role".into(), Value::String(link.role.clone()));
    p.insert("eventType".into(), Value::String(event.event_type.clone()));
    p.insert(
        "occurredFrom".into(),
        Value::String(instant(event.occurred_from)),
    );
    if let Some(to) = event.occurred_to {
        p.insert("occurredTo".into(), Value::String(instant(to)));
    }
    if let Some(pc) = postcode {
        p.insert("postcode".into(), Value::String(pc.to_owned()));
    }
    for (k, v) in event.details.iter().chain(&link.details) {
        if !vocabulary::DERIVED_KEYS.contains(&k.as_str()) {
            p.insert(k.clone(), v.clone());
        }
    }
    p
}

/// An instant as the feed and payloads write it: RFC 3339 in UTC with `Z`.
pub fn instant(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
