//! The HTTP server: one axum router with every layer in one place.
//!
//! Identity enters here once: the bearer token is verified and the `Kinship-Purpose` header
//! read, then a per-request gate goes into the GraphQL request's data. Resolvers never read
//! headers.
//!
//! Limits: imports `api`, `gate`, `config`, `error`, `model`; never `store` directly.

pub mod auth;
mod graphql;
mod health;
mod subscriptions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, StatusCode};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::api::{self, KinshipSchema};
use crate::config::Config;
use crate::gate::Gate;
use auth::{KeyError, TokenVerifier};

/// The header carrying the request id on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub graphql_requests: AtomicU64,
    pub access_log_entries: AtomicU64,
    pub access_log_failures: AtomicU64,
}

/// What every handler shares.
#[derive(Clone)]
pub struct App {
    pub(crate) gate: Gate,
    pub(crate) schema: KinshipSchema,
    pub(crate) verifier: Arc<TokenVerifier>,
    pub(crate) graphiql: bool,
    /// Run registered operations only.
    pub(crate) require_registered: bool,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) statements: Arc<dyn Fn() -> (u64, u64) + Send + Sync>,
    /// How often notification subscriptions look for notifications other replicas raised.
    pub(crate) notice_poll: Duration,
}

impl App {
    /// The application state from configuration, a gate and a way to read the store's
    /// statement counters.
    pub fn new(
        config: &Config,
        gate: Gate,
        statements: Arc<dyn Fn() -> (u64, u64) + Send + Sync>,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            gate,
            schema: api::schema(
                &config.graphql,
                api::ConfiguredConnectors(
                    config
                        .connectors
                        .iter()
                        .map(|c| crate::gate::admin::Configured {
                            id: c.id.clone(),
                            kind: c.kind.clone(),
                            enabled: c.enabled,
                            schedule_seconds: c.schedule_seconds,
                        })
                        .collect(),
                ),
            ),
            verifier: Arc::new(TokenVerifier::from_config(&config.auth)?),
            graphiql: config.graphql.graphiql,
            require_registered: config.graphql.require_registered,
            metrics: Arc::new(Metrics::default()),
            statements,
            notice_poll: Duration::from_millis(config.notifications.poll_ms),
        })
    }
}

/// The router with every layer, outermost first in reading order: request id, tracing,
/// panics to 500, timeout, body limit.
pub fn router(app: App, config: &Config) -> Router {
    let timeout = Duration::from_secs(config.server.request_timeout_seconds);
    Router::new()
        .route(
            "/graphql",
            get(graphql::get_or_upgrade).post(graphql::post_handler),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(crate::board::routes())
        .merge(crate::insights::routes())
        .with_state(app)
        .layer(RequestBodyLimitLayer::new(config.server.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(health::panic_response))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                // Only the method, route and request id: paths and queries can carry ids
                // and variables, so they stay out of spans.
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                let route = req
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map_or("-", |p| p.as_str());
                tracing::info_span!("http", method = %req.method(), route, request_id = id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

impl Metrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
