//! The tools of each role, over the shared workspace tools: the orchestrator's planning tools,
//! the workers' handoff, the validators' reports. What an agent run produced is kept in the
//! toolbox for the runtime to read when the run ends.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::lifecycle::MissionRuntime;
use crate::events::{Event, VerdictStatus};
use crate::model::ToolSpec;
use crate::spec::contract::{
    unaddressed_groups, validate_contract, validate_fix_features, validate_plan,
};
use crate::spec::{
    answers::NO_PREFERENCE, Assertion, AssertionId, Contract, Feature, FeaturePlan, FindingGroup,
    Milestone, MilestoneId, Severity,
};
use crate::tools::{decode, spec, Ending, ToolErrorKind, ToolReply, Toolbox, WorkspaceTools};

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

/// A worker's handoff.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    pub summary: String,
    #[serde(default)]
    pub tests_run: Vec<String>,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewFinding {
    pub severity: Severity,
    pub title: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub assertion: String,
    pub status: VerdictStatus,
    #[serde(default)]
    pub evidence: String,
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

pub struct RoleToolbox<'a> {
    runtime: &'a MissionRuntime,
    run: u32,
    kind: ToolboxKind,
    tools: WorkspaceTools,
    pub outputs: Outputs,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractArgs {
    milestones: Vec<Milestone>,
    assertions: Vec<Assertion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeaturesArgs {
    features: Vec<Feature>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextArgs {
    content: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionArgs {
    question: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskArgs {
    task: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryArgs {
    summary: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonArgs {
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewArgs {
    findings: Vec<ReviewFinding>,
    #[serde(default)]
    library_notes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerdictArgs {
    verdicts: Vec<Verdict>,
}

fn milestone_schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"}
    }, "required": ["id", "title"], "additionalProperties": false})
}

fn assertion_schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "string"},
        "milestone": {"type": "string"},
        "description": {"type": "string", "description": "the observable behaviour"},
        "verify": {"type": "string", "enum": ["command", "agent"]},
        "command": {"type": "string", "description": "shell command run in the workspace root"},
        "expect_exit": {"type": "integer", "description": "expected exit code, default 0"},
        "expect_stdout": {"type": "string", "description": "a substring stdout must contain"},
        "evidence": {"type": "string", "description": "what proves the assertion"}
    }, "required": ["id", "milestone", "description", "verify"], "additionalProperties": false})
}

fn feature_schema(fix: bool) -> Value {
    let mut required = vec!["id", "milestone", "title", "description"];
    if fix {
        required.push("addresses");
    } else {
        required.push("fulfils");
    }
    json!({"type": "object", "properties": {
        "id": {"type": "string"},
        "milestone": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string", "description": "what to build, for a worker who has seen nothing else"},
        "fulfils": {"type": "array", "items": {"type": "string"}, "description": "assertion ids"},
        "test_command": {"type": "string", "description": "runs this feature's tests"},
        "addresses": {"type": "array", "items": {"type": "string"}, "description": "finding ids (fix features only)"}
    }, "required": required, "additionalProperties": false})
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

impl<'a> RoleToolbox<'a> {
    pub fn new(runtime: &'a MissionRuntime, run: u32, kind: ToolboxKind) -> RoleToolbox<'a> {
        RoleToolbox {
            tools: runtime.workspace_tools(),
            runtime,
            run,
            kind,
            outputs: Outputs::default(),
        }
    }

    fn violation(&self, tool: &str, violations: Vec<String>) -> ToolReply {
        self.runtime.emitter.emit(Event::PlanViolation {
            run: self.run,
            tool: tool.to_string(),
            violations: violations.clone(),
        });
        ToolReply::error(
            ToolErrorKind::PlanViolation,
            format!("`{tool}` was not accepted:\n- {}", violations.join("\n- ")),
        )
    }

    fn write_contract(&mut self, arguments: Value) -> ToolReply {
        let args: ContractArgs = match decode("write_contract", arguments) {
            Ok(args) => args,
            Err(reply) => return reply,
        };
        let contract = Contract {
            milestones: args.milestones,
            assertions: args.assertions,
        };
        let violations = validate_contract(&contract);
        if !violations.is_empty() {
            return self.violation(
                "write_contract",
                violations.iter().map(ToString::to_string).collect(),
            );
        }
        if let Err(e) = self.runtime.state.write_contract(&contract) {
            return ToolReply::error(
                ToolErrorKind::Failed,
                format!("cannot save the contract: {e}"),
            );
        }
        self.runtime.emitter.emit(Event::ContractWritten {
            run: self.run,
            milestones: contract.milestones.clone(),
            assertions: contract.assertions.clone(),
        });
        let reply = format!(
            "contract saved to .mission/contract.toml: {} milestones, {} assertions{}",
            contract.milestones.len(),
            contract.assertions.len(),
            if self.outputs.features.is_some() {
                "; the features were cleared: write them again"
            } else {
                ""
            }
        );
        self.outputs.contract = Some(contract);
        self.outputs.features = None;
        ToolReply::ok(reply)
    }

    fn write_features(&mut self, arguments: Value) -> ToolReply {
        let args: FeaturesArgs = match decode("write_features", arguments) {
            Ok(args) => args,
            Err(reply) => return reply,
        };
        let Some(contract) = &self.outputs.contract else {
            return self.violation(
                "write_features",
                vec!["write the contract first (write_contract)".to_string()],
            );
        };
        let plan = FeaturePlan {
            features: args.features,
        };
        let violations = validate_plan(contract, &plan);
        if !violations.is_empty() {
            return self.violation(
                "write_features",
                violations.iter().map(ToString::to_string).collect(),
            );
        }
        if let Err(e) = self.runtime.state.write_features(&plan.features) {
            return ToolReply::error(
                ToolErrorKind::Failed,
                format!("cannot save the features: {e}"),
            );
        }
        self.runtime.emitter.emit(Event::FeaturesPlanned {
            run: self.run,
            after_round: None,
            features: plan.features.clone(),
        });
        let reply = format!(
            "{} features saved to .mission/features.toml",
            plan.features.len()
        );
        self.outputs.features = Some(plan.features);
        ToolReply::ok(reply)
    }

    fn write_library(&mut self, arguments: Value) -> ToolReply {
        let args: TextArgs = match decode("write_library", arguments) {
            Ok(args) => args,
            Err(reply) => return reply,
        };
        if self.kind == ToolboxKind::Plan && self.outputs.features.is_none() {
            return self.violation(
                "write_library",
                vec!["write the contract and the features first".to_string()],
            );
        }
        if let Err(e) = self.runtime.state.write_library(&args.content) {
            return ToolReply::error(
                ToolErrorKind::Failed,
                format!("cannot save the library: {e}"),
            );
        }
        self.runtime.emitter.emit(Event::LibraryWritten {
            run: self.run,
            bytes: args.content.len() as u64,
        });
        self.outputs.library = Some(args.content);
        ToolReply::ok("library saved to .mission/library.md")
    }

    fn write_fix_features(&mut self, arguments: Value) -> ToolReply {
        let ToolboxKind::Fix { milestone, groups } = &self.kind else {
            return ToolReply::error(
                ToolErrorKind::Refused,
                "write_fix_features is for fixing a failed milestone",
            );
        };
        let args: FeaturesArgs = match decode("write_fix_features", arguments) {
            Ok(args) => args,
            Err(reply) => return reply,
        };
        let violations = validate_fix_features(
            &self.runtime.state.contract(),
            &self.runtime.state.features(),
            milestone,
            groups,
            &self.outputs.fixes,
            &args.features,
        );
        if !violations.is_empty() {
            return self.violation(
                "write_fix_features",
                violations.iter().map(ToString::to_string).collect(),
            );
        }
        self.outputs.fixes.extend(args.features);
        let left = unaddressed_groups(groups, &self.outputs.fixes);
        let mut reply = format!("{} fix features accepted", self.outputs.fixes.len());
        if !left.is_empty() {
            let names: Vec<String> = left.iter().map(|g| g.concern.to_string()).collect();
            reply.push_str(&format!(
                "; groups still without a fix: {}",
                names.join(", ")
            ));
        }
        ToolReply::ok(reply)
    }

    async fn spawn_subagent(&mut self, arguments: Value) -> ToolReply {
        let args: TaskArgs = match decode("spawn_subagent", arguments) {
            Ok(args) => args,
            Err(reply) => return reply,
        };
        match self.runtime.run_subagent(self.run, &args.task).await {
            Ok(report) => ToolReply::ok(report),
            Err(message) => ToolReply::error(ToolErrorKind::Failed, message),
        }
    }

    fn ask_user(&mut self, arguments: Value) -> ToolReply {
        let args: QuestionArgs = match decode("ask_user", arguments) {
            Ok(args) => args,
            Err(reply) => return reply,
        };
        let answer = self.runtime.mission.answers.answer(&args.question);
        self.runtime.emitter.emit(Event::UserAsked {
            run: self.run,
            question: args.question,
            answered: answer.is_some(),
        });
        ToolReply::ok(answer.unwrap_or_else(|| NO_PREFERENCE.to_string()))
    }

    fn finish(&mut self, arguments: Value) -> ToolReply {
        // Fix planning that wrote some fixes ends only when every group has its fix: a group
        // left out keeps its findings open and fails the milestone again. Writing none at all
        // is the orchestrator's answer that nothing can be fixed (the mission halts).
        if let ToolboxKind::Fix { groups, .. } = &self.kind {
            let left = unaddressed_groups(groups, &self.outputs.fixes);
            if !self.outputs.fixes.is_empty() && !left.is_empty() {
                let names: Vec<String> = left
                    .iter()
                    .map(|g| {
                        let ids: Vec<&str> = g.findings.iter().map(|f| f.id.as_str()).collect();
                        format!("{} ({})", g.concern, ids.join(", "))
                    })
                    .collect();
                return self.violation(
                    "finish",
                    vec![format!(
                        "every group of findings needs one fix feature; still without one: {}",
                        names.join("; ")
                    )],
                );
            }
        }
        if self.kind == ToolboxKind::Worker {
            let handoff: Handoff = match decode("finish", arguments) {
                Ok(args) => args,
                Err(reply) => return reply,
            };
            self.outputs.handoff = Some(handoff);
            return ToolReply::ends(Ending::Finished, "handoff recorded");
        }
        let args: SummaryArgs = match decode("finish", arguments) {
            Ok(args) => args,
            Err(reply) => return reply,
        };
        self.outputs.summary = Some(args.summary);
        ToolReply::ends(Ending::Finished, "done")
    }

    fn reason(&mut self, tool: &str, arguments: Value) -> Result<String, ToolReply> {
        let args: ReasonArgs = decode(tool, arguments)?;
        Ok(args.reason)
    }

    fn submit_review(&mut self, arguments: Value) -> ToolReply {
        let args: ReviewArgs = match decode("submit_review", arguments) {
            Ok(args) => args,
            Err(reply) => return reply,
        };
        self.outputs.findings = args.findings;
        self.outputs.library_notes = args.library_notes;
        ToolReply::ends(
            Ending::Finished,
            format!("review recorded: {} findings", self.outputs.findings.len()),
        )
    }

    fn submit_verdicts(&mut self, arguments: Value) -> ToolReply {
        let ToolboxKind::UserTesting { assertions } = &self.kind else {
            return ToolReply::error(
                ToolErrorKind::Refused,
                "submit_verdicts is for user testing",
            );
        };
        let args: VerdictArgs = match decode("submit_verdicts", arguments) {
            Ok(args) => args,
            Err(reply) => return reply,
        };
        let unknown: Vec<&str> = args
            .verdicts
            .iter()
            .map(|v| v.assertion.as_str())
            .filter(|id| !assertions.iter().any(|a| a.as_str() == *id))
            .collect();
        if !unknown.is_empty() {
            let known: Vec<&str> = assertions.iter().map(AssertionId::as_str).collect();
            return ToolReply::error(
                ToolErrorKind::InvalidArguments,
                format!(
                    "unknown assertions: {}; the assertions to verify are: {}",
                    unknown.join(", "),
                    known.join(", ")
                ),
            );
        }
        let missing: Vec<&str> = assertions
            .iter()
            .map(AssertionId::as_str)
            .filter(|id| !args.verdicts.iter().any(|v| v.assertion == *id))
            .collect();
        self.outputs.verdicts = args.verdicts;
        let note = if missing.is_empty() {
            String::new()
        } else {
            format!("; no verdict (counted as fail): {}", missing.join(", "))
        };
        ToolReply::ends(
            Ending::Finished,
            format!("{} verdicts recorded{note}", self.outputs.verdicts.len()),
        )
    }
}

/// The tools of a role's agent run.
pub fn role_specs(kind: &ToolboxKind) -> Vec<ToolSpec> {
    let read = [
        WorkspaceTools::read_spec(),
        WorkspaceTools::list_spec(),
        WorkspaceTools::search_spec(),
    ];
    let mut specs: Vec<ToolSpec> = read.to_vec();
    let summary = object(json!({"summary": {"type": "string"}}), &["summary"]);
    let reason = object(json!({"reason": {"type": "string"}}), &["reason"]);
    let subagent = spec(
        "spawn_subagent",
        "Delegate an investigation to a subagent with a fresh context; returns its report.",
        object(
            json!({"task": {"type": "string", "description": "the question to investigate"}}),
            &["task"],
        ),
    );
    let library = spec(
        "write_library",
        "Write the library: guidelines and knowledge for workers, as Markdown (replaces the previous library).",
        object(json!({"content": {"type": "string"}}), &["content"]),
    );
    match kind {
        ToolboxKind::Plan => specs.extend([
            spec(
                "ask_user",
                "Ask the user a clarifying question; returns the answer.",
                object(json!({"question": {"type": "string"}}), &["question"]),
            ),
            subagent,
            spec(
                "write_contract",
                "Write the validation contract: milestones in build order and testable assertions. Replaces an earlier contract.",
                object(
                    json!({"milestones": {"type": "array", "items": milestone_schema()}, "assertions": {"type": "array", "items": assertion_schema()}}),
                    &["milestones", "assertions"],
                ),
            ),
            spec(
                "write_features",
                "Write the features: each claims the assertions it fulfils; every assertion is claimed exactly once.",
                object(json!({"features": {"type": "array", "items": feature_schema(false)}}), &["features"]),
            ),
            library,
            spec("finish", "End planning. Without a contract and features the mission stops.", summary),
            spec("halt", "Stop the mission because it cannot succeed.", reason),
        ]),
        ToolboxKind::Fix { .. } => {
            specs.push(WorkspaceTools::run_spec());
            specs.extend([
                subagent,
                spec(
                    "write_fix_features",
                    "Add fix features for the failed milestone: one per group of findings, naming in `addresses` every finding of its group.",
                    object(json!({"features": {"type": "array", "items": feature_schema(true)}}), &["features"]),
                ),
                library,
                spec("finish", "End fix planning.", summary),
                spec("halt", "Stop the mission because it cannot succeed.", reason),
            ]);
        }
        ToolboxKind::Worker => specs.extend([
            WorkspaceTools::write_spec(),
            WorkspaceTools::edit_spec(),
            WorkspaceTools::run_spec(),
            spec(
                "finish",
                "Hand off the finished feature.",
                object(
                    json!({"summary": {"type": "string"}, "tests_run": {"type": "array", "items": {"type": "string"}}, "notes": {"type": "string"}}),
                    &["summary", "tests_run"],
                ),
            ),
            spec("blocked", "Stop: the feature cannot be done; say why.", reason),
        ]),
        ToolboxKind::Scrutiny => specs.extend([
            WorkspaceTools::run_spec(),
            spec(
                "submit_review",
                "Submit the review of the feature: findings by severity (an empty list when it is right).",
                object(
                    json!({
                        "findings": {"type": "array", "items": {"type": "object", "properties": {
                            "severity": {"type": "string", "enum": ["blocking", "non_blocking", "suggestion"]},
                            "title": {"type": "string"},
                            "detail": {"type": "string"},
                            "file": {"type": "string"}
                        }, "required": ["severity", "title", "detail"], "additionalProperties": false}},
                        "library_notes": {"type": "array", "items": {"type": "string"}}
                    }),
                    &["findings"],
                ),
            ),
            spec("blocked", "Stop: the feature cannot be reviewed; say why.", reason),
        ]),
        ToolboxKind::UserTesting { .. } => {
            specs.truncate(2);
            specs.extend([
                WorkspaceTools::run_spec(),
                spec(
                    "submit_verdicts",
                    "Submit one verdict per assertion, with the evidence observed.",
                    object(
                        json!({"verdicts": {"type": "array", "items": {"type": "object", "properties": {
                            "assertion": {"type": "string"},
                            "status": {"type": "string", "enum": ["pass", "fail"]},
                            "evidence": {"type": "string"}
                        }, "required": ["assertion", "status", "evidence"], "additionalProperties": false}}}),
                        &["verdicts"],
                    ),
                ),
                spec("blocked", "Stop: the program cannot be tested; say why.", reason),
            ]);
        }
        ToolboxKind::Subagent => specs.extend([
            WorkspaceTools::run_spec(),
            spec("finish", "Return the report.", object(json!({"summary": {"type": "string", "description": "the report"}}), &["summary"])),
        ]),
    }
    specs
}

#[async_trait]
impl Toolbox for RoleToolbox<'_> {
    fn specs(&self) -> Vec<ToolSpec> {
        role_specs(&self.kind)
    }

    async fn call(&mut self, name: &str, arguments: Value) -> ToolReply {
        match name {
            "write_contract" => self.write_contract(arguments),
            "write_features" => self.write_features(arguments),
            "write_library" => self.write_library(arguments),
            "write_fix_features" => self.write_fix_features(arguments),
            "ask_user" => self.ask_user(arguments),
            "spawn_subagent" => self.spawn_subagent(arguments).await,
            "finish" => self.finish(arguments),
            "submit_review" => self.submit_review(arguments),
            "submit_verdicts" => self.submit_verdicts(arguments),
            "blocked" | "halt" => match self.reason(name, arguments) {
                Ok(reason) => {
                    let ending = if name == "blocked" {
                        self.outputs.blocked = Some(reason);
                        Ending::Blocked
                    } else {
                        self.outputs.halt = Some(reason);
                        Ending::Halted
                    };
                    ToolReply::ends(ending, "stopped")
                }
                Err(reply) => reply,
            },
            other => match self.tools.call(other, arguments).await {
                Some(reply) => reply,
                None => ToolReply::error(
                    ToolErrorKind::Refused,
                    format!("`{other}` is not available to this role"),
                ),
            },
        }
    }
}
