//! Notifications through the gate. What a recipient is told of an event is decided by the
//! same rule set as any read — for the recipient principal, the kind's purpose and the fact's
//! category and owner — tallied, and logged by [`RequestGate::finish`] like a read. A
//! notification carries only the Encompass minimum, and of that only the payload fields the
//! deciding clause releases: the event reference, the child's role (present), when it
//! happened and whom to contact (the police force that holds it). The child is named by the
//! hub's pseudonymous id; names are read through the gate like any other read.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, BoxStream, StreamExt};
use serde::Serialize;
use uuid::Uuid;

use super::{ClauseRef, Gate, GateError, Gated, Outcome, RequestGate, RequestInfo, denial};
use crate::model::{NotificationKind, Organisation, OrganisationId, PersonId};
use crate::store::graph;
use crate::store::notifications::{self as rows, Notice as Row};

/// The payload keys a notification may carry, whatever else a clause would release.
pub const NOTICE_FIELDS: [&str; 2] = ["eventRef", "role"];

/// A notification as released to its recipient.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// The notification's id (one per event and recipient organisation).
    pub id: Uuid,
    pub kind: &'static str,
    /// The child, by the hub's pseudonymous id.
    pub child: PersonId,
    /// The recipient organisation (the school).
    pub recipient: OrganisationId,
    /// The police reference for the incident, when the clause releases it.
    pub event_ref: Option<String>,
    /// The child's role at the incident (`child_present`), when the clause releases it.
    pub role: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// Whom to contact: the organisation that holds the record.
    pub contact: Contact,
    /// The start of the next school day after the notification was raised.
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// The protocol clause that released it.
    pub protocol: Option<ClauseRef>,
}

/// Whom a recipient contacts about a notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Contact {
    pub organisation: OrganisationId,
    pub name: String,
}

impl RequestGate {
    /// The notification as the protocols release it to this request's principal, tallied for
    /// the request's log entry. `None` when its fact is no longer held.
    pub async fn notice(&self, n: &Row) -> Result<Option<Gated<Notice>>, GateError> {
        self.require_purpose()?;
        let conn = self.inner.store.conn();
        let Some(fact) = graph::fact(conn, n.fact_id).await? else {
            return Ok(None);
        };
        let contexts = self.contexts(&[fact.person_id]).await?;
        let Some(ctx) = contexts.get(&fact.person_id) else {
            return Ok(None);
        };
        let d = self.decide(ctx, fact.person_id, fact.category, &fact.organisation);
        let key = (fact.person_id, fact.category, fact.organisation.clone());
        if !d.permits() {
            self.record(key, &d, 0, 1);
            return Ok(Some(Err(denial(fact.category, &d))));
        }
        self.record(key, &d, 1, 0);
        let released = |k: &str| {
            NOTICE_FIELDS.contains(&k) && d.fields.as_ref().is_none_or(|f| f.iter().any(|x| x == k))
        };
        let field = |k: &str| {
            released(k)
                .then(|| fact.payload.get(k)?.as_str().map(str::to_owned))
                .flatten()
        };
        let name = graph::organisations(conn, std::slice::from_ref(&fact.organisation))
            .await?
            .into_iter()
            .next()
            .map_or_else(|| fact.organisation.to_string(), |o: Organisation| o.name);
        Ok(Some(Ok(Notice {
            id: n.id,
            kind: n.kind.as_str(),
            child: fact.person_id,
            recipient: n.organisation.clone(),
            event_ref: field("eventRef"),
            role: field("role"),
            occurred_at: fact.occurred_at,
            contact: Contact {
                organisation: fact.organisation.clone(),
                name,
            },
            due_at: n.due_at,
            created_at: n.created_at,
            protocol: d.by.clone(),
        })))
    }

    /// Records that a partner acknowledged a webhook delivery, for this request's log entry.
    pub fn acknowledged(&self, notice: &Notice, delivery: Uuid, partner: &str, attempts: i64) {
        let at = Utc::now();
        self.act(serde_json::json!({
            "action": "notification_acknowledged",
            "notification": notice.id.to_string(),
            "delivery": delivery.to_string(),
            "partner": partner,
            "recipient": notice.recipient.to_string(),
            "subject": notice.child.to_string(),
            "attempts": attempts,
            "due_at": notice.due_at,
            "late": at > notice.due_at,
        }));
    }
}

/// Where a subscription starts.
#[derive(Clone, Copy, Debug)]
pub enum Start {
    /// Only notifications raised from now on.
    Now,
    /// After this notification (a client resuming where it stopped).
    After(Uuid),
}

struct Feed {
    gate: Gate,
    info: RequestInfo,
    organisation: OrganisationId,
    after: Option<Uuid>,
    start: Option<Start>,
    buffer: VecDeque<Row>,
    changed: tokio::sync::watch::Receiver<u64>,
    poll: Duration,
    pause: bool,
}

impl Gate {
    /// Wakes subscriptions: new notifications may be waiting.
    pub fn notices_changed(&self) {
        self.notices.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The notifications for the principal's organisation, each decided through the gate for
    /// that principal and logged before it is yielded (a refused one is logged and skipped).
    /// Wakes when this hub raises notifications, and polls every `poll` for those another
    /// replica raised.
    pub fn notice_stream(
        &self,
        info: RequestInfo,
        start: Start,
        poll: Duration,
    ) -> BoxStream<'static, Result<Notice, GateError>> {
        let feed = Feed {
            gate: self.clone(),
            organisation: info.principal.organisation.clone(),
            info,
            after: None,
            start: Some(start),
            buffer: VecDeque::new(),
            changed: self.notices.subscribe(),
            poll,
            pause: false,
        };
        stream::unfold(feed, |mut f| async move {
            let item = f.next().await;
            Some((item, f))
        })
        .boxed()
    }
}

impl Feed {
    async fn next(&mut self) -> Result<Notice, GateError> {
        loop {
            if std::mem::take(&mut self.pause) {
                tokio::time::sleep(self.poll).await;
            }
            if let Some(start) = self.start {
                self.after = match start {
                    Start::After(id) => Some(id),
                    Start::Now => rows::latest_notice(self.gate.store.conn(), &self.organisation)
                        .await
                        .inspect_err(|_| self.pause = true)?,
                };
                self.start = None;
            }
            if let Some(row) = self.buffer.pop_front() {
                match self.release(&row).await {
                    Ok(released) => {
                        self.after = Some(row.id);
                        if let Some(notice) = released {
                            return Ok(notice);
                        }
                    }
                    Err(e) => {
                        // Try this one again after a pause.
                        self.buffer.push_front(row);
                        self.pause = true;
                        return Err(e);
                    }
                }
                continue;
            }
            let rows =
                rows::notices_for(self.gate.store.conn(), &self.organisation, self.after, 50)
                    .await
                    .inspect_err(|_| self.pause = true)?;
            if rows.is_empty() {
                tokio::select! {
                    changed = self.changed.changed() => {
                        if changed.is_err() {
                            tokio::time::sleep(self.poll).await;
                        }
                    }
                    () = tokio::time::sleep(self.poll) => {}
                }
            }
            self.buffer.extend(rows);
        }
    }

    /// One notification through the gate, logged: `None` when it is refused or gone.
    async fn release(&self, row: &Row) -> Result<Option<Notice>, GateError> {
        let gate = self.gate.for_request(RequestInfo {
            request_id: format!("{}/{}", self.info.request_id, row.id),
            ..self.info.clone()
        });
        let Some(released) = gate.notice(row).await? else {
            return Ok(None);
        };
        let body = serde_json::to_string(&released.as_ref().ok()).unwrap_or_default();
        let status = if released.is_ok() { "sent" } else { "withheld" };
        // No unlogged release: the entry is written before the message leaves.
        gate.finish(Outcome {
            operation_name: Some("notifications".into()),
            registered_operation: None,
            query_hash: crate::audit::query_hash(&body),
            status: status.into(),
        })
        .await?;
        Ok(released.ok())
    }
}

/// The kinds of notification a principal receives: those whose role they hold.
pub fn kinds_for(principal: &crate::model::Principal) -> Vec<NotificationKind> {
    NotificationKind::ALL
        .into_iter()
        .filter(|k| principal.has_role(k.role()))
        .collect()
}

/// The shared wake-up channel of a gate's subscriptions.
pub(super) fn channel() -> Arc<tokio::sync::watch::Sender<u64>> {
    Arc::new(tokio::sync::watch::Sender::new(0))
}
