//! Liveness, readiness and metrics.

use std::any::Any;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::App;
use crate::error::ErrorCode;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The hub can serve: the database answers, is migrated, and protocols are loaded.
pub async fn readyz(State(app): State<App>) -> Response {
    match app.gate.ready().await {
        Ok(true) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "not ready", "reason": "migrations pending or no protocols loaded" })),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "not ready", "reason": "database unavailable" })),
            )
                .into_response()
        }
    }
}

/// Counters in the Prometheus text format. None carries personal data.
pub async fn metrics(State(app): State<App>) -> Response {
    let (statements, failed) = (app.statements)();
    let m = &app.metrics;
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    };
    counter(
        "kinship_db_statements_total",
        "SQL statements executed.",
        statements,
    );
    counter(
        "kinship_db_statements_failed_total",
        "SQL statements that failed.",
        failed,
    );
    counter(
        "kinship_graphql_requests_total",
        "GraphQL requests received.",
        m.graphql_requests.load(Ordering::Relaxed),
    );
    counter(
        "kinship_access_log_entries_total",
        "Access-log entries written.",
        m.access_log_entries.load(Ordering::Relaxed),
    );
    counter(
        "kinship_access_log_failures_total",
        "Requests refused because the access log could not be written.",
        m.access_log_failures.load(Ordering::Relaxed),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// A panic becomes a plain 500: its message may hold anything, so it goes to the log only.
pub fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    super::graphql::error_response(ErrorCode::Internal, "internal error", None)
}
