//! A loopback FHIR R4 server over hub envelopes: the demo's and the tests' health feed.
//!
//! It holds the envelopes and a per-type index of `(lastUpdated, envelope, slot)` keys, and
//! renders resources only when a page asks for them (see `render`), so a million resources cost
//! the envelopes plus sixteen bytes each.
//!
//! - `GET /metadata`: a minimal CapabilityStatement.
//! - `GET /{Type}?_lastUpdated=ge{instant}&_sort=_lastUpdated&_count={n}`: a searchset Bundle,
//!   oldest first; `link[next]` carries `_page={lastUpdated}.{envelope}.{slot}`, the key of
//!   the last entry, so a next link stays valid (and skips nothing) while records change.
//! - [`Feed::upsert`] stamps every resource of a changed envelope (and of envelopes whose
//!   RelatedPersons render it) with a fresh `lastUpdated`, later than any before, and a new
//!   `versionId`.
//!
//! Times: a fact's resource is last updated when the fact occurred; a Patient or
//! RelatedPerson when its latest fact did (or, with no facts, at a time spread over its birth
//! date), until an upsert.
//!
//! Limits: answers only the searches the connector makes; errors are OperationOutcomes.

mod render;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{NaiveDate, NaiveTime, Utc};
use kinship_connector_sdk::SourceRecord;
use serde_json::{Value, json};

use crate::codes::ResourceType;

/// The page size when a search names none, and the largest it may name.
const DEFAULT_COUNT: usize = 100;
const MAX_COUNT: usize = 1000;

/// Where a resource sits in its type's order: `(lastUpdated ms, envelope, slot)`, the slot
/// being 0 for a Patient, the relationship index for a RelatedPerson and the fact index for
/// the others.
type Key = (i64, u32, u32);

/// A FHIR server over envelopes. Clones share state.
#[derive(Clone)]
pub struct Feed {
    inner: Arc<RwLock<Store>>,
}

struct Envelope {
    record: SourceRecord,
    /// Set by an upsert: every resource of the envelope was last updated then.
    stamp: Option<i64>,
    version: u32,
}

#[derive(Default)]
struct Store {
    envelopes: Vec<Envelope>,
    by_key: HashMap<String, u32>,
    index: [BTreeSet<Key>; 5],
    /// The latest `lastUpdated` in the index, so upserts always stamp later.
    high: i64,
}

impl Store {
    fn ix(n: usize) -> u32 {
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// When an envelope's identity resources were last updated, before any upsert.
    fn record_time(e: u32, record: &SourceRecord) -> i64 {
        if let Some(t) = record.facts.iter().map(|f| f.occurred_at).max() {
            return t.timestamp_millis();
        }
        // Spread fact-less records over their day (or an arbitrary day) so few share an
        // instant: the connector's mark lists the ids seen at exactly its instant.
        let day = record
            .identity
            .date_of_birth
            .or_else(|| NaiveDate::from_ymd_opt(2000, 1, 1))
            .unwrap_or_default();
        day.and_time(NaiveTime::MIN).and_utc().timestamp_millis() + i64::from(e % 86_400) * 1000
    }

    /// The index keys of an envelope's resources, by type.
    fn keys(&self, e: u32) -> Vec<(ResourceType, Key)> {
        let Some(env) = self.envelopes.get(e as usize) else {
            return Vec::new();
        };
        let record = &env.record;
        let base = env.stamp.unwrap_or_else(|| Self::record_time(e, record));
        let mut out = Vec::new();
        if render::has_patient(record) {
            out.push((ResourceType::Patient, (base, e, 0)));
            let mut related = HashSet::new();
            for (k, rel) in record.identity.relationships.iter().enumerate() {
                // One RelatedPerson per related record, and only for records this feed
                // holds: it renders their identity.
                if render::relationship_renders(rel)
                    && rel.related_key != record.source_key
                    && self.by_key.contains_key(&rel.related_key)
                    && related.insert(rel.related_key.as_str())
                {
                    out.push((ResourceType::RelatedPerson, (base, e, Self::ix(k))));
                }
            }
        }
        for (k, fact) in record.facts.iter().enumerate() {
            if let Some(ty) = render::resource_type(fact) {
                let t = env
                    .stamp
                    .unwrap_or_else(|| fact.occurred_at.timestamp_millis());
                out.push((ty, (t, e, Self::ix(k))));
            }
        }
        out
    }

    fn insert_keys(&mut self, e: u32) {
        for (ty, key) in self.keys(e) {
            self.high = self.high.max(key.0);
            self.index[ty.index()].insert(key);
        }
    }

    fn remove_keys(&mut self, e: u32) {
        for (ty, key) in self.keys(e) {
            self.index[ty.index()].remove(&key);
        }
    }

    /// A `lastUpdated` later than every one handed out, and no earlier than now.
    fn next_stamp(&mut self) -> i64 {
        let stamp = Utc::now().timestamp_millis().max(self.high + 1);
        self.high = stamp;
        stamp
    }

    /// Renders the resource at `key` of type `ty`.
    fn render(&self, ty: ResourceType, (t, e, slot): Key) -> Option<Value> {
        let env = self.envelopes.get(e as usize)?;
        let record = &env.record;
        let v = env.version;
        let k = slot as usize;
        match ty {
            ResourceType::Patient => Some(render::patient(record, v, t)),
            ResourceType::RelatedPerson => {
                let rel = record.identity.relationships.get(k)?;
                let related = self.by_key.get(&rel.related_key)?;
                let related = &self.envelopes.get(*related as usize)?.record.identity;
                Some(render::related_person(record, rel, related, v, t))
            }
            ResourceType::Encounter => render::encounter(record, k, v, t),
            ResourceType::Condition => render::condition(record, k, v, t),
            ResourceType::Flag => render::flag(record, k, v, t),
        }
    }
}

impl Feed {
    /// A feed holding these envelopes (one per organisation and person, identity + facts, as
    /// the hub's population makes them), rendered as FHIR resources on request. A source key
    /// given twice keeps the later envelope.
    pub fn new(records: Vec<SourceRecord>) -> Self {
        let mut store = Store::default();
        for mut record in records {
            // The feed renders its own bytes; the envelope's are not needed.
            record.raw = String::new();
            match store.by_key.get(&record.source_key) {
                Some(&e) => store.envelopes[e as usize].record = record,
                None => {
                    let e = Store::ix(store.envelopes.len());
                    store.by_key.insert(record.source_key.clone(), e);
                    store.envelopes.push(Envelope {
                        record,
                        stamp: None,
                        version: 1,
                    });
                }
            }
        }
        for e in 0..store.envelopes.len() {
            store.insert_keys(Store::ix(e));
        }
        Self {
            inner: Arc::new(RwLock::new(store)),
        }
    }

    /// Adds or replaces envelopes by source key, as the trust's system would when a record
    /// changes: every resource of a changed envelope, and of each envelope whose
    /// RelatedPersons render it, gets a new `versionId` and a `lastUpdated` later than any
    /// before, so an incremental sync sees exactly these.
    pub fn upsert(&self, records: Vec<SourceRecord>) {
        let mut store = self.write();
        let keys: HashSet<&str> = records.iter().map(|r| r.source_key.as_str()).collect();
        let mut touched: BTreeSet<u32> = keys
            .iter()
            .filter_map(|k| store.by_key.get(*k).copied())
            .collect();
        for (e, env) in store.envelopes.iter().enumerate() {
            if env
                .record
                .identity
                .relationships
                .iter()
                .any(|r| keys.contains(r.related_key.as_str()))
            {
                touched.insert(Store::ix(e));
            }
        }
        // Keys depend on the related envelopes too: take them out before anything changes.
        for &e in &touched {
            store.remove_keys(e);
        }
        let mut added = Vec::new();
        for mut record in records {
            record.raw = String::new();
            match store.by_key.get(&record.source_key).copied() {
                Some(e) => store.envelopes[e as usize].record = record,
                None => {
                    let e = Store::ix(store.envelopes.len());
                    store.by_key.insert(record.source_key.clone(), e);
                    store.envelopes.push(Envelope {
                        record,
                        stamp: None,
                        version: 0,
                    });
                    added.push(e);
                }
            }
        }
        touched.extend(added);
        for &e in &touched {
            let stamp = store.next_stamp();
            if let Some(env) = store.envelopes.get_mut(e as usize) {
                env.stamp = Some(stamp);
                env.version += 1;
            }
            store.insert_keys(e);
        }
    }

    /// The ODS code → organisation kind table of the envelopes held, for the connector's
    /// `organisation_kinds`.
    pub fn organisation_kinds(&self) -> BTreeMap<String, String> {
        let store = self.read();
        let mut out = BTreeMap::new();
        for env in &store.envelopes {
            if let Some((kind, code)) = env.record.organisation.split_once(':') {
                out.insert(code.to_owned(), kind.to_owned());
            }
        }
        out
    }

    /// The router serving `/metadata` and `/{Type}` searches.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/metadata", get(metadata))
            .route("/{resource}", get(search))
            .with_state(self.clone())
    }

    fn read(&self) -> RwLockReadGuard<'_, Store> {
        // A panic while holding the lock leaves consistent data (every write completes its
        // index update before returning), so a poisoned lock is still readable.
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The FHIR id of the Patient the feed renders for the envelope with this source key: the
/// connector delivers it as `Patient/{id}`.
pub fn patient_id(source_key: &str) -> String {
    render::fhir_id(source_key)
}

fn fhir_json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/fhir+json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn outcome(status: StatusCode, code: &str, diagnostics: &str) -> Response {
    fhir_json(
        status,
        &json!({
            "resourceType": "OperationOutcome",
            "issue": [{ "severity": "error", "code": code, "diagnostics": diagnostics }],
        }),
    )
}

async fn metadata() -> Response {
    let resources: Vec<Value> = ResourceType::ALL
        .iter()
        .map(|t| {
            json!({
                "type": t.as_str(),
                "interaction": [{ "code": "read" }, { "code": "search-type" }],
                "searchParam": [{ "name": "_lastUpdated", "type": "date" }],
            })
        })
        .collect();
    fhir_json(
        StatusCode::OK,
        &json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2025-01-01",
            "kind": "instance",
            "software": { "name": "Kinship health feed", "version": env!("CARGO_PKG_VERSION") },
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json"],
            "rest": [{ "mode": "server", "resource": resources }],
        }),
    )
}

/// What a search asked for.
struct Search {
    since: Option<i64>,
    count: usize,
    after: Option<Key>,
    last_updated: Vec<String>,
}

fn parse_search(params: &[(String, String)]) -> Result<Search, &'static str> {
    let mut s = Search {
        since: None,
        count: DEFAULT_COUNT,
        after: None,
        last_updated: Vec::new(),
    };
    for (name, value) in params {
        match name.as_str() {
            "_lastUpdated" => {
                let (inclusive, instant) = if let Some(v) = value.strip_prefix("ge") {
                    (true, v)
                } else if let Some(v) = value.strip_prefix("gt") {
                    (false, v)
                } else {
                    return Err("_lastUpdated supports only the ge and gt prefixes");
                };
                let ms = match crate::parse::instant(instant) {
                    Some(t) => t.timestamp_millis(),
                    None => NaiveDate::parse_from_str(instant, "%Y-%m-%d")
                        .map_err(|_| "_lastUpdated is not a date or instant")?
                        .and_time(NaiveTime::MIN)
                        .and_utc()
                        .timestamp_millis(),
                };
                let ms = if inclusive { ms } else { ms + 1 };
                s.since = Some(s.since.map_or(ms, |prev| prev.max(ms)));
                s.last_updated.push(value.clone());
            }
            "_sort" if value != "_lastUpdated" => {
                return Err("only _sort=_lastUpdated is supported");
            }
            "_count" => {
                let n: usize = value.parse().map_err(|_| "_count is not a number")?;
                s.count = n.clamp(1, MAX_COUNT);
            }
            "_page" => {
                let mut parts = value.split('.');
                let key = (|| {
                    let t = parts.next()?.parse().ok()?;
                    let e = parts.next()?.parse().ok()?;
                    let slot = parts.next()?.parse().ok()?;
                    parts.next().is_none().then_some((t, e, slot))
                })();
                s.after = Some(key.ok_or("_page is not a page token of this server")?);
            }
            _ => {}
        }
    }
    Ok(s)
}

async fn search(
    State(feed): State<Feed>,
    Path(resource): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let Some(ty) = ResourceType::parse(&resource) else {
        return outcome(
            StatusCode::NOT_FOUND,
            "not-supported",
            "resource type not served",
        );
    };
    let s = match parse_search(&params) {
        Ok(s) => s,
        Err(why) => return outcome(StatusCode::BAD_REQUEST, "invalid", why),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    // Links name the path the client asked for, so the feed also works nested under a
    // prefix (`/health/Patient`).
    let prefix = uri
        .path()
        .strip_suffix(&format!("/{resource}"))
        .unwrap_or_default();
    let Ok(base) = reqwest::Url::parse(&format!("http://{host}{prefix}/")) else {
        return outcome(StatusCode::BAD_REQUEST, "invalid", "Host is not a host");
    };
    let since = s.since.unwrap_or(i64::MIN);
    let lower = match s.after {
        Some(after) => Bound::Excluded(after),
        None => Bound::Included((since, 0, 0)),
    };
    let store = feed.read();
    let mut page: Vec<Key> = store.index[ty.index()]
        .range((lower, Bound::Unbounded))
        .filter(|k| k.0 >= since)
        .take(s.count + 1)
        .copied()
        .collect();
    let more = page.len() > s.count;
    page.truncate(s.count);
    let url_of = |page_token: Option<Key>| {
        let mut url = base.clone();
        url.set_path(&format!("{prefix}/{}", ty.as_str()));
        {
            let mut q = url.query_pairs_mut();
            for v in &s.last_updated {
                q.append_pair("_lastUpdated", v);
            }
            q.append_pair("_sort", "_lastUpdated");
            q.append_pair("_count", &s.count.to_string());
            if let Some((t, e, slot)) = page_token {
                q.append_pair("_page", &format!("{t}.{e}.{slot}"));
            }
        }
        String::from(url)
    };
    let entries: Vec<Value> = page
        .iter()
        .filter_map(|key| {
            let resource = store.render(ty, *key)?;
            let id = resource.get("id")?.as_str()?.to_owned();
            let mut full = base.clone();
            full.set_path(&format!("{prefix}/{}/{id}", ty.as_str()));
            Some(json!({
                "fullUrl": String::from(full),
                "resource": resource,
                "search": { "mode": "match" },
            }))
        })
        .collect();
    let mut links = vec![json!({ "relation": "self", "url": url_of(s.after) })];
    if more && let Some(last) = page.last() {
        links.push(json!({ "relation": "next", "url": url_of(Some(*last)) }));
    }
    drop(store);
    fhir_json(
        StatusCode::OK,
        &json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "link": links,
            "entry": entries,
        }),
    )
}
