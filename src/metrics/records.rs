//! The rows of the five report tables. These are the stable schema readers rely on: flat
//! columns, `schema_version` in every row, null where a number is unknown (never zero).

/// Bumped whenever a column is added, removed or changes meaning.
pub const SCHEMA_VERSION: u32 = 10;

crate::table_rows! {
/// One mission x pairing x repeat.
pub struct MissionRow in "missions" {
    /// The version of this schema (`SCHEMA_VERSION` in `src/metrics/records.rs`); the same in
    /// every row.
    pub schema_version: u32,
    /// The run: the name of its report folder.
    pub run_id: String,
    /// The suite's `name`.
    pub suite: String,
    /// The mission's id.
    pub mission: String,
    /// The pairing's name (which model plays each role).
    pub pairing: String,
    /// Which mission run of this mission and pairing, from 0.
    pub repeat: u32,
    /// The model that plays the orchestrator; empty when the mission's start names none.
    pub model_orchestrator: String,
    /// The model that plays the worker; empty when none is named.
    pub model_worker: String,
    /// The model that plays scrutiny (the code reviewer); empty when none is named.
    pub model_scrutiny: String,
    /// The model that plays the user-testing validator; empty when none is named.
    pub model_user_testing: String,
    /// The model that plays subagents; empty when none is named.
    pub model_subagent: String,
    /// Hash of the mission's folder as run, hidden files included (`check` gates only runs
    /// whose hashes match).
    pub mission_hash: String,
    /// The mission's `difficulty` (micro, small, medium, large) from its mission.toml; null in
    /// runs recorded before missions carried it.
    pub difficulty: Option<String>,
    /// The mission's `language` from its mission.toml; null in runs recorded before missions
    /// carried it.
    pub language: Option<String>,
    /// The mission's tags, comma-separated; empty when it has none.
    pub tags: String,
    /// `passed` (every milestone passed validation and every acceptance test passed, nothing
    /// tampered), `failed` (validation passed, acceptance did not), `halted` (stopped early),
    /// `error` (infrastructure) or `interrupted` (stopped with Ctrl-C); `unfinished` when the
    /// journal has no end for the mission (the process was killed).
    pub status: String,
    /// Why the mission stopped early: `no_plan`, `max_rounds`, `max_tokens`, `max_cost`,
    /// `max_wall_time`, `max_fix_features`, `blocked`, `no_fixes`, `orchestrator_halt`,
    /// `replay_diverged`, `interrupted`, or for an `error` `environment_setup_failed`,
    /// `backend_unavailable`, `harness_error`; null when it did not stop early.
    pub halt_reason: Option<String>,
    /// The halt or the end in words (`the mission has no end event` when unfinished); empty
    /// when there is nothing to say.
    pub halt_detail: String,
    /// Hidden acceptance tests that passed on the sealed tree; 0 when acceptance did not run.
    pub acceptance_passed: u64,
    /// Acceptance tests that failed.
    pub acceptance_failed: u64,
    /// Acceptance tests that were skipped.
    pub acceptance_skipped: u64,
    /// Acceptance tests reported: passed + failed + skipped.
    pub acceptance_total: u64,
    /// Acceptance tests that map to no milestone (a suite defect), among acceptance_total.
    pub acceptance_unmapped: u64,
    /// Why acceptance could not run or its results could not be read; null when it ran.
    pub acceptance_error: Option<String>,
    /// The agents' test machinery or code changed the acceptance verdict (the mission then
    /// counts as not passed); `tamper_evidence` says how.
    pub ground_truth_tampered: bool,
    /// How the verdict was tampered with: the runner's changes, the tests that changed
    /// outcome, the files and the attempts; null when it was not.
    pub tamper_evidence: Option<String>,
    /// Workspace paths the sealed acceptance run left out (runner configuration, plugins,
    /// start-up hooks, shadowing modules, caches).
    pub acceptance_left_out: u64,
    /// Distinct paths of the final workspace that the acceptance or coverage copy or the record
    /// could not take (listed in the report).
    pub paths_skipped: u64,
    /// One line per path: `path (where): why`; empty when none.
    pub paths_skipped_detail: String,
    /// Milestones of the contract (the last one the orchestrator wrote); 0 without a contract.
    pub milestones_total: u64,
    /// Milestones that passed a validation round, among milestones_total.
    pub milestones_passed: u64,
    /// Validation rounds that ended, over all milestones: the mission's rows of the milestones
    /// table.
    pub rounds: u64,
    /// The largest round in which a milestone first passed; null when none passed.
    pub rounds_to_pass_max: Option<u32>,
    /// Features of the orchestrator's first plan.
    pub features: u64,
    /// Fix features the orchestrator planned after failed rounds.
    pub fix_features: u64,
    /// Blocking findings raised over all rounds (by scrutiny, by user testing for each failed
    /// verdict, by the harness for each failed check, and for each worker that did not
    /// finish), rounds that never ended included.
    pub findings_blocking: u64,
    /// Non-blocking findings raised over all rounds.
    pub findings_non_blocking: u64,
    /// Suggestions raised over all rounds.
    pub findings_suggestion: u64,
    /// Planning tool calls refused because they broke the plan's rules.
    pub plan_violations: u64,
    /// Questions the agents asked the user.
    pub user_questions: u64,
    /// Agent runs: the mission's rows of the runs table.
    pub agent_runs: u64,
    /// Agent runs of the orchestrator.
    pub runs_orchestrator: u64,
    /// Agent runs of the worker.
    pub runs_worker: u64,
    /// Agent runs of scrutiny.
    pub runs_scrutiny: u64,
    /// Agent runs of the user-testing validator.
    pub runs_user_testing: u64,
    /// Agent runs of subagents (and runs whose start was not recorded).
    pub runs_subagent: u64,
    /// Model calls over all agent runs (the sum of the runs table's `turns`).
    pub turns: u64,
    /// Tool calls run over all agent runs.
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
    /// Resource limits hit (memory, processes, file size, CPU time, disk, file count), the
    /// harness's own commands included.
    pub limits_hit: u64,
    /// Input tokens of every model call, cached ones included; null when any call did not
    /// report them.
    pub input_tokens: Option<u64>,
    /// Input tokens read from a cache, over every call; null when any call did not report them.
    pub cache_read_tokens: Option<u64>,
    /// Input tokens written to a provider's prompt cache, over every call; null when any call
    /// did not report them.
    pub cache_write_tokens: Option<u64>,
    /// Output tokens of every model call; null when any call did not report them.
    pub output_tokens: Option<u64>,
    /// Where the token numbers came from: `provider`, `engine`, `estimate`, `mixed`, or `none`
    /// (no model call).
    pub usage_source: String,
    /// Input + output tokens of the orchestrator's calls, a number a call did not report
    /// counted as 0 (what budgets count).
    pub tokens_orchestrator: u64,
    /// Input + output tokens of the worker's calls, unreported numbers counted as 0.
    pub tokens_worker: u64,
    /// Input + output tokens of scrutiny's calls, unreported numbers counted as 0.
    pub tokens_scrutiny: u64,
    /// Input + output tokens of the user-testing validator's calls, unreported numbers
    /// counted as 0.
    pub tokens_user_testing: u64,
    /// Input + output tokens of subagents' calls, unreported numbers counted as 0.
    pub tokens_subagent: u64,
    /// Wall time of the orchestrator's agent runs, summed.
    pub wall_ms_orchestrator: f64,
    /// Wall time of the worker's agent runs, summed.
    pub wall_ms_worker: f64,
    /// Wall time of scrutiny's agent runs, summed.
    pub wall_ms_scrutiny: f64,
    /// Wall time of the user-testing validator's agent runs, summed.
    pub wall_ms_user_testing: f64,
    /// Wall time of subagents' runs, summed (they run inside their parent's tool call).
    pub wall_ms_subagent: f64,
    /// Cost in USD of every model call at the configured prices; null when any call has no
    /// cost (no price, or usage a price cannot use).
    pub cost_usd: Option<f64>,
    /// Source files of the final workspace (the mission's `[lines] source` globs); 0 when not
    /// counted.
    pub files_src: u64,
    /// Test files of the final workspace (the `[lines] tests` globs); 0 when not counted.
    pub files_test: u64,
    /// Lines of those source files.
    pub lines_src: u64,
    /// Lines of those test files.
    pub lines_test: u64,
    /// Line coverage of the product by the agents' own tests, 0 to 100; null without
    /// `[coverage]` or when it could not be measured (`coverage_error` says why).
    pub coverage_pct: Option<f64>,
    /// Why coverage could not be measured; null when it was, or was not asked for.
    pub coverage_error: Option<String>,
    /// Killed over viable mutants of the product under the agents' own tests, 0 to 1; null
    /// without `[mutation]`, or when no mutant could be judged (`mutation_error` says why).
    pub mutation_score: Option<f64>,
    /// Mutants tested: killed + survived + not viable (a mutant that could not be written or
    /// run); null without `[mutation]`.
    pub mutants_total: Option<u64>,
    /// Mutants the agents' tests killed; null without `[mutation]`.
    pub mutants_killed: Option<u64>,
    /// Mutants the agents' tests let survive; null without `[mutation]`.
    pub mutants_survived: Option<u64>,
    /// Killed because the tests ran past the mutant's time limit (among `mutants_killed`);
    /// null without `[mutation]`.
    pub mutants_timed_out: Option<u64>,
    /// Why the mutation score could not be measured; null when it was, or was not asked for.
    pub mutation_error: Option<String>,
    /// Milestones the validators passed in their last round that acceptance fails.
    pub false_green: u64,
    /// Milestones the validators failed in their last round that acceptance passes.
    pub false_red: u64,
    /// Share of worker runs that wrote a test file before any source file, of those that wrote
    /// both, 0 to 1; null when no worker run wrote both.
    pub tdd_share: Option<f64>,
    /// Wall time of the mission run, from its start to its end; 0 when unfinished.
    pub wall_ms: f64,
    /// When the mission run started, in Unix milliseconds.
    pub started_at_ms: i64,
    /// Where a counterfactual replay left its record (`run N (recording R run M turn T): why`);
    /// null when the mission ran live or stayed on its record to the end.
    pub replay_diverged: Option<String>,
}

/// One milestone x validation round.
pub struct MilestoneRow in "milestones" {
    /// The version of this schema (`SCHEMA_VERSION` in `src/metrics/records.rs`); the same in
    /// every row.
    pub schema_version: u32,
    /// The run: the name of its report folder.
    pub run_id: String,
    /// The suite's `name`.
    pub suite: String,
    /// The mission's id.
    pub mission: String,
    /// The pairing's name (which model plays each role).
    pub pairing: String,
    /// Which mission run of this mission and pairing, from 0.
    pub repeat: u32,
    /// The milestone's id.
    pub milestone: String,
    /// 1-based position of the milestone in the contract; 0 when the contract does not list it.
    pub milestone_index: u32,
    /// The validation round, from 1; a failed round is followed by fixes and the next round,
    /// until the milestone passes or the rounds run out.
    pub round: u32,
    /// No blocking finding of the milestone was open at the round's end.
    pub passed: bool,
    /// Blocking findings of the milestone open at the round's end, this round's and earlier.
    pub open_blocking: u64,
    /// Blocking findings raised in this round of the milestone (by scrutiny, by user testing
    /// for each failed verdict, own or regression, by the harness for each failed check, and
    /// for each worker that did not finish).
    pub findings_blocking: u64,
    /// Non-blocking findings raised in this round of the milestone.
    pub findings_non_blocking: u64,
    /// Suggestions raised in this round of the milestone.
    pub findings_suggestion: u64,
    /// The user-testing validator's `pass` verdicts in this round on the milestone's own
    /// assertions. Up to schema 9 this counted the round's verdicts on every assertion,
    /// earlier milestones' included.
    pub verdicts_pass: u64,
    /// Its `fail` verdicts on the milestone's own assertions (an assertion its report left
    /// without a verdict counts as failed); up to schema 9, on every assertion checked. With
    /// verdicts_pass it makes assertions_total.
    pub verdicts_fail: u64,
    /// The validator's `pass` verdicts in this round on earlier milestones' assertions, which
    /// every round checks again (regression checks). Null in tables of schema 9 and earlier.
    pub regression_pass: Option<u64>,
    /// Its `fail` verdicts on earlier milestones' assertions. With regression_pass it makes
    /// the assertions of the milestones before this one. Null in tables of schema 9 and
    /// earlier.
    pub regression_fail: Option<u64>,
    /// The harness's own checks in this round of the milestone's `command` and `browser`
    /// assertions that passed (it checks only the milestone's own: there is no regression
    /// count of them).
    pub mechanical_pass: u64,
    /// The harness's own checks of the milestone's assertions that failed in this round.
    pub mechanical_fail: u64,
    /// Assertions of this milestone in the contract.
    pub assertions_total: u64,
    /// Fix features the orchestrator planned after this round, for the next.
    pub fix_features_planned: u64,
    /// The round in which the milestone first passed; the same on every row of the milestone;
    /// null when it never passed.
    pub rounds_to_pass: Option<u32>,
    /// Acceptance tests mapped to this milestone that passed; 0 when acceptance did not run.
    pub acceptance_passed: u64,
    /// Acceptance tests mapped to this milestone.
    pub acceptance_total: u64,
    /// Whether every acceptance test of the milestone passed; null when acceptance did not run
    /// or maps no test to the milestone.
    pub acceptance_ok: Option<bool>,
    /// Validators passed the milestone in its last round, acceptance fails it (same on every
    /// row of the milestone).
    pub false_green: bool,
    /// Validators failed the milestone in its last round, acceptance passes it (same on every
    /// row of the milestone).
    pub false_red: bool,
}

/// One agent run.
pub struct RunRow in "runs" {
    /// The version of this schema (`SCHEMA_VERSION` in `src/metrics/records.rs`); the same in
    /// every row.
    pub schema_version: u32,
    /// The run: the name of its report folder.
    pub run_id: String,
    /// The suite's `name`.
    pub suite: String,
    /// The mission's id.
    pub mission: String,
    /// The pairing's name (which model plays each role).
    pub pairing: String,
    /// Which mission run of this mission and pairing, from 0.
    pub repeat: u32,
    /// The agent run's number within its mission run, from 1 (transcripts and events use
    /// it).
    pub agent_run: u32,
    /// The run that spawned this subagent; null for a run the lifecycle started.
    pub parent_agent_run: Option<u32>,
    /// `orchestrator`, `worker`, `scrutiny`, `user_testing` or `subagent` (also a run whose
    /// start was not recorded).
    pub role: String,
    /// The model's name in the config.
    pub model: String,
    /// The model's provider: `oracle`, `nop`, `candle`, `openai`, `anthropic` or `replay`.
    pub provider: String,
    /// `plan`, `implement` (a fix feature too), `review`, `user_test`, `fix` (planning fixes)
    /// or `investigate` (a subagent's).
    pub task: String,
    /// The milestone the run works on; null for the plan and subagents.
    pub milestone: Option<String>,
    /// The feature the run implements or reviews; null for other tasks.
    pub feature: Option<String>,
    /// The validation round the run belongs to; null for the plan and subagents.
    pub round: Option<u32>,
    /// The seed the run's model session was given (local models sample from it; remote
    /// servers are not sent it); null in runs recorded before seeds were.
    pub seed: Option<u64>,
    /// The temperature the run's model samples at: a local model's (0 is greedy), a remote
    /// model's `params.temperature`; null where unknown or not sampled.
    pub temperature: Option<f64>,
    /// How the run ended: `finished`, `blocked`, `halted`, `turn_limit`, `malformed_limit`,
    /// `no_tool_call_limit`, `budget_exhausted`, `context_length`, `backend_error`,
    /// `interrupted`, `harness_error`; `unfinished` when the journal has no end for it.
    pub outcome: String,
    /// Model calls the run made, a last call that failed without a reply included; 0 when
    /// unfinished.
    pub turns: u32,
    /// Tool calls run (a call after one that ended the run is answered but not run).
    pub tool_calls: u64,
    /// Calls the tool refused or that failed.
    pub tool_errors: u64,
    /// Calls whose arguments could not be read.
    pub malformed_calls: u64,
    /// Calls of a tool the role does not have.
    pub unknown_tool_calls: u64,
    /// Calls recovered from outside the model's own tool-call format that were neither
    /// malformed nor unknown (see the missions table).
    pub recovered_calls: u64,
    /// Planning tool calls refused because they broke the plan's rules.
    pub plan_violations: u64,
    /// Replies without a tool call.
    pub no_tool_call_turns: u64,
    /// Input tokens of the run's calls, cached ones included; null when any call did not
    /// report them.
    pub input_tokens: Option<u64>,
    /// Input tokens read from a cache; null when any call did not report them.
    pub cache_read_tokens: Option<u64>,
    /// Input tokens written to a provider's prompt cache; null when any call did not report
    /// them.
    pub cache_write_tokens: Option<u64>,
    /// Output tokens; null when any call did not report them.
    pub output_tokens: Option<u64>,
    /// Output tokens spent on reasoning, as providers report them; null when any call did not.
    pub reasoning_tokens: Option<u64>,
    /// `provider`, `engine`, `estimate`, `mixed`, or `none` (no model call).
    pub usage_source: String,
    /// Cost in USD of the run's calls; null when any call has no cost.
    pub cost_usd: Option<f64>,
    /// Wall time of the run, from its start to its end; 0 when unfinished.
    pub wall_ms: f64,
    /// Latency of its model calls, summed.
    pub model_ms: f64,
    /// Duration of its tool calls, summed (a subagent's run inside one included).
    pub tool_ms: f64,
    /// File writes by its tools.
    pub files_written: u64,
    /// Writes to test files (the mission's `[lines] tests` globs), among files_written.
    pub test_files_written: u64,
    /// Writes to source files (the `[lines] source` globs), among files_written.
    pub source_files_written: u64,
    /// Whether the first test-file write came before the first source-file write; null
    /// unless the run wrote both.
    pub tests_before_source: Option<bool>,
    /// Commands its tools ran.
    pub commands_run: u64,
    /// Commands that timed out or exited other than 0, among commands_run.
    pub commands_failed: u64,
    /// Commands that timed out, among commands_failed.
    pub commands_timed_out: u64,
    /// Command output dropped past the output cap, in bytes.
    pub output_dropped_bytes: u64,
    /// Paths refused by file tools and operations the sandbox refused in commands.
    pub sandbox_denials: u64,
    /// Resource limits hit (memory, processes, file size, CPU time, disk, file count).
    pub limits_hit: u64,
    /// Command outputs and file reads cut at their cap.
    pub truncations: u64,
    /// Model calls retried or restarted after a fault (remote models).
    pub model_retries: u64,
    /// Load time of the run's model (local models); null for providers that load nothing.
    pub model_load_ms: Option<f64>,
    /// Resident memory the model added when it loaded; null for providers that load nothing.
    pub model_resident_bytes: Option<u64>,
    /// When the run started, in Unix milliseconds.
    pub started_at_ms: i64,
    /// A run served from a recorded run (`<recorded run id> run N`) rather than by its model;
    /// null for a run a model made in this run.
    pub replayed_from: Option<String>,
}

/// One model call.
pub struct TurnRow in "turns" {
    /// The version of this schema (`SCHEMA_VERSION` in `src/metrics/records.rs`); the same in
    /// every row.
    pub schema_version: u32,
    /// The run: the name of its report folder.
    pub run_id: String,
    /// The suite's `name`.
    pub suite: String,
    /// The mission's id.
    pub mission: String,
    /// The pairing's name (which model plays each role).
    pub pairing: String,
    /// Which mission run of this mission and pairing, from 0.
    pub repeat: u32,
    /// The agent run that made the call.
    pub agent_run: u32,
    /// Its run's role; empty when the run's start was not recorded.
    pub role: String,
    /// Its run's model; empty when the run's start was not recorded.
    pub model: String,
    /// The call's number within its run, from 1.
    pub turn: u32,
    /// Messages of the conversation sent with the call.
    pub context_messages: u32,
    /// Every input token of the call, cached ones included; null when not reported.
    pub input_tokens: Option<u64>,
    /// Input tokens not served from a cache: the engine's prefill count, else input_tokens -
    /// cache_read_tokens; null when neither is known.
    pub new_tokens: Option<u64>,
    /// Input tokens read from a cache; null when not reported.
    pub cache_read_tokens: Option<u64>,
    /// Input tokens written to a provider's prompt cache; null when not reported.
    pub cache_write_tokens: Option<u64>,
    /// Output tokens; null when not reported.
    pub output_tokens: Option<u64>,
    /// Output tokens spent on reasoning; null when not reported.
    pub reasoning_tokens: Option<u64>,
    /// Where the numbers came from: `provider`, `engine` or `estimate`.
    pub usage_source: String,
    /// Cost in USD at the configured price; null without a price or when the usage lacks
    /// input or output tokens.
    pub cost_usd: Option<f64>,
    /// From the request to the whole reply, retries included.
    pub latency_ms: f64,
    /// From the request to the first token; null when not measured.
    pub ttft_ms: Option<f64>,
    /// Prefill speed the engine or server reported; null when not reported.
    pub prefill_tokens_per_s: Option<f64>,
    /// Decode speed the engine or server reported; null when not reported.
    pub decode_tokens_per_s: Option<f64>,
    /// Tool calls in the reply (the runs table counts those run).
    pub tool_calls: u32,
    /// `end_turn`, `tool_calls`, `max_tokens`, or the server's own word.
    pub stop_reason: String,
    /// The provider's usage object as JSON text; null when it sent none.
    pub raw_usage: Option<String>,
    /// Faults survived on the way to this answer; latency and ttft include them.
    pub retries: u32,
    /// When the reply was recorded, in Unix milliseconds.
    pub time_ms: i64,
}

/// One assertion x validation round.
pub struct AssertionRow in "assertions" {
    /// The version of this schema (`SCHEMA_VERSION` in `src/metrics/records.rs`); the same in
    /// every row.
    pub schema_version: u32,
    /// The run: the name of its report folder.
    pub run_id: String,
    /// The suite's `name`.
    pub suite: String,
    /// The mission's id.
    pub mission: String,
    /// The pairing's name (which model plays each role).
    pub pairing: String,
    /// Which mission run of this mission and pairing, from 0.
    pub repeat: u32,
    /// The assertion's id.
    pub assertion: String,
    /// The milestone the assertion belongs to (the checking milestone when the contract does
    /// not list it).
    pub milestone: String,
    /// The milestone whose validation round checked it (later milestones recheck earlier
    /// assertions).
    pub checked_in: String,
    /// The round of `checked_in` in which it was checked.
    pub round: u32,
    /// How it is verified: `command`, `agent` or `browser`.
    pub verify: String,
    /// `pass` / `fail` from the user-testing validator (an assertion its report left without
    /// a verdict is `fail`); never null in tables this harness writes.
    pub validator_status: Option<String>,
    /// `pass` / `fail` from the harness's own run of the assertion's check in this round;
    /// `not_applicable` when it made none (an `agent` assertion, an earlier milestone's, or a
    /// `command` assertion without a command).
    pub mechanical_status: String,
    /// The validator passed it and the harness's check did not fail it.
    pub passed: bool,
    /// Acceptance result of the assertion's milestone: `pass` / `fail`; null when acceptance
    /// did not run or maps no test to the milestone.
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
