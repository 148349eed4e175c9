//! `export atif`: a report folder's agent runs as ATIF trajectories (Harbor's Agent Trajectory
//! Interchange Format, v1.7), one `trajectory.json` per agent run, at
//! `<out>/<mission>.<pairing>.r<repeat>/<NNN>-<role>/trajectory.json`.
//!
//! The steps come from the run's transcript (`transcripts/<mission run>/NNN-<role>.jsonl`): its
//! system and user messages are system and user steps, each assistant message an agent step
//! whose tool results are its observation. The numbers come from the journal: the k-th agent
//! step's metrics are the run's k-th `turn` event (our `input_tokens` already counts cache reads,
//! as ATIF's `prompt_tokens` does), unknown usage stays absent, and `final_metrics` are the sums
//! only when every step's part is known. A subagent's trajectory is linked from the observation
//! of the orchestrator's `spawn_subagent` call that started it, by a path relative to the
//! parent's file. What ATIF has no field for (role, milestone, feature, round, how the run
//! ended, where the usage came from) is under `extra`.

pub mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::events::{read_events, AgentOutcome, Event, EventRecord, MissionKey, ReadEventsError};
use crate::spec::Role;
use schema::{
    validate, Agent, FinalMetrics, Metrics, Observation, ObservationResult, Step, StepSource,
    SubagentTrajectoryRef, ToolCall, Trajectory, Violation, SCHEMA_VERSION,
};

/// The name trajectories give as their agent system.
pub const AGENT_NAME: &str = "missions-bench";

/// The tool through which an orchestrator starts a subagent.
const SPAWN_SUBAGENT: &str = "spawn_subagent";

#[derive(Debug, thiserror::Error)]
pub enum AtifError {
    #[error("`{}` is not a report folder: {why}", path.display())]
    NotAReport { path: PathBuf, why: &'static str },
    #[error(transparent)]
    NotAFile(#[from] crate::fsutil::NotAFile),
    /// A damaged journal line: the message names the file and the line.
    #[error(transparent)]
    Events(#[from] ReadEventsError),
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}` line {line}: {message}", path.display())]
    Transcript {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The exporter built a trajectory its own validator refuses: a fault of the harness.
    #[error("the trajectory for `{}` breaks the ATIF rules: {}", path.display(), violations.iter().map(Violation::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        path: PathBuf,
        violations: Vec<Violation>,
    },
}

impl AtifError {
    /// Whether the report folder is at fault (rather than the harness or the disk).
    pub fn is_input(&self) -> bool {
        match self {
            AtifError::NotAReport { .. }
            | AtifError::NotAFile(_)
            | AtifError::Events(_)
            | AtifError::Read { .. }
            | AtifError::Transcript { .. } => true,
            AtifError::Write { .. } | AtifError::Invalid { .. } => false,
        }
    }
}

/// One trajectory written.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedRun {
    /// The mission run's label, `<mission>.<pairing>.r<repeat>`.
    pub mission_run: String,
    pub run: u32,
    pub role: Role,
    pub parent: Option<u32>,
    pub path: PathBuf,
    pub steps: usize,
}

/// What an export wrote and what it could not.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AtifExport {
    pub trajectories: Vec<ExportedRun>,
    /// Agent runs the journal names whose transcript is missing, one sentence each.
    pub skipped: Vec<String>,
}

impl AtifExport {
    pub fn mission_runs(&self) -> usize {
        self.trajectories
            .iter()
            .map(|t| t.mission_run.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// Where an agent run's trajectory goes under the export folder.
pub fn trajectory_path(out_dir: &Path, mission_run: &str, run: u32, role: Role) -> PathBuf {
    out_dir
        .join(mission_run)
        .join(run_folder(run, role))
        .join("trajectory.json")
}

fn run_folder(run: u32, role: Role) -> String {
    format!("{run:03}-{role}")
}

/// Writes one ATIF trajectory per agent run of the report folder `report_dir` under `out_dir`.
/// Every trajectory is checked against the RFC's rules before it is written.
pub fn export_atif(report_dir: &Path, out_dir: &Path) -> Result<AtifExport, AtifError> {
    let journal = report_dir.join("events.jsonl");
    crate::report::check_report_files(report_dir)?;
    if !journal.is_file() {
        return Err(AtifError::NotAReport {
            path: report_dir.to_path_buf(),
            why: if report_dir.is_dir() {
                "it has no `events.jsonl` (report folders are what `missions-bench run` writes, reports/<run-id>)"
            } else {
                "there is no such folder"
            },
        });
    }
    let records = read_events(&journal)?;
    let info = crate::report::read_run_info(report_dir).ok();
    let run_id = info.as_ref().map_or_else(
        || {
            report_dir
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        },
        |info| info.run_id.clone(),
    );
    let harness = info.as_ref().map(|info| info.harness.clone());
    let runs = collect_runs(&records);
    let mut export = AtifExport::default();
    for ((key, run), agent_run) in &runs {
        let mission_run = key.slug();
        let transcript_path = report_dir
            .join("transcripts")
            .join(&mission_run)
            .join(format!("{}.jsonl", run_folder(*run, agent_run.role)));
        crate::fsutil::check_file(&transcript_path)?;
        if !transcript_path.is_file() {
            export.skipped.push(format!(
                "{mission_run} agent run {run} ({}): no transcript at `{}`",
                agent_run.role,
                transcript_path.display()
            ));
            continue;
        }
        let transcript = read_transcript(&transcript_path)?;
        let children: Vec<(u32, Role)> = runs
            .iter()
            .filter(|((child_key, _), child)| child_key == key && child.parent == Some(*run))
            .map(|((_, child_run), child)| (*child_run, child.role))
            .collect();
        let context = RunContext {
            run_id: &run_id,
            harness: harness.as_ref(),
            key,
            run: *run,
            agent_run,
            runs: &runs,
            children: &children,
            transcript_name: format!(
                "transcripts/{mission_run}/{}.jsonl",
                run_folder(*run, agent_run.role)
            ),
        };
        let trajectory = build_trajectory(&context, &transcript);
        let path = trajectory_path(out_dir, &mission_run, *run, agent_run.role);
        let violations = validate(&trajectory);
        if !violations.is_empty() {
            return Err(AtifError::Invalid { path, violations });
        }
        write_trajectory(&path, &trajectory)?;
        export.trajectories.push(ExportedRun {
            mission_run,
            run: *run,
            role: agent_run.role,
            parent: agent_run.parent,
            path,
            steps: trajectory.steps.len(),
        });
    }
    Ok(export)
}

fn write_trajectory(path: &Path, trajectory: &Trajectory) -> Result<(), AtifError> {
    let error = |source: io::Error| AtifError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    let mut text = serde_json::to_string_pretty(trajectory).map_err(|e| error(e.into()))?;
    text.push('\n');
    crate::fsutil::write_atomic(path, text.as_bytes()).map_err(error)
}

/// One `turn` event: a model call of an agent run.
#[derive(Debug, Clone)]
struct TurnRecord {
    time_ms: i64,
    turn: u32,
    metrics: Metrics,
    usage_source: &'static str,
    stop: String,
    latency_ms: f64,
}

/// What the journal says of one agent run.
#[derive(Debug, Clone)]
struct AgentRun {
    started_ms: i64,
    parent: Option<u32>,
    /// The parent's turns when this run started: it was spawned by the calls of that turn.
    parent_turn: Option<u32>,
    role: Role,
    model: String,
    provider: String,
    task: String,
    milestone: Option<String>,
    feature: Option<String>,
    round: Option<u32>,
    seed: Option<u64>,
    temperature: Option<f64>,
    turns: Vec<TurnRecord>,
    finished: Option<(AgentOutcome, u32, f64)>,
}

type Runs = BTreeMap<(MissionKey, u32), AgentRun>;

/// Folds the journal into agent runs. A run started again (a resumed mission redoing an
/// unfinished run) keeps only its last start and what followed it.
fn collect_runs(records: &[EventRecord]) -> Runs {
    let mut runs: Runs = BTreeMap::new();
    for record in records {
        let Some(key) = &record.mission else {
            continue;
        };
        match &record.event {
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
                let parent_turn = parent.and_then(|parent| {
                    runs.get(&(key.clone(), parent))
                        .map(|p| p.turns.len() as u32)
                });
                runs.insert(
                    (key.clone(), *run),
                    AgentRun {
                        started_ms: record.time_ms,
                        parent: *parent,
                        parent_turn,
                        role: *role,
                        model: model.clone(),
                        provider: provider.clone(),
                        task: task.clone(),
                        milestone: milestone.as_ref().map(|m| m.to_string()),
                        feature: feature.as_ref().map(|f| f.to_string()),
                        round: *round,
                        seed: *seed,
                        temperature: *temperature,
                        turns: Vec::new(),
                        finished: None,
                    },
                );
            }
            Event::Turn {
                run,
                turn,
                usage,
                cost_usd,
                timing,
                stop,
                ..
            } => {
                if let Some(agent_run) = runs.get_mut(&(key.clone(), *run)) {
                    let mut extra = Map::new();
                    extra.insert("usage_source".into(), usage.source.as_str().into());
                    if let Some(tokens) = usage.cache_write_tokens {
                        extra.insert("cache_write_tokens".into(), tokens.into());
                    }
                    if let Some(tokens) = usage.reasoning_tokens {
                        extra.insert("reasoning_tokens".into(), tokens.into());
                    }
                    agent_run.turns.push(TurnRecord {
                        time_ms: record.time_ms,
                        turn: *turn,
                        metrics: Metrics {
                            prompt_tokens: usage.input_tokens,
                            completion_tokens: usage.output_tokens,
                            cached_tokens: usage.cache_read_tokens,
                            cost_usd: *cost_usd,
                            extra: Some(extra),
                            ..Metrics::default()
                        },
                        usage_source: usage.source.as_str(),
                        stop: stop.as_str().to_string(),
                        latency_ms: timing.latency_ms,
                    });
                }
            }
            Event::AgentFinished {
                run,
                outcome,
                turns,
                duration_ms,
                ..
            } => {
                if let Some(agent_run) = runs.get_mut(&(key.clone(), *run)) {
                    agent_run.finished = Some((*outcome, *turns, *duration_ms));
                }
            }
            _ => {}
        }
    }
    runs
}

/// A transcript line, read with our own types: the agent loop's writer is not ours to import.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TranscriptLine {
    Header {
        #[serde(default)]
        tools: Vec<TranscriptTool>,
    },
    Message(TranscriptMessage),
    End {},
}

#[derive(Debug, Deserialize)]
struct TranscriptTool {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parameters: Value,
}

#[derive(Debug, Deserialize)]
struct TranscriptMessage {
    role: String,
    content: String,
    #[serde(default)]
    tool_calls: Vec<TranscriptCall>,
    #[serde(default)]
    tool_call_id: Option<String>,
    #[serde(default)]
    tool_name: Option<String>,
    #[serde(default)]
    is_error: bool,
}

#[derive(Debug, Deserialize)]
struct TranscriptCall {
    id: String,
    name: String,
    arguments: String,
    #[serde(default)]
    recovered: bool,
}

#[derive(Debug, Default)]
struct Transcript {
    tools: Vec<TranscriptTool>,
    messages: Vec<TranscriptMessage>,
}

/// Reads a transcript. Lines are written whole and flushed, so only a crash leaves a torn last
/// line, which is ignored as the journal's is; a bad line elsewhere is an error naming it.
fn read_transcript(path: &Path) -> Result<Transcript, AtifError> {
    let read_error = |source| AtifError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    let last = lines.len().saturating_sub(1);
    let mut transcript = Transcript::default();
    for (index, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<TranscriptLine>(line) {
            Ok(TranscriptLine::Header { tools }) => transcript.tools = tools,
            Ok(TranscriptLine::Message(message)) => transcript.messages.push(message),
            Ok(TranscriptLine::End {}) => {}
            Err(_) if index == last => break,
            Err(e) => {
                return Err(AtifError::Transcript {
                    path: path.to_path_buf(),
                    line: index + 1,
                    message: crate::events::json_line_error(&e),
                })
            }
        }
    }
    Ok(transcript)
}

struct RunContext<'a> {
    run_id: &'a str,
    harness: Option<&'a crate::report::HarnessInfo>,
    key: &'a MissionKey,
    run: u32,
    agent_run: &'a AgentRun,
    runs: &'a Runs,
    /// The subagent runs this run started, in order, with their roles.
    children: &'a [(u32, Role)],
    /// The transcript, relative to the report folder.
    transcript_name: String,
}

fn timestamp(time_ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(time_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn object(pairs: impl IntoIterator<Item = (&'static str, Option<Value>)>) -> Map<String, Value> {
    pairs
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| (key.to_string(), value)))
        .collect()
}

fn build_trajectory(context: &RunContext<'_>, transcript: &Transcript) -> Trajectory {
    let agent_run = context.agent_run;
    let started = timestamp(agent_run.started_ms);
    let mut steps: Vec<Step> = Vec::new();
    let mut turns = agent_run.turns.iter();
    let mut agent_steps = 0u32;
    for message in &transcript.messages {
        let step_id = steps.len() as u64 + 1;
        match message.role.as_str() {
            "assistant" => {
                agent_steps += 1;
                let turn = turns.next();
                steps.push(agent_step(
                    step_id,
                    message,
                    turn,
                    &agent_run.model,
                    agent_steps,
                ));
            }
            "tool" => {
                let result = tool_result(message);
                match steps.last_mut() {
                    Some(step) if step.source == StepSource::Agent => {
                        let calls: BTreeSet<&str> = step
                            .tool_calls
                            .iter()
                            .flatten()
                            .map(|c| c.tool_call_id.as_str())
                            .collect();
                        let mut result = result;
                        if result
                            .source_call_id
                            .as_deref()
                            .is_some_and(|id| !calls.contains(id))
                        {
                            // A reply to no call of this step keeps its id in `extra` only.
                            let id = result.source_call_id.take();
                            result
                                .extra
                                .get_or_insert_with(Map::new)
                                .insert("tool_call_id".into(), id.into());
                        }
                        step.observation
                            .get_or_insert_with(|| Observation {
                                results: Vec::new(),
                            })
                            .results
                            .push(result);
                    }
                    _ => {
                        let mut result = result;
                        let id = result.source_call_id.take();
                        result
                            .extra
                            .get_or_insert_with(Map::new)
                            .insert("tool_call_id".into(), id.into());
                        steps.push(Step {
                            observation: Some(Observation {
                                results: vec![result],
                            }),
                            ..plain_step(step_id, StepSource::System, String::new(), None)
                        });
                    }
                }
            }
            "system" => steps.push(plain_step(
                step_id,
                StepSource::System,
                message.content.clone(),
                started.clone(),
            )),
            _ => steps.push(plain_step(
                step_id,
                StepSource::User,
                message.content.clone(),
                started.clone(),
            )),
        }
    }
    link_subagents(context, &mut steps);
    let final_metrics = final_metrics(&steps);
    let mission_run = context.key.slug();
    let id = format!(
        "{}/{mission_run}/{}",
        context.run_id,
        run_folder(context.run, agent_run.role)
    );
    let tool_definitions: Vec<Value> = transcript
        .tools
        .iter()
        .map(|tool| {
            json!({
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                }
            })
        })
        .collect();
    let usage_sources: BTreeSet<&str> = agent_run.turns.iter().map(|t| t.usage_source).collect();
    let (outcome, turns_taken, duration_ms) = match agent_run.finished {
        Some((outcome, turns, duration_ms)) => {
            (outcome.as_str().to_string(), Some(turns), Some(duration_ms))
        }
        None => ("unfinished".to_string(), None, None),
    };
    let key = context.key;
    Trajectory {
        schema_version: SCHEMA_VERSION.to_string(),
        session_id: Some(id.clone()),
        trajectory_id: Some(id),
        agent: Agent {
            name: AGENT_NAME.to_string(),
            version: context
                .harness
                .map_or_else(|| "unknown".to_string(), |h| h.version.clone()),
            model_name: Some(agent_run.model.clone()),
            tool_definitions: (!tool_definitions.is_empty()).then_some(tool_definitions),
            extra: Some(object([
                ("provider", Some(agent_run.provider.clone().into())),
                (
                    "harness_commit",
                    context.harness.map(|h| h.git_commit.clone().into()),
                ),
                ("seed", agent_run.seed.map(Value::from)),
                ("temperature", agent_run.temperature.map(Value::from)),
            ])),
        },
        steps,
        notes: None,
        final_metrics: Some(final_metrics),
        continued_trajectory_ref: None,
        extra: Some(object([
            ("run_id", Some(context.run_id.into())),
            ("suite", Some(key.suite.clone().into())),
            ("mission", Some(key.mission.to_string().into())),
            ("pairing", Some(key.pairing.clone().into())),
            ("repeat", Some(key.repeat.into())),
            ("run", Some(context.run.into())),
            ("parent_run", agent_run.parent.map(Value::from)),
            ("role", Some(agent_run.role.as_str().into())),
            ("task", Some(agent_run.task.clone().into())),
            ("milestone", agent_run.milestone.clone().map(Value::from)),
            ("feature", agent_run.feature.clone().map(Value::from)),
            ("round", agent_run.round.map(Value::from)),
            ("outcome", Some(outcome.into())),
            ("turns", turns_taken.map(Value::from)),
            ("duration_ms", duration_ms.map(Value::from)),
            (
                "usage_sources",
                Some(usage_sources.into_iter().collect::<Vec<_>>().into()),
            ),
            ("transcript", Some(context.transcript_name.clone().into())),
        ])),
        subagent_trajectories: None,
    }
}

fn plain_step(step_id: u64, source: StepSource, message: String, time: Option<String>) -> Step {
    Step {
        step_id,
        timestamp: time,
        source,
        model_name: None,
        reasoning_effort: None,
        message: Value::String(message),
        reasoning_content: None,
        tool_calls: None,
        observation: None,
        metrics: None,
        extra: None,
        llm_call_count: None,
        is_copied_context: None,
    }
}

fn agent_step(
    step_id: u64,
    message: &TranscriptMessage,
    turn: Option<&TurnRecord>,
    model: &str,
    agent_step_number: u32,
) -> Step {
    let tool_calls: Vec<ToolCall> = message
        .tool_calls
        .iter()
        .map(|call| {
            let parsed = serde_json::from_str::<Value>(&call.arguments);
            let (arguments, raw) = match parsed {
                Ok(Value::Object(arguments)) => (arguments, None),
                // ATIF's arguments are an object: what the model wrote otherwise is kept as text.
                _ => (Map::new(), Some(Value::from(call.arguments.clone()))),
            };
            let extra = object([
                ("arguments_text", raw),
                ("recovered", call.recovered.then_some(Value::Bool(true))),
            ]);
            ToolCall {
                tool_call_id: call.id.clone(),
                function_name: call.name.clone(),
                arguments,
                extra: (!extra.is_empty()).then_some(extra),
            }
        })
        .collect();
    let extra = object([
        (
            "turn",
            Some(turn.map_or(agent_step_number, |t| t.turn).into()),
        ),
        ("stop_reason", turn.map(|t| t.stop.clone().into())),
        ("latency_ms", turn.map(|t| t.latency_ms.into())),
    ]);
    Step {
        model_name: Some(model.to_string()),
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        metrics: turn.map(|t| t.metrics.clone()),
        llm_call_count: turn.map(|_| 1),
        extra: Some(extra),
        ..plain_step(
            step_id,
            StepSource::Agent,
            message.content.clone(),
            turn.and_then(|t| timestamp(t.time_ms)),
        )
    }
}

fn tool_result(message: &TranscriptMessage) -> ObservationResult {
    let extra = object([
        ("tool_name", message.tool_name.clone().map(Value::from)),
        ("is_error", message.is_error.then_some(Value::Bool(true))),
    ]);
    ObservationResult {
        source_call_id: message.tool_call_id.clone(),
        content: Some(Value::String(message.content.clone())),
        subagent_trajectory_ref: None,
        extra: (!extra.is_empty()).then_some(extra),
    }
}

/// Links each subagent this run started from the step whose calls started it: the n-th subagent
/// started during a turn belongs to that turn's n-th `spawn_subagent` call. A subagent with no
/// such call is linked by a result of its own on that step.
fn link_subagents(context: &RunContext<'_>, steps: &mut [Step]) {
    for (child_run, child_role) in context.children {
        let Some(child) = context.runs.get(&(context.key.clone(), *child_run)) else {
            continue;
        };
        let Some(parent_turn) = child.parent_turn else {
            continue;
        };
        let reference = SubagentTrajectoryRef {
            trajectory_id: None,
            trajectory_path: Some(format!(
                "../{}/trajectory.json",
                run_folder(*child_run, *child_role)
            )),
            session_id: Some(format!(
                "{}/{}/{}",
                context.run_id,
                context.key.slug(),
                run_folder(*child_run, *child_role)
            )),
            extra: Some(object([
                ("run", Some(Value::from(*child_run))),
                ("role", Some(child_role.as_str().into())),
            ])),
        };
        // Agent steps and turns pair up in order; fall back to the last agent step.
        let agent_steps: Vec<usize> = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.source == StepSource::Agent)
            .map(|(i, _)| i)
            .collect();
        let Some(&index) = agent_steps
            .get((parent_turn as usize).saturating_sub(1))
            .or(agent_steps.last())
        else {
            continue;
        };
        let step = &mut steps[index];
        let spawn_calls: Vec<String> = step
            .tool_calls
            .iter()
            .flatten()
            .filter(|c| c.function_name == SPAWN_SUBAGENT)
            .map(|c| c.tool_call_id.clone())
            .collect();
        let observation = step.observation.get_or_insert_with(|| Observation {
            results: Vec::new(),
        });
        // Calls already linked take the earlier subagents.
        let linked = |id: &str, results: &[ObservationResult]| {
            results.iter().any(|r| {
                r.source_call_id.as_deref() == Some(id) && r.subagent_trajectory_ref.is_some()
            })
        };
        let free_call = spawn_calls
            .iter()
            .find(|id| !linked(id, &observation.results))
            .cloned();
        match free_call {
            Some(id) => {
                match observation
                    .results
                    .iter_mut()
                    .find(|r| r.source_call_id.as_deref() == Some(id.as_str()))
                {
                    Some(result) => result.subagent_trajectory_ref = Some(vec![reference]),
                    None => observation.results.push(ObservationResult {
                        source_call_id: Some(id),
                        content: None,
                        subagent_trajectory_ref: Some(vec![reference]),
                        extra: None,
                    }),
                }
            }
            None => observation.results.push(ObservationResult {
                source_call_id: None,
                content: None,
                subagent_trajectory_ref: Some(vec![reference]),
                extra: None,
            }),
        }
    }
}

/// Sums of the steps' metrics; a sum is absent when any agent step's part is unknown.
fn final_metrics(steps: &[Step]) -> FinalMetrics {
    let agent_steps: Vec<&Step> = steps
        .iter()
        .filter(|s| s.source == StepSource::Agent)
        .collect();
    fn sum<T: std::iter::Sum<T> + Copy>(
        steps: &[&Step],
        field: impl Fn(&Metrics) -> Option<T>,
    ) -> Option<T> {
        if steps.is_empty() {
            return None;
        }
        steps
            .iter()
            .map(|s| s.metrics.as_ref().and_then(&field))
            .collect::<Option<Vec<T>>>()
            .map(|values| values.into_iter().sum())
    }
    FinalMetrics {
        total_prompt_tokens: sum(&agent_steps, |m| m.prompt_tokens),
        total_completion_tokens: sum(&agent_steps, |m| m.completion_tokens),
        total_cached_tokens: sum(&agent_steps, |m| m.cached_tokens),
        total_cost_usd: sum(&agent_steps, |m| m.cost_usd),
        total_steps: Some(steps.len() as u64),
        extra: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = r#""mission":{"suite":"s","mission":"m","pairing":"p","repeat":0}"#;

    fn record(seq: u64, event: &str) -> String {
        format!(r#"{{"v":1,"seq":{seq},"time_ms":1800000000{seq:03},{KEY},"event":{event}}}"#)
    }

    fn turn(run: u32, turn: u32, usage: &str, cost: &str) -> String {
        format!(
            r#"{{"type":"turn","run":{run},"turn":{turn},"context_messages":2,"usage":{usage},"cost_usd":{cost},"timing":{{"latency_ms":1.5}},"tool_calls":0,"stop":"tool_calls"}}"#
        )
    }

    fn started(run: u32, parent: &str, role: &str) -> String {
        format!(
            r#"{{"type":"agent_started","run":{run},"parent":{parent},"role":"{role}","model":"remote","provider":"openai","task":"plan"}}"#
        )
    }

    fn finished(run: u32) -> String {
        format!(
            r#"{{"type":"agent_finished","run":{run},"outcome":"finished","turns":2,"duration_ms":9.0,"summary":""}}"#
        )
    }

    fn message(role: &str, content: &str, extra: &str) -> String {
        format!(r#"{{"type":"message","role":"{role}","content":"{content}"{extra}}}"#)
    }

    /// A report of one orchestrator run (a provider that reports cache reads, a second turn
    /// whose input it did not report) that started one subagent.
    fn report(dir: &Path) {
        let events = [
            record(0, &started(1, "null", "orchestrator")),
            record(
                1,
                &turn(
                    1,
                    1,
                    r#"{"input_tokens":1000,"cache_read_tokens":600,"cache_write_tokens":100,"output_tokens":50,"reasoning_tokens":null,"source":"provider"}"#,
                    "0.01",
                ),
            ),
            record(2, &started(2, "1", "subagent")),
            record(
                3,
                &turn(
                    2,
                    1,
                    r#"{"input_tokens":10,"cache_read_tokens":null,"cache_write_tokens":null,"output_tokens":null,"reasoning_tokens":null,"source":"provider"}"#,
                    "null",
                ),
            ),
            record(4, &finished(2)),
            record(
                5,
                &turn(
                    1,
                    2,
                    r#"{"input_tokens":null,"cache_read_tokens":null,"cache_write_tokens":null,"output_tokens":5,"reasoning_tokens":null,"source":"provider"}"#,
                    "null",
                ),
            ),
            record(6, &finished(1)),
        ];
        std::fs::write(dir.join("events.jsonl"), events.join("\n") + "\n").unwrap();
        let transcripts = dir.join("transcripts/m.p.r0");
        std::fs::create_dir_all(&transcripts).unwrap();
        let orchestrator = [
            r#"{"type":"header","run":1,"role":"orchestrator","model":"remote","task":"plan","tools":[{"name":"spawn_subagent","description":"d","parameters":{"type":"object"}}]}"#.to_string(),
            message("system", "prompt", ""),
            message("user", "goal", ""),
            message(
                "assistant",
                "",
                r#","tool_calls":[{"id":"c1","name":"spawn_subagent","arguments":"{\"task\":\"look\"}"},{"id":"c2","name":"read_file","arguments":"not json","recovered":true}]"#,
            ),
            message("tool", "report", r#","tool_call_id":"c1","tool_name":"spawn_subagent""#),
            message("tool", "bad arguments", r#","tool_call_id":"c2","tool_name":"read_file","is_error":true"#),
            message("tool", "stray", r#","tool_call_id":"zz","tool_name":"read_file""#),
            message("assistant", "done", ""),
            r#"{"type":"end","outcome":"finished","turns":2}"#.to_string(),
        ];
        std::fs::write(
            transcripts.join("001-orchestrator.jsonl"),
            orchestrator.join("\n") + "\n",
        )
        .unwrap();
        let subagent = [
            r#"{"type":"header","run":2,"role":"subagent","model":"remote","task":"investigate","tools":[]}"#.to_string(),
            message("system", "prompt", ""),
            message("user", "look", ""),
            message("assistant", "found it", ""),
        ];
        std::fs::write(
            transcripts.join("002-subagent.jsonl"),
            subagent.join("\n") + "\n",
        )
        .unwrap();
    }

    #[test]
    fn usage_maps_to_atif_metrics_and_unknown_stays_absent() {
        let dir = tempfile::tempdir().unwrap();
        let report_dir = dir.path().join("report");
        std::fs::create_dir(&report_dir).unwrap();
        report(&report_dir);
        let out = dir.path().join("out");
        let export = export_atif(&report_dir, &out).unwrap();
        assert_eq!(export.trajectories.len(), 2);
        assert_eq!(export.skipped, Vec::<String>::new());

        let parent =
            schema::read_trajectory(&trajectory_path(&out, "m.p.r0", 1, Role::Orchestrator))
                .unwrap();
        let sources: Vec<StepSource> = parent.steps.iter().map(|s| s.source).collect();
        use StepSource::{Agent, System, User};
        assert_eq!(sources, [System, User, Agent, Agent]);
        let first = &parent.steps[2];
        assert_eq!(first.timestamp.as_deref(), Some("2027-01-15T08:00:00.001Z"));
        let metrics = first.metrics.as_ref().unwrap();
        // Our input tokens already include the cache reads, as ATIF's prompt tokens do.
        assert_eq!(
            (
                metrics.prompt_tokens,
                metrics.cached_tokens,
                metrics.completion_tokens,
                metrics.cost_usd
            ),
            (Some(1000), Some(600), Some(50), Some(0.01))
        );
        assert_eq!(
            Value::Object(metrics.extra.clone().unwrap()),
            json!({"usage_source": "provider", "cache_write_tokens": 100})
        );
        let calls = first.tool_calls.as_ref().unwrap();
        assert_eq!(
            Value::Object(calls[0].arguments.clone()),
            json!({"task": "look"})
        );
        assert!(calls[1].arguments.is_empty());
        assert_eq!(
            Value::Object(calls[1].extra.clone().unwrap()),
            json!({"arguments_text": "not json", "recovered": true})
        );
        let results = &first.observation.as_ref().unwrap().results;
        assert_eq!(
            serde_json::to_value(results).unwrap(),
            json!([
                {
                    "source_call_id": "c1",
                    "content": "report",
                    "subagent_trajectory_ref": [{
                        "trajectory_path": "../002-subagent/trajectory.json",
                        "session_id": "report/m.p.r0/002-subagent",
                        "extra": {"run": 2, "role": "subagent"}
                    }],
                    "extra": {"tool_name": "spawn_subagent"}
                },
                {"source_call_id": "c2", "content": "bad arguments", "extra": {"tool_name": "read_file", "is_error": true}},
                {"content": "stray", "extra": {"tool_name": "read_file", "tool_call_id": "zz"}}
            ])
        );
        let second = parent.steps[3].metrics.as_ref().unwrap();
        assert_eq!(
            (second.prompt_tokens, second.completion_tokens),
            (None, Some(5))
        );
        // A total is known only when every step's part is.
        assert_eq!(
            parent.final_metrics,
            Some(FinalMetrics {
                total_completion_tokens: Some(55),
                total_steps: Some(4),
                ..FinalMetrics::default()
            })
        );
        assert_eq!(parent.extra.as_ref().unwrap()["outcome"], "finished");
        assert_eq!(
            parent.agent.tool_definitions.as_ref().unwrap()[0]["function"]["name"],
            "spawn_subagent"
        );

        let child =
            schema::read_trajectory(&trajectory_path(&out, "m.p.r0", 2, Role::Subagent)).unwrap();
        assert_eq!(
            child.session_id.as_deref(),
            Some("report/m.p.r0/002-subagent")
        );
        assert_eq!(child.extra.as_ref().unwrap()["parent_run"], 1);
        assert_eq!(
            child.final_metrics,
            Some(FinalMetrics {
                total_prompt_tokens: Some(10),
                total_steps: Some(3),
                ..FinalMetrics::default()
            })
        );
    }

    #[test]
    fn a_folder_where_a_transcript_belongs_is_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        report(dir.path());
        let transcript = dir.path().join("transcripts/m.p.r0/002-subagent.jsonl");
        std::fs::remove_file(&transcript).unwrap();
        std::fs::create_dir(&transcript).unwrap();
        let error = export_atif(dir.path(), &dir.path().join("out")).unwrap_err();
        assert!(error.is_input());
        assert_eq!(
            error.to_string(),
            format!(
                "`{}` is a folder, where a file belongs",
                transcript.display()
            )
        );
    }

    #[test]
    fn a_run_without_transcript_is_skipped_and_named() {
        let dir = tempfile::tempdir().unwrap();
        report(dir.path());
        std::fs::remove_file(dir.path().join("transcripts/m.p.r0/002-subagent.jsonl")).unwrap();
        let export = export_atif(dir.path(), &dir.path().join("out")).unwrap();
        assert_eq!(export.trajectories.len(), 1);
        assert_eq!(export.skipped.len(), 1);
        assert!(
            export.skipped[0].starts_with("m.p.r0 agent run 2 (subagent): no transcript at `"),
            "{}",
            export.skipped[0]
        );
    }
}
