//! Integration tests: one binary, one module per area.

mod cli;
mod common;
mod core_suite;
mod file_quota;
mod fix_loop;
mod fuzz;
mod gguf_models;
mod hostile;
mod http_server;
mod interrupt;
mod lifecycle;
mod local_engine;
mod local_model;
mod process_tree;
mod real_models;
mod record;
mod remote_api;
mod remote_mission;
mod resume;
mod reward_hacking;
mod sampling;
mod shards;
mod spec_errors;
mod statistics;
mod tidy;
mod tools_confinement;
