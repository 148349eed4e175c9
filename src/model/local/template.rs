//! Chat templates: turning a conversation and its tool list into the exact prompt text a local
//! model was trained on, by rendering the Jinja template from its Hugging Face
//! `tokenizer_config.json` with minijinja, or a built-in ChatML template for models without one.
//!
//! Hugging Face renders these templates with Python's Jinja2, and templates rely on Python
//! behaviour that minijinja does not have out of the box. This module closes the gaps that real
//! templates (Qwen2.5, Qwen3, Llama 3.x, SmolLM2) hit, so that a prompt is byte-identical to what
//! `transformers`' `apply_chat_template` produces:
//!
//! - `tojson` serializes like Python's `json.dumps(obj, ensure_ascii=False)`: `", "` and `": "`
//!   separators, no HTML escaping, key order kept, Python float formatting, and the `indent`,
//!   `separators`, `sort_keys` and `ensure_ascii` keyword arguments.
//! - Blocks are rendered with `trim_blocks` and `lstrip_blocks` (as transformers'
//!   `ImmutableSandboxedEnvironment` is configured), one trailing newline of the source dropped.
//! - Python string and dict methods (`.strip()`, `.startswith()`, `.split()`, `.items()`, ...)
//!   come from `minijinja_contrib::pycompat`; `none` and booleans print as `None`/`True`/`False`.
//! - `raise_exception(msg)` fails the render with [`TemplateError::Raised`].
//! - `strftime_now(fmt)` formats a fixed date, 26 Jul 2024 (see [`FIXED_DATE`]).
//! - Undefined values are forgiving: `x is defined`, `if x.y`, and lookups on missing keys work.
//! - transformers' `{% generation %}` marker tags (used to build training masks) are accepted;
//!   what they enclose renders as if they were absent.
//!
//! `tests/fixtures/templates/golden.json` holds what transformers renders for each fixture
//! template; the tests compare against it byte for byte.

use std::fmt;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Output, State, UndefinedBehavior, Value};
use serde_json::Value as Json;

use crate::model::local::toolcall::ToolCallFormat;
use crate::model::{Message, MessageRole, ToolSpec};

/// Why a chat template could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("chat template `{name}` does not parse: {message}")]
    Parse { name: String, message: String },
    #[error("chat template failed to render: {message}")]
    Render { message: String },
    /// The template itself refused the conversation through `raise_exception`.
    #[error("chat template raised an exception: {message}")]
    Raised { message: String },
    #[error("tokenizer_config.json field `{field}` is malformed: {message}")]
    Config { field: String, message: String },
    #[error("tokenizer_config.json lists chat templates but none named `default`")]
    MissingDefault,
}

/// The date `strftime_now` formats, whatever the clock says.
///
/// Llama 3.x templates put "Today Date: ..." in the system prompt. A real clock would make the
/// prompt differ from one day to the next, so a run could not be reproduced byte for byte and
/// the KV-cache prefix would stop matching at midnight; it is the date Llama 3.1's template
/// itself falls back to when `strftime_now` is missing.
pub const FIXED_DATE: (i32, u32, u32) = (2024, 7, 26);

const DEFAULT_NAME: &str = "default";
const TOOL_USE_NAME: &str = "tool_use";

/// The built-in template: ChatML turns with Qwen2.5/Hermes-style tool calling, for models whose
/// tokenizer config has no template. Unlike Qwen's own template it adds no default system prompt.
const CHATML_SOURCE: &str = r##"{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- elif messages[0].role == 'system' %}
    {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == "user" or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>assistant\n' + message.content }}
        {%- for tool_call in message.tool_calls %}
            {%- if message.content or not loop.first %}
                {{- '\n' }}
            {%- endif %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '<tool_call>\n{"name": "' + tool_call.name + '", "arguments": ' }}
            {%- if tool_call.arguments is string %}
                {{- tool_call.arguments }}
            {%- else %}
                {{- tool_call.arguments | tojson }}
            {%- endif %}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or messages[loop.index0 - 1].role != "tool" %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' + message.content + '\n</tool_response>' }}
        {%- if loop.last or messages[loop.index0 + 1].role != "tool" %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"##;

/// A compiled chat template with the special tokens it is rendered with.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
    default_source: String,
    /// The `tool_use` variant some configs ship next to `default` (Cohere, Hermes).
    tool_use_source: Option<String>,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Reads the template from a parsed `tokenizer_config.json`.
    ///
    /// `chat_template` is either a string or a list of `{name, template}`; from a list the
    /// `default` template is used, and `tool_use` too when present (it is picked whenever tools
    /// are offered, as transformers does). `bos_token`/`eos_token` may be strings or objects with
    /// a `content` field. Returns `Ok(None)` when the config has no template.
    pub fn from_tokenizer_config(config: &Json) -> Result<Option<ChatTemplate>, TemplateError> {
        let bos = special_token(config, "bos_token")?;
        let eos = special_token(config, "eos_token")?;
        match config.get("chat_template") {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(source)) => Self::build(source, None, bos, eos).map(Some),
            Some(Json::Array(entries)) => {
                let mut default = None;
                let mut tool_use = None;
                for (index, entry) in entries.iter().enumerate() {
                    let field = || format!("chat_template[{index}]");
                    let name = entry.get("name").and_then(Json::as_str);
                    let source = entry.get("template").and_then(Json::as_str);
                    let (Some(name), Some(source)) = (name, source) else {
                        return Err(TemplateError::Config {
                            field: field(),
                            message: "expected an object with string fields `name` and `template`"
                                .to_string(),
                        });
                    };
                    match name {
                        DEFAULT_NAME => default = Some(source),
                        TOOL_USE_NAME => tool_use = Some(source),
                        // Other named variants (e.g. `rag`) need arguments this harness never
                        // passes.
                        _ => {}
                    }
                }
                let default = default.ok_or(TemplateError::MissingDefault)?;
                Self::build(default, tool_use, bos, eos).map(Some)
            }
            Some(_) => Err(TemplateError::Config {
                field: "chat_template".to_string(),
                message: "expected a string or a list of {name, template}".to_string(),
            }),
        }
    }

    /// Compiles a template from its Jinja source.
    pub fn from_source(
        source: &str,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<ChatTemplate, TemplateError> {
        Self::build(source, None, bos_token.to_string(), eos_token.to_string())
    }

    /// The built-in ChatML template (Qwen/Hermes style), for models without a template: tools
    /// listed in the system prompt inside `<tools></tools>`, one `tojson` per line; assistant
    /// calls as `<tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>`; tool results in a
    /// user turn inside `<tool_response>`.
    pub fn chatml() -> ChatTemplate {
        let eos = "<|im_end|>".to_string();
        // The source is a constant that the tests compile. Were it ever broken, `render` would
        // report the missing template instead of this constructor panicking.
        Self::build(CHATML_SOURCE, None, String::new(), eos.clone()).unwrap_or_else(|_| {
            ChatTemplate {
                env: base_environment(),
                default_source: CHATML_SOURCE.to_string(),
                tool_use_source: None,
                bos_token: String::new(),
                eos_token: eos,
            }
        })
    }

    /// The Jinja source of the default template, as given.
    pub fn source(&self) -> &str {
        &self.default_source
    }

    /// Whether the template does anything with a tool list. SmolLM2's, for one, ignores tools;
    /// a caller that must offer tools can use [`ChatTemplate::chatml`] instead.
    pub fn supports_tools(&self) -> bool {
        self.tool_use_source.is_some() || self.default_source.contains("tools")
    }

    /// Renders a conversation into prompt text.
    ///
    /// Messages reach the template the way transformers passes OpenAI-style chats: `role` and
    /// `content`; for an assistant with calls, `tool_calls: [{id, type: "function", function:
    /// {name, arguments}}]` with `arguments` parsed into an object (the raw string when it is not
    /// a JSON object); for a tool result, `tool_call_id` and `name`. Keys that do not apply are
    /// absent rather than empty, because templates test them with `'tool_calls' in message`.
    /// `tools` are `[{type: "function", function: {name, description, parameters}}]`, or `none`
    /// when the list is empty, as transformers passes `tools=None`.
    pub fn render(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
        add_generation_prompt: bool,
    ) -> Result<String, TemplateError> {
        let name = if !tools.is_empty() && self.tool_use_source.is_some() {
            TOOL_USE_NAME
        } else {
            DEFAULT_NAME
        };
        let template = self
            .env
            .get_template(name)
            .map_err(|err| TemplateError::Render {
                message: err.to_string(),
            })?;
        let tools = if tools.is_empty() {
            Value::from(())
        } else {
            Value::from(tools.iter().map(tool_value).collect::<Vec<_>>())
        };
        let context = Value::from_pairs([
            (
                "messages",
                Value::from(messages.iter().map(message_value).collect::<Vec<_>>()),
            ),
            ("tools", tools),
            ("documents", Value::from(())),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("bos_token", Value::from(self.bos_token.as_str())),
            ("eos_token", Value::from(self.eos_token.as_str())),
        ]);
        template.render(context).map_err(render_error)
    }

    /// How models trained on this template write tool calls, judged from the template text:
    /// `<tool_call>` means Hermes (Qwen, Hermes, ChatML); otherwise `<|python_tag|>`, an
    /// `ipython` role or a `"parameters": ` call body means Llama 3 JSON. Templates that show no
    /// tool format get Hermes, the format of the built-in ChatML template.
    pub fn tool_call_format(&self) -> ToolCallFormat {
        let source = self
            .tool_use_source
            .as_deref()
            .unwrap_or(&self.default_source);
        if source.contains("<tool_call>") {
            ToolCallFormat::Hermes
        } else if source.contains("<|python_tag|>")
            || source.contains("ipython")
            || source.contains("\"parameters\": ")
        {
            ToolCallFormat::Llama3Json
        } else {
            ToolCallFormat::Hermes
        }
    }

    fn build(
        default: &str,
        tool_use: Option<&str>,
        bos_token: String,
        eos_token: String,
    ) -> Result<ChatTemplate, TemplateError> {
        let mut env = base_environment();
        for (name, source) in [(DEFAULT_NAME, Some(default)), (TOOL_USE_NAME, tool_use)] {
            if let Some(source) = source {
                env.add_template_owned(name, prepare_source(source))
                    .map_err(|err| TemplateError::Parse {
                        name: name.to_string(),
                        message: err.to_string(),
                    })?;
            }
        }
        Ok(ChatTemplate {
            env,
            default_source: default.to_string(),
            tool_use_source: tool_use.map(str::to_string),
            bos_token,
            eos_token,
        })
    }
}

/// An environment configured like transformers' Jinja2 environment.
fn base_environment() -> Environment<'static> {
    let mut env = Environment::new();
    let mut syntax = SyntaxConfig::builder();
    syntax
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(false);
    // Only delimiters can make `build` fail, and these are the defaults.
    if let Ok(syntax) = syntax.build() {
        env.set_syntax(syntax);
    }
    // Jinja2's default `Undefined` can be tested, printed (as nothing) and iterated, as in
    // minijinja's lenient mode. Chainable goes further: a lookup on an undefined value is
    // undefined again where Jinja2 raises. A template that renders under transformers renders
    // the same, and one careless about optional keys (absent from our messages rather than
    // empty) still renders.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.set_formatter(python_formatter);
    env.add_filter("tojson", tojson);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    env
}

/// Replaces transformers' `{% generation %}`/`{% endgeneration %}` extension tags, which only
/// mark assistant text for training masks, with an `if true` block: it renders its body
/// unchanged and, being a block tag too, trims whitespace exactly as the original tags do.
fn prepare_source(source: &str) -> String {
    if !source.contains("generation") {
        return source.to_string();
    }
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        let Some(end) = tag.find("%}") else {
            out.push_str(tag);
            return out;
        };
        let inner = &tag[2..end];
        let (left, body) = match inner.strip_prefix(['-', '+']) {
            Some(body) => (&inner[..1], body),
            None => ("", inner),
        };
        let (body, right) = match body.strip_suffix(['-', '+']) {
            Some(stripped) => (stripped, &body[body.len() - 1..]),
            None => (body, ""),
        };
        match body.trim() {
            "generation" => out.push_str(&format!("{{%{left} if true {right}%}}")),
            "endgeneration" => out.push_str(&format!("{{%{left} endif {right}%}}")),
            _ => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

fn special_token(config: &Json, field: &str) -> Result<String, TemplateError> {
    match config.get(field) {
        None | Some(Json::Null) => Ok(String::new()),
        Some(Json::String(token)) => Ok(token.clone()),
        Some(object @ Json::Object(_)) => match object.get("content").and_then(Json::as_str) {
            Some(token) => Ok(token.to_string()),
            None => Err(TemplateError::Config {
                field: field.to_string(),
                message: "expected a string or an object with a string `content`".to_string(),
            }),
        },
        Some(_) => Err(TemplateError::Config {
            field: field.to_string(),
            message: "expected a string or an object with a string `content`".to_string(),
        }),
    }
}

fn role_name(role: MessageRole) -> &'static str {
    match role {
        MessageRole::System => "system",
        MessageRole::User => "user",
        MessageRole::Assistant => "assistant",
        MessageRole::Tool => "tool",
    }
}

fn message_value(message: &Message) -> Value {
    let mut pairs = vec![
        ("role", Value::from(role_name(message.role))),
        ("content", Value::from(message.content.as_str())),
    ];
    match message.role {
        MessageRole::Assistant if !message.tool_calls.is_empty() => {
            let calls = message.tool_calls.iter().map(|call| {
                // Templates print arguments with `tojson`; a string would come out quoted, so
                // they get the parsed object, as an OpenAI client would send it.
                let arguments = match serde_json::from_str::<Json>(&call.arguments) {
                    Ok(object @ Json::Object(_)) => json_value(&object),
                    _ => Value::from(call.arguments.as_str()),
                };
                Value::from_pairs([
                    ("id", Value::from(call.id.as_str())),
                    ("type", Value::from("function")),
                    (
                        "function",
                        Value::from_pairs([
                            ("name", Value::from(call.name.as_str())),
                            ("arguments", arguments),
                        ]),
                    ),
                ])
            });
            pairs.push(("tool_calls", Value::from(calls.collect::<Vec<_>>())));
        }
        MessageRole::Tool => {
            if let Some(id) = &message.tool_call_id {
                pairs.push(("tool_call_id", Value::from(id.as_str())));
            }
            if let Some(name) = &message.tool_name {
                pairs.push(("name", Value::from(name.as_str())));
            }
        }
        _ => {}
    }
    Value::from_pairs(pairs)
}

fn tool_value(tool: &ToolSpec) -> Value {
    Value::from_pairs([
        ("type", Value::from("function")),
        (
            "function",
            Value::from_pairs([
                ("name", Value::from(tool.name.as_str())),
                ("description", Value::from(tool.description.as_str())),
                ("parameters", json_value(&tool.parameters)),
            ]),
        ),
    ])
}

/// Converts JSON into a template value, keeping object key order (what `tojson` prints).
fn json_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::from(items.iter().map(json_value).collect::<Vec<_>>()),
        Json::Object(map) => {
            Value::from_pairs(map.iter().map(|(k, v)| (k.as_str(), json_value(v))))
        }
    }
}

/// Carries a `raise_exception` message through minijinja's error so `render` can tell a
/// template's deliberate refusal from a bug.
#[derive(Debug)]
struct RaisedException(String);

impl fmt::Display for RaisedException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RaisedException {}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message.clone())
        .with_source(RaisedException(message)))
}

fn render_error(err: Error) -> TemplateError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(current) = source {
        if let Some(raised) = current.downcast_ref::<RaisedException>() {
            return TemplateError::Raised {
                message: raised.0.clone(),
            };
        }
        source = current.source();
    }
    TemplateError::Render {
        message: err.to_string(),
    }
}

/// Prints values the way Python's `str()` does where minijinja differs: `None`, `True`, `False`.
fn python_formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    match value.kind() {
        ValueKind::None => out.write_str("None").map_err(Error::from),
        ValueKind::Bool => out
            .write_str(if value.is_true() { "True" } else { "False" })
            .map_err(Error::from),
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// `strftime_now(format)`: [`FIXED_DATE`] at midnight, formatted like Python's `strftime`.
fn strftime_now(format: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    // 26 July 2024 was a Friday, the 208th day of a leap year.
    let (year, month, day) = FIXED_DATE;
    let month_name = MONTHS[(month as usize - 1) % 12];
    let (weekday, day_of_year) = ("Friday", 208);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // glibc's `%-d` flag drops leading zeros; Python passes it through on Linux.
        let mut conversion = chars.next();
        let no_padding = conversion == Some('-');
        if no_padding {
            conversion = chars.next();
        }
        let text = match conversion {
            Some('d') => format!("{day:02}"),
            Some('e') => format!("{day:>2}"),
            Some('m') => format!("{month:02}"),
            Some('Y') => year.to_string(),
            Some('y') => format!("{:02}", year % 100),
            Some('b') | Some('h') => month_name[..3].to_string(),
            Some('B') => month_name.to_string(),
            Some('a') => weekday[..3].to_string(),
            Some('A') => weekday.to_string(),
            Some('j') => format!("{day_of_year:03}"),
            Some('H') | Some('M') | Some('S') => "00".to_string(),
            Some('I') => "12".to_string(),
            Some('p') => "AM".to_string(),
            Some('F') => format!("{year}-{month:02}-{day:02}"),
            Some('D') | Some('x') => format!("{month:02}/{day:02}/{:02}", year % 100),
            Some('T') | Some('X') => "00:00:00".to_string(),
            Some('c') => format!(
                "{} {} {day:>2} 00:00:00 {year}",
                &weekday[..3],
                &month_name[..3]
            ),
            Some('z') | Some('Z') => String::new(),
            Some('%') => "%".to_string(),
            Some(other) => format!("%{other}"),
            None => "%".to_string(),
        };
        if no_padding {
            let trimmed = text.trim_start_matches(['0', ' ']);
            out.push_str(if trimmed.is_empty() { "0" } else { trimmed });
        } else {
            out.push_str(&text);
        }
    }
    out
}

/// `tojson`, as transformers defines it: `json.dumps(x, ensure_ascii=False, indent=None,
/// separators=None, sort_keys=False)`. minijinja's own filter emits HTML-escaped JSON, which
/// would put `\u003c` where the model was trained on `<`.
fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<Value> = kwargs.get("indent")?;
    let separators: Option<Value> = kwargs.get("separators")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    kwargs.assert_all_used()?;
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => match v.as_str() {
            Some(text) => Some(text.to_string()),
            None => match v.as_i64() {
                Some(n) => Some(" ".repeat(usize::try_from(n).unwrap_or(0))),
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "tojson indent must be an integer or a string",
                    ))
                }
            },
        },
    };
    let (item_separator, key_separator) = match separators {
        Some(v) if !v.is_none() && !v.is_undefined() => {
            let parts: Vec<Value> = v.try_iter()?.collect();
            match parts.as_slice() {
                [item, key] => match (item.as_str(), key.as_str()) {
                    (Some(item), Some(key)) => (item.to_string(), key.to_string()),
                    _ => return Err(separators_error()),
                },
                _ => return Err(separators_error()),
            }
        }
        // Python drops the space after `,` when indenting, since a newline follows.
        _ if indent.is_some() => (",".to_string(), ": ".to_string()),
        _ => (", ".to_string(), ": ".to_string()),
    };
    let writer = PyJson {
        indent,
        item_separator,
        key_separator,
        sort_keys: sort_keys.unwrap_or(false),
        ensure_ascii: ensure_ascii.unwrap_or(false),
    };
    let mut out = String::new();
    writer.write(value, 0, &mut out)?;
    Ok(Value::from(out))
}

fn separators_error() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        "tojson separators must be a pair of strings",
    )
}

/// A serializer producing the text of Python's `json.dumps` with the given options.
struct PyJson {
    indent: Option<String>,
    item_separator: String,
    key_separator: String,
    sort_keys: bool,
    ensure_ascii: bool,
}

impl PyJson {
    fn write(&self, value: &Value, depth: usize, out: &mut String) -> Result<(), Error> {
        match value.kind() {
            ValueKind::Undefined | ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
            ValueKind::Number => {
                if value.is_integer() {
                    out.push_str(&value.to_string());
                } else {
                    out.push_str(&python_float(f64::try_from(value.clone())?));
                }
            }
            ValueKind::String | ValueKind::Plain | ValueKind::Bytes => {
                self.write_str(&value.to_string(), out)
            }
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<Value> = value.try_iter()?.collect();
                self.write_container(out, depth, '[', ']', &items, |item, depth, out| {
                    self.write(item, depth, out)
                })?;
            }
            ValueKind::Map => {
                let mut entries = Vec::new();
                for key in value.try_iter()? {
                    let item = value.get_item(&key)?;
                    entries.push((self.key_text(&key)?, item));
                }
                if self.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                }
                self.write_container(out, depth, '{', '}', &entries, |(key, item), depth, out| {
                    self.write_str(key, out);
                    out.push_str(&self.key_separator);
                    self.write(item, depth, out)
                })?;
            }
            ValueKind::Invalid => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "cannot serialize an invalid value to json",
                ))
            }
            _ => self.write_str(&value.to_string(), out),
        }
        Ok(())
    }

    fn write_container<T>(
        &self,
        out: &mut String,
        depth: usize,
        open: char,
        close: char,
        items: &[T],
        mut write_item: impl FnMut(&T, usize, &mut String) -> Result<(), Error>,
    ) -> Result<(), Error> {
        out.push(open);
        if items.is_empty() {
            out.push(close);
            return Ok(());
        }
        for (index, item) in items.iter().enumerate() {
            if index > 0 {
                out.push_str(&self.item_separator);
            }
            if let Some(indent) = &self.indent {
                out.push('\n');
                out.push_str(&indent.repeat(depth + 1));
            }
            write_item(item, depth + 1, out)?;
        }
        if let Some(indent) = &self.indent {
            out.push('\n');
            out.push_str(&indent.repeat(depth));
        }
        out.push(close);
        Ok(())
    }

    /// Python turns non-string keys into strings: `True` -> `"true"`, `None` -> `"null"`,
    /// numbers as they print.
    fn key_text(&self, key: &Value) -> Result<String, Error> {
        Ok(match key.kind() {
            ValueKind::String => key.to_string(),
            ValueKind::Bool => (if key.is_true() { "true" } else { "false" }).to_string(),
            ValueKind::None | ValueKind::Undefined => "null".to_string(),
            ValueKind::Number if key.is_integer() => key.to_string(),
            ValueKind::Number => python_float(f64::try_from(key.clone())?),
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("keys must be str, int, float, bool or None, not {other}"),
                ))
            }
        })
    }

    /// A JSON string literal as Python writes it: `"`, `\` and control characters escaped,
    /// everything else (`<>&'`, non-ASCII) verbatim unless `ensure_ascii` is set.
    fn write_str(&self, text: &str, out: &mut String) {
        out.push('"');
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c if self.ensure_ascii && !c.is_ascii() => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

/// A float as Python's `repr` writes it: the shortest digits that round-trip, positional
/// notation with at least one decimal between 1e-4 and 1e16, `1e+16`/`1e-05` style outside.
fn python_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. `-1.2345e-5` or `1e16`.
    let scientific = format!("{v:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1;
        if point <= 0 {
            format!(
                "{sign}0.{}{digits}",
                "0".repeat(point.unsigned_abs() as usize)
            )
        } else {
            let point = point as usize;
            if point >= digits.len() {
                format!("{sign}{digits}{}.0", "0".repeat(point - digits.len()))
            } else {
                format!("{sign}{}.{}", &digits[..point], &digits[point..])
            }
        }
    } else {
        let mantissa = if digits.len() == 1 {
            digits
        } else {
            format!("{}.{}", &digits[..1], &digits[1..])
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::local::toolcall::{parse_tool_calls, Leniency};
    use crate::model::ToolCall;

    const QWEN25: &str = include_str!("../../../tests/fixtures/templates/qwen2.5-instruct.jinja");
    const QWEN25_CODER_15B: &str =
        include_str!("../../../tests/fixtures/templates/qwen2.5-coder-1.5b-instruct.jinja");
    const QWEN3: &str = include_str!("../../../tests/fixtures/templates/qwen3.jinja");
    const LLAMA31: &str =
        include_str!("../../../tests/fixtures/templates/llama-3.1-instruct.jinja");
    const LLAMA32: &str =
        include_str!("../../../tests/fixtures/templates/llama-3.2-instruct.jinja");
    const SMOLLM2: &str = include_str!("../../../tests/fixtures/templates/smollm2-instruct.jinja");
    const CONVERSATION: &str =
        include_str!("../../../tests/fixtures/templates/agent_conversation.json");
    const GOLDEN: &str = include_str!("../../../tests/fixtures/templates/golden.json");

    /// Fixture name, source, bos, eos: the special tokens of the real tokenizer configs.
    const FIXTURES: [(&str, &str, &str, &str); 6] = [
        ("qwen2.5-instruct", QWEN25, "", "<|im_end|>"),
        (
            "qwen2.5-coder-1.5b-instruct",
            QWEN25_CODER_15B,
            "",
            "<|im_end|>",
        ),
        ("qwen3", QWEN3, "", "<|im_end|>"),
        (
            "llama-3.1-instruct",
            LLAMA31,
            "<|begin_of_text|>",
            "<|eot_id|>",
        ),
        (
            "llama-3.2-instruct",
            LLAMA32,
            "<|begin_of_text|>",
            "<|eot_id|>",
        ),
        ("smollm2-instruct", SMOLLM2, "<|im_start|>", "<|im_end|>"),
    ];

    fn fixture(name: &str) -> ChatTemplate {
        let (_, source, bos, eos) = FIXTURES
            .iter()
            .find(|f| f.0 == name)
            .copied()
            .unwrap_or_else(|| panic!("no fixture {name}"));
        ChatTemplate::from_source(source, bos, eos).unwrap()
    }

    fn conversation() -> (Vec<Message>, Vec<ToolSpec>) {
        let json: Json = serde_json::from_str(CONVERSATION).unwrap();
        let messages: Vec<Message> = serde_json::from_value(json["messages"].clone()).unwrap();
        let tools = json["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| ToolSpec {
                name: t["name"].as_str().unwrap().to_string(),
                description: t["description"].as_str().unwrap().to_string(),
                parameters: t["parameters"].clone(),
            })
            .collect();
        (messages, tools)
    }

    fn render_str(source: &str, context: Value) -> Result<String, TemplateError> {
        let mut env = base_environment();
        env.add_template_owned("t", prepare_source(source)).unwrap();
        env.get_template("t")
            .unwrap()
            .render(context)
            .map_err(render_error)
    }

    fn tool_call(id: &str, name: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: id.to_string(),
            name: name.to_string(),
            arguments: arguments.to_string(),
            recovered: false,
        }
    }

    #[test]
    fn tojson_matches_python_json_dumps() {
        // Expected strings were produced by Python 3.11:
        //   json.dumps(obj, ensure_ascii=False) and json.dumps(obj, ensure_ascii=False, indent=2)
        let obj: Json = serde_json::from_str(
            r#"{"zeta": "<b>&'quoted' \"x\"</b>", "alpha": {"ünï": "日本語 ✓", "n": [1, -2, 3.5, 1e-05, 1.0, 1e+16, 12345678901234567890]}, "flags": [true, false, null], "empty": {}, "list": [], "ctl": "a\nb\tc\u0001\\"}"#,
        )
        .unwrap();
        let context = Value::from_pairs([("obj", json_value(&obj))]);
        let compact = render_str("{{ obj | tojson }}", context.clone()).unwrap();
        assert_eq!(
            compact,
            r#"{"zeta": "<b>&'quoted' \"x\"</b>", "alpha": {"ünï": "日本語 ✓", "n": [1, -2, 3.5, 1e-05, 1.0, 1e+16, 12345678901234567890]}, "flags": [true, false, null], "empty": {}, "list": [], "ctl": "a\nb\tc\u0001\\"}"#
        );
        let pretty = render_str("{{ obj | tojson(indent=2) }}", context.clone()).unwrap();
        let expected_pretty = r#"{
  "zeta": "<b>&'quoted' \"x\"</b>",
  "alpha": {
    "ünï": "日本語 ✓",
    "n": [
      1,
      -2,
      3.5,
      1e-05,
      1.0,
      1e+16,
      12345678901234567890
    ]
  },
  "flags": [
    true,
    false,
    null
  ],
  "empty": {},
  "list": [],
  "ctl": "a\nb\tc\u0001\\"
}"#;
        assert_eq!(pretty, expected_pretty);
        // sort_keys and ensure_ascii, as json.dumps(obj["alpha"], sort_keys=True, ensure_ascii=True).
        let ascii = render_str(
            "{{ obj.alpha | tojson(sort_keys=true, ensure_ascii=true) }}",
            context,
        )
        .unwrap();
        assert_eq!(
            ascii,
            r#"{"n": [1, -2, 3.5, 1e-05, 1.0, 1e+16, 12345678901234567890], "\u00fcn\u00ef": "\u65e5\u672c\u8a9e \u2713"}"#
        );
    }

    #[test]
    fn python_floats() {
        let cases = [
            (0.1, "0.1"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (100.0, "100.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e17, "1.5e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-1.25e-7, "-1.25e-07"),
            (123.456, "123.456"),
            (1e300, "1e+300"),
            (0.0, "0.0"),
        ];
        for (value, expected) in cases {
            assert_eq!(python_float(value), expected, "{value}");
        }
    }

    #[test]
    fn raise_exception_surfaces_its_message() {
        let err = render_str(
            "{% if true %}{{ raise_exception('Conversation roles must alternate!') }}{% endif %}",
            Value::from(()),
        )
        .unwrap_err();
        match err {
            TemplateError::Raised { message } => {
                assert_eq!(message, "Conversation roles must alternate!")
            }
            other => panic!("expected Raised, got {other:?}"),
        }

        // Llama 3.x refuses several calls in one assistant message.
        let template = fixture("llama-3.1-instruct");
        let (mut messages, tools) = conversation();
        messages[2]
            .tool_calls
            .push(tool_call("call_9", "run_shell", r#"{"command":"ls"}"#));
        let err = template.render(&messages[..3], &tools, false).unwrap_err();
        assert!(
            matches!(&err, TemplateError::Raised { message } if message == "This model only supports single tool-calls at once!"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "chat template raised an exception: This model only supports single tool-calls at once!"
        );
    }

    #[test]
    fn python_methods_and_jinja_features_real_templates_use() {
        let context = Value::from_pairs([
            ("content", Value::from("<think>\nplan\n</think>\n\nanswer")),
            ("items", Value::from(vec![1, 2, 3])),
            ("map", Value::from_pairs([("b", 1), ("a", 2)])),
            ("flag", Value::from(true)),
            ("nothing", Value::from(())),
        ]);
        let source = concat!(
            "{{ content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}|",
            "{{ content.split('</think>')[-1].lstrip('\\n') }}|",
            "{{ content.startswith('<think>') }}{{ content.endswith('x') }}|",
            "{{ '  a b  '.strip() }}|{{ 'abc'.upper() }}{{ 'ABC'.lower() }}|{{ 'a-b'.replace('-', '+') }}|",
            "{{ 'hello world'.title() }}|{{ 'a,b'.split(',') | join(';') }}|",
            "{{ items[::-1] | join(',') }}|",
            "{% for k, v in map.items() %}{{ k }}={{ v }}{% endfor %}|{{ map.get('z', 'dflt') }}|",
            "{{ map.keys() | list | join }}{{ map.values() | list | join }}|",
            "{% set ns = namespace(n=0) %}{% for i in items %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}|",
            "{% for i in items %}{% if loop.previtem is defined %}{{ loop.previtem }}{% endif %}{{ loop.index0 }}{% endfor %}|",
            "{{ missing is defined }}{% if missing %}x{% endif %}|",
            "{{ flag }}{{ nothing }}|{{ strftime_now('%d %b %Y') }}|",
            "{{ strftime_now('%Y-%m-%d %A %-d %B %j %a %c') }}",
        );
        let rendered = render_str(source, context.clone()).unwrap();
        // The expected text is what Jinja2 3.1.6 renders for the same source and values.
        assert_eq!(
            rendered,
            "plan|answer|TrueFalse|a b|ABCabc|a+b|Hello World|a;b|3,2,1|b=1a=2|dflt|ba12|6|01122|False|TrueNone|26 Jul 2024|2024-07-26 Friday 26 July 208 Fri Fri Jul 26 00:00:00 2024"
        );
        // Jinja2 raises on an attribute of an undefined value; here it is undefined again, so
        // a template that works under transformers renders the same, and one that is sloppy
        // about optional keys still renders.
        let rendered = render_str(
            "{{ missing.deeper is defined }}{% if missing.x.y %}x{% endif %}{{ missing.z }}",
            context,
        )
        .unwrap();
        assert_eq!(rendered, "False");
    }

    #[test]
    fn trim_and_lstrip_blocks_like_transformers() {
        let source =
            "<ul>\n    {% for i in items %}\n    <li>{{ i }}</li>\n    {% endfor %}\n</ul>\n";
        let rendered = render_str(source, Value::from_pairs([("items", vec![1, 2])])).unwrap();
        // Python: Environment(trim_blocks=True, lstrip_blocks=True); the final newline is dropped.
        assert_eq!(rendered, "<ul>\n    <li>1</li>\n    <li>2</li>\n</ul>");
    }

    #[test]
    fn generation_tags_render_their_body() {
        // Jinja2 with transformers' AssistantTracker renders "a\nb\n" here, as it does with
        // `{% if true %}` in place of the generation tags: trim_blocks eats the newline after
        // each block tag, not the one after `{{- m }}`.
        let source = "{%- for m in messages %}\n{% generation %}\n{{- m }}\n{% endgeneration %}\n{%- endfor %}";
        let rendered =
            render_str(source, Value::from_pairs([("messages", vec!["a", "b"])])).unwrap();
        assert_eq!(rendered, "a\nb\n");
        assert_eq!(
            prepare_source("{%- generation -%}x{% endgeneration %}"),
            "{%- if true -%}x{% endif %}"
        );
    }

    /// Every fixture renders exactly what transformers renders (golden.json was produced by
    /// generate_golden.py with Jinja2 3.1.6 and the same message conversion).
    #[test]
    fn fixtures_match_transformers_output() {
        let golden: Json = serde_json::from_str(GOLDEN).unwrap();
        let (messages, tools) = conversation();
        for (name, ..) in FIXTURES {
            let template = fixture(name);
            let cases: [(&str, &[Message], &[ToolSpec], bool); 3] = [
                ("full_tools", &messages, &tools, false),
                ("first_turn_tools_prompt", &messages[..2], &tools, true),
                ("plain_prompt", &messages[..2], &[], true),
            ];
            for (case, msgs, tls, prompt) in cases {
                let key = format!("{name}/{case}");
                let expected = golden[&key].as_str().unwrap();
                let rendered = template.render(msgs, tls, prompt).unwrap();
                assert_eq!(rendered, expected, "{key}");
            }
        }
    }

    #[test]
    fn qwen25_lists_tools_as_python_json() {
        let (messages, tools) = conversation();
        let rendered = fixture("qwen2.5-instruct")
            .render(&messages[..2], &tools, true)
            .unwrap();
        assert!(rendered.contains(
            "<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"read_file\", \"description\": \"Read a UTF-8 file from the workspace. Paths are relative; '..' & absolute paths (<root>) are refused.\", \"parameters\": {\"type\": \"object\", \"properties\": {\"path\": {\"type\": \"string\""
        ), "{rendered}");
        assert!(rendered.contains("\"enum\": [\"create\", \"überschreiben\"], \"default\": null}, \"ratio\": {\"type\": \"number\", \"default\": 0.5}"));
        assert!(rendered.ends_with("<|im_start|>assistant\n"));
    }

    #[test]
    fn llama_prompts_use_the_fixed_date_and_indented_tools() {
        let (messages, tools) = conversation();
        for name in ["llama-3.1-instruct", "llama-3.2-instruct"] {
            let rendered = fixture(name).render(&messages[..2], &tools, true).unwrap();
            assert!(rendered.starts_with("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"), "{name}: {rendered}");
            assert!(rendered.contains("{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"read_file\","), "{name}");
        }
    }

    /// Rendering the first k messages must be a prefix of rendering the first k+1 (without a
    /// generation prompt): that is what lets the engine keep the KV cache and append only the
    /// new messages' tokens.
    ///
    /// Where the property breaks, the break is asserted, not skipped:
    /// - Llama 3.x with tools cannot render a system message alone: it moves the tools into the
    ///   first user message and raises when there is none. Cuts start after the first user turn.
    /// - Qwen3 renders the LAST message, when it is an assistant turn after the last user query,
    ///   with an empty `<think>\n\n</think>\n\n` block that it drops as soon as anything follows.
    ///   So the property holds for cuts after user and tool messages (where the engine appends),
    ///   and fails exactly for cuts right after such an assistant message.
    /// - Qwen2.5, Qwen3 and ChatML group consecutive tool results into one user turn, so a cut
    ///   between two results of the same turn is not a prefix (checked in
    ///   `consecutive_tool_results_form_one_turn`).
    #[test]
    fn rendering_is_append_only() {
        let (messages, tools) = conversation();
        let mut templates: Vec<(&str, ChatTemplate)> =
            FIXTURES.iter().map(|f| (f.0, fixture(f.0))).collect();
        templates.push(("chatml", ChatTemplate::chatml()));
        for (name, template) in &templates {
            for tools in [&tools[..], &[]] {
                let first = if name.starts_with("llama") && !tools.is_empty() {
                    let err = template.render(&messages[..1], tools, false).unwrap_err();
                    assert!(
                        matches!(err, TemplateError::Raised { .. }),
                        "{name}: {err:?}"
                    );
                    2
                } else {
                    1
                };
                for k in first..messages.len() {
                    let shorter = template.render(&messages[..k], tools, false).unwrap();
                    let longer = template.render(&messages[..k + 1], tools, false).unwrap();
                    let last_query = messages[..k]
                        .iter()
                        .rposition(|m| m.role == MessageRole::User);
                    let qwen3_break = *name == "qwen3"
                        && messages[k - 1].role == MessageRole::Assistant
                        && last_query.is_some_and(|q| k - 1 > q);
                    if qwen3_break {
                        assert!(!longer.starts_with(&shorter), "{name} k={k}");
                        let without_think = shorter.replace("<think>\n\n</think>\n\n", "");
                        assert!(longer.starts_with(&without_think), "{name} k={k}");
                    } else {
                        assert!(
                            longer.starts_with(&shorter),
                            "{name} tools={} k={k}:\n{shorter}\n----\n{longer}",
                            !tools.is_empty()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn consecutive_tool_results_form_one_turn() {
        let (messages, tools) = conversation();
        let calls = vec![
            tool_call("a", "read_file", r#"{"path":"a.rs"}"#),
            tool_call("b", "read_file", r#"{"path":"b.rs"}"#),
        ];
        let mut conversation = messages[..2].to_vec();
        conversation.push(Message::assistant("", calls.clone()));
        conversation.push(Message::tool_result(&calls[0], "A", false));
        conversation.push(Message::tool_result(&calls[1], "B", false));
        conversation.push(Message::assistant("done", Vec::new()));
        for template in [
            fixture("qwen2.5-instruct"),
            fixture("qwen3"),
            ChatTemplate::chatml(),
        ] {
            let one = template.render(&conversation[..4], &tools, false).unwrap();
            let both = template.render(&conversation[..5], &tools, false).unwrap();
            let after = template.render(&conversation, &tools, false).unwrap();
            assert!(both.ends_with("<|im_start|>user\n<tool_response>\nA\n</tool_response>\n<tool_response>\nB\n</tool_response><|im_end|>\n"), "{both}");
            assert!(!both.starts_with(&one));
            assert!(after.starts_with(&both));
        }
    }

    #[test]
    fn chatml_renders_the_qwen_layout() {
        let (messages, tools) = conversation();
        let chatml = ChatTemplate::chatml();
        let qwen = fixture("qwen2.5-instruct");
        // With a system message and tools, ChatML and Qwen2.5 agree byte for byte.
        assert_eq!(
            chatml.render(&messages, &tools, false).unwrap(),
            qwen.render(&messages, &tools, false).unwrap()
        );
        assert_eq!(
            chatml.render(&messages[..2], &[], true).unwrap(),
            qwen.render(&messages[..2], &[], true).unwrap()
        );
        // Without a system message ChatML adds none (Qwen would add its own).
        let rendered = chatml.render(&messages[1..2], &[], true).unwrap();
        assert_eq!(
            rendered,
            "<|im_start|>user\nFix the failing test in src/lib.rs — it says `expected <T> & got 'U'`.<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(chatml.tool_call_format(), ToolCallFormat::Hermes);
        assert!(chatml.supports_tools());
    }

    /// The text between the last assistant header and the end of turn, as the model would
    /// have generated it.
    fn last_assistant_reply<'a>(rendered: &'a str, header: &str, end: &str) -> &'a str {
        let start = rendered.rfind(header).unwrap() + header.len();
        let reply = &rendered[start..];
        &reply[..reply.find(end).unwrap()]
    }

    #[test]
    fn tool_calls_round_trip_through_render_and_parse() {
        let (messages, tools) = conversation();
        let calls = vec![
            tool_call("x0", "read_file", r#"{"path":"src/lib.rs","range":[1,40]}"#),
            tool_call(
                "x1",
                "write_file",
                r#"{"path":"ö.txt","content":"<a href='x'>&amp;</a>\n","ratio":0.25}"#,
            ),
        ];
        let mut conversation = messages[..2].to_vec();
        conversation.push(Message::assistant("Reading and writing.", calls.clone()));
        // Qwen3 gives the final assistant turn an empty think block; the parser keeps think
        // blocks in the text and only looks for calls after them.
        let templates = [
            (ChatTemplate::chatml(), "Reading and writing."),
            (fixture("qwen2.5-instruct"), "Reading and writing."),
            (
                fixture("qwen3"),
                "<think>\n\n</think>\n\nReading and writing.",
            ),
        ];
        for (template, text) in templates {
            assert_eq!(template.tool_call_format(), ToolCallFormat::Hermes);
            let rendered = template.render(&conversation, &tools, false).unwrap();
            let reply = last_assistant_reply(&rendered, "<|im_start|>assistant\n", "<|im_end|>");
            let parsed =
                parse_tool_calls(template.tool_call_format(), reply, "x", Leniency::Lenient);
            assert_eq!(parsed.calls, calls, "{reply}");
            assert_eq!(parsed.text, text);
            assert_eq!((parsed.malformed, parsed.recovered), (0, 0));
        }

        // Llama 3: one call per message, rendered as the whole reply.
        let call = vec![tool_call(
            "l0",
            "write_file",
            r#"{"path":"a.rs","content":"fn main() {}\n"}"#,
        )];
        let mut conversation = messages[..2].to_vec();
        conversation.push(Message::assistant("", call.clone()));
        for name in ["llama-3.1-instruct", "llama-3.2-instruct"] {
            let template = fixture(name);
            assert_eq!(template.tool_call_format(), ToolCallFormat::Llama3Json);
            let rendered = template.render(&conversation, &tools, false).unwrap();
            let reply = last_assistant_reply(
                &rendered,
                "<|start_header_id|>assistant<|end_header_id|>\n\n",
                "<|eot_id|>",
            );
            assert_eq!(
                reply,
                r#"{"name": "write_file", "parameters": {"path": "a.rs", "content": "fn main() {}\n"}}"#
            );
            let parsed =
                parse_tool_calls(ToolCallFormat::Llama3Json, reply, "l", Leniency::Lenient);
            assert_eq!(parsed.calls, call);
            assert_eq!(parsed.malformed, 0);
        }

        // A hand-written Llama-style reply with two calls.
        let reply = "<|python_tag|>{\"name\": \"read_file\", \"parameters\": {\"path\": \"src/lib.rs\", \"range\": [1, 40]}}; {\"name\": \"run_shell\", \"parameters\": {\"command\": \"cargo test\", \"timeout_s\": 60}}";
        let parsed = parse_tool_calls(ToolCallFormat::Llama3Json, reply, "h", Leniency::Lenient);
        assert_eq!(
            parsed.calls,
            vec![
                tool_call("h0", "read_file", r#"{"path":"src/lib.rs","range":[1,40]}"#),
                tool_call(
                    "h1",
                    "run_shell",
                    r#"{"command":"cargo test","timeout_s":60}"#
                ),
            ]
        );
    }

    #[test]
    fn arguments_that_are_not_a_json_object_are_passed_as_text() {
        let (messages, tools) = conversation();
        let mut conversation = messages[..2].to_vec();
        conversation.push(Message::assistant(
            "",
            vec![tool_call("m", "run_shell", "{\"command\": oops")],
        ));
        let rendered = fixture("qwen3")
            .render(&conversation, &tools, false)
            .unwrap();
        assert!(rendered.contains("{\"name\": \"run_shell\", \"arguments\": {\"command\": oops}"));
        let parsed = parse_tool_calls(
            ToolCallFormat::Hermes,
            last_assistant_reply(&rendered, "<|im_start|>assistant\n", "<|im_end|>"),
            "m",
            Leniency::Lenient,
        );
        assert_eq!(parsed.malformed, 1);
        assert_eq!(parsed.calls[0].name, "run_shell");
    }

    #[test]
    fn tokenizer_config_shapes() {
        let config = serde_json::json!({
            "bos_token": {"content": "<s>", "lstrip": false},
            "eos_token": "</s>",
            "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}",
        });
        let template = ChatTemplate::from_tokenizer_config(&config)
            .unwrap()
            .unwrap();
        assert_eq!(
            template.render(&[Message::user("hi")], &[], false).unwrap(),
            "<s>hi</s>"
        );

        let config = serde_json::json!({
            "eos_token": null,
            "chat_template": [
                {"name": "default", "template": "plain:{{ tools is none }}"},
                {"name": "tool_use", "template": "tools:{{ tools | length }}<tool_call>"},
                {"name": "rag", "template": "rag"},
            ],
        });
        let template = ChatTemplate::from_tokenizer_config(&config)
            .unwrap()
            .unwrap();
        let (_, tools) = conversation();
        assert_eq!(template.render(&[], &[], false).unwrap(), "plain:True");
        assert_eq!(
            template.render(&[], &tools, false).unwrap(),
            "tools:3<tool_call>"
        );
        assert_eq!(template.source(), "plain:{{ tools is none }}");
        assert_eq!(template.tool_call_format(), ToolCallFormat::Hermes);

        let none = ChatTemplate::from_tokenizer_config(&serde_json::json!({"eos_token": "x"}));
        assert!(none.unwrap().is_none());

        let missing_default =
            serde_json::json!({"chat_template": [{"name": "tool_use", "template": "x"}]});
        assert!(matches!(
            ChatTemplate::from_tokenizer_config(&missing_default),
            Err(TemplateError::MissingDefault)
        ));
        let bad = serde_json::json!({"chat_template": 3});
        assert!(matches!(
            ChatTemplate::from_tokenizer_config(&bad),
            Err(TemplateError::Config { .. })
        ));
        let bad_token = serde_json::json!({"chat_template": "x", "bos_token": 1});
        assert!(matches!(
            ChatTemplate::from_tokenizer_config(&bad_token),
            Err(TemplateError::Config { .. })
        ));
    }

    #[test]
    fn templates_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ChatTemplate>();
    }

    #[test]
    fn parse_errors_are_reported() {
        let err = ChatTemplate::from_source("{% if x %}unclosed", "", "").unwrap_err();
        assert!(matches!(err, TemplateError::Parse { .. }), "{err:?}");
        assert!(err
            .to_string()
            .starts_with("chat template `default` does not parse: "));
    }

    #[test]
    fn tool_call_formats_and_tool_support_of_the_fixtures() {
        let expected = [
            ("qwen2.5-instruct", ToolCallFormat::Hermes, true),
            ("qwen3", ToolCallFormat::Hermes, true),
            ("llama-3.1-instruct", ToolCallFormat::Llama3Json, true),
            ("llama-3.2-instruct", ToolCallFormat::Llama3Json, true),
            ("smollm2-instruct", ToolCallFormat::Hermes, false),
        ];
        for (name, format, tools) in expected {
            let template = fixture(name);
            assert_eq!(template.tool_call_format(), format, "{name}");
            assert_eq!(template.supports_tools(), tools, "{name}");
        }
    }
}
