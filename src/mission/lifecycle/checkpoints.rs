//! The workspace's history: git in the workspace, a checkpoint after each finished agent run
//! (saved before the journal says the run finished), replaying a resumed mission's runs from
//! their checkpoints, and the final diff.

use super::*;

impl MissionRuntime {
    pub(super) fn cursor(&self) -> std::sync::MutexGuard<'_, ReplayCursor> {
        self.replay.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends a resumed mission's replay (events flow again); why it cannot be trusted, if so.
    pub(super) fn end_replay(&self, interrupted: bool) -> Option<String> {
        self.cursor().finish(interrupted)
    }

    /// Saves the workspace after a finished top-level agent run, then records its end
    /// (`finished`) and the checkpoint a resumed run continues from, one line right after the
    /// other. The end is recorded even when saving fails.
    pub(super) async fn checkpoint(
        &self,
        run: u32,
        outcome: AgentOutcome,
        outputs: &Outputs,
        finished: Event,
    ) -> Result<(), Halt> {
        let saved = self.save_checkpoint(run, outputs).await;
        self.emitter.emit(finished);
        let (commit, outputs) = saved?;
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
    pub(super) async fn save_checkpoint(
        &self,
        run: u32,
        outputs: &Outputs,
    ) -> Result<(String, serde_json::Value), HarnessError> {
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
            .map_err(|source| HarnessError::Outputs { run, source })?;
        Ok((commit, outputs))
    }

    /// Replays a finished agent run of a resumed mission: the workspace, state and spend as they
    /// were after it. `None` when not replaying.
    pub(super) async fn replay_run(
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
            Err(divergence) => return Err(HarnessError::Replay(divergence).into()),
        };
        let restored = async {
            self.restore(&checkpoint.commit).await?;
            self.state.reload().map_err(|source| {
                HarnessError::step(format!("read .mission/ of run {}", checkpoint.run), source)
            })
        }
        .await;
        if let Err(e) = restored {
            self.cursor().fail(e.to_string());
            return Err(e.into());
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
            harness_error: None,
            last_text: String::new(),
        };
        Ok(Some((checkpoint.run, result, checkpoint.outputs)))
    }

    /// A git command on the workspace's repository that reads nothing the agents can write:
    /// no configuration but the harness's, no attributes (an empty tree is their source), no
    /// excludes file, and every name that Linux takes.
    pub(super) fn git_command(&self) -> std::process::Command {
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

    pub(super) async fn git(&self, args: &[&str]) -> Result<String, HarnessError> {
        let mut command = tokio::process::Command::from(self.git_command());
        let output = command
            .args(args)
            .output()
            .await
            .map_err(|source| HarnessError::Spawn {
                program: "git",
                source,
            })?;
        if !output.status.success() {
            return Err(git_failed(&args.join(" "), &output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Commits a snapshot of the workspace by the harness's rules ([`record::write_snapshot`]);
    /// returns the new head. What the snapshot could not take is kept for the final record.
    pub(super) async fn commit(&self, message: &str) -> Result<String, HarnessError> {
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
            let fast_import = |source| HarnessError::Spawn {
                program: "git fast-import",
                source,
            };
            let mut child = command.spawn().map_err(fast_import)?;
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
            let output = child.wait_with_output().map_err(fast_import)?;
            if !output.status.success() {
                return Err(git_failed("fast-import", &output.stderr));
            }
            written.map_err(|source| HarnessError::step("snapshot the workspace", source))
        })
        .await
        .map_err(|source| HarnessError::Task {
            task: "snapshot",
            source,
        })??;
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
    pub(super) async fn restore(&self, commit: &str) -> Result<(), HarnessError> {
        let root = self.workspace.root().to_path_buf();
        let listing_failed = |source| HarnessError::step("list the workspace", source);
        let entries = std::fs::read_dir(&root).map_err(listing_failed)?;
        for entry in entries {
            let entry = entry.map_err(listing_failed)?;
            if entry.file_name() == ".git" {
                continue;
            }
            let path = entry.path();
            let removed = match entry.file_type() {
                Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
            removed.map_err(|source| HarnessError::io("clear", &path, source))?;
        }
        let mut listing = self.git_command();
        listing.args(["ls-tree", "-r", "-z", "--full-tree", commit]);
        let mut cat_file = self.git_command();
        cat_file.args(["cat-file", "--batch"]);
        tokio::task::spawn_blocking(move || {
            let output = listing.output().map_err(|source| HarnessError::Spawn {
                program: "git ls-tree",
                source,
            })?;
            if !output.status.success() {
                return Err(git_failed("ls-tree", &output.stderr));
            }
            let entries = record::parse_listing(&output.stdout).map_err(HarnessError::Record)?;
            record::write_back(&root, &entries, cat_file).map_err(HarnessError::Record)
        })
        .await
        .map_err(|source| HarnessError::Task {
            task: "restore",
            source,
        })??;
        self.git(&["read-tree", commit]).await?;
        Ok(())
    }

    /// The change between two snapshots as text, whatever the workspace's attributes say.
    pub(super) async fn diff(&self, from: &str, to: &str) -> String {
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

    /// Writes the change from the first snapshot to the final workspace to `path`. Without a
    /// history there is no diff to write (a mission that ended before its first commit).
    pub(super) async fn save_final_diff(&self, path: &Path) -> Result<(), HarnessError> {
        let Ok(first) = self.git(&["rev-list", "--max-parents=0", "HEAD"]).await else {
            return Ok(());
        };
        self.commit("final workspace").await?;
        let diff = self.diff(first.trim(), "HEAD").await;
        let skipped = std::mem::take(
            &mut *self
                .record_skipped
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        emit_skipped(&self.emitter, "record", skipped);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| HarnessError::io("create", parent, source))?;
        }
        std::fs::write(path, diff).map_err(|source| HarnessError::io("write", path, source))
    }
}

/// A git command of the harness's that exited with an error.
fn git_failed(args: &str, stderr: &[u8]) -> HarnessError {
    HarnessError::Git {
        args: args.to_string(),
        stderr: String::from_utf8_lossy(stderr).trim().to_string(),
    }
}
