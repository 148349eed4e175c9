//! The `nop` provider: ends every agent run at once by calling its role's final tool with the
//! emptiest arguments the tool's schema accepts. A mission must fail with it.

use std::time::Instant;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::estimate::estimate_usage;
use super::{
    millis, CallTiming, ChatRequest, ChatResponse, ModelBackend, ModelError, ModelInfo,
    ModelSession, SessionContext, StopReason, ToolCall, ToolSpec,
};

/// Tool names that end an agent run, in order of preference.
const FINAL_TOOLS: [&str; 4] = ["finish", "submit_review", "submit_verdicts", "blocked"];

pub struct NopBackend {
    info: ModelInfo,
}

impl NopBackend {
    pub fn new(info: ModelInfo) -> NopBackend {
        NopBackend { info }
    }
}

impl ModelBackend for NopBackend {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn start_session(&self, _context: SessionContext) -> Box<dyn ModelSession> {
        Box::new(NopSession { calls: 0 })
    }
}

struct NopSession {
    calls: u64,
}

#[async_trait]
impl ModelSession for NopSession {
    async fn complete(&mut self, request: ChatRequest<'_>) -> Result<ChatResponse, ModelError> {
        let started = Instant::now();
        self.calls += 1;
        let tool = FINAL_TOOLS
            .iter()
            .find_map(|name| request.tools.iter().find(|t| t.name == *name));
        let (text, tool_calls, stop) = match tool {
            Some(tool) => (
                String::new(),
                vec![ToolCall {
                    id: format!("nop_{}", self.calls),
                    name: tool.name.clone(),
                    arguments: empty_arguments(tool).to_string(),
                    recovered: false,
                }],
                StopReason::ToolCalls,
            ),
            None => ("Done.".to_string(), Vec::new(), StopReason::EndTurn),
        };
        let usage = estimate_usage(&request, &text, &tool_calls);
        Ok(ChatResponse {
            text,
            tool_calls,
            stop,
            usage,
            timing: CallTiming {
                latency_ms: millis(started.elapsed()),
                ..CallTiming::default()
            },
            retries: 0,
        })
    }
}

/// An object with every required property set to the empty value of its type.
fn empty_arguments(tool: &ToolSpec) -> Value {
    let mut arguments = Map::new();
    let properties = tool.parameters.get("properties").and_then(Value::as_object);
    let required = tool
        .parameters
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for name in required.iter().filter_map(Value::as_str) {
        let kind = properties
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("string");
        let value = match kind {
            "array" => Value::Array(Vec::new()),
            "object" => Value::Object(Map::new()),
            "integer" | "number" => Value::from(0),
            "boolean" => Value::Bool(false),
            _ => Value::String(String::new()),
        };
        arguments.insert(name.to_string(), value);
    }
    Value::Object(arguments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_arguments_fill_required_fields() {
        let tool = ToolSpec {
            name: "finish".into(),
            description: String::new(),
            parameters: json!({"type": "object", "properties": {"summary": {"type": "string"}, "tests_run": {"type": "array"}, "notes": {"type": "string"}}, "required": ["summary", "tests_run"]}),
        };
        assert_eq!(
            empty_arguments(&tool),
            json!({"summary": "", "tests_run": []})
        );
    }
}
