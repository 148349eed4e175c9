//! How a mission run stops early ([`Halt`]), and the failures of the harness itself
//! ([`HarnessError`]): never the agents' doing, never shown to a model as its mistake, and
//! always recorded as a `harness_error` halt.

use std::path::PathBuf;

use crate::events::HaltReason;

/// Why a mission stopped before its end, and what happened, for the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct Halt {
    pub reason: HaltReason,
    pub detail: String,
}

impl Halt {
    pub fn new(reason: HaltReason, detail: impl Into<String>) -> Halt {
        Halt {
            reason,
            detail: detail.into(),
        }
    }

    pub fn is_interrupted(&self) -> bool {
        self.reason == HaltReason::Interrupted
    }
}

/// A failure of the harness during a mission run.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A file-system step on one path.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file-system step on something the message names (the workspace, `.mission/`).
    #[error("cannot {step}: {source}")]
    Step {
        step: String,
        #[source]
        source: std::io::Error,
    },
    /// A program the harness runs could not start.
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A git command of the harness's own failed.
    #[error("git {args} failed: {stderr}")]
    Git { args: String, stderr: String },
    /// The workspace's record could not be written or read back.
    #[error(transparent)]
    Record(#[from] crate::mission::record::RecordError),
    /// A blocking task of the harness's stopped before its end.
    #[error("the workspace {task} stopped: {source}")]
    Task {
        task: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// What an agent run handed back could not be recorded.
    #[error("cannot record run {run}'s outputs: {source}")]
    Outputs {
        run: u32,
        #[source]
        source: serde_json::Error,
    },
    /// A resumed mission's journal does not match what the lifecycle does.
    #[error("{0}")]
    Replay(String),
    /// The suite's workspace has an entry the copy cannot take.
    #[error("cannot copy the mission's workspace: `{path}`: {reason}")]
    SuiteWorkspace { path: String, reason: String },
}

impl HarnessError {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HarnessError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub fn step(step: impl Into<String>, source: std::io::Error) -> Self {
        HarnessError::Step {
            step: step.into(),
            source,
        }
    }
}

impl From<HarnessError> for Halt {
    fn from(error: HarnessError) -> Halt {
        Halt::new(HaltReason::HarnessError, error.to_string())
    }
}
