//! The tools that end a worker's or validator's run with what it hands back: the handoff, the
//! review, the verdicts, a subagent's report, or why it is blocked.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::planning::ReasonArgs;
use super::{Handoff, ReviewFinding, RoleContext, ToolboxKind, Verdict};
use crate::spec::AssertionId;
use crate::tools::{CallResult, Ending, Tool, ToolErrorKind, ToolReply};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewArgs {
    findings: Vec<ReviewFinding>,
    #[serde(default)]
    library_notes: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerdictArgs {
    verdicts: Vec<Verdict>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportArgs {
    /// the report
    summary: String,
}

/// `finish` for a worker: the handoff of the finished feature.
pub struct FinishWork;

#[async_trait]
impl<'a> Tool<RoleContext<'a>> for FinishWork {
    type Args = Handoff;

    fn name(&self) -> &'static str {
        "finish"
    }

    fn description(&self) -> &'static str {
        "Hand off the finished feature."
    }

    async fn handle(&self, context: &mut RoleContext<'a>, handoff: Handoff) -> CallResult {
        context.outputs.handoff = Some(handoff);
        Ok(ToolReply::ends(Ending::Finished, "handoff recorded"))
    }
}

/// `finish` for a subagent: its report.
pub struct FinishReport;

#[async_trait]
impl<'a> Tool<RoleContext<'a>> for FinishReport {
    type Args = ReportArgs;

    fn name(&self) -> &'static str {
        "finish"
    }

    fn description(&self) -> &'static str {
        "Return the report."
    }

    async fn handle(&self, context: &mut RoleContext<'a>, args: ReportArgs) -> CallResult {
        context.outputs.summary = Some(args.summary);
        Ok(ToolReply::ends(Ending::Finished, "done"))
    }
}

/// `submit_review`: a scrutiny validator's findings.
pub struct SubmitReview;

#[async_trait]
impl<'a> Tool<RoleContext<'a>> for SubmitReview {
    type Args = ReviewArgs;

    fn name(&self) -> &'static str {
        "submit_review"
    }

    fn description(&self) -> &'static str {
        "Submit the review of the feature: findings by severity (an empty list when it is right)."
    }

    async fn handle(&self, context: &mut RoleContext<'a>, args: ReviewArgs) -> CallResult {
        if let Some(reply) =
            context.unknown_evidence(args.findings.iter().flat_map(|f| &f.evidence_ids))
        {
            return Ok(reply);
        }
        context.outputs.findings = args.findings;
        context.outputs.library_notes = args.library_notes;
        Ok(ToolReply::ends(
            Ending::Finished,
            format!(
                "review recorded: {} findings",
                context.outputs.findings.len()
            ),
        ))
    }
}

/// `submit_verdicts`: a user-testing validator's verdict per assertion.
pub struct SubmitVerdicts;

#[async_trait]
impl<'a> Tool<RoleContext<'a>> for SubmitVerdicts {
    type Args = VerdictArgs;

    fn name(&self) -> &'static str {
        "submit_verdicts"
    }

    fn description(&self) -> &'static str {
        "Submit one verdict per assertion, with the evidence observed."
    }

    async fn handle(&self, context: &mut RoleContext<'a>, args: VerdictArgs) -> CallResult {
        let ToolboxKind::UserTesting { assertions } = &context.kind else {
            return Ok(ToolReply::error(
                ToolErrorKind::Refused,
                "submit_verdicts is for user testing",
            ));
        };
        let unknown: Vec<&str> = args
            .verdicts
            .iter()
            .map(|v| v.assertion.as_str())
            .filter(|id| !assertions.iter().any(|a| a.as_str() == *id))
            .collect();
        if !unknown.is_empty() {
            let known: Vec<&str> = assertions.iter().map(AssertionId::as_str).collect();
            return Ok(ToolReply::error(
                ToolErrorKind::InvalidArguments,
                format!(
                    "unknown assertions: {}; the assertions to verify are: {}",
                    unknown.join(", "),
                    known.join(", ")
                ),
            ));
        }
        if let Some(reply) =
            context.unknown_evidence(args.verdicts.iter().flat_map(|v| &v.evidence_ids))
        {
            return Ok(reply);
        }
        let missing: Vec<&str> = assertions
            .iter()
            .map(AssertionId::as_str)
            .filter(|id| !args.verdicts.iter().any(|v| v.assertion == *id))
            .collect();
        context.outputs.verdicts = args.verdicts;
        let note = if missing.is_empty() {
            String::new()
        } else {
            format!("; no verdict (counted as fail): {}", missing.join(", "))
        };
        Ok(ToolReply::ends(
            Ending::Finished,
            format!("{} verdicts recorded{note}", context.outputs.verdicts.len()),
        ))
    }
}

/// `blocked`: a worker or validator cannot do its task, and says why.
pub struct Blocked {
    description: &'static str,
}

impl Blocked {
    pub const WORKER: Blocked = Blocked {
        description: "Stop: the feature cannot be done; say why.",
    };
    pub const SCRUTINY: Blocked = Blocked {
        description: "Stop: the feature cannot be reviewed; say why.",
    };
    pub const USER_TESTING: Blocked = Blocked {
        description: "Stop: the program cannot be tested; say why.",
    };
}

#[async_trait]
impl<'a> Tool<RoleContext<'a>> for Blocked {
    type Args = ReasonArgs;

    fn name(&self) -> &'static str {
        "blocked"
    }

    fn description(&self) -> &'static str {
        self.description
    }

    async fn handle(&self, context: &mut RoleContext<'a>, args: ReasonArgs) -> CallResult {
        context.outputs.blocked = Some(args.reason);
        Ok(ToolReply::ends(Ending::Blocked, "stopped"))
    }
}
