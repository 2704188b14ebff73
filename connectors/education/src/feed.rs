//! A loopback CTF file service over hub envelopes: the demo's and the tests' education feed.
//!
//! Envelopes are grouped by school into files of up to [`PUPILS_PER_FILE`] pupils (each with
//! its contacts), named `{sequence:08}_{LAESTAB}_CTF_{destination}.xml` so that name order is
//! delivery order. Pupils whose enrolment says their destination is unknown go in files to the
//! lost pupils database (`MMM`/`MMMM`). [`Feed::upsert`] issues new files holding only the
//! changed pupils (and pupils whose contacts changed), with later names, as a school's MIS
//! would send a new transfer; earlier files keep the versions they were issued with.
//!
//! Files are planned (which record goes where) up front but rendered only when requested,
//! so the feed holds the envelopes and a few integers per pupil.
//!
//! URLs: `GET /files?after={name}&limit={n}` → `{"files": [...]}` sorted by name;
//! `GET /files/{name}` → the XML.
//!
//! Limits: no deletions (CTF has none); records whose organisation is not `school:{LAESTAB}`
//! are not served.

mod plan;
mod render;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State as Shared};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SubsecRound, Utc};
use kinship_connector_sdk::SourceRecord;
use serde::Deserialize;

use plan::PupilPlan;

/// How many pupils a file holds at most.
pub const PUPILS_PER_FILE: usize = 200;

/// How many names one listing returns at most, whatever `limit` asks.
const MAX_LISTING: usize = 10_000;

/// A file, planned: what it holds, rendered on request.
struct FileSpec {
    name: String,
    laestab: String,
    destination_unknown: bool,
    issued: DateTime<Utc>,
    pupils: Vec<PupilPlan>,
}

struct State {
    /// Every version of every envelope, append-only: a file points at the versions it was
    /// issued with.
    versions: Vec<SourceRecord>,
    /// Source key → its latest version.
    latest: HashMap<String, u32>,
    /// In name order, which is issue order.
    files: Vec<FileSpec>,
    next_sequence: u64,
    pupils_per_file: usize,
}

impl State {
    fn record(&self, i: u32) -> Option<&SourceRecord> {
        usize::try_from(i).ok().and_then(|i| self.versions.get(i))
    }

    /// Appends envelopes as new versions, returning their indices.
    fn add(&mut self, records: Vec<SourceRecord>) -> Vec<u32> {
        let mut added = Vec::with_capacity(records.len());
        for r in records {
            let i = u32::try_from(self.versions.len()).unwrap_or(u32::MAX);
            self.latest.insert(r.source_key.clone(), i);
            self.versions.push(r);
            added.push(i);
        }
        added
    }

    /// The latest versions of the given schools' envelopes, per school, in version order.
    fn schools(&self, only: Option<&HashSet<String>>) -> BTreeMap<String, Vec<u32>> {
        let mut latest: Vec<u32> = self.latest.values().copied().collect();
        latest.sort_unstable();
        let mut by_school: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for i in latest {
            let Some(r) = self.record(i) else { continue };
            let Some(laestab) = plan::laestab(&r.organisation) else {
                continue;
            };
            if only.is_none_or(|o| o.contains(laestab)) {
                by_school.entry(laestab.to_owned()).or_default().push(i);
            }
        }
        by_school
    }

    /// Issues files for these pupils of one school.
    fn issue(&mut self, laestab: &str, pupils: Vec<PupilPlan>, issued: DateTime<Utc>) {
        let (lost, known): (Vec<PupilPlan>, Vec<PupilPlan>) = pupils
            .into_iter()
            .partition(|p| self.record(p.record).is_some_and(plan::destination_unknown));
        for (destination_unknown, group) in [(false, known), (true, lost)] {
            let mut group = group.into_iter().peekable();
            while group.peek().is_some() {
                let chunk: Vec<PupilPlan> = group.by_ref().take(self.pupils_per_file).collect();
                let destination = if destination_unknown {
                    "MMMMMMM".to_owned()
                } else {
                    format!("{}0000", laestab.get(..3).unwrap_or(laestab))
                };
                let name = format!("{:08}_{laestab}_CTF_{destination}.xml", self.next_sequence);
                self.next_sequence += 1;
                self.files.push(FileSpec {
                    name,
                    laestab: laestab.to_owned(),
                    destination_unknown,
                    issued,
                    pupils: chunk,
                });
            }
        }
    }

    fn render(&self, file: &FileSpec) -> String {
        render::file(
            &render::HeaderInfo {
                laestab: &file.laestab,
                destination_unknown: file.destination_unknown,
                issued: file.issued,
            },
            &file.pupils,
            &|i| self.record(i),
        )
    }

    fn file(&self, name: &str) -> Option<&FileSpec> {
        self.files
            .binary_search_by(|f| f.name.as_str().cmp(name))
            .ok()
            .and_then(|i| self.files.get(i))
    }
}

/// The feed: envelopes served as Common Transfer Files. Clones share state.
#[derive(Clone)]
pub struct Feed {
    state: Arc<RwLock<State>>,
}

impl Feed {
    /// A feed holding these envelopes (as the hub's population makes them: one per school and
    /// person, identity + facts), in files of up to [`PUPILS_PER_FILE`] pupils.
    pub fn new(records: Vec<SourceRecord>) -> Self {
        Self::with_pupils_per_file(records, PUPILS_PER_FILE)
    }

    /// As [`Feed::new`], with files of up to `pupils_per_file` pupils (at least one).
    pub fn with_pupils_per_file(records: Vec<SourceRecord>, pupils_per_file: usize) -> Self {
        let mut state = State {
            versions: Vec::with_capacity(records.len()),
            latest: HashMap::with_capacity(records.len()),
            files: Vec::new(),
            next_sequence: 1,
            pupils_per_file: pupils_per_file.max(1),
        };
        state.add(records);
        let issued = Utc::now().trunc_subsecs(0);
        for (laestab, records) in state.schools(None) {
            let pupils = plan::school(&state.versions, &records);
            state.issue(&laestab, pupils, issued);
        }
        Self {
            state: Arc::new(RwLock::new(state)),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while rendering leaves the state as it was: keep serving.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds or replaces records by source key, as a school's MIS would when a record changes:
    /// the changed pupils, and the pupils whose contacts changed, are re-issued in new files
    /// with later names, so an incremental sync sees exactly these.
    pub fn upsert(&self, records: Vec<SourceRecord>) {
        let mut state = self.write();
        let changed: HashSet<String> = records.iter().map(|r| r.source_key.clone()).collect();
        let schools: HashSet<String> = records
            .iter()
            .filter_map(|r| plan::laestab(&r.organisation).map(str::to_owned))
            .collect();
        state.add(records);
        let issued = Utc::now().trunc_subsecs(0);
        for (laestab, records) in state.schools(Some(&schools)) {
            let pupils: Vec<PupilPlan> = plan::school(&state.versions, &records)
                .into_iter()
                .filter(|p| {
                    std::iter::once(p.record)
                        .chain(p.contacts.iter().map(|c| c.record))
                        .any(|i| {
                            state
                                .record(i)
                                .is_some_and(|r| changed.contains(&r.source_key))
                        })
                })
                .collect();
            state.issue(&laestab, pupils, issued);
        }
    }

    /// Every file name, in delivery order.
    pub fn file_names(&self) -> Vec<String> {
        self.read().files.iter().map(|f| f.name.clone()).collect()
    }

    /// One file's XML, rendered now.
    pub fn render(&self, name: &str) -> Option<String> {
        let state = self.read();
        state.file(name).map(|f| state.render(f))
    }

    /// The axum router serving the file listing and the files.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/files", get(list))
            .route("/files/{name}", get(file))
            .with_state(self.clone())
    }
}

/// Writes every file of the feed into `folder` (created if missing), for folder-mode tests.
/// Blocking: call it from a test or `spawn_blocking`.
pub fn write_folder(feed: &Feed, folder: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    for name in feed.file_names() {
        if let Some(xml) = feed.render(&name) {
            std::fs::write(folder.join(&name), xml)?;
        }
    }
    Ok(())
}

/// The listing's query.
#[derive(Deserialize)]
struct ListQuery {
    /// Only names after this one.
    after: Option<String>,
    /// At most this many names (100 when absent).
    limit: Option<usize>,
}

async fn list(Shared(feed): Shared<Feed>, Query(q): Query<ListQuery>) -> Response {
    let state = feed.read();
    let from = match &q.after {
        Some(after) => state
            .files
            .partition_point(|f| f.name.as_str() <= after.as_str()),
        None => 0,
    };
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LISTING);
    let files: Vec<&str> = state
        .files
        .iter()
        .skip(from)
        .take(limit)
        .map(|f| f.name.as_str())
        .collect();
    axum::Json(serde_json::json!({ "files": files })).into_response()
}

async fn file(Shared(feed): Shared<Feed>, UrlPath(name): UrlPath<String>) -> Response {
    match feed.render(&name) {
        Some(xml) => ([(header::CONTENT_TYPE, "application/xml")], xml).into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn fixture_records() -> Vec<SourceRecord> {
        parse::document(include_str!(
            "../tests/fixtures/0001_9992001_CTF_9994001.xml"
        ))
        .records
    }

    #[test]
    fn files_are_named_in_delivery_order_and_hold_pupils_with_contacts() {
        let feed = Feed::with_pupils_per_file(fixture_records(), 2);
        let names = feed.file_names();
        assert_eq!(
            names,
            vec![
                "00000001_9992001_CTF_9990000.xml",
                "00000002_9992001_CTF_9990000.xml"
            ]
        );
        let first = parse::document(&feed.render(&names[0]).expect("file"));
        assert!(first.rejected.is_empty(), "{:?}", first.rejected);
        let pupils = first.records.iter().filter(|r| !r.facts.is_empty()).count();
        assert_eq!(pupils, 2);
        assert!(first.records.len() > 2, "contacts come with their pupils");
    }

    #[test]
    fn an_upsert_reissues_only_the_changed_pupils_in_a_later_file() {
        let records = fixture_records();
        let feed = Feed::new(records.clone());
        let before = feed.file_names();
        // A contact changes: its pupil is re-issued with it.
        let mut mother = records
            .iter()
            .find(|r| r.source_key.ends_with("D999200118007:contact:1"))
            .cloned()
            .expect("contact");
        mother.identity.names[0].family = "Hollis".into();
        feed.upsert(vec![mother]);
        let after = feed.file_names();
        assert_eq!(after.len(), before.len() + 1);
        assert!(after.last() > before.last());
        let reissued = parse::document(&feed.render(after.last().expect("new")).expect("file"));
        let pupils: Vec<&str> = reissued
            .records
            .iter()
            .filter(|r| !r.facts.is_empty())
            .map(|r| r.source_key.as_str())
            .collect();
        assert_eq!(pupils, vec!["ctf:9992001:D999200118007"]);
        let old = parse::document(&feed.render(&before[0]).expect("old file"));
        assert!(
            old.records.iter().all(|r| r
                .identity
                .names
                .iter()
                .all(|n| n.family != "Hollis" || n.given != "Claire")),
            "issued files keep the versions they were issued with"
        );
    }

    #[test]
    fn adults_related_to_no_pupil_become_contacts_at_their_home() {
        let mut records = fixture_records();
        for r in &mut records {
            r.identity.relationships.clear();
        }
        let feed = Feed::new(records);
        let name = feed.file_names().remove(0);
        let xml = feed.render(&name).expect("file");
        assert!(xml.contains("<Relationship>OTH</Relationship>"));
        let parsed = parse::document(&xml);
        assert!(parsed.rejected.is_empty());
        assert!(
            parsed.records.iter().any(
                |r| r.source_key.ends_with(":contact:1") && r.identity.relationships.is_empty()
            )
        );
    }
}
