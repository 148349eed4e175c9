//! Integration tests: one binary, one module per area.

mod cli;
mod common;
mod core_suite;
mod lifecycle;
mod local_engine;
mod local_model;
mod process_tree;
mod spec_errors;
mod tools_confinement;
