//! The data-sharing board's pages at `/board`: a dashboard (reads over time by agency, denials,
//! break-glass awaiting review, when the chain was last verified), the filterable log with each
//! entry, a subject access report, the break-glass queue with review, protocol usage,
//! anomalies and registered operations, with CSV export of every list.
//!
//! The pages are static files compiled into the binary. They hold no data: the browser signs in
//! with a bearer token (kept in the tab's session storage) and asks `/graphql` under the `audit`
//! purpose, so the board reads through the same gate and leaves the same log entries as any
//! other client, and only `board_member` and `dpo` get answers. Pages are built with DOM text
//! nodes, never HTML strings, and served under a strict Content-Security-Policy.
//!
//! Limits: serves files; imports nothing of the gate or the store.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX: &str = include_str!("board/index.html");
const SCRIPT: &str = include_str!("board/app.js");
const STYLE: &str = include_str!("board/board.css");

/// The security headers every board response carries.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A static file with the security headers every page carries (the `/insights` page too).
pub(crate) fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The `/board` routes.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/board",
            get(|| async { file("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/board/",
            get(|| async { file("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/board/app.js",
            get(|| async { file("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/board/board.css",
            get(|| async { file("text/css; charset=utf-8", STYLE) }),
        )
}
