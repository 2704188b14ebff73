//! A loopback feed of a local authority's returns, rendered from envelopes: the demo's and the
//! tests' source for this connector.
//!
//! Envelopes are grouped into returns as the LA would submit them: one CIN census per
//! collection year (`cin-<Year>`), one SSDA903 return per year (`ssda903-<Year>`), and one early
//! help extract named for the month of its latest fact (`early-help-<YYYY-MM>`); an envelope
//! joins every return its facts fall in. [`Feed::upsert`] issues resubmissions
//! (`cin-2026-r2`) holding only the changed children, for each return they were or now are in,
//! so an incremental sync sees exactly those. Issued returns keep the envelopes they were
//! issued with: a return, once submitted, does not change.
//!
//! Served at `GET /returns[?after=<name>]` (`{"returns": [{"name", "files"}]}`, in series then
//! issue order) and `GET /returns/{name}/{file}`. Files are rendered per request, off the async
//! workers; the feed keeps one shared copy of each envelope.
//!
//! Limits: test and demo code; no authentication. [`write_folder`] writes with blocking IO.

mod cin_xml;
mod csv_files;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use kinship_connector_sdk::{SourceFact, SourceRecord};
use serde::Deserialize;

use crate::cursor::series;
use crate::{early_help, ssda903};

/// The kind of a return, and the year it is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    Cin(i32),
    Ssda903(i32),
    EarlyHelp,
}

impl Unit {
    fn files(self) -> &'static [&'static str] {
        match self {
            Unit::Cin(_) => &["cin.xml"],
            Unit::Ssda903(_) => &[ssda903::HEADER, ssda903::EPISODES, ssda903::MISSING],
            Unit::EarlyHelp => &[early_help::FILE],
        }
    }
}

/// The returns an envelope's facts fall in.
fn units(r: &SourceRecord) -> BTreeSet<Unit> {
    let mut units: BTreeSet<Unit> = cin_xml::years(r).into_iter().map(Unit::Cin).collect();
    units.extend(csv_files::years_903(r).into_iter().map(Unit::Ssda903));
    if csv_files::has_early_help(r) {
        units.insert(Unit::EarlyHelp);
    }
    units
}

/// One issued return.
struct Return {
    name: String,
    unit: Unit,
    issued: DateTime<Utc>,
    members: Vec<Arc<SourceRecord>>,
}

#[derive(Default)]
struct State {
    la: String,
    current: BTreeMap<String, Arc<SourceRecord>>,
    returns: Vec<Arc<Return>>,
}

impl State {
    /// Issues one return per unit for these envelopes, named as the unit's next issue.
    fn issue(&mut self, groups: BTreeMap<Unit, BTreeMap<String, Arc<SourceRecord>>>) {
        let issued = Utc::now();
        for (unit, members) in groups {
            // By source key: the order a return lists its children in, and one entry per key.
            let members: Vec<Arc<SourceRecord>> = members.into_values().collect();
            let base = self
                .returns
                .iter()
                .find(|r| r.unit == unit)
                .map(|r| series(&r.name).0.to_owned())
                .unwrap_or_else(|| match unit {
                    Unit::Cin(y) => format!("cin-{y}"),
                    Unit::Ssda903(y) => format!("ssda903-{y}"),
                    Unit::EarlyHelp => {
                        let month = members
                            .iter()
                            .filter_map(|r| csv_files::latest_early_help(r))
                            .max()
                            .unwrap_or_else(|| issued.date_naive());
                        format!("early-help-{}", month.format("%Y-%m"))
                    }
                });
            let issues = self
                .returns
                .iter()
                .filter(|r| series(&r.name).0 == base)
                .count();
            let name = if issues == 0 {
                base
            } else {
                format!("{base}-r{}", issues + 1)
            };
            self.returns.push(Arc::new(Return {
                name,
                unit,
                issued,
                members,
            }));
        }
        self.returns
            .sort_by(|a, b| series(&a.name).cmp(&series(&b.name)));
    }
}

/// A feed of returns rendered from envelopes. Clones share state.
#[derive(Clone)]
pub struct Feed {
    state: Arc<RwLock<State>>,
}

impl Feed {
    /// A feed holding these envelopes (one per organisation and person, identity and facts,
    /// as the hub's population makes them). The LA is the first envelope's
    /// `local_authority:<LA>` organisation, `999` when none is.
    pub fn new(records: Vec<SourceRecord>) -> Self {
        let la = records
            .iter()
            .find_map(|r| r.organisation.strip_prefix("local_authority:"))
            .unwrap_or("999")
            .to_owned();
        let feed = Self {
            state: Arc::new(RwLock::new(State {
                la,
                ..State::default()
            })),
        };
        feed.upsert(records);
        feed
    }

    /// Adds or replaces envelopes by source key, as the LA would by resubmitting: for every
    /// return a changed envelope was in or now falls in, a new issue of that return holding
    /// the changed envelopes (`cin-2026-r2`), or a first issue for a new year.
    pub fn upsert(&self, records: Vec<SourceRecord>) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let mut groups: BTreeMap<Unit, BTreeMap<String, Arc<SourceRecord>>> = BTreeMap::new();
        for r in records {
            let r = Arc::new(r);
            let mut affected = units(&r);
            if let Some(old) = state.current.get(&r.source_key) {
                affected.extend(units(old));
            }
            if affected.is_empty() {
                // Nothing in it belongs in a return: an adult, or a child the LA only knows.
                continue;
            }
            for unit in affected {
                // A key given twice: the later envelope wins, as it would in the LA's system.
                groups
                    .entry(unit)
                    .or_default()
                    .insert(r.source_key.clone(), Arc::clone(&r));
            }
            state.current.insert(r.source_key.clone(), r);
        }
        state.issue(groups);
    }

    /// The returns' names, in the order the feed lists them.
    pub fn return_names(&self) -> Vec<String> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.returns.iter().map(|r| r.name.clone()).collect()
    }

    /// The text of one file of one return, or `None` when there is no such file.
    pub fn render(&self, name: &str, file: &str) -> Option<String> {
        let (la, ret) = {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            let ret = state.returns.iter().find(|r| r.name == name)?;
            (state.la.clone(), Arc::clone(ret))
        };
        render(&la, &ret, file)
    }

    /// The router serving the returns at the URLs the connector reads.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/returns", get(listing))
            .route("/returns/{name}/{file}", get(file))
            .with_state(self.clone())
    }
}

fn render(la: &str, ret: &Return, file: &str) -> Option<String> {
    if !ret.unit.files().contains(&file) {
        return None;
    }
    match ret.unit {
        Unit::Cin(year) => Some(cin_xml::render(la, year, ret.issued, &ret.members)),
        Unit::Ssda903(year) => csv_files::render_903(file, year, &ret.members),
        Unit::EarlyHelp => Some(csv_files::render_early_help(&ret.members)),
    }
}

#[derive(Deserialize)]
struct ListingQuery {
    after: Option<String>,
}

async fn listing(AxumState(feed): AxumState<Feed>, Query(q): Query<ListingQuery>) -> Response {
    let state = feed.state.read().unwrap_or_else(PoisonError::into_inner);
    let returns: Vec<serde_json::Value> = state
        .returns
        .iter()
        .filter(|r| {
            q.after
                .as_deref()
                .is_none_or(|after| series(&r.name) > series(after))
        })
        .map(|r| serde_json::json!({ "name": r.name, "files": r.unit.files() }))
        .collect();
    axum::Json(serde_json::json!({ "returns": returns })).into_response()
}

async fn file(
    AxumState(feed): AxumState<Feed>,
    UrlPath((name, file)): UrlPath<(String, String)>,
) -> Response {
    let content_type = if file.ends_with(".xml") {
        "application/xml; charset=utf-8"
    } else {
        "text/csv; charset=utf-8"
    };
    let rendered = tokio::task::spawn_blocking(move || feed.render(&name, &file)).await;
    match rendered {
        Ok(Some(body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such return or file").into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "rendering failed").into_response(),
    }
}

/// Writes every return of the feed into `folder`, one subfolder per return: the folder source
/// the connector reads with `folder = ...`. Blocking IO: call it outside async workers or
/// accept the pause in a test.
pub fn write_folder(feed: &Feed, folder: &Path) -> std::io::Result<()> {
    let (la, returns) = {
        let state = feed.state.read().unwrap_or_else(PoisonError::into_inner);
        (state.la.clone(), state.returns.clone())
    };
    for ret in returns {
        let dir = folder.join(&ret.name);
        std::fs::create_dir_all(&dir)?;
        for file in ret.unit.files() {
            if let Some(text) = render(&la, &ret, file) {
                std::fs::write(dir.join(file), text)?;
            }
        }
    }
    Ok(())
}

/// The LA's id for the child: the id inside `la_person_id` (`la:<LA>:<id>`), else the
/// envelope's own key.
fn child_id(r: &SourceRecord) -> String {
    r.identity
        .identifiers
        .iter()
        .find(|i| i.system == "la_person_id")
        .and_then(|i| i.value.strip_prefix("la:"))
        .and_then(|v| v.split_once(':'))
        .map(|(_, id)| id.to_owned())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| r.source_key.clone())
}

fn payload_text<'a>(f: &'a SourceFact, key: &str) -> Option<&'a str> {
    f.payload
        .get(key)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
}

fn payload_date(f: &SourceFact, key: &str) -> Option<NaiveDate> {
    payload_text(f, key).and_then(crate::codes::parse_iso)
}

/// A payload date, else the date the fact occurred.
fn fact_date(f: &SourceFact, key: &str) -> NaiveDate {
    payload_date(f, key).unwrap_or_else(|| f.occurred_at.date_naive())
}

fn payload_strings<'a>(f: &'a SourceFact, key: &str) -> Vec<&'a str> {
    f.payload
        .get(key)
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default()
}

fn payload_dates(f: &SourceFact, key: &str) -> Vec<NaiveDate> {
    payload_strings(f, key)
        .into_iter()
        .filter_map(crate::codes::parse_iso)
        .collect()
}
