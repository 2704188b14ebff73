//! GraphQL over HTTP, as the GraphQL-over-HTTP specification prescribes: POST with a JSON
//! body or GET for queries; answers in `application/graphql-response+json` when the client
//! accepts it (400 for a document that does not parse or validate) and in `application/json`
//! otherwise (200 for any well-formed request).
//!
//! A request carries its document as `query` text, or names a registered operation with
//! `documentId` (or Apollo's `extensions.persistedQuery.sha256Hash`).
//!
//! Order of checks: the bearer token (401), the purpose header (400), the media types (406,
//! 415), the method (405 for a mutation over GET), the registered operation (400 for an unknown
//! `documentId`; 403 for an unregistered document where registration is required), then
//! execution, then the access-log entry — written before the response leaves, or the request
//! fails with 503.

use std::net::SocketAddr;

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::auth::AuthError;
use super::{App, Metrics, REQUEST_ID};
use crate::api::{self, RequestFlags};
use crate::audit::query_hash;
use crate::error::ErrorCode;
use crate::gate::operations::{Registered, Resolved};
use crate::gate::{Outcome, RequestInfo};
use crate::model::Purpose;

/// The header declaring the purpose of use.
pub const PURPOSE_HEADER: &str = "kinship-purpose";
/// The header carrying a break-glass justification.
pub const JUSTIFICATION_HEADER: &str = "kinship-justification";
/// The longest justification kept.
const MAX_JUSTIFICATION: usize = 2_000;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    GraphqlResponseJson,
    Json,
}

impl Media {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        })
    }
}

/// Picks the answer's media type from `Accept`: the most preferred of the two we speak.
/// No `Accept` (or `*/*` alone) means `application/json`, as the specification advises for
/// legacy clients.
fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    let mut best: Option<(f32, u8, Media)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        // Exact types beat wildcards at equal q.
        let candidate = match media.as_str() {
            GRAPHQL_RESPONSE_JSON => (2, Media::GraphqlResponseJson),
            JSON => (2, Media::Json),
            "application/*" | "*/*" => (1, Media::Json),
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, bs, _)| (q, candidate.0) > (bq, bs)) {
            best = Some((q, candidate.0, candidate.1));
        }
    }
    best.map(|(_, _, m)| m)
}

/// A request-level error: `{"errors": [...]}` with no `data`.
pub fn error_response(code: ErrorCode, message: &str, media: Option<Media>) -> Response {
    let body =
        json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    let mut response = (code.status(), axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        media.unwrap_or(Media::Json).content_type(),
    );
    response
}

/// A request refused before execution: its code and message.
struct Rejection(ErrorCode, String);

impl Rejection {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(code, message.into())
    }

    fn into_response(self, media: Option<Media>) -> Response {
        error_response(self.0, &self.1, media)
    }
}

fn unauthorized(e: &AuthError) -> Response {
    let mut response = error_response(ErrorCode::Unauthenticated, &e.to_string(), None);
    let challenge = match e {
        AuthError::Missing => "Bearer realm=\"kinship\"",
        _ => "Bearer realm=\"kinship\", error=\"invalid_token\"",
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

fn bearer(headers: &HeaderMap) -> Result<&str, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(token.trim())
}

fn purpose(headers: &HeaderMap) -> Result<Option<Purpose>, Rejection> {
    let Some(value) = headers.get(PURPOSE_HEADER) else {
        return Ok(None);
    };
    let known = Purpose::ALL
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Rejection::new(
                ErrorCode::PurposeUnknown,
                format!("the `Kinship-Purpose` header names no known purpose; use one of: {known}"),
            )
        })
}

fn justification(headers: &HeaderMap) -> Option<String> {
    let text = headers.get(JUSTIFICATION_HEADER)?.to_str().ok()?.trim();
    (!text.is_empty()).then(|| text.chars().take(MAX_JUSTIFICATION).collect())
}

/// `POST /graphql` with a JSON body.
pub async fn post_handler(
    State(app): State<App>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(JSON));
    handle(&app, addr, &headers, false, move || {
        if !is_json {
            return Err(Rejection::new(
                ErrorCode::UnsupportedMediaType,
                "send the request as `Content-Type: application/json`",
            ));
        }
        let bad = || {
            Rejection::new(
                ErrorCode::BadRequest,
                "the body is not a GraphQL request: expected JSON with a `query` or `documentId` string",
            )
        };
        let mut value: serde_json::Value = serde_json::from_slice(&body).map_err(|_| bad())?;
        let document_id = document_id(&value);
        match (value.get("query"), &document_id) {
            (Some(serde_json::Value::String(_)), _) => {}
            (None | Some(serde_json::Value::Null), Some(_)) => {
                value["query"] = serde_json::Value::String(String::new());
            }
            _ => return Err(bad()),
        }
        let request = serde_json::from_value::<async_graphql::Request>(value).map_err(|_| bad())?;
        Ok((request, document_id))
    })
    .await
}

/// `GET /graphql`: a WebSocket for subscriptions, or a query in the URL, or GraphiQL.
pub async fn get_or_upgrade(
    State(app): State<App>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    if super::subscriptions::is_upgrade(request.headers()) {
        return super::subscriptions::upgrade(app, addr, request).await;
    }
    let query = request.uri().query().map(str::to_owned);
    let headers = request.headers().clone();
    get_handler(State(app), ConnectInfo(addr), headers, RawQuery(query)).await
}

/// `GET /graphql`: a query in the URL, or GraphiQL for a browser.
pub async fn get_handler(
    State(app): State<App>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if app.graphiql && wants_html && query.as_deref().is_none_or(str::is_empty) {
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .title("Kinship")
                .header("Kinship-Purpose", "safeguarding")
                .finish(),
        )
        .into_response();
    }
    handle(&app, addr, &headers, true, move || {
        let raw = query.as_deref().unwrap_or("");
        let params: std::collections::HashMap<String, String> =
            axum::extract::Query::try_from_uri(&format!("/?{raw}").parse().map_err(|_| {
                Rejection::new(ErrorCode::BadRequest, "the URL is not a GraphQL request")
            })?)
            .map(|q| q.0)
            .unwrap_or_default();
        let document_id = params.get("documentId").cloned();
        let raw = match (&document_id, params.contains_key("query")) {
            (Some(_), false) => format!("{raw}&query="),
            _ => raw.to_owned(),
        };
        let request = async_graphql::http::parse_query_string(&raw).map_err(|_| {
            Rejection::new(
                ErrorCode::BadRequest,
                "the URL is not a GraphQL request: expected a `query` or `documentId` parameter",
            )
        })?;
        Ok((request, document_id))
    })
    .await
}

/// The registered operation a POST body names: `documentId` (the GraphQL-over-HTTP
/// persisted-documents form) or Apollo's `extensions.persistedQuery.sha256Hash`.
fn document_id(body: &serde_json::Value) -> Option<String> {
    if let Some(id) = body.get("documentId").and_then(serde_json::Value::as_str) {
        return Some(id.to_owned());
    }
    body.pointer("/extensions/persistedQuery/sha256Hash")
        .and_then(serde_json::Value::as_str)
        .map(|h| format!("sha256:{h}"))
}

/// Finds the registered operation a request runs, and puts its document in the request when
/// the client sent only its id. `None` for an unregistered document the hub lets run.
async fn registered(
    app: &App,
    request: &mut async_graphql::Request,
    document_id: Option<&str>,
    hash: &str,
) -> Result<Option<std::sync::Arc<Registered>>, Rejection> {
    let resolved = app
        .gate
        .operations()
        .resolve(document_id, hash)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "registered operations unavailable");
            Rejection::new(ErrorCode::Unavailable, "the hub is not ready")
        })?;
    match resolved {
        Resolved::Registered(op) => {
            // Sent by id: run the registered text. Sent as text: its hash matched, so the
            // text is the registered one.
            if document_id.is_some() {
                request.query.clone_from(&op.document);
            }
            Ok(Some(op))
        }
        Resolved::UnknownId => Err(Rejection::new(
            ErrorCode::PersistedDocumentNotFound,
            "the `documentId` names no registered operation in force",
        )),
        Resolved::Unregistered if app.require_registered => Err(Rejection::new(
            ErrorCode::OperationNotRegistered,
            "this hub runs registered operations only: send a registered document or its `documentId`",
        )),
        Resolved::Unregistered => Ok(None),
    }
}

/// Whether the operation a request would run is a mutation (a GET may only run queries).
fn is_mutation(request: &async_graphql::Request) -> bool {
    let Ok(doc) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let op = match request.operation_name.as_deref() {
        Some(name) => doc
            .operations
            .iter()
            .find(|(n, _)| n.is_some_and(|n| n.as_str() == name)),
        None => doc.operations.iter().next(),
    };
    op.is_some_and(|(_, op)| op.node.ty == OperationType::Mutation)
}

async fn handle(
    app: &App,
    addr: SocketAddr,
    headers: &HeaderMap,
    is_get: bool,
    parse: impl FnOnce() -> Result<(async_graphql::Request, Option<String>), Rejection>,
) -> Response {
    Metrics::inc(&app.metrics.graphql_requests);
    let principal = match bearer(headers).and_then(|t| app.verifier.verify(t)) {
        Ok(p) => p,
        Err(e) => return unauthorized(&e),
    };
    let purpose = match purpose(headers) {
        Ok(p) => p,
        Err(rejection) => return rejection.into_response(None),
    };
    let Some(media) = negotiate(headers) else {
        return error_response(
            ErrorCode::NotAcceptable,
            "accept `application/graphql-response+json` or `application/json`",
            None,
        );
    };
    let (mut request, document_id) = match parse() {
        Ok(r) => r,
        Err(rejection) => return rejection.into_response(Some(media)),
    };
    // One hash of the text the client sent: it finds a registered operation, and names what
    // ran in the log (a document sent by id is hashed as its registered text).
    let sent_hash = query_hash(&request.query);
    let registered = match registered(app, &mut request, document_id.as_deref(), &sent_hash).await {
        Ok(r) => r,
        Err(rejection) => return rejection.into_response(Some(media)),
    };
    if is_get && is_mutation(&request) {
        let mut response = error_response(
            ErrorCode::MethodNotAllowed,
            "mutations must be sent with POST",
            Some(media),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let request_id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let gate = app.gate.for_request(RequestInfo {
        principal,
        purpose,
        justification: justification(headers),
        request_id,
        client_addr: Some(addr.ip().to_string()),
    });
    let flags = RequestFlags::default();
    let hash = match (&registered, document_id) {
        (Some(op), Some(_)) => query_hash(&op.document),
        _ => sent_hash,
    };
    let operation_name = request
        .operation_name
        .clone()
        .or_else(|| registered.as_ref().and_then(|op| op.name.clone()));
    let response = app
        .schema
        .execute(api::prepare(request, gate.clone(), flags.clone()))
        .await;
    let f = flags.get();
    let status = if f.internal {
        ErrorCode::Internal.as_str()
    } else if response.errors.is_empty() {
        "ok"
    } else {
        "partial"
    };
    // No unlogged reads: the entry is written before anything is released.
    let logged = gate
        .finish(Outcome {
            operation_name,
            registered_operation: registered.map(|op| op.id.clone()),
            query_hash: hash,
            status: status.to_owned(),
        })
        .await;
    match logged {
        Ok(Some(_)) => Metrics::inc(&app.metrics.access_log_entries),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "access log append failed");
            Metrics::inc(&app.metrics.access_log_failures);
            return error_response(
                ErrorCode::AuditUnavailable,
                "the access log could not be written, so no data was released",
                Some(media),
            );
        }
    }
    if f.purpose_required {
        return error_response(
            ErrorCode::PurposeRequired,
            "this request reads personal data: declare a purpose of use in the `Kinship-Purpose` header",
            Some(media),
        );
    }
    graphql_response(&response, f.request_error, media)
}

fn graphql_response(
    response: &async_graphql::Response,
    request_error: bool,
    media: Media,
) -> Response {
    let (status, body) = if request_error {
        // A request error: no `data` entry (spec §7.1.2); 400 for the new media type.
        let status = match media {
            Media::GraphqlResponseJson => StatusCode::BAD_REQUEST,
            Media::Json => StatusCode::OK,
        };
        (status, json!({ "errors": response.errors }))
    } else {
        let mut body = serde_json::to_value(response).unwrap_or_else(|_| json!({}));
        if let Some(obj) = body.as_object_mut() {
            obj.insert(
                "data".into(),
                serde_json::to_value(&response.data).unwrap_or(serde_json::Value::Null),
            );
        }
        (StatusCode::OK, body)
    };
    let mut http = (status, axum::Json(body)).into_response();
    http.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    http
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn negotiation_prefers_what_the_client_prefers() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(negotiate(&accept("*/*")), Some(Media::Json));
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(Media::GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Some(Media::Json)
        );
        assert_eq!(negotiate(&accept("text/csv")), None);
        assert_eq!(negotiate(&accept("application/json;q=0")), None);
    }
}
