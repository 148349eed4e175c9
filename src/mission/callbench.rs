//! The tool-call bench: a local model answers the worker's real first turn (its system prompt,
//! tools and the implement prompt of each feature of a suite's reference contract) many times,
//! with and without constrained tool calls, and the replies are sorted by what the agent loop
//! would get from them: a schema-valid call, an invalid or malformed one, or none.

use std::path::Path;

use crate::mission::prompts::Prompts;
use crate::mission::{render, worker_tools};
use crate::model::local::schema::Schema;
use crate::model::local::CandleBackend;
use crate::model::{ChatRequest, Message, ModelError, ModelInfo, ToolSpec};
use crate::spec::config::ModelConfig;
use crate::spec::contract::load_reference;
use crate::spec::error::SpecErrors;

/// The sampling temperature of the bench: an agent's usual, so replies vary.
pub const TEMPERATURE: f64 = 0.7;

/// One first turn of a worker.
#[derive(Debug, Clone)]
pub struct WorkerTurn {
    /// The feature's id.
    pub label: String,
    pub messages: Vec<Message>,
}

/// The worker's first turn for every feature of the reference contract in `mission_dir`
/// (`contract.toml`), with the embedded worker prompt.
pub fn worker_turns(mission_dir: &Path) -> Result<Vec<WorkerTurn>, SpecErrors> {
    let reference = load_reference(&mission_dir.join("contract.toml"))?;
    let contract = reference.contract();
    let system = Prompts::embedded().get("worker").to_string();
    Ok(reference
        .features
        .iter()
        .map(|feature| WorkerTurn {
            label: feature.id.to_string(),
            messages: vec![
                Message::system(system.clone()),
                Message::user(render::implement(feature, &contract, &reference.library)),
            ],
        })
        .collect())
}

/// What the replies of one model in one mode were.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallTally {
    pub constrained: bool,
    pub replies: usize,
    /// A call of an offered tool whose arguments fit its schema.
    pub valid: usize,
    /// A parsed call that names no offered tool or whose arguments break its schema.
    pub invalid: usize,
    /// A call the parser could not read.
    pub malformed: usize,
    /// A reply without a call.
    pub no_call: usize,
    /// Calls the parser recovered from a format other than the template's own (counted once
    /// the engine reports `recovered_tool_calls` in its usage).
    pub recovered: usize,
    pub output_tokens: u64,
    pub decode_ms: f64,
}

impl CallTally {
    pub fn share(&self, count: usize) -> f64 {
        count as f64 / self.replies.max(1) as f64
    }

    pub fn ms_per_token(&self) -> f64 {
        self.decode_ms / self.output_tokens.max(1) as f64
    }
}

fn count(raw: Option<&serde_json::Value>, key: &str) -> usize {
    raw.and_then(|raw| raw.get(key))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0) as usize
}

/// Whether `arguments` are a call of one of `tools` that fits its schema.
fn fits(tools: &[ToolSpec], name: &str, arguments: &str) -> bool {
    let Some(tool) = tools.iter().find(|t| t.name == name) else {
        return false;
    };
    serde_json::from_str(arguments).is_ok_and(|value| {
        Schema::compile_arguments(&tool.parameters)
            .validate(&value)
            .is_ok()
    })
}

/// Asks `model` every turn `samples` times in each mode (unconstrained first), each reply from
/// a fresh trajectory with its own seed.
pub fn bench_calls(
    name: &str,
    model: &ModelConfig,
    turns: &[WorkerTurn],
    samples: usize,
) -> Result<Vec<CallTally>, ModelError> {
    let tools = worker_tools();
    let mut tallies = Vec::new();
    for constrained in [false, true] {
        let config = ModelConfig {
            temperature: Some(TEMPERATURE),
            constrained_tool_calls: Some(constrained),
            share_prefixes: Some(false),
            ..model.clone()
        };
        let backend = CandleBackend::load(
            ModelInfo {
                name: name.to_string(),
                provider: "candle",
            },
            &config,
        )?;
        let engine = backend.engine();
        let mut tally = CallTally {
            constrained,
            ..CallTally::default()
        };
        let mut seed = 0;
        for turn in turns {
            let request = ChatRequest {
                messages: &turn.messages,
                tools: &tools,
                max_output_tokens: None,
                on_retry: None,
            };
            for _ in 0..samples {
                seed += 1;
                let mut trajectory = engine.new_trajectory(seed);
                let response = engine.complete(&mut trajectory, &request)?;
                let raw = response.usage.raw.as_ref();
                let malformed = count(raw, "malformed_tool_calls");
                tally.replies += 1;
                tally.recovered += count(raw, "recovered_tool_calls").min(1);
                tally.output_tokens += response.usage.output_tokens.unwrap_or(0);
                tally.decode_ms += raw
                    .and_then(|raw| raw.get("decode_ms"))
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(0.0);
                match response.tool_calls.first() {
                    None => tally.no_call += 1,
                    Some(_) if malformed > 0 => tally.malformed += 1,
                    Some(call) if fits(&tools, &call.name, &call.arguments) => tally.valid += 1,
                    Some(_) => tally.invalid += 1,
                }
            }
        }
        tallies.push(tally);
    }
    Ok(tallies)
}
