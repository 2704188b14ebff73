//! Renders one page of the change log as Kinship POLE JSON: the events of the page's slots,
//! the persons they link to (each with `last_event`, their newest event), those persons'
//! residences, and the links between them. A person renders identically on every page.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use kinship_connector_sdk::{SourceAddress, SourceFact, SourceRecord};
use serde::Serialize;
use serde_json::{Map, Value};

use super::Log;
use crate::pole::{instant, vocabulary};

/// FNV-1a over the parts, each followed by a separator: a stable id for things the source
/// gives no id of their own (an address without a UPRN, a fact without a reference).
pub(super) fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0x1f]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[derive(Serialize)]
struct PageOut<'a> {
    persons: Vec<PersonOut<'a>>,
    objects: Vec<Value>,
    locations: Vec<LocationOut<'a>>,
    events: Vec<EventOut<'a>>,
    links: Vec<LinkOut<'a>>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct PersonOut<'a> {
    id: &'a str,
    pnc_id: Option<&'a str>,
    names: Vec<NameOut<'a>>,
    dob: Option<String>,
    sex: Option<&'a str>,
    last_event: Option<&'a str>,
}

#[derive(Serialize)]
struct NameOut<'a> {
    given: &'a str,
    family: &'a str,
    usage: &'a str,
}

#[derive(Serialize)]
struct LocationOut<'a> {
    id: String,
    uprn: Option<&'a str>,
    postcode: &'a str,
    address: AddressOut<'a>,
}

#[derive(Serialize)]
struct AddressOut<'a> {
    lines: Vec<&'a str>,
    town: &'a str,
}

#[derive(Serialize)]
struct EventOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: String,
    reference: Option<&'a str>,
    occurred_from: String,
    occurred_to: Option<String>,
    location: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    details: Map<String, Value>,
}

#[derive(Serialize)]
struct LinkOut<'a> {
    from: &'a str,
    to: String,
    role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_to: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    details: Map<String, Value>,
}

fn location_id(a: &SourceAddress) -> String {
    match a.uprn.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(uprn) => format!("L-{uprn}"),
        None => format!(
            "L-{:016x}",
            fnv(&[
                &a.line1,
                a.line2.as_deref().unwrap_or_default(),
                &a.town,
                &a.postcode
            ])
        ),
    }
}

fn location(a: &SourceAddress) -> LocationOut<'_> {
    LocationOut {
        id: location_id(a),
        uprn: a.uprn.as_deref(),
        postcode: &a.postcode,
        address: AddressOut {
            lines: std::iter::once(a.line1.as_str())
                .chain(a.line2.as_deref())
                .collect(),
            town: &a.town,
        },
    }
}

/// The page of at most `limit` events from slot `start`. `next_cursor` is the position after
/// the page whenever the page has events, and null when nothing follows `start`.
pub(super) fn page(log: &Log, start: usize, limit: usize) -> String {
    let mut i = start;
    let mut taken: Vec<usize> = Vec::new();
    while i < log.slots.len() && taken.len() < limit {
        if !log.slots[i].members.is_empty() {
            taken.push(i);
        }
        i += 1;
    }
    let mut out = PageOut {
        persons: Vec::new(),
        objects: Vec::new(),
        locations: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
        next_cursor: (!taken.is_empty()).then(|| i.to_string()),
    };
    let mut seen_persons = HashSet::new();
    let mut seen_locations = HashSet::new();
    let mut residences = Vec::new();
    for &s in &taken {
        for &(env, _) in &log.slots[s].members {
            if !seen_persons.insert(env) {
                continue;
            }
            let record = &log.envelopes[env as usize];
            out.persons.push(person(log, env, record));
            for a in &record.identity.addresses {
                let loc = location(a);
                residences.push(LinkOut {
                    from: &record.source_key,
                    to: loc.id.clone(),
                    role: vocabulary::RESIDENT.into(),
                    usage: (a.usage != "home").then_some(a.usage.as_str()),
                    valid_from: a.valid_from.map(|d| d.format("%Y-%m-%d").to_string()),
                    valid_to: a.valid_to.map(|d| d.format("%Y-%m-%d").to_string()),
                    details: Map::new(),
                });
                if seen_locations.insert(loc.id.clone()) {
                    out.locations.push(loc);
                }
            }
        }
    }
    for &s in &taken {
        event(log, s, &mut out, &mut seen_locations);
    }
    out.links.extend(residences);
    serde_json::to_string(&out).unwrap_or_default()
}

fn person<'a>(log: &'a Log, env: u32, record: &'a SourceRecord) -> PersonOut<'a> {
    let id = &record.identity;
    PersonOut {
        id: &record.source_key,
        pnc_id: id
            .identifiers
            .iter()
            .find(|i| i.system == "pnc_id")
            .map(|i| i.value.as_str()),
        names: id
            .names
            .iter()
            .map(|n| NameOut {
                given: &n.given,
                family: &n.family,
                usage: &n.usage,
            })
            .collect(),
        dob: id.date_of_birth.map(|d| d.format("%Y-%m-%d").to_string()),
        sex: id.sex.as_deref(),
        last_event: log.slots_of[env as usize]
            .last()
            .map(|&s| log.events[log.slots[s as usize].event as usize].id.as_str()),
    }
}

/// A payload's own fields, without those the event's structure carries.
fn own_fields(fact: &SourceFact) -> Map<String, Value> {
    fact.payload
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !vocabulary::DERIVED_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// When the event ended: the payload's `occurredTo`, or the end of a missing episode of
/// `durationHours`.
fn occurred_to(fact: &SourceFact) -> Option<DateTime<Utc>> {
    if let Some(t) = fact.payload.get("occurredTo").and_then(Value::as_str) {
        return DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc));
    }
    if fact.kind == vocabulary::kind::MISSING_EPISODE {
        let hours = fact.payload.get("durationHours").and_then(Value::as_i64)?;
        return fact
            .occurred_at
            .checked_add_signed(TimeDelta::try_hours(hours)?);
    }
    None
}

/// One slot: the event, with the details its members share, and a link per member carrying
/// the role and the details that are that member's own.
fn event<'a>(log: &'a Log, s: usize, out: &mut PageOut<'a>, seen_locations: &mut HashSet<String>) {
    let slot = &log.slots[s];
    let info = &log.events[slot.event as usize];
    let members: Vec<(&SourceRecord, &SourceFact)> = slot
        .members
        .iter()
        .filter_map(|&(e, f)| {
            let r = &log.envelopes[e as usize];
            r.facts.get(f as usize).map(|fact| (r, fact))
        })
        .collect();
    let Some(&(_, first)) = members.first() else {
        return;
    };
    let (event_type, _) = vocabulary::event_type_and_role(&first.kind, &first.payload);
    let own: Vec<Map<String, Value>> = members.iter().map(|(_, f)| own_fields(f)).collect();
    let shared: Map<String, Value> = own[0]
        .iter()
        .filter(|(k, v)| own.iter().all(|p| p.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // Domestic abuse happens at the household's address; other events name a place only
    // when the payload gives its postcode.
    let postcode = first.payload.get("postcode").and_then(Value::as_str);
    let place = members
        .iter()
        .flat_map(|(r, _)| &r.identity.addresses)
        .find(|a| match postcode {
            Some(pc) => a.postcode == pc,
            None => event_type == "domestic_abuse" && a.usage == "home",
        });
    let location_id = place.map(|a| {
        let loc = location(a);
        let id = loc.id.clone();
        if seen_locations.insert(id.clone()) {
            out.locations.push(loc);
        }
        id
    });
    out.events.push(EventOut {
        id: &info.id,
        event_type,
        reference: info.reference.as_deref(),
        occurred_from: instant(info.occurred_at),
        occurred_to: occurred_to(first).map(instant),
        location: location_id,
        details: shared.clone(),
    });
    for ((record, fact), mut details) in members.into_iter().zip(own) {
        details.retain(|k, _| !shared.contains_key(k));
        let (_, role) = vocabulary::event_type_and_role(&fact.kind, &fact.payload);
        out.links.push(LinkOut {
            from: &record.source_key,
            to: info.id.clone(),
            role,
            usage: None,
            valid_from: None,
            valid_to: None,
            details,
        });
    }
}
