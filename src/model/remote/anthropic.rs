//! Anthropic Messages: the request body with prompt-caching breakpoints placed for an
//! append-only trajectory, the streamed events, and usage normalised (`input_tokens` excludes
//! cache reads and writes, so the total input is the sum of the three).
//!
//! Breakpoints, at most four: the last tool (caches the tools), the last system block (tools and
//! system), the newest message (the sliding breakpoint every turn writes) and the user message
//! before it (where the previous request wrote, so each turn reads back exactly what the last
//! one cached, however many blocks a turn adds). The history is rebuilt from the harness's own
//! messages on every call, so markers of earlier requests are never replayed.

use serde_json::{json, Map, Value};

use super::{clip, error_message, Assembled, Feed, StreamFault};
use crate::model::{ChatRequest, MessageRole, StopReason, ToolCall, Usage, UsageSource};

/// The most `cache_control` markers one request may carry.
pub const MAX_BREAKPOINTS: usize = 4;

/// Model output tokens when neither the config nor the request sets a limit (`max_tokens` is
/// required by the API).
pub const DEFAULT_MAX_TOKENS: u32 = 8192;

pub struct BodyOptions<'a> {
    pub model: &'a str,
    pub params: &'a Map<String, Value>,
    /// `None` turns prompt caching off; otherwise the marker's TTL (`5m`, `1h`).
    pub cache_ttl: Option<&'a str>,
    pub max_tokens: u32,
}

pub fn body(request: &ChatRequest<'_>, options: &BodyOptions<'_>) -> Value {
    let mut body = options.params.clone();
    let marker = options.cache_ttl.map(|ttl| {
        if ttl == "5m" {
            json!({"type": "ephemeral"})
        } else {
            json!({"type": "ephemeral", "ttl": ttl})
        }
    });

    let mut system: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| m.role == MessageRole::System && !m.content.is_empty())
        .map(|m| json!({"type": "text", "text": m.content}))
        .collect();
    let mut messages: Vec<Value> = Vec::new();
    for message in request.messages {
        let (role, blocks): (&str, Vec<Value>) = match message.role {
            MessageRole::System => continue,
            MessageRole::User => ("user", vec![text_block(&message.content)]),
            MessageRole::Tool => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id.clone().unwrap_or_default(),
                    "content": if message.content.is_empty() { "(no output)" } else { message.content.as_str() },
                    "is_error": message.is_error,
                })],
            ),
            MessageRole::Assistant => {
                let mut blocks = Vec::new();
                if !message.content.trim().is_empty() {
                    blocks.push(text_block(&message.content));
                }
                for call in &message.tool_calls {
                    let input = match serde_json::from_str::<Value>(&call.arguments) {
                        Ok(value @ Value::Object(_)) => value,
                        _ => json!({}),
                    };
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
                }
                if blocks.is_empty() {
                    blocks.push(text_block(""));
                }
                ("assistant", blocks)
            }
        };
        // Consecutive turns of one role are one message: tool results and a following reminder
        // go back together, results first as the API requires.
        match messages.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(content) = last["content"].as_array_mut() {
                    content.extend(blocks);
                }
            }
            _ => messages.push(json!({"role": role, "content": blocks})),
        }
    }

    let mut tools: Vec<Value> = request
        .tools
        .iter()
        .map(
            |t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}),
        )
        .collect();

    if let Some(marker) = marker {
        let mut placed = 0;
        let mut mark = |block: Option<&mut Value>| {
            if let Some(Value::Object(block)) = block {
                if placed < MAX_BREAKPOINTS {
                    block.insert("cache_control".into(), marker.clone());
                    placed += 1;
                }
            }
        };
        mark(tools.last_mut());
        mark(system.last_mut());
        let users: Vec<usize> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m["role"] == "user")
            .map(|(i, _)| i)
            .collect();
        let newest = messages.len().checked_sub(1);
        let previous = users.iter().rev().find(|&&i| Some(i) != newest).copied();
        for index in [previous, newest].into_iter().flatten() {
            mark(
                messages[index]["content"]
                    .as_array_mut()
                    .and_then(|c| c.last_mut()),
            );
        }
    }

    body.insert("model".into(), json!(options.model));
    if !body.contains_key("max_tokens") {
        body.insert(
            "max_tokens".into(),
            json!(request.max_output_tokens.unwrap_or(options.max_tokens)),
        );
    }
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(true));
    Value::Object(body)
}

fn text_block(text: &str) -> Value {
    // Empty text blocks are rejected by the API.
    let text = if text.is_empty() { "(empty)" } else { text };
    json!({"type": "text", "text": text})
}

#[derive(Debug)]
enum Block {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        start_input: Value,
        json: String,
    },
    Other,
}

/// Reassembles a streamed message.
#[derive(Debug, Default)]
pub struct Stream {
    blocks: Vec<(u64, Block)>,
    usage: Map<String, Value>,
    saw_usage: bool,
    stop: Option<String>,
    output_started: bool,
}

impl Stream {
    pub fn output_started(&self) -> bool {
        self.output_started
    }

    pub fn finished(&self) -> bool {
        self.stop.is_some()
    }

    /// Takes one event (`event:` name and `data:` payload).
    pub fn feed(&mut self, event: &str, data: &str) -> Result<Feed, StreamFault> {
        if data.trim().is_empty() {
            return Ok(Feed::Continue);
        }
        let payload: Value = serde_json::from_str(data).map_err(|e| {
            StreamFault::Malformed(format!("a stream event is not JSON ({e}): {}", clip(data)))
        })?;
        let kind = payload.get("type").and_then(Value::as_str).unwrap_or(event);
        match kind {
            "message_start" => {
                if let Some(usage) = payload
                    .get("message")
                    .and_then(|m| m.get("usage"))
                    .and_then(Value::as_object)
                {
                    self.merge_usage(usage);
                }
            }
            "content_block_start" => {
                let index = payload.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = payload.get("content_block").cloned().unwrap_or(Value::Null);
                let block = match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        Block::Text(block["text"].as_str().unwrap_or_default().to_string())
                    }
                    Some("tool_use") => {
                        self.output_started = true;
                        Block::ToolUse {
                            id: block["id"].as_str().unwrap_or_default().to_string(),
                            name: block["name"].as_str().unwrap_or_default().to_string(),
                            start_input: block.get("input").cloned().unwrap_or(Value::Null),
                            json: String::new(),
                        }
                    }
                    _ => Block::Other,
                };
                self.blocks.push((index, block));
            }
            "content_block_delta" => {
                let index = payload.get("index").and_then(Value::as_u64).unwrap_or(0);
                let delta = payload.get("delta").cloned().unwrap_or(Value::Null);
                let block = self
                    .blocks
                    .iter_mut()
                    .rev()
                    .find(|(i, _)| *i == index)
                    .map(|(_, b)| b);
                match (delta.get("type").and_then(Value::as_str), block) {
                    (Some("text_delta"), Some(Block::Text(text))) => {
                        let piece = delta["text"].as_str().unwrap_or_default();
                        self.output_started |= !piece.is_empty();
                        text.push_str(piece);
                    }
                    (Some("input_json_delta"), Some(Block::ToolUse { json, .. })) => {
                        json.push_str(delta["partial_json"].as_str().unwrap_or_default());
                    }
                    (Some("text_delta" | "input_json_delta"), None) => {
                        return Err(StreamFault::Malformed(format!(
                            "a delta for content block {index}, which never started"
                        )));
                    }
                    // Thinking, signatures and kinds added later are not part of the reply.
                    _ => self.output_started = true,
                }
            }
            "message_delta" => {
                if let Some(reason) = payload
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                {
                    self.stop = Some(reason.to_string());
                }
                if let Some(usage) = payload.get("usage").and_then(Value::as_object) {
                    self.merge_usage(usage);
                }
            }
            "message_stop" => return Ok(Feed::Done),
            "error" => {
                let error = payload.get("error").cloned().unwrap_or(payload.clone());
                return Err(StreamFault::Server(error_message(&error)));
            }
            // `ping`, `content_block_stop` and event kinds added later.
            _ => {}
        }
        Ok(Feed::Continue)
    }

    /// `message_delta` carries cumulative counts; a field it repeats replaces the start's.
    fn merge_usage(&mut self, usage: &Map<String, Value>) {
        self.saw_usage = true;
        for (key, value) in usage {
            if !value.is_null() {
                self.usage.insert(key.clone(), value.clone());
            }
        }
    }

    pub fn assemble(self) -> Assembled {
        let mut blocks = self.blocks;
        blocks.sort_by_key(|(index, _)| *index);
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for (_, block) in blocks {
            match block {
                Block::Text(piece) => text.push_str(&piece),
                Block::ToolUse {
                    id,
                    name,
                    start_input,
                    json,
                } => {
                    let arguments = if !json.trim().is_empty() {
                        json
                    } else if start_input.as_object().is_some_and(|o| !o.is_empty()) {
                        start_input.to_string()
                    } else {
                        "{}".to_string()
                    };
                    tool_calls.push(ToolCall {
                        id,
                        name,
                        arguments,
                        recovered: false,
                    });
                }
                Block::Other => {}
            }
        }
        let stop = match self.stop.as_deref() {
            Some("end_turn") | None => StopReason::EndTurn,
            Some("tool_use") => StopReason::ToolCalls,
            Some("max_tokens") => StopReason::MaxTokens,
            Some(other) => StopReason::Other(other.to_string()),
        };
        let usage = if self.saw_usage {
            usage(&Value::Object(self.usage))
        } else {
            Usage {
                input_tokens: None,
                cache_read_tokens: None,
                cache_write_tokens: None,
                output_tokens: None,
                reasoning_tokens: None,
                source: UsageSource::Provider,
                raw: None,
            }
        };
        Assembled {
            text,
            tool_calls,
            stop,
            usage,
            prefill_tokens: None,
            prefill_tokens_per_s: None,
            decode_tokens_per_s: None,
        }
    }
}

/// Usage as the Messages API reports it: `input_tokens` counts only what was neither read from
/// nor written to the cache, so the total input adds both.
pub fn usage(raw: &Value) -> Usage {
    let get = |key: &str| raw.get(key).and_then(Value::as_u64);
    let uncached = get("input_tokens");
    let cache_read = get("cache_read_input_tokens");
    let cache_write = get("cache_creation_input_tokens");
    Usage {
        input_tokens: uncached.map(|n| n + cache_read.unwrap_or(0) + cache_write.unwrap_or(0)),
        cache_read_tokens: cache_read,
        cache_write_tokens: cache_write,
        output_tokens: get("output_tokens"),
        reasoning_tokens: None,
        source: UsageSource::Provider,
        raw: Some(raw.clone()),
    }
}
