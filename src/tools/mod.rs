//! Tools agents call: their JSON schemas, the [`Toolbox`] trait the agent loop calls them through,
//! and the workspace tools every role shares (files and commands), confined to the workspace.
//!
//! Role-specific tools (writing the contract, reporting findings) live with the mission runtime,
//! which owns the state they change.

pub mod background;
pub mod browser;
pub mod files;
pub mod notice;
pub mod process;
pub mod registry;
pub mod sandbox;
pub mod schema;
pub mod workspace;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::model::ToolSpec;
pub use files::{WorkspaceAccess, WorkspaceTools};
pub use notice::{Notice, NoticeKind};
pub use process::{run_shell, CommandEnv, CommandOutput};
pub use registry::{CallResult, Registry, Tool, ToolFatal};
pub use workspace::{PathRefusal, Workspace};

/// Why a tool call did not do what was asked. Every kind is returned to the model as an error it
/// can act on; the agent loop counts them by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolErrorKind {
    /// Arguments did not match the tool's schema.
    InvalidArguments,
    /// Outside the workspace, protected, or not allowed for this role.
    Refused,
    /// The operation itself failed (missing file, no match for an edit).
    Failed,
    /// The orchestrator's contract or plan broke a structural rule.
    PlanViolation,
}

impl ToolErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolErrorKind::InvalidArguments => "invalid_arguments",
            ToolErrorKind::Refused => "refused",
            ToolErrorKind::Failed => "failed",
            ToolErrorKind::PlanViolation => "plan_violation",
        }
    }
}

/// Facts about a call that reports and progress need, beyond its text.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToolDetail {
    #[default]
    None,
    FileWrite {
        path: String,
        bytes: u64,
    },
    Command {
        command: String,
        exit_code: Option<i32>,
        timed_out: bool,
        dropped_bytes: u64,
        duration_ms: f64,
    },
}

/// How a tool call ends its agent run: the tool that ends it says how, so the agent loop names no
/// tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The task is done (a handoff, a report, a plan).
    Finished,
    /// The agent cannot do its task and says why.
    Blocked,
    /// The agent stops the whole mission.
    Halted,
}

/// The result of one tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolReply {
    pub content: String,
    pub error: Option<ToolErrorKind>,
    /// The call ends the agent run, and how (finish, blocked, halt, submitting a report).
    pub ending: Option<Ending>,
    pub detail: ToolDetail,
    /// What was refused, cut or limited on the way (each becomes an event).
    pub notices: Vec<Notice>,
}

impl ToolReply {
    pub fn ok(content: impl Into<String>) -> ToolReply {
        ToolReply {
            content: content.into(),
            error: None,
            ending: None,
            detail: ToolDetail::None,
            notices: Vec::new(),
        }
    }

    pub fn error(kind: ToolErrorKind, content: impl Into<String>) -> ToolReply {
        ToolReply {
            content: content.into(),
            error: Some(kind),
            ending: None,
            detail: ToolDetail::None,
            notices: Vec::new(),
        }
    }

    /// A reply that ends the agent run as `ending` says.
    pub fn ends(ending: Ending, content: impl Into<String>) -> ToolReply {
        ToolReply {
            ending: Some(ending),
            ..ToolReply::ok(content)
        }
    }

    pub fn with_detail(mut self, detail: ToolDetail) -> ToolReply {
        self.detail = detail;
        self
    }

    pub fn with_notices(mut self, notices: Vec<Notice>) -> ToolReply {
        self.notices = notices;
        self
    }
}

/// The tools of one agent run.
#[async_trait]
pub trait Toolbox: Send {
    fn specs(&self) -> Vec<ToolSpec>;

    /// Calls `name`, which is one of [`Toolbox::specs`], with parsed JSON arguments: a reply for
    /// the model, or a failure of the harness that ends the agent run.
    async fn call(&mut self, name: &str, arguments: serde_json::Value) -> CallResult;
}

/// Decodes tool arguments, or the error reply the model gets instead.
pub fn decode<T: DeserializeOwned>(
    tool: &str,
    arguments: serde_json::Value,
) -> Result<T, ToolReply> {
    decode_error(&arguments)
        .map_or_else(
            || serde_json::from_value(arguments).map_err(|e| e.to_string()),
            Err,
        )
        .map_err(|message| {
            ToolReply::error(
                ToolErrorKind::InvalidArguments,
                format!(
                    "invalid arguments for `{tool}`: {}",
                    crate::spec::error::plain_serde_message(&message)
                ),
            )
        })
}

/// Arguments that are no JSON object, said so rather than as serde's "expected struct
/// ReadArgs", which names a type of ours.
pub(crate) fn decode_error(arguments: &serde_json::Value) -> Option<String> {
    (!arguments.is_object()).then(|| {
        format!(
            "expected a JSON object of arguments, got {}",
            json_kind(arguments)
        )
    })
}

/// What a JSON value is, as a message says it ("an array").
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Builds a tool spec from a JSON schema of its arguments.
pub fn spec(name: &str, description: &str, parameters: serde_json::Value) -> ToolSpec {
    ToolSpec {
        name: name.to_string(),
        description: description.to_string(),
        parameters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Args {
        timeout_s: u64,
    }

    fn refusal(arguments: serde_json::Value) -> String {
        decode::<Args>("run_command", arguments)
            .unwrap_err()
            .content
    }

    #[test]
    fn refused_arguments_are_said_without_our_types_or_debug_strings() {
        assert_eq!(
            refusal(json!("\"\"")),
            "invalid arguments for `run_command`: expected a JSON object of arguments, got a string"
        );
        assert_eq!(
            refusal(json!({"timeout_s": "\"soon\""})),
            "invalid arguments for `run_command`: invalid type: a string, expected u64"
        );
        assert_eq!(
            refusal(json!({"timeout_s": "soon"})),
            "invalid arguments for `run_command`: invalid type: string `soon`, expected u64"
        );
    }
}
