//! GraphQL subscriptions over WebSocket, with the graphql-transport-ws protocol, on
//! `GET /graphql` with `Upgrade: websocket`.
//!
//! Identity enters as it does over HTTP, once per connection: `connection_init`'s payload
//! carries the bearer token (`authorization: "Bearer …"`, or `token`) and the purpose
//! (`purpose`); a client that can set headers on the upgrade request may send
//! `Authorization` and `Kinship-Purpose` there instead. A token that does not verify, or a
//! purpose that is not in the catalogue, closes the connection before anything is served.
//! Only subscriptions run over the socket; each message a subscription sends is decided by the
//! gate and logged first (see `gate::notices`).

use std::net::SocketAddr;

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{FromRequestParts, Request, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::auth::AuthError;
use super::graphql::{PURPOSE_HEADER, error_response};
use super::{App, REQUEST_ID};
use crate::api::Subscriber;
use crate::error::ErrorCode;
use crate::gate::RequestInfo;
use crate::model::Purpose;

/// The one WebSocket subprotocol served.
const GRAPHQL_TRANSPORT_WS: &str = "graphql-transport-ws";

/// Whether a request asks to become a WebSocket.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Upgrades to a graphql-transport-ws connection.
pub async fn upgrade(app: App, addr: SocketAddr, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let offered = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim() == GRAPHQL_TRANSPORT_WS));
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(p) if offered => p,
        _ => {
            return error_response(
                ErrorCode::BadRequest,
                "offer the `graphql-transport-ws` WebSocket subprotocol",
                None,
            );
        }
    };
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let headers = parts.headers;
    ws.protocols([GRAPHQL_TRANSPORT_WS])
        .on_upgrade(move |socket| {
            let schema = app.schema.clone();
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    connect(&app, &headers, addr, &payload).map_err(async_graphql::Error::new)
                })
                .serve()
        })
}

/// The connection's data from `connection_init`: a verified principal and a declared
/// purpose, or why not (a message naming no claim value).
fn connect(
    app: &App,
    headers: &HeaderMap,
    addr: SocketAddr,
    payload: &Value,
) -> Result<Data, String> {
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| payload.get(*n).and_then(Value::as_str))
            .map(str::to_owned)
    };
    let token = field(&["authorization", "Authorization"])
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .map(|v| match v.trim().split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim().to_owned(),
            _ => v.trim().to_owned(),
        })
        .or_else(|| field(&["token"]))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            "missing bearer token: send `authorization: \"Bearer <token>\"` in connection_init"
                .to_owned()
        })?;
    let principal = app
        .verifier
        .verify(&token)
        .map_err(|e: AuthError| e.to_string())?;
    let purpose = field(&["purpose", "Kinship-Purpose", PURPOSE_HEADER])
        .or_else(|| {
            headers
                .get(PURPOSE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .map(|p| {
            p.trim()
                .parse::<Purpose>()
                .map_err(|_| "the `purpose` names no known purpose of use".to_owned())
        })
        .transpose()?;
    let request_id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut data = Data::default();
    data.insert(Subscriber {
        gate: app.gate.clone(),
        info: RequestInfo {
            principal,
            purpose,
            justification: None,
            request_id,
            client_addr: Some(addr.ip().to_string()),
        },
        poll: app.notice_poll,
    });
    Ok(data)
}
