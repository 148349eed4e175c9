//! The runs table: one accumulator per agent run, filled from the run's own events, its row,
//! and the sums over a mission's runs that the missions row reports.

use std::collections::{BTreeMap, BTreeSet};

use crate::events::{AgentOutcome, CallStatus, FileClass};
use crate::model::{CallTiming, ModelStats, Usage, UsageSource};
use crate::spec::Role;
use crate::tools::NoticeKind;

use super::{source_label, strict_sum, usage_sums, RowKey, RunRow, SCHEMA_VERSION};

/// Who an agent run is and what it was given to do, from its `AgentStarted` event.
#[derive(Default)]
pub(super) struct RunIdentity {
    pub(super) parent: Option<u32>,
    pub(super) role: Option<Role>,
    pub(super) model: String,
    pub(super) provider: String,
    pub(super) task: String,
    pub(super) milestone: Option<String>,
    pub(super) feature: Option<String>,
    pub(super) round: Option<u32>,
    pub(super) seed: Option<u64>,
    pub(super) temperature: Option<f64>,
    pub(super) started_at_ms: i64,
    /// The recorded run it was served from, for a replayed run.
    pub(super) replayed_from: Option<String>,
}

/// One agent run as its events describe it.
#[derive(Default)]
pub(super) struct RunAcc {
    pub(super) identity: RunIdentity,
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
    pub(super) plan_violations: u64,
    pub(super) no_tool_call: u64,
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
    pub(super) model_retries: u64,
}

/// What a `ToolCalled` event adds to its run.
pub(super) struct ToolCallFacts {
    pub(super) status: CallStatus,
    pub(super) duration_ms: f64,
    pub(super) file_class: Option<FileClass>,
    /// How the command the call ran ended; `None` when the call ran no command.
    pub(super) command: Option<CommandExit>,
    pub(super) recovered: bool,
}

/// How a tool call's command ended.
pub(super) struct CommandExit {
    pub(super) exit_code: Option<i32>,
    pub(super) timed_out: bool,
    pub(super) dropped_bytes: u64,
}

impl RunAcc {
    /// The run's role; a run whose start was never seen counts as a subagent's.
    pub(super) fn role(&self) -> Role {
        self.identity.role.unwrap_or(Role::Subagent)
    }

    pub(super) fn add_turn(&mut self, usage: &Usage, cost_usd: Option<f64>, timing: &CallTiming) {
        self.usages.push(usage.clone());
        self.costs.push(cost_usd);
        self.model_ms += timing.latency_ms;
    }

    /// Counts one tool call; `seq` is its event's, which orders test and source writes.
    pub(super) fn tool_called(&mut self, seq: u64, call: &ToolCallFacts) {
        self.tool_calls += 1;
        self.tool_ms += call.duration_ms;
        self.count_status(call.status, call.recovered);
        if let Some(class) = call.file_class {
            self.count_file(class, seq);
        }
        if let Some(exit) = &call.command {
            self.count_command(exit);
        }
    }

    fn count_status(&mut self, status: CallStatus, recovered: bool) {
        match status {
            CallStatus::Ok => {}
            CallStatus::Malformed => self.malformed += 1,
            CallStatus::UnknownTool => self.unknown += 1,
            CallStatus::Refused | CallStatus::Failed => self.tool_errors += 1,
            CallStatus::PlanViolation => {}
        }
        // A recovered call that still failed as malformed or unknown counts as malformed
        // only: the three kinds (valid, recovered, malformed) partition the calls.
        if recovered && !matches!(status, CallStatus::Malformed | CallStatus::UnknownTool) {
            self.recovered += 1;
        }
    }

    fn count_file(&mut self, class: FileClass, seq: u64) {
        self.files_written += 1;
        match class {
            FileClass::Test => {
                self.test_files += 1;
                self.first_test_seq.get_or_insert(seq);
            }
            FileClass::Source => {
                self.source_files += 1;
                self.first_source_seq.get_or_insert(seq);
            }
            FileClass::Other => {}
        }
    }

    fn count_command(&mut self, exit: &CommandExit) {
        self.commands_run += 1;
        if exit.timed_out {
            self.commands_timed_out += 1;
        }
        if exit.timed_out || exit.exit_code != Some(0) {
            self.commands_failed += 1;
        }
        self.dropped_bytes += exit.dropped_bytes;
    }

    pub(super) fn sandbox_notice(&mut self, kind: NoticeKind) {
        self.denials += u64::from(kind.is_denial());
        self.limits_hit += u64::from(kind.is_limit());
        self.truncations += u64::from(kind.is_truncation());
    }

    pub(super) fn finish(&mut self, outcome: AgentOutcome, turns: u32, duration_ms: f64) {
        self.outcome = Some(outcome);
        self.turns = turns;
        self.wall_ms = duration_ms;
    }

    /// Whether the run wrote its first test file before its first source file; unknown unless
    /// it wrote both.
    fn tests_before_source(&self) -> Option<bool> {
        match (self.first_test_seq, self.first_source_seq) {
            (Some(test), Some(source)) => Some(test < source),
            _ => None,
        }
    }

    fn sources(&self) -> BTreeSet<UsageSource> {
        self.usages.iter().map(|u| u.source).collect()
    }
}

/// The runs table's rows of one mission, in run number order.
pub(super) fn runs_rows(
    key: &RowKey,
    runs: &BTreeMap<u32, RunAcc>,
    models: &BTreeMap<String, ModelStats>,
) -> Vec<RunRow> {
    runs.iter()
        .map(|(agent_run, run)| run_row(key, *agent_run, run, models.get(&run.identity.model)))
        .collect()
}

fn run_row(key: &RowKey, agent_run: u32, run: &RunAcc, model: Option<&ModelStats>) -> RunRow {
    let totals = usage_sums(&run.usages);
    let identity = &run.identity;
    RunRow {
        schema_version: SCHEMA_VERSION,
        run_id: key.run_id.clone(),
        suite: key.suite.clone(),
        mission: key.mission.clone(),
        pairing: key.pairing.clone(),
        repeat: key.repeat,
        agent_run,
        parent_agent_run: identity.parent,
        role: run.role().as_str().to_string(),
        model: identity.model.clone(),
        provider: identity.provider.clone(),
        task: identity.task.clone(),
        milestone: identity.milestone.clone(),
        feature: identity.feature.clone(),
        round: identity.round,
        seed: identity.seed,
        temperature: identity.temperature,
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
        usage_source: source_label(&run.sources()),
        cost_usd: strict_sum(run.costs.iter().copied()),
        wall_ms: run.wall_ms,
        model_ms: run.model_ms,
        tool_ms: run.tool_ms,
        files_written: run.files_written,
        test_files_written: run.test_files,
        source_files_written: run.source_files,
        tests_before_source: run.tests_before_source(),
        commands_run: run.commands_run,
        commands_failed: run.commands_failed,
        commands_timed_out: run.commands_timed_out,
        output_dropped_bytes: run.dropped_bytes,
        sandbox_denials: run.denials,
        limits_hit: run.limits_hit,
        truncations: run.truncations,
        model_retries: run.model_retries,
        model_load_ms: model.and_then(|m| m.load_ms),
        model_resident_bytes: model.and_then(|m| m.resident_bytes),
        started_at_ms: identity.started_at_ms,
        replayed_from: identity.replayed_from.clone(),
    }
}

/// Values summed per role; a role without runs has the default.
#[derive(Default)]
pub(super) struct RoleSums<T> {
    by_role: BTreeMap<Role, T>,
}

impl<T: Copy + Default + std::ops::AddAssign> RoleSums<T> {
    fn add(&mut self, role: Role, value: T) {
        *self.by_role.entry(role).or_default() += value;
    }

    pub(super) fn of(&self, role: Role) -> T {
        self.by_role.get(&role).copied().unwrap_or_default()
    }
}

/// A mission's runs summed up for its row.
#[derive(Default)]
pub(super) struct RunTotals {
    pub(super) runs: u64,
    pub(super) runs_by_role: RoleSums<u64>,
    pub(super) tokens_by_role: RoleSums<u64>,
    pub(super) wall_ms_by_role: RoleSums<f64>,
    pub(super) sources: BTreeSet<UsageSource>,
    /// Every turn's usage and cost, run by run.
    pub(super) usages: Vec<Usage>,
    pub(super) costs: Vec<Option<f64>>,
    pub(super) turns: u64,
    pub(super) tool_calls: u64,
    /// Malformed calls and calls of unknown tools.
    pub(super) malformed: u64,
    pub(super) recovered: u64,
    pub(super) model_retries: u64,
    pub(super) denials: u64,
    pub(super) limits_hit: u64,
    /// Worker runs that wrote both test and source files, and those of them that wrote a test
    /// file first.
    tdd_both: u64,
    tdd_tests_first: u64,
}

impl RunTotals {
    pub(super) fn of(runs: &BTreeMap<u32, RunAcc>) -> RunTotals {
        let mut totals = RunTotals::default();
        for run in runs.values() {
            totals.add(run);
        }
        totals
    }

    fn add(&mut self, run: &RunAcc) {
        let role = run.role();
        self.runs += 1;
        self.runs_by_role.add(role, 1);
        self.tokens_by_role
            .add(role, run.usages.iter().map(Usage::total).sum::<u64>());
        self.wall_ms_by_role.add(role, run.wall_ms);
        self.sources.extend(run.sources());
        self.usages.extend(run.usages.iter().cloned());
        self.costs.extend(run.costs.iter().copied());
        self.turns += u64::from(run.turns);
        self.tool_calls += run.tool_calls;
        self.malformed += run.malformed + run.unknown;
        self.recovered += run.recovered;
        self.model_retries += run.model_retries;
        self.denials += run.denials;
        self.limits_hit += run.limits_hit;
        if role == Role::Worker {
            if let Some(tests_first) = run.tests_before_source() {
                self.tdd_both += 1;
                self.tdd_tests_first += u64::from(tests_first);
            }
        }
    }

    /// The share of worker runs that wrote a test file first, of those that wrote both.
    pub(super) fn tdd_share(&self) -> Option<f64> {
        (self.tdd_both > 0).then(|| self.tdd_tests_first as f64 / self.tdd_both as f64)
    }
}
