//! Model backends: the [`ModelBackend`] trait every provider implements, the chat types it speaks,
//! and the registry that loads each configured model once for a run.
//!
//! A backend turns messages plus tool schemas into text, tool calls, usage and timing. Per-agent
//! state (a KV cache, a replay position) lives in the [`ModelSession`] a backend starts for each
//! agent run. Nothing above this module knows which provider answers.

pub mod estimate;
pub mod lenient_json;
pub mod local;
pub mod nop;
pub mod oracle;
pub mod recover;
pub mod remote;
pub mod replay;
pub mod secret;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::spec::config::{Config, ModelConfig, PricePerMtok, Provider};
use crate::spec::{Assertion, Feature, FindingGroup, MilestoneId, MissionSpec, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    System,
    User,
    Assistant,
    Tool,
}

/// A tool call as the model produced it; `arguments` is the raw text, parsed by the agent loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
    /// The call was not in the model's own tool-call format (a fenced block, a bare object in
    /// the text, a missing closing tag, Python inside the JSON) and the harness recovered it.
    /// Native calls of a remote API and well-formed calls in a template's format are not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: MessageRole,
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For tool results: the call answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Message {
        Message::plain(MessageRole::System, content)
    }

    pub fn user(content: impl Into<String>) -> Message {
        Message::plain(MessageRole::User, content)
    }

    pub fn assistant(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Message {
        Message {
            tool_calls,
            ..Message::plain(MessageRole::Assistant, content)
        }
    }

    pub fn tool_result(call: &ToolCall, content: impl Into<String>, is_error: bool) -> Message {
        Message {
            tool_call_id: Some(call.id.clone()),
            tool_name: Some(call.name.clone()),
            is_error,
            ..Message::plain(MessageRole::Tool, content)
        }
    }

    fn plain(role: MessageRole, content: impl Into<String>) -> Message {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
        }
    }
}

/// A tool as offered to a model: name, description and JSON schema of its arguments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// A fault a backend survived on the way to an answer: another attempt follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRetry {
    /// 1 for the first retry.
    pub attempt: u32,
    /// The reply had begun streaming: it was dropped and the turn restarted.
    pub restart: bool,
    pub reason: String,
    /// How long the backend waits before the next attempt.
    pub wait_ms: f64,
}

/// Told of each retry as it happens.
pub type RetryObserver<'a> = &'a (dyn Fn(&CallRetry) + Send + Sync);

#[derive(Clone, Copy)]
pub struct ChatRequest<'a> {
    pub messages: &'a [Message],
    pub tools: &'a [ToolSpec],
    pub max_output_tokens: Option<u32>,
    /// Told of every retry (remote backends); `None` when nobody listens.
    pub on_retry: Option<RetryObserver<'a>>,
}

impl<'a> ChatRequest<'a> {
    pub fn new(messages: &'a [Message], tools: &'a [ToolSpec]) -> ChatRequest<'a> {
        ChatRequest {
            messages,
            tools,
            max_output_tokens: None,
            on_retry: None,
        }
    }
}

impl std::fmt::Debug for ChatRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatRequest")
            .field("messages", &self.messages)
            .field("tools", &self.tools)
            .field("max_output_tokens", &self.max_output_tokens)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    ToolCalls,
    MaxTokens,
    Other(String),
}

impl StopReason {
    /// The label every table, export and page shows: `end_turn`, `tool_calls`, `max_tokens`, or
    /// the server's own word.
    pub fn as_str(&self) -> &str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::ToolCalls => "tool_calls",
            StopReason::MaxTokens => "max_tokens",
            StopReason::Other(other) => other,
        }
    }
}

/// Where token numbers came from. Estimates are never passed off as exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// Reported by a remote API.
    Provider,
    /// Counted by the in-process engine.
    Engine,
    /// Estimated from text length (oracle, nop).
    Estimate,
}

impl UsageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageSource::Provider => "provider",
            UsageSource::Engine => "engine",
            UsageSource::Estimate => "estimate",
        }
    }
}

/// Token usage of one call. `None` means the source said nothing, never zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Every input token of the call, cached ones included.
    pub input_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    pub source: UsageSource,
    /// The provider's usage object as it was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<serde_json::Value>,
}

impl Usage {
    /// Input plus output tokens, what budgets count.
    pub fn total(&self) -> u64 {
        self.input_tokens.unwrap_or(0) + self.output_tokens.unwrap_or(0)
    }

    /// Cost in USD, when a price is known and the usage is complete enough to price.
    pub fn cost_usd(&self, price: Option<&PricePerMtok>) -> Option<f64> {
        let price = price?;
        let input = self.input_tokens? as f64;
        let output = self.output_tokens? as f64;
        let cache_read = self.cache_read_tokens.unwrap_or(0) as f64;
        let cache_write = self.cache_write_tokens.unwrap_or(0) as f64;
        let uncached = (input - cache_read - cache_write).max(0.0);
        let cost = uncached * price.input
            + cache_read * price.cache_read.unwrap_or(price.input)
            + cache_write * price.cache_write.unwrap_or(price.input)
            + output * price.output;
        Some(cost / 1e6)
    }
}

/// Timing of one call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallTiming {
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    /// Tokens the engine had to prefill (not served from a cache).
    pub prefill_tokens: Option<u64>,
    pub prefill_tokens_per_s: Option<f64>,
    pub decode_tokens_per_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub stop: StopReason,
    pub usage: Usage,
    pub timing: CallTiming,
    /// Faults survived on the way to this answer (retries and restarted streams).
    pub retries: u32,
}

/// Why a call failed. Who it is for: every variant ends the agent run; the runner decides from
/// [`ModelError::is_infrastructure`] whether the mission failed or the infrastructure did.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    #[error("model backend unavailable: {message}")]
    Unavailable { message: String },
    #[error("context length exceeded: {message}")]
    ContextLength { message: String },
    #[error("model response could not be understood: {message}")]
    Protocol { message: String },
    /// The local engine itself failed (candle, the tokenizer, the chat template), whatever the
    /// model would have said.
    #[error("local inference failed: {message}")]
    Engine { message: String },
}

impl ModelError {
    pub fn is_infrastructure(&self) -> bool {
        match self {
            ModelError::Unavailable { .. }
            | ModelError::Protocol { .. }
            | ModelError::Engine { .. } => true,
            ModelError::ContextLength { .. } => false,
        }
    }
}

/// What an agent run is for. Backends may ignore it; the oracle replays the reference for it.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentTask {
    Plan,
    Implement {
        feature: Feature,
    },
    Review {
        feature: Feature,
    },
    UserTest {
        milestone: MilestoneId,
        assertions: Vec<Assertion>,
    },
    Fix {
        milestone: MilestoneId,
        round: u32,
        /// The open blocking findings, grouped by what they concern: one fix feature each.
        groups: Vec<FindingGroup>,
    },
    Investigate {
        question: String,
    },
}

impl AgentTask {
    pub fn kind(&self) -> &'static str {
        match self {
            AgentTask::Plan => "plan",
            AgentTask::Implement { .. } => "implement",
            AgentTask::Review { .. } => "review",
            AgentTask::UserTest { .. } => "user_test",
            AgentTask::Fix { .. } => "fix",
            AgentTask::Investigate { .. } => "investigate",
        }
    }
}

/// Everything a backend may know about the agent run it serves.
#[derive(Debug, Clone)]
pub struct SessionContext {
    pub role: Role,
    pub task: AgentTask,
    pub mission: Arc<MissionSpec>,
    /// The agent run's seed, derived from the run's seed and the run's place in it (pairing,
    /// mission, repeat, agent run number): backends that sample seed from it, so the same
    /// command draws the same tokens whatever the concurrency or resumes. Remote backends leave
    /// sampling to the server and ignore it.
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The name under `[models]`.
    pub name: String,
    pub provider: &'static str,
}

/// What loading a model cost, for run.json and the runs table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    pub load_ms: Option<f64>,
    /// Growth of the process's resident memory while the model loaded.
    pub resident_bytes: Option<u64>,
    pub parameters: Option<u64>,
    pub detail: String,
}

pub trait ModelBackend: Send + Sync {
    fn info(&self) -> &ModelInfo;

    /// Load time and memory; empty for providers that load nothing.
    fn stats(&self) -> ModelStats {
        ModelStats::default()
    }

    /// Starts the state of one agent run (one trajectory).
    fn start_session(&self, context: SessionContext) -> Box<dyn ModelSession>;
}

#[async_trait]
pub trait ModelSession: Send {
    async fn complete(&mut self, request: ChatRequest<'_>) -> Result<ChatResponse, ModelError>;
}

/// A loaded model with its config.
#[derive(Clone)]
pub struct LoadedModel {
    pub backend: Arc<dyn ModelBackend>,
    pub config: ModelConfig,
}

/// What loading models takes from the environment, resolved by the caller.
#[derive(Debug, Clone, Default)]
pub struct ModelEnv {
    /// API keys by the name of the variable they came from (`api_key_env`).
    pub secrets: secret::Secrets,
    pub proxy: remote::ProxySettings,
}

impl ModelEnv {
    /// Removes every key of this environment from text.
    pub fn redactor(&self) -> secret::Redactor {
        secret::Redactor::new(self.secrets.values())
    }
}

/// Every model a run uses, each loaded once and shared by all agents that use it.
#[derive(Clone, Default)]
pub struct ModelRegistry {
    models: BTreeMap<String, LoadedModel>,
}

impl ModelRegistry {
    /// Loads the named models from the config.
    pub fn load<'a>(
        config: &Config,
        names: impl IntoIterator<Item = &'a str>,
        env: &ModelEnv,
    ) -> Result<ModelRegistry, ModelError> {
        let redactor = env.redactor();
        let mut models = BTreeMap::new();
        for name in names {
            if models.contains_key(name) {
                continue;
            }
            let model_config = config
                .models
                .get(name)
                .ok_or_else(|| ModelError::Unavailable {
                    message: format!("model `{name}` is not defined under [models]"),
                })?;
            let info = ModelInfo {
                name: name.to_string(),
                provider: model_config.provider.as_str(),
            };
            let backend: Arc<dyn ModelBackend> = match model_config.provider {
                Provider::Oracle => Arc::new(oracle::OracleBackend::new(info)),
                Provider::Nop => Arc::new(nop::NopBackend::new(info)),
                Provider::Replay => Arc::new(replay::ReplayBackend::new(info)),
                Provider::Candle => Arc::new(local::CandleBackend::load(info, model_config)?),
                Provider::Openai | Provider::Anthropic => {
                    let api_key = match &model_config.api_key_env {
                        None => None,
                        Some(var) => Some(env.secrets.get(var).cloned().ok_or_else(|| {
                            ModelError::Unavailable {
                                message: format!(
                                    "model `{name}`: the environment variable `{var}` (api_key_env) is not set"
                                ),
                            }
                        })?),
                    };
                    let options = remote::RemoteOptions::from_config(name, model_config, api_key)?;
                    Arc::new(remote::RemoteBackend::new(
                        info,
                        options,
                        &env.proxy,
                        redactor.clone(),
                    )?)
                }
            };
            models.insert(
                name.to_string(),
                LoadedModel {
                    backend,
                    config: model_config.clone(),
                },
            );
        }
        Ok(ModelRegistry { models })
    }

    pub fn get(&self, name: &str) -> Option<&LoadedModel> {
        self.models.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &LoadedModel)> {
        self.models.iter()
    }
}

/// Milliseconds of a duration as a float, the unit of every timing column.
pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
