//! Event journals generated from a seed as the mission lifecycle writes them, for the property
//! test of the tables' invariants (`table_invariants.rs`): one to three mission runs whose
//! events interleave; one to four milestones of one to three assertions; rounds whose user tester
//! judges the milestone's own assertions and every earlier milestone's again, mechanical checks,
//! findings for what fails, fix features, halts when rounds or the budget run out; agent runs
//! with turns of known and unknown usage, tool calls of every status, subagents, retries,
//! sandbox notices, failed model calls; missions killed mid-run; the ground truth.

use std::collections::{BTreeSet, VecDeque};

use missions_bench::events::{
    AgentOutcome, CallStatus, Event, EventRecord, FileClass, HaltReason, LeftOut, MissionKey,
    MissionStatus, ModelRef, OutcomeChange, SkippedPath, TamperEvidence, TestResult, TestStatus,
    VerdictStatus,
};
use missions_bench::model::{CallTiming, ModelStats, StopReason, Usage, UsageSource};
use missions_bench::rng::SplitMix;
use missions_bench::spec::{
    Assertion, AssertionId, Feature, FeatureId, Finding, FindingSource, Milestone, MilestoneId,
    MissionId, Role, Severity, Verify,
};
use missions_bench::tools::notice::NoticeKind;

/// Draws from a seeded generator.
struct Draw(SplitMix);

impl Draw {
    fn chance(&mut self, p: f64) -> bool {
        self.0.unit() < p
    }

    /// Uniform in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.0.below((high - low + 1) as usize) as u64
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.0.below(items.len())]
    }
}

/// Why a generated mission stops early.
enum Stop {
    /// A halt the lifecycle decides (budget, rounds); ground truth follows.
    Halt(HaltReason),
    /// The process was killed: the journal just ends.
    Killed,
}

/// What was seen across the generated journals, to prove the generator varied enough.
#[derive(Default)]
pub struct Seen {
    pub regression_failures: u64,
    pub failed_rounds: u64,
    pub passed_missions: u64,
    pub halted_missions: u64,
    pub killed_missions: u64,
    pub subagents: u64,
    pub unknown_usage: u64,
    pub milestones_beyond_two: u64,
}

/// One mission's events, made in lifecycle order.
struct MissionGen<'a> {
    draw: &'a mut Draw,
    events: Vec<Event>,
    next_run: u32,
    next_finding: u32,
    /// The model every turn reports usage as, per role; some turns report none.
    source: UsageSource,
    priced: bool,
    local_model: Option<String>,
}

impl MissionGen<'_> {
    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }

    /// The budget may run out before any agent run.
    fn check_budget(&mut self) -> Result<(), Stop> {
        if self.draw.chance(0.004) {
            return Err(Stop::Killed);
        }
        if self.draw.chance(0.006) {
            return Err(Stop::Halt(self.draw.pick(&[
                HaltReason::MaxTokens,
                HaltReason::MaxCost,
                HaltReason::MaxWallTime,
                HaltReason::BackendUnavailable,
            ])));
        }
        Ok(())
    }

    fn usage(&mut self) -> (Usage, CallTiming, Option<f64>) {
        let input = self.draw.between(10, 5000);
        let cache_read = if self.draw.chance(0.5) {
            self.draw.between(0, input)
        } else {
            0
        };
        let cache_write = self.draw.between(0, input - cache_read);
        let output = self.draw.between(1, 800);
        // Each number may be unreported, as providers do.
        let known = |draw: &mut Draw, value: u64| (!draw.chance(0.04)).then_some(value);
        let usage = Usage {
            input_tokens: known(self.draw, input),
            cache_read_tokens: known(self.draw, cache_read),
            cache_write_tokens: known(self.draw, cache_write),
            output_tokens: known(self.draw, output),
            reasoning_tokens: if self.draw.chance(0.3) {
                Some(self.draw.between(0, output))
            } else {
                None
            },
            source: if self.draw.chance(0.1) {
                UsageSource::Estimate
            } else {
                self.source
            },
            raw: None,
        };
        let timing = CallTiming {
            latency_ms: self.draw.between(1, 5000) as f64,
            ttft_ms: self.draw.chance(0.7).then_some(12.5),
            prefill_tokens: (usage.source == UsageSource::Engine).then_some(input - cache_read),
            prefill_tokens_per_s: Some(900.0),
            decode_tokens_per_s: Some(40.0),
        };
        let cost = if self.priced && usage.input_tokens.is_some() && usage.output_tokens.is_some() {
            Some(self.draw.between(1, 10_000) as f64 / 1e6)
        } else {
            None
        };
        (usage, timing, cost)
    }

    /// One agent run and its turns, tool calls and subagents; its number and outcome.
    fn agent_run(
        &mut self,
        role: Role,
        task: &str,
        place: (Option<&MilestoneId>, Option<&FeatureId>, Option<u32>),
        parent: Option<u32>,
    ) -> Result<(u32, AgentOutcome), Stop> {
        self.check_budget()?;
        let run = self.next_run;
        self.next_run += 1;
        let (milestone, feature, round) = place;
        let model = self
            .local_model
            .clone()
            .unwrap_or_else(|| "remote".to_string());
        let temperature = self.draw.chance(0.5).then_some(0.7);
        self.emit(Event::AgentStarted {
            run,
            parent,
            role,
            model,
            provider: "generated".into(),
            task: task.into(),
            milestone: milestone.cloned(),
            feature: feature.cloned(),
            round,
            seed: Some(u64::from(run)),
            temperature,
        });
        if self.draw.chance(0.05) {
            self.emit(Event::AgentReplayed {
                run,
                recording: "recorded".into(),
                recorded_run: run,
            });
        }
        let outcome = if self.draw.chance(0.85) {
            AgentOutcome::Finished
        } else {
            self.draw.pick(&[
                AgentOutcome::Blocked,
                AgentOutcome::TurnLimit,
                AgentOutcome::MalformedLimit,
                AgentOutcome::BackendError,
                AgentOutcome::ContextLength,
            ])
        };
        let turns = self.draw.between(1, 5) as u32;
        // A failed model call ends the run in a turn that has no `Turn` event.
        let failed_call = matches!(
            outcome,
            AgentOutcome::BackendError | AgentOutcome::ContextLength
        );
        let answered = if failed_call { turns - 1 } else { turns };
        for turn in 1..=turns {
            let retries = if self.draw.chance(0.1) { 1 } else { 0 };
            for attempt in 1..=retries {
                self.emit(Event::ModelRetried {
                    run,
                    turn,
                    attempt,
                    restart: false,
                    reason: "status 503".into(),
                    wait_ms: 10.0,
                });
            }
            if turn > answered {
                break;
            }
            let (usage, timing, cost_usd) = self.usage();
            let calls = self.draw.between(0, 3) as u32;
            self.emit(Event::Turn {
                run,
                turn,
                context_messages: 2 * turn,
                usage,
                cost_usd,
                timing,
                tool_calls: calls,
                stop: if calls == 0 {
                    StopReason::EndTurn
                } else {
                    StopReason::ToolCalls
                },
                retries,
            });
            if calls == 0 {
                self.emit(Event::NoToolCall { run, turn });
                continue;
            }
            // A call that ends the run leaves the turn's later calls unrun.
            let run_calls = if turn == answered {
                self.draw.between(1, u64::from(calls)) as u32
            } else {
                calls
            };
            for _ in 0..run_calls {
                self.tool_call(run, turn, role)?;
            }
        }
        if self.draw.chance(0.003) {
            return Err(Stop::Killed);
        }
        let duration_ms = self.draw.between(1, 60_000) as f64;
        self.emit(Event::AgentFinished {
            run,
            outcome,
            turns,
            duration_ms,
            summary: String::new(),
        });
        Ok((run, outcome))
    }

    fn tool_call(&mut self, run: u32, turn: u32, role: Role) -> Result<(), Stop> {
        let status = if self.draw.chance(0.8) {
            CallStatus::Ok
        } else {
            self.draw.pick(&[
                CallStatus::Malformed,
                CallStatus::UnknownTool,
                CallStatus::Refused,
                CallStatus::Failed,
                CallStatus::PlanViolation,
            ])
        };
        let kind = self.draw.between(0, 2);
        let (tool, file_class, command) = match kind {
            0 => (
                "write_file",
                Some(
                    self.draw
                        .pick(&[FileClass::Test, FileClass::Source, FileClass::Other]),
                ),
                None,
            ),
            1 => ("run_command", None, Some("sh tests/run.sh".to_string())),
            _ => ("read_file", None, None),
        };
        let timed_out = command.is_some() && self.draw.chance(0.1);
        let exit_code = command.as_ref().and_then(|_| {
            if timed_out {
                None
            } else {
                Some(self.draw.pick(&[0, 0, 1, 2]))
            }
        });
        let duration_ms = self.draw.between(1, 900) as f64;
        let dropped_bytes = if self.draw.chance(0.1) { 2048 } else { 0 };
        let recovered = self.draw.chance(0.1);
        self.emit(Event::ToolCalled {
            run,
            turn,
            tool: tool.into(),
            status,
            duration_ms,
            path: file_class.map(|_| "src/a.py".to_string()),
            file_class,
            command,
            exit_code,
            timed_out,
            dropped_bytes,
            recovered,
        });
        if status == CallStatus::PlanViolation {
            self.emit(Event::PlanViolation {
                run,
                tool: tool.into(),
                violations: vec!["wrote outside the plan".into()],
            });
        }
        if self.draw.chance(0.1) {
            let kind = self.draw.pick(&[
                NoticeKind::PathRefused,
                NoticeKind::Denied,
                NoticeKind::MemoryLimit,
                NoticeKind::OutputTruncated,
                NoticeKind::ReadCapped,
                NoticeKind::Timeout,
            ]);
            self.emit(Event::Sandbox {
                run: Some(run),
                turn: Some(turn),
                tool: tool.into(),
                kind,
                detail: "refused".into(),
            });
        }
        // The orchestrator's subagents run inside its tool call.
        if role == Role::Orchestrator && self.draw.chance(0.2) {
            self.agent_run(Role::Subagent, "investigate", (None, None, None), Some(run))?;
        }
        Ok(())
    }

    fn raise(
        &mut self,
        run: Option<u32>,
        milestone: &MilestoneId,
        round: u32,
        source: FindingSource,
        severity: Severity,
        assertion: Option<&AssertionId>,
    ) {
        self.next_finding += 1;
        self.emit(Event::FindingRaised {
            run,
            finding: Finding {
                id: format!("F{}-{milestone}-r{round}", self.next_finding),
                milestone: milestone.clone(),
                round,
                feature: None,
                assertion: assertion.cloned(),
                source,
                severity,
                title: "generated".into(),
                detail: String::new(),
            },
        });
    }
}

/// The contract a generated mission plans: 1 to 4 milestones of 1 to 3 assertions each, and 1
/// or 2 features per milestone.
fn contract(draw: &mut Draw) -> (Vec<Milestone>, Vec<Assertion>, Vec<Feature>) {
    let count = draw.between(1, 4);
    let mut milestones = Vec::new();
    let mut assertions = Vec::new();
    let mut features = Vec::new();
    for m in 1..=count {
        let id = MilestoneId::new(format!("m{m}"));
        milestones.push(Milestone {
            id: id.clone(),
            title: format!("milestone {m}"),
            description: String::new(),
        });
        for a in 1..=draw.between(1, 3) {
            let verify = draw.pick(&[Verify::Command, Verify::Agent, Verify::Browser]);
            assertions.push(Assertion {
                id: AssertionId::new(format!("A{m}.{a}")),
                milestone: id.clone(),
                description: String::new(),
                verify,
                command: (verify != Verify::Browser).then(|| "true".to_string()),
                expect_exit: 0,
                expect_stdout: None,
                evidence: String::new(),
                serve: None,
                steps: Vec::new(),
            });
        }
        for f in 1..=draw.between(1, 2) {
            features.push(feature(&id, &format!("f{m}.{f}"), Vec::new()));
        }
    }
    (milestones, assertions, features)
}

fn feature(milestone: &MilestoneId, id: &str, addresses: Vec<String>) -> Feature {
    Feature {
        id: FeatureId::new(id),
        milestone: milestone.clone(),
        title: id.into(),
        description: String::new(),
        fulfils: Vec::new(),
        test_command: None,
        addresses,
    }
}

/// The lifecycle of one mission: the plan, then each milestone's rounds until it passes or its
/// rounds run out. Whether every milestone passed, or why it stopped.
fn lifecycle(gen: &mut MissionGen<'_>, seen: &mut Seen) -> Result<(), Stop> {
    let (plan_run, _) = gen.agent_run(Role::Orchestrator, "plan", (None, None, None), None)?;
    if gen.draw.chance(0.03) {
        return Err(Stop::Halt(HaltReason::NoPlan));
    }
    let (milestones, assertions, features) = contract(gen.draw);
    if milestones.len() > 2 {
        seen.milestones_beyond_two += 1;
    }
    gen.emit(Event::ContractWritten {
        run: plan_run,
        milestones: milestones.clone(),
        assertions: assertions.clone(),
    });
    gen.emit(Event::FeaturesPlanned {
        run: plan_run,
        after_round: None,
        features: features.clone(),
    });
    let max_rounds = gen.draw.between(1, 3) as u32;
    for (index, milestone) in milestones.iter().enumerate() {
        let through: BTreeSet<&MilestoneId> = milestones[..=index].iter().map(|m| &m.id).collect();
        let mut pending: Vec<Feature> = features
            .iter()
            .filter(|f| f.milestone == milestone.id)
            .cloned()
            .collect();
        // Validators fail earlier work more often in some missions than in others.
        let pass_chance = gen.draw.pick(&[0.7, 0.9, 0.99]);
        let mut passed = false;
        for round in 1..=max_rounds {
            let mut blocking = 0u32;
            let mut implemented = Vec::new();
            for feature in &pending {
                let task = if feature.is_fix() { "fix" } else { "implement" };
                let place = (Some(&milestone.id), Some(&feature.id), Some(round));
                let (_, outcome) = gen.agent_run(Role::Worker, task, place, None)?;
                if outcome != AgentOutcome::Finished {
                    gen.raise(
                        None,
                        &milestone.id,
                        round,
                        FindingSource::Blocked,
                        Severity::Blocking,
                        None,
                    );
                    blocking += 1;
                }
                implemented.push(feature.id.clone());
            }
            for feature in &implemented {
                let place = (Some(&milestone.id), Some(feature), Some(round));
                let (run, outcome) = gen.agent_run(Role::Scrutiny, "review", place, None)?;
                let findings = if outcome == AgentOutcome::Finished {
                    gen.draw.between(0, 2)
                } else {
                    1
                };
                for _ in 0..findings {
                    let severity = if outcome == AgentOutcome::Finished {
                        gen.draw.pick(&[
                            Severity::Blocking,
                            Severity::NonBlocking,
                            Severity::NonBlocking,
                            Severity::Suggestion,
                        ])
                    } else {
                        Severity::Blocking
                    };
                    gen.raise(
                        Some(run),
                        &milestone.id,
                        round,
                        FindingSource::Scrutiny,
                        severity,
                        None,
                    );
                    blocking += u32::from(severity == Severity::Blocking);
                }
            }
            let place = (Some(&milestone.id), None, Some(round));
            let (tester, _) = gen.agent_run(Role::UserTesting, "user_test", place, None)?;
            for assertion in assertions.iter().filter(|a| through.contains(&a.milestone)) {
                let pass = gen.draw.chance(pass_chance);
                gen.emit(Event::VerdictReported {
                    run: tester,
                    milestone: milestone.id.clone(),
                    round,
                    assertion: assertion.id.to_string(),
                    status: if pass {
                        VerdictStatus::Pass
                    } else {
                        VerdictStatus::Fail
                    },
                    evidence: String::new(),
                    evidence_ids: Vec::new(),
                });
                if !pass {
                    if assertion.milestone != milestone.id {
                        seen.regression_failures += 1;
                    }
                    gen.raise(
                        Some(tester),
                        &milestone.id,
                        round,
                        FindingSource::UserTesting,
                        Severity::Blocking,
                        Some(&assertion.id),
                    );
                    blocking += 1;
                }
            }
            for assertion in assertions.iter().filter(|a| {
                a.milestone == milestone.id && matches!(a.verify, Verify::Command | Verify::Browser)
            }) {
                let pass = gen.draw.chance(pass_chance);
                gen.emit(Event::MechanicalCheck {
                    milestone: milestone.id.clone(),
                    round,
                    assertion: assertion.id.to_string(),
                    passed: pass,
                    exit_code: Some(if pass { 0 } else { 1 }),
                    timed_out: false,
                    duration_ms: 3.0,
                    evidence_ids: Vec::new(),
                });
                if !pass {
                    gen.raise(
                        None,
                        &milestone.id,
                        round,
                        FindingSource::Mechanical,
                        Severity::Blocking,
                        Some(&assertion.id),
                    );
                    blocking += 1;
                }
            }
            passed = blocking == 0;
            gen.emit(Event::MilestoneRound {
                milestone: milestone.id.clone(),
                round,
                passed,
                open_blocking: blocking,
            });
            if passed {
                break;
            }
            seen.failed_rounds += 1;
            if round == max_rounds {
                break;
            }
            let place = (Some(&milestone.id), None, Some(round));
            let (fixer, _) = gen.agent_run(Role::Orchestrator, "fix", place, None)?;
            let fixes = gen.draw.between(1, u64::from(blocking.min(3)));
            pending = (1..=fixes)
                .map(|i| {
                    feature(
                        &milestone.id,
                        &format!("fix-{}-r{round}-{i}", milestone.id),
                        vec![format!("F-{i}")],
                    )
                })
                .collect();
            gen.emit(Event::FeaturesPlanned {
                run: fixer,
                after_round: Some(round),
                features: pending.clone(),
            });
        }
        if !passed {
            return Err(Stop::Halt(HaltReason::MaxRounds));
        }
    }
    Ok(())
}

/// The ground truth after a mission that was not killed; whether acceptance accepts it.
fn ground_truth(gen: &mut MissionGen<'_>, milestones: u64) -> bool {
    let tampered = gen.draw.chance(0.05).then(|| TamperEvidence {
        files: vec!["conftest.py".into()],
        tests: vec![OutcomeChange {
            id: "t::a".into(),
            sealed: Some(TestStatus::Failed),
            as_is: Some(TestStatus::Passed),
        }],
        runner: Vec::new(),
        attempts: Vec::new(),
    });
    let left_out = (0..gen.draw.between(0, 2))
        .map(|i| LeftOut {
            path: format!("conftest{i}.py"),
            why: "a pytest plugin".into(),
            machinery: true,
        })
        .collect();
    gen.emit(Event::AcceptanceSealed {
        runner: "pytest".into(),
        left_out,
        ran_as_is: tampered.is_some(),
        tampered: tampered.clone(),
    });
    let errored = gen.draw.chance(0.08);
    let tests: Vec<TestResult> = if errored {
        Vec::new()
    } else {
        let passing = gen.draw.pick(&[0.5, 0.9, 1.0]);
        (0..gen.draw.between(1, 8))
            .map(|i| TestResult {
                id: format!("t::{i}"),
                // Tests of milestones the contract may not have, and unmapped ones.
                milestone: if gen.draw.chance(0.1) {
                    None
                } else {
                    Some(MilestoneId::new(format!(
                        "m{}",
                        gen.draw.between(1, milestones.max(1))
                    )))
                },
                status: if gen.draw.chance(passing) {
                    TestStatus::Passed
                } else {
                    gen.draw.pick(&[TestStatus::Failed, TestStatus::Skipped])
                },
            })
            .collect()
    };
    let accepted = tampered.is_none()
        && !errored
        && !tests.is_empty()
        && tests.iter().all(|t| t.status == TestStatus::Passed);
    gen.emit(Event::AcceptanceFinished {
        tests,
        exit_code: Some(i32::from(!accepted)),
        timed_out: false,
        duration_ms: 100.0,
        error: errored.then(|| "the runner crashed".to_string()),
    });
    if gen.draw.chance(0.8) {
        let percent = gen
            .draw
            .chance(0.8)
            .then(|| gen.draw.between(0, 100) as f64);
        gen.emit(Event::CoverageMeasured {
            percent,
            covered_lines: None,
            total_lines: None,
            error: percent.is_none().then(|| "no report".to_string()),
        });
    }
    if gen.draw.chance(0.1) {
        gen.emit(Event::Sandbox {
            run: None,
            turn: None,
            tool: "acceptance".into(),
            kind: NoticeKind::ProcessLimit,
            detail: "limit".into(),
        });
    }
    if gen.draw.chance(0.5) {
        let killed = gen.draw.between(0, 10);
        let survived = gen.draw.between(0, 10);
        let not_viable = gen.draw.between(0, 2);
        let timed_out = gen.draw.between(0, killed);
        gen.emit(Event::MutationMeasured {
            tool: "builtin".into(),
            score: (killed + survived > 0).then(|| killed as f64 / (killed + survived) as f64),
            candidates: 40,
            sampled: killed + survived + not_viable,
            mutants_total: killed + survived + not_viable,
            killed,
            survived,
            timed_out,
            not_viable,
            baseline_ms: 10.0,
            duration_ms: 100.0,
            error: None,
            survivors: Vec::new(),
        });
    }
    if gen.draw.chance(0.1) {
        gen.emit(Event::PathsSkipped {
            during: "record".into(),
            paths: vec![SkippedPath {
                path: "a.sock".into(),
                reason: "a socket".into(),
            }],
        });
    }
    gen.emit(Event::LinesCounted {
        source_files: 2,
        source_lines: 40,
        test_files: 1,
        test_lines: 20,
    });
    accepted
}

/// One mission's events in order.
fn mission_events(draw: &mut Draw, seen: &mut Seen) -> Vec<Event> {
    let source = draw.pick(&[
        UsageSource::Provider,
        UsageSource::Engine,
        UsageSource::Estimate,
    ]);
    let local_model = (source == UsageSource::Engine).then(|| "local".to_string());
    let priced = draw.chance(0.5);
    let mut gen = MissionGen {
        draw,
        events: Vec::new(),
        next_run: 1,
        next_finding: 0,
        source,
        priced,
        local_model,
    };
    let models = Role::ALL
        .iter()
        .map(|role| {
            let model = ModelRef {
                name: "generated".into(),
                provider: "generated".into(),
            };
            (*role, model)
        })
        .collect();
    gen.emit(Event::MissionStarted {
        mission_hash: "h".into(),
        models,
        workspace: "w".into(),
        difficulty: Some("small".into()),
        language: None,
        tags: Vec::new(),
    });
    let stop = lifecycle(&mut gen, seen).err();
    let halt = match stop {
        Some(Stop::Killed) => {
            seen.killed_missions += 1;
            return gen.events;
        }
        Some(Stop::Halt(reason)) => Some(reason),
        None => None,
    };
    let milestones = gen
        .events
        .iter()
        .find_map(|e| match e {
            Event::ContractWritten { milestones, .. } => Some(milestones.len() as u64),
            _ => None,
        })
        .unwrap_or(0);
    let accepted = ground_truth(&mut gen, milestones);
    let status = match halt {
        Some(reason) if reason.is_infrastructure() => MissionStatus::Error,
        Some(_) => MissionStatus::Halted,
        None if accepted => MissionStatus::Passed,
        None => MissionStatus::Failed,
    };
    match status {
        MissionStatus::Passed => seen.passed_missions += 1,
        MissionStatus::Halted => seen.halted_missions += 1,
        _ => {}
    }
    gen.emit(Event::MissionFinished {
        status,
        halt_reason: halt,
        detail: String::new(),
        duration_ms: 1000.0,
    });
    gen.events
}

/// A journal of 1 to 3 mission runs whose events interleave, as with `--jobs`.
pub fn journal(seed: u64, seen: &mut Seen) -> Vec<EventRecord> {
    let mut draw = Draw(SplitMix::new(seed));
    let missions = draw.between(1, 3);
    let mut queues: Vec<(MissionKey, VecDeque<Event>)> = (0..missions)
        .map(|m| {
            let key = MissionKey {
                suite: "generated".into(),
                mission: MissionId::new(format!("mission{}", m % 2)),
                pairing: format!("pairing{}", draw.between(0, 1)),
                repeat: m as u32,
            };
            (key, mission_events(&mut draw, seen).into())
        })
        .collect();
    for (_, events) in &queues {
        let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count() as u64;
        seen.subagents += count(|e| {
            matches!(
                e,
                Event::AgentStarted {
                    parent: Some(_),
                    ..
                }
            )
        });
        seen.unknown_usage += count(
            |e| matches!(e, Event::Turn { usage, .. } if usage.input_tokens.is_none() || usage.output_tokens.is_none()),
        );
    }
    let mut records = vec![EventRecord {
        v: 1,
        seq: 0,
        time_ms: 0,
        mission: None,
        event: Event::ModelLoaded {
            name: "local".into(),
            provider: "candle".into(),
            stats: ModelStats {
                load_ms: Some(120.0),
                resident_bytes: Some(1 << 20),
                parameters: None,
                detail: String::new(),
            },
        },
    }];
    while !queues.is_empty() {
        let i = draw.0.below(queues.len());
        let Some(event) = queues[i].1.pop_front() else {
            queues.remove(i);
            continue;
        };
        let seq = records.len() as u64;
        records.push(EventRecord {
            v: 1,
            seq,
            time_ms: seq as i64,
            mission: Some(queues[i].0.clone()),
            event,
        });
    }
    records
}
