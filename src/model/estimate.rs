//! Token estimates for providers that have no tokenizer (oracle, nop): about four characters a
//! token, marked with [`UsageSource::Estimate`] so nobody mistakes them for counts.

use super::{ChatRequest, ToolCall, Usage, UsageSource};

const CHARS_PER_TOKEN: usize = 4;

pub fn tokens_in_text(text: &str) -> u64 {
    text.chars().count().div_ceil(CHARS_PER_TOKEN) as u64
}

/// Every input token of a request: messages, tool calls in them, and the tool schemas. Each
/// message adds a few tokens of framing, as chat templates do.
pub fn request_tokens(request: &ChatRequest<'_>) -> u64 {
    const FRAMING: u64 = 4;
    let messages: u64 = request
        .messages
        .iter()
        .map(|m| {
            FRAMING + tokens_in_text(&m.content) + m.tool_calls.iter().map(call_tokens).sum::<u64>()
        })
        .sum();
    let tools: u64 = request
        .tools
        .iter()
        .map(|t| {
            tokens_in_text(&t.name)
                + tokens_in_text(&t.description)
                + tokens_in_text(&t.parameters.to_string())
        })
        .sum();
    messages + tools
}

pub fn call_tokens(call: &ToolCall) -> u64 {
    tokens_in_text(&call.name) + tokens_in_text(&call.arguments)
}

/// Estimated usage of a call that answered `text` and `calls` to `request`. No cache is modelled,
/// so cache columns stay empty rather than claiming zero hits.
pub fn estimate_usage(request: &ChatRequest<'_>, text: &str, calls: &[ToolCall]) -> Usage {
    Usage {
        input_tokens: Some(request_tokens(request)),
        cache_read_tokens: None,
        cache_write_tokens: None,
        output_tokens: Some(tokens_in_text(text) + calls.iter().map(call_tokens).sum::<u64>()),
        reasoning_tokens: None,
        source: UsageSource::Estimate,
        raw: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;

    #[test]
    fn estimates_grow_with_text() {
        assert_eq!(tokens_in_text(""), 0);
        assert_eq!(tokens_in_text("abcd"), 1);
        assert_eq!(tokens_in_text("abcde"), 2);
        let short = [Message::user("hi")];
        let long = [Message::user("hi there, a longer message")];
        let request = |m: &'static [Message]| ChatRequest {
            messages: m,
            tools: &[],
            max_output_tokens: None,
            on_retry: None,
        };
        let short: &'static [Message] = Box::leak(Box::new(short));
        let long: &'static [Message] = Box::leak(Box::new(long));
        assert!(request_tokens(&request(long)) > request_tokens(&request(short)));
        let usage = estimate_usage(&request(short), "ok", &[]);
        assert_eq!(usage.source, UsageSource::Estimate);
        assert_eq!(usage.cache_read_tokens, None);
        assert_eq!(usage.output_tokens, Some(1));
    }
}
