//! The stable error codes clients see, and their HTTP statuses: the one edge mapping.
//!
//! Only `api` and `server` map errors into these. Codes are part of the API contract; messages
//! are lowercase single lines that name a header, clause, category or id, never personal data.

use axum::http::StatusCode;

/// A stable error code, sent as `extensions.code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// No bearer token, or one that failed verification.
    Unauthenticated,
    /// The request reads personal data but declares no purpose of use.
    PurposeRequired,
    /// The `Kinship-Purpose` header names no purpose in the catalogue.
    PurposeUnknown,
    /// The information-sharing protocols do not permit this read.
    IspDenied,
    /// The caller's role may not use this operation at all.
    Forbidden,
    /// An argument is malformed (an id, a date, an identifier).
    BadUserInput,
    /// The request is not a well-formed GraphQL-over-HTTP request.
    BadRequest,
    /// The operation is too deep, too complex or uses too many aliases.
    QueryTooComplex,
    /// The hub runs registered operations only, and this one is not (or no longer) registered.
    OperationNotRegistered,
    /// A `documentId` names no registered operation.
    PersistedDocumentNotFound,
    /// Mutations cannot be sent with GET.
    MethodNotAllowed,
    /// The client accepts no media type we can answer with.
    NotAcceptable,
    /// The body is not JSON.
    UnsupportedMediaType,
    /// The access log could not be written, so no data is released.
    AuditUnavailable,
    /// The hub is not ready (database unreachable, protocols not loaded).
    Unavailable,
    /// Anything else; detail goes to the server's log only.
    Internal,
}

impl ErrorCode {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::PurposeRequired => "PURPOSE_REQUIRED",
            Self::PurposeUnknown => "PURPOSE_UNKNOWN",
            Self::IspDenied => "ISP_DENIED",
            Self::Forbidden => "FORBIDDEN",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::BadRequest => "BAD_REQUEST",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::OperationNotRegistered => "OPERATION_NOT_REGISTERED",
            Self::PersistedDocumentNotFound => "PERSISTED_DOCUMENT_NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::NotAcceptable => "NOT_ACCEPTABLE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::AuditUnavailable => "AUDIT_UNAVAILABLE",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }

    /// The HTTP status of a request that fails as a whole with this code. Field-level codes
    /// (`ISP_DENIED`, `FORBIDDEN`, `BAD_USER_INPUT`) travel inside a 200 with partial data.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::PurposeRequired
            | Self::PurposeUnknown
            | Self::BadUserInput
            | Self::BadRequest
            | Self::QueryTooComplex
            | Self::PersistedDocumentNotFound => StatusCode::BAD_REQUEST,
            Self::OperationNotRegistered => StatusCode::FORBIDDEN,
            Self::IspDenied | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::AuditUnavailable | Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
