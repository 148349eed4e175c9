//! The metrics fold: events in, table rows out. Pure and synchronous: the same events always
//! give the same tables, so reports can be rebuilt from `events.jsonl` alone.

pub mod records;
pub mod table;

use std::collections::{BTreeMap, BTreeSet};

use crate::events::{
    AgentOutcome, CallStatus, Event, EventRecord, FileClass, MissionKey, TamperEvidence,
    TestResult, TestStatus, VerdictStatus,
};
use crate::model::{ModelStats, Usage, UsageSource};
use crate::spec::{Finding, Role, Severity, Verify};
pub use records::*;

/// Sums values that may be unknown: unknown if any part is unknown.
fn strict_sum<T: std::ops::Add<Output = T> + Default>(
    values: impl IntoIterator<Item = Option<T>>,
) -> Option<T> {
    let mut total = T::default();
    for value in values {
        total = total + value?;
    }
    Some(total)
}

fn source_label(sources: &BTreeSet<UsageSource>) -> String {
    match sources.len() {
        0 => "none".to_string(),
        1 => sources
            .iter()
            .next()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        _ => "mixed".to_string(),
    }
}

#[derive(Default)]
struct RunAcc {
    parent: Option<u32>,
    role: Option<Role>,
    model: String,
    provider: String,
    task: String,
    milestone: Option<String>,
    feature: Option<String>,
    round: Option<u32>,
    seed: Option<u64>,
    temperature: Option<f64>,
    started_at_ms: i64,
    outcome: Option<AgentOutcome>,
    turns: u32,
    wall_ms: f64,
    usages: Vec<Usage>,
    costs: Vec<Option<f64>>,
    model_ms: f64,
    tool_ms: f64,
    tool_calls: u64,
    tool_errors: u64,
    malformed: u64,
    unknown: u64,
    recovered: u64,
    plan_violations: u64,
    no_tool_call: u64,
    files_written: u64,
    test_files: u64,
    source_files: u64,
    first_test_seq: Option<u64>,
    first_source_seq: Option<u64>,
    commands_run: u64,
    commands_failed: u64,
    commands_timed_out: u64,
    dropped_bytes: u64,
    denials: u64,
    limits_hit: u64,
    truncations: u64,
    model_retries: u64,
}

#[derive(Default)]
struct MissionAcc {
    started_at_ms: i64,
    mission_hash: String,
    models: BTreeMap<Role, String>,
    runs: BTreeMap<u32, RunAcc>,
    turns: Vec<TurnRow>,
    milestone_order: Vec<String>,
    assertion_info: BTreeMap<String, (String, Verify)>,
    planned_features: u64,
    fix_features: BTreeMap<(String, u32), u64>,
    findings: Vec<Finding>,
    verdicts: Vec<(String, u32, String, VerdictStatus)>,
    mechanical: BTreeMap<(String, u32, String), bool>,
    rounds: Vec<(String, u32, bool, u32)>,
    user_questions: u64,
    plan_violations: u64,
    /// Sandbox notices of the harness's own commands (no agent run).
    harness_denials: u64,
    harness_limits: u64,
    acceptance: Option<(Vec<TestResult>, Option<String>)>,
    /// Paths the sealed run left out, and the tampering evidence.
    sealed: Option<(u64, Option<TamperEvidence>)>,
    coverage: Option<(Option<f64>, Option<String>)>,
    mutation: Option<MutationFold>,
    lines: (u64, u64, u64, u64),
    /// Distinct paths that a copy or the record left out: where first, and why.
    paths_skipped: BTreeMap<String, (String, String)>,
    finished: Option<(String, Option<String>, String, f64)>,
}

/// What a mission's `MutationMeasured` event puts in its row.
#[derive(Debug, Clone, Default)]
struct MutationFold {
    score: Option<f64>,
    total: u64,
    killed: u64,
    survived: u64,
    timed_out: u64,
    error: Option<String>,
}

/// Folds the records of a run into its tables. Records of each mission may interleave with
/// other missions'; they are grouped by mission key and taken in sequence order.
pub fn fold(run_id: &str, records: &[EventRecord]) -> Tables {
    let mut missions: BTreeMap<MissionKey, MissionAcc> = BTreeMap::new();
    let mut models: BTreeMap<String, ModelStats> = BTreeMap::new();
    let mut ordered: Vec<&EventRecord> = records.iter().collect();
    ordered.sort_by_key(|r| r.seq);
    for record in ordered {
        if let Event::ModelLoaded { name, stats, .. } = &record.event {
            models.insert(name.clone(), stats.clone());
        }
        let Some(key) = &record.mission else { continue };
        let acc = missions.entry(key.clone()).or_default();
        apply(acc, key, run_id, record);
    }
    let mut tables = Tables::default();
    for (key, acc) in missions {
        emit_rows(&mut tables, run_id, &key, acc, &models);
    }
    tables
}

fn apply(acc: &mut MissionAcc, key: &MissionKey, run_id: &str, record: &EventRecord) {
    match &record.event {
        Event::MissionStarted {
            mission_hash,
            models,
            ..
        } => {
            acc.started_at_ms = record.time_ms;
            acc.mission_hash = mission_hash.clone();
            acc.models = models
                .iter()
                .map(|(role, m)| (*role, m.name.clone()))
                .collect();
        }
        Event::AgentStarted {
            run,
            parent,
            role,
            model,
            provider,
            task,
            milestone,
            feature,
            round,
            seed,
            temperature,
        } => {
            let entry = acc.runs.entry(*run).or_default();
            entry.seed = *seed;
            entry.temperature = *temperature;
            entry.parent = *parent;
            entry.role = Some(*role);
            entry.model = model.clone();
            entry.provider = provider.clone();
            entry.task = task.clone();
            entry.milestone = milestone.as_ref().map(ToString::to_string);
            entry.feature = feature.as_ref().map(ToString::to_string);
            entry.round = *round;
            entry.started_at_ms = record.time_ms;
        }
        Event::Turn {
            run,
            turn,
            context_messages,
            usage,
            cost_usd,
            timing,
            tool_calls,
            stop,
            retries,
        } => {
            let entry = acc.runs.entry(*run).or_default();
            entry.usages.push(usage.clone());
            entry.costs.push(*cost_usd);
            entry.model_ms += timing.latency_ms;
            let retries = *retries;
            let new_tokens =
                timing
                    .prefill_tokens
                    .or(match (usage.input_tokens, usage.cache_read_tokens) {
                        (Some(input), Some(cached)) => Some(input.saturating_sub(cached)),
                        _ => None,
                    });
            acc.turns.push(TurnRow {
                schema_version: SCHEMA_VERSION,
                run_id: run_id.to_string(),
                suite: key.suite.clone(),
                mission: key.mission.to_string(),
                pairing: key.pairing.clone(),
                repeat: key.repeat,
                agent_run: *run,
                role: entry
                    .role
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                model: entry.model.clone(),
                turn: *turn,
                context_messages: *context_messages,
                input_tokens: usage.input_tokens,
                new_tokens,
                cache_read_tokens: usage.cache_read_tokens,
                cache_write_tokens: usage.cache_write_tokens,
                output_tokens: usage.output_tokens,
                reasoning_tokens: usage.reasoning_tokens,
                usage_source: usage.source.as_str().to_string(),
                cost_usd: *cost_usd,
                latency_ms: timing.latency_ms,
                ttft_ms: timing.ttft_ms,
                prefill_tokens_per_s: timing.prefill_tokens_per_s,
                decode_tokens_per_s: timing.decode_tokens_per_s,
                tool_calls: *tool_calls,
                stop_reason: match stop {
                    crate::model::StopReason::EndTurn => "end_turn".to_string(),
                    crate::model::StopReason::ToolCalls => "tool_calls".to_string(),
                    crate::model::StopReason::MaxTokens => "max_tokens".to_string(),
                    crate::model::StopReason::Other(other) => other.clone(),
                },
                raw_usage: usage.raw.as_ref().map(ToString::to_string),
                retries,
                time_ms: record.time_ms,
            });
        }
        Event::ToolCalled {
            run,
            status,
            duration_ms,
            file_class,
            command,
            exit_code,
            timed_out,
            dropped_bytes,
            recovered,
            ..
        } => {
            let entry = acc.runs.entry(*run).or_default();
            entry.tool_calls += 1;
            entry.tool_ms += duration_ms;
            match status {
                CallStatus::Ok => {}
                CallStatus::Malformed => entry.malformed += 1,
                CallStatus::UnknownTool => entry.unknown += 1,
                CallStatus::Refused | CallStatus::Failed => entry.tool_errors += 1,
                CallStatus::PlanViolation => {}
            }
            // A recovered call that still failed as malformed or unknown counts as malformed
            // only: the three kinds (valid, recovered, malformed) partition the calls.
            if *recovered && !matches!(status, CallStatus::Malformed | CallStatus::UnknownTool) {
                entry.recovered += 1;
            }
            if let Some(class) = file_class {
                entry.files_written += 1;
                match class {
                    FileClass::Test => {
                        entry.test_files += 1;
                        entry.first_test_seq.get_or_insert(record.seq);
                    }
                    FileClass::Source => {
                        entry.source_files += 1;
                        entry.first_source_seq.get_or_insert(record.seq);
                    }
                    FileClass::Other => {}
                }
            }
            if command.is_some() {
                entry.commands_run += 1;
                if *timed_out {
                    entry.commands_timed_out += 1;
                }
                if *timed_out || *exit_code != Some(0) {
                    entry.commands_failed += 1;
                }
                entry.dropped_bytes += dropped_bytes;
            }
        }
        Event::NoToolCall { run, .. } => acc.runs.entry(*run).or_default().no_tool_call += 1,
        Event::ModelRetried { run, .. } => acc.runs.entry(*run).or_default().model_retries += 1,
        Event::Sandbox { run, kind, .. } => match run {
            Some(run) => {
                let entry = acc.runs.entry(*run).or_default();
                entry.denials += u64::from(kind.is_denial());
                entry.limits_hit += u64::from(kind.is_limit());
                entry.truncations += u64::from(kind.is_truncation());
            }
            None => {
                acc.harness_denials += u64::from(kind.is_denial());
                acc.harness_limits += u64::from(kind.is_limit());
            }
        },
        Event::AgentFinished {
            run,
            outcome,
            turns,
            duration_ms,
            ..
        } => {
            let entry = acc.runs.entry(*run).or_default();
            entry.outcome = Some(*outcome);
            entry.turns = *turns;
            entry.wall_ms = *duration_ms;
        }
        Event::UserAsked { .. } => acc.user_questions += 1,
        Event::PlanViolation { run, .. } => {
            acc.plan_violations += 1;
            acc.runs.entry(*run).or_default().plan_violations += 1;
        }
        Event::ContractWritten {
            milestones,
            assertions,
            ..
        } => {
            acc.milestone_order = milestones.iter().map(|m| m.id.to_string()).collect();
            acc.assertion_info = assertions
                .iter()
                .map(|a| (a.id.to_string(), (a.milestone.to_string(), a.verify)))
                .collect();
        }
        Event::FeaturesPlanned {
            after_round: None,
            features,
            ..
        } => acc.planned_features = features.len() as u64,
        Event::FeaturesPlanned {
            after_round: Some(round),
            features,
            ..
        } => {
            if let Some(first) = features.first() {
                *acc.fix_features
                    .entry((first.milestone.to_string(), *round))
                    .or_default() += features.len() as u64;
            }
        }
        Event::FindingRaised { finding, .. } => acc.findings.push(finding.clone()),
        Event::VerdictReported {
            milestone,
            round,
            assertion,
            status,
            ..
        } => {
            acc.verdicts
                .push((milestone.to_string(), *round, assertion.clone(), *status));
        }
        Event::MechanicalCheck {
            milestone,
            round,
            assertion,
            passed,
            ..
        } => {
            acc.mechanical
                .insert((milestone.to_string(), *round, assertion.clone()), *passed);
        }
        Event::MilestoneRound {
            milestone,
            round,
            passed,
            open_blocking,
        } => {
            acc.rounds
                .push((milestone.to_string(), *round, *passed, *open_blocking));
        }
        Event::AcceptanceSealed {
            left_out, tampered, ..
        } => acc.sealed = Some((left_out.len() as u64, tampered.clone())),
        Event::AcceptanceFinished { tests, error, .. } => {
            acc.acceptance = Some((tests.clone(), error.clone()))
        }
        Event::CoverageMeasured { percent, error, .. } => {
            acc.coverage = Some((*percent, error.clone()))
        }
        Event::PathsSkipped { during, paths } => {
            for skipped in paths {
                acc.paths_skipped
                    .entry(skipped.path.clone())
                    .or_insert_with(|| (during.clone(), skipped.reason.clone()));
            }
        }
        Event::MutationMeasured {
            score,
            mutants_total,
            killed,
            survived,
            timed_out,
            error,
            ..
        } => {
            acc.mutation = Some(MutationFold {
                score: *score,
                total: *mutants_total,
                killed: *killed,
                survived: *survived,
                timed_out: *timed_out,
                error: error.clone(),
            })
        }
        Event::LinesCounted {
            source_files,
            source_lines,
            test_files,
            test_lines,
        } => {
            acc.lines = (*source_files, *source_lines, *test_files, *test_lines);
        }
        Event::MissionFinished {
            status,
            halt_reason,
            detail,
            duration_ms,
        } => {
            acc.finished = Some((
                status.as_str().to_string(),
                halt_reason.map(|h| h.as_str().to_string()),
                detail.clone(),
                *duration_ms,
            ));
        }
        Event::RunPlanned { .. }
        | Event::EnvironmentReady { .. }
        | Event::EnvironmentFailed { .. }
        | Event::ModelLoaded { .. }
        | Event::LibraryWritten { .. }
        | Event::FindingsClosed { .. }
        | Event::MissionHalted { .. }
        | Event::AgentCheckpoint { .. }
        | Event::CleanupFailed { .. } => {}
    }
}

/// Token sums of several calls; each unknown when any call did not report it.
struct UsageTotals {
    input: Option<u64>,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
    output: Option<u64>,
    reasoning: Option<u64>,
}

fn usage_sums(usages: &[Usage]) -> UsageTotals {
    UsageTotals {
        input: strict_sum(usages.iter().map(|u| u.input_tokens)),
        cache_read: strict_sum(usages.iter().map(|u| u.cache_read_tokens)),
        cache_write: strict_sum(usages.iter().map(|u| u.cache_write_tokens)),
        output: strict_sum(usages.iter().map(|u| u.output_tokens)),
        reasoning: strict_sum(usages.iter().map(|u| u.reasoning_tokens)),
    }
}

fn emit_rows(
    tables: &mut Tables,
    run_id: &str,
    key: &MissionKey,
    acc: MissionAcc,
    models: &BTreeMap<String, ModelStats>,
) {
    let suite = key.suite.clone();
    let mission = key.mission.to_string();
    let pairing = key.pairing.clone();

    // Acceptance by milestone.
    let (tests, acceptance_error) = acc.acceptance.clone().unwrap_or_default();
    let mut acceptance_by_milestone: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for test in &tests {
        if let Some(milestone) = &test.milestone {
            let entry = acceptance_by_milestone
                .entry(milestone.to_string())
                .or_default();
            entry.1 += 1;
            if test.status == TestStatus::Passed {
                entry.0 += 1;
            }
        }
    }
    let acceptance_ok = |milestone: &str| -> Option<bool> {
        acc.acceptance.as_ref()?;
        acceptance_by_milestone
            .get(milestone)
            .filter(|(_, total)| *total > 0)
            .map(|(passed, total)| passed == total)
    };

    // Rounds by milestone.
    let mut rounds_to_pass: BTreeMap<&str, u32> = BTreeMap::new();
    let mut last_round: BTreeMap<&str, (u32, bool)> = BTreeMap::new();
    for (milestone, round, passed, _) in &acc.rounds {
        if *passed {
            rounds_to_pass.entry(milestone.as_str()).or_insert(*round);
        }
        last_round.insert(milestone.as_str(), (*round, *passed));
    }
    let false_green = |m: &str| {
        last_round.get(m).is_some_and(|(_, passed)| *passed) && acceptance_ok(m) == Some(false)
    };
    let false_red = |m: &str| {
        last_round.get(m).is_some_and(|(_, passed)| !*passed) && acceptance_ok(m) == Some(true)
    };

    for (milestone, round, passed, open_blocking) in &acc.rounds {
        let findings_in = |severity: Severity| {
            acc.findings
                .iter()
                .filter(|f| {
                    f.milestone.as_str() == milestone && f.round == *round && f.severity == severity
                })
                .count() as u64
        };
        let verdicts: Vec<_> = acc
            .verdicts
            .iter()
            .filter(|(m, r, _, _)| m == milestone && r == round)
            .collect();
        let mechanical: Vec<bool> = acc
            .mechanical
            .iter()
            .filter(|((m, r, _), _)| m == milestone && r == round)
            .map(|(_, passed)| *passed)
            .collect();
        let (acceptance_passed, acceptance_total) = acceptance_by_milestone
            .get(milestone)
            .copied()
            .unwrap_or_default();
        tables.milestones.push(MilestoneRow {
            schema_version: SCHEMA_VERSION,
            run_id: run_id.to_string(),
            suite: suite.clone(),
            mission: mission.clone(),
            pairing: pairing.clone(),
            repeat: key.repeat,
            milestone: milestone.clone(),
            milestone_index: acc
                .milestone_order
                .iter()
                .position(|m| m == milestone)
                .map_or(0, |i| i as u32 + 1),
            round: *round,
            passed: *passed,
            open_blocking: u64::from(*open_blocking),
            findings_blocking: findings_in(Severity::Blocking),
            findings_non_blocking: findings_in(Severity::NonBlocking),
            findings_suggestion: findings_in(Severity::Suggestion),
            verdicts_pass: verdicts
                .iter()
                .filter(|v| v.3 == VerdictStatus::Pass)
                .count() as u64,
            verdicts_fail: verdicts
                .iter()
                .filter(|v| v.3 == VerdictStatus::Fail)
                .count() as u64,
            mechanical_pass: mechanical.iter().filter(|p| **p).count() as u64,
            mechanical_fail: mechanical.iter().filter(|p| !**p).count() as u64,
            assertions_total: acc
                .assertion_info
                .values()
                .filter(|(m, _)| m == milestone)
                .count() as u64,
            fix_features_planned: acc
                .fix_features
                .get(&(milestone.clone(), *round))
                .copied()
                .unwrap_or(0),
            rounds_to_pass: rounds_to_pass.get(milestone.as_str()).copied(),
            acceptance_passed,
            acceptance_total,
            acceptance_ok: acceptance_ok(milestone),
            false_green: false_green(milestone),
            false_red: false_red(milestone),
        });
    }

    for (checked_in, round, assertion, status) in &acc.verdicts {
        let (milestone, verify) = acc
            .assertion_info
            .get(assertion)
            .cloned()
            .unwrap_or((checked_in.clone(), Verify::Agent));
        let mechanical = acc
            .mechanical
            .get(&(checked_in.clone(), *round, assertion.clone()));
        let mechanical_status = match mechanical {
            Some(true) => "pass",
            Some(false) => "fail",
            None => "not_applicable",
        };
        tables.assertions.push(AssertionRow {
            schema_version: SCHEMA_VERSION,
            run_id: run_id.to_string(),
            suite: suite.clone(),
            mission: mission.clone(),
            pairing: pairing.clone(),
            repeat: key.repeat,
            assertion: assertion.clone(),
            acceptance_status: acceptance_ok(&milestone)
                .map(|ok| if ok { "pass" } else { "fail" }.to_string()),
            milestone,
            checked_in: checked_in.clone(),
            round: *round,
            verify: verify.as_str().to_string(),
            validator_status: Some(match status {
                VerdictStatus::Pass => "pass".to_string(),
                VerdictStatus::Fail => "fail".to_string(),
            }),
            mechanical_status: mechanical_status.to_string(),
            passed: *status == VerdictStatus::Pass && mechanical != Some(&false),
        });
    }

    let mut tokens_by_role: BTreeMap<Role, u64> = BTreeMap::new();
    let mut wall_by_role: BTreeMap<Role, f64> = BTreeMap::new();
    let mut runs_by_role: BTreeMap<Role, u64> = BTreeMap::new();
    let mut sources = BTreeSet::new();
    let mut all_usages = Vec::new();
    let mut all_costs = Vec::new();
    let (mut tdd_yes, mut tdd_both) = (0u64, 0u64);
    let (mut turns, mut tool_calls, mut malformed, mut recovered) = (0u64, 0u64, 0u64, 0u64);
    let mut model_retries = 0u64;
    let mut sandbox_denials = acc.harness_denials;
    let mut limits_hit = acc.harness_limits;
    for (agent_run, run) in &acc.runs {
        let role = run.role.unwrap_or(Role::Subagent);
        let totals = usage_sums(&run.usages);
        *tokens_by_role.entry(role).or_default() +=
            run.usages.iter().map(Usage::total).sum::<u64>();
        *wall_by_role.entry(role).or_default() += run.wall_ms;
        *runs_by_role.entry(role).or_default() += 1;
        let run_sources: BTreeSet<UsageSource> = run.usages.iter().map(|u| u.source).collect();
        sources.extend(run_sources.iter().copied());
        all_usages.extend(run.usages.iter().cloned());
        all_costs.extend(run.costs.iter().copied());
        turns += u64::from(run.turns);
        tool_calls += run.tool_calls;
        malformed += run.malformed + run.unknown;
        recovered += run.recovered;
        model_retries += run.model_retries;
        sandbox_denials += run.denials;
        limits_hit += run.limits_hit;
        let tests_before_source = match (run.first_test_seq, run.first_source_seq) {
            (Some(test), Some(source)) => Some(test < source),
            _ => None,
        };
        if role == Role::Worker {
            if let Some(first) = tests_before_source {
                tdd_both += 1;
                tdd_yes += u64::from(first);
            }
        }
        tables.runs.push(RunRow {
            schema_version: SCHEMA_VERSION,
            run_id: run_id.to_string(),
            suite: suite.clone(),
            mission: mission.clone(),
            pairing: pairing.clone(),
            repeat: key.repeat,
            agent_run: *agent_run,
            parent_agent_run: run.parent,
            role: role.as_str().to_string(),
            model: run.model.clone(),
            provider: run.provider.clone(),
            task: run.task.clone(),
            milestone: run.milestone.clone(),
            feature: run.feature.clone(),
            round: run.round,
            seed: run.seed,
            temperature: run.temperature,
            outcome: run
                .outcome
                .map_or("unfinished", AgentOutcome::as_str)
                .to_string(),
            turns: run.turns,
            tool_calls: run.tool_calls,
            tool_errors: run.tool_errors,
            malformed_calls: run.malformed,
            unknown_tool_calls: run.unknown,
            recovered_calls: run.recovered,
            plan_violations: run.plan_violations,
            no_tool_call_turns: run.no_tool_call,
            input_tokens: totals.input,
            cache_read_tokens: totals.cache_read,
            cache_write_tokens: totals.cache_write,
            output_tokens: totals.output,
            reasoning_tokens: totals.reasoning,
            usage_source: source_label(&run_sources),
            cost_usd: strict_sum(run.costs.iter().copied()),
            wall_ms: run.wall_ms,
            model_ms: run.model_ms,
            tool_ms: run.tool_ms,
            files_written: run.files_written,
            test_files_written: run.test_files,
            source_files_written: run.source_files,
            tests_before_source,
            commands_run: run.commands_run,
            commands_failed: run.commands_failed,
            commands_timed_out: run.commands_timed_out,
            output_dropped_bytes: run.dropped_bytes,
            sandbox_denials: run.denials,
            limits_hit: run.limits_hit,
            truncations: run.truncations,
            model_retries: run.model_retries,
            model_load_ms: models.get(&run.model).and_then(|m| m.load_ms),
            model_resident_bytes: models.get(&run.model).and_then(|m| m.resident_bytes),
            started_at_ms: run.started_at_ms,
        });
    }
    tables.turns.extend(acc.turns.iter().cloned());

    let totals = usage_sums(&all_usages);
    let (status, halt_reason, halt_detail, wall_ms) = acc.finished.clone().unwrap_or_else(|| {
        (
            "unfinished".to_string(),
            None,
            "the mission has no end event".to_string(),
            0.0,
        )
    });
    let count = |severity: Severity| {
        acc.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count() as u64
    };
    let model = |role: Role| acc.models.get(&role).cloned().unwrap_or_default();
    let (coverage_pct, coverage_error) = acc.coverage.clone().unwrap_or((None, None));
    let mutation = acc.mutation.as_ref();
    tables.missions.push(MissionRow {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.to_string(),
        suite,
        mission,
        pairing,
        repeat: key.repeat,
        model_orchestrator: model(Role::Orchestrator),
        model_worker: model(Role::Worker),
        model_scrutiny: model(Role::Scrutiny),
        model_user_testing: model(Role::UserTesting),
        model_subagent: model(Role::Subagent),
        mission_hash: acc.mission_hash.clone(),
        status,
        halt_reason,
        halt_detail,
        acceptance_passed: tests
            .iter()
            .filter(|t| t.status == TestStatus::Passed)
            .count() as u64,
        acceptance_failed: tests
            .iter()
            .filter(|t| t.status == TestStatus::Failed)
            .count() as u64,
        acceptance_skipped: tests
            .iter()
            .filter(|t| t.status == TestStatus::Skipped)
            .count() as u64,
        acceptance_total: tests.len() as u64,
        acceptance_unmapped: tests.iter().filter(|t| t.milestone.is_none()).count() as u64,
        acceptance_error,
        ground_truth_tampered: matches!(&acc.sealed, Some((_, Some(_)))),
        tamper_evidence: acc
            .sealed
            .as_ref()
            .and_then(|(_, t)| t.as_ref())
            .map(TamperEvidence::summary),
        acceptance_left_out: acc.sealed.as_ref().map(|(n, _)| *n).unwrap_or(0),
        paths_skipped: acc.paths_skipped.len() as u64,
        paths_skipped_detail: acc
            .paths_skipped
            .iter()
            .map(|(path, (during, reason))| format!("{path} ({during}): {reason}\n"))
            .collect(),
        milestones_total: acc.milestone_order.len() as u64,
        milestones_passed: rounds_to_pass.len() as u64,
        rounds: acc.rounds.len() as u64,
        rounds_to_pass_max: rounds_to_pass.values().copied().max(),
        features: acc.planned_features,
        fix_features: acc.fix_features.values().sum(),
        findings_blocking: count(Severity::Blocking),
        findings_non_blocking: count(Severity::NonBlocking),
        findings_suggestion: count(Severity::Suggestion),
        plan_violations: acc.plan_violations,
        user_questions: acc.user_questions,
        agent_runs: acc.runs.len() as u64,
        runs_orchestrator: runs_by_role.get(&Role::Orchestrator).copied().unwrap_or(0),
        runs_worker: runs_by_role.get(&Role::Worker).copied().unwrap_or(0),
        runs_scrutiny: runs_by_role.get(&Role::Scrutiny).copied().unwrap_or(0),
        runs_user_testing: runs_by_role.get(&Role::UserTesting).copied().unwrap_or(0),
        runs_subagent: runs_by_role.get(&Role::Subagent).copied().unwrap_or(0),
        turns,
        tool_calls,
        malformed_calls: malformed,
        recovered_calls: recovered,
        model_retries,
        sandbox_denials,
        limits_hit,
        input_tokens: totals.input,
        cache_read_tokens: totals.cache_read,
        cache_write_tokens: totals.cache_write,
        output_tokens: totals.output,
        usage_source: source_label(&sources),
        tokens_orchestrator: tokens_by_role
            .get(&Role::Orchestrator)
            .copied()
            .unwrap_or(0),
        tokens_worker: tokens_by_role.get(&Role::Worker).copied().unwrap_or(0),
        tokens_scrutiny: tokens_by_role.get(&Role::Scrutiny).copied().unwrap_or(0),
        tokens_user_testing: tokens_by_role.get(&Role::UserTesting).copied().unwrap_or(0),
        tokens_subagent: tokens_by_role.get(&Role::Subagent).copied().unwrap_or(0),
        wall_ms_orchestrator: wall_by_role
            .get(&Role::Orchestrator)
            .copied()
            .unwrap_or(0.0),
        wall_ms_worker: wall_by_role.get(&Role::Worker).copied().unwrap_or(0.0),
        wall_ms_scrutiny: wall_by_role.get(&Role::Scrutiny).copied().unwrap_or(0.0),
        wall_ms_user_testing: wall_by_role.get(&Role::UserTesting).copied().unwrap_or(0.0),
        wall_ms_subagent: wall_by_role.get(&Role::Subagent).copied().unwrap_or(0.0),
        cost_usd: strict_sum(all_costs),
        files_src: acc.lines.0,
        lines_src: acc.lines.1,
        files_test: acc.lines.2,
        lines_test: acc.lines.3,
        coverage_pct,
        coverage_error,
        mutation_score: mutation.and_then(|m| m.score),
        mutants_total: mutation.map(|m| m.total),
        mutants_killed: mutation.map(|m| m.killed),
        mutants_survived: mutation.map(|m| m.survived),
        mutants_timed_out: mutation.map(|m| m.timed_out),
        mutation_error: mutation.and_then(|m| m.error.clone()),
        false_green: acc
            .milestone_order
            .iter()
            .filter(|m| false_green(m))
            .count() as u64,
        false_red: acc.milestone_order.iter().filter(|m| false_red(m)).count() as u64,
        tdd_share: (tdd_both > 0).then(|| tdd_yes as f64 / tdd_both as f64),
        wall_ms,
        started_at_ms: acc.started_at_ms,
    });
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A mission's records: started, `events` in order, finished.
    pub(crate) fn mission_records(events: Vec<Event>) -> Vec<EventRecord> {
        let key = MissionKey {
            suite: "tiny".into(),
            mission: crate::spec::MissionId::new("greet"),
            pairing: "oracle".into(),
            repeat: 0,
        };
        let started = Event::MissionStarted {
            mission_hash: "h".into(),
            models: BTreeMap::new(),
            workspace: "w".into(),
        };
        let finished = Event::MissionFinished {
            status: crate::events::MissionStatus::Passed,
            halt_reason: None,
            detail: String::new(),
            duration_ms: 1.0,
        };
        std::iter::once(started)
            .chain(events)
            .chain(std::iter::once(finished))
            .enumerate()
            .map(|(seq, event)| EventRecord {
                v: 1,
                seq: seq as u64,
                time_ms: 0,
                mission: Some(key.clone()),
                event,
            })
            .collect()
    }

    #[test]
    fn skipped_paths_are_counted_once_each() {
        let skipped = |during: &str, paths: &[&str]| Event::PathsSkipped {
            during: during.into(),
            paths: paths
                .iter()
                .map(|p| crate::events::SkippedPath {
                    path: p.to_string(),
                    reason: "a socket".into(),
                })
                .collect(),
        };
        let records = mission_records(vec![
            skipped("acceptance", &["pipe", "sock"]),
            skipped("coverage", &["pipe", "sock"]),
            skipped("record", &["pipe", "sock", "deep/x"]),
        ]);
        let tables = fold("run", &records);
        let row = &tables.missions[0];
        assert_eq!(row.paths_skipped, 3);
        assert_eq!(
            row.paths_skipped_detail,
            "deep/x (record): a socket\npipe (acceptance): a socket\nsock (acceptance): a socket\n"
        );
        let none = fold("run", &mission_records(Vec::new()));
        assert_eq!(none.missions[0].paths_skipped, 0);
        assert!(none.missions[0].paths_skipped_detail.is_empty());
    }

    #[test]
    fn strict_sums_are_unknown_when_a_part_is() {
        assert_eq!(strict_sum([Some(1u64), Some(2)]), Some(3));
        assert_eq!(strict_sum([Some(1u64), None]), None);
        assert_eq!(strict_sum(Vec::<Option<u64>>::new()), Some(0));
    }

    #[test]
    fn tampered_ground_truth_and_left_out_paths_reach_the_missions_row() {
        use crate::events::{LeftOut, OutcomeChange, TamperEvidence};
        use crate::spec::MissionId;
        let key = MissionKey {
            suite: "core".into(),
            mission: MissionId::new("wordfreq"),
            pairing: "p".into(),
            repeat: 0,
        };
        let record = |seq: u64, event: Event| EventRecord {
            v: crate::events::EVENTS_VERSION,
            seq,
            time_ms: 0,
            mission: Some(key.clone()),
            event,
        };
        let left_out = |path: &str| LeftOut {
            path: path.into(),
            why: "a pytest plugin (conftest.py)".into(),
            machinery: true,
        };
        let events = vec![
            record(
                1,
                Event::MissionStarted {
                    mission_hash: "h".into(),
                    models: BTreeMap::new(),
                    workspace: "w".into(),
                },
            ),
            record(
                2,
                Event::AcceptanceSealed {
                    runner: "pytest".into(),
                    left_out: vec![left_out("conftest.py"), left_out("pytest.ini")],
                    ran_as_is: true,
                    tampered: Some(TamperEvidence {
                        files: vec!["conftest.py".into()],
                        tests: vec![OutcomeChange {
                            id: "acceptance.test_a::t".into(),
                            sealed: Some(TestStatus::Failed),
                            as_is: Some(TestStatus::Passed),
                        }],
                        runner: Vec::new(),
                        attempts: Vec::new(),
                    }),
                },
            ),
            record(
                3,
                Event::AcceptanceFinished {
                    tests: vec![TestResult {
                        id: "acceptance.test_a::t".into(),
                        milestone: None,
                        status: TestStatus::Failed,
                    }],
                    exit_code: Some(1),
                    timed_out: false,
                    duration_ms: 1.0,
                    error: None,
                },
            ),
        ];
        let tables = fold("r", &events);
        let row = &tables.missions[0];
        assert!(row.ground_truth_tampered);
        assert_eq!(row.acceptance_left_out, 2);
        assert_eq!(
            row.tamper_evidence.as_deref(),
            Some("1 test changed outcome with the workspace's own test machinery (acceptance.test_a::t); files: conftest.py")
        );
        let honest = fold("r", &events[..1]);
        assert!(!honest.missions[0].ground_truth_tampered);
        assert_eq!(honest.missions[0].tamper_evidence, None);
    }

    fn record(seq: u64, mission: &str, event: Event) -> EventRecord {
        EventRecord {
            v: 1,
            seq,
            time_ms: 0,
            mission: Some(MissionKey {
                suite: "core".to_string(),
                mission: crate::spec::MissionId::new(mission),
                pairing: "oracle".to_string(),
                repeat: 0,
            }),
            event,
        }
    }

    fn mutation(score: Option<f64>, killed: u64, survived: u64, error: Option<&str>) -> Event {
        Event::MutationMeasured {
            tool: "builtin".to_string(),
            score,
            candidates: 40,
            sampled: 10,
            mutants_total: killed + survived + 1,
            killed,
            survived,
            timed_out: 2,
            not_viable: 1,
            baseline_ms: 500.0,
            duration_ms: 5000.0,
            error: error.map(str::to_string),
            survivors: Vec::new(),
        }
    }

    #[test]
    fn mutation_scores_fold_into_the_missions_row() {
        let records = [
            record(1, "scored", mutation(Some(0.75), 6, 2, None)),
            record(
                2,
                "unjudged",
                mutation(None, 0, 0, Some("the mission's own tests fail")),
            ),
            record(
                3,
                "unmeasured",
                Event::LinesCounted {
                    source_files: 1,
                    source_lines: 10,
                    test_files: 1,
                    test_lines: 5,
                },
            ),
        ];
        let tables = fold("run", &records);
        let row = |mission: &str| {
            tables
                .missions
                .iter()
                .find(|m| m.mission == mission)
                .cloned()
                .unwrap()
        };
        let scored = row("scored");
        assert_eq!(scored.mutation_score, Some(0.75));
        assert_eq!(
            (
                scored.mutants_total,
                scored.mutants_killed,
                scored.mutants_survived,
                scored.mutants_timed_out
            ),
            (Some(9), Some(6), Some(2), Some(2))
        );
        assert_eq!(scored.mutation_error, None);
        let unjudged = row("unjudged");
        assert_eq!(unjudged.mutation_score, None);
        assert_eq!(unjudged.mutants_total, Some(1));
        assert_eq!(
            unjudged.mutation_error.as_deref(),
            Some("the mission's own tests fail")
        );
        // A mission without `[mutation]` has unknown counts, never zeros.
        let unmeasured = row("unmeasured");
        assert_eq!(
            (
                unmeasured.mutation_score,
                unmeasured.mutants_total,
                unmeasured.mutants_killed,
                unmeasured.mutation_error
            ),
            (None, None, None, None)
        );
        assert_eq!(scored.schema_version, 6);
    }
}
