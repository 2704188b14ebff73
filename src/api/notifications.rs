//! The `notifications` subscription: Operation Encompass notifications for the caller's
//! organisation, over WebSocket (graphql-transport-ws). Each message is decided through the
//! gate for the caller and logged before it is sent; one the protocols refuse is logged and
//! left out.

use std::time::Duration;

use async_graphql::{Context, Enum, ID, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use super::errors::{bad_input, coded};
use crate::error::ErrorCode;
use crate::gate::notices::{self, Notice, Start};
use crate::gate::{Gate, RequestInfo};

/// Who a WebSocket connection speaks for: put in the connection's data by the server once
/// its `connection_init` carried a verified token. Present only on WebSocket connections.
#[derive(Clone)]
pub struct Subscriber {
    pub gate: Gate,
    pub info: RequestInfo,
    /// How often to look for notifications another hub replica raised.
    pub poll: Duration,
}

/// What a notification is about.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    /// A police domestic-abuse incident the child was present at (Operation Encompass).
    OperationEncompass,
}

/// Whom to contact about a notification.
#[derive(SimpleObject)]
pub struct NotificationContact {
    /// The organisation that holds the record, `<kind>:<code>`.
    pub organisation: String,
    pub name: String,
}

/// A notification to a designated safeguarding lead: that an incident happened, when, that the
/// child was present and whom to contact — only what the deciding protocol clause releases.
#[derive(SimpleObject)]
pub struct Notification {
    /// Stable: pass it as `after` to resume after this one.
    pub id: ID,
    pub kind: NotificationKind,
    /// The child, by the hub's id: read `person(id:)` for what the protocols let you see.
    pub child_id: ID,
    /// The organisation notified (your school), `<kind>:<code>`.
    pub recipient: String,
    /// The police reference for the incident.
    pub event_ref: Option<String>,
    /// The child's role at the incident (`child_present`).
    pub role: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub contact: NotificationContact,
    /// The start of the next school day after the notification was raised.
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// The protocol and clause that released it, e.g. `P-ENC 1.2 2.1`.
    pub released_under: Option<String>,
}

impl From<Notice> for Notification {
    fn from(n: Notice) -> Self {
        Self {
            id: ID(n.id.to_string()),
            kind: NotificationKind::OperationEncompass,
            child_id: ID(n.child.to_string()),
            recipient: n.recipient.to_string(),
            event_ref: n.event_ref,
            role: n.role,
            occurred_at: n.occurred_at,
            contact: NotificationContact {
                organisation: n.contact.organisation.to_string(),
                name: n.contact.name,
            },
            due_at: n.due_at,
            created_at: n.created_at,
            released_under: n.protocol.map(|p| match p.clause {
                Some(c) => format!("{} {} {c}", p.protocol, p.version),
                None => format!("{} {}", p.protocol, p.version),
            }),
        }
    }
}

/// The subscription root's notification fields.
#[derive(Default)]
pub struct NotificationSubscription;

#[Subscription]
impl NotificationSubscription {
    /// Notifications for your organisation as they are raised (`dsl`, purpose
    /// `safeguarding`), over WebSocket with the graphql-transport-ws protocol: send the token
    /// and purpose in `connection_init` (`{"authorization": "Bearer …", "purpose":
    /// "safeguarding"}`). Without `after`, only notifications raised from now on; with it,
    /// those raised after that notification first.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        after: Option<ID>,
    ) -> Result<impl Stream<Item = Result<Notification>> + use<>> {
        let Ok(s) = ctx.data::<Subscriber>() else {
            return Err(coded(
                ErrorCode::BadRequest,
                "subscriptions are served over WebSocket (graphql-transport-ws) at /graphql",
            ));
        };
        if s.info.purpose.is_none() {
            return Err(coded(
                ErrorCode::PurposeRequired,
                "notifications are personal data: declare a purpose of use in `connection_init` (`purpose`)",
            ));
        }
        if notices::kinds_for(&s.info.principal).is_empty() {
            return Err(coded(
                ErrorCode::Forbidden,
                "notifications are sent to the `dsl` role only",
            ));
        }
        let start =
            match after {
                Some(id) => Start::After(id.parse().map_err(|_| {
                    bad_input(format!("`{}` is not a notification id", id.as_str()))
                })?),
                None => Start::Now,
            };
        Ok(s.gate
            .notice_stream(s.info.clone(), start, s.poll)
            .map(|item| {
                item.map(Notification::from).map_err(|e| {
                    tracing::error!(error = %e, "notification subscription failed");
                    coded(ErrorCode::Internal, "internal error")
                })
            }))
    }
}
