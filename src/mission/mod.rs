//! The Missions runtime: the lifecycle of DESIGN section 2 (plan, implement, validate, fix,
//! ground truth), the suite environment, role prompts and tools, and whole runs.

pub mod callbench;
pub mod check;
pub mod env;
pub mod ground_truth;
pub mod prompts;
pub mod record;
mod render;
pub mod replay;
pub mod runner;
pub mod runtime;
mod state;
pub mod toolbox;

pub use check::{check_suite, MissionCheck, SuiteCheck};
pub use runner::{run_suite, RunError, RunReport, RunSettings};

/// The tools a worker gets (for measuring prompts outside a mission).
pub fn worker_tools() -> Vec<crate::model::ToolSpec> {
    toolbox::role_specs(&toolbox::ToolboxKind::Worker)
}
