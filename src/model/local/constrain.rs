//! Constrained tool calls: prose is free, but once a reply starts a tool call (the template's
//! own opening, a ```` ```json ```` fence, or a bare `{` opening the reply) the call is held,
//! token by token, to `{"name": "<an offered tool>", "arguments": <that tool's schema>}`. Fixed
//! parts are written for the model, the matching closing is added, and the turn ends after one
//! call. The call also has to fit the reply's token budget: when the budget left gets down to
//! what closing the call needs, the shortest schema-valid completion is written for the model.

use std::sync::Arc;

use super::schema::{JsonAcceptor, Schema};
use super::toolcall::ToolCallFormat;
use crate::model::ToolSpec;

/// One offered tool, its argument schema compiled.
#[derive(Debug)]
struct Tool {
    name: String,
    arguments: Arc<Schema>,
}

/// How a call was opened, which decides the text around it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Trigger {
    /// What the model writes to start a call.
    text: &'static str,
    /// The fixed text between the trigger and the tool's name.
    opening: &'static str,
    /// Written after the call, before the end of the turn.
    closing: &'static str,
    /// Only when nothing but whitespace precedes it in the reply.
    at_start: bool,
}

const FENCE: Trigger = Trigger {
    text: "```json\n",
    opening: "{\"name\": \"",
    closing: "\n```",
    at_start: false,
};
const BARE: Trigger = Trigger {
    text: "{",
    opening: "\"name\": \"",
    closing: "",
    at_start: true,
};
const HERMES: Trigger = Trigger {
    text: "<tool_call>",
    opening: "\n{\"name\": \"",
    closing: "\n</tool_call>",
    at_start: false,
};
const PYTHON_TAG: Trigger = Trigger {
    text: "<|python_tag|>",
    opening: "{\"name\": \"",
    closing: "",
    at_start: false,
};

/// The last prose characters kept to recognise a trigger split across tokens.
const TAIL: usize = 16;

#[derive(Debug, Clone)]
enum Part {
    /// Inside fixed text, at this byte.
    Opening(usize),
    Name(String),
    /// Inside `, "arguments": `, at this byte.
    ArgumentsKey {
        tool: usize,
        at: usize,
    },
    Arguments(JsonAcceptor),
    /// The call object's closing brace.
    End,
}

#[derive(Debug, Clone)]
struct Call {
    trigger: Trigger,
    part: Part,
}

#[derive(Debug, Clone)]
enum Phase {
    Prose {
        tail: String,
        /// Whether anything but whitespace was written.
        started: bool,
    },
    Call(Call),
    /// The call is complete; this closing follows it.
    Done(&'static str),
}

/// The constraint on one reply.
#[derive(Debug, Clone)]
pub struct ReplyConstraint {
    format: ToolCallFormat,
    tools: Arc<Vec<Tool>>,
    phase: Phase,
    /// Tokens the reply may still use, counting the end-of-turn token.
    remaining: usize,
    /// How much one character can add to the completion: no closer than this to the budget is
    /// a candidate checked exactly.
    growth: usize,
}

impl ReplyConstraint {
    pub fn new(format: ToolCallFormat, tools: &[ToolSpec], budget: usize) -> ReplyConstraint {
        let tools: Vec<Tool> = tools
            .iter()
            .map(|tool| Tool {
                name: tool.name.clone(),
                arguments: Arc::new(Schema::compile_arguments(&tool.parameters)),
            })
            .collect();
        let mut constraint = ReplyConstraint {
            format,
            tools: Arc::new(tools),
            phase: Phase::Prose {
                tail: String::new(),
                started: false,
            },
            remaining: budget,
            growth: 0,
        };
        let longest_call = [FENCE, BARE, HERMES, PYTHON_TAG]
            .iter()
            .map(|trigger| {
                constraint
                    .entered(*trigger)
                    .completion()
                    .map_or(0, |c| c.len())
            })
            .max()
            .unwrap_or(0);
        let largest_value = constraint
            .tools
            .iter()
            .map(|tool| tool.arguments.largest_minimal_value())
            .max()
            .unwrap_or(0);
        constraint.growth = longest_call.max(largest_value) + 1;
        constraint
    }

    fn triggers(&self) -> &'static [Trigger] {
        match self.format {
            ToolCallFormat::Hermes => &[HERMES, FENCE, BARE],
            ToolCallFormat::Llama3Json => &[PYTHON_TAG, FENCE, BARE],
        }
    }

    fn arguments_key(&self) -> &'static str {
        match self.format {
            ToolCallFormat::Hermes => ", \"arguments\": ",
            ToolCallFormat::Llama3Json => ", \"parameters\": ",
        }
    }

    /// This constraint, just after `trigger` was written.
    fn entered(&self, trigger: Trigger) -> ReplyConstraint {
        ReplyConstraint {
            phase: Phase::Call(Call {
                trigger,
                part: Part::Opening(0),
            }),
            ..self.clone()
        }
    }

    /// Continues a call the prompt already opened (a template whose generation prompt ends in
    /// `<tool_call>`, say): `prompt_tail` is the prompt's last text. Returns the constraint and,
    /// when the prompt opened a call, the prompt's text from the call's trigger on, which the
    /// reply continues and its parser has to see.
    pub fn after_prompt(self, prompt_tail: &str) -> (ReplyConstraint, Option<String>) {
        let mut fed = self.clone();
        for (at, c) in prompt_tail.char_indices() {
            fed.feed_char(c);
            if let Phase::Call(call) = &fed.phase {
                let start = (at + c.len_utf8()).saturating_sub(call.trigger.text.len());
                let mut opened = fed.clone();
                if !opened.feed(&prompt_tail[at + c.len_utf8()..]) {
                    break;
                }
                return (opened, prompt_tail.get(start..).map(str::to_string));
            }
        }
        (self, None)
    }

    /// Tells how many tokens the reply may still use (the end-of-turn token included).
    pub fn set_remaining(&mut self, remaining: usize) {
        self.remaining = remaining;
    }

    /// Whether a call is being written: then only its characters may follow.
    pub fn in_call(&self) -> bool {
        matches!(self.phase, Phase::Call(_))
    }

    /// Whether the call is complete: [`ReplyConstraint::closing`] and the end of the turn follow.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done(_))
    }

    /// What is written after the finished call.
    pub fn closing(&self) -> &'static str {
        match &self.phase {
            Phase::Call(call) => call.trigger.closing,
            Phase::Done(closing) => closing,
            Phase::Prose { .. } => "",
        }
    }

    /// Whether the model may write `piece` next. Inside a call, a token that is no text on its
    /// own (a part of a character) is never allowed, nor one that would leave the call unable
    /// to close within the budget.
    pub fn accepts(&self, piece: &str) -> bool {
        if self.is_done() {
            return false;
        }
        let in_call = self.in_call();
        if in_call && piece.is_empty() {
            return false;
        }
        let mut next = self.clone();
        if !next.feed(piece) {
            return false;
        }
        if !next.in_call() {
            return true;
        }
        // The completion grows by at most `growth` a character: far from the budget a token
        // cannot break it, and is not measured.
        let current = if in_call { self.completion_tokens() } else { 0 };
        let room = self.remaining.saturating_sub(1);
        if current + piece.chars().count() * self.growth < room {
            return true;
        }
        next.completion_tokens() <= room
    }

    /// Takes `piece` (which [`ReplyConstraint::accepts`]).
    pub fn push(&mut self, piece: &str) {
        self.feed(piece);
        self.remaining = self.remaining.saturating_sub(1);
    }

    /// The fixed text that follows now, written for the model (it is taken as written).
    pub fn take_forced(&mut self) -> String {
        let arguments_key = self.arguments_key();
        let mut forced = String::new();
        loop {
            let Phase::Call(call) = &self.phase else {
                return forced;
            };
            let text = match &call.part {
                Part::Opening(at) => call.trigger.opening[*at..].to_string(),
                Part::Name(prefix) => {
                    let mut matching = self.tools.iter().filter(|t| t.name.starts_with(prefix));
                    match (matching.next(), matching.next()) {
                        (Some(only), None) => format!("{}\"", &only.name[prefix.len()..]),
                        _ => return forced,
                    }
                }
                Part::ArgumentsKey { at, .. } => arguments_key[*at..].to_string(),
                Part::Arguments(_) => return forced,
                Part::End => "}".to_string(),
            };
            if text.is_empty() || !self.feed(&text) {
                return forced;
            }
            forced.push_str(&text);
        }
    }

    /// The shortest text that finishes the call, closing included, or `None` outside a call.
    pub fn completion(&self) -> Option<String> {
        let Phase::Call(call) = &self.phase else {
            return None;
        };
        let arguments_key = self.arguments_key();
        let from_name = |tool: &Tool, written: usize| {
            format!(
                "{}\"{arguments_key}{}}}",
                &tool.name[written..],
                JsonAcceptor::new(tool.arguments.clone()).completion()
            )
        };
        let shortest_call = |prefix: &str| {
            self.tools
                .iter()
                .filter(|tool| tool.name.starts_with(prefix))
                .map(|tool| from_name(tool, prefix.len()))
                .min_by_key(String::len)
        };
        let rest = match &call.part {
            Part::Opening(at) => format!("{}{}", &call.trigger.opening[*at..], shortest_call("")?),
            Part::Name(prefix) => shortest_call(prefix)?,
            Part::ArgumentsKey { tool, at } => format!(
                "{}{}}}",
                &arguments_key[*at..],
                JsonAcceptor::new(self.tools.get(*tool)?.arguments.clone()).completion()
            ),
            Part::Arguments(acceptor) => format!("{}}}", acceptor.completion()),
            Part::End => "}".to_string(),
        };
        Some(format!("{rest}{}", call.trigger.closing))
    }

    /// An upper bound on the tokens that finishing the call takes: its bytes (no token is
    /// shorter than a byte), plus the end-of-turn token.
    pub fn completion_tokens(&self) -> usize {
        self.completion().map_or(0, |c| c.len() + 1)
    }

    fn feed(&mut self, text: &str) -> bool {
        text.chars().all(|c| self.feed_char(c))
    }

    fn feed_char(&mut self, c: char) -> bool {
        let triggers = self.triggers();
        let arguments_key = self.arguments_key();
        let tools = Arc::clone(&self.tools);
        match &mut self.phase {
            Phase::Done(_) => false,
            Phase::Prose { tail, started } => {
                let at_start = !*started;
                tail.push(c);
                if tail.len() > TAIL {
                    let cut = tail.len() - TAIL;
                    let cut = (cut..tail.len())
                        .find(|i| tail.is_char_boundary(*i))
                        .unwrap_or(tail.len());
                    tail.drain(..cut);
                }
                if !c.is_whitespace() {
                    *started = true;
                }
                let triggered = triggers
                    .iter()
                    .find(|t| tail.ends_with(t.text) && (!t.at_start || at_start));
                if let Some(trigger) = triggered {
                    self.phase = Phase::Call(Call {
                        trigger: *trigger,
                        part: Part::Opening(0),
                    });
                }
                true
            }
            Phase::Call(call) => {
                match &mut call.part {
                    Part::Opening(at) => {
                        if !call.trigger.opening[*at..].starts_with(c) {
                            return false;
                        }
                        *at += c.len_utf8();
                        if *at == call.trigger.opening.len() {
                            call.part = Part::Name(String::new());
                        }
                    }
                    Part::Name(prefix) => {
                        if c == '"' {
                            let Some(tool) = tools.iter().position(|t| t.name == *prefix) else {
                                return false;
                            };
                            call.part = Part::ArgumentsKey { tool, at: 0 };
                        } else {
                            prefix.push(c);
                            if !tools.iter().any(|t| t.name.starts_with(prefix.as_str())) {
                                return false;
                            }
                        }
                    }
                    Part::ArgumentsKey { tool, at } => {
                        if !arguments_key[*at..].starts_with(c) {
                            return false;
                        }
                        *at += c.len_utf8();
                        if *at == arguments_key.len() {
                            let Some(tool) = tools.get(*tool) else {
                                return false;
                            };
                            call.part = Part::Arguments(JsonAcceptor::new(tool.arguments.clone()));
                        }
                    }
                    Part::Arguments(acceptor) => {
                        if !acceptor.feed(c.encode_utf8(&mut [0; 4])) {
                            return false;
                        }
                        if acceptor.is_done() {
                            call.part = Part::End;
                        }
                    }
                    Part::End => {
                        if c != '}' {
                            return false;
                        }
                        let closing = call.trigger.closing;
                        self.phase = Phase::Done(closing);
                    }
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::local::toolcall::{parse_tool_calls, Leniency};
    use serde_json::json;

    fn tool(name: &str, parameters: serde_json::Value) -> ToolSpec {
        ToolSpec {
            name: name.to_string(),
            description: String::new(),
            parameters,
        }
    }

    /// The shapes of the workspace tools' schemas (`model` does not depend on `tools`).
    fn tools() -> Vec<ToolSpec> {
        vec![
            tool(
                "read_file",
                json!({"type": "object", "properties": {
                    "path": {"type": "string"},
                    "start_line": {"type": "integer", "minimum": 1}
                }, "required": ["path"], "additionalProperties": false}),
            ),
            tool(
                "run_command",
                json!({"type": "object", "properties": {
                    "command": {"type": "string"},
                    "timeout_s": {"type": "integer", "minimum": 1}
                }, "required": ["command"], "additionalProperties": false}),
            ),
            tool(
                "write_file",
                json!({"type": "object", "properties": {
                    "path": {"type": "string"},
                    "content": {"type": "string"}
                }, "required": ["path", "content"], "additionalProperties": false}),
            ),
        ]
    }

    /// Writes `pieces` as a model would (each one token), with forced text and the closing, and
    /// returns the reply's text and how many tokens it took.
    fn write(constraint: &mut ReplyConstraint, pieces: &[&str]) -> (String, usize) {
        let mut text = String::new();
        let mut tokens = 0;
        for piece in pieces {
            assert!(constraint.accepts(piece), "{text}|{piece}");
            constraint.push(piece);
            text.push_str(piece);
            tokens += 1;
            let forced = constraint.take_forced();
            tokens += forced.len();
            text.push_str(&forced);
        }
        if constraint.is_done() {
            text.push_str(constraint.closing());
        }
        (text, tokens)
    }

    fn assert_one_valid_call(format: ToolCallFormat, text: &str) {
        let parsed = parse_tool_calls(format, text, "call_", Leniency::Lenient);
        assert_eq!(parsed.calls.len(), 1, "{text}");
        assert_eq!(parsed.malformed, 0, "{text}");
        let call = &parsed.calls[0];
        let spec = tools().into_iter().find(|t| t.name == call.name).unwrap();
        let arguments: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
        Schema::compile_arguments(&spec.parameters)
            .validate(&arguments)
            .unwrap();
    }

    #[test]
    fn prose_then_a_call_in_the_templates_own_opening() {
        let mut constraint = ReplyConstraint::new(ToolCallFormat::Hermes, &tools(), 1000);
        let (text, _) = write(&mut constraint, &["I will read it.", "\n", "<tool_call>"]);
        assert!(constraint.in_call());
        assert_eq!(text, "I will read it.\n<tool_call>\n{\"name\": \"");
        // The name is chosen among the tools: "r" is two of them, "re" only one.
        assert!(!constraint.accepts("x"));
        assert!(!constraint.accepts("<|im_end|>"));
        let (rest, _) = write(&mut constraint, &["r", "e", "{\"path\"", ": \"a.py\"", "}"]);
        assert!(constraint.is_done());
        let text = format!("{text}{rest}");
        assert!(
            text.ends_with("{\"path\": \"a.py\"}}\n</tool_call>"),
            "{text}"
        );
        assert!(
            text.contains("\"name\": \"read_file\", \"arguments\": {"),
            "{text}"
        );
        assert_one_valid_call(ToolCallFormat::Hermes, &text);
        assert!(!constraint.accepts("more"));
    }

    #[test]
    fn a_reply_may_call_no_tool() {
        let mut constraint = ReplyConstraint::new(ToolCallFormat::Hermes, &tools(), 1000);
        let (text, _) = write(
            &mut constraint,
            &["The task", " is done: {x} ```", "<|im_end|>"],
        );
        assert!(!constraint.in_call() && !constraint.is_done(), "{text}");
        assert!(constraint.accepts(""));
    }

    #[test]
    fn a_fence_or_a_leading_brace_opens_a_call_even_inside_a_token() {
        let mut fenced = ReplyConstraint::new(ToolCallFormat::Hermes, &tools(), 1000);
        let (mut text, _) = write(&mut fenced, &["Running it:\n```"]);
        // The token "json\n{" crosses the trigger: its brace already belongs to the call.
        assert!(!fenced.accepts("json\n["));
        assert!(fenced.accepts("python\n["));
        let (rest, _) = write(&mut fenced, &["json\n{", "ru", "{\"command\": \"ls\"}"]);
        text.push_str(&rest);
        assert!(fenced.is_done());
        assert!(text.ends_with("{\"command\": \"ls\"}}\n```"), "{text}");

        let mut bare = ReplyConstraint::new(ToolCallFormat::Llama3Json, &tools(), 1000);
        let (text, _) = write(
            &mut bare,
            &[" {", "w", "{\"path\": \"a\", \"content\": \"\\\\W\"}"],
        );
        assert!(bare.is_done());
        assert_eq!(
            text,
            r#" {"name": "write_file", "parameters": {"path": "a", "content": "\\W"}}"#
        );
        assert_one_valid_call(ToolCallFormat::Llama3Json, &text);

        // A brace after prose is prose.
        let mut prose = ReplyConstraint::new(ToolCallFormat::Hermes, &tools(), 1000);
        write(&mut prose, &["x = ", "{"]);
        assert!(!prose.in_call());
    }

    #[test]
    fn a_call_is_finished_within_the_budget() {
        for budget in [80, 120, 300] {
            let mut constraint = ReplyConstraint::new(ToolCallFormat::Hermes, &tools(), budget);
            let (mut text, mut tokens) =
                write(&mut constraint, &["<tool_call>", "wr", "{\"content\": \""]);
            // A model that would write forever, one token at a time, as long as it may.
            loop {
                constraint.set_remaining(budget - tokens);
                let remaining = budget - tokens;
                if remaining <= constraint.completion_tokens() || !constraint.accepts("ab") {
                    break;
                }
                constraint.push("ab");
                text.push_str("ab");
                tokens += 1;
            }
            let completion = constraint.completion().unwrap();
            tokens += completion.len() + 1;
            text.push_str(&completion);
            assert!(tokens <= budget, "{budget}: {tokens} tokens for {text}");
            assert!(text.ends_with("\n</tool_call>"), "{text}");
            assert_one_valid_call(ToolCallFormat::Hermes, &text);
        }
        // A call that cannot fit is never started.
        let constraint = ReplyConstraint::new(ToolCallFormat::Hermes, &tools(), 10);
        assert!(!constraint.accepts("<tool_call>"));
        assert!(constraint.accepts("<tool"));
    }
}
