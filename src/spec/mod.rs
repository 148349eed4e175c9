//! Input files: suites, missions, contracts and the model/pairing config, parsed and validated.
//! Every error names the file, the line and the field.

pub mod answers;
pub mod budget;
pub mod config;
pub mod contract;
pub mod error;
pub mod findings;
pub mod fixes;
pub mod glob;
pub mod hash;
pub mod ids;
pub mod lint;
pub mod mission;
pub mod record;
pub mod skeleton;
pub mod suite;
pub mod test_ids;

pub use answers::Answers;
pub use config::{Config, ModelConfig, Pairing, Provider};
pub use contract::{
    Assertion, BrowserStep, Contract, Feature, FeaturePlan, Milestone, ReferenceContract,
    StepAction, Verify, Violation,
};
pub use error::{SpecError, SpecErrors};
pub use findings::{Concern, Finding, FindingGroup, FindingSource, Severity};
pub use ids::{AssertionId, FeatureId, MilestoneId, MissionId, Role};
pub use mission::{BrowserSpec, MissionSpec};
pub use suite::{Budget, Suite};
