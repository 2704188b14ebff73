//! The sync engine against real loopback feeds: idempotent upserts, quarantine, retries of a
//! failing feed, and a sync killed with SIGKILL and restarted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kinship::population::envelopes::{Feed, envelopes};
use kinship::population::{self, PopulationSpec};
use kinship::store::sync as rows;
use kinship::store::{Store, StoreOptions};
use kinship::sync::{ConnectorSpec, Engine, RetryPolicy, Running, progress::Silent};
use serde_json::json;

use crate::helpers::{Db, on_each_backend};

/// A store over a fresh database of `db`'s kind.
pub async fn fresh_store(db: Db) -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::helpers::fresh_database(db, dir.path()).await;
    let store = Store::connect(&StoreOptions::new(url)).await.unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

/// Serves a router on 127.0.0.1:0 and returns its base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

fn police_spec(url: &str, page_size: usize) -> ConnectorSpec {
    ConnectorSpec {
        id: "anyshire-police".into(),
        kind: "police-pole".into(),
        settings: json!({ "base_url": url, "page_size": page_size, "timeout_seconds": 1 }),
        rate_per_second: None,
        retry: RetryPolicy {
            base: Duration::from_millis(20),
            max_delay: Duration::from_secs(2),
            max_attempts: 8,
        },
    }
}

fn police_feed(families: usize) -> (kinship_connector_police::feed::Feed, usize) {
    let pop = population::generate(&PopulationSpec::new(families, 5));
    let records = envelopes(&pop).remove(&Feed::Police).unwrap_or_default();
    let feed = kinship_connector_police::feed::Feed::new(records);
    let n = feed.len();
    (feed, n)
}

#[tokio::test]
async fn a_second_sync_of_unchanged_data_writes_nothing_and_a_change_is_picked_up() {
    on_each_backend(|db| async move {
        let (store, _dir) = fresh_store(db).await;
        let (feed, _) = police_feed(80);
        let url = serve(feed.router()).await;
        let engine = Engine::new(store.clone());
        let c = Running::build(police_spec(&url, 25)).unwrap();
        let first = engine.run(&c, &Silent).await.unwrap();
        assert!(first.new > 20, "{first:?}");
        assert_eq!((first.changed, first.quarantined), (0, 0));
        let delivered = rows::record_count(store.conn(), "anyshire-police").await.unwrap();
        assert_eq!(delivered, first.new as u64);

        let before = store.stats().statements();
        let second = engine.run(&c, &Silent).await.unwrap();
        assert_eq!((second.new, second.changed), (0, 0), "{second:?}");
        let writes = store.stats().statements() - before;
        assert!(writes < 25, "an incremental sync with nothing new runs a handful of statements, not one per record: {writes}");

        // Re-pulling everything from the start writes nothing either: every record is unchanged.
        rows::reset_cursor(store.conn(), "anyshire-police").await.unwrap();
        let again = engine.run(&c, &Silent).await.unwrap();
        assert_eq!((again.new, again.changed), (0, 0));
        assert_eq!(again.unchanged, first.new);
        assert_eq!(rows::record_count(store.conn(), "anyshire-police").await.unwrap(), delivered);
    })
    .await;
}

#[tokio::test]
async fn malformed_records_are_quarantined_with_a_reason_and_the_batch_goes_on() {
    on_each_backend(|db| async move {
        let (store, _dir) = fresh_store(db).await;
        // One page by hand: a good person with an event, a person with a bad PNC ID and a link
        // to a person who is not on the page.
        let page = json!({
            "persons": [
                { "id": "p1", "names": [{ "given": "Ada", "family": "Example" }], "dob": "2012-05-01", "sex": "female" },
                { "id": "p2", "pnc_id": "2001/0012345J", "names": [{ "given": "Bo", "family": "Example" }], "dob": "1990-01-01", "sex": "male" }
            ],
            "objects": [],
            "locations": [],
            "events": [{ "id": "e1", "type": "missing_person", "reference": "AN-2026-000001", "occurred_from": "2026-10-01T10:00:00Z", "occurred_to": null, "location": null }],
            "links": [
                { "from": "p1", "to": "e1", "role": "missing_person" },
                { "from": "p9", "to": "e1", "role": "witness" }
            ],
            "next_cursor": null
        });
        let router = Router::new()
            .route("/pole/events", axum::routing::get(move || { let p = page.clone(); async move { axum::Json(p) } }))
            .route("/pole/health", axum::routing::get(|| async { axum::Json(json!({ "status": "ok", "profile": "kinship-pole/1" })) }));
        let url = serve(router).await;
        let engine = Engine::new(store.clone());
        let c = Running::build(police_spec(&url, 50)).unwrap();
        let run = engine.run(&c, &Silent).await.unwrap();
        assert!(run.new >= 2, "the good person and their event landed: {run:?}");
        assert!(run.quarantined >= 2, "{run:?}");
        let q = rows::quarantined(store.conn(), Some("anyshire-police"), true, 100).await.unwrap();
        assert!(q.iter().any(|q| q.reason.contains("pnc_id")), "{q:?}");
        for entry in &q {
            assert!(!entry.raw.is_empty(), "the raw payload is kept for re-processing");
            assert!(!entry.reason.contains("2001/0012345J"), "the reason never quotes the value");
        }
    })
    .await;
}

/// Fails the first requests with the given statuses, then lets requests through; a status of
/// 0 stalls the response past the connector's timeout instead.
fn flaky(router: Router, failures: Vec<u16>) -> (Router, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    let failures = Arc::new(failures);
    let layer = axum::middleware::from_fn(move |req: Request, next: Next| {
        let counter = Arc::clone(&counter);
        let failures = Arc::clone(&failures);
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            match failures.get(n).copied() {
                Some(0) => {
                    tokio::time::sleep(Duration::from_millis(2_500)).await;
                    next.run(req).await
                }
                Some(429) => {
                    let mut r = StatusCode::TOO_MANY_REQUESTS.into_response();
                    r.headers_mut().insert("retry-after", "1".parse().unwrap());
                    r
                }
                Some(code) => Response::builder()
                    .status(code)
                    .body(axum::body::Body::from("down"))
                    .unwrap(),
                None => next.run(req).await,
            }
        }
    });
    (router.layer(layer), seen)
}

#[tokio::test]
async fn a_feed_that_fails_with_500_429_and_timeouts_then_recovers_is_synced_completely() {
    let (store, _dir) = fresh_store(Db::Sqlite).await;
    let (feed, _) = police_feed(40);
    let (router, seen) = flaky(feed.router(), vec![500, 503, 429, 0, 500]);
    let url = serve(router).await;
    let engine = Engine::new(store.clone());
    let c = Running::build(police_spec(&url, 30)).unwrap();
    let started = std::time::Instant::now();
    let run = engine
        .run(&c, &kinship::sync::progress::Silent)
        .await
        .unwrap();
    assert_eq!(run.status, "ok");
    assert_eq!(run.retries, 5, "{run:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert!(seen.load(Ordering::SeqCst) > 5);
    // Everything arrived, exactly once: a clean sync of the same feed finds nothing new.
    let (clean_store, _d2) = fresh_store(Db::Sqlite).await;
    let clean = Engine::new(clean_store.clone())
        .run(&c, &Silent)
        .await
        .unwrap();
    assert_eq!(clean.new, run.new);

    // A feed that keeps failing ends the run as failed, with the reason.
    let (store2, _d3) = fresh_store(Db::Sqlite).await;
    let (router, _) = flaky(Router::new(), vec![503; 100]);
    let url = serve(router).await;
    let mut spec = police_spec(&url, 30);
    spec.retry.max_attempts = 3;
    let c = Running::build(spec).unwrap();
    let err = Engine::new(store2.clone())
        .run(&c, &Silent)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    let runs = rows::runs(store2.conn(), Some("anyshire-police"), 1)
        .await
        .unwrap();
    assert_eq!(runs[0].status, "failed");
    assert_eq!(runs[0].retries, 2);
}

fn count<'a>(store: &'a Store, sql: &str) -> impl std::future::Future<Output = i64> + 'a {
    let sql = sql.to_owned();
    async move {
        use sea_orm::{ConnectionTrait, Statement};
        let row = store
            .conn()
            .query_one_raw(Statement::from_string(
                store.conn().get_database_backend(),
                sql,
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }
}

// Two workers: the test blocks one waiting for the child process while the feed serves it
// from the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_with_sigkill_and_restarted_ends_with_every_record_exactly_once() {
    let (feed, _) = police_feed(120);
    let url = serve(feed.router()).await;
    // The reference: the same feed synced in one go, in process.
    let (reference, _d0) = fresh_store(Db::Sqlite).await;
    let full = Engine::new(reference.clone())
        .run(&Running::build(police_spec(&url, 10)).unwrap(), &Silent)
        .await
        .unwrap();
    assert!(
        full.batches > 10,
        "enough batches to stop part-way: {full:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("killed.db");
    let config = dir.path().join("kinship.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\n[sync]\nretry_base_ms = 20\n[[connectors]]\nid = \"anyshire-police\"\nkind = \"police-pole\"\nrate_per_second = 25\n[connectors.settings]\nbase_url = \"{url}\"\npage_size = 10\n",
            db.display()
        ),
    )
    .unwrap();
    let kinship = env!("CARGO_BIN_EXE_kinship");
    let mut child = std::process::Command::new(kinship)
        .args(["sync", "--config"])
        .arg(&config)
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some batches have landed, then kill -9 mid-run.
    let store = loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(s) = Store::connect(&StoreOptions::sqlite_path(&db)).await
            && let Ok(runs) = rows::runs(s.conn(), None, 1).await
            && runs.first().is_some_and(|r| r.batches >= 3)
        {
            break s;
        }
    };
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished");
    let part = count(&store, "SELECT COUNT(*) FROM source_records").await;
    assert!(
        part > 0 && part < full.new,
        "stopped part-way: {part} of {}",
        full.new
    );

    let done = std::process::Command::new(kinship)
        .args(["sync", "--config"])
        .arg(&config)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    for (what, sql) in [
        ("source records", "SELECT COUNT(*) FROM source_records"),
        ("facts", "SELECT COUNT(*) FROM facts"),
        ("persons", "SELECT COUNT(*) FROM persons"),
        ("names", "SELECT COUNT(*) FROM person_names"),
        (
            "distinct keys",
            "SELECT COUNT(DISTINCT source_key) FROM source_records",
        ),
    ] {
        assert_eq!(
            count(&store, sql).await,
            count(&reference, sql).await,
            "{what} after kill and restart"
        );
    }
}

#[tokio::test]
async fn administrators_see_connectors_runs_and_quarantine_without_payloads() {
    on_each_backend(|db| async move {
        // A feed page with one good person and one whose PNC ID fails its check.
        let page = json!({
            "persons": [
                { "id": "p1", "names": [{ "given": "Ada", "family": "Example" }], "dob": "2012-05-01", "sex": "female" },
                { "id": "p2", "pnc_id": "2001/0012345J", "names": [{ "given": "Bo", "family": "Example" }], "dob": "1990-01-01", "sex": "male" }
            ],
            "objects": [], "locations": [], "events": [], "links": [], "next_cursor": null
        });
        let router = Router::new()
            .route("/pole/events", axum::routing::get(move || { let p = page.clone(); async move { axum::Json(p) } }))
            .route("/pole/health", axum::routing::get(|| async { axum::Json(json!({ "status": "ok", "profile": "kinship-pole/1" })) }));
        let url = serve(router).await;
        let spec = police_spec(&url, 50);
        let app = crate::helpers::spawn_configured(db, Default::default(), |c| {
            c.connectors.push(kinship::config::ConnectorConfig {
                id: spec.id.clone(),
                kind: spec.kind.clone(),
                enabled: true,
                schedule_seconds: None,
                rate_per_second: None,
                settings: spec.settings.clone(),
            });
        })
        .await;
        let run = Engine::new(app.store.clone())
            .run(&Running::build(spec).unwrap(), &Silent)
            .await
            .unwrap();
        assert_eq!(run.quarantined, 1, "{run:?}");

        let q = "{ connectors(runs: 3) { id kind records openQuarantine cursorStored runs { status recordsNew recordsQuarantined } } quarantine { connector sourceKey reason state } }";
        let admin = crate::helpers::principal("admin-1", "local_authority:999", kinship::model::Role::SystemAdmin);
        let reply = app.query(&admin, None, q, json!({})).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let c = &reply.body["data"]["connectors"][0];
        assert_eq!(c["id"], "anyshire-police");
        assert_eq!(c["records"], 1);
        assert_eq!(c["openQuarantine"], 1);
        assert_eq!(c["runs"][0]["status"], "ok");
        let item = &reply.body["data"]["quarantine"][0];
        assert!(item["reason"].as_str().unwrap().contains("pnc_id"), "{item}");
        assert!(item["sourceKey"].is_null(), "source keys can embed identifiers: DPO only");
        assert!(!reply.body.to_string().contains("Bo"), "no payload content leaves the hub");

        let dpo = crate::helpers::principal("dpo-1", "local_authority:999", kinship::model::Role::Dpo);
        let reply = app.query(&dpo, None, q, json!({})).await;
        assert!(reply.body["data"]["quarantine"][0]["sourceKey"].is_string());

        let sw = crate::helpers::principal("sw-1", "local_authority:999", kinship::model::Role::SocialWorker);
        let reply = app.query(&sw, None, "{ connectors { id } }", json!({})).await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"]);
        assert!(app.log().await.is_empty(), "operations views read no personal data");
    })
    .await;
}

/// The rows a raw statement returns from a store.
pub async fn query(store: &Store, sql: &str) -> Vec<sea_orm::QueryResult> {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = store.conn();
    conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
}

type Outcome = (
    std::collections::BTreeSet<Vec<(String, String, String)>>,
    usize,
);

/// How a store linked the records it holds, whatever ids it gave persons: the records
/// grouped by the person they joined (as sorted connector and key pairs), each with its
/// link method, and how many pairs wait for review.
async fn linkage_outcome(store: &Store) -> Outcome {
    let rows = query(
        store,
        "SELECT connector, source_key, person_id, link_method FROM source_records",
    )
    .await;
    let mut by_person: std::collections::BTreeMap<uuid::Uuid, Vec<(String, String, String)>> =
        Default::default();
    for r in rows {
        let person: Option<uuid::Uuid> = r.try_get("", "person_id").unwrap();
        let method: Option<String> = r.try_get("", "link_method").unwrap();
        if let Some(p) = person {
            by_person.entry(p).or_default().push((
                r.try_get("", "connector").unwrap(),
                r.try_get("", "source_key").unwrap(),
                method.unwrap_or_default(),
            ));
        }
    }
    let groups = by_person
        .into_values()
        .map(|mut g| {
            g.sort();
            g
        })
        .collect();
    let reviews = query(store, "SELECT id FROM match_reviews").await.len();
    (groups, reviews)
}

#[tokio::test]
async fn linkage_on_the_engines_own_connection_decides_as_a_pooled_transaction_does() {
    // On a SQLite file the engine reads linkage candidates through its own connection, one
    // probe per key; elsewhere (here an in-memory database) through the batch's sea-orm
    // transaction, one statement per batch. The same feeds must link the same way.
    let pop = population::generate(&PopulationSpec::new(150, 11));
    let feeds = kinship::cli::feeds::start(envelopes(&pop), 40)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut outcomes = Vec::new();
    for url in [
        format!("sqlite://{}?mode=rwc", dir.path().join("file.db").display()),
        "sqlite::memory:".to_owned(),
    ] {
        let store = Store::connect(&StoreOptions::new(url)).await.unwrap();
        store.migrate().await.unwrap();
        // Each batch its own transaction, so both stores see the same batches whatever the
        // timing: records linked within a batch and across batches may score differently.
        let engine = Engine::new(store.clone()).with_group_records(1);
        for spec in &feeds.specs {
            let c = Running::build(spec.clone()).unwrap();
            engine.run(&c, &Silent).await.unwrap();
        }
        outcomes.push(linkage_outcome(&store).await);
    }
    let (file, memory) = (&outcomes[0], &outcomes[1]);
    let methods = |o: &Outcome| {
        let mut m: std::collections::BTreeMap<String, usize> = Default::default();
        for g in &o.0 {
            for (_, _, method) in g {
                *m.entry(method.clone()).or_default() += 1;
            }
        }
        m
    };
    // The population is linked by more than identifiers: names, dates, relatives and scores.
    let used = methods(file);
    assert!(used.len() >= 4, "{used:?}");
    assert!(file.0.len() > 150, "{} persons", file.0.len());
    assert_eq!(used, methods(memory));
    assert_eq!(file.1, memory.1, "pairs queued for review");
    assert!(file.0 == memory.0, "the same records join the same persons");
}

/// A fresh SQLite store with a population synced into it through its four feeds, served in
/// pages of `page` and written at most `group` records a transaction; with the batches the
/// runs wrote.
async fn synced(
    pop: &population::Population,
    page: usize,
    group: usize,
) -> (Store, tempfile::TempDir, i64) {
    synced_in_order(Db::Sqlite, pop, page, group, &[]).await
}

/// As [`synced`] on `db`, the connectors named in `first` running first, in that order, and
/// the others after them.
async fn synced_in_order(
    db: Db,
    pop: &population::Population,
    page: usize,
    group: usize,
    first: &[&str],
) -> (Store, tempfile::TempDir, i64) {
    let feeds = kinship::cli::feeds::start(envelopes(pop), page)
        .await
        .unwrap();
    let mut specs = feeds.specs.clone();
    specs.sort_by_key(|s| {
        first
            .iter()
            .position(|id| *id == s.id)
            .unwrap_or(first.len())
    });
    let (store, dir) = fresh_store(db).await;
    let engine = Engine::new(store.clone()).with_group_records(group);
    let mut batches = 0;
    for spec in specs {
        let c = Running::build(spec).unwrap();
        batches += engine.run(&c, &Silent).await.unwrap().batches;
    }
    // The engine's SQLite writer does not enforce foreign keys as it writes: every row it
    // wrote must name rows that exist.
    if db == Db::Sqlite {
        let orphans = query(&store, "PRAGMA foreign_key_check").await;
        assert!(orphans.is_empty(), "{} rows name no row", orphans.len());
    }
    (store, dir, batches)
}

#[tokio::test]
async fn the_order_the_feeds_arrive_in_does_not_decide_who_is_who() {
    // Health first, schools first, or the council first: the same people end up as about the
    // same persons, with about as many pairs left for a person to decide.
    // - Siblings' school records name the same parent as a contact (a name and an address, no
    //   date of birth); those contacts must meet as they arrive, or the parent's health record
    //   later finds several of them and waits for review.
    // - A council's returns carry a child's UPN and date of birth but no name. The child's
    //   school record, arriving after them and after the health record, reaches the council's
    //   person by the UPN and the health person by name: the two must become one.
    let pop = population::generate(&PopulationSpec::new(500, 11));
    on_each_backend(|db| {
        let pop = pop.clone();
        async move {
            let mut outcomes = Vec::new();
            for first in [
                ["anyshire-health", "anyshire-schools", "anyshire-council"],
                ["anyshire-schools", "anyshire-health", "anyshire-council"],
                ["anyshire-council", "anyshire-health", "anyshire-schools"],
            ] {
                let (store, _dir, _) = synced_in_order(db, &pop, 1_000, 20_000, &first).await;
                outcomes.push((
                    first[0],
                    count(&store, "SELECT COUNT(*) FROM persons").await,
                    count(&store, "SELECT COUNT(*) FROM match_reviews").await,
                ));
            }
            let (_, persons, reviews) = outcomes[0];
            assert!(persons > 1_000, "{persons} persons");
            for (first, other_persons, other_reviews) in &outcomes[1..] {
                assert!(
                    (persons - other_persons).abs() * 200 <= persons,
                    "{persons} persons with health first, {other_persons} with {first} first"
                );
                assert!(
                    (reviews - other_reviews).abs() * 100 <= persons,
                    "{reviews} pairs to review with health first, {other_reviews} with {first} first"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn how_records_fall_into_batches_does_not_decide_who_they_are_compared_with() {
    // The same feeds synced a page of 40 records at a time, each its own transaction, and in
    // pages of 1,000 grouped as they queue: probabilistic linkage must compare each record
    // with the persons blocking puts beside it either way. Records linked within a batch
    // (learned in memory) and across batches (read from the store) may score a little
    // differently, so the outcomes are compared as counts, closely.
    let pop = population::generate(&PopulationSpec::new(500, 11));
    let mut outcomes = Vec::new();
    for (page, group) in [(40, 1), (1_000, 1_000_000)] {
        let (store, _dir, batches) = synced(&pop, page, group).await;
        outcomes.push((
            batches,
            count(&store, "SELECT COUNT(*) FROM persons").await,
            count(
                &store,
                "SELECT COUNT(*) FROM source_records WHERE link_method = 'probabilistic'",
            )
            .await,
        ));
    }
    let ((paged, persons, probable), (whole, persons_whole, probable_whole)) =
        (outcomes[0], outcomes[1]);
    assert!(paged > 5 * whole, "{paged} and {whole} batches");
    assert!(probable > 100, "{probable} records linked by score");
    let close = |a: i64, b: i64| (a - b).abs() * 50 <= a.max(b);
    assert!(
        close(persons, persons_whole),
        "{persons} persons in small batches, {persons_whole} in large ones"
    );
    assert!(
        close(probable, probable_whole),
        "{probable} records linked by score in small batches, {probable_whole} in large ones"
    );
}

#[tokio::test]
async fn a_childs_social_care_returns_meet_their_school_record_through_the_upn() {
    // The CIN census and SSDA903 returns carry the pupil's UPN: the council's records of a
    // child join the person the school's records made, rather than standing beside them.
    let pop = population::generate(&PopulationSpec::new(300, 5));
    let (store, _dir, _) = synced(&pop, 500, 20_000).await;
    let with_upn = count(
        &store,
        "SELECT COUNT(*) FROM source_records WHERE connector = 'anyshire-council' \
         AND payload LIKE '%<UPN>%'",
    )
    .await;
    assert!(with_upn > 10, "{with_upn} council records carry a UPN");
    let apart = count(
        &store,
        "SELECT COUNT(*) FROM source_records c WHERE c.connector = 'anyshire-council' \
         AND c.payload LIKE '%<UPN>%' AND NOT EXISTS (SELECT 1 FROM source_records s \
         WHERE s.connector = 'anyshire-schools' AND s.person_id = c.person_id)",
    )
    .await;
    assert_eq!(apart, 0, "of {with_upn} council records with a UPN");
}

/// The derived family and household memberships a store holds, as (family, person, role).
async fn memberships(
    store: &Store,
) -> std::collections::BTreeSet<(uuid::Uuid, uuid::Uuid, String)> {
    query(
        store,
        "SELECT family_id, person_id, role FROM family_members",
    )
    .await
    .into_iter()
    .map(|r| {
        (
            r.try_get("", "family_id").unwrap(),
            r.try_get("", "person_id").unwrap(),
            r.try_get("", "role").unwrap(),
        )
    })
    .collect()
}

#[tokio::test]
async fn overlapping_runs_leave_every_family_rebuilt_once_the_last_one_ends() {
    // The last of an engine's overlapping runs rebuilds the families all of them touched.
    // Nothing is left queued, and rebuilding every person's groups afresh changes nothing.
    let pop = population::generate(&PopulationSpec::new(60, 17));
    let feeds = kinship::cli::feeds::start(envelopes(&pop), 40)
        .await
        .unwrap();
    let (store, _dir) = fresh_store(Db::Sqlite).await;
    let engine = Engine::new(store.clone());
    let mut runs = tokio::task::JoinSet::new();
    for spec in &feeds.specs {
        let (engine, c) = (engine.clone(), Running::build(spec.clone()).unwrap());
        runs.spawn(async move { engine.run(&c, &Silent).await.unwrap() });
    }
    while let Some(done) = runs.join_next().await {
        done.unwrap();
    }
    let queued = query(&store, "SELECT person_id FROM family_queue")
        .await
        .len();
    assert_eq!(queued, 0, "persons left waiting for their families");
    let synced = memberships(&store).await;
    assert!(synced.len() > 100, "{} memberships", synced.len());

    let everyone: Vec<kinship::model::PersonId> = query(&store, "SELECT id FROM persons")
        .await
        .into_iter()
        .map(|r| kinship::model::PersonId(r.try_get("", "id").unwrap()))
        .collect();
    rebuild_groups(&store, &everyone).await;
    assert_eq!(memberships(&store).await, synced);
}

/// Queues these persons and rebuilds their families and households, as a sync's end does.
pub async fn rebuild_groups(store: &Store, persons: &[kinship::model::PersonId]) {
    kinship::store::families::enqueue(store.conn(), persons, chrono::Utc::now())
        .await
        .unwrap();
    kinship::store::families::drain(store.conn(), &Default::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_cancelled_run_does_not_keep_later_runs_from_rebuilding_families() {
    let (store, _dir) = fresh_store(Db::Sqlite).await;
    let engine = Engine::new(store.clone());
    // A feed that never answers: its run is cancelled while it waits.
    let hanging = serve(Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        StatusCode::OK
    }))
    .await;
    let stuck = Running::build(police_spec(&hanging, 25)).unwrap();
    let task = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.run(&stuck, &Silent).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());

    let (feed, _) = police_feed(40);
    let url = serve(feed.router()).await;
    let mut spec = police_spec(&url, 25);
    spec.id = "other-police".into();
    let run = engine
        .run(&Running::build(spec).unwrap(), &Silent)
        .await
        .unwrap();
    assert!(run.new > 20, "{run:?}");
    let queued = query(&store, "SELECT person_id FROM family_queue")
        .await
        .len();
    assert_eq!(queued, 0, "persons left waiting for their families");
}

#[tokio::test]
async fn a_new_sqlite_store_is_laid_out_in_pages_larger_than_sqlites_default() {
    // Sync's commits write every page a batch touched; larger pages mean fewer of them.
    let (store, _dir) = fresh_store(Db::Sqlite).await;
    let file = store.sqlite_file().unwrap();
    let size: u32 = rusqlite::Connection::open(&file)
        .and_then(|c| c.query_row("PRAGMA page_size", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(size, kinship::store::SQLITE_PAGE_SIZE);
    assert!(size > 4_096, "{size}");
}

#[tokio::test]
async fn the_sync_writer_folds_its_log_back_into_the_database_file_while_the_store_is_open() {
    // Commits on a SQLite file land in its write-ahead log; a thread of the writer's own folds
    // them back into the file, so the file alone holds them while the store is still open
    // (SQLite folds everything only when the last connection closes).
    let (store, dir) = fresh_store(Db::Sqlite).await;
    let engine = Engine::new(store.clone());
    let (feed, _) = police_feed(40);
    let url = serve(feed.router()).await;
    let run = engine
        .run(&Running::build(police_spec(&url, 25)).unwrap(), &Silent)
        .await
        .unwrap();
    assert!(run.new > 20, "{run:?}");
    let file = store.sqlite_file().unwrap();
    let copy = dir.path().join("without-its-log.db");
    let mut in_file = 0;
    for _ in 0..100 {
        // The file as it is, without its write-ahead log: what has been folded back.
        std::fs::copy(&file, &copy).unwrap();
        in_file = rusqlite::Connection::open(&copy)
            .and_then(|c| {
                c.query_row(
                    "SELECT COUNT(*) FROM source_records WHERE connector = 'anyshire-police'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .unwrap_or(0);
        if in_file == run.new {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(in_file, run.new, "records folded back into the file");
}
