//! One local model serving agent trajectories: each trajectory is kept at token level (the ids
//! the model generated are kept verbatim; only new messages are rendered and tokenized), and
//! every turn reuses the longest cached token prefix, prefilling only what is new.

use std::collections::HashSet;
use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use candle_core::Tensor;
use tokenizers::Tokenizer;

use super::constrain::ReplyConstraint;
use super::kv::KvCache;
use super::sampling::{Sampler, SamplingParams};
use super::template::ChatTemplate;
use super::toolcall::{parse_tool_calls, Leniency, ToolCallFormat};
use super::transformer::Transformer;
use crate::model::{
    millis, CallTiming, ChatRequest, ChatResponse, Message, ModelError, StopReason, Usage,
    UsageSource,
};

/// Prefill is done in chunks of this many tokens, bounding the attention scores' memory.
const PREFILL_CHUNK: usize = 512;
/// Prompt tokens whose text is checked for a tool call the prompt opens.
const PROMPT_TAIL_TOKENS: usize = 8;
/// Finished trajectories kept for other agents to start from.
const SHARED_PREFIXES: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerationParams {
    pub sampling: SamplingParams,
    pub max_new_tokens: usize,
    /// Longest context (prompt plus generated tokens).
    pub max_context: usize,
    /// Let new trajectories start from the KV state of finished ones with the same beginning.
    pub share_prefixes: bool,
    /// Hold a reply's tool call (when it writes one) to the tool's schema and the token budget.
    pub constrained_tool_calls: bool,
}

/// A loaded model with everything needed to chat with it.
pub struct LocalEngine {
    pub transformer: Transformer,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    /// Ids that end a turn.
    pub stop_ids: Vec<u32>,
    /// The text of the end-of-turn marker the template writes after an assistant message.
    pub end_of_turn: String,
    pub tool_format: ToolCallFormat,
    pub params: GenerationParams,
    shared: Mutex<VecDeque<(Vec<u32>, KvCache)>>,
    /// Special (added) tokens: never part of a constrained call.
    special_ids: HashSet<u32>,
    end_of_turn_id: Option<u32>,
    /// The text of every token, built the first time a constrained call needs it.
    texts: OnceLock<Vec<String>>,
}

/// The per-trajectory state.
pub struct Trajectory {
    /// Every token so far: prompts and generated ids.
    tokens: Vec<u32>,
    /// Tokens whose keys and values are in `cache` (a prefix of `tokens`).
    cached: Vec<u32>,
    cache: KvCache,
    /// Request messages represented in `tokens`, counting the assistant reply last generated.
    messages_consumed: usize,
    /// Whether the last generation ended with a stop token.
    ended_with_stop: bool,
    sampler: Sampler,
    calls: u64,
}

/// Numbers of one call, beyond the text.
struct Generation {
    ids: Vec<u32>,
    prompt_tokens: usize,
    cached_tokens: usize,
    prefill_ms: f64,
    first_token_ms: f64,
    decode_ms: f64,
    stopped: bool,
}

/// A failure of the engine itself (candle, the tokenizer, the chat template): never the model's
/// reply, so never a protocol error.
fn engine_error(e: impl ToString) -> ModelError {
    ModelError::Engine {
        message: e.to_string(),
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl LocalEngine {
    pub fn new(
        transformer: Transformer,
        tokenizer: Tokenizer,
        template: ChatTemplate,
        stop_ids: Vec<u32>,
        end_of_turn: String,
        params: GenerationParams,
    ) -> LocalEngine {
        let tool_format = template.tool_call_format();
        let special_ids = tokenizer
            .get_added_tokens_decoder()
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| *id)
            .collect();
        let end_of_turn_id = tokenizer.token_to_id(&end_of_turn);
        LocalEngine {
            transformer,
            tokenizer,
            template,
            stop_ids,
            end_of_turn,
            tool_format,
            params,
            shared: Mutex::new(VecDeque::new()),
            special_ids,
            end_of_turn_id,
            texts: OnceLock::new(),
        }
    }

    /// A new trajectory whose sampler is seeded from the model's seed and `context_seed` (the
    /// agent run's own, derived from where the run sits in the benchmark), never from the order
    /// in which trajectories start.
    pub fn new_trajectory(&self, context_seed: u64) -> Trajectory {
        let sampling = SamplingParams {
            seed: crate::rng::derive_seed(&[
                &self.params.sampling.seed.to_le_bytes(),
                &context_seed.to_le_bytes(),
            ]),
            ..self.params.sampling
        };
        Trajectory {
            tokens: Vec::new(),
            cached: Vec::new(),
            cache: KvCache::new(self.transformer.shape.num_layers),
            messages_consumed: 0,
            ended_with_stop: false,
            sampler: Sampler::new(sampling),
            calls: 0,
        }
    }

    /// Each token's text; tokens that are not whole characters on their own are empty.
    fn token_texts(&self) -> &[String] {
        self.texts.get_or_init(|| {
            (0..self.tokenizer.get_vocab_size(true) as u32)
                .map(|id| {
                    self.tokenizer
                        .decode(&[id], false)
                        .ok()
                        .filter(|t| !t.contains('\u{FFFD}'))
                        .unwrap_or_default()
                })
                .collect()
        })
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(engine_error)
    }

    /// The prompt of this request at token level: the trajectory so far plus only the new
    /// messages, when the template renders append-only; a full render otherwise.
    fn prompt_tokens(
        &self,
        trajectory: &Trajectory,
        request: &ChatRequest<'_>,
    ) -> Result<Vec<u32>, ModelError> {
        let render = |messages: &[Message], generation_prompt: bool| {
            self.template
                .render(messages, request.tools, generation_prompt)
                .map_err(engine_error)
        };
        let full = render(request.messages, true)?;
        let consumed = trajectory.messages_consumed;
        if consumed > 0 && consumed <= request.messages.len() {
            // The prompt our last reply answered. The full render continues it with the reply as
            // the template writes it (Qwen3 drops an empty think block there, for one), up to the
            // reply's end-of-turn marker, then the new messages. The reply is kept as generated;
            // only what follows its marker is tokenized.
            let before_reply = render(&request.messages[..consumed - 1], true)?;
            let after_reply = full.strip_prefix(before_reply.as_str()).and_then(|rest| {
                rest.find(self.end_of_turn.as_str())
                    .map(|at| &rest[at + self.end_of_turn.len()..])
            });
            if let Some(new_text) = after_reply {
                let mut tokens = trajectory.tokens.clone();
                if !trajectory.ended_with_stop {
                    tokens.extend(self.encode(&self.end_of_turn)?);
                }
                tokens.extend(self.encode(new_text)?);
                return Ok(tokens);
            }
        }
        self.encode(&full)
    }

    /// Answers one request in `trajectory`.
    pub fn complete(
        &self,
        trajectory: &mut Trajectory,
        request: &ChatRequest<'_>,
    ) -> Result<ChatResponse, ModelError> {
        let started = Instant::now();
        let prompt = self.prompt_tokens(trajectory, request)?;
        let max_context = self
            .params
            .max_context
            .min(self.transformer.max_positions());
        if prompt.len() + 1 >= max_context {
            return Err(ModelError::ContextLength {
                message: format!(
                    "the prompt has {} tokens; the context holds {max_context}",
                    prompt.len()
                ),
            });
        }
        let budget = self
            .params
            .max_new_tokens
            .min(request.max_output_tokens.map_or(usize::MAX, |n| n as usize))
            .min(max_context.saturating_sub(prompt.len() + 1))
            .max(1);
        let mut opened_by_prompt = None;
        let constraint = if self.params.constrained_tool_calls && !request.tools.is_empty() {
            let tail_from = prompt.len().saturating_sub(PROMPT_TAIL_TOKENS);
            let tail = self
                .tokenizer
                .decode(&prompt[tail_from..], false)
                .map_err(engine_error)?;
            let (constraint, opened) =
                ReplyConstraint::new(self.tool_format, request.tools, budget).after_prompt(&tail);
            opened_by_prompt = opened;
            Some(constraint)
        } else {
            None
        };
        let generation = self.generate(trajectory, &prompt, budget, constraint)?;
        trajectory.calls += 1;
        trajectory.messages_consumed = request.messages.len() + 1;
        trajectory.ended_with_stop = generation.stopped;
        trajectory.tokens = prompt;
        trajectory.tokens.extend(&generation.ids);

        let visible: Vec<u32> = match generation.ids.split_last() {
            Some((last, rest)) if generation.stopped && self.stop_ids.contains(last) => {
                rest.to_vec()
            }
            _ => generation.ids.clone(),
        };
        let mut text = self
            .tokenizer
            .decode(&visible, false)
            .map_err(engine_error)?;
        if let Some(opening) = opened_by_prompt {
            // The call began in the prompt: its parser sees it from its opening.
            text.insert_str(0, &opening);
        }
        let parsed = parse_tool_calls(
            self.tool_format,
            &text,
            &format!("call_{}_", trajectory.calls),
            // Every reply is read leniently: under constraint a call opened by a fence or a bare
            // object is schema-valid but not in the template's format, and is flagged recovered.
            Leniency::Lenient,
        );
        let prefilled = generation.prompt_tokens - generation.cached_tokens;
        let decoded = generation.ids.len().saturating_sub(1);
        let stop = if !parsed.calls.is_empty() {
            StopReason::ToolCalls
        } else if generation.stopped {
            StopReason::EndTurn
        } else {
            StopReason::MaxTokens
        };
        let usage = Usage {
            input_tokens: Some(generation.prompt_tokens as u64),
            cache_read_tokens: Some(generation.cached_tokens as u64),
            cache_write_tokens: Some(prefilled as u64),
            output_tokens: Some(generation.ids.len() as u64),
            reasoning_tokens: None,
            source: UsageSource::Engine,
            raw: Some(serde_json::json!({
                "prompt_tokens": generation.prompt_tokens,
                "cached_tokens": generation.cached_tokens,
                "prefill_tokens": prefilled,
                "prefill_ms": generation.prefill_ms,
                "decode_ms": generation.decode_ms,
                "malformed_tool_calls": parsed.malformed,
                "recovered_tool_calls": parsed.recovered,
            })),
        };
        let per_second =
            |count: usize, ms: f64| (ms > 0.0 && count > 0).then(|| count as f64 * 1000.0 / ms);
        let timing = CallTiming {
            latency_ms: millis(started.elapsed()),
            ttft_ms: Some(generation.first_token_ms),
            prefill_tokens: Some(prefilled as u64),
            prefill_tokens_per_s: per_second(prefilled, generation.prefill_ms),
            decode_tokens_per_s: per_second(decoded, generation.decode_ms),
        };
        Ok(ChatResponse {
            text: parsed.text,
            tool_calls: parsed.calls,
            stop,
            usage,
            timing,
            retries: 0,
        })
    }

    /// Reuses the longest cached prefix of `prompt`, prefills the rest, and decodes.
    fn generate(
        &self,
        trajectory: &mut Trajectory,
        prompt: &[u32],
        budget: usize,
        mut constraint: Option<ReplyConstraint>,
    ) -> Result<Generation, ModelError> {
        let started = Instant::now();
        // Never reuse everything: the last prompt token must be run to get the next logits.
        let mut reuse = common_prefix(prompt, &trajectory.cached).min(prompt.len() - 1);
        if reuse == 0 && self.params.share_prefixes {
            if let Some((length, cache)) = self.shared_prefix(prompt)? {
                trajectory.cache = cache;
                trajectory.cached = prompt[..length].to_vec();
                reuse = length;
            }
        }
        trajectory.cache.truncate(reuse);
        trajectory.cached.truncate(reuse);
        // The repetition penalty sees the trajectory as it now stands.
        trajectory.sampler.clear_window();
        for token in prompt {
            trajectory.sampler.observe(*token);
        }
        let mut logits: Option<Tensor> = None;
        for chunk in prompt[reuse..].chunks(PREFILL_CHUNK) {
            logits = Some(
                self.transformer
                    .forward(chunk, &mut trajectory.cache, false)
                    .map_err(engine_error)?,
            );
            trajectory.cached.extend_from_slice(chunk);
        }
        let mut logits = logits.ok_or_else(|| engine_error("nothing to prefill"))?;
        let prefill_ms = millis(started.elapsed());
        let decode_started = Instant::now();
        let mut ids: Vec<u32> = Vec::new();
        // How many of `ids` are in the cache.
        let mut fed = 0;
        let mut first_token_ms = 0.0;
        let texts: &[String] = if constraint.is_some() {
            self.token_texts()
        } else {
            &[]
        };
        let stopped = loop {
            let logits_vec: Vec<f32> = logits
                .squeeze(0)
                .and_then(|l| l.to_vec1())
                .map_err(engine_error)?;
            let token = match constraint.as_mut() {
                None => Some(trajectory.sampler.sample_slice(&logits_vec)),
                Some(constraint) => {
                    constraint.set_remaining(budget.saturating_sub(ids.len()));
                    let in_call = constraint.in_call();
                    let constraint = &*constraint;
                    let allowed = |id: u32| {
                        !(in_call && self.special_ids.contains(&id))
                            && texts
                                .get(id as usize)
                                .is_some_and(|t| constraint.accepts(t))
                    };
                    trajectory.sampler.sample_allowed(&logits_vec, allowed)
                }
            };
            if first_token_ms == 0.0 {
                first_token_ms = millis(started.elapsed());
            }
            // What follows the token: text written for the model, and whether the turn ends.
            let mut forced = String::new();
            let mut ends = false;
            match (token, constraint.as_mut()) {
                (Some(token), None) => {
                    ids.push(token);
                    ends = self.stop_ids.contains(&token);
                }
                (Some(token), Some(constraint)) => {
                    ids.push(token);
                    let in_prose = !constraint.in_call();
                    constraint.push(texts.get(token as usize).map_or("", String::as_str));
                    if in_prose && !constraint.in_call() && self.stop_ids.contains(&token) {
                        break true;
                    }
                    forced = constraint.take_forced();
                    // Near the budget the call is finished for the model, within the budget.
                    let remaining = budget.saturating_sub(ids.len());
                    if constraint.in_call() && remaining <= constraint.completion_tokens() {
                        forced.push_str(&constraint.completion().unwrap_or_default());
                        ends = true;
                    } else if constraint.is_done() {
                        forced.push_str(constraint.closing());
                        ends = true;
                    }
                }
                // No token can continue the call: it is finished for the model.
                (None, Some(constraint)) if constraint.in_call() => {
                    forced = constraint.completion().unwrap_or_default();
                    ends = true;
                }
                (None, _) => break false,
            }
            let forced = if forced.is_empty() {
                Vec::new()
            } else {
                self.encode(&forced)?
            };
            ids.extend(&forced);
            if ends {
                if constraint.is_some() {
                    ids.extend(self.end_of_turn_id);
                }
                break true;
            }
            if ids.len() >= budget {
                break false;
            }
            // The sampled token and the text forced after it run in one step.
            let step = ids[fed..].to_vec();
            fed = ids.len();
            for token in &step {
                trajectory.sampler.observe(*token);
            }
            logits = self
                .transformer
                .forward(&step, &mut trajectory.cache, false)
                .map_err(engine_error)?;
            trajectory.cached.extend(step);
        };
        Ok(Generation {
            ids,
            prompt_tokens: prompt.len(),
            cached_tokens: reuse,
            prefill_ms,
            first_token_ms,
            decode_ms: millis(decode_started.elapsed()),
            stopped,
        })
    }

    /// The longest prefix of `prompt` that a finished trajectory holds, as a private copy.
    fn shared_prefix(&self, prompt: &[u32]) -> Result<Option<(usize, KvCache)>, ModelError> {
        let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let best = shared
            .iter()
            .map(|(tokens, cache)| {
                (
                    common_prefix(prompt, tokens)
                        .min(cache.len())
                        .min(prompt.len() - 1),
                    cache,
                )
            })
            .max_by_key(|(length, _)| *length);
        match best {
            Some((length, cache)) if length > 0 => Ok(Some((
                length,
                cache.copy_prefix(length).map_err(engine_error)?,
            ))),
            _ => Ok(None),
        }
    }

    /// Keeps a finished trajectory's cache for later trajectories to start from.
    pub fn share(&self, trajectory: Trajectory) {
        if !self.params.share_prefixes || trajectory.cached.is_empty() {
            return;
        }
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.push_front((trajectory.cached, trajectory.cache));
        shared.truncate(SHARED_PREFIXES);
    }
}

impl Trajectory {
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
}

impl LocalEngine {
    /// Prefill and decode speed at each of `depths` tokens of context, measured as
    /// `llama-bench` does (see [`super::speed`]).
    pub fn probe(
        &self,
        prompt_tokens: usize,
        decode_tokens: usize,
        depths: &[usize],
    ) -> Result<Vec<super::speed::SpeedPoint>, ModelError> {
        depths
            .iter()
            .map(|&depth| {
                super::speed::measure(&self.transformer, depth, prompt_tokens, decode_tokens)
                    .map_err(engine_error)
            })
            .collect()
    }

    /// The matrix kernels and threads the model runs on (`candle` where none is packed).
    pub fn kernel_summary(&self) -> String {
        self.transformer.kernel_summary()
    }
}
