//! The integration suite: one binary that starts the real hub on a loopback port, over a real
//! database (a fresh SQLite file, and a fresh PostgreSQL database when
//! `KINSHIP_TEST_POSTGRES_URL` is set, as `.ci/run` does), and speaks HTTP to it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test loudly on a broken fixture"
)]

mod helpers;

mod access_log;
mod auth;
mod board;
mod browser;
mod cli;
mod golden;
mod graphql_http;
mod kpis;
mod linkage;
mod loaders;
mod notifications;
mod operations;
mod practice;
mod protocols;
mod purpose;
mod reads;
mod schema;
mod sync;
