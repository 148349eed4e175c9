//! The lifecycle proper: plan, then each milestone in rounds (implement, review, user test, mechanical checks), and fix planning between rounds.

use super::*;
use crate::spec::Assertion;

/// A `command` assertion's command, run and judged.
struct CheckRun {
    passed: bool,
    exit_code: Option<i32>,
    timed_out: bool,
    duration_ms: f64,
    /// What the command printed, for the finding when it fails.
    observation: String,
}

/// A finding's detail with the evidence it cites.
fn with_evidence(detail: String, ids: &[String]) -> String {
    if ids.is_empty() {
        detail
    } else {
        format!("{detail}\n(evidence: {})", ids.join(", "))
    }
}

/// What a worker run left for its reviewer.
struct Implemented {
    feature: Feature,
    /// Commits before and after the run.
    before: String,
    after: String,
    outcome: AgentOutcome,
    handoff: Option<crate::mission::role_tools::Handoff>,
}

impl MissionRuntime {
    pub(super) fn check_budget(&self) -> Result<(), Halt> {
        if let Some(divergence) = self.cursor().diverged() {
            return Err(Halt::new(HaltReason::HarnessError, divergence.to_string()));
        }
        if self.stop.is_stopped() {
            return Err(Halt::new(
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
    pub(super) async fn run_lifecycle(&self) -> Option<Halt> {
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
            return Err(Halt::new(HaltReason::OrchestratorHalt, reason));
        }
        let (Some(contract), Some(_)) = (outputs.contract, outputs.features) else {
            return Err(Halt::new(
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
            self.mechanical_checks(milestone, round).await?;
            let open = self.open_blocking(&milestone.id);
            let outcome = round_outcome(&milestone.id, round, max_rounds, open.len());
            self.emitter.emit(Event::MilestoneRound {
                milestone: milestone.id.clone(),
                round,
                passed: outcome == RoundOutcome::Passed,
                open_blocking: open.len() as u32,
            });
            match outcome {
                RoundOutcome::Passed => return Ok(()),
                RoundOutcome::OutOfRounds(halt) => return Err(halt),
                RoundOutcome::Fix => {}
            }
            self.check_budget()?;
            pending = self.plan_fixes(milestone, round, &open).await?;
        }
        Ok(())
    }

    /// Runs a worker on `feature`; returns what the reviewer needs.
    async fn implement(&self, feature: &Feature, round: u32) -> Result<Implemented, Halt> {
        let before = self.git(&["rev-parse", "HEAD"]).await?.trim().to_string();
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
        self.state
            .write_handoff(
                feature,
                result.outcome.as_str(),
                outputs.handoff.as_ref(),
                outputs.blocked.as_deref(),
            )
            .map_err(|source| {
                HarnessError::step(format!("save the handoff of {}", feature.id), source)
            })?;
        let after = self
            .commit(&format!("{}: {}", feature.id, feature.title))
            .await?;
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
            )?;
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
            )?;
            return Ok(());
        }
        for finding in outputs.findings {
            let detail = match &finding.file {
                Some(file) => format!("{} (file: {file})", finding.detail),
                None => finding.detail,
            };
            let detail = with_evidence(detail, &finding.evidence_ids);
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
            )?;
        }
        self.state
            .append_library_notes(&outputs.library_notes)
            .map_err(|source| HarnessError::step("save the library notes", source))?;
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
            let (status, evidence, evidence_ids) = match verdict {
                Some(v) => (v.status, v.evidence.clone(), v.evidence_ids.clone()),
                None => (
                    VerdictStatus::Fail,
                    format!(
                        "no verdict (the user-testing run ended with `{}`)",
                        result.outcome.as_str()
                    ),
                    Vec::new(),
                ),
            };
            self.emitter.emit(Event::VerdictReported {
                run,
                milestone: milestone.id.clone(),
                round,
                assertion: assertion.id.to_string(),
                status,
                evidence: evidence.clone(),
                evidence_ids: evidence_ids.clone(),
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
                        detail: with_evidence(evidence, &evidence_ids),
                    },
                )?;
            }
        }
        Ok(())
    }

    /// Runs the milestone's `command` and `browser` assertions itself.
    async fn mechanical_checks(&self, milestone: &Milestone, round: u32) -> Result<(), Halt> {
        let contract = self.state.contract();
        for assertion in contract
            .assertions_of(&milestone.id)
            .filter(|a| matches!(a.verify, Verify::Command | Verify::Browser))
        {
            let failed = |detail: String| Finding {
                id: String::new(),
                milestone: milestone.id.clone(),
                round,
                feature: None,
                assertion: Some(assertion.id.clone()),
                source: FindingSource::Mechanical,
                severity: Severity::Blocking,
                title: format!(
                    "assertion `{}` fails its {} check",
                    assertion.id,
                    assertion.verify.as_str()
                ),
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
                    self.raise(None, failed(String::new()))?;
                }
                continue;
            }
            let (check, evidence_ids) = match assertion.verify {
                Verify::Browser => self.browser_check(milestone, round, assertion).await,
                _ => match &assertion.command {
                    Some(command) => (self.run_check(assertion, command).await, Vec::new()),
                    None => continue,
                },
            };
            self.emitter.emit(Event::MechanicalCheck {
                milestone: milestone.id.clone(),
                round,
                assertion: assertion.id.to_string(),
                passed: check.passed,
                exit_code: check.exit_code,
                timed_out: check.timed_out,
                duration_ms: check.duration_ms,
                evidence_ids,
            });
            if !check.passed {
                let detail = match (assertion.verify, &assertion.command) {
                    (Verify::Command, Some(command)) => {
                        let mut expected = format!("expected exit {}", assertion.expect_exit);
                        if let Some(stdout) = &assertion.expect_stdout {
                            expected.push_str(&format!(" and stdout containing `{stdout}`"));
                        }
                        format!(
                            "`{command}`: {expected}; got:\n{}",
                            render::cut(&check.observation, 4000)
                        )
                    }
                    _ => render::cut(&check.observation, 4000),
                };
                self.raise(None, failed(detail))?;
            }
        }
        Ok(())
    }

    /// Plays a `browser` assertion's steps in a fresh browser; the check and the ids of the
    /// evidence it kept.
    async fn browser_check(
        &self,
        milestone: &Milestone,
        round: u32,
        assertion: &Assertion,
    ) -> (CheckRun, Vec<String>) {
        let name = format!("{}-r{round}-{}-", milestone.id, assertion.id);
        let Some(mut tools) = self.browser_with(name.clone(), format!("check-{name}")) else {
            let why = "the mission has no browser: add a [browser] table to its mission.toml";
            return (
                CheckRun {
                    passed: false,
                    exit_code: None,
                    timed_out: false,
                    duration_ms: 0.0,
                    observation: why.to_string(),
                },
                Vec::new(),
            );
        };
        let result = crate::mission::browser_check::check(assertion, &mut tools).await;
        self.emitter
            .emit_notices(None, None, "browser_check", result.notices);
        let mut ids = Vec::new();
        for evidence in result.evidence {
            ids.push(evidence.id.clone());
            self.emitter.emit(Event::EvidenceSaved {
                run: None,
                milestone: Some(milestone.id.clone()),
                round: Some(round),
                assertion: Some(assertion.id.to_string()),
                id: evidence.id,
                kind: evidence.kind,
                path: evidence.path,
                url: evidence.url,
                bytes: evidence.bytes,
            });
        }
        let check = CheckRun {
            passed: result.passed,
            exit_code: None,
            timed_out: false,
            duration_ms: millis(result.duration),
            observation: result.log,
        };
        (check, ids)
    }

    /// Runs one `command` assertion's command and judges its result.
    async fn run_check(&self, assertion: &Assertion, command: &str) -> CheckRun {
        match run_shell(command, self.workspace.root(), &self.command_env).await {
            Ok(output) => {
                self.emitter.emit_notices(
                    None,
                    None,
                    "mechanical_check",
                    output.notices.iter().cloned(),
                );
                CheckRun {
                    passed: !output.timed_out
                        && output.exit_code == Some(assertion.expect_exit)
                        && assertion
                            .expect_stdout
                            .as_deref()
                            .is_none_or(|s| output.stdout.contains(s)),
                    exit_code: output.exit_code,
                    timed_out: output.timed_out,
                    duration_ms: millis(output.duration),
                    observation: output.observation(),
                }
            }
            Err(e) => CheckRun {
                passed: false,
                exit_code: None,
                timed_out: false,
                duration_ms: 0.0,
                observation: format!("cannot start the command: {e}"),
            },
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
            return Err(Halt::new(HaltReason::OrchestratorHalt, reason));
        }
        if outputs.fixes.is_empty() {
            let blocked = open.iter().any(|f| f.source == FindingSource::Blocked);
            let reason = if blocked {
                HaltReason::Blocked
            } else {
                HaltReason::NoFixes
            };
            return Err(Halt::new(
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
        self.state
            .add_features(&outputs.fixes)
            .map_err(|source| HarnessError::step("save fix features", source))?;
        self.emitter.emit(Event::FeaturesPlanned {
            run,
            after_round: Some(round),
            features: outputs.fixes.clone(),
        });
        Ok(outputs.fixes)
    }
}
