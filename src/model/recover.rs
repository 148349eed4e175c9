//! Tool calls recovered from free text: the shapes models write when they do not follow their
//! own tool-call format. Small local models (and remote servers whose templates do not parse
//! calls) put calls in fenced code blocks, write bare `{"name": ..., "arguments": ...}` objects in
//! their prose, forget a closing tag, or write Python instead of JSON inside the call.
//!
//! Everything found here is flagged as recovered by the caller, so that a model's adherence to
//! its format stays measurable apart from what the harness could make of its reply. Prose must
//! stay prose: an object in the text is a call only when its keys are exactly a name and its
//! arguments (an `id` and a `type` may come with them), and a code block in another language is
//! never looked into.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value as Json;

use super::lenient_json;
use super::ToolCall;

/// The Hermes/Qwen tags around a call, recognised in any model's text.
pub const TAG_OPEN: &str = "<tool_call>";
pub const TAG_CLOSE: &str = "</tool_call>";
const FENCE: &str = "```";

/// One tool call read from text.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// A call that reads as one. `arguments` is compact JSON text; `strict` is false when any
    /// part of it needed the lenient reader.
    Call {
        name: String,
        arguments: String,
        strict: bool,
    },
    /// An attempt at a call that cannot be read: the tool's name when it can be told, and the
    /// raw text, which becomes the call's arguments so that the agent loop reports it malformed.
    Malformed { name: String, raw: String },
}

/// A reply split into its prose and its tool calls.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedOutput {
    /// The reply with every tool-call block removed, trimmed.
    pub text: String,
    /// The calls in the order the model wrote them, malformed ones included.
    pub calls: Vec<ToolCall>,
    /// How many of `calls` could not be parsed (invalid JSON, no name, arguments that are not JSON).
    pub malformed: usize,
    /// How many of `calls` were read outside the format's own shape or strict JSON (those with
    /// `recovered` set); malformed calls are never counted here.
    pub recovered: usize,
}

/// Turns what was found into [`ToolCall`]s with ids `{id_prefix}{n}`, `n` counting every call
/// from 0 in order, malformed ones included.
pub struct Collector<'a> {
    id_prefix: &'a str,
    output: ParsedOutput,
}

impl<'a> Collector<'a> {
    pub fn new(id_prefix: &'a str) -> Collector<'a> {
        Collector {
            id_prefix,
            output: ParsedOutput {
                text: String::new(),
                calls: Vec::new(),
                malformed: 0,
                recovered: 0,
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.output.calls.is_empty()
    }

    /// Adds a call. It is recovered when its shape was (`recovered`) or when its JSON needed the
    /// lenient reader; a malformed call is counted as malformed only.
    pub fn add(&mut self, found: Found, recovered: bool) {
        let (name, arguments, recovered) = match found {
            Found::Call {
                name,
                arguments,
                strict,
            } => {
                let recovered = recovered || !strict;
                self.output.recovered += usize::from(recovered);
                (name, arguments, recovered)
            }
            Found::Malformed { name, raw } => {
                self.output.malformed += 1;
                (name, raw, false)
            }
        };
        let id = format!("{}{}", self.id_prefix, self.output.calls.len());
        self.output.calls.push(ToolCall {
            id,
            name,
            arguments,
            recovered,
        });
    }

    pub fn finish(self, text: String) -> ParsedOutput {
        ParsedOutput {
            text,
            ..self.output
        }
    }
}

/// Finds tool calls in the text of a reply that came without calls of its own (a remote server
/// that does not parse its model's calls): every shape [`scan`] knows, each call flagged
/// recovered. Call ids are `{id_prefix}{n}`.
pub fn recover_tool_calls(text: &str, id_prefix: &str) -> ParsedOutput {
    let (prose, found) = scan(text);
    let mut calls = Collector::new(id_prefix);
    for found in found {
        calls.add(found, true);
    }
    calls.finish(prose.trim().to_string())
}

/// How sure the caller is that a value is meant as a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Inside a call's own markers: any object with a string `name` is a call, and its
    /// arguments may be missing.
    Marked,
    /// Anywhere else: the object's keys must be exactly a name and `arguments` or `parameters`,
    /// besides an optional `id` and `type`; or the OpenAI shape
    /// `{"type": "function", "function": {...}}` around such an object.
    Exact,
}

/// Reads a parsed value as a call. `None` when the value is not a call under `rule`.
pub fn call_of(value: &Json, rule: Rule) -> Option<Found> {
    let object = value.as_object()?;
    if rule == Rule::Exact {
        if let Some(function) = object.get("function") {
            let only_wrapper = object
                .keys()
                .all(|key| matches!(key.as_str(), "function" | "type" | "id"));
            return only_wrapper
                .then(|| call_of(function, Rule::Exact))
                .flatten();
        }
        let allowed = object.keys().all(|key| {
            matches!(
                key.as_str(),
                "name" | "arguments" | "parameters" | "id" | "type"
            )
        });
        let argument_keys = ["arguments", "parameters"]
            .iter()
            .filter(|key| object.contains_key(**key))
            .count();
        if !allowed || argument_keys != 1 {
            return None;
        }
    }
    let name = object.get("name")?.as_str()?.to_string();
    let arguments = object.get("arguments").or_else(|| object.get("parameters"));
    Some(match arguments {
        None | Some(Json::Null) => Found::Call {
            name,
            arguments: "{}".to_string(),
            strict: true,
        },
        Some(Json::String(inner)) => match serde_json::from_str::<Json>(inner) {
            Ok(parsed) => Found::Call {
                name,
                arguments: compact(&parsed),
                strict: true,
            },
            Err(_) => match lenient_json::parse(inner) {
                Ok(parsed) => Found::Call {
                    name,
                    arguments: compact(&parsed),
                    strict: false,
                },
                Err(_) => Found::Malformed {
                    name,
                    raw: inner.clone(),
                },
            },
        },
        Some(other) => Found::Call {
            name,
            arguments: compact(other),
            strict: true,
        },
    })
}

/// Reads the inside of a call's own markers (a `<tool_call>` block, a Llama 3 reply) that strict
/// JSON refused: a fence around the object is dropped, and the lenient reader is used.
pub fn read_marked(raw: &str) -> Found {
    let inner = unfence(raw.trim());
    let found = lenient_json::parse(inner)
        .ok()
        .and_then(|value| call_of(&value, Rule::Marked));
    match found {
        Some(Found::Call {
            name, arguments, ..
        }) => Found::Call {
            name,
            arguments,
            strict: false,
        },
        Some(malformed) => malformed,
        None => malformed(raw.trim()),
    }
}

/// A malformed attempt with its name read from the raw text when it can be.
pub fn malformed(raw: &str) -> Found {
    let name = name_regex()
        .and_then(|re| re.captures(raw))
        .and_then(|captures| captures.get(1))
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    Found::Malformed {
        name,
        raw: raw.to_string(),
    }
}

/// Every call in `text` in any of the recovered shapes: `<tool_call>` blocks (closed or not),
/// fenced blocks in JSON or without a language, and bare call objects. Returns the text with the
/// calls taken out, and the calls in order.
pub fn scan(text: &str) -> (String, Vec<Found>) {
    let mut prose = String::new();
    let mut found = Vec::new();
    let mut copied = 0;
    let mut at = 0;
    while let Some(offset) = text[at..].find(['<', '`', '{']) {
        let start = at + offset;
        let rest = &text[start..];
        let step = if rest.starts_with(TAG_OPEN) {
            tagged(rest)
        } else if rest.starts_with(FENCE) {
            fenced(rest)
        } else if rest.starts_with('{') {
            bare(rest)
        } else {
            Step {
                length: 1,
                calls: None,
            }
        };
        if let Some(calls) = step.calls {
            prose.push_str(&text[copied..start]);
            found.extend(calls);
            copied = start + step.length;
        }
        at = start + step.length.max(1);
        // Every candidate starts with an ASCII byte and a step ends on a character boundary,
        // but a one-byte step past a candidate must not land inside a character.
        while !text.is_char_boundary(at) {
            at += 1;
        }
    }
    prose.push_str(&text[copied..]);
    (prose, found)
}

/// What one candidate in [`scan`] took: `length` bytes, which are calls (taken out of the prose)
/// or, when `calls` is `None`, prose to keep and not look into again.
struct Step {
    length: usize,
    calls: Option<Vec<Found>>,
}

/// A `<tool_call>` block; without its closing tag it runs to the next opening tag or the end.
fn tagged(rest: &str) -> Step {
    let inside = &rest[TAG_OPEN.len()..];
    let (block, length) = match (inside.find(TAG_CLOSE), inside.find(TAG_OPEN)) {
        (Some(close), next) if next.is_none_or(|next| close < next) => {
            (&inside[..close], TAG_OPEN.len() + close + TAG_CLOSE.len())
        }
        (_, Some(next)) => (&inside[..next], TAG_OPEN.len() + next),
        _ => (inside, rest.len()),
    };
    Step {
        length,
        calls: Some(vec![read_marked(block)]),
    }
}

/// A fenced code block. Only blocks in JSON, in no language, or named for tool calls are looked
/// into; they are calls when every value in them is one, and a malformed call when they cannot be
/// read but plainly try to name a tool and its arguments.
fn fenced(rest: &str) -> Step {
    let after_fence = &rest[FENCE.len()..];
    let info_end = after_fence.find('\n').unwrap_or(after_fence.len());
    let info = after_fence[..info_end].trim();
    // A fence with the object on its own opening line (```{"name": ...}```) has no language.
    let (language, body_start) = match info.find(['{', '[', '<']) {
        Some(_) => ("", FENCE.len()),
        None => (info, FENCE.len() + info_end),
    };
    let body_and_after = &rest[body_start..];
    let (body, length) = match body_and_after.find(FENCE) {
        Some(close) => (&body_and_after[..close], body_start + close + FENCE.len()),
        None => (body_and_after, rest.len()),
    };
    let language = language.to_ascii_lowercase();
    let looked_into = matches!(
        language.as_str(),
        "" | "json" | "json5" | "jsonc" | "tool_call" | "tool_calls" | "function_call" | "xml"
    );
    if !looked_into {
        return Step {
            length,
            calls: None,
        };
    }
    let body = body.trim();
    if body.starts_with(TAG_OPEN) {
        let (_, calls) = scan(body);
        return Step {
            length,
            calls: (!calls.is_empty()).then_some(calls),
        };
    }
    if language == "xml" {
        return Step {
            length,
            calls: None,
        };
    }
    let calls = match values(body) {
        Ok(values) if !values.is_empty() => values
            .iter()
            .flat_map(|value| match value {
                Json::Array(items) => items
                    .iter()
                    .map(|item| call_of(item, Rule::Exact))
                    .collect(),
                other => vec![call_of(other, Rule::Exact)],
            })
            .collect::<Option<Vec<Found>>>(),
        Ok(_) => None,
        Err(()) => looks_like_a_call(body).then(|| vec![malformed(body)]),
    };
    Step { length, calls }
}

/// Every value in a block, separated by whitespace, commas or semicolons.
fn values(body: &str) -> Result<Vec<Json>, ()> {
    let mut values = Vec::new();
    let mut rest = body;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ';' || c == ',' || c.is_whitespace());
        if rest.is_empty() {
            return Ok(values);
        }
        let (value, consumed) = lenient_json::parse_prefix(rest).map_err(|_| ())?;
        values.push(value);
        rest = &rest[consumed..];
    }
}

/// An object in the prose: a call when it reads as one under [`Rule::Exact`]. An object that
/// cannot be read is a malformed call only when it opens like one (`{"name": "...",
/// "arguments"`); it then runs to the end of the reply, since where it was meant to end cannot be
/// told (usually the model ran out of tokens).
fn bare(rest: &str) -> Step {
    let opens_with_key = rest[1..].trim_start().starts_with(['"', '\'']);
    if !opens_with_key {
        return Step {
            length: 1,
            calls: None,
        };
    }
    match lenient_json::parse_prefix(rest) {
        Ok((value, length)) => Step {
            length,
            calls: call_of(&value, Rule::Exact).map(|call| vec![call]),
        },
        Err(_) if opens_like_a_call(rest) => Step {
            length: rest.len(),
            calls: Some(vec![malformed(rest.trim())]),
        },
        Err(_) => Step {
            length: 1,
            calls: None,
        },
    }
}

/// Drops a code fence around `text`, if there is one.
fn unfence(text: &str) -> &str {
    let Some(after) = text.strip_prefix(FENCE) else {
        return text;
    };
    let body = match after.find('\n') {
        Some(newline) if !after[..newline].contains('{') => &after[newline..],
        _ => after,
    };
    body.trim_end().strip_suffix(FENCE).unwrap_or(body).trim()
}

fn looks_like_a_call(text: &str) -> bool {
    static KEYS: OnceLock<Option<(Regex, Regex)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let name = Regex::new(r#"["']name["']\s*:"#).ok()?;
        let arguments = Regex::new(r#"["'](arguments|parameters)["']\s*:"#).ok()?;
        Some((name, arguments))
    })
    .as_ref()
    .is_some_and(|(name, arguments)| name.is_match(text) && arguments.is_match(text))
}

fn opens_like_a_call(text: &str) -> bool {
    static OPENING: OnceLock<Option<Regex>> = OnceLock::new();
    OPENING
        .get_or_init(|| {
            Regex::new(
                r#"^\{\s*["']name["']\s*:\s*["'][^"'\n]+["']\s*,\s*["'](arguments|parameters)["']\s*:"#,
            )
            .ok()
        })
        .as_ref()
        .is_some_and(|re| re.is_match(text))
}

/// Whether `text` holds a `"name": "..."` pair anywhere.
pub fn names_something(text: &str) -> bool {
    name_regex().is_some_and(|re| re.is_match(text))
}

/// The pattern that reads a tool name from a broken call. It is a constant that compiles; the
/// `Option` only spares library code an `expect`: without it, no name is read.
fn name_regex() -> Option<&'static Regex> {
    static NAME: OnceLock<Option<Regex>> = OnceLock::new();
    NAME.get_or_init(|| Regex::new(r#"["']name["']\s*:\s*["']([^"'\n]+)["']"#).ok())
        .as_ref()
}

/// Compact JSON text of a parsed value.
fn compact(value: &Json) -> String {
    // Serializing a `Value` cannot fail (its keys are strings); `Display` says so in its type.
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, arguments: &str) -> Option<Found> {
        Some(Found::Call {
            name: name.to_string(),
            arguments: arguments.to_string(),
            strict: true,
        })
    }

    #[test]
    fn only_exact_keys_make_a_call_outside_markers() {
        let exact = |value: Json| call_of(&value, Rule::Exact);
        assert_eq!(
            exact(json!({"name": "ls", "arguments": {}, "id": "1", "type": "function"})),
            call("ls", "{}")
        );
        assert_eq!(exact(json!({"name": "ls"})), None);
        assert_eq!(
            exact(json!({"name": "ls", "arguments": {}, "why": 1})),
            None
        );
        assert_eq!(
            exact(json!({"name": "ls", "arguments": {}, "parameters": {}})),
            None
        );
        assert_eq!(exact(json!({"name": 3, "arguments": {}})), None);
        assert_eq!(
            exact(
                json!({"type": "function", "function": {"name": "ls", "arguments": "{\"a\": 1}"}})
            ),
            call("ls", r#"{"a":1}"#)
        );
        assert_eq!(
            exact(json!({"function": {"name": "ls", "arguments": {}}, "extra": true})),
            None
        );
        // Inside a call's own markers a name is enough.
        assert_eq!(
            call_of(&json!({"name": "ls"}), Rule::Marked),
            call("ls", "{}")
        );
    }

    #[test]
    fn scanning_skips_what_is_not_a_call() {
        let (prose, found) =
            scan("a < b, `x`, {not json}, {\"k\": {\"name\": \"ls\", \"arguments\": {}}} é{");
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(
            prose,
            "a < b, `x`, {not json}, {\"k\": {\"name\": \"ls\", \"arguments\": {}}} é{"
        );
    }
}
