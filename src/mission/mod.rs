//! Missions: the lifecycle of one mission run (plan, implement, validate, fix, ground truth, as
//! DESIGN.md's "Lifecycle" describes), the role tools, the suite environment, role prompts, and
//! the run of a whole suite.

pub mod browser_check;
pub mod callbench;
pub mod counterfactual;
pub mod env;
pub mod ground_truth;
pub mod lifecycle;
pub mod prompts;
pub mod record;
mod render;
pub mod resume;
pub mod role_tools;
mod state;
pub mod suite_check;
pub mod suite_run;

pub use suite_check::{check_suite, MissionCheck, SuiteCheck};
pub use suite_run::{run_suite, RunError, RunReport, RunSettings};

/// The tools a worker gets (for measuring prompts outside a mission).
pub fn worker_tools() -> Vec<crate::model::ToolSpec> {
    role_tools::role_specs(&role_tools::ToolboxKind::Worker, false)
}
