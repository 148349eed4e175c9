//! Typed events: everything a run does is one [`Event`], stamped with a sequence number, a time
//! and the mission it belongs to, and sent to [`EventSink`]s. `events.jsonl` is the record of a
//! run; the metrics fold turns it into tables, and the CLI's progress display is another sink.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::model::secret::Redactor;
use crate::model::{CallTiming, ModelStats, StopReason, Usage};
use crate::spec::{
    Assertion, Feature, FeatureId, Finding, Milestone, MilestoneId, MissionId, Role,
};
use crate::tools::NoticeKind;

/// Version of the event format, written in every record.
pub const EVENTS_VERSION: u32 = 1;

/// One mission run: a mission under one pairing, one repeat.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MissionKey {
    pub suite: String,
    pub mission: MissionId,
    pub pairing: String,
    pub repeat: u32,
}

impl MissionKey {
    /// A file-name-safe label: `wordfreq.oracle.r0`. One path component whatever a journal
    /// says: a mission id from a damaged or crafted journal cannot reach another folder.
    pub fn slug(&self) -> String {
        let clean = |text: &str, keep_dots: bool| -> String {
            text.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' || (keep_dots && c == '.')
                    {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        format!(
            "{}.{}.r{}",
            clean(self.mission.as_str(), true),
            clean(&self.pairing, false),
            self.repeat
        )
    }
}

/// Where a counterfactual replay left its record, in words: `<recording> run N turn T`.
pub fn replay_place(recording: &str, recorded_run: Option<u32>, turn: Option<u32>) -> String {
    let mut place = recording.to_string();
    if let Some(recorded) = recorded_run {
        place.push_str(&format!(" run {recorded}"));
    }
    if let Some(turn) = turn {
        place.push_str(&format!(" turn {turn}"));
    }
    place
}

impl fmt::Display for MissionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}] #{}", self.mission, self.pairing, self.repeat)
    }
}

/// How a mission ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissionStatus {
    /// Every milestone passed validation and every acceptance test passed.
    Passed,
    /// Every milestone passed validation, but hidden acceptance tests failed.
    Failed,
    /// The mission stopped before every milestone passed; `halt_reason` says why.
    Halted,
    /// The infrastructure failed, not the models; `halt_reason` says how.
    Error,
    /// The run was stopped (Ctrl-C) before the mission ended; neither a model's failure nor
    /// the infrastructure's.
    Interrupted,
}

impl MissionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MissionStatus::Passed => "passed",
            MissionStatus::Failed => "failed",
            MissionStatus::Halted => "halted",
            MissionStatus::Interrupted => "interrupted",
            MissionStatus::Error => "error",
        }
    }
}

/// Why a mission stopped early. The first group are the models' doing, the last three the
/// infrastructure's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HaltReason {
    /// The orchestrator ended without a valid contract and plan.
    NoPlan,
    /// A milestone failed validation in its last allowed round.
    MaxRounds,
    MaxTokens,
    MaxCost,
    MaxWallTime,
    /// Work was blocked and the orchestrator planned nothing to resolve it.
    Blocked,
    /// The orchestrator planned no fix for a failed milestone.
    NoFixes,
    /// The orchestrator called `halt`.
    OrchestratorHalt,
    /// Fixing a milestone would take more fix features than the budget allows.
    MaxFixFeatures,
    EnvironmentSetupFailed,
    BackendUnavailable,
    HarnessError,
    /// The user stopped the run.
    Interrupted,
    /// A counterfactual replay left its record and was told to halt there.
    ReplayDiverged,
}

impl HaltReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HaltReason::NoPlan => "no_plan",
            HaltReason::MaxRounds => "max_rounds",
            HaltReason::MaxTokens => "max_tokens",
            HaltReason::MaxCost => "max_cost",
            HaltReason::MaxWallTime => "max_wall_time",
            HaltReason::Blocked => "blocked",
            HaltReason::NoFixes => "no_fixes",
            HaltReason::OrchestratorHalt => "orchestrator_halt",
            HaltReason::MaxFixFeatures => "max_fix_features",
            HaltReason::EnvironmentSetupFailed => "environment_setup_failed",
            HaltReason::BackendUnavailable => "backend_unavailable",
            HaltReason::HarnessError => "harness_error",
            HaltReason::Interrupted => "interrupted",
            HaltReason::ReplayDiverged => "replay_diverged",
        }
    }

    pub fn is_infrastructure(self) -> bool {
        matches!(
            self,
            HaltReason::EnvironmentSetupFailed
                | HaltReason::BackendUnavailable
                | HaltReason::HarnessError
        )
    }
}

/// How one agent run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentOutcome {
    /// Called its final tool.
    Finished,
    /// Called `blocked`.
    Blocked,
    /// Called `halt` (orchestrator).
    Halted,
    TurnLimit,
    /// Too many malformed or unknown tool calls in a row.
    MalformedLimit,
    /// Too many answers without a tool call in a row.
    NoToolCallLimit,
    /// The mission's token, cost or time budget ran out during the run.
    BudgetExhausted,
    ContextLength,
    BackendError,
    /// The run was stopped while this agent was working.
    Interrupted,
    /// The harness failed while it handled one of the agent's tool calls.
    HarnessError,
}

impl AgentOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentOutcome::Finished => "finished",
            AgentOutcome::Blocked => "blocked",
            AgentOutcome::Halted => "halted",
            AgentOutcome::TurnLimit => "turn_limit",
            AgentOutcome::MalformedLimit => "malformed_limit",
            AgentOutcome::NoToolCallLimit => "no_tool_call_limit",
            AgentOutcome::BudgetExhausted => "budget_exhausted",
            AgentOutcome::ContextLength => "context_length",
            AgentOutcome::BackendError => "backend_error",
            AgentOutcome::Interrupted => "interrupted",
            AgentOutcome::HarnessError => "harness_error",
        }
    }
}

/// What a tool call came to, as counted per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    Ok,
    /// The arguments were not valid JSON, or did not match the schema.
    Malformed,
    /// No tool of that name is offered to this role.
    UnknownTool,
    Refused,
    Failed,
    PlanViolation,
}

/// What a file a worker wrote counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileClass {
    Test,
    Source,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictStatus {
    Pass,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    Passed,
    Failed,
    Skipped,
}

/// A workspace path the sealed acceptance tree left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    pub path: String,
    pub why: String,
    /// Whether it could have changed the verdict (test-runner machinery, rather than a cache or a
    /// path the suite declares is not product).
    pub machinery: bool,
}

/// A test whose outcome differs between the sealed run and the run on the workspace as the
/// agents left it; `None` where the run did not report the test at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeChange {
    pub id: String,
    pub sealed: Option<TestStatus>,
    pub as_is: Option<TestStatus>,
}

/// Why a mission's ground truth counts as tampered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TamperEvidence {
    /// The left-out files that changed the verdict.
    pub files: Vec<String>,
    /// Tests that passed only with the agents' machinery, or that it added or hid.
    pub tests: Vec<OutcomeChange>,
    /// What code from the workspace did to the test runner in the sealed run itself.
    pub runner: Vec<String>,
    /// Left-out paths no honest mission writes, whatever their effect (start-up hooks, a file at
    /// the report's path, runner files written outside the workspace).
    #[serde(default)]
    pub attempts: Vec<String>,
}

impl TamperEvidence {
    /// One line for tables and terminals.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.runner.is_empty() {
            parts.push(self.runner.join("; "));
        }
        if !self.tests.is_empty() {
            let first: Vec<&str> = self.tests.iter().take(3).map(|t| t.id.as_str()).collect();
            let more = self.tests.len().saturating_sub(first.len());
            parts.push(format!(
                "{} test{} changed outcome with the workspace's own test machinery ({}{})",
                self.tests.len(),
                if self.tests.len() == 1 { "" } else { "s" },
                first.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ));
        }
        if !self.files.is_empty() {
            parts.push(format!("files: {}", self.files.join(", ")));
        }
        if !self.attempts.is_empty() {
            parts.push(format!("attempted: {}", self.attempts.join(", ")));
        }
        parts.join("; ")
    }
}

/// A path a copy of the workspace or its record could not take, and why. The path is as a
/// person reads it: invalid UTF-8 replaced, control characters escaped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedPath {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// `classname::name`.
    pub id: String,
    pub milestone: Option<MilestoneId>,
    pub status: TestStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    pub name: String,
    pub provider: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The mission runs this run will make (after sharding, and without those a resumed run
    /// kept).
    RunPlanned {
        mission_runs: u64,
    },
    EnvironmentReady {
        hash: String,
        reused: bool,
        duration_ms: f64,
    },
    EnvironmentFailed {
        hash: String,
        message: String,
    },
    /// A model of the run was loaded (once per run, before any mission).
    ModelLoaded {
        name: String,
        provider: String,
        stats: ModelStats,
    },
    MissionStarted {
        mission_hash: String,
        models: BTreeMap<Role, ModelRef>,
        workspace: String,
        /// The mission's `difficulty`, `language` and `tags` (journals before them have none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        difficulty: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
    },
    AgentStarted {
        run: u32,
        parent: Option<u32>,
        role: Role,
        model: String,
        provider: String,
        task: String,
        milestone: Option<MilestoneId>,
        feature: Option<FeatureId>,
        round: Option<u32>,
        /// The seed the run's model session was given (journals before it have none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
        /// The temperature the run's model samples at, where the config says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        temperature: Option<f64>,
    },
    Turn {
        run: u32,
        turn: u32,
        context_messages: u32,
        usage: Usage,
        cost_usd: Option<f64>,
        timing: CallTiming,
        tool_calls: u32,
        stop: StopReason,
        /// Faults the backend survived on the way to this answer.
        #[serde(default, skip_serializing_if = "is_zero_u32")]
        retries: u32,
    },
    /// A model call failed and is tried again (`restart`: a streamed reply broke off and the
    /// turn starts over).
    ModelRetried {
        run: u32,
        turn: u32,
        attempt: u32,
        restart: bool,
        reason: String,
        wait_ms: f64,
    },
    ToolCalled {
        run: u32,
        turn: u32,
        tool: String,
        status: CallStatus,
        duration_ms: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_class: Option<FileClass>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        timed_out: bool,
        #[serde(default, skip_serializing_if = "is_zero")]
        dropped_bytes: u64,
        /// The model did not write the call in its own format; the harness recovered it (see
        /// `ToolCall::recovered`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        recovered: bool,
    },
    /// Something a tool or the sandbox refused, cut or limited: a path refused, a denial the
    /// command reported, a timeout, output dropped, a resource limit hit. `run` is absent for the
    /// harness's own commands (mechanical checks, acceptance, coverage).
    Sandbox {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn: Option<u32>,
        tool: String,
        kind: NoticeKind,
        detail: String,
    },
    /// A model answered without calling a tool and was reminded to.
    NoToolCall {
        run: u32,
        turn: u32,
    },
    AgentFinished {
        run: u32,
        outcome: AgentOutcome,
        turns: u32,
        duration_ms: f64,
        summary: String,
    },
    /// A top-level agent run ended and the mission was saved: the workspace commit after it
    /// (kept in the report folder), what the run handed back through its tools, the next run
    /// number (its subagents took some), and the mission's spend so far. A resumed run
    /// continues an interrupted mission from its last checkpoint.
    AgentCheckpoint {
        run: u32,
        outcome: AgentOutcome,
        commit: String,
        outputs: serde_json::Value,
        next_run: u32,
        tokens: u64,
        cost_usd: f64,
        elapsed_ms: f64,
    },
    /// A top-level agent run served from a recorded run instead of a model. It comes right after
    /// the served run's `AgentStarted`; the recorded run's own events around it are renumbered
    /// from `recorded_run` to `run`, and its checkpoint is this run's.
    AgentReplayed {
        run: u32,
        /// The recorded run's id (its report folder's name).
        recording: String,
        recorded_run: u32,
    },
    /// A counterfactual replay left its record: from agent run `run` on, nothing is served
    /// from `recording`. `recorded_run` and `turn` name where the record stops applying (turn 1:
    /// its inputs already differ); `detail` says why.
    ReplayDiverged {
        run: u32,
        recording: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recorded_run: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn: Option<u32>,
        detail: String,
        /// What the mission does next: `halt` or `live`; `ended` when the mission ended while
        /// its record went on.
        then: String,
    },
    UserAsked {
        run: u32,
        question: String,
        answered: bool,
    },
    PlanViolation {
        run: u32,
        tool: String,
        violations: Vec<String>,
    },
    ContractWritten {
        run: u32,
        milestones: Vec<Milestone>,
        assertions: Vec<Assertion>,
    },
    FeaturesPlanned {
        run: u32,
        /// The round after which fix features were planned; `None` for the initial plan.
        after_round: Option<u32>,
        features: Vec<Feature>,
    },
    LibraryWritten {
        run: u32,
        bytes: u64,
    },
    FindingRaised {
        run: Option<u32>,
        finding: Finding,
    },
    FindingsClosed {
        ids: Vec<String>,
        /// The finding that replaced these: a worker that did not finish the same feature again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        superseded_by: Option<String>,
    },
    VerdictReported {
        run: u32,
        milestone: MilestoneId,
        round: u32,
        assertion: String,
        status: VerdictStatus,
        evidence: String,
        /// Evidence files the verdict cites (screenshots, network summaries).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        evidence_ids: Vec<String>,
    },
    MechanicalCheck {
        milestone: MilestoneId,
        round: u32,
        assertion: String,
        passed: bool,
        exit_code: Option<i32>,
        timed_out: bool,
        duration_ms: f64,
        /// A browser check's screenshots.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        evidence_ids: Vec<String>,
    },
    /// A screenshot or network summary saved under the report's `evidence/`, by an agent run's
    /// browser tools or by the harness's browser check of an assertion.
    EvidenceSaved {
        /// The agent run; `None` for the harness's own checks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        milestone: Option<MilestoneId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        round: Option<u32>,
        /// The assertion a browser check saved it for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assertion: Option<String>,
        id: String,
        kind: crate::tools::browser::tools::EvidenceKind,
        /// Relative to the report folder.
        path: String,
        /// The page it shows.
        url: String,
        bytes: u64,
    },
    MilestoneRound {
        milestone: MilestoneId,
        round: u32,
        passed: bool,
        open_blocking: u32,
    },
    MissionHalted {
        reason: HaltReason,
        detail: String,
    },
    /// How the acceptance run was sealed from the agents' test machinery: what the sealed tree
    /// left out, whether acceptance also ran on the workspace as the agents left it, and the
    /// evidence when the verdict was tampered with. Comes right before `AcceptanceFinished`.
    AcceptanceSealed {
        runner: String,
        left_out: Vec<LeftOut>,
        ran_as_is: bool,
        tampered: Option<TamperEvidence>,
    },
    AcceptanceFinished {
        tests: Vec<TestResult>,
        exit_code: Option<i32>,
        timed_out: bool,
        duration_ms: f64,
        error: Option<String>,
    },
    CoverageMeasured {
        percent: Option<f64>,
        covered_lines: Option<u64>,
        total_lines: Option<u64>,
        error: Option<String>,
    },
    /// A folder of the harness's own (a mission's workspace, its checkpoints) could not be
    /// removed after the mission; it is left on disk.
    CleanupFailed {
        path: String,
        error: String,
    },
    /// Paths of the final workspace that a copy or the record left out (a fifo, a socket, a
    /// folder that cannot be opened). `during` is `acceptance`, `coverage` or `record` (the
    /// final diff and checkpoints).
    PathsSkipped {
        during: String,
        paths: Vec<SkippedPath>,
    },
    /// Mutants of the product judged by the agents' own tests (`[mutation]` of mission.toml).
    /// `mutants_total` were tested: `killed + survived + not_viable`; `timed_out` are among the
    /// killed. `score` is killed over viable (killed + survived), `None` when none was viable
    /// or the tests could not judge (`error` says why).
    MutationMeasured {
        tool: String,
        score: Option<f64>,
        /// Every mutant the operators could make, of which `sampled` were drawn.
        candidates: u64,
        sampled: u64,
        mutants_total: u64,
        killed: u64,
        survived: u64,
        timed_out: u64,
        not_viable: u64,
        /// The tests' run on the unmutated product.
        baseline_ms: f64,
        duration_ms: f64,
        error: Option<String>,
        /// `file:line operator: what changed`, one per surviving mutant.
        survivors: Vec<String>,
    },
    LinesCounted {
        source_files: u64,
        source_lines: u64,
        test_files: u64,
        test_lines: u64,
    },
    MissionFinished {
        status: MissionStatus,
        halt_reason: Option<HaltReason>,
        detail: String,
        duration_ms: f64,
    },
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn is_zero_u32(value: &u32) -> bool {
    *value == 0
}

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub v: u32,
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<MissionKey>,
    pub event: Event,
}

/// Receives every event of a run, in order per mission.
pub trait EventSink: Send + Sync {
    fn record(&self, record: &EventRecord);
}

/// Stamps events and hands them to the sinks. Cheap to clone; clones share the sequence.
#[derive(Clone)]
pub struct Emitter {
    sinks: Arc<Vec<Arc<dyn EventSink>>>,
    seq: Arc<AtomicU64>,
    mission: Option<MissionKey>,
    /// While set, events are dropped (a resumed mission replays what its journal already holds).
    muted: Option<Arc<AtomicBool>>,
}

impl Emitter {
    pub fn new(sinks: Vec<Arc<dyn EventSink>>) -> Emitter {
        Emitter {
            sinks: Arc::new(sinks),
            seq: Arc::new(AtomicU64::new(0)),
            mission: None,
            muted: None,
        }
    }

    /// As [`Emitter::new`], numbering from `first_seq` (a resumed run continues its journal).
    pub fn continuing(sinks: Vec<Arc<dyn EventSink>>, first_seq: u64) -> Emitter {
        let emitter = Emitter::new(sinks);
        emitter.seq.store(first_seq, Ordering::SeqCst);
        emitter
    }

    /// One [`Event::Sandbox`] per notice of a tool call or command; `run` and `turn` are absent
    /// for the harness's own commands.
    pub fn emit_notices(
        &self,
        run: Option<u32>,
        turn: Option<u32>,
        tool: &str,
        notices: impl IntoIterator<Item = crate::tools::Notice>,
    ) {
        for notice in notices {
            self.emit(Event::Sandbox {
                run,
                turn,
                tool: tool.to_string(),
                kind: notice.kind,
                detail: notice.detail,
            });
        }
    }

    /// An emitter whose events belong to `mission`.
    pub fn for_mission(&self, mission: MissionKey) -> Emitter {
        Emitter {
            mission: Some(mission),
            ..self.clone()
        }
    }

    pub fn mission(&self) -> Option<&MissionKey> {
        self.mission.as_ref()
    }

    /// An emitter that drops every event while `muted` is set.
    pub fn muted_by(&self, muted: Arc<AtomicBool>) -> Emitter {
        Emitter {
            muted: Some(muted),
            ..self.clone()
        }
    }

    pub fn emit(&self, event: Event) {
        if self
            .muted
            .as_ref()
            .is_some_and(|muted| muted.load(Ordering::SeqCst))
        {
            return;
        }
        let record = EventRecord {
            v: EVENTS_VERSION,
            seq: self.seq.fetch_add(1, Ordering::SeqCst),
            time_ms: chrono::Utc::now().timestamp_millis(),
            mission: self.mission.clone(),
            event,
        };
        for sink in self.sinks.iter() {
            sink.record(&record);
        }
    }
}

/// Appends each record to `events.jsonl` as one line and flushes it before returning.
pub struct JsonlSink {
    file: Mutex<File>,
    redactor: Redactor,
    /// The first write error; later records are not attempted.
    error: Mutex<Option<io::Error>>,
}

impl JsonlSink {
    pub fn create(path: &Path) -> io::Result<JsonlSink> {
        let file = File::options().create(true).append(true).open(path)?;
        Ok(JsonlSink {
            file: Mutex::new(file),
            redactor: Redactor::default(),
            error: Mutex::new(None),
        })
    }

    /// Removes these keys from every line before it is written.
    pub fn with_redactor(mut self, redactor: Redactor) -> JsonlSink {
        self.redactor = redactor;
        self
    }

    /// The first error met while writing, if any.
    pub fn take_error(&self) -> Option<io::Error> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    /// Syncs the file to disk.
    pub fn sync(&self) -> io::Result<()> {
        match self.file.lock() {
            Ok(file) => file.sync_data(),
            Err(_) => Err(io::Error::other("event log lock poisoned")),
        }
    }
}

impl EventSink for JsonlSink {
    fn record(&self, record: &EventRecord) {
        let Ok(mut error) = self.error.lock() else {
            return;
        };
        if error.is_some() {
            return;
        }
        let line = match serde_json::to_vec(record) {
            Ok(line) => line,
            Err(e) => {
                *error = Some(io::Error::other(e));
                return;
            }
        };
        let mut line = self.redactor.redact_bytes(line);
        line.push(b'\n');
        // A finished agent run, milestone round or mission reaches the disk before the runtime
        // moves on: a crash after it loses none of it.
        let boundary = matches!(
            record.event,
            Event::AgentFinished { .. }
                | Event::AgentCheckpoint { .. }
                | Event::MilestoneRound { .. }
                | Event::MissionFinished { .. }
        );
        let result = match self.file.lock() {
            // One write call per line keeps lines whole even if the process dies mid-run.
            Ok(mut file) => file
                .write_all(&line)
                .and_then(|()| file.flush())
                .and_then(|()| if boundary { file.sync_data() } else { Ok(()) }),
            Err(_) => Err(io::Error::other("event log lock poisoned")),
        };
        if let Err(e) = result {
            *error = Some(e);
        }
    }
}

/// Keeps every record in memory (for tests and in-process folds).
#[derive(Default)]
pub struct MemorySink {
    pub records: Mutex<Vec<EventRecord>>,
}

impl EventSink for MemorySink {
    fn record(&self, record: &EventRecord) {
        if let Ok(mut records) = self.records.lock() {
            records.push(record.clone());
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadEventsError {
    #[error("cannot read `{path}`: {error}")]
    Io { path: String, error: io::Error },
    #[error(transparent)]
    NotAFile(#[from] crate::fsutil::NotAFile),
    #[error("`{path}` line {line}: {message}")]
    Malformed {
        path: String,
        line: usize,
        message: String,
    },
}

/// One journal line as text, or what is wrong with it ("not UTF-8 text (byte 3 of the line)").
pub fn line_text(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8 text (byte {} of the line)", e.valid_up_to() + 1))
}

/// serde's message about one line of a journal or transcript, its place said as a column of
/// that line (serde counts the line as line 1), and strings said without Debug escapes.
pub fn json_line_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let place = format!(" at line {} column {}", error.line(), error.column());
    let message = match message.strip_suffix(&place) {
        Some(head) if error.line() == 1 => format!("{head} at column {}", error.column()),
        _ => message,
    };
    crate::spec::error::plain_serde_message(&message)
}

/// Reads `events.jsonl`. A torn last line (a crash mid-write) is ignored; a bad line elsewhere
/// (not JSON, not an event, not UTF-8 text) is an error naming its line and what is wrong.
pub fn read_events(path: &Path) -> Result<Vec<EventRecord>, ReadEventsError> {
    let display = path.display().to_string();
    crate::fsutil::check_file(path)?;
    let io_error = |error: io::Error| ReadEventsError::Io {
        path: display.clone(),
        error,
    };
    let file = File::open(path).map_err(io_error)?;
    let mut reader = BufReader::new(file);
    let mut lines: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).map_err(io_error)? == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        lines.push(line);
    }
    let mut records = Vec::with_capacity(lines.len());
    let last = lines.len().saturating_sub(1);
    for (index, bytes) in lines.iter().enumerate() {
        let parsed = match line_text(bytes) {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => serde_json::from_str::<EventRecord>(line).map_err(|e| json_line_error(&e)),
            Err(why) => Err(why),
        };
        match parsed {
            Ok(record) => records.push(record),
            Err(_) if index == last => break,
            Err(message) => {
                return Err(ReadEventsError::Malformed {
                    path: display,
                    line: index + 1,
                    message,
                })
            }
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slug_is_one_path_component_whatever_the_journal_says() {
        let key = MissionKey {
            suite: "s".into(),
            mission: crate::spec::MissionId::new("../../etc/x"),
            pairing: "a+b/c".into(),
            repeat: 2,
        };
        assert_eq!(key.slug(), ".._.._etc_x.a_b_c.r2");
        assert_eq!(std::path::Path::new(&key.slug()).components().count(), 1);
    }

    #[test]
    fn records_round_trip_and_torn_tails_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let sink = Arc::new(JsonlSink::create(&path).unwrap());
        let emitter = Emitter::new(vec![sink.clone()]);
        let key = MissionKey {
            suite: "s".into(),
            mission: "m".into(),
            pairing: "p+worker=nop".into(),
            repeat: 0,
        };
        emitter.emit(Event::EnvironmentReady {
            hash: "h".into(),
            reused: true,
            duration_ms: 1.0,
        });
        emitter.for_mission(key.clone()).emit(Event::MissionHalted {
            reason: HaltReason::MaxRounds,
            detail: "d".into(),
        });
        assert!(sink.take_error().is_none());
        let records = read_events(&path).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].mission.as_ref(), Some(&key));
        assert_eq!(records[1].seq, 1);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"v\":1,\"se")
            .unwrap();
        assert_eq!(read_events(&path).unwrap().len(), 2);
        assert_eq!(key.slug(), "m.p_worker_nop.r0");

        // A damaged line before the last is named with its line and what is wrong with it.
        let text = std::fs::read(&path).unwrap();
        let mut damaged = text.clone();
        let first_end = damaged.iter().position(|b| *b == b'\n').unwrap() + 1;
        damaged.splice(
            first_end..first_end,
            b"{\"v\": 1, \"x\": \"\xff\"}\n".to_vec(),
        );
        std::fs::write(&path, &damaged).unwrap();
        let error = read_events(&path).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "`{}` line 2: not UTF-8 text (byte 16 of the line)",
                path.display()
            )
        );
        let mut damaged = text;
        damaged.splice(first_end..first_end, b"{\"v\": 1, oops\n".to_vec());
        std::fs::write(&path, &damaged).unwrap();
        let error = read_events(&path).unwrap_err().to_string();
        assert!(
            error.ends_with("line 2: key must be a string at column 10"),
            "{error}"
        );

        let folder = dir.path().join("folder.jsonl");
        std::fs::create_dir(&folder).unwrap();
        assert_eq!(
            read_events(&folder).unwrap_err().to_string(),
            format!("`{}` is a folder, where a file belongs", folder.display())
        );
    }
}
