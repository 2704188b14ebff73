//! The notification worker that `kinship serve` runs beside the server.
//!
//! Sync queues an event for each fact that calls for a notification, in the transaction that
//! writes the fact (`store::notifications::enqueue`). The worker then:
//!
//! 1. **addresses** each event: the organisations holding a `dsl_current_school` involvement
//!    with the child now become its recipients, each with a notification due at the start of
//!    the next school day, and a webhook delivery for every enabled partner application that
//!    serves that organisation in the kind's role. Keyed by (fact, organisation) and
//!    (notification, partner), so doing it twice writes nothing;
//! 2. **delivers** each due webhook under a lease: the content is read through the gate for
//!    the recipient (principal `partner:<id>` of the school, role `dsl`, purpose
//!    `safeguarding`), the release is logged before the body first leaves, the body is signed
//!    (HMAC-SHA256, see [`signature`]) and POSTed. A 2xx marks it delivered and logs a receipt
//!    (with lateness); anything else schedules another attempt with exponential backoff and
//!    jitter, until it is acknowledged. A gate refusal ends it, logged.
//!
//! Delivery is at least once: a hub that dies after the partner answered 2xx but before the
//! row says so sends it again on restart, with the same `Kinship-Delivery` id, which partners
//! use to drop the repeat. Nothing else sends twice: the lease keeps replicas apart, and a
//! delivered row is never picked again.
//!
//! Limits: imports `gate`, `store`, `config` and `model`. Reads no personal data but through
//! [`RequestGate::notice`]; log lines name delivery ids and partners, never content.

pub mod signature;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveTime, Utc};
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use uuid::Uuid;

use crate::config::NotificationsConfig;
use crate::gate::notices::Notice;
use crate::gate::{Gate, GateError, Outcome, RequestGate, RequestInfo};
use crate::model::{NotificationKind, OrganisationId, Principal, Role};
use crate::store::notifications::{self as rows, Addressed, Delivery, DeliveryStatus};
use crate::store::{Store, StoreError};
use crate::sync::RetryPolicy;

/// Events addressed per pass.
const EVENTS_PER_PASS: u64 = 100;
/// Deliveries taken per pass.
const DELIVERIES_PER_PASS: u64 = 32;
/// Webhooks in flight at once.
const IN_FLIGHT: usize = 8;

/// Why a pass of the worker stopped. Names no content.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("store unavailable")]
    Store(#[from] StoreError),
    #[error("store unavailable")]
    Db(#[from] sea_orm::DbErr),
    #[error("gate: {0}")]
    Gate(#[from] GateError),
}

/// A partner application as the worker uses it.
#[derive(Clone)]
struct Partner {
    id: String,
    url: String,
    organisations: Vec<OrganisationId>,
    roles: Vec<Role>,
    secret: SecretString,
}

impl Partner {
    fn serves(&self, organisation: &OrganisationId, kind: NotificationKind) -> bool {
        self.organisations.contains(organisation) && self.roles.contains(&kind.role())
    }
}

/// A running worker: stops when dropped (a restart in a test, the end of `kinship serve`).
pub struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The body POSTed to a partner. The same bytes on every attempt of one delivery.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody<'a> {
    /// The delivery's id: the same on every attempt, so a partner can drop a repeat.
    pub delivery: Uuid,
    pub notification: &'a Notice,
}

/// The delivery worker.
#[derive(Clone)]
pub struct Worker {
    store: Store,
    gate: Gate,
    config: Arc<NotificationsConfig>,
    day_start: NaiveTime,
    partners: Arc<Vec<Partner>>,
    client: reqwest::Client,
    retry: RetryPolicy,
}

impl Worker {
    /// A worker over a store and a gate with the `[notifications]` configuration (already
    /// validated).
    pub fn new(store: Store, gate: Gate, config: &NotificationsConfig) -> Self {
        let partners = config
            .partners
            .iter()
            .filter(|p| p.enabled)
            .map(|p| Partner {
                id: p.id.clone(),
                url: p.url.clone(),
                organisations: p
                    .organisations
                    .iter()
                    .filter_map(|o| o.parse().ok())
                    .collect(),
                roles: p.roles.iter().filter_map(|r| r.parse().ok()).collect(),
                secret: p.secret.clone(),
            })
            .collect();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_seconds))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            store,
            gate,
            day_start: config
                .day_start()
                .unwrap_or(NaiveTime::MIN + chrono::TimeDelta::minutes(450)),
            config: Arc::new(config.clone()),
            partners: Arc::new(partners),
            client,
            retry: RetryPolicy {
                base: Duration::from_millis(config.retry_base_ms),
                max_delay: Duration::from_millis(config.retry_max_ms),
                max_attempts: u32::MAX,
            },
        }
    }

    /// Runs until the task is dropped: address, deliver, wait, again.
    pub async fn run(self) {
        let poll = Duration::from_millis(self.config.poll_ms);
        loop {
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "notification pass did not finish");
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Starts the worker on the runtime. It runs until the returned handle is dropped.
    pub fn spawn(self) -> Running {
        Running(tokio::spawn(self.run()))
    }

    /// One pass: address every waiting event, then attempt every due delivery.
    pub async fn pass(&self) -> Result<(), NotifyError> {
        while self.address().await? == EVENTS_PER_PASS as usize {}
        self.deliver().await
    }

    /// Addresses up to a page of waiting events; returns how many it took.
    async fn address(&self) -> Result<usize, NotifyError> {
        let conn = self.store.conn();
        let events = rows::unexpanded(conn, EVENTS_PER_PASS).await?;
        let max_age = chrono::TimeDelta::hours(
            i64::try_from(self.config.max_age_hours).unwrap_or(i64::MAX / 3_600_000),
        );
        let mut raised = false;
        for event in &events {
            let now = Utc::now();
            let addressed: Vec<Addressed> = if now - event.occurred_at > max_age {
                tracing::debug!(fact = %event.fact_id, "incident too old to notify");
                Vec::new()
            } else {
                rows::recipients(conn, event.person_id, event.kind.involvement(), now)
                    .await?
                    .into_iter()
                    .map(|organisation| Addressed {
                        due_at: due_by(now, self.day_start),
                        partners: self
                            .partners
                            .iter()
                            .filter(|p| p.serves(&organisation, event.kind))
                            .map(|p| p.id.clone())
                            .collect(),
                        organisation,
                    })
                    .collect()
            };
            raised |= !addressed.is_empty();
            let txn = crate::store::begin_write(conn).await?;
            rows::expand(&txn, event, &addressed, now).await?;
            txn.commit().await?;
        }
        if raised {
            self.gate.notices_changed();
        }
        Ok(events.len())
    }

    /// Attempts every due delivery, a few at once.
    async fn deliver(&self) -> Result<(), NotifyError> {
        let due = rows::due(self.store.conn(), Utc::now(), DELIVERIES_PER_PASS).await?;
        futures_util::stream::iter(due)
            .for_each_concurrent(IN_FLIGHT, |d| async move {
                let id = d.id;
                if let Err(e) = self.attempt(d).await {
                    tracing::warn!(delivery = %id, error = %e, "notification delivery attempt failed");
                }
            })
            .await;
        Ok(())
    }

    /// One attempt at one delivery, if this worker wins its lease.
    async fn attempt(&self, d: Delivery) -> Result<(), NotifyError> {
        let conn = self.store.conn();
        let now = Utc::now();
        let lease = now
            + chrono::TimeDelta::seconds(
                i64::try_from(self.config.timeout_seconds).unwrap_or(3_600) + 30,
            );
        if !rows::claim(conn, d.id, now, lease).await? {
            return Ok(());
        }
        let Some(partner) = self.partners.iter().find(|p| p.id == d.partner).cloned() else {
            // Its partner left the configuration: keep it for when it comes back.
            let later = now + chrono::TimeDelta::milliseconds(self.config.retry_max_ms as i64);
            rows::mark_failed(conn, d.id, d.attempts, later, "partner not configured").await?;
            return Ok(());
        };
        let Some(row) = rows::notice(conn, d.notification_id).await? else {
            rows::mark_done(conn, d.id, DeliveryStatus::Refused, d.attempts, now).await?;
            return Ok(());
        };
        let gate = self.recipient_gate(&partner, &d, row.kind);
        let released = match gate.notice(&row).await {
            Ok(r) => r,
            Err(e) => {
                self.retry_later(&d, d.attempts, "gate unavailable").await?;
                return Err(e.into());
            }
        };
        let notice = match released {
            None => {
                // The fact is gone (its record was retracted): nothing to tell.
                rows::mark_done(conn, d.id, DeliveryStatus::Refused, d.attempts, now).await?;
                return Ok(());
            }
            Some(Err(denial)) => {
                tracing::info!(delivery = %d.id, reason = denial.reason.as_str(), "notification refused by the protocols");
                let logged = gate
                    .finish(outcome(&partner, "", "withheld"))
                    .await
                    .map(|_| ());
                if let Err(e) = logged {
                    self.retry_later(&d, d.attempts, "access log unavailable")
                        .await?;
                    return Err(e.into());
                }
                rows::mark_done(conn, d.id, DeliveryStatus::Refused, d.attempts, now).await?;
                return Ok(());
            }
            Some(Ok(notice)) => notice,
        };
        let body = serde_json::to_vec(&WebhookBody {
            delivery: d.id,
            notification: &notice,
        })
        .unwrap_or_default();
        if d.released_at.is_none() {
            // No unlogged release: the entry is written before the body first leaves.
            let hash = crate::audit::query_hash(&String::from_utf8_lossy(&body));
            if let Err(e) = gate.finish(outcome(&partner, &hash, "released")).await {
                self.retry_later(&d, d.attempts, "access log unavailable")
                    .await?;
                return Err(e.into());
            }
            rows::mark_released(conn, d.id, Utc::now()).await?;
        }
        let attempts = d.attempts + 1;
        match self.post(&partner, d.id, row.kind, &body).await {
            Ok(()) => {
                let receipt = self.recipient_gate(&partner, &d, row.kind);
                receipt.acknowledged(&notice, d.id, &partner.id, attempts);
                if let Err(e) = receipt.finish(outcome(&partner, "", "acknowledged")).await {
                    // The partner has it: sending again would be a duplicate. The release
                    // entry stands; the missing receipt is an error for the operators.
                    tracing::error!(delivery = %d.id, error = %e, "notification receipt not logged");
                }
                rows::mark_done(conn, d.id, DeliveryStatus::Delivered, attempts, Utc::now())
                    .await?;
                tracing::info!(delivery = %d.id, partner = %partner.id, attempts, "notification delivered");
            }
            Err(failure) => {
                tracing::info!(delivery = %d.id, partner = %partner.id, attempts, failure = %failure, "notification not acknowledged; will retry");
                self.retry_later(&d, attempts, &failure).await?;
            }
        }
        Ok(())
    }

    async fn retry_later(&self, d: &Delivery, attempts: i64, why: &str) -> Result<(), NotifyError> {
        let wait = self
            .retry
            .delay(u32::try_from(attempts.max(1)).unwrap_or(u32::MAX), None);
        let next = Utc::now() + chrono::TimeDelta::from_std(wait).unwrap_or_default();
        rows::mark_failed(self.store.conn(), d.id, attempts, next, why).await?;
        Ok(())
    }

    /// The gate of the recipient: the partner acting as the school's DSL office.
    fn recipient_gate(
        &self,
        partner: &Partner,
        d: &Delivery,
        kind: NotificationKind,
    ) -> RequestGate {
        self.gate.for_request(RequestInfo {
            principal: Principal {
                subject: format!("partner:{}", partner.id),
                organisation: d.organisation.clone(),
                roles: vec![kind.role()],
            },
            purpose: Some(kind.purpose()),
            justification: None,
            request_id: d.id.to_string(),
            client_addr: None,
        })
    }

    /// POSTs a signed body; `Err` names what went wrong (a status or `timeout`), never what
    /// the partner answered.
    async fn post(
        &self,
        partner: &Partner,
        delivery: Uuid,
        kind: NotificationKind,
        body: &[u8],
    ) -> Result<(), String> {
        let timestamp = Utc::now().timestamp();
        let signed = signature::sign(partner.secret.expose_secret().as_bytes(), timestamp, body);
        let res = self
            .client
            .post(&partner.url)
            .timeout(Duration::from_secs(self.config.timeout_seconds))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature::DELIVERY_HEADER, delivery.to_string())
            .header(signature::EVENT_HEADER, kind.as_str())
            .header(signature::SIGNATURE_HEADER, signed)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "timeout".to_owned()
                } else {
                    "connection failed".to_owned()
                }
            })?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!("http {}", res.status().as_u16()))
        }
    }
}

fn outcome(partner: &Partner, hash: &str, status: &str) -> Outcome {
    Outcome {
        operation_name: Some(format!("notification webhook {}", partner.id)),
        registered_operation: None,
        query_hash: hash.to_owned(),
        status: status.to_owned(),
    }
}

/// When a notification raised at `now` is due: the start of the next weekday (Monday to
/// Friday) after `now`. Term dates are not modelled, so a holiday counts as a school day.
pub fn due_by(now: DateTime<Utc>, day_start: NaiveTime) -> DateTime<Utc> {
    let mut day = now.date_naive();
    for _ in 0..8 {
        let start = day.and_time(day_start).and_utc();
        if start > now && day.weekday().number_from_monday() <= 5 {
            return start;
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_is_due_before_the_next_school_day_starts() {
        let start = NaiveTime::from_hms_opt(7, 30, 0).unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // Tuesday evening: Wednesday morning.
        assert_eq!(
            due_by(at("2026-11-24T21:00:00Z"), start),
            at("2026-11-25T07:30:00Z")
        );
        // Wednesday before the start: that morning.
        assert_eq!(
            due_by(at("2026-11-25T06:00:00Z"), start),
            at("2026-11-25T07:30:00Z")
        );
        // Friday night and Saturday: Monday.
        assert_eq!(
            due_by(at("2026-11-27T23:00:00Z"), start),
            at("2026-11-30T07:30:00Z")
        );
        assert_eq!(
            due_by(at("2026-11-28T12:00:00Z"), start),
            at("2026-11-30T07:30:00Z")
        );
    }
}
