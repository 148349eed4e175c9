//! Tool calls in generated text: finding them in what a local model wrote and turning them into
//! [`ToolCall`]s, for the two formats open models are trained on.
//!
//! - [`ToolCallFormat::Hermes`] (Qwen2.5, Qwen3, Hermes, ChatML fine-tunes): each call is a
//!   `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>` block inside the reply, which
//!   may also hold ordinary text.
//! - [`ToolCallFormat::Llama3Json`] (Llama 3.1/3.2/3.3 with custom tools): the whole reply,
//!   optionally after `<|python_tag|>`, is `{"name": ..., "parameters": {...}}`, or several such
//!   objects separated by `;` or newlines.
//!
//! Small models often miss their own format: they write the call in a fenced code block, as a bare
//! object in their prose, without the closing tag, or with Python inside the JSON. When generation
//! was not constrained, the parser is lenient and recovers such calls (see
//! [`crate::model::recover`]); each one is flagged [`crate::model::ToolCall::recovered`] and counted in
//! [`ParsedOutput::recovered`], so that format adherence stays measurable.
//!
//! A call the model got wrong is still returned, so that the agent loop can answer it with an
//! error the model can act on instead of silently treating the reply as prose: its name is
//! recovered when possible and its raw text goes into `arguments`, which the loop then reports as
//! malformed. Each such call is counted in [`ParsedOutput::malformed`].

use serde_json::Value as Json;

pub use crate::model::recover::ParsedOutput;
use crate::model::recover::{self, Collector, Rule};

/// How a model family writes its tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolCallFormat {
    /// `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks (Qwen, Hermes, ChatML).
    Hermes,
    /// A bare `{"name": ..., "parameters": {...}}` reply (Llama 3.x JSON tool calling).
    Llama3Json,
}

/// How much the parser forgives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leniency {
    /// Only the template's own format, in strict JSON (an unterminated last block excepted, which
    /// is flagged recovered). For constrained generation, where nothing else can appear.
    Strict,
    /// Also every shape [`crate::model::recover`] knows, each flagged recovered.
    Lenient,
}

const HERMES_OPEN: &str = recover::TAG_OPEN;
const HERMES_CLOSE: &str = recover::TAG_CLOSE;
const PYTHON_TAG: &str = "<|python_tag|>";
const LLAMA_OPEN: &str = "{\"name\": ";
const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";

/// The text a tool call starts with in this format.
///
/// For Hermes it is the `<tool_call>` marker (a special token in Qwen's vocabulary). For Llama 3
/// JSON there is no marker: the call is the whole reply, and the official templates render it as
/// `{"name": "...", "parameters": ...}`, so a call starts with `{"name": ` (some Llama 3.2 models
/// put `<|python_tag|>` before it, which [`parse_tool_calls`] accepts too).
pub fn opening_marker(format: ToolCallFormat) -> &'static str {
    match format {
        ToolCallFormat::Hermes => HERMES_OPEN,
        ToolCallFormat::Llama3Json => LLAMA_OPEN,
    }
}

/// Splits a reply into prose and tool calls. Call ids are `{id_prefix}{n}`, `n` counting every
/// call of this reply from 0 in order, malformed ones included.
pub fn parse_tool_calls(
    format: ToolCallFormat,
    text: &str,
    id_prefix: &str,
    leniency: Leniency,
) -> ParsedOutput {
    let mut parser = Parser {
        lenient: leniency == Leniency::Lenient,
        calls: Collector::new(id_prefix),
    };
    let text = match format {
        ToolCallFormat::Hermes => parser.hermes(text),
        ToolCallFormat::Llama3Json => parser.llama3(text),
    };
    parser.calls.finish(text)
}

struct Parser<'a> {
    lenient: bool,
    calls: Collector<'a>,
}

impl Parser<'_> {
    /// Removes every `<tool_call>` block and returns what is left. An unterminated last block
    /// runs to the end of the reply: generation often stops (token limit, stop sequence) before
    /// the closing tag, and the call inside is usually complete. A lenient parser looks for calls
    /// in other shapes when the reply has no block at all.
    fn hermes(&mut self, text: &str) -> String {
        // Reasoning models (Qwen3) think before they act, and their thoughts often mention the
        // marker while planning ("I should use <tool_call> to read the file"). Calls are only
        // looked for after the `<think>` block, which stays in the text; a reply cut off while
        // still thinking has no calls. Qwen3's generation prompt may already hold the opening
        // `<think>`, so a lone `</think>` closes a block too.
        let search_from = match (text.find(THINK_OPEN), text.find(THINK_CLOSE)) {
            (Some(open), Some(close)) if open < close => close + THINK_CLOSE.len(),
            (Some(open), None) if text[..open].trim().is_empty() => text.len(),
            (None, Some(close)) => close + THINK_CLOSE.len(),
            _ => 0,
        };
        let mut prose = String::from(&text[..search_from]);
        let mut rest = &text[search_from..];
        if self.lenient && !rest.contains(HERMES_OPEN) {
            let (after, found) = recover::scan(rest);
            for found in found {
                self.calls.add(found, true);
            }
            prose.push_str(&after);
            return prose.trim().to_string();
        }
        while let Some(start) = rest.find(HERMES_OPEN) {
            prose.push_str(&rest[..start]);
            let after_open = &rest[start + HERMES_OPEN.len()..];
            let (block, next, closed) = match after_open.find(HERMES_CLOSE) {
                Some(end) => (
                    &after_open[..end],
                    &after_open[end + HERMES_CLOSE.len()..],
                    true,
                ),
                None => (after_open, "", false),
            };
            self.block(block, closed);
            rest = next;
        }
        prose.push_str(rest);
        prose.trim().to_string()
    }

    /// A Llama 3 reply is either prose or, as a whole, one or more call objects. It counts as a
    /// call when it starts with `<|python_tag|>`, or starts with `{` and names something; a
    /// plain JSON answer to a question stays prose (a lenient parser still looks into it for
    /// calls in other shapes).
    fn llama3(&mut self, text: &str) -> String {
        let trimmed = text.trim_start();
        let (tagged, body) = match trimmed.strip_prefix(PYTHON_TAG) {
            Some(body) => (true, body.trim_start()),
            None => (false, trimmed),
        };
        let names_something = recover::names_something(body);
        let is_call = tagged || (body.starts_with('{') && names_something);
        if !is_call {
            if !self.lenient {
                return text.trim().to_string();
            }
            let (prose, found) = recover::scan(text);
            for found in found {
                self.calls.add(found, true);
            }
            return prose.trim().to_string();
        }
        let mut rest = body;
        loop {
            rest = rest.trim_start_matches(|c: char| c == ';' || c.is_whitespace());
            if rest.is_empty() {
                return String::new();
            }
            if !rest.starts_with('{') {
                // Text after the calls (rare) is kept as prose; a tagged reply that is not JSON
                // at all (a built-in tool's `name.call(...)` syntax) is one malformed call.
                if self.calls.is_empty() {
                    self.calls.add(recover::malformed(rest.trim()), false);
                    return String::new();
                }
                return rest.trim().to_string();
            }
            let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Json>();
            match stream.next() {
                Some(Ok(value)) => {
                    let consumed = stream.byte_offset();
                    self.marked(&value, rest[..consumed].trim(), false);
                    rest = &rest[consumed..];
                }
                _ => match crate::model::lenient_json::parse_prefix(rest) {
                    Ok((value, consumed)) if self.lenient => {
                        self.marked(&value, rest[..consumed].trim(), true);
                        rest = &rest[consumed..];
                    }
                    _ => {
                        // The JSON breaks somewhere and where the broken call ends cannot be
                        // told, so the rest of the reply is one malformed call.
                        self.calls.add(recover::malformed(rest.trim()), false);
                        return String::new();
                    }
                },
            }
        }
    }

    /// One Hermes block: exactly one JSON value, surrounded by whitespace at most. A block
    /// without its closing tag, or one only the lenient reader can read, is recovered.
    fn block(&mut self, block: &str, closed: bool) {
        let raw = block.trim();
        match serde_json::from_str::<Json>(raw) {
            Ok(value) => self.marked(&value, raw, !closed),
            Err(_) if self.lenient => self.calls.add(recover::read_marked(raw), true),
            Err(_) => self.calls.add(recover::malformed(raw), false),
        }
    }

    /// A parsed value inside the format's own markers: a call when it names a tool, otherwise a
    /// malformed attempt.
    fn marked(&mut self, value: &Json, raw: &str, recovered: bool) {
        match recover::call_of(value, Rule::Marked) {
            Some(found) => self.calls.add(found, recovered),
            None => self.calls.add(recover::malformed(raw), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ToolCall;

    fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: id.to_string(),
            name: name.to_string(),
            arguments: arguments.to_string(),
            recovered: false,
        }
    }

    #[test]
    fn plain_text_has_no_calls() {
        for format in [ToolCallFormat::Hermes, ToolCallFormat::Llama3Json] {
            let out = parse_tool_calls(format, "  The answer is 42.\n", "c", Leniency::Strict);
            assert_eq!(out.text, "The answer is 42.");
            assert!(out.calls.is_empty());
            assert_eq!(out.malformed, 0);
        }
    }

    #[test]
    fn hermes_blocks_are_removed_from_the_text() {
        let reply = "Let me look.\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"src/main.rs\", \"limit\": 10}}\n</tool_call>\n<tool_call>\n{\"name\": \"run_shell\", \"arguments\": {\"command\": \"ls\"}}\n</tool_call>";
        let out = parse_tool_calls(ToolCallFormat::Hermes, reply, "call_", Leniency::Strict);
        assert_eq!(out.text, "Let me look.");
        assert_eq!(
            out.calls,
            vec![
                call(
                    "call_0",
                    "read_file",
                    r#"{"path":"src/main.rs","limit":10}"#
                ),
                call("call_1", "run_shell", r#"{"command":"ls"}"#),
            ]
        );
        assert_eq!(out.malformed, 0);
    }

    #[test]
    fn hermes_accepts_parameters_string_arguments_and_no_arguments() {
        let reply = concat!(
            "<tool_call>{\"name\": \"a\", \"parameters\": {\"x\": 1}}</tool_call>",
            "<tool_call>{\"name\": \"b\", \"arguments\": \"{\\\"y\\\": [1, 2]}\"}</tool_call>",
            "<tool_call>{\"name\": \"c\"}</tool_call>",
        );
        let out = parse_tool_calls(ToolCallFormat::Hermes, reply, "t", Leniency::Strict);
        assert_eq!(
            out.calls,
            vec![
                call("t0", "a", r#"{"x":1}"#),
                call("t1", "b", r#"{"y":[1,2]}"#),
                call("t2", "c", "{}"),
            ]
        );
        assert_eq!(out.text, "");
        assert_eq!(out.malformed, 0);
    }

    #[test]
    fn hermes_unterminated_last_block_is_parsed() {
        let reply = "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}\n";
        let out = parse_tool_calls(ToolCallFormat::Hermes, reply, "c", Leniency::Strict);
        // Accepted in both modes, and flagged: the template's format has the closing tag.
        assert_eq!(
            out.calls,
            vec![ToolCall {
                recovered: true,
                ..call("c0", "read_file", r#"{"path":"a.rs"}"#)
            }]
        );
        assert_eq!((out.malformed, out.recovered), (0, 1));
        assert_eq!(out.text, "");
    }

    #[test]
    fn hermes_ignores_markers_inside_a_closed_think_block() {
        let reply = "<think>\nI will emit <tool_call> next.\n</think>\n\n<tool_call>\n{\"name\": \"ls\", \"arguments\": {}}\n</tool_call>";
        let out = parse_tool_calls(ToolCallFormat::Hermes, reply, "c", Leniency::Strict);
        assert_eq!(out.calls, vec![call("c0", "ls", "{}")]);
        assert_eq!(out.text, "<think>\nI will emit <tool_call> next.\n</think>");
        assert_eq!(out.malformed, 0);
    }

    #[test]
    fn hermes_reply_cut_off_while_thinking_has_no_calls() {
        let reply =
            "<think>\nMaybe <tool_call>\n{\"name\": \"ls\", \"arguments\": {}}\n</tool_call> would";
        let out = parse_tool_calls(ToolCallFormat::Hermes, reply, "c", Leniency::Strict);
        assert!(out.calls.is_empty());
        assert_eq!(out.malformed, 0);
        assert_eq!(out.text, reply);
    }

    #[test]
    fn hermes_malformed_blocks_are_counted_and_kept() {
        let reply = concat!(
            // Invalid JSON, name recoverable.
            "<tool_call>\n{\"name\": \"write_file\", \"arguments\": {\"path\": \"a\", }\n</tool_call>\n",
            // Valid JSON without a name.
            "<tool_call>\n{\"arguments\": {\"x\": 1}}\n</tool_call>\n",
            // Arguments are a string that is not JSON.
            "<tool_call>\n{\"name\": \"run_shell\", \"arguments\": \"ls -la\"}\n</tool_call>\n",
            // Nothing recoverable at all, and cut off.
            "<tool_call>\nnot json",
        );
        let out = parse_tool_calls(ToolCallFormat::Hermes, reply, "m", Leniency::Strict);
        assert_eq!(out.malformed, 4);
        assert_eq!(
            out.calls,
            vec![
                call(
                    "m0",
                    "write_file",
                    "{\"name\": \"write_file\", \"arguments\": {\"path\": \"a\", }"
                ),
                call("m1", "", "{\"arguments\": {\"x\": 1}}"),
                call("m2", "run_shell", "ls -la"),
                call("m3", "", "not json"),
            ]
        );
        assert_eq!(out.text, "");
    }

    #[test]
    fn hermes_empty_block_at_the_end_is_malformed() {
        let out = parse_tool_calls(
            ToolCallFormat::Hermes,
            "Reading.\n<tool_call>",
            "c",
            Leniency::Strict,
        );
        assert_eq!(out.text, "Reading.");
        assert_eq!(out.calls, vec![call("c0", "", "")]);
        assert_eq!(out.malformed, 1);
    }

    #[test]
    fn llama3_single_and_multiple_calls() {
        let out = parse_tool_calls(
            ToolCallFormat::Llama3Json,
            "{\"name\": \"read_file\", \"parameters\": {\"path\": \"src/lib.rs\"}}",
            "c",
            Leniency::Strict,
        );
        assert_eq!(
            out.calls,
            vec![call("c0", "read_file", r#"{"path":"src/lib.rs"}"#)]
        );
        assert_eq!(out.text, "");
        assert_eq!(out.malformed, 0);

        let reply = "<|python_tag|>{\"name\": \"a\", \"parameters\": {\"x\": 1}}; {\"name\": \"b\", \"arguments\": {\"y\": \"z\"}}\n{\"name\": \"c\", \"parameters\": {}}";
        let out = parse_tool_calls(ToolCallFormat::Llama3Json, reply, "c", Leniency::Strict);
        assert_eq!(
            out.calls,
            vec![
                call("c0", "a", r#"{"x":1}"#),
                call("c1", "b", r#"{"y":"z"}"#),
                call("c2", "c", "{}"),
            ]
        );
        assert_eq!(out.malformed, 0);
    }

    #[test]
    fn llama3_json_answer_without_a_name_stays_prose() {
        let reply = "{\"answer\": 42}";
        let out = parse_tool_calls(ToolCallFormat::Llama3Json, reply, "c", Leniency::Strict);
        assert!(out.calls.is_empty());
        assert_eq!(out.text, reply);
    }

    #[test]
    fn llama3_malformed_calls_are_counted() {
        let out = parse_tool_calls(
            ToolCallFormat::Llama3Json,
            "{\"name\": \"read_file\", \"parameters\": {\"path\": \"a.rs\"",
            "c",
            Leniency::Strict,
        );
        assert_eq!(out.malformed, 1);
        assert_eq!(
            out.calls,
            vec![call(
                "c0",
                "read_file",
                "{\"name\": \"read_file\", \"parameters\": {\"path\": \"a.rs\""
            )]
        );

        // A valid first call followed by a broken one: both are returned, one is malformed.
        let out = parse_tool_calls(
            ToolCallFormat::Llama3Json,
            "{\"name\": \"a\", \"parameters\": {}};{\"name\": \"b\", \"parameters\": {oops}}",
            "c",
            Leniency::Strict,
        );
        assert_eq!(out.malformed, 1);
        assert_eq!(out.calls.len(), 2);
        assert_eq!(out.calls[0], call("c0", "a", "{}"));
        assert_eq!(out.calls[1].name, "b");
        assert_eq!(
            out.calls[1].arguments,
            "{\"name\": \"b\", \"parameters\": {oops}}"
        );

        // A built-in tool call in Python syntax after the tag is not JSON.
        let out = parse_tool_calls(
            ToolCallFormat::Llama3Json,
            "<|python_tag|>brave_search.call(query=\"rust\")",
            "c",
            Leniency::Strict,
        );
        assert_eq!(out.malformed, 1);
        assert_eq!(
            out.calls,
            vec![call("c0", "", "brave_search.call(query=\"rust\")")]
        );
    }

    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        format: String,
        #[serde(default)]
        leniency: Option<String>,
        #[serde(default)]
        reply: Option<String>,
        #[serde(default)]
        reply_file: Option<String>,
        text: String,
        calls: Vec<ExpectedCall>,
        #[serde(default)]
        malformed: usize,
    }

    #[derive(serde::Deserialize)]
    struct ExpectedCall {
        name: String,
        /// JSON text (compared as JSON), or the raw text of a malformed call.
        #[serde(default)]
        arguments: Option<String>,
        /// For a `write_file` call: the file its `content` must equal, and its `path`.
        #[serde(default)]
        content_file: Option<String>,
        #[serde(default)]
        path: Option<String>,
        recovered: bool,
    }

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/toolcalls");

    #[derive(serde::Deserialize)]
    struct Cases {
        case: Vec<Case>,
    }

    #[test]
    fn fixture_replies_parse_as_recorded() {
        let cases: Cases =
            toml::from_str(&std::fs::read_to_string(format!("{FIXTURES}/replies.toml")).unwrap())
                .unwrap();
        assert!(cases.case.len() >= 20);
        for case in cases.case {
            let name = &case.name;
            let format = match case.format.as_str() {
                "hermes" => ToolCallFormat::Hermes,
                "llama3" => ToolCallFormat::Llama3Json,
                other => panic!("{name}: unknown format {other}"),
            };
            let leniency = match case.leniency.as_deref() {
                None | Some("lenient") => Leniency::Lenient,
                Some("strict") => Leniency::Strict,
                Some(other) => panic!("{name}: unknown leniency {other}"),
            };
            let reply = match (&case.reply, &case.reply_file) {
                (Some(reply), None) => reply.clone(),
                (None, Some(file)) => {
                    std::fs::read_to_string(format!("{FIXTURES}/{file}")).unwrap()
                }
                _ => panic!("{name}: give `reply` or `reply_file`"),
            };
            let out = parse_tool_calls(format, &reply, "c", leniency);
            assert_eq!(out.text, case.text, "{name}");
            assert_eq!(out.malformed, case.malformed, "{name}");
            let recovered = case.calls.iter().filter(|c| c.recovered).count();
            assert_eq!(out.recovered, recovered, "{name}");
            assert_eq!(out.calls.len(), case.calls.len(), "{name}: {:?}", out.calls);
            for (n, (actual, expected)) in out.calls.iter().zip(&case.calls).enumerate() {
                assert_eq!(actual.id, format!("c{n}"), "{name}");
                assert_eq!(actual.name, expected.name, "{name}");
                assert_eq!(actual.recovered, expected.recovered, "{name}");
                let actual_json = serde_json::from_str::<Json>(&actual.arguments);
                if let Some(arguments) = &expected.arguments {
                    match serde_json::from_str::<Json>(arguments) {
                        Ok(expected_json) => {
                            assert_eq!(actual_json.as_ref().unwrap(), &expected_json, "{name}")
                        }
                        Err(_) => assert_eq!(&actual.arguments, arguments, "{name}"),
                    }
                }
                if let Some(file) = &expected.content_file {
                    let content = std::fs::read_to_string(format!("{FIXTURES}/{file}")).unwrap();
                    let arguments = actual_json.as_ref().unwrap();
                    assert_eq!(
                        arguments["content"].as_str(),
                        Some(content.as_str()),
                        "{name}"
                    );
                    assert_eq!(
                        arguments["path"].as_str(),
                        expected.path.as_deref(),
                        "{name}"
                    );
                    assert!(content.contains(r"re.findall(r'\w+', text.lower())"));
                }
            }
        }
    }

    #[test]
    fn recovery_from_remote_text_flags_every_call() {
        let reply = "Reading.\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}\n</tool_call>\n```json\n{\"name\": \"ls\", \"arguments\": {}}\n```";
        let out = recover::recover_tool_calls(reply, "r");
        assert_eq!(out.text, "Reading.");
        assert_eq!(
            out.calls,
            vec![
                ToolCall {
                    recovered: true,
                    ..call("r0", "read_file", r#"{"path":"a"}"#)
                },
                ToolCall {
                    recovered: true,
                    ..call("r1", "ls", "{}")
                },
            ]
        );
        assert_eq!((out.malformed, out.recovered), (0, 2));
        let prose = recover::recover_tool_calls("No call here: {\"a\": 1}.", "r");
        assert!(prose.calls.is_empty());
        assert_eq!(prose.text, "No call here: {\"a\": 1}.");
    }

    #[test]
    fn opening_markers() {
        assert_eq!(opening_marker(ToolCallFormat::Hermes), "<tool_call>");
        assert_eq!(opening_marker(ToolCallFormat::Llama3Json), "{\"name\": ");
    }
}
