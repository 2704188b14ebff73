//! The GraphQL API: one schema for every partner application.
//!
//! Resolvers are thin: each asks the request's gate (through a per-request loader, so batching
//! skips no check) and maps what it releases. A refused field resolves to null with an
//! `ISP_DENIED` error naming the category, the reason and the clause; a refused item of a list
//! is left out and counted in the list's `withheld`.
//!
//! Limits: imports `gate`, `model`, `error` and `config`; never `store` or `sea_orm`. Holds no
//! database handle, so nothing here can read around the gate.

mod admin;
mod errors;
mod explain;
mod family;
mod indicators;
mod kpis;
mod limits;
mod loaders;
mod matches;
mod notifications;
mod operations;
mod person;
mod practice;
mod query;
mod review;

use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::config::GraphqlConfig;
use crate::gate::RequestGate;

pub use admin::ConfiguredConnectors;
pub use errors::RequestFlags;
pub use notifications::Subscriber;

/// The query root: reads of the graph, and operations views.
#[derive(MergedObject, Default)]
pub struct Query(
    query::GraphQuery,
    explain::ExplainQuery,
    admin::AdminQuery,
    review::ReviewQuery,
    operations::OperationsQuery,
    matches::MatchQuery,
    indicators::IndicatorQuery,
    practice::PracticeQuery,
    kpis::KpiQuery,
);

/// The mutation root: consent, protocol reloads, the board's findings.
#[derive(MergedObject, Default)]
pub struct Mutation(
    explain::ProtocolMutation,
    review::ReviewMutation,
    operations::OperationsMutation,
    matches::MatchMutation,
    practice::PracticeMutation,
    practice::TeamMutation,
);
pub use limits::Limits;

/// The subscription root: notifications, over WebSocket only.
#[derive(MergedSubscription, Default)]
pub struct Subscription(notifications::NotificationSubscription);

/// The schema type.
pub type KinshipSchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema with the configured limits and the configured connectors.
pub fn schema(config: &GraphqlConfig, connectors: ConfiguredConnectors) -> KinshipSchema {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .data(connectors)
    .limit_depth(config.max_depth)
    .limit_complexity(config.max_complexity)
    .extension(Limits {
        max_aliases: config.max_aliases,
    })
    .finish()
}

/// The schema's SDL: what `kinship schema` prints and `schema/kinship.graphql` must equal.
pub fn sdl() -> String {
    schema(&GraphqlConfig::default(), ConfiguredConnectors::default()).sdl()
}

/// Attaches a request's gate, its loaders and its flags to a GraphQL request.
pub fn prepare(
    request: async_graphql::Request,
    gate: RequestGate,
    flags: RequestFlags,
) -> async_graphql::Request {
    request
        .data(loaders::Loaders::new(gate.clone()))
        .data(gate)
        .data(flags)
}
