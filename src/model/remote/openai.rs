//! OpenAI Chat Completions, as OpenAI and the compatible servers (vLLM, SGLang, llama.cpp,
//! Ollama, LM Studio) speak it: the request body, the streamed chunks with tool-call fragments
//! reassembled per index, and usage normalised (`prompt_tokens` includes cached tokens).

use serde_json::{json, Map, Value};

use super::{clip, error_message, Assembled, Feed, StreamFault};
use crate::model::{ChatRequest, MessageRole, StopReason, ToolCall, Usage, UsageSource};

/// The request body. `params` go in first, so they can add fields but never replace the
/// conversation, the model or the streaming options.
/// `max_tokens` is the config's `max_new_tokens`, used when the request sets no limit.
pub fn body(
    request: &ChatRequest<'_>,
    model: &str,
    params: &Map<String, Value>,
    max_tokens: Option<u32>,
) -> Value {
    let mut body = params.clone();
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| match m.role {
            MessageRole::System => json!({"role": "system", "content": m.content}),
            MessageRole::User => json!({"role": "user", "content": m.content}),
            MessageRole::Assistant => {
                let mut message = Map::new();
                message.insert("role".into(), json!("assistant"));
                message.insert(
                    "content".into(),
                    if m.content.is_empty() && !m.tool_calls.is_empty() {
                        Value::Null
                    } else {
                        json!(m.content)
                    },
                );
                if !m.tool_calls.is_empty() {
                    let calls: Vec<Value> = m
                        .tool_calls
                        .iter()
                        .map(|c| {
                            json!({
                                "id": c.id,
                                "type": "function",
                                "function": {
                                    "name": c.name,
                                    "arguments": if c.arguments.trim().is_empty() { "{}" } else { c.arguments.as_str() },
                                },
                            })
                        })
                        .collect();
                    message.insert("tool_calls".into(), Value::Array(calls));
                }
                Value::Object(message)
            }
            MessageRole::Tool => json!({
                "role": "tool",
                "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
                "content": m.content,
            }),
        })
        .collect();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(max) = request.max_output_tokens.or(max_tokens) {
        if !body.contains_key("max_tokens") && !body.contains_key("max_completion_tokens") {
            body.insert("max_tokens".into(), json!(max));
        }
    }
    body.insert("stream".into(), json!(true));
    body.insert("stream_options".into(), json!({"include_usage": true}));
    Value::Object(body)
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Reassembles a streamed completion.
#[derive(Debug, Default)]
pub struct Stream {
    text: String,
    calls: Vec<(u64, PartialCall)>,
    finish: Option<String>,
    usage: Option<Value>,
    timings: Option<Value>,
    output_started: bool,
}

impl Stream {
    pub fn output_started(&self) -> bool {
        self.output_started
    }

    /// Takes one `data:` payload.
    pub fn feed(&mut self, data: &str) -> Result<Feed, StreamFault> {
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(Feed::Done);
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| {
            StreamFault::Malformed(format!("a stream chunk is not JSON ({e}): {}", clip(data)))
        })?;
        if let Some(error) = chunk.get("error") {
            return Err(StreamFault::Server(error_message(error)));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        if let Some(timings) = chunk.get("timings").filter(|t| t.is_object()) {
            self.timings = Some(timings.clone());
        }
        let Some(choices) = chunk.get("choices").and_then(Value::as_array) else {
            return Ok(Feed::Continue);
        };
        for choice in choices {
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            // Non-streamed shape, which some servers send as the one event of a stream.
            let delta = choice.get("delta").or_else(|| choice.get("message"));
            if let Some(delta) = delta {
                self.take_delta(delta);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish = Some(reason.to_string());
            }
        }
        Ok(Feed::Continue)
    }

    fn take_delta(&mut self, delta: &Value) {
        if let Some(content) = delta.get("content").and_then(Value::as_str) {
            if !content.is_empty() {
                self.output_started = true;
                self.text.push_str(content);
            }
        }
        if delta
            .get("reasoning_content")
            .or_else(|| delta.get("reasoning"))
            .and_then(Value::as_str)
            .is_some_and(|r| !r.is_empty())
        {
            self.output_started = true;
        }
        let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) else {
            return;
        };
        for fragment in calls {
            self.output_started = true;
            let id = fragment.get("id").and_then(Value::as_str).unwrap_or("");
            let index = match fragment.get("index").and_then(Value::as_u64) {
                Some(index) => index,
                // Servers that omit the index: a new id starts a new call.
                None => match self.calls.last() {
                    Some((last, call)) if id.is_empty() || call.id == id => *last,
                    Some((last, _)) => last + 1,
                    None => 0,
                },
            };
            let slot = match self.calls.iter().position(|(i, _)| *i == index) {
                Some(slot) => slot,
                None => {
                    self.calls.push((index, PartialCall::default()));
                    self.calls.len() - 1
                }
            };
            let call = &mut self.calls[slot].1;
            if !id.is_empty() {
                call.id = id.to_string();
            }
            let function = fragment.get("function");
            if let Some(name) = function.and_then(|f| f.get("name")).and_then(Value::as_str) {
                // Some servers repeat the whole name in every fragment.
                if call.name != name {
                    call.name.push_str(name);
                }
            }
            match function.and_then(|f| f.get("arguments")) {
                Some(Value::String(piece)) => call.arguments.push_str(piece),
                // Ollama has sent arguments as an object rather than text.
                Some(object @ Value::Object(_)) => call.arguments = object.to_string(),
                _ => {}
            }
        }
    }

    /// Whether the stream said how it finished (enough to accept a stream cut before `[DONE]`).
    pub fn finished(&self) -> bool {
        self.finish.is_some()
    }

    pub fn assemble(self, call_ids: &mut dyn FnMut() -> String) -> Assembled {
        let mut calls = self.calls;
        calls.sort_by_key(|(index, _)| *index);
        let tool_calls = calls
            .into_iter()
            .map(|(_, call)| ToolCall {
                id: if call.id.is_empty() {
                    call_ids()
                } else {
                    call.id
                },
                name: call.name,
                arguments: call.arguments,
                recovered: false,
            })
            .collect();
        let stop = match self.finish.as_deref() {
            Some("stop") | None => StopReason::EndTurn,
            Some("tool_calls" | "function_call") => StopReason::ToolCalls,
            Some("length") => StopReason::MaxTokens,
            Some(other) => StopReason::Other(other.to_string()),
        };
        let timing = llama_timings(self.timings.as_ref());
        Assembled {
            text: self.text,
            tool_calls,
            stop,
            usage: usage(self.usage.as_ref(), self.timings.as_ref()),
            prefill_tokens: timing.0,
            prefill_tokens_per_s: timing.1,
            decode_tokens_per_s: timing.2,
        }
    }
}

/// Usage as OpenAI-compatible servers report it. Absent fields stay `None`. Cached tokens come
/// from `prompt_tokens_details.cached_tokens`, else DeepSeek's `prompt_cache_hit_tokens`, else
/// llama.cpp's `timings.cache_n`. The raw object is kept, with llama.cpp's `timings` added
/// under that key.
pub fn usage(usage: Option<&Value>, timings: Option<&Value>) -> Usage {
    let field = |path: &[&str]| -> Option<u64> {
        let mut value = usage?;
        for key in path {
            value = value.get(key)?;
        }
        value.as_u64()
    };
    let cache_read = field(&["prompt_tokens_details", "cached_tokens"])
        .or_else(|| field(&["prompt_cache_hit_tokens"]))
        .or_else(|| {
            usage?;
            timings?.get("cache_n")?.as_u64()
        });
    let raw = usage.map(|u| {
        let mut raw = u.clone();
        if let (Some(object), Some(timings)) = (raw.as_object_mut(), timings) {
            object.insert("timings".into(), timings.clone());
        }
        raw
    });
    Usage {
        input_tokens: field(&["prompt_tokens"]),
        cache_read_tokens: cache_read,
        cache_write_tokens: None,
        output_tokens: field(&["completion_tokens"]),
        reasoning_tokens: field(&["completion_tokens_details", "reasoning_tokens"]),
        source: UsageSource::Provider,
        raw,
    }
}

/// llama.cpp's `timings`: prompt tokens computed, prefill and decode speeds.
fn llama_timings(timings: Option<&Value>) -> (Option<u64>, Option<f64>, Option<f64>) {
    let Some(t) = timings else {
        return (None, None, None);
    };
    (
        t.get("prompt_n").and_then(Value::as_u64),
        t.get("prompt_per_second").and_then(Value::as_f64),
        t.get("predicted_per_second").and_then(Value::as_f64),
    )
}
