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
    millis, CallRetry, ChatRequest, ChatResponse, Message, ModelError, ModelSession, ToolCall,
    ToolSpec, Usage,
};
use crate::spec::config::PricePerMtok;
use crate::spec::{FeatureId, MilestoneId, Role};
use crate::tools::{Ending, Notice, ToolDetail, ToolErrorKind, ToolFatal, Toolbox};
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
    let mut run = AgentLoop::start(spec, toolbox.specs(), context);
    let outcome = loop {
        if let Some(outcome) = run.turn(session, toolbox).await {
            break outcome;
        }
    };
    run.finish(outcome, millis(started.elapsed()))
}

/// One agent run in progress: its conversation, its transcript and the counts its limits read.
struct AgentLoop<'a, 'c> {
    spec: &'a AgentRunSpec,
    context: &'a AgentContext<'c>,
    tools: Vec<ToolSpec>,
    messages: Vec<Message>,
    transcript: Transcript,
    turns: u32,
    malformed_in_a_row: u32,
    no_tool_call_in_a_row: u32,
    /// The backend error that ended the run, if one did.
    error: Option<ModelError>,
    /// The harness failure that ended the run, if one did.
    harness_error: Option<ToolFatal>,
    last_text: String,
}

/// How one tool call went: what its event, the transcript and the model are told.
struct CallOutcome {
    status: CallStatus,
    /// The reply the model gets.
    content: String,
    detail: ToolDetail,
    /// How the call ends the agent run; only a call that succeeded ends it.
    ending: Option<Ending>,
    /// What was refused, cut or limited on the way.
    notices: Vec<Notice>,
    /// The harness failed while it handled the call: the run ends as a harness error.
    fatal: Option<ToolFatal>,
}

impl CallOutcome {
    /// A call the tools never saw: an unknown tool or malformed arguments.
    fn rejected(status: CallStatus, content: String) -> CallOutcome {
        CallOutcome {
            status,
            content,
            detail: ToolDetail::None,
            ending: None,
            notices: Vec::new(),
            fatal: None,
        }
    }
}

impl<'a, 'c> AgentLoop<'a, 'c> {
    /// Emits `AgentStarted` and opens the transcript with the system and first user messages.
    fn start(
        spec: &'a AgentRunSpec,
        tools: Vec<ToolSpec>,
        context: &'a AgentContext<'c>,
    ) -> AgentLoop<'a, 'c> {
        context.emitter.emit(Event::AgentStarted {
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
        let mut run = AgentLoop {
            spec,
            context,
            tools,
            messages: Vec::new(),
            transcript,
            turns: 0,
            malformed_in_a_row: 0,
            no_tool_call_in_a_row: 0,
            error: None,
            harness_error: None,
            last_text: String::new(),
        };
        run.push(Message::system(spec.system_prompt.clone()));
        run.push(Message::user(spec.user_prompt.clone()));
        run
    }

    /// Adds a message to the conversation and the transcript.
    fn push(&mut self, message: Message) {
        self.transcript.message(&message);
        self.messages.push(message);
    }

    /// The limit that allows no further turn, if one does.
    fn limit_reached(&self) -> Option<AgentOutcome> {
        if self.turns >= self.spec.limits.max_turns {
            return Some(AgentOutcome::TurnLimit);
        }
        if self.context.meter.exhausted().is_some() {
            return Some(AgentOutcome::BudgetExhausted);
        }
        if self.context.stop.is_some_and(|s| s.is_stopped()) {
            return Some(AgentOutcome::Interrupted);
        }
        None
    }

    /// One turn: a model call and the tool calls it makes. `Some` when the run ends.
    async fn turn(
        &mut self,
        session: &mut dyn ModelSession,
        toolbox: &mut dyn Toolbox,
    ) -> Option<AgentOutcome> {
        if let Some(outcome) = self.limit_reached() {
            return Some(outcome);
        }
        self.turns += 1;
        let response = match self.call_model(session).await {
            Ok(response) => response,
            Err(outcome) => return Some(outcome),
        };
        let tool_calls = response.tool_calls.clone();
        self.record_response(response);
        if tool_calls.is_empty() {
            return self.no_tool_call();
        }
        self.no_tool_call_in_a_row = 0;
        if let Some(outcome) = self.run_tool_calls(toolbox, &tool_calls).await {
            return Some(outcome);
        }
        if self.malformed_in_a_row >= self.spec.limits.max_consecutive_malformed {
            return Some(AgentOutcome::MalformedLimit);
        }
        None
    }

    /// Asks the model for this turn's reply; a stop request abandons the call. A backend error
    /// is kept for the result and ends the run.
    async fn call_model(
        &mut self,
        session: &mut dyn ModelSession,
    ) -> Result<ChatResponse, AgentOutcome> {
        let (emitter, run, turn) = (self.context.emitter, self.spec.run, self.turns);
        let on_retry = move |retry: &CallRetry| {
            emitter.emit(Event::ModelRetried {
                run,
                turn,
                attempt: retry.attempt,
                restart: retry.restart,
                reason: retry.reason.clone(),
                wait_ms: retry.wait_ms,
            });
        };
        let request = ChatRequest {
            messages: &self.messages,
            tools: &self.tools,
            max_output_tokens: self.spec.limits.max_output_tokens,
            on_retry: Some(&on_retry),
        };
        let call = session.complete(request);
        let result = match self.context.stop {
            Some(stop) => tokio::select! {
                result = call => Some(result),
                () = stop.stopped() => None,
            },
            None => Some(call.await),
        };
        match result {
            None => Err(AgentOutcome::Interrupted),
            Some(Ok(response)) => Ok(response),
            Some(Err(e)) => {
                let outcome = outcome_of_error(&e);
                self.error = Some(e);
                Err(outcome)
            }
        }
    }

    /// Records a reply: its `Turn` event, its cost against the budget, and the assistant
    /// message.
    fn record_response(&mut self, response: ChatResponse) {
        let context = self.context;
        let cost_usd = response.usage.cost_usd(context.price.as_ref());
        context.emitter.emit(Event::Turn {
            run: self.spec.run,
            turn: self.turns,
            context_messages: self.messages.len() as u32,
            usage: response.usage.clone(),
            cost_usd,
            timing: response.timing.clone(),
            tool_calls: response.tool_calls.len() as u32,
            stop: response.stop.clone(),
            retries: response.retries,
        });
        context.meter.charge(&response.usage, cost_usd);
        if !response.text.trim().is_empty() {
            self.last_text = response.text.clone();
        }
        self.push(Message::assistant(response.text, response.tool_calls));
    }

    /// A reply without a tool call: reminded, or the run ends when too many come in a row.
    fn no_tool_call(&mut self) -> Option<AgentOutcome> {
        self.context.emitter.emit(Event::NoToolCall {
            run: self.spec.run,
            turn: self.turns,
        });
        self.no_tool_call_in_a_row += 1;
        if self.no_tool_call_in_a_row >= self.spec.limits.max_consecutive_no_tool_call {
            return Some(AgentOutcome::NoToolCallLimit);
        }
        self.push(Message::user(NO_TOOL_CALL_REMINDER));
        None
    }

    /// Runs a turn's tool calls in order and answers each; `Some` when one of them ends the run.
    async fn run_tool_calls(
        &mut self,
        toolbox: &mut dyn Toolbox,
        calls: &[ToolCall],
    ) -> Option<AgentOutcome> {
        let mut ended: Option<AgentOutcome> = None;
        for call in calls {
            // Every call gets an answer, even those after a final tool, as chat APIs require.
            if ended.is_some() {
                self.push(Message::tool_result(
                    call,
                    "not run: an earlier call in this turn ended the task",
                    true,
                ));
                continue;
            }
            let call_started = Instant::now();
            let outcome = run_tool_call(&self.tools, toolbox, call).await;
            self.emit_tool_call(call, &outcome, millis(call_started.elapsed()));
            self.context.emitter.emit_notices(
                Some(self.spec.run),
                Some(self.turns),
                &call.name,
                outcome.notices,
            );
            if matches!(
                outcome.status,
                CallStatus::Malformed | CallStatus::UnknownTool
            ) {
                self.malformed_in_a_row += 1;
            } else {
                self.malformed_in_a_row = 0;
            }
            let is_error = outcome.status != CallStatus::Ok;
            self.push(Message::tool_result(call, outcome.content, is_error));
            if let Some(fatal) = outcome.fatal {
                self.harness_error = Some(fatal);
                ended = Some(AgentOutcome::HarnessError);
            } else if let Some(ending) = outcome.ending {
                ended = Some(outcome_of_ending(ending));
            }
        }
        ended
    }

    /// The `ToolCalled` event of one call: what it wrote or ran, and how it went.
    fn emit_tool_call(&self, call: &ToolCall, outcome: &CallOutcome, duration_ms: f64) {
        let context = self.context;
        let (path, file_class, command, exit_code, timed_out, dropped_bytes) = match &outcome.detail
        {
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
        context.emitter.emit(Event::ToolCalled {
            run: self.spec.run,
            turn: self.turns,
            tool: call.name.clone(),
            status: outcome.status,
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

    /// Closes the transcript and builds the result and the `AgentFinished` event.
    fn finish(mut self, outcome: AgentOutcome, duration_ms: f64) -> (AgentResult, Event) {
        self.transcript.end(outcome, self.turns);
        let summary = match (
            &self.error,
            &self.harness_error,
            self.transcript.take_error(),
        ) {
            (Some(e), _, _) => e.to_string(),
            (None, Some(fatal), _) => fatal.to_string(),
            (None, None, Some(e)) => format!("transcript incomplete: {e}"),
            (None, None, None) => String::new(),
        };
        let finished = Event::AgentFinished {
            run: self.spec.run,
            outcome,
            turns: self.turns,
            duration_ms,
            summary,
        };
        let result = AgentResult {
            outcome,
            turns: self.turns,
            error: self.error,
            harness_error: self.harness_error,
            last_text: self.last_text,
        };
        (result, finished)
    }
}

/// Runs one tool call: unknown tools and malformed arguments are answered without the tools.
async fn run_tool_call(
    tools: &[ToolSpec],
    toolbox: &mut dyn Toolbox,
    call: &ToolCall,
) -> CallOutcome {
    if !tools.iter().any(|t| t.name == call.name) {
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        return CallOutcome::rejected(
            CallStatus::UnknownTool,
            format!(
                "unknown tool `{}`; the tools are: {}",
                call.name,
                names.join(", ")
            ),
        );
    }
    let arguments = match parse_arguments(&call.arguments) {
        Ok(arguments) => arguments,
        Err(message) => {
            return CallOutcome::rejected(
                CallStatus::Malformed,
                format!("malformed arguments for `{}`: {message}", call.name),
            )
        }
    };
    let reply = match toolbox.call(&call.name, arguments).await {
        Ok(reply) => reply,
        Err(fatal) => {
            return CallOutcome {
                status: CallStatus::Failed,
                content: format!("the harness failed: {}", fatal.message),
                detail: ToolDetail::None,
                ending: None,
                notices: Vec::new(),
                fatal: Some(fatal),
            }
        }
    };
    let status = match reply.error {
        None => CallStatus::Ok,
        Some(ToolErrorKind::InvalidArguments) => CallStatus::Malformed,
        Some(ToolErrorKind::Refused) => CallStatus::Refused,
        Some(ToolErrorKind::Failed) => CallStatus::Failed,
        Some(ToolErrorKind::PlanViolation) => CallStatus::PlanViolation,
    };
    CallOutcome {
        status,
        content: reply.content,
        detail: reply.detail,
        ending: reply.ending.filter(|_| reply.error.is_none()),
        notices: reply.notices,
        fatal: None,
    }
}

/// How a backend error ends the agent run: a full context is the model's limit; anything else
/// is the backend's failure.
fn outcome_of_error(error: &ModelError) -> AgentOutcome {
    match error {
        ModelError::ContextLength { .. } => AgentOutcome::ContextLength,
        ModelError::Unavailable { .. }
        | ModelError::Protocol { .. }
        | ModelError::Engine { .. } => AgentOutcome::BackendError,
    }
}

fn outcome_of_ending(ending: Ending) -> AgentOutcome {
    match ending {
        Ending::Finished => AgentOutcome::Finished,
        Ending::Blocked => AgentOutcome::Blocked,
        Ending::Halted => AgentOutcome::Halted,
    }
}

/// Decodes a model's tool-call arguments: they must be a JSON object; an empty string counts as
/// `{}`.
pub fn parse_arguments(raw: &str) -> Result<Value, String> {
    if raw.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(other) => Err(format!(
            "expected a JSON object, got {}",
            crate::tools::json_kind(&other)
        )),
        Err(e) => Err(format!("not valid JSON ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::*;
    use crate::events::MemorySink;
    use crate::model::{CallTiming, StopReason, UsageSource};
    use crate::tools::{spec, CallResult};

    /// A model that calls `save` on every turn.
    struct Saver;

    #[async_trait]
    impl ModelSession for Saver {
        async fn complete(&mut self, _: ChatRequest<'_>) -> Result<ChatResponse, ModelError> {
            Ok(ChatResponse {
                text: String::new(),
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "save".into(),
                    arguments: "{}".into(),
                    recovered: false,
                }],
                stop: StopReason::ToolCalls,
                usage: Usage {
                    input_tokens: None,
                    cache_read_tokens: None,
                    cache_write_tokens: None,
                    output_tokens: None,
                    reasoning_tokens: None,
                    source: UsageSource::Estimate,
                    raw: None,
                },
                timing: CallTiming::default(),
                retries: 0,
            })
        }
    }

    /// Tools whose harness cannot save anything.
    struct BrokenDisk;

    #[async_trait]
    impl Toolbox for BrokenDisk {
        fn specs(&self) -> Vec<ToolSpec> {
            vec![spec("save", "Save.", serde_json::json!({"type": "object"}))]
        }

        async fn call(&mut self, _: &str, _: Value) -> CallResult {
            Err(ToolFatal::new(
                "cannot save the plan: no space left on device",
            ))
        }
    }

    struct NoBudget;

    impl Meter for NoBudget {
        fn exhausted(&self) -> Option<String> {
            None
        }

        fn charge(&self, _: &Usage, _: Option<f64>) {}
    }

    #[tokio::test]
    async fn a_harness_failure_in_a_tool_ends_the_run_as_a_harness_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = Arc::new(MemorySink::default());
        let emitter = Emitter::new(vec![sink.clone()]);
        let transcript = dir.path().join("t.jsonl");
        let context = AgentContext {
            emitter: &emitter,
            transcript_path: &transcript,
            classify_path: &|_: &str| FileClass::Other,
            meter: &NoBudget,
            price: None,
            redactor: &Redactor::default(),
            stop: None,
        };
        let spec = AgentRunSpec {
            run: 1,
            parent: None,
            role: Role::Orchestrator,
            model: "m".into(),
            provider: "p".into(),
            task: "plan",
            milestone: None,
            feature: None,
            round: None,
            system_prompt: "s".into(),
            user_prompt: "u".into(),
            limits: AgentLimits::with_max_turns(5),
            seed: None,
            temperature: None,
        };
        let result = run_agent(&spec, &mut Saver, &mut BrokenDisk, &context).await;
        // One turn: the run ends at the failure, it does not go on asking the model.
        assert_eq!(result.outcome, AgentOutcome::HarnessError);
        assert_eq!(result.turns, 1);
        assert_eq!(
            result.harness_error.map(|f| f.message),
            Some("cannot save the plan: no space left on device".to_string())
        );
        let records = sink.records.lock().expect("records");
        let called = records.iter().find_map(|r| match &r.event {
            Event::ToolCalled { status, .. } => Some(*status),
            _ => None,
        });
        assert_eq!(called, Some(CallStatus::Failed));
        let finished = records.iter().find_map(|r| match &r.event {
            Event::AgentFinished {
                outcome, summary, ..
            } => Some((*outcome, summary.clone())),
            _ => None,
        });
        assert_eq!(
            finished,
            Some((
                AgentOutcome::HarnessError,
                "cannot save the plan: no space left on device".to_string()
            ))
        );
        // The call is answered in the transcript, as chat APIs require, and says whose failure
        // it was.
        let text = std::fs::read_to_string(&transcript).expect("transcript");
        assert!(
            text.contains("the harness failed: cannot save the plan"),
            "{text}"
        );
    }

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
