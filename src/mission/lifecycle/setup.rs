//! Setting up a mission run: the workspace, its repository, the sandbox and the runtime that holds them.

use super::*;

impl MissionRuntime {
    pub(super) async fn set_up(
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

    pub fn workspace_tools(&self) -> WorkspaceTools {
        WorkspaceTools {
            workspace: self.workspace.clone(),
            command_env: self.command_env.clone(),
        }
    }
}
