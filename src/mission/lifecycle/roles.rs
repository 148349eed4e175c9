//! Starting an agent run for a role: its model session, tools, prompts and transcript, and what it handed back; subagents.

use super::*;

/// One agent run to start: who, for what, with which tools and prompts.
pub(super) struct RoleRun {
    pub(super) role: Role,
    pub(super) task: AgentTask,
    pub(super) kind: ToolboxKind,
    pub(super) parent: Option<u32>,
    pub(super) milestone: Option<MilestoneId>,
    pub(super) feature: Option<crate::spec::FeatureId>,
    pub(super) round: Option<u32>,
    /// Name of the system prompt.
    pub(super) prompt: &'static str,
    pub(super) user_prompt: String,
}

#[async_trait::async_trait]
impl SubagentSpawner for MissionRuntime {
    async fn spawn_subagent(&self, parent: u32, task: &str) -> Result<String, String> {
        self.run_subagent(parent, task).await
    }
}

/// Sorts the paths an agent writes into tests, sources and other files, by the mission's rules.
fn file_classes(mission: Arc<MissionSpec>) -> impl Fn(&str) -> FileClass + Sync {
    move |path: &str| {
        let path = Path::new(path);
        if mission.is_test_path(path) {
            FileClass::Test
        } else if mission.is_source_path(path) {
            FileClass::Source
        } else {
            FileClass::Other
        }
    }
}

impl MissionRuntime {
    /// Runs one agent for `role` and returns what it produced.
    pub(super) async fn run_role(
        &self,
        request: RoleRun,
    ) -> Result<(u32, AgentResult, Outputs), Halt> {
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
            let place = crate::mission::counterfactual::Place {
                role,
                milestone: milestone.clone(),
                feature: feature.clone(),
                round,
            };
            if let Some(replayed) = self
                .replay_run(role, milestone.as_ref(), feature.as_ref(), round)
                .await?
            {
                return Ok(replayed);
            }
            if let Some(served) = self
                .serve_from_record(place, self.prompts.get(prompt), &user_prompt)
                .await?
            {
                return Ok(served);
            }
        }
        let model_name = self.live_model(role);
        let Some(model) = self.registry.get(&model_name) else {
            return Err(Halt::new(
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
        let mut toolbox = RoleToolbox::new(RoleContext {
            run,
            kind,
            state: &self.state,
            emitter: &self.emitter,
            answers: &self.mission.answers,
            subagents: self,
            workspace: self.workspace_tools(),
            browser: self.browser_tools(role, run),
            mission_browser: self.mission.file.browser.is_some(),
            outputs: Outputs::default(),
        });
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
        let classify = file_classes(self.mission.clone());
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
        let outputs = std::mem::take(&mut toolbox.context.outputs);
        // The browser and the servers the run started end with it.
        if let Some(mut browser) = toolbox.context.browser.take() {
            let notices = browser.shut_down().await;
            self.emitter
                .emit_notices(Some(run), None, "browser", notices);
        }
        self.settle(role, run, parent, &result, &outputs, finished)
            .await?;
        if parent.is_none() {
            self.compare_with_record().await;
        }
        Ok((run, result, outputs))
    }

    /// Records the end of an agent run (after its checkpoint, for a top-level run that
    /// finished), and turns an end that stops the mission into its halt.
    async fn settle(
        &self,
        role: Role,
        run: u32,
        parent: Option<u32>,
        result: &AgentResult,
        outputs: &Outputs,
        finished: Event,
    ) -> Result<(), Halt> {
        // A top-level run that finished is saved before the journal says so; the end of any
        // other run is recorded at once.
        let checkpointed = parent.is_none()
            && !matches!(
                result.outcome,
                AgentOutcome::Interrupted | AgentOutcome::BackendError | AgentOutcome::HarnessError
            );
        if checkpointed {
            self.checkpoint(run, result.outcome, outputs, finished)
                .await?;
        } else {
            self.emitter.emit(finished);
        }
        if result.outcome == AgentOutcome::Interrupted {
            return Err(Halt::new(
                HaltReason::Interrupted,
                format!("the run was interrupted during {role} run {run}"),
            ));
        }
        if let Some(fatal) = &result.harness_error {
            return Err(Halt::new(
                HaltReason::HarnessError,
                format!("{role} run {run}: {fatal}"),
            ));
        }
        if result.outcome == AgentOutcome::BackendError {
            let message = result
                .error
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            return Err(Halt::new(
                HaltReason::BackendUnavailable,
                format!("{role} run {run}: {message}"),
            ));
        }
        Ok(())
    }

    /// A subagent's report for the orchestrator (or why there is none).
    pub(super) async fn run_subagent(&self, parent: u32, question: &str) -> Result<String, String> {
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
            Err(halt) => Err(format!("the subagent failed: {}", halt.detail)),
        }
    }
}
