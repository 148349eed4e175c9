//! One mission run: set up the workspace, plan, implement and validate milestone by milestone
//! with the fix loop, then measure ground truth. Everything that happens is an event.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::agent::{
    run_agent_deferred, AgentContext, AgentLimits, AgentResult, AgentRunSpec, Meter,
};
use crate::events::{
    AgentOutcome, Emitter, Event, FileClass, HaltReason, MissionKey, MissionStatus, ModelRef,
    SkippedPath, TestStatus, VerdictStatus,
};
use crate::model::secret::Redactor;
use crate::model::{millis, AgentTask, ModelRegistry, SessionContext, Usage};
use crate::spec::findings::{group_findings, superseded};
use crate::spec::mission::NetworkAccess;
use crate::spec::{
    Budget, Feature, Finding, FindingSource, Milestone, MilestoneId, MissionSpec, Pairing, Role,
    Severity, Verify,
};
use crate::tools::browser::tools::{BrowserTools, EvidenceDir};
use crate::tools::browser::BrowserLaunch;
use crate::tools::sandbox::{Network, Sandbox, SandboxPaths, SandboxPolicy};
use crate::tools::{run_shell, CommandEnv, Workspace, WorkspaceTools};

use super::env::Environments;
use super::ground_truth::{count_lines, run_acceptance, run_coverage, run_mutation};
use super::prompts::Prompts;
use super::record;
use super::render;
use super::resume::{Replay, ReplayCursor};
use super::role_tools::{Outputs, RoleContext, RoleToolbox, SubagentSpawner, ToolboxKind};
use super::state::MissionState;

mod checkpoints;
mod decisions;
mod error;
mod findings;
mod measure;
mod meter;
mod milestones;
mod roles;
mod serve;
mod setup;

use decisions::{fix_budget_exceeded, mission_status, round_outcome, RoundOutcome};
pub use error::{Halt, HarnessError};
use findings::TrackedFinding;
use measure::{emit_skipped, measure_ground_truth};
pub use meter::MissionMeter;
use roles::RoleRun;

/// The sandbox's network for a mission's `[sandbox] network`.
pub fn network_of(access: NetworkAccess) -> Network {
    match access {
        NetworkAccess::None => Network::None,
        NetworkAccess::Loopback => Network::Loopback,
    }
}

/// Settings shared by every mission of a run.
pub struct RunContext {
    pub registry: ModelRegistry,
    pub prompts: Arc<Prompts>,
    /// The suite's environments, each prepared or why it could not be.
    pub environment: Environments,
    /// PATH entries after the suite's own (system tools: sh, git, python3).
    pub base_path: String,
    /// Where mission workspaces are created.
    pub work_dir: PathBuf,
    pub report_dir: PathBuf,
    pub command_timeout: std::time::Duration,
    pub max_output_bytes: usize,
    pub keep_workspaces: bool,
    /// Keys to keep out of transcripts.
    pub redactor: Redactor,
    /// How agent commands are confined; `None` when the sandbox is off. Each mission sets its
    /// own network access.
    pub sandbox: Option<SandboxPolicy>,
    /// The run's stop request (Ctrl-C).
    pub stop: Arc<crate::stop::StopSignal>,
    /// The run's seed, from which each agent run's own is derived ([`agent_seed`]).
    pub seed: u64,
    /// The `replay` models of the run, by name: what each serves roles from.
    pub replays: BTreeMap<String, crate::mission::counterfactual::ReplaySource>,
}

/// An agent run's seed: a function of the run's seed and of the agent run's place in the run
/// alone (never of when it started), so a command draws the same tokens with any `--jobs` and
/// after `--resume`.
pub fn agent_seed(run_seed: u64, pairing: &str, mission: &str, repeat: u32, run: u32) -> u64 {
    crate::rng::derive_seed(&[
        &run_seed.to_le_bytes(),
        pairing.as_bytes(),
        mission.as_bytes(),
        &repeat.to_le_bytes(),
        &run.to_le_bytes(),
    ])
}

/// One mission under one pairing, one repeat.
#[derive(Clone)]
pub struct MissionRun {
    pub key: MissionKey,
    pub mission: Arc<MissionSpec>,
    pub pairing: Pairing,
    /// A resumed mission's record up to its last checkpoint: the mission continues from there.
    pub replay: Option<Arc<Replay>>,
}

pub struct MissionRuntime {
    pub key: MissionKey,
    pub mission: Arc<MissionSpec>,
    pub pairing: Pairing,
    pub emitter: Emitter,
    pub state: MissionState,
    registry: ModelRegistry,
    prompts: Arc<Prompts>,
    workspace: Workspace,
    command_env: CommandEnv,
    git_vars: Vec<(String, String)>,
    transcript_dir: PathBuf,
    meter: MissionMeter,
    next_run: AtomicU32,
    next_finding: AtomicU32,
    findings: Mutex<Vec<TrackedFinding>>,
    redactor: Redactor,
    stop: Arc<crate::stop::StopSignal>,
    /// A resumed mission's replay (empty otherwise).
    replay: Mutex<ReplayCursor>,
    /// The bare repository in the report folder that keeps the workspace after each finished
    /// agent run.
    checkpoints: PathBuf,
    run_seed: u64,
    /// What the last snapshot of the workspace could not take.
    record_skipped: Mutex<Vec<crate::fsutil::Skipped>>,
    /// The Chromium of a mission with `[browser]`, found on the commands' `PATH`.
    browser_program: Option<PathBuf>,
    report_dir: PathBuf,
    /// A counterfactual replay's place against its record; `None` when no role is replayed.
    counterfactual: Option<Mutex<crate::mission::counterfactual::Counterfactual>>,
    /// The roles bound to a `replay` model.
    replayed_roles: std::collections::BTreeSet<Role>,
}

/// Runs one mission to its end and records it. Never panics on a mission's content; whatever
/// fails is recorded as the mission's status.
pub async fn run_mission(run: MissionRun, context: &RunContext, root: &Emitter) {
    let emitter = root.for_mission(run.key.clone());
    let started = Instant::now();
    let mission_dir = context.work_dir.join(run.key.slug());
    // A resumed mission's journal already says it started.
    if run.replay.is_none() {
        emitter.emit(Event::MissionStarted {
            mission_hash: run.mission.hash.clone(),
            models: models_of(&run, context),
            workspace: mission_dir.join("workspace").display().to_string(),
            difficulty: Some(run.mission.file.difficulty.as_str().to_string()),
            language: Some(run.mission.file.language.clone()),
            tags: run.mission.file.tags.clone(),
        });
    }
    let runtime = match start(&run, context, &mission_dir, &emitter).await {
        Ok(runtime) => runtime,
        Err(halt) => {
            // A mission that ends before its lifecycle starts: halted, then finished.
            emitter.emit(Event::MissionHalted {
                reason: halt.reason,
                detail: halt.detail.clone(),
            });
            let status = mission_status(Some(&halt), false);
            finish(&emitter, status, Some(halt), started.elapsed());
            return;
        }
    };
    let (status, halt) = run_to_the_end(&run, context, &runtime, &emitter, &mission_dir).await;
    finish(&emitter, status, halt, runtime.meter.elapsed());
    // The checkpoints stay in the report: `--resume` continues from them, and a
    // counterfactual replay serves agent runs from them.
    if !context.keep_workspaces {
        remove_folder(&emitter, &mission_dir);
    }
}

/// The model and provider of each role, for `MissionStarted`.
fn models_of(run: &MissionRun, context: &RunContext) -> BTreeMap<Role, ModelRef> {
    Role::ALL
        .into_iter()
        .map(|role| {
            let name = run.pairing.model(role).to_string();
            // A replayed role: the recorded model, its runs served by the replay.
            if let Some(source) = context.replays.get(&name) {
                let recorded = source
                    .recorded_pairing(&run.key.pairing)
                    .ok()
                    .and_then(|p| {
                        source
                            .recording
                            .mission(run.key.mission.as_str(), &p, run.key.repeat)
                    })
                    .and_then(|m| m.models.get(&role).cloned());
                if let Some(recorded) = recorded {
                    return (
                        role,
                        ModelRef {
                            name: recorded.name,
                            provider: "replay".to_string(),
                        },
                    );
                }
            }
            let provider = context
                .registry
                .get(&name)
                .map(|m| m.backend.info().provider.to_string())
                .unwrap_or_default();
            (role, ModelRef { name, provider })
        })
        .collect()
}

/// The mission's runtime, or why the mission cannot start.
async fn start(
    run: &MissionRun,
    context: &RunContext,
    mission_dir: &Path,
    emitter: &Emitter,
) -> Result<MissionRuntime, Halt> {
    if context.stop.is_stopped() {
        return Err(Halt::new(
            HaltReason::Interrupted,
            "the run was interrupted before this mission started",
        ));
    }
    let environment = match context.environment.of(&run.mission) {
        Ok(environment) => environment,
        Err(message) => return Err(Halt::new(HaltReason::EnvironmentSetupFailed, message)),
    };
    if run.mission.file.browser.is_some() {
        let vars = environment.command_vars(&context.base_path, mission_dir, mission_dir);
        let path = setup::path_of(&vars);
        if crate::tools::browser::find_program(path).is_none() {
            return Err(Halt::new(
                HaltReason::EnvironmentSetupFailed,
                format!(
                    "this mission needs a browser, and none of {} is on the commands' PATH ({path}); install the distribution's `chromium` package",
                    crate::tools::browser::PROGRAMS.join(", ")
                ),
            ));
        }
    }
    let replay = serve::counterfactual_of(run, context)
        .map_err(|message| Halt::new(HaltReason::ReplayDiverged, message))?;
    MissionRuntime::set_up(
        run,
        context,
        environment,
        mission_dir,
        emitter.clone(),
        replay,
    )
    .await
    .map_err(|e| {
        Halt::new(
            HaltReason::HarnessError,
            format!("cannot set up the workspace: {e}"),
        )
    })
}

/// The lifecycle, the ground truth and the final diff of a started mission: its status and
/// why it stopped early, if it did.
async fn run_to_the_end(
    run: &MissionRun,
    context: &RunContext,
    runtime: &MissionRuntime,
    emitter: &Emitter,
    mission_dir: &Path,
) -> (MissionStatus, Option<Halt>) {
    let mut halt = runtime.run_lifecycle().await;
    let stopped = halt.as_ref().is_some_and(Halt::is_interrupted);
    if !stopped {
        runtime.end_counterfactual();
    }
    if let Some(divergence) = runtime.end_replay(stopped) {
        halt = Some(Halt::new(
            HaltReason::HarnessError,
            format!("cannot resume the mission from its journal: {divergence}"),
        ));
    }
    if let Some(halt) = &halt {
        emit_halted(emitter, halt);
    }
    // Ground truth, whatever the outcome, unless the mission was interrupted (it is unfinished).
    let interrupted = halt.as_ref().is_some_and(Halt::is_interrupted);
    let mut accepted = false;
    if !interrupted {
        let workspace_dir = mission_dir.join("workspace");
        match measure_ground_truth(run, runtime, emitter, &workspace_dir, mission_dir).await {
            Ok(passed) => accepted = passed,
            Err(e) => halt = Some(also(emitter, halt, e)),
        }
    }
    let diff = context
        .report_dir
        .join("diffs")
        .join(format!("{}.patch", run.key.slug()));
    if let Err(e) = runtime.save_final_diff(&diff).await {
        halt = Some(also(emitter, halt, e));
    }
    // A stop during the ground truth leaves it incomplete: the mission is unfinished, whatever
    // else stopped it.
    if !interrupted && context.stop.is_stopped() {
        let stop = Halt::new(
            HaltReason::Interrupted,
            "the run was interrupted while the ground truth was measured",
        );
        emit_halted(emitter, &stop);
        halt = Some(stop);
    }
    (mission_status(halt.as_ref(), accepted), halt)
}

fn emit_halted(emitter: &Emitter, halt: &Halt) {
    emitter.emit(Event::MissionHalted {
        reason: halt.reason,
        detail: halt.detail.clone(),
    });
}

/// A harness failure after the lifecycle: the mission's halt when it had none (and recorded as
/// one), else added to the halt's detail, so that neither is lost.
fn also(emitter: &Emitter, halt: Option<Halt>, error: HarnessError) -> Halt {
    match halt {
        None => {
            let halt = Halt::from(error);
            emit_halted(emitter, &halt);
            halt
        }
        Some(mut halt) => {
            halt.detail = format!("{}; then: {error}", halt.detail);
            halt
        }
    }
}

fn finish(
    emitter: &Emitter,
    status: MissionStatus,
    halt: Option<Halt>,
    elapsed: std::time::Duration,
) {
    let (halt_reason, detail) = match halt {
        Some(halt) => (Some(halt.reason), halt.detail),
        None => (None, String::new()),
    };
    emitter.emit(Event::MissionFinished {
        status,
        halt_reason,
        detail,
        duration_ms: millis(elapsed),
    });
}

/// Removes a folder of the harness's own after the mission; one it cannot remove is recorded.
fn remove_folder(emitter: &Emitter, folder: &Path) {
    if let Err(e) = std::fs::remove_dir_all(folder) {
        if e.kind() != std::io::ErrorKind::NotFound {
            emitter.emit(Event::CleanupFailed {
                path: folder.display().to_string(),
                error: e.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fix_budget_counts_every_round_of_a_milestone() {
        let m1 = MilestoneId::new("m1");
        assert!(fix_budget_exceeded(&m1, 1, 0, 6, 6).is_none());
        assert!(fix_budget_exceeded(&m1, 2, 4, 2, 6).is_none());
        let Halt { reason, detail } = fix_budget_exceeded(&m1, 3, 5, 2, 6).unwrap();
        assert_eq!(reason, HaltReason::MaxFixFeatures);
        assert_eq!(
            detail,
            "milestone `m1` would need 7 fix features after round 3 (5 planned before, 2 more \
             for its open findings); the budget is 6 per milestone"
        );
    }
}
