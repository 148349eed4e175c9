//! The rows of the five report tables. These are the stable schema readers rely on: flat
//! columns, `schema_version` in every row, null where a number is unknown (never zero).

/// Bumped whenever a column is added, removed or changes meaning.
pub const SCHEMA_VERSION: u32 = 10;

crate::table_rows! {
/// One mission x pairing x repeat.
pub struct MissionRow in "missions" {
    pub schema_version: u32,
    pub run_id: String,
    pub suite: String,
    pub mission: String,
    pub pairing: String,
    pub repeat: u32,
    pub model_orchestrator: String,
    pub model_worker: String,
    pub model_scrutiny: String,
    pub model_user_testing: String,
    pub model_subagent: String,
    pub mission_hash: String,
    /// The mission's `difficulty` (micro, small, medium, large) and `language` from its
    /// mission.toml; null in runs recorded before they were.
    pub difficulty: Option<String>,
    pub language: Option<String>,
    /// The mission's tags, comma-separated.
    pub tags: String,
    pub status: String,
    pub halt_reason: Option<String>,
    pub halt_detail: String,
    pub acceptance_passed: u64,
    pub acceptance_failed: u64,
    pub acceptance_skipped: u64,
    pub acceptance_total: u64,
    /// Acceptance tests that map to no milestone (a suite defect).
    pub acceptance_unmapped: u64,
    pub acceptance_error: Option<String>,
    /// The agents' test machinery or code changed the acceptance verdict (the mission then
    /// counts as not passed); `tamper_evidence` says how.
    pub ground_truth_tampered: bool,
    pub tamper_evidence: Option<String>,
    /// Workspace paths the sealed acceptance run left out (runner configuration, plugins,
    /// start-up hooks, shadowing modules, caches).
    pub acceptance_left_out: u64,
    /// Distinct paths of the final workspace that the acceptance or coverage copy or the record
    /// could not take (listed in the report).
    pub paths_skipped: u64,
    /// One line per path: `path (where): why`; empty when none.
    pub paths_skipped_detail: String,
    pub milestones_total: u64,
    pub milestones_passed: u64,
    /// Validation rounds over all milestones.
    pub rounds: u64,
    /// The largest round in which a milestone first passed.
    pub rounds_to_pass_max: Option<u32>,
    pub features: u64,
    pub fix_features: u64,
    pub findings_blocking: u64,
    pub findings_non_blocking: u64,
    pub findings_suggestion: u64,
    pub plan_violations: u64,
    pub user_questions: u64,
    pub agent_runs: u64,
    pub runs_orchestrator: u64,
    pub runs_worker: u64,
    pub runs_scrutiny: u64,
    pub runs_user_testing: u64,
    pub runs_subagent: u64,
    pub turns: u64,
    pub tool_calls: u64,
    /// Malformed and unknown-tool calls.
    pub malformed_calls: u64,
    /// Calls the model did not write in its own tool-call format, which the harness recovered
    /// (a fenced block, a bare object, a missing closing tag, Python inside the JSON), and which
    /// were neither malformed nor unknown. `tool_calls - malformed_calls - recovered_calls` were
    /// valid as written.
    pub recovered_calls: u64,
    /// Model calls retried or restarted after a fault (remote models).
    pub model_retries: u64,
    /// Refusals of the sandbox and the file tools, the harness's own commands included.
    pub sandbox_denials: u64,
    /// Resource limits hit (memory, processes, file size, CPU time, disk).
    pub limits_hit: u64,
    pub input_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// `provider`, `engine`, `estimate`, or `mixed`.
    pub usage_source: String,
    pub tokens_orchestrator: u64,
    pub tokens_worker: u64,
    pub tokens_scrutiny: u64,
    pub tokens_user_testing: u64,
    pub tokens_subagent: u64,
    pub wall_ms_orchestrator: f64,
    pub wall_ms_worker: f64,
    pub wall_ms_scrutiny: f64,
    pub wall_ms_user_testing: f64,
    pub wall_ms_subagent: f64,
    pub cost_usd: Option<f64>,
    pub files_src: u64,
    pub files_test: u64,
    pub lines_src: u64,
    pub lines_test: u64,
    pub coverage_pct: Option<f64>,
    pub coverage_error: Option<String>,
    /// Killed over viable mutants of the product under the agents' own tests; null without
    /// `[mutation]`, or when no mutant could be judged (`mutation_error` says why).
    pub mutation_score: Option<f64>,
    /// Mutants tested: killed + survived + not viable (a mutant that could not be written or run).
    pub mutants_total: Option<u64>,
    pub mutants_killed: Option<u64>,
    pub mutants_survived: Option<u64>,
    /// Killed because the tests ran past the mutant's time limit (among `mutants_killed`).
    pub mutants_timed_out: Option<u64>,
    pub mutation_error: Option<String>,
    pub false_green: u64,
    pub false_red: u64,
    /// Share of worker runs that wrote a test file before any source file (of those that wrote both).
    pub tdd_share: Option<f64>,
    pub wall_ms: f64,
    pub started_at_ms: i64,
    /// Where a counterfactual replay left its record (`run N (recording R run M turn T): why`);
    /// null when the mission ran live or stayed on its record to the end.
    pub replay_diverged: Option<String>,
}

/// One milestone x validation round.
pub struct MilestoneRow in "milestones" {
    pub schema_version: u32,
    pub run_id: String,
    pub suite: String,
    pub mission: String,
    pub pairing: String,
    pub repeat: u32,
    pub milestone: String,
    /// 1-based position of the milestone in the contract.
    pub milestone_index: u32,
    pub round: u32,
    pub passed: bool,
    pub open_blocking: u64,
    pub findings_blocking: u64,
    pub findings_non_blocking: u64,
    pub findings_suggestion: u64,
    /// The user-testing validator's `pass` verdicts in this round on the milestone's own
    /// assertions. Up to schema 9 this counted the round's verdicts on every assertion,
    /// earlier milestones' included.
    pub verdicts_pass: u64,
    /// Its `fail` verdicts on the milestone's own assertions (an assertion it gave no verdict
    /// on counts as failed); up to schema 9, on every assertion checked.
    pub verdicts_fail: u64,
    /// The validator's `pass` verdicts in this round on earlier milestones' assertions, which
    /// every round checks again. Null in tables of schema 9 and earlier.
    pub regression_pass: Option<u64>,
    /// Its `fail` verdicts on earlier milestones' assertions; null in tables of schema 9 and
    /// earlier.
    pub regression_fail: Option<u64>,
    pub mechanical_pass: u64,
    pub mechanical_fail: u64,
    /// Assertions of this milestone.
    pub assertions_total: u64,
    pub fix_features_planned: u64,
    /// The round in which the milestone first passed; the same on every row of the milestone.
    pub rounds_to_pass: Option<u32>,
    pub acceptance_passed: u64,
    pub acceptance_total: u64,
    pub acceptance_ok: Option<bool>,
    /// Validators passed the milestone, acceptance fails it (same on every row of the milestone).
    pub false_green: bool,
    /// Validators failed the milestone in its last round, acceptance passes it.
    pub false_red: bool,
}

/// One agent run.
pub struct RunRow in "runs" {
    pub schema_version: u32,
    pub run_id: String,
    pub suite: String,
    pub mission: String,
    pub pairing: String,
    pub repeat: u32,
    pub agent_run: u32,
    pub parent_agent_run: Option<u32>,
    pub role: String,
    pub model: String,
    pub provider: String,
    pub task: String,
    pub milestone: Option<String>,
    pub feature: Option<String>,
    pub round: Option<u32>,
    /// The seed the run's model session was given (local models sample from it; remote
    /// servers are not sent it).
    pub seed: Option<u64>,
    /// The temperature the run's model samples at: a local model's (0 is greedy), a remote
    /// model's `params.temperature`; null where unknown or not sampled.
    pub temperature: Option<f64>,
    pub outcome: String,
    pub turns: u32,
    pub tool_calls: u64,
    pub tool_errors: u64,
    pub malformed_calls: u64,
    pub unknown_tool_calls: u64,
    /// Calls recovered from outside the model's own tool-call format that were neither
    /// malformed nor unknown (see the missions table).
    pub recovered_calls: u64,
    pub plan_violations: u64,
    pub no_tool_call_turns: u64,
    pub input_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    pub usage_source: String,
    pub cost_usd: Option<f64>,
    pub wall_ms: f64,
    pub model_ms: f64,
    pub tool_ms: f64,
    pub files_written: u64,
    pub test_files_written: u64,
    pub source_files_written: u64,
    /// Whether the first test-file write came before the first source-file write (workers that
    /// wrote both).
    pub tests_before_source: Option<bool>,
    pub commands_run: u64,
    pub commands_failed: u64,
    pub commands_timed_out: u64,
    pub output_dropped_bytes: u64,
    /// Paths refused by file tools and operations the sandbox refused in commands.
    pub sandbox_denials: u64,
    /// Resource limits hit (memory, processes, file size, CPU time, disk).
    pub limits_hit: u64,
    /// Command outputs and file reads cut at their cap.
    pub truncations: u64,
    /// Model calls retried or restarted after a fault (remote models).
    pub model_retries: u64,
    /// Load time of the run's model (local models; null for providers that load nothing).
    pub model_load_ms: Option<f64>,
    /// Resident memory the model added when it loaded.
    pub model_resident_bytes: Option<u64>,
    pub started_at_ms: i64,
    /// A run served from a recorded run (`<recorded run id> run N`) rather than by its model;
    /// null for a run a model made in this run.
    pub replayed_from: Option<String>,
}

/// One model call.
pub struct TurnRow in "turns" {
    pub schema_version: u32,
    pub run_id: String,
    pub suite: String,
    pub mission: String,
    pub pairing: String,
    pub repeat: u32,
    pub agent_run: u32,
    pub role: String,
    pub model: String,
    pub turn: u32,
    pub context_messages: u32,
    /// Every input token of the call, cached ones included.
    pub input_tokens: Option<u64>,
    /// Input tokens not served from a cache.
    pub new_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    pub usage_source: String,
    pub cost_usd: Option<f64>,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub prefill_tokens_per_s: Option<f64>,
    pub decode_tokens_per_s: Option<f64>,
    pub tool_calls: u32,
    pub stop_reason: String,
    /// The provider's usage object as JSON text.
    pub raw_usage: Option<String>,
    /// Faults survived on the way to this answer; latency and ttft include them.
    pub retries: u32,
    pub time_ms: i64,
}

/// One assertion x validation round.
pub struct AssertionRow in "assertions" {
    pub schema_version: u32,
    pub run_id: String,
    pub suite: String,
    pub mission: String,
    pub pairing: String,
    pub repeat: u32,
    pub assertion: String,
    /// The milestone the assertion belongs to.
    pub milestone: String,
    /// The milestone whose validation round checked it (later milestones recheck earlier assertions).
    pub checked_in: String,
    pub round: u32,
    pub verify: String,
    /// `pass` / `fail` from the user-testing validator.
    pub validator_status: Option<String>,
    /// `pass` / `fail` / `not_applicable` from the harness's own run of the command.
    pub mechanical_status: String,
    pub passed: bool,
    /// Acceptance result of the assertion's milestone: `pass` / `fail`, null when no tests ran.
    pub acceptance_status: Option<String>,
    /// The evidence files the verdict and the harness's browser check of this round cite
    /// (screenshots, network summaries), relative to the report folder and joined by ", " in
    /// the order cited; a cited id with no saved file stays as the bare id. Empty when none.
    pub evidence: String,
}

}

/// The five tables of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tables {
    pub missions: Vec<MissionRow>,
    pub milestones: Vec<MilestoneRow>,
    pub runs: Vec<RunRow>,
    pub turns: Vec<TurnRow>,
    pub assertions: Vec<AssertionRow>,
}
