//! The tools of each role, over the shared workspace tools: the orchestrator's planning tools
//! ([`planning`]), the workers' handoff and the validators' reports ([`reports`]). Each role's
//! tools are one [`Registry`] ([`role_registry`]): the list is the only place that says which
//! tools a role gets. Handlers see a narrow [`RoleContext`] (the mission's state, the emitter,
//! the user's answers, a subagent spawner) and keep what the run handed back in its
//! [`Outputs`], which the lifecycle reads when the run ends.

mod planning;
mod reports;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::state::Handoff;
use super::state::MissionState;
use crate::events::{Emitter, Event, VerdictStatus};
use crate::model::ToolSpec;
use crate::spec::answers::Answers;
use crate::spec::{AssertionId, Contract, Feature, FindingGroup, MilestoneId, Severity};
use crate::tools::browser::tools::{with_browser_tools, BrowserAccess, BrowserTools};
use crate::tools::files::{EditFile, ListFiles, ReadFile, RunCommand, SearchFiles, WriteFile};
use crate::tools::{
    CallResult, Registry, ToolErrorKind, ToolReply, Toolbox, WorkspaceAccess, WorkspaceTools,
};

pub use planning::{
    AskUser, FinishPlanning, Halt, SpawnSubagent, WriteContract, WriteFeatures, WriteFixFeatures,
    WriteLibrary,
};
pub use reports::{Blocked, FinishReport, FinishWork, SubmitReview, SubmitVerdicts};

/// Which tools an agent run gets.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolboxKind {
    Plan,
    Fix {
        milestone: MilestoneId,
        /// The open blocking findings, grouped: one fix feature per group.
        groups: Vec<FindingGroup>,
    },
    Worker,
    Scrutiny,
    UserTesting {
        assertions: Vec<AssertionId>,
    },
    Subagent,
}

/// One finding of a scrutiny review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewFinding {
    pub severity: Severity,
    pub title: String,
    pub detail: String,
    #[serde(default)]
    pub file: Option<String>,
    /// ids of screenshots or network summaries this run saved that show it
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence_ids: Vec<String>,
}

/// A user-testing validator's verdict on one assertion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub assertion: String,
    pub status: VerdictStatus,
    pub evidence: String,
    /// ids of screenshots or network summaries this run saved that show it
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence_ids: Vec<String>,
}

/// Everything a run handed back through its tools (recorded at each checkpoint, so a resumed
/// mission gets it back without running the agent again).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Outputs {
    pub contract: Option<Contract>,
    pub features: Option<Vec<Feature>>,
    pub library: Option<String>,
    pub fixes: Vec<Feature>,
    pub handoff: Option<Handoff>,
    pub findings: Vec<ReviewFinding>,
    pub library_notes: Vec<String>,
    pub verdicts: Vec<Verdict>,
    pub summary: Option<String>,
    pub blocked: Option<String>,
    pub halt: Option<String>,
}

/// Runs a subagent for the orchestrator: the one thing a role tool needs from the lifecycle.
#[async_trait]
pub trait SubagentSpawner: Send + Sync {
    /// The subagent's report, or why there is none (an answer for the model).
    async fn spawn_subagent(&self, parent: u32, task: &str) -> Result<String, String>;
}

/// What a role's handlers see.
pub struct RoleContext<'a> {
    /// The agent run the calls belong to.
    pub run: u32,
    pub kind: ToolboxKind,
    pub state: &'a MissionState,
    pub emitter: &'a Emitter,
    pub answers: &'a Answers,
    pub subagents: &'a dyn SubagentSpawner,
    pub workspace: WorkspaceTools,
    /// The browser tools, where the mission gives this role a browser.
    pub browser: Option<BrowserTools>,
    /// Whether the mission has a browser (`[browser]`): contracts may check assertions in one.
    pub mission_browser: bool,
    pub outputs: Outputs,
}

impl WorkspaceAccess for RoleContext<'_> {
    fn workspace_tools(&self) -> &WorkspaceTools {
        &self.workspace
    }
}

impl BrowserAccess for RoleContext<'_> {
    fn browser_tools(&mut self) -> Option<&mut BrowserTools> {
        self.browser.as_mut()
    }
}

impl RoleContext<'_> {
    /// Records a plan violation and the reply that names it.
    fn violation(&self, tool: &str, violations: Vec<String>) -> ToolReply {
        self.emitter.emit(Event::PlanViolation {
            run: self.run,
            tool: tool.to_string(),
            violations: violations.clone(),
        });
        ToolReply::error(
            ToolErrorKind::PlanViolation,
            format!("`{tool}` was not accepted:\n- {}", violations.join("\n- ")),
        )
    }
}

/// The tools of a role, in the order its model sees them; with `browser`, the browser toolset
/// follows the role's own tools.
pub fn role_registry<'a>(kind: &ToolboxKind, browser: bool) -> Registry<RoleContext<'a>> {
    let registry = role_tools(kind);
    if !browser {
        return registry;
    }
    with_browser_tools(registry)
}

fn role_tools<'a>(kind: &ToolboxKind) -> Registry<RoleContext<'a>> {
    let readers = Registry::new()
        .with(ReadFile)
        .with(ListFiles)
        .with(SearchFiles);
    match kind {
        ToolboxKind::Plan => readers
            .with(AskUser)
            .with(SpawnSubagent)
            .with(WriteContract)
            .with(WriteFeatures)
            .with(WriteLibrary)
            .with(FinishPlanning::PLAN)
            .with(Halt),
        ToolboxKind::Fix { .. } => readers
            .with(RunCommand)
            .with(SpawnSubagent)
            .with(WriteFixFeatures)
            .with(WriteLibrary)
            .with(FinishPlanning::FIX)
            .with(Halt),
        ToolboxKind::Worker => readers
            .with(WriteFile)
            .with(EditFile)
            .with(RunCommand)
            .with(FinishWork)
            .with(Blocked::WORKER),
        ToolboxKind::Scrutiny => readers
            .with(RunCommand)
            .with(SubmitReview)
            .with(Blocked::SCRUTINY),
        // Black-box testing: the program is run, not searched.
        ToolboxKind::UserTesting { .. } => Registry::new()
            .with(ReadFile)
            .with(ListFiles)
            .with(RunCommand)
            .with(SubmitVerdicts)
            .with(Blocked::USER_TESTING),
        ToolboxKind::Subagent => readers.with(RunCommand).with(FinishReport),
    }
}

/// The specs of a role's tools.
pub fn role_specs(kind: &ToolboxKind, browser: bool) -> Vec<ToolSpec> {
    role_registry(kind, browser).specs()
}

/// One agent run's tools: the role's registry and the context its handlers change.
pub struct RoleToolbox<'a> {
    registry: Registry<RoleContext<'a>>,
    pub context: RoleContext<'a>,
}

impl<'a> RoleToolbox<'a> {
    pub fn new(context: RoleContext<'a>) -> RoleToolbox<'a> {
        RoleToolbox {
            registry: role_registry(&context.kind, context.browser.is_some()),
            context,
        }
    }
}

#[async_trait]
impl Toolbox for RoleToolbox<'_> {
    fn specs(&self) -> Vec<ToolSpec> {
        self.registry.specs()
    }

    async fn call(&mut self, name: &str, arguments: Value) -> CallResult {
        let result = self
            .registry
            .dispatch(&mut self.context, name, arguments)
            .await;
        if let Some(browser) = &mut self.context.browser {
            for evidence in browser.take_evidence() {
                self.context.emitter.emit(Event::EvidenceSaved {
                    run: Some(self.context.run),
                    milestone: None,
                    round: None,
                    assertion: None,
                    id: evidence.id,
                    kind: evidence.kind,
                    path: evidence.path,
                    url: evidence.url,
                    bytes: evidence.bytes,
                });
            }
        }
        result
    }
}

impl RoleContext<'_> {
    /// The cited evidence ids this run did not save, as the error reply that lists what it did.
    fn unknown_evidence<'i>(&self, cited: impl Iterator<Item = &'i String>) -> Option<ToolReply> {
        let known: &[String] = self
            .browser
            .as_ref()
            .map(BrowserTools::evidence_ids)
            .unwrap_or_default();
        let unknown: Vec<&str> = cited
            .filter(|id| !known.contains(id))
            .map(String::as_str)
            .collect();
        if unknown.is_empty() {
            return None;
        }
        // Models cite their command's output as `stdout`: the reply says what an id is, and
        // how to report without one, so the report can go through on the next call.
        let saved = if known.is_empty() {
            "this run saved none (browser_screenshot and browser_network save them)".to_string()
        } else {
            format!("this run saved {}", known.join(", "))
        };
        Some(ToolReply::error(
            ToolErrorKind::InvalidArguments,
            format!(
                "unknown evidence ids: {}. An evidence id names a screenshot or network summary this run saved, and {saved}; cite only those, or leave `evidence_ids` out and say what you saw (a command's output too) in `evidence`",
                unknown.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests;
