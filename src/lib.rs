//! missions-bench: benchmarks which model should play which role in autonomous, multi-agent
//! software missions. See ARCHITECTURE.md for the map of modules and their rules.
//!
//! Library code never prints and never reads the process environment: it returns values and
//! emits events. Only `cli` does either.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod agent;
pub mod cli;
pub mod events;
pub mod fsutil;
pub mod import;
pub mod metrics;
pub mod mission;
pub mod model;
pub mod report;
pub mod rng;
pub mod spec;
pub mod stop;
pub mod tools;
pub mod view;
