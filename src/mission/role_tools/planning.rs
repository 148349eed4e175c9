//! The orchestrator's tools: the contract, the features, the library, fix features, questions
//! to the user, subagents, and the end of planning (or of the mission).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{RoleContext, ToolboxKind};
use crate::events::Event;
use crate::spec::answers::NO_PREFERENCE;
use crate::spec::contract::{validate_contract, validate_plan};
use crate::spec::fixes::{unaddressed_groups, validate_fix_features};
use crate::spec::Verify;
use crate::spec::{
    Assertion, AssertionId, Contract, Feature, FeatureId, FeaturePlan, Milestone, MilestoneId,
};
use crate::tools::{CallResult, Ending, Tool, ToolErrorKind, ToolFatal, ToolReply};

// Field doc comments are the descriptions the model sees in each tool's schema.

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractArgs {
    milestones: Vec<Milestone>,
    assertions: Vec<Assertion>,
}

/// A feature as the orchestrator plans it: it claims the assertions it fulfils.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedFeature {
    id: FeatureId,
    milestone: MilestoneId,
    title: String,
    /// what to build, for a worker who has seen nothing else
    description: String,
    /// assertion ids
    fulfils: Vec<AssertionId>,
    /// runs this feature's tests
    test_command: Option<String>,
    /// finding ids (fix features only)
    #[serde(default)]
    addresses: Vec<String>,
}

/// A fix feature: it names the findings of the one group it addresses.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixFeature {
    id: FeatureId,
    milestone: MilestoneId,
    title: String,
    /// what to build, for a worker who has seen nothing else
    description: String,
    /// assertion ids
    #[serde(default)]
    fulfils: Vec<AssertionId>,
    /// runs this feature's tests
    test_command: Option<String>,
    /// finding ids (fix features only)
    addresses: Vec<String>,
}

impl From<PlannedFeature> for Feature {
    fn from(f: PlannedFeature) -> Feature {
        Feature {
            id: f.id,
            milestone: f.milestone,
            title: f.title,
            description: f.description,
            fulfils: f.fulfils,
            test_command: f.test_command,
            addresses: f.addresses,
        }
    }
}

impl From<FixFeature> for Feature {
    fn from(f: FixFeature) -> Feature {
        Feature {
            id: f.id,
            milestone: f.milestone,
            title: f.title,
            description: f.description,
            fulfils: f.fulfils,
            test_command: f.test_command,
            addresses: f.addresses,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeaturesArgs {
    features: Vec<PlannedFeature>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixFeaturesArgs {
    features: Vec<FixFeature>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LibraryArgs {
    content: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionArgs {
    question: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskArgs {
    /// the question to investigate
    task: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryArgs {
    pub(super) summary: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonArgs {
    pub(super) reason: String,
}

/// A harness failure to save what the model handed in.
fn not_saved(what: &str, error: impl std::fmt::Display) -> ToolFatal {
    ToolFatal::new(format!("cannot save the {what}: {error}"))
}

/// `write_contract`: milestones and assertions, validated and saved.
pub struct WriteContract;

#[async_trait]
impl<'a> Tool<RoleContext<'a>> for WriteContract {
    type Args = ContractArgs;

    fn name(&self) -> &'static str {
        "write_contract"
    }

    fn description(&self) -> &'static str {
        "Write the validation contract: milestones in build order and testable assertions. Replaces an earlier contract."
    }

    async fn handle(&self, context: &mut RoleContext<'a>, args: ContractArgs) -> CallResult {
        let contract = Contract {
            milestones: args.milestones,
            assertions: args.assertions,
        };
        let mut violations: Vec<String> = validate_contract(&contract)
            .iter()
            .map(ToString::to_string)
            .collect();
        if !context.mission_browser {
            for (index, assertion) in contract.assertions.iter().enumerate() {
                if assertion.verify == Verify::Browser {
                    violations.push(format!(
                        "assertions[{index}].verify: this mission has no browser; use \"command\" or \"agent\""
                    ));
                }
            }
        }
        if !violations.is_empty() {
            return Ok(context.violation(self.name(), violations));
        }
        context
            .state
            .write_contract(&contract)
            .map_err(|e| not_saved("contract", e))?;
        context.emitter.emit(Event::ContractWritten {
            run: context.run,
            milestones: contract.milestones.clone(),
            assertions: contract.assertions.clone(),
        });
        let reply = format!(
            "contract saved to .mission/contract.toml: {} milestones, {} assertions{}",
            contract.milestones.len(),
            contract.assertions.len(),
            if context.outputs.features.is_some() {
                "; the features were cleared: write them again"
            } else {
                ""
            }
        );
        context.outputs.contract = Some(contract);
        context.outputs.features = None;
        Ok(ToolReply::ok(reply))
    }
}

/// `write_features`: the plan, each feature claiming the assertions it fulfils.
pub struct WriteFeatures;

#[async_trait]
impl<'a> Tool<RoleContext<'a>> for WriteFeatures {
    type Args = FeaturesArgs;

    fn name(&self) -> &'static str {
        "write_features"
    }

    fn description(&self) -> &'static str {
        "Write the features: each claims the assertions it fulfils; every assertion is claimed exactly once."
    }

    async fn handle(&self, context: &mut RoleContext<'a>, args: FeaturesArgs) -> CallResult {
        let Some(contract) = &context.outputs.contract else {
            let first = "write the contract first (write_contract)".to_string();
            return Ok(context.violation(self.name(), vec![first]));
        };
        let plan = FeaturePlan {
            features: args.features.into_iter().map(Feature::from).collect(),
        };
        let violations = validate_plan(contract, &plan);
        if !violations.is_empty() {
            let violations = violations.iter().map(ToString::to_string).collect();
            return Ok(context.violation(self.name(), violations));
        }
        context
            .state
            .write_features(&plan.features)
            .map_err(|e| not_saved("features", e))?;
        context.emitter.emit(Event::FeaturesPlanned {
            run: context.run,
            after_round: None,
            features: plan.features.clone(),
        });
        let reply = format!(
            "{} features saved to .mission/features.toml",
            plan.features.len()
        );
        context.outputs.features = Some(plan.features);
        Ok(ToolReply::ok(reply))
    }
}

/// `write_library`: guidelines and knowledge for workers.
pub struct WriteLibrary;

#[async_trait]
impl<'a> Tool<RoleContext<'a>> for WriteLibrary {
    type Args = LibraryArgs;

    fn name(&self) -> &'static str {
        "write_library"
    }

    fn description(&self) -> &'static str {
        "Write the library: guidelines and knowledge for workers, as Markdown (replaces the previous library)."
    }

    async fn handle(&self, context: &mut RoleContext<'a>, args: LibraryArgs) -> CallResult {
        if context.kind == ToolboxKind::Plan && context.outputs.features.is_none() {
            let first = "write the contract and the features first".to_string();
            return Ok(context.violation(self.name(), vec![first]));
        }
        context
            .state
            .write_library(&args.content)
            .map_err(|e| not_saved("library", e))?;
        context.emitter.emit(Event::LibraryWritten {
            run: context.run,
            bytes: args.content.len() as u64,
        });
        context.outputs.library = Some(args.content);
        Ok(ToolReply::ok("library saved to .mission/library.md"))
    }
}

/// `write_fix_features`: one fix feature per group of findings of a failed milestone.
pub struct WriteFixFeatures;

#[async_trait]
impl<'a> Tool<RoleContext<'a>> for WriteFixFeatures {
    type Args = FixFeaturesArgs;

    fn name(&self) -> &'static str {
        "write_fix_features"
    }

    fn description(&self) -> &'static str {
        "Add fix features for the failed milestone: one per group of findings, naming in `addresses` every finding of its group."
    }

    async fn handle(&self, context: &mut RoleContext<'a>, args: FixFeaturesArgs) -> CallResult {
        let ToolboxKind::Fix { milestone, groups } = &context.kind else {
            return Ok(ToolReply::error(
                ToolErrorKind::Refused,
                "write_fix_features is for fixing a failed milestone",
            ));
        };
        let features: Vec<Feature> = args.features.into_iter().map(Feature::from).collect();
        let violations = validate_fix_features(
            &context.state.contract(),
            &context.state.features(),
            milestone,
            groups,
            &context.outputs.fixes,
            &features,
        );
        if !violations.is_empty() {
            let violations = violations.iter().map(ToString::to_string).collect();
            return Ok(context.violation(self.name(), violations));
        }
        context.outputs.fixes.extend(features);
        let left = unaddressed_groups(groups, &context.outputs.fixes);
        let mut reply = format!("{} fix features accepted", context.outputs.fixes.len());
        if !left.is_empty() {
            let names: Vec<String> = left.iter().map(|g| g.concern.to_string()).collect();
            reply.push_str(&format!(
                "; groups still without a fix: {}",
                names.join(", ")
            ));
        }
        Ok(ToolReply::ok(reply))
    }
}

/// `ask_user`: a clarifying question, answered from the mission's answers.
pub struct AskUser;

#[async_trait]
impl<'a> Tool<RoleContext<'a>> for AskUser {
    type Args = QuestionArgs;

    fn name(&self) -> &'static str {
        "ask_user"
    }

    fn description(&self) -> &'static str {
        "Ask the user a clarifying question; returns the answer."
    }

    async fn handle(&self, context: &mut RoleContext<'a>, args: QuestionArgs) -> CallResult {
        let answer = context.answers.answer(&args.question);
        context.emitter.emit(Event::UserAsked {
            run: context.run,
            question: args.question,
            answered: answer.is_some(),
        });
        Ok(ToolReply::ok(
            answer.unwrap_or_else(|| NO_PREFERENCE.to_string()),
        ))
    }
}

/// `spawn_subagent`: an investigation in a fresh context.
pub struct SpawnSubagent;

#[async_trait]
impl<'a> Tool<RoleContext<'a>> for SpawnSubagent {
    type Args = TaskArgs;

    fn name(&self) -> &'static str {
        "spawn_subagent"
    }

    fn description(&self) -> &'static str {
        "Delegate an investigation to a subagent with a fresh context; returns its report."
    }

    async fn handle(&self, context: &mut RoleContext<'a>, args: TaskArgs) -> CallResult {
        Ok(
            match context
                .subagents
                .spawn_subagent(context.run, &args.task)
                .await
            {
                Ok(report) => ToolReply::ok(report),
                Err(message) => ToolReply::error(ToolErrorKind::Failed, message),
            },
        )
    }
}

/// `finish` for the orchestrator: the end of planning, or of fix planning.
pub struct FinishPlanning {
    description: &'static str,
}

impl FinishPlanning {
    pub const PLAN: FinishPlanning = FinishPlanning {
        description: "End planning. Without a contract and features the mission stops.",
    };
    pub const FIX: FinishPlanning = FinishPlanning {
        description: "End fix planning.",
    };
}

#[async_trait]
impl<'a> Tool<RoleContext<'a>> for FinishPlanning {
    type Args = SummaryArgs;

    fn name(&self) -> &'static str {
        "finish"
    }

    fn description(&self) -> &'static str {
        self.description
    }

    async fn handle(&self, context: &mut RoleContext<'a>, args: SummaryArgs) -> CallResult {
        // Fix planning that wrote some fixes ends only when every group has its fix: a group
        // left out keeps its findings open and fails the milestone again. Writing none at all
        // is the orchestrator's answer that nothing can be fixed (the mission halts).
        if let ToolboxKind::Fix { groups, .. } = &context.kind {
            let left = unaddressed_groups(groups, &context.outputs.fixes);
            if !context.outputs.fixes.is_empty() && !left.is_empty() {
                let names: Vec<String> = left
                    .iter()
                    .map(|g| {
                        let ids: Vec<&str> = g.findings.iter().map(|f| f.id.as_str()).collect();
                        format!("{} ({})", g.concern, ids.join(", "))
                    })
                    .collect();
                let violation = format!(
                    "every group of findings needs one fix feature; still without one: {}",
                    names.join("; ")
                );
                return Ok(context.violation(self.name(), vec![violation]));
            }
        }
        context.outputs.summary = Some(args.summary);
        Ok(ToolReply::ends(Ending::Finished, "done"))
    }
}

/// `halt`: the orchestrator stops the mission because it cannot succeed.
pub struct Halt;

#[async_trait]
impl<'a> Tool<RoleContext<'a>> for Halt {
    type Args = ReasonArgs;

    fn name(&self) -> &'static str {
        "halt"
    }

    fn description(&self) -> &'static str {
        "Stop the mission because it cannot succeed."
    }

    async fn handle(&self, context: &mut RoleContext<'a>, args: ReasonArgs) -> CallResult {
        context.outputs.halt = Some(args.reason);
        Ok(ToolReply::ends(Ending::Halted, "stopped"))
    }
}
