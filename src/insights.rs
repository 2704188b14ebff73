//! The partnership indicators page at `/insights`: each KPI over time as a chart and a table,
//! with CSV export of what is shown.
//!
//! Like the board's pages, the page is static files compiled into the binary and holds no
//! data: the browser signs in with a bearer token (the board's sign-in, kept in the tab's
//! session storage) and asks `/graphql` for `kpis` under the `statistics` purpose, so every
//! look goes through the gate, the protocols and the access log. Suppressed counts arrive as
//! null with `suppressed: true` and are shown as suppressed, never as zero. It reuses the
//! board's stylesheet and security headers.
//!
//! Limits: serves files; imports nothing of the gate or the store.

use axum::Router;
use axum::routing::get;

use crate::board::file;

const INDEX: &str = include_str!("insights/index.html");
const SCRIPT: &str = include_str!("insights/app.js");
const STYLE: &str = include_str!("insights/insights.css");

/// The `/insights` routes.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/insights",
            get(|| async { file("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/insights/",
            get(|| async { file("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/insights/app.js",
            get(|| async { file("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/insights/insights.css",
            get(|| async { file("text/css; charset=utf-8", STYLE) }),
        )
}
