//! The conformance kit: the checks a connector must pass before it is switched on. Every
//! built-in connector's tests call [`run`]; `kinship connector new` scaffolds a crate whose
//! tests call it too.
//!
//! What it checks:
//! 1. the manifest is valid (id, agency, version, catalogue categories, config schema);
//! 2. `check` passes against the healthy feed and fails as it should against a feed that
//!    answers 503 or refuses connections (transient) and one that answers 401 (fatal);
//! 3. a full pull from no cursor delivers records with unique source keys, raw payloads and
//!    valid organisation ids, and every rejected record has a reason and its raw payload;
//! 4. every fact's category is one the manifest declares;
//! 5. a pull resumed from every cursor handed out delivers exactly the rest of the records;
//! 6. a second full pull of unchanged data delivers the same records (same content hashes);
//! 7. `pull` against the failing feeds is classified as in 2.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;
use tokio::net::TcpListener;

use crate::catalogue;
use crate::connector::{Batch, Connector, ConnectorError, Cursor};

/// The most batches one full pull may take before the kit calls it endless.
const MAX_BATCHES: usize = 100_000;

/// A loopback server that answers every request with one status (and `Retry-After: 1` for
/// 429 and 503), for pointing a connector at a feed that fails.
pub struct FailingFeed {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FailingFeed {
    /// Starts one on an ephemeral loopback port.
    pub async fn start(status: u16) -> std::io::Result<Self> {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let app = Router::new().fallback(move || async move {
            let mut r = (status, "failing on purpose").into_response();
            if matches!(status.as_u16(), 429 | 503) {
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1"));
            }
            r
        });
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, task })
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FailingFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback URL nothing listens on.
pub async fn closed_port_url() -> std::io::Result<String> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    drop(listener);
    Ok(format!("http://{addr}"))
}

/// The same connector, configured four ways.
pub struct Subjects<C> {
    /// Against the connector's fixture feed.
    pub healthy: C,
    /// Against a feed answering 503 (see [`FailingFeed`]).
    pub transient: C,
    /// Against a feed answering 401.
    pub fatal: C,
    /// Against a closed port (see [`closed_port_url`]).
    pub unreachable: C,
}

/// What a conformant connector delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub records: usize,
    pub rejected: usize,
    pub batches: usize,
    /// Categories emitted, with how many facts each.
    pub categories: BTreeMap<String, usize>,
}

/// Every way the connector fell short.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("connector is not conformant:\n- {}", .0.join("\n- "))]
pub struct Failures(pub Vec<String>);

struct Pull {
    batches: Vec<Batch>,
    /// The cursor handed out after each batch.
    cursors: Vec<Cursor>,
}

async fn full_pull<C: Connector>(c: &C, from: Option<Cursor>) -> Result<Pull, String> {
    let mut cursor = from;
    let mut pull = Pull {
        batches: Vec::new(),
        cursors: Vec::new(),
    };
    loop {
        let batch = c
            .pull(cursor.as_ref())
            .await
            .map_err(|e| format!("pull failed against the healthy feed: {e}"))?;
        let next = batch.next.clone();
        pull.batches.push(batch);
        match next {
            Some(n) => {
                if cursor.as_ref() == Some(&n)
                    && pull
                        .batches
                        .last()
                        .is_some_and(|b| b.records.is_empty() && b.rejected.is_empty())
                {
                    return Err(format!(
                        "pull returned its own cursor `{}` with nothing new: it would loop",
                        n.0
                    ));
                }
                pull.cursors.push(n.clone());
                cursor = Some(n);
            }
            None => return Ok(pull),
        }
        if pull.batches.len() > MAX_BATCHES {
            return Err(format!("a full pull took more than {MAX_BATCHES} batches"));
        }
    }
}

fn keyed(batches: &[Batch]) -> Vec<(String, String)> {
    batches
        .iter()
        .flat_map(|b| &b.records)
        .map(|r| (r.source_key.clone(), r.content_hash()))
        .collect()
}

fn expect_class(
    what: &str,
    got: Result<(), ConnectorError>,
    transient: bool,
    failures: &mut Vec<String>,
) {
    match got {
        Err(e) if e.is_transient() == transient => {}
        Err(e) => failures.push(format!(
            "{what}: expected a {} error, got {e}",
            if transient { "transient" } else { "fatal" }
        )),
        Ok(()) => failures.push(format!("{what}: expected an error, got success")),
    }
}

/// Runs every check and returns what the healthy feed delivered, or every failure found.
pub async fn run<C: Connector>(s: &Subjects<C>) -> Result<Report, Failures> {
    let mut failures = Vec::new();
    let manifest = s.healthy.manifest();
    failures.extend(manifest.problems());

    if let Err(e) = s.healthy.check().await {
        failures.push(format!("check failed against the healthy feed: {e}"));
    }
    expect_class(
        "check against a feed answering 503",
        s.transient.check().await,
        true,
        &mut failures,
    );
    expect_class(
        "check against a closed port",
        s.unreachable.check().await,
        true,
        &mut failures,
    );
    expect_class(
        "check against a feed answering 401",
        s.fatal.check().await,
        false,
        &mut failures,
    );
    expect_class(
        "pull against a feed answering 503",
        s.transient.pull(None).await.map(|_| ()),
        true,
        &mut failures,
    );
    expect_class(
        "pull against a closed port",
        s.unreachable.pull(None).await.map(|_| ()),
        true,
        &mut failures,
    );
    expect_class(
        "pull against a feed answering 401",
        s.fatal.pull(None).await.map(|_| ()),
        false,
        &mut failures,
    );

    let full = match full_pull(&s.healthy, None).await {
        Ok(p) => p,
        Err(e) => {
            failures.push(e);
            return Err(Failures(failures));
        }
    };
    let records: Vec<_> = full.batches.iter().flat_map(|b| &b.records).collect();
    let rejected: Vec<_> = full.batches.iter().flat_map(|b| &b.rejected).collect();
    if records.is_empty() {
        failures.push("a full pull of the healthy feed delivered no records".into());
    }
    let mut seen = std::collections::HashSet::new();
    for r in &records {
        if !seen.insert(r.source_key.as_str()) {
            failures.push(format!(
                "source key `{}` delivered twice in one pull",
                r.source_key
            ));
        }
        if r.source_key.trim().is_empty() {
            failures.push("a record has an empty source key".into());
        }
        if r.raw.is_empty() {
            failures.push(format!("record `{}` has no raw payload", r.source_key));
        }
        if !catalogue::is_organisation_id(&r.organisation) {
            failures.push(format!(
                "record `{}` has organisation `{}`, not `<kind>:<code>`",
                r.source_key, r.organisation
            ));
        }
        if r.identity.is_empty() && r.subject.is_none() && !r.facts.is_empty() {
            failures.push(format!(
                "record `{}` has facts but neither identity nor subject",
                r.source_key
            ));
        }
        for id in &r.identity.identifiers {
            if !catalogue::IDENTIFIER_SYSTEMS.contains(&id.system.as_str()) {
                failures.push(format!(
                    "record `{}` uses identifier system `{}`",
                    r.source_key, id.system
                ));
            }
        }
        for rel in &r.identity.relationships {
            if !catalogue::RELATIONSHIP_KINDS.contains(&rel.kind.as_str()) {
                failures.push(format!(
                    "record `{}` declares relationship kind `{}`",
                    r.source_key, rel.kind
                ));
            }
        }
    }
    for r in &rejected {
        if r.reason.trim().is_empty() || r.raw.is_empty() {
            failures.push(format!(
                "a rejected record ({:?}) lacks its reason or raw payload",
                r.source_key
            ));
        }
    }
    let mut categories = BTreeMap::new();
    for b in &full.batches {
        for (c, n) in manifest.undeclared(b) {
            failures.push(format!("{n} facts in undeclared category `{c}`"));
        }
        for f in b.records.iter().flat_map(|r| &r.facts) {
            *categories.entry(f.category.clone()).or_insert(0) += 1;
        }
    }

    let all = keyed(&full.batches);
    for (i, cursor) in full.cursors.iter().enumerate() {
        match full_pull(&s.healthy, Some(cursor.clone())).await {
            Ok(rest) => {
                let expected = keyed(&full.batches[i + 1..]);
                if keyed(&rest.batches) != expected {
                    failures.push(format!(
                        "resuming from cursor #{} (`{}`) delivered {} records, expected the {} that followed it",
                        i + 1,
                        cursor.0,
                        keyed(&rest.batches).len(),
                        expected.len()
                    ));
                }
            }
            Err(e) => failures.push(format!("resuming from cursor #{}: {e}", i + 1)),
        }
    }
    match full_pull(&s.healthy, None).await {
        Ok(again) if keyed(&again.batches) == all => {}
        Ok(again) => failures.push(format!(
            "a second pull of unchanged data delivered {} different records",
            keyed(&again.batches)
                .iter()
                .filter(|k| !all.contains(k))
                .count()
        )),
        Err(e) => failures.push(format!("second pull: {e}")),
    }

    if failures.is_empty() {
        Ok(Report {
            records: records.len(),
            rejected: rejected.len(),
            batches: full.batches.len(),
            categories,
        })
    } else {
        Err(Failures(failures))
    }
}
