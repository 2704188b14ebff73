//! A loopback POLE feed (feature `feed`): serves the hub's envelopes as a force's incident
//! feed in the Kinship profile, for the demo and the tests.
//!
//! Each envelope (one person's record at the police, identity plus facts) is a person; each
//! fact is that person's part in an event. Facts of several envelopes with the same
//! `eventRef`, kind and time are one event with several links, so a household incident is one
//! event. The feed keeps a change log of *slots*, each an event with the members (envelope,
//! fact) it carries; the cursor is a slot's index, so it stays valid as the log grows.
//! [`Feed::upsert`] moves the upserted persons' parts to new slots at the end, as a police
//! system's change feed would, and each person's `last_event` follows their newest slot, so
//! an incremental sync sees exactly the upserted persons and their parts. Pages are rendered
//! per request; per record the feed keeps only the envelope and a few indices.
//!
//! Routes: `GET /pole/events?cursor={c}&limit={n}` and `GET /pole/health`.
//!
//! Limits: persons are served through their events, so an envelope without facts is never
//! served; identifiers other than the PNC ID and relationships are not part of the profile.

mod render;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use kinship_connector_sdk::SourceRecord;
use serde::Deserialize;

/// The page size when a request names none.
const DEFAULT_LIMIT: usize = 200;
/// The most events one page serves.
const MAX_LIMIT: usize = 1000;

/// The feed. Clones share state.
#[derive(Clone)]
pub struct Feed {
    state: Arc<RwLock<Log>>,
}

/// An event: the identity shared by the parts of several persons.
struct EventInfo {
    id: String,
    reference: Option<String>,
    occurred_at: DateTime<Utc>,
}

/// One entry of the change log: an event with the parts it carries at this position. A slot
/// whose parts all moved on is a tombstone and is skipped.
struct Slot {
    event: u32,
    /// (envelope, fact) indices.
    members: Vec<(u32, u32)>,
}

/// The state behind the feed.
#[derive(Default)]
struct Log {
    envelopes: Vec<SourceRecord>,
    by_key: HashMap<String, u32>,
    /// The slots holding each envelope's parts, in log order.
    slots_of: Vec<Vec<u32>>,
    events: Vec<EventInfo>,
    /// (reference or a per-fact stand-in, kind, occurred_at) to event.
    groups: HashMap<(String, String, i64), u32>,
    event_ids: HashMap<String, u32>,
    slots: Vec<Slot>,
}

impl Feed {
    /// A feed holding these envelopes (one per organisation and person, identity plus
    /// facts), their events in the order they occurred.
    pub fn new(records: Vec<SourceRecord>) -> Self {
        let feed = Self {
            state: Arc::new(RwLock::new(Log::default())),
        };
        feed.upsert(records);
        feed
    }

    /// Adds or replaces envelopes by source key, as the force's system would when a record
    /// changes: their parts in events move to the end of the change log, so an incremental
    /// sync sees exactly these persons and their parts.
    pub fn upsert(&self, records: Vec<SourceRecord>) {
        let mut log = self.state.write().unwrap_or_else(PoisonError::into_inner);
        log.upsert(records);
    }

    /// How many live events the log holds (each counted once per slot it is served in).
    pub fn len(&self) -> usize {
        let log = self.state.read().unwrap_or_else(PoisonError::into_inner);
        log.slots.iter().filter(|s| !s.members.is_empty()).count()
    }

    /// Whether the feed serves no events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The page after `cursor` (from the start when `None`) with at most `limit` events, as
    /// the feed serves it; `None` when the cursor is not one the feed hands out.
    pub fn page(&self, cursor: Option<&str>, limit: usize) -> Option<String> {
        let start = match cursor {
            None => 0,
            Some(c) => c.trim().parse::<usize>().ok()?,
        };
        let log = self.state.read().unwrap_or_else(PoisonError::into_inner);
        Some(render::page(&log, start, limit.clamp(1, MAX_LIMIT)))
    }

    /// The axum router serving the feed.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/pole/health", get(health))
            .route("/pole/events", get(events))
            .with_state(self.clone())
    }
}

impl Log {
    fn upsert(&mut self, records: Vec<SourceRecord>) {
        let mut moved: Vec<(u32, Vec<(u32, u32)>)> = Vec::new();
        let mut moved_at: HashMap<u32, usize> = HashMap::new();
        let mut in_batch: HashSet<u32> = HashSet::with_capacity(records.len());
        for record in records {
            let env = self.place(record);
            if !in_batch.insert(env) {
                // The same key twice in one call: the later record wins, as a later write
                // would, so the earlier one's parts are dropped (rare, so a scan is fine).
                for (_, members) in &mut moved {
                    members.retain(|&(e, _)| e != env);
                }
            }
            let facts = self.envelopes[env as usize].facts.len();
            for f in 0..facts {
                let Ok(f) = u32::try_from(f) else { break };
                let event = self.event_for(env, f);
                let i = *moved_at.entry(event).or_insert_with(|| {
                    moved.push((event, Vec::new()));
                    moved.len() - 1
                });
                moved[i].1.push((env, f));
            }
        }
        moved.retain(|(_, members)| !members.is_empty());
        // Appended in the order the events occurred, ties in the order they were met.
        moved.sort_by_key(|(e, _)| self.events[*e as usize].occurred_at);
        for (event, members) in moved {
            let Ok(slot) = u32::try_from(self.slots.len()) else {
                break;
            };
            for &(env, _) in &members {
                let list = &mut self.slots_of[env as usize];
                if list.last() != Some(&slot) {
                    list.push(slot);
                }
            }
            self.slots.push(Slot { event, members });
        }
    }

    /// Stores an envelope (replacing one with its key) and takes its parts out of the slots
    /// that held them.
    fn place(&mut self, record: SourceRecord) -> u32 {
        if let Some(&env) = self.by_key.get(&record.source_key) {
            for &s in &self.slots_of[env as usize] {
                self.slots[s as usize].members.retain(|&(e, _)| e != env);
            }
            self.slots_of[env as usize].clear();
            self.envelopes[env as usize] = record;
            return env;
        }
        let env = u32::try_from(self.envelopes.len()).unwrap_or(u32::MAX);
        self.by_key.insert(record.source_key.clone(), env);
        self.envelopes.push(record);
        self.slots_of.push(Vec::new());
        env
    }

    /// The event a fact is a part of: facts with the same reference, kind and time are one
    /// event; a fact without a reference is an event of its own.
    fn event_for(&mut self, env: u32, fact: u32) -> u32 {
        let record = &self.envelopes[env as usize];
        let Some(f) = record.facts.get(fact as usize) else {
            return 0;
        };
        let reference = f
            .payload
            .get("eventRef")
            .and_then(|r| r.as_str())
            .filter(|r| !r.trim().is_empty())
            .map(str::to_owned);
        let stand_in = || format!("\u{1f}{}\u{1f}{}", record.source_key, f.key);
        let group = (
            reference.clone().unwrap_or_else(stand_in),
            f.kind.clone(),
            f.occurred_at.timestamp_millis(),
        );
        if let Some(&e) = self.groups.get(&group) {
            return e;
        }
        let base = match &reference {
            Some(r) => r.clone(),
            None => format!("EV-{:016x}", render::fnv(&[&record.source_key, &f.key])),
        };
        let mut id = base.clone();
        let mut n = 2;
        while self.event_ids.contains_key(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        let e = u32::try_from(self.events.len()).unwrap_or(u32::MAX);
        self.events.push(EventInfo {
            id: id.clone(),
            reference,
            occurred_at: f.occurred_at,
        });
        self.event_ids.insert(id, e);
        self.groups.insert(group, e);
        e
    }
}

/// The query of an events request.
#[derive(Deserialize)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

async fn health() -> Response {
    json_response(
        StatusCode::OK,
        format!("{{\"status\":\"ok\",\"profile\":\"{}\"}}", crate::PROFILE),
    )
}

async fn events(State(feed): State<Feed>, Query(q): Query<PageQuery>) -> Response {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    match feed.page(q.cursor.as_deref(), limit) {
        Some(body) => json_response(StatusCode::OK, body),
        None => json_response(
            StatusCode::BAD_REQUEST,
            "{\"error\":\"`cursor` is not a cursor this feed handed out\"}".into(),
        ),
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
