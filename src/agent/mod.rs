//! The agent loop: send the conversation and the role's tools to the model, run the tool calls
//! it makes, return each result, until it calls a final tool or a limit ends the run.
//!
//! Malformed arguments and unknown tools are returned to the model as errors it can fix, and
//! counted. Every turn, tool call and the outcome are events; every message goes to the run's
//! transcript.

pub mod transcript;

use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use crate::events::{AgentOutcome, CallStatus, Emitter, Event, FileClass};
use crate::model::secret::Redactor;
use crate::model::{
    millis, CallRetry, ChatRequest, Message, ModelError, ModelSession, ToolCall, ToolSpec, Usage,
};
use crate::spec::config::PricePerMtok;
use crate::spec::{FeatureId, MilestoneId, Role};
use crate::tools::{Ending, ToolDetail, ToolErrorKind, ToolFatal, ToolReply, Toolbox};
use transcript::Transcript;

/// Reminder sent when a model answers without calling a tool.
pub const NO_TOOL_CALL_REMINDER: &str =
    "You did not call a tool. Work only through the tools; when you are done, call the tool that ends your task.";

#[derive(Debug, Clone)]
pub struct AgentLimits {
    pub max_turns: u32,
    /// Malformed or unknown tool calls in a row that end the run.
    pub max_consecutive_malformed: u32,
    /// Answers without a tool call in a row that end the run.
    pub max_consecutive_no_tool_call: u32,
    pub max_output_tokens: Option<u32>,
}

impl AgentLimits {
    pub fn with_max_turns(max_turns: u32) -> AgentLimits {
        AgentLimits {
            max_turns,
            max_consecutive_malformed: 5,
            max_consecutive_no_tool_call: 3,
            max_output_tokens: None,
        }
    }
}

/// Who an agent run is and what it is for, as recorded in events and transcripts.
#[derive(Debug, Clone)]
pub struct AgentRunSpec {
    pub run: u32,
    pub parent: Option<u32>,
    pub role: Role,
    pub model: String,
    pub provider: String,
    pub task: &'static str,
    pub milestone: Option<MilestoneId>,
    pub feature: Option<FeatureId>,
    pub round: Option<u32>,
    pub system_prompt: String,
    pub user_prompt: String,
    pub limits: AgentLimits,
    /// The seed the run's model session was given, for the journal.
    pub seed: Option<u64>,
    /// The temperature the run's model samples at, where known, for the journal.
    pub temperature: Option<f64>,
}

/// Whether the mission's budget allows another model call, and charging calls to it.
pub trait Meter: Send + Sync {
    /// `Some(reason)` when no further call may start.
    fn exhausted(&self) -> Option<String>;
    fn charge(&self, usage: &Usage, cost_usd: Option<f64>);
}

/// What the loop needs from the mission around it.
pub struct AgentContext<'a> {
    pub emitter: &'a Emitter,
    pub transcript_path: &'a Path,
    pub classify_path: &'a (dyn Fn(&str) -> FileClass + Sync),
    pub meter: &'a dyn Meter,
    pub price: Option<PricePerMtok>,
    /// Keys to keep out of the transcript.
    pub redactor: &'a Redactor,
    /// The run's stop request: no model call starts after it, and one in flight is abandoned.
    pub stop: Option<&'a crate::stop::StopSignal>,
}

#[derive(Debug)]
pub struct AgentResult {
    pub outcome: AgentOutcome,
    pub turns: u32,
    /// Set when the run ended on a backend error.
    pub error: Option<ModelError>,
    /// Set when the run ended because the harness failed while handling a tool call.
    pub harness_error: Option<ToolFatal>,
    /// The last text the model wrote, for handoffs and summaries.
    pub last_text: String,
}

/// Runs one agent to its end and records it: `AgentStarted`, every turn and tool call, then
/// `AgentFinished`.
pub async fn run_agent(
    spec: &AgentRunSpec,
    session: &mut dyn ModelSession,
    toolbox: &mut dyn Toolbox,
    context: &AgentContext<'_>,
) -> AgentResult {
    let (result, finished) = run_agent_deferred(spec, session, toolbox, context).await;
    context.emitter.emit(finished);
    result
}

/// As [`run_agent`], but hands back its `AgentFinished` event instead of emitting it: the caller
/// emits it once it has saved what the run left (a mission's checkpoint), so that a run the
/// journal calls finished is always one a resume can continue after.
pub async fn run_agent_deferred(
    spec: &AgentRunSpec,
    session: &mut dyn ModelSession,
    toolbox: &mut dyn Toolbox,
    context: &AgentContext<'_>,
) -> (AgentResult, Event) {
    let started = Instant::now();
    let emitter = context.emitter;
    let tools: Vec<ToolSpec> = toolbox.specs();
    emitter.emit(Event::AgentStarted {
        run: spec.run,
        parent: spec.parent,
        role: spec.role,
        model: spec.model.clone(),
        provider: spec.provider.clone(),
        task: spec.task.to_string(),
        milestone: spec.milestone.clone(),
        feature: spec.feature.clone(),
        round: spec.round,
        seed: spec.seed,
        temperature: spec.temperature,
    });
    let mut transcript =
        Transcript::create(context.transcript_path).with_redactor(context.redactor.clone());
    transcript.header(spec.run, spec.role, &spec.model, spec.task, &tools);
    let mut messages = vec![
        Message::system(spec.system_prompt.clone()),
        Message::user(spec.user_prompt.clone()),
    ];
    for message in &messages {
        transcript.message(message);
    }

    let mut turns = 0u32;
    let mut malformed_in_a_row = 0u32;
    let mut no_tool_call_in_a_row = 0u32;
    let mut error = None;
    let mut harness_error: Option<ToolFatal> = None;
    let mut last_text = String::new();
    let outcome = loop {
        if turns >= spec.limits.max_turns {
            break AgentOutcome::TurnLimit;
        }
        if context.meter.exhausted().is_some() {
            break AgentOutcome::BudgetExhausted;
        }
        if context.stop.is_some_and(|s| s.is_stopped()) {
            break AgentOutcome::Interrupted;
        }
        turns += 1;
        let turn = turns;
        let on_retry = move |retry: &CallRetry| {
            emitter.emit(Event::ModelRetried {
                run: spec.run,
                turn,
                attempt: retry.attempt,
                restart: retry.restart,
                reason: retry.reason.clone(),
                wait_ms: retry.wait_ms,
            });
        };
        let request = ChatRequest {
            messages: &messages,
            tools: &tools,
            max_output_tokens: spec.limits.max_output_tokens,
            on_retry: Some(&on_retry),
        };
        let call = session.complete(request);
        let result = match context.stop {
            Some(stop) => tokio::select! {
                result = call => Some(result),
                () = stop.stopped() => None,
            },
            None => Some(call.await),
        };
        let Some(result) = result else {
            break AgentOutcome::Interrupted;
        };
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                let outcome = match e {
                    ModelError::ContextLength { .. } => AgentOutcome::ContextLength,
                    ModelError::Unavailable { .. } | ModelError::Protocol { .. } => {
                        AgentOutcome::BackendError
                    }
                };
                error = Some(e);
                break outcome;
            }
        };
        let cost_usd = response.usage.cost_usd(context.price.as_ref());
        emitter.emit(Event::Turn {
            run: spec.run,
            turn: turns,
            context_messages: messages.len() as u32,
            usage: response.usage.clone(),
            cost_usd,
            timing: response.timing.clone(),
            tool_calls: response.tool_calls.len() as u32,
            stop: response.stop.clone(),
            retries: response.retries,
        });
        context.meter.charge(&response.usage, cost_usd);
        if !response.text.trim().is_empty() {
            last_text = response.text.clone();
        }
        let assistant = Message::assistant(response.text, response.tool_calls.clone());
        transcript.message(&assistant);
        messages.push(assistant);

        if response.tool_calls.is_empty() {
            emitter.emit(Event::NoToolCall {
                run: spec.run,
                turn: turns,
            });
            no_tool_call_in_a_row += 1;
            if no_tool_call_in_a_row >= spec.limits.max_consecutive_no_tool_call {
                break AgentOutcome::NoToolCallLimit;
            }
            let reminder = Message::user(NO_TOOL_CALL_REMINDER);
            transcript.message(&reminder);
            messages.push(reminder);
            continue;
        }
        no_tool_call_in_a_row = 0;

        let mut ended: Option<AgentOutcome> = None;
        for call in &response.tool_calls {
            // Every call gets an answer, even those after a final tool, as chat APIs require.
            if ended.is_some() {
                let skipped = Message::tool_result(
                    call,
                    "not run: an earlier call in this turn ended the task",
                    true,
                );
                transcript.message(&skipped);
                messages.push(skipped);
                continue;
            }
            let call_started = Instant::now();
            let mut notices = Vec::new();
            let (status, content, detail, ending) = if !tools.iter().any(|t| t.name == call.name) {
                let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
                (
                    CallStatus::UnknownTool,
                    format!(
                        "unknown tool `{}`; the tools are: {}",
                        call.name,
                        names.join(", ")
                    ),
                    ToolDetail::None,
                    None,
                )
            } else {
                match parse_arguments(&call.arguments) {
                    Err(message) => (
                        CallStatus::Malformed,
                        format!("malformed arguments for `{}`: {message}", call.name),
                        ToolDetail::None,
                        None,
                    ),
                    Ok(arguments) => {
                        let reply = match toolbox.call(&call.name, arguments).await {
                            Ok(reply) => reply,
                            Err(fatal) => {
                                let reply = ToolReply::error(
                                    ToolErrorKind::Failed,
                                    format!("the harness failed: {}", fatal.message),
                                );
                                harness_error = Some(fatal);
                                reply
                            }
                        };
                        notices = reply.notices;
                        let status = match reply.error {
                            None => CallStatus::Ok,
                            Some(ToolErrorKind::InvalidArguments) => CallStatus::Malformed,
                            Some(ToolErrorKind::Refused) => CallStatus::Refused,
                            Some(ToolErrorKind::Failed) => CallStatus::Failed,
                            Some(ToolErrorKind::PlanViolation) => CallStatus::PlanViolation,
                        };
                        (
                            status,
                            reply.content,
                            reply.detail,
                            reply.ending.filter(|_| reply.error.is_none()),
                        )
                    }
                }
            };
            emit_tool_call(
                emitter,
                spec.run,
                turns,
                call,
                status,
                millis(call_started.elapsed()),
                &detail,
                context,
            );
            emitter.emit_notices(Some(spec.run), Some(turns), &call.name, notices);
            if matches!(status, CallStatus::Malformed | CallStatus::UnknownTool) {
                malformed_in_a_row += 1;
            } else {
                malformed_in_a_row = 0;
            }
            let result = Message::tool_result(call, content, status != CallStatus::Ok);
            transcript.message(&result);
            messages.push(result);
            if harness_error.is_some() {
                ended = Some(AgentOutcome::HarnessError);
            } else if let Some(ending) = ending {
                ended = Some(match ending {
                    Ending::Finished => AgentOutcome::Finished,
                    Ending::Blocked => AgentOutcome::Blocked,
                    Ending::Halted => AgentOutcome::Halted,
                });
            }
        }
        if let Some(outcome) = ended {
            break outcome;
        }
        if malformed_in_a_row >= spec.limits.max_consecutive_malformed {
            break AgentOutcome::MalformedLimit;
        }
    };
    transcript.end(outcome, turns);
    let summary = match (&error, transcript.take_error()) {
        (Some(e), _) => e.to_string(),
        (None, _) if harness_error.is_some() => harness_error
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        (None, Some(e)) => format!("transcript incomplete: {e}"),
        (None, None) => String::new(),
    };
    let finished = Event::AgentFinished {
        run: spec.run,
        outcome,
        turns,
        duration_ms: millis(started.elapsed()),
        summary,
    };
    let result = AgentResult {
        outcome,
        turns,
        error,
        harness_error,
        last_text,
    };
    (result, finished)
}

/// Decodes a model's tool-call arguments: they must be a JSON object; an empty string counts as
/// `{}`.
pub fn parse_arguments(raw: &str) -> Result<Value, String> {
    if raw.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(other) => Err(format!("expected a JSON object, got {}", json_kind(&other))),
        Err(e) => Err(format!("not valid JSON ({e})")),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[allow(clippy::too_many_arguments)]
fn emit_tool_call(
    emitter: &Emitter,
    run: u32,
    turn: u32,
    call: &ToolCall,
    status: CallStatus,
    duration_ms: f64,
    detail: &ToolDetail,
    context: &AgentContext<'_>,
) {
    let (path, file_class, command, exit_code, timed_out, dropped_bytes) = match detail {
        ToolDetail::None => (None, None, None, None, false, 0),
        ToolDetail::FileWrite { path, .. } => (
            Some(path.clone()),
            Some((context.classify_path)(path)),
            None,
            None,
            false,
            0,
        ),
        ToolDetail::Command {
            command,
            exit_code,
            timed_out,
            dropped_bytes,
            ..
        } => (
            None,
            None,
            Some(command.clone()),
            *exit_code,
            *timed_out,
            *dropped_bytes,
        ),
    };
    emitter.emit(Event::ToolCalled {
        run,
        turn,
        tool: call.name.clone(),
        status,
        duration_ms,
        path,
        file_class,
        command,
        exit_code,
        timed_out,
        dropped_bytes,
        recovered: call.recovered,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_objects() {
        assert!(parse_arguments("").unwrap().as_object().unwrap().is_empty());
        assert!(parse_arguments("{\"a\": 1}").is_ok());
        assert_eq!(
            parse_arguments("[1]").unwrap_err(),
            "expected a JSON object, got an array"
        );
        assert!(parse_arguments("{\"a\": ")
            .unwrap_err()
            .starts_with("not valid JSON"));
    }
}
