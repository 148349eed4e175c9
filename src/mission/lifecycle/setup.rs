//! Setting up a mission run: the workspace, its repository, the sandbox and the runtime that
//! holds them.

use super::*;
use crate::mission::env::PreparedEnvironment;

/// The `PATH` of a command environment's variables.
pub(super) fn path_of(vars: &[(String, String)]) -> &str {
    vars.iter()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value.as_str())
        .unwrap_or_default()
}

impl MissionRuntime {
    pub(super) async fn set_up(
        run: &MissionRun,
        context: &RunContext,
        environment: &PreparedEnvironment,
        mission_dir: &Path,
        emitter: Emitter,
        (counterfactual, replayed_roles): serve::Replayed,
    ) -> Result<MissionRuntime, HarnessError> {
        if mission_dir.exists() {
            std::fs::remove_dir_all(mission_dir)
                .map_err(|source| HarnessError::io("clear", mission_dir, source))?;
        }
        let workspace_dir = mission_dir.join("workspace");
        let home = mission_dir.join("home");
        let tmp = mission_dir.join("tmp");
        for dir in [&workspace_dir, &home, &tmp] {
            std::fs::create_dir_all(dir)
                .map_err(|source| HarnessError::io("create", dir, source))?;
        }
        // The suite's own files: one the copy cannot take is a defect of the suite, not a notice.
        let skipped =
            crate::fsutil::copy_tree(&run.mission.workspace_dir(), &workspace_dir, &[])
                .map_err(|source| HarnessError::step("copy the mission's workspace", source))?;
        if let Some(first) = skipped.into_iter().next() {
            return Err(HarnessError::SuiteWorkspace {
                path: first.path,
                reason: first.reason,
            });
        }
        let state = MissionState::new(&workspace_dir)
            .map_err(|source| HarnessError::step("create .mission/", source))?;
        let workspace = Workspace::new(&workspace_dir)
            .map_err(|source| HarnessError::step("open the workspace", source))?;
        let vars = environment.command_vars(&context.base_path, &home, &tmp);
        // `start` has checked that a mission with `[browser]` has one.
        let browser_program = run
            .mission
            .file
            .browser
            .as_ref()
            .and_then(|_| crate::tools::browser::find_program(path_of(&vars)));
        let sandbox = sandbox_for(run, context, environment, mission_dir, &vars)?;
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
        let checkpoints =
            crate::mission::resume::checkpoint_repository(&context.report_dir, &run.key);
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
            browser_program,
            report_dir: context.report_dir.clone(),
            counterfactual: counterfactual.map(Mutex::new),
            replayed_roles,
        };
        runtime.init_repositories(run).await?;
        Ok(runtime)
    }

    /// The workspace's repository with its first snapshot, and the checkpoint repository: a
    /// fresh one, or a resumed mission's with the workspaces of its finished runs.
    async fn init_repositories(&self, run: &MissionRun) -> Result<(), HarnessError> {
        self.git(&["init", "-q"]).await?;
        // The record follows the harness's rules alone (`record::write_snapshot`); the excludes
        // only make an agent's own `git status` agree with it.
        let excludes: String = run
            .mission
            .record
            .patterns()
            .iter()
            .map(|p| format!("{p}\n"))
            .collect();
        std::fs::write(self.workspace.root().join(".git/info/exclude"), excludes)
            .map_err(|source| HarnessError::step("write git excludes", source))?;
        self.commit("initial workspace").await?;
        let bare = self.checkpoints.display().to_string();
        if run.replay.is_some() {
            // The workspaces after the finished runs, to reset to as each is replayed.
            self.git(&["fetch", "-q", &bare, "+refs/runs/*:refs/runs/*"])
                .await?;
        } else {
            if self.checkpoints.exists() {
                std::fs::remove_dir_all(&self.checkpoints)
                    .map_err(|source| HarnessError::io("clear", &self.checkpoints, source))?;
            }
            std::fs::create_dir_all(&self.checkpoints)
                .map_err(|source| HarnessError::io("create", &self.checkpoints, source))?;
            // No template: a report keeps one repository per mission run, and the sample hooks
            // would be copied into each.
            self.git(&["init", "-q", "--bare", "--template=", &bare])
                .await?;
        }
        let recorded = self.counterfactual.as_ref().map(|c| {
            c.lock()
                .unwrap_or_else(|p| p.into_inner())
                .mission
                .checkpoints
                .clone()
        });
        if let Some(recorded) = recorded {
            // The recorded workspaces, to serve the recorded runs' work from.
            let recorded = recorded.display().to_string();
            self.git(&["fetch", "-q", &recorded, "+refs/runs/*:refs/recorded/*"])
                .await?;
        }
        Ok(())
    }

    /// The browser tools of agent run `run` of `role`, where the mission gives the role a
    /// browser. Its profile lives in the mission's `$HOME`; its evidence under the report's
    /// `evidence/<mission>/`, with ids that start `r<run>-`.
    pub(super) fn browser_tools(&self, role: Role, run: u32) -> Option<BrowserTools> {
        let spec = self.mission.file.browser.as_ref()?;
        if !spec.gives(role) {
            return None;
        }
        self.browser_with(format!("r{run}-"), format!("run-{run}"))
    }

    /// Browser tools whose evidence ids start with `prefix`, with a profile of their own.
    pub(super) fn browser_with(&self, prefix: String, profile: String) -> Option<BrowserTools> {
        let program = self.browser_program.clone()?;
        let home = self
            .command_env
            .vars
            .iter()
            .find(|(name, _)| name == "HOME")
            .map(|(_, value)| PathBuf::from(value))?;
        let launch = BrowserLaunch {
            program,
            profile: home.join(".browser").join(profile),
            workspace: self.workspace.root().to_path_buf(),
            env: self.command_env.clone(),
        };
        let evidence = EvidenceDir {
            report: self.report_dir.clone(),
            folder: format!("evidence/{}", self.key.slug()),
            prefix,
        };
        Some(BrowserTools::new(
            launch,
            evidence,
            self.command_env.max_output_bytes,
        ))
    }

    pub fn workspace_tools(&self) -> WorkspaceTools {
        WorkspaceTools {
            workspace: self.workspace.clone(),
            command_env: self.command_env.clone(),
        }
    }
}

/// The mission's sandbox, when the run confines commands: the mission folder writable, the
/// harness's repository and state read-only, the suite environment readable.
fn sandbox_for(
    run: &MissionRun,
    context: &RunContext,
    environment: &PreparedEnvironment,
    mission_dir: &Path,
    vars: &[(String, String)],
) -> Result<Option<Arc<Sandbox>>, HarnessError> {
    let workspace_dir = mission_dir.join("workspace");
    let home = mission_dir.join("home");
    let tmp = mission_dir.join("tmp");
    let sandbox = match &context.sandbox {
        Some(policy) => {
            let policy = SandboxPolicy {
                network: network_of(run.mission.file.sandbox.network),
                ..policy.clone()
            };
            // The harness's repository and state: commands may read them, never change them.
            let git_dir = workspace_dir.join(".git");
            std::fs::create_dir_all(&git_dir)
                .map_err(|source| HarnessError::io("create", &git_dir, source))?;
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
                .map_err(|source| HarnessError::step("set up the sandbox", source))?;
            Some(Arc::new(sandbox))
        }
        None => None,
    };
    Ok(sandbox)
}
