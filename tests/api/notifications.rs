//! Operation Encompass notifications end to end: a police feed on loopback brings a
//! domestic-abuse incident with a child present, sync queues it, the hub's worker tells the
//! child's school through a signed webhook (retried until acknowledged, once across a
//! restart) and through the `notifications` subscription over graphql-transport-ws, each
//! delivery decided by the gate and logged.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use futures_util::{SinkExt, StreamExt};
use kinship::config::{Config, PartnerConfig};
use kinship::model::{InvolvementKind, OrganisationId, PersonId, Principal, Role};
use kinship::population::{self, Population, PopulationSpec};
use kinship::store::notifications as outbox;
use kinship::store::sync as rows;
use kinship::store::{Store, StoreOptions};
use kinship::sync::{ConnectorSpec, Engine, RetryPolicy, Running, progress::Silent};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{TestApp, on_each_backend, spawn_configured};
use crate::sync::serve;

const SECRET: &str = "oakfield-partner-secret-0123456789abcdef";
const PARTNER: &str = "school-safeguarding-app";
const EVENT_REF: &str = "AN-2026-004242";

/// A child on roll at a school (held by the whole school, as enrolment derives it), with the
/// school, the child's name and date of birth as the police will record them, and the
/// school's DSL.
struct Pupil {
    child: PersonId,
    school: OrganisationId,
    given: String,
    family: String,
    dob: chrono::NaiveDate,
    dsl: Principal,
}

fn pupil(pop: &Population) -> Pupil {
    pop.involvements
        .iter()
        .filter(|i| {
            i.kind == InvolvementKind::DslCurrentSchool
                && i.ended_at.is_none()
                && i.principal.is_none()
        })
        .find_map(|i| {
            let child = i.person_id?;
            // One current school, so one recipient.
            let schools = pop
                .involvements
                .iter()
                .filter(|j| {
                    j.kind == InvolvementKind::DslCurrentSchool
                        && j.ended_at.is_none()
                        && j.person_id == Some(child)
                })
                .count();
            let dsl = pop.practitioners.iter().find(|p| {
                p.principal.organisation == i.organisation && p.principal.has_role(Role::Dsl)
            })?;
            let person = pop.persons.iter().find(|p| p.id == child)?;
            let dob = person.date_of_birth?;
            let name = pop.names.iter().find(|n| n.person_id == child)?;
            // A name and date of birth nobody else shares, so the police record links to
            // this child alone.
            let twins = pop
                .names
                .iter()
                .filter(|n| {
                    n.given == name.given
                        && n.family == name.family
                        && n.date_of_birth == person.date_of_birth
                })
                .map(|n| n.person_id)
                .collect::<BTreeSet<_>>()
                .len();
            (schools == 1 && twins == 1).then(|| Pupil {
                child,
                school: i.organisation.clone(),
                given: name.given.clone(),
                family: name.family.clone(),
                dob,
                dsl: dsl.principal.clone(),
            })
        })
        .expect("the population has a pupil whose school has a DSL")
}

/// A POLE page: the child, a domestic-abuse incident two hours ago, the child present.
/// `detail` changes the record's content without changing what it is.
fn pole_page(p: &Pupil, detail: &str) -> Value {
    let at = (chrono::Utc::now() - chrono::TimeDelta::hours(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "persons": [{
            "id": "c1",
            "names": [{ "given": p.given, "family": p.family }],
            "dob": p.dob.to_string(),
            "sex": "female"
        }],
        "objects": [],
        "locations": [{ "id": "l1", "uprn": null, "postcode": "AN1 4ZZ" }],
        "events": [{
            "id": "e1", "type": "domestic_abuse", "reference": EVENT_REF,
            "occurred_from": at, "occurred_to": null, "location": "l1",
            "circumstances": detail
        }],
        "links": [{ "from": "c1", "to": "e1", "role": "child_present" }],
        "next_cursor": null
    })
}

/// A police feed on loopback serving one page, which a test can change.
async fn police_feed(page: Value) -> (String, Arc<Mutex<Value>>) {
    let page = Arc::new(Mutex::new(page));
    let shared = Arc::clone(&page);
    let router = Router::new()
        .route(
            "/pole/events",
            axum::routing::get(move || {
                let p = shared.lock().unwrap().clone();
                async move { axum::Json(p) }
            }),
        )
        .route(
            "/pole/health",
            axum::routing::get(|| async {
                axum::Json(json!({ "status": "ok", "profile": "kinship-pole/1" }))
            }),
        );
    (serve(router).await, page)
}

fn police(url: &str) -> Running {
    Running::build(ConnectorSpec {
        id: "anyshire-police".into(),
        kind: "police-pole".into(),
        settings: json!({ "base_url": url, "page_size": 50, "timeout_seconds": 2 }),
        rate_per_second: None,
        retry: RetryPolicy {
            base: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            max_attempts: 3,
        },
    })
    .unwrap()
}

/// A partner application's webhook endpoint that answers 500 to its first `fail_first`
/// requests and 200 after, keeping every request.
#[derive(Default)]
struct Endpoint {
    fail_first: usize,
    seen: AtomicUsize,
    requests: Mutex<Vec<(HeaderMap, Bytes, u16)>>,
}

impl Endpoint {
    fn acknowledged(&self) -> Vec<(HeaderMap, Bytes)> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, s)| *s == 200)
            .map(|(h, b, _)| (h.clone(), b.clone()))
            .collect()
    }

    fn count(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

async fn endpoint(fail_first: usize) -> (String, Arc<Endpoint>) {
    let ep = Arc::new(Endpoint {
        fail_first,
        ..Endpoint::default()
    });
    let router = Router::new()
        .route(
            "/hooks/kinship",
            axum::routing::post(
                |State(ep): State<Arc<Endpoint>>, headers: HeaderMap, body: Bytes| async move {
                    let n = ep.seen.fetch_add(1, Ordering::SeqCst);
                    let status = if n < ep.fail_first { 500 } else { 200 };
                    ep.requests.lock().unwrap().push((headers, body, status));
                    StatusCode::from_u16(status).unwrap()
                },
            ),
        )
        .with_state(Arc::clone(&ep));
    (format!("{}/hooks/kinship", serve(router).await), ep)
}

fn with_partner(c: &mut Config, url: &str, school: &OrganisationId, retry_base_ms: u64) {
    c.notifications.poll_ms = 50;
    c.notifications.retry_base_ms = retry_base_ms;
    c.notifications.retry_max_ms = retry_base_ms * 4;
    c.notifications.timeout_seconds = 2;
    c.notifications.partners = vec![PartnerConfig {
        id: PARTNER.into(),
        url: url.into(),
        organisations: vec![school.to_string()],
        roles: vec!["dsl".into()],
        secret: SECRET.to_owned().into(),
        enabled: true,
    }];
}

/// Waits up to `secs` for `check` to hold.
async fn eventually<F, Fut>(secs: u64, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn sync(store: &Store, url: &str) {
    let run = Engine::new(store.clone())
        .run(&police(url), &Silent)
        .await
        .unwrap();
    assert_eq!(run.quarantined, 0, "{run:?}");
}

/// Syncs the feed and returns the one notification it raised, checking the police record
/// linked to the pupil.
async fn raised(app: &TestApp, pupil: &Pupil, url: &str) -> outbox::Notice {
    sync(&app.store, url).await;
    let store = app.store.clone();
    let child = pupil.child;
    eventually(10, "the notification to be raised", || {
        let store = store.clone();
        async move {
            !outbox::notices_about(store.conn(), child)
                .await
                .unwrap()
                .is_empty()
        }
    })
    .await;
    let notices = outbox::notices_about(app.store.conn(), pupil.child)
        .await
        .unwrap();
    assert_eq!(notices.len(), 1, "one school, one notification");
    assert_eq!(notices[0].organisation, pupil.school);
    assert!(notices[0].due_at > notices[0].created_at);
    notices[0].clone()
}

/// The keys a notification may carry: Encompass's minimum, nothing of the incident beyond
/// the clause's fields.
const NOTIFICATION_KEYS: [&str; 11] = [
    "id",
    "kind",
    "child",
    "recipient",
    "eventRef",
    "role",
    "occurredAt",
    "contact",
    "dueAt",
    "createdAt",
    "protocol",
];

fn check_body(body: &[u8], pupil: &Pupil, notice: &outbox::Notice) -> Value {
    let text = std::str::from_utf8(body).unwrap();
    let v: Value = serde_json::from_str(text).unwrap();
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["delivery", "notification"]));
    let n = &v["notification"];
    let keys: BTreeSet<&str> = n.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(NOTIFICATION_KEYS), "{n}");
    assert_eq!(n["id"], notice.id.to_string());
    assert_eq!(n["kind"], "operation_encompass");
    assert_eq!(n["child"], pupil.child.to_string());
    assert_eq!(n["recipient"], pupil.school.to_string());
    assert_eq!(n["eventRef"], EVENT_REF);
    assert_eq!(n["role"], "child_present");
    assert!(
        n["contact"]["organisation"]
            .as_str()
            .unwrap()
            .starts_with("police:")
    );
    assert_eq!(n["protocol"]["protocol"], "P-ENC");
    assert_eq!(n["protocol"]["clause"], "2.1");
    // Nothing the clause does not release: no name, date of birth, place or circumstances.
    for leak in [
        pupil.given.as_str(),
        pupil.family.as_str(),
        &pupil.dob.to_string(),
        "AN1 4ZZ",
        "postcode",
        "circumstances",
        "eventType",
    ] {
        assert!(!text.contains(leak), "the body carries `{leak}`: {text}");
    }
    v
}

async fn partner_entries(store: &Store) -> Vec<kinship::store::log::LogRow> {
    kinship::store::log::entries(store.conn(), 1, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.principal_subject == format!("partner:{PARTNER}"))
        .collect()
}

/// The release entry (written before the body first left) and the receipt (written when the
/// partner acknowledged), and no others.
async fn check_log(store: &Store, pupil: &Pupil, notice: &outbox::Notice, attempts: u64) {
    let entries = partner_entries(store).await;
    let outcomes: Vec<&str> = entries.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["released", "acknowledged"], "{entries:?}");
    let release = &entries[0];
    assert_eq!(release.principal_organisation, pupil.school.to_string());
    assert_eq!(release.principal_roles, ["dsl"]);
    assert_eq!(release.purpose.as_deref(), Some("safeguarding"));
    assert_eq!(release.subjects, [pupil.child]);
    let reads = release.reads["reads"].as_array().unwrap();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0]["category"], "police.domestic_abuse");
    assert_eq!(reads[0]["decision"], "permitted");
    assert_eq!(reads[0]["protocol"], "P-ENC");
    assert_eq!(reads[0]["clause"], "2.1");
    assert_eq!(reads[0]["released"], 1);
    let receipt = &entries[1];
    let actions = receipt.reads["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["action"], "notification_acknowledged");
    assert_eq!(actions[0]["notification"], notice.id.to_string());
    assert_eq!(actions[0]["attempts"], attempts);
    assert_eq!(actions[0]["late"], false);
    assert_eq!(receipt.subjects, [pupil.child]);
}

#[tokio::test]
async fn a_webhook_that_fails_twice_is_retried_and_delivered_exactly_once_signed_and_logged() {
    on_each_backend(|db| async move {
        let pop = population::generate(&PopulationSpec::new(30, 7));
        let pupil = pupil(&pop);
        let (hook, ep) = endpoint(2).await;
        let app = spawn_configured(db, pop, |c| with_partner(c, &hook, &pupil.school, 100)).await;
        let (feed, _) = police_feed(pole_page(&pupil, "a")).await;
        let notice = raised(&app, &pupil, &feed).await;

        let probe = Arc::clone(&ep);
        eventually(15, "the webhook to be acknowledged", || {
            let ep = Arc::clone(&probe);
            async move { !ep.acknowledged().is_empty() }
        })
        .await;
        // Longer than several retry intervals: nothing more arrives once acknowledged.
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(ep.count(), 3, "two failures, then one acknowledged attempt");
        let acked = ep.acknowledged();
        assert_eq!(acked.len(), 1, "delivered exactly once");

        // Every attempt carried the same delivery id and the same bytes, signed.
        let requests = ep.requests.lock().unwrap().clone();
        let ids: BTreeSet<&str> = requests
            .iter()
            .map(|(h, _, _)| h["kinship-delivery"].to_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 1, "one delivery id across attempts");
        assert!(requests.iter().all(|(_, b, _)| *b == acked[0].1));
        let (headers, body) = &acked[0];
        assert_eq!(headers["kinship-event"], "operation_encompass");
        assert_eq!(headers["content-type"], "application/json");
        let signature = headers["kinship-signature"].to_str().unwrap();
        let now = chrono::Utc::now().timestamp();
        assert!(kinship::notify::signature::verify(
            SECRET.as_bytes(),
            signature,
            body,
            now,
            300
        ));
        assert!(!kinship::notify::signature::verify(
            b"another-secret-that-is-32-bytes-long!",
            signature,
            body,
            now,
            300
        ));
        let v = check_body(body, &pupil, &notice);
        assert_eq!(v["delivery"], *ids.iter().next().unwrap());

        let deliveries = outbox::deliveries_of_fact(app.store.conn(), notice.fact_id)
            .await
            .unwrap();
        assert_eq!(deliveries.len(), 1);
        let d = &deliveries[0];
        assert_eq!(d.status, outbox::DeliveryStatus::Delivered);
        assert_eq!(d.attempts, 3);
        assert_eq!(d.last_error.as_deref(), Some("http 500"));
        assert!(d.delivered_at.is_some() && d.released_at.is_some());
        check_log(&app.store, &pupil, &notice, 3).await;
    })
    .await;
}

#[tokio::test]
async fn a_notification_is_delivered_once_across_a_hub_restart_and_a_resync() {
    on_each_backend(|db| async move {
        let pop = population::generate(&PopulationSpec::new(30, 7));
        let pupil = pupil(&pop);
        let (hook, ep) = endpoint(2).await;
        // The first hub waits long between attempts, so it is stopped between two.
        let mut first =
            spawn_configured(db, pop, |c| with_partner(c, &hook, &pupil.school, 3_000)).await;
        let (feed, page) = police_feed(pole_page(&pupil, "a")).await;
        let notice = raised(&first, &pupil, &feed).await;
        let store = first.store.clone();
        let fact = notice.fact_id;
        eventually(10, "a failed first attempt to be recorded", || {
            let store = store.clone();
            async move {
                outbox::deliveries_of_fact(store.conn(), fact)
                    .await
                    .unwrap()
                    .first()
                    .is_some_and(|d| d.attempts == 1)
            }
        })
        .await;
        // The hub dies between attempts.
        first.stop();
        assert_eq!(ep.count(), 1);

        // A new hub over the same database picks the delivery up where the first left it.
        let mut config = first.config.clone();
        config.notifications.retry_base_ms = 100;
        config.notifications.retry_max_ms = 400;
        let store2 = Store::connect(&StoreOptions::new(first.db_url.clone()))
            .await
            .unwrap();
        let second = kinship::cli::hub::start(&config, store2.clone())
            .await
            .unwrap();
        let probe = Arc::clone(&ep);
        eventually(15, "the restarted hub to deliver", || {
            let ep = Arc::clone(&probe);
            async move { !ep.acknowledged().is_empty() }
        })
        .await;

        // The same feed again, from the start, and then with the record changed: the fact
        // keeps its id, so nothing new is queued or sent.
        rows::reset_cursor(store2.conn(), "anyshire-police")
            .await
            .unwrap();
        sync(&store2, &feed).await;
        *page.lock().unwrap() = pole_page(&pupil, "b");
        rows::reset_cursor(store2.conn(), "anyshire-police")
            .await
            .unwrap();
        sync(&store2, &feed).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;

        assert_eq!(ep.count(), 3, "one attempt before the restart, two after");
        assert_eq!(ep.acknowledged().len(), 1, "no duplicate");
        assert_eq!(outbox::event_count(store2.conn()).await.unwrap(), 1);
        assert_eq!(
            outbox::notices_about(store2.conn(), pupil.child)
                .await
                .unwrap()
                .len(),
            1
        );
        let deliveries = outbox::deliveries_of_fact(store2.conn(), fact)
            .await
            .unwrap();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].status, outbox::DeliveryStatus::Delivered);
        check_body(&ep.acknowledged()[0].1, &pupil, &notice);
        check_log(&store2, &pupil, &notice, 3).await;
        drop(second);
    })
    .await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(app: &TestApp) -> Ws {
    let mut request = app
        .url
        .replacen("http://", "ws://", 1)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    ws
}

/// The next text message as JSON, skipping pings; `None` on a close.
async fn next_message(ws: &mut Ws) -> Result<Value, Option<String>> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("a message in time");
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "ping" {
                    ws.send(Message::text(json!({ "type": "pong" }).to_string()))
                        .await
                        .unwrap();
                    continue;
                }
                return Ok(v);
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| f.reason.to_string())),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

async fn init(ws: &mut Ws, payload: Value) -> Result<Value, Option<String>> {
    ws.send(Message::text(
        json!({ "type": "connection_init", "payload": payload }).to_string(),
    ))
    .await
    .unwrap();
    next_message(ws).await
}

const SUBSCRIPTION: &str = "subscription { notifications { id kind childId recipient eventRef role occurredAt contact { organisation name } dueAt releasedUnder } }";

#[tokio::test]
async fn the_schools_dsl_receives_the_notification_over_graphql_transport_ws_logged() {
    on_each_backend(|db| async move {
        let pop = population::generate(&PopulationSpec::new(30, 7));
        let pupil = pupil(&pop);
        let app = spawn_configured(db, pop, |c| c.notifications.poll_ms = 50).await;

        // A token that does not verify closes the connection before anything is served.
        let mut bad = ws_connect(&app).await;
        let refused = init(
            &mut bad,
            json!({ "authorization": "Bearer not-a-token", "purpose": "safeguarding" }),
        )
        .await;
        assert_eq!(refused, Err(Some("token is malformed".into())));

        let mut ws = ws_connect(&app).await;
        let token = app.token(&pupil.dsl);
        let ack = init(
            &mut ws,
            json!({ "authorization": format!("Bearer {token}"), "purpose": "safeguarding" }),
        )
        .await
        .unwrap();
        assert_eq!(ack["type"], "connection_ack");
        // Queries are not served over the socket.
        ws.send(Message::text(
            json!({ "id": "q", "type": "subscribe", "payload": { "query": "{ __typename }" } })
                .to_string(),
        ))
        .await
        .unwrap();
        let refused = next_message(&mut ws).await.unwrap();
        assert_eq!(refused["type"], "next");
        assert_eq!(
            refused["payload"]["errors"][0]["extensions"]["code"],
            "BAD_REQUEST"
        );
        let done = next_message(&mut ws).await.unwrap();
        assert_eq!(done["type"], "complete");

        ws.send(Message::text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } })
                .to_string(),
        ))
        .await
        .unwrap();
        // The subscription starts from "now": give it a moment to be in place.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = app.log().await.len();
        let (feed, _) = police_feed(pole_page(&pupil, "a")).await;
        sync(&app.store, &feed).await;

        let msg = next_message(&mut ws).await.unwrap();
        assert_eq!(msg["type"], "next", "{msg}");
        assert_eq!(msg["id"], "1");
        assert!(msg["payload"]["errors"].is_null(), "{msg}");
        let n = &msg["payload"]["data"]["notifications"];
        let notices = outbox::notices_about(app.store.conn(), pupil.child)
            .await
            .unwrap();
        assert_eq!(notices.len(), 1);
        assert_eq!(n["id"], notices[0].id.to_string());
        assert_eq!(n["kind"], "OPERATION_ENCOMPASS");
        assert_eq!(n["childId"], pupil.child.to_string());
        assert_eq!(n["recipient"], pupil.school.to_string());
        assert_eq!(n["eventRef"], EVENT_REF);
        assert_eq!(n["role"], "child_present");
        assert_eq!(n["releasedUnder"], "P-ENC 1.2 2.1");
        let text = n.to_string();
        assert!(!text.contains(&pupil.family) && !text.contains("AN1 4ZZ"));

        // One entry for the message, written for the DSL before it was sent.
        let log = app.log().await;
        let sent: Vec<_> = log[before..]
            .iter()
            .filter(|e| e.operation_name.as_deref() == Some("notifications"))
            .collect();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].outcome, "sent");
        assert_eq!(sent[0].principal_subject, pupil.dsl.subject);
        assert_eq!(sent[0].subjects, [pupil.child]);
        let reads = sent[0].reads["reads"].as_array().unwrap();
        assert_eq!(reads[0]["category"], "police.domestic_abuse");
        assert_eq!(reads[0]["decision"], "permitted");
        assert_eq!(reads[0]["clause"], "2.1");

        // A role the notification is not for is refused at subscription.
        let mut other = ws_connect(&app).await;
        let social_worker = pop_principal(&app, Role::SocialWorker);
        let t = app.token(&social_worker);
        init(
            &mut other,
            json!({ "authorization": format!("Bearer {t}"), "purpose": "safeguarding" }),
        )
        .await
        .unwrap();
        other
            .send(Message::text(
                json!({ "id": "2", "type": "subscribe", "payload": { "query": SUBSCRIPTION } })
                    .to_string(),
            ))
            .await
            .unwrap();
        let refused = next_message(&mut other).await.unwrap();
        assert_eq!(refused["type"], "next");
        assert_eq!(
            refused["payload"]["errors"][0]["extensions"]["code"],
            "FORBIDDEN"
        );
    })
    .await;
}

fn pop_principal(app: &TestApp, role: Role) -> Principal {
    app.population
        .practitioners
        .iter()
        .find(|p| p.principal.has_role(role) && !p.principal.has_role(Role::Dsl))
        .expect("a practitioner with the role")
        .principal
        .clone()
}
