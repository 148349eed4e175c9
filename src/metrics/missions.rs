//! The missions table: one row per mission run, from the mission-wide facts (who played, what
//! the harness measured as ground truth, how the mission ended) and the sums over its agent runs,
//! rounds and findings.

use std::collections::BTreeMap;

use crate::events::{ModelRef, SkippedPath, TamperEvidence, TestResult, TestStatus};
use crate::spec::{Role, Severity};
use crate::tools::NoticeKind;

use super::judgement::Judgement;
use super::runs::RunTotals;
use super::{source_label, strict_sum, usage_sums, MissionAcc, MissionRow, SCHEMA_VERSION};

/// The acceptance tests' results, from `AcceptanceFinished`.
pub(super) struct Acceptance {
    pub(super) tests: Vec<TestResult>,
    pub(super) error: Option<String>,
}

/// How the sealed acceptance run was set up, from `AcceptanceSealed`.
struct Sealed {
    /// Paths the sealed tree left out.
    left_out: u64,
    tampered: Option<TamperEvidence>,
}

/// What `CoverageMeasured` reports.
struct Coverage {
    percent: Option<f64>,
    error: Option<String>,
}

/// What a mission's `MutationMeasured` event puts in its row.
pub(super) struct MutationFold {
    pub(super) score: Option<f64>,
    pub(super) total: u64,
    pub(super) killed: u64,
    pub(super) survived: u64,
    pub(super) timed_out: u64,
    pub(super) error: Option<String>,
}

/// Files and lines of the final workspace, from `LinesCounted`; zeros until counted.
#[derive(Default)]
pub(super) struct LineCounts {
    pub(super) source_files: u64,
    pub(super) source_lines: u64,
    pub(super) test_files: u64,
    pub(super) test_lines: u64,
}

/// Where a path was first skipped by a copy or the record, and why.
struct FirstSkip {
    during: String,
    reason: String,
}

/// How the mission ended, from `MissionFinished`.
struct Finished {
    status: String,
    halt_reason: Option<String>,
    detail: String,
    wall_ms: f64,
}

/// What the harness measured after the mission, whatever the agents said.
#[derive(Default)]
pub(super) struct GroundTruth {
    acceptance: Option<Acceptance>,
    sealed: Option<Sealed>,
    coverage: Option<Coverage>,
    pub(super) mutation: Option<MutationFold>,
    pub(super) lines: LineCounts,
    /// Distinct paths that a copy or the record left out, by path.
    paths_skipped: BTreeMap<String, FirstSkip>,
}

impl GroundTruth {
    pub(super) fn acceptance(&self) -> Option<&Acceptance> {
        self.acceptance.as_ref()
    }

    pub(super) fn acceptance_finished(&mut self, tests: &[TestResult], error: Option<&String>) {
        self.acceptance = Some(Acceptance {
            tests: tests.to_vec(),
            error: error.cloned(),
        });
    }

    pub(super) fn sealed(&mut self, left_out: usize, tampered: Option<&TamperEvidence>) {
        self.sealed = Some(Sealed {
            left_out: left_out as u64,
            tampered: tampered.cloned(),
        });
    }

    pub(super) fn coverage_measured(&mut self, percent: Option<f64>, error: Option<&String>) {
        self.coverage = Some(Coverage {
            percent,
            error: error.cloned(),
        });
    }

    /// Keeps the first place and reason each path was skipped.
    pub(super) fn paths_skipped(&mut self, during: &str, paths: &[SkippedPath]) {
        for skipped in paths {
            self.paths_skipped
                .entry(skipped.path.clone())
                .or_insert_with(|| FirstSkip {
                    during: during.to_string(),
                    reason: skipped.reason.clone(),
                });
        }
    }

    fn tamper_evidence(&self) -> Option<&TamperEvidence> {
        self.sealed.as_ref().and_then(|s| s.tampered.as_ref())
    }

    fn paths_skipped_detail(&self) -> String {
        self.paths_skipped
            .iter()
            .map(|(path, skip)| format!("{path} ({}): {}\n", skip.during, skip.reason))
            .collect()
    }
}

/// Mission-wide facts: who played, the harness's own counts, the ground truth, the end.
#[derive(Default)]
pub(super) struct MissionFacts {
    started_at_ms: i64,
    mission_hash: String,
    difficulty: Option<String>,
    language: Option<String>,
    tags: String,
    models: BTreeMap<Role, String>,
    pub(super) user_questions: u64,
    pub(super) plan_violations: u64,
    /// Sandbox notices of the harness's own commands (no agent run).
    harness_denials: u64,
    harness_limits: u64,
    pub(super) ground_truth: GroundTruth,
    finished: Option<Finished>,
    /// Where a counterfactual replay left its record.
    pub(super) replay_diverged: Option<String>,
}

impl MissionFacts {
    pub(super) fn started(
        &mut self,
        time_ms: i64,
        mission_hash: &str,
        models: &BTreeMap<Role, ModelRef>,
    ) {
        self.started_at_ms = time_ms;
        self.mission_hash = mission_hash.to_string();
        self.models = models
            .iter()
            .map(|(role, m)| (*role, m.name.clone()))
            .collect();
    }

    /// The mission's own description from `mission.toml`.
    pub(super) fn describe(
        &mut self,
        difficulty: &Option<String>,
        language: &Option<String>,
        tags: &[String],
    ) {
        self.difficulty = difficulty.clone();
        self.language = language.clone();
        self.tags = tags.join(",");
    }

    pub(super) fn harness_notice(&mut self, kind: NoticeKind) {
        self.harness_denials += u64::from(kind.is_denial());
        self.harness_limits += u64::from(kind.is_limit());
    }

    pub(super) fn finished(
        &mut self,
        status: &str,
        halt_reason: Option<&str>,
        detail: &str,
        duration_ms: f64,
    ) {
        self.finished = Some(Finished {
            status: status.to_string(),
            halt_reason: halt_reason.map(str::to_string),
            detail: detail.to_string(),
            wall_ms: duration_ms,
        });
    }

    fn model(&self, role: Role) -> String {
        self.models.get(&role).cloned().unwrap_or_default()
    }
}

/// The acceptance columns of the missions row: every test, mapped to a milestone or not.
struct AcceptanceCounts {
    passed: u64,
    failed: u64,
    skipped: u64,
    total: u64,
    unmapped: u64,
}

impl AcceptanceCounts {
    fn of(tests: &[TestResult]) -> AcceptanceCounts {
        let with_status =
            |status: TestStatus| tests.iter().filter(|t| t.status == status).count() as u64;
        AcceptanceCounts {
            passed: with_status(TestStatus::Passed),
            failed: with_status(TestStatus::Failed),
            skipped: with_status(TestStatus::Skipped),
            total: tests.len() as u64,
            unmapped: tests.iter().filter(|t| t.milestone.is_none()).count() as u64,
        }
    }
}

/// The missions table's row of one mission.
///
/// One field per column of the row, each computed above or by a helper, so the function is
/// about as long as the row is wide.
pub(super) fn mission_row(acc: &MissionAcc, judgement: &Judgement<'_>) -> MissionRow {
    let key = &acc.key;
    let facts = &acc.mission;
    let ground_truth = &facts.ground_truth;
    let milestones = &acc.milestones;
    let runs = RunTotals::of(&acc.runs);
    let tokens = usage_sums(&runs.usages);
    let finished = facts.finished.as_ref();
    let acceptance = ground_truth.acceptance.as_ref();
    let tests = AcceptanceCounts::of(acceptance.map_or(&[][..], |a| &a.tests));
    let coverage = ground_truth.coverage.as_ref();
    let mutation = ground_truth.mutation.as_ref();
    let lines = &ground_truth.lines;
    MissionRow {
        schema_version: SCHEMA_VERSION,
        run_id: key.run_id.clone(),
        suite: key.suite.clone(),
        mission: key.mission.clone(),
        pairing: key.pairing.clone(),
        repeat: key.repeat,
        model_orchestrator: facts.model(Role::Orchestrator),
        model_worker: facts.model(Role::Worker),
        model_scrutiny: facts.model(Role::Scrutiny),
        model_user_testing: facts.model(Role::UserTesting),
        model_subagent: facts.model(Role::Subagent),
        mission_hash: facts.mission_hash.clone(),
        difficulty: facts.difficulty.clone(),
        language: facts.language.clone(),
        tags: facts.tags.clone(),
        status: finished.map_or("unfinished", |f| &f.status).to_string(),
        halt_reason: finished.and_then(|f| f.halt_reason.clone()),
        halt_detail: finished
            .map_or("the mission has no end event", |f| &f.detail)
            .to_string(),
        acceptance_passed: tests.passed,
        acceptance_failed: tests.failed,
        acceptance_skipped: tests.skipped,
        acceptance_total: tests.total,
        acceptance_unmapped: tests.unmapped,
        acceptance_error: acceptance.and_then(|a| a.error.clone()),
        ground_truth_tampered: ground_truth.tamper_evidence().is_some(),
        tamper_evidence: ground_truth.tamper_evidence().map(TamperEvidence::summary),
        acceptance_left_out: ground_truth.sealed.as_ref().map_or(0, |s| s.left_out),
        paths_skipped: ground_truth.paths_skipped.len() as u64,
        paths_skipped_detail: ground_truth.paths_skipped_detail(),
        milestones_total: milestones.order.len() as u64,
        milestones_passed: judgement.milestones_passed(),
        rounds: milestones.rounds.len() as u64,
        rounds_to_pass_max: judgement.rounds_to_pass_max(),
        features: milestones.planned_features,
        fix_features: milestones.fix_features_total(),
        findings_blocking: milestones.findings_of(Severity::Blocking),
        findings_non_blocking: milestones.findings_of(Severity::NonBlocking),
        findings_suggestion: milestones.findings_of(Severity::Suggestion),
        plan_violations: facts.plan_violations,
        user_questions: facts.user_questions,
        agent_runs: runs.runs,
        runs_orchestrator: runs.runs_by_role.of(Role::Orchestrator),
        runs_worker: runs.runs_by_role.of(Role::Worker),
        runs_scrutiny: runs.runs_by_role.of(Role::Scrutiny),
        runs_user_testing: runs.runs_by_role.of(Role::UserTesting),
        runs_subagent: runs.runs_by_role.of(Role::Subagent),
        turns: runs.turns,
        tool_calls: runs.tool_calls,
        malformed_calls: runs.malformed,
        recovered_calls: runs.recovered,
        model_retries: runs.model_retries,
        sandbox_denials: facts.harness_denials + runs.denials,
        limits_hit: facts.harness_limits + runs.limits_hit,
        input_tokens: tokens.input,
        cache_read_tokens: tokens.cache_read,
        cache_write_tokens: tokens.cache_write,
        output_tokens: tokens.output,
        usage_source: source_label(&runs.sources),
        tokens_orchestrator: runs.tokens_by_role.of(Role::Orchestrator),
        tokens_worker: runs.tokens_by_role.of(Role::Worker),
        tokens_scrutiny: runs.tokens_by_role.of(Role::Scrutiny),
        tokens_user_testing: runs.tokens_by_role.of(Role::UserTesting),
        tokens_subagent: runs.tokens_by_role.of(Role::Subagent),
        wall_ms_orchestrator: runs.wall_ms_by_role.of(Role::Orchestrator),
        wall_ms_worker: runs.wall_ms_by_role.of(Role::Worker),
        wall_ms_scrutiny: runs.wall_ms_by_role.of(Role::Scrutiny),
        wall_ms_user_testing: runs.wall_ms_by_role.of(Role::UserTesting),
        wall_ms_subagent: runs.wall_ms_by_role.of(Role::Subagent),
        cost_usd: strict_sum(runs.costs.iter().copied()),
        files_src: lines.source_files,
        lines_src: lines.source_lines,
        files_test: lines.test_files,
        lines_test: lines.test_lines,
        coverage_pct: coverage.and_then(|c| c.percent),
        coverage_error: coverage.and_then(|c| c.error.clone()),
        mutation_score: mutation.and_then(|m| m.score),
        mutants_total: mutation.map(|m| m.total),
        mutants_killed: mutation.map(|m| m.killed),
        mutants_survived: mutation.map(|m| m.survived),
        mutants_timed_out: mutation.map(|m| m.timed_out),
        mutation_error: mutation.and_then(|m| m.error.clone()),
        false_green: count_milestones(&milestones.order, |m| judgement.false_green(m)),
        false_red: count_milestones(&milestones.order, |m| judgement.false_red(m)),
        tdd_share: runs.tdd_share(),
        wall_ms: finished.map_or(0.0, |f| f.wall_ms),
        started_at_ms: facts.started_at_ms,
        replay_diverged: facts.replay_diverged.clone(),
    }
}

fn count_milestones(order: &[String], holds: impl Fn(&str) -> bool) -> u64 {
    order.iter().filter(|m| holds(m)).count() as u64
}
