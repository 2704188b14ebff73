//! Gate outcomes as GraphQL errors, with stable `extensions.code`s.

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::{Context, ErrorExtensions};

use crate::error::ErrorCode;
use crate::gate::{Denial, GateError};

/// What happened during execution that changes the HTTP answer. Shared between the handler
/// and resolvers through the request's data.
#[derive(Clone, Debug, Default)]
pub struct RequestFlags(Arc<Mutex<Flags>>);

/// The flags themselves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// The document did not parse or validate: a GraphQL request error.
    pub request_error: bool,
    /// Personal data was asked for with no purpose declared.
    pub purpose_required: bool,
    /// The store failed under a resolver.
    pub internal: bool,
}

impl RequestFlags {
    /// The flags as they stand.
    pub fn get(&self) -> Flags {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set(&self, f: impl FnOnce(&mut Flags)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// An error with a code in its extensions.
pub fn coded(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

/// A refusal by the protocols.
pub fn denied(d: &Denial) -> async_graphql::Error {
    async_graphql::Error::new(d.to_string()).extend_with(|_, e| {
        e.set("code", ErrorCode::IspDenied.as_str());
        e.set("category", d.category.as_str());
        e.set("reason", d.reason.as_str());
        if let Some(by) = &d.by {
            e.set("protocol", by.protocol.as_ref());
            e.set("protocolVersion", by.version.as_ref());
            if let Some(clause) = &by.clause {
                e.set("clause", clause.as_ref());
            }
        }
        if d.break_glass_available {
            e.set("breakGlassAvailable", true);
        }
    })
}

/// A failure of the gate, flagged for the handler. Store detail goes to the log, never to
/// the client.
pub fn gate_failed(ctx: &Context<'_>, e: &GateError) -> async_graphql::Error {
    let flags = ctx.data_opt::<RequestFlags>();
    match e {
        GateError::PurposeRequired => {
            if let Some(f) = flags {
                f.set(|f| f.purpose_required = true);
            }
            coded(ErrorCode::PurposeRequired, e.to_string())
        }
        GateError::Forbidden(message) => coded(ErrorCode::Forbidden, message.clone()),
        GateError::Invalid(message) => coded(ErrorCode::BadUserInput, message.clone()),
        GateError::Store(_) | GateError::Audit(_) => {
            tracing::error!(error = %e, source = ?std::error::Error::source(e), "gate read failed");
            if let Some(f) = flags {
                f.set(|f| f.internal = true);
            }
            coded(ErrorCode::Internal, "internal error")
        }
    }
}

/// A malformed argument.
pub fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    coded(ErrorCode::BadUserInput, message)
}

/// An id argument, or a clear error naming what it should have been.
pub fn parse_id<T: std::str::FromStr>(
    id: &async_graphql::ID,
    what: &str,
) -> async_graphql::Result<T> {
    id.parse::<T>()
        .map_err(|_| bad_input(format!("`{}` is not a {what} id", id.as_str())))
}

/// A data category argument (`health.unscheduled_care`).
pub fn parse_category(c: &str) -> async_graphql::Result<crate::model::DataCategory> {
    c.parse()
        .map_err(|_| bad_input(format!("unknown data category `{c}`")))
}
