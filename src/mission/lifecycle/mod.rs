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
use crate::tools::sandbox::{Network, Sandbox, SandboxPaths, SandboxPolicy};
use crate::tools::{run_shell, CommandEnv, Workspace, WorkspaceTools};

use super::env::PreparedEnvironment;
use super::ground_truth::{count_lines, run_acceptance, run_coverage, run_mutation};
use super::prompts::Prompts;
use super::record;
use super::render;
use super::resume::{Replay, ReplayCursor};
use super::state::MissionState;
use super::toolbox::{Outputs, RoleToolbox, ToolboxKind};

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
    /// The suite environment, or why it could not be prepared.
    pub environment: Result<PreparedEnvironment, String>,
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

/// Tokens, cost and time spent by a mission, against its budget.
pub struct MissionMeter {
    budget: Budget,
    started: Mutex<Instant>,
    tokens: AtomicU64,
    cost_usd: Mutex<f64>,
}

impl MissionMeter {
    pub fn new(budget: Budget) -> MissionMeter {
        MissionMeter {
            budget,
            started: Mutex::new(Instant::now()),
            tokens: AtomicU64::new(0),
            cost_usd: Mutex::new(0.0),
        }
    }

    /// Time spent on the mission, including what a resumed mission carried over.
    pub fn elapsed(&self) -> std::time::Duration {
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// Tokens, cost in USD and time spent so far.
    pub fn totals(&self) -> (u64, f64, std::time::Duration) {
        let cost = *self.cost_usd.lock().unwrap_or_else(|p| p.into_inner());
        (self.tokens.load(Ordering::SeqCst), cost, self.elapsed())
    }

    /// Sets the spend to what a checkpoint recorded (a resumed mission carries it over).
    pub fn restore(&self, tokens: u64, cost_usd: f64, elapsed: std::time::Duration) {
        self.tokens.store(tokens, Ordering::SeqCst);
        *self.cost_usd.lock().unwrap_or_else(|p| p.into_inner()) = cost_usd;
        let now = Instant::now();
        *self.started.lock().unwrap_or_else(|p| p.into_inner()) =
            now.checked_sub(elapsed).unwrap_or(now);
    }

    pub fn halt_reason(&self) -> Option<(HaltReason, String)> {
        let tokens = self.tokens.load(Ordering::SeqCst);
        if tokens >= self.budget.max_tokens {
            return Some((
                HaltReason::MaxTokens,
                format!(
                    "{tokens} tokens used; the budget is {}",
                    self.budget.max_tokens
                ),
            ));
        }
        let cost = *self.cost_usd.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(max) = self.budget.max_cost_usd {
            if cost >= max {
                return Some((
                    HaltReason::MaxCost,
                    format!("${cost:.4} spent; the budget is ${max:.4}"),
                ));
            }
        }
        let elapsed = self.elapsed();
        if elapsed >= self.budget.max_wall_time {
            return Some((
                HaltReason::MaxWallTime,
                format!(
                    "{:.0} s elapsed; the budget is {} s",
                    elapsed.as_secs_f64(),
                    self.budget.max_wall_time.as_secs()
                ),
            ));
        }
        None
    }
}

impl Meter for MissionMeter {
    fn exhausted(&self) -> Option<String> {
        self.halt_reason().map(|(_, detail)| detail)
    }

    fn charge(&self, usage: &Usage, cost_usd: Option<f64>) {
        self.tokens.fetch_add(usage.total(), Ordering::SeqCst);
        if let Some(cost) = cost_usd {
            *self.cost_usd.lock().unwrap_or_else(|p| p.into_inner()) += cost;
        }
    }
}

/// What a worker run left for its reviewer.
struct Implemented {
    feature: Feature,
    /// Commits before and after the run.
    before: String,
    after: String,
    outcome: AgentOutcome,
    handoff: Option<super::toolbox::Handoff>,
}

/// A finding and whether it is still open.
struct TrackedFinding {
    finding: Finding,
    open: bool,
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
}

/// One agent run to start: who, for what, with which tools and prompts.
struct RoleRun {
    role: Role,
    task: AgentTask,
    kind: ToolboxKind,
    parent: Option<u32>,
    milestone: Option<MilestoneId>,
    feature: Option<crate::spec::FeatureId>,
    round: Option<u32>,
    /// Name of the system prompt.
    prompt: &'static str,
    user_prompt: String,
}

type Halt = (HaltReason, String);

/// Whether planning `needed` more fix features for `milestone` after `round`, on top of the
/// `planned_before` it already has, would exceed the budget's `max_fix_features`; the halt if so.
fn fix_budget_exceeded(
    milestone: &MilestoneId,
    round: u32,
    planned_before: u32,
    needed: u32,
    max_fix_features: u32,
) -> Option<Halt> {
    let total = planned_before + needed;
    (total > max_fix_features).then(|| {
        (
            HaltReason::MaxFixFeatures,
            format!(
                "milestone `{milestone}` would need {total} fix features after round {round} \
                 ({planned_before} planned before, {needed} more for its open findings); \
                 the budget is {max_fix_features} per milestone"
            ),
        )
    })
}

/// Runs one mission to its end and records it. Never panics on a mission's content; whatever
/// fails is recorded as the mission's status.
pub async fn run_mission(run: MissionRun, context: &RunContext, root: &Emitter) {
    let emitter = root.for_mission(run.key.clone());
    let started = Instant::now();
    let slug = run.key.slug();
    let mission_dir = context.work_dir.join(&slug);
    let workspace_dir = mission_dir.join("workspace");
    let models: BTreeMap<Role, ModelRef> = Role::ALL
        .into_iter()
        .map(|role| {
            let name = run.pairing.model(role).to_string();
            let provider = context
                .registry
                .get(&name)
                .map(|m| m.backend.info().provider.to_string())
                .unwrap_or_default();
            (role, ModelRef { name, provider })
        })
        .collect();
    // A resumed mission's journal already says it started.
    if run.replay.is_none() {
        emitter.emit(Event::MissionStarted {
            mission_hash: run.mission.hash.clone(),
            models,
            workspace: workspace_dir.display().to_string(),
        });
    }
    let finish_after = |status: MissionStatus, halt: Option<Halt>, elapsed: std::time::Duration| {
        let (halt_reason, detail) = match halt {
            Some((reason, detail)) => (Some(reason), detail),
            None => (None, String::new()),
        };
        emitter.emit(Event::MissionFinished {
            status,
            halt_reason,
            detail,
            duration_ms: millis(elapsed),
        });
    };
    let finish = |status: MissionStatus, halt: Option<Halt>| {
        finish_after(status, halt, started.elapsed());
    };

    // A mission that ends before its lifecycle starts: halted with a reason, then finished.
    let end_early = |status: MissionStatus, reason: HaltReason, detail: String| {
        emitter.emit(Event::MissionHalted {
            reason,
            detail: detail.clone(),
        });
        finish(status, Some((reason, detail)));
    };
    if context.stop.is_stopped() {
        end_early(
            MissionStatus::Interrupted,
            HaltReason::Interrupted,
            "the run was interrupted before this mission started".to_string(),
        );
        return;
    }
    let environment = match &context.environment {
        Ok(environment) => environment,
        Err(message) => {
            end_early(
                MissionStatus::Error,
                HaltReason::EnvironmentSetupFailed,
                message.clone(),
            );
            return;
        }
    };
    let runtime =
        match MissionRuntime::set_up(&run, context, environment, &mission_dir, emitter.clone())
            .await
        {
            Ok(runtime) => runtime,
            Err(message) => {
                end_early(
                    MissionStatus::Error,
                    HaltReason::HarnessError,
                    format!("cannot set up the workspace: {message}"),
                );
                return;
            }
        };
    let mut halt = runtime.run_lifecycle().await;
    let stopped = matches!(&halt, Some((HaltReason::Interrupted, _)));
    if let Some(divergence) = runtime.end_replay(stopped) {
        halt = Some((
            HaltReason::HarnessError,
            format!("cannot resume the mission from its journal: {divergence}"),
        ));
    }
    if let Some((reason, detail)) = &halt {
        emitter.emit(Event::MissionHalted {
            reason: *reason,
            detail: detail.clone(),
        });
    }

    // Ground truth, whatever the outcome, unless the mission was interrupted (it is unfinished).
    let interrupted = matches!(&halt, Some((HaltReason::Interrupted, _)));
    let accepted = !interrupted
        && measure_ground_truth(&run, &runtime, &emitter, &workspace_dir, &mission_dir).await;
    runtime
        .save_final_diff(
            &context
                .report_dir
                .join("diffs")
                .join(format!("{slug}.patch")),
        )
        .await;

    // A stop during the ground truth leaves it incomplete: the mission is unfinished, whatever
    // else stopped it.
    let halt = if !interrupted && context.stop.is_stopped() {
        let detail = "the run was interrupted while the ground truth was measured".to_string();
        emitter.emit(Event::MissionHalted {
            reason: HaltReason::Interrupted,
            detail: detail.clone(),
        });
        Some((HaltReason::Interrupted, detail))
    } else {
        halt
    };
    let status = match &halt {
        Some((HaltReason::Interrupted, _)) => MissionStatus::Interrupted,
        Some((reason, _)) if reason.is_infrastructure() => MissionStatus::Error,
        Some(_) => MissionStatus::Halted,
        None if accepted => MissionStatus::Passed,
        None => MissionStatus::Failed,
    };
    finish_after(status, halt, runtime.meter.elapsed());
    if !context.keep_workspaces {
        let _ = std::fs::remove_dir_all(&mission_dir);
        // An interrupted mission keeps its checkpoints for `--resume`.
        if status != MissionStatus::Interrupted {
            let _ = std::fs::remove_dir_all(&runtime.checkpoints);
        }
    }
}

/// Acceptance, coverage and line counts of a mission's final workspace, as events; whether every
/// acceptance test passed.
async fn measure_ground_truth(
    run: &MissionRun,
    runtime: &MissionRuntime,
    emitter: &Emitter,
    workspace_dir: &Path,
    mission_dir: &Path,
) -> bool {
    let mut notices = Vec::new();
    let mut skipped = Vec::new();
    // Agents' commands may write the mission folder: nothing they left here is kept.
    let ground_truth = mission_dir.join("ground-truth");
    let _ = std::fs::remove_dir_all(&ground_truth);
    let acceptance = run_acceptance(
        &run.mission,
        workspace_dir,
        &ground_truth.join("acceptance"),
        &runtime.command_env,
        &mut notices,
        &mut skipped,
    )
    .await;
    emitter.emit_notices(None, None, "acceptance", std::mem::take(&mut notices));
    emit_skipped(emitter, "acceptance", std::mem::take(&mut skipped));
    // A verdict the agents' machinery tampered with never passes.
    let accepted = !acceptance.tampered
        && matches!(&acceptance.finished, Event::AcceptanceFinished { tests, error: None, .. }
            if !tests.is_empty() && tests.iter().all(|t| t.status == TestStatus::Passed));
    emitter.emit(acceptance.sealed);
    emitter.emit(acceptance.finished);
    if let Some(coverage) = run_coverage(
        &run.mission,
        workspace_dir,
        &ground_truth.join("coverage"),
        &runtime.command_env,
        &mut notices,
        &mut skipped,
    )
    .await
    {
        emitter.emit(coverage);
    }
    emitter.emit_notices(None, None, "coverage", std::mem::take(&mut notices));
    emit_skipped(emitter, "coverage", skipped);
    if let Some(mutation) = run_mutation(
        &run.mission,
        workspace_dir,
        &ground_truth.join("mutation"),
        &runtime.command_env,
        runtime.run_seed,
        &run.key,
        &mut notices,
    )
    .await
    {
        emitter.emit(mutation);
    }
    emitter.emit_notices(None, None, "mutation", notices);
    emitter.emit(count_lines(&run.mission, workspace_dir));
    accepted
}

/// The paths a copy or the record left out, as one event (none when nothing was).
fn emit_skipped(emitter: &Emitter, during: &str, skipped: Vec<crate::fsutil::Skipped>) {
    if skipped.is_empty() {
        return;
    }
    emitter.emit(Event::PathsSkipped {
        during: during.to_string(),
        paths: skipped
            .into_iter()
            .map(|s| SkippedPath {
                path: s.path,
                reason: s.reason,
            })
            .collect(),
    });
}

impl MissionRuntime {
    async fn set_up(
        run: &MissionRun,
        context: &RunContext,
        environment: &PreparedEnvironment,
        mission_dir: &Path,
        emitter: Emitter,
    ) -> Result<MissionRuntime, String> {
        if mission_dir.exists() {
            std::fs::remove_dir_all(mission_dir)
                .map_err(|e| format!("cannot clear `{}`: {e}", mission_dir.display()))?;
        }
        let workspace_dir = mission_dir.join("workspace");
        let home = mission_dir.join("home");
        let tmp = mission_dir.join("tmp");
        for dir in [&workspace_dir, &home, &tmp] {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        }
        // The suite's own files: one the copy cannot take is a defect of the suite, not a notice.
        let skipped = crate::fsutil::copy_tree(&run.mission.workspace_dir(), &workspace_dir, &[])
            .map_err(|e| format!("cannot copy the mission's workspace: {e}"))?;
        if let Some(first) = skipped.first() {
            return Err(format!(
                "cannot copy the mission's workspace: `{}`: {}",
                first.path, first.reason
            ));
        }
        let state = MissionState::new(&workspace_dir)
            .map_err(|e| format!("cannot create .mission/: {e}"))?;
        let workspace = Workspace::new(&workspace_dir)
            .map_err(|e| format!("cannot open the workspace: {e}"))?;
        let vars = environment.command_vars(&context.base_path, &home, &tmp);
        let sandbox = match &context.sandbox {
            Some(policy) => {
                let policy = SandboxPolicy {
                    network: network_of(run.mission.file.sandbox.network),
                    ..policy.clone()
                };
                // The harness's repository and state: commands may read them, never change them.
                let git_dir = workspace_dir.join(".git");
                std::fs::create_dir_all(&git_dir)
                    .map_err(|e| format!("cannot create `{}`: {e}", git_dir.display()))?;
                let paths = SandboxPaths {
                    writable: vec![mission_dir.to_path_buf()],
                    read_only: vec![git_dir, workspace_dir.join(".mission")],
                    counted: vec![workspace_dir.clone(), home.clone(), tmp.clone()],
                    read: environment.dir.iter().cloned().collect(),
                    path_var: vars
                        .iter()
                        .find(|(k, _)| k == "PATH")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                };
                let sandbox = Sandbox::new(policy, &paths)
                    .map_err(|e| format!("cannot set up the sandbox: {e}"))?;
                Some(Arc::new(sandbox))
            }
            None => None,
        };
        let command_env = CommandEnv {
            vars,
            timeout: context.command_timeout,
            max_output_bytes: context.max_output_bytes,
            sandbox,
            stop: Some(context.stop.clone()),
        };
        let git_vars = vec![
            ("PATH".to_string(), context.base_path.clone()),
            ("HOME".to_string(), home.display().to_string()),
            ("LANG".to_string(), "C".to_string()),
            ("GIT_CONFIG_NOSYSTEM".to_string(), "1".to_string()),
            ("GIT_CONFIG_GLOBAL".to_string(), "/dev/null".to_string()),
        ];
        let transcript_dir = context.report_dir.join("transcripts").join(run.key.slug());
        let checkpoints = super::resume::checkpoint_repository(&context.report_dir, &run.key);
        let replay = ReplayCursor::new(run.replay.as_deref().unwrap_or(&Replay::default()));
        let emitter = emitter.muted_by(replay.mute_switch());
        let runtime = MissionRuntime {
            key: run.key.clone(),
            mission: run.mission.clone(),
            pairing: run.pairing.clone(),
            emitter,
            state,
            registry: context.registry.clone(),
            prompts: context.prompts.clone(),
            workspace,
            command_env,
            git_vars,
            transcript_dir,
            meter: MissionMeter::new(run.mission.budget.clone()),
            next_run: AtomicU32::new(1),
            next_finding: AtomicU32::new(1),
            findings: Mutex::new(Vec::new()),
            redactor: context.redactor.clone(),
            stop: context.stop.clone(),
            replay: Mutex::new(replay),
            checkpoints,
            run_seed: context.seed,
            record_skipped: Mutex::new(Vec::new()),
        };
        runtime.git(&["init", "-q"]).await?;
        // The record follows the harness's rules alone (`record::write_snapshot`); the excludes
        // only make an agent's own `git status` agree with it.
        let excludes: String = run
            .mission
            .record
            .patterns()
            .iter()
            .map(|p| format!("{p}\n"))
            .collect();
        std::fs::write(workspace_dir.join(".git/info/exclude"), excludes)
            .map_err(|e| format!("cannot write git excludes: {e}"))?;
        runtime.commit("initial workspace").await?;
        let bare = runtime.checkpoints.display().to_string();
        if run.replay.is_some() {
            // The workspaces after the finished runs, to reset to as each is replayed.
            runtime
                .git(&["fetch", "-q", &bare, "+refs/runs/*:refs/runs/*"])
                .await?;
        } else {
            if runtime.checkpoints.exists() {
                std::fs::remove_dir_all(&runtime.checkpoints)
                    .map_err(|e| format!("cannot clear `{bare}`: {e}"))?;
            }
            std::fs::create_dir_all(&runtime.checkpoints)
                .map_err(|e| format!("cannot create `{bare}`: {e}"))?;
            runtime.git(&["init", "-q", "--bare", &bare]).await?;
        }
        Ok(runtime)
    }

    fn cursor(&self) -> std::sync::MutexGuard<'_, ReplayCursor> {
        self.replay.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends a resumed mission's replay (events flow again); why it cannot be trusted, if so.
    fn end_replay(&self, interrupted: bool) -> Option<String> {
        self.cursor().finish(interrupted)
    }

    /// Saves the workspace after a finished top-level agent run, then records its end
    /// (`finished`) and the checkpoint a resumed run continues from, one line right after the
    /// other. The end is recorded even when saving fails.
    async fn checkpoint(
        &self,
        run: u32,
        outcome: AgentOutcome,
        outputs: &Outputs,
        finished: Event,
    ) -> Result<(), Halt> {
        let saved = self.save_checkpoint(run, outputs).await;
        self.emitter.emit(finished);
        let (commit, outputs) = saved.map_err(|e| (HaltReason::HarnessError, e))?;
        let (tokens, cost_usd, elapsed) = self.meter.totals();
        self.emitter.emit(Event::AgentCheckpoint {
            run,
            outcome,
            commit,
            outputs,
            next_run: self.next_run.load(Ordering::SeqCst),
            tokens,
            cost_usd,
            elapsed_ms: millis(elapsed),
        });
        Ok(())
    }

    /// Commits the workspace and pushes the commit to the checkpoint repository; the commit and
    /// the run's outputs as JSON.
    async fn save_checkpoint(
        &self,
        run: u32,
        outputs: &Outputs,
    ) -> Result<(String, serde_json::Value), String> {
        let commit = self.commit(&format!("after run {run}")).await?;
        let bare = self.checkpoints.display().to_string();
        self.git(&[
            "push",
            "-q",
            "--force",
            &bare,
            &format!("HEAD:refs/runs/{run:04}"),
        ])
        .await?;
        let outputs = serde_json::to_value(outputs)
            .map_err(|e| format!("cannot record run {run}'s outputs: {e}"))?;
        Ok((commit, outputs))
    }

    /// Replays a finished agent run of a resumed mission: the workspace, state and spend as they
    /// were after it. `None` when not replaying.
    async fn replay_run(
        &self,
        role: Role,
        milestone: Option<&MilestoneId>,
        feature: Option<&crate::spec::FeatureId>,
        round: Option<u32>,
    ) -> Result<Option<(u32, AgentResult, Outputs)>, Halt> {
        let next = self.cursor().next_run(role, milestone, feature, round);
        let checkpoint = match next {
            Ok(Some(checkpoint)) => checkpoint,
            Ok(None) => return Ok(None),
            Err(divergence) => return Err((HaltReason::HarnessError, divergence)),
        };
        let restored = async {
            self.restore(&checkpoint.commit).await?;
            self.state
                .reload()
                .map_err(|e| format!("cannot read .mission/ of run {}: {e}", checkpoint.run))
        }
        .await;
        if let Err(e) = restored {
            self.cursor().fail(e.clone());
            return Err((HaltReason::HarnessError, e));
        }
        self.meter.restore(
            checkpoint.tokens,
            checkpoint.cost_usd,
            std::time::Duration::from_secs_f64(checkpoint.elapsed_ms.max(0.0) / 1000.0),
        );
        self.next_run.store(checkpoint.next_run, Ordering::SeqCst);
        let result = AgentResult {
            outcome: checkpoint.outcome,
            turns: 0,
            error: None,
            last_text: String::new(),
        };
        Ok(Some((checkpoint.run, result, checkpoint.outputs)))
    }

    pub fn workspace_tools(&self) -> WorkspaceTools {
        WorkspaceTools {
            workspace: self.workspace.clone(),
            command_env: self.command_env.clone(),
        }
    }

    /// A git command on the workspace's repository that reads nothing the agents can write:
    /// no configuration but the harness's, no attributes (an empty tree is their source), no
    /// excludes file, and every name that Linux takes.
    fn git_command(&self) -> std::process::Command {
        let mut command = std::process::Command::new("git");
        command
            .arg(format!("--attr-source={}", record::EMPTY_TREE))
            .args([
                "-c",
                "user.name=missions-bench",
                "-c",
                "user.email=missions-bench@localhost",
                "-c",
                "core.hooksPath=/dev/null",
                "-c",
                "core.attributesFile=/dev/null",
                "-c",
                "core.excludesFile=/dev/null",
                "-c",
                "core.protectNTFS=false",
                "-c",
                "core.protectHFS=false",
            ])
            .current_dir(self.workspace.root())
            .env_clear()
            .envs(self.git_vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null());
        command
    }

    async fn git(&self, args: &[&str]) -> Result<String, String> {
        let mut command = tokio::process::Command::from(self.git_command());
        let output = command
            .args(args)
            .output()
            .await
            .map_err(|e| format!("cannot run git: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Commits a snapshot of the workspace by the harness's rules ([`record::write_snapshot`]);
    /// returns the new head. What the snapshot could not take is kept for the final record.
    async fn commit(&self, message: &str) -> Result<String, String> {
        let branch = self
            .git(&["symbolic-ref", "HEAD"])
            .await?
            .trim()
            .to_string();
        let parent = self
            .git(&["rev-parse", "-q", "--verify", "HEAD"])
            .await
            .ok()
            .map(|head| head.trim().to_string());
        let mut command = self.git_command();
        command
            .args(["fast-import", "--quiet", "--done"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let workspace = self.workspace.root().to_path_buf();
        let rules = self.mission.record.clone();
        let message = message.to_string();
        let snapshot = tokio::task::spawn_blocking(move || {
            let mut child = command
                .spawn()
                .map_err(|e| format!("cannot run git fast-import: {e}"))?;
            let written = match child.stdin.take() {
                Some(stdin) => {
                    let mut stdin = std::io::BufWriter::new(stdin);
                    record::write_snapshot(
                        &workspace,
                        &rules,
                        &branch,
                        parent.as_deref(),
                        &message,
                        &mut stdin,
                    )
                    .and_then(|skipped| std::io::Write::flush(&mut stdin).map(|()| skipped))
                }
                None => Err(std::io::Error::other("no input to git fast-import")),
            };
            let output = child
                .wait_with_output()
                .map_err(|e| format!("cannot run git fast-import: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "git fast-import failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            written.map_err(|e| format!("cannot snapshot the workspace: {e}"))
        })
        .await
        .map_err(|e| format!("the workspace snapshot stopped: {e}"))??;
        *self
            .record_skipped
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = snapshot;
        // The index follows the head, so that an agent's own `git status` starts from it.
        self.git(&["read-tree", "HEAD"]).await?;
        Ok(self.git(&["rev-parse", "HEAD"]).await?.trim().to_string())
    }

    /// Puts the workspace back as it was at `commit`: everything but the harness's `.git` goes,
    /// and the snapshot's files and links are written back under their own names
    /// ([`record::write_back`]: any depth, any name); the index follows.
    async fn restore(&self, commit: &str) -> Result<(), String> {
        let root = self.workspace.root().to_path_buf();
        let entries =
            std::fs::read_dir(&root).map_err(|e| format!("cannot list the workspace: {e}"))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list the workspace: {e}"))?;
            if entry.file_name() == ".git" {
                continue;
            }
            let path = entry.path();
            let removed = match entry.file_type() {
                Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
            removed.map_err(|e| format!("cannot clear `{}`: {e}", path.display()))?;
        }
        let mut listing = self.git_command();
        listing.args(["ls-tree", "-r", "-z", "--full-tree", commit]);
        let mut cat_file = self.git_command();
        cat_file.args(["cat-file", "--batch"]);
        tokio::task::spawn_blocking(move || {
            let output = listing
                .output()
                .map_err(|e| format!("cannot run git ls-tree: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "git ls-tree failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            let entries = record::parse_listing(&output.stdout).map_err(|e| e.to_string())?;
            record::write_back(&root, &entries, cat_file).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("the workspace restore stopped: {e}"))??;
        self.git(&["read-tree", commit]).await?;
        Ok(())
    }

    /// The change between two snapshots as text, whatever the workspace's attributes say.
    async fn diff(&self, from: &str, to: &str) -> String {
        self.git(&[
            "diff",
            "--text",
            "--no-textconv",
            "--no-ext-diff",
            from,
            to,
            "--",
            ".",
            ":(exclude).mission",
        ])
        .await
        .unwrap_or_else(|e| format!("(no diff: {e})"))
    }

    async fn save_final_diff(&self, path: &Path) {
        let Ok(first) = self.git(&["rev-list", "--max-parents=0", "HEAD"]).await else {
            return;
        };
        if self.commit("final workspace").await.is_err() {
            return;
        }
        let diff = self.diff(first.trim(), "HEAD").await;
        let skipped = std::mem::take(
            &mut *self
                .record_skipped
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        emit_skipped(&self.emitter, "record", skipped);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(path, diff);
    }

    /// Runs one agent for `role` and returns what it produced.
    async fn run_role(&self, request: RoleRun) -> Result<(u32, AgentResult, Outputs), Halt> {
        let RoleRun {
            role,
            task,
            kind,
            parent,
            milestone,
            feature,
            round,
            prompt,
            user_prompt,
        } = request;
        if parent.is_none() {
            if let Some(replayed) = self
                .replay_run(role, milestone.as_ref(), feature.as_ref(), round)
                .await?
            {
                return Ok(replayed);
            }
        }
        let model_name = self.pairing.model(role).to_string();
        let Some(model) = self.registry.get(&model_name) else {
            return Err((
                HaltReason::HarnessError,
                format!("model `{model_name}` for role `{role}` is not loaded"),
            ));
        };
        let run = self.next_run.fetch_add(1, Ordering::SeqCst);
        let task_kind = task.kind();
        let seed = agent_seed(
            self.run_seed,
            &self.key.pairing,
            self.key.mission.as_str(),
            self.key.repeat,
            run,
        );
        let mut session = model.backend.start_session(SessionContext {
            role,
            task,
            mission: self.mission.clone(),
            seed,
        });
        let mut toolbox = RoleToolbox::new(self, run, kind);
        let spec = AgentRunSpec {
            run,
            parent,
            role,
            model: model_name,
            provider: model.backend.info().provider.to_string(),
            task: task_kind,
            milestone,
            feature,
            round,
            system_prompt: self.prompts.get(prompt).to_string(),
            user_prompt,
            limits: AgentLimits::with_max_turns(self.mission.budget.max_turns),
            seed: Some(seed),
            temperature: model.config.sampling_temperature(),
        };
        let mission = self.mission.clone();
        let classify = move |path: &str| {
            let path = Path::new(path);
            if mission.is_test_path(path) {
                FileClass::Test
            } else if mission.is_source_path(path) {
                FileClass::Source
            } else {
                FileClass::Other
            }
        };
        let transcript_path = self.transcript_dir.join(format!("{run:03}-{role}.jsonl"));
        let context = AgentContext {
            stop: Some(&self.stop),
            emitter: &self.emitter,
            transcript_path: &transcript_path,
            classify_path: &classify,
            meter: &self.meter,
            price: model.config.price_per_mtok,
            redactor: &self.redactor,
        };
        let (result, finished) =
            run_agent_deferred(&spec, session.as_mut(), &mut toolbox, &context).await;
        let outputs = std::mem::take(&mut toolbox.outputs);
        // A top-level run that finished is saved before the journal says so; the end of any
        // other run is recorded at once.
        let checkpointed = parent.is_none()
            && !matches!(
                result.outcome,
                AgentOutcome::Interrupted | AgentOutcome::BackendError
            );
        if checkpointed {
            self.checkpoint(run, result.outcome, &outputs, finished)
                .await?;
        } else {
            self.emitter.emit(finished);
        }
        if result.outcome == AgentOutcome::Interrupted {
            return Err((
                HaltReason::Interrupted,
                format!("the run was interrupted during {role} run {run}"),
            ));
        }
        if result.outcome == AgentOutcome::BackendError {
            let message = result
                .error
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            return Err((
                HaltReason::BackendUnavailable,
                format!("{role} run {run}: {message}"),
            ));
        }
        Ok((run, result, outputs))
    }

    /// A subagent's report for the orchestrator (or why there is none).
    pub async fn run_subagent(&self, parent: u32, question: &str) -> Result<String, String> {
        let result = self
            .run_role(RoleRun {
                role: Role::Subagent,
                task: AgentTask::Investigate {
                    question: question.to_string(),
                },
                kind: ToolboxKind::Subagent,
                parent: Some(parent),
                milestone: None,
                feature: None,
                round: None,
                prompt: "subagent",
                user_prompt: render::investigate(question),
            })
            .await;
        match result {
            Ok((_, _, outputs)) if outputs.summary.is_some() => {
                Ok(outputs.summary.unwrap_or_default())
            }
            Ok((_, result, _)) => Err(format!(
                "the subagent ended without a report ({})",
                result.outcome.as_str()
            )),
            Err((_, detail)) => Err(format!("the subagent failed: {detail}")),
        }
    }

    /// Records a finding (its `id` is assigned here) as open.
    fn raise(&self, run: Option<u32>, mut finding: Finding) {
        let number = self.next_finding.fetch_add(1, Ordering::SeqCst);
        finding.id = format!("F{number}-{}-r{}", finding.milestone, finding.round);
        // A resumed mission takes the findings it raised before from its journal (a check's
        // output is not reproduced).
        // A divergence is recorded by the cursor and ends the mission at its next step.
        let recorded = self.cursor().finding(&finding.id, &finding);
        if let Ok(Some(recorded)) = recorded {
            finding = recorded;
        }
        let _ = self.state.write_finding(&finding);
        self.emitter.emit(Event::FindingRaised {
            run,
            finding: finding.clone(),
        });
        let new_id = finding.id.clone();
        let mut findings = self.findings.lock().unwrap_or_else(|p| p.into_inner());
        findings.push(TrackedFinding {
            finding: finding.clone(),
            open: true,
        });
        // A worker that did not finish a feature again replaces the earlier such finding, so a
        // feature never finished is one open finding (and one fix), not one per round.
        let raised: Vec<Finding> = findings.iter().map(|t| t.finding.clone()).collect();
        let open: Vec<Finding> = findings
            .iter()
            .filter(|t| t.open)
            .map(|t| t.finding.clone())
            .collect();
        let replaced: Vec<String> = superseded(&finding, &open, &self.state.features(), &raised)
            .into_iter()
            .map(|f| f.id.clone())
            .collect();
        for tracked in findings.iter_mut() {
            if replaced.contains(&tracked.finding.id) {
                tracked.open = false;
            }
        }
        drop(findings);
        if !replaced.is_empty() {
            self.emitter.emit(Event::FindingsClosed {
                ids: replaced,
                superseded_by: Some(new_id),
            });
        }
    }

    /// Every finding raised so far, open or closed, in order.
    fn raised_findings(&self) -> Vec<Finding> {
        self.findings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|t| t.finding.clone())
            .collect()
    }

    /// Closes the open findings of `milestone` that `close` selects.
    fn close_findings(&self, milestone: &MilestoneId, close: impl Fn(&Finding) -> bool) {
        let mut closed = Vec::new();
        for tracked in self
            .findings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
        {
            if tracked.open && &tracked.finding.milestone == milestone && close(&tracked.finding) {
                tracked.open = false;
                closed.push(tracked.finding.id.clone());
            }
        }
        if !closed.is_empty() {
            self.emitter.emit(Event::FindingsClosed {
                ids: closed,
                superseded_by: None,
            });
        }
    }

    fn open_blocking(&self, milestone: &MilestoneId) -> Vec<Finding> {
        self.findings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|t| {
                t.open
                    && &t.finding.milestone == milestone
                    && t.finding.severity == Severity::Blocking
            })
            .map(|t| t.finding.clone())
            .collect()
    }

    fn check_budget(&self) -> Result<(), Halt> {
        if let Some(divergence) = self.cursor().diverged() {
            return Err((HaltReason::HarnessError, divergence.to_string()));
        }
        if self.stop.is_stopped() {
            return Err((
                HaltReason::Interrupted,
                "the run was interrupted; no further agent run was started".to_string(),
            ));
        }
        match self.meter.halt_reason() {
            Some(halt) => Err(halt),
            None => Ok(()),
        }
    }

    /// Plan, then every milestone in order; `Some` when the mission stopped early.
    async fn run_lifecycle(&self) -> Option<Halt> {
        self.lifecycle().await.err()
    }

    async fn lifecycle(&self) -> Result<(), Halt> {
        let listing = match self
            .workspace_tools()
            .call("list_files", serde_json::json!({}))
            .await
        {
            Some(reply) => reply.content,
            None => String::new(),
        };
        let (_, result, outputs) = self
            .run_role(RoleRun {
                role: Role::Orchestrator,
                task: AgentTask::Plan,
                kind: ToolboxKind::Plan,
                parent: None,
                milestone: None,
                feature: None,
                round: None,
                prompt: "orchestrator",
                user_prompt: render::plan(&self.mission.goal, &listing),
            })
            .await?;
        self.check_budget()?;
        if let Some(reason) = outputs.halt {
            return Err((HaltReason::OrchestratorHalt, reason));
        }
        let (Some(contract), Some(_)) = (outputs.contract, outputs.features) else {
            return Err((
                HaltReason::NoPlan,
                format!(
                    "the orchestrator ended ({}) without a contract and features",
                    result.outcome.as_str()
                ),
            ));
        };
        for milestone in &contract.milestones {
            self.run_milestone(milestone).await?;
        }
        Ok(())
    }

    async fn run_milestone(&self, milestone: &Milestone) -> Result<(), Halt> {
        let max_rounds = self.mission.budget.max_rounds;
        let mut pending: Vec<Feature> = self
            .state
            .features()
            .into_iter()
            .filter(|f| f.milestone == milestone.id)
            .collect();
        for round in 1..=max_rounds {
            // The black-box and mechanical checks of the last round are redone in this one.
            self.close_findings(&milestone.id, |f| {
                matches!(
                    f.source,
                    FindingSource::UserTesting | FindingSource::Mechanical
                )
            });
            let mut implemented = Vec::new();
            for feature in &pending {
                self.check_budget()?;
                implemented.push(self.implement(feature, round).await?);
            }
            for done in &implemented {
                self.check_budget()?;
                self.review(done, round).await?;
            }
            self.check_budget()?;
            self.user_test(milestone, round).await?;
            self.mechanical_checks(milestone, round).await;
            let open = self.open_blocking(&milestone.id);
            let passed = open.is_empty();
            self.emitter.emit(Event::MilestoneRound {
                milestone: milestone.id.clone(),
                round,
                passed,
                open_blocking: open.len() as u32,
            });
            if passed {
                return Ok(());
            }
            if round == max_rounds {
                return Err((
                    HaltReason::MaxRounds,
                    format!("milestone `{}` failed validation in round {round} of {max_rounds} ({} blocking findings open)", milestone.id, open.len()),
                ));
            }
            self.check_budget()?;
            pending = self.plan_fixes(milestone, round, &open).await?;
        }
        Ok(())
    }

    /// Runs a worker on `feature`; returns what the reviewer needs.
    async fn implement(&self, feature: &Feature, round: u32) -> Result<Implemented, Halt> {
        let harness_error = |e: String| (HaltReason::HarnessError, e);
        let before = self
            .git(&["rev-parse", "HEAD"])
            .await
            .map_err(harness_error)?
            .trim()
            .to_string();
        let contract = self.state.contract();
        let (_, result, outputs) = self
            .run_role(RoleRun {
                role: Role::Worker,
                task: AgentTask::Implement {
                    feature: feature.clone(),
                },
                kind: ToolboxKind::Worker,
                parent: None,
                milestone: Some(feature.milestone.clone()),
                feature: Some(feature.id.clone()),
                round: Some(round),
                prompt: "worker",
                user_prompt: render::implement(feature, &contract, &self.state.library()),
            })
            .await?;
        let _ = self.state.write_handoff(
            feature,
            result.outcome.as_str(),
            outputs.handoff.as_ref(),
            outputs.blocked.as_deref(),
        );
        let after = self
            .commit(&format!("{}: {}", feature.id, feature.title))
            .await
            .map_err(harness_error)?;
        if result.outcome == AgentOutcome::Finished {
            // A finished fix resolves what it addresses, unless its review finds otherwise.
            self.close_findings(&feature.milestone, |f| {
                feature.addresses.contains(&f.id) && f.source != FindingSource::UserTesting
            });
        } else {
            let reason = outputs
                .blocked
                .clone()
                .unwrap_or_else(|| format!("the run ended with `{}`", result.outcome.as_str()));
            self.raise(
                None,
                Finding {
                    id: String::new(),
                    milestone: feature.milestone.clone(),
                    round,
                    feature: Some(feature.id.clone()),
                    assertion: None,
                    source: FindingSource::Blocked,
                    severity: Severity::Blocking,
                    title: format!("the worker did not finish feature `{}`", feature.id),
                    detail: reason,
                },
            );
        }
        Ok(Implemented {
            feature: feature.clone(),
            before,
            after,
            outcome: result.outcome,
            handoff: outputs.handoff,
        })
    }

    async fn review(&self, implemented: &Implemented, round: u32) -> Result<(), Halt> {
        let feature = &implemented.feature;
        let diff = self.diff(&implemented.before, &implemented.after).await;
        let contract = self.state.contract();
        let (_, result, outputs) = self
            .run_role(RoleRun {
                role: Role::Scrutiny,
                task: AgentTask::Review {
                    feature: feature.clone(),
                },
                kind: ToolboxKind::Scrutiny,
                parent: None,
                milestone: Some(feature.milestone.clone()),
                feature: Some(feature.id.clone()),
                round: Some(round),
                prompt: "scrutiny",
                user_prompt: render::review(
                    feature,
                    &contract,
                    implemented.outcome.as_str(),
                    implemented.handoff.as_ref(),
                    &diff,
                ),
            })
            .await?;
        if result.outcome != AgentOutcome::Finished {
            let reason = outputs
                .blocked
                .unwrap_or_else(|| format!("the run ended with `{}`", result.outcome.as_str()));
            self.raise(
                None,
                Finding {
                    id: String::new(),
                    milestone: feature.milestone.clone(),
                    round,
                    feature: Some(feature.id.clone()),
                    assertion: None,
                    source: FindingSource::Scrutiny,
                    severity: Severity::Blocking,
                    title: format!("the review of feature `{}` did not complete", feature.id),
                    detail: reason,
                },
            );
            return Ok(());
        }
        for finding in outputs.findings {
            let detail = match &finding.file {
                Some(file) => format!("{} (file: {file})", finding.detail),
                None => finding.detail,
            };
            self.raise(
                None,
                Finding {
                    id: String::new(),
                    milestone: feature.milestone.clone(),
                    round,
                    feature: Some(feature.id.clone()),
                    assertion: None,
                    source: FindingSource::Scrutiny,
                    severity: finding.severity,
                    title: finding.title,
                    detail,
                },
            );
        }
        let _ = self.state.append_library_notes(&outputs.library_notes);
        Ok(())
    }

    async fn user_test(&self, milestone: &Milestone, round: u32) -> Result<(), Halt> {
        let contract = self.state.contract();
        let assertions: Vec<_> = contract.assertions_through(&milestone.id);
        let (run, result, outputs) = self
            .run_role(RoleRun {
                role: Role::UserTesting,
                task: AgentTask::UserTest {
                    milestone: milestone.id.clone(),
                    assertions: assertions.iter().map(|a| (*a).clone()).collect(),
                },
                kind: ToolboxKind::UserTesting {
                    assertions: assertions.iter().map(|a| a.id.clone()).collect(),
                },
                parent: None,
                milestone: Some(milestone.id.clone()),
                feature: None,
                round: Some(round),
                prompt: "user_testing",
                user_prompt: render::user_test(milestone, &assertions),
            })
            .await?;
        for assertion in &assertions {
            let verdict = outputs
                .verdicts
                .iter()
                .find(|v| v.assertion == assertion.id.as_str());
            let (status, evidence) = match verdict {
                Some(v) => (v.status, v.evidence.clone()),
                None => (
                    VerdictStatus::Fail,
                    format!(
                        "no verdict (the user-testing run ended with `{}`)",
                        result.outcome.as_str()
                    ),
                ),
            };
            self.emitter.emit(Event::VerdictReported {
                run,
                milestone: milestone.id.clone(),
                round,
                assertion: assertion.id.to_string(),
                status,
                evidence: evidence.clone(),
            });
            if status == VerdictStatus::Fail {
                self.raise(
                    Some(run),
                    Finding {
                        id: String::new(),
                        milestone: milestone.id.clone(),
                        round,
                        feature: None,
                        assertion: Some(assertion.id.clone()),
                        source: FindingSource::UserTesting,
                        severity: Severity::Blocking,
                        title: format!(
                            "assertion `{}` fails: {}",
                            assertion.id, assertion.description
                        ),
                        detail: evidence,
                    },
                );
            }
        }
        Ok(())
    }

    /// Runs the milestone's `command` assertions itself.
    async fn mechanical_checks(&self, milestone: &Milestone, round: u32) {
        let contract = self.state.contract();
        for assertion in contract
            .assertions_of(&milestone.id)
            .filter(|a| a.verify == Verify::Command)
        {
            let Some(command) = &assertion.command else {
                continue;
            };
            let failed = |detail: String| Finding {
                id: String::new(),
                milestone: milestone.id.clone(),
                round,
                feature: None,
                assertion: Some(assertion.id.clone()),
                source: FindingSource::Mechanical,
                severity: Severity::Blocking,
                title: format!("assertion `{}` fails its command check", assertion.id),
                detail,
            };
            // A resumed mission takes the checks it made before from its journal (a divergence
            // is recorded by the cursor and ends the mission at its next step).
            let recorded = self
                .cursor()
                .check(&milestone.id, round, assertion.id.as_str())
                .unwrap_or(Some(true));
            if let Some(passed) = recorded {
                if !passed {
                    self.raise(None, failed(String::new()));
                }
                continue;
            }
            let (passed, exit_code, timed_out, duration_ms, observation) =
                match run_shell(command, self.workspace.root(), &self.command_env).await {
                    Ok(output) => {
                        let passed = !output.timed_out
                            && output.exit_code == Some(assertion.expect_exit)
                            && assertion
                                .expect_stdout
                                .as_deref()
                                .is_none_or(|s| output.stdout.contains(s));
                        self.emitter.emit_notices(
                            None,
                            None,
                            "mechanical_check",
                            output.notices.iter().cloned(),
                        );
                        (
                            passed,
                            output.exit_code,
                            output.timed_out,
                            millis(output.duration),
                            output.observation(),
                        )
                    }
                    Err(e) => (
                        false,
                        None,
                        false,
                        0.0,
                        format!("cannot start the command: {e}"),
                    ),
                };
            self.emitter.emit(Event::MechanicalCheck {
                milestone: milestone.id.clone(),
                round,
                assertion: assertion.id.to_string(),
                passed,
                exit_code,
                timed_out,
                duration_ms,
            });
            if !passed {
                let mut expected = format!("expected exit {}", assertion.expect_exit);
                if let Some(stdout) = &assertion.expect_stdout {
                    expected.push_str(&format!(" and stdout containing `{stdout}`"));
                }
                self.raise(
                    None,
                    failed(format!(
                        "`{command}`: {expected}; got:\n{}",
                        render::cut(&observation, 4000)
                    )),
                );
            }
        }
    }

    async fn plan_fixes(
        &self,
        milestone: &Milestone,
        round: u32,
        open: &[Finding],
    ) -> Result<Vec<Feature>, Halt> {
        let contract = self.state.contract();
        let features = self.state.features();
        let groups = group_findings(open, &features, &self.raised_findings());
        let planned_before = features
            .iter()
            .filter(|f| f.is_fix() && f.milestone == milestone.id)
            .count() as u32;
        if let Some(halt) = fix_budget_exceeded(
            &milestone.id,
            round,
            planned_before,
            groups.len() as u32,
            self.mission.budget.max_fix_features,
        ) {
            return Err(halt);
        }
        let (run, _, outputs) = self
            .run_role(RoleRun {
                role: Role::Orchestrator,
                task: AgentTask::Fix {
                    milestone: milestone.id.clone(),
                    round,
                    groups: groups.clone(),
                },
                kind: ToolboxKind::Fix {
                    milestone: milestone.id.clone(),
                    groups: groups.clone(),
                },
                parent: None,
                milestone: Some(milestone.id.clone()),
                feature: None,
                round: Some(round),
                prompt: "orchestrator_fix",
                user_prompt: render::fix(
                    milestone,
                    round,
                    &groups,
                    &contract,
                    &features,
                    &self.state.library(),
                ),
            })
            .await?;
        if let Some(reason) = outputs.halt {
            return Err((HaltReason::OrchestratorHalt, reason));
        }
        if outputs.fixes.is_empty() {
            let blocked = open.iter().any(|f| f.source == FindingSource::Blocked);
            let reason = if blocked {
                HaltReason::Blocked
            } else {
                HaltReason::NoFixes
            };
            return Err((
                reason,
                format!(
                    "no fix features were planned for milestone `{}` after round {round}",
                    milestone.id
                ),
            ));
        }
        // The toolbox accepts at most one fix per group, so the check before the run holds; it
        // is made again on what was planned in case that ever changes.
        if let Some(halt) = fix_budget_exceeded(
            &milestone.id,
            round,
            planned_before,
            outputs.fixes.len() as u32,
            self.mission.budget.max_fix_features,
        ) {
            return Err(halt);
        }
        self.state.add_features(&outputs.fixes).map_err(|e| {
            (
                HaltReason::HarnessError,
                format!("cannot save fix features: {e}"),
            )
        })?;
        self.emitter.emit(Event::FeaturesPlanned {
            run,
            after_round: Some(round),
            features: outputs.fixes.clone(),
        });
        Ok(outputs.fixes)
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
        let (reason, detail) = fix_budget_exceeded(&m1, 3, 5, 2, 6).unwrap();
        assert_eq!(reason, HaltReason::MaxFixFeatures);
        assert_eq!(
            detail,
            "milestone `m1` would need 7 fix features after round 3 (5 planned before, 2 more \
             for its open findings); the budget is 6 per milestone"
        );
    }
}
