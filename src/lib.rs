#![doc = include_str!("../README.md")]

pub mod api;
pub mod audit;
pub mod board;
pub mod cli;
pub mod config;
pub mod error;
pub mod gate;
pub mod insights;
pub mod linkage;
pub mod model;
pub mod population;
pub mod practice;
pub mod server;
pub mod store;
pub mod sync;
pub mod telemetry;
