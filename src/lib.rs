#![doc = include_str!("../README.md")]

pub mod audit;
pub mod config;
pub mod error;
pub mod gate;
pub mod model;
pub mod population;
pub mod store;
